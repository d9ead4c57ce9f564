/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime handler table (see runtimes.h). Built on the main thread at
 * start, read by actors afterwards; it never changes once installed, which is
 * what lets every actor read it without a lock. Never remounts anything: the
 * node preparation is the operator's (scripts/prepare-node-crun.sh).
 */
#include "actors/runtimes.h"

#include <ck_pr.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

const char **berth_runtimes_status_names(char *const *handlers, size_t *n)
{
    size_t nh = 0;
    while (handlers && handlers[nh])
        nh++;
    const char **v = berth_calloc(nh + 2, sizeof(char *));
    for (size_t i = 0; i < nh; i++)
        v[i] = handlers[i];
    /* The default handler's alias: the CRI leaves runtime_handler empty
     * for "the default", and clients look the features up by that name. */
    v[nh] = "";
    *n = nh + 1;
    return v;
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
    char ctrls[160];
    json_object_set_new(cg, "controllers",
                        json_string(berth_cgroups_controllers_text(r->cgroups.controllers, ctrls,
                                                                   sizeof(ctrls))));
    json_object_set_new(cg, "memorySwap", json_boolean(r->cgroups.memory_swap));
    json_object_set_new(cg, "cpuQuota", json_boolean(r->cgroups.cpu_quota));
    json_object_set_new(cg, "hugepageSizes", json_string(r->cgroups.hugepage_sizes));
    json_object_set_new(cg, "droppedLimits",
                        json_integer((json_int_t)berth_runtimes_dropped_limits()));
    return json_pack("{s:o, s:o}", "cgroups", cg, "handlers", hs);
}

char *berth_runtimes_update_json(const berth_ocispec_resources_t *res)
{
    return berth_ocispec_resources_json(res);
}

/* ---- fitting limits to the node's controllers ------------------------------------------- */

static uint64_t dropped_limits;

uint64_t berth_runtimes_dropped_limits(void)
{
    /* a counter for Status: no other memory depends on its value */
    return ck_pr_load_64(&dropped_limits);
}

/* A cpuset list ("0-3,8,10-11"): numbers and ascending ranges. */
static bool cpuset_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return true;
    const char *p = s;
    for (;;) {
        char *end;
        if (*p < '0' || *p > '9')
            return false;
        unsigned long a = strtoul(p, &end, 10), b = a;
        p = end;
        if (*p == '-') {
            if (p[1] < '0' || p[1] > '9')
                return false;
            b = strtoul(p + 1, &end, 10);
            p = end;
        }
        if (b < a || b > 1u << 20)
            return false;
        if (*p == '\0')
            return true;
        if (*p++ != ',')
            return false;
    }
}

/* "<digits>KB|MB|GB", the CRI's page size form. */
static bool page_size_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0, d = strspn(s ? s : "", "0123456789");
    return d > 0 && n == d + 2 && s[0] != '0' &&
           (strcmp(s + d, "KB") == 0 || strcmp(s + d, "MB") == 0 || strcmp(s + d, "GB") == 0);
}

static int invalid(berth_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int invalid(berth_err_t *err, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "linux.resources.%s", msg);
}

static int check_limits(const berth_cgroups_info_t *cg,
                        const Runtime__V1__LinuxContainerResources *r, berth_err_t *err)
{
    if (r->cpu_shares < 0)
        return invalid(err, "cpu_shares %lld is negative", (long long)r->cpu_shares);
    if (r->cpu_quota < -1 || (r->cpu_quota > 0 && r->cpu_quota < 1000))
        return invalid(err,
                       "cpu_quota %lld: give -1 (no limit) or at least 1000 (microseconds per "
                       "period)",
                       (long long)r->cpu_quota);
    if (r->cpu_period < 0 ||
        (r->cpu_period > 0 && (r->cpu_period < 1000 || r->cpu_period > 1000000)))
        return invalid(err, "cpu_period %lld is outside 1000..1000000 microseconds",
                       (long long)r->cpu_period);
    if (r->memory_limit_in_bytes < 0)
        return invalid(err, "memory_limit_in_bytes %lld is negative",
                       (long long)r->memory_limit_in_bytes);
    if (r->memory_swap_limit_in_bytes < -1)
        return invalid(err, "memory_swap_limit_in_bytes %lld: give -1 (no limit) or a size",
                       (long long)r->memory_swap_limit_in_bytes);
    if (r->memory_swap_limit_in_bytes > 0 && r->memory_limit_in_bytes > 0 &&
        r->memory_swap_limit_in_bytes < r->memory_limit_in_bytes)
        return invalid(err,
                       "memory_swap_limit_in_bytes %lld is below memory_limit_in_bytes %lld (it "
                       "counts memory plus swap)",
                       (long long)r->memory_swap_limit_in_bytes,
                       (long long)r->memory_limit_in_bytes);
    if (r->oom_score_adj < -1000 || r->oom_score_adj > 1000)
        return invalid(err, "oom_score_adj %lld is outside -1000..1000",
                       (long long)r->oom_score_adj);
    if (!cpuset_ok(r->cpuset_cpus))
        return invalid(err, "cpuset_cpus \"%s\" is not a CPU list such as \"0-3,6\"",
                       r->cpuset_cpus);
    if (!cpuset_ok(r->cpuset_mems))
        return invalid(err, "cpuset_mems \"%s\" is not a node list such as \"0-1\"",
                       r->cpuset_mems);
    for (size_t i = 0; i < r->n_hugepage_limits; i++) {
        const char *ps = r->hugepage_limits[i]->page_size;
        if (!page_size_ok(ps))
            return invalid(err,
                           "hugepage_limits[%zu].page_size \"%s\" is not of the form 2MB or 1GB", i,
                           ps ? ps : "");
        if (cg && (cg->controllers & BERTH_CG_HUGETLB) && !berth_cgroups_has_hugepage_size(cg, ps))
            return invalid(err,
                           "hugepage_limits[%zu].page_size %s: this node's kernel has huge pages "
                           "of %s",
                           i, ps, cg->hugepage_sizes[0] ? cg->hugepage_sizes : "no size");
    }
    for (size_t i = 0; i < r->n_unified; i++) {
        const char *k = r->unified[i]->key;
        const char *dot = k ? strchr(k, '.') : NULL;
        if (dot == NULL || dot == k || dot[1] == '\0' || strchr(k, '/') != NULL)
            return invalid(err, "unified key \"%s\" is not a cgroup2 file name such as memory.high",
                           k ? k : "");
    }
    return 0;
}

int berth_runtimes_check_resources(const berth_cgroups_info_t *cg,
                                   const Runtime__V1__LinuxContainerResources *in, berth_err_t *err)
{
    return in ? check_limits(cg, in, err) : 0;
}

/* Notes one left-out limit in f. */
static void drop(berth_resources_fit_t *f, const char *what, const char *why)
{
    size_t used = strlen(f->dropped);
    snprintf(f->dropped + used, sizeof(f->dropped) - used, "%s%s (%s)", used ? ", " : "", what,
             why);
    f->ndropped++;
}

int berth_runtimes_fit_resources(const berth_cgroups_info_t *cg,
                                 const Runtime__V1__LinuxContainerResources *in,
                                 berth_resources_fit_t *out, berth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    out->devices = out->pids = true;
    if (in == NULL)
        return 0;
    if (check_limits(cg, in, err) < 0)
        return -1;
    berth_ocispec_resources_t *r = &out->res;
    /* the CRI's fields as the OCI's: no negative share, period or memory
     * limit got past the check; "" is "not set" */
    r->cpu_shares = in->cpu_shares > 0 ? (uint64_t)in->cpu_shares : 0;
    r->cpu_quota = in->cpu_quota;
    r->cpu_period = in->cpu_period > 0 ? (uint64_t)in->cpu_period : 0;
    r->cpuset_cpus = in->cpuset_cpus && in->cpuset_cpus[0] ? in->cpuset_cpus : NULL;
    r->cpuset_mems = in->cpuset_mems && in->cpuset_mems[0] ? in->cpuset_mems : NULL;
    r->memory_limit = in->memory_limit_in_bytes;
    r->memory_swap = in->memory_swap_limit_in_bytes;
    unsigned have = cg ? cg->controllers : ~0u;
    bool v2 = cg == NULL || cg->mode == BERTH_CGROUPS_V2;

    if (!(have & BERTH_CG_CPU)) {
        if (r->cpu_shares || r->cpu_quota || r->cpu_period)
            drop(out, "cpu_shares/cpu_quota/cpu_period", "no cpu controller");
        r->cpu_shares = r->cpu_period = 0;
        r->cpu_quota = 0;
    } else if (cg && !cg->cpu_quota) {
        if (r->cpu_quota || r->cpu_period)
            drop(out, "cpu_quota/cpu_period", "the kernel has no CFS bandwidth control");
        r->cpu_quota = 0;
        r->cpu_period = 0;
    }
    if (!(have & BERTH_CG_CPUSET)) {
        if (r->cpuset_cpus || r->cpuset_mems)
            drop(out, "cpuset_cpus/cpuset_mems", "no cpuset controller");
        r->cpuset_cpus = r->cpuset_mems = NULL;
    }
    if (!(have & BERTH_CG_MEMORY)) {
        if (r->memory_limit || r->memory_swap)
            drop(out, "memory_limit_in_bytes/memory_swap_limit_in_bytes", "no memory controller");
        r->memory_limit = r->memory_swap = 0;
    } else if (cg && !cg->memory_swap) {
        if (r->memory_swap)
            drop(out, "memory_swap_limit_in_bytes", "no swap accounting in the memory controller");
        r->memory_swap = 0;
    }
    if (in->n_hugepage_limits > 0) {
        if (!(have & BERTH_CG_HUGETLB)) {
            char what[64];
            for (size_t i = 0; i < in->n_hugepage_limits; i++) {
                snprintf(what, sizeof(what), "hugepage_limits[%s]",
                         in->hugepage_limits[i]->page_size);
                drop(out, what,
                     cg && cg->mode == BERTH_CGROUPS_HYBRID
                             ? "hugetlb is not in a cgroup v1 hierarchy, which runc and crun "
                               "use on a hybrid node"
                             : "no hugetlb controller");
            }
        } else {
            berth_ocispec_hugepage_t *h = berth_calloc(in->n_hugepage_limits, sizeof(*h));
            for (size_t i = 0; i < in->n_hugepage_limits; i++) {
                h[i].page_size = in->hugepage_limits[i]->page_size;
                h[i].limit = in->hugepage_limits[i]->limit;
            }
            r->hugepages = h;
            r->nhugepages = in->n_hugepage_limits;
        }
    }
    if (in->n_unified > 0) {
        berth_ocispec_kv_t *u = berth_calloc(in->n_unified, sizeof(*u));
        size_t n = 0;
        for (size_t i = 0; i < in->n_unified; i++) {
            const char *k = in->unified[i]->key;
            char ctrl[32];
            snprintf(ctrl, sizeof(ctrl), "%.*s", (int)(strchr(k, '.') - k), k);
            unsigned bit = berth_cgroups_controller_bit(ctrl);
            char what[96];
            snprintf(what, sizeof(what), "unified[%s]", k);
            if (!v2)
                drop(out, what, "the node's cgroups are not v2");
            else if (bit != 0 && !(have & bit))
                drop(out, what, "that controller is not enabled in cgroup2");
            else
                u[n++] = (berth_ocispec_kv_t){k, in->unified[i]->value};
        }
        r->unified = u;
        r->nunified = n;
    }
    out->devices = (have & BERTH_CG_DEVICES) != 0;
    out->pids = (have & BERTH_CG_PIDS) != 0;
    if (out->ndropped)
        ck_pr_add_64(&dropped_limits, out->ndropped);
    return 0;
}

void berth_resources_fit_fini(berth_resources_fit_t *f)
{
    /* the two arrays fit allocated (const in the OCI view, which borrows) */
    berth_free((void *)f->res.hugepages);
    berth_free((void *)f->res.unified);
    f->res.hugepages = NULL;
    f->res.unified = NULL;
    f->res.nhugepages = f->res.nunified = 0;
}
