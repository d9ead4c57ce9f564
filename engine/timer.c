/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timers: one binary min-heap per worker on (deadline, arming order). All
 * timers of one actor live in the heap of its "home" worker (the worker it
 * first armed a timer on), so they fire from one thread in heap order and
 * reach the actor in that order. Arming from another worker posts the timer
 * to the home worker's inbox. A fired timer travels as a message; a cancel
 * sets a flag that the home worker and the dispatch both check, so the
 * message is never received after berth_timer_cancel returns.
 */
#include "engine/timer.h"

#include <time.h>

#include "engine/alloc.h"
#include "engine/engine-internal.h"

uint64_t berth_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t berth_now_ns(void)
{
    if (berth_eng.deterministic)
        return ck_pr_load_64(&berth_eng.vnow); /* relaxed: a clock reading */
    return berth_clock_ns(CLOCK_MONOTONIC);
}

uint64_t berth_wall_ns(void)
{
    return berth_clock_ns(CLOCK_REALTIME);
}

static bool before(const struct berth_timer *a, const struct berth_timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_set(struct berth_worker *w, size_t i, struct berth_timer *t)
{
    w->heap[i] = t;
    t->heap_idx = (int)i;
}

static void sift_up(struct berth_worker *w, size_t i)
{
    struct berth_timer *t = w->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(t, w->heap[p]))
            break;
        heap_set(w, i, w->heap[p]);
        i = p;
    }
    heap_set(w, i, t);
}

static void sift_down(struct berth_worker *w, size_t i)
{
    struct berth_timer *t = w->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->nheap)
            break;
        if (c + 1 < w->nheap && before(w->heap[c + 1], w->heap[c]))
            c++;
        if (!before(w->heap[c], t))
            break;
        heap_set(w, i, w->heap[c]);
        i = c;
    }
    heap_set(w, i, t);
}

static void heap_remove(struct berth_worker *w, size_t i)
{
    struct berth_timer *last = w->heap[--w->nheap];
    w->heap[i]->heap_idx = -1;
    if (i == w->nheap)
        return;
    heap_set(w, i, last);
    sift_down(w, i);
    sift_up(w, (size_t)last->heap_idx);
}

void berth_timer_heap_insert(struct berth_worker *w, struct berth_timer *t)
{
    if (w->nheap == w->capheap) {
        w->capheap = w->capheap ? w->capheap * 2 : 64;
        w->heap = berth_realloc(w->heap, w->capheap * sizeof(*w->heap));
    }
    heap_set(w, w->nheap++, t);
    sift_up(w, w->nheap - 1);
}

uint64_t berth_timer_next(struct berth_worker *w)
{
    return w->nheap ? w->heap[0]->deadline : UINT64_MAX;
}

void berth_timer_fire_due(struct berth_worker *w, uint64_t now)
{
    while (w->nheap && w->heap[0]->deadline <= now) {
        struct berth_timer *t = w->heap[0];
        heap_remove(w, 0);
        /* Acquire: pairs with the owner's release in berth_timer_cancel; if
         * we miss it the dispatch sees it (same actor, later turn). */
        if (ck_pr_load_int(&t->cancelled)) {
            berth_msg_free(&t->hdr);
            continue;
        }
        ck_pr_fence_load();
        berth_send(t->owner, &t->hdr); /* on -ESRCH the timer is freed */
    }
}

void berth_timer_heap_free(struct berth_worker *w)
{
    for (size_t i = 0; i < w->nheap; i++)
        berth_msg_free(&w->heap[i]->hdr);
    berth_free(w->heap);
    w->heap = NULL;
    w->nheap = w->capheap = 0;
}

static void timer_free(berth_msg_t *m)
{
    struct berth_timer *t = (struct berth_timer *)m;
    berth_msg_free(t->msg);
    berth_free(t);
}

void berth_timer_dispatch(berth_actor_t *a, struct berth_timer *t)
{
    /* Only the owner sets the flag, in an earlier turn: plain ordering. */
    if (ck_pr_load_int(&t->cancelled)) {
        berth_msg_free(&t->hdr);
        return;
    }
    berth_msg_t *m = t->msg;
    berth_free(t);
    a->cls->receive(a, m);
}

berth_timer_t *berth_timer_after(berth_actor_t *self, uint64_t ns, berth_msg_t *msg)
{
    struct berth_worker *w = berth_tls_worker;
    struct berth_timer *t = berth_calloc(1, sizeof(*t));
    t->hdr.type = BERTH_MSG_TIMER_INTERNAL;
    t->hdr.free = timer_free;
    t->msg = msg;
    uint64_t now = berth_now_ns();
    t->deadline = ns > UINT64_MAX - now ? UINT64_MAX - 1 : now + ns;
    /* Relaxed counter: only uniqueness and per-actor order matter, and one
     * actor's arms are ordered by its turns. */
    t->seq = ck_pr_faa_64(&berth_eng.timer_seq, 1);
    t->owner = self->self;
    t->heap_idx = -1;
    if (self->timer_home < 0)
        self->timer_home = w ? (int)w->index : 0;
    struct berth_worker *home = &berth_eng.workers[self->timer_home];
    if (home == w)
        berth_timer_heap_insert(w, t);
    else
        berth_worker_post(home, &t->hdr);
    return t;
}

void berth_timer_cancel(berth_actor_t *self, berth_timer_t *t)
{
    struct berth_worker *w = berth_tls_worker;
    if (self->timer_home >= 0 && &berth_eng.workers[self->timer_home] == w && t->heap_idx >= 0) {
        /* Still in our own heap: nobody else can see it; drop it now. */
        heap_remove(w, (size_t)t->heap_idx);
        berth_msg_free(&t->hdr);
        return;
    }
    /* Pending in another worker's heap or inbox, or already in our mailbox:
     * whoever next sees it frees it. Release: pairs with the home worker's
     * load in berth_timer_fire_due. */
    ck_pr_fence_store();
    ck_pr_store_int(&t->cancelled, 1);
}
