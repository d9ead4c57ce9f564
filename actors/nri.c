/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/nri: NRI requests and adjustments (actors/nri.h). The request is
 * built on borrowed strings and packed at once by berth_nrisrv_hook_new,
 * so nothing of it outlives this call but the map blocks freed here.
 */
#include "actors/nri.h"
#include "actors/nri-internal.h"

#include <errno.h>
#include <string.h>

#include "actors/cri.h"
#include "engine/alloc.h"
#include "nri.pb-c.h"

typedef Nri__Pkg__Api__V1alpha1__CreateContainerResponse create_resp_t;
typedef Nri__Pkg__Api__V1alpha1__ContainerAdjustment adjustment_t;

berth_nrisrv_hook_t *berth_nri_create_hook(const berth_pod_info_t *pod, const char *id,
                                           const Runtime__V1__ContainerConfig *cc,
                                           berth_handle_t reply_to, uint32_t reply_type)
{
    return berth_nri_ctr_hook("CreateContainer", BERTH_NRI_CREATE_CONTAINER, pod, id, cc, reply_to,
                              reply_type);
}

berth_nrisrv_hook_t *berth_nri_ctr_hook(const char *method, int event, const berth_pod_info_t *pod,
                                        const char *id, const Runtime__V1__ContainerConfig *cc,
                                        berth_handle_t reply_to, uint32_t reply_type)
{
    Nri__Pkg__Api__V1alpha1__PodSandbox p = NRI__PKG__API__V1ALPHA1__POD_SANDBOX__INIT;
    p.id = pod->id;
    p.name = pod->pod_name ? pod->pod_name : (char *)"";
    p.uid = pod->pod_uid ? pod->pod_uid : (char *)"";
    p.namespace_ = pod->pod_namespace ? pod->pod_namespace : (char *)"";
    p.runtime_handler = pod->handler ? pod->handler : (char *)"";

    Nri__Pkg__Api__V1alpha1__Container c = NRI__PKG__API__V1ALPHA1__CONTAINER__INIT;
    c.id = (char *)id;
    c.pod_sandbox_id = pod->id;
    c.name = cc->metadata && cc->metadata->name ? cc->metadata->name : (char *)"";
    c.state = NRI__PKG__API__V1ALPHA1__CONTAINER_STATE__CONTAINER_UNKNOWN;
    c.n_labels = cc->n_labels;
    c.labels = berth_cri_map_copy(&nri__pkg__api__v1alpha1__container__labels_entry__descriptor,
                                  cc->n_labels, (ProtobufCMessage *const *)cc->labels);
    c.n_annotations = cc->n_annotations;
    c.annotations =
            berth_cri_map_copy(&nri__pkg__api__v1alpha1__container__annotations_entry__descriptor,
                               cc->n_annotations, (ProtobufCMessage *const *)cc->annotations);
    c.n_args = cc->n_command + cc->n_args;
    c.args = berth_calloc(c.n_args + 1, sizeof(char *));
    for (size_t i = 0; i < cc->n_command; i++)
        c.args[i] = cc->command[i];
    for (size_t i = 0; i < cc->n_args; i++)
        c.args[cc->n_command + i] = cc->args[i];
    c.n_env = cc->n_envs;
    c.env = berth_calloc(cc->n_envs + 1, sizeof(char *));
    for (size_t i = 0; i < cc->n_envs; i++)
        c.env[i] = berth_asprintf("%s=%.*s", cc->envs[i]->key, (int)cc->envs[i]->value.len,
                                  (const char *)cc->envs[i]->value.data);
    Nri__Pkg__Api__V1alpha1__Mount *mounts = berth_calloc(cc->n_mounts + 1, sizeof(*mounts));
    c.mounts = berth_calloc(cc->n_mounts + 1, sizeof(*c.mounts));
    c.n_mounts = cc->n_mounts;
    static char *const ro[] = {(char *)"rbind", (char *)"ro"}, *const rw[] = {(char *)"rbind"};
    for (size_t i = 0; i < cc->n_mounts; i++) {
        nri__pkg__api__v1alpha1__mount__init(&mounts[i]);
        mounts[i].destination = cc->mounts[i]->container_path;
        mounts[i].source = cc->mounts[i]->host_path;
        mounts[i].type = (char *)"bind";
        mounts[i].options = (char **)(cc->mounts[i]->readonly ? ro : rw);
        mounts[i].n_options = cc->mounts[i]->readonly ? 2 : 1;
        c.mounts[i] = &mounts[i];
    }

    Nri__Pkg__Api__V1alpha1__CreateContainerRequest req =
            NRI__PKG__API__V1ALPHA1__CREATE_CONTAINER_REQUEST__INIT;
    req.pod = &p;
    req.container = &c;
    /* Start, Stop and RemoveContainerRequest are the same two fields */
    berth_nrisrv_hook_t *h =
            berth_nrisrv_hook_new(method, event, &req.base, reply_to, reply_type, 0);
    berth_free(c.labels);
    berth_free(c.annotations);
    berth_free(c.args);
    for (size_t i = 0; i < cc->n_envs; i++)
        berth_free(c.env[i]);
    berth_free(c.env);
    berth_free(mounts);
    berth_free(c.mounts);
    return h;
}

berth_nrisrv_hook_t *berth_nri_pod_hook(const char *method, int event, const char *id,
                                        const Runtime__V1__PodSandboxConfig *cfg,
                                        const char *handler, berth_handle_t reply_to,
                                        uint32_t reply_type)
{
    Nri__Pkg__Api__V1alpha1__PodSandbox p = NRI__PKG__API__V1ALPHA1__POD_SANDBOX__INIT;
    const Runtime__V1__PodSandboxMetadata *md = cfg->metadata;
    p.id = (char *)id;
    p.name = md && md->name ? md->name : (char *)"";
    p.uid = md && md->uid ? md->uid : (char *)"";
    p.namespace_ = md && md->namespace_ ? md->namespace_ : (char *)"";
    p.runtime_handler = handler ? (char *)handler : (char *)"";
    p.n_labels = cfg->n_labels;
    p.labels = berth_cri_map_copy(&nri__pkg__api__v1alpha1__pod_sandbox__labels_entry__descriptor,
                                  cfg->n_labels, (ProtobufCMessage *const *)cfg->labels);
    p.n_annotations = cfg->n_annotations;
    p.annotations =
            berth_cri_map_copy(&nri__pkg__api__v1alpha1__pod_sandbox__annotations_entry__descriptor,
                               cfg->n_annotations, (ProtobufCMessage *const *)cfg->annotations);
    /* the three requests are the same message on the wire: the pod, field 1 */
    Nri__Pkg__Api__V1alpha1__RunPodSandboxRequest req =
            NRI__PKG__API__V1ALPHA1__RUN_POD_SANDBOX_REQUEST__INIT;
    req.pod = &p;
    berth_nrisrv_hook_t *h =
            berth_nrisrv_hook_new(method, event, &req.base, reply_to, reply_type, 0);
    berth_free(p.labels);
    berth_free(p.annotations);
    return h;
}

/* The key a removal marker names ("-KEY" -> "KEY"). */
static const char *bare(const char *key)
{
    return key[0] == '-' ? key + 1 : key;
}

static int add_kv(berth_nri_kv_t **v, size_t *n, const char *what, const char *plugin,
                  const char *key, const char *value, berth_err_t *err)
{
    if (key == NULL || bare(key)[0] == '\0')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "NRI plugin %s: an %s adjustment without a key", plugin, what);
    for (size_t i = 0; i < *n; i++)
        if (strcmp(bare((*v)[i].key), bare(key)) == 0 && strcmp((*v)[i].owner, plugin) != 0)
            return berth_err_make(err, EEXIST, BERTH_ERR_INVALID,
                                  "NRI plugins %s and %s both adjust %s %s", (*v)[i].owner, plugin,
                                  what, bare(key));
    *v = berth_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = (berth_nri_kv_t){.key = berth_strdup(key),
                                    .value = berth_strdup(value ? value : ""),
                                    .owner = berth_strdup(plugin)};
    return 0;
}

static void mount_fini(berth_nri_mount_t *m)
{
    berth_free(m->destination);
    berth_free(m->type);
    berth_free(m->source);
    berth_free(m->owner);
    for (size_t j = 0; j < m->noptions; j++)
        berth_free(m->options[j]);
    berth_free(m->options);
}

static int add_mount(berth_nri_adjust_t *a, const char *plugin,
                     const Nri__Pkg__Api__V1alpha1__Mount *m, berth_err_t *err)
{
    const char *dst = m->destination;
    if (dst && dst[0] == '-' && dst[1] == '/') {
        /* a removal: an earlier plugin's mount there goes, and so does
         * the kubelet's (in the spec); a later plugin may mount there */
        size_t w = 0;
        for (size_t i = 0; i < a->nmounts; i++) {
            if (strcmp(a->mounts[i].destination, dst + 1) == 0)
                mount_fini(&a->mounts[i]);
            else
                a->mounts[w++] = a->mounts[i];
        }
        a->nmounts = w;
        berth_nri_adjust_unmount(a, dst + 1);
        return 0;
    }
    if (dst == NULL || dst[0] != '/')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "NRI plugin %s: mount destination \"%s\" is not an absolute path",
                              plugin, dst ? dst : "");
    if (m->source == NULL || m->source[0] == '\0')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "NRI plugin %s: mount at %s without a source", plugin, dst);
    for (size_t i = 0; i < a->nmounts; i++)
        if (strcmp(a->mounts[i].destination, dst) == 0)
            return berth_err_make(err, EEXIST, BERTH_ERR_INVALID,
                                  "NRI plugins %s and %s both mount %s", a->mounts[i].owner, plugin,
                                  dst);
    a->mounts = berth_realloc(a->mounts, (a->nmounts + 1) * sizeof(*a->mounts));
    berth_nri_mount_t *bm = &a->mounts[a->nmounts++];
    *bm = (berth_nri_mount_t){.destination = berth_strdup(dst),
                              .type = berth_strdup(m->type && m->type[0] ? m->type : "bind"),
                              .source = berth_strdup(m->source),
                              .owner = berth_strdup(plugin),
                              .noptions = m->n_options};
    bm->options = berth_calloc(m->n_options + 1, sizeof(char *));
    for (size_t i = 0; i < m->n_options; i++)
        bm->options[i] = berth_strdup(m->options[i]);
    return 0;
}

int berth_nri_adjust_add(berth_nri_adjust_t *a, const char *plugin, const uint8_t *resp, size_t len,
                         berth_err_t *err)
{
    ProtobufCAllocator *al = berth_alloc_protobuf_allocator();
    create_resp_t *r = (create_resp_t *)protobuf_c_message_unpack(
            &nri__pkg__api__v1alpha1__create_container_response__descriptor, al, len, resp);
    if (r == NULL)
        return berth_err_make(err, EPROTO, BERTH_ERR_INVALID,
                              "NRI plugin %s: malformed CreateContainerResponse", plugin);
    int ret = 0;
    const adjustment_t *adj = r->adjust;
    /* r->update and r->evict: actors/nri_update.c applies them */
    if (adj) {
        for (size_t i = 0; ret == 0 && i < adj->n_env; i++)
            ret = add_kv(&a->env, &a->nenv, "environment variable", plugin, adj->env[i]->key,
                         adj->env[i]->value, err);
        for (size_t i = 0; ret == 0 && i < adj->n_annotations; i++)
            ret = add_kv(&a->annotations, &a->nannotations, "annotation", plugin,
                         adj->annotations[i]->key, adj->annotations[i]->value, err);
        for (size_t i = 0; ret == 0 && i < adj->n_mounts; i++)
            ret = add_mount(a, plugin, adj->mounts[i], err);
        if (ret == 0)
            ret = berth_nri_adjust_more(a, plugin, adj, err);
    }
    protobuf_c_message_free_unpacked(&r->base, al);
    return ret;
}

static void kv_free(berth_nri_kv_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        berth_free(v[i].key);
        berth_free(v[i].value);
        berth_free(v[i].owner);
    }
    berth_free(v);
}

void berth_nri_adjust_fini(berth_nri_adjust_t *a)
{
    kv_free(a->env, a->nenv);
    kv_free(a->annotations, a->nannotations);
    for (size_t i = 0; i < a->nmounts; i++)
        mount_fini(&a->mounts[i]);
    berth_free(a->mounts);
    if (a->edits)
        json_decref(a->edits);
    if (a->owners)
        json_decref(a->owners);
    *a = (berth_nri_adjust_t){0};
}

void berth_nri_apply_env(const berth_nri_adjust_t *a, char ***env, size_t *n)
{
    for (size_t i = 0; i < a->nenv; i++) {
        const char *key = bare(a->env[i].key);
        size_t kl = strlen(key), w = 0;
        for (size_t j = 0; j < *n; j++) {
            char *e = (*env)[j];
            if (strncmp(e, key, kl) == 0 && e[kl] == '=')
                berth_free(e);
            else
                (*env)[w++] = e;
        }
        *n = w;
        if (a->env[i].key[0] != '-') {
            *env = berth_realloc(*env, (*n + 2) * sizeof(char *));
            (*env)[(*n)++] = berth_asprintf("%s=%s", key, a->env[i].value);
        }
        (*env)[*n] = NULL;
    }
}
