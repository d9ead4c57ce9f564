// SPDX-License-Identifier: Apache-2.0
#include "io/netdev.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"

/* One interface line: "  eth0: 1 2 ..." (a long name may touch the colon
 * and the first counter may touch it too). Returns whether it parsed. */
static bool parse_line(const char *p, const char *end, berth_netdev_iface_t *o)
{
    while (p < end && *p == ' ')
        p++;
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (colon == NULL || colon == p)
        return false;
    size_t nlen = (size_t)(colon - p);
    if (nlen >= sizeof(o->name))
        nlen = sizeof(o->name) - 1;
    memcpy(o->name, p, nlen);
    o->name[nlen] = '\0';
    uint64_t v[16];
    const char *q = colon + 1;
    for (int i = 0; i < 16; i++) {
        while (q < end && *q == ' ')
            q++;
        if (q >= end || *q < '0' || *q > '9')
            return false;
        uint64_t x = 0;
        for (; q < end && *q >= '0' && *q <= '9'; q++)
            x = x * 10 + (uint64_t)(*q - '0'); /* the kernel prints u64: no overflow */
        v[i] = x;
    }
    /* receive: bytes packets errs drop ...; transmit from the ninth: bytes
     * packets errs drop */
    o->rx_bytes = v[0];
    o->rx_packets = v[1];
    o->rx_errors = v[2];
    o->rx_dropped = v[3];
    o->tx_bytes = v[8];
    o->tx_packets = v[9];
    o->tx_errors = v[10];
    o->tx_dropped = v[11];
    return true;
}

size_t berth_netdev_parse(const char *text, size_t len, berth_netdev_iface_t *out, size_t cap,
                          size_t *total)
{
    const char *p = text, *end = text + len;
    size_t n = 0, all = 0;
    for (int line = 0; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        berth_netdev_iface_t it;
        if (line >= 2 && parse_line(p, le, &it) && strcmp(it.name, "lo") != 0) {
            if (n < cap)
                out[n++] = it;
            all++;
        }
        p = nl ? nl + 1 : end;
    }
    if (total)
        *total = all;
    return n;
}

/* Opens /proc/thread-self/net/dev inside the namespace at path: -errno on
 * failure. */
static int open_in_netns(const char *path)
{
    int self_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self_ns < 0)
        return -errno;
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) {
        int e = errno;
        close(self_ns);
        return -e;
    }
    int fd;
    if (setns(ns, CLONE_NEWNET) < 0) {
        fd = -errno;
    } else {
        /* thread-self: /proc/self/net shows the thread group leader's
         * namespace, not this thread's */
        fd = open("/proc/thread-self/net/dev", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            fd = -errno;
        if (setns(self_ns, CLONE_NEWNET) < 0) {
            /* a pool thread left in a pod's namespace would run the next
             * job's network calls there: never let it run again */
            berth_log_error("netdev: cannot return to berthd's network namespace", "errno=%d",
                            errno);
            abort();
        }
    }
    close(ns);
    close(self_ns);
    return fd;
}

int berth_netdev_read_netns(const char *netns_path, berth_netdev_iface_t *out, size_t cap,
                            berth_err_t *err)
{
    int fd = open_in_netns(netns_path);
    if (fd < 0)
        return berth_err_make(err, -fd, BERTH_ERR_INTERNAL,
                              "cannot read /proc/net/dev in the network namespace %s: %s",
                              netns_path, strerror(-fd));
    BERTH_AUTO_CLOSE int f = fd;
    /* a line is about 130 bytes: 64 KiB holds hundreds of interfaces */
    size_t capb = 64 * 1024, len = 0;
    BERTH_AUTO_FREE char *buf = berth_malloc(capb);
    for (;;) {
        ssize_t r = read(f, buf + len, capb - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return berth_err_errno(err, errno, "cannot read /proc/net/dev in %s", netns_path);
        if (r == 0 || (len += (size_t)r) == capb)
            break;
    }
    return (int)berth_netdev_parse(buf, len, out, cap, NULL);
}
