/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench's report: the table of a scenario's metrics (medians over
 * rounds, B/A for two endpoints), the per-round spread of the first
 * metric's ratio, and the gnuplot plots. It reads the runs' JSON only.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "perf/bench_core.h"

/* ---- table ------------------------------------------------------------------- */

/* The median over rounds of one metric for one endpoint. */
static double metric_median(json_t *runs, const char *label, const berth_bench_metric_t *m)
{
    double v[64];
    size_t n = 0;
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "endpoint")), label) != 0)
            continue;
        double x = berth_bench_json_number(json_object_get(r, "result"), m->path);
        if (!isnan(x) && n < BERTH_ARRAY_LEN(v))
            v[n++] = x * m->scale;
    }
    if (n == 0)
        return NAN;
    berth_bench_summary_t s;
    berth_bench_summarize(v, n, &s);
    return s.p50;
}

json_t *berth_bench_print_table(const berth_bench_opts_t *o, const berth_bench_scenario_t *sc,
                                json_t *runs)
{
    const berth_bench_metric_t *ms = sc->metrics;
    json_t *ratios = json_object();
    printf("\n%s%s\n", o->scenario, o->rounds > 1 ? " (median over rounds)" : "");
    printf("%-36s", "");
    for (int e = 0; e < o->neps; e++)
        printf(" %14s", o->eps[e].label);
    if (o->neps == 2)
        printf(" %10s", "B/A");
    /* more endpoints: each one's ratio to the first */
    for (int e = 1; o->neps > 2 && e < o->neps; e++) {
        char h[32];
        snprintf(h, sizeof(h), "%.4s/%.4s", o->eps[e].label, o->eps[0].label);
        printf(" %10s", h);
    }
    printf("\n");
    for (const berth_bench_metric_t *m = ms; m->path; m++) {
        printf("%-36s", m->label);
        double v[BERTH_BENCH_MAX_ENDPOINTS];
        for (int e = 0; e < o->neps; e++) {
            v[e] = metric_median(runs, o->eps[e].label, m);
            if (isnan(v[e]))
                printf(" %14s", "-");
            else
                printf(" %14.3f", v[e]);
        }
        for (int e = 1; o->neps >= 2 && e < o->neps; e++) {
            double r = v[e] / v[0];
            if (isnan(r) || isinf(r)) {
                printf(" %10s", "-");
                continue;
            }
            printf(" %10.2f", r);
            if (o->neps == 2) {
                json_object_set_new(ratios, m->path, json_real(r));
            } else {
                /* {"<label>/<first>": {path: ratio}} */
                char key[128];
                snprintf(key, sizeof(key), "%s/%s", o->eps[e].label, o->eps[0].label);
                json_t *per = json_object_get(ratios, key);
                if (per == NULL) {
                    per = json_object();
                    json_object_set_new(ratios, key, per);
                }
                json_object_set_new(per, m->path, json_real(r));
            }
        }
        printf("\n");
    }
    return ratios;
}

/* One endpoint's value of m in round r (NAN when it has none). */
static double round_value(json_t *runs, const char *label, int r, const berth_bench_metric_t *m)
{
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        if (strcmp(json_string_value(json_object_get(run, "endpoint")), label) == 0 &&
            json_integer_value(json_object_get(run, "round")) == r)
            return berth_bench_json_number(json_object_get(run, "result"), m->path) * m->scale;
    }
    return NAN;
}

/* The table's medians hide how much the ratio moves from round to round,
 * which on a noisy machine is more than a goal's margin: the scenario's
 * first metric as a ratio to the first endpoint, round by round. */
void berth_bench_print_round_spread(const berth_bench_opts_t *o, const berth_bench_scenario_t *sc,
                                    json_t *runs)
{
    const berth_bench_metric_t *m = sc->metrics;
    if (o->rounds < 2 || o->neps < 2 || m->path == NULL)
        return;
    for (int e = 1; e < o->neps; e++) {
        double v[64];
        size_t n = 0;
        for (int r = 1; r <= o->rounds && n < BERTH_ARRAY_LEN(v); r++) {
            double a = round_value(runs, o->eps[0].label, r, m);
            double b = round_value(runs, o->eps[e].label, r, m);
            if (!isnan(a) && !isnan(b) && a > 0)
                v[n++] = b / a;
        }
        if (n == 0)
            continue;
        berth_bench_summary_t st;
        berth_bench_summarize(v, n, &st);
        printf("%s/%s per round, %s: min %.2f, median %.2f, max %.2f over %zu rounds\n",
               o->eps[e].label, o->eps[0].label, m->label, st.min, st.p50, st.max, n);
    }
}

/* ---- plots ------------------------------------------------------------------- */

/* Collects one array field over every round of one endpoint. */
static size_t collect(json_t *runs, const char *label, const char *field, double **out)
{
    size_t n = 0, cap = 0, i, j;
    json_t *r, *x;
    *out = NULL;
    json_array_foreach(runs, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "endpoint")), label) != 0)
            continue;
        json_array_foreach(json_object_get(json_object_get(r, "result"), field), j, x)
        {
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                *out = berth_realloc(*out, cap * sizeof(double));
            }
            (*out)[n++] = json_number_value(x);
        }
    }
    return n;
}

/* Writes data files and a gnuplot script under dir and runs gnuplot:
 * <scenario>-cdf.png (startup latency CDF per endpoint) and
 * <scenario>-rate.png (pods ready per second, first round). */
int berth_bench_plot(const berth_bench_opts_t *o, json_t *runs, const char *dir)
{
    mkdir(dir, 0755);
    BERTH_AUTO_FREE char *gp = berth_asprintf("%s/%s.gp", dir, o->scenario);
    FILE *g = fopen(gp, "we");
    if (g == NULL)
        return -1;
    fprintf(g,
            "set terminal pngcairo size 800,500 font 'sans,10'\nset grid\nset key bottom right\n");
    fprintf(g, "set output '%s/%s-cdf.png'\nset title '%s: pod startup latency CDF'\n", dir,
            o->scenario, o->scenario);
    fprintf(g, "set xlabel 'startup latency (s)'\nset ylabel 'fraction of pods'\nplot ");
    for (int e = 0; e < o->neps; e++) {
        BERTH_AUTO_FREE double *v = NULL;
        size_t n = collect(runs, o->eps[e].label, "startup_samples_s", &v);
        BERTH_AUTO_FREE char *dat =
                berth_asprintf("%s/%s-cdf-%s.dat", dir, o->scenario, o->eps[e].label);
        FILE *f = fopen(dat, "we");
        if (f == NULL)
            continue;
        /* A CDF: each sorted sample against its rank. */
        for (size_t i = 0; i + 1 < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (v[j] < v[i]) {
                    double t = v[i];
                    v[i] = v[j];
                    v[j] = t;
                }
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%.6f %.6f\n", v[i], (double)(i + 1) / (double)n);
        fclose(f);
        fprintf(g, "%s'%s' using 1:2 with steps lw 2 title '%s'", e ? ", " : "", dat,
                o->eps[e].label);
    }
    fprintf(g, "\n");
    fprintf(g, "set output '%s/%s-rate.png'\nset title '%s: pods ready per second'\n", dir,
            o->scenario, o->scenario);
    fprintf(g, "set xlabel 'time since start (s)'\nset ylabel 'pods/s'\nset key top right\nplot ");
    for (int e = 0; e < o->neps; e++) {
        /* First round only: rounds would overlay on one time axis. */
        json_t *first = NULL;
        size_t i;
        json_t *r;
        json_array_foreach(runs, i, r)
        {
            if (first == NULL &&
                strcmp(json_string_value(json_object_get(r, "endpoint")), o->eps[e].label) == 0)
                first = json_object_get(r, "result");
        }
        json_t *ready = first ? json_object_get(first, "ready_at_s") : NULL;
        if (ready == NULL && first)
            ready = json_object_get(first, "startup_samples_s");
        size_t n = json_array_size(ready);
        BERTH_AUTO_FREE double *t = berth_calloc(n ? n : 1, sizeof(double));
        json_t *x;
        json_array_foreach(ready, i, x)
        {
            t[i] = json_number_value(x);
        }
        size_t nb;
        BERTH_AUTO_FREE unsigned *b = berth_bench_per_second(t, n, &nb);
        BERTH_AUTO_FREE char *dat =
                berth_asprintf("%s/%s-rate-%s.dat", dir, o->scenario, o->eps[e].label);
        FILE *f = fopen(dat, "we");
        if (f == NULL)
            continue;
        for (size_t k = 0; k < nb; k++)
            fprintf(f, "%zu %u\n", k, b[k]);
        fclose(f);
        fprintf(g, "%s'%s' using 1:2 with linespoints lw 2 title '%s'", e ? ", " : "", dat,
                o->eps[e].label);
    }
    fprintf(g, "\n");
    fclose(g);
    char *argv[] = {"/usr/bin/gnuplot", gp, NULL};
    if (access(argv[0], X_OK) < 0) {
        fprintf(stderr,
                "berth-bench: gnuplot missing (apt-get install gnuplot-nox); script "
                "left in %s\n",
                gp);
        return -1;
    }
    int rc = berth_bench_spawn_wait_quiet(argv);
    if (rc == 0)
        printf("plots: %s/%s-cdf.png %s/%s-rate.png\n", dir, o->scenario, dir, o->scenario);
    return rc == 0 ? 0 : -1;
}
