/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A pod's PodSandboxStats as the pods manager answers it: the figures of
 * the pod's cgroup (its cgroup_parent: CPU, memory, tasks) and of its
 * network namespace's interfaces, sampled by a pool job and kept with the
 * pod's listing summary, and the CPU rate taken between two such samples,
 * so a call never reads a file and two calls never make a rate. The pod's
 * containers are added by the containers manager (ctrmsg.h). Used in the
 * pods manager's turns only.
 */
#ifndef BERTH_ACTORS_PODSTATS_H
#define BERTH_ACTORS_PODSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/cgroups.h"
#include "io/netdev.h"

struct berth_pod_summary;

/* The interfaces kept per pod; a pod with more shows the first ones. */
#define BERTH_POD_STATS_MAX_IFACES 16

typedef struct berth_pod_stats {
    berth_cgroups_reader_t *reader; /* the pod cgroup's (a reference), or NULL */
    berth_cgroups_stats_t cg;       /* the last sample; all zero before one */
    int64_t cg_at;                  /* its wall time (ns); 0: never sampled */
    /* The CPU rate between the last two samples that both had a CPU
     * figure: what UsageNanoCores reports. */
    bool have_nano;
    uint64_t nano_cores;
    bool have_net; /* the namespace was read at cg_at */
    size_t n_ifaces;
    berth_netdev_iface_t ifaces[BERTH_POD_STATS_MAX_IFACES];
    /* The pod's PodSandboxMetrics of this sample, packed once (owned;
     * NULL: not packed since the last sample). */
    uint8_t *metrics;
    size_t metrics_len;
} berth_pod_stats_t;

berth_pod_stats_t *berth_pod_stats_new(void);
void berth_pod_stats_free(berth_pod_stats_t *ps); /* NULL: nothing */

/* Records a sample taken at wall time `at` (ns): the cgroup's figures (st,
 * copied) and the interfaces (n of them; n < 0: the namespace could not be
 * read, or the pod has none of its own). The CPU rate is taken from the
 * previous sample when both have a CPU figure, time moved forward and the
 * counter did not go back (a new cgroup). */
void berth_pod_stats_set(berth_pod_stats_t *ps, const berth_cgroups_stats_t *st, int64_t at,
                         const berth_netdev_iface_t *ifaces, int n);

/* Whether ps is due a sample at `now`: never sampled, or sampled at least
 * half of `interval` (ns) ago. */
bool berth_pod_stats_due(const berth_pod_stats_t *ps, int64_t now, int64_t interval);

/* s's PodSandboxStats (attributes from the summary; figures from ps, which
 * may be NULL: attributes only), packed: returned owned, *len its size. The
 * default interface is eth0 when the pod has one, else the first. */
uint8_t *berth_pod_stats_pack(const struct berth_pod_summary *s, const berth_pod_stats_t *ps,
                              size_t *len);

/* Which call a pod stats answer is for. */
enum berth_pod_stats_kind {
    BERTH_POD_STATS_ONE,      /* PodSandboxStats */
    BERTH_POD_STATS_LIST,     /* ListPodSandboxStats */
    BERTH_POD_STATS_STREAM,   /* StreamPodSandboxStats */
    BERTH_POD_METRICS_LIST,   /* ListPodSandboxMetrics (cadvisor.h) */
    BERTH_POD_METRICS_STREAM, /* StreamPodSandboxMetrics */
};

/* Whether kind is one of the metrics calls. */
static inline bool berth_pod_stats_kind_metrics(int kind)
{
    return kind == BERTH_POD_METRICS_LIST || kind == BERTH_POD_METRICS_STREAM;
}

/* s's PodSandboxMetrics (cadvisor.h: the pod cgroup's figures and the
 * network interfaces', labelled container "", the pod's cgroup as id, the
 * sandbox ID as name), no container yet, packed: returned owned, *len its
 * size. ps NULL or never sampled: no metrics, only the ID. Packed once per
 * sample and kept in ps (the labels come from s, which a pod's stats
 * follow only while its cgroup and namespace stay the same): later calls
 * copy it. */
uint8_t *berth_pod_metrics_pack(const struct berth_pod_summary *s, berth_pod_stats_t *ps,
                                size_t *len);

/* Appends the pod's containers' stats (n packed ContainerStats) to a packed
 * PodSandboxStats (*item, *len; replaced by a new owned buffer) without
 * unpacking it: as a second linux field holding only the containers, which
 * a protobuf reader merges into the first (repeated fields concatenate). */
void berth_pod_stats_add_containers(uint8_t **item, size_t *len, const uint8_t *const *ctrs,
                                    const size_t *lens, size_t n);

/* Answers the call with the n packed PodSandboxStats: one
 * PodSandboxStatsResponse (the first item; n is 1), one
 * ListPodSandboxStatsResponse, or one StreamPodSandboxStatsResponse per item
 * and then OK; for the metrics kinds, the n packed PodSandboxMetrics
 * likewise (berth_cadvisor_reply). Items stay the caller's. */
struct berth_grpc_call;
void berth_pod_stats_reply(struct berth_grpc_call *call, int kind, uint8_t *const *items,
                           const size_t *lens, size_t n);

#endif
