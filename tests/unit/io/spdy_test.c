/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/spdy: the SPDY/3.1 codec. The dictionary against its adler32; frames
 * assembled by hand from the draft's diagrams (fixed-size control frames,
 * DATA, and header blocks as zlib stored blocks, so no compressor is
 * involved) against the encoders and the parser; every frame type through
 * encode -> parse between two sessions, both ways; header blocks across
 * frames sharing one compression context; bytes fed one at a time; and
 * every error path, with header blocks a stand-in peer compresses (a plain
 * zlib stream with the dictionary) to break the rules on purpose; and what
 * a real client sent: the fuzz seed spdystream-client holds the bytes a
 * github.com/moby/spdystream v0.5.1 client wrote to a server built on this
 * codec (three streams opened, 1100 bytes written on each and half-closed,
 * a PING, the echo of the server's PING, GOAWAY).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/bytebuf.h"
#include "io/spdy.h"
#include "tests/unit/check.h"

#define U8(...) ((const uint8_t[]){__VA_ARGS__})
#define LEN(...) sizeof((const uint8_t[]){__VA_ARGS__})

static bool bytes_eq(const berth_bytebuf_t *b, const uint8_t *want, size_t n)
{
    return berth_bytebuf_pending(b) == n && memcmp(b->data + b->off, want, n) == 0;
}

/* Parses exactly one whole frame out of buf; false (and a diagnostic) if
 * the parser wanted anything else. */
static bool parse_all(berth_spdy_t *s, const uint8_t *buf, size_t n, berth_spdy_frame_t *f)
{
    berth_err_t err = NULL;
    ssize_t r = berth_spdy_parse(s, buf, n, f, &err);
    if (r != (ssize_t)n) {
        printf("# parse returned %zd of %zu: %s\n", r, n, err ? err->msg : "-");
        berth_err_free(&err);
        return false;
    }
    return true;
}

/* Parses the buffer's first frame and consumes it. */
static bool parse_buf(berth_spdy_t *s, berth_bytebuf_t *b, berth_spdy_frame_t *f)
{
    berth_err_t err = NULL;
    ssize_t r = berth_spdy_parse(s, b->data + b->off, berth_bytebuf_pending(b), f, &err);
    if (r <= 0) {
        printf("# parse returned %zd: %s\n", r, err ? err->msg : "-");
        berth_err_free(&err);
        return false;
    }
    berth_bytebuf_consume(b, (size_t)r);
    return true;
}

/* Expects -1 from a fresh session on buf; returns the error (owned). */
static berth_err_t parse_fails(berth_spdy_t *s, const uint8_t *buf, size_t n)
{
    berth_spdy_frame_t f = {0};
    berth_err_t err = NULL;
    ssize_t r = berth_spdy_parse(s, buf, n, &f, &err);
    if (r != -1 || err == NULL) {
        printf("# expected -1 with an error, got %zd\n", r);
        berth_spdy_frame_clear(&f);
        return NULL;
    }
    bool clean = f.headers == NULL && f.settings == NULL && f.block_ == NULL;
    if (!clean)
        printf("# a failed parse left allocations in the frame\n");
    berth_spdy_frame_clear(&f);
    return clean ? err : (berth_err_free(&err), NULL);
}

static bool err_says(berth_err_t e, int kind, const char *part)
{
    bool ok = e != NULL && e->kind == kind && strstr(e->msg, part) != NULL;
    if (!ok)
        printf("# error: %s (%s), wanted %s with \"%s\"\n", e ? e->msg : "none",
               e ? berth_err_kind_name(e->kind) : "-", berth_err_kind_name(kind), part);
    return ok;
}

static bool header_is(const berth_spdy_header_t *h, const char *name, const void *value,
                      size_t vlen)
{
    return h->name_len == strlen(name) && memcmp(h->name, name, h->name_len) == 0 &&
           h->name[h->name_len] == '\0' && h->value_len == vlen &&
           memcmp(h->value, value, vlen) == 0 && h->value[vlen] == '\0';
}

/* ---- a stand-in peer: its own zlib stream, any block, any flush ---- */

static z_stream peer;

static void peer_reset(void)
{
    deflateEnd(&peer);
    memset(&peer, 0, sizeof(peer));
    size_t dlen;
    const uint8_t *dict = berth_spdy_dictionary(&dlen);
    if (deflateInit2(&peer, 6, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
        deflateSetDictionary(&peer, dict, (uInt)dlen) != Z_OK)
        abort();
}

static void blk_pair(berth_bytebuf_t *b, const char *name, size_t nlen, const char *v, size_t vlen)
{
    berth_bytebuf_put_be32(b, (uint32_t)nlen);
    berth_bytebuf_put(b, name, nlen);
    berth_bytebuf_put_be32(b, (uint32_t)vlen);
    berth_bytebuf_put(b, v, vlen);
}

static void put_control(berth_bytebuf_t *out, uint16_t type, uint8_t flags, uint32_t len)
{
    berth_bytebuf_put_be16(out, 0x8003);
    berth_bytebuf_put_be16(out, type);
    berth_bytebuf_put_u8(out, flags);
    berth_bytebuf_put_be24(out, len);
}

/* A header frame whose block is `blk` compressed by the stand-in peer. */
static void peer_frame(berth_bytebuf_t *out, uint16_t type, uint32_t stream_id,
                       const berth_bytebuf_t *blk, int flush)
{
    uint8_t z[70000];
    peer.next_in = blk->data;
    peer.avail_in = (uInt)blk->len;
    peer.next_out = z;
    peer.avail_out = sizeof(z);
    if (deflate(&peer, flush) == Z_STREAM_ERROR || peer.avail_out == 0)
        abort();
    size_t zn = sizeof(z) - peer.avail_out;
    size_t fixed = type == BERTH_SPDY_SYN_STREAM ? 10 : 4;
    put_control(out, type, 0, (uint32_t)(fixed + zn));
    berth_bytebuf_put_be32(out, stream_id);
    if (type == BERTH_SPDY_SYN_STREAM) {
        berth_bytebuf_put_be32(out, 0);
        berth_bytebuf_put_be16(out, 0);
    }
    berth_bytebuf_put(out, z, zn);
}

/* ---- the dictionary and hand-assembled frames ---- */

static void test_dictionary(void)
{
    size_t n;
    const uint8_t *d = berth_spdy_dictionary(&n);
    check(n == 1423, "dictionary: 1423 bytes (got %zu)", n);
    check(adler32(1, d, (uInt)n) == 0xe3c6a7c2, "dictionary: adler32 0xe3c6a7c2 (got %#lx)",
          adler32(1, d, (uInt)n));
    ok(memcmp(d, "\0\0\0\7options\0\0\0\4head", 19) == 0, "dictionary: starts with options, head");
    ok(memcmp(d + n - 6, "enq=0.", 6) == 0, "dictionary: ends with enq=0.");
}

/* Fixed-size control frames and DATA, byte for byte from the draft's
 * diagrams: 1 bit control, 15 bits version (3), 16 bits type, 8 bits flags,
 * 24 bits length, then the fields. */
static void test_fixed_vectors(void)
{
    berth_spdy_t *s = berth_spdy_new();
    berth_bytebuf_t b = {0};
    berth_spdy_frame_t f = {0};

    static const uint8_t ping[] = {0x80, 0x03, 0x00, 0x06, 0x00, 0x00,
                                   0x00, 0x04, 0x01, 0x02, 0x03, 0x04};
    berth_spdy_put_ping(&b, 0x01020304);
    ok(bytes_eq(&b, ping, sizeof(ping)), "vector: PING 0x01020304");
    ok(parse_all(s, ping, sizeof(ping), &f) && f.type == BERTH_SPDY_PING && f.wire_type == 6 &&
               f.ping_id == 0x01020304 && f.flags == 0,
       "vector: PING parses");
    berth_spdy_frame_clear(&f);

    static const uint8_t rst[] = {0x80, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08,
                                  0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x03};
    b.off = b.len = 0;
    berth_spdy_put_rst_stream(&b, 5, BERTH_SPDY_REFUSED_STREAM);
    ok(bytes_eq(&b, rst, sizeof(rst)), "vector: RST_STREAM 5 REFUSED_STREAM");
    ok(parse_all(s, rst, sizeof(rst), &f) && f.type == BERTH_SPDY_RST_STREAM && f.stream_id == 5 &&
               f.status == BERTH_SPDY_REFUSED_STREAM,
       "vector: RST_STREAM parses");
    berth_spdy_frame_clear(&f);

    static const uint8_t goaway[] = {0x80, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00, 0x08,
                                     0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x01};
    b.off = b.len = 0;
    berth_spdy_put_goaway(&b, 7, BERTH_SPDY_GOAWAY_PROTOCOL_ERROR);
    ok(bytes_eq(&b, goaway, sizeof(goaway)), "vector: GOAWAY 7 PROTOCOL_ERROR");
    ok(parse_all(s, goaway, sizeof(goaway), &f) && f.type == BERTH_SPDY_GOAWAY &&
               f.last_good_id == 7 && f.status == 1,
       "vector: GOAWAY parses");
    berth_spdy_frame_clear(&f);

    static const uint8_t wu[] = {0x80, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08,
                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
    b.off = b.len = 0;
    berth_spdy_put_window_update(&b, 0, 65536);
    ok(bytes_eq(&b, wu, sizeof(wu)), "vector: WINDOW_UPDATE session +65536");
    ok(parse_all(s, wu, sizeof(wu), &f) && f.type == BERTH_SPDY_WINDOW_UPDATE && f.stream_id == 0 &&
               f.delta == 65536,
       "vector: WINDOW_UPDATE parses");
    berth_spdy_frame_clear(&f);

    /* two entries: flags(8) id(24) value(32) each */
    static const uint8_t settings[] = {0x80, 0x03, 0x00, 0x04, 0x01, 0x00, 0x00, 0x14, 0x00, 0x00,
                                       0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x64,
                                       0x01, 0x00, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00};
    berth_spdy_setting_t sv[] = {
            {.id = BERTH_SPDY_SETTINGS_MAX_CONCURRENT_STREAMS, .value = 100},
            {.id = BERTH_SPDY_SETTINGS_INITIAL_WINDOW_SIZE,
             .flags = BERTH_SPDY_SETTINGS_PERSIST_VALUE,
             .value = 65536},
    };
    b.off = b.len = 0;
    berth_spdy_put_settings(&b, BERTH_SPDY_FLAG_CLEAR_SETTINGS, sv, 2);
    ok(bytes_eq(&b, settings, sizeof(settings)), "vector: SETTINGS with two entries");
    ok(parse_all(s, settings, sizeof(settings), &f) && f.type == BERTH_SPDY_SETTINGS &&
               f.flags == BERTH_SPDY_FLAG_CLEAR_SETTINGS && f.nsettings == 2 &&
               f.settings[0].id == 4 && f.settings[0].flags == 0 && f.settings[0].value == 100 &&
               f.settings[1].id == 7 && f.settings[1].flags == 1 && f.settings[1].value == 65536,
       "vector: SETTINGS parses");
    berth_spdy_frame_clear(&f);

    /* DATA: 0 bit, 31 bits stream id, 8 bits flags, 24 bits length */
    static const uint8_t data[] = {0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x02, 'h', 'i'};
    b.off = b.len = 0;
    berth_spdy_put_data(&b, 3, BERTH_SPDY_FLAG_FIN, "hi", 2);
    ok(bytes_eq(&b, data, sizeof(data)), "vector: DATA stream 3 FIN \"hi\"");
    ok(parse_all(s, data, sizeof(data), &f) && f.type == BERTH_SPDY_DATA && f.stream_id == 3 &&
               f.flags == BERTH_SPDY_FLAG_FIN && f.len == 2 && f.data == data + 8,
       "vector: DATA parses, payload in place");
    berth_spdy_frame_clear(&f);
    b.off = b.len = 0;
    berth_spdy_put_data_header(&b, 3, BERTH_SPDY_FLAG_FIN, 2);
    ok(bytes_eq(&b, data, 8), "vector: DATA header alone");

    berth_bytebuf_free(&b);
    berth_spdy_free(s);
}

/* The first SYN_REPLY of a session: its block opens the zlib stream, whose
 * header (RFC 1950) is CMF 0x38 (deflate, 2 KiB window), FLG 0xea (level
 * 9, FDICT; 0x38ea % 31 == 0) and the dictionary's adler32; the rest must
 * inflate, with the dictionary, to an empty name/value block. */
static void test_first_block(void)
{
    berth_spdy_t *s = berth_spdy_new();
    berth_bytebuf_t b = {0};
    berth_err_t err = NULL;
    ok(berth_spdy_put_syn_reply(s, &b, 1, 0, NULL, 0, &err) == 0, "SYN_REPLY with no headers");
    static const uint8_t head[] = {0x80, 0x03, 0x00, 0x02, 0x00};
    static const uint8_t zhead[] = {0x00, 0x00, 0x00, 0x01, 0x38, 0xea, 0xe3, 0xc6, 0xa7, 0xc2};
    size_t n = berth_bytebuf_pending(&b);
    uint32_t len = (uint32_t)b.data[5] << 16 | b.data[6] << 8 | b.data[7];
    ok(n > 18 && memcmp(b.data, head, 5) == 0 && len == n - 8,
       "first block: control header, type 2, flags 0, length of the rest");
    ok(memcmp(b.data + 8, zhead, sizeof(zhead)) == 0,
       "first block: stream 1, zlib header 38 ea, DICTID e3c6a7c2");

    z_stream z = {0};
    uint8_t out[64];
    size_t dlen;
    const uint8_t *dict = berth_spdy_dictionary(&dlen);
    inflateInit(&z);
    z.next_in = b.data + 12;
    z.avail_in = (uInt)(n - 12);
    z.next_out = out;
    z.avail_out = sizeof(out);
    int rc = inflate(&z, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
        inflateSetDictionary(&z, dict, (uInt)dlen);
        rc = inflate(&z, Z_SYNC_FLUSH);
    }
    ok(rc == Z_OK && z.avail_in == 0 && sizeof(out) - z.avail_out == 4 &&
               memcmp(out, "\0\0\0\0", 4) == 0,
       "first block: inflates (plain zlib) to 0 pairs, every byte used");
    inflateEnd(&z);
    berth_bytebuf_free(&b);
    berth_spdy_free(s);
}

/* What a peer's first frames could be, with the header blocks as stored
 * (uncompressed) deflate blocks: zlib header 78 bb (32 KiB window, FDICT,
 * 0x78bb % 31 == 0), DICTID e3 c6 a7 c2, then per block 00 (not final,
 * stored), LEN and ~LEN little-endian, the bytes. The second frame goes on
 * in the same zlib stream, without a header. */
static const uint8_t hand_syn_stream[] = {
        0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x40, /* SYN_STREAM, 64 bytes */
        0x00, 0x00, 0x00, 0x01,                         /* stream 1 */
        0x00, 0x00, 0x00, 0x00,                         /* associated: none */
        0x40, 0x00,                                     /* priority 2, slot 0 */
        0x78, 0xbb, 0xe3, 0xc6, 0xa7, 0xc2,             /* zlib header, DICTID */
        0x00, 0x2b, 0x00, 0xd4, 0xff,                   /* stored, 43 bytes */
        0x00, 0x00, 0x00, 0x02,                         /* 2 pairs */
        0x00, 0x00, 0x00, 0x0a, 's',  't',  'r',  'e',  'a', 'm', 't', 'y', 'p', 'e', /* */
        0x00, 0x00, 0x00, 0x05, 'e',  'r',  'r',  'o',  'r',                          /* */
        0x00, 0x00, 0x00, 0x04, 'P',  'o',  'r',  't',                                /* */
        0x00, 0x00, 0x00, 0x04, '8',  '0',  '8',  '0',
};
static const uint8_t hand_headers[] = {
        0x80, 0x03, 0x00, 0x08, 0x01, 0x00, 0x00, 0x19, /* HEADERS, FIN, 25 bytes */
        0x00, 0x00, 0x00, 0x01,                         /* stream 1 */
        0x00, 0x10, 0x00, 0xef, 0xff,                   /* stored, 16 bytes */
        0x00, 0x00, 0x00, 0x01,                         /* 1 pair */
        0x00, 0x00, 0x00, 0x01, 'x',                    /* */
        0x00, 0x00, 0x00, 0x03, 'a',  0x00, 'b',        /* two values */
};

static void test_hand_blocks(void)
{
    berth_spdy_t *s = berth_spdy_new();
    berth_spdy_frame_t f = {0};
    size_t vlen = 0;
    ok(parse_all(s, hand_syn_stream, sizeof(hand_syn_stream), &f) &&
               f.type == BERTH_SPDY_SYN_STREAM && f.stream_id == 1 && f.assoc_id == 0 &&
               f.priority == 2 && f.flags == 0 && f.nheaders == 2,
       "hand SYN_STREAM: fields");
    ok(f.nheaders == 2 && header_is(&f.headers[0], "streamtype", "error", 5) &&
               header_is(&f.headers[1], "port", "8080", 4),
       "hand SYN_STREAM: headers, the name folded to lower case");
    const char *v = berth_spdy_header_get(&f, "StreamType", &vlen);
    ok(v && strcmp(v, "error") == 0 && vlen == 5, "header_get: any case");
    ok(berth_spdy_header_get(&f, "stream", NULL) == NULL, "header_get: no prefix match");
    berth_spdy_frame_clear(&f);
    ok(parse_all(s, hand_headers, sizeof(hand_headers), &f) && f.type == BERTH_SPDY_HEADERS &&
               f.flags == BERTH_SPDY_FLAG_FIN && f.nheaders == 1 &&
               header_is(&f.headers[0], "x", "a\0b", 3),
       "hand HEADERS: same zlib stream, a NUL-separated value kept raw");
    v = berth_spdy_header_get(&f, "x", &vlen);
    ok(v && strcmp(v, "a") == 0 && vlen == 1, "header_get: the first of several values");
    berth_spdy_frame_clear(&f);
    berth_spdy_free(s);

    /* the same bytes naming another dictionary */
    uint8_t bad[sizeof(hand_syn_stream)];
    memcpy(bad, hand_syn_stream, sizeof(bad));
    bad[23] ^= 0x01; /* the DICTID's last byte */
    s = berth_spdy_new();
    berth_err_t e = parse_fails(s, bad, sizeof(bad));
    ok(err_says(e, BERTH_ERR_INVALID, "dictionary"), "hand SYN_STREAM: another DICTID fails");
    berth_err_free(&e);
    berth_spdy_free(s);

    /* the HEADERS frame alone: a stream without its zlib header */
    s = berth_spdy_new();
    e = parse_fails(s, hand_headers, sizeof(hand_headers));
    ok(err_says(e, BERTH_ERR_INVALID, "decompress"), "hand HEADERS without the stream's start");
    berth_err_free(&e);
    berth_spdy_free(s);
}

/* ---- round trips ---- */

static const berth_spdy_header_t some_headers[] = {
        BERTH_SPDY_NV("streamtype", "stdout"),
        BERTH_SPDY_NV("X-Upper", "V"),
        BERTH_SPDY_NV("multi", "a\0bb"),
        BERTH_SPDY_NV("empty", ""),
};

/* All frame types from `from` to `to`, into wire order in b. */
static void put_all(berth_spdy_t *from, berth_bytebuf_t *b)
{
    berth_err_t err = NULL;
    berth_spdy_put_syn_stream(from, b, 1, 0, 3,
                              BERTH_SPDY_FLAG_FIN | BERTH_SPDY_FLAG_UNIDIRECTIONAL, some_headers,
                              BERTH_ARRAY_LEN(some_headers), &err);
    berth_spdy_put_syn_reply(from, b, 1, 0, NULL, 0, &err);
    berth_spdy_put_headers(from, b, 3, BERTH_SPDY_FLAG_FIN, some_headers + 1, 1, &err);
    berth_spdy_put_rst_stream(b, 3, BERTH_SPDY_CANCEL);
    berth_spdy_put_settings(b, 0, NULL, 0);
    berth_spdy_put_ping(b, 2);
    berth_spdy_put_goaway(b, 5, BERTH_SPDY_GOAWAY_OK);
    berth_spdy_put_window_update(b, 1, BERTH_SPDY_MAX_ID);
    berth_spdy_put_data(b, 1, 0, "payload", 7);
    berth_spdy_put_data(b, 1, BERTH_SPDY_FLAG_FIN, NULL, 0);
    /* CREDENTIAL (10), deprecated: unknown to 3.1, with flags and bytes */
    put_control(b, 10, 0x5a, 3);
    berth_bytebuf_put(b, "abc", 3);
    if (err)
        abort();
}

static const int all_types[] = {
        BERTH_SPDY_SYN_STREAM, BERTH_SPDY_SYN_REPLY, BERTH_SPDY_HEADERS, BERTH_SPDY_RST_STREAM,
        BERTH_SPDY_SETTINGS,   BERTH_SPDY_PING,      BERTH_SPDY_GOAWAY,  BERTH_SPDY_WINDOW_UPDATE,
        BERTH_SPDY_DATA,       BERTH_SPDY_DATA,      BERTH_SPDY_UNKNOWN,
};

static bool check_all(berth_spdy_frame_t *f, size_t i)
{
    if (f->type != all_types[i])
        return false;
    switch (i) {
    case 0:
        return f->stream_id == 1 && f->assoc_id == 0 && f->priority == 3 && f->flags == 3 &&
               f->nheaders == 4 && header_is(&f->headers[0], "streamtype", "stdout", 6) &&
               header_is(&f->headers[1], "x-upper", "V", 1) &&
               header_is(&f->headers[2], "multi", "a\0bb", 4) &&
               header_is(&f->headers[3], "empty", "", 0);
    case 1:
        return f->stream_id == 1 && f->flags == 0 && f->nheaders == 0;
    case 2:
        return f->stream_id == 3 && f->flags == BERTH_SPDY_FLAG_FIN && f->nheaders == 1 &&
               header_is(&f->headers[0], "x-upper", "V", 1);
    case 3:
        return f->stream_id == 3 && f->status == BERTH_SPDY_CANCEL;
    case 4:
        return f->nsettings == 0 && f->settings == NULL;
    case 5:
        return f->ping_id == 2;
    case 6:
        return f->last_good_id == 5 && f->status == BERTH_SPDY_GOAWAY_OK;
    case 7:
        return f->stream_id == 1 && f->delta == BERTH_SPDY_MAX_ID;
    case 8:
        return f->stream_id == 1 && f->flags == 0 && f->len == 7 &&
               memcmp(f->data, "payload", 7) == 0;
    case 9:
        return f->stream_id == 1 && f->flags == BERTH_SPDY_FLAG_FIN && f->len == 0;
    case 10:
        return f->wire_type == 10 && f->flags == 0x5a && f->len == 3 &&
               memcmp(f->data, "abc", 3) == 0;
    }
    return false;
}

static void test_round_trip(void)
{
    /* both directions of one connection: a's deflate feeds b's inflate and
     * b's deflate feeds a's, each stream carrying on across frames */
    berth_spdy_t *a = berth_spdy_new(), *b = berth_spdy_new();
    for (int round = 0; round < 2; round++) {
        berth_spdy_t *from = round ? b : a, *to = round ? a : b;
        berth_bytebuf_t buf = {0};
        put_all(from, &buf);
        for (size_t i = 0; i < BERTH_ARRAY_LEN(all_types); i++) {
            berth_spdy_frame_t f = {0};
            bool got = parse_buf(to, &buf, &f);
            check(got && check_all(&f, i), "round trip %s: %s", round ? "b->a" : "a->b",
                  berth_spdy_type_name(all_types[i]));
            berth_spdy_frame_clear(&f);
        }
        ok(berth_bytebuf_pending(&buf) == 0, "round trip: every byte used");
        berth_bytebuf_free(&buf);
    }
    berth_spdy_free(a);
    berth_spdy_free(b);
}

/* Header blocks in a row share one zlib stream: the same headers again
 * come out smaller (back-references into earlier blocks), and each still
 * parses only after the ones before it. */
static void test_shared_context(void)
{
    berth_spdy_t *a = berth_spdy_new(), *b = berth_spdy_new();
    berth_err_t err = NULL;
    size_t sizes[5];
    bool all = true;
    for (uint32_t i = 0; i < 5; i++) {
        berth_bytebuf_t buf = {0};
        char id[16];
        snprintf(id, sizeof(id), "%u", i);
        berth_spdy_header_t h[] = {
                BERTH_SPDY_NV("streamtype", "stdin"),
                BERTH_SPDY_NV("port", "8080"),
                {.name = "requestid", .name_len = 9, .value = id, .value_len = strlen(id)},
        };
        berth_spdy_put_syn_stream(a, &buf, 2 * i + 1, 0, 0, 0, h, 3, &err);
        sizes[i] = buf.len;
        berth_spdy_frame_t f = {0};
        all = all && parse_all(b, buf.data, buf.len, &f) && f.stream_id == 2 * i + 1 &&
              f.nheaders == 3 && header_is(&f.headers[2], "requestid", id, strlen(id));
        berth_spdy_frame_clear(&f);
        berth_bytebuf_free(&buf);
    }
    ok(all && err == NULL, "shared context: five SYN_STREAMs in a row parse");
    check(sizes[1] < sizes[0] && sizes[4] < sizes[0],
          "shared context: later blocks smaller (%zu, then %zu .. %zu)", sizes[0], sizes[1],
          sizes[4]);

    /* a large block: buffer growth on both sides */
    char *big = berth_malloc(60000);
    for (size_t i = 0; i < 60000; i++)
        big[i] = (char)('a' + (i * 7919) % 26);
    berth_spdy_header_t h = {.name = "big", .name_len = 3, .value = big, .value_len = 60000};
    berth_bytebuf_t buf = {0};
    berth_spdy_frame_t f = {0};
    ok(berth_spdy_put_headers(a, &buf, 9, 0, &h, 1, &err) == 0 &&
               parse_all(b, buf.data, buf.len, &f) && f.nheaders == 1 &&
               header_is(&f.headers[0], "big", big, 60000),
       "shared context: a 60000-byte value");
    berth_spdy_frame_clear(&f);
    berth_bytebuf_free(&buf);
    berth_free(big);
    berth_spdy_free(a);
    berth_spdy_free(b);
}

/* Every frame, fed a byte at a time: 0 until the last byte is there, then
 * the whole frame. */
static void test_byte_at_a_time(void)
{
    berth_spdy_t *a = berth_spdy_new(), *b = berth_spdy_new();
    berth_bytebuf_t buf = {0};
    put_all(a, &buf);
    size_t off = 0, nframes = 0;
    bool good = true;
    while (off < buf.len && good) {
        const uint8_t *p = buf.data + off;
        for (size_t k = 0; k <= buf.len - off; k++) {
            berth_spdy_frame_t f = {0};
            berth_err_t err = NULL;
            ssize_t r = berth_spdy_parse(b, p, k, &f, &err);
            size_t size = berth_spdy_frame_size(p, k);
            if (r == 0) {
                if (k >= 8 && size <= k)
                    good = false; /* it had the whole frame */
                continue;
            }
            good = r > 0 && (size_t)r == k && size == k && nframes < BERTH_ARRAY_LEN(all_types) &&
                   check_all(&f, nframes);
            if (!good)
                printf("# frame %zu: %zd at %zu bytes (%s)\n", nframes, r, k, err ? err->msg : "-");
            berth_err_free(&err);
            berth_spdy_frame_clear(&f);
            off += k;
            nframes++;
            break;
        }
    }
    check(good && nframes == BERTH_ARRAY_LEN(all_types),
          "byte at a time: %zu frames, each only when whole", nframes);
    berth_spdy_frame_t f = {0};
    ok(berth_spdy_parse(b, buf.data, 0, &f, NULL) == 0, "an empty buffer needs more");
    berth_bytebuf_free(&buf);
    berth_spdy_free(a);
    berth_spdy_free(b);
}

/* ---- errors ---- */

/* A fresh session with the limits given fails on `frame` with `kind` and a
 * message containing `part`; afterwards it also refuses a good PING. */
static void expect_error(const char *what, const berth_spdy_limits_t *lim, const uint8_t *frame,
                         size_t n, int kind, const char *part)
{
    berth_spdy_t *s = berth_spdy_new();
    if (lim)
        berth_spdy_set_limits(s, lim);
    berth_err_t e = parse_fails(s, frame, n);
    check(err_says(e, kind, part), "error: %s", what);
    berth_err_free(&e);
    static const uint8_t ping[] = {0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1};
    e = parse_fails(s, ping, sizeof(ping));
    check(err_says(e, BERTH_ERR_INVALID, "earlier"), "error: %s, then the session stays failed",
          what);
    berth_err_free(&e);
    berth_spdy_free(s);
}

/* As expect_error, with a header frame the stand-in peer builds from blk. */
static void expect_block_error(const char *what, const berth_spdy_limits_t *lim, uint16_t type,
                               uint32_t stream_id, berth_bytebuf_t *blk, int flush, int kind,
                               const char *part)
{
    berth_bytebuf_t frame = {0};
    peer_reset();
    peer_frame(&frame, type, stream_id, blk, flush);
    expect_error(what, lim, frame.data, frame.len, kind, part);
    berth_bytebuf_free(&frame);
    blk->off = blk->len = 0;
}

static void test_errors(void)
{
    berth_spdy_limits_t small = {.max_payload = 1024};
    expect_error("frame above max_payload, refused from its header alone", &small,
                 U8(0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x04, 0x01), 8, BERTH_ERR_EXHAUSTED,
                 "above the limit of 1024");
    expect_error("control frame of version 2", NULL,
                 U8(0x80, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1), 12,
                 BERTH_ERR_INVALID, "version 2");
    expect_error("DATA for stream 0", NULL, U8(0, 0, 0, 0, 0, 0, 0, 0), 8, BERTH_ERR_INVALID,
                 "stream 0");
    expect_error("RST_STREAM for stream 0", NULL,
                 U8(0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1), 16, BERTH_ERR_INVALID,
                 "stream 0");
    expect_error("RST_STREAM with status 0", NULL,
                 U8(0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0), 16, BERTH_ERR_INVALID,
                 "status 0");
    expect_error("RST_STREAM of 4 bytes", NULL, U8(0x80, 3, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1), 12,
                 BERTH_ERR_INVALID, "not 8");
    expect_error("WINDOW_UPDATE by 0", NULL,
                 U8(0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 1, 0x80, 0, 0, 0), 16, BERTH_ERR_INVALID,
                 "by 0");
    expect_error("PING of 8 bytes", NULL, U8(0x80, 3, 0, 6, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 2), 16,
                 BERTH_ERR_INVALID, "not 4");
    expect_error("GOAWAY of 4 bytes (SPDY/2's)", NULL, U8(0x80, 3, 0, 7, 0, 0, 0, 4, 0, 0, 0, 1),
                 12, BERTH_ERR_INVALID, "not 8");
    expect_error("SETTINGS announcing more entries than it has", NULL,
                 U8(0x80, 3, 0, 4, 0, 0, 0, 12, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 100), 20,
                 BERTH_ERR_INVALID, "announces 2");
    expect_error("SETTINGS of 2 bytes", NULL, U8(0x80, 3, 0, 4, 0, 0, 0, 2, 0, 0), 10,
                 BERTH_ERR_INVALID, "SETTINGS of 2");
    expect_error("SYN_STREAM of 9 bytes", NULL,
                 U8(0x80, 3, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0), 17, BERTH_ERR_INVALID,
                 "SYN_STREAM of 9");
    expect_error("SYN_REPLY without a header block", NULL,
                 U8(0x80, 3, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1), 12, BERTH_ERR_INVALID,
                 "without a header block");
    expect_error("HEADERS of garbage", NULL,
                 U8(0x80, 3, 0, 8, 0, 0, 0, 12, 0, 0, 0, 1, 'g', 'a', 'r', 'b', 'a', 'g', 'e', '!'),
                 20, BERTH_ERR_INVALID, "does not decompress");

    berth_bytebuf_t blk = {0};
    berth_bytebuf_put_be32(&blk, 0);
    expect_block_error("SYN_STREAM for stream 0", NULL, BERTH_SPDY_SYN_STREAM, 0, &blk,
                       Z_SYNC_FLUSH, BERTH_ERR_INVALID, "stream 0");
    berth_bytebuf_put_be32(&blk, 0);
    expect_block_error("SYN_REPLY for stream 0", NULL, BERTH_SPDY_SYN_REPLY, 0, &blk, Z_SYNC_FLUSH,
                       BERTH_ERR_INVALID, "stream 0");
    berth_bytebuf_put_be32(&blk, 0);
    expect_block_error("HEADERS for stream 0", NULL, BERTH_SPDY_HEADERS, 0, &blk, Z_SYNC_FLUSH,
                       BERTH_ERR_INVALID, "stream 0");

    /* the block's own rules */
    berth_bytebuf_put_be32(&blk, 1);
    blk_pair(&blk, "", 0, "v", 1);
    expect_block_error("an empty header name", NULL, BERTH_SPDY_SYN_STREAM, 1, &blk, Z_SYNC_FLUSH,
                       BERTH_ERR_INVALID, "empty name");
    berth_bytebuf_put_be32(&blk, 2);
    blk_pair(&blk, "Port", 4, "1", 1);
    blk_pair(&blk, "port", 4, "2", 1);
    expect_block_error("a name twice (after folding case)", NULL, BERTH_SPDY_HEADERS, 1, &blk,
                       Z_SYNC_FLUSH, BERTH_ERR_INVALID, "\"port\" sent twice");
    berth_bytebuf_put_be32(&blk, 1);
    blk_pair(&blk, "a\0b", 3, "v", 1);
    expect_block_error("a NUL in a name", NULL, BERTH_SPDY_HEADERS, 1, &blk, Z_SYNC_FLUSH,
                       BERTH_ERR_INVALID, "NUL");
    berth_bytebuf_put_be32(&blk, 1);
    blk_pair(&blk, "a", 1, "v", 1);
    berth_bytebuf_put(&blk, "xx", 2);
    expect_block_error("bytes after the last pair", NULL, BERTH_SPDY_HEADERS, 1, &blk, Z_SYNC_FLUSH,
                       BERTH_ERR_INVALID, "2 bytes after");
    berth_bytebuf_put_be32(&blk, 5);
    blk_pair(&blk, "a", 1, "v", 1); /* room for one pair, not five */
    expect_block_error("a count above what the block holds", NULL, BERTH_SPDY_HEADERS, 1, &blk,
                       Z_SYNC_FLUSH, BERTH_ERR_INVALID, "announces 5 pairs in 14 bytes");
    berth_bytebuf_put_be32(&blk, 1);
    berth_bytebuf_put_be32(&blk, 1);
    berth_bytebuf_put(&blk, "a", 1);
    berth_bytebuf_put_be32(&blk, 100);
    berth_bytebuf_put(&blk, "short", 5);
    expect_block_error("a value longer than the block", NULL, BERTH_SPDY_HEADERS, 1, &blk,
                       Z_SYNC_FLUSH, BERTH_ERR_INVALID, "truncated");
    berth_bytebuf_put_be16(&blk, 0);
    expect_block_error("a block of 2 bytes", NULL, BERTH_SPDY_HEADERS, 1, &blk, Z_SYNC_FLUSH,
                       BERTH_ERR_INVALID, "block of 2 bytes");
    berth_bytebuf_put_be32(&blk, 0);
    expect_block_error("a block that ends the zlib stream", NULL, BERTH_SPDY_HEADERS, 1, &blk,
                       Z_FINISH, BERTH_ERR_INVALID, "ends the session's compression");

    /* limits */
    berth_spdy_limits_t few = {.max_headers = 2};
    berth_bytebuf_put_be32(&blk, 3);
    blk_pair(&blk, "a", 1, "1", 1);
    blk_pair(&blk, "b", 1, "2", 1);
    blk_pair(&blk, "c", 1, "3", 1);
    expect_block_error("more headers than max_headers", &few, BERTH_SPDY_SYN_STREAM, 1, &blk,
                       Z_SYNC_FLUSH, BERTH_ERR_EXHAUSTED, "3 headers, above 2");
    berth_spdy_limits_t tiny = {.max_header_block = 64};
    char v[100];
    memset(v, 'v', sizeof(v));
    berth_bytebuf_put_be32(&blk, 1);
    blk_pair(&blk, "a", 1, v, 51); /* 4 + 4 + 1 + 4 + 51 = 64: just fits */
    {
        berth_bytebuf_t frame = {0};
        berth_spdy_frame_t f = {0};
        berth_spdy_t *s = berth_spdy_new();
        berth_spdy_set_limits(s, &tiny);
        peer_reset();
        peer_frame(&frame, BERTH_SPDY_HEADERS, 1, &blk, Z_SYNC_FLUSH);
        ok(parse_all(s, frame.data, frame.len, &f) && f.headers[0].value_len == 51,
           "a block of exactly max_header_block bytes");
        berth_spdy_frame_clear(&f);
        berth_bytebuf_free(&frame);
        berth_spdy_free(s);
        blk.off = blk.len = 0;
    }
    berth_bytebuf_put_be32(&blk, 1);
    blk_pair(&blk, "a", 1, v, 52);
    expect_block_error("a block one byte above max_header_block", &tiny, BERTH_SPDY_HEADERS, 1,
                       &blk, Z_SYNC_FLUSH, BERTH_ERR_EXHAUSTED, "larger than 64 bytes");
    berth_bytebuf_put_be32(&blk, 1);
    blk_pair(&blk, "a", 1, v, 100);
    expect_block_error("a block far above max_header_block", &tiny, BERTH_SPDY_SYN_STREAM, 1, &blk,
                       Z_SYNC_FLUSH, BERTH_ERR_EXHAUSTED, "larger than 64 bytes");
    berth_bytebuf_free(&blk);

    /* truncated: every strict prefix of a frame needs more, never fails */
    berth_spdy_t *s = berth_spdy_new();
    bool zero = true;
    for (size_t k = 0; k < sizeof(hand_syn_stream); k++) {
        berth_spdy_frame_t f = {0};
        zero = zero && berth_spdy_parse(s, hand_syn_stream, k, &f, NULL) == 0;
    }
    ok(zero, "truncated: every prefix of a frame needs more");
    berth_spdy_frame_t f = {0};
    ok(parse_all(s, hand_syn_stream, sizeof(hand_syn_stream), &f),
       "truncated: then the whole frame parses (no state was touched)");
    berth_spdy_frame_clear(&f);
    /* a frame of the largest length waits for its bytes */
    ok(berth_spdy_parse(s, U8(0, 0, 0, 1, 0, 0xff, 0xff, 0xff), 8, &f, NULL) == 0 &&
               berth_spdy_frame_size(U8(0, 0, 0, 1, 0, 0xff, 0xff, 0xff), 8) == 8 + 0xffffff,
       "a 16 MiB - 1 frame is within the default limit");
    berth_spdy_free(s);
}

/* An encoder error leaves nothing in the output and the compressor as it
 * was: the next block still decompresses on the other side. */
static void test_encoder_errors(void)
{
    berth_spdy_t *a = berth_spdy_new(), *b = berth_spdy_new();
    berth_bytebuf_t buf = {0};
    berth_err_t err = NULL;
    berth_spdy_header_t empty[] = {BERTH_SPDY_NV("ok", "1"), BERTH_SPDY_NV("", "x")};
    ok(berth_spdy_put_syn_reply(a, &buf, 1, 0, empty, 2, &err) == -1 && buf.len == 0 &&
               err_says(err, BERTH_ERR_INVALID, "empty"),
       "encoder: an empty name fails, nothing appended");
    berth_err_free(&err);
    berth_spdy_header_t nul[] = {{.name = "a\0b", .name_len = 3, .value = "", .value_len = 0}};
    ok(berth_spdy_put_headers(a, &buf, 1, 0, nul, 1, &err) == -1 && buf.len == 0 &&
               err_says(err, BERTH_ERR_INVALID, "NUL"),
       "encoder: a NUL in a name fails");
    berth_err_free(&err);
    berth_spdy_header_t big = {.name = "a", .name_len = 1, .value = "", .value_len = 1u << 24};
    ok(berth_spdy_put_headers(a, &buf, 1, 0, &big, 1, &err) == -1 && buf.len == 0 &&
               err_says(err, BERTH_ERR_RANGE, "too large"),
       "encoder: a block too large for a frame fails");
    berth_err_free(&err);
    berth_spdy_frame_t f = {0};
    ok(berth_spdy_put_syn_reply(a, &buf, 1, 0, empty, 1, &err) == 0 &&
               parse_all(b, buf.data, buf.len, &f) && f.nheaders == 1 &&
               header_is(&f.headers[0], "ok", "1", 1),
       "encoder: after the errors the stream is intact");
    berth_spdy_frame_clear(&f);
    berth_bytebuf_free(&buf);
    berth_spdy_free(a);
    berth_spdy_free(b);
}

static void test_data_split(void)
{
    berth_spdy_t *s = berth_spdy_new();
    berth_bytebuf_t buf = {0};
    static const char digits[] = "0123456789";
    berth_spdy_put_data_split(&buf, 7, digits, 10, 4, true);
    static const size_t lens[] = {4, 4, 2};
    bool good = true;
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        berth_spdy_frame_t f = {0};
        good = good && parse_buf(s, &buf, &f) && f.stream_id == 7 && f.len == lens[i] &&
               memcmp(f.data, &digits[off], lens[i]) == 0 &&
               f.flags == (i == 2 ? BERTH_SPDY_FLAG_FIN : 0);
        off += lens[i];
        berth_spdy_frame_clear(&f);
    }
    ok(good && berth_bytebuf_pending(&buf) == 0, "data_split: 4 + 4 + 2, FIN on the last");
    berth_spdy_put_data_split(&buf, 7, "0123", 4, 4, false);
    berth_spdy_frame_t f = {0};
    ok(parse_buf(s, &buf, &f) && f.len == 4 && f.flags == 0 && berth_bytebuf_pending(&buf) == 0,
       "data_split: exactly one chunk, no FIN");
    berth_spdy_frame_clear(&f);
    berth_spdy_put_data_split(&buf, 7, NULL, 0, 4, true);
    ok(parse_buf(s, &buf, &f) && f.len == 0 && f.flags == BERTH_SPDY_FLAG_FIN &&
               berth_bytebuf_pending(&buf) == 0,
       "data_split: nothing with FIN is one empty FIN frame");
    berth_spdy_frame_clear(&f);
    berth_spdy_put_data_split(&buf, 7, NULL, 0, 4, false);
    ok(berth_bytebuf_pending(&buf) == 0, "data_split: nothing without FIN appends nothing");
    berth_bytebuf_free(&buf);
    berth_spdy_free(s);
}

static void test_spdystream_capture(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/spdystream-client", BERTH_SPDY_CORPUS);
    FILE *fp = fopen(path, "rb");
    if (!ok(fp != NULL, "spdystream capture: the seed is there"))
        return;
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    berth_spdy_t *s = berth_spdy_new();
    size_t off = 1; /* the fuzz target's piece-size byte */
    int syn = 0, fin = 0, good_headers = 0, odd_ping = 0, even_ping = 0, goaway = 0, other = 0;
    size_t data = 0;
    bool parsed = true;
    while (off < n) {
        berth_spdy_frame_t f = {0};
        berth_err_t err = NULL;
        ssize_t r = berth_spdy_parse(s, buf + off, n - off, &f, &err);
        if (r <= 0) {
            printf("# at %zu: %zd %s\n", off, r, err ? err->msg : "");
            berth_err_free(&err);
            parsed = false;
            break;
        }
        off += (size_t)r;
        size_t vlen = 0;
        const char *v;
        switch (f.type) {
        case BERTH_SPDY_SYN_STREAM:
            syn++;
            v = berth_spdy_header_get(&f, "multi", &vlen);
            good_headers += f.stream_id == (uint32_t)(2 * syn - 1) &&
                            strcmp(berth_spdy_header_get(&f, "streamtype", NULL), "stdout") == 0 &&
                            strcmp(berth_spdy_header_get(&f, "port", NULL), "8080") == 0 && v &&
                            vlen == 1 && memcmp(v, "a\0b", 4) == 0; /* Go's two values */
            break;
        case BERTH_SPDY_DATA:
            data += f.len;
            fin += (f.flags & BERTH_SPDY_FLAG_FIN) != 0;
            break;
        case BERTH_SPDY_PING:
            if (f.ping_id & 1)
                odd_ping++;
            else
                even_ping++;
            break;
        case BERTH_SPDY_GOAWAY:
            goaway += f.last_good_id == 0 && f.status == BERTH_SPDY_GOAWAY_OK;
            break;
        default:
            other++;
        }
        berth_spdy_frame_clear(&f);
    }
    check(parsed && syn == 3 && good_headers == 3,
          "spdystream capture: %d SYN_STREAMs (1, 3, 5; streamtype, port, multi)", syn);
    check(data == 3300 && fin == 3, "spdystream capture: %zu DATA bytes, %d FIN", data, fin);
    check(odd_ping == 1 && even_ping == 1 && goaway == 1 && other == 0,
          "spdystream capture: its PING, our PING echoed, GOAWAY (OK, 0)");
    berth_spdy_free(s);
}

static void test_names(void)
{
    ok(strcmp(berth_spdy_type_name(BERTH_SPDY_SYN_STREAM), "SYN_STREAM") == 0 &&
               strcmp(berth_spdy_type_name(BERTH_SPDY_WINDOW_UPDATE), "WINDOW_UPDATE") == 0 &&
               strcmp(berth_spdy_type_name(BERTH_SPDY_DATA), "DATA") == 0 &&
               strcmp(berth_spdy_type_name(BERTH_SPDY_UNKNOWN), "UNKNOWN") == 0 &&
               strcmp(berth_spdy_type_name(5), "UNKNOWN") == 0,
       "type names");
    ok(strcmp(berth_spdy_rst_status_name(BERTH_SPDY_REFUSED_STREAM), "REFUSED_STREAM") == 0 &&
               strcmp(berth_spdy_rst_status_name(BERTH_SPDY_FRAME_TOO_LARGE), "FRAME_TOO_LARGE") ==
                       0 &&
               strcmp(berth_spdy_rst_status_name(10), "UNKNOWN") == 0 &&
               strcmp(berth_spdy_rst_status_name(0), "UNKNOWN") == 0,
       "RST_STREAM status names");
    ok(strcmp(berth_spdy_goaway_status_name(0), "OK") == 0 &&
               strcmp(berth_spdy_goaway_status_name(2), "INTERNAL_ERROR") == 0 &&
               strcmp(berth_spdy_goaway_status_name(3), "UNKNOWN") == 0,
       "GOAWAY status names");
}

int main(void)
{
    test_dictionary();
    test_fixed_vectors();
    test_first_block();
    test_hand_blocks();
    test_round_trip();
    test_shared_context();
    test_byte_at_a_time();
    test_errors();
    test_encoder_errors();
    test_data_split();
    test_spdystream_capture();
    test_names();
    deflateEnd(&peer);
    printf("1..%d\n", ntest);
    return nfail != 0;
}
