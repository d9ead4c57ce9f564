/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPU sampler behind the debug endpoint's profile: while it runs, each
 * thread that takes signals (the engine's workers and the main thread) gets
 * a timer on its own CPU-time clock, and so does each thread that blocks
 * them but joins with berth_prof_thread_begin (the blocking pool, around
 * each job it starts while a session runs), and every `1/hz` of CPU that thread uses
 * a SIGPROF handler records its stack into a lock-free ring. A consumer
 * drains the ring while sampling goes on. The daemon never stops: a sample
 * costs one unwind of the interrupted stack (a few microseconds).
 *
 * One session at a time per process. The handler is async-signal-safe: it
 * touches only the ring and atomics, and unwinds with backtrace(), warmed up
 * at start so it never loads anything in a handler (glibc 2.35+ and libgcc
 * 12+ find unwind tables without a lock).
 */
#ifndef BERTH_ENGINE_PROF_H
#define BERTH_ENGINE_PROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"

#define BERTH_PROF_MAX_DEPTH 64
#define BERTH_PROF_MAX_HZ 1000

typedef struct berth_prof_stats {
    uint64_t samples;   /* recorded */
    uint64_t dropped;   /* lost to a full ring (the consumer fell behind) */
    unsigned threads;   /* threads with a timer */
    unsigned skipped;   /* threads that blocked SIGPROF at start: sampled only if they join */
    unsigned joined;    /* threads that joined later (berth_prof_thread_begin) */
    uint64_t period_ns; /* CPU time between two samples of one thread */
} berth_prof_stats_t;

/* Starts sampling the process's threads at hz (1..BERTH_PROF_MAX_HZ) samples
 * per CPU-second each. Reads /proc/self/task: call it off the workers (a
 * blocking-pool job or main). Fails with PRECONDITION while a session runs,
 * INVALID for a bad hz. */
int berth_prof_start(unsigned hz, berth_err_t *err);

/* Receives one recorded stack, leaf first (pcs[0] is the interrupted
 * instruction, the rest return addresses), and its weight: the periods of
 * CPU it stands for (more than 1 when the kernel, which checks CPU timers
 * at its tick, delivered several expiries as one signal). */
typedef void (*berth_prof_fn)(void *ctx, const uintptr_t *pcs, size_t n, uint32_t weight);

/* Hands each recorded stack to fn and frees its ring slot. One consumer at
 * a time: the thread that started the session. */
size_t berth_prof_drain(berth_prof_fn fn, void *ctx);

/* Stops the timers, waits for handlers still running, drains what is left
 * into fn (may be NULL) and frees the ring. The session's figures go to
 * *stats (may be NULL). No-op when nothing runs. Same thread as start. */
void berth_prof_stop(berth_prof_fn fn, void *ctx, berth_prof_stats_t *stats);

/* For a thread that blocks every signal (a blocking-pool thread), before a
 * unit of work or at a point within one: while a session runs, gives this
 * thread a timer in it (once per session) and unblocks SIGPROF, returning
 * true (again at once when it is unblocked already); the thread calls
 * berth_prof_thread_end after the work. Outside a session it is one atomic
 * load and returns false. The work then runs with SIGPROF deliverable: the
 * handler is SA_RESTART, so read, write, waitpid, connect and the like
 * restart, but poll, nanosleep, epoll_wait and sigtimedwait can return
 * EINTR (only while a profile is being taken, and only after the thread
 * used CPU in the call), so such work must retry on EINTR. */
bool berth_prof_thread_begin(void);

/* Blocks SIGPROF again if begin unblocked it (else nothing: a thread-local
 * test). A signal still pending waits for the next begin, or is ignored
 * once the session is over. */
void berth_prof_thread_end(void);

#endif
