// SPDX-License-Identifier: Apache-2.0
/*
 * The stall / stash / hand-off rules of a reserved name. Everything here runs
 * in the owning actor's turns; the only shared state is the process-wide
 * statistics, kept in relaxed atomics because they are counters read for
 * metrics and order nothing.
 */
#include "actors/reservation.h"
#include "actors/crierr.h"

#include <ck_pr.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/metrics.h"

struct berth_resv_waiter {
    berth_resv_waiter_t *next;
    uint64_t id;
    berth_grpc_call_t *call; /* owned reference */
    uint64_t deadline_ns;
    uint64_t arrived_ns;
    uint64_t margin_ns; /* berth_resv_margin of the time it had on arrival */
    berth_timer_t *timer;
};

typedef struct waiter_due_msg {
    berth_msg_t hdr;
    uint64_t waiter_id;
} waiter_due_msg_t;

static berth_resv_stats_t global;

/* docs/observability.md; the counts above are exported by actors/metrics.c */
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;
static berth_metric_family_t *f_stalled_at;
static berth_metric_t *m_handoff_delay;
static void metrics_init(void);

void berth_resv_metrics_init(void)
{
    pthread_once(&metrics_once, metrics_init);
}

static void metrics_init(void)
{
    static const char *const l_stage[] = {"stage", NULL};
    /* hand-off delay bounds, ns: 10 ms .. 10 min (stash windows are minutes) */
    static const uint64_t bounds[] = {10000000ull,     100000000ull,    500000000ull,
                                      1000000000ull,   2000000000ull,   5000000000ull,
                                      10000000000ull,  30000000000ull,  60000000000ull,
                                      120000000000ull, 300000000000ull, 600000000000ull};
    f_stalled_at = berth_metrics_family(&(berth_metric_desc_t){
            .type = BERTH_METRIC_COUNTER,
            .name = "container_runtime_crio_resources_stalled_at_stage",
            .help = "Resource creation stage pod or container is stalled at.",
            .labels = l_stage,
    });
    m_handoff_delay = berth_metrics_series(
            berth_metrics_family(&(berth_metric_desc_t){
                    .type = BERTH_METRIC_HISTOGRAM,
                    .name = "berth_handoff_delay_seconds",
                    .help = "How long a stashed creation result waited for the retry that took "
                            "it.",
                    .bounds = bounds,
                    .nbounds = BERTH_ARRAY_LEN(bounds),
                    .scale = 1e-9,
            }),
            NULL);
}

static void count(uint64_t *field, uint64_t *global_field)
{
    (*field)++;
    /* Relaxed: a statistics counter; readers want an approximate value. */
    ck_pr_inc_64(global_field);
}

void berth_resv_global_stats(berth_resv_stats_t *out)
{
    out->stalls = ck_pr_load_64(&global.stalls);
    out->stall_timeouts = ck_pr_load_64(&global.stall_timeouts);
    out->handoffs = ck_pr_load_64(&global.handoffs);
    out->stashes = ck_pr_load_64(&global.stashes);
    out->expiries = ck_pr_load_64(&global.expiries);
}

void berth_resv_init(berth_resv_t *r, const char *kind, const char *rpc, const char *name,
                     uint64_t margin_ns, uint64_t window_ns)
{
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->rpc = rpc;
    r->name = berth_strdup(name);
    r->state = BERTH_RESV_CREATING;
    r->stage = "reserving the name";
    r->started_ns = r->stage_ns = berth_now_ns();
    r->margin_ns = margin_ns;
    r->window_ns = window_ns;
}

void berth_resv_set_stage(berth_resv_t *r, const char *stage)
{
    uint64_t now = berth_now_ns();
    /* The time each stage took, for whoever profiles a slow creation. */
    if (berth_log_get_level() <= BERTH_LOG_DEBUG)
        berth_log_debug("creation stage", "name=%s done=\"%s\" took_ms=%.2f next=\"%s\"", r->name,
                        r->stage, (double)(now - r->stage_ns) / 1e6, stage);
    r->stage = stage;
    r->stage_ns = now;
}

static void waiter_free(berth_actor_t *self, berth_resv_waiter_t *w)
{
    /* Without an actor (fini) the timers die with it: nothing to cancel. */
    if (w->timer && self)
        berth_timer_cancel(self, w->timer);
    if (w->call)
        berth_grpc_call_unref(w->call);
    berth_free(w);
}

static berth_resv_waiter_t *waiter_take(berth_resv_t *r, uint64_t id, berth_grpc_call_t *call)
{
    for (berth_resv_waiter_t **pp = &r->waiters; *pp; pp = &(*pp)->next) {
        berth_resv_waiter_t *w = *pp;
        if ((call && w->call == call) || (!call && w->id == id)) {
            *pp = w->next;
            w->next = NULL;
            return w;
        }
    }
    return NULL;
}

static void answer_failure(berth_grpc_call_t *call, const berth_resv_t *r)
{
    berth_cri_finish_err(call, r->failure);
}

static void answer_stalled(berth_resv_t *r, berth_grpc_call_t *call, uint64_t now)
{
    double total = (double)(now - r->started_ns) / 1e9;
    double in_stage = (double)(now - r->stage_ns) / 1e9;
    BERTH_AUTO_FREE char *msg = berth_asprintf(
            "%s %s is still being created (stage: %s for %.1fs, %.1fs in all); berth keeps "
            "working on it and hands the result to the next %s for this name",
            r->kind, r->name, r->stage, in_stage, total, r->rpc);
    berth_cri_finish(call, BERTH_ERR_TIMEOUT, msg);
}

/*
 * The stall margin: how long before its deadline a stalled request is
 * answered, and how much time a waiter must have left to be handed the result
 * rather than the stall message. It only has to cover the answer's way back:
 * this actor's send to the connection actor, one io_uring send on a unix
 * socket and the client's decoding, a few ms even on a busy node. Anything
 * more is taken from the retry: each early answer moves the client's next
 * attempt earlier, and the attempt whose window would have covered the end of
 * the creation may now end just before it (with the old fixed 1 s and the
 * kubelet's 2 s, a creation of 6 s cost three errors instead of two).
 *
 * So the margin is a share of the request's own budget, the time it had when
 * it arrived: 1/MARGIN_SHARE of it (40 ms of a 2 s deadline, 80 ms of 4 s),
 * at least MARGIN_FLOOR_NS so a very short deadline still gets its answer out
 * before io/ answers DEADLINE_EXCEEDED on its own, and at most r->margin_ns
 * (the stall_margin key, 1 s by default: the kubelet's 4 min deadline gets
 * 1 s, not 4.8 s). A share rather than a constant because the way back is
 * longer on a node loaded enough to make the client's deadline generous, and
 * because a fixed figure is either too large for short deadlines or too small
 * for long ones. A cap below the floor wins: the operator asked for it.
 */
#define MARGIN_SHARE 50
#define MARGIN_FLOOR_NS (5 * 1000000ull)

uint64_t berth_resv_margin(const berth_resv_t *r, uint64_t budget_ns)
{
    if (r->fixed_margin)
        return r->margin_ns;
    uint64_t m = budget_ns / MARGIN_SHARE;
    if (m < MARGIN_FLOOR_NS)
        m = MARGIN_FLOOR_NS;
    if (m > r->margin_ns)
        m = r->margin_ns;
    return m;
}

/* Arms the timer that answers a stalled request just before its deadline. */
static bool stall(berth_actor_t *self, berth_resv_t *r, berth_grpc_call_t *call,
                  uint64_t deadline_ns)
{
    uint64_t now = berth_now_ns();
    uint64_t margin =
            deadline_ns ? berth_resv_margin(r, deadline_ns > now ? deadline_ns - now : 0) : 0;
    if (deadline_ns && deadline_ns <= now + margin) {
        /* Not even the margin is left: answer now rather than never. */
        count(&r->stats.stall_timeouts, &global.stall_timeouts);
        answer_stalled(r, call, now);
        berth_grpc_call_unref(call);
        return false;
    }
    berth_resv_waiter_t *w = berth_calloc(1, sizeof(*w));
    w->id = ++r->next_waiter_id;
    w->call = call;
    w->deadline_ns = deadline_ns;
    w->arrived_ns = now;
    w->margin_ns = margin;
    berth_grpc_call_set_owner(call, berth_actor_self(self));
    if (deadline_ns) {
        waiter_due_msg_t *m = berth_msg_new(BERTH_MSG_RESV_WAITER_DUE, sizeof(*m));
        m->waiter_id = w->id;
        w->timer = berth_timer_after(self, deadline_ns - margin - now, &m->hdr);
    }
    w->next = r->waiters;
    r->waiters = w;
    return true;
}

bool berth_resv_request(berth_actor_t *self, berth_resv_t *r, berth_grpc_call_t *call,
                        uint64_t deadline_ns)
{
    switch (r->state) {
    case BERTH_RESV_CREATING:
        /* The first request is a waiter like any retry: the creation never
         * depends on it. Only retries count as stalls. */
        if (r->next_waiter_id > 0 || r->waiters) {
            count(&r->stats.stalls, &global.stalls);
            /* a stall is rare (a creation slower than the kubelet's
             * deadline): the series lookup's mutex is fine here */
            pthread_once(&metrics_once, metrics_init);
            berth_metric_inc(berth_metrics_series1(f_stalled_at, r->stage));
            berth_log_info("request stalled", "kind=\"%s\" name=%s stage=\"%s\"", r->kind, r->name,
                           r->stage);
        }
        stall(self, r, call, deadline_ns);
        return false;
    case BERTH_RESV_STASHED:
        count(&r->stats.handoffs, &global.handoffs);
        pthread_once(&metrics_once, metrics_init);
        berth_metric_observe(m_handoff_delay, berth_now_ns() - r->stashed_ns);
        berth_log_info("stashed result handed over", "kind=\"%s\" name=%s", r->kind, r->name);
        if (r->stash_timer) {
            berth_timer_cancel(self, r->stash_timer);
            r->stash_timer = NULL;
        }
        r->state = BERTH_RESV_DELIVERED;
        berth_grpc_reply(call, r->reply, r->reply_len);
        berth_grpc_call_unref(call);
        return false;
    case BERTH_RESV_DELIVERED:
        /* The earlier reply may have been lost in flight: same answer again. */
        berth_grpc_reply(call, r->reply, r->reply_len);
        berth_grpc_call_unref(call);
        return false;
    case BERTH_RESV_FAILED:
        if (r->stash_timer) {
            berth_timer_cancel(self, r->stash_timer);
            r->stash_timer = NULL;
        }
        answer_failure(call, r);
        berth_grpc_call_unref(call);
        return true;
    case BERTH_RESV_EXPIRED:
    default: {
        BERTH_AUTO_FREE char *msg = berth_asprintf(
                "%s %s is being released (its result was not collected within the stash "
                "window); retry shortly",
                r->kind, r->name);
        berth_cri_finish(call, BERTH_ERR_UNAVAILABLE, msg);
        berth_grpc_call_unref(call);
        return false;
    }
    }
}

/* Time left for a waiter at `now`, or UINT64_MAX without a deadline. */
static uint64_t time_left(const berth_resv_waiter_t *w, uint64_t now)
{
    if (w->deadline_ns == 0)
        return UINT64_MAX;
    return w->deadline_ns > now ? w->deadline_ns - now : 0;
}

static void arm_stash(berth_actor_t *self, berth_resv_t *r)
{
    r->stashed_ns = berth_now_ns();
    r->stash_timer = berth_timer_after(
            self, r->window_ns, berth_msg_new(BERTH_MSG_RESV_STASH_EXPIRED, sizeof(berth_msg_t)));
}

void berth_resv_succeed(berth_actor_t *self, berth_resv_t *r, const void *reply, size_t len)
{
    r->reply = berth_memdup(reply, len ? len : 1);
    r->reply_len = len;
    uint64_t now = berth_now_ns();
    unsigned delivered = 0;
    while (r->waiters) {
        berth_resv_waiter_t *w = r->waiters;
        r->waiters = w->next;
        if (time_left(w, now) >= w->margin_ns) {
            berth_grpc_reply(w->call, r->reply, r->reply_len);
            if (delivered == 0 && w->id > 1)
                count(&r->stats.handoffs, &global.handoffs);
            delivered++;
        } else {
            count(&r->stats.stall_timeouts, &global.stall_timeouts);
            answer_stalled(r, w->call, now);
        }
        waiter_free(self, w);
    }
    if (delivered) {
        r->state = BERTH_RESV_DELIVERED;
        return;
    }
    r->state = BERTH_RESV_STASHED;
    count(&r->stats.stashes, &global.stashes);
    berth_log_info("result stashed for the next request", "kind=\"%s\" name=%s window_s=%.0f",
                   r->kind, r->name, (double)r->window_ns / 1e9);
    arm_stash(self, r);
}

bool berth_resv_fail(berth_actor_t *self, berth_resv_t *r, berth_err_t err)
{
    r->failure = err;
    r->state = BERTH_RESV_FAILED;
    uint64_t now = berth_now_ns();
    bool taken = false;
    while (r->waiters) {
        berth_resv_waiter_t *w = r->waiters;
        r->waiters = w->next;
        if (time_left(w, now) >= w->margin_ns) {
            answer_failure(w->call, r);
            taken = true;
        } else {
            answer_stalled(r, w->call, now);
        }
        waiter_free(self, w);
    }
    if (!taken) {
        count(&r->stats.stashes, &global.stashes);
        arm_stash(self, r);
    }
    return taken;
}

int berth_resv_on_msg(berth_actor_t *self, berth_resv_t *r, berth_msg_t *msg)
{
    switch (msg->type) {
    case BERTH_MSG_RESV_WAITER_DUE: {
        waiter_due_msg_t *m = (waiter_due_msg_t *)msg;
        berth_resv_waiter_t *w = waiter_take(r, m->waiter_id, NULL);
        berth_msg_free(msg);
        if (w == NULL)
            return 0;
        w->timer = NULL; /* it just fired */
        count(&r->stats.stall_timeouts, &global.stall_timeouts);
        answer_stalled(r, w->call, berth_now_ns());
        waiter_free(self, w);
        return 0;
    }
    case BERTH_MSG_RESV_STASH_EXPIRED:
        berth_msg_free(msg);
        r->stash_timer = NULL;
        if (r->state != BERTH_RESV_STASHED && r->state != BERTH_RESV_FAILED)
            return 0;
        count(&r->stats.expiries, &global.expiries);
        berth_log_info("stash expired: releasing", "kind=\"%s\" name=%s", r->kind, r->name);
        r->state = BERTH_RESV_EXPIRED;
        return 1;
    case BERTH_MSG_GRPC_CANCEL: {
        berth_grpc_cancel_msg_t *cm = (berth_grpc_cancel_msg_t *)msg;
        berth_resv_waiter_t *w = waiter_take(r, 0, cm->call);
        if (w == NULL)
            return -1;
        /* The client gave up (or the deadline passed in io/): nothing to
         * answer; the creation goes on for the next retry. */
        waiter_free(self, w);
        berth_msg_free(msg);
        return 0;
    }
    default:
        return -1;
    }
}

void berth_resv_fini(berth_actor_t *self, berth_resv_t *r)
{
    while (r->waiters) {
        berth_resv_waiter_t *w = r->waiters;
        r->waiters = w->next;
        BERTH_AUTO_FREE char *msg =
                berth_asprintf("%s %s was released before its creation finished", r->kind, r->name);
        berth_cri_finish(w->call, BERTH_ERR_UNAVAILABLE, msg);
        waiter_free(self, w);
    }
    if (r->stash_timer && self)
        berth_timer_cancel(self, r->stash_timer);
    r->stash_timer = NULL;
    berth_free(r->name);
    berth_free(r->reply);
    berth_err_free(&r->failure);
    r->name = NULL;
    r->reply = NULL;
}
