/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the streaming server's listener (io/streamsrv.c) and its
 * connections (io/streamconn.c). */
#ifndef BERTH_IO_STREAM_INTERNAL_H
#define BERTH_IO_STREAM_INTERNAL_H

#include "io/stream.h"

#define STREAM_TOKEN_LEN 24

typedef struct stream_register_msg {
    berth_msg_t hdr;
    char token[STREAM_TOKEN_LEN + 1];
    berth_stream_req_t *req; /* owned */
} stream_register_msg_t;

/* A connection presents the token of its URL, under the URL's kind. */
typedef struct stream_take_msg {
    berth_msg_t hdr;
    berth_handle_t conn;
    char kind[16];
    char token[STREAM_TOKEN_LEN + 1];
} stream_take_msg_t;

/* req is NULL when the token is unknown, used, expired or not of that kind. */
typedef struct stream_taken_msg {
    berth_msg_t hdr;
    berth_stream_req_t *req; /* owned */
    bool expired;
} stream_taken_msg_t;

typedef struct stream_gone_msg {
    berth_msg_t hdr;
    berth_handle_t conn;
} stream_gone_msg_t;

struct berth_stls;

/* A connection actor for accepted socket fd (taken); cfg is copied; tls
 * (taken) is the connection's TLS, or NULL for plain HTTP. */
berth_handle_t stream_conn_spawn(int fd, const berth_stream_config_t *cfg, berth_handle_t server,
                                 uint64_t serial, struct berth_stls *tls);

#endif
