/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A network namespace's interface counters, as the kubelet reads a pod's
 * network from PodSandboxStats: the text of /proc/net/dev, read from inside
 * the pod's pinned namespace. Parsing is pure; the read enters the namespace
 * on the calling thread and comes back before it returns.
 */
#ifndef BERTH_IO_NETDEV_H
#define BERTH_IO_NETDEV_H

#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"

typedef struct berth_netdev_iface {
    char name[32]; /* IFNAMSIZ is 16; longer names are cut */
    uint64_t rx_bytes, rx_errors, tx_bytes, tx_errors;
    uint64_t rx_packets, rx_dropped, tx_packets, tx_dropped; /* for cAdvisor's metrics */
} berth_netdev_iface_t;

/* Parses /proc/net/dev text (len bytes, no NUL needed): the two header
 * lines, then one line per interface. The loopback interface ("lo") is left
 * out, as the kubelet leaves it out of a pod's figures. A line that does not
 * hold a name and sixteen counters is skipped. Returns the number of
 * interfaces stored in out (at most cap); *total gets how many the text
 * holds (more than cap: the rest were dropped). */
size_t berth_netdev_parse(const char *text, size_t len, berth_netdev_iface_t *out, size_t cap,
                          size_t *total);

/* Reads /proc/net/dev inside the network namespace pinned at netns_path and
 * parses it into out as above. The calling thread joins the namespace only
 * to open the file (a file opened there keeps showing that namespace) and
 * returns to its own before anything else; if it cannot return, the process
 * aborts rather than run later work in a pod's namespace. Blocking: call it
 * from the blocking pool, never an engine worker. Returns the count stored,
 * or -1 with *err (the namespace or the file cannot be opened). */
int berth_netdev_read_netns(const char *netns_path, berth_netdev_iface_t *out, size_t cap,
                            berth_err_t *err);

#endif
