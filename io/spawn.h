/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Child processes for actors: conmon, crun/runc and CNI plugins are started
 * here and awaited through a pidfd on the worker's io_uring, never with a
 * blocking wait and never with fork() plus arbitrary code.
 *
 * berth_proc_run() spawns the child (posix_spawn, then pidfd_open: berth never
 * reaps except through the pidfd, so the pid cannot be recycled between the
 * two) and a small process actor that owns every op of that child: the exit
 * wait (IORING_OP_WAITID, or POLL_ADD on the pidfd plus waitid(WNOHANG) on
 * older kernels), the reads of the stdout/stderr pipes and the writes of the
 * stdin data. Once the child exited AND its pipes reached EOF, the process
 * actor mails exactly one berth_proc_exit_msg_t to the requester and exits.
 *
 * Rules for the rest of berth: never set SIGCHLD to SIG_IGN and never call
 * wait(-1)/waitpid(-1): either would reap berth's children behind the pidfd.
 * SIGPIPE is set to SIG_IGN on first use (stdin writes to a child that exited
 * must fail with EPIPE, not kill the daemon); children get default
 * dispositions and an empty signal mask.
 */
#ifndef BERTH_IO_SPAWN_H
#define BERTH_IO_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/actor.h"
#include "engine/err.h"

enum {
    BERTH_MSG_PROC_EXIT = 32,  /* berth_proc_exit_msg_t, to the requester */
    BERTH_MSG_PROC_KILL = 33,  /* private to the process actor */
    BERTH_MSG_PROC_START = 34, /* private to the process actor */
    BERTH_MSG_PROC_TIMER = 35, /* private to the process actor */
};

/* What a standard stream of the child is connected to. */
enum berth_proc_stdio {
    BERTH_PROC_NULL = 0, /* /dev/null (the zero default) */
    BERTH_PROC_CAPTURE,  /* stdout/stderr: a pipe read into the exit message */
    BERTH_PROC_DATA,     /* stdin: a pipe fed with spec->stdin_data */
    BERTH_PROC_FD,       /* the given parent fd (borrowed; dup'ed into the child) */
};

/* An extra fd for the child: parent fd `fd` (borrowed) appears as `child_fd`
 * (>= 3) in the child, e.g. conmon's _OCI_SYNCPIPE=3 and _OCI_STARTPIPE=4. */
typedef struct berth_proc_fd {
    int fd;
    int child_fd;
} berth_proc_fd_t;

/* Everything is borrowed and only read during berth_proc_run (stdin_data is
 * copied), so a spec may live on the caller's stack. */
typedef struct berth_proc_spec {
    const char *path;  /* executable; NULL: argv[0]. No PATH search. */
    char *const *argv; /* NULL-terminated, argv[0] required */
    char *const *envp; /* NULL-terminated; NULL: an empty environment */
    const char *cwd;   /* NULL: berthd's cwd */

    int stdin_mode; /* BERTH_PROC_NULL, BERTH_PROC_DATA or BERTH_PROC_FD */
    const void *stdin_data;
    size_t stdin_len;
    int stdin_fd;

    int stdout_mode; /* BERTH_PROC_NULL, BERTH_PROC_CAPTURE or BERTH_PROC_FD */
    int stdout_fd;
    int stderr_mode;
    int stderr_fd;

    const berth_proc_fd_t *fds; /* extra fds; every other fd is closed */
    size_t nfds;

    bool new_session; /* setsid() in the child */
    bool new_pgroup;  /* setpgid(0, 0) in the child (ignored with new_session) */

    size_t max_output;     /* captured bytes kept per stream; 0: 1 MiB. The
                              rest is read and discarded, and flagged. */
    uint64_t timeout_ns;   /* 0: none. Then SIGKILL and timed_out is set. */
    uint64_t eof_grace_ns; /* after the exit, how long captured pipes may stay
                              open (a grandchild holding them); 0: 2 s. */
} berth_proc_spec_t;

/* The one reply of a process run. Owned by the receiver; berth_msg_free
 * frees the captured buffers too. */
typedef struct berth_proc_exit_msg {
    berth_msg_t hdr;
    uint64_t tag; /* the caller's correlation value */
    pid_t pid;
    /* si_code of the exit: CLD_EXITED (status = exit code), CLD_KILLED or
     * CLD_DUMPED (status = signal number); 0 when wait_error is set. */
    int code;
    int status;
    int wait_error;  /* 0, or -errno when the exit could not be awaited */
    bool timed_out;  /* spec->timeout_ns passed and the child was killed */
    bool pipes_open; /* captured pipes were still open eof_grace_ns after the
                        exit (output may be incomplete) */
    uint8_t *out;    /* captured stdout, NUL-terminated for convenience */
    size_t out_len;
    bool out_truncated;
    uint8_t *err; /* captured stderr, NUL-terminated */
    size_t err_len;
    bool err_truncated;
    int stdin_error;     /* 0, or -errno of the stdin write (EPIPE ...) */
    uint64_t elapsed_ns; /* spawn to reaped, CLOCK_MONOTONIC (never virtual) */
} berth_proc_exit_msg_t;

/* True when the child exited normally with status 0 and did not time out. */
static inline bool berth_proc_exit_ok(const berth_proc_exit_msg_t *m)
{
    return m->wait_error == 0 && !m->timed_out && m->code == CLD_EXITED && m->status == 0;
}

/* Starts spec's process now and a process actor that awaits it; the exit
 * message (tagged `tag`) goes to `reply_to`. On success returns 0 and, when
 * `proc` is not NULL, the process actor's handle (for berth_proc_kill) and,
 * when `pid` is not NULL, the child's pid. Fails with -1 and *err when the
 * spec is invalid or the child could not be started (fork/exec errors such as
 * ENOENT are reported here, not by message). Callable from any actor turn or
 * from the main thread (spawning costs a vfork+exec, fast enough for a turn). */
int berth_proc_run(berth_handle_t reply_to, const berth_proc_spec_t *spec, uint64_t tag,
                   berth_handle_t *proc, pid_t *pid, berth_err_t *err);

/* Sends `sig` to the child of process actor `proc` (pidfd_send_signal, so
 * never to a recycled pid). Asynchronous: a message to the process actor.
 * Returns 0, or -ESRCH when the run already ended. Any thread. */
int berth_proc_kill(berth_handle_t proc, int sig);

/* Reaps the zombies among this process's children that are named `comm`
 * and belong to a PID namespace other than ours: what crun 1.8 leaves when
 * its exec fails in the container (the command could not be run). crun exits
 * without reaping the process it made in the container's PID namespace,
 * which is reparented to berthd (a subreaper, io/monitor.h); unreaped, it
 * keeps the container's init from ever exiting (the kernel's PID namespace
 * teardown waits for it), so the container cannot be stopped. Everything
 * berth runs itself lives in berthd's PID namespace and is never taken.
 * Polls every 25 ms for up to wait_ns until one is found (the stray exits
 * just after crun). Returns how many were reaped. Blocks: the pool only. */
int berth_proc_reap_strays(const char *comm, uint64_t wait_ns);

/* Test hook: true forces the POLL_ADD + waitid(WNOHANG) fallback even when
 * the kernel has IORING_OP_WAITID. The environment variable
 * BERTH_SPAWN_NO_WAITID=1 does the same. Any thread; affects later runs. */
void berth_proc_force_poll_wait(bool on);

#endif
