/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The creation engine of a reserved name: what a pod sandbox actor and a
 * container actor have in common, written once on top of the reservation
 * rules (actors/reservation.h, DESIGN.md §3).
 *
 *  - A creation is a table of steps. Each step starts io/ work in a turn;
 *    the owner's completion handler records what now exists in `made` and
 *    calls berth_creation_next (or berth_creation_fail). The engine sets the
 *    stage every stalled request is told, checks the budget between steps
 *    and, after the last one, hands the result to the reservation.
 *  - Undo is a table too, newest first: each entry names the `made` bits its
 *    io/ work removes; its completion calls berth_creation_undone. A failure,
 *    an expired stash, an interrupted creation found after a restart and a
 *    removal all run the same table, so what was made is removed exactly
 *    once and in reverse order.
 *  - Requests for the actor arrive through berth_creation_request: the
 *    creation RPC goes to the reservation; the others go to the owner's
 *    handlers, routed by method index, and those marked `queued` wait while
 *    the actor is busy and run in order when it is not.
 *  - Release: the engine tells the manager the name is free (the owner's
 *    `gone` message type) and exits on the manager's goodbye, after which no
 *    request for it is in flight.
 *
 * Everything here runs in the owning actor's turns; nothing is shared.
 */
#ifndef BERTH_ACTORS_CREATION_H
#define BERTH_ACTORS_CREATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/cri.h"
#include "actors/reservation.h"
#include "engine/actor.h"
#include "engine/err.h"

/* The engine's phases. An owner's own phases once the creation is done
 * (ready, stopped, running...) are numbered from BERTH_CREATION_LIVE up. */
enum {
    BERTH_CREATION_CREATING = 0,
    BERTH_CREATION_UNDOING,   /* failed, expired or interrupted: tearing down */
    BERTH_CREATION_REMOVING,  /* removed: tearing down, then the removes are answered */
    BERTH_CREATION_RELEASING, /* the manager was told; waiting for its goodbye */
    BERTH_CREATION_LIVE,
};

typedef struct berth_creation_step {
    const char *stage; /* static; what a stalled request is told */
    /* Optional: true when this owner has nothing to do in the step. */
    bool (*skip)(const void *owner);
    /* Starts the step; its completion calls berth_creation_next or _fail.
     * May call either at once (a step that needs no io/). */
    void (*run)(berth_actor_t *self, void *owner);
} berth_creation_step_t;

typedef struct berth_creation_undo {
    unsigned made; /* the bits whose things this entry removes */
    /* Starts removing them; the completion calls berth_creation_undone.
     * `full` is false for a teardown that keeps the resource (a pod's stop). */
    void (*run)(berth_actor_t *self, void *owner, bool full);
} berth_creation_undo_t;

/* A handler for one CRI method sent to the owner (rm taken). */
typedef struct berth_creation_route {
    const char *method; /* "StopPodSandbox": CRI method name, first member */
    bool queued;        /* waits while the actor is busy */
    void (*fn)(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm);
} berth_creation_route_t;

/* The tables in a class: BERTH_CREATION_TABLES(steps, undo, &routes). */
#define BERTH_CREATION_TABLES(s, u, r)                                                             \
    .steps = (s), .n_steps = BERTH_ARRAY_LEN(s), .undo = (u), .n_undo = BERTH_ARRAY_LEN(u),        \
    .routes = (r)

typedef struct berth_creation_class {
    const char *kind; /* "pod sandbox" */
    const char *rpc;  /* the creation's CRI method, "RunPodSandbox" */
    const berth_creation_step_t *steps;
    size_t n_steps;
    const berth_creation_undo_t *undo; /* newest first */
    size_t n_undo;
    berth_cri_routes_t *routes; /* the other methods */
    uint32_t gone_type;         /* the berth_creation_gone_msg_t type the manager takes */
    /* The success response, e.g. RunPodSandboxResponse: its one string
     * field carries the ID. */
    const ProtobufCMessageDescriptor *reply;
    /* Tells the manager what to list (listed or not: berth_creation_listed). */
    void (*publish)(void *owner);
    /* Optional: owner-specific reasons to queue requests (a start running). */
    bool (*busy)(const void *owner);
    /* Optional: the creation succeeded (before the result is handed over). */
    void (*created)(berth_actor_t *self, void *owner);
    /* Optional: an undo finished, just before the name is released or the
     * failure handed over (err borrowed: why it ran, NULL for an expiry). */
    void (*undone)(berth_actor_t *self, void *owner, berth_err_t err);
    /* Optional: a removal's teardown finished, before the removes are answered. */
    void (*removed)(berth_actor_t *self, void *owner);
} berth_creation_class_t;

/* The manager is told the name is free: it answers with BERTH_MSG_CREATION_BYE
 * once it routes nothing more to `actor`. */
typedef struct berth_creation_gone_msg {
    berth_msg_t hdr;
    char *id; /* owned */
    berth_handle_t actor;
} berth_creation_gone_msg_t;

struct berth_index;
/* The manager's side of a release: forgets the actor if it still holds the
 * name, and says goodbye. After this no request for it leaves the manager,
 * so the actor may exit once it has seen the goodbye. */
void berth_creation_forget(struct berth_index *ix, const berth_creation_gone_msg_t *gm);

typedef struct berth_creation {
    const berth_creation_class_t *cls;
    void *owner;
    berth_handle_t mgr;
    char *id; /* owned */
    int phase;
    berth_resv_t resv;
    unsigned made;
    size_t step; /* the step running (n_steps: all done) */
    uint64_t budget_ns;
    berth_timer_t *budget_timer;
    bool over_budget;
    /* undo without a failure to hand over: the stash expired, or a restart
     * found the creation interrupted; also an internal creation nobody
     * reserved (a pod's pause container) */
    bool expired, restored, unreserved;
    berth_err_t failure; /* why the undo runs; handed to the reservation after */
    /* a teardown in progress: the bits left to remove, and what follows */
    unsigned tear_mask;
    bool tear_full;
    void (*tear_done)(berth_actor_t *self, struct berth_creation *cr);
    berth_cri_req_msg_t **queued; /* waiting until the actor is not busy */
    size_t n_queued, cap_queued;
    berth_cri_req_msg_t **waiting; /* answered when a stop or remove ends */
    size_t n_waiting, cap_waiting;
    /* Timing for the stage histograms (engine/hist.h): when the creation
     * and the current stage began (0: not timing). */
    uint64_t begin_ns, stage_ns;
    const char *timed_stage;
    size_t timed_step;
} berth_creation_t;

/* Sets up cr inside owner (id and name copied; margin and window from the
 * config; budget_ns 0 for none). The owner spawns its actor afterwards. */
void berth_creation_init(berth_creation_t *cr, const berth_creation_class_t *cls, void *owner,
                         berth_handle_t mgr, const char *id, const char *name, uint64_t margin_ns,
                         uint64_t window_ns, uint64_t budget_ns);
/* Frees what cr holds (queued and waiting requests, the reservation). fini. */
void berth_creation_fini(berth_creation_t *cr);

/* The berth_undo_runs_total family {kind, reason} (docs/observability.md),
 * registered on the first call. Any thread. */
struct berth_metric_family *berth_creation_undo_family(void);

/* The creation starts (first turn): budget timer, then the first step. */
void berth_creation_begin(berth_actor_t *self, berth_creation_t *cr);
/* The running step is done: the next one (or the budget's failure, or the
 * end: the result handed to the reservation, published, queue run). */
void berth_creation_next(berth_actor_t *self, berth_creation_t *cr);
/* The creation failed (err taken): everything made is undone, newest first;
 * then the failure goes to the reservation. */
void berth_creation_fail(berth_actor_t *self, berth_creation_t *cr, berth_err_t err);
/* The stage shown to stalled requests, within a step. */
void berth_creation_stage(berth_creation_t *cr, const char *stage);

/* An undo entry's work finished: `bits` are gone; the teardown goes on. */
void berth_creation_undone(berth_actor_t *self, berth_creation_t *cr, unsigned bits);
/* Tears down what `mask` covers of `made`, newest first, then calls done.
 * The undo and removal use it with every bit; a pod's stop with some. */
void berth_creation_teardown(berth_actor_t *self, berth_creation_t *cr, unsigned mask, bool full,
                             void (*done)(berth_actor_t *self, berth_creation_t *cr));
/* Undoes an interrupted creation found after a restart, then releases. */
void berth_creation_undo_restored(berth_actor_t *self, berth_creation_t *cr);
/* Removal: phase REMOVING, a stash cancelled, everything torn down; then
 * the waiting requests are answered (empty responses) and the name released. */
void berth_creation_remove(berth_actor_t *self, berth_creation_t *cr);

/* Marks a restored resource as delivered (a retry gets the same ID) and
 * sets its phase. */
void berth_creation_restore_delivered(berth_creation_t *cr, int phase);

/* A request for the actor (rm taken). */
void berth_creation_request(berth_actor_t *self, berth_creation_t *cr, berth_cri_req_msg_t *rm);
/* Runs the queued requests while the actor is not busy. */
void berth_creation_run_queued(berth_actor_t *self, berth_creation_t *cr);
bool berth_creation_busy(const berth_creation_t *cr);
/* Keeps rm until a stop or remove ends (answered by the owner, or with an
 * empty response at the end of a removal). */
void berth_creation_wait(berth_creation_t *cr, berth_cri_req_msg_t *rm);
/* Takes the waiting requests for `method` out (the owner answers them);
 * returns how many were put in out (at most max). */
size_t berth_creation_take_waiting(berth_creation_t *cr, const char *method,
                                   berth_cri_req_msg_t **out, size_t max);

/* Handles the engine's messages: the budget, the reservation's timers,
 * cancels, requests and the manager's goodbye. Returns false when msg is
 * not the engine's (the owner still has it). */
bool berth_creation_on_msg(berth_actor_t *self, berth_creation_t *cr, berth_msg_t *msg);

/* Whether the manager lists the resource (DESIGN.md §3 rule 7): delivered,
 * and live or being removed. */
bool berth_creation_listed(const berth_creation_t *cr);

#endif
