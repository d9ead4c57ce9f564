/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a signal sent to a process from outside its PID namespace will do,
 * read from /proc/PID/status (SigCgt, SigIgn, NSpid). The kernel discards a
 * signal whose disposition is the default action when it is sent to the
 * init of a PID namespace from an ancestor namespace (SIGKILL and SIGSTOP
 * excepted): a stop signal that reaches a container's init before the
 * program installed its handler is lost, and the container then runs until
 * the stop timeout kills it. The container actor uses this to tell that
 * case from a signal that was delivered.
 */
#ifndef BERTH_IO_PROCSIG_H
#define BERTH_IO_PROCSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum berth_sig_fate {
    BERTH_SIG_DELIVERED_DEFAULT = 0, /* default action (terminate...) applies */
    BERTH_SIG_CAUGHT,                /* a handler is installed */
    BERTH_SIG_IGNORED,               /* SIG_IGN */
    BERTH_SIG_DISCARDED,             /* default action, and PID is a namespace init */
};

/* The fate of signal SIG (1..64) sent to PID now, or -1 with errno (ENOENT:
 * the process is gone; EINVAL: bad signal or unreadable status). Reads one
 * procfs file: fast, never waits on a disk. Any thread. */
int berth_proc_sig_fate(pid_t pid, int sig);

/* The same from the text of a /proc/PID/status file (for tests). */
int berth_proc_sig_fate_parse(const char *status, int sig);

/* Whether SIG is pending for PID (SigPnd or ShdPnd): sent but not yet
 * delivered or discarded, as while a runtime's init holds signals blocked
 * until it execs the container's program. 1, 0, or -1 with errno as for
 * berth_proc_sig_fate. */
int berth_proc_sig_pending(pid_t pid, int sig);
int berth_proc_sig_pending_parse(const char *status, int sig);

/* Whether PID is still an OCI runtime's init, before the exec of the
 * container's program: its comm is runc's "runc:[N:...]" or the basename of
 * runtime_path (crun's init keeps crun's name until it execs). 1, 0, or -1
 * with errno (ENOENT: gone). Any thread. */
int berth_proc_is_runtime_init(pid_t pid, const char *runtime_path);

/* What berth_proc_signal saw around its kill(2). */
typedef struct berth_sig_sent {
    int fate_before, fate_after; /* enum berth_sig_fate, -1 when unreadable */
    bool pending;                /* still pending right after (blocked) */
    bool exec_seen;              /* the process's name changed across the send */
    bool runtime_init;           /* it was the runtime's init, before or after */
} berth_sig_sent_t;

/* Sends sig to pid with kill(2), bracketed by reads of /proc/PID/status and
 * comm a few microseconds apart, so the signal's fate at the send is known
 * (an OCI runtime's `kill` takes tens of milliseconds, in which a container's
 * program can exec and install its handlers, hiding a signal the kernel
 * discarded). Returns 0 with *out, or -1 with errno (ESRCH: gone). Reads
 * procfs only: any thread, an actor turn included. */
int berth_proc_signal(pid_t pid, int sig, const char *runtime_path, berth_sig_sent_t *out);

/* The identities a process runs with (ContainerStatus.user): the real uid
 * and gid and the supplementary groups, as /proc/PID/status's Uid, Gid and
 * Groups lines give them. groups is owned (berth_proc_ids_fini). */
typedef struct berth_proc_ids {
    uint32_t uid, gid;
    uint32_t *groups;
    size_t ngroups;
} berth_proc_ids_t;

/* Reads them for PID: 0, or -1 with errno (ENOENT: gone; EINVAL: a status
 * without the lines). Reads one procfs file: any thread, an actor turn
 * included. */
int berth_proc_ids(pid_t pid, berth_proc_ids_t *out);
/* The same from the text of a /proc/PID/status file (for tests). */
int berth_proc_ids_parse(const char *status, berth_proc_ids_t *out);
void berth_proc_ids_fini(berth_proc_ids_t *ids);

#endif
