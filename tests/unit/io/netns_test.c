/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/netns on the real kernel (root): pins are nsfs mounts of new
 * namespaces, the hostname and namespaced sysctls are set inside them,
 * non-namespaced sysctls are refused by name, a failed create leaves nothing
 * behind, remove is idempotent, crash-recovery cleanup keeps live pods, and
 * the async wrappers reply through the blocking pool. Skips (77) when not
 * root or when the kernel refuses new namespaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/netns.h"
#include "tests/unit/check.h"

static char *base; /* the test's temporary directory */
static char *pins; /* the pin directory under it */

/* Runs fn in a forked child that joins the namespace pinned at `pin`; the
 * child writes what it read into buf. */
static bool read_inside(const char *pin, int nstype, const char *file, char *buf, size_t len)
{
    int p[2];
    if (pipe(p) < 0)
        return false;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        int fd = open(pin, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, nstype) < 0)
            _exit(2);
        char out[256] = {0};
        if (file == NULL) {
            if (gethostname(out, sizeof out - 1) < 0)
                _exit(3);
        } else {
            int f = open(file, O_RDONLY | O_CLOEXEC);
            if (f < 0 || read(f, out, sizeof out - 1) < 0)
                _exit(4);
        }
        if (write(p[1], out, strlen(out)) < 0)
            _exit(5);
        _exit(0);
    }
    close(p[1]);
    ssize_t n = read(p[0], buf, len - 1);
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    buf[n > 0 ? n : 0] = '\0';
    /* Sysctl files end in a newline. */
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static bool host_value(const char *file, char *buf, size_t len)
{
    FILE *f = fopen(file, "re");
    if (f == NULL)
        return false;
    bool ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    return ok;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static bool pin_is_shared_mount_root(const char *dir)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    bool found = false;
    while (f && fgets(line, sizeof line, f)) {
        char mnt[2048];
        if (sscanf(line, "%*d %*d %*s %*s %2047s", mnt) == 1 && strcmp(mnt, dir) == 0 &&
            strstr(line, " shared:") != NULL)
            found = true;
    }
    if (f)
        fclose(f);
    return found;
}

/* ---- async wrappers through the engine ------------------------------- */

enum { MSG_GO = 300 };

static sem_t done_sem;
static berth_netns_done_msg_t *async_created, *async_removed;

typedef struct driver {
    berth_netns_spec_t spec;
} driver_t;

static void driver_receive(berth_actor_t *self, berth_msg_t *msg)
{
    driver_t *d = berth_actor_state(self);
    if (msg->type == MSG_GO) {
        berth_netns_create_async(&d->spec, berth_actor_self(self), 7);
        berth_msg_free(msg);
    } else if (msg->type == BERTH_MSG_NETNS_CREATED) {
        async_created = (berth_netns_done_msg_t *)msg;
        berth_netns_remove_async(&async_created->paths, berth_actor_self(self), 8);
    } else if (msg->type == BERTH_MSG_NETNS_REMOVED) {
        async_removed = (berth_netns_done_msg_t *)msg;
        berth_actor_exit(self);
        sem_post(&done_sem);
    } else {
        berth_msg_free(msg);
    }
}

static const berth_actor_class_t driver_class = {
        .name = "netns-test", .receive = driver_receive, .fini = berth_free};

static bool sem_wait_secs(sem_t *s, int secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    while (sem_timedwait(s, &ts) < 0)
        if (errno != EINTR)
            return false;
    return true;
}

int main(void)
{
    alarm(120);
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root (namespaces and mounts)\n");
        return 77;
    }
    char tmpl[] = "/tmp/berth-netns-XXXXXX";
    base = mkdtemp(tmpl);
    if (base == NULL)
        return 1;
    pins = berth_asprintf("%s/ns", base);

    BERTH_AUTO_ERR berth_err_t err = NULL;
    bool ok_;
    berth_sysctl_t sysctls[] = {
            {"net.ipv4.ip_unprivileged_port_start", "80"},
            {"net/ipv4/ping_group_range", "0 2147483647"},
            {"kernel.shmmni", "1234"},
    };
    berth_netns_spec_t spec = {
            .pin_dir = pins,
            .pod_id = "pod-a",
            .kinds = BERTH_NETNS_ALL,
            .hostname = "berth-pod-a",
            .sysctls = sysctls,
            .nsysctls = BERTH_ARRAY_LEN(sysctls),
    };
    berth_netns_paths_t paths = {0};
    int rc = berth_netns_create(&spec, &paths, &err);
    if (rc < 0 && err && (err->errnum == EPERM || err->errnum == EINVAL || err->errnum == ENOSYS)) {
        printf("1..0 # SKIP cannot create namespaces here: %s\n", err->msg);
        rmdir(pins);
        rmdir(base);
        return 77;
    }
    printf("1..27\n");
    check(rc == 0, "create net+ipc+uts with hostname and sysctls (%s)", err ? err->msg : "ok");
    check(paths.net && paths.ipc && paths.uts && berth_netns_exists(paths.net) &&
                  berth_netns_exists(paths.ipc) && berth_netns_exists(paths.uts),
          "the three pins exist and are nsfs mounts");
    BERTH_AUTO_FREE char *want_net = berth_asprintf("%s/net/pod-a", pins);
    check(paths.net && strcmp(paths.net, want_net) == 0, "pins live at <pin_dir>/net/<pod-id>");
    struct stat pin_st, host_st;
    check(paths.net && stat(paths.net, &pin_st) == 0 && stat("/proc/self/ns/net", &host_st) == 0 &&
                  pin_st.st_ino != host_st.st_ino,
          "the pinned network namespace is not the host's");
    check(pin_is_shared_mount_root(pins), "the pin directory is a shared mount of its own");

    char buf[256], host[256];
    check(paths.uts && read_inside(paths.uts, CLONE_NEWUTS, NULL, buf, sizeof buf) &&
                  strcmp(buf, "berth-pod-a") == 0,
          "hostname inside the UTS namespace is berth-pod-a (got %s)", buf);
    check(paths.net &&
                  read_inside(paths.net, CLONE_NEWNET,
                              "/proc/sys/net/ipv4/ip_unprivileged_port_start", buf, sizeof buf) &&
                  strcmp(buf, "80") == 0,
          "net sysctl applied inside the pod's netns (got %s)", buf);
    check(host_value("/proc/sys/net/ipv4/ip_unprivileged_port_start", host, sizeof host) &&
                  strcmp(host, "80") != 0,
          "the host's value is untouched (%s)", host);
    check(paths.net &&
                  read_inside(paths.net, CLONE_NEWNET, "/proc/sys/net/ipv4/ping_group_range", buf,
                              sizeof buf) &&
                  strcmp(buf, "0\t2147483647") == 0,
          "slash-separated sysctl key applied (got %s)", buf);
    check(paths.ipc &&
                  read_inside(paths.ipc, CLONE_NEWIPC, "/proc/sys/kernel/shmmni", buf,
                              sizeof buf) &&
                  strcmp(buf, "1234") == 0,
          "IPC sysctl applied inside the pod's IPC namespace (got %s)", buf);

    /* A second create for the same pod id must not replace a live pin. */
    berth_netns_paths_t dup = {0};
    BERTH_AUTO_ERR berth_err_t dup_err = NULL;
    ok_ = berth_netns_create(&spec, &dup, &dup_err) < 0 && dup_err && dup_err->errnum == EEXIST &&
          berth_netns_exists(paths.net);
    check(ok_, "an existing pin is refused with EEXIST and kept (%s)",
          dup_err ? dup_err->msg : "no error");

    check(berth_netns_remove(&paths, &err) == 0 && !file_exists(paths.net) &&
                  !file_exists(paths.ipc) && !file_exists(paths.uts),
          "remove unmounts and unlinks every pin");
    check(berth_netns_remove(&paths, &err) == 0, "remove again is fine (idempotent)");
    berth_netns_paths_fini(&paths);

    /* Refusals: nothing may be left behind. */
    berth_sysctl_t bad[] = {{"net.ipv4.ip_forward", "1"}, {"vm.swappiness", "10"}};
    berth_netns_spec_t bs = spec;
    bs.pod_id = "pod-bad";
    bs.sysctls = bad;
    bs.nsysctls = 2;
    BERTH_AUTO_ERR berth_err_t e1 = NULL;
    BERTH_AUTO_FREE char *bad_net = berth_asprintf("%s/net/pod-bad", pins);
    ok_ = berth_netns_create(&bs, &paths, &e1) < 0 && e1 && strstr(e1->msg, "vm.swappiness") &&
          strstr(e1->msg, "not namespaced") && !file_exists(bad_net);
    check(ok_, "a non-namespaced sysctl is refused by name (%s)", e1 ? e1->msg : "no error");
    BERTH_AUTO_ERR berth_err_t e2 = NULL;
    bs.kinds = BERTH_NETNS_IPC | BERTH_NETNS_UTS;
    bs.nsysctls = 1;
    ok_ = berth_netns_create(&bs, &paths, &e2) < 0 && e2 &&
          strstr(e2->msg, "net.ipv4.ip_forward") && strstr(e2->msg, "host");
    check(ok_, "a net sysctl with the host network is refused (%s)", e2 ? e2->msg : "no error");
    berth_sysctl_t badval[] = {{"net.ipv4.ip_unprivileged_port_start", "not-a-number"}};
    bs.kinds = BERTH_NETNS_ALL;
    bs.sysctls = badval;
    BERTH_AUTO_ERR berth_err_t e3 = NULL;
    BERTH_AUTO_FREE char *bad_uts = berth_asprintf("%s/uts/pod-bad", pins);
    ok_ = berth_netns_create(&bs, &paths, &e3) < 0 && e3 &&
          strstr(e3->msg, "ip_unprivileged_port_start") && !file_exists(bad_net) &&
          !file_exists(bad_uts);
    check(ok_, "a sysctl the kernel rejects fails the create and leaves no pin (%s)",
          e3 ? e3->msg : "no error");
    BERTH_AUTO_ERR berth_err_t e4 = NULL;
    bs.pod_id = "../escape";
    bs.nsysctls = 0;
    check(berth_netns_create(&bs, &paths, &e4) < 0 && e4 && e4->errnum == EINVAL,
          "a pod id with '/' is refused");
    BERTH_AUTO_ERR berth_err_t e5 = NULL;
    check(berth_netns_sysctl_kind("kernel.shm_rmid_forced", &e5) == BERTH_NETNS_IPC &&
                  berth_netns_sysctl_kind("fs.mqueue.msg_max", &e5) == BERTH_NETNS_IPC &&
                  berth_netns_sysctl_kind("net.core.somaxconn", &e5) == BERTH_NETNS_NET &&
                  berth_netns_sysctl_kind("kernel.panic", NULL) < 0 && e5 == NULL,
          "sysctl classification");

    /* Only a net namespace: the other pins are the host's (NULL). */
    berth_netns_spec_t ns_only = {
            .pin_dir = pins, .pod_id = "pod-n", .kinds = BERTH_NETNS_NET, .hostname = "ignored"};
    berth_netns_paths_t np = {0};
    char hn[256] = {0}, hn_after[256] = {0};
    gethostname(hn, sizeof hn - 1);
    check(berth_netns_create(&ns_only, &np, &err) == 0 && np.net && !np.ipc && !np.uts &&
                  berth_netns_exists(np.net),
          "a net-only pod pins only its netns");
    gethostname(hn_after, sizeof hn_after - 1);
    check(strcmp(hn, hn_after) == 0, "the host's hostname is untouched");

    /* Crash recovery: pods x, y, z; only y is live. */
    const char *ids[] = {"pod-x", "pod-y", "pod-z"};
    berth_netns_paths_t cp[3] = {{0}};
    bool made = true;
    for (int i = 0; i < 3; i++) {
        berth_netns_spec_t s = {.pin_dir = pins, .pod_id = ids[i], .kinds = BERTH_NETNS_ALL};
        made = made && berth_netns_create(&s, &cp[i], &err) == 0;
    }
    const char *keep[] = {"pod-y"};
    int removed = made ? berth_netns_cleanup(pins, keep, 1, &err) : -1;
    check(made && removed == 7 && berth_netns_exists(cp[1].net) && berth_netns_exists(cp[1].uts) &&
                  !file_exists(cp[0].net) && !file_exists(cp[2].ipc) && !file_exists(np.net),
          "cleanup removes every pin of pods not kept (%d removed)", removed);
    int rel = berth_netns_dir_release_if_unused(pins, &err);
    check(rel == 0 && pin_is_shared_mount_root(pins),
          "release_if_unused keeps the pin directory while a pin lives under it");
    berth_netns_remove(&cp[1], NULL);
    for (int i = 0; i < 3; i++)
        berth_netns_paths_fini(&cp[i]);
    berth_netns_paths_fini(&np);

    /* Async through the pool and the engine. */
    sem_init(&done_sem, 0, 0);
    berth_engine_config_t cfg = {.workers = 2};
    if (berth_engine_start(&cfg, &err) < 0) {
        printf("# engine: %s\n", err->msg);
        return 1;
    }
    driver_t *d = berth_calloc(1, sizeof *d);
    d->spec = (berth_netns_spec_t){.pin_dir = pins,
                                   .pod_id = "pod-async",
                                   .kinds = BERTH_NETNS_NET | BERTH_NETNS_UTS,
                                   .hostname = "async"};
    berth_handle_t h = berth_actor_spawn(&driver_class, d);
    berth_send(h, berth_msg_new(MSG_GO, sizeof(berth_msg_t)));
    bool replied = sem_wait_secs(&done_sem, 30);
    check(replied && async_created && async_created->tag == 7 && async_created->error == NULL &&
                  async_created->paths.net && async_created->paths.uts && !async_created->paths.ipc,
          "create_async replies with the pins");
    check(replied && async_removed && async_removed->tag == 8 && async_removed->error == NULL &&
                  !file_exists(async_created->paths.net),
          "remove_async replies and the pins are gone");
    berth_engine_stop();
    berth_engine_join();
    berth_msg_free(&async_created->hdr);
    berth_msg_free(&async_removed->hdr);
    berth_engine_shutdown();

    int released = berth_netns_dir_release_if_unused(pins, &err);
    check(released == 1 && !pin_is_shared_mount_root(pins),
          "with no pin left, release_if_unused releases the pin directory's self-bind");
    check(berth_netns_dir_release(pins, &err) == 0 && !pin_is_shared_mount_root(pins),
          "releasing it again is fine");
    BERTH_AUTO_FREE char *sub = NULL;
    bool empty = true;
    const char *kinds[] = {"net", "ipc", "uts"};
    for (int i = 0; i < 3; i++) {
        berth_free(sub);
        sub = berth_asprintf("%s/%s", pins, kinds[i]);
        if (rmdir(sub) < 0)
            empty = false;
    }
    check(empty && rmdir(pins) == 0 && rmdir(base) == 0, "nothing is left behind");
    return nfail ? 1 : 0;
}
