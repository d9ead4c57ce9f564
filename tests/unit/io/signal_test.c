/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/signal: signals blocked before the engine starts arrive as messages to
 * their registered owner, can be re-routed, and the actor stops cleanly.
 * Threaded by default, deterministic with --deterministic.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/signal.h"
#include "tests/unit/check.h"

enum { MSG_GO = 300, MSG_B_GOT, MSG_POLL };

static bool deterministic;
static berth_handle_t sig_actor, a_handle, b_handle;
static struct {
    int a_usr1, a_usr2, b_usr1, a_other;
    pid_t sender;
    bool stopped;
    int polls;
} st;

typedef struct b_got {
    berth_msg_t hdr;
    int signo;
} b_got_t;

static void b_receive(berth_actor_t *self, berth_msg_t *msg)
{
    if (msg->type == BERTH_MSG_SIGNAL) {
        b_got_t *g = berth_msg_new(MSG_B_GOT, sizeof *g);
        g->signo = ((berth_signal_msg_t *)msg)->signo;
        berth_send(a_handle, &g->hdr);
    } else if (msg->type == MSG_GO) {
        berth_actor_exit(self);
    }
    berth_msg_free(msg);
}

static const berth_actor_class_t b_class = {.name = "signal-test-b", .receive = b_receive};

static void a_receive(berth_actor_t *self, berth_msg_t *msg)
{
    switch (msg->type) {
    case MSG_GO:
        kill(getpid(), SIGUSR1);
        break;
    case BERTH_MSG_SIGNAL: {
        berth_signal_msg_t *s = (berth_signal_msg_t *)msg;
        if (s->signo == SIGUSR1) {
            st.a_usr1++;
            st.sender = s->sender_pid;
            /* From now on SIGUSR1 belongs to B. An unrouted SIGHUP is
             * swallowed in between: it must neither kill us nor arrive. */
            berth_signal_route(sig_actor, SIGUSR1, b_handle);
            kill(getpid(), SIGHUP);
            kill(getpid(), SIGUSR1);
        } else if (s->signo == SIGUSR2) {
            st.a_usr2++;
            berth_signal_stop(sig_actor);
            berth_timer_after(self, 5 * 1000 * 1000, berth_msg_new(MSG_POLL, sizeof *msg));
        } else {
            st.a_other++;
        }
        break;
    }
    case MSG_B_GOT:
        if (((b_got_t *)msg)->signo == SIGUSR1)
            st.b_usr1++;
        kill(getpid(), SIGUSR2);
        break;
    case MSG_POLL:
        /* The signal actor is gone once a route to it fails. */
        if (berth_signal_route(sig_actor, SIGUSR1, BERTH_HANDLE_NONE) == -ESRCH) {
            st.stopped = true;
        } else if (++st.polls < 400) {
            berth_timer_after(self, 5 * 1000 * 1000, berth_msg_new(MSG_POLL, sizeof *msg));
            break;
        }
        berth_send(b_handle, berth_msg_new(MSG_GO, sizeof *msg));
        berth_actor_exit(self);
        if (!deterministic)
            berth_engine_stop();
        break;
    }
    berth_msg_free(msg);
}

static const berth_actor_class_t a_class = {.name = "signal-test-a", .receive = a_receive};

int main(int argc, char **argv)
{
    deterministic = argc > 1 && strcmp(argv[1], "--deterministic") == 0;
    alarm(60);
    printf("1..8\n");

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGHUP);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    check(berth_signal_block(&set, &err) == 0, "signals blocked before the engine starts");

    berth_engine_config_t cfg = {.workers = 2, .deterministic = deterministic};
    if (berth_engine_start(&cfg, &err) < 0) {
        printf("# engine: %s\n", err->msg);
        return 77;
    }
    a_handle = berth_actor_spawn(&a_class, NULL);
    b_handle = berth_actor_spawn(&b_class, NULL);

    berth_signal_route_t bad[] = {{SIGWINCH, a_handle}};
    BERTH_AUTO_ERR berth_err_t e1 = NULL;
    berth_handle_t unused;
    check(berth_signal_start(bad, 1, &unused, &e1) < 0 && e1->errnum == EINVAL,
          "watching a signal that is not blocked is refused");

    berth_signal_route_t routes[] = {
            {SIGUSR1, a_handle}, {SIGUSR2, a_handle}, {SIGHUP, BERTH_HANDLE_NONE}};
    check(berth_signal_start(routes, 3, &sig_actor, &err) == 0, "signal actor starts");
    berth_send(a_handle, berth_msg_new(MSG_GO, sizeof(berth_msg_t)));
    if (deterministic)
        berth_engine_run();
    else
        berth_engine_join();

    check(st.a_usr1 == 1, "SIGUSR1 from kill(getpid()) reaches its owner");
    check(st.sender == getpid(), "the message names the sender pid");
    check(st.b_usr1 == 1, "after re-routing, SIGUSR1 reaches the new owner only");
    check(st.a_usr2 >= 1 && st.a_other == 0, "SIGUSR2 arrives, unrouted SIGHUP is dropped");
    check(st.stopped, "berth_signal_stop ends the actor");
    berth_engine_shutdown();
    return nfail ? 1 : 0;
}
