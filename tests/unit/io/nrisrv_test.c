/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/nrisrv: the NRI server on the real engine, with this test as the
 * plugin over a plain blocking socket: a registration walked through
 * RegisterPlugin, Configure (what berth tells the plugin) and Synchronize;
 * an unknown method answered UNIMPLEMENTED; a bad index refused and the
 * connection closed; a plugin that never registers, and one that never
 * answers Configure, disconnected at their timeouts while another plugin
 * registers meanwhile; the stop removing the socket and closing plugins.
 * Synchronize split: pods and containers over a small limit spread over
 * requests that each fit, in order, `more` on all but the last; one too
 * large alone left out; nothing at all is one empty request.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/nrimux.h"
#include "io/nrisrv.h"
#include "io/ttrpc.h"
#include "nri.pb-c.h"
#include "tests/unit/check.h"

static char sockpath[108];

typedef struct peer {
    int fd;
    berth_bytebuf_t trunk;
    berth_nrimux_rx_t rx;
} peer_t;

/* A message read back: its connection, header and a copy of its body. */
typedef struct got {
    int conn;
    berth_ttrpc_hdr_t hdr;
    uint8_t *body;
} got_t;

static bool peer_connect(peer_t *p)
{
    *p = (peer_t){.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockpath);
    return connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

static void peer_close(peer_t *p)
{
    close(p->fd);
    berth_bytebuf_free(&p->trunk);
    berth_nrimux_rx_fini(&p->rx);
}

static void peer_send(peer_t *p, int conn, berth_bytebuf_t *msg)
{
    berth_bytebuf_t out = {0};
    berth_nrimux_put(&out, (uint32_t)conn, msg->data, msg->len);
    if (write(p->fd, out.data, out.len) != (ssize_t)out.len)
        abort();
    berth_bytebuf_free(&out);
    berth_bytebuf_free(msg);
}

static bool take(peer_t *p, int conn, got_t *g)
{
    berth_bytebuf_t *b = &p->rx.conn[conn];
    berth_ttrpc_msg_t m;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    ssize_t n = berth_ttrpc_parse(b->data + b->off, berth_bytebuf_pending(b), &m, &err);
    if (n <= 0)
        return false;
    g->conn = conn;
    g->hdr = m.hdr;
    g->body = berth_malloc(m.hdr.length + 1);
    memcpy(g->body, m.body, m.hdr.length);
    berth_bytebuf_consume(b, (size_t)n);
    return true;
}

/* The next message from berth within ms: 1, 0 on EOF, -1 on timeout. */
static int peer_next(peer_t *p, got_t *g, int ms)
{
    for (;;) {
        if (take(p, BERTH_NRIMUX_RUNTIME_CONN, g) || take(p, BERTH_NRIMUX_PLUGIN_CONN, g))
            return 1;
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        if (poll(&pfd, 1, ms) <= 0)
            return -1;
        uint8_t *dst = berth_bytebuf_reserve(&p->trunk, 65536);
        ssize_t n = read(p->fd, dst, 65536);
        if (n <= 0)
            return 0;
        p->trunk.len += (size_t)n;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        if (berth_nrimux_rx_feed(&p->rx, &p->trunk, &err) < 0)
            return 0;
    }
}

static void send_register(peer_t *p, const char *name, const char *idx)
{
    Nri__Pkg__Api__V1alpha1__RegisterPluginRequest req =
            NRI__PKG__API__V1ALPHA1__REGISTER_PLUGIN_REQUEST__INIT;
    req.plugin_name = (char *)name;
    req.plugin_idx = (char *)idx;
    uint8_t buf[256];
    size_t n = protobuf_c_message_pack(&req.base, buf);
    berth_bytebuf_t m = {0};
    berth_ttrpc_request_encode(&m, 1, "nri.pkg.api.v1alpha1.Runtime", "RegisterPlugin", buf, n, 0,
                               NULL);
    peer_send(p, BERTH_NRIMUX_RUNTIME_CONN, &m);
}

static void answer(peer_t *p, uint32_t stream, const ProtobufCMessage *resp)
{
    uint8_t buf[256];
    size_t n = protobuf_c_message_pack(resp, buf);
    berth_bytebuf_t m = {0};
    berth_ttrpc_response_encode(&m, stream, 0, NULL, buf, n, NULL);
    peer_send(p, BERTH_NRIMUX_PLUGIN_CONN, &m);
}

/* Reads berth's call of `method` on the plugin connection. */
static bool expect_call(peer_t *p, const char *method, got_t *g, berth_ttrpc_request_t *req)
{
    if (peer_next(p, g, 2000) != 1 || g->conn != BERTH_NRIMUX_PLUGIN_CONN ||
        g->hdr.type != BERTH_TTRPC_REQUEST)
        return false;
    return berth_ttrpc_request_decode(g->body, g->hdr.length, req, NULL) == 0 &&
           berth_ttrpc_str_eq(req->service, "nri.pkg.api.v1alpha1.Plugin") &&
           berth_ttrpc_str_eq(req->method, method);
}

/* Walks p through a whole registration; true when every step was right. */
static bool do_register(peer_t *p, const char *name, const char *idx)
{
    send_register(p, name, idx);
    got_t g = {0};
    berth_ttrpc_response_t resp;
    bool good = peer_next(p, &g, 2000) == 1 && g.conn == BERTH_NRIMUX_RUNTIME_CONN &&
                g.hdr.type == BERTH_TTRPC_RESPONSE && g.hdr.stream_id == 1 &&
                berth_ttrpc_response_decode(g.body, g.hdr.length, &resp, NULL) == 0 &&
                resp.code == 0;
    check(good, "%s: RegisterPlugin answered OK", name);
    berth_free(g.body);
    berth_ttrpc_request_t req;
    good = expect_call(p, "Configure", &g, &req);
    Nri__Pkg__Api__V1alpha1__ConfigureRequest *cr =
            good ? nri__pkg__api__v1alpha1__configure_request__unpack(NULL, req.payload.len,
                                                                      req.payload.p)
                 : NULL;
    check(cr && strcmp(cr->runtime_name, "berth") == 0 && strcmp(cr->runtime_version, "9.9") == 0 &&
                  cr->request_timeout == 300 && cr->registration_timeout == 700 &&
                  req.timeout_nano == 300000000,
          "%s: Configure names the runtime and the timeouts (ms)", name);
    if (cr)
        nri__pkg__api__v1alpha1__configure_request__free_unpacked(cr, NULL);
    uint32_t stream = g.hdr.stream_id;
    berth_free(g.body);
    Nri__Pkg__Api__V1alpha1__ConfigureResponse cresp =
            NRI__PKG__API__V1ALPHA1__CONFIGURE_RESPONSE__INIT;
    cresp.events = 0x7;
    answer(p, stream, &cresp.base);
    good = expect_call(p, "Synchronize", &g, &req);
    check(good && g.hdr.stream_id == stream + 2, "%s: then Synchronize, on the next odd stream",
          name);
    stream = g.hdr.stream_id;
    berth_free(g.body);
    Nri__Pkg__Api__V1alpha1__SynchronizeResponse sresp =
            NRI__PKG__API__V1ALPHA1__SYNCHRONIZE_RESPONSE__INIT;
    answer(p, stream, &sresp.base);
    return good;
}

static void test_register(void)
{
    peer_t p;
    ok(peer_connect(&p), "a plugin connects");
    do_register(&p, "alpha", "10");
    got_t g = {0};
    ok(peer_next(&p, &g, 300) == -1, "a registered plugin stays connected, nothing more said");

    berth_bytebuf_t m = {0};
    berth_ttrpc_request_encode(&m, 3, "nri.pkg.api.v1alpha1.Runtime", "Frobnicate", NULL, 0, 0,
                               NULL);
    peer_send(&p, BERTH_NRIMUX_RUNTIME_CONN, &m);
    berth_ttrpc_response_t resp;
    ok(peer_next(&p, &g, 2000) == 1 && g.hdr.stream_id == 3 &&
               berth_ttrpc_response_decode(g.body, g.hdr.length, &resp, NULL) == 0 &&
               resp.code == 12,
       "an unknown method is answered UNIMPLEMENTED");
    berth_free(g.body);
    send_register(&p, "alpha", "10");
    ok(peer_next(&p, &g, 2000) == 1 &&
               berth_ttrpc_response_decode(g.body, g.hdr.length, &resp, NULL) == 0 &&
               resp.code == 9,
       "registering twice is FAILED_PRECONDITION");
    berth_free(g.body);
    peer_close(&p);
}

static void test_refused(void)
{
    peer_t p;
    peer_connect(&p);
    send_register(&p, "bad", "7x");
    got_t g = {0};
    berth_ttrpc_response_t resp;
    ok(peer_next(&p, &g, 2000) == 1 &&
               berth_ttrpc_response_decode(g.body, g.hdr.length, &resp, NULL) == 0 &&
               resp.code == 3 && resp.message.len > 0,
       "a bad index is INVALID_ARGUMENT");
    berth_free(g.body);
    ok(peer_next(&p, &g, 2000) == 0, "and the connection is closed");
    peer_close(&p);

    peer_connect(&p);
    static const uint8_t junk[] = {0, 0, 0, 0, 0, 0, 0, 1, 'x'};
    if (write(p.fd, junk, sizeof(junk)) != sizeof(junk))
        abort();
    ok(peer_next(&p, &g, 2000) == 1 && g.hdr.stream_id == 0 &&
               berth_ttrpc_response_decode(g.body, g.hdr.length, &resp, NULL) == 0 &&
               resp.code == 3,
       "a frame on connection 0 is answered INVALID_ARGUMENT (a prober sees a live server)");
    berth_free(g.body);
    ok(peer_next(&p, &g, 2000) == 0, "and the trunk is closed");
    peer_close(&p);
}

static void test_timeouts(void)
{
    peer_t silent, slow, good;
    peer_connect(&silent);
    peer_connect(&slow);
    send_register(&slow, "slow", "20");
    got_t g = {0};
    berth_ttrpc_request_t req;
    peer_next(&slow, &g, 2000); /* the RegisterPlugin answer */
    berth_free(g.body);
    ok(expect_call(&slow, "Configure", &g, &req), "slow: Configure arrives");
    berth_free(g.body);
    /* meanwhile another plugin registers at full speed */
    peer_connect(&good);
    ok(do_register(&good, "good", "30"), "another plugin registers while one is stuck");
    ok(peer_next(&slow, &g, 2000) == 0, "slow: disconnected at the request timeout");
    ok(peer_next(&silent, &g, 2000) == 0, "silent: disconnected at the registration timeout");
    ok(peer_next(&good, &g, 200) == -1, "the good plugin is still connected");
    peer_close(&silent);
    peer_close(&slow);
    peer_close(&good);
}

/* A packed PodSandbox (field 1) or Container (field 2) with id "<c><i>"
 * and a name of `pad` bytes. */
static uint8_t *item(uint32_t field, int i, size_t pad, size_t *len)
{
    char id[16];
    snprintf(id, sizeof(id), "%c%d", field == 1 ? 'p' : 'c', i);
    char *name = berth_calloc(pad + 1, 1);
    memset(name, 'x', pad);
    uint8_t *out;
    if (field == 1) {
        Nri__Pkg__Api__V1alpha1__PodSandbox p = NRI__PKG__API__V1ALPHA1__POD_SANDBOX__INIT;
        p.id = id;
        p.name = name;
        *len = protobuf_c_message_get_packed_size(&p.base);
        out = berth_malloc(*len);
        protobuf_c_message_pack(&p.base, out);
    } else {
        Nri__Pkg__Api__V1alpha1__Container c = NRI__PKG__API__V1ALPHA1__CONTAINER__INIT;
        c.id = id;
        c.name = name;
        *len = protobuf_c_message_get_packed_size(&c.base);
        out = berth_malloc(*len);
        protobuf_c_message_pack(&c.base, out);
    }
    berth_free(name);
    return out;
}

static void test_sync_split(void)
{
    /* 3 pods and 7 containers of ~300 bytes, one container of 2000, a
     * 1000-byte limit */
    berth_nrisrv_item_t items[11];
    uint8_t *bufs[11];
    for (int i = 0; i < 11; i++) {
        uint32_t field = i < 3 ? 1 : 2;
        bufs[i] = item(field, i, i == 6 ? 2000 : 300, &items[i].len);
        items[i].field = field;
        items[i].p = bufs[i];
    }
    berth_bytebuf_t *chunks = NULL;
    size_t skipped = 0;
    size_t n = berth_nrisrv_sync_split(items, 11, 1000, &chunks, &skipped);
    ok(skipped == 1, "the item larger than a whole request is left out");
    bool fit = true, order = true, more_ok = true;
    size_t pods = 0, ctrs = 0;
    int next = 0;
    for (size_t k = 0; k < n; k++) {
        fit = fit && chunks[k].len <= 1000;
        Nri__Pkg__Api__V1alpha1__SynchronizeRequest *r =
                nri__pkg__api__v1alpha1__synchronize_request__unpack(NULL, chunks[k].len,
                                                                     chunks[k].data);
        if (r == NULL) {
            order = false;
            break;
        }
        more_ok = more_ok && r->more == (k + 1 < n);
        for (size_t j = 0; j < r->n_pods; j++, next++)
            order = order && r->pods[j]->id[0] == 'p' && atoi(r->pods[j]->id + 1) == next;
        for (size_t j = 0; j < r->n_containers; j++, next++) {
            if (next == 6)
                next++; /* the one left out */
            order = order && atoi(r->containers[j]->id + 1) == next;
        }
        pods += r->n_pods;
        ctrs += r->n_containers;
        nri__pkg__api__v1alpha1__synchronize_request__free_unpacked(r, NULL);
    }
    ok(n >= 4 && fit, "split into several requests, each within the limit");
    ok(pods == 3 && ctrs == 7 && order, "every pod and container once, in order");
    ok(more_ok, "`more` on every request but the last");
    for (size_t k = 0; k < n; k++)
        berth_bytebuf_free(&chunks[k]);
    berth_free(chunks);

    n = berth_nrisrv_sync_split(items, 11, BERTH_NRISRV_SYNC_MAX, &chunks, &skipped);
    ok(n == 1 && skipped == 0, "under the real limit: one request");
    berth_bytebuf_free(&chunks[0]);
    berth_free(chunks);
    n = berth_nrisrv_sync_split(NULL, 0, 1000, &chunks, &skipped);
    ok(n == 1 && chunks[0].len == 0, "nothing: one empty request");
    berth_bytebuf_free(&chunks[0]);
    berth_free(chunks);
    for (int i = 0; i < 11; i++)
        berth_free(bufs[i]);
}

int main(void)
{
    test_sync_split();
    signal(SIGPIPE, SIG_IGN);
    berth_err_t err = NULL;
    berth_engine_config_t ec = {.workers = 2};
    if (berth_engine_start(&ec, &err) < 0) {
        printf("1..0 # SKIP engine: %s\n", err->msg);
        return 77;
    }
    char dir[] = "/tmp/nrisrv_test.XXXXXX";
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(sockpath, sizeof(sockpath), "%s/sub/nri.sock", dir);
    berth_nrisrv_config_t cfg = {
            .socket_path = sockpath,
            .registration_timeout_ns = 700000000,
            .request_timeout_ns = 300000000,
            .runtime_name = "berth",
            .runtime_version = "9.9",
    };
    berth_handle_t srv;
    if (!check(berth_nrisrv_start(&cfg, &srv, &err) == 0, "start (its directory made): %s",
               err ? err->msg : "ok")) {
        printf("1..%d\n", ntest);
        return 1;
    }
    berth_handle_t second;
    ok(berth_nrisrv_start(&cfg, &second, &err) < 0 && err && strstr(err->msg, "nri_listen"),
       "a second server on the live socket is refused, naming nri_listen");
    berth_err_free(&err);

    test_register();
    test_refused();
    test_timeouts();

    peer_t p;
    peer_connect(&p);
    do_register(&p, "last", "50");
    berth_nrisrv_stop(srv);
    got_t g = {0};
    ok(peer_next(&p, &g, 2000) == 0, "the stop disconnects a registered plugin");
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        usleep(20 * 1000);
        gone = access(sockpath, F_OK) != 0;
    }
    ok(gone, "and removes the socket");
    peer_close(&p);
    char sub[160];
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    rmdir(sub);
    rmdir(dir);
    berth_engine_stop();
    berth_engine_join();
    berth_engine_shutdown();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
