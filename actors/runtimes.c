/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime handler table (see runtimes.h). Built on the main thread at
 * start, read by actors afterwards; it never changes once installed, which is
 * what lets every actor read it without a lock. Never remounts anything: the
 * node preparation is the operator's (scripts/prepare-node-crun.sh).
 */
#include "actors/runtimes.h"

#include <ck_pr.h>
#include <string.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/fs.h"

static berth_runtimes_t *installed;

/* The binary a handler runs, as the container actor resolves it: an absolute
 * runtime_path as is, else the name looked up in the usual directories. */
static char *resolve(const berth_config_runtime_t *rt)
{
    return berth_fs_find_exec(rt->runtime_path && rt->runtime_path[0] ? rt->runtime_path
                                                                      : rt->name);
}

/* crun is recognised by its binary's name: the handler name is the
 * operator's choice, the binary is what refuses the layout. */
static bool is_crun(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, "crun", 4) == 0;
}

static void set_status(berth_runtime_status_t *s, bool usable, const char *reason, char *message)
{
    s->usable = usable;
    s->reason = berth_strdup(reason);
    s->message = message ? message : berth_strdup("");
}

berth_runtimes_t *berth_runtimes_new(const berth_config_t *cfg, const berth_cgroups_info_t *cg)
{
    berth_runtimes_t *r = berth_calloc(1, sizeof(*r));
    r->cgroups = *cg;
    r->default_handler = berth_strdup(cfg->default_runtime ? cfg->default_runtime : "");
    r->n = cfg->n_runtimes;
    r->v = berth_calloc(r->n + 1, sizeof(*r->v));
    for (size_t i = 0; i < r->n; i++) {
        const berth_config_runtime_t *rt = &cfg->runtimes[i];
        berth_runtime_status_t *s = &r->v[i];
        s->name = berth_strdup(rt->name);
        char *path = resolve(rt);
        const char *wanted = rt->runtime_path && rt->runtime_path[0] ? rt->runtime_path : rt->name;
        s->path = path ? path : berth_strdup("");
        if (path == NULL) {
            set_status(s, false, "RuntimeNotFound",
                       berth_asprintf("runtime handler '%s': the OCI runtime %s is not "
                                      "installed or not executable; install it or set "
                                      "runtime_path in [crio.runtime.runtimes.%s]",
                                      rt->name, wanted, rt->name));
        } else if (cg->mode == BERTH_CGROUPS_NONE) {
            set_status(s, false, "NoCgroups",
                       berth_asprintf("runtime handler '%s' (%s) cannot run containers on "
                                      "this node: %s",
                                      rt->name, path, cg->advice));
        } else if (is_crun(path) && !cg->crun_ok) {
            set_status(s, false, "CrunHybridCgroups",
                       berth_asprintf("runtime handler '%s' (%s) cannot run containers on "
                                      "this node's %s cgroup layout: %s (scripts/"
                                      "prepare-node-crun.sh does this; see docs/runtimes.md), "
                                      "then restart berthd, which probes the layout at start",
                                      rt->name, path, berth_cgroups_mode_name(cg->mode),
                                      cg->advice));
        } else {
            set_status(s, true, "", NULL);
        }
    }
    return r;
}

void berth_runtimes_free(berth_runtimes_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        berth_free(r->v[i].name);
        berth_free(r->v[i].path);
        berth_free(r->v[i].reason);
        berth_free(r->v[i].message);
    }
    berth_free(r->v);
    berth_free(r->default_handler);
    berth_free(r);
}

const berth_runtime_status_t *berth_runtimes_find(const berth_runtimes_t *r, const char *name)
{
    for (size_t i = 0; r && name && i < r->n; i++) {
        if (strcmp(r->v[i].name, name) == 0)
            return &r->v[i];
    }
    return NULL;
}

void berth_runtimes_install(berth_runtimes_t *r)
{
    /* Pairs with the acquire load in berth_runtimes_current: a reader that
     * sees the pointer sees the table's contents, written before. In berthd
     * the actors are spawned after this store anyway, but the release keeps
     * the contract true for any reader. */
    ck_pr_fence_store();
    ck_pr_store_ptr(&installed, r);
}

const berth_runtimes_t *berth_runtimes_current(void)
{
    berth_runtimes_t *r = ck_pr_load_ptr(&installed);
    /* Pairs with the store fence in berth_runtimes_install (see there). */
    ck_pr_fence_load();
    return r;
}

const berth_runtime_status_t *berth_runtimes_unusable(const char *handler)
{
    const berth_runtime_status_t *s = berth_runtimes_find(berth_runtimes_current(), handler);
    return s && !s->usable ? s : NULL;
}

json_t *berth_runtimes_json(const berth_runtimes_t *r)
{
    json_t *hs = json_object();
    for (size_t i = 0; i < r->n; i++) {
        const berth_runtime_status_t *s = &r->v[i];
        json_t *o = json_pack("{s:b, s:s}", "usable", s->usable, "path", s->path);
        if (!s->usable) {
            json_object_set_new(o, "reason", json_string(s->reason));
            json_object_set_new(o, "message", json_string(s->message));
        }
        json_object_set_new(hs, s->name, o);
    }
    json_t *cg = json_pack("{s:s, s:s, s:s, s:b}", "mode", berth_cgroups_mode_name(r->cgroups.mode),
                           "unifiedPath", r->cgroups.unified_path, "v2Controllers",
                           r->cgroups.v2_controllers, "crunOk", r->cgroups.crun_ok);
    if (r->cgroups.advice[0])
        json_object_set_new(cg, "advice", json_string(r->cgroups.advice));
    return json_pack("{s:o, s:o}", "cgroups", cg, "handlers", hs);
}

char *berth_runtimes_update_json(const Runtime__V1__LinuxContainerResources *res)
{
    json_t *r = json_object();
    json_t *cpu = json_object();
    if (res->cpu_shares > 0)
        json_object_set_new(cpu, "shares", json_integer(res->cpu_shares));
    if (res->cpu_quota != 0)
        json_object_set_new(cpu, "quota", json_integer(res->cpu_quota));
    if (res->cpu_period > 0)
        json_object_set_new(cpu, "period", json_integer(res->cpu_period));
    if (res->cpuset_cpus && res->cpuset_cpus[0])
        json_object_set_new(cpu, "cpus", json_string(res->cpuset_cpus));
    if (res->cpuset_mems && res->cpuset_mems[0])
        json_object_set_new(cpu, "mems", json_string(res->cpuset_mems));
    if (json_object_size(cpu) > 0)
        json_object_set_new(r, "cpu", cpu);
    else
        json_decref(cpu);
    json_t *mem = json_object();
    if (res->memory_limit_in_bytes > 0)
        json_object_set_new(mem, "limit", json_integer(res->memory_limit_in_bytes));
    if (res->memory_swap_limit_in_bytes != 0)
        json_object_set_new(mem, "swap", json_integer(res->memory_swap_limit_in_bytes));
    if (json_object_size(mem) > 0)
        json_object_set_new(r, "memory", mem);
    else
        json_decref(mem);
    if (res->n_hugepage_limits > 0) {
        json_t *h = json_array();
        for (size_t i = 0; i < res->n_hugepage_limits; i++) {
            const Runtime__V1__HugepageLimit *l = res->hugepage_limits[i];
            json_array_append_new(h, json_pack("{s:s, s:I}", "pageSize", l->page_size, "limit",
                                               (json_int_t)l->limit));
        }
        json_object_set_new(r, "hugepageLimits", h);
    }
    if (res->n_unified > 0) {
        json_t *u = json_object();
        for (size_t i = 0; i < res->n_unified; i++)
            json_object_set_new(u, res->unified[i]->key, json_string(res->unified[i]->value));
        json_object_set_new(r, "unified", u);
    }
    /* json_dumps allocates through jansson's allocator, which main sets to
     * berth's, so the caller frees the text with berth_free. */
    char *text = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(r);
    return text ? text : berth_strdup("{}");
}
