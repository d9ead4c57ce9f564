/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Actors: the MPSC mailbox with its idle mark, the registry of
 * generation-checked handles, spawn, send and exit. Sends come from any
 * thread and never block or fail for lack of memory; the only failure is a
 * stale handle (-ESRCH, message freed). Nothing here runs actor code: turns
 * are run by sched.c.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/engine-internal.h"

/* ---- mailbox ------------------------------------------------------------ */

#define IDLE_BIT ((uintptr_t)1)

static inline berth_msg_t *unmark(berth_msg_t *p)
{
    return (berth_msg_t *)((uintptr_t)p & ~IDLE_BIT);
}

void berth_mpsc_init(struct berth_mpsc *q, bool idle)
{
    q->stub.next = NULL;
    q->tail = &q->stub;
    q->head = idle ? (berth_msg_t *)((uintptr_t)&q->stub | IDLE_BIT) : &q->stub;
}

bool berth_mpsc_push_mp(struct berth_mpsc *q, berth_msg_t *m)
{
    ck_pr_store_ptr(msg_link(m), NULL);
    /* The swap is a full barrier on every ck target: it orders the message's
     * contents (written by the sender) before the message becomes reachable,
     * and it serialises producers so each one links after exactly one
     * predecessor. */
    berth_msg_t *prev = ck_pr_fas_ptr(&q->head, m);
    bool was_idle = ((uintptr_t)prev & IDLE_BIT) != 0;
    /* Release: the consumer's acquire load of prev->next must also see m's
     * contents. Until this store the consumer sees a gap and reports empty
     * without marking idle (head != tail), so nothing is lost. */
    ck_pr_fence_store();
    ck_pr_store_ptr(msg_link(unmark(prev)), m);
    return was_idle;
}

berth_msg_t *berth_mpsc_pop_sc(struct berth_mpsc *q)
{
    berth_msg_t *tail = q->tail;
    berth_msg_t *next = ck_pr_load_ptr(msg_link(tail));
    if (tail == &q->stub) {
        if (next == NULL)
            return NULL;
        q->tail = next;
        tail = next;
        next = ck_pr_load_ptr(msg_link(tail));
    }
    if (next != NULL) {
        /* Acquire: pairs with the producer's fence before linking `next`, so
         * tail's successor (and tail itself) is fully written. */
        ck_pr_fence_load();
        q->tail = next;
        return tail;
    }
    berth_msg_t *head = unmark(ck_pr_load_ptr(&q->head));
    if (tail != head)
        return NULL; /* a producer swapped head but has not linked yet */
    /* tail is the last message: put the stub behind it so tail can be handed
     * out while the list keeps a node. */
    berth_mpsc_push_mp(q, &q->stub);
    next = ck_pr_load_ptr(msg_link(tail));
    if (next != NULL) {
        ck_pr_fence_load();
        q->tail = next;
        return tail;
    }
    return NULL;
}

bool berth_mpsc_markidle_sc(struct berth_mpsc *q)
{
    berth_msg_t *tail = q->tail;
    if (tail != &q->stub || ck_pr_load_ptr(msg_link(tail)) != NULL)
        return false;
    /* CAS head from the stub to stub|idle. It fails if any producer swapped
     * head since (its message is then ours to run: stay scheduled). On
     * success the next push sees the mark and schedules us; the CAS is a full
     * barrier so this turn's writes to the actor state are visible to the
     * worker that runs the next turn (it acquires through that push's swap
     * and the run queue). */
    return ck_pr_cas_ptr(&q->head, &q->stub, (void *)((uintptr_t)&q->stub | IDLE_BIT));
}

bool berth_mpsc_empty_hint(struct berth_mpsc *q)
{
    return unmark(ck_pr_load_ptr(&q->head)) == &q->stub;
}

/* ---- messages ------------------------------------------------------------ */

void *berth_msg_new(uint32_t type, size_t size)
{
    if (size < sizeof(berth_msg_t))
        size = sizeof(berth_msg_t);
    berth_msg_t *m = berth_calloc(1, size);
    m->type = type;
    return m;
}

void berth_msg_free(berth_msg_t *msg)
{
    if (msg == NULL)
        return;
    if (msg->free != NULL)
        msg->free(msg);
    else
        berth_free(msg);
}

/* ---- registry -------------------------------------------------------------
 *
 * A two-level table: chunk pointers are published once (CAS from NULL) and
 * never move, so a sender can index it while another thread grows it. */

#define CHUNK_BITS 10
#define CHUNK_SLOTS (1u << CHUNK_BITS)
#define MAX_CHUNKS 4096u

static struct berth_slot *chunks[MAX_CHUNKS];
static uint32_t nslots;    /* atomic: slots ever handed out (high-water) */
static uint64_t free_head; /* atomic: tag << 32 | (index + 1) */

static struct berth_slot *slot_get(uint32_t idx)
{
    /* Acquire (a load fence after the pointer): pairs with the release of
     * the CAS that published the chunk, so its zeroed contents are seen. */
    struct berth_slot *c = ck_pr_load_ptr(&chunks[idx >> CHUNK_BITS]);
    ck_pr_fence_load();
    return c ? &c[idx & (CHUNK_SLOTS - 1)] : NULL;
}

static uint32_t slot_alloc(void)
{
    for (;;) {
        uint64_t h = ck_pr_load_64(&free_head);
        uint32_t top = (uint32_t)h;
        if (top == 0)
            break;
        struct berth_slot *s = slot_get(top - 1);
        /* May read a stale link if another thread pops and re-pushes this
         * slot meanwhile; the tag in the CAS makes that attempt fail. */
        uint32_t next = ck_pr_load_32(&s->free_next);
        uint64_t nh = (((h >> 32) + 1) << 32) | next;
        if (ck_pr_cas_64(&free_head, h, nh))
            return top - 1;
    }
    uint32_t idx = ck_pr_faa_32(&nslots, 1);
    if (idx >= MAX_CHUNKS * CHUNK_SLOTS)
        abort(); /* 4M live actors: a leak, not a load */
    uint32_t ci = idx >> CHUNK_BITS;
    if (ck_pr_load_ptr(&chunks[ci]) == NULL) {
        struct berth_slot *c = berth_calloc(CHUNK_SLOTS, sizeof(*c));
        /* Full-barrier CAS publishes the zeroed chunk (pairs with slot_get). */
        if (!ck_pr_cas_ptr(&chunks[ci], NULL, c))
            berth_free(c);
    }
    return idx;
}

static void slot_release(uint32_t idx)
{
    struct berth_slot *s = slot_get(idx);
    for (;;) {
        uint64_t h = ck_pr_load_64(&free_head);
        ck_pr_store_32(&s->free_next, (uint32_t)h);
        uint64_t nh = (((h >> 32) + 1) << 32) | (idx + 1);
        /* Full barrier: the link is written before the slot is reachable. */
        if (ck_pr_cas_64(&free_head, h, nh))
            return;
    }
}

/* Takes a sender reference on the slot if it still holds generation `gen`
 * (gen 0: any live actor). */
static bool slot_ref(struct berth_slot *s, uint32_t gen)
{
    uint64_t st = ck_pr_load_64(&s->state);
    for (;;) {
        if (!(st & BERTH_SLOT_LIVE) || (gen != 0 && (uint32_t)(st >> 32) != gen))
            return false;
        /* Full barrier CAS: acquires the actor pointer published with the
         * LIVE bit, and makes the reference visible to an exiting actor
         * before we touch its mailbox. */
        uint64_t seen;
        if (ck_pr_cas_64_value(&s->state, st, st + 1, &seen))
            return true;
        st = seen;
    }
}

static void slot_unref(struct berth_slot *s)
{
    /* Release: our mailbox push happens-before the exiting actor's drain,
     * which waits for the count to reach zero. ck's dec is a locked RMW (a
     * full barrier) on x86; the fence says so for the other targets. */
    ck_pr_fence_release();
    ck_pr_dec_64(&s->state);
}

/* held: a reserved actor's mailbox starts "running" (not idle), so sends
 * queue without scheduling it until berth_actor_start. */
static berth_handle_t install(const berth_actor_class_t *cls, void *state, bool held,
                              const char *label)
{
    berth_actor_t *a = berth_calloc(1, sizeof(*a));
    /* Published with the actor by the LIVE store below. */
    a->label = label ? berth_strdup(label) : NULL;
    berth_mpsc_init(&a->mbox, !held);
    a->cls = cls;
    a->state = state;
    a->timer_home = -1;
    a->running_on = -1;
    uint32_t idx = slot_alloc();
    struct berth_slot *s = slot_get(idx);
    uint32_t gen = (uint32_t)(ck_pr_load_64(&s->state) >> 32);
    if (gen == 0)
        gen = 1;
    a->self.v = ((uint64_t)gen << 32) | idx;
    ck_pr_store_ptr(&s->actor, a);
    /* Release: the actor (and its pointer) are written before a sender can
     * see LIVE; pairs with the CAS in slot_ref. The ref count is zero: the
     * slot was freed only after its last sender left. */
    ck_pr_fence_store();
    ck_pr_store_64(&s->state, ((uint64_t)gen << 32) | BERTH_SLOT_LIVE);
    ck_pr_inc_64(&berth_eng.actors_live); /* statistics only */
    return a->self;
}

berth_handle_t berth_actor_spawn(const berth_actor_class_t *cls, void *state)
{
    return install(cls, state, false, NULL);
}

berth_handle_t berth_actor_spawn_labeled(const berth_actor_class_t *cls, void *state,
                                         const char *label)
{
    return install(cls, state, false, label);
}

berth_handle_t berth_actor_reserve(void)
{
    return install(NULL, NULL, true, NULL);
}

void berth_actor_start(berth_handle_t h, const berth_actor_class_t *cls, void *state)
{
    struct berth_slot *s = slot_get((uint32_t)h.v);
    berth_actor_t *a = ck_pr_load_ptr(&s->actor);
    ck_pr_store_ptr(&a->cls, cls); /* a dump may read it meanwhile */
    a->state = state;
    /* Its first turn runs what was sent meanwhile, or marks it idle. The run
     * queue's push publishes cls and state to the worker that runs it (a
     * full barrier on the injection queue, a worker's own deque otherwise). */
    if (berth_sched_push(a))
        berth_sched_wake();
}

int berth_send(berth_handle_t to, berth_msg_t *msg)
{
    uint32_t idx = (uint32_t)to.v;
    uint32_t gen = (uint32_t)(to.v >> 32);
    struct berth_slot *s = NULL;
    /* Relaxed: a handle can only name a slot handed out before it was made. */
    if (gen != 0 && idx < ck_pr_load_32(&nslots))
        s = slot_get(idx);
    if (s == NULL || !slot_ref(s, gen)) {
        berth_msg_free(msg);
        return -ESRCH;
    }
    berth_actor_t *a = ck_pr_load_ptr(&s->actor);
    /* Relaxed: a depth estimate for dumps. */
    ck_pr_inc_64(&a->pushed);
    bool wake = false;
    if (berth_mpsc_push_mp(&a->mbox, msg))
        wake = berth_sched_push(a);
    slot_unref(s);
    if (wake)
        berth_sched_wake();
    return 0;
}

berth_handle_t berth_actor_self(berth_actor_t *self)
{
    return self->self;
}

void *berth_actor_state(berth_actor_t *self)
{
    return self->state;
}

const char *berth_actor_name(berth_actor_t *self)
{
    return self->cls && self->cls->name ? self->cls->name : "actor";
}

void berth_actor_set_label(berth_actor_t *self, const char *label)
{
    if (label == NULL || ck_pr_load_ptr(&self->label) != NULL)
        return;
    /* Only the actor itself writes its label (in a turn), so no CAS: the
     * store's release fence publishes the copied bytes to a dump that loads
     * the pointer (pairs with the acquire in berth_registry_foreach_info). */
    char *copy = berth_strdup(label);
    ck_pr_fence_store();
    ck_pr_store_ptr(&self->label, copy);
}

void berth_actor_exit(berth_actor_t *self)
{
    if (self->exiting)
        return;
    self->exiting = true;
    struct berth_slot *s = slot_get((uint32_t)self->self.v);
    uint64_t st = ck_pr_load_64(&s->state);
    for (;;) {
        uint32_t gen = (uint32_t)(st >> 32) + 1;
        if (gen == 0)
            gen = 1;
        /* Keep the senders' count; drop LIVE and move the generation on so
         * every later slot_ref fails at once. Full barrier CAS. */
        uint64_t nst = ((uint64_t)gen << 32) | (st & BERTH_SLOT_REFS);
        uint64_t seen;
        if (ck_pr_cas_64_value(&s->state, st, nst, &seen))
            break;
        st = seen;
    }
}

static void drain_free(berth_actor_t *a)
{
    berth_msg_t *m;
    while ((m = berth_mpsc_pop_sc(&a->mbox)) != NULL)
        berth_msg_free(m);
}

void berth_actor_destroy(berth_actor_t *a)
{
    uint32_t idx = (uint32_t)a->self.v;
    struct berth_slot *s = slot_get(idx);
    /* Senders that took a reference before the generation moved may still
     * be pushing; their pushes are a handful of instructions, so spin (and
     * yield, in case one was preempted). Acquire after the loop pairs with
     * slot_unref's release: their messages are then all linked. */
    unsigned spins = 0;
    while ((ck_pr_load_64(&s->state) & BERTH_SLOT_REFS) != 0) {
        if (++spins > 64)
            sched_yield();
        else
            ck_pr_stall();
    }
    ck_pr_fence_load();
    drain_free(a);
    if (a->cls && a->cls->fini)
        a->cls->fini(a->state);
    ck_pr_dec_64(&berth_eng.actors_live); /* statistics only */
    ck_pr_store_ptr(&s->actor, NULL);
    slot_release(idx);
    berth_free(a->label);
    berth_free(a);
}

void berth_registry_shutdown(void)
{
    uint32_t n = ck_pr_load_32(&nslots);
    for (uint32_t i = 0; i < n; i++) {
        struct berth_slot *s = slot_get(i);
        if (s == NULL || !(ck_pr_load_64(&s->state) & BERTH_SLOT_LIVE))
            continue;
        berth_actor_t *a = s->actor;
        berth_actor_exit(a);
        berth_actor_destroy(a);
    }
    for (uint32_t c = 0; c < MAX_CHUNKS; c++) {
        berth_free(chunks[c]);
        chunks[c] = NULL;
    }
    nslots = 0;
    free_head = 0;
}

void berth_registry_foreach(void (*fn)(void *, const char *, uint64_t, uint64_t), void *ctx)
{
    uint32_t n = ck_pr_load_32(&nslots);
    for (uint32_t i = 0; i < n; i++) {
        struct berth_slot *s = slot_get(i);
        if (s == NULL || !slot_ref(s, 0))
            continue;
        /* The reference keeps the actor from being freed while we read it. */
        berth_actor_t *a = ck_pr_load_ptr(&s->actor);
        const char *name = berth_actor_name(a);
        uint64_t h = a->self.v;
        uint64_t pushed = ck_pr_load_64(&a->pushed);
        uint64_t popped = ck_pr_load_64(&a->popped);
        slot_unref(s);
        fn(ctx, name, h, pushed > popped ? pushed - popped : 0);
    }
}

void berth_registry_foreach_info(void (*fn)(void *ctx, const berth_actor_info_t *info), void *ctx)
{
    uint32_t n = ck_pr_load_32(&nslots);
    char label[128];
    for (uint32_t i = 0; i < n; i++) {
        struct berth_slot *s = slot_get(i);
        if (s == NULL || !slot_ref(s, 0))
            continue;
        /* The reference keeps the actor (and its label) from being freed
         * while we copy what we report; the callback runs without it so a
         * slow one never delays an exiting actor. Every read is a relaxed
         * snapshot: the dump is approximate by design. */
        berth_actor_t *a = ck_pr_load_ptr(&s->actor);
        berth_actor_info_t info = {.handle = a->self.v};
        const berth_actor_class_t *cls = ck_pr_load_ptr(&a->cls);
        info.kind = cls && cls->name ? cls->name : "actor";
        /* Acquire: pairs with the release in berth_actor_set_label. */
        const char *l = ck_pr_load_ptr(&a->label);
        ck_pr_fence_load();
        snprintf(label, sizeof(label), "%s", l ? l : "");
        info.label = label;
        info.worker = ck_pr_load_int(&a->running_on);
        uint64_t pushed = ck_pr_load_64(&a->pushed);
        info.handled = ck_pr_load_64(&a->popped);
        info.depth = pushed > info.handled ? pushed - info.handled : 0;
        uintptr_t head = (uintptr_t)ck_pr_load_ptr(&a->mbox.head);
        if (cls == NULL)
            info.state = "reserved";
        else if (info.worker >= 0)
            info.state = "running";
        else if (head & IDLE_BIT)
            info.state = "idle";
        else
            info.state = "queued";
        slot_unref(s);
        fn(ctx, &info);
    }
}
