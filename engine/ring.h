/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io_uring ops for actors. Each worker owns one ring that no other thread
 * touches. An actor, inside its turn, takes an SQE from the ring of the worker
 * it runs on, prepares it with liburing's io_uring_prep_* helpers and submits
 * it with berth_ring_submit(). Every completion becomes a berth_cqe_msg_t
 * mailed to the op's owner; actor code never runs inline on a completion.
 *
 * An op (and every buffer, iovec, sockaddr and fd it uses) belongs to the
 * kernel until its final completion: the CQE whose flags lack IORING_CQE_F_MORE.
 * Only then may the owner free or reuse it.
 */
#ifndef BERTH_ENGINE_RING_H
#define BERTH_ENGINE_RING_H

#include <liburing.h>
#include <stdint.h>

#include "engine/actor.h"

typedef struct berth_op {
    berth_handle_t owner; /* who receives the completions */
    uint64_t tag;         /* the owner's own correlation value */
    void *ctx;            /* the owner's own pointer */
    /* engine-private */
    int worker;
    uint32_t pending;
} berth_op_t;

/* A completion, delivered to op->owner as a message of type BERTH_MSG_CQE.
 * The receiver frees it with berth_msg_free (the op is not freed). */
typedef struct berth_cqe_msg {
    berth_msg_t hdr;
    berth_op_t *op;
    int32_t res;    /* raw cqe->res: >= 0, or -errno */
    uint32_t flags; /* raw cqe->flags (IORING_CQE_F_MORE, ...) */
} berth_cqe_msg_t;

/* Inside a turn: an SQE on the current worker's ring. Never NULL (the ring
 * is flushed to make room). Prepare it, then call berth_ring_submit. */
struct io_uring_sqe *berth_ring_sqe(berth_actor_t *self);
/* Inside a turn: ties the prepared sqe to op (user_data), sets op->owner to
 * the running actor unless already set, and queues it; the worker submits
 * at the end of the turn. */
void berth_ring_submit(berth_actor_t *self, struct io_uring_sqe *sqe, berth_op_t *op);
/* Inside a turn: asks the kernel to cancel op (IORING_OP_ASYNC_CANCEL on the
 * ring the op was submitted on, via that worker if it is another one). The
 * op still completes (usually with -ECANCELED). */
void berth_ring_cancel(berth_actor_t *self, berth_op_t *op);

/* WAITID is missing from liburing 2.3: prepares it by hand (opcode 50,
 * kernel >= 6.7). `info` belongs to the op until completion. */
void berth_ring_prep_waitid(struct io_uring_sqe *sqe, int idtype, int id, void *info, int options);
/* Whether the running kernel supports IORING_OP_WAITID (probed once). */
int berth_ring_has_waitid(void);

#endif
