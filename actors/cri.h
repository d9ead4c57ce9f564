/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI service actor: receives every decoded gRPC request from io/, routes
 * it by method to the actor that owns the rule (or answers it itself for the
 * runtime-information methods), and answers UNIMPLEMENTED, naming the method,
 * for what berth does not implement yet. It never blocks: everything it
 * answers from is state published to it by messages.
 */
#ifndef BERTH_ACTORS_CRI_H
#define BERTH_ACTORS_CRI_H

#include <stddef.h>

#include "engine/actor.h"

typedef struct berth_cri_config {
    const char *runtime_version; /* berth's version */
    const char *const *handlers; /* runtime handler names, NULL-terminated; copied */
    const char *default_handler; /* copied */
    berth_handle_t netstatus;    /* subscribed to at spawn */
} berth_cri_config_t;

berth_handle_t berth_cri_spawn(const berth_cri_config_t *cfg);

#endif
