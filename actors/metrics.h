/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berthd's metrics (docs/observability.md): the families it exposes, with
 * CRI-O's names where the meaning is the same and berth_ ones for its own,
 * the scrape hooks that read gauges (mailbox depths, engine and event
 * counts), and the /metrics route for io/httpsrv.h. The counting itself is
 * done where things happen (io/grpc.c, io/pull.c, engine/sched.c, ...);
 * this module only names what the domain knows (RPC methods, containers).
 */
#ifndef BERTH_ACTORS_METRICS_H
#define BERTH_ACTORS_METRICS_H

#include "io/grpc.h"
#include "io/httpsrv.h"
#include "proto/cri.h"

/* Registers the families (so a scrape lists them all from the start, in a
 * stable order) and the scrape hooks. Main thread, once, before serving. */
void berth_daemon_metrics_init(void);

/* The configured default runtime handler, for CRI-O's default_runtime gauge
 * (one series, value 1). Main thread, after berth_daemon_metrics_init. */
void berth_metrics_default_runtime(const char *name);

/* The RPC statistics of method m (NULL: a path that names no CRI method,
 * counted as operation "_unknown"), made on the first call. Any actor turn;
 * lock-free after the first call of each method. */
berth_grpc_stats_t *berth_rpc_stats(const berth_cri_method_t *m);

/* A container was killed for running out of memory. Any actor turn (takes
 * the registry's mutex: a rare event). */
void berth_metrics_container_oom(const char *name);

/* The seccomp notifier refused syscall in container name (CRI-O's
 * container_runtime_crio_containers_seccomp_notifier_count_total). Any actor
 * turn (takes the registry's mutex for a label pair seen first; the family's
 * series are bounded: past the bound the pair counts under "_other"). */
void berth_metrics_seccomp_refused(const char *name, const char *syscall);

/* The /metrics route: the text exposition of every family. */
void berth_metrics_http(const berth_http_req_t *req, berth_httpsrv_reply_t *reply, void *arg);

#endif
