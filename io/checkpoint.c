// SPDX-License-Identifier: Apache-2.0
/*
 * The checkpoint archive writer of io/checkpoint.h, on libarchive. Trees are
 * walked under their parent's fd with O_NOFOLLOW at every level, so a
 * symlink a container planted in its upper directory is archived as a
 * symlink and never followed out of the tree. Blocks: pool only.
 */
#include "io/checkpoint.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "engine/alloc.h"

int berth_checkpoint_check_location(const char *location, berth_err_t *err)
{
    const char *loc = location ? location : "";
    size_t n = strlen(loc);
    bool bad = loc[0] != '/' || n < 6 || strcmp(loc + n - 4, ".tar") != 0 || loc[n - 5] == '/' ||
               strchr(loc, '\n') != NULL;
    /* "." and ".." components: a path that says where it goes, no more */
    for (const char *p = loc; !bad && (p = strchr(p, '/')) != NULL; p++)
        bad = strncmp(p, "/./", 3) == 0 || strncmp(p, "/../", 4) == 0;
    if (bad)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "location \"%s\" is not an absolute path of a .tar file (the "
                              "archive to write, such as /var/lib/kubelet/checkpoints/x.tar)",
                              loc);
    return 0;
}

/* ---- writing members ------------------------------------------------------------------------ */

typedef struct writer {
    struct archive *a;
    const char *what; /* the archive's name in errors */
} writer_t;

static int arc_fail(writer_t *w, berth_err_t *err, const char *member)
{
    int e = archive_errno(w->a);
    return berth_err_make(err, e > 0 ? e : EIO, BERTH_ERR_INTERNAL, "cannot write %s into %s: %s",
                          member, w->what, archive_error_string(w->a) ?: "libarchive failed");
}

static int put_header(writer_t *w, const char *name, const struct stat *st, const char *link,
                      berth_err_t *err)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_copy_pathname(e, name);
    archive_entry_copy_stat(e, st);
    if (link)
        archive_entry_copy_symlink(e, link);
    if (!S_ISREG(st->st_mode))
        archive_entry_set_size(e, 0);
    int rc = archive_write_header(w->a, e);
    archive_entry_free(e);
    return rc < ARCHIVE_WARN ? arc_fail(w, err, name) : 0;
}

static int put_data_fd(writer_t *w, int fd, const char *name, berth_err_t *err)
{
    char buf[64 * 1024];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return berth_err_errno(err, errno, "cannot read %s", name);
        if (n == 0)
            return 0;
        if (archive_write_data(w->a, buf, (size_t)n) < 0)
            return arc_fail(w, err, name);
    }
}

/* A member from memory. */
static int put_text(writer_t *w, const char *name, const char *text, berth_err_t *err)
{
    struct stat st = {0};
    st.st_mode = S_IFREG | 0600;
    st.st_size = (off_t)strlen(text);
    st.st_mtime = time(NULL);
    if (put_header(w, name, &st, NULL, err) < 0)
        return -1;
    if (st.st_size > 0 && archive_write_data(w->a, text, (size_t)st.st_size) < 0)
        return arc_fail(w, err, name);
    return 0;
}

/* A regular file from the disk as member `name`; missing is fine when optional. */
static int put_file(writer_t *w, const char *name, const char *path, bool optional,
                    berth_err_t *err)
{
    BERTH_AUTO_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && optional)
        return 0;
    if (fd < 0)
        return berth_err_errno(err, errno, "cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return berth_err_errno(err, errno, "cannot stat %s", path);
    if (!S_ISREG(st.st_mode))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s is not a regular file", path);
    if (put_header(w, name, &st, NULL, err) < 0)
        return -1;
    return put_data_fd(w, fd, path, err);
}

/* ---- trees ---------------------------------------------------------------------------------- */

typedef struct tree {
    writer_t *w;
    /* the root filesystem diff: whiteouts collected, mount points skipped */
    bool diff;
    json_t *deleted;
    const char *const *skip;
    size_t n_skip;
} tree_t;

static bool skipped(const tree_t *t, const char *rel)
{
    for (size_t i = 0; i < t->n_skip; i++) {
        const char *s = t->skip[i];
        if (s && s[0] == '/' && strcmp(s + 1, rel) == 0)
            return true;
    }
    return false;
}

/* An overlay whiteout: a 0/0 character device standing for a deleted file. */
static bool whiteout(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && major(st->st_rdev) == 0 && minor(st->st_rdev) == 0;
}

/* Adds the entries of the directory open as `dfd` (taken) whose archive
 * names start with `prefix` ("" for the archive's root) and whose paths
 * relative to the tree start with `rel` ("" at the top). */
static int add_dir(tree_t *t, int dfd, const char *prefix, const char *rel, berth_err_t *err)
{
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        return berth_err_errno(err, errno, "cannot read directory %s", rel[0] ? rel : ".");
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        BERTH_AUTO_FREE char *r =
                rel[0] ? berth_asprintf("%s/%s", rel, de->d_name) : berth_strdup(de->d_name);
        BERTH_AUTO_FREE char *name = berth_asprintf("%s%s", prefix, r);
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = berth_err_errno(err, errno, "cannot stat %s", r);
            break;
        }
        if (t->diff && whiteout(&st)) {
            BERTH_AUTO_FREE char *abs = berth_asprintf("/%s", r);
            json_array_append_new(t->deleted, json_string(abs));
            continue;
        }
        if (t->diff && skipped(t, r))
            continue;
        if (S_ISDIR(st.st_mode)) {
            BERTH_AUTO_FREE char *dname = berth_asprintf("%s/", name);
            rc = put_header(t->w, dname, &st, NULL, err);
            if (rc < 0)
                break;
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                rc = berth_err_errno(err, errno, "cannot open directory %s", r);
                break;
            }
            rc = add_dir(t, sub, prefix, r, err);
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
            if (n < 0) {
                rc = berth_err_errno(err, errno, "cannot read link %s", r);
                break;
            }
            target[n] = '\0';
            rc = put_header(t->w, name, &st, target, err);
        } else if (S_ISREG(st.st_mode)) {
            BERTH_AUTO_CLOSE int fd =
                    openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                rc = berth_err_errno(err, errno, "cannot open %s", r);
                break;
            }
            rc = put_header(t->w, name, &st, NULL, err);
            if (rc == 0)
                rc = put_data_fd(t->w, fd, r, err);
        } else {
            /* devices, fifos, sockets: their headers carry all there is */
            rc = put_header(t->w, name, &st, NULL, err);
        }
    }
    if (rc == 0 && errno != 0 && de == NULL)
        rc = berth_err_errno(err, errno, "cannot read directory %s", rel[0] ? rel : ".");
    closedir(d);
    return rc;
}

static int open_tree(const char *path, berth_err_t *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return berth_err_errno(err, errno, "cannot open directory %s", path);
    return fd;
}

/* ---- archives ------------------------------------------------------------------------------- */

/* A new tar writer on `fd` (borrowed), in the pax format Go's archive/tar
 * and GNU tar read. */
static struct archive *tar_on(int fd)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_per_block(a, 10240);
    if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
        archive_write_free(a);
        return NULL;
    }
    return a;
}

static int finish(writer_t *w, berth_err_t *err)
{
    int rc = archive_write_close(w->a) == ARCHIVE_OK ? 0 : arc_fail(w, err, "the end");
    archive_write_free(w->a);
    w->a = NULL;
    return rc;
}

/* Builds <work>/rootfs-diff.tar from the upper directory; *deleted gets
 * the whiteouts' paths. */
static int write_diff(const berth_ckpt_parts_t *p, const char *diff_path, json_t *deleted,
                      berth_err_t *err)
{
    BERTH_AUTO_CLOSE int fd = open(diff_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return berth_err_errno(err, errno, "cannot create %s", diff_path);
    int top = open_tree(p->upper_dir, err);
    if (top < 0)
        return -1;
    writer_t w = {tar_on(fd), BERTH_CKPT_ROOTFS_DIFF};
    if (w.a == NULL) {
        close(top);
        return berth_err_make(err, EIO, BERTH_ERR_INTERNAL, "cannot start %s", diff_path);
    }
    tree_t t = {&w, true, deleted, p->skip, p->n_skip};
    int rc = add_dir(&t, top, "", "", err);
    if (rc < 0) {
        archive_write_free(w.a);
        return -1;
    }
    return finish(&w, err);
}

static int write_members(const berth_ckpt_parts_t *p, writer_t *w, berth_err_t *err)
{
    BERTH_AUTO_FREE char *images = berth_asprintf("%s/%s", p->work_dir, BERTH_CKPT_IMAGES_DIR);
    struct stat st;
    if (stat(images, &st) < 0 || !S_ISDIR(st.st_mode))
        return berth_err_make(err, ENOENT, BERTH_ERR_INTERNAL,
                              "the checkpoint images directory %s is missing", images);
    if (put_header(w, BERTH_CKPT_IMAGES_DIR "/", &st, NULL, err) < 0)
        return -1;
    int top = open_tree(images, err);
    if (top < 0)
        return -1;
    tree_t t = {w, false, NULL, NULL, 0};
    if (add_dir(&t, top, BERTH_CKPT_IMAGES_DIR "/", "", err) < 0)
        return -1;
    const char *optional[] = {BERTH_CKPT_DUMP_LOG, BERTH_CKPT_STATS_DUMP};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(optional); i++) {
        BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", p->work_dir, optional[i]);
        if (put_file(w, optional[i], path, true, err) < 0)
            return -1;
    }
    if (put_text(w, BERTH_CKPT_CONFIG_DUMP, p->config_dump ? p->config_dump : "{}", err) < 0 ||
        put_file(w, BERTH_CKPT_SPEC_DUMP, p->spec_path, false, err) < 0)
        return -1;
    if (p->upper_dir) {
        BERTH_AUTO_FREE char *diff = berth_asprintf("%s/%s", p->work_dir, BERTH_CKPT_ROOTFS_DIFF);
        json_t *deleted = json_array();
        int rc = write_diff(p, diff, deleted, err);
        if (rc == 0)
            rc = put_file(w, BERTH_CKPT_ROOTFS_DIFF, diff, false, err);
        if (rc == 0 && json_array_size(deleted) > 0) {
            /* json_dumps allocates through jansson's allocator: berth's in berthd, libc's
             * in the tests; free it with jansson's own. */
            char *text = json_dumps(deleted, JSON_COMPACT);
            rc = put_text(w, BERTH_CKPT_DELETED_FILES, text ? text : "[]", err);
            json_free_t fr;
            json_get_alloc_funcs(NULL, &fr);
            fr(text);
        }
        json_decref(deleted);
        unlink(diff);
        if (rc < 0)
            return -1;
    }
    if (p->log_path && put_file(w, BERTH_CKPT_LOG, p->log_path, true, err) < 0)
        return -1;
    return 0;
}

int berth_checkpoint_write(const berth_ckpt_parts_t *p, const char *target, berth_err_t *err)
{
    if (berth_checkpoint_check_location(target, err) < 0)
        return -1;
    /* the temporary sibling: renamed over target once whole, removed otherwise */
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = (uint32_t)getpid();
    BERTH_AUTO_FREE char *tmp = berth_asprintf("%s.berth-partial-%08x", target, r);
    BERTH_AUTO_CLOSE int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == ENOENT)
            return berth_err_make(err, ENOENT, BERTH_ERR_INVALID,
                                  "the directory of location \"%s\" does not exist", target);
        return berth_err_errno(err, errno, "cannot create %s", tmp);
    }
    writer_t w = {tar_on(fd), target};
    int rc = w.a ? write_members(p, &w, err)
                 : berth_err_make(err, EIO, BERTH_ERR_INTERNAL, "cannot start %s", tmp);
    if (rc == 0)
        rc = finish(&w, err);
    else if (w.a)
        archive_write_free(w.a);
    if (rc == 0 && fsync(fd) < 0)
        rc = berth_err_errno(err, errno, "cannot sync %s", tmp);
    if (rc == 0 && rename(tmp, target) < 0)
        rc = berth_err_errno(err, errno, "cannot rename %s to %s", tmp, target);
    if (rc < 0)
        unlink(tmp);
    return rc;
}
