/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure arithmetic of berth-bench and the /proc sampler it uses for a
 * runtime's own cost: percentiles, latency summaries, per-second rates, and
 * the RSS and CPU time of processes picked by name pattern. Summaries and
 * rates are plain functions of their inputs (unit tested); the sampler only
 * reads /proc and never signals or changes anything.
 */
#ifndef BERTH_PERF_BENCH_STATS_H
#define BERTH_PERF_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* The p-th percentile (0..100) of n sorted values, interpolating linearly
 * between the two closest ranks (numpy's default); 0 when n == 0. */
double berth_bench_percentile(const double *sorted, size_t n, double p);

typedef struct berth_bench_summary {
    size_t n;
    double min, mean, p50, p90, p99, max;
} berth_bench_summary_t;

/* Summarises n values (v is left untouched; a sorted copy is made). */
void berth_bench_summarize(const double *v, size_t n, berth_bench_summary_t *out);
/* {"n":..,"min":..,"mean":..,"p50":..,"p90":..,"p99":..,"max":..}; new ref. */
json_t *berth_bench_summary_json(const berth_bench_summary_t *s);

/* Counts events at times t[0..n) (seconds since the start) into one-second
 * buckets: returns an owned array of *nbuckets counts (covering 0..last). */
unsigned *berth_bench_per_second(const double *t, size_t n, size_t *nbuckets);

/* JSON array of n doubles; new ref. */
json_t *berth_bench_json_doubles(const double *v, size_t n);
/* Value at a dotted path ("startup_s.p50") as a number; NAN when absent. */
double berth_bench_json_number(json_t *o, const char *path);

/* The runtime's own cost: processes whose comm matches one of the fnmatch
 * patterns. cpu_s is each process's own time (exact, from its live threads'
 * schedstat, or utime+stime when that is larger) plus the time of reaped
 * children in clock ticks (so the short-lived OCI runtime processes a
 * daemon or monitor waits for count; up to two ticks short per process). */
#define BERTH_BENCH_USAGE_PIDS 4096

typedef struct berth_bench_usage {
    double cpu_s;       /* own_cpu_s + child_cpu_s */
    double own_cpu_s;   /* the processes' own time */
    double child_cpu_s; /* their reaped children's, in ticks */
    uint64_t rss_bytes;
    unsigned nprocs;
    /* The processes (the first BERTH_BENCH_USAGE_PIDS): the roots whose
     * children bench_exits.h counts. */
    unsigned npids;
    pid_t pids[BERTH_BENCH_USAGE_PIDS];
} berth_bench_usage_t;

/* Sums over /proc/[pid] now; patterns is NULL-terminated. A pattern
 * "GLOB@TEXT" also requires TEXT in the process's command line, which tells
 * a private daemon (and its monitors) from others of the same name on the
 * machine. Never fails: a process that exits while being read is skipped. */
void berth_bench_usage_sample(const char *const *patterns, berth_bench_usage_t *out);
/* Splits "a,b,c" into an owned NULL-terminated vector (free with _strv_free). */
char **berth_bench_strv_split(const char *s, char sep);
void berth_bench_strv_free(char **v);

#endif
