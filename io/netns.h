/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod namespaces for infra-less pods (CRI-O's drop_infra_ctr): berth creates
 * a pod's network, IPC and UTS namespaces with a short-lived child, sets the
 * hostname and namespaced sysctls from inside, and pins each namespace with a
 * bind mount at <pin_dir>/{net,ipc,uts}/<pod-id>, so no process stays behind
 * per pod. Containers join the namespaces by path; CNI gets the net pin as
 * CNI_NETNS.
 *
 * Every call that touches the kernel blocks (clone, mount, umount): run it on
 * the blocking pool (the _async wrappers) or from main, never in an actor
 * turn. berth_netns_exists() is a single statfs and may run anywhere.
 */
#ifndef BERTH_IO_NETNS_H
#define BERTH_IO_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/actor.h"
#include "engine/err.h"
#include "io/userns.h"

enum {
    BERTH_MSG_NETNS_CREATED = 64, /* berth_netns_done_msg_t, reply of create_async */
    BERTH_MSG_NETNS_REMOVED = 65, /* berth_netns_done_msg_t, reply of remove_async */
};

/* Which namespaces a pod gets of its own; the others are the host's. */
enum {
    BERTH_NETNS_NET = 1u << 0,
    BERTH_NETNS_IPC = 1u << 1,
    BERTH_NETNS_UTS = 1u << 2,
    BERTH_NETNS_ALL = BERTH_NETNS_NET | BERTH_NETNS_IPC | BERTH_NETNS_UTS,
};

typedef struct berth_sysctl {
    const char *key;   /* "net.ipv4.ip_unprivileged_port_start" or "net/ipv4/..." */
    const char *value; /* written as is (a newline is not needed) */
} berth_sysctl_t;

/* Borrowed throughout; the _async wrapper copies it. */
typedef struct berth_netns_spec {
    const char *pin_dir;  /* base directory, e.g. <runroot>/ns; created when missing */
    const char *pod_id;   /* file name of the pins: no '/', not "." or ".." */
    unsigned kinds;       /* BERTH_NETNS_* to create; 0 creates nothing */
    const char *hostname; /* set in the new UTS namespace; NULL or "": left as
                             inherited. Ignored without BERTH_NETNS_UTS. */
    /* Namespaced sysctls only: net.* needs a new net namespace; kernel.shm*,
     * kernel.msg*, kernel.sem and fs.mqueue.* need a new IPC namespace.
     * Anything else is refused with an error naming the sysctl. */
    const berth_sysctl_t *sysctls;
    size_t nsysctls;
    /* Both set: the pod gets a user namespace of its own with these
     * mappings (io/userns.h), pinned at <pin_dir>/user/<pod-id>, and the
     * namespaces of `kinds` are created inside it (owned by it), so a
     * container that joins the user namespace may join them too. */
    const berth_idmaps_t *uid_map, *gid_map;
} berth_netns_spec_t;

/* The pins of one pod. Each path is owned and NULL when that namespace is the
 * host's (not created). */
typedef struct berth_netns_paths {
    char *net;
    char *ipc;
    char *uts;
    char *user;
} berth_netns_paths_t;

/* Frees the paths and clears them. NULL-safe. */
void berth_netns_paths_fini(berth_netns_paths_t *paths);
/* Deep copy into *dst (which is overwritten, not freed). */
void berth_netns_paths_copy(berth_netns_paths_t *dst, const berth_netns_paths_t *src);

/* Creates the namespaces of spec->kinds, applies hostname and sysctls inside
 * them and pins them. Prepares spec->pin_dir once (a shared bind mount of
 * itself, as iproute2 does for /run/netns, so the pins are visible in other
 * mount namespaces and can be unmounted). On success fills *out (owned by the
 * caller; free with berth_netns_paths_fini) and returns 0. On failure nothing
 * is left behind (pins unmounted and unlinked, the child reaped) and -1 is
 * returned with *err; a pin that already exists for this pod id is EEXIST.
 * Blocks: pool thread or main. Needs CAP_SYS_ADMIN. */
int berth_netns_create(const berth_netns_spec_t *spec, berth_netns_paths_t *out, berth_err_t *err);

/* Unmounts (MNT_DETACH) and unlinks every non-NULL pin of paths. Idempotent:
 * a missing pin, or a file that is no longer a mount, is fine. Returns 0 or
 * -1 with *err (after trying every pin). Blocks: pool thread or main. */
int berth_netns_remove(const berth_netns_paths_t *paths, berth_err_t *err);

/* True when path is a pinned namespace (an nsfs mount). Any context. */
bool berth_netns_exists(const char *path);

/* Crash recovery: removes every pin under <pin_dir>/{net,ipc,uts}/ whose pod
 * id is not in keep[0..nkeep) (a pin without a live pod is a leak). Returns
 * the number of pins removed, or -1 with *err. A missing pin_dir is fine (0).
 * Blocks: pool thread or main. */
int berth_netns_cleanup(const char *pin_dir, const char *const *keep, size_t nkeep,
                        berth_err_t *err);

/* Undoes the shared self-bind of pin_dir (MNT_DETACH) when it is a mount
 * root; pins still under it go with it. For shutdown of tests and for
 * tearing down a whole run directory. Returns 0 or -1 with *err. Blocks. */
int berth_netns_dir_release(const char *pin_dir, berth_err_t *err);

/* berth_netns_dir_release only when no pin is left under pin_dir's net, ipc
 * and uts directories: with pins it must stay mounted (they live under it).
 * Returns 1 when released, 0 when pins remain, -1 with *err. Blocks. */
int berth_netns_dir_release_if_unused(const char *pin_dir, berth_err_t *err);

/* Reply of the async wrappers. paths: on create, the new pins (empty on
 * failure); on remove, the paths that were asked for. error: NULL on success.
 * berth_msg_free frees everything. */
typedef struct berth_netns_done_msg {
    berth_msg_t hdr;
    uint64_t tag;
    berth_netns_paths_t paths;
    berth_err_t error;
} berth_netns_done_msg_t;

/* berth_netns_create on the blocking pool; spec is copied. Replies with a
 * BERTH_MSG_NETNS_CREATED to reply_to. Never blocks; any thread or turn. */
void berth_netns_create_async(const berth_netns_spec_t *spec, berth_handle_t reply_to,
                              uint64_t tag);
/* berth_netns_remove on the pool; paths are copied. Replies with a
 * BERTH_MSG_NETNS_REMOVED. Never blocks; any thread or turn. */
void berth_netns_remove_async(const berth_netns_paths_t *paths, berth_handle_t reply_to,
                              uint64_t tag);

/* Checks that a sysctl key is namespaced and which namespace it needs
 * (BERTH_NETNS_NET or BERTH_NETNS_IPC). Returns that kind, or -1 with *err
 * naming the sysctl. Pure; any context (actors validate with it early). */
int berth_netns_sysctl_kind(const char *key, berth_err_t *err);

#endif
