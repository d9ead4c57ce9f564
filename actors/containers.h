/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container manager: one actor owning reserved container name -> actor
 * and container ID -> actor, and the listing summaries. It validates
 * CreateContainer, spawns one container actor per reserved name
 * `k8s_<ctr>_<pod>_<ns>_<uid>_<attempt>` (actors/container.c), routes every
 * per-container method to its actor, and answers ListContainers and
 * StreamContainers from the published summaries. It also owns the conmon
 * exit watcher that the container actors register with.
 */
#ifndef BERTH_ACTORS_CONTAINERS_H
#define BERTH_ACTORS_CONTAINERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf/config.h"
#include "actors/index.h"
#include "engine/actor.h"

/* Starts the manager on a handle reserved with berth_actor_reserve (cfg
 * referenced): the pods manager and this one route to each other, so each
 * is given the other's handle before either runs. pods and images are the
 * handles its container actors ask for pod information and images; events
 * the one they announce their lifecycle to (NONE: none). */
void berth_containers_start(berth_handle_t self, berth_config_t *cfg, berth_handle_t pods,
                            berth_handle_t images, berth_handle_t events);

#endif
