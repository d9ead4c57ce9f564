/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench churn: one pod every 1/R s for T s, each deleted after L s, a
 * thread per pod: startup and teardown latency, latency over time, the
 * runtime's CPU per pod and peak RSS. Pods start and stop as the kubelet's
 * do (berth_bench_pod_up/_down) under its PLEG's relist every second.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "perf/bench_core.h"

typedef struct churn_pod {
    const berth_bench_opts_t *o;
    const berth_bench_endpoint_t *ep;
    berth_bench_pod_t rec;
    double t0;
    pthread_t th;
} churn_pod_t;

static void *churn_main(void *arg)
{
    churn_pod_t *cp = arg;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(cp->ep->sock, &err);
    if (c == NULL) {
        cp->rec.error = berth_asprintf("connect: %s", err->msg);
        return NULL;
    }
    berth_bench_pod_up(cp->o, c, &cp->rec, cp->t0);
    berth_bench_sleep_s(cp->o->lifetime);
    berth_bench_pod_down(c, &cp->rec);
    berth_cri_client_free(c);
    berth_bench_progress_tick();
    return NULL;
}

static json_t *run_churn(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                         const char *tag)
{
    if (berth_bench_pull_image(o, ep) < 0)
        return NULL;
    unsigned n = (unsigned)(o->rate * o->seconds);
    if (n == 0)
        n = 1;
    json_t *res = berth_bench_new_result(ep);
    churn_pod_t *cps = berth_calloc(n, sizeof(*cps));
    berth_bench_sampler_t smp;
    berth_bench_usage_t u0, u1;
    berth_bench_usage_sample((const char *const *)ep->procs, &u0);
    berth_bench_sampler_start(&smp, ep);
    berth_bench_pleg_t pleg;
    berth_bench_pleg_start(&pleg, ep->sock, 1.0);
    double t0 = berth_bench_mono_s();
    berth_bench_progress_begin(o, "churn", n);
    for (unsigned i = 0; i < n; i++) {
        berth_bench_sleep_s(t0 + (double)i / o->rate - berth_bench_mono_s());
        cps[i].o = o;
        cps[i].ep = ep;
        cps[i].t0 = t0;
        snprintf(cps[i].rec.name, sizeof(cps[i].rec.name), "churn-%s-%u", tag, i);
        snprintf(cps[i].rec.uid, sizeof(cps[i].rec.uid), "churn-uid-%s-%u", tag, i);
        pthread_create(&cps[i].th, NULL, churn_main, &cps[i]);
    }
    for (unsigned i = 0; i < n; i++)
        pthread_join(cps[i].th, NULL);
    berth_bench_progress_end();
    double wall = berth_bench_mono_s() - t0;
    berth_bench_pleg_stop(&pleg);
    berth_bench_sampler_stop(&smp);
    json_object_set_new(res, "pleg", berth_bench_pleg_json(&pleg));
    berth_bench_usage_sample((const char *const *)ep->procs, &u1);

    BERTH_AUTO_FREE double *up = berth_calloc(n, sizeof(double));
    BERTH_AUTO_FREE double *down = berth_calloc(n, sizeof(double));
    json_t *series = json_array();
    size_t k = 0, kd = 0;
    unsigned nerr = 0;
    json_t *errs = json_array();
    for (unsigned i = 0; i < n; i++) {
        berth_bench_pod_t *p = &cps[i].rec;
        if (p->ok) {
            up[k++] = p->latency;
            json_array_append_new(series, json_pack("[f,f]", p->t_start, p->latency));
        }
        if (p->pod_id)
            down[kd++] = p->teardown;
        if (p->error && nerr++ < 5)
            json_array_append_new(errs, json_string(p->error));
        berth_bench_pod_fini(p);
    }
    berth_free(cps);
    berth_bench_summary_t s;
    berth_bench_summarize(up, k, &s);
    json_object_set_new(res, "pods", json_integer(n));
    json_object_set_new(res, "rate_per_s", json_real(o->rate));
    json_object_set_new(res, "lifetime_s", json_real(o->lifetime));
    json_object_set_new(res, "startup_s", berth_bench_summary_json(&s));
    json_object_set_new(res, "startup_samples_s", berth_bench_json_doubles(up, k));
    berth_bench_summarize(down, kd, &s);
    json_object_set_new(res, "teardown_s", berth_bench_summary_json(&s));
    json_object_set_new(res, "latency_over_time", series);
    json_object_set_new(res, "errors", json_integer(nerr));
    json_object_set_new(res, "error_samples", errs);
    json_object_set_new(res, "wall_s", json_real(wall));
    json_t *rt = json_object_get(res, "runtime");
    json_object_set_new(rt, "cpu_s", json_real(u1.cpu_s - u0.cpu_s));
    json_object_set_new(rt, "cpu_s_per_pod", json_real((u1.cpu_s - u0.cpu_s) / (double)n));
    json_object_set_new(rt, "rss_peak_mb", json_real(smp.peak_rss_mb));
    json_object_set_new(rt, "series", smp.series);
    return res;
}

static const berth_bench_metric_t churn_metrics[] = {
        {"pods", "pods", 1},
        {"startup_s.p50", "startup p50 (ms)", 1000},
        {"startup_s.p99", "startup p99 (ms)", 1000},
        {"teardown_s.p50", "teardown p50 (ms)", 1000},
        {"teardown_s.p99", "teardown p99 (ms)", 1000},
        {"runtime.cpu_s_per_pod", "runtime CPU/pod (s)", 1},
        {"runtime.rss_peak_mb", "runtime RSS peak (MB)", 1},
        {"errors", "errors", 1},
        {NULL, NULL, 0},
};

const berth_bench_scenario_t berth_bench_churn = {
        .name = "churn",
        .run = run_churn,
        .metrics = churn_metrics,
        .print_detail = berth_bench_pleg_print,
        .plots = true,
};
