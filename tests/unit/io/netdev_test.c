/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/netdev: /proc/net/dev text from a fixture (loopback left out, a name
 * touching its counters, a long name, a full u64, a truncated line and a
 * short output array), and, as root, a read inside a new network namespace
 * that leaves the thread in its own.
 */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/netdev.h"
#include "tests/unit/check.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = berth_malloc(65536);
    *len = fread(buf, 1, 65535, f);
    fclose(f);
    return buf;
}

static void test_fixture(void)
{
    size_t len = 0;
    BERTH_AUTO_FREE char *text = slurp(BERTH_NETDEV_FIXTURES "/proc_net_dev.txt", &len);
    if (!ok(text != NULL, "the fixture is read"))
        return;
    berth_netdev_iface_t v[8];
    size_t total = 0;
    size_t n = berth_netdev_parse(text, len, v, 8, &total);
    check(n == 3 && total == 3, "three interfaces besides lo (got %zu of %zu)", n, total);
    if (n < 3)
        return;
    check(strcmp(v[0].name, "eth0") == 0 && v[0].rx_bytes == 523576 && v[0].rx_errors == 2 &&
                  v[0].tx_bytes == 30008 && v[0].tx_errors == 1,
          "eth0: rx 523576 bytes 2 errors, tx 30008 bytes 1 error (%s %llu %llu %llu %llu)",
          v[0].name, (unsigned long long)v[0].rx_bytes, (unsigned long long)v[0].rx_errors,
          (unsigned long long)v[0].tx_bytes, (unsigned long long)v[0].tx_errors);
    check(strcmp(v[1].name, "net1") == 0 && v[1].rx_bytes == UINT64_MAX && v[1].rx_errors == 3 &&
                  v[1].tx_bytes == 9 && v[1].tx_errors == 4,
          "net1: counters touching the colon, a full u64");
    check(v[0].rx_packets == 3736 && v[0].tx_packets == 312 && v[1].rx_packets == 7 &&
                  v[1].tx_packets == 1 && v[0].rx_dropped == 0 && v[1].tx_dropped == 0,
          "packets and drops for the metrics");
    check(strcmp(v[2].name, "verylonginterfa") == 0 && v[2].tx_bytes == 744,
          "a fifteen-character name touching its colon");

    n = berth_netdev_parse(text, len, v, 1, &total);
    check(n == 1 && total == 3, "a short array keeps the first and counts them all");

    const char *cut = "h1\nh2\n  eth0: 1 2 3\n  eth1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16";
    n = berth_netdev_parse(cut, strlen(cut), v, 8, &total);
    check(n == 1 && strcmp(v[0].name, "eth1") == 0 && v[0].tx_errors == 11,
          "a line short of counters is skipped; a last line without a newline is read");
    n = berth_netdev_parse("", 0, v, 8, &total);
    check(n == 0 && total == 0, "empty text: no interfaces");
}

/* As root: a new network namespace pinned on a file has only lo, so its
 * read shows nothing, and the thread is back in its own namespace. */
static void test_netns(void)
{
    if (geteuid() != 0) {
        printf("ok %d # SKIP not root\n", ++ntest);
        return;
    }
    char dir[] = "/tmp/netdev_test.XXXXXX";
    if (!ok(mkdtemp(dir) != NULL, "a scratch directory"))
        return;
    char pin[64];
    snprintf(pin, sizeof(pin), "%s/net", dir);
    close(open(pin, O_CREAT | O_WRONLY, 0600));
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNET) < 0 || mount("/proc/self/ns/net", pin, NULL, MS_BIND, NULL) < 0)
            _exit(1);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("ok %d # SKIP cannot make a network namespace\n", ++ntest);
        unlink(pin);
        rmdir(dir);
        return;
    }
    struct stat before, after;
    stat("/proc/thread-self/ns/net", &before);
    berth_netdev_iface_t v[8];
    BERTH_AUTO_ERR berth_err_t err = NULL;
    int n = berth_netdev_read_netns(pin, v, 8, &err);
    check(n == 0, "a new namespace has no interface besides lo (got %d)", n);
    stat("/proc/thread-self/ns/net", &after);
    ok(before.st_ino == after.st_ino, "the thread is back in its own namespace");
    n = berth_netdev_read_netns("/nonexistent/netns", v, 8, &err);
    ok(n < 0 && err != NULL && strstr(err->msg, "/nonexistent/netns") != NULL,
       "a missing pin: an error naming it");
    umount2(pin, MNT_DETACH);
    unlink(pin);
    rmdir(dir);
}

int main(void)
{
    test_fixture();
    test_netns();
    printf("1..%d\n", ntest);
    return nfail != 0;
}
