// SPDX-License-Identifier: Apache-2.0
/*
 * actors/cadvisor: the descriptor table holds cAdvisor's names once each;
 * a container's and a pod's metrics carry the base labels and each
 * metric's own, typed as cAdvisor types them, in whole seconds where
 * cAdvisor counts seconds; figures not read give no metric; container
 * metrics appended to a pod's decode as its container_metrics.
 */
#include <string.h>

#include "actors/cadvisor.h"
#include "engine/alloc.h"
#include "proto/cri.h"
#include "tests/unit/check.h"

static const Runtime__V1__Metric *find(Runtime__V1__Metric **m, size_t n, const char *name,
                                       const char *extra)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i]->name, name) == 0 &&
            (extra == NULL ||
             (m[i]->n_label_values > BERTH_CADVISOR_N_BASE_LABELS &&
              strcmp(m[i]->label_values[BERTH_CADVISOR_N_BASE_LABELS], extra) == 0)))
            return m[i];
    return NULL;
}

static bool has_desc(const char *name)
{
    for (size_t i = 0; i < berth_cadvisor_n_descriptors(); i++)
        if (strcmp(berth_cadvisor_descriptor_name(i), name) == 0)
            return true;
    return false;
}

int main(void)
{
    static const char *const want[] = {
            "container_cpu_usage_seconds_total",
            "container_cpu_user_seconds_total",
            "container_cpu_system_seconds_total",
            "container_memory_usage_bytes",
            "container_memory_working_set_bytes",
            "container_memory_rss",
            "container_memory_cache",
            "container_memory_swap",
            "container_memory_failcnt",
            "container_memory_failures_total",
            "container_oom_events_total",
            "container_processes",
            "container_network_receive_bytes_total",
            "container_network_transmit_bytes_total",
            "container_network_receive_packets_total",
            "container_network_transmit_packets_total",
            "container_network_receive_errors_total",
            "container_network_transmit_errors_total",
            "container_network_receive_packets_dropped_total",
            "container_network_transmit_packets_dropped_total",
            "container_fs_usage_bytes",
            "container_last_seen",
            "container_start_time_seconds",
            "container_spec_memory_limit_bytes",
            "container_spec_cpu_shares",
            "container_spec_cpu_quota",
            "container_spec_cpu_period",
            "container_pressure_cpu_stalled_seconds_total",
            "container_pressure_memory_waiting_seconds_total",
            "container_pressure_io_stalled_seconds_total",
    };
    bool all = true;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!has_desc(want[i])) {
            printf("# missing %s\n", want[i]);
            all = false;
        }
    ok(all, "every metric the kubelet's /metrics/cadvisor readers use is described");
    bool unique = true;
    for (size_t i = 0; i < berth_cadvisor_n_descriptors(); i++)
        for (size_t j = i + 1; j < berth_cadvisor_n_descriptors(); j++)
            unique &= strcmp(berth_cadvisor_descriptor_name(i),
                             berth_cadvisor_descriptor_name(j)) != 0;
    ok(unique && berth_cadvisor_descriptor_name(berth_cadvisor_n_descriptors()) == NULL,
       "each name once; past the end, NULL");

    /* a container with everything */
    berth_cgroups_stats_t cg = {
            .have_cpu = true,
            .cpu_ns = 2500000000ull,
            .have_mem = true,
            .mem_usage = 1000,
            .mem_working_set = 600,
            .have_limit = true,
            .mem_limit = 4096,
            .have_cpu_split = true,
            .cpu_user_ns = 2000000000ull,
            .cpu_sys_ns = 500000000ull,
            .have_throttle = true,
            .cfs_periods = 10,
            .cfs_throttled = 2,
            .cfs_throttled_ns = 3000000000ull,
            .have_cpu_spec = true,
            .cpu_shares = 512,
            .cpu_quota_us = 50000,
            .cpu_period_us = 100000,
            .have_pids = true,
            .pids = 2,
            .have_faults = true,
            .pgfault = 5,
            .pgmajfault = 1,
            .n_blkdevs = 1,
    };
    cg.blkdevs[0] = (berth_cgroups_blkdev_t){8, 0, "/dev/sda", 4096, 8192, 1, 2};
    cg.have_psi[BERTH_CGROUPS_PSI_MEMORY] = true;
    cg.psi[BERTH_CGROUPS_PSI_MEMORY].some.total_us = 3500000;
    berth_cadvisor_entry_t e = {
            .labels = {"web", "/kubepods/pod1/c1", "busybox", "c1", "ns", "pod"},
            .cg = &cg,
            .cg_at = 7000000000ll,
            .start_ns = 5000000000ll,
            .have_layer = true,
            .layer_bytes = 123,
            .layer_at = 6000000000ll,
            .layer_device = "/var/lib/berth",
    };
    size_t len;
    uint8_t *buf = berth_cadvisor_pack_ctr("c1", &e, &len);
    Runtime__V1__ContainerMetrics *cm = runtime__v1__container_metrics__unpack(NULL, len, buf);
    ok(cm && strcmp(cm->container_id, "c1") == 0 && cm->n_metrics > 20,
       "a container's metrics decode");
    Runtime__V1__Metric **m = cm ? cm->metrics : NULL;
    size_t n = cm ? cm->n_metrics : 0;
    const Runtime__V1__Metric *x = find(m, n, "container_cpu_usage_seconds_total", "total");
    check(x && x->value->value == 2 && x->metric_type == RUNTIME__V1__METRIC_TYPE__COUNTER &&
                  x->timestamp == 7000000000ll && x->n_label_values == 7 &&
                  strcmp(x->label_values[0], "web") == 0 && strcmp(x->label_values[5], "pod") == 0,
          "CPU usage: whole seconds, counter, cpu=\"total\", base labels in order");
    x = find(m, n, "container_memory_working_set_bytes", NULL);
    ok(x && x->value->value == 600 && x->metric_type == RUNTIME__V1__METRIC_TYPE__GAUGE &&
               x->n_label_values == 6,
       "working set: a gauge with the base labels");
    x = find(m, n, "container_cpu_cfs_throttled_seconds_total", NULL);
    ok(x && x->value->value == 3, "throttled seconds with a quota");
    x = find(m, n, "container_memory_failures_total", "pgmajfault");
    ok(x && x->n_label_values == 8 && x->value->value == 1, "failures: failure_type and scope");
    x = find(m, n, "container_blkio_device_usage_total", "/dev/sda");
    ok(x && x->n_label_values == 10 && strcmp(x->label_values[7], "8") == 0 &&
               strcmp(x->label_values[8], "0") == 0 && strcmp(x->label_values[9], "Read") == 0 &&
               x->value->value == 4096,
       "blkio device usage: device, major, minor, operation");
    x = find(m, n, "container_fs_usage_bytes", "/var/lib/berth");
    ok(x && x->value->value == 123 && x->timestamp == 6000000000ll,
       "writable layer usage at its own time");
    x = find(m, n, "container_pressure_memory_waiting_seconds_total", NULL);
    ok(x && x->value->value == 3 &&
               !find(m, n, "container_pressure_memory_stalled_seconds_total", NULL) &&
               !find(m, n, "container_pressure_cpu_waiting_seconds_total", NULL),
       "pressure only where read, in seconds; no full line, no stalled");
    ok(find(m, n, "container_memory_swap", NULL) &&
               find(m, n, "container_oom_events_total", NULL) &&
               !find(m, n, "container_memory_rss", NULL) &&
               !find(m, n, "container_network_receive_bytes_total", NULL),
       "swap and OOM counters always with memory; no rss figure, no rss metric; no network");
    x = find(m, n, "container_start_time_seconds", NULL);
    ok(x && x->value->value == 5, "start time in seconds");
    if (cm)
        runtime__v1__container_metrics__free_unpacked(cm, NULL);

    /* a pod: network per interface, no container label */
    berth_netdev_iface_t ifs[2] = {{"eth0", 100, 1, 200, 2, 10, 0, 20, 3},
                                   {"net1", 5, 0, 6, 0, 1, 0, 1, 0}};
    berth_cadvisor_entry_t pe = {
            .labels = {NULL, "/kubepods/pod1", NULL, "p1", "ns", "pod"},
            .cg_at = 7000000000ll,
            .ifaces = ifs,
            .n_ifaces = 2,
            .have_net = true,
    };
    size_t plen;
    uint8_t *pbuf = berth_cadvisor_pack_pod("p1", &pe, &plen);
    const uint8_t *ctrs[] = {buf};
    berth_cadvisor_add_containers(&pbuf, &plen, ctrs, &len, 1);
    Runtime__V1__PodSandboxMetrics *pm = runtime__v1__pod_sandbox_metrics__unpack(NULL, plen, pbuf);
    ok(pm && strcmp(pm->pod_sandbox_id, "p1") == 0 && pm->n_metrics == 16 &&
               pm->n_container_metrics == 1 &&
               strcmp(pm->container_metrics[0]->container_id, "c1") == 0,
       "a pod: eight network metrics per interface, its container appended");
    x = pm ? find(pm->metrics, pm->n_metrics, "container_network_transmit_packets_dropped_total",
                  "eth0")
           : NULL;
    ok(x && x->value->value == 3 && strcmp(x->label_values[0], "") == 0 &&
               strcmp(x->label_values[3], "p1") == 0,
       "network metrics labelled with the interface, container \"\"");
    if (pm)
        runtime__v1__pod_sandbox_metrics__free_unpacked(pm, NULL);
    berth_free(pbuf);
    berth_free(buf);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
