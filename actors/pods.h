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

/* Starts the manager on a handle reserved with berth_actor_reserve (takes a
 * reference on cfg). containers: the container manager (a stopped or removed
 * pod's containers go first; a pod's pause container), reserved likewise;
 * BERTH_HANDLE_NONE without one (unit tests). */
void berth_pods_start(berth_handle_t self, berth_config_t *cfg, berth_handle_t containers,
                      berth_handle_t events);

#endif
