/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/websocket: RFC 6455's handshake example and every way a handshake is
 * refused, subprotocol choice (both policies, the k8s lists), RFC 6455
 * §5.7's example frames parsed and encoded byte for byte (masked "Hello",
 * fragments, ping/pong, 256-byte and 64 KiB lengths), frames fed a byte at
 * a time, every parser error with its close code, UTF-8 across fragments,
 * close frames, and the k8s channel codec (binary, base64, v5 CLOSE).
 * Pure functions, no engine needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "io/httpreq.h"
#include "io/websocket.h"
#include "tests/unit/check.h"

static bool req_parse(const char *s, berth_http_req_t *req)
{
    berth_http_parser_t p = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    ssize_t r = berth_http_parse(&p, s, strlen(s), req, &err);
    if (r <= 0)
        printf("# request did not parse: %s\n", err ? err->msg : "incomplete");
    return r > 0;
}

static bool buf_is(const berth_bytebuf_t *b, const void *want, size_t n)
{
    return berth_bytebuf_pending(b) == n && memcmp(b->data + b->off, want, n) == 0;
}

/* ---- handshake ---- */

static const char rfc_req[] = "GET /chat HTTP/1.1\r\n"
                              "Host: server.example.com\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Origin: http://example.com\r\n"
                              "Sec-WebSocket-Protocol: chat, superchat\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "\r\n";

static void test_handshake(void)
{
    char accept[BERTH_WS_ACCEPT_LEN + 1];
    berth_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, accept);
    /* RFC 6455 §1.3's value (also base64(SHA-1) computed elsewhere) */
    check(strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
          "RFC 6455 §1.3: accept of the sample nonce (%s)", accept);

    berth_http_req_t req;
    if (req_parse(rfc_req, &req)) {
        int status = 0;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        memset(accept, 0, sizeof(accept));
        check(berth_ws_is_upgrade(&req), "the RFC's request asks for WebSocket");
        check(berth_ws_handshake_check(&req, accept, &status, &err) == 0 && err == NULL &&
                      strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
              "the RFC's request passes, with its accept value");
        const char *pref[] = {"superchat", "chat"};
        check(berth_ws_select_protocol(&req, pref, 2, true) == 1,
              "client_first: the client's first supported name (chat)");
        check(berth_ws_select_protocol(&req, pref, 2, false) == 0,
              "server first: the server's first offered name (superchat)");
        berth_bytebuf_t b = {0};
        berth_ws_put_accept(&b, accept, "chat");
        const char want[] = "HTTP/1.1 101 Switching Protocols\r\n"
                            "Upgrade: websocket\r\n"
                            "Connection: Upgrade\r\n"
                            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                            "Sec-WebSocket-Protocol: chat\r\n\r\n";
        check(buf_is(&b, want, strlen(want)), "the 101 answer, byte for byte");
        berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));
        berth_ws_put_accept(&b, accept, NULL);
        check(berth_bytebuf_pending(&b) ==
                      strlen(want) - strlen("Sec-WebSocket-Protocol: chat\r\n"),
              "no protocol: no Sec-WebSocket-Protocol line");
        berth_bytebuf_free(&b);
        berth_http_req_fini(&req);
    }

    static const struct {
        const char *head; /* after the request line, before the blank line */
        const char *line;
        int status;
        const char *what;
    } bad[] = {
            {NULL, "POST /x HTTP/1.1", 405, "POST"},
            {NULL, "GET /x HTTP/1.0", 400, "HTTP/1.0"},
            {"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
             NULL, 400, "no Upgrade"},
            {"Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
             NULL, 400, "Upgrade: h2c"},
            {"Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
             NULL, 400, "Connection without Upgrade"},
            {"Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
             NULL, 400, "no version"},
            {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
             NULL, 426, "version 8"},
            {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
             NULL, 426, "two versions"},
            {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", NULL,
             400, "no key"},
            {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
             NULL, 400, "two keys"},
            {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n",
             NULL, 400, "key without padding"},
            {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEBE=\r\n",
             NULL, 400, "key of 17 bytes in 24 characters"},
            {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\n",
             NULL, 400, "key not base64"},
            {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==dGhl\r\n",
             NULL, 400, "key with more after the padding"},
    };
    const char *good = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    for (size_t i = 0; i < BERTH_ARRAY_LEN(bad); i++) {
        char s[1024];
        snprintf(s, sizeof(s), "%s\r\nHost: h\r\n%s\r\n",
                 bad[i].line ? bad[i].line : "GET /x HTTP/1.1", bad[i].head ? bad[i].head : good);
        if (!req_parse(s, &req)) {
            check(false, "%s: parses", bad[i].what);
            continue;
        }
        int status = 0;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        int r = berth_ws_handshake_check(&req, accept, &status, &err);
        check(r == -1 && status == bad[i].status && err != NULL && err->kind == BERTH_ERR_INVALID,
              "%s: refused with %d (%d)", bad[i].what, bad[i].status, status);
        berth_http_req_fini(&req);
    }

    /* liberal where the RFC is: case, token lists */
    const char *ok_req = "GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n"
                         "Connection: keep-alive, UPGRADE\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\r\n";
    if (req_parse(ok_req, &req)) {
        int status = 0;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        check(berth_ws_handshake_check(&req, accept, &status, &err) == 0,
              "Upgrade in any case, Connection a list: accepted");
        berth_http_req_fini(&req);
    }
    const char *spdy = "POST /x HTTP/1.1\r\nHost: h\r\nUpgrade: SPDY/3.1\r\n"
                       "Connection: Upgrade\r\n\r\n";
    if (req_parse(spdy, &req)) {
        check(!berth_ws_is_upgrade(&req), "a SPDY upgrade is not WebSocket");
        berth_http_req_fini(&req);
    }

    berth_bytebuf_t b = {0};
    berth_ws_put_reject(&b, 426, "only version 13");
    const char want426[] = "HTTP/1.1 426 Upgrade Required\r\n"
                           "Connection: close\r\n"
                           "Sec-WebSocket-Version: 13\r\n"
                           "Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Length: 16\r\n\r\n"
                           "only version 13\n";
    check(buf_is(&b, want426, strlen(want426)), "426 names version 13");
    berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));
    berth_ws_put_reject(&b, 400, "bad");
    check(memmem(b.data + b.off, berth_bytebuf_pending(&b), "Sec-WebSocket-Version", 21) == NULL,
          "400 does not");
    berth_bytebuf_free(&b);
}

static void test_select(void)
{
    const char *const *rc = berth_ws_remotecommand_protocols;
    size_t nrc = berth_ws_remotecommand_nprotocols;
    const char *const *pf = berth_ws_portforward_protocols;
    size_t npf = berth_ws_portforward_nprotocols;
    struct {
        const char *hdrs;
        bool rc;
        bool client_first;
        const char *want; /* NULL: NONE; "!": NO_MATCH */
    } cases[] = {
            {"Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n", true, true,
             "v5.channel.k8s.io"},
            {"Sec-WebSocket-Protocol: v4.channel.k8s.io, v5.channel.k8s.io\r\n", true, true,
             "v4.channel.k8s.io"},
            {"Sec-WebSocket-Protocol: v4.channel.k8s.io, v5.channel.k8s.io\r\n", true, false,
             "v5.channel.k8s.io"},
            {"Sec-WebSocket-Protocol: base64.channel.k8s.io\r\n"
             "Sec-WebSocket-Protocol: channel.k8s.io\r\n",
             true, true, "base64.channel.k8s.io"},
            {"Sec-WebSocket-Protocol: base64.channel.k8s.io\r\n"
             "Sec-WebSocket-Protocol: channel.k8s.io\r\n",
             true, false, "channel.k8s.io"},
            {"Sec-WebSocket-Protocol: v3.channel.k8s.io, v2.channel.k8s.io\r\n", true, true, "!"},
            {"Sec-WebSocket-Protocol: V5.CHANNEL.K8S.IO\r\n", true, true, "!"},
            {"Sec-WebSocket-Protocol: ,\r\n", true, true, NULL},
            {"", true, true, NULL},
            {"Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.base64.channel.k8s.io\r\n", false, true,
             "v4.base64.channel.k8s.io"},
            {"Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n", false, true, "!"},
    };
    for (size_t i = 0; i < BERTH_ARRAY_LEN(cases); i++) {
        char s[512];
        snprintf(s, sizeof(s), "GET /x HTTP/1.1\r\nHost: h\r\n%s\r\n", cases[i].hdrs);
        berth_http_req_t req;
        if (!req_parse(s, &req))
            continue;
        const char *const *list = cases[i].rc ? rc : pf;
        int r = berth_ws_select_protocol(&req, list, cases[i].rc ? nrc : npf,
                                         cases[i].client_first);
        bool good;
        if (cases[i].want == NULL)
            good = r == BERTH_WS_PROTO_NONE;
        else if (strcmp(cases[i].want, "!") == 0)
            good = r == BERTH_WS_PROTO_NO_MATCH;
        else
            good = r >= 0 && strcmp(list[r], cases[i].want) == 0;
        check(good, "select %zu: %s (got %d: %s)", i, cases[i].want ? cases[i].want : "none", r,
              r >= 0 ? list[r] : "-");
        berth_http_req_fini(&req);
    }
}

/* ---- frames ---- */

/* Parses one frame from a copy of `in` with a fresh parser. */
static ssize_t parse1(bool server, const uint8_t *in, size_t n, uint8_t *copy, berth_ws_frame_t *f,
                      uint16_t *code)
{
    berth_ws_parser_t p;
    berth_ws_parser_init(&p, server, 0);
    memcpy(copy, in, n);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    ssize_t r = berth_ws_parse(&p, copy, n, f, &err);
    *code = r < 0 ? berth_ws_parser_close_code(&p) : 0;
    return r;
}

/* Feeds a frame one byte more per call; all calls but the last must need
 * more, with need() right once the header is in; then the payload must
 * equal `want`. */
static bool bytewise(bool server, const uint8_t *in, size_t n, size_t hdr, const void *want,
                     size_t wn)
{
    berth_ws_parser_t p;
    berth_ws_parser_init(&p, server, 0);
    uint8_t *buf = berth_malloc(n);
    berth_ws_frame_t f;
    bool good = true;
    for (size_t k = 0; k < n; k++) {
        buf[k] = in[k];
        BERTH_AUTO_ERR berth_err_t err = NULL;
        ssize_t r = berth_ws_parse(&p, buf, k + 1, &f, &err);
        if (k + 1 < n) {
            if (r != 0 || (k + 1 >= hdr && berth_ws_parser_need(&p) != n)) {
                printf("# byte %zu: r %zd need %zu\n", k, r, berth_ws_parser_need(&p));
                good = false;
                break;
            }
        } else {
            good = r == (ssize_t)n && f.len == wn && memcmp(f.payload, want, wn) == 0;
        }
    }
    berth_free(buf);
    return good;
}

static const uint8_t key37[4] = {0x37, 0xfa, 0x21, 0x3d};

static void test_rfc_frames(void)
{
    uint8_t copy[64];
    berth_ws_frame_t f;
    uint16_t code;

    /* §5.7: a single-frame unmasked text message */
    static const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    ssize_t r = parse1(false, hello, sizeof(hello), copy, &f, &code);
    check(r == 7 && f.opcode == BERTH_WS_OP_TEXT && f.fin && f.len == 5 &&
                  memcmp(f.payload, "Hello", 5) == 0,
          "§5.7 unmasked \"Hello\" (client side)");
    r = parse1(true, hello, sizeof(hello), copy, &f, &code);
    check(r == -1 && code == 1002, "... refused by a server: unmasked client frame, 1002");

    /* a single-frame masked text message */
    static const uint8_t mhello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                     0x7f, 0x9f, 0x4d, 0x51, 0x58};
    r = parse1(true, mhello, sizeof(mhello), copy, &f, &code);
    check(r == 11 && f.opcode == BERTH_WS_OP_TEXT && f.msg_opcode == BERTH_WS_OP_TEXT && f.fin &&
                  f.len == 5 && memcmp(f.payload, "Hello", 5) == 0 && f.payload == copy + 6,
          "§5.7 masked \"Hello\": unmasked in place");
    r = parse1(false, mhello, sizeof(mhello), copy, &f, &code);
    check(r == -1 && code == 1002, "... refused by a client: masked server frame, 1002");
    check(bytewise(true, mhello, sizeof(mhello), 6, "Hello", 5),
          "masked \"Hello\" a byte at a time: unmasked once, at the end");

    berth_bytebuf_t b = {0};
    berth_ws_put_text(&b, "Hello", 5);
    check(buf_is(&b, hello, sizeof(hello)), "server text \"Hello\" encodes as §5.7");
    berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));
    berth_ws_put_frame(&b, BERTH_WS_OP_TEXT, true, "Hello", 5, key37);
    check(buf_is(&b, mhello, sizeof(mhello)), "masked text \"Hello\" encodes as §5.7");
    berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));

    /* a fragmented unmasked text message */
    static const uint8_t frag[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
    berth_ws_parser_t p;
    berth_ws_parser_init(&p, false, 0);
    memcpy(copy, frag, sizeof(frag));
    BERTH_AUTO_ERR berth_err_t err = NULL;
    ssize_t r1 = berth_ws_parse(&p, copy, sizeof(frag), &f, &err);
    bool first = r1 == 5 && f.opcode == BERTH_WS_OP_TEXT && !f.fin && f.len == 3 &&
                 memcmp(f.payload, "Hel", 3) == 0;
    ssize_t r2 = r1 > 0 ? berth_ws_parse(&p, copy + r1, sizeof(frag) - (size_t)r1, &f, &err) : -1;
    check(first && r2 == 4 && f.opcode == BERTH_WS_OP_CONT && f.msg_opcode == BERTH_WS_OP_TEXT &&
                  f.fin && memcmp(f.payload, "lo", 2) == 0,
          "§5.7 fragmented \"Hel\" + \"lo\": opcode, message opcode, fin");

    /* unmasked ping, masked pong */
    static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const uint8_t mpong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58};
    r = parse1(false, ping, sizeof(ping), copy, &f, &code);
    check(r == 7 && f.opcode == BERTH_WS_OP_PING && memcmp(f.payload, "Hello", 5) == 0,
          "§5.7 unmasked ping");
    r = parse1(true, mpong, sizeof(mpong), copy, &f, &code);
    check(r == 11 && f.opcode == BERTH_WS_OP_PONG && f.msg_opcode == BERTH_WS_OP_PONG &&
                  memcmp(f.payload, "Hello", 5) == 0,
          "§5.7 masked pong");
    berth_ws_put_ping(&b, "Hello", 5);
    check(buf_is(&b, ping, sizeof(ping)), "server ping encodes as §5.7");
    berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));
    berth_ws_put_frame(&b, BERTH_WS_OP_PONG, true, "Hello", 5, key37);
    check(buf_is(&b, mpong, sizeof(mpong)), "masked pong encodes as §5.7");
    berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));

    /* 256 bytes and 64 KiB of binary in one unmasked frame */
    uint8_t *data = berth_malloc(65536 + 16);
    for (size_t i = 0; i < 65536; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    uint8_t *big = berth_malloc(65536 + 16);
    static const uint8_t h256[] = {0x82, 0x7e, 0x01, 0x00};
    static const uint8_t h64k[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
    berth_ws_put_binary(&b, data, 256);
    check(berth_bytebuf_pending(&b) == 260 && memcmp(b.data + b.off, h256, 4) == 0 &&
                  memcmp(b.data + b.off + 4, data, 256) == 0,
          "256 bytes: 0x82 0x7E 0x0100 then the data");
    memcpy(big, b.data + b.off, 260);
    berth_bytebuf_consume(&b, 260);
    check(bytewise(false, big, 260, 4, data, 256), "256-byte frame a byte at a time");
    berth_ws_put_binary(&b, data, 65536);
    check(berth_bytebuf_pending(&b) == 65546 && memcmp(b.data + b.off, h64k, 10) == 0 &&
                  memcmp(b.data + b.off + 10, data, 65536) == 0,
          "64 KiB: 0x82 0x7F 0x0000000000010000 then the data");
    memcpy(big, b.data + b.off, 65546);
    berth_bytebuf_consume(&b, 65546);
    r = parse1(false, big, 65546, big, &f, &code);
    check(r == 65546 && f.opcode == BERTH_WS_OP_BINARY && f.len == 65536 &&
                  memcmp(f.payload, data, 65536) == 0,
          "64 KiB frame parses");

    /* masked, every length form, both directions, a byte at a time */
    static const size_t lens[] = {0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536};
    bool all = true;
    for (size_t i = 0; i < BERTH_ARRAY_LEN(lens); i++) {
        size_t n = lens[i];
        size_t hdr = n < 126 ? 2 : n <= 65535 ? 4 : 10;
        berth_ws_put_frame(&b, BERTH_WS_OP_BINARY, true, data, n, key37);
        size_t fl = berth_bytebuf_pending(&b);
        memcpy(big, b.data + b.off, fl);
        berth_bytebuf_consume(&b, fl);
        bool good = fl == hdr + 4 + n && (n > 1000 || bytewise(true, big, fl, hdr + 4, data, n));
        r = parse1(true, big, fl, big, &f, &code);
        good = good && r == (ssize_t)fl && f.len == n && memcmp(f.payload, data, n) == 0;
        berth_ws_put_header(&b, BERTH_WS_OP_BINARY, true, n, NULL);
        good = good && berth_bytebuf_pending(&b) == hdr;
        berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));
        if (!good)
            printf("# length %zu fails\n", n);
        all &= good;
    }
    check(all, "masked round trips of lengths 0..65536, header sizes 2/4/10");
    berth_free(big);
    berth_free(data);
    berth_bytebuf_free(&b);
}

struct bad_frame {
    bool server;
    const uint8_t *in;
    size_t n;
    uint16_t code;
    const char *what;
};

#define BF(server, code, what, ...)                                                                \
    {                                                                                              \
        server, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), code, what \
    }

static void test_frame_errors(void)
{
    const struct bad_frame bad[] = {
            BF(true, 1002, "RSV1 set", 0xc1, 0x80, 1, 2, 3, 4),
            BF(true, 1002, "RSV2 set", 0xa2, 0x80, 1, 2, 3, 4),
            BF(true, 1002, "RSV3 set", 0x92, 0x80, 1, 2, 3, 4),
            BF(true, 1002, "reserved data opcode 3", 0x83, 0x80, 1, 2, 3, 4),
            BF(true, 1002, "reserved control opcode 0xB", 0x8b, 0x80, 1, 2, 3, 4),
            BF(true, 1002, "reserved opcode 0xF", 0x8f, 0x80, 1, 2, 3, 4),
            BF(true, 1002, "unmasked client frame", 0x82, 0x00),
            BF(false, 1002, "masked server frame", 0x82, 0x80, 1, 2, 3, 4),
            BF(true, 1002, "ping of 126 bytes", 0x89, 0xfe, 0x00, 0x7e),
            BF(true, 1002, "close of 127-form length", 0x88, 0xff),
            BF(true, 1002, "fragmented ping", 0x09, 0x80, 1, 2, 3, 4),
            BF(true, 1002, "fragmented close", 0x08, 0x80, 1, 2, 3, 4),
            BF(true, 1002, "64-bit length, top bit set", 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0),
            BF(true, 1002, "continuation without a message", 0x80, 0x80, 1, 2, 3, 4),
            BF(true, 1009, "over max_message from the 64-bit header", 0x82, 0xff, 0, 0, 0, 0, 0,
               0x10, 0, 1),
            BF(true, 1009, "2^63-1 bytes", 0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
               0xff),
            BF(true, 1002, "close of 1 byte", 0x88, 0x81, 0, 0, 0, 0, 0x03),
            BF(true, 1002, "close code 999", 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe7),
            BF(true, 1002, "close code 1004", 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xec),
            BF(true, 1002, "close code 1005", 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed),
            BF(true, 1002, "close code 1006", 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xee),
            BF(true, 1002, "close code 1015", 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xf7),
            BF(true, 1002, "close code 2999", 0x88, 0x82, 0, 0, 0, 0, 0x0b, 0xb7),
            BF(true, 1002, "close code 5000", 0x88, 0x82, 0, 0, 0, 0, 0x13, 0x88),
            BF(true, 1007, "close reason not UTF-8", 0x88, 0x84, 0, 0, 0, 0, 0x03, 0xe8, 0xc3,
               0x28),
            BF(true, 1007, "text: overlong '/'", 0x81, 0x82, 0, 0, 0, 0, 0xc0, 0xaf),
            BF(true, 1007, "text: overlong 3-byte", 0x81, 0x83, 0, 0, 0, 0, 0xe0, 0x80, 0xaf),
            BF(true, 1007, "text: surrogate U+D800", 0x81, 0x83, 0, 0, 0, 0, 0xed, 0xa0, 0x80),
            BF(true, 1007, "text: above U+10FFFF", 0x81, 0x84, 0, 0, 0, 0, 0xf4, 0x90, 0x80, 0x80),
            BF(true, 1007, "text: 0xFF", 0x81, 0x81, 0, 0, 0, 0, 0xff),
            BF(true, 1007, "text: lone continuation", 0x81, 0x81, 0, 0, 0, 0, 0x80),
            BF(true, 1007, "text: cut at the end", 0x81, 0x82, 0, 0, 0, 0, 0xe2, 0x82),
            BF(true, 1007, "text: ASCII run then bad", 0x81, 0x8a, 0, 0, 0, 0, 'a', 'b', 'c', 'd',
               'e', 'f', 'g', 'h', 'i', 0xc1),
    };
    for (size_t i = 0; i < BERTH_ARRAY_LEN(bad); i++) {
        uint8_t copy[64];
        berth_ws_frame_t f;
        uint16_t code;
        ssize_t r = parse1(bad[i].server, bad[i].in, bad[i].n, copy, &f, &code);
        check(r == -1 && code == bad[i].code, "%s: %u (got %zd, %u)", bad[i].what, bad[i].code, r,
              code);
        /* and no earlier than the bytes show it: each prefix needs more
         * or fails the same way */
        berth_ws_parser_t p;
        berth_ws_parser_init(&p, bad[i].server, 0);
        bool consistent = true;
        for (size_t k = 0; k < bad[i].n; k++) {
            BERTH_AUTO_ERR berth_err_t err = NULL;
            memcpy(copy, bad[i].in, bad[i].n);
            ssize_t rk = berth_ws_parse(&p, copy, k, &f, &err);
            if (rk > 0 || (rk < 0 && berth_ws_parser_close_code(&p) != bad[i].code))
                consistent = false;
            if (rk < 0)
                break;
        }
        check(consistent, "%s: prefixes need more or fail alike", bad[i].what);
    }

    /* a fragmented message: a new one inside it, or too big across frames */
    berth_ws_parser_t p;
    uint8_t buf[256];
    berth_ws_frame_t f;
    berth_bytebuf_t b = {0};
    berth_ws_parser_init(&p, true, 100);
    berth_ws_put_frame(&b, BERTH_WS_OP_TEXT, false, "abc", 3, key37);
    berth_ws_put_frame(&b, BERTH_WS_OP_BINARY, true, "d", 1, key37);
    memcpy(buf, b.data + b.off, berth_bytebuf_pending(&b));
    BERTH_AUTO_ERR berth_err_t err = NULL;
    ssize_t r = berth_ws_parse(&p, buf, berth_bytebuf_pending(&b), &f, &err);
    ssize_t r2 =
            r > 0 ? berth_ws_parse(&p, buf + r, berth_bytebuf_pending(&b) - (size_t)r, &f, &err)
                  : 0;
    check(r == 9 && r2 == -1 && berth_ws_parser_close_code(&p) == 1002 && err != NULL,
          "a new data message inside a fragmented one: 1002");
    berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));
    berth_err_free(&err);

    uint8_t sixty[60];
    memset(sixty, 'x', sizeof(sixty));
    berth_ws_parser_init(&p, true, 100);
    berth_ws_put_frame(&b, BERTH_WS_OP_BINARY, false, sixty, 60, key37);
    berth_ws_put_frame(&b, BERTH_WS_OP_CONT, false, sixty, 40, key37);
    berth_ws_put_frame(&b, BERTH_WS_OP_CONT, true, sixty, 1, key37);
    size_t n = berth_bytebuf_pending(&b);
    memcpy(buf, b.data + b.off, n);
    r = berth_ws_parse(&p, buf, n, &f, &err);
    r2 = r > 0 ? berth_ws_parse(&p, buf + r, n - (size_t)r, &f, &err) : -1;
    ssize_t r3 = r2 > 0 ? berth_ws_parse(&p, buf + r + r2, n - (size_t)(r + r2), &f, &err) : 0;
    check(r == 66 && r2 == 46 && r3 == -1 && berth_ws_parser_close_code(&p) == 1009 &&
                  err->kind == BERTH_ERR_EXHAUSTED,
          "60 + 40 bytes fit max_message 100, one more byte is 1009");
    berth_bytebuf_free(&b);
}

/* Parses every frame of b with one server parser; returns how many, or -1. */
static int parse_all(berth_ws_parser_t *p, berth_bytebuf_t *b, berth_ws_frame_t *fs, int max)
{
    int k = 0;
    while (berth_bytebuf_pending(b) > 0 && k < max) {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        ssize_t r = berth_ws_parse(p, b->data + b->off, berth_bytebuf_pending(b), &fs[k], &err);
        if (r <= 0)
            return -1;
        k++;
        /* payloads stay valid: consume only moves off while nothing is added */
        b->off += (size_t)r;
    }
    return k;
}

static void test_messages(void)
{
    berth_ws_parser_t p;
    berth_bytebuf_t b = {0};
    berth_ws_frame_t fs[8];
    static const uint8_t euro[] = {0xe2, 0x82, 0xac};

    /* a text message split inside a character, a ping between its frames */
    berth_ws_parser_init(&p, true, 0);
    berth_ws_put_frame(&b, BERTH_WS_OP_TEXT, false, euro, 2, key37);
    berth_ws_put_frame(&b, BERTH_WS_OP_PING, true, "p", 1, key37);
    berth_ws_put_frame(&b, BERTH_WS_OP_CONT, false, euro + 2, 1, key37);
    berth_ws_put_frame(&b, BERTH_WS_OP_CONT, true, "", 0, key37);
    int k = parse_all(&p, &b, fs, 8);
    check(k == 4 && fs[0].opcode == BERTH_WS_OP_TEXT && !fs[0].fin &&
                  fs[1].opcode == BERTH_WS_OP_PING && fs[2].opcode == BERTH_WS_OP_CONT &&
                  fs[2].msg_opcode == BERTH_WS_OP_TEXT && !fs[2].fin && fs[3].fin &&
                  fs[3].len == 0 && memcmp(fs[0].payload, euro, 2) == 0 && fs[2].payload[0] == 0xac,
          "€ split across fragments with a ping between: accepted");
    berth_bytebuf_free(&b);

    /* the next message starts afresh */
    berth_ws_put_frame(&b, BERTH_WS_OP_TEXT, true, "ok", 2, key37);
    k = parse_all(&p, &b, fs, 8);
    check(k == 1 && fs[0].opcode == BERTH_WS_OP_TEXT && fs[0].fin, "then a new message");
    berth_bytebuf_free(&b);

    /* binary is not checked; with no_utf8_check, text is not either */
    berth_ws_put_frame(&b, BERTH_WS_OP_BINARY, true, "\xff\xfe", 2, key37);
    check(parse_all(&p, &b, fs, 8) == 1, "binary with bytes that are not UTF-8: accepted");
    berth_bytebuf_free(&b);
    p.no_utf8_check = true;
    berth_ws_put_frame(&b, BERTH_WS_OP_TEXT, true, "\xff\xfe", 2, key37);
    check(parse_all(&p, &b, fs, 8) == 1, "no_utf8_check: text is taken as it is");
    berth_bytebuf_free(&b);

    /* close frames */
    berth_ws_parser_init(&p, true, 0);
    uint8_t pl[125];
    size_t n = berth_ws_close_payload(1000, "bye", pl);
    check(n == 5 && pl[0] == 0x03 && pl[1] == 0xe8 && memcmp(pl + 2, "bye", 3) == 0,
          "close payload: code big-endian, reason");
    check(berth_ws_close_payload(0, "ignored", pl) == 0, "close payload: code 0 is empty");
    char longr[200];
    memset(longr, 'a', 122);
    memcpy(longr + 122, "\xc3\xa9tail", 7);
    n = berth_ws_close_payload(1001, longr, pl);
    check(n == 2 + 122, "a long reason is cut before a character it would split (%zu)", n);
    memset(longr, 'a', 150);
    longr[150] = '\0';
    check(berth_ws_close_payload(1001, longr, pl) == 125, "a long ASCII reason: 123 bytes");

    berth_ws_put_frame(&b, BERTH_WS_OP_CLOSE, true, pl, berth_ws_close_payload(4000, "é", pl),
                       key37);
    berth_ws_put_frame(&b, BERTH_WS_OP_CLOSE, true, NULL, 0, key37);
    berth_ws_put_frame(&b, BERTH_WS_OP_CLOSE, true, pl, berth_ws_close_payload(1012, NULL, pl),
                       key37);
    k = parse_all(&p, &b, fs, 8);
    check(k == 3 && fs[0].close_code == 4000 && fs[0].close_reason_len == 2 &&
                  memcmp(fs[0].close_reason, "é", 2) == 0 &&
                  fs[1].close_code == BERTH_WS_CLOSE_NO_STATUS && fs[1].close_reason == NULL &&
                  fs[2].close_code == 1012 && fs[2].close_reason_len == 0,
          "close frames: code and reason, none (1005), 1012");
    berth_bytebuf_free(&b);

    berth_ws_put_close(&b, 1000, NULL);
    check(buf_is(&b, "\x88\x02\x03\xe8", 4), "server close 1000");
    berth_bytebuf_consume(&b, 4);
    berth_ws_put_close(&b, 0, "x");
    check(buf_is(&b, "\x88\x00", 2), "server close without a code");
    berth_bytebuf_consume(&b, 2);
    uint8_t big[300];
    memset(big, 'z', sizeof(big));
    berth_ws_put_pong(&b, big, sizeof(big));
    check(berth_bytebuf_pending(&b) == 127 && b.data[b.off + 1] == 125,
          "a pong is cut to 125 bytes");
    berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));
    berth_ws_put_header(&b, BERTH_WS_OP_BINARY, false, 5, NULL);
    check(buf_is(&b, "\x02\x05", 2), "a header without fin");
    berth_bytebuf_free(&b);

    /* need(): the whole frame once the header is in */
    berth_ws_parser_init(&p, true, 0);
    uint8_t h[4] = {0x82, 0xfe, 0x01, 0x00};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_ws_frame_t f;
    check(berth_ws_parse(&p, h, 1, &f, &err) == 0 && berth_ws_parser_need(&p) == 2 &&
                  berth_ws_parse(&p, h, 3, &f, &err) == 0 && berth_ws_parser_need(&p) == 8 &&
                  berth_ws_parse(&p, h, 4, &f, &err) == 0 && berth_ws_parser_need(&p) == 264,
          "need: 2, then the header with its key, then the whole frame");
}

/* ---- k8s channels ---- */

static void test_channels(void)
{
    const berth_ws_chan_proto_t *v5 = berth_ws_chan_proto("v5.channel.k8s.io");
    const berth_ws_chan_proto_t *v4 = berth_ws_chan_proto("v4.channel.k8s.io");
    const berth_ws_chan_proto_t *v4b = berth_ws_chan_proto("v4.base64.channel.k8s.io");
    const berth_ws_chan_proto_t *b64 = berth_ws_chan_proto("base64.channel.k8s.io");
    const berth_ws_chan_proto_t *v1 = berth_ws_chan_proto("channel.k8s.io");
    const berth_ws_chan_proto_t *none = berth_ws_chan_proto(NULL);
    check(v5 && v5->close_signal && v5->status_json && !v5->base64,
          "v5: CLOSE, JSON status, binary");
    check(v4 && !v4->close_signal && v4->status_json && !v4->base64, "v4: JSON status, binary");
    check(v4b && v4b->base64 && v4b->status_json && !v4b->close_signal, "v4.base64");
    check(b64 && b64->base64 && !b64->status_json, "base64.channel.k8s.io");
    check(v1 && !v1->base64 && !v1->status_json, "channel.k8s.io");
    check(none && none == berth_ws_chan_proto("") && !none->base64 && !none->status_json,
          "no subprotocol: unversioned binary");
    check(berth_ws_chan_proto("v3.channel.k8s.io") == NULL &&
                  berth_ws_chan_proto("portforward.k8s.io") == NULL,
          "SPDY-only names are not channel protocols");
    bool listed = true;
    for (size_t i = 0; i < berth_ws_remotecommand_nprotocols; i++)
        listed &= berth_ws_chan_proto(berth_ws_remotecommand_protocols[i]) != NULL;
    for (size_t i = 0; i < berth_ws_portforward_nprotocols; i++)
        listed &= berth_ws_chan_proto(berth_ws_portforward_protocols[i]) != NULL;
    check(listed && strcmp(berth_ws_remotecommand_protocols[0], "v5.channel.k8s.io") == 0,
          "every listed name is a channel protocol; v5 first");

    berth_bytebuf_t b = {0};
    berth_ws_chan_put(&b, v4, 1, "hi", 2, NULL);
    check(buf_is(&b, "\x82\x03\x01hi", 5), "binary: one channel byte, binary frame");
    berth_bytebuf_consume(&b, 5);
    berth_ws_chan_put(&b, v4b, 1, "\n", 1, NULL);
    /* kubelet's own example: READ {49, 67, 103, 61, 61} */
    check(buf_is(&b,
                 "\x81\x05"
                 "1Cg==",
                 7),
          "base64: '1' + \"Cg==\" in a text frame");
    berth_bytebuf_consume(&b, 7);
    berth_ws_chan_put(&b, v4, 2, NULL, 0, NULL);
    check(buf_is(&b, "\x82\x01\x02", 3), "the empty message that says the streams are up");
    berth_bytebuf_consume(&b, 3);
    berth_ws_chan_put_close(&b, 0, NULL);
    check(buf_is(&b, "\x82\x02\xff\x00", 4), "v5 CLOSE of channel 0");
    berth_bytebuf_consume(&b, 4);
    /* port-forward's first message: the port, little-endian */
    uint8_t port[2] = {8080 & 0xff, 8080 >> 8};
    berth_ws_chan_put(&b, v4, 2, port, 2, NULL);
    check(buf_is(&b, "\x82\x03\x02\x90\x1f", 5), "port-forward: port 8080 on channel 2");
    berth_bytebuf_consume(&b, 5);

    berth_ws_chan_msg_t m;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    uint8_t msg[64];
    memcpy(msg,
           "\x00"
           "foo",
           4);
    check(berth_ws_chan_decode(v4, msg, 4, &m, &err) == 1 && m.channel == 0 && !m.close &&
                  m.len == 3 && memcmp(m.data, "foo", 3) == 0 && m.data == msg + 1,
          "binary decode: channel 0, data in place");
    check(berth_ws_chan_decode(v4, msg, 0, &m, &err) == 0, "an empty message: 0 (ignore)");
    memcpy(msg, "0Zm9vCg==", 9);
    check(berth_ws_chan_decode(b64, msg, 9, &m, &err) == 1 && m.channel == 0 && m.len == 4 &&
                  memcmp(m.data, "foo\n", 4) == 0,
          "base64 decode: '0' + \"Zm9vCg==\" is \"foo\\n\" on channel 0");
    memcpy(msg, "4eyJXaWR0aCI6\r\nODB9", 19);
    check(berth_ws_chan_decode(v4b, msg, 19, &m, &err) == 1 && m.channel == 4 && m.len == 12 &&
                  memcmp(m.data, "{\"Width\":80}", 12) == 0,
          "base64 decode skips CR LF, as Go does (%zu)", m.len);
    memcpy(msg, "1", 1);
    check(berth_ws_chan_decode(b64, msg, 1, &m, &err) == 1 && m.channel == 1 && m.len == 0,
          "base64: a channel with no data");
    static const char *const bad64[] = {"0Zm9vC", "0Zm9=vCg", "0Z===", "0Zm9v*g==", "0Zg==Zg=="};
    bool allbad = true;
    for (size_t i = 0; i < BERTH_ARRAY_LEN(bad64); i++) {
        size_t l = strlen(bad64[i]);
        memcpy(msg, bad64[i], l);
        BERTH_AUTO_ERR berth_err_t e2 = NULL;
        allbad &= berth_ws_chan_decode(b64, msg, l, &m, &e2) == -1 && e2 != NULL;
    }
    check(allbad, "bad base64: -1 (short, '=' inside, too much padding, bad char, data after "
                  "padding)");

    msg[0] = 255;
    msg[1] = 0;
    check(berth_ws_chan_decode(v5, msg, 2, &m, &err) == 1 && m.close && m.channel == 0 &&
                  m.len == 0,
          "v5: {255, 0} closes channel 0");
    check(berth_ws_chan_decode(v4, msg, 2, &m, &err) == 1 && !m.close && m.channel == 255 &&
                  m.len == 1,
          "v4: {255, 0} is data for channel 255");
    BERTH_AUTO_ERR berth_err_t e3 = NULL;
    check(berth_ws_chan_decode(v5, msg, 1, &m, &e3) == -1 && e3 != NULL,
          "v5: CLOSE without its channel: -1");
    BERTH_AUTO_ERR berth_err_t e4 = NULL;
    msg[2] = 1;
    check(berth_ws_chan_decode(v5, msg, 3, &m, &e4) == -1 && e4 != NULL,
          "v5: CLOSE with 2 bytes after it: -1");

    /* a client's masked channel messages through the server's parser */
    uint8_t *data = berth_malloc(70000);
    for (size_t i = 0; i < 70000; i++)
        data[i] = (uint8_t)(i * 31 + 1);
    const berth_ws_chan_proto_t *ps[] = {v5, v4b};
    for (size_t j = 0; j < 2; j++) {
        berth_ws_parser_t p;
        berth_ws_parser_init(&p, true, 0);
        berth_ws_chan_put(&b, ps[j], 0, data, 70000, key37);
        berth_ws_chan_put(&b, ps[j], 9, data, 3, key37);
        berth_ws_frame_t fs[2];
        int k = parse_all(&p, &b, fs, 2);
        bool good = k == 2;
        for (int i = 0; good && i < k; i++) {
            BERTH_AUTO_ERR berth_err_t e = NULL;
            good = berth_ws_chan_decode(ps[j], fs[i].payload, fs[i].len, &m, &e) == 1 &&
                   m.channel == (i ? 9 : 0) && m.len == (i ? 3 : 70000) &&
                   memcmp(m.data, data, m.len) == 0 &&
                   fs[i].opcode == (ps[j]->base64 ? BERTH_WS_OP_TEXT : BERTH_WS_OP_BINARY);
        }
        check(good, "%s: a client's 70000-byte and 3-byte messages round trip", ps[j]->name);
        berth_bytebuf_free(&b);
    }
    berth_free(data);
}

int main(void)
{
    test_handshake();
    test_select();
    test_rfc_frames();
    test_frame_errors();
    test_messages();
    test_channels();
    printf("1..%d\n", ntest);
    return nfail != 0;
}
