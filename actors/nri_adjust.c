/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/nri_adjust: what an NRI plugin's ContainerAdjustment asks beyond
 * env, annotations and mounts (actors/nri.c has those), kept as OCI JSON
 * fragments in a->edits with the plugin that set each field in a->owners;
 * the default validator and berth's own rules over the merged result; and
 * the fragments patched into the spec config.json gets. Pure: any thread.
 *
 * The merge follows NRI's: a field (an rlimit type, a device path, a
 * resource limit, a namespace type, a sysctl...) belongs to the first
 * plugin that sets it and a second one setting it conflicts; hooks are
 * appended whoever adds them; "-KEY" removes (devices, namespaces,
 * sysctls), and a removal lets a later plugin set the field again.
 */
#include <errno.h>
#include <string.h>

#include "actors/nri-internal.h"
#include "conf/config.h"
#include "engine/alloc.h"
#include "io/ocispec.h"

typedef Nri__Pkg__Api__V1alpha1__ContainerAdjustment adjustment_t;
typedef Nri__Pkg__Api__V1alpha1__LinuxContainerAdjustment linux_t;
typedef Nri__Pkg__Api__V1alpha1__LinuxResources resources_t;

/* ---- ownership ------------------------------------------------------------------------------ */

/* Claims field for plugin: fails if another plugin holds it. */
static int claim(berth_nri_adjust_t *a, const char *field, const char *plugin, berth_err_t *err)
{
    if (a->owners == NULL)
        a->owners = json_object();
    const char *o = json_string_value(json_object_get(a->owners, field));
    if (o && strcmp(o, plugin) != 0)
        return berth_err_make(err, EEXIST, BERTH_ERR_INVALID,
                              "NRI plugins %s and %s both adjust %s", o, plugin, field);
    json_object_set_new(a->owners, field, json_string(plugin));
    return 0;
}

static void unclaim(berth_nri_adjust_t *a, const char *field)
{
    if (a->owners)
        json_object_del(a->owners, field);
}

/* a->edits[key], made an object (or array) on first use. */
static json_t *edit(berth_nri_adjust_t *a, const char *key, bool array)
{
    if (a->edits == NULL)
        a->edits = json_object();
    json_t *v = json_object_get(a->edits, key);
    if (v == NULL) {
        v = array ? json_array() : json_object();
        json_object_set_new(a->edits, key, v);
    }
    return v;
}

static json_t *strv(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i] ? v[i] : ""));
    return a;
}

static int refuse(berth_err_t *err, const char *plugin, const char *what, const char *why)
{
    return berth_err_make(err, ENOTSUP, BERTH_ERR_UNSUPPORTED,
                          "NRI plugin %s adjusts %s, which berth does not apply: %s", plugin, what,
                          why);
}

/* ---- the process ---------------------------------------------------------------------------- */

static int add_args(berth_nri_adjust_t *a, const char *plugin, const adjustment_t *adj,
                    berth_err_t *err)
{
    if (adj->n_args == 0)
        return 0;
    size_t skip = 0;
    /* UpdateArgs: a leading "" takes the args over from whoever set them */
    if (adj->args[0][0] == '\0') {
        unclaim(a, "args");
        skip = 1;
    }
    if (adj->n_args == skip)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "NRI plugin %s: empty args for the container", plugin);
    if (claim(a, "args", plugin, err) < 0)
        return -1;
    if (a->edits == NULL)
        a->edits = json_object();
    json_object_set_new(a->edits, "args", strv(adj->args + skip, adj->n_args - skip));
    return 0;
}

static int add_rlimits(berth_nri_adjust_t *a, const char *plugin, const adjustment_t *adj,
                       berth_err_t *err)
{
    for (size_t i = 0; i < adj->n_rlimits; i++) {
        const Nri__Pkg__Api__V1alpha1__POSIXRlimit *r = adj->rlimits[i];
        if (strncmp(r->type, "RLIMIT_", 7) != 0 || r->type[7] == '\0')
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: rlimit type \"%s\" is not RLIMIT_<NAME>", plugin,
                                  r->type);
        if (r->soft > r->hard)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: %s soft limit %llu is above its hard limit %llu",
                                  plugin, r->type, (unsigned long long)r->soft,
                                  (unsigned long long)r->hard);
        BERTH_AUTO_FREE char *field = berth_asprintf("rlimit %s", r->type);
        if (claim(a, field, plugin, err) < 0)
            return -1;
        json_object_set_new(
                edit(a, "rlimits", false), r->type,
                json_pack("{s:I,s:I}", "hard", (json_int_t)r->hard, "soft", (json_int_t)r->soft));
    }
    return 0;
}

/* Whether name is one of the comma-separated list's entries. */
static bool listed(const char *list, const char *name)
{
    size_t l = strlen(name);
    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, l) == 0 && (p[l] == ',' || p[l] == '\0'))
            return true;
    return false;
}

static int add_hook_list(berth_nri_adjust_t *a, const char *plugin, const char *stage,
                         Nri__Pkg__Api__V1alpha1__Hook *const *v, size_t n, berth_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i]->path == NULL || v[i]->path[0] != '/')
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: %s hook \"%s\" is not an absolute path", plugin,
                                  stage, v[i]->path ? v[i]->path : "");
        json_t *h = json_pack("{s:s}", "path", v[i]->path);
        if (v[i]->n_args)
            json_object_set_new(h, "args", strv(v[i]->args, v[i]->n_args));
        if (v[i]->n_env)
            json_object_set_new(h, "env", strv(v[i]->env, v[i]->n_env));
        if (v[i]->timeout)
            json_object_set_new(h, "timeout", json_integer(v[i]->timeout->value));
        json_t *hooks = edit(a, "hooks", false);
        json_t *arr = json_object_get(hooks, stage);
        if (arr == NULL)
            json_object_set_new(hooks, stage, arr = json_array());
        json_array_append_new(arr, h);
    }
    if (n == 0)
        return 0;
    /* hooks never conflict: the owner entry lists every plugin adding some,
     * which the validator names */
    if (a->owners == NULL)
        a->owners = json_object();
    const char *o = json_string_value(json_object_get(a->owners, "hooks"));
    if (o == NULL)
        json_object_set_new(a->owners, "hooks", json_string(plugin));
    else if (!listed(o, plugin))
        json_object_set_new(a->owners, "hooks", json_sprintf("%s,%s", o, plugin));
    return 0;
}

static int add_hooks(berth_nri_adjust_t *a, const char *plugin, const adjustment_t *adj,
                     berth_err_t *err)
{
    const Nri__Pkg__Api__V1alpha1__Hooks *h = adj->hooks;
    if (h == NULL)
        return 0;
    return add_hook_list(a, plugin, "prestart", h->prestart, h->n_prestart, err) < 0 ||
                           add_hook_list(a, plugin, "createRuntime", h->create_runtime,
                                         h->n_create_runtime, err) < 0 ||
                           add_hook_list(a, plugin, "createContainer", h->create_container,
                                         h->n_create_container, err) < 0 ||
                           add_hook_list(a, plugin, "startContainer", h->start_container,
                                         h->n_start_container, err) < 0 ||
                           add_hook_list(a, plugin, "poststart", h->poststart, h->n_poststart,
                                         err) < 0 ||
                           add_hook_list(a, plugin, "poststop", h->poststop, h->n_poststop, err) < 0
                   ? -1
                   : 0;
}

static int add_cdi(berth_nri_adjust_t *a, const char *plugin, const adjustment_t *adj,
                   berth_err_t *err)
{
    for (size_t i = 0; i < adj->n_cdi_devices; i++) {
        const char *name = adj->cdi_devices[i]->name;
        /* vendor.com/class=name: berth's CDI resolver checks the rest */
        if (name == NULL || strchr(name, '=') == NULL || strchr(name, '/') == NULL)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: CDI device \"%s\" is not vendor/class=name",
                                  plugin, name ? name : "");
        BERTH_AUTO_FREE char *field = berth_asprintf("CDI device %s", name);
        if (claim(a, field, plugin, err) < 0)
            return -1;
        json_array_append_new(edit(a, "cdi", true), json_string(name));
    }
    return 0;
}

/* ---- Linux ------------------------------------------------------------------------------------
 */

static int add_devices(berth_nri_adjust_t *a, const char *plugin, const linux_t *lx,
                       berth_err_t *err)
{
    for (size_t i = 0; i < lx->n_devices; i++) {
        const Nri__Pkg__Api__V1alpha1__LinuxDevice *d = lx->devices[i];
        const char *path = d->path ? d->path : "";
        bool removal = path[0] == '-';
        const char *bare = removal ? path + 1 : path;
        if (bare[0] != '/')
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: device path \"%s\" is not absolute", plugin,
                                  path);
        BERTH_AUTO_FREE char *field = berth_asprintf("device %s", bare);
        json_t *devs = edit(a, "devices", false);
        if (removal) {
            /* removing first is how a plugin takes a device over */
            unclaim(a, field);
            json_object_set_new(devs, bare, json_null());
            continue;
        }
        const char *t = d->type ? d->type : "";
        if (strcmp(t, "c") != 0 && strcmp(t, "b") != 0 && strcmp(t, "p") != 0 &&
            strcmp(t, "u") != 0)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: device %s has type \"%s\" (c, b, u or p)", plugin,
                                  bare, t);
        if (t[0] != 'p' && (d->major < 0 || d->minor < 0))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: device %s needs its major and minor numbers",
                                  plugin, bare);
        if (claim(a, field, plugin, err) < 0)
            return -1;
        json_t *o = json_pack("{s:s,s:s,s:I,s:I}", "path", bare, "type", t, "major",
                              (json_int_t)d->major, "minor", (json_int_t)d->minor);
        json_object_set_new(o, "fileMode",
                            json_integer(d->file_mode ? d->file_mode->value & 07777 : 0666));
        json_object_set_new(o, "uid", json_integer(d->uid ? d->uid->value : 0));
        json_object_set_new(o, "gid", json_integer(d->gid ? d->gid->value : 0));
        json_object_set_new(devs, bare, o);
    }
    return 0;
}

/* Sets resources[group][key] = v for plugin (v taken). */
static int set_res(berth_nri_adjust_t *a, const char *plugin, const char *group, const char *key,
                   json_t *v, berth_err_t *err)
{
    BERTH_AUTO_FREE char *field =
            berth_asprintf("%s%s%s", group ? group : "", group ? "." : "", key);
    if (claim(a, field, plugin, err) < 0) {
        json_decref(v);
        return -1;
    }
    json_t *r = edit(a, "resources", false);
    if (group) {
        json_t *g = json_object_get(r, group);
        if (g == NULL)
            json_object_set_new(r, group, g = json_object());
        r = g;
    }
    json_object_set_new(r, key, v);
    return 0;
}

static int add_resources(berth_nri_adjust_t *a, const char *plugin, const resources_t *res,
                         berth_err_t *err)
{
    if (res == NULL)
        return 0;
    const Nri__Pkg__Api__V1alpha1__LinuxMemory *m = res->memory;
    if (m && (m->kernel || m->kernel_tcp))
        return refuse(err, plugin, "kernel memory limits",
                      "cgroup v2 has none and cgroup v1 deprecated them");
    if (m && (m->swappiness || m->disable_oom_killer || m->use_hierarchy))
        return refuse(err, plugin, "memory swappiness, disable_oom_killer or use_hierarchy",
                      "cgroup v1 only settings");
    const Nri__Pkg__Api__V1alpha1__LinuxCPU *c = res->cpu;
    if (c && (c->realtime_runtime || c->realtime_period))
        return refuse(err, plugin, "the CPU realtime runtime or period",
                      "berth gives containers no realtime budget");
    if (res->blockio_class)
        return refuse(err, plugin, "the block I/O class", "berth has no blockio class support");
    if (res->rdt_class)
        return refuse(err, plugin, "the RDT class", "berth has no RDT (resctrl) support");
    int rc = 0;
    if (m && m->limit && rc == 0)
        rc = set_res(a, plugin, "memory", "limit", json_integer(m->limit->value), err);
    if (m && m->reservation && rc == 0)
        rc = set_res(a, plugin, "memory", "reservation", json_integer(m->reservation->value), err);
    if (m && m->swap && rc == 0)
        rc = set_res(a, plugin, "memory", "swap", json_integer(m->swap->value), err);
    if (c && c->shares && rc == 0)
        rc = set_res(a, plugin, "cpu", "shares", json_integer((json_int_t)c->shares->value), err);
    if (c && c->quota && rc == 0)
        rc = set_res(a, plugin, "cpu", "quota", json_integer(c->quota->value), err);
    if (c && c->period && rc == 0)
        rc = set_res(a, plugin, "cpu", "period", json_integer((json_int_t)c->period->value), err);
    if (c && c->cpus && c->cpus[0] && rc == 0)
        rc = set_res(a, plugin, "cpu", "cpus", json_string(c->cpus), err);
    if (c && c->mems && c->mems[0] && rc == 0)
        rc = set_res(a, plugin, "cpu", "mems", json_string(c->mems), err);
    if (res->pids && rc == 0)
        rc = set_res(a, plugin, "pids", "limit", json_integer(res->pids->limit), err);
    for (size_t i = 0; rc == 0 && i < res->n_hugepage_limits; i++)
        rc = set_res(a, plugin, "hugepageLimits", res->hugepage_limits[i]->page_size,
                     json_integer((json_int_t)res->hugepage_limits[i]->limit), err);
    for (size_t i = 0; rc == 0 && i < res->n_unified; i++)
        rc = set_res(a, plugin, "unified", res->unified[i]->key,
                     json_string(res->unified[i]->value ? res->unified[i]->value : ""), err);
    for (size_t i = 0; rc == 0 && i < res->n_devices; i++) {
        const Nri__Pkg__Api__V1alpha1__LinuxDeviceCgroup *d = res->devices[i];
        json_t *o = json_pack("{s:b,s:s}", "allow", d->allow, "access",
                              d->access && d->access[0] ? d->access : "rwm");
        if (d->type && d->type[0])
            json_object_set_new(o, "type", json_string(d->type));
        if (d->major)
            json_object_set_new(o, "major", json_integer(d->major->value));
        if (d->minor)
            json_object_set_new(o, "minor", json_integer(d->minor->value));
        json_array_append_new(edit(a, "deviceRules", true), o);
    }
    return rc;
}

static const char *const ns_types[] = {"network", "pid",  "ipc",    "uts",
                                       "mount",   "user", "cgroup", "time"};

static int add_namespaces(berth_nri_adjust_t *a, const char *plugin, const linux_t *lx,
                          berth_err_t *err)
{
    for (size_t i = 0; i < lx->n_namespaces; i++) {
        const Nri__Pkg__Api__V1alpha1__LinuxNamespace *n = lx->namespaces[i];
        const char *t = n->type ? n->type : "";
        bool removal = t[0] == '-';
        const char *bare = removal ? t + 1 : t;
        bool known = false;
        for (size_t k = 0; k < BERTH_ARRAY_LEN(ns_types); k++)
            known = known || strcmp(ns_types[k], bare) == 0;
        if (!known)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: unknown namespace type \"%s\"", plugin, bare);
        if (!removal && n->path && n->path[0] && n->path[0] != '/')
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: %s namespace path \"%s\" is not absolute", plugin,
                                  bare, n->path);
        BERTH_AUTO_FREE char *field = berth_asprintf("namespace %s", bare);
        if (claim(a, field, plugin, err) < 0)
            return -1;
        json_object_set_new(edit(a, "namespaces", false), bare,
                            removal ? json_null() : json_string(n->path ? n->path : ""));
    }
    return 0;
}

static json_t *seccomp_json(const Nri__Pkg__Api__V1alpha1__LinuxSeccomp *s)
{
    json_t *o = json_pack("{s:s}", "defaultAction", s->default_action ? s->default_action : "");
    if (s->default_errno)
        json_object_set_new(o, "defaultErrnoRet", json_integer(s->default_errno->value));
    if (s->n_architectures)
        json_object_set_new(o, "architectures", strv(s->architectures, s->n_architectures));
    if (s->n_flags)
        json_object_set_new(o, "flags", strv(s->flags, s->n_flags));
    if (s->listener_path && s->listener_path[0])
        json_object_set_new(o, "listenerPath", json_string(s->listener_path));
    if (s->listener_metadata && s->listener_metadata[0])
        json_object_set_new(o, "listenerMetadata", json_string(s->listener_metadata));
    json_t *calls = json_array();
    for (size_t i = 0; i < s->n_syscalls; i++) {
        const Nri__Pkg__Api__V1alpha1__LinuxSyscall *c = s->syscalls[i];
        json_t *e = json_pack("{s:o,s:s}", "names", strv(c->names, c->n_names), "action",
                              c->action ? c->action : "");
        if (c->errno_ret)
            json_object_set_new(e, "errnoRet", json_integer(c->errno_ret->value));
        if (c->n_args) {
            json_t *args = json_array();
            for (size_t j = 0; j < c->n_args; j++)
                json_array_append_new(args, json_pack("{s:i,s:I,s:I,s:s}", "index",
                                                      (int)c->args[j]->index, "value",
                                                      (json_int_t)c->args[j]->value, "valueTwo",
                                                      (json_int_t)c->args[j]->value_two, "op",
                                                      c->args[j]->op ? c->args[j]->op : ""));
            json_object_set_new(e, "args", args);
        }
        json_array_append_new(calls, e);
    }
    json_object_set_new(o, "syscalls", calls);
    return o;
}

static int set_edit(berth_nri_adjust_t *a, const char *plugin, const char *field, const char *key,
                    json_t *v, berth_err_t *err)
{
    if (claim(a, field, plugin, err) < 0) {
        json_decref(v);
        return -1;
    }
    if (a->edits == NULL)
        a->edits = json_object();
    json_object_set_new(a->edits, key, v);
    return 0;
}

static int add_linux(berth_nri_adjust_t *a, const char *plugin, const linux_t *lx, berth_err_t *err)
{
    if (lx == NULL)
        return 0;
    if (lx->n_net_devices)
        return refuse(err, plugin, "network devices", "berth moves no host interfaces");
    if (lx->rdt)
        return refuse(err, plugin, "RDT", "berth has no RDT (resctrl) support");
    if (lx->memory_policy)
        return refuse(err, plugin, "the memory policy", "berth's runtimes are not asked for one");
    if (lx->scheduler)
        return refuse(err, plugin, "the scheduler policy",
                      "berth does not set scheduling attributes");
    if (add_devices(a, plugin, lx, err) < 0 || add_resources(a, plugin, lx->resources, err) < 0 ||
        add_namespaces(a, plugin, lx, err) < 0)
        return -1;
    if (lx->cgroups_path && lx->cgroups_path[0] &&
        set_edit(a, plugin, "cgroups path", "cgroupsPath", json_string(lx->cgroups_path), err) < 0)
        return -1;
    if (lx->oom_score_adj) {
        int64_t v = lx->oom_score_adj->value;
        if (v < -1000 || v > 1000)
            return berth_err_make(err, ERANGE, BERTH_ERR_INVALID,
                                  "NRI plugin %s: oom_score_adj %lld is outside [-1000, 1000]",
                                  plugin, (long long)v);
        if (set_edit(a, plugin, "OOM score", "oomScoreAdj", json_integer(v), err) < 0)
            return -1;
    }
    if (lx->io_priority) {
        static const char *const classes[] = {NULL, "IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE",
                                              "IOPRIO_CLASS_IDLE"};
        int cl = lx->io_priority->class_;
        if (cl > 0 && cl < 4) {
            if (set_edit(a, plugin, "I/O priority", "ioPriority",
                         json_pack("{s:s,s:i}", "class", classes[cl], "priority",
                                   (int)lx->io_priority->priority),
                         err) < 0)
                return -1;
        }
    }
    if (lx->seccomp_policy &&
        set_edit(a, plugin, "seccomp policy", "seccomp", seccomp_json(lx->seccomp_policy), err) < 0)
        return -1;
    for (size_t i = 0; i < lx->n_sysctl; i++) {
        const char *k = lx->sysctl[i]->key ? lx->sysctl[i]->key : "";
        bool removal = k[0] == '-';
        const char *bare = removal ? k + 1 : k;
        if (bare[0] == '\0')
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: a sysctl without a name", plugin);
        BERTH_AUTO_FREE char *field = berth_asprintf("sysctl %s", bare);
        if (claim(a, field, plugin, err) < 0)
            return -1;
        json_object_set_new(edit(a, "sysctl", false), bare,
                            removal ? json_null() : json_string(lx->sysctl[i]->value ?: ""));
    }
    return 0;
}

int berth_nri_adjust_more(berth_nri_adjust_t *a, const char *plugin, const adjustment_t *adj,
                          berth_err_t *err)
{
    if (add_args(a, plugin, adj, err) < 0 || add_rlimits(a, plugin, adj, err) < 0 ||
        add_hooks(a, plugin, adj, err) < 0 || add_cdi(a, plugin, adj, err) < 0 ||
        add_linux(a, plugin, adj->linux, err) < 0)
        return -1;
    return 0;
}

void berth_nri_adjust_unmount(berth_nri_adjust_t *a, const char *dst)
{
    json_array_append_new(edit(a, "unmounts", true), json_string(dst));
}

const char *const *berth_nri_cdi_devices(const berth_nri_adjust_t *a, size_t *n)
{
    json_t *v = a->edits ? json_object_get(a->edits, "cdi") : NULL;
    *n = 0;
    if (v == NULL)
        return NULL;
    /* the names live in the JSON strings, as long as a does */
    const char **names = berth_calloc(json_array_size(v) + 1, sizeof(char *));
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) names[(*n)++] = json_string_value(x);
    return names;
}

/* ---- validation ------------------------------------------------------------------------------ */

/* The value of annotation key for the container: "<key>/container.<name>",
 * then "<key>/pod", then key itself, as NRI looks them up. */
static const char *annotation(const Runtime__V1__ContainerConfig *cc, const char *key)
{
    const char *name = cc->metadata && cc->metadata->name ? cc->metadata->name : "";
    BERTH_AUTO_FREE char *per_ctr = berth_asprintf("%s/container.%s", key, name);
    BERTH_AUTO_FREE char *per_pod = berth_asprintf("%s/pod", key);
    const char *const want[] = {per_ctr, per_pod, key};
    for (size_t w = 0; w < BERTH_ARRAY_LEN(want); w++)
        for (size_t i = 0; i < cc->n_annotations; i++)
            if (strcmp(cc->annotations[i]->key, want[w]) == 0)
                return cc->annotations[i]->value;
    return NULL;
}

static bool plugin_present(const char *want, const char *const *plugins, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = plugins[i];
        /* "10-name": the index is the plugin's place, not its name */
        const char *dash = strchr(p, '-');
        if (strcmp(p, want) == 0 || (dash && strcmp(dash + 1, want) == 0))
            return true;
    }
    return false;
}

/* Appends to *missing the required plugins absent from plugins. */
static void note_missing(char **missing, const char *want, const char *const *plugins, size_t n)
{
    if (plugin_present(want, plugins, n))
        return;
    char *m = *missing ? berth_asprintf("%s, %s", *missing, want) : berth_strdup(want);
    berth_free(*missing);
    *missing = m;
}

static int required_plugins(const struct berth_config *cfg, const Runtime__V1__ContainerConfig *cc,
                            const char *const *plugins, size_t nplugins, berth_err_t *err)
{
    const char *tol = cfg->nri_tolerate_missing_plugins_annotation;
    const char *tv = tol && tol[0] ? annotation(cc, tol) : NULL;
    if (tv && (strcmp(tv, "true") == 0 || strcmp(tv, "1") == 0))
        return 0;
    BERTH_AUTO_FREE char *missing = NULL;
    for (size_t i = 0; i < cfg->nri_required_plugins.n; i++)
        note_missing(&missing, cfg->nri_required_plugins.v[i], plugins, nplugins);
    /* the annotation's list: ["a", "b"] or a, b (a YAML sequence, flow or one per line) */
    const char *av = annotation(cc, BERTH_NRI_REQUIRED_PLUGINS_ANNOTATION);
    if (av) {
        BERTH_AUTO_FREE char *copy = berth_strdup(av);
        char *save = NULL;
        for (char *t = strtok_r(copy, "[],\n", &save); t; t = strtok_r(NULL, "[],\n", &save)) {
            while (*t == ' ' || *t == '-' || *t == '"' || *t == '\'')
                t++;
            size_t l = strlen(t);
            while (l && (t[l - 1] == ' ' || t[l - 1] == '"' || t[l - 1] == '\''))
                t[--l] = '\0';
            if (l)
                note_missing(&missing, t, plugins, nplugins);
        }
    }
    if (missing == NULL)
        return 0;
    return berth_err_make(err, ENOENT, BERTH_ERR_PRECONDITION,
                          "NRI validation: required plugin(s) %s not present", missing);
}

/* The default validator's rules ([crio.nri.default_validator]). */
static int default_validator(const berth_nri_adjust_t *a, const struct berth_config *cfg,
                             const Runtime__V1__ContainerConfig *cc, berth_err_t *err)
{
    json_t *own = a->owners;
    const char *o;
    if (cfg->nri_reject_oci_hook_adjustment &&
        (o = json_string_value(json_object_get(own, "hooks"))))
        return berth_err_make(err, EPERM, BERTH_ERR_DENIED,
                              "NRI validation: plugin(s) %s add OCI hooks, which "
                              "reject_oci_hook_adjustment forbids",
                              o);
    if ((o = json_string_value(json_object_get(own, "seccomp policy")))) {
        const Runtime__V1__LinuxContainerSecurityContext *sc =
                cc->linux ? cc->linux->security_context : NULL;
        int t = sc && sc->seccomp ? (int)sc->seccomp->profile_type
                                  : RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
        const char *key = NULL;
        if (t == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined &&
            cfg->nri_reject_unconfined_seccomp_adjustment)
            key = "reject_unconfined_seccomp_adjustment";
        else if (t == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault &&
                 cfg->nri_reject_runtime_default_seccomp_adjustment)
            key = "reject_runtime_default_seccomp_adjustment";
        else if (t == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost &&
                 cfg->nri_reject_custom_seccomp_adjustment)
            key = "reject_custom_seccomp_adjustment";
        if (key)
            return berth_err_make(err, EPERM, BERTH_ERR_DENIED,
                                  "NRI validation: plugin %s replaces the seccomp policy, which "
                                  "%s forbids",
                                  o, key);
    }
    const char *k;
    json_t *v;
    json_object_foreach(own, k, v)
    {
        if (cfg->nri_reject_namespace_adjustment && strncmp(k, "namespace ", 10) == 0)
            return berth_err_make(err, EPERM, BERTH_ERR_DENIED,
                                  "NRI validation: plugin %s adjusts the %s namespace, which "
                                  "reject_namespace_adjustment forbids",
                                  json_string_value(v), k + 10);
        if (cfg->nri_reject_sysctl_adjustment && strncmp(k, "sysctl ", 7) == 0)
            return berth_err_make(err, EPERM, BERTH_ERR_DENIED,
                                  "NRI validation: plugin %s sets sysctl %s, which "
                                  "reject_sysctl_adjustment forbids",
                                  json_string_value(v), k + 7);
    }
    return 0;
}

/* berth's own rules, whatever the validator's configuration: what the
 * kubelet's request could not have asked for, a plugin cannot add. */
static int berth_rules(const berth_nri_adjust_t *a, const Runtime__V1__ContainerConfig *cc,
                       const berth_pod_info_t *pod, berth_err_t *err)
{
    const Runtime__V1__LinuxContainerSecurityContext *sc =
            cc->linux ? cc->linux->security_context : NULL;
    bool privileged = sc && sc->privileged;
    /* the kubelet gives Bidirectional propagation to privileged containers only */
    for (size_t i = 0; !privileged && i < a->nmounts; i++)
        for (size_t j = 0; j < a->mounts[i].noptions; j++) {
            const char *o = a->mounts[i].options[j];
            if (strcmp(o, "rshared") == 0 || strcmp(o, "shared") == 0)
                return berth_err_make(err, EPERM, BERTH_ERR_DENIED,
                                      "NRI plugin %s mounts %s with shared propagation into a "
                                      "container that is not privileged",
                                      a->mounts[i].owner, a->mounts[i].destination);
        }
    /* hostUsers: false keeps the container's root away from the node's
     * IDs; leaving the pod's user namespace would undo that */
    const char *o =
            a->owners ? json_string_value(json_object_get(a->owners, "namespace user")) : NULL;
    if (o && pod && pod->user_ns)
        return berth_err_make(err, EPERM, BERTH_ERR_DENIED,
                              "NRI plugin %s changes the user namespace of a container whose pod "
                              "has its own (hostUsers: false)",
                              o);
    /* a device node lands under /dev, where the runtime makes nodes; a
     * plugin placing one elsewhere (over a binary, in /etc) is refused */
    json_t *devs = a->edits ? json_object_get(a->edits, "devices") : NULL;
    const char *path;
    json_t *d;
    json_object_foreach(devs, path, d)
    {
        if (!json_is_object(d) || strncmp(path, "/dev/", 5) == 0)
            continue;
        BERTH_AUTO_FREE char *field = berth_asprintf("device %s", path);
        return berth_err_make(err, EPERM, BERTH_ERR_DENIED,
                              "NRI plugin %s adds device %s outside /dev",
                              json_string_value(json_object_get(a->owners, field)), path);
    }
    return 0;
}

int berth_nri_validate(const berth_nri_adjust_t *a, const struct berth_config *cfg,
                       const Runtime__V1__ContainerConfig *cc, const berth_pod_info_t *pod,
                       const char *const *plugins, size_t nplugins, berth_err_t *err)
{
    if (berth_rules(a, cc, pod, err) < 0)
        return -1;
    if (cfg == NULL || !cfg->nri_validator_enable)
        return 0;
    if (default_validator(a, cfg, cc, err) < 0)
        return -1;
    return required_plugins(cfg, cc, plugins, nplugins, err);
}

/* ---- the spec ---------------------------------------------------------------------------------
 */

static json_t *child(json_t *parent, const char *key, bool array)
{
    json_t *v = json_object_get(parent, key);
    if (v == NULL) {
        v = array ? json_array() : json_object();
        json_object_set_new(parent, key, v);
    }
    return v;
}

/* The cgroup rule that lets the container open device d (a linux.devices
 * entry): what berth writes for a kubelet's device (io/ocispec.c). */
static json_t *device_rule(json_t *d)
{
    const char *t = json_string_value(json_object_get(d, "type"));
    return json_pack("{s:b,s:s,s:O,s:O,s:s}", "allow", 1, "type", t && t[0] == 'b' ? "b" : "c",
                     "major", json_object_get(d, "major"), "minor", json_object_get(d, "minor"),
                     "access", "rwm");
}

static bool same_rule(json_t *r, json_t *d)
{
    const char *t = json_string_value(json_object_get(d, "type"));
    const char *rt = json_string_value(json_object_get(r, "type"));
    return json_is_true(json_object_get(r, "allow")) && rt &&
           rt[0] == (t && t[0] == 'b' ? 'b' : 'c') &&
           json_equal(json_object_get(r, "major"), json_object_get(d, "major")) &&
           json_equal(json_object_get(r, "minor"), json_object_get(d, "minor"));
}

static void apply_devices(json_t *edits, json_t *lx)
{
    json_t *devs = json_object_get(edits, "devices");
    json_t *res = json_object_get(lx, "resources");
    /* no rules array: the node has no devices controller (or the spec is
     * privileged in a way that needs none): nodes only */
    json_t *rules = res ? json_object_get(res, "devices") : NULL;
    const char *path;
    json_t *d;
    json_object_foreach(devs, path, d)
    {
        json_t *have = child(lx, "devices", true);
        for (size_t i = 0; i < json_array_size(have);) {
            json_t *e = json_array_get(have, i);
            if (strcmp(json_string_value(json_object_get(e, "path")) ?: "", path) != 0) {
                i++;
                continue;
            }
            for (size_t j = 1; rules && j < json_array_size(rules);)
                if (same_rule(json_array_get(rules, j), e))
                    json_array_remove(rules, j);
                else
                    j++;
            json_array_remove(have, i);
        }
        if (!json_is_object(d))
            continue;
        json_array_append(have, d);
        const char *t = json_string_value(json_object_get(d, "type"));
        if (rules && t && t[0] != 'p')
            json_array_append_new(rules, device_rule(d));
    }
    json_t *extra = json_object_get(edits, "deviceRules");
    size_t i;
    json_t *r;
    json_array_foreach(extra, i, r) if (rules) json_array_append(rules, r);
}

static void apply_resources(json_t *edits, json_t *lx)
{
    json_t *want = json_object_get(edits, "resources");
    if (want == NULL)
        return;
    json_t *res = child(lx, "resources", false);
    const char *group;
    json_t *g;
    json_object_foreach(want, group, g)
    {
        if (strcmp(group, "hugepageLimits") == 0) {
            json_t *have = child(res, "hugepageLimits", true);
            const char *size;
            json_t *limit;
            json_object_foreach(g, size, limit)
            {
                for (size_t i = 0; i < json_array_size(have); i++)
                    if (strcmp(json_string_value(
                                       json_object_get(json_array_get(have, i), "pageSize"))
                                       ?: "",
                               size) == 0)
                        json_array_remove(have, i--);
                json_array_append_new(have,
                                      json_pack("{s:s,s:O}", "pageSize", size, "limit", limit));
            }
            continue;
        }
        json_object_update(child(res, group, false), g);
    }
}

static void apply_namespaces(json_t *edits, json_t *lx)
{
    json_t *want = json_object_get(edits, "namespaces");
    const char *type;
    json_t *path;
    json_object_foreach(want, type, path)
    {
        json_t *have = child(lx, "namespaces", true);
        for (size_t i = 0; i < json_array_size(have); i++)
            if (strcmp(json_string_value(json_object_get(json_array_get(have, i), "type")) ?: "",
                       type) == 0)
                json_array_remove(have, i--);
        if (json_is_null(path))
            continue;
        json_t *ns = json_pack("{s:s}", "type", type);
        if (json_string_value(path)[0])
            json_object_set(ns, "path", path);
        json_array_append_new(have, ns);
    }
}

/* Whether spec mount m is one a plugin added (same destination and source). */
static bool nri_mount(const berth_nri_adjust_t *a, json_t *m)
{
    const char *d = json_string_value(json_object_get(m, "destination"));
    const char *s = json_string_value(json_object_get(m, "source"));
    for (size_t i = 0; d && s && i < a->nmounts; i++)
        if (strcmp(a->mounts[i].destination, d) == 0 && strcmp(a->mounts[i].source, s) == 0)
            return true;
    return false;
}

static void apply_unmounts(const berth_nri_adjust_t *a, json_t *spec)
{
    json_t *mounts = json_object_get(spec, "mounts");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(a->edits, "unmounts"), i, x)
    {
        const char *dst = json_string_value(x);
        for (size_t j = 0; j < json_array_size(mounts);) {
            json_t *m = json_array_get(mounts, j);
            if (strcmp(json_string_value(json_object_get(m, "destination")) ?: "", dst) == 0 &&
                !nri_mount(a, m))
                json_array_remove(mounts, j);
            else
                j++;
        }
    }
}

int berth_nri_apply_spec(const berth_nri_adjust_t *a, json_t *spec, berth_err_t *err)
{
    json_t *edits = a->edits;
    if (edits == NULL)
        return 0;
    json_t *proc = json_object_get(spec, "process");
    json_t *lx = json_object_get(spec, "linux");
    if (!json_is_object(proc) || !json_is_object(lx))
        return berth_err_make(err, EINVAL, BERTH_ERR_INTERNAL,
                              "NRI: the spec has no process or linux object");
    json_t *v;
    if ((v = json_object_get(edits, "args")))
        json_object_set(proc, "args", v);
    const char *k;
    json_t *x;
    json_object_foreach(json_object_get(edits, "rlimits"), k, x)
    {
        json_t *have = child(proc, "rlimits", true);
        for (size_t i = 0; i < json_array_size(have); i++)
            if (strcmp(json_string_value(json_object_get(json_array_get(have, i), "type")) ?: "",
                       k) == 0)
                json_array_remove(have, i--);
        json_t *r = json_deep_copy(x);
        json_object_set_new(r, "type", json_string(k));
        json_array_append_new(have, r);
    }
    if ((v = json_object_get(edits, "oomScoreAdj"))) {
        /* berthd cannot give a child less than its own (io/ocispec.h) */
        json_int_t o = json_integer_value(v), min = berth_ocispec_min_oom_score_adj();
        json_object_set_new(proc, "oomScoreAdj", json_integer(o < min ? min : o));
    }
    if ((v = json_object_get(edits, "ioPriority")))
        json_object_set(proc, "ioPriority", v);
    json_object_foreach(json_object_get(edits, "hooks"), k, x)
    {
        json_t *have = child(child(spec, "hooks", false), k, true);
        json_array_extend(have, x);
    }
    apply_unmounts(a, spec);
    apply_devices(edits, lx);
    apply_resources(edits, lx);
    apply_namespaces(edits, lx);
    if ((v = json_object_get(edits, "cgroupsPath")))
        json_object_set(lx, "cgroupsPath", v);
    if ((v = json_object_get(edits, "seccomp")))
        json_object_set(lx, "seccomp", v);
    json_object_foreach(json_object_get(edits, "sysctl"), k, x)
    {
        if (json_is_null(x))
            json_object_del(child(lx, "sysctl", false), k);
        else
            json_object_set(child(lx, "sysctl", false), k, x);
    }
    return 0;
}
