/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/netlisten: TCP on an IP literal (bad addresses and ports named, the
 * ephemeral port reported, a taken port refused); unix sockets claimed
 * safely (mode set, a stale file replaced, a plain file and a live server
 * refused, only one's own file unlinked).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../check.h"
#include "engine/alloc.h"
#include "io/netlisten.h"

static char dir[] = "/tmp/berth-netlisten-XXXXXX";

/* A live server: accepts one connection and answers whatever comes. */
static void *answer_one(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    int c = accept(lfd, NULL, NULL);
    if (c >= 0) {
        char buf[64];
        if (recv(c, buf, sizeof(buf), 0) > 0)
            (void)send(c, "HTTP/1.1 400 Bad Request\r\n\r\n", 28, MSG_NOSIGNAL);
        usleep(100 * 1000);
        close(c);
    }
    return NULL;
}

static void test_tcp(void)
{
    berth_err_t err = NULL;
    int port = -1;
    int fd = berth_listen_tcp("127.0.0.1", 0, 16, &port, &err);
    check(fd >= 0 && port > 0, "TCP on 127.0.0.1, an ephemeral port (%d)", port);
    int fd2 = berth_listen_tcp("127.0.0.1", port, 16, NULL, &err);
    check(fd2 < 0 && err && err->errnum == EADDRINUSE && strstr(err->msg, "127.0.0.1") &&
                  strstr(err->msg, "port"),
          "the same port again is refused, naming it: %s", err ? err->msg : "bound");
    berth_err_free(&err);
    close(fd);
    fd = berth_listen_tcp("localhost", 0, 16, NULL, &err);
    check(fd < 0 && err && err->kind == BERTH_ERR_INVALID && strstr(err->msg, "\"localhost\""),
          "a name is not an IP literal: %s", err ? err->msg : "bound");
    berth_err_free(&err);
    fd = berth_listen_tcp("127.0.0.1", 70000, 16, NULL, &err);
    check(fd < 0 && err && err->kind == BERTH_ERR_INVALID && strstr(err->msg, "70000"),
          "a port past 65535 is refused: %s", err ? err->msg : "bound");
    berth_err_free(&err);
    ok(berth_addr_is_ipv6("::1") && !berth_addr_is_ipv6("127.0.0.1") && !berth_addr_is_ipv6(NULL),
       "IPv6 literals are told apart");
    fd = berth_listen_tcp("::1", 0, 16, &port, &err);
    if (fd >= 0)
        check(port > 0, "TCP on ::1 (%d)", port);
    else
        printf("ok %d - # SKIP no IPv6 loopback: %s\n", ++ntest, err->msg);
    berth_err_free(&err);
    if (fd >= 0)
        close(fd);
}

static void test_unix(void)
{
    berth_err_t err = NULL;
    char *path = berth_asprintf("%s/s.sock", dir);
    dev_t dev;
    ino_t ino;
    int fd = berth_listen_unix(path, 0600, 16, &dev, &ino, &err);
    struct stat sb;
    check(fd >= 0 && stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) && (sb.st_mode & 0777) == 0600 &&
                  sb.st_ino == ino,
          "a unix socket with its mode (%s)", err ? err->msg : "ok");
    /* closed without unlinking: a stale file nobody serves */
    close(fd);
    fd = berth_listen_unix(path, 0, 16, &dev, &ino, &err);
    check(fd >= 0 && stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0660,
          "a stale socket file is replaced; mode 0 is 0660 (%s)", err ? err->msg : "ok");
    berth_err_free(&err);

    pthread_t t;
    pthread_create(&t, NULL, answer_one, (void *)(intptr_t)fd);
    int fd2 = berth_listen_unix(path, 0, 16, NULL, NULL, &err);
    check(fd2 < 0 && err && err->kind == BERTH_ERR_PRECONDITION &&
                  strstr(err->msg, "another server is listening"),
          "a live server's path is refused: %s", err ? err->msg : "bound");
    berth_err_free(&err);
    pthread_join(t, NULL);

    /* someone else's socket at the path now: ours is not removed (ours
     * moved aside, so its inode cannot be the new one's) */
    dev_t odev = dev;
    ino_t oino = ino;
    close(fd);
    char *aside = berth_asprintf("%s.old", path);
    rename(path, aside);
    fd = berth_listen_unix(path, 0, 16, &dev, &ino, &err);
    berth_unlink_own(path, odev, oino);
    ok(access(path, F_OK) == 0, "berth_unlink_own leaves a file that is not its own");
    berth_unlink_own(path, dev, ino);
    ok(access(path, F_OK) != 0, "and removes its own");
    close(fd);
    unlink(aside);
    berth_free(aside);

    FILE *f = fopen(path, "w");
    fputs("not a socket\n", f);
    fclose(f);
    fd = berth_listen_unix(path, 0, 16, NULL, NULL, &err);
    check(fd < 0 && err && strstr(err->msg, "is not a socket"), "a plain file is refused: %s",
          err ? err->msg : "bound");
    berth_err_free(&err);
    unlink(path);
    berth_free(path);

    char longp[200];
    memset(longp, 'x', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    fd = berth_listen_unix(longp, 0, 16, NULL, NULL, &err);
    check(fd < 0 && err && err->kind == BERTH_ERR_INVALID, "a path too long for sun_path: %s",
          err ? err->msg : "bound");
    berth_err_free(&err);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        abort();
    test_tcp();
    test_unix();
    rmdir(dir);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
