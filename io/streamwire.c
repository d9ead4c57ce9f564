/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire of a streaming connection: the HTTP/1.1 request, the token, the
 * upgrade to SPDY/3.1 (X-Stream-Protocol-Version) or WebSocket
 * (Sec-WebSocket-Protocol), and the framing of both, which the session sees
 * only as channels (io/streamconn.h). What the clients expect of each is
 * written at the top of io/spdy.h and io/websocket.h.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "io/httpreq.h"
#include "io/spdy.h"
#include "io/streamconn.h"
#include "io/websocket.h"

/* DATA frames and WebSocket messages are cut to this, so one large read
 * does not become one frame the client must buffer whole. */
#define CHUNK 32768

typedef struct wire {
    berth_http_parser_t hp;
    berth_http_req_t req;
    bool have_req;
    berth_spdy_t *spdy;
    uint32_t last_sid; /* the highest stream id the client opened */
    berth_ws_parser_t wsp;
    const berth_ws_chan_proto_t *wsproto;
    bool goodbye; /* GOAWAY or a close frame went out: nothing after it */
    /* SPDY/3.1+portforward.k8s.io: SPDY carried in WebSocket binary
     * messages (client-go's WebSocket port-forward): the SPDY bytes in
     * and out, before and after their WebSocket framing */
    bool tunnel;
    berth_bytebuf_t tin, tout;
} wire_t;

static wire_t *W(sconn_t *c)
{
    if (c->wire_state == NULL)
        c->wire_state = berth_calloc(1, sizeof(wire_t));
    return c->wire_state;
}

/* Where SPDY frames go: the socket's queue, or the tunnel's. */
static berth_bytebuf_t *SO(sconn_t *c)
{
    wire_t *w = W(c);
    return w->tunnel ? &w->tout : &c->oq;
}

/* The tunnel's SPDY bytes, framed as WebSocket binary messages. */
static void tunnel_flush(sconn_t *c)
{
    wire_t *w = W(c);
    if (!w->tunnel)
        return;
    size_t n = berth_bytebuf_pending(&w->tout);
    const uint8_t *p = w->tout.data + w->tout.off;
    for (size_t off = 0; off < n; off += 65536) {
        size_t k = n - off < 65536 ? n - off : 65536;
        berth_ws_put_binary(&c->oq, p + off, k);
    }
    w->tout.off = w->tout.len = 0;
}

void sconn_wire_fini(sconn_t *c)
{
    wire_t *w = c->wire_state;
    if (w == NULL)
        return;
    if (w->have_req)
        berth_http_req_fini(&w->req);
    berth_spdy_free(w->spdy);
    berth_bytebuf_free(&c->msg);
    berth_bytebuf_free(&w->tin);
    berth_bytebuf_free(&w->tout);
    for (size_t i = 0; i < c->nchans; i++)
        berth_free(c->chans[i]);
    berth_free(c->chans);
    berth_free(c->ws_ports);
    berth_free(c->upgrade_protos);
    berth_free(w);
    c->wire_state = NULL;
}

/* ---- channels ------------------------------------------------------------- */

schan_t *sconn_chan_add(sconn_t *c, int kind, uint32_t sid, int wsch)
{
    if (c->nchans == c->cap_chans) {
        c->cap_chans = c->cap_chans ? c->cap_chans * 2 : 8;
        c->chans = berth_realloc(c->chans, c->cap_chans * sizeof(*c->chans));
    }
    schan_t *ch = berth_calloc(1, sizeof(*ch));
    ch->kind = kind;
    ch->sid = sid;
    ch->wsch = wsch;
    c->chans[c->nchans++] = ch;
    return ch;
}

void sconn_chan_del(sconn_t *c, schan_t *ch)
{
    for (size_t i = 0; i < c->nchans; i++) {
        if (c->chans[i] == ch) {
            memmove(&c->chans[i], &c->chans[i + 1], (c->nchans - i - 1) * sizeof(*c->chans));
            c->nchans--;
            berth_free(ch);
            return;
        }
    }
}

schan_t *sconn_chan_find(sconn_t *c, int kind)
{
    for (size_t i = 0; i < c->nchans; i++)
        if (c->chans[i]->kind == kind)
            return c->chans[i];
    return NULL;
}

static schan_t *chan_by_sid(sconn_t *c, uint32_t sid)
{
    for (size_t i = 0; i < c->nchans; i++)
        if (c->chans[i]->sid == sid)
            return c->chans[i];
    return NULL;
}

static schan_t *chan_by_ws(sconn_t *c, int wsch)
{
    for (size_t i = 0; i < c->nchans; i++)
        if (c->chans[i]->wsch == wsch)
            return c->chans[i];
    return NULL;
}

void sconn_chan_send(sconn_t *c, schan_t *ch, const void *p, size_t n)
{
    wire_t *w = W(c);
    if (ch->local_fin || ch->reset || w->goodbye || c->peer_gone)
        return;
    const uint8_t *b = p;
    if (c->wire == W_SPDY) {
        berth_spdy_put_data_split(SO(c), ch->sid, p, n, CHUNK, false);
        tunnel_flush(c);
        return;
    }
    if (c->wire != W_WS)
        return;
    if (n == 0) {
        berth_ws_chan_put(&c->oq, w->wsproto, (uint8_t)ch->wsch, NULL, 0, NULL);
        return;
    }
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t k = n - off < CHUNK ? n - off : CHUNK;
        berth_ws_chan_put(&c->oq, w->wsproto, (uint8_t)ch->wsch, b + off, k, NULL);
    }
}

bool sconn_chan_direct(sconn_t *c, const schan_t *ch)
{
    wire_t *w = W(c);
    return c->wire == W_SPDY && c->tls == NULL && !w->tunnel && !ch->local_fin && !ch->reset &&
           !w->goodbye && !c->peer_gone;
}

size_t sconn_chan_direct_iov(sconn_t *c, const schan_t *ch, const uint8_t *p, size_t n,
                             uint8_t *hdr, struct iovec *iov)
{
    (void)c;
    assert(n <= (size_t)SCONN_DIRECT_FRAMES * CHUNK);
    size_t k = 0;
    for (size_t off = 0; off < n; off += CHUNK, k++) {
        size_t len = n - off < CHUNK ? n - off : CHUNK;
        /* a bytebuf over the frame's own 8 bytes: the header fills it
         * exactly, so it never grows (nor frees) */
        berth_bytebuf_t b = {.data = hdr + 8 * k, .cap = 8};
        berth_spdy_put_data_header(&b, ch->sid, 0, len);
        iov[2 * k] = (struct iovec){.iov_base = hdr + 8 * k, .iov_len = 8};
        iov[2 * k + 1] = (struct iovec){.iov_base = (void *)(p + off), .iov_len = len};
    }
    return 2 * k;
}

void sconn_chan_fin(sconn_t *c, schan_t *ch)
{
    wire_t *w = W(c);
    if (ch->local_fin)
        return;
    ch->local_fin = true;
    if (ch->reset || w->goodbye || c->peer_gone)
        return;
    if (c->wire == W_SPDY) {
        berth_spdy_put_data(SO(c), ch->sid, BERTH_SPDY_FLAG_FIN, NULL, 0);
        tunnel_flush(c);
    }
    /* WebSocket: a server's channel ends with the connection (v5's CLOSE
     * signal is the client's, for stdin) */
}

/* ---- before the upgrade ---------------------------------------------------- */

void sconn_http_error(berth_actor_t *self, sconn_t *c, int status, const char *reason,
                      const char *body)
{
    berth_http_header_t h[] = {{.name = "Connection", .value = "close", .value_len = 5}};
    berth_http_put_response(&c->oq, status, reason, h, 1, body, body ? strlen(body) : 0);
    sconn_close(self, c);
}

static bool is_kind(const char *s, size_t n)
{
    return (n == 4 && memcmp(s, "exec", 4) == 0) || (n == 6 && memcmp(s, "attach", 6) == 0) ||
           (n == 11 && memcmp(s, "portforward", 11) == 0);
}

void sconn_on_head_bytes(berth_actor_t *self, sconn_t *c)
{
    wire_t *w = W(c);
    berth_err_t err = NULL;
    ssize_t n = berth_http_parse(&w->hp, c->in.data + c->in.off, berth_bytebuf_pending(&c->in),
                                 &w->req, &err);
    if (n == 0)
        return;
    if (n < 0) {
        int status = berth_http_parser_status(&w->hp);
        BERTH_AUTO_FREE char *body = berth_asprintf("%s\n", err->msg);
        berth_log_debug("streaming: bad request", "conn=%llu status=%d error=\"%s\"",
                        (unsigned long long)c->serial, status, err->msg);
        berth_err_free(&err);
        sconn_http_error(self, c, status ? status : 400, NULL, body);
        return;
    }
    w->have_req = true;
    berth_bytebuf_consume(&c->in, (size_t)n);
    /* /<kind>/<token>: anything else names nothing this server has */
    const char *path = w->req.path;
    const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
    if (slash == NULL || !is_kind(path + 1, (size_t)(slash - path - 1)) ||
        strlen(slash + 1) != STREAM_TOKEN_LEN || strchr(slash + 1, '/') != NULL) {
        sconn_http_error(self, c, 404, NULL, "no such streaming URL\n");
        return;
    }
    if (strcmp(w->req.method, "GET") != 0 && strcmp(w->req.method, "POST") != 0) {
        sconn_http_error(self, c, 405, NULL, "streaming URLs take GET or POST\n");
        return;
    }
    snprintf(c->kindpath, sizeof(c->kindpath), "%.*s", (int)(slash - path - 1), path + 1);
    memcpy(c->token, slash + 1, STREAM_TOKEN_LEN);
    c->token[STREAM_TOKEN_LEN] = '\0';
    stream_take_msg_t *t = berth_msg_new(BERTH_MSG_STREAM_TAKE, sizeof(*t));
    t->conn = c->me;
    memcpy(t->kind, c->kindpath, sizeof(t->kind));
    memcpy(t->token, c->token, sizeof(t->token));
    c->phase = PH_TAKING;
    if (berth_send(c->server, &t->hdr) < 0)
        sconn_http_error(self, c, 503, NULL, "the streaming server is stopping\n");
}

/* The remote command versions SPDY clients name, newest first. v5 over
 * SPDY is v4 (its CLOSE signal is WebSocket's). */
static const struct {
    const char *name;
    int version;
} spdy_rc_protos[] = {
        {"v5.channel.k8s.io", 5}, {"v4.channel.k8s.io", 4}, {"v3.channel.k8s.io", 3},
        {"v2.channel.k8s.io", 2}, {"channel.k8s.io", 1},
};

static bool upgrade_spdy(berth_actor_t *self, sconn_t *c)
{
    wire_t *w = W(c);
    bool pf = c->req->kind == BERTH_STREAM_PORTFORWARD;
    berth_http_iter_t it = {0};
    const char *tok;
    size_t len;
    const char *chosen = NULL;
    bool offered = false;
    /* the client's order decides, as in the kubelet's handshake */
    while (chosen == NULL &&
           berth_http_req_tokens(&w->req, "X-Stream-Protocol-Version", &it, &tok, &len)) {
        offered = true;
        if (pf) {
            if (len == 18 && memcmp(tok, "portforward.k8s.io", 18) == 0) {
                chosen = "portforward.k8s.io";
                c->version = 1;
            }
            continue;
        }
        for (size_t i = 0; i < sizeof(spdy_rc_protos) / sizeof(spdy_rc_protos[0]); i++) {
            if (strlen(spdy_rc_protos[i].name) == len &&
                memcmp(tok, spdy_rc_protos[i].name, len) == 0) {
                chosen = spdy_rc_protos[i].name;
                c->version = spdy_rc_protos[i].version;
                break;
            }
        }
    }
    if (offered && chosen == NULL) {
        BERTH_AUTO_FREE char *body = berth_asprintf(
                "unable to upgrade: unable to negotiate protocol: the client offers none of %s\n",
                pf ? "portforward.k8s.io"
                   : "v5.channel.k8s.io, v4.channel.k8s.io, v3.channel.k8s.io, "
                     "v2.channel.k8s.io, channel.k8s.io");
        sconn_http_error(self, c, 403, NULL, body);
        return false;
    }
    if (chosen == NULL) /* no header: the first protocol of each kind */
        c->version = 1;
    berth_http_header_t h[3] = {
            {.name = "Connection", .value = "Upgrade", .value_len = 7},
            {.name = "Upgrade", .value = "SPDY/3.1", .value_len = 8},
            {.name = "X-Stream-Protocol-Version",
             .value = chosen ? chosen : "",
             .value_len = chosen ? strlen(chosen) : 0},
    };
    berth_http_put_switching(&c->oq, h, chosen ? 3 : 2);
    w->spdy = berth_spdy_new();
    c->wire = W_SPDY;
    return true;
}

static bool upgrade_ws(berth_actor_t *self, sconn_t *c)
{
    wire_t *w = W(c);
    char accept[BERTH_WS_ACCEPT_LEN + 1];
    int status = 400;
    berth_err_t err = NULL;
    if (berth_ws_handshake_check(&w->req, accept, &status, &err) < 0) {
        BERTH_AUTO_FREE char *m = berth_strdup(err->msg);
        berth_err_free(&err);
        berth_ws_put_reject(&c->oq, status, m);
        sconn_close(self, c);
        return false;
    }
    bool pf = c->req->kind == BERTH_STREAM_PORTFORWARD;
    if (pf && berth_http_req_has_token(&w->req, "Sec-WebSocket-Protocol",
                                       "SPDY/3.1+portforward.k8s.io")) {
        /* client-go's WebSocket port-forward: SPDY inside */
        berth_ws_put_accept(&c->oq, accept, "SPDY/3.1+portforward.k8s.io");
        berth_ws_parser_init(&w->wsp, true, c->cfg.max_buffered);
        w->spdy = berth_spdy_new();
        w->tunnel = true;
        c->wire = W_SPDY;
        c->version = 1;
        return true;
    }
    const char *const *list =
            pf ? berth_ws_portforward_protocols : berth_ws_remotecommand_protocols;
    size_t nlist = pf ? berth_ws_portforward_nprotocols : berth_ws_remotecommand_nprotocols;
    int i = berth_ws_select_protocol(&w->req, list, nlist, true);
    if (i == BERTH_WS_PROTO_NO_MATCH) {
        berth_ws_put_reject(&c->oq, 403, "unable to negotiate a WebSocket subprotocol");
        sconn_close(self, c);
        return false;
    }
    const char *name = i >= 0 ? list[i] : "";
    w->wsproto = berth_ws_chan_proto(name);
    if (w->wsproto == NULL) {
        berth_ws_put_reject(&c->oq, 403, "unsupported WebSocket subprotocol");
        sconn_close(self, c);
        return false;
    }
    c->version = w->wsproto->close_signal ? 5 : w->wsproto->status_json ? 4 : 1;
    berth_ws_put_accept(&c->oq, accept, name[0] ? name : NULL);
    berth_ws_parser_init(&w->wsp, true, c->cfg.max_buffered);
    c->wire = W_WS;
    if (pf) {
        /* the CRI request's ports; the URL's ?ports= when it named none */
        if (c->req->nports > 0) {
            c->ws_ports = berth_memdup(c->req->ports, c->req->nports * sizeof(int32_t));
            c->nws_ports = c->req->nports;
        } else {
            berth_http_iter_t it = {0};
            const char *v;
            size_t n;
            while (berth_http_req_params(&w->req, "ports", true, &it, &v, &n)) {
                char buf[8];
                int port = -1;
                if (n > 0 && n < sizeof(buf)) {
                    memcpy(buf, v, n);
                    buf[n] = '\0';
                    char *end;
                    long p = strtol(buf, &end, 10);
                    if (*end == '\0' && p >= 1 && p <= 65535)
                        port = (int)p;
                }
                if (port < 0) {
                    berth_ws_put_close(&c->oq, BERTH_WS_CLOSE_POLICY, "bad port in ?ports=");
                    w->goodbye = true;
                    sconn_close(self, c);
                    return false;
                }
                c->ws_ports = berth_realloc(c->ws_ports, (c->nws_ports + 1) * sizeof(int32_t));
                c->ws_ports[c->nws_ports++] = port;
            }
        }
        if (c->nws_ports == 0 || c->nws_ports > c->cfg.max_streams / 2) {
            berth_ws_put_close(&c->oq, BERTH_WS_CLOSE_POLICY,
                               c->nws_ports ? "too many ports" : "no port to forward");
            w->goodbye = true;
            sconn_close(self, c);
            return false;
        }
    }
    return true;
}

void sconn_on_taken(berth_actor_t *self, sconn_t *c, stream_taken_msg_t *m)
{
    wire_t *w = W(c);
    if (c->closing)
        return;
    if (m->req == NULL) {
        berth_log_info("streaming: refused an unknown, used or expired URL",
                       "conn=%llu kind=%s expired=%s", (unsigned long long)c->serial, c->kindpath,
                       m->expired ? "true" : "false");
        sconn_http_error(self, c, 404, NULL,
                         m->expired ? "streaming URL expired: ask the runtime for a new one\n"
                                    : "streaming URL not found: unknown or already used\n");
        return;
    }
    c->req = berth_steal_ptr(&m->req);
    bool ws = berth_ws_is_upgrade(&w->req);
    if (!ws && !berth_http_req_has_token(&w->req, "Upgrade", "SPDY/3.1")) {
        /* the token is spent all the same: a URL is good for one try */
        sconn_http_error(self, c, 400, NULL,
                         "this URL needs an upgrade to SPDY/3.1 or WebSocket (Upgrade header)\n");
        return;
    }
    bool ok = ws ? upgrade_ws(self, c) : upgrade_spdy(self, c);
    if (!ok)
        return;
    c->phase = PH_UPGRADED;
    c->born_ns = berth_now_ns(); /* the stream creation timeout counts from here */
    berth_log_debug("streaming: session upgraded", "conn=%llu kind=%s id=%.12s wire=%s version=%d",
                    (unsigned long long)c->serial, c->kindpath, c->req->id,
                    c->wire == W_WS ? "websocket" : "spdy", c->version);
    if (c->wire == W_SPDY) {
        sess_on_upgraded(self, c);
    } else if (c->req->kind != BERTH_STREAM_PORTFORWARD) {
        sess_on_upgraded(self, c);
        /* the first message tells the client its streams are up */
        schan_t *first = sconn_chan_find(c, CH_STDOUT);
        if (first == NULL)
            first = sconn_chan_find(c, CH_STDERR);
        if (first == NULL)
            first = sconn_chan_find(c, CH_ERROR);
        if (first && !c->closing)
            berth_ws_chan_put(&c->oq, w->wsproto, (uint8_t)first->wsch, NULL, 0, NULL);
    } else {
        sess_on_upgraded(self, c);
        for (size_t i = 0; i < c->nchans; i++) {
            uint8_t port[2] = {(uint8_t)(c->chans[i]->port & 0xff),
                               (uint8_t)(c->chans[i]->port >> 8)};
            berth_ws_chan_put(&c->oq, w->wsproto, (uint8_t)c->chans[i]->wsch, port, 2, NULL);
        }
    }
    /* bytes the client sent right behind its request */
    if (berth_bytebuf_pending(&c->in) > 0)
        sconn_wire_input(self, c);
}

/* ---- SPDY ------------------------------------------------------------------ */

static int stream_kind(const berth_spdy_frame_t *f)
{
    const char *t = berth_spdy_header_get(f, "streamtype", NULL);
    if (t == NULL)
        return -1;
    static const struct {
        const char *name;
        int kind;
    } kinds[] = {{"error", CH_ERROR},   {"stdin", CH_STDIN},   {"stdout", CH_STDOUT},
                 {"stderr", CH_STDERR}, {"resize", CH_RESIZE}, {"data", CH_PF_DATA}};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(t, kinds[i].name) == 0)
            return kinds[i].kind;
    return -1;
}

/* Streams still open in either direction. A port-forward client opens a
 * pair per connection for as long as the session lasts, so the ones that
 * ended (both FINs, or a reset) must not count against max_streams. */
static size_t live_streams(const sconn_t *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nchans; i++) {
        const schan_t *ch = c->chans[i];
        if (!ch->reset && !(ch->local_fin && ch->remote_fin))
            n++;
    }
    return n;
}

static void spdy_syn_stream(berth_actor_t *self, sconn_t *c, berth_spdy_frame_t *f)
{
    wire_t *w = W(c);
    uint32_t sid = f->stream_id;
    if (sid <= w->last_sid || (sid & 1) == 0 || chan_by_sid(c, sid)) {
        berth_spdy_put_rst_stream(SO(c), sid, BERTH_SPDY_PROTOCOL_ERROR);
        return;
    }
    w->last_sid = sid;
    int kind = stream_kind(f);
    bool pf = c->req->kind == BERTH_STREAM_PORTFORWARD;
    if (pf && kind == CH_ERROR)
        kind = CH_PF_ERROR;
    bool full = live_streams(c) >= c->cfg.max_streams;
    if (kind < 0 || full) {
        if (full)
            berth_log_info("streaming: too many streams on one connection",
                           "conn=%llu max=%u ([crio.api] stream_max_streams)",
                           (unsigned long long)c->serial, c->cfg.max_streams);
        berth_spdy_put_rst_stream(SO(c), sid, BERTH_SPDY_REFUSED_STREAM);
        return;
    }
    schan_t *ch = sconn_chan_add(c, kind, sid, -1);
    if (pf) {
        const char *port = berth_spdy_header_get(f, "port", NULL);
        const char *rid = berth_spdy_header_get(f, "requestid", NULL);
        char *end = NULL;
        long p = port ? strtol(port, &end, 10) : -1;
        ch->port = port && *end == '\0' && p >= 1 && p <= 65535 ? (int)p : -1;
        snprintf(ch->reqid, sizeof(ch->reqid), "%s", rid ? rid : "");
    }
    berth_err_t err = NULL;
    if (berth_spdy_put_syn_reply(w->spdy, SO(c), sid, 0, NULL, 0, &err) < 0) {
        berth_log_warn("streaming: cannot encode a SYN_REPLY", "error=\"%s\"", err->msg);
        berth_err_free(&err);
    }
    if (pf && ch->port < 0) {
        const char *msg = "invalid or missing port header";
        ch->kind = CH_PF_ERROR;
        berth_spdy_put_data(SO(c), sid, 0, msg, strlen(msg));
        sconn_chan_fin(c, ch);
        return;
    }
    if (!sess_on_chan_open(self, c, ch)) {
        ch->reset = true;
        ch->local_fin = ch->remote_fin = true;
        berth_spdy_put_rst_stream(SO(c), sid, BERTH_SPDY_REFUSED_STREAM);
        return;
    }
    if (f->flags & BERTH_SPDY_FLAG_FIN) {
        ch->remote_fin = true;
        sess_on_chan_fin(self, c, ch);
    }
}

static void spdy_frame(berth_actor_t *self, sconn_t *c, berth_spdy_frame_t *f)
{
    wire_t *w = W(c);
    switch (f->type) {
    case BERTH_SPDY_SYN_STREAM:
        spdy_syn_stream(self, c, f);
        break;
    case BERTH_SPDY_DATA: {
        schan_t *ch = chan_by_sid(c, f->stream_id);
        if (ch == NULL || ch->remote_fin)
            break;
        if (f->len > 0)
            sess_on_chan_data(self, c, ch, f->data, f->len);
        if (f->flags & BERTH_SPDY_FLAG_FIN) {
            ch->remote_fin = true;
            sess_on_chan_fin(self, c, ch);
        }
        break;
    }
    case BERTH_SPDY_RST_STREAM: {
        schan_t *ch = chan_by_sid(c, f->stream_id);
        if (ch == NULL)
            break;
        bool had_fin = ch->remote_fin;
        berth_log_debug("streaming: stream reset by the client", "conn=%llu stream=%u status=%s",
                        (unsigned long long)c->serial, f->stream_id,
                        berth_spdy_rst_status_name(f->status));
        ch->reset = true;
        ch->remote_fin = true;
        ch->local_fin = true;
        if (!had_fin)
            sess_on_chan_fin(self, c, ch);
        break;
    }
    case BERTH_SPDY_PING:
        berth_spdy_put_ping(SO(c), f->ping_id);
        break;
    case BERTH_SPDY_GOAWAY:
        /* the client is done: it reads nothing more */
        w->goodbye = true;
        sess_on_peer_gone(self, c);
        break;
    default:
        break; /* SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do (io/spdy.h) */
    }
}

/* SPDY frames from `in` (the socket's bytes, or the tunnel's). */
static void spdy_input(berth_actor_t *self, sconn_t *c, berth_bytebuf_t *in)
{
    wire_t *w = W(c);
    while (!c->closing) {
        berth_spdy_frame_t f = {0};
        berth_err_t err = NULL;
        ssize_t n =
                berth_spdy_parse(w->spdy, in->data + in->off, berth_bytebuf_pending(in), &f, &err);
        if (n == 0) {
            /* a frame larger than what one recv brings: make room for it */
            size_t need = berth_spdy_frame_size(in->data + in->off, berth_bytebuf_pending(in));
            if (need > berth_bytebuf_pending(in))
                berth_bytebuf_reserve(in, need - berth_bytebuf_pending(in));
            break;
        }
        if (n < 0) {
            berth_log_info("streaming: SPDY protocol error", "conn=%llu error=\"%s\"",
                           (unsigned long long)c->serial, err->msg);
            berth_err_free(&err);
            berth_spdy_put_goaway(SO(c), w->last_sid, BERTH_SPDY_GOAWAY_PROTOCOL_ERROR);
            w->goodbye = true;
            tunnel_flush(c);
            sess_on_peer_gone(self, c);
            return;
        }
        spdy_frame(self, c, &f);
        berth_spdy_frame_clear(&f);
        berth_bytebuf_consume(in, (size_t)n);
    }
    tunnel_flush(c);
}

/* ---- WebSocket -------------------------------------------------------------- */

/* The next WebSocket frame of the socket's bytes: > 0 its size, 0 when it is
 * not all there (room is made for it), -1 after a protocol error (answered
 * with a close; the session is over). */
static ssize_t next_ws_frame(berth_actor_t *self, sconn_t *c, berth_ws_frame_t *f)
{
    wire_t *w = W(c);
    berth_err_t err = NULL;
    ssize_t n =
            berth_ws_parse(&w->wsp, c->in.data + c->in.off, berth_bytebuf_pending(&c->in), f, &err);
    if (n == 0) {
        size_t need = berth_ws_parser_need(&w->wsp);
        if (need > berth_bytebuf_pending(&c->in))
            berth_bytebuf_reserve(&c->in, need - berth_bytebuf_pending(&c->in));
    } else if (n < 0) {
        berth_log_info("streaming: WebSocket protocol error", "conn=%llu error=\"%s\"",
                       (unsigned long long)c->serial, err->msg);
        berth_ws_put_close(&c->oq, berth_ws_parser_close_code(&w->wsp), err->msg);
        berth_err_free(&err);
        w->goodbye = true;
        sess_on_peer_gone(self, c);
    }
    return n;
}

static void ws_message(berth_actor_t *self, sconn_t *c, uint8_t *p, size_t n)
{
    wire_t *w = W(c);
    berth_ws_chan_msg_t m;
    berth_err_t err = NULL;
    int r = berth_ws_chan_decode(w->wsproto, p, n, &m, &err);
    if (r < 0) {
        berth_log_info("streaming: bad channel message", "conn=%llu error=\"%s\"",
                       (unsigned long long)c->serial, err->msg);
        berth_err_free(&err);
        berth_ws_put_close(&c->oq, BERTH_WS_CLOSE_PROTOCOL, "bad channel message");
        w->goodbye = true;
        sess_on_peer_gone(self, c);
        return;
    }
    if (r == 0)
        return;
    schan_t *ch = chan_by_ws(c, m.channel);
    if (ch == NULL || ch->remote_fin)
        return;
    if (m.close) {
        ch->remote_fin = true;
        sess_on_chan_fin(self, c, ch);
        return;
    }
    sess_on_chan_data(self, c, ch, m.data, m.len);
}

static void ws_input(berth_actor_t *self, sconn_t *c)
{
    wire_t *w = W(c);
    while (!c->closing) {
        berth_ws_frame_t f;
        ssize_t n = next_ws_frame(self, c, &f);
        if (n <= 0)
            return;
        switch (f.opcode) {
        case BERTH_WS_OP_PING:
            berth_ws_put_pong(&c->oq, f.payload, f.len);
            break;
        case BERTH_WS_OP_PONG:
            break;
        case BERTH_WS_OP_CLOSE:
            if (!w->goodbye)
                berth_ws_put_close(&c->oq, BERTH_WS_CLOSE_NORMAL, NULL);
            w->goodbye = true;
            berth_bytebuf_consume(&c->in, (size_t)n);
            sess_on_peer_gone(self, c);
            return;
        default:
            /* data: whole messages go to the channels */
            if (f.fin && berth_bytebuf_pending(&c->msg) == 0) {
                ws_message(self, c, f.payload, f.len);
            } else {
                berth_bytebuf_put(&c->msg, f.payload, f.len);
                if (f.fin) {
                    ws_message(self, c, c->msg.data + c->msg.off, berth_bytebuf_pending(&c->msg));
                    c->msg.off = c->msg.len = 0;
                }
            }
            break;
        }
        berth_bytebuf_consume(&c->in, (size_t)n);
    }
}

/* SPDY in WebSocket: each binary message's payload is the next bytes of
 * the SPDY session. */
static void tunnel_input(berth_actor_t *self, sconn_t *c)
{
    wire_t *w = W(c);
    while (!c->closing) {
        berth_ws_frame_t f;
        ssize_t n = next_ws_frame(self, c, &f);
        if (n < 0)
            return;
        if (n == 0)
            break;
        if (f.opcode == BERTH_WS_OP_PING) {
            berth_ws_put_pong(&c->oq, f.payload, f.len);
        } else if (f.opcode == BERTH_WS_OP_CLOSE) {
            if (!w->goodbye)
                berth_ws_put_close(&c->oq, BERTH_WS_CLOSE_NORMAL, NULL);
            w->goodbye = true;
            berth_bytebuf_consume(&c->in, (size_t)n);
            sess_on_peer_gone(self, c);
            return;
        } else if (f.opcode != BERTH_WS_OP_PONG) {
            berth_bytebuf_put(&w->tin, f.payload, f.len);
        }
        berth_bytebuf_consume(&c->in, (size_t)n);
    }
    spdy_input(self, c, &w->tin);
}

void sconn_wire_input(berth_actor_t *self, sconn_t *c)
{
    if (c->wire == W_SPDY && W(c)->tunnel)
        tunnel_input(self, c);
    else if (c->wire == W_SPDY)
        spdy_input(self, c, &c->in);
    else if (c->wire == W_WS)
        ws_input(self, c);
}

/* The last frame of the session: GOAWAY over SPDY, a close over WebSocket. */
void sconn_wire_goodbye(sconn_t *c)
{
    wire_t *w = W(c);
    if (w->goodbye || c->peer_gone || c->phase < PH_UPGRADED)
        return;
    w->goodbye = true;
    if (c->wire == W_SPDY) {
        berth_spdy_put_goaway(SO(c), w->last_sid, BERTH_SPDY_GOAWAY_OK);
        tunnel_flush(c);
        if (w->tunnel)
            berth_ws_put_close(&c->oq, BERTH_WS_CLOSE_NORMAL, NULL);
    } else if (c->wire == W_WS)
        berth_ws_put_close(&c->oq, BERTH_WS_CLOSE_NORMAL, NULL);
}

void sconn_on_peer_eof(berth_actor_t *self, sconn_t *c)
{
    if (c->phase < PH_UPGRADED) {
        sconn_close(self, c);
        return;
    }
    W(c)->goodbye = true;
    sess_on_peer_gone(self, c);
}
