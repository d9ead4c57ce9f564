// SPDX-License-Identifier: Apache-2.0
/*
 * A pod's user namespace options (see podusers.h). Never blocks: the idmap
 * probe ran at start and only its stored answer is read here.
 */
#include "actors/podusers.h"

#include <errno.h>
#include <stddef.h>

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
