/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reserved handles: two actors that route to each other get each other's
 * handle before either runs. Mail sent to a reserved handle waits, in order,
 * and is run after berth_actor_start; threaded and deterministic modes.
 */
#include <ck_pr.h>
#include <unistd.h>

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/atomic-internal.h" /* ck loads TSan understands */
#include "engine/sched.h"
#include "tap.h"

enum { M_SEQ = BERTH_MSG_USER, M_PING };

#define N 500

struct seq {
    berth_msg_t hdr;
    uint64_t n;
};

typedef struct peer {
    berth_handle_t other;
    uint64_t received, next, out_of_order, pings;
} peer_t;

static void peer_receive(berth_actor_t *self, berth_msg_t *msg)
{
    peer_t *p = berth_actor_state(self);
    if (msg->type == M_SEQ) {
        struct seq *s = (struct seq *)msg;
        if (s->n != p->next)
            ck_pr_inc_64(&p->out_of_order);
        p->next = s->n + 1;
        ck_pr_inc_64(&p->received);
        /* the first message of the run: each peer greets the other */
        if (s->n == 0)
            berth_send(p->other, berth_msg_new(M_PING, sizeof(berth_msg_t)));
    } else if (msg->type == M_PING) {
        ck_pr_inc_64(&p->pings);
    }
    berth_msg_free(msg);
}

static const berth_actor_class_t peer_class = {.name = "peer", .receive = peer_receive};

static void send_seq(berth_handle_t h, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++) {
        struct seq *s = berth_msg_new(M_SEQ, sizeof(*s));
        s->n = i;
        berth_send(h, &s->hdr);
    }
}

static bool wait_for(uint64_t *v, uint64_t want)
{
    for (int i = 0; i < 4000; i++) {
        if (ck_pr_load_64(v) >= want)
            return true;
        usleep(500);
    }
    return false;
}

int main(void)
{
    tap_plan(7);
    berth_err_t err = NULL;
    berth_engine_config_t cfg = {.workers = 2};
    if (berth_engine_start(&cfg, &err) < 0) {
        tap_ok(false, "engine starts: %s", err->msg);
        return tap_done();
    }
    peer_t *a = berth_calloc(1, sizeof(*a)), *b = berth_calloc(1, sizeof(*b));
    berth_handle_t ha = berth_actor_reserve(), hb = berth_actor_reserve();
    tap_ok(berth_handle_valid(ha) && berth_handle_valid(hb) && !berth_handle_eq(ha, hb),
           "two reserved handles");
    a->other = hb;
    b->other = ha;
    send_seq(ha, 0, N / 2);
    send_seq(hb, 0, N / 2);
    usleep(20000);
    tap_ok(ck_pr_load_64(&a->received) == 0 && ck_pr_load_64(&b->received) == 0,
           "mail to a reserved handle waits");
    berth_actor_start(ha, &peer_class, a);
    berth_actor_start(hb, &peer_class, b);
    send_seq(ha, N / 2, N);
    send_seq(hb, N / 2, N);
    tap_ok(wait_for(&a->received, N) && wait_for(&b->received, N),
           "every message ran after the start (%llu, %llu of %d)", (unsigned long long)a->received,
           (unsigned long long)b->received, N);
    tap_ok(ck_pr_load_64(&a->out_of_order) == 0 && ck_pr_load_64(&b->out_of_order) == 0,
           "in the order sent");
    tap_ok(wait_for(&a->pings, 1) && wait_for(&b->pings, 1),
           "each reached the other through the handle it was given before it ran");
    berth_engine_stop();
    berth_engine_join();
    berth_engine_shutdown();

    /* deterministic mode: the same, on the calling thread */
    berth_engine_config_t dcfg = {.deterministic = true, .seed = 7};
    if (berth_engine_start(&dcfg, &err) < 0) {
        tap_ok(false, "deterministic engine starts: %s", err->msg);
        return tap_done();
    }
    peer_t *c = berth_calloc(1, sizeof(*c));
    berth_handle_t hc = berth_actor_reserve();
    c->other = hc;
    send_seq(hc, 0, 10);
    uint64_t turns = berth_engine_run();
    tap_ok(c->received == 0 && turns == 0, "deterministic: nothing runs before the start");
    berth_actor_start(hc, &peer_class, c);
    berth_engine_run();
    tap_ok(c->received == 10 && c->out_of_order == 0 && c->pings == 1,
           "deterministic: all ten in order, then its own ping");
    berth_engine_shutdown();
    return tap_done();
}
