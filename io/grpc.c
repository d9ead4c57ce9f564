/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC calls and the connection actor. The connection actor owns one
 * accepted socket and one session core (h2conn.c): it keeps one io_uring recv
 * and at most one send in flight, turns complete requests into messages to
 * the dispatcher, arms a timer per call with a deadline, and applies the
 * reply messages that call owners send from any actor. It never blocks and
 * never runs domain rules; a connection that sends garbage is closed alone.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/hist.h"
#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/ring.h"
#include "io/grpc-internal.h"

#define RECV_BUF (64 * 1024)
#define SEND_BATCH (64 * 1024)

/* ---- calls ------------------------------------------------------------- */

berth_grpc_call_t *berth_grpc_call_new(berth_handle_t conn, int32_t stream_id, const char *method,
                                       uint64_t deadline_ns, berth_handle_t owner)
{
    berth_grpc_call_t *call = berth_calloc(1, sizeof(*call));
    berth_ref_init(&call->refs);
    call->conn = conn;
    call->stream_id = stream_id;
    call->method = berth_strdup(method ? method : "");
    call->deadline_ns = deadline_ns;
    call->owner = owner.v;
    call->started_ns = berth_hist_now();
    return call;
}

void berth_grpc_call_ref(berth_grpc_call_t *call)
{
    if (!call)
        return;
    berth_ref_inc(&call->refs);
}

void berth_grpc_call_unref(berth_grpc_call_t *call)
{
    if (!call)
        return;
    if (!berth_ref_dec_and_test(&call->refs))
        return;
    berth_free(call->method);
    berth_free(call);
}

const char *berth_grpc_call_method(const berth_grpc_call_t *call)
{
    return call ? call->method : "";
}

uint64_t berth_grpc_call_deadline(const berth_grpc_call_t *call)
{
    return call ? call->deadline_ns : 0;
}

void berth_grpc_call_set_owner(berth_grpc_call_t *call, berth_handle_t owner)
{
    if (!call)
        return;
    /* Relaxed: the handle is a self-contained value and nothing else is
     * published through it; the connection reads whichever owner is current
     * when it sends a cancel, and a send to a stale handle fails cleanly. */
    __atomic_store_n(&call->owner, owner.v, __ATOMIC_RELAXED);
}

/* The request and cancel messages own one reference to their call, dropped
 * when the message is freed: by its receiver, or by the engine when the
 * receiver is gone or exits with it still queued. A receiver that keeps the
 * call takes it (berth_steal_ptr) before freeing the message. */
static void cancel_free(berth_msg_t *msg)
{
    berth_grpc_call_unref(((berth_grpc_cancel_msg_t *)msg)->call);
    berth_free(msg);
}

void berth_grpc_call_send_cancel(berth_grpc_call_t *call, int reason)
{
    /* Relaxed: see berth_grpc_call_set_owner. */
    berth_handle_t owner = {__atomic_load_n(&call->owner, __ATOMIC_RELAXED)};
    berth_grpc_cancel_msg_t *m = berth_msg_new(BERTH_MSG_GRPC_CANCEL, sizeof(*m));
    m->hdr.free = cancel_free;
    berth_grpc_call_ref(call);
    m->call = call;
    m->reason = reason;
    berth_send(owner, &m->hdr); /* a failed send frees m, and its reference */
}

static void out_free(berth_msg_t *msg)
{
    grpc_out_msg_t *m = (grpc_out_msg_t *)msg;
    berth_grpc_call_unref(m->call);
    berth_free(m->data);
    berth_free(m->text);
    berth_free(m);
}

void berth_grpc_call_set_stats(berth_grpc_call_t *call, berth_grpc_stats_t *stats)
{
    if (call)
        /* Release: pairs with the acquire in count_call, so whoever posts
         * the final status sees the stats' fields (made before). */
        __atomic_store_n(&call->stats, stats, __ATOMIC_RELEASE);
}

/* The call's final status, into its method's counters. */
static void count_call(berth_grpc_call_t *call, int code, uint64_t took_ns)
{
    berth_grpc_stats_t *st = __atomic_load_n(&call->stats, __ATOMIC_ACQUIRE);
    if (st == NULL)
        return;
    /* Once per call: the client saw the first status (a deadline io/ answered
     * itself), not the owner's later one, which the stream drops. Relaxed:
     * only the exchange's atomicity matters, nothing is published by it. */
    if (__atomic_exchange_n(&call->counted, true, __ATOMIC_RELAXED))
        return;
    berth_metric_inc(st->total);
    berth_metric_set(st->latency_last, (int64_t)took_ns);
    berth_metric_observe(st->latency, took_ns);
    if (code == BERTH_GRPC_OK)
        return;
    berth_metric_inc(st->errors);
    if (code < 0 || code >= (int)BERTH_ARRAY_LEN(st->code))
        code = BERTH_GRPC_UNKNOWN;
    /* Acquire/release: the series comes from the registry, which made it
     * under its mutex; two first errors may both look it up and get the
     * same series. Only the first error of each code takes the mutex. */
    berth_metric_t *m = __atomic_load_n(&st->code[code], __ATOMIC_ACQUIRE);
    if (m == NULL) {
        m = berth_metrics_series2(st->by_code, st->operation, berth_grpc_code_name(code));
        __atomic_store_n(&st->code[code], m, __ATOMIC_RELEASE);
    }
    berth_metric_inc(m);
}

/* `taken`: pb is the message's own (freed with it), not copied. */
static void post(berth_grpc_call_t *call, unsigned what, const void *pb, size_t len, bool taken,
                 int code, const char *text)
{
    if (!call) {
        if (taken)
            berth_free((void *)pb);
        return; /* an internal request: nobody to answer */
    }
    if (what & GRPC_OUT_FINISH) {
        /* Arrival to the final answer's post, by method: "rpc StartContainer" */
        const char *slash = strrchr(call->method, '/');
        char name[96];
        snprintf(name, sizeof(name), "rpc %s", slash ? slash + 1 : call->method);
        uint64_t now = berth_hist_now();
        berth_hist_add(name, now > call->started_ns ? now - call->started_ns : 0);
        count_call(call, code, now > call->started_ns ? now - call->started_ns : 0);
    }
    grpc_out_msg_t *m = berth_msg_new(BERTH_MSG_GRPC_OUT, sizeof(*m));
    m->hdr.free = out_free;
    berth_grpc_call_ref(call);
    m->call = call;
    m->what = what;
    if (what & GRPC_OUT_MSG) {
        m->data = taken ? (void *)pb : len ? berth_memdup(pb, len) : NULL;
        m->len = len;
    }
    m->code = code;
    m->text = text ? berth_strdup(text) : NULL;
    /* A gone connection frees the message: the answer is dropped. */
    berth_send(call->conn, &m->hdr);
}

void berth_grpc_reply(berth_grpc_call_t *call, const void *pb, size_t len)
{
    post(call, GRPC_OUT_MSG | GRPC_OUT_FINISH, pb, len, false, BERTH_GRPC_OK, NULL);
}

void berth_grpc_reply_take(berth_grpc_call_t *call, void *pb, size_t len)
{
    post(call, GRPC_OUT_MSG | GRPC_OUT_FINISH, pb, len, true, BERTH_GRPC_OK, NULL);
}

void berth_grpc_send(berth_grpc_call_t *call, const void *pb, size_t len)
{
    post(call, GRPC_OUT_MSG, pb, len, false, 0, NULL);
}

void berth_grpc_finish(berth_grpc_call_t *call, int code, const char *msg)
{
    post(call, GRPC_OUT_FINISH, NULL, 0, false, code, msg);
}

berth_grpc_call_t *berth_grpc_call_local(berth_handle_t reply_to, int32_t tag, const char *method)
{
    return berth_grpc_call_new(reply_to, tag, method, 0, reply_to);
}

bool berth_grpc_out_final(const berth_msg_t *msg, int32_t *tag, int *code, const char **text)
{
    if (msg->type != BERTH_MSG_GRPC_OUT)
        return false;
    const grpc_out_msg_t *m = (const grpc_out_msg_t *)msg;
    if (!(m->what & GRPC_OUT_FINISH))
        return false;
    *tag = m->call->stream_id;
    *code = m->code;
    *text = m->text ? m->text : "";
    return true;
}

const char *berth_grpc_code_name(int code)
{
    static const char *const names[] = {
            "OK",
            "CANCELLED",
            "UNKNOWN",
            "INVALID_ARGUMENT",
            "DEADLINE_EXCEEDED",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "FAILED_PRECONDITION",
            "ABORTED",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
            "UNAUTHENTICATED",
    };
    if (code < 0 || (size_t)code >= BERTH_ARRAY_LEN(names))
        return "UNKNOWN";
    return names[code];
}

/* ---- the connection actor ---------------------------------------------- */

typedef struct grpc_timer_msg {
    berth_msg_t hdr;
    berth_grpc_call_t *call; /* one reference */
} grpc_timer_msg_t;

typedef struct conn {
    int fd;
    berth_h2_t *h2;
    berth_actor_t *self; /* valid during a turn */
    berth_handle_t me, listener, dispatch;
    berth_op_t recv_op, send_op;
    uint8_t *rbuf;
    uint8_t *sbuf;
    size_t slen, soff, scap;
    bool started, recv_busy, send_busy, closing, fatal, shutting, done;
    berth_grpc_call_t *calls; /* calls whose stream is open */
    berth_timer_t *grace;
} conn_t;

static void timer_free(berth_msg_t *msg)
{
    grpc_timer_msg_t *m = (grpc_timer_msg_t *)msg;
    berth_grpc_call_unref(m->call);
    berth_free(m);
}

static void request_free(berth_msg_t *msg)
{
    berth_grpc_request_msg_t *m = (berth_grpc_request_msg_t *)msg;
    berth_grpc_call_unref(m->call);
    berth_free(m->body);
    berth_free(m);
}

static void call_stop_timer(conn_t *c, berth_grpc_call_t *call)
{
    if (call->timer) {
        berth_timer_cancel(c->self, call->timer);
        call->timer = NULL;
    }
}

static void call_unlink(conn_t *c, berth_grpc_call_t *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
}

static void *conn_on_request(void *ctx, int32_t sid, const char *method, uint8_t *body, size_t len,
                             int64_t timeout_ns)
{
    conn_t *c = ctx;
    uint64_t deadline = 0;
    if (timeout_ns >= 0) {
        deadline = berth_now_ns() + (uint64_t)timeout_ns;
        if (deadline < (uint64_t)timeout_ns)
            deadline = UINT64_MAX;
    }
    berth_grpc_call_t *call = berth_grpc_call_new(c->me, sid, method, deadline, c->dispatch);
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;

    if (timeout_ns >= 0) {
        grpc_timer_msg_t *tm = berth_msg_new(BERTH_MSG_GRPC_TIMER, sizeof(*tm));
        tm->hdr.free = timer_free;
        berth_grpc_call_ref(call);
        tm->call = call;
        call->timer = berth_timer_after(c->self, (uint64_t)timeout_ns, &tm->hdr);
    }

    berth_grpc_request_msg_t *req = berth_msg_new(BERTH_MSG_GRPC_REQUEST, sizeof(*req));
    req->hdr.free = request_free;
    berth_grpc_call_ref(call);
    req->call = call;
    req->method = call->method;
    req->body = body;
    req->len = len;
    req->deadline_ns = deadline;
    if (berth_send(c->dispatch, &req->hdr) < 0) {
        /* (freeing req dropped its reference) */
        call->finished = true;
        call_stop_timer(c, call);
        berth_h2_finish(c->h2, sid, BERTH_GRPC_UNAVAILABLE, "the server is not dispatching calls");
    }
    return call;
}

static void conn_on_close(void *ctx, int32_t sid, void *user, bool finished, uint32_t error_code)
{
    conn_t *c = ctx;
    berth_grpc_call_t *call = user;
    if (!call)
        return;
    call->closed = true;
    if (!finished && !call->finished && !call->cancelled) {
        call->cancelled = true;
        berth_grpc_call_send_cancel(call, error_code ? BERTH_GRPC_CANCEL_RESET
                                                     : BERTH_GRPC_CANCEL_CLOSED);
    }
    call_stop_timer(c, call);
    call_unlink(c, call);
    berth_grpc_call_unref(call);
}

static void begin_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->recv_busy)
        berth_ring_cancel(c->self, &c->recv_op);
    if (c->send_busy)
        berth_ring_cancel(c->self, &c->send_op);
}

static void submit_send(conn_t *c)
{
    struct io_uring_sqe *sqe = berth_ring_sqe(c->self);
    /* MSG_NOSIGNAL: a peer that went away must not SIGPIPE the daemon. */
    io_uring_prep_send(sqe, c->fd, c->sbuf + c->soff, c->slen - c->soff, MSG_NOSIGNAL);
    c->send_busy = true;
    berth_ring_submit(c->self, sqe, &c->send_op);
}

static void fill_send(conn_t *c)
{
    c->slen = c->soff = 0;
    while (c->slen < SEND_BATCH) {
        const uint8_t *data;
        ssize_t n = berth_h2_pull(c->h2, &data);
        if (n < 0) {
            c->fatal = true;
            break;
        }
        if (n == 0)
            break;
        if (c->slen + (size_t)n > c->scap) {
            c->scap = c->slen + (size_t)n > c->scap * 2 ? c->slen + (size_t)n : c->scap * 2;
            c->sbuf = berth_realloc(c->sbuf, c->scap);
        }
        memcpy(c->sbuf + c->slen, data, (size_t)n);
        c->slen += (size_t)n;
    }
    if (c->slen)
        submit_send(c);
}

static void finalize(conn_t *c)
{
    c->done = true;
    berth_grpc_call_t *call = c->calls;
    while (call) {
        berth_grpc_call_t *next = call->next;
        call->closed = true;
        call_stop_timer(c, call);
        if (!call->finished && !call->cancelled) {
            call->cancelled = true;
            berth_grpc_call_send_cancel(call, BERTH_GRPC_CANCEL_CLOSED);
        }
        call->prev = call->next = NULL;
        berth_grpc_call_unref(call);
        call = next;
    }
    c->calls = NULL;
    if (c->grace) {
        berth_timer_cancel(c->self, c->grace);
        c->grace = NULL;
    }
    close(c->fd);
    c->fd = -1;
    if (berth_handle_valid(c->listener)) {
        grpc_gone_msg_t *g = berth_msg_new(BERTH_MSG_GRPC_CONN_GONE, sizeof(*g));
        g->conn = c->me;
        berth_send(c->listener, &g->hdr);
    }
    berth_actor_exit(c->self);
}

static void pump(conn_t *c)
{
    if (c->done)
        return;
    if (!c->closing) {
        if (!c->send_busy)
            fill_send(c);
        bool idle = !c->send_busy;
        if (idle && (c->fatal || !berth_h2_want_io(c->h2) || (c->shutting && !c->calls))) {
            begin_close(c);
        } else if (!c->recv_busy && !c->fatal) {
            struct io_uring_sqe *sqe = berth_ring_sqe(c->self);
            io_uring_prep_recv(sqe, c->fd, c->rbuf, RECV_BUF, 0);
            c->recv_busy = true;
            berth_ring_submit(c->self, sqe, &c->recv_op);
        }
    }
    if (c->closing && !c->recv_busy && !c->send_busy)
        finalize(c);
}

static void on_cqe(conn_t *c, berth_cqe_msg_t *m)
{
    if (m->op == &c->recv_op) {
        c->recv_busy = false;
        if (c->closing)
            return;
        if (m->res <= 0) {
            /* EOF, reset or error: the connection is over. */
            begin_close(c);
            return;
        }
        if (berth_h2_recv(c->h2, c->rbuf, (size_t)m->res) < 0) {
            berth_log_debug("grpc: closing connection after a protocol error", "fd=%d", c->fd);
            c->fatal = true; /* send the GOAWAY nghttp2 queued, then close */
        }
    } else if (m->op == &c->send_op) {
        c->send_busy = false;
        if (c->closing)
            return;
        if (m->res < 0) {
            begin_close(c);
            return;
        }
        c->soff += (size_t)m->res;
        if (c->soff < c->slen)
            submit_send(c);
    }
}

static void on_out(conn_t *c, grpc_out_msg_t *m)
{
    berth_grpc_call_t *call = m->call;
    if (call->closed || call->finished || c->closing)
        return; /* finished, reset or closed: dropped silently */
    if (m->what & GRPC_OUT_MSG) {
        int r = berth_h2_send_msg_take(c->h2, call->stream_id, berth_steal_ptr(&m->data), m->len);
        if (r != 0) {
            /* 1: too large, answered RESOURCE_EXHAUSTED instead; 2: the
             * client left too much unread, the stream is reset and the owner
             * told, so it stops sending. */
            call->finished = true;
            call_stop_timer(c, call);
            if (r == 2 && !call->cancelled) {
                call->cancelled = true;
                berth_grpc_call_send_cancel(call, BERTH_GRPC_CANCEL_OVERFLOW);
            }
            return;
        }
    }
    if (m->what & GRPC_OUT_FINISH) {
        berth_h2_finish(c->h2, call->stream_id, m->code, m->text);
        call->finished = true;
        call_stop_timer(c, call);
    }
}

static void on_timer(conn_t *c, grpc_timer_msg_t *m)
{
    berth_grpc_call_t *call = m->call;
    call->timer = NULL; /* received: the token is no longer valid */
    if (call->closed || call->finished)
        return;
    berth_h2_finish(c->h2, call->stream_id, BERTH_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
    call->finished = true;
    uint64_t now = berth_hist_now();
    count_call(call, BERTH_GRPC_DEADLINE_EXCEEDED,
               now > call->started_ns ? now - call->started_ns : 0);
    if (!call->cancelled) {
        call->cancelled = true;
        berth_grpc_call_send_cancel(call, BERTH_GRPC_CANCEL_DEADLINE);
    }
}

static void on_shutdown(conn_t *c, grpc_shutdown_msg_t *m)
{
    if (c->shutting)
        return;
    c->shutting = true;
    for (berth_grpc_call_t *call = c->calls; call; call = call->next) {
        if (!call->finished && !call->cancelled) {
            call->cancelled = true;
            berth_grpc_call_send_cancel(call, BERTH_GRPC_CANCEL_SHUTDOWN);
        }
    }
    berth_h2_goaway(c->h2);
    berth_msg_t *g = berth_msg_new(BERTH_MSG_GRPC_GRACE, sizeof(*g));
    c->grace = berth_timer_after(c->self, m->grace_ns, g);
}

static void conn_receive(berth_actor_t *self, berth_msg_t *msg)
{
    conn_t *c = berth_actor_state(self);
    c->self = self;
    switch (msg->type) {
    case BERTH_MSG_GRPC_START:
        c->me = berth_actor_self(self);
        c->started = true;
        break;
    case BERTH_MSG_CQE:
        on_cqe(c, (berth_cqe_msg_t *)msg);
        break;
    case BERTH_MSG_GRPC_OUT:
        on_out(c, (grpc_out_msg_t *)msg);
        break;
    case BERTH_MSG_GRPC_TIMER:
        on_timer(c, (grpc_timer_msg_t *)msg);
        break;
    case BERTH_MSG_GRPC_SHUTDOWN:
        on_shutdown(c, (grpc_shutdown_msg_t *)msg);
        break;
    case BERTH_MSG_GRPC_GRACE:
        c->grace = NULL;
        berth_log_debug("grpc: grace period over, closing connection", "fd=%d", c->fd);
        begin_close(c);
        break;
    default:
        break;
    }
    berth_msg_free(msg);
    if (c->started)
        pump(c);
}

static void conn_fini(void *state)
{
    conn_t *c = state;
    /* Only reached with no op in flight: finalize waits for both. If the
     * engine shut down first, the fd may still be open. */
    if (c->fd >= 0)
        close(c->fd);
    berth_h2_free(c->h2);
    berth_free(c->rbuf);
    berth_free(c->sbuf);
    berth_free(c);
}

static const berth_actor_class_t conn_class = {
        .name = "grpc-conn",
        .receive = conn_receive,
        .fini = conn_fini,
};

berth_handle_t berth_grpc_conn_spawn(int fd, const berth_grpc_limits_t *limits,
                                     berth_handle_t listener, berth_handle_t dispatch)
{
    conn_t *c = berth_calloc(1, sizeof(*c));
    c->fd = fd;
    c->listener = listener;
    c->dispatch = dispatch;
    c->rbuf = berth_malloc(RECV_BUF);
    berth_h2_callbacks_t cb = {.on_request = conn_on_request, .on_close = conn_on_close};
    c->h2 = berth_h2_new(&cb, c, limits);
    berth_handle_t h = berth_actor_spawn(&conn_class, c);
    berth_send(h, berth_msg_new(BERTH_MSG_GRPC_START, sizeof(berth_msg_t)));
    return h;
}
