/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The messages to and from the container actors and their manager: listing
 * summaries, a pod's containers going down, a pod's pause container, a
 * pod's status with its containers' statuses. A protocol header: pod.c,
 * pods.c, container.c and containers.c include it, and none of them
 * includes another's implementation.
 */
#ifndef BERTH_ACTORS_CTRMSG_H
#define BERTH_ACTORS_CTRMSG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "actors/index.h"
#include "actors/podmsg.h"
#include "engine/actor.h"
#include "engine/err.h"
#include "io/cgroups.h"

typedef struct berth_ctr_summary {
    char *id, *name, *pod_id, *ctr_name;
    uint32_t attempt;
    int state; /* Runtime__V1__ContainerState */
    int64_t created_at;
    char *image, *image_ref, *image_id;
    /* The image as the pod spec names it (ImageSpec.user_specified_image,
     * else image): cAdvisor's image label. */
    char *image_user;
    char *cgroup; /* the container's cgroupsPath (cgroupfs), "" before it exists */
    berth_kv_t labels, annotations;
    bool listed;
    /* The writable layer's usage, measured by the containers actor off the
     * request path (not by the container actor, which leaves these zero):
     * kept across the container's summary updates. layer_at is the wall
     * time of the measure, 0 before the first. */
    uint64_t layer_bytes, layer_inodes;
    int64_t layer_at;
    int64_t layer_every; /* measured again this long after layer_at (ctrstats.h) */
    /* The writable layers' filesystem as the last measure found it
     * (statvfs: size, inodes, free inodes), for the metrics. */
    bool have_fs;
    uint64_t fs_bytes, fs_inodes, fs_inodes_free;
    /* The cgroup's CPU and memory figures, likewise read and kept by the
     * containers actor (the container actor leaves them zero and NULL) while
     * the summary's cgroup stays the same. cg_at is the wall time of the
     * read, 0 before the first. */
    berth_cgroups_reader_t *cg_reader; /* one reference, owned; NULL before the first read */
    berth_cgroups_stats_t cg_stats;
    int64_t cg_at;
    /* The CPU rate between the last two reads that both had a CPU figure
     * (what UsageNanoCores reports), kept with the figures. */
    bool have_nano;
    uint64_t nano_cores;
    /* The ContainerStats of these figures, packed (owned; NULL: not packed
     * since they last changed). Set the figures with the setters of
     * actors/ctrstats.h, which drop it. */
    uint8_t *stats;
    size_t stats_len;
    /* Its ContainerMetrics likewise (cadvisor.h), dropped with it. */
    uint8_t *metrics;
    size_t metrics_len;
} berth_ctr_summary_t;

void berth_ctr_summary_free(berth_ctr_summary_t *s);

typedef struct berth_ctr_summary_msg {
    berth_msg_t hdr;
    berth_ctr_summary_t *summary; /* owned */
} berth_ctr_summary_msg_t;

/* PodSandboxStatus with its containers' statuses (the kubelet's Evented
 * PLEG reads them there instead of asking each container): the pod actor
 * packs its answer and hands it, with the call, to the containers manager,
 * which asks each of the pod's containers for its ContainerStatus, adds
 * them and the time they were taken, and answers the call. */
typedef struct berth_ctrs_pod_status_msg {
    berth_msg_t hdr;
    struct berth_grpc_call *call; /* one reference, taken */
    uint8_t *resp;                /* packed PodSandboxStatusResponse, owned */
    size_t len;
    char *pod_id; /* owned */
} berth_ctrs_pod_status_msg_t;

/* Builds the message (call and resp taken, pod_id copied). */
berth_ctrs_pod_status_msg_t *berth_ctrs_pod_status_new(struct berth_grpc_call *call, uint8_t *resp,
                                                       size_t len, const char *pod_id);

/* PodSandboxStats, ListPodSandboxStats and StreamPodSandboxStats with the
 * pods' containers: the pods manager packs each pod's PodSandboxStats
 * (podstats.h, containers left out) and hands them, with the call, to the
 * containers manager, which adds each pod's listed containers'
 * ContainerStats from its own cache (berth_pod_stats_add_containers) and
 * answers (berth_pod_stats_reply). */
typedef struct berth_ctrs_pod_stats_msg {
    berth_msg_t hdr;              /* BERTH_MSG_CTRS_POD_STATS */
    struct berth_grpc_call *call; /* one reference, taken */
    int kind;                     /* enum berth_pod_stats_kind (podstats.h) */
    size_t n;
    char **pod_ids;  /* n, owned */
    uint8_t **items; /* n packed PodSandboxStats, owned */
    size_t *lens;
    /* Kept by the containers manager while it waits for its first read of
     * a container in these pods (once at most). */
    struct berth_ctrs_pod_stats_msg *next;
    bool waited;
} berth_ctrs_pod_stats_msg_t;

/* An empty message for n pods (call taken); the caller fills the arrays. */
berth_ctrs_pod_stats_msg_t *berth_ctrs_pod_stats_new(struct berth_grpc_call *call, int kind,
                                                     size_t n);

/* One container's ContainerStatus for such an answer. The container always
 * answers (type BERTH_MSG_CTR_STATUS_REPLY, status set); a query freed
 * unanswered (its container gone) answers itself with status NULL, so the
 * manager never waits for a container that is no more. */
typedef struct berth_ctr_status_msg {
    berth_msg_t hdr;
    berth_handle_t reply_to;
    uint64_t tag;
    size_t slot;
    uint8_t *status; /* reply: packed ContainerStatus, owned; NULL: none */
    size_t len;
    bool answered;
} berth_ctr_status_msg_t;

berth_ctr_status_msg_t *berth_ctr_status_query_new(berth_handle_t reply_to, uint64_t tag,
                                                   size_t slot);

/* Stopping (SIGKILL) or removing every container of a pod, as
 * StopPodSandbox and RemovePodSandbox require; answered with
 * BERTH_MSG_CTRS_DOWN_DONE (same struct) once all are done. */
typedef struct berth_ctrs_down_msg {
    berth_msg_t hdr;
    char *pod_id; /* owned */
    bool remove;
    berth_handle_t reply_to;
    uint64_t tag;
} berth_ctrs_down_msg_t;

berth_ctrs_down_msg_t *berth_ctrs_down_new(int type, const char *pod_id, bool remove,
                                           berth_handle_t reply_to, uint64_t tag);

/* A pod that needs a pod-level PID namespace asks for its pause container
 * (the image from [crio.image] pause_image, pulled when missing). The
 * answer, type BERTH_MSG_POD_INFRA_READY, is the same struct with pid and
 * ctr_id set, or error. The pause container is never listed; it goes with
 * the pod's other containers when the pod stops or is removed. */
typedef struct berth_ctrs_infra_msg {
    berth_msg_t hdr;
    struct berth_pod_info *info; /* request: taken */
    berth_handle_t reply_to;
    pid_t pid;         /* answer */
    char *ctr_id;      /* answer, owned */
    berth_err_t error; /* answer, owned */
} berth_ctrs_infra_msg_t;

berth_ctrs_infra_msg_t *berth_ctrs_infra_new(int type, struct berth_pod_info *info,
                                             berth_handle_t reply_to);

#endif
