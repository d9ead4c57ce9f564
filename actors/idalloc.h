/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ID ranges the pods manager hands to pods that ask for a user namespace
 * through CRI-O's io.kubernetes.cri-o.userns-mode annotation ("auto"): a
 * first-fit allocator over the "containers" entries of a subordinate-ID file
 * (subuid(5)), which never gives out an ID that a live pod's mapping holds,
 * whoever chose that mapping (berth or the kubelet). Pure: the manager reads
 * the files on the pool and owns one allocator for uids and one for gids;
 * an actor turn may call everything here. docs/security-contexts.md.
 */
#ifndef BERTH_ACTORS_IDALLOC_H
#define BERTH_ACTORS_IDALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct berth_idalloc_range {
    uint64_t start, len;
    char *id; /* owned; NULL for a pool */
} berth_idalloc_range_t;

typedef struct berth_idalloc {
    berth_idalloc_range_t *pools; /* the file's entries for the user, in file order */
    size_t npools;
    berth_idalloc_range_t *used; /* sorted by start; may overlap each other */
    size_t nused, capused;
} berth_idalloc_t;

/* Reads the entries "user:start:count" of a subordinate-ID file's text into
 * a's pools (a zeroed or finished allocator). Lines for other users,
 * comments and malformed lines are skipped. Returns how many were found. */
size_t berth_idalloc_parse(berth_idalloc_t *a, const char *text, const char *user);

/* Marks [start, start+len) held by pod id (a range the pod came with, one
 * of the extents of a pod's multi-extent map, or one restored after a
 * restart); a pod may hold several. It may lie outside every pool. */
void berth_idalloc_reserve(berth_idalloc_t *a, const char *id, uint64_t start, uint64_t len);

/* The lowest free range of size IDs inside one pool, held by id from now on:
 * 0 with *start, or -1 when no pool has such a gap (nothing changes). */
int berth_idalloc_take(berth_idalloc_t *a, const char *id, uint64_t size, uint64_t *start);

/* Whether [start, start+len) shares an ID with a pool. The node's own IDs
 * a pod maps as they are (keep-id, map-to-root: a user several pods may
 * share) must not: a pool's IDs belong to one pod at a time. */
bool berth_idalloc_in_pools(const berth_idalloc_t *a, uint64_t start, uint64_t len);

/* Frees every range held by id (none is fine). */
void berth_idalloc_release(berth_idalloc_t *a, const char *id);

void berth_idalloc_fini(berth_idalloc_t *a);

#endif
