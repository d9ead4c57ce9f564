/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics for berthd's Prometheus endpoint (docs/observability.md): one
 * process-wide registry of counters, gauges and histograms, each a family
 * (name, help, label names) of series (one per set of label values), and a
 * writer of the Prometheus text exposition format 0.0.4.
 *
 * The hot path is lock-free and cheap: a counter or histogram series owns
 * cells in a per-thread block of counters, so an increment is one relaxed
 * atomic add on a cache line no other thread writes (no line bouncing
 * between workers); a scrape sums the cell over every thread's block.
 * Gauges are one relaxed atomic each. Making a family or a series (a label
 * value seen for the first time) takes the registry's mutex: do it at start
 * for known labels (RPC methods, error codes) and keep the pointer; a rare
 * event (an OOM) may look its series up on the way. A scrape holds the same
 * mutex while it walks the registry, never while anyone increments.
 *
 * Nothing here fails: families and series are never freed, a family past
 * its series limit sends new label values to one series whose values are
 * all "_other", and past BERTH_METRICS_MAX_CELLS cells new counters share
 * one overflow cell (logged once).
 */
#ifndef BERTH_ENGINE_METRICS_H
#define BERTH_ENGINE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct berth_bytebuf; /* io/bytebuf.h: header-only, engine/alloc.h underneath */

typedef enum berth_metric_type {
    BERTH_METRIC_COUNTER = 1,
    BERTH_METRIC_GAUGE,
    BERTH_METRIC_HISTOGRAM,
} berth_metric_type_t;

/* Counter, gauge and histogram cells in all (each histogram series uses its
 * buckets + 2). */
#define BERTH_METRICS_MAX_CELLS 32768u
/* Series per family unless the family says otherwise. */
#define BERTH_METRICS_DEFAULT_MAX_SERIES 1000u

typedef struct berth_metric_family berth_metric_family_t;
typedef struct berth_metric berth_metric_t; /* one series */

typedef struct berth_metric_desc {
    berth_metric_type_t type;
    const char *name;          /* [a-zA-Z_:][a-zA-Z0-9_:]* */
    const char *help;          /* one line */
    const char *const *labels; /* NULL-terminated label names, or NULL: none */
    /* histograms: upper bounds (ascending, in recorded units; +Inf is
     * implied) */
    const uint64_t *bounds;
    size_t nbounds;
    /* the factor from recorded units to exposed ones (1e-9: ns recorded,
     * seconds exposed); 0 means 1 */
    double scale;
    size_t max_series; /* 0: BERTH_METRICS_DEFAULT_MAX_SERIES */
} berth_metric_desc_t;

/* Registers a family (everything in desc is copied) or returns the one
 * registered under that name already (it must have the same type and
 * labels: asserted). Families are written in registration order. Any
 * thread; takes the registry mutex. Never fails. */
berth_metric_family_t *berth_metrics_family(const berth_metric_desc_t *desc);

/* The series of family f with these label values (as many as f has label
 * names; NULL when it has none), made on first use. Values are copied and
 * escaped for the text. Any thread; takes the registry mutex: keep the
 * pointer on a hot path. Never NULL. */
berth_metric_t *berth_metrics_series(berth_metric_family_t *f, const char *const *values);
/* One-label and two-label shorthands. */
berth_metric_t *berth_metrics_series1(berth_metric_family_t *f, const char *v);
berth_metric_t *berth_metrics_series2(berth_metric_family_t *f, const char *v1, const char *v2);
/* An unlabeled family and its one series, in one call. */
berth_metric_t *berth_metrics_counter(const char *name, const char *help);
berth_metric_t *berth_metrics_gauge(const char *name, const char *help);

/* Counters: adds n. Histograms: see observe. Any thread, lock-free; m may
 * be NULL (nothing happens). */
void berth_metric_add(berth_metric_t *m, uint64_t n);
static inline void berth_metric_inc(berth_metric_t *m)
{
    berth_metric_add(m, 1);
}
/* Gauges: sets, or adds a signed delta. Any thread, lock-free. On a
 * counter, set gives a total kept elsewhere (a module's own atomic, copied
 * in by a scrape hook), exposed added to the counter's own adds. */
void berth_metric_set(berth_metric_t *m, int64_t v);
void berth_metric_gauge_add(berth_metric_t *m, int64_t delta);
/* Histograms: records one value (in the family's recorded units). Any
 * thread, lock-free: two cell adds after a scan of the bounds. */
void berth_metric_observe(berth_metric_t *m, uint64_t v);

/* Sets every series of a gauge family to 0: a scrape hook that sets the
 * series it finds now (one per actor class, say) starts with it, so a
 * label value that is gone reads 0. Takes the registry's mutex. */
void berth_metrics_family_reset(berth_metric_family_t *f);

/* A counter's total, a gauge's value, a histogram's count (sum in *sum
 * when not NULL, in recorded units). For tests and reports; any thread. */
int64_t berth_metric_value(const berth_metric_t *m, uint64_t *sum);

/* fn(ctx) runs at the start of every berth_metrics_write, outside the
 * registry mutex (so it may make series), to set gauges that are read
 * rather than kept (mailbox depths, queue lengths). Register before the
 * first scrape, from one thread; at most 32 hooks. */
void berth_metrics_on_scrape(void (*fn)(void *ctx), void *ctx);

/* Appends every family in the Prometheus text exposition format 0.0.4
 * (content type "text/plain; version=0.0.4; charset=utf-8"): # HELP and
 * # TYPE lines, then one line per series (histograms: cumulative _bucket
 * lines with le, _sum and _count). Runs the scrape hooks first. Any
 * thread that may block on a mutex briefly (an actor turn is fine: the
 * walk is short and nobody holds the mutex long). */
void berth_metrics_write(struct berth_bytebuf *out);

#define BERTH_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
