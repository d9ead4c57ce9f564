/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process runs: posix_spawn + pidfd_open in the caller's turn, then one
 * process actor per child that owns the exit wait, the pipe reads and the
 * stdin writes on its worker's ring and mails a single exit message.
 *
 * This file must never wait for a child with a blocking call, never run code
 * between fork and exec (glibc's posix_spawn uses CLONE_VM|CLONE_VFORK and
 * only file actions run in the child), and never free a buffer while an op
 * that uses it is in flight: the actor exits only after every op completed.
 */
#include "io/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/ring.h"

#define DEFAULT_MAX_OUTPUT (1u << 20)
#define DEFAULT_EOF_GRACE_NS (2ull * 1000 * 1000 * 1000)
#define READ_CHUNK 16384u

extern char **environ;

/* Set by tests; read when a run starts. Relaxed suffices: it is a plain
 * configuration flag with no data published through it. */
static atomic_bool force_poll;

void berth_proc_force_poll_wait(bool on)
{
    atomic_store_explicit(&force_poll, on, memory_order_relaxed);
}

static bool use_poll_wait(void)
{
    if (atomic_load_explicit(&force_poll, memory_order_relaxed))
        return true;
    const char *e = getenv("BERTH_SPAWN_NO_WAITID");
    if (e != NULL && e[0] == '1')
        return true;
    return !berth_ring_has_waitid();
}

static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;

static void ignore_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the process actor ------------------------------------------------ */

struct stream {
    int fd; /* -1 once closed or when not captured */
    berth_op_t op;
    bool busy;
    uint8_t *buf;
    size_t len, cap, max;
    bool truncated;
    uint8_t *discard; /* reads past max land here */
};

enum { TIMER_TIMEOUT = 1, TIMER_GRACE = 2 };

typedef struct proc_timer_msg {
    berth_msg_t hdr;
    int kind;
} proc_timer_msg_t;

typedef struct proc_kill_msg {
    berth_msg_t hdr;
    int sig;
} proc_kill_msg_t;

typedef struct proc {
    berth_handle_t reply_to;
    uint64_t tag;
    pid_t pid;
    int pidfd;
    bool group_kill; /* the child leads its own process group */
    uint64_t t0, t_exit;

    berth_op_t wait_op;
    bool wait_busy, poll_mode, exited;
    int wait_error;
    siginfo_t si; /* the kernel writes here while wait_op is in flight */

    struct stream out, err;

    int in_fd;
    berth_op_t in_op;
    bool in_busy;
    uint8_t *in_data;
    size_t in_len, in_off;
    int in_error;

    uint64_t timeout_ns, grace_ns;
    /* Real CLOCK_MONOTONIC deadlines: the deterministic engine's virtual
     * clock may jump while the child still runs, so a timer that fires early
     * is re-armed for what is left. */
    uint64_t timeout_at, grace_at;
    berth_timer_t *timeout_timer, *grace_timer;
    bool timed_out, pipes_open, draining, done;
} proc_t;

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void submit_wait(berth_actor_t *self, proc_t *p)
{
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    if (p->poll_mode)
        io_uring_prep_poll_add(sqe, p->pidfd, POLLIN);
    else
        berth_ring_prep_waitid(sqe, P_PIDFD, p->pidfd, &p->si, WEXITED);
    berth_ring_submit(self, sqe, &p->wait_op);
    p->wait_busy = true;
}

static void submit_read(berth_actor_t *self, struct stream *s)
{
    uint8_t *dst;
    size_t n;
    if (s->len < s->max) {
        if (s->cap - s->len < READ_CHUNK && s->cap < s->max) {
            size_t ncap = s->cap ? s->cap * 2 : READ_CHUNK;
            while (ncap - s->len < READ_CHUNK && ncap < s->max)
                ncap *= 2;
            if (ncap > s->max)
                ncap = s->max;
            s->buf = berth_realloc(s->buf, ncap + 1);
            s->cap = ncap;
        }
        dst = s->buf + s->len;
        n = s->cap - s->len;
    } else {
        if (s->discard == NULL)
            s->discard = berth_malloc(READ_CHUNK);
        dst = s->discard;
        n = READ_CHUNK;
    }
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_read(sqe, s->fd, dst, (unsigned)n, (uint64_t)-1);
    berth_ring_submit(self, sqe, &s->op);
    s->busy = true;
}

static void submit_write(berth_actor_t *self, proc_t *p)
{
    size_t n = p->in_len - p->in_off;
    if (n > (1u << 30))
        n = 1u << 30;
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_write(sqe, p->in_fd, p->in_data + p->in_off, (unsigned)n, (uint64_t)-1);
    berth_ring_submit(self, sqe, &p->in_op);
    p->in_busy = true;
}

static berth_timer_t *arm_timer(berth_actor_t *self, int kind, uint64_t at)
{
    uint64_t now = mono_ns();
    proc_timer_msg_t *t = berth_msg_new(BERTH_MSG_PROC_TIMER, sizeof *t);
    t->kind = kind;
    return berth_timer_after(self, at > now ? at - now : 0, &t->hdr);
}

static void exit_msg_free(berth_msg_t *m)
{
    berth_proc_exit_msg_t *e = (berth_proc_exit_msg_t *)m;
    berth_free(e->out);
    berth_free(e->err);
    berth_free(e);
}

static uint8_t *steal_output(struct stream *s, size_t *len, bool *truncated)
{
    uint8_t *b = s->buf ? s->buf : berth_malloc(1);
    b[s->len] = 0; /* cap always leaves room for the terminator */
    *len = s->len;
    *truncated = s->truncated;
    s->buf = NULL;
    s->len = s->cap = 0;
    return b;
}

static void maybe_finish(berth_actor_t *self, proc_t *p)
{
    if (p->done || !p->exited || p->wait_busy || p->out.fd >= 0 || p->err.fd >= 0 || p->in_fd >= 0)
        return;
    /* Every op has completed: buffers and fds are ours again. */
    p->done = true;
    if (p->timeout_timer != NULL) {
        berth_timer_cancel(self, p->timeout_timer);
        p->timeout_timer = NULL;
    }
    if (p->grace_timer != NULL) {
        berth_timer_cancel(self, p->grace_timer);
        p->grace_timer = NULL;
    }
    berth_proc_exit_msg_t *m = berth_msg_new(BERTH_MSG_PROC_EXIT, sizeof *m);
    m->hdr.free = exit_msg_free;
    m->tag = p->tag;
    m->pid = p->pid;
    m->wait_error = p->wait_error;
    if (p->wait_error == 0) {
        m->code = p->si.si_code;
        m->status = p->si.si_status;
    }
    m->timed_out = p->timed_out;
    m->pipes_open = p->pipes_open;
    m->out = steal_output(&p->out, &m->out_len, &m->out_truncated);
    m->err = steal_output(&p->err, &m->err_len, &m->err_truncated);
    m->stdin_error = p->in_error;
    m->elapsed_ns = p->t_exit - p->t0;
    close_fd(&p->pidfd);
    berth_send(p->reply_to, &m->hdr);
    berth_actor_exit(self);
}

/* Cancels whatever still reads or writes the pipes (grace over). */
static void drain_pipes(berth_actor_t *self, proc_t *p)
{
    p->draining = true;
    if (p->out.busy)
        berth_ring_cancel(self, &p->out.op);
    else
        close_fd(&p->out.fd);
    if (p->err.busy)
        berth_ring_cancel(self, &p->err.op);
    else
        close_fd(&p->err.fd);
    if (p->in_busy)
        berth_ring_cancel(self, &p->in_op);
    else
        close_fd(&p->in_fd);
}

static void on_exited(berth_actor_t *self, proc_t *p)
{
    p->exited = true;
    p->t_exit = mono_ns();
    if (p->timeout_timer != NULL) {
        berth_timer_cancel(self, p->timeout_timer);
        p->timeout_timer = NULL;
    }
    if (p->out.fd >= 0 || p->err.fd >= 0 || p->in_fd >= 0) {
        p->grace_at = p->t_exit + p->grace_ns;
        p->grace_timer = arm_timer(self, TIMER_GRACE, p->grace_at);
    }
}

static void on_wait_cqe(berth_actor_t *self, proc_t *p, int res)
{
    p->wait_busy = false;
    if (p->poll_mode) {
        if (res < 0 && res != -EINTR && res != -EAGAIN) {
            p->wait_error = res;
            on_exited(self, p);
            return;
        }
        memset(&p->si, 0, sizeof p->si);
        if (waitid(P_PIDFD, (id_t)p->pidfd, &p->si, WEXITED | WNOHANG) < 0) {
            p->wait_error = -errno;
            on_exited(self, p);
            return;
        }
        if (p->si.si_pid == 0) { /* spurious wake-up: not exited yet */
            submit_wait(self, p);
            return;
        }
        on_exited(self, p);
        return;
    }
    if (res == -EINTR || res == -EAGAIN) {
        submit_wait(self, p);
        return;
    }
    if (res < 0)
        p->wait_error = res;
    on_exited(self, p);
}

static void on_read_cqe(berth_actor_t *self, proc_t *p, struct stream *s, int res)
{
    s->busy = false;
    if (res > 0) {
        size_t n = (size_t)res;
        if (s->len < s->max)
            s->len += n; /* the read went into buf, never past max */
        else
            s->truncated = true;
        if (!p->draining) {
            submit_read(self, s);
            return;
        }
    } else if ((res == -EINTR || res == -EAGAIN) && !p->draining) {
        submit_read(self, s);
        return;
    }
    /* EOF, an error, or cancelled after the grace period. */
    close_fd(&s->fd);
}

static void on_write_cqe(berth_actor_t *self, proc_t *p, int res)
{
    p->in_busy = false;
    if (res > 0) {
        p->in_off += (size_t)res;
        if (p->in_off < p->in_len && !p->draining) {
            submit_write(self, p);
            return;
        }
    } else if ((res == -EINTR || res == -EAGAIN) && !p->draining) {
        submit_write(self, p);
        return;
    } else if (res < 0) {
        p->in_error = res;
    }
    /* Closing the pipe is the child's EOF on stdin. */
    close_fd(&p->in_fd);
}

static void kill_child(proc_t *p, int sig)
{
    if (p->exited)
        return;
    /* The child is unreaped until exited is set, so its pid, and the process
     * group it leads, cannot have been recycled. */
    if (p->group_kill && sig == SIGKILL)
        kill(-p->pid, sig);
    if (pidfd_send_signal(p->pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
        berth_log_warn("pidfd_send_signal failed", "pid=%d sig=%d errno=%d", (int)p->pid, sig,
                       errno);
}

static void proc_receive(berth_actor_t *self, berth_msg_t *msg)
{
    proc_t *p = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_PROC_START:
        submit_wait(self, p);
        if (p->out.fd >= 0)
            submit_read(self, &p->out);
        if (p->err.fd >= 0)
            submit_read(self, &p->err);
        if (p->in_fd >= 0) {
            if (p->in_len > 0)
                submit_write(self, p);
            else
                close_fd(&p->in_fd);
        }
        if (p->timeout_ns > 0) {
            p->timeout_at = p->t0 + p->timeout_ns;
            p->timeout_timer = arm_timer(self, TIMER_TIMEOUT, p->timeout_at);
        }
        break;
    case BERTH_MSG_CQE: {
        berth_cqe_msg_t *c = (berth_cqe_msg_t *)msg;
        if (c->op == &p->wait_op)
            on_wait_cqe(self, p, c->res);
        else if (c->op == &p->out.op)
            on_read_cqe(self, p, &p->out, c->res);
        else if (c->op == &p->err.op)
            on_read_cqe(self, p, &p->err, c->res);
        else if (c->op == &p->in_op)
            on_write_cqe(self, p, c->res);
        break;
    }
    case BERTH_MSG_PROC_TIMER: {
        proc_timer_msg_t *t = (proc_timer_msg_t *)msg;
        if (t->kind == TIMER_TIMEOUT) {
            p->timeout_timer = NULL;
            if (mono_ns() < p->timeout_at) {
                p->timeout_timer = arm_timer(self, TIMER_TIMEOUT, p->timeout_at);
            } else if (!p->exited) {
                p->timed_out = true;
                kill_child(p, SIGKILL);
            }
        } else {
            p->grace_timer = NULL;
            if (mono_ns() < p->grace_at) {
                p->grace_timer = arm_timer(self, TIMER_GRACE, p->grace_at);
            } else {
                p->pipes_open = true;
                drain_pipes(self, p);
            }
        }
        break;
    }
    case BERTH_MSG_PROC_KILL:
        kill_child(p, ((proc_kill_msg_t *)msg)->sig);
        break;
    default:
        break;
    }
    berth_msg_free(msg);
    maybe_finish(self, p);
}

static void proc_fini(void *state)
{
    proc_t *p = state;
    /* After a normal finish only the discard buffers remain; after an engine
     * shutdown the fds may still be open. */
    close_fd(&p->pidfd);
    close_fd(&p->out.fd);
    close_fd(&p->err.fd);
    close_fd(&p->in_fd);
    berth_free(p->out.buf);
    berth_free(p->out.discard);
    berth_free(p->err.buf);
    berth_free(p->err.discard);
    berth_free(p->in_data);
    berth_free(p);
}

static const berth_actor_class_t proc_class = {
        .name = "proc",
        .receive = proc_receive,
        .fini = proc_fini,
};

int berth_proc_kill(berth_handle_t proc, int sig)
{
    proc_kill_msg_t *m = berth_msg_new(BERTH_MSG_PROC_KILL, sizeof *m);
    m->sig = sig;
    return berth_send(proc, &m->hdr);
}

/* ---- spawning --------------------------------------------------------- */

struct fdmap {
    int src;    /* parent fd (borrowed), or -1 for /dev/null */
    int target; /* child fd */
    int high;   /* parent's CLOEXEC duplicate above every target (owned) */
    int oflag;  /* for /dev/null */
};

static void fdmaps_close(struct fdmap *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].high >= 0)
            close(m[i].high);
}

static int check_mode(int mode, bool is_stdin, const char *what, berth_err_t *err)
{
    if (mode == BERTH_PROC_NULL || mode == BERTH_PROC_FD)
        return 0;
    if (is_stdin ? mode == BERTH_PROC_DATA : mode == BERTH_PROC_CAPTURE)
        return 0;
    return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "spawn: invalid %s mode %d", what, mode);
}

/* Starts the child with posix_spawn. `maps` lists every fd the child gets;
 * sources are first duplicated above the highest target so that no dup2 in
 * the child can clobber a source another dup2 still needs. */
static int do_spawn(const berth_proc_spec_t *spec, struct fdmap *maps, size_t nmaps, pid_t *pid,
                    berth_err_t *err)
{
    int maxtarget = 2;
    for (size_t i = 0; i < nmaps; i++)
        if (maps[i].target > maxtarget)
            maxtarget = maps[i].target;
    for (size_t i = 0; i < nmaps; i++) {
        if (maps[i].src < 0)
            continue;
        maps[i].high = fcntl(maps[i].src, F_DUPFD_CLOEXEC, maxtarget + 1);
        if (maps[i].high < 0)
            return berth_err_errno(err, errno, "spawn %s: duplicate fd %d", spec->argv[0],
                                   maps[i].src);
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);

    for (size_t i = 0; i < nmaps; i++)
        if (maps[i].src >= 0)
            posix_spawn_file_actions_adddup2(&fa, maps[i].high, maps[i].target);
    for (size_t i = 0; i < nmaps; i++)
        if (maps[i].src < 0)
            posix_spawn_file_actions_addopen(&fa, maps[i].target, "/dev/null", maps[i].oflag, 0);
    /* Holes below maxtarget would otherwise keep whatever berthd had there. */
    for (int fd = 3; fd <= maxtarget; fd++) {
        bool used = false;
        for (size_t i = 0; i < nmaps && !used; i++)
            used = maps[i].target == fd;
        if (!used)
            posix_spawn_file_actions_addclose(&fa, fd);
    }
    posix_spawn_file_actions_addclosefrom_np(&fa, maxtarget + 1);
    if (spec->cwd != NULL)
        posix_spawn_file_actions_addchdir_np(&fa, spec->cwd);

    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    if (spec->new_session) {
        flags |= POSIX_SPAWN_SETSID;
    } else if (spec->new_pgroup) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&attr, 0);
    }
    posix_spawnattr_setflags(&attr, flags);

    static char *const empty_env[] = {NULL};
    const char *path = spec->path ? spec->path : spec->argv[0];
    int r = posix_spawn(pid, path, &fa, &attr, spec->argv, spec->envp ? spec->envp : empty_env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (r != 0)
        return berth_err_errno(err, r, "spawn %s", path);
    return 0;
}

static int make_pipe(int p[2], const char *what, const char *argv0, berth_err_t *err)
{
    if (pipe2(p, O_CLOEXEC) < 0)
        return berth_err_errno(err, errno, "spawn %s: %s pipe", argv0, what);
    return 0;
}

int berth_proc_run(berth_handle_t reply_to, const berth_proc_spec_t *spec, uint64_t tag,
                   berth_handle_t *proc_out, pid_t *pid_out, berth_err_t *err)
{
    if (spec == NULL || spec->argv == NULL || spec->argv[0] == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "spawn: argv[0] is required");
    if (check_mode(spec->stdin_mode, true, "stdin", err) < 0 ||
        check_mode(spec->stdout_mode, false, "stdout", err) < 0 ||
        check_mode(spec->stderr_mode, false, "stderr", err) < 0)
        return -1;
    for (size_t i = 0; i < spec->nfds; i++) {
        if (spec->fds[i].child_fd < 3 || spec->fds[i].child_fd > 1023 || spec->fds[i].fd < 0)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "spawn %s: extra fd %d -> %d out of range", spec->argv[0],
                                  spec->fds[i].fd, spec->fds[i].child_fd);
        for (size_t j = 0; j < i; j++)
            if (spec->fds[j].child_fd == spec->fds[i].child_fd)
                return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                      "spawn %s: child fd %d given twice", spec->argv[0],
                                      spec->fds[i].child_fd);
    }
    pthread_once(&sigpipe_once, ignore_sigpipe);

    /* Pipe ends: [0] read, [1] write. The parent keeps in[1], out[0], err[0]. */
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    size_t nmaps = 3 + spec->nfds;
    struct fdmap *maps = berth_calloc(nmaps, sizeof *maps);
    int rc = -1;
    pid_t pid = -1;

    if (spec->stdin_mode == BERTH_PROC_DATA && make_pipe(in, "stdin", spec->argv[0], err) < 0)
        goto out;
    if (spec->stdout_mode == BERTH_PROC_CAPTURE && make_pipe(out, "stdout", spec->argv[0], err) < 0)
        goto out;
    if (spec->stderr_mode == BERTH_PROC_CAPTURE &&
        make_pipe(errp, "stderr", spec->argv[0], err) < 0)
        goto out;

    maps[0] = (struct fdmap){.target = 0, .high = -1, .oflag = O_RDONLY};
    maps[0].src = spec->stdin_mode == BERTH_PROC_DATA ? in[0]
                  : spec->stdin_mode == BERTH_PROC_FD ? spec->stdin_fd
                                                      : -1;
    maps[1] = (struct fdmap){.target = 1, .high = -1, .oflag = O_WRONLY};
    maps[1].src = spec->stdout_mode == BERTH_PROC_CAPTURE ? out[1]
                  : spec->stdout_mode == BERTH_PROC_FD    ? spec->stdout_fd
                                                          : -1;
    maps[2] = (struct fdmap){.target = 2, .high = -1, .oflag = O_WRONLY};
    maps[2].src = spec->stderr_mode == BERTH_PROC_CAPTURE ? errp[1]
                  : spec->stderr_mode == BERTH_PROC_FD    ? spec->stderr_fd
                                                          : -1;
    for (size_t i = 0; i < spec->nfds; i++)
        maps[3 + i] =
                (struct fdmap){.src = spec->fds[i].fd, .target = spec->fds[i].child_fd, .high = -1};

    uint64_t t0 = mono_ns();
    if (do_spawn(spec, maps, nmaps, &pid, err) < 0)
        goto out;

    /* The child stays a zombie until the pidfd reaps it, so this pidfd can
     * only ever refer to our child. */
    int pidfd = pidfd_open(pid, 0);
    if (pidfd < 0) {
        int e = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0); /* it was just SIGKILLed: this returns at once */
        berth_err_errno(err, e, "spawn %s: pidfd_open", spec->argv[0]);
        goto out;
    }

    proc_t *p = berth_calloc(1, sizeof *p);
    p->reply_to = reply_to;
    p->tag = tag;
    p->pid = pid;
    p->pidfd = pidfd;
    p->group_kill = spec->new_session || spec->new_pgroup;
    p->t0 = t0;
    p->poll_mode = use_poll_wait();
    p->timeout_ns = spec->timeout_ns;
    p->grace_ns = spec->eof_grace_ns ? spec->eof_grace_ns : DEFAULT_EOF_GRACE_NS;
    size_t max = spec->max_output ? spec->max_output : DEFAULT_MAX_OUTPUT;
    p->out = (struct stream){.fd = berth_steal_fd(&out[0]), .max = max};
    p->err = (struct stream){.fd = berth_steal_fd(&errp[0]), .max = max};
    p->in_fd = berth_steal_fd(&in[1]);
    if (p->in_fd >= 0 && spec->stdin_len > 0) {
        p->in_data = berth_memdup(spec->stdin_data, spec->stdin_len);
        p->in_len = spec->stdin_len;
    }
    berth_handle_t h = berth_actor_spawn(&proc_class, p);
    berth_send(h, berth_msg_new(BERTH_MSG_PROC_START, sizeof(berth_msg_t)));
    if (proc_out != NULL)
        *proc_out = h;
    if (pid_out != NULL)
        *pid_out = pid;
    rc = 0;
out:
    fdmaps_close(maps, nmaps);
    berth_free(maps);
    /* The child's ends, and any parent end not handed to the actor. */
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    return rc;
}

/* pid's one-word state and its comm from /proc/<pid>/stat; false when gone */
static bool proc_stat(pid_t pid, char *state, char *comm, size_t comm_len)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    BERTH_AUTO_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* "pid (comm) S ...": comm may hold spaces and parentheses, the last
     * ')' ends it */
    char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
    if (open_p == NULL || close_p == NULL || close_p < open_p || close_p[1] != ' ')
        return false;
    size_t len = (size_t)(close_p - open_p - 1);
    if (len >= comm_len)
        len = comm_len - 1;
    memcpy(comm, open_p + 1, len);
    comm[len] = '\0';
    *state = close_p[2];
    return true;
}

/* Reaps the strays among the children of one of our threads. */
static int reap_children_of(pid_t tid, const char *comm, const char *our_ns)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)tid);
    BERTH_AUTO_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    int reaped = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
        pid_t pid = (pid_t)strtol(t, NULL, 10);
        char state = 0, name[64], ns[64], nspath[64];
        if (pid <= 0 || !proc_stat(pid, &state, name, sizeof name) || state != 'Z' ||
            strcmp(name, comm) != 0)
            continue;
        snprintf(nspath, sizeof nspath, "/proc/%d/ns/pid", (int)pid);
        ssize_t l = readlink(nspath, ns, sizeof ns - 1);
        if (l <= 0)
            continue;
        ns[l] = '\0';
        if (strcmp(ns, our_ns) == 0)
            continue; /* one of ours, awaited through its pidfd */
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG) == 0 && si.si_pid == pid) {
            berth_log_info("reaped a process the runtime left in a container",
                           "pid=%d comm=%s pid_ns=%s", (int)pid, name, ns);
            reaped++;
        }
    }
    return reaped;
}

int berth_proc_reap_strays(const char *comm, uint64_t wait_ns)
{
    char our_ns[64];
    ssize_t l = readlink("/proc/self/ns/pid", our_ns, sizeof our_ns - 1);
    if (l <= 0)
        return 0;
    our_ns[l] = '\0';
    const uint64_t step_ns = 25ull * 1000000ull;
    for (uint64_t waited = 0;; waited += step_ns) {
        int reaped = 0;
        DIR *d = opendir("/proc/self/task");
        if (d == NULL)
            return 0;
        for (struct dirent *e; (e = readdir(d)) != NULL;)
            if (e->d_name[0] != '.')
                reaped += reap_children_of((pid_t)strtol(e->d_name, NULL, 10), comm, our_ns);
        closedir(d);
        if (reaped > 0 || waited >= wait_ns)
            return reaped;
        struct timespec ts = {0, (long)step_ns};
        nanosleep(&ts, NULL);
    }
}
