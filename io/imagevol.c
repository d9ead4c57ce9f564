// SPDX-License-Identifier: Apache-2.0
/*
 * Image volume mounts and sub paths (see imagevol.h). A volume directory
 * holds `rootfs` (the mount point) and, for chains too long for mount(2),
 * `l` (io/overlay's short links). Nothing here is removed while it is still
 * a mount point: a failed unmount leaves the directory for the next sweep
 * rather than walking into the image. Everything here but the lexical check
 * blocks and runs on the blocking pool.
 */
#include "io/imagevol.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "io/fs.h"
#include "io/overlay.h"
#include "io/unpack.h"

static bool key_ok(const char *key)
{
    if (key == NULL || strlen(key) != 64)
        return false;
    for (const char *p = key; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    }
    return true;
}

/* A bind mount of a directory on the same file system keeps st_dev, so the
 * parent comparison io/overlay uses cannot see it: the kernel's own flag. */
static bool is_mount_root(const char *path)
{
    struct statx stx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
        return false;
    return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* One layer: overlayfs refuses a single lower without an upper, and a
 * read-only bind of the layer is the same view. MS_RDONLY is ignored by
 * the bind itself and needs the remount. */
static int bind_readonly(const char *layer, const char *target, berth_err_t *err)
{
    if (mount(layer, target, NULL, MS_BIND, NULL) < 0)
        return berth_err_errno(err, errno, "cannot bind the layer %s on %s", layer, target);
    if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
        int e = errno;
        umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW);
        return berth_err_errno(err, e, "cannot make the image volume %s read-only", target);
    }
    return 0;
}

int berth_imagevol_mount(const char *dir, const char *key, const char *const *lowers, size_t n,
                         char **path, berth_err_t *err)
{
    if (!key_ok(key))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid image volume key \"%s\"",
                              key ? key : "");
    if (n == 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "image %s has no layers to mount as a volume", key);
    BERTH_AUTO_FREE char *vdir = berth_asprintf("%s/%s", dir, key);
    BERTH_AUTO_FREE char *target = berth_asprintf("%s/rootfs", vdir);
    BERTH_AUTO_FREE char *links = berth_asprintf("%s/l", vdir);
    if (berth_fs_mkdir_p(target, 0755, err) < 0)
        return berth_err_prefix(err, "image volume %s", key);
    if (!is_mount_root(target)) {
        int r = n == 1 ? bind_readonly(lowers[0], target, err)
                       : berth_overlay_mount(lowers, n, NULL, NULL, target, links, NULL, err);
        if (r < 0)
            return berth_err_prefix(err, "image volume %s", key);
    }
    *path = berth_steal_ptr(&target);
    return 0;
}

int berth_imagevol_unmount(const char *dir, const char *key, berth_err_t *err)
{
    if (!key_ok(key))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid image volume key \"%s\"",
                              key ? key : "");
    BERTH_AUTO_FREE char *vdir = berth_asprintf("%s/%s", dir, key);
    BERTH_AUTO_FREE char *target = berth_asprintf("%s/rootfs", vdir);
    /* A mount stacked on another (two mounts raced before a restart) needs
     * one unmount each; the bound keeps a broken kernel from looping. */
    for (int i = 0; i < 8 && is_mount_root(target); i++) {
        if (berth_overlay_unmount(target, err) < 0)
            return berth_err_prefix(err, "image volume %s", key);
    }
    if (is_mount_root(target))
        return berth_err_make(err, EBUSY, BERTH_ERR_INTERNAL,
                              "image volume %s is still mounted at %s", key, target);
    if (berth_unpack_remove_tree(vdir, err) < 0)
        return berth_err_prefix(err, "image volume %s", key);
    return 0;
}

int berth_imagevol_sweep(const char *dir, const char *const *keep, size_t n, unsigned *removed)
{
    if (removed)
        *removed = 0;
    size_t nnames = 0;
    char **names = berth_fs_list_names(dir, &nnames);
    for (size_t j = 0; j < nnames; j++) {
        const char *name = names[j];
        if (!key_ok(name))
            continue;
        bool kept = false;
        for (size_t i = 0; i < n && !kept; i++)
            kept = strcmp(keep[i], name) == 0;
        if (kept)
            continue;
        berth_err_t err = NULL;
        berth_log_info("removing an orphaned image volume", "key=%s", name);
        if (berth_imagevol_unmount(dir, name, &err) < 0) {
            berth_log_warn("cannot remove an orphaned image volume", "key=%s error=\"%s\"", name,
                           err->msg);
            berth_err_free(&err);
        } else if (removed) {
            (*removed)++;
        }
    }
    berth_strv_free(names);
    return 0;
}

int berth_imagevol_check_subpath(const char *sub, berth_err_t *err)
{
    if (sub == NULL || sub[0] == '\0')
        return 0;
    if (sub[0] == '/')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "image_sub_path \"%s\" must be relative to the image's root", sub);
    if (strlen(sub) >= PATH_MAX)
        return berth_err_make(err, ENAMETOOLONG, BERTH_ERR_INVALID,
                              "image_sub_path is longer than %d bytes", PATH_MAX - 1);
    for (const char *p = sub; *p;) {
        size_t l = strcspn(p, "/");
        if (l == 2 && p[0] == '.' && p[1] == '.')
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "image_sub_path \"%s\" must not contain \"..\": it would "
                                  "leave the image",
                                  sub);
        p += l;
        while (*p == '/')
            p++;
    }
    return 0;
}

int berth_imagevol_subpath(const char *root, const char *sub, char **out, berth_err_t *err)
{
    if (berth_imagevol_check_subpath(sub, err) < 0)
        return -1;
    /* The prefix check below compares real paths: the run directory may
     * itself sit behind a symlink. */
    char real_root[PATH_MAX];
    if (realpath(root, real_root) == NULL)
        return berth_err_errno(err, errno, "image volume %s", root);
    if (sub == NULL || sub[0] == '\0') {
        *out = berth_strdup(real_root);
        return 0;
    }
    BERTH_AUTO_CLOSE int rfd = open(real_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return berth_err_errno(err, errno, "image volume %s", root);
    struct open_how how = {
            .flags = O_PATH | O_CLOEXEC,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    BERTH_AUTO_CLOSE int fd = (int)syscall(SYS_openat2, rfd, sub, &how, sizeof(how));
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return berth_err_make(err, e, BERTH_ERR_NOT_FOUND,
                                  "image_sub_path \"%s\" does not exist in the image", sub);
        if (e == ELOOP || e == EXDEV)
            return berth_err_make(err, e, BERTH_ERR_INVALID,
                                  "image_sub_path \"%s\" cannot be resolved inside the image (%s)",
                                  sub, strerror(e));
        return berth_err_errno(err, e, "image_sub_path \"%s\"", sub);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return berth_err_errno(err, errno, "image_sub_path \"%s\"", sub);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "image_sub_path \"%s\" is neither a directory nor a regular file",
                              sub);
    char proc[64], buf[PATH_MAX];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    ssize_t len = readlink(proc, buf, sizeof(buf) - 1);
    if (len < 0)
        return berth_err_errno(err, errno, "image_sub_path \"%s\": cannot read its path", sub);
    buf[len] = '\0';
    size_t rl = strlen(real_root);
    /* RESOLVE_IN_ROOT already keeps the walk inside; this guards the path
     * string the runtime will bind, which is what actually gets mounted. */
    if (strncmp(buf, real_root, rl) != 0 || (buf[rl] != '/' && buf[rl] != '\0'))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "image_sub_path \"%s\" resolves outside the image", sub);
    *out = berth_strdup(buf);
    return 0;
}
