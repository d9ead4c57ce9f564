/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/ttrpc: the header byte for byte, a Request and a Response encoded to
 * the bytes protobuf gives them and decoded back, a negative status code,
 * messages fed a byte at a time, the size limit, and malformed bodies
 * (truncated, a wrong wire type, a group). Pure functions, no engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "io/ttrpc.h"
#include "tests/unit/check.h"

static bool buf_is(const berth_bytebuf_t *b, const void *want, size_t n)
{
    return berth_bytebuf_pending(b) == n && memcmp(b->data + b->off, want, n) == 0;
}

static void test_header(void)
{
    uint8_t h[BERTH_TTRPC_HEADER_LEN];
    berth_ttrpc_hdr_put(h, &(berth_ttrpc_hdr_t){.length = 0x01020304,
                                                .stream_id = 0x0a0b0c0d,
                                                .type = BERTH_TTRPC_DATA,
                                                .flags = BERTH_TTRPC_FLAG_REMOTE_CLOSED});
    static const uint8_t want[] = {1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 3, 1};
    ok(memcmp(h, want, sizeof(want)) == 0, "header: big-endian length, stream, type, flags");
    berth_ttrpc_hdr_t g;
    berth_ttrpc_hdr_get(h, &g);
    ok(g.length == 0x01020304 && g.stream_id == 0x0a0b0c0d && g.type == 3 && g.flags == 1,
       "header: read back");
}

static void test_request(void)
{
    berth_bytebuf_t b = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    static const uint8_t payload[] = {0x08, 0x01};
    int r = berth_ttrpc_request_encode(&b, 1, "a", "b", payload, 2, 0, &err);
    static const uint8_t want[] = {0,    0, 0,   10,   0, 0,   0,    1, 1,    0,
                                   0x0a, 1, 'a', 0x12, 1, 'b', 0x1a, 2, 0x08, 0x01};
    ok(r == 0 && buf_is(&b, want, sizeof(want)), "request: the bytes protobuf gives it");

    berth_ttrpc_msg_t m;
    ssize_t n = berth_ttrpc_parse(b.data, b.len, &m, &err);
    ok(n == (ssize_t)sizeof(want) && m.hdr.type == BERTH_TTRPC_REQUEST && m.hdr.stream_id == 1,
       "request: parses as one whole message");
    berth_ttrpc_request_t req;
    r = berth_ttrpc_request_decode(m.body, m.hdr.length, &req, &err);
    ok(r == 0 && berth_ttrpc_str_eq(req.service, "a") && berth_ttrpc_str_eq(req.method, "b") &&
               req.payload.len == 2 && memcmp(req.payload.p, payload, 2) == 0 &&
               req.timeout_nano == 0,
       "request: decodes back");
    berth_bytebuf_free(&b);

    r = berth_ttrpc_request_encode(&b, 7, "nri.pkg.api.v1alpha1.Plugin", "Configure", NULL, 0,
                                   2000000000, &err);
    n = berth_ttrpc_parse(b.data, b.len, &m, &err);
    r = n > 0 ? berth_ttrpc_request_decode(m.body, m.hdr.length, &req, &err) : -1;
    ok(r == 0 && berth_ttrpc_str_eq(req.service, "nri.pkg.api.v1alpha1.Plugin") &&
               berth_ttrpc_str_eq(req.method, "Configure") && req.payload.len == 0 &&
               req.timeout_nano == 2000000000,
       "request: empty payload left out, timeout kept");

    /* a byte at a time: nothing parses until the last byte is there */
    bool early = false;
    for (size_t i = 0; i < b.len; i++)
        if (berth_ttrpc_parse(b.data, i, &m, &err) != 0)
            early = true;
    ok(!early && berth_ttrpc_parse(b.data, b.len, &m, &err) == (ssize_t)b.len,
       "request: incomplete until whole");
    berth_bytebuf_free(&b);
}

static void test_response(void)
{
    berth_bytebuf_t b = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    int r = berth_ttrpc_response_encode(&b, 3, 5, "nf", NULL, 0, &err);
    static const uint8_t want[] = {0, 0,    0, 8,    0, 0,    0, 3,   2,
                                   0, 0x0a, 6, 0x08, 5, 0x12, 2, 'n', 'f'};
    ok(r == 0 && buf_is(&b, want, sizeof(want)), "response: status code and message bytes");
    berth_ttrpc_msg_t m;
    berth_ttrpc_response_t resp;
    ssize_t n = berth_ttrpc_parse(b.data, b.len, &m, &err);
    r = n > 0 ? berth_ttrpc_response_decode(m.body, m.hdr.length, &resp, &err) : -1;
    ok(r == 0 && resp.code == 5 && berth_ttrpc_str_eq(resp.message, "nf") && resp.payload.len == 0,
       "response: error decodes back");
    berth_bytebuf_free(&b);

    static const uint8_t payload[] = {1, 2, 3};
    r = berth_ttrpc_response_encode(&b, 9, 0, NULL, payload, 3, &err);
    static const uint8_t want_ok[] = {0, 0, 0, 5, 0, 0, 0, 9, 2, 0, 0x12, 3, 1, 2, 3};
    ok(r == 0 && buf_is(&b, want_ok, sizeof(want_ok)), "response: OK is only the payload");
    berth_bytebuf_free(&b);

    r = berth_ttrpc_response_encode(&b, 9, -1, "x", NULL, 0, &err);
    n = berth_ttrpc_parse(b.data, b.len, &m, &err);
    r = n > 0 ? berth_ttrpc_response_decode(m.body, m.hdr.length, &resp, &err) : -1;
    ok(r == 0 && resp.code == -1 && m.hdr.length == 2 + 11 + 3,
       "response: a negative code takes ten varint bytes and decodes back");
    berth_bytebuf_free(&b);
}

static void test_limits(void)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    uint8_t h[BERTH_TTRPC_HEADER_LEN];
    berth_ttrpc_hdr_put(
            h, &(berth_ttrpc_hdr_t){.length = BERTH_TTRPC_MAX_MSG + 1, .stream_id = 1, .type = 1});
    berth_ttrpc_msg_t m;
    ok(berth_ttrpc_parse(h, sizeof(h), &m, &err) < 0 && err && err->kind == BERTH_ERR_EXHAUSTED,
       "parse: a body over 4 MiB is refused from its header");
    berth_err_free(&err);

    berth_bytebuf_t b = {0};
    uint8_t *big = berth_calloc(1, BERTH_TTRPC_MAX_MSG);
    ok(berth_ttrpc_request_encode(&b, 1, "s", "m", big, BERTH_TTRPC_MAX_MSG, 0, &err) < 0 && err &&
               err->kind == BERTH_ERR_EXHAUSTED && b.len == 0,
       "encode: a request over the limit is refused and nothing written");
    berth_err_free(&err);
    berth_free(big);
}

static void test_malformed(void)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_ttrpc_request_t req;
    berth_ttrpc_response_t resp;
    static const uint8_t trunc[] = {0x0a, 5, 'a'};
    ok(berth_ttrpc_request_decode(trunc, sizeof(trunc), &req, &err) < 0 && err &&
               err->kind == BERTH_ERR_INVALID,
       "decode: a string longer than the body");
    berth_err_free(&err);
    static const uint8_t wrong[] = {0x08, 1};
    ok(berth_ttrpc_request_decode(wrong, sizeof(wrong), &req, &err) < 0,
       "decode: service as a varint");
    berth_err_free(&err);
    static const uint8_t group[] = {0x2b, 0x2c};
    ok(berth_ttrpc_request_decode(group, sizeof(group), &req, &err) < 0, "decode: a group");
    berth_err_free(&err);
    static const uint8_t longvar[] = {0x20, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    ok(berth_ttrpc_request_decode(longvar, sizeof(longvar), &req, &err) < 0,
       "decode: a varint of eleven bytes");
    berth_err_free(&err);
    static const uint8_t badstatus[] = {0x0a, 2, 0x08, 0x80};
    ok(berth_ttrpc_response_decode(badstatus, sizeof(badstatus), &resp, &err) < 0,
       "decode: a status ending inside a varint");
    berth_err_free(&err);
    /* unknown fields of every wire type are skipped */
    static const uint8_t unknown[] = {0x30, 1,    0x39, 1,   2,    3,    4,    5,    6,
                                      7,    8,    0x45, 1,   2,    3,    4,    0x4a, 1,
                                      'z',  0x12, 1,    'm', 0x2a, 0x02, 0x0a, 0x00};
    ok(berth_ttrpc_request_decode(unknown, sizeof(unknown), &req, &err) == 0 &&
               berth_ttrpc_str_eq(req.method, "m"),
       "decode: unknown fields and metadata skipped");
}

int main(void)
{
    test_header();
    test_request();
    test_response();
    test_limits();
    test_malformed();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
