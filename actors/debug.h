/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berthd's debug endpoint ([crio.api] debug_socket, off by default;
 * docs/observability.md): HTTP on a unix socket (io/httpsrv.h) serving
 *
 *   /debug/actors         every live actor: kind, label, state, mailbox (JSON)
 *   /debug/heap           the allocator's statistics (text)
 *   /debug/pprof/profile  a CPU profile, ?seconds=N (default 30) &hz=N
 *                         (default 100), gzip'd profile.proto for go tool pprof
 *   /config               the effective configuration (TOML)
 *   /info                 the runtime's verbose status: conditions and info (JSON)
 *   /containers           the pods and containers (JSON)
 *
 * `berthd status` reads them. The producers below write into bytebufs and
 * are exposed for tests and tools; the heap and configuration views run in
 * the connection actor's turn, the others on the blocking pool, answering
 * from there: the actor dump (its cost grows with the actors), a profile
 * (it samples for seconds), /info and /containers (they ask berthd's own
 * CRI socket).
 */
#ifndef BERTH_ACTORS_DEBUG_H
#define BERTH_ACTORS_DEBUG_H

#include "conf/config.h"
#include "engine/err.h"
#include "io/bytebuf.h"
#include "io/httpsrv.h"

/* {"live": N, "engine": {...}, "actors": [{"handle", "kind", "label",
 * "state", "worker", "depth", "handled"}, ...]} sorted by kind then label.
 * Any thread. */
void berth_debug_actors_json(berth_bytebuf_t *out);

/* The allocator's report (engine/alloc.h). Any thread. */
void berth_debug_heap_text(berth_bytebuf_t *out);

/* cfg as TOML, as `berthd config` prints it. Any thread. */
void berth_debug_config_toml(const berth_config_t *cfg, berth_bytebuf_t *out);

/* Status (verbose) from the CRI socket at `listen`, as JSON. Blocks (a
 * blocking-pool job or a tool). -1 with *err when berthd does not answer. */
int berth_debug_info_json(const char *listen, berth_bytebuf_t *out, berth_err_t *err);
/* ListPodSandbox and ListContainers from the CRI socket, as JSON. Blocks. */
int berth_debug_containers_json(const char *listen, berth_bytebuf_t *out, berth_err_t *err);

/* Starts the endpoint on cfg->debug_socket (mode 0600: root's only). cfg is
 * borrowed and must outlive the engine and the blocking pool. Returns 0 with *srv, or -1 with *err
 * naming the socket. Main thread. */
int berth_debug_start(berth_config_t *cfg, berth_httpsrv_t *srv, berth_err_t *err);

#endif
