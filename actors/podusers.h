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
 * (or no userns_options) is the node's user namespace; POD needs exactly
 * one uid and one gid mapping that map container ID 0 and leave out host
 * ID 0, the pod's own IPC and PID namespaces (the node's network is
 * allowed: user_namespaces_host_network), and a kernel that
 * passed the idmap probe (FAILED_PRECONDITION otherwise); CONTAINER and
 * TARGET are refused, as the CRI says. -1 with *err (INVALID_ARGUMENT)
 * naming the field. */
int berth_podusers_check(const Runtime__V1__NamespaceOption *ns, berth_err_t *err);

/* True when the pod asks for a user namespace of its own (POD mode); then
 * *uid and *gid get its mappings (checked by berth_podusers_check). */
bool berth_podusers_maps(const Runtime__V1__PodSandboxConfig *c, berth_idmap_t *uid,
                         berth_idmap_t *gid);

/* CRI-O's annotation asking for a user namespace berth picks the IDs of. */
#define BERTH_USERNS_MODE_ANNOTATION "io.kubernetes.cri-o.userns-mode"
/* The IDs an "auto" pod gets when the annotation names no size (CRI-O's). */
#define BERTH_USERNS_AUTO_SIZE 65536

/* Reads the annotation's value: "auto" or "auto:size=N" (1 <= N <= 2^31):
 * 1 with *size; "" (the node's user namespace, as CRI-O reads it): 0.
 * CRI-O's other options, keep-id and map-to-root, map a second range (the
 * pod's runAsUser), which berth's single mapping per pod cannot:
 * UNSUPPORTED naming them. Anything else: INVALID_ARGUMENT. -1 with *err. */
int berth_podusers_auto(const char *value, uint32_t *size, berth_err_t *err);

/* Gives c (owned by the protobuf allocator) POD-mode userns_options with
 * the mappings 0 -> uid_start and 0 -> gid_start of size IDs each, making
 * the linux, security_context and namespace_options it lacks. A
 * userns_options it had (mode NODE) is replaced. */
void berth_podusers_set(Runtime__V1__PodSandboxConfig *c, uint32_t uid_start, uint32_t gid_start,
                        uint32_t size);

#endif
