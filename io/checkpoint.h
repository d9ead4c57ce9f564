/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The checkpoint archive of CheckpointContainer (docs/checkpoint.md): an
 * uncompressed tar laid out as CRI-O writes it, so the kubelet, checkpointctl
 * and CRI-O read berth's archives:
 *
 *   checkpoint/                 CRIU's images (runc checkpoint --image-path)
 *   dump.log, stats-dump        CRIU's log and statistics, when present
 *   config.dump                 the container's identity (JSON)
 *   spec.dump                   the container's OCI spec (the bundle's config.json)
 *   rootfs-diff.tar             what the container changed in its root filesystem
 *   deleted.files               what it deleted there (JSON array), when anything
 *   io.kubernetes.cri-o.LogPath the container's CRI log, when present
 *
 * Everything here blocks on the disk: the blocking pool only, never an
 * actor turn. An archive is written under a temporary name beside the
 * target and renamed over it once complete, so a failure leaves nothing.
 */
#ifndef BERTH_IO_CHECKPOINT_H
#define BERTH_IO_CHECKPOINT_H

#include <stddef.h>

#include "engine/err.h"

/* Member names, as CRI-O and checkpointctl spell them. */
#define BERTH_CKPT_IMAGES_DIR "checkpoint"
#define BERTH_CKPT_CONFIG_DUMP "config.dump"
#define BERTH_CKPT_SPEC_DUMP "spec.dump"
#define BERTH_CKPT_ROOTFS_DIFF "rootfs-diff.tar"
#define BERTH_CKPT_DELETED_FILES "deleted.files"
#define BERTH_CKPT_DUMP_LOG "dump.log"
#define BERTH_CKPT_STATS_DUMP "stats-dump"
#define BERTH_CKPT_LOG "io.kubernetes.cri-o.LogPath"

/* What goes into an archive; all borrowed. */
typedef struct berth_ckpt_parts {
    /* The checkpoint's work directory: CRIU's images in its
     * BERTH_CKPT_IMAGES_DIR, its dump.log and stats-dump beside them.
     * rootfs-diff.tar is built here too. */
    const char *work_dir;
    const char *config_dump; /* the text of config.dump */
    const char *spec_path;   /* the OCI spec, stored as spec.dump */
    /* The overlay's upper directory (NULL: no root filesystem diff).
     * Overlay whiteouts become deleted.files; paths in skip (the spec's
     * mount destinations and the runtime's own mount points, each "/a/b")
     * are left out, as only their mounts put them there. */
    const char *upper_dir;
    const char *const *skip;
    size_t n_skip;
    const char *log_path; /* the CRI log (NULL or missing: none) */
} berth_ckpt_parts_t;

/* Checks a CheckpointContainer location: an absolute path of a ".tar"
 * file, without "." or ".." components. -1 with *err (BERTH_ERR_INVALID,
 * the message naming the location) otherwise. Pure; any thread. */
int berth_checkpoint_check_location(const char *location, berth_err_t *err);

/* Writes the archive of `parts` to `target` (mode 0600: it holds every
 * memory page of the processes), atomically: nothing is left at target or
 * beside it on failure. A missing target directory is BERTH_ERR_INVALID.
 * Returns 0 or -1 with *err. Blocks: pool only. */
int berth_checkpoint_write(const berth_ckpt_parts_t *parts, const char *target, berth_err_t *err);

#endif
