/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI -> OCI translation of a container: from the kubelet's
 * ContainerConfig, the pod's namespaces and files, and the image's config
 * to the OCI runtime spec (io/ocispec.h writes the JSON). No actor state:
 * everything it reads is in the input, so it runs on the blocking pool while
 * the container actor waits, and tests call it with tables of inputs.
 */
#ifndef BERTH_ACTORS_CTRSPEC_H
#define BERTH_ACTORS_CTRSPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "actors/podmsg.h"
#include "engine/err.h"
#include "io/ocispec.h"
#include "io/store.h"

typedef struct berth_ctrspec_in {
    const Runtime__V1__ContainerConfig *config;
    const berth_pod_info_t *pod;
    const berth_store_image_t *image; /* its config JSON: entrypoint, env, user, stop signal */
    const char *id, *image_name;
    const char *rootfs; /* mounted: the user is resolved from its /etc/passwd and /etc/group */
    const char *bundle; /* config.json is written here */
    bool infra;         /* a pod's pause container: it makes the pod's PID namespace */
    int64_t pids_limit; /* [crio.runtime] pids_limit; <= 0: none */
    berth_user_t *user; /* optional: gets the user the spec runs as (owned) */
    /* Image volumes: per config mount, the host path to bind read-only for
     * a Mount.image (its sub path resolved), NULL for a host_path mount.
     * The array itself may be NULL (no image volumes). */
    const char *const *image_sources;
    /* the node's configuration (hooks, CDI, seccomp keys, the handler's
     * allowed_annotations: actors/ctrsec.h); NULL: none of those */
    const struct berth_config *cfg;
    /* the seccomp notifier's socket for this container (listenerPath);
     * NULL: no notifier */
    const char *seccomp_listener;
    /* A pod with its own user namespace: where the idmapped copies of the
     * bind mounts' sources go (io/userns.h berth_idmap_sources); released
     * with the container's root filesystem. */
    const char *idmap_dir;
    /* the NRI plugins' adjustments (actors/nri.h): environment, OCI
     * annotations, mounts; NULL: none */
    const struct berth_nri_adjust *nri;
} berth_ctrspec_in_t;

/* Builds the spec and writes <bundle>/config.json; *stop_signal is the
 * config's stop_signal, else the image's StopSignal (SIGTERM without
 * either). Recursive read-only mounts are cloned under <bundle>/rro
 * (actors/ctrsec.h; removed again on failure). -1 with *err (INVALID_ARGUMENT
 * for what the kubelet user must fix) otherwise. Blocking: the pool only. */
int berth_ctrspec_write(const berth_ctrspec_in_t *in, int *stop_signal, berth_err_t *err);

/* The process's argv by the kubelet's rule: command replaces the image's
 * entrypoint, args replace its cmd (icfg: the image config's "config"
 * object, may be NULL). NULL-terminated, owned; *n is the count. */
char **berth_ctrspec_args(const Runtime__V1__ContainerConfig *cc, json_t *icfg, size_t *n);
/* The environment: the image's, PATH when it has none, HOSTNAME, then the
 * config's envs replacing same-named ones. */
char **berth_ctrspec_env(const Runtime__V1__ContainerConfig *cc, json_t *icfg, const char *hostname,
                         size_t *n);
/* A signal name ("SIGTERM", "term", "9", "SIGRTMIN+3") to its number;
 * SIGTERM for NULL, empty or unknown names and numbers out of range. */
int berth_ctrspec_signal(const char *name);

#endif
