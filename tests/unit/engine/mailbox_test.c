/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Race loops for the MPSC mailbox and its idle mark (engine-internal API):
 * several producers against one consumer, thousands of rounds. Checks that
 * nothing is lost or duplicated, that each producer's order is kept, and that
 * the idle mark hands out exactly one "schedule" per idle period (the actor
 * is never queued in two places, and never left unscheduled with mail).
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/engine-internal.h"
#include "tap.h"

#define PRODUCERS 3

struct tmsg {
    berth_msg_t hdr;
    int producer;
    int seq;
};

struct round {
    struct berth_mpsc q;
    int per_producer;
    int tokens;     /* atomic: schedules outstanding (must stay <= 1) */
    int violations; /* atomic */
    int go;         /* atomic start flag */
};

struct prod_arg {
    struct round *r;
    int id;
};

static void *producer(void *p)
{
    struct prod_arg *a = p;
    struct round *r = a->r;
    while (!ck_pr_load_int(&r->go))
        sched_yield();
    for (int i = 0; i < r->per_producer; i++) {
        struct tmsg *m = berth_calloc(1, sizeof(*m));
        m->producer = a->id;
        m->seq = i;
        if (berth_mpsc_push_mp(&r->q, &m->hdr)) {
            /* We cleared the idle mark: we alone schedule the consumer. */
            if (ck_pr_faa_int(&r->tokens, 1) != 0)
                ck_pr_inc_int(&r->violations);
        }
    }
    return NULL;
}

/* Runs one round; returns 0 when every check held. */
static int run_round(int per_producer, int batch, int *order_bad, int *idle_bad)
{
    struct round r;
    memset(&r, 0, sizeof(r));
    berth_mpsc_init(&r.q, true);
    r.per_producer = per_producer;
    pthread_t th[PRODUCERS];
    struct prod_arg args[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        args[i] = (struct prod_arg){&r, i};
        pthread_create(&th[i], NULL, producer, &args[i]);
    }
    int next[PRODUCERS] = {0};
    int total = per_producer * PRODUCERS, got = 0;
    ck_pr_store_int(&r.go, 1);
    while (got < total) {
        if (ck_pr_load_int(&r.tokens) == 0) {
            sched_yield(); /* 2 cores, 4 threads: let a producer run */
            continue;
        }
        /* One turn: at most `batch` messages, then try to go idle. */
        int n = 0;
        berth_msg_t *m;
        while (n < batch && (m = berth_mpsc_pop_sc(&r.q)) != NULL) {
            struct tmsg *t = (struct tmsg *)m;
            if (t->seq != next[t->producer])
                (*order_bad)++;
            next[t->producer] = t->seq + 1;
            berth_free(t);
            n++;
            got++;
        }
        if (n < batch) {
            /* Give the token back first: while the mark is unset no push can
             * take it, so a second token would be a real double schedule. */
            ck_pr_dec_int(&r.tokens);
            if (!berth_mpsc_markidle_sc(&r.q))
                ck_pr_inc_int(&r.tokens);
        }
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    /* Everything consumed: the consumer must be idle (or finish going idle
     * on its next empty turn) with the queue empty. */
    if (ck_pr_load_int(&r.tokens) != 0) {
        if (berth_mpsc_pop_sc(&r.q) != NULL || !berth_mpsc_markidle_sc(&r.q))
            (*idle_bad)++;
        ck_pr_dec_int(&r.tokens);
    }
    if (ck_pr_load_int(&r.tokens) != 0 || !berth_mpsc_empty_hint(&r.q))
        (*idle_bad)++;
    *idle_bad += ck_pr_load_int(&r.violations);
    for (int i = 0; i < PRODUCERS; i++)
        if (next[i] != per_producer)
            (*order_bad)++;
    return 0;
}

int main(void)
{
    tap_plan(5);

    /* Single-threaded shape checks. */
    struct berth_mpsc q;
    berth_mpsc_init(&q, true);
    struct tmsg a = {.seq = 1}, b = {.seq = 2};
    bool first = berth_mpsc_push_mp(&q, &a.hdr);
    bool second = berth_mpsc_push_mp(&q, &b.hdr);
    tap_ok(first && !second, "only the push that finds the actor idle schedules it");
    berth_msg_t *p1 = berth_mpsc_pop_sc(&q), *p2 = berth_mpsc_pop_sc(&q),
                *p3 = berth_mpsc_pop_sc(&q);
    tap_ok(p1 == &a.hdr && p2 == &b.hdr && p3 == NULL, "FIFO pop hands out every message");
    tap_ok(berth_mpsc_markidle_sc(&q) && berth_mpsc_push_mp(&q, &a.hdr),
           "after going idle, the next push schedules again");

    int order_bad = 0, idle_bad = 0;
    for (int i = 0; i < 2000; i++)
        run_round(40, 1 + i % 7, &order_bad, &idle_bad);
    tap_ok(order_bad == 0, "2000 rounds x %d producers: per-producer order, no loss (bad=%d)",
           PRODUCERS, order_bad);
    tap_ok(idle_bad == 0, "idle mark: one schedule per idle period, none lost (bad=%d)", idle_bad);
    return tap_done();
}
