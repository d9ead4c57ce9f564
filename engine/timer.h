/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timers and clocks. A timer delivers a message to the running actor after
 * a delay; the clock is CLOCK_MONOTONIC, or virtual time in the engine's
 * deterministic mode, so a test replays timeouts exactly. engine/actor.h
 * includes this header: every actor has timers.
 */
#ifndef BERTH_ENGINE_TIMER_H
#define BERTH_ENGINE_TIMER_H

#include <stdint.h>

typedef struct berth_msg berth_msg_t;
typedef struct berth_actor berth_actor_t;

typedef struct berth_timer berth_timer_t;

/* Inside a turn: deliver msg (taken) to the running actor after `ns`
 * nanoseconds of CLOCK_MONOTONIC (virtual time in deterministic mode).
 * Timers of one actor with equal or increasing deadlines fire in order.
 * Returns a token for berth_timer_cancel, valid until the message is received
 * or the timer is cancelled. */
berth_timer_t *berth_timer_after(berth_actor_t *self, uint64_t ns, berth_msg_t *msg);
/* Inside the owner's turn: after this returns, the timer's message is never
 * handed to receive (the engine frees it). Calling it after the message was
 * received is a bug. */
void berth_timer_cancel(berth_actor_t *self, berth_timer_t *t);

/* Monotonic now in ns (virtual in deterministic mode). Any thread. */
uint64_t berth_now_ns(void);
/* CLOCK_REALTIME in ns, for timestamps shown to users. */
uint64_t berth_wall_ns(void);

#endif
