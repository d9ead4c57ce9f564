/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup layout probe (see cgroups.h). Only reads; the advice it builds
 * is for the operator, berth itself never remounts cgroups.
 */
#include "io/cgroups.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"

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

int berth_cgroups_probe(berth_cgroups_info_t *out, berth_err_t *err)
{
    return berth_cgroups_probe_files("/proc/self/mountinfo", NULL, out, err);
}

int berth_cgroups_probe_files(const char *mountinfo_path, const char *sysroot,
                              berth_cgroups_info_t *out, berth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (sysroot == NULL)
        sysroot = "";
    FILE *f = fopen(mountinfo_path, "re");
    if (f == NULL)
        return berth_err_errno(err, errno, "cgroups probe: open %s", mountinfo_path);
    bool v1 = false, v2 = false, v2_root = false;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        /* "id parent maj:min root mountpoint opts [optional...] - fstype source superopts" */
        char *sep = strstr(line, " - ");
        if (sep == NULL)
            continue;
        char mnt[256] = "", fstype[32] = "";
        if (sscanf(line, "%*s %*s %*s %*s %255s", mnt) != 1 || sscanf(sep + 3, "%31s", fstype) != 1)
            continue;
        if (strcmp(fstype, "cgroup") == 0) {
            v1 = true;
        } else if (strcmp(fstype, "cgroup2") == 0) {
            v2 = true;
            copy_field(out->unified_path, sizeof(out->unified_path), mnt);
            if (strcmp(mnt, "/sys/fs/cgroup") == 0)
                v2_root = true;
        }
    }
    free(line); /* getline's buffer comes from libc malloc */
    fclose(f);

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
