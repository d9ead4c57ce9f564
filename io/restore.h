/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading a checkpoint archive back (io/checkpoint.h writes it) for a
 * CreateContainer whose image is the archive, as CRI-O restores
 * (docs/checkpoint.md): the archive unpacked into a private directory with
 * every member checked, config.dump's identity, the container's upper
 * directory filled from rootfs-diff.tar and deleted.files, and spec.dump
 * adapted to the new pod as the new bundle's config.json.
 *
 * The archive comes from the kubelet's user: nothing in it is trusted.
 * Members are written only below the directory they are unpacked into; a
 * member that is not a plain file or directory, or whose name leaves the
 * directory, refuses the whole archive, naming the member, and leaves
 * nothing. Everything here blocks on the disk: pool only, never an actor
 * turn; no shared state.
 */
#ifndef BERTH_IO_RESTORE_H
#define BERTH_IO_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"

/* At most this much is unpacked from one archive (CRIU's images hold every
 * memory page of the processes: a container of many GiB is legitimate). */
#define BERTH_RESTORE_MAX_BYTES (64ull << 30)
#define BERTH_RESTORE_MAX_MEMBERS (1u << 20)

/* config.dump's identity of the checkpointed container; fields owned. */
typedef struct berth_restore_config {
    char *id;        /* the checkpointed container's ID ("" when not given) */
    char *name;      /* its name ("" when not given) */
    char *image;     /* the image to create the root filesystem from */
    char *image_ref; /* the image's ID, when config.dump names it, else NULL */
} berth_restore_config_t;

/* Unpacks the archive at `archive` (an uncompressed tar, or one compressed
 * as libarchive detects) into `dest`, which is created mode 0700 and must
 * not exist. Only regular files and directories are accepted, with
 * relative names of no "." or ".." component; a symlink, hard link, device
 * or fifo, an absolute or escaping name, a member given twice, or an
 * archive past BERTH_RESTORE_MAX_BYTES / _MEMBERS is BERTH_ERR_INVALID
 * naming the member. The archive must hold checkpoint/ (CRIU's images) and
 * config.dump and spec.dump: INVALID naming what is missing. A missing
 * archive is BERTH_ERR_NOT_FOUND. On failure `dest` is removed. Returns 0
 * or -1 with *err (its message names the archive). Blocks: pool only. */
int berth_restore_unpack(const char *archive, const char *dest, berth_err_t *err);

/* Reads `dir`/config.dump into *out (free with berth_restore_config_fini).
 * The image is rootfsImageName, else rootfsImage; none, or JSON that does
 * not parse, is BERTH_ERR_INVALID. Returns 0 or -1 with *err. Blocks. */
int berth_restore_read_config(const char *dir, berth_restore_config_t *out, berth_err_t *err);
void berth_restore_config_fini(berth_restore_config_t *c);

/* Fills the new container's overlay upper directory `upper` (empty or
 * missing; created 0755) from the unpacked archive at `dir`: rootfs-diff.tar
 * unpacked there with io/unpack's containment (a tar entry leaving the
 * directory refuses it), then each path of deleted.files made an overlay
 * whiteout, so the image's file is gone in the merged root filesystem. A
 * missing rootfs-diff.tar or deleted.files is an unchanged root filesystem.
 * A deleted path that is not relative-clean is BERTH_ERR_INVALID naming it.
 * Returns 0 or -1 with *err; on failure `upper` is partly written and the
 * caller removes it. Blocks: pool only. */
int berth_restore_fill_upper(const char *dir, const char *upper, berth_err_t *err);

/* A bind mount of the new container, by its destination. */
typedef struct berth_restore_bind {
    const char *destination; /* "/data" */
    const char *source;      /* the host path */
    bool readonly;
} berth_restore_bind_t;

/* What the new pod and the new request decide in the restored spec; all
 * borrowed. A NULL field leaves spec.dump's value. */
typedef struct berth_restore_target {
    const char *rootfs;       /* root.path */
    const char *hostname;     /* hostname: the new pod's */
    const char *cgroups_path; /* linux.cgroupsPath: under the new pod's cgroup */
    /* The new pod's namespaces, by OCI type ("network", "ipc", "uts",
     * "pid", "user"): a listed type gets this path; a namespace of
     * spec.dump joined by path (the old pod's) and not listed becomes
     * the container's own (its path dropped). */
    const char *const *ns_types;
    const char *const *ns_paths;
    size_t n_ns;
    /* The request's bind mounts: every bind mount of spec.dump must be one
     * of them (by destination) or one of the pod's files below, else the
     * restore is refused (CRI-O's rule: the new pod decides what the host
     * lends it). Its source becomes the request's. */
    const berth_restore_bind_t *binds;
    size_t n_binds;
    /* The pod's own files (/etc/hostname, /etc/hosts, /etc/resolv.conf,
     * /dev/shm, /dev/termination-log ...): their source becomes the new
     * pod's; one of spec.dump's that is not listed keeps its source only
     * if that is also given in binds, else it is refused as above. */
    const berth_restore_bind_t *pod_files;
    size_t n_pod_files;
    /* Annotations to set (pairs: key, value; n_annotations pairs). */
    const char *const *annotations;
    size_t n_annotations;
} berth_restore_target_t;

/* spec.dump's text adapted to `t` as the new bundle's config.json (owned
 * JSON text, returned), the process, its user, environment and rlimits
 * kept as checkpointed (CRIU restores the processes as they were). A spec
 * that does not parse, or a bind mount the request does not name, is
 * BERTH_ERR_INVALID naming it. NULL with *err on failure. Pure; any thread. */
char *berth_restore_adapt_spec(const char *spec_text, const berth_restore_target_t *t,
                               berth_err_t *err);

/* The bundle of the restored container: `config_path` holds the spec berth
 * made for the new container from the request and the new pod (root
 * filesystem, hostname, cgroup, namespaces, bind mounts, annotations);
 * it is replaced (atomically) by `dir`/spec.dump adapted to it with
 * berth_restore_adapt_spec, the new spec's bind mounts standing for both
 * the request's and the pod's files. Returns 0 or -1 with *err (INVALID for
 * a spec.dump that does not fit). Blocks: pool only. */
int berth_restore_write_spec(const char *dir, const char *config_path, berth_err_t *err);

#endif
