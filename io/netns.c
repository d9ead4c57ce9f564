/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod namespaces (see netns.h). A pod's namespaces are made by a short-lived
 * child cloned with CLONE_NEWNET|CLONE_NEWIPC|CLONE_NEWUTS: it sets the
 * hostname and sysctls from inside and bind-mounts its own /proc/self/ns/X
 * onto the pins, then exits. A child rather than unshare() on a pool
 * thread: a thread that could not setns() back would poison every later job
 * on it, while a child simply dies.
 *
 * The child is vfork-style, as glibc's posix_spawn makes its children:
 * CLONE_VM (no copy of berthd's page tables, which a fork paid for on every
 * pod: several ms, tens under load, docs/perf.md) and CLONE_VFORK (this
 * thread waits until the child has exited), on a stack of its own. It
 * shares the suspended thread's memory and TLS, so it only makes system
 * calls on data the parent prepared and reports in plain fields; it never
 * allocates, logs or formats.
 *
 * Must never run in an actor turn: everything here blocks.
 */
#include "io/fs.h"
#include "io/netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/hist.h"
#include "engine/log.h"
#include "io/blocking.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

static const struct {
    unsigned kind;
    const char *dir; /* sub-directory of pin_dir, and the /proc/<pid>/ns/ name */
} kinds[] = {
        {BERTH_NETNS_NET, "net"},
        {BERTH_NETNS_IPC, "ipc"},
        {BERTH_NETNS_UTS, "uts"},
};

static char **paths_slot(berth_netns_paths_t *p, unsigned kind)
{
    return kind == BERTH_NETNS_NET ? &p->net : kind == BERTH_NETNS_IPC ? &p->ipc : &p->uts;
}

void berth_netns_paths_fini(berth_netns_paths_t *paths)
{
    if (paths == NULL)
        return;
    berth_free(paths->net);
    berth_free(paths->ipc);
    berth_free(paths->uts);
    berth_free(paths->user);
    paths->net = paths->ipc = paths->uts = paths->user = NULL;
}

static char *strdup_or_null(const char *s)
{
    return s ? berth_strdup(s) : NULL;
}

void berth_netns_paths_copy(berth_netns_paths_t *dst, const berth_netns_paths_t *src)
{
    dst->net = strdup_or_null(src->net);
    dst->ipc = strdup_or_null(src->ipc);
    dst->uts = strdup_or_null(src->uts);
    dst->user = strdup_or_null(src->user);
}

bool berth_netns_exists(const char *path)
{
    struct statfs sf;
    return path != NULL && statfs(path, &sf) == 0 && sf.f_type == (typeof(sf.f_type))NSFS_MAGIC;
}

/* ---- sysctls ---------------------------------------------------------- */

/* Kubernetes' rule: the first separator decides. "a.b/c.d" uses dots (the
 * slash is part of a name, e.g. a VLAN interface "eth0.100" written
 * "eth0/100"); "a/b.c" uses slashes. Returns the /proc/sys-relative path
 * (owned) and the canonical dotted name in *dotted (owned). */
static char *sysctl_path(const char *key, char **dotted)
{
    bool dots = key[strcspn(key, "./")] == '.';
    char *path = berth_strdup(key);
    char *name = berth_strdup(key);
    for (char *p = path, *q = name; *p; p++, q++) {
        if (dots && *p == '.')
            *p = '/';
        else if (dots && *p == '/')
            *p = '.';
        else if (!dots && *q == '/')
            *q = '.';
    }
    *dotted = name;
    return path;
}

static bool path_components_ok(const char *path)
{
    const char *p = path;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (p[n] == '\0')
            return true;
        p += n + 1;
    }
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int berth_netns_sysctl_kind(const char *key, berth_err_t *err)
{
    if (key == NULL || key[0] == '\0')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "empty sysctl name");
    BERTH_AUTO_FREE char *dotted = NULL;
    BERTH_AUTO_FREE char *path = sysctl_path(key, &dotted);
    if (!path_components_ok(path))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "sysctl %s: invalid name", key);
    /* The same list runc validates against: the sysctls whose /proc/sys
     * file belongs to the writer's namespace rather than the whole host. */
    static const char *const ipc_exact[] = {
            "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
            "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
    };
    if (has_prefix(dotted, "net."))
        return BERTH_NETNS_NET;
    if (has_prefix(dotted, "fs.mqueue."))
        return BERTH_NETNS_IPC;
    for (size_t i = 0; i < BERTH_ARRAY_LEN(ipc_exact); i++)
        if (strcmp(dotted, ipc_exact[i]) == 0)
            return BERTH_NETNS_IPC;
    if (strcmp(dotted, "kernel.hostname") == 0 || strcmp(dotted, "kernel.domainname") == 0)
        return BERTH_NETNS_UTS;
    return berth_err_make(err, EPERM, BERTH_ERR_INVALID,
                          "sysctl %s is not namespaced: refusing to set it for a pod "
                          "(allowed: net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)",
                          key);
}

/* ---- the pin directory ------------------------------------------------- */

static int is_mount_root(const char *path)
{
    struct statx stx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, 0, &stx) < 0)
        return -errno;
    if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
        return -ENOTSUP;
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

/* Serialises the one-time preparation of a pin directory: two pool threads
 * preparing the same directory at once would both see "not a mount root" and
 * stack two self-binds. Held only for those few mount calls; see
 * docs/pods-io.md. */
static pthread_mutex_t prep_lock = PTHREAD_MUTEX_INITIALIZER;

static int prepare_pin_dir(const char *pin_dir, berth_err_t *err)
{
    if (berth_fs_mkdir_p(pin_dir, 0755, err) < 0)
        return -1;
    for (size_t i = 0; i < BERTH_ARRAY_LEN(kinds); i++) {
        BERTH_AUTO_FREE char *sub = berth_asprintf("%s/%s", pin_dir, kinds[i].dir);
        if (mkdir(sub, 0755) < 0 && errno != EEXIST)
            return berth_err_errno(err, errno, "mkdir %s", sub);
    }
    int rc = 0;
    pthread_mutex_lock(&prep_lock);
    int root = is_mount_root(pin_dir);
    if (root < 0) {
        rc = berth_err_errno(err, -root, "statx %s", pin_dir);
    } else if (root == 0) {
        /* A self-bind gives the directory its own mount whose propagation we
         * may change without touching the file system it lives on. Shared,
         * so a pin made or removed here reaches mount namespaces that copied
         * this one (containers), as iproute2 does for /run/netns. */
        if (mount(pin_dir, pin_dir, NULL, MS_BIND | MS_REC, NULL) < 0)
            rc = berth_err_errno(err, errno, "bind mount %s onto itself", pin_dir);
        else if (mount(NULL, pin_dir, NULL, MS_SHARED | MS_REC, NULL) < 0)
            rc = berth_err_errno(err, errno, "make %s a shared mount", pin_dir);
    }
    pthread_mutex_unlock(&prep_lock);
    return rc;
}

/* ---- create -------------------------------------------------------------- */

/* What went wrong in the child, for the parent's message. */
enum child_stage {
    CHILD_OK = 0,
    CHILD_USERNS, /* joining the pod's user namespace, or unsharing in it */
    CHILD_HOSTNAME,
    CHILD_LOOPBACK,
    CHILD_SYSCTL,     /* index: the sysctl */
    CHILD_PIN_EXISTS, /* index: the pin; a live namespace is pinned there */
    CHILD_PIN_CREATE,
    CHILD_PIN_MOUNT,
};

/* Everything the child touches, prepared before the clone, and what it
 * reports back. The child shares the parent's memory (CLONE_VM) while the
 * parent thread is suspended (CLONE_VFORK), so the report is plain fields. */
struct child_plan {
    bool net; /* a new network namespace: its loopback is brought up */
    const char *hostname;
    size_t hostname_len;
    char **paths; /* absolute /proc/sys paths */
    const char *const *values;
    size_t n;
    const char *pins[3];   /* the pin files to make */
    const char *ns_src[3]; /* "/proc/self/ns/net": the child's own */
    size_t npins;
    /* A pod user namespace (-1: none): the child joins it, then unshares
     * `unshare_flags` there, and opens its namespaces into ns_fds (the fd
     * table is shared, CLONE_FILES) for the parent to pin: a process in the
     * pod's user namespace may not mount in the node's mount namespace. */
    int userns_fd;
    int unshare_flags;
    int ns_fds[3];
    /* out */
    enum child_stage stage;
    size_t index;
    int errnum;
    size_t pinned; /* pins[0..pinned) are made */
};

#define CHILD_STACK_SIZE (64u * 1024)

/* The child's side of a failure: recorded, then the child ends. */
__attribute__((no_sanitize_address)) static int
child_fail(struct child_plan *p, enum child_stage stage, size_t index, int errnum)
{
    p->stage = stage;
    p->index = index;
    p->errnum = errnum;
    return 1;
}

/* An empty file at pin with the child's namespace bind-mounted on it. O_EXCL:
 * an existing pin is either a live pod's namespace (refuse) or a leftover
 * file of a crashed create (remove, then retry once). */
__attribute__((no_sanitize_address)) static int child_pin(struct child_plan *p, size_t i)
{
    int fd = open(p->pins[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0 && errno == EEXIST) {
        struct statfs sf;
        if (statfs(p->pins[i], &sf) == 0 && sf.f_type == (typeof(sf.f_type))NSFS_MAGIC)
            return child_fail(p, CHILD_PIN_EXISTS, i, EEXIST);
        unlink(p->pins[i]);
        fd = open(p->pins[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    }
    if (fd < 0)
        return child_fail(p, CHILD_PIN_CREATE, i, errno);
    close(fd);
    if (mount(p->ns_src[i], p->pins[i], NULL, MS_BIND, NULL) < 0) {
        int e = errno;
        unlink(p->pins[i]);
        return child_fail(p, CHILD_PIN_MOUNT, i, e);
    }
    return 0;
}

/* The child: already in its new namespaces. It shares the parent's memory
 * and (suspended) thread's TLS, as posix_spawn's child does, so it only
 * makes system calls on data the parent prepared; it never allocates, logs
 * or takes a lock. Every signal is blocked (pool threads block them all),
 * so no handler can run on its stack. */
__attribute__((no_sanitize_address)) static int child_main(void *arg)
{
    struct child_plan *p = arg;
    if (p->userns_fd >= 0) {
        if (setns(p->userns_fd, CLONE_NEWUSER) < 0 || unshare(p->unshare_flags) < 0)
            return child_fail(p, CHILD_USERNS, 0, errno);
    }
    if (p->hostname_len > 0 && sethostname(p->hostname, p->hostname_len) < 0)
        return child_fail(p, CHILD_HOSTNAME, 0, errno);
    /* A new network namespace starts with lo down: programs that talk to
     * themselves on localhost, and port-forward (which connects to
     * localhost inside the pod), need it up, as every runtime gives it. */
    if (p->net) {
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        memcpy(ifr.ifr_name, "lo", 3);
        int rc = s < 0 ? -1 : ioctl(s, SIOCGIFFLAGS, &ifr);
        if (rc == 0) {
            ifr.ifr_flags |= IFF_UP;
            rc = ioctl(s, SIOCSIFFLAGS, &ifr);
        }
        int e = errno;
        if (s >= 0)
            close(s);
        if (rc < 0)
            return child_fail(p, CHILD_LOOPBACK, 0, e);
    }
    for (size_t i = 0; i < p->n; i++) {
        int fd = open(p->paths[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return child_fail(p, CHILD_SYSCTL, i, errno);
        size_t len = strlen(p->values[i]);
        ssize_t w = write(fd, p->values[i], len);
        int e = errno;
        close(fd);
        if (w < 0 || (size_t)w != len)
            return child_fail(p, CHILD_SYSCTL, i, w < 0 ? e : EIO);
    }
    /* The pins: /proc/self is this child, whose namespaces are the pod's;
     * the mount namespace is the parent's, so the pins are everyone's. */
    for (size_t i = 0; i < p->npins; i++) {
        if (p->userns_fd >= 0) {
            p->ns_fds[i] = open(p->ns_src[i], O_RDONLY | O_CLOEXEC);
            if (p->ns_fds[i] < 0)
                return child_fail(p, CHILD_PIN_CREATE, i, errno);
            continue;
        }
        if (child_pin(p, i) != 0)
            return 1;
        p->pinned = i + 1;
    }
    p->stage = CHILD_OK;
    return 0;
}

static void reap(pid_t pid)
{
    while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
        ;
}

static int valid_pod_id(const char *id)
{
    return id != NULL && id[0] != '\0' && strchr(id, '/') == NULL && strcmp(id, ".") != 0 &&
           strcmp(id, "..") != 0;
}

int berth_netns_create(const berth_netns_spec_t *spec, berth_netns_paths_t *out, berth_err_t *err)
{
    *out = (berth_netns_paths_t){0};
    if (spec->pin_dir == NULL || spec->pin_dir[0] != '/')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "namespace pin directory must be an absolute path");
    if (!valid_pod_id(spec->pod_id))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "invalid pod id \"%s\" for namespace pins",
                              spec->pod_id ? spec->pod_id : "");
    unsigned want = spec->kinds & BERTH_NETNS_ALL;
    const char *hostname = (want & BERTH_NETNS_UTS) && spec->hostname ? spec->hostname : "";
    size_t hostname_len = strlen(hostname);
    if (hostname_len > 64)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "hostname %s is longer than 64 bytes",
                              hostname);

    /* Validate every sysctl before creating anything. */
    char **paths = berth_calloc(spec->nsysctls + 1, sizeof *paths);
    const char **values = berth_calloc(spec->nsysctls + 1, sizeof *values);
    int rc = -1;
    for (size_t i = 0; i < spec->nsysctls; i++) {
        const berth_sysctl_t *s = &spec->sysctls[i];
        int kind = berth_netns_sysctl_kind(s->key, err);
        if (kind < 0)
            goto out;
        if (!(want & (unsigned)kind)) {
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                           "sysctl %s needs the pod's own %s namespace, but the pod uses "
                           "the host's",
                           s->key,
                           kind == BERTH_NETNS_NET   ? "network"
                           : kind == BERTH_NETNS_IPC ? "IPC"
                                                     : "UTS");
            goto out;
        }
        if (s->value == NULL || strchr(s->value, '\n') != NULL) {
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "sysctl %s: invalid value", s->key);
            goto out;
        }
        BERTH_AUTO_FREE char *dotted = NULL;
        BERTH_AUTO_FREE char *rel = sysctl_path(s->key, &dotted);
        paths[i] = berth_asprintf("/proc/sys/%s", rel);
        values[i] = s->value;
    }
    bool user = spec->uid_map != NULL && spec->gid_map != NULL;
    if (want == 0 && !user) {
        rc = 0;
        goto out;
    }
    if (prepare_pin_dir(spec->pin_dir, err) < 0)
        goto out;
    int userns_fd = -1;
    if (user) {
        BERTH_AUTO_FREE char *user_dir = berth_asprintf("%s/user", spec->pin_dir);
        if (mkdir(user_dir, 0755) < 0 && errno != EEXIST) {
            berth_err_errno(err, errno, "mkdir %s", user_dir);
            goto out;
        }
        char *pin = berth_asprintf("%s/user/%s", spec->pin_dir, spec->pod_id);
        if (berth_userns_create(pin, spec->uid_map, spec->gid_map, err) < 0) {
            berth_free(pin);
            goto out;
        }
        out->user = pin;
        userns_fd = open(pin, O_RDONLY | O_CLOEXEC);
        if (userns_fd < 0) {
            berth_err_errno(err, errno, "open the pod's user namespace %s", pin);
            berth_netns_remove(out, NULL);
            berth_netns_paths_fini(out);
            goto out;
        }
        if (want == 0) {
            close(userns_fd);
            rc = 0;
            goto out;
        }
    }

    struct child_plan plan = {
            .hostname = hostname,
            .hostname_len = hostname_len,
            .paths = paths,
            .values = values,
            .n = spec->nsysctls,
            .stage = CHILD_PIN_CREATE, /* a child that never ran */
            .errnum = EIO,
            .userns_fd = userns_fd,
            .ns_fds = {-1, -1, -1},
    };
    char *pins[3] = {NULL, NULL, NULL};
    unsigned pin_kind[3];
    char srcs[3][32];
    for (size_t i = 0; i < BERTH_ARRAY_LEN(kinds); i++) {
        if (!(want & kinds[i].kind))
            continue;
        size_t k = plan.npins++;
        pins[k] = berth_asprintf("%s/%s/%s", spec->pin_dir, kinds[i].dir, spec->pod_id);
        pin_kind[k] = kinds[i].kind;
        snprintf(srcs[k], sizeof srcs[k], "/proc/self/ns/%s", kinds[i].dir);
        plan.pins[k] = pins[k];
        plan.ns_src[k] = srcs[k];
    }
    unsigned long flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
    if (want & BERTH_NETNS_NET) {
        flags |= CLONE_NEWNET;
        plan.net = true;
    }
    if (want & BERTH_NETNS_IPC)
        flags |= CLONE_NEWIPC;
    if (want & BERTH_NETNS_UTS)
        flags |= CLONE_NEWUTS;
    if (userns_fd >= 0) {
        /* Made inside the user namespace by the child instead (see
         * child_plan), with the fd table shared for the pins' fds. */
        plan.unshare_flags = (int)(flags & (CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS));
        flags = (flags & ~(unsigned long)plan.unshare_flags) | CLONE_FILES;
    }
    /* A vfork-style child (posix_spawn's way): it shares this process's
     * memory, so the clone copies no page tables, and this thread waits
     * until it exits, by which time the namespaces are set up and pinned.
     * Its stack is its own. */
    void *stack = berth_malloc(CHILD_STACK_SIZE);
    uint64_t t0 = berth_hist_now();
    pid_t pid = (pid_t)clone(child_main, (char *)stack + CHILD_STACK_SIZE, (int)flags, &plan);
    int clone_errno = errno;
    if (pid > 0)
        reap(pid); /* at once: the child has exited when clone returns */
    berth_hist_since("netns child (clone to exit)", t0);
    berth_free(stack);
    if (userns_fd >= 0) {
        /* The child opened its namespaces; this thread, still in the
         * node's user namespace, pins them. */
        if (pid > 0 && plan.stage == CHILD_OK) {
            for (size_t i = 0; i < plan.npins; i++) {
                snprintf(srcs[i], sizeof srcs[i], "/proc/self/fd/%d", plan.ns_fds[i]);
                plan.ns_src[i] = srcs[i];
                if (child_pin(&plan, i) != 0)
                    break;
                plan.pinned = i + 1;
            }
        }
        for (size_t i = 0; i < plan.npins; i++)
            if (plan.ns_fds[i] >= 0)
                close(plan.ns_fds[i]);
        close(userns_fd);
    }
    if (pid < 0)
        berth_err_errno(err, clone_errno, "clone new namespaces");
    else if (plan.stage == CHILD_OK)
        rc = 0;
    else if (plan.stage == CHILD_USERNS)
        berth_err_errno(err, plan.errnum, "create the pod's namespaces in its user namespace");
    else if (plan.stage == CHILD_HOSTNAME)
        berth_err_errno(err, plan.errnum, "set hostname %s in the pod's UTS namespace", hostname);
    else if (plan.stage == CHILD_LOOPBACK)
        berth_err_errno(err, plan.errnum, "bring up lo in the pod's network namespace");
    else if (plan.stage == CHILD_SYSCTL)
        berth_err_errno(err, plan.errnum, "set sysctl %s=%s", spec->sysctls[plan.index].key,
                        spec->sysctls[plan.index].value);
    else if (plan.stage == CHILD_PIN_EXISTS)
        berth_err_make(err, EEXIST, BERTH_ERR_EXISTS, "namespace pin %s already exists",
                       plan.pins[plan.index]);
    else if (plan.stage == CHILD_PIN_MOUNT)
        berth_err_errno(err, plan.errnum, "bind mount %s onto %s", plan.ns_src[plan.index],
                        plan.pins[plan.index]);
    else
        berth_err_errno(err, plan.errnum, "create namespace pin %s", plan.pins[plan.index]);
    /* What the child pinned is the caller's, or removed on a failure. */
    for (size_t i = 0; i < plan.pinned; i++)
        *paths_slot(out, pin_kind[i]) = berth_steal_ptr(&pins[i]);
    for (size_t i = 0; i < plan.npins; i++)
        berth_free(pins[i]);
    if (rc < 0) {
        berth_netns_remove(out, NULL);
        berth_netns_paths_fini(out);
    }
out:
    for (size_t i = 0; i < spec->nsysctls; i++)
        berth_free(paths[i]);
    berth_free(paths);
    berth_free(values);
    return rc;
}

/* ---- remove, cleanup ------------------------------------------------------ */

static int remove_pin(const char *pin, berth_err_t *err)
{
    if (umount2(pin, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return berth_err_errno(err, errno, "unmount namespace pin %s", pin);
    if (unlink(pin) < 0 && errno != ENOENT)
        return berth_err_errno(err, errno, "remove namespace pin %s", pin);
    return 0;
}

int berth_netns_remove(const berth_netns_paths_t *paths, berth_err_t *err)
{
    const char *pins[] = {paths->net, paths->ipc, paths->uts, paths->user};
    int rc = 0;
    for (size_t i = 0; i < BERTH_ARRAY_LEN(pins); i++) {
        if (pins[i] == NULL)
            continue;
        /* Keep the first error, but try every pin. */
        BERTH_AUTO_ERR berth_err_t e = NULL;
        if (remove_pin(pins[i], &e) < 0 && rc == 0) {
            rc = -1;
            if (err != NULL)
                *err = berth_err_steal(&e);
        }
    }
    return rc;
}

int berth_netns_cleanup(const char *pin_dir, const char *const *keep, size_t nkeep,
                        berth_err_t *err)
{
    static const char *const dirs[] = {"net", "ipc", "uts", "user"};
    int removed = 0;
    for (size_t k = 0; k < BERTH_ARRAY_LEN(dirs); k++) {
        BERTH_AUTO_FREE char *sub = berth_asprintf("%s/%s", pin_dir, dirs[k]);
        DIR *d = opendir(sub);
        if (d == NULL) {
            if (errno == ENOENT)
                continue;
            return berth_err_errno(err, errno, "open namespace pin directory %s", sub);
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            bool live = false;
            for (size_t i = 0; i < nkeep && !live; i++)
                live = strcmp(keep[i], e->d_name) == 0;
            if (live)
                continue;
            BERTH_AUTO_FREE char *pin = berth_asprintf("%s/%s", sub, e->d_name);
            BERTH_AUTO_ERR berth_err_t perr = NULL;
            if (remove_pin(pin, &perr) < 0) {
                berth_log_warn("cannot remove a stale namespace pin", "pin=%s error=\"%s\"", pin,
                               perr->msg);
                continue;
            }
            removed++;
        }
        closedir(d);
    }
    return removed;
}

int berth_netns_dir_release(const char *pin_dir, berth_err_t *err)
{
    pthread_mutex_lock(&prep_lock);
    int root = is_mount_root(pin_dir);
    int rc = 0;
    if (root == -ENOENT)
        rc = 0;
    else if (root < 0)
        rc = berth_err_errno(err, -root, "statx %s", pin_dir);
    else if (root == 1 && umount2(pin_dir, MNT_DETACH) < 0)
        rc = berth_err_errno(err, errno, "unmount %s", pin_dir);
    pthread_mutex_unlock(&prep_lock);
    return rc;
}

int berth_netns_dir_release_if_unused(const char *pin_dir, berth_err_t *err)
{
    static const char *const kinds[] = {"net", "ipc", "uts", "user"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        BERTH_AUTO_FREE char *d = berth_asprintf("%s/%s", pin_dir, kinds[i]);
        size_t n = 0;
        char **names = berth_fs_list_names(d, &n);
        berth_strv_free(names);
        if (n > 0)
            return 0;
    }
    return berth_netns_dir_release(pin_dir, err) < 0 ? -1 : 1;
}

/* ---- async wrappers ------------------------------------------------------ */

static void done_msg_free(berth_msg_t *m)
{
    berth_netns_done_msg_t *d = (berth_netns_done_msg_t *)m;
    berth_netns_paths_fini(&d->paths);
    berth_err_free(&d->error);
    berth_free(d);
}

typedef struct create_job {
    berth_netns_spec_t spec; /* every string owned */
    berth_sysctl_t *sysctls;
    berth_idmaps_t uid_map, gid_map;
    berth_netns_done_msg_t *reply;
} create_job_t;

static void create_job(void *arg)
{
    create_job_t *j = arg;
    berth_netns_create(&j->spec, &j->reply->paths, &j->reply->error);
    berth_free((char *)j->spec.pin_dir);
    berth_free((char *)j->spec.pod_id);
    berth_free((char *)j->spec.hostname);
    for (size_t i = 0; i < j->spec.nsysctls; i++) {
        berth_free((char *)j->sysctls[i].key);
        berth_free((char *)j->sysctls[i].value);
    }
    berth_free(j->sysctls);
    berth_free(j);
}

void berth_netns_create_async(const berth_netns_spec_t *spec, berth_handle_t reply_to, uint64_t tag)
{
    create_job_t *j = berth_calloc(1, sizeof *j);
    j->spec.pin_dir = strdup_or_null(spec->pin_dir);
    j->spec.pod_id = strdup_or_null(spec->pod_id);
    j->spec.hostname = strdup_or_null(spec->hostname);
    j->spec.kinds = spec->kinds;
    j->sysctls = berth_calloc(spec->nsysctls + 1, sizeof *j->sysctls);
    for (size_t i = 0; i < spec->nsysctls; i++) {
        j->sysctls[i].key = strdup_or_null(spec->sysctls[i].key);
        j->sysctls[i].value = strdup_or_null(spec->sysctls[i].value);
    }
    j->spec.sysctls = j->sysctls;
    if (spec->uid_map && spec->gid_map) {
        j->uid_map = *spec->uid_map;
        j->gid_map = *spec->gid_map;
        j->spec.uid_map = &j->uid_map;
        j->spec.gid_map = &j->gid_map;
    }
    j->spec.nsysctls = spec->nsysctls;
    j->reply = berth_msg_new(BERTH_MSG_NETNS_CREATED, sizeof *j->reply);
    j->reply->hdr.free = done_msg_free;
    j->reply->tag = tag;
    berth_blocking_run(create_job, j, reply_to, &j->reply->hdr);
}

static void remove_job(void *arg)
{
    berth_netns_done_msg_t *d = arg;
    berth_netns_remove(&d->paths, &d->error);
}

void berth_netns_remove_async(const berth_netns_paths_t *paths, berth_handle_t reply_to,
                              uint64_t tag)
{
    berth_netns_done_msg_t *d = berth_msg_new(BERTH_MSG_NETNS_REMOVED, sizeof *d);
    d->hdr.free = done_msg_free;
    d->tag = tag;
    berth_netns_paths_copy(&d->paths, paths);
    /* The job only reads the message's own paths and fills its error; the
     * pool sends it after the job returns, so no one else holds it yet. */
    berth_blocking_run(remove_job, d, reply_to, &d->hdr);
}
