// SPDX-License-Identifier: Apache-2.0
/*
 * A container's ContainerStats, packed from its summary's figures and kept
 * there (ctrstats.h). At a thousand containers a ListContainerStats a second
 * built its answer from protobuf structs every time; figures change every
 * few seconds, so most calls now copy bytes packed before.
 */
#include "actors/ctrstats.h"

#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "actors/cadvisor.h"
#include "actors/statsfill.h"
#include "engine/alloc.h"
#include "proto/cri.h"

static void drop(berth_ctr_summary_t *s)
{
    berth_free(s->stats);
    s->stats = NULL;
    s->stats_len = 0;
    berth_free(s->metrics);
    s->metrics = NULL;
    s->metrics_len = 0;
}

void berth_ctr_stats_set_cg(berth_ctr_summary_t *s, const berth_cgroups_stats_t *st, int64_t at)
{
    if (s->cg_at != 0 && s->cg_stats.have_cpu && st->have_cpu)
        s->have_nano = berth_stats_nano_cores(s->cg_stats.cpu_ns, s->cg_at, st->cpu_ns, at,
                                              &s->nano_cores);
    else
        s->have_nano = false;
    s->cg_stats = *st;
    s->cg_at = at;
    drop(s);
}

void berth_ctr_stats_set_layer(berth_ctr_summary_t *s, uint64_t bytes, uint64_t inodes, int64_t at)
{
    bool same = s->layer_at != 0 && bytes == s->layer_bytes && inodes == s->layer_inodes;
    int64_t twice = s->layer_every ? 2 * s->layer_every : BERTH_CTR_LAYER_EVERY_MIN;
    if (!same)
        s->layer_every = BERTH_CTR_LAYER_EVERY_MIN;
    else
        s->layer_every = twice < BERTH_CTR_LAYER_EVERY_MAX ? twice : BERTH_CTR_LAYER_EVERY_MAX;
    s->layer_bytes = bytes;
    s->layer_inodes = inodes;
    s->layer_at = at;
    drop(s);
}

void berth_ctr_stats_set_fs(berth_ctr_summary_t *s, uint64_t bytes, uint64_t inodes,
                            uint64_t inodes_free)
{
    if (s->have_fs && s->fs_bytes == bytes && s->fs_inodes == inodes &&
        s->fs_inodes_free == inodes_free)
        return;
    s->have_fs = true;
    s->fs_bytes = bytes;
    s->fs_inodes = inodes;
    s->fs_inodes_free = inodes_free;
    /* only the metrics show them */
    berth_free(s->metrics);
    s->metrics = NULL;
    s->metrics_len = 0;
}

bool berth_ctr_stats_layer_due(const berth_ctr_summary_t *s, int64_t now)
{
    int64_t every = s->layer_every ? s->layer_every : BERTH_CTR_LAYER_EVERY_MIN;
    return s->layer_at == 0 || now - s->layer_at >= every;
}

void berth_ctr_stats_carry(berth_ctr_summary_t *to, berth_ctr_summary_t *from, bool same_cgroup)
{
    to->layer_bytes = from->layer_bytes;
    to->layer_inodes = from->layer_inodes;
    to->layer_at = from->layer_at;
    to->layer_every = from->layer_every;
    to->have_fs = from->have_fs;
    to->fs_bytes = from->fs_bytes;
    to->fs_inodes = from->fs_inodes;
    to->fs_inodes_free = from->fs_inodes_free;
    if (same_cgroup) {
        berth_cgroups_reader_unref(to->cg_reader);
        to->cg_reader = berth_steal_ptr(&from->cg_reader);
        to->cg_stats = from->cg_stats;
        to->cg_at = from->cg_at;
        to->have_nano = from->have_nano;
        to->nano_cores = from->nano_cores;
    }
    drop(to);
}

/* The pieces of one ContainerStats, borrowing the summary's strings. */
typedef struct stat_parts {
    Runtime__V1__ContainerStats st;
    Runtime__V1__ContainerAttributes attr;
    Runtime__V1__ContainerMetadata md;
    berth_stats_pb_t u;
    Runtime__V1__FilesystemUsage fs;
    Runtime__V1__FilesystemIdentifier fsid;
    Runtime__V1__UInt64Value v[2];
} stat_parts_t;

/* A container not read yet, or whose cgroup could not be read, carries
 * CPU and memory timestamps and no figures. */
static void fill(stat_parts_t *p, const berth_ctr_summary_t *s, int64_t now, const char *layers_fs)
{
    runtime__v1__container_stats__init(&p->st);
    runtime__v1__container_attributes__init(&p->attr);
    runtime__v1__container_metadata__init(&p->md);
    p->md.name = s->ctr_name;
    p->md.attempt = s->attempt;
    p->attr.id = s->id;
    p->attr.metadata = &p->md;
    p->attr.n_labels = s->labels.n;
    p->attr.labels =
            berth_kv_map(&s->labels, &runtime__v1__container_attributes__labels_entry__descriptor);
    p->attr.n_annotations = s->annotations.n;
    p->attr.annotations = berth_kv_map(
            &s->annotations, &runtime__v1__container_attributes__annotations_entry__descriptor);
    p->st.attributes = &p->attr;
    /* each figure's own time: the kubelet divides CPU deltas by these */
    int64_t ts = s->cg_at ? s->cg_at : now;
    berth_stats_pb_fill(&p->u, &s->cg_stats, ts, s->have_nano ? &s->nano_cores : NULL);
    p->st.cpu = &p->u.cpu_m;
    p->st.memory = &p->u.mem_m;
    p->st.swap = p->u.swap;
    p->st.io = p->u.io;
    if (s->layer_at) {
        runtime__v1__filesystem_usage__init(&p->fs);
        runtime__v1__filesystem_identifier__init(&p->fsid);
        for (int i = 0; i < 2; i++)
            runtime__v1__uint64_value__init(&p->v[i]);
        p->fsid.mountpoint = (char *)layers_fs;
        p->v[0].value = s->layer_bytes;
        p->v[1].value = s->layer_inodes;
        p->fs.timestamp = s->layer_at;
        p->fs.fs_id = &p->fsid;
        p->fs.used_bytes = &p->v[0];
        p->fs.inodes_used = &p->v[1];
        p->st.writable_layer = &p->fs;
    }
}

static uint8_t *pack(const berth_ctr_summary_t *s, int64_t now, const char *layers_fs, size_t *len)
{
    stat_parts_t p;
    fill(&p, s, now, layers_fs);
    uint8_t *buf = berth_cri_pack(&p.st.base, len);
    berth_free(p.attr.labels);
    berth_free(p.attr.annotations);
    return buf;
}

berth_cri_packed_t berth_ctr_stats_packed(berth_ctr_summary_t *s, int64_t now,
                                          const char *layers_fs, uint8_t **scratch)
{
    *scratch = NULL;
    if (s->cg_at == 0) {
        size_t len;
        *scratch = pack(s, now, layers_fs, &len);
        return (berth_cri_packed_t){*scratch, len};
    }
    if (s->stats == NULL)
        s->stats = pack(s, now, layers_fs, &s->stats_len);
    return (berth_cri_packed_t){s->stats, s->stats_len};
}

/* The value of label `key` in kv, NULL when absent. */
static const char *label(const berth_kv_t *kv, const char *key)
{
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp(kv->keys[i], key) == 0)
            return kv->values[i];
    return NULL;
}

berth_cri_packed_t berth_ctr_metrics_packed(berth_ctr_summary_t *s, const char *layers_fs)
{
    if (s->cg_at == 0 || (!s->cg_stats.have_cpu && !s->cg_stats.have_mem))
        return (berth_cri_packed_t){NULL, 0};
    if (s->metrics == NULL) {
        /* the kubelet's labels on its containers name the pod */
        berth_cadvisor_entry_t e = {
                .labels = {s->ctr_name, s->cgroup, s->image_user ? s->image_user : s->image, s->id,
                           label(&s->labels, "io.kubernetes.pod.namespace"),
                           label(&s->labels, "io.kubernetes.pod.name")},
                .cg = &s->cg_stats,
                .cg_at = s->cg_at,
                .start_ns = s->created_at,
                .have_layer = s->layer_at != 0,
                .layer_bytes = s->layer_bytes,
                .layer_at = s->layer_at,
                .layer_device = layers_fs,
                .have_fs = s->have_fs,
                .fs_bytes = s->fs_bytes,
                .fs_inodes = s->fs_inodes,
                .fs_inodes_free = s->fs_inodes_free,
        };
        s->metrics = berth_cadvisor_pack_ctr(s->id, &e, &s->metrics_len);
    }
    return (berth_cri_packed_t){s->metrics, s->metrics_len};
}
