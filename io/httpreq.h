/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 request heads and responses for the streaming server (Exec,
 * Attach, PortForward upgrade to SPDY/3.1 or WebSocket): a parser that takes
 * the bytes received so far and says "complete", "need more" or "answer
 * with this status", and writers that append responses to a berth_bytebuf_t.
 * Pure codec: no I/O, no actors, no globals; any thread.
 *
 * Only the head is parsed. A body (Content-Length, Transfer-Encoding) is the
 * caller's business; the streaming server has none to read (the upgrade
 * requests are GET and POST without a body) and should close the connection
 * after a non-101 answer rather than skip one.
 *
 * Strict where leniency has no user: lines end in CRLF (a bare CR or LF is a
 * 400), no whitespace before a header's colon, no obs-fold, no control
 * characters but HTAB in values, exactly one Host for HTTP/1.1. Lenient where
 * RFC 9112 asks it: empty lines before the request line are skipped, empty
 * elements of comma lists are ignored, any HTTP/1.x is served as 1.1.
 */
#ifndef BERTH_IO_HTTPREQ_H
#define BERTH_IO_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "engine/err.h"
#include "io/bytebuf.h"

#define BERTH_HTTP_MAX_HEAD_DEFAULT (16 * 1024)
#define BERTH_HTTP_MAX_HEADERS_DEFAULT 100
#define BERTH_HTTP_MAX_TARGET_DEFAULT (8 * 1024)

typedef struct berth_http_header {
    const char *name;  /* as received (case kept), NUL-terminated */
    const char *value; /* leading and trailing whitespace trimmed, NUL-terminated */
    size_t value_len;
} berth_http_header_t;

/* One query parameter, percent-decoded ('+' is a space, as in forms). */
typedef struct berth_http_param {
    const char *key;
    const char *value; /* "" for "key" or "key=" */
    size_t value_len;
} berth_http_param_t;

/* A parsed request head. Self-contained: every string lives in storage the
 * request owns, so the caller may drop the received bytes at once. */
typedef struct berth_http_req {
    const char *method; /* "GET", "POST", ... (case-sensitive, as sent) */
    const char *target; /* the request-target as sent */
    const char *path;   /* target up to '?', not percent-decoded; "/" for
                         * "http://host" */
    int version_minor;  /* HTTP/1.<minor> */
    berth_http_header_t *headers;
    size_t nheaders;
    berth_http_param_t *params; /* the query, in order; pairs with a bad escape
                                 * (or %00) are dropped, like Go's URL.Query() */
    size_t nparams;
    char *mem; /* owned storage behind the strings above */
} berth_http_req_t;

/* Parser state across calls for one request. Zero it (or set the limits and
 * zero the rest) before the first call; zero limits mean the defaults. */
typedef struct berth_http_parser {
    size_t max_head;    /* bytes through the final CRLFCRLF: 431 above */
    size_t max_headers; /* header lines: 431 above */
    size_t max_target;  /* request-target bytes: 414 above */
    /* private: where the scan stopped and what it saw */
    size_t scanned;    /* bytes already scanned for the end of the head */
    size_t line_start; /* offset of the line being scanned */
    size_t head_start; /* offset of the request line (after empty lines) */
    size_t sp1, sp2;   /* 1 + offsets of the request line's spaces, 0: none yet */
    size_t nlines;     /* header lines so far */
    bool reqline_done;
    int status; /* after -1: the HTTP status to answer */
} berth_http_parser_t;

/* Parses one request head from the `len` bytes at `buf` (everything
 * received so far on the connection; the same prefix again on the next
 * call, with more bytes after it). Returns the bytes the head used
 * (through its CRLFCRLF, empty lines before it included) with *req filled
 * (owned: berth_http_req_fini), 0 when the head is not complete yet, or -1
 * with *err (INVALID; EXHAUSTED for a limit) and the status to answer in
 * berth_http_parser_status(): 400 malformed, 414 target too long, 431 head
 * too large or too many headers, 505 not HTTP/1.x. Limits are checked as
 * soon as they are exceeded, before the head completes. Rescans nothing:
 * feeding a head a byte at a time costs O(head). After a success the
 * parser is ready for the next request on the connection (limits kept);
 * after -1 it is spent. Any thread. */
ssize_t berth_http_parse(berth_http_parser_t *p, const void *buf, size_t len, berth_http_req_t *req,
                         berth_err_t *err);
static inline int berth_http_parser_status(const berth_http_parser_t *p)
{
    return p->status;
}
void berth_http_req_fini(berth_http_req_t *req);

/* The first value of header `name` (ASCII case-insensitive), or NULL. */
const char *berth_http_req_header(const berth_http_req_t *req, const char *name);
/* How many times header `name` appears. */
size_t berth_http_req_header_count(const berth_http_req_t *req, const char *name);

/* Iterates the comma-separated elements of every instance of a header, in
 * order, trimmed of whitespace, empty elements skipped (RFC 9110 §5.6.1).
 * For token lists (Connection, Upgrade, Sec-WebSocket-Protocol,
 * X-Stream-Protocol-Version); a quoted string with a comma inside is split.
 *
 *     berth_http_iter_t it = {0};
 *     const char *tok; size_t n;
 *     while (berth_http_req_tokens(req, "Connection", &it, &tok, &n)) ...
 *
 * Each element is (tok, n), not NUL-terminated. */
typedef struct berth_http_iter {
    size_t idx;      /* header or parameter index */
    const char *pos; /* inside its value; NULL: start of idx */
} berth_http_iter_t;
bool berth_http_req_tokens(const berth_http_req_t *req, const char *name, berth_http_iter_t *it,
                           const char **tok, size_t *len);
/* Whether header `name` lists `token` (both compared ASCII case-insensitive),
 * e.g. ("Connection", "upgrade") for "keep-alive, Upgrade". */
bool berth_http_req_has_token(const berth_http_req_t *req, const char *name, const char *token);

/* The first value of query parameter `key` (case-sensitive), or NULL. */
const char *berth_http_req_param(const berth_http_req_t *req, const char *key);
/* Iterates every value of query parameter `key`: with split_commas, each
 * comma-separated element of each (so "ports=80&ports=8080" and
 * "ports=80,8080" both give "80", "8080"; empty elements are kept, so the
 * caller sees "ports=" and "ports=80,"); without, each value whole (for
 * "command=echo&command=a,b"). Use a zeroed iterator; values are
 * (val, n), not NUL-terminated when split. */
bool berth_http_req_params(const berth_http_req_t *req, const char *key, bool split_commas,
                           berth_http_iter_t *it, const char **val, size_t *len);

/* The reason phrase for a status ("Not Found"), "" for an unknown one. */
const char *berth_http_reason(int status);

/* Appends a response: "HTTP/1.1 <status> <reason>", the `n` extra headers,
 * Content-Length (always), Content-Type "text/plain; charset=utf-8" when
 * there is a body and the extra headers name no Content-Type, then the body.
 * reason NULL: berth_http_reason(status). CR and LF in the reason and in
 * header names and values become spaces, so text taken from a request can
 * never split the response. For answers before an upgrade such as 404 "token
 * not found or expired\n", 400, 403, 500; add "Connection: close" when the
 * connection will close. */
void berth_http_put_response(berth_bytebuf_t *b, int status, const char *reason,
                             const berth_http_header_t *hdrs, size_t n, const void *body,
                             size_t body_len);
/* berth_http_put_response without the body: the head of a response whose
 * body of body_len bytes the caller sends itself (from its own buffer, with
 * no copy), or not at all (the answer to a HEAD). */
void berth_http_put_head(berth_bytebuf_t *b, int status, const char *reason,
                         const berth_http_header_t *hdrs, size_t n, size_t body_len);
/* Appends "HTTP/1.1 101 Switching Protocols", the given headers (Upgrade,
 * Connection and the protocol's own) and the empty line. */
void berth_http_put_switching(berth_bytebuf_t *b, const berth_http_header_t *hdrs, size_t n);
/* Formats `t` as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for a
 * Date header; returns out. */
#define BERTH_HTTP_DATE_LEN 29
char *berth_http_date(time_t t, char out[BERTH_HTTP_DATE_LEN + 1]);

#endif
