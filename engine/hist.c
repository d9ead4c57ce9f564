/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Always-on latency histograms (see hist.h).
 *
 * Ordering: every counter is a statistic that nothing else is published
 * through, and no reader decides anything from one counter about another,
 * so the counters use relaxed atomics (atomicity only: no torn 64-bit
 * values, no lost increments). The registry is an open-addressing table
 * of names (lookups: a hash and a strcmp or two) plus a list for export.
 * A new histogram is filled in, then claims an empty slot by a release
 * CAS; readers load slots with acquire and then read the name plainly,
 * written before that release and never again. A name is in the table at
 * most once: slots only ever go from empty to full, so two makers of one
 * name meet at the same first empty slot and the loser takes the winner's.
 * The winner then pushes it on the export list the same way (release CAS
 * of the head, acquire loads of it). Histograms are never freed.
 */
#include "engine/hist.h"

#include <string.h>
#include <time.h>

#include "engine/alloc.h"

/* A power of two above twice BERTH_HIST_MAX_NAMES: probes stay short and
 * always end at an empty slot. */
#define TABLE_SIZE 2048u
static berth_hist_t *table[TABLE_SIZE];
static berth_hist_t *registry_head; /* the export list */
static unsigned registry_count;
/* Where names beyond BERTH_HIST_MAX_NAMES go (a client inventing method
 * names must not grow berthd's memory without bound). */
static berth_hist_t overflow = {.name = "(names beyond the limit)"};

unsigned berth_hist_bucket(uint64_t v)
{
    if (v < BERTH_HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
    unsigned sub = (unsigned)(v >> (e - BERTH_HIST_SUB_BITS)) & (BERTH_HIST_SUB - 1);
    return (e - BERTH_HIST_SUB_BITS + 1) * BERTH_HIST_SUB + sub;
}

uint64_t berth_hist_bucket_low(unsigned b)
{
    if (b < BERTH_HIST_SUB)
        return b;
    unsigned e = b / BERTH_HIST_SUB + BERTH_HIST_SUB_BITS - 1;
    uint64_t sub = b % BERTH_HIST_SUB;
    return (BERTH_HIST_SUB + sub) << (e - BERTH_HIST_SUB_BITS);
}

uint64_t berth_hist_bucket_high(unsigned b)
{
    if (b < BERTH_HIST_SUB)
        return b;
    unsigned e = b / BERTH_HIST_SUB + BERTH_HIST_SUB_BITS - 1;
    return berth_hist_bucket_low(b) + ((UINT64_C(1) << (e - BERTH_HIST_SUB_BITS)) - 1);
}

void berth_hist_record(berth_hist_t *h, uint64_t v)
{
    /* Relaxed: independent statistics (see the top of the file). */
    __atomic_fetch_add(&h->buckets[berth_hist_bucket(v)], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum, v, __ATOMIC_RELAXED);
    /* Relaxed CAS loop: max only ever grows, and a reader that sees an old
     * max sees a value this histogram really held. A failed CAS reloads. */
    uint64_t m = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
    while (v > m &&
           !__atomic_compare_exchange_n(&h->max, &m, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void list_push(berth_hist_t *n)
{
    /* Release (the CAS): n (its name, its counters' zeroes, next) is
     * written before an exporter can reach it; pairs with
     * berth_hist_first's acquire. Relaxed (this load and the CAS's failure):
     * the head read is only n's next, which the CAS checks, and nobody here
     * reads through it. */
    berth_hist_t *head = __atomic_load_n(&registry_head, __ATOMIC_RELAXED);
    do
        n->next = head;
    while (!__atomic_compare_exchange_n(&registry_head, &head, n, true, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED));
}

berth_hist_t *berth_hist_get(const char *name)
{
    berth_hist_t *n = NULL;
    for (uint32_t i = hash_name(name) & (TABLE_SIZE - 1);; i = (i + 1) & (TABLE_SIZE - 1)) {
        /* Acquire: pairs with the release CAS that filled the slot, so the
         * histogram's name is visible. */
        berth_hist_t *p = __atomic_load_n(&table[i], __ATOMIC_ACQUIRE);
        if (p == NULL) {
            if (n == NULL) {
                /* Relaxed: only a bound; racing makers may pass it by one
                 * each, and the table has room for twice the bound. */
                if (__atomic_fetch_add(&registry_count, 1, __ATOMIC_RELAXED) >=
                    BERTH_HIST_MAX_NAMES) {
                    __atomic_fetch_sub(&registry_count, 1, __ATOMIC_RELAXED);
                    return &overflow;
                }
                n = berth_calloc(1, sizeof(*n));
                n->name = berth_strdup(name);
            }
            /* Release on success: n is filled in before anyone can find it.
             * Acquire on failure: the slot's new histogram is readable. */
            if (__atomic_compare_exchange_n(&table[i], &p, n, false, __ATOMIC_RELEASE,
                                            __ATOMIC_ACQUIRE)) {
                list_push(n);
                return n;
            }
        }
        if (strcmp(p->name, name) == 0) {
            if (n != NULL) {
                /* Relaxed: the bound, as above. */
                __atomic_fetch_sub(&registry_count, 1, __ATOMIC_RELAXED);
                berth_free((char *)n->name);
                berth_free(n);
            }
            return p;
        }
    }
}

void berth_hist_add(const char *name, uint64_t v)
{
    berth_hist_record(berth_hist_get(name), v);
}

berth_hist_t *berth_hist_first(void)
{
    /* Acquire: pairs with list_push's release. */
    return __atomic_load_n(&registry_head, __ATOMIC_ACQUIRE);
}

uint64_t berth_hist_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void berth_hist_since(const char *name, uint64_t start)
{
    if (start == 0)
        return;
    uint64_t now = berth_hist_now();
    berth_hist_add(name, now > start ? now - start : 0);
}

/* ---- snapshots ------------------------------------------------------------ */

void berth_hist_snapshot(const berth_hist_t *h, berth_hist_snap_t *out)
{
    /* Relaxed: a statistic; the count is the buckets' sum, so the figures
     * read from one snapshot agree with each other even while records land. */
    out->count = 0;
    for (unsigned b = 0; b < BERTH_HIST_BUCKETS; b++) {
        out->buckets[b] = __atomic_load_n(&h->buckets[b], __ATOMIC_RELAXED);
        out->count += out->buckets[b];
    }
    out->sum = __atomic_load_n(&h->sum, __ATOMIC_RELAXED);
    out->max = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
}

void berth_hist_snap_sub(berth_hist_snap_t *a, const berth_hist_snap_t *b)
{
    a->count = 0;
    uint64_t top = 0;
    for (unsigned i = 0; i < BERTH_HIST_BUCKETS; i++) {
        a->buckets[i] = a->buckets[i] > b->buckets[i] ? a->buckets[i] - b->buckets[i] : 0;
        a->count += a->buckets[i];
        if (a->buckets[i])
            top = berth_hist_bucket_high(i);
    }
    a->sum = a->sum > b->sum ? a->sum - b->sum : 0;
    if (top < a->max)
        a->max = top;
}

uint64_t berth_hist_snap_quantile(const berth_hist_snap_t *s, double q)
{
    if (s->count == 0)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)(q * (double)s->count);
    if ((double)rank < q * (double)s->count)
        rank++; /* ceil */
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < BERTH_HIST_BUCKETS; b++) {
        seen += s->buckets[b];
        if (seen >= rank) {
            uint64_t lo = berth_hist_bucket_low(b), hi = berth_hist_bucket_high(b);
            uint64_t mid = lo + (hi - lo) / 2;
            return s->max && mid > s->max ? s->max : mid;
        }
    }
    return s->max;
}

json_t *berth_hist_json(void)
{
    json_t *hists = json_object();
    berth_hist_snap_t *s = berth_malloc(sizeof(*s));
    for (berth_hist_t *h = berth_hist_first();; h = h->next) {
        if (h == NULL) {
            /* the overflow last, and only once it was used (relaxed: a
             * statistic, and the overflow itself is static) */
            if (__atomic_load_n(&overflow.count, __ATOMIC_RELAXED) == 0)
                break;
            h = &overflow;
        }
        berth_hist_snapshot(h, s);
        json_t *bk = json_array();
        for (unsigned b = 0; b < BERTH_HIST_BUCKETS; b++)
            if (s->buckets[b])
                json_array_append_new(bk, json_pack("[i,I]", (int)b, (json_int_t)s->buckets[b]));
        json_object_set_new(hists, h->name,
                            json_pack("{s:I, s:I, s:I, s:o}", "count", (json_int_t)s->count, "sum",
                                      (json_int_t)s->sum, "max", (json_int_t)s->max, "buckets",
                                      bk));
        if (h == &overflow)
            break;
    }
    berth_free(s);
    return json_pack("{s:s, s:i, s:o}", "unit", "ns", "sub_bits", BERTH_HIST_SUB_BITS, "hists",
                     hists);
}

int berth_hist_snap_from_json(const json_t *o, berth_hist_snap_t *out)
{
    memset(out, 0, sizeof(*out));
    json_t *bk = json_object_get(o, "buckets");
    if (!json_is_object(o) || !json_is_array(bk))
        return -1;
    out->sum = (uint64_t)json_integer_value(json_object_get(o, "sum"));
    out->max = (uint64_t)json_integer_value(json_object_get(o, "max"));
    size_t i;
    json_t *pair;
    json_array_foreach(bk, i, pair)
    {
        json_int_t b = json_integer_value(json_array_get(pair, 0));
        json_int_t n = json_integer_value(json_array_get(pair, 1));
        if (!json_is_array(pair) || b < 0 || b >= (json_int_t)BERTH_HIST_BUCKETS || n < 0)
            return -1;
        out->buckets[b] += (uint64_t)n;
        out->count += (uint64_t)n;
    }
    return 0;
}
