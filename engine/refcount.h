/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth's one reference count: an embedded counter for long-lived shared
 * objects (config and registries snapshots, CNI networks, gRPC calls, the
 * images actor's shared context). Header-only, no allocation. It only counts:
 * the owner frees its object when berth_ref_dec_and_test says the last
 * reference went. Never take a reference from zero (there is no "try" here):
 * a new reference is always made from one the caller holds. __atomic
 * builtins rather than ck_pr, so that ThreadSanitizer sees them.
 */
#ifndef BERTH_ENGINE_REFCOUNT_H
#define BERTH_ENGINE_REFCOUNT_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct berth_ref {
    uint32_t n; /* touched only through the calls below */
} berth_ref_t;

/*
 * Memory ordering. The increment is relaxed: the caller already holds a
 * reference, so the count cannot reach zero meanwhile, and taking a
 * reference publishes nothing (whatever the new holder reads was published
 * by whoever handed it the object: a mailbox push, a pool job). The
 * decrement is acq_rel: its release orders this holder's reads and writes of
 * the object before its drop, and the acquire on the decrement that reaches
 * zero pairs with every earlier release (they form one release sequence on
 * the counter), so the free happens after all other holders' uses. A release
 * decrement plus an acquire fence only on the last drop is equivalent, but
 * ThreadSanitizer does not model stand-alone fences (see
 * engine/atomic-internal.h), and on x86 both compile to the same lock xadd.
 */

/* Sets the count to 1 (the creator's reference). Before the object is shared. */
static inline void berth_ref_init(berth_ref_t *r)
{
    __atomic_store_n(&r->n, 1, __ATOMIC_RELAXED);
}

/* Takes one more reference; the caller holds one. Any thread. */
static inline void berth_ref_inc(berth_ref_t *r)
{
    uint32_t old = __atomic_fetch_add(&r->n, 1, __ATOMIC_RELAXED);
    assert(old > 0 && old < UINT32_MAX);
    (void)old;
}

/* Drops one reference; true when it was the last, and the caller must free
 * the object (every other holder's uses are then visible). Any thread. */
static inline bool berth_ref_dec_and_test(berth_ref_t *r)
{
    uint32_t old = __atomic_fetch_sub(&r->n, 1, __ATOMIC_ACQ_REL);
    assert(old > 0);
    return old == 1;
}

/* The current count, for tests and assertions only: it may change at once. */
static inline uint32_t berth_ref_count(const berth_ref_t *r)
{
    return __atomic_load_n(&r->n, __ATOMIC_RELAXED);
}

#endif
