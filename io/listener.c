/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC listener: binds the unix socket (refusing to steal it from a live
 * server, replacing a stale file), then an actor keeps one multishot accept
 * in flight and spawns a connection actor per client. On stop it cancels the
 * accept, unlinks its own socket file, asks every connection to drain and
 * reports when the last one is gone. It never touches a call itself.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/ring.h"
#include "io/grpc-internal.h"
#include "io/netlisten.h"

#define REARM_DELAY_NS (50ull * 1000 * 1000)

typedef struct grpc_stop_msg {
    berth_msg_t hdr;
    uint64_t grace_ns;
    berth_handle_t notify;
    berth_msg_t *done; /* forwarded to notify even if the listener is gone */
} grpc_stop_msg_t;

typedef struct listener {
    int fd;
    char *path;
    dev_t dev;
    ino_t ino;
    berth_grpc_limits_t limits;
    berth_handle_t dispatch, me;
    berth_op_t accept_op;
    bool accept_busy, rearm_pending, stopping, exited;
    berth_handle_t *conns;
    size_t nconns, cap;
    bool refusing; /* the last connection was refused for the cap */
    berth_handle_t notify;
    berth_msg_t *done;
} listener_t;

static void conns_add(listener_t *l, berth_handle_t h)
{
    if (l->nconns == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->conns = berth_realloc(l->conns, l->cap * sizeof(*l->conns));
    }
    l->conns[l->nconns++] = h;
}

static void conns_del(listener_t *l, berth_handle_t h)
{
    for (size_t i = 0; i < l->nconns; i++) {
        if (berth_handle_eq(l->conns[i], h)) {
            l->conns[i] = l->conns[--l->nconns];
            return;
        }
    }
}

static void arm_accept(berth_actor_t *self, listener_t *l)
{
    if (l->accept_busy || l->stopping)
        return;
    struct io_uring_sqe *sqe = berth_ring_sqe(self);
    io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
    l->accept_busy = true;
    berth_ring_submit(self, sqe, &l->accept_op);
}

static void maybe_finish(berth_actor_t *self, listener_t *l)
{
    if (!l->stopping || l->accept_busy || l->nconns || l->exited)
        return;
    l->exited = true;
    close(l->fd);
    l->fd = -1;
    if (l->done)
        berth_send(l->notify, berth_steal_ptr(&l->done));
    berth_actor_exit(self);
}

static void on_accept(berth_actor_t *self, listener_t *l, berth_cqe_msg_t *m)
{
    if (!(m->flags & IORING_CQE_F_MORE))
        l->accept_busy = false;
    if (m->res >= 0) {
        size_t max = l->limits.max_connections ? l->limits.max_connections
                                               : BERTH_GRPC_DEFAULT_MAX_CONNECTIONS;
        if (l->stopping) {
            close(m->res);
        } else if (l->nconns >= max) {
            /* Closed at once: the client sees the connection end, and the
             * log says why (once per burst, not per connection). */
            close(m->res);
            if (!l->refusing)
                berth_log_warn("grpc: connection refused: too many open connections",
                               "path=\"%s\" open=%zu max=%zu ([crio.api] grpc_max_connections)",
                               l->path, l->nconns, max);
            l->refusing = true;
        } else {
            l->refusing = false;
            conns_add(l, berth_grpc_conn_spawn(m->res, &l->limits, l->me, l->dispatch));
        }
    } else if (m->res != -ECANCELED && !l->stopping) {
        /* EMFILE and friends: wait a little rather than spin on the error. */
        berth_log_warn("grpc: accept failed", "path=\"%s\" errno=%d", l->path, -m->res);
        if (!l->accept_busy && !l->rearm_pending) {
            l->rearm_pending = true;
            berth_timer_after(self, REARM_DELAY_NS,
                              berth_msg_new(BERTH_MSG_GRPC_START, sizeof(berth_msg_t)));
        }
        return;
    }
    if (!l->accept_busy && !l->rearm_pending)
        arm_accept(self, l); /* the multishot ended (it may, e.g. on ENOBUFS) */
}

static void stop_free(berth_msg_t *msg)
{
    grpc_stop_msg_t *m = (grpc_stop_msg_t *)msg;
    /* Undelivered (listener gone): the caller still hears that we are done. */
    if (m->done)
        berth_send(m->notify, m->done);
    berth_free(m);
}

static void on_stop(berth_actor_t *self, listener_t *l, grpc_stop_msg_t *m)
{
    if (l->stopping) {
        return; /* a second stop: its done message is forwarded by stop_free */
    }
    l->stopping = true;
    l->notify = m->notify;
    l->done = berth_steal_ptr(&m->done);
    if (l->accept_busy)
        berth_ring_cancel(self, &l->accept_op);
    /* Only our own socket: a new server may already own the path. */
    berth_unlink_own(l->path, l->dev, l->ino);
    for (size_t i = 0; i < l->nconns;) {
        grpc_shutdown_msg_t *s = berth_msg_new(BERTH_MSG_GRPC_SHUTDOWN, sizeof(*s));
        s->grace_ns = m->grace_ns;
        if (berth_send(l->conns[i], &s->hdr) < 0)
            l->conns[i] = l->conns[--l->nconns];
        else
            i++;
    }
}

static void listener_receive(berth_actor_t *self, berth_msg_t *msg)
{
    listener_t *l = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_GRPC_START:
        l->me = berth_actor_self(self);
        l->rearm_pending = false;
        arm_accept(self, l);
        break;
    case BERTH_MSG_CQE:
        on_accept(self, l, (berth_cqe_msg_t *)msg);
        break;
    case BERTH_MSG_GRPC_STOP:
        on_stop(self, l, (grpc_stop_msg_t *)msg);
        break;
    case BERTH_MSG_GRPC_CONN_GONE:
        conns_del(l, ((grpc_gone_msg_t *)msg)->conn);
        break;
    default:
        break;
    }
    berth_msg_free(msg);
    maybe_finish(self, l);
}

static void listener_fini(void *state)
{
    listener_t *l = state;
    if (l->fd >= 0)
        close(l->fd);
    berth_msg_free(l->done);
    berth_free(l->path);
    berth_free(l->conns);
    berth_free(l);
}

static const berth_actor_class_t listener_class = {
        .name = "grpc-listener",
        .receive = listener_receive,
        .fini = listener_fini,
};

int berth_grpc_server_start(const berth_grpc_server_config_t *cfg, berth_handle_t *listener,
                            berth_err_t *err)
{
    dev_t dev;
    ino_t ino;
    BERTH_AUTO_CLOSE int fd =
            berth_listen_unix(cfg->path, cfg->mode ? cfg->mode : 0660, 1024, &dev, &ino, err);
    if (fd < 0)
        return -1;

    listener_t *l = berth_calloc(1, sizeof(*l));
    l->fd = berth_steal_fd(&fd);
    l->path = berth_strdup(cfg->path);
    l->dev = dev;
    l->ino = ino;
    l->limits = cfg->limits;
    l->dispatch = cfg->dispatch;
    berth_handle_t h = berth_actor_spawn(&listener_class, l);
    berth_send(h, berth_msg_new(BERTH_MSG_GRPC_START, sizeof(berth_msg_t)));
    if (listener)
        *listener = h;
    return 0;
}

void berth_grpc_server_stop(berth_handle_t listener, uint64_t grace_ns, berth_handle_t notify,
                            berth_msg_t *done)
{
    grpc_stop_msg_t *m = berth_msg_new(BERTH_MSG_GRPC_STOP, sizeof(*m));
    m->hdr.free = stop_free;
    m->grace_ns = grace_ns;
    m->notify = notify;
    m->done = done;
    berth_send(listener, &m->hdr);
}
