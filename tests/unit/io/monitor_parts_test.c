/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parts of berth-monitor that need no container (io/monitor/crilog.c,
 * proto.c, exitfile.c) on a scratch directory: CRI log records (F, P, a
 * line per record, the time stamp's shape), the maximum size, a reopen
 * after a rename; packets with descriptors over a socketpair and a packet
 * too large; exit and OOM files as berthd's reader (io/conmon.h) sees them;
 * berth_conmon_attach_open on a stand-in for conmon's attach socket under a
 * bundle path longer than a sun_path; berth_monitor_tty_resize on a pty.
 * The program itself and berthd's link run in tests/integration/monitor.bats
 * with real runc.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/conmon.h"
#include "io/monitor.h"
#include "io/monitor/crilog.h"
#include "io/monitor/exitfile.h"
#include "io/monitor/proto.h"
#include "tests/unit/check.h"

static char root[64];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return berth_strdup("");
    char *buf = berth_calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_format(void)
{
    struct timespec ts = {.tv_sec = 1796550804, .tv_nsec = 520123456};
    char stamp[40];
    size_t n = berth_crilog_stamp(&ts, stamp);
    regex_t re;
    regcomp(&re,
            "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.520123456[+-][0-9]{2}:[0-9]{"
            "2}$",
            REG_EXTENDED | REG_NOSUB);
    check(n == strlen(stamp) && regexec(&re, stamp, 0, NULL, 0) == 0,
          "the stamp is RFC 3339 with nanoseconds and an offset: %s", stamp);
    regfree(&re);

    const char in[] = "one\ntwo\n\nthree";
    char out[512];
    size_t len = berth_crilog_format("stdout", in, strlen(in), &ts, out, sizeof(out));
    out[len] = '\0';
    char want[512];
    snprintf(want, sizeof(want),
             "%s stdout F one\n%s stdout F two\n%s stdout F \n%s stdout P three\n", stamp, stamp,
             stamp, stamp);
    check(strcmp(out, want) == 0, "complete lines are F, an empty line too, the rest P");
    len = berth_crilog_format("stderr", "x\n", 2, &ts, out, sizeof(out));
    out[len] = '\0';
    check(strstr(out, " stderr F x\n") != NULL && out[len - 1] == '\n', "stderr is tagged");
    /* the worst case: every byte a newline */
    char nl[100];
    memset(nl, '\n', sizeof(nl));
    size_t need = berth_crilog_need(sizeof(nl));
    char *big = berth_calloc(1, need);
    len = berth_crilog_format("stdout", nl, sizeof(nl), &ts, big, need);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += big[i] == '\n';
    check(lines == 100, "berth_crilog_need holds 100 empty lines (%zu records)", lines);
    berth_free(big);
}

static void test_file(void)
{
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/c.log", root);
    berth_crilog_t l;
    check(berth_crilog_open(&l, path, 0) == 0 && l.fd >= 0, "the log opens");
    size_t cap = berth_crilog_need(4096);
    char *scratch = berth_calloc(1, cap);
    berth_crilog_write(&l, "stdout", "a\nb", 3, scratch, cap);
    berth_crilog_write(&l, "stdout", "c\n", 2, scratch, cap);
    BERTH_AUTO_FREE char *text = slurp(path);
    check(strstr(text, " stdout F a\n") && strstr(text, " stdout P b\n") &&
                  strstr(text, " stdout F c\n"),
          "records are appended as written");
    /* the kubelet rotates: rename, then ReopenContainerLog */
    BERTH_AUTO_FREE char *rotated = berth_asprintf("%s/c.log.1", root);
    rename(path, rotated);
    check(berth_crilog_reopen(&l) == 0 && access(path, F_OK) == 0, "a reopen makes a new file");
    berth_crilog_write(&l, "stderr", "d\n", 2, scratch, cap);
    BERTH_AUTO_FREE char *fresh = slurp(path);
    BERTH_AUTO_FREE char *old = slurp(rotated);
    check(strstr(fresh, " stderr F d\n") && strstr(old, " stderr F d\n") == NULL,
          "after the reopen the new file gets the output, the rotated one keeps its own");
    berth_crilog_close(&l);

    /* the node's cap: a write that would pass it truncates first */
    BERTH_AUTO_FREE char *capped = berth_asprintf("%s/capped.log", root);
    check(berth_crilog_open(&l, capped, 200) == 0, "a capped log opens");
    for (int i = 0; i < 20; i++) {
        char line[32];
        int n = snprintf(line, sizeof(line), "line %d\n", i);
        berth_crilog_write(&l, "stdout", line, (size_t)n, scratch, cap);
    }
    struct stat st;
    stat(capped, &st);
    BERTH_AUTO_FREE char *ctext = slurp(capped);
    check(st.st_size <= 200 && strstr(ctext, "line 19\n") != NULL,
          "the capped log stays under 200 bytes (%lld) and holds the newest line",
          (long long)st.st_size);
    berth_crilog_close(&l);

    /* a small scratch: records flush as it fills, a longer one goes alone */
    BERTH_AUTO_FREE char *small = berth_asprintf("%s/small.log", root);
    check(berth_crilog_open(&l, small, 0) == 0, "a log with a 64-byte scratch opens");
    char longline[301];
    memset(longline, 'x', 300);
    longline[300] = '\n';
    char tiny[64];
    berth_crilog_write(&l, "stdout", "a\nb\nc\nd\ne\nf\n", 12, tiny, sizeof(tiny));
    berth_crilog_write(&l, "stdout", longline, sizeof(longline), tiny, sizeof(tiny));
    BERTH_AUTO_FREE char *stext = slurp(small);
    int records = 0;
    for (char *q = stext; (q = strstr(q, " stdout F ")) != NULL; q++)
        records++;
    char *xs = strstr(stext, " stdout F xxx");
    check(records == 7 && xs && strspn(xs + 10, "x") == 300 && xs[310] == '\n',
          "six short records and a 300-byte one through 64 bytes of scratch (%d records)", records);
    berth_crilog_close(&l);

    /* no file yet (its directory is missing): writes fail, nothing breaks */
    BERTH_AUTO_FREE char *nodir = berth_asprintf("%s/missing/x.log", root);
    check(berth_crilog_open(&l, nodir, 0) < 0 && l.fd < 0, "a log in a missing directory fails");
    check(berth_crilog_write(&l, "stdout", "x\n", 2, scratch, cap) < 0, "and its writes fail");
    berth_crilog_close(&l);
    berth_free(scratch);
}

static void test_proto(void)
{
    int sv[2];
    if (!check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair"))
        return;
    int p[2];
    if (pipe(p) < 0)
        return;
    const char *msg = "{\"op\":\"fds\"}";
    check(berth_mon_send(sv[0], msg, strlen(msg), p, 2, 0) == 0, "a packet with two descriptors");
    char buf[256];
    int fds[BERTH_MON_FDS_MAX];
    size_t nfds = 0;
    long n = berth_mon_recv(sv[1], buf, sizeof(buf), fds, &nfds, 0);
    check(n == (long)strlen(msg) && strcmp(buf, msg) == 0 && nfds == 2,
          "it arrives whole with both (%ld bytes, %zu fds)", n, nfds);
    if (nfds == 2) {
        check((fcntl(fds[0], F_GETFD) & FD_CLOEXEC) != 0, "received descriptors are close-on-exec");
        check(write(p[1], "z", 1) == 1, "write the pipe");
        char z = 0;
        check(read(fds[0], &z, 1) == 1 && z == 'z', "the received read end is the pipe's");
        close(fds[0]);
        close(fds[1]);
    }
    int many[BERTH_MON_FDS_MAX + 1] = {0};
    errno = 0;
    check(berth_mon_send(sv[0], "x", 1, many, BERTH_MON_FDS_MAX + 1, 0) < 0 && errno == EINVAL,
          "more than %d descriptors is EINVAL", BERTH_MON_FDS_MAX);
    /* a packet larger than the reader's buffer is refused, not cut */
    char large[600];
    memset(large, 'a', sizeof(large));
    berth_mon_send(sv[0], large, sizeof(large), p, 1, 0);
    nfds = 9;
    errno = 0;
    n = berth_mon_recv(sv[1], buf, sizeof(buf), fds, &nfds, 0);
    check(n < 0 && errno == EMSGSIZE && nfds == 0,
          "a truncated packet is EMSGSIZE, its fds closed");
    close(sv[0]);
    nfds = 0;
    check(berth_mon_recv(sv[1], buf, sizeof(buf), fds, &nfds, 0) == 0, "a closed peer reads 0");
    close(sv[1]);
    close(p[0]);
    close(p[1]);
}

static void test_exitfile(void)
{
    BERTH_AUTO_FREE char *exits = berth_asprintf("%s/exits", root);
    BERTH_AUTO_FREE char *persist = berth_asprintf("%s/persist", root);
    BERTH_AUTO_FREE char *cg = berth_asprintf("%s/cg", root);
    mkdir(exits, 0700);
    mkdir(persist, 0700);
    mkdir(cg, 0700);
    const char *what = NULL;
    check(berth_mon_record_exit(exits, persist, "c1", 137, NULL, &what) == 0, "an exit recorded");
    int code = -1;
    uint64_t t = 0;
    bool oom = true;
    berth_err_t err = NULL;
    check(berth_conmon_exit_read(exits, persist, "c1", &code, &t, &oom, &err) == 1 && code == 137 &&
                  !oom && t > 0,
          "berthd reads it as conmon's: 137, no OOM");
    BERTH_AUTO_FREE char *tmp = berth_asprintf("%s/.c1.tmp", exits);
    check(access(tmp, F_OK) < 0, "no temporary file is left");
    /* a v2 memory.events with a kill, then a v1 memory.oom_control */
    BERTH_AUTO_FREE char *events = berth_asprintf("%s/memory.events", cg);
    FILE *f = fopen(events, "w");
    fputs("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n", f);
    fclose(f);
    check(berth_mon_oom_kills(cg) == 1, "memory.events: one OOM kill");
    check(berth_mon_record_exit(exits, persist, "c2", 137, cg, &what) == 0 &&
                  berth_conmon_exit_read(exits, persist, "c2", &code, &t, &oom, &err) == 1 && oom,
          "an exit after an OOM kill is OOMKilled");
    unlink(events);
    BERTH_AUTO_FREE char *ctl = berth_asprintf("%s/memory.oom_control", cg);
    f = fopen(ctl, "w");
    fputs("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", f);
    fclose(f);
    check(berth_mon_oom_kills(cg) == 0, "memory.oom_control without a kill: 0");
    check(berth_mon_oom_kills(NULL) == 0, "no cgroup: 0");
    BERTH_AUTO_FREE char *gone = berth_asprintf("%s/nope", root);
    check(berth_mon_record_exit(gone, persist, "c3", 1, NULL, &what) < 0 && what &&
                  strcmp(what, "exit file") == 0,
          "a missing exit directory fails naming the exit file");
    char *self = berth_mon_memory_cgroup(getpid());
    check(self != NULL && strncmp(self, "/sys/fs/cgroup", 14) == 0,
          "this process's memory cgroup is found: %s", self ? self : "(none)");
    free(self);
}

/* conmon binds <bundle>/attach through a descriptor of the bundle; the
 * stand-in here does the same, under a path a sun_path could not hold. */
static void test_attach_open(void)
{
    char bundle[512];
    snprintf(bundle, sizeof(bundle), "%s/%s", root,
             "a-bundle-directory-whose-path-is-longer-than-the-one-hundred-and-eight-bytes-"
             "of-a-sun-path");
    mkdir(bundle, 0700);
    check(strlen(bundle) + strlen("/attach") >= sizeof(((struct sockaddr_un *)0)->sun_path),
          "the bundle path (%zu bytes) is longer than a sun_path", strlen(bundle));
    berth_err_t err = NULL;
    int r = berth_conmon_attach_open(bundle, &err);
    check(r < 0 && err->kind == BERTH_ERR_PRECONDITION,
          "no socket (conmon gone): PRECONDITION (%s)", err ? err->msg : "");
    berth_err_free(&err);
    BERTH_AUTO_FREE char *nope = berth_asprintf("%s/nope", root);
    r = berth_conmon_attach_open(nope, &err);
    check(r < 0 && err->kind == BERTH_ERR_NOT_FOUND, "no bundle: NOT_FOUND (%s)",
          err ? err->msg : "");
    berth_err_free(&err);

    int dir = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int lsn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/attach", dir);
    check(bind(lsn, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lsn, 10) == 0,
          "a stand-in attach socket is listening");
    int fd = berth_conmon_attach_open(bundle, &err);
    check(fd >= 0, "berth_conmon_attach_open connects: %s", err ? err->msg : "ok");
    berth_err_free(&err);
    int type = 0;
    socklen_t tl = sizeof(type);
    check(fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
                  type == SOCK_SEQPACKET && (fcntl(fd, F_GETFL) & O_NONBLOCK) &&
                  (fcntl(fd, F_GETFD) & FD_CLOEXEC),
          "the channel is SOCK_SEQPACKET, non-blocking, close-on-exec");
    int peer = accept(lsn, NULL, NULL);
    char pkt[] = {BERTH_ATTACH_STDERR, 'o', 'o', 'p', 's'};
    char got[BERTH_ATTACH_PACKET_MAX];
    check(peer >= 0 && send(peer, pkt, sizeof(pkt), 0) == (ssize_t)sizeof(pkt) &&
                  recv(fd, got, sizeof(got), 0) == (ssize_t)sizeof(pkt) &&
                  memcmp(got, pkt, sizeof(pkt)) == 0,
          "a packet keeps its boundary and its stream byte");
    check(send(fd, "in\n", 3, 0) == 3 && recv(peer, got, sizeof(got), 0) == 3,
          "input goes the other way as raw bytes");
    close(peer);
    check(recv(fd, got, sizeof(got), 0) == 0, "the monitor's close is EOF");
    close(fd);
    close(lsn);
    close(dir);
}

static void test_tty_resize(void)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
        printf("ok %d - # SKIP no pty here\n", ++ntest);
        return;
    }
    berth_err_t err = NULL;
    struct winsize ws = {0};
    int r = berth_monitor_tty_resize(m, 40, 100, &err);
    int g = ioctl(m, TIOCGWINSZ, &ws);
    check(r == 0 && g == 0 && ws.ws_row == 40 && ws.ws_col == 100,
          "berth_monitor_tty_resize: 40 rows, 100 columns (%u, %u)", ws.ws_row, ws.ws_col);
    check(berth_monitor_tty_resize(m, 70000, 10, &err) < 0 && err->kind == BERTH_ERR_INVALID,
          "a size no terminal holds: INVALID");
    berth_err_free(&err);
    int p[2];
    if (pipe(p) == 0) {
        r = berth_monitor_tty_resize(p[0], 40, 100, &err);
        check(r < 0 && err != NULL, "not a terminal: an error (%s)", err ? err->msg : "");
        berth_err_free(&err);
        close(p[0]);
        close(p[1]);
    }
    close(m);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/berth-monparts.XXXXXX");
    if (mkdtemp(root) == NULL) {
        printf("1..0 # SKIP no scratch directory\n");
        return 0;
    }
    test_format();
    test_file();
    test_proto();
    test_exitfile();
    test_attach_open();
    test_tty_resize();
    printf("1..%d\n", ntest);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", root);
    return nfail ? 1 : 0;
}
