// SPDX-License-Identifier: Apache-2.0
/*
 * Overlay mounts for container root filesystems (see overlay.h). Three ways
 * to hand overlayfs a layer chain, tried in order of simplicity: mount(2)
 * with the whole lowerdir string (limited to one page of options), the new
 * mount API with one `lowerdir+` per layer (no length limit), and mount(2)
 * in a child whose working directory holds short symlinks to the layers (so
 * the string stays short on kernels without `lowerdir+`). Everything here
 * blocks and must run on the blocking pool.
 */
#include "io/overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/hist.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/store.h"
#include "io/unpack.h"

/* The kernel copies mount(2) data into one page, NUL included. */
#define MOUNT_DATA_MAX 4095

/* Appends s to a growing string (owned) */
static void append(char **buf, size_t *len, const char *s)
{
    size_t l = strlen(s);
    *buf = berth_realloc(*buf, *len + l + 1);
    memcpy(*buf + *len, s, l + 1);
    *len += l;
}

/* overlayfs splits options at ',' and lowerdir at ':': such paths cannot be
 * passed through the string forms. Layer paths are berth's own (hex), so
 * this only guards against a misconfigured root. */
static bool path_ok(const char *p)
{
    return strpbrk(p, ",:\\") == NULL;
}

static char *options(const char *const *lowers, size_t n, const char *upper, const char *work)
{
    char *buf = NULL;
    size_t len = 0;
    append(&buf, &len, "lowerdir=");
    for (size_t i = 0; i < n; i++) {
        if (i)
            append(&buf, &len, ":");
        append(&buf, &len, lowers[i]);
    }
    if (upper) {
        append(&buf, &len, ",upperdir=");
        append(&buf, &len, upper);
        append(&buf, &len, ",workdir=");
        append(&buf, &len, work);
    }
    return buf;
}

static int mount_new_api(const char *const *lowers, size_t n, const char *upper, const char *work,
                         const char *target, berth_err_t *err)
{
    int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return -errno;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0) < 0)
            r = -errno;
    }
    if (r == 0 && upper &&
        (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
         fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", work, 0) < 0))
        r = -errno;
    if (r == 0 && fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        r = -errno;
    int mfd = -1;
    if (r == 0 && (mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0)) < 0)
        r = -errno;
    if (r == 0 && move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        r = -errno;
    if (mfd >= 0)
        close(mfd);
    close(fsfd);
    if (r < 0 && r != -EINVAL && r != -ENOSYS)
        return berth_err_errno(err, -r, "cannot mount an overlay of %zu layers on %s", n, target);
    return r;
}

/* mount(2) from a child whose cwd is links_dir, where layer i is the symlink
 * "<i>": relative lowerdirs resolve against the child's cwd, and a child is
 * needed because chdir would move every thread of berthd. */
static int mount_short_links(const char *const *lowers, size_t n, const char *upper,
                             const char *work, const char *target, const char *links_dir,
                             berth_err_t *err)
{
    if (berth_store_mkdir_p(links_dir, 0700, err) < 0)
        return -1;
    char **names = berth_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        names[i] = berth_asprintf("%zx", i);
        BERTH_AUTO_FREE char *lp = berth_asprintf("%s/%s", links_dir, names[i]);
        unlink(lp);
        if (symlink(lowers[i], lp) < 0) {
            int e = errno;
            for (size_t j = 0; j <= i; j++)
                berth_free(names[j]);
            berth_free(names);
            return berth_err_errno(err, e, "cannot link layer %zu at %s", i, lp);
        }
    }
    BERTH_AUTO_FREE char *opts = options((const char *const *)names, n, upper, work);
    for (size_t i = 0; i < n; i++)
        berth_free(names[i]);
    berth_free(names);
    if (strlen(opts) > MOUNT_DATA_MAX)
        return berth_err_make(err, E2BIG, BERTH_ERR_EXHAUSTED,
                              "an overlay of %zu layers does not fit mount(2) options even "
                              "with short links, and the kernel lacks lowerdir+",
                              n);
    /* Only async-signal-safe calls in the child: berthd is multithreaded. */
    pid_t pid = fork();
    if (pid < 0)
        return berth_err_errno(err, errno, "cannot fork to mount %s", target);
    if (pid == 0) {
        if (chdir(links_dir) < 0)
            _exit(errno);
        if (mount("overlay", target, "overlay", 0, opts) < 0)
            _exit(errno);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return berth_err_errno(err, errno, "cannot wait for the mount child");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return berth_err_errno(err, WIFEXITED(status) ? WEXITSTATUS(status) : EINTR,
                               "cannot mount an overlay of %zu layers on %s (short links)", n,
                               target);
    return 0;
}

int berth_overlay_mount(const char *const *lowers, size_t n, const char *upper, const char *work,
                        const char *target, const char *links_dir, int *method, berth_err_t *err)
{
    if (n == 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "an overlay needs at least one layer");
    if ((upper == NULL) != (work == NULL))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "an overlay needs both upperdir and workdir, or neither");
    for (size_t i = 0; i < n; i++) {
        if (!path_ok(lowers[i]))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "layer path %s contains ',', ':' or '\\'", lowers[i]);
    }
    if ((upper && !path_ok(upper)) || (work && !path_ok(work)))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "upper or work path contains ',', ':' or '\\'");
    BERTH_AUTO_FREE char *opts = options(lowers, n, upper, work);
    if (strlen(opts) <= MOUNT_DATA_MAX) {
        if (mount("overlay", target, "overlay", 0, opts) < 0)
            return berth_err_errno(err, errno, "cannot mount an overlay of %zu layers on %s", n,
                                   target);
        if (method)
            *method = BERTH_OVERLAY_MOUNT2;
        return 0;
    }
    int r = mount_new_api(lowers, n, upper, work, target, err);
    if (r == 0) {
        if (method)
            *method = BERTH_OVERLAY_LOWERDIR_PLUS;
        return 0;
    }
    if (r == -1)
        return -1;
    /* EINVAL/ENOSYS: no lowerdir+ (kernel < 6.8) or no new mount API. */
    if (links_dir == NULL)
        return berth_err_make(err, -r, BERTH_ERR_PRECONDITION,
                              "an overlay of %zu layers is too long for mount(2) and the "
                              "kernel refuses lowerdir+",
                              n);
    berth_log_debug("overlay: lowerdir+ refused, using short links", "layers=%zu target=%s", n,
                    target);
    if (mount_short_links(lowers, n, upper, work, target, links_dir, err) < 0)
        return -1;
    if (method)
        *method = BERTH_OVERLAY_SHORT_LINKS;
    return 0;
}

int berth_overlay_unmount(const char *target, berth_err_t *err)
{
    if (umount2(target, UMOUNT_NOFOLLOW) == 0)
        return 0;
    if (errno == EINVAL || errno == ENOENT)
        return 0; /* not a mount point, or gone */
    if (errno == EBUSY && umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        return 0;
    return berth_err_errno(err, errno, "cannot unmount %s", target);
}

static bool is_mountpoint(const char *path)
{
    struct stat a, b;
    BERTH_AUTO_FREE char *parent = berth_asprintf("%s/..", path);
    if (stat(path, &a) < 0 || stat(parent, &b) < 0)
        return false;
    return a.st_dev != b.st_dev;
}

static bool id_ok(const char *id)
{
    if (id == NULL || *id == '\0' || strlen(id) > 128 || strcmp(id, ".") == 0 ||
        strcmp(id, "..") == 0)
        return false;
    return strpbrk(id, "/,:\\") == NULL;
}

int berth_overlay_container_mount(const char *root, const char *id, const char *const *lowers,
                                  size_t n, char **rootfs, berth_err_t *err)
{
    if (!id_ok(id))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid container id \"%s\"",
                              id ? id : "");
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/overlay-containers/%s", root, id);
    BERTH_AUTO_FREE char *upper = berth_asprintf("%s/upper", dir);
    BERTH_AUTO_FREE char *work = berth_asprintf("%s/work", dir);
    BERTH_AUTO_FREE char *merged = berth_asprintf("%s/merged", dir);
    BERTH_AUTO_FREE char *links = berth_asprintf("%s/l", dir);
    uint64_t d0 = berth_hist_now();
    if (berth_store_mkdir_p(dir, 0700, err) < 0 || berth_store_mkdir_p(upper, 0755, err) < 0 ||
        berth_store_mkdir_p(work, 0700, err) < 0 || berth_store_mkdir_p(merged, 0755, err) < 0)
        return -1;
    berth_hist_since("overlay directories", d0);
    uint64_t t0 = berth_hist_now();
    if (!is_mountpoint(merged)) {
        int r = berth_overlay_mount(lowers, n, upper, work, merged, links, NULL, err);
        berth_hist_since("overlay mount", t0);
        if (r < 0)
            return berth_err_prefix(err, "container %s", id);
    }
    *rootfs = berth_steal_ptr(&merged);
    return 0;
}

/* The effective capabilities of this thread, saved and restored around a
 * change of fsuid (which clears the file-system ones). Raw syscalls: the
 * change is this thread's alone, as setfsuid's is. */
struct thread_caps {
    struct __user_cap_header_struct hdr;
    struct __user_cap_data_struct data[2];
};

static int caps_get(struct thread_caps *c)
{
    c->hdr = (struct __user_cap_header_struct){.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    return (int)syscall(SYS_capget, &c->hdr, c->data);
}

static int caps_set(struct thread_caps *c)
{
    return (int)syscall(SYS_capset, &c->hdr, c->data);
}

/* overlayfs does everything on the upper layer with the credentials of
 * whoever mounted it. Through an idmapped layer only the mapped host IDs
 * exist, so the mount is made with the fsuid/fsgid of the container's root
 * (host_uid/host_gid) and every capability kept effective; this thread's
 * own IDs come back afterwards. */
static int mount_as(uid_t host_uid, gid_t host_gid, const char *const *lowers, size_t n,
                    const char *upper, const char *work, const char *target, const char *links_dir,
                    berth_err_t *err)
{
    struct thread_caps saved, raised;
    if (caps_get(&saved) < 0)
        return berth_err_errno(err, errno, "capget");
    raised = saved;
    raised.data[0].effective = raised.data[0].permitted;
    raised.data[1].effective = raised.data[1].permitted;
    uid_t old_uid = (uid_t)setfsuid(host_uid);
    gid_t old_gid = (gid_t)setfsgid(host_gid);
    int rc;
    if (caps_set(&raised) < 0)
        rc = berth_err_errno(err, errno, "capset for the idmapped overlay mount");
    else
        rc = berth_overlay_mount(lowers, n, upper, work, target, links_dir, NULL, err);
    setfsgid(old_gid);
    setfsuid(old_uid);
    if (caps_set(&saved) < 0)
        berth_log_error("cannot restore a pool thread's capabilities", "errno=%d", errno);
    return rc;
}

int berth_overlay_container_mount_idmapped(const char *root, const char *id,
                                           const char *const *lowers, size_t n,
                                           const char *userns_path, const berth_idmaps_t *uid,
                                           const berth_idmaps_t *gid, char **rootfs,
                                           berth_err_t *err)
{
    if (userns_path == NULL)
        return berth_overlay_container_mount(root, id, lowers, n, rootfs, err);
    uint32_t root_uid, root_gid;
    if (!berth_idmap_to_host(uid, 0, &root_uid) || !berth_idmap_to_host(gid, 0, &root_gid))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "container %s: the user namespace does not map container ID 0", id);
    if (!id_ok(id))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid container id \"%s\"",
                              id ? id : "");
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/overlay-containers/%s", root, id);
    BERTH_AUTO_FREE char *merged = berth_asprintf("%s/merged", dir);
    BERTH_AUTO_FREE char *links = berth_asprintf("%s/l", dir);
    BERTH_AUTO_FREE char *layers_dir = berth_asprintf("%s/idmap-layers", dir);
    if (berth_store_mkdir_p(dir, 0700, err) < 0 || berth_store_mkdir_p(merged, 0755, err) < 0)
        return -1;
    /* The runtime reaches the rootfs (and the volumes' idmapped copies
     * under dir) from inside the user namespace, as an unprivileged user
     * of the node: every directory on the way must be searchable (0711,
     * nothing listable), as berth makes its root. */
    BERTH_AUTO_FREE char *parent = berth_asprintf("%s/overlay-containers", root);
    if (chmod(parent, 0711) < 0 || chmod(dir, 0711) < 0)
        return berth_err_errno(err, errno, "make %s searchable", dir);
    BERTH_AUTO_FREE char *upper0 = berth_asprintf("%s/upper", dir);
    BERTH_AUTO_FREE char *work0 = berth_asprintf("%s/work", dir);
    if (berth_store_mkdir_p(upper0, 0755, err) < 0 || berth_store_mkdir_p(work0, 0700, err) < 0)
        return -1;
    if (!is_mountpoint(merged)) {
        uint64_t t0 = berth_hist_now();
        /* The container directory (upper and work) first: its recursive
         * copy must not take in the layers' copies attached under it, which
         * are idmapped already. */
        const char **srcs = berth_calloc(n + 2, sizeof(*srcs));
        srcs[0] = dir;
        for (size_t i = 0; i < n; i++)
            srcs[i + 1] = lowers[i];
        char **mapped = berth_idmap_sources(layers_dir, userns_path, srcs, n + 1, err);
        berth_free(srcs);
        if (mapped == NULL)
            return berth_err_prefix(err, "container %s", id);
        BERTH_AUTO_FREE char *upper = berth_asprintf("%s/upper", mapped[0]);
        BERTH_AUTO_FREE char *work = berth_asprintf("%s/work", mapped[0]);
        int r = mount_as(root_uid, root_gid, (const char *const *)mapped + 1, n, upper, work,
                         merged, links, err);
        /* overlayfs holds private clones of its layers: the idmapped copies
         * are not needed once it is mounted. */
        berth_idmap_release_dir(layers_dir, NULL);
        for (size_t i = 0; i <= n; i++)
            berth_free(mapped[i]);
        berth_free(mapped);
        berth_hist_since("overlay mount (idmapped)", t0);
        if (r < 0)
            return berth_err_prefix(err, "container %s", id);
    }
    *rootfs = berth_steal_ptr(&merged);
    return 0;
}

int berth_overlay_container_remove(const char *root, const char *id, berth_err_t *err)
{
    if (!id_ok(id))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid container id \"%s\"",
                              id ? id : "");
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/overlay-containers/%s", root, id);
    BERTH_AUTO_FREE char *merged = berth_asprintf("%s/merged", dir);
    /* Idmapped copies of the pod's volumes: detached before anything under
     * dir is removed, or the removal would reach into the volumes. */
    static const char *const idmap_dirs[] = {"idmap", "idmap-layers"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(idmap_dirs); i++) {
        BERTH_AUTO_FREE char *d = berth_asprintf("%s/%s", dir, idmap_dirs[i]);
        if (berth_idmap_release_dir(d, err) < 0)
            return -1;
    }
    if (berth_overlay_unmount(merged, err) < 0)
        return -1;
    return berth_unpack_remove_tree(dir, err);
}

/* ---- async helpers ------------------------------------------------------- */

typedef struct overlay_job {
    char *root, *id;
    char *userns_path; /* NULL: the plain mount */
    berth_idmaps_t uid, gid;
    char **lowers;
    size_t n;
    bool remove;
    berth_overlay_done_msg_t *reply; /* owned by the pool until the job ends */
} overlay_job_t;

static void done_free(berth_msg_t *m)
{
    berth_overlay_done_msg_t *d = (berth_overlay_done_msg_t *)m;
    berth_free(d->rootfs);
    berth_err_free(&d->error);
    berth_free(d);
}

static void overlay_job(void *arg)
{
    overlay_job_t *j = arg;
    if (j->remove)
        berth_overlay_container_remove(j->root, j->id, &j->reply->error);
    else
        berth_overlay_container_mount_idmapped(j->root, j->id, (const char *const *)j->lowers, j->n,
                                               j->userns_path, &j->uid, &j->gid, &j->reply->rootfs,
                                               &j->reply->error);
    berth_free(j->userns_path);
    for (size_t i = 0; i < j->n; i++)
        berth_free(j->lowers[i]);
    berth_free(j->lowers);
    berth_free(j->root);
    berth_free(j->id);
    berth_free(j);
}

static void submit(const char *root, const char *id, const char *const *lowers, size_t n,
                   bool remove, berth_handle_t reply_to, uint64_t tag, const char *userns_path,
                   const berth_idmaps_t *uid, const berth_idmaps_t *gid)
{
    overlay_job_t *j = berth_calloc(1, sizeof(*j));
    if (userns_path && uid && gid) {
        j->userns_path = berth_strdup(userns_path);
        j->uid = *uid;
        j->gid = *gid;
    }
    j->root = berth_strdup(root);
    j->id = berth_strdup(id);
    j->n = n;
    j->lowers = berth_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        j->lowers[i] = berth_strdup(lowers[i]);
    j->remove = remove;
    j->reply = berth_msg_new(BERTH_MSG_OVERLAY_DONE, sizeof(*j->reply));
    j->reply->hdr.free = done_free;
    j->reply->tag = tag;
    berth_blocking_run(overlay_job, j, reply_to, &j->reply->hdr);
}

void berth_overlay_container_mount_async(const char *root, const char *id,
                                         const char *const *lowers, size_t n,
                                         berth_handle_t reply_to, uint64_t tag)
{
    submit(root, id, lowers, n, false, reply_to, tag, NULL, NULL, NULL);
}

void berth_overlay_container_mount_idmapped_async(const char *root, const char *id,
                                                  const char *const *lowers, size_t n,
                                                  const char *userns_path,
                                                  const berth_idmaps_t *uid,
                                                  const berth_idmaps_t *gid,
                                                  berth_handle_t reply_to, uint64_t tag)
{
    submit(root, id, lowers, n, false, reply_to, tag, userns_path, uid, gid);
}

void berth_overlay_container_remove_async(const char *root, const char *id, berth_handle_t reply_to,
                                          uint64_t tag)
{
    submit(root, id, NULL, 0, true, reply_to, tag, NULL, NULL, NULL);
}
