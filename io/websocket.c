/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 6455 for io/websocket.h: the handshake (SHA-1 from libcrypto), the
 * frame parser and encoders, base64, an incremental UTF-8 check and the k8s
 * channel protocols. Never reads past the bytes it was given and never
 * unmasks a payload twice: a frame is unmasked only when all of it is in,
 * in the same call that reports it consumed.
 */
#include "io/websocket.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* ---- base64 (RFC 4648, standard alphabet, padded) ---- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

static void b64_encode(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = (uint8_t)b64_chars[v >> 18];
        *out++ = (uint8_t)b64_chars[(v >> 12) & 63];
        *out++ = (uint8_t)b64_chars[(v >> 6) & 63];
        *out++ = (uint8_t)b64_chars[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        *out++ = (uint8_t)b64_chars[v >> 18];
        *out++ = (uint8_t)b64_chars[(v >> 12) & 63];
        *out++ = i + 1 < n ? (uint8_t)b64_chars[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
}

static int b64_val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes in[0..n) to out (which may be in itself: the output never
 * overtakes the input). Padding is required; CR and LF are skipped, as Go's
 * base64.StdEncoding does (k8s clients are Go or follow it). Returns the
 * decoded length or -1. */
static ssize_t b64_decode(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t o = 0, q = 0;
    uint32_t acc = 0;
    int pad = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        if (c == '\r' || c == '\n')
            continue;
        if (pad) {
            /* only more padding may follow a '=', and only to the quad's end */
            if (c != '=' || q == 0)
                return -1;
            pad++;
        } else if (c == '=') {
            if (q < 2)
                return -1;
            pad = 1;
        } else {
            int v = b64_val(c);
            if (v < 0)
                return -1;
            acc = acc << 6 | (uint32_t)v;
        }
        if (++q == 4) {
            if (pad)
                acc <<= 6 * pad;
            out[o++] = (uint8_t)(acc >> 16);
            if (pad < 2)
                out[o++] = (uint8_t)(acc >> 8);
            if (pad < 1)
                out[o++] = (uint8_t)acc;
            q = 0;
            acc = 0;
            if (pad) {
                /* the padded quad must be the last thing in the input */
                for (size_t j = i + 1; j < n; j++)
                    if (in[j] != '\r' && in[j] != '\n')
                        return -1;
                return (ssize_t)o;
            }
        }
    }
    return q == 0 ? (ssize_t)o : -1;
}

/* ---- UTF-8, checked incrementally across frames ----
 * The state is 0 between characters; inside one it packs the continuation
 * bytes still due (low byte) and the range the next one must fall in
 * (bits 8-15 and 16-23), which is how overlong forms, surrogates and code
 * points above U+10FFFF are refused (RFC 3629 §4). */

static uint32_t utf8_expect(uint32_t left, uint32_t lo, uint32_t hi)
{
    return left | lo << 8 | hi << 16;
}

static bool utf8_check(uint32_t *state, const uint8_t *s, size_t n)
{
    uint32_t st = *state;
    size_t i = 0;
    while (i < n) {
        if (st == 0) {
            /* ASCII runs, eight bytes at a time */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ULL)
                    break;
                i += 8;
            }
            if (i == n)
                break;
        }
        uint8_t c = s[i++];
        if (st != 0) {
            if (c < ((st >> 8) & 0xff) || c > ((st >> 16) & 0xff))
                return false;
            uint32_t left = (st & 0xff) - 1;
            st = left ? utf8_expect(left, 0x80, 0xbf) : 0;
        } else if (c < 0x80) {
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            st = utf8_expect(1, 0x80, 0xbf);
        } else if (c == 0xe0) {
            st = utf8_expect(2, 0xa0, 0xbf);
        } else if (c == 0xed) {
            st = utf8_expect(2, 0x80, 0x9f);
        } else if (c >= 0xe1 && c <= 0xef) {
            st = utf8_expect(2, 0x80, 0xbf);
        } else if (c == 0xf0) {
            st = utf8_expect(3, 0x90, 0xbf);
        } else if (c >= 0xf1 && c <= 0xf3) {
            st = utf8_expect(3, 0x80, 0xbf);
        } else if (c == 0xf4) {
            st = utf8_expect(3, 0x80, 0x8f);
        } else {
            return false;
        }
    }
    *state = st;
    return true;
}

/* ---- Handshake ---- */

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void berth_ws_accept_key(const char *key, size_t len, char accept[BERTH_WS_ACCEPT_LEN + 1])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    /* Failure means libcrypto could not allocate or lacks SHA-1: the same
     * class as an allocation failure, fatal in berth (io/digest.c too). */
    if (c == NULL || EVP_DigestInit_ex(c, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(c, key, len) != 1 ||
        EVP_DigestUpdate(c, ws_guid, sizeof(ws_guid) - 1) != 1 ||
        EVP_DigestFinal_ex(c, md, &n) != 1 || n != 20)
        abort();
    EVP_MD_CTX_free(c);
    b64_encode(md, 20, (uint8_t *)accept);
    accept[BERTH_WS_ACCEPT_LEN] = '\0';
}

bool berth_ws_is_upgrade(const berth_http_req_t *req)
{
    return berth_http_req_has_token(req, "Upgrade", "websocket");
}

static int reject(int *status, int code, berth_err_t *err, const char *msg)
{
    *status = code;
    return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "WebSocket handshake: %s", msg);
}

int berth_ws_handshake_check(const berth_http_req_t *req, char accept[BERTH_WS_ACCEPT_LEN + 1],
                             int *status, berth_err_t *err)
{
    if (strcmp(req->method, "GET") != 0)
        return reject(status, 405, err, "the method must be GET");
    if (req->version_minor < 1)
        return reject(status, 400, err, "HTTP/1.1 or later is needed");
    if (!berth_ws_is_upgrade(req))
        return reject(status, 400, err, "Upgrade does not name websocket");
    if (!berth_http_req_has_token(req, "Connection", "upgrade"))
        return reject(status, 400, err, "Connection does not name Upgrade");
    const char *version = berth_http_req_header(req, "Sec-WebSocket-Version");
    if (version == NULL)
        return reject(status, 400, err, "no Sec-WebSocket-Version");
    if (strcmp(version, "13") != 0 || berth_http_req_header_count(req, "Sec-WebSocket-Version") > 1)
        return reject(status, 426, err, "only Sec-WebSocket-Version 13 is supported");
    const char *key = berth_http_req_header(req, "Sec-WebSocket-Key");
    if (key == NULL || berth_http_req_header_count(req, "Sec-WebSocket-Key") != 1)
        return reject(status, 400, err, "needs exactly one Sec-WebSocket-Key");
    size_t klen = strlen(key);
    uint8_t raw[24];
    /* 16 bytes encode to exactly 24 characters */
    if (klen != 24 || b64_decode((const uint8_t *)key, klen, raw) != 16)
        return reject(status, 400, err, "Sec-WebSocket-Key is not 16 bytes in base64");
    berth_ws_accept_key(key, klen, accept);
    return 0;
}

int berth_ws_select_protocol(const berth_http_req_t *req, const char *const *supported, size_t n,
                             bool client_first)
{
    berth_http_iter_t it = {0};
    const char *tok;
    size_t len;
    bool offered = false;
    int best = BERTH_WS_PROTO_NO_MATCH;
    while (berth_http_req_tokens(req, "Sec-WebSocket-Protocol", &it, &tok, &len)) {
        offered = true;
        for (size_t i = 0; i < n; i++) {
            if (strlen(supported[i]) != len || memcmp(supported[i], tok, len) != 0)
                continue;
            if (client_first)
                return (int)i;
            if (best < 0 || (int)i < best)
                best = (int)i;
        }
    }
    return offered ? best : BERTH_WS_PROTO_NONE;
}

void berth_ws_put_accept(berth_bytebuf_t *b, const char *accept, const char *protocol)
{
    berth_http_header_t h[4] = {
            {.name = "Upgrade", .value = "websocket"},
            {.name = "Connection", .value = "Upgrade"},
            {.name = "Sec-WebSocket-Accept", .value = accept},
            {.name = "Sec-WebSocket-Protocol", .value = protocol},
    };
    berth_http_put_switching(b, h, protocol && protocol[0] ? 4 : 3);
}

void berth_ws_put_reject(berth_bytebuf_t *b, int status, const char *msg)
{
    berth_http_header_t h[2] = {
            {.name = "Connection", .value = "close"},
            {.name = "Sec-WebSocket-Version", .value = "13"},
    };
    size_t n = strlen(msg);
    uint8_t *body = berth_malloc(n + 1);
    memcpy(body, msg, n);
    body[n] = '\n';
    berth_http_put_response(b, status, NULL, h, status == 426 ? 2 : 1, body, n + 1);
    berth_free(body);
}

/* ---- Frames ---- */

void berth_ws_parser_init(berth_ws_parser_t *p, bool server, size_t max_message)
{
    *p = (berth_ws_parser_t){
            .max_message = max_message ? max_message : BERTH_WS_MAX_MESSAGE_DEFAULT,
            .server = server,
    };
}

static ssize_t ws_fail(berth_ws_parser_t *p, uint16_t code, berth_err_t *err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static ssize_t ws_fail(berth_ws_parser_t *p, uint16_t code, berth_err_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool big = code == BERTH_WS_CLOSE_TOO_BIG;
    berth_err_makev(err, big ? EMSGSIZE : EPROTO, big ? BERTH_ERR_EXHAUSTED : BERTH_ERR_INVALID,
                    fmt, ap);
    va_end(ap);
    p->close_code = code;
    return -1;
}

/* XORs p[0..n) with the key, starting at key byte `off` (mod 4). */
static void unmask(uint8_t *p, size_t n, const uint8_t key[4], size_t off)
{
    uint8_t k[8];
    for (size_t i = 0; i < 8; i++)
        k[i] = key[(off + i) & 3];
    uint64_t k64;
    memcpy(&k64, k, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k64;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++)
        p[i] ^= k[i & 7];
}

/* Codes an endpoint may put in a close frame (RFC 6455 §7.4, and 1012-1014
 * as IANA registered them since). */
static bool close_code_ok(uint16_t c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

ssize_t berth_ws_parse(berth_ws_parser_t *p, uint8_t *buf, size_t len, berth_ws_frame_t *f,
                       berth_err_t *err)
{
    p->need = 2;
    if (len < 2)
        return 0;
    bool fin = buf[0] & 0x80;
    uint8_t op = buf[0] & 0x0f;
    bool masked = buf[1] & 0x80;
    uint64_t plen = buf[1] & 0x7f;
    bool control = op & 0x08;

    if (buf[0] & 0x70)
        return ws_fail(p, BERTH_WS_CLOSE_PROTOCOL, err,
                       "WebSocket frame: RSV bits set, no extension was negotiated");
    if (op != BERTH_WS_OP_CONT && op != BERTH_WS_OP_TEXT && op != BERTH_WS_OP_BINARY &&
        op != BERTH_WS_OP_CLOSE && op != BERTH_WS_OP_PING && op != BERTH_WS_OP_PONG)
        return ws_fail(p, BERTH_WS_CLOSE_PROTOCOL, err, "WebSocket frame: reserved opcode %u", op);
    if (control && !fin)
        return ws_fail(p, BERTH_WS_CLOSE_PROTOCOL, err,
                       "WebSocket frame: fragmented control frame");
    if (control && plen > 125)
        return ws_fail(p, BERTH_WS_CLOSE_PROTOCOL, err,
                       "WebSocket frame: control frame longer than 125 bytes");
    if (op == BERTH_WS_OP_CONT && p->msg_opcode == 0)
        return ws_fail(p, BERTH_WS_CLOSE_PROTOCOL, err,
                       "WebSocket frame: continuation without a message begun");
    if (!control && op != BERTH_WS_OP_CONT && p->msg_opcode != 0)
        return ws_fail(p, BERTH_WS_CLOSE_PROTOCOL, err,
                       "WebSocket frame: new message inside a fragmented one");
    if (masked != p->server)
        return ws_fail(p, BERTH_WS_CLOSE_PROTOCOL, err,
                       p->server ? "WebSocket frame: a client's frame must be masked"
                                 : "WebSocket frame: a server's frame must not be masked");

    size_t hdr = 2;
    if (plen == 126) {
        hdr += 2;
        if (len < hdr) {
            p->need = hdr + (masked ? 4 : 0);
            return 0;
        }
        plen = (uint64_t)buf[2] << 8 | buf[3];
    } else if (plen == 127) {
        hdr += 8;
        if (len < hdr) {
            p->need = hdr + (masked ? 4 : 0);
            return 0;
        }
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | buf[2 + i];
        if (plen >> 63)
            return ws_fail(p, BERTH_WS_CLOSE_PROTOCOL, err,
                           "WebSocket frame: 64-bit length with its top bit set");
    }
    const uint8_t *key = buf + hdr;
    if (masked)
        hdr += 4;
    if (!control && (plen > p->max_message || p->msg_len + plen > p->max_message))
        return ws_fail(p, BERTH_WS_CLOSE_TOO_BIG, err, "WebSocket message longer than %zu bytes",
                       p->max_message);
    /* plen <= max_message (or 125) here, so this cannot overflow */
    p->need = hdr + (size_t)plen;
    if (len < p->need)
        return 0;

    uint8_t *payload = buf + hdr;
    size_t n = (size_t)plen;
    if (masked)
        unmask(payload, n, key, 0);

    *f = (berth_ws_frame_t){
            .opcode = op,
            .msg_opcode = op == BERTH_WS_OP_CONT ? p->msg_opcode : op,
            .fin = fin,
            .payload = payload,
            .len = n,
    };
    if (op == BERTH_WS_OP_CLOSE) {
        if (n == 1)
            return ws_fail(p, BERTH_WS_CLOSE_PROTOCOL, err, "WebSocket close frame of 1 byte");
        f->close_code = BERTH_WS_CLOSE_NO_STATUS;
        if (n >= 2) {
            f->close_code = (uint16_t)(payload[0] << 8 | payload[1]);
            if (!close_code_ok(f->close_code))
                return ws_fail(p, BERTH_WS_CLOSE_PROTOCOL, err,
                               "WebSocket close frame with code %u, which may not be sent",
                               f->close_code);
            uint32_t st = 0;
            if (!utf8_check(&st, payload + 2, n - 2) || st != 0)
                return ws_fail(p, BERTH_WS_CLOSE_BAD_DATA, err,
                               "WebSocket close reason is not UTF-8");
            f->close_reason = (const char *)payload + 2;
            f->close_reason_len = n - 2;
        }
    }
    if (f->msg_opcode == BERTH_WS_OP_TEXT && !p->no_utf8_check) {
        uint32_t st = op == BERTH_WS_OP_CONT ? p->utf8 : 0;
        if (!utf8_check(&st, payload, n) || (fin && st != 0))
            return ws_fail(p, BERTH_WS_CLOSE_BAD_DATA, err, "WebSocket text message is not UTF-8");
        p->utf8 = st;
    }
    if (!control) {
        if (fin) {
            p->msg_opcode = 0;
            p->msg_len = 0;
            p->utf8 = 0;
        } else {
            p->msg_opcode = f->msg_opcode;
            p->msg_len += n;
        }
    }
    p->need = 2;
    return (ssize_t)(hdr + n);
}

/* ---- Encoders ---- */

void berth_ws_put_header(berth_bytebuf_t *b, uint8_t opcode, bool fin, uint64_t len,
                         const uint8_t *mask)
{
    uint8_t h[BERTH_WS_MAX_HEADER];
    size_t n = 0;
    uint8_t m = mask ? 0x80 : 0;
    h[n++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        h[n++] = m | (uint8_t)len;
    } else if (len <= 0xffff) {
        h[n++] = m | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)(len >> (8 * i));
    }
    if (mask) {
        memcpy(h + n, mask, 4);
        n += 4;
    }
    berth_bytebuf_put(b, h, n);
}

/* Appends n bytes (masked with key from `off` on when key is not NULL). */
static void put_masked(berth_bytebuf_t *b, const void *data, size_t n, const uint8_t *key,
                       size_t off)
{
    if (n == 0)
        return;
    uint8_t *d = berth_bytebuf_reserve(b, n);
    memcpy(d, data, n);
    if (key)
        unmask(d, n, key, off);
    b->len += n;
}

void berth_ws_put_frame(berth_bytebuf_t *b, uint8_t opcode, bool fin, const void *payload,
                        size_t len, const uint8_t *mask)
{
    berth_ws_put_header(b, opcode, fin, len, mask);
    put_masked(b, payload, len, mask, 0);
}

size_t berth_ws_close_payload(uint16_t code, const char *reason, uint8_t out[125])
{
    if (code == 0)
        return 0;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    size_t n = reason ? strlen(reason) : 0;
    if (n > 123) {
        n = 123;
        /* back up to the start of a character: never cut one in two */
        while (n > 0 && ((uint8_t)reason[n] & 0xc0) == 0x80)
            n--;
    }
    if (n > 0)
        memcpy(out + 2, reason, n);
    return 2 + n;
}

void berth_ws_put_binary(berth_bytebuf_t *b, const void *data, size_t len)
{
    berth_ws_put_frame(b, BERTH_WS_OP_BINARY, true, data, len, NULL);
}

void berth_ws_put_text(berth_bytebuf_t *b, const void *data, size_t len)
{
    berth_ws_put_frame(b, BERTH_WS_OP_TEXT, true, data, len, NULL);
}

void berth_ws_put_ping(berth_bytebuf_t *b, const void *data, size_t len)
{
    berth_ws_put_frame(b, BERTH_WS_OP_PING, true, data, len > 125 ? 125 : len, NULL);
}

void berth_ws_put_pong(berth_bytebuf_t *b, const void *data, size_t len)
{
    berth_ws_put_frame(b, BERTH_WS_OP_PONG, true, data, len > 125 ? 125 : len, NULL);
}

void berth_ws_put_close(berth_bytebuf_t *b, uint16_t code, const char *reason)
{
    uint8_t pl[125];
    size_t n = berth_ws_close_payload(code, reason, pl);
    berth_ws_put_frame(b, BERTH_WS_OP_CLOSE, true, pl, n, NULL);
}

/* ---- The k8s channel protocols ---- */

static const berth_ws_chan_proto_t chan_protos[] = {
        {.name = ""},
        {.name = "channel.k8s.io"},
        {.name = "base64.channel.k8s.io", .base64 = true},
        {.name = "v4.channel.k8s.io", .status_json = true},
        {.name = "v4.base64.channel.k8s.io", .base64 = true, .status_json = true},
        {.name = "v5.channel.k8s.io", .status_json = true, .close_signal = true},
};

/* Binary before base64 within a version: a client that offers both can
 * take either, and binary costs a third less on the wire. */
const char *const berth_ws_remotecommand_protocols[] = {
        "v5.channel.k8s.io", "v4.channel.k8s.io",     "v4.base64.channel.k8s.io",
        "channel.k8s.io",    "base64.channel.k8s.io",
};
const size_t berth_ws_remotecommand_nprotocols = BERTH_ARRAY_LEN(berth_ws_remotecommand_protocols);
const char *const berth_ws_portforward_protocols[] = {
        "v4.channel.k8s.io",
        "v4.base64.channel.k8s.io",
};
const size_t berth_ws_portforward_nprotocols = BERTH_ARRAY_LEN(berth_ws_portforward_protocols);

const berth_ws_chan_proto_t *berth_ws_chan_proto(const char *name)
{
    if (name == NULL)
        return &chan_protos[0];
    for (size_t i = 0; i < BERTH_ARRAY_LEN(chan_protos); i++)
        if (strcmp(chan_protos[i].name, name) == 0)
            return &chan_protos[i];
    return NULL;
}

void berth_ws_chan_put(berth_bytebuf_t *b, const berth_ws_chan_proto_t *proto, uint8_t channel,
                       const void *data, size_t len, const uint8_t *mask)
{
    if (proto == NULL || !proto->base64) {
        berth_ws_put_header(b, BERTH_WS_OP_BINARY, true, (uint64_t)len + 1, mask);
        put_masked(b, &channel, 1, mask, 0);
        put_masked(b, data, len, mask, 1);
        return;
    }
    /* the server's own channel numbers; '0' + 80 would leave ASCII */
    assert(channel < 80);
    size_t n = 1 + b64_len(len);
    berth_ws_put_header(b, BERTH_WS_OP_TEXT, true, n, mask);
    uint8_t *d = berth_bytebuf_reserve(b, n);
    d[0] = (uint8_t)('0' + channel);
    b64_encode(data, len, d + 1);
    if (mask)
        unmask(d, n, mask, 0);
    b->len += n;
}

void berth_ws_chan_put_close(berth_bytebuf_t *b, uint8_t channel, const uint8_t *mask)
{
    uint8_t m[2] = {BERTH_WS_CHAN_CLOSE, channel};
    berth_ws_put_frame(b, BERTH_WS_OP_BINARY, true, m, 2, mask);
}

int berth_ws_chan_decode(const berth_ws_chan_proto_t *proto, uint8_t *msg, size_t len,
                         berth_ws_chan_msg_t *out, berth_err_t *err)
{
    if (len == 0)
        return 0;
    if (proto == NULL)
        proto = &chan_protos[0];
    *out = (berth_ws_chan_msg_t){.data = msg + 1, .len = len - 1};
    if (proto->close_signal && msg[0] == BERTH_WS_CHAN_CLOSE) {
        if (len != 2)
            return berth_err_make(err, EPROTO, BERTH_ERR_INVALID,
                                  "k8s channel CLOSE signal of %zu bytes, not 2", len);
        out->close = true;
        out->channel = msg[1];
        out->len = 0;
        return 1;
    }
    if (!proto->base64) {
        out->channel = msg[0];
        return 1;
    }
    out->channel = (uint8_t)(msg[0] - '0');
    ssize_t n = b64_decode(msg + 1, len - 1, msg + 1);
    if (n < 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "k8s channel %u: message is not valid base64", out->channel);
    out->len = (size_t)n;
    return 1;
}
