/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Threaded-mode tests of actors: per-sender ordering from several threads,
 * no lost or duplicated message with 10,000 actors x 100 messages, stealing
 * of a flooded worker's actors, stale handles (-ESRCH, message freed), exit
 * semantics (fini once, remaining mail freed), senders racing an exit, and
 * the actor dump. Runs 4 workers even on 2 cores.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "tap.h"

#include "engine/atomic-internal.h"

enum { M_SEQ = BERTH_MSG_USER, M_KICK, M_DATA, M_SPAWN, M_BUSY, M_BLOCK, M_EXIT, M_X };

struct seq_msg {
    berth_msg_t hdr;
    uint32_t sender;
    uint32_t seq;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool wait_for(uint64_t *counter, uint64_t want, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    while (ck_pr_load_64(counter) < want) {
        if (now_ms() > end)
            return false;
        usleep(500);
    }
    return true;
}

/* ---- per-sender ordering ---- */

#define ORDER_SENDERS 4
#define ORDER_MSGS 20000

struct order_state {
    uint32_t next[ORDER_SENDERS];
    uint64_t bad;
};
static uint64_t order_got;

static void order_receive(berth_actor_t *self, berth_msg_t *msg)
{
    struct order_state *st = berth_actor_state(self);
    struct seq_msg *m = (struct seq_msg *)msg;
    if (m->seq != st->next[m->sender])
        st->bad++;
    st->next[m->sender] = m->seq + 1;
    berth_msg_free(msg);
    ck_pr_inc_64(&order_got);
}
static const berth_actor_class_t order_cls = {"order", order_receive, NULL};

struct sender_arg {
    berth_handle_t to;
    uint32_t id;
};

static void *order_sender(void *p)
{
    struct sender_arg *a = p;
    for (uint32_t i = 0; i < ORDER_MSGS; i++) {
        struct seq_msg *m = berth_msg_new(M_SEQ, sizeof(*m));
        m->sender = a->id;
        m->seq = i;
        berth_send(a->to, &m->hdr);
    }
    return NULL;
}

/* ---- 10,000 x 100 ---- */

#ifdef __SANITIZE_THREAD__
#define MANY_ACTORS 2000 /* TSan runs ~20x slower */
#else
#define MANY_ACTORS 10000
#endif
#define MANY_MSGS 100

static berth_handle_t many[MANY_ACTORS];
static uint8_t *many_seen; /* [src * MANY_MSGS + seq], atomic bytes */
static uint64_t many_got, many_dup;
static int many_workers_seen[64];

static void many_receive(berth_actor_t *self, berth_msg_t *msg)
{
    uintptr_t me = (uintptr_t)berth_actor_state(self);
    if (msg->type == M_KICK) {
        uint64_t x = me * 2654435761u + 1;
        for (uint32_t i = 0; i < MANY_MSGS; i++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            struct seq_msg *m = berth_msg_new(M_DATA, sizeof(*m));
            m->sender = (uint32_t)me;
            m->seq = i;
            berth_send(many[(x >> 33) % MANY_ACTORS], &m->hdr);
        }
    } else {
        struct seq_msg *m = (struct seq_msg *)msg;
        uint8_t *b = &many_seen[(size_t)m->sender * MANY_MSGS + m->seq];
        if (ck_pr_faa_8(b, 1) != 0)
            ck_pr_inc_64(&many_dup);
        ck_pr_inc_64(&many_got);
    }
    int w = berth_engine_current_worker();
    if (w >= 0 && w < 64)
        ck_pr_store_int(&many_workers_seen[w], 1);
    berth_msg_free(msg);
}
static const berth_actor_class_t many_cls = {"many", many_receive, NULL};

/* ---- stealing ---- */

#define BUSY_ACTORS 48
static int busy_worker[BUSY_ACTORS];
static int spawner_worker = -1;
static uint64_t busy_done;

static void busy_receive(berth_actor_t *self, berth_msg_t *msg)
{
    uintptr_t id = (uintptr_t)berth_actor_state(self);
    uint64_t end = now_ms() + 3;
    while (now_ms() < end)
        ; /* deliberately hog the worker */
    busy_worker[id] = berth_engine_current_worker();
    berth_msg_free(msg);
    ck_pr_inc_64(&busy_done);
}
static const berth_actor_class_t busy_cls = {"busy", busy_receive, NULL};

static void spawner_receive(berth_actor_t *self, berth_msg_t *msg)
{
    spawner_worker = berth_engine_current_worker();
    for (uintptr_t i = 0; i < BUSY_ACTORS; i++) {
        berth_handle_t h = berth_actor_spawn(&busy_cls, (void *)i);
        berth_send(h, berth_msg_new(M_BUSY, sizeof(berth_msg_t)));
    }
    berth_msg_free(msg);
    ck_pr_inc_64(&busy_done);
}
static const berth_actor_class_t spawner_cls = {"spawner", spawner_receive, NULL};

/* ---- exit and stale handles ---- */

static uint64_t freed, fini_calls, x_received, blocker_go, exited;

static void counting_free(berth_msg_t *m)
{
    ck_pr_inc_64(&freed);
    berth_free(m);
}

static berth_msg_t *counted_msg(uint32_t type)
{
    berth_msg_t *m = berth_msg_new(type, sizeof(*m));
    m->free = counting_free;
    return m;
}

static void exiter_receive(berth_actor_t *self, berth_msg_t *msg)
{
    switch (msg->type) {
    case M_BLOCK:
        /* Hold the turn until the test has queued everything behind us. */
        while (!ck_pr_load_64(&blocker_go))
            usleep(100);
        break;
    case M_EXIT:
        berth_actor_exit(self);
        ck_pr_inc_64(&exited);
        /* The handle is stale at once, even for ourselves. */
        if (berth_send(berth_actor_self(self), counted_msg(M_X)) != -ESRCH)
            ck_pr_inc_64(&x_received);
        break;
    case M_X:
        ck_pr_inc_64(&x_received);
        break;
    }
    berth_msg_free(msg);
}

static void exiter_fini(void *state)
{
    ck_pr_inc_64(&fini_calls);
}
static const berth_actor_class_t exiter_cls = {"exiter", exiter_receive, exiter_fini};

/* ---- senders racing an exit ---- */

static uint64_t race_received, race_freed, race_sent, race_fini;

static void race_free(berth_msg_t *m)
{
    ck_pr_inc_64(&race_freed);
    berth_free(m);
}

static void race_receive(berth_actor_t *self, berth_msg_t *msg)
{
    if (msg->type == M_EXIT)
        berth_actor_exit(self);
    else
        ck_pr_inc_64(&race_received);
    msg->free = NULL; /* count only the frees the engine does */
    berth_msg_free(msg);
}

static void race_fini_fn(void *state)
{
    ck_pr_inc_64(&race_fini);
}
static const berth_actor_class_t race_cls = {"race", race_receive, race_fini_fn};

static void *race_sender(void *p)
{
    berth_handle_t to = *(berth_handle_t *)p;
    for (int i = 0; i < 200; i++) {
        berth_msg_t *m = berth_msg_new(M_X, sizeof(*m));
        m->free = race_free;
        ck_pr_inc_64(&race_sent);
        berth_send(to, m);
    }
    return NULL;
}

static void count_named(void *ctx, const char *name, uint64_t h, uint64_t depth)
{
    if (strcmp(name, "many") == 0)
        (*(uint64_t *)ctx)++;
}

/* ---- the actor dump while actors come and go ---- */

static uint64_t churn_fini;
static int churn_stop;

static void churn_receive(berth_actor_t *self, berth_msg_t *msg)
{
    if (msg->type == M_EXIT)
        berth_actor_exit(self);
    berth_msg_free(msg);
}
static void churn_fini_fn(void *state)
{
    ck_pr_inc_64(&churn_fini);
}
static const berth_actor_class_t churn_cls = {"churn", churn_receive, churn_fini_fn};

static void *churner(void *p)
{
    uint64_t *spawned = p;
    char label[32];
    while (!ck_pr_load_int(&churn_stop) && *spawned < 50000) {
        snprintf(label, sizeof(label), "churn-%llu", (unsigned long long)*spawned);
        berth_handle_t h = berth_actor_spawn_labeled(&churn_cls, NULL, label);
        berth_send(h, berth_msg_new(M_X, sizeof(berth_msg_t)));
        berth_send(h, berth_msg_new(M_EXIT, sizeof(berth_msg_t)));
        (*spawned)++;
    }
    return NULL;
}

struct churn_seen {
    uint64_t churn, bad;
};

static void check_info(void *ctx, const berth_actor_info_t *info)
{
    struct churn_seen *c = ctx;
    if (strcmp(info->kind, "churn") != 0)
        return;
    c->churn++;
    bool state_ok = strcmp(info->state, "running") == 0 || strcmp(info->state, "queued") == 0 ||
                    strcmp(info->state, "idle") == 0;
    if (strncmp(info->label, "churn-", 6) != 0 || !state_ok ||
        (strcmp(info->state, "running") == 0) != (info->worker >= 0) || info->depth > 2)
        c->bad++;
}

int main(void)
{
    tap_plan(16);
    berth_engine_config_t cfg = {.workers = 4};
    berth_err_t err = NULL;
    if (berth_engine_start(&cfg, &err) < 0) {
        printf("1..0 # SKIP engine start: %s\n", err->msg);
        return 77;
    }
    tap_ok(berth_engine_workers() == 4 && berth_engine_current_worker() == -1,
           "4 workers; the main thread is not one");

    /* per-sender ordering */
    struct order_state *ost = berth_calloc(1, sizeof(*ost));
    berth_handle_t oh = berth_actor_spawn(&order_cls, ost);
    pthread_t th[ORDER_SENDERS];
    struct sender_arg sa[ORDER_SENDERS];
    for (uint32_t i = 0; i < ORDER_SENDERS; i++) {
        sa[i] = (struct sender_arg){oh, i};
        pthread_create(&th[i], NULL, order_sender, &sa[i]);
    }
    for (int i = 0; i < ORDER_SENDERS; i++)
        pthread_join(th[i], NULL);
    bool all = wait_for(&order_got, ORDER_SENDERS * ORDER_MSGS, 15000);
    tap_ok(all && ck_pr_load_64(&ost->bad) == 0,
           "%d threads x %d messages to one actor arrive in per-sender order (got=%llu bad=%llu)",
           ORDER_SENDERS, ORDER_MSGS, (unsigned long long)ck_pr_load_64(&order_got),
           (unsigned long long)ost->bad);

    /* 10,000 x 100 */
    many_seen = berth_calloc((size_t)MANY_ACTORS * MANY_MSGS, 1);
    for (uintptr_t i = 0; i < MANY_ACTORS; i++)
        many[i] = berth_actor_spawn(&many_cls, (void *)i);
    for (int i = 0; i < MANY_ACTORS; i++)
        berth_send(many[i], berth_msg_new(M_KICK, sizeof(berth_msg_t)));
    all = wait_for(&many_got, (uint64_t)MANY_ACTORS * MANY_MSGS, 20000);
    usleep(20000); /* let any duplicate show up */
    size_t missing = 0;
    for (size_t i = 0; i < (size_t)MANY_ACTORS * MANY_MSGS; i++)
        missing += ck_pr_load_8(&many_seen[i]) != 1;
    tap_ok(all && missing == 0 && ck_pr_load_64(&many_dup) == 0 &&
                   ck_pr_load_64(&many_got) == (uint64_t)MANY_ACTORS * MANY_MSGS,
           "%d actors x 100 messages: none lost, none duplicated (got=%llu missing=%zu "
           "dup=%llu)",
           MANY_ACTORS, (unsigned long long)ck_pr_load_64(&many_got), missing,
           (unsigned long long)ck_pr_load_64(&many_dup));
    int nw = 0;
    for (int i = 0; i < 4; i++)
        nw += ck_pr_load_int(&many_workers_seen[i]);
    tap_ok(nw >= 2, "the load ran on %d of 4 workers", nw);

    uint64_t named = 0;
    berth_engine_foreach_actor(count_named, &named);
    tap_ok(named == MANY_ACTORS, "foreach_actor lists the live actors (%llu)",
           (unsigned long long)named);

    /* stealing */
    berth_handle_t sp = berth_actor_spawn(&spawner_cls, NULL);
    berth_send(sp, berth_msg_new(M_SPAWN, sizeof(berth_msg_t)));
    all = wait_for(&busy_done, BUSY_ACTORS + 1, 15000);
    int others = 0, onspawner = 0;
    for (int i = 0; i < BUSY_ACTORS; i++) {
        if (busy_worker[i] == spawner_worker)
            onspawner++;
        else if (busy_worker[i] >= 0)
            others++;
    }
    berth_engine_stats_t stats;
    berth_engine_get_stats(&stats);
    tap_ok(all && others > 0 && stats.steals > 0,
           "a flooded worker's actors are stolen: %d on the spawner's worker %d, %d elsewhere, "
           "steals=%llu",
           onspawner, spawner_worker, others, (unsigned long long)stats.steals);

    /* exit: remaining mail freed, handle stale, fini once */
    berth_handle_t eh = berth_actor_spawn(&exiter_cls, NULL);
    berth_send(eh, counted_msg(M_BLOCK));
    berth_send(eh, counted_msg(M_EXIT));
    for (int i = 0; i < 10; i++)
        berth_send(eh, counted_msg(M_X));
    ck_pr_store_64(&blocker_go, 1);
    all = wait_for(&fini_calls, 1, 5000);
    tap_ok(all && ck_pr_load_64(&exited) == 1 && ck_pr_load_64(&x_received) == 0,
           "exit mid-batch: later mail is not received and self-send fails");
    /* BLOCK, EXIT (freed by the handler), 10 X drained by the engine, one
     * self-send refused. */
    tap_ok(ck_pr_load_64(&freed) == 13, "remaining mail freed through its hook (%llu of 13)",
           (unsigned long long)freed);
    uint64_t before = ck_pr_load_64(&freed);
    int r = berth_send(eh, counted_msg(M_X));
    tap_ok(r == -ESRCH && ck_pr_load_64(&freed) == before + 1,
           "send to a stale handle fails with -ESRCH and frees the message");
    berth_handle_t nh = berth_actor_spawn(&exiter_cls, NULL);
    bool same_slot = (uint32_t)nh.v == (uint32_t)eh.v;
    r = berth_send(eh, counted_msg(M_X));
    tap_ok(r == -ESRCH && !berth_handle_eq(nh, eh),
           "slot reuse does not resurrect the old handle (slot reused: %s)",
           same_slot ? "yes" : "no");
    tap_ok(berth_send(BERTH_HANDLE_NONE, counted_msg(M_X)) == -ESRCH &&
                   berth_send((berth_handle_t){(UINT64_C(7) << 32) | 9999999}, counted_msg(M_X)) ==
                           -ESRCH,
           "zero and never-issued handles are refused");
    ck_pr_store_64(&exited, 0);
    berth_send(nh, counted_msg(M_EXIT));
    all = wait_for(&fini_calls, 2, 5000);
    tap_ok(all && ck_pr_load_64(&fini_calls) == 2, "fini runs once per actor");

    /* senders racing exits */
    int race_bad = 0;
    for (int round = 0; round < 300; round++) {
        berth_handle_t h = berth_actor_spawn(&race_cls, NULL);
        pthread_t rt[3];
        for (int i = 0; i < 3; i++)
            pthread_create(&rt[i], NULL, race_sender, &h);
        usleep(round % 3 == 0 ? 0 : 50);
        berth_send(h, berth_msg_new(M_EXIT, sizeof(berth_msg_t)));
        for (int i = 0; i < 3; i++)
            pthread_join(rt[i], NULL);
        if (!wait_for(&race_fini, (uint64_t)round + 1, 5000))
            race_bad++;
    }
    tap_ok(race_bad == 0 && ck_pr_load_64(&race_fini) == 300,
           "300 exits raced by 3 senders each: fini once each");
    tap_ok(ck_pr_load_64(&race_received) + ck_pr_load_64(&race_freed) == ck_pr_load_64(&race_sent),
           "every raced message was received or freed: %llu + %llu == %llu",
           (unsigned long long)race_received, (unsigned long long)race_freed,
           (unsigned long long)race_sent);

    /* dumps race spawns and exits: every actor read is whole (its label
     * and state consistent), none is freed under the reader */
    uint64_t spawned[2] = {0, 0};
    pthread_t ct[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&ct[i], NULL, churner, &spawned[i]);
    struct churn_seen cs = {0};
    for (int i = 0; i < 200; i++)
        berth_engine_foreach_actor_info(check_info, &cs);
    ck_pr_store_int(&churn_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(ct[i], NULL);
    bool gone = wait_for(&churn_fini, spawned[0] + spawned[1], 10000);
    tap_ok(cs.bad == 0 && gone,
           "200 dumps while %llu actors came and went: %llu seen, all whole, %llu inconsistent",
           (unsigned long long)(spawned[0] + spawned[1]), (unsigned long long)cs.churn,
           (unsigned long long)cs.bad);

    berth_engine_get_stats(&stats);
    tap_ok(stats.messages >= (uint64_t)MANY_ACTORS * MANY_MSGS && stats.turns > 0 &&
                   stats.actors_live >= MANY_ACTORS,
           "stats: turns=%llu messages=%llu live=%llu", (unsigned long long)stats.turns,
           (unsigned long long)stats.messages, (unsigned long long)stats.actors_live);
    berth_engine_stop();
    berth_engine_join();
    berth_engine_shutdown();
    berth_free(many_seen);
    return tap_done();
}
