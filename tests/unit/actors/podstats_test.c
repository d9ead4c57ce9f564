// SPDX-License-Identifier: Apache-2.0
/*
 * actors/podstats: a pod's figures and their CPU rate between two samples
 * (none from one sample, none across a counter that went back), the packed
 * PodSandboxStats (attributes, CPU, memory with the available bytes, tasks,
 * interfaces with eth0 the default), attributes only before any sample, and
 * containers added to the packed bytes reading back as one linux field.
 */
#include <stdio.h>
#include <string.h>

#include "actors/podmsg.h"
#include "actors/podstats.h"
#include "engine/alloc.h"
#include "proto/cri.h"
#include "tests/unit/check.h"

static berth_pod_summary_t *summary(void)
{
    berth_pod_summary_t *s = berth_calloc(1, sizeof(*s));
    s->id = berth_strdup("feed01");
    s->name = berth_strdup("k8s_web_ns_uid_1");
    s->pod_name = berth_strdup("web");
    s->pod_namespace = berth_strdup("ns");
    s->pod_uid = berth_strdup("uid");
    s->attempt = 1;
    Runtime__V1__PodSandboxConfig__LabelsEntry e =
            RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
    e.key = (char *)"app";
    e.value = (char *)"shop";
    ProtobufCMessage *ep[] = {&e.base};
    berth_kv_copy(&s->labels, 1, ep);
    berth_kv_copy(&s->annotations, 0, NULL);
    return s;
}

static Runtime__V1__PodSandboxStats *unpack(const uint8_t *p, size_t len)
{
    return runtime__v1__pod_sandbox_stats__unpack(NULL, len, p);
}

static void test_rate(void)
{
    berth_pod_stats_t *ps = berth_pod_stats_new();
    berth_cgroups_stats_t st = {.have_cpu = true, .cpu_ns = 1000000000};
    ok(berth_pod_stats_due(ps, 5, 10), "never sampled: due");
    berth_pod_stats_set(ps, &st, 1000000000, NULL, -1);
    ok(!ps->have_nano, "one sample: no rate");
    ok(!berth_pod_stats_due(ps, 1000000000 + 4, 10) && berth_pod_stats_due(ps, 1000000000 + 5, 10),
       "due after half the interval");
    st.cpu_ns = 1500000000; /* half a core for a second */
    berth_pod_stats_set(ps, &st, 2000000000, NULL, -1);
    check(ps->have_nano && ps->nano_cores == 500000000, "half a core over a second (%llu)",
          (unsigned long long)ps->nano_cores);
    st.cpu_ns = 10; /* a new cgroup: the counter went back */
    berth_pod_stats_set(ps, &st, 3000000000, NULL, -1);
    check(ps->have_nano && ps->nano_cores == 500000000 && ps->cg.cpu_ns == 10,
          "a counter that went back keeps the last rate, takes the new figure");
    st.have_cpu = false;
    berth_pod_stats_set(ps, &st, 4000000000, NULL, -1);
    ok(!ps->have_nano, "no CPU figure: no rate");
    berth_pod_stats_free(ps);
}

static void test_pack(void)
{
    berth_pod_summary_t *s = summary();
    size_t len;
    uint8_t *buf = berth_pod_stats_pack(s, NULL, &len);
    Runtime__V1__PodSandboxStats *st = unpack(buf, len);
    ok(st && st->attributes && strcmp(st->attributes->id, "feed01") == 0 &&
               strcmp(st->attributes->metadata->name, "web") == 0 &&
               st->attributes->metadata->attempt == 1 && st->attributes->n_labels == 1 &&
               strcmp(st->attributes->labels[0]->value, "shop") == 0,
       "attributes: id, metadata, labels");
    ok(st && st->linux && !st->linux->cpu && !st->linux->memory && !st->linux->network,
       "never sampled: linux present, no figures");
    runtime__v1__pod_sandbox_stats__free_unpacked(st, NULL);
    berth_free(buf);

    berth_pod_stats_t *ps = berth_pod_stats_new();
    berth_cgroups_stats_t cg = {.have_cpu = true,
                                .cpu_ns = 100,
                                .have_mem = true,
                                .mem_usage = 5000,
                                .mem_working_set = 4000,
                                .have_rss = true,
                                .mem_rss = 3000,
                                .have_faults = true,
                                .pgfault = 9,
                                .pgmajfault = 1,
                                .have_limit = true,
                                .mem_limit = 10000,
                                .have_pids = true,
                                .pids = 3};
    berth_netdev_iface_t ifs[2] = {
            {.name = "net1", .rx_bytes = 1, .tx_bytes = 2},
            {.name = "eth0", .rx_bytes = 100, .rx_errors = 1, .tx_bytes = 200, .tx_errors = 2}};
    berth_pod_stats_set(ps, &cg, 7, ifs, 2);
    buf = berth_pod_stats_pack(s, ps, &len);
    st = unpack(buf, len);
    const Runtime__V1__LinuxPodSandboxStats *lx = st ? st->linux : NULL;
    ok(lx && lx->cpu && lx->cpu->timestamp == 7 && lx->cpu->usage_core_nano_seconds->value == 100 &&
               lx->cpu->usage_nano_cores == NULL,
       "CPU: total and time, no rate from one sample");
    ok(lx && lx->memory && lx->memory->working_set_bytes->value == 4000 &&
               lx->memory->usage_bytes->value == 5000 && lx->memory->rss_bytes->value == 3000 &&
               lx->memory->page_faults->value == 9 && lx->memory->major_page_faults->value == 1 &&
               lx->memory->available_bytes->value == 6000,
       "memory: working set, usage, rss, faults, available = limit - working set");
    ok(lx && lx->process && lx->process->process_count->value == 3, "process count");
    ok(lx && lx->network && lx->network->n_interfaces == 2 && lx->network->default_interface &&
               strcmp(lx->network->default_interface->name, "eth0") == 0 &&
               lx->network->default_interface->rx_bytes->value == 100 &&
               lx->network->default_interface->rx_errors->value == 1 &&
               lx->network->default_interface->tx_bytes->value == 200 &&
               lx->network->default_interface->tx_errors->value == 2,
       "network: both interfaces, eth0 the default with its counters");
    runtime__v1__pod_sandbox_stats__free_unpacked(st, NULL);

    /* two containers added to the packed bytes */
    Runtime__V1__ContainerStats c = RUNTIME__V1__CONTAINER_STATS__INIT;
    Runtime__V1__ContainerAttributes ca = RUNTIME__V1__CONTAINER_ATTRIBUTES__INIT;
    c.attributes = &ca;
    ca.id = (char *)"c1";
    size_t l1 = runtime__v1__container_stats__get_packed_size(&c);
    uint8_t *b1 = berth_malloc(l1);
    runtime__v1__container_stats__pack(&c, b1);
    ca.id = (char *)"c2";
    size_t l2 = runtime__v1__container_stats__get_packed_size(&c);
    uint8_t *b2 = berth_malloc(l2);
    runtime__v1__container_stats__pack(&c, b2);
    const uint8_t *cs[] = {b1, b2};
    size_t ls[] = {l1, l2};
    berth_pod_stats_add_containers(&buf, &len, cs, ls, 2);
    st = unpack(buf, len);
    lx = st ? st->linux : NULL;
    ok(lx && lx->n_containers == 2 && strcmp(lx->containers[0]->attributes->id, "c1") == 0 &&
               strcmp(lx->containers[1]->attributes->id, "c2") == 0 && lx->cpu &&
               lx->cpu->usage_core_nano_seconds->value == 100 && lx->network,
       "containers added: read back with the pod's own figures");
    runtime__v1__pod_sandbox_stats__free_unpacked(st, NULL);
    size_t before = len;
    berth_pod_stats_add_containers(&buf, &len, cs, ls, 0);
    ok(len == before, "no containers: the bytes as they were");

    cg.have_limit = false;
    ifs[1].name[0] = 'x'; /* no eth0: the first is the default */
    berth_pod_stats_set(ps, &cg, 8, ifs, 2);
    berth_free(buf);
    buf = berth_pod_stats_pack(s, ps, &len);
    st = unpack(buf, len);
    lx = st ? st->linux : NULL;
    ok(lx && lx->memory && lx->memory->available_bytes == NULL && lx->network &&
               strcmp(lx->network->default_interface->name, "net1") == 0,
       "no limit: no available bytes; no eth0: the first interface is the default");
    runtime__v1__pod_sandbox_stats__free_unpacked(st, NULL);
    berth_pod_stats_set(ps, &cg, 9, NULL, -1);
    berth_free(buf);
    buf = berth_pod_stats_pack(s, ps, &len);
    st = unpack(buf, len);
    ok(st && st->linux && st->linux->network == NULL, "namespace not read: no network figures");
    runtime__v1__pod_sandbox_stats__free_unpacked(st, NULL);

    /* the pod's metrics: packed once per sample, copied after */
    size_t ml1, ml2;
    uint8_t *m1 = berth_pod_metrics_pack(s, ps, &ml1);
    const uint8_t *kept = ps->metrics;
    uint8_t *m2 = berth_pod_metrics_pack(s, ps, &ml2);
    Runtime__V1__PodSandboxMetrics *pm = runtime__v1__pod_sandbox_metrics__unpack(NULL, ml2, m2);
    ok(kept && ps->metrics == kept && ml1 == ml2 && memcmp(m1, m2, ml1) == 0 && m2 != kept && pm &&
               strcmp(pm->pod_sandbox_id, s->id) == 0 && pm->n_metrics > 0,
       "pod metrics: packed once per sample, each call gets its own copy");
    if (pm)
        runtime__v1__pod_sandbox_metrics__free_unpacked(pm, NULL);
    berth_pod_stats_set(ps, &cg, 10, NULL, -1);
    ok(ps->metrics == NULL, "a new sample drops them");
    berth_free(m1);
    berth_free(m2);

    berth_free(buf);
    berth_free(b1);
    berth_free(b2);
    berth_pod_stats_free(ps);
    berth_pod_summary_free(s);
}

int main(void)
{
    test_rate();
    test_pack();
    printf("1..%d\n", ntest);
    return nfail != 0;
}
