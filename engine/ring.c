/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-worker io_uring rings: SQEs for actors, completions turned into
 * messages, the armed eventfd read that wakes a sleeping worker, and
 * cancellation routed to the worker whose ring holds the op. Only the owning
 * worker's thread touches a ring; other threads reach it through the
 * worker's inbox. Actor code never runs here.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>

#include "engine/alloc.h"
#include "engine/engine-internal.h"
#include "engine/metrics.h"

/* user_data values that are not ops (ops are heap pointers, never this low). */
#define UD_WAKE UINT64_C(1)
#define UD_CANCEL UINT64_C(2)

#define WAITID_OPCODE 50

int berth_ring_worker_init(struct berth_worker *w, unsigned entries)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    /* A larger CQ: a burst of completions should not overflow into the
     * kernel's backlog list before the worker reaps. */
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;
    int r = io_uring_queue_init_params(entries, &w->ring, &p);
    if (r < 0)
        return r;
    w->ring_ok = true;
    return 0;
}

void berth_ring_worker_fini(struct berth_worker *w)
{
    if (w->ring_ok)
        io_uring_queue_exit(&w->ring);
    w->ring_ok = false;
}

static struct io_uring_sqe *get_sqe(struct berth_worker *w)
{
    struct io_uring_sqe *sqe;
    while ((sqe = io_uring_get_sqe(&w->ring)) == NULL) {
        /* SQ full: hand what we have to the kernel to make room. */
        int n = io_uring_submit(&w->ring);
        berth_metric_inc(w->m_submits);
        berth_metric_add(w->m_sqes, n > 0 ? (uint64_t)n : 0);
        w->sqe_pending = 0;
    }
    return sqe;
}

static void arm_wake(struct berth_worker *w)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_read(sqe, w->efd, &w->efd_buf, sizeof(w->efd_buf), 0);
    io_uring_sqe_set_data64(sqe, UD_WAKE);
    w->sqe_pending++;
    w->wake_armed = true;
}

void berth_ring_flush(struct berth_worker *w)
{
    if (!w->wake_armed)
        arm_wake(w);
    if (w->sqe_pending) {
        int n = io_uring_submit(&w->ring);
        berth_metric_inc(w->m_submits);
        berth_metric_add(w->m_sqes, n > 0 ? (uint64_t)n : 0);
        w->sqe_pending = 0;
    }
}

void berth_ring_wait(struct berth_worker *w, uint64_t timeout_ns)
{
    if (!w->wake_armed)
        arm_wake(w);
    struct io_uring_cqe *cqe = NULL;
    struct __kernel_timespec ts, *tsp = NULL;
    if (timeout_ns != UINT64_MAX) {
        ts.tv_sec = (long long)(timeout_ns / 1000000000u);
        ts.tv_nsec = (long long)(timeout_ns % 1000000000u);
        tsp = &ts;
    }
    /* Returns on a CQE (the eventfd read is one), the timeout, or a signal;
     * all three just send the worker round its loop again. */
    unsigned pending = w->sqe_pending;
    io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, tsp, NULL);
    berth_metric_inc(w->m_submits);
    berth_metric_add(w->m_sqes, pending);
    w->sqe_pending = 0;
}

unsigned berth_ring_reap(struct berth_worker *w)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&w->ring, head, cqe)
    {
        n++;
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        if (ud == UD_WAKE) {
            w->wake_armed = false;
            continue;
        }
        if (ud == UD_CANCEL || ud == 0)
            continue;
        berth_op_t *op = (berth_op_t *)(uintptr_t)ud;
        berth_cqe_msg_t *m = berth_msg_new(BERTH_MSG_CQE, sizeof(*m));
        m->op = op;
        m->res = cqe->res;
        m->flags = cqe->flags;
        if (!(cqe->flags & IORING_CQE_F_MORE)) {
            op->pending--;
            w->inflight--;
        }
        /* Read the owner before sending: after the send the owner may free
         * the op. A gone owner means the message is freed here. */
        berth_send(op->owner, &m->hdr);
    }
    if (n) {
        io_uring_cq_advance(&w->ring, n);
        ck_pr_store_64(&w->st_cqes, w->st_cqes + n); /* statistics */
    }
    if (!w->wake_armed)
        arm_wake(w);
    return n;
}

struct io_uring_sqe *berth_ring_sqe(berth_actor_t *self)
{
    struct berth_worker *w = berth_tls_worker;
    return get_sqe(w);
}

void berth_ring_submit(berth_actor_t *self, struct io_uring_sqe *sqe, berth_op_t *op)
{
    struct berth_worker *w = berth_tls_worker;
    if (!berth_handle_valid(op->owner))
        op->owner = self->self;
    op->worker = (int)w->index;
    op->pending++;
    w->inflight++;
    io_uring_sqe_set_data(sqe, op);
    w->sqe_pending++;
}

void berth_ring_issue_cancel(struct berth_worker *w, berth_op_t *op)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_cancel(sqe, op, 0);
    io_uring_sqe_set_data64(sqe, UD_CANCEL);
    w->sqe_pending++;
}

void berth_ring_cancel(berth_actor_t *self, berth_op_t *op)
{
    struct berth_worker *w = berth_tls_worker;
    if (op->worker < 0 || (unsigned)op->worker >= berth_eng.nworkers)
        return;
    struct berth_worker *owner = &berth_eng.workers[op->worker];
    if (owner == w) {
        berth_ring_issue_cancel(w, op);
        return;
    }
    /* Another worker's ring: only that thread may touch it. */
    berth_cancel_req_t *req = berth_msg_new(BERTH_MSG_CANCEL_INTERNAL, sizeof(*req));
    req->op = op;
    berth_worker_post(owner, &req->hdr);
}

void berth_ring_prep_waitid(struct io_uring_sqe *sqe, int idtype, int id, void *info, int options)
{
    io_uring_prep_rw(WAITID_OPCODE, sqe, id, NULL, (unsigned)idtype, 0);
    sqe->file_index = (uint32_t)options;
    sqe->addr2 = (uint64_t)(uintptr_t)info;
}

static int has_waitid = -1;
static pthread_once_t waitid_once = PTHREAD_ONCE_INIT;

static void probe_waitid(void)
{
    struct io_uring_probe *p = io_uring_get_probe();
    has_waitid = p != NULL && io_uring_opcode_supported(p, WAITID_OPCODE);
    if (p != NULL)
        io_uring_free_probe(p);
}

int berth_ring_has_waitid(void)
{
    /* pthread_once gives the happens-before for has_waitid. */
    pthread_once(&waitid_once, probe_waitid);
    return has_waitid;
}
