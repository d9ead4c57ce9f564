/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NRI's rules on berth's side (docs/nri.md): the requests a container
 * creation sends the plugins (io/nrisrv.h carries them), and the
 * adjustments their answers ask for, merged and checked before the OCI
 * spec is written (actors/ctrspec.c applies them). Pure: no actor state,
 * any thread.
 *
 * What is applied: environment variables, OCI annotations and mounts,
 * each set or removed ("-KEY"). Anything else a plugin asks for (hooks,
 * devices, resources, rlimits, CDI devices, args, Linux settings) is
 * refused, failing the creation with a message naming the plugin, rather
 * than silently ignored. Two plugins adjusting the same key conflict, as
 * NRI has it.
 */
#ifndef BERTH_ACTORS_NRI_H
#define BERTH_ACTORS_NRI_H

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
} berth_nri_adjust_t;

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
 * (INVALID) for a malformed answer, an adjustment berth does not apply,
 * or a key another plugin already adjusted; a is then partly merged and
 * only good to free. */
int berth_nri_adjust_add(berth_nri_adjust_t *a, const char *plugin, const uint8_t *resp, size_t len,
                         berth_err_t *err);
void berth_nri_adjust_fini(berth_nri_adjust_t *a);

/* Applies the environment adjustments to env (a NULL-terminated, owned
 * "KEY=value" vector of *n entries, reallocated): a set replaces every
 * entry of its key or is appended, a removal drops them. */
void berth_nri_apply_env(const berth_nri_adjust_t *a, char ***env, size_t *n);

#endif
