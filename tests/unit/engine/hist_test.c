/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for engine/hist.h: the bucket layout (every value in the bucket it
 * names, buckets contiguous, a bucket 1/8 of its power of two), records and
 * percentiles against a sorted array, snapshot differences, the JSON round
 * trip, and two threads recording into one histogram and registering the
 * same names at once (no lost count, one histogram per name; the TSan build
 * checks the registry's ordering).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/hist.h"
#include "tap.h"

#define THREAD_RECORDS 200000
#define RACE_NAMES 64

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_buckets(void)
{
    bool in = true, contiguous = true, width = true;
    for (unsigned b = 0; b < BERTH_HIST_BUCKETS; b++) {
        uint64_t lo = berth_hist_bucket_low(b), hi = berth_hist_bucket_high(b);
        if (berth_hist_bucket(lo) != b || berth_hist_bucket(hi) != b)
            in = false;
        if (b + 1 < BERTH_HIST_BUCKETS && berth_hist_bucket_low(b + 1) != hi + 1)
            contiguous = false;
        /* above 16, a bucket is at most 1/8 of its low edge */
        if (lo >= 16 && (hi - lo + 1) * 8 > lo)
            width = false;
    }
    tap_ok(in, "every bucket's low and high values fall in that bucket");
    tap_ok(contiguous, "buckets are contiguous from 0");
    tap_ok(width, "a bucket is 1/8 of its power of two wide");
    tap_ok(berth_hist_bucket(0) == 0 && berth_hist_bucket(7) == 7,
           "values below 8 have a bucket each");
    tap_ok(berth_hist_bucket(UINT64_MAX) == BERTH_HIST_BUCKETS - 1 &&
                   berth_hist_bucket_high(BERTH_HIST_BUCKETS - 1) == UINT64_MAX,
           "the last bucket ends at UINT64_MAX");
}

static void test_quantiles(void)
{
    enum { N = 10000 };
    static uint64_t v[N];
    uint64_t seed = 42;
    berth_hist_t *h = berth_hist_get("test/quantiles");
    for (int i = 0; i < N; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        /* log-uniform over 1 us .. 1 s */
        double e = 3 + 6 * (double)(seed >> 11) / (double)(1ull << 53);
        uint64_t x = 1;
        for (double k = 0; k < e; k += 1)
            x *= 10;
        v[i] = x / 10 + (seed >> 40) % (x / 10 + 1);
        berth_hist_record(h, v[i]);
    }
    qsort(v, N, sizeof(v[0]), cmp_u64);
    berth_hist_snap_t s;
    berth_hist_snapshot(h, &s);
    tap_ok(s.count == N, "count is the number of records (%llu)", (unsigned long long)s.count);
    tap_ok(s.max == v[N - 1], "max is the largest value");
    uint64_t sum = 0;
    for (int i = 0; i < N; i++)
        sum += v[i];
    tap_ok(s.sum == sum, "sum is the values' sum");
    bool close = true;
    const double qs[] = {0.01, 0.5, 0.9, 0.99, 0.999};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        uint64_t exact = v[(size_t)(qs[i] * N + 0.999999) - 1];
        uint64_t got = berth_hist_snap_quantile(&s, qs[i]);
        double rel = ((double)got - (double)exact) / (double)exact;
        if (rel > 0.0625 || rel < -0.0625) {
            close = false;
            printf("# q=%g exact %llu got %llu\n", qs[i], (unsigned long long)exact,
                   (unsigned long long)got);
        }
    }
    tap_ok(close, "p1, p50, p90, p99, p99.9 within 6.25 %% of the exact values");
    tap_ok(berth_hist_snap_quantile(&s, 1.0) <= s.max, "p100 is capped at max");
    berth_hist_snap_t empty = {0};
    tap_ok(berth_hist_snap_quantile(&empty, 0.5) == 0, "an empty histogram reads 0");
}

static void test_sub_and_json(void)
{
    berth_hist_t *h = berth_hist_get("test/sub");
    tap_ok(berth_hist_get("test/sub") == h, "a name gives the same histogram again");
    for (int i = 0; i < 100; i++)
        berth_hist_record(h, 1000);
    berth_hist_snap_t before, after;
    berth_hist_snapshot(h, &before);
    for (int i = 0; i < 10; i++)
        berth_hist_record(h, 5000000);
    berth_hist_record(h, 20000000);
    berth_hist_snapshot(h, &after);
    berth_hist_snap_sub(&after, &before);
    tap_ok(after.count == 11 && after.sum == 70000000,
           "the difference holds only the records between the snapshots");
    tap_ok(berth_hist_snap_quantile(&after, 0.5) >= 4800000 &&
                   berth_hist_snap_quantile(&after, 0.5) <= 5300000,
           "the difference's p50 is the later records' (5 ms)");
    tap_ok(after.max == 20000000, "the difference's max is the max when it is in its top bucket");
    berth_hist_snapshot(h, &after);
    berth_hist_t *h2 = berth_hist_get("test/sub2");
    berth_hist_record(h2, 3);
    berth_hist_snapshot(h2, &before);
    berth_hist_record(h2, 9);
    berth_hist_snapshot(h2, &after);
    berth_hist_snap_sub(&after, &before);
    tap_ok(after.max == 9, "a difference's max is bounded by its top bucket");

    json_t *doc = berth_hist_json();
    json_t *o = json_object_get(json_object_get(doc, "hists"), "test/sub");
    berth_hist_snap_t back, orig;
    berth_hist_snapshot(h, &orig);
    tap_ok(o != NULL && berth_hist_snap_from_json(o, &back) == 0,
           "berth_hist_json has the histogram and it reads back");
    tap_ok(memcmp(&back, &orig, sizeof(back)) == 0,
           "the JSON round trip keeps count, sum, max and every bucket");
    tap_ok(json_integer_value(json_object_get(doc, "sub_bits")) == BERTH_HIST_SUB_BITS &&
                   strcmp(json_string_value(json_object_get(doc, "unit")), "ns") == 0,
           "the document says its unit and bucket layout");
    json_t *bad = json_pack("{s:[[i,i]]}", "buckets", (int)BERTH_HIST_BUCKETS, 1);
    tap_ok(berth_hist_snap_from_json(bad, &back) < 0, "a bucket index out of range is refused");
    json_decref(bad);
    json_decref(doc);
}

static berth_hist_t *shared;
static berth_hist_t *got[2][RACE_NAMES];
static int go;

static void *racer(void *arg)
{
    int id = (int)(intptr_t)arg;
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
        ;
    for (int i = 0; i < RACE_NAMES; i++) {
        char name[32];
        snprintf(name, sizeof(name), "race/%d", i);
        got[id][i] = berth_hist_get(name);
        berth_hist_record(got[id][i], (uint64_t)i);
    }
    for (int i = 0; i < THREAD_RECORDS; i++)
        berth_hist_record(shared, (uint64_t)(i & 1023));
    return NULL;
}

static void test_threads(void)
{
    shared = berth_hist_get("test/threads");
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, racer, (void *)(intptr_t)i);
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    berth_hist_snap_t s;
    berth_hist_snapshot(shared, &s);
    tap_ok(s.count == 2 * THREAD_RECORDS, "two threads' records all counted (%llu)",
           (unsigned long long)s.count);
    bool same = true, twice = true;
    for (int i = 0; i < RACE_NAMES; i++) {
        if (got[0][i] != got[1][i])
            same = false;
        berth_hist_snapshot(got[0][i], &s);
        if (s.count != 2)
            twice = false;
    }
    tap_ok(same, "names registered at once by two threads give one histogram each");
    tap_ok(twice, "each raced histogram holds both threads' record");
    unsigned n = 0;
    for (berth_hist_t *h = berth_hist_first(); h; h = h->next)
        if (strncmp(h->name, "race/", 5) == 0)
            n++;
    tap_ok(n == RACE_NAMES, "the registry lists each raced name once (%u)", n);
}

/* Last: fills the registry to its limit. */
static void test_limit(void)
{
    unsigned n = 0;
    for (berth_hist_t *h = berth_hist_first(); h; h = h->next)
        n++;
    berth_hist_t *last = NULL;
    for (unsigned i = n; i < BERTH_HIST_MAX_NAMES; i++) {
        char name[32];
        snprintf(name, sizeof(name), "fill/%u", i);
        last = berth_hist_get(name);
    }
    berth_hist_t *over = berth_hist_get("one too many");
    berth_hist_record(over, 5);
    tap_ok(last != NULL && over != last && berth_hist_get("another one") == over,
           "names beyond the limit share one histogram");
    berth_hist_t *old = berth_hist_get("race/3");
    tap_ok(old != over && strcmp(old->name, "race/3") == 0,
           "names made before the limit are still found");
    json_t *doc = berth_hist_json();
    json_t *o = json_object_get(json_object_get(doc, "hists"), "(names beyond the limit)");
    tap_ok(json_integer_value(json_object_get(o, "count")) == 1 &&
                   json_object_size(json_object_get(doc, "hists")) == BERTH_HIST_MAX_NAMES + 1,
           "the export lists every name once and the overflow last");
    json_decref(doc);
}

int main(void)
{
    tap_plan(27);
    test_buckets();
    test_quantiles();
    test_sub_and_json();
    test_threads();
    test_limit();
    return tap_done();
}
