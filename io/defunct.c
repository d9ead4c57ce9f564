/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counting zombies (see defunct.h): one openat and one read of at most 512
 * bytes per process, relative to a descriptor of /proc, so each costs a few
 * microseconds and no path is built from the root.
 */
#include "io/defunct.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/alloc.h"

bool berth_defunct_stat_is_zombie(const char *text, size_t len)
{
    const char *close = NULL;
    for (size_t i = len; i > 0; i--) {
        if (text[i - 1] == ')') {
            close = text + i - 1;
            break;
        }
    }
    /* ") S ...": the state is two bytes after the parenthesis */
    if (close == NULL || (size_t)(close - text) + 2 >= len)
        return false;
    return close[1] == ' ' && close[2] == 'Z';
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

long berth_defunct_count(const char *proc_root, size_t *seen, berth_err_t *err)
{
    DIR *d = opendir(proc_root);
    if (d == NULL)
        return berth_err_errno(err, errno, "list the processes in %s", proc_root);
    int dfd = dirfd(d);
    long zombies = 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!all_digits(de->d_name))
            continue;
        char rel[300];
        snprintf(rel, sizeof(rel), "%s/stat", de->d_name);
        int fd = openat(dfd, rel, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* gone since the listing */
        /* The command is at most 64 bytes, so the state lies well within
         * 512; the fields after it are numbers, with no ')' to mislead. */
        char buf[512];
        ssize_t got = read(fd, buf, sizeof(buf));
        close(fd);
        if (got <= 0)
            continue;
        n++;
        if (berth_defunct_stat_is_zombie(buf, (size_t)got))
            zombies++;
    }
    closedir(d);
    if (seen != NULL)
        *seen = n;
    return zombies;
}
