// SPDX-License-Identifier: Apache-2.0
/*
 * A pod's user namespace options (see podusers.h). Never blocks: the idmap
 * probe ran at start and only its stored answer is read here.
 */
#include "actors/podusers.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"

static const char *mode_name(int mode)
{
    switch (mode) {
    case RUNTIME__V1__NAMESPACE_MODE__POD:
        return "POD";
    case RUNTIME__V1__NAMESPACE_MODE__CONTAINER:
        return "CONTAINER";
    case RUNTIME__V1__NAMESPACE_MODE__NODE:
        return "NODE";
    case RUNTIME__V1__NAMESPACE_MODE__TARGET:
        return "TARGET";
    default:
        return "unknown";
    }
}

static void copy_maps(Runtime__V1__IDMapping *const *in, size_t n, berth_idmap_t *out)
{
    for (size_t i = 0; i < n; i++) {
        out[i].container_id = in[i]->container_id;
        out[i].host_id = in[i]->host_id;
        out[i].length = in[i]->length;
    }
}

static int check_list(const char *what, Runtime__V1__IDMapping *const *in, size_t n,
                      berth_err_t *err)
{
    BERTH_AUTO_FREE berth_idmap_t *maps = berth_calloc(n + 1, sizeof(*maps));
    copy_maps(in, n, maps);
    if (berth_idmap_check(what, maps, n, err) < 0)
        return berth_err_prefix(err, "RunPodSandbox: config.linux.security_context."
                                     "namespace_options.userns_options");
    return 0;
}

int berth_podusers_check(const Runtime__V1__NamespaceOption *ns, berth_err_t *err)
{
    const Runtime__V1__UserNamespace *u = ns ? ns->userns_options : NULL;
    if (u == NULL || u->mode == RUNTIME__V1__NAMESPACE_MODE__NODE) {
        if (u && (u->n_uids || u->n_gids))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "RunPodSandbox: userns_options: mode NODE (the node's user "
                                  "namespace) takes no uid or gid mappings");
        return 0;
    }
    if (u->mode != RUNTIME__V1__NAMESPACE_MODE__POD)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "RunPodSandbox: userns_options: mode %s is not supported for a user "
                              "namespace (only POD or NODE)",
                              mode_name(u->mode));
    if (check_list("uid", u->uids, u->n_uids, err) < 0 ||
        check_list("gid", u->gids, u->n_gids, err) < 0)
        return -1;
    /* The node's network is fine (user_namespaces_host_network): the
     * container gets the node's /sys bound instead of a sysfs mount. */
    static const char *const what[] = {"PID", "IPC"};
    int modes[] = {ns->pid, ns->ipc};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(modes); i++)
        if (modes[i] == RUNTIME__V1__NAMESPACE_MODE__NODE)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "RunPodSandbox: a pod with its own user namespace (hostUsers: "
                                  "false) cannot use the node's %s namespace",
                                  what[i]);
    const char *why = NULL;
    if (!berth_userns_supported(&why))
        return berth_err_make(err, ENOTSUP, BERTH_ERR_PRECONDITION,
                              "RunPodSandbox: user namespaces are not available on this node: %s",
                              why);
    return 0;
}

bool berth_podusers_maps(const Runtime__V1__PodSandboxConfig *c, berth_idmaps_t *uid,
                         berth_idmaps_t *gid)
{
    const Runtime__V1__LinuxPodSandboxConfig *lx = c ? c->linux : NULL;
    const Runtime__V1__NamespaceOption *ns =
            lx && lx->security_context ? lx->security_context->namespace_options : NULL;
    const Runtime__V1__UserNamespace *u = ns ? ns->userns_options : NULL;
    if (u == NULL || u->mode != RUNTIME__V1__NAMESPACE_MODE__POD || u->n_uids == 0 ||
        u->n_uids > BERTH_IDMAP_MAX || u->n_gids == 0 || u->n_gids > BERTH_IDMAP_MAX)
        return false;
    uid->n = u->n_uids;
    copy_maps(u->uids, u->n_uids, uid->v);
    gid->n = u->n_gids;
    copy_maps(u->gids, u->n_gids, gid->v);
    return true;
}

#define ANN "RunPodSandbox: annotation " BERTH_USERNS_MODE_ANNOTATION

/* "true", "false" or nothing (a bare flag: true). */
static int parse_flag(const char *name, const char *v, bool *out, berth_err_t *err)
{
    if (v == NULL || strcmp(v, "true") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0)
        *out = false;
    else
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              ANN ": option %s: \"%.40s\" is neither true nor false", name, v);
    return 0;
}

static int parse_option(char *o, berth_userns_auto_t *out, berth_err_t *err)
{
    char *v = strchr(o, '=');
    if (v)
        *v++ = '\0';
    if (strcmp(o, "size") == 0) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = v ? strtoull(v, &end, 10) : 0;
        if (v == NULL || v[0] < '0' || v[0] > '9' || *end || errno || n == 0 || n > (1ULL << 31))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  ANN ": option size: \"%.40s\" is not a number of IDs from 1 to "
                                      "2147483648",
                                  v ? v : "");
        out->size = (uint32_t)n;
        return 0;
    }
    if (strcmp(o, "keep-id") == 0)
        return parse_flag(o, v, &out->keep_id, err);
    if (strcmp(o, "map-to-root") == 0)
        return parse_flag(o, v, &out->map_to_root, err);
    if (strcmp(o, "uidmapping") == 0 || strcmp(o, "gidmapping") == 0)
        return berth_err_make(err, ENOTSUP, BERTH_ERR_UNSUPPORTED,
                              ANN ": option %s is not supported by berth (it maps host IDs the "
                                  "pod picks; use keep-id or map-to-root, or the kubelet's "
                                  "hostUsers: false)",
                              o);
    return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                          ANN ": unknown option \"%.40s\" (berth knows size=N, keep-id, "
                              "map-to-root)",
                          o);
}

int berth_podusers_auto(const char *value, berth_userns_auto_t *o, berth_err_t *err)
{
    if (value[0] == '\0')
        return 0;
    *o = (berth_userns_auto_t){.size = BERTH_USERNS_AUTO_SIZE};
    if (strcmp(value, "auto") == 0)
        return 1;
    if (strncmp(value, "auto:", 5) != 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              ANN " \"%.80s\": berth knows \"auto\" and \"auto:OPTIONS\" "
                                  "(size=N, keep-id, map-to-root)",
                              value);
    BERTH_AUTO_FREE char *opts = berth_strdup(value + 5);
    /* CRI-O separates options with ';'. A ',' followed by a letter starts
     * one too (the form berth read before); a ',' inside a value is
     * followed by a digit. */
    for (char *c = opts; *c; c++)
        if (*c == ',' && ((c[1] >= 'a' && c[1] <= 'z') || (c[1] >= 'A' && c[1] <= 'Z')))
            *c = ';';
    char *save = NULL;
    for (char *t = strtok_r(opts, ";", &save); t; t = strtok_r(NULL, ";", &save))
        if (parse_option(t, o, err) < 0)
            return -1;
    if (o->keep_id && o->map_to_root)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              ANN ": options keep-id and map-to-root exclude each other");
    return 1;
}

/* Adds the extent id -> host (length 1) unless container ID id is mapped
 * already. */
static int add_extra(berth_idmaps_t *m, const char *what, const char *opt, int64_t host,
                     uint32_t id, berth_err_t *err)
{
    if (host <= 0 || host >= (int64_t)UINT32_MAX)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              ANN ": option %s: %s %lld cannot be mapped%s", opt, what,
                              (long long)host,
                              host == 0 ? " (it is the node's root)" : " (not a valid ID)");
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].container_id == id || m->v[i].host_id == (uint32_t)host)
            return 0;
    /* Each extra extent may split the range from the pool once more. */
    if (2 * (m->n + 1) + 1 > BERTH_IDMAP_MAX)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              ANN ": option %s: too many %ss to map (the kernel takes %d "
                                  "extents)",
                              opt, what, BERTH_IDMAP_MAX);
    m->v[m->n++] = (berth_idmap_t){.container_id = id, .host_id = (uint32_t)host, .length = 1};
    return 0;
}

int berth_podusers_extra(const berth_userns_auto_t *o,
                         const Runtime__V1__LinuxSandboxSecurityContext *sc, berth_idmaps_t *uid,
                         berth_idmaps_t *gid, berth_err_t *err)
{
    uid->n = gid->n = 0;
    if (!o->keep_id && !o->map_to_root)
        return 0;
    const char *opt = o->keep_id ? "keep-id" : "map-to-root";
    if (sc == NULL || sc->run_as_user == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              ANN ": option %s needs the pod's runAsUser "
                                  "(linux.security_context.run_as_user): there is no uid to %s",
                              opt, o->keep_id ? "keep" : "map to root");
    int64_t u = sc->run_as_user->value;
    if (add_extra(uid, "uid", opt, u, o->keep_id ? (uint32_t)u : 0, err) < 0)
        return -1;
    if (sc->run_as_group) {
        int64_t g = sc->run_as_group->value;
        if (add_extra(gid, "gid", opt, g, o->keep_id ? (uint32_t)g : 0, err) < 0)
            return -1;
    }
    for (size_t i = 0; o->keep_id && i < sc->n_supplemental_groups; i++) {
        int64_t g = sc->supplemental_groups[i];
        if (add_extra(gid, "gid", opt, g, (uint32_t)g, err) < 0)
            return -1;
    }
    return 0;
}

/* How much of [0, size) extent e holds. */
static uint32_t inside(const berth_idmap_t *e, uint32_t size)
{
    if (e->container_id >= size)
        return 0;
    uint64_t end = (uint64_t)e->container_id + e->length;
    return (uint32_t)((end < size ? end : size) - e->container_id);
}

uint32_t berth_podusers_pool_need(const berth_idmaps_t *m, uint32_t size)
{
    uint32_t need = size;
    for (size_t i = 0; i < m->n; i++)
        need -= inside(&m->v[i], size);
    return need;
}

static int by_container(const void *a, const void *b)
{
    const berth_idmap_t *x = a, *y = b;
    return x->container_id < y->container_id ? -1 : x->container_id > y->container_id;
}

void berth_podusers_fill(berth_idmaps_t *m, uint32_t size, uint32_t start)
{
    size_t nextra = m->n;
    BERTH_AUTO_FREE berth_idmap_t *extra = berth_calloc(nextra + 1, sizeof(*extra));
    BERTH_AUTO_FREE berth_idmap_t *made = berth_calloc(nextra + 1, sizeof(*made));
    memcpy(extra, m->v, nextra * sizeof(*extra));
    memcpy(made, m->v, nextra * sizeof(*made));
    qsort(extra, nextra, sizeof(*extra), by_container);
    m->n = 0;
    uint64_t cid = 0, host = start;
    for (size_t i = 0; i <= nextra && cid < size; i++) {
        uint64_t end = i < nextra && extra[i].container_id < size ? extra[i].container_id : size;
        if (end > cid) {
            m->v[m->n++] = (berth_idmap_t){(uint32_t)cid, (uint32_t)host, (uint32_t)(end - cid)};
            host += end - cid;
        }
        if (i < nextra && (uint64_t)extra[i].container_id + extra[i].length > cid)
            cid = (uint64_t)extra[i].container_id + extra[i].length;
    }
    /* The extra extents keep the order they were made in, after the pool's
     * (what CRI-O writes). */
    for (size_t i = 0; i < nextra; i++)
        m->v[m->n++] = made[i];
}

static Runtime__V1__IDMapping **to_proto(const berth_idmaps_t *m)
{
    Runtime__V1__IDMapping **v = berth_calloc(m->n, sizeof(*v));
    for (size_t i = 0; i < m->n; i++) {
        v[i] = berth_calloc(1, sizeof(**v));
        runtime__v1__idmapping__init(v[i]);
        v[i]->container_id = m->v[i].container_id;
        v[i]->host_id = m->v[i].host_id;
        v[i]->length = m->v[i].length;
    }
    return v;
}

void berth_podusers_set(Runtime__V1__PodSandboxConfig *c, const berth_idmaps_t *uid,
                        const berth_idmaps_t *gid)
{
    ProtobufCAllocator *a = (ProtobufCAllocator *)berth_alloc_protobuf_allocator();
    if (c->linux == NULL) {
        c->linux = berth_calloc(1, sizeof(*c->linux));
        runtime__v1__linux_pod_sandbox_config__init(c->linux);
    }
    Runtime__V1__LinuxPodSandboxConfig *lx = c->linux;
    if (lx->security_context == NULL) {
        lx->security_context = berth_calloc(1, sizeof(*lx->security_context));
        runtime__v1__linux_sandbox_security_context__init(lx->security_context);
    }
    Runtime__V1__LinuxSandboxSecurityContext *sc = lx->security_context;
    if (sc->namespace_options == NULL) {
        sc->namespace_options = berth_calloc(1, sizeof(*sc->namespace_options));
        runtime__v1__namespace_option__init(sc->namespace_options);
    }
    Runtime__V1__NamespaceOption *ns = sc->namespace_options;
    if (ns->userns_options)
        protobuf_c_message_free_unpacked(&ns->userns_options->base, a);
    ns->userns_options = berth_calloc(1, sizeof(*ns->userns_options));
    runtime__v1__user_namespace__init(ns->userns_options);
    ns->userns_options->mode = RUNTIME__V1__NAMESPACE_MODE__POD;
    ns->userns_options->n_uids = uid->n;
    ns->userns_options->uids = to_proto(uid);
    ns->userns_options->n_gids = gid->n;
    ns->userns_options->gids = to_proto(gid);
}
