/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listening sockets (io/netlisten.h). The unix form refuses to steal a path
 * from a live server: it connects first and counts any answer to a probe as
 * life, so a second daemon started by mistake fails instead of cutting the
 * first one off its clients.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "io/netlisten.h"

int berth_addr_is_ipv6(const char *addr)
{
    struct in6_addr a6;
    return addr != NULL && inet_pton(AF_INET6, addr, &a6) == 1;
}

int berth_listen_tcp(const char *addr, int port, int backlog, int *bound_port, berth_err_t *err)
{
    if (port < 0 || port > 65535)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "port %d is not a TCP port (0-65535)",
                              port);
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        sl = sizeof(*s4);
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*s6);
    } else {
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "\"%s\" is not an IP address", addr);
    }
    BERTH_AUTO_CLOSE int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return berth_err_errno(err, errno, "socket");
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
        return berth_err_errno(err, errno, "bind %s port %d", addr, port);
    if (listen(fd, backlog) < 0)
        return berth_err_errno(err, errno, "listen");
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return berth_err_errno(err, errno, "getsockname");
    if (bound_port)
        *bound_port = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
    return berth_steal_fd(&fd);
}

static int set_addr(struct sockaddr_un *sa, const char *path, berth_err_t *err)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(sa->sun_path))
        return berth_err_make(err, ENAMETOOLONG, BERTH_ERR_INVALID,
                              "socket path %s is empty or longer than %zu bytes", path,
                              sizeof(sa->sun_path) - 1);
    memcpy(sa->sun_path, path, n);
    return 0;
}

/* Whether the peer on fd speaks: sends the HTTP/2 client preface and an
 * empty SETTINGS frame, then waits up to a second for any answer. A live
 * HTTP/2 server sends its SETTINGS at once; a live HTTP/1.1 server answers
 * the preface's request line with an error status. Either is life. */
static bool peer_answers(int fd)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                  "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    if (send(fd, preface, sizeof(preface) - 1, MSG_NOSIGNAL) < 0)
        return false;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n;
    do /* EINTR (a profile's SIGPROF in a pool job) is not an answer */
        n = poll(&pfd, 1, 1000);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return false;
    char buf[64];
    return recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0;
}

/* Refuses a path a live server answers on; removes a stale socket file. */
static int claim_path(const char *path, const struct sockaddr_un *sa, berth_err_t *err)
{
    BERTH_AUTO_CLOSE int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return berth_err_errno(err, errno, "socket");
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0) {
        if (peer_answers(fd))
            return berth_err_make(err, EADDRINUSE, BERTH_ERR_PRECONDITION,
                                  "another server is listening on %s", path);
        /* Accepted but never answered: the socket of a server that died
         * while the kernel still holds its file (an io_uring accept of a
         * killed daemon lives until the ring's last request ends). The path
         * is ours to take. */
        berth_log_warn("replacing a socket nobody serves", "path=%s", path);
        if (unlink(path) < 0 && errno != ENOENT)
            return berth_err_errno(err, errno, "remove stale socket %s", path);
        return 0;
    }
    if (errno == ENOENT)
        return 0;
    if (errno != ECONNREFUSED)
        return berth_err_errno(err, errno, "probe %s", path);
    struct stat sb;
    if (lstat(path, &sb) == 0 && !S_ISSOCK(sb.st_mode))
        return berth_err_make(err, EEXIST, BERTH_ERR_PRECONDITION, "%s exists and is not a socket",
                              path);
    if (unlink(path) < 0 && errno != ENOENT)
        return berth_err_errno(err, errno, "remove stale socket %s", path);
    return 0;
}

int berth_listen_unix(const char *path, unsigned mode, int backlog, dev_t *dev, ino_t *ino,
                      berth_err_t *err)
{
    struct sockaddr_un sa, tmp;
    if (set_addr(&sa, path, err) < 0)
        return -1;
    if (claim_path(path, &sa, err) < 0)
        return -1;

    BERTH_AUTO_FREE char *tmppath = berth_asprintf("%s.%d.tmp", path, (int)getpid());
    bool use_tmp = set_addr(&tmp, tmppath, NULL) == 0;
    const char *bindpath = use_tmp ? tmppath : path;

    BERTH_AUTO_CLOSE int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return berth_err_errno(err, errno, "socket");
    if (use_tmp)
        unlink(tmppath);
    if (bind(fd, (const struct sockaddr *)(use_tmp ? &tmp : &sa), sizeof(sa)) < 0)
        return berth_err_errno(err, errno, "bind %s", bindpath);
    if (chmod(bindpath, mode ? mode : 0660) < 0) {
        int e = errno;
        unlink(bindpath);
        return berth_err_errno(err, e, "chmod %s", bindpath);
    }
    if (listen(fd, backlog) < 0) {
        int e = errno;
        unlink(bindpath);
        return berth_err_errno(err, e, "listen %s", path);
    }
    if (use_tmp && rename(tmppath, path) < 0) {
        int e = errno;
        unlink(tmppath);
        return berth_err_errno(err, e, "rename %s to %s", tmppath, path);
    }
    struct stat sb;
    if (stat(path, &sb) < 0)
        return berth_err_errno(err, errno, "stat %s", path);
    if (dev)
        *dev = sb.st_dev;
    if (ino)
        *ino = sb.st_ino;
    return berth_steal_fd(&fd);
}

void berth_unlink_own(const char *path, dev_t dev, ino_t ino)
{
    struct stat sb;
    if (lstat(path, &sb) == 0 && sb.st_dev == dev && sb.st_ino == ino)
        unlink(path);
}
