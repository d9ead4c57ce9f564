/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A container's ContainerStats and ContainerMetrics as the containers
 * manager answers them: built from the figures its listing summary keeps
 * (the cgroup's, the CPU rate between its last two reads, the writable
 * layer's usage), packed once and kept in the summary until one of them
 * changes. The figures are set only through the setters below,
 * which drop the packed answer, so a stats call never shows figures older
 * than the summary's. Used in the containers manager's turns only.
 */
#ifndef BERTH_ACTORS_CTRSTATS_H
#define BERTH_ACTORS_CTRSTATS_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/cri.h"
#include "actors/ctrmsg.h"
#include "io/cgroups.h"

/* The cgroup's figures (st, copied), read at wall time `at` (ns). */
void berth_ctr_stats_set_cg(berth_ctr_summary_t *s, const berth_cgroups_stats_t *st, int64_t at);
/* The writable layer's usage, measured at wall time `at` (ns). It sets when
 * the layer is due its next measure (s->layer_every after `at`), as
 * cAdvisor's dynamic housekeeping does: BERTH_CTR_LAYER_EVERY_MIN after a
 * measure that found the figures changed (or the first), twice the last
 * wait, up to BERTH_CTR_LAYER_EVERY_MAX, after one that found them the same.
 * A walk costs about 50 us of system calls per container even for a
 * seven-inode layer, so a thousand quiet containers walked every 10 s took
 * half of what a relist may cost (docs/perf.md, "1000 pods"). */
#define BERTH_CTR_LAYER_EVERY_MIN (10ll * 1000000000ll)
#define BERTH_CTR_LAYER_EVERY_MAX (60ll * 1000000000ll)
void berth_ctr_stats_set_layer(berth_ctr_summary_t *s, uint64_t bytes, uint64_t inodes, int64_t at);
/* The writable layers' filesystem figures (statvfs) found by a measure. */
void berth_ctr_stats_set_fs(berth_ctr_summary_t *s, uint64_t bytes, uint64_t inodes,
                            uint64_t inodes_free);
/* Whether s's writable layer is due a measure at wall time `now`. */
bool berth_ctr_stats_layer_due(const berth_ctr_summary_t *s, int64_t now);
/* Moves from's figures to `to`, a newer summary of the same container: the
 * layer's always, the cgroup's (and its reader) when `same_cgroup`. */
void berth_ctr_stats_carry(berth_ctr_summary_t *to, berth_ctr_summary_t *from, bool same_cgroup);

/* s's ContainerStats, packed. Kept in s (s->stats) and returned from there
 * until a setter changes a figure. A container whose cgroup was never read
 * shows `now` as its figures' time, so its answer is not kept: it is packed
 * into *scratch, which the caller frees (NULL otherwise). `layers_fs`
 * names the writable layers' filesystem (the same on every call for a
 * summary: the packed answer holds it). The bytes returned are valid until
 * the next setter call on s or s's free. */
berth_cri_packed_t berth_ctr_stats_packed(berth_ctr_summary_t *s, int64_t now,
                                          const char *layers_fs, uint8_t **scratch);

/* s's ContainerMetrics (cadvisor.h), packed, kept in s like its stats
 * (valid until the next setter call on s or s's free); {NULL, 0} for a
 * container whose cgroup was never read or is gone (no figures: cAdvisor
 * shows no such container). `layers_fs` as above. */
berth_cri_packed_t berth_ctr_metrics_packed(berth_ctr_summary_t *s, const char *layers_fs);

#endif
