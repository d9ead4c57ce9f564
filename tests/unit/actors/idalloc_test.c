/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/idalloc: the "containers" entries of a subordinate-ID file, first
 * fit inside them, never over a live pod's range (berth's or the
 * kubelet's), release, and the ranges a restart restores.
 */
#include <stdio.h>
#include <string.h>

#include "actors/idalloc.h"
#include "tests/unit/check.h"

int main(void)
{
    berth_idalloc_t a = {0};
    const char *file = "# comment\n"
                       "alice:100000:65536\n"
                       "containers:200000:196608\n"
                       "containers:bad:1\n"
                       "containers:1000000:0\n"
                       "containers:4294967295:2\n"
                       "containers:900000:65536";
    ok(berth_idalloc_parse(&a, file, "containers") == 2, "two valid containers entries");
    ok(a.pools[0].start == 200000 && a.pools[0].len == 196608, "first pool");
    ok(a.pools[1].start == 900000, "last line without a newline");

    uint64_t s = 0;
    ok(berth_idalloc_take(&a, "p1", 65536, &s) == 0 && s == 200000, "first fit at the start");
    ok(berth_idalloc_take(&a, "p2", 65536, &s) == 0 && s == 265536, "next one after it");
    /* a kubelet pod in the middle of the pool */
    berth_idalloc_reserve(&a, "kube", 331072, 1000);
    ok(berth_idalloc_take(&a, "p3", 65536, &s) == 0 && s == 900000,
       "a live pod's range is skipped; the second pool");
    ok(berth_idalloc_take(&a, "p4", 65536, &s) < 0, "no gap of 65536 left: -1");
    berth_idalloc_release(&a, "p1");
    ok(berth_idalloc_take(&a, "p5", 1024, &s) == 0 && s == 200000, "a released range is reused");
    ok(berth_idalloc_take(&a, "p6", 64512, &s) == 0 && s == 201024, "the rest of the gap");
    ok(berth_idalloc_take(&a, "p7", 0, &s) < 0, "size 0 is refused");
    berth_idalloc_release(&a, "nobody");
    ok(a.nused == 5, "releasing an unknown id changes nothing");
    for (size_t i = 1; i < a.nused; i++)
        check(a.used[i - 1].start <= a.used[i].start, "held ranges sorted (%zu)", i);
    berth_idalloc_fini(&a);

    /* a restart: the restored pods' ranges first, then a new pod */
    berth_idalloc_t b = {0};
    ok(berth_idalloc_parse(&b, "containers:100000:200000\n", "containers") == 1, "one pool");
    berth_idalloc_reserve(&b, "old2", 165536, 65536);
    berth_idalloc_reserve(&b, "old1", 100000, 65536);
    ok(berth_idalloc_take(&b, "new", 65536, &s) == 0 && s == 231072, "after the restored ones");
    ok(berth_idalloc_take(&b, "big", 100000, &s) < 0, "no gap that large");
    berth_idalloc_fini(&b);

    /* keep-id: a pod holds a pool range and a node's uid outside the pools */
    berth_idalloc_t k = {0};
    berth_idalloc_parse(&k, "containers:100000:131072\n", "containers");
    ok(!berth_idalloc_in_pools(&k, 1000, 1) && berth_idalloc_in_pools(&k, 100500, 1) &&
               berth_idalloc_in_pools(&k, 99999, 2) && !berth_idalloc_in_pools(&k, 231072, 5),
       "in_pools: the node's uid 1000 is outside, 100500 and a range reaching 100000 inside");
    ok(berth_idalloc_take(&k, "keep", 65535, &s) == 0 && s == 100000, "keep-id: 65535 of the pool");
    berth_idalloc_reserve(&k, "keep", 1000, 1);
    berth_idalloc_reserve(&k, "keep2", 1000, 1);
    ok(berth_idalloc_take(&k, "next", 65536, &s) == 0 && s == 165535,
       "the next pod after it; uid 1000 held twice (two keep-id pods) does not matter");
    ok(k.nused == 4, "four held ranges");
    berth_idalloc_release(&k, "keep");
    ok(k.nused == 2 && k.used[0].start == 1000 && strcmp(k.used[0].id, "keep2") == 0,
       "release frees both of the pod's ranges; the other pod keeps its uid 1000");
    ok(berth_idalloc_take(&k, "again", 65535, &s) == 0 && s == 100000, "the pool range is free");
    berth_idalloc_fini(&k);

    /* a restart of a keep-id pod: its extents from its record, split by the
     * uid it keeps (0-999 and 1001-65535 from the pool) */
    berth_idalloc_t r = {0};
    berth_idalloc_parse(&r, "containers:100000:200000\n", "containers");
    berth_idalloc_reserve(&r, "old", 100000, 1000);
    berth_idalloc_reserve(&r, "old", 101000, 64535);
    berth_idalloc_reserve(&r, "old", 1000, 1);
    ok(berth_idalloc_take(&r, "new", 65536, &s) == 0 && s == 165535,
       "a new pod after the restored extents");
    berth_idalloc_release(&r, "old");
    ok(berth_idalloc_take(&r, "new2", 65535, &s) == 0 && s == 100000,
       "removing the restored pod frees all its extents");
    berth_idalloc_fini(&r);

    berth_idalloc_t c = {0};
    ok(berth_idalloc_parse(&c, "", "containers") == 0, "empty file: no pool");
    ok(berth_idalloc_take(&c, "x", 1, &s) < 0, "no pool: nothing to take");
    berth_idalloc_fini(&c);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
