/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer unpacking with libarchive as a reader only: libarchive decodes the
 * gzip/zstd/tar stream, and this file writes every entry itself through
 * dirfds below the layer directory. Containment rests on three rules that
 * hold for every entry, so a reviewer can check them here and nowhere else:
 *   1. a path is refused unless it is relative and has no `..` component;
 *   2. the parent directory is reached from the root dirfd with
 *      openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) (or an O_NOFOLLOW walk),
 *      so a symlink anywhere in the parent path, including one planted by an
 *      earlier entry, is refused instead of followed;
 *   3. the last component is touched only with *at calls that do not follow
 *      symlinks (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, mknodat, symlinkat, linkat
 *      without AT_SYMLINK_FOLLOW).
 * It never uses archive_write_disk, never resolves a path string against "/",
 * and never applies trusted.overlay.* xattrs from the archive (they would
 * steer overlayfs itself).
 */
#include "io/unpack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"

#define WHITEOUT_PREFIX ".wh."
#define OPAQUE_NAME ".wh..wh..opq"
#define READ_BLOCK (1u << 16)

struct dirtime {
    char *path; /* cleaned, relative to the root ("" is the root) */
    struct timespec ts[2];
};

struct ctx {
    int root; /* O_RDONLY|O_DIRECTORY fd of the layer directory */
    berth_unpack_limits_t lim;
    berth_unpack_stats_t st;
    bool as_root;
    bool warned_xattr_whiteout;
    struct dirtime *dirs;
    size_t ndirs, capdirs;
};

static int refuse(berth_err_t *err, int kind, const char *entry, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int refuse(berth_err_t *err, int kind, const char *entry, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = berth_vasprintf(fmt, ap);
    va_end(ap);
    berth_err_make(err, kind == BERTH_ERR_EXHAUSTED ? E2BIG : EPERM, kind,
                   "layer entry \"%s\" refused: %s", entry, why);
    berth_free(why);
    return -1;
}

static int entry_errno(berth_err_t *err, int e, const char *entry, const char *what)
{
    return berth_err_errno(err, e, "layer entry \"%s\": %s", entry, what);
}

/* Rule 1. Leading "./" and empty or "." components are dropped (tar writers
 * emit them); an absolute path or a `..` anywhere is refused. We refuse
 * rather than reinterpret absolute paths relative to the layer root: no
 * image builder emits them, and refusing keeps one meaning per path. */
static char *clean_path(const char *raw, const char *what, berth_err_t *err)
{
    if (raw == NULL || raw[0] == '\0') {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "layer entry with an empty %s", what);
        return NULL;
    }
    if (raw[0] == '/') {
        refuse(err, BERTH_ERR_INVALID, raw,
               "%s is absolute (entries must be relative to the layer root)", what);
        return NULL;
    }
    size_t len = strlen(raw);
    if (len >= PATH_MAX) {
        refuse(err, BERTH_ERR_INVALID, raw, "%s is longer than PATH_MAX", what);
        return NULL;
    }
    char *out = berth_malloc(len + 1);
    size_t o = 0;
    const char *p = raw;
    while (*p) {
        const char *s = strchr(p, '/');
        size_t n = s ? (size_t)(s - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            berth_free(out);
            refuse(err, BERTH_ERR_INVALID, raw,
                   "%s has a \"..\" component (entries must stay inside the layer)", what);
            return NULL;
        }
        if (n > NAME_MAX) {
            berth_free(out);
            refuse(err, BERTH_ERR_INVALID, raw, "a component is longer than NAME_MAX");
            return NULL;
        }
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
        if (*p == '/')
            p++;
    }
    out[o] = '\0';
    return out;
}

/* Splits a cleaned non-empty path in place into parent ("" for the root)
 * and last component. */
static void split_path(char *path, const char **parent, const char **name)
{
    char *slash = strrchr(path, '/');
    if (slash == NULL) {
        *parent = "";
        *name = path;
    } else {
        *slash = '\0';
        *parent = path;
        *name = slash + 1;
    }
}

/* Explains why a component could not be opened as a directory. */
static int walk_error(int dirfd, const char *comp, int e, const char *entry, berth_err_t *err)
{
    struct stat st;
    if ((e == ELOOP || e == ENOTDIR) && fstatat(dirfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode))
            return refuse(err, BERTH_ERR_INVALID, entry,
                          "its parent path passes through the symlink \"%s\" "
                          "(symlinks are never followed while unpacking)",
                          comp);
        return refuse(err, BERTH_ERR_INVALID, entry,
                      "its parent path component \"%s\" is not a directory", comp);
    }
    return entry_errno(err, e, entry, "open parent directory");
}

/* Rule 2, the fallback walk: one O_NOFOLLOW|O_DIRECTORY open per component,
 * each relative to the previous real directory, creating missing ones. */
static int walk_parent(struct ctx *c, const char *parent, bool create, const char *entry,
                       berth_err_t *err)
{
    BERTH_AUTO_CLOSE int fd = fcntl(c->root, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return entry_errno(err, errno, entry, "dup root fd");
    BERTH_AUTO_FREE char *copy = berth_strdup(parent);
    char *save = NULL;
    for (char *comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
        int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST)
                return entry_errno(err, errno, entry, "create parent directory");
            nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (nfd < 0)
            return walk_error(fd, comp, errno, entry, err);
        close(fd);
        fd = nfd;
    }
    return berth_steal_fd(&fd);
}

/* Rule 2: returns an owned O_RDONLY dirfd of `parent` below the root. */
static int open_parent(struct ctx *c, const char *parent, bool create, const char *entry,
                       berth_err_t *err)
{
    if (parent[0] == '\0') {
        int fd = fcntl(c->root, F_DUPFD_CLOEXEC, 0);
        return fd < 0 ? entry_errno(err, errno, entry, "dup root fd") : fd;
    }
    struct open_how how = {
            .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
            .resolve =
                    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    long fd = syscall(SYS_openat2, c->root, parent, &how, sizeof(how));
    if (fd >= 0)
        return (int)fd;
    /* ENOENT: create the missing parents; ELOOP/ENOTDIR: the walk names the
     * offending component; ENOSYS/EAGAIN: the walk is the portable path. */
    return walk_parent(c, parent, create, entry, err);
}

/* Removes dirfd/name and everything under it, never following symlinks. */
static int remove_at(int dirfd, const char *name)
{
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (remove_at(fd, de->d_name) < 0) {
            rc = -1;
            break;
        }
    }
    int saved = errno;
    closedir(d);
    errno = saved;
    if (rc < 0)
        return -1;
    return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

/* Clears the way for a new entry at parentfd/name. Returns 1 when a
 * directory exists there and keep_dir asked to keep it, 0 when the name is
 * free, -1 with *err. Tar semantics: a later entry replaces an earlier one. */
static int clear_name(int parentfd, const char *name, bool keep_dir, const char *entry,
                      berth_err_t *err)
{
    struct stat st;
    if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return entry_errno(err, errno, entry, "stat existing path");
    }
    if (S_ISDIR(st.st_mode) && keep_dir)
        return 1;
    if (remove_at(parentfd, name) < 0)
        return entry_errno(err, errno, entry, "replace existing path");
    return 0;
}

static int apply_xattrs(struct ctx *c, struct archive_entry *e, int fd, int parentfd,
                        const char *name, bool is_link, const char *entry, berth_err_t *err)
{
    const char *xname;
    const void *val;
    size_t sz;
    if (archive_entry_xattr_reset(e) == 0)
        return 0;
    char procpath[64];
    snprintf(procpath, sizeof(procpath), "/proc/self/fd/%d/", parentfd);
    BERTH_AUTO_FREE char *lpath = berth_asprintf("%s%s", procpath, name);
    while (archive_entry_xattr_next(e, &xname, &val, &sz) == ARCHIVE_OK) {
        if (strncmp(xname, "trusted.overlay.", 16) == 0) {
            berth_log_warn("layer xattr ignored", "entry=\"%s\" xattr=%s reason=\"%s\"", entry,
                           xname, "overlayfs control xattrs are never taken from a layer");
            continue;
        }
        /* lsetxattr through our own parent dirfd: the magic link names a
         * directory we opened beneath the root, and the last component is
         * not followed. */
        int rc = fd >= 0 ? fsetxattr(fd, xname, val, sz, 0) : lsetxattr(lpath, xname, val, sz, 0);
        if (rc == 0)
            continue;
        if (errno == ENOTSUP || errno == EOPNOTSUPP || (is_link && errno == EPERM)) {
            c->st.xattrs_skipped++;
            berth_log_debug("layer xattr not supported here", "entry=\"%s\" xattr=%s", entry,
                            xname);
            continue;
        }
        BERTH_AUTO_FREE char *what = berth_asprintf("set xattr %s", xname);
        return entry_errno(err, errno, entry, what);
    }
    return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
    ts[1].tv_sec = archive_entry_mtime(e);
    ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    if (archive_entry_atime_is_set(e)) {
        ts[0].tv_sec = archive_entry_atime(e);
        ts[0].tv_nsec = archive_entry_atime_nsec(e);
    } else {
        ts[0] = ts[1];
    }
    if (!archive_entry_mtime_is_set(e)) {
        ts[0].tv_nsec = UTIME_OMIT;
        ts[1].tv_nsec = UTIME_OMIT;
    }
}

static int entry_owner(struct archive_entry *e, uid_t *uid, gid_t *gid, const char *entry,
                       berth_err_t *err)
{
    la_int64_t u = archive_entry_uid(e), g = archive_entry_gid(e);
    if (u < 0 || g < 0 || u > (la_int64_t)UINT32_MAX - 1 || g > (la_int64_t)UINT32_MAX - 1)
        return refuse(err, BERTH_ERR_INVALID, entry, "uid/gid out of range");
    *uid = (uid_t)u;
    *gid = (gid_t)g;
    return 0;
}

/* Owner before mode: chown clears set-id bits. fd may be -1 (then the name
 * under parentfd is used without following it). */
static int apply_meta(struct ctx *c, struct archive_entry *e, int fd, int parentfd,
                      const char *name, bool is_link, bool times, const char *entry,
                      berth_err_t *err)
{
    uid_t uid = 0;
    gid_t gid = 0;
    if (entry_owner(e, &uid, &gid, entry, err) < 0)
        return -1;
    if (c->as_root) {
        int rc = fd >= 0 ? fchown(fd, uid, gid)
                         : fchownat(parentfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
        if (rc < 0)
            return entry_errno(err, errno, entry, "set owner");
    }
    if (!is_link) {
        mode_t mode = archive_entry_perm(e) & 07777;
        int rc = fd >= 0 ? fchmod(fd, mode) : fchmodat(parentfd, name, mode, AT_SYMLINK_NOFOLLOW);
        if (rc < 0)
            return entry_errno(err, errno, entry, "set mode");
    }
    if (apply_xattrs(c, e, fd, parentfd, name, is_link, entry, err) < 0)
        return -1;
    if (times) {
        struct timespec ts[2];
        entry_times(e, ts);
        int rc = fd >= 0 ? futimens(fd, ts) : utimensat(parentfd, name, ts, AT_SYMLINK_NOFOLLOW);
        if (rc < 0)
            return entry_errno(err, errno, entry, "set times");
    }
    return 0;
}

static void defer_dir_time(struct ctx *c, const char *path, struct archive_entry *e)
{
    if (c->ndirs == c->capdirs) {
        c->capdirs = c->capdirs ? 2 * c->capdirs : 64;
        c->dirs = berth_realloc(c->dirs, c->capdirs * sizeof(*c->dirs));
    }
    struct dirtime *d = &c->dirs[c->ndirs++];
    d->path = berth_strdup(path);
    entry_times(e, d->ts);
}

static int write_whiteout(struct ctx *c, int parentfd, const char *wname, const char *entry,
                          berth_err_t *err)
{
    if (wname[0] == '\0' || strcmp(wname, ".") == 0 || strcmp(wname, "..") == 0)
        return refuse(err, BERTH_ERR_INVALID, entry, "whiteout of an invalid name");
    if (clear_name(parentfd, wname, false, entry, err) < 0)
        return -1;
    c->st.whiteouts++;
    if (mknodat(parentfd, wname, S_IFCHR | 0, makedev(0, 0)) == 0)
        return 0;
    if (errno != EPERM)
        return entry_errno(err, errno, entry, "create whiteout device");
    /* No CAP_MKNOD (a user namespace): overlayfs (6.7+) also reads a
     * zero-size file carrying overlay.whiteout, with overlay.whiteouts on
     * its directory. */
    if (!c->warned_xattr_whiteout) {
        c->warned_xattr_whiteout = true;
        berth_log_warn("mknod of whiteout refused, using the xattr whiteout form", "entry=\"%s\"",
                       entry);
    }
    BERTH_AUTO_CLOSE int fd =
            openat(parentfd, wname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0000);
    if (fd < 0)
        return entry_errno(err, errno, entry, "create xattr whiteout");
    if (fsetxattr(fd, "trusted.overlay.whiteout", "y", 1, 0) < 0 ||
        fsetxattr(parentfd, "trusted.overlay.whiteouts", "y", 1, 0) < 0)
        return entry_errno(err, errno, entry, "set whiteout xattr");
    c->st.xattr_whiteouts++;
    return 0;
}

static int write_file(struct ctx *c, struct archive *a, struct archive_entry *e, int parentfd,
                      const char *name, const char *entry, berth_err_t *err)
{
    la_int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (size < 0)
        return refuse(err, BERTH_ERR_INVALID, entry, "negative size");
    if ((uint64_t)size > c->lim.max_file_bytes)
        return refuse(err, BERTH_ERR_EXHAUSTED, entry,
                      "file of %lld bytes is over the limit of %llu bytes", (long long)size,
                      (unsigned long long)c->lim.max_file_bytes);
    if (c->st.bytes + (uint64_t)size > c->lim.max_total_bytes)
        return refuse(err, BERTH_ERR_EXHAUSTED, entry,
                      "layer content would exceed the limit of %llu bytes",
                      (unsigned long long)c->lim.max_total_bytes);
    if (clear_name(parentfd, name, false, entry, err) < 0)
        return -1;
    BERTH_AUTO_CLOSE int fd =
            openat(parentfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return entry_errno(err, errno, entry, "create file");
    uint64_t end = 0;
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return berth_err_make(err, EIO, BERTH_ERR_DATA_LOSS, "layer entry \"%s\": read: %s",
                                  entry, archive_error_string(a));
        /* The header size was checked; this re-checks what the stream
         * really yields (sparse maps can claim more). */
        if (off < 0 || (uint64_t)off + len > c->lim.max_file_bytes ||
            c->st.bytes + len > c->lim.max_total_bytes)
            return refuse(err, BERTH_ERR_EXHAUSTED, entry, "file data exceeds the unpack limits");
        const char *p = buf;
        size_t left = len;
        off_t at = off;
        while (left > 0) {
            ssize_t w = pwrite(fd, p, left, at);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return entry_errno(err, errno, entry, "write file");
            p += w;
            left -= (size_t)w;
            at += w;
        }
        c->st.bytes += len;
        if ((uint64_t)off + len > end)
            end = (uint64_t)off + len;
    }
    /* Trailing holes of sparse files are not in the data blocks. */
    if ((uint64_t)size > end && ftruncate(fd, size) < 0)
        return entry_errno(err, errno, entry, "extend sparse file");
    return apply_meta(c, e, fd, parentfd, name, false, true, entry, err);
}

static int write_hardlink(struct ctx *c, const char *target_raw, int parentfd, const char *name,
                          const char *path, const char *entry, berth_err_t *err)
{
    BERTH_AUTO_FREE char *target = clean_path(target_raw, "hard link target", err);
    if (target == NULL)
        return berth_err_prefix(err, "hard link \"%s\"", entry);
    if (target[0] == '\0')
        return refuse(err, BERTH_ERR_INVALID, entry, "hard link to the layer root");
    if (strcmp(target, path) == 0)
        return refuse(err, BERTH_ERR_INVALID, entry, "hard link to itself");
    const char *tparent, *tname;
    split_path(target, &tparent, &tname);
    BERTH_AUTO_CLOSE int tfd = open_parent(c, tparent, false, entry, err);
    if (tfd < 0)
        return berth_err_prefix(err, "hard link target \"%s\"", target_raw);
    struct stat st;
    if (fstatat(tfd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return refuse(err, BERTH_ERR_INVALID, entry, "hard link target \"%s\" is not in this layer",
                      target_raw);
    if (S_ISDIR(st.st_mode))
        return refuse(err, BERTH_ERR_INVALID, entry, "hard link target \"%s\" is a directory",
                      target_raw);
    if (clear_name(parentfd, name, false, entry, err) < 0)
        return -1;
    /* flags 0: linkat never follows a symlink named as the target. */
    if (linkat(tfd, tname, parentfd, name, 0) < 0)
        return entry_errno(err, errno, entry, "create hard link");
    return 0;
}

static int do_entry(struct ctx *c, struct archive *a, struct archive_entry *e, berth_err_t *err)
{
    const char *raw = archive_entry_pathname(e);
    if (raw == NULL)
        raw = archive_entry_pathname_utf8(e);
    if (raw == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "layer entry %llu has no readable path",
                              (unsigned long long)c->st.entries + 1);
    if (++c->st.entries > c->lim.max_entries)
        return refuse(err, BERTH_ERR_EXHAUSTED, raw, "the layer has more than %llu entries",
                      (unsigned long long)c->lim.max_entries);
    BERTH_AUTO_FREE char *path = clean_path(raw, "path", err);
    if (path == NULL)
        return -1;
    BERTH_AUTO_FREE char *full = berth_strdup(path);
    const char *hardlink = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);

    if (path[0] == '\0') {
        /* "./": metadata of the layer root itself. */
        if (type != AE_IFDIR || hardlink != NULL)
            return refuse(err, BERTH_ERR_INVALID, raw, "the layer root must be a directory");
        if (apply_meta(c, e, c->root, c->root, ".", false, false, raw, err) < 0)
            return -1;
        defer_dir_time(c, "", e);
        return 0;
    }

    const char *parent, *name;
    split_path(path, &parent, &name);
    BERTH_AUTO_CLOSE int pfd = open_parent(c, parent, true, raw, err);
    if (pfd < 0)
        return -1;

    if (strncmp(name, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0) {
        if (strcmp(name, OPAQUE_NAME) == 0) {
            if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                return entry_errno(err, errno, raw, "mark directory opaque");
            c->st.opaque_dirs++;
            return 0;
        }
        if (strncmp(name, ".wh..wh.", 8) == 0) {
            /* Reserved by the OCI spec for future use: not content. */
            berth_log_debug("reserved whiteout name skipped", "entry=\"%s\"", raw);
            return 0;
        }
        return write_whiteout(c, pfd, name + strlen(WHITEOUT_PREFIX), raw, err);
    }

    if (hardlink != NULL)
        return write_hardlink(c, hardlink, pfd, name, full, raw, err);

    switch (type) {
    case AE_IFREG:
        return write_file(c, a, e, pfd, name, raw, err);
    case AE_IFDIR: {
        int exists = clear_name(pfd, name, true, raw, err);
        if (exists < 0)
            return -1;
        if (!exists && mkdirat(pfd, name, 0700) < 0)
            return entry_errno(err, errno, raw, "create directory");
        BERTH_AUTO_CLOSE int dfd =
                openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
            return entry_errno(err, errno, raw, "open directory");
        if (apply_meta(c, e, dfd, pfd, name, false, false, raw, err) < 0)
            return -1;
        /* Later entries change a directory's mtime: set it at the end. */
        defer_dir_time(c, full, e);
        return 0;
    }
    case AE_IFLNK: {
        const char *target = archive_entry_symlink(e);
        if (target == NULL)
            target = archive_entry_symlink_utf8(e);
        if (target == NULL || target[0] == '\0')
            return refuse(err, BERTH_ERR_INVALID, raw, "symlink without a target");
        if (clear_name(pfd, name, false, raw, err) < 0)
            return -1;
        /* The target is stored, never resolved: rule 2 refuses to walk
         * through it later. */
        if (symlinkat(target, pfd, name) < 0)
            return entry_errno(err, errno, raw, "create symlink");
        return apply_meta(c, e, -1, pfd, name, true, true, raw, err);
    }
    case AE_IFIFO:
    case AE_IFCHR:
    case AE_IFBLK: {
        dev_t dev = 0;
        if (type != AE_IFIFO) {
            if (c->lim.deny_devices)
                return refuse(err, BERTH_ERR_DENIED, raw,
                              "device nodes are not allowed in this unpack");
            if (!c->as_root)
                return refuse(err, BERTH_ERR_DENIED, raw,
                              "device nodes need root and berth is not running as root");
            dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
        }
        if (clear_name(pfd, name, false, raw, err) < 0)
            return -1;
        if (mknodat(pfd, name, type | 0600, dev) < 0)
            return entry_errno(err, errno, raw, "create special file");
        return apply_meta(c, e, -1, pfd, name, false, true, raw, err);
    }
    case AE_IFSOCK:
        /* A socket in a tarball is a leftover of the build; nothing to make. */
        berth_log_debug("socket entry skipped", "entry=\"%s\"", raw);
        return 0;
    default:
        return refuse(err, BERTH_ERR_INVALID, raw, "unknown entry type 0%o", (unsigned)type);
    }
}

static int apply_dir_times(struct ctx *c, berth_err_t *err)
{
    /* Deepest first is not needed: utimensat on a directory does not change
     * its parent's mtime. */
    for (size_t i = 0; i < c->ndirs; i++) {
        struct dirtime *d = &c->dirs[i];
        if (d->path[0] == '\0') {
            if (futimens(c->root, d->ts) < 0)
                return entry_errno(err, errno, "./", "set times");
            continue;
        }
        BERTH_AUTO_FREE char *p = berth_strdup(d->path);
        const char *parent, *name;
        split_path(p, &parent, &name);
        berth_err_t perr = NULL;
        int pfd = open_parent(c, parent, false, d->path, &perr);
        if (pfd < 0) {
            /* A later entry replaced this directory's parent: its time is moot. */
            berth_err_free(&perr);
            continue;
        }
        int rc = utimensat(pfd, name, d->ts, AT_SYMLINK_NOFOLLOW);
        int e = errno;
        close(pfd);
        if (rc < 0 && e != ENOENT)
            return entry_errno(err, e, d->path, "set directory times");
    }
    return 0;
}

static int open_dest(const char *dest_dir, berth_err_t *err)
{
    if (mkdir(dest_dir, 0755) < 0 && errno != EEXIST)
        return berth_err_errno(err, errno, "create layer directory %s", dest_dir);
    int fd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return berth_err_errno(err, errno, "open layer directory %s", dest_dir);
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = dup < 0 ? NULL : fdopendir(dup);
    if (d == NULL) {
        int e = errno;
        if (dup >= 0)
            close(dup);
        close(fd);
        return berth_err_errno(err, e, "read layer directory %s", dest_dir);
    }
    struct dirent *de;
    bool empty = true;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            empty = false;
            break;
        }
    }
    closedir(d);
    if (!empty) {
        close(fd);
        return berth_err_make(err, ENOTEMPTY, BERTH_ERR_PRECONDITION,
                              "layer directory %s is not empty", dest_dir);
    }
    return fd;
}

/* The decompressed stream: libarchive's raw format over the blob (gzip, zstd
 * or none) feeds the tar reader through a callback that hashes every byte,
 * so the layer's uncompressed digest (its diff ID) comes out of the one pass
 * that unpacks it, and the tar stream's own size is bounded. */
struct tar_src {
    struct archive *raw;
    berth_sha256_t h;
    uint64_t bytes, max_bytes;
    bool eof, too_big;
    char buf[READ_BLOCK];
};

static la_ssize_t tar_read(struct archive *a, void *arg, const void **out)
{
    struct tar_src *t = arg;
    *out = t->buf;
    if (t->eof)
        return 0;
    la_ssize_t n = archive_read_data(t->raw, t->buf, sizeof(t->buf));
    if (n < 0) {
        if (a != NULL)
            archive_set_error(a, archive_errno(t->raw) > 0 ? archive_errno(t->raw) : EIO, "%s",
                              archive_error_string(t->raw));
        return -1;
    }
    if (n == 0) {
        t->eof = true;
        return 0;
    }
    t->bytes += (uint64_t)n;
    if (t->bytes > t->max_bytes) {
        t->too_big = true;
        if (a != NULL)
            archive_set_error(a, E2BIG, "the uncompressed layer exceeds %llu bytes",
                              (unsigned long long)t->max_bytes);
        return -1;
    }
    berth_sha256_update(&t->h, t->buf, (size_t)n);
    return n;
}

/* Reads what the tar reader left (the end-of-archive blocks, padding) so
 * the digest covers the whole stream, as the image config's does. */
static int tar_drain(struct tar_src *t, berth_err_t *err)
{
    const void *p;
    struct archive *none = NULL;
    for (;;) {
        la_ssize_t n = tar_read(none, t, &p);
        if (n == 0)
            return 0;
        if (n < 0 && t->too_big)
            return berth_err_make(err, E2BIG, BERTH_ERR_EXHAUSTED,
                                  "the uncompressed layer exceeds %llu bytes",
                                  (unsigned long long)t->max_bytes);
        if (n < 0)
            return berth_err_make(err, EIO, BERTH_ERR_DATA_LOSS, "read the layer's end: %s",
                                  archive_error_string(t->raw));
    }
}

int berth_unpack_layer(const char *blob_path, const char *dest_dir,
                       const berth_unpack_limits_t *limits, berth_unpack_stats_t *stats,
                       berth_err_t *err)
{
    struct ctx c = {.root = -1, .as_root = geteuid() == 0};
    if (limits != NULL)
        c.lim = *limits;
    if (c.lim.max_total_bytes == 0)
        c.lim.max_total_bytes = BERTH_UNPACK_DEFAULT_MAX_TOTAL;
    if (c.lim.max_entries == 0)
        c.lim.max_entries = BERTH_UNPACK_DEFAULT_MAX_ENTRIES;
    if (c.lim.max_file_bytes == 0)
        c.lim.max_file_bytes = BERTH_UNPACK_DEFAULT_MAX_FILE;

    struct tar_src *t = berth_calloc(1, sizeof(*t));
    berth_sha256_init(&t->h);
    /* tar headers and padding on top of the file bytes: at most 1 KiB per
     * entry plus one block per file */
    t->max_bytes = c.lim.max_total_bytes + c.lim.max_entries * 1024 + (1u << 20);
    struct archive *a = archive_read_new();
    t->raw = archive_read_new();
    if (a == NULL || t->raw == NULL) {
        berth_err_make(err, ENOMEM, BERTH_ERR_EXHAUSTED, "libarchive: no memory");
        if (a)
            archive_read_free(a);
        if (t->raw)
            archive_read_free(t->raw);
        berth_sha256_fini(&t->h);
        berth_free(t);
        return -1;
    }
    /* Only the filters OCI layers use, and only built-in ones: ARCHIVE_WARN
     * means libarchive would fork an external program, which we refuse. */
    int rc = -1;
    if (archive_read_support_filter_gzip(t->raw) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(t->raw) != ARCHIVE_OK ||
        archive_read_support_filter_none(t->raw) != ARCHIVE_OK ||
        archive_read_support_format_raw(t->raw) != ARCHIVE_OK ||
        archive_read_support_filter_none(a) != ARCHIVE_OK ||
        archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_support_format_empty(a) != ARCHIVE_OK) {
        berth_err_make(err, ENOTSUP, BERTH_ERR_INTERNAL,
                       "libarchive lacks built-in gzip/zstd/tar support: %s",
                       archive_error_string(t->raw));
        goto out;
    }
    if (archive_read_open_filename(t->raw, blob_path, READ_BLOCK) != ARCHIVE_OK) {
        berth_err_make(err, archive_errno(t->raw) > 0 ? archive_errno(t->raw) : EIO,
                       BERTH_ERR_DATA_LOSS, "open layer %s: %s", blob_path,
                       archive_error_string(t->raw));
        goto out;
    }
    struct archive_entry *re;
    int hr = archive_read_next_header(t->raw, &re);
    if (hr == ARCHIVE_EOF) {
        t->eof = true; /* an empty blob: an empty layer */
    } else if (hr != ARCHIVE_OK && hr != ARCHIVE_WARN) {
        berth_err_make(err, EIO, BERTH_ERR_DATA_LOSS, "read layer %s: %s", blob_path,
                       archive_error_string(t->raw));
        goto out;
    }
    if (archive_read_open(a, t, NULL, tar_read, NULL) != ARCHIVE_OK) {
        berth_err_make(err, t->too_big ? E2BIG : EIO,
                       t->too_big ? BERTH_ERR_EXHAUSTED : BERTH_ERR_DATA_LOSS, "read layer %s: %s",
                       blob_path, archive_error_string(a));
        goto out;
    }
    c.root = open_dest(dest_dir, err);
    if (c.root < 0)
        goto out;
    size_t entries = 0;
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r == ARCHIVE_WARN)
            berth_log_debug("libarchive warning", "layer=\"%s\" msg=\"%s\"", blob_path,
                            archive_error_string(a));
        else if (r != ARCHIVE_OK) {
            berth_err_make(err, t->too_big ? E2BIG : EIO,
                           t->too_big ? BERTH_ERR_EXHAUSTED : BERTH_ERR_DATA_LOSS,
                           "read layer %s: %s", blob_path, archive_error_string(a));
            goto out;
        }
        if (do_entry(&c, a, e, err) < 0) {
            berth_err_prefix(err, "unpack %s", blob_path);
            goto out;
        }
        /* a profile begun mid-layer samples the rest (an atomic load) */
        if (++entries % 256 == 0)
            berth_blocking_checkpoint();
    }
    if (tar_drain(t, err) < 0) {
        berth_err_prefix(err, "layer %s", blob_path);
        goto out;
    }
    if (apply_dir_times(&c, err) < 0)
        goto out;
    char hex[BERTH_SHA256_HEX_LEN + 1];
    berth_sha256_final(&t->h, hex);
    snprintf(c.st.diff_id, sizeof(c.st.diff_id), "sha256:%s", hex);
    c.st.tar_bytes = t->bytes;
    rc = 0;
out:
    archive_read_free(a);
    archive_read_free(t->raw);
    berth_sha256_fini(&t->h);
    berth_free(t);
    if (c.root >= 0)
        close(c.root);
    for (size_t i = 0; i < c.ndirs; i++)
        berth_free(c.dirs[i].path);
    berth_free(c.dirs);
    if (stats != NULL)
        *stats = c.st;
    return rc;
}

int berth_unpack_remove_tree(const char *path, berth_err_t *err)
{
    BERTH_AUTO_FREE char *copy = berth_strdup(path);
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    char *slash = strrchr(copy, '/');
    const char *parent = ".", *name = copy;
    if (slash == copy) {
        parent = "/";
        name = copy + 1;
    } else if (slash != NULL) {
        *slash = '\0';
        parent = copy;
        name = slash + 1;
    }
    BERTH_AUTO_CLOSE int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0)
        return errno == ENOENT ? 0 : berth_err_errno(err, errno, "open %s", parent);
    if (remove_at(pfd, name) < 0)
        return berth_err_errno(err, errno, "remove %s", path);
    return 0;
}
