// SPDX-License-Identifier: Apache-2.0
/*
 * Hooks, CDI devices, plain devices and the seccomp decisions of a
 * container's spec (see ctrsec.h). Everything here runs in the creation's
 * blocking job: it stats device nodes, reads CDI specs and resolves profile
 * paths, and it never touches actor state.
 */
#include "actors/ctrsec.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "actors/nri.h"
#include "conf/hooks.h"
#include "engine/alloc.h"
#include "engine/log.h"

#define CDI_ANNOTATION_PREFIX "cdi.k8s.io/"
#define DEVICES_ANNOTATION "io.kubernetes.cri-o.Devices"

bool berth_ctrsec_annotation_allowed(const berth_config_t *cfg, const char *handler,
                                     const char *key)
{
    const berth_config_runtime_t *rt = cfg ? berth_config_runtime(cfg, handler) : NULL;
    /* a prefix allows the keys under it, as CRI-O matches them */
    for (size_t i = 0; rt && i < rt->allowed_annotations.n; i++) {
        const char *a = rt->allowed_annotations.v[i];
        if (a[0] && strncmp(key, a, strlen(a)) == 0)
            return true;
    }
    berth_log_debug("annotation ignored: not in the handler's allowed_annotations",
                    "annotation=%s handler=%s", key, handler ? handler : "");
    return false;
}

static const char *annotation(const Runtime__V1__ContainerConfig *cc, const char *key)
{
    for (size_t i = 0; i < cc->n_annotations; i++)
        if (strcmp(cc->annotations[i]->key, key) == 0)
            return cc->annotations[i]->value;
    return NULL;
}

void berth_ctrsec_fini(berth_ctrsec_t *k)
{
    if (k->hooks)
        json_decref(k->hooks);
    berth_strv_free(k->env);
    berth_free(k->devices);
    berth_strv_free(k->device_paths);
    berth_free(k->mounts);
    berth_strv_free(k->mount_strs);
    berth_free(k->mount_opts);
    if (k->cdi.env)
        berth_cdi_edits_fini(&k->cdi);
    berth_free(k->seccomp_path);
    memset(k, 0, sizeof(*k));
}

/* ---- umask, unified cgroup ---------------------------------------------------------------- */

int berth_ctrsec_umask(const berth_ctrspec_in_t *in, berth_ocispec_t *spec, berth_err_t *err)
{
    const char *v = annotation(in->config, BERTH_UMASK_ANNOTATION);
    if (v == NULL ||
        !berth_ctrsec_annotation_allowed(in->cfg, in->pod->handler, BERTH_UMASK_ANNOTATION))
        return 0;
    size_t n = strlen(v);
    uint32_t m = 0;
    bool okv = n >= 1 && n <= 4 && strspn(v, "01234567") == n;
    for (size_t i = 0; okv && i < n; i++)
        m = m * 8 + (uint32_t)(v[i] - '0');
    if (!okv || m > 0777)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "annotation %s \"%.40s\" is not an octal umask such as 0022",
                              BERTH_UMASK_ANNOTATION, v);
    spec->umask_set = true;
    spec->umask = m;
    return 0;
}

typedef struct unified_keep {
    Runtime__V1__LinuxContainerResources__UnifiedEntry **v;
    Runtime__V1__LinuxContainerResources__UnifiedEntry *entries;
    char *text;
} unified_keep_t;

void berth_ctrsec_unified_fini(void *keep)
{
    unified_keep_t *k = keep;
    if (k == NULL)
        return;
    berth_free(k->v);
    berth_free(k->entries);
    berth_free(k->text);
    berth_free(k);
}

int berth_ctrsec_unified(const berth_ctrspec_in_t *in,
                         const Runtime__V1__LinuxContainerResources *res,
                         Runtime__V1__LinuxContainerResources *out, void **keep, berth_err_t *err)
{
    const char *name = in->config->metadata ? in->config->metadata->name : NULL;
    if (name == NULL || in->cfg == NULL)
        return 0;
    BERTH_AUTO_FREE char *key = berth_asprintf("%s.%s", BERTH_UNIFIED_ANNOTATION, name);
    const char *v = annotation(in->config, key);
    if (v == NULL || !berth_ctrsec_annotation_allowed(in->cfg, in->pod->handler, key))
        return 0;
    unified_keep_t *k = berth_calloc(1, sizeof(*k));
    k->text = berth_strdup(v);
    size_t cap = (res ? res->n_unified : 0) + strlen(v) / 2 + 1;
    k->v = berth_calloc(cap, sizeof(*k->v));
    k->entries = berth_calloc(cap, sizeof(*k->entries));
    size_t n = 0;
    char *save = NULL;
    for (char *e = strtok_r(k->text, ";", &save); e; e = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(e, '=');
        const char *dot = strchr(e, '.');
        if (eq == NULL || dot == NULL || dot == e || dot > eq || dot + 1 == eq ||
            memchr(e, '/', (size_t)(eq - e)) != NULL || eq[1] == '\0') {
            berth_ctrsec_unified_fini(k);
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "annotation %s: \"%.80s\" is not a cgroup2 file=value entry "
                                  "such as memory.high=1073741824 (entries are separated by ';')",
                                  key, e);
        }
        *eq = '\0';
        runtime__v1__linux_container_resources__unified_entry__init(&k->entries[n]);
        k->entries[n].key = e;
        k->entries[n].value = eq + 1;
        k->v[n] = &k->entries[n];
        n++;
    }
    /* the request's own entries, unless the annotation names the same file */
    for (size_t i = 0; res && i < res->n_unified; i++) {
        bool replaced = false;
        for (size_t j = 0; j < n && !replaced; j++)
            replaced = strcmp(k->v[j]->key, res->unified[i]->key) == 0;
        if (!replaced)
            k->v[n++] = res->unified[i];
    }
    if (res)
        *out = *res;
    else
        runtime__v1__linux_container_resources__init(out);
    out->n_unified = n;
    out->unified = k->v;
    *keep = k;
    return 1;
}

static void copy_annotation(Runtime__V1__ContainerConfig *cc,
                            const Runtime__V1__PodSandboxConfig *pod, const char *key)
{
    for (size_t i = 0; i < cc->n_annotations; i++)
        if (strcmp(cc->annotations[i]->key, key) == 0)
            return;
    for (size_t i = 0; i < pod->n_annotations; i++) {
        if (strcmp(pod->annotations[i]->key, key) != 0)
            continue;
        Runtime__V1__ContainerConfig__AnnotationsEntry *e = berth_calloc(1, sizeof(*e));
        runtime__v1__container_config__annotations_entry__init(e);
        e->key = berth_strdup(key);
        e->value = berth_strdup(pod->annotations[i]->value);
        cc->annotations =
                berth_realloc(cc->annotations, (cc->n_annotations + 1) * sizeof(*cc->annotations));
        cc->annotations[cc->n_annotations++] = e;
        return;
    }
}

void berth_ctrsec_pod_annotations(Runtime__V1__ContainerConfig *cc,
                                  const Runtime__V1__PodSandboxConfig *pod,
                                  const berth_config_t *cfg)
{
    if (pod == NULL)
        return;
    copy_annotation(cc, pod, BERTH_UMASK_ANNOTATION);
    copy_annotation(cc, pod, BERTH_SECCOMP_NOTIFIER_ANNOTATION);
    copy_annotation(cc, pod, DEVICES_ANNOTATION);
    /* NRI's required plugins: for the pod, for this container, or bare */
    copy_annotation(cc, pod, BERTH_NRI_REQUIRED_PLUGINS_ANNOTATION);
    copy_annotation(cc, pod, BERTH_NRI_REQUIRED_PLUGINS_ANNOTATION "/pod");
    const char *tol = cfg ? cfg->nri_tolerate_missing_plugins_annotation : NULL;
    if (tol && tol[0])
        copy_annotation(cc, pod, tol);
    if (cc->metadata && cc->metadata->name) {
        BERTH_AUTO_FREE char *key =
                berth_asprintf("%s.%s", BERTH_UNIFIED_ANNOTATION, cc->metadata->name);
        copy_annotation(cc, pod, key);
        BERTH_AUTO_FREE char *nri = berth_asprintf(
                "%s/container.%s", BERTH_NRI_REQUIRED_PLUGINS_ANNOTATION, cc->metadata->name);
        copy_annotation(cc, pod, nri);
    }
}

/* ---- seccomp ------------------------------------------------------------------------------- */

static int seccomp(const berth_ctrspec_in_t *in, berth_ocispec_t *spec, berth_ctrsec_t *k,
                   berth_err_t *err)
{
    const berth_config_t *cfg = in->cfg;
    const Runtime__V1__LinuxContainerConfig *lx = in->config->linux;
    const Runtime__V1__LinuxContainerSecurityContext *sc = lx ? lx->security_context : NULL;
    if ((sc == NULL || sc->seccomp == NULL) && cfg->seccomp_use_default_when_empty)
        spec->seccomp = BERTH_SECCOMP_RUNTIME_DEFAULT;
    if (spec->seccomp == BERTH_SECCOMP_RUNTIME_DEFAULT && cfg->seccomp_profile[0])
        spec->seccomp_default_path = cfg->seccomp_profile;
    /* a privileged container runs without seccomp: its profile is not read */
    if (spec->seccomp == BERTH_SECCOMP_LOCALHOST && cfg->seccomp_localhost_root[0] &&
        !spec->privileged) {
        const char *p = spec->seccomp_profile_path ? spec->seccomp_profile_path : "";
        if (p[0] != '/')
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "seccomp profile \"%s\": a Localhost profile must be an "
                                  "absolute path under %s",
                                  p, cfg->seccomp_localhost_root);
        char real[PATH_MAX], root[PATH_MAX];
        if (realpath(p, real) == NULL)
            return berth_err_errno(err, errno, "seccomp profile %s", p);
        if (realpath(cfg->seccomp_localhost_root, root) == NULL)
            return berth_err_make(err, ENOENT, BERTH_ERR_PRECONDITION,
                                  "seccomp profile %s: seccomp_localhost_root %s does not exist", p,
                                  cfg->seccomp_localhost_root);
        size_t rl = strlen(root);
        if (strncmp(real, root, rl) != 0 || (real[rl] != '/' && root[rl - 1] != '/'))
            return berth_err_make(err, EACCES, BERTH_ERR_INVALID,
                                  "seccomp profile %s is outside the Localhost profile root %s "
                                  "(seccomp_localhost_root); put the profile under it",
                                  p, root);
        /* the resolved path: a symlink swapped later cannot lead outside */
        k->seccomp_path = berth_strdup(real);
        spec->seccomp_profile_path = k->seccomp_path;
    }
    if (in->seccomp_listener && spec->seccomp != BERTH_SECCOMP_UNCONFINED && !spec->privileged)
        spec->seccomp_listener_path = in->seccomp_listener;
    return 0;
}

/* ---- hooks --------------------------------------------------------------------------------- */

static void hooks(const berth_ctrspec_in_t *in, berth_ocispec_t *spec, berth_ctrsec_t *k)
{
    const Runtime__V1__ContainerConfig *cc = in->config;
    const char **keys = berth_calloc(cc->n_annotations + 1, sizeof(char *));
    const char **vals = berth_calloc(cc->n_annotations + 1, sizeof(char *));
    for (size_t i = 0; i < cc->n_annotations; i++) {
        keys[i] = cc->annotations[i]->key;
        vals[i] = cc->annotations[i]->value;
    }
    berth_hooks_ctx_t ctx = {.ann_keys = keys,
                             .ann_values = vals,
                             .nann = cc->n_annotations,
                             .command = spec->nargs ? spec->args[0] : NULL,
                             .has_bind_mounts = cc->n_mounts > 0};
    size_t n = berth_hooks_inject(in->cfg->hooks, &ctx, k->hooks);
    if (n)
        berth_log_debug("OCI hooks added", "id=%s hooks=%zu", in->id, n);
    berth_free(keys);
    berth_free(vals);
}

/* ---- devices ------------------------------------------------------------------------------- */

static void device_push(berth_ctrsec_t *k, size_t *n, size_t *cap, const berth_ocispec_device_t *d,
                        const char *path, const char *perms)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        k->devices = berth_realloc(k->devices, *cap * sizeof(*k->devices));
        k->device_paths = berth_realloc(k->device_paths, (2 * *cap + 1) * sizeof(char *));
    }
    k->devices[*n] = *d;
    k->device_paths[2 * *n] = berth_strdup(path);
    k->device_paths[2 * *n + 1] = berth_strdup(perms ? perms : "rwm");
    k->device_paths[2 * *n + 2] = NULL;
    k->devices[*n].path = k->device_paths[2 * *n];
    k->devices[*n].permissions = k->device_paths[2 * *n + 1];
    (*n)++;
}

/* A host device node's type and numbers. */
static int stat_device(const char *host, const char *what, berth_ocispec_device_t *d,
                       berth_err_t *err)
{
    struct stat st;
    if (stat(host, &st) < 0)
        return berth_err_errno(err, errno, "%s: device %s", what, host);
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s: %s is not a device node", what,
                              host);
    d->type = S_ISBLK(st.st_mode) ? 'b' : 'c';
    d->major = major(st.st_rdev);
    d->minor = minor(st.st_rdev);
    d->file_mode = st.st_mode & 07777;
    return 0;
}

/* Bounds on a device directory's walk: a device tree is shallow and small,
 * and a mistaken host path (a large tree) must not make a huge spec. */
#define DEVICE_DIR_DEPTH 8
#define DEVICE_DIR_MAX 1024

/* Adds every character or block device under host (recursively; symbolic
 * links are not followed, so a node reached twice is not added twice) at
 * the same relative path under dst. */
static int device_dir(berth_ctrsec_t *k, size_t *n, size_t *cap, const char *host, const char *dst,
                      const char *perms, int depth, berth_err_t *err)
{
    if (depth > DEVICE_DIR_DEPTH)
        return 0;
    DIR *d = opendir(host);
    if (d == NULL)
        return berth_err_errno(err, errno, "device directory %s", host);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        BERTH_AUTO_FREE char *hp = berth_asprintf("%s/%s", host, e->d_name);
        BERTH_AUTO_FREE char *cp = berth_asprintf("%s/%s", dst, e->d_name);
        struct stat st;
        if (lstat(hp, &st) < 0)
            continue; /* gone meanwhile */
        if (S_ISDIR(st.st_mode)) {
            rc = device_dir(k, n, cap, hp, cp, perms, depth + 1, err);
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            if (*n >= DEVICE_DIR_MAX) {
                rc = berth_err_make(err, E2BIG, BERTH_ERR_INVALID,
                                    "device directory %s holds more than %d device nodes", host,
                                    DEVICE_DIR_MAX);
                break;
            }
            berth_ocispec_device_t dv = {
                    .type = S_ISBLK(st.st_mode) ? 'b' : 'c',
                    .major = major(st.st_rdev),
                    .minor = minor(st.st_rdev),
                    .file_mode = st.st_mode & 07777,
            };
            device_push(k, n, cap, &dv, cp, perms);
        }
    }
    closedir(d);
    return rc;
}

static bool valid_perms(const char *p)
{
    return p[0] && strspn(p, "rwm") == strlen(p);
}

static int plain_devices(const berth_ctrspec_in_t *in, berth_ctrsec_t *k, size_t *n, size_t *cap,
                         berth_err_t *err)
{
    const Runtime__V1__ContainerConfig *cc = in->config;
    for (size_t i = 0; i < cc->n_devices; i++) {
        const Runtime__V1__Device *dv = cc->devices[i];
        const char *perms = dv->permissions && dv->permissions[0] ? dv->permissions : "rwm";
        const char *dst =
                dv->container_path && dv->container_path[0] ? dv->container_path : dv->host_path;
        if (dv->host_path == NULL || dv->host_path[0] != '/' || dst[0] != '/' ||
            !valid_perms(perms))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "devices[%zu]: needs absolute host and container paths and "
                                  "permissions of r, w, m (got \"%s\")",
                                  i, perms);
        struct stat st;
        if (stat(dv->host_path, &st) == 0 && S_ISDIR(st.st_mode)) {
            /* a directory (/dev/dri, /dev/snd): every device node under it,
             * at the same place under the container path, as CRI-O does */
            size_t before = *n;
            if (device_dir(k, n, cap, dv->host_path, dst, perms, 0, err) < 0)
                return berth_err_prefix(err, "devices[%zu]", i);
            if (*n == before)
                return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                      "devices[%zu]: directory %s holds no device node", i,
                                      dv->host_path);
            continue;
        }
        berth_ocispec_device_t d = {0};
        if (stat_device(dv->host_path, "devices", &d, err) < 0)
            return -1;
        device_push(k, n, cap, &d, dst, perms);
    }
    /* io.kubernetes.cri-o.Devices: "host[:container[:perms]]", comma-separated,
     * only devices named in allowed_devices */
    const char *ann = annotation(cc, DEVICES_ANNOTATION);
    if (ann == NULL ||
        !berth_ctrsec_annotation_allowed(in->cfg, in->pod->handler, DEVICES_ANNOTATION))
        return 0;
    BERTH_AUTO_FREE char *list = berth_strdup(ann);
    char *save = NULL;
    for (char *e = strtok_r(list, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
        char *host = e, *dst = strchr(e, ':'), *perms = NULL;
        if (dst) {
            *dst++ = '\0';
            perms = strchr(dst, ':');
            if (perms)
                *perms++ = '\0';
        }
        bool allowed = false;
        for (size_t j = 0; j < in->cfg->allowed_devices.n; j++)
            allowed = allowed || strcmp(in->cfg->allowed_devices.v[j], host) == 0;
        if (!allowed)
            return berth_err_make(err, EPERM, BERTH_ERR_INVALID,
                                  "annotation %s: device %s is not in allowed_devices",
                                  DEVICES_ANNOTATION, host);
        if (perms && !valid_perms(perms))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "annotation %s: permissions \"%s\" are not of r, w, m",
                                  DEVICES_ANNOTATION, perms);
        berth_ocispec_device_t d = {0};
        if (stat_device(host, DEVICES_ANNOTATION, &d, err) < 0)
            return -1;
        device_push(k, n, cap, &d, dst && dst[0] ? dst : host, perms);
    }
    return 0;
}

/* ---- CDI ----------------------------------------------------------------------------------- */

static void name_push(char ***v, size_t *n, const char *s, size_t len)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen((*v)[i]) == len && strncmp((*v)[i], s, len) == 0)
            return;
    *v = berth_realloc(*v, (*n + 2) * sizeof(char *));
    (*v)[(*n)++] = berth_strndup(s, len);
    (*v)[*n] = NULL;
}

static char *env_key(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return berth_strndup(kv, eq ? (size_t)(eq - kv) : strlen(kv));
}

static int cdi_apply(const berth_ctrspec_in_t *in, berth_ocispec_t *spec, berth_ctrsec_t *k,
                     size_t *ndev, size_t *capdev, berth_err_t *err)
{
    const Runtime__V1__ContainerConfig *cc = in->config;
    char **names = NULL;
    size_t nn = 0;
    for (size_t i = 0; i < cc->n_cdi_devices; i++)
        if (cc->cdi_devices[i]->name)
            name_push(&names, &nn, cc->cdi_devices[i]->name, strlen(cc->cdi_devices[i]->name));
    for (size_t i = 0; i < cc->n_annotations; i++) {
        if (strncmp(cc->annotations[i]->key, CDI_ANNOTATION_PREFIX,
                    strlen(CDI_ANNOTATION_PREFIX)) != 0)
            continue;
        const char *v = cc->annotations[i]->value;
        while (*v) {
            size_t l = strcspn(v, ",");
            if (l)
                name_push(&names, &nn, v, l);
            v += l + (v[l] == ',');
        }
    }
    /* an NRI plugin's CDI devices resolve like the kubelet's */
    size_t nnri = 0;
    BERTH_AUTO_FREE const char *const *nri = in->nri ? berth_nri_cdi_devices(in->nri, &nnri) : NULL;
    for (size_t i = 0; i < nnri; i++)
        name_push(&names, &nn, nri[i], strlen(nri[i]));
    if (nn == 0)
        return 0;
    berth_cdi_edits_init(&k->cdi);
    int rc = berth_cdi_resolve((const char *const *)in->cfg->cdi_spec_dirs.v,
                               in->cfg->cdi_spec_dirs.n, (const char *const *)names, nn, &k->cdi,
                               err);
    berth_strv_free(names);
    if (rc < 0)
        return -1;
    size_t i;
    json_t *x;
    /* env: a CDI variable replaces the container's of the same name */
    size_t nenv = spec->nenv;
    k->env = berth_calloc(nenv + json_array_size(k->cdi.env) + 1, sizeof(char *));
    for (size_t j = 0; j < nenv; j++)
        k->env[j] = berth_strdup(spec->env[j]);
    json_array_foreach(k->cdi.env, i, x)
    {
        const char *kv = json_string_value(x);
        BERTH_AUTO_FREE char *key = env_key(kv);
        size_t j;
        for (j = 0; j < nenv; j++) {
            BERTH_AUTO_FREE char *ek = env_key(k->env[j]);
            if (strcmp(ek, key) == 0)
                break;
        }
        if (j < nenv)
            berth_free(k->env[j]);
        else
            nenv++;
        k->env[j] = berth_strdup(kv);
    }
    spec->env = (const char *const *)k->env;
    spec->nenv = nenv;
    /* device nodes: numbers from the spec, else from the host node */
    json_array_foreach(k->cdi.device_nodes, i, x)
    {
        const char *path = json_string_value(json_object_get(x, "path"));
        const char *host = json_string_value(json_object_get(x, "hostPath"));
        const char *type = json_string_value(json_object_get(x, "type"));
        berth_ocispec_device_t d = {0};
        if (json_object_get(x, "major") == NULL || type == NULL) {
            if (stat_device(host ? host : path, "CDI device node", &d, err) < 0)
                return -1;
        }
        if (type)
            d.type = type[0] == 'u' ? 'c' : type[0];
        if (json_object_get(x, "major"))
            d.major = json_integer_value(json_object_get(x, "major"));
        if (json_object_get(x, "minor"))
            d.minor = json_integer_value(json_object_get(x, "minor"));
        if (json_object_get(x, "fileMode"))
            d.file_mode = (uint32_t)json_integer_value(json_object_get(x, "fileMode"));
        device_push(k, ndev, capdev, &d, path,
                    json_string_value(json_object_get(x, "permissions")));
    }
    /* mounts after the container's own */
    size_t nm = json_array_size(k->cdi.mounts);
    if (nm) {
        k->mounts = berth_calloc(spec->nmounts + nm, sizeof(*k->mounts));
        memcpy(k->mounts, spec->mounts, spec->nmounts * sizeof(*k->mounts));
        size_t nopts = 0;
        json_array_foreach(k->cdi.mounts, i, x) nopts +=
                json_array_size(json_object_get(x, "options"));
        k->mount_opts = berth_calloc(nopts + 1, sizeof(char *));
        size_t o = 0;
        json_array_foreach(k->cdi.mounts, i, x)
        {
            berth_ocispec_mount_t *m = &k->mounts[spec->nmounts + i];
            const char *type = json_string_value(json_object_get(x, "type"));
            m->destination = json_string_value(json_object_get(x, "containerPath"));
            m->source = json_string_value(json_object_get(x, "hostPath"));
            bool bind = type == NULL || strcmp(type, "bind") == 0;
            m->type = bind ? NULL : type;
            m->options = &k->mount_opts[o];
            size_t j;
            json_t *opt;
            json_array_foreach(json_object_get(x, "options"), j, opt)
            {
                const char *s = json_string_value(opt);
                if (strcmp(s, "ro") == 0)
                    m->readonly = true;
                else if (!bind)
                    k->mount_opts[o++] = s, m->noptions++;
            }
        }
        spec->mounts = k->mounts;
        spec->nmounts += nm;
    }
    /* hooks, by the stage their hookName names, each with a timeout */
    json_array_foreach(k->cdi.hooks, i, x)
    {
        const char *stage = json_string_value(json_object_get(x, "hookName"));
        json_t *h = json_deep_copy(x);
        json_object_del(h, "hookName");
        if (json_object_get(h, "timeout") == NULL ||
            json_integer_value(json_object_get(h, "timeout")) <= 0)
            json_object_set_new(h, "timeout", json_integer(BERTH_HOOK_DEFAULT_TIMEOUT));
        json_t *a = json_object_get(k->hooks, stage);
        if (a == NULL) {
            a = json_array();
            json_object_set_new(k->hooks, stage, a);
        }
        json_array_append_new(a, h);
    }
    berth_log_debug("CDI devices applied", "id=%s devices=%zu", in->id, nn);
    return 0;
}

/* berth's own bound on a creation: the hooks that run inside the runtime's
 * create (prestart, createRuntime, createContainer) run one after the other,
 * each up to its timeout, so their timeouts together are kept within the
 * creation budget; a hook file's larger timeout is cut to its share. */
static void bound_hooks(const berth_ctrspec_in_t *in, json_t *hooks)
{
    static const char *const create_stages[] = {"prestart", "createRuntime", "createContainer"};
    int64_t budget_s = in->cfg->creation_budget_ns / 1000000000LL;
    size_t n = 0;
    for (size_t s = 0; s < BERTH_ARRAY_LEN(create_stages); s++)
        n += json_array_size(json_object_get(hooks, create_stages[s]));
    if (n == 0 || budget_s <= 0)
        return;
    int64_t share = budget_s / (int64_t)n > 0 ? budget_s / (int64_t)n : 1;
    for (size_t s = 0; s < BERTH_ARRAY_LEN(create_stages); s++) {
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(hooks, create_stages[s]), i, h)
        {
            if (json_integer_value(json_object_get(h, "timeout")) > share) {
                berth_log_debug("hook timeout cut to its share of the creation budget",
                                "id=%s path=%s timeout=%lld", in->id,
                                json_string_value(json_object_get(h, "path")), (long long)share);
                json_object_set_new(h, "timeout", json_integer(share));
            }
        }
    }
}

int berth_ctrsec_apply(const berth_ctrspec_in_t *in, berth_ocispec_t *spec, berth_ctrsec_t *k,
                       berth_err_t *err)
{
    memset(k, 0, sizeof(*k));
    if (in->cfg == NULL)
        return 0;
    k->hooks = json_object();
    size_t ndev = 0, capdev = 0;
    if (seccomp(in, spec, k, err) < 0)
        return -1;
    hooks(in, spec, k);
    if (plain_devices(in, k, &ndev, &capdev, err) < 0 ||
        cdi_apply(in, spec, k, &ndev, &capdev, err) < 0)
        return -1;
    if (ndev) {
        /* after the spec's own (none from the CRI mapping today) */
        k->devices = berth_realloc(k->devices, (ndev + spec->ndevices) * sizeof(*k->devices));
        memmove(k->devices + spec->ndevices, k->devices, ndev * sizeof(*k->devices));
        if (spec->ndevices)
            memcpy(k->devices, spec->devices, spec->ndevices * sizeof(*k->devices));
        spec->devices = k->devices;
        spec->ndevices += ndev;
    }
    bound_hooks(in, k->hooks);
    spec->hooks = k->hooks;
    return 0;
}

/* ---- the seccomp notifier ------------------------------------------------------------------ */

int berth_ctrsec_notify_config(const berth_config_t *cfg, const char *handler,
                               const Runtime__V1__ContainerConfig *cc, berth_ctrsec_notify_t *sn,
                               berth_err_t *err)
{
    const char *v = annotation(cc, BERTH_SECCOMP_NOTIFIER_ANNOTATION);
    if (v == NULL ||
        !berth_ctrsec_annotation_allowed(cfg, handler, BERTH_SECCOMP_NOTIFIER_ANNOTATION))
        return 0;
    if (v[0] != '\0' && strcmp(v, "stop") != 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "annotation %s=%s: the action must be \"\" (record) or \"stop\"",
                              BERTH_SECCOMP_NOTIFIER_ANNOTATION, v);
    sn->enabled = true;
    sn->stop = v[0] != '\0';
    return 0;
}

void berth_ctrsec_notify_record(berth_ctrsec_notify_t *sn, const char *syscall)
{
    sn->total++;
    for (size_t i = 0; i < sn->ncalls; i++) {
        if (strcmp(sn->calls[i].name, syscall) == 0) {
            sn->calls[i].count++;
            return;
        }
    }
    /* a bounded list: a program trying every syscall cannot grow it */
    if (sn->ncalls >= 64)
        return;
    sn->calls = berth_realloc(sn->calls, (sn->ncalls + 1) * sizeof(*sn->calls));
    berth_ctrsec_call_t *c = &sn->calls[sn->ncalls++];
    snprintf(c->name, sizeof(c->name), "%s", syscall);
    c->count = 1;
}

char *berth_ctrsec_notify_text(const berth_ctrsec_notify_t *sn)
{
    char *s = berth_strdup("");
    for (size_t i = 0; i < sn->ncalls; i++) {
        char *n = berth_asprintf("%s%s%s (%llux)", s, i ? ", " : "", sn->calls[i].name,
                                 (unsigned long long)sn->calls[i].count);
        berth_free(s);
        s = n;
    }
    return s;
}

void berth_ctrsec_notify_fini(berth_ctrsec_notify_t *sn)
{
    berth_seccomp_notifier_stop(sn->notifier);
    berth_free(sn->calls);
    memset(sn, 0, sizeof(*sn));
}
