/* SPDX-License-Identifier: Apache-2.0 */
/*
 * User namespaces for pods (Kubernetes `hostUsers: false`): the ID
 * mappings a pod gets (one range, or several extents for CRI-O's keep-id
 * and map-to-root), a pinned user namespace with that mapping, and
 * idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP) that make host files
 * appear inside owned by the mapped IDs: the layers and upper directory of
 * a container's overlay, and the sources of its bind mounts (volumes,
 * /etc/hosts, resolv.conf, hostname, /dev/shm).
 *
 * berth makes these mounts itself, so it does not depend on the OCI
 * runtime's idmap support (runc 1.1 has none); the runtime only joins the
 * pinned namespace by path and bind-mounts sources that are idmapped
 * already (a bind mount keeps its source's idmapping).
 *
 * Every call that touches the kernel blocks (clone, mount, umount): the
 * blocking pool or main, never an actor turn. The validation functions are
 * pure and run anywhere.
 */
#ifndef BERTH_IO_USERNS_H
#define BERTH_IO_USERNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"

/* One contiguous range: container IDs [container_id, container_id+length)
 * are host IDs [host_id, host_id+length). */
typedef struct berth_idmap {
    uint32_t container_id;
    uint32_t host_id;
    uint32_t length;
} berth_idmap_t;

/* The most extents a uid_map or gid_map takes (the kernel's limit, 4.15+). */
#define BERTH_IDMAP_MAX 340

/* A whole mapping: n extents, in the order they are written. Inline so it
 * travels by value (4 KiB); live ones sit in heap objects. */
typedef struct berth_idmaps {
    size_t n;
    berth_idmap_t v[BERTH_IDMAP_MAX];
} berth_idmaps_t;

/* The checks the CRI asks of a POD-mode mapping list, with a message a
 * kubelet user can act on (`what`: "uid" or "gid"): 1 to BERTH_IDMAP_MAX
 * non-empty extents that do not wrap, container ID 0 mapped, no two
 * extents overlapping on either side (the kernel refuses that), and host
 * ID 0 left out (a container root that is the node's root defeats the
 * point). Returns 0, or -1 with *err (INVALID_ARGUMENT). Pure; any context. */
int berth_idmap_check(const char *what, const berth_idmap_t *maps, size_t n, berth_err_t *err);

/* "0 100000 65536\n": the /proc/<pid>/uid_map line for m. Owned. Pure. */
char *berth_idmap_line(const berth_idmap_t *m);

/* Every extent's line, in order: what one write(2) of uid_map takes (the
 * kernel accepts a map in a single write only). Owned. Pure. */
char *berth_idmap_text(const berth_idmaps_t *m);

/* The host ID container ID id maps to: true with *host, false when no
 * extent holds it. Pure. */
bool berth_idmap_to_host(const berth_idmaps_t *m, uint32_t id, uint32_t *host);

/* Creates a user namespace with the mappings uid and gid, every extent
 * (written from
 * outside by this process, which needs CAP_SETUID/CAP_SETGID) and pins it
 * with a bind mount of its nsfs file at `pin` (an empty file is created;
 * an existing pin of a live namespace is EEXIST). The namespace's one
 * process is a short-lived child that is gone when this returns. Returns 0
 * or -1 with *err, leaving nothing behind. Blocks: pool or main. */
int berth_userns_create(const char *pin, const berth_idmaps_t *uid, const berth_idmaps_t *gid,
                        berth_err_t *err);

/* Unmounts (MNT_DETACH) and unlinks a pin; a missing pin is fine. Blocks. */
int berth_userns_remove(const char *pin, berth_err_t *err);

/* Makes an idmapped copy of the mount tree at src (recursive: submounts
 * come along) with the mapping of the user namespace userns_fd and attaches
 * it at dst, which is created as an empty file or directory like src when
 * missing. Returns 0, or -1 with *err: a file system without idmap support
 * is FAILED_PRECONDITION naming src. Blocks. */
int berth_idmap_clone(const char *src, const char *dst, int userns_fd, berth_err_t *err);

/* Idmapped clones of srcs[0..n) (NULL entries skipped) with the mapping of
 * the user namespace pinned at userns_path, attached at <dir>/<i> (dir is
 * emptied first: a retry after a restart starts clean). Returns an owned
 * array of n owned paths (NULL where srcs[i] is NULL; free each and the
 * array), or NULL with *err and nothing left mounted. Blocks. */
char **berth_idmap_sources(const char *dir, const char *userns_path, const char *const *srcs,
                           size_t n, berth_err_t *err);

/* Unmounts (MNT_DETACH) every entry of dir that is a mount and removes the
 * entries and dir itself; what berth_idmap_clone attached under a directory
 * of its own. Never descends into a mount (the sources are the pod's
 * volumes). A missing dir is fine. Returns 0 or -1 with *err. Blocks. */
int berth_idmap_release_dir(const char *dir, berth_err_t *err);

/* Probes once whether this kernel can create a user namespace and idmap a
 * mount of `path`'s file system and of a tmpfs, and whether every directory
 * from / down to path is searchable by others (the runtime reaches the
 * container root file systems under it from inside the user namespace, as
 * an unprivileged user of the node); the result stays for
 * berth_userns_supported. Call on main before the actors run (thread
 * creation orders the write before every reader). Blocks. */
void berth_userns_probe(const char *path);

/* Whether the probe passed; *why (may be NULL) gets a static message saying
 * what is missing when not. Before any probe: false. Any thread. */
bool berth_userns_supported(const char **why);

#endif
