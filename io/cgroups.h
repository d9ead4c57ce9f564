/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Probes the node's cgroup layout (v1, v2 or hybrid) so berth can choose an
 * OCI runtime that works on it and tell the operator what to change when it
 * does not. Reads /proc/self/mountinfo and cgroup.controllers; never changes
 * a mount.
 */
#ifndef BERTH_IO_CGROUPS_H
#define BERTH_IO_CGROUPS_H

#include <stdbool.h>

#include "engine/err.h"

enum berth_cgroups_mode {
    BERTH_CGROUPS_NONE = 0, /* no cgroup filesystem mounted */
    BERTH_CGROUPS_V1,       /* only v1 hierarchies */
    BERTH_CGROUPS_V2,       /* unified: cgroup2 at the root */
    BERTH_CGROUPS_HYBRID,   /* v1 hierarchies plus a cgroup2 mount (usually .../unified) */
};

typedef struct berth_cgroups_info {
    int mode;                 /* enum berth_cgroups_mode */
    char root[256];           /* "/sys/fs/cgroup" normally */
    char unified_path[256];   /* the cgroup2 mount point, "" when none */
    char v2_controllers[256]; /* cgroup.controllers of the cgroup2 root */
    bool crun_ok;             /* crun 1.8 accepts this layout */
    char advice[1200];        /* what to do when crun_ok is false, "" otherwise */
} berth_cgroups_info_t;

/* Fills *out from /proc/self/mountinfo. crun 1.8 refuses a hybrid layout
 * whose cgroup2 hierarchy still holds controllers ("cgroups in hybrid mode
 * not supported, drop all controllers from cgroupv2"); then crun_ok is false
 * and advice names the v1 hierarchies to mount so the v2 one empties. Reads
 * small proc/sys files: call it at startup or from the blocking pool. Returns
 * 0, or -1 with *err when mountinfo cannot be read. */
int berth_cgroups_probe(berth_cgroups_info_t *out, berth_err_t *err);

/* berth_cgroups_probe on other files, for tests: reads mountinfo_path instead
 * of /proc/self/mountinfo, and the cgroup2 root's cgroup.controllers under
 * sysroot (sysroot + the mount point; NULL or "": the real one). Same
 * contract otherwise. */
int berth_cgroups_probe_files(const char *mountinfo_path, const char *sysroot,
                              berth_cgroups_info_t *out, berth_err_t *err);

const char *berth_cgroups_mode_name(int mode); /* "v1", "v2", "hybrid", "none" */

#endif
