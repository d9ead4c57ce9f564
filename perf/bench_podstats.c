/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench podstats: N pods (default 110, the kubelet's default pod
 * limit) with one container each, then three windows of T s each: idle (no
 * calls: what the runtime spends on its own, background stats sampling
 * included), ListPodSandboxStats once a second (the kubelet's
 * /stats/summary with PodAndContainerStatsFromCRI), ListPodSandboxMetrics
 * once a second (its /metrics/cadvisor). For each: call latency p50/p99 and
 * the runtime's CPU per call, from /proc as the other scenarios read it
 * (clock ticks: a window's CPU is exact to 10 ms, so per-call figures need
 * T of 30 s or more to mean much below a millisecond). The CPU per call is
 * the window's CPU over its calls, the runtime's background work during the
 * window included, since it is part of what serving stats costs; the idle
 * window says how much of it that is. A runtime that does not answer a call
 * shows "-".
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "perf/bench_core.h"

enum { CALL_STATS, CALL_METRICS };

/* The first failed call's reason, per call: reported, not only counted (a
 * call every pod makes bigger can outgrow the gRPC message limit). */
static char first_error[2][256];

static double timed_call(berth_cri_client_t *c, int which, bool *ok)
{
    berth_cri_status_t st = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    double t = berth_bench_mono_s();
    int rc;
    if (which == CALL_STATS) {
        Runtime__V1__ListPodSandboxStatsRequest req =
                RUNTIME__V1__LIST_POD_SANDBOX_STATS_REQUEST__INIT;
        Runtime__V1__ListPodSandboxStatsResponse *r = NULL;
        rc = berth_cri_list_pod_sandbox_stats(c, &req, 10 * BERTH_BENCH_SEC, &r, &st, &err);
        berth_cri_msg_free(r);
    } else {
        Runtime__V1__ListPodSandboxMetricsRequest req =
                RUNTIME__V1__LIST_POD_SANDBOX_METRICS_REQUEST__INIT;
        Runtime__V1__ListPodSandboxMetricsResponse *r = NULL;
        rc = berth_cri_list_pod_sandbox_metrics(c, &req, 10 * BERTH_BENCH_SEC, &r, &st, &err);
        berth_cri_msg_free(r);
    }
    double dt = berth_bench_mono_s() - t;
    *ok = rc == 0 && st.code == BERTH_GRPC_OK;
    if (!*ok && first_error[which][0] == '\0')
        snprintf(first_error[which], sizeof(first_error[which]), "%s",
                 rc < 0 && err ? err->msg
                 : st.msg      ? st.msg
                               : "no message");
    berth_cri_status_fini(&st);
    return dt;
}

/* One window of `rounds` seconds: the call `which` once a second (none when
 * which < 0). Latencies of the answered calls into lat; returns how many
 * were answered; *cpu_s and *span_s get the runtime's CPU and the window. */
static size_t window(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                     berth_cri_client_t *c, int which, unsigned rounds, double *lat, double *cpu_s,
                     double *span_s, unsigned *failed)
{
    static const char *const names[] = {"ListPodSandboxStats", "ListPodSandboxMetrics"};
    berth_bench_usage_t u0, u1;
    size_t k = 0;
    berth_bench_usage_sample((const char *const *)ep->procs, &u0);
    double t0 = berth_bench_mono_s();
    berth_bench_progress_begin(o, which < 0 ? "idle" : names[which], rounds);
    for (unsigned r = 0; r < rounds; r++) {
        double next = t0 + (double)(r + 1);
        if (which >= 0 && c != NULL) {
            bool ok;
            double dt = timed_call(c, which, &ok);
            if (!ok)
                (*failed)++;
            if (!ok && k == 0)
                break; /* unanswered: the runtime does not serve it; skip the rest */
            if (ok)
                lat[k++] = dt;
        }
        berth_bench_progress_tick();
        berth_bench_sleep_s(next - berth_bench_mono_s());
    }
    berth_bench_progress_end();
    *span_s = berth_bench_mono_s() - t0;
    berth_bench_usage_sample((const char *const *)ep->procs, &u1);
    *cpu_s = u1.cpu_s - u0.cpu_s;
    return k;
}

static json_t *run_podstats(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                            const char *tag)
{
    unsigned n = o->n < 0 ? 110 : (unsigned)o->n;
    if (berth_bench_pull_image(o, ep) < 0)
        return NULL;
    json_t *res = berth_bench_new_result(ep);
    berth_bench_pod_t *pods = berth_bench_pods_new(n, "podstats", tag);
    berth_bench_usage_t u0, u1;
    berth_bench_usage_sample((const char *const *)ep->procs, &u0);
    double wall = berth_bench_pool_run(o, ep, pods, n, false);
    berth_bench_usage_sample((const char *const *)ep->procs, &u1);
    berth_bench_startup_figures(res, pods, n, wall, &u0, &u1);

    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(ep->sock, &err);
    unsigned rounds = (unsigned)(o->seconds > 1 ? o->seconds : 1);
    BERTH_AUTO_FREE double *lat = berth_calloc(rounds, sizeof(double));
    /* Let the runtime settle after the creation burst, and make one call of
     * each so that first-call set-up (a stats cache filled, descriptors
     * read) is not in the windows. */
    berth_bench_sleep_s(2);
    bool ok;
    (void)timed_call(c, CALL_STATS, &ok);
    (void)timed_call(c, CALL_METRICS, &ok);
    berth_bench_sleep_s(1);
    json_t *rt = json_object_get(res, "runtime");
    double cpu, span;
    unsigned failed = 0;
    memset(first_error, 0, sizeof(first_error));
    window(o, ep, NULL, -1, rounds, lat, &cpu, &span, &failed);
    json_object_set_new(rt, "idle_cpu_percent", json_real(span > 0 ? 100.0 * cpu / span : 0));
    double idle_per_s = span > 0 ? cpu / span : 0;
    static const char *const keys[] = {"stats", "metrics"};
    for (int w = CALL_STATS; w <= CALL_METRICS; w++) {
        unsigned wfailed = 0;
        size_t k = window(o, ep, c, w, rounds, lat, &cpu, &span, &wfailed);
        if (wfailed) {
            /* a failed call is an error of the run, with its reason */
            failed += wfailed;
            char key[64];
            snprintf(key, sizeof(key), "%s_error", keys[w]);
            json_object_set_new(res, key, json_string(first_error[w]));
            fprintf(stderr, "berth-bench: podstats: %u %s call(s) failed on %s, first: %s\n",
                    wfailed, w == CALL_STATS ? "ListPodSandboxStats" : "ListPodSandboxMetrics",
                    ep->label, first_error[w]);
        }
        if (k == 0)
            continue; /* the table shows "-" */
        berth_bench_summary_t s;
        berth_bench_summarize(lat, k, &s);
        char key[64];
        snprintf(key, sizeof(key), "%s_s", keys[w]);
        json_object_set_new(res, key, berth_bench_summary_json(&s));
        snprintf(key, sizeof(key), "cpu_ms_per_%s_call", keys[w]);
        json_object_set_new(rt, key, json_real(1000.0 * cpu / (double)k));
        /* less the idle window's rate: the calls' own share */
        double own = cpu - idle_per_s * span;
        snprintf(key, sizeof(key), "cpu_ms_per_%s_call_over_idle", keys[w]);
        json_object_set_new(rt, key, json_real(own > 0 ? 1000.0 * own / (double)k : 0));
        snprintf(key, sizeof(key), "%s_calls", keys[w]);
        json_object_set_new(res, key, json_integer((json_int_t)k));
    }
    berth_cri_client_free(c);
    json_t *je = json_object_get(res, "errors");
    json_object_set_new(res, "errors",
                        json_integer((je ? json_integer_value(je) : 0) + (json_int_t)failed));

    double twall = berth_bench_pool_run(o, ep, pods, n, true);
    berth_bench_teardown_figures(res, pods, n, twall);
    berth_bench_pods_free(pods, n);
    return res;
}

static const berth_bench_metric_t podstats_metrics[] = {
        {"pods", "pods running", 1},
        {"stats_s.p50", "ListPodSandboxStats p50 (ms)", 1000},
        {"stats_s.p99", "ListPodSandboxStats p99 (ms)", 1000},
        {"runtime.cpu_ms_per_stats_call", "runtime CPU/ListPodSandboxStats (ms)", 1},
        {"runtime.cpu_ms_per_stats_call_over_idle", "  less idle (ms)", 1},
        {"metrics_s.p50", "ListPodSandboxMetrics p50 (ms)", 1000},
        {"metrics_s.p99", "ListPodSandboxMetrics p99 (ms)", 1000},
        {"runtime.cpu_ms_per_metrics_call", "runtime CPU/ListPodSandboxMetrics (ms)", 1},
        {"runtime.cpu_ms_per_metrics_call_over_idle", "  less idle (ms)", 1},
        {"runtime.idle_cpu_percent", "runtime CPU idle, N pods (%)", 1},
        {"errors", "errors", 1},
        {NULL, NULL, 0},
};

const berth_bench_scenario_t berth_bench_podstats = {
        .name = "podstats",
        .run = run_podstats,
        .metrics = podstats_metrics,
};
