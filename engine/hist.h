/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Latency histograms that are always on: berthd's per-stage figures (the
 * creation engine's steps, the blocking pool's queue wait and run time per
 * job kind, fsyncs, mounts, CNI plugins, RPCs, the run queue). Recording is
 * one relaxed atomic add per bucket plus the count's and sum's adds, from
 * any thread, with no lock; histograms live for the whole process in one
 * append-only registry (a lock-free hash table) that any thread may extend.
 *
 * Buckets are log2 with 2^BERTH_HIST_SUB_BITS linear sub-buckets per power
 * of two (HDR-like): values below 8 are exact; above, a bucket is 1/8 of its
 * power of two wide, so a percentile read at a bucket's middle is within
 * 6.25 % of the true value. Values are plain uint64 (berthd records ns).
 *
 * A snapshot copies the counters (not atomically as a whole: a record in
 * flight may be in the buckets and not yet in the sum); two snapshots
 * subtract, so a client reads the figures of one run from a before and an
 * after. Export: berth_hist_json (all histograms, sparse buckets), which
 * berthd serves in verbose Status (info key "stages", docs/perf.md) and
 * berth_hist_snap_from_json reads back.
 */
#ifndef BERTH_ENGINE_HIST_H
#define BERTH_ENGINE_HIST_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define BERTH_HIST_SUB_BITS 3
#define BERTH_HIST_SUB (1u << BERTH_HIST_SUB_BITS)
/* v < SUB: one bucket each; then SUB buckets per exponent SUB_BITS..63 */
#define BERTH_HIST_BUCKETS ((64u - BERTH_HIST_SUB_BITS + 1u) * BERTH_HIST_SUB)
/* At most this many names (4 KiB each); later names share one histogram,
 * "(names beyond the limit)". */
#define BERTH_HIST_MAX_NAMES 512u

typedef struct berth_hist {
    /* Set before the histogram is published in the registry, never after. */
    const char *name;
    struct berth_hist *next;
    /* Counters: relaxed atomics (see hist.c). */
    uint64_t count, sum, max;
    uint64_t buckets[BERTH_HIST_BUCKETS];
} berth_hist_t;

/* The bucket of v, and the lowest and highest value a bucket holds. */
unsigned berth_hist_bucket(uint64_t v);
uint64_t berth_hist_bucket_low(unsigned b);
uint64_t berth_hist_bucket_high(unsigned b);

/* Records v. Any thread, lock-free, never fails. */
void berth_hist_record(berth_hist_t *h, uint64_t v);

/* The histogram called name, made (empty) when it does not exist yet (past
 * BERTH_HIST_MAX_NAMES names: the shared overflow histogram).
 * Returned pointers stay valid for the process's life. name is copied.
 * Any thread, lock-free; a lookup is a hash of the name and a strcmp or
 * two, so recording by name is cheap enough for every RPC; a caller on a
 * hotter path keeps the pointer. */
berth_hist_t *berth_hist_get(const char *name);
/* berth_hist_get(name) then berth_hist_record. */
void berth_hist_add(const char *name, uint64_t v);
/* The registry's newest histogram (then ->next), NULL when empty. */
berth_hist_t *berth_hist_first(void);

/* berthd's clock for these figures: CLOCK_MONOTONIC in ns. */
uint64_t berth_hist_now(void);
/* Records berth_hist_now() - start under name (nothing when start is 0). */
void berth_hist_since(const char *name, uint64_t start);

/* ---- snapshots ------------------------------------------------------------ */

typedef struct berth_hist_snap {
    uint64_t count, sum, max;
    uint64_t buckets[BERTH_HIST_BUCKETS];
} berth_hist_snap_t;

void berth_hist_snapshot(const berth_hist_t *h, berth_hist_snap_t *out);
/* a -= b, bucket by bucket (b taken earlier from the same histogram). The
 * max of a difference is not known: it becomes the highest value of the
 * highest bucket left, or a's max when that is lower. */
void berth_hist_snap_sub(berth_hist_snap_t *a, const berth_hist_snap_t *b);
/* The value at quantile q (0..1): the middle of the bucket holding the
 * ceil(q * count)-th value, capped at max; 0 when empty. */
uint64_t berth_hist_snap_quantile(const berth_hist_snap_t *s, double q);

/* All histograms: {"unit": "ns", "sub_bits": 3, "hists": {NAME: {"count",
 * "sum", "max", "buckets": [[index, count], ...]}}} (buckets that are not
 * empty only). New reference. Any thread. */
json_t *berth_hist_json(void);
/* One histogram's object from berth_hist_json into *out; < 0 when it is not
 * one (wrong shape, an index out of range). */
int berth_hist_snap_from_json(const json_t *o, berth_hist_snap_t *out);

#endif
