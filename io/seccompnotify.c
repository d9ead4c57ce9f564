// SPDX-License-Identifier: Apache-2.0
/*
 * The seccomp notifier (see seccompnotify.h). The thread owns the listening
 * socket, the runtime's connection and the notify fd; the notifier struct is
 * shared with the actor that started it through a reference count of two
 * (thread, starter), so whichever lets go last frees it.
 */
#include "io/seccompnotify.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"

struct berth_seccomp_notifier {
    char *path;
    berth_handle_t owner;
    int listen_fd;
    int stop_fd; /* eventfd: written once by stop */
    atomic_int refs;
};

static void unref(berth_seccomp_notifier_t *n)
{
    /* acq_rel: the last one out sees every write the other made before
     * letting go (the thread's fds, the starter's stop) */
    if (atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1)
        return;
    close(n->listen_fd);
    close(n->stop_fd);
    unlink(n->path);
    berth_free(n->path);
    berth_free(n);
}

/* The runtime's message: its state JSON (ignored) and the notify fd. */
static int receive_fd(int conn)
{
    char buf[8192];
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int) * 4)];
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.b,
                        .msg_controllen = sizeof(ctl.b)};
    ssize_t r;
    do
        r = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    int fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[4];
        memcpy(fds, CMSG_DATA(c), nfd * sizeof(int));
        for (size_t i = 0; i < nfd; i++) {
            /* the first fd is the notify fd (runc and crun send one) */
            if (fd < 0)
                fd = fds[i];
            else
                close(fds[i]);
        }
    }
    return fd;
}

static void mail(berth_seccomp_notifier_t *n, const char *name)
{
    berth_seccomp_denial_msg_t *m = berth_msg_new(BERTH_MSG_SECCOMP_DENIAL, sizeof(*m));
    snprintf(m->syscall, sizeof(m->syscall), "%s", name);
    berth_send(n->owner, &m->hdr);
}

/* Answers one notification of nfd with EPERM and mails its syscall. */
static void answer(berth_seccomp_notifier_t *n, int nfd, struct seccomp_notif *req,
                   struct seccomp_notif_resp *resp, const struct seccomp_notif_sizes *sz)
{
    memset(req, 0, sz->seccomp_notif);
    if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0)
        return; /* ENOENT: the caller died before we read it */
    memset(resp, 0, sz->seccomp_notif_resp);
    resp->id = req->id;
    resp->error = -EPERM;
    /* ENOENT: the thread was killed meanwhile; nothing to answer */
    (void)ioctl(nfd, SECCOMP_IOCTL_NOTIF_SEND, resp);
    char *name = seccomp_syscall_resolve_num_arch(req->data.arch, req->data.nr);
    char buf[40];
    if (name == NULL)
        snprintf(buf, sizeof(buf), "syscall-%d", req->data.nr);
    mail(n, name ? name : buf);
    free(name); /* libseccomp allocates with malloc */
}

/* At most this many runtime connections and notify fds at once: the
 * container's init and its exec'd processes (each runtime exec installs
 * the filter again and hands over a notify fd of its own). */
#define MAX_FDS 64

enum { K_STOP, K_LISTEN, K_CONN, K_NOTIFY };

static void *thread_main(void *arg)
{
    berth_seccomp_notifier_t *n = arg;
    struct seccomp_notif_sizes sz;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) < 0) {
        berth_log_warn("seccomp notifier: the kernel gives no notification sizes", "path=%s",
                       n->path);
        unref(n);
        return NULL;
    }
    struct seccomp_notif *req = berth_calloc(1, sz.seccomp_notif);
    struct seccomp_notif_resp *resp = berth_calloc(1, sz.seccomp_notif_resp);
    struct pollfd p[MAX_FDS + 2];
    int kind[MAX_FDS + 2];
    size_t np = 2;
    p[0] = (struct pollfd){.fd = n->stop_fd, .events = POLLIN};
    kind[0] = K_STOP;
    p[1] = (struct pollfd){.fd = n->listen_fd, .events = POLLIN};
    kind[1] = K_LISTEN;
    for (;;) {
        if (poll(p, np, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents)
            break;
        for (size_t i = 1; i < np; i++) {
            short ev = p[i].revents;
            if (ev == 0)
                continue;
            if (kind[i] == K_LISTEN) {
                int conn = accept4(n->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (conn >= 0 && np < MAX_FDS + 2) {
                    p[np] = (struct pollfd){.fd = conn, .events = POLLIN};
                    kind[np++] = K_CONN;
                } else if (conn >= 0) {
                    close(conn);
                }
                continue;
            }
            if (kind[i] == K_CONN) {
                int nfd = (ev & POLLIN) ? receive_fd(p[i].fd) : -1;
                close(p[i].fd);
                if (nfd >= 0) {
                    berth_log_debug("seccomp notifier: a notify fd attached", "path=%s", n->path);
                    p[i] = (struct pollfd){.fd = nfd, .events = POLLIN};
                    kind[i] = K_NOTIFY;
                } else {
                    p[i].fd = -1; /* poll skips it; the slot is dropped below */
                }
                continue;
            }
            if (ev & POLLIN)
                answer(n, p[i].fd, req, resp, &sz);
            else if (ev & (POLLHUP | POLLERR | POLLNVAL)) {
                /* every process under this filter is gone */
                close(p[i].fd);
                p[i].fd = -1;
            }
        }
        /* drop the closed slots */
        size_t k = 2;
        for (size_t i = 2; i < np; i++) {
            if (p[i].fd >= 0) {
                p[k] = p[i];
                kind[k++] = kind[i];
            }
        }
        np = k;
    }
    for (size_t i = 2; i < np; i++)
        close(p[i].fd);
    berth_free(req);
    berth_free(resp);
    unref(n);
    return NULL;
}

berth_seccomp_notifier_t *berth_seccomp_notifier_start(const char *path, berth_handle_t owner,
                                                       berth_err_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        berth_err_make(err, ENAMETOOLONG, BERTH_ERR_INTERNAL,
                       "seccomp notifier socket path %s is too long for a unix socket", path);
        return NULL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        berth_err_errno(err, errno, "seccomp notifier socket");
        return NULL;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
        berth_err_errno(err, errno, "seccomp notifier socket %s", path);
        close(fd);
        return NULL;
    }
    berth_seccomp_notifier_t *n = berth_calloc(1, sizeof(*n));
    n->path = berth_strdup(path);
    n->owner = owner;
    n->listen_fd = fd;
    n->stop_fd = eventfd(0, EFD_CLOEXEC);
    atomic_init(&n->refs, 2);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 128 * 1024);
    int rc = n->stop_fd < 0 ? errno : pthread_create(&t, &attr, thread_main, n);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        berth_err_errno(err, rc, "seccomp notifier thread");
        atomic_store_explicit(&n->refs, 1, memory_order_relaxed); /* no thread shares it */
        unref(n);
        return NULL;
    }
    return n;
}

void berth_seccomp_notifier_stop(berth_seccomp_notifier_t *n)
{
    if (n == NULL)
        return;
    uint64_t one = 1;
    ssize_t w = write(n->stop_fd, &one, sizeof(one));
    (void)w; /* an eventfd write of 1 cannot fail short of overflow */
    unref(n);
}
