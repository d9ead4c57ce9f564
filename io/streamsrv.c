/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The streaming server's listener: one actor that owns the TCP socket (a
 * multishot accept), the tokens, and the list of live connections. A token
 * is taken by the first connection that presents it and is gone afterwards;
 * tokens nobody took expire after token_ttl_ns (swept every few seconds, and
 * checked again at the take, so an expired token never runs anything even
 * between two sweeps).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/ring.h"
#include "io/netlisten.h"
#include "io/stream-internal.h"
#include "io/streamtls.h"

#define SWEEP_NS (5ull * 1000000000ull)
#define REARM_DELAY_NS (50ull * 1000000ull)
/* Tokens waiting at once; past it the oldest is dropped (its URL then gets
 * 404), so a client that asks for URLs and never uses them cannot grow
 * berthd without bound. */
#define MAX_TOKENS 16384

typedef struct token {
    char key[STREAM_TOKEN_LEN + 1];
    uint64_t born_ns;
    berth_stream_req_t *req;
} token_t;

typedef struct server {
    int fd;
    berth_stream_config_t cfg;
    char *exec_dir;
    char *tls_cert; /* for the log */
    berth_handle_t me;
    berth_op_t accept_op;
    bool accept_busy, rearm_pending, stopping, refusing;
    token_t *tokens; /* in registration order: the oldest first */
    size_t ntokens, cap_tokens;
    berth_handle_t *conns;
    size_t nconns, cap_conns;
    uint64_t next_conn;
    berth_stls_server_t *tls; /* NULL: plain HTTP */
} server_t;

/* Set once by berth_stream_server_start before it returns, read-only after:
 * every reader runs after the start returned (the CRI actors answer Exec
 * only once the server is serving), so plain loads suffice. */
static char *base_url;
static berth_handle_t the_server;

void berth_stream_req_free(berth_stream_req_t *r)
{
    if (r == NULL)
        return;
    berth_free(r->id);
    berth_free(r->runtime_path);
    berth_free(r->runtime_root);
    berth_strv_free(r->argv);
    berth_free(r->pid_dir);
    berth_free(r->bundle);
    berth_free(r->socket_dir);
    berth_free(r->netns);
    berth_free(r->ports);
    berth_free(r);
}

static void register_free(berth_msg_t *msg)
{
    stream_register_msg_t *m = (stream_register_msg_t *)msg;
    berth_stream_req_free(m->req);
    berth_free(m);
}

static void taken_free(berth_msg_t *msg)
{
    stream_taken_msg_t *m = (stream_taken_msg_t *)msg;
    berth_stream_req_free(m->req);
    berth_free(m);
}

const char *berth_stream_base_url(void)
{
    return base_url;
}

/* 18 random bytes as 24 characters of URL-safe base64: a token cannot be
 * guessed, and needs no escaping in a URL. */
static int new_token(char out[STREAM_TOKEN_LEN + 1], berth_err_t *err)
{
    static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[18];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return berth_err_errno(err, errno, "streaming token: getrandom");
        }
        got += (size_t)n;
    }
    for (size_t i = 0, o = 0; i < sizeof(raw); i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    out[STREAM_TOKEN_LEN] = '\0';
    return 0;
}

static const char *kind_path(berth_stream_kind_t k)
{
    switch (k) {
    case BERTH_STREAM_EXEC:
        return "exec";
    case BERTH_STREAM_ATTACH:
        return "attach";
    case BERTH_STREAM_PORTFORWARD:
        return "portforward";
    }
    return "?";
}

char *berth_stream_register(berth_stream_req_t *req, berth_err_t *err)
{
    if (base_url == NULL) {
        berth_stream_req_free(req);
        berth_err_make(err, ENOTCONN, BERTH_ERR_UNAVAILABLE, "the streaming server is not running");
        return NULL;
    }
    stream_register_msg_t *m =
            berth_msg_new(BERTH_MSG_STREAM_REGISTER, sizeof(stream_register_msg_t));
    m->hdr.free = register_free;
    if (new_token(m->token, err) < 0) {
        berth_stream_req_free(req);
        berth_free(m);
        return NULL;
    }
    char *url = berth_asprintf("%s/%s/%s", base_url, kind_path(req->kind), m->token);
    m->req = req;
    if (berth_send(the_server, &m->hdr) < 0) {
        berth_free(url);
        berth_err_make(err, ENOTCONN, BERTH_ERR_UNAVAILABLE, "the streaming server has stopped");
        return NULL;
    }
    return url;
}

static void drop_token(server_t *s, size_t i)
{
    berth_stream_req_free(s->tokens[i].req);
    memmove(&s->tokens[i], &s->tokens[i + 1], (s->ntokens - i - 1) * sizeof(token_t));
    s->ntokens--;
}

static void on_register(server_t *s, stream_register_msg_t *m)
{
    if (s->stopping)
        return;
    if (s->ntokens == MAX_TOKENS) {
        berth_log_warn("streaming: too many unused URLs; the oldest is dropped", "max=%d",
                       MAX_TOKENS);
        drop_token(s, 0);
    }
    if (s->ntokens == s->cap_tokens) {
        s->cap_tokens = s->cap_tokens ? s->cap_tokens * 2 : 16;
        s->tokens = berth_realloc(s->tokens, s->cap_tokens * sizeof(token_t));
    }
    token_t *t = &s->tokens[s->ntokens++];
    memcpy(t->key, m->token, sizeof(t->key));
    t->born_ns = berth_now_ns();
    t->req = berth_steal_ptr(&m->req);
}

static void sweep(server_t *s)
{
    uint64_t now = berth_now_ns();
    size_t keep = 0;
    while (keep < s->ntokens && now - s->tokens[keep].born_ns >= s->cfg.token_ttl_ns)
        keep++;
    for (size_t i = 0; i < keep; i++)
        berth_stream_req_free(s->tokens[i].req);
    if (keep > 0) {
        memmove(s->tokens, s->tokens + keep, (s->ntokens - keep) * sizeof(token_t));
        s->ntokens -= keep;
    }
}

static void on_take(server_t *s, stream_take_msg_t *m)
{
    stream_taken_msg_t *r = berth_msg_new(BERTH_MSG_STREAM_TAKEN, sizeof(*r));
    r->hdr.free = taken_free;
    uint64_t now = berth_now_ns();
    for (size_t i = 0; i < s->ntokens; i++) {
        token_t *t = &s->tokens[i];
        if (strcmp(t->key, m->token) != 0)
            continue;
        if (now - t->born_ns < s->cfg.token_ttl_ns && strcmp(kind_path(t->req->kind), m->kind) == 0)
            r->req = berth_steal_ptr(&t->req);
        else
            r->expired = now - t->born_ns >= s->cfg.token_ttl_ns;
        /* used once, even when presented on the wrong path */
        drop_token(s, i);
        break;
    }
    berth_send(m->conn, &r->hdr);
}

static void conns_del(server_t *s, berth_handle_t h)
{
    for (size_t i = 0; i < s->nconns; i++) {
        if (berth_handle_eq(s->conns[i], h)) {
            s->conns[i] = s->conns[--s->nconns];
            return;
        }
    }
}

static void arm_accept(berth_actor_t *self, server_t *s)
{
    if (s->accept_busy || s->stopping)
        return;
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_multishot_accept(sqe, s->fd, NULL, NULL, SOCK_CLOEXEC);
    s->accept_busy = true;
    berth_ring_submit(self, sqe, &s->accept_op);
}

/* The new connection's TLS, on a context reloaded first if the files
 * changed: a stat of three files at most every few seconds, at an accept,
 * and a load of a few kilobytes only when one did change. */
static struct berth_stls *tls_for_conn(server_t *s)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    int r = berth_stls_server_check(s->tls, berth_now_ns(), &err);
    if (r > 0)
        berth_log_info("streaming: TLS certificate reloaded", "cert=%s", s->cfg.tls_cert);
    else if (r < 0)
        berth_log_warn("streaming: TLS reload failed, the previous certificate stays",
                       "error=\"%s\"", err->msg);
    return berth_stls_new(s->tls);
}

static void on_accept(berth_actor_t *self, server_t *s, berth_cqe_msg_t *m)
{
    if (!(m->flags & IORING_CQE_F_MORE))
        s->accept_busy = false;
    if (m->res >= 0) {
        if (s->stopping) {
            close(m->res);
        } else if (s->nconns >= s->cfg.max_sessions) {
            /* Told why and closed at once (a fresh socket's send buffer
             * takes the short answer without blocking); the log says it
             * once per burst. */
            static const char busy[] =
                    "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 69\r\n\r\n"
                    "too many streaming sessions at once ([crio.api] stream_max_sessions)\n";
            /* (not on a TLS port: its client could not read it) */
            if (s->tls == NULL)
                (void)send(m->res, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            close(m->res);
            if (!s->refusing)
                berth_log_warn("streaming: connection refused: too many sessions",
                               "open=%zu max=%u ([crio.api] stream_max_sessions)", s->nconns,
                               s->cfg.max_sessions);
            s->refusing = true;
        } else {
            s->refusing = false;
            if (s->nconns == s->cap_conns) {
                s->cap_conns = s->cap_conns ? s->cap_conns * 2 : 16;
                s->conns = berth_realloc(s->conns, s->cap_conns * sizeof(berth_handle_t));
            }
            s->conns[s->nconns++] = stream_conn_spawn(m->res, &s->cfg, s->me, ++s->next_conn,
                                                      s->tls ? tls_for_conn(s) : NULL);
        }
    } else if (m->res != -ECANCELED && !s->stopping) {
        berth_log_warn("streaming: accept failed", "errno=%d", -m->res);
        if (!s->accept_busy && !s->rearm_pending) {
            s->rearm_pending = true;
            berth_timer_after(self, REARM_DELAY_NS,
                              berth_msg_new(BERTH_MSG_STREAM_SWEEP, sizeof(berth_msg_t)));
        }
        return;
    }
    if (!s->accept_busy && !s->rearm_pending)
        arm_accept(self, s);
}

static void on_stop(berth_actor_t *self, server_t *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    if (s->accept_busy)
        berth_ring_cancel(self, &s->accept_op);
    for (size_t i = 0; i < s->nconns; i++)
        berth_send(s->conns[i], berth_msg_new(BERTH_MSG_STREAM_STOP, sizeof(berth_msg_t)));
    while (s->ntokens > 0)
        drop_token(s, s->ntokens - 1);
}

static void server_receive(berth_actor_t *self, berth_msg_t *msg)
{
    server_t *s = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_STREAM_REGISTER:
        on_register(s, (stream_register_msg_t *)msg);
        break;
    case BERTH_MSG_STREAM_TAKE:
        on_take(s, (stream_take_msg_t *)msg);
        break;
    case BERTH_MSG_STREAM_SWEEP:
        if (berth_handle_valid(s->me) == false) {
            /* the first message: start serving and sweeping */
            s->me = berth_actor_self(self);
            arm_accept(self, s);
            berth_timer_after(self, SWEEP_NS,
                              berth_msg_new(BERTH_MSG_STREAM_TIMER, sizeof(berth_msg_t)));
        } else {
            s->rearm_pending = false;
            arm_accept(self, s);
        }
        break;
    case BERTH_MSG_STREAM_TIMER:
        sweep(s);
        if (!s->stopping)
            berth_timer_after(self, SWEEP_NS,
                              berth_msg_new(BERTH_MSG_STREAM_TIMER, sizeof(berth_msg_t)));
        break;
    case BERTH_MSG_CQE:
        on_accept(self, s, (berth_cqe_msg_t *)msg);
        break;
    case BERTH_MSG_STREAM_STOP:
        on_stop(self, s);
        break;
    case BERTH_MSG_STREAM_CONN_GONE:
        conns_del(s, ((stream_gone_msg_t *)msg)->conn);
        break;
    default:
        break;
    }
    berth_msg_free(msg);
    if (s->stopping && !s->accept_busy && s->nconns == 0) {
        close(s->fd);
        s->fd = -1;
        berth_actor_exit(self);
    }
}

static void server_fini(void *state)
{
    server_t *s = state;
    if (s->fd >= 0)
        close(s->fd);
    while (s->ntokens > 0)
        drop_token(s, s->ntokens - 1);
    berth_free(s->tokens);
    berth_free(s->conns);
    berth_free(s->exec_dir);
    berth_free(s->tls_cert);
    berth_stls_server_free(s->tls);
    berth_free(s);
}

static const berth_actor_class_t server_class = {
        .name = "stream-server",
        .receive = server_receive,
        .fini = server_fini,
};

static int tls_fail(berth_stls_server_t *tls, int rc)
{
    berth_stls_server_free(tls);
    return rc;
}

int berth_stream_server_start(const berth_stream_config_t *cfg, berth_handle_t *out,
                              berth_err_t *err)
{
    const char *addr = cfg->address && cfg->address[0] ? cfg->address : "127.0.0.1";
    if (cfg->port < 0 || cfg->port > 65535)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "[crio.api] stream_port %d is not a TCP port (0-65535)", cfg->port);
    if (berth_addr_is_ipv6(addr) == 0) {
        struct in_addr a4;
        if (inet_pton(AF_INET, addr, &a4) != 1)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "[crio.api] stream_address \"%s\" is not an IP address", addr);
    }
    berth_stls_server_t *tls = NULL;
    if (cfg->tls) {
        tls = berth_stls_server_new(cfg->tls_cert, cfg->tls_key, cfg->tls_ca, err);
        if (tls == NULL)
            return berth_err_prefix(err, "streaming server");
    }
    int port = 0;
    BERTH_AUTO_CLOSE int fd = berth_listen_tcp(addr, cfg->port, 512, &port, err);
    if (fd < 0)
        return tls_fail(tls, berth_err_prefix(err, "streaming server"));

    server_t *s = berth_calloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->cfg.address = NULL;
    if (s->cfg.token_ttl_ns == 0)
        s->cfg.token_ttl_ns = 60ull * 1000000000ull;
    if (s->cfg.stream_creation_timeout_ns == 0)
        s->cfg.stream_creation_timeout_ns = 30ull * 1000000000ull;
    if (s->cfg.max_sessions == 0)
        s->cfg.max_sessions = 1000;
    if (s->cfg.max_streams == 0)
        s->cfg.max_streams = 64;
    if (s->cfg.max_buffered == 0)
        s->cfg.max_buffered = 1u << 20;
    s->exec_dir = berth_strdup(cfg->exec_dir ? cfg->exec_dir : "/run/berth/exec");
    s->cfg.exec_dir = s->exec_dir;
    s->tls = tls;
    s->tls_cert = tls ? berth_strdup(cfg->tls_cert) : NULL;
    s->cfg.tls_cert = s->tls_cert;
    s->cfg.tls_key = s->cfg.tls_ca = NULL; /* the caller's strings; not needed past here */
    s->fd = berth_steal_fd(&fd);
    berth_handle_t h = berth_actor_spawn(&server_class, s);
    berth_send(h, berth_msg_new(BERTH_MSG_STREAM_SWEEP, sizeof(berth_msg_t)));
    the_server = h;
    berth_free(base_url);
    const char *scheme = tls ? "https" : "http";
    base_url = !berth_addr_is_ipv6(addr) ? berth_asprintf("%s://%s:%d", scheme, addr, port)
                                         : berth_asprintf("%s://[%s]:%d", scheme, addr, port);
    if (out)
        *out = h;
    return 0;
}

void berth_stream_server_stop(berth_handle_t server)
{
    berth_send(server, berth_msg_new(BERTH_MSG_STREAM_STOP, sizeof(berth_msg_t)));
}
