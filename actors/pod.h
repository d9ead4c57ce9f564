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
} berth_pod_init_t;

/* What a container needs of its pod (all owned; NULL namespace paths mean
 * the host's namespace). */
typedef struct berth_pod_info {
    char *id, *name, *handler;
    char *pod_name, *pod_namespace, *pod_uid;
    char *hostname, *log_directory, *cgroup_parent;
    char *hosts_path, *resolv_path, *hostname_path, *shm_path;
    char *net_ns, *ipc_ns, *uts_ns;
    char *pid_ns; /* the pause container's PID namespace (pod-level PID); or NULL */
    int pid_mode; /* Runtime__V1__NamespaceMode */
    int state;    /* Runtime__V1__PodSandboxState */
    bool ready;   /* created, delivered or stashed, and not stopped */
} berth_pod_info_t;

void berth_pod_info_free(berth_pod_info_t *info);

/* Ask the pods manager (by sandbox ID, prefixes allowed) for a pod's info;
 * the answer is a berth_pod_info_msg_t of type BERTH_MSG_POD_INFO sent to
 * reply_to, with info or error (NOT_FOUND) set. */
typedef struct berth_pod_info_msg {
    berth_msg_t hdr;
    berth_handle_t reply_to;
    uint64_t tag;
    char *pod_id;           /* request */
    berth_pod_info_t *info; /* reply, owned */
    berth_err_t error;      /* reply, owned */
} berth_pod_info_msg_t;

void berth_pod_info_request(berth_handle_t pods, const char *pod_id, berth_handle_t reply_to,
                            uint64_t tag);

/* A new pod actor that starts creating at once. */
berth_handle_t berth_pod_spawn(const berth_pod_init_t *init);
/* A pod actor rebuilt from its record after a restart (record: taken). A
 * record of an interrupted creation makes an actor that undoes it and
 * releases the name. */
berth_handle_t berth_pod_restore(berth_config_t *cfg, berth_handle_t mgr, json_t *record);

#endif
