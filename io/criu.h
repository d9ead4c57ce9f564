/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRIU, the checkpointer behind CheckpointContainer (docs/checkpoint.md):
 * whether it can work on this node, found once and kept, and a bounded run
 * of a command whose output is the error a kubelet user reads (`criu
 * check`, `runc checkpoint`).
 *
 * The probe runs `criu --version` and `criu check`; both block, so they run
 * on the blocking pool (berth_criu_probe_async at start, or the first
 * checkpoint's job), never in an actor turn. The result is immutable once
 * published and lives until exit: a node whose kernel or CRIU changes gets
 * a new probe with berthd's restart.
 */
#ifndef BERTH_IO_CRIU_H
#define BERTH_IO_CRIU_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/err.h"

typedef struct berth_criu_status {
    bool usable;   /* `criu check` passed */
    char *path;    /* the criu binary; NULL: none found */
    char *version; /* "3.17.1"; NULL: unknown */
    /* Why checkpoints cannot work here, for a kubelet user: "criu check
     * failed: Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds".
     * NULL when usable. */
    char *reason;
} berth_criu_status_t;

/* The reason `criu check` failed, from its output (stdout and stderr
 * together) and its wait status: criu's own first "Error" line, else its
 * last non-empty line, else the exit status. NULL (usable) when it exited 0.
 * Owned. Pure; any thread. */
char *berth_criu_check_reason(const char *output, int wait_status);

/* "3.17.1" from `criu --version`'s "Version: 3.17.1" (owned), or NULL. Pure. */
char *berth_criu_parse_version(const char *output);

/* Probes the criu binary at `path` (NULL: looked for like runc does, on
 * PATH, then in the usual sbin directories) into *out (fields owned; free
 * with berth_criu_status_fini). Blocks: pool or main. */
void berth_criu_probe_at(const char *path, berth_criu_status_t *out);
void berth_criu_status_fini(berth_criu_status_t *s);

/* The node's probe: the published one, else a new one published (two
 * concurrent first probes both run; one is kept). Never NULL; lives until
 * exit. Blocks on the first call: pool or main only. */
const berth_criu_status_t *berth_criu_probe(void);
/* The published probe, or NULL while none finished. Never blocks: any
 * thread, actor turns included. */
const berth_criu_status_t *berth_criu_status(void);
/* The published probe as a JSON object's text, for Status' verbose info:
 * {"usable":..,"probed":..,"criu":..,"version":..,"reason":..}. Allocated
 * by jansson (berth's allocator in berthd). Never blocks: any thread. */
char *berth_criu_status_json(void);
/* berth_criu_probe on the pool, answering nobody (berthd's start). */
void berth_criu_probe_async(void);

/* Runs argv (argv[0] an absolute path) with stdin on /dev/null and stdout
 * and stderr both captured (at most 64 KiB kept, the rest read and dropped),
 * waiting at most timeout_ms (0: no limit; past it the child is killed and
 * this fails with BERTH_ERR_TIMEOUT). On return *output (owned) holds the
 * text and *wait_status the child's status. -1 with *err when it could not
 * be started or waited for. Blocks: pool or main. */
int berth_criu_run(const char *const *argv, unsigned timeout_ms, char **output, int *wait_status,
                   berth_err_t *err);

#endif
