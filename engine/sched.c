/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler: workers with FIFO run queues that idle workers steal from,
 * the injection queue for threads that are not workers, sleeping in
 * submit-and-wait and waking through an eventfd, and the deterministic mode
 * that runs everything on the caller's thread with a seeded choice of the
 * next actor and virtual time. The only lock is a try-lock that keeps the
 * injection queue single-consumer; nothing here ever waits on it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/hist.h"
#include "engine/metrics.h"
#include "engine/engine-internal.h"
#include "engine/log.h"

struct berth_engine berth_eng = {
        .inject_lock = CK_SPINLOCK_FAS_INITIALIZER,
        .inject =
                {
                        .head = &berth_eng.inject.stub,
                        .tail = &berth_eng.inject.stub,
                },
};
__thread struct berth_worker *berth_tls_worker;
__thread berth_actor_t *berth_tls_actor;

#define DEFAULT_BATCH 64
#define DEFAULT_RING_ENTRIES 256
#define DET_START_NS UINT64_C(1000000000)
#define DET_WAIT_NS UINT64_C(10000000)

/* ---- PRNG ------------------------------------------------------ */

/* splitmix64: tiny, good enough to pick actors and victims, reproducible. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* ---- run queue ------------------------------------------------------------ */

static struct berth_deque_arr *deque_arr_new(uint64_t size, struct berth_deque_arr *retired)
{
    struct berth_deque_arr *a = berth_calloc(1, sizeof(*a) + size * sizeof(a->buf[0]));
    a->mask = size - 1;
    a->retired = retired;
    return a;
}

static void deque_init(struct berth_deque *d)
{
    d->top = 0;
    d->bottom = 0;
    d->arr = deque_arr_new(256, NULL);
}

static void deque_fini(struct berth_deque *d)
{
    struct berth_deque_arr *a = d->arr;
    while (a != NULL) {
        struct berth_deque_arr *r = a->retired;
        berth_free(a);
        a = r;
    }
    d->arr = NULL;
}

/* Owner only. Returns the queue length after the push. */
static uint64_t deque_push(struct berth_deque *d, berth_actor_t *x)
{
    uint64_t b = d->bottom; /* only we write bottom */
    /* A stale top only overestimates the length (and grows early). */
    uint64_t t = ck_pr_load_64(&d->top);
    struct berth_deque_arr *a = d->arr;
    if (b - t > a->mask) {
        /* Takers may still read the old array: it stays allocated (retired)
         * until shutdown. Growth doubles, so retired arrays cost < 1x. */
        struct berth_deque_arr *na = deque_arr_new((a->mask + 1) * 2, a);
        for (uint64_t i = t; i < b; i++)
            na->buf[i & na->mask] = ck_pr_load_ptr(&a->buf[i & a->mask]);
        /* Release: the copied slots are visible before the new array is. */
        ck_pr_fence_store();
        ck_pr_store_ptr(&d->arr, na);
        a = na;
    }
    ck_pr_store_ptr(&a->buf[b & a->mask], x);
    /* Release: the slot (and the array pointer) are written before a taker
     * can see the new bottom; pairs with the load fence in deque_take. */
    ck_pr_fence_store();
    ck_pr_store_64(&d->bottom, b + 1);
    return b + 1 - t;
}

/* Any thread: takes the oldest entry. Lock-free: a failed CAS means another
 * taker made progress. */
static berth_actor_t *deque_take(struct berth_deque *d)
{
    for (;;) {
        uint64_t t = ck_pr_load_64(&d->top);
        ck_pr_fence_load();
        uint64_t b = ck_pr_load_64(&d->bottom);
        if ((int64_t)(b - t) <= 0)
            return NULL;
        /* Acquire: pairs with deque_push's store fence, so the slot and the
         * array it lives in are the ones bottom was published after. The
         * owner never overwrites slot t while top <= t (it grows first). */
        ck_pr_fence_load();
        struct berth_deque_arr *a = ck_pr_load_ptr(&d->arr);
        berth_actor_t *x = ck_pr_load_ptr(&a->buf[t & a->mask]);
        /* Full barrier CAS: claims slot t; top only grows, so no ABA. */
        if (ck_pr_cas_64(&d->top, t, t + 1))
            return x;
        ck_pr_stall();
    }
}

static bool deque_nonempty(struct berth_deque *d)
{
    return (int64_t)(ck_pr_load_64(&d->bottom) - ck_pr_load_64(&d->top)) > 0;
}

/* ---- injection queue -------------------------------------------------------- */

static berth_actor_t *inject_pop(void)
{
    if (berth_mpsc_empty_hint(&berth_eng.inject))
        return NULL;
    /* Several workers consume this queue; the try-lock makes them one
     * consumer at a time without anyone waiting (a loser looks elsewhere). */
    if (!ck_spinlock_fas_trylock(&berth_eng.inject_lock))
        return NULL;
    berth_msg_t *m = berth_mpsc_pop_sc(&berth_eng.inject);
    ck_spinlock_fas_unlock(&berth_eng.inject_lock);
    return m ? BERTH_CONTAINER_OF(m, berth_actor_t, rq_link) : NULL;
}

/* ---- scheduling and wake-ups ------------------------------------------------ */

static void efd_poke(struct berth_worker *w)
{
    uint64_t one = 1;
    ssize_t r = write(w->efd, &one, sizeof(one));
    (void)r; /* EAGAIN means the counter is already non-zero: awake anyway */
}

bool berth_sched_push(berth_actor_t *a)
{
    struct berth_worker *w = berth_tls_worker;
    /* Plain: the actor is queued in one place only, and the push below
     * publishes this to the worker that takes it. */
    a->queued_ns = berth_hist_now();
    if (w != NULL && berth_eng.deterministic) {
        if (w->nrun == w->caprun) {
            w->caprun = w->caprun ? w->caprun * 2 : 64;
            w->runnable = berth_realloc(w->runnable, w->caprun * sizeof(*w->runnable));
        }
        w->runnable[w->nrun++] = a;
        return false;
    }
    if (w != NULL)
        /* More than one runnable actor here: another worker could help. */
        return deque_push(&w->rq, a) >= 2;
    berth_mpsc_push_mp(&berth_eng.inject, &a->rq_link);
    return true;
}

void berth_sched_wake(void)
{
    /* Full fence (Dekker with worker_sleep): our run-queue push is visible
     * before we read the sleepers' count, and a sleeper publishes its count
     * before it re-checks the queues. One of us sees the other. */
    ck_pr_fence_memory();
    if (ck_pr_load_int(&berth_eng.nsleeping) == 0)
        return;
    struct berth_worker *ws = ck_pr_load_ptr(&berth_eng.workers);
    if (ws == NULL)
        return;
    /* Rotate the first candidate so injected work spreads over sleepers.
     * Relaxed: any value will do. */
    static unsigned rr;
    unsigned start = ck_pr_faa_uint(&rr, 1);
    for (unsigned i = 0; i < berth_eng.nworkers; i++) {
        struct berth_worker *w = &ws[(start + i) % berth_eng.nworkers];
        /* The swap elects one waker per sleep, so one sleeper costs one
         * write(2). */
        if (ck_pr_load_int(&w->sleeping) && ck_pr_fas_int(&w->sleeping, 0)) {
            efd_poke(w);
            return;
        }
    }
}

void berth_worker_wake(struct berth_worker *w)
{
    ck_pr_fence_memory(); /* as in berth_sched_wake */
    if (ck_pr_load_int(&w->sleeping) && ck_pr_fas_int(&w->sleeping, 0))
        efd_poke(w);
}

void berth_worker_post(struct berth_worker *w, berth_msg_t *m)
{
    berth_mpsc_push_mp(&w->inbox, m);
    berth_worker_wake(w);
}

static void drain_inbox(struct berth_worker *w)
{
    berth_msg_t *m;
    while ((m = berth_mpsc_pop_sc(&w->inbox)) != NULL) {
        if (m->type == BERTH_MSG_TIMER_INTERNAL) {
            berth_timer_heap_insert(w, (struct berth_timer *)m);
        } else if (m->type == BERTH_MSG_CANCEL_INTERNAL) {
            berth_ring_issue_cancel(w, ((berth_cancel_req_t *)m)->op);
            berth_msg_free(m);
        } else {
            berth_msg_free(m);
        }
    }
}

/* ---- turns ------------------------------------------------------------------ */

/* The run-queue wait of every turn: how long a runnable actor waited for
 * a worker (CPU contention shows here first). */
static berth_hist_t *runq_hist(void)
{
    static berth_hist_t *h;
    /* Acquire/release: the histogram comes from the registry, which
     * published it already; any thread may cache the same pointer. */
    berth_hist_t *p = __atomic_load_n(&h, __ATOMIC_ACQUIRE);
    if (p == NULL) {
        p = berth_hist_get("engine run-queue wait");
        __atomic_store_n(&h, p, __ATOMIC_RELEASE);
    }
    return p;
}

/* The worker's series (docs/observability.md), made before it runs. */
static void worker_metrics(struct berth_worker *w)
{
    static const char *const lw[] = {"worker", NULL};
    char idx[16];
    snprintf(idx, sizeof(idx), "%u", w->index);
    w->m_busy = berth_metrics_series1(
            berth_metrics_family(&(berth_metric_desc_t){
                    .type = BERTH_METRIC_COUNTER,
                    .name = "berth_worker_busy_seconds_total",
                    .help = "Time each engine worker spent running actor turns.",
                    .labels = lw,
                    .scale = 1e-9}),
            idx);
    w->m_submits = berth_metrics_series1(
            berth_metrics_family(&(berth_metric_desc_t){
                    .type = BERTH_METRIC_COUNTER,
                    .name = "berth_uring_submit_calls_total",
                    .help = "io_uring_submit calls (system calls that hand SQEs to the kernel) "
                            "by worker.",
                    .labels = lw}),
            idx);
    w->m_sqes = berth_metrics_series1(
            berth_metrics_family(&(berth_metric_desc_t){
                    .type = BERTH_METRIC_COUNTER,
                    .name = "berth_uring_sqes_submitted_total",
                    .help = "io_uring submission queue entries handed to the kernel, by worker.",
                    .labels = lw}),
            idx);
}

static void run_turn(struct berth_worker *w, berth_actor_t *a)
{
    unsigned n = 0;
    uint64_t now = berth_hist_now();
    berth_hist_record(runq_hist(), now > a->queued_ns ? now - a->queued_ns : 0);
    berth_tls_actor = a;
    /* Relaxed: only actor dumps read it, and they report a snapshot. */
    ck_pr_store_int(&a->running_on, (int)w->index);
    while (n < berth_eng.batch) {
        berth_msg_t *m = berth_mpsc_pop_sc(&a->mbox);
        if (m == NULL)
            break;
        n++;
        if (m->type == BERTH_MSG_TIMER_INTERNAL)
            berth_timer_dispatch(a, (struct berth_timer *)m);
        else
            a->cls->receive(a, m);
        if (a->exiting)
            break;
    }
    berth_tls_actor = NULL;
    ck_pr_store_int(&a->running_on, -1);
    uint64_t end = berth_hist_now();
    berth_metric_add(w->m_busy, end > now ? end - now : 0);
    /* Relaxed stores: statistics and depth estimates, read racily. */
    ck_pr_store_64(&a->popped, a->popped + n);
    ck_pr_store_64(&w->st_turns, w->st_turns + 1);
    ck_pr_store_64(&w->st_messages, w->st_messages + n);
    if (a->exiting) {
        berth_actor_destroy(a);
        return;
    }
    /* A full batch goes to the back of the queue; otherwise try to go idle,
     * which fails (and keeps us queued) if mail arrived meanwhile. */
    if (n == berth_eng.batch || !berth_mpsc_markidle_sc(&a->mbox)) {
        if (berth_sched_push(a))
            berth_sched_wake();
    }
}

/* ---- threaded workers ------------------------------------------------------- */

static berth_actor_t *find_work(struct berth_worker *w)
{
    berth_actor_t *a;
    /* Now and then look at the injection queue first so a busy worker pool
     * cannot starve actors woken from outside. */
    if (++w->tick % 61 == 0 && (a = inject_pop()) != NULL)
        return a;
    if ((a = deque_take(&w->rq)) != NULL)
        return a;
    if ((a = inject_pop()) != NULL)
        return a;
    unsigned n = berth_eng.nworkers;
    unsigned start = (unsigned)(rng_next(&w->rng) % n);
    for (unsigned i = 0; i < n; i++) {
        struct berth_worker *v = &berth_eng.workers[(start + i) % n];
        if (v == w)
            continue;
        if ((a = deque_take(&v->rq)) != NULL) {
            ck_pr_store_64(&w->st_steals, w->st_steals + 1);
            return a;
        }
    }
    return NULL;
}

static bool have_work(struct berth_worker *w)
{
    if (io_uring_cq_ready(&w->ring) || !berth_mpsc_empty_hint(&w->inbox) ||
        !berth_mpsc_empty_hint(&berth_eng.inject))
        return true;
    for (unsigned i = 0; i < berth_eng.nworkers; i++)
        if (deque_nonempty(&berth_eng.workers[i].rq))
            return true;
    return false;
}

/* Workers' allocator counters reach heap reports through this merge; once a
 * second at most, before sleeping or every few thousand turns. */
static void stats_merge_maybe(struct berth_worker *w)
{
    uint64_t now = berth_clock_ns(CLOCK_MONOTONIC);
    if (now - w->stats_merged_ns >= 1000000000ull) {
        w->stats_merged_ns = now;
        berth_alloc_stats_merge();
    }
}

static void worker_sleep(struct berth_worker *w)
{
    stats_merge_maybe(w);
    ck_pr_store_int(&w->sleeping, 1);
    ck_pr_inc_int(&berth_eng.nsleeping);
    /* Full fence: pairs with the one in berth_sched_wake (see there). */
    ck_pr_fence_memory();
    if (!have_work(w) && !ck_pr_load_int(&berth_eng.stop)) {
        uint64_t next = berth_timer_next(w);
        uint64_t timeout = UINT64_MAX;
        if (next != UINT64_MAX) {
            uint64_t now = berth_clock_ns(CLOCK_MONOTONIC);
            timeout = next > now ? next - now : 0;
        }
        if (timeout != 0)
            berth_ring_wait(w, timeout);
    }
    ck_pr_fas_int(&w->sleeping, 0);
    ck_pr_dec_int(&berth_eng.nsleeping);
}

static void *worker_main(void *arg)
{
    struct berth_worker *w = arg;
    berth_tls_worker = w;
    /* Acquire (load fence): everything spawned before start is visible. */
    while (!ck_pr_load_int(&berth_eng.stop)) {
        berth_ring_reap(w);
        drain_inbox(w);
        if (w->nheap)
            berth_timer_fire_due(w, berth_clock_ns(CLOCK_MONOTONIC));
        berth_actor_t *a = find_work(w);
        if (a != NULL) {
            run_turn(w, a);
            berth_ring_flush(w);
            if ((w->tick & 4095) == 0)
                stats_merge_maybe(w);
            continue;
        }
        berth_ring_flush(w);
        worker_sleep(w);
    }
    berth_ring_flush(w);
    berth_tls_worker = NULL;
    return NULL;
}

/* ---- deterministic mode ------------------------------------------------------ */

uint64_t berth_engine_run_until(uint64_t deadline_ns, uint64_t max_turns)
{
    if (!berth_eng.started || !berth_eng.deterministic)
        return 0;
    struct berth_worker *w = &berth_eng.workers[0];
    struct berth_worker *saved = berth_tls_worker;
    berth_tls_worker = w;
    uint64_t turns = 0;
    for (;;) {
        if (ck_pr_load_int(&berth_eng.stop)) {
            ck_pr_store_int(&berth_eng.stop, 0);
            break;
        }
        if (max_turns && turns >= max_turns)
            break;
        berth_ring_reap(w);
        drain_inbox(w);
        berth_actor_t *a;
        while ((a = inject_pop()) != NULL)
            berth_sched_push(a);
        berth_timer_fire_due(w, berth_eng.vnow);
        if (w->nrun > 0) {
            size_t i = (size_t)(rng_next(&w->rng) % w->nrun);
            a = w->runnable[i];
            w->runnable[i] = w->runnable[--w->nrun];
            run_turn(w, a);
            berth_ring_flush(w);
            turns++;
            continue;
        }
        berth_ring_flush(w);
        uint64_t next = berth_timer_next(w);
        if (w->inflight > 0) {
            /* Real I/O in flight: wait for it. With timers pending, wait
             * only briefly so a timer meant to cancel the op can fire. */
            ck_pr_store_int(&w->sleeping, 1);
            ck_pr_inc_int(&berth_eng.nsleeping);
            ck_pr_fence_memory();
            if (!have_work(w))
                berth_ring_wait(w, next == UINT64_MAX ? UINT64_MAX : DET_WAIT_NS);
            ck_pr_fas_int(&w->sleeping, 0);
            ck_pr_dec_int(&berth_eng.nsleeping);
            if (have_work(w))
                continue;
        }
        if (next != UINT64_MAX) {
            if (next > deadline_ns)
                break;
            if (next > berth_eng.vnow)
                ck_pr_store_64(&berth_eng.vnow, next); /* jump virtual time */
            continue;
        }
        if (!berth_mpsc_empty_hint(&berth_eng.inject) || !berth_mpsc_empty_hint(&w->inbox))
            continue;
        break;
    }
    berth_ring_flush(w);
    berth_tls_worker = saved;
    return turns;
}

uint64_t berth_engine_run(void)
{
    return berth_engine_run_until(UINT64_MAX, 0);
}

uint64_t berth_engine_seed(void)
{
    return berth_eng.seed;
}

/* ---- lifecycle ---------------------------------------------------------------- */

static void workers_free(void)
{
    struct berth_worker *ws = berth_eng.workers;
    if (ws == NULL)
        return;
    for (unsigned i = 0; i < berth_eng.nworkers; i++) {
        struct berth_worker *w = &ws[i];
        berth_ring_worker_fini(w);
        berth_msg_t *m;
        while ((m = berth_mpsc_pop_sc(&w->inbox)) != NULL)
            berth_msg_free(m);
        berth_timer_heap_free(w);
        deque_fini(&w->rq);
        berth_free(w->runnable);
        if (w->efd >= 0)
            close(w->efd);
    }
    berth_free(ws);
    berth_eng.workers = NULL;
}

int berth_engine_start(const berth_engine_config_t *cfg, berth_err_t *err)
{
    if (berth_eng.started)
        return berth_err_make(err, EBUSY, BERTH_ERR_PRECONDITION, "engine: already started");
    berth_engine_config_t def = {0};
    if (cfg == NULL)
        cfg = &def;
    unsigned n = cfg->workers;
    if (cfg->deterministic) {
        n = 1;
    } else if (n == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (unsigned)c : 1;
    }
    berth_eng.deterministic = cfg->deterministic;
    berth_eng.nworkers = n;
    berth_eng.batch = cfg->batch ? cfg->batch : DEFAULT_BATCH;
    berth_eng.ring_entries = cfg->ring_entries ? cfg->ring_entries : DEFAULT_RING_ENTRIES;
    uint64_t seed = cfg->seed;
    const char *env = getenv("BERTH_SEED");
    if (env != NULL && *env != '\0')
        seed = strtoull(env, NULL, 0);
    if (seed == 0)
        seed = (berth_clock_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32)) | 1;
    berth_eng.seed = seed;
    berth_eng.vnow = DET_START_NS;
    ck_pr_store_int(&berth_eng.stop, 0);

    struct berth_worker *ws = berth_calloc(n, sizeof(*ws));
    for (unsigned i = 0; i < n; i++) {
        struct berth_worker *w = &ws[i];
        w->index = i;
        w->efd = -1;
        w->rng = seed + i * UINT64_C(0x632be59bd9b4e019);
        deque_init(&w->rq);
        berth_mpsc_init(&w->inbox, false);
        worker_metrics(w);
    }
    berth_eng.workers = ws;
    for (unsigned i = 0; i < n; i++) {
        struct berth_worker *w = &ws[i];
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0) {
            int e = errno;
            workers_free();
            return berth_err_errno(err, e, "engine: eventfd");
        }
        int r = berth_ring_worker_init(w, berth_eng.ring_entries);
        if (r < 0) {
            workers_free();
            return berth_err_errno(err, -r, "engine: io_uring_queue_init(%u) for worker %u",
                                   berth_eng.ring_entries, i);
        }
    }
    berth_eng.started = true;
    if (cfg->deterministic) {
        fprintf(stderr, "# seed=%" PRIu64 "\n", seed);
        return 0;
    }
    for (unsigned i = 0; i < n; i++) {
        int r = pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
        if (r != 0) {
            ck_pr_store_int(&berth_eng.stop, 1);
            for (unsigned j = 0; j < i; j++) {
                efd_poke(&ws[j]);
                pthread_join(ws[j].thread, NULL);
            }
            workers_free();
            berth_eng.started = false;
            return berth_err_errno(err, r, "engine: starting worker %u", i);
        }
    }
    berth_eng.threads_running = true;
    return 0;
}

void berth_engine_stop(void)
{
    /* The store is followed by a full fence so a worker about to sleep
     * either sees it in its re-check or gets the eventfd poke. */
    ck_pr_store_int(&berth_eng.stop, 1);
    ck_pr_fence_memory();
    struct berth_worker *ws = ck_pr_load_ptr(&berth_eng.workers);
    if (ws == NULL || berth_eng.deterministic)
        return;
    for (unsigned i = 0; i < berth_eng.nworkers; i++)
        efd_poke(&ws[i]);
}

void berth_engine_join(void)
{
    if (!berth_eng.threads_running)
        return;
    for (unsigned i = 0; i < berth_eng.nworkers; i++)
        pthread_join(berth_eng.workers[i].thread, NULL);
    berth_eng.threads_running = false;
}

void berth_engine_shutdown(void)
{
    if (berth_eng.threads_running) {
        berth_engine_stop();
        berth_engine_join();
    }
    /* Rings first: once they are gone the kernel writes no more buffers. */
    workers_free();
    berth_registry_shutdown();
    /* Queued actors were all destroyed above; the queue only held links. */
    berth_mpsc_init(&berth_eng.inject, false);
    berth_eng.started = false;
    berth_eng.deterministic = false;
    berth_eng.nworkers = 0;
    ck_pr_store_int(&berth_eng.stop, 0);
}

unsigned berth_engine_workers(void)
{
    return berth_eng.nworkers;
}

int berth_engine_current_worker(void)
{
    return berth_tls_worker ? (int)berth_tls_worker->index : -1;
}

void berth_engine_get_stats(berth_engine_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    struct berth_worker *ws = ck_pr_load_ptr(&berth_eng.workers);
    for (unsigned i = 0; ws != NULL && i < berth_eng.nworkers; i++) {
        out->turns += ck_pr_load_64(&ws[i].st_turns);
        out->messages += ck_pr_load_64(&ws[i].st_messages);
        out->steals += ck_pr_load_64(&ws[i].st_steals);
        out->cqes += ck_pr_load_64(&ws[i].st_cqes);
    }
    out->actors_live = ck_pr_load_64(&berth_eng.actors_live);
}

void berth_engine_foreach_actor(void (*fn)(void *ctx, const char *name, uint64_t handle,
                                           uint64_t depth),
                                void *ctx)
{
    berth_registry_foreach(fn, ctx);
}

void berth_engine_foreach_actor_info(void (*fn)(void *ctx, const berth_actor_info_t *info),
                                     void *ctx)
{
    berth_registry_foreach_info(fn, ctx);
}
