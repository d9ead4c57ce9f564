/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench density: N pods (default 110) with one container each, P
 * workers, each pod started and torn down as the kubelet does
 * (berth_bench_pod_up/_down), both timed, with the kubelet's PLEG relisting
 * every second meanwhile. Its table rows are shared
 * by containers and floor. Only the pods it named are touched.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "perf/bench_core.h"

static json_t *run_density(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                           const char *tag)
{
    unsigned n = o->n < 0 ? 110 : (unsigned)o->n;
    if (berth_bench_pull_image(o, ep) < 0)
        return NULL;
    json_t *res = berth_bench_new_result(ep);
    berth_bench_pod_t *pods = berth_bench_pods_new(n, "density", tag);
    berth_bench_watch_t w;
    berth_bench_watch_start(&w, ep, true);
    double wall = berth_bench_pool_run(o, ep, pods, n, false);
    berth_bench_watch_started(&w, res, pods, n, wall);
    double twall = berth_bench_pool_run(o, ep, pods, n, true);
    berth_bench_watch_stop(&w, res);
    berth_bench_teardown_figures(res, pods, n, twall);
    berth_bench_pods_free(pods, n);
    return res;
}

const berth_bench_metric_t berth_bench_density_metrics[] = {
        {"startup_s.p50", "startup p50 (ms)", 1000},
        {"startup_s.p90", "startup p90 (ms)", 1000},
        {"startup_s.p99", "startup p99 (ms)", 1000},
        {"sandbox_s.p50", "RunPodSandbox p50 (ms)", 1000},
        {"sandbox_s.p99", "RunPodSandbox p99 (ms)", 1000},
        {"ctr_create_start_s.p50", "ctr create+start p50 (ms)", 1000},
        {"ctr_create_start_s.p90", "ctr create+start p90 (ms)", 1000},
        {"ctr_create_start_s.p99", "ctr create+start p99 (ms)", 1000},
        {"ctr_create_s.p50", "CreateContainer p50 (ms)", 1000},
        {"ctr_start_s.p50", "StartContainer p50 (ms)", 1000},
        {"pods_per_s", "pods/s", 1},
        {"teardown_s.p50", "teardown p50 (ms)", 1000},
        {"teardown_s.p99", "teardown p99 (ms)", 1000},
        {"teardown_wall_s", "teardown wall (s)", 1},
        {"runtime.cpu_s_per_pod", "runtime CPU/pod (s)", 1},
        {"runtime.loaded.rss_mb", "runtime RSS loaded (MB)", 1},
        {"runtime.rss_mb_per_pod", "runtime RSS/pod (MB)", 1},
        {"errors", "errors", 1},
        {NULL, NULL, 0},
};

const berth_bench_scenario_t berth_bench_density = {
        .name = "density",
        .run = run_density,
        .metrics = berth_bench_density_metrics,
        .print_detail = berth_bench_pleg_print,
        .plots = true,
};
