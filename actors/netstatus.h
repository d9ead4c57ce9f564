/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network-readiness actor: watches the CNI configuration directory and
 * the plugin directories and publishes whether pod networking can work, with
 * the reason when it cannot. Subscribers get a berth_netstatus_msg_t at once
 * and on every change. The scan itself (readdir, file reads) runs on io/'s
 * blocking pool, never in a turn.
 */
#ifndef BERTH_ACTORS_NETSTATUS_H
#define BERTH_ACTORS_NETSTATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/actor.h"

typedef struct berth_netstatus_msg {
    berth_msg_t hdr; /* BERTH_MSG_NETSTATUS */
    bool ready;
    char *reason;  /* owned; "" when ready */
    char *message; /* owned; "" when ready */
    char *network; /* owned; the chosen network's name, "" when none */
} berth_netstatus_msg_t;

typedef struct berth_netstatus_config {
    const char *network_dir;        /* borrowed, copied */
    const char *const *plugin_dirs; /* NULL-terminated; copied */
    const char *default_network;    /* may be NULL or "" */
    uint64_t rescan_ns;             /* 0: 2 s */
} berth_netstatus_config_t;

berth_handle_t berth_netstatus_spawn(const berth_netstatus_config_t *cfg);
/* Asks the netstatus actor to mail every change (and the current state) to `to`. */
void berth_netstatus_subscribe(berth_handle_t netstatus, berth_handle_t to);

#endif
