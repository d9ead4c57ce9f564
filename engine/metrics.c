/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics registry and its text writer (see metrics.h).
 *
 * Cells. Each thread that counts gets a block ("slab") of counter cells the
 * first time it counts: 64 chunks of 512 cells, a chunk allocated when the
 * thread first touches a cell in it. A counter series is one cell index;
 * a histogram series nbounds + 2 (the buckets, +Inf included, then the
 * sum). The value of a cell is the sum of it over all slabs. A thread that
 * exits leaves its slab (its counts stay in the totals) for the next new
 * thread to adopt, so threads that come and go do not grow the registry.
 *
 * Ordering. Cell adds are relaxed atomic adds: every cell is an independent
 * statistic that nothing else is published through, and a scrape that sums
 * while others add reads each cell at some moment (a histogram's sum and
 * buckets may be one observation apart, as in any Prometheus client). An
 * add rather than a load and store, although a slab has one writer, because
 * an adopted slab's old owner may be between its last add and its exit
 * when the new one starts (and threads past MAX_SLABS share the last one).
 * A chunk pointer is stored with release by the slab's thread after the
 * chunk is zeroed, and loaded with acquire by scrapers, so a scraper never
 * reads a chunk before its zeroes. A new slab is published the same way:
 * slabs[n] is set, then nslabs is stored with release (under slab_lock, so
 * two threads never take the same index); scrapers load nslabs with acquire
 * and then read slabs[0..n). A slab's `free` flag goes 0 -> 1 at its
 * thread's exit and 1 -> 0 by the adopting thread's CAS; relaxed suffices,
 * since the adopter then only adds to cells (atomic) and reads chunk
 * pointers with acquire, whatever the old owner did last.
 *
 * Gauges are one int64 each in the series, set or added with relaxed
 * atomics (independent values again). A counter series has the same field
 * for a total kept elsewhere (a module's own atomic) that a scrape hook
 * copies in; it is added to the cells.
 *
 * Families and series live under reg_lock, taken to make them and by the
 * writer; never on an increment.
 */
#include "engine/metrics.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/log.h"
/* The one header engine/ takes from io/: the byte buffer is header-only and
 * depends on engine/alloc.h alone; the text goes straight into the buffer
 * the HTTP server sends. */
#include "io/bytebuf.h"

#define CHUNK_BITS 9u
#define CHUNK_CELLS (1u << CHUNK_BITS)
#define NCHUNKS (BERTH_METRICS_MAX_CELLS / CHUNK_CELLS)
#define MAX_SLABS 1024u
#define MAX_HOOKS 32u

typedef struct slab {
    uint64_t *chunks[NCHUNKS]; /* release by the owner, acquire by scrapers */
    int free;                  /* its thread exited: adoptable (relaxed) */
} slab_t;

struct berth_metric {
    berth_metric_family_t *fam;
    char *labels; /* rendered: `a="x",b="y"` (escaped), "" for none */
    uint32_t cell;
    int64_t gauge;
};

struct berth_metric_family {
    berth_metric_type_t type;
    char *name, *help;
    char **labels; /* NULL-terminated */
    size_t nlabels;
    uint64_t *bounds;
    size_t nbounds;
    char **le; /* the bounds as exposed ("0.005", ..., "+Inf"): formatted once */
    double scale;
    size_t max_series;
    berth_metric_t **series;
    size_t nseries, cap;
    berth_metric_t *other; /* where label values past max_series go */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static berth_metric_family_t **families;
static size_t nfamilies, cap_families;
static uint32_t next_cell = 1; /* cell 0: the overflow cell */
static bool cells_warned;

static pthread_mutex_t slab_lock = PTHREAD_MUTEX_INITIALIZER;
static slab_t *slabs[MAX_SLABS];
static unsigned nslabs;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t slab_key;
static __thread slab_t *tls_slab;

static struct {
    void (*fn)(void *);
    void *ctx;
} hooks[MAX_HOOKS];
static unsigned nhooks;

/* ---- slabs -------------------------------------------------------------- */

static void slab_release(void *p)
{
    slab_t *s = p;
    __atomic_store_n(&s->free, 1, __ATOMIC_RELAXED);
}

static void make_key(void)
{
    (void)pthread_key_create(&slab_key, slab_release);
}

static slab_t *slab_attach(void)
{
    pthread_once(&key_once, make_key);
    slab_t *s = NULL;
    unsigned n = __atomic_load_n(&nslabs, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n && s == NULL; i++) {
        int one = 1;
        if (__atomic_load_n(&slabs[i]->free, __ATOMIC_RELAXED) &&
            __atomic_compare_exchange_n(&slabs[i]->free, &one, 0, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            s = slabs[i];
    }
    if (s == NULL) {
        pthread_mutex_lock(&slab_lock);
        if (nslabs < MAX_SLABS) {
            s = berth_calloc(1, sizeof(*s));
            slabs[nslabs] = s;
            __atomic_store_n(&nslabs, nslabs + 1, __ATOMIC_RELEASE);
        } else {
            s = slabs[MAX_SLABS - 1]; /* shared: the adds are atomic */
        }
        pthread_mutex_unlock(&slab_lock);
    }
    tls_slab = s;
    (void)pthread_setspecific(slab_key, s);
    return s;
}

static uint64_t *cell_ptr(uint32_t cell)
{
    slab_t *s = tls_slab ? tls_slab : slab_attach();
    uint32_t ci = cell >> CHUNK_BITS;
    uint64_t *ch = __atomic_load_n(&s->chunks[ci], __ATOMIC_ACQUIRE);
    if (ch == NULL) {
        uint64_t *fresh = berth_calloc(CHUNK_CELLS, sizeof(uint64_t));
        uint64_t *expect = NULL;
        /* a shared slab may see two first touches at once: one chunk wins */
        if (__atomic_compare_exchange_n(&s->chunks[ci], &expect, fresh, false, __ATOMIC_RELEASE,
                                        __ATOMIC_ACQUIRE)) {
            ch = fresh;
        } else {
            berth_free(fresh);
            ch = expect;
        }
    }
    return &ch[cell & (CHUNK_CELLS - 1)];
}

static uint64_t cell_sum(uint32_t cell)
{
    uint64_t v = 0;
    unsigned n = __atomic_load_n(&nslabs, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        uint64_t *ch = __atomic_load_n(&slabs[i]->chunks[cell >> CHUNK_BITS], __ATOMIC_ACQUIRE);
        if (ch)
            v += __atomic_load_n(&ch[cell & (CHUNK_CELLS - 1)], __ATOMIC_RELAXED);
    }
    return v;
}

/* ---- registry ------------------------------------------------------------ */

static uint32_t take_cells(uint32_t n)
{
    if (next_cell + n > BERTH_METRICS_MAX_CELLS) {
        if (!cells_warned)
            berth_log_warn("metrics: out of counter cells; new series share one", "max=%u",
                           BERTH_METRICS_MAX_CELLS);
        cells_warned = true;
        return 0;
    }
    uint32_t c = next_cell;
    next_cell += n;
    return c;
}

static size_t ncells(const berth_metric_family_t *f)
{
    return f->type == BERTH_METRIC_HISTOGRAM ? f->nbounds + 2 : 1;
}

static void put_escaped(berth_bytebuf_t *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            berth_bytebuf_put(b, "\\\\", 2);
        else if (*s == '\n')
            berth_bytebuf_put(b, "\\n", 2);
        else if (*s == '"' && quote)
            berth_bytebuf_put(b, "\\\"", 2);
        else
            berth_bytebuf_put_u8(b, (uint8_t)*s);
    }
}

static berth_metric_t *series_new(berth_metric_family_t *f, const char *const *values)
{
    berth_metric_t *m = berth_calloc(1, sizeof(*m));
    m->fam = f;
    berth_bytebuf_t b = {0};
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i)
            berth_bytebuf_put_u8(&b, ',');
        berth_bytebuf_put(&b, f->labels[i], strlen(f->labels[i]));
        berth_bytebuf_put(&b, "=\"", 2);
        put_escaped(&b, values ? values[i] : "_other", true);
        berth_bytebuf_put_u8(&b, '"');
    }
    berth_bytebuf_put_u8(&b, '\0');
    m->labels = (char *)b.data;
    if (f->type != BERTH_METRIC_GAUGE) {
        uint32_t n = (uint32_t)ncells(f);
        m->cell = take_cells(n);
        if (m->cell == 0 && n > 1) /* a histogram without cells counts nowhere */
            m->cell = UINT32_MAX;
    }
    return m;
}

berth_metric_family_t *berth_metrics_family(const berth_metric_desc_t *d)
{
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nfamilies; i++) {
        if (strcmp(families[i]->name, d->name) == 0) {
            assert(families[i]->type == d->type);
            pthread_mutex_unlock(&reg_lock);
            return families[i];
        }
    }
    berth_metric_family_t *f = berth_calloc(1, sizeof(*f));
    f->type = d->type;
    f->name = berth_strdup(d->name);
    f->help = berth_strdup(d->help ? d->help : "");
    while (d->labels && d->labels[f->nlabels])
        f->nlabels++;
    f->labels = berth_calloc(f->nlabels + 1, sizeof(char *));
    for (size_t i = 0; i < f->nlabels; i++)
        f->labels[i] = berth_strdup(d->labels[i]);
    if (d->type == BERTH_METRIC_HISTOGRAM) {
        f->nbounds = d->nbounds;
        f->bounds = berth_calloc(d->nbounds ? d->nbounds : 1, sizeof(uint64_t));
        if (d->nbounds)
            memcpy(f->bounds, d->bounds, d->nbounds * sizeof(uint64_t));
    }
    f->scale = d->scale > 0 ? d->scale : 1.0;
    if (d->type == BERTH_METRIC_HISTOGRAM) {
        f->le = berth_calloc(f->nbounds + 1, sizeof(char *));
        for (size_t i = 0; i < f->nbounds; i++)
            f->le[i] = berth_asprintf("%.12g", (double)f->bounds[i] * f->scale);
        f->le[f->nbounds] = berth_strdup("+Inf");
    }
    f->max_series = d->max_series ? d->max_series : BERTH_METRICS_DEFAULT_MAX_SERIES;
    if (nfamilies == cap_families) {
        cap_families = cap_families ? cap_families * 2 : 64;
        families = berth_realloc(families, cap_families * sizeof(*families));
    }
    families[nfamilies++] = f;
    pthread_mutex_unlock(&reg_lock);
    return f;
}

berth_metric_t *berth_metrics_series(berth_metric_family_t *f, const char *const *values)
{
    pthread_mutex_lock(&reg_lock);
    berth_metric_t *m = NULL;
    /* compare rendered label text: values are escaped the same way */
    berth_bytebuf_t want = {0};
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i)
            berth_bytebuf_put_u8(&want, ',');
        berth_bytebuf_put(&want, f->labels[i], strlen(f->labels[i]));
        berth_bytebuf_put(&want, "=\"", 2);
        put_escaped(&want, values[i], true);
        berth_bytebuf_put_u8(&want, '"');
    }
    berth_bytebuf_put_u8(&want, '\0');
    for (size_t i = 0; i < f->nseries && m == NULL; i++)
        if (strcmp(f->series[i]->labels, (const char *)want.data) == 0)
            m = f->series[i];
    berth_bytebuf_free(&want);
    if (m == NULL && f->nseries >= f->max_series) {
        if (f->other == NULL) {
            berth_log_warn("metrics: too many label values; the rest count as _other",
                           "metric=%s max=%zu", f->name, f->max_series);
            f->other = series_new(f, NULL);
            if (f->nseries == f->cap) {
                f->cap = f->cap ? f->cap * 2 : 8;
                f->series = berth_realloc(f->series, f->cap * sizeof(*f->series));
            }
            f->series[f->nseries++] = f->other;
        }
        m = f->other;
    }
    if (m == NULL) {
        m = series_new(f, values);
        if (f->nseries == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 8;
            f->series = berth_realloc(f->series, f->cap * sizeof(*f->series));
        }
        f->series[f->nseries++] = m;
    }
    pthread_mutex_unlock(&reg_lock);
    return m;
}

berth_metric_t *berth_metrics_series1(berth_metric_family_t *f, const char *v)
{
    const char *vals[] = {v};
    return berth_metrics_series(f, vals);
}

berth_metric_t *berth_metrics_series2(berth_metric_family_t *f, const char *v1, const char *v2)
{
    const char *vals[] = {v1, v2};
    return berth_metrics_series(f, vals);
}

berth_metric_t *berth_metrics_counter(const char *name, const char *help)
{
    berth_metric_desc_t d = {.type = BERTH_METRIC_COUNTER, .name = name, .help = help};
    return berth_metrics_series(berth_metrics_family(&d), NULL);
}

berth_metric_t *berth_metrics_gauge(const char *name, const char *help)
{
    berth_metric_desc_t d = {.type = BERTH_METRIC_GAUGE, .name = name, .help = help};
    return berth_metrics_series(berth_metrics_family(&d), NULL);
}

/* ---- the hot path ---------------------------------------------------------- */

void berth_metric_add(berth_metric_t *m, uint64_t n)
{
    if (m == NULL || m->cell == UINT32_MAX)
        return;
    if (m->fam->type == BERTH_METRIC_HISTOGRAM) {
        berth_metric_observe(m, n);
        return;
    }
    /* Relaxed: an independent statistic (see the top of the file). */
    __atomic_fetch_add(cell_ptr(m->cell), n, __ATOMIC_RELAXED);
}

void berth_metric_set(berth_metric_t *m, int64_t v)
{
    if (m)
        __atomic_store_n(&m->gauge, v, __ATOMIC_RELAXED); /* independent value */
}

void berth_metric_gauge_add(berth_metric_t *m, int64_t delta)
{
    if (m)
        __atomic_fetch_add(&m->gauge, delta, __ATOMIC_RELAXED); /* independent value */
}

void berth_metric_observe(berth_metric_t *m, uint64_t v)
{
    if (m == NULL || m->cell == UINT32_MAX)
        return;
    const berth_metric_family_t *f = m->fam;
    if (f->type != BERTH_METRIC_HISTOGRAM) {
        berth_metric_add(m, v);
        return;
    }
    size_t b = 0;
    while (b < f->nbounds && v > f->bounds[b])
        b++;
    /* Relaxed: independent statistics; the bucket and the sum may be read
     * one observation apart by a scrape, which Prometheus tolerates. */
    __atomic_fetch_add(cell_ptr(m->cell + (uint32_t)b), 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(cell_ptr(m->cell + (uint32_t)f->nbounds + 1), v, __ATOMIC_RELAXED);
}

int64_t berth_metric_value(const berth_metric_t *m, uint64_t *sum)
{
    if (m == NULL)
        return 0;
    const berth_metric_family_t *f = m->fam;
    if (f->type == BERTH_METRIC_GAUGE)
        return __atomic_load_n(&m->gauge, __ATOMIC_RELAXED);
    if (m->cell == UINT32_MAX)
        return 0;
    if (f->type == BERTH_METRIC_COUNTER)
        return (int64_t)(cell_sum(m->cell) +
                         (uint64_t)__atomic_load_n(&m->gauge, __ATOMIC_RELAXED));
    uint64_t count = 0;
    for (size_t b = 0; b <= f->nbounds; b++)
        count += cell_sum(m->cell + (uint32_t)b);
    if (sum)
        *sum = cell_sum(m->cell + (uint32_t)f->nbounds + 1);
    return (int64_t)count;
}

void berth_metrics_family_reset(berth_metric_family_t *f)
{
    if (f->type != BERTH_METRIC_GAUGE)
        return;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < f->nseries; i++)
        __atomic_store_n(&f->series[i]->gauge, 0, __ATOMIC_RELAXED); /* independent values */
    pthread_mutex_unlock(&reg_lock);
}

/* ---- the text --------------------------------------------------------------- */

void berth_metrics_on_scrape(void (*fn)(void *ctx), void *ctx)
{
    unsigned n = __atomic_load_n(&nhooks, __ATOMIC_ACQUIRE);
    if (n >= MAX_HOOKS)
        return;
    hooks[n].fn = fn;
    hooks[n].ctx = ctx;
    /* Release: a scraper that sees the count sees the hook. */
    __atomic_store_n(&nhooks, n + 1, __ATOMIC_RELEASE);
}

static void put_str(berth_bytebuf_t *b, const char *s)
{
    berth_bytebuf_put(b, s, strlen(s));
}

/* Decimal digits by hand: most of a scrape is integers. */
static void put_u64(berth_bytebuf_t *b, uint64_t v)
{
    char t[24];
    size_t i = sizeof(t);
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    berth_bytebuf_put(b, t + i, sizeof(t) - i);
}

/* A value in exposed units: recorded * scale. Integers stay integers. */
static void put_scaled(berth_bytebuf_t *b, uint64_t v, double scale)
{
    if (scale == 1.0) {
        put_u64(b, v);
        return;
    }
    char t[40];
    int n = snprintf(t, sizeof(t), "%.12g", (double)v * scale);
    berth_bytebuf_put(b, t, (size_t)n);
}

static void put_series_name(berth_bytebuf_t *b, const berth_metric_family_t *f, const char *suffix,
                            const char *labels, const char *le)
{
    put_str(b, f->name);
    put_str(b, suffix);
    bool any = labels[0] != '\0';
    if (!any && le == NULL) {
        berth_bytebuf_put_u8(b, ' ');
        return;
    }
    berth_bytebuf_put_u8(b, '{');
    put_str(b, labels);
    if (le) {
        if (any)
            berth_bytebuf_put_u8(b, ',');
        put_str(b, "le=\"");
        put_str(b, le);
        berth_bytebuf_put_u8(b, '"');
    }
    put_str(b, "} ");
}

static void write_histogram(berth_bytebuf_t *b, const berth_metric_family_t *f,
                            const berth_metric_t *m)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= f->nbounds; i++) {
        if (m->cell != UINT32_MAX)
            cum += cell_sum(m->cell + (uint32_t)i);
        put_series_name(b, f, "_bucket", m->labels, f->le[i]);
        put_u64(b, cum);
        berth_bytebuf_put_u8(b, '\n');
    }
    put_series_name(b, f, "_sum", m->labels, NULL);
    put_scaled(b, m->cell != UINT32_MAX ? cell_sum(m->cell + (uint32_t)f->nbounds + 1) : 0,
               f->scale);
    berth_bytebuf_put_u8(b, '\n');
    put_series_name(b, f, "_count", m->labels, NULL);
    put_u64(b, cum);
    berth_bytebuf_put_u8(b, '\n');
}

void berth_metrics_write(struct berth_bytebuf *b)
{
    unsigned nh = __atomic_load_n(&nhooks, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < nh; i++)
        hooks[i].fn(hooks[i].ctx);
    static const char *const types[] = {"", "counter", "gauge", "histogram"};
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nfamilies; i++) {
        const berth_metric_family_t *f = families[i];
        put_str(b, "# HELP ");
        put_str(b, f->name);
        berth_bytebuf_put_u8(b, ' ');
        put_escaped(b, f->help, false);
        put_str(b, "\n# TYPE ");
        put_str(b, f->name);
        berth_bytebuf_put_u8(b, ' ');
        put_str(b, types[f->type]);
        berth_bytebuf_put_u8(b, '\n');
        for (size_t j = 0; j < f->nseries; j++) {
            const berth_metric_t *m = f->series[j];
            if (f->type == BERTH_METRIC_HISTOGRAM) {
                write_histogram(b, f, m);
                continue;
            }
            put_series_name(b, f, "", m->labels, NULL);
            if (f->type == BERTH_METRIC_GAUGE) {
                char t[40];
                int64_t v = __atomic_load_n(&m->gauge, __ATOMIC_RELAXED);
                int n = f->scale == 1.0 ? snprintf(t, sizeof(t), "%" PRId64, v)
                                        : snprintf(t, sizeof(t), "%.12g", (double)v * f->scale);
                berth_bytebuf_put(b, t, (size_t)n);
            } else {
                /* cells, plus a value kept elsewhere and set by a hook */
                uint64_t v =
                        cell_sum(m->cell) + (uint64_t)__atomic_load_n(&m->gauge, __ATOMIC_RELAXED);
                put_scaled(b, v, f->scale);
            }
            berth_bytebuf_put_u8(b, '\n');
        }
    }
    pthread_mutex_unlock(&reg_lock);
}
