/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/ttrpc: ttrpc's message header and its Request/Response envelopes
 * (io/ttrpc.h). The envelopes are three small protobuf messages, so a
 * minimal wire-format walker here reads them instead of generated code:
 * varints, length-delimited fields and fixed-width fields to skip. Every
 * length from the peer is checked against what remains before it is used.
 */
#include "io/ttrpc.h"

#include <errno.h>
#include <string.h>

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

void berth_ttrpc_hdr_put(uint8_t out[BERTH_TTRPC_HEADER_LEN], const berth_ttrpc_hdr_t *h)
{
    out[0] = (uint8_t)(h->length >> 24);
    out[1] = (uint8_t)(h->length >> 16);
    out[2] = (uint8_t)(h->length >> 8);
    out[3] = (uint8_t)h->length;
    out[4] = (uint8_t)(h->stream_id >> 24);
    out[5] = (uint8_t)(h->stream_id >> 16);
    out[6] = (uint8_t)(h->stream_id >> 8);
    out[7] = (uint8_t)h->stream_id;
    out[8] = h->type;
    out[9] = h->flags;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void berth_ttrpc_hdr_get(const uint8_t in[BERTH_TTRPC_HEADER_LEN], berth_ttrpc_hdr_t *h)
{
    h->length = get_be32(in);
    h->stream_id = get_be32(in + 4);
    h->type = in[8];
    h->flags = in[9];
}

ssize_t berth_ttrpc_parse(const uint8_t *buf, size_t len, berth_ttrpc_msg_t *msg, berth_err_t *err)
{
    if (len < BERTH_TTRPC_HEADER_LEN)
        return 0;
    berth_ttrpc_hdr_t h;
    berth_ttrpc_hdr_get(buf, &h);
    if (h.length > BERTH_TTRPC_MAX_MSG)
        return berth_err_make(err, EMSGSIZE, BERTH_ERR_EXHAUSTED,
                              "ttrpc message of %u bytes on stream %u exceeds the %u-byte limit",
                              h.length, h.stream_id, BERTH_TTRPC_MAX_MSG);
    if (len - BERTH_TTRPC_HEADER_LEN < h.length)
        return 0;
    msg->hdr = h;
    msg->body = buf + BERTH_TTRPC_HEADER_LEN;
    return (ssize_t)(BERTH_TTRPC_HEADER_LEN + h.length);
}

/* ---- protobuf writing ---- */

/* Size of a length-delimited field with a one-byte key (fields 1..15). */
static size_t len_field_size(size_t n)
{
    return 1 + berth_varint_len(n) + n;
}

static void put_len_field(berth_bytebuf_t *b, unsigned field, const void *p, size_t n)
{
    berth_bytebuf_put_varint(b, (uint64_t)field << 3 | WIRE_LEN);
    berth_bytebuf_put_varint(b, n);
    berth_bytebuf_put(b, p, n);
}

static void put_header(berth_bytebuf_t *out, size_t body, uint32_t stream_id, uint8_t type)
{
    uint8_t h[BERTH_TTRPC_HEADER_LEN];
    berth_ttrpc_hdr_put(h, &(berth_ttrpc_hdr_t){
                                   .length = (uint32_t)body, .stream_id = stream_id, .type = type});
    berth_bytebuf_put(out, h, sizeof(h));
}

static int too_big(berth_err_t *err, const char *what, size_t n)
{
    return berth_err_make(err, EMSGSIZE, BERTH_ERR_EXHAUSTED,
                          "ttrpc %s of %zu bytes exceeds the %u-byte limit", what, n,
                          BERTH_TTRPC_MAX_MSG);
}

int berth_ttrpc_request_encode(berth_bytebuf_t *out, uint32_t stream_id, const char *service,
                               const char *method, const uint8_t *payload, size_t plen,
                               int64_t timeout_nano, berth_err_t *err)
{
    size_t sl = strlen(service), ml = strlen(method);
    if (plen > BERTH_TTRPC_MAX_MSG || sl > BERTH_TTRPC_MAX_MSG || ml > BERTH_TTRPC_MAX_MSG)
        return too_big(err, "request", plen);
    /* proto3 leaves out empty and zero fields, so does berth */
    size_t body = (sl ? len_field_size(sl) : 0) + (ml ? len_field_size(ml) : 0) +
                  (plen ? len_field_size(plen) : 0) +
                  (timeout_nano ? 1 + berth_varint_len((uint64_t)timeout_nano) : 0);
    if (body > BERTH_TTRPC_MAX_MSG)
        return too_big(err, "request", body);
    put_header(out, body, stream_id, BERTH_TTRPC_REQUEST);
    if (sl)
        put_len_field(out, 1, service, sl);
    if (ml)
        put_len_field(out, 2, method, ml);
    if (plen)
        put_len_field(out, 3, payload, plen);
    if (timeout_nano) {
        berth_bytebuf_put_varint(out, 4 << 3 | WIRE_VARINT);
        berth_bytebuf_put_varint(out, (uint64_t)timeout_nano);
    }
    return 0;
}

int berth_ttrpc_response_encode(berth_bytebuf_t *out, uint32_t stream_id, int32_t code,
                                const char *message, const uint8_t *payload, size_t plen,
                                berth_err_t *err)
{
    size_t msgl = message ? strlen(message) : 0;
    if (plen > BERTH_TTRPC_MAX_MSG || msgl > BERTH_TTRPC_MAX_MSG)
        return too_big(err, "response", plen + msgl);
    /* int32 negatives are sign-extended to ten bytes on the wire */
    uint64_t wcode = (uint64_t)(int64_t)code;
    size_t status = (code ? 1 + berth_varint_len(wcode) : 0) + (msgl ? len_field_size(msgl) : 0);
    size_t body = (status ? len_field_size(status) : 0) + (plen ? len_field_size(plen) : 0);
    if (body > BERTH_TTRPC_MAX_MSG)
        return too_big(err, "response", body);
    put_header(out, body, stream_id, BERTH_TTRPC_RESPONSE);
    if (status) {
        berth_bytebuf_put_varint(out, 1 << 3 | WIRE_LEN);
        berth_bytebuf_put_varint(out, status);
        if (code) {
            berth_bytebuf_put_varint(out, 1 << 3 | WIRE_VARINT);
            berth_bytebuf_put_varint(out, wcode);
        }
        if (msgl)
            put_len_field(out, 2, message, msgl);
    }
    if (plen)
        put_len_field(out, 2, payload, plen);
    return 0;
}

/* ---- protobuf reading ---- */

typedef struct field {
    uint32_t num;
    int wire;
    uint64_t v;          /* WIRE_VARINT, WIRE_I64, WIRE_I32 */
    berth_ttrpc_str_t s; /* WIRE_LEN */
} field_t;

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (*p == end)
            return -1;
        uint8_t c = *(*p)++;
        r |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1; /* more than ten bytes */
}

/* Reads the next field; 1 when one was read, 0 at the end, -1 malformed. */
static int next_field(const uint8_t **p, const uint8_t *end, field_t *f)
{
    if (*p == end)
        return 0;
    uint64_t key;
    if (get_varint(p, end, &key) < 0 || key >> 3 == 0 || key >> 3 > UINT32_MAX)
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    switch (f->wire) {
    case WIRE_VARINT:
        return get_varint(p, end, &f->v) < 0 ? -1 : 1;
    case WIRE_I64:
    case WIRE_I32: {
        size_t w = f->wire == WIRE_I64 ? 8 : 4;
        if ((size_t)(end - *p) < w)
            return -1;
        f->v = 0;
        for (size_t i = 0; i < w; i++)
            f->v |= (uint64_t)(*p)[i] << (8 * i);
        *p += w;
        return 1;
    }
    case WIRE_LEN: {
        uint64_t n;
        if (get_varint(p, end, &n) < 0 || n > (uint64_t)(end - *p))
            return -1;
        f->s = (berth_ttrpc_str_t){*p, (size_t)n};
        *p += n;
        return 1;
    }
    default:
        return -1; /* groups (3, 4) are not used by ttrpc; 6, 7 do not exist */
    }
}

static int malformed(berth_err_t *err, const char *what)
{
    return berth_err_make(err, EPROTO, BERTH_ERR_INVALID, "malformed ttrpc %s", what);
}

int berth_ttrpc_request_decode(const uint8_t *body, size_t len, berth_ttrpc_request_t *req,
                               berth_err_t *err)
{
    *req = (berth_ttrpc_request_t){0};
    const uint8_t *p = body, *end = body + len;
    field_t f;
    int r;
    while ((r = next_field(&p, end, &f)) > 0) {
        bool is_len = f.wire == WIRE_LEN;
        if (f.num == 1 && is_len)
            req->service = f.s;
        else if (f.num == 2 && is_len)
            req->method = f.s;
        else if (f.num == 3 && is_len)
            req->payload = f.s;
        else if (f.num == 4 && f.wire == WIRE_VARINT)
            req->timeout_nano = (int64_t)f.v;
        else if (f.num <= 4)
            return malformed(err, "request (a field of the wrong wire type)");
    }
    return r < 0 ? malformed(err, "request") : 0;
}

int berth_ttrpc_response_decode(const uint8_t *body, size_t len, berth_ttrpc_response_t *resp,
                                berth_err_t *err)
{
    *resp = (berth_ttrpc_response_t){0};
    const uint8_t *p = body, *end = body + len;
    field_t f;
    int r;
    while ((r = next_field(&p, end, &f)) > 0) {
        if (f.num == 2 && f.wire == WIRE_LEN) {
            resp->payload = f.s;
        } else if (f.num == 1 && f.wire == WIRE_LEN) {
            const uint8_t *sp = f.s.p, *se = f.s.p + f.s.len;
            field_t g;
            int q;
            while ((q = next_field(&sp, se, &g)) > 0) {
                if (g.num == 1 && g.wire == WIRE_VARINT)
                    resp->code = (int32_t)g.v;
                else if (g.num == 2 && g.wire == WIRE_LEN)
                    resp->message = g.s;
            }
            if (q < 0)
                return malformed(err, "response status");
        } else if (f.num <= 2) {
            return malformed(err, "response (a field of the wrong wire type)");
        }
    }
    return r < 0 ? malformed(err, "response") : 0;
}

bool berth_ttrpc_str_eq(berth_ttrpc_str_t v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && (n == 0 || memcmp(v.p, s, n) == 0);
}
