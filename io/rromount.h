/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recursive read-only bind mounts (CRI Mount.recursive_read_only) made by
 * berth itself, so they do not depend on the OCI runtime: runc 1.1 has no
 * "rro" mount option. A mount is a recursive clone of the host path
 * (open_tree OPEN_TREE_CLONE|AT_RECURSIVE) turned read-only on every
 * submount at once (mount_setattr AT_RECURSIVE MOUNT_ATTR_RDONLY), then
 * attached at a path under the container's bundle. The runtime bind-mounts
 * that path (rbind), and a bind mount's copies keep each submount's
 * read-only flag, so every level stays read-only in the container.
 *
 * Everything here blocks on mount syscalls: call it from the blocking pool
 * (io/blocking.h), never in an actor turn. Owns only the mounts under the
 * directory it is given; never touches the host path itself.
 */
#ifndef BERTH_IO_RROMOUNT_H
#define BERTH_IO_RROMOUNT_H

#include <stdbool.h>

#include "engine/err.h"

/* Whether the kernel has open_tree(2), mount_setattr(2) and move_mount(2)
 * (Linux 5.12). Probed once with arguments that fail before doing anything;
 * never blocks, so any thread or actor turn may ask. */
bool berth_rro_supported(void);

/* Makes `source` (a host path, symlinks followed) appear read-only at every
 * mount level at `target` (created: a directory, or an empty file when the
 * source is not a directory; its parent must exist). The clone's
 * propagation is private, so later mounts under the host path do not
 * reach it. 0, or -1 with *err (the source missing: NOT_FOUND; the kernel
 * without the calls: FAILED_PRECONDITION) and nothing left mounted at
 * target. Blocks (pool). */
int berth_rro_make(const char *source, const char *target, berth_err_t *err);

/* Detaches every mount made under `dir` by berth_rro_make (lazily: a
 * runtime still holding it does not make this fail) and removes the
 * entries and dir. A missing dir is fine. 0, or -1 with *err for the first
 * entry that could not be removed (the others are still tried). Blocks
 * (pool). */
int berth_rro_release_dir(const char *dir, berth_err_t *err);

#endif
