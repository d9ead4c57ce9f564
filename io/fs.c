// SPDX-License-Identifier: Apache-2.0
/*
 * Blocking filesystem helpers for pool jobs (see io/fs.h). Nothing here
 * keeps state; every function is safe from any thread that may block.
 */
#include "io/fs.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"

int berth_fs_mkdir_p(const char *path, mode_t mode, berth_err_t *err)
{
    BERTH_AUTO_FREE char *p = berth_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return berth_err_errno(err, errno, "cannot create directory %s", p);
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return berth_err_errno(err, errno, "cannot create directory %s", p);
    return 0;
}

int berth_fs_unlink(const char *path, const char *what, berth_err_t *err)
{
    if (unlink(path) < 0 && errno != ENOENT)
        return berth_err_errno(err, errno, "cannot remove the %s %s", what, path);
    return 0;
}

int berth_fs_mkdir_parent(const char *path, mode_t mode, berth_err_t *err)
{
    BERTH_AUTO_FREE char *dir = berth_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    if (mkdir(dir, mode) < 0 && errno != EEXIST)
        return berth_err_errno(err, errno, "cannot create the directory %s", dir);
    return 0;
}

char *berth_fs_find_in(const char *const *dirs, const char *name)
{
    for (size_t i = 0; dirs && dirs[i]; i++) {
        char *p = berth_asprintf("%s/%s", dirs[i], name);
        if (access(p, X_OK) == 0)
            return p;
        berth_free(p);
    }
    return NULL;
}

char *berth_fs_find_exec(const char *name)
{
    if (name[0] == '/')
        return access(name, X_OK) == 0 ? berth_strdup(name) : NULL;
    static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                                       "/sbin",           "/bin",           NULL};
    return berth_fs_find_in(dirs, name);
}

char **berth_fs_list_names(const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    char **v = berth_calloc(1, sizeof(char *));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        v = berth_realloc(v, (*n + 2) * sizeof(char *));
        v[(*n)++] = berth_strdup(de->d_name);
        v[*n] = NULL;
    }
    closedir(d);
    return v;
}

int berth_fs_read_fd(int fd, const char *what, size_t max, int too_big, char **out, size_t *len,
                     berth_err_t *err)
{
    size_t n = 0, cap = max + 1 < 8192 ? max + 1 : 8192;
    char *buf = berth_malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            /* Room for one byte past max tells a file of exactly max bytes
             * from a longer one. */
            if (cap > max) {
                berth_free(buf);
                return berth_err_make(err, EFBIG, too_big, "%s is larger than %zu bytes", what,
                                      max);
            }
            cap = cap * 2 < max + 1 ? cap * 2 : max + 1;
            buf = berth_realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            berth_free(buf);
            return berth_err_errno(err, e, "cannot read %s", what);
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

int berth_fs_read_small(const char *path, size_t max, char **out, berth_err_t *err)
{
    BERTH_AUTO_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return berth_err_errno(err, errno, "cannot open %s", path);
    return berth_fs_read_fd(fd, path, max, BERTH_ERR_EXHAUSTED, out, NULL, err);
}

static int remove_at(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -1 : 0;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -1;
    }
    int ret = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (remove_at(dirfd(d), de->d_name) < 0)
            ret = -1;
    }
    closedir(d);
    if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        ret = -1;
    return ret;
}

int berth_fs_remove_tree(const char *path)
{
    return remove_at(AT_FDCWD, path);
}

void berth_fs_load_records(const char *dir, const char *what, json_t ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", dir, de->d_name);
        json_error_t jerr;
        json_t *rec = json_load_file(path, 0, &jerr);
        if (rec == NULL) {
            berth_log_error("unreadable record skipped", "what=%s path=%s error=\"%s\"", what, path,
                            jerr.text);
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            *out = berth_realloc(*out, cap * sizeof(json_t *));
        }
        (*out)[(*n)++] = rec;
    }
    closedir(d);
}

void berth_fs_sweep_partial_records(const char *dir, const char *what)
{
    size_t n = 0;
    char **names = berth_fs_list_names(dir, &n);
    for (size_t i = 0; names && i < n; i++) {
        size_t l = strlen(names[i]);
        bool staged = l > 12 && strcmp(names[i] + l - 12, ".json.staged") == 0;
        if (!staged && strstr(names[i], ".json.tmp.") == NULL)
            continue;
        BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", dir, names[i]);
        berth_log_info("removing a partly written record", "kind=%s path=%s", what, p);
        berth_fs_unlink(p, "partly written record", NULL);
    }
    berth_strv_free(names);
}

void berth_fs_records_free(json_t **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        if (v[i])
            json_decref(v[i]);
    }
    berth_free(v);
}
