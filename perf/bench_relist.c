/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench relist: N pods (default 20) running, then every second for T s
 * ListPodSandbox + ListContainers + ListContainerStats, as the kubelet's
 * relist does: each list's latency and the runtime's CPU per relist. Stats
 * are skipped, and shown as "-", when the runtime does not answer them.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "perf/bench_core.h"

static double timed_list(berth_cri_client_t *c, int which, bool *ok)
{
    berth_cri_status_t st = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    double t = berth_bench_mono_s();
    int rc;
    if (which == 0) {
        Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__ListPodSandboxResponse *r = NULL;
        rc = berth_cri_list_pod_sandbox(c, &req, 10 * BERTH_BENCH_SEC, &r, &st, &err);
        berth_cri_msg_free(r);
    } else if (which == 1) {
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        Runtime__V1__ListContainersResponse *r = NULL;
        rc = berth_cri_list_containers(c, &req, 10 * BERTH_BENCH_SEC, &r, &st, &err);
        berth_cri_msg_free(r);
    } else {
        Runtime__V1__ListContainerStatsRequest req =
                RUNTIME__V1__LIST_CONTAINER_STATS_REQUEST__INIT;
        Runtime__V1__ListContainerStatsResponse *r = NULL;
        rc = berth_cri_list_container_stats(c, &req, 10 * BERTH_BENCH_SEC, &r, &st, &err);
        berth_cri_msg_free(r);
    }
    double dt = berth_bench_mono_s() - t;
    *ok = rc == 0 && st.code == BERTH_GRPC_OK;
    berth_cri_status_fini(&st);
    return dt;
}

static json_t *run_relist(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                          const char *tag)
{
    unsigned n = o->n < 0 ? 20 : (unsigned)o->n;
    if (berth_bench_pull_image(o, ep) < 0)
        return NULL;
    json_t *res = berth_bench_new_result(ep);
    berth_bench_pod_t *pods = berth_bench_pods_new(n, "relist", tag);
    berth_bench_usage_t u0, u1, u2, u3;
    berth_bench_usage_sample((const char *const *)ep->procs, &u0);
    double wall = berth_bench_pool_run(o, ep, pods, n, false);
    berth_bench_usage_sample((const char *const *)ep->procs, &u1);
    berth_bench_startup_figures(res, pods, n, wall, &u0, &u1);

    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(ep->sock, &err);
    unsigned rounds = (unsigned)(o->seconds > 1 ? o->seconds : 1);
    BERTH_AUTO_FREE double *lat = berth_calloc(3 * rounds, sizeof(double));
    size_t k[3] = {0, 0, 0};
    bool stats = true;
    /* Let the runtime settle after the creation burst before measuring. */
    berth_bench_sleep_s(2);
    berth_bench_usage_sample((const char *const *)ep->procs, &u2);
    double t0 = berth_bench_mono_s();
    berth_bench_progress_begin(o, "relist", rounds);
    for (unsigned r = 0; c && r < rounds; r++) {
        double next = t0 + (double)(r + 1);
        for (int w = 0; w < 3; w++) {
            if (w == 2 && !stats)
                continue;
            bool ok;
            double dt = timed_list(c, w, &ok);
            if (!ok && w == 2)
                stats = false; /* the runtime does not answer stats: skip them */
            else if (ok)
                lat[(size_t)w * rounds + k[w]++] = dt;
        }
        berth_bench_progress_tick();
        berth_bench_sleep_s(next - berth_bench_mono_s());
    }
    berth_bench_progress_end();
    double span = berth_bench_mono_s() - t0;
    berth_bench_usage_sample((const char *const *)ep->procs, &u3);
    berth_cri_client_free(c);
    static const char *const names[3] = {"list_pods_s", "list_containers_s", "list_stats_s"};
    for (int w = 0; w < 3; w++) {
        /* Absent, not 0, when the runtime answered none (ListContainerStats
         * unimplemented): the table then shows "-". */
        if (k[w] == 0)
            continue;
        berth_bench_summary_t s;
        berth_bench_summarize(lat + (size_t)w * rounds, k[w], &s);
        json_object_set_new(res, names[w], berth_bench_summary_json(&s));
    }
    json_object_set_new(res, "relists", json_integer((json_int_t)k[0]));
    json_object_set_new(res, "stats_answered", json_boolean(stats && k[2] > 0));
    json_t *rt = json_object_get(res, "runtime");
    double cpu = u3.cpu_s - u2.cpu_s;
    json_object_set_new(rt, "relist_window_s", json_real(span));
    json_object_set_new(rt, "relist_cpu_s", json_real(cpu));
    json_object_set_new(rt, "cpu_ms_per_relist", json_real(k[0] ? 1000.0 * cpu / (double)k[0] : 0));
    json_object_set_new(rt, "cpu_percent", json_real(span > 0 ? 100.0 * cpu / span : 0));

    double twall = berth_bench_pool_run(o, ep, pods, n, true);
    berth_bench_teardown_figures(res, pods, n, twall);
    berth_bench_pods_free(pods, n);
    return res;
}

static const berth_bench_metric_t relist_metrics[] = {
        {"pods", "pods running", 1},
        {"list_pods_s.p50", "ListPodSandbox p50 (ms)", 1000},
        {"list_pods_s.p99", "ListPodSandbox p99 (ms)", 1000},
        {"list_containers_s.p50", "ListContainers p50 (ms)", 1000},
        {"list_containers_s.p99", "ListContainers p99 (ms)", 1000},
        {"list_stats_s.p50", "ListContainerStats p50 (ms)", 1000},
        {"list_stats_s.p99", "ListContainerStats p99 (ms)", 1000},
        {"runtime.cpu_ms_per_relist", "runtime CPU/relist (ms)", 1},
        {"runtime.cpu_percent", "runtime CPU while relisting (%)", 1},
        {"errors", "errors", 1},
        {NULL, NULL, 0},
};

const berth_bench_scenario_t berth_bench_relist = {
        .name = "relist",
        .run = run_relist,
        .metrics = relist_metrics,
};
