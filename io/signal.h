/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signals as messages. main blocks the signals berth handles in every thread
 * (berth_signal_block, before the engine starts its workers, so they inherit
 * the mask), then starts the signal actor, which reads a signalfd through
 * the ring and mails a berth_signal_msg_t to the owner registered for each
 * signal: berthd routes SIGTERM/SIGINT to its graceful stop and SIGHUP to a
 * config reload. No signal handler ever runs berth code.
 */
#ifndef BERTH_IO_SIGNAL_H
#define BERTH_IO_SIGNAL_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "engine/actor.h"
#include "engine/err.h"

enum {
    BERTH_MSG_SIGNAL = 40,       /* berth_signal_msg_t, to a signal's owner */
    BERTH_MSG_SIGNAL_ROUTE = 41, /* private to the signal actor */
    BERTH_MSG_SIGNAL_STOP = 42,  /* private to the signal actor */
};

typedef struct berth_signal_msg {
    berth_msg_t hdr;
    int signo;
    pid_t sender_pid; /* ssi_pid: who sent it (0 for the kernel) */
} berth_signal_msg_t;

/* Blocks `set` in the calling thread; threads created afterwards inherit it.
 * Call from main before berth_engine_start() and before any other thread
 * (blocking pool, libraries) exists. Returns 0 or -1 with *err. */
int berth_signal_block(const sigset_t *set, berth_err_t *err);

typedef struct berth_signal_route {
    int signo;
    berth_handle_t owner; /* receives BERTH_MSG_SIGNAL for signo */
} berth_signal_route_t;

/* Starts the signal actor for the given routes (borrowed, copied). The
 * signals must already be blocked (berth_signal_block); an unblocked one is
 * an EINVAL error, since the signalfd would race its default action. Returns
 * 0 and the actor's handle in *actor, or -1 with *err. Main thread or turn. */
int berth_signal_start(const berth_signal_route_t *routes, size_t n, berth_handle_t *actor,
                       berth_err_t *err);

/* Changes the owner of signo (BERTH_HANDLE_NONE: drop signo from now on; the
 * signal stays blocked). signo must be one of the started routes' signals.
 * Asynchronous; returns 0 or -ESRCH when the actor is gone. Any thread. */
int berth_signal_route(berth_handle_t actor, int signo, berth_handle_t owner);

/* Stops the signal actor: its read is cancelled, the signalfd closed, then
 * it exits. Asynchronous. Any thread. */
void berth_signal_stop(berth_handle_t actor);

#endif
