/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/cgroups: the layout probe on made-up mountinfo files and cgroup2 roots
 * (v1, v2, hybrid with controllers left in cgroup2, hybrid after the node
 * preparation, nothing mounted, several controllers) and on this node.
 * Touches no real mount.
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

static int ntest, nfail;
static char tmp[] = "/tmp/berth-cgroups-test-XXXXXX";

static void check(bool cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%sok %d - ", cond ? "" : "not ", ++ntest);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!cond)
        nfail++;
    fflush(stdout);
}

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
    printf("1..26\n");
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

    nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return nfail ? 1 : 0;
}
