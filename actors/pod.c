// SPDX-License-Identifier: Apache-2.0
/*
 * The pod sandbox actor. Creation is a chain of steps, each started in a turn
 * and finished by a message from io/:
 *
 *   prepare (pool: network config, pod dir and files, /dev/shm, intent record)
 *   -> namespaces (pool: create and pin net/ipc/uts)
 *   -> network (CNI ADD chain, its own budget)
 *   -> commit (pool: CNI cache, final record)
 *
 * `made` records what exists so that undo (failure, stash expiry, removal,
 * or an interrupted creation found after a restart) tears down exactly that,
 * in reverse order. The record on disk is written before anything else is
 * made and says `creating` until the commit, so a crash at any point leaves
 * enough to undo. The actor never blocks; stop and remove requests that
 * arrive mid-step wait in a queue until the step ends.
 */
#include "actors/pod.h"

#include <errno.h>
#include <protobuf-c/protobuf-c.h>
#include <string.h>
#include <unistd.h>

#include "actors/ctrmsg.h"
#include "actors/ctrsec.h"
#include "actors/podmsg.h"
#include "actors/creation.h"
#include "actors/cri.h"
#include "actors/events.h"
#include "actors/msgtypes.h"
#include "actors/netstatus.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/fs.h"
#include "io/cni.h"
#include "io/cniconf.h"
#include "io/grpc.h"
#include "io/netns.h"
#include "actors/podusers.h"
#include "io/stream.h"
#include "io/podfiles.h"
#include "actors/nri.h"
#include "actors/nri_update.h"

#define DEFAULT_SHM_SIZE (64ull << 20)

enum made_bits {
    MADE_DIR = 1u << 0,    /* pod directory and its files */
    MADE_SHM = 1u << 1,    /* tmpfs mounted on <pod dir>/shm */
    MADE_RECORD = 1u << 2, /* record file under <root>/pods */
    MADE_NS = 1u << 3,     /* namespace pins */
    MADE_NET = 1u << 4,    /* CNI ADD done */
    MADE_CACHE = 1u << 5,  /* CNI result cached */
    MADE_INFRA = 1u << 6,  /* the pause container (pod-level PID namespace) */
};

enum phase {
    PH_CREATING = BERTH_CREATION_CREATING,
    PH_UNDOING = BERTH_CREATION_UNDOING,
    PH_REMOVING = BERTH_CREATION_REMOVING,
    PH_RELEASING = BERTH_CREATION_RELEASING,
    PH_READY = BERTH_CREATION_LIVE,
    PH_STOPPING,
    PH_NOTREADY,
};

enum step {
    STEP_PREPARE = 1,
    STEP_INTENT,
    STEP_COMMIT,
    STEP_STOP_RECORD,
    STEP_CLEANUP,
};

/* What the containers' going down (BERTH_MSG_CTRS_DOWN_DONE) leads to. */
enum down {
    DOWN_NONE,
    DOWN_UNDO_INFRA, /* an undo or stop entry: the containers are gone */
    DOWN_STOP,       /* StopPodSandbox: then the network and namespaces */
    DOWN_REMOVE,     /* RemovePodSandbox: then everything */
};

typedef struct pod {
    berth_config_t *cfg;
    berth_handle_t mgr;
    berth_handle_t events; /* GetContainerEvents' fan-out; NONE: none */
    /* the last state announced (+1; 0: none yet): see publish */
    int announced;
    char *id, *name, *handler;
    Runtime__V1__PodSandboxConfig *config; /* owned (protobuf allocator) */
    int64_t created_at;
    bool host_net, host_ipc, host_pid;
    int pid_mode, ipc_mode, net_mode;
    char *pod_dir, *record_path, *cache_dir, *pin_dir;
    char *hostname; /* the config's, or the node's when it gives none */
    uint64_t shm_size;
    berth_netns_paths_t ns;
    berth_cni_net_t *net;
    char *net_name;
    char *cni_result;
    char **ips;
    berth_creation_t cr; /* phase, made bits, reservation, request queue */
    int state;           /* Runtime__V1__PodSandboxState */
    bool cache_tried;
    enum down down;  /* waiting for the containers to go, and what follows */
    pid_t infra_pid; /* the pause container's init, 0 without one */
    char *infra_id;
    berth_cri_req_msg_t *nri_updating; /* the UpdatePodSandboxResources at the NRI plugins */
} pod_t;

typedef struct step_msg {
    berth_msg_t hdr; /* BERTH_MSG_POD_STEP */
    int step;
    /* inputs (owned copies: the job shares nothing with the actor) */
    char *pod_dir, *record_path, *cache_dir;
    char *network_dir, **plugin_dirs, *default_network;
    char *hostname, *hosts, *resolv;
    char *record_json;
    char *own_log_dir; /* cleanup: berth's log directory for a pod the kubelet gave none */
    uint64_t shm_size;
    bool want_shm, want_net, umount_shm;
    /* outputs */
    berth_cni_net_t *net;
    bool shm_mounted;
    berth_err_t error;
} step_msg_t;

/* ---- small helpers -------------------------------------------------- */

static void step_msg_free(berth_msg_t *m)
{
    step_msg_t *s = (step_msg_t *)m;
    berth_free(s->pod_dir);
    berth_free(s->record_path);
    berth_free(s->cache_dir);
    berth_free(s->network_dir);
    berth_strv_free(s->plugin_dirs);
    berth_free(s->default_network);
    berth_free(s->hostname);
    berth_free(s->hosts);
    berth_free(s->resolv);
    berth_free(s->record_json);
    berth_free(s->own_log_dir);
    berth_cni_net_unref(s->net);
    berth_err_free(&s->error);
    berth_free(s);
}

static step_msg_t *step_new(pod_t *p, int step)
{
    step_msg_t *s = berth_msg_new(BERTH_MSG_POD_STEP, sizeof(*s));
    s->hdr.free = step_msg_free;
    s->step = step;
    s->pod_dir = berth_strdup(p->pod_dir);
    s->record_path = berth_strdup(p->record_path);
    s->cache_dir = berth_strdup(p->cache_dir);
    return s;
}

static const char *annotation(const Runtime__V1__PodSandboxConfig *c, const char *key)
{
    for (size_t i = 0; c && i < c->n_annotations; i++) {
        if (strcmp(c->annotations[i]->key, key) == 0)
            return c->annotations[i]->value;
    }
    return NULL;
}

/* One rule for every annotation berth honours (actors/ctrsec.h): a prefix
 * in the handler's allowed_annotations, a debug line when not allowed. */
static bool annotation_allowed(const pod_t *p, const char *key)
{
    return berth_ctrsec_annotation_allowed(p->cfg, p->handler, key);
}

/* Parses a Kubernetes quantity such as "64Mi", "1G" or "1048576". */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    static const struct {
        const char *sfx;
        uint64_t mul;
    } units[] = {{"", 1},           {"k", 1000},       {"K", 1000},      {"M", 1000000},
                 {"G", 1000000000}, {"Ki", 1024},      {"Mi", 1u << 20}, {"Gi", 1u << 30},
                 {"m", 1000000},    {"g", 1000000000}, {"b", 1}};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(units); i++) {
        if (strcmp(end, units[i].sfx) == 0) {
            if (v > UINT64_MAX / units[i].mul)
                return -1;
            *out = v * units[i].mul;
            return 0;
        }
    }
    return -1;
}

/* ---- the record ----------------------------------------------------------- */

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static char *record_json(const pod_t *p, bool creating)
{
    BERTH_AUTO_FREE char *hex = berth_cri_to_hex(&p->config->base);
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:b, s:I, s:i, s:s, s:I, s:i}", "version", 1, "id",
                          p->id, "name", p->name, "handler", p->handler, "creating", creating,
                          "created_at", (json_int_t)p->created_at, "state", p->state, "config", hex,
                          "shm_size", (json_int_t)p->shm_size, "made", (int)p->cr.made);
    json_object_set_new(o, "net_ns", p->ns.net ? json_string(p->ns.net) : json_null());
    json_object_set_new(o, "ipc_ns", p->ns.ipc ? json_string(p->ns.ipc) : json_null());
    json_object_set_new(o, "uts_ns", p->ns.uts ? json_string(p->ns.uts) : json_null());
    json_object_set_new(o, "user_ns", p->ns.user ? json_string(p->ns.user) : json_null());
    json_object_set_new(o, "network", p->net_name ? json_string(p->net_name) : json_null());
    /* The network as it is used now: DEL after a crash needs it even when
     * the ADD never finished (no cached result) or the conflist changed. */
    json_object_set_new(o, "net_conf",
                        p->net ? json_string(berth_cni_net_json(p->net)) : json_null());
    json_object_set_new(o, "ips", strv_json(p->ips));
    json_object_set_new(o, "infra_pid", json_integer(p->infra_pid));
    json_object_set_new(o, "infra_id", p->infra_id ? json_string(p->infra_id) : json_null());
    char *out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return out;
}

/* ---- blocking jobs ------------------------------------------------------------ */

static void prepare_job(void *arg)
{
    step_msg_t *s = arg;
    if (s->want_net) {
        char *why = NULL;
        BERTH_AUTO_FREE char *conf = berth_cniconf_pick(
                s->network_dir, (const char *const *)s->plugin_dirs, s->default_network, &why);
        if (conf == NULL) {
            berth_err_make(&s->error, ENOENT, BERTH_ERR_PRECONDITION,
                           "pod network is not ready: %s", why);
            berth_free(why);
            return;
        }
        s->net = berth_cni_net_load(conf, &s->error);
        if (s->net == NULL)
            return;
    }
    berth_podfiles_t f = {
            .dir = s->pod_dir,
            .hostname = s->hostname,
            .hosts = s->hosts,
            .resolv = s->resolv,
            .shm_size = s->want_shm ? s->shm_size : 0,
    };
    berth_podfiles_make(&f, &s->shm_mounted, &s->error);
}

static void write_record_job(void *arg)
{
    step_msg_t *s = arg;
    if (berth_fs_mkdir_parent(s->record_path, 0700, &s->error) < 0)
        return;
    if (s->umount_shm)
        berth_podfiles_release_shm(s->pod_dir);
    berth_file_write_atomic(s->record_path, s->record_json, strlen(s->record_json), 0600,
                            &s->error);
}

static void cleanup_job(void *arg)
{
    step_msg_t *s = arg;
    /* Idempotent by design: every step tolerates "already gone", so a
     * cleanup can be repeated after a crash in the middle of one. */
    berth_podfiles_remove(s->pod_dir);
    berth_err_t e = NULL;
    if (berth_cni_cache_remove(s->cache_dir, strrchr(s->pod_dir, '/') + 1, NULL, &e) < 0) {
        berth_log_warn("cannot remove the CNI cache", "error=\"%s\"", e->msg);
        berth_err_free(&e);
    }
    /* the logs berth kept for a pod without a kubelet log directory go with
     * the pod, as the kubelet removes its own */
    if (s->own_log_dir)
        berth_fs_remove_tree(s->own_log_dir);
    berth_fs_unlink(s->record_path, "sandbox record", &s->error);
}

/* ---- publishing ------------------------------------------------------------ */

/* A sandbox event: CRI-O's convention, the sandbox's ID as container_id. */
static void announce(pod_t *p, int type)
{
    if (!berth_handle_valid(p->events))
        return;
    const Runtime__V1__PodSandboxConfig *c = p->config;
    Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    md.name = c->metadata->name;
    md.uid = c->metadata->uid;
    md.namespace_ = c->metadata->namespace_;
    md.attempt = c->metadata->attempt;
    Runtime__V1__PodSandboxStatus st = RUNTIME__V1__POD_SANDBOX_STATUS__INIT;
    st.id = p->id;
    st.metadata = &md;
    st.state = p->state;
    st.created_at = p->created_at;
    st.runtime_handler = p->handler;
    Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
    ev.container_id = p->id;
    ev.container_event_type = type;
    ev.created_at = (int64_t)berth_wall_ns();
    ev.pod_sandbox_status = &st;
    berth_events_publish(p->events, &ev);
}

static void publish(void *owner)
{
    pod_t *p = owner;
    berth_pod_summary_t *s = berth_calloc(1, sizeof(*s));
    const Runtime__V1__PodSandboxConfig *c = p->config;
    s->id = berth_strdup(p->id);
    s->name = berth_strdup(p->name);
    s->pod_name = berth_strdup(c->metadata->name);
    s->pod_uid = berth_strdup(c->metadata->uid);
    s->pod_namespace = berth_strdup(c->metadata->namespace_);
    s->attempt = c->metadata->attempt;
    s->state = p->state;
    s->created_at = p->created_at;
    s->runtime_handler = berth_strdup(p->handler);
    berth_kv_copy(&s->labels, c->n_labels, (ProtobufCMessage *const *)c->labels);
    berth_kv_copy(&s->annotations, c->n_annotations, (ProtobufCMessage *const *)c->annotations);
    s->listed = berth_creation_listed(&p->cr);
    s->cgroup_parent =
            berth_strdup(c->linux && c->linux->cgroup_parent ? c->linux->cgroup_parent : "");
    s->net_ns = p->ns.net ? berth_strdup(p->ns.net) : NULL;
    berth_pod_summary_msg_t *m = berth_msg_new(BERTH_MSG_POD_SUMMARY, sizeof(*m));
    m->summary = s;
    berth_send(p->mgr, &m->hdr);
    /* Every state change goes through here; from this actor only, so one
     * sandbox's events stay in order. Ready: created and started (a
     * sandbox runs once made); not ready after that: stopped. */
    if (s->listed && p->announced != p->state + 1) {
        bool ready = p->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
        if (ready && p->announced == 0) {
            announce(p, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
            announce(p, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
        } else if (!ready && p->announced != 0) {
            announce(p, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
        }
        if (ready || p->announced != 0)
            p->announced = p->state + 1;
    }
}

static void removed(berth_actor_t *self, void *owner)
{
    (void)self;
    pod_t *p = owner;
    if (p->announced)
        announce(p, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
}

/* ---- creation steps ------------------------------------------------------------ */

static berth_pod_info_t *pod_info(const pod_t *p);
static int apply_annotations(pod_t *p, berth_err_t *err);

static void step_annotations(berth_actor_t *self, void *owner)
{
    pod_t *p = owner;
    berth_err_t err = NULL;
    if (apply_annotations(p, &err) < 0)
        return berth_creation_fail(self, &p->cr, err);
    berth_creation_next(self, &p->cr);
}

static void step_prepare(berth_actor_t *self, void *owner)
{
    pod_t *p = owner;
    step_msg_t *s = step_new(p, STEP_PREPARE);
    s->want_net = !p->host_net;
    s->network_dir = berth_strdup(p->cfg->network_dir);
    s->plugin_dirs = berth_strv_dup(p->cfg->plugin_dirs.v, -1);
    s->default_network = berth_strdup(p->cfg->cni_default_network);
    s->hostname = berth_asprintf("%s\n", p->hostname);
    s->hosts = berth_podfiles_hosts(p->hostname);
    const Runtime__V1__DNSConfig *d = p->config->dns_config;
    /* without a DNS config the host's resolv.conf is bind-mounted instead */
    s->resolv = d ? berth_podfiles_resolv((const char *const *)d->servers, d->n_servers,
                                          (const char *const *)d->searches, d->n_searches,
                                          (const char *const *)d->options, d->n_options)
                  : NULL;
    s->want_shm = !p->host_ipc;
    s->shm_size = p->shm_size;
    berth_blocking_run(prepare_job, s, berth_actor_self(self), &s->hdr);
}

static void write_record(berth_actor_t *self, pod_t *p, int step, bool creating, bool umount_shm)
{
    step_msg_t *s = step_new(p, step);
    s->record_json = record_json(p, creating);
    s->umount_shm = umount_shm;
    berth_blocking_run(write_record_job, s, berth_actor_self(self), &s->hdr);
}

/* The intent record goes to disk before any namespace or network exists,
 * so a crash from here on is undone at the next start. */
static void step_intent(berth_actor_t *self, void *owner)
{
    pod_t *p = owner;
    p->cr.made |= MADE_RECORD;
    write_record(self, p, STEP_INTENT, true, false);
}

static void step_namespaces(berth_actor_t *self, void *owner)
{
    pod_t *p = owner;
    unsigned kinds = 0;
    if (!p->host_net)
        kinds |= BERTH_NETNS_NET | BERTH_NETNS_UTS;
    if (!p->host_ipc)
        kinds |= BERTH_NETNS_IPC;
    const Runtime__V1__LinuxPodSandboxConfig *lx = p->config->linux;
    size_t nsys = lx ? lx->n_sysctls : 0;
    BERTH_AUTO_FREE berth_sysctl_t *sys = berth_calloc(nsys + 1, sizeof(*sys));
    for (size_t i = 0; i < nsys; i++) {
        sys[i].key = lx->sysctls[i]->key;
        sys[i].value = lx->sysctls[i]->value;
    }
    const char *hn = p->hostname;
    BERTH_AUTO_FREE berth_idmaps_t *um = berth_malloc(sizeof(*um));
    BERTH_AUTO_FREE berth_idmaps_t *gm = berth_malloc(sizeof(*gm));
    bool user = berth_podusers_maps(p->config, um, gm);
    berth_netns_spec_t spec = {
            .uid_map = user ? um : NULL,
            .gid_map = user ? gm : NULL,
            .pin_dir = p->pin_dir,
            .pod_id = p->id,
            .kinds = kinds,
            .hostname = hn,
            .sysctls = sys,
            .nsysctls = nsys,
    };
    berth_netns_create_async(&spec, berth_actor_self(self), 0);
}

static char *port_mappings_json(const pod_t *p)
{
    if (p->config->n_port_mappings == 0)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < p->config->n_port_mappings; i++) {
        const Runtime__V1__PortMapping *pm = p->config->port_mappings[i];
        if (pm->host_port <= 0)
            continue;
        const char *proto = pm->protocol == RUNTIME__V1__PROTOCOL__UDP    ? "udp"
                            : pm->protocol == RUNTIME__V1__PROTOCOL__SCTP ? "sctp"
                                                                          : "tcp";
        json_t *o = json_pack("{s:i, s:i, s:s}", "hostPort", pm->host_port, "containerPort",
                              pm->container_port, "protocol", proto);
        if (pm->host_ip && pm->host_ip[0])
            json_object_set_new(o, "hostIP", json_string(pm->host_ip));
        json_array_append_new(a, o);
    }
    char *out = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return out;
}

/* ADD and DEL get the same arguments (libcni does the same): portmap finds
 * the rules to remove through the capability arguments. */
static int cni_run(berth_actor_t *self, pod_t *p, int op, uint64_t tag, berth_err_t *err)
{
    BERTH_AUTO_FREE char *ports = port_mappings_json(p);
    berth_cni_run_spec_t spec = {
            .op = op,
            .net = p->net,
            .container_id = p->id,
            .netns = p->ns.net,
            .pod_namespace = p->config->metadata->namespace_,
            .pod_name = p->config->metadata->name,
            .pod_uid = p->config->metadata->uid,
            .plugin_dirs = (const char *const *)p->cfg->plugin_dirs.v,
            .prev_result_json = op == BERTH_CNI_DEL ? p->cni_result : NULL,
            .port_mappings_json = ports,
            .timeout_ns = (uint64_t)p->cfg->cni_budget_ns,
    };
    return berth_cni_run(berth_actor_self(self), &spec, tag, err);
}

static bool host_net(const void *owner)
{
    return ((const pod_t *)owner)->host_net;
}

static void step_network(berth_actor_t *self, void *owner)
{
    pod_t *p = owner;
    /* Stage texts are static; the network's name goes to the log. */
    berth_log_debug("CNI ADD", "id=%s network=%s", p->id, p->net_name);
    berth_err_t err = NULL;
    if (cni_run(self, p, BERTH_CNI_ADD, BERTH_CNI_ADD, &err) < 0)
        berth_creation_fail(self, &p->cr, err);
}

/* The ADD's result, for DEL after a restart, before the final record. */
static void step_cni_cache(berth_actor_t *self, void *owner)
{
    pod_t *p = owner;
    berth_cni_cache_write_async(p->cache_dir, p->id, p->net, p->cni_result, berth_actor_self(self),
                                0);
}

/* The pause container, only when the pod asks for a pod-level PID namespace
 * (the only case an infra-less pod needs a process of its own). */
static bool no_infra(const void *owner)
{
    const pod_t *p = owner;
    return p->pid_mode != RUNTIME__V1__NAMESPACE_MODE__POD || p->infra_pid != 0;
}

static void step_infra(berth_actor_t *self, void *owner)
{
    pod_t *p = owner;
    p->cr.made |= MADE_INFRA; /* from here on, undo removes the pod's containers */
    berth_pod_info_t *info = pod_info(p);
    info->ready = true;
    berth_ctrs_infra_msg_t *im =
            berth_ctrs_infra_new(BERTH_MSG_CTRS_INFRA, info, berth_actor_self(self));
    berth_send(p->mgr, &im->hdr);
}

/* NRI's RunPodSandbox, once the pod is whole and before it is delivered:
 * a plugin's refusal fails the creation and undo removes all of it. */
static bool no_nri(const void *owner)
{
    (void)owner;
    return !berth_nrisrv_enabled();
}

static void step_nri(berth_actor_t *self, void *owner)
{
    pod_t *p = owner;
    berth_nrisrv_hook_send(berth_nri_pod_hook("RunPodSandbox", BERTH_NRI_RUN_POD_SANDBOX, p->id,
                                              p->config, p->handler, berth_actor_self(self),
                                              BERTH_MSG_POD_NRI));
}

static void on_nri(berth_actor_t *self, pod_t *p, berth_nrisrv_hook_t *h)
{
    if (p->cr.phase != PH_CREATING)
        return;
    if (h->error) {
        berth_err_t err = berth_steal_ptr(&h->error);
        berth_err_prefix(&err, "RunPodSandbox");
        return berth_creation_fail(self, &p->cr, err);
    }
    berth_creation_next(self, &p->cr);
}

/* A notification to the NRI plugins that nobody waits for. */
static void nri_notify(const pod_t *p, const char *method, int event)
{
    if (berth_nrisrv_enabled())
        berth_nrisrv_hook_send(berth_nri_pod_hook(method, event, p->id, p->config, p->handler,
                                                  BERTH_HANDLE_NONE, 0));
}

/* The record says READY: a restart after it finds a live pod. */
static void step_commit(berth_actor_t *self, void *owner)
{
    pod_t *p = owner;
    p->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
    write_record(self, p, STEP_COMMIT, false, false);
}

static const berth_creation_step_t steps[] = {
        {"checking the annotations", NULL, step_annotations},
        {"preparing the pod directory", NULL, step_prepare},
        {"writing the sandbox record", NULL, step_intent},
        {"creating the pod namespaces", NULL, step_namespaces},
        {"setting up the pod network (CNI ADD)", host_net, step_network},
        {"writing the sandbox record", host_net, step_cni_cache},
        {"starting the pause container", no_infra, step_infra},
        {"calling the NRI plugins (RunPodSandbox)", no_nri, step_nri},
        {"writing the sandbox record", NULL, step_commit},
};

static void created(berth_actor_t *self, void *owner)
{
    (void)self;
    pod_t *p = owner;
    p->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
    berth_log_info("pod sandbox ready", "name=%s id=%s ip=%s took_ms=%.1f", p->name, p->id,
                   p->ips && p->ips[0] ? p->ips[0] : "none",
                   (double)(berth_now_ns() - p->cr.resv.started_ns) / 1e6);
}

/* ---- undo, stop, remove --------------------------------------------------------- */

/* Stop and remove take the pod's containers down first (the CRI: stopping
 * a sandbox terminates its containers; removing it removes them). */
static void containers_down(berth_actor_t *self, pod_t *p, bool remove, enum down next)
{
    p->down = next;
    berth_ctrs_down_msg_t *d =
            berth_ctrs_down_new(BERTH_MSG_CTRS_DOWN, p->id, remove, berth_actor_self(self), 0);
    berth_send(p->mgr, &d->hdr);
}

/* The pause container (and any other container) goes first. */
static void undo_infra(berth_actor_t *self, void *owner, bool full)
{
    pod_t *p = owner;
    if (!full)
        p->infra_pid = 0; /* stopped: its PID namespace is gone */
    containers_down(self, p, full, DOWN_UNDO_INFRA);
}

static void undo_network(berth_actor_t *self, void *owner, bool full)
{
    (void)full;
    pod_t *p = owner;
    if (p->cni_result == NULL && (p->cr.made & MADE_CACHE) && !p->cache_tried) {
        /* After a restart: the ADD result (DEL's prevResult) and the network
         * as it was at ADD time come from the cache; then this runs again. */
        p->cache_tried = true;
        berth_cni_cache_read_async(p->cache_dir, p->id, p->net_name ? p->net_name : "",
                                   berth_actor_self(self), 1);
        return;
    }
    if (p->net == NULL) {
        berth_log_warn("no network configuration left for CNI DEL; skipping it", "id=%s", p->id);
        return berth_creation_undone(self, &p->cr, MADE_NET);
    }
    berth_err_t err = NULL;
    if (cni_run(self, p, BERTH_CNI_DEL, BERTH_CNI_DEL, &err) < 0) {
        berth_log_error("CNI DEL could not start", "id=%s error=\"%s\"", p->id, err->msg);
        berth_err_free(&err);
        /* The network counts as gone so teardown goes on; host-local's
         * address stays allocated until its lease directory is cleaned. */
        berth_creation_undone(self, &p->cr, MADE_NET);
    }
}

static void undo_namespaces(berth_actor_t *self, void *owner, bool full)
{
    (void)full;
    pod_t *p = owner;
    berth_netns_remove_async(&p->ns, berth_actor_self(self), 0);
}

/* The pod directory, shm, record and CNI cache in one pool job: a removal
 * or undo only (a stop keeps them). */
static void undo_files(berth_actor_t *self, void *owner, bool full)
{
    (void)full;
    pod_t *p = owner;
    step_msg_t *s = step_new(p, STEP_CLEANUP);
    if (p->config && (p->config->log_directory == NULL || p->config->log_directory[0] == '\0'))
        s->own_log_dir = berth_asprintf("%s/%s", p->cfg->log_dir, p->id);
    berth_blocking_run(cleanup_job, s, berth_actor_self(self), &s->hdr);
}

#define MADE_FILES (MADE_DIR | MADE_SHM | MADE_RECORD | MADE_CACHE)

static const berth_creation_undo_t undo[] = {
        {MADE_INFRA, undo_infra},
        {MADE_NET, undo_network},
        {MADE_NS, undo_namespaces},
        {MADE_FILES, undo_files},
};

/* A stop's teardown ended: shm unmounted and NOTREADY recorded in one job. */
static void stop_torn(berth_actor_t *self, berth_creation_t *cr)
{
    pod_t *p = cr->owner;
    bool shm = p->cr.made & MADE_SHM;
    p->cr.made &= ~MADE_SHM;
    p->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
    write_record(self, p, STEP_STOP_RECORD, false, shm);
}

static void on_stop(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    pod_t *p = owner;
    if (p->cr.phase == PH_NOTREADY) {
        Runtime__V1__StopPodSandboxResponse resp = RUNTIME__V1__STOP_POD_SANDBOX_RESPONSE__INIT;
        berth_cri_reply(rm->call, &resp.base);
        berth_msg_free(&rm->hdr);
        return;
    }
    berth_creation_wait(&p->cr, rm);
    p->cr.phase = PH_STOPPING;
    containers_down(self, p, false, DOWN_STOP);
}

static void on_remove(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    pod_t *p = owner;
    berth_creation_wait(&p->cr, rm);
    if (p->cr.phase == PH_READY)
        nri_notify(p, "StopPodSandbox", BERTH_NRI_STOP_POD_SANDBOX);
    if (p->cr.phase == PH_READY || p->cr.phase == PH_NOTREADY)
        nri_notify(p, "RemovePodSandbox", BERTH_NRI_REMOVE_POD_SANDBOX);
    /* A stashed (undelivered) pod that is removed is released too. */
    if (p->cr.resv.stash_timer) {
        berth_timer_cancel(self, p->cr.resv.stash_timer);
        p->cr.resv.stash_timer = NULL;
    }
    p->cr.phase = PH_REMOVING;
    containers_down(self, p, true, DOWN_REMOVE);
}

static void on_containers_down(berth_actor_t *self, pod_t *p)
{
    enum down d = p->down;
    p->down = DOWN_NONE;
    switch (d) {
    case DOWN_UNDO_INFRA:
        berth_creation_undone(self, &p->cr, MADE_INFRA);
        return;
    case DOWN_STOP:
        berth_creation_teardown(self, &p->cr, MADE_INFRA | MADE_NET | MADE_NS, false, stop_torn);
        return;
    case DOWN_REMOVE:
        berth_creation_remove(self, &p->cr);
        return;
    case DOWN_NONE:
    default:
        return;
    }
}

/* Infra-less pods have no pod-level process to resize; containers get their
 * resources from their own updates. With NRI, the plugins' UpdatePodSandbox
 * sees the new limits first and may refuse them (on_nri_update). */
static void on_update_resources(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    pod_t *p = owner;
    const Runtime__V1__UpdatePodSandboxResourcesRequest *r =
            (const Runtime__V1__UpdatePodSandboxResourcesRequest *)rm->req;
    if (berth_nrisrv_enabled()) {
        if (p->nri_updating)
            return berth_cri_fail(rm, BERTH_ERR_ABORTED,
                                  "UpdatePodSandboxResources: pod %s is being updated already; "
                                  "retry",
                                  p->id);
        berth_nrisrv_hook_t *h = berth_nri_pod_hook(
                "UpdatePodSandbox", BERTH_NRI_UPDATE_POD_SANDBOX, p->id, p->config, p->handler,
                berth_actor_self(self), BERTH_MSG_POD_NRI_UPDATE);
        /* UpdatePodSandboxRequest: the pod, the overhead, the limits */
        if (r->overhead)
            berth_nri_res_append_cri(&h->payload, &h->len, 2, r->overhead);
        if (r->resources)
            berth_nri_res_append_cri(&h->payload, &h->len, 3, r->resources);
        p->nri_updating = rm;
        berth_nrisrv_hook_send(h);
        return;
    }
    Runtime__V1__UpdatePodSandboxResourcesResponse resp =
            RUNTIME__V1__UPDATE_POD_SANDBOX_RESOURCES_RESPONSE__INIT;
    berth_cri_reply(rm->call, &resp.base);
    berth_msg_free(&rm->hdr);
}

static void on_nri_update(pod_t *p, berth_nrisrv_hook_t *h)
{
    berth_cri_req_msg_t *rm = berth_steal_ptr(&p->nri_updating);
    if (rm == NULL)
        return;
    if (h->error) {
        berth_err_t err = berth_steal_ptr(&h->error);
        berth_err_prefix(&err, "UpdatePodSandboxResources");
        berth_cri_finish_err(rm->call, err);
        berth_err_free(&err);
        berth_msg_free(&rm->hdr);
        return;
    }
    nri_notify(p, "PostUpdatePodSandbox", BERTH_NRI_POST_UPDATE_POD_SANDBOX);
    Runtime__V1__UpdatePodSandboxResourcesResponse resp =
            RUNTIME__V1__UPDATE_POD_SANDBOX_RESOURCES_RESPONSE__INIT;
    berth_cri_reply(rm->call, &resp.base);
    berth_msg_free(&rm->hdr);
}

/* ---- status -------------------------------------------------------------------- */

static void on_status(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    (void)self;
    pod_t *p = owner;
    const Runtime__V1__PodSandboxStatusRequest *r =
            (const Runtime__V1__PodSandboxStatusRequest *)rm->req;
    const Runtime__V1__PodSandboxConfig *c = p->config;
    Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    md.name = c->metadata->name;
    md.uid = c->metadata->uid;
    md.namespace_ = c->metadata->namespace_;
    md.attempt = c->metadata->attempt;
    Runtime__V1__PodSandboxNetworkStatus net = RUNTIME__V1__POD_SANDBOX_NETWORK_STATUS__INIT;
    size_t nips = 0;
    while (p->ips && p->ips[nips])
        nips++;
    BERTH_AUTO_FREE Runtime__V1__PodIP *extra = berth_calloc(nips + 1, sizeof(*extra));
    BERTH_AUTO_FREE Runtime__V1__PodIP **extrap = berth_calloc(nips + 1, sizeof(*extrap));
    bool has_net = p->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY && nips > 0;
    if (has_net) {
        net.ip = p->ips[0];
        for (size_t i = 1; i < nips; i++) {
            runtime__v1__pod_ip__init(&extra[i - 1]);
            extra[i - 1].ip = p->ips[i];
            extrap[i - 1] = &extra[i - 1];
        }
        net.n_additional_ips = nips - 1;
        net.additional_ips = extrap;
    }
    Runtime__V1__NamespaceOption nso = RUNTIME__V1__NAMESPACE_OPTION__INIT;
    nso.network = p->net_mode;
    nso.pid = p->pid_mode;
    nso.ipc = p->ipc_mode;
    /* The user namespace as asked (mode and mappings), borrowed. */
    const Runtime__V1__LinuxPodSandboxConfig *clx = c->linux;
    if (clx && clx->security_context && clx->security_context->namespace_options)
        nso.userns_options = clx->security_context->namespace_options->userns_options;
    Runtime__V1__Namespace ns = RUNTIME__V1__NAMESPACE__INIT;
    ns.options = &nso;
    Runtime__V1__LinuxPodSandboxStatus lx = RUNTIME__V1__LINUX_POD_SANDBOX_STATUS__INIT;
    lx.namespaces = &ns;
    Runtime__V1__PodSandboxStatus st = RUNTIME__V1__POD_SANDBOX_STATUS__INIT;
    st.id = p->id;
    st.metadata = &md;
    st.state = p->state;
    st.created_at = p->created_at;
    st.network = &net;
    st.linux = &lx;
    st.runtime_handler = p->handler;
    /* Status has its own map entry types: the config's entries are copied
     * into them (strings borrowed). */
    BERTH_AUTO_FREE void *labels =
            berth_cri_map_copy(&runtime__v1__pod_sandbox_status__labels_entry__descriptor,
                               c->n_labels, (ProtobufCMessage *const *)c->labels);
    BERTH_AUTO_FREE void *annotations =
            berth_cri_map_copy(&runtime__v1__pod_sandbox_status__annotations_entry__descriptor,
                               c->n_annotations, (ProtobufCMessage *const *)c->annotations);
    st.n_labels = c->n_labels;
    st.labels = labels;
    st.n_annotations = c->n_annotations;
    st.annotations = annotations;
    Runtime__V1__PodSandboxStatusResponse resp = RUNTIME__V1__POD_SANDBOX_STATUS_RESPONSE__INIT;
    resp.status = &st;
    resp.timestamp = (int64_t)berth_wall_ns();
    BERTH_AUTO_FREE char *infojson = NULL;
    BERTH_AUTO_FREE void *infomap = NULL;
    if (r->verbose) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:b}", "name", p->name,
                              "podDir", p->pod_dir, "stage", p->cr.resv.stage, "netNS", p->ns.net,
                              "ipcNS", p->ns.ipc, "utsNS", p->ns.uts, "network", p->net_name,
                              "cniResult", p->cni_result, "infraContainer", false);
        infomap = berth_cri_info(&runtime__v1__pod_sandbox_status_response__info_entry__descriptor,
                                 o, &infojson, &resp.n_info);
        resp.info = infomap;
    }
    /* the containers manager adds the containers' statuses and answers */
    size_t len;
    uint8_t *packed = berth_cri_pack(&resp.base, &len);
    berth_ctrs_pod_status_msg_t *sm =
            berth_ctrs_pod_status_new(berth_steal_ptr(&rm->call), packed, len, p->id);
    berth_send(p->mgr, &sm->hdr);
    berth_msg_free(&rm->hdr);
}

/* ---- info for containers ---------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? berth_strdup(s) : NULL;
}

static berth_pod_info_t *pod_info(const pod_t *p)
{
    berth_pod_info_t *i = berth_calloc(1, sizeof(*i));
    const Runtime__V1__PodSandboxConfig *c = p->config;
    i->id = berth_strdup(p->id);
    i->name = berth_strdup(p->name);
    i->handler = berth_strdup(p->handler);
    i->pod_name = berth_strdup(c->metadata->name);
    i->pod_namespace = berth_strdup(c->metadata->namespace_);
    i->pod_uid = berth_strdup(c->metadata->uid);
    i->hostname = berth_strdup(p->hostname);
    i->log_directory = berth_strdup(c->log_directory ? c->log_directory : "");
    i->cgroup_parent =
            berth_strdup(c->linux && c->linux->cgroup_parent ? c->linux->cgroup_parent : "");
    i->hosts_path = berth_asprintf("%s/hosts", p->pod_dir);
    i->hostname_path = berth_asprintf("%s/hostname", p->pod_dir);
    i->resolv_path = c->dns_config ? berth_asprintf("%s/resolv.conf", p->pod_dir)
                                   : berth_strdup("/etc/resolv.conf");
    i->shm_path = p->host_ipc ? berth_strdup("/dev/shm") : berth_asprintf("%s/shm", p->pod_dir);
    i->net_ns = dup_or_null(p->ns.net);
    i->ipc_ns = dup_or_null(p->ns.ipc);
    i->uts_ns = dup_or_null(p->ns.uts);
    if (berth_podusers_maps(c, &i->uid_map, &i->gid_map))
        i->user_ns = dup_or_null(p->ns.user);
    i->pid_ns = p->infra_pid ? berth_asprintf("/proc/%d/ns/pid", (int)p->infra_pid) : NULL;
    i->pid_mode = p->pid_mode;
    i->state = p->state;
    i->ready = p->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
    return i;
}

/* ---- requests ----------------------------------------------------------------------- */

/* PortForward answers a URL of the streaming server (io/stream.h): the
 * connections into the pod's network namespace are made when the client
 * comes to it. */
static void on_port_forward(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    (void)self;
    pod_t *p = owner;
    const Runtime__V1__PortForwardRequest *r = (const Runtime__V1__PortForwardRequest *)rm->req;
    if (p->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
        return berth_cri_fail(rm, BERTH_ERR_PRECONDITION,
                              "PortForward: pod sandbox %s is not ready", p->id);
    for (size_t i = 0; i < r->n_port; i++)
        if (r->port[i] < 1 || r->port[i] > 65535)
            return berth_cri_fail(rm, BERTH_ERR_INVALID,
                                  "PortForward: port %d is not a TCP port (1-65535)",
                                  (int)r->port[i]);
    berth_stream_req_t *q = berth_calloc(1, sizeof(*q));
    q->kind = BERTH_STREAM_PORTFORWARD;
    q->id = berth_strdup(p->id);
    q->netns = p->ns.net && p->ns.net[0] ? berth_strdup(p->ns.net) : NULL;
    if (r->n_port > 0) {
        q->ports = berth_memdup(r->port, r->n_port * sizeof(int32_t));
        q->nports = r->n_port;
    }
    berth_cri_answer_stream(rm, q, &runtime__v1__port_forward_response__descriptor);
}

static const berth_creation_route_t route_table[] = {
        {"PodSandboxStatus", false, on_status},
        {"PortForward", false, on_port_forward},
        {"UpdatePodSandboxResources", false, on_update_resources},
        {"StopPodSandbox", true, on_stop},
        {"RemovePodSandbox", true, on_remove},
};
static berth_cri_routes_t routes = BERTH_CRI_ROUTES(route_table);

static bool stopping(const void *owner)
{
    return ((const pod_t *)owner)->cr.phase == PH_STOPPING;
}

static const berth_creation_class_t pod_creation = {
        .kind = "pod sandbox",
        .rpc = "RunPodSandbox",
        BERTH_CREATION_TABLES(steps, undo, &routes),
        .gone_type = BERTH_MSG_POD_GONE,
        .reply = &runtime__v1__run_pod_sandbox_response__descriptor,
        .publish = publish,
        .busy = stopping,
        .created = created,
        .removed = removed,
};

/* ---- completions ------------------------------------------------------------------------ */

static void on_step(berth_actor_t *self, pod_t *p, step_msg_t *s)
{
    switch (s->step) {
    case STEP_PREPARE:
        if (s->net) {
            p->net = berth_steal_ptr(&s->net);
            p->net_name = berth_strdup(berth_cni_net_name(p->net));
        }
        /* on a failure the directory may exist partly */
        p->cr.made |= MADE_DIR;
        if (s->shm_mounted)
            p->cr.made |= MADE_SHM;
        if (s->error)
            return berth_creation_fail(self, &p->cr, berth_steal_ptr(&s->error));
        return berth_creation_next(self, &p->cr);
    case STEP_INTENT:
    case STEP_COMMIT:
        if (s->error)
            return berth_creation_fail(self, &p->cr, berth_steal_ptr(&s->error));
        return berth_creation_next(self, &p->cr);
    case STEP_STOP_RECORD: {
        if (s->error)
            berth_log_error("cannot record the stopped sandbox", "id=%s error=\"%s\"", p->id,
                            s->error->msg);
        p->cr.phase = PH_NOTREADY;
        p->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
        berth_log_info("pod sandbox stopped", "name=%s id=%s", p->name, p->id);
        nri_notify(p, "StopPodSandbox", BERTH_NRI_STOP_POD_SANDBOX);
        Runtime__V1__StopPodSandboxResponse resp = RUNTIME__V1__STOP_POD_SANDBOX_RESPONSE__INIT;
        berth_cri_req_msg_t *stops[64];
        size_t n;
        while ((n = berth_creation_take_waiting(&p->cr, "StopPodSandbox", stops, 64)) > 0) {
            for (size_t i = 0; i < n; i++) {
                berth_cri_reply(stops[i]->call, &resp.base);
                berth_msg_free(&stops[i]->hdr);
            }
        }
        publish(p);
        berth_creation_run_queued(self, &p->cr);
        return;
    }
    case STEP_CLEANUP:
        if (s->error)
            berth_log_error("sandbox cleanup incomplete", "id=%s error=\"%s\"", p->id,
                            s->error->msg);
        return berth_creation_undone(self, &p->cr, MADE_FILES);
    default:
        return;
    }
}

static void on_netns(berth_actor_t *self, pod_t *p, berth_netns_done_msg_t *m)
{
    if (m->hdr.type == BERTH_MSG_NETNS_CREATED) {
        if (m->error)
            return berth_creation_fail(self, &p->cr, berth_steal_ptr(&m->error));
        berth_netns_paths_fini(&p->ns);
        berth_netns_paths_copy(&p->ns, &m->paths);
        p->cr.made |= MADE_NS;
        return berth_creation_next(self, &p->cr);
    }
    if (m->error)
        berth_log_error("cannot remove the pod namespaces", "id=%s error=\"%s\"", p->id,
                        m->error->msg);
    berth_creation_undone(self, &p->cr, MADE_NS);
}

static void on_cni(berth_actor_t *self, pod_t *p, berth_cni_done_msg_t *m)
{
    if (m->op == BERTH_CNI_ADD) {
        /* on a failure the runner already rolled back the plugins that added */
        if (m->error)
            return berth_creation_fail(self, &p->cr, berth_steal_ptr(&m->error));
        p->cr.made |= MADE_NET;
        p->cni_result = berth_steal_ptr(&m->result_json);
        p->ips = berth_steal_ptr(&m->ips);
        return berth_creation_next(self, &p->cr);
    }
    if (m->error)
        berth_log_error("CNI DEL failed", "id=%s error=\"%s\"", p->id, m->error->msg);
    berth_creation_undone(self, &p->cr, MADE_NET);
}

static void on_cni_cache(berth_actor_t *self, pod_t *p, berth_cni_cache_msg_t *m)
{
    if (m->tag == 1) {
        /* read after a restart, for DEL */
        if (m->error || m->net == NULL) {
            berth_log_info("no cached CNI result; CNI DEL runs without prevResult", "id=%s", p->id);
        } else {
            berth_cni_net_unref(p->net);
            p->net = berth_steal_ptr(&m->net);
            berth_free(p->cni_result);
            p->cni_result = berth_steal_ptr(&m->result_json);
        }
        return berth_creation_undone(self, &p->cr, 0); /* the DEL now */
    }
    if (m->error)
        return berth_creation_fail(self, &p->cr, berth_steal_ptr(&m->error));
    p->cr.made |= MADE_CACHE;
    berth_creation_next(self, &p->cr);
}

static void on_infra_ready(berth_actor_t *self, pod_t *p, berth_ctrs_infra_msg_t *im)
{
    if (p->cr.phase != PH_CREATING)
        return;
    if (im->error)
        return berth_creation_fail(self, &p->cr, berth_steal_ptr(&im->error));
    p->infra_pid = im->pid;
    p->infra_id = berth_steal_ptr(&im->ctr_id);
    berth_log_info("pause container running", "pod=%s id=%s pid=%d", p->name, p->infra_id,
                   (int)p->infra_pid);
    berth_creation_next(self, &p->cr);
}

static void pod_receive(berth_actor_t *self, berth_msg_t *msg)
{
    pod_t *p = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_POD_STEP:
        on_step(self, p, (step_msg_t *)msg);
        break;
    case BERTH_MSG_NETNS_CREATED:
    case BERTH_MSG_NETNS_REMOVED:
        on_netns(self, p, (berth_netns_done_msg_t *)msg);
        break;
    case BERTH_MSG_CNI_DONE:
        on_cni(self, p, (berth_cni_done_msg_t *)msg);
        break;
    case BERTH_MSG_CNI_CACHE:
        on_cni_cache(self, p, (berth_cni_cache_msg_t *)msg);
        break;
    case BERTH_MSG_POD_START:
        if (p->cr.phase == PH_CREATING)
            berth_creation_begin(self, &p->cr);
        else if (p->cr.phase == PH_UNDOING)
            berth_creation_undo_restored(self, &p->cr);
        else
            publish(p);
        break;
    case BERTH_MSG_POD_INFO_REQ: {
        berth_pod_info_msg_t *im = (berth_pod_info_msg_t *)msg;
        im->hdr.type = BERTH_MSG_POD_INFO;
        if (p->cr.phase == PH_RELEASING || p->cr.phase == PH_REMOVING ||
            p->cr.phase == PH_UNDOING) {
            berth_err_make(&im->error, ENOENT, BERTH_ERR_NOT_FOUND,
                           "pod sandbox %s is being removed", p->id);
        } else {
            im->info = pod_info(p);
        }
        berth_send(im->reply_to, msg);
        return;
    }
    case BERTH_MSG_POD_NRI:
        on_nri(self, p, (berth_nrisrv_hook_t *)msg);
        break;
    case BERTH_MSG_POD_NRI_UPDATE:
        on_nri_update(p, (berth_nrisrv_hook_t *)msg);
        break;
    case BERTH_MSG_POD_INFRA_READY:
        on_infra_ready(self, p, (berth_ctrs_infra_msg_t *)msg);
        break;
    case BERTH_MSG_CTRS_DOWN_DONE:
        on_containers_down(self, p);
        break;
    default:
        if (berth_creation_on_msg(self, &p->cr, msg))
            return; /* consumed */
        break;
    }
    berth_msg_free(msg);
}

static void pod_fini(void *state)
{
    pod_t *p = state;
    berth_creation_fini(&p->cr);
    if (p->config)
        berth_cri_free(&p->config->base);
    berth_cni_net_unref(p->net);
    berth_netns_paths_fini(&p->ns);
    berth_strv_free(p->ips);
    berth_free(p->cni_result);
    berth_free(p->net_name);
    berth_free(p->id);
    berth_free(p->name);
    berth_free(p->handler);
    berth_free(p->pod_dir);
    berth_free(p->record_path);
    berth_free(p->cache_dir);
    berth_free(p->pin_dir);
    berth_free(p->hostname);
    berth_free(p->infra_id);
    if (p->nri_updating)
        berth_cri_fail(p->nri_updating, BERTH_ERR_UNAVAILABLE,
                       "UpdatePodSandboxResources: the pod went away meanwhile");
    berth_config_unref(p->cfg);
    berth_free(p);
}

static const berth_actor_class_t pod_class = {
        .name = "pod",
        .receive = pod_receive,
        .fini = pod_fini,
};

static pod_t *pod_new(berth_config_t *cfg, berth_handle_t mgr, berth_handle_t events,
                      const char *id, const char *name, const char *handler)
{
    pod_t *p = berth_calloc(1, sizeof(*p));
    p->cfg = berth_config_ref(cfg);
    p->mgr = mgr;
    p->events = events;
    p->id = berth_strdup(id);
    p->name = berth_strdup(name);
    p->handler = berth_strdup(handler);
    p->pod_dir = berth_asprintf("%s/pods/%s", cfg->runroot, id);
    p->record_path = berth_asprintf("%s/pods/%s.json", cfg->root, id);
    p->cache_dir = berth_asprintf("%s/cni-cache", cfg->root);
    p->pin_dir = berth_asprintf("%s/ns", cfg->runroot);
    p->shm_size = DEFAULT_SHM_SIZE;
    berth_creation_init(&p->cr, &pod_creation, p, mgr, id, name, (uint64_t)cfg->stall_margin_ns,
                        (uint64_t)cfg->stash_window_ns,
                        (uint64_t)(cfg->creation_budget_ns + cfg->cni_budget_ns));
    return p;
}

static void set_modes(pod_t *p)
{
    /* Like the kubelet's own default, a pod without a hostname gets the
     * node's (a pod name may be longer than a hostname can be). */
    berth_free(p->hostname);
    if (p->config->hostname && p->config->hostname[0]) {
        p->hostname = berth_strdup(p->config->hostname);
    } else {
        char node[256] = "localhost";
        gethostname(node, sizeof(node) - 1);
        p->hostname = berth_strdup(node);
    }
    const Runtime__V1__LinuxPodSandboxConfig *lx = p->config->linux;
    const Runtime__V1__NamespaceOption *o =
            lx && lx->security_context ? lx->security_context->namespace_options : NULL;
    p->net_mode = o ? o->network : RUNTIME__V1__NAMESPACE_MODE__POD;
    p->ipc_mode = o ? o->ipc : RUNTIME__V1__NAMESPACE_MODE__POD;
    p->pid_mode = o ? o->pid : RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
    p->host_net = p->net_mode == RUNTIME__V1__NAMESPACE_MODE__NODE;
    p->host_ipc = p->ipc_mode == RUNTIME__V1__NAMESPACE_MODE__NODE;
    p->host_pid = p->pid_mode == RUNTIME__V1__NAMESPACE_MODE__NODE;
}

/* Sets the pod directory's pieces that depend on annotations. Returns -1 with
 * *err for a bad value the kubelet user must fix. */
static int apply_annotations(pod_t *p, berth_err_t *err)
{
    static const char *const shm_keys[] = {"io.kubernetes.cri-o.ShmSize", "shm-size.crio.io"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(shm_keys); i++) {
        const char *v = annotation(p->config, shm_keys[i]);
        if (v == NULL)
            continue;
        if (!annotation_allowed(p, shm_keys[i]))
            continue;
        uint64_t size;
        if (parse_size(v, &size) < 0 || size == 0)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "RunPodSandbox: annotation %s=%s is not a valid size (e.g. "
                                  "64Mi)",
                                  shm_keys[i], v);
        p->shm_size = size;
    }
    return 0;
}

berth_handle_t berth_pod_spawn(const berth_pod_init_t *init)
{
    pod_t *p = pod_new(init->cfg, init->mgr, init->events, init->id, init->name, init->handler);
    /* A deep copy: the manager frees the request after forwarding it. */
    p->config = (Runtime__V1__PodSandboxConfig *)berth_cri_copy(&init->req->config->base);
    p->created_at = (int64_t)berth_wall_ns();
    p->cr.phase = PH_CREATING;
    p->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
    set_modes(p);
    berth_handle_t h = berth_actor_spawn_labeled(&pod_class, p, p->id);
    /* The first turn starts the creation; the RunPodSandbox request the
     * manager sends next becomes its first waiter. */
    berth_send(h, berth_msg_new(BERTH_MSG_POD_START, sizeof(berth_msg_t)));
    return h;
}

berth_handle_t berth_pod_restore(berth_config_t *cfg, berth_handle_t mgr, berth_handle_t events,
                                 json_t *rec)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *name = json_string_value(json_object_get(rec, "name"));
    const char *handler = json_string_value(json_object_get(rec, "handler"));
    pod_t *p = pod_new(cfg, mgr, events, id, name, handler ? handler : cfg->default_runtime);
    p->config = (Runtime__V1__PodSandboxConfig *)berth_cri_from_hex(
            &runtime__v1__pod_sandbox_config__descriptor,
            json_string_value(json_object_get(rec, "config")));
    if (p->config == NULL || p->config->metadata == NULL) {
        /* An unreadable config: a minimal one (on the same allocator) lets
         * the record still be undone. */
        if (p->config)
            berth_cri_free(&p->config->base);
        Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
        Runtime__V1__PodSandboxConfig pc = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
        pc.metadata = &md;
        p->config = (Runtime__V1__PodSandboxConfig *)berth_cri_copy(&pc.base);
    }
    p->created_at = (int64_t)json_integer_value(json_object_get(rec, "created_at"));
    p->state = (int)json_integer_value(json_object_get(rec, "state"));
    p->cr.made =
            (unsigned)json_integer_value(json_object_get(rec, "made")) | MADE_RECORD | MADE_DIR;
    p->shm_size = (uint64_t)json_integer_value(json_object_get(rec, "shm_size"));
    const char *s;
    if ((s = json_string_value(json_object_get(rec, "net_ns"))))
        p->ns.net = berth_strdup(s);
    if ((s = json_string_value(json_object_get(rec, "ipc_ns"))))
        p->ns.ipc = berth_strdup(s);
    if ((s = json_string_value(json_object_get(rec, "uts_ns"))))
        p->ns.uts = berth_strdup(s);
    if ((s = json_string_value(json_object_get(rec, "user_ns"))))
        p->ns.user = berth_strdup(s);
    if ((s = json_string_value(json_object_get(rec, "network"))))
        p->net_name = berth_strdup(s);
    if ((s = json_string_value(json_object_get(rec, "net_conf")))) {
        berth_err_t err = NULL;
        p->net = berth_cni_net_parse(s, strlen(s), p->record_path, &err);
        if (p->net == NULL) {
            berth_log_warn("sandbox record has an unusable network config", "id=%s error=\"%s\"",
                           id, err->msg);
            berth_err_free(&err);
        }
    }
    p->infra_pid = (pid_t)json_integer_value(json_object_get(rec, "infra_pid"));
    if (p->infra_pid)
        p->cr.made |= MADE_INFRA;
    if ((s = json_string_value(json_object_get(rec, "infra_id"))))
        p->infra_id = berth_strdup(s);
    json_t *ips = json_object_get(rec, "ips");
    p->ips = berth_calloc(json_array_size(ips) + 1, sizeof(char *));
    for (size_t i = 0; i < json_array_size(ips); i++)
        p->ips[i] = berth_strdup(json_string_value(json_array_get(ips, i)));
    set_modes(p);
    bool creating = json_is_true(json_object_get(rec, "creating"));
    json_decref(rec);
    /* a pod that was made is shown to NRI plugins at Synchronize (sent
     * from the manager's turn, before it says its restore is done) */
    if (!creating && berth_nrisrv_tracking())
        berth_nrisrv_restored(berth_nri_pod_hook("RunPodSandbox", BERTH_NRI_RUN_POD_SANDBOX, p->id,
                                                 p->config, p->handler, BERTH_HANDLE_NONE, 0));
    if (creating) {
        /* Whatever the crashed creation may have made is assumed made;
         * every teardown step tolerates "already gone". */
        if (!p->host_net)
            p->cr.made |= MADE_NET | MADE_NS;
        if (!p->host_ipc)
            p->cr.made |= MADE_NS | MADE_SHM;
        p->cr.made |= MADE_CACHE;
        if (p->ns.net == NULL && !p->host_net)
            p->ns.net = berth_asprintf("%s/net/%s", p->pin_dir, p->id);
        if (p->ns.ipc == NULL && !p->host_ipc)
            p->ns.ipc = berth_asprintf("%s/ipc/%s", p->pin_dir, p->id);
        if (p->ns.uts == NULL && !p->host_net)
            p->ns.uts = berth_asprintf("%s/uts/%s", p->pin_dir, p->id);
        BERTH_AUTO_FREE berth_idmaps_t *um = berth_malloc(sizeof(*um));
        BERTH_AUTO_FREE berth_idmaps_t *gm = berth_malloc(sizeof(*gm));
        if (p->ns.user == NULL && berth_podusers_maps(p->config, um, gm)) {
            p->cr.made |= MADE_NS;
            p->ns.user = berth_asprintf("%s/user/%s", p->pin_dir, p->id);
        }
        p->cr.phase = PH_UNDOING;
    } else {
        /* It was delivered (or stashed) before the restart; treat it as
         * delivered so a retry gets the same ID. */
        berth_creation_restore_delivered(
                &p->cr,
                p->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY ? PH_READY : PH_NOTREADY);
    }
    berth_handle_t h = berth_actor_spawn_labeled(&pod_class, p, p->id);
    berth_send(h, berth_msg_new(BERTH_MSG_POD_START, sizeof(berth_msg_t)));
    return h;
}
