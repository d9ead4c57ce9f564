/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/seccompnotify: the notifier against real seccomp filters. Children
 * play the runtime: each installs a filter whose mkdir is SCMP_ACT_NOTIFY,
 * hands the notify fd to the notifier's socket as runc does (SCM_RIGHTS)
 * and calls mkdir, which must fail with EPERM (answered, not hung), for a
 * first child (the container's init) and a second (an exec). Stopping
 * removes the socket. Skips (77) where the kernel or libseccomp has no
 * user notification.
 */
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/seccompnotify.h"
#include "tests/unit/check.h"

static void send_fd(const char *path, int fd)
{
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        _exit(3);
    char state[] = "{\"ociVersion\":\"1.0.2\",\"fds\":[\"seccompFd\"]}";
    struct iovec iov = {.iov_base = state, .iov_len = sizeof(state) - 1};
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.b,
                        .msg_controllen = sizeof(ctl.b)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (sendmsg(s, &mh, 0) < 0)
        _exit(4);
    close(s);
}

/* The child: 0 when mkdir was refused with EPERM. */
static int child(const char *sock, const char *dir)
{
    alarm(10); /* a notification nobody answers would hang the test */
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL || seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(mkdir), 0) < 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(mkdirat), 0) < 0 || seccomp_load(ctx) < 0)
        return 5;
    int fd = seccomp_notify_fd(ctx);
    if (fd < 0)
        return 6;
    send_fd(sock, fd);
    close(fd);
    if (mkdir(dir, 0700) == 0)
        return 1;
    return errno == EPERM ? 0 : 2;
}

static int run_child(const char *sock, const char *dir)
{
    pid_t p = fork();
    if (p == 0)
        _exit(child(sock, dir));
    int st = 0;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(void)
{
    const struct scmp_version *v = seccomp_version();
    if (v == NULL || seccomp_api_get() < 6) {
        printf("1..0 # SKIP no seccomp user notification (libseccomp API level < 6)\n");
        return 77;
    }
    char tmpl[] = "/tmp/berth-scn-XXXXXX";
    char *root = mkdtemp(tmpl);
    BERTH_AUTO_FREE char *sock = berth_asprintf("%s/n.sock", root);
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/d", root);
    berth_err_t err = NULL;
    berth_seccomp_notifier_t *n = berth_seccomp_notifier_start(sock, BERTH_HANDLE_NONE, &err);
    ok(n != NULL, "the notifier starts");
    struct stat st;
    ok(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode), "its socket is there");
    int rc = run_child(sock, dir);
    check(rc == 0, "the first process's mkdir is answered EPERM (child status %d)", rc);
    rc = run_child(sock, dir);
    check(rc == 0, "a second process (an exec) is answered too (child status %d)", rc);
    ok(stat(dir, &st) < 0, "nothing was made");
    berth_seccomp_notifier_stop(n);
    /* the thread removes the socket as it ends */
    for (int i = 0; i < 100 && stat(sock, &st) == 0; i++)
        usleep(10000);
    ok(stat(sock, &st) < 0, "stopping removes the socket");
    BERTH_AUTO_FREE char *longp = berth_asprintf("%s/%0200d", root, 0);
    ok(berth_seccomp_notifier_start(longp, BERTH_HANDLE_NONE, &err) == NULL && err != NULL,
       "a path too long for a unix socket is an error");
    berth_err_free(&err);
    rmdir(root);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
