/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A reserved name's creation rules (DESIGN.md §3), embedded in the actor that
 * owns the name (a pod sandbox or a container). It holds the requests waiting
 * for the creation, each with its own deadline, and the finished result:
 *
 *  - a request that arrives while the creation runs is stalled, not refused;
 *  - it is answered when the creation ends, or just before its own deadline
 *    (its stall margin, a share of its own deadline: berth_resv_margin) with
 *    DEADLINE_EXCEEDED naming the stage;
 *  - a result no waiting request could take is stashed and handed to the next
 *    request at once; an untaken stash expires after the stash window and the
 *    owner undoes the creation;
 *  - a delivered name answers every later request with the same result.
 *
 * Not thread-safe and needs none: only the owning actor touches it, in its
 * turns. The owner routes the BERTH_MSG_RESV_* messages to berth_resv_on_msg.
 */
#ifndef BERTH_ACTORS_RESERVATION_H
#define BERTH_ACTORS_RESERVATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/actor.h"
#include "engine/err.h"
#include "io/grpc.h"

typedef enum berth_resv_state {
    BERTH_RESV_CREATING = 0,
    BERTH_RESV_STASHED,   /* finished, nobody has taken it yet */
    BERTH_RESV_DELIVERED, /* a request has received it */
    BERTH_RESV_FAILED,    /* finished with an error (stashed until taken or expired) */
    BERTH_RESV_EXPIRED,   /* the stash window passed; the owner is undoing */
} berth_resv_state_t;

typedef struct berth_resv_waiter berth_resv_waiter_t;

typedef struct berth_resv_stats {
    uint64_t stalls;         /* requests that had to wait for the creation */
    uint64_t stall_timeouts; /* stalled requests answered DEADLINE_EXCEEDED */
    uint64_t handoffs;       /* stashed results handed to a later request */
    uint64_t stashes;        /* results nobody could take when they were ready */
    uint64_t expiries;       /* stashes released by the window */
} berth_resv_stats_t;

typedef struct berth_resv {
    const char *kind; /* "pod sandbox", "container": for messages */
    const char *rpc;  /* "RunPodSandbox", "CreateContainer" */
    char *name;       /* owned */
    berth_resv_state_t state;
    const char *stage; /* static string: what the creation is doing now */
    uint64_t started_ns, stage_ns;
    uint64_t stashed_ns; /* when the result was stashed (the hand-off delay) */
    uint64_t margin_ns;  /* the cap of every request's stall margin (stall_margin) */
    uint64_t window_ns;
    /* The rule before issue 12: every request's margin is margin_ns, whatever
     * its deadline. Off by default; for the before/after comparisons of the
     * tests and benchmarks. */
    bool fixed_margin;
    berth_resv_waiter_t *waiters;
    uint64_t next_waiter_id;
    berth_timer_t *stash_timer;
    uint8_t *reply; /* packed success response, owned */
    size_t reply_len;
    berth_err_t failure; /* owned */
    berth_resv_stats_t stats;
} berth_resv_t;

/* Message types the owner must pass to berth_resv_on_msg. */
enum {
    BERTH_MSG_RESV_WAITER_DUE = 0x1000, /* a stalled request's deadline is near */
    BERTH_MSG_RESV_STASH_EXPIRED,       /* the stash window passed */
};

/* margin_ns: the cap of the stall margin (config stall_margin); window_ns:
 * the stash window. */
void berth_resv_init(berth_resv_t *r, const char *kind, const char *rpc, const char *name,
                     uint64_t margin_ns, uint64_t window_ns);
/* The stall margin of a request that had budget_ns until its deadline when it
 * arrived: 2% of it, at least 5 ms, at most r->margin_ns. A stalled request is
 * answered DEADLINE_EXCEEDED this long before its deadline, and at the end of
 * the creation only a waiter with at least this long left gets the result.
 * Pure; any context. */
uint64_t berth_resv_margin(const berth_resv_t *r, uint64_t budget_ns);
/* Answers the waiters still there with UNAVAILABLE (the owner is going away)
 * and frees everything. In the owner's turn. */
void berth_resv_fini(berth_actor_t *self, berth_resv_t *r);

/* A request for the name arrived (call: taken). Stalls, answers from the
 * stash or the delivered result, or answers the stashed failure. Returns true
 * when the failure was handed over (the owner should now release the name). */
bool berth_resv_request(berth_actor_t *self, berth_resv_t *r, berth_grpc_call_t *call,
                        uint64_t deadline_ns);
void berth_resv_set_stage(berth_resv_t *r, const char *stage);

/* The creation succeeded with this packed response (copied). */
void berth_resv_succeed(berth_actor_t *self, berth_resv_t *r, const void *reply, size_t len);
/* The creation failed (err: taken; it was already undone by the owner).
 * Returns true when a waiter took the failure (the owner may release the
 * name now); false when it is stashed until the next request or expiry. */
bool berth_resv_fail(berth_actor_t *self, berth_resv_t *r, berth_err_t err);

/* Handles BERTH_MSG_RESV_* and BERTH_MSG_GRPC_CANCEL for calls it holds.
 * Returns 1 when the stash expired (the owner must undo and release),
 * 0 when handled, -1 when the message is not the reservation's (not freed). */
int berth_resv_on_msg(berth_actor_t *self, berth_resv_t *r, berth_msg_t *msg);

/* Whether the resource may be listed (DESIGN.md §3 rule 7). */
static inline bool berth_resv_listed(const berth_resv_t *r)
{
    return r->state == BERTH_RESV_DELIVERED;
}

/* Process-wide counters for metrics (relaxed atomics; approximate reads). */
void berth_resv_global_stats(berth_resv_stats_t *out);
/* Registers the metric families counted here (docs/observability.md), so
 * they are listed before the first stall. Any thread; idempotent. */
void berth_resv_metrics_init(void);

#endif
