/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berthd's side of berth-monitor: the link actor and the create actors.
 * See monitor.h and docs/monitor.md.
 */
#include "io/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/ring.h"
#include "engine/timer.h"
#include "io/blocking.h"
#include "io/monitor/exitfile.h"
#include "io/monitor/proto.h"
#include "io/spawn.h"

enum {
    MSG_REGISTER = 160, /* register_msg_t: a created container's pipes, to the link */
    MSG_FORGET,         /* name_msg_t */
    MSG_STOP,
    MSG_RESTART,        /* the restart back-off ended */
    MSG_CREATE_GO,      /* the create actor's first turn, or a connect retry */
    MSG_CREATE_TIMEOUT, /* the create's budget ran out */
    MSG_SURVEY_DONE,    /* survey_job: which orphans are still alive */
    MSG_EXIT_RECORDED,  /* record_job */
    MSG_START_MONITOR,  /* the link's first turn: start or reach the monitor */
    MSG_ATTACH,         /* attach_msg_t */
    MSG_RESIZE,         /* resize_msg_t */
};

#define CREATE_TIMEOUT_NS (240ull * 1000000000ull)
#define CONNECT_RETRY_NS (20ull * 1000000ull)
#define RESTART_BACKOFF_NS (1000ull * 1000000ull)
/* The exit code of a container whose status nobody could collect (its
 * monitor died while no berthd that started it was alive to adopt it):
 * containerd's choice for an unknown status. */
#define LOST_EXIT_CODE 255

/* The socket path of the one link of this process, fixed at
 * berth_monitor_link_new and only read afterwards. */
static char *g_socket;

/* ---- the link ------------------------------------------------------------------ */

typedef struct entry {
    struct entry *next;
    char *cid;
    json_t *spec; /* the create request's fields */
    json_t *names;
    int fds[BERTH_MON_FDS_MAX];
    size_t nfds;
    pid_t pid;
    char *cgroup;
    bool exited;
    /* reaping an orphan after its monitor died */
    int pidfd;
    bool ours; /* berthd is its parent now */
    berth_op_t op;
    bool op_pending;
    siginfo_t si;
} entry_t;

/* A request on the link's connection waiting for its answer, in order. */
typedef struct expect {
    struct expect *next;
    int kind; /* 'L' list, 'F' fds, 'A' adopt, 'G' forget, 'T' attach */
    char *cid;
    berth_handle_t reply_to; /* attach */
    uint64_t tag;
} expect_t;

typedef struct link {
    char *dir, *binary, *sock, *pidfile, *logfile;
    int conn;
    berth_op_t *conn_op; /* the poll on conn; a cancelled one is freed by its CQE */
    bool conn_pending;
    uint64_t gen; /* the monitor generation the connection belongs to */
    berth_handle_t proc;
    pid_t monitor_pid;
    uint64_t started_ns;
    entry_t *entries;
    expect_t *expect, **expect_tail;
    bool stopping, restart_scheduled;
    char buf[BERTH_MON_MSG_MAX];
} link_t;

typedef struct register_msg {
    berth_msg_t hdr;
    entry_t *e; /* owned */
} register_msg_t;

typedef struct name_msg {
    berth_msg_t hdr;
    char *cid;
} name_msg_t;

typedef struct attach_msg {
    berth_msg_t hdr;
    char *cid;
    berth_handle_t reply_to;
    uint64_t tag;
} attach_msg_t;

typedef struct resize_msg {
    berth_msg_t hdr;
    char *cid;
    unsigned height, width;
} resize_msg_t;

typedef struct survey_msg {
    berth_msg_t hdr;
    size_t n;
    char **cids; /* owned */
    pid_t *pids;
    char **exit_dirs, **persist_dirs;
    /* answers */
    bool *exited;
    int *pidfds; /* owned until taken */
    bool *ours;
} survey_msg_t;

typedef struct record_msg {
    berth_msg_t hdr;
    char *cid, *exit_dir, *persist_dir, *cgroup;
    int code;
} record_msg_t;

static void entry_free(entry_t *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->nfds; i++)
        close(e->fds[i]);
    if (e->pidfd >= 0)
        close(e->pidfd);
    json_decref(e->spec);
    json_decref(e->names);
    berth_free(e->cid);
    berth_free(e->cgroup);
    berth_free(e);
}

static entry_t *entry_new(const char *cid)
{
    entry_t *e = berth_calloc(1, sizeof(*e));
    e->cid = berth_strdup(cid);
    e->pidfd = -1;
    return e;
}

static entry_t *link_find(link_t *l, const char *cid)
{
    for (entry_t *e = l->entries; e != NULL; e = e->next)
        if (strcmp(e->cid, cid) == 0)
            return e;
    return NULL;
}

static void link_unlink(link_t *l, entry_t *e)
{
    for (entry_t **p = &l->entries; *p != NULL; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            return;
        }
}

static expect_t *expect_push(link_t *l, int kind, const char *cid)
{
    expect_t *x = berth_calloc(1, sizeof(*x));
    x->kind = kind;
    x->cid = cid ? berth_strdup(cid) : NULL;
    *l->expect_tail = x;
    l->expect_tail = &x->next;
    return x;
}

static void attached_free(berth_msg_t *m)
{
    berth_monitor_attached_msg_t *a = (berth_monitor_attached_msg_t *)m;
    if (a->fd >= 0)
        close(a->fd);
    berth_err_free(&a->error);
    berth_free(a);
}

/* The answer to berth_monitor_attach: fd (taken) or error (taken). */
static void attached_reply(berth_handle_t to, uint64_t tag, int fd, berth_err_t error)
{
    berth_monitor_attached_msg_t *a =
            berth_msg_new(BERTH_MSG_MONITOR_ATTACHED, sizeof(berth_monitor_attached_msg_t));
    a->hdr.free = attached_free;
    a->tag = tag;
    a->fd = fd;
    a->error = error;
    berth_send(to, &a->hdr);
}

static void attach_unavailable(berth_handle_t to, uint64_t tag, const char *cid, const char *why)
{
    berth_err_t e = NULL;
    berth_err_make(&e, EAGAIN, BERTH_ERR_UNAVAILABLE, "attach to container %s: %s", cid, why);
    attached_reply(to, tag, -1, e);
}

/* Forgets the requests in flight; an attach among them is answered (the
 * monitor went away before it could). */
static void expect_clear(link_t *l)
{
    while (l->expect != NULL) {
        expect_t *x = l->expect;
        l->expect = x->next;
        if (x->kind == 'T')
            attach_unavailable(x->reply_to, x->tag, x->cid,
                               "the container monitor went away before it answered");
        berth_free(x->cid);
        berth_free(x);
    }
    l->expect_tail = &l->expect;
}

static const char *spec_str(json_t *spec, const char *k)
{
    const char *v = json_string_value(json_object_get(spec, k));
    return v ? v : "";
}

/* Sends one request on the link's connection; its answer is expected in
 * order (the returned record; NULL when nothing was sent). A failure means
 * the monitor is gone: the connection's EOF handles that. */
static expect_t *link_request(link_t *l, json_t *req, int kind, const char *cid, const int *fds,
                              size_t nfds)
{
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    expect_t *x = NULL;
    if (l->conn < 0 || s == NULL) {
        berth_free(s);
        return NULL;
    }
    if (berth_mon_send(l->conn, s, strlen(s), fds, nfds, MSG_DONTWAIT) < 0)
        berth_log_warn("monitor request failed", "kind=%c cid=%s error=\"%s\"", kind,
                       cid ? cid : "", strerror(errno));
    else
        x = expect_push(l, kind, cid);
    berth_free(s);
    return x;
}

static void link_arm(berth_actor_t *self, link_t *l)
{
    if (l->conn < 0 || l->conn_pending)
        return;
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_poll_add(sqe, l->conn, POLLIN | POLLRDHUP);
    if (l->conn_op == NULL)
        l->conn_op = berth_calloc(1, sizeof(berth_op_t));
    l->conn_op->tag = l->gen;
    berth_ring_submit(self, sqe, l->conn_op);
    l->conn_pending = true;
}

/* Closes the connection. A poll still in flight keeps its op, which its
 * CQE frees (ops belong to the kernel until their last completion). */
static void link_close(berth_actor_t *self, link_t *l)
{
    if (l->conn_pending) {
        berth_ring_cancel(self, l->conn_op);
        l->conn_op = NULL;
        l->conn_pending = false;
    }
    close(l->conn);
    l->conn = -1;
}

/* A non-blocking connect: a unix socket's connect completes at once or
 * fails (EAGAIN when the backlog is full), so no actor turn waits on it. */
static int connect_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Binds the socket and starts berth-monitor with it as fd 3: a connect
 * right after this queues in the backlog until the monitor accepts. */
static int monitor_spawn(link_t *l, berth_handle_t self_h, berth_err_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(l->sock) >= sizeof(sa.sun_path))
        return berth_err_make(err, ENAMETOOLONG, BERTH_ERR_INVALID,
                              "monitor socket path %s is too long", l->sock);
    strcpy(sa.sun_path, l->sock);
    unlink(l->sock);
    BERTH_AUTO_CLOSE int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 512) < 0)
        return berth_err_errno(err, errno, "monitor socket %s", l->sock);
    BERTH_AUTO_CLOSE int logfd =
            open(l->logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    char *argv[] = {l->binary, "--listen-fd", "3", "--pidfile", l->pidfile, NULL};
    char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    berth_proc_fd_t fds[] = {{.fd = lfd, .child_fd = 3}};
    berth_proc_spec_t ps = {
            .argv = argv,
            .envp = envp,
            .stdout_mode = logfd >= 0 ? BERTH_PROC_FD : BERTH_PROC_NULL,
            .stdout_fd = logfd,
            .stderr_mode = logfd >= 0 ? BERTH_PROC_FD : BERTH_PROC_NULL,
            .stderr_fd = logfd,
            .fds = fds,
            .nfds = 1,
            .new_session = true,
    };
    pid_t pid = 0;
    if (berth_proc_run(self_h, &ps, l->gen, &l->proc, &pid, err) < 0)
        return berth_err_prefix(err, "starting %s", l->binary);
    l->monitor_pid = pid;
    l->started_ns = berth_now_ns();
    l->conn = connect_socket(l->sock);
    if (l->conn < 0)
        return berth_err_errno(err, errno, "connecting to the new monitor at %s", l->sock);
    berth_log_info("container monitor started", "pid=%d socket=%s", (int)pid, l->sock);
    return 0;
}

static void adopt_all(link_t *l)
{
    for (entry_t *e = l->entries; e != NULL; e = e->next) {
        json_t *req = json_deep_copy(e->spec);
        json_object_set_new(req, "op", json_string("adopt"));
        json_object_set_new(req, "pid", json_integer(e->pid));
        json_object_set_new(req, "cgroup", json_string(e->cgroup ? e->cgroup : ""));
        json_object_set_new(req, "exited", json_boolean(e->exited));
        json_object_set(req, "fds", e->names ? e->names : json_array());
        link_request(l, req, 'A', e->cid, e->fds, e->nfds);
    }
}

static void link_start_monitor(berth_actor_t *self, link_t *l)
{
    l->restart_scheduled = false;
    l->gen++;
    berth_err_t err = NULL;
    if (monitor_spawn(l, berth_actor_self(self), &err) < 0) {
        berth_log_error("cannot start the container monitor", "error=\"%s\" retry_ms=%llu",
                        err->msg, (unsigned long long)(RESTART_BACKOFF_NS / 1000000ull));
        berth_err_free(&err);
        l->restart_scheduled = true;
        berth_timer_after(self, RESTART_BACKOFF_NS,
                          berth_msg_new(MSG_RESTART, sizeof(berth_msg_t)));
        return;
    }
    adopt_all(l);
    link_arm(self, l);
}

/* ---- a dead monitor: survey and reap its orphans, start the next ------------------- */

static void survey_free(berth_msg_t *m)
{
    survey_msg_t *s = (survey_msg_t *)m;
    for (size_t i = 0; i < s->n; i++) {
        berth_free(s->cids[i]);
        berth_free(s->exit_dirs[i]);
        berth_free(s->persist_dirs[i]);
        if (s->pidfds[i] >= 0)
            close(s->pidfds[i]);
    }
    berth_free(s->cids);
    berth_free(s->exit_dirs);
    berth_free(s->persist_dirs);
    berth_free(s->pids);
    berth_free(s->exited);
    berth_free(s->pidfds);
    berth_free(s->ours);
    berth_free(s);
}

static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    BERTH_AUTO_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses */
    char *rp = strrchr(buf, ')');
    int ppid = -1;
    if (rp == NULL || sscanf(rp + 1, " %*c %d", &ppid) != 1)
        return -1;
    return ppid;
}

/* On the pool: which containers had already exited (their exit file is
 * there: the monitor reaped them), and a pidfd for the others, with
 * whether berthd is now their parent. */
static void survey_job(void *arg)
{
    survey_msg_t *s = arg;
    for (size_t i = 0; i < s->n; i++) {
        s->pidfds[i] = -1;
        BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", s->exit_dirs[i], s->cids[i]);
        if (access(path, F_OK) == 0 || s->pids[i] <= 0) {
            s->exited[i] = true;
            continue;
        }
        s->pidfds[i] = pidfd_open(s->pids[i], 0);
        s->ours[i] = parent_of(s->pids[i]) == getpid();
    }
}

static void link_monitor_gone(berth_actor_t *self, link_t *l, const char *why)
{
    if (l->conn < 0 && l->restart_scheduled)
        return;
    if (l->conn >= 0) {
        link_close(self, l);
        expect_clear(l);
    }
    /* The worker died, its keeper holds the socket and starts the next one,
     * which takes the containers over: reconnect (the connect waits in the
     * backlog) and take stock. Only when nobody holds the socket any more
     * is the monitor gone. */
    if (!l->stopping) {
        int fd = connect_socket(l->sock);
        if (fd >= 0) {
            l->conn = fd;
            l->gen++;
            berth_log_info("container monitor worker restarted by its keeper: reconnected",
                           "old_pid=%d reason=\"%s\"", (int)l->monitor_pid, why);
            link_request(l, json_pack("{ss}", "op", "list"), 'L', NULL, NULL, 0);
            link_arm(self, l);
            return;
        }
    }
    size_t n = 0;
    for (entry_t *e = l->entries; e != NULL; e = e->next)
        n++;
    berth_log_warn("container monitor gone", "pid=%d reason=\"%s\" containers=%zu",
                   (int)l->monitor_pid, why, n);
    if (l->conn >= 0) {
        link_close(self, l);
    }
    expect_clear(l);
    l->monitor_pid = 0;
    survey_msg_t *s = berth_msg_new(MSG_SURVEY_DONE, sizeof(*s));
    s->hdr.free = survey_free;
    s->n = n;
    s->cids = berth_calloc(n + 1, sizeof(char *));
    s->exit_dirs = berth_calloc(n + 1, sizeof(char *));
    s->persist_dirs = berth_calloc(n + 1, sizeof(char *));
    s->pids = berth_calloc(n + 1, sizeof(pid_t));
    s->exited = berth_calloc(n + 1, sizeof(bool));
    s->pidfds = berth_calloc(n + 1, sizeof(int));
    s->ours = berth_calloc(n + 1, sizeof(bool));
    size_t i = 0;
    for (entry_t *e = l->entries; e != NULL; e = e->next, i++) {
        s->cids[i] = berth_strdup(e->cid);
        s->exit_dirs[i] = berth_strdup(spec_str(e->spec, "exit_dir"));
        s->persist_dirs[i] = berth_strdup(spec_str(e->spec, "persist_dir"));
        s->pids[i] = e->exited || e->pidfd >= 0 ? 0 : e->pid;
        s->pidfds[i] = -1;
    }
    berth_blocking_run(survey_job, s, berth_actor_self(self), &s->hdr);
    if (l->stopping)
        return;
    /* A monitor that dies at once would die again: wait a second. */
    if (berth_now_ns() - l->started_ns < RESTART_BACKOFF_NS) {
        l->restart_scheduled = true;
        berth_timer_after(self, RESTART_BACKOFF_NS,
                          berth_msg_new(MSG_RESTART, sizeof(berth_msg_t)));
        return;
    }
    link_start_monitor(self, l);
}

static void record_free(berth_msg_t *m)
{
    record_msg_t *r = (record_msg_t *)m;
    berth_free(r->cid);
    berth_free(r->exit_dir);
    berth_free(r->persist_dir);
    berth_free(r->cgroup);
    berth_free(r);
}

static void record_job(void *arg)
{
    record_msg_t *r = arg;
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", r->exit_dir, r->cid);
    if (access(path, F_OK) == 0)
        return; /* the monitor wrote it before it died */
    const char *what = NULL;
    if (berth_mon_record_exit(r->exit_dir, r->persist_dir, r->cid, r->code, r->cgroup, &what) < 0)
        berth_log_error("cannot record a container exit", "id=%s file=%s error=\"%s\"", r->cid,
                        what, strerror(errno));
}

static void entry_record(berth_actor_t *self, entry_t *e, int code)
{
    e->exited = true;
    if (e->pidfd >= 0) {
        close(e->pidfd);
        e->pidfd = -1;
    }
    record_msg_t *r = berth_msg_new(MSG_EXIT_RECORDED, sizeof(*r));
    r->hdr.free = record_free;
    r->cid = berth_strdup(e->cid);
    r->exit_dir = berth_strdup(spec_str(e->spec, "exit_dir"));
    r->persist_dir = berth_strdup(spec_str(e->spec, "persist_dir"));
    r->cgroup = e->cgroup ? berth_strdup(e->cgroup) : NULL;
    r->code = code;
    berth_blocking_run(record_job, r, berth_actor_self(self), &r->hdr);
}

static void entry_wait(berth_actor_t *self, entry_t *e)
{
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_poll_add(sqe, e->pidfd, POLLIN);
    e->op.ctx = e;
    berth_ring_submit(self, sqe, &e->op);
    e->op_pending = true;
}

static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;
static berth_metric_family_t *f_stopped_monitor;

static void metrics_init(void)
{
    static const char *const labels[] = {"name", NULL};
    f_stopped_monitor = berth_metrics_family(&(berth_metric_desc_t){
            .type = BERTH_METRIC_COUNTER,
            .name = "container_runtime_crio_containers_stopped_monitor_count",
            .help = "Amount of containers whose monitor process has exited by their name (the "
                    "container ID).",
            .labels = labels,
    });
}

void berth_monitor_metrics_init(void)
{
    pthread_once(&metrics_once, metrics_init);
}

static void on_survey(berth_actor_t *self, link_t *l, survey_msg_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        entry_t *e = link_find(l, s->cids[i]);
        if (e == NULL || e->exited || e->pidfd >= 0)
            continue;
        if (s->exited[i]) {
            e->exited = true;
            continue;
        }
        if (s->pidfds[i] < 0) {
            berth_log_warn("container exit status lost", "id=%s pid=%d reason=\"%s\"", e->cid,
                           (int)e->pid, "gone before berthd could adopt it");
            entry_record(self, e, LOST_EXIT_CODE);
            continue;
        }
        e->pidfd = s->pidfds[i];
        s->pidfds[i] = -1;
        e->ours = s->ours[i];
        /* Its monitor is gone and it runs: CRI-O's stopped-monitor count
         * (a rare event: the series lookup may take the registry's mutex). */
        berth_monitor_metrics_init();
        berth_metric_inc(berth_metrics_series1(f_stopped_monitor, e->cid));
        if (!e->ours)
            berth_log_warn("orphaned container is not berthd's child",
                           "id=%s pid=%d note=\"its exit code will be unknown (%d): the monitor "
                           "that died was started by an earlier berthd\"",
                           e->cid, (int)e->pid, LOST_EXIT_CODE);
        entry_wait(self, e);
    }
}

static void on_orphan_exit(berth_actor_t *self, link_t *l, entry_t *e)
{
    (void)l;
    int code = LOST_EXIT_CODE;
    if (e->ours) {
        memset(&e->si, 0, sizeof(e->si));
        if (waitid(P_PIDFD, (id_t)e->pidfd, &e->si, WEXITED | WNOHANG) < 0) {
            berth_log_warn("waitid on an orphaned container failed", "id=%s error=\"%s\"", e->cid,
                           strerror(errno));
        } else if (e->si.si_pid == 0) {
            entry_wait(self, e); /* not yet: poll again */
            return;
        } else {
            code = e->si.si_code == CLD_EXITED ? e->si.si_status : 128 + e->si.si_status;
        }
    }
    berth_log_info("orphaned container exited", "id=%s pid=%d exit_code=%d", e->cid, (int)e->pid,
                   code);
    entry_record(self, e, code);
}

/* ---- the connection ----------------------------------------------------------- */

static void take_fds(entry_t *e, json_t *names, int *fds, size_t nfds)
{
    for (size_t i = 0; i < e->nfds; i++)
        close(e->fds[i]);
    memcpy(e->fds, fds, nfds * sizeof(int));
    e->nfds = nfds;
    json_decref(e->names);
    e->names = json_incref(names);
}

/* The entry's descriptor named name ("pty", "in"...), or -1. */
static int entry_fd(const entry_t *e, const char *name)
{
    for (size_t i = 0; i < e->nfds; i++) {
        const char *n = json_string_value(json_array_get(e->names, i));
        if (n != NULL && strcmp(n, name) == 0)
            return e->fds[i];
    }
    return -1;
}

/* Closes the entry's descriptor named name, if it has one. */
static void entry_drop_fd(entry_t *e, const char *name)
{
    json_t *names = json_array();
    size_t k = 0;
    for (size_t i = 0; i < e->nfds; i++) {
        json_t *n = json_array_get(e->names, i);
        if (n != NULL && strcmp(json_string_value(n) ? json_string_value(n) : "", name) == 0) {
            close(e->fds[i]);
            continue;
        }
        json_array_append(names, n ? n : json_null());
        e->fds[k++] = e->fds[i];
    }
    e->nfds = k;
    json_decref(e->names);
    e->names = names;
}

/* The monitor's answer to an attach: the channel, or why not. */
static void on_attach_answer(link_t *l, expect_t *x, json_t *j, int *fds, size_t nfds)
{
    if (json_is_true(json_object_get(j, "ok")) && nfds >= 1) {
        /* With stdin_once the end of this channel closes the container's
         * stdin; the pipe reads EOF only once every write end is closed,
         * berthd's copy too. The channel is handed over after this, so the
         * monitor cannot close its own first. */
        entry_t *e = link_find(l, x->cid);
        if (e != NULL && json_is_true(json_object_get(e->spec, "stdin_once")))
            entry_drop_fd(e, "in");
        attached_reply(x->reply_to, x->tag, fds[0], NULL);
        fds[0] = -1;
        return;
    }
    const char *error = json_string_value(json_object_get(j, "error"));
    const char *reason = json_string_value(json_object_get(j, "reason"));
    int kind = BERTH_ERR_UNKNOWN, errnum = EIO;
    if (reason != NULL && strcmp(reason, "not_found") == 0) {
        kind = BERTH_ERR_NOT_FOUND;
        errnum = ENOENT;
    } else if (reason != NULL && strcmp(reason, "not_running") == 0) {
        kind = BERTH_ERR_PRECONDITION;
        errnum = ESRCH;
    }
    berth_err_t e = NULL;
    berth_err_make(&e, errnum, kind, "attach to container %s: %s", x->cid,
                   error ? error : "the container monitor sent no channel");
    attached_reply(x->reply_to, x->tag, -1, e);
}

static void on_answer(berth_actor_t *self, link_t *l, json_t *j, int *fds, size_t nfds)
{
    expect_t *x = l->expect;
    if (x == NULL) {
        berth_log_warn("unexpected answer from the container monitor", "fds=%zu", nfds);
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        return;
    }
    l->expect = x->next;
    if (l->expect == NULL)
        l->expect_tail = &l->expect;
    bool ok = json_is_true(json_object_get(j, "ok"));
    const char *error = json_string_value(json_object_get(j, "error"));
    if (x->kind == 'T')
        on_attach_answer(l, x, j, fds, nfds);
    else if (!ok)
        berth_log_warn("the container monitor refused a request", "kind=%c id=%s error=\"%s\"",
                       x->kind, x->cid ? x->cid : "", error ? error : "?");
    if (ok && x->kind == 'L') {
        json_t *a = json_object_get(j, "containers");
        size_t i;
        json_t *c;
        json_array_foreach(a, i, c)
        {
            const char *cid = json_string_value(json_object_get(c, "cid"));
            if (cid != NULL && link_find(l, cid) == NULL)
                link_request(l, json_pack("{ssss}", "op", "fds", "cid", cid), 'F', cid, NULL, 0);
        }
        json_int_t mpid = json_integer_value(json_object_get(j, "monitor_pid"));
        l->monitor_pid = (pid_t)mpid;
        berth_log_info("container monitor reached", "pid=%d containers=%zu", (int)mpid,
                       json_array_size(a));
    } else if (ok && x->kind == 'F' && link_find(l, x->cid) == NULL) {
        entry_t *e = entry_new(x->cid);
        e->spec = json_incref(json_object_get(j, "spec"));
        if (e->spec == NULL)
            e->spec = json_object();
        e->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
        const char *cg = json_string_value(json_object_get(j, "cgroup"));
        e->cgroup = cg && cg[0] ? berth_strdup(cg) : NULL;
        e->exited = json_is_true(json_object_get(j, "exited"));
        take_fds(e, json_object_get(j, "fds"), fds, nfds);
        nfds = 0;
        e->next = l->entries;
        l->entries = e;
    }
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    berth_free(x->cid);
    berth_free(x);
    (void)self;
}

static void on_conn(berth_actor_t *self, link_t *l, berth_cqe_msg_t *m)
{
    if (m->op != l->conn_op) {
        berth_free(m->op); /* the poll of a closed connection */
        return;
    }
    l->conn_pending = false;
    if (l->conn < 0)
        return;
    for (;;) {
        int fds[BERTH_MON_FDS_MAX];
        size_t nfds = 0;
        long n = berth_mon_recv(l->conn, l->buf, sizeof(l->buf), fds, &nfds, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) {
            link_monitor_gone(self, l, n == 0 ? "connection closed" : strerror(errno));
            return;
        }
        json_t *j = json_loadb(l->buf, (size_t)n, 0, NULL);
        on_answer(self, l, j, fds, nfds);
        json_decref(j);
    }
    link_arm(self, l);
}

/* ---- the link actor ------------------------------------------------------------ */

static void register_free(berth_msg_t *m)
{
    register_msg_t *r = (register_msg_t *)m;
    entry_free(r->e);
    berth_free(r);
}

static void name_free(berth_msg_t *m)
{
    name_msg_t *n = (name_msg_t *)m;
    berth_free(n->cid);
    berth_free(n);
}

static void attach_msg_free(berth_msg_t *m)
{
    attach_msg_t *a = (attach_msg_t *)m;
    berth_free(a->cid);
    berth_free(a);
}

static void resize_msg_free(berth_msg_t *m)
{
    resize_msg_t *r = (resize_msg_t *)m;
    berth_free(r->cid);
    berth_free(r);
}

static void link_on_attach(link_t *l, attach_msg_t *a)
{
    if (l->stopping || l->conn < 0) {
        attach_unavailable(a->reply_to, a->tag, a->cid,
                           l->stopping ? "berthd is stopping"
                                       : "the container monitor is being restarted");
        return;
    }
    expect_t *x = link_request(l, json_pack("{ssss}", "op", "attach", "cid", a->cid), 'T', a->cid,
                               NULL, 0);
    if (x == NULL) {
        attach_unavailable(a->reply_to, a->tag, a->cid,
                           "the request could not be sent to the container monitor");
        return;
    }
    x->reply_to = a->reply_to;
    x->tag = a->tag;
}

static void link_on_resize(link_t *l, resize_msg_t *r)
{
    entry_t *e = link_find(l, r->cid);
    int pty = e != NULL ? entry_fd(e, "pty") : -1;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (pty < 0)
        berth_log_warn("terminal resize refused", "id=%s reason=\"%s\"", r->cid,
                       e == NULL ? "no such container" : "the container has no terminal");
    else if (berth_monitor_tty_resize(pty, r->height, r->width, &err) < 0)
        berth_log_warn("terminal resize failed", "id=%s error=\"%s\"", r->cid, err->msg);
}

static void link_receive(berth_actor_t *self, berth_msg_t *msg)
{
    link_t *l = berth_actor_state(self);
    switch (msg->type) {
    case MSG_START_MONITOR:
        if (l->conn >= 0) {
            /* A monitor from an earlier berthd: take our copies back. */
            link_request(l, json_pack("{ss}", "op", "list"), 'L', NULL, NULL, 0);
            link_arm(self, l);
        } else {
            link_start_monitor(self, l);
        }
        break;
    case MSG_REGISTER: {
        register_msg_t *r = (register_msg_t *)msg;
        entry_t *old = link_find(l, r->e->cid);
        if (old != NULL) {
            link_unlink(l, old);
            entry_free(old);
        }
        r->e->next = l->entries;
        l->entries = r->e;
        r->e = NULL;
        break;
    }
    case MSG_FORGET: {
        name_msg_t *n = (name_msg_t *)msg;
        entry_t *e = link_find(l, n->cid);
        if (e != NULL) {
            link_unlink(l, e);
            if (e->op_pending) {
                /* The poll holds the pidfd: keep the entry until it ends. */
                e->cid[0] = '\0';
                berth_ring_cancel(self, &e->op);
                e->next = NULL;
            } else {
                entry_free(e);
            }
        }
        link_request(l, json_pack("{ssss}", "op", "forget", "cid", n->cid), 'G', n->cid, NULL, 0);
        break;
    }
    case MSG_ATTACH:
        link_on_attach(l, (attach_msg_t *)msg);
        break;
    case MSG_RESIZE:
        link_on_resize(l, (resize_msg_t *)msg);
        break;
    case MSG_STOP:
        l->stopping = true;
        for (entry_t *e = l->entries; e != NULL; e = e->next)
            if (e->op_pending)
                berth_ring_cancel(self, &e->op);
        if (l->conn >= 0) {
            link_close(self, l);
        }
        break;
    case MSG_RESTART:
        if (!l->stopping)
            link_start_monitor(self, l);
        break;
    case MSG_SURVEY_DONE:
        on_survey(self, l, (survey_msg_t *)msg);
        break;
    case MSG_EXIT_RECORDED:
        break;
    case BERTH_MSG_PROC_EXIT: {
        /* The keeper berthd started. Its worker (berthd's child now, as
         * berthd is a subreaper) goes on; the worker's own death, seen on
         * the connection, is what needs action. */
        berth_proc_exit_msg_t *p = (berth_proc_exit_msg_t *)msg;
        if (!l->stopping)
            berth_log_warn("container monitor keeper gone",
                           "reason=\"%s %d\" note=\"the worker goes on; if it dies too, berthd "
                           "starts a new monitor and reaps its containers\"",
                           p->code == CLD_EXITED ? "exited" : "killed by", p->status);
        break;
    }
    case BERTH_MSG_CQE: {
        berth_cqe_msg_t *m = (berth_cqe_msg_t *)msg;
        if (m->op->ctx == NULL) {
            on_conn(self, l, m);
        } else {
            entry_t *e = m->op->ctx;
            if (e->cid[0] == '\0') {
                entry_free(e); /* forgotten while its poll ran */
            } else {
                e->op_pending = false;
                if (!l->stopping)
                    on_orphan_exit(self, l, e);
            }
        }
        break;
    }
    default:
        break;
    }
    berth_msg_free(msg);
    if (l->stopping && !l->conn_pending) {
        bool busy = false;
        for (entry_t *e = l->entries; e != NULL; e = e->next)
            busy |= e->op_pending;
        if (!busy)
            berth_actor_exit(self);
    }
}

static void link_fini(void *p)
{
    link_t *l = p;
    while (l->entries != NULL) {
        entry_t *e = l->entries;
        l->entries = e->next;
        entry_free(e);
    }
    expect_clear(l);
    if (l->conn >= 0)
        close(l->conn);
    if (!l->conn_pending)
        berth_free(l->conn_op);
    berth_free(l->dir);
    berth_free(l->binary);
    berth_free(l->sock);
    berth_free(l->pidfile);
    berth_free(l->logfile);
    berth_free(l);
}

static const berth_actor_class_t link_class = {
        .name = "monitor-link", .receive = link_receive, .fini = link_fini};

berth_handle_t berth_monitor_link_new(const berth_monitor_conf_t *conf, berth_err_t *err)
{
    if (conf->binary == NULL || conf->dir == NULL) {
        berth_err_make(err, EINVAL, BERTH_ERR_INTERNAL, "monitor: binary and dir are required");
        return BERTH_HANDLE_NONE;
    }
    if (access(conf->binary, X_OK) < 0) {
        berth_err_make(err, errno, BERTH_ERR_PRECONDITION,
                       "container monitor %s cannot be run: %s (set berth_monitor in the "
                       "configuration, or container_monitor = \"conmon\")",
                       conf->binary, strerror(errno));
        return BERTH_HANDLE_NONE;
    }
    if (mkdir(conf->dir, 0700) < 0 && errno != EEXIST) {
        berth_err_errno(err, errno, "monitor directory %s", conf->dir);
        return BERTH_HANDLE_NONE;
    }
    /* Orphans of a dead monitor come to berthd, which reaps them through
     * pidfds (io/spawn.h's rule: never wait(-1)). */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        berth_err_errno(err, errno, "prctl(PR_SET_CHILD_SUBREAPER)");
        return BERTH_HANDLE_NONE;
    }
    link_t *l = berth_calloc(1, sizeof(*l));
    l->dir = berth_strdup(conf->dir);
    l->binary = berth_strdup(conf->binary);
    l->sock = berth_asprintf("%s/monitor.sock", conf->dir);
    l->pidfile = berth_asprintf("%s/monitor.pid", conf->dir);
    l->logfile = berth_asprintf("%s/monitor.log", conf->dir);
    l->expect_tail = &l->expect;
    l->conn = connect_socket(l->sock);
    berth_free(g_socket);
    g_socket = berth_strdup(l->sock);
    berth_handle_t h = berth_actor_spawn(&link_class, l);
    berth_send(h, berth_msg_new(MSG_START_MONITOR, sizeof(berth_msg_t)));
    return h;
}

void berth_monitor_forget(berth_handle_t link, const char *cid)
{
    name_msg_t *n = berth_msg_new(MSG_FORGET, sizeof(*n));
    n->hdr.free = name_free;
    n->cid = berth_strdup(cid);
    berth_send(link, &n->hdr);
}

void berth_monitor_link_stop(berth_handle_t link)
{
    berth_send(link, berth_msg_new(MSG_STOP, sizeof(berth_msg_t)));
}

int berth_monitor_attach(berth_handle_t link, const char *cid, berth_handle_t reply_to,
                         uint64_t tag, berth_err_t *err)
{
    attach_msg_t *a = berth_msg_new(MSG_ATTACH, sizeof(*a));
    a->hdr.free = attach_msg_free;
    a->cid = berth_strdup(cid);
    a->reply_to = reply_to;
    a->tag = tag;
    if (berth_send(link, &a->hdr) < 0)
        return berth_err_make(err, ENOTCONN, BERTH_ERR_UNAVAILABLE,
                              "attach to container %s: no container monitor link", cid);
    return 0;
}

void berth_monitor_resize(berth_handle_t link, const char *cid, unsigned height, unsigned width)
{
    resize_msg_t *r = berth_msg_new(MSG_RESIZE, sizeof(*r));
    r->hdr.free = resize_msg_free;
    r->cid = berth_strdup(cid);
    r->height = height;
    r->width = width;
    berth_send(link, &r->hdr);
}

int berth_monitor_tty_resize(int pty, unsigned height, unsigned width, berth_err_t *err)
{
    if (height > USHRT_MAX || width > USHRT_MAX)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "terminal size %ux%u is larger than a terminal can be", height,
                              width);
    struct winsize ws = {.ws_row = (unsigned short)height, .ws_col = (unsigned short)width};
    if (ioctl(pty, TIOCSWINSZ, &ws) < 0)
        return berth_err_errno(err, errno, "resizing the terminal to %ux%u", height, width);
    return 0;
}

/* ---- create ---------------------------------------------------------------------- */

typedef struct mcreate {
    berth_handle_t owner, link;
    uint64_t tag;
    char *cid;
    char *req; /* the request text */
    json_t *spec;
    int fd;
    berth_op_t op;
    bool op_pending, replied;
    uint64_t deadline_ns;
    berth_timer_t *timer;
    char buf[BERTH_MON_MSG_MAX];
} mcreate_t;

static void mcreate_fini(void *p)
{
    mcreate_t *c = p;
    if (c->fd >= 0)
        close(c->fd);
    berth_free(c->cid);
    berth_free(c->req); /* json_dumps: jansson allocates with berth_malloc */
    json_decref(c->spec);
    berth_free(c);
}

static void created_free(berth_msg_t *m)
{
    berth_conmon_created_msg_t *c = (berth_conmon_created_msg_t *)m;
    berth_err_free(&c->error);
    berth_free(c);
}

static void mcreate_reply(berth_actor_t *self, mcreate_t *c, pid_t pid, berth_err_t error)
{
    if (c->replied) {
        berth_err_free(&error);
        return;
    }
    c->replied = true;
    if (c->timer != NULL) {
        berth_timer_cancel(self, c->timer);
        c->timer = NULL;
    }
    if (c->op_pending)
        berth_ring_cancel(self, &c->op);
    berth_conmon_created_msg_t *r =
            berth_msg_new(BERTH_MSG_CONMON_CREATED, sizeof(berth_conmon_created_msg_t));
    r->hdr.free = created_free;
    r->tag = c->tag;
    r->pid = pid;
    r->error = error;
    berth_send(c->owner, &r->hdr);
}

static void mcreate_fail(berth_actor_t *self, mcreate_t *c, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void mcreate_fail(berth_actor_t *self, mcreate_t *c, int errnum, const char *fmt, ...)
{
    berth_err_t e = NULL;
    va_list ap;
    va_start(ap, fmt);
    berth_err_makev(&e, errnum, errnum == ETIMEDOUT ? BERTH_ERR_TIMEOUT : BERTH_ERR_UNKNOWN, fmt,
                    ap);
    va_end(ap);
    mcreate_reply(self, c, 0, e);
}

static void mcreate_go(berth_actor_t *self, mcreate_t *c)
{
    c->fd = connect_socket(g_socket);
    if (c->fd < 0) {
        int e = errno;
        /* The link is starting the next monitor: the socket comes back. */
        if ((e == EAGAIN || e == ECONNREFUSED || e == ENOENT) &&
            berth_now_ns() + CONNECT_RETRY_NS < c->deadline_ns) {
            berth_timer_after(self, CONNECT_RETRY_NS,
                              berth_msg_new(MSG_CREATE_GO, sizeof(berth_msg_t)));
            return;
        }
        mcreate_fail(self, c, e,
                     "container create failed: cannot reach the container monitor at "
                     "%s: %s",
                     g_socket, strerror(e));
        return;
    }
    if (berth_mon_send(c->fd, c->req, strlen(c->req), NULL, 0, MSG_DONTWAIT) < 0) {
        mcreate_fail(self, c, errno,
                     "container create failed: sending to the container monitor: "
                     "%s",
                     strerror(errno));
        return;
    }
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_poll_add(sqe, c->fd, POLLIN | POLLRDHUP);
    berth_ring_submit(self, sqe, &c->op);
    c->op_pending = true;
}

static void mcreate_on_answer(berth_actor_t *self, mcreate_t *c)
{
    int fds[BERTH_MON_FDS_MAX];
    size_t nfds = 0;
    long n = berth_mon_recv(c->fd, c->buf, sizeof(c->buf), fds, &nfds, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        struct io_uring_sqe *sqe = berth_ring_sqe(self);
        io_uring_prep_poll_add(sqe, c->fd, POLLIN | POLLRDHUP);
        berth_ring_submit(self, sqe, &c->op);
        c->op_pending = true;
        return;
    }
    if (n <= 0) {
        mcreate_fail(self, c, EIO,
                     "container create failed: the container monitor went away during the "
                     "create (see %s's monitor.log)",
                     g_socket);
        return;
    }
    json_t *j = json_loadb(c->buf, (size_t)n, 0, NULL);
    if (!json_is_true(json_object_get(j, "ok"))) {
        const char *e = json_string_value(json_object_get(j, "error"));
        mcreate_fail(self, c, EIO, "%s", e ? e : "container create failed: no answer");
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        json_decref(j);
        return;
    }
    pid_t pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
    register_msg_t *r = berth_msg_new(MSG_REGISTER, sizeof(*r));
    r->hdr.free = register_free;
    r->e = entry_new(c->cid);
    r->e->spec = json_incref(c->spec);
    r->e->pid = pid;
    const char *cg = json_string_value(json_object_get(j, "cgroup"));
    r->e->cgroup = cg && cg[0] ? berth_strdup(cg) : NULL;
    take_fds(r->e, json_object_get(j, "fds"), fds, nfds);
    json_decref(j);
    /* The link first: a monitor that dies right after this answer must
     * find the container's pipes there. */
    berth_send(c->link, &r->hdr);
    mcreate_reply(self, c, pid, NULL);
}

static void mcreate_receive(berth_actor_t *self, berth_msg_t *msg)
{
    mcreate_t *c = berth_actor_state(self);
    switch (msg->type) {
    case MSG_CREATE_GO:
        if (!c->replied) {
            if (c->timer == NULL)
                c->timer =
                        berth_timer_after(self, c->deadline_ns - berth_now_ns(),
                                          berth_msg_new(MSG_CREATE_TIMEOUT, sizeof(berth_msg_t)));
            mcreate_go(self, c);
        }
        break;
    case MSG_CREATE_TIMEOUT:
        c->timer = NULL;
        mcreate_fail(self, c, ETIMEDOUT,
                     "the container monitor did not report the container pid within %llu s",
                     (unsigned long long)(CREATE_TIMEOUT_NS / 1000000000ull));
        break;
    case BERTH_MSG_CQE:
        c->op_pending = false;
        if (!c->replied)
            mcreate_on_answer(self, c);
        break;
    default:
        break;
    }
    berth_msg_free(msg);
    if (c->replied && !c->op_pending)
        berth_actor_exit(self);
}

static const berth_actor_class_t mcreate_class = {
        .name = "monitor-create", .receive = mcreate_receive, .fini = mcreate_fini};

int berth_monitor_create(berth_handle_t link, berth_handle_t owner, const berth_conmon_spec_t *s,
                         uint64_t tag, berth_err_t *err)
{
    if (g_socket == NULL || !berth_handle_valid(link))
        return berth_err_make(err, ENOTCONN, BERTH_ERR_INTERNAL,
                              "container create: no container monitor link");
    if (s->cid == NULL || s->bundle == NULL || s->runtime.path == NULL || s->exit_dir == NULL ||
        s->persist_dir == NULL || s->log_path == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INTERNAL,
                              "monitor create: cid, bundle, runtime, exit dir, persist dir and "
                              "log path are required");
    BERTH_AUTO_FREE char *pidfile =
            s->pidfile ? berth_strdup(s->pidfile) : berth_asprintf("%s/pidfile", s->persist_dir);
    json_t *spec = json_pack("{ss ss ss ss ss ss ss ss sI sb sb sb}", "cid", s->cid, "bundle",
                             s->bundle, "runtime", s->runtime.path, "runtime_root",
                             s->runtime.root ? s->runtime.root : "", "log_path", s->log_path,
                             "exit_dir", s->exit_dir, "persist_dir", s->persist_dir, "pidfile",
                             pidfile, "log_size_max", (json_int_t)s->log_size_max, "terminal",
                             s->terminal, "stdin", s->stdin_open, "stdin_once", s->stdin_once);
    if (spec == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "container create: a path is not valid UTF-8");
    json_t *req = json_deep_copy(spec);
    json_object_set_new(req, "op", json_string("create"));
    if (s->restore_image_path) {
        json_object_set_new(req, "restore_image_path", json_string(s->restore_image_path));
        if (s->restore_work_path)
            json_object_set_new(req, "restore_work_path", json_string(s->restore_work_path));
        if (s->criu)
            json_object_set_new(req, "criu", json_string(s->criu));
    }
    mcreate_t *c = berth_calloc(1, sizeof(*c));
    c->owner = owner;
    c->link = link;
    c->tag = tag;
    c->cid = berth_strdup(s->cid);
    c->req = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    c->spec = spec;
    c->fd = -1;
    c->deadline_ns = berth_now_ns() + (s->timeout_ns ? s->timeout_ns : CREATE_TIMEOUT_NS);
    berth_handle_t h = berth_actor_spawn(&mcreate_class, c);
    berth_send(h, berth_msg_new(MSG_CREATE_GO, sizeof(berth_msg_t)));
    return 0;
}
