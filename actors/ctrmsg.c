// SPDX-License-Identifier: Apache-2.0
/*
 * Constructors and frees of the container messages (ctrmsg.h). A message
 * freed unanswered answers for itself where a sender waits on it.
 */
#include "actors/ctrmsg.h"
#include "actors/crierr.h"

#include "actors/msgtypes.h"
#include "engine/alloc.h"
#include "io/grpc.h"

static void down_msg_free(berth_msg_t *m)
{
    berth_ctrs_down_msg_t *d = (berth_ctrs_down_msg_t *)m;
    berth_free(d->pod_id);
    berth_free(d);
}

berth_ctrs_down_msg_t *berth_ctrs_down_new(int type, const char *pod_id, bool remove,
                                           berth_handle_t reply_to, uint64_t tag)
{
    berth_ctrs_down_msg_t *d = berth_msg_new((uint32_t)type, sizeof(*d));
    d->hdr.free = down_msg_free;
    d->pod_id = berth_strdup(pod_id ? pod_id : "");
    d->remove = remove;
    d->reply_to = reply_to;
    d->tag = tag;
    return d;
}

static void pod_status_msg_free(berth_msg_t *m)
{
    berth_ctrs_pod_status_msg_t *p = (berth_ctrs_pod_status_msg_t *)m;
    if (p->call) /* never answered (shutdown): the call ends with it */
        berth_cri_finish(p->call, BERTH_ERR_UNAVAILABLE, "berth is shutting down");
    berth_grpc_call_unref(p->call);
    berth_free(p->resp);
    berth_free(p->pod_id);
    berth_free(p);
}

berth_ctrs_pod_status_msg_t *berth_ctrs_pod_status_new(struct berth_grpc_call *call, uint8_t *resp,
                                                       size_t len, const char *pod_id)
{
    berth_ctrs_pod_status_msg_t *p = berth_msg_new(BERTH_MSG_CTRS_POD_STATUS, sizeof(*p));
    p->hdr.free = pod_status_msg_free;
    p->call = call;
    p->resp = resp;
    p->len = len;
    p->pod_id = berth_strdup(pod_id);
    return p;
}

static void pod_stats_msg_free(berth_msg_t *m)
{
    berth_ctrs_pod_stats_msg_t *p = (berth_ctrs_pod_stats_msg_t *)m;
    if (p->call) /* never answered (shutdown): the call ends with it */
        berth_cri_finish(p->call, BERTH_ERR_UNAVAILABLE, "berth is shutting down");
    berth_grpc_call_unref(p->call);
    for (size_t i = 0; i < p->n; i++) {
        berth_free(p->pod_ids[i]);
        berth_free(p->items[i]);
    }
    berth_free(p->pod_ids);
    berth_free(p->items);
    berth_free(p->lens);
    berth_free(p);
}

berth_ctrs_pod_stats_msg_t *berth_ctrs_pod_stats_new(struct berth_grpc_call *call, int kind,
                                                     size_t n)
{
    berth_ctrs_pod_stats_msg_t *p = berth_msg_new(BERTH_MSG_CTRS_POD_STATS, sizeof(*p));
    p->hdr.free = pod_stats_msg_free;
    p->call = call;
    p->kind = kind;
    p->n = n;
    p->pod_ids = berth_calloc(n + 1, sizeof(*p->pod_ids));
    p->items = berth_calloc(n + 1, sizeof(*p->items));
    p->lens = berth_calloc(n + 1, sizeof(*p->lens));
    return p;
}

static void status_msg_free(berth_msg_t *m)
{
    berth_ctr_status_msg_t *q = (berth_ctr_status_msg_t *)m;
    if (!q->answered && m->type == BERTH_MSG_CTR_STATUS_QUERY) {
        /* freed with its container: answer for it, status none */
        q->answered = true;
        berth_ctr_status_msg_t *r = berth_ctr_status_query_new(q->reply_to, q->tag, q->slot);
        r->hdr.type = BERTH_MSG_CTR_STATUS_REPLY;
        r->answered = true;
        berth_send(q->reply_to, &r->hdr);
    }
    berth_free(q->status);
    berth_free(q);
}

berth_ctr_status_msg_t *berth_ctr_status_query_new(berth_handle_t reply_to, uint64_t tag,
                                                   size_t slot)
{
    berth_ctr_status_msg_t *q = berth_msg_new(BERTH_MSG_CTR_STATUS_QUERY, sizeof(*q));
    q->hdr.free = status_msg_free;
    q->reply_to = reply_to;
    q->tag = tag;
    q->slot = slot;
    return q;
}

static void infra_msg_free(berth_msg_t *m)
{
    berth_ctrs_infra_msg_t *im = (berth_ctrs_infra_msg_t *)m;
    berth_pod_info_free(im->info);
    berth_free(im->ctr_id);
    berth_err_free(&im->error);
    berth_free(im);
}

berth_ctrs_infra_msg_t *berth_ctrs_infra_new(int type, struct berth_pod_info *info,
                                             berth_handle_t reply_to)
{
    berth_ctrs_infra_msg_t *im = berth_msg_new((uint32_t)type, sizeof(*im));
    im->hdr.free = infra_msg_free;
    im->info = info;
    im->reply_to = reply_to;
    return im;
}

void berth_ctr_summary_free(berth_ctr_summary_t *s)
{
    if (s == NULL)
        return;
    berth_kv_fini(&s->labels);
    berth_kv_fini(&s->annotations);
    berth_free(s->id);
    berth_free(s->name);
    berth_free(s->pod_id);
    berth_free(s->ctr_name);
    berth_free(s->image);
    berth_free(s->image_ref);
    berth_free(s->image_id);
    berth_free(s->image_user);
    berth_free(s->cgroup);
    berth_cgroups_reader_unref(s->cg_reader);
    berth_free(s->stats);
    berth_free(s->metrics);
    berth_free(s);
}
