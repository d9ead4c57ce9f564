/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NRI server (io/nrisrv.h). The listener accepts with a multishot
 * accept; each connection is one actor that owns its socket, reassembles
 * the two multiplexed connections and drives the plugin through
 * registration. berth calls a plugin one call at a time (NRI's own runtime
 * side does the same per plugin), so a connection has at most one call in
 * flight and one timer for it. The registered plugins are kept by the
 * listener in index order (then name), as NRI calls them.
 */
#include "io/nrisrv.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/ring.h"
#include "io/bytebuf.h"
#include "io/fs.h"
#include "io/netlisten.h"
#include "io/nrimux.h"
#include "io/spawn.h"
#include "io/ttrpc.h"
#include "nri.pb-c.h"

#define RECV_CHUNK 65536
#define PLUGIN_SERVICE "nri.pkg.api.v1alpha1.Plugin"
#define RUNTIME_SERVICE "nri.pkg.api.v1alpha1.Runtime"
/* google.rpc.Code values berth answers with */
#define CODE_INVALID_ARGUMENT 3
#define CODE_FAILED_PRECONDITION 9
#define CODE_UNIMPLEMENTED 12

typedef Nri__Pkg__Api__V1alpha1__RegisterPluginRequest register_req_t;
typedef Nri__Pkg__Api__V1alpha1__ConfigureRequest configure_req_t;
typedef Nri__Pkg__Api__V1alpha1__ConfigureResponse configure_resp_t;
typedef Nri__Pkg__Api__V1alpha1__SynchronizeResponse sync_resp_t;

typedef struct settings {
    uint64_t reg_ns, req_ns;
    char *runtime_name, *runtime_version;
    berth_nrisrv_updates_fn *updates;
    size_t sync_max;
} settings_t;

/* ---- hooks ------------------------------------------------------------- */

/* The running server, for callers anywhere: stored once at the start on the
 * main thread, before the gRPC server that brings the first caller exists;
 * release/acquire so a reader that sees it sees a started server. */
static uint64_t current_server;

static void hook_forward(berth_nrisrv_hook_t *h);

static void hook_fields_free(berth_nrisrv_hook_t *h)
{
    berth_free(h->payload);
    for (size_t i = 0; i < h->nresults; i++) {
        berth_free(h->results[i].plugin);
        berth_free(h->results[i].payload);
    }
    berth_free(h->results);
    berth_err_free(&h->error);
    berth_free(h->route);
}

/* A hook freed before it was answered was sent to a plugin connection that
 * is gone or going: the walk goes on without that plugin, in a new message
 * that takes over the contents. Runs wherever the message is freed (any
 * thread), which berth_send allows. */
static void hook_free(berth_msg_t *msg)
{
    berth_nrisrv_hook_t *h = (berth_nrisrv_hook_t *)msg;
    if (!h->answered) {
        berth_nrisrv_hook_t *n = berth_msg_new(BERTH_MSG_NRISRV_HOOK_CALL, sizeof(*n));
        berth_msg_t hdr = n->hdr;
        *n = *h;
        n->hdr = hdr;
        n->hdr.free = hook_free;
        n->qnext = NULL;
        n->next++;
        *h = (berth_nrisrv_hook_t){0};
        hook_forward(n);
    }
    hook_fields_free(h);
    berth_free(h);
}

typedef struct track_msg {
    berth_msg_t hdr;
    int event;
    uint8_t *payload; /* the hook's request, owned */
    size_t len;
} track_msg_t;

static void track_free(berth_msg_t *msg)
{
    berth_free(((track_msg_t *)msg)->payload);
    berth_free(msg);
}

static void hook_forward(berth_nrisrv_hook_t *h)
{
    if (h->error != NULL || h->next >= h->nroute) {
        /* a refused pod or container does not exist: the server, which
         * kept it when it routed the hook, forgets it */
        uint64_t srv = __atomic_load_n(&current_server, __ATOMIC_ACQUIRE);
        if (h->error != NULL && srv != 0 &&
            (h->event == BERTH_NRI_RUN_POD_SANDBOX || h->event == BERTH_NRI_CREATE_CONTAINER)) {
            track_msg_t *t = berth_msg_new(BERTH_MSG_NRISRV_TRACK, sizeof(*t));
            t->hdr.free = track_free;
            t->event = h->event == BERTH_NRI_RUN_POD_SANDBOX ? BERTH_NRI_REMOVE_POD_SANDBOX
                                                             : BERTH_NRI_REMOVE_CONTAINER;
            t->len = h->len;
            t->payload = berth_malloc(h->len ? h->len : 1);
            memcpy(t->payload, h->payload, h->len);
            berth_send((berth_handle_t){srv}, &t->hdr);
        }
        h->answered = true;
        h->hdr.type = h->reply_type;
        berth_send(h->reply_to, &h->hdr);
        return;
    }
    h->hdr.type = BERTH_MSG_NRISRV_HOOK_CALL;
    berth_send(h->route[h->next], &h->hdr);
}

berth_nrisrv_hook_t *berth_nrisrv_hook_new(const char *method, int event,
                                           const ProtobufCMessage *req, berth_handle_t reply_to,
                                           uint32_t reply_type, uint64_t tag)
{
    berth_nrisrv_hook_t *h = berth_msg_new(BERTH_MSG_NRISRV_HOOK, sizeof(*h));
    h->hdr.free = hook_free;
    h->method = method;
    h->event = event;
    h->len = protobuf_c_message_get_packed_size(req);
    h->payload = berth_malloc(h->len ? h->len : 1);
    protobuf_c_message_pack(req, h->payload);
    h->reply_to = reply_to;
    h->reply_type = reply_type;
    h->tag = tag;
    return h;
}

void berth_nrisrv_hook_send(berth_nrisrv_hook_t *h)
{
    berth_handle_t srv = {__atomic_load_n(&current_server, __ATOMIC_ACQUIRE)};
    if (!berth_handle_valid(srv)) {
        hook_forward(h); /* no route: answered with no results */
        return;
    }
    h->hdr.type = BERTH_MSG_NRISRV_HOOK;
    berth_send(srv, &h->hdr); /* a stopped server: hook_free answers it */
}

void berth_nrisrv_updated_free(berth_msg_t *msg)
{
    berth_nrisrv_updated_t *m = (berth_nrisrv_updated_t *)msg;
    berth_free(m->failed);
    berth_err_free(&m->error);
    berth_free(m);
}

/* The handle reserved before the restore (0: none): stored on the main
 * thread before the managers that send to it are started, which is what
 * orders it for them (berth_actor_start's publication); read relaxed. */
static uint64_t reserved_server;

void berth_nrisrv_reserve(void)
{
    __atomic_store_n(&reserved_server, berth_actor_reserve().v, __ATOMIC_RELEASE);
}

bool berth_nrisrv_tracking(void)
{
    return __atomic_load_n(&reserved_server, __ATOMIC_ACQUIRE) != 0;
}

void berth_nrisrv_restored(berth_nrisrv_hook_t *h)
{
    berth_handle_t srv = {__atomic_load_n(&reserved_server, __ATOMIC_ACQUIRE)};
    if (berth_handle_valid(srv)) {
        track_msg_t *t = berth_msg_new(BERTH_MSG_NRISRV_TRACK, sizeof(*t));
        t->hdr.free = track_free;
        t->event = h->event;
        t->payload = berth_steal_ptr(&h->payload);
        t->len = h->len;
        berth_send(srv, &t->hdr);
    }
    h->answered = true; /* never routed: nothing goes on when it is freed */
    berth_msg_free(&h->hdr);
}

void berth_nrisrv_restore_done(void)
{
    berth_handle_t srv = {__atomic_load_n(&reserved_server, __ATOMIC_ACQUIRE)};
    if (berth_handle_valid(srv))
        berth_send(srv, berth_msg_new(BERTH_MSG_NRISRV_RESTORED, sizeof(berth_msg_t)));
}

bool berth_nrisrv_enabled(void)
{
    return __atomic_load_n(&current_server, __ATOMIC_ACQUIRE) != 0;
}

/* ---- a plugin connection ----------------------------------------------- */

enum phase { PH_REGISTER, PH_CONFIGURE, PH_SYNC, PH_READY };

typedef struct registered_msg {
    berth_msg_t hdr;
    berth_handle_t conn;
    char name[64];
    char idx[3];
    int32_t events;
} registered_msg_t;

typedef struct gone_msg {
    berth_msg_t hdr;
    berth_handle_t conn;
} gone_msg_t;

typedef struct call_timeout_msg {
    berth_msg_t hdr;
    uint32_t stream_id;
} call_timeout_msg_t;

typedef struct pconn {
    int fd;
    settings_t set;
    berth_handle_t server, me;
    berth_op_t recv_op, send_op;
    bool recv_busy, send_busy, closing, exited;
    char *linger;         /* closing once the output is sent, for this reason */
    berth_bytebuf_t in;   /* the trunk as received */
    berth_nrimux_rx_t rx; /* the two connections, reassembled */
    berth_bytebuf_t out;  /* framed bytes queued */
    berth_bytebuf_t wire; /* framed bytes in flight (the kernel reads them) */
    int phase;
    char *name, *idx; /* from RegisterPlugin */
    char *config;     /* a pre-installed plugin's configuration; NULL: none */
    int32_t events;
    uint32_t next_stream; /* berth's calls on the plugin connection: odd ids */
    uint32_t call_stream; /* the call in flight; 0: none */
    const char *call_method;
    berth_timer_t *reg_timer, *call_timer;
    /* the Synchronize requests, and the next to send after an answer */
    berth_bytebuf_t *sync;
    size_t nsync, sync_next;
    /* hooks waiting for this plugin, oldest first, and the one it is on */
    berth_nrisrv_hook_t *hq, **hq_tail, *cur_hook;
} pconn_t;

static void conn_close(berth_actor_t *self, pconn_t *c, const char *why);

static const char *plugin_label(const pconn_t *c)
{
    return c->name ? c->name : "(unregistered)";
}

static void send_more(berth_actor_t *self, pconn_t *c)
{
    if (c->send_busy || c->fd < 0 || c->closing)
        return;
    if (berth_bytebuf_pending(&c->wire) == 0) {
        berth_bytebuf_t t = c->wire;
        c->wire = c->out;
        c->out = t;
        c->out.off = c->out.len = 0;
    }
    size_t n = berth_bytebuf_pending(&c->wire);
    if (n == 0) {
        if (c->linger)
            conn_close(self, c, c->linger);
        return;
    }
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_send(sqe, c->fd, c->wire.data + c->wire.off, n, MSG_NOSIGNAL);
    c->send_busy = true;
    berth_ring_submit(self, sqe, &c->send_op);
}

static void recv_more(berth_actor_t *self, pconn_t *c)
{
    if (c->recv_busy || c->fd < 0 || c->closing || c->linger)
        return;
    uint8_t *p = berth_bytebuf_reserve(&c->in, RECV_CHUNK);
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_recv(sqe, c->fd, p, RECV_CHUNK, 0);
    c->recv_busy = true;
    berth_ring_submit(self, sqe, &c->recv_op);
}

/* Frames one ttrpc message (in msg) onto connection conn. */
static void queue(pconn_t *c, uint32_t conn, berth_bytebuf_t *msg)
{
    berth_nrimux_put(&c->out, conn, msg->data + msg->off, berth_bytebuf_pending(msg));
    berth_bytebuf_free(msg);
}

static void respond(berth_actor_t *self, pconn_t *c, uint32_t stream, int32_t code,
                    const char *message, const ProtobufCMessage *resp)
{
    berth_bytebuf_t m = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    uint8_t *payload = NULL;
    size_t plen = 0;
    if (resp) {
        plen = protobuf_c_message_get_packed_size(resp);
        payload = berth_malloc(plen ? plen : 1);
        protobuf_c_message_pack(resp, payload);
    }
    if (berth_ttrpc_response_encode(&m, stream, code, message, payload, plen, &err) < 0) {
        berth_free(payload);
        conn_close(self, c, err->msg);
        return;
    }
    berth_free(payload);
    queue(c, BERTH_NRIMUX_RUNTIME_CONN, &m);
    send_more(self, c);
}

/* Tells the plugin why it is dropped (an error answer on the runtime's
 * connection, stream 0 when no request is being answered), then closes
 * once that is sent or the request timeout passes. A peer that is not an
 * NRI plugin gets an answer too, so a server probing the socket sees it
 * is live. */
static void conn_fail(berth_actor_t *self, pconn_t *c, uint32_t stream, int32_t code,
                      const char *why)
{
    if (c->closing || c->linger)
        return;
    respond(self, c, stream, code, why, NULL);
    if (c->closing)
        return;
    c->linger = berth_strdup(why);
    if (c->call_timer)
        berth_timer_cancel(self, c->call_timer);
    c->call_stream = 0;
    c->call_method = "the farewell";
    c->call_timer = berth_timer_after(
            self, c->set.req_ns,
            berth_msg_new(BERTH_MSG_NRISRV_CALL_TIMEOUT, sizeof(call_timeout_msg_t)));
    send_more(self, c);
}

static void call_raw(berth_actor_t *self, pconn_t *c, const char *method, const uint8_t *payload,
                     size_t plen);

/* Calls method on the plugin with req; its answer comes to on_response. */
static void call(berth_actor_t *self, pconn_t *c, const char *method, const ProtobufCMessage *req)
{
    size_t plen = protobuf_c_message_get_packed_size(req);
    BERTH_AUTO_FREE uint8_t *payload = berth_malloc(plen ? plen : 1);
    protobuf_c_message_pack(req, payload);
    call_raw(self, c, method, payload, plen);
}

static void call_raw(berth_actor_t *self, pconn_t *c, const char *method, const uint8_t *payload,
                     size_t plen)
{
    uint32_t stream = c->next_stream;
    c->next_stream += 2;
    berth_bytebuf_t m = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_ttrpc_request_encode(&m, stream, PLUGIN_SERVICE, method, payload, plen,
                                   (int64_t)c->set.req_ns, &err) < 0) {
        conn_close(self, c, err->msg);
        return;
    }
    queue(c, BERTH_NRIMUX_PLUGIN_CONN, &m);
    c->call_stream = stream;
    c->call_method = method;
    call_timeout_msg_t *t = berth_msg_new(BERTH_MSG_NRISRV_CALL_TIMEOUT, sizeof(*t));
    t->stream_id = stream;
    c->call_timer = berth_timer_after(self, c->set.req_ns, &t->hdr);
    send_more(self, c);
}

static void start_configure(berth_actor_t *self, pconn_t *c)
{
    configure_req_t req = NRI__PKG__API__V1ALPHA1__CONFIGURE_REQUEST__INIT;
    /* external plugins bring their own configuration */
    req.config = c->config ? c->config : (char *)"";
    req.runtime_name = c->set.runtime_name;
    req.runtime_version = c->set.runtime_version;
    req.registration_timeout = (int64_t)(c->set.reg_ns / 1000000);
    req.request_timeout = (int64_t)(c->set.req_ns / 1000000);
    req.nri_version = (char *)"v0.12.5";
    c->phase = PH_CONFIGURE;
    call(self, c, "Configure", &req.base);
}

/* The server makes the Synchronize request (the pods and containers it
 * knows) and routes hooks to the plugin from then on; they wait in its
 * queue until Synchronize is answered. */
static void start_sync(berth_actor_t *self, pconn_t *c)
{
    (void)self;
    c->phase = PH_SYNC;
    registered_msg_t *rm = berth_msg_new(BERTH_MSG_NRISRV_SYNC_REQ, sizeof(*rm));
    rm->conn = c->me;
    snprintf(rm->name, sizeof(rm->name), "%s", c->name);
    snprintf(rm->idx, sizeof(rm->idx), "%s", c->idx);
    rm->events = c->events;
    berth_send(c->server, &rm->hdr);
}

typedef struct sync_data_msg {
    berth_msg_t hdr;
    berth_bytebuf_t *chunks; /* the SynchronizeRequests, in order */
    size_t n;
} sync_data_msg_t;

static void chunks_free(berth_bytebuf_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        berth_bytebuf_free(&v[i]);
    berth_free(v);
}

static void sync_data_free(berth_msg_t *msg)
{
    sync_data_msg_t *sd = (sync_data_msg_t *)msg;
    chunks_free(sd->chunks, sd->n);
    berth_free(msg);
}

size_t berth_nrisrv_sync_split(const berth_nrisrv_item_t *items, size_t n, size_t limit,
                               berth_bytebuf_t **chunks, size_t *skipped)
{
    /* `more = true`: field 3, varint 1 */
    static const uint8_t more[] = {3 << 3 | 0, 1};
    berth_bytebuf_t *v = NULL;
    size_t nc = 0;
    berth_bytebuf_t cur = {0};
    *skipped = 0;
    for (size_t i = 0; i < n; i++) {
        size_t need = 1 + berth_varint_len(items[i].len) + items[i].len;
        if (need + sizeof(more) > limit) {
            (*skipped)++;
            continue;
        }
        if (cur.len > 0 && cur.len + need + sizeof(more) > limit) {
            berth_bytebuf_put(&cur, more, sizeof(more));
            v = berth_realloc(v, (nc + 1) * sizeof(*v));
            v[nc++] = cur;
            cur = (berth_bytebuf_t){0};
        }
        berth_bytebuf_put_u8(&cur, (uint8_t)(items[i].field << 3 | 2));
        berth_bytebuf_put_varint(&cur, items[i].len);
        berth_bytebuf_put(&cur, items[i].p, items[i].len);
    }
    (void)berth_bytebuf_reserve(&cur, 1); /* an empty request still has a buffer */
    v = berth_realloc(v, (nc + 1) * sizeof(*v));
    v[nc++] = cur;
    *chunks = v;
    return nc;
}

/* A pre-installed plugin's file name: "<two digits>-<name>". */
static bool valid_idx_prefix(const char *s)
{
    return s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] == '-' && s[3] != '\0';
}

/* A valid index is two decimal digits, as NRI requires. */
static bool valid_idx(const char *s)
{
    return s && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] == '\0';
}

static void on_register(berth_actor_t *self, pconn_t *c, uint32_t stream,
                        const berth_ttrpc_request_t *r)
{
    if (c->phase != PH_REGISTER) {
        respond(self, c, stream, CODE_FAILED_PRECONDITION, "plugin is already registered", NULL);
        return;
    }
    register_req_t *req = (register_req_t *)protobuf_c_message_unpack(
            &nri__pkg__api__v1alpha1__register_plugin_request__descriptor,
            berth_alloc_protobuf_allocator(), r->payload.len, r->payload.p);
    if (req == NULL) {
        conn_fail(self, c, stream, CODE_INVALID_ARGUMENT, "malformed RegisterPluginRequest");
        return;
    }
    const char *name = req->plugin_name;
    char msg[160];
    if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof(((registered_msg_t *)0)->name) ||
        strchr(name, '/')) {
        snprintf(msg, sizeof(msg), "invalid plugin name \"%.64s\"", name ? name : "");
    } else if (!valid_idx(req->plugin_idx)) {
        snprintf(msg, sizeof(msg), "plugin %s: invalid index \"%.8s\" (two digits expected)", name,
                 req->plugin_idx ? req->plugin_idx : "");
    } else {
        msg[0] = '\0';
    }
    if (msg[0]) {
        protobuf_c_message_free_unpacked(&req->base, berth_alloc_protobuf_allocator());
        conn_fail(self, c, stream, CODE_INVALID_ARGUMENT, msg);
        return;
    }
    c->name = berth_strdup(name);
    c->idx = berth_strdup(req->plugin_idx);
    berth_log_info("NRI plugin registering", "plugin=%s index=%s version=%s", c->name, c->idx,
                   req->nri_version ? req->nri_version : "");
    protobuf_c_message_free_unpacked(&req->base, berth_alloc_protobuf_allocator());
    Nri__Pkg__Api__V1alpha1__Empty empty = NRI__PKG__API__V1ALPHA1__EMPTY__INIT;
    respond(self, c, stream, 0, NULL, &empty.base);
    if (!c->closing)
        start_configure(self, c);
}

/* A plugin's own UpdateContainers: applied by the config's function,
 * which answers with a berth_nrisrv_updated_t (on_updated). */
static void on_update_containers(berth_actor_t *self, pconn_t *c, uint32_t stream,
                                 const berth_ttrpc_request_t *r)
{
    if (c->phase != PH_READY) {
        respond(self, c, stream, CODE_FAILED_PRECONDITION,
                "UpdateContainers before the plugin finished registering", NULL);
        return;
    }
    if (c->set.updates == NULL) {
        respond(self, c, stream, CODE_UNIMPLEMENTED, "berth does not apply container updates",
                NULL);
        return;
    }
    BERTH_AUTO_FREE char *plugin = berth_asprintf("%s-%s", c->idx, c->name);
    c->set.updates(plugin, r->payload.p, r->payload.len, c->me, BERTH_MSG_NRISRV_UPDATED, stream);
}

static void on_updated(berth_actor_t *self, pconn_t *c, berth_nrisrv_updated_t *u)
{
    if (c->closing || c->linger)
        return;
    uint32_t stream = (uint32_t)u->tag;
    if (u->error && u->failed == NULL) {
        /* the request itself was refused: nothing was applied */
        respond(self, c, stream,
                u->error->kind == BERTH_ERR_UNSUPPORTED ? CODE_UNIMPLEMENTED
                                                        : CODE_INVALID_ARGUMENT,
                u->error->msg, NULL);
        return;
    }
    berth_bytebuf_t m = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_ttrpc_response_encode(&m, stream, 0, NULL, u->failed, u->failed_len, &err) < 0) {
        conn_close(self, c, err->msg);
        return;
    }
    queue(c, BERTH_NRIMUX_RUNTIME_CONN, &m);
    send_more(self, c);
}

/* A request the plugin makes on the runtime's connection. */
static void on_request(berth_actor_t *self, pconn_t *c, const berth_ttrpc_msg_t *m)
{
    berth_ttrpc_request_t r;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_ttrpc_request_decode(m->body, m->hdr.length, &r, &err) < 0) {
        conn_close(self, c, err->msg);
        return;
    }
    if (!berth_ttrpc_str_eq(r.service, RUNTIME_SERVICE)) {
        respond(self, c, m->hdr.stream_id, CODE_UNIMPLEMENTED, "unknown service", NULL);
    } else if (berth_ttrpc_str_eq(r.method, "RegisterPlugin")) {
        on_register(self, c, m->hdr.stream_id, &r);
    } else if (berth_ttrpc_str_eq(r.method, "UpdateContainers")) {
        on_update_containers(self, c, m->hdr.stream_id, &r);
    } else {
        respond(self, c, m->hdr.stream_id, CODE_UNIMPLEMENTED, "unknown method", NULL);
    }
}

/* Starts the next queued hook when the plugin is registered and idle. */
static void pump(berth_actor_t *self, pconn_t *c)
{
    if (c->phase != PH_READY || c->closing || c->linger || c->call_stream != 0 || c->hq == NULL)
        return;
    berth_nrisrv_hook_t *h = c->hq;
    c->hq = h->qnext;
    if (c->hq == NULL)
        c->hq_tail = &c->hq;
    h->qnext = NULL;
    c->cur_hook = h;
    call_raw(self, c, h->method, h->payload, h->len);
}

static void on_hook_call(berth_actor_t *self, pconn_t *c, berth_nrisrv_hook_t *h)
{
    if (c->closing || c->linger) {
        berth_msg_free(&h->hdr); /* skipped: hook_free goes on */
        return;
    }
    *c->hq_tail = h;
    c->hq_tail = &h->qnext;
    pump(self, c);
}

/* The plugin answered the hook it was on: record it and pass it on. */
static void hook_answered(berth_actor_t *self, pconn_t *c, const berth_ttrpc_response_t *r)
{
    berth_nrisrv_hook_t *h = c->cur_hook;
    c->cur_hook = NULL;
    if (r->code != 0) {
        berth_err_make(&h->error, EPERM, BERTH_ERR_UNKNOWN, "NRI plugin %s-%s failed %s: %.*s",
                       c->idx, c->name, h->method, (int)r->message.len, (const char *)r->message.p);
    } else {
        h->results = berth_realloc(h->results, (h->nresults + 1) * sizeof(*h->results));
        berth_nrisrv_result_t *res = &h->results[h->nresults++];
        res->plugin = berth_asprintf("%s-%s", c->idx, c->name);
        res->len = r->payload.len;
        res->payload = berth_malloc(res->len ? res->len : 1);
        if (res->len)
            memcpy(res->payload, r->payload.p, res->len);
    }
    h->next++;
    hook_forward(h);
    pump(self, c);
}

/* The answer to berth's call in flight. */
static void on_response(berth_actor_t *self, pconn_t *c, const berth_ttrpc_msg_t *m)
{
    if (m->hdr.stream_id != c->call_stream) {
        conn_close(self, c, "answer to a call that is not in flight");
        return;
    }
    berth_timer_cancel(self, c->call_timer);
    c->call_timer = NULL;
    c->call_stream = 0;
    berth_ttrpc_response_t r;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_ttrpc_response_decode(m->body, m->hdr.length, &r, &err) < 0) {
        conn_close(self, c, err->msg);
        return;
    }
    if (c->phase == PH_READY && c->cur_hook) {
        hook_answered(self, c, &r);
        return;
    }
    if (r.code != 0) {
        char why[256];
        snprintf(why, sizeof(why), "%s failed: %.*s", c->call_method, (int)r.message.len,
                 (const char *)r.message.p);
        conn_close(self, c, why);
        return;
    }
    ProtobufCAllocator *a = berth_alloc_protobuf_allocator();
    if (c->phase == PH_CONFIGURE) {
        configure_resp_t *resp = (configure_resp_t *)protobuf_c_message_unpack(
                &nri__pkg__api__v1alpha1__configure_response__descriptor, a, r.payload.len,
                r.payload.p);
        if (resp == NULL) {
            conn_close(self, c, "malformed ConfigureResponse");
            return;
        }
        c->events = resp->events;
        protobuf_c_message_free_unpacked(&resp->base, a);
        start_sync(self, c);
    } else if (c->phase == PH_SYNC) {
        sync_resp_t *resp = (sync_resp_t *)protobuf_c_message_unpack(
                &nri__pkg__api__v1alpha1__synchronize_response__descriptor, a, r.payload.len,
                r.payload.p);
        if (resp == NULL) {
            conn_close(self, c, "malformed SynchronizeResponse");
            return;
        }
        size_t updates = resp->n_update;
        bool more = resp->more;
        if (updates > 0 && c->sync_next >= c->nsync && c->set.updates) {
            /* the last answer's updates are applied like an UpdateContainers
             * nobody waits for (failures are logged) */
            Nri__Pkg__Api__V1alpha1__UpdateContainersRequest u =
                    NRI__PKG__API__V1ALPHA1__UPDATE_CONTAINERS_REQUEST__INIT;
            u.update = resp->update;
            u.n_update = resp->n_update;
            size_t ulen = protobuf_c_message_get_packed_size(&u.base);
            BERTH_AUTO_FREE uint8_t *ubuf = berth_malloc(ulen ? ulen : 1);
            protobuf_c_message_pack(&u.base, ubuf);
            BERTH_AUTO_FREE char *plugin = berth_asprintf("%s-%s", c->idx, c->name);
            c->set.updates(plugin, ubuf, ulen, BERTH_HANDLE_NONE, BERTH_MSG_NRISRV_UPDATED, 0);
        }
        protobuf_c_message_free_unpacked(&resp->base, a);
        if (c->sync_next < c->nsync) {
            /* a part: the plugin collects it and says it wants more */
            if (!more || updates > 0) {
                conn_close(self, c,
                           "plugin does not handle a Synchronize split over several messages "
                           "(NRI before v0.12?)");
                return;
            }
            berth_bytebuf_t *next = &c->sync[c->sync_next++];
            call_raw(self, c, "Synchronize", next->data, next->len);
            return;
        }
        if (updates > 0 && c->set.updates == NULL)
            berth_log_warn("NRI plugin asked for container updates at Synchronize: not applied",
                           "plugin=%s updates=%zu", c->name, updates);
        c->phase = PH_READY;
        if (c->reg_timer) {
            berth_timer_cancel(self, c->reg_timer);
            c->reg_timer = NULL;
        }
        berth_log_info("NRI plugin registered", "plugin=%s index=%s events=0x%x", c->name, c->idx,
                       (unsigned)c->events);
        pump(self, c);
    }
}

/* Parses every whole message reassembled on one connection. */
static void drain(berth_actor_t *self, pconn_t *c, int conn)
{
    berth_bytebuf_t *b = &c->rx.conn[conn];
    while (!c->closing && !c->linger) {
        berth_ttrpc_msg_t m;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        ssize_t n = berth_ttrpc_parse(b->data + b->off, berth_bytebuf_pending(b), &m, &err);
        if (n < 0) {
            conn_close(self, c, err->msg);
            return;
        }
        if (n == 0)
            return;
        if (conn == BERTH_NRIMUX_RUNTIME_CONN && m.hdr.type == BERTH_TTRPC_REQUEST)
            on_request(self, c, &m);
        else if (conn == BERTH_NRIMUX_PLUGIN_CONN && m.hdr.type == BERTH_TTRPC_RESPONSE)
            on_response(self, c, &m);
        else
            conn_close(self, c, "unexpected ttrpc message type");
        berth_bytebuf_consume(b, (size_t)n);
    }
}

static void on_recv(berth_actor_t *self, pconn_t *c, int res)
{
    c->recv_busy = false;
    if (c->closing || c->linger) /* what a dropped plugin still says is not read */
        return;
    if (res <= 0) {
        conn_close(self, c, res == 0 ? "plugin closed the connection" : strerror(-res));
        return;
    }
    c->in.len += (size_t)res;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_nrimux_rx_feed(&c->rx, &c->in, &err) < 0) {
        c->in.off = c->in.len = 0;
        conn_fail(self, c, 0, CODE_INVALID_ARGUMENT, err->msg);
        return;
    }
    drain(self, c, BERTH_NRIMUX_RUNTIME_CONN);
    drain(self, c, BERTH_NRIMUX_PLUGIN_CONN);
    recv_more(self, c);
}

static void on_send(berth_actor_t *self, pconn_t *c, int res)
{
    c->send_busy = false;
    if (c->closing)
        return;
    if (res < 0) {
        conn_close(self, c, strerror(-res));
        return;
    }
    berth_bytebuf_consume(&c->wire, (size_t)res);
    send_more(self, c);
}

static void conn_close(berth_actor_t *self, pconn_t *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->phase == PH_READY)
        berth_log_warn("NRI plugin disconnected", "plugin=%s index=%s reason=\"%s\"", c->name,
                       c->idx, why);
    else
        berth_log_warn("NRI plugin dropped before it registered", "plugin=%s reason=\"%s\"",
                       plugin_label(c), why);
    if (c->reg_timer)
        berth_timer_cancel(self, c->reg_timer);
    if (c->call_timer)
        berth_timer_cancel(self, c->call_timer);
    c->reg_timer = c->call_timer = NULL;
    /* the hooks waiting for this plugin go on without it */
    if (c->cur_hook) {
        berth_log_warn("NRI plugin skipped", "plugin=%s method=%s", plugin_label(c),
                       c->cur_hook->method);
        berth_msg_free(&c->cur_hook->hdr);
        c->cur_hook = NULL;
    }
    while (c->hq) {
        berth_nrisrv_hook_t *h = c->hq;
        c->hq = h->qnext;
        h->qnext = NULL;
        berth_msg_free(&h->hdr);
    }
    c->hq_tail = &c->hq;
    /* the ops complete (cancelled) before the fd may be closed */
    (void)shutdown(c->fd, SHUT_RDWR);
    if (c->recv_busy)
        berth_ring_cancel(self, &c->recv_op);
    if (c->send_busy)
        berth_ring_cancel(self, &c->send_op);
}

static void conn_receive(berth_actor_t *self, berth_msg_t *msg)
{
    pconn_t *c = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_NRISRV_START:
        c->me = berth_actor_self(self);
        c->reg_timer = berth_timer_after(self, c->set.reg_ns,
                                         berth_msg_new(BERTH_MSG_NRISRV_REG_TIMEOUT, sizeof(*msg)));
        recv_more(self, c);
        break;
    case BERTH_MSG_CQE: {
        berth_cqe_msg_t *m = (berth_cqe_msg_t *)msg;
        if (m->op == &c->recv_op)
            on_recv(self, c, m->res);
        else if (m->op == &c->send_op)
            on_send(self, c, m->res);
        break;
    }
    case BERTH_MSG_NRISRV_REG_TIMEOUT:
        c->reg_timer = NULL;
        conn_close(self, c, "registration timed out");
        break;
    case BERTH_MSG_NRISRV_CALL_TIMEOUT: {
        c->call_timer = NULL;
        char why[96];
        snprintf(why, sizeof(why), "%s not answered within the request timeout",
                 c->call_method ? c->call_method : "call");
        conn_close(self, c, why);
        break;
    }
    case BERTH_MSG_NRISRV_STOP:
        conn_close(self, c, "berthd is stopping");
        break;
    case BERTH_MSG_NRISRV_HOOK_CALL:
        on_hook_call(self, c, (berth_nrisrv_hook_t *)msg);
        msg = NULL; /* kept (or freed) by on_hook_call */
        break;
    case BERTH_MSG_NRISRV_UPDATED:
        on_updated(self, c, (berth_nrisrv_updated_t *)msg);
        break;
    case BERTH_MSG_NRISRV_SYNC_DATA: {
        sync_data_msg_t *sd = (sync_data_msg_t *)msg;
        if (c->phase == PH_SYNC && !c->closing && !c->linger && c->sync == NULL) {
            c->sync = berth_steal_ptr(&sd->chunks);
            c->nsync = sd->n;
            sd->n = 0;
            c->sync_next = 1;
            call_raw(self, c, "Synchronize", c->sync[0].data, c->sync[0].len);
        }
        break;
    }
    default:
        break;
    }
    berth_msg_free(msg);
    if (!c->closing || c->exited || c->recv_busy || c->send_busy)
        return;
    c->exited = true;
    close(c->fd);
    c->fd = -1;
    gone_msg_t *g = berth_msg_new(BERTH_MSG_NRISRV_GONE, sizeof(*g));
    g->conn = c->me;
    berth_send(c->server, &g->hdr);
    berth_actor_exit(self);
}

static void settings_fini(settings_t *s)
{
    berth_free(s->runtime_name);
    berth_free(s->runtime_version);
}

static void settings_copy(settings_t *dst, const settings_t *src)
{
    *dst = *src;
    dst->runtime_name = berth_strdup(src->runtime_name);
    dst->runtime_version = berth_strdup(src->runtime_version);
}

static void conn_fini(void *state)
{
    pconn_t *c = state;
    if (c->fd >= 0)
        close(c->fd);
    berth_bytebuf_free(&c->in);
    berth_bytebuf_free(&c->out);
    berth_bytebuf_free(&c->wire);
    berth_nrimux_rx_fini(&c->rx);
    berth_free(c->name);
    berth_free(c->idx);
    berth_free(c->linger);
    berth_free(c->config);
    chunks_free(c->sync, c->nsync);
    settings_fini(&c->set);
    berth_free(c);
}

static const berth_actor_class_t conn_class = {
        .name = "nri-plugin", .receive = conn_receive, .fini = conn_fini};

/* ---- the listener and the plugin list ----------------------------------- */

typedef struct plugin_ent {
    berth_handle_t conn;
    char name[64];
    char idx[3];
    int32_t events;
    bool ready;
} plugin_ent_t;

typedef struct server {
    int fd;
    settings_t set;
    char *path;
    dev_t dev;
    ino_t ino;
    berth_op_t accept_op;
    berth_handle_t me;
    bool accept_busy, stopping, exited;
    plugin_ent_t *plugins; /* every connection; the registered ones sorted first by index */
    size_t n, cap;
    /* the pods and containers hooks have shown, packed (PodSandbox,
     * Container) for Synchronize */
    struct tracked *pods, *ctrs;
    size_t npods, nctrs;
    /* the pre-installed plugins' processes, signalled at the stop */
    berth_handle_t *procs;
    size_t nprocs;
    /* managers still restoring (berth_nrisrv_restore_done), and the
     * plugins whose Synchronize waits for them */
    int restoring;
    berth_handle_t *held;
    size_t nheld;
} server_t;

typedef struct adopt_msg {
    berth_msg_t hdr;
    int fd;       /* owned */
    char *config; /* owned */
} adopt_msg_t;

static void adopt_free(berth_msg_t *msg)
{
    adopt_msg_t *a = (adopt_msg_t *)msg;
    if (a->fd >= 0)
        close(a->fd);
    berth_free(a->config);
    berth_free(a);
}

typedef struct tracked {
    char *id, *pod_id;
    uint8_t *bytes;
    size_t len;
} tracked_t;

static int ent_cmp(const void *a, const void *b)
{
    const plugin_ent_t *x = a, *y = b;
    if (x->ready != y->ready)
        return x->ready ? -1 : 1;
    int r = strcmp(x->idx, y->idx);
    return r ? r : strcmp(x->name, y->name);
}

static void arm_accept(berth_actor_t *self, server_t *s)
{
    if (s->stopping || s->accept_busy || s->fd < 0)
        return;
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_multishot_accept(sqe, s->fd, NULL, NULL, SOCK_CLOEXEC);
    s->accept_busy = true;
    berth_ring_submit(self, sqe, &s->accept_op);
}

static void spawn_conn(server_t *s, int fd, char *config)
{
    pconn_t *c = berth_calloc(1, sizeof(*c));
    c->fd = fd;
    c->config = config;
    c->server = s->me;
    c->next_stream = 1;
    c->hq_tail = &c->hq;
    settings_copy(&c->set, &s->set);
    berth_handle_t h = berth_actor_spawn(&conn_class, c);
    berth_send(h, berth_msg_new(BERTH_MSG_NRISRV_START, sizeof(berth_msg_t)));
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->plugins = berth_realloc(s->plugins, s->cap * sizeof(*s->plugins));
    }
    s->plugins[s->n++] = (plugin_ent_t){.conn = h};
}

static void on_accept(berth_actor_t *self, server_t *s, berth_cqe_msg_t *m)
{
    if (!(m->flags & IORING_CQE_F_MORE))
        s->accept_busy = false;
    if (m->res >= 0) {
        if (s->stopping) {
            close(m->res);
        } else {
            spawn_conn(s, m->res, NULL);
        }
    } else if (m->res != -ECANCELED && !s->stopping) {
        berth_log_warn("NRI: accept failed", "socket=%s errno=%d", s->path, -m->res);
    }
    arm_accept(self, s);
}

static plugin_ent_t *find_ent(server_t *s, berth_handle_t h)
{
    for (size_t i = 0; i < s->n; i++)
        if (berth_handle_eq(s->plugins[i].conn, h))
            return &s->plugins[i];
    return NULL;
}

static void on_registered(server_t *s, registered_msg_t *rm)
{
    plugin_ent_t *e = find_ent(s, rm->conn);
    if (e == NULL)
        return;
    memcpy(e->name, rm->name, sizeof(e->name));
    memcpy(e->idx, rm->idx, sizeof(e->idx));
    e->events = rm->events;
    e->ready = true;
    qsort(s->plugins, s->n, sizeof(*s->plugins), ent_cmp);
    char order[512];
    size_t off = 0;
    order[0] = '\0';
    for (size_t i = 0; i < s->n && s->plugins[i].ready; i++) {
        int w = snprintf(order + off, sizeof(order) - off, "%s%s-%s", i ? "," : "",
                         s->plugins[i].idx, s->plugins[i].name);
        if (w < 0 || (size_t)w >= sizeof(order) - off)
            break;
        off += (size_t)w;
    }
    berth_log_info("NRI plugins in call order", "plugins=%s", order);
}

static void untrack(tracked_t *v, size_t *n, const char *id, const char *pod_id)
{
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if ((id && strcmp(v[i].id, id) == 0) || (pod_id && strcmp(v[i].pod_id, pod_id) == 0)) {
            berth_free(v[i].id);
            berth_free(v[i].pod_id);
            berth_free(v[i].bytes);
        } else {
            v[w++] = v[i];
        }
    }
    *n = w;
}

static void track(tracked_t **v, size_t *n, const char *id, const char *pod_id,
                  const ProtobufCMessage *m)
{
    untrack(*v, n, id, NULL);
    *v = berth_realloc(*v, (*n + 1) * sizeof(**v));
    tracked_t *t = &(*v)[(*n)++];
    t->id = berth_strdup(id);
    t->pod_id = berth_strdup(pod_id);
    t->len = protobuf_c_message_get_packed_size(m);
    t->bytes = berth_malloc(t->len ? t->len : 1);
    protobuf_c_message_pack(m, t->bytes);
}

/* Keeps or forgets what a hook shows: pods and containers being created
 * (forgotten again when a plugin refuses them: track messages), removed
 * ones (their Remove). Other events change nothing. */
static void on_track(server_t *s, int event, const uint8_t *p, size_t len)
{
    ProtobufCAllocator *a = berth_alloc_protobuf_allocator();
    if (event == BERTH_NRI_RUN_POD_SANDBOX || event == BERTH_NRI_REMOVE_POD_SANDBOX) {
        Nri__Pkg__Api__V1alpha1__RunPodSandboxRequest *r =
                nri__pkg__api__v1alpha1__run_pod_sandbox_request__unpack(a, len, p);
        if (r == NULL || r->pod == NULL) {
            if (r)
                nri__pkg__api__v1alpha1__run_pod_sandbox_request__free_unpacked(r, a);
            return;
        }
        if (event == BERTH_NRI_RUN_POD_SANDBOX) {
            track(&s->pods, &s->npods, r->pod->id, r->pod->id, &r->pod->base);
        } else {
            untrack(s->pods, &s->npods, r->pod->id, NULL);
            untrack(s->ctrs, &s->nctrs, NULL, r->pod->id);
        }
        nri__pkg__api__v1alpha1__run_pod_sandbox_request__free_unpacked(r, a);
    } else if (event == BERTH_NRI_CREATE_CONTAINER || event == BERTH_NRI_REMOVE_CONTAINER) {
        Nri__Pkg__Api__V1alpha1__CreateContainerRequest *r =
                nri__pkg__api__v1alpha1__create_container_request__unpack(a, len, p);
        if (r == NULL || r->container == NULL) {
            if (r)
                nri__pkg__api__v1alpha1__create_container_request__free_unpacked(r, a);
            return;
        }
        if (event == BERTH_NRI_CREATE_CONTAINER)
            track(&s->ctrs, &s->nctrs, r->container->id, r->container->pod_sandbox_id,
                  &r->container->base);
        else
            untrack(s->ctrs, &s->nctrs, r->container->id, NULL);
        nri__pkg__api__v1alpha1__create_container_request__free_unpacked(r, a);
    }
}

/* The SynchronizeRequests of everything tracked (pods, then containers),
 * split to fit NRI's message limit. */
static void send_sync(server_t *s, berth_handle_t conn)
{
    size_t n = s->npods + s->nctrs;
    BERTH_AUTO_FREE berth_nrisrv_item_t *items = berth_calloc(n + 1, sizeof(*items));
    for (size_t i = 0; i < s->npods; i++)
        items[i] = (berth_nrisrv_item_t){1, s->pods[i].bytes, s->pods[i].len};
    for (size_t i = 0; i < s->nctrs; i++)
        items[s->npods + i] = (berth_nrisrv_item_t){2, s->ctrs[i].bytes, s->ctrs[i].len};
    sync_data_msg_t *sd = berth_msg_new(BERTH_MSG_NRISRV_SYNC_DATA, sizeof(*sd));
    sd->hdr.free = sync_data_free;
    size_t skipped;
    sd->n = berth_nrisrv_sync_split(items, n,
                                    s->set.sync_max ? s->set.sync_max : BERTH_NRISRV_SYNC_MAX,
                                    &sd->chunks, &skipped);
    if (skipped)
        berth_log_warn("NRI Synchronize leaves out pods or containers too large for a message",
                       "count=%zu", skipped);
    if (sd->n > 1)
        berth_log_info("NRI Synchronize split", "pods=%zu containers=%zu messages=%zu", s->npods,
                       s->nctrs, sd->n);
    berth_send(conn, &sd->hdr);
}

/* Routes a hook through the registered plugins subscribed to its event,
 * in index order (the list is kept sorted). */
static void on_hook(server_t *s, berth_nrisrv_hook_t *h)
{
    /* Kept as the hook is routed: a plugin registering from now on gets
     * this pod or container either in its Synchronize (taken before) or
     * through the hook (routed after), never neither. */
    on_track(s, h->event, h->payload, h->len);
    uint32_t bit = 1u << (h->event - 1);
    h->route = berth_calloc(s->n + 1, sizeof(*h->route));
    h->nroute = 0;
    for (size_t i = 0; i < s->n && !s->stopping; i++) {
        const plugin_ent_t *e = &s->plugins[i];
        if (e->ready && (e->events == 0 || (e->events & bit)))
            h->route[h->nroute++] = e->conn;
    }
    h->next = 0;
    hook_forward(h);
}

static void server_receive(berth_actor_t *self, berth_msg_t *msg)
{
    server_t *s = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_NRISRV_START:
        s->me = berth_actor_self(self);
        arm_accept(self, s);
        break;
    case BERTH_MSG_CQE:
        if (((berth_cqe_msg_t *)msg)->op == &s->accept_op)
            on_accept(self, s, (berth_cqe_msg_t *)msg);
        break;
    case BERTH_MSG_NRISRV_SYNC_REQ:
        on_registered(s, (registered_msg_t *)msg);
        if (s->restoring > 0) {
            s->held = berth_realloc(s->held, (s->nheld + 1) * sizeof(*s->held));
            s->held[s->nheld++] = ((registered_msg_t *)msg)->conn;
        } else {
            send_sync(s, ((registered_msg_t *)msg)->conn);
        }
        break;
    case BERTH_MSG_NRISRV_RESTORED:
        if (s->restoring > 0 && --s->restoring == 0) {
            berth_log_info("NRI: restored pods and containers known", "pods=%zu containers=%zu",
                           s->npods, s->nctrs);
            for (size_t i = 0; i < s->nheld; i++)
                send_sync(s, s->held[i]);
            s->nheld = 0;
        }
        break;
    case BERTH_MSG_NRISRV_ADOPT: {
        adopt_msg_t *a = (adopt_msg_t *)msg;
        if (!s->stopping) {
            spawn_conn(s, a->fd, berth_steal_ptr(&a->config));
            a->fd = -1;
        }
        break;
    }
    case BERTH_MSG_PROC_EXIT: {
        berth_proc_exit_msg_t *x = (berth_proc_exit_msg_t *)msg;
        if (!s->stopping)
            berth_log_warn("NRI pre-installed plugin exited", "pid=%d status=%d", (int)x->pid,
                           x->status);
        break;
    }
    case BERTH_MSG_NRISRV_TRACK: {
        track_msg_t *t = (track_msg_t *)msg;
        on_track(s, t->event, t->payload, t->len);
        break;
    }
    case BERTH_MSG_NRISRV_HOOK:
        on_hook(s, (berth_nrisrv_hook_t *)msg);
        msg = NULL;
        break;
    case BERTH_MSG_NRISRV_GONE: {
        plugin_ent_t *e = find_ent(s, ((gone_msg_t *)msg)->conn);
        if (e) {
            /* keep the order: registered plugins stay sorted */
            memmove(e, e + 1, (size_t)(s->plugins + s->n - (e + 1)) * sizeof(*e));
            s->n--;
        }
        break;
    }
    case BERTH_MSG_NRISRV_STOP:
        if (!s->stopping) {
            s->stopping = true;
            if (s->accept_busy)
                berth_ring_cancel(self, &s->accept_op);
            if (s->fd >= 0)
                berth_unlink_own(s->path, s->dev, s->ino);
            for (size_t i = 0; i < s->nprocs; i++)
                berth_proc_kill(s->procs[i], SIGTERM);
            for (size_t i = 0; i < s->n; i++)
                berth_send(s->plugins[i].conn,
                           berth_msg_new(BERTH_MSG_NRISRV_STOP, sizeof(berth_msg_t)));
        }
        break;
    default:
        break;
    }
    berth_msg_free(msg);
    if (!s->stopping || s->exited || s->accept_busy || s->n > 0)
        return;
    s->exited = true;
    berth_actor_exit(self);
}

static void server_fini(void *state)
{
    server_t *s = state;
    if (s->fd >= 0)
        close(s->fd);
    settings_fini(&s->set);
    berth_free(s->path);
    berth_free(s->plugins);
    for (size_t i = 0; i < s->npods; i++) {
        berth_free(s->pods[i].id);
        berth_free(s->pods[i].pod_id);
        berth_free(s->pods[i].bytes);
    }
    for (size_t i = 0; i < s->nctrs; i++) {
        berth_free(s->ctrs[i].id);
        berth_free(s->ctrs[i].pod_id);
        berth_free(s->ctrs[i].bytes);
    }
    berth_free(s->pods);
    berth_free(s->ctrs);
    berth_free(s->procs);
    berth_free(s->held);
    berth_free(s);
}

static const berth_actor_class_t server_class = {
        .name = "nri-server", .receive = server_receive, .fini = server_fini};

/* A pre-installed plugin's configuration: <index>-<name>.conf, else
 * <name>.conf, else none (""). Main thread. */
static char *plugin_config(const char *dir, const char *base, const char *name)
{
    const char *cands[] = {base, name};
    for (int i = 0; dir && dir[0] && i < 2; i++) {
        BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s.conf", dir, cands[i]);
        FILE *f = fopen(path, "re");
        if (f == NULL)
            continue;
        berth_bytebuf_t b = {0};
        size_t n;
        do {
            uint8_t *p = berth_bytebuf_reserve(&b, 4096);
            n = fread(p, 1, 4096, f);
            b.len += n;
        } while (n > 0 && b.len < (1u << 20));
        fclose(f);
        berth_bytebuf_put_u8(&b, 0);
        return (char *)b.data;
    }
    return berth_strdup("");
}

/* Starts every <index>-<name> executable in dir with one end of a socket
 * pair as fd 3 (NRI's own way), and hands the other end to the server. */
static void launch_plugins(server_t *s, berth_handle_t srv, const berth_nrisrv_config_t *cfg)
{
    DIR *d = opendir(cfg->plugin_dir);
    if (d == NULL) {
        if (errno != ENOENT)
            berth_log_warn("NRI: cannot read the plugin directory", "dir=%s errno=%d",
                           cfg->plugin_dir, errno);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *base = de->d_name;
        if (!valid_idx_prefix(base))
            continue;
        BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", cfg->plugin_dir, base);
        if (access(path, X_OK) != 0)
            continue;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            berth_log_warn("NRI: socketpair failed", "plugin=%s errno=%d", base, errno);
            continue;
        }
        char idx[3] = {base[0], base[1], '\0'};
        BERTH_AUTO_FREE char *env_name = berth_asprintf("NRI_PLUGIN_NAME=%s", base + 3);
        BERTH_AUTO_FREE char *env_idx = berth_asprintf("NRI_PLUGIN_IDX=%s", idx);
        char *envp[] = {env_name, env_idx, (char *)"NRI_PLUGIN_SOCKET=3", NULL};
        char *argv[] = {path, NULL};
        berth_proc_fd_t fds[] = {{sv[1], 3}};
        berth_proc_spec_t spec = {.path = path,
                                  .argv = argv,
                                  .envp = envp,
                                  .fds = fds,
                                  .nfds = 1,
                                  .new_session = true};
        berth_handle_t proc;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        int r = berth_proc_run(srv, &spec, 0, &proc, NULL, &err);
        close(sv[1]);
        if (r < 0) {
            berth_log_warn("NRI: cannot start a pre-installed plugin", "plugin=%s error=\"%s\"",
                           base, err->msg);
            close(sv[0]);
            continue;
        }
        s->procs = berth_realloc(s->procs, (s->nprocs + 1) * sizeof(*s->procs));
        s->procs[s->nprocs++] = proc;
        adopt_msg_t *a = berth_msg_new(BERTH_MSG_NRISRV_ADOPT, sizeof(*a));
        a->hdr.free = adopt_free;
        a->fd = sv[0];
        a->config = plugin_config(cfg->plugin_config_dir, base, base + 3);
        berth_send(srv, &a->hdr);
        berth_log_info("NRI pre-installed plugin started", "plugin=%s", base);
    }
    closedir(d);
}

int berth_nrisrv_start(const berth_nrisrv_config_t *cfg, berth_handle_t *out, berth_err_t *err)
{
    int fd = -1;
    dev_t dev = 0;
    ino_t ino = 0;
    if (cfg->socket_path) {
        BERTH_AUTO_FREE char *dir = berth_strdup(cfg->socket_path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (berth_fs_mkdir_p(dir, 0755, err) < 0)
                return berth_err_prefix(err, "NRI socket %s", cfg->socket_path);
        }
        fd = berth_listen_unix(cfg->socket_path, 0600, 64, &dev, &ino, err);
        if (fd < 0)
            return berth_err_prefix(err, "crio.nri.nri_listen");
    }
    server_t *s = berth_calloc(1, sizeof(*s));
    s->fd = fd;
    s->path = berth_strdup(cfg->socket_path ? cfg->socket_path : "");
    s->dev = dev;
    s->ino = ino;
    s->set = (settings_t){.reg_ns = cfg->registration_timeout_ns,
                          .req_ns = cfg->request_timeout_ns,
                          .runtime_name = berth_strdup(cfg->runtime_name),
                          .runtime_version = berth_strdup(cfg->runtime_version),
                          .updates = cfg->updates,
                          .sync_max = cfg->sync_max};
    /* reserved first: the plugins' exits and sockets are addressed to it
     * before it runs, and procs is filled before it can read it; with a
     * restore, the daemon reserved it before the managers started */
    uint64_t r = __atomic_load_n(&reserved_server, __ATOMIC_ACQUIRE);
    *out = r ? (berth_handle_t){r} : berth_actor_reserve();
    s->restoring = r ? 2 : 0;
    s->me = *out;
    if (cfg->plugin_dir && cfg->plugin_dir[0])
        launch_plugins(s, *out, cfg);
    berth_actor_start(*out, &server_class, s);
    berth_send(*out, berth_msg_new(BERTH_MSG_NRISRV_START, sizeof(berth_msg_t)));
    __atomic_store_n(&current_server, out->v, __ATOMIC_RELEASE);
    return 0;
}

void berth_nrisrv_stop(berth_handle_t srv)
{
    /* new hooks answer at once from now on (the release pairs with the
     * hook senders' acquire loads, as at the start) */
    uint64_t v = srv.v;
    __atomic_compare_exchange_n(&current_server, &v, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    berth_send(srv, berth_msg_new(BERTH_MSG_NRISRV_STOP, sizeof(berth_msg_t)));
}
