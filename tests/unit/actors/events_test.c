/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The events actor (actors/events.c) in deterministic mode, with a fake
 * connection actor in place of io/'s: it records what each call was sent
 * and, for a call marked slow, plays io/'s part of resetting the stream once
 * `slow_cap` messages wait unread (BERTH_GRPC_CANCEL_OVERFLOW to the owner).
 * Fan-out in order to every subscriber, a slow subscriber dropped and
 * counted while the others go on, unsubscribe on cancel, a cancel that
 * overtakes its subscription, and the call references given back.
 */
#include <stdio.h>
#include <string.h>

#include "actors/cri.h"
#include "actors/events.h"
#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/grpc-internal.h"
#include "tests/unit/check.h"

#define METHOD "/runtime.v1.RuntimeService/GetContainerEvents"
#define MAXEV 64

typedef struct seen {
    int n;
    char ids[MAXEV][16];
    int types[MAXEV];
    int finished; /* grpc status + 1 once finished */
    bool slow;
    int slow_cap;
    bool reset; /* the fake reset it: later messages are dropped */
} seen_t;

static seen_t seen[8];

static void conn_receive(berth_actor_t *self, berth_msg_t *msg)
{
    (void)self;
    if (msg->type == BERTH_MSG_GRPC_OUT) {
        grpc_out_msg_t *m = (grpc_out_msg_t *)msg;
        seen_t *s = &seen[m->call->stream_id];
        if (!s->reset && (m->what & GRPC_OUT_MSG)) {
            if (s->slow && s->n >= s->slow_cap) {
                s->reset = true;
                berth_grpc_call_send_cancel(m->call, BERTH_GRPC_CANCEL_OVERFLOW);
            } else {
                Runtime__V1__ContainerEventResponse *ev =
                        runtime__v1__container_event_response__unpack(NULL, m->len, m->data);
                if (ev && s->n < MAXEV) {
                    snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", ev->container_id);
                    s->types[s->n] = ev->container_event_type;
                    s->n++;
                }
                if (ev)
                    runtime__v1__container_event_response__free_unpacked(ev, NULL);
            }
        }
        if (m->what & GRPC_OUT_FINISH)
            s->finished = m->code + 1;
    }
    berth_msg_free(msg);
}

static const berth_actor_class_t conn_class = {.name = "fakeconn", .receive = conn_receive};

static berth_handle_t conn, events;

static berth_grpc_call_t *subscribe(int sid)
{
    berth_grpc_call_t *call = berth_grpc_call_new(conn, sid, METHOD, 0, events);
    Runtime__V1__GetEventsRequest req = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
    berth_cri_req_msg_t *rm = berth_cri_req_new(METHOD, &req.base);
    berth_grpc_call_ref(call);
    rm->call = call;
    berth_send(events, &rm->hdr);
    return call;
}

static void publish(const char *id, int type)
{
    Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
    ev.container_id = (char *)id;
    ev.container_event_type = type;
    ev.created_at = 1;
    berth_events_publish(events, &ev);
}

/* s saw the n events of ids/types, in that order */
static bool saw(const seen_t *s, int n, const char *const *ids, const int *types)
{
    if (s->n != n)
        return false;
    for (int i = 0; i < n; i++)
        if (strcmp(s->ids[i], ids[i]) != 0 || s->types[i] != types[i])
            return false;
    return true;
}

int main(void)
{
    berth_err_t err = NULL;
    berth_engine_config_t cfg = {.deterministic = true, .seed = 7};
    if (berth_engine_start(&cfg, &err) < 0) {
        check(false, "engine starts: %s", err->msg);
        printf("1..%d\n", ntest);
        return 1;
    }
    conn = berth_actor_spawn(&conn_class, NULL);
    events = berth_events_spawn();
    enum {
        CR = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT,
        ST = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT,
        SP = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT,
        DE = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT,
    };

    /* fan-out: two subscribers see one container's life in order */
    berth_grpc_call_t *a = subscribe(1), *b = subscribe(2);
    berth_engine_run();
    berth_events_counts_t k;
    berth_events_get_counts(&k);
    ok(k.subscribers == 2, "two GetContainerEvents calls subscribe");
    publish("c1", CR);
    publish("c1", ST);
    publish("c2", CR);
    publish("c1", SP);
    publish("c1", DE);
    berth_engine_run();
    const char *ids[] = {"c1", "c1", "c2", "c1", "c1"};
    const int types[] = {CR, ST, CR, SP, DE};
    ok(saw(&seen[1], 5, ids, types) && saw(&seen[2], 5, ids, types),
       "each subscriber gets every event in publication order");
    berth_events_get_counts(&k);
    ok(k.published == 5 && k.sent == 10, "counted: 5 published, 10 copies sent");

    /* a slow subscriber: io/ resets it past its bound; the others go on */
    berth_grpc_call_t *c = subscribe(3);
    seen[3].slow = true;
    seen[3].slow_cap = 2;
    berth_engine_run();
    for (int i = 0; i < 6; i++)
        publish("c3", i % 2 ? ST : SP);
    berth_engine_run();
    berth_events_get_counts(&k);
    ok(k.dropped == 1 && k.subscribers == 2, "the slow subscriber is dropped and counted");
    ok(seen[1].n == 11 && seen[2].n == 11 && seen[3].n == 2,
       "the others got all six; the slow one only what fit");
    int sent_before = (int)k.sent;
    publish("c4", CR);
    berth_engine_run();
    berth_events_get_counts(&k);
    ok((int)k.sent == sent_before + 2 && seen[1].n == 12 && seen[2].n == 12,
       "after the drop nothing more is sent to it");

    /* unsubscribe on cancel (client reset, connection closed) */
    berth_grpc_call_send_cancel(a, BERTH_GRPC_CANCEL_RESET);
    berth_grpc_call_send_cancel(b, BERTH_GRPC_CANCEL_CLOSED);
    berth_engine_run();
    berth_events_get_counts(&k);
    ok(k.subscribers == 0 && k.dropped == 1, "cancelled calls are unsubscribed, not counted");
    publish("c5", CR);
    berth_engine_run();
    berth_events_get_counts(&k);
    ok(seen[1].n == 12 && seen[2].n == 12 && k.published == 13,
       "an event with no subscriber goes nowhere");
    ok(berth_ref_count(&a->refs) == 1 && berth_ref_count(&b->refs) == 1 &&
               berth_ref_count(&c->refs) == 1,
       "the events actor holds no reference to a call it dropped");

    /* a cancel that overtakes its subscription */
    berth_grpc_call_t *d = berth_grpc_call_new(conn, 4, METHOD, 0, events);
    berth_grpc_call_send_cancel(d, BERTH_GRPC_CANCEL_RESET);
    berth_engine_run();
    Runtime__V1__GetEventsRequest req = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
    berth_cri_req_msg_t *rm = berth_cri_req_new(METHOD, &req.base);
    berth_grpc_call_ref(d);
    rm->call = d;
    berth_send(events, &rm->hdr);
    berth_engine_run();
    berth_events_get_counts(&k);
    ok(k.subscribers == 0 && berth_ref_count(&d->refs) == 1,
       "a subscription whose cancel came first is not kept");

    /* shutdown: open subscribers are finished */
    berth_grpc_call_t *e = subscribe(5);
    berth_engine_run();
    berth_grpc_call_send_cancel(e, BERTH_GRPC_CANCEL_SHUTDOWN);
    berth_engine_run();
    berth_events_get_counts(&k);
    ok(k.subscribers == 0 && seen[5].finished == BERTH_GRPC_UNAVAILABLE + 1,
       "at shutdown a subscriber is finished UNAVAILABLE");

    berth_grpc_call_unref(a);
    berth_grpc_call_unref(b);
    berth_grpc_call_unref(c);
    berth_grpc_call_unref(d);
    berth_grpc_call_unref(e);
    berth_engine_shutdown();
    printf("1..%d\n", ntest);
    return nfail != 0;
}
