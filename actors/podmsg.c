// SPDX-License-Identifier: Apache-2.0
/*
 * Constructors and frees of the pod messages (podmsg.h).
 */
#include "actors/podmsg.h"

#include <errno.h>

#include "actors/msgtypes.h"
#include "actors/podstats.h"
#include "engine/alloc.h"
#include "io/grpc.h"

void berth_pod_info_free(berth_pod_info_t *i)
{
    if (i == NULL)
        return;
    char **fields[] = {&i->id,         &i->name,          &i->handler,
                       &i->pod_name,   &i->pod_namespace, &i->pod_uid,
                       &i->hostname,   &i->log_directory, &i->cgroup_parent,
                       &i->hosts_path, &i->resolv_path,   &i->hostname_path,
                       &i->shm_path,   &i->net_ns,        &i->ipc_ns,
                       &i->uts_ns,     &i->pid_ns,        &i->user_ns};
    for (size_t k = 0; k < BERTH_ARRAY_LEN(fields); k++)
        berth_free(*fields[k]);
    berth_free(i);
}

static void pod_info_msg_free(berth_msg_t *m)
{
    berth_pod_info_msg_t *im = (berth_pod_info_msg_t *)m;
    berth_free(im->pod_id);
    berth_pod_info_free(im->info);
    berth_err_free(&im->error);
    berth_free(im);
}

void berth_pod_info_request(berth_handle_t pods, const char *pod_id, berth_handle_t reply_to,
                            uint64_t tag)
{
    berth_pod_info_msg_t *m = berth_msg_new(BERTH_MSG_POD_INFO_REQ, sizeof(*m));
    m->hdr.free = pod_info_msg_free;
    m->reply_to = reply_to;
    m->tag = tag;
    m->pod_id = berth_strdup(pod_id ? pod_id : "");
    if (berth_send(pods, &m->hdr) < 0) {
        m = berth_msg_new(BERTH_MSG_POD_INFO, sizeof(*m));
        m->hdr.free = pod_info_msg_free;
        m->tag = tag;
        berth_err_make(&m->error, ESRCH, BERTH_ERR_UNAVAILABLE, "berth is shutting down");
        berth_send(reply_to, &m->hdr);
    }
}

void berth_pod_summary_free(berth_pod_summary_t *s)
{
    if (s == NULL)
        return;
    berth_free(s->id);
    berth_free(s->name);
    berth_free(s->pod_name);
    berth_free(s->pod_uid);
    berth_free(s->pod_namespace);
    berth_kv_fini(&s->labels);
    berth_kv_fini(&s->annotations);
    berth_free(s->runtime_handler);
    berth_free(s->cgroup_parent);
    berth_free(s->net_ns);
    berth_pod_stats_free(s->stats);
    berth_free(s);
}
