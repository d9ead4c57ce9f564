/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A container's ContainerStats as the containers manager answers it: built
 * from the figures its listing summary keeps (the cgroup's CPU and memory,
 * the writable layer's usage), packed once and kept in the summary until
 * one of them changes. The figures are set only through the setters below,
 * which drop the packed answer, so a stats call never shows figures older
 * than the summary's. Used in the containers manager's turns only.
 */
#ifndef BERTH_ACTORS_CTRSTATS_H
#define BERTH_ACTORS_CTRSTATS_H

#include <stdint.h>

#include "actors/cri.h"
#include "actors/ctrmsg.h"
#include "io/cgroups.h"

/* The cgroup's figures (st, copied), read at wall time `at` (ns). */
void berth_ctr_stats_set_cg(berth_ctr_summary_t *s, const berth_cgroups_stats_t *st, int64_t at);
/* The writable layer's usage, measured at wall time `at` (ns). */
void berth_ctr_stats_set_layer(berth_ctr_summary_t *s, uint64_t bytes, uint64_t inodes, int64_t at);

/* s's ContainerStats, packed. Kept in s (s->stats) and returned from there
 * until a setter changes a figure. A container whose cgroup was never read
 * shows `now` as its figures' time, so its answer is not kept: it is packed
 * into *scratch, which the caller frees (NULL otherwise). `layers_fs`
 * names the writable layers' filesystem (the same on every call for a
 * summary: the packed answer holds it). The bytes returned are valid until
 * the next setter call on s or s's free. */
berth_cri_packed_t berth_ctr_stats_packed(berth_ctr_summary_t *s, int64_t now,
                                          const char *layers_fs, uint8_t **scratch);

#endif
