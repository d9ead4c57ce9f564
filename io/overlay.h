/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container root filesystems: overlay mounts of an image's layer chain with
 * a private upper and work directory per container under
 * <root>/overlay-containers/<id>/ (upper/, work/, merged/).
 *
 * The lowerdir option is passed to mount(2) when it fits the one page the
 * kernel copies (about 4 KiB of text); longer chains use the new mount API,
 * one `lowerdir+` fsconfig call per layer (kernel >= 6.8). If the kernel
 * refuses `lowerdir+`, the layers are linked under short names in the
 * container directory and the mount(2) string is built from those links.
 *
 * Every call blocks (mount(2), directory trees): run it on io/'s blocking
 * pool (berth_overlay_mount_async or berth_blocking_run), never in an
 * actor turn. No shared state; any thread.
 */
#ifndef BERTH_IO_OVERLAY_H
#define BERTH_IO_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/actor.h"
#include "engine/err.h"
#include "io/userns.h"

enum {
    BERTH_MSG_OVERLAY_DONE = 128, /* berth_overlay_done_msg_t */
};

/* How the last mount was made (for tests and logs). */
enum berth_overlay_method {
    BERTH_OVERLAY_MOUNT2 = 1,    /* mount(2) with the full lowerdir string */
    BERTH_OVERLAY_LOWERDIR_PLUS, /* fsopen + fsconfig lowerdir+ per layer */
    BERTH_OVERLAY_SHORT_LINKS,   /* mount(2) with short symlinked layer paths */
};

/* Mounts an overlay at target. lowers: n directories, TOP layer first (the
 * overlayfs order). upper and work may both be NULL for a read-only mount
 * (then n >= 2 is required by overlayfs). links_dir is where short links go
 * for the fallback (NULL: a fallback is not possible). *method (may be NULL)
 * says which way was used. Returns 0 or -1 with *err. Blocking. */
int berth_overlay_mount(const char *const *lowers, size_t n, const char *upper, const char *work,
                        const char *target, const char *links_dir, int *method, berth_err_t *err);

/* Unmounts target (lazily when busy); not mounted is success. Blocking. */
int berth_overlay_unmount(const char *target, berth_err_t *err);

/* Creates <root>/overlay-containers/<id>/{upper,work,merged} and mounts the
 * chain (lowers top first) on merged. *rootfs gets the merged path (owned).
 * An existing mount of the same container is reused (idempotent after a
 * restart). On failure nothing is left mounted. Blocking. */
int berth_overlay_container_mount(const char *root, const char *id, const char *const *lowers,
                                  size_t n, char **rootfs, berth_err_t *err);
/* berth_overlay_container_mount for a container in a pod with its own user
 * namespace (pinned at userns_path, with the mappings uid and gid, which
 * must map container ID 0: the mount is made as that host uid and gid): the layers and the
 * container directory are idmapped (io/userns.h) for the mount, so the image's files appear inside
 * owned by the mapped IDs and what the container writes lands in upper/ with the image's own IDs.
 * Needs a kernel whose overlayfs takes idmapped layers
 * (>= 5.19). With userns_path NULL, the plain mount. Blocking. */
int berth_overlay_container_mount_idmapped(const char *root, const char *id,
                                           const char *const *lowers, size_t n,
                                           const char *userns_path, const berth_idmaps_t *uid,
                                           const berth_idmaps_t *gid, char **rootfs,
                                           berth_err_t *err);

/* Unmounts and removes <root>/overlay-containers/<id>, after detaching the
 * idmapped mounts berth made under it; missing is success. */
int berth_overlay_container_remove(const char *root, const char *id, berth_err_t *err);

/* The reply of the async helpers. */
typedef struct berth_overlay_done_msg {
    berth_msg_t hdr;
    uint64_t tag;
    char *rootfs;      /* mount: the merged path (owned); NULL otherwise */
    berth_err_t error; /* NULL on success; owned */
} berth_overlay_done_msg_t;

/* berth_overlay_container_mount / _remove on the blocking pool; everything
 * is copied. The reply carries `tag`. Any thread or actor turn. */
void berth_overlay_container_mount_async(const char *root, const char *id,
                                         const char *const *lowers, size_t n,
                                         berth_handle_t reply_to, uint64_t tag);
/* The _idmapped mount on the pool (userns_path NULL: the plain one). */
void berth_overlay_container_mount_idmapped_async(const char *root, const char *id,
                                                  const char *const *lowers, size_t n,
                                                  const char *userns_path,
                                                  const berth_idmaps_t *uid,
                                                  const berth_idmaps_t *gid,
                                                  berth_handle_t reply_to, uint64_t tag);
void berth_overlay_container_remove_async(const char *root, const char *id, berth_handle_t reply_to,
                                          uint64_t tag);

#endif
