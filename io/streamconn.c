/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One streaming connection: an actor that reads the HTTP/1.1 request, takes
 * its token from the listener, upgrades to SPDY/3.1 or WebSocket, maps the
 * client's streams (or channels) onto the session's endpoints, and moves
 * bytes both ways on io_uring until the session ends. The session itself
 * (the exec'd process, the attach channel, the forwarded connections) lives
 * in io/streamsess.c; the framing of both transports in io/streamwire.c.
 *
 * Flow: output of the session is read only while the socket's send queue
 * holds less than max_buffered, and the socket is read only while no
 * endpoint's input queue is over max_buffered, so a slow peer on either side
 * bounds memory instead of growing it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/ring.h"
#include "io/streamconn.h"
#include "io/streamtls.h"

#define RECV_CHUNK 65536
/* Reads start at RECV_CHUNK and double, up to this (and to max_buffered,
 * by which one read may overshoot the bound), while each one fills its
 * buffer: a bulk transfer (port-forward) then takes fewer, larger reads and
 * completions, and an interactive session keeps small buffers. */
#define READ_MAX (1024 * 1024)
/* a direct send frames one whole rbuf (32 KiB DATA frames, streamwire.c) */
_Static_assert(READ_MAX <= SCONN_DIRECT_FRAMES * 32768, "READ_MAX exceeds a direct send");
#define HEAD_TIMEOUT_NS (10ull * 1000000000ull)
/* A closing connection whose client takes none of its last bytes for this
 * long is cut: a client that stopped reading must not hold a session slot
 * (and its buffers) for ever. */
#define CLOSE_LINGER_NS (30ull * 1000000000ull)

enum { TAG_RECV = 1, TAG_SEND, TAG_EP_READ, TAG_EP_WRITE, TAG_EP_EXTRA };

static void conn_pump(berth_actor_t *self, sconn_t *c);

static size_t read_max(const sconn_t *c)
{
    return c->cfg.max_buffered < READ_MAX ? c->cfg.max_buffered : READ_MAX;
}

/* ---- socket output --------------------------------------------------- */

size_t sconn_out_pending(const sconn_t *c)
{
    return berth_bytebuf_pending(&c->out) + berth_bytebuf_pending(&c->oq) +
           berth_bytebuf_pending(&c->tq);
}

/* With TLS: the wire's plaintext becomes ciphertext queued in tq (oq is
 * left alone until the handshake is done, and nothing is ever added to out,
 * which a send may be reading). */
static void tls_seal(sconn_t *c)
{
    if (berth_bytebuf_pending(&c->oq) == 0)
        return;
    if (berth_stls_output(c->tls, &c->oq, &c->tq) < 0) {
        if (!c->peer_gone)
            berth_log_debug("streaming: TLS failed", "conn=%llu error=%s",
                            (unsigned long long)c->serial, berth_stls_error(c->tls));
        c->oq.off = c->oq.len = 0;
    }
}

/* With nothing queued: an endpoint's bytes that wait in its rbuf go out
 * from there, framed by headers of their own (sendmsg with an iovec), so a
 * forwarded socket's bytes are copied by the kernel only, not once more
 * into oq. The endpoint reads nothing more until they are out, which
 * bounds them to its rbuf. */
static void send_direct(berth_actor_t *self, sconn_t *c)
{
    for (sep_t *e = c->eps; e; e = e->next) {
        if (e->zlen == 0)
            continue;
        schan_t *ch = sess_ep_direct_chan(c, e);
        if (ch == NULL) {
            /* the stream ended meanwhile: dropped, as sconn_chan_send
             * drops bytes for an ended stream */
            e->zlen = 0;
            continue;
        }
        size_t niov = sconn_chan_direct_iov(c, ch, e->rbuf, e->zlen, c->zhdr, c->ziov);
        c->zmsg = (struct msghdr){.msg_iov = c->ziov, .msg_iovlen = niov};
        c->ztotal = e->zlen + 8 * (niov / 2);
        c->zep = e;
        struct io_uring_sqe *sqe = berth_ring_sqe(self);
        io_uring_prep_sendmsg(sqe, c->fd, &c->zmsg, MSG_NOSIGNAL);
        c->send_op.tag = TAG_SEND;
        c->send_busy = true;
        berth_ring_submit(self, sqe, &c->send_op);
        return;
    }
}

/* A direct send is done: what the kernel did not take (a short send) goes
 * to out, which is empty (direct sends start only then), and the endpoint
 * may read again. */
static void direct_done(sconn_t *c, int res)
{
    sep_t *e = c->zep;
    c->zep = NULL;
    e->zlen = 0;
    if (res < 0 || (size_t)res >= c->ztotal)
        return;
    size_t skip = (size_t)res;
    for (size_t i = 0; i < c->zmsg.msg_iovlen; i++) {
        const struct iovec *v = &c->ziov[i];
        if (skip >= v->iov_len) {
            skip -= v->iov_len;
            continue;
        }
        berth_bytebuf_put(&c->out, (const uint8_t *)v->iov_base + skip, v->iov_len - skip);
        skip = 0;
    }
}

static void send_more(berth_actor_t *self, sconn_t *c)
{
    if (c->send_busy || c->fd < 0)
        return;
    if (c->tls)
        tls_seal(c);
    if (berth_bytebuf_pending(&c->out) == 0) {
        berth_bytebuf_t *q = c->tls ? &c->tq : &c->oq;
        if (berth_bytebuf_pending(q) == 0) {
            send_direct(self, c);
            return;
        }
        berth_bytebuf_t t = c->out;
        c->out = *q;
        *q = t;
        q->off = q->len = 0;
    }
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_send(sqe, c->fd, c->out.data + c->out.off, berth_bytebuf_pending(&c->out),
                       MSG_NOSIGNAL);
    c->send_op.tag = TAG_SEND;
    c->send_busy = true;
    berth_ring_submit(self, sqe, &c->send_op);
}

static void on_send(berth_actor_t *self, sconn_t *c, berth_cqe_msg_t *m)
{
    c->send_busy = false;
    bool direct = c->zep != NULL;
    if (direct)
        direct_done(c, m->res);
    if (m->res < 0) {
        if (!c->peer_gone)
            berth_log_debug("streaming: send failed", "conn=%llu errno=%d",
                            (unsigned long long)c->serial, -m->res);
        c->peer_gone = true;
        c->out.off = c->out.len = 0;
        c->oq.off = c->oq.len = 0;
        c->tq.off = c->tq.len = 0;
        return;
    }
    c->last_io_ns = berth_now_ns();
    if (!direct)
        berth_bytebuf_consume(&c->out, (size_t)m->res);
    send_more(self, c);
}

/* ---- socket input ---------------------------------------------------- */

static bool inputs_full(const sconn_t *c)
{
    for (sep_t *e = c->eps; e; e = e->next)
        if (berth_bytebuf_pending(&e->wq) + berth_bytebuf_pending(&e->wsend) > c->cfg.max_buffered)
            return true;
    return false;
}

static void recv_more(berth_actor_t *self, sconn_t *c)
{
    if (c->recv_busy || c->fd < 0 || c->peer_eof || c->peer_gone || c->closing)
        return;
    if (c->phase >= PH_UPGRADED && (inputs_full(c) || sess_input_full(c)))
        return;
    if (c->rchunk == 0)
        c->rchunk = RECV_CHUNK;
    uint8_t *p = berth_bytebuf_reserve(c->tls ? &c->tin : &c->in, c->rchunk);
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_recv(sqe, c->fd, p, c->rchunk, 0);
    c->recv_op.tag = TAG_RECV;
    c->recv_busy = true;
    berth_ring_submit(self, sqe, &c->recv_op);
}

static void on_recv(berth_actor_t *self, sconn_t *c, berth_cqe_msg_t *m)
{
    c->recv_busy = false;
    if (m->res <= 0) {
        if (m->res < 0 && m->res != -ECONNRESET && m->res != -ECANCELED)
            berth_log_debug("streaming: recv failed", "conn=%llu errno=%d",
                            (unsigned long long)c->serial, -m->res);
        c->peer_eof = true;
        if (m->res < 0)
            c->peer_gone = true;
        return;
    }
    c->last_io_ns = berth_now_ns();
    if ((size_t)m->res == c->rchunk && 2 * c->rchunk <= read_max(c))
        c->rchunk *= 2;
    if (c->tls) {
        size_t had = berth_bytebuf_pending(&c->in);
        int r = berth_stls_input(c->tls, c->tin.data + c->tin.off, (size_t)m->res, &c->in, &c->tq);
        c->tin.off = c->tin.len = 0;
        if (r < 0) {
            /* a failed handshake is a client's business (a wrong CA, no
             * client certificate, plain HTTP): debug, as a bad request is;
             * the alert in tq still goes out */
            berth_log_debug("streaming: TLS failed", "conn=%llu error=%s",
                            (unsigned long long)c->serial, berth_stls_error(c->tls));
            c->peer_eof = true;
            return;
        }
        if (r == 1)
            c->peer_eof = true;
        if (berth_bytebuf_pending(&c->in) == had)
            return;
    } else {
        c->in.len += (size_t)m->res;
    }
    if (c->phase == PH_HEAD)
        sconn_on_head_bytes(self, c);
    else if (c->phase >= PH_UPGRADED)
        sconn_wire_input(self, c);
}

/* ---- endpoints: the session's fds -------------------------------------- */

sep_t *sconn_ep_add(sconn_t *c, int fd, int role)
{
    /* io_uring completes reads and writes on a blocking fd when they can
     * be done; on an O_NONBLOCK one it may answer EAGAIN instead */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK))
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    sep_t *e = berth_calloc(1, sizeof(*e));
    e->fd = fd;
    e->role = role;
    e->rop.ctx = e;
    e->rop.tag = TAG_EP_READ;
    e->wop.ctx = e;
    e->wop.tag = TAG_EP_WRITE;
    e->xop.ctx = e;
    e->xop.tag = TAG_EP_EXTRA;
    e->next = c->eps;
    c->eps = e;
    return e;
}

static bool ep_busy(const sconn_t *c, const sep_t *e)
{
    /* a direct send in flight reads the endpoint's rbuf */
    return e->rbusy || e->wbusy || e->xbusy || c->zep == e;
}

/* Closes the fd once no op uses it; the endpoint is freed by ep_reap. */
void sconn_ep_close(berth_actor_t *self, sconn_t *c, sep_t *e)
{
    if (e->closed)
        return;
    e->closed = true;
    if (c->zep != e)
        e->zlen = 0; /* waiting bytes of a closed endpoint are dropped */
    if (e->rbusy)
        berth_ring_cancel(self, &e->rop);
    if (e->wbusy)
        berth_ring_cancel(self, &e->wop);
    if (e->xbusy)
        berth_ring_cancel(self, &e->xop);
}

static void ep_reap(sconn_t *c)
{
    for (sep_t **pp = &c->eps; *pp;) {
        sep_t *e = *pp;
        if (e->closed && !ep_busy(c, e)) {
            *pp = e->next;
            if (e->fd >= 0)
                close(e->fd);
            berth_bytebuf_free(&e->wq);
            berth_bytebuf_free(&e->wsend);
            berth_free(e->rbuf);
            berth_free(e);
        } else {
            pp = &e->next;
        }
    }
}

/* Queues bytes for the endpoint's fd (stdin of the process, the pty, the
 * forwarded socket). */
void sconn_ep_write(sconn_t *c, sep_t *e, const void *p, size_t n)
{
    (void)c;
    if (e->closed || e->wshut)
        return;
    berth_bytebuf_put(&e->wq, p, n);
}

/* No more input for the endpoint: close its write side after the queue. */
void sconn_ep_shut_write(sconn_t *c, sep_t *e)
{
    (void)c;
    e->wshut_wanted = true;
}

static void ep_write_more(berth_actor_t *self, sconn_t *c, sep_t *e)
{
    if (e->wbusy || e->closed || e->wshut)
        return;
    if (berth_bytebuf_pending(&e->wsend) == 0) {
        berth_bytebuf_t t = e->wsend;
        e->wsend = e->wq;
        e->wq = t;
        e->wq.off = e->wq.len = 0;
    }
    if (berth_bytebuf_pending(&e->wsend) == 0) {
        if (e->wshut_wanted) {
            e->wshut = true;
            sess_on_ep_write_shut(self, c, e);
        }
        return;
    }
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    if (e->is_socket)
        io_uring_prep_send(sqe, e->fd, e->wsend.data + e->wsend.off,
                           berth_bytebuf_pending(&e->wsend), MSG_NOSIGNAL);
    else
        io_uring_prep_write(sqe, e->fd, e->wsend.data + e->wsend.off,
                            (unsigned)berth_bytebuf_pending(&e->wsend), (uint64_t)-1);
    e->wbusy = true;
    berth_ring_submit(self, sqe, &e->wop);
}

static void ep_read_more(berth_actor_t *self, sconn_t *c, sep_t *e)
{
    if (e->rbusy || e->closed || e->reof || !e->readable || e->rpaused || e->zlen > 0)
        return;
    if ((sconn_out_pending(c) > c->cfg.max_buffered && !e->never_pause) || c->peer_gone)
        return;
    if (e->rbuf == NULL || (e->rfull && 2 * e->rcap <= read_max(c))) {
        /* no read and no direct send uses rbuf now */
        e->rcap = e->rbuf ? 2 * e->rcap : RECV_CHUNK;
        berth_free(e->rbuf);
        e->rbuf = berth_malloc(e->rcap);
    }
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    if (e->is_socket)
        io_uring_prep_recv(sqe, e->fd, e->rbuf, e->rcap, 0);
    else
        io_uring_prep_read(sqe, e->fd, e->rbuf, (unsigned)e->rcap, (uint64_t)-1);
    e->rbusy = true;
    berth_ring_submit(self, sqe, &e->rop);
}

static void on_ep_cqe(berth_actor_t *self, sconn_t *c, sep_t *e, berth_cqe_msg_t *m)
{
    int tag = (int)m->op->tag;
    if (tag == TAG_EP_READ) {
        e->rbusy = false;
        if (e->closed)
            return;
        if (m->res > 0) {
            c->last_io_ns = berth_now_ns();
            e->rfull = (size_t)m->res == e->rcap;
            if (sess_ep_direct_chan(c, e))
                e->zlen = (size_t)m->res; /* conn_pump's send_more sends it */
            else
                sess_on_ep_data(self, c, e, e->rbuf, (size_t)m->res);
        } else if (m->res == -EAGAIN || m->res == -EINTR) {
            /* retried by the pump */
        } else {
            /* 0: EOF; EIO: a pty whose other side is gone; anything else
             * is the end of this endpoint's output as well */
            e->reof = true;
            sess_on_ep_eof(self, c, e, m->res);
        }
    } else if (tag == TAG_EP_WRITE) {
        e->wbusy = false;
        if (e->closed)
            return;
        if (m->res < 0) {
            if (m->res == -EAGAIN || m->res == -EINTR)
                return;
            /* the reader is gone (EPIPE): drop what was queued */
            e->wsend.off = e->wsend.len = 0;
            e->wq.off = e->wq.len = 0;
            e->wshut = true;
            sess_on_ep_write_error(self, c, e, m->res);
            return;
        }
        c->last_io_ns = berth_now_ns();
        berth_bytebuf_consume(&e->wsend, (size_t)m->res);
    } else {
        e->xbusy = false;
        if (e->closed)
            return;
        sess_on_ep_extra(self, c, e, m);
    }
}

/* Issues every op that can run now. Called at the end of each turn. */
static void conn_pump(berth_actor_t *self, sconn_t *c)
{
    for (sep_t *e = c->eps; e; e = e->next) {
        ep_write_more(self, c, e);
        ep_read_more(self, c, e);
    }
    send_more(self, c);
    recv_more(self, c);
}

/* ---- life ---------------------------------------------------------------- */

/* The connection is done once its output is sent (or the peer is gone);
 * every op is cancelled and the actor exits when none is in flight. */
void sconn_close(berth_actor_t *self, sconn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_ns = berth_now_ns();
    sess_on_close(self, c);
    sconn_wire_goodbye(c);
    if (c->timer == NULL)
        c->timer = berth_timer_after(self, 1000000000ull,
                                     berth_msg_new(BERTH_MSG_STREAM_TIMER, sizeof(berth_msg_t)));
}

/* While closing: the last bytes get CLOSE_LINGER_NS to leave, then the
 * socket is shut down under them (which also ends a send stuck in flight). */
static void on_linger(berth_actor_t *self, sconn_t *c)
{
    if (c->exited)
        return;
    if (!c->peer_gone && berth_now_ns() - c->close_ns >= CLOSE_LINGER_NS) {
        berth_log_info("streaming: the client takes no more of its last bytes; cut",
                       "conn=%llu queued=%zu", (unsigned long long)c->serial, sconn_out_pending(c));
        c->peer_gone = true;
        if (c->send_busy)
            berth_ring_cancel(self, &c->send_op);
        if (c->fd >= 0 && !c->shut_done) {
            c->shut_done = true;
            shutdown(c->fd, SHUT_RDWR);
        }
        return;
    }
    c->timer = berth_timer_after(self, 1000000000ull,
                                 berth_msg_new(BERTH_MSG_STREAM_TIMER, sizeof(berth_msg_t)));
}

static bool all_quiet(const sconn_t *c)
{
    return !c->recv_busy && !c->send_busy && c->eps == NULL && sess_quiet(c);
}

static void maybe_exit(berth_actor_t *self, sconn_t *c)
{
    if (!c->closing)
        return;
    for (sep_t *e = c->eps; e; e = e->next)
        if (!e->closed)
            sconn_ep_close(self, c, e);
    ep_reap(c);
    if (c->tls && !c->peer_gone) {
        tls_seal(c);
        berth_stls_close_notify(c->tls, &c->tq);
    }
    if (c->send_busy || (sconn_out_pending(c) > 0 && !c->peer_gone)) {
        send_more(self, c);
        return;
    }
    if (c->fd >= 0 && !c->shut_done) {
        c->shut_done = true;
        shutdown(c->fd, SHUT_RDWR);
    }
    if (c->recv_busy) {
        berth_ring_cancel(self, &c->recv_op);
        return;
    }
    if (!all_quiet(c))
        return;
    if (c->exited)
        return;
    c->exited = true;
    stream_gone_msg_t *g = berth_msg_new(BERTH_MSG_STREAM_CONN_GONE, sizeof(*g));
    g->conn = c->me;
    berth_send(c->server, &g->hdr);
    berth_actor_exit(self);
}

static void on_timer(berth_actor_t *self, sconn_t *c)
{
    c->timer = NULL;
    uint64_t now = berth_now_ns();
    if (c->phase == PH_HEAD || c->phase == PH_TAKING) {
        if (now - c->born_ns >= HEAD_TIMEOUT_NS) {
            berth_log_debug("streaming: no request in time", "conn=%llu",
                            (unsigned long long)c->serial);
            sconn_close(self, c);
            return;
        }
    } else if (c->phase == PH_UPGRADED && !c->session_started) {
        if (now - c->born_ns >= c->cfg.stream_creation_timeout_ns) {
            sess_fail(self, c, "timed out waiting for the client to create streams");
            return;
        }
    } else if (c->cfg.idle_timeout_ns && now - c->last_io_ns >= c->cfg.idle_timeout_ns) {
        berth_log_info("streaming: idle session closed", "conn=%llu kind=%s id=%.12s idle_s=%llu",
                       (unsigned long long)c->serial, c->req ? sess_kind_name(c->req->kind) : "?",
                       c->req && c->req->id ? c->req->id : "",
                       (unsigned long long)((now - c->last_io_ns) / 1000000000ull));
        sess_fail(self, c, "the session was idle too long ([crio.api] stream_idle_timeout)");
        return;
    }
    sess_on_tick(self, c);
    if (c->timer == NULL) /* the tick may have closed (and re-armed for the linger) */
        c->timer = berth_timer_after(self, 1000000000ull,
                                     berth_msg_new(BERTH_MSG_STREAM_TIMER, sizeof(berth_msg_t)));
}

static void conn_receive(berth_actor_t *self, berth_msg_t *msg)
{
    sconn_t *c = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_STREAM_SWEEP: /* the first message */
        c->me = berth_actor_self(self);
        c->timer = berth_timer_after(self, 1000000000ull,
                                     berth_msg_new(BERTH_MSG_STREAM_TIMER, sizeof(berth_msg_t)));
        break;
    case BERTH_MSG_CQE: {
        berth_cqe_msg_t *m = (berth_cqe_msg_t *)msg;
        if (m->op == &c->recv_op)
            on_recv(self, c, m);
        else if (m->op == &c->send_op)
            on_send(self, c, m);
        else if (m->op->tag == TAG_EP_READ || m->op->tag == TAG_EP_WRITE ||
                 m->op->tag == TAG_EP_EXTRA)
            on_ep_cqe(self, c, m->op->ctx, m);
        else
            sess_on_cqe(self, c, m);
        break;
    }
    case BERTH_MSG_STREAM_TAKEN:
        sconn_on_taken(self, c, (stream_taken_msg_t *)msg);
        break;
    case BERTH_MSG_STREAM_TIMER:
        c->timer = NULL;
        if (!c->closing)
            on_timer(self, c);
        else
            on_linger(self, c);
        break;
    case BERTH_MSG_STREAM_STOP:
        sess_fail(self, c, "berthd is shutting down");
        break;
    default:
        sess_on_msg(self, c, msg);
        break;
    }
    berth_msg_free(msg);
    if (c->peer_eof && !c->closing)
        sconn_on_peer_eof(self, c);
    if (!c->closing) {
        sess_reap(c);
        conn_pump(self, c);
    }
    ep_reap(c);
    maybe_exit(self, c);
}

static void conn_fini(void *state)
{
    sconn_t *c = state;
    if (c->fd >= 0)
        close(c->fd);
    sess_fini(c);
    for (sep_t *e = c->eps; e;) {
        sep_t *n = e->next;
        if (e->fd >= 0)
            close(e->fd);
        berth_bytebuf_free(&e->wq);
        berth_bytebuf_free(&e->wsend);
        berth_free(e->rbuf);
        berth_free(e);
        e = n;
    }
    berth_bytebuf_free(&c->in);
    berth_bytebuf_free(&c->out);
    berth_bytebuf_free(&c->oq);
    berth_bytebuf_free(&c->tin);
    berth_bytebuf_free(&c->tq);
    berth_stls_free(c->tls);
    sconn_wire_fini(c);
    berth_stream_req_free(c->req);
    berth_free(c);
}

static const berth_actor_class_t conn_class = {
        .name = "stream-conn",
        .receive = conn_receive,
        .fini = conn_fini,
};

berth_handle_t stream_conn_spawn(int fd, const berth_stream_config_t *cfg, berth_handle_t server,
                                 uint64_t serial, struct berth_stls *tls)
{
    sconn_t *c = berth_calloc(1, sizeof(*c));
    c->fd = fd;
    c->tls = tls;
    c->cfg = *cfg;
    c->server = server;
    c->serial = serial;
    c->born_ns = c->last_io_ns = berth_now_ns();
    c->recv_op.tag = TAG_RECV;
    c->send_op.tag = TAG_SEND;
    berth_handle_t h = berth_actor_spawn(&conn_class, c);
    berth_send(h, berth_msg_new(BERTH_MSG_STREAM_SWEEP, sizeof(berth_msg_t)));
    return h;
}
