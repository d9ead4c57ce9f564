/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NRI server (docs/nri.md): a listener actor on nri_listen and one
 * actor per plugin connection, on io_uring. A connection speaks NRI's
 * multiplexer (io/nrimux.h) and ttrpc (io/ttrpc.h): the plugin calls
 * RegisterPlugin (name and two-digit index), then berth calls its Configure
 * (which events it wants) and Synchronize (the pods and containers there
 * are); after that the plugin is registered and kept in index order.
 *
 * What a plugin cannot do: stay connected without registering for longer
 * than the registration timeout, leave a call unanswered for longer than
 * the request timeout (it is disconnected at once; nothing else waits for
 * it), send a frame or message over NRI's own 4 MiB limits, or make berth
 * block: every socket operation is an io_uring op.
 *
 * Not done yet: the pod and container hooks, adjustments, pre-installed
 * plugins, UpdateContainers (answered UNIMPLEMENTED). Synchronize sends
 * no pods or containers yet.
 */
#ifndef BERTH_IO_NRISRV_H
#define BERTH_IO_NRISRV_H

#include <stdint.h>

#include "engine/actor.h"
#include "engine/err.h"

enum {
    BERTH_MSG_NRISRV_START = 230, /* private */
    BERTH_MSG_NRISRV_STOP = 231,
    BERTH_MSG_NRISRV_REGISTERED = 232,   /* private: connection -> server */
    BERTH_MSG_NRISRV_GONE = 233,         /* private: connection -> server */
    BERTH_MSG_NRISRV_REG_TIMEOUT = 234,  /* private: the registration timeout */
    BERTH_MSG_NRISRV_CALL_TIMEOUT = 235, /* private: a call's request timeout */
};

typedef struct berth_nrisrv_config {
    const char *socket_path;          /* created with mode 0600; refused when live */
    uint64_t registration_timeout_ns; /* connect to registered */
    uint64_t request_timeout_ns;      /* one call to its answer */
    const char *runtime_name;         /* told to plugins at Configure ("berth") */
    const char *runtime_version;
} berth_nrisrv_config_t;

/* Listens on cfg->socket_path (its directory is created) and spawns the
 * server actor; *out is its handle. cfg is copied. Main thread, before or
 * after the engine starts. -1 with *err naming the socket when it cannot
 * listen. */
int berth_nrisrv_start(const berth_nrisrv_config_t *cfg, berth_handle_t *out, berth_err_t *err);

/* Stops accepting, removes the socket and disconnects every plugin; the
 * server exits when they are gone. Any thread. */
void berth_nrisrv_stop(berth_handle_t srv);

#endif
