/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Probes the node's cgroup layout (v1, v2 or hybrid) so berth can choose an
 * OCI runtime that works on it and tell the operator what to change when it
 * does not, and reads a container's CPU and memory usage from wherever its
 * hierarchies are mounted. Reads /proc/self/mountinfo and cgroup files only;
 * never changes a mount or a cgroup.
 */
#ifndef BERTH_IO_CGROUPS_H
#define BERTH_IO_CGROUPS_H

#include <stdbool.h>
#include <stdint.h>

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

/* One cgroup's CPU and memory figures, as the kubelet reads them. */
typedef struct berth_cgroups_stats {
    bool have_cpu;            /* cpu_ns was read */
    bool have_mem;            /* mem_usage and mem_working_set were read */
    uint64_t cpu_ns;          /* CPU time used since the cgroup was made */
    uint64_t mem_usage;       /* bytes charged, page cache included */
    uint64_t mem_working_set; /* mem_usage less the inactive file cache, floored at 0 */
} berth_cgroups_stats_t;

/* Reads the usage of the cgroup at cgroup_path, an absolute cgroupfs path as
 * in the OCI spec's linux.cgroupsPath ("/kubepods/besteffort/podX/berth-<id>").
 * The hierarchies come from /proc/self/mountinfo, looked up once per process
 * (a hierarchy mounted later is not seen): the v1 one whose super options
 * name cpuacct, the v1 one that names memory, wherever they are mounted and
 * whatever they are co-mounted with, and the cgroup2 mount. v1 first, then
 * v2: CPU from cpuacct.usage, else cpu.stat usage_usec; memory from
 * memory.usage_in_bytes less memory.stat total_inactive_file, else
 * memory.current less memory.stat inactive_file. Fills *out (zeroed first;
 * have_* say which figures were found). Returns 0 when anything was read,
 * -1 when nothing was: no such cgroup (not made yet, or gone), no hierarchy
 * for it, or a path that is not absolute. A missing cgroup is an ordinary
 * state, so there is no err. Blocking reads of proc and cgroup files: call
 * it from the blocking pool; any thread. */
int berth_cgroups_stats_read(const char *cgroup_path, berth_cgroups_stats_t *out);

/* berth_cgroups_stats_read on other files, for tests: finds the hierarchies
 * in mountinfo_path (read on every call, never cached) and reads the cgroup
 * files under sysroot (sysroot + the mount point + cgroup_path; NULL or "":
 * the real ones). Same contract otherwise. */
int berth_cgroups_stats_read_files(const char *mountinfo_path, const char *sysroot,
                                   const char *cgroup_path, berth_cgroups_stats_t *out);

#endif
