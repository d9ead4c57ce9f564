/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf/bench_stats: percentile interpolation against hand-computed values,
 * summaries that leave their input alone, per-second buckets, dotted JSON
 * lookups, list splitting, and the /proc sampler finding this very process.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/alloc.h"
#include "perf/bench_stats.h"
#include "tests/unit/check.h"

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

int main(void)
{
    printf("1..17\n");
    double one[] = {7};
    ok(near(berth_bench_percentile(one, 1, 50), 7) && near(berth_bench_percentile(one, 1, 99), 7),
       "one value is every percentile");
    ok(berth_bench_percentile(NULL, 0, 50) == 0, "no values give 0");

    double v[] = {1, 2, 3, 4};
    /* numpy: percentile([1,2,3,4], 50) = 2.5, 90 -> 3.7, 0 -> 1, 100 -> 4 */
    ok(near(berth_bench_percentile(v, 4, 50), 2.5), "p50 of 1..4 interpolates to 2.5");
    ok(near(berth_bench_percentile(v, 4, 90), 3.7), "p90 of 1..4 is 3.7");
    ok(near(berth_bench_percentile(v, 4, 0), 1) && near(berth_bench_percentile(v, 4, 100), 4),
       "p0 and p100 are min and max");

    double h[100];
    for (int i = 0; i < 100; i++)
        h[i] = 99 - i; /* unsorted on purpose */
    berth_bench_summary_t s;
    berth_bench_summarize(h, 100, &s);
    ok(s.n == 100 && near(s.min, 0) && near(s.max, 99), "summary min/max/n");
    ok(near(s.p50, 49.5) && near(s.p99, 98.01) && near(s.p90, 89.1), "summary p50/p90/p99");
    ok(near(s.mean, 49.5), "summary mean");
    ok(h[0] == 99 && h[99] == 0, "summarize leaves its input unsorted");

    json_t *j = berth_bench_summary_json(&s);
    ok(near(berth_bench_json_number(j, "p99"), 98.01) &&
               json_integer_value(json_object_get(j, "n")) == 100,
       "summary JSON carries the figures");
    json_t *doc = json_pack("{s:O}", "startup_s", j);
    ok(near(berth_bench_json_number(doc, "startup_s.p50"), 49.5) &&
               isnan(berth_bench_json_number(doc, "startup_s.nope")) &&
               isnan(berth_bench_json_number(doc, "x.y.z")),
       "dotted lookups find numbers and miss cleanly");
    json_decref(doc);
    json_decref(j);

    double t[] = {0.1, 0.9, 1.0, 2.5, 2.6, 2.7};
    size_t nb;
    unsigned *b = berth_bench_per_second(t, 6, &nb);
    ok(nb == 3 && b[0] == 2 && b[1] == 1 && b[2] == 3, "per-second buckets");
    berth_free(b);
    b = berth_bench_per_second(NULL, 0, &nb);
    ok(nb == 0, "no events, no buckets");
    berth_free(b);

    char **sv = berth_bench_strv_split("containerd,,containerd-shim*,pause", ',');
    ok(sv[0] && strcmp(sv[0], "containerd") == 0 && strcmp(sv[1], "containerd-shim*") == 0 &&
               strcmp(sv[2], "pause") == 0 && sv[3] == NULL,
       "split drops empty fields");
    berth_bench_strv_free(sv);

    /* Find this process by its own comm (the binary's name, truncated). */
    char comm[32] = "";
    FILE *f = fopen("/proc/self/comm", "re");
    if (f) {
        if (fgets(comm, sizeof(comm), f) == NULL)
            comm[0] = '\0';
        fclose(f);
    }
    comm[strcspn(comm, "\n")] = '\0';
    const char *self[] = {comm, NULL};
    berth_bench_usage_t u;
    berth_bench_usage_sample(self, &u);
    ok(u.nprocs >= 1 && u.rss_bytes > 0, "the sampler finds this process by comm pattern");
    /* 5 ms of CPU shows as 5 ms: clock ticks (10 ms) would show 0 or 10. */
    berth_bench_usage_t u0, u1;
    berth_bench_usage_sample(self, &u0);
    struct timespec c0, c;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    do
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
    while ((double)(c.tv_sec - c0.tv_sec) + (double)(c.tv_nsec - c0.tv_nsec) / 1e9 < 0.005);
    berth_bench_usage_sample(self, &u1);
    ok(u1.cpu_s - u0.cpu_s >= 0.005, "own CPU time is exact, not whole clock ticks");
    const char *none[] = {"no-such-process-name", NULL};
    berth_bench_usage_sample(none, &u);
    ok(u.nprocs == 0 && u.rss_bytes == 0 && u.cpu_s == 0, "no match, zero usage");
    return nfail ? 1 : 0;
}
