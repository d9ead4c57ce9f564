// SPDX-License-Identifier: Apache-2.0
/*
 * The pod sandbox manager actor. It owns two indexes, reserved name -> pod
 * actor and sandbox ID -> pod actor, and the listing summaries; nothing else.
 * All sandbox work happens in the pod actors, so a slow CNI plugin for one
 * pod never delays a list, a status or another pod's creation. Requests that
 * arrive before the state directory was read are held and replayed in order.
 */
#include "actors/pods.h"

#include <errno.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <string.h>
#include <sys/random.h>

#include "actors/ctrmsg.h"
#include "actors/ctrsec.h"
#include "actors/podmsg.h"
#include "actors/creation.h"
#include "actors/cri.h"
#include "actors/index.h"
#include "actors/msgtypes.h"
#include "actors/pod.h"
#include "actors/podstats.h"
#include "actors/runtimes.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/timer.h"
#include "io/blocking.h"
#include "io/fs.h"
#include "io/grpc.h"
#include "io/nrisrv.h"
#include "io/netdev.h"
#include "io/netns.h"
#include "actors/idalloc.h"
#include "actors/podusers.h"
#include "io/podfiles.h"

typedef berth_index_entry_t entry_t; /* handle: the pod; summary: berth_pod_summary_t */

#define SUMMARY(e) ((berth_pod_summary_t *)(e)->summary)

struct stats_wait;

typedef struct pods {
    berth_config_t *cfg;
    berth_index_t ix;
    berth_handle_t containers;        /* the container manager, or none (unit tests) */
    berth_handle_t events;            /* GetContainerEvents' fan-out, or none */
    bool sampling;                    /* a stats sample is on the pool */
    struct stats_wait *stats_waiting; /* stats calls waiting for the next sample */
    /* The userns-mode annotation's ranges: every live pod's mappings are
     * held here by pod ID, whoever chose them; subid_error says why "auto"
     * cannot be served (a file unreadable, no "containers" entry). */
    berth_idalloc_t uids, gids;
    char *subid_error;
} pods_t;

typedef struct restore_msg {
    berth_msg_t hdr; /* BERTH_MSG_PODS_RESTORED */
    char *dir;
    char *run_dir; /* <runroot>/pods: the pod directories */
    json_t **records;
    size_t n;
    char *subid_path[2]; /* subuid_file, subgid_file */
    char *subid_text[2]; /* their contents; NULL: unreadable (subid_error) */
    char *subid_error;
} restore_msg_t;

static bool empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/* A name part must not smuggle the separator or path characters into the
 * reserved name or the paths derived from it. */
static bool bad_part(const char *s)
{
    return strpbrk(s, "/\n") != NULL;
}

/* A value written into a file of the pod (hostname, hosts, resolv.conf)
 * must not carry a line break or other control character into it. */
static bool has_ctl(const char *s)
{
    for (; s && *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    }
    return false;
}

/* Everything in a PodSandboxConfig that would otherwise fail deep inside a
 * creation (or be written into a file as given) is checked here, before
 * anything is made; the message names the field. */
static int check_pod_config(const Runtime__V1__PodSandboxConfig *c, berth_err_t *err)
{
    const Runtime__V1__PodSandboxMetadata *md = c->metadata;
    if (berth_cri_check_len("RunPodSandbox: config.metadata.name", md->name, BERTH_CRI_MAX_NAME,
                            err) < 0 ||
        berth_cri_check_len("RunPodSandbox: config.metadata.namespace", md->namespace_,
                            BERTH_CRI_MAX_NAMESPACE, err) < 0 ||
        berth_cri_check_len("RunPodSandbox: config.metadata.uid", md->uid, BERTH_CRI_MAX_NAME,
                            err) < 0 ||
        berth_cri_check_len("RunPodSandbox: config.log_directory", c->log_directory,
                            BERTH_CRI_MAX_PATH, err) < 0 ||
        berth_cri_check_len("RunPodSandbox: config.linux.cgroup_parent",
                            c->linux ? c->linux->cgroup_parent : NULL, BERTH_CRI_MAX_PATH,
                            err) < 0 ||
        berth_cri_check_map("RunPodSandbox: config.labels", c->n_labels,
                            (ProtobufCMessage *const *)c->labels, err) < 0 ||
        berth_cri_check_map("RunPodSandbox: config.annotations", c->n_annotations,
                            (ProtobufCMessage *const *)c->annotations, err) < 0)
        return -1;
    if (c->hostname &&
        (strlen(c->hostname) > 64 || has_ctl(c->hostname) || strpbrk(c->hostname, " /") != NULL))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "RunPodSandbox: config.hostname \"%.80s\" is not a valid hostname "
                              "(at most 64 characters, no spaces, slashes or control characters)",
                              c->hostname);
    const Runtime__V1__DNSConfig *d = c->dns_config;
    for (size_t i = 0; d && i < d->n_servers + d->n_searches + d->n_options; i++) {
        const char *v = i < d->n_servers ? d->servers[i]
                        : i < d->n_servers + d->n_searches
                                ? d->searches[i - d->n_servers]
                                : d->options[i - d->n_servers - d->n_searches];
        if (v[0] == '\0' || has_ctl(v) || strchr(v, ' ') != NULL)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "RunPodSandbox: config.dns_config entry \"%.80s\" is empty or "
                                  "holds a space or control character",
                                  v);
    }
    for (size_t i = 0; i < c->n_port_mappings; i++) {
        const Runtime__V1__PortMapping *pm = c->port_mappings[i];
        if (pm->container_port <= 0 || pm->container_port > 65535 || pm->host_port < 0 ||
            pm->host_port > 65535)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "RunPodSandbox: config.port_mappings[%zu]: container_port %d / "
                                  "host_port %d out of range",
                                  i, pm->container_port, pm->host_port);
    }
    /* conmon would resolve a relative one against its own working directory */
    if (c->log_directory && c->log_directory[0] && c->log_directory[0] != '/')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "RunPodSandbox: config.log_directory \"%.200s\" is not an absolute "
                              "path",
                              c->log_directory);
    const Runtime__V1__LinuxPodSandboxConfig *lx = c->linux;
    const Runtime__V1__NamespaceOption *ns =
            lx && lx->security_context ? lx->security_context->namespace_options : NULL;
    if (berth_podusers_check(ns, err) < 0)
        return -1;
    for (size_t i = 0; lx && i < lx->n_sysctls; i++) {
        const char *key = lx->sysctls[i]->key;
        int kind = berth_netns_sysctl_kind(key, err);
        if (kind < 0)
            return berth_err_prefix(err, "RunPodSandbox: config.linux.sysctls");
        bool host = kind == BERTH_NETNS_NET ? ns && ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE
                                            : ns && ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE;
        if (host)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "RunPodSandbox: config.linux.sysctls: %s would change the "
                                  "node's own %s namespace (the pod shares it)",
                                  key, kind == BERTH_NETNS_NET ? "network" : "IPC");
    }
    return berth_ctrsec_check_pod(c, err);
}

static const char *pod_annotation(const Runtime__V1__PodSandboxConfig *c, const char *key)
{
    for (size_t i = 0; i < c->n_annotations; i++)
        if (strcmp(c->annotations[i]->key, key) == 0)
            return c->annotations[i]->value;
    return NULL;
}

static void reserve_maps(pods_t *p, const char *id, const berth_idmaps_t *um,
                         const berth_idmaps_t *gm)
{
    for (size_t i = 0; i < um->n; i++)
        berth_idalloc_reserve(&p->uids, id, um->v[i].host_id, um->v[i].length);
    for (size_t i = 0; i < gm->n; i++)
        berth_idalloc_reserve(&p->gids, id, gm->v[i].host_id, gm->v[i].length);
}

/* The node's IDs a keep-id or map-to-root pod maps must lie outside the
 * "containers" ranges (see berth_idalloc_in_pools). */
static int extra_outside(pods_t *p, const berth_userns_auto_t *o, const berth_idmaps_t *m,
                         const char *what, berth_err_t *err)
{
    berth_idalloc_t *a = what[0] == 'u' ? &p->uids : &p->gids;
    for (size_t i = 0; i < m->n; i++)
        if (berth_idalloc_in_pools(a, m->v[i].host_id, m->v[i].length))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "RunPodSandbox: annotation %s: option %s: %s %u lies in the "
                                  "\"containers\" entries of %s, which berth hands to pods",
                                  BERTH_USERNS_MODE_ANNOTATION,
                                  o->keep_id ? "keep-id" : "map-to-root", what, m->v[i].host_id,
                                  what[0] == 'u' ? p->cfg->subuid_file : p->cfg->subgid_file);
    return 0;
}

/* Holds a new pod's ID ranges: the kubelet's mappings as they are, or,
 * for a pod without them whose handler allows CRI-O's userns-mode
 * annotation, a range of the "containers" entries of subuid_file and
 * subgid_file (plus, for keep-id and map-to-root, the node's IDs of the
 * pod's runAsUser and groups) written into c as POD-mode userns_options
 * (the pod's record keeps them, so a restart finds them again). -1 with
 * *err, nothing held. */
static int pod_ids(pods_t *p, const char *handler, Runtime__V1__PodSandboxConfig *c, const char *id,
                   berth_err_t *err)
{
    BERTH_AUTO_FREE berth_idmaps_t *um = berth_malloc(sizeof(*um));
    BERTH_AUTO_FREE berth_idmaps_t *gm = berth_malloc(sizeof(*gm));
    if (berth_podusers_maps(c, um, gm)) {
        if (pod_annotation(c, BERTH_USERNS_MODE_ANNOTATION))
            berth_log_info("annotation ignored: the pod has the kubelet's user namespace",
                           "annotation=%s", BERTH_USERNS_MODE_ANNOTATION);
        reserve_maps(p, id, um, gm);
        return 0;
    }
    const char *mode = pod_annotation(c, BERTH_USERNS_MODE_ANNOTATION);
    if (mode == NULL ||
        !berth_ctrsec_annotation_allowed(p->cfg, handler, BERTH_USERNS_MODE_ANNOTATION))
        return 0;
    berth_userns_auto_t o;
    int want = berth_podusers_auto(mode, &o, err);
    if (want <= 0)
        return want;
    const Runtime__V1__LinuxSandboxSecurityContext *sc =
            c->linux ? c->linux->security_context : NULL;
    if (berth_podusers_extra(&o, sc, um, gm, err) < 0)
        return -1;
    if (p->subid_error)
        return berth_err_make(err, ENOENT, BERTH_ERR_PRECONDITION,
                              "RunPodSandbox: annotation %s: %s", BERTH_USERNS_MODE_ANNOTATION,
                              p->subid_error);
    if (extra_outside(p, &o, um, "uid", err) < 0 || extra_outside(p, &o, gm, "gid", err) < 0)
        return -1;
    uint32_t nu = berth_podusers_pool_need(um, o.size), ng = berth_podusers_pool_need(gm, o.size);
    uint64_t us = 0, gs = 0;
    bool uid_short = nu > 0 && berth_idalloc_take(&p->uids, id, nu, &us) < 0;
    if (uid_short || (ng > 0 && berth_idalloc_take(&p->gids, id, ng, &gs) < 0)) {
        berth_idalloc_release(&p->uids, id);
        return berth_err_make(err, ENOSPC, BERTH_ERR_EXHAUSTED,
                              "RunPodSandbox: annotation %s: no free range of %u IDs left in the "
                              "\"containers\" entries of %s (live pods hold the rest)",
                              BERTH_USERNS_MODE_ANNOTATION, uid_short ? nu : ng,
                              uid_short ? p->cfg->subuid_file : p->cfg->subgid_file);
    }
    /* take held the pools' part; the rest is held below, with the extra
     * extents, once the maps are whole. */
    berth_idalloc_release(&p->uids, id);
    berth_idalloc_release(&p->gids, id);
    berth_podusers_fill(um, o.size, (uint32_t)us);
    berth_podusers_fill(gm, o.size, (uint32_t)gs);
    berth_podusers_set(c, um, gm);
    const Runtime__V1__NamespaceOption *ns = c->linux->security_context->namespace_options;
    if (berth_podusers_check(ns, err) < 0)
        return berth_err_prefix(err, "annotation %s", BERTH_USERNS_MODE_ANNOTATION);
    reserve_maps(p, id, um, gm);
    berth_log_info("pod user namespace picked",
                   "id=%s uid=%llu gid=%llu size=%u uid_extents=%zu gid_extents=%zu", id,
                   (unsigned long long)us, (unsigned long long)gs, o.size, um->n, gm->n);
    return 0;
}

static void on_run(berth_actor_t *self, pods_t *p, berth_cri_req_msg_t *rm)
{
    const Runtime__V1__RunPodSandboxRequest *r = (const Runtime__V1__RunPodSandboxRequest *)rm->req;
    const Runtime__V1__PodSandboxConfig *c = r->config;
    if (c == NULL)
        return berth_cri_fail(rm, BERTH_ERR_INVALID, "RunPodSandbox: config is missing");
    const Runtime__V1__PodSandboxMetadata *md = c->metadata;
    if (md == NULL)
        return berth_cri_fail(rm, BERTH_ERR_INVALID, "RunPodSandbox: config.metadata is missing");
    if (empty(md->name))
        return berth_cri_fail(rm, BERTH_ERR_INVALID,
                              "RunPodSandbox: config.metadata.name is empty");
    if (empty(md->uid))
        return berth_cri_fail(rm, BERTH_ERR_INVALID, "RunPodSandbox: config.metadata.uid is empty");
    if (empty(md->namespace_))
        return berth_cri_fail(rm, BERTH_ERR_INVALID,
                              "RunPodSandbox: config.metadata.namespace is empty");
    if (bad_part(md->name) || bad_part(md->uid) || bad_part(md->namespace_))
        return berth_cri_fail(
                rm, BERTH_ERR_INVALID,
                "RunPodSandbox: config.metadata name, uid and namespace must not contain "
                "'/' or newlines");
    const char *handler = empty(r->runtime_handler) ? p->cfg->default_runtime : r->runtime_handler;
    if (berth_config_runtime(p->cfg, handler) == NULL) {
        BERTH_AUTO_FREE char *known = berth_strdup("");
        for (size_t i = 0; i < p->cfg->n_runtimes; i++) {
            char *k = berth_asprintf("%s%s%s", known, i ? ", " : "", p->cfg->runtimes[i].name);
            berth_free(known);
            known = k;
        }
        return berth_cri_fail(
                rm, BERTH_ERR_NOT_FOUND,
                "RunPodSandbox: runtime_handler \"%s\" is not configured (configured: %s)", handler,
                known);
    }
    berth_err_t err = NULL;
    if (check_pod_config(c, &err) < 0) {
        berth_cri_finish_err(rm->call, err);
        berth_err_free(&err);
        berth_msg_free(&rm->hdr);
        return;
    }
    /* CRI-O's rule: the handler is checked here, so a pod that could never
     * run a container fails now, with the cause and the fix. */
    const berth_runtime_status_t *bad = berth_runtimes_unusable(handler);
    if (bad != NULL)
        return berth_cri_fail(rm, BERTH_ERR_PRECONDITION, "RunPodSandbox: %s", bad->message);
    BERTH_AUTO_FREE char *name =
            berth_asprintf("k8s_%s_%s_%s_%u", md->name, md->namespace_, md->uid, md->attempt);
    entry_t *e = berth_index_by_name(&p->ix, name);
    if (e == NULL) {
        BERTH_AUTO_FREE char *id = berth_index_new_id();
        if (pod_ids(p, handler, (Runtime__V1__PodSandboxConfig *)c, id, &err) < 0) {
            berth_cri_finish_err(rm->call, err);
            berth_err_free(&err);
            berth_msg_free(&rm->hdr);
            return;
        }
        berth_pod_init_t init = {
                .cfg = p->cfg,
                .mgr = berth_actor_self(self),
                .id = id,
                .name = name,
                .handler = handler,
                .req = r,
                .events = p->events,
        };
        berth_handle_t pod = berth_pod_spawn(&init);
        e = berth_index_add(&p->ix, id, name, pod);
        berth_log_debug("pod name reserved", "name=%s id=%s", name, id);
    }
    berth_grpc_call_set_owner(rm->call, e->handle);
    berth_send(e->handle, &rm->hdr);
}

static berth_summary_view_t view(const void *summary)
{
    const berth_pod_summary_t *s = summary;
    return (berth_summary_view_t){s->id, s->state, s->listed, &s->labels};
}

/* One listed sandbox; strings borrowed from the summary. */
typedef struct pb_pod {
    Runtime__V1__PodSandbox sb;
    Runtime__V1__PodSandboxMetadata md;
} pb_pod_t;

static void fill(void *slot, const void *summary)
{
    pb_pod_t *o = slot;
    const berth_pod_summary_t *s = summary;
    runtime__v1__pod_sandbox__init(&o->sb);
    runtime__v1__pod_sandbox_metadata__init(&o->md);
    o->md.name = s->pod_name;
    o->md.uid = s->pod_uid;
    o->md.namespace_ = s->pod_namespace;
    o->md.attempt = s->attempt;
    o->sb.id = s->id;
    o->sb.metadata = &o->md;
    o->sb.state = s->state;
    o->sb.created_at = s->created_at;
    o->sb.runtime_handler = s->runtime_handler;
    o->sb.n_labels = s->labels.n;
    o->sb.labels = berth_kv_map(&s->labels, &runtime__v1__pod_sandbox__labels_entry__descriptor);
    o->sb.n_annotations = s->annotations.n;
    o->sb.annotations =
            berth_kv_map(&s->annotations, &runtime__v1__pod_sandbox__annotations_entry__descriptor);
}

static void fini(void *slot)
{
    pb_pod_t *o = slot;
    berth_free(o->sb.labels);
    berth_free(o->sb.annotations);
}

static const berth_index_lister_t lister = {sizeof(pb_pod_t), view, NULL, fill, fini};

static void on_list(pods_t *p, berth_cri_req_msg_t *rm, bool stream)
{
    const Runtime__V1__PodSandboxFilter *f =
            stream ? ((const Runtime__V1__StreamPodSandboxesRequest *)rm->req)->filter
                   : ((const Runtime__V1__ListPodSandboxRequest *)rm->req)->filter;
    berth_index_list(&p->ix, &lister, f, rm->call, stream,
                     &runtime__v1__list_pod_sandbox_response__descriptor,
                     &runtime__v1__stream_pod_sandboxes_response__descriptor);
    berth_msg_free(&rm->hdr);
}

static void on_list_rpc(berth_actor_t *self, void *mgr, berth_cri_req_msg_t *rm, int stream)
{
    (void)self;
    on_list(mgr, rm, stream);
}

static void on_run_rpc(berth_actor_t *self, void *mgr, berth_cri_req_msg_t *rm, int arg)
{
    (void)arg;
    on_run(self, mgr, rm);
}

/* ---- stats ---------------------------------------------------------------- */

/* A pod's figures (podstats.h) are kept with its summary and a stats call is
 * answered from them at once. One pool job at a time samples every listed
 * pod whose figures are older than half of stats_refresh_interval, when a
 * call finds one such: the pod cgroup's files (kept open by its reader) and
 * /proc/net/dev inside its network namespace. A call that finds a pod never
 * sampled, or sampled longer than the whole interval ago, waits for the
 * next job (at most STATS_MAX_WAITS of them), so the first call after a
 * quiet spell shows current figures; so does one that finds a pod sampled
 * once, half an interval ago, so its CPU rate comes from two samples at
 * least that far apart. The other calls cost no system call. */

typedef struct sample_row {
    char *id, *cgroup, *netns;      /* owned; cgroup "" or netns NULL: none */
    berth_cgroups_reader_t *reader; /* a reference; NULL: the job makes it */
    berth_cgroups_stats_t st;       /* all zero when the cgroup could not be read */
    berth_netdev_iface_t ifaces[BERTH_POD_STATS_MAX_IFACES];
    int n_ifaces; /* -1: no namespace of its own, or it could not be read */
    int64_t at;   /* wall time of the sample */
} sample_row_t;

typedef struct sample_msg {
    berth_msg_t hdr; /* BERTH_MSG_PODS_STATS */
    sample_row_t *rows;
    size_t n;
} sample_msg_t;

typedef struct stats_wait {
    struct stats_wait *next;
    berth_cri_req_msg_t *rm; /* owned */
    int kind;                /* enum berth_pod_stats_kind */
    int64_t arrived;         /* wall time the call came in */
    int waits;               /* samples waited for so far */
} stats_wait_t;

#define STATS_MAX_WAITS 2

static void sample_job(void *arg)
{
    sample_msg_t *m = arg;
    for (size_t i = 0; i < m->n; i++) {
        sample_row_t *r = &m->rows[i];
        if (r->reader == NULL && r->cgroup[0] != '\0') {
            r->reader = berth_cgroups_reader_new(r->cgroup);
            if (r->reader)
                berth_cgroups_reader_want_more(r->reader);
        }
        if (r->reader)
            berth_cgroups_reader_read(r->reader, &r->st);
        r->n_ifaces = -1;
        if (r->netns) {
            BERTH_AUTO_ERR berth_err_t err = NULL;
            /* a pod stopped meanwhile has no pin any more: no figures */
            r->n_ifaces =
                    berth_netdev_read_netns(r->netns, r->ifaces, BERTH_POD_STATS_MAX_IFACES, &err);
        }
        r->at = (int64_t)berth_wall_ns();
    }
}

static void sample_msg_free(berth_msg_t *msg)
{
    sample_msg_t *m = (sample_msg_t *)msg;
    for (size_t i = 0; i < m->n; i++) {
        berth_free(m->rows[i].id);
        berth_free(m->rows[i].cgroup);
        berth_free(m->rows[i].netns);
        berth_cgroups_reader_unref(m->rows[i].reader);
    }
    berth_free(m->rows);
    berth_free(m);
}

static bool has_source(const berth_pod_summary_t *s)
{
    return (s->cgroup_parent && s->cgroup_parent[0] != '\0') || s->net_ns != NULL;
}

static bool sample_due(const pods_t *p, const berth_pod_summary_t *s, int64_t now, bool new_only)
{
    if (!s->listed || !has_source(s))
        return false;
    if (new_only)
        return s->stats == NULL || s->stats->cg_at == 0;
    return berth_pod_stats_due(s->stats, now, p->cfg->stats_refresh_interval_ns);
}

/* Starts one pool job sampling every listed pod due a sample at `now`
 * (new_only: only those never sampled); nothing while one runs (its end
 * starts the next a waiting call needs) or when nothing is due. */
static void pods_sample(berth_actor_t *self, pods_t *p, int64_t now, bool new_only)
{
    if (p->sampling)
        return;
    size_t due = 0;
    for (size_t i = 0; i < p->ix.n; i++) {
        const berth_pod_summary_t *s = SUMMARY(&p->ix.v[i]);
        due += s != NULL && sample_due(p, s, now, new_only);
    }
    if (due == 0)
        return;
    sample_msg_t *m = berth_msg_new(BERTH_MSG_PODS_STATS, sizeof(*m));
    m->hdr.free = sample_msg_free;
    m->rows = berth_calloc(due, sizeof(*m->rows));
    for (size_t i = 0; i < p->ix.n && m->n < due; i++) {
        const berth_pod_summary_t *s = SUMMARY(&p->ix.v[i]);
        if (s == NULL || !sample_due(p, s, now, new_only))
            continue;
        sample_row_t *r = &m->rows[m->n++];
        r->id = berth_strdup(s->id);
        r->cgroup = berth_strdup(s->cgroup_parent ? s->cgroup_parent : "");
        /* a stopped pod's interfaces are gone (CNI DEL), even while its pin stays */
        r->netns = s->net_ns && s->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
                           ? berth_strdup(s->net_ns)
                           : NULL;
        if (s->stats && s->stats->reader) {
            berth_cgroups_reader_ref(s->stats->reader);
            r->reader = s->stats->reader;
        }
    }
    p->sampling = true;
    berth_blocking_run(sample_job, m, berth_actor_self(self), &m->hdr);
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void on_stats_at(berth_actor_t *self, pods_t *p, berth_cri_req_msg_t *rm, int kind,
                        int64_t arrived, int waits);

static void on_sampled(berth_actor_t *self, pods_t *p, sample_msg_t *m)
{
    p->sampling = false;
    for (size_t i = 0; i < m->n; i++) {
        sample_row_t *r = &m->rows[i];
        entry_t *e = berth_index_by_exact_id(&p->ix, r->id);
        berth_pod_summary_t *s = e ? SUMMARY(e) : NULL;
        /* gone, or its sources changed while the job ran: not its figures */
        if (s == NULL || !same_str(s->cgroup_parent ? s->cgroup_parent : "", r->cgroup) ||
            (r->netns && !same_str(s->net_ns, r->netns)))
            continue;
        if (s->stats == NULL)
            s->stats = berth_pod_stats_new();
        if (s->stats->reader == NULL)
            s->stats->reader = berth_steal_ptr(&r->reader);
        berth_pod_stats_set(s->stats, &r->st, r->at, r->ifaces, r->n_ifaces);
    }
    stats_wait_t *w = p->stats_waiting;
    p->stats_waiting = NULL;
    while (w) {
        stats_wait_t *next = w->next;
        on_stats_at(self, p, berth_steal_ptr(&w->rm), w->kind, w->arrived, w->waits);
        berth_free(w);
        w = next;
    }
    /* pods listed while this sample ran */
    pods_sample(self, p, (int64_t)berth_wall_ns(), true);
}

/* Packs the rows' PodSandboxStats and hands them to the containers manager
 * to add the containers and answer; without one (unit tests), answers. */
static void stats_answer(pods_t *p, berth_cri_req_msg_t *rm, int kind, berth_pod_summary_t **rows,
                         size_t n)
{
    berth_ctrs_pod_stats_msg_t *m = berth_ctrs_pod_stats_new(rm->call, kind, n);
    rm->call = NULL; /* the message holds the call's reference now */
    for (size_t i = 0; i < n; i++) {
        m->pod_ids[i] = berth_strdup(rows[i]->id);
        m->items[i] = berth_pod_stats_kind_metrics(kind)
                              ? berth_pod_metrics_pack(rows[i], rows[i]->stats, &m->lens[i])
                              : berth_pod_stats_pack(rows[i], rows[i]->stats, &m->lens[i]);
    }
    berth_msg_free(&rm->hdr);
    if (berth_handle_valid(p->containers)) {
        berth_send(p->containers, &m->hdr); /* a failed send ends the call */
        return;
    }
    berth_pod_stats_reply(m->call, kind, m->items, m->lens, m->n);
    berth_grpc_call_unref(m->call);
    m->call = NULL;
    berth_msg_free(&m->hdr);
}

/* PodSandboxStats, ListPodSandboxStats and StreamPodSandboxStats, from the
 * kept figures (see the section's comment). */
static void on_stats_at(berth_actor_t *self, pods_t *p, berth_cri_req_msg_t *rm, int kind,
                        int64_t arrived, int waits)
{
    const ProtobufCMessage *f = NULL;
    const char *want_id = NULL;
    if (kind == BERTH_POD_STATS_ONE) {
        const char *id = ((const Runtime__V1__PodSandboxStatsRequest *)rm->req)->pod_sandbox_id;
        bool amb;
        entry_t *e = empty(id) ? NULL : berth_index_by_id(&p->ix, id, &amb);
        if (e == NULL || SUMMARY(e) == NULL || !SUMMARY(e)->listed)
            return berth_cri_fail(rm, BERTH_ERR_NOT_FOUND,
                                  "PodSandboxStats: pod sandbox %s not found", id ? id : "");
        want_id = e->id;
    } else if (kind == BERTH_POD_STATS_LIST) {
        f = (const ProtobufCMessage *)((const Runtime__V1__ListPodSandboxStatsRequest *)rm->req)
                    ->filter;
    } else if (berth_pod_stats_kind_metrics(kind)) {
        /* every pod: the metrics calls have no filter */
    } else {
        f = (const ProtobufCMessage *)((const Runtime__V1__StreamPodSandboxStatsRequest *)rm->req)
                    ->filter;
    }
    berth_pod_summary_t **rows = berth_calloc(p->ix.n + 1, sizeof(*rows));
    size_t n = 0;
    bool wait = false;
    int64_t max_age = p->cfg->stats_refresh_interval_ns;
    for (size_t i = 0; i < p->ix.n; i++) {
        berth_pod_summary_t *s = SUMMARY(&p->ix.v[i]);
        if (s == NULL || !s->listed || (want_id && strcmp(s->id, want_id) != 0))
            continue;
        if (f && !berth_index_filter_keeps(
                         f, &(berth_summary_view_t){s->id, s->state, s->listed, &s->labels}))
            continue;
        rows[n++] = s;
        /* never sampled, sampled too long ago, or sampled once (no CPU rate
         * yet) half an interval ago: the next sample gives what is missing */
        const berth_pod_stats_t *ps = s->stats;
        if (has_source(s) &&
            (ps == NULL || ps->cg_at == 0 || arrived - ps->cg_at > max_age ||
             (ps->cg.have_cpu && !ps->have_nano && arrived - ps->cg_at >= max_age / 2)))
            wait = true;
    }
    int64_t now = (int64_t)berth_wall_ns();
    if (wait && waits < STATS_MAX_WAITS) {
        stats_wait_t *w = berth_calloc(1, sizeof(*w));
        w->rm = rm;
        w->kind = kind;
        w->arrived = arrived;
        w->waits = waits + 1;
        w->next = p->stats_waiting;
        p->stats_waiting = w;
        berth_free(rows);
        pods_sample(self, p, now, false);
        return;
    }
    stats_answer(p, rm, kind, rows, n);
    berth_free(rows);
    /* figures past half their age are sampled again now, off this call's path */
    pods_sample(self, p, now, false);
}

static void on_stats_rpc(berth_actor_t *self, void *mgr, berth_cri_req_msg_t *rm, int kind)
{
    on_stats_at(self, mgr, rm, kind, (int64_t)berth_wall_ns(), 0);
}

static const berth_index_route_t route_table[] = {
        {"PodSandboxStats", on_stats_rpc, BERTH_POD_STATS_ONE, false},
        {"ListPodSandboxStats", on_stats_rpc, BERTH_POD_STATS_LIST, false},
        {"StreamPodSandboxStats", on_stats_rpc, BERTH_POD_STATS_STREAM, false},
        {"ListPodSandboxMetrics", on_stats_rpc, BERTH_POD_METRICS_LIST, false},
        {"StreamPodSandboxMetrics", on_stats_rpc, BERTH_POD_METRICS_STREAM, false},
        {"RunPodSandbox", on_run_rpc, 0, false},
        {"ListPodSandbox", on_list_rpc, false, false},
        {"StreamPodSandboxes", on_list_rpc, true, false},
        {"StopPodSandbox", NULL, 0, true},
        {"RemovePodSandbox", NULL, 0, true},
        {"PodSandboxStatus", NULL, 0, false},
        {"PortForward", NULL, 0, false},
        {"UpdatePodSandboxResources", NULL, 0, false},
};
static berth_cri_routes_t routes = BERTH_CRI_ROUTES(route_table);

/* A request, now or when the records are read (ctx: the actor). */
static void dispatch(void *ctx, berth_cri_req_msg_t *rm)
{
    berth_actor_t *self = ctx;
    pods_t *p = berth_actor_state(self);
    berth_index_dispatch(self, p, &p->ix, &routes, rm, "pod_sandbox_id", "pod sandbox");
}

static void restore_msg_free(berth_msg_t *m)
{
    restore_msg_t *r = (restore_msg_t *)m;
    berth_fs_records_free(r->records, r->n);
    for (int i = 0; i < 2; i++) {
        berth_free(r->subid_path[i]);
        berth_free(r->subid_text[i]);
    }
    berth_free(r->subid_error);
    berth_free(r->dir);
    berth_free(r->run_dir);
    berth_free(r);
}

/* Removes the pod directories (and their /dev/shm mount) that no record
 * names: a berthd killed after making them and before its intent record
 * was written leaves them, and nothing else would ever unmount them. */
static void sweep_orphans(const restore_msg_t *r)
{
    size_t nnames = 0;
    char **names = berth_fs_list_names(r->run_dir, &nnames);
    for (size_t j = 0; j < nnames; j++) {
        const char *name = names[j];
        if (name[0] == '.' || strlen(name) != 64)
            continue;
        bool known = false;
        for (size_t i = 0; i < r->n && !known; i++) {
            const char *id = json_string_value(json_object_get(r->records[i], "id"));
            known = id && strcmp(id, name) == 0;
        }
        if (known)
            continue;
        BERTH_AUTO_FREE char *dir = berth_asprintf("%s/%s", r->run_dir, name);
        berth_log_info("removing an orphaned pod directory", "path=%s", dir);
        berth_podfiles_remove(dir);
    }
    berth_strv_free(names);
}

/* On the blocking pool: reads every sandbox record, then sweeps what a
 * crash left without one. */
static void restore_job(void *arg)
{
    restore_msg_t *r = arg;
    berth_fs_sweep_partial_records(r->dir, "sandbox");
    berth_fs_load_records(r->dir, "sandbox", &r->records, &r->n);
    sweep_orphans(r);
    for (int i = 0; i < 2 && r->subid_error == NULL; i++) {
        berth_err_t err = NULL;
        if (berth_fs_read_small(r->subid_path[i], 1 << 20, &r->subid_text[i], &err) < 0) {
            r->subid_error = berth_asprintf("cannot read %s (it needs a \"containers\" entry, "
                                            "see subuid(5)): %s",
                                            r->subid_path[i], err->msg);
            berth_err_free(&err);
        }
    }
}

/* The "containers" ranges of the subordinate-ID files, and the ranges the
 * restored pods hold (from their configs: nothing else is stored). */
static void restore_ids(pods_t *p, restore_msg_t *r)
{
    berth_idalloc_t *a[2] = {&p->uids, &p->gids};
    for (int i = 0; i < 2; i++) {
        if (r->subid_error == NULL &&
            berth_idalloc_parse(a[i], r->subid_text[i], "containers") == 0)
            r->subid_error = berth_asprintf("%s has no \"containers\" entry "
                                            "(\"containers:START:COUNT\", see subuid(5))",
                                            r->subid_path[i]);
    }
    p->subid_error = berth_steal_ptr(&r->subid_error);
    BERTH_AUTO_FREE berth_idmaps_t *um = berth_malloc(sizeof(*um));
    BERTH_AUTO_FREE berth_idmaps_t *gm = berth_malloc(sizeof(*gm));
    for (size_t i = 0; i < r->n; i++) {
        const char *id = json_string_value(json_object_get(r->records[i], "id"));
        const char *hex = json_string_value(json_object_get(r->records[i], "config"));
        if (id == NULL || hex == NULL)
            continue;
        Runtime__V1__PodSandboxConfig *c = (Runtime__V1__PodSandboxConfig *)berth_cri_from_hex(
                &runtime__v1__pod_sandbox_config__descriptor, hex);
        if (c && berth_podusers_maps(c, um, gm))
            reserve_maps(p, id, um, gm);
        if (c)
            berth_cri_free(&c->base);
    }
}

static void on_restored(berth_actor_t *self, pods_t *p, restore_msg_t *r)
{
    size_t restored = 0, undone = 0;
    restore_ids(p, r);
    for (size_t i = 0; i < r->n; i++) {
        json_t *rec = r->records[i];
        const char *id = json_string_value(json_object_get(rec, "id"));
        const char *name = json_string_value(json_object_get(rec, "name"));
        if (id == NULL || name == NULL || berth_index_by_id(&p->ix, id, &(bool){false}) != NULL)
            continue;
        r->records[i] = NULL;
        bool creating = json_is_true(json_object_get(rec, "creating"));
        /* The entry is added first: berth_pod_restore takes the record
         * (and the strings in it). */
        entry_t *e = berth_index_add(&p->ix, id, name, BERTH_HANDLE_NONE);
        e->handle = berth_pod_restore(p->cfg, berth_actor_self(self), p->events, rec);
        if (creating)
            undone++;
        else
            restored++;
    }
    berth_log_info("pod sandboxes restored", "restored=%zu interrupted=%zu", restored, undone);
    berth_nrisrv_restore_done();
    berth_index_ready(&p->ix, dispatch, self);
}

static void pods_receive(berth_actor_t *self, berth_msg_t *msg)
{
    pods_t *p = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_CRI_REQUEST:
        if (!berth_index_hold(&p->ix, (berth_cri_req_msg_t *)msg))
            dispatch(self, (berth_cri_req_msg_t *)msg);
        return; /* held, handed on or freed */
    case BERTH_MSG_POD_SUMMARY: {
        berth_pod_summary_msg_t *sm = (berth_pod_summary_msg_t *)msg;
        entry_t *e = berth_index_by_exact_id(&p->ix, sm->summary->id);
        if (e) {
            berth_pod_summary_t *old = SUMMARY(e), *s = sm->summary;
            /* the figures belong to the cgroup and namespace they were read
             * from, and a stopped pod's network is gone */
            if (old && old->state == s->state && same_str(old->cgroup_parent, s->cgroup_parent) &&
                same_str(old->net_ns, s->net_ns))
                s->stats = berth_steal_ptr(&old->stats);
            berth_index_set_summary(&p->ix, e, berth_steal_ptr(&sm->summary));
        }
        break;
    }
    case BERTH_MSG_POD_GONE: {
        /* the pod's ID ranges are free once its namespaces are gone */
        berth_idalloc_release(&p->uids, ((berth_creation_gone_msg_t *)msg)->id);
        berth_idalloc_release(&p->gids, ((berth_creation_gone_msg_t *)msg)->id);
        berth_creation_forget(&p->ix, (berth_creation_gone_msg_t *)msg);
        break;
    }
    case BERTH_MSG_PODS_STATS:
        on_sampled(self, p, (sample_msg_t *)msg);
        break;
    case BERTH_MSG_PODS_RESTORED:
        on_restored(self, p, (restore_msg_t *)msg);
        break;
    case BERTH_MSG_CTRS_INFRA: {
        berth_ctrs_infra_msg_t *im = (berth_ctrs_infra_msg_t *)msg;
        if (berth_handle_valid(p->containers)) {
            /* a failed send (shutdown) leaves the pod to its budget */
            berth_send(p->containers, msg);
            return;
        }
        msg->type = BERTH_MSG_POD_INFRA_READY;
        berth_err_make(&im->error, ESRCH, BERTH_ERR_UNAVAILABLE,
                       "no container manager to run the pause container");
        berth_send(im->reply_to, msg);
        return;
    }
    case BERTH_MSG_CTRS_POD_STATUS: {
        /* a pod's status gets its containers' statuses on the way out */
        berth_ctrs_pod_status_msg_t *sm = (berth_ctrs_pod_status_msg_t *)msg;
        if (berth_handle_valid(p->containers)) {
            berth_send(p->containers, msg); /* a failed send ends the call */
            return;
        }
        /* no containers manager (unit tests): the pod's answer as it is */
        ProtobufCAllocator *a = (ProtobufCAllocator *)berth_alloc_protobuf_allocator();
        Runtime__V1__PodSandboxStatusResponse *resp =
                runtime__v1__pod_sandbox_status_response__unpack(a, sm->len, sm->resp);
        if (resp) {
            berth_cri_reply(sm->call, &resp->base);
            protobuf_c_message_free_unpacked(&resp->base, a);
            berth_grpc_call_unref(sm->call);
            sm->call = NULL;
        }
        berth_msg_free(msg);
        return;
    }
    case BERTH_MSG_CTRS_DOWN:
        /* a pod going down: its containers go first */
        if (berth_handle_valid(p->containers)) {
            berth_send(p->containers, msg);
            return;
        }
        msg->type = BERTH_MSG_CTRS_DOWN_DONE;
        berth_send(((berth_ctrs_down_msg_t *)msg)->reply_to, msg);
        return;
    case BERTH_MSG_POD_INFO_REQ: {
        berth_pod_info_msg_t *im = (berth_pod_info_msg_t *)msg;
        bool amb;
        entry_t *e = p->ix.ready ? berth_index_by_id(&p->ix, im->pod_id, &amb) : NULL;
        if (e == NULL || (e->summary && !SUMMARY(e)->listed)) {
            /* not found, ambiguous, or not delivered to the kubelet yet */
            berth_err_make(&im->error, ENOENT, BERTH_ERR_NOT_FOUND, "pod sandbox %s not found",
                           im->pod_id);
            im->hdr.type = BERTH_MSG_POD_INFO;
            berth_send(im->reply_to, msg);
            return;
        }
        berth_send(e->handle, msg);
        return;
    }
    case BERTH_MSG_GRPC_CANCEL: /* held before the restore: nothing runs yet */
        break;
    default:
        break;
    }
    berth_msg_free(msg);
}

static void pods_fini(void *state)
{
    pods_t *p = state;
    while (p->stats_waiting) {
        stats_wait_t *w = p->stats_waiting;
        p->stats_waiting = w->next;
        berth_msg_free(&w->rm->hdr);
        berth_free(w);
    }
    berth_index_fini(&p->ix);
    berth_idalloc_fini(&p->uids);
    berth_idalloc_fini(&p->gids);
    berth_free(p->subid_error);
    berth_config_unref(p->cfg);
    berth_free(p);
}

static const berth_actor_class_t pods_class = {
        .name = "pods",
        .receive = pods_receive,
        .fini = pods_fini,
};

static void summary_free(void *s)
{
    berth_pod_summary_free(s);
}

void berth_pods_start(berth_handle_t h, berth_config_t *cfg, berth_handle_t containers,
                      berth_handle_t events)
{
    pods_t *p = berth_calloc(1, sizeof(*p));
    p->cfg = berth_config_ref(cfg);
    p->containers = containers;
    p->events = events;
    berth_index_init(&p->ix, summary_free);
    berth_actor_start(h, &pods_class, p);
    restore_msg_t *r = berth_msg_new(BERTH_MSG_PODS_RESTORED, sizeof(*r));
    r->hdr.free = restore_msg_free;
    r->dir = berth_asprintf("%s/pods", cfg->root);
    r->run_dir = berth_asprintf("%s/pods", cfg->runroot);
    r->subid_path[0] = berth_strdup(cfg->subuid_file);
    r->subid_path[1] = berth_strdup(cfg->subgid_file);
    berth_blocking_run(restore_job, r, h, &r->hdr);
}
