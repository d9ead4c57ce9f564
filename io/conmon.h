/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The conmon driver: runs containers through conmon (Debian's 2.1.6) and an
 * OCI runtime (runc or crun) for the container actors, which never block.
 * Every call starts the work at once and answers by message:
 *
 *   berth_conmon_create  conmon + `<runtime> create`: the container init pid
 *                        arrives on conmon's sync pipe (read on the ring)
 *   berth_conmon_start/kill/delete/state/exec/update
 *                        `<runtime> <verb>` through io/spawn.h
 *   watcher              an inotify fd on the exit dir, read on the ring;
 *                        mails the exit code, exit time and OOM flag of a
 *                        container to its registered owner
 *   attach_open          a connection to conmon's attach socket
 *
 * Runtime and conmon errors reach the reply with the runtime's own text.
 * Message types 96..127 are this module's.
 */
#ifndef BERTH_IO_CONMON_H
#define BERTH_IO_CONMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/actor.h"
#include "engine/err.h"
#include "io/attach.h"

enum {
    BERTH_MSG_CONMON_CREATED = 96, /* berth_conmon_created_msg_t */
    BERTH_MSG_CONMON_RESULT = 97,  /* berth_conmon_result_msg_t */
    BERTH_MSG_CONMON_EXIT = 98,    /* berth_conmon_exit_msg_t */
    /* 99..111: private to conmon.c */
};

/* The OCI runtime binary and its state root. Borrowed. */
typedef struct berth_runtime {
    const char *path; /* "/usr/sbin/runc", "/usr/bin/crun" */
    const char *root; /* the runtime's --root; NULL: its default */
} berth_runtime_t;

/* Everything borrowed and only read during berth_conmon_create. */
typedef struct berth_conmon_spec {
    const char *conmon_path; /* NULL: /usr/bin/conmon */
    berth_runtime_t runtime;
    const char *cid;
    const char *cuuid; /* attach socket dir name; NULL: cid */
    const char *name;  /* NULL: cid */
    const char *bundle;
    const char *log_path;       /* CRI log file (k8s-file format) */
    const char *exit_dir;       /* <exit_dir>/<cid> gets the exit code */
    const char *persist_dir;    /* must exist: conmon's exit and oom files */
    const char *socket_dir;     /* attach sockets */
    const char *pidfile;        /* NULL: <persist_dir>/pidfile */
    const char *conmon_pidfile; /* NULL: <persist_dir>/conmon.pid */
    bool terminal;
    bool stdin_open;
    bool stdin_once;
    uint64_t log_size_max; /* 0: unlimited */
    const char *log_level; /* conmon's --log-level; NULL: "error" */
    uint64_t timeout_ns;   /* budget for the pid to arrive; 0: 240 s */
    /* A restore from a checkpoint (docs/checkpoint.md): `runtime restore
     * --detach --image-path I --work-path W` instead of `runtime create`,
     * the container running when the pid arrives. NULL: a create. Under
     * conmon the work path is conmon's own choice, the bundle. criu is
     * given to runc (--criu); NULL: runc's own PATH. */
    const char *restore_image_path;
    const char *restore_work_path;
    const char *criu;
} berth_conmon_spec_t;

/* The reply of berth_conmon_create. */
typedef struct berth_conmon_created_msg {
    berth_msg_t hdr;
    uint64_t tag;
    pid_t pid;         /* the container's init pid; 0 on error */
    pid_t conmon_pid;  /* the daemonised conmon; 0 if its pidfile was unreadable */
    berth_err_t error; /* NULL on success; owned (freed with the message) */
} berth_conmon_created_msg_t;

/* Spawns conmon for spec, with the sync pipe at fd 3 and the start pipe at
 * fd 4 (released at once). The reply (tagged `tag`) goes to `owner`: the pid
 * from the sync pipe, or an error carrying the runtime's message ("runc
 * create failed: ... executable file not found"). On a create error the
 * container may exist in the runtime's "created" or "stopped" state: the
 * caller deletes it. Returns -1 with *err when conmon could not be started
 * (no reply then). Any thread or actor turn. */
int berth_conmon_create(berth_handle_t owner, const berth_conmon_spec_t *spec, uint64_t tag,
                        berth_err_t *err);

enum berth_conmon_op {
    BERTH_CONMON_OP_START = 1,
    BERTH_CONMON_OP_KILL,
    BERTH_CONMON_OP_DELETE,
    BERTH_CONMON_OP_STATE,
    BERTH_CONMON_OP_EXEC,
    BERTH_CONMON_OP_UPDATE,
};

/* The reply of start/kill/delete/state/exec. berth_msg_free frees all. */
typedef struct berth_conmon_result_msg {
    berth_msg_t hdr;
    uint64_t tag;
    int op;            /* enum berth_conmon_op */
    berth_err_t error; /* NULL on success; owned. A missing container gives
                          errnum ENOENT / NOT_FOUND. For exec, a command that
                          ran and failed is not an error: see exit_code. */
    /* exec */
    int exit_code; /* exit status, 128+signal when killed */
    char *out;     /* owned, NUL-terminated */
    size_t out_len;
    char *err_out; /* owned, NUL-terminated */
    size_t err_len;
    /* state */
    char *status; /* owned: "created", "running", "stopped", "paused" */
    pid_t pid;
} berth_conmon_result_msg_t;

/* `<runtime> start <cid>`. Returns -1 with *err when the runtime could not
 * be spawned (no reply then), else 0 and one reply later. Any thread. */
int berth_conmon_start(berth_handle_t owner, const berth_runtime_t *rt, const char *cid,
                       uint64_t tag, berth_err_t *err);
/* `<runtime> kill <cid> <sig>`; all: --all (runc) / --all (crun). */
int berth_conmon_kill(berth_handle_t owner, const berth_runtime_t *rt, const char *cid, int sig,
                      bool all, uint64_t tag, berth_err_t *err);
/* `<runtime> delete --force <cid>`. */
int berth_conmon_delete(berth_handle_t owner, const berth_runtime_t *rt, const char *cid,
                        uint64_t tag, berth_err_t *err);
/* `<runtime> state <cid>`, parsed into status and pid. */
int berth_conmon_state(berth_handle_t owner, const berth_runtime_t *rt, const char *cid,
                       uint64_t tag, berth_err_t *err);

/* `<runtime> update --resources <resources_path> <cid>`: resources_path is an
 * OCI LinuxResources JSON file (runc and crun read the same format). The
 * runtime's refusal (a limit below the usage, a missing controller) is the
 * reply's error in the runtime's words. */
int berth_conmon_update(berth_handle_t owner, const berth_runtime_t *rt, const char *cid,
                        const char *resources_path, uint64_t tag, berth_err_t *err);

/* Exec-sync. Borrowed, read only during the call. */
typedef struct berth_conmon_exec_spec {
    const char *cid;
    const char *process_path; /* a process JSON (berth_ocispec_process_json) or NULL */
    const char *const *argv;  /* used when process_path is NULL; NULL-terminated */
    /* With argv: the container's bundle. The command then runs as the
     * container's process does (berth_ocispec_exec_process_write, written
     * next to pid_file, which it needs): crun's exec without a process file
     * runs it as root with no supplementary group, where runc's inherits. */
    const char *bundle;
    const char *pid_file; /* where the runtime records the exec'ed pid, so a
                             timed-out command is killed too; NULL: none */
    uint64_t timeout_ns;  /* 0: none; then TIMEOUT */
    size_t max_output;    /* per stream; 0: 16 MiB. More: EXHAUSTED */
} berth_conmon_exec_spec_t;

/* `<runtime> exec [--process F] <cid> [argv...]` with stdout and stderr
 * captured; the reply carries them and the exit code. The runtime's own
 * failure (container not running...) is an error; the command's is not. */
int berth_conmon_exec(berth_handle_t owner, const berth_runtime_t *rt,
                      const berth_conmon_exec_spec_t *spec, uint64_t tag, berth_err_t *err);

/* An exec through runtime_path ended with 255, the code of the runtime's
 * own failure: under crun, reaps (on the pool, berth_proc_reap_strays) the
 * process crun 1.8 leaves behind in the container when the command cannot
 * be run, which would keep the container from ever stopping. Nothing for
 * other runtimes. Any thread. */
void berth_conmon_exec_failed(const char *runtime_path);

/* ---- exits ------------------------------------------------------------- */

typedef struct berth_conmon_exit_msg {
    berth_msg_t hdr;
    char *cid;             /* owned */
    int exit_code;         /* as conmon wrote it (128+signal for a signal) */
    uint64_t exit_time_ns; /* the exit file's mtime, CLOCK_REALTIME */
    bool oom_killed;       /* <persist_dir>/oom exists */
    berth_err_t error;     /* set when the exit file was unreadable; owned */
} berth_conmon_exit_msg_t;

/* Creates the exit watcher for exit_dir (inotify, IN_MOVED_TO and
 * IN_CLOSE_WRITE) and returns its handle. Any thread, also before the engine
 * starts. Fails when inotify cannot watch the directory. */
berth_handle_t berth_conmon_watcher_new(const char *exit_dir, berth_err_t *err);
/* Registers owner for cid: exactly one berth_conmon_exit_msg_t is mailed when
 * <exit_dir>/<cid> appears, including when it already exists (an exit while
 * berthd was down or before this call). persist_dir (may be NULL) is where
 * the oom file is looked for. Strings copied. Returns -ESRCH for a dead
 * watcher. Any thread. */
int berth_conmon_watch(berth_handle_t watcher, const char *cid, const char *persist_dir,
                       berth_handle_t owner);
/* Drops the registration of cid (no message after it is handled). */
int berth_conmon_unwatch(berth_handle_t watcher, const char *cid);
/* Stops the watcher: cancels its read, closes the fd, exits. Any thread. */
void berth_conmon_watcher_stop(berth_handle_t watcher);

/* Reads <exit_dir>/<cid> and <persist_dir>/oom. Returns 1 with the values when
 * the exit file exists, 0 when it does not, -1 with *err when it is
 * unreadable or garbled. Blocks (file I/O): restart recovery or the pool. */
int berth_conmon_exit_read(const char *exit_dir, const char *persist_dir, const char *cid,
                           int *exit_code, uint64_t *exit_time_ns, bool *oom_killed,
                           berth_err_t *err);

/* ---- the control fifo ---------------------------------------------------- */

/* Writes "2 0 0" to <bundle>/ctl: conmon reopens the container log (after
 * rotation). Non-blocking (O_NONBLOCK open and write of a few bytes): an
 * actor turn may call it. Fails with ENXIO when conmon is not running. */
int berth_conmon_reopen_log(const char *bundle, berth_err_t *err);
/* berth_conmon_reopen_log, then waits up to timeout_ms for log_path to
 * exist again: the kubelet expects the new file once ReopenContainerLog
 * returns, and conmon reopens only when it reads its fifo. Blocks: call it
 * on the pool. TIMEOUT when the file did not come back. */
int berth_conmon_reopen_log_wait(const char *bundle, const char *log_path, unsigned timeout_ms,
                                 berth_err_t *err);
/* Writes "1 H W" to <bundle>/ctl: resize the container's terminal. */
int berth_conmon_resize(const char *bundle, unsigned height, unsigned width, berth_err_t *err);

/* ---- attach ---------------------------------------------------------------- */

/* Connects to the attach socket of the conmon that runs the container of
 * bundle and returns the channel (io/attach.h: conmon's own format): a
 * SOCK_SEQPACKET socket, non-blocking and close-on-exec, owned by the
 * caller. conmon binds it as <bundle>/attach (<socket_dir>/<cuuid> is a
 * symlink to the bundle); it is reached through a descriptor of the bundle,
 * so no path length limit applies. A unix connect completes at once: an
 * actor turn may call this. Fails with PRECONDITION when conmon no longer
 * serves it (the container exited and conmon with it), UNAVAILABLE when
 * conmon's backlog is full (retry). */
int berth_conmon_attach_open(const char *bundle, berth_err_t *err);

#endif
