/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small HTTP/1.1 server for berthd's own endpoints (/metrics, debug
 * pages): GET and HEAD on a fixed table of paths, over TCP and/or a unix
 * socket, on io_uring. One listener actor accepts; each client connection
 * is one actor that reads a request head (io/httpreq.h), calls the route's
 * handler, and sends the answer when the handler completes it, which may be
 * at once or seconds later from any thread (a blocking-pool job, a profile).
 *
 * What a client cannot do: make the server read more than max_head bytes of
 * a request head, hold a connection that sends no complete head for 10 s or
 * stays idle between requests for idle_timeout_ns, stop reading its answer
 * for more than 30 s and keep the connection, or open more than
 * max_connections at once (the next ones get a 503 and are closed). No
 * client ever blocks a worker: every socket operation is an io_uring op.
 *
 * Not served: methods other than GET and HEAD (405 with Allow, then close),
 * request bodies (a request announcing one is answered, then the connection
 * closes rather than skip it), paths not in the table (404).
 *
 * TLS (optional): the streaming server's io/streamtls.h on memory BIOs, so
 * the socket stays on io_uring; the certificate is reloaded when its files
 * change (new connections get the new one).
 */
#ifndef BERTH_IO_HTTPSRV_H
#define BERTH_IO_HTTPSRV_H

#include <stddef.h>
#include <stdint.h>

#include "engine/actor.h"
#include "engine/err.h"
#include "io/bytebuf.h"
#include "io/httpreq.h"

enum {
    BERTH_MSG_HTTPSRV_START = 210, /* private */
    BERTH_MSG_HTTPSRV_STOP = 211,
    BERTH_MSG_HTTPSRV_REPLY = 212,
    BERTH_MSG_HTTPSRV_TIMER = 213,
    BERTH_MSG_HTTPSRV_GONE = 214,
};

/* The answer to one request, to complete exactly once (see below). Owns the
 * request it answers. */
typedef struct berth_httpsrv_reply berth_httpsrv_reply_t;

/* A route's handler. Runs in the connection actor's turn, so it must not
 * block: do the work inline if it is quick, or hand `reply` (taken) to
 * whatever does it (a message to an actor, a blocking-pool job) and return.
 * `req` is the parsed head: method ("GET" or "HEAD", the handler need not
 * care which: the server drops the body of a HEAD answer), path (as sent,
 * not percent-decoded, without the query), headers and the query
 * (berth_http_req_param). It belongs to the reply and stays valid until the
 * reply is completed. `arg` is the route's. */
typedef void (*berth_httpsrv_handler_fn)(const berth_http_req_t *req, berth_httpsrv_reply_t *reply,
                                         void *arg);

typedef struct berth_httpsrv_route {
    const char *path; /* exact match against the request's path ("/metrics") */
    berth_httpsrv_handler_fn fn;
    void *arg; /* borrowed: must live as long as the server */
} berth_httpsrv_route_t;

typedef struct berth_httpsrv_config {
    const char *name; /* for logs ("metrics"); NULL: "http" */
    /* TCP: host (an IPv4 or IPv6 literal) and port (0: ephemeral). port < 0
     * or host NULL or "": no TCP listener. */
    const char *host;
    int port;
    /* unix socket path (NULL or "": none), created with socket_mode (0: 0660);
     * refused when a live server answers on it, a stale file is replaced */
    const char *socket_path;
    unsigned socket_mode;
    /* copied at the start (paths included); at least one route */
    const berth_httpsrv_route_t *routes;
    size_t nroutes;
    unsigned max_connections; /* 0: 64 */
    size_t max_head;          /* request head bytes; 0: 8 KiB */
    uint64_t idle_timeout_ns; /* keep-alive connection with no request; 0: 60 s */
    /* taken, even when the start fails: TLS on every connection (TCP and
     * unix), from berth_stls_server_new_named; NULL: plain HTTP */
    struct berth_stls_server *tls;
} berth_httpsrv_config_t;

typedef struct berth_httpsrv {
    berth_handle_t actor; /* the listener */
    int port;             /* the TCP port bound (the ephemeral one for 0); -1: none */
} berth_httpsrv_t;

/* Binds the listeners (synchronously, so a bad address, a taken port or a
 * live socket fails here with an error naming it) and starts the listener
 * actor. Needs at least one of TCP and unix. Returns 0 with *out, or -1
 * with *err. Main thread, before or after the engine starts. */
int berth_httpsrv_start(const berth_httpsrv_config_t *cfg, berth_httpsrv_t *out, berth_err_t *err);

/* Stops accepting, removes the unix socket file (if it is still ours) and
 * closes every connection; a reply completed later is dropped. Asynchronous;
 * any thread. */
void berth_httpsrv_stop(const berth_httpsrv_t *srv);

/* Completing a reply: exactly one of berth_httpsrv_reply and
 * berth_httpsrv_reply_take, exactly once, from any thread (an actor turn, a
 * pool job, the handler itself). Afterwards `reply` and its request are gone:
 * the connection owns them, or they are freed when the connection is gone
 * already. content_type NULL: "text/plain; charset=utf-8". status is any
 * HTTP status with a known reason (berth_http_reason), e.g. 200, 400, 500,
 * 503. */

/* Copies body (len bytes; NULL when len is 0). */
void berth_httpsrv_reply(berth_httpsrv_reply_t *reply, int status, const char *content_type,
                         const void *body, size_t len);
/* Takes body's storage (no copy: for large answers built in a bytebuf) and
 * leaves *body empty; the answer is its pending bytes (data + off ..). */
void berth_httpsrv_reply_take(berth_httpsrv_reply_t *reply, int status, const char *content_type,
                              berth_bytebuf_t *body);
/* Adds a response header (copied; CR and LF become spaces) before the reply
 * is completed, on the thread that completes it. Content-Length,
 * Content-Type and Connection are the server's. */
void berth_httpsrv_reply_header(berth_httpsrv_reply_t *reply, const char *name, const char *value);

#endif
