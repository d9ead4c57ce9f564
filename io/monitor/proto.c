/* SPDX-License-Identifier: Apache-2.0 */
/* Packets with descriptors between berthd and berth-monitor. See proto.h. */
#include "io/monitor/proto.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int berth_mon_send(int sock, const char *buf, size_t len, const int *fds, size_t nfds, int flags)
{
    if (nfds > BERTH_MON_FDS_MAX) {
        errno = EINVAL;
        return -1;
    }
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(int) * BERTH_MON_FDS_MAX)];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
        if (n >= 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

long berth_mon_recv(int sock, char *buf, size_t cap, int *fds, size_t *nfds, int flags)
{
    *nfds = 0;
    struct iovec iov = {.iov_base = buf, .iov_len = cap - 1};
    union {
        char buf[CMSG_SPACE(sizeof(int) * BERTH_MON_FDS_MAX)];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int got[BERTH_MON_FDS_MAX * 2];
        if (k > sizeof(got) / sizeof(got[0]))
            k = sizeof(got) / sizeof(got[0]);
        memcpy(got, CMSG_DATA(c), k * sizeof(int));
        for (size_t i = 0; i < k; i++) {
            if (*nfds < BERTH_MON_FDS_MAX)
                fds[(*nfds)++] = got[i];
            else
                close(got[i]);
        }
    }
    if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
        for (size_t i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        errno = EMSGSIZE;
        return -1;
    }
    buf[n] = '\0';
    return (long)n;
}
