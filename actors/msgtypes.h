/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message type numbers of the actors in actors/, in one place so that no two
 * actors' messages collide (engine/ and io/ use the numbers below 256).
 */
#ifndef BERTH_ACTORS_MSGTYPES_H
#define BERTH_ACTORS_MSGTYPES_H

#include "engine/actor.h"

enum {
    BERTH_MSG_NETSTATUS = BERTH_MSG_USER, /* berth_netstatus_msg_t: network readiness changed */
    BERTH_MSG_NETSTATUS_TICK,             /* netstatus: time to rescan */
    BERTH_MSG_NETSTATUS_SCANNED,          /* netstatus: a scan finished on the blocking pool */
    BERTH_MSG_NETSTATUS_SUBSCRIBE,        /* netstatus: send me every change */
    BERTH_MSG_DAEMON_STOPPED,             /* daemon: the gRPC server has closed */
    BERTH_MSG_DAEMON_TIMEOUT,             /* daemon: the shutdown grace has passed */
    BERTH_MSG_CRI_REQUEST,                /* berth_cri_req_msg_t: a decoded request */
    BERTH_MSG_POD_SUMMARY,                /* pod -> pods: listing summary changed */
    BERTH_MSG_POD_GONE,                   /* berth_creation_gone_msg_t: pod -> pods, released */
    BERTH_MSG_POD_STEP,                   /* pod: a blocking step finished */
    BERTH_MSG_PODS_RESTORED,              /* pods: the state directory was read */
    BERTH_MSG_POD_START,                  /* pod: first turn */
    BERTH_MSG_POD_INFO_REQ,               /* berth_pod_info_msg_t: -> pods -> pod */
    BERTH_MSG_POD_INFO,                   /* berth_pod_info_msg_t: the answer */
    BERTH_MSG_CTR_SUMMARY,                /* container -> containers */
    BERTH_MSG_CTR_GONE,                   /* berth_creation_gone_msg_t: container -> containers */
    BERTH_MSG_CTR_START,                  /* container: first turn */
    BERTH_MSG_CTR_STEP,                   /* container: a blocking step finished */
    BERTH_MSG_CTR_STOP_TIMEOUT,           /* container: the stop grace passed */
    BERTH_MSG_CTR_SIG_POLL,               /* container: is the stop signal handled yet? */
    BERTH_MSG_CTRS_RESTORED,              /* containers: records read */
    BERTH_MSG_CTRS_DOWN,                  /* berth_ctrs_down_msg_t: pod -> pods -> containers */
    BERTH_MSG_CTR_DOWN,                   /* containers -> container */
    BERTH_MSG_CTR_DOWN_DONE,              /* container -> containers */
    BERTH_MSG_CTRS_DOWN_DONE,             /* containers -> pod: all stopped or removed */
    BERTH_MSG_CTRS_INFRA,                 /* berth_ctrs_infra_msg_t: pod -> pods -> containers */
    BERTH_MSG_POD_INFRA_READY,            /* berth_ctrs_infra_msg_t: the answer, to the pod */
    BERTH_MSG_CTR_RELOOKUP,               /* container: look the (pause) image up again */
    BERTH_MSG_CTRS_STATS,                 /* containers: cgroups read for the stats figures */
    BERTH_MSG_CTRS_LAYERS,                /* containers: writable layers measured */
    BERTH_MSG_CTRS_POD_STATUS,  /* berth_ctrs_pod_status_msg_t: pod -> pods -> containers */
    BERTH_MSG_CTR_STATUS_QUERY, /* berth_ctr_status_msg_t: containers -> container */
    BERTH_MSG_CTR_STATUS_REPLY, /* the same struct, answered: container -> containers */
    BERTH_MSG_CREATION_BYE,     /* manager -> pod or container: no more requests will come */
    BERTH_MSG_CREATION_BUDGET,  /* pod or container: the creation budget passed */
    BERTH_MSG_EVENTS_PUBLISH,   /* events: one packed ContainerEventResponse to fan out */
    BERTH_MSG_PODS_STATS,       /* pods: pod cgroups and namespaces sampled */
    BERTH_MSG_CTRS_POD_STATS,   /* berth_ctrs_pod_stats_msg_t: pods -> containers */
    BERTH_MSG_CTR_NRI,          /* berth_nrisrv_hook_t: the NRI plugins answered a hook */
    BERTH_MSG_POD_NRI,          /* berth_nrisrv_hook_t: the same, for a pod */
    BERTH_MSG_NRI_APPLY_GO,     /* nri-apply: send the updates */
    BERTH_MSG_NRI_APPLY_TIME,   /* nri-apply: the updates' time is up */
    BERTH_MSG_CTR_NRI_UPDATE,   /* berth_nrisrv_hook_t: the plugins answered UpdateContainer */
    BERTH_MSG_CTR_NRI_APPLIED,  /* berth_nri_applied_msg_t: other containers' updates applied */
    BERTH_MSG_CTR_NRI_STOPPED,  /* berth_nrisrv_hook_t: the plugins answered StopContainer */
    BERTH_MSG_POD_NRI_UPDATE,   /* berth_nrisrv_hook_t: the plugins answered UpdatePodSandbox */
};

#endif
