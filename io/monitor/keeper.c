/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-monitor's keeper: the process berthd starts. It owns the listening
 * socket and starts the worker (the same program with --worker, main.c),
 * which does all the work; the keeper only stands above it:
 *
 *   - it is a subreaper, so when the worker dies the containers (the
 *     worker's children) become the keeper's: it reaps them, logs what is
 *     left in their pipes and writes their exit files;
 *   - it holds a copy of every container's pipe ends and create request
 *     (the worker sends them, "track"), starts the next worker with the
 *     same listening socket and hands the containers over ("adopt");
 *   - berthd just reconnects: the socket never went away.
 *
 * So a worker's death loses nothing whether or not the berthd that started
 * it is still there. A keeper's death leaves the worker running (its
 * parent becomes berthd or init); berthd's link covers the worker's death
 * after that (io/monitor.c). A small poll loop: it must be hard to kill by
 * a bug, so it does as little as it can.
 */
#include "io/monitor/keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/monitor/crilog.h"
#include "io/monitor/exitfile.h"
#include "io/monitor/procsetup.h"
#include "io/monitor/proto.h"

typedef struct kent {
    struct kent *next;
    char *cid;
    pid_t pid;
    char *cgroup;
    json_t *spec;  /* the create request's fields */
    json_t *names; /* what fds[i] is: "out", "err", "in", "pty" */
    int fds[BERTH_MON_FDS_MAX];
    size_t nfds;
} kent_t;

static kent_t *ents;
static char kbuf[BERTH_MON_MSG_MAX];

static void ksay(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ksay(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    berth_mon_vsay("keeper", fmt, ap);
    va_end(ap);
}

static void kent_free(kent_t *e)
{
    for (size_t i = 0; i < e->nfds; i++)
        close(e->fds[i]);
    json_decref(e->spec);
    json_decref(e->names);
    free(e->cid);
    free(e->cgroup);
    free(e);
}

static kent_t *kfind(const char *cid, kent_t ***prev)
{
    for (kent_t **p = &ents; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->cid, cid) == 0) {
            if (prev)
                *prev = p;
            return *p;
        }
    }
    return NULL;
}

static void kdrop(const char *cid)
{
    kent_t **p = NULL;
    kent_t *e = kfind(cid, &p);
    if (e != NULL) {
        *p = e->next;
        kent_free(e);
    }
}

/* A message from the worker: track (a container and its pipes), untrack
 * (removed), exited (the worker reaped it: nothing left to cover). Answers
 * to the keeper's adopts come here too and need nothing. */
static void on_worker_msg(const char *buf, size_t len, int *fds, size_t nfds)
{
    json_t *j = json_loadb(buf, len, 0, NULL);
    const char *op = json_string_value(json_object_get(j, "op"));
    const char *cid = json_string_value(json_object_get(j, "cid"));
    if (op != NULL && cid != NULL && strcmp(op, "track") == 0) {
        kdrop(cid);
        kent_t *e = calloc(1, sizeof(*e));
        if (e == NULL)
            abort();
        e->cid = strdup(cid);
        e->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
        const char *cg = json_string_value(json_object_get(j, "cgroup"));
        e->cgroup = cg && cg[0] ? strdup(cg) : NULL;
        e->spec = json_incref(json_object_get(j, "spec"));
        e->names = json_incref(json_object_get(j, "fds"));
        memcpy(e->fds, fds, nfds * sizeof(int));
        e->nfds = nfds;
        nfds = 0;
        e->next = ents;
        ents = e;
    } else if (op != NULL && cid != NULL &&
               (strcmp(op, "untrack") == 0 || strcmp(op, "exited") == 0)) {
        kdrop(cid);
    }
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    json_decref(j);
}

/* A container the dead worker left: log what its pipes still hold, then
 * record its exit as the worker would have. */
static void orphan_exited(kent_t *e, int st)
{
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    const char *log_path = json_string_value(json_object_get(e->spec, "log_path"));
    berth_crilog_t l = {.fd = -1};
    if (log_path != NULL && berth_crilog_open(&l, log_path, 0) == 0) {
        size_t cap = BERTH_CRILOG_SCRATCH;
        char *scratch = malloc(cap);
        for (size_t i = 0; scratch != NULL && i < e->nfds; i++) {
            const char *n = json_string_value(json_array_get(e->names, i));
            if (n == NULL || strcmp(n, "in") == 0)
                continue;
            const char *stream = strcmp(n, "err") == 0 ? "stderr" : "stdout";
            fcntl(e->fds[i], F_SETFL, fcntl(e->fds[i], F_GETFL) | O_NONBLOCK);
            ssize_t r;
            while ((r = read(e->fds[i], kbuf, sizeof(kbuf))) > 0)
                berth_crilog_write(&l, stream, kbuf, (size_t)r, scratch, cap);
        }
        free(scratch);
    }
    berth_crilog_close(&l);
    const char *what = NULL;
    const char *exit_dir = json_string_value(json_object_get(e->spec, "exit_dir"));
    const char *persist = json_string_value(json_object_get(e->spec, "persist_dir"));
    if (exit_dir == NULL || persist == NULL ||
        berth_mon_record_exit(exit_dir, persist, e->cid, code, e->cgroup, &what) < 0)
        ksay("%s: cannot record the exit (%s): %s", e->cid, what ? what : "no exit dir",
             strerror(errno));
    else
        ksay("%s: reaped after its worker died, exit code %d", e->cid, code);
}

static int chan = -1;
static pid_t worker = 0;
/* The limit berthd gave: the worker gets it back (it raises its own and
 * hands the original on to the runtime). */
static berth_mon_limits_t limits;

static pid_t start_worker(const char *self, int lfd, const char *pidfile)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        ksay("socketpair: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        ksay("fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        /* fd 3: the listening socket, fd 4: the channel to the keeper */
        int a = fcntl(lfd, F_DUPFD_CLOEXEC, 10), b = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
        if (a < 0 || b < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0)
            _exit(127);
        berth_mon_child_reset(&limits);
        char *argv[] = {(char *)self, "--worker",  "--listen-fd",   "3", "--keeper-fd",
                        "4",          "--pidfile", (char *)pidfile, NULL};
        execv(self, argv);
        _exit(127);
    }
    close(sv[1]);
    chan = sv[0];
    fcntl(chan, F_SETFL, fcntl(chan, F_GETFL) | O_NONBLOCK);
    ksay("worker %d started", (int)pid);
    return pid;
}

/* Hands every tracked container to a new worker: the same request berthd
 * would send, with the keeper's copies of the pipes. */
static void adopt_all(void)
{
    for (kent_t *e = ents; e != NULL; e = e->next) {
        json_t *req = json_deep_copy(e->spec);
        if (req == NULL)
            continue;
        json_object_set_new(req, "op", json_string("adopt"));
        json_object_set_new(req, "pid", json_integer(e->pid));
        json_object_set_new(req, "cgroup", json_string(e->cgroup ? e->cgroup : ""));
        json_object_set(req, "fds", e->names ? e->names : json_array());
        char *s = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        if (s != NULL && berth_mon_send(chan, s, strlen(s), e->fds, e->nfds, 0) < 0)
            ksay("%s: cannot hand over: %s", e->cid, strerror(errno));
        free(s);
    }
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int berth_mon_keeper_run(const char *self, int lfd, const char *worker_pidfile)
{
    const char *what = NULL;
    int sfd = berth_mon_proc_setup(&limits, &what);
    if (sfd < 0) {
        ksay("%s: %s", what, strerror(errno));
        return 1;
    }
    char *kpid = strdup(worker_pidfile), *slash = kpid ? strrchr(kpid, '/') : NULL;
    char text[32];
    snprintf(text, sizeof(text), "%d\n", (int)getpid());
    if (slash != NULL) {
        *slash = '\0';
        if (berth_mon_write_atomic(kpid, "keeper.pid", text) < 0)
            ksay("cannot write %s/keeper.pid: %s", kpid, strerror(errno));
    }
    free(kpid);
    uint64_t started = mono_ms(), restart_at = 0;
    worker = start_worker(self, lfd, worker_pidfile);
    if (worker < 0)
        return 1;
    for (;;) {
        struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = chan, .events = POLLIN}};
        int timeout = -1;
        if (restart_at) {
            uint64_t now = mono_ms();
            timeout = restart_at > now ? (int)(restart_at - now) : 0;
        }
        int n = poll(p, chan >= 0 ? 2 : 1, timeout);
        if (n < 0 && errno != EINTR)
            return 1;
        if (restart_at && mono_ms() >= restart_at) {
            restart_at = 0;
            started = mono_ms();
            worker = start_worker(self, lfd, worker_pidfile);
            if (worker > 0)
                adopt_all();
            else
                restart_at = mono_ms() + 1000;
        }
        if (chan >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            for (;;) {
                int fds[BERTH_MON_FDS_MAX];
                size_t nfds = 0;
                long r = berth_mon_recv(chan, kbuf, sizeof(kbuf), fds, &nfds, MSG_DONTWAIT);
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                if (r <= 0) {
                    close(chan); /* the worker is gone; its exit comes as SIGCHLD */
                    chan = -1;
                    break;
                }
                on_worker_msg(kbuf, (size_t)r, fds, nfds);
            }
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                ;
            int st;
            pid_t pid;
            while ((pid = waitpid(-1, &st, WNOHANG | __WALL)) > 0) {
                if (pid == worker) {
                    ksay("worker %d ended (%s %d); %s", (int)pid, WIFEXITED(st) ? "exit" : "signal",
                         WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
                         mono_ms() - started < 1000 ? "restarting in a second" : "restarting");
                    worker = 0;
                    if (chan >= 0) {
                        close(chan);
                        chan = -1;
                    }
                    /* A worker that dies at once would die again. */
                    restart_at = mono_ms() + (mono_ms() - started < 1000 ? 1000 : 0);
                    continue;
                }
                for (kent_t *e = ents; e != NULL; e = e->next) {
                    if (e->pid == pid) {
                        orphan_exited(e, st);
                        kdrop(e->cid);
                        break;
                    }
                }
                /* else: a process the worker left (a runtime mid-create) */
            }
        }
    }
}
