/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cAdvisor's container metrics from the CRI: the descriptors
 * ListMetricDescriptors answers (names, help and label keys as cAdvisor
 * shows them under the kubelet's /metrics/cadvisor) and the Metric
 * messages of a pod's and a container's figures that ListPodSandboxMetrics
 * and StreamPodSandboxMetrics answer, so the kubelet with
 * PodAndContainerStatsFromCRI serves /metrics/cadvisor without cAdvisor.
 * Every figure comes from a sample the pods and containers managers took
 * on the pool (podstats.h, ctrstats.h): packing reads no file. Pure; used
 * in actor turns.
 */
#ifndef BERTH_ACTORS_CADVISOR_H
#define BERTH_ACTORS_CADVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/cgroups.h"
#include "io/netdev.h"

struct berth_grpc_call;

/* The label keys every metric starts with, in this order (cAdvisor's under
 * the kubelet): container (the CRI container name, "" for a pod), id (the
 * cgroup path), image, name (the container or pod sandbox ID), namespace
 * and pod. Some metrics add their own (cpu, interface, device,
 * failure_type and scope, or device, major, minor and operation). */
#define BERTH_CADVISOR_N_BASE_LABELS 6

/* The figures of one entry: a pod (its cgroup and its network namespace's
 * interfaces) or a container (its cgroup and its writable layer). All
 * borrowed. */
typedef struct berth_cadvisor_entry {
    const char *labels[BERTH_CADVISOR_N_BASE_LABELS]; /* NULL: "" */
    const berth_cgroups_stats_t *cg;                  /* NULL: no cgroup figures */
    int64_t cg_at;                                    /* their wall time (ns) */
    int64_t start_ns;                                 /* creation, ns since the epoch; 0: none */
    const berth_netdev_iface_t *ifaces;               /* have_net: n_ifaces of them */
    size_t n_ifaces;
    bool have_net;
    bool have_layer; /* the writable layer's usage */
    uint64_t layer_bytes;
    int64_t layer_at;
    const char *layer_device; /* the device label of the container_fs_* metrics */
    /* The writable layers' filesystem (statvfs), measured with the layer. */
    bool have_fs;
    uint64_t fs_bytes, fs_inodes, fs_inodes_free;
} berth_cadvisor_entry_t;

/* A pod's PodSandboxMetrics (pod_sandbox_id and the pod's own metrics,
 * no container yet), packed: returned owned, *len its size. */
uint8_t *berth_cadvisor_pack_pod(const char *pod_id, const berth_cadvisor_entry_t *e, size_t *len);

/* A container's ContainerMetrics, packed: returned owned, *len its size. */
uint8_t *berth_cadvisor_pack_ctr(const char *ctr_id, const berth_cadvisor_entry_t *e, size_t *len);

/* Appends n packed ContainerMetrics to a packed PodSandboxMetrics (*item,
 * *len; replaced by a new owned buffer) as its container_metrics field. */
void berth_cadvisor_add_containers(uint8_t **item, size_t *len, const uint8_t *const *ctrs,
                                   const size_t *lens, size_t n);

/* Answers ListPodSandboxMetrics (one response with all n items) or
 * StreamPodSandboxMetrics (`stream`: one message per item, then OK). Items
 * stay the caller's. */
void berth_cadvisor_reply(struct berth_grpc_call *call, bool stream, uint8_t *const *items,
                          const size_t *lens, size_t n);

/* Answers ListMetricDescriptors: every metric this module may send,
 * whether or not the node gives its figures (the list must not change
 * while berthd runs: the kubelet reads it once). */
void berth_cadvisor_reply_descriptors(struct berth_grpc_call *call);

/* The number of descriptors and the name of the i-th, for tests. */
size_t berth_cadvisor_n_descriptors(void);
const char *berth_cadvisor_descriptor_name(size_t i);

#endif
