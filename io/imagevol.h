/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image volumes (KEP-4639, CRI Mount.image): an image's root filesystem
 * mounted read-only once under <dir>/<key>/rootfs (dir: <runroot>/image-
 * volumes, key: the hex of the image ID) and bind-mounted from there into
 * every container that asks for it. A chain of two or more layers is a
 * read-only overlay without an upper directory; a single layer (overlayfs
 * wants two lowers when it has no upper) is a read-only bind mount of the
 * layer directory. Who uses which volume, and when one is mounted or
 * unmounted, is the images actor's business (docs/image-volumes.md); this
 * module only does the kernel work and the path checks.
 *
 * The mount, unmount, sweep and sub path calls block (mount(2), openat2,
 * directory trees): call them on io/'s blocking pool, never in an actor
 * turn. berth_imagevol_check_subpath is pure. No shared state; any thread.
 */
#ifndef BERTH_IO_IMAGEVOL_H
#define BERTH_IO_IMAGEVOL_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/err.h"

/* Mounts the volume `key` (64 hex digits) from lowers (n directories, TOP
 * layer first, as for io/overlay) at <dir>/<key>/rootfs, creating the
 * directories. A volume already mounted there is reused (idempotent after a
 * restart). *path gets the mount point (owned). On failure nothing is left
 * mounted. Returns 0 or -1 with *err. Blocking. */
int berth_imagevol_mount(const char *dir, const char *key, const char *const *lowers, size_t n,
                         char **path, berth_err_t *err);

/* Unmounts the volume `key` (lazily when busy: containers still running
 * keep their own bind of it) and removes <dir>/<key>. A volume that is not
 * there is success. Blocking. */
int berth_imagevol_unmount(const char *dir, const char *key, berth_err_t *err);

/* Unmounts and removes every volume under dir whose key is not one of
 * keep[0..n) (the restart's orphan sweep). *removed (may be NULL) counts
 * them. Failures are logged and the sweep goes on; returns 0. Blocking. */
int berth_imagevol_sweep(const char *dir, const char *const *keep, size_t n, unsigned *removed);

/* The lexical rules of an image_sub_path, before any lookup: relative, no
 * ".." component, shorter than PATH_MAX. "" is fine (the whole image).
 * -1 with INVALID *err naming the path otherwise. Pure. */
int berth_imagevol_check_subpath(const char *sub, berth_err_t *err);

/* Resolves `sub` inside the mounted volume `root` the way a chroot would
 * (symlinks, absolute ones included, stay inside the image: openat2 with
 * RESOLVE_IN_ROOT) and gives the host path of what it names in *out
 * (owned): a directory or a regular file. NOT_FOUND when it does not exist
 * in the image, INVALID when it breaks the lexical rules or names something
 * else (a device, a socket). Blocking. */
int berth_imagevol_subpath(const char *root, const char *sub, char **out, berth_err_t *err);

#endif
