/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GetContainerEvents subscribers and the fan-out to them (see events.h).
 */
#include "actors/events.h"

#include <stdbool.h>
#include <string.h>

#include "actors/cri.h"
#include "actors/msgtypes.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "io/grpc.h"

typedef struct publish_msg {
    berth_msg_t hdr; /* BERTH_MSG_EVENTS_PUBLISH */
    uint8_t *pb;
    size_t len;
} publish_msg_t;

typedef struct events {
    /* open calls, each with one reference, in subscription order */
    berth_grpc_call_t **subs;
    size_t n, cap;
    /* Calls whose cancellation came before their subscription (the CRI
     * actor makes us the owner, then mails the request; the connection's
     * cancel may overtake it): one reference each, matched on arrival. */
    berth_grpc_call_t **early;
    size_t nearly, capearly;
} events_t;

/* Relaxed: independent counters for reports, never used to order other
 * memory; a reader may see one a moment before another. */
static uint64_t n_published, n_sent, n_subscribers, n_dropped;

void berth_events_get_counts(berth_events_counts_t *out)
{
    out->published = __atomic_load_n(&n_published, __ATOMIC_RELAXED);
    out->sent = __atomic_load_n(&n_sent, __ATOMIC_RELAXED);
    out->subscribers = __atomic_load_n(&n_subscribers, __ATOMIC_RELAXED);
    out->dropped = __atomic_load_n(&n_dropped, __ATOMIC_RELAXED);
}

static void publish_free(berth_msg_t *msg)
{
    berth_free(((publish_msg_t *)msg)->pb);
    berth_free(msg);
}

void berth_events_publish(berth_handle_t events, const Runtime__V1__ContainerEventResponse *ev)
{
    if (!berth_handle_valid(events))
        return;
    publish_msg_t *m = berth_msg_new(BERTH_MSG_EVENTS_PUBLISH, sizeof(*m));
    m->hdr.free = publish_free;
    m->pb = berth_cri_pack(&ev->base, &m->len);
    berth_send(events, &m->hdr); /* a gone events actor (shutdown) frees it */
}

static void push(berth_grpc_call_t ***v, size_t *n, size_t *cap, berth_grpc_call_t *call)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *v = berth_realloc(*v, *cap * sizeof(**v));
    }
    (*v)[(*n)++] = call;
}

/* Removes call from v (keeping the order); whether it was there. */
static bool take_out(berth_grpc_call_t **v, size_t *n, berth_grpc_call_t *call)
{
    for (size_t i = 0; i < *n; i++) {
        if (v[i] == call) {
            memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
            (*n)--;
            return true;
        }
    }
    return false;
}

static void on_subscribe(events_t *e, berth_cri_req_msg_t *rm)
{
    berth_grpc_call_t *call = berth_steal_ptr(&rm->call);
    if (call == NULL)
        return; /* an internal request has no stream to send to */
    if (take_out(e->early, &e->nearly, call)) {
        /* already cancelled: nothing will read it */
        berth_grpc_call_unref(call);
        berth_grpc_call_unref(call);
        return;
    }
    push(&e->subs, &e->n, &e->cap, call);
    __atomic_add_fetch(&n_subscribers, 1, __ATOMIC_RELAXED);
    berth_log_info("events: subscriber added", "subscribers=%zu", e->n);
}

static void on_cancel(events_t *e, berth_grpc_cancel_msg_t *cm)
{
    berth_grpc_call_t *call = cm->call;
    if (!take_out(e->subs, &e->n, call)) {
        push(&e->early, &e->nearly, &e->capearly, berth_steal_ptr(&cm->call));
        return;
    }
    __atomic_sub_fetch(&n_subscribers, 1, __ATOMIC_RELAXED);
    if (cm->reason == BERTH_GRPC_CANCEL_OVERFLOW) {
        uint64_t d = __atomic_add_fetch(&n_dropped, 1, __ATOMIC_RELAXED);
        berth_log_warn("events: a subscriber that does not read was dropped",
                       "dropped_total=%llu subscribers=%zu", (unsigned long long)d, e->n);
    } else if (cm->reason == BERTH_GRPC_CANCEL_SHUTDOWN) {
        berth_cri_finish(call, BERTH_ERR_UNAVAILABLE, "berth is shutting down");
    }
    berth_grpc_call_unref(call); /* the subscription's */
}

static void on_publish(events_t *e, publish_msg_t *pm)
{
    __atomic_add_fetch(&n_published, 1, __ATOMIC_RELAXED);
    for (size_t i = 0; i < e->n; i++)
        berth_grpc_send(e->subs[i], pm->pb, pm->len);
    __atomic_add_fetch(&n_sent, e->n, __ATOMIC_RELAXED);
}

static void events_receive(berth_actor_t *self, berth_msg_t *msg)
{
    events_t *e = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_CRI_REQUEST:
        on_subscribe(e, (berth_cri_req_msg_t *)msg);
        break;
    case BERTH_MSG_GRPC_CANCEL:
        on_cancel(e, (berth_grpc_cancel_msg_t *)msg);
        break;
    case BERTH_MSG_EVENTS_PUBLISH:
        on_publish(e, (publish_msg_t *)msg);
        break;
    default:
        berth_log_warn("events: unexpected message", "type=%u", msg->type);
        break;
    }
    berth_msg_free(msg);
}

static void events_fini(void *state)
{
    events_t *e = state;
    for (size_t i = 0; i < e->n; i++) {
        berth_grpc_finish(e->subs[i], BERTH_GRPC_UNAVAILABLE, "berth is shutting down");
        berth_grpc_call_unref(e->subs[i]);
    }
    __atomic_sub_fetch(&n_subscribers, e->n, __ATOMIC_RELAXED);
    for (size_t i = 0; i < e->nearly; i++)
        berth_grpc_call_unref(e->early[i]);
    berth_free(e->subs);
    berth_free(e->early);
    berth_free(e);
}

static const berth_actor_class_t events_class = {
        .name = "events",
        .receive = events_receive,
        .fini = events_fini,
};

berth_handle_t berth_events_spawn(void)
{
    return berth_actor_spawn(&events_class, berth_calloc(1, sizeof(events_t)));
}
