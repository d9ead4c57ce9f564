// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI -> OCI translation (see ctrspec.h). The user comes first from the
 * CRI security context, then from the image's User; limits the node cannot
 * apply are left out by actors/runtimes.c's fit, so a spec never asks the
 * runtime for a controller that is not there.
 */
#include "actors/ctrspec.h"
#include "actors/nri.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "actors/ctrsec.h"
#include "actors/runtimes.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/ocispec.h"

/* ---- the image's config ------------------------------------------------------------------ */

static json_t *image_config(const berth_ctrspec_in_t *c)
{
    if (c->image == NULL || c->image->config == NULL)
        return NULL;
    json_t *doc = json_loads(c->image->config, 0, NULL);
    json_t *cfg = doc ? json_object_get(doc, "config") : NULL;
    if (cfg)
        json_incref(cfg);
    if (doc)
        json_decref(doc);
    return cfg;
}

/* A number in [lo, hi] that is all of s, or -1. */
static int number_in(const char *s, int lo, int hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && v >= lo && v <= hi ? (int)v : -1;
}

int berth_ctrspec_signal(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return SIGTERM;
    if (s[0] >= '0' && s[0] <= '9') {
        /* 0 would stop nothing: the container would wait for the SIGKILL */
        int v = number_in(s, 1, SIGRTMAX);
        return v > 0 ? v : SIGTERM;
    }
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    /* systemd images stop with SIGRTMIN+3 */
    if (strncasecmp(s, "RTMIN+", 6) == 0 || strncasecmp(s, "RTMAX-", 6) == 0) {
        int off = number_in(s + 6, 0, SIGRTMAX - SIGRTMIN);
        if (off < 0)
            return SIGTERM;
        return toupper((unsigned char)s[2]) == 'M' && toupper((unsigned char)s[3]) == 'I'
                       ? SIGRTMIN + off
                       : SIGRTMAX - off;
    }
    static const struct {
        const char *n;
        int v;
    } sigs[] = {{"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT},   {"QUIT", SIGQUIT},
                {"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH},
                {"STOP", SIGSTOP}, {"PWR", SIGPWR},   {"ABRT", SIGABRT}, {"ALRM", SIGALRM},
                {"CONT", SIGCONT}, {"TRAP", SIGTRAP}, {"RTMIN", 0},      {"RTMAX", 0}};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(sigs); i++) {
        if (strcasecmp(sigs[i].n, s) == 0)
            return sigs[i].v ? sigs[i].v : (i + 2 == BERTH_ARRAY_LEN(sigs) ? SIGRTMIN : SIGRTMAX);
    }
    return SIGTERM;
}

/* args per the kubelet's rule: command replaces the entrypoint, args
 * replace cmd; with no command, the image's entrypoint runs with args or,
 * without args, the image's cmd. */
char **berth_ctrspec_args(const Runtime__V1__ContainerConfig *cc, json_t *icfg, size_t *n)
{
    json_t *ep = icfg ? json_object_get(icfg, "Entrypoint") : NULL;
    json_t *cmd = icfg ? json_object_get(icfg, "Cmd") : NULL;
    size_t cap = cc->n_command + cc->n_args + json_array_size(ep) + json_array_size(cmd) + 1;
    char **v = berth_calloc(cap, sizeof(char *));
    size_t k = 0;
    if (cc->n_command) {
        for (size_t i = 0; i < cc->n_command; i++)
            v[k++] = berth_strdup(cc->command[i]);
        for (size_t i = 0; i < cc->n_args; i++)
            v[k++] = berth_strdup(cc->args[i]);
    } else {
        size_t i;
        json_t *x;
        json_array_foreach(ep, i, x) v[k++] =
                berth_strdup(json_string_value(x) ? json_string_value(x) : "");
        if (cc->n_args) {
            for (i = 0; i < cc->n_args; i++)
                v[k++] = berth_strdup(cc->args[i]);
        } else {
            json_array_foreach(cmd, i, x) v[k++] =
                    berth_strdup(json_string_value(x) ? json_string_value(x) : "");
        }
    }
    *n = k;
    return v;
}

char **berth_ctrspec_env(const Runtime__V1__ContainerConfig *cc, json_t *icfg, const char *hostname,
                         size_t *n)
{
    json_t *ienv = icfg ? json_object_get(icfg, "Env") : NULL;
    size_t cap = json_array_size(ienv) + cc->n_envs + 3;
    char **v = berth_calloc(cap, sizeof(char *));
    size_t k = 0;
    bool has_path = false;
    size_t i;
    json_t *x;
    json_array_foreach(ienv, i, x)
    {
        const char *s = json_string_value(x);
        if (s == NULL)
            continue;
        if (strncmp(s, "PATH=", 5) == 0)
            has_path = true;
        v[k++] = berth_strdup(s);
    }
    if (!has_path)
        v[k++] = berth_strdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    v[k++] = berth_asprintf("HOSTNAME=%s", hostname);
    for (i = 0; i < cc->n_envs; i++) {
        const char *key = cc->envs[i]->key;
        size_t kl = strlen(key);
        char *kv = berth_asprintf("%s=%.*s", key, (int)cc->envs[i]->value.len,
                                  (const char *)cc->envs[i]->value.data);
        size_t j;
        for (j = 0; j < k; j++) {
            if (strncmp(v[j], key, kl) == 0 && v[j][kl] == '=')
                break;
        }
        if (j < k) {
            berth_free(v[j]);
            v[j] = kv;
        } else {
            v[k++] = kv;
        }
    }
    *n = k;
    return v;
}

static int ns_mode(const char *path)
{
    return path ? BERTH_NS_PATH : BERTH_NS_HOST;
}

/* The pod files and /dev/shm, then the CRI mounts. */
#define IDMAP_FIXED 4

/* A pod with its own user namespace: every bind mount's source is replaced
 * by an idmapped copy (io/userns.h), so the files appear inside owned by the
 * mapped IDs whatever the runtime can do. Returns the owned paths (see
 * berth_idmap_sources), or NULL with *err. */
static char **idmap_sources(const berth_ctrspec_in_t *c, berth_ocispec_t *spec,
                            berth_ocispec_mount_t *mounts, berth_err_t *err)
{
    size_t n = IDMAP_FIXED + spec->nmounts;
    BERTH_AUTO_FREE const char **srcs = berth_calloc(n + 1, sizeof(*srcs));
    srcs[0] = spec->hosts_path;
    srcs[1] = spec->resolv_path;
    srcs[2] = spec->hostname_path;
    srcs[3] = spec->shm_path;
    for (size_t i = 0; i < spec->nmounts; i++)
        srcs[IDMAP_FIXED + i] = mounts[i].type == NULL ? mounts[i].source : NULL;
    if (c->idmap_dir == NULL) {
        berth_err_make(err, EINVAL, BERTH_ERR_INTERNAL, "no directory for idmapped mounts");
        return NULL;
    }
    char **out = berth_idmap_sources(c->idmap_dir, spec->user_path, srcs, n, err);
    if (out == NULL) {
        berth_err_prefix(err, "CreateContainer: user namespace");
        return NULL;
    }
    spec->hosts_path = out[0];
    spec->resolv_path = out[1];
    spec->hostname_path = out[2];
    spec->shm_path = out[3];
    for (size_t i = 0; i < spec->nmounts; i++)
        if (out[IDMAP_FIXED + i])
            mounts[i].source = out[IDMAP_FIXED + i];
    return out;
}

/* config.json: spec as io/ocispec builds it, with the NRI plugins' other
 * adjustments patched in (actors/nri.h). */
static int write_spec(const berth_ctrspec_in_t *c, const berth_ocispec_t *spec, berth_err_t *err)
{
    if (c->nri == NULL || c->nri->edits == NULL) {
        if (berth_ocispec_write(c->bundle, spec, err) < 0)
            return berth_err_prefix(err, "CreateContainer: OCI spec");
        return 0;
    }
    json_t *j = berth_ocispec_build(spec, err);
    if (j == NULL)
        return berth_err_prefix(err, "CreateContainer: OCI spec");
    if (berth_nri_apply_spec(c->nri, j, err) < 0) {
        json_decref(j);
        return berth_err_prefix(err, "CreateContainer");
    }
    char *js = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/config.json", c->bundle);
    /* jansson allocates through berth's allocator (engine/alloc.c) */
    int rc = berth_file_write_atomic(path, js, strlen(js), 0600, err);
    berth_free(js);
    if (rc < 0)
        return berth_err_prefix(err, "CreateContainer: OCI spec");
    return 0;
}

int berth_ctrspec_write(const berth_ctrspec_in_t *c, int *stop_signal, berth_err_t *err)
{
    const Runtime__V1__ContainerConfig *cc = c->config;
    const Runtime__V1__LinuxContainerConfig *lx = cc->linux;
    const Runtime__V1__LinuxContainerSecurityContext *sc = lx ? lx->security_context : NULL;
    const Runtime__V1__LinuxContainerResources *res = lx ? lx->resources : NULL;
    json_t *icfg = image_config(c);
    size_t nargs, nenv;
    char **args = berth_ctrspec_args(cc, icfg, &nargs);
    char **env = berth_ctrspec_env(cc, icfg, c->pod->hostname, &nenv);
    if (c->nri)
        berth_nri_apply_env(c->nri, &env, &nenv);
    size_t nri_mounts = c->nri ? c->nri->nmounts : 0;
    BERTH_AUTO_FREE berth_ocispec_kv_t *nri_annotations = NULL;
    *stop_signal = berth_ctrspec_signal(
            icfg ? json_string_value(json_object_get(icfg, "StopSignal")) : NULL);
    /* KEP-4960: the container config's stop signal wins over the image's */
    if (berth_ctrsec_signal(cc->stop_signal) > 0)
        *stop_signal = berth_ctrsec_signal(cc->stop_signal);
    int ret = -1;
    berth_user_t user = {0};
    berth_ocispec_mount_t *mounts = NULL;
    berth_resources_fit_t fit = {0};
    void *unified_keep = NULL;
    uint32_t *extra = NULL;
    char **rro = NULL;      /* the recursive read-only clones, by mount index */
    char **idmapped = NULL; /* owned paths, nidmapped of them, NULL holes */
    size_t nidmapped = 0;
    BERTH_AUTO_FREE char *user_spec = NULL;
    if (nargs == 0) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "CreateContainer: no command: neither the request nor the image %s "
                       "gives one",
                       c->image_name);
        goto out;
    }
    /* the user: CRI first, then the image's User */
    if (sc && sc->run_as_user)
        user_spec = berth_asprintf("%lld", (long long)sc->run_as_user->value);
    else if (sc && sc->run_as_username && sc->run_as_username[0])
        user_spec = berth_strdup(sc->run_as_username);
    else
        user_spec = berth_strdup(c->image && c->image->user && c->image->user[0] ? c->image->user
                                                                                 : "0");
    if (sc && sc->run_as_group && strchr(user_spec, ':') == NULL) {
        char *u = berth_asprintf("%s:%lld", user_spec, (long long)sc->run_as_group->value);
        berth_free(user_spec);
        user_spec = u;
    }
    size_t nextra = sc ? sc->n_supplemental_groups : 0;
    extra = berth_calloc(nextra + 1, sizeof(uint32_t));
    for (size_t i = 0; i < nextra; i++)
        extra[i] = (uint32_t)sc->supplemental_groups[i];
    int policy =
            sc && sc->supplemental_groups_policy == RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict
                    ? BERTH_GROUPS_STRICT
                    : BERTH_GROUPS_MERGE;
    if (berth_user_resolve(c->rootfs, user_spec, extra, nextra, policy, &user, err) < 0) {
        berth_err_prefix(err, "CreateContainer: user %s", user_spec);
        goto out;
    }
    if (berth_ctrsec_rro_make(cc, c->bundle, &rro, err) < 0)
        goto out;
    if (nri_mounts && c->pod->user_ns) {
        berth_err_make(err, ENOTSUP, BERTH_ERR_UNSUPPORTED,
                       "CreateContainer: NRI plugin %s adds a mount, which berth does not do "
                       "yet in a pod with its own user namespace",
                       c->nri->mounts[0].owner);
        goto out;
    }
    mounts = berth_calloc(cc->n_mounts + nri_mounts + 1, sizeof(*mounts));
    for (size_t i = 0; i < cc->n_mounts; i++) {
        const Runtime__V1__Mount *m = cc->mounts[i];
        mounts[i].destination = m->container_path;
        const char *img = c->image_sources ? c->image_sources[i] : NULL;
        mounts[i].source = img ? img : rro && rro[i] ? rro[i] : m->host_path;
        mounts[i].readonly = m->readonly || img != NULL; /* image volumes are read-only */
        mounts[i].propagation =
                m->propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER
                        ? BERTH_PROPAGATION_RSLAVE
                : m->propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL
                        ? BERTH_PROPAGATION_RSHARED
                        : BERTH_PROPAGATION_PRIVATE;
    }
    /* NRI mounts come after the kubelet's, in plugin order */
    for (size_t i = 0; i < nri_mounts; i++) {
        const berth_nri_mount_t *nm = &c->nri->mounts[i];
        berth_ocispec_mount_t *om = &mounts[cc->n_mounts + i];
        om->destination = nm->destination;
        om->source = nm->source;
        bool bind = strcmp(nm->type, "bind") == 0;
        om->type = bind ? NULL : nm->type;
        for (size_t j = 0; j < nm->noptions; j++)
            if (strcmp(nm->options[j], "ro") == 0)
                om->readonly = true;
        if (!bind) {
            om->options = (const char *const *)nm->options;
            om->noptions = nm->noptions;
        }
        om->propagation = BERTH_PROPAGATION_PRIVATE;
    }
    const char *cwd = cc->working_dir && cc->working_dir[0] ? cc->working_dir : NULL;
    if (cwd == NULL && icfg) {
        const char *w = json_string_value(json_object_get(icfg, "WorkingDir"));
        cwd = w && w[0] ? w : NULL;
    }
    berth_ocispec_t spec = {
            .id = c->id,
            .args = (const char *const *)args,
            .nargs = nargs,
            .env = (const char *const *)env,
            .nenv = nenv,
            .cwd = cwd,
            .terminal = cc->tty,
            .uid = user.uid,
            .gid = user.gid,
            .additional_gids = user.gids,
            .nadditional_gids = user.ngids,
            .no_new_privs = sc ? sc->no_new_privs : false,
            .privileged = sc ? sc->privileged : false,
            .root_path = c->rootfs,
            .readonly_rootfs = sc ? sc->readonly_rootfs : false,
            .hostname = c->pod->uts_ns ? c->pod->hostname : NULL,
            .hosts_path = c->pod->hosts_path,
            .resolv_path = c->pod->resolv_path,
            .hostname_path = c->pod->hostname_path,
            .shm_path = c->pod->shm_path,
            .mounts = mounts,
            .nmounts = cc->n_mounts + nri_mounts,
            .net_mode = ns_mode(c->pod->net_ns),
            .net_path = c->pod->net_ns,
            .ipc_mode = ns_mode(c->pod->ipc_ns),
            .ipc_path = c->pod->ipc_ns,
            .uts_mode = ns_mode(c->pod->uts_ns),
            .uts_path = c->pod->uts_ns,
            /* No pod-level PID namespace without an infra process yet: a
             * pod-shared PID namespace gets a namespace per container. */
            .pid_mode = c->pod->pid_mode == RUNTIME__V1__NAMESPACE_MODE__NODE ? BERTH_NS_HOST
                        : c->pod->pid_ns && !c->infra                         ? BERTH_NS_PATH
                                                                              : BERTH_NS_NEW,
            .pid_path = c->infra ? NULL : c->pod->pid_ns,
            .cgroup_parent = c->pod->cgroup_parent[0] ? c->pod->cgroup_parent : NULL,
    };
    if (sc && sc->capabilities) {
        spec.cap_add = (const char *const *)sc->capabilities->add_capabilities;
        spec.ncap_add = sc->capabilities->n_add_capabilities;
        spec.cap_drop = (const char *const *)sc->capabilities->drop_capabilities;
        spec.ncap_drop = sc->capabilities->n_drop_capabilities;
    }
    if (sc && sc->seccomp) {
        switch (sc->seccomp->profile_type) {
        case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined:
            spec.seccomp = BERTH_SECCOMP_UNCONFINED;
            break;
        case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost:
            spec.seccomp = BERTH_SECCOMP_LOCALHOST;
            spec.seccomp_profile_path = sc->seccomp->localhost_ref;
            break;
        default:
            spec.seccomp = BERTH_SECCOMP_RUNTIME_DEFAULT;
            break;
        }
    } else {
        /* The kubelet's default is Unconfined unless the pod asks. */
        spec.seccomp = BERTH_SECCOMP_UNCONFINED;
    }
    if (sc && sc->n_masked_paths) {
        spec.masked_paths_set = true;
        spec.masked_paths = (const char *const *)sc->masked_paths;
        spec.nmasked_paths = sc->n_masked_paths;
    }
    if (sc && sc->n_readonly_paths) {
        spec.readonly_paths_set = true;
        spec.readonly_paths = (const char *const *)sc->readonly_paths;
        spec.nreadonly_paths = sc->n_readonly_paths;
    }
    /* Limits the node cannot apply are left out (DESIGN: a kubelet sends
     * hugepage limits to every node); the request was checked on arrival. */
    const berth_runtimes_t *rts = berth_runtimes_current();
    Runtime__V1__LinuxContainerResources with_annotation;
    int annotated = berth_ctrsec_unified(c, res, &with_annotation, &unified_keep, err);
    if (annotated < 0) {
        berth_err_prefix(err, "CreateContainer");
        goto out;
    }
    if (berth_runtimes_fit_resources(rts ? &rts->cgroups : NULL, annotated ? &with_annotation : res,
                                     &fit, err) < 0) {
        berth_err_prefix(err, "CreateContainer");
        goto out;
    }
    /* an annotation the node cannot apply is worth a line an operator sees */
    if (fit.ndropped && annotated)
        berth_log_info("unified-cgroup annotation left out", "id=%s dropped=\"%s\"", c->id,
                       fit.dropped);
    else if (fit.ndropped)
        berth_log_debug("limits the node cannot apply left out", "id=%s dropped=\"%s\"", c->id,
                        fit.dropped);
    spec.no_device_rules = !fit.devices;
    /* the same limits an UpdateContainerResources would write (io/ocispec
     * maps them to JSON for both) */
    spec.res = fit.res;
    if (c->pids_limit > 0 && fit.pids)
        spec.res.pids_limit = c->pids_limit;
    /* a process setting, not a cgroup limit: the node does not decide it */
    if (res && res->oom_score_adj) {
        spec.oom_score_adj_set = true;
        spec.oom_score_adj = (int)res->oom_score_adj;
    }
    if (c->pod->user_ns) {
        spec.user_path = c->pod->user_ns;
        spec.uid_map = &c->pod->uid_map;
        spec.gid_map = &c->pod->gid_map;
        nidmapped = IDMAP_FIXED + cc->n_mounts;
        idmapped = idmap_sources(c, &spec, mounts, err);
        if (idmapped == NULL)
            goto out;
    }
    if (c->cfg && berth_ctrsec_umask(c, &spec, err) < 0) {
        berth_err_prefix(err, "CreateContainer");
        goto out;
    }
    if (c->nri && c->nri->nannotations) {
        nri_annotations = berth_calloc(c->nri->nannotations, sizeof(*nri_annotations));
        for (size_t i = 0; i < c->nri->nannotations; i++) {
            const berth_nri_kv_t *kv = &c->nri->annotations[i];
            if (kv->key[0] == '-') /* nothing else sets OCI annotations to remove */
                continue;
            nri_annotations[spec.nannotations++] = (berth_ocispec_kv_t){kv->key, kv->value};
        }
        spec.annotations = nri_annotations;
    }
    berth_ctrsec_t sec = {0};
    if (berth_ctrsec_apply(c, &spec, &sec, err) < 0) {
        berth_err_prefix(err, "CreateContainer");
        berth_ctrsec_fini(&sec);
        goto out;
    }
    ret = write_spec(c, &spec, err);
    berth_ctrsec_fini(&sec);
out:
    if (ret < 0 && rro != NULL)
        berth_ctrsec_rro_release(c->bundle, NULL);
    berth_ctrsec_rro_free(rro, cc->n_mounts);
    if (ret == 0 && c->user != NULL) {
        *c->user = user;
        memset(&user, 0, sizeof(user));
    }
    if (icfg)
        json_decref(icfg);
    berth_strv_free(args);
    berth_strv_free(env);
    berth_user_fini(&user);
    berth_free(mounts);
    for (size_t i = 0; idmapped && i < nidmapped; i++)
        berth_free(idmapped[i]);
    berth_free(idmapped);
    berth_resources_fit_fini(&fit);
    berth_ctrsec_unified_fini(unified_keep);
    berth_free(extra);
    return ret;
}
