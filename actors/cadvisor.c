// SPDX-License-Identifier: Apache-2.0
/*
 * The metrics table and the packers of cadvisor.h. The CRI carries each
 * value as a whole number (UInt64Value), so a figure cAdvisor shows in
 * seconds with a fraction is sent in whole seconds, as CRI-O sends it.
 */
#include "actors/cadvisor.h"

#include <string.h>

#include "actors/cri.h"
#include "engine/alloc.h"
#include "io/bytebuf.h"
#include "io/grpc.h"
#include "proto/cri.h"

/* The labels a metric adds to the base ones. */
enum extra { X_NONE, X_CPU, X_IFACE, X_DEVICE, X_FAILURE, X_BLKIO };

/* The most labels a metric adds (X_BLKIO: device, major, minor, operation). */
#define MAX_EXTRA 4

enum { COUNTER = RUNTIME__V1__METRIC_TYPE__COUNTER, GAUGE = RUNTIME__V1__METRIC_TYPE__GAUGE };

enum metric {
    M_CPU_USAGE,
    M_CPU_USER,
    M_CPU_SYSTEM,
    M_CFS_PERIODS,
    M_CFS_THROTTLED_PERIODS,
    M_CFS_THROTTLED_SECONDS,
    M_MEM_USAGE,
    M_MEM_WORKING_SET,
    M_MEM_RSS,
    M_MEM_CACHE,
    M_MEM_MAPPED_FILE,
    M_MEM_SWAP,
    M_MEM_FAILCNT,
    M_MEM_FAILURES,
    M_OOM_EVENTS,
    M_PROCESSES,
    M_FS_READS_BYTES,
    M_FS_WRITES_BYTES,
    M_FS_READS,
    M_FS_WRITES,
    M_FS_USAGE,
    M_NET_RX_BYTES,
    M_NET_RX_PACKETS,
    M_NET_RX_ERRORS,
    M_NET_RX_DROPPED,
    M_NET_TX_BYTES,
    M_NET_TX_PACKETS,
    M_NET_TX_ERRORS,
    M_NET_TX_DROPPED,
    M_BLKIO_DEVICE_USAGE,
    M_FS_INODES_FREE,
    M_FS_INODES_TOTAL,
    M_FS_LIMIT,
    M_MEM_KERNEL,
    M_MEM_MAX_USAGE,
    M_FILE_DESCRIPTORS,
    M_SOCKETS,
    M_THREADS,
    M_THREADS_MAX,
    M_LAST_SEEN,
    M_START_TIME,
    M_SPEC_MEM_LIMIT,
    M_SPEC_SWAP_LIMIT,
    M_SPEC_MEM_RESERVATION,
    M_SPEC_CPU_SHARES,
    M_SPEC_CPU_QUOTA,
    M_SPEC_CPU_PERIOD,
    M_PSI_CPU_STALLED,
    M_PSI_CPU_WAITING,
    M_PSI_MEM_STALLED,
    M_PSI_MEM_WAITING,
    M_PSI_IO_STALLED,
    M_PSI_IO_WAITING,
    N_METRICS
};

static const struct desc {
    const char *name, *help;
    int type;  /* COUNTER or GAUGE, as cAdvisor types it */
    int extra; /* enum extra */
} descs[N_METRICS] = {
        [M_CPU_USAGE] = {"container_cpu_usage_seconds_total",
                         "CPU time used by the cgroup, in seconds (cpu=\"total\": all CPUs)",
                         COUNTER, X_CPU},
        [M_CPU_USER] = {"container_cpu_user_seconds_total", "CPU time used in user mode, seconds",
                        COUNTER, X_NONE},
        [M_CPU_SYSTEM] = {"container_cpu_system_seconds_total",
                          "CPU time used in kernel mode, seconds", COUNTER, X_NONE},
        [M_CFS_PERIODS] = {"container_cpu_cfs_periods_total",
                           "CFS bandwidth enforcement periods that have elapsed", COUNTER, X_NONE},
        [M_CFS_THROTTLED_PERIODS] = {"container_cpu_cfs_throttled_periods_total",
                                     "CFS periods in which the cgroup was throttled", COUNTER,
                                     X_NONE},
        [M_CFS_THROTTLED_SECONDS] = {"container_cpu_cfs_throttled_seconds_total",
                                     "Time the cgroup spent throttled by its CPU quota, seconds",
                                     COUNTER, X_NONE},
        [M_MEM_USAGE] = {"container_memory_usage_bytes",
                         "Memory charged to the cgroup, page cache included, bytes", GAUGE, X_NONE},
        [M_MEM_WORKING_SET] = {"container_memory_working_set_bytes",
                               "Memory usage less the inactive file cache, bytes", GAUGE, X_NONE},
        [M_MEM_RSS] = {"container_memory_rss", "Anonymous memory (RSS), bytes", GAUGE, X_NONE},
        [M_MEM_CACHE] = {"container_memory_cache", "Page cache, bytes", GAUGE, X_NONE},
        [M_MEM_MAPPED_FILE] = {"container_memory_mapped_file", "Memory-mapped files, bytes", GAUGE,
                               X_NONE},
        [M_MEM_SWAP] = {"container_memory_swap", "Swap used by the cgroup, bytes", GAUGE, X_NONE},
        [M_MEM_FAILCNT] = {"container_memory_failcnt",
                           "Times the cgroup's memory usage hit its limit", COUNTER, X_NONE},
        [M_MEM_FAILURES] = {"container_memory_failures_total",
                            "Page faults (failure_type pgfault or pgmajfault)", COUNTER, X_FAILURE},
        [M_OOM_EVENTS] = {"container_oom_events_total",
                          "Processes of the cgroup killed by the OOM killer", COUNTER, X_NONE},
        [M_PROCESSES] = {"container_processes", "Tasks in the cgroup (pids.current)", GAUGE,
                         X_NONE},
        [M_FS_READS_BYTES] = {"container_fs_reads_bytes_total", "Bytes read from the block device",
                              COUNTER, X_DEVICE},
        [M_FS_WRITES_BYTES] = {"container_fs_writes_bytes_total",
                               "Bytes written to the block device", COUNTER, X_DEVICE},
        [M_FS_READS] = {"container_fs_reads_total", "Reads completed on the block device", COUNTER,
                        X_DEVICE},
        [M_FS_WRITES] = {"container_fs_writes_total", "Writes completed on the block device",
                         COUNTER, X_DEVICE},
        [M_FS_USAGE] = {"container_fs_usage_bytes", "Bytes used by the writable layer", GAUGE,
                        X_DEVICE},
        [M_NET_RX_BYTES] = {"container_network_receive_bytes_total", "Bytes received", COUNTER,
                            X_IFACE},
        [M_NET_RX_PACKETS] = {"container_network_receive_packets_total", "Packets received",
                              COUNTER, X_IFACE},
        [M_NET_RX_ERRORS] = {"container_network_receive_errors_total", "Receive errors", COUNTER,
                             X_IFACE},
        [M_NET_RX_DROPPED] = {"container_network_receive_packets_dropped_total",
                              "Packets dropped on receive", COUNTER, X_IFACE},
        [M_NET_TX_BYTES] = {"container_network_transmit_bytes_total", "Bytes transmitted", COUNTER,
                            X_IFACE},
        [M_NET_TX_PACKETS] = {"container_network_transmit_packets_total", "Packets transmitted",
                              COUNTER, X_IFACE},
        [M_NET_TX_ERRORS] = {"container_network_transmit_errors_total", "Transmit errors", COUNTER,
                             X_IFACE},
        [M_NET_TX_DROPPED] = {"container_network_transmit_packets_dropped_total",
                              "Packets dropped on transmit", COUNTER, X_IFACE},
        [M_BLKIO_DEVICE_USAGE] = {"container_blkio_device_usage_total",
                                  "Bytes read (operation Read) or written (Write) on the device",
                                  COUNTER, X_BLKIO},
        [M_FS_INODES_FREE] = {"container_fs_inodes_free",
                              "Free inodes of the writable layers' filesystem", GAUGE, X_DEVICE},
        [M_FS_INODES_TOTAL] = {"container_fs_inodes_total",
                               "Inodes of the writable layers' filesystem", GAUGE, X_DEVICE},
        [M_FS_LIMIT] = {"container_fs_limit_bytes",
                        "Size of the writable layers' filesystem, bytes", GAUGE, X_DEVICE},
        [M_MEM_KERNEL] = {"container_memory_kernel_usage",
                          "Kernel memory charged to the cgroup, bytes", GAUGE, X_NONE},
        [M_MEM_MAX_USAGE] = {"container_memory_max_usage_bytes", "Highest memory usage seen, bytes",
                             GAUGE, X_NONE},
        [M_FILE_DESCRIPTORS] = {"container_file_descriptors",
                                "Open file descriptors of the cgroup's processes", GAUGE, X_NONE},
        [M_SOCKETS] = {"container_sockets", "Open sockets of the cgroup's processes", GAUGE,
                       X_NONE},
        [M_THREADS] = {"container_threads", "Threads in the cgroup", GAUGE, X_NONE},
        [M_THREADS_MAX] = {"container_threads_max", "The cgroup's pids limit (0: none)", GAUGE,
                           X_NONE},
        [M_LAST_SEEN] = {"container_last_seen",
                         "When berth last read the figures, seconds since the epoch", GAUGE,
                         X_NONE},
        [M_START_TIME] = {"container_start_time_seconds",
                          "When the container or pod was created, seconds since the epoch", GAUGE,
                          X_NONE},
        [M_SPEC_MEM_LIMIT] = {"container_spec_memory_limit_bytes",
                              "Memory limit of the cgroup, bytes (0: none)", GAUGE, X_NONE},
        [M_SPEC_SWAP_LIMIT] = {"container_spec_memory_swap_limit_bytes",
                               "Swap limit of the cgroup, bytes (0: none)", GAUGE, X_NONE},
        [M_SPEC_MEM_RESERVATION] = {"container_spec_memory_reservation_limit_bytes",
                                    "Memory reservation of the cgroup, bytes (0: none)", GAUGE,
                                    X_NONE},
        [M_SPEC_CPU_SHARES] = {"container_spec_cpu_shares", "CPU shares of the cgroup", GAUGE,
                               X_NONE},
        [M_SPEC_CPU_QUOTA] = {"container_spec_cpu_quota",
                              "CFS quota of the cgroup, microseconds per period", GAUGE, X_NONE},
        [M_SPEC_CPU_PERIOD] = {"container_spec_cpu_period",
                               "CFS period of the cgroup, microseconds", GAUGE, X_NONE},
        [M_PSI_CPU_STALLED] = {"container_pressure_cpu_stalled_seconds_total",
                               "Time all non-idle tasks were stalled on CPU (PSI full), seconds",
                               COUNTER, X_NONE},
        [M_PSI_CPU_WAITING] = {"container_pressure_cpu_waiting_seconds_total",
                               "Time some tasks waited for CPU (PSI some), seconds", COUNTER,
                               X_NONE},
        [M_PSI_MEM_STALLED] = {"container_pressure_memory_stalled_seconds_total",
                               "Time all non-idle tasks were stalled on memory (PSI full), seconds",
                               COUNTER, X_NONE},
        [M_PSI_MEM_WAITING] = {"container_pressure_memory_waiting_seconds_total",
                               "Time some tasks waited for memory (PSI some), seconds", COUNTER,
                               X_NONE},
        [M_PSI_IO_STALLED] = {"container_pressure_io_stalled_seconds_total",
                              "Time all non-idle tasks were stalled on I/O (PSI full), seconds",
                              COUNTER, X_NONE},
        [M_PSI_IO_WAITING] = {"container_pressure_io_waiting_seconds_total",
                              "Time some tasks waited for I/O (PSI some), seconds", COUNTER,
                              X_NONE},
};

static const char *const base_keys[BERTH_CADVISOR_N_BASE_LABELS] = {
        "container", "id", "image", "name", "namespace", "pod",
};

size_t berth_cadvisor_n_descriptors(void)
{
    return N_METRICS;
}

const char *berth_cadvisor_descriptor_name(size_t i)
{
    return i < N_METRICS ? descs[i].name : NULL;
}

/* The keys a metric adds (at most MAX_EXTRA). */
static int extra_keys(int extra, const char *out[MAX_EXTRA])
{
    switch (extra) {
    case X_CPU:
        out[0] = "cpu";
        return 1;
    case X_IFACE:
        out[0] = "interface";
        return 1;
    case X_DEVICE:
        out[0] = "device";
        return 1;
    case X_FAILURE:
        out[0] = "failure_type";
        out[1] = "scope";
        return 2;
    case X_BLKIO:
        out[0] = "device";
        out[1] = "major";
        out[2] = "minor";
        out[3] = "operation";
        return 4;
    default:
        return 0;
    }
}

void berth_cadvisor_reply_descriptors(berth_grpc_call_t *call)
{
    Runtime__V1__MetricDescriptor d[N_METRICS], *dp[N_METRICS];
    char *keys[N_METRICS][BERTH_CADVISOR_N_BASE_LABELS + MAX_EXTRA];
    for (int i = 0; i < N_METRICS; i++) {
        runtime__v1__metric_descriptor__init(&d[i]);
        d[i].name = (char *)descs[i].name;
        d[i].help = (char *)descs[i].help;
        for (int k = 0; k < BERTH_CADVISOR_N_BASE_LABELS; k++)
            keys[i][k] = (char *)base_keys[k];
        const char *x[MAX_EXTRA];
        int nx = extra_keys(descs[i].extra, x);
        for (int k = 0; k < nx; k++)
            keys[i][BERTH_CADVISOR_N_BASE_LABELS + k] = (char *)x[k];
        d[i].n_label_keys = (size_t)(BERTH_CADVISOR_N_BASE_LABELS + nx);
        d[i].label_keys = keys[i];
        dp[i] = &d[i];
    }
    Runtime__V1__ListMetricDescriptorsResponse resp =
            RUNTIME__V1__LIST_METRIC_DESCRIPTORS_RESPONSE__INIT;
    resp.n_descriptors = N_METRICS;
    resp.descriptors = dp;
    berth_cri_reply(call, &resp.base);
}

/* ---- building one entry's metrics ---- */

/* The metrics of one entry, built in arrays sized for it; strings are
 * borrowed from the entry and from static tables. */
typedef struct mset {
    const berth_cadvisor_entry_t *e;
    Runtime__V1__Metric *m;
    Runtime__V1__Metric **mp;
    Runtime__V1__UInt64Value *v;
    char **labels;       /* (BASE + MAX_EXTRA) per metric */
    char (*nums)[2][12]; /* per metric: the major and minor numbers as text */
    size_t n, cap;
} mset_t;

static void add_x(mset_t *s, int which, uint64_t value, int64_t at, const char *const *x)
{
    if (s->n == s->cap)
        return; /* sized for the most an entry can give: never reached */
    size_t i = s->n++;
    Runtime__V1__Metric *m = &s->m[i];
    runtime__v1__metric__init(m);
    runtime__v1__uint64_value__init(&s->v[i]);
    s->v[i].value = value;
    m->name = (char *)descs[which].name;
    m->timestamp = at;
    m->metric_type = (Runtime__V1__MetricType)descs[which].type;
    m->value = &s->v[i];
    char **l = &s->labels[i * (BERTH_CADVISOR_N_BASE_LABELS + MAX_EXTRA)];
    for (int k = 0; k < BERTH_CADVISOR_N_BASE_LABELS; k++)
        l[k] = (char *)(s->e->labels[k] ? s->e->labels[k] : "");
    const char *dummy[MAX_EXTRA];
    int nx = extra_keys(descs[which].extra, dummy);
    for (int k = 0; k < nx; k++)
        l[BERTH_CADVISOR_N_BASE_LABELS + k] = (char *)(x && x[k] ? x[k] : "");
    m->n_label_values = (size_t)(BERTH_CADVISOR_N_BASE_LABELS + nx);
    m->label_values = l;
    s->mp[i] = m;
}

static void add(mset_t *s, int which, uint64_t value, int64_t at, const char *x0, const char *x1)
{
    const char *x[MAX_EXTRA] = {x0, x1};
    add_x(s, which, value, at, x);
}

/* container_blkio_device_usage_total of one device and operation. */
static void add_blkio(mset_t *s, const berth_cgroups_blkdev_t *d, const char *op, uint64_t v,
                      int64_t at)
{
    if (s->n == s->cap)
        return;
    char(*num)[12] = s->nums[s->n];
    snprintf(num[0], sizeof(num[0]), "%u", d->major);
    snprintf(num[1], sizeof(num[1]), "%u", d->minor);
    const char *x[MAX_EXTRA] = {d->name, num[0], num[1], op};
    add_x(s, M_BLKIO_DEVICE_USAGE, v, at, x);
}

#define NS_PER_S 1000000000ull

static void add_cgroup(mset_t *s, const berth_cgroups_stats_t *cg, int64_t at)
{
    if (cg->have_cpu)
        add(s, M_CPU_USAGE, cg->cpu_ns / NS_PER_S, at, "total", NULL);
    if (cg->have_cpu_split) {
        add(s, M_CPU_USER, cg->cpu_user_ns / NS_PER_S, at, NULL, NULL);
        add(s, M_CPU_SYSTEM, cg->cpu_sys_ns / NS_PER_S, at, NULL, NULL);
    }
    /* as cAdvisor: throttling figures only for a cgroup with a quota */
    if (cg->have_throttle && cg->have_cpu_spec && cg->cpu_quota_us > 0) {
        add(s, M_CFS_PERIODS, cg->cfs_periods, at, NULL, NULL);
        add(s, M_CFS_THROTTLED_PERIODS, cg->cfs_throttled, at, NULL, NULL);
        add(s, M_CFS_THROTTLED_SECONDS, cg->cfs_throttled_ns / NS_PER_S, at, NULL, NULL);
    }
    if (cg->have_mem) {
        add(s, M_MEM_USAGE, cg->mem_usage, at, NULL, NULL);
        add(s, M_MEM_WORKING_SET, cg->mem_working_set, at, NULL, NULL);
        add(s, M_SPEC_MEM_LIMIT, cg->have_limit ? cg->mem_limit : 0, at, NULL, NULL);
    }
    if (cg->have_rss)
        add(s, M_MEM_RSS, cg->mem_rss, at, NULL, NULL);
    if (cg->have_cache) {
        add(s, M_MEM_CACHE, cg->mem_cache, at, NULL, NULL);
        add(s, M_MEM_MAPPED_FILE, cg->mem_mapped_file, at, NULL, NULL);
    }
    if (cg->have_mem) {
        /* as cAdvisor: 0 where the kernel does not account swap or does
         * not count OOM kills */
        add(s, M_MEM_SWAP, cg->have_swap ? cg->swap_usage : 0, at, NULL, NULL);
        add(s, M_SPEC_SWAP_LIMIT, cg->have_swap_limit ? cg->swap_limit : 0, at, NULL, NULL);
        add(s, M_OOM_EVENTS, cg->have_oom ? cg->oom_kills : 0, at, NULL, NULL);
    }
    if (cg->have_failcnt)
        add(s, M_MEM_FAILCNT, cg->failcnt, at, NULL, NULL);
    if (cg->have_kmem)
        add(s, M_MEM_KERNEL, cg->kmem, at, NULL, NULL);
    if (cg->have_max_usage)
        add(s, M_MEM_MAX_USAGE, cg->max_usage, at, NULL, NULL);
    if (cg->have_reservation)
        add(s, M_SPEC_MEM_RESERVATION, cg->mem_reservation, at, NULL, NULL);
    if (cg->have_threads) {
        add(s, M_THREADS, cg->threads, at, NULL, NULL);
        add(s, M_THREADS_MAX, cg->threads_max, at, NULL, NULL);
    }
    if (cg->have_fds) {
        add(s, M_FILE_DESCRIPTORS, cg->fds, at, NULL, NULL);
        add(s, M_SOCKETS, cg->sockets, at, NULL, NULL);
    }
    if (cg->have_faults) {
        /* berth reads the hierarchical counters only: both scopes show them */
        static const char *const scopes[] = {"container", "hierarchy"};
        for (int k = 0; k < 2; k++) {
            add(s, M_MEM_FAILURES, cg->pgfault, at, "pgfault", scopes[k]);
            add(s, M_MEM_FAILURES, cg->pgmajfault, at, "pgmajfault", scopes[k]);
        }
    }
    if (cg->have_pids)
        add(s, M_PROCESSES, cg->pids, at, NULL, NULL);
    for (size_t i = 0; i < cg->n_blkdevs; i++) {
        const berth_cgroups_blkdev_t *d = &cg->blkdevs[i];
        add(s, M_FS_READS_BYTES, d->rbytes, at, d->name, NULL);
        add(s, M_FS_WRITES_BYTES, d->wbytes, at, d->name, NULL);
        add(s, M_FS_READS, d->rios, at, d->name, NULL);
        add(s, M_FS_WRITES, d->wios, at, d->name, NULL);
        add_blkio(s, d, "Read", d->rbytes, at);
        add_blkio(s, d, "Write", d->wbytes, at);
    }
    if (cg->have_cpu_spec) {
        add(s, M_SPEC_CPU_SHARES, cg->cpu_shares, at, NULL, NULL);
        add(s, M_SPEC_CPU_PERIOD, cg->cpu_period_us, at, NULL, NULL);
        if (cg->cpu_quota_us > 0)
            add(s, M_SPEC_CPU_QUOTA, cg->cpu_quota_us, at, NULL, NULL);
    }
    static const int stalled[BERTH_CGROUPS_N_PSI] = {M_PSI_CPU_STALLED, M_PSI_MEM_STALLED,
                                                     M_PSI_IO_STALLED};
    static const int waiting[BERTH_CGROUPS_N_PSI] = {M_PSI_CPU_WAITING, M_PSI_MEM_WAITING,
                                                     M_PSI_IO_WAITING};
    for (int i = 0; i < BERTH_CGROUPS_N_PSI; i++) {
        if (!cg->have_psi[i])
            continue;
        if (cg->psi[i].have_full)
            add(s, stalled[i], cg->psi[i].full.total_us / 1000000, at, NULL, NULL);
        add(s, waiting[i], cg->psi[i].some.total_us / 1000000, at, NULL, NULL);
    }
}

static void add_net(mset_t *s, const berth_netdev_iface_t *it, int64_t at)
{
    add(s, M_NET_RX_BYTES, it->rx_bytes, at, it->name, NULL);
    add(s, M_NET_RX_PACKETS, it->rx_packets, at, it->name, NULL);
    add(s, M_NET_RX_ERRORS, it->rx_errors, at, it->name, NULL);
    add(s, M_NET_RX_DROPPED, it->rx_dropped, at, it->name, NULL);
    add(s, M_NET_TX_BYTES, it->tx_bytes, at, it->name, NULL);
    add(s, M_NET_TX_PACKETS, it->tx_packets, at, it->name, NULL);
    add(s, M_NET_TX_ERRORS, it->tx_errors, at, it->name, NULL);
    add(s, M_NET_TX_DROPPED, it->tx_dropped, at, it->name, NULL);
}

/* Builds e's metrics into s (arrays owned by s: mset_fini frees them). */
static void mset_build(mset_t *s, const berth_cadvisor_entry_t *e)
{
    memset(s, 0, sizeof(*s));
    s->e = e;
    s->cap = N_METRICS + 4 /* the failure scopes */ + 4 * (e->cg ? e->cg->n_blkdevs : 0) +
             8 * (e->have_net ? e->n_ifaces : 0);
    s->m = berth_calloc(s->cap, sizeof(*s->m));
    s->mp = berth_calloc(s->cap, sizeof(*s->mp));
    s->v = berth_calloc(s->cap, sizeof(*s->v));
    s->labels =
            berth_calloc(s->cap * (BERTH_CADVISOR_N_BASE_LABELS + MAX_EXTRA), sizeof(*s->labels));
    s->nums = berth_calloc(s->cap, sizeof(*s->nums));
    int64_t at = e->cg_at;
    if (e->cg && (e->cg->have_cpu || e->cg->have_mem)) {
        add_cgroup(s, e->cg, at);
        add(s, M_LAST_SEEN, (uint64_t)at / NS_PER_S, at, NULL, NULL);
        if (e->start_ns > 0)
            add(s, M_START_TIME, (uint64_t)e->start_ns / NS_PER_S, at, NULL, NULL);
    }
    for (size_t i = 0; e->have_net && i < e->n_ifaces; i++)
        add_net(s, &e->ifaces[i], at);
    if (e->have_layer)
        add(s, M_FS_USAGE, e->layer_bytes, e->layer_at, e->layer_device, NULL);
    if (e->have_fs) {
        add(s, M_FS_LIMIT, e->fs_bytes, e->layer_at, e->layer_device, NULL);
        add(s, M_FS_INODES_TOTAL, e->fs_inodes, e->layer_at, e->layer_device, NULL);
        add(s, M_FS_INODES_FREE, e->fs_inodes_free, e->layer_at, e->layer_device, NULL);
    }
}

static void mset_fini(mset_t *s)
{
    berth_free(s->m);
    berth_free(s->mp);
    berth_free(s->v);
    berth_free(s->labels);
    berth_free(s->nums);
}

uint8_t *berth_cadvisor_pack_pod(const char *pod_id, const berth_cadvisor_entry_t *e, size_t *len)
{
    mset_t s;
    mset_build(&s, e);
    Runtime__V1__PodSandboxMetrics pm = RUNTIME__V1__POD_SANDBOX_METRICS__INIT;
    pm.pod_sandbox_id = (char *)pod_id;
    pm.n_metrics = s.n;
    pm.metrics = s.mp;
    uint8_t *buf = berth_cri_pack(&pm.base, len);
    mset_fini(&s);
    return buf;
}

uint8_t *berth_cadvisor_pack_ctr(const char *ctr_id, const berth_cadvisor_entry_t *e, size_t *len)
{
    mset_t s;
    mset_build(&s, e);
    Runtime__V1__ContainerMetrics cm = RUNTIME__V1__CONTAINER_METRICS__INIT;
    cm.container_id = (char *)ctr_id;
    cm.n_metrics = s.n;
    cm.metrics = s.mp;
    uint8_t *buf = berth_cri_pack(&cm.base, len);
    mset_fini(&s);
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

void berth_cadvisor_add_containers(uint8_t **item, size_t *len, const uint8_t *const *ctrs,
                                   const size_t *lens, size_t n)
{
    if (n == 0)
        return;
    berth_bytebuf_t out = {0};
    berth_bytebuf_put(&out, *item, *len);
    for (size_t i = 0; i < n; i++) {
        /* PodSandboxMetrics.container_metrics: field 3, length-delimited */
        put_varint(&out, 3u << 3 | 2);
        put_varint(&out, lens[i]);
        berth_bytebuf_put(&out, ctrs[i], lens[i]);
    }
    berth_free(*item);
    *item = out.data;
    *len = out.len;
}

void berth_cadvisor_reply(berth_grpc_call_t *call, bool stream, uint8_t *const *items,
                          const size_t *lens, size_t n)
{
    BERTH_AUTO_FREE berth_cri_packed_t *v = berth_calloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = (berth_cri_packed_t){items[i], lens[i]};
    berth_cri_reply_packed(call, stream,
                           &runtime__v1__list_pod_sandbox_metrics_response__descriptor,
                           &runtime__v1__stream_pod_sandbox_metrics_response__descriptor, v, n);
}
