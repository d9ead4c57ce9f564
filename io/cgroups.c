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
    bool cpu_at_root, mem_at_root, v2_at_root, pids_at_root;
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
    char *path; /* NULL: no hierarchy for it */
    int fd;     /* -1 when not open */
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
    N_SLOTS
};

struct berth_cgroups_reader {
    berth_ref_t ref;
    bool more; /* read the limit and pids slots too */
    cg_slot_t slot[N_SLOTS];
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
    if (sl->path == NULL)
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

static bool slot_keyed(cg_slot_t *sl, const char *key, char *buf, size_t cap, uint64_t *out)
{
    return slot_read(sl, buf, cap) >= 0 && parse_keyed(buf, key, out);
}

int berth_cgroups_reader_read(berth_cgroups_reader_t *r, berth_cgroups_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    /* memory.stat is under 2 KiB on v1 and v2 alike: the buffer holds it
     * whole, so no allocation and no line carried across reads. */
    char buf[8192];
    uint64_t usec;
    if (slot_u64(&r->slot[CPU_V1], buf, sizeof(buf), &out->cpu_ns)) {
        out->have_cpu = true;
    } else if (slot_keyed(&r->slot[CPU_V2], "usage_usec", buf, sizeof(buf), &usec)) {
        out->cpu_ns = usec * 1000;
        out->have_cpu = true;
    }

    uint64_t inactive = 0;
    if (slot_u64(&r->slot[MEM_V1], buf, sizeof(buf), &out->mem_usage)) {
        out->have_mem = true;
        /* hierarchical, as usage is */
        if (slot_read(&r->slot[STAT_V1], buf, sizeof(buf)) >= 0) {
            parse_keyed(buf, "total_inactive_file", &inactive);
            out->have_rss = parse_keyed(buf, "total_rss", &out->mem_rss);
            out->have_faults = parse_keyed(buf, "total_pgfault", &out->pgfault) &&
                               parse_keyed(buf, "total_pgmajfault", &out->pgmajfault);
        }
        /* v1 shows no limit as LLONG_MAX rounded down to a page */
        if (r->more && slot_u64(&r->slot[LIMIT_V1], buf, sizeof(buf), &out->mem_limit))
            out->have_limit = out->mem_limit < (1ull << 62);
    } else if (slot_u64(&r->slot[MEM_V2], buf, sizeof(buf), &out->mem_usage)) {
        out->have_mem = true;
        if (slot_read(&r->slot[STAT_V2], buf, sizeof(buf)) >= 0) {
            parse_keyed(buf, "inactive_file", &inactive);
            out->have_rss = parse_keyed(buf, "anon", &out->mem_rss);
            out->have_faults = parse_keyed(buf, "pgfault", &out->pgfault) &&
                               parse_keyed(buf, "pgmajfault", &out->pgmajfault);
        }
        /* "max" for none: no number, so have_limit stays false */
        if (r->more)
            out->have_limit = slot_u64(&r->slot[LIMIT_V2], buf, sizeof(buf), &out->mem_limit);
    }
    if (r->more)
        out->have_pids = slot_u64(&r->slot[PIDS_V1], buf, sizeof(buf), &out->pids) ||
                         slot_u64(&r->slot[PIDS_V2], buf, sizeof(buf), &out->pids);
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
