/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berthd's life: prepares the directories and the run lock, starts the engine,
 * the blocking pool and the root actors (network status, CRI service, gRPC
 * listener, signals), serves until SIGTERM or SIGINT, then stops accepting,
 * lets in-flight requests finish or cancels them, removes the socket and
 * returns. Runs on the main thread, which only waits once the engine runs.
 */
#ifndef BERTH_ACTORS_DAEMON_H
#define BERTH_ACTORS_DAEMON_H

#include "conf/config.h"
#include "engine/err.h"

/* Serves with the given configuration until a stop signal. Returns 0 after a
 * clean stop, or -1 with *err when the daemon could not start. */
int berth_daemon_run(berth_config_t *cfg, berth_err_t *err);

#endif
