/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signal actor: one signalfd read through the ring at a time, each
 * signalfd_siginfo turned into a message to the signal's owner. It never
 * installs a handler and never reads the signalfd outside a ring op.
 */
#include "io/signal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/ring.h"

#define NSIGS 65 /* signals 1..64 */
#define SIGINFO_BATCH 8

enum { SIG_START = 43 }; /* private, in io/'s message range */

typedef struct sig_route_msg {
    berth_msg_t hdr;
    int signo;
    berth_handle_t owner;
} sig_route_msg_t;

typedef struct sigactor {
    int fd;
    sigset_t set;
    berth_handle_t owners[NSIGS];
    berth_op_t op;
    bool busy, stopping;
    struct signalfd_siginfo buf[SIGINFO_BATCH]; /* the kernel's while busy */
} sigactor_t;

int berth_signal_block(const sigset_t *set, berth_err_t *err)
{
    int r = pthread_sigmask(SIG_BLOCK, set, NULL);
    if (r != 0)
        return berth_err_errno(err, r, "block signals");
    return 0;
}

static void submit_read(berth_actor_t *self, sigactor_t *s)
{
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_read(sqe, s->fd, s->buf, sizeof s->buf, (uint64_t)-1);
    berth_ring_submit(self, sqe, &s->op);
    s->busy = true;
}

static void deliver(sigactor_t *s, const struct signalfd_siginfo *si)
{
    int signo = (int)si->ssi_signo;
    if (signo <= 0 || signo >= NSIGS || !berth_handle_valid(s->owners[signo])) {
        berth_log_debug("signal without owner dropped", "signo=%d", signo);
        return;
    }
    berth_signal_msg_t *m = berth_msg_new(BERTH_MSG_SIGNAL, sizeof *m);
    m->signo = signo;
    m->sender_pid = (pid_t)si->ssi_pid;
    if (berth_send(s->owners[signo], &m->hdr) < 0)
        berth_log_warn("signal owner is gone", "signo=%d", signo);
}

static void sig_receive(berth_actor_t *self, berth_msg_t *msg)
{
    sigactor_t *s = berth_actor_state(self);
    switch (msg->type) {
    case SIG_START:
        if (!s->stopping)
            submit_read(self, s);
        break;
    case BERTH_MSG_CQE: {
        berth_cqe_msg_t *c = (berth_cqe_msg_t *)msg;
        s->busy = false;
        if (c->res > 0) {
            size_t n = (size_t)c->res / sizeof s->buf[0];
            for (size_t i = 0; i < n; i++)
                deliver(s, &s->buf[i]);
        } else if (c->res < 0 && c->res != -EINTR && c->res != -EAGAIN && c->res != -ECANCELED) {
            berth_log_error("signalfd read failed", "errno=%d", -c->res);
            s->stopping = true;
        }
        if (!s->stopping)
            submit_read(self, s);
        break;
    }
    case BERTH_MSG_SIGNAL_ROUTE: {
        sig_route_msg_t *r = (sig_route_msg_t *)msg;
        if (r->signo > 0 && r->signo < NSIGS && sigismember(&s->set, r->signo) == 1)
            s->owners[r->signo] = r->owner;
        else
            berth_log_warn("signal route for a signal not watched", "signo=%d", r->signo);
        break;
    }
    case BERTH_MSG_SIGNAL_STOP:
        if (!s->stopping) {
            s->stopping = true;
            if (s->busy)
                berth_ring_cancel(self, &s->op);
        }
        break;
    default:
        break;
    }
    berth_msg_free(msg);
    if (s->stopping && !s->busy) {
        close(s->fd);
        s->fd = -1;
        berth_actor_exit(self);
    }
}

static void sig_fini(void *state)
{
    sigactor_t *s = state;
    if (s->fd >= 0)
        close(s->fd);
    berth_free(s);
}

static const berth_actor_class_t sig_class = {
        .name = "signals",
        .receive = sig_receive,
        .fini = sig_fini,
};

int berth_signal_start(const berth_signal_route_t *routes, size_t n, berth_handle_t *actor,
                       berth_err_t *err)
{
    sigset_t set, blocked;
    sigemptyset(&set);
    pthread_sigmask(SIG_BLOCK, NULL, &blocked);
    for (size_t i = 0; i < n; i++) {
        int signo = routes[i].signo;
        if (signo <= 0 || signo >= NSIGS || signo == SIGKILL || signo == SIGSTOP)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "signals: cannot watch signal %d",
                                  signo);
        if (sigismember(&blocked, signo) != 1)
            return berth_err_make(
                    err, EINVAL, BERTH_ERR_INTERNAL,
                    "signals: signal %d is not blocked (call berth_signal_block first)", signo);
        sigaddset(&set, signo);
    }
    int fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (fd < 0)
        return berth_err_errno(err, errno, "signals: signalfd");
    sigactor_t *s = berth_calloc(1, sizeof *s);
    s->fd = fd;
    s->set = set;
    for (size_t i = 0; i < n; i++)
        s->owners[routes[i].signo] = routes[i].owner;
    berth_handle_t h = berth_actor_spawn(&sig_class, s);
    berth_send(h, berth_msg_new(SIG_START, sizeof(berth_msg_t)));
    *actor = h;
    return 0;
}

int berth_signal_route(berth_handle_t actor, int signo, berth_handle_t owner)
{
    sig_route_msg_t *m = berth_msg_new(BERTH_MSG_SIGNAL_ROUTE, sizeof *m);
    m->signo = signo;
    m->owner = owner;
    return berth_send(actor, &m->hdr);
}

void berth_signal_stop(berth_handle_t actor)
{
    berth_send(actor, berth_msg_new(BERTH_MSG_SIGNAL_STOP, sizeof(berth_msg_t)));
}
