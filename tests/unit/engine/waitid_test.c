/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IORING_OP_WAITID through berth_ring_prep_waitid: a child's exit status
 * arrives as a CQE message with the siginfo filled. Skips (77) on kernels
 * without the opcode.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/ring.h"
#include "engine/sched.h"
#include "tap.h"

enum { M_WAIT = BERTH_MSG_USER };

struct wstate {
    berth_op_t op;
    siginfo_t info;
    pid_t pid;
    int32_t res;
    int done;
};

static void w_receive(berth_actor_t *self, berth_msg_t *msg)
{
    struct wstate *st = berth_actor_state(self);
    if (msg->type == M_WAIT) {
        struct io_uring_sqe *sqe = berth_ring_sqe(self);
        berth_ring_prep_waitid(sqe, P_PID, st->pid, &st->info, WEXITED);
        berth_ring_submit(self, sqe, &st->op);
    } else if (msg->type == BERTH_MSG_CQE) {
        st->res = ((berth_cqe_msg_t *)msg)->res;
        st->done = 1;
    }
    berth_msg_free(msg);
}
static const berth_actor_class_t w_cls = {"waiter", w_receive, NULL};

int main(void)
{
    if (!berth_ring_has_waitid()) {
        printf("1..0 # SKIP kernel lacks IORING_OP_WAITID\n");
        return 77;
    }
    tap_plan(2);
    berth_engine_config_t cfg = {.deterministic = true, .seed = 1};
    berth_err_t err = NULL;
    if (berth_engine_start(&cfg, &err) < 0) {
        printf("# %s\n", err->msg);
        return 77;
    }
    struct wstate *st = berth_calloc(1, sizeof(*st));
    st->pid = fork();
    if (st->pid == 0) {
        usleep(20000);
        _exit(7);
    }
    berth_handle_t h = berth_actor_spawn(&w_cls, st);
    berth_send(h, berth_msg_new(M_WAIT, sizeof(berth_msg_t)));
    berth_engine_run();
    tap_ok(st->done && st->res == 0, "waitid completes as a CQE message (res=%d)", st->res);
    tap_ok(st->info.si_pid == st->pid && st->info.si_code == CLD_EXITED && st->info.si_status == 7,
           "siginfo carries the child's pid and exit status 7 (status=%d)", st->info.si_status);
    berth_engine_shutdown();
    berth_free(st);
    return tap_done();
}
