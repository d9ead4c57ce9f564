/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup layout probe and the cgroup usage reader (see cgroups.h). Only
 * reads; the advice it builds is for the operator, berth itself never
 * remounts cgroups.
 */
#include "io/cgroups.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "engine/alloc.h"
#include "engine/refcount.h"

const char *berth_cgroups_mode_name(int mode)
{
    switch (mode) {
    case BERTH_CGROUPS_V1:
        return "v1";
    case BERTH_CGROUPS_V2:
        return "v2";
    case BERTH_CGROUPS_HYBRID:
        return "hybrid";
    default:
        return "none";
    }
}

static void copy_field(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

/* Decodes mountinfo's octal escapes (\040 for a space, \134 for a backslash)
 * in place. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (const char *r = s; *r != '\0';) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* One /proc/self/mountinfo line, split in place:
 * "id parent maj:min root mountpoint opts [optional...] - fstype source superopts".
 * Spaces inside a field are escaped, so " - " only ends the optional fields;
 * root and mnt come back unescaped. False for a line that does not parse. */
typedef struct mount_line {
    char *root, *mnt, *fstype, *superopts; /* superopts may be NULL */
} mount_line_t;

static bool mountinfo_split(char *line, mount_line_t *m)
{
    char *sep = strstr(line, " - ");
    if (sep == NULL)
        return false;
    *sep = '\0';
    char *save = NULL, *field[5];
    for (int i = 0; i < 5; i++)
        if ((field[i] = strtok_r(i == 0 ? line : NULL, " ", &save)) == NULL)
            return false;
    m->fstype = strtok_r(sep + 3, " \n", &save);
    if (m->fstype == NULL)
        return false;
    char *source = strtok_r(NULL, " \n", &save);
    m->superopts = source ? strtok_r(NULL, " \n", &save) : NULL;
    m->root = field[3];
    m->mnt = field[4];
    unescape_octal(m->root);
    unescape_octal(m->mnt);
    return true;
}

int berth_cgroups_probe(berth_cgroups_info_t *out, berth_err_t *err)
{
    return berth_cgroups_probe_files("/proc/self/mountinfo", NULL, out, err);
}

/* Calls fn on every line of a mountinfo file that parses. -1 with errno
 * when the file cannot be opened. */
static int mountinfo_each(const char *path, void (*fn)(const mount_line_t *m, void *ctx), void *ctx)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        mount_line_t m;
        if (mountinfo_split(line, &m))
            fn(&m, ctx);
    }
    free(line); /* getline's buffer comes from libc malloc */
    fclose(f);
    return 0;
}

static const struct {
    const char *name;
    unsigned bit;
} controller_names[] = {
        {"cpu", BERTH_CG_CPU},         {"cpuacct", BERTH_CG_CPUACCT}, {"cpuset", BERTH_CG_CPUSET},
        {"memory", BERTH_CG_MEMORY},   {"hugetlb", BERTH_CG_HUGETLB}, {"pids", BERTH_CG_PIDS},
        {"blkio", BERTH_CG_BLKIO},     {"io", BERTH_CG_BLKIO},        {"devices", BERTH_CG_DEVICES},
        {"freezer", BERTH_CG_FREEZER}, {"rdma", BERTH_CG_RDMA},       {"misc", BERTH_CG_MISC},
};

unsigned berth_cgroups_controller_bit(const char *name)
{
    for (size_t i = 0; i < sizeof(controller_names) / sizeof(controller_names[0]); i++)
        if (strcmp(controller_names[i].name, name) == 0)
            return controller_names[i].bit;
    return 0;
}

char *berth_cgroups_controllers_text(unsigned mask, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(controller_names) / sizeof(controller_names[0]); i++) {
        unsigned bit = controller_names[i].bit;
        if (!(mask & bit))
            continue;
        mask &= ~bit; /* "blkio" and "io" share a bit: name it once */
        int n = snprintf(buf + used, cap - used, "%s%s", used ? " " : "", controller_names[i].name);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* The bits of the v1 controllers named in a hierarchy's super options
 * ("rw,cpu,cpuacct"; "name=systemd" names none). */
static unsigned v1_bits(const char *superopts)
{
    unsigned bits = 0;
    BERTH_AUTO_FREE char *opts = berth_strdup(superopts);
    char *save = NULL;
    for (char *t = strtok_r(opts, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
        if (strcmp(t, "io") != 0) /* a v2-only name */
            bits |= berth_cgroups_controller_bit(t);
    return bits;
}

typedef struct probe_scan {
    berth_cgroups_info_t *out;
    bool v1, v2, v2_root;
    unsigned v1_controllers;
    char cpu_mnt[PATH_MAX], memory_mnt[PATH_MAX]; /* v1 mount points, "" when none */
} probe_scan_t;

static void probe_line(const mount_line_t *m, void *ctx)
{
    probe_scan_t *p = ctx;
    if (strcmp(m->fstype, "cgroup") == 0) {
        p->v1 = true;
        unsigned bits = m->superopts ? v1_bits(m->superopts) : 0;
        p->v1_controllers |= bits;
        if ((bits & BERTH_CG_CPU) && p->cpu_mnt[0] == '\0')
            copy_field(p->cpu_mnt, sizeof(p->cpu_mnt), m->mnt);
        if ((bits & BERTH_CG_MEMORY) && p->memory_mnt[0] == '\0')
            copy_field(p->memory_mnt, sizeof(p->memory_mnt), m->mnt);
    } else if (strcmp(m->fstype, "cgroup2") == 0) {
        p->v2 = true;
        copy_field(p->out->unified_path, sizeof(p->out->unified_path), m->mnt);
        if (strcmp(m->mnt, "/sys/fs/cgroup") == 0)
            p->v2_root = true;
    }
}

static bool exists_at(const char *sysroot, const char *dir, const char *name)
{
    if (dir[0] == '\0')
        return false;
    BERTH_AUTO_FREE char *p = berth_asprintf("%s%s/%s", sysroot, dir, name);
    return access(p, F_OK) == 0;
}

/* Swap accounting on cgroup2 shows as memory.swap.max in the cgroups below
 * the root (the root has no such file). A root with no child cgroup to look
 * at says nothing either way: then it is taken as there. */
static bool v2_has_swap(const char *sysroot, const char *unified)
{
    BERTH_AUTO_FREE char *root = berth_asprintf("%s%s", sysroot, unified);
    DIR *d = opendir(root);
    if (d == NULL)
        return false;
    bool seen_child = false, swap = false;
    struct dirent *e;
    while (!swap && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || e->d_type != DT_DIR)
            continue;
        BERTH_AUTO_FREE char *child = berth_asprintf("%s/%s", unified, e->d_name);
        if (!exists_at(sysroot, child, "memory.current"))
            continue; /* memory is not enabled for this child */
        seen_child = true;
        swap = exists_at(sysroot, child, "memory.swap.max");
    }
    closedir(d);
    return swap || !seen_child;
}

/* The huge page sizes the kernel offers (sysfs hugepages-<N>kB), named as
 * the CRI and the hugetlb files name them: "2MB", "1GB", "64KB". */
static void hugepage_sizes(const char *sysroot, char *out, size_t cap)
{
    out[0] = '\0';
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/sys/kernel/mm/hugepages", sysroot);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    size_t used = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned long kb;
        char tail;
        if (sscanf(e->d_name, "hugepages-%lukB%c", &kb, &tail) != 1 || kb == 0)
            continue;
        char name[32];
        if (kb % (1024ul * 1024) == 0)
            snprintf(name, sizeof(name), "%luGB", kb / (1024ul * 1024));
        else if (kb % 1024 == 0)
            snprintf(name, sizeof(name), "%luMB", kb / 1024);
        else
            snprintf(name, sizeof(name), "%luKB", kb);
        int n = snprintf(out + used, cap - used, "%s%s", used ? " " : "", name);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
    closedir(d);
}

bool berth_cgroups_has_hugepage_size(const berth_cgroups_info_t *info, const char *page_size)
{
    size_t n = strlen(page_size);
    if (n == 0)
        return false;
    for (const char *p = info->hugepage_sizes; (p = strstr(p, page_size)) != NULL; p += n)
        if ((p == info->hugepage_sizes || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

int berth_cgroups_probe_files(const char *mountinfo_path, const char *sysroot,
                              berth_cgroups_info_t *out, berth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (sysroot == NULL)
        sysroot = "";
    BERTH_AUTO_FREE probe_scan_t *scan = berth_calloc(1, sizeof(*scan));
    scan->out = out;
    if (mountinfo_each(mountinfo_path, probe_line, scan) < 0)
        return berth_err_errno(err, errno, "cgroups probe: open %s", mountinfo_path);
    bool v1 = scan->v1, v2 = scan->v2, v2_root = scan->v2_root;

    copy_field(out->root, sizeof(out->root), "/sys/fs/cgroup");
    if (v2_root && !v1)
        out->mode = BERTH_CGROUPS_V2;
    else if (v1 && v2)
        out->mode = BERTH_CGROUPS_HYBRID;
    else if (v1)
        out->mode = BERTH_CGROUPS_V1;
    else if (v2)
        out->mode = BERTH_CGROUPS_V2;
    else
        out->mode = BERTH_CGROUPS_NONE;

    if (v2) {
        BERTH_AUTO_FREE char *p =
                berth_asprintf("%s%s/cgroup.controllers", sysroot, out->unified_path);
        FILE *c = fopen(p, "re");
        if (c != NULL) {
            if (fgets(out->v2_controllers, sizeof(out->v2_controllers), c) == NULL)
                out->v2_controllers[0] = '\0';
            fclose(c);
            out->v2_controllers[strcspn(out->v2_controllers, "\n")] = '\0';
        }
    }

    if (out->mode == BERTH_CGROUPS_V2) {
        char ctrls[256];
        copy_field(ctrls, sizeof(ctrls), out->v2_controllers);
        char *save = NULL;
        for (char *c = strtok_r(ctrls, " ", &save); c != NULL; c = strtok_r(NULL, " ", &save))
            out->controllers |= berth_cgroups_controller_bit(c);
        /* cgroup2 has device control (eBPF) and freezing built in, and its
         * cpu controller does cpuacct's accounting */
        out->controllers |= BERTH_CG_DEVICES | BERTH_CG_FREEZER;
        if (out->controllers & BERTH_CG_CPU)
            out->controllers |= BERTH_CG_CPUACCT;
        out->memory_swap =
                (out->controllers & BERTH_CG_MEMORY) && v2_has_swap(sysroot, out->unified_path);
        out->cpu_quota = (out->controllers & BERTH_CG_CPU) != 0;
    } else if (v1) {
        out->controllers = scan->v1_controllers;
        out->memory_swap = exists_at(sysroot, scan->memory_mnt, "memory.memsw.limit_in_bytes");
        out->cpu_quota = exists_at(sysroot, scan->cpu_mnt, "cpu.cfs_quota_us");
    }
    hugepage_sizes(sysroot, out->hugepage_sizes, sizeof(out->hugepage_sizes));

    out->crun_ok = out->mode != BERTH_CGROUPS_NONE;
    if (out->mode == BERTH_CGROUPS_NONE)
        snprintf(out->advice, sizeof(out->advice),
                 "no cgroup filesystem is mounted (see /proc/self/mountinfo); crun and runc need "
                 "cgroups under %s",
                 out->root);
    if (out->mode == BERTH_CGROUPS_HYBRID && out->v2_controllers[0] != '\0') {
        /* A controller sits in v2 only while no v1 hierarchy claims it: mounting
         * a v1 hierarchy for each moves it out and leaves cgroup2 empty. */
        char mounts[400] = "";
        size_t used = 0;
        char ctrls[256];
        copy_field(ctrls, sizeof(ctrls), out->v2_controllers);
        char *save = NULL;
        for (char *c = strtok_r(ctrls, " ", &save); c != NULL; c = strtok_r(NULL, " ", &save)) {
            int n = snprintf(mounts + used, sizeof(mounts) - used,
                             "%smkdir -p %s/%s && mount -t cgroup -o %s cgroup %s/%s",
                             used ? "; " : "", out->root, c, c, out->root, c);
            if (n < 0 || (size_t)n >= sizeof(mounts) - used)
                break;
            used += (size_t)n;
        }
        out->crun_ok = false;
        snprintf(out->advice, sizeof(out->advice),
                 "crun refuses hybrid cgroups while cgroup2 at %s holds controllers (%s); "
                 "use runc, or mount v1 hierarchies for them: %s",
                 out->unified_path, out->v2_controllers, mounts);
    }
    return 0;
}

/* ---- usage of one cgroup -------------------------------------------------- */

/* The mount points the usage figures are read from, "" when absent. */
typedef struct stats_layout {
    char cpuacct[PATH_MAX]; /* the v1 hierarchy with cpuacct (alone or co-mounted) */
    char memory[PATH_MAX];  /* the v1 hierarchy with memory */
    char unified[PATH_MAX]; /* the cgroup2 mount */
    char pids[PATH_MAX];    /* the v1 hierarchy with pids */
    char cpu[PATH_MAX];     /* the v1 hierarchy with cpu (CFS settings and throttling) */
    char blkio[PATH_MAX];   /* the v1 hierarchy with blkio */
} stats_layout_t;

/* Whether the comma-separated list opts holds exactly tok ("cpu" is not
 * "cpuacct"). */
static bool has_token(const char *opts, const char *tok)
{
    size_t n = strlen(tok);
    for (const char *p = opts; p != NULL; p = strchr(p, ',')) {
        if (*p == ',')
            p++;
        if (strncmp(p, tok, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return true;
    }
    return false;
}

/* Records mnt in slot. A mount of the hierarchy's root beats a mount of a
 * subtree (a bind mount, root other than "/"), which holds cgroupsPath
 * somewhere else; among equals the first one wins, as in runc. */
static void pick(char *slot, bool *slot_at_root, const char *mnt, bool at_root)
{
    if (slot[0] != '\0' && (*slot_at_root || !at_root))
        return;
    snprintf(slot, PATH_MAX, "%s", mnt);
    *slot_at_root = at_root;
}

typedef struct layout_scan_ctx {
    stats_layout_t *l;
    bool cpu_at_root, mem_at_root, v2_at_root, pids_at_root, cpuctl_at_root, blkio_at_root;
} layout_scan_ctx_t;

static void layout_line(const mount_line_t *m, void *ctx)
{
    layout_scan_ctx_t *c = ctx;
    if (strlen(m->mnt) >= PATH_MAX)
        return;
    bool at_root = strcmp(m->root, "/") == 0;
    if (strcmp(m->fstype, "cgroup") == 0 && m->superopts != NULL) {
        if (has_token(m->superopts, "cpuacct"))
            pick(c->l->cpuacct, &c->cpu_at_root, m->mnt, at_root);
        if (has_token(m->superopts, "memory"))
            pick(c->l->memory, &c->mem_at_root, m->mnt, at_root);
        if (has_token(m->superopts, "pids"))
            pick(c->l->pids, &c->pids_at_root, m->mnt, at_root);
        if (has_token(m->superopts, "cpu"))
            pick(c->l->cpu, &c->cpuctl_at_root, m->mnt, at_root);
        if (has_token(m->superopts, "blkio"))
            pick(c->l->blkio, &c->blkio_at_root, m->mnt, at_root);
    } else if (strcmp(m->fstype, "cgroup2") == 0) {
        pick(c->l->unified, &c->v2_at_root, m->mnt, at_root);
    }
}

/* A missing mountinfo leaves no hierarchy known: every read finds nothing. */
static void layout_scan(const char *mountinfo_path, stats_layout_t *l)
{
    memset(l, 0, sizeof(*l));
    layout_scan_ctx_t c = {.l = l};
    mountinfo_each(mountinfo_path, layout_line, &c);
}

/* ---- a reader of one cgroup's usage files ---- */

/* One usage file: its path, joined once, and while kept its descriptor. */
typedef struct cg_slot {
    char *path;  /* NULL: no hierarchy for it */
    int fd;      /* -1 when not open */
    bool absent; /* the cgroup was there but this file was not: never tried again */
} cg_slot_t;

enum {
    CPU_V1,
    CPU_V2,
    MEM_V1,
    STAT_V1,
    MEM_V2,
    STAT_V2,
    LIMIT_V1, /* the slots from here on are read only when `more` */
    LIMIT_V2,
    PIDS_V1,
    PIDS_V2,
    CPUACCT_STAT_V1,
    CPU_STAT_V1,
    CPU_SHARES_V1,
    CPU_QUOTA_V1,
    CPU_PERIOD_V1,
    MEMSW_V1,
    MEMSW_LIMIT_V1,
    FAILCNT_V1,
    OOM_V1,
    BLKIO_BYTES_V1,
    BLKIO_IOS_V1,
    CPU_MAX_V2,
    CPU_WEIGHT_V2,
    SWAP_V2,
    SWAP_MAX_V2,
    EVENTS_V2,
    IO_STAT_V2,
    PSI_CPU_V2,
    PSI_MEM_V2,
    PSI_IO_V2,
    KMEM_V1,
    MAXUSE_V1,
    PEAK_V2,
    PROCS_V1,
    TASKS_V1,
    PIDSMAX_V1,
    PROCS_V2,
    THREADS_V2,
    PIDSMAX_V2,
    SOFT_V1,
    LOW_V2,
    N_SLOTS
};

/* A block device's name, looked up once per reader. */
typedef struct devname {
    uint32_t major, minor;
    char name[32];
} devname_t;

struct berth_cgroups_reader {
    berth_ref_t ref;
    bool more;           /* read the slots from LIMIT_V1 on too */
    const char *sysroot; /* where /sys/dev/block is looked up ("" normally); owned */
    cg_slot_t slot[N_SLOTS];
    size_t n_names;
    devname_t names[BERTH_CGROUPS_MAX_BLKDEVS];
};

/* Descriptors kept open by all readers together. A reader keeps a file open
 * (so a read is one pread, no path walk and no kernfs open) only while this
 * stays under half the process's RLIMIT_NOFILE; past it, files are opened
 * and closed per read. Relaxed: a budget, not a lock; an overshoot by the
 * pool's few threads is harmless. */
static uint64_t kept_fds;
static uint64_t kept_fds_max;
static pthread_once_t kept_fds_once = PTHREAD_ONCE_INIT;

static void kept_fds_limit(void)
{
    struct rlimit rl;
    kept_fds_max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                           ? (uint64_t)rl.rlim_cur / 2
                           : 512;
}

static void slot_set(cg_slot_t *sl, const char *sysroot, const char *mnt, const char *cg,
                     const char *name)
{
    sl->fd = -1;
    sl->path = mnt[0] != '\0' ? berth_asprintf("%s%s%s/%s", sysroot, mnt, cg, name) : NULL;
}

static berth_cgroups_reader_t *reader_new(const stats_layout_t *l, const char *sysroot,
                                          const char *cg)
{
    /* A relative cgroupsPath (or a systemd slice:prefix:name) would name a
     * cgroup relative to some process's own; berth writes absolute ones. */
    if (cg == NULL || cg[0] != '/')
        return NULL;
    if (l->cpuacct[0] == '\0' && l->memory[0] == '\0' && l->unified[0] == '\0')
        return NULL;
    if (sysroot == NULL)
        sysroot = "";
    berth_cgroups_reader_t *r = berth_calloc(1, sizeof(*r));
    berth_ref_init(&r->ref);
    slot_set(&r->slot[CPU_V1], sysroot, l->cpuacct, cg, "cpuacct.usage");
    slot_set(&r->slot[CPU_V2], sysroot, l->unified, cg, "cpu.stat");
    slot_set(&r->slot[MEM_V1], sysroot, l->memory, cg, "memory.usage_in_bytes");
    slot_set(&r->slot[STAT_V1], sysroot, l->memory, cg, "memory.stat");
    slot_set(&r->slot[MEM_V2], sysroot, l->unified, cg, "memory.current");
    slot_set(&r->slot[STAT_V2], sysroot, l->unified, cg, "memory.stat");
    slot_set(&r->slot[LIMIT_V1], sysroot, l->memory, cg, "memory.limit_in_bytes");
    slot_set(&r->slot[LIMIT_V2], sysroot, l->unified, cg, "memory.max");
    slot_set(&r->slot[PIDS_V1], sysroot, l->pids, cg, "pids.current");
    slot_set(&r->slot[PIDS_V2], sysroot, l->unified, cg, "pids.current");
    slot_set(&r->slot[CPUACCT_STAT_V1], sysroot, l->cpuacct, cg, "cpuacct.stat");
    slot_set(&r->slot[CPU_STAT_V1], sysroot, l->cpu, cg, "cpu.stat");
    slot_set(&r->slot[CPU_SHARES_V1], sysroot, l->cpu, cg, "cpu.shares");
    slot_set(&r->slot[CPU_QUOTA_V1], sysroot, l->cpu, cg, "cpu.cfs_quota_us");
    slot_set(&r->slot[CPU_PERIOD_V1], sysroot, l->cpu, cg, "cpu.cfs_period_us");
    slot_set(&r->slot[MEMSW_V1], sysroot, l->memory, cg, "memory.memsw.usage_in_bytes");
    slot_set(&r->slot[MEMSW_LIMIT_V1], sysroot, l->memory, cg, "memory.memsw.limit_in_bytes");
    slot_set(&r->slot[FAILCNT_V1], sysroot, l->memory, cg, "memory.failcnt");
    slot_set(&r->slot[OOM_V1], sysroot, l->memory, cg, "memory.oom_control");
    slot_set(&r->slot[BLKIO_BYTES_V1], sysroot, l->blkio, cg,
             "blkio.throttle.io_service_bytes_recursive");
    slot_set(&r->slot[BLKIO_IOS_V1], sysroot, l->blkio, cg, "blkio.throttle.io_serviced_recursive");
    slot_set(&r->slot[CPU_MAX_V2], sysroot, l->unified, cg, "cpu.max");
    slot_set(&r->slot[CPU_WEIGHT_V2], sysroot, l->unified, cg, "cpu.weight");
    slot_set(&r->slot[SWAP_V2], sysroot, l->unified, cg, "memory.swap.current");
    slot_set(&r->slot[SWAP_MAX_V2], sysroot, l->unified, cg, "memory.swap.max");
    slot_set(&r->slot[EVENTS_V2], sysroot, l->unified, cg, "memory.events");
    slot_set(&r->slot[IO_STAT_V2], sysroot, l->unified, cg, "io.stat");
    slot_set(&r->slot[PSI_CPU_V2], sysroot, l->unified, cg, "cpu.pressure");
    slot_set(&r->slot[PSI_MEM_V2], sysroot, l->unified, cg, "memory.pressure");
    slot_set(&r->slot[PSI_IO_V2], sysroot, l->unified, cg, "io.pressure");
    slot_set(&r->slot[KMEM_V1], sysroot, l->memory, cg, "memory.kmem.usage_in_bytes");
    slot_set(&r->slot[MAXUSE_V1], sysroot, l->memory, cg, "memory.max_usage_in_bytes");
    slot_set(&r->slot[PEAK_V2], sysroot, l->unified, cg, "memory.peak");
    slot_set(&r->slot[PROCS_V1], sysroot, l->pids, cg, "cgroup.procs");
    slot_set(&r->slot[TASKS_V1], sysroot, l->pids, cg, "tasks");
    slot_set(&r->slot[PIDSMAX_V1], sysroot, l->pids, cg, "pids.max");
    slot_set(&r->slot[PROCS_V2], sysroot, l->unified, cg, "cgroup.procs");
    slot_set(&r->slot[THREADS_V2], sysroot, l->unified, cg, "cgroup.threads");
    slot_set(&r->slot[PIDSMAX_V2], sysroot, l->unified, cg, "pids.max");
    slot_set(&r->slot[SOFT_V1], sysroot, l->memory, cg, "memory.soft_limit_in_bytes");
    slot_set(&r->slot[LOW_V2], sysroot, l->unified, cg, "memory.low");
    r->sysroot = berth_strdup(sysroot);
    return r;
}

void berth_cgroups_reader_want_more(berth_cgroups_reader_t *r)
{
    r->more = true;
}

void berth_cgroups_reader_ref(berth_cgroups_reader_t *r)
{
    berth_ref_inc(&r->ref);
}

void berth_cgroups_reader_unref(berth_cgroups_reader_t *r)
{
    if (r == NULL || !berth_ref_dec_and_test(&r->ref))
        return;
    for (int i = 0; i < N_SLOTS; i++) {
        if (r->slot[i].fd >= 0) {
            close(r->slot[i].fd);
            __atomic_fetch_sub(&kept_fds, 1, __ATOMIC_RELAXED);
        }
        berth_free(r->slot[i].path);
    }
    berth_free((char *)r->sysroot);
    berth_free(r);
}

/* The whole file into buf (NUL-terminated, cut at cap - 1 bytes): a kept
 * descriptor is read again from offset 0, which makes a cgroup file
 * (seq_file) render afresh; else the file is opened, kept when the budget
 * allows, or closed. The length, or -1 when the file cannot be read (no such
 * cgroup, or it was removed: ENODEV on a kept descriptor, which is then
 * dropped so a later read opens the path again). */
static ssize_t slot_read(cg_slot_t *sl, char *buf, size_t cap)
{
    if (sl->path == NULL || sl->absent)
        return -1;
    bool kept = sl->fd >= 0;
    int fd = sl->fd;
    if (!kept) {
        fd = open(sl->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
    }
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = pread(fd, buf + len, cap - 1 - len, (off_t)len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (kept) {
                sl->fd = -1;
                __atomic_fetch_sub(&kept_fds, 1, __ATOMIC_RELAXED);
            }
            close(fd);
            return -1;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    if (!kept) {
        pthread_once(&kept_fds_once, kept_fds_limit);
        if (__atomic_load_n(&kept_fds, __ATOMIC_RELAXED) < kept_fds_max) {
            __atomic_fetch_add(&kept_fds, 1, __ATOMIC_RELAXED);
            sl->fd = fd;
        } else {
            close(fd);
        }
    }
    return (ssize_t)len;
}

/* The decimal number at p (leading blanks skipped); false when there is
 * none. */
static bool parse_u64(const char *p, uint64_t *out)
{
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    *out = v;
    return true;
}

/* The value of `key` in "key value" lines (memory.stat, cpu.stat): the one
 * line that starts with key and a blank. */
static bool parse_keyed(const char *text, const char *key, uint64_t *out)
{
    size_t n = strlen(key);
    for (const char *line = text; *line != '\0';) {
        if (strncmp(line, key, n) == 0 && (line[n] == ' ' || line[n] == '\t'))
            return parse_u64(line + n, out);
        const char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    return false;
}

static bool slot_u64(cg_slot_t *sl, char *buf, size_t cap, uint64_t *out)
{
    return slot_read(sl, buf, cap) >= 0 && parse_u64(buf, out);
}

/* A file only some kernels or settings give (memory.swap.current without
 * swap accounting, *.pressure without PSI): once the cgroup's own files were
 * read in this same read (cg_there) and this one was not found, it is not
 * tried again, so a node without it pays one failed open per cgroup, not
 * one per read. */
static ssize_t opt_read(cg_slot_t *sl, bool cg_there, char *buf, size_t cap)
{
    errno = 0;
    ssize_t n = slot_read(sl, buf, cap);
    if (n < 0 && cg_there && errno == ENOENT)
        sl->absent = true;
    return n;
}

static bool opt_u64(cg_slot_t *sl, bool cg_there, char *buf, size_t cap, uint64_t *out)
{
    return opt_read(sl, cg_there, buf, cap) >= 0 && parse_u64(buf, out);
}

/* "avg10=0.12 avg60=0.00 avg300=0.00 total=1234" after a "some" or "full"
 * at the start of a line. */
static bool parse_psi_line(const char *text, const char *kind, berth_cgroups_psi_line_t *o)
{
    size_t n = strlen(kind);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, kind, n) == 0 && line[n] == ' ') {
            int used = 0;
            unsigned long long total;
            if (sscanf(line + n, " avg10=%lf avg60=%lf avg300=%lf total=%llu%n", &o->avg10,
                       &o->avg60, &o->avg300, &total, &used) < 4)
                return false;
            o->total_us = total;
            return true;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

bool berth_cgroups_parse_psi(const char *text, berth_cgroups_psi_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!parse_psi_line(text, "some", &out->some))
        return false;
    out->have_full = parse_psi_line(text, "full", &out->full);
    return true;
}

/* The entry for major:minor in out (n used, cap slots), added when new;
 * NULL when full. */
static berth_cgroups_blkdev_t *dev_slot(berth_cgroups_blkdev_t *out, size_t *n, size_t cap,
                                        uint32_t major, uint32_t minor)
{
    for (size_t i = 0; i < *n; i++)
        if (out[i].major == major && out[i].minor == minor)
            return &out[i];
    if (*n == cap)
        return NULL;
    berth_cgroups_blkdev_t *d = &out[(*n)++];
    memset(d, 0, sizeof(*d));
    d->major = major;
    d->minor = minor;
    snprintf(d->name, sizeof(d->name), "%u:%u", major, minor);
    return d;
}

/* The value of "key=" in one io.stat line (p to end). */
static uint64_t io_field(const char *p, const char *end, const char *key)
{
    size_t n = strlen(key);
    for (const char *q = p; q + n < end; q++) {
        if ((q == p || q[-1] == ' ') && strncmp(q, key, n) == 0 && q[n] == '=') {
            uint64_t v = 0;
            parse_u64(q + n + 1, &v);
            return v;
        }
    }
    return 0;
}

size_t berth_cgroups_parse_io_stat(const char *text, berth_cgroups_blkdev_t *out, size_t cap)
{
    size_t n = 0;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        const char *end = nl ? nl : line + strlen(line);
        unsigned maj, min;
        if (sscanf(line, "%u:%u ", &maj, &min) == 2) {
            berth_cgroups_blkdev_t *d = dev_slot(out, &n, cap, maj, min);
            if (d) {
                d->rbytes = io_field(line, end, "rbytes");
                d->wbytes = io_field(line, end, "wbytes");
                d->rios = io_field(line, end, "rios");
                d->wios = io_field(line, end, "wios");
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

/* Adds "M:m Read N" and "M:m Write N" lines of a v1 blkio file to out, as
 * bytes or as operations. */
static void blkio_lines(const char *text, bool ios, berth_cgroups_blkdev_t *out, size_t *n,
                        size_t cap)
{
    for (const char *line = text; line && *line;) {
        unsigned maj, min;
        char op[16];
        unsigned long long v;
        if (sscanf(line, "%u:%u %15s %llu", &maj, &min, op, &v) == 4) {
            bool rd = strcmp(op, "Read") == 0, wr = strcmp(op, "Write") == 0;
            berth_cgroups_blkdev_t *d = rd || wr ? dev_slot(out, n, cap, maj, min) : NULL;
            if (d) {
                uint64_t *f = ios ? (rd ? &d->rios : &d->wios) : (rd ? &d->rbytes : &d->wbytes);
                *f = v;
            }
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
}

size_t berth_cgroups_parse_blkio(const char *bytes, const char *serviced,
                                 berth_cgroups_blkdev_t *out, size_t cap)
{
    size_t n = 0;
    if (bytes)
        blkio_lines(bytes, false, out, &n, cap);
    if (serviced)
        blkio_lines(serviced, true, out, &n, cap);
    return n;
}

/* Names the devices as cAdvisor does ("/dev/sda", from DEVNAME in
 * /sys/dev/block/M:m/uevent), each looked up once per reader. */
static void name_devs(berth_cgroups_reader_t *r, berth_cgroups_blkdev_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < r->n_names &&
               (r->names[k].major != d[i].major || r->names[k].minor != d[i].minor))
            k++;
        if (k == r->n_names) {
            if (k == BERTH_CGROUPS_MAX_BLKDEVS)
                continue; /* keeps "M:m" */
            devname_t *dn = &r->names[r->n_names++];
            dn->major = d[i].major;
            dn->minor = d[i].minor;
            snprintf(dn->name, sizeof(dn->name), "%s", d[i].name);
            BERTH_AUTO_FREE char *p = berth_asprintf("%s/sys/dev/block/%u:%u/uevent", r->sysroot,
                                                     d[i].major, d[i].minor);
            FILE *f = fopen(p, "re");
            char line[128];
            while (f && fgets(line, sizeof(line), f) != NULL) {
                if (strncmp(line, "DEVNAME=", 8) == 0) {
                    line[strcspn(line, "\n")] = '\0';
                    snprintf(dn->name, sizeof(dn->name), "/dev/%.26s", line + 8);
                    break;
                }
            }
            if (f)
                fclose(f);
        }
        snprintf(d[i].name, sizeof(d[i].name), "%s", r->names[k].name);
    }
}

/* cpu.weight (1..10000) back to the shares (2..262144) runc made it from:
 * weight = 1 + (shares - 2) * 9999 / 262142. */
static uint64_t weight_to_shares(uint64_t w)
{
    if (w < 1)
        w = 1;
    return 2 + ((w - 1) * 262142 + 9998) / 9999;
}

/* The number of lines in text (a PID list). */
static uint64_t count_lines(const char *text)
{
    uint64_t n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

/* The open descriptors and sockets of the processes listed in procs (a
 * cgroup.procs text), from /proc/PID/fd under sysroot. A process gone
 * meanwhile counts nothing. */
static void count_fds(const char *sysroot, const char *procs, uint64_t *fds, uint64_t *sockets)
{
    *fds = *sockets = 0;
    int seen = 0;
    for (const char *p = procs; *p && seen < BERTH_CGROUPS_MAX_PROCS; seen++) {
        uint64_t pid;
        if (!parse_u64(p, &pid))
            break;
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/proc/%llu/fd", sysroot, (unsigned long long)pid);
        DIR *d = opendir(dir);
        if (d != NULL) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.')
                    continue;
                (*fds)++;
                char link[64];
                ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
                if (n > 7 && strncmp(link, "socket:", 7) == 0)
                    (*sockets)++;
            }
            closedir(d);
        }
        const char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        p = nl + 1;
    }
}

/* Threads, the pids limit and the descriptors (both versions). */
static void read_tasks(berth_cgroups_reader_t *r, berth_cgroups_stats_t *out, bool there, int procs,
                       int tasks, int pids_max, char *buf, size_t cap)
{
    if (opt_read(&r->slot[tasks], there, buf, cap) >= 0) {
        out->have_threads = true;
        out->threads = count_lines(buf);
        /* "max" for none: no number, 0 */
        opt_u64(&r->slot[pids_max], there, buf, cap, &out->threads_max);
    }
    if (opt_read(&r->slot[procs], there, buf, cap) >= 0) {
        out->have_fds = true;
        count_fds(r->sysroot, buf, &out->fds, &out->sockets);
    }
}

/* The v1 figures beyond usage (cg_there: the cgroup's usage files were
 * read). */
static void read_more_v1(berth_cgroups_reader_t *r, berth_cgroups_stats_t *out, char *buf,
                         size_t cap)
{
    bool there = out->have_cpu || out->have_mem;
    uint64_t a, b;
    if (opt_read(&r->slot[CPUACCT_STAT_V1], there, buf, cap) >= 0 && parse_keyed(buf, "user", &a) &&
        parse_keyed(buf, "system", &b)) {
        /* clock ticks (USER_HZ) */
        long hz = sysconf(_SC_CLK_TCK);
        uint64_t tick = hz > 0 ? 1000000000ull / (uint64_t)hz : 10000000ull;
        out->cpu_user_ns = a * tick;
        out->cpu_sys_ns = b * tick;
        out->have_cpu_split = true;
    }
    if (opt_read(&r->slot[CPU_STAT_V1], there, buf, cap) >= 0 &&
        parse_keyed(buf, "nr_periods", &out->cfs_periods) &&
        parse_keyed(buf, "nr_throttled", &out->cfs_throttled) &&
        parse_keyed(buf, "throttled_time", &out->cfs_throttled_ns))
        out->have_throttle = true;
    if (opt_u64(&r->slot[CPU_SHARES_V1], there, buf, cap, &out->cpu_shares)) {
        out->have_cpu_spec = true;
        /* cpu.cfs_quota_us is -1 for none: no number, quota stays 0 */
        opt_u64(&r->slot[CPU_QUOTA_V1], there, buf, cap, &out->cpu_quota_us);
        opt_u64(&r->slot[CPU_PERIOD_V1], there, buf, cap, &out->cpu_period_us);
    }
    if (out->have_mem) {
        uint64_t memsw;
        if (opt_u64(&r->slot[MEMSW_V1], there, buf, cap, &memsw)) {
            out->have_swap = true;
            out->swap_usage = memsw > out->mem_usage ? memsw - out->mem_usage : 0;
            if (out->have_limit && opt_u64(&r->slot[MEMSW_LIMIT_V1], there, buf, cap, &memsw) &&
                memsw < (1ull << 62)) {
                out->have_swap_limit = true;
                out->swap_limit = memsw > out->mem_limit ? memsw - out->mem_limit : 0;
            }
        }
        out->have_failcnt = opt_u64(&r->slot[FAILCNT_V1], there, buf, cap, &out->failcnt);
        out->have_kmem = opt_u64(&r->slot[KMEM_V1], there, buf, cap, &out->kmem);
        out->have_max_usage = opt_u64(&r->slot[MAXUSE_V1], there, buf, cap, &out->max_usage);
        out->have_reservation = opt_u64(&r->slot[SOFT_V1], there, buf, cap, &out->mem_reservation);
        if (out->mem_reservation >= (1ull << 62))
            out->mem_reservation = 0;
        out->have_oom = opt_read(&r->slot[OOM_V1], there, buf, cap) >= 0 &&
                        parse_keyed(buf, "oom_kill", &out->oom_kills);
    }
    read_tasks(r, out, there, PROCS_V1, TASKS_V1, PIDSMAX_V1, buf, cap);
    ssize_t nb = opt_read(&r->slot[BLKIO_BYTES_V1], there, buf, cap);
    if (nb >= 0) {
        /* the two files side by side in buf: bytes, then operations */
        size_t off = (size_t)nb + 1;
        const char *ios = NULL;
        if (off < cap - 1 && opt_read(&r->slot[BLKIO_IOS_V1], there, buf + off, cap - off) >= 0)
            ios = buf + off;
        out->have_io = true;
        out->n_blkdevs =
                berth_cgroups_parse_blkio(buf, ios, out->blkdevs, BERTH_CGROUPS_MAX_BLKDEVS);
    }
}

/* The v2 figures beyond usage. */
static void read_more_v2(berth_cgroups_reader_t *r, berth_cgroups_stats_t *out,
                         const char *cpu_stat, char *buf, size_t cap)
{
    bool there = out->have_cpu || out->have_mem;
    uint64_t a, b;
    if (cpu_stat != NULL) {
        if (parse_keyed(cpu_stat, "user_usec", &a) && parse_keyed(cpu_stat, "system_usec", &b)) {
            out->cpu_user_ns = a * 1000;
            out->cpu_sys_ns = b * 1000;
            out->have_cpu_split = true;
        }
        /* only when the cpu controller is enabled for the cgroup */
        if (parse_keyed(cpu_stat, "nr_periods", &out->cfs_periods) &&
            parse_keyed(cpu_stat, "nr_throttled", &out->cfs_throttled) &&
            parse_keyed(cpu_stat, "throttled_usec", &a)) {
            out->cfs_throttled_ns = a * 1000;
            out->have_throttle = true;
        }
    }
    if (opt_u64(&r->slot[CPU_WEIGHT_V2], there, buf, cap, &a)) {
        out->have_cpu_spec = true;
        out->cpu_shares = weight_to_shares(a);
        /* "max 100000" or "50000 100000" */
        if (opt_read(&r->slot[CPU_MAX_V2], there, buf, cap) >= 0) {
            char *sp = strchr(buf, ' ');
            parse_u64(buf, &out->cpu_quota_us);
            if (sp)
                parse_u64(sp + 1, &out->cpu_period_us);
        }
    }
    if (out->have_mem) {
        out->have_swap = opt_u64(&r->slot[SWAP_V2], there, buf, cap, &out->swap_usage);
        if (out->have_swap)
            out->have_swap_limit =
                    opt_u64(&r->slot[SWAP_MAX_V2], there, buf, cap, &out->swap_limit);
        if (opt_read(&r->slot[EVENTS_V2], there, buf, cap) >= 0) {
            out->have_failcnt = parse_keyed(buf, "max", &out->failcnt);
            out->have_oom = parse_keyed(buf, "oom_kill", &out->oom_kills);
        }
        out->have_max_usage = opt_u64(&r->slot[PEAK_V2], there, buf, cap, &out->max_usage);
        /* "max": no number, 0 */
        out->have_reservation = opt_read(&r->slot[LOW_V2], there, buf, cap) >= 0;
        if (out->have_reservation)
            parse_u64(buf, &out->mem_reservation);
    }
    read_tasks(r, out, there, PROCS_V2, THREADS_V2, PIDSMAX_V2, buf, cap);
    if (opt_read(&r->slot[IO_STAT_V2], there, buf, cap) >= 0) {
        out->have_io = true;
        out->n_blkdevs = berth_cgroups_parse_io_stat(buf, out->blkdevs, BERTH_CGROUPS_MAX_BLKDEVS);
    }
    static const int psi_slot[BERTH_CGROUPS_N_PSI] = {PSI_CPU_V2, PSI_MEM_V2, PSI_IO_V2};
    for (int i = 0; i < BERTH_CGROUPS_N_PSI; i++)
        out->have_psi[i] = opt_read(&r->slot[psi_slot[i]], there, buf, cap) >= 0 &&
                           berth_cgroups_parse_psi(buf, &out->psi[i]);
}

int berth_cgroups_reader_read(berth_cgroups_reader_t *r, berth_cgroups_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    /* memory.stat is under 2 KiB on v1 and v2 alike, and io.stat or the
     * blkio files under 1 KiB for the few devices a node has: the buffer
     * holds them whole, so no allocation and no line carried across reads.
     * cpu.stat of v2 is kept for the split and throttling figures. */
    char buf[8192], cpu_stat[1024];
    bool cpu_v2 = false;
    uint64_t usec;
    if (slot_u64(&r->slot[CPU_V1], buf, sizeof(buf), &out->cpu_ns)) {
        out->have_cpu = true;
    } else if (slot_read(&r->slot[CPU_V2], cpu_stat, sizeof(cpu_stat)) >= 0 &&
               parse_keyed(cpu_stat, "usage_usec", &usec)) {
        out->cpu_ns = usec * 1000;
        out->have_cpu = true;
        cpu_v2 = true;
    }

    uint64_t inactive = 0;
    bool mem_v1 = false;
    if (slot_u64(&r->slot[MEM_V1], buf, sizeof(buf), &out->mem_usage)) {
        out->have_mem = true;
        mem_v1 = true;
        /* hierarchical, as usage is */
        if (slot_read(&r->slot[STAT_V1], buf, sizeof(buf)) >= 0) {
            parse_keyed(buf, "total_inactive_file", &inactive);
            out->have_rss = parse_keyed(buf, "total_rss", &out->mem_rss);
            out->have_faults = parse_keyed(buf, "total_pgfault", &out->pgfault) &&
                               parse_keyed(buf, "total_pgmajfault", &out->pgmajfault);
            out->have_cache = parse_keyed(buf, "total_cache", &out->mem_cache);
            parse_keyed(buf, "total_mapped_file", &out->mem_mapped_file);
        }
        /* v1 shows no limit as LLONG_MAX rounded down to a page */
        if (r->more && slot_u64(&r->slot[LIMIT_V1], buf, sizeof(buf), &out->mem_limit))
            out->have_limit = out->mem_limit < (1ull << 62);
    } else if (slot_u64(&r->slot[MEM_V2], buf, sizeof(buf), &out->mem_usage)) {
        out->have_mem = true;
        out->v2 = true;
        if (slot_read(&r->slot[STAT_V2], buf, sizeof(buf)) >= 0) {
            parse_keyed(buf, "inactive_file", &inactive);
            out->have_rss = parse_keyed(buf, "anon", &out->mem_rss);
            out->have_faults = parse_keyed(buf, "pgfault", &out->pgfault) &&
                               parse_keyed(buf, "pgmajfault", &out->pgmajfault);
            out->have_cache = parse_keyed(buf, "file", &out->mem_cache);
            parse_keyed(buf, "file_mapped", &out->mem_mapped_file);
            uint64_t stack = 0, tables = 0, slab = 0;
            out->have_kmem = parse_keyed(buf, "kernel", &out->kmem);
            if (!out->have_kmem && parse_keyed(buf, "kernel_stack", &stack)) {
                parse_keyed(buf, "pagetables", &tables);
                parse_keyed(buf, "slab", &slab);
                out->kmem = stack + tables + slab;
                out->have_kmem = true;
            }
        }
        /* "max" for none: no number, so have_limit stays false */
        if (r->more)
            out->have_limit = slot_u64(&r->slot[LIMIT_V2], buf, sizeof(buf), &out->mem_limit);
    } else if (cpu_v2) {
        out->v2 = true;
    }
    if (r->more) {
        out->have_pids = slot_u64(&r->slot[PIDS_V1], buf, sizeof(buf), &out->pids) ||
                         slot_u64(&r->slot[PIDS_V2], buf, sizeof(buf), &out->pids);
        /* A hybrid node's cgroup is read where its usage was: v1 when its
         * memory or CPU came from there, else cgroup2. */
        if (mem_v1 || (out->have_cpu && !cpu_v2))
            read_more_v1(r, out, buf, sizeof(buf));
        else if (out->v2)
            read_more_v2(r, out, cpu_v2 ? cpu_stat : NULL, buf, sizeof(buf));
        if (out->n_blkdevs)
            name_devs(r, out->blkdevs, out->n_blkdevs);
    }
    /* The kubelet's working set: usage less the inactive file cache, which the
     * kernel reclaims first. The two files are read apart, so the cache can
     * exceed the usage read a moment before. */
    out->mem_working_set = out->mem_usage > inactive ? out->mem_usage - inactive : 0;
    return out->have_cpu || out->have_mem ? 0 : -1;
}

static stats_layout_t self_layout;
static pthread_once_t self_layout_once = PTHREAD_ONCE_INIT;

static void self_layout_scan(void)
{
    layout_scan("/proc/self/mountinfo", &self_layout);
}

berth_cgroups_reader_t *berth_cgroups_reader_new(const char *cgroup_path)
{
    /* pthread_once orders the scan's writes before every reader's loads;
     * self_layout never changes after. */
    pthread_once(&self_layout_once, self_layout_scan);
    return reader_new(&self_layout, NULL, cgroup_path);
}

berth_cgroups_reader_t *berth_cgroups_reader_new_files(const char *mountinfo_path,
                                                       const char *sysroot, const char *cgroup_path)
{
    BERTH_AUTO_FREE stats_layout_t *l = berth_malloc(sizeof(*l));
    layout_scan(mountinfo_path, l);
    return reader_new(l, sysroot, cgroup_path);
}

/* One read through a reader of its own: its files are opened, read and
 * closed (a reader that goes at once gives its kept descriptors back). */
static int read_once(berth_cgroups_reader_t *r, berth_cgroups_stats_t *out)
{
    if (r == NULL) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    int rc = berth_cgroups_reader_read(r, out);
    berth_cgroups_reader_unref(r);
    return rc;
}

int berth_cgroups_stats_read(const char *cgroup_path, berth_cgroups_stats_t *out)
{
    return read_once(berth_cgroups_reader_new(cgroup_path), out);
}

int berth_cgroups_stats_read_files(const char *mountinfo_path, const char *sysroot,
                                   const char *cgroup_path, berth_cgroups_stats_t *out)
{
    return read_once(berth_cgroups_reader_new_files(mountinfo_path, sysroot, cgroup_path), out);
}
