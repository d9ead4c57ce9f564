/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/userns: the CRI's mapping rules (pure), then on the real kernel (root):
 * a pinned user namespace carries the requested uid_map and gid_map and
 * leaves no process behind; io/netns makes a pod's net/ipc/uts namespaces
 * owned by it; an idmapped copy of a directory shows the mapped owners and
 * is released without touching its source; a pod's overlay on idmapped
 * layers is writable by the mapped root and stores the image's own IDs; the
 * probe passes here. Skips the kernel part (77 when nothing ran) when not
 * root or when the kernel refuses user namespaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/fs.h"
#include "io/netns.h"
#include "io/ocispec.h"
#include "io/overlay.h"
#include "io/userns.h"
#include "tests/unit/check.h"

static void test_check(void)
{
    berth_idmap_t good = {0, 100000, 65536};
    berth_idmap_t two[] = {{0, 100000, 65536}, {0, 300000, 65536}};
    berth_idmap_t from1 = {1, 100000, 65536};
    berth_idmap_t empty = {0, 100000, 0};
    berth_idmap_t wraps = {0, 4294967000u, 65536};
    berth_idmap_t hostroot = {0, 0, 65536};
    berth_err_t err = NULL;
    ok(berth_idmap_check("uid", &good, 1, &err) == 0 && err == NULL, "one range from 0 is fine");
    int rc = berth_idmap_check("uid", two, 2, &err);
    check(rc < 0 && err->kind == BERTH_ERR_INVALID && strstr(err->msg, "overlap") != NULL,
          "two ranges that both map container 0: INVALID_ARGUMENT (%s)", err ? err->msg : "");
    berth_err_free(&err);
    berth_idmap_t keep[] = {{0, 100000, 1000}, {1001, 101000, 64535}, {1000, 1000, 1}};
    ok(berth_idmap_check("uid", keep, 3, &err) == 0, "three disjoint extents (keep-id) are fine");
    berth_idmap_t hostclash[] = {{0, 100000, 1000}, {1000, 100999, 1}};
    rc = berth_idmap_check("uid", hostclash, 2, &err);
    check(rc < 0 && strstr(err->msg, "host IDs"), "extents sharing a host ID: refused (%s)",
          err ? err->msg : "");
    berth_err_free(&err);
    berth_idmap_t root_later[] = {{1, 100000, 10}, {0, 1000, 1}};
    ok(berth_idmap_check("uid", root_later, 2, &err) == 0,
       "container 0 mapped by a later extent (map-to-root) is fine");
    static berth_idmap_t many[BERTH_IDMAP_MAX + 1];
    for (uint32_t i = 0; i <= BERTH_IDMAP_MAX; i++)
        many[i] = (berth_idmap_t){i, 100000 + i, 1};
    ok(berth_idmap_check("gid", many, BERTH_IDMAP_MAX, &err) == 0,
       "340 extents: the kernel's most");
    ok(berth_idmap_check("gid", many, BERTH_IDMAP_MAX + 1, &err) < 0, "341 extents: refused");
    berth_err_free(&err);
    static berth_idmaps_t km = {.n = 3,
                                .v = {{0, 100000, 1000}, {1001, 101000, 64535}, {1000, 1000, 1}}};
    BERTH_AUTO_FREE char *text = berth_idmap_text(&km);
    ok(strcmp(text, "0 100000 1000\n1001 101000 64535\n1000 1000 1\n") == 0,
       "the map's text: every extent, one line each");
    uint32_t h = 0;
    ok(berth_idmap_to_host(&km, 1000, &h) && h == 1000 && berth_idmap_to_host(&km, 1001, &h) &&
               h == 101000 && berth_idmap_to_host(&km, 999, &h) && h == 100999 &&
               !berth_idmap_to_host(&km, 65536, &h),
       "to_host finds the extent of an ID");
    ok(berth_idmap_check("gid", NULL, 0, &err) < 0 && err->kind == BERTH_ERR_INVALID,
       "no range: INVALID_ARGUMENT");
    berth_err_free(&err);
    rc = berth_idmap_check("uid", &from1, 1, &err);
    check(rc < 0 && strstr(err->msg, "container uid 0 must be mapped") != NULL,
          "container ID 0 unmapped: refused (%s)", err ? err->msg : "");
    berth_err_free(&err);
    ok(berth_idmap_check("uid", &empty, 1, &err) < 0, "an empty range is refused");
    berth_err_free(&err);
    ok(berth_idmap_check("uid", &wraps, 1, &err) < 0, "a range past the largest ID is refused");
    berth_err_free(&err);
    rc = berth_idmap_check("gid", &hostroot, 1, &err);
    check(rc < 0 && strstr(err->msg, "host gid 0"), "the node's root in the range is refused (%s)",
          err ? err->msg : "");
    berth_err_free(&err);
    BERTH_AUTO_FREE char *line = berth_idmap_line(&good);
    ok(strcmp(line, "0 100000 65536\n") == 0, "the uid_map line");
}

/* config.json joins the pod's user namespace first, with its mappings. */
static void test_ocispec(void)
{
    static berth_idmaps_t uid = {.n = 1, .v = {{0, 100000, 65536}}},
                          gid = {.n = 2, .v = {{1, 200000, 65535}, {0, 3000, 1}}};
    const char *args[] = {"sh"};
    berth_ocispec_t s = {
            .id = "c",
            .args = args,
            .nargs = 1,
            .net_mode = BERTH_NS_PATH,
            .net_path = "/run/ns/net/p",
            .user_path = "/run/ns/user/p",
            .uid_map = &uid,
            .gid_map = &gid,
    };
    berth_err_t err = NULL;
    json_t *j = berth_ocispec_build(&s, &err);
    json_t *lx = j ? json_object_get(j, "linux") : NULL;
    json_t *first = json_array_get(json_object_get(lx, "namespaces"), 0);
    ok(first && strcmp(json_string_value(json_object_get(first, "type")), "user") == 0 &&
               strcmp(json_string_value(json_object_get(first, "path")), "/run/ns/user/p") == 0,
       "the user namespace is joined by path, first");
    json_t *um = json_array_get(json_object_get(lx, "uidMappings"), 0);
    json_t *gm = json_array_get(json_object_get(lx, "gidMappings"), 0);
    ok(um && json_integer_value(json_object_get(um, "containerID")) == 0 &&
               json_integer_value(json_object_get(um, "hostID")) == 100000 &&
               json_integer_value(json_object_get(um, "size")) == 65536 && gm &&
               json_integer_value(json_object_get(gm, "hostID")) == 200000,
       "uidMappings and gidMappings carry the pod's ranges");
    json_t *gm1 = json_array_get(json_object_get(lx, "gidMappings"), 1);
    ok(json_array_size(json_object_get(lx, "gidMappings")) == 2 &&
               json_integer_value(json_object_get(gm1, "hostID")) == 3000 &&
               json_integer_value(json_object_get(gm1, "containerID")) == 0,
       "every extent, in order");
    json_t *m;
    size_t i;
    const char *sys_type = NULL;
    json_array_foreach(json_object_get(j, "mounts"), i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "destination")), "/sys") == 0)
            sys_type = json_string_value(json_object_get(m, "type"));
    }
    ok(sys_type && strcmp(sys_type, "sysfs") == 0, "its own network: sysfs");
    json_decref(j);
    s.net_mode = BERTH_NS_HOST;
    j = berth_ocispec_build(&s, &err);
    sys_type = NULL;
    json_array_foreach(json_object_get(j, "mounts"), i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "destination")), "/sys") == 0)
            sys_type = json_string_value(json_object_get(m, "type"));
    }
    ok(sys_type && strcmp(sys_type, "bind") == 0,
       "the node's network: the node's /sys bound (sysfs cannot be mounted)");
    json_decref(j);
    s.net_mode = BERTH_NS_PATH;
    s.user_path = NULL;
    j = berth_ocispec_build(&s, &err);
    lx = j ? json_object_get(j, "linux") : NULL;
    ok(lx && json_object_get(lx, "uidMappings") == NULL, "without one: no mappings");
    json_decref(j);
}

/* /proc/<pid>/<file> of a child that joined the user namespace pinned at
 * pin, squeezed to single spaces, its lines joined by ','. */
static bool map_inside(const char *pin, const char *file, char *out, size_t len)
{
    int p[2];
    if (pipe(p) < 0)
        return false;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        int fd = open(pin, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWUSER) < 0)
            _exit(1);
        char path[64], buf[256];
        snprintf(path, sizeof path, "/proc/self/%s", file);
        int f = open(path, O_RDONLY);
        ssize_t n = f < 0 ? -1 : read(f, buf, sizeof buf - 1);
        if (n <= 0)
            _exit(1);
        if (write(p[1], buf, (size_t)n) != n)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    char buf[256];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return false;
    buf[n] = '\0';
    size_t o = 0;
    for (char *s = buf; *s && o + 1 < len; s++) {
        char c = *s == '\n' ? ',' : *s;
        if (c == ' ' && (o == 0 || out[o - 1] == ' ' || out[o - 1] == ','))
            continue;
        out[o++] = c;
    }
    while (o > 0 && out[o - 1] == ',')
        o--;
    out[o] = '\0';
    return true;
}

/* The inode of the user namespace that owns the namespace at path. */
static ino_t owner_of(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int u = ioctl(fd, NS_GET_USERNS);
    close(fd);
    struct stat st;
    if (u < 0 || fstat(u, &st) < 0) {
        if (u >= 0)
            close(u);
        return 0;
    }
    close(u);
    return st.st_ino;
}

static ino_t ino(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

static uid_t owner(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_uid : (uid_t)-1;
}

static bool is_mounted(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    bool found = false;
    size_t n = strlen(path);
    while (f && fgets(line, sizeof line, f)) {
        char *p = line;
        for (int i = 0; i < 4 && p; i++) {
            p = strchr(p, ' ');
            if (p)
                p++;
        }
        if (p && strncmp(p, path, n) == 0 && (p[n] == ' ' || p[n] == '/'))
            found = true;
    }
    if (f)
        fclose(f);
    return found;
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0)
            perror("write");
        close(fd);
    }
}

static void test_kernel(const char *base)
{
    static berth_idmaps_t uid = {.n = 1, .v = {{0, 100000, 65536}}},
                          gid = {.n = 1, .v = {{0, 200000, 65536}}};
    berth_err_t err = NULL;

    /* a pinned user namespace with the requested mappings */
    BERTH_AUTO_FREE char *pin = berth_asprintf("%s/userpin", base);
    check(berth_userns_create(pin, &uid, &gid, &err) == 0, "user namespace created and pinned (%s)",
          err ? err->msg : "ok");
    berth_err_free(&err);
    char m[128] = "";
    check(map_inside(pin, "uid_map", m, sizeof m) && strcmp(m, "0 100000 65536") == 0,
          "its uid_map is the requested one (%s)", m);
    check(map_inside(pin, "gid_map", m, sizeof m) && strcmp(m, "0 200000 65536") == 0,
          "its gid_map is the requested one (%s)", m);
    ok(berth_userns_create(pin, &uid, &gid, &err) < 0 && err->kind == BERTH_ERR_EXISTS,
       "a second create on a live pin: EXISTS");
    berth_err_free(&err);
    ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "no child is left behind");

    /* idmapped copies of a directory and a file */
    BERTH_AUTO_FREE char *src = berth_asprintf("%s/src", base);
    BERTH_AUTO_FREE char *srcfile = berth_asprintf("%s/src/f", base);
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/idmap", base);
    mkdir(src, 0755);
    write_file(srcfile, "x");
    const char *srcs[] = {src, NULL, srcfile};
    char **out = berth_idmap_sources(dir, pin, srcs, 3, &err);
    check(out != NULL && out[1] == NULL, "idmapped copies made (%s)", err ? err->msg : "ok");
    berth_err_free(&err);
    if (out) {
        BERTH_AUTO_FREE char *inner = berth_asprintf("%s/f", out[0]);
        check(owner(inner) == 100000 && owner(out[2]) == 100000,
              "a file owned by the node's root appears owned by the mapped root (%u)",
              (unsigned)owner(inner));
        ok(owner(srcfile) == 0, "the source keeps its owner");
        for (size_t i = 0; i < 3; i++)
            berth_free(out[i]);
        berth_free(out);
    }
    ok(berth_idmap_release_dir(dir, &err) == 0 && !is_mounted(dir) && access(dir, F_OK) < 0,
       "release detaches the copies and removes the directory");
    berth_err_free(&err);
    ok(access(srcfile, F_OK) == 0, "and the source is untouched");
    ok(berth_idmap_release_dir(dir, &err) == 0, "releasing a missing directory is fine");

    /* keep-id's map: three extents, one of them a node's own uid; the
     * idmapped copy goes by the whole map */
    static berth_idmaps_t kuid = {.n = 3,
                                  .v = {{0, 100000, 1000}, {1001, 101000, 64535}, {1000, 1000, 1}}};
    BERTH_AUTO_FREE char *kpin = berth_asprintf("%s/keeppin", base);
    check(berth_userns_create(kpin, &kuid, &gid, &err) == 0, "a keep-id user namespace (%s)",
          err ? err->msg : "ok");
    berth_err_free(&err);
    check(map_inside(kpin, "uid_map", m, sizeof m) &&
                  strcmp(m, "0 100000 1000,1001 101000 64535,1000 1000 1") == 0,
          "its uid_map has the three extents (%s)", m);
    BERTH_AUTO_FREE char *kf1 = berth_asprintf("%s/src/k1000", base);
    BERTH_AUTO_FREE char *kf2 = berth_asprintf("%s/src/k1001", base);
    write_file(kf1, "x");
    write_file(kf2, "x");
    ok(chown(kf1, 1000, 1000) == 0 && chown(kf2, 1001, 1001) == 0, "files of IDs 1000 and 1001");
    char **kout = berth_idmap_sources(dir, kpin, srcs, 1, &err);
    check(kout != NULL, "an idmapped copy with the keep-id map (%s)", err ? err->msg : "ok");
    berth_err_free(&err);
    if (kout) {
        BERTH_AUTO_FREE char *k1 = berth_asprintf("%s/k1000", kout[0]);
        BERTH_AUTO_FREE char *k2 = berth_asprintf("%s/k1001", kout[0]);
        BERTH_AUTO_FREE char *k0 = berth_asprintf("%s/f", kout[0]);
        check(owner(k1) == 1000 && owner(k2) == 101000 && owner(k0) == 100000,
              "1000 stays 1000, 1001 is 101000, 0 is 100000 (%u %u %u)", (unsigned)owner(k1),
              (unsigned)owner(k2), (unsigned)owner(k0));
        berth_free(kout[0]);
        berth_free(kout);
    }
    berth_idmap_release_dir(dir, NULL);
    unlink(kf1);
    unlink(kf2);
    ok(berth_userns_remove(kpin, &err) == 0, "the keep-id pin is removed");

    /* the pod's namespaces are owned by its user namespace */
    BERTH_AUTO_FREE char *pins = berth_asprintf("%s/ns", base);
    berth_netns_spec_t spec = {
            .pin_dir = pins,
            .pod_id = "pod-u",
            .kinds = BERTH_NETNS_ALL,
            .hostname = "userns-pod",
            .uid_map = &uid,
            .gid_map = &gid,
    };
    berth_netns_paths_t paths = {0};
    check(berth_netns_create(&spec, &paths, &err) == 0 && paths.user && paths.net,
          "pod namespaces with a user namespace (%s)", err ? err->msg : "ok");
    berth_err_free(&err);
    if (paths.user) {
        ino_t u = ino(paths.user);
        ok(u != 0 && owner_of(paths.net) == u && owner_of(paths.ipc) == u &&
                   owner_of(paths.uts) == u,
           "net, ipc and uts are owned by the pod's user namespace");
        check(map_inside(paths.user, "uid_map", m, sizeof m) && strcmp(m, "0 100000 65536") == 0,
              "the pod's uid_map (%s)", m);
    }
    ok(berth_netns_remove(&paths, &err) == 0 && !berth_netns_exists(paths.user) &&
               access(paths.user, F_OK) < 0,
       "remove takes the user pin too");
    berth_netns_paths_fini(&paths);

    /* a failure inside the user namespace leaves no pin, the user one too */
    berth_sysctl_t bad = {"net.ipv4.ip_unprivileged_port_start", "not-a-number"};
    spec.pod_id = "pod-bad";
    spec.sysctls = &bad;
    spec.nsysctls = 1;
    int rc = berth_netns_create(&spec, &paths, &err);
    BERTH_AUTO_FREE char *bad_user = berth_asprintf("%s/user/pod-bad", pins);
    BERTH_AUTO_FREE char *bad_net = berth_asprintf("%s/net/pod-bad", pins);
    check(rc < 0 && paths.user == NULL && access(bad_user, F_OK) < 0 && access(bad_net, F_OK) < 0,
          "a sysctl that fails inside: an error (%s) and no pin left", err ? err->msg : "none");
    berth_err_free(&err);
    berth_netns_dir_release(pins, NULL);

    /* an overlay on idmapped layers */
    BERTH_AUTO_FREE char *layer = berth_asprintf("%s/layer", base);
    BERTH_AUTO_FREE char *lfile = berth_asprintf("%s/layer/bin", base);
    BERTH_AUTO_FREE char *root = berth_asprintf("%s/root", base);
    mkdir(layer, 0755);
    mkdir(root, 0711);
    write_file(lfile, "#!");
    const char *lowers[] = {layer};
    char *rootfs = NULL;
    check(berth_overlay_container_mount_idmapped(root, "c1", lowers, 1, pin, &uid, &gid, &rootfs,
                                                 &err) == 0,
          "an overlay on idmapped layers (%s)", err ? err->msg : "ok");
    berth_err_free(&err);
    if (rootfs) {
        BERTH_AUTO_FREE char *bin = berth_asprintf("%s/bin", rootfs);
        ok(owner(bin) == 100000, "the image's files appear owned by the mapped root");
        BERTH_AUTO_FREE char *ctrdir = berth_asprintf("%s/overlay-containers/c1", root);
        BERTH_AUTO_FREE char *layers_dir = berth_asprintf("%s/idmap-layers", ctrdir);
        ok(access(layers_dir, F_OK) < 0, "the layers' idmapped copies are gone after the mount");
        /* the mapped root writes; the upper layer stores the image's IDs */
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(200000) < 0 || setuid(100000) < 0)
                _exit(2);
            BERTH_AUTO_FREE char *nf = berth_asprintf("%s/new", rootfs);
            int fd = open(nf, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            _exit(fd < 0 ? 1 : 0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        BERTH_AUTO_FREE char *upnew = berth_asprintf("%s/upper/new", ctrdir);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && owner(upnew) == 0,
           "the mapped root writes; upper/ stores ID 0");
        ok(geteuid() == 0 && getegid() == 0, "the thread's IDs are back");
        berth_free(rootfs);
    }
    ok(berth_overlay_container_remove(root, "c1", &err) == 0, "the container is removed");
    berth_err_free(&err);
    ok(access(lfile, F_OK) == 0, "the layer is untouched");

    ok(berth_userns_remove(pin, &err) == 0 && access(pin, F_OK) < 0, "the pin is removed");
    ok(berth_userns_remove(pin, &err) == 0, "removing it again is fine");

    berth_userns_probe(base);
    const char *why = NULL;
    check(berth_userns_supported(&why), "the probe passes on this kernel (%s)", why ? why : "ok");
}

int main(void)
{
    alarm(120);
    test_check();
    test_ocispec();
    const char *why = NULL;
    ok(!berth_userns_supported(&why) && why != NULL, "before a probe: unsupported, with a reason");
    if (geteuid() != 0) {
        printf("1..%d # the kernel part needs root\n", ntest);
        return nfail ? 1 : 0;
    }
    char tmpl[] = "/tmp/berth-userns-XXXXXX";
    char *base = mkdtemp(tmpl);
    if (base == NULL)
        return 1;
    chmod(base, 0711);
    test_kernel(base);
    berth_fs_remove_tree(base);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
