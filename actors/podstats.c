// SPDX-License-Identifier: Apache-2.0
#include "actors/podstats.h"

#include <string.h>

#include "actors/cadvisor.h"
#include "actors/cri.h"
#include "actors/podmsg.h"
#include "actors/statsfill.h"
#include "engine/alloc.h"
#include "io/bytebuf.h"
#include "io/grpc.h"
#include "proto/cri.h"

berth_pod_stats_t *berth_pod_stats_new(void)
{
    return berth_calloc(1, sizeof(berth_pod_stats_t));
}

void berth_pod_stats_free(berth_pod_stats_t *ps)
{
    if (ps == NULL)
        return;
    berth_cgroups_reader_unref(ps->reader);
    berth_free(ps->metrics);
    berth_free(ps);
}

void berth_pod_stats_set(berth_pod_stats_t *ps, const berth_cgroups_stats_t *st, int64_t at,
                         const berth_netdev_iface_t *ifaces, int n)
{
    if (ps->cg_at != 0 && ps->cg.have_cpu && st->have_cpu &&
        berth_stats_nano_cores(ps->cg.cpu_ns, ps->cg_at, st->cpu_ns, at, &ps->nano_cores)) {
        ps->have_nano = true;
    } else if (!st->have_cpu) {
        ps->have_nano = false;
    }
    ps->cg = *st;
    ps->cg_at = at;
    berth_free(ps->metrics);
    ps->metrics = NULL;
    ps->metrics_len = 0;
    ps->have_net = n >= 0;
    ps->n_ifaces = 0;
    for (int i = 0; i < n && i < BERTH_POD_STATS_MAX_IFACES; i++)
        ps->ifaces[ps->n_ifaces++] = ifaces[i];
}

bool berth_pod_stats_due(const berth_pod_stats_t *ps, int64_t now, int64_t interval)
{
    return ps == NULL || ps->cg_at == 0 || now - ps->cg_at >= interval / 2;
}

/* Everything one PodSandboxStats points to, on the stack of the packer. */
typedef struct pb_stats {
    Runtime__V1__PodSandboxStats st;
    Runtime__V1__PodSandboxAttributes attr;
    Runtime__V1__PodSandboxMetadata md;
    Runtime__V1__LinuxPodSandboxStats lx;
    berth_stats_pb_t u;
    Runtime__V1__NetworkUsage net;
    Runtime__V1__NetworkInterfaceUsage ifu[BERTH_POD_STATS_MAX_IFACES];
    Runtime__V1__NetworkInterfaceUsage *ifp[BERTH_POD_STATS_MAX_IFACES];
    Runtime__V1__UInt64Value ifv[BERTH_POD_STATS_MAX_IFACES][4];
} pb_stats_t;

static Runtime__V1__UInt64Value *u64(Runtime__V1__UInt64Value *v, uint64_t x)
{
    runtime__v1__uint64_value__init(v);
    v->value = x;
    return v;
}

/* The pod cgroup's figures: CPU, memory, tasks and I/O pressure (a pod
 * has no swap figure in the CRI). */
static void fill_cpu_mem(pb_stats_t *o, const berth_pod_stats_t *ps)
{
    berth_stats_pb_fill(&o->u, &ps->cg, ps->cg_at, ps->have_nano ? &ps->nano_cores : NULL);
    o->lx.cpu = o->u.cpu;
    o->lx.memory = o->u.memory;
    o->lx.process = o->u.process;
    o->lx.io = o->u.io;
}

static void fill_net(pb_stats_t *o, const berth_pod_stats_t *ps)
{
    if (!ps->have_net)
        return;
    runtime__v1__network_usage__init(&o->net);
    o->net.timestamp = ps->cg_at;
    for (size_t i = 0; i < ps->n_ifaces; i++) {
        const berth_netdev_iface_t *it = &ps->ifaces[i];
        Runtime__V1__NetworkInterfaceUsage *u = &o->ifu[i];
        runtime__v1__network_interface_usage__init(u);
        u->name = (char *)it->name;
        u->rx_bytes = u64(&o->ifv[i][0], it->rx_bytes);
        u->rx_errors = u64(&o->ifv[i][1], it->rx_errors);
        u->tx_bytes = u64(&o->ifv[i][2], it->tx_bytes);
        u->tx_errors = u64(&o->ifv[i][3], it->tx_errors);
        o->ifp[i] = u;
        /* the CNI convention (and the kubelet's default) names it eth0 */
        if (strcmp(it->name, "eth0") == 0 || o->net.default_interface == NULL)
            o->net.default_interface = u;
    }
    o->net.n_interfaces = ps->n_ifaces;
    o->net.interfaces = o->ifp;
    o->lx.network = &o->net;
}

uint8_t *berth_pod_stats_pack(const berth_pod_summary_t *s, const berth_pod_stats_t *ps,
                              size_t *len)
{
    BERTH_AUTO_FREE pb_stats_t *o = berth_calloc(1, sizeof(*o));
    runtime__v1__pod_sandbox_stats__init(&o->st);
    runtime__v1__pod_sandbox_attributes__init(&o->attr);
    runtime__v1__pod_sandbox_metadata__init(&o->md);
    runtime__v1__linux_pod_sandbox_stats__init(&o->lx);
    o->md.name = s->pod_name;
    o->md.uid = s->pod_uid;
    o->md.namespace_ = s->pod_namespace;
    o->md.attempt = s->attempt;
    o->attr.id = s->id;
    o->attr.metadata = &o->md;
    o->attr.n_labels = s->labels.n;
    o->attr.labels = berth_kv_map(&s->labels,
                                  &runtime__v1__pod_sandbox_attributes__labels_entry__descriptor);
    o->attr.n_annotations = s->annotations.n;
    o->attr.annotations = berth_kv_map(
            &s->annotations, &runtime__v1__pod_sandbox_attributes__annotations_entry__descriptor);
    o->st.attributes = &o->attr;
    if (ps && ps->cg_at != 0) {
        fill_cpu_mem(o, ps);
        fill_net(o, ps);
    }
    /* the kubelet reads linux even when it holds only the containers */
    o->st.linux = &o->lx;
    uint8_t *buf = berth_cri_pack(&o->st.base, len);
    berth_free(o->attr.labels);
    berth_free(o->attr.annotations);
    return buf;
}

static void put_varint(berth_bytebuf_t *b, uint64_t v)
{
    while (v >= 0x80) {
        berth_bytebuf_put_u8(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    berth_bytebuf_put_u8(b, (uint8_t)v);
}

/* A length-delimited field: its key (wire type 2), length and bytes. */
static void put_field(berth_bytebuf_t *b, unsigned field, const uint8_t *p, size_t n)
{
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, n);
    berth_bytebuf_put(b, p, n);
}

void berth_pod_stats_add_containers(uint8_t **item, size_t *len, const uint8_t *const *ctrs,
                                    const size_t *lens, size_t n)
{
    if (n == 0)
        return;
    berth_bytebuf_t lx = {0};
    for (size_t i = 0; i < n; i++)
        put_field(&lx, 5, ctrs[i], lens[i]); /* LinuxPodSandboxStats.containers */
    berth_bytebuf_t out = {0};
    berth_bytebuf_put(&out, *item, *len);
    put_field(&out, 2, lx.data, lx.len); /* PodSandboxStats.linux */
    berth_bytebuf_free(&lx);
    berth_free(*item);
    *item = out.data;
    *len = out.len;
}

uint8_t *berth_pod_metrics_pack(const berth_pod_summary_t *s, berth_pod_stats_t *ps, size_t *len)
{
    if (ps && ps->metrics) {
        *len = ps->metrics_len;
        return berth_memdup(ps->metrics, ps->metrics_len ? ps->metrics_len : 1);
    }
    berth_cadvisor_entry_t e = {
            .labels = {"", s->cgroup_parent, "", s->id, s->pod_namespace, s->pod_name},
            .start_ns = s->created_at,
    };
    if (ps && ps->cg_at != 0) {
        e.cg = &ps->cg;
        e.cg_at = ps->cg_at;
        e.have_net = ps->have_net;
        e.ifaces = ps->ifaces;
        e.n_ifaces = ps->n_ifaces;
    }
    uint8_t *buf = berth_cadvisor_pack_pod(s->id, &e, len);
    if (ps && ps->cg_at != 0) {
        ps->metrics = berth_memdup(buf, *len ? *len : 1);
        ps->metrics_len = *len;
    }
    return buf;
}

void berth_pod_stats_reply(berth_grpc_call_t *call, int kind, uint8_t *const *items,
                           const size_t *lens, size_t n)
{
    if (berth_pod_stats_kind_metrics(kind)) {
        berth_cadvisor_reply(call, kind == BERTH_POD_METRICS_STREAM, items, lens, n);
        return;
    }
    BERTH_AUTO_FREE berth_cri_packed_t *v = berth_calloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = (berth_cri_packed_t){items[i], lens[i]};
    if (kind == BERTH_POD_STATS_STREAM) {
        berth_cri_reply_packed(call, true,
                               &runtime__v1__list_pod_sandbox_stats_response__descriptor,
                               &runtime__v1__stream_pod_sandbox_stats_response__descriptor, v, n);
        return;
    }
    size_t len;
    uint8_t *buf = berth_cri_pack_items(
            kind == BERTH_POD_STATS_ONE ? &runtime__v1__pod_sandbox_stats_response__descriptor
                                        : &runtime__v1__list_pod_sandbox_stats_response__descriptor,
            v, kind == BERTH_POD_STATS_ONE && n > 1 ? 1 : n, &len);
    berth_grpc_reply_take(call, buf, len);
}
