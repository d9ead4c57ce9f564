/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI rules of a pod's user namespace (NamespaceOption.userns_options,
 * Kubernetes `hostUsers: false`): which modes and mappings RunPodSandbox
 * accepts, and the mappings a pod in POD mode gets. Pure functions of the
 * request; any context.
 */
#ifndef BERTH_ACTORS_PODUSERS_H
#define BERTH_ACTORS_PODUSERS_H

#include <stdbool.h>

#include "api.pb-c.h"
#include "engine/err.h"
#include "io/userns.h"

/* Checks a pod's namespace options (NULL: none) for RunPodSandbox: NODE
 * (or no userns_options) is the node's user namespace; POD needs uid and
 * gid mappings that pass berth_idmap_check (disjoint extents mapping
 * container ID 0, host ID 0 left out), the pod's own IPC and PID namespaces (the node's network is
 * allowed: user_namespaces_host_network), and a kernel that
 * passed the idmap probe (FAILED_PRECONDITION otherwise); CONTAINER and
 * TARGET are refused, as the CRI says. -1 with *err (INVALID_ARGUMENT)
 * naming the field. */
int berth_podusers_check(const Runtime__V1__NamespaceOption *ns, berth_err_t *err);

/* True when the pod asks for a user namespace of its own (POD mode) with
 * 1 to BERTH_IDMAP_MAX extents each; then *uid and *gid get its mappings
 * (checked by berth_podusers_check). */
bool berth_podusers_maps(const Runtime__V1__PodSandboxConfig *c, berth_idmaps_t *uid,
                         berth_idmaps_t *gid);

/* CRI-O's annotation asking for a user namespace berth picks the IDs of. */
#define BERTH_USERNS_MODE_ANNOTATION "io.kubernetes.cri-o.userns-mode"
/* The IDs an "auto" pod gets when the annotation names no size (CRI-O's). */
#define BERTH_USERNS_AUTO_SIZE 65536

/* What "auto:..." asks for. keep_id: the pod's runAsUser (runAsGroup,
 * supplemental groups) is the same ID inside and on the node; map_to_root:
 * container ID 0 is the node's runAsUser (runAsGroup). Either way the rest
 * of container IDs [0, size) comes from the "containers" ranges. */
typedef struct berth_userns_auto {
    uint32_t size;
    bool keep_id, map_to_root;
} berth_userns_auto_t;

/* Reads the annotation's value: "auto" or "auto:" and options, separated by
 * ';' (CRI-O's separator) or ',': size=N (1 <= N <= 2^31), keep-id[=true|
 * false], map-to-root[=true|false] (not both): 1 with *o; "" (the node's
 * user namespace, as CRI-O reads it): 0. CRI-O's uidmapping= and
 * gidmapping= (host IDs the pod picks) are UNSUPPORTED; an unknown
 * option, a bad value, or a mode other than auto is INVALID_ARGUMENT
 * naming the annotation and the option. -1 with *err. */
int berth_podusers_auto(const char *value, berth_userns_auto_t *o, berth_err_t *err);

/* The extents o maps outside the "containers" ranges, from the pod's
 * security context sc (may be NULL), into uid and gid (n set): keep-id maps
 * run_as_user, run_as_group and each supplemental group to itself;
 * map-to-root maps container ID 0 to run_as_user and run_as_group. A
 * missing run_as_user (keep-id and map-to-root need one), more groups than
 * the kernel's extents allow, or a host ID 0 (the node's root) is
 * INVALID_ARGUMENT naming the option: -1 with *err. Plain auto: 0, none. */
int berth_podusers_extra(const berth_userns_auto_t *o,
                         const Runtime__V1__LinuxSandboxSecurityContext *sc, berth_idmaps_t *uid,
                         berth_idmaps_t *gid, berth_err_t *err);

/* How many of container IDs [0, size) the extents of m leave unmapped: what
 * the pod takes from the "containers" ranges. */
uint32_t berth_podusers_pool_need(const berth_idmaps_t *m, uint32_t size);

/* Makes m (its extra extents, from berth_podusers_extra) the pod's whole
 * mapping: container IDs [0, size) that no extent holds, in order, onto
 * host IDs from start on (one extent per gap), ahead of the extra ones. */
void berth_podusers_fill(berth_idmaps_t *m, uint32_t size, uint32_t start);

/* Gives c (owned by the protobuf allocator) POD-mode userns_options with
 * the mappings uid and gid, making the linux, security_context and
 * namespace_options it lacks. A userns_options it had (mode NODE) is
 * replaced. */
void berth_podusers_set(Runtime__V1__PodSandboxConfig *c, const berth_idmaps_t *uid,
                        const berth_idmaps_t *gid);

#endif
