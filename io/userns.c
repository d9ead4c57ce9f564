/* SPDX-License-Identifier: Apache-2.0 */
/*
 * User namespaces and idmapped mounts (see userns.h). A user namespace
 * needs a process to be born in: a short-lived child made with
 * CLONE_NEWUSER waits on a pipe while this thread writes its uid_map and
 * gid_map from outside and pins /proc/<child>/ns/user with a bind mount;
 * then the pipe closes and the child exits. The pin keeps the namespace.
 *
 * The child shares this process's memory (CLONE_VM, no page tables copied,
 * as posix_spawn does) but runs concurrently with this thread, so it makes
 * exactly one raw read(2) on a pipe it was handed and returns: no libc
 * state, no allocation, no errno it could race on (a read that ends at
 * EOF sets none).
 *
 * Must never run in an actor turn: everything here blocks.
 */
#include "io/userns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

/* The new mount API's constants, for a libc whose headers predate them. */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

struct idmap_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

/* ---- validation ------------------------------------------------------------ */

int berth_idmap_check(const char *what, const berth_idmap_t *maps, size_t n, berth_err_t *err)
{
    if (n == 0 || n > BERTH_IDMAP_MAX)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "user namespace: %zu %s mappings (1 to %d are possible)", n, what,
                              BERTH_IDMAP_MAX);
    bool root = false;
    for (size_t i = 0; i < n; i++) {
        const berth_idmap_t *m = &maps[i];
        if (m->length == 0)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "user namespace: the %s mapping %u:%u:%u has length 0", what,
                                  m->container_id, m->host_id, m->length);
        if ((uint64_t)m->host_id + m->length > (uint64_t)UINT32_MAX ||
            (uint64_t)m->container_id + m->length > (uint64_t)UINT32_MAX)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "user namespace: the %s mapping %u:%u:%u goes past the largest "
                                  "ID",
                                  what, m->container_id, m->host_id, m->length);
        if (m->host_id == 0)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "user namespace: the %s mapping must not include host %s 0 (the "
                                  "node's root)",
                                  what, what);
        root |= m->container_id == 0;
        /* n is at most 340: the pairwise scan is cheap. */
        for (size_t j = 0; j < i; j++) {
            const berth_idmap_t *o = &maps[j];
            bool c = m->container_id < (uint64_t)o->container_id + o->length &&
                     o->container_id < (uint64_t)m->container_id + m->length;
            bool h = m->host_id < (uint64_t)o->host_id + o->length &&
                     o->host_id < (uint64_t)m->host_id + m->length;
            if (c || h)
                return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                      "user namespace: the %s mappings %u:%u:%u and %u:%u:%u "
                                      "overlap (%s IDs)",
                                      what, o->container_id, o->host_id, o->length, m->container_id,
                                      m->host_id, m->length, c ? "container" : "host");
        }
    }
    if (!root)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "user namespace: container %s 0 must be mapped (the mapping starts "
                              "at container %s %u)",
                              what, what, maps[0].container_id);
    return 0;
}

char *berth_idmap_line(const berth_idmap_t *m)
{
    return berth_asprintf("%u %u %u\n", m->container_id, m->host_id, m->length);
}

char *berth_idmap_text(const berth_idmaps_t *m)
{
    /* 33 bytes at most a line: three 10-digit numbers, two blanks, \n. */
    size_t cap = m->n * 33 + 1, len = 0;
    char *out = berth_malloc(cap);
    out[0] = '\0';
    for (size_t i = 0; i < m->n; i++) {
        const berth_idmap_t *e = &m->v[i];
        len += (size_t)snprintf(out + len, cap - len, "%u %u %u\n", e->container_id, e->host_id,
                                e->length);
    }
    return out;
}

bool berth_idmap_to_host(const berth_idmaps_t *m, uint32_t id, uint32_t *host)
{
    for (size_t i = 0; i < m->n; i++) {
        const berth_idmap_t *e = &m->v[i];
        if (id >= e->container_id && (uint64_t)id < (uint64_t)e->container_id + e->length) {
            *host = e->host_id + (id - e->container_id);
            return true;
        }
    }
    return false;
}

/* ---- the namespace ------------------------------------------------------- */

#define CHILD_STACK_SIZE (16u * 1024)

/* Waits for the parent to close the pipe: the child's copy of the write
 * end goes first (its fd table is a copy), so the read ends at EOF when the
 * parent closes its own. Only raw system calls: see the top. */
__attribute__((no_sanitize_address)) static int waiter_main(void *arg)
{
    const int *fds = arg;
    char c;
    syscall(SYS_close, fds[1]);
    syscall(SYS_read, fds[0], &c, 1);
    return 0;
}

static int write_map(pid_t pid, const char *file, const berth_idmaps_t *m, berth_err_t *err)
{
    BERTH_AUTO_FREE char *path = berth_asprintf("/proc/%d/%s", (int)pid, file);
    BERTH_AUTO_FREE char *line = berth_idmap_text(m);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return berth_err_errno(err, errno, "open %s", path);
    ssize_t w = write(fd, line, strlen(line));
    int e = errno;
    close(fd);
    if (w < 0 || (size_t)w != strlen(line))
        return berth_err_errno(err, w < 0 ? e : EIO, "write %s to %s", file, path);
    return 0;
}

static int make_pin(const char *src, const char *pin, berth_err_t *err)
{
    int fd = open(pin, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0 && errno == EEXIST) {
        struct statfs sf;
        if (statfs(pin, &sf) == 0 && sf.f_type == (typeof(sf.f_type))NSFS_MAGIC)
            return berth_err_make(err, EEXIST, BERTH_ERR_EXISTS, "namespace pin %s already exists",
                                  pin);
        unlink(pin); /* a leftover file of a crashed create */
        fd = open(pin, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    }
    if (fd < 0)
        return berth_err_errno(err, errno, "create namespace pin %s", pin);
    close(fd);
    if (mount(src, pin, NULL, MS_BIND, NULL) < 0) {
        int e = errno;
        unlink(pin);
        return berth_err_errno(err, e, "bind mount %s onto %s", src, pin);
    }
    return 0;
}

int berth_userns_create(const char *pin, const berth_idmaps_t *uid, const berth_idmaps_t *gid,
                        berth_err_t *err)
{
    if (berth_idmap_check("uid", uid->v, uid->n, err) < 0 ||
        berth_idmap_check("gid", gid->v, gid->n, err) < 0)
        return -1;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return berth_err_errno(err, errno, "pipe for the user namespace child");
    void *stack = berth_malloc(CHILD_STACK_SIZE);
    /* The child reads pipefd, which lives until it is reaped. */
    pid_t pid = (pid_t)clone(waiter_main, (char *)stack + CHILD_STACK_SIZE,
                             CLONE_VM | CLONE_NEWUSER | SIGCHLD, pipefd);
    int clone_errno = errno;
    int rc = -1;
    if (pid < 0) {
        berth_err_errno(err, clone_errno, "clone a new user namespace");
    } else if (write_map(pid, "uid_map", uid, err) == 0 &&
               write_map(pid, "gid_map", gid, err) == 0) {
        BERTH_AUTO_FREE char *src = berth_asprintf("/proc/%d/ns/user", (int)pid);
        rc = make_pin(src, pin, err);
    }
    close(pipefd[1]); /* the child's read ends: it exits */
    if (pid > 0)
        while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
            ;
    close(pipefd[0]);
    berth_free(stack);
    return rc;
}

int berth_userns_remove(const char *pin, berth_err_t *err)
{
    if (pin == NULL)
        return 0;
    if (umount2(pin, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return berth_err_errno(err, errno, "unmount namespace pin %s", pin);
    if (unlink(pin) < 0 && errno != ENOENT)
        return berth_err_errno(err, errno, "remove namespace pin %s", pin);
    return 0;
}

/* ---- idmapped mounts ------------------------------------------------------- */

/* recursive: the mounts under src come along (volumes); the probe takes the
 * file system of src alone, since a tree holding containers' overlays (a
 * restart with pods running) cannot be idmapped as a whole. */
static int idmap_clone(const char *src, const char *dst, int userns_fd, bool recursive,
                       berth_err_t *err)
{
    unsigned rec = recursive ? AT_RECURSIVE : 0;
    struct stat st;
    if (stat(src, &st) < 0)
        return berth_err_errno(err, errno, "idmapped mount: stat %s", src);
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(dst, 0755) < 0 && errno != EEXIST)
            return berth_err_errno(err, errno, "idmapped mount: mkdir %s", dst);
    } else {
        int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
        if (fd < 0)
            return berth_err_errno(err, errno, "idmapped mount: create %s", dst);
        close(fd);
    }
    int tree =
            (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
    if (tree < 0)
        return berth_err_errno(err, errno, "idmapped mount: open_tree %s", src);
    struct idmap_mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns_fd};
    int rc = 0;
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | rec, &attr, sizeof attr) < 0) {
        int e = errno;
        if (e == EINVAL || e == EPERM || e == ENOSYS)
            rc = berth_err_make(err, e, BERTH_ERR_PRECONDITION,
                                "the file system of %s (or a mount under it) does not support "
                                "idmapped mounts, which a pod with a user namespace needs: %s",
                                src, strerror(e));
        else
            rc = berth_err_errno(err, e, "idmapped mount: mount_setattr %s", src);
    } else if (syscall(SYS_move_mount, tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        rc = berth_err_errno(err, errno, "idmapped mount: attach %s at %s", src, dst);
    }
    close(tree);
    return rc;
}

int berth_idmap_clone(const char *src, const char *dst, int userns_fd, berth_err_t *err)
{
    return idmap_clone(src, dst, userns_fd, true, err);
}

int berth_idmap_release_dir(const char *dir, berth_err_t *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : berth_err_errno(err, errno, "open %s", dir);
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", dir, e->d_name);
        /* Detach first: what is left at p is then the empty placeholder
         * this module made, never the volume that was mounted on it. */
        if (umount2(p, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT) {
            if (rc == 0)
                rc = berth_err_errno(err, errno, "unmount %s", p);
            continue;
        }
        if (remove(p) < 0 && errno != ENOENT && rc == 0)
            rc = berth_err_errno(err, errno, "remove %s", p);
    }
    closedir(d);
    if (rc == 0 && rmdir(dir) < 0 && errno != ENOENT)
        rc = berth_err_errno(err, errno, "remove %s", dir);
    return rc;
}

char **berth_idmap_sources(const char *dir, const char *userns_path, const char *const *srcs,
                           size_t n, berth_err_t *err)
{
    if (berth_idmap_release_dir(dir, err) < 0)
        return NULL;
    /* 0711: the runtime finds the copies from inside the user namespace. */
    if (mkdir(dir, 0711) < 0 && errno != EEXIST) {
        berth_err_errno(err, errno, "mkdir %s", dir);
        return NULL;
    }
    int fd = open(userns_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        berth_err_errno(err, errno, "open the pod's user namespace %s", userns_path);
        return NULL;
    }
    char **out = berth_calloc(n + 1, sizeof(char *));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (srcs[i] == NULL)
            continue;
        out[i] = berth_asprintf("%s/%zu", dir, i);
        rc = berth_idmap_clone(srcs[i], out[i], fd, err);
    }
    close(fd);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            berth_free(out[i]);
        berth_free(out);
        berth_idmap_release_dir(dir, NULL);
        return NULL;
    }
    return out;
}

/* ---- probe ------------------------------------------------------------------- */

/* Written once on main before any reader thread exists (see the header). */
static bool probed_ok;
static const char *probe_why = "user namespaces were not probed";

static void probe_fail(const char *why, const char *detail)
{
    probe_why = why;
    berth_log_info("user namespaces unavailable", "reason=\"%s\" detail=\"%s\"", why, detail);
}

/* The first directory from / to path that others may not search, or NULL
 * (owned). */
static char *unsearchable(const char *path)
{
    char *p = berth_strdup(path);
    for (char *s = p;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        struct stat st;
        if (stat(p[0] ? p : "/", &st) == 0 && !(st.st_mode & S_IXOTH))
            return p;
        if (c == '\0')
            break;
        *s = c;
    }
    berth_free(p);
    return NULL;
}

void berth_userns_probe(const char *path)
{
    static char closed[512];
    BERTH_AUTO_FREE char *bad = unsearchable(path);
    if (bad != NULL) {
        snprintf(closed, sizeof closed,
                 "%s is not searchable by others (chmod o+x %s): the OCI runtime reaches the "
                 "container root file systems under %s from inside the user namespace",
                 bad, bad, path);
        return probe_fail(closed, "");
    }
    char tmpl[] = "/tmp/berth-userns-probe.XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        return probe_fail("cannot make a probe directory under /tmp", strerror(errno));
    BERTH_AUTO_FREE char *pin = berth_asprintf("%s/pin", tmpl);
    BERTH_AUTO_FREE char *tmpfs = berth_asprintf("%s/tmpfs", tmpl);
    BERTH_AUTO_FREE char *mdir = berth_asprintf("%s/idmap", tmpl);
    BERTH_AUTO_FREE char *m1 = berth_asprintf("%s/idmap/fs", tmpl);
    BERTH_AUTO_FREE char *m2 = berth_asprintf("%s/idmap/tmpfs", tmpl);
    static berth_idmaps_t map = {.n = 1,
                                 .v = {{.container_id = 0, .host_id = 1u << 30, .length = 65536}}};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    int fd = -1;
    if (mkdir(tmpfs, 0755) < 0 || mkdir(mdir, 0755) < 0) {
        probe_fail("cannot make a probe directory under /tmp", strerror(errno));
    } else if (berth_userns_create(pin, &map, &map, &err) < 0) {
        probe_fail("the kernel refuses to create a user namespace with a mapping (check "
                   "user.max_user_namespaces)",
                   err->msg);
    } else if ((fd = open(pin, O_RDONLY | O_CLOEXEC)) < 0) {
        probe_fail("cannot open the probe's user namespace", strerror(errno));
    } else if (idmap_clone(path, m1, fd, false, &err) < 0) {
        probe_fail("the file system of berth's root directory does not support idmapped mounts "
                   "(kernel >= 5.12; ext4, xfs, btrfs, tmpfs >= 6.3)",
                   err->msg);
    } else if (mount("tmpfs", tmpfs, "tmpfs", 0, "size=64k") < 0) {
        probe_fail("cannot mount a probe tmpfs", strerror(errno));
    } else if (berth_idmap_clone(tmpfs, m2, fd, &err) < 0) {
        probe_fail("tmpfs does not support idmapped mounts (kernel >= 6.3), which /dev/shm and "
                   "projected volumes need",
                   err->msg);
    } else {
        probed_ok = true;
    }
    if (fd >= 0)
        close(fd);
    berth_idmap_release_dir(mdir, NULL);
    umount2(tmpfs, MNT_DETACH);
    berth_userns_remove(pin, NULL);
    rmdir(tmpfs);
    rmdir(tmpl);
}

bool berth_userns_supported(const char **why)
{
    if (!probed_ok && why != NULL)
        *why = probe_why;
    return probed_ok;
}
