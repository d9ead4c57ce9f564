/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NRI container updates and evictions (docs/nri.md#updates): what plugins
 * ask of containers other than the one a hook is about (the `update` and
 * `evict` lists of CreateContainer, UpdateContainer and StopContainer
 * answers, and the UpdateContainers requests a plugin sends on its own),
 * and of the container being updated at UpdateContainerResources.
 *
 * The lists of every plugin are merged per container: two plugins setting
 * the same limit of the same container conflict, and the call fails naming
 * both (NRI's rule for adjustments, kept for updates). What merges is then
 * applied by a short-lived actor through the containers' own
 * UpdateContainerResources and StopContainer (internal requests marked
 * BERTH_NRI_CALL_METHOD, which do not call the UpdateContainer hook again),
 * so an update is serialised with everything else the container does.
 *
 * Limits berth applies: CPU shares, quota, period, cpuset CPUs and memory
 * nodes, memory limit and swap, huge page limits and cgroup v2 `unified`
 * entries: what the runtime's `update --resources` takes. Anything else in
 * an update (block I/O or RDT classes, devices, pids, memory reservation,
 * kernel memory, swappiness, OOM killer, realtime CPU) is refused naming
 * the plugin, unless the update is ignore_failure, when it is left out
 * and logged.
 */
#ifndef BERTH_ACTORS_NRI_UPDATE_H
#define BERTH_ACTORS_NRI_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "engine/actor.h"
#include "engine/err.h"
#include "io/nrisrv.h"
#include "nri.pb-c.h"

/* The gRPC method name of the internal requests that apply NRI updates. */
#define BERTH_NRI_CALL_METHOD "/berth.nri/ApplyUpdate"
/* An evicted container is stopped with this grace period (seconds). */
#define BERTH_NRI_EVICT_GRACE_S 10
/* Updates not answered within this time count as failed (a container that
 * never gets to them, or two updates waiting on each other). */
#define BERTH_NRI_APPLY_TIMEOUT_NS (30ull * 1000 * 1000 * 1000)

/* One limit set by one plugin. */
typedef struct berth_nri_limit {
    char *field; /* "cpu.shares", "hugepages.2MB", "unified.memory.high" */
    char *owner; /* "10-name" */
} berth_nri_limit_t;

/* Limits for one container, merged from every plugin. Zero or NULL: not
 * set (the runtime keeps the current value). */
typedef struct berth_nri_res {
    int64_t cpu_shares, cpu_quota, cpu_period, memory_limit, memory_swap;
    char *cpuset_cpus, *cpuset_mems;
    char **hugepage_sizes; /* parallel to hugepage_limits */
    uint64_t *hugepage_limits;
    size_t nhugepages;
    char **unified_keys, **unified_values;
    size_t nunified;
} berth_nri_res_t;

typedef struct berth_nri_ctr_update {
    char *id;
    berth_nri_res_t res;
    bool ignore_failure; /* every plugin that updates it said so */
    berth_nri_limit_t *owners;
    size_t nowners;
} berth_nri_ctr_update_t;

typedef struct berth_nri_eviction {
    char *id, *reason, *owner;
} berth_nri_eviction_t;

typedef struct berth_nri_updates {
    berth_nri_ctr_update_t *v;
    size_t n;
    berth_nri_eviction_t *evict;
    size_t nevict;
} berth_nri_updates_t;

/* Merges one plugin's updates and evictions (borrowed) into u. -1 with
 * *err (INVALID_ARGUMENT) for an update without a container id, a limit
 * another plugin already set for the same container, or one berth does
 * not apply (unless ignore_failure: then dropped and logged); u is then
 * partly merged and only good to free. Pure: any thread. */
int berth_nri_updates_add(berth_nri_updates_t *u, const char *plugin,
                          Nri__Pkg__Api__V1alpha1__ContainerUpdate *const *up, size_t n,
                          Nri__Pkg__Api__V1alpha1__ContainerEviction *const *ev, size_t nev,
                          berth_err_t *err);

/* The same from a plugin's packed answer to the hook `event` (enum
 * berth_nri_event: CREATE_CONTAINER, UPDATE_CONTAINER, STOP_CONTAINER;
 * other events carry no updates and add nothing), or, for event 0, a
 * packed UpdateContainersRequest. A malformed message fails INVALID. */
int berth_nri_updates_add_packed(berth_nri_updates_t *u, const char *plugin, int event,
                                 const uint8_t *p, size_t len, berth_err_t *err);

/* Takes container id's update out of u into *out (owned: fini it); false
 * when u has none for it. */
bool berth_nri_updates_take(berth_nri_updates_t *u, const char *id, berth_nri_res_t *out);
/* Whether u asks for anything (an update or an eviction). */
bool berth_nri_updates_any(const berth_nri_updates_t *u);
void berth_nri_updates_fini(berth_nri_updates_t *u);
void berth_nri_res_fini(berth_nri_res_t *r);

/* A copy of req (an UpdateContainerResourcesRequest, borrowed) with res's
 * limits replacing the request's (a plugin's word is the last). Returned
 * owned (berth_cri_free). */
Runtime__V1__UpdateContainerResourcesRequest *
berth_nri_res_overlay(const Runtime__V1__UpdateContainerResourcesRequest *req,
                      const berth_nri_res_t *res);

/* The CRI limits `in` as NRI's LinuxResources, packed as field `field` of
 * a message and appended to b (an UpdateContainerRequest's
 * linux_resources is field 3, appended to a packed pod and container). */
void berth_nri_res_append_cri(uint8_t **buf, size_t *len, uint32_t field,
                              const Runtime__V1__LinuxContainerResources *in);

/* The outcome of applying updates (berth_nri_updates_apply): io/nrisrv.h's
 * message, which a plugin's UpdateContainers is answered from. */
typedef berth_nrisrv_updated_t berth_nri_applied_msg_t;

/* Where the internal requests go: the containers actor. Set once by the
 * daemon before NRI starts; any thread afterwards. */
void berth_nri_update_setup(berth_handle_t containers);

/* berth_nrisrv_config_t's `updates`: a plugin's packed UpdateContainersRequest
 * merged and applied, answered to reply_to (io/nrisrv.h). */
void berth_nri_plugin_updates(const char *plugin, const uint8_t *req, size_t len,
                              berth_handle_t reply_to, uint32_t reply_type, uint64_t tag);

/* Applies u (taken) through the containers: each update as an internal
 * UpdateContainerResources, each eviction as a StopContainer, all at once;
 * then answers reply_to with a berth_nri_applied_msg_t of type reply_type
 * (BERTH_HANDLE_NONE: nobody waits; failures are logged either way). Any
 * actor turn. */
void berth_nri_updates_apply(berth_nri_updates_t *u, berth_handle_t reply_to, uint32_t reply_type,
                             uint64_t tag);

#endif
