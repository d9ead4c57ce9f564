/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The debug endpoint's costs (docs/observability.md, "What it costs"): one
 * backtrace() of a shallow stack (what a sample costs in its handler), the
 * CPU a spinning thread needs for fixed work with no profile, at 100 Hz and
 * at 1000 Hz, and one actor dump with N live labeled actors (default
 * 10,000). Prints figures; never a pass/fail test.
 *
 *   debug_bench [actors]
 */
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "actors/debug.h"
#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/prof.h"
#include "engine/sched.h"

static uint64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) static double unwind(int calls)
{
    void *frames[BERTH_PROF_MAX_DEPTH];
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
    int n = 0;
    for (int i = 0; i < calls; i++)
        n += backtrace(frames, BERTH_PROF_MAX_DEPTH);
    double us = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1000.0 / calls;
    printf("backtrace(): %.2f us per call (%d frames)\n", us, n / calls);
    return us;
}

__attribute__((noinline)) static double spin_ms(void)
{
    volatile uint64_t x = 0;
    uint64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (uint64_t i = 0; i < 300000000ull; i++)
        x = x * 31 + i;
    return (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0) / 1e6;
}

static void discard(void *ctx, const uintptr_t *pcs, size_t n, uint32_t weight)
{
}

static void idle_receive(berth_actor_t *self, berth_msg_t *msg)
{
    berth_msg_free(msg);
}
static const berth_actor_class_t idle_cls = {.name = "bench", .receive = idle_receive};

int main(int argc, char **argv)
{
    int actors = argc > 1 ? atoi(argv[1]) : 10000;
    unwind(1000); /* the first call loads the unwinder */
    unwind(20000);
    double base = spin_ms();
    printf("fixed work, no profile: %.1f ms of CPU\n", base);
    for (unsigned hz = 100; hz <= 1000; hz *= 10) {
        berth_err_t err = NULL;
        if (berth_prof_start(hz, &err) < 0) {
            printf("cannot profile: %s\n", err->msg);
            return 1;
        }
        double t = spin_ms();
        berth_prof_stats_t st;
        berth_prof_stop(discard, NULL, &st);
        printf("fixed work at %u Hz: %.1f ms of CPU (%+.2f%%), %llu signals\n", hz, t,
               (t - base) / base * 100, (unsigned long long)st.samples);
    }

    berth_engine_config_t cfg = {.workers = 2};
    berth_err_t err = NULL;
    if (berth_engine_start(&cfg, &err) < 0) {
        printf("engine: %s\n", err->msg);
        return 1;
    }
    for (int i = 0; i < actors; i++) {
        char label[80];
        snprintf(label, sizeof(label), "%064x", i);
        berth_actor_spawn_labeled(&idle_cls, NULL, label);
    }
    for (int round = 0; round < 3; round++) {
        berth_bytebuf_t b = {0};
        uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
        berth_debug_actors_json(&b);
        uint64_t t1 = clock_ns(CLOCK_MONOTONIC);
        printf("actor dump, %d actors: %.1f ms (%.2f us per actor), %zu bytes\n", actors,
               (double)(t1 - t0) / 1e6, (double)(t1 - t0) / 1e3 / actors, b.len);
        berth_bytebuf_free(&b);
    }
    berth_engine_stop();
    berth_engine_join();
    berth_engine_shutdown();
    return 0;
}
