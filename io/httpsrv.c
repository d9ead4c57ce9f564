/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP/1.1 server for berthd's own endpoints (io/httpsrv.h): a listener
 * actor with a multishot accept on each of its sockets (TCP, unix), and one
 * actor per connection that parses heads with io/httpreq.c, calls the route
 * and sends the answer with one sendmsg (the head, then the body from the
 * handler's own buffer). One request at a time per connection: pipelined
 * requests wait in the input buffer, which is read only while it holds less
 * than a head's limit, so a client that floods requests is bounded too.
 *
 * The routes and limits are one immutable, reference-counted block shared by
 * the listener and its connections, so a connection that outlives a stopped
 * listener still reads valid routes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/refcount.h"
#include "engine/ring.h"
#include "io/httpsrv.h"
#include "io/netlisten.h"
#include "io/streamtls.h"

#define RECV_CHUNK 16384
#define TICK_NS (1000000000ull)
/* A request head must arrive within this long of its first byte. */
#define HEAD_TIMEOUT_NS (10ull * 1000000000ull)
/* An answer the client takes none of for this long is cut. */
#define SEND_STALL_NS (30ull * 1000000000ull)
#define REARM_DELAY_NS (50ull * 1000000ull)

typedef struct shared {
    berth_ref_t ref;
    char *name;
    berth_httpsrv_route_t *routes; /* paths owned */
    size_t nroutes;
    size_t max_head;
    uint64_t idle_ns;
} shared_t;

static void shared_unref(shared_t *sh)
{
    if (sh == NULL || !berth_ref_dec_and_test(&sh->ref))
        return;
    for (size_t i = 0; i < sh->nroutes; i++)
        berth_free((char *)sh->routes[i].path);
    berth_free(sh->routes);
    berth_free(sh->name);
    berth_free(sh);
}

struct berth_httpsrv_reply {
    berth_msg_t hdr;
    berth_http_req_t req;
    int status;
    char *ctype;
    berth_http_header_t *hdrs; /* names and values owned */
    size_t nhdrs;
    berth_bytebuf_t body;
    berth_handle_t conn;
};

static void reply_free(berth_msg_t *msg)
{
    berth_httpsrv_reply_t *r = (berth_httpsrv_reply_t *)msg;
    berth_http_req_fini(&r->req);
    berth_free(r->ctype);
    for (size_t i = 0; i < r->nhdrs; i++) {
        berth_free((char *)r->hdrs[i].name);
        berth_free((char *)r->hdrs[i].value);
    }
    berth_free(r->hdrs);
    berth_bytebuf_free(&r->body);
    berth_free(r);
}

static void reply_send(berth_httpsrv_reply_t *r, int status, const char *ctype)
{
    r->status = status;
    r->ctype = berth_strdup(ctype ? ctype : "text/plain; charset=utf-8");
    /* fails only when the connection is gone: the reply is freed then */
    berth_send(r->conn, &r->hdr);
}

void berth_httpsrv_reply(berth_httpsrv_reply_t *reply, int status, const char *content_type,
                         const void *body, size_t len)
{
    berth_bytebuf_put(&reply->body, body, len);
    reply_send(reply, status, content_type);
}

void berth_httpsrv_reply_take(berth_httpsrv_reply_t *reply, int status, const char *content_type,
                              berth_bytebuf_t *body)
{
    berth_bytebuf_free(&reply->body);
    reply->body = *body;
    *body = (berth_bytebuf_t){0};
    reply_send(reply, status, content_type);
}

void berth_httpsrv_reply_header(berth_httpsrv_reply_t *reply, const char *name, const char *value)
{
    reply->hdrs = berth_realloc(reply->hdrs, (reply->nhdrs + 1) * sizeof(*reply->hdrs));
    size_t vlen = strlen(value);
    reply->hdrs[reply->nhdrs++] = (berth_http_header_t){
            .name = berth_strdup(name), .value = berth_strdup(value), .value_len = vlen};
}

/* ---- a connection ------------------------------------------------------ */

enum conn_state { ST_READ, ST_WAIT, ST_SEND };

typedef struct gone_msg {
    berth_msg_t hdr;
    berth_handle_t conn;
} gone_msg_t;

typedef struct hconn {
    int fd;
    shared_t *sh;
    berth_handle_t server, me;
    berth_op_t recv_op, send_op;
    bool recv_busy, send_busy, peer_eof, peer_gone, closing, shut_done, exited;
    int state;
    bool close_after; /* close once this answer is sent */
    bool head_only;   /* a HEAD: the body is not sent */
    berth_bytebuf_t in;
    berth_http_parser_t parser;
    /* the answer: head then body (plaintext) */
    berth_bytebuf_t head, body;
    /* with TLS: ciphertext received (tin), queued (tq) and in flight (wire) */
    struct berth_stls *tls;
    berth_bytebuf_t tin, tq, wire;
    bool notified; /* close_notify queued */
    struct iovec iov[2];
    struct msghdr mh;
    uint64_t head_ns; /* first byte of the head being read; 0: none yet */
    uint64_t idle_ns; /* since the last answer (or the accept) */
    uint64_t send_ns; /* the last progress of the send */
    berth_timer_t *timer;
} hconn_t;

static void conn_close(berth_actor_t *self, hconn_t *c);

static size_t out_pending(const hconn_t *c)
{
    return berth_bytebuf_pending(&c->head) + berth_bytebuf_pending(&c->body) +
           berth_bytebuf_pending(&c->tq) + berth_bytebuf_pending(&c->wire);
}

/* With TLS: the answer's plaintext becomes ciphertext in tq (left as it is
 * until the handshake is done); nothing is added to wire, which a send may
 * be reading. */
static void tls_seal(hconn_t *c)
{
    if (berth_bytebuf_pending(&c->head) && berth_stls_output(c->tls, &c->head, &c->tq) < 0)
        goto fail;
    if (berth_bytebuf_pending(&c->head) == 0 && berth_bytebuf_pending(&c->body) &&
        berth_stls_output(c->tls, &c->body, &c->tq) < 0)
        goto fail;
    return;
fail:
    berth_log_debug("http: TLS failed", "server=%s error=%s", c->sh->name,
                    berth_stls_error(c->tls));
    c->peer_gone = true;
}

static void send_more(berth_actor_t *self, hconn_t *c)
{
    if (c->send_busy || c->fd < 0 || c->peer_gone)
        return;
    int n = 0;
    if (c->tls) {
        tls_seal(c);
        if (berth_bytebuf_pending(&c->wire) == 0) {
            berth_bytebuf_t t = c->wire;
            c->wire = c->tq;
            c->tq = t;
            c->tq.off = c->tq.len = 0;
        }
        size_t wn = berth_bytebuf_pending(&c->wire);
        if (wn == 0)
            return;
        c->iov[n++] = (struct iovec){c->wire.data + c->wire.off, wn};
    } else {
        size_t hn = berth_bytebuf_pending(&c->head), bn = berth_bytebuf_pending(&c->body);
        if (hn)
            c->iov[n++] = (struct iovec){c->head.data + c->head.off, hn};
        if (bn)
            c->iov[n++] = (struct iovec){c->body.data + c->body.off, bn};
        if (n == 0)
            return;
    }
    c->mh = (struct msghdr){.msg_iov = c->iov, .msg_iovlen = (size_t)n};
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_sendmsg(sqe, c->fd, &c->mh, MSG_NOSIGNAL);
    c->send_busy = true;
    berth_ring_submit(self, sqe, &c->send_op);
}

static void recv_more(berth_actor_t *self, hconn_t *c)
{
    if (c->recv_busy || c->fd < 0 || c->peer_eof || c->closing)
        return;
    /* pipelined requests beyond one head's worth wait for the answers */
    if (berth_bytebuf_pending(&c->in) >= c->sh->max_head)
        return;
    uint8_t *p = berth_bytebuf_reserve(c->tls ? &c->tin : &c->in, RECV_CHUNK);
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_recv(sqe, c->fd, p, RECV_CHUNK, 0);
    c->recv_busy = true;
    berth_ring_submit(self, sqe, &c->recv_op);
}

/* Queues an answer the server makes itself (an error); closes after it
 * unless keep says the connection is still in step (a 404). */
static void answer_error(hconn_t *c, int status, const berth_http_header_t *extra, size_t n,
                         bool keep)
{
    char body[96];
    snprintf(body, sizeof(body), "%d %s\n", status, berth_http_reason(status));
    berth_http_header_t h[3];
    size_t nh = 0;
    for (size_t i = 0; i < n && nh < 2; i++)
        h[nh++] = extra[i];
    if (!keep || c->close_after)
        h[nh++] = (berth_http_header_t){"Connection", "close", 5};
    size_t blen = strlen(body);
    berth_http_put_head(&c->head, status, NULL, h, nh, blen);
    if (!c->head_only)
        berth_bytebuf_put(&c->head, body, blen);
    c->close_after |= !keep;
    c->state = ST_SEND;
    c->send_ns = berth_now_ns();
}

static const berth_httpsrv_route_t *find_route(const shared_t *sh, const char *path)
{
    for (size_t i = 0; i < sh->nroutes; i++)
        if (strcmp(sh->routes[i].path, path) == 0)
            return &sh->routes[i];
    return NULL;
}

/* A complete head: answer it (errors) or hand it to its route. Takes req. */
static void dispatch(hconn_t *c, berth_http_req_t *req)
{
    bool get = strcmp(req->method, "GET") == 0;
    c->head_only = strcmp(req->method, "HEAD") == 0;
    if (req->version_minor == 0)
        c->close_after = !berth_http_req_has_token(req, "Connection", "keep-alive");
    else
        c->close_after = berth_http_req_has_token(req, "Connection", "close");
    /* A body is not read: answer, then close rather than skip it. */
    const char *cl = berth_http_req_header(req, "Content-Length");
    if ((cl && strcmp(cl, "0") != 0) || berth_http_req_header(req, "Transfer-Encoding"))
        c->close_after = true;
    if (!get && !c->head_only) {
        berth_http_header_t allow = {"Allow", "GET, HEAD", 9};
        berth_http_req_fini(req);
        answer_error(c, 405, &allow, 1, false);
        return;
    }
    const berth_httpsrv_route_t *rt = find_route(c->sh, req->path);
    if (rt == NULL) {
        berth_http_req_fini(req);
        answer_error(c, 404, NULL, 0, true);
        return;
    }
    berth_httpsrv_reply_t *r = berth_msg_new(BERTH_MSG_HTTPSRV_REPLY, sizeof(*r));
    r->hdr.free = reply_free;
    r->req = *req;
    *req = (berth_http_req_t){0};
    r->conn = c->me;
    c->state = ST_WAIT;
    rt->fn(&r->req, r, rt->arg);
}

/* Parses what was received while no request is being answered. */
static void next_request(hconn_t *c)
{
    while (c->state == ST_READ && !c->closing) {
        size_t have = berth_bytebuf_pending(&c->in);
        if (have == 0)
            return;
        if (c->head_ns == 0)
            c->head_ns = berth_now_ns();
        berth_http_req_t req = {0};
        BERTH_AUTO_ERR berth_err_t err = NULL;
        ssize_t n = berth_http_parse(&c->parser, c->in.data + c->in.off, have, &req, &err);
        if (n == 0) {
            if (c->peer_eof) /* a head cut short: nothing to answer */
                c->close_after = true;
            return;
        }
        if (n < 0) {
            berth_log_debug("http: bad request", "server=%s status=%d error=\"%s\"", c->sh->name,
                            berth_http_parser_status(&c->parser), err->msg);
            c->head_only = false;
            c->in.off = c->in.len = 0;
            answer_error(c, berth_http_parser_status(&c->parser), NULL, 0, false);
            return;
        }
        berth_bytebuf_consume(&c->in, (size_t)n);
        c->head_ns = 0;
        dispatch(c, &req);
    }
}

static void on_reply(hconn_t *c, berth_httpsrv_reply_t *r)
{
    if (c->state != ST_WAIT || c->closing)
        return;
    size_t n = r->nhdrs;
    berth_http_header_t *h = berth_malloc((n + 2) * sizeof(*h));
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        const char *nm = r->hdrs[i].name;
        if (strcasecmp(nm, "Content-Length") == 0 || strcasecmp(nm, "Content-Type") == 0 ||
            strcasecmp(nm, "Connection") == 0)
            continue;
        h[nh++] = r->hdrs[i];
    }
    h[nh++] = (berth_http_header_t){"Content-Type", r->ctype, strlen(r->ctype)};
    if (c->close_after)
        h[nh++] = (berth_http_header_t){"Connection", "close", 5};
    berth_http_put_head(&c->head, r->status, NULL, h, nh, berth_bytebuf_pending(&r->body));
    berth_free(h);
    if (!c->head_only) {
        berth_bytebuf_free(&c->body);
        c->body = r->body;
        r->body = (berth_bytebuf_t){0};
    }
    c->state = ST_SEND;
    c->send_ns = berth_now_ns();
}

static void on_send(hconn_t *c, berth_cqe_msg_t *m)
{
    c->send_busy = false;
    if (m->res < 0) {
        c->peer_gone = true;
        c->close_after = true;
        berth_bytebuf_free(&c->head);
        berth_bytebuf_free(&c->body);
        berth_bytebuf_free(&c->tq);
        berth_bytebuf_free(&c->wire);
        return;
    }
    size_t done = (size_t)m->res;
    if (c->tls) {
        berth_bytebuf_consume(&c->wire, done);
    } else {
        size_t hn = berth_bytebuf_pending(&c->head);
        size_t fromhead = done < hn ? done : hn;
        berth_bytebuf_consume(&c->head, fromhead);
        berth_bytebuf_consume(&c->body, done - fromhead);
    }
    c->send_ns = berth_now_ns();
    if (out_pending(c) > 0 || c->state != ST_SEND)
        return;
    /* answered: a big body's storage goes now, not at the next answer */
    berth_bytebuf_free(&c->body);
    if (c->close_after)
        return;
    c->state = ST_READ;
    c->idle_ns = berth_now_ns();
}

static void on_recv(hconn_t *c, berth_cqe_msg_t *m)
{
    c->recv_busy = false;
    if (m->res <= 0) {
        c->peer_eof = true;
        if (m->res < 0 && m->res != -ECANCELED)
            c->peer_gone = true;
        return;
    }
    if (c->tls == NULL) {
        c->in.len += (size_t)m->res;
        return;
    }
    int r = berth_stls_input(c->tls, c->tin.data + c->tin.off, (size_t)m->res, &c->in, &c->tq);
    c->tin.off = c->tin.len = 0;
    if (r < 0) {
        /* a client's business (plain HTTP on the TLS port, a bad record):
         * debug; the alert in tq still goes out */
        berth_log_debug("http: TLS failed", "server=%s error=%s", c->sh->name,
                        berth_stls_error(c->tls));
        c->peer_eof = true;
        c->close_after = true;
        c->in.off = c->in.len = 0;
    } else if (r == 1) {
        c->peer_eof = true;
    }
}

static void on_tick(berth_actor_t *self, hconn_t *c)
{
    uint64_t now = berth_now_ns();
    if (c->state == ST_READ) {
        if (c->head_ns && now - c->head_ns >= HEAD_TIMEOUT_NS) {
            berth_log_debug("http: no complete request in time", "server=%s", c->sh->name);
            conn_close(self, c);
            return;
        }
        if (!c->head_ns && now - c->idle_ns >= c->sh->idle_ns) {
            conn_close(self, c);
            return;
        }
    } else if (c->state == ST_SEND && now - c->send_ns >= SEND_STALL_NS) {
        berth_log_info("http: the client takes none of its answer; cut", "server=%s", c->sh->name);
        c->peer_gone = true;
        conn_close(self, c);
        return;
    }
    c->timer = berth_timer_after(self, TICK_NS,
                                 berth_msg_new(BERTH_MSG_HTTPSRV_TIMER, sizeof(berth_msg_t)));
}

static void conn_close(berth_actor_t *self, hconn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->timer) {
        berth_timer_cancel(self, c->timer);
        c->timer = NULL;
    }
    if (c->fd >= 0 && !c->shut_done) {
        /* ends a send stuck on a client that does not read, and the recv */
        c->shut_done = true;
        shutdown(c->fd, SHUT_RDWR);
    }
    if (c->recv_busy)
        berth_ring_cancel(self, &c->recv_op);
    if (c->send_busy)
        berth_ring_cancel(self, &c->send_op);
}

static void conn_receive(berth_actor_t *self, berth_msg_t *msg)
{
    hconn_t *c = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_HTTPSRV_START:
        c->me = berth_actor_self(self);
        c->timer = berth_timer_after(self, TICK_NS,
                                     berth_msg_new(BERTH_MSG_HTTPSRV_TIMER, sizeof(berth_msg_t)));
        break;
    case BERTH_MSG_CQE: {
        berth_cqe_msg_t *m = (berth_cqe_msg_t *)msg;
        if (m->op == &c->recv_op)
            on_recv(c, m);
        else if (m->op == &c->send_op)
            on_send(c, m);
        break;
    }
    case BERTH_MSG_HTTPSRV_REPLY:
        on_reply(c, (berth_httpsrv_reply_t *)msg);
        break;
    case BERTH_MSG_HTTPSRV_TIMER:
        c->timer = NULL;
        if (!c->closing)
            on_tick(self, c);
        break;
    case BERTH_MSG_HTTPSRV_STOP:
        conn_close(self, c);
        break;
    default:
        break;
    }
    berth_msg_free(msg);
    if (!c->closing) {
        next_request(c);
        send_more(self, c);
        bool done = out_pending(c) == 0 && !c->send_busy;
        bool ending = (c->state == ST_SEND && c->close_after) ||
                      (c->state == ST_READ && c->peer_eof &&
                       (berth_bytebuf_pending(&c->in) == 0 || c->close_after));
        if (ending && done && c->tls && !c->notified && !c->peer_gone) {
            /* the last answer is out: say goodbye the TLS way first */
            c->notified = true;
            berth_stls_close_notify(c->tls, &c->tq);
            send_more(self, c);
            done = false;
        }
        if (c->peer_gone || (ending && done))
            conn_close(self, c);
        else
            recv_more(self, c);
    }
    if (c->closing && !c->recv_busy && !c->send_busy && !c->exited) {
        c->exited = true;
        gone_msg_t *g = berth_msg_new(BERTH_MSG_HTTPSRV_GONE, sizeof(*g));
        g->conn = c->me;
        berth_send(c->server, &g->hdr);
        berth_actor_exit(self);
    }
}

static void conn_fini(void *state)
{
    hconn_t *c = state;
    if (c->fd >= 0)
        close(c->fd);
    berth_bytebuf_free(&c->in);
    berth_bytebuf_free(&c->head);
    berth_bytebuf_free(&c->body);
    berth_bytebuf_free(&c->tin);
    berth_bytebuf_free(&c->tq);
    berth_bytebuf_free(&c->wire);
    berth_stls_free(c->tls);
    shared_unref(c->sh);
    berth_free(c);
}

static const berth_actor_class_t conn_class = {
        .name = "http-conn",
        .receive = conn_receive,
        .fini = conn_fini,
};

/* ---- the listener ------------------------------------------------------ */

typedef struct lsock {
    int fd;
    bool busy;
    berth_op_t op;
} lsock_t;

typedef struct server {
    shared_t *sh;
    lsock_t socks[2];
    size_t nsocks;
    char *path; /* the unix socket's, to remove at the stop */
    dev_t dev;
    ino_t ino;
    unsigned max_conns;
    berth_handle_t me;
    bool rearm_pending, stopping, refusing, exited;
    berth_handle_t *conns; /* live connection actors (each says when it is gone) */
    size_t nconns, cap;
    berth_stls_server_t *tls; /* NULL: plain HTTP */
} server_t;

static void arm_accepts(berth_actor_t *self, server_t *s)
{
    if (s->stopping)
        return;
    for (size_t i = 0; i < s->nsocks; i++) {
        lsock_t *l = &s->socks[i];
        if (l->busy || l->fd < 0)
            continue;
        struct io_uring_sqe *sqe = berth_ring_sqe(self);
        io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
        l->busy = true;
        berth_ring_submit(self, sqe, &l->op);
    }
}

static void spawn_conn(server_t *s, int fd)
{
    hconn_t *c = berth_calloc(1, sizeof(*c));
    c->fd = fd;
    berth_ref_inc(&s->sh->ref);
    c->sh = s->sh;
    c->server = s->me;
    c->parser.max_head = s->sh->max_head;
    c->idle_ns = berth_now_ns();
    if (s->tls) {
        /* a changed certificate is loaded for the new connection: a stat of
         * the files at most every few seconds, a load only on a change */
        BERTH_AUTO_ERR berth_err_t err = NULL;
        int r = berth_stls_server_check(s->tls, berth_now_ns(), &err);
        if (r > 0)
            berth_log_info("http: TLS certificate reloaded", "server=%s", s->sh->name);
        else if (r < 0)
            berth_log_warn("http: TLS reload failed, the previous certificate stays",
                           "server=%s error=\"%s\"", s->sh->name, err->msg);
        c->tls = berth_stls_new(s->tls);
    }
    berth_handle_t h = berth_actor_spawn(&conn_class, c);
    berth_send(h, berth_msg_new(BERTH_MSG_HTTPSRV_START, sizeof(berth_msg_t)));
    if (s->nconns == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->conns = berth_realloc(s->conns, s->cap * sizeof(*s->conns));
    }
    s->conns[s->nconns++] = h;
}

static void on_accept(berth_actor_t *self, server_t *s, lsock_t *l, berth_cqe_msg_t *m)
{
    if (!(m->flags & IORING_CQE_F_MORE))
        l->busy = false;
    if (m->res >= 0) {
        if (s->stopping) {
            close(m->res);
        } else if (s->nconns >= s->max_conns) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                                       "Content-Type: text/plain; charset=utf-8\r\n"
                                       "Content-Length: 29\r\n\r\n"
                                       "too many connections at once\n";
            if (s->tls == NULL) /* a TLS client could not read it */
                (void)send(m->res, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            close(m->res);
            if (!s->refusing)
                berth_log_warn("http: connection refused: too many connections",
                               "server=%s open=%zu max=%u", s->sh->name, s->nconns, s->max_conns);
            s->refusing = true;
        } else {
            s->refusing = false;
            spawn_conn(s, m->res);
        }
    } else if (m->res != -ECANCELED && !s->stopping) {
        berth_log_warn("http: accept failed", "server=%s errno=%d", s->sh->name, -m->res);
        if (!l->busy && !s->rearm_pending) {
            s->rearm_pending = true;
            berth_timer_after(self, REARM_DELAY_NS,
                              berth_msg_new(BERTH_MSG_HTTPSRV_TIMER, sizeof(berth_msg_t)));
        }
        return;
    }
    if (!s->rearm_pending)
        arm_accepts(self, s);
}

static void on_stop(berth_actor_t *self, server_t *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    for (size_t i = 0; i < s->nsocks; i++)
        if (s->socks[i].busy)
            berth_ring_cancel(self, &s->socks[i].op);
    if (s->path)
        berth_unlink_own(s->path, s->dev, s->ino);
    for (size_t i = 0; i < s->nconns; i++)
        berth_send(s->conns[i], berth_msg_new(BERTH_MSG_HTTPSRV_STOP, sizeof(berth_msg_t)));
}

static void server_receive(berth_actor_t *self, berth_msg_t *msg)
{
    server_t *s = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_HTTPSRV_START:
        s->me = berth_actor_self(self);
        arm_accepts(self, s);
        break;
    case BERTH_MSG_HTTPSRV_TIMER:
        s->rearm_pending = false;
        arm_accepts(self, s);
        break;
    case BERTH_MSG_CQE: {
        berth_cqe_msg_t *m = (berth_cqe_msg_t *)msg;
        for (size_t i = 0; i < s->nsocks; i++)
            if (m->op == &s->socks[i].op)
                on_accept(self, s, &s->socks[i], m);
        break;
    }
    case BERTH_MSG_HTTPSRV_STOP:
        on_stop(self, s);
        break;
    case BERTH_MSG_HTTPSRV_GONE: {
        berth_handle_t h = ((gone_msg_t *)msg)->conn;
        for (size_t i = 0; i < s->nconns; i++) {
            if (berth_handle_eq(s->conns[i], h)) {
                s->conns[i] = s->conns[--s->nconns];
                break;
            }
        }
        break;
    }
    default:
        break;
    }
    berth_msg_free(msg);
    if (!s->stopping || s->exited || s->nconns > 0)
        return;
    for (size_t i = 0; i < s->nsocks; i++)
        if (s->socks[i].busy)
            return;
    s->exited = true;
    berth_actor_exit(self);
}

static void server_fini(void *state)
{
    server_t *s = state;
    for (size_t i = 0; i < s->nsocks; i++)
        if (s->socks[i].fd >= 0)
            close(s->socks[i].fd);
    berth_free(s->path);
    berth_free(s->conns);
    berth_stls_server_free(s->tls);
    shared_unref(s->sh);
    berth_free(s);
}

static const berth_actor_class_t server_class = {
        .name = "http-server",
        .receive = server_receive,
        .fini = server_fini,
};

static int start(const berth_httpsrv_config_t *cfg, const char *name, berth_stls_server_t *tls,
                 berth_httpsrv_t *out, berth_err_t *err);

int berth_httpsrv_start(const berth_httpsrv_config_t *cfg, berth_httpsrv_t *out, berth_err_t *err)
{
    const char *name = cfg->name ? cfg->name : "http";
    /* taken: freed on every failure below, owned by the server after */
    berth_stls_server_t *tls = cfg->tls;
    int rc = start(cfg, name, tls, out, err);
    if (rc < 0)
        berth_stls_server_free(tls);
    return rc;
}

static int start(const berth_httpsrv_config_t *cfg, const char *name, berth_stls_server_t *tls,
                 berth_httpsrv_t *out, berth_err_t *err)
{
    bool tcp = cfg->host && cfg->host[0] && cfg->port >= 0;
    bool unx = cfg->socket_path && cfg->socket_path[0];
    if (!tcp && !unx)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "%s server: neither a TCP port nor a unix socket to listen on", name);
    if (cfg->nroutes == 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s server: no routes", name);
    int port = -1;
    BERTH_AUTO_CLOSE int tfd = -1;
    if (tcp) {
        tfd = berth_listen_tcp(cfg->host, cfg->port, 128, &port, err);
        if (tfd < 0)
            return berth_err_prefix(err, "%s server", name);
    }
    dev_t dev = 0;
    ino_t ino = 0;
    BERTH_AUTO_CLOSE int ufd = -1;
    if (unx) {
        ufd = berth_listen_unix(cfg->socket_path, cfg->socket_mode, 128, &dev, &ino, err);
        if (ufd < 0)
            return berth_err_prefix(err, "%s server", name);
    }

    shared_t *sh = berth_calloc(1, sizeof(*sh));
    berth_ref_init(&sh->ref);
    sh->name = berth_strdup(name);
    sh->routes = berth_calloc(cfg->nroutes, sizeof(*sh->routes));
    sh->nroutes = cfg->nroutes;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        sh->routes[i] = cfg->routes[i];
        sh->routes[i].path = berth_strdup(cfg->routes[i].path);
    }
    sh->max_head = cfg->max_head ? cfg->max_head : 8192;
    sh->idle_ns = cfg->idle_timeout_ns ? cfg->idle_timeout_ns : 60ull * 1000000000ull;

    server_t *s = berth_calloc(1, sizeof(*s));
    s->sh = sh;
    s->max_conns = cfg->max_connections ? cfg->max_connections : 64;
    s->tls = tls;
    if (tfd >= 0)
        s->socks[s->nsocks++] = (lsock_t){.fd = berth_steal_fd(&tfd)};
    if (ufd >= 0) {
        s->socks[s->nsocks++] = (lsock_t){.fd = berth_steal_fd(&ufd)};
        s->path = berth_strdup(cfg->socket_path);
        s->dev = dev;
        s->ino = ino;
    }
    berth_handle_t h = berth_actor_spawn(&server_class, s);
    berth_send(h, berth_msg_new(BERTH_MSG_HTTPSRV_START, sizeof(berth_msg_t)));
    if (out) {
        out->actor = h;
        out->port = port;
    }
    return 0;
}

void berth_httpsrv_stop(const berth_httpsrv_t *srv)
{
    berth_send(srv->actor, berth_msg_new(BERTH_MSG_HTTPSRV_STOP, sizeof(berth_msg_t)));
}
