/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPDY/3.1 frame codec (io/spdy.h). Owns the session's two zlib streams and
 * nothing else: no sockets, no stream table, no windows. A frame is parsed
 * only once it is whole in the caller's buffer, so the inflate stream sees
 * each header block exactly once, in order, and "need more bytes" changes
 * no state. Any parse error ends the session for good, because after most
 * of them the inflate stream is out of step with the peer's deflate stream.
 */
#include "io/spdy.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "engine/alloc.h"

/*
 * The dictionary both zlib streams start from (draft 3.1, 2.6.10.1): the
 * header names and values a web client sends most, each as a name/value
 * block would carry it (a 32-bit big-endian length, its low byte as an
 * octal escape, then the bytes), then a run of status codes and lines,
 * dates and content types without lengths. 1423 bytes, adler32 0xe3c6a7c2
 * (the DICTID in the zlib header that opens each direction's stream).
 */
static const char dictionary[] = "\0\0\0\007options"
                                 "\0\0\0\004head"
                                 "\0\0\0\004post"
                                 "\0\0\0\003put"
                                 "\0\0\0\006delete"
                                 "\0\0\0\005trace"
                                 "\0\0\0\006accept"
                                 "\0\0\0\016accept-charset"
                                 "\0\0\0\017accept-encoding"
                                 "\0\0\0\017accept-language"
                                 "\0\0\0\015accept-ranges"
                                 "\0\0\0\003age"
                                 "\0\0\0\005allow"
                                 "\0\0\0\015authorization"
                                 "\0\0\0\015cache-control"
                                 "\0\0\0\012connection"
                                 "\0\0\0\014content-base"
                                 "\0\0\0\020content-encoding"
                                 "\0\0\0\020content-language"
                                 "\0\0\0\016content-length"
                                 "\0\0\0\020content-location"
                                 "\0\0\0\013content-md5"
                                 "\0\0\0\015content-range"
                                 "\0\0\0\014content-type"
                                 "\0\0\0\004date"
                                 "\0\0\0\004etag"
                                 "\0\0\0\006expect"
                                 "\0\0\0\007expires"
                                 "\0\0\0\004from"
                                 "\0\0\0\004host"
                                 "\0\0\0\010if-match"
                                 "\0\0\0\021if-modified-since"
                                 "\0\0\0\015if-none-match"
                                 "\0\0\0\010if-range"
                                 "\0\0\0\023if-unmodified-since"
                                 "\0\0\0\015last-modified"
                                 "\0\0\0\010location"
                                 "\0\0\0\014max-forwards"
                                 "\0\0\0\006pragma"
                                 "\0\0\0\022proxy-authenticate"
                                 "\0\0\0\023proxy-authorization"
                                 "\0\0\0\005range"
                                 "\0\0\0\007referer"
                                 "\0\0\0\013retry-after"
                                 "\0\0\0\006server"
                                 "\0\0\0\002te"
                                 "\0\0\0\007trailer"
                                 "\0\0\0\021transfer-encoding"
                                 "\0\0\0\007upgrade"
                                 "\0\0\0\012user-agent"
                                 "\0\0\0\004vary"
                                 "\0\0\0\003via"
                                 "\0\0\0\007warning"
                                 "\0\0\0\020www-authenticate"
                                 "\0\0\0\006method"
                                 "\0\0\0\003get"
                                 "\0\0\0\006status"
                                 "\0\0\0\006200 OK"
                                 "\0\0\0\007version"
                                 "\0\0\0\010HTTP/1.1"
                                 "\0\0\0\003url"
                                 "\0\0\0\006public"
                                 "\0\0\0\012set-cookie"
                                 "\0\0\0\012keep-alive"
                                 "\0\0\0\006origin"
                                 "100101201202205206300302303304305306307"
                                 "402405406407408409410411412413414415416417"
                                 "502504505"
                                 "203 Non-Authoritative Information"
                                 "204 No Content"
                                 "301 Moved Permanently"
                                 "400 Bad Request"
                                 "401 Unauthorized"
                                 "403 Forbidden"
                                 "404 Not Found"
                                 "500 Internal Server Error"
                                 "501 Not Implemented"
                                 "503 Service Unavailable"
                                 "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec"
                                 " 00:00:00"
                                 " Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
                                 "chunked,text/html,image/png,image/jpg,image/gif,"
                                 "application/xml,application/xhtml+xml,"
                                 "text/plain,text/javascript,"
                                 "publicprivatemax-age="
                                 "gzip,deflate,sdch"
                                 "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

/* Without the literal's terminating NUL, which is not part of it. */
#define DICTIONARY_LEN (sizeof(dictionary) - 1)

/* The sending side's zlib settings: header blocks are small, so a 2 KiB
 * window (as draft 3.1 suggests) and the smallest memLevel keep a session's
 * compressor near 10 KiB; the peer's decompressor copes with any window.
 * The receiving side takes the peer's window as it comes (up to 32 KiB). */
#define DEFLATE_LEVEL 9
#define DEFLATE_WINDOW_BITS 11
#define DEFLATE_MEM_LEVEL 1

struct berth_spdy {
    z_stream in;  /* the peer's header blocks, in wire order */
    z_stream out; /* ours */
    berth_spdy_limits_t lim;
    berth_bytebuf_t scratch; /* a name/value block before compression */
    bool failed;             /* a parse error ended the session */
};

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    return berth_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    berth_free(p);
}

const uint8_t *berth_spdy_dictionary(size_t *len)
{
    *len = DICTIONARY_LEN;
    return (const uint8_t *)dictionary;
}

berth_spdy_t *berth_spdy_new(void)
{
    berth_spdy_t *s = berth_calloc(1, sizeof(*s));
    s->lim = (berth_spdy_limits_t){
            .max_payload = BERTH_SPDY_MAX_PAYLOAD,
            .max_header_block = BERTH_SPDY_DEFAULT_MAX_HEADER_BLOCK,
            .max_headers = BERTH_SPDY_DEFAULT_MAX_HEADERS,
    };
    s->in.zalloc = s->out.zalloc = z_alloc;
    s->in.zfree = s->out.zfree = z_free;
    /* These fail only on bad parameters or a zlib of another ABI (memory
     * comes from berth's allocator, which aborts rather than fail). */
    if (inflateInit(&s->in) != Z_OK)
        abort();
    if (deflateInit2(&s->out, DEFLATE_LEVEL, Z_DEFLATED, DEFLATE_WINDOW_BITS, DEFLATE_MEM_LEVEL,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    /* Before the first deflate: the zlib header then names the dictionary. */
    if (deflateSetDictionary(&s->out, (const Bytef *)dictionary, DICTIONARY_LEN) != Z_OK)
        abort();
    return s;
}

void berth_spdy_free(berth_spdy_t *s)
{
    if (s == NULL)
        return;
    inflateEnd(&s->in);
    deflateEnd(&s->out);
    berth_bytebuf_free(&s->scratch);
    berth_free(s);
}

void berth_spdy_set_limits(berth_spdy_t *s, const berth_spdy_limits_t *lim)
{
    if (lim->max_payload)
        s->lim.max_payload = lim->max_payload < BERTH_SPDY_MAX_PAYLOAD ? lim->max_payload
                                                                       : BERTH_SPDY_MAX_PAYLOAD;
    if (lim->max_header_block)
        s->lim.max_header_block = lim->max_header_block;
    if (lim->max_headers)
        s->lim.max_headers = lim->max_headers;
}

/* ---- parsing ---- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int fail(berth_spdy_t *s, berth_err_t *err, int errnum, int kind, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static int fail(berth_spdy_t *s, berth_err_t *err, int errnum, int kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s->failed = true;
    berth_err_makev(err, errnum, kind, fmt, ap);
    va_end(ap);
    return -1;
}

#define PROTO(s, err, ...) fail(s, err, EPROTO, BERTH_ERR_INVALID, "spdy: " __VA_ARGS__)

/* Inflates one frame's compressed block, all of it, into an owned buffer
 * with one spare byte after the block (for the NUL that ends the last value).
 * Returns the block's length or -1. */
static ssize_t inflate_block(berth_spdy_t *s, int type, const uint8_t *p, size_t n, char **out,
                             berth_err_t *err)
{
    const char *what = berth_spdy_type_name(type);
    if (n == 0)
        return PROTO(s, err, "%s without a header block", what);
    /* One byte past the limit tells a block of exactly max_header_block
     * bytes from a larger one. */
    size_t max = (size_t)s->lim.max_header_block + 1;
    size_t cap = n * 4 < 256 ? 256 : n * 4;
    if (cap > max)
        cap = max;
    BERTH_AUTO_FREE char *buf = berth_malloc(cap + 1);
    size_t got = 0;

    s->in.next_in = (Bytef *)p;
    s->in.avail_in = (uInt)n;
    for (;;) {
        if (got == cap) {
            if (cap == max)
                break;
            cap = cap * 2 < max ? cap * 2 : max;
            buf = berth_realloc(buf, cap + 1);
        }
        s->in.next_out = (Bytef *)buf + got;
        s->in.avail_out = (uInt)(cap - got);
        uInt before = s->in.avail_in;
        size_t had = got;
        int rc = inflate(&s->in, Z_SYNC_FLUSH);
        got = cap - s->in.avail_out;
        if (rc == Z_NEED_DICT) {
            /* The first block of the session: its zlib header named a
             * dictionary, which must be SPDY's (the adler32 is checked). */
            if (inflateSetDictionary(&s->in, (const Bytef *)dictionary, DICTIONARY_LEN) != Z_OK)
                return PROTO(s, err,
                             "%s header block compressed with another dictionary than SPDY/3's",
                             what);
            continue;
        }
        if (rc == Z_STREAM_END)
            return PROTO(s, err, "%s header block ends the session's compression stream", what);
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return PROTO(s, err, "%s header block does not decompress: %s", what,
                         s->in.msg ? s->in.msg : "zlib error");
        /* Done when every input byte is in and the last call had room to
         * spare, so zlib holds nothing back (the peer synced the block). */
        if (s->in.avail_in == 0 && s->in.avail_out > 0)
            break;
        if (s->in.avail_out > 0 && s->in.avail_in == before && got == had)
            break; /* no progress with room left: checked below */
    }
    if (got >= max)
        return fail(s, err, EMSGSIZE, BERTH_ERR_EXHAUSTED,
                    "spdy: %s header block larger than %u bytes", what, s->lim.max_header_block);
    if (s->in.avail_in > 0)
        return PROTO(s, err, "%s header block does not decompress", what);
    *out = berth_steal_ptr(&buf);
    return (ssize_t)got;
}

/* Splits a decompressed name/value block into f->headers, in place: names
 * are folded to lower case, and both names and values get a NUL after them
 * (over the first byte of the next length, already read by then, or the
 * spare byte after the block). */
static int split_block(berth_spdy_t *s, int type, char *b, size_t n, berth_spdy_frame_t *f,
                       berth_err_t *err)
{
    const char *what = berth_spdy_type_name(type);
    const uint8_t *u = (const uint8_t *)b;
    if (n < 4)
        return PROTO(s, err, "%s header block of %zu bytes", what, n);
    uint32_t count = be32(u);
    if (count > s->lim.max_headers)
        return fail(s, err, EMSGSIZE, BERTH_ERR_EXHAUSTED, "spdy: %s with %u headers, above %u",
                    what, count, s->lim.max_headers);
    /* each pair takes at least its two lengths */
    if (count > (n - 4) / 8)
        return PROTO(s, err, "%s header block announces %u pairs in %zu bytes", what, count, n);
    berth_spdy_header_t *h = berth_calloc(count ? count : 1, sizeof(*h));
    f->headers = h;
    size_t pos = 4;
    for (uint32_t i = 0; i < count; i++) {
        if (n - pos < 4)
            goto truncated;
        uint32_t nlen = be32(u + pos);
        pos += 4;
        if (nlen > n - pos || n - pos - nlen < 4)
            goto truncated;
        if (nlen == 0)
            return PROTO(s, err, "%s header with an empty name", what);
        char *name = b + pos;
        for (uint32_t k = 0; k < nlen; k++) {
            if (name[k] == '\0')
                return PROTO(s, err, "%s header name with a NUL byte", what);
            if (name[k] >= 'A' && name[k] <= 'Z')
                name[k] = (char)(name[k] - 'A' + 'a');
        }
        pos += nlen;
        uint32_t vlen = be32(u + pos);
        pos += 4;
        if (vlen > n - pos)
            goto truncated;
        for (uint32_t j = 0; j < i; j++)
            if (h[j].name_len == nlen && memcmp(h[j].name, name, nlen) == 0)
                return PROTO(s, err, "%s header \"%.*s\" sent twice", what, (int)nlen, name);
        h[i] = (berth_spdy_header_t){
                .name = name, .name_len = nlen, .value = b + pos, .value_len = vlen};
        f->nheaders = i + 1;
        pos += vlen;
    }
    if (pos != n)
        return PROTO(s, err, "%s header block has %zu bytes after its %u pairs", what, n - pos,
                     count);
    for (uint32_t i = 0; i < count; i++) {
        b[h[i].name - b + h[i].name_len] = '\0';
        b[h[i].value - b + h[i].value_len] = '\0';
    }
    return 0;
truncated:
    return PROTO(s, err, "%s header block truncated", what);
}

static int parse_headers(berth_spdy_t *s, const uint8_t *p, size_t n, berth_spdy_frame_t *f,
                         berth_err_t *err)
{
    char *block = NULL;
    ssize_t len = inflate_block(s, f->type, p, n, &block, err);
    if (len < 0)
        return -1;
    f->block_ = block;
    return split_block(s, f->type, block, (size_t)len, f, err);
}

size_t berth_spdy_frame_size(const uint8_t *buf, size_t len)
{
    if (len < BERTH_SPDY_FRAME_HEADER)
        return BERTH_SPDY_FRAME_HEADER;
    return BERTH_SPDY_FRAME_HEADER + (be32(buf + 4) & BERTH_SPDY_MAX_PAYLOAD);
}

static int parse_control(berth_spdy_t *s, uint16_t type, const uint8_t *p, uint32_t n,
                         berth_spdy_frame_t *f, berth_err_t *err)
{
    switch (type) {
    case BERTH_SPDY_SYN_STREAM:
        if (n < 10)
            return PROTO(s, err, "SYN_STREAM of %u bytes", n);
        f->stream_id = be32(p) & BERTH_SPDY_MAX_ID;
        f->assoc_id = be32(p + 4) & BERTH_SPDY_MAX_ID;
        f->priority = p[8] >> 5;
        f->slot = p[9];
        if (f->stream_id == 0)
            return PROTO(s, err, "SYN_STREAM for stream 0");
        return parse_headers(s, p + 10, n - 10, f, err);
    case BERTH_SPDY_SYN_REPLY:
    case BERTH_SPDY_HEADERS:
        if (n < 4)
            return PROTO(s, err, "%s of %u bytes", berth_spdy_type_name(type), n);
        f->stream_id = be32(p) & BERTH_SPDY_MAX_ID;
        if (f->stream_id == 0)
            return PROTO(s, err, "%s for stream 0", berth_spdy_type_name(type));
        return parse_headers(s, p + 4, n - 4, f, err);
    case BERTH_SPDY_RST_STREAM:
        if (n != 8)
            return PROTO(s, err, "RST_STREAM of %u bytes, not 8", n);
        f->stream_id = be32(p) & BERTH_SPDY_MAX_ID;
        f->status = be32(p + 4);
        if (f->stream_id == 0)
            return PROTO(s, err, "RST_STREAM for stream 0");
        if (f->status == 0)
            return PROTO(s, err, "RST_STREAM of stream %u with status 0", f->stream_id);
        return 0;
    case BERTH_SPDY_SETTINGS: {
        if (n < 4)
            return PROTO(s, err, "SETTINGS of %u bytes", n);
        uint32_t count = be32(p);
        /* The frame is whole and within max_payload, so the array is at
         * most as large as what is already buffered. */
        if (count > (n - 4) / 8 || 4 + (size_t)count * 8 != n)
            return PROTO(s, err, "SETTINGS of %u bytes announces %u entries", n, count);
        f->nsettings = count;
        if (count)
            f->settings = berth_calloc(count, sizeof(*f->settings));
        for (uint32_t i = 0; i < count; i++) {
            const uint8_t *e = p + 4 + (size_t)i * 8;
            f->settings[i] = (berth_spdy_setting_t){
                    .flags = e[0], .id = be32(e) & 0xffffff, .value = be32(e + 4)};
        }
        return 0;
    }
    case BERTH_SPDY_PING:
        if (n != 4)
            return PROTO(s, err, "PING of %u bytes, not 4", n);
        f->ping_id = be32(p);
        return 0;
    case BERTH_SPDY_GOAWAY:
        if (n != 8)
            return PROTO(s, err, "GOAWAY of %u bytes, not 8", n);
        f->last_good_id = be32(p) & BERTH_SPDY_MAX_ID;
        f->status = be32(p + 4);
        return 0;
    case BERTH_SPDY_WINDOW_UPDATE:
        if (n != 8)
            return PROTO(s, err, "WINDOW_UPDATE of %u bytes, not 8", n);
        f->stream_id = be32(p) & BERTH_SPDY_MAX_ID;
        f->delta = be32(p + 4) & BERTH_SPDY_MAX_ID;
        if (f->delta == 0)
            return PROTO(s, err, "WINDOW_UPDATE of stream %u by 0", f->stream_id);
        return 0;
    default:
        f->type = BERTH_SPDY_UNKNOWN;
        f->data = p;
        f->len = n;
        return 0;
    }
}

ssize_t berth_spdy_parse(berth_spdy_t *s, const uint8_t *buf, size_t len, berth_spdy_frame_t *f,
                         berth_err_t *err)
{
    if (s->failed)
        return berth_err_make(err, EPROTO, BERTH_ERR_INVALID,
                              "spdy: the session failed on an earlier frame");
    if (len < BERTH_SPDY_FRAME_HEADER)
        return 0;
    uint32_t w0 = be32(buf), w1 = be32(buf + 4);
    uint32_t n = w1 & BERTH_SPDY_MAX_PAYLOAD;
    bool control = w0 & 0x80000000u;
    /* Both checks need only the header: a peer cannot make us buffer a
     * frame we would refuse anyway. */
    if (control && (w0 >> 16 & 0x7fff) != BERTH_SPDY_VERSION)
        return PROTO(s, err, "control frame of version %u, not %d", w0 >> 16 & 0x7fff,
                     BERTH_SPDY_VERSION);
    if (n > s->lim.max_payload)
        return fail(s, err, EMSGSIZE, BERTH_ERR_EXHAUSTED,
                    "spdy: frame of %u bytes, above the limit of %u", n, s->lim.max_payload);
    if (len - BERTH_SPDY_FRAME_HEADER < n)
        return 0;

    const uint8_t *p = buf + BERTH_SPDY_FRAME_HEADER;
    *f = (berth_spdy_frame_t){.flags = (uint8_t)(w1 >> 24)};
    if (!control) {
        f->type = BERTH_SPDY_DATA;
        f->stream_id = w0 & BERTH_SPDY_MAX_ID;
        f->data = p;
        f->len = n;
        if (f->stream_id == 0) {
            *f = (berth_spdy_frame_t){0};
            return PROTO(s, err, "DATA frame for stream 0");
        }
    } else {
        f->wire_type = (uint16_t)w0;
        f->type = f->wire_type;
        if (parse_control(s, f->wire_type, p, n, f, err) < 0) {
            berth_spdy_frame_clear(f);
            return -1;
        }
    }
    return (ssize_t)(BERTH_SPDY_FRAME_HEADER + n);
}

void berth_spdy_frame_clear(berth_spdy_frame_t *f)
{
    if (f == NULL)
        return;
    berth_free(f->settings);
    berth_free(f->headers);
    berth_free(f->block_);
    *f = (berth_spdy_frame_t){0};
}

const char *berth_spdy_header_get(const berth_spdy_frame_t *f, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < f->nheaders; i++) {
        const berth_spdy_header_t *h = &f->headers[i];
        if (h->name_len == nlen && strncasecmp(h->name, name, nlen) == 0) {
            if (len)
                *len = strlen(h->value);
            return h->value;
        }
    }
    return NULL;
}

/* ---- encoding ---- */

static void put_control(berth_bytebuf_t *out, uint16_t type, uint8_t flags, uint32_t len)
{
    berth_bytebuf_put_be16(out, 0x8000 | BERTH_SPDY_VERSION);
    berth_bytebuf_put_be16(out, type);
    berth_bytebuf_put_u8(out, flags);
    berth_bytebuf_put_be24(out, len);
}

/* A SYN_STREAM, SYN_REPLY or HEADERS frame: the control header, `fixed`
 * (the stream ids and such), then the compressed block. */
static int put_header_frame(berth_spdy_t *s, berth_bytebuf_t *out, uint16_t type, uint8_t flags,
                            const uint8_t *fixed, size_t nfixed, const berth_spdy_header_t *h,
                            size_t n, berth_err_t *err)
{
    const char *what = berth_spdy_type_name(type);
    /* Build and check the whole block first: an error must leave the
     * compressor as it was, or the peer's decompressor would lose step. */
    berth_bytebuf_t *b = &s->scratch;
    b->off = b->len = 0;
    if (n > UINT32_MAX)
        return berth_err_make(err, EMSGSIZE, BERTH_ERR_RANGE, "spdy: %s with %zu headers", what, n);
    berth_bytebuf_put_be32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        if (h[i].name_len == 0 || memchr(h[i].name, '\0', h[i].name_len) != NULL)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "spdy: %s header name empty or with a NUL byte", what);
        if (h[i].name_len > BERTH_SPDY_MAX_PAYLOAD || h[i].value_len > BERTH_SPDY_MAX_PAYLOAD)
            goto too_large;
        berth_bytebuf_put_be32(b, (uint32_t)h[i].name_len);
        char *name = (char *)berth_bytebuf_reserve(b, h[i].name_len);
        for (size_t k = 0; k < h[i].name_len; k++) {
            char c = h[i].name[k];
            name[k] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        b->len += h[i].name_len;
        berth_bytebuf_put_be32(b, (uint32_t)h[i].value_len);
        berth_bytebuf_put(b, h[i].value, h[i].value_len);
        if (b->len > BERTH_SPDY_MAX_PAYLOAD)
            goto too_large;
    }
    if (nfixed + deflateBound(&s->out, b->len) > BERTH_SPDY_MAX_PAYLOAD)
        goto too_large;

    size_t start = out->len;
    put_control(out, type, flags, 0); /* the length is known at the end */
    berth_bytebuf_put(out, fixed, nfixed);
    s->out.next_in = b->data;
    s->out.avail_in = (uInt)b->len;
    /* Room for the worst case at once: a second call after the output
     * filled up would add an empty stored block (harmless, but waste). */
    size_t room = deflateBound(&s->out, s->out.avail_in) + 16;
    do {
        s->out.next_out = berth_bytebuf_reserve(out, room);
        s->out.avail_out = (uInt)room;
        /* Z_BUF_ERROR (no progress) is harmless; anything else is a
         * broken stream, which only a bug could cause. */
        int rc = deflate(&s->out, Z_SYNC_FLUSH);
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            abort();
        out->len += room - s->out.avail_out;
        room = 256;
    } while (s->out.avail_out == 0);
    assert(s->out.avail_in == 0);
    size_t plen = out->len - start - BERTH_SPDY_FRAME_HEADER;
    assert(plen <= BERTH_SPDY_MAX_PAYLOAD);
    out->data[start + 5] = (uint8_t)(plen >> 16);
    out->data[start + 6] = (uint8_t)(plen >> 8);
    out->data[start + 7] = (uint8_t)plen;
    return 0;
too_large:
    return berth_err_make(err, EMSGSIZE, BERTH_ERR_RANGE,
                          "spdy: %s header block too large for one frame", what);
}

static void be32_to(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static bool stream_ok(uint32_t id)
{
    return id != 0 && id <= BERTH_SPDY_MAX_ID;
}

int berth_spdy_put_syn_stream(berth_spdy_t *s, berth_bytebuf_t *out, uint32_t stream_id,
                              uint32_t assoc_id, uint8_t priority, uint8_t flags,
                              const berth_spdy_header_t *h, size_t n, berth_err_t *err)
{
    assert(stream_ok(stream_id) && assoc_id <= BERTH_SPDY_MAX_ID && priority <= 7);
    uint8_t fixed[10];
    be32_to(fixed, stream_id);
    be32_to(fixed + 4, assoc_id);
    fixed[8] = (uint8_t)(priority << 5);
    fixed[9] = 0; /* slot: no credentials in 3.1 */
    return put_header_frame(s, out, BERTH_SPDY_SYN_STREAM, flags, fixed, sizeof(fixed), h, n, err);
}

int berth_spdy_put_syn_reply(berth_spdy_t *s, berth_bytebuf_t *out, uint32_t stream_id,
                             uint8_t flags, const berth_spdy_header_t *h, size_t n,
                             berth_err_t *err)
{
    assert(stream_ok(stream_id));
    uint8_t fixed[4];
    be32_to(fixed, stream_id);
    return put_header_frame(s, out, BERTH_SPDY_SYN_REPLY, flags, fixed, sizeof(fixed), h, n, err);
}

int berth_spdy_put_headers(berth_spdy_t *s, berth_bytebuf_t *out, uint32_t stream_id, uint8_t flags,
                           const berth_spdy_header_t *h, size_t n, berth_err_t *err)
{
    assert(stream_ok(stream_id));
    uint8_t fixed[4];
    be32_to(fixed, stream_id);
    return put_header_frame(s, out, BERTH_SPDY_HEADERS, flags, fixed, sizeof(fixed), h, n, err);
}

void berth_spdy_put_rst_stream(berth_bytebuf_t *out, uint32_t stream_id, uint32_t status)
{
    assert(stream_ok(stream_id) && status != 0);
    put_control(out, BERTH_SPDY_RST_STREAM, 0, 8);
    berth_bytebuf_put_be32(out, stream_id);
    berth_bytebuf_put_be32(out, status);
}

void berth_spdy_put_settings(berth_bytebuf_t *out, uint8_t flags, const berth_spdy_setting_t *v,
                             size_t n)
{
    assert(n <= (BERTH_SPDY_MAX_PAYLOAD - 4) / 8);
    put_control(out, BERTH_SPDY_SETTINGS, flags, (uint32_t)(4 + n * 8));
    berth_bytebuf_put_be32(out, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        assert(v[i].id <= 0xffffff);
        berth_bytebuf_put_u8(out, v[i].flags);
        berth_bytebuf_put_be24(out, v[i].id);
        berth_bytebuf_put_be32(out, v[i].value);
    }
}

void berth_spdy_put_ping(berth_bytebuf_t *out, uint32_t id)
{
    put_control(out, BERTH_SPDY_PING, 0, 4);
    berth_bytebuf_put_be32(out, id);
}

void berth_spdy_put_goaway(berth_bytebuf_t *out, uint32_t last_good_id, uint32_t status)
{
    assert(last_good_id <= BERTH_SPDY_MAX_ID);
    put_control(out, BERTH_SPDY_GOAWAY, 0, 8);
    berth_bytebuf_put_be32(out, last_good_id);
    berth_bytebuf_put_be32(out, status);
}

void berth_spdy_put_window_update(berth_bytebuf_t *out, uint32_t stream_id, uint32_t delta)
{
    assert(stream_id <= BERTH_SPDY_MAX_ID && delta != 0 && delta <= BERTH_SPDY_MAX_ID);
    put_control(out, BERTH_SPDY_WINDOW_UPDATE, 0, 8);
    berth_bytebuf_put_be32(out, stream_id);
    berth_bytebuf_put_be32(out, delta);
}

void berth_spdy_put_data_header(berth_bytebuf_t *out, uint32_t stream_id, uint8_t flags, size_t len)
{
    assert(stream_ok(stream_id) && len <= BERTH_SPDY_MAX_PAYLOAD);
    berth_bytebuf_put_be32(out, stream_id);
    berth_bytebuf_put_u8(out, flags);
    berth_bytebuf_put_be24(out, (uint32_t)len);
}

void berth_spdy_put_data(berth_bytebuf_t *out, uint32_t stream_id, uint8_t flags, const void *p,
                         size_t len)
{
    berth_spdy_put_data_header(out, stream_id, flags, len);
    berth_bytebuf_put(out, p, len);
}

void berth_spdy_put_data_split(berth_bytebuf_t *out, uint32_t stream_id, const void *p, size_t len,
                               size_t max_chunk, bool fin)
{
    assert(max_chunk > 0 && max_chunk <= BERTH_SPDY_MAX_PAYLOAD);
    const uint8_t *q = p;
    if (len == 0 && fin)
        berth_spdy_put_data(out, stream_id, BERTH_SPDY_FLAG_FIN, NULL, 0);
    while (len > 0) {
        size_t k = len < max_chunk ? len : max_chunk;
        bool last = k == len;
        berth_spdy_put_data(out, stream_id, last && fin ? BERTH_SPDY_FLAG_FIN : 0, q, k);
        q += k;
        len -= k;
    }
}

/* ---- names ---- */

const char *berth_spdy_type_name(int type)
{
    switch (type) {
    case BERTH_SPDY_DATA:
        return "DATA";
    case BERTH_SPDY_SYN_STREAM:
        return "SYN_STREAM";
    case BERTH_SPDY_SYN_REPLY:
        return "SYN_REPLY";
    case BERTH_SPDY_RST_STREAM:
        return "RST_STREAM";
    case BERTH_SPDY_SETTINGS:
        return "SETTINGS";
    case BERTH_SPDY_PING:
        return "PING";
    case BERTH_SPDY_GOAWAY:
        return "GOAWAY";
    case BERTH_SPDY_HEADERS:
        return "HEADERS";
    case BERTH_SPDY_WINDOW_UPDATE:
        return "WINDOW_UPDATE";
    default:
        return "UNKNOWN";
    }
}

const char *berth_spdy_rst_status_name(uint32_t status)
{
    switch (status) {
    case BERTH_SPDY_PROTOCOL_ERROR:
        return "PROTOCOL_ERROR";
    case BERTH_SPDY_INVALID_STREAM:
        return "INVALID_STREAM";
    case BERTH_SPDY_REFUSED_STREAM:
        return "REFUSED_STREAM";
    case BERTH_SPDY_UNSUPPORTED_VERSION:
        return "UNSUPPORTED_VERSION";
    case BERTH_SPDY_CANCEL:
        return "CANCEL";
    case BERTH_SPDY_INTERNAL_ERROR:
        return "INTERNAL_ERROR";
    case BERTH_SPDY_FLOW_CONTROL_ERROR:
        return "FLOW_CONTROL_ERROR";
    case BERTH_SPDY_STREAM_IN_USE:
        return "STREAM_IN_USE";
    case BERTH_SPDY_STREAM_ALREADY_CLOSED:
        return "STREAM_ALREADY_CLOSED";
    case BERTH_SPDY_FRAME_TOO_LARGE:
        return "FRAME_TOO_LARGE";
    default:
        return "UNKNOWN";
    }
}

const char *berth_spdy_goaway_status_name(uint32_t status)
{
    switch (status) {
    case BERTH_SPDY_GOAWAY_OK:
        return "OK";
    case BERTH_SPDY_GOAWAY_PROTOCOL_ERROR:
        return "PROTOCOL_ERROR";
    case BERTH_SPDY_GOAWAY_INTERNAL_ERROR:
        return "INTERNAL_ERROR";
    default:
        return "UNKNOWN";
    }
}
