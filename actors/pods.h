/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod sandbox manager: one actor that owns the table of reserved pod
 * names and sandbox IDs. It validates RunPodSandbox, spawns one pod actor per
 * reserved name (the pod actor holds the creation, its waiting requests and
 * the result; actors/pod.c), routes the per-sandbox methods to their pod
 * actor, and answers ListPodSandbox from the summaries the pod actors publish
 * to it, so a list never waits for any pod's work. On start it rebuilds the
 * pod actors from the records under <root>/pods (read on the blocking pool).
 */
#ifndef BERTH_ACTORS_PODS_H
#define BERTH_ACTORS_PODS_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"
#include "actors/index.h"
#include "engine/actor.h"

/* What a pod publishes to the manager for listing (all owned). */
typedef struct berth_pod_summary {
    char *id;
    char *name; /* the reserved name k8s_<pod>_<ns>_<uid>_<attempt> */
    char *pod_name, *pod_uid, *pod_namespace;
    uint32_t attempt;
    int state;          /* Runtime__V1__PodSandboxState */
    int64_t created_at; /* ns since the epoch */
    berth_kv_t labels, annotations;
    char *runtime_handler;
    bool listed; /* delivered to the kubelet (DESIGN.md §3 rule 7) */
} berth_pod_summary_t;

void berth_pod_summary_free(berth_pod_summary_t *s);

typedef struct berth_pod_summary_msg {
    berth_msg_t hdr;              /* BERTH_MSG_POD_SUMMARY */
    berth_pod_summary_t *summary; /* owned */
} berth_pod_summary_msg_t;

/* Spawns the manager; takes a reference on cfg. */
berth_handle_t berth_pods_spawn(berth_config_t *cfg);
/* Tells the manager where the container manager is (stopping and removing
 * a pod stops and removes its containers first). */
void berth_pods_set_containers(berth_handle_t pods, berth_handle_t containers);

#endif
