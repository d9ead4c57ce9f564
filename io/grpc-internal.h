/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to io/grpc.c, io/h2conn.c and io/listener.c: the HTTP/2 + gRPC
 * session core (engine-independent: bytes in, bytes out, callbacks for
 * complete requests and closed streams), the call object, and the messages
 * the listener and connection actors exchange. No other folder includes this.
 */
#ifndef BERTH_IO_GRPC_INTERNAL_H
#define BERTH_IO_GRPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/actor.h"
#include "engine/refcount.h"
#include "io/grpc.h"

#define BERTH_GRPC_DEFAULT_MAX_MSG (16u * 1024 * 1024)

/* ---- session core (h2conn.c) ----------------------------------------- */

typedef struct berth_h2 berth_h2_t;

typedef struct berth_h2_callbacks {
    /* A complete, valid request on stream_id. body (taken; NULL when len is
     * 0) is the one request message. timeout_ns is the grpc-timeout, -1 when
     * absent. Returns the pointer handed back in on_close (may be NULL). */
    void *(*on_request)(void *ctx, int32_t stream_id, const char *method, uint8_t *body, size_t len,
                        int64_t timeout_ns);
    /* A stream that on_request saw is closed. finished: the final status
     * was submitted before the close; error_code: the HTTP/2 code
     * (NGHTTP2_NO_ERROR unless the stream was reset). */
    void (*on_close)(void *ctx, int32_t stream_id, void *user, bool finished, uint32_t error_code);
} berth_h2_callbacks_t;

/* A server session; cb and limits are copied; limits NULL or zero fields
 * mean the defaults. */
berth_h2_t *berth_h2_new(const berth_h2_callbacks_t *cb, void *ctx,
                         const berth_grpc_limits_t *limits);
/* Frees the session without calling on_close. NULL-safe. */
void berth_h2_free(berth_h2_t *h);
/* Feeds received bytes. < 0 on a fatal session error (garbage, protocol
 * violation): the caller sends what is pending (a GOAWAY) and closes. */
int berth_h2_recv(berth_h2_t *h, const uint8_t *data, size_t len);
/* Next chunk of bytes to send, valid until the next call into the session;
 * 0 when nothing is pending, < 0 on a fatal session error. */
ssize_t berth_h2_pull(berth_h2_t *h, const uint8_t **data);
/* Whether the session still wants to read or write; when neither, the
 * connection is finished. */
bool berth_h2_want_io(berth_h2_t *h);
/* Queues one length-prefixed message on stream_id (copied). A message over
 * the limit finishes the stream with RESOURCE_EXHAUSTED instead and returns 1.
 * One that would leave more than max_stream_queued bytes unsent resets the
 * stream (ENHANCE_YOUR_CALM) and returns 2. Returns 0 when queued, -1 when
 * the stream is gone or already finished. */
int berth_h2_send_msg(berth_h2_t *h, int32_t stream_id, const void *pb, size_t len);
/* The same with pb taken (berth_malloc'd; freed here in every case): sent
 * from pb itself when nothing is queued before it on the stream, so a large
 * answer is not copied into the stream's buffer. */
int berth_h2_send_msg_take(berth_h2_t *h, int32_t stream_id, uint8_t *pb, size_t len);
/* Queues the final status (trailers, or a trailers-only response when no
 * message was sent). msg may be NULL. Returns -1 when the stream is gone or
 * already finished. */
int berth_h2_finish(berth_h2_t *h, int32_t stream_id, int code, const char *msg);
/* Submits a graceful GOAWAY: no new streams, open ones run to the end. */
void berth_h2_goaway(berth_h2_t *h);
/* Number of open streams (for tests and draining). */
size_t berth_h2_open_streams(berth_h2_t *h);

/* Percent-encodes a grpc-message value per the gRPC spec; returns owned. */
char *berth_grpc_percent_encode(const char *s);

/* ---- calls and actor messages (grpc.c, listener.c) ------------------- */

enum {
    BERTH_MSG_GRPC_OUT = 18,       /* grpc_out_msg_t: reply op, to a connection */
    BERTH_MSG_GRPC_TIMER = 19,     /* grpc_timer_msg_t: a call's deadline */
    BERTH_MSG_GRPC_START = 20,     /* to a new listener or connection actor */
    BERTH_MSG_GRPC_STOP = 21,      /* grpc_stop_msg_t: to the listener */
    BERTH_MSG_GRPC_SHUTDOWN = 22,  /* grpc_shutdown_msg_t: listener to connection */
    BERTH_MSG_GRPC_CONN_GONE = 23, /* grpc_gone_msg_t: connection to listener */
    BERTH_MSG_GRPC_GRACE = 24,     /* connection's own grace timer */
};

struct berth_grpc_call {
    /* Refcount: conn's list, request and cancel messages, reply messages. */
    berth_ref_t refs;
    berth_handle_t conn;
    int32_t stream_id;
    char *method;
    uint64_t deadline_ns;
    uint64_t owner;            /* handle value, atomic (see berth_grpc_call_set_owner) */
    uint64_t started_ns;       /* when the request arrived, for the "rpc" histograms */
    berth_grpc_stats_t *stats; /* atomic: set by the dispatcher, read at the finish */

    /* Touched only in the connection actor's turns. */
    struct berth_grpc_call *prev, *next;
    berth_timer_t *timer;
    bool closed;    /* stream gone: further replies are dropped */
    bool finished;  /* final status submitted */
    bool cancelled; /* a cancel message was sent already */
};

berth_grpc_call_t *berth_grpc_call_new(berth_handle_t conn, int32_t stream_id, const char *method,
                                       uint64_t deadline_ns, berth_handle_t owner);
/* Mails a cancel message (one new reference) to the call's owner. */
void berth_grpc_call_send_cancel(berth_grpc_call_t *call, int reason);

enum { GRPC_OUT_MSG = 1, GRPC_OUT_FINISH = 2 };

typedef struct grpc_out_msg {
    berth_msg_t hdr;
    berth_grpc_call_t *call; /* one reference */
    unsigned what;           /* GRPC_OUT_MSG | GRPC_OUT_FINISH */
    uint8_t *data;
    size_t len;
    int code;
    char *text;
} grpc_out_msg_t;

typedef struct grpc_shutdown_msg {
    berth_msg_t hdr;
    uint64_t grace_ns;
} grpc_shutdown_msg_t;

typedef struct grpc_gone_msg {
    berth_msg_t hdr;
    berth_handle_t conn;
} grpc_gone_msg_t;

/* Spawns a connection actor on an accepted fd (taken) and starts it.
 * listener gets BERTH_MSG_GRPC_CONN_GONE when it ends. */
berth_handle_t berth_grpc_conn_spawn(int fd, const berth_grpc_limits_t *limits,
                                     berth_handle_t listener, berth_handle_t dispatch);

#endif
