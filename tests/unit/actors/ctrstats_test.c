// SPDX-License-Identifier: Apache-2.0
/*
 * actors/ctrstats: a container's packed ContainerStats is kept while its
 * figures stay, and every setter drops it, so the next answer shows the
 * new figures; a container never read is packed afresh, at the call's time;
 * the writable layer's next measure, and figures carried to a new summary.
 */
#include <stdio.h>
#include <string.h>

#include "actors/ctrstats.h"
#include "engine/alloc.h"
#include "proto/cri.h"
#include "tests/unit/check.h"

#define LAYERS "/var/lib/berth/overlay-containers"

static berth_ctr_summary_t *summary(void)
{
    berth_ctr_summary_t *s = berth_calloc(1, sizeof(*s));
    s->id = berth_strdup("c0ffee");
    s->ctr_name = berth_strdup("web");
    s->attempt = 2;
    Runtime__V1__ContainerConfig__LabelsEntry e = RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT;
    e.key = (char *)"app";
    e.value = (char *)"shop";
    ProtobufCMessage *ep[] = {&e.base};
    berth_kv_copy(&s->labels, 1, ep);
    berth_kv_copy(&s->annotations, 0, NULL);
    return s;
}

/* The packed answer, unpacked (free with the descriptor's free_unpacked). */
static Runtime__V1__ContainerStats *unpack(berth_cri_packed_t p)
{
    return runtime__v1__container_stats__unpack(NULL, p.len, p.data);
}

static uint64_t cpu_of(const Runtime__V1__ContainerStats *st)
{
    return st && st->cpu && st->cpu->usage_core_nano_seconds
                   ? st->cpu->usage_core_nano_seconds->value
                   : 0;
}

int main(void)
{
    berth_ctr_summary_t *s = summary();
    uint8_t *scratch;

    /* never read: packed for the call, at its time, and not kept */
    berth_cri_packed_t p = berth_ctr_stats_packed(s, 1000, LAYERS, &scratch);
    Runtime__V1__ContainerStats *st = unpack(p);
    ok(scratch != NULL && p.data == scratch && s->stats == NULL,
       "a container never read is packed into the caller's scratch");
    ok(st && st->cpu && st->cpu->timestamp == 1000 && st->cpu->usage_core_nano_seconds == NULL &&
               st->writable_layer == NULL,
       "with the call's time and no figures");
    ok(st && st->attributes && strcmp(st->attributes->id, "c0ffee") == 0 &&
               strcmp(st->attributes->metadata->name, "web") == 0 &&
               st->attributes->metadata->attempt == 2 && st->attributes->n_labels == 1 &&
               strcmp(st->attributes->labels[0]->value, "shop") == 0,
       "and the container's attributes");
    runtime__v1__container_stats__free_unpacked(st, NULL);
    berth_free(scratch);

    /* read: packed once and kept */
    berth_cgroups_stats_t cg = {true, true, 5000, 800, 600};
    berth_ctr_stats_set_cg(s, &cg, 2000);
    p = berth_ctr_stats_packed(s, 3000, LAYERS, &scratch);
    ok(scratch == NULL && p.data == s->stats, "a container read is packed into its summary");
    st = unpack(p);
    ok(cpu_of(st) == 5000 && st->cpu->timestamp == 2000 && st->memory->timestamp == 2000 &&
               st->memory->working_set_bytes->value == 600 && st->memory->usage_bytes->value == 800,
       "with its figures at the read's time");
    runtime__v1__container_stats__free_unpacked(st, NULL);
    berth_cri_packed_t q = berth_ctr_stats_packed(s, 4000, LAYERS, &scratch);
    ok(q.data == p.data && scratch == NULL, "the next call reuses the packed answer");

    /* every change shows in the very next answer */
    cg.cpu_ns = 9000;
    berth_ctr_stats_set_cg(s, &cg, 5000);
    ok(s->stats == NULL, "a new reading drops the packed answer");
    st = unpack(berth_ctr_stats_packed(s, 5000, LAYERS, &scratch));
    ok(cpu_of(st) == 9000 && st->cpu->timestamp == 5000, "and the next answer has it");
    runtime__v1__container_stats__free_unpacked(st, NULL);

    berth_ctr_stats_set_layer(s, 4096, 7, 6000);
    ok(s->stats == NULL, "a new layer measure drops it too");
    st = unpack(berth_ctr_stats_packed(s, 6000, LAYERS, &scratch));
    ok(st && st->writable_layer && st->writable_layer->used_bytes->value == 4096 &&
               st->writable_layer->inodes_used->value == 7 &&
               st->writable_layer->timestamp == 6000 &&
               strcmp(st->writable_layer->fs_id->mountpoint, LAYERS) == 0 && cpu_of(st) == 9000,
       "and the next answer has the layer with the CPU figures");
    runtime__v1__container_stats__free_unpacked(st, NULL);

    /* a cgroup that could not be read: the time of the try, no figures */
    berth_cgroups_stats_t none = {0};
    berth_ctr_stats_set_cg(s, &none, 7000);
    st = unpack(berth_ctr_stats_packed(s, 8000, LAYERS, &scratch));
    ok(st && cpu_of(st) == 0 && st->cpu->usage_core_nano_seconds == NULL &&
               st->memory->working_set_bytes == NULL && st->cpu->timestamp == 7000,
       "an unreadable cgroup shows no figures");
    runtime__v1__container_stats__free_unpacked(st, NULL);

    /* the layer's next measure: 10 s after a change, doubling to 60 s while
     * it stays the same */
    const int64_t S = 1000000000ll;
    berth_ctr_summary_t *l = summary();
    ok(berth_ctr_stats_layer_due(l, 1), "a layer never measured is due");
    berth_ctr_stats_set_layer(l, 4096, 3, 100 * S);
    ok(l->layer_every == 10 * S && !berth_ctr_stats_layer_due(l, 109 * S) &&
               berth_ctr_stats_layer_due(l, 110 * S),
       "after the first measure: due 10 s later");
    berth_ctr_stats_set_layer(l, 4096, 3, 110 * S);
    berth_ctr_stats_set_layer(l, 4096, 3, 130 * S);
    ok(l->layer_every == 40 * S, "the same figures: 20 s, then 40 s");
    berth_ctr_stats_set_layer(l, 4096, 3, 170 * S);
    berth_ctr_stats_set_layer(l, 4096, 3, 230 * S);
    ok(l->layer_every == 60 * S && !berth_ctr_stats_layer_due(l, 289 * S) &&
               berth_ctr_stats_layer_due(l, 290 * S),
       "and never more than 60 s");
    berth_ctr_stats_set_layer(l, 8192, 4, 290 * S);
    ok(l->layer_every == 10 * S, "a change brings it back to 10 s");

    /* a newer summary of the container keeps its figures */
    berth_ctr_summary_t *n = summary();
    berth_ctr_stats_carry(n, l, true);
    ok(n->layer_bytes == 8192 && n->layer_inodes == 4 && n->layer_at == 290 * S &&
               n->layer_every == 10 * S,
       "a new summary carries the layer's figures and their schedule");
    cg.cpu_ns = 1234;
    berth_ctr_stats_set_cg(l, &cg, 300 * S);
    berth_ctr_summary_t *m = summary();
    berth_ctr_stats_carry(m, l, false);
    ok(m->cg_at == 0 && m->layer_at == 290 * S, "the cgroup's only when the cgroup is the same");
    berth_ctr_stats_carry(m, l, true);
    st = unpack(berth_ctr_stats_packed(m, 400 * S, LAYERS, &scratch));
    ok(cpu_of(st) == 1234 && st->writable_layer && st->writable_layer->used_bytes->value == 8192,
       "and the new summary answers with them");
    runtime__v1__container_stats__free_unpacked(st, NULL);
    berth_ctr_summary_free(l);
    berth_ctr_summary_free(n);
    berth_ctr_summary_free(m);

    /* the CPU rate from two reads, kept with the figures and carried */
    const int64_t T = 1000000000ll;
    berth_ctr_summary_t *r = summary();
    r->cgroup = berth_strdup("/kubepods/pod1/c0ffee");
    berth_cgroups_stats_t c1 = {.have_cpu = true, .cpu_ns = 1 * T, .have_mem = true};
    berth_ctr_stats_set_cg(r, &c1, 10 * T);
    ok(!r->have_nano, "one read: no rate");
    ok(berth_ctr_metrics_packed(r, LAYERS).data != NULL && r->metrics != NULL,
       "metrics packed for a container read, and kept");
    c1.cpu_ns = 3 * T;
    berth_ctr_stats_set_cg(r, &c1, 14 * T);
    ok(r->have_nano && r->nano_cores == 500000000 && r->metrics == NULL,
       "two reads 4 s apart, 2 s of CPU: half a core; the metrics dropped");
    st = unpack(berth_ctr_stats_packed(r, 15 * T, LAYERS, &scratch));
    ok(st && st->cpu->usage_nano_cores && st->cpu->usage_nano_cores->value == 500000000,
       "UsageNanoCores answered from the reads");
    runtime__v1__container_stats__free_unpacked(st, NULL);
    berth_ctr_summary_t *r2 = summary();
    berth_ctr_stats_carry(r2, r, true);
    ok(r2->have_nano && r2->nano_cores == 500000000, "the rate is carried with the cgroup");
    c1.cpu_ns = 1 * T; /* a new cgroup: the counter went back */
    berth_ctr_stats_set_cg(r2, &c1, 20 * T);
    ok(!r2->have_nano, "a counter that went back: no rate");
    berth_cri_packed_t mp = berth_ctr_metrics_packed(r2, LAYERS);
    const uint8_t *kept = mp.data;
    berth_ctr_stats_set_fs(r2, 1 << 30, 1000, 900);
    ok(r2->metrics == NULL && r2->have_fs, "new filesystem figures drop the metrics");
    mp = berth_ctr_metrics_packed(r2, LAYERS);
    berth_ctr_stats_set_fs(r2, 1 << 30, 1000, 900);
    ok(r2->metrics == mp.data && kept != NULL, "the same figures keep them");
    berth_cgroups_stats_t gone = {0};
    berth_ctr_stats_set_cg(r2, &gone, 21 * T);
    ok(berth_ctr_metrics_packed(r2, LAYERS).data == NULL,
       "a cgroup gone (the container exited): no metrics, as cAdvisor shows none");
    berth_ctr_summary_free(r);
    berth_ctr_summary_free(r2);

    berth_ctr_summary_free(s); /* frees the packed answer with it */
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
