/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine: N workers, each with its own run queue and io_uring ring; idle
 * workers steal from others and sleep in submit-and-wait. One engine per
 * process. A deterministic mode runs everything on the calling thread with a
 * seeded choice of the next actor and virtual time, so tests can replay a run.
 */
#ifndef BERTH_ENGINE_SCHED_H
#define BERTH_ENGINE_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/err.h"

typedef struct berth_engine_config {
    unsigned workers;      /* 0: online CPUs */
    unsigned batch;        /* messages per actor turn; 0: default (64) */
    unsigned ring_entries; /* SQ size per worker ring; 0: default (256) */
    bool deterministic;    /* single worker on the calling thread */
    uint64_t seed;         /* deterministic mode: 0 picks one (printed) */
} berth_engine_config_t;

/* Starts the workers (threaded mode) or prepares deterministic mode.
 * Fails with a clear error if io_uring is unavailable. Main thread only. */
int berth_engine_start(const berth_engine_config_t *cfg, berth_err_t *err);

/* Threaded mode: blocks the calling (non-worker) thread until
 * berth_engine_stop() is called, then joins the workers. */
void berth_engine_join(void);

/* Asks the engine to stop: workers finish their current turn and exit.
 * Callable from any thread, including an actor turn. */
void berth_engine_stop(void);

/* Frees every remaining actor (fini) and message, the rings and the registry.
 * After join, or after deterministic runs. */
void berth_engine_shutdown(void);

/* Deterministic mode: runs turns on the calling thread until nothing is
 * runnable, no op is in flight and no timer is pending, or until
 * berth_engine_stop(). Pending timers advance virtual time instead of
 * sleeping. Returns the number of turns run. */
uint64_t berth_engine_run(void);
/* Deterministic mode: as berth_engine_run, but returns once virtual time would
 * pass `deadline_ns` or after `max_turns` turns (0: no limit). */
uint64_t berth_engine_run_until(uint64_t deadline_ns, uint64_t max_turns);
uint64_t berth_engine_seed(void);

unsigned berth_engine_workers(void);
/* The calling worker's index, or -1 off the workers. */
int berth_engine_current_worker(void);

/* Statistics for dumps and benchmarks (approximate, relaxed reads). */
typedef struct berth_engine_stats {
    uint64_t turns, messages, steals, cqes, actors_live;
} berth_engine_stats_t;
void berth_engine_get_stats(berth_engine_stats_t *out);

/* Calls fn for each live actor with its name and approximate mailbox depth
 * (profiling dump). Any thread; the snapshot is racy by design. */
void berth_engine_foreach_actor(void (*fn)(void *ctx, const char *name, uint64_t handle,
                                           uint64_t depth),
                                void *ctx);

/* One live actor as a dump shows it. Strings are borrowed for the callback. */
typedef struct berth_actor_info {
    uint64_t handle;
    const char *kind;  /* its class's name ("pod", "container", ...) */
    const char *label; /* berth_actor_set_label's text, "" when none */
    const char *state; /* "running", "queued", "idle" or "reserved" */
    int worker;        /* running: the worker's index; -1 otherwise */
    uint64_t depth;    /* messages not handled yet, the turn's own included (approximate) */
    uint64_t handled;  /* messages handled since it started */
} berth_actor_info_t;

/* Calls fn for each live actor (the debug endpoint's actor dump). Any
 * thread, including an actor turn; actors may come and go meanwhile: each
 * one is read under a sender reference, so none is freed while it is read,
 * and one that exits during the walk is either reported or not. Costs one
 * atomic increment and decrement per live actor; nothing on the send or
 * spawn paths. */
void berth_engine_foreach_actor_info(void (*fn)(void *ctx, const berth_actor_info_t *info),
                                     void *ctx);

#endif
