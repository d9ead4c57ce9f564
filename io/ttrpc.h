/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttrpc's wire codec (github.com/containerd/ttrpc, the RPC that NRI plugins
 * speak): the 10-byte message header (length, stream id, type, flags, all
 * big-endian), and the Request and Response envelopes, which are small
 * protobuf messages encoded and decoded here by hand so the codec needs no
 * generated code. Pure functions on caller buffers: any thread, no engine.
 * Decoded strings and payloads are views into the caller's buffer, valid as
 * long as it is; the codec never allocates for a peer's sizes beyond what
 * it checked against BERTH_TTRPC_MAX_MSG.
 */
#ifndef BERTH_IO_TTRPC_H
#define BERTH_IO_TTRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/err.h"
#include "io/bytebuf.h"

#define BERTH_TTRPC_HEADER_LEN 10
/* ttrpc refuses a message body over 4 MiB; so does berth. */
#define BERTH_TTRPC_MAX_MSG (4u << 20)

enum berth_ttrpc_type {
    BERTH_TTRPC_REQUEST = 1,
    BERTH_TTRPC_RESPONSE = 2,
    BERTH_TTRPC_DATA = 3,
};

/* Flags of streaming messages; unary calls send none. */
enum berth_ttrpc_flag {
    BERTH_TTRPC_FLAG_REMOTE_CLOSED = 0x1,
    BERTH_TTRPC_FLAG_REMOTE_OPEN = 0x2,
    BERTH_TTRPC_FLAG_NO_DATA = 0x4,
};

typedef struct berth_ttrpc_hdr {
    uint32_t length; /* body bytes after the header */
    uint32_t stream_id;
    uint8_t type; /* enum berth_ttrpc_type */
    uint8_t flags;
} berth_ttrpc_hdr_t;

/* A whole message as parsed: the header and a view of its body. */
typedef struct berth_ttrpc_msg {
    berth_ttrpc_hdr_t hdr;
    const uint8_t *body;
} berth_ttrpc_msg_t;

/* A byte string view into a decoded buffer (not NUL-terminated). */
typedef struct berth_ttrpc_str {
    const uint8_t *p;
    size_t len;
} berth_ttrpc_str_t;

typedef struct berth_ttrpc_request {
    berth_ttrpc_str_t service; /* "nri.pkg.api.v1alpha1.Plugin" */
    berth_ttrpc_str_t method;  /* "Configure" */
    berth_ttrpc_str_t payload; /* the method's protobuf request */
    int64_t timeout_nano;      /* 0: none given */
} berth_ttrpc_request_t;

typedef struct berth_ttrpc_response {
    int32_t code;              /* google.rpc.Code; 0 is OK */
    berth_ttrpc_str_t message; /* the error text when code != 0 */
    berth_ttrpc_str_t payload; /* the method's protobuf response */
} berth_ttrpc_response_t;

void berth_ttrpc_hdr_put(uint8_t out[BERTH_TTRPC_HEADER_LEN], const berth_ttrpc_hdr_t *h);
void berth_ttrpc_hdr_get(const uint8_t in[BERTH_TTRPC_HEADER_LEN], berth_ttrpc_hdr_t *h);

/* Parses one message from the front of buf: returns the bytes it takes
 * (header and body) and fills *msg, 0 when buf holds no whole message yet,
 * or -1 with *err (EXHAUSTED) when the header announces a body over
 * BERTH_TTRPC_MAX_MSG, after which the stream cannot be resynchronised. */
ssize_t berth_ttrpc_parse(const uint8_t *buf, size_t len, berth_ttrpc_msg_t *msg, berth_err_t *err);

/* Appends a REQUEST message on stream_id to out. service and method are
 * NUL-terminated; payload may be NULL when plen is 0. timeout_nano 0 sends
 * none. Returns -1 with *err (EXHAUSTED) when the body would exceed
 * BERTH_TTRPC_MAX_MSG; out is unchanged then. */
int berth_ttrpc_request_encode(berth_bytebuf_t *out, uint32_t stream_id, const char *service,
                               const char *method, const uint8_t *payload, size_t plen,
                               int64_t timeout_nano, berth_err_t *err);

/* Appends a RESPONSE message on stream_id: code 0 with payload, or a
 * google.rpc.Code and message (NUL-terminated, may be NULL). Same limit
 * and error as berth_ttrpc_request_encode. */
int berth_ttrpc_response_encode(berth_bytebuf_t *out, uint32_t stream_id, int32_t code,
                                const char *message, const uint8_t *payload, size_t plen,
                                berth_err_t *err);

/* Decode a Request or Response body (a parsed message's body). Unknown
 * fields are skipped; metadata is ignored. -1 with *err (INVALID) on
 * malformed protobuf. */
int berth_ttrpc_request_decode(const uint8_t *body, size_t len, berth_ttrpc_request_t *req,
                               berth_err_t *err);
int berth_ttrpc_response_decode(const uint8_t *body, size_t len, berth_ttrpc_response_t *resp,
                                berth_err_t *err);

/* True when the view equals the NUL-terminated s. */
bool berth_ttrpc_str_eq(berth_ttrpc_str_t v, const char *s);

#endif
