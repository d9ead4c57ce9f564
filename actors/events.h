/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The events actor: GetContainerEvents. Containers and pods publish
 * their lifecycle events here; every open GetContainerEvents call is a
 * subscriber and gets each event, in the order the events actor received
 * them, so one publisher's events (one container's) arrive in order.
 *
 * Fan-out never slows berth: an event is one mail to this actor and one
 * copy per subscriber to its connection. A subscriber that does not read has
 * its stream reset by io/ once max_stream_queued bytes wait unsent
 * (BERTH_GRPC_CANCEL_OVERFLOW); it is dropped and counted, and the kubelet
 * sees RESOURCE_EXHAUSTED and falls back to relisting.
 */
#ifndef BERTH_ACTORS_EVENTS_H
#define BERTH_ACTORS_EVENTS_H

#include <stdint.h>

#include "api.pb-c.h"
#include "engine/actor.h"

/* The events actor. It receives the GetContainerEvents calls
 * (BERTH_MSG_CRI_REQUEST, routed by the CRI actor, which makes it the call's
 * owner) and their cancellations. Main thread or actor turn. */
berth_handle_t berth_events_spawn(void);

/* Publishes one event (packed here, so ev may be freed at once). A NONE
 * handle drops it: actors started without an events actor (tests) publish
 * nothing. Any actor turn; never blocks. */
void berth_events_publish(berth_handle_t events, const Runtime__V1__ContainerEventResponse *ev);

/* Process-wide counters, for reports, metrics and tests. */
typedef struct berth_events_counts {
    uint64_t published;   /* events received by the events actor */
    uint64_t sent;        /* copies handed to subscribers' connections */
    uint64_t subscribers; /* open GetContainerEvents calls now */
    uint64_t dropped;     /* subscribers dropped because they did not read */
} berth_events_counts_t;

void berth_events_get_counts(berth_events_counts_t *out);

#endif
