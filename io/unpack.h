/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer unpacking: one OCI layer blob (gzip, zstd or plain tar, detected by
 * magic) into its own directory, in the form overlayfs reads as a lower dir
 * (whiteouts as 0/0 character devices, opaque directories as the
 * trusted.overlay.opaque xattr).
 *
 * Containment is the point of this module: every entry is written through
 * dirfds below dest_dir with *at calls that never follow a symlink, so no
 * entry can create or change anything outside dest_dir. Refused outright,
 * each with an error naming the entry: absolute paths, any `..` component,
 * a parent path that passes through a symlink (also one the archive itself
 * planted earlier), hard links naming such paths, device nodes when not
 * allowed, and archives past the size/entry limits. See docs/images-io.md.
 *
 * Blocking: call on io/'s blocking pool (berth_blocking_run), never in an
 * actor turn. Any thread; no shared state.
 */
#ifndef BERTH_IO_UNPACK_H
#define BERTH_IO_UNPACK_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/err.h"
#include "io/digest.h" /* berth_sha256_file and the streaming sha256 */

/* Limits that stop decompression bombs. A zero field takes the default. */
typedef struct berth_unpack_limits {
    uint64_t max_total_bytes; /* sum of regular file sizes; default 64 GiB */
    uint64_t max_entries;     /* archive entries; default 4 Mi */
    uint64_t max_file_bytes;  /* one regular file; default 32 GiB */
    /* Refuse character/block device entries even when running as root
     * (a non-root caller is always refused). Whiteouts are not affected. */
    bool deny_devices;
} berth_unpack_limits_t;

#define BERTH_UNPACK_DEFAULT_MAX_TOTAL (64ull << 30)
#define BERTH_UNPACK_DEFAULT_MAX_ENTRIES (4ull << 20)
#define BERTH_UNPACK_DEFAULT_MAX_FILE (32ull << 30)

typedef struct berth_unpack_stats {
    uint64_t bytes;           /* regular file bytes written */
    uint64_t entries;         /* archive entries processed */
    uint64_t whiteouts;       /* .wh.NAME entries */
    uint64_t opaque_dirs;     /* .wh..wh..opq entries */
    uint64_t xattr_whiteouts; /* whiteouts written in the xattr form (mknod EPERM) */
    uint64_t xattrs_skipped;  /* xattrs the filesystem refused with ENOTSUP */
    uint64_t tar_bytes;       /* the uncompressed tar stream's size */
    /* "sha256:<hex>" of the uncompressed tar stream (the layer's diff ID, as
     * an image config's rootfs.diff_ids names it), set on success */
    char diff_id[BERTH_SHA256_HEX_LEN + 8];
} berth_unpack_stats_t;

/* Unpacks the layer at blob_path into dest_dir, which is created (mode 0755)
 * and must not exist or be an empty directory. limits may be NULL (defaults);
 * stats may be NULL. The uncompressed stream is hashed as it is read
 * (stats->diff_id) and bounded (max_total_bytes plus headers): a layer that
 * inflates past it is EXHAUSTED. Returns 0, or -1 with *err naming
 * the entry at fault.
 * On failure dest_dir is left partly written: the caller removes it (for
 * example with berth_unpack_remove_tree). Ownership is applied only when
 * running as root. */
int berth_unpack_layer(const char *blob_path, const char *dest_dir,
                       const berth_unpack_limits_t *limits, berth_unpack_stats_t *stats,
                       berth_err_t *err);

/* Removes the tree at path (a directory) without following symlinks; a
 * missing path is success. Blocking. Returns 0 or -1 with *err. */
int berth_unpack_remove_tree(const char *path, berth_err_t *err);

#endif
