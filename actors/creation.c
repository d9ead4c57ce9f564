// SPDX-License-Identifier: Apache-2.0
/*
 * The creation engine (see creation.h). The steps and undo entries are the
 * owner's; the order, the stage, the budget, the reservation, the request
 * queue and the release are here, once.
 */
#include "actors/creation.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "actors/index.h"
#include "actors/msgtypes.h"
#include "engine/alloc.h"
#include "engine/hist.h"
#include "engine/log.h"
#include "engine/metrics.h"
#include "io/grpc.h"

void berth_creation_init(berth_creation_t *cr, const berth_creation_class_t *cls, void *owner,
                         berth_handle_t mgr, const char *id, const char *name, uint64_t margin_ns,
                         uint64_t window_ns, uint64_t budget_ns)
{
    memset(cr, 0, sizeof(*cr));
    cr->cls = cls;
    cr->owner = owner;
    cr->mgr = mgr;
    cr->id = berth_strdup(id);
    cr->phase = BERTH_CREATION_CREATING;
    cr->budget_ns = budget_ns;
    berth_resv_init(&cr->resv, cls->kind, cls->rpc, name, margin_ns, window_ns);
}

static void free_requests(berth_cri_req_msg_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        berth_msg_free(&v[i]->hdr);
    berth_free(v);
}

void berth_creation_fini(berth_creation_t *cr)
{
    berth_resv_fini(NULL, &cr->resv);
    free_requests(cr->queued, cr->n_queued);
    free_requests(cr->waiting, cr->n_waiting);
    berth_err_free(&cr->failure);
    berth_free(cr->id);
    cr->queued = cr->waiting = NULL;
    cr->n_queued = cr->n_waiting = 0;
}

static void push(berth_cri_req_msg_t ***v, size_t *n, size_t *cap, berth_cri_req_msg_t *rm)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *v = berth_realloc(*v, *cap * sizeof(**v));
    }
    (*v)[(*n)++] = rm;
}

/* ---- release ---------------------------------------------------------------- */

static void gone_msg_free(berth_msg_t *m)
{
    berth_free(((berth_creation_gone_msg_t *)m)->id);
    berth_free(m);
}

static void release(berth_actor_t *self, berth_creation_t *cr)
{
    cr->phase = BERTH_CREATION_RELEASING;
    berth_creation_gone_msg_t *m = berth_msg_new(cr->cls->gone_type, sizeof(*m));
    m->hdr.free = gone_msg_free;
    m->id = berth_strdup(cr->id);
    m->actor = berth_actor_self(self);
    berth_send(cr->mgr, &m->hdr);
    /* Requests still queued go back to the manager, which routes them to
     * whoever holds the name next. */
    berth_creation_run_queued(self, cr);
}

void berth_creation_forget(struct berth_index *ix, const berth_creation_gone_msg_t *gm)
{
    berth_index_entry_t *e = berth_index_by_exact_id(ix, gm->id);
    if (e && berth_handle_eq(e->handle, gm->actor))
        berth_index_remove(ix, e);
    berth_send(gm->actor, berth_msg_new(BERTH_MSG_CREATION_BYE, sizeof(berth_msg_t)));
}

/* ---- steps ---------------------------------------------------------------------- */

/* Ends the stage being timed: its time goes to the histogram "<kind> #<step>
 * <stage>" (the step's index keeps a pod's three record writes apart; a
 * stage set within a step, such as a container's OCI spec, gets its own). */
static void stage_end(berth_creation_t *cr, uint64_t now)
{
    if (cr->stage_ns == 0)
        return;
    char name[192];
    snprintf(name, sizeof(name), "%s #%zu %s", cr->cls->kind, cr->timed_step, cr->timed_stage);
    berth_hist_add(name, now > cr->stage_ns ? now - cr->stage_ns : 0);
    cr->stage_ns = 0;
}

void berth_creation_stage(berth_creation_t *cr, const char *stage)
{
    berth_resv_set_stage(&cr->resv, stage);
    if (cr->phase != BERTH_CREATION_CREATING || cr->begin_ns == 0)
        return;
    uint64_t now = berth_hist_now();
    stage_end(cr, now);
    cr->stage_ns = now;
    cr->timed_stage = stage;
    cr->timed_step = cr->step;
}

static void cancel_budget(berth_actor_t *self, berth_creation_t *cr)
{
    if (cr->budget_timer) {
        berth_timer_cancel(self, cr->budget_timer);
        cr->budget_timer = NULL;
    }
}

static void run_step(berth_actor_t *self, berth_creation_t *cr)
{
    const berth_creation_class_t *cls = cr->cls;
    while (cr->step < cls->n_steps && cls->steps[cr->step].skip &&
           cls->steps[cr->step].skip(cr->owner))
        cr->step++;
    if (cr->step < cls->n_steps) {
        berth_creation_stage(cr, cls->steps[cr->step].stage);
        cls->steps[cr->step].run(self, cr->owner);
        return;
    }
    /* All done. */
    cancel_budget(self, cr);
    if (cr->begin_ns) {
        uint64_t now = berth_hist_now();
        stage_end(cr, now);
        char name[96];
        snprintf(name, sizeof(name), "%s: whole creation", cr->cls->kind);
        berth_hist_add(name, now - cr->begin_ns);
        cr->begin_ns = 0;
    }
    cr->phase = BERTH_CREATION_LIVE;
    berth_creation_stage(cr, "done");
    if (cls->created)
        cls->created(self, cr->owner);
    if (cr->unreserved) {
        /* an internal creation: nobody waits on the reservation */
        cr->resv.state = BERTH_RESV_DELIVERED;
    } else {
        size_t len;
        BERTH_AUTO_FREE uint8_t *buf = berth_cri_pack_string(cls->reply, cr->id, &len);
        berth_resv_succeed(self, &cr->resv, buf, len);
    }
    cls->publish(cr->owner);
    berth_creation_run_queued(self, cr);
}

void berth_creation_begin(berth_actor_t *self, berth_creation_t *cr)
{
    if (cr->budget_ns)
        cr->budget_timer = berth_timer_after(
                self, cr->budget_ns, berth_msg_new(BERTH_MSG_CREATION_BUDGET, sizeof(berth_msg_t)));
    cr->step = 0;
    cr->begin_ns = berth_hist_now();
    run_step(self, cr);
}

void berth_creation_next(berth_actor_t *self, berth_creation_t *cr)
{
    if (cr->phase != BERTH_CREATION_CREATING)
        return;
    /* Over budget: the steps left are not started. The last step's end is
     * the result, which is kept even late: the work is done. */
    if (cr->over_budget && cr->step + 1 < cr->cls->n_steps) {
        berth_err_t err = NULL;
        berth_err_make(&err, ETIMEDOUT, BERTH_ERR_TIMEOUT,
                       "%s %s: creation exceeded its budget of %.0fs (at stage: %s)", cr->cls->kind,
                       cr->resv.name, (double)cr->budget_ns / 1e9, cr->resv.stage);
        berth_creation_fail(self, cr, err);
        return;
    }
    cr->step++;
    run_step(self, cr);
}

/* ---- undo and teardown ---------------------------------------------------------------- */

static void tear_next(berth_actor_t *self, berth_creation_t *cr)
{
    const berth_creation_class_t *cls = cr->cls;
    for (size_t i = 0; i < cls->n_undo; i++) {
        unsigned bits = cls->undo[i].made & cr->made & cr->tear_mask;
        if (bits) {
            cls->undo[i].run(self, cr->owner, cr->tear_full);
            return;
        }
    }
    void (*done)(berth_actor_t *, berth_creation_t *) = cr->tear_done;
    cr->tear_done = NULL;
    cr->tear_mask = 0;
    if (done)
        done(self, cr);
}

void berth_creation_teardown(berth_actor_t *self, berth_creation_t *cr, unsigned mask, bool full,
                             void (*done)(berth_actor_t *self, berth_creation_t *cr))
{
    cr->tear_mask = mask;
    cr->tear_full = full;
    cr->tear_done = done;
    tear_next(self, cr);
}

void berth_creation_undone(berth_actor_t *self, berth_creation_t *cr, unsigned bits)
{
    cr->made &= ~bits;
    tear_next(self, cr);
}

/* The undo finished: the name is released, or the failure handed over. */
static void finish_undo(berth_actor_t *self, berth_creation_t *cr)
{
    berth_err_t err = berth_steal_ptr(&cr->failure);
    if (cr->cls->undone)
        cr->cls->undone(self, cr->owner, err);
    if (cr->expired || cr->restored || cr->unreserved) {
        berth_err_free(&err);
        release(self, cr);
        return;
    }
    if (err == NULL)
        berth_err_make(&err, EIO, BERTH_ERR_INTERNAL, "%s %s: creation undone", cr->cls->kind,
                       cr->resv.name);
    if (berth_resv_fail(self, &cr->resv, err))
        release(self, cr); /* a waiter took it: the name is free again */
    /* else: the failure is stashed for the next request or the expiry */
}

static void finish_remove(berth_actor_t *self, berth_creation_t *cr)
{
    if (cr->cls->removed)
        cr->cls->removed(self, cr->owner);
    for (size_t i = 0; i < cr->n_waiting; i++) {
        /* every answer a removal owes is an empty response */
        berth_grpc_reply(cr->waiting[i]->call, "", 0);
        berth_msg_free(&cr->waiting[i]->hdr);
    }
    cr->n_waiting = 0;
    BERTH_AUTO_FREE char *msg = berth_asprintf("%s removed", cr->cls->kind);
    berth_log_info(msg, "name=%s id=%s", cr->resv.name, cr->id);
    release(self, cr);
}

/* Undo runs by kind and why (docs/observability.md). An undo is rare
 * (a failure, an expired stash, a restart mid-creation): the series lookup
 * under the registry's mutex is fine here. */
berth_metric_family_t *berth_creation_undo_family(void)
{
    static const char *const labels[] = {"kind", "reason", NULL};
    return berth_metrics_family(&(berth_metric_desc_t){
            .type = BERTH_METRIC_COUNTER,
            .name = "berth_undo_runs_total",
            .help = "Creations undone (their steps torn down in reverse), by kind and reason: "
                    "failed, expired (nobody collected the stashed result), restored "
                    "(interrupted by a restart).",
            .labels = labels,
    });
}

static void count_undo(const berth_creation_t *cr, const char *why)
{
    berth_metric_inc(berth_metrics_series2(berth_creation_undo_family(), cr->cls->kind, why));
}

static void start_undo(berth_actor_t *self, berth_creation_t *cr, const char *why)
{
    count_undo(cr, why);
    cr->phase = BERTH_CREATION_UNDOING;
    berth_creation_teardown(self, cr, ~0u, true, finish_undo);
}

void berth_creation_fail(berth_actor_t *self, berth_creation_t *cr, berth_err_t err)
{
    BERTH_AUTO_FREE char *msg = berth_asprintf("%s creation failed", cr->cls->kind);
    berth_log_warn(msg, "name=%s id=%s stage=\"%s\" error=\"%s\"", cr->resv.name, cr->id,
                   cr->resv.stage, err->msg);
    cancel_budget(self, cr);
    cr->begin_ns = cr->stage_ns = 0; /* a failed creation is not timed */
    berth_err_free(&cr->failure);
    cr->failure = err;
    start_undo(self, cr, "failed");
}

void berth_creation_undo_restored(berth_actor_t *self, berth_creation_t *cr)
{
    BERTH_AUTO_FREE char *msg = berth_asprintf("undoing an interrupted %s creation", cr->cls->kind);
    berth_log_info(msg, "name=%s id=%s", cr->resv.name, cr->id);
    cr->restored = true;
    start_undo(self, cr, "restored");
}

void berth_creation_remove(berth_actor_t *self, berth_creation_t *cr)
{
    cr->phase = BERTH_CREATION_REMOVING;
    /* A stashed (undelivered) resource that is removed is released too. */
    if (cr->resv.stash_timer) {
        berth_timer_cancel(self, cr->resv.stash_timer);
        cr->resv.stash_timer = NULL;
    }
    cr->cls->publish(cr->owner);
    berth_creation_teardown(self, cr, ~0u, true, finish_remove);
}

void berth_creation_restore_delivered(berth_creation_t *cr, int phase)
{
    size_t len;
    cr->resv.reply = berth_cri_pack_string(cr->cls->reply, cr->id, &len);
    cr->resv.reply_len = len;
    cr->resv.state = BERTH_RESV_DELIVERED;
    berth_creation_stage(cr, "done");
    cr->phase = phase;
}

/* ---- requests ------------------------------------------------------------------------------ */

bool berth_creation_busy(const berth_creation_t *cr)
{
    return cr->phase == BERTH_CREATION_CREATING || cr->phase == BERTH_CREATION_UNDOING ||
           cr->phase == BERTH_CREATION_REMOVING || (cr->cls->busy && cr->cls->busy(cr->owner));
}

bool berth_creation_listed(const berth_creation_t *cr)
{
    return berth_resv_listed(&cr->resv) &&
           (cr->phase >= BERTH_CREATION_LIVE || cr->phase == BERTH_CREATION_REMOVING);
}

void berth_creation_wait(berth_creation_t *cr, berth_cri_req_msg_t *rm)
{
    push(&cr->waiting, &cr->n_waiting, &cr->cap_waiting, rm);
}

size_t berth_creation_take_waiting(berth_creation_t *cr, const char *method,
                                   berth_cri_req_msg_t **out, size_t max)
{
    size_t keep = 0, n = 0;
    for (size_t i = 0; i < cr->n_waiting; i++) {
        berth_cri_req_msg_t *rm = cr->waiting[i];
        if (n < max && strcmp(rm->method->name, method) == 0)
            out[n++] = rm;
        else
            cr->waiting[keep++] = rm;
    }
    cr->n_waiting = keep;
    return n;
}

static void on_create_rpc(berth_actor_t *self, berth_creation_t *cr, berth_cri_req_msg_t *rm)
{
    berth_grpc_call_t *call = berth_steal_ptr(&rm->call);
    uint64_t deadline = rm->deadline_ns;
    berth_msg_free(&rm->hdr);
    bool was_listed = berth_creation_listed(cr);
    if (berth_resv_request(self, &cr->resv, call, deadline)) {
        /* A stashed failure was handed over: the name is free again. */
        release(self, cr);
        return;
    }
    if (!was_listed && berth_creation_listed(cr))
        cr->cls->publish(cr->owner); /* a hand-off makes it visible */
}

void berth_creation_request(berth_actor_t *self, berth_creation_t *cr, berth_cri_req_msg_t *rm)
{
    if (cr->phase == BERTH_CREATION_RELEASING) {
        /* The manager has not seen the release yet: it gets the request
         * back and routes it to whoever holds the name next. */
        berth_grpc_call_set_owner(rm->call, cr->mgr);
        berth_send(cr->mgr, &rm->hdr);
        return;
    }
    if (strcmp(rm->method->name, cr->cls->rpc) == 0) {
        on_create_rpc(self, cr, rm);
        return;
    }
    const berth_creation_route_t *r = berth_cri_route(cr->cls->routes, rm->method);
    if (r == NULL) {
        berth_cri_fail(rm, BERTH_ERR_UNSUPPORTED, "%s is not implemented by berth yet",
                       rm->method->name);
        return;
    }
    if (r->queued && berth_creation_busy(cr)) {
        push(&cr->queued, &cr->n_queued, &cr->cap_queued, rm);
        return;
    }
    r->fn(self, cr->owner, rm);
}

void berth_creation_run_queued(berth_actor_t *self, berth_creation_t *cr)
{
    while (cr->n_queued && !berth_creation_busy(cr) && cr->phase != BERTH_CREATION_RELEASING) {
        berth_cri_req_msg_t *rm = cr->queued[0];
        memmove(cr->queued, cr->queued + 1, (cr->n_queued - 1) * sizeof(*cr->queued));
        cr->n_queued--;
        berth_creation_request(self, cr, rm);
    }
    if (cr->phase == BERTH_CREATION_RELEASING) {
        while (cr->n_queued)
            berth_creation_request(self, cr, cr->queued[--cr->n_queued]);
    }
}

/* ---- messages ---------------------------------------------------------------------------- */

bool berth_creation_on_msg(berth_actor_t *self, berth_creation_t *cr, berth_msg_t *msg)
{
    switch (msg->type) {
    case BERTH_MSG_CRI_REQUEST:
        berth_creation_request(self, cr, (berth_cri_req_msg_t *)msg);
        return true;
    case BERTH_MSG_CREATION_BUDGET:
        cr->budget_timer = NULL;
        if (cr->phase == BERTH_CREATION_CREATING) {
            /* The step in flight will finish (a stuck mount cannot be
             * interrupted); the next step turns into the failure. */
            cr->over_budget = true;
            BERTH_AUTO_FREE char *m = berth_asprintf("%s creation over budget", cr->cls->kind);
            berth_log_warn(m, "name=%s stage=\"%s\"", cr->resv.name, cr->resv.stage);
        }
        berth_msg_free(msg);
        return true;
    case BERTH_MSG_CREATION_BYE:
        berth_msg_free(msg);
        berth_actor_exit(self);
        return true;
    default:
        break;
    }
    int r = berth_resv_on_msg(self, &cr->resv, msg);
    if (r == 1) {
        /* The stash window passed with nobody collecting: undo. */
        cr->expired = true;
        start_undo(self, cr, "expired");
    }
    if (r >= 0)
        return true;
    if (msg->type == BERTH_MSG_GRPC_CANCEL) {
        /* A call that is not a waiter (a stop, a status): its answer will
         * simply be dropped by io/. */
        berth_msg_free(msg);
        return true;
    }
    return false;
}
