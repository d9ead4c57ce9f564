/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP/2 + gRPC session core of one server connection: bytes in through
 * nghttp2_session_mem_recv, bytes out through nghttp2_session_mem_send,
 * callbacks for complete requests and closed streams. It validates requests
 * (POST, application/grpc*, identity encoding, one length-prefixed message
 * within the size limit) and answers invalid ones itself; it frames replies
 * and trailers. It knows nothing of actors or sockets, so tests drive it with
 * an in-memory nghttp2 client. It must never trust a peer's length before
 * checking it against the limit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/grpc-internal.h"

/* nghttp2 1.52 (Debian 12) predates mem_recv2/mem_send2; the old calls have
 * the same semantics with ssize_t. */

typedef struct h2stream {
    int32_t id;
    struct h2stream *prev, *next;

    /* request */
    char *path;
    bool post, grpc_ct, bad_ct_seen;
    char *encoding; /* grpc-encoding other than identity, when sent */
    int64_t timeout_ns;
    bool bad_timeout;
    uint8_t prefix[5];
    size_t prefix_got;
    uint8_t *body;
    size_t body_len, body_got, body_cap;
    size_t counted; /* body bytes counted in the connection's and the process's totals */
    bool in_body;   /* prefix complete, body being read */
    bool have_msg;  /* one complete message */

    /* state */
    bool rejected;   /* answered by the core; further input is ignored */
    bool dispatched; /* handed to on_request */
    void *user;

    /* response */
    bool started;  /* response HEADERS submitted with a data provider */
    bool finished; /* final status decided */
    bool deferred; /* data provider returned DEFERRED */
    /* A message taken whole (berth_h2_send_msg_take) goes out from its own
     * buffer, its length prefix from `head`, ahead of the copied ones in
     * `out`; held_off counts the prefix's 5 bytes too. */
    uint8_t head[5];
    uint8_t *held;
    size_t held_len, held_off;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    int code;
    char *text;
} h2stream_t;

struct berth_h2 {
    nghttp2_session *session;
    berth_h2_callbacks_t cb;
    void *ctx;
    size_t max_msg, max_conn_buffered, max_total_buffered, max_stream_queued;
    size_t buffered;     /* partial request bytes held on this connection */
    h2stream_t *streams; /* open streams, for counting and freeing */
    size_t nstreams;
    bool dead; /* a fatal receive error happened */
};

char *berth_grpc_percent_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = berth_malloc(n * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c <= 0x7e && c != '%') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

int64_t berth_grpc_parse_timeout(const char *v, size_t len)
{
    /* TimeoutValue is 1..8 ASCII digits, then one unit character. */
    if (!v || len < 2 || len > 9)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    int64_t mul;
    switch (v[len - 1]) {
    case 'H':
        mul = 3600LL * 1000000000LL;
        break;
    case 'M':
        mul = 60LL * 1000000000LL;
        break;
    case 'S':
        mul = 1000000000LL;
        break;
    case 'm':
        mul = 1000000LL;
        break;
    case 'u':
        mul = 1000LL;
        break;
    case 'n':
        mul = 1;
        break;
    default:
        return -1;
    }
    /* 99999999H is about 3.6e20 ns and overflows int64: saturate. */
    if (n > INT64_MAX / mul)
        return INT64_MAX;
    return n * mul;
}

/* Partial request bytes over every connection. Relaxed atomics: it is a
 * bound, and a few bytes of slack between two connections racing to the
 * limit are harmless; no other memory is published through it. */
static size_t buffered_total;

size_t berth_grpc_buffered_total(void)
{
    return __atomic_load_n(&buffered_total, __ATOMIC_RELAXED);
}

/* Takes st's bytes out of the totals (its message is complete and handed
 * on, or dropped). */
static void uncount(berth_h2_t *h, h2stream_t *st)
{
    h->buffered -= st->counted;
    __atomic_sub_fetch(&buffered_total, st->counted, __ATOMIC_RELAXED);
    st->counted = 0;
}

static void stream_free(h2stream_t *st)
{
    berth_free(st->path);
    berth_free(st->encoding);
    berth_free(st->body);
    berth_free(st->held);
    berth_free(st->out);
    berth_free(st->text);
    berth_free(st);
}

static h2stream_t *stream_get(berth_h2_t *h, int32_t id)
{
    return nghttp2_session_get_stream_user_data(h->session, id);
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE             \
    }

/* Status trailers; with_head adds :status and content-type for a
 * trailers-only response. nghttp2 copies the header fields. */
static int submit_status(berth_h2_t *h, h2stream_t *st, bool with_head)
{
    char code[16];
    snprintf(code, sizeof(code), "%d", st->code);
    BERTH_AUTO_FREE char *enc = berth_grpc_percent_encode(st->text ? st->text : "");
    nghttp2_nv nv[6];
    size_t n = 0;
    if (with_head) {
        nv[n++] = (nghttp2_nv)NV(":status", "200");
        nv[n++] = (nghttp2_nv)NV("content-type", "application/grpc");
    }
    nv[n++] = (nghttp2_nv)NV("grpc-status", code);
    if (enc[0])
        nv[n++] = (nghttp2_nv)NV("grpc-message", enc);
    if (st->code == BERTH_GRPC_UNIMPLEMENTED && st->encoding)
        nv[n++] = (nghttp2_nv)NV("grpc-accept-encoding", "identity");
    if (with_head)
        return nghttp2_submit_response(h->session, st->id, nv, n, NULL);
    return nghttp2_submit_trailer(h->session, st->id, nv, n);
}

static ssize_t data_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    berth_h2_t *h = user_data;
    h2stream_t *st = source->ptr;
    size_t held = st->held ? 5 + st->held_len - st->held_off : 0;
    size_t avail = held + st->out_len - st->out_off;
    if (avail == 0 && !st->finished) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = 0;
    while (st->held && n < length) {
        size_t k;
        if (st->held_off < 5) {
            k = 5 - st->held_off < length - n ? 5 - st->held_off : length - n;
            memcpy(buf + n, st->head + st->held_off, k);
        } else {
            size_t left = st->held_len - (st->held_off - 5);
            k = left < length - n ? left : length - n;
            memcpy(buf + n, st->held + (st->held_off - 5), k);
        }
        n += k;
        st->held_off += k;
        if (st->held_off == 5 + st->held_len) {
            berth_free(st->held);
            st->held = NULL;
            st->held_len = st->held_off = 0;
        }
    }
    if (st->held == NULL && n < length) {
        size_t k = st->out_len - st->out_off < length - n ? st->out_len - st->out_off : length - n;
        if (k > 0) /* out is NULL for an empty answer: memcpy's arguments must be valid */
            memcpy(buf + n, st->out + st->out_off, k);
        n += k;
        st->out_off += k;
        if (st->out_off == st->out_len)
            st->out_off = st->out_len = 0;
    }
    if (st->held == NULL && st->out_len == 0 && st->finished) {
        /* The status goes in trailers, so the DATA must not end the stream. */
        *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        if (submit_status(h, st, false) != 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return (ssize_t)n;
}

static void kick(berth_h2_t *h, h2stream_t *st)
{
    if (st->deferred) {
        st->deferred = false;
        nghttp2_session_resume_data(h->session, st->id);
    }
}

static int finish(berth_h2_t *h, h2stream_t *st, int code, const char *msg)
{
    if (st->finished)
        return -1;
    st->finished = true;
    st->code = code;
    st->text = msg ? berth_strdup(msg) : NULL;
    if (!st->started)
        return submit_status(h, st, true) == 0 ? 0 : -1;
    kick(h, st);
    return 0;
}

static void reject(berth_h2_t *h, h2stream_t *st, int code, const char *msg)
{
    st->rejected = true;
    uncount(h, st);
    berth_free(st->body);
    st->body = NULL;
    finish(h, st, code, msg);
}

/* A plain HTTP error for requests that are not gRPC at all. */
static void reject_http(berth_h2_t *h, h2stream_t *st, const char *status)
{
    st->rejected = true;
    st->finished = true;
    nghttp2_nv nv[] = {NV(":status", status)};
    nghttp2_submit_response(h->session, st->id, nv, 1, NULL);
}

static void put_prefix(uint8_t *p, size_t len)
{
    p[0] = 0; /* not compressed */
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
}

/* Queues one message, taken when `take` and nothing is queued before it
 * (else copied behind what is), and starts the response or resumes it. */
static int send_msg(berth_h2_t *h, int32_t stream_id, uint8_t *pb, size_t len, bool take)
{
    h2stream_t *st = stream_get(h, stream_id);
    if (!st || st->finished)
        return -1;
    if (len > h->max_msg) {
        char buf[128];
        snprintf(buf, sizeof(buf), "grpc: trying to send message larger than max (%zu vs. %zu)",
                 len, h->max_msg);
        return finish(h, st, BERTH_GRPC_RESOURCE_EXHAUSTED, buf) == 0 ? 1 : -1;
    }
    /* A client that stops reading (its window stays shut) must not make us
     * hold every message of an open-ended stream: past the cap the stream is
     * reset, which frees its output; a first message alone is never refused
     * here (max_msg bounds it). */
    size_t queued = (st->held ? 5 + st->held_len - st->held_off : 0) + st->out_len - st->out_off;
    if (queued > 0 && queued + 5 + len > h->max_stream_queued) {
        st->finished = true;
        nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_ENHANCE_YOUR_CALM);
        return 2;
    }
    /* Sent bytes at the front are dropped once they are half the buffer, so
     * a stream read slowly but steadily holds what is unsent, not all it
     * ever queued. */
    if (st->out_off > 0 && st->out_off >= st->out_len / 2) {
        memmove(st->out, st->out + st->out_off, st->out_len - st->out_off);
        st->out_len -= st->out_off;
        st->out_off = 0;
    }
    if (take && pb != NULL && st->held == NULL && st->out_len == 0) {
        put_prefix(st->head, len);
        st->held = berth_steal_ptr(&pb);
        st->held_len = len;
        st->held_off = 0;
    } else {
        size_t need = st->out_len + 5 + len;
        if (need > st->out_cap) {
            st->out_cap = need > st->out_cap * 2 ? need : st->out_cap * 2;
            st->out = berth_realloc(st->out, st->out_cap);
        }
        uint8_t *p = st->out + st->out_len;
        put_prefix(p, len);
        if (len)
            memcpy(p + 5, pb, len);
        st->out_len = need;
    }
    if (!st->started) {
        st->started = true;
        nghttp2_nv nv[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
        nghttp2_data_provider prd = {.source.ptr = st, .read_callback = data_read};
        if (nghttp2_submit_response(h->session, st->id, nv, 2, &prd) != 0)
            return -1;
        return 0;
    }
    kick(h, st);
    return 0;
}

int berth_h2_send_msg(berth_h2_t *h, int32_t stream_id, const void *pb, size_t len)
{
    return send_msg(h, stream_id, (uint8_t *)pb, len, false);
}

int berth_h2_send_msg_take(berth_h2_t *h, int32_t stream_id, uint8_t *pb, size_t len)
{
    int r = send_msg(h, stream_id, pb, len, true);
    /* not taken (copied, refused or dropped): it is ours to free */
    h2stream_t *st = stream_get(h, stream_id);
    if (st == NULL || st->held != pb)
        berth_free(pb);
    return r;
}

int berth_h2_finish(berth_h2_t *h, int32_t stream_id, int code, const char *msg)
{
    h2stream_t *st = stream_get(h, stream_id);
    if (!st)
        return -1;
    return finish(h, st, code, msg);
}

/* ---- nghttp2 callbacks ----------------------------------------------- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    berth_h2_t *h = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    h2stream_t *st = berth_calloc(1, sizeof(*st));
    st->id = frame->hd.stream_id;
    st->timeout_ns = -1;
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    h->nstreams++;
    nghttp2_session_set_stream_user_data(session, st->id, st);
    return 0;
}

static bool eq(const uint8_t *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    return alen == blen && memcmp(a, b, blen) == 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    berth_h2_t *h = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    h2stream_t *st = stream_get(h, frame->hd.stream_id);
    if (!st || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers from the client carry nothing we use */
    if (eq(name, namelen, ":method")) {
        st->post = eq(value, valuelen, "POST");
    } else if (eq(name, namelen, ":path")) {
        berth_free(st->path);
        st->path = berth_strndup((const char *)value, valuelen);
    } else if (eq(name, namelen, "content-type")) {
        /* application/grpc, application/grpc+proto, application/grpc;... */
        st->grpc_ct = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                      (valuelen == 16 || value[16] == '+' || value[16] == ';');
    } else if (eq(name, namelen, "grpc-encoding")) {
        if (!eq(value, valuelen, "identity")) {
            berth_free(st->encoding);
            st->encoding = berth_strndup((const char *)value, valuelen < 64 ? valuelen : 64);
        }
    } else if (eq(name, namelen, "grpc-timeout")) {
        st->timeout_ns = berth_grpc_parse_timeout((const char *)value, valuelen);
        st->bad_timeout = st->timeout_ns < 0;
    }
    return 0;
}

static void dispatch(berth_h2_t *h, h2stream_t *st)
{
    st->dispatched = true;
    uint8_t *body = berth_steal_ptr(&st->body);
    size_t len = st->body_len;
    if (len == 0) {
        berth_free(body);
        body = NULL;
    }
    st->user = h->cb.on_request(h->ctx, st->id, st->path, body, len, st->timeout_ns);
}

static void check_request(berth_h2_t *h, h2stream_t *st)
{
    if (!st->post) {
        reject_http(h, st, "405");
    } else if (!st->grpc_ct) {
        reject_http(h, st, "415");
    } else if (!st->path || st->path[0] != '/') {
        reject(h, st, BERTH_GRPC_UNIMPLEMENTED, "missing or malformed :path");
    } else if (st->encoding) {
        char buf[160];
        snprintf(buf, sizeof(buf), "grpc-encoding %s is not supported; send identity encoding",
                 st->encoding);
        reject(h, st, BERTH_GRPC_UNIMPLEMENTED, buf);
    } else if (st->bad_timeout) {
        reject(h, st, BERTH_GRPC_INTERNAL, "malformed grpc-timeout header");
    }
}

static void end_of_request(berth_h2_t *h, h2stream_t *st)
{
    if (st->rejected || st->dispatched || st->finished)
        return;
    if (st->prefix_got || st->in_body) {
        reject(h, st, BERTH_GRPC_INTERNAL, "request ended inside a message");
        return;
    }
    /* A request without a message is taken as an empty one (lenient). */
    dispatch(h, st);
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    berth_h2_t *h = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    h2stream_t *st = stream_get(h, frame->hd.stream_id);
    if (!st)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        check_request(h, st);
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        end_of_request(h, st);
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    berth_h2_t *h = user_data;
    h2stream_t *st = stream_get(h, stream_id);
    if (!st || st->rejected || st->finished)
        return 0;
    while (len > 0) {
        if (!st->in_body) {
            size_t n = 5 - st->prefix_got;
            if (n > len)
                n = len;
            memcpy(st->prefix + st->prefix_got, data, n);
            st->prefix_got += n;
            data += n;
            len -= n;
            if (st->prefix_got < 5)
                return 0;
            if (st->have_msg) {
                reject(h, st, BERTH_GRPC_UNIMPLEMENTED,
                       "only one request message per call is supported");
                return 0;
            }
            if (st->prefix[0] & 1) {
                reject(h, st, BERTH_GRPC_UNIMPLEMENTED,
                       "compressed messages are not supported; send identity encoding");
                return 0;
            }
            if (st->prefix[0] != 0) {
                reject(h, st, BERTH_GRPC_INTERNAL, "invalid message flags");
                return 0;
            }
            size_t mlen = (size_t)st->prefix[1] << 24 | (size_t)st->prefix[2] << 16 |
                          (size_t)st->prefix[3] << 8 | st->prefix[4];
            /* The limit is checked before anything is allocated for it. */
            if (mlen > h->max_msg) {
                char buf[128];
                snprintf(buf, sizeof(buf), "grpc: received message larger than max (%zu vs. %zu)",
                         mlen, h->max_msg);
                reject(h, st, BERTH_GRPC_RESOURCE_EXHAUSTED, buf);
                return 0;
            }
            st->prefix_got = 0;
            st->body_len = mlen;
            st->body_got = 0;
            st->body_cap = 0;
            st->body = NULL;
            st->in_body = mlen > 0;
            st->have_msg = mlen == 0;
            continue;
        }
        size_t n = st->body_len - st->body_got;
        if (n > len)
            n = len;
        size_t total = __atomic_load_n(&buffered_total, __ATOMIC_RELAXED);
        if (h->buffered + n > h->max_conn_buffered || total + n > h->max_total_buffered) {
            char buf[200];
            bool conn = h->buffered + n > h->max_conn_buffered;
            snprintf(buf, sizeof(buf),
                     "grpc: %s holds %zu bytes of requests still being received; this one would "
                     "pass the limit of %zu",
                     conn ? "this connection" : "the server", conn ? h->buffered : total,
                     conn ? h->max_conn_buffered : h->max_total_buffered);
            reject(h, st, BERTH_GRPC_RESOURCE_EXHAUSTED, buf);
            return 0;
        }
        /* The body grows with what arrives: a prefix announcing 16 MiB costs
         * nothing until the bytes come. */
        if (st->body_got + n > st->body_cap) {
            size_t cap = st->body_cap ? st->body_cap * 2 : 64u << 10;
            while (cap < st->body_got + n)
                cap *= 2;
            if (cap > st->body_len)
                cap = st->body_len;
            st->body = berth_realloc(st->body, cap);
            st->body_cap = cap;
        }
        memcpy(st->body + st->body_got, data, n);
        st->body_got += n;
        st->counted += n;
        h->buffered += n;
        __atomic_add_fetch(&buffered_total, n, __ATOMIC_RELAXED);
        data += n;
        len -= n;
        if (st->body_got == st->body_len) {
            st->in_body = false;
            st->have_msg = true;
            uncount(h, st); /* complete: it is the handler's now */
        }
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    berth_h2_t *h = user_data;
    h2stream_t *st = stream_get(h, stream_id);
    if (!st)
        return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    h->nstreams--;
    uncount(h, st);
    if (st->dispatched && h->cb.on_close)
        h->cb.on_close(h->ctx, stream_id, st->user, st->finished, error_code);
    stream_free(st);
    return 0;
}

berth_h2_t *berth_h2_new(const berth_h2_callbacks_t *cb, void *ctx,
                         const berth_grpc_limits_t *limits)
{
    berth_h2_t *h = berth_calloc(1, sizeof(*h));
    h->cb = *cb;
    h->ctx = ctx;
    berth_grpc_limits_t lim = limits ? *limits : (berth_grpc_limits_t){0};
    h->max_msg = lim.max_msg_size ? lim.max_msg_size : BERTH_GRPC_DEFAULT_MAX_MSG;
    h->max_stream_queued =
            lim.max_stream_queued ? lim.max_stream_queued : BERTH_GRPC_DEFAULT_STREAM_QUEUED;
    h->max_conn_buffered =
            lim.max_conn_buffered ? lim.max_conn_buffered : BERTH_GRPC_DEFAULT_CONN_BUFFERED;
    h->max_total_buffered =
            lim.max_total_buffered ? lim.max_total_buffered : BERTH_GRPC_DEFAULT_TOTAL_BUFFERED;

    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        abort();
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0)
        abort();
    /* Our own stream records are the truth; nghttp2 need not keep closed
     * streams around for priority bookkeeping. */
    nghttp2_option_set_no_closed_streams(opt, 1);
    int rc = nghttp2_session_server_new3(&h->session, cbs, h, opt,
                                         (nghttp2_mem *)berth_alloc_nghttp2_mem());
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0)
        abort(); /* only NGHTTP2_ERR_NOMEM, which berth's allocator never returns */

    nghttp2_settings_entry iv[] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim.max_streams ? lim.max_streams : 1000},
            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
            {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 1 << 16},
    };
    nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, BERTH_ARRAY_LEN(iv));
    /* The connection window starts at 64 KiB regardless of SETTINGS. */
    nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0, 8 << 20);
    return h;
}

void berth_h2_free(berth_h2_t *h)
{
    if (!h)
        return;
    /* nghttp2_session_del frees its streams without the close callback; the
     * stream records are ours to free. */
    nghttp2_session_del(h->session);
    h2stream_t *st = h->streams;
    while (st) {
        h2stream_t *next = st->next;
        uncount(h, st);
        stream_free(st);
        st = next;
    }
    berth_free(h);
}

int berth_h2_recv(berth_h2_t *h, const uint8_t *data, size_t len)
{
    if (h->dead)
        return -1;
    ssize_t n = nghttp2_session_mem_recv(h->session, data, len);
    if (n >= 0)
        return 0;
    /* Some errors (a bad client preface) leave the session open: end it so
     * that only the GOAWAY remains to be sent. */
    h->dead = true;
    nghttp2_session_terminate_session(h->session, NGHTTP2_PROTOCOL_ERROR);
    return (int)n;
}

ssize_t berth_h2_pull(berth_h2_t *h, const uint8_t **data)
{
    return nghttp2_session_mem_send(h->session, data);
}

bool berth_h2_want_io(berth_h2_t *h)
{
    if (h->dead)
        return nghttp2_session_want_write(h->session);
    return nghttp2_session_want_read(h->session) || nghttp2_session_want_write(h->session);
}

void berth_h2_goaway(berth_h2_t *h)
{
    nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h->session), NGHTTP2_NO_ERROR,
                          NULL, 0);
}

size_t berth_h2_open_streams(berth_h2_t *h)
{
    return h->nstreams;
}
