/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Engine microbenchmark: message throughput (pairs of actors ping-ponging,
 * and a fan-in of M senders to one receiver) and ping-pong round-trip
 * latency, for the berth engine and, in the same run, for a baseline of
 * threads with pthread mutex+condvar mailboxes. Prints a table with the
 * ratio berth/baseline. Usage: engine_bench [messages-per-workload].
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/atomic-internal.h"
#include "engine/sched.h"

enum { M_PING = BERTH_MSG_USER, M_FAN };

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- berth ---------------------------------------------------------------- */

struct pp {
    berth_msg_t hdr;
    uint64_t left;
};

struct pp_state {
    berth_handle_t peer;
    uint64_t *done;
};

static void pp_receive(berth_actor_t *self, berth_msg_t *msg)
{
    struct pp_state *st = berth_actor_state(self);
    struct pp *m = (struct pp *)msg;
    if (msg->type == M_FAN) {
        if (--*st->done == 0) /* the receiver's own counter: single consumer */
            ck_pr_store_64(&st->peer.v, 1);
        berth_msg_free(msg);
        return;
    }
    if (m->left == 0) {
        ck_pr_inc_64(st->done);
        berth_msg_free(msg);
        return;
    }
    m->left--;
    berth_send(st->peer, msg); /* the same message bounces: no allocation */
}
static const berth_actor_class_t pp_cls = {"pp", pp_receive, berth_free};

static uint64_t pairs_done;

/* `pairs` pairs each bounce one message `n_per_pair` times. Returns ns. */
static uint64_t berth_pingpong(unsigned pairs, uint64_t n_per_pair)
{
    pairs_done = 0;
    berth_handle_t *hs = berth_calloc(pairs * 2, sizeof(*hs));
    struct pp_state **sts = berth_calloc(pairs * 2, sizeof(*sts));
    for (unsigned i = 0; i < pairs * 2; i++) {
        sts[i] = berth_calloc(1, sizeof(**sts));
        sts[i]->done = &pairs_done;
        hs[i] = berth_actor_spawn(&pp_cls, sts[i]);
    }
    for (unsigned i = 0; i < pairs; i++) {
        sts[2 * i]->peer = hs[2 * i + 1];
        sts[2 * i + 1]->peer = hs[2 * i];
    }
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < pairs; i++) {
        struct pp *m = berth_msg_new(M_PING, sizeof(*m));
        m->left = n_per_pair;
        berth_send(hs[2 * i], &m->hdr);
    }
    while (ck_pr_load_64(&pairs_done) < pairs)
        usleep(50);
    uint64_t dt = now_ns() - t0;
    berth_free(hs);
    berth_free(sts);
    return dt;
}

struct fan_arg {
    berth_handle_t to;
    uint64_t n;
};

static void *fan_sender(void *p)
{
    struct fan_arg *a = p;
    for (uint64_t i = 0; i < a->n; i++)
        berth_send(a->to, berth_msg_new(M_FAN, sizeof(berth_msg_t)));
    return NULL;
}

static uint64_t berth_fanin(unsigned senders, uint64_t per_sender)
{
    uint64_t left = senders * per_sender;
    struct pp_state *st = berth_calloc(1, sizeof(*st));
    st->done = &left;
    st->peer.v = 0; /* reused as the finish flag */
    berth_handle_t h = berth_actor_spawn(&pp_cls, st);
    pthread_t *th = berth_calloc(senders, sizeof(*th));
    struct fan_arg a = {h, per_sender};
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < senders; i++)
        pthread_create(&th[i], NULL, fan_sender, &a);
    for (unsigned i = 0; i < senders; i++)
        pthread_join(th[i], NULL);
    while (ck_pr_load_64(&st->peer.v) == 0)
        usleep(50);
    uint64_t dt = now_ns() - t0;
    berth_free(th);
    return dt;
}

/* ---- baseline: threads with mutex+condvar mailboxes ------------------------ */

struct bq_node {
    struct bq_node *next;
    uint64_t left;
};

struct bq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct bq_node *head, *tail;
};

static void bq_init(struct bq *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->head = q->tail = NULL;
}

static void bq_push(struct bq *q, struct bq_node *n)
{
    n->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static struct bq_node *bq_pop(struct bq *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->head == NULL)
        pthread_cond_wait(&q->cv, &q->mu);
    struct bq_node *n = q->head;
    q->head = n->next;
    if (q->head == NULL)
        q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    return n;
}

struct bpp {
    struct bq *in, *out;
};

static void *bpp_thread(void *p)
{
    struct bpp *a = p;
    for (;;) {
        struct bq_node *n = bq_pop(a->in);
        if (n->left == 0) {
            bq_push(a->out, n); /* tell the peer to stop too, then stop */
            return NULL;
        }
        n->left--;
        bq_push(a->out, n);
        if (n->left == 0)
            return NULL;
    }
}

static uint64_t base_pingpong(unsigned pairs, uint64_t n_per_pair)
{
    struct bq *qs = berth_calloc(pairs * 2, sizeof(*qs));
    struct bpp *args = berth_calloc(pairs * 2, sizeof(*args));
    pthread_t *th = berth_calloc(pairs * 2, sizeof(*th));
    struct bq_node *nodes = berth_calloc(pairs, sizeof(*nodes));
    for (unsigned i = 0; i < pairs * 2; i++)
        bq_init(&qs[i]);
    for (unsigned i = 0; i < pairs; i++) {
        args[2 * i] = (struct bpp){&qs[2 * i], &qs[2 * i + 1]};
        args[2 * i + 1] = (struct bpp){&qs[2 * i + 1], &qs[2 * i]};
    }
    for (unsigned i = 0; i < pairs * 2; i++)
        pthread_create(&th[i], NULL, bpp_thread, &args[i]);
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < pairs; i++) {
        nodes[i].left = n_per_pair;
        bq_push(&qs[2 * i], &nodes[i]);
    }
    for (unsigned i = 0; i < pairs * 2; i++)
        pthread_join(th[i], NULL);
    uint64_t dt = now_ns() - t0;
    berth_free(qs);
    berth_free(args);
    berth_free(th);
    berth_free(nodes);
    return dt;
}

struct bfan {
    struct bq *q;
    uint64_t n;
};

static void *bfan_sender(void *p)
{
    struct bfan *a = p;
    for (uint64_t i = 0; i < a->n; i++)
        bq_push(a->q, berth_calloc(1, sizeof(struct bq_node)));
    return NULL;
}

static uint64_t base_fanin(unsigned senders, uint64_t per_sender)
{
    struct bq q;
    bq_init(&q);
    pthread_t *th = berth_calloc(senders, sizeof(*th));
    struct bfan a = {&q, per_sender};
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < senders; i++)
        pthread_create(&th[i], NULL, bfan_sender, &a);
    for (uint64_t i = 0; i < senders * per_sender; i++)
        berth_free(bq_pop(&q));
    for (unsigned i = 0; i < senders; i++)
        pthread_join(th[i], NULL);
    uint64_t dt = now_ns() - t0;
    berth_free(th);
    return dt;
}

/* ---- report ------------------------------------------------------------------ */

static void row(const char *name, const char *unit, double berth, double base, bool higher_better)
{
    printf("%-34s %14.1f %14.1f %10.2fx  %s\n", name, berth, base, berth / base,
           higher_better ? "(higher is better)" : "(lower is better)");
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 200000;
    if (n < 1000)
        n = 1000;
    berth_engine_config_t cfg = {0};
    berth_err_t err = NULL;
    if (berth_engine_start(&cfg, &err) < 0) {
        fprintf(stderr, "engine_bench: %s\n", err->msg);
        return 1;
    }
    unsigned workers = berth_engine_workers();
    unsigned pairs = workers * 4;
    unsigned senders = workers * 2;

    uint64_t b_lat = berth_pingpong(1, n / 4);
    uint64_t b_pp = berth_pingpong(pairs, n / pairs);
    uint64_t b_fan = berth_fanin(senders, n / senders);
    berth_engine_stop();
    berth_engine_join();
    berth_engine_shutdown();

    uint64_t c_lat = base_pingpong(1, n / 4);
    uint64_t c_pp = base_pingpong(pairs, n / pairs);
    uint64_t c_fan = base_fanin(senders, n / senders);

    printf("engine_bench: %u workers, %llu messages per workload\n", workers,
           (unsigned long long)n);
    printf("%-34s %14s %14s %11s\n", "workload", "berth", "mutex+condvar", "ratio");
    double msgs = (double)(pairs * (n / pairs));
    row("ping-pong pairs (msgs/s)", "msg/s", msgs / (b_pp / 1e9), msgs / (c_pp / 1e9), true);
    msgs = (double)(senders * (n / senders));
    char name[64];
    snprintf(name, sizeof(name), "fan-in %u senders (msgs/s)", senders);
    row(name, "msg/s", msgs / (b_fan / 1e9), msgs / (c_fan / 1e9), true);
    /* one pair, one message in flight: each hop is one send + one turn */
    double hops = (double)(n / 4);
    row("ping-pong round trip (ns)", "ns", 2.0 * b_lat / hops, 2.0 * c_lat / hops, false);
    return 0;
}
