/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Probes the node's cgroup layout (v1, v2 or hybrid) so berth can choose an
 * OCI runtime that works on it and tell the operator what to change when it
 * does not, and reads a container's or a pod's figures (CPU, memory, swap,
 * pressure, block I/O, tasks and their descriptors) from wherever its
 * hierarchies are mounted, v1 or v2. Reads /proc/self/mountinfo, cgroup
 * files, /sys/dev/block and /proc/PID/fd only; never changes a mount or a
 * cgroup.
 */
#ifndef BERTH_IO_CGROUPS_H
#define BERTH_IO_CGROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"

enum berth_cgroups_mode {
    BERTH_CGROUPS_NONE = 0, /* no cgroup filesystem mounted */
    BERTH_CGROUPS_V1,       /* only v1 hierarchies */
    BERTH_CGROUPS_V2,       /* unified: cgroup2 at the root */
    BERTH_CGROUPS_HYBRID,   /* v1 hierarchies plus a cgroup2 mount (usually .../unified) */
};

/* The controllers an OCI runtime can apply limits through on this node.
 * On v1 and hybrid layouts runc and crun use the v1 hierarchies only (a
 * controller that sits in a hybrid node's cgroup2 mount is out of their
 * reach); on v2 they use the root's cgroup.controllers, and devices and
 * freezer are built into cgroup2. */
enum berth_cgroups_controller {
    BERTH_CG_CPU = 1u << 0,
    BERTH_CG_CPUACCT = 1u << 1,
    BERTH_CG_CPUSET = 1u << 2,
    BERTH_CG_MEMORY = 1u << 3,
    BERTH_CG_HUGETLB = 1u << 4,
    BERTH_CG_PIDS = 1u << 5,
    BERTH_CG_BLKIO = 1u << 6, /* "io" on cgroup2 */
    BERTH_CG_DEVICES = 1u << 7,
    BERTH_CG_FREEZER = 1u << 8,
    BERTH_CG_RDMA = 1u << 9,
    BERTH_CG_MISC = 1u << 10,
};

typedef struct berth_cgroups_info {
    int mode;                 /* enum berth_cgroups_mode */
    char root[256];           /* "/sys/fs/cgroup" normally */
    char unified_path[256];   /* the cgroup2 mount point, "" when none */
    char v2_controllers[256]; /* cgroup.controllers of the cgroup2 root */
    bool crun_ok;             /* crun 1.8 accepts this layout */
    unsigned controllers;     /* enum berth_cgroups_controller bits the runtime can use */
    bool memory_swap;         /* memory+swap limits apply (memsw / memory.swap.max files) */
    bool cpu_quota;           /* CFS bandwidth limits apply (cpu.cfs_quota_us / cpu.max) */
    char hugepage_sizes[128]; /* the kernel's huge page sizes as the CRI names them, "2MB 1GB" */
    char advice[1200];        /* what to do when crun_ok is false, "" otherwise */
} berth_cgroups_info_t;

/* Fills *out from /proc/self/mountinfo, the hierarchies' files and
 * /sys/kernel/mm/hugepages. crun 1.8 refuses a hybrid layout
 * whose cgroup2 hierarchy still holds controllers ("cgroups in hybrid mode
 * not supported, drop all controllers from cgroupv2"); then crun_ok is false
 * and advice names the v1 hierarchies to mount so the v2 one empties. Reads
 * small proc/sys files: call it at startup or from the blocking pool. Returns
 * 0, or -1 with *err when mountinfo cannot be read. */
int berth_cgroups_probe(berth_cgroups_info_t *out, berth_err_t *err);

/* berth_cgroups_probe on other files, for tests: reads mountinfo_path instead
 * of /proc/self/mountinfo, and the cgroup2 root's cgroup.controllers under
 * sysroot (sysroot + the mount point; NULL or "": the real one), and the
 * other files (memsw, cfs quota, huge page sizes) under sysroot too. Same
 * contract otherwise. */
int berth_cgroups_probe_files(const char *mountinfo_path, const char *sysroot,
                              berth_cgroups_info_t *out, berth_err_t *err);

const char *berth_cgroups_mode_name(int mode); /* "v1", "v2", "hybrid", "none" */

/* The names of the controller bits in mask ("cpu cpuacct memory ..."; v1
 * names, blkio for io) into buf, "" for none. Returns buf. */
char *berth_cgroups_controllers_text(unsigned mask, char *buf, size_t cap);

/* The controller bit named `name` (a v1 or v2 name: "io" is BERTH_CG_BLKIO),
 * 0 for a name berth does not know. */
unsigned berth_cgroups_controller_bit(const char *name);

/* Whether the kernel has huge pages of size page_size (as the CRI names it:
 * "2MB", "1GB", "64KB"), per info->hugepage_sizes. */
bool berth_cgroups_has_hugepage_size(const berth_cgroups_info_t *info, const char *page_size);

/* A cgroup's pressure stall information for one resource (cgroup v2
 * cpu.pressure, memory.pressure, io.pressure): the share of wall time some
 * (or all, "full") of its tasks were stalled, averaged over 10, 60 and 300
 * seconds (percent), and the total stall time in microseconds. */
typedef struct berth_cgroups_psi_line {
    uint64_t total_us;
    double avg10, avg60, avg300;
} berth_cgroups_psi_line_t;

typedef struct berth_cgroups_psi {
    bool have_full; /* cpu.pressure has no "full" line before Linux 5.13 */
    berth_cgroups_psi_line_t some, full;
} berth_cgroups_psi_t;

enum { BERTH_CGROUPS_PSI_CPU, BERTH_CGROUPS_PSI_MEMORY, BERTH_CGROUPS_PSI_IO, BERTH_CGROUPS_N_PSI };

/* One block device's I/O as the cgroup was charged for it (v2 io.stat, v1
 * blkio.throttle.io_service_bytes_recursive and io_serviced_recursive). */
typedef struct berth_cgroups_blkdev {
    uint32_t major, minor;
    char name[32]; /* "/dev/sda" (from /sys/dev/block/M:m/uevent), "M:m" when unknown */
    uint64_t rbytes, wbytes, rios, wios;
} berth_cgroups_blkdev_t;

#define BERTH_CGROUPS_MAX_PROCS 256

/* The devices kept per cgroup; a cgroup that used more shows the first. */
#define BERTH_CGROUPS_MAX_BLKDEVS 8

/* One cgroup's figures, as the kubelet and cAdvisor's metrics read them. */
typedef struct berth_cgroups_stats {
    bool have_cpu;            /* cpu_ns was read */
    bool have_mem;            /* mem_usage and mem_working_set were read */
    uint64_t cpu_ns;          /* CPU time used since the cgroup was made */
    uint64_t mem_usage;       /* bytes charged, page cache included */
    uint64_t mem_working_set; /* mem_usage less the inactive file cache, floored at 0 */
    bool v2;                  /* the memory (else the CPU) figures came from cgroup2 */
    /* From the same memory.stat read (no extra file): v1 total_rss,
     * total_pgfault, total_pgmajfault, total_cache, total_mapped_file; v2
     * anon, pgfault, pgmajfault, file, file_mapped. */
    bool have_rss, have_faults, have_cache;
    uint64_t mem_rss, pgfault, pgmajfault, mem_cache, mem_mapped_file;
    /* Read only by a reader asked for them (berth_cgroups_reader_want_more). */
    /* The memory limit (v1 memory.limit_in_bytes, v2 memory.max; have_limit
     * false for none: "max", or v1's page-rounded LLONG_MAX) and the number
     * of tasks (pids.current of the v1 pids hierarchy or of cgroup2). */
    bool have_limit, have_pids;
    uint64_t mem_limit, pids;
    /* CPU time in user and kernel mode: v1 cpuacct.stat (clock ticks), v2
     * cpu.stat user_usec and system_usec. */
    bool have_cpu_split;
    uint64_t cpu_user_ns, cpu_sys_ns;
    /* CFS bandwidth control: periods elapsed, periods throttled, time
     * throttled (v1 cpu.stat of the cpu hierarchy, v2 cpu.stat). */
    bool have_throttle;
    uint64_t cfs_periods, cfs_throttled, cfs_throttled_ns;
    /* The CPU settings: shares (v1 cpu.shares; v2 cpu.weight turned back
     * into shares as runc turns shares into a weight), quota and period
     * (v1 cpu.cfs_quota_us and cpu.cfs_period_us, v2 cpu.max; quota 0: none). */
    bool have_cpu_spec;
    uint64_t cpu_shares, cpu_quota_us, cpu_period_us;
    /* Swap used (v1 memory.memsw.usage_in_bytes less memory.usage_in_bytes,
     * v2 memory.swap.current) and its limit (v1 memory.memsw.limit_in_bytes
     * less memory.limit_in_bytes, v2 memory.swap.max; none: "max", or no
     * memory limit on v1). Absent when the kernel does not account swap. */
    bool have_swap, have_swap_limit;
    uint64_t swap_usage, swap_limit;
    /* Times usage hit the limit (v1 memory.failcnt, v2 memory.events max)
     * and processes the OOM killer killed in the cgroup (v1
     * memory.oom_control oom_kill, Linux 4.13+; v2 memory.events oom_kill). */
    bool have_failcnt, have_oom;
    uint64_t failcnt, oom_kills;
    /* Kernel memory charged (v1 memory.kmem.usage_in_bytes, v2 memory.stat
     * kernel, or kernel_stack + pagetables + slab before Linux 6.1) and
     * the highest usage seen (v1 memory.max_usage_in_bytes, v2 memory.peak,
     * Linux 5.19+). */
    bool have_kmem, have_max_usage;
    uint64_t kmem, max_usage;
    /* The memory reservation: v1 memory.soft_limit_in_bytes, v2 memory.low
     * (have_reservation; 0 for none: v1's page-rounded LLONG_MAX, v2 "max"). */
    bool have_reservation;
    uint64_t mem_reservation;
    /* Threads in the cgroup itself (v1 tasks, v2 cgroup.threads) and the
     * pids limit (pids.max; 0: none); open file descriptors and sockets of
     * the processes in the cgroup itself (cgroup.procs, then /proc/PID/fd;
     * at most BERTH_CGROUPS_MAX_PROCS processes are looked at). */
    bool have_threads, have_fds;
    uint64_t threads, threads_max, fds, sockets;
    /* Pressure stall information: cgroup v2 with PSI in the kernel only. */
    bool have_psi[BERTH_CGROUPS_N_PSI];
    berth_cgroups_psi_t psi[BERTH_CGROUPS_N_PSI];
    /* Block I/O per device (have_io: the file was read, even with no device). */
    bool have_io;
    size_t n_blkdevs;
    berth_cgroups_blkdev_t blkdevs[BERTH_CGROUPS_MAX_BLKDEVS];
} berth_cgroups_stats_t;

/* Parsers of the cgroup files above, pure, for the reader and for tests:
 * a *.pressure text; an io.stat text (v2); a blkio bytes and a blkio
 * serviced text (v1; either may be NULL). They fill out and return false
 * when the text holds nothing of the kind. */
bool berth_cgroups_parse_psi(const char *text, berth_cgroups_psi_t *out);
size_t berth_cgroups_parse_io_stat(const char *text, berth_cgroups_blkdev_t *out, size_t cap);
size_t berth_cgroups_parse_blkio(const char *bytes, const char *serviced,
                                 berth_cgroups_blkdev_t *out, size_t cap);

/* The usage files of one cgroup, resolved once: the hierarchies come from
 * /proc/self/mountinfo, looked up once per process (a hierarchy mounted later
 * is not seen): the v1 ones whose super options name cpuacct, cpu, memory,
 * pids and blkio, wherever they are mounted and whatever they are
 * co-mounted with, and the cgroup2 mount. A read then joins no path and
 * allocates nothing (but for a device's name, once), and a file it opened
 * stays open (three descriptors per cgroup, about twenty for a reader
 * asked for more, while all readers together keep fewer than half of
 * RLIMIT_NOFILE; past that, files are opened and closed per read), so
 * reading again is one pread per file. Reference counted: the last unref
 * closes the files. */
typedef struct berth_cgroups_reader berth_cgroups_reader_t;

/* A reader for the cgroup at cgroup_path, an absolute cgroupfs path as in
 * the OCI spec's linux.cgroupsPath ("/kubepods/besteffort/podX/berth-<id>").
 * Opens nothing yet. Returns owned (one reference), or NULL for a path that
 * is not absolute or a node with no hierarchy to read. The first call of the
 * process reads mountinfo: call it from the blocking pool; any thread. */
berth_cgroups_reader_t *berth_cgroups_reader_new(const char *cgroup_path);

/* berth_cgroups_reader_new on other files, for tests: finds the hierarchies
 * in mountinfo_path (read on every call, never cached) and the cgroup files
 * under sysroot (sysroot + the mount point + cgroup_path; NULL or "": the
 * real ones). Same contract otherwise. */
berth_cgroups_reader_t *berth_cgroups_reader_new_files(const char *mountinfo_path,
                                                       const char *sysroot,
                                                       const char *cgroup_path);

/* Makes r's reads also take the figures marked "read only by a reader
 * asked for them" in berth_cgroups_stats_t (a dozen more small files, kept
 * open as the others; a file the cgroup does not have, such as
 * memory.swap.current without swap accounting or cpu.pressure without PSI,
 * is not tried again once the cgroup's own files were read). Call it
 * before r is shared. */
void berth_cgroups_reader_want_more(berth_cgroups_reader_t *r);

/* Takes one more reference (the caller holds one) / drops one. Any thread. */
void berth_cgroups_reader_ref(berth_cgroups_reader_t *r);
void berth_cgroups_reader_unref(berth_cgroups_reader_t *r); /* NULL: nothing */

/* Reads the cgroup's usage, v1 first, then v2: CPU from cpuacct.usage, else
 * cpu.stat usage_usec; memory from memory.usage_in_bytes less memory.stat
 * total_inactive_file, else memory.current less memory.stat inactive_file.
 * Fills *out (zeroed first; have_* say which figures were found). Returns 0
 * when anything was read, -1 when nothing was: no such cgroup (not made yet,
 * or gone). A missing cgroup is an ordinary state, so there is no err; a
 * later read tries its files again. Blocking reads of cgroup files: call it
 * from the blocking pool. One reader at a time per reader object (it
 * updates the descriptors it keeps); any thread. */
int berth_cgroups_reader_read(berth_cgroups_reader_t *r, berth_cgroups_stats_t *out);

/* One read of the cgroup at cgroup_path through a reader made for it and
 * dropped at once (so each call opens and closes its files): -1 also for a
 * path berth_cgroups_reader_new refuses. Same context as the two calls. */
int berth_cgroups_stats_read(const char *cgroup_path, berth_cgroups_stats_t *out);

/* berth_cgroups_stats_read through berth_cgroups_reader_new_files, for
 * tests. */
int berth_cgroups_stats_read_files(const char *mountinfo_path, const char *sysroot,
                                   const char *cgroup_path, berth_cgroups_stats_t *out);

#endif
