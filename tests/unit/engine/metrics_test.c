/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/metrics: counts from many threads add up exactly (and survive the
 * threads), labels are escaped, histograms are cumulative, the series limit
 * holds, scrape hooks run, and every line of the text parses as the
 * Prometheus text format 0.0.4 (a comment, or `name{labels} value`).
 */
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/metrics.h"
#include "io/bytebuf.h"
#include "tap.h"

#define THREADS 8
#define ROUNDS 200000

static berth_metric_t *hits, *lat;

static void *counter_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        berth_metric_inc(hits);
        berth_metric_observe(lat, (uint64_t)(i % 4) * 1000000ull); /* 0, 1, 2, 3 ms */
    }
    return NULL;
}

static int hook_runs;
static berth_metric_t *hooked;
static void hook(void *ctx)
{
    hook_runs++;
    berth_metric_set(hooked, (int64_t)(intptr_t)ctx);
}

static char *text(void)
{
    berth_bytebuf_t b = {0};
    berth_metrics_write(&b);
    berth_bytebuf_put_u8(&b, '\0');
    return (char *)b.data;
}

/* Every line: "# HELP name ...", "# TYPE name type", or a sample. */
static bool parses(char *t, int *samples)
{
    regex_t sample, help, type;
    regcomp(&sample,
            "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\",?)*\\})? "
            "-?[0-9.e+Inf-]+$",
            REG_EXTENDED | REG_NOSUB);
    regcomp(&help, "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$", REG_EXTENDED | REG_NOSUB);
    regcomp(&type, "^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram)$",
            REG_EXTENDED | REG_NOSUB);
    bool good = true;
    *samples = 0;
    char *save = NULL;
    for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (regexec(&help, l, 0, NULL, 0) == 0 || regexec(&type, l, 0, NULL, 0) == 0)
            continue;
        if (regexec(&sample, l, 0, NULL, 0) == 0) {
            (*samples)++;
            continue;
        }
        printf("# bad line: %s\n", l);
        good = false;
    }
    regfree(&sample);
    regfree(&help);
    regfree(&type);
    return good;
}

int main(void)
{
    hits = berth_metrics_counter("test_hits_total", "Hits from the threads.");
    static const uint64_t ms[] = {500000, 1500000, 2500000};
    static const char *const op[] = {"operation", NULL};
    berth_metric_family_t *lf = berth_metrics_family(&(berth_metric_desc_t){
            .type = BERTH_METRIC_HISTOGRAM,
            .name = "test_latency_seconds",
            .help = "Latency.",
            .labels = op,
            .bounds = ms,
            .nbounds = 3,
            .scale = 1e-9,
    });
    lat = berth_metrics_series1(lf, "Run");
    tap_ok(berth_metrics_series1(lf, "Run") == lat, "a series is found again by its values");

    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, counter_thread, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    tap_ok(berth_metric_value(hits, NULL) == (int64_t)THREADS * ROUNDS,
           "%d threads' increments all count after they exited (%lld)", THREADS,
           (long long)berth_metric_value(hits, NULL));
    uint64_t sum = 0;
    int64_t count = berth_metric_value(lat, &sum);
    tap_ok(count == (int64_t)THREADS * ROUNDS && sum == (uint64_t)THREADS * ROUNDS / 4 * 6000000ull,
           "histogram count and sum (%lld, %llu)", (long long)count, (unsigned long long)sum);

    /* threads that come after adopt the slabs: the count goes on */
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, counter_thread, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    tap_ok(berth_metric_value(hits, NULL) == 2ll * THREADS * ROUNDS,
           "a second generation of threads adds to the same totals");

    static const char *const two[] = {"method", "code", NULL};
    berth_metric_family_t *ef = berth_metrics_family(&(berth_metric_desc_t){
            .type = BERTH_METRIC_COUNTER,
            .name = "test_errors_total",
            .help = "Errors by \\ method\nand code.",
            .labels = two,
            .max_series = 3,
    });
    berth_metric_add(berth_metrics_series2(ef, "A", "NOT_FOUND"), 2);
    berth_metric_add(berth_metrics_series2(ef, "we\"ird\\\n", "X"), 1);
    berth_metric_add(berth_metrics_series2(ef, "B", "X"), 1);
    berth_metric_add(berth_metrics_series2(ef, "C", "X"), 5);
    berth_metric_add(berth_metrics_series2(ef, "D", "X"), 6);

    hooked = berth_metrics_gauge("test_depth", "A gauge set by a scrape hook.");
    berth_metrics_on_scrape(hook, (void *)(intptr_t)42);
    berth_metric_t *g = berth_metrics_gauge("test_level", "A gauge.");
    berth_metric_set(g, 10);
    berth_metric_gauge_add(g, -15);
    berth_metrics_family(&(berth_metric_desc_t){.type = BERTH_METRIC_COUNTER,
                                                .name = "test_empty_total",
                                                .help = "None yet.",
                                                .labels = op});

    char *t1 = text();
    tap_ok(hook_runs == 1 && strstr(t1, "\ntest_depth 42\n"),
           "the scrape hook ran and set a gauge");
    tap_ok(strstr(t1, "\ntest_level -5\n") != NULL, "gauge set and added");
    tap_ok(strstr(t1, "# HELP test_hits_total Hits from the threads.\n# TYPE test_hits_total "
                      "counter\ntest_hits_total 3200000\n") != NULL,
           "an unlabeled counter with HELP and TYPE");
    tap_ok(strstr(t1, "# HELP test_errors_total Errors by \\\\ method\\nand code.\n") != NULL,
           "HELP escapes backslash and newline");
    tap_ok(strstr(t1, "test_errors_total{method=\"we\\\"ird\\\\\\n\",code=\"X\"} 1\n") != NULL,
           "label values escape quote, backslash and newline");
    tap_ok(strstr(t1, "test_errors_total{method=\"_other\",code=\"_other\"} 11\n") != NULL &&
                   strstr(t1, "method=\"D\"") == NULL,
           "past max_series, new values count as _other");
    tap_ok(strstr(t1, "test_latency_seconds_bucket{operation=\"Run\",le=\"0.0005\"} 800000\n"
                      "test_latency_seconds_bucket{operation=\"Run\",le=\"0.0015\"} 1600000\n"
                      "test_latency_seconds_bucket{operation=\"Run\",le=\"0.0025\"} 2400000\n"
                      "test_latency_seconds_bucket{operation=\"Run\",le=\"+Inf\"} 3200000\n"
                      "test_latency_seconds_sum{operation=\"Run\"} 4800\n"
                      "test_latency_seconds_count{operation=\"Run\"} 3200000\n") != NULL,
           "histogram buckets are cumulative, in seconds, with _sum and _count");
    tap_ok(strstr(t1, "# TYPE test_empty_total counter\n# HELP") != NULL ||
                   strstr(t1, "# TYPE test_empty_total counter\n") != NULL,
           "a labeled family without series has its HELP and TYPE only");
    int samples = 0;
    tap_ok(parses(t1, &samples) && samples == 13, "every line parses (%d samples)", samples);
    berth_free(t1);

    /* the same family asked for twice is the same family */
    tap_ok(berth_metrics_counter("test_hits_total", "again") == hits,
           "registering a name again returns the first family's series");
    tap_plan(tap_n);
    return tap_done();
}
