/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCI runtime spec generator and the image user lookup (see ocispec.h).
 * Defaults follow CRI-O where the CRI leaves a choice, so workloads that run
 * under CRI-O behave the same here. /etc/passwd and /etc/group come from
 * images: they are read through openat2(RESOLVE_IN_ROOT), size-capped and
 * parsed strictly; a bad line is skipped, never trusted.
 */
#include "io/ocispec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/fs.h"
#include "io/seccomp_default.h"

const char *const berth_ocispec_default_caps[] = {
        "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_KILL",   NULL,
};

static const char *const default_masked[] = {
        "/proc/acpi",        "/proc/kcore",
        "/proc/keys",        "/proc/latency_stats",
        "/proc/timer_list",  "/proc/timer_stats",
        "/proc/sched_debug", "/proc/scsi",
        "/sys/firmware",     "/sys/devices/virtual/powercap",
};

static const char *const default_readonly[] = {
        "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

void berth_ocispec_strv_free(char **v)
{
    berth_strv_free(v);
}

/* ---- capabilities -------------------------------------------------------- */

#define MAX_CAPS 64

/* "SYS_ADMIN", "CAP_SYS_ADMIN", "cap_sys_admin" → its number. */
static int cap_parse(const char *name, cap_value_t *out, berth_err_t *err)
{
    char buf[64];
    size_t n = strlen(name);
    if (n == 0 || n + 4 >= sizeof(buf))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "unknown capability \"%s\"", name);
    size_t off = 0;
    if (strncasecmp(name, "CAP_", 4) != 0) {
        memcpy(buf, "cap_", 4);
        off = 4;
    }
    for (size_t i = 0; i <= n; i++)
        buf[off + i] = (char)tolower((unsigned char)name[i]);
    cap_value_t v;
    if (cap_from_name(buf, &v) < 0 || v < 0 || v >= MAX_CAPS || v >= (cap_value_t)cap_max_bits())
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "unknown capability \"%s\"", name);
    *out = v;
    return 0;
}

static bool is_all(const char *name)
{
    return strcasecmp(name, "ALL") == 0 || strcasecmp(name, "CAP_ALL") == 0;
}

static bool list_has_all(const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (is_all(v[i]))
            return true;
    return false;
}

char **berth_ocispec_caps(const berth_ocispec_t *s, berth_err_t *err)
{
    bool set[MAX_CAPS] = {false};
    unsigned max = (unsigned)cap_max_bits();
    if (max > MAX_CAPS)
        max = MAX_CAPS;
    cap_value_t v;
    if (s->privileged || list_has_all(s->cap_add, s->ncap_add)) {
        /* "All" means all that berthd itself may hand out: a capability
         * outside its bounding set (a node without CAP_SYS_RESOURCE, say)
         * would make the runtime fail with EPERM. */
        for (unsigned i = 0; i < max; i++)
            set[i] = cap_get_bound((cap_value_t)i) > 0;
    } else {
        for (size_t i = 0; berth_ocispec_default_caps[i] != NULL; i++) {
            if (cap_parse(berth_ocispec_default_caps[i], &v, err) < 0)
                return NULL;
            set[v] = true;
        }
    }
    if (!s->privileged) {
        /* CRI-O's order: ALL first, then the named ones, drops last. */
        if (list_has_all(s->cap_drop, s->ncap_drop))
            memset(set, 0, sizeof(set));
        for (size_t i = 0; i < s->ncap_add; i++) {
            if (is_all(s->cap_add[i]))
                continue;
            if (cap_parse(s->cap_add[i], &v, err) < 0)
                return NULL;
            set[v] = true;
        }
        for (size_t i = 0; i < s->ncap_drop; i++) {
            if (is_all(s->cap_drop[i]))
                continue;
            if (cap_parse(s->cap_drop[i], &v, err) < 0)
                return NULL;
            set[v] = false;
        }
    }
    char **out = berth_calloc(MAX_CAPS + 1, sizeof(char *));
    size_t n = 0;
    for (unsigned i = 0; i < max; i++) {
        if (!set[i])
            continue;
        char *name = cap_to_name((cap_value_t)i);
        if (name == NULL)
            continue;
        char *up = berth_strdup(name);
        cap_free(name);
        for (char *p = up; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        out[n++] = up;
    }
    return out;
}

/* ---- oom_score_adj --------------------------------------------------------- */

static int own_oom_adj;
static pthread_once_t oom_once = PTHREAD_ONCE_INIT;

static void read_oom_adj(void)
{
    FILE *f = fopen("/proc/self/oom_score_adj", "re");
    if (f == NULL)
        return;
    int v;
    if (fscanf(f, "%d", &v) == 1)
        own_oom_adj = v;
    fclose(f);
}

int berth_ocispec_min_oom_score_adj(void)
{
    pthread_once(&oom_once, read_oom_adj);
    return own_oom_adj;
}

/* ---- seccomp ------------------------------------------------------------- */

static json_t *str_array(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* The Docker format keys architectures by "archMap" and may name one syscall
 * by "name": rewrite both into the OCI form the runtimes read. */
static void docker_to_oci(json_t *p)
{
    json_t *archmap = json_object_get(p, "archMap");
    if (json_is_array(archmap) && json_object_get(p, "architectures") == NULL) {
        json_t *arches = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(archmap, i, e)
        {
            json_t *a = json_object_get(e, "architecture");
            if (json_is_string(a))
                json_array_append(arches, a);
            json_t *subs = json_object_get(e, "subArchitectures");
            size_t j;
            json_t *sub;
            if (json_is_array(subs))
                json_array_foreach(subs, j, sub) json_array_append(arches, sub);
        }
        json_object_set_new(p, "architectures", arches);
    }
    json_object_del(p, "archMap");
    json_t *sys = json_object_get(p, "syscalls");
    size_t i;
    json_t *r;
    if (json_is_array(sys))
        json_array_foreach(sys, i, r)
        {
            json_t *name = json_object_get(r, "name");
            if (json_is_string(name) && json_object_get(r, "names") == NULL) {
                json_t *names = json_array();
                json_array_append(names, name);
                json_object_set_new(r, "names", names);
                json_object_del(r, "name");
            }
        }
}

static json_t *load_localhost(const char *path, berth_err_t *err)
{
    if (path == NULL || path[0] == '\0') {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "seccomp profile: Localhost needs a profile path");
        return NULL;
    }
    json_error_t je;
    json_t *p = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (p == NULL) {
        int e = access(path, R_OK) < 0 ? errno : EINVAL;
        if (e != EINVAL)
            berth_err_errno(err, e, "seccomp profile %s", path);
        else
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                           "seccomp profile %s: invalid JSON at line %d: %s", path, je.line,
                           je.text);
        return NULL;
    }
    if (!json_is_object(p) || !json_is_string(json_object_get(p, "defaultAction"))) {
        json_decref(p);
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "seccomp profile %s: not a seccomp profile (no defaultAction)", path);
        return NULL;
    }
    docker_to_oci(p);
    return p;
}

/* Whether a profile action refuses the call with EPERM or kills: the
 * actions the notifier takes over, answering EPERM. An errno other than
 * EPERM (ENOSYS for clone3, say) stays in the profile: programs rely on that
 * exact answer to fall back to an older call. */
static bool notify_takes(const char *action, json_t *errno_ret)
{
    static const char *const refusing[] = {"SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
                                           "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"};
    if (action == NULL)
        return false;
    if (strcmp(action, "SCMP_ACT_ERRNO") == 0)
        return errno_ret == NULL || json_integer_value(errno_ret) == EPERM;
    for (size_t k = 0; k < BERTH_ARRAY_LEN(refusing); k++)
        if (strcmp(action, refusing[k]) == 0)
            return true;
    return false;
}

/* Whether the profile names syscall `name` in any rule. */
static bool profile_names(json_t *sys, const char *name)
{
    size_t i, j;
    json_t *r, *n;
    json_array_foreach(sys, i, r)
    {
        json_array_foreach(json_object_get(r, "names"), j, n)
        {
            if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
                return true;
        }
    }
    return false;
}

/* The notifier's form of a profile (CRI-O's rule): the refusing actions
 * become SCMP_ACT_NOTIFY, so each refusal reaches the listener, which
 * records it and answers EPERM. The runtimes refuse NOTIFY as the default
 * action, so a refusing default stays and every syscall the profile does
 * not name (of the node's architecture, as libseccomp knows them) gets a
 * NOTIFY rule instead; a syscall named only by rules with argument
 * conditions still falls to the default for the other arguments,
 * unrecorded. */
static void seccomp_notify(json_t *p, const char *listener)
{
    json_object_set_new(p, "listenerPath", json_string(listener));
    json_t *sys = json_object_get(p, "syscalls");
    if (!json_is_array(sys)) {
        sys = json_array();
        json_object_set_new(p, "syscalls", sys);
    }
    size_t i;
    json_t *r;
    json_array_foreach(sys, i, r)
    {
        if (notify_takes(json_string_value(json_object_get(r, "action")),
                         json_object_get(r, "errnoRet"))) {
            json_object_set_new(r, "action", json_string("SCMP_ACT_NOTIFY"));
            json_object_del(r, "errnoRet");
        }
    }
    if (!notify_takes(json_string_value(json_object_get(p, "defaultAction")),
                      json_object_get(p, "defaultErrnoRet")))
        return;
    json_t *names = json_array();
    uint32_t arch = seccomp_arch_native();
    /* syscall numbers stay below 1024 on every architecture berth runs on */
    for (int nr = 0; nr < 1024; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(arch, nr);
        if (name != NULL && !profile_names(sys, name))
            json_array_append_new(names, json_string(name));
        free(name); /* libseccomp allocates with malloc */
    }
    if (json_array_size(names) == 0) {
        json_decref(names);
        return;
    }
    json_t *rule = json_object();
    json_object_set_new(rule, "names", names);
    json_object_set_new(rule, "action", json_string("SCMP_ACT_NOTIFY"));
    json_array_append_new(sys, rule);
}

/* ---- mounts -------------------------------------------------------------- */

static json_t *mount_obj(const char *dest, const char *type, const char *src,
                         const char *const *opts, size_t nopts)
{
    json_t *m = json_object();
    json_object_set_new(m, "destination", json_string(dest));
    json_object_set_new(m, "type", json_string(type));
    json_object_set_new(m, "source", json_string(src));
    json_object_set_new(m, "options", str_array(opts, nopts));
    return m;
}

static const char *propagation_name(int p)
{
    switch (p) {
    case BERTH_PROPAGATION_RSLAVE:
        return "rslave";
    case BERTH_PROPAGATION_RSHARED:
        return "rshared";
    default:
        return "rprivate";
    }
}

static json_t *bind_obj(const char *dest, const char *src, bool ro, int propagation)
{
    const char *opts[] = {"rbind", propagation_name(propagation), ro ? "ro" : "rw"};
    return mount_obj(dest, "bind", src, opts, 3);
}

static bool user_has_dest(const berth_ocispec_t *s, const char *dest)
{
    for (size_t i = 0; i < s->nmounts; i++)
        if (strcmp(s->mounts[i].destination, dest) == 0)
            return true;
    return false;
}

static void add_default(json_t *mounts, const berth_ocispec_t *s, json_t *m)
{
    const char *dest = json_string_value(json_object_get(m, "destination"));
    if (user_has_dest(s, dest))
        json_decref(m);
    else
        json_array_append_new(mounts, m);
}

static json_t *build_mounts(const berth_ocispec_t *s, berth_err_t *err)
{
    json_t *ms = json_array();
    {
        const char *o[] = {"nosuid", "noexec", "nodev"};
        add_default(ms, s, mount_obj("/proc", "proc", "proc", o, 3));
    }
    {
        const char *o[] = {"nosuid", "strictatime", "mode=755", "size=65536k"};
        add_default(ms, s, mount_obj("/dev", "tmpfs", "tmpfs", o, 4));
    }
    {
        const char *o[] = {"nosuid",        "noexec",    "newinstance",
                           "ptmxmode=0666", "mode=0620", "gid=5"};
        add_default(ms, s, mount_obj("/dev/pts", "devpts", "devpts", o, 6));
    }
    {
        const char *o[] = {"nosuid", "noexec", "nodev"};
        add_default(ms, s, mount_obj("/dev/mqueue", "mqueue", "mqueue", o, 3));
    }
    {
        /* A privileged container may write /sys and its cgroups (CRI-O). */
        const char *o[] = {"nosuid", "noexec", "nodev", s->privileged ? "rw" : "ro"};
        /* A user namespace on the node's network may not mount sysfs (the
         * kernel wants the network namespace owned by the user namespace):
         * the node's /sys, bound read-only, instead. */
        const char *b[] = {"rbind", "nosuid", "noexec", "nodev", "ro"};
        if (s->user_path != NULL && s->net_mode == BERTH_NS_HOST)
            add_default(ms, s, mount_obj("/sys", "bind", "/sys", b, 5));
        else
            add_default(ms, s, mount_obj("/sys", "sysfs", "sysfs", o, 4));
        const char *c[] = {"nosuid", "noexec", "nodev", "relatime", s->privileged ? "rw" : "ro"};
        add_default(ms, s, mount_obj("/sys/fs/cgroup", "cgroup", "cgroup", c, 5));
    }
    if (s->shm_path != NULL) {
        const char *o[] = {"rbind", "rprivate", "nosuid", "noexec", "nodev"};
        add_default(ms, s, mount_obj("/dev/shm", "bind", s->shm_path, o, 5));
    } else {
        const char *o[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};
        add_default(ms, s, mount_obj("/dev/shm", "tmpfs", "shm", o, 5));
    }
    /* The pod's files follow the rootfs: writable unless the rootfs is not. */
    if (s->hosts_path != NULL)
        add_default(ms, s, bind_obj("/etc/hosts", s->hosts_path, s->readonly_rootfs, 0));
    if (s->resolv_path != NULL)
        add_default(ms, s, bind_obj("/etc/resolv.conf", s->resolv_path, s->readonly_rootfs, 0));
    if (s->hostname_path != NULL)
        add_default(ms, s, bind_obj("/etc/hostname", s->hostname_path, s->readonly_rootfs, 0));
    if (s->termination_source != NULL && s->termination_path != NULL)
        add_default(ms, s, bind_obj(s->termination_path, s->termination_source, false, 0));

    for (size_t i = 0; i < s->nmounts; i++) {
        const berth_ocispec_mount_t *m = &s->mounts[i];
        if (m->destination == NULL || m->destination[0] != '/') {
            json_decref(ms);
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                           "mount destination \"%s\" is not an absolute path",
                           m->destination ? m->destination : "");
            return NULL;
        }
        if (m->source == NULL) {
            json_decref(ms);
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "mount %s has no source",
                           m->destination);
            return NULL;
        }
        if (m->type == NULL || strcmp(m->type, "bind") == 0) {
            json_array_append_new(ms,
                                  bind_obj(m->destination, m->source, m->readonly, m->propagation));
        } else {
            json_t *x = mount_obj(m->destination, m->type, m->source, m->options, m->noptions);
            if (m->readonly)
                json_array_append_new(json_object_get(x, "options"), json_string("ro"));
            json_array_append_new(ms, x);
        }
    }
    return ms;
}

/* ---- the spec -------------------------------------------------------------- */

static json_t *build_process(const berth_ocispec_t *s, char **caps, berth_err_t *err)
{
    if (s->nargs == 0 || s->args == NULL || s->args[0] == NULL || s->args[0][0] == '\0') {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "container has no command (args and the image's entrypoint are empty)");
        return NULL;
    }
    json_t *p = json_object();
    json_object_set_new(p, "terminal", json_boolean(s->terminal));
    json_t *user = json_object();
    json_object_set_new(user, "uid", json_integer(s->uid));
    json_object_set_new(user, "gid", json_integer(s->gid));
    if (s->nadditional_gids > 0) {
        json_t *g = json_array();
        for (size_t i = 0; i < s->nadditional_gids; i++)
            json_array_append_new(g, json_integer(s->additional_gids[i]));
        json_object_set_new(user, "additionalGids", g);
    }
    if (s->umask_set)
        json_object_set_new(user, "umask", json_integer(s->umask));
    json_object_set_new(p, "user", user);
    json_object_set_new(p, "args", str_array(s->args, s->nargs));
    json_object_set_new(p, "env", str_array(s->env, s->nenv));
    json_object_set_new(p, "cwd", json_string(s->cwd && s->cwd[0] ? s->cwd : "/"));

    json_t *c = json_object();
    size_t n = 0;
    while (caps[n] != NULL)
        n++;
    json_object_set_new(c, "bounding", str_array((const char *const *)caps, n));
    json_object_set_new(c, "effective", str_array((const char *const *)caps, n));
    json_object_set_new(c, "permitted", str_array((const char *const *)caps, n));
    json_object_set_new(c, "inheritable", json_array());
    json_object_set_new(c, "ambient", json_array());
    json_object_set_new(p, "capabilities", c);

    if (s->nrlimits > 0) {
        json_t *rl = json_array();
        for (size_t i = 0; i < s->nrlimits; i++) {
            json_t *r = json_object();
            json_object_set_new(r, "type", json_string(s->rlimits[i].type));
            json_object_set_new(r, "hard", json_integer((json_int_t)s->rlimits[i].hard));
            json_object_set_new(r, "soft", json_integer((json_int_t)s->rlimits[i].soft));
            json_array_append_new(rl, r);
        }
        json_object_set_new(p, "rlimits", rl);
    }
    json_object_set_new(p, "noNewPrivileges", json_boolean(s->no_new_privs));
    if (s->oom_score_adj_set) {
        int v = s->oom_score_adj;
        int floor = berth_ocispec_min_oom_score_adj();
        if (v < floor) {
            berth_log_debug("oom_score_adj clamped: berthd cannot lower it below its own value",
                            "id=%s requested=%d clamped=%d", s->id ? s->id : "", v, floor);
            v = floor;
        }
        if (v > 1000)
            v = 1000;
        json_object_set_new(p, "oomScoreAdj", json_integer(v));
    }
    return p;
}

static json_t *kv_object(const berth_ocispec_kv_t *kv, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, kv[i].key, json_string(kv[i].value ? kv[i].value : ""));
    return o;
}

static void add_ns(json_t *nss, const char *type, int mode, const char *path)
{
    if (mode == BERTH_NS_HOST)
        return;
    json_t *n = json_object();
    json_object_set_new(n, "type", json_string(type));
    if (mode == BERTH_NS_PATH && path != NULL)
        json_object_set_new(n, "path", json_string(path));
    json_array_append_new(nss, n);
}

/* The anonymous member list in berth_ocispec_t must match
 * berth_ocispec_resources_t field for field (the union's two views). */
#define SAME_FIELD(f)                                                                              \
    _Static_assert(offsetof(berth_ocispec_t, f) == offsetof(berth_ocispec_t, res) +                \
                                                           offsetof(berth_ocispec_resources_t, f), \
                   "berth_ocispec_t." #f " is not res." #f)
SAME_FIELD(cpu_shares);
SAME_FIELD(cpu_quota);
SAME_FIELD(cpu_period);
SAME_FIELD(cpuset_cpus);
SAME_FIELD(cpuset_mems);
SAME_FIELD(memory_limit);
SAME_FIELD(memory_swap);
SAME_FIELD(pids_limit);
SAME_FIELD(hugepages);
SAME_FIELD(nhugepages);
SAME_FIELD(unified);
SAME_FIELD(nunified);
_Static_assert(sizeof(((berth_ocispec_t *)0)->res) == sizeof(berth_ocispec_resources_t) &&
                       offsetof(berth_ocispec_t, nunified) + sizeof(size_t) ==
                               offsetof(berth_ocispec_t, res) + sizeof(berth_ocispec_resources_t),
               "berth_ocispec_t's limits are not berth_ocispec_resources_t");
#undef SAME_FIELD

/* The limits into r (config.json's resources after its device rules, or an
 * update file's whole object). */
static void add_limits(json_t *r, const berth_ocispec_resources_t *s)
{
    json_t *cpu = json_object();
    if (s->cpu_shares)
        json_object_set_new(cpu, "shares", json_integer((json_int_t)s->cpu_shares));
    if (s->cpu_quota)
        json_object_set_new(cpu, "quota", json_integer(s->cpu_quota));
    if (s->cpu_period)
        json_object_set_new(cpu, "period", json_integer((json_int_t)s->cpu_period));
    if (s->cpuset_cpus && s->cpuset_cpus[0])
        json_object_set_new(cpu, "cpus", json_string(s->cpuset_cpus));
    if (s->cpuset_mems && s->cpuset_mems[0])
        json_object_set_new(cpu, "mems", json_string(s->cpuset_mems));
    if (json_object_size(cpu) > 0)
        json_object_set_new(r, "cpu", cpu);
    else
        json_decref(cpu);

    json_t *mem = json_object();
    if (s->memory_limit > 0)
        json_object_set_new(mem, "limit", json_integer(s->memory_limit));
    if (s->memory_swap != 0)
        json_object_set_new(mem, "swap", json_integer(s->memory_swap));
    if (json_object_size(mem) > 0)
        json_object_set_new(r, "memory", mem);
    else
        json_decref(mem);

    if (s->pids_limit != 0) {
        json_t *p = json_object();
        json_object_set_new(p, "limit", json_integer(s->pids_limit));
        json_object_set_new(r, "pids", p);
    }
    if (s->nhugepages > 0) {
        json_t *h = json_array();
        for (size_t i = 0; i < s->nhugepages; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "pageSize", json_string(s->hugepages[i].page_size));
            json_object_set_new(e, "limit", json_integer((json_int_t)s->hugepages[i].limit));
            json_array_append_new(h, e);
        }
        json_object_set_new(r, "hugepageLimits", h);
    }
    if (s->nunified > 0)
        json_object_set_new(r, "unified", kv_object(s->unified, s->nunified));
}

json_t *berth_ocispec_resources_build(const berth_ocispec_resources_t *res)
{
    json_t *r = json_object();
    add_limits(r, res);
    return r;
}

char *berth_ocispec_resources_json(const berth_ocispec_resources_t *res)
{
    json_t *r = berth_ocispec_resources_build(res);
    /* Sorted keys: the file's text depends on the limits alone. json_dumps
     * allocates through jansson's allocator, which is berth's (engine/alloc.c),
     * so the caller frees the text with berth_free. */
    char *text = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(r);
    return text ? text : berth_strdup("{}");
}

static json_t *build_resources(const berth_ocispec_t *s)
{
    json_t *r = json_object();
    json_t *devs = json_array();
    json_t *d = json_object();
    /* privileged: every device node is usable; otherwise deny all and let
     * the runtime add its standard set (null, zero, tty, ...) plus ours. */
    json_object_set_new(d, "allow", json_boolean(s->privileged));
    json_object_set_new(d, "access", json_string("rwm"));
    json_array_append_new(devs, d);
    for (size_t i = 0; !s->privileged && i < s->ndevices; i++) {
        const berth_ocispec_device_t *dv = &s->devices[i];
        json_t *e = json_object();
        json_object_set_new(e, "allow", json_true());
        char t[2] = {dv->type == 'b' ? 'b' : 'c', 0};
        json_object_set_new(e, "type", json_string(t));
        json_object_set_new(e, "major", json_integer(dv->major));
        json_object_set_new(e, "minor", json_integer(dv->minor));
        json_object_set_new(e, "access", json_string(dv->permissions ? dv->permissions : "rwm"));
        json_array_append_new(devs, e);
    }
    if (s->no_device_rules)
        json_decref(devs); /* runc fails a rule it has no hierarchy for */
    else
        json_object_set_new(r, "devices", devs);
    add_limits(r, &s->res);
    return r;
}

static json_t *idmap_json(const berth_idmaps_t *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->n; i++)
        json_array_append_new(a, json_pack("{s:I, s:I, s:I}", "containerID",
                                           (json_int_t)m->v[i].container_id, "hostID",
                                           (json_int_t)m->v[i].host_id, "size",
                                           (json_int_t)m->v[i].length));
    return a;
}

json_t *berth_ocispec_build(const berth_ocispec_t *s, berth_err_t *err)
{
    char **caps = berth_ocispec_caps(s, err);
    if (caps == NULL)
        return berth_err_prefix(err, "capabilities"), NULL;
    json_t *spec = json_object();
    json_object_set_new(spec, "ociVersion", json_string("1.0.2"));
    json_t *proc = build_process(s, caps, err);
    if (proc == NULL)
        goto fail;
    json_object_set_new(spec, "process", proc);

    json_t *root = json_object();
    json_object_set_new(root, "path", json_string(s->root_path ? s->root_path : "rootfs"));
    json_object_set_new(root, "readonly", json_boolean(s->readonly_rootfs));
    json_object_set_new(spec, "root", root);
    if (s->hostname != NULL)
        json_object_set_new(spec, "hostname", json_string(s->hostname));

    json_t *mounts = build_mounts(s, err);
    if (mounts == NULL)
        goto fail;
    json_object_set_new(spec, "mounts", mounts);
    if (s->nannotations > 0)
        json_object_set_new(spec, "annotations", kv_object(s->annotations, s->nannotations));

    json_t *lx = json_object();
    json_object_set_new(spec, "linux", lx);
    json_t *nss = json_array();
    if (s->user_path != NULL) {
        /* First: the others are owned by it and joined from inside it. */
        add_ns(nss, "user", BERTH_NS_PATH, s->user_path);
        if (s->uid_map && s->gid_map) {
            json_object_set_new(lx, "uidMappings", idmap_json(s->uid_map));
            json_object_set_new(lx, "gidMappings", idmap_json(s->gid_map));
        }
    }
    add_ns(nss, "pid", s->pid_mode, s->pid_path);
    add_ns(nss, "network", s->net_mode, s->net_path);
    add_ns(nss, "ipc", s->ipc_mode, s->ipc_path);
    add_ns(nss, "uts", s->uts_mode, s->uts_path);
    add_ns(nss, "mount", BERTH_NS_NEW, NULL);
    json_object_set_new(lx, "namespaces", nss);
    json_object_set_new(lx, "resources", build_resources(s));
    {
        BERTH_AUTO_FREE char *cg = berth_asprintf(
                "%s/berth-%s",
                s->cgroup_parent && s->cgroup_parent[0] ? s->cgroup_parent : "/berth",
                s->id ? s->id : "unnamed");
        json_object_set_new(lx, "cgroupsPath", json_string(cg));
    }
    if (s->nsysctls > 0)
        json_object_set_new(lx, "sysctl", kv_object(s->sysctls, s->nsysctls));
    if (s->ndevices > 0) {
        json_t *devs = json_array();
        for (size_t i = 0; i < s->ndevices; i++) {
            const berth_ocispec_device_t *dv = &s->devices[i];
            json_t *e = json_object();
            json_object_set_new(e, "path", json_string(dv->path));
            char t[2] = {dv->type ? dv->type : 'c', 0};
            json_object_set_new(e, "type", json_string(t));
            json_object_set_new(e, "major", json_integer(dv->major));
            json_object_set_new(e, "minor", json_integer(dv->minor));
            json_object_set_new(e, "fileMode", json_integer(dv->file_mode ? dv->file_mode : 0666));
            json_object_set_new(e, "uid", json_integer(0));
            json_object_set_new(e, "gid", json_integer(0));
            json_array_append_new(devs, e);
        }
        json_object_set_new(lx, "devices", devs);
    }
    int prop = BERTH_PROPAGATION_PRIVATE;
    for (size_t i = 0; i < s->nmounts; i++)
        if (s->mounts[i].propagation > prop)
            prop = s->mounts[i].propagation;
    if (prop != BERTH_PROPAGATION_PRIVATE)
        json_object_set_new(lx, "rootfsPropagation", json_string(propagation_name(prop)));

    if (!s->privileged) {
        if (s->masked_paths_set)
            json_object_set_new(lx, "maskedPaths", str_array(s->masked_paths, s->nmasked_paths));
        else
            json_object_set_new(lx, "maskedPaths",
                                str_array(default_masked, BERTH_ARRAY_LEN(default_masked)));
        if (s->readonly_paths_set)
            json_object_set_new(lx, "readonlyPaths",
                                str_array(s->readonly_paths, s->nreadonly_paths));
        else
            json_object_set_new(lx, "readonlyPaths",
                                str_array(default_readonly, BERTH_ARRAY_LEN(default_readonly)));
        json_t *sc = NULL;
        if (s->seccomp == BERTH_SECCOMP_RUNTIME_DEFAULT && s->seccomp_default_path &&
            s->seccomp_default_path[0]) {
            sc = load_localhost(s->seccomp_default_path, err);
            if (sc == NULL)
                goto fail;
        } else if (s->seccomp == BERTH_SECCOMP_RUNTIME_DEFAULT) {
            size_t n = 0;
            while (caps[n] != NULL)
                n++;
            sc = berth_seccomp_default_profile((const char *const *)caps, n);
        } else if (s->seccomp == BERTH_SECCOMP_LOCALHOST) {
            sc = load_localhost(s->seccomp_profile_path, err);
            if (sc == NULL)
                goto fail;
        }
        if (sc != NULL && s->seccomp_listener_path != NULL)
            seccomp_notify(sc, s->seccomp_listener_path);
        if (sc != NULL)
            json_object_set_new(lx, "seccomp", sc);
    }
    if (s->hooks != NULL && json_object_size(s->hooks) > 0)
        json_object_set(spec, "hooks", s->hooks);
    berth_ocispec_strv_free(caps);
    return spec;
fail:
    berth_ocispec_strv_free(caps);
    json_decref(spec);
    return NULL;
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char *r = berth_strdup(s);
    berth_free(s); /* jansson allocates through berth's allocator (engine/alloc.c) */
    return r;
}

char *berth_ocispec_to_json(const berth_ocispec_t *spec, berth_err_t *err)
{
    json_t *j = berth_ocispec_build(spec, err);
    return j ? dump(j) : NULL;
}

char *berth_ocispec_process_json(const berth_ocispec_t *spec, berth_err_t *err)
{
    char **caps = berth_ocispec_caps(spec, err);
    if (caps == NULL)
        return NULL;
    json_t *p = build_process(spec, caps, err);
    berth_ocispec_strv_free(caps);
    return p ? dump(p) : NULL;
}

int berth_ocispec_write(const char *bundle, const berth_ocispec_t *spec, berth_err_t *err)
{
    BERTH_AUTO_FREE char *js = berth_ocispec_to_json(spec, err);
    if (js == NULL)
        return -1;
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/config.json", bundle);
    return berth_file_write_atomic(path, js, strlen(js), 0600, err);
}

int berth_ocispec_exec_process_write(const char *bundle, const char *const *argv, bool tty,
                                     unsigned rows, unsigned cols, const char *path,
                                     berth_err_t *err)
{
    if (argv == NULL || argv[0] == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "exec: no command");
    BERTH_AUTO_FREE char *cfg = berth_asprintf("%s/config.json", bundle);
    json_error_t je;
    json_t *root = json_load_file(cfg, 0, &je);
    json_t *proc = root ? json_object_get(root, "process") : NULL;
    if (!json_is_object(proc)) {
        berth_err_make(err, root ? EPROTO : ENOENT, BERTH_ERR_INTERNAL,
                       "cannot read the container's process from %s: %s", cfg,
                       root ? "no process object" : je.text);
        json_decref(root);
        return -1;
    }
    json_t *args = json_array();
    for (size_t i = 0; argv[i]; i++)
        json_array_append_new(args, json_string(argv[i]));
    json_object_set_new(proc, "args", args);
    json_object_set_new(proc, "terminal", json_boolean(tty));
    if (tty)
        json_object_set_new(
                proc, "consoleSize",
                json_pack("{s:I,s:I}", "height", (json_int_t)rows, "width", (json_int_t)cols));
    else
        json_object_del(proc, "consoleSize");
    BERTH_AUTO_FREE char *js = json_dumps(proc, JSON_COMPACT);
    json_decref(root);
    if (js == NULL)
        return berth_err_make(err, ENOMEM, BERTH_ERR_INTERNAL, "exec: cannot serialise %s", path);
    return berth_file_write_atomic(path, js, strlen(js), 0600, err);
}

/* ---- /etc/passwd and /etc/group from the image ------------------------------ */

#define MAX_ID_FILE (4u << 20) /* no sane passwd file is larger */

/* Reads <rootfs>/<rel> with every path component resolved inside rootfs.
 * Returns the owned NUL-terminated content, or NULL: *missing is set when the
 * file does not exist (not an error for numeric ids), else *err. */
static char *read_in_root(const char *rootfs, const char *rel, bool *missing, berth_err_t *err)
{
    *missing = false;
    BERTH_AUTO_CLOSE int rfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0) {
        berth_err_errno(err, errno, "open rootfs %s", rootfs);
        return NULL;
    }
    struct open_how how = {
            .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    BERTH_AUTO_CLOSE int fd = (int)syscall(SYS_openat2, rfd, rel, &how, sizeof(how));
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            *missing = true;
            return NULL;
        }
        berth_err_errno(err, errno, "open %s in the image", rel);
        return NULL;
    }
    BERTH_AUTO_FREE char *what = berth_asprintf("%s in the image", rel);
    char *buf = NULL;
    if (berth_fs_read_fd(fd, what, MAX_ID_FILE, BERTH_ERR_INVALID, &buf, NULL, err) < 0)
        return NULL;
    return buf;
}

/* Strict decimal id: digits only, no sign, fits 32 bits minus the -1 marker. */
static bool parse_id(const char *s, uint32_t *out)
{
    if (s == NULL || *s == '\0' || strlen(s) > 10)
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v >= UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Splits one line into exactly `n` ':'-separated fields (in place). */
static bool split_fields(char *line, char **f, int n)
{
    int i = 0;
    f[i++] = line;
    for (char *p = line; *p; p++) {
        if (*p == ':') {
            if (i == n)
                return false;
            *p = '\0';
            f[i++] = p + 1;
        }
    }
    return i == n;
}

typedef struct pwent {
    char *name;
    uint32_t uid, gid;
    char *home;
} pwent_t;

/* Finds the first valid entry matching name (or uid when name is NULL).
 * Entries point into buf. */
static bool passwd_find(char *buf, const char *name, uint32_t uid, pwent_t *out)
{
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[7];
        if (line[0] == '#' || line[0] == '+' || line[0] == '-' || !split_fields(line, f, 7))
            continue;
        uint32_t u, g;
        if (f[0][0] == '\0' || !parse_id(f[2], &u) || !parse_id(f[3], &g))
            continue;
        if (name ? strcmp(f[0], name) == 0 : u == uid) {
            *out = (pwent_t){.name = f[0], .uid = u, .gid = g, .home = f[5]};
            return true;
        }
    }
    return false;
}

int berth_passwd_lookup(const char *rootfs, const char *user, uint32_t *uid, uint32_t *gid,
                        char **home, berth_err_t *err)
{
    uint32_t num;
    bool numeric = parse_id(user, &num);
    if (!numeric && (user == NULL || user[0] == '\0' || strchr(user, ':') != NULL))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid user \"%s\"",
                              user ? user : "");
    bool missing;
    BERTH_AUTO_ERR berth_err_t e = NULL;
    BERTH_AUTO_FREE char *buf = read_in_root(rootfs, "etc/passwd", &missing, &e);
    pwent_t pw;
    if (buf != NULL && passwd_find(buf, numeric ? NULL : user, num, &pw)) {
        *uid = pw.uid;
        *gid = pw.gid;
        if (home)
            *home = berth_strdup(pw.home[0] ? pw.home : "/");
        return 0;
    }
    if (buf == NULL && !missing) {
        *err = berth_err_steal(&e);
        return -1;
    }
    if (numeric) {
        /* An id the image does not know still runs, as with runc. */
        *uid = num;
        *gid = 0;
        if (home)
            *home = berth_strdup("/");
        return 0;
    }
    return berth_err_make(err, ENOENT, BERTH_ERR_NOT_FOUND,
                          "user \"%s\" not found in the image's /etc/passwd%s", user,
                          missing ? " (the image has no /etc/passwd)" : "");
}

/* Calls fn for each valid group line; stops when fn returns true. */
static bool group_each(char *buf,
                       bool (*fn)(void *ctx, const char *name, uint32_t gid, char *members),
                       void *ctx)
{
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4];
        uint32_t g;
        if (line[0] == '#' || line[0] == '+' || line[0] == '-' || !split_fields(line, f, 4))
            continue;
        if (f[0][0] == '\0' || !parse_id(f[2], &g))
            continue;
        if (fn(ctx, f[0], g, f[3]))
            return true;
    }
    return false;
}

struct group_find {
    const char *name;
    uint32_t gid;
};

static bool group_by_name(void *ctx, const char *name, uint32_t gid, char *members)
{
    struct group_find *g = ctx;
    if (strcmp(name, g->name) != 0)
        return false;
    g->gid = gid;
    return true;
}

int berth_group_lookup(const char *rootfs, const char *group, uint32_t *gid, berth_err_t *err)
{
    if (parse_id(group, gid))
        return 0;
    if (group == NULL || group[0] == '\0')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid group \"\"");
    bool missing;
    BERTH_AUTO_ERR berth_err_t e = NULL;
    BERTH_AUTO_FREE char *buf = read_in_root(rootfs, "etc/group", &missing, &e);
    if (buf == NULL && !missing) {
        *err = berth_err_steal(&e);
        return -1;
    }
    struct group_find g = {.name = group};
    if (buf != NULL && group_each(buf, group_by_name, &g)) {
        *gid = g.gid;
        return 0;
    }
    return berth_err_make(err, ENOENT, BERTH_ERR_NOT_FOUND,
                          "group \"%s\" not found in the image's /etc/group", group);
}

struct member_scan {
    const char *user;
    uint32_t *gids;
    size_t n, cap;
};

static void gid_push(uint32_t **v, size_t *n, size_t *cap, uint32_t g)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i] == g)
            return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *v = berth_realloc(*v, *cap * sizeof(uint32_t));
    }
    (*v)[(*n)++] = g;
}

static bool member_of(void *ctx, const char *name, uint32_t gid, char *members)
{
    struct member_scan *m = ctx;
    char *save = NULL;
    for (char *u = strtok_r(members, ",", &save); u; u = strtok_r(NULL, ",", &save))
        if (strcmp(u, m->user) == 0 && m->n < 65536) /* NGROUPS_MAX */
            gid_push(&m->gids, &m->n, &m->cap, gid);
    return false;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void berth_user_fini(berth_user_t *u)
{
    berth_free(u->home);
    berth_free(u->gids);
    memset(u, 0, sizeof(*u));
}

int berth_user_resolve(const char *rootfs, const char *user_spec, const uint32_t *extra,
                       size_t nextra, int policy, berth_user_t *out, berth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    const char *spec = user_spec && user_spec[0] ? user_spec : "0";
    BERTH_AUTO_FREE char *user = berth_strdup(spec);
    char *group = strchr(user, ':');
    if (group != NULL)
        *group++ = '\0';
    if (user[0] == '\0')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid user \"%s\"", spec);
    if (berth_passwd_lookup(rootfs, user, &out->uid, &out->gid, &out->home, err) < 0)
        return -1;
    if (group != NULL && berth_group_lookup(rootfs, group, &out->gid, err) < 0) {
        berth_user_fini(out);
        return -1;
    }
    size_t cap = 0;
    if (policy == BERTH_GROUPS_MERGE) {
        /* Membership is by name: find it when the user was given by uid. */
        bool missing;
        BERTH_AUTO_ERR berth_err_t e = NULL;
        BERTH_AUTO_FREE char *pw = read_in_root(rootfs, "etc/passwd", &missing, &e);
        uint32_t num;
        pwent_t ent;
        const char *name = user;
        BERTH_AUTO_FREE char *name_copy = NULL;
        if (parse_id(user, &num)) {
            name = NULL;
            if (pw != NULL && passwd_find(pw, NULL, num, &ent))
                name = name_copy = berth_strdup(ent.name);
        }
        BERTH_AUTO_FREE char *gr = name ? read_in_root(rootfs, "etc/group", &missing, &e) : NULL;
        if (gr != NULL) {
            struct member_scan m = {.user = name};
            group_each(gr, member_of, &m);
            out->gids = m.gids;
            out->ngids = m.n;
            cap = m.cap;
        }
    }
    /* The primary group is a supplementary one too (as containerd and
     * CRI-O make it): a process that changes its gid keeps the group, and
     * the kubelet expects it in ContainerStatus.user under both policies. */
    gid_push(&out->gids, &out->ngids, &cap, out->gid);
    for (size_t i = 0; i < nextra; i++)
        gid_push(&out->gids, &out->ngids, &cap, extra[i]);
    if (out->ngids > 1)
        qsort(out->gids, out->ngids, sizeof(uint32_t), cmp_u32);
    return 0;
}
