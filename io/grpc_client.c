/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blocking gRPC client: an nghttp2 client session on a connected unix
 * socket, driven with plain send(2), recv(2) and poll(2) on the calling
 * thread. It is a tool for tests, benchmarks and simulators; the daemon
 * never links it into a worker path. Reply lengths from the server are
 * checked against a fixed limit before anything is buffered for them.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "engine/alloc.h"
#include "io/grpc_client.h"

#define CLIENT_MAX_MSG (64u * 1024 * 1024)
#define LOCAL_GRACE_NS 1000000000ull

struct berth_grpc_client_call {
    int32_t sid;
    struct berth_grpc_client_call *prev, *next;
    uint8_t *req;
    size_t req_len, req_off;
    uint8_t *buf; /* undelivered reply bytes */
    size_t len, cap;
    uint8_t *msg; /* first reply message (unary) */
    size_t msg_len;
    bool have_msg;
    berth_grpc_client_msg_fn fn;
    void *ctx;
    int http_status;
    int status;
    bool have_status;
    char *status_msg;
    bool closed, cancelled, expired, too_large;
    uint32_t error_code;
    uint64_t local_deadline;
};

struct berth_grpc_client {
    int fd;
    nghttp2_session *s;
    berth_grpc_client_call_t *calls;
    bool broken;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void call_free(berth_grpc_client_call_t *call)
{
    berth_free(call->req);
    berth_free(call->buf);
    berth_free(call->msg);
    berth_free(call->status_msg);
    berth_free(call);
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static char *percent_decode(const uint8_t *v, size_t n)
{
    char *out = berth_malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (v[i] == '%' && i + 2 < n && (hi = hexval(v[i + 1])) >= 0 &&
            (lo = hexval(v[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = (char)v[i];
        }
    }
    out[o] = '\0';
    return out;
}

static bool eq(const uint8_t *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    return alen == blen && memcmp(a, b, blen) == 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    berth_grpc_client_call_t *call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!call)
        return 0;
    if (eq(name, namelen, ":status")) {
        int st = 0;
        for (size_t i = 0; i < valuelen && i < 3; i++)
            st = st * 10 + (value[i] - '0');
        call->http_status = st;
    } else if (eq(name, namelen, "grpc-status")) {
        int st = 0;
        for (size_t i = 0; i < valuelen && i < 4; i++) {
            if (value[i] < '0' || value[i] > '9')
                break;
            st = st * 10 + (value[i] - '0');
        }
        call->status = st;
        call->have_status = true;
    } else if (eq(name, namelen, "grpc-message")) {
        berth_free(call->status_msg);
        call->status_msg = percent_decode(value, valuelen);
    }
    return 0;
}

static void deliver(nghttp2_session *s, berth_grpc_client_call_t *call)
{
    size_t off = 0;
    while (call->len - off >= 5 && !call->cancelled) {
        const uint8_t *p = call->buf + off;
        size_t mlen = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (mlen > CLIENT_MAX_MSG) {
            call->too_large = true;
            call->cancelled = true;
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, call->sid, NGHTTP2_CANCEL);
            break;
        }
        if (call->len - off - 5 < mlen)
            break;
        if (call->fn) {
            if (call->fn(call->ctx, p + 5, mlen) != 0) {
                call->cancelled = true;
                nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, call->sid, NGHTTP2_CANCEL);
            }
        } else if (!call->have_msg) {
            call->have_msg = true;
            call->msg = mlen ? berth_memdup(p + 5, mlen) : NULL;
            call->msg_len = mlen;
        }
        off += 5 + mlen;
    }
    memmove(call->buf, call->buf + off, call->len - off);
    call->len -= off;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len,
                   void *user_data)
{
    berth_grpc_client_call_t *call = nghttp2_session_get_stream_user_data(s, sid);
    if (!call || call->cancelled)
        return 0;
    /* Check the length the server announced before buffering for it. */
    if (call->len + len > CLIENT_MAX_MSG + 5) {
        call->too_large = true;
        call->cancelled = true;
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, sid, NGHTTP2_CANCEL);
        return 0;
    }
    if (call->len + len > call->cap) {
        call->cap = call->len + len > call->cap * 2 ? call->len + len : call->cap * 2;
        call->buf = berth_realloc(call->buf, call->cap);
    }
    memcpy(call->buf + call->len, data, len);
    call->len += len;
    deliver(s, call);
    return 0;
}

static int on_close(nghttp2_session *s, int32_t sid, uint32_t error_code, void *user_data)
{
    berth_grpc_client_call_t *call = nghttp2_session_get_stream_user_data(s, sid);
    if (!call)
        return 0;
    call->closed = true;
    call->error_code = error_code;
    nghttp2_session_set_stream_user_data(s, sid, NULL);
    return 0;
}

static ssize_t req_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t length,
                        uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    berth_grpc_client_call_t *call = source->ptr;
    size_t n = call->req_len - call->req_off;
    if (n > length)
        n = length;
    memcpy(buf, call->req + call->req_off, n);
    call->req_off += n;
    if (call->req_off == call->req_len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int fail_broken(berth_grpc_client_t *c, berth_err_t *err)
{
    c->broken = true;
    return berth_err_make(err, ECONNRESET, BERTH_ERR_UNAVAILABLE,
                          "grpc client: connection to the server was lost");
}

static int flush(berth_grpc_client_t *c, berth_err_t *err)
{
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->s, &data);
        if (n < 0)
            return berth_err_make(err, EPROTO, BERTH_ERR_INTERNAL, "grpc client: %s",
                                  nghttp2_strerror((int)n));
        if (n == 0)
            return 0;
        size_t off = 0;
        while (off < (size_t)n) {
            ssize_t w = send(c->fd, data + off, (size_t)n - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return fail_broken(c, err);
            off += (size_t)w;
        }
    }
}

/* Reads once (waiting at most timeout_ms, -1 forever) and feeds the session. */
static int read_some(berth_grpc_client_t *c, int timeout_ms, berth_err_t *err)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno == EINTR)
        return 0;
    if (r < 0)
        return berth_err_errno(err, errno, "grpc client: poll");
    if (r == 0)
        return 0;
    uint8_t buf[16384];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n <= 0)
        return fail_broken(c, err);
    ssize_t k = nghttp2_session_mem_recv(c->s, buf, (size_t)n);
    if (k < 0) {
        c->broken = true;
        return berth_err_make(err, EPROTO, BERTH_ERR_INTERNAL, "grpc client: %s",
                              nghttp2_strerror((int)k));
    }
    return 0;
}

berth_grpc_client_t *berth_grpc_client_new(const char *path, berth_err_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        berth_err_make(err, ENAMETOOLONG, BERTH_ERR_INVALID, "socket path too long: %s", path);
        return NULL;
    }
    memcpy(sa.sun_path, path, strlen(path));
    BERTH_AUTO_CLOSE int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        berth_err_errno(err, errno, "socket");
        return NULL;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        berth_err_errno(err, errno, "connect %s", path);
        return NULL;
    }
    berth_grpc_client_t *c = berth_calloc(1, sizeof(*c));
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        abort();
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
    int rc = nghttp2_session_client_new3(&c->s, cbs, c, NULL,
                                         (nghttp2_mem *)berth_alloc_nghttp2_mem());
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0)
        abort();
    nghttp2_settings_entry iv[] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };
    nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, BERTH_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, 8 << 20);
    c->fd = berth_steal_fd(&fd);
    return c;
}

void berth_grpc_client_free(berth_grpc_client_t *c)
{
    if (!c)
        return;
    nghttp2_session_del(c->s);
    berth_grpc_client_call_t *call = c->calls;
    while (call) {
        berth_grpc_client_call_t *next = call->next;
        call_free(call);
        call = next;
    }
    close(c->fd);
    berth_free(c);
}

/* grpc-timeout allows at most 8 digits: pick the finest unit that fits. */
static void format_timeout(uint64_t ns, char *out, size_t cap)
{
    static const struct {
        char unit;
        uint64_t div;
    } units[] = {{'n', 1},
                 {'u', 1000},
                 {'m', 1000000},
                 {'S', 1000000000ull},
                 {'M', 60000000000ull},
                 {'H', 3600000000000ull}};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(units); i++) {
        uint64_t v = (ns + units[i].div - 1) / units[i].div;
        if (v <= 99999999) {
            snprintf(out, cap, "%llu%c", (unsigned long long)v, units[i].unit);
            return;
        }
    }
    snprintf(out, cap, "99999999H");
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE             \
    }

berth_grpc_client_call_t *berth_grpc_client_start_call(berth_grpc_client_t *c, const char *method,
                                                       const void *req, size_t req_len,
                                                       uint64_t timeout_ns, berth_err_t *err)
{
    if (c->broken) {
        fail_broken(c, err);
        return NULL;
    }
    if (req_len > 0xffffffffu) {
        berth_err_make(err, EMSGSIZE, BERTH_ERR_EXHAUSTED, "request too large");
        return NULL;
    }
    berth_grpc_client_call_t *call = berth_calloc(1, sizeof(*call));
    call->req_len = req_len + 5;
    call->req = berth_malloc(call->req_len);
    call->req[0] = 0;
    call->req[1] = (uint8_t)(req_len >> 24);
    call->req[2] = (uint8_t)(req_len >> 16);
    call->req[3] = (uint8_t)(req_len >> 8);
    call->req[4] = (uint8_t)req_len;
    if (req_len)
        memcpy(call->req + 5, req, req_len);
    call->status = BERTH_GRPC_UNKNOWN;

    char tbuf[32];
    nghttp2_nv nv[7] = {
            NV(":method", "POST"),
            NV(":scheme", "http"),
            NV(":path", method),
            NV(":authority", "localhost"),
            NV("content-type", "application/grpc"),
            NV("te", "trailers"),
    };
    size_t n = 6;
    if (timeout_ns) {
        format_timeout(timeout_ns, tbuf, sizeof(tbuf));
        nv[n++] = (nghttp2_nv)NV("grpc-timeout", tbuf);
        call->local_deadline = mono_ns() + timeout_ns + LOCAL_GRACE_NS;
    }
    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = req_read};
    int32_t sid = nghttp2_submit_request(c->s, NULL, nv, n, &prd, call);
    if (sid < 0) {
        call_free(call);
        berth_err_make(err, EPROTO, BERTH_ERR_UNAVAILABLE, "grpc client: submit: %s",
                       nghttp2_strerror(sid));
        return NULL;
    }
    call->sid = sid;
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    if (flush(c, err) < 0)
        return call; /* wait() reports the broken connection and frees it */
    return call;
}

int berth_grpc_client_cancel(berth_grpc_client_t *c, berth_grpc_client_call_t *call,
                             berth_err_t *err)
{
    if (call->closed || call->cancelled)
        return 0;
    call->cancelled = true;
    nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, call->sid, NGHTTP2_CANCEL);
    return flush(c, err);
}

static int http_to_grpc(int st)
{
    switch (st) {
    case 400:
        return BERTH_GRPC_INTERNAL;
    case 401:
        return BERTH_GRPC_UNAUTHENTICATED;
    case 403:
        return BERTH_GRPC_PERMISSION_DENIED;
    case 404:
        return BERTH_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return BERTH_GRPC_UNAVAILABLE;
    default:
        return BERTH_GRPC_UNKNOWN;
    }
}

int berth_grpc_client_wait(berth_grpc_client_t *c, berth_grpc_client_call_t *call, uint8_t **resp,
                           size_t *resp_len, int *status, char **status_msg, berth_err_t *err)
{
    int rc = 0;
    while (!call->closed) {
        if (c->broken) {
            rc = fail_broken(c, err);
            break;
        }
        if (flush(c, err) < 0) {
            rc = -1;
            break;
        }
        if (call->closed)
            break;
        int timeout_ms = -1;
        if (call->local_deadline) {
            uint64_t now = mono_ns();
            if (now >= call->local_deadline) {
                if (!call->cancelled) {
                    call->cancelled = call->expired = true;
                    nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, call->sid, NGHTTP2_CANCEL);
                }
                timeout_ms = 100;
            } else {
                timeout_ms = (int)((call->local_deadline - now) / 1000000) + 1;
            }
        }
        if (read_some(c, timeout_ms, err) < 0) {
            rc = -1;
            break;
        }
    }

    if (rc == 0) {
        int st;
        char *msg = NULL;
        if (call->have_status && !call->too_large) {
            st = call->status;
            msg = berth_steal_ptr(&call->status_msg);
        } else if (call->too_large) {
            st = BERTH_GRPC_RESOURCE_EXHAUSTED;
            msg = berth_strdup("grpc client: received message larger than max");
        } else if (call->expired) {
            st = BERTH_GRPC_DEADLINE_EXCEEDED;
            msg = berth_strdup("grpc client: deadline exceeded with no answer from the server");
        } else if (call->cancelled) {
            st = BERTH_GRPC_CANCELLED;
            msg = berth_strdup("cancelled by the client");
        } else if (call->http_status && call->http_status != 200) {
            st = http_to_grpc(call->http_status);
            msg = berth_asprintf("unexpected HTTP status %d", call->http_status);
        } else if (call->error_code == NGHTTP2_REFUSED_STREAM) {
            st = BERTH_GRPC_UNAVAILABLE;
            msg = berth_strdup("stream refused by the server");
        } else {
            st = BERTH_GRPC_INTERNAL;
            msg = berth_asprintf("stream closed without a status (HTTP/2 error %u)",
                                 call->error_code);
        }
        if (status)
            *status = st;
        if (status_msg)
            *status_msg = msg;
        else
            berth_free(msg);
        if (resp)
            *resp = berth_steal_ptr(&call->msg);
        if (resp_len)
            *resp_len = call->msg_len;
    } else if (!call->closed) {
        nghttp2_session_set_stream_user_data(c->s, call->sid, NULL);
    }

    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call_free(call);
    return rc;
}

int berth_grpc_client_call(berth_grpc_client_t *c, const char *method, const void *req,
                           size_t req_len, uint64_t timeout_ns, uint8_t **resp, size_t *resp_len,
                           int *status, char **status_msg, berth_err_t *err)
{
    berth_grpc_client_call_t *call =
            berth_grpc_client_start_call(c, method, req, req_len, timeout_ns, err);
    if (!call)
        return -1;
    return berth_grpc_client_wait(c, call, resp, resp_len, status, status_msg, err);
}

int berth_grpc_client_call_stream(berth_grpc_client_t *c, const char *method, const void *req,
                                  size_t req_len, uint64_t timeout_ns, berth_grpc_client_msg_fn fn,
                                  void *ctx, int *status, char **status_msg, berth_err_t *err)
{
    berth_grpc_client_call_t *call =
            berth_grpc_client_start_call(c, method, req, req_len, timeout_ns, err);
    if (!call)
        return -1;
    call->fn = fn;
    call->ctx = ctx;
    return berth_grpc_client_wait(c, call, NULL, NULL, status, status_msg, err);
}
