/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Actors, messages, handles and timers: the whole programming model of berth.
 *
 * An actor is a state pointer plus a class (its receive function). It runs on
 * one worker at a time and handles its mail one message at a time, so its
 * state needs no lock. Actors address each other by handle (slot+generation);
 * a send to a handle whose actor has exited fails with -ESRCH and frees the
 * message. Sending hands over the message and everything it points to.
 *
 * Nothing here blocks and nothing here fails for lack of memory.
 */
#ifndef BERTH_ENGINE_ACTOR_H
#define BERTH_ENGINE_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct berth_msg berth_msg_t;
typedef struct berth_actor berth_actor_t;

/* Message types below 256 are reserved for engine/ and io/. */
enum {
    BERTH_MSG_NONE = 0,
    BERTH_MSG_CQE = 1, /* berth_cqe_msg_t, see ring.h */
    BERTH_MSG_USER = 256,
};

/* The header every message starts with. Fill `type` (and `free` when the
 * message owns more than its own block); the engine owns `next`. */
struct berth_msg {
    berth_msg_t *volatile next; /* engine-private: intrusive MPSC link */
    uint32_t type;
    uint32_t flags; /* engine-private */
    /* Frees the message and all it owns; NULL means berth_free(msg). */
    void (*free)(berth_msg_t *msg);
};

/* Allocates a zeroed message of `size` bytes (>= sizeof(berth_msg_t)) with
 * the given type. Never fails. */
void *berth_msg_new(uint32_t type, size_t size);
/* Frees a message through its free hook. NULL-safe. */
void berth_msg_free(berth_msg_t *msg);

/* A handle: slot index and generation. The zero handle is never valid. */
typedef struct berth_handle {
    uint64_t v;
} berth_handle_t;
#define BERTH_HANDLE_NONE ((berth_handle_t){0})
static inline bool berth_handle_valid(berth_handle_t h)
{
    return h.v != 0;
}
static inline bool berth_handle_eq(berth_handle_t a, berth_handle_t b)
{
    return a.v == b.v;
}

typedef struct berth_actor_class {
    const char *name; /* shown in actor dumps and logs */
    /* Handles one message. The handler owns msg (free it or send it on).
     * Runs in an actor turn: never block. */
    void (*receive)(berth_actor_t *self, berth_msg_t *msg);
    /* Called once after the actor exited and its mailbox was drained (the
     * undelivered messages are freed). Frees the state. May be NULL. */
    void (*fini)(void *state);
} berth_actor_class_t;

/* Creates an actor and returns its handle. Takes `state`. Callable from any
 * thread, including before the engine starts (it then waits in a run queue). */
berth_handle_t berth_actor_spawn(const berth_actor_class_t *cls, void *state);
/* The same, with a label (copied; NULL: none) that actor dumps show next to
 * the class's name: a pod's or container's ID, an image name. */
berth_handle_t berth_actor_spawn_labeled(const berth_actor_class_t *cls, void *state,
                                         const char *label);

/* Two actors that must know each other's handle from their first turn (two
 * managers that route to each other): reserve a handle, give it to the
 * other's state, then start it. Messages sent to a reserved handle wait in
 * its mailbox until berth_actor_start; start each reserved handle exactly
 * once, from the thread that reserved it. */
berth_handle_t berth_actor_reserve(void);
void berth_actor_start(berth_handle_t h, const berth_actor_class_t *cls, void *state);

/* Sends msg (taken) to `to`. Returns 0, or -ESRCH when the handle is stale
 * or invalid; the message is then freed. Callable from any thread. Messages
 * from one sender to one receiver arrive in the order they were sent. */
int berth_send(berth_handle_t to, berth_msg_t *msg);

/* Inside a turn: the running actor's handle and state. */
berth_handle_t berth_actor_self(berth_actor_t *self);
void *berth_actor_state(berth_actor_t *self);
const char *berth_actor_name(berth_actor_t *self);
/* Inside a turn: names this actor in dumps ("pod 3f2a..."), next to its
 * class's name. Copied. The first label sticks and later calls are ignored:
 * a dump reads it from another thread without a lock, so it must never be
 * freed while the actor lives. Costs one allocation; NULL-safe. */
void berth_actor_set_label(berth_actor_t *self, const char *label);
/* Inside a turn: the actor exits at the end of this turn. Its handle goes
 * stale at once (later sends fail); remaining mail is freed; fini runs. */
void berth_actor_exit(berth_actor_t *self);

#include "engine/timer.h" /* timers and clocks: part of every actor's API */

#endif
