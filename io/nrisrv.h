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
 * The server keeps the pods and containers its hooks have seen (created
 * through RunPodSandbox and CreateContainer, gone at their Remove) to tell
 * a new plugin at Synchronize, with what was restored from disk
 * (berth_nrisrv_restored), split over several requests past NRI's 4 MiB
 * message limit (berth_nrisrv_sync_split). A plugin's UpdateContainers
 * goes to the config's `updates` function (actors/nri_update.h applies
 * it) and is answered with the updates that failed.
 */
#ifndef BERTH_IO_NRISRV_H
#define BERTH_IO_NRISRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "engine/actor.h"
#include "engine/err.h"
#include "io/bytebuf.h"
#include "io/ttrpc.h"

enum {
    BERTH_MSG_NRISRV_START = 230, /* private */
    BERTH_MSG_NRISRV_STOP = 231,
    BERTH_MSG_NRISRV_GONE = 233,         /* private: connection -> server */
    BERTH_MSG_NRISRV_REG_TIMEOUT = 234,  /* private: the registration timeout */
    BERTH_MSG_NRISRV_CALL_TIMEOUT = 235, /* private: a call's request timeout */
    BERTH_MSG_NRISRV_HOOK = 236,         /* berth_nrisrv_hook_t: caller -> server */
    BERTH_MSG_NRISRV_HOOK_CALL = 237,    /* private: the hook on its way through the plugins */
    BERTH_MSG_NRISRV_SYNC_REQ = 238,     /* private: configured plugin -> server */
    BERTH_MSG_NRISRV_SYNC_DATA = 239,    /* private: the Synchronize request, server -> plugin */
    BERTH_MSG_NRISRV_TRACK = 240,        /* private: a pod or container now exists */
    BERTH_MSG_NRISRV_ADOPT = 241,        /* private: a pre-installed plugin's socket */
    BERTH_MSG_NRISRV_UPDATED = 242,      /* berth_nrisrv_updated_t: UpdateContainers applied */
    BERTH_MSG_NRISRV_RESTORED = 243,     /* private: a manager restored what it had */
};

/* NRI's event numbers (api.proto's Event); a plugin subscribes to event e
 * with bit 1 << (e - 1) of its Configure answer (0: all of them). */
enum berth_nri_event {
    BERTH_NRI_RUN_POD_SANDBOX = 1,
    BERTH_NRI_STOP_POD_SANDBOX = 2,
    BERTH_NRI_REMOVE_POD_SANDBOX = 3,
    BERTH_NRI_CREATE_CONTAINER = 4,
    BERTH_NRI_POST_CREATE_CONTAINER = 5,
    BERTH_NRI_START_CONTAINER = 6,
    BERTH_NRI_POST_START_CONTAINER = 7,
    BERTH_NRI_UPDATE_CONTAINER = 8,
    BERTH_NRI_POST_UPDATE_CONTAINER = 9,
    BERTH_NRI_STOP_CONTAINER = 10,
    BERTH_NRI_REMOVE_CONTAINER = 11,
    BERTH_NRI_UPDATE_POD_SANDBOX = 12,
    BERTH_NRI_POST_UPDATE_POD_SANDBOX = 13,
};

/* One plugin's answer to a hook. */
typedef struct berth_nrisrv_result {
    char *plugin;     /* "<index>-<name>", owned */
    uint8_t *payload; /* the plugin's packed response (CreateContainerResponse...), owned */
    size_t len;
} berth_nrisrv_result_t;

/* A hook: one plugin method called on every registered plugin subscribed
 * to `event`, one after the other in index order, then answered to
 * reply_to as a message of type reply_type (the same struct, taken by the
 * receiver: free it with berth_msg_free). A plugin that fails the call
 * stops the walk (error names it); one that times out or disconnects is
 * skipped (and disconnected). With NRI off the answer comes at once with
 * no results. */
typedef struct berth_nrisrv_hook {
    berth_msg_t hdr;
    const char *method; /* static: "CreateContainer" */
    int event;          /* enum berth_nri_event */
    uint8_t *payload;   /* the packed request, owned */
    size_t len;
    berth_handle_t reply_to;
    uint32_t reply_type;
    uint64_t tag; /* the caller's */
    /* the answer */
    berth_nrisrv_result_t *results;
    size_t nresults;
    berth_err_t error;
    /* private */
    berth_handle_t *route;
    size_t nroute, next;
    bool answered;
    struct berth_nrisrv_hook *qnext;
} berth_nrisrv_hook_t;

/* A hook for req (packed now), to send with berth_nrisrv_hook_send. */
berth_nrisrv_hook_t *berth_nrisrv_hook_new(const char *method, int event,
                                           const ProtobufCMessage *req, berth_handle_t reply_to,
                                           uint32_t reply_type, uint64_t tag);
/* Sends h (taken) to the running NRI server, or answers it at once when
 * there is none. Any thread. */
void berth_nrisrv_hook_send(berth_nrisrv_hook_t *h);
/* Whether an NRI server runs (enable_nri with connections). Any thread. */
bool berth_nrisrv_enabled(void);

/* The outcome of applying container updates (a plugin's UpdateContainers,
 * or the updates in a hook's answers: actors/nri_update.h). */
typedef struct berth_nrisrv_updated {
    berth_msg_t hdr;
    uint64_t tag;
    /* the failed updates and evictions as a packed UpdateContainersResponse
     * (owned): what a plugin's UpdateContainers is answered */
    uint8_t *failed;
    size_t failed_len;
    size_t nfailed;
    /* the first failure of an update that is not ignore_failure, or of an
     * eviction, naming the plugin and the container; NULL: none */
    berth_err_t error;
} berth_nrisrv_updated_t;

/* Frees a berth_nrisrv_updated_t (its hdr.free). */
void berth_nrisrv_updated_free(berth_msg_t *msg);

/* Applies a plugin's packed UpdateContainersRequest (borrowed) and answers
 * reply_to with a berth_nrisrv_updated_t of type reply_type carrying tag;
 * called in the plugin connection's turn. */
typedef void berth_nrisrv_updates_fn(const char *plugin, const uint8_t *req, size_t len,
                                     berth_handle_t reply_to, uint32_t reply_type, uint64_t tag);

/* One pod or container for Synchronize: a packed PodSandbox (field 1) or
 * Container (field 2), borrowed. */
typedef struct berth_nrisrv_item {
    uint32_t field;
    const uint8_t *p;
    size_t len;
} berth_nrisrv_item_t;

/* The room a Synchronize request's message has within a ttrpc message
 * (BERTH_TTRPC_MAX_MSG less the Request envelope: service, method,
 * timeout). */
#define BERTH_NRISRV_SYNC_MAX (BERTH_TTRPC_MAX_MSG - 4096)

/* Splits items into SynchronizeRequests of at most `limit` bytes each, in
 * order, every one but the last with `more` set (NRI v0.12: a plugin
 * collects them and answers each with `more`, then gets the whole set).
 * Returns how many, each an owned buffer in *chunks (free each and the
 * array); at least one (empty when n is 0). An item that cannot fit a
 * request alone is left out and counted in *skipped. Pure: any thread. */
size_t berth_nrisrv_sync_split(const berth_nrisrv_item_t *items, size_t n, size_t limit,
                               berth_bytebuf_t **chunks, size_t *skipped);

typedef struct berth_nrisrv_config {
    const char *socket_path; /* created with mode 0600; refused when live; NULL: no socket */
    /* pre-installed plugins: every executable <index>-<name> in plugin_dir
     * is started with a connected socket (NRI_PLUGIN_SOCKET=3) and told its
     * configuration, <index>-<name>.conf or <name>.conf in
     * plugin_config_dir, at Configure. NULL: none. */
    const char *plugin_dir;
    const char *plugin_config_dir;
    uint64_t registration_timeout_ns; /* connect to registered */
    uint64_t request_timeout_ns;      /* one call to its answer */
    const char *runtime_name;         /* told to plugins at Configure ("berth") */
    const char *runtime_version;
    /* applies UpdateContainers; NULL: answered UNIMPLEMENTED */
    berth_nrisrv_updates_fn *updates;
    /* the largest Synchronize request; 0: BERTH_NRISRV_SYNC_MAX (tests
     * set less to see the split) */
    size_t sync_max;
} berth_nrisrv_config_t;

/* Listens on cfg->socket_path (its directory is created), spawns the
 * server actor and starts the pre-installed plugins; *out is the server's
 * handle. cfg is copied. Main thread, after the engine started. -1 with
 * *err naming the socket when it cannot listen; a plugin that cannot be
 * started is logged and left out. */
int berth_nrisrv_start(const berth_nrisrv_config_t *cfg, berth_handle_t *out, berth_err_t *err);

/* Pods and containers restored from disk are shown to plugins at
 * Synchronize: the daemon reserves the server's handle before the pods and
 * containers managers read their records (main thread, before
 * berth_nrisrv_start, which then starts that handle); each restored pod or
 * container is told with berth_nrisrv_restored (a RunPodSandbox or
 * CreateContainer hook, taken; never routed to plugins), and each of the
 * two managers says berth_nrisrv_restore_done after its last. Plugins that
 * register before both said it wait for their Synchronize. All no-ops
 * without a reservation; any thread. */
void berth_nrisrv_reserve(void);
bool berth_nrisrv_tracking(void);
void berth_nrisrv_restored(berth_nrisrv_hook_t *h);
void berth_nrisrv_restore_done(void);

/* Stops accepting, removes the socket and disconnects every plugin; the
 * server exits when they are gone. Any thread. */
void berth_nrisrv_stop(berth_handle_t srv);

#endif
