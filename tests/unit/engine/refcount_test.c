/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for engine/refcount.h: the single-thread contract, then two threads
 * hammering one count, and two threads dropping the last two references of
 * many objects at once (exactly one frees each, and sees the other's writes;
 * the TSan build checks that ordering).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/refcount.h"
#include "tap.h"

#define HAMMER_ROUNDS 1000000
#define NOBJS 100000

static berth_ref_t shared;
static unsigned early_zero[2];

static void *hammer(void *arg)
{
    unsigned *early = arg;
    for (int i = 0; i < HAMMER_ROUNDS; i++) {
        berth_ref_inc(&shared);
        if (berth_ref_dec_and_test(&shared))
            (*early)++;
    }
    return NULL;
}

struct obj {
    berth_ref_t ref;
    int seen[2]; /* plain writes: the freer must see both */
};

static struct obj *objs[NOBJS];
static unsigned freed[2], bad_freed[2];
static int started;

/* Both threads start together, so they meet on the same objects. */
static void start_together(void)
{
    __atomic_add_fetch(&started, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&started, __ATOMIC_RELAXED) < 2)
        ;
}

static void *drop_all(void *arg)
{
    int t = (int)(intptr_t)arg;
    start_together();
    for (int i = 0; i < NOBJS; i++) {
        struct obj *o = objs[i];
        o->seen[t] = 1;
        if (berth_ref_dec_and_test(&o->ref)) {
            if (!o->seen[0] || !o->seen[1])
                bad_freed[t]++;
            freed[t]++;
            free(o);
        }
    }
    return NULL;
}

int main(void)
{
    tap_plan(7);

    berth_ref_t r;
    berth_ref_init(&r);
    tap_ok(berth_ref_count(&r) == 1, "init makes one reference");
    berth_ref_inc(&r);
    berth_ref_inc(&r);
    tap_ok(berth_ref_count(&r) == 3, "inc adds one each");
    bool a = berth_ref_dec_and_test(&r), b = berth_ref_dec_and_test(&r);
    tap_ok(!a && !b && berth_ref_count(&r) == 1, "dec_and_test is false while others hold");
    tap_ok(berth_ref_dec_and_test(&r), "dec_and_test is true for the last reference");

    berth_ref_init(&shared);
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        pthread_create(&th[t], NULL, hammer, &early_zero[t]);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    tap_ok(early_zero[0] + early_zero[1] == 0 && berth_ref_count(&shared) == 1,
           "two threads x %d inc/dec pairs: never zero, back to one", HAMMER_ROUNDS);

    for (int i = 0; i < NOBJS; i++) {
        objs[i] = calloc(1, sizeof(struct obj));
        berth_ref_init(&objs[i]->ref);
        berth_ref_inc(&objs[i]->ref); /* one reference per thread */
    }
    for (int t = 0; t < 2; t++)
        pthread_create(&th[t], NULL, drop_all, (void *)(intptr_t)t);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    tap_ok(freed[0] + freed[1] == NOBJS,
           "%d objects dropped by two threads: each freed once "
           "(%u by one thread, %u by the other)",
           NOBJS, freed[0], freed[1]);
    tap_ok(bad_freed[0] + bad_freed[1] == 0, "the freeing thread saw both threads' writes");
    return tap_done();
}
