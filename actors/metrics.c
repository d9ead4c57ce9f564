/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berthd's metric families and scrape hooks (see metrics.h). Names follow
 * CRI-O's (container_runtime_crio_*, as its Prometheus registry exposes
 * them) where berth counts the same thing, so existing dashboards and
 * alerts keep working; berth's own figures are berth_*. The full list, with
 * meanings, is docs/observability.md: a family added here goes there too.
 */
#include "actors/metrics.h"

#include <pthread.h>
#include <string.h>

#include "actors/creation.h"
#include "actors/events.h"
#include "actors/reservation.h"
#include "engine/alloc.h"
#include "engine/hist.h"
#include "engine/metrics.h"
#include "engine/sched.h"
#include "engine/atomic-internal.h"
#include "io/blocking.h"
#include "io/defunct.h"
#include "io/monitor.h"

/* RPC latency bounds, ns: 100 us .. 4 min (the kubelet's longest deadline). */
static const uint64_t rpc_bounds[] = {
        100000ull,      250000ull,      500000ull,      1000000ull,      2500000ull,
        5000000ull,     10000000ull,    25000000ull,    50000000ull,     100000000ull,
        250000000ull,   500000000ull,   1000000000ull,  2500000000ull,   5000000000ull,
        10000000000ull, 30000000000ull, 60000000000ull, 120000000000ull, 240000000000ull,
};

static const char *const l_op[] = {"operation", NULL};
static const char *const l_op_code[] = {"operation", "code", NULL};
static const char *const l_name[] = {"name", NULL};
static const char *const l_name_syscall[] = {"name", "syscall", NULL};
static const char *const l_class[] = {"class", NULL};

/* Series of the notifier's family: containers that hit refusals times the
 * syscalls they tried is small on a sane node; the bound keeps a pod that
 * cycles names or syscalls from growing the registry without end. */
#define SECCOMP_MAX_SERIES 1000u
static const char *const l_runtime[] = {"runtime", NULL};

static berth_metric_family_t *f_ops, *f_lat_last, *f_errs, *f_lat, *f_errs_code;
static berth_metric_family_t *f_oom_name, *f_seccomp;
static berth_metric_t *m_oom;
static berth_metric_family_t *f_actors, *f_depth, *f_depth_max;
static berth_metric_t *m_depth_total, *m_depth_max, *m_actors_total;
static berth_metric_t *m_turns, *m_messages, *m_steals, *m_cqes;
static berth_metric_t *m_stalls, *m_stall_timeouts, *m_handoffs, *m_stashes, *m_expiries;
static berth_metric_t *m_ev_published, *m_ev_sent, *m_ev_subs, *m_ev_dropped;
static berth_metric_t *m_pool_threads, *m_scrape;
static berth_metric_t *m_defunct;
static berth_metric_family_t *f_default_runtime;

/* One per CRI method (by dense index), and one for unknown paths; made
 * at a method's first call, published with release (see berth_rpc_stats). */
static berth_grpc_stats_t **rpc_stats;
static unsigned n_rpc_stats;
static berth_grpc_stats_t *unknown_stats;

static berth_metric_family_t *family(berth_metric_type_t type, const char *name, const char *help,
                                     const char *const *labels, double scale)
{
    return berth_metrics_family(&(berth_metric_desc_t){
            .type = type, .name = name, .help = help, .labels = labels, .scale = scale});
}

static berth_metric_t *counter(const char *name, const char *help)
{
    return berth_metrics_counter(name, help);
}

static berth_metric_t *gauge(const char *name, const char *help)
{
    return berth_metrics_gauge(name, help);
}

/* ---- scrape hooks ----------------------------------------------------------- */

#define MAX_CLASSES 64

typedef struct class_acc {
    const char *name;
    uint64_t actors, depth, max;
} class_acc_t;

typedef struct actor_walk {
    class_acc_t cls[MAX_CLASSES];
    size_t n;
    uint64_t total, max, actors;
} actor_walk_t;

static void on_actor(void *ctx, const char *name, uint64_t handle, uint64_t depth)
{
    (void)handle;
    actor_walk_t *w = ctx;
    w->actors++;
    w->total += depth;
    if (depth > w->max)
        w->max = depth;
    class_acc_t *c = NULL;
    /* class names are each class's static string: a pointer compare finds
     * the class; strcmp is the fallback for a name spelled twice */
    for (size_t i = 0; i < w->n && c == NULL; i++)
        if (w->cls[i].name == name || strcmp(w->cls[i].name, name) == 0)
            c = &w->cls[i];
    if (c == NULL) {
        if (w->n == MAX_CLASSES)
            return;
        c = &w->cls[w->n++];
        c->name = name;
    }
    c->actors++;
    c->depth += depth;
    if (depth > c->max)
        c->max = depth;
}

/* Mailbox depths: one walk of the actor registry (a load or two per live
 * actor), then three gauges per class. */
static void hook_actors(void *ctx)
{
    (void)ctx;
    actor_walk_t *w = berth_calloc(1, sizeof(*w));
    berth_engine_foreach_actor(on_actor, w);
    berth_metrics_family_reset(f_actors);
    berth_metrics_family_reset(f_depth);
    berth_metrics_family_reset(f_depth_max);
    for (size_t i = 0; i < w->n; i++) {
        berth_metric_set(berth_metrics_series1(f_actors, w->cls[i].name),
                         (int64_t)w->cls[i].actors);
        berth_metric_set(berth_metrics_series1(f_depth, w->cls[i].name), (int64_t)w->cls[i].depth);
        berth_metric_set(berth_metrics_series1(f_depth_max, w->cls[i].name),
                         (int64_t)w->cls[i].max);
    }
    berth_metric_set(m_actors_total, (int64_t)w->actors);
    berth_metric_set(m_depth_total, (int64_t)w->total);
    berth_metric_set(m_depth_max, (int64_t)w->max);
    berth_free(w);
}

/* Counts kept by their modules' own atomics, copied in. */
static void hook_counts(void *ctx)
{
    (void)ctx;
    berth_engine_stats_t es;
    berth_engine_get_stats(&es);
    berth_metric_set(m_turns, (int64_t)es.turns);
    berth_metric_set(m_messages, (int64_t)es.messages);
    berth_metric_set(m_steals, (int64_t)es.steals);
    berth_metric_set(m_cqes, (int64_t)es.cqes);
    berth_resv_stats_t rs;
    berth_resv_global_stats(&rs);
    berth_metric_set(m_stalls, (int64_t)rs.stalls);
    berth_metric_set(m_stall_timeouts, (int64_t)rs.stall_timeouts);
    berth_metric_set(m_handoffs, (int64_t)rs.handoffs);
    berth_metric_set(m_stashes, (int64_t)rs.stashes);
    berth_metric_set(m_expiries, (int64_t)rs.expiries);
    berth_events_counts_t ec;
    berth_events_get_counts(&ec);
    berth_metric_set(m_ev_published, (int64_t)ec.published);
    berth_metric_set(m_ev_sent, (int64_t)ec.sent);
    berth_metric_set(m_ev_subs, (int64_t)ec.subscribers);
    berth_metric_set(m_ev_dropped, (int64_t)ec.dropped);
    berth_metric_set(m_pool_threads, (int64_t)berth_blocking_threads());
}

/* processes_defunct: a walk of /proc opens a file per process (about 10 us
 * each, 30 ms at 3000 processes), too much for a scrape a second and never
 * for a worker. A scrape starts a walk on the blocking pool when the last
 * one is DEFUNCT_PERIOD_NS old and none runs; it shows the last walk's
 * count. No scrapes, no walks. */
#define DEFUNCT_PERIOD_NS (10ull * 1000000000ull)

static uint64_t defunct_walked_at; /* atomic: berth_hist_now() of the last walk's start */
static int defunct_running;        /* atomic: a walk is queued or runs */

static void defunct_job(void *arg)
{
    (void)arg;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    long n = berth_defunct_count("/proc", NULL, &err);
    if (n >= 0)
        berth_metric_set(m_defunct, n);
    /* Release: the gauge is set before another walk may start. */
    ck_pr_fence_store();
    ck_pr_store_int(&defunct_running, 0);
}

static void hook_defunct(void *ctx)
{
    (void)ctx;
    uint64_t now = berth_hist_now(), last = ck_pr_load_64(&defunct_walked_at);
    if (last != 0 && now - last < DEFUNCT_PERIOD_NS)
        return;
    /* The CAS (a full barrier) lets one scrape of those at once start it. */
    if (!ck_pr_cas_int(&defunct_running, 0, 1))
        return;
    ck_pr_store_64(&defunct_walked_at, now);
    berth_blocking_run(defunct_job, NULL, BERTH_HANDLE_NONE, NULL);
}

/* ---- set-up ------------------------------------------------------------------- */

void berth_daemon_metrics_init(void)
{
    /* CRI-O's names first, in CRI-O's meaning */
    f_ops = family(BERTH_METRIC_COUNTER, "container_runtime_crio_operations_total",
                   "Cumulative number of CRI operations by operation type.", l_op, 0);
    f_lat_last =
            family(BERTH_METRIC_GAUGE, "container_runtime_crio_operations_latency_seconds",
                   "Latency in seconds of the last CRI call of each operation type.", l_op, 1e-9);
    f_errs = family(BERTH_METRIC_COUNTER, "container_runtime_crio_operations_errors_total",
                    "Cumulative number of CRI operation errors by operation type.", l_op, 0);
    m_defunct = gauge("container_runtime_crio_processes_defunct",
                      "Total number of defunct processes in the node (as of the last walk of "
                      "/proc, at most 10 s before the previous scrape).");
    f_default_runtime =
            family(BERTH_METRIC_GAUGE, "container_runtime_crio_default_runtime",
                   "Default container runtime configured. Value is always 1.", l_runtime, 0);
    m_oom = counter("container_runtime_crio_containers_oom_total",
                    "Amount of containers killed because they ran out of memory (OOM).");
    f_oom_name = family(BERTH_METRIC_COUNTER, "container_runtime_crio_containers_oom_count_total",
                        "Amount of containers killed because they ran out of memory (OOM) by "
                        "their name.",
                        l_name, 0);
    f_seccomp = berth_metrics_family(&(berth_metric_desc_t){
            .type = BERTH_METRIC_COUNTER,
            .name = "container_runtime_crio_containers_seccomp_notifier_count_total",
            .help = "Number of forbidden syscalls by syscall and container name.",
            .labels = l_name_syscall,
            .max_series = SECCOMP_MAX_SERIES,
    });
    /* berth's own */
    f_lat = berth_metrics_family(&(berth_metric_desc_t){
            .type = BERTH_METRIC_HISTOGRAM,
            .name = "berth_operations_latency_seconds",
            .help = "Latency of CRI calls from the request's arrival to its final status, by "
                    "operation type.",
            .labels = l_op,
            .bounds = rpc_bounds,
            .nbounds = BERTH_ARRAY_LEN(rpc_bounds),
            .scale = 1e-9,
    });
    f_errs_code = family(BERTH_METRIC_COUNTER, "berth_operations_errors_total",
                         "CRI calls answered with an error, by operation type and gRPC code.",
                         l_op_code, 0);
    m_stalls = counter("berth_requests_stalled_total",
                       "Retried RunPodSandbox/CreateContainer requests held until the creation "
                       "under way finished.");
    m_stall_timeouts = counter("berth_stall_timeouts_total",
                               "Stalled requests answered DEADLINE_EXCEEDED before their own "
                               "deadline.");
    m_handoffs = counter("berth_handoffs_total",
                         "Creation results handed to a later request than the one that started "
                         "them.");
    m_stashes = counter("berth_stashes_total",
                        "Creation results no waiting request could take, kept for the next "
                        "retry.");
    m_expiries = counter("berth_stash_expiries_total",
                         "Stashed results nobody collected within the stash window (the creation "
                         "is undone).");
    f_actors = family(BERTH_METRIC_GAUGE, "berth_actors", "Live actors by class.", l_class, 0);
    f_depth = family(BERTH_METRIC_GAUGE, "berth_actor_mailbox_depth",
                     "Messages waiting in the mailboxes of the actors of a class.", l_class, 0);
    f_depth_max = family(BERTH_METRIC_GAUGE, "berth_actor_mailbox_depth_max",
                         "The deepest mailbox among the actors of a class.", l_class, 0);
    m_actors_total = gauge("berth_actors_total", "Live actors.");
    m_depth_total = gauge("berth_mailbox_depth_total", "Messages waiting in all mailboxes.");
    m_depth_max = gauge("berth_mailbox_depth_max", "The deepest mailbox of any actor.");
    m_turns = counter("berth_engine_turns_total", "Actor turns run by the engine's workers.");
    m_messages = counter("berth_engine_messages_total", "Messages handled in actor turns.");
    m_steals = counter("berth_engine_steals_total", "Actors a worker took from another's queue.");
    m_cqes = counter("berth_engine_cqes_total", "io_uring completions the workers reaped.");
    m_ev_published = counter("berth_events_published_total",
                             "Container events published to the events actor.");
    m_ev_sent = counter("berth_events_sent_total",
                        "Container event copies handed to GetContainerEvents subscribers.");
    m_ev_subs = gauge("berth_events_subscribers", "Open GetContainerEvents calls.");
    m_ev_dropped = counter("berth_events_subscribers_dropped_total",
                           "GetContainerEvents subscribers dropped because they did not read "
                           "(their stream is reset; the kubelet reconnects).");
    m_pool_threads = gauge("berth_blocking_threads", "Threads of the blocking pool now.");
    m_scrape = berth_metrics_series(
            family(BERTH_METRIC_GAUGE, "berth_metrics_scrape_seconds",
                   "How long the previous scrape of this endpoint took to write.", NULL, 1e-9),
            NULL);
    /* counted in their modules; registered now so a scrape lists them from
     * the start */
    berth_resv_metrics_init();
    (void)berth_creation_undo_family();
    berth_monitor_metrics_init();
    n_rpc_stats = berth_cri_method_count();
    rpc_stats = berth_calloc(n_rpc_stats, sizeof(*rpc_stats));
    berth_metrics_on_scrape(hook_actors, NULL);
    berth_metrics_on_scrape(hook_counts, NULL);
    berth_metrics_on_scrape(hook_defunct, NULL);
}

void berth_metrics_default_runtime(const char *name)
{
    berth_metrics_family_reset(f_default_runtime);
    berth_metric_set(berth_metrics_series1(f_default_runtime, name ? name : ""), 1);
}

static berth_grpc_stats_t *stats_new(const char *op)
{
    berth_grpc_stats_t *st = berth_calloc(1, sizeof(*st));
    st->operation = op;
    st->total = berth_metrics_series1(f_ops, op);
    st->errors = berth_metrics_series1(f_errs, op);
    st->latency_last = berth_metrics_series1(f_lat_last, op);
    st->latency = berth_metrics_series1(f_lat, op);
    st->by_code = f_errs_code;
    return st;
}

berth_grpc_stats_t *berth_rpc_stats(const berth_cri_method_t *m)
{
    if (rpc_stats == NULL)
        return NULL; /* no metrics set up (unit tests of the actors) */
    berth_grpc_stats_t **slot = m && m->index < n_rpc_stats ? &rpc_stats[m->index] : &unknown_stats;
    /* Acquire: pairs with the release below; the stats' fields are made
     * before it. Only the dispatcher makes them, but another actor may
     * read a slot too: a CAS keeps one. */
    berth_grpc_stats_t *st = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (st != NULL)
        return st;
    berth_grpc_stats_t *made = stats_new(m ? m->name : "_unknown");
    berth_grpc_stats_t *expect = NULL;
    if (__atomic_compare_exchange_n(slot, &expect, made, false, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
        return made;
    berth_free(made); /* the series are the registry's: shared, not freed */
    return expect;
}

void berth_metrics_container_oom(const char *name)
{
    berth_metric_inc(m_oom);
    if (f_oom_name)
        berth_metric_inc(berth_metrics_series1(f_oom_name, name ? name : ""));
}

void berth_metrics_seccomp_refused(const char *name, const char *syscall)
{
    if (f_seccomp)
        berth_metric_inc(
                berth_metrics_series2(f_seccomp, name ? name : "", syscall ? syscall : ""));
}

void berth_metrics_http(const berth_http_req_t *req, berth_httpsrv_reply_t *reply, void *arg)
{
    (void)req, (void)arg;
    uint64_t t0 = berth_hist_now();
    berth_bytebuf_t b = {0};
    berth_metrics_write(&b);
    berth_metric_set(m_scrape, (int64_t)(berth_hist_now() - t0));
    berth_httpsrv_reply_take(reply, 200, BERTH_METRICS_CONTENT_TYPE, &b);
}
