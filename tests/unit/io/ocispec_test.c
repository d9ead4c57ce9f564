/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/ocispec: the generated config.json (capabilities, privileged, seccomp
 * profiles, masked paths, mounts, resources, namespaces, the oom_score_adj
 * clamp) and the image user lookup, including hostile /etc/passwd files that
 * try to reach the node's files through symlinks.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/ocispec.h"
#include "tests/unit/check.h"

/* The capabilities berth may grant: those in its own bounding set. */
static size_t bound_caps(void)
{
    size_t n = 0;
    for (int i = 0; i < cap_max_bits(); i++)
        n += cap_get_bound((cap_value_t)i) > 0;
    return n;
}

static bool arr_has(json_t *a, const char *s)
{
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) if (json_is_string(e) &&
                                    strcmp(json_string_value(e), s) == 0) return true;
    return false;
}

static json_t *path(json_t *j, const char *a, const char *b, const char *c)
{
    j = json_object_get(j, a);
    if (b)
        j = json_object_get(j, b);
    if (c)
        j = json_object_get(j, c);
    return j;
}

static json_t *find_mount(json_t *spec, const char *dest)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(spec, "mounts"), i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "destination")), dest) == 0)
            return m;
    }
    return NULL;
}

static size_t count_dest(json_t *spec, const char *dest)
{
    size_t i, n = 0;
    json_t *m;
    json_array_foreach(json_object_get(spec, "mounts"), i, m) n +=
            strcmp(json_string_value(json_object_get(m, "destination")), dest) == 0;
    return n;
}

static json_t *seccomp_allowed(json_t *spec)
{
    json_t *rules = path(spec, "linux", "seccomp", "syscalls");
    return json_object_get(json_array_get(rules, 0), "names");
}

static const char *args_sh[] = {"/bin/sh", "-c", "true"};
static const char *env_path[] = {"PATH=/bin"};

static berth_ocispec_t base(void)
{
    return (berth_ocispec_t){.id = "c0", .args = args_sh, .nargs = 3, .env = env_path, .nenv = 1};
}

static void write_file(const char *p, const char *content)
{
    FILE *f = fopen(p, "w");
    fputs(content, f);
    fclose(f);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

/* ---- the limits builder: one mapping for config.json and the update file --------------------- */

static const berth_ocispec_hugepage_t hp_kubelet[] = {{"2MB", 0}, {"1GB", 0}};
static const berth_ocispec_kv_t uni_v2[] = {{"memory.high", "50331648"}, {"memory.swap.max", "0"}};

static const struct {
    const char *what;
    berth_ocispec_resources_t res;
    const char *want; /* compact, sorted keys: the update file's exact text */
} limit_cases[] = {
        {"nothing set", {0}, "{}"},
        {"Burstable: shares, quota, period, memory and swap",
         {.cpu_shares = 256,
          .cpu_quota = 50000,
          .cpu_period = 100000,
          .memory_limit = 128 << 20,
          .memory_swap = 128 << 20},
         "{\"cpu\":{\"period\":100000,\"quota\":50000,\"shares\":256},\"memory\":{\"limit\":"
         "134217728,\"swap\":134217728}}"},
        {"Guaranteed with the kubelet's hugepage limits",
         {.cpu_shares = 1024,
          .cpu_quota = 100000,
          .cpu_period = 100000,
          .memory_limit = 256 << 20,
          .memory_swap = 256 << 20,
          .hugepages = hp_kubelet,
          .nhugepages = 2},
         "{\"cpu\":{\"period\":100000,\"quota\":100000,\"shares\":1024},\"hugepageLimits\":[{"
         "\"limit\":0,\"pageSize\":\"2MB\"},{\"limit\":0,\"pageSize\":\"1GB\"}],\"memory\":{"
         "\"limit\":268435456,\"swap\":268435456}}"},
        {"no quota (-1), no swap limit (-1), cpusets, unified, pids",
         {.cpu_shares = 2,
          .cpu_quota = -1,
          .cpuset_cpus = "0-1,3",
          .cpuset_mems = "0",
          .memory_limit = 64 << 20,
          .memory_swap = -1,
          .pids_limit = 1024,
          .unified = uni_v2,
          .nunified = 2},
         "{\"cpu\":{\"cpus\":\"0-1,3\",\"mems\":\"0\",\"quota\":-1,\"shares\":2},\"memory\":{"
         "\"limit\":67108864,\"swap\":-1},\"pids\":{\"limit\":1024},\"unified\":{\"memory.high\":"
         "\"50331648\",\"memory.swap.max\":\"0\"}}"},
        {"empty cpusets and a zero memory limit are not set",
         {.cpuset_cpus = "", .cpuset_mems = "", .memory_limit = 0, .memory_swap = 0},
         "{}"},
};

/* Each row through both: the update file's text, and config.json's
 * linux.resources (berth_ocispec_build) less its device rules. */
static void test_limits(void)
{
    for (size_t i = 0; i < BERTH_ARRAY_LEN(limit_cases); i++) {
        const char *what = limit_cases[i].what;
        char *text = berth_ocispec_resources_json(&limit_cases[i].res);
        check(strcmp(text, limit_cases[i].want) == 0, "limits: %s: update file %s", what, text);
        berth_ocispec_t s = base();
        s.res = limit_cases[i].res;
        berth_err_t err = NULL;
        json_t *j = berth_ocispec_build(&s, &err);
        json_t *res = path(j, "linux", "resources", NULL);
        check(json_is_array(json_object_get(res, "devices")), "limits: %s: device rules kept",
              what);
        json_object_del(res, "devices");
        char *got = res ? json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        check(got && strcmp(got, text) == 0, "limits: %s: config.json has the same: %s", what,
              got ? got : "(absent)");
        berth_free(got);
        berth_free(text);
        if (j)
            json_decref(j);
        berth_err_free(&err);
    }
    /* the member names some callers set are the same storage as res */
    berth_ocispec_t s = base();
    s.memory_limit = 1 << 20;
    s.nhugepages = 2;
    s.hugepages = hp_kubelet;
    check(s.res.memory_limit == 1 << 20 && s.res.hugepages == hp_kubelet && s.res.nhugepages == 2,
          "limits: spec.memory_limit is spec.res.memory_limit");
}

int main(void)
{
    /* Raise our own oom_score_adj first: that value is the floor (a process
     * without CAP_SYS_RESOURCE may only raise it). */
    int fd = open("/proc/self/oom_score_adj", O_WRONLY);
    bool raised = fd >= 0 && write(fd, "100", 3) == 3;
    if (fd >= 0)
        close(fd);

    char tmp[] = "/tmp/berth-ocispec-XXXXXX";
    if (mkdtemp(tmp) == NULL) {
        printf("1..0 # SKIP no temp dir\n");
        return 77;
    }
    berth_err_t err = NULL;

    /* defaults */
    berth_ocispec_t s = base();
    json_t *j = berth_ocispec_build(&s, &err);
    check(j != NULL, "default spec builds");
    json_t *caps = path(j, "process", "capabilities", NULL);
    json_t *bnd = json_object_get(caps, "bounding");
    check(json_array_size(bnd) == 9 && arr_has(bnd, "CAP_CHOWN") && arr_has(bnd, "CAP_KILL") &&
                  arr_has(bnd, "CAP_NET_BIND_SERVICE") && !arr_has(bnd, "CAP_SYS_ADMIN"),
          "default capabilities are CRI-O's nine");
    check(json_equal(bnd, json_object_get(caps, "effective")) &&
                  json_equal(bnd, json_object_get(caps, "permitted")) &&
                  json_array_size(json_object_get(caps, "inheritable")) == 0 &&
                  json_array_size(json_object_get(caps, "ambient")) == 0,
          "effective = permitted = bounding, inheritable and ambient empty");
    json_t *masked = path(j, "linux", "maskedPaths", NULL);
    check(arr_has(masked, "/proc/kcore") && arr_has(masked, "/sys/firmware") &&
                  arr_has(masked, "/sys/devices/virtual/powercap") && json_array_size(masked) == 10,
          "default masked paths");
    check(arr_has(path(j, "linux", "readonlyPaths", NULL), "/proc/sysrq-trigger") &&
                  json_array_size(path(j, "linux", "readonlyPaths", NULL)) == 6,
          "default read-only paths");
    json_t *sc = path(j, "linux", "seccomp", NULL);
    check(sc &&
                  strcmp(json_string_value(json_object_get(sc, "defaultAction")),
                         "SCMP_ACT_ERRNO") == 0 &&
                  json_integer_value(json_object_get(sc, "defaultErrnoRet")) == 1,
          "RuntimeDefault seccomp: default action EPERM");
    json_t *allowed = seccomp_allowed(j);
    check(arr_has(allowed, "read") && arr_has(allowed, "execve") && !arr_has(allowed, "keyctl") &&
                  !arr_has(allowed, "add_key") && !arr_has(allowed, "ptrace") &&
                  !arr_has(allowed, "bpf") && !arr_has(allowed, "mount") &&
                  !arr_has(allowed, "kexec_load") && !arr_has(allowed, "reboot") &&
                  !arr_has(allowed, "unshare"),
          "RuntimeDefault allows read/execve, blocks keyctl, ptrace, bpf, mount, kexec, reboot");
    check(find_mount(j, "/proc") && find_mount(j, "/dev") && find_mount(j, "/dev/pts") &&
                  find_mount(j, "/dev/mqueue") && find_mount(j, "/dev/shm"),
          "default mounts present");
    check(arr_has(json_object_get(find_mount(j, "/sys"), "options"), "ro") &&
                  arr_has(json_object_get(find_mount(j, "/sys/fs/cgroup"), "options"), "ro"),
          "/sys and /sys/fs/cgroup read-only");
    check(strcmp(json_string_value(path(j, "linux", "cgroupsPath", NULL)), "/berth/berth-c0") == 0,
          "cgroupsPath default parent");
    json_t *dev0 = json_array_get(path(j, "linux", "resources", "devices"), 0);
    check(json_is_false(json_object_get(dev0, "allow")), "devices: deny all by default");
    json_decref(j);

    /* capability add/drop */
    const char *add1[] = {"SYS_ADMIN", "CAP_SYS_PTRACE"};
    const char *drop1[] = {"CAP_KILL"};
    s = base();
    s.cap_add = add1;
    s.ncap_add = 2;
    s.cap_drop = drop1;
    s.ncap_drop = 1;
    j = berth_ocispec_build(&s, &err);
    bnd = path(j, "process", "capabilities", "bounding");
    check(arr_has(bnd, "CAP_SYS_ADMIN") && arr_has(bnd, "CAP_SYS_PTRACE") &&
                  !arr_has(bnd, "CAP_KILL") && json_array_size(bnd) == 10,
          "add SYS_ADMIN and CAP_SYS_PTRACE, drop CAP_KILL");
    allowed = seccomp_allowed(j);
    check(arr_has(allowed, "ptrace") && arr_has(allowed, "mount") && arr_has(allowed, "unshare"),
          "seccomp follows caps: ptrace with SYS_PTRACE, mount/unshare with SYS_ADMIN");
    json_decref(j);

    const char *all[] = {"ALL"};
    s = base();
    s.cap_add = all;
    s.ncap_add = 1;
    s.cap_drop = drop1;
    s.ncap_drop = 1;
    j = berth_ocispec_build(&s, &err);
    bnd = path(j, "process", "capabilities", "bounding");
    check(json_array_size(bnd) == bound_caps() - 1 && !arr_has(bnd, "CAP_KILL"),
          "add ALL drop KILL: every capability berthd holds but one (%zu)", json_array_size(bnd));
    json_decref(j);

    const char *raw[] = {"net_raw"};
    s = base();
    s.cap_drop = all;
    s.ncap_drop = 1;
    s.cap_add = raw;
    s.ncap_add = 1;
    j = berth_ocispec_build(&s, &err);
    bnd = path(j, "process", "capabilities", "bounding");
    check(json_array_size(bnd) == 1 && arr_has(bnd, "CAP_NET_RAW"),
          "drop ALL add net_raw: only CAP_NET_RAW");
    json_decref(j);

    const char *bogus[] = {"CAP_MAKE_COFFEE"};
    s = base();
    s.cap_add = bogus;
    s.ncap_add = 1;
    j = berth_ocispec_build(&s, &err);
    check(j == NULL && err && strstr(err->msg, "CAP_MAKE_COFFEE"),
          "unknown capability is an error naming it (%s)", err ? err->msg : "");
    berth_err_free(&err);

    /* privileged */
    s = base();
    s.privileged = true;
    j = berth_ocispec_build(&s, &err);
    bnd = path(j, "process", "capabilities", "bounding");
    dev0 = json_array_get(path(j, "linux", "resources", "devices"), 0);
    check(json_array_size(bnd) == bound_caps() && !path(j, "linux", "seccomp", NULL) &&
                  !path(j, "linux", "maskedPaths", NULL) &&
                  !path(j, "linux", "readonlyPaths", NULL) &&
                  json_is_true(json_object_get(dev0, "allow")) &&
                  arr_has(json_object_get(find_mount(j, "/sys"), "options"), "rw"),
          "privileged: all caps, no seccomp, no masked/ro paths, all devices, rw /sys");
    json_decref(j);

    /* seccomp profiles */
    s = base();
    s.seccomp = BERTH_SECCOMP_UNCONFINED;
    j = berth_ocispec_build(&s, &err);
    check(j && !path(j, "linux", "seccomp", NULL), "Unconfined: no seccomp");
    json_decref(j);

    char prof[512];
    snprintf(prof, sizeof prof, "%s/missing.json", tmp);
    s = base();
    s.seccomp = BERTH_SECCOMP_LOCALHOST;
    s.seccomp_profile_path = prof;
    j = berth_ocispec_build(&s, &err);
    check(j == NULL && err && strstr(err->msg, prof) && err->errnum == ENOENT,
          "Localhost missing file: error names it (%s)", err ? err->msg : "");
    berth_err_free(&err);
    snprintf(prof, sizeof prof, "%s/bad.json", tmp);
    write_file(prof, "{\"defaultAction\": ");
    j = berth_ocispec_build(&s, &err);
    check(j == NULL && err && strstr(err->msg, prof) && strstr(err->msg, "invalid JSON"),
          "Localhost invalid JSON: error names it (%s)", err ? err->msg : "");
    berth_err_free(&err);
    write_file(prof, "{\"syscalls\": []}");
    j = berth_ocispec_build(&s, &err);
    check(j == NULL && err && strstr(err->msg, "defaultAction"),
          "Localhost without defaultAction is refused");
    berth_err_free(&err);
    snprintf(prof, sizeof prof, "%s/docker.json", tmp);
    write_file(prof, "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"archMap\":[{\"architecture\":"
                     "\"SCMP_ARCH_X86_64\",\"subArchitectures\":[\"SCMP_ARCH_X86\"]}],"
                     "\"syscalls\":[{\"name\":\"read\",\"action\":\"SCMP_ACT_ALLOW\"}]}");
    j = berth_ocispec_build(&s, &err);
    sc = path(j, "linux", "seccomp", NULL);
    check(sc && arr_has(json_object_get(sc, "architectures"), "SCMP_ARCH_X86") &&
                  !json_object_get(sc, "archMap") &&
                  arr_has(json_object_get(json_array_get(json_object_get(sc, "syscalls"), 0),
                                          "names"),
                          "read"),
          "Localhost Docker-format profile loaded and converted to OCI form");
    json_decref(j);

    /* masked/readonly overrides */
    s = base();
    s.masked_paths_set = true;
    s.readonly_paths_set = true;
    j = berth_ocispec_build(&s, &err);
    check(json_array_size(path(j, "linux", "maskedPaths", NULL)) == 0 &&
                  json_array_size(path(j, "linux", "readonlyPaths", NULL)) == 0,
          "CRI override with empty masked/read-only lists (procMount Unmasked)");
    json_decref(j);

    /* mounts, namespaces, resources, oom */
    berth_ocispec_mount_t mounts[] = {
            {.destination = "/data",
             .source = "/srv/data",
             .readonly = true,
             .propagation = BERTH_PROPAGATION_RSLAVE},
            {.destination = "/dev/shm", .source = "/run/pod/shm"},
    };
    berth_ocispec_hugepage_t hp[] = {{.page_size = "2MB", .limit = 4194304}};
    berth_ocispec_kv_t unified[] = {{"memory.high", "1000000"}};
    berth_ocispec_kv_t sysctls[] = {{"net.ipv4.ip_forward", "1"}};
    s = base();
    s.id = "abc";
    s.mounts = mounts;
    s.nmounts = 2;
    s.hosts_path = "/run/pod/hosts";
    s.resolv_path = "/run/pod/resolv.conf";
    s.hostname_path = "/run/pod/hostname";
    s.termination_source = "/run/pod/term";
    s.termination_path = "/dev/termination-log";
    s.readonly_rootfs = true;
    s.hostname = "podhost";
    s.net_mode = BERTH_NS_PATH;
    s.net_path = "/run/netns/pod";
    s.pid_mode = BERTH_NS_HOST;
    s.cgroup_parent = "/kubepods/pod1";
    s.cpu_shares = 512;
    s.cpu_quota = 50000;
    s.cpu_period = 100000;
    s.cpuset_cpus = "0";
    s.memory_limit = 64 << 20;
    s.memory_swap = 64 << 20;
    s.pids_limit = 100;
    s.hugepages = hp;
    s.nhugepages = 1;
    s.unified = unified;
    s.nunified = 1;
    s.sysctls = sysctls;
    s.nsysctls = 1;
    s.oom_score_adj_set = true;
    s.oom_score_adj = -500;
    j = berth_ocispec_build(&s, &err);
    check(j != NULL, "full spec builds");
    json_t *m = find_mount(j, "/data");
    json_t *o = json_object_get(m, "options");
    check(m && arr_has(o, "rbind") && arr_has(o, "rslave") && arr_has(o, "ro") &&
                  strcmp(json_string_value(json_object_get(m, "source")), "/srv/data") == 0,
          "bind mount with rslave and ro");
    check(strcmp(json_string_value(path(j, "linux", "rootfsPropagation", NULL)), "rslave") == 0,
          "rootfsPropagation follows the mounts");
    check(count_dest(j, "/dev/shm") == 1 &&
                  strcmp(json_string_value(json_object_get(find_mount(j, "/dev/shm"), "source")),
                         "/run/pod/shm") == 0,
          "a CRI mount replaces the default with the same destination");
    check(find_mount(j, "/etc/hosts") && find_mount(j, "/etc/resolv.conf") &&
                  find_mount(j, "/etc/hostname") &&
                  arr_has(json_object_get(find_mount(j, "/etc/hosts"), "options"), "ro") &&
                  arr_has(json_object_get(find_mount(j, "/dev/termination-log"), "options"), "rw"),
          "pod files bound (ro with a read-only rootfs), termination log rw");
    check(json_is_true(path(j, "root", "readonly", NULL)) &&
                  strcmp(json_string_value(json_object_get(j, "hostname")), "podhost") == 0,
          "readonly rootfs and hostname");
    json_t *nss = path(j, "linux", "namespaces", NULL);
    bool net_ok = false, pid_absent = true, mnt = false;
    size_t i;
    json_t *n;
    json_array_foreach(nss, i, n)
    {
        const char *t = json_string_value(json_object_get(n, "type"));
        if (strcmp(t, "network") == 0)
            net_ok = strcmp(json_string_value(json_object_get(n, "path")), "/run/netns/pod") == 0;
        if (strcmp(t, "pid") == 0)
            pid_absent = false;
        if (strcmp(t, "mount") == 0)
            mnt = true;
        check(strcmp(t, "user") != 0, "no user namespace entry (%s)", t);
    }
    check(net_ok && pid_absent && mnt, "namespaces: network by path, host pid, new mount");
    json_t *res = path(j, "linux", "resources", NULL);
    check(json_integer_value(path(res, "cpu", "shares", NULL)) == 512 &&
                  json_integer_value(path(res, "cpu", "quota", NULL)) == 50000 &&
                  json_integer_value(path(res, "cpu", "period", NULL)) == 100000 &&
                  strcmp(json_string_value(path(res, "cpu", "cpus", NULL)), "0") == 0 &&
                  json_integer_value(path(res, "memory", "limit", NULL)) == 64 << 20 &&
                  json_integer_value(path(res, "memory", "swap", NULL)) == 64 << 20 &&
                  json_integer_value(path(res, "pids", "limit", NULL)) == 100 &&
                  json_integer_value(json_object_get(
                          json_array_get(json_object_get(res, "hugepageLimits"), 0), "limit")) ==
                          4194304 &&
                  strcmp(json_string_value(path(res, "unified", "memory.high", NULL)), "1000000") ==
                          0,
          "resources: cpu, memory, pids, hugepages, unified");
    check(strcmp(json_string_value(path(j, "linux", "cgroupsPath", NULL)),
                 "/kubepods/pod1/berth-abc") == 0 &&
                  strcmp(json_string_value(path(j, "linux", "sysctl", "net.ipv4.ip_forward")),
                         "1") == 0,
          "cgroupsPath and sysctls");
    int floor = berth_ocispec_min_oom_score_adj();
    check(!raised || floor == 100, "the oom floor is our own oom_score_adj (%d)", floor);
    check(json_integer_value(path(j, "process", "oomScoreAdj", NULL)) == floor,
          "oom_score_adj -500 clamped up to %d", floor);
    json_decref(j);
    s.oom_score_adj = 900;
    j = berth_ocispec_build(&s, &err);
    check(json_integer_value(path(j, "process", "oomScoreAdj", NULL)) == 900,
          "oom_score_adj above the floor kept");
    json_decref(j);

    s = base();
    berth_ocispec_mount_t relm[] = {{.destination = "data", .source = "/x"}};
    s.mounts = relm;
    s.nmounts = 1;
    j = berth_ocispec_build(&s, &err);
    check(j == NULL && err && strstr(err->msg, "absolute"), "relative mount destination refused");
    berth_err_free(&err);
    s = base();
    s.nargs = 0;
    j = berth_ocispec_build(&s, &err);
    check(j == NULL && err, "no command refused");
    berth_err_free(&err);

    /* process json and atomic write */
    s = base();
    char *pj = berth_ocispec_process_json(&s, &err);
    json_t *pjj = pj ? json_loads(pj, 0, NULL) : NULL;
    check(pjj && arr_has(json_object_get(pjj, "args"), "/bin/sh") &&
                  json_object_get(pjj, "capabilities"),
          "process json for exec");
    json_decref(pjj);
    berth_free(pj);
    check(berth_ocispec_write(tmp, &s, &err) == 0, "config.json written");
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", tmp);
    j = json_load_file(cfg, 0, NULL);
    check(j && strcmp(json_string_value(json_object_get(j, "ociVersion")), "1.0.2") == 0,
          "config.json parses back");
    json_decref(j);

    /* an exec's process file: the container's process with other args */
    {
        static const uint32_t more[] = {1234, 50000};
        berth_ocispec_t u = base();
        u.uid = 1000, u.gid = 1000;
        u.additional_gids = more, u.nadditional_gids = 2;
        u.cwd = "/work";
        u.no_new_privs = true;
        check(berth_ocispec_write(tmp, &u, &err) == 0, "config.json with a user written");
        const char *eargv[] = {"id", "-G", NULL};
        char ep[600];
        snprintf(ep, sizeof ep, "%s/exec.json", tmp);
        check(berth_ocispec_exec_process_write(tmp, eargv, false, 0, 0, ep, &err) == 0,
              "exec process file written");
        json_t *e = json_load_file(ep, 0, NULL);
        json_t *usr = json_object_get(e, "user");
        check(e && json_array_size(json_object_get(e, "args")) == 2 &&
                      arr_has(json_object_get(e, "args"), "-G") &&
                      json_is_false(json_object_get(e, "terminal")) &&
                      json_object_get(e, "consoleSize") == NULL,
              "exec process: the command's args, no terminal");
        check(json_integer_value(json_object_get(usr, "uid")) == 1000 &&
                      json_array_size(json_object_get(usr, "additionalGids")) == 2 &&
                      strcmp(json_string_value(json_object_get(e, "cwd")), "/work") == 0 &&
                      json_is_true(json_object_get(e, "noNewPrivileges")) &&
                      json_object_get(e, "capabilities") && json_object_get(e, "env"),
              "exec process: the container's user, groups, cwd, no_new_privs, caps, env");
        json_decref(e);
        check(berth_ocispec_exec_process_write(tmp, eargv, true, 40, 100, ep, &err) == 0,
              "exec process file with a terminal written");
        e = json_load_file(ep, 0, NULL);
        json_t *cs = json_object_get(e, "consoleSize");
        check(json_is_true(json_object_get(e, "terminal")) &&
                      json_integer_value(json_object_get(cs, "height")) == 40 &&
                      json_integer_value(json_object_get(cs, "width")) == 100,
              "exec process: a terminal of 40x100");
        json_decref(e);
        char nob[600];
        snprintf(nob, sizeof nob, "%s/nobundle", tmp);
        check(berth_ocispec_exec_process_write(nob, eargv, false, 0, 0, ep, &err) < 0 && err &&
                      strstr(err->msg, "nobundle/config.json"),
              "exec process: a missing config.json is an error naming it");
        berth_err_free(&err);
        const char *none[] = {NULL};
        check(berth_ocispec_exec_process_write(tmp, none, false, 0, 0, ep, &err) < 0 && err &&
                      err->kind == BERTH_ERR_INVALID,
              "exec process: no command refused");
        berth_err_free(&err);
    }

    /* users and groups */
    char rootfs[512], p[600];
    snprintf(rootfs, sizeof rootfs, "%s/rootfs", tmp);
    mkdir(rootfs, 0755);
    snprintf(p, sizeof p, "%s/etc", rootfs);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/etc/passwd", rootfs);
    write_file(p, "root:x:0:0:root:/root:/bin/sh\n"
                  "# comment\n"
                  "broken:x:notanumber:1::/:/bin/sh\n"
                  "toomany:x:5:5::/:/bin/sh:extra\n"
                  "neg:x:-1:5::/:/bin/sh\n"
                  "www-data:x:33:33:www-data:/var/www:/bin/false\n"
                  "default-user:x:1000:1000::/home/default:/bin/sh\n");
    snprintf(p, sizeof p, "%s/etc/group", rootfs);
    write_file(p, "root:x:0:\nwww-data:x:33:\ngroup-defined-in-image:x:50000:default-user\n"
                  "other:x:60000:someone,default-user\nbad:x:zz:default-user\n");
    uint32_t uid = 99, gid = 99;
    char *home = NULL;
    check(berth_passwd_lookup(rootfs, "www-data", &uid, &gid, &home, &err) == 0 && uid == 33 &&
                  gid == 33 && strcmp(home, "/var/www") == 0,
          "www-data → 33:33 /var/www");
    berth_free(home);
    check(berth_passwd_lookup(rootfs, "1002", &uid, &gid, NULL, &err) == 0 && uid == 1002 &&
                  gid == 0,
          "unknown numeric uid runs with gid 0");
    check(berth_passwd_lookup(rootfs, "broken", &uid, &gid, NULL, &err) < 0 &&
                  err->kind == BERTH_ERR_NOT_FOUND,
          "malformed line is skipped, not trusted");
    berth_err_free(&err);
    check(berth_passwd_lookup(rootfs, "toomany", &uid, &gid, NULL, &err) < 0 &&
                  berth_passwd_lookup(rootfs, "neg", &uid, &gid, NULL, &err) < 0,
          "lines with extra fields or negative ids are skipped");
    berth_err_free(&err);
    check(berth_passwd_lookup(rootfs, "nosuch", &uid, &gid, NULL, &err) < 0 && err &&
                  strstr(err->msg, "nosuch"),
          "unknown user name is an error naming it");
    berth_err_free(&err);
    berth_user_t u;
    uint32_t extra[] = {1234};
    check(berth_user_resolve(rootfs, "default-user", extra, 1, BERTH_GROUPS_MERGE, &u, &err) == 0 &&
                  u.uid == 1000 && u.gid == 1000 && u.ngids == 4 && u.gids[0] == 1000 &&
                  u.gids[1] == 1234 && u.gids[2] == 50000 && u.gids[3] == 60000,
          "Merge: the primary gid, /etc/group memberships + requested groups");
    berth_user_fini(&u);
    check(berth_user_resolve(rootfs, "1000", NULL, 0, BERTH_GROUPS_MERGE, &u, &err) == 0 &&
                  u.ngids == 3 && u.gids[0] == 1000 && u.gids[1] == 50000,
          "Merge by uid finds the name's memberships");
    berth_user_fini(&u);
    check(berth_user_resolve(rootfs, "default-user", extra, 1, BERTH_GROUPS_STRICT, &u, &err) ==
                          0 &&
                  u.ngids == 2 && u.gids[0] == 1000 && u.gids[1] == 1234,
          "Strict: only the primary gid and the requested groups");
    berth_user_fini(&u);
    check(berth_user_resolve(rootfs, "www-data:1004", NULL, 0, BERTH_GROUPS_MERGE, &u, &err) == 0 &&
                  u.uid == 33 && u.gid == 1004,
          "www-data:1004");
    berth_user_fini(&u);
    check(berth_user_resolve(rootfs, "1003:group-defined-in-image", NULL, 0, BERTH_GROUPS_MERGE, &u,
                             &err) == 0 &&
                  u.uid == 1003 && u.gid == 50000,
          "1003:group-name");
    berth_user_fini(&u);
    check(berth_user_resolve(rootfs, "1003:nogroup", NULL, 0, BERTH_GROUPS_MERGE, &u, &err) < 0,
          "unknown group name is an error");
    berth_err_free(&err);

    /* hostile images: symlinks pointing at the node's own files */
    char host[512];
    snprintf(host, sizeof host, "%s/host-passwd", tmp);
    write_file(host, "evil:x:0:0::/:/bin/sh\n");
    snprintf(p, sizeof p, "%s/etc/passwd", rootfs);
    unlink(p);
    check(symlink(host, p) == 0, "absolute symlink etc/passwd -> host file");
    check(berth_passwd_lookup(rootfs, "evil", &uid, &gid, NULL, &err) < 0,
          "absolute symlink does not leave the rootfs");
    berth_err_free(&err);
    unlink(p);
    check(symlink("../../../../../../../../../../../../etc/shadow", p) == 0 &&
                  berth_passwd_lookup(rootfs, "root", &uid, &gid, NULL, &err) < 0 &&
                  err->kind == BERTH_ERR_NOT_FOUND,
          "../ symlink to /etc/shadow resolves inside the rootfs (not found)");
    berth_err_free(&err);
    unlink(p);
    char inroot[600];
    snprintf(inroot, sizeof inroot, "%s/real-passwd", rootfs);
    write_file(inroot, "inside:x:7:7::/:/bin/sh\n");
    check(symlink("/real-passwd", p) == 0 &&
                  berth_passwd_lookup(rootfs, "inside", &uid, &gid, NULL, &err) == 0 && uid == 7,
          "absolute symlink inside the image resolves against the rootfs");
    berth_err_free(&err);

    test_limits();
    nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
