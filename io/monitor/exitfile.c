/* SPDX-License-Identifier: Apache-2.0 */
/* Exit and OOM files of a container. See exitfile.h. */
#include "io/monitor/exitfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The memory cgroup directory of a live process (v1 memory, else v2). */
char *berth_mon_memory_cgroup(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char line[4096], *v1 = NULL, *v2 = NULL;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *a = strchr(line, ':');
        char *b = a ? strchr(a + 1, ':') : NULL;
        if (b == NULL)
            continue;
        *b = '\0';
        const char *ctrls = a + 1, *rel = b + 1;
        if (strcmp(line, "0") == 0 && ctrls[0] == '\0' && v2 == NULL) {
            if (asprintf(&v2, "/sys/fs/cgroup%s", rel) < 0)
                v2 = NULL;
        } else {
            for (const char *p = ctrls; p && *p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                if (len == 6 && strncmp(p, "memory", 6) == 0 && v1 == NULL &&
                    asprintf(&v1, "/sys/fs/cgroup/%s%s", ctrls, rel) < 0)
                    v1 = NULL;
                p = comma ? comma + 1 : NULL;
            }
        }
    }
    fclose(f);
    if (v1 != NULL) {
        free(v2);
        return v1;
    }
    return v2;
}

/* The kernel's count of OOM kills in the cgroup (v2 memory.events, v1
 * memory.oom_control since 4.13). */
long berth_mon_oom_kills(const char *cgroup)
{
    if (cgroup == NULL)
        return 0;
    const char *files[] = {"memory.events", "memory.oom_control"};
    for (size_t i = 0; i < 2; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", cgroup, files[i]);
        FILE *f = fopen(path, "re");
        if (f == NULL)
            continue;
        char key[64];
        long v;
        long found = 0;
        while (fscanf(f, "%63s %ld", key, &v) == 2)
            if (strcmp(key, "oom_kill") == 0)
                found = v;
        fclose(f);
        return found;
    }
    return 0;
}

int berth_mon_write_atomic(const char *dir, const char *name, const char *text)
{
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    /* fsync: an exit code is the one fact about a container nobody can
     * find again after a node crash. */
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    close(fd);
    return rename(tmp, path);
}

int berth_mon_record_exit(const char *exit_dir, const char *persist_dir, const char *cid, int code,
                          const char *cgroup, const char **what)
{
    if (berth_mon_oom_kills(cgroup) > 0 && berth_mon_write_atomic(persist_dir, "oom", "") < 0) {
        *what = "oom file";
        return -1;
    }
    char text[16];
    snprintf(text, sizeof(text), "%d", code);
    if (berth_mon_write_atomic(exit_dir, cid, text) < 0) {
        *what = "exit file";
        return -1;
    }
    return 0;
}
