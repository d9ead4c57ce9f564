/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPU sampler: a thread spinning in a known function collects samples
 * whose leaf lies in it; one session at a time; a bad rate is refused;
 * a thread that blocks SIGPROF gets no timer; stop is idempotent and a
 * second session works after the first.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/prof.h"
#include "tap.h"

#include "engine/atomic-internal.h"

static int spin_stop;
/* glibc starts a thread with every signal blocked and unblocks them in the
 * thread itself: sample only once the spinner runs its own code. */
static int spin_started;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) static uint64_t busy_loop(void)
{
    volatile uint64_t x = 0;
    ck_pr_store_int(&spin_started, 1);
    while (!ck_pr_load_int(&spin_stop))
        for (int i = 0; i < 100000; i++)
            x = x * 31 + (uint64_t)i;
    return x;
}

__attribute__((noinline)) static void busy_loop_end(void)
{
    __asm__ volatile("");
}

static void *spinner(void *arg)
{
    (void)arg;
    busy_loop();
    return NULL;
}

struct tally {
    uint64_t stacks, in_busy, max_depth, weight;
};

static void count(void *ctx, const uintptr_t *pcs, size_t n, uint32_t weight)
{
    struct tally *t = ctx;
    t->stacks++;
    t->weight += weight;
    if (n > t->max_depth)
        t->max_depth = n;
    /* The leaf or its caller sits in busy_loop (the spinner may be in the
     * loop body or between calls). */
    for (size_t i = 0; i < n && i < 2; i++) {
        if (pcs[i] >= (uintptr_t)busy_loop && pcs[i] < (uintptr_t)busy_loop_end) {
            t->in_busy++;
            break;
        }
    }
}

int main(void)
{
    tap_plan(11);
    berth_err_t err = NULL;
    tap_ok(berth_prof_start(0, &err) < 0 && err->kind == BERTH_ERR_INVALID, "0 Hz is refused");
    berth_err_free(&err);
    tap_ok(berth_prof_start(BERTH_PROF_MAX_HZ + 1, &err) < 0,
           "more than the maximum rate is refused");
    berth_err_free(&err);

    /* The main thread blocks SIGPROF (as the blocking pool's threads do):
     * only the spinner, started with it unblocked, gets a timer. */
    pthread_t t;
    pthread_create(&t, NULL, spinner, NULL);
    while (!ck_pr_load_int(&spin_started))
        usleep(1000);
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, NULL);

    tap_ok(berth_prof_start(1000, &err) == 0, "a session starts at 1000 Hz");
    berth_err_free(&err);
    tap_ok(berth_prof_start(100, &err) < 0 && err->kind == BERTH_ERR_PRECONDITION,
           "a second session at once is refused (PRECONDITION)");
    berth_err_free(&err);
    struct tally tl = {0};
    uint64_t end = now_ns() + 400000000ull;
    while (now_ns() < end) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        berth_prof_drain(count, &tl);
    }
    berth_prof_stats_t st;
    berth_prof_stop(count, &tl, &st);
    printf("# %" PRIu64 " stacks, %" PRIu64 " in busy_loop, depth up to %" PRIu64
           ", %u threads, %" PRIu64 " dropped\n",
           tl.stacks, tl.in_busy, tl.max_depth, st.threads, st.dropped);
    tap_ok(st.threads == 1, "one thread sampled (the main thread blocks SIGPROF): %u", st.threads);
    tap_ok(st.skipped == 1, "the main thread is counted as not sampled: %u", st.skipped);
    /* 400 ms of one spinning thread at 1 kHz: ~400 samples, fewer on a
     * loaded machine; 5 say the timer and handler work. */
    tap_ok(tl.stacks >= 5 && tl.stacks == st.samples,
           "samples recorded and all drained (%" PRIu64 ")", tl.stacks);
    tap_ok(tl.in_busy * 10 >= tl.stacks * 9, "at least 90%% of them in the spinning function");
    tap_ok(tl.max_depth >= 3, "stacks unwind past the leaf (thread start frames)");
    /* the kernel checks CPU timers at its tick (often 250 Hz): at 1 kHz a
     * signal stands for several periods, and the weights say so */
    printf("# weights sum to %" PRIu64 " ms of CPU for %" PRIu64 " signals\n", tl.weight,
           tl.stacks);
    tap_ok(tl.weight >= tl.stacks, "every sample weighs at least one period");

    berth_prof_stop(NULL, NULL, NULL); /* no session: a no-op */
    tap_ok(berth_prof_start(100, &err) == 0, "a new session starts after the first");
    berth_prof_stop(NULL, NULL, NULL);
    berth_err_free(&err);

    ck_pr_store_int(&spin_stop, 1);
    pthread_join(t, NULL);
    return tap_failed ? 1 : 0;
}
