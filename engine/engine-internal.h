/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/-private declarations shared by actor.c, sched.c, timer.c and
 * ring.c: the MPSC queue, the actor and worker structs, the global engine.
 * No other folder includes this file; its layout may change at any time.
 */
#ifndef BERTH_ENGINE_INTERNAL_H
#define BERTH_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <liburing.h>

#include "engine/actor.h"
#include "engine/atomic-internal.h"
#include "engine/ring.h"
#include "engine/sched.h"

/* Engine-private message types (below 16; io/ uses 16 and up). */
enum {
    BERTH_MSG_TIMER_INTERNAL = 2,  /* a berth_timer_t in a mailbox or a worker inbox */
    BERTH_MSG_CANCEL_INTERNAL = 3, /* berth_cancel_req_t in a worker inbox */
};

/* ---- intrusive MPSC queue (Vyukov) with an idle mark ------------------ */

/* Producers swap themselves into `head`; the single consumer walks from
 * `tail`. Bit 0 of `head` is the idle mark: set by the consumer when it finds
 * the queue empty and gives up its turn; the push that swaps it out owns the
 * duty to schedule. The stub node lets the consumer hand every real message
 * out (the handler owns it) while the list is never empty. */
struct berth_mpsc {
    berth_msg_t *head; /* producers; atomic (ck_pr), bit 0 = idle mark */
    char pad_[64 - sizeof(void *)];
    berth_msg_t *tail; /* consumer only */
    berth_msg_t stub;
};

/* The link as a plain pointer for ck_pr (the public header marks it volatile;
 * every access to it goes through ck_pr). */
static inline berth_msg_t **msg_link(berth_msg_t *m)
{
    return (berth_msg_t **)(uintptr_t)&m->next;
}

void berth_mpsc_init(struct berth_mpsc *q, bool idle);
/* Any thread. Returns true when this push cleared the idle mark. */
bool berth_mpsc_push_mp(struct berth_mpsc *q, berth_msg_t *m);
/* Consumer only. NULL when empty or when a producer is mid-push. */
berth_msg_t *berth_mpsc_pop_sc(struct berth_mpsc *q);
/* Consumer only, after pop returned NULL: sets the idle mark if the queue is
 * still empty. False means mail arrived: the consumer must stay scheduled. */
bool berth_mpsc_markidle_sc(struct berth_mpsc *q);
/* Any thread: a hint (racy) that the queue holds nothing. */
bool berth_mpsc_empty_hint(struct berth_mpsc *q);

/* ---- actors and the registry ------------------------------------------ */

struct berth_actor {
    struct berth_mpsc mbox;
    berth_msg_t rq_link; /* link in the injection queue */
    const berth_actor_class_t *cls;
    void *state;
    berth_handle_t self;
    int timer_home; /* worker whose heap holds this actor's timers; -1 none */
    bool exiting;
    uint64_t pushed; /* atomic, producers: messages pushed (for depth) */
    uint64_t popped; /* written by the consumer only, read racily */
    /* When it was last put on a run queue (engine/hist.h's clock): written
     * by whoever queues it, before the push that publishes it; read by the
     * worker that takes it. */
    uint64_t queued_ns;
    /* The worker running its turn now, -1 between turns: written (relaxed)
     * by that worker at the start and end of each turn, read racily by
     * actor dumps, which only report it. */
    int running_on;
    /* Owned, set once in a turn (berth_actor_set_label), freed with the
     * actor; atomic pointer, read by dumps under a slot reference. */
    char *label;
};

#define BERTH_SLOT_LIVE (UINT64_C(1) << 31)
#define BERTH_SLOT_REFS (BERTH_SLOT_LIVE - 1)

/* Slot state: generation in the high 32 bits, LIVE bit, and the count of
 * senders currently touching the actor in the low 31 bits. */
struct berth_slot {
    uint64_t state;
    berth_actor_t *actor;
    uint32_t free_next; /* freelist link: index + 1, 0 ends */
};

/* Frees the actor after berth_actor_exit: waits for in-flight senders, frees
 * the remaining mail, calls fini, releases the slot. */
void berth_actor_destroy(berth_actor_t *a);
/* Registry teardown at shutdown: destroys every live actor. */
void berth_registry_shutdown(void);
void berth_registry_foreach(void (*fn)(void *, const char *, uint64_t, uint64_t), void *ctx);
void berth_registry_foreach_info(void (*fn)(void *ctx, const berth_actor_info_t *info), void *ctx);

/* ---- workers ------------------------------------------------------------- */

struct berth_deque_arr {
    uint64_t mask;
    struct berth_deque_arr *retired; /* older, smaller arrays kept until shutdown */
    berth_actor_t *buf[];
};

/* Owner pushes at the bottom; everyone, the owner included, takes from the
 * top: a FIFO run queue whose takers are lock-free. */
struct berth_deque {
    uint64_t top; /* atomic, CAS by takers */
    char pad_[64 - sizeof(uint64_t)];
    uint64_t bottom; /* atomic, written by the owner only */
    struct berth_deque_arr *arr;
};

struct berth_timer {
    berth_msg_t hdr; /* BERTH_MSG_TIMER_INTERNAL; free hook frees msg too */
    berth_msg_t *msg;
    uint64_t deadline;
    uint64_t seq; /* global arming order: ties in deadline fire in this order */
    berth_handle_t owner;
    int cancelled; /* atomic: set by the owner, read by the home worker */
    int heap_idx;  /* home worker only; -1 when not in the heap */
};

typedef struct berth_cancel_req {
    berth_msg_t hdr;
    berth_op_t *op;
} berth_cancel_req_t;

struct berth_worker {
    unsigned index;
    pthread_t thread;
    struct io_uring ring;
    bool ring_ok;
    bool wake_armed;
    int efd;
    uint64_t efd_buf;
    unsigned sqe_pending; /* prepared, not yet submitted */
    uint64_t inflight;    /* ops submitted here without a final CQE */
    struct berth_deque rq;
    struct berth_mpsc inbox; /* timers to arm and cancels to issue here */
    int sleeping;            /* atomic: set while in submit-and-wait */
    uint64_t rng;
    uint64_t tick;
    /* timers: a binary min-heap on (deadline, seq) */
    struct berth_timer **heap;
    size_t nheap, capheap;
    /* deterministic mode: the runnable set */
    berth_actor_t **runnable;
    size_t nrun, caprun;
    /* statistics: written by this worker only (ck_pr stores), read relaxed */
    uint64_t st_turns, st_messages, st_steals, st_cqes;
    uint64_t stats_merged_ns; /* last allocator statistics merge */
    /* engine/metrics.h series of this worker (made at the start) */
    struct berth_metric *m_busy, *m_submits, *m_sqes;
};

struct berth_engine {
    bool started;
    bool deterministic;
    bool threads_running;
    unsigned nworkers;
    unsigned batch;
    unsigned ring_entries;
    struct berth_worker *workers;
    int stop;      /* atomic */
    int nsleeping; /* atomic */
    uint64_t seed;
    uint64_t vnow;      /* virtual clock, deterministic mode */
    uint64_t timer_seq; /* atomic */
    uint64_t actors_live;
    ck_spinlock_fas_t inject_lock; /* serialises the injection queue's consumers */
    struct berth_mpsc inject;
};

extern struct berth_engine berth_eng;
extern __thread struct berth_worker *berth_tls_worker;
extern __thread berth_actor_t *berth_tls_actor;

/* Makes an idle actor runnable (its idle mark was just cleared). Returns true
 * when a sleeping worker should be woken (call berth_sched_wake after
 * releasing anything that delays an exiting actor). */
bool berth_sched_push(berth_actor_t *a);
void berth_sched_wake(void);
/* Wakes worker w if it sleeps. */
void berth_worker_wake(struct berth_worker *w);
/* Pushes an inbox command to worker w and wakes it. */
void berth_worker_post(struct berth_worker *w, berth_msg_t *m);

/* timer.c */
void berth_timer_heap_insert(struct berth_worker *w, struct berth_timer *t);
void berth_timer_fire_due(struct berth_worker *w, uint64_t now);
/* Earliest deadline in w's heap, or UINT64_MAX. */
uint64_t berth_timer_next(struct berth_worker *w);
void berth_timer_heap_free(struct berth_worker *w);
/* Delivers a timer message to its actor's receive unless cancelled. */
void berth_timer_dispatch(berth_actor_t *a, struct berth_timer *t);

/* ring.c */
int berth_ring_worker_init(struct berth_worker *w, unsigned entries);
void berth_ring_worker_fini(struct berth_worker *w);
/* Turns ready CQEs into messages; re-arms the wake-up read. Returns count. */
unsigned berth_ring_reap(struct berth_worker *w);
void berth_ring_flush(struct berth_worker *w);
void berth_ring_issue_cancel(struct berth_worker *w, berth_op_t *op);
/* Sleeps in submit-and-wait until a CQE or until timeout_ns (UINT64_MAX:
 * no timeout) passes. */
void berth_ring_wait(struct berth_worker *w, uint64_t timeout_ns);

/* A clock reading in ns (timer.c): the real clocks behind berth_now_ns and
 * berth_wall_ns, for the threaded workers' waits. */
uint64_t berth_clock_ns(clockid_t id);

#endif
