/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC over HTTP/2 on a unix socket, server side. The listener actor accepts
 * connections (multishot accept) and spawns one connection actor per client;
 * the connection actor drives nghttp2 (mem_recv2/mem_send2) with io_uring
 * recv/send and turns each complete request into a message to the dispatcher.
 *
 * A call is one HTTP/2 stream. Whoever owns a call answers it with the reply
 * functions below (from any actor turn; they mail the connection actor, so
 * they never block and never fail: if the connection is gone the answer is
 * dropped). When the client resets the stream, the connection closes, or the
 * request's grpc-timeout passes, the connection actor mails a
 * berth_grpc_cancel_msg_t to the call's current owner and, for a deadline,
 * answers DEADLINE_EXCEEDED itself if nothing was answered yet.
 */
#ifndef BERTH_IO_GRPC_H
#define BERTH_IO_GRPC_H

#include <stddef.h>
#include <stdint.h>

#include "engine/actor.h"
#include "engine/err.h"

/* gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html):
 * the wire's vocabulary. Errors inside berth carry an enum berth_err_kind
 * instead; the table in actors/crierr.c turns one into the other. */
enum berth_grpc_code {
    BERTH_GRPC_OK = 0,
    BERTH_GRPC_CANCELLED = 1,
    BERTH_GRPC_UNKNOWN = 2,
    BERTH_GRPC_INVALID_ARGUMENT = 3,
    BERTH_GRPC_DEADLINE_EXCEEDED = 4,
    BERTH_GRPC_NOT_FOUND = 5,
    BERTH_GRPC_ALREADY_EXISTS = 6,
    BERTH_GRPC_PERMISSION_DENIED = 7,
    BERTH_GRPC_RESOURCE_EXHAUSTED = 8,
    BERTH_GRPC_FAILED_PRECONDITION = 9,
    BERTH_GRPC_ABORTED = 10,
    BERTH_GRPC_OUT_OF_RANGE = 11,
    BERTH_GRPC_UNIMPLEMENTED = 12,
    BERTH_GRPC_INTERNAL = 13,
    BERTH_GRPC_UNAVAILABLE = 14,
    BERTH_GRPC_DATA_LOSS = 15,
    BERTH_GRPC_UNAUTHENTICATED = 16,
};

/* "NOT_FOUND"; "UNKNOWN" for a value out of range. Pure: any thread. */
const char *berth_grpc_code_name(int code);

enum {
    BERTH_MSG_GRPC_REQUEST = 16, /* berth_grpc_request_msg_t, to the dispatcher */
    BERTH_MSG_GRPC_CANCEL = 17,  /* berth_grpc_cancel_msg_t, to the call's owner */
};

/* A call: reference counted, shared by the connection actor and the owner.
 * Its fields are immutable after creation except the owner (atomic). */
typedef struct berth_grpc_call berth_grpc_call_t;

typedef struct berth_grpc_request_msg {
    berth_msg_t hdr;
    berth_grpc_call_t *call; /* one reference, dropped when the message is freed */
    const char *method;      /* "/runtime.v1.RuntimeService/Version"; owned by call */
    uint8_t *body;           /* the decoded-from-frame protobuf bytes; owned by the msg */
    size_t len;
    uint64_t deadline_ns; /* berth_now_ns() clock; 0: no deadline */
} berth_grpc_request_msg_t;

enum berth_grpc_cancel_reason {
    BERTH_GRPC_CANCEL_RESET = 1,    /* RST_STREAM from the client */
    BERTH_GRPC_CANCEL_DEADLINE = 2, /* grpc-timeout passed */
    BERTH_GRPC_CANCEL_CLOSED = 3,   /* connection closed */
    BERTH_GRPC_CANCEL_SHUTDOWN = 4, /* daemon shutting down */
    /* A streaming reply's unsent output passed max_stream_queued (the client
     * does not read): the server reset the stream (RST_STREAM
     * ENHANCE_YOUR_CALM, which gRPC clients report as RESOURCE_EXHAUSTED). */
    BERTH_GRPC_CANCEL_OVERFLOW = 5,
};

typedef struct berth_grpc_cancel_msg {
    berth_msg_t hdr;
    berth_grpc_call_t *call; /* one reference, dropped when the message is freed */
    int reason;              /* enum berth_grpc_cancel_reason */
} berth_grpc_cancel_msg_t;

/* What one client can make the server hold. Request bytes are counted while
 * a message is being received (a body grows with what arrives, never to the
 * size its prefix announces); a stream that would pass a cap is answered
 * RESOURCE_EXHAUSTED and its bytes are freed. */
typedef struct berth_grpc_limits {
    size_t max_msg_size;       /* receive and send limit; 0: 16 MiB */
    size_t max_conn_buffered;  /* partial request bytes on one connection; 0: 64 MiB */
    size_t max_total_buffered; /* the same over every connection; 0: 256 MiB */
    size_t max_connections;    /* open client connections; 0: 1024 */
    unsigned max_streams;      /* concurrent streams per connection; 0: 1000 */
    size_t max_stream_queued;  /* unsent reply bytes on one stream; 0: 4 MiB */
} berth_grpc_limits_t;

#define BERTH_GRPC_DEFAULT_CONN_BUFFERED (64u << 20)
#define BERTH_GRPC_DEFAULT_TOTAL_BUFFERED (256u << 20)
#define BERTH_GRPC_DEFAULT_MAX_CONNECTIONS 1024u
#define BERTH_GRPC_DEFAULT_STREAM_QUEUED (4u << 20)

typedef struct berth_grpc_server_config {
    const char *path;           /* unix socket path */
    unsigned mode;              /* socket file mode, e.g. 0660 */
    berth_grpc_limits_t limits; /* zero fields take the defaults */
    berth_handle_t dispatch;    /* receives BERTH_MSG_GRPC_REQUEST */
} berth_grpc_server_config_t;

/* Partial request bytes held over every connection now (relaxed: for
 * reports and tests). Any thread. */
size_t berth_grpc_buffered_total(void);

/* Binds and listens (refusing when another live server answers on the path;
 * a stale socket file is replaced) and spawns the listener actor. Main thread
 * or actor turn. */
int berth_grpc_server_start(const berth_grpc_server_config_t *cfg, berth_handle_t *listener,
                            berth_err_t *err);
/* Stops accepting, unlinks the socket, cancels in-flight calls with
 * BERTH_GRPC_CANCEL_SHUTDOWN and closes connections once their calls are
 * answered or `grace_ns` passed; then sends `done` (taken) to `notify`. */
void berth_grpc_server_stop(berth_handle_t listener, uint64_t grace_ns, berth_handle_t notify,
                            berth_msg_t *done);

/* ---- calls ----------------------------------------------------------- */

/* Every function below accepts a NULL call: berth's actors send themselves
 * internal CRI requests (the pause image a pod needs, say) with no client
 * behind them, and their answers are then dropped. */

void berth_grpc_call_ref(berth_grpc_call_t *call);
void berth_grpc_call_unref(berth_grpc_call_t *call);
const char *berth_grpc_call_method(const berth_grpc_call_t *call);
uint64_t berth_grpc_call_deadline(const berth_grpc_call_t *call);
/* Cancellation and deadline messages go to `owner` from now on. */
void berth_grpc_call_set_owner(berth_grpc_call_t *call, berth_handle_t owner);

/* What a call counts into when its final status is posted (engine/metrics.h
 * series; docs/observability.md). The dispatcher, which knows the method,
 * attaches one per method; a call without stats counts nothing. */
typedef struct berth_grpc_stats {
    const char *operation;               /* the label value ("RunPodSandbox"), kept */
    struct berth_metric *total;          /* calls answered */
    struct berth_metric *errors;         /* answered with a status other than OK */
    struct berth_metric *latency_last;   /* gauge: the last call's latency (ns) */
    struct berth_metric *latency;        /* histogram (ns) */
    struct berth_metric_family *by_code; /* counter {operation, code} */
    struct berth_metric *code[17];       /* by_code's series, made at a code's first error */
} berth_grpc_stats_t;

/* Attaches stats (kept: they live for the process) to the call. Any
 * thread; the call's final status counts into them from then on. */
void berth_grpc_call_set_stats(berth_grpc_call_t *call, berth_grpc_stats_t *stats);

/* Unary success: one message (copied) then status OK. */
void berth_grpc_reply(berth_grpc_call_t *call, const void *pb, size_t len);
/* The same with pb taken (a berth_malloc'd buffer, freed here even when the
 * call is NULL or gone): a large answer is not copied once more. */
void berth_grpc_reply_take(berth_grpc_call_t *call, void *pb, size_t len);

/* A call with no client whose answers come back to the actor `reply_to`,
 * one message per reply op (berth_grpc_out_final reads the last), tagged
 * with `tag`: how an actor sends an internal CRI request and learns its
 * outcome (the NRI updates of other containers). One reference, returned;
 * the request message takes it. Any thread. */
berth_grpc_call_t *berth_grpc_call_local(berth_handle_t reply_to, int32_t tag, const char *method);
/* Whether msg is the final answer of a local call: then *tag, *code (a
 * BERTH_GRPC_* status) and *text (borrowed from msg, "" for none) are set.
 * false for any other message, including a local call's non-final ones. */
bool berth_grpc_out_final(const berth_msg_t *msg, int32_t *tag, int *code, const char **text);
/* Server streaming: one message (copied); status later with berth_grpc_finish.
 * The call may stay open indefinitely (an event stream): a message that
 * would leave more than max_stream_queued bytes unsent on the stream resets
 * it instead and the owner gets BERTH_GRPC_CANCEL_OVERFLOW, so a client that
 * stops reading costs a bounded amount of memory. */
void berth_grpc_send(berth_grpc_call_t *call, const void *pb, size_t len);
/* Ends the call with a status and message (copied; may be NULL). */
void berth_grpc_finish(berth_grpc_call_t *call, int code, const char *msg);
/* The status an answer carries is the caller's choice: io/ sends the codes
 * of the wire's own rules (a frame over its limit, a grpc-timeout, shutdown)
 * and actors/crierr.c maps an error's kind to a code (berth_cri_code). */

/* Parses a grpc-timeout header value ("10S", "250m", ...) into ns; -1 when
 * malformed (exposed for tests). */
int64_t berth_grpc_parse_timeout(const char *v, size_t len);

#endif
