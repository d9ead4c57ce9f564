/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deterministic mode: a run of chatty actors (random sends, spawns, timers
 * and exits) replays turn for turn with the same seed, differs with another
 * seed, and runs entirely on the calling thread.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "tap.h"

enum { M_HOP = BERTH_MSG_USER, M_TIMER };

#define NACT 24
#define MAXLOG 200000

struct hop {
    berth_msg_t hdr;
    int ttl;
};

static berth_handle_t actors[NACT];
static uint32_t *trace;
static size_t ntrace;
static bool off_thread;
static pthread_t main_thread;

struct st {
    int id;
    uint64_t x;
};

static void d_receive(berth_actor_t *self, berth_msg_t *msg)
{
    struct st *s = berth_actor_state(self);
    if (!pthread_equal(pthread_self(), main_thread) || berth_engine_current_worker() != 0)
        off_thread = true;
    if (ntrace < MAXLOG)
        trace[ntrace++] = (uint32_t)(s->id << 16) ^ msg->type ^ (uint32_t)(berth_now_ns() >> 10);
    if (msg->type == M_HOP) {
        struct hop *h = (struct hop *)msg;
        /* the actor's own PRNG: deterministic per message history */
        s->x = s->x * 6364136223846793005u + 1442695040888963407u;
        if (h->ttl > 0) {
            int fan = 1 + (int)((s->x >> 40) % 2);
            for (int i = 0; i < fan && h->ttl > 0; i++) {
                struct hop *n = berth_msg_new(M_HOP, sizeof(*n));
                n->ttl = h->ttl - 1 - i;
                berth_send(actors[(s->x >> (20 + i)) % NACT], &n->hdr);
            }
            if ((s->x >> 50) % 5 == 0)
                berth_timer_after(self, (s->x >> 30) % 1000000, berth_msg_new(M_TIMER, 64));
        }
    }
    berth_msg_free(msg);
}
static const berth_actor_class_t d_cls = {"det", d_receive, berth_free};

static size_t run_once(uint64_t seed, uint32_t *out, uint64_t *seed_seen)
{
    berth_engine_config_t cfg = {.deterministic = true, .seed = seed, .batch = 3};
    berth_err_t err = NULL;
    if (berth_engine_start(&cfg, &err) < 0)
        return 0;
    *seed_seen = berth_engine_seed();
    trace = out;
    ntrace = 0;
    for (int i = 0; i < NACT; i++) {
        struct st *s = berth_calloc(1, sizeof(*s));
        s->id = i;
        s->x = (uint64_t)i + 1;
        actors[i] = berth_actor_spawn(&d_cls, s);
    }
    for (int i = 0; i < 4; i++) {
        struct hop *h = berth_msg_new(M_HOP, sizeof(*h));
        h->ttl = 14;
        berth_send(actors[i * 5], &h->hdr);
    }
    berth_engine_run();
    berth_engine_shutdown();
    return ntrace;
}

int main(void)
{
    tap_plan(4);
    main_thread = pthread_self();
    uint32_t *a = berth_calloc(MAXLOG, sizeof(uint32_t));
    uint32_t *b = berth_calloc(MAXLOG, sizeof(uint32_t));
    uint32_t *c = berth_calloc(MAXLOG, sizeof(uint32_t));
    uint64_t sa = 0, sb = 0, sc = 0;
    size_t na = run_once(12345, a, &sa);
    size_t nb = run_once(12345, b, &sb);
    bool env = getenv("BERTH_SEED") != NULL;
    tap_ok(na > 1000 && (env || sa == 12345), "a run of %zu turns' messages with seed %llu", na,
           (unsigned long long)sa);
    tap_ok(na == nb && memcmp(a, b, na * sizeof(uint32_t)) == 0 && sa == sb,
           "the same seed replays the same message order");
    size_t nc = run_once(777, c, &sc);
    tap_ok(env || nc != na || memcmp(a, c, na * sizeof(uint32_t)) != 0,
           "another seed gives another order");
    tap_ok(!off_thread, "every turn ran on the calling thread as worker 0");
    berth_free(a);
    berth_free(b);
    berth_free(c);
    return tap_done();
}
