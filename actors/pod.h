/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod sandbox actor: one per reserved pod name. It creates the sandbox
 * (pod directory and files, /dev/shm, pinned namespaces, CNI ADD, record)
 * on its own budget, holds the RunPodSandbox requests waiting for it under
 * the reservation rules (actors/reservation.h), serves the sandbox's status,
 * stops and removes it, and undoes in reverse order whatever a failed,
 * expired or interrupted creation made. Every slow step runs in io/ and comes
 * back as a message; the actor never blocks.
 */
#ifndef BERTH_ACTORS_POD_H
#define BERTH_ACTORS_POD_H

#include <jansson.h>

#include "api.pb-c.h"
#include "conf/config.h"
#include "engine/actor.h"

typedef struct berth_pod_init {
    berth_config_t *cfg; /* a reference is taken */
    berth_handle_t mgr;  /* the pods manager, told of summaries and release */
    const char *id;      /* copied */
    const char *name;    /* the reserved name; copied */
    const char *handler; /* runtime handler (validated); copied */
    const Runtime__V1__RunPodSandboxRequest *req; /* copied */
    berth_handle_t events;                        /* GetContainerEvents' fan-out; NONE: none */
} berth_pod_init_t;

/* A new pod actor that starts creating at once. */
berth_handle_t berth_pod_spawn(const berth_pod_init_t *init);
/* A pod actor rebuilt from its record after a restart (record: taken). A
 * record of an interrupted creation makes an actor that undoes it and
 * releases the name. */
berth_handle_t berth_pod_restore(berth_config_t *cfg, berth_handle_t mgr, berth_handle_t events,
                                 json_t *record);

#endif
