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

bool berth_podusers_maps(const Runtime__V1__PodSandboxConfig *c, berth_idmap_t *uid,
                         berth_idmap_t *gid)
{
    const Runtime__V1__LinuxPodSandboxConfig *lx = c ? c->linux : NULL;
    const Runtime__V1__NamespaceOption *ns =
            lx && lx->security_context ? lx->security_context->namespace_options : NULL;
    const Runtime__V1__UserNamespace *u = ns ? ns->userns_options : NULL;
    if (u == NULL || u->mode != RUNTIME__V1__NAMESPACE_MODE__POD || u->n_uids != 1 ||
        u->n_gids != 1)
        return false;
    copy_maps(u->uids, 1, uid);
    copy_maps(u->gids, 1, gid);
    return true;
}

int berth_podusers_auto(const char *value, uint32_t *size, berth_err_t *err)
{
    if (value[0] == '\0')
        return 0;
    *size = BERTH_USERNS_AUTO_SIZE;
    if (strcmp(value, "auto") == 0)
        return 1;
    if (strncmp(value, "auto:", 5) != 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "RunPodSandbox: annotation " BERTH_USERNS_MODE_ANNOTATION
                              " \"%.80s\": berth knows \"auto\" and \"auto:size=N\"",
                              value);
    BERTH_AUTO_FREE char *opts = berth_strdup(value + 5);
    char *save = NULL;
    for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (strncmp(o, "size=", 5) == 0) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(o + 5, &end, 10);
            if (o[5] < '0' || o[5] > '9' || *end || errno || n == 0 || n > (1ULL << 31))
                return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                      "RunPodSandbox: annotation " BERTH_USERNS_MODE_ANNOTATION
                                      ": size \"%.40s\" is not a number of IDs from 1 to "
                                      "2147483648",
                                      o + 5);
            *size = (uint32_t)n;
        } else if (strncmp(o, "keep-id", 7) == 0 || strncmp(o, "map-to-root", 11) == 0) {
            return berth_err_make(err, ENOTSUP, BERTH_ERR_UNSUPPORTED,
                                  "RunPodSandbox: annotation " BERTH_USERNS_MODE_ANNOTATION
                                  ": option \"%.40s\" is not supported by berth (it maps the "
                                  "pod's runAsUser as a second range; berth gives a pod one "
                                  "uid and one gid range)",
                                  o);
        } else {
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "RunPodSandbox: annotation " BERTH_USERNS_MODE_ANNOTATION
                                  ": unknown option \"%.40s\" (berth knows size=N)",
                                  o);
        }
    }
    return 1;
}

static Runtime__V1__IDMapping **one_map(uint32_t host, uint32_t size)
{
    Runtime__V1__IDMapping **v = berth_calloc(1, sizeof(*v));
    v[0] = berth_calloc(1, sizeof(**v));
    runtime__v1__idmapping__init(v[0]);
    v[0]->container_id = 0;
    v[0]->host_id = host;
    v[0]->length = size;
    return v;
}

void berth_podusers_set(Runtime__V1__PodSandboxConfig *c, uint32_t uid_start, uint32_t gid_start,
                        uint32_t size)
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
    ns->userns_options->n_uids = 1;
    ns->userns_options->uids = one_map(uid_start, size);
    ns->userns_options->n_gids = 1;
    ns->userns_options->gids = one_map(gid_start, size);
}
