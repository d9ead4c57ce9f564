/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/cgroups: the layout probe on made-up mountinfo files and cgroup2 roots
 * (v1, v2, hybrid with controllers left in cgroup2, hybrid after the node
 * preparation, nothing mounted, several controllers) and on this node; the
 * usage reader on made-up cgroup trees (v1 with cpuacct alone or co-mounted
 * elsewhere, hybrid, v2, missing files, the working-set floor) and on this
 * process's own cgroup. Touches no real mount and writes no real cgroup.
 */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/cgroups.h"
#include "tests/unit/check.h"

static char tmp[] = "/tmp/berth-cgroups-test-XXXXXX";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

/* Writes a mountinfo file and, when controllers is not NULL, the cgroup2
 * root's cgroup.controllers under tmp/<name>/sys; returns the sysroot. */
static char *scene(const char *name, const char *mountinfo, const char *unified,
                   const char *controllers, char **mi_path)
{
    char *root = berth_asprintf("%s/%s", tmp, name);
    mkdir(root, 0700);
    *mi_path = berth_asprintf("%s/mountinfo", root);
    write_file(*mi_path, mountinfo);
    char *sys = berth_asprintf("%s/sys", root);
    if (controllers != NULL) {
        /* mkdir -p of sys + unified */
        char *d = berth_asprintf("%s%s", sys, unified);
        for (char *s = d + strlen(tmp) + 1; *s; s++) {
            if (*s == '/') {
                *s = '\0';
                mkdir(d, 0700);
                *s = '/';
            }
        }
        mkdir(d, 0700);
        char *f = berth_asprintf("%s/cgroup.controllers", d);
        write_file(f, controllers);
        berth_free(f);
        berth_free(d);
    }
    berth_free(root);
    return sys;
}

/* Writes text to tmp/<rel>, making the directories on the way. */
static void put(const char *rel, const char *text)
{
    char *p = berth_asprintf("%s/%s", tmp, rel);
    for (char *s = p + strlen(tmp) + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0700);
            *s = '/';
        }
    }
    write_file(p, text);
    berth_free(p);
}

/* put() at a path made from a format. */
static void putf(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(const char *text, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    BERTH_AUTO_FREE char *rel = berth_vasprintf(fmt, ap);
    va_end(ap);
    put(rel, text);
}

/* berth_cgroups_stats_read_files on the scene tmp/<name>: its mountinfo, its sys. */
static int stats_in(const char *name, const char *cg, berth_cgroups_stats_t *st)
{
    BERTH_AUTO_FREE char *mi = berth_asprintf("%s/%s/mountinfo", tmp, name);
    BERTH_AUTO_FREE char *sys = berth_asprintf("%s/%s/sys", tmp, name);
    return berth_cgroups_stats_read_files(mi, sys, cg, st);
}

static void skip(const char *what, const char *why)
{
    printf("ok %d - %s # SKIP %s\n", ++ntest, what, why);
    fflush(stdout);
}

/* This process's cgroup as a container's would be read: the path in the
 * cpuacct hierarchy, else the cgroup2 one ("0::/..."). Returns owned or NULL. */
static char *own_cgroup(void)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f == NULL)
        return NULL;
    char line[4096];
    char *v1 = NULL, *v2 = NULL;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *ctrls = strchr(line, ':');
        char *path = ctrls ? strchr(ctrls + 1, ':') : NULL;
        if (path == NULL)
            continue;
        *path++ = '\0';
        ctrls++;
        if (strcmp(line, "0") == 0 && ctrls[0] == '\0' && v2 == NULL)
            v2 = berth_strdup(path);
        char *save = NULL;
        for (char *c = strtok_r(ctrls, ",", &save); c != NULL && v1 == NULL;
             c = strtok_r(NULL, ",", &save))
            if (strcmp(c, "cpuacct") == 0)
                v1 = berth_strdup(path);
    }
    fclose(f);
    if (v1 != NULL) {
        berth_free(v2);
        return v1;
    }
    return v2;
}

/* The mount point of the first cgroup v1 hierarchy with controller ctrl
 * (ctrl NULL: the first cgroup2 mount) in this process's mountinfo; "" when
 * none. A plain reading, independent of the code under test. */
static void own_mount(const char *ctrl, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return;
    char line[4096];
    while (out[0] == '\0' && fgets(line, sizeof(line), f) != NULL) {
        char mnt[1024], fstype[64], opts[1024] = "";
        char *sep = strstr(line, " - ");
        if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1 ||
            sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) < 1)
            continue;
        if (ctrl == NULL && strcmp(fstype, "cgroup2") == 0)
            snprintf(out, cap, "%s", mnt);
        if (ctrl == NULL || strcmp(fstype, "cgroup") != 0)
            continue;
        char *save = NULL;
        for (char *c = strtok_r(opts, ",", &save); c != NULL; c = strtok_r(NULL, ",", &save))
            if (strcmp(c, ctrl) == 0)
                snprintf(out, cap, "%s", mnt);
    }
    fclose(f);
}

#define V1_LINES                                                                                   \
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"                          \
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"                         \
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"                   \
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"                       \
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
#define UNIFIED_LINE "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

int main(void)
{
    if (mkdtemp(tmp) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    berth_cgroups_info_t cg;
    char *mi;
    char *sys;
    int r;

    /* 1. this node's layout before the preparation: hugetlb only in cgroup2 */
    {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        sys = scene("hybrid", V1_LINES UNIFIED_LINE, "/sys/fs/cgroup/unified", "hugetlb\n", &mi);
        r = berth_cgroups_probe_files(mi, sys, &cg, &err);
        check(r == 0 && cg.mode == BERTH_CGROUPS_HYBRID, "hybrid layout detected (%s)",
              berth_cgroups_mode_name(cg.mode));
        check(strcmp(cg.unified_path, "/sys/fs/cgroup/unified") == 0, "cgroup2 mount point: %s",
              cg.unified_path);
        check(strcmp(cg.v2_controllers, "hugetlb") == 0, "cgroup2 controllers read: '%s'",
              cg.v2_controllers);
        check(!cg.crun_ok, "crun is refused while cgroup2 holds a controller");
        check(strstr(cg.advice, "hybrid") != NULL && strstr(cg.advice, "hugetlb") != NULL,
              "advice names the hybrid layout and the controller: %s", cg.advice);
        check(strstr(cg.advice, "mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb "
                                "cgroup /sys/fs/cgroup/hugetlb") != NULL,
              "advice gives the exact mount to run");
        check(strstr(cg.advice, "runc") != NULL, "advice names runc as the alternative");
        berth_free(mi);
        berth_free(sys);
    }

    /* 2. after scripts/prepare-node-crun.sh: hugetlb mounted as v1, cgroup2 empty */
    {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        sys = scene("prepared",
                    V1_LINES "50 31 0:50 / /sys/fs/cgroup/hugetlb rw,relatime - cgroup cgroup "
                             "rw,hugetlb\n" UNIFIED_LINE,
                    "/sys/fs/cgroup/unified", "\n", &mi);
        r = berth_cgroups_probe_files(mi, sys, &cg, &err);
        check(r == 0 && cg.mode == BERTH_CGROUPS_HYBRID, "prepared node is still hybrid (%s)",
              berth_cgroups_mode_name(cg.mode));
        check(cg.v2_controllers[0] == '\0', "no controller left in cgroup2");
        check(cg.crun_ok, "crun accepted once cgroup2 is empty");
        check(cg.advice[0] == '\0', "no advice when crun works");
        berth_free(mi);
        berth_free(sys);
    }

    /* 3. several controllers in cgroup2: one mount each */
    {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        sys = scene("multi", V1_LINES UNIFIED_LINE, "/sys/fs/cgroup/unified", "hugetlb rdma\n",
                    &mi);
        r = berth_cgroups_probe_files(mi, sys, &cg, &err);
        check(r == 0 && !cg.crun_ok, "two controllers in cgroup2: crun refused");
        check(strstr(cg.advice, "-o hugetlb cgroup /sys/fs/cgroup/hugetlb") != NULL &&
                      strstr(cg.advice, "-o rdma cgroup /sys/fs/cgroup/rdma") != NULL,
              "advice mounts each of them: %s", cg.advice);
        berth_free(mi);
        berth_free(sys);
    }

    /* 4. pure cgroup v2 */
    {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        sys = scene("v2", "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n",
                    "/sys/fs/cgroup", "cpuset cpu io memory hugetlb pids\n", &mi);
        r = berth_cgroups_probe_files(mi, sys, &cg, &err);
        check(r == 0 && cg.mode == BERTH_CGROUPS_V2, "unified layout detected (%s)",
              berth_cgroups_mode_name(cg.mode));
        check(cg.crun_ok && cg.advice[0] == '\0', "crun works on cgroup v2");
        check(strstr(cg.v2_controllers, "memory") != NULL, "v2 controllers: %s", cg.v2_controllers);
        berth_free(mi);
        berth_free(sys);
    }

    /* 5. v1 only */
    {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        sys = scene("v1", V1_LINES, "", NULL, &mi);
        r = berth_cgroups_probe_files(mi, sys, &cg, &err);
        check(r == 0 && cg.mode == BERTH_CGROUPS_V1, "v1 layout detected (%s)",
              berth_cgroups_mode_name(cg.mode));
        check(cg.crun_ok && cg.unified_path[0] == '\0', "crun works on v1, no cgroup2 path");
        berth_free(mi);
        berth_free(sys);
    }

    /* 5b. what a runtime can apply: controllers, swap accounting, CFS
     * quota, huge page sizes, per layout */
    {
        char ctrls[160];
        /* this node before the preparation: hugetlb only in cgroup2, which
         * runc does not use on a hybrid node; memsw and quota present */
        putf("0\n", "hyb2/sys/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
        putf("-1\n", "hyb2/sys/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
        putf("0\n", "hyb2/sys/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
        putf("0\n", "hyb2/sys/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages");
        putf("0\n", "hyb2/sys/sys/kernel/mm/hugepages/hugepages-64kB/nr_hugepages");
        {
            BERTH_AUTO_ERR berth_err_t err = NULL;
            sys = scene("hyb2", V1_LINES UNIFIED_LINE, "/sys/fs/cgroup/unified", "hugetlb\n", &mi);
            r = berth_cgroups_probe_files(mi, sys, &cg, &err);
            berth_cgroups_controllers_text(cg.controllers, ctrls, sizeof(ctrls));
            check(r == 0 && strcmp(ctrls, "cpu memory pids") == 0,
                  "hybrid: the runtime's controllers are the v1 ones: '%s'", ctrls);
            check(!(cg.controllers & BERTH_CG_HUGETLB),
                  "hybrid: hugetlb only in cgroup2 is not usable");
            check(cg.memory_swap && cg.cpu_quota, "hybrid: memsw and cfs quota files found");
            check(berth_cgroups_has_hugepage_size(&cg, "2MB") &&
                          berth_cgroups_has_hugepage_size(&cg, "1GB") &&
                          berth_cgroups_has_hugepage_size(&cg, "64KB") &&
                          !berth_cgroups_has_hugepage_size(&cg, "2M") &&
                          !berth_cgroups_has_hugepage_size(&cg, "4MB") &&
                          !berth_cgroups_has_hugepage_size(&cg, "GB"),
                  "huge page sizes named as the CRI names them: '%s'", cg.hugepage_sizes);
            berth_free(mi);
            berth_free(sys);
        }
        /* the same node prepared for crun: hugetlb in v1 now */
        {
            BERTH_AUTO_ERR berth_err_t err = NULL;
            sys = scene("hyb2",
                        V1_LINES "50 31 0:50 / /sys/fs/cgroup/hugetlb rw,relatime - cgroup cgroup "
                                 "rw,hugetlb\n" UNIFIED_LINE,
                        "/sys/fs/cgroup/unified", "\n", &mi);
            r = berth_cgroups_probe_files(mi, sys, &cg, &err);
            check(r == 0 && (cg.controllers & BERTH_CG_HUGETLB),
                  "hybrid with a v1 hugetlb hierarchy: hugetlb usable");
            berth_free(mi);
            berth_free(sys);
        }
        /* v1 with co-mounted cpu,cpuacct, no swap accounting, no quota, no huge pages */
        {
            BERTH_AUTO_ERR berth_err_t err = NULL;
            putf("1024\n", "v1b/sys/sys/fs/cgroup/cpu,cpuacct/cpu.shares");
            sys = scene("v1b",
                        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup "
                        "rw,cpu,cpuacct\n"
                        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                        "36 31 0:33 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n",
                        "", NULL, &mi);
            r = berth_cgroups_probe_files(mi, sys, &cg, &err);
            berth_cgroups_controllers_text(cg.controllers, ctrls, sizeof(ctrls));
            check(r == 0 && strcmp(ctrls, "cpu cpuacct memory devices") == 0,
                  "v1: co-mounted controllers each count: '%s'", ctrls);
            check(!cg.memory_swap && !cg.cpu_quota && cg.hugepage_sizes[0] == '\0',
                  "v1 without memsw, cfs quota or huge pages: none reported");
            berth_free(mi);
            berth_free(sys);
        }
        /* v2: the root's controllers, devices and freezer built in; swap from a child */
        {
            BERTH_AUTO_ERR berth_err_t err = NULL;
            putf("0\n", "v2b/sys/sys/fs/cgroup/init.scope/memory.current");
            putf("max\n", "v2b/sys/sys/fs/cgroup/init.scope/memory.swap.max");
            sys = scene("v2b", "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n",
                        "/sys/fs/cgroup", "cpuset cpu io memory pids\n", &mi);
            r = berth_cgroups_probe_files(mi, sys, &cg, &err);
            berth_cgroups_controllers_text(cg.controllers, ctrls, sizeof(ctrls));
            check(r == 0 && strcmp(ctrls, "cpu cpuacct cpuset memory pids blkio devices freezer") ==
                                    0,
                  "v2: root controllers plus the built-in ones: '%s'", ctrls);
            check(!(cg.controllers & BERTH_CG_HUGETLB), "v2 without hugetlb in cgroup.controllers");
            check(cg.memory_swap && cg.cpu_quota, "v2: swap seen in a child, quota with cpu");
            berth_free(mi);
            berth_free(sys);
        }
        {
            BERTH_AUTO_ERR berth_err_t err = NULL;
            putf("0\n", "v2c/sys/sys/fs/cgroup/init.scope/memory.current");
            sys = scene("v2c", "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n",
                        "/sys/fs/cgroup", "cpu memory\n", &mi);
            r = berth_cgroups_probe_files(mi, sys, &cg, &err);
            check(r == 0 && !cg.memory_swap,
                  "v2: a memory-enabled child without memory.swap.max means no swap accounting");
            berth_free(mi);
            berth_free(sys);
        }
        check(berth_cgroups_controller_bit("io") == BERTH_CG_BLKIO &&
                      berth_cgroups_controller_bit("name=systemd") == 0,
              "io is blkio; named hierarchies are no controller");
    }

    /* 6. nothing mounted */
    {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        sys = scene("none", "22 1 0:21 / /proc rw - proc proc rw\n", "", NULL, &mi);
        r = berth_cgroups_probe_files(mi, sys, &cg, &err);
        check(r == 0 && cg.mode == BERTH_CGROUPS_NONE && !cg.crun_ok,
              "no cgroup filesystem: mode none, crun not ok");
        check(strcmp(berth_cgroups_mode_name(cg.mode), "none") == 0, "mode name 'none'");
        check(strstr(cg.advice, "no cgroup filesystem") != NULL, "advice says none is mounted");
        berth_free(mi);
        berth_free(sys);
    }

    /* 7. garbage lines are skipped */
    {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        sys = scene("garbage", "nonsense\n\n- - -\n" V1_LINES, "", NULL, &mi);
        r = berth_cgroups_probe_files(mi, sys, &cg, &err);
        check(r == 0 && cg.mode == BERTH_CGROUPS_V1, "malformed lines are ignored");
        berth_free(mi);
        berth_free(sys);
    }

    /* 8. unreadable mountinfo: an error naming the file */
    {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        BERTH_AUTO_FREE char *missing = berth_asprintf("%s/no-such-mountinfo", tmp);
        r = berth_cgroups_probe_files(missing, NULL, &cg, &err);
        check(r < 0 && err != NULL && err->errnum == ENOENT && strstr(err->msg, missing) != NULL,
              "missing mountinfo fails with ENOENT naming it: %s", err ? err->msg : "(none)");
    }

    /* 9. this node, whatever it is: the probe agrees with the kernel files */
    {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        r = berth_cgroups_probe(&cg, &err);
        check(r == 0, "probe of this node: %s, crun %s", berth_cgroups_mode_name(cg.mode),
              cg.crun_ok ? "works" : "refused");
        bool consistent = true;
        if (cg.unified_path[0] != '\0') {
            BERTH_AUTO_FREE char *p = berth_asprintf("%s/cgroup.controllers", cg.unified_path);
            FILE *f = fopen(p, "re");
            char line[256] = "";
            if (f != NULL) {
                if (fgets(line, sizeof(line), f) == NULL)
                    line[0] = '\0';
                fclose(f);
            }
            line[strcspn(line, "\n")] = '\0';
            consistent = strcmp(line, cg.v2_controllers) == 0;
        }
        check(consistent, "controllers match the kernel's: '%s'", cg.v2_controllers);
        check(cg.crun_ok == (cg.advice[0] == '\0'), "advice present exactly when crun is refused");
        if (!cg.crun_ok)
            printf("# %s\n", cg.advice);
    }

    /* ---- the usage reader ------------------------------------------------ */
    berth_cgroups_stats_t st;
    const char *cpuacct_line = "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup "
                               "rw,cpuacct\n";

    /* 10. v1 with cpuacct in its own hierarchy; the cpu one holds a decoy */
    {
        BERTH_AUTO_FREE char *mi = berth_asprintf(V1_LINES "%s", cpuacct_line);
        put("st-v1/mountinfo", mi);
        const char *d = "st-v1/sys/sys/fs/cgroup";
        const char *cg = "kubepods/podA/berth-1";
        putf("123456789\n", "%s/cpuacct/%s/cpuacct.usage", d, cg);
        putf("999\n", "%s/cpu/%s/cpuacct.usage", d, cg);
        putf("10485760\n", "%s/memory/%s/memory.usage_in_bytes", d, cg);
        putf("cache 8192\nrss 4096\ninactive_file 1\ntotal_cache 8192\n"
             "total_inactive_file 1048576\n",
             "%s/memory/%s/memory.stat", d, cg);
        r = stats_in("st-v1", "/kubepods/podA/berth-1", &st);
        check(r == 0 && st.have_cpu && st.cpu_ns == 123456789,
              "v1, cpuacct mounted alone: cpuacct.usage read, not the cpu hierarchy's (%llu)",
              (unsigned long long)st.cpu_ns);
        check(st.have_mem && st.mem_usage == 10485760, "v1 memory.usage_in_bytes read (%llu)",
              (unsigned long long)st.mem_usage);
        check(st.mem_working_set == 10485760 - 1048576,
              "v1 working set is usage less total_inactive_file (%llu)",
              (unsigned long long)st.mem_working_set);
        check(!st.have_rss && !st.have_faults && !st.have_limit && !st.have_pids,
              "v1 without total_rss or faults in memory.stat: none shown, nor limit or pids");
    }

    /* 10b. v1 asked for more: rss and faults from memory.stat, the limit
     * (none when page-rounded LLONG_MAX) and pids.current */
    {
        BERTH_AUTO_FREE char *mi = berth_asprintf(V1_LINES "%s", cpuacct_line);
        put("st-v1m/mountinfo", mi);
        const char *d = "st-v1m/sys/sys/fs/cgroup";
        const char *cg = "kubepods/podP";
        putf("5\n", "%s/cpuacct/%s/cpuacct.usage", d, cg);
        putf("4096\n", "%s/memory/%s/memory.usage_in_bytes", d, cg);
        putf("rss 1\ntotal_rss 2048\ntotal_pgfault 77\ntotal_pgmajfault 3\n",
             "%s/memory/%s/memory.stat", d, cg);
        putf("1048576\n", "%s/memory/%s/memory.limit_in_bytes", d, cg);
        putf("4\n", "%s/pids/%s/pids.current", d, cg);
        BERTH_AUTO_FREE char *mip = berth_asprintf("%s/st-v1m/mountinfo", tmp);
        BERTH_AUTO_FREE char *sys = berth_asprintf("%s/st-v1m/sys", tmp);
        berth_cgroups_reader_t *rd = berth_cgroups_reader_new_files(mip, sys, "/kubepods/podP");
        berth_cgroups_reader_want_more(rd);
        r = berth_cgroups_reader_read(rd, &st);
        check(r == 0 && st.have_rss && st.mem_rss == 2048 && st.have_faults && st.pgfault == 77 &&
                      st.pgmajfault == 3,
              "v1 total_rss and total_pgfault/total_pgmajfault, not rss (%llu %llu %llu)",
              (unsigned long long)st.mem_rss, (unsigned long long)st.pgfault,
              (unsigned long long)st.pgmajfault);
        check(st.have_limit && st.mem_limit == 1048576 && st.have_pids && st.pids == 4,
              "v1 memory.limit_in_bytes and pids.current (%llu, %llu)",
              (unsigned long long)st.mem_limit, (unsigned long long)st.pids);
        putf("9223372036854771712\n", "%s/memory/%s/memory.limit_in_bytes", d, cg);
        r = berth_cgroups_reader_read(rd, &st);
        ok(r == 0 && !st.have_limit, "v1 unlimited (page-rounded LLONG_MAX): no limit shown");
        berth_cgroups_reader_unref(rd);
    }

    /* 11. v1 co-mounted cpu,cpuacct and memory elsewhere: memory at an escaped
     * mount point, after a bind mount of a subtree that must not be used */
    {
        put("st-comount/mountinfo",
            "31 23 0:28 / /cg rw,relatime - tmpfs tmpfs rw,mode=755\n"
            "32 31 0:29 / /cg/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
            "60 31 0:32 /kubepods /mnt/ctr-memory rw,relatime - cgroup cgroup rw,memory\n"
            "35 31 0:32 / /cg/mem\\040ory rw,relatime - cgroup cgroup rw,memory\n"
            "39 31 0:36 / /cg/pids rw,relatime - cgroup cgroup rw,pids\n");
        const char *cg = "kubepods/podB/berth-2";
        putf("42\n", "st-comount/sys/cg/cpu,cpuacct/%s/cpuacct.usage", cg);
        putf("4096\n", "st-comount/sys/cg/mem ory/%s/memory.usage_in_bytes", cg);
        putf("total_inactive_file 1024\n", "st-comount/sys/cg/mem ory/%s/memory.stat", cg);
        putf("7\n", "st-comount/sys/mnt/ctr-memory/%s/memory.usage_in_bytes", cg);
        r = stats_in("st-comount", "/kubepods/podB/berth-2", &st);
        check(r == 0 && st.have_cpu && st.cpu_ns == 42,
              "co-mounted cpu,cpuacct at /cg/cpu,cpuacct read (%llu)",
              (unsigned long long)st.cpu_ns);
        check(st.have_mem && st.mem_usage == 4096 && st.mem_working_set == 3072,
              "memory at '/cg/mem ory' (\\040 decoded), the hierarchy's root mount preferred "
              "to a subtree's (%llu, %llu)",
              (unsigned long long)st.mem_usage, (unsigned long long)st.mem_working_set);
    }

    /* 12. hybrid: v1 first; cgroup2 at .../unified, never the tmpfs above it */
    {
        BERTH_AUTO_FREE char *mi = berth_asprintf(V1_LINES "%s" UNIFIED_LINE, cpuacct_line);
        put("st-hybrid/mountinfo", mi);
        const char *d = "st-hybrid/sys/sys/fs/cgroup";
        putf("5000\n", "%s/cpuacct/kubepods/podC/berth-3/cpuacct.usage", d);
        putf("usage_usec 77\n", "%s/unified/kubepods/podC/berth-3/cpu.stat", d);
        putf("2048\n", "%s/memory/kubepods/podC/berth-3/memory.usage_in_bytes", d);
        putf("usage_usec 7\nuser_usec 5\nsystem_usec 2\n",
             "%s/unified/kubepods/podC/berth-4/cpu.stat", d);
        putf("123\n", "%s/kubepods/podC/berth-4/memory.current", d);
        r = stats_in("st-hybrid", "/kubepods/podC/berth-3", &st);
        check(r == 0 && st.have_cpu && st.cpu_ns == 5000,
              "hybrid: v1 cpuacct.usage taken before cgroup2's cpu.stat (%llu)",
              (unsigned long long)st.cpu_ns);
        check(st.have_mem && st.mem_usage == 2048 && st.mem_working_set == 2048,
              "no memory.stat: nothing subtracted from the usage (%llu)",
              (unsigned long long)st.mem_working_set);
        r = stats_in("st-hybrid", "/kubepods/podC/berth-4", &st);
        check(r == 0 && st.have_cpu && st.cpu_ns == 7000,
              "hybrid, cgroup only in cgroup2 at /sys/fs/cgroup/unified: usage_usec * 1000 (%llu)",
              (unsigned long long)st.cpu_ns);
        check(!st.have_mem && st.mem_usage == 0,
              "no memory figure: memory.current under the tmpfs at /sys/fs/cgroup is not read");
    }

    /* 13. pure cgroup v2 */
    {
        put("st-v2/mountinfo", "30 23 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - "
                               "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n");
        const char *d = "st-v2/sys/sys/fs/cgroup/kubepods/podD";
        putf("usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n", "%s/berth-5/cpu.stat", d);
        putf("8192000\n", "%s/berth-5/memory.current", d);
        putf("anon 4096\nfile 8000\nactive_file 100000\ninactive_file 192000\n"
             "workingset_refault_anon 0\n",
             "%s/berth-5/memory.stat", d);
        putf("1000\n", "%s/berth-6/memory.current", d);
        putf("100\n", "%s/berth-9/memory.current", d);
        putf("inactive_file 100\n", "%s/berth-9/memory.stat", d);
        r = stats_in("st-v2", "/kubepods/podD/berth-5", &st);
        check(r == 0 && st.have_cpu && st.cpu_ns == 2500000, "v2 cpu.stat usage_usec * 1000 (%llu)",
              (unsigned long long)st.cpu_ns);
        check(st.have_mem && st.mem_usage == 8192000 && st.mem_working_set == 8000000,
              "v2 memory.current less inactive_file, not active_file (%llu, %llu)",
              (unsigned long long)st.mem_usage, (unsigned long long)st.mem_working_set);
        check(st.have_rss && st.mem_rss == 4096 && !st.have_faults,
              "v2 rss is anon; no pgfault line, no faults");
        putf("max\n", "%s/berth-5/memory.max", d);
        putf("2\n", "%s/berth-5/pids.current", d);
        putf("anon 1\npgfault 10\npgmajfault 1\n", "%s/berth-6/memory.stat", d);
        putf("65536\n", "%s/berth-6/memory.max", d);
        BERTH_AUTO_FREE char *mip = berth_asprintf("%s/st-v2/mountinfo", tmp);
        BERTH_AUTO_FREE char *sys = berth_asprintf("%s/st-v2/sys", tmp);
        berth_cgroups_reader_t *rd =
                berth_cgroups_reader_new_files(mip, sys, "/kubepods/podD/berth-5");
        berth_cgroups_reader_want_more(rd);
        r = berth_cgroups_reader_read(rd, &st);
        check(r == 0 && !st.have_limit && st.have_pids && st.pids == 2,
              "v2 memory.max \"max\": no limit; pids.current read (%llu)",
              (unsigned long long)st.pids);
        berth_cgroups_reader_unref(rd);
        rd = berth_cgroups_reader_new_files(mip, sys, "/kubepods/podD/berth-6");
        berth_cgroups_reader_want_more(rd);
        r = berth_cgroups_reader_read(rd, &st);
        check(r == 0 && st.have_limit && st.mem_limit == 65536 && st.have_faults &&
                      st.pgfault == 10 && st.pgmajfault == 1 && !st.have_pids,
              "v2 memory.max, pgfault and pgmajfault; no pids.current, no pids");
        berth_cgroups_reader_unref(rd);
    }

    /* 14. missing files, bad paths, no hierarchy */
    {
        r = stats_in("st-v2", "/kubepods/podD/gone", &st);
        check(r == -1 && !st.have_cpu && !st.have_mem && st.cpu_ns == 0 && st.mem_usage == 0 &&
                      st.mem_working_set == 0,
              "a cgroup that does not exist: -1, nothing set");
        r = stats_in("st-v2", "/kubepods/podD/berth-6", &st);
        check(r == 0 && !st.have_cpu && st.have_mem && st.mem_working_set == 1000,
              "only memory.current: memory without CPU, working set = usage");
        put("st-v1/sys/sys/fs/cgroup/cpuacct/kubepods/podA/berth-7/cpuacct.usage", "11\n");
        r = stats_in("st-v1", "/kubepods/podA/berth-7", &st);
        check(r == 0 && st.have_cpu && st.cpu_ns == 11 && !st.have_mem && st.mem_usage == 0,
              "only cpuacct.usage: CPU without memory");
        bool bad = stats_in("st-v2", "", &st) == -1 && !st.have_cpu &&
                   stats_in("st-v2", "kubepods/podD/berth-5", &st) == -1 && !st.have_cpu &&
                   stats_in("st-v2", "kubepods.slice:berth:5", &st) == -1;
        check(bad, "an empty, relative or systemd-style path reads nothing");
        put("st-none/mountinfo", "22 1 0:21 / /proc rw - proc proc rw\n");
        r = stats_in("st-none", "/kubepods/podD/berth-5", &st);
        check(r == -1 && !st.have_cpu && !st.have_mem, "no cgroup mounted: -1");
        BERTH_AUTO_FREE char *missing = berth_asprintf("%s/no-such-mountinfo", tmp);
        r = berth_cgroups_stats_read_files(missing, NULL, "/", &st);
        check(r == -1 && !st.have_cpu && !st.have_mem, "unreadable mountinfo: -1");
    }

    /* 15. the working set never goes below 0 */
    {
        const char *d = "st-v1/sys/sys/fs/cgroup/memory/kubepods/podA/berth-8";
        putf("4096\n", "%s/memory.usage_in_bytes", d);
        putf("total_inactive_file 8192\n", "%s/memory.stat", d);
        r = stats_in("st-v1", "/kubepods/podA/berth-8", &st);
        check(r == 0 && st.have_mem && st.mem_usage == 4096 && st.mem_working_set == 0,
              "v1: inactive file cache above the usage gives a working set of 0 (%llu)",
              (unsigned long long)st.mem_working_set);
        r = stats_in("st-v2", "/kubepods/podD/berth-9", &st);
        check(r == 0 && st.have_mem && st.mem_usage == 100 && st.mem_working_set == 0,
              "v2: inactive file cache equal to the usage gives 0 (%llu)",
              (unsigned long long)st.mem_working_set);
    }

    /* 16. this process's own cgroup, through the cached layout */
    {
        BERTH_AUTO_FREE char *own = own_cgroup();
        char cpuacct[1024], unified[1024];
        own_mount("cpuacct", cpuacct, sizeof(cpuacct));
        own_mount(NULL, unified, sizeof(unified));
        bool have = false;
        if (own != NULL && own[0] == '/') {
            BERTH_AUTO_FREE char *v1 = berth_asprintf("%s%s/cpuacct.usage", cpuacct, own);
            BERTH_AUTO_FREE char *v2 = berth_asprintf("%s%s/cpu.stat", unified, own);
            have = (cpuacct[0] != '\0' && access(v1, R_OK) == 0) ||
                   (unified[0] != '\0' && access(v2, R_OK) == 0);
        }
        if (!have) {
            BERTH_AUTO_FREE char *why = berth_asprintf(
                    "no cpuacct.usage or cpu.stat for this process's cgroup '%s' (cpuacct at "
                    "'%s', cgroup2 at '%s')",
                    own ? own : "(unknown)", cpuacct, unified);
            skip("own cgroup read", why);
            skip("own cgroup read again", why);
        } else {
            berth_cgroups_stats_t again;
            r = berth_cgroups_stats_read(own, &st);
            check(r == 0 && st.have_cpu && st.cpu_ns > 0,
                  "own cgroup %s: cpu %llu ns, memory %s %llu (working set %llu)", own,
                  (unsigned long long)st.cpu_ns, st.have_mem ? "read" : "not read",
                  (unsigned long long)st.mem_usage, (unsigned long long)st.mem_working_set);
            int r2 = berth_cgroups_stats_read(own, &again);
            check(r2 == 0 && again.have_cpu && again.cpu_ns >= st.cpu_ns,
                  "a second read (cached hierarchies) does not go back (%llu)",
                  (unsigned long long)again.cpu_ns);
        }
    }

    /* 17. a reader kept across reads: its files, once open, are read again
     * from the start (new figures, no reopen); a cgroup made after the
     * reader is found by a later read */
    {
        BERTH_AUTO_FREE char *mi = berth_asprintf("%s/st-v1/mountinfo", tmp);
        BERTH_AUTO_FREE char *sys = berth_asprintf("%s/st-v1/sys", tmp);
        const char *d = "st-v1/sys/sys/fs/cgroup";
        berth_cgroups_reader_t *rd =
                berth_cgroups_reader_new_files(mi, sys, "/kubepods/podE/berth-10");
        r = rd ? berth_cgroups_reader_read(rd, &st) : -2;
        check(r == -1 && !st.have_cpu && !st.have_mem, "a reader before its cgroup exists: -1");
        putf("1000\n", "%s/cpuacct/kubepods/podE/berth-10/cpuacct.usage", d);
        putf("5000\n", "%s/memory/kubepods/podE/berth-10/memory.usage_in_bytes", d);
        putf("cache 1\ntotal_inactive_file 1000\n", "%s/memory/kubepods/podE/berth-10/memory.stat",
             d);
        r = rd ? berth_cgroups_reader_read(rd, &st) : -2;
        check(r == 0 && st.cpu_ns == 1000 && st.mem_working_set == 4000,
              "the same reader once the cgroup exists (%llu, %llu)", (unsigned long long)st.cpu_ns,
              (unsigned long long)st.mem_working_set);
        putf("123456789012\n", "%s/cpuacct/kubepods/podE/berth-10/cpuacct.usage", d);
        putf("9000\n", "%s/memory/kubepods/podE/berth-10/memory.usage_in_bytes", d);
        putf("total_inactive_file 500\n", "%s/memory/kubepods/podE/berth-10/memory.stat", d);
        r = rd ? berth_cgroups_reader_read(rd, &st) : -2;
        check(r == 0 && st.cpu_ns == 123456789012ull && st.mem_usage == 9000 &&
                      st.mem_working_set == 8500,
              "read again: the new contents, a longer number too (%llu, %llu)",
              (unsigned long long)st.cpu_ns, (unsigned long long)st.mem_working_set);
        berth_cgroups_reader_ref(rd);
        berth_cgroups_reader_unref(rd);
        r = rd ? berth_cgroups_reader_read(rd, &st) : -2;
        check(r == 0 && st.cpu_ns == 123456789012ull, "a reference dropped leaves the reader");
        berth_cgroups_reader_unref(rd);
        check(berth_cgroups_reader_new_files(mi, sys, "kubepods/rel") == NULL,
              "no reader for a relative path");
    }

    /* 18. the full figures from the fixtures of a v1 node and of a v2 node
     * (tests/fixtures/cgroups): the same container on both */
    {
        static const char *const vers[] = {"v1", "v2"};
        for (int v = 0; v < 2; v++) {
            const char *ver = vers[v];
            BERTH_AUTO_FREE char *mi =
                    berth_asprintf("%s/%s/mountinfo", BERTH_CGROUPS_FIXTURES, ver);
            BERTH_AUTO_FREE char *sys = berth_asprintf("%s/%s", BERTH_CGROUPS_FIXTURES, ver);
            berth_cgroups_reader_t *rd =
                    berth_cgroups_reader_new_files(mi, sys, "/kubepods/burstable/pod11/ctr1");
            berth_cgroups_reader_want_more(rd);
            r = rd ? berth_cgroups_reader_read(rd, &st) : -2;
            check(r == 0 && st.v2 == (v == 1) && st.have_cpu && st.cpu_ns == 3000000000ull &&
                          st.have_mem && st.mem_usage == 155267072 &&
                          st.mem_working_set == 155267072 - 97157120,
                  "%s fixture: usage and working set (%llu, %llu)", ver,
                  (unsigned long long)st.cpu_ns, (unsigned long long)st.mem_working_set);
            check(st.have_cpu_split && st.cpu_user_ns == 2000000000ull &&
                          st.cpu_sys_ns == 1000000000ull,
                  "%s fixture: user and system CPU (%llu, %llu)", ver,
                  (unsigned long long)st.cpu_user_ns, (unsigned long long)st.cpu_sys_ns);
            check(st.have_throttle && st.cfs_periods == 500 && st.cfs_throttled == 20 &&
                          st.cfs_throttled_ns == 1500000000ull,
                  "%s fixture: CFS periods, throttled periods and time", ver);
            check(st.have_cpu_spec && st.cpu_quota_us == 50000 && st.cpu_period_us == 100000 &&
                          (v == 0 ? st.cpu_shares == 512
                                  : st.cpu_shares >= 500 && st.cpu_shares <= 530),
                  "%s fixture: shares %llu (v2 from cpu.weight 20), quota and period", ver,
                  (unsigned long long)st.cpu_shares);
            check(st.have_rss && st.mem_rss == 15851520 && st.have_faults &&
                          st.pgfault == 1775724 && st.pgmajfault == 16 && st.have_cache &&
                          st.mem_cache == 132435968 && st.mem_mapped_file == 4096,
                  "%s fixture: rss, faults, cache and mapped files", ver);
            check(st.have_limit && st.mem_limit == 268435456 && st.have_pids && st.pids == 3,
                  "%s fixture: memory limit and pids", ver);
            check(st.have_swap && st.swap_usage == 2097152 && st.have_swap_limit &&
                          st.swap_limit == 268435456,
                  "%s fixture: swap used and its limit (%llu, %llu)", ver,
                  (unsigned long long)st.swap_usage, (unsigned long long)st.swap_limit);
            check(st.have_failcnt && st.failcnt == 7 && st.have_oom && st.oom_kills == 2,
                  "%s fixture: failcnt and OOM kills", ver);
            const berth_cgroups_blkdev_t *d0 = &st.blkdevs[0], *d1 = &st.blkdevs[1];
            check(st.have_io && st.n_blkdevs == 2 && d0->rbytes == 1048576 &&
                          d0->wbytes == 2097152 && d0->rios == 256 && d0->wios == 512 &&
                          strcmp(d0->name, v == 0 ? "/dev/vda" : "/dev/sda") == 0 &&
                          d1->rbytes == 4096 && d1->rios == 1 && strcmp(d1->name, "7:0") == 0,
                  "%s fixture: I/O per device, named from /sys/dev/block (%s, %s)", ver, d0->name,
                  d1->name);
            check(st.have_kmem && st.kmem == 1048576 && st.have_max_usage &&
                          st.max_usage == 200000000,
                  "%s fixture: kernel memory (v2: memory.stat kernel) and peak usage (%llu)", ver,
                  (unsigned long long)st.kmem);
            check(st.have_reservation && st.mem_reservation == (v == 0 ? 0 : 67108864),
                  "%s fixture: reservation (v1 soft limit unset: 0; v2 memory.low)", ver);
            check(st.have_threads && st.threads == 3 && st.threads_max == 1024 && st.have_fds &&
                          st.fds == 4 && st.sockets == 2,
                  "%s fixture: threads, pids.max, descriptors and sockets of cgroup.procs "
                  "(%llu %llu %llu)",
                  ver, (unsigned long long)st.threads, (unsigned long long)st.fds,
                  (unsigned long long)st.sockets);
            if (v == 0) {
                check(!st.have_psi[0] && !st.have_psi[1] && !st.have_psi[2],
                      "v1 fixture: no pressure figures");
            } else {
                const berth_cgroups_psi_t *c = &st.psi[BERTH_CGROUPS_PSI_CPU];
                const berth_cgroups_psi_t *io = &st.psi[BERTH_CGROUPS_PSI_IO];
                check(st.have_psi[0] && st.have_psi[1] && st.have_psi[2] &&
                              c->some.total_us == 123456 && c->some.avg10 == 1.5 &&
                              c->some.avg60 == 0.75 && c->some.avg300 == 0.25 && c->have_full &&
                              c->full.total_us == 23456 && io->full.avg10 == 1.0 &&
                              st.psi[BERTH_CGROUPS_PSI_MEMORY].full.total_us == 500,
                      "v2 fixture: cpu, memory and io pressure, some and full");
            }
            berth_cgroups_reader_unref(rd);
        }
    }

    /* 19. v2 without PSI, swap accounting or the io controller: those
     * figures are absent, and the files are not tried again once the
     * cgroup was read (a file that shows up later is not seen) */
    {
        const char *d = "st-v2/sys/sys/fs/cgroup/kubepods/podF/berth-11";
        putf("usage_usec 10\n", "%s/cpu.stat", d);
        putf("4096\n", "%s/memory.current", d);
        putf("max\n", "%s/memory.max", d);
        putf("39\n", "%s/cpu.weight", d);
        putf("max 100000\n", "%s/cpu.max", d);
        BERTH_AUTO_FREE char *mip = berth_asprintf("%s/st-v2/mountinfo", tmp);
        BERTH_AUTO_FREE char *sys = berth_asprintf("%s/st-v2/sys", tmp);
        berth_cgroups_reader_t *rd =
                berth_cgroups_reader_new_files(mip, sys, "/kubepods/podF/berth-11");
        berth_cgroups_reader_want_more(rd);
        r = berth_cgroups_reader_read(rd, &st);
        check(r == 0 && !st.have_psi[0] && !st.have_psi[1] && !st.have_psi[2] && !st.have_swap &&
                      !st.have_io && !st.have_limit && !st.have_cpu_split && !st.have_throttle,
              "v2 without pressure, swap, io or limit files: none shown");
        /* runc writes 1024 shares as weight 39; the way back rounds */
        check(st.have_cpu_spec && st.cpu_shares >= 999 && st.cpu_shares <= 1024 &&
                      st.cpu_quota_us == 0 && st.cpu_period_us == 100000,
              "cpu.weight 39 is about 1024 shares; cpu.max \"max\" is no quota (%llu)",
              (unsigned long long)st.cpu_shares);
        putf("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n", "%s/cpu.pressure", d);
        r = berth_cgroups_reader_read(rd, &st);
        check(r == 0 && !st.have_psi[0], "a file found missing once is not tried again");
        berth_cgroups_reader_unref(rd);
        /* a reader made before its cgroup: the optional files are tried
         * once the cgroup is there */
        rd = berth_cgroups_reader_new_files(mip, sys, "/kubepods/podF/berth-12");
        berth_cgroups_reader_want_more(rd);
        r = berth_cgroups_reader_read(rd, &st);
        check(r == -1, "no cgroup yet: -1");
        const char *d2 = "st-v2/sys/sys/fs/cgroup/kubepods/podF/berth-12";
        putf("usage_usec 10\n", "%s/cpu.stat", d2);
        putf("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n", "%s/cpu.pressure", d2);
        r = berth_cgroups_reader_read(rd, &st);
        check(r == 0 && st.have_psi[0] && !st.psi[0].have_full && st.psi[0].some.total_us == 5,
              "files missing before the cgroup was made are read once it is; no full line, "
              "no full figures");
        berth_cgroups_reader_unref(rd);
    }

    /* 20. the parsers on odd input */
    {
        berth_cgroups_psi_t psi;
        check(!berth_cgroups_parse_psi("", &psi) && !berth_cgroups_parse_psi("full avg10=1", &psi),
              "psi: empty or no some line: nothing");
        berth_cgroups_blkdev_t devs[2];
        size_t n =
                berth_cgroups_parse_io_stat("8:0 rbytes=1\n8:16 wbytes=2\n9:0 rbytes=3\n", devs, 2);
        check(n == 2 && devs[0].rbytes == 1 && devs[1].wbytes == 2,
              "io.stat: devices past the cap are dropped");
        n = berth_cgroups_parse_blkio("Total 0\n", NULL, devs, 2);
        check(n == 0, "blkio with no device: none");
    }

    nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
