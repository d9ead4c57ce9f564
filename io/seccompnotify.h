/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seccomp notifier's kernel side: a unix socket the OCI runtime hands a
 * container's seccomp notify fd to (the spec's linux.seccomp.listenerPath;
 * runc and crun connect, send the container's state JSON and the fd with
 * SCM_RIGHTS), and a thread that answers every notification with EPERM and
 * mails the refused syscall's name to the owner actor.
 *
 * One thread per notifying container (docs/security-contexts.md says why: a
 * notification must be answered at once or the container's thread stays
 * stopped in the kernel, and the notify ioctls have no io_uring form here).
 * The thread never touches actor state; it only sends messages.
 */
#ifndef BERTH_IO_SECCOMPNOTIFY_H
#define BERTH_IO_SECCOMPNOTIFY_H

#include <stdbool.h>

#include "engine/actor.h"
#include "engine/err.h"

enum {
    BERTH_MSG_SECCOMP_DENIAL = 224, /* berth_seccomp_denial_msg_t */
};

typedef struct berth_seccomp_denial_msg {
    berth_msg_t hdr;  /* BERTH_MSG_SECCOMP_DENIAL */
    char syscall[40]; /* its name ("mkdir"), or "syscall-<nr>" */
} berth_seccomp_denial_msg_t;

typedef struct berth_seccomp_notifier berth_seccomp_notifier_t;

/* Binds a unix socket at path (replacing a stale one) and starts the
 * notifier's thread, which accepts the runtime's connections (one for the
 * container's init, one per exec: each installs the filter anew) and
 * answers the notifications of the fds they bring, mailing each refusal
 * to owner.
 * Returns the notifier, or NULL with *err. Blocks (bind): the pool or
 * start-up only. */
berth_seccomp_notifier_t *berth_seccomp_notifier_start(const char *path, berth_handle_t owner,
                                                       berth_err_t *err);

/* Ends the notifier: its thread stops answering, closes the fds, removes
 * the socket file and frees itself. Returns at once. NULL-safe. Any thread. */
void berth_seccomp_notifier_stop(berth_seccomp_notifier_t *n);

#endif
