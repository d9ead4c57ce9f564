// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI service actor. It owns the method table's handlers: it decodes each
 * request with protobuf-c on berth's allocator, answers the runtime
 * information methods (Version, Status, RuntimeConfig, UpdateRuntimeConfig)
 * from its own state, and answers UNIMPLEMENTED, naming the method, for the
 * rest until their actors exist. It must never block and never trust the
 * request bytes: a request that does not decode is INVALID_ARGUMENT and the
 * daemon keeps serving.
 */
#include "actors/cri.h"

#include <errno.h>
#include <assert.h>
#include <ck_pr.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "actors/cadvisor.h"
#include "actors/metrics.h"
#include "actors/msgtypes.h"
#include "actors/netstatus.h"
#include "actors/runtimes.h"
#include "engine/alloc.h"
#include "engine/hist.h"
#include "engine/err.h"
#include "engine/log.h"
#include "io/bytebuf.h"
#include "io/criu.h"
#include "io/grpc.h"
#include "io/lsm.h"
#include "io/rromount.h"
#include "io/userns.h"
#include "io/stream.h"
#include "proto/cri.h"

/* The CRI version berth speaks, as the kubelet expects it in VersionResponse. */
#define CRI_KUBELET_API_VERSION "0.1.0"
#define CRI_API_VERSION "v1"

typedef struct cri {
    char *runtime_version;
    char **handlers; /* NULL-terminated, owned */
    char *default_handler;
    /* Network readiness as last published by the netstatus actor. */
    bool net_ready;
    char *net_reason;
    char *net_message;
    berth_handle_t pods;
    berth_handle_t images;
    berth_handle_t containers;
    berth_handle_t events;
    /* Set by UpdateRuntimeConfig; reported in verbose Status. */
    char *pod_cidr;
    uint64_t requests;
} cri_t;

typedef void (*cri_handler_fn)(cri_t *c, berth_grpc_call_t *call, const berth_cri_method_t *m,
                               ProtobufCMessage *req);

uint8_t *berth_cri_pack(const ProtobufCMessage *resp, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(resp);
    uint8_t *buf = berth_malloc(*len ? *len : 1);
    protobuf_c_message_pack(resp, buf);
    return buf;
}

void berth_cri_reply(berth_grpc_call_t *call, const ProtobufCMessage *resp)
{
    size_t len;
    BERTH_AUTO_FREE uint8_t *buf = berth_cri_pack(resp, &len);
    berth_grpc_reply(call, buf, len);
}

void berth_cri_answer_stream(berth_cri_req_msg_t *rm, berth_stream_req_t *q,
                             const ProtobufCMessageDescriptor *resp_desc)
{
    berth_err_t err = NULL;
    BERTH_AUTO_FREE char *url = berth_stream_register(q, &err);
    if (url == NULL) {
        berth_cri_finish_err(rm->call, err);
        berth_err_free(&err);
    } else {
        size_t len;
        BERTH_AUTO_FREE uint8_t *buf = berth_cri_pack_string(resp_desc, url, &len);
        berth_grpc_reply(rm->call, buf, len);
    }
    berth_msg_free(&rm->hdr);
}

void berth_cri_reply_items(berth_grpc_call_t *call, bool stream, ProtobufCMessage *list_resp,
                           ProtobufCMessage *stream_resp, void **items, size_t n)
{
    ProtobufCMessage *resp = stream ? stream_resp : list_resp;
    const ProtobufCFieldDescriptor *f = &resp->descriptor->fields[0];
    assert(resp->descriptor->n_fields == 1 && f->label == PROTOBUF_C_LABEL_REPEATED &&
           f->type == PROTOBUF_C_TYPE_MESSAGE);
    size_t *count = (size_t *)((char *)resp + f->quantifier_offset);
    void ***field = (void ***)((char *)resp + f->offset);
    if (!stream) {
        *count = n;
        *field = items;
        berth_cri_reply(call, resp);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        *count = 1;
        *field = &items[i];
        size_t len;
        BERTH_AUTO_FREE uint8_t *buf = berth_cri_pack(resp, &len);
        berth_grpc_send(call, buf, len);
    }
    *count = 0;
    *field = NULL;
    berth_grpc_finish(call, BERTH_GRPC_OK, NULL);
}

/* The key of resp's only field, a message field: its number, wire type 2
 * (length-delimited). */
static uint32_t item_key(const ProtobufCMessageDescriptor *resp)
{
    const ProtobufCFieldDescriptor *f = &resp->fields[0];
    assert(resp->n_fields == 1 && f->type == PROTOBUF_C_TYPE_MESSAGE);
    return f->id << 3 | 2;
}

uint8_t *berth_cri_pack_items(const ProtobufCMessageDescriptor *resp,
                              const berth_cri_packed_t *items, size_t n, size_t *len)
{
    uint32_t key = item_key(resp);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += berth_varint_len(key) + berth_varint_len(items[i].len) + items[i].len;
    uint8_t *buf = berth_malloc(total ? total : 1);
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) {
        p = berth_varint_put(p, key);
        p = berth_varint_put(p, items[i].len);
        if (items[i].len)
            memcpy(p, items[i].data, items[i].len);
        p += items[i].len;
    }
    *len = total;
    return buf;
}

void berth_cri_reply_packed(berth_grpc_call_t *call, bool stream,
                            const ProtobufCMessageDescriptor *list_resp,
                            const ProtobufCMessageDescriptor *stream_resp,
                            const berth_cri_packed_t *items, size_t n)
{
    size_t len;
    if (!stream) {
        uint8_t *buf = berth_cri_pack_items(list_resp, items, n, &len);
        berth_grpc_reply_take(call, buf, len);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        BERTH_AUTO_FREE uint8_t *buf = berth_cri_pack_items(stream_resp, &items[i], 1, &len);
        berth_grpc_send(call, buf, len);
    }
    berth_grpc_finish(call, BERTH_GRPC_OK, NULL);
}

static void reply_msg(berth_grpc_call_t *call, const ProtobufCMessage *resp)
{
    berth_cri_reply(call, resp);
}

static void cri_req_msg_free(berth_msg_t *m)
{
    berth_cri_req_msg_t *rm = (berth_cri_req_msg_t *)m;
    if (rm->call)
        berth_grpc_call_unref(rm->call);
    if (rm->req)
        protobuf_c_message_free_unpacked(rm->req,
                                         (ProtobufCAllocator *)berth_alloc_protobuf_allocator());
    berth_free(rm);
}

void berth_cri_fail(berth_cri_req_msg_t *rm, int kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    BERTH_AUTO_FREE char *msg = berth_vasprintf(fmt, ap);
    va_end(ap);
    berth_cri_finish(rm->call, kind, msg);
    berth_msg_free(&rm->hdr);
}

ProtobufCMessage *berth_cri_copy(const ProtobufCMessage *msg)
{
    size_t len;
    BERTH_AUTO_FREE uint8_t *buf = berth_cri_pack(msg, &len);
    return protobuf_c_message_unpack(
            msg->descriptor, (ProtobufCAllocator *)berth_alloc_protobuf_allocator(), len, buf);
}

char *berth_cri_to_hex(const ProtobufCMessage *msg)
{
    size_t len;
    BERTH_AUTO_FREE uint8_t *buf = berth_cri_pack(msg, &len);
    char *hex = berth_malloc(2 * len + 1);
    for (size_t i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", buf[i]);
    hex[2 * len] = '\0';
    return hex;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ProtobufCMessage *berth_cri_from_hex(const ProtobufCMessageDescriptor *desc, const char *hex)
{
    size_t hlen = hex ? strlen(hex) : 0;
    if (hlen % 2)
        return NULL;
    BERTH_AUTO_FREE uint8_t *buf = berth_malloc(hlen / 2 + 1);
    for (size_t i = 0; i < hlen; i += 2) {
        int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return NULL;
        buf[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return protobuf_c_message_unpack(desc, (ProtobufCAllocator *)berth_alloc_protobuf_allocator(),
                                     hlen / 2, buf);
}

static char **field_ptr(ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    return (char **)((char *)m + f->offset);
}

void *berth_cri_map(const ProtobufCMessageDescriptor *entry, size_t n, char *const *keys,
                    char *const *values)
{
    /* n pointers, then n entries, in one block */
    size_t ptrs = (n + 1) * sizeof(void *);
    ptrs = (ptrs + 15) & ~(size_t)15;
    char *block = berth_calloc(1, ptrs + n * entry->sizeof_message + 1);
    ProtobufCMessage **v = (ProtobufCMessage **)block;
    for (size_t i = 0; i < n; i++) {
        ProtobufCMessage *m = (ProtobufCMessage *)(block + ptrs + i * entry->sizeof_message);
        protobuf_c_message_init(entry, m);
        *field_ptr(m, "key") = keys[i];
        *field_ptr(m, "value") = values[i];
        v[i] = m;
    }
    return block;
}

void *berth_cri_map_copy(const ProtobufCMessageDescriptor *entry, size_t n,
                         ProtobufCMessage *const *src)
{
    BERTH_AUTO_FREE char **kv = berth_calloc(2 * n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        kv[i] = *field_ptr(src[i], "key");
        kv[n + i] = *field_ptr(src[i], "value");
    }
    return berth_cri_map(entry, n, kv, kv + n);
}

void berth_cri_map_entry(const ProtobufCMessage *entry, const char **key, const char **value)
{
    *key = *field_ptr((ProtobufCMessage *)entry, "key");
    *value = *field_ptr((ProtobufCMessage *)entry, "value");
}

int berth_cri_check_map(const char *what, size_t n, ProtobufCMessage *const *entries,
                        berth_err_t *err)
{
    if (n > BERTH_CRI_MAX_MAP_ENTRIES)
        return berth_err_make(err, E2BIG, BERTH_ERR_INVALID,
                              "%s: %zu entries, more than the %u allowed", what, n,
                              BERTH_CRI_MAX_MAP_ENTRIES);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = *field_ptr(entries[i], "key");
        const char *v = *field_ptr(entries[i], "value");
        if (k == NULL || k[0] == '\0')
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s: entry %zu has an empty key",
                                  what, i);
        bytes += strlen(k) + (v ? strlen(v) : 0);
    }
    if (bytes > BERTH_CRI_MAX_MAP_BYTES)
        return berth_err_make(err, E2BIG, BERTH_ERR_INVALID,
                              "%s: %zu bytes of keys and values, more than the %u allowed", what,
                              bytes, BERTH_CRI_MAX_MAP_BYTES);
    return 0;
}

int berth_cri_check_len(const char *what, const char *value, size_t max, berth_err_t *err)
{
    size_t n = value ? strlen(value) : 0;
    if (n > max)
        return berth_err_make(err, E2BIG, BERTH_ERR_INVALID,
                              "%s is %zu characters long, more than the %zu allowed (\"%.40s...\")",
                              what, n, max, value);
    return 0;
}

berth_cri_req_msg_t *berth_cri_req_new(const char *path, const ProtobufCMessage *req)
{
    const berth_cri_method_t *m = berth_cri_method_lookup(path);
    if (m == NULL)
        return NULL;
    size_t len;
    BERTH_AUTO_FREE uint8_t *buf = berth_cri_pack(req, &len);
    berth_cri_req_msg_t *rm = berth_msg_new(BERTH_MSG_CRI_REQUEST, sizeof(*rm));
    rm->hdr.free = cri_req_msg_free;
    rm->method = m;
    rm->req = protobuf_c_message_unpack(
            m->input, (ProtobufCAllocator *)berth_alloc_protobuf_allocator(), len, buf);
    return rm;
}

static void on_version(cri_t *c, berth_grpc_call_t *call, const berth_cri_method_t *m,
                       ProtobufCMessage *req)
{
    Runtime__V1__VersionResponse resp = RUNTIME__V1__VERSION_RESPONSE__INIT;
    resp.version = (char *)CRI_KUBELET_API_VERSION;
    resp.runtime_name = (char *)"berth";
    resp.runtime_version = c->runtime_version;
    resp.runtime_api_version = (char *)CRI_API_VERSION;
    reply_msg(call, &resp.base);
}

/* Builds the verbose `info` map's "config" entry: a small JSON document of
 * what a kubelet user may want to check (handlers, network state). */
static char *status_info_json(const cri_t *c)
{
    json_t *hs = json_array();
    for (size_t i = 0; c->handlers[i]; i++)
        json_array_append_new(hs, json_string(c->handlers[i]));
    json_t *doc = json_pack("{s:o, s:s, s:s, s:b, s:s}", "runtimeHandlers", hs, "defaultRuntime",
                            c->default_handler, "podCIDR", c->pod_cidr, "networkReady",
                            c->net_ready, "networkMessage", c->net_message);
    const berth_runtimes_t *rts = berth_runtimes_current();
    if (rts != NULL)
        json_object_set_new(doc, "runtimes", berth_runtimes_json(rts));
    /* what a pod's AppArmor fields do here (docs/security-contexts.md) */
    bool aa = berth_lsm_apparmor_enabled();
    json_object_set_new(
            doc, "apparmor",
            json_pack("{s:b, s:s}", "enabled", aa, "message",
                      aa ? "AppArmor runs on this node, but berth applies no profiles: "
                           "RuntimeDefault and Unconfined are accepted, a Localhost profile "
                           "is refused"
                         : "this node's kernel has no AppArmor: RuntimeDefault and Unconfined "
                           "are accepted (containers run unconfined), a Localhost profile is "
                           "refused"));
    /* Why a pod with hostUsers: false would be refused, before one is. */
    const char *why = NULL;
    bool userns = berth_userns_supported(&why);
    json_object_set_new(doc, "userNamespaces",
                        userns ? json_pack("{s:b}", "supported", 1)
                               : json_pack("{s:b, s:s}", "supported", 0, "reason", why));
    char *out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return out;
}

static void on_status(cri_t *c, berth_grpc_call_t *call, const berth_cri_method_t *m,
                      ProtobufCMessage *req)
{
    const Runtime__V1__StatusRequest *sreq = (const Runtime__V1__StatusRequest *)req;
    Runtime__V1__RuntimeCondition rt = RUNTIME__V1__RUNTIME_CONDITION__INIT;
    rt.type = (char *)"RuntimeReady";
    rt.status = 1;
    /* The kubelet needs the default handler; another one that cannot run
     * here gets its own condition, so pods that do not ask for it still run. */
    const berth_runtime_status_t *bad_default = berth_runtimes_unusable(c->default_handler);
    if (bad_default != NULL) {
        rt.status = 0;
        rt.reason = bad_default->reason;
        rt.message = bad_default->message;
    }
    BERTH_AUTO_FREE char *bad_msg = NULL;
    const berth_runtimes_t *rts = berth_runtimes_current();
    for (size_t i = 0; rts && i < rts->n; i++) {
        if (rts->v[i].usable)
            continue;
        char *m = berth_asprintf("%s%s%s", bad_msg ? bad_msg : "", bad_msg ? "; " : "",
                                 rts->v[i].message);
        berth_free(bad_msg);
        bad_msg = m;
    }
    Runtime__V1__RuntimeCondition hcond = RUNTIME__V1__RUNTIME_CONDITION__INIT;
    hcond.type = (char *)"RuntimeHandlersReady";
    hcond.status = 0;
    hcond.reason = (char *)"RuntimeHandlerUnusable";
    hcond.message = bad_msg;
    Runtime__V1__RuntimeCondition net = RUNTIME__V1__RUNTIME_CONDITION__INIT;
    net.type = (char *)"NetworkReady";
    net.status = c->net_ready;
    net.reason = c->net_reason;
    net.message = c->net_message;
    Runtime__V1__RuntimeCondition *conds[] = {&rt, &net, &hcond};
    Runtime__V1__RuntimeStatus st = RUNTIME__V1__RUNTIME_STATUS__INIT;
    st.n_conditions = bad_msg ? 3 : 2;
    st.conditions = conds;

    size_t nh = 0;
    BERTH_AUTO_FREE const char **names = berth_runtimes_status_names(c->handlers, &nh);
    BERTH_AUTO_FREE Runtime__V1__RuntimeHandler *hs =
            berth_calloc(nh, sizeof(Runtime__V1__RuntimeHandler));
    BERTH_AUTO_FREE Runtime__V1__RuntimeHandler **hp =
            berth_calloc(nh, sizeof(Runtime__V1__RuntimeHandler *));
    /* Recursive read-only mounts (io/rromount.h) and user namespaces'
     * idmapped mounts (io/userns.h) are berth's own, so every handler has
     * them where the kernel passed the probes. */
    Runtime__V1__RuntimeHandlerFeatures feats = RUNTIME__V1__RUNTIME_HANDLER_FEATURES__INIT;
    feats.recursive_read_only_mounts = berth_rro_supported();
    feats.user_namespaces = berth_userns_supported(NULL);
    for (size_t i = 0; i < nh; i++) {
        runtime__v1__runtime_handler__init(&hs[i]);
        hs[i].name = (char *)names[i];
        hs[i].features = &feats;
        hp[i] = &hs[i];
    }
    Runtime__V1__RuntimeFeatures rfeats = RUNTIME__V1__RUNTIME_FEATURES__INIT;
    /* Merge and Strict (io/ocispec.h), and ContainerStatus.user */
    rfeats.supplemental_groups_policy = true;
    /* A pod's user namespace on the node's network: the pod's IPC
     * namespace is still made inside it, and /sys is bound (io/ocispec). */
    rfeats.user_namespaces_host_network = feats.user_namespaces;

    Runtime__V1__StatusResponse resp = RUNTIME__V1__STATUS_RESPONSE__INIT;
    resp.status = &st;
    resp.n_runtime_handlers = nh;
    resp.runtime_handlers = hp;
    resp.features = &rfeats;

    /* json_dumps allocates through jansson's allocator, which main sets to berth's. */
    BERTH_AUTO_FREE char *info = NULL, *stages = NULL, *ckpt = NULL;
    Runtime__V1__StatusResponse__InfoEntry entry = RUNTIME__V1__STATUS_RESPONSE__INFO_ENTRY__INIT;
    Runtime__V1__StatusResponse__InfoEntry sentry = RUNTIME__V1__STATUS_RESPONSE__INFO_ENTRY__INIT;
    Runtime__V1__StatusResponse__InfoEntry centry = RUNTIME__V1__STATUS_RESPONSE__INFO_ENTRY__INIT;
    Runtime__V1__StatusResponse__InfoEntry *entries[] = {&entry, &sentry, &centry};
    if (sreq->verbose) {
        info = status_info_json(c);
        entry.key = (char *)"config";
        entry.value = info;
        /* The stage histograms since start (engine/hist.h): a client takes
         * one before and one after a run and subtracts (docs/perf.md). */
        json_t *h = berth_hist_json();
        stages = json_dumps(h, JSON_COMPACT);
        json_decref(h);
        sentry.key = (char *)"stages";
        sentry.value = stages;
        ckpt = berth_criu_status_json();
        centry.key = (char *)"checkpoint";
        centry.value = ckpt;
        resp.n_info = 3;
        resp.info = entries;
    }
    reply_msg(call, &resp.base);
}

static void on_runtime_config(cri_t *c, berth_grpc_call_t *call, const berth_cri_method_t *m,
                              ProtobufCMessage *req)
{
    Runtime__V1__LinuxRuntimeConfiguration lx = RUNTIME__V1__LINUX_RUNTIME_CONFIGURATION__INIT;
    /* Only the cgroupfs manager exists on nodes without systemd (berth's
     * target); the kubelet must match it. */
    lx.cgroup_driver = RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
    Runtime__V1__RuntimeConfigResponse resp = RUNTIME__V1__RUNTIME_CONFIG_RESPONSE__INIT;
    resp.linux = &lx;
    reply_msg(call, &resp.base);
}

static void on_update_runtime_config(cri_t *c, berth_grpc_call_t *call, const berth_cri_method_t *m,
                                     ProtobufCMessage *req)
{
    const Runtime__V1__UpdateRuntimeConfigRequest *r =
            (const Runtime__V1__UpdateRuntimeConfigRequest *)req;
    /* The kubelet sends the node's pod CIDR here; CNI plugins get their
     * ranges from their own configuration, so berth records it for status. */
    if (r->runtime_config && r->runtime_config->network_config &&
        r->runtime_config->network_config->pod_cidr) {
        const char *cidr = r->runtime_config->network_config->pod_cidr;
        if (strcmp(cidr, c->pod_cidr) != 0) {
            berth_free(c->pod_cidr);
            c->pod_cidr = berth_strdup(cidr);
            berth_log_info("pod CIDR updated", "pod_cidr=%s", cidr);
        }
    }
    Runtime__V1__UpdateRuntimeConfigResponse resp =
            RUNTIME__V1__UPDATE_RUNTIME_CONFIG_RESPONSE__INIT;
    reply_msg(call, &resp.base);
}

static void on_metric_descriptors(cri_t *c, berth_grpc_call_t *call, const berth_cri_method_t *m,
                                  ProtobufCMessage *req)
{
    berth_cadvisor_reply_descriptors(call);
}

/* Who answers each RuntimeService method: this actor (fn), or the manager
 * that owns its rule. ImageService goes to the images actor whole. */
enum owner { BY_CRI, BY_PODS, BY_CONTAINERS, BY_EVENTS };

static const struct cri_route {
    const char *method;
    enum owner owner;
    cri_handler_fn fn;
} route_table[] = {
        {"Version", BY_CRI, on_version},
        {"Status", BY_CRI, on_status},
        {"RuntimeConfig", BY_CRI, on_runtime_config},
        {"UpdateRuntimeConfig", BY_CRI, on_update_runtime_config},
        {"RunPodSandbox", BY_PODS, NULL},
        {"StopPodSandbox", BY_PODS, NULL},
        {"RemovePodSandbox", BY_PODS, NULL},
        {"PodSandboxStatus", BY_PODS, NULL},
        {"ListPodSandbox", BY_PODS, NULL},
        {"StreamPodSandboxes", BY_PODS, NULL},
        {"UpdatePodSandboxResources", BY_PODS, NULL},
        {"PodSandboxStats", BY_PODS, NULL},
        {"ListPodSandboxStats", BY_PODS, NULL},
        {"StreamPodSandboxStats", BY_PODS, NULL},
        {"ListPodSandboxMetrics", BY_PODS, NULL},
        {"StreamPodSandboxMetrics", BY_PODS, NULL},
        {"ListMetricDescriptors", BY_CRI, on_metric_descriptors},
        {"CreateContainer", BY_CONTAINERS, NULL},
        {"StartContainer", BY_CONTAINERS, NULL},
        {"StopContainer", BY_CONTAINERS, NULL},
        {"RemoveContainer", BY_CONTAINERS, NULL},
        {"ListContainers", BY_CONTAINERS, NULL},
        {"StreamContainers", BY_CONTAINERS, NULL},
        {"ContainerStatus", BY_CONTAINERS, NULL},
        {"ExecSync", BY_CONTAINERS, NULL},
        {"Exec", BY_CONTAINERS, NULL},
        {"Attach", BY_CONTAINERS, NULL},
        {"PortForward", BY_PODS, NULL},
        {"ReopenContainerLog", BY_CONTAINERS, NULL},
        {"UpdateContainerResources", BY_CONTAINERS, NULL},
        {"ContainerStats", BY_CONTAINERS, NULL},
        {"ListContainerStats", BY_CONTAINERS, NULL},
        {"StreamContainerStats", BY_CONTAINERS, NULL},
        {"CheckpointContainer", BY_CONTAINERS, NULL},
        {"GetContainerEvents", BY_EVENTS, NULL},
};
static berth_cri_routes_t routes = BERTH_CRI_ROUTES(route_table);

/* The route of a RuntimeService method (NULL: not implemented). */
static const struct cri_route *find_route(const berth_cri_method_t *m)
{
    return m->service[0] == 'R' ? berth_cri_route(&routes, m) : NULL;
}

/* Which actor owns a method's rule, or NONE when the CRI actor answers it. */
static berth_handle_t route(const cri_t *c, const berth_cri_method_t *m)
{
    if (m->service[0] == 'I') /* ImageService */
        return c->images;
    const struct cri_route *r = find_route(m);
    if (r == NULL || r->owner == BY_CRI)
        return BERTH_HANDLE_NONE;
    switch (r->owner) {
    case BY_PODS:
        return c->pods;
    case BY_EVENTS:
        return c->events;
    default:
        return c->containers;
    }
}

static cri_handler_fn find_handler(const berth_cri_method_t *m)
{
    const struct cri_route *r = find_route(m);
    return r ? r->fn : NULL;
}

static void on_request(cri_t *c, berth_grpc_request_msg_t *rq)
{
    berth_grpc_call_t *call = rq->call;
    c->requests++;
    const berth_cri_method_t *m = berth_cri_method_lookup(rq->method);
    /* every method's answer is counted (docs/observability.md), wherever
     * it comes from: the stats travel with the call */
    berth_grpc_call_set_stats(call, berth_rpc_stats(m));
    if (berth_log_get_level() <= BERTH_LOG_DEBUG)
        berth_log_debug("request", "method=%s bytes=%zu deadline_ms=%lld", rq->method, rq->len,
                        rq->deadline_ns ? (long long)((rq->deadline_ns - berth_now_ns()) / 1000000)
                                        : -1LL);
    if (m == NULL) {
        BERTH_AUTO_FREE char *msg = berth_asprintf("unknown method %s: berth serves CRI v1 "
                                                   "(runtime.v1.RuntimeService, "
                                                   "runtime.v1.ImageService)",
                                                   rq->method);
        berth_cri_finish(call, BERTH_ERR_UNSUPPORTED, msg);
        return;
    }
    ProtobufCMessage *req = protobuf_c_message_unpack(
            m->input, (ProtobufCAllocator *)berth_alloc_protobuf_allocator(), rq->len, rq->body);
    if (req == NULL) {
        BERTH_AUTO_FREE char *msg = berth_asprintf(
                "%s: cannot decode the request as %s (malformed protobuf, %zu bytes)", m->name,
                m->input->name, rq->len);
        berth_cri_finish(call, BERTH_ERR_INVALID, msg);
        return;
    }
    berth_handle_t owner = route(c, m);
    if (berth_handle_valid(owner)) {
        berth_cri_req_msg_t *fw = berth_msg_new(BERTH_MSG_CRI_REQUEST, sizeof(*fw));
        fw->hdr.free = cri_req_msg_free;
        berth_grpc_call_ref(call);
        fw->call = call;
        fw->method = m;
        fw->req = req;
        fw->deadline_ns = rq->deadline_ns;
        /* Cancellations go to the new owner from now on. */
        berth_grpc_call_set_owner(call, owner);
        if (berth_send(owner, &fw->hdr) < 0)
            berth_cri_finish(call, BERTH_ERR_UNAVAILABLE, "berth is shutting down");
        return;
    }
    cri_handler_fn fn = find_handler(m);
    if (fn == NULL) {
        BERTH_AUTO_FREE char *msg =
                berth_asprintf("%s is not implemented by berth yet (runtime.v1.%s/%s)", m->name,
                               m->service, m->name);
        berth_cri_finish(call, BERTH_ERR_UNSUPPORTED, msg);
    } else {
        fn(c, call, m, req);
    }
    protobuf_c_message_free_unpacked(req, (ProtobufCAllocator *)berth_alloc_protobuf_allocator());
}

static void on_netstatus(cri_t *c, berth_netstatus_msg_t *ns)
{
    c->net_ready = ns->ready;
    berth_free(c->net_reason);
    berth_free(c->net_message);
    c->net_reason = berth_strdup(ns->reason);
    c->net_message = berth_strdup(ns->message);
}

static void cri_receive(berth_actor_t *self, berth_msg_t *msg)
{
    cri_t *c = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_GRPC_REQUEST: {
        berth_grpc_request_msg_t *rq = (berth_grpc_request_msg_t *)msg;
        on_request(c, rq);
        break;
    }
    case BERTH_MSG_GRPC_CANCEL:
        /* Every method answered here is answered within the turn that got
         * it, so a cancellation has nothing left to stop. */
        break;
    case BERTH_MSG_NETSTATUS:
        on_netstatus(c, (berth_netstatus_msg_t *)msg);
        break;
    default:
        berth_log_warn("cri: unexpected message", "type=%u", msg->type);
        break;
    }
    berth_msg_free(msg);
}

static void cri_fini(void *state)
{
    cri_t *c = state;
    berth_free(c->runtime_version);
    for (size_t i = 0; c->handlers[i]; i++)
        berth_free(c->handlers[i]);
    berth_free(c->handlers);
    berth_free(c->default_handler);
    berth_free(c->net_reason);
    berth_free(c->net_message);
    berth_free(c->pod_cidr);
    berth_free(c);
}

static const berth_actor_class_t cri_class = {
        .name = "cri",
        .receive = cri_receive,
        .fini = cri_fini,
};

berth_handle_t berth_cri_spawn(const berth_cri_config_t *cfg)
{
    cri_t *c = berth_calloc(1, sizeof(*c));
    c->runtime_version = berth_strdup(cfg->runtime_version);
    size_t n = 0;
    while (cfg->handlers && cfg->handlers[n])
        n++;
    c->handlers = berth_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        c->handlers[i] = berth_strdup(cfg->handlers[i]);
    c->default_handler = berth_strdup(cfg->default_handler ? cfg->default_handler : "");
    /* Until the first scan arrives the network is not known to be usable. */
    c->net_ready = false;
    c->net_reason = berth_strdup("NetworkPluginNotReady");
    c->net_message = berth_strdup("the CNI configuration has not been scanned yet");
    c->pod_cidr = berth_strdup("");
    c->pods = cfg->pods;
    c->images = cfg->images;
    c->containers = cfg->containers;
    c->events = cfg->events;
    berth_handle_t h = berth_actor_spawn(&cri_class, c);
    if (berth_handle_valid(cfg->netstatus))
        berth_netstatus_subscribe(cfg->netstatus, h);
    return h;
}

const void *berth_cri_route(berth_cri_routes_t *r, const berth_cri_method_t *m)
{
    unsigned count = berth_cri_method_count();
    /* The table is built whole before it is published: the fence before the
     * CAS orders its stores before the pointer, and the one after the load
     * orders reading the pointer before reading through it. A race builds
     * it twice; the loser frees its copy. */
    const void **t = ck_pr_load_ptr(&r->by_index);
    ck_pr_fence_load();
    if (t == NULL) {
        const void **fresh = berth_calloc(count + 1, sizeof(*fresh));
        for (size_t i = 0; i < r->n; i++) {
            const char *const *e = (const char *const *)((const char *)r->entries + i * r->size);
            for (unsigned k = 0; k < count; k++) {
                if (strcmp(berth_cri_method_at(k)->name, *e) == 0)
                    fresh[k] = e;
            }
        }
        ck_pr_fence_store();
        if (!ck_pr_cas_ptr(&r->by_index, NULL, fresh))
            berth_free(fresh);
        t = ck_pr_load_ptr(&r->by_index);
        ck_pr_fence_load();
    }
    return m && m->index < count ? t[m->index] : NULL;
}

void berth_cri_free(ProtobufCMessage *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked(msg,
                                         (ProtobufCAllocator *)berth_alloc_protobuf_allocator());
}

uint8_t *berth_cri_pack_string(const ProtobufCMessageDescriptor *desc, const char *value,
                               size_t *len)
{
    BERTH_AUTO_FREE ProtobufCMessage *m = berth_calloc(1, desc->sizeof_message);
    desc->message_init(m);
    assert(desc->n_fields >= 1 && desc->fields[0].type == PROTOBUF_C_TYPE_STRING);
    *(const char **)((char *)m + desc->fields[0].offset) = value;
    return berth_cri_pack(m, len);
}

void *berth_cri_info(const ProtobufCMessageDescriptor *entry, json_t *o, char **json, size_t *n)
{
    *json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    static char *const key[] = {(char *)"info"};
    *n = 1;
    return berth_cri_map(entry, 1, key, json);
}
