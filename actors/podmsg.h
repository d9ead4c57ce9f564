/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The messages to and from the pod actors and their manager: what a
 * container needs of its pod, and the listing summaries. A protocol header
 * (see ctrmsg.h).
 */
#ifndef BERTH_ACTORS_PODMSG_H
#define BERTH_ACTORS_PODMSG_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/index.h"
#include "engine/actor.h"
#include "engine/err.h"
#include "io/userns.h"

/* What a container needs of its pod (all owned; NULL namespace paths mean
 * the host's namespace). */
typedef struct berth_pod_info {
    char *id, *name, *handler;
    char *pod_name, *pod_namespace, *pod_uid;
    char *hostname, *log_directory, *cgroup_parent;
    char *hosts_path, *resolv_path, *hostname_path, *shm_path;
    char *net_ns, *ipc_ns, *uts_ns;
    char *pid_ns; /* the pause container's PID namespace (pod-level PID); or NULL */
    /* The pod's own user namespace (hostUsers: false), or NULL: the node's.
     * Its mappings are uid_map and gid_map (every extent). */
    char *user_ns;
    berth_idmaps_t uid_map, gid_map;
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
    /* Where the pod's stats are read (podstats.h): its cgroup_parent ("":
     * none given) and its network namespace's pin (NULL: the node's). */
    char *cgroup_parent, *net_ns;
    /* The pod's stats, kept by the pods manager alone (NULL as a pod sends
     * it): carried from summary to summary while cgroup_parent and net_ns
     * stay the same. */
    struct berth_pod_stats *stats;
} berth_pod_summary_t;

void berth_pod_summary_free(berth_pod_summary_t *s);

typedef struct berth_pod_summary_msg {
    berth_msg_t hdr;              /* BERTH_MSG_POD_SUMMARY */
    berth_pod_summary_t *summary; /* owned */
} berth_pod_summary_msg_t;

#endif
