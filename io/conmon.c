/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The conmon driver (see conmon.h). Three small actor types:
 *
 *  - a create actor per berth_conmon_create: conmon runs through io/spawn.h;
 *    the actor reads the sync pipe with ring reads until a whole JSON line
 *    arrived (conmon's daemonised child writes it after its parent exited and
 *    keeps the pipe open, so EOF cannot be the signal), reads conmon's pidfile
 *    on the blocking pool, replies and exits once its read op completed;
 *  - a runtime-op actor per start/kill/delete/state/exec: receives the
 *    process exit message and turns it into a berth_conmon_result_msg_t;
 *  - the exit watcher: one inotify fd read on the ring; exit files are read
 *    on the blocking pool so a slow disk never stalls a worker.
 *
 * No actor here blocks: every file read goes to the blocking pool.
 */
#include "io/conmon.h"
#include "io/ocispec.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/ring.h"
#include "io/blocking.h"
#include "io/spawn.h"

enum {
    MSG_CREATE_START = 99,
    MSG_CREATE_TIMEOUT = 100,
    MSG_OP_ABORT = 102,
    MSG_WATCH_START = 103,
    MSG_WATCH_ADD = 104,
    MSG_WATCH_DEL = 105,
    MSG_WATCH_STOP = 106,
    MSG_WATCH_READ = 107,
    MSG_OP_EXEC_ARM = 108,   /* rtop: arm the exec timeout */
    MSG_OP_EXEC_DUE = 109,   /* rtop: the exec timeout passed */
    MSG_OP_EXEC_FORCE = 110, /* rtop: the runtime did not end after the kill */
    MSG_OP_PROCESS = 111,    /* rtop: the exec's process file is written (or not) */
};

#define SYNC_MAX 65536 /* conmon's sync message carries at most the runtime's error */
#define EXEC_MAX_OUTPUT (16u << 20)
#define CREATE_TIMEOUT_NS (240ull * 1000000000ull)

/* ---- helpers --------------------------------------------------------------- */

typedef struct argv_buf {
    char **v;
    size_t n, cap;
} argv_buf_t;

static void argv_add(argv_buf_t *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->v = berth_realloc(a->v, a->cap * sizeof(char *));
    }
    a->v[a->n++] = berth_strdup(s);
    a->v[a->n] = NULL;
}

static void argv_addf(argv_buf_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argv_addf(argv_buf_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = berth_vasprintf(fmt, ap);
    va_end(ap);
    argv_add(a, s);
    berth_free(s);
}

static void argv_fini(argv_buf_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        berth_free(a->v[i]);
    berth_free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* crun is known by its binary's name (a handler's name is the operator's) */
static bool is_crun(const char *path)
{
    const char *base = strrchr(path, '/');
    return strncmp(base ? base + 1 : path, "crun", 4) == 0;
}

static void runtime_head(argv_buf_t *a, const berth_runtime_t *rt)
{
    argv_add(a, rt->path);
    if (rt->root != NULL)
        argv_addf(a, "--root=%s", rt->root);
    /* crun prints its errors as bare text, which an exec's stderr cannot be
     * told from; as JSON lines they have a shape (runtime_failed_exec) */
    if (is_crun(rt->path))
        argv_add(a, "--log-format=json");
}

/* The last of crun's JSON error lines (`{"msg":"...","level":"error",...}`)
 * in raw: its msg, owned; NULL when there is none. */
static char *crun_error_msg(const char *raw, size_t len)
{
    const char *end = raw + len;
    const char *line = NULL;
    for (const char *p = raw; p + 8 <= end; p++)
        if ((p == raw || p[-1] == '\n') && memcmp(p, "{\"msg\":\"", 8) == 0)
            line = p;
    if (line == NULL)
        return NULL;
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    json_t *j = json_loadb(line, (size_t)((nl ? nl : end) - line), 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "msg"));
    const char *level = json_string_value(json_object_get(j, "level"));
    char *out = msg && level && strcmp(level, "error") == 0 ? berth_strdup(msg) : NULL;
    json_decref(j);
    return out;
}

/* The runtime's error in a form a kubelet user can read: runc prints logfmt
 * (`time=... level=error msg="..."`), crun with --log-format=json a JSON
 * line; the msg value is the useful part. */
static char *runtime_error_text(const char *raw, size_t len)
{
    const char *end = raw + len;
    const char *m = NULL;
    char *out = crun_error_msg(raw, len);
    if (out != NULL)
        return out;
    for (const char *p = raw; p + 5 <= end; p++)
        if (memcmp(p, "msg=\"", 5) == 0)
            m = p + 5; /* the last one: runc's final error wins */
    if (m != NULL) {
        out = berth_malloc((size_t)(end - m) + 1);
        size_t n = 0;
        for (const char *p = m; p < end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < end)
                p++;
            out[n++] = *p;
        }
        out[n] = '\0';
    } else {
        out = berth_strndup(raw, len);
    }
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return out;
}

static bool looks_missing(const char *text)
{
    return text != NULL &&
           (strstr(text, "does not exist") != NULL || strstr(text, "not found") != NULL ||
            strstr(text, "No such file") != NULL);
}

/* ---- create ---------------------------------------------------------------- */

typedef struct create {
    berth_handle_t owner;
    uint64_t tag;
    char *cid;
    char *conmon_pidfile;
    uint64_t timeout_ns;
    int sync_fd;
    berth_op_t op;
    bool op_pending;
    bool eof;
    bool replied;
    bool proc_exited;
    char *conmon_stderr;
    berth_timer_t *timer;
    char buf[SYNC_MAX + 1];
    size_t len;
} create_t;

typedef struct pidfile_job {
    char *path;
    berth_conmon_created_msg_t *reply;
} pidfile_job_t;

static void create_fini(void *p)
{
    create_t *c = p;
    if (c->sync_fd >= 0)
        close(c->sync_fd);
    berth_free(c->cid);
    berth_free(c->conmon_pidfile);
    berth_free(c->conmon_stderr);
    berth_free(c);
}

static void created_free(berth_msg_t *m)
{
    berth_conmon_created_msg_t *c = (berth_conmon_created_msg_t *)m;
    berth_err_free(&c->error);
    berth_free(c);
}

static berth_conmon_created_msg_t *created_new(uint64_t tag)
{
    berth_conmon_created_msg_t *r =
            berth_msg_new(BERTH_MSG_CONMON_CREATED, sizeof(berth_conmon_created_msg_t));
    r->hdr.free = created_free;
    r->tag = tag;
    return r;
}

static void read_pid_file(const char *path, pid_t *out)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    int v;
    if (fscanf(f, "%d", &v) == 1 && v > 0)
        *out = v;
    fclose(f);
}

static void pidfile_job(void *arg)
{
    pidfile_job_t *j = arg;
    read_pid_file(j->path, &j->reply->conmon_pid);
    berth_free(j->path);
    berth_free(j);
}

/* The actor exits only when no op of its own is in flight. */
static void create_maybe_exit(berth_actor_t *self, create_t *c)
{
    if (!c->replied || c->op_pending)
        return;
    berth_actor_exit(self);
}

static void create_finish(berth_actor_t *self, create_t *c, berth_conmon_created_msg_t *r)
{
    if (c->replied) {
        berth_msg_free(&r->hdr);
        return;
    }
    c->replied = true;
    if (c->timer != NULL) {
        berth_timer_cancel(self, c->timer);
        c->timer = NULL;
    }
    if (c->op_pending)
        berth_ring_cancel(self, &c->op);
    if (r->error == NULL && c->conmon_pidfile != NULL) {
        /* The reply travels through the pool job, which fills conmon_pid. */
        pidfile_job_t *j = berth_calloc(1, sizeof(*j));
        j->path = berth_strdup(c->conmon_pidfile);
        j->reply = r;
        berth_blocking_run(pidfile_job, j, c->owner, &r->hdr);
    } else {
        berth_send(c->owner, &r->hdr);
    }
}

static void create_fail(berth_actor_t *self, create_t *c, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void create_fail(berth_actor_t *self, create_t *c, int errnum, const char *fmt, ...)
{
    berth_conmon_created_msg_t *r = created_new(c->tag);
    va_list ap;
    va_start(ap, fmt);
    berth_err_makev(&r->error, errnum, errnum == ETIMEDOUT ? BERTH_ERR_TIMEOUT : BERTH_ERR_UNKNOWN,
                    fmt, ap);
    va_end(ap);
    create_finish(self, c, r);
}

static void create_submit_read(berth_actor_t *self, create_t *c)
{
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_read(sqe, c->sync_fd, c->buf + c->len, (unsigned)(SYNC_MAX - c->len), 0);
    berth_ring_submit(self, sqe, &c->op);
    c->op_pending = true;
}

/* Parses one sync line: {"data": PID} or {"data": -1, "message": "..."}. */
static void create_parse(berth_actor_t *self, create_t *c, const char *line, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(line, len, 0, &je);
    json_t *data = j ? json_object_get(j, "data") : NULL;
    if (!json_is_integer(data)) {
        create_fail(self, c, EPROTO, "conmon sent an unreadable sync message: %.*s", (int)len,
                    line);
    } else if (json_integer_value(data) > 0) {
        berth_conmon_created_msg_t *r = created_new(c->tag);
        r->pid = (pid_t)json_integer_value(data);
        create_finish(self, c, r);
    } else {
        const char *msg = json_string_value(json_object_get(j, "message"));
        BERTH_AUTO_FREE char *text =
                msg ? runtime_error_text(msg, strlen(msg)) : berth_strdup("no message");
        create_fail(self, c, EIO, "container create failed: %s", text);
    }
    json_decref(j);
}

static void create_on_cqe(berth_actor_t *self, create_t *c, berth_cqe_msg_t *m)
{
    c->op_pending = false;
    if (c->replied)
        return;
    if (m->res > 0) {
        c->len += (size_t)m->res;
        c->buf[c->len] = '\0';
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl != NULL) {
            create_parse(self, c, c->buf, (size_t)(nl - c->buf));
            return;
        }
        if (c->len >= SYNC_MAX) {
            create_fail(self, c, EPROTO, "conmon's sync message exceeds %d bytes", SYNC_MAX);
            return;
        }
        create_submit_read(self, c);
        return;
    }
    if (m->res < 0 && m->res != -EINTR && m->res != -EAGAIN) {
        create_fail(self, c, -m->res, "reading conmon's sync pipe: %s", strerror(-m->res));
        return;
    }
    if (m->res == 0) {
        if (c->len > 0) {
            create_parse(self, c, c->buf, c->len);
            return;
        }
        c->eof = true;
        /* conmon died before its child reported: its stderr (in the exit
         * message) says why, so wait for that before replying. */
        if (c->proc_exited)
            create_fail(self, c, EIO, "conmon exited without reporting a container pid: %s",
                        c->conmon_stderr && c->conmon_stderr[0] ? c->conmon_stderr : "no output");
        return;
    }
    create_submit_read(self, c);
}

static void create_receive(berth_actor_t *self, berth_msg_t *msg)
{
    create_t *c = berth_actor_state(self);
    switch (msg->type) {
    case MSG_CREATE_START:
        c->timer = berth_timer_after(self, c->timeout_ns,
                                     berth_msg_new(MSG_CREATE_TIMEOUT, sizeof(berth_msg_t)));
        create_submit_read(self, c);
        break;
    case MSG_OP_ABORT:
        c->replied = true;
        break;
    case MSG_CREATE_TIMEOUT:
        c->timer = NULL;
        create_fail(self, c, ETIMEDOUT, "conmon did not report the container pid within %llu s",
                    (unsigned long long)(c->timeout_ns / 1000000000ull));
        break;
    case BERTH_MSG_CQE:
        create_on_cqe(self, c, (berth_cqe_msg_t *)msg);
        break;
    case BERTH_MSG_PROC_EXIT: {
        berth_proc_exit_msg_t *p = (berth_proc_exit_msg_t *)msg;
        c->proc_exited = true;
        c->conmon_stderr = runtime_error_text(p->err ? (char *)p->err : "", p->err_len);
        if (!berth_proc_exit_ok(p))
            berth_log_debug("conmon parent failed", "cid=%s code=%d status=%d stderr=\"%s\"",
                            c->cid, p->code, p->status, c->conmon_stderr);
        if (c->eof && !c->replied)
            create_fail(self, c, EIO, "conmon exited without reporting a container pid: %s",
                        c->conmon_stderr[0] ? c->conmon_stderr : "no output");
        break;
    }
    default:
        break;
    }
    berth_msg_free(msg);
    create_maybe_exit(self, c);
}

static const berth_actor_class_t create_class = {
        .name = "conmon-create", .receive = create_receive, .fini = create_fini};

int berth_conmon_create(berth_handle_t owner, const berth_conmon_spec_t *s, uint64_t tag,
                        berth_err_t *err)
{
    if (s->cid == NULL || s->bundle == NULL || s->runtime.path == NULL || s->exit_dir == NULL ||
        s->persist_dir == NULL || s->log_path == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INTERNAL,
                              "conmon create: cid, bundle, runtime, exit dir, persist dir and "
                              "log path are required");
    int sync[2], start[2];
    if (pipe2(sync, O_CLOEXEC) < 0)
        return berth_err_errno(err, errno, "conmon create: pipe");
    if (pipe2(start, O_CLOEXEC) < 0) {
        int e = errno;
        close(sync[0]);
        close(sync[1]);
        return berth_err_errno(err, e, "conmon create: pipe");
    }
    argv_buf_t a = {0};
    argv_add(&a, s->conmon_path ? s->conmon_path : "/usr/bin/conmon");
    argv_add(&a, "--api-version");
    argv_add(&a, "1");
    argv_add(&a, "-c");
    argv_add(&a, s->cid);
    argv_add(&a, "-u");
    argv_add(&a, s->cuuid ? s->cuuid : s->cid);
    argv_add(&a, "-n");
    argv_add(&a, s->name ? s->name : s->cid);
    argv_add(&a, "-r");
    argv_add(&a, s->runtime.path);
    argv_add(&a, "-b");
    argv_add(&a, s->bundle);
    argv_add(&a, "-p");
    if (s->pidfile)
        argv_add(&a, s->pidfile);
    else
        argv_addf(&a, "%s/pidfile", s->persist_dir);
    argv_add(&a, "-P");
    BERTH_AUTO_FREE char *cpid = s->conmon_pidfile
                                         ? berth_strdup(s->conmon_pidfile)
                                         : berth_asprintf("%s/conmon.pid", s->persist_dir);
    argv_add(&a, cpid);
    argv_add(&a, "-l");
    argv_addf(&a, "k8s-file:%s", s->log_path);
    argv_add(&a, "--exit-dir");
    argv_add(&a, s->exit_dir);
    argv_add(&a, "--persist-dir");
    argv_add(&a, s->persist_dir);
    if (s->socket_dir) {
        argv_add(&a, "--socket-dir-path");
        argv_add(&a, s->socket_dir);
    }
    if (s->runtime.root)
        argv_addf(&a, "--runtime-arg=--root=%s", s->runtime.root);
    if (s->restore_image_path) {
        /* conmon runs `runtime restore --detach --image-path I --work-path
         * BUNDLE`: it names the work path itself (the bundle), so
         * restore_work_path is not given (a second --work-path would rely
         * on the runtime's flag parser keeping the last). */
        if (s->criu)
            argv_addf(&a, "--runtime-arg=--criu=%s", s->criu);
        argv_add(&a, "--restore");
        argv_add(&a, s->restore_image_path);
    }
    if (s->log_size_max)
        argv_addf(&a, "--log-size-max=%llu", (unsigned long long)s->log_size_max);
    argv_addf(&a, "--log-level=%s", s->log_level ? s->log_level : "error");
    if (s->terminal)
        argv_add(&a, "-t");
    if (s->stdin_open)
        argv_add(&a, "-i");
    if (s->stdin_open && !s->stdin_once)
        argv_add(&a, "--leave-stdin-open");
    argv_add(&a, "--syslog");

    char *envp[] = {"_OCI_SYNCPIPE=3", "_OCI_STARTPIPE=4",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    berth_proc_fd_t fds[] = {{.fd = sync[1], .child_fd = 3}, {.fd = start[0], .child_fd = 4}};
    berth_proc_spec_t ps = {
            .argv = a.v,
            .envp = envp,
            .cwd = s->bundle,
            .stderr_mode = BERTH_PROC_CAPTURE,
            .stdout_mode = BERTH_PROC_CAPTURE,
            .fds = fds,
            .nfds = 2,
            .max_output = 8192,
            .timeout_ns = s->timeout_ns ? s->timeout_ns : CREATE_TIMEOUT_NS,
    };
    create_t *c = berth_calloc(1, sizeof(*c));
    c->owner = owner;
    c->tag = tag;
    c->cid = berth_strdup(s->cid);
    c->conmon_pidfile = berth_steal_ptr(&cpid);
    c->timeout_ns = s->timeout_ns ? s->timeout_ns : CREATE_TIMEOUT_NS;
    c->sync_fd = sync[0];
    berth_handle_t h = berth_actor_spawn(&create_class, c);
    int r = berth_proc_run(h, &ps, tag, NULL, NULL, err);
    argv_fini(&a);
    close(sync[1]);
    close(start[0]);
    if (r == 0) {
        /* One byte releases conmon; a fresh pipe always has room for it. */
        char go = 0;
        if (write(start[1], &go, 1) != 1)
            berth_log_warn("conmon start pipe write failed", "cid=%s errno=%d", s->cid, errno);
    }
    close(start[1]);
    if (r < 0) {
        berth_err_prefix(err, "conmon create %s", s->cid);
        /* No op started yet: the actor only needs to go away. */
        berth_send(h, berth_msg_new(MSG_OP_ABORT, sizeof(berth_msg_t)));
        return -1;
    }
    berth_send(h, berth_msg_new(MSG_CREATE_START, sizeof(berth_msg_t)));
    return 0;
}

/* ---- runtime ops ------------------------------------------------------------- */

typedef struct rtop {
    berth_handle_t owner;
    uint64_t tag;
    int op;
    char *cid;
    char *pid_file;
    size_t max_output;
    uint64_t timeout_ns;
    /* exec with a timeout: the command is killed first (through its pid
     * file) so that the runtime reaps it and ends by itself; killing the
     * runtime first would orphan the command to a reaper that may never
     * reap it (and leave it running, as a zombie, to be found). */
    bool exec_timer, exec_timed_out;
    berth_handle_t proc;
    /* an exec waiting for its process file: the runtime's command line,
     * run once the file is there; the file goes with the op */
    argv_buf_t pending;
    char *process_file;
    char *runtime_path;
} rtop_t;

typedef struct process_job {
    berth_msg_t hdr;
    char *bundle, *path;
    char **argv;
    berth_err_t error; /* NULL: written */
} process_job_t;

static void process_job_free(berth_msg_t *m)
{
    process_job_t *j = (process_job_t *)m;
    berth_free(j->bundle);
    berth_free(j->path);
    berth_strv_free(j->argv);
    berth_err_free(&j->error);
    berth_free(j);
}

/* On the pool: the exec's process file from the container's config.json. */
static void process_job(void *arg)
{
    process_job_t *j = arg;
    berth_ocispec_exec_process_write(j->bundle, (const char *const *)j->argv, false, 0, 0, j->path,
                                     &j->error);
}

static void result_free(berth_msg_t *m)
{
    berth_conmon_result_msg_t *r = (berth_conmon_result_msg_t *)m;
    berth_err_free(&r->error);
    berth_free(r->out);
    berth_free(r->err_out);
    berth_free(r->status);
    berth_free(r);
}

static void unlink_job(void *arg);

static void rtop_fini(void *p)
{
    rtop_t *o = p;
    argv_fini(&o->pending);
    if (o->process_file)
        berth_blocking_run(unlink_job, berth_steal_ptr(&o->process_file), BERTH_HANDLE_NONE, NULL);
    berth_free(o->cid);
    berth_free(o->pid_file);
    berth_free(o->runtime_path);
    berth_free(o);
}

static const char *op_name(int op)
{
    switch (op) {
    case BERTH_CONMON_OP_START:
        return "start";
    case BERTH_CONMON_OP_KILL:
        return "kill";
    case BERTH_CONMON_OP_DELETE:
        return "delete";
    case BERTH_CONMON_OP_STATE:
        return "state";
    case BERTH_CONMON_OP_UPDATE:
        return "update";
    default:
        return "exec";
    }
}

/* A timed-out exec: the runtime was killed but the command it started in the
 * container was not; its pid file names it. */
static void kill_pidfile_job(void *arg)
{
    char *path = arg;
    pid_t pid = 0;
    read_pid_file(path, &pid);
    if (pid > 0)
        kill(pid, SIGKILL);
    unlink(path);
    berth_free(path);
}

static void unlink_job(void *arg)
{
    unlink((char *)arg);
    berth_free(arg);
}

static bool runtime_failed_exec(const char *err, size_t len)
{
    /* runc reports its own failures in logfmt on stderr, crun (with
     * --log-format=json) in JSON lines; the command's output never carries
     * those shapes in practice. */
    if (err == NULL)
        return false;
    if (strstr(err, "level=error msg=\"") != NULL)
        return true;
    BERTH_AUTO_FREE char *m = crun_error_msg(err, len);
    return m != NULL;
}

/* Returns true when the reply was handed to a job that sends it later. */
static bool rtop_on_exit(rtop_t *o, berth_proc_exit_msg_t *p, berth_conmon_result_msg_t *r)
{
    const char *stderr_text = p->err ? (const char *)p->err : "";
    if (p->wait_error != 0) {
        berth_err_make(&r->error, -p->wait_error, BERTH_ERR_INTERNAL,
                       "runtime %s %s: waiting for the runtime failed: %s", op_name(o->op), o->cid,
                       strerror(-p->wait_error));
        return false;
    }
    if (p->timed_out) {
        berth_err_make(&r->error, ETIMEDOUT, BERTH_ERR_TIMEOUT,
                       "runtime %s %s timed out after %llu ms", op_name(o->op), o->cid,
                       (unsigned long long)(o->timeout_ns / 1000000ull));
        if (o->pid_file != NULL) {
            /* The answer goes out only once the command is killed: a caller
             * that looks for it right after the timeout must not find it. */
            berth_blocking_run(kill_pidfile_job, berth_steal_ptr(&o->pid_file), o->owner, &r->hdr);
            return true;
        }
        return false;
    }
    if (o->pid_file != NULL)
        berth_blocking_run(unlink_job, berth_steal_ptr(&o->pid_file), BERTH_HANDLE_NONE, NULL);
    int code = p->code == CLD_EXITED ? p->status : 128 + p->status;
    if (o->op == BERTH_CONMON_OP_EXEC && code == 255)
        berth_conmon_exec_failed(o->runtime_path);
    if (o->op == BERTH_CONMON_OP_EXEC) {
        if (code != 0 && runtime_failed_exec(stderr_text, p->err_len)) {
            BERTH_AUTO_FREE char *t = runtime_error_text(stderr_text, p->err_len);
            int e = looks_missing(t) ? ENOENT : EIO;
            berth_err_make(&r->error, e, e == ENOENT ? BERTH_ERR_NOT_FOUND : BERTH_ERR_UNKNOWN,
                           "exec in %s failed: %s", o->cid, t);
            return false;
        }
        if (p->out_truncated || p->err_truncated) {
            berth_err_make(&r->error, EFBIG, BERTH_ERR_EXHAUSTED,
                           "exec in %s: output exceeded the limit of %zu bytes per stream", o->cid,
                           o->max_output);
            return false;
        }
        r->exit_code = code;
        r->out = berth_memdup(p->out ? (char *)p->out : "", p->out_len + 1);
        r->out_len = p->out_len;
        r->err_out = berth_memdup(p->err ? (char *)p->err : "", p->err_len + 1);
        r->err_len = p->err_len;
        return false;
    }
    if (code != 0) {
        BERTH_AUTO_FREE char *t = runtime_error_text(stderr_text, p->err_len);
        int e = looks_missing(t) ? ENOENT : EIO;
        berth_err_make(&r->error, e, e == ENOENT ? BERTH_ERR_NOT_FOUND : BERTH_ERR_UNKNOWN,
                       "runtime %s %s failed (exit %d): %s", op_name(o->op), o->cid, code,
                       t[0] ? t : "no output");
        return false;
    }
    if (o->op == BERTH_CONMON_OP_STATE) {
        json_error_t je;
        json_t *j = json_loadb(p->out ? (char *)p->out : "", p->out_len, 0, &je);
        const char *st = json_string_value(json_object_get(j, "status"));
        json_t *pid = json_object_get(j, "pid");
        if (st == NULL) {
            berth_err_make(&r->error, EPROTO, BERTH_ERR_INTERNAL,
                           "runtime state %s: unreadable output: %s", o->cid, je.text);
        } else {
            r->status = berth_strdup(st);
            r->pid = json_is_integer(pid) ? (pid_t)json_integer_value(pid) : 0;
        }
        json_decref(j);
    }
    return false;
}

/* On the pool: SIGKILL to the pid named in an exec's pid file. */
static void kill_pidfile_keep_job(void *arg)
{
    char *path = arg;
    pid_t pid = 0;
    read_pid_file(path, &pid);
    if (pid > 0)
        kill(pid, SIGKILL);
    berth_free(path);
}

static int rtop_spawn(berth_handle_t h, rtop_t *o, char *const *argv, berth_err_t *err);

/* A result carrying only an error (taken) to the op's owner. */
static void rtop_fail(rtop_t *o, berth_err_t error)
{
    berth_conmon_result_msg_t *r =
            berth_msg_new(BERTH_MSG_CONMON_RESULT, sizeof(berth_conmon_result_msg_t));
    r->hdr.free = result_free;
    r->tag = o->tag;
    r->op = o->op;
    r->exit_code = -1;
    r->error = error;
    berth_send(o->owner, &r->hdr);
}

static void rtop_receive(berth_actor_t *self, berth_msg_t *msg)
{
    rtop_t *o = berth_actor_state(self);
    if (msg->type == MSG_OP_PROCESS) {
        process_job_t *j = (process_job_t *)msg;
        berth_err_t err = berth_steal_ptr(&j->error);
        berth_msg_free(msg);
        if (err == NULL && rtop_spawn(berth_actor_self(self), o, o->pending.v, &err) == 0) {
            argv_fini(&o->pending);
            return;
        }
        berth_err_prefix(&err, "exec in %s", o->cid);
        rtop_fail(o, err);
        berth_actor_exit(self);
        return;
    }
    if (msg->type == MSG_OP_EXEC_ARM) {
        berth_timer_after(self, o->timeout_ns, berth_msg_new(MSG_OP_EXEC_DUE, sizeof(*msg)));
        berth_msg_free(msg);
        return;
    }
    if (msg->type == MSG_OP_EXEC_DUE) {
        o->exec_timed_out = true;
        berth_blocking_run(kill_pidfile_keep_job, berth_strdup(o->pid_file), BERTH_HANDLE_NONE,
                           NULL);
        berth_timer_after(self, 2000ull * 1000 * 1000,
                          berth_msg_new(MSG_OP_EXEC_FORCE, sizeof(*msg)));
        berth_msg_free(msg);
        return;
    }
    if (msg->type == MSG_OP_EXEC_FORCE) {
        berth_proc_kill(o->proc, SIGKILL);
        berth_msg_free(msg);
        return;
    }
    if (msg->type == BERTH_MSG_PROC_EXIT && o->exec_timed_out) {
        berth_proc_exit_msg_t *p = (berth_proc_exit_msg_t *)msg;
        p->timed_out = true;
    }
    if (msg->type == BERTH_MSG_PROC_EXIT) {
        berth_conmon_result_msg_t *r =
                berth_msg_new(BERTH_MSG_CONMON_RESULT, sizeof(berth_conmon_result_msg_t));
        r->hdr.free = result_free;
        r->tag = o->tag;
        r->op = o->op;
        r->exit_code = -1;
        if (!rtop_on_exit(o, (berth_proc_exit_msg_t *)msg, r))
            berth_send(o->owner, &r->hdr);
    }
    berth_msg_free(msg);
    berth_actor_exit(self);
}

static const berth_actor_class_t rtop_class = {
        .name = "conmon-runtime-op", .receive = rtop_receive, .fini = rtop_fini};

/* Starts the runtime for o (actor h) with argv; arms an exec's timeout. */
static int rtop_spawn(berth_handle_t h, rtop_t *o, char *const *argv, berth_err_t *err)
{
    char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    berth_proc_spec_t ps = {
            .argv = argv,
            .envp = envp,
            .stdout_mode = BERTH_PROC_CAPTURE,
            .stderr_mode = BERTH_PROC_CAPTURE,
            /* one byte over the limit tells a full buffer from an overflow */
            .max_output = o->max_output ? o->max_output : 65536,
            .timeout_ns = o->exec_timer ? 0 : o->timeout_ns,
    };
    int r = berth_proc_run(h, &ps, o->tag, &o->proc, NULL, err);
    if (r == 0 && o->exec_timer)
        berth_send(h, berth_msg_new(MSG_OP_EXEC_ARM, sizeof(berth_msg_t)));
    if (r < 0)
        berth_err_prefix(err, "runtime %s %s", op_name(o->op), o->cid);
    return r;
}

/* process (taken, may be NULL): an exec's process file to write from the
 * bundle's config.json before the runtime runs; its path is in a. */
static int rtop_run(berth_handle_t owner, int op, const char *cid, argv_buf_t *a,
                    const char *pid_file, uint64_t timeout_ns, size_t max_output, uint64_t tag,
                    process_job_t *process, berth_err_t *err)
{
    rtop_t *o = berth_calloc(1, sizeof(*o));
    o->owner = owner;
    o->tag = tag;
    o->op = op;
    o->cid = berth_strdup(cid);
    o->pid_file = pid_file ? berth_strdup(pid_file) : NULL;
    o->timeout_ns = timeout_ns;
    o->max_output = max_output;
    o->exec_timer = op == BERTH_CONMON_OP_EXEC && pid_file && timeout_ns;
    o->runtime_path = berth_strdup(a->v[0]);
    berth_handle_t h = berth_actor_spawn(&rtop_class, o);
    if (process != NULL) {
        o->pending = *a;
        *a = (argv_buf_t){0};
        o->process_file = berth_strdup(process->path);
        process->hdr.type = MSG_OP_PROCESS;
        process->hdr.free = process_job_free;
        berth_blocking_run(process_job, process, h, &process->hdr);
        return 0;
    }
    int r = rtop_spawn(h, o, a->v, err);
    argv_fini(a);
    if (r < 0) {
        berth_send(h, berth_msg_new(MSG_OP_ABORT, sizeof(berth_msg_t)));
        return -1;
    }
    return 0;
}

static int check_rt(const berth_runtime_t *rt, const char *cid, berth_err_t *err)
{
    if (rt == NULL || rt->path == NULL || cid == NULL || cid[0] == '\0')
        return berth_err_make(err, EINVAL, BERTH_ERR_INTERNAL,
                              "runtime call without a runtime path or container id");
    return 0;
}

int berth_conmon_start(berth_handle_t owner, const berth_runtime_t *rt, const char *cid,
                       uint64_t tag, berth_err_t *err)
{
    if (check_rt(rt, cid, err) < 0)
        return -1;
    argv_buf_t a = {0};
    runtime_head(&a, rt);
    argv_add(&a, "start");
    argv_add(&a, cid);
    return rtop_run(owner, BERTH_CONMON_OP_START, cid, &a, NULL, 0, 0, tag, NULL, err);
}

int berth_conmon_kill(berth_handle_t owner, const berth_runtime_t *rt, const char *cid, int sig,
                      bool all, uint64_t tag, berth_err_t *err)
{
    if (check_rt(rt, cid, err) < 0)
        return -1;
    argv_buf_t a = {0};
    runtime_head(&a, rt);
    argv_add(&a, "kill");
    if (all)
        argv_add(&a, "--all");
    argv_add(&a, cid);
    argv_addf(&a, "%d", sig);
    return rtop_run(owner, BERTH_CONMON_OP_KILL, cid, &a, NULL, 0, 0, tag, NULL, err);
}

int berth_conmon_delete(berth_handle_t owner, const berth_runtime_t *rt, const char *cid,
                        uint64_t tag, berth_err_t *err)
{
    if (check_rt(rt, cid, err) < 0)
        return -1;
    argv_buf_t a = {0};
    runtime_head(&a, rt);
    argv_add(&a, "delete");
    argv_add(&a, "--force");
    argv_add(&a, cid);
    return rtop_run(owner, BERTH_CONMON_OP_DELETE, cid, &a, NULL, 0, 0, tag, NULL, err);
}

int berth_conmon_state(berth_handle_t owner, const berth_runtime_t *rt, const char *cid,
                       uint64_t tag, berth_err_t *err)
{
    if (check_rt(rt, cid, err) < 0)
        return -1;
    argv_buf_t a = {0};
    runtime_head(&a, rt);
    argv_add(&a, "state");
    argv_add(&a, cid);
    return rtop_run(owner, BERTH_CONMON_OP_STATE, cid, &a, NULL, 0, 0, tag, NULL, err);
}

int berth_conmon_update(berth_handle_t owner, const berth_runtime_t *rt, const char *cid,
                        const char *resources_path, uint64_t tag, berth_err_t *err)
{
    if (check_rt(rt, cid, err) < 0)
        return -1;
    argv_buf_t a = {0};
    runtime_head(&a, rt);
    argv_add(&a, "update");
    argv_add(&a, "--resources");
    argv_add(&a, resources_path);
    argv_add(&a, cid);
    return rtop_run(owner, BERTH_CONMON_OP_UPDATE, cid, &a, NULL, 0, 0, tag, NULL, err);
}

int berth_conmon_exec(berth_handle_t owner, const berth_runtime_t *rt,
                      const berth_conmon_exec_spec_t *s, uint64_t tag, berth_err_t *err)
{
    if (check_rt(rt, s->cid, err) < 0)
        return -1;
    if (s->process_path == NULL && (s->argv == NULL || s->argv[0] == NULL))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "exec in %s: no command", s->cid);
    if (s->process_path == NULL && s->bundle != NULL && s->pid_file == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INTERNAL,
                              "exec in %s: a process file needs a pid file's directory", s->cid);
    process_job_t *process = NULL;
    if (s->process_path == NULL && s->bundle != NULL) {
        process = berth_calloc(1, sizeof(*process));
        process->bundle = berth_strdup(s->bundle);
        process->path = berth_asprintf("%s.process.json", s->pid_file);
        process->argv = berth_strv_dup((char *const *)s->argv, -1);
    }
    argv_buf_t a = {0};
    runtime_head(&a, rt);
    argv_add(&a, "exec");
    if (s->pid_file) {
        argv_add(&a, "--pid-file");
        argv_add(&a, s->pid_file);
    }
    const char *pp = process ? process->path : s->process_path;
    if (pp) {
        argv_add(&a, "--process");
        argv_add(&a, pp);
    }
    argv_add(&a, s->cid);
    if (pp == NULL)
        for (size_t i = 0; s->argv[i] != NULL; i++)
            argv_add(&a, s->argv[i]);
    return rtop_run(owner, BERTH_CONMON_OP_EXEC, s->cid, &a, s->pid_file, s->timeout_ns,
                    s->max_output ? s->max_output : EXEC_MAX_OUTPUT, tag, process, err);
}

/* On the pool: the stray a failed crun exec leaves (arg: its comm). */
static void reap_strays_job(void *arg)
{
    /* half a second: the stray exits right after crun, within
     * milliseconds; an exec crun refused before making it leaves none */
    berth_proc_reap_strays(arg, 500ull * 1000000ull);
    berth_free(arg);
}

void berth_conmon_exec_failed(const char *runtime_path)
{
    if (runtime_path == NULL || !is_crun(runtime_path))
        return;
    const char *base = strrchr(runtime_path, '/');
    base = base ? base + 1 : runtime_path;
    /* the kernel's comm: the first 15 bytes of the binary's name */
    berth_blocking_run(reap_strays_job, berth_strndup(base, 15), BERTH_HANDLE_NONE, NULL);
}

/* ---- exit files ---------------------------------------------------------- */

int berth_conmon_exit_read(const char *exit_dir, const char *persist_dir, const char *cid,
                           int *exit_code, uint64_t *exit_time_ns, bool *oom_killed,
                           berth_err_t *err)
{
    if (cid == NULL || cid[0] == '\0' || strchr(cid, '/') != NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid container id \"%s\"",
                              cid ? cid : "");
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", exit_dir, cid);
    BERTH_AUTO_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return berth_err_errno(err, errno, "open exit file %s", path);
    }
    char buf[64];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0)
        return berth_err_errno(err, errno, "read exit file %s", path);
    buf[n] = '\0';
    char *end = NULL;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (n == 0 || end == buf || errno != 0 || v < INT_MIN || v > INT_MAX)
        return berth_err_make(err, EPROTO, BERTH_ERR_INTERNAL,
                              "exit file %s holds no exit code: \"%s\"", path, buf);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return berth_err_errno(err, errno, "stat exit file %s", path);
    *exit_code = (int)v;
    *exit_time_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
    *oom_killed = false;
    if (persist_dir != NULL) {
        BERTH_AUTO_FREE char *oom = berth_asprintf("%s/oom", persist_dir);
        *oom_killed = access(oom, F_OK) == 0;
    }
    return 1;
}

/* ---- the exit watcher -------------------------------------------------------- */

typedef struct watch_entry {
    char *cid;
    char *persist_dir;
    berth_handle_t owner;
    uint64_t gen; /* tells a stale pool answer from the current registration */
} watch_entry_t;

typedef struct watcher {
    int fd;
    char *exit_dir;
    berth_op_t op;
    bool op_pending;
    bool stopping;
    watch_entry_t *v;
    size_t n, cap;
    uint64_t next_gen;
    int read_errors;
    /* inotify records are aligned like struct inotify_event */
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
} watcher_t;

typedef struct watch_msg {
    berth_msg_t hdr;
    char *cid;
    char *persist_dir;
    berth_handle_t owner;
} watch_msg_t;

/* The pool's answer to the watcher: the result of one exit file read. */
typedef struct read_msg {
    berth_msg_t hdr;
    char *cid;
    char *exit_dir;
    char *persist_dir;
    uint64_t gen;
    int found;
    int code;
    uint64_t time_ns;
    bool oom;
    berth_err_t error;
} read_msg_t;

static void watch_msg_free(berth_msg_t *m)
{
    watch_msg_t *w = (watch_msg_t *)m;
    berth_free(w->cid);
    berth_free(w->persist_dir);
    berth_free(w);
}

static void read_msg_free(berth_msg_t *m)
{
    read_msg_t *r = (read_msg_t *)m;
    berth_free(r->cid);
    berth_free(r->exit_dir);
    berth_free(r->persist_dir);
    berth_err_free(&r->error);
    berth_free(r);
}

static void exit_msg_free(berth_msg_t *m)
{
    berth_conmon_exit_msg_t *e = (berth_conmon_exit_msg_t *)m;
    berth_free(e->cid);
    berth_err_free(&e->error);
    berth_free(e);
}

static void read_job(void *arg)
{
    read_msg_t *r = arg;
    r->found = berth_conmon_exit_read(r->exit_dir, r->persist_dir, r->cid, &r->code, &r->time_ns,
                                      &r->oom, &r->error);
    if (r->found < 0)
        r->found = 1; /* report the unreadable file: it exists */
}

static void watcher_read_exit(berth_actor_t *self, watcher_t *w, watch_entry_t *e)
{
    read_msg_t *r = berth_msg_new(MSG_WATCH_READ, sizeof(read_msg_t));
    r->hdr.free = read_msg_free;
    r->cid = berth_strdup(e->cid);
    r->exit_dir = berth_strdup(w->exit_dir);
    r->persist_dir = e->persist_dir ? berth_strdup(e->persist_dir) : NULL;
    r->gen = e->gen;
    berth_blocking_run(read_job, r, berth_actor_self(self), &r->hdr);
}

static watch_entry_t *watcher_find(watcher_t *w, const char *cid)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->v[i].cid, cid) == 0)
            return &w->v[i];
    return NULL;
}

static void watcher_remove(watcher_t *w, watch_entry_t *e)
{
    berth_free(e->cid);
    berth_free(e->persist_dir);
    *e = w->v[--w->n];
}

static void watcher_submit(berth_actor_t *self, watcher_t *w)
{
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_read(sqe, w->fd, w->buf, sizeof(w->buf), 0);
    berth_ring_submit(self, sqe, &w->op);
    w->op_pending = true;
}

static void watcher_on_events(berth_actor_t *self, watcher_t *w, size_t len)
{
    for (size_t off = 0; off + sizeof(struct inotify_event) <= len;) {
        struct inotify_event *ev = (struct inotify_event *)(w->buf + off);
        off += sizeof(*ev) + ev->len;
        if (ev->mask & IN_Q_OVERFLOW) {
            /* Events were lost: look at every registered container again. */
            for (size_t i = 0; i < w->n; i++)
                watcher_read_exit(self, w, &w->v[i]);
            continue;
        }
        if (ev->len == 0 || !(ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE)))
            continue;
        watch_entry_t *e = watcher_find(w, ev->name);
        if (e != NULL)
            watcher_read_exit(self, w, e);
    }
}

static void watcher_fini(void *p)
{
    watcher_t *w = p;
    if (w->fd >= 0)
        close(w->fd);
    while (w->n > 0)
        watcher_remove(w, &w->v[0]);
    berth_free(w->v);
    berth_free(w->exit_dir);
    berth_free(w);
}

static void watcher_receive(berth_actor_t *self, berth_msg_t *msg)
{
    watcher_t *w = berth_actor_state(self);
    switch (msg->type) {
    case MSG_WATCH_START:
        if (!w->stopping)
            watcher_submit(self, w);
        break;
    case MSG_WATCH_ADD: {
        watch_msg_t *m = (watch_msg_t *)msg;
        watch_entry_t *e = watcher_find(w, m->cid);
        if (e == NULL) {
            if (w->n == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 16;
                w->v = berth_realloc(w->v, w->cap * sizeof(*w->v));
            }
            e = &w->v[w->n++];
            e->cid = berth_steal_ptr(&m->cid);
        } else {
            berth_free(e->persist_dir);
        }
        e->persist_dir = berth_steal_ptr(&m->persist_dir);
        e->owner = m->owner;
        e->gen = ++w->next_gen;
        /* The container may have exited before it was registered. */
        watcher_read_exit(self, w, e);
        break;
    }
    case MSG_WATCH_DEL: {
        watch_entry_t *e = watcher_find(w, ((watch_msg_t *)msg)->cid);
        if (e != NULL)
            watcher_remove(w, e);
        break;
    }
    case MSG_WATCH_READ: {
        read_msg_t *r = (read_msg_t *)msg;
        watch_entry_t *e = watcher_find(w, r->cid);
        if (e == NULL || e->gen != r->gen || r->found == 0)
            break; /* unregistered, re-registered since, or not there yet */
        berth_conmon_exit_msg_t *x =
                berth_msg_new(BERTH_MSG_CONMON_EXIT, sizeof(berth_conmon_exit_msg_t));
        x->hdr.free = exit_msg_free;
        x->cid = berth_steal_ptr(&r->cid);
        x->exit_code = r->code;
        x->exit_time_ns = r->time_ns;
        x->oom_killed = r->oom;
        x->error = berth_err_steal(&r->error);
        berth_handle_t owner = e->owner;
        /* Exactly one report per registration. */
        watcher_remove(w, e);
        berth_send(owner, &x->hdr);
        break;
    }
    case MSG_WATCH_STOP:
        w->stopping = true;
        if (w->op_pending)
            berth_ring_cancel(self, &w->op);
        break;
    case BERTH_MSG_CQE: {
        berth_cqe_msg_t *c = (berth_cqe_msg_t *)msg;
        w->op_pending = false;
        if (w->stopping)
            break;
        if (c->res > 0) {
            w->read_errors = 0;
            watcher_on_events(self, w, (size_t)c->res);
        } else if (c->res < 0 && c->res != -EINTR && c->res != -EAGAIN && ++w->read_errors > 100) {
            berth_log_error("exit watcher: inotify read keeps failing, stopping",
                            "dir=\"%s\" errno=%d", w->exit_dir, -c->res);
            w->stopping = true;
            break;
        }
        watcher_submit(self, w);
        break;
    }
    default:
        break;
    }
    berth_msg_free(msg);
    if (w->stopping && !w->op_pending)
        berth_actor_exit(self);
}

static const berth_actor_class_t watcher_class = {
        .name = "conmon-exit-watcher", .receive = watcher_receive, .fini = watcher_fini};

berth_handle_t berth_conmon_watcher_new(const char *exit_dir, berth_err_t *err)
{
    /* A blocking inotify fd: io_uring parks the read on poll until an event. */
    int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0) {
        berth_err_errno(err, errno, "exit watcher: inotify_init1");
        return BERTH_HANDLE_NONE;
    }
    if (inotify_add_watch(fd, exit_dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR) < 0) {
        int e = errno;
        close(fd);
        berth_err_errno(err, e, "exit watcher: watch %s", exit_dir);
        return BERTH_HANDLE_NONE;
    }
    watcher_t *w = berth_calloc(1, sizeof(*w));
    w->fd = fd;
    w->exit_dir = berth_strdup(exit_dir);
    berth_handle_t h = berth_actor_spawn(&watcher_class, w);
    berth_send(h, berth_msg_new(MSG_WATCH_START, sizeof(berth_msg_t)));
    return h;
}

int berth_conmon_watch(berth_handle_t watcher, const char *cid, const char *persist_dir,
                       berth_handle_t owner)
{
    watch_msg_t *m = berth_msg_new(MSG_WATCH_ADD, sizeof(watch_msg_t));
    m->hdr.free = watch_msg_free;
    m->cid = berth_strdup(cid);
    m->persist_dir = persist_dir ? berth_strdup(persist_dir) : NULL;
    m->owner = owner;
    return berth_send(watcher, &m->hdr);
}

int berth_conmon_unwatch(berth_handle_t watcher, const char *cid)
{
    watch_msg_t *m = berth_msg_new(MSG_WATCH_DEL, sizeof(watch_msg_t));
    m->hdr.free = watch_msg_free;
    m->cid = berth_strdup(cid);
    return berth_send(watcher, &m->hdr);
}

void berth_conmon_watcher_stop(berth_handle_t watcher)
{
    berth_send(watcher, berth_msg_new(MSG_WATCH_STOP, sizeof(berth_msg_t)));
}

/* ---- the control fifo ---------------------------------------------------- */

static int ctl_write(const char *bundle, const char *line, berth_err_t *err)
{
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/ctl", bundle);
    /* O_NONBLOCK: without a reader (conmon gone) open fails with ENXIO
     * instead of waiting for one. */
    BERTH_AUTO_CLOSE int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return berth_err_errno(err, errno, "open conmon control fifo %s", path);
    size_t len = strlen(line);
    ssize_t n = write(fd, line, len);
    if (n != (ssize_t)len)
        return berth_err_errno(err, n < 0 ? errno : EAGAIN, "write conmon control fifo %s", path);
    return 0;
}

int berth_conmon_reopen_log(const char *bundle, berth_err_t *err)
{
    return ctl_write(bundle, "2 0 0\n", err);
}

int berth_conmon_reopen_log_wait(const char *bundle, const char *log_path, unsigned timeout_ms,
                                 berth_err_t *err)
{
    if (berth_conmon_reopen_log(bundle, err) < 0)
        return -1;
    /* Naps of 10 ms until the deadline; a nap cut short (EINTR from a
     * profile's SIGPROF: engine/prof.h) only checks sooner. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t end = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u + timeout_ms;
    for (;;) {
        if (access(log_path, F_OK) == 0)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u >= end)
            break;
        usleep(10 * 1000);
    }
    return berth_err_make(err, ETIMEDOUT, BERTH_ERR_TIMEOUT,
                          "ReopenContainerLog: conmon did not reopen %s within %u ms", log_path,
                          timeout_ms);
}

int berth_conmon_resize(const char *bundle, unsigned height, unsigned width, berth_err_t *err)
{
    char line[48];
    snprintf(line, sizeof(line), "1 %u %u\n", height, width);
    return ctl_write(bundle, line, err);
}

/* ---- attach ---------------------------------------------------------------- */

int berth_conmon_attach_open(const char *bundle, berth_err_t *err)
{
    /* conmon's own trick for its bind: the socket named through a
     * descriptor of its directory, as a sun_path holds 108 bytes. */
    BERTH_AUTO_CLOSE int dir = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return berth_err_errno(err, errno, "attach: container bundle %s", bundle);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/attach", dir);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return berth_err_errno(err, errno, "attach: socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return fd;
    int e = errno;
    close(fd);
    if (e == ENOENT || e == ECONNREFUSED)
        return berth_err_make(err, e, BERTH_ERR_PRECONDITION,
                              "attach: conmon serves no attach socket in %s (the container is "
                              "not running): %s",
                              bundle, strerror(e));
    if (e == EAGAIN)
        return berth_err_make(err, e, BERTH_ERR_UNAVAILABLE,
                              "attach: conmon's attach socket in %s is busy (backlog full)",
                              bundle);
    return berth_err_errno(err, e, "attach: connecting to %s/attach", bundle);
}
