/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timers, threaded and deterministic: messages arrive in deadline order and
 * equal deadlines in arming order; a cancelled timer's message is never
 * received, whether it was still pending or already in the mailbox; in
 * deterministic mode virtual time jumps to each deadline exactly.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/atomic-internal.h"

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "tap.h"

enum { M_START = BERTH_MSG_USER, M_TICK, M_KICK };

struct tick {
    berth_msg_t hdr;
    int idx;
    uint64_t due;
};

#define NT 16
/* deadlines in ms, arming order = index; equal values must keep that order */
static const uint64_t delays_ms[NT] = {5, 1, 3, 3, 2, 8, 1, 5, 3, 0, 0, 7, 2, 2, 6, 4};

struct tstate {
    int got[NT + 4];
    int ngot;
    uint64_t late_ns[NT + 4];
    berth_timer_t *pending_cancel;
    berth_timer_t *fired_cancel;
    int cancelled_received;
    uint64_t done; /* atomic */
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static berth_msg_t *tick_new(int idx, uint64_t due)
{
    struct tick *t = berth_msg_new(M_TICK, sizeof(*t));
    t->idx = idx;
    t->due = due;
    return &t->hdr;
}

static void t_receive(berth_actor_t *self, berth_msg_t *msg)
{
    struct tstate *st = berth_actor_state(self);
    if (msg->type == M_START) {
        uint64_t now = berth_now_ns();
        for (int i = 0; i < NT; i++)
            berth_timer_after(self, delays_ms[i] * 1000000u,
                              tick_new(i, now + delays_ms[i] * 1000000u));
        /* cancelled while pending */
        st->pending_cancel = berth_timer_after(self, 4000000u, tick_new(100, 0));
        berth_timer_cancel(self, st->pending_cancel);
        /* fires while this turn runs on: its message lands behind KICK */
        st->fired_cancel = berth_timer_after(self, 0, tick_new(101, 0));
        berth_send(berth_actor_self(self), berth_msg_new(M_KICK, sizeof(berth_msg_t)));
        uint64_t end = mono_ns() + 2000000u;
        while (mono_ns() < end)
            ;
    } else if (msg->type == M_KICK) {
        berth_timer_cancel(self, st->fired_cancel);
    } else {
        struct tick *t = (struct tick *)msg;
        if (t->idx >= 100) {
            st->cancelled_received++;
        } else {
            uint64_t now = berth_now_ns();
            st->late_ns[st->ngot] = now - t->due;
            st->got[st->ngot++] = t->idx;
        }
        if (st->ngot == NT)
            ck_pr_store_64(&st->done, 1);
    }
    berth_msg_free(msg);
}
static const berth_actor_class_t t_cls = {"timers", t_receive, NULL};

static bool in_order(struct tstate *st)
{
    for (int i = 1; i < st->ngot; i++) {
        int a = st->got[i - 1], b = st->got[i];
        if (delays_ms[a] > delays_ms[b] || (delays_ms[a] == delays_ms[b] && a > b))
            return false;
    }
    return st->ngot == NT;
}

static void print_order(struct tstate *st)
{
    printf("# order:");
    for (int i = 0; i < st->ngot; i++)
        printf(" %d(%llums)", st->got[i], (unsigned long long)delays_ms[st->got[i]]);
    printf("\n");
}

int main(void)
{
    tap_plan(7);
    berth_err_t err = NULL;

    /* threaded */
    berth_engine_config_t cfg = {.workers = 2};
    if (berth_engine_start(&cfg, &err) < 0) {
        printf("1..0 # SKIP %s\n", err->msg);
        return 77;
    }
    struct tstate *st = berth_calloc(1, sizeof(*st));
    berth_handle_t h = berth_actor_spawn(&t_cls, st);
    berth_send(h, berth_msg_new(M_START, sizeof(berth_msg_t)));
    uint64_t end = mono_ns() + 5000000000u;
    while (!ck_pr_load_64(&st->done) && mono_ns() < end)
        usleep(1000);
    usleep(20000);
    berth_engine_stop();
    berth_engine_join();
    print_order(st);
    tap_ok(in_order(st), "threaded: timers arrive in deadline order, ties in arming order");
    bool late_ok = true;
    for (int i = 0; i < st->ngot; i++)
        late_ok &= (int64_t)st->late_ns[i] >= 0;
    tap_ok(late_ok, "threaded: no timer fires before its deadline");
    tap_ok(st->cancelled_received == 0,
           "threaded: cancelled timers (pending, and already mailed) are never received");
    berth_engine_shutdown();
    berth_free(st);

    /* deterministic: virtual time */
    cfg = (berth_engine_config_t){.deterministic = true, .seed = 99};
    if (berth_engine_start(&cfg, &err) < 0) {
        printf("not ok - det start: %s\n", err->msg);
        return 1;
    }
    st = berth_calloc(1, sizeof(*st));
    h = berth_actor_spawn(&t_cls, st);
    uint64_t t0 = berth_now_ns();
    berth_send(h, berth_msg_new(M_START, sizeof(berth_msg_t)));
    uint64_t wall0 = mono_ns();
    berth_engine_run();
    print_order(st);
    tap_ok(in_order(st), "deterministic: same ordering rules");
    bool exact = true;
    for (int i = 0; i < st->ngot; i++)
        exact &= st->late_ns[i] == 0;
    tap_ok(exact && berth_now_ns() == t0 + 8000000u,
           "deterministic: virtual time jumps exactly to each deadline (now=+%llu ns)",
           (unsigned long long)(berth_now_ns() - t0));
    tap_ok(st->cancelled_received == 0, "deterministic: cancelled timers never received");
    berth_engine_shutdown();
    berth_free(st);

    /* run_until stops where virtual time would pass the deadline */
    cfg = (berth_engine_config_t){.deterministic = true, .seed = 5};
    berth_engine_start(&cfg, &err);
    st = berth_calloc(1, sizeof(*st));
    h = berth_actor_spawn(&t_cls, st);
    berth_send(h, berth_msg_new(M_START, sizeof(berth_msg_t)));
    berth_engine_run_until(t0 + 3000000u, 0);
    int partial = st->ngot;
    berth_engine_run();
    tap_ok(partial > 0 && partial < NT && st->ngot == NT && mono_ns() - wall0 < 2000000000u,
           "run_until stops at the deadline (%d of %d fired), run finishes the rest", partial, NT);
    berth_engine_shutdown();
    berth_free(st);
    return tap_done();
}
