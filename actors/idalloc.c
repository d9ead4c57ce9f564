// SPDX-License-Identifier: Apache-2.0
/*
 * The userns-mode ID ranges (see idalloc.h). A node runs at most a few
 * hundred pods, so the held ranges are a sorted array scanned linearly.
 */
#include "actors/idalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"

static bool parse_u32(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 10)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *out = v;
    return true;
}

size_t berth_idalloc_parse(berth_idalloc_t *a, const char *text, const char *user)
{
    size_t ulen = strlen(user), found = 0;
    for (const char *l = text; l && *l;) {
        const char *end = strchr(l, '\n');
        size_t n = end ? (size_t)(end - l) : strlen(l);
        const char *c1 = memchr(l, ':', n);
        const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - l)) : NULL;
        uint64_t start, count;
        if (c2 && (size_t)(c1 - l) == ulen && strncmp(l, user, ulen) == 0 &&
            parse_u32(c1 + 1, (size_t)(c2 - c1 - 1), &start) &&
            parse_u32(c2 + 1, n - (size_t)(c2 + 1 - l), &count) && count > 0 &&
            start + count - 1 <= UINT32_MAX) {
            a->pools = berth_realloc(a->pools, (a->npools + 1) * sizeof(*a->pools));
            a->pools[a->npools++] = (berth_idalloc_range_t){start, count, NULL};
            found++;
        }
        l = end ? end + 1 : NULL;
    }
    return found;
}

void berth_idalloc_reserve(berth_idalloc_t *a, const char *id, uint64_t start, uint64_t len)
{
    if (a->nused == a->capused) {
        a->capused = a->capused ? 2 * a->capused : 8;
        a->used = berth_realloc(a->used, a->capused * sizeof(*a->used));
    }
    size_t i = a->nused;
    while (i > 0 && a->used[i - 1].start > start) {
        a->used[i] = a->used[i - 1];
        i--;
    }
    a->used[i] = (berth_idalloc_range_t){start, len, berth_strdup(id)};
    a->nused++;
}

int berth_idalloc_take(berth_idalloc_t *a, const char *id, uint64_t size, uint64_t *start)
{
    if (size == 0)
        return -1;
    for (size_t p = 0; p < a->npools; p++) {
        uint64_t cand = a->pools[p].start, end = a->pools[p].start + a->pools[p].len;
        /* One pass suffices: a held range that starts earlier and did not
         * overlap the candidate ends at or before it, and the candidate only
         * moves up. */
        for (size_t i = 0; i < a->nused; i++) {
            const berth_idalloc_range_t *u = &a->used[i];
            if (u->start < cand + size && cand < u->start + u->len)
                cand = u->start + u->len;
        }
        if (cand + size <= end) {
            berth_idalloc_reserve(a, id, cand, size);
            *start = cand;
            return 0;
        }
    }
    return -1;
}

bool berth_idalloc_in_pools(const berth_idalloc_t *a, uint64_t start, uint64_t len)
{
    for (size_t p = 0; p < a->npools; p++)
        if (start < a->pools[p].start + a->pools[p].len && a->pools[p].start < start + len)
            return true;
    return false;
}

void berth_idalloc_release(berth_idalloc_t *a, const char *id)
{
    size_t k = 0;
    for (size_t i = 0; i < a->nused; i++) {
        if (strcmp(a->used[i].id, id) == 0)
            berth_free(a->used[i].id);
        else
            a->used[k++] = a->used[i];
    }
    a->nused = k;
}

void berth_idalloc_fini(berth_idalloc_t *a)
{
    for (size_t i = 0; i < a->nused; i++)
        berth_free(a->used[i].id);
    berth_free(a->used);
    berth_free(a->pools);
    memset(a, 0, sizeof(*a));
}
