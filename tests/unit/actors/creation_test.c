// SPDX-License-Identifier: Apache-2.0
/*
 * The creation engine (actors/creation.c) with fake steps, in the engine's
 * deterministic mode: steps and undo entries that end on timers, so every
 * scenario runs in virtual time and replays with its seed (BERTH_SEED).
 *
 * The owner is a test actor with a class of three steps (A and B make
 * things, C makes none) and two undo entries, newest first, plus two routes:
 * a status that is answered at once and a stop and a remove that wait while
 * the actor is busy. The manager is a test actor that answers the release
 * with the goodbye, as pods.c and containers.c do. Calls are made without a
 * socket (io/grpc-internal.h): their answers arrive at the client actor.
 * The checks: the order of steps and undo, what each request is answered,
 * when, and that the name is released exactly when it must be.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "actors/creation.h"
#include "actors/cri.h"
#include "actors/msgtypes.h"
#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/grpc-internal.h"
#include "io/grpc.h"
#include "tests/unit/check.h"

#define MS ((uint64_t)1000000)

enum {
    M_STEP_DONE = BERTH_MSG_USER + 500, /* owner's timer: the running step ends */
    M_UNDO_DONE,                        /* owner's timer: an undo entry ends */
    M_SEND,                             /* owner's timer: a planned request arrives */
    M_BEGIN,                            /* to the owner: first turn */
    M_GONE,                             /* owner -> manager: released */
};

enum { MADE_A = 1, MADE_B = 2 };

/* ---- the scenario --------------------------------------------------------------- */

typedef struct plan {
    uint64_t at;
    const char *method; /* "CreateContainer", "ContainerStatus", "StopContainer", ... */
    uint64_t deadline;  /* from its arrival; 0: none */
} plan_t;

static struct scen {
    uint64_t budget;
    bool fail_b;   /* step B ends with an error (after making its thing) */
    bool restored; /* an interrupted creation found after a restart */
    uint64_t window;
    plan_t plan[8];
    int nplan;
} sc;

#define MAXCALLS 16
static struct ans {
    int code, answers;
    uint64_t at;
    char text[256];
    char method[32];
} ans[MAXCALLS];
static int ncalls;

static char trace[512]; /* steps and undo entries in the order they ran */
static int published_listed, released;
static uint64_t released_at;
static berth_handle_t client_h, owner_h, mgr_h;

static void note(const char *what)
{
    strncat(trace, what, sizeof(trace) - strlen(trace) - 1);
}

/* ---- the owner ------------------------------------------------------------------------ */

typedef struct owner {
    berth_creation_t cr;
    int step; /* the running step, for its completion */
    unsigned undoing;
} owner_t;

static void run_after(berth_actor_t *self, uint64_t ns, uint32_t type)
{
    berth_timer_after(self, ns, berth_msg_new(type, sizeof(berth_msg_t)));
}

static void step_a(berth_actor_t *self, void *owner)
{
    ((owner_t *)owner)->step = 'A';
    note("A");
    run_after(self, 100 * MS, M_STEP_DONE);
}

static void step_b(berth_actor_t *self, void *owner)
{
    ((owner_t *)owner)->step = 'B';
    note("B");
    run_after(self, 200 * MS, M_STEP_DONE);
}

static void step_c(berth_actor_t *self, void *owner)
{
    ((owner_t *)owner)->step = 'C';
    note("C");
    run_after(self, 50 * MS, M_STEP_DONE);
}

static const berth_creation_step_t steps[] = {
        {"step A", NULL, step_a},
        {"step B", NULL, step_b},
        {"step C", NULL, step_c},
};

static void on_step_done(berth_actor_t *self, owner_t *o)
{
    if (o->step == 'A')
        o->cr.made |= MADE_A;
    if (o->step == 'B')
        o->cr.made |= MADE_B;
    if (o->step == 'B' && sc.fail_b) {
        berth_err_t err = NULL;
        berth_err_make(&err, EIO, BERTH_ERR_UNKNOWN, "step B: the disk said no");
        berth_creation_fail(self, &o->cr, err);
        return;
    }
    berth_creation_next(self, &o->cr);
}

static void undo_a(berth_actor_t *self, void *owner, bool full)
{
    (void)full;
    ((owner_t *)owner)->undoing = MADE_A;
    note("a");
    run_after(self, 10 * MS, M_UNDO_DONE);
}

static void undo_b(berth_actor_t *self, void *owner, bool full)
{
    (void)full;
    ((owner_t *)owner)->undoing = MADE_B;
    note("b");
    run_after(self, 10 * MS, M_UNDO_DONE);
}

static const berth_creation_undo_t undo[] = {
        {MADE_B, undo_b},
        {MADE_A, undo_a},
};

static void on_status(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    (void)self;
    owner_t *o = owner;
    berth_grpc_finish(rm->call, BERTH_GRPC_OK, o->cr.resv.stage);
    berth_msg_free(&rm->hdr);
}

static void on_stop(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    (void)self;
    (void)owner;
    berth_grpc_reply(rm->call, "", 0);
    berth_msg_free(&rm->hdr);
}

static void on_remove(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    owner_t *o = owner;
    berth_creation_wait(&o->cr, rm);
    berth_creation_remove(self, &o->cr);
}

static const berth_creation_route_t route_table[] = {
        {"ContainerStatus", false, on_status},
        {"StopContainer", true, on_stop},
        {"RemoveContainer", true, on_remove},
};
static berth_cri_routes_t routes = BERTH_CRI_ROUTES(route_table);

static void publish(void *owner)
{
    owner_t *o = owner;
    if (berth_creation_listed(&o->cr))
        published_listed++;
}

static const berth_creation_class_t test_class = {
        .kind = "container",
        .rpc = "CreateContainer",
        BERTH_CREATION_TABLES(steps, undo, &routes),
        .gone_type = M_GONE,
        .reply = &runtime__v1__create_container_response__descriptor,
        .publish = publish,
};

static void send_planned(berth_actor_t *self, const plan_t *p)
{
    (void)self;
    int sid = ++ncalls;
    struct ans *a = &ans[sid];
    snprintf(a->method, sizeof(a->method), "%s", p->method);
    uint64_t deadline = p->deadline ? berth_now_ns() + p->deadline : 0;
    char path[96];
    snprintf(path, sizeof(path), "/runtime.v1.RuntimeService/%s", p->method);
    Runtime__V1__ContainerStatusRequest empty = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
    berth_cri_req_msg_t *rm = berth_cri_req_new(path, &empty.base);
    rm->call = berth_grpc_call_new(client_h, sid, path, deadline, owner_h);
    rm->deadline_ns = deadline;
    berth_send(owner_h, &rm->hdr);
}

typedef struct plan_msg {
    berth_msg_t hdr;
    int i;
} plan_msg_t;

static void owner_receive(berth_actor_t *self, berth_msg_t *msg)
{
    owner_t *o = berth_actor_state(self);
    switch (msg->type) {
    case M_BEGIN:
        for (int i = 0; i < sc.nplan; i++) {
            plan_msg_t *p = berth_msg_new(M_SEND, sizeof(*p));
            p->i = i;
            berth_timer_after(self, sc.plan[i].at + 1, &p->hdr);
        }
        if (sc.restored)
            berth_creation_undo_restored(self, &o->cr);
        else
            berth_creation_begin(self, &o->cr);
        break;
    case M_SEND:
        send_planned(self, &sc.plan[((plan_msg_t *)msg)->i]);
        break;
    case M_STEP_DONE:
        on_step_done(self, o);
        break;
    case M_UNDO_DONE:
        berth_creation_undone(self, &o->cr, o->undoing);
        break;
    default:
        if (berth_creation_on_msg(self, &o->cr, msg))
            return;
        break;
    }
    berth_msg_free(msg);
}

static void owner_fini(void *state)
{
    owner_t *o = state;
    berth_creation_fini(&o->cr);
    berth_free(o);
}

static const berth_actor_class_t owner_class = {"test-owner", owner_receive, owner_fini};

/* ---- the manager and the client ------------------------------------------------------- */

static void mgr_receive(berth_actor_t *self, berth_msg_t *msg)
{
    (void)self;
    if (msg->type == M_GONE) {
        released++;
        released_at = berth_now_ns();
        berth_send(((berth_creation_gone_msg_t *)msg)->actor,
                   berth_msg_new(BERTH_MSG_CREATION_BYE, sizeof(berth_msg_t)));
    } else if (msg->type == BERTH_MSG_CRI_REQUEST) {
        /* a request the owner gave back while releasing */
        berth_cri_fail((berth_cri_req_msg_t *)msg, BERTH_ERR_UNAVAILABLE, "released");
        return;
    }
    berth_msg_free(msg);
}

static void client_receive(berth_actor_t *self, berth_msg_t *msg)
{
    (void)self;
    if (msg->type == BERTH_MSG_GRPC_OUT) {
        grpc_out_msg_t *m = (grpc_out_msg_t *)msg;
        struct ans *a = &ans[m->call->stream_id];
        if (a->answers++ == 0) {
            a->code = m->code;
            a->at = berth_now_ns();
            snprintf(a->text, sizeof(a->text), "%s", m->text ? m->text : "");
        }
    }
    berth_msg_free(msg);
}

static const berth_actor_class_t mgr_class = {"test-mgr", mgr_receive, NULL};
static const berth_actor_class_t client_class = {"test-client", client_receive, NULL};

/* Runs the scenario in sc from a fresh engine; times are from the start. */
static uint64_t run(void)
{
    memset(ans, 0, sizeof(ans));
    ncalls = 0;
    trace[0] = '\0';
    published_listed = released = 0;
    released_at = 0;
    berth_err_t err = NULL;
    berth_engine_config_t cfg = {.deterministic = true, .seed = 11};
    if (berth_engine_start(&cfg, &err) < 0) {
        check(false, "engine starts: %s", err->msg);
        return 0;
    }
    uint64_t t0 = berth_now_ns();
    client_h = berth_actor_spawn(&client_class, NULL);
    mgr_h = berth_actor_spawn(&mgr_class, NULL);
    owner_t *o = berth_calloc(1, sizeof(*o));
    owner_h = berth_actor_reserve();
    berth_creation_init(&o->cr, &test_class, o, mgr_h, "ctr-1", "k8s_c_pod_ns_uid_0", 1000 * MS,
                        sc.window ? sc.window : 600000 * MS, sc.budget);
    if (sc.restored) {
        o->cr.made = MADE_A | MADE_B;
        o->cr.phase = BERTH_CREATION_UNDOING;
    }
    berth_actor_start(owner_h, &owner_class, o);
    berth_send(owner_h, berth_msg_new(M_BEGIN, sizeof(berth_msg_t)));
    berth_engine_run();
    if (released_at)
        released_at -= t0;
    for (int i = 1; i <= ncalls; i++)
        ans[i].at = ans[i].answers ? ans[i].at - t0 : 0;
    berth_engine_shutdown();
    return t0;
}

static void plan(uint64_t at, const char *method, uint64_t deadline)
{
    sc.plan[sc.nplan++] = (plan_t){at, method, deadline};
}

int main(void)
{
    /* 1. success: A, B, C in order; the first request gets the ID when C ends
     * (350 ms); a status is answered at once with the stage; a stop waits
     * for the creation and runs right after it. */
    memset(&sc, 0, sizeof(sc));
    plan(0, "CreateContainer", 0);
    plan(120 * MS, "ContainerStatus", 0);
    plan(130 * MS, "StopContainer", 0);
    run();
    check(strcmp(trace, "ABC") == 0, "steps run in order (%s)", trace);
    check(ans[1].code == BERTH_GRPC_OK && ans[1].at >= 350 * MS && ans[1].at < 352 * MS,
          "the creation's result reaches the waiting request when the last step ends (%.0f ms)",
          (double)ans[1].at / MS);
    check(ans[2].code == BERTH_GRPC_OK && strcmp(ans[2].text, "step B") == 0 &&
                  ans[2].at < 122 * MS,
          "a status is answered at once, naming the stage (\"%s\")", ans[2].text);
    check(ans[3].answers == 1 && ans[3].at >= 350 * MS && ans[3].at < 352 * MS,
          "a stop sent mid-creation waits, then runs when the creation ends (%.0f ms)",
          (double)ans[3].at / MS);
    check(published_listed >= 1 && released == 0, "delivered: listed, the name kept");

    /* 2. failure in B, after B made its thing: undo runs newest first (b, a),
     * then the waiter gets the cause and the name is released. */
    memset(&sc, 0, sizeof(sc));
    sc.fail_b = true;
    plan(0, "CreateContainer", 0);
    run();
    check(strcmp(trace, "ABba") == 0, "a failure undoes what was made, newest first (%s)", trace);
    check(ans[1].code == BERTH_GRPC_UNKNOWN && strstr(ans[1].text, "the disk said no") != NULL &&
                  ans[1].at >= 320 * MS && ans[1].at < 322 * MS,
          "the waiter gets the real cause once the undo is done (%s)", ans[1].text);
    check(released == 1 && published_listed == 0,
          "a failure handed over releases the name; it was never listed");

    /* 3. the budget passes during B (150 ms): B finishes (it cannot be
     * interrupted), C is not started, everything is undone, and the waiter
     * learns the budget and the stage. */
    memset(&sc, 0, sizeof(sc));
    sc.budget = 150 * MS;
    plan(0, "CreateContainer", 0);
    run();
    check(strcmp(trace, "ABba") == 0, "over budget: no step after the one running (%s)", trace);
    check(ans[1].code == BERTH_GRPC_DEADLINE_EXCEEDED && strstr(ans[1].text, "budget") != NULL &&
                  strstr(ans[1].text, "step B") != NULL,
          "the waiter gets DEADLINE_EXCEEDED naming the budget and the stage (%s)", ans[1].text);

    /* 4. nobody waits when it ends: the result is stashed and handed at once
     * to the next request; a remove then undoes it all and answers. */
    memset(&sc, 0, sizeof(sc));
    plan(0, "CreateContainer", 100 * MS);
    plan(500 * MS, "CreateContainer", 2000 * MS);
    plan(600 * MS, "RemoveContainer", 0);
    run();
    check(ans[1].code == BERTH_GRPC_DEADLINE_EXCEEDED && ans[1].at < 100 * MS,
          "a request whose deadline comes first is answered DEADLINE_EXCEEDED before it");
    check(ans[2].code == BERTH_GRPC_OK && ans[2].at < 502 * MS,
          "the stashed result goes at once to the next request (%.0f ms)", (double)ans[2].at / MS);
    check(strcmp(trace, "ABCba") == 0 && ans[3].code == BERTH_GRPC_OK && ans[3].at >= 620 * MS &&
                  released == 1,
          "a remove undoes everything newest first, then answers and releases (%s, %.0f ms)", trace,
          (double)ans[3].at / MS);

    /* 5. a stash nobody collects expires: undo, release. */
    memset(&sc, 0, sizeof(sc));
    sc.window = 1000 * MS;
    plan(0, "CreateContainer", 100 * MS);
    run();
    check(strcmp(trace, "ABCba") == 0 && released == 1 && released_at >= 1350 * MS &&
                  released_at < 1400 * MS,
          "an untaken stash expires after the window: undone and released (%.0f ms)",
          (double)released_at / MS);

    /* 6. an interrupted creation found after a restart: undone and
     * released; a retry that arrives meanwhile is not left hanging. */
    memset(&sc, 0, sizeof(sc));
    sc.restored = true;
    plan(5 * MS, "CreateContainer", 0);
    run();
    check(strcmp(trace, "ba") == 0 && released == 1 && released_at >= 20 * MS,
          "a restored interrupted creation is undone newest first and released (%s)", trace);
    check(ans[1].answers == 1 && ans[1].code == BERTH_GRPC_UNAVAILABLE,
          "a request during that undo is answered UNAVAILABLE (%s)", ans[1].text);

    /* 7. a method the actor does not route: UNIMPLEMENTED, naming it. */
    memset(&sc, 0, sizeof(sc));
    plan(0, "CreateContainer", 0);
    plan(400 * MS, "ExecSync", 0);
    run();
    check(ans[2].code == BERTH_GRPC_UNIMPLEMENTED && strstr(ans[2].text, "ExecSync") != NULL,
          "an unrouted method is UNIMPLEMENTED naming it (%s)", ans[2].text);

    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
