/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench --stages (issue 13 §1): where a run's time went inside the
 * runtime, and where the slowest pods' time went from the client's side.
 *
 * berthd keeps always-on latency histograms (engine/hist.h: creation steps,
 * the blocking pool's queue wait and run time per job kind, fsyncs, the
 * overlay mount, CNI plugins, RPCs, the engine's run-queue wait) and serves
 * all of them in verbose Status under the info key "stages". A pod scenario
 * fetches them before its pods start and again when all have started; the
 * difference is this run's startup alone (a runtime that serves no
 * "stages" gets none: the other endpoints of a --compare are unaffected).
 * The per-pod half is the client's own split of the slowest 10 % of pods
 * against the median ones.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/hist.h"
#include "perf/bench_core.h"

json_t *berth_bench_stages_fetch(const char *sock)
{
    if (sock == NULL)
        return NULL;
    berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(sock, &err);
    if (c == NULL) {
        berth_err_free(&err);
        return NULL;
    }
    Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
    req.verbose = 1;
    Runtime__V1__StatusResponse *resp = NULL;
    berth_cri_status_t st = {0};
    json_t *out = NULL;
    if (berth_cri_status(c, &req, 10 * BERTH_BENCH_SEC, &resp, &st, &err) == 0 && st.code == 0 &&
        resp != NULL) {
        for (size_t i = 0; i < resp->n_info; i++)
            if (strcmp(resp->info[i]->key, "stages") == 0)
                out = json_loads(resp->info[i]->value, 0, NULL);
    }
    berth_cri_msg_free(resp);
    berth_cri_status_fini(&st);
    berth_err_free(&err);
    berth_cri_client_free(c);
    return out;
}

json_t *berth_bench_stages_diff(json_t *before, json_t *after)
{
    json_t *ha = json_object_get(after, "hists");
    if (!json_is_object(ha))
        return NULL;
    json_t *hb = json_object_get(before, "hists");
    json_t *out = json_object();
    berth_hist_snap_t *a = berth_malloc(sizeof(*a)), *b = berth_malloc(sizeof(*b));
    const char *name;
    json_t *o;
    json_object_foreach(ha, name, o)
    {
        if (berth_hist_snap_from_json(o, a) < 0)
            continue;
        json_t *ob = json_object_get(hb, name);
        if (ob != NULL && berth_hist_snap_from_json(ob, b) == 0)
            berth_hist_snap_sub(a, b);
        if (a->count == 0)
            continue;
        json_object_set_new(out, name,
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "count",
                                      (json_int_t)a->count, "sum", (json_int_t)a->sum, "p50",
                                      (json_int_t)berth_hist_snap_quantile(a, 0.50), "p90",
                                      (json_int_t)berth_hist_snap_quantile(a, 0.90), "p99",
                                      (json_int_t)berth_hist_snap_quantile(a, 0.99), "max",
                                      (json_int_t)a->max));
    }
    berth_free(a);
    berth_free(b);
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_lat(const void *a, const void *b)
{
    const berth_bench_pod_t *x = *(const berth_bench_pod_t *const *)a;
    const berth_bench_pod_t *y = *(const berth_bench_pod_t *const *)b;
    return x->latency < y->latency ? -1 : x->latency > y->latency;
}

/* Mean of the client-side parts over pods [from, to) of the sorted list. */
static json_t *parts(berth_bench_pod_t **v, size_t from, size_t to)
{
    double lat = 0, sb = 0, cr = 0, stt = 0;
    size_t n = 0;
    for (size_t i = from; i < to; i++) {
        if (isnan(v[i]->sandbox) || isnan(v[i]->create) || isnan(v[i]->start))
            continue;
        lat += v[i]->latency;
        sb += v[i]->sandbox;
        cr += v[i]->create;
        stt += v[i]->start;
        n++;
    }
    if (n == 0)
        return json_null();
    return json_pack("{s:i, s:f, s:f, s:f, s:f, s:f}", "pods", (int)n, "startup_s", lat / n,
                     "sandbox_s", sb / n, "create_s", cr / n, "start_s", stt / n, "other_s",
                     (lat - sb - cr - stt) / n);
}

json_t *berth_bench_tail_split(const berth_bench_pod_t *pods, unsigned n)
{
    BERTH_AUTO_FREE berth_bench_pod_t **v = berth_calloc(n ? n : 1, sizeof(*v));
    size_t k = 0;
    for (unsigned i = 0; i < n; i++)
        if (pods[i].ok)
            v[k++] = (berth_bench_pod_t *)&pods[i];
    if (k < 10)
        return NULL;
    qsort(v, k, sizeof(*v), cmp_lat);
    size_t tail = k / 10;
    /* the middle fifth around the median, against the slowest tenth */
    return json_pack("{s:o, s:o}", "median_pods", parts(v, k * 2 / 5, k * 3 / 5), "slowest_10pct",
                     parts(v, k - tail, k));
}

static void print_parts(const char *what, json_t *p)
{
    if (!json_is_object(p))
        return;
    printf("  %-22s %4lld pods: startup %7.1f = RunPodSandbox %7.1f + CreateContainer %7.1f + "
           "StartContainer %7.1f + status calls and gaps %6.1f (ms, means)\n",
           what, (long long)json_integer_value(json_object_get(p, "pods")),
           1000 * json_real_value(json_object_get(p, "startup_s")),
           1000 * json_real_value(json_object_get(p, "sandbox_s")),
           1000 * json_real_value(json_object_get(p, "create_s")),
           1000 * json_real_value(json_object_get(p, "start_s")),
           1000 * json_real_value(json_object_get(p, "other_s")));
}

void berth_bench_stages_print(json_t *res)
{
    const char *ep = json_string_value(json_object_get(res, "endpoint"));
    json_t *tail = json_object_get(res, "tail");
    if (json_is_object(tail)) {
        printf("%s: the slowest 10 %% of pods against the median ones:\n", ep);
        print_parts("median pods (p40-p60)", json_object_get(tail, "median_pods"));
        print_parts("slowest 10 %", json_object_get(tail, "slowest_10pct"));
    }
    json_t *st = json_object_get(res, "stages");
    if (!json_is_object(st)) {
        printf("%s: no stage histograms (the runtime serves none in verbose Status)\n", ep);
        return;
    }
    size_t n = json_object_size(st), k = 0;
    BERTH_AUTO_FREE const char **names = berth_calloc(n + 1, sizeof(char *));
    const char *name;
    json_t *o;
    json_object_foreach(st, name, o) names[k++] = name;
    qsort(names, k, sizeof(*names), cmp_str);
    printf("%s: stages during startup (berthd's histograms; ms, counts where the name says):\n",
           ep);
    printf("  %-72s %6s %8s %8s %8s %8s %9s\n", "stage", "count", "p50", "p90", "p99", "max",
           "total");
    for (size_t i = 0; i < k; i++) {
        o = json_object_get(st, names[i]);
        bool count = strstr(names[i], "(count)") != NULL;
        double f = count ? 1 : 1e-6;
#define V(key) ((double)json_integer_value(json_object_get(o, key)) * f)
        printf("  %-72.72s %6lld %8.2f %8.2f %8.2f %8.2f %9.1f\n", names[i],
               (long long)json_integer_value(json_object_get(o, "count")), V("p50"), V("p90"),
               V("p99"), V("max"), V("sum"));
#undef V
    }
}
