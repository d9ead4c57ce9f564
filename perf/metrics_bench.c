/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cost of berthd's metrics (docs/observability.md): one scrape of the
 * whole registry (berthd's families, every CRI method called with a few
 * error codes, N idle actors for the mailbox walk) and the hot-path calls
 * (a counter add, a histogram observation) on one thread and on several.
 *
 *     metrics_bench [ACTORS] [THREADS]     (defaults: 3000 actors, 2 threads)
 *
 * 3000 actors stand for 1000 pods with two containers each (one actor per
 * pod and per container). Prints: scrape time (median and max of 200),
 * bytes and lines written, ns per add and per observe.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/metrics.h"
#include "engine/alloc.h"
#include "engine/metrics.h"
#include "engine/sched.h"
#include "io/bytebuf.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void idle_receive(berth_actor_t *self, berth_msg_t *msg)
{
    (void)self;
    berth_msg_free(msg);
}

static const berth_actor_class_t pod_class = {.name = "pod", .receive = idle_receive};
static const berth_actor_class_t ctr_class = {.name = "container", .receive = idle_receive};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define OPS 5000000ull

static berth_metric_t *hot_counter, *hot_hist;

static void *adder(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < OPS; i++)
        berth_metric_inc(hot_counter);
    return NULL;
}

static void *observer(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < OPS; i++)
        berth_metric_observe(hot_hist, (i & 1023) * 100000ull);
    return NULL;
}

static double per_op(void *(*fn)(void *), unsigned threads)
{
    pthread_t t[64];
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, fn, NULL);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    /* wall time per op on each thread */
    return (double)(now_ns() - t0) / (double)OPS;
}

int main(int argc, char **argv)
{
    unsigned nactors = argc > 1 ? (unsigned)atoi(argv[1]) : 3000;
    unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
    if (threads < 1 || threads > 64)
        threads = 2;
    berth_daemon_metrics_init();
    berth_err_t err = NULL;
    berth_engine_config_t ec = {.workers = 2};
    if (berth_engine_start(&ec, &err) < 0) {
        fprintf(stderr, "engine: %s\n", err->msg);
        return 1;
    }
    for (unsigned i = 0; i < nactors; i++)
        berth_actor_spawn(i % 3 == 0 ? &pod_class : &ctr_class, NULL);
    /* every method called, a third of them with two error codes */
    for (unsigned i = 0; i < berth_cri_method_count(); i++) {
        berth_grpc_stats_t *st = berth_rpc_stats(berth_cri_method_at(i));
        berth_metric_add(st->total, 100);
        berth_metric_observe(st->latency, 1000000ull * i);
        if (i % 3 == 0) {
            berth_metric_inc(berth_metrics_series2(st->by_code, st->operation, "NOT_FOUND"));
            berth_metric_inc(berth_metrics_series2(st->by_code, st->operation, "INTERNAL"));
        }
    }
    for (unsigned i = 0; i < 20; i++) {
        char name[64];
        snprintf(name, sizeof(name), "k8s_oom%u_pod_ns_uid_0", i);
        berth_metrics_container_oom(name);
    }
    enum { ROUNDS = 200 };
    uint64_t t[ROUNDS];
    size_t bytes = 0, lines = 0;
    for (int r = 0; r < ROUNDS; r++) {
        berth_bytebuf_t b = {0};
        uint64_t t0 = now_ns();
        berth_metrics_write(&b);
        t[r] = now_ns() - t0;
        bytes = berth_bytebuf_pending(&b);
        lines = 0;
        for (size_t i = 0; i < b.len; i++)
            lines += b.data[i] == '\n';
        berth_bytebuf_free(&b);
    }
    qsort(t, ROUNDS, sizeof(t[0]), cmp_u64);
    printf("scrape: actors=%u bytes=%zu lines=%zu median_us=%.1f max_us=%.1f\n", nactors, bytes,
           lines, (double)t[ROUNDS / 2] / 1e3, (double)t[ROUNDS - 1] / 1e3);

    hot_counter = berth_metrics_counter("bench_hot_total", "bench");
    static const uint64_t bounds[] = {1000000, 10000000, 100000000};
    hot_hist = berth_metrics_series(
            berth_metrics_family(&(berth_metric_desc_t){.type = BERTH_METRIC_HISTOGRAM,
                                                        .name = "bench_hot_seconds",
                                                        .help = "bench",
                                                        .bounds = bounds,
                                                        .nbounds = 3,
                                                        .scale = 1e-9}),
            NULL);
    printf("add: 1 thread ns/op=%.2f; %u threads ns/op=%.2f\n", per_op(adder, 1), threads,
           per_op(adder, threads));
    printf("observe: 1 thread ns/op=%.2f; %u threads ns/op=%.2f\n", per_op(observer, 1), threads,
           per_op(observer, threads));
    berth_engine_stop();
    berth_engine_join();
    berth_engine_shutdown();
    return 0;
}
