/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NRI's rules on berth's side (docs/nri.md): the requests a container
 * creation sends the plugins (io/nrisrv.h carries them), and the
 * adjustments their answers ask for, merged and checked before the OCI
 * spec is written (actors/ctrspec.c applies them). Pure: no actor state,
 * any thread.
 *
 * What is applied: environment variables, OCI annotations and mounts
 * (here, actors/nri.c), and args, rlimits, OCI hooks, CDI devices and the
 * Linux settings: devices, resources, cgroups path, OOM score, I/O
 * priority, seccomp policy, namespaces, sysctls (actors/nri_adjust.c).
 * What berth cannot apply (RDT, block I/O classes, network devices, the
 * scheduler, the memory policy, cgroup v1-only memory settings) is refused,
 * failing the creation with a message naming the plugin, rather than
 * silently ignored. Two plugins adjusting the same field conflict, as NRI
 * has it. The merged result is validated (berth_nri_validate) before the
 * spec is written.
 */
#ifndef BERTH_ACTORS_NRI_H
#define BERTH_ACTORS_NRI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/podmsg.h"
#include "api.pb-c.h"
#include "engine/actor.h"
#include "engine/err.h"
#include "io/nrisrv.h"

typedef struct berth_nri_kv {
    char *key; /* "-KEY": remove KEY */
    char *value;
    char *owner; /* the plugin, "10-name" */
} berth_nri_kv_t;

typedef struct berth_nri_mount {
    char *destination, *type, *source;
    char **options; /* NULL-terminated */
    size_t noptions;
    char *owner;
} berth_nri_mount_t;

/* Every plugin's adjustments of one container, merged in call order. */
typedef struct berth_nri_adjust {
    berth_nri_kv_t *env, *annotations;
    size_t nenv, nannotations;
    berth_nri_mount_t *mounts;
    size_t nmounts;
    /* The rest as OCI JSON fragments (NULL: none): "args" [..], "rlimits"
     * {type: {hard, soft}}, "hooks" {stage: [hook]}, "cdi" [name],
     * "devices" {path: device | null (remove)}, "deviceRules" [rule],
     * "resources" {memory|cpu|pids|unified: {..}, hugepageLimits: {size:
     * limit}}, "cgroupsPath", "oomScoreAdj", "ioPriority", "seccomp",
     * "namespaces" {type: path ("": a new one) | null (remove)}, "sysctl"
     * {key: value | null}. */
    json_t *edits;
    /* Who set each of those: "args", "rlimit RLIMIT_NOFILE", "device
     * /dev/x", "memory.limit", "namespace network", "sysctl k", "seccomp
     * policy"... -> the plugin; "hooks" -> every plugin adding one, comma
     * separated. */
    json_t *owners;
} berth_nri_adjust_t;

/* The annotation a pod or container names the NRI plugins it needs with
 * (a YAML list), as NRI's default validator reads it. */
#define BERTH_NRI_REQUIRED_PLUGINS_ANNOTATION "required-plugins.noderesource.dev"

struct berth_config;

/* The CreateContainer hook for container `id` of pod `pod` with the
 * kubelet's config; answered to reply_to as reply_type (io/nrisrv.h). */
berth_nrisrv_hook_t *berth_nri_create_hook(const berth_pod_info_t *pod, const char *id,
                                           const Runtime__V1__ContainerConfig *cc,
                                           berth_handle_t reply_to, uint32_t reply_type);
/* Any container hook (StartContainer, StopContainer, RemoveContainer: the
 * same pod and container fields on the wire); reply_to NONE: a
 * notification nobody waits for. */
berth_nrisrv_hook_t *berth_nri_ctr_hook(const char *method, int event, const berth_pod_info_t *pod,
                                        const char *id, const Runtime__V1__ContainerConfig *cc,
                                        berth_handle_t reply_to, uint32_t reply_type);

/* A pod hook (RunPodSandbox, StopPodSandbox, RemovePodSandbox: each
 * request holds only the pod) for pod `id` with the kubelet's config and
 * runtime handler. reply_to NONE: a notification, nobody waits. */
berth_nrisrv_hook_t *berth_nri_pod_hook(const char *method, int event, const char *id,
                                        const Runtime__V1__PodSandboxConfig *cfg,
                                        const char *handler, berth_handle_t reply_to,
                                        uint32_t reply_type);

/* Merges one plugin's packed CreateContainerResponse into a. -1 with *err
 * for a malformed answer or a field another plugin already adjusted
 * (INVALID), or an adjustment berth does not apply (UNSUPPORTED); a is
 * then partly merged and only good to free. */
int berth_nri_adjust_add(berth_nri_adjust_t *a, const char *plugin, const uint8_t *resp, size_t len,
                         berth_err_t *err);
void berth_nri_adjust_fini(berth_nri_adjust_t *a);

/* Applies the environment adjustments to env (a NULL-terminated, owned
 * "KEY=value" vector of *n entries, reallocated): a set replaces every
 * entry of its key or is appended, a removal drops them. */
void berth_nri_apply_env(const berth_nri_adjust_t *a, char ***env, size_t *n);

/* Checks the merged adjustments of container cc (in pod, which may be
 * NULL) after every plugin answered; plugins are those that did (nplugins
 * "<index>-<name>" strings). berth's own rules always: no shared mount
 * propagation into a container that is not privileged, no user namespace
 * change in a pod with its own, no device node outside /dev. With
 * [crio.nri.default_validator] enable, NRI's default validator too (hooks,
 * seccomp by the container's profile type, namespaces, sysctls, required
 * plugins). -1 with *err: DENIED (PERMISSION_DENIED) naming the plugin
 * and the adjustment, or PRECONDITION for a required plugin missing.
 * Pure: any thread. */
int berth_nri_validate(const berth_nri_adjust_t *a, const struct berth_config *cfg,
                       const Runtime__V1__ContainerConfig *cc, const berth_pod_info_t *pod,
                       const char *const *plugins, size_t nplugins, berth_err_t *err);

/* Patches spec (config.json as io/ocispec built it) with a->edits: args
 * replaced, rlimits set by type, hooks appended, devices added or removed
 * with their cgroup rules, resources merged, namespaces replaced or
 * removed, the cgroups path, OOM score (clamped up to berthd's own, as
 * io/ocispec does), I/O priority and seccomp policy set, sysctls set or
 * removed. -1 with *err only for a spec without process or linux. Reads
 * /proc/self/oom_score_adj once: the blocking pool. */
int berth_nri_apply_spec(const berth_nri_adjust_t *a, json_t *spec, berth_err_t *err);

/* The CDI devices plugins asked for (NULL-terminated, *n of them), for
 * the CDI resolver with the kubelet's own; the array is owned by the
 * caller (berth_free), the names by a. NULL when none. */
const char *const *berth_nri_cdi_devices(const berth_nri_adjust_t *a, size_t *n);

#endif
