/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who drops a call's reference: the request and cancel messages own one
 * each, dropped by their free hook, so a receiver never unrefs by hand and a
 * message the engine frees unread (its receiver gone, or exiting with it
 * still queued) does not leak the call. Deterministic mode; under the ASan
 * build a leak or a double drop is also a sanitizer error.
 */
#include <stdio.h>

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/grpc-internal.h"
#include "tests/unit/check.h"

enum { M_EXIT = BERTH_MSG_USER };

static int cancels_seen;

static void owner_receive(berth_actor_t *self, berth_msg_t *msg)
{
    if (msg->type == M_EXIT)
        berth_actor_exit(self); /* the cancel behind it is never read */
    else if (msg->type == BERTH_MSG_GRPC_CANCEL)
        cancels_seen++;
    berth_msg_free(msg);
}

static const berth_actor_class_t owner_class = {.name = "owner", .receive = owner_receive};

int main(void)
{
    berth_err_t err = NULL;
    berth_engine_config_t cfg = {.deterministic = true, .seed = 3};
    if (berth_engine_start(&cfg, &err) < 0) {
        check(false, "engine starts: %s", err->msg);
        printf("1..%d\n", ntest);
        return 1;
    }
    /* a cancel that is read: the receiver does nothing with the call */
    berth_handle_t a = berth_actor_spawn(&owner_class, NULL);
    berth_grpc_call_t *call = berth_grpc_call_new(BERTH_HANDLE_NONE, 1, "/t/M", 0, a);
    berth_grpc_call_send_cancel(call, BERTH_GRPC_CANCEL_RESET);
    ok(berth_ref_count(&call->refs) == 2, "the cancel holds a reference while queued");
    berth_engine_run();
    ok(cancels_seen == 1 && berth_ref_count(&call->refs) == 1,
       "read and freed: its reference is dropped by the message");

    /* a cancel still queued when its receiver exits */
    berth_handle_t b = berth_actor_spawn(&owner_class, NULL);
    berth_grpc_call_set_owner(call, b);
    berth_send(b, berth_msg_new(M_EXIT, sizeof(berth_msg_t)));
    berth_grpc_call_send_cancel(call, BERTH_GRPC_CANCEL_DEADLINE);
    berth_engine_run();
    ok(cancels_seen == 1 && berth_ref_count(&call->refs) == 1,
       "queued behind an exit: freed unread, its reference dropped");

    /* a cancel to an owner that is gone: the send fails and frees it */
    berth_grpc_call_send_cancel(call, BERTH_GRPC_CANCEL_CLOSED);
    ok(berth_ref_count(&call->refs) == 1, "to a stale owner: dropped at once");

    /* ours is the only reference left: dropping it frees the call (the ASan
     * build reports a leak or a double free if the count was wrong) */
    ok(berth_ref_count(&call->refs) == 1, "no message holds the call any more");
    berth_grpc_call_unref(call);
    berth_engine_shutdown();
    printf("1..%d\n", ntest);
    return nfail != 0;
}
