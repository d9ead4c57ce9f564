/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container actor: one per reserved container name. It creates the
 * container (pod info, image, overlay root filesystem, OCI spec, conmon +
 * runtime create, record) under the reservation rules, starts it, watches
 * its exit, stops it with the image's stop signal and then SIGKILL, runs
 * ExecSync, and removes it, undoing in reverse order what it made. It never
 * blocks: every step is io/ work answered by message.
 */
#ifndef BERTH_ACTORS_CONTAINER_H
#define BERTH_ACTORS_CONTAINER_H

#include <jansson.h>

#include "api.pb-c.h"
#include "conf/config.h"
#include "engine/actor.h"

typedef struct berth_ctr_init {
    berth_config_t *cfg; /* referenced */
    berth_handle_t mgr, pods, images, watcher;
    berth_handle_t events;  /* GetContainerEvents' fan-out; NONE: none */
    berth_handle_t monitor; /* berth-monitor's link; NONE: conmon */
    const char *id, *name, *pod_id;
    const Runtime__V1__ContainerConfig *config; /* copied */
    /* a pod's pause container: never listed, started at once, the pod
     * (infra_reply) told its pid; pod_info is taken */
    bool infra;
    berth_handle_t infra_reply;
    struct berth_pod_info *pod_info;
} berth_ctr_init_t;

berth_handle_t berth_container_spawn(const berth_ctr_init_t *init);
/* Rebuilds a container actor from its record (taken) after a restart. */
berth_handle_t berth_container_restore(const berth_ctr_init_t *base, json_t *record);

#endif
