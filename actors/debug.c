/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The debug endpoint (actors/debug.h): its routes and the producers behind
 * them. Handlers run in the HTTP connection actor's turn and never block:
 * the heap report and the configuration are built inline (memory only, well
 * under a millisecond); the actor dump (which grows with the actors), a
 * profile and the CRI views go to the blocking pool and complete their
 * reply from there.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/debug.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/blocking.h"
#include "io/grpc.h"
#include "io/grpc_client.h"
#include "io/pprof.h"
#include "actors/cri.h"
#include "proto/cri.h"

/* ---- producers ------------------------------------------------------------ */

struct actor_row {
    uint64_t handle, depth, handled;
    const char *kind; /* class names are static strings */
    char *label;      /* owned */
    const char *state;
    int worker;
};

struct actor_rows {
    struct actor_row *v;
    size_t n, cap;
};

static void collect_actor(void *ctx, const berth_actor_info_t *info)
{
    struct actor_rows *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->v = berth_realloc(r->v, r->cap * sizeof(*r->v));
    }
    r->v[r->n++] = (struct actor_row){
            info->handle, info->depth, info->handled, info->kind, berth_strdup(info->label),
            info->state,  info->worker};
}

static int row_cmp(const void *a, const void *b)
{
    const struct actor_row *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    if (c == 0)
        c = strcmp(x->label, y->label);
    return c != 0 ? c : (x->handle > y->handle) - (x->handle < y->handle);
}

static void put_json(berth_bytebuf_t *out, json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    berth_bytebuf_put(out, s, strlen(s));
    berth_bytebuf_put_u8(out, '\n');
    berth_free(s);
    json_decref(o);
}

/* s as a JSON string (quotes, escapes). */
static void put_jstr(berth_bytebuf_t *out, const char *s)
{
    berth_bytebuf_put_u8(out, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            berth_bytebuf_put_u8(out, '\\');
            berth_bytebuf_put_u8(out, c);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            berth_bytebuf_put(out, esc, 6);
        } else {
            berth_bytebuf_put_u8(out, c);
        }
    }
    berth_bytebuf_put_u8(out, '"');
}

static void put_fmt(berth_bytebuf_t *out, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void put_fmt(berth_bytebuf_t *out, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        berth_bytebuf_put(out, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void berth_debug_actors_json(berth_bytebuf_t *out)
{
    /* Written by hand, one actor a line: jansson's tree for 10,000 actors
     * cost 80 ms, this under 10 ms (perf/debug_bench). */
    struct actor_rows rows = {0};
    berth_engine_foreach_actor_info(collect_actor, &rows);
    qsort(rows.v, rows.n, sizeof(*rows.v), row_cmp);
    berth_engine_stats_t es;
    berth_engine_get_stats(&es);
    put_fmt(out,
            "{\"live\": %zu, \"engine\": {\"workers\": %u, \"turns\": %" PRIu64
            ", \"messages\": %" PRIu64 ", \"steals\": %" PRIu64 ", \"cqes\": %" PRIu64
            "},\n \"actors\": [",
            rows.n, berth_engine_workers(), es.turns, es.messages, es.steals, es.cqes);
    for (size_t i = 0; i < rows.n; i++) {
        struct actor_row *r = &rows.v[i];
        /* the handle as slot.generation, as logs print it */
        put_fmt(out, "%s\n  {\"handle\": \"%" PRIu32 ".%" PRIu32 "\", \"kind\": ", i ? "," : "",
                (uint32_t)r->handle, (uint32_t)(r->handle >> 32));
        put_jstr(out, r->kind);
        berth_bytebuf_put(out, ", \"label\": ", 11);
        put_jstr(out, r->label);
        put_fmt(out, ", \"state\": \"%s\", \"depth\": %" PRIu64 ", \"handled\": %" PRIu64, r->state,
                r->depth, r->handled);
        if (r->worker >= 0)
            put_fmt(out, ", \"worker\": %d", r->worker);
        berth_bytebuf_put_u8(out, '}');
        berth_free(r->label);
    }
    berth_free(rows.v);
    berth_bytebuf_put(out, "\n ]}\n", 5);
}

static void put_text(const char *text, void *arg)
{
    berth_bytebuf_put(arg, text, strlen(text));
}

void berth_debug_heap_text(berth_bytebuf_t *out)
{
    berth_alloc_stats_print(put_text, out);
}

void berth_debug_config_toml(const berth_config_t *cfg, berth_bytebuf_t *out)
{
    char *s = NULL;
    size_t len = 0;
    /* open_memstream's buffer is libc's (freed with free) */
    FILE *f = open_memstream(&s, &len);
    if (f == NULL) {
        put_text("# cannot print the configuration: out of memory\n", out);
        return;
    }
    berth_config_print(cfg, f);
    fclose(f);
    berth_bytebuf_put(out, s, len);
    free(s);
}

/* One unary CRI call on berthd's own socket; the answer unpacked (free with
 * berth_cri_free), or NULL with *err. */
static ProtobufCMessage *cri_call(berth_grpc_client_t *cl, const char *method,
                                  const ProtobufCMessage *req,
                                  const ProtobufCMessageDescriptor *resp_desc, berth_err_t *err)
{
    size_t len = protobuf_c_message_get_packed_size(req);
    BERTH_AUTO_FREE uint8_t *buf = berth_malloc(len ? len : 1);
    protobuf_c_message_pack(req, buf);
    BERTH_AUTO_FREE uint8_t *resp = NULL;
    BERTH_AUTO_FREE char *msg = NULL;
    size_t rlen = 0;
    int status = 0;
    if (berth_grpc_client_call(cl, method, buf, len, 30000000000ull, &resp, &rlen, &status, &msg,
                               err) < 0)
        return NULL;
    if (status != BERTH_GRPC_OK)
        return berth_err_make(err, EIO, BERTH_ERR_UNAVAILABLE, "%s: %s: %s", method,
                              berth_grpc_code_name(status), msg ? msg : ""),
               NULL;
    ProtobufCMessage *m = protobuf_c_message_unpack(resp_desc, berth_alloc_protobuf_allocator(),
                                                    rlen, resp ? resp : (uint8_t *)"");
    if (m == NULL)
        berth_err_make(err, EPROTO, BERTH_ERR_INTERNAL, "%s: the answer does not unpack", method);
    return m;
}

static berth_grpc_client_t *connect_cri(const char *listen, berth_err_t *err)
{
    berth_grpc_client_t *cl = berth_grpc_client_new(listen, err);
    if (cl == NULL) {
        berth_err_prefix(err, "connect to berthd's CRI socket %s", listen);
        (*err)->kind = BERTH_ERR_UNAVAILABLE; /* answered 503: berthd may be starting */
    }
    return cl;
}

int berth_debug_info_json(const char *listen, berth_bytebuf_t *out, berth_err_t *err)
{
    berth_grpc_client_t *cl = connect_cri(listen, err);
    if (cl == NULL)
        return -1;
    Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
    req.verbose = true;
    Runtime__V1__StatusResponse *r = (Runtime__V1__StatusResponse *)cri_call(
            cl, "/runtime.v1.RuntimeService/Status", &req.base,
            &runtime__v1__status_response__descriptor, err);
    berth_grpc_client_free(cl);
    if (r == NULL)
        return -1;
    json_t *conds = json_array();
    for (size_t i = 0; r->status != NULL && i < r->status->n_conditions; i++) {
        Runtime__V1__RuntimeCondition *c = r->status->conditions[i];
        json_array_append_new(conds,
                              json_pack("{s:s, s:b, s:s, s:s}", "type", c->type, "status",
                                        c->status, "reason", c->reason, "message", c->message));
    }
    json_t *info = json_object();
    for (size_t i = 0; i < r->n_info; i++) {
        /* each value is a JSON document; keep it as JSON, or as a string */
        json_t *v = json_loads(r->info[i]->value, JSON_DECODE_ANY, NULL);
        json_object_set_new(info, r->info[i]->key, v ? v : json_string(r->info[i]->value));
    }
    json_t *handlers = json_array();
    for (size_t i = 0; i < r->n_runtime_handlers; i++)
        json_array_append_new(handlers, json_string(r->runtime_handlers[i]->name));
    put_json(out, json_pack("{s:o, s:o, s:o}", "conditions", conds, "runtime_handlers", handlers,
                            "info", info));
    berth_cri_free(&r->base);
    return 0;
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
    return e ? e->name : "UNKNOWN";
}

int berth_debug_containers_json(const char *listen, berth_bytebuf_t *out, berth_err_t *err)
{
    berth_grpc_client_t *cl = connect_cri(listen, err);
    if (cl == NULL)
        return -1;
    Runtime__V1__ListPodSandboxRequest preq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__ListPodSandboxResponse *pr = (Runtime__V1__ListPodSandboxResponse *)cri_call(
            cl, "/runtime.v1.RuntimeService/ListPodSandbox", &preq.base,
            &runtime__v1__list_pod_sandbox_response__descriptor, err);
    Runtime__V1__ListContainersRequest creq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
    Runtime__V1__ListContainersResponse *cr =
            pr == NULL ? NULL
                       : (Runtime__V1__ListContainersResponse *)cri_call(
                                 cl, "/runtime.v1.RuntimeService/ListContainers", &creq.base,
                                 &runtime__v1__list_containers_response__descriptor, err);
    berth_grpc_client_free(cl);
    if (cr == NULL) {
        berth_cri_free(pr ? &pr->base : NULL);
        return -1;
    }
    json_t *pods = json_array();
    for (size_t i = 0; i < pr->n_items; i++) {
        Runtime__V1__PodSandbox *p = pr->items[i];
        Runtime__V1__PodSandboxMetadata *md = p->metadata;
        json_array_append_new(
                pods, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "id", p->id, "name",
                                md ? md->name : "", "namespace", md ? md->namespace_ : "", "state",
                                enum_name(&runtime__v1__pod_sandbox_state__descriptor, p->state),
                                "created_at", (json_int_t)p->created_at, "runtime_handler",
                                p->runtime_handler ? p->runtime_handler : ""));
    }
    json_t *ctrs = json_array();
    for (size_t i = 0; i < cr->n_containers; i++) {
        Runtime__V1__Container *c = cr->containers[i];
        json_array_append_new(
                ctrs, json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:I}", "id", c->id, "pod_id",
                                c->pod_sandbox_id, "name", c->metadata ? c->metadata->name : "",
                                "attempt", c->metadata ? (int)c->metadata->attempt : 0, "image",
                                c->image && c->image->image ? c->image->image : "", "state",
                                enum_name(&runtime__v1__container_state__descriptor, c->state),
                                "created_at", (json_int_t)c->created_at));
    }
    put_json(out, json_pack("{s:o, s:o}", "pods", pods, "containers", ctrs));
    berth_cri_free(&pr->base);
    berth_cri_free(&cr->base);
    return 0;
}

/* ---- routes ------------------------------------------------------------------ */

static void reply_buf(berth_httpsrv_reply_t *reply, const char *type, berth_bytebuf_t *b)
{
    berth_httpsrv_reply_take(reply, 200, type, b);
    berth_bytebuf_free(b);
}

static void reply_err(berth_httpsrv_reply_t *reply, berth_err_t e)
{
    int status = e->kind == BERTH_ERR_INVALID        ? 400
                 : e->kind == BERTH_ERR_PRECONDITION ? 503
                 : e->kind == BERTH_ERR_UNAVAILABLE  ? 503
                                                     : 500;
    BERTH_AUTO_FREE char *text = berth_asprintf("%s\n", e->msg);
    berth_httpsrv_reply(reply, status, NULL, text, strlen(text));
}

static void on_heap(const berth_http_req_t *req, berth_httpsrv_reply_t *reply, void *arg)
{
    berth_bytebuf_t b = {0};
    berth_debug_heap_text(&b);
    reply_buf(reply, NULL, &b);
}

static void on_config(const berth_http_req_t *req, berth_httpsrv_reply_t *reply, void *arg)
{
    berth_bytebuf_t b = {0};
    berth_debug_config_toml(arg, &b);
    reply_buf(reply, "application/toml", &b);
}

enum job_kind { JOB_ACTORS, JOB_PROFILE, JOB_INFO, JOB_CONTAINERS };

struct job {
    enum job_kind kind;
    berth_httpsrv_reply_t *reply;
    const berth_config_t *cfg; /* the endpoint's reference */
    unsigned seconds, hz;
};

static void run_job(void *arg)
{
    struct job *j = arg;
    berth_bytebuf_t b = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    int rc;
    const char *type = "application/json";
    switch (j->kind) {
    case JOB_ACTORS:
        berth_debug_actors_json(&b);
        rc = 0;
        break;
    case JOB_PROFILE:
        rc = berth_pprof_collect(j->seconds, j->hz, &b, &err);
        type = "application/octet-stream";
        if (rc == 0)
            berth_httpsrv_reply_header(j->reply, "Content-Disposition",
                                       "attachment; filename=\"profile\"");
        break;
    case JOB_INFO:
        rc = berth_debug_info_json(j->cfg->listen, &b, &err);
        break;
    default:
        rc = berth_debug_containers_json(j->cfg->listen, &b, &err);
        break;
    }
    if (rc < 0) {
        berth_bytebuf_free(&b);
        reply_err(j->reply, err);
    } else {
        reply_buf(j->reply, type, &b);
    }
    berth_free(j);
}

/* An unsigned query parameter within [lo, hi]; dflt when absent. */
static int param_uint(const berth_http_req_t *req, const char *key, unsigned dflt, unsigned lo,
                      unsigned hi, unsigned *out, berth_err_t *err)
{
    const char *v = berth_http_req_param(req, key);
    if (v == NULL || *v == '\0') {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (*end != '\0' || errno != 0 || n < lo || n > hi || v[0] == '-')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "%s=%s: expected an integer from %u to %u", key, v, lo, hi);
    *out = (unsigned)n;
    return 0;
}

static void on_profile(const berth_http_req_t *req, berth_httpsrv_reply_t *reply, void *arg)
{
    struct job *j = berth_calloc(1, sizeof(*j));
    *j = (struct job){.kind = JOB_PROFILE, .reply = reply, .cfg = arg};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (param_uint(req, "seconds", 30, 1, BERTH_PPROF_MAX_SECONDS, &j->seconds, &err) < 0 ||
        param_uint(req, "hz", BERTH_PPROF_DEFAULT_HZ, 1, 1000, &j->hz, &err) < 0) {
        berth_free(j);
        reply_err(reply, err);
        return;
    }
    berth_blocking_run(run_job, j, BERTH_HANDLE_NONE, NULL);
}

/* The dump walks every actor (about 1 µs each, 6 to 10 ms at 10,000;
 * perf/debug_bench): on the pool, so no worker is held while it is written. */
static void on_actors(const berth_http_req_t *req, berth_httpsrv_reply_t *reply, void *arg)
{
    struct job *j = berth_calloc(1, sizeof(*j));
    *j = (struct job){.kind = JOB_ACTORS, .reply = reply, .cfg = arg};
    berth_blocking_run(run_job, j, BERTH_HANDLE_NONE, NULL);
}

static void on_info(const berth_http_req_t *req, berth_httpsrv_reply_t *reply, void *arg)
{
    struct job *j = berth_calloc(1, sizeof(*j));
    *j = (struct job){.kind = JOB_INFO, .reply = reply, .cfg = arg};
    berth_blocking_run(run_job, j, BERTH_HANDLE_NONE, NULL);
}

static void on_containers(const berth_http_req_t *req, berth_httpsrv_reply_t *reply, void *arg)
{
    struct job *j = berth_calloc(1, sizeof(*j));
    *j = (struct job){.kind = JOB_CONTAINERS, .reply = reply, .cfg = arg};
    berth_blocking_run(run_job, j, BERTH_HANDLE_NONE, NULL);
}

int berth_debug_start(berth_config_t *cfg, berth_httpsrv_t *srv, berth_err_t *err)
{
    /* The routes borrow cfg: the daemon holds it until the engine and the
     * blocking pool (where the jobs run) have stopped. */
    berth_config_t *ref = cfg;
    const berth_httpsrv_route_t routes[] = {
            {"/debug/actors", on_actors, NULL},
            {"/debug/heap", on_heap, NULL},
            {"/debug/pprof/profile", on_profile, ref},
            {"/config", on_config, ref},
            {"/info", on_info, ref},
            {"/containers", on_containers, ref},
    };
    berth_httpsrv_config_t hc = {
            .name = "debug",
            .port = -1,
            .socket_path = cfg->debug_socket,
            .socket_mode = 0600,
            .routes = routes,
            .nroutes = BERTH_ARRAY_LEN(routes),
            .max_connections = 16,
    };
    if (berth_httpsrv_start(&hc, srv, err) < 0)
        return berth_err_prefix(err, "cannot serve the debug endpoint on %s", cfg->debug_socket);
    return 0;
}
