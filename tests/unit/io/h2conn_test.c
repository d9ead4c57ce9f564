/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP/2 + gRPC session core (io/h2conn.c) driven by a real nghttp2
 * client session in memory: request decoding, reply framing and trailers,
 * limits, compression refusal, many streams, resets and garbage input. No
 * engine and no sockets are involved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "engine/alloc.h"
#include "io/grpc-internal.h"

static int n_test;
static int failed;

static void ok(int cond, const char *desc)
{
    n_test++;
    if (!cond)
        failed = 1;
    printf("%sok %d - %s\n", cond ? "" : "not ", n_test, desc);
}

/* ---- the server side's view ------------------------------------------- */

#define MAXREQ 512

typedef struct req {
    int32_t sid;
    char *method;
    uint8_t *body;
    size_t len;
    int64_t timeout;
} req_t;

typedef struct closed {
    int32_t sid;
    bool finished;
    uint32_t code;
} closed_t;

static req_t reqs[MAXREQ];
static int nreqs;
static closed_t closes[MAXREQ];
static int ncloses;

static void *srv_on_request(void *ctx, int32_t sid, const char *method, uint8_t *body, size_t len,
                            int64_t timeout_ns)
{
    if (nreqs < MAXREQ) {
        reqs[nreqs] = (req_t){sid, berth_strdup(method), body, len, timeout_ns};
        nreqs++;
    } else {
        berth_free(body);
    }
    return (void *)(intptr_t)sid;
}

static void srv_on_close(void *ctx, int32_t sid, void *user, bool finished, uint32_t code)
{
    if (ncloses < MAXREQ && (intptr_t)user == sid)
        closes[ncloses++] = (closed_t){sid, finished, code};
}

static void reset_server_view(void)
{
    for (int i = 0; i < nreqs; i++) {
        berth_free(reqs[i].method);
        berth_free(reqs[i].body);
    }
    nreqs = ncloses = 0;
}

/* ---- the client side's view ------------------------------------------- */

typedef struct resp {
    int http;
    int grpc_status; /* -1 until seen */
    char msg[256];
    char accept_enc[256];
    int header_frames;
    uint8_t data[40000];
    size_t dlen;
    bool closed;
    uint32_t close_code;
} resp_t;

static resp_t resps[2 * MAXREQ + 2];

static resp_t *resp_of(int32_t sid)
{
    return &resps[sid / 2];
}

static int cli_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                         size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    resp_t *r = resp_of(f->hd.stream_id);
    char v[256];
    size_t n = vlen < sizeof(v) - 1 ? vlen : sizeof(v) - 1;
    memcpy(v, value, n);
    v[n] = 0;
    if (nlen == 7 && !memcmp(name, ":status", 7))
        r->http = atoi(v);
    else if (nlen == 11 && !memcmp(name, "grpc-status", 11))
        r->grpc_status = atoi(v);
    else if (nlen == 12 && !memcmp(name, "grpc-message", 12))
        memcpy(r->msg, v, n + 1);
    else if (nlen == 20 && !memcmp(name, "grpc-accept-encoding", 20))
        memcpy(r->accept_enc, v, n + 1);
    return 0;
}

static int cli_on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    if (f->hd.type == NGHTTP2_HEADERS)
        resp_of(f->hd.stream_id)->header_frames++;
    return 0;
}

static int cli_on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data,
                       size_t len, void *ud)
{
    resp_t *r = resp_of(sid);
    if (r->dlen + len <= sizeof(r->data)) {
        memcpy(r->data + r->dlen, data, len);
        r->dlen += len;
    }
    return 0;
}

static int cli_on_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
    resp_of(sid)->closed = true;
    resp_of(sid)->close_code = code;
    return 0;
}

/* Request bodies: a data provider that hands out at most `chunk` bytes per
 * DATA frame, so messages arrive split across frames. */
typedef struct body {
    uint8_t bytes[4096];
    size_t len, off, chunk;
    bool hold; /* at the end of bytes, keep the stream open (a slow client) */
} body_t;

static ssize_t body_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    body_t *b = src->ptr;
    size_t n = b->len - b->off;
    if (n > length)
        n = length;
    if (b->chunk && n > b->chunk)
        n = b->chunk;
    if (n == 0 && b->hold)
        return NGHTTP2_ERR_DEFERRED;
    memcpy(buf, b->bytes + b->off, n);
    b->off += n;
    if (b->off == b->len && !b->hold)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static body_t bodies[MAXREQ];

static nghttp2_session *client_new(void)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, cli_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cli_on_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cli_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cli_on_close);
    nghttp2_session *s;
    nghttp2_session_client_new(&s, cbs, NULL);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}};
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 1);
    memset(resps, 0, sizeof(resps));
    for (size_t i = 0; i < BERTH_ARRAY_LEN(resps); i++)
        resps[i].grpc_status = -1;
    return s;
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE                 \
    }

/* Submits a gRPC request; flag is the message's flag byte; declared_len
 * overrides the prefix length when non-zero. */
static int32_t submit(nghttp2_session *cli, int slot, const char *method, const char *payload,
                      uint8_t flag, uint32_t declared_len, const char *extra_name,
                      const char *extra_value, size_t chunk)
{
    body_t *b = &bodies[slot];
    size_t plen = strlen(payload);
    uint32_t dl = declared_len ? declared_len : (uint32_t)plen;
    b->bytes[0] = flag;
    b->bytes[1] = (uint8_t)(dl >> 24);
    b->bytes[2] = (uint8_t)(dl >> 16);
    b->bytes[3] = (uint8_t)(dl >> 8);
    b->bytes[4] = (uint8_t)dl;
    memcpy(b->bytes + 5, payload, plen);
    b->len = plen + 5;
    b->off = 0;
    b->chunk = chunk;
    b->hold = false;
    nghttp2_nv nv[8] = {NV(":method", "POST"),
                        NV(":scheme", "http"),
                        NV(":path", method),
                        NV(":authority", "x"),
                        NV("content-type", "application/grpc"),
                        NV("te", "trailers")};
    size_t n = 6;
    if (extra_name)
        nv[n++] = (nghttp2_nv)NV(extra_name, extra_value);
    nghttp2_data_provider prd = {.source.ptr = b, .read_callback = body_read};
    return nghttp2_submit_request(cli, NULL, nv, n, &prd, NULL);
}

/* Moves bytes both ways until both sides are quiet. Returns the last
 * server recv result (< 0 on a session error). */
static int xfer(nghttp2_session *cli, berth_h2_t *srv)
{
    int rc = 0;
    for (int rounds = 0; rounds < 10000; rounds++) {
        bool moved = false;
        const uint8_t *data;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(cli, &data)) > 0) {
            moved = true;
            if (rc >= 0)
                rc = berth_h2_recv(srv, data, (size_t)n);
        }
        while ((n = berth_h2_pull(srv, &data)) > 0) {
            moved = true;
            nghttp2_session_mem_recv(cli, data, (size_t)n);
        }
        if (!moved)
            break;
    }
    return rc;
}

static berth_h2_t *server_new(size_t max)
{
    berth_h2_callbacks_t cb = {.on_request = srv_on_request, .on_close = srv_on_close};
    reset_server_view();
    berth_grpc_limits_t lim = {.max_msg_size = max};
    return berth_h2_new(&cb, NULL, &lim);
}

/* Requests that announce more than they send, left open (a slow or hostile
 * client): what they hold counts against the connection's and the process's
 * caps, never more than what arrived, and is given back when they go. */
static void test_buffered_caps(void)
{
    static char payload[2001];
    memset(payload, 'a', 2000);
    berth_h2_callbacks_t cb = {.on_request = srv_on_request, .on_close = srv_on_close};
    reset_server_view();
    berth_grpc_limits_t lim = {.max_msg_size = 1 << 20, .max_conn_buffered = 3000};
    berth_h2_t *srv = berth_h2_new(&cb, NULL, &lim);
    nghttp2_session *cli = client_new();
    int32_t a = submit(cli, 0, "/a/B", payload, 0, 900000, NULL, NULL, 0);
    bodies[0].hold = true;
    xfer(cli, srv);
    ok(berth_grpc_buffered_total() == 2000,
       "an announced 900000-byte message holds only the 2000 bytes that came");
    int32_t b = submit(cli, 1, "/a/B", payload, 0, 900000, NULL, NULL, 0);
    bodies[1].hold = true;
    xfer(cli, srv);
    resp_t *r = resp_of(b);
    ok(r->grpc_status == BERTH_GRPC_RESOURCE_EXHAUSTED &&
               strstr(r->msg, "this connection holds 2000 bytes") != NULL &&
               strstr(r->msg, "limit of 3000") != NULL,
       "past the connection's cap: RESOURCE_EXHAUSTED naming it");
    ok(resp_of(a)->grpc_status == -1 && berth_grpc_buffered_total() == 2000,
       "the first request is untouched; the refused one's bytes are freed");

    /* the process-wide cap, over two connections */
    berth_grpc_limits_t lim2 = {
            .max_msg_size = 1 << 20, .max_conn_buffered = 1 << 20, .max_total_buffered = 3000};
    berth_h2_t *srv2 = berth_h2_new(&cb, NULL, &lim2);
    nghttp2_session *cli2 = client_new();
    int32_t c = submit(cli2, 2, "/a/B", payload, 0, 900000, NULL, NULL, 0);
    bodies[2].hold = true;
    xfer(cli2, srv2);
    r = resp_of(c);
    ok(r->grpc_status == BERTH_GRPC_RESOURCE_EXHAUSTED &&
               strstr(r->msg, "the server holds 2000 bytes") != NULL,
       "past the process's cap (another connection holds the rest): RESOURCE_EXHAUSTED");
    berth_h2_free(srv);
    berth_h2_free(srv2);
    nghttp2_session_del(cli);
    nghttp2_session_del(cli2);
    ok(berth_grpc_buffered_total() == 0, "freed connections give their bytes back");
    reset_server_view();
}

/* An open-ended server stream: a client that reads keeps it going however
 * much passes; one that stops reading gets the stream reset once the unsent
 * bytes would pass max_stream_queued. */
static void test_stream_queue_cap(void)
{
    static char big[1000];
    memset(big, 'e', sizeof(big));
    berth_h2_callbacks_t cb = {.on_request = srv_on_request, .on_close = srv_on_close};
    reset_server_view();
    berth_grpc_limits_t lim = {.max_stream_queued = 10000};
    berth_h2_t *srv = berth_h2_new(&cb, NULL, &lim);
    nghttp2_session *cli = client_new();
    int32_t a = submit(cli, 0, "/a/Events", "", 0, 0, NULL, NULL, 0);
    xfer(cli, srv);
    int rc = 0;
    for (int i = 0; i < 500 && rc == 0; i++) {
        rc = berth_h2_send_msg(srv, a, big, sizeof(big));
        xfer(cli, srv);
    }
    ok(rc == 0 && !resp_of(a)->closed,
       "a reading client takes 500 KB through a stream capped at 10000 queued bytes");
    int results[20];
    for (int i = 0; i < 20; i++)
        results[i] = berth_h2_send_msg(srv, a, big, sizeof(big));
    /* the client's 64 KiB window is about to shut: keep sending, read nothing */
    int first_reset = -1;
    for (int i = 0; i < 20; i++)
        if (results[i] == 2 && first_reset < 0)
            first_reset = i;
    ok(first_reset > 0 && first_reset <= 10 && results[first_reset - 1] == 0,
       "unread messages queue until the cap, then the send resets the stream (2)");
    ok(berth_h2_send_msg(srv, a, big, sizeof(big)) == -1, "later sends on it are refused");
    xfer(cli, srv);
    ok(resp_of(a)->closed && resp_of(a)->close_code == NGHTTP2_ENHANCE_YOUR_CALM,
       "the client sees RST_STREAM ENHANCE_YOUR_CALM");
    ok(ncloses == 1 && closes[0].sid == a, "the server's on_close reports the stream gone");
    ok(berth_h2_open_streams(srv) == 0, "its output is freed with it");
    berth_h2_free(srv);
    nghttp2_session_del(cli);
    reset_server_view();
}

static bool msg_is(resp_t *r, const char *want)
{
    size_t n = strlen(want);
    return r->dlen == n + 5 && r->data[0] == 0 && r->data[4] == (uint8_t)n &&
           memcmp(r->data + 5, want, n) == 0;
}

int main(void)
{
    printf("1..41\n");

    /* unary round trip, message split over several DATA frames */
    nghttp2_session *cli = client_new();
    berth_h2_t *srv = server_new(0);
    int32_t sid = submit(cli, 0, "/runtime.v1.RuntimeService/Version", "hello world", 0, 0,
                         "grpc-timeout", "250m", 3);
    xfer(cli, srv);
    ok(nreqs == 1 && reqs[0].sid == sid, "unary request reaches on_request once");
    ok(nreqs == 1 && strcmp(reqs[0].method, "/runtime.v1.RuntimeService/Version") == 0,
       "method is the :path");
    ok(nreqs == 1 && reqs[0].len == 11 && memcmp(reqs[0].body, "hello world", 11) == 0,
       "body reassembled across DATA frames");
    ok(nreqs == 1 && reqs[0].timeout == 250000000, "grpc-timeout parsed");
    ok(berth_h2_send_msg(srv, sid, "pong", 4) == 0 &&
               berth_h2_finish(srv, sid, BERTH_GRPC_OK, NULL) == 0,
       "reply queued");
    xfer(cli, srv);
    resp_t *r = resp_of(sid);
    ok(r->http == 200 && msg_is(r, "pong"), "reply: 200 and one length-prefixed message");
    ok(r->grpc_status == 0 && r->header_frames == 2 && r->closed && r->close_code == 0,
       "reply: status in trailers, stream closed cleanly");
    ok(ncloses == 1 && closes[0].finished && closes[0].code == 0, "on_close: finished");
    ok(berth_h2_finish(srv, sid, BERTH_GRPC_OK, NULL) == -1 &&
               berth_h2_send_msg(srv, sid, "x", 1) == -1,
       "replies to a closed stream are refused");

    /* error status with percent-encoded message, trailers-only */
    sid = submit(cli, 1, "/a/B", "", 0, 0, NULL, NULL, 0);
    xfer(cli, srv);
    ok(nreqs == 2 && reqs[1].len == 0 && reqs[1].body == NULL && reqs[1].timeout == -1,
       "empty message, no timeout");
    berth_h2_finish(srv, sid, BERTH_GRPC_NOT_FOUND, "pod \"x\" not found: 100%\n\xc3\xbc");
    xfer(cli, srv);
    r = resp_of(sid);
    ok(r->http == 200 && r->grpc_status == 5 && r->header_frames == 1 && r->dlen == 0,
       "trailers-only response");
    ok(strcmp(r->msg, "pod \"x\" not found: 100%25%0A%C3%BC") == 0, "grpc-message percent-encoded");

    /* server-streaming: three messages then OK */
    sid = submit(cli, 2, "/a/Stream", "", 0, 0, NULL, NULL, 0);
    xfer(cli, srv);
    berth_h2_send_msg(srv, sid, "a", 1);
    xfer(cli, srv);
    berth_h2_send_msg(srv, sid, "b", 1);
    berth_h2_send_msg(srv, sid, "c", 1);
    berth_h2_finish(srv, sid, BERTH_GRPC_OK, NULL);
    xfer(cli, srv);
    r = resp_of(sid);
    ok(r->dlen == 18 && r->data[5] == 'a' && r->data[11] == 'b' && r->data[17] == 'c' &&
               r->grpc_status == 0,
       "streaming: three messages then OK");

    /* a taken message goes out from its own buffer, over several DATA
     * frames, and one queued behind it is copied after it */
    sid = submit(cli, 3, "/a/Taken", "", 0, 0, NULL, NULL, 0);
    xfer(cli, srv);
    enum { BIG = 20000 };
    uint8_t *big = berth_malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (uint8_t)(i * 7);
    ok(berth_h2_send_msg_take(srv, sid, big, BIG) == 0 &&
               berth_h2_send_msg_take(srv, sid, berth_memdup("tail", 4), 4) == 0 &&
               berth_h2_finish(srv, sid, BERTH_GRPC_OK, NULL) == 0,
       "taken messages queued");
    xfer(cli, srv);
    r = resp_of(sid);
    bool same = r->dlen == 5 + BIG + 5 + 4 && r->data[0] == 0 && r->data[3] == (BIG >> 8) &&
                r->data[4] == (BIG & 0xff);
    for (size_t i = 0; same && i < BIG; i++)
        same = r->data[5 + i] == (uint8_t)(i * 7);
    ok(same, "the taken message arrives whole, prefixed with its length");
    ok(r->dlen == 5 + BIG + 5 + 4 && r->data[5 + BIG + 4] == 4 &&
               memcmp(r->data + 5 + BIG + 5, "tail", 4) == 0 && r->grpc_status == 0,
       "then the one queued behind it, then OK");

    /* reply over the send limit */
    berth_h2_free(srv);
    nghttp2_session_del(cli);
    cli = client_new();
    srv = server_new(16);
    sid = submit(cli, 0, "/a/Big", "", 0, 0, NULL, NULL, 0);
    xfer(cli, srv);
    ok(berth_h2_send_msg(srv, sid, "0123456789abcdefXYZ", 19) == 1, "too-large reply refused");
    xfer(cli, srv);
    r = resp_of(sid);
    ok(r->grpc_status == BERTH_GRPC_RESOURCE_EXHAUSTED && r->dlen == 0,
       "too-large reply becomes RESOURCE_EXHAUSTED");

    /* request over the receive limit: declared length checked first */
    sid = submit(cli, 1, "/a/B", "tiny", 0, 100000, NULL, NULL, 0);
    xfer(cli, srv);
    r = resp_of(sid);
    ok(nreqs == 1 && r->grpc_status == BERTH_GRPC_RESOURCE_EXHAUSTED &&
               strcmp(r->msg, "grpc: received message larger than max (100000 vs. 16)") == 0,
       "oversized request: RESOURCE_EXHAUSTED before buffering");

    /* compressed flag */
    sid = submit(cli, 2, "/a/B", "zz", 1, 0, NULL, NULL, 0);
    xfer(cli, srv);
    r = resp_of(sid);
    ok(nreqs == 1 && r->grpc_status == BERTH_GRPC_UNIMPLEMENTED &&
               strstr(r->msg, "compressed messages are not supported") != NULL,
       "compressed flag: UNIMPLEMENTED");

    /* grpc-encoding gzip */
    sid = submit(cli, 3, "/a/B", "zz", 0, 0, "grpc-encoding", "gzip", 0);
    xfer(cli, srv);
    r = resp_of(sid);
    ok(nreqs == 1 && r->grpc_status == BERTH_GRPC_UNIMPLEMENTED &&
               strcmp(r->accept_enc, "identity") == 0,
       "grpc-encoding gzip: UNIMPLEMENTED with grpc-accept-encoding identity");

    /* two messages in one call */
    {
        body_t *b = &bodies[4];
        memcpy(b->bytes, "\0\0\0\0\1x\0\0\0\0\1y", 12);
        b->len = 12;
        b->off = 0;
        b->chunk = 0;
        nghttp2_nv nv[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/a/B"),
                           NV(":authority", "x"), NV("content-type", "application/grpc")};
        nghttp2_data_provider prd = {.source.ptr = b, .read_callback = body_read};
        sid = nghttp2_submit_request(cli, NULL, nv, 5, &prd, NULL);
        xfer(cli, srv);
        ok(nreqs == 1 && resp_of(sid)->grpc_status == BERTH_GRPC_UNIMPLEMENTED,
           "second request message refused");
    }

    /* non-POST and non-gRPC content */
    {
        nghttp2_nv nv[] = {NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/a/B"),
                           NV(":authority", "x")};
        sid = nghttp2_submit_request(cli, NULL, nv, 4, NULL, NULL);
        nghttp2_nv nv2[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/a/B"),
                            NV(":authority", "x"), NV("content-type", "text/plain")};
        int32_t sid2 = nghttp2_submit_request(cli, NULL, nv2, 5, NULL, NULL);
        xfer(cli, srv);
        ok(nreqs == 1 && resp_of(sid)->http == 405 && resp_of(sid2)->http == 415,
           "GET gets 405, text/plain gets 415");
    }

    /* RST_STREAM from the client */
    sid = submit(cli, 5, "/a/Slow", "", 0, 0, NULL, NULL, 0);
    xfer(cli, srv);
    int before = ncloses;
    nghttp2_submit_rst_stream(cli, NGHTTP2_FLAG_NONE, sid, NGHTTP2_CANCEL);
    xfer(cli, srv);
    ok(nreqs == 2 && ncloses == before + 1 && closes[before].sid == sid &&
               !closes[before].finished && closes[before].code == NGHTTP2_CANCEL,
       "RST_STREAM: on_close unfinished with CANCEL");
    ok(berth_h2_finish(srv, sid, 0, NULL) == -1, "reply after reset dropped");
    berth_h2_free(srv);
    nghttp2_session_del(cli);

    /* many concurrent streams, answered in reverse order */
    cli = client_new();
    srv = server_new(0);
    int32_t sids[300];
    for (int i = 0; i < 300; i++) {
        char p[16];
        snprintf(p, sizeof(p), "m%d", i);
        sids[i] = submit(cli, i, "/a/Echo", p, 0, 0, NULL, NULL, 0);
    }
    xfer(cli, srv);
    ok(nreqs == 300 && berth_h2_open_streams(srv) == 300, "300 concurrent requests dispatched");
    for (int i = nreqs - 1; i >= 0; i--) {
        berth_h2_send_msg(srv, reqs[i].sid, reqs[i].body, reqs[i].len);
        berth_h2_finish(srv, reqs[i].sid, 0, NULL);
    }
    xfer(cli, srv);
    int good = 0;
    for (int i = 0; i < 300; i++) {
        char p[16];
        snprintf(p, sizeof(p), "m%d", i);
        if (msg_is(resp_of(sids[i]), p) && resp_of(sids[i])->grpc_status == 0)
            good++;
    }
    ok(good == 300 && berth_h2_open_streams(srv) == 0, "300 replies matched to their streams");
    berth_h2_free(srv);
    nghttp2_session_del(cli);

    /* garbage: a session error, no crash */
    srv = server_new(0);
    const char *junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ok(berth_h2_recv(srv, (const uint8_t *)junk, strlen(junk)) < 0, "garbage: session error");
    const uint8_t *out;
    while (berth_h2_pull(srv, &out) > 0) {
    }
    ok(!berth_h2_want_io(srv), "garbage: session wants no more I/O");
    berth_h2_free(srv);

    /* a valid preface then a malformed frame */
    srv = server_new(0);
    uint8_t bad[64];
    memcpy(bad, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
    /* a SETTINGS frame with a length that is not a multiple of 6 */
    uint8_t fr[] = {0, 0, 5, 4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5};
    memcpy(bad + NGHTTP2_CLIENT_MAGIC_LEN, fr, sizeof(fr));
    berth_h2_recv(srv, bad, NGHTTP2_CLIENT_MAGIC_LEN + sizeof(fr));
    while (berth_h2_pull(srv, &out) > 0) {
    }
    ok(!berth_h2_want_io(srv), "malformed frame: connection ends");
    berth_h2_free(srv);
    reset_server_view();
    test_buffered_caps();
    test_stream_queue_cap();
    return failed;
}
