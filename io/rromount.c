/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recursive read-only bind mounts (see rromount.h). The clone is made
 * read-only while it is still detached, before anything can see it, so no
 * window exists in which the container could find a writable submount; and
 * it is attached only when complete, so a failure leaves nothing mounted.
 */
#include "io/rromount.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000 /* linux/fcntl.h; glibc's fcntl.h lacks it */
#endif

static bool supported;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe(void)
{
    /* A bad fd fails with EBADF where the calls exist, ENOSYS where not;
     * neither touches a mount. */
    /* a no-op attr (nothing to set) succeeds before the fd is looked at */
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    errno = 0;
    bool setattr = mount_setattr(-1, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0 && errno != ENOSYS;
    errno = 0;
    bool tree = open_tree(-1, "", AT_EMPTY_PATH) < 0 && errno != ENOSYS;
    supported = setattr && tree;
}

bool berth_rro_supported(void)
{
    pthread_once(&probe_once, probe);
    return supported;
}

/* The mount point for the clone: a directory for a directory, an empty
 * file for anything else (a bind mount needs the same kind on both ends). */
static int make_target(const char *target, bool dir, berth_err_t *err)
{
    if (dir) {
        if (mkdir(target, 0700) < 0 && errno != EEXIST)
            return berth_err_errno(err, errno, "mkdir %s", target);
        return 0;
    }
    int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return berth_err_errno(err, errno, "create %s", target);
    close(fd);
    return 0;
}

int berth_rro_make(const char *source, const char *target, berth_err_t *err)
{
    if (!berth_rro_supported())
        return berth_err_make(err, ENOSYS, BERTH_ERR_PRECONDITION,
                              "recursive read-only mount of %s: the kernel has no "
                              "mount_setattr(2) (Linux 5.12 or later is needed)",
                              source);
    /* The host path as the kubelet named it, symlinks followed (CRI). */
    BERTH_AUTO_CLOSE int tree =
            open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (tree < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return berth_err_make(err, e, BERTH_ERR_NOT_FOUND,
                                  "recursive read-only mount: host path %s does not exist", source);
        return berth_err_errno(err, e, "recursive read-only mount: clone of %s", source);
    }
    struct mount_attr attr = {
            .attr_set = MOUNT_ATTR_RDONLY,
            /* the container sees the tree as it was: a mount made later
             * under the host path is not propagated into the clone */
            .propagation = MS_PRIVATE,
    };
    if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
        return berth_err_errno(err, errno, "recursive read-only mount: make %s read-only", source);
    struct stat st;
    if (fstat(tree, &st) < 0)
        return berth_err_errno(err, errno, "recursive read-only mount: stat %s", source);
    if (make_target(target, S_ISDIR(st.st_mode), err) < 0)
        return berth_err_prefix(err, "recursive read-only mount of %s", source);
    if (move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        int e = errno;
        if (S_ISDIR(st.st_mode))
            rmdir(target);
        else
            unlink(target);
        return berth_err_errno(err, e, "recursive read-only mount: attach %s at %s", source,
                               target);
    }
    /* Closing `tree` now drops only the fd: the attached mount stays. */
    return 0;
}

/* Detaches everything mounted at path (a clone may have been attached more
 * than once by a retried creation) and removes the mount point. */
static int release_one(const char *path, berth_err_t *err)
{
    for (int i = 0; i < 64 && umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0; i++)
        ;
    if (errno != EINVAL && errno != ENOENT)
        berth_log_warn("recursive read-only mount not detached", "path=%s errno=%d", path, errno);
    if (rmdir(path) == 0 || errno == ENOENT)
        return 0;
    if (errno == ENOTDIR && unlink(path) == 0)
        return 0;
    return berth_err_errno(err, errno, "remove recursive read-only mount point %s", path);
}

int berth_rro_release_dir(const char *dir, berth_err_t *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : berth_err_errno(err, errno, "open %s", dir);
    int ret = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", dir, de->d_name);
        if (release_one(p, ret < 0 ? NULL : err) < 0)
            ret = -1;
    }
    closedir(d);
    if (rmdir(dir) < 0 && errno != ENOENT && ret == 0)
        ret = berth_err_errno(err, errno, "remove %s", dir);
    return ret;
}
