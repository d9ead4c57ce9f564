// SPDX-License-Identifier: Apache-2.0
/*
 * The container actor. Creation is a chain of steps, each started in a turn
 * and finished by a message:
 *
 *   pod info (pods actor) -> image (images actor) -> { intent record
 *   (pool) | root filesystem (overlay, pool) -> prepare (pool: directories,
 *   user lookup in the image's own /etc/passwd, OCI spec) } -> conmon +
 *   runtime create -> commit (pool: record)
 *
 * The commit is staged: its record (pid aside, which the start's record
 * adds) is written and fsynced beside the intent while conmon and the
 * runtime run, and committing is only the rename over the intent and the
 * directory's fsync, so the client waits for that and no more.
 *
 * The intent record and the rootfs/spec branch run at once: only the
 * runtime must not start before the record is on disk (nothing else names
 * a runtime container after a crash), while a rootfs or bundle made without
 * a record is found by the restart's orphan sweep (actors/containers.c).
 * Both branches are joined before conmon; a failure in one waits for the
 * other, so undo never races a job still running.
 *
 * `made` records what exists, so undo (failure, stash expiry, removal, an
 * interrupted creation after a restart) removes exactly that, newest first.
 * The prepare job reads the actor's config, pod info and image while the
 * actor waits for it; the actor changes none of them until the reply, which
 * is what makes that sharing safe without a lock.
 */
#include "actors/container.h"

#include <errno.h>
#include <fcntl.h>
#include <protobuf-c/protobuf-c.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/containers.h"
#include "actors/cri.h"
#include "actors/imagelookup.h"
#include "actors/msgtypes.h"
#include "actors/pod.h"
#include "actors/reservation.h"
#include "actors/runtimes.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/fs.h"
#include "io/conmon.h"
#include "io/grpc.h"
#include "io/ocispec.h"
#include "io/overlay.h"
#include "io/procsig.h"

enum made_bits {
    MADE_DIRS = 1u << 0,
    MADE_ROOTFS = 1u << 1,
    MADE_RECORD = 1u << 2,
    MADE_RUNTIME = 1u << 3,
};

enum phase {
    PH_CREATING,
    PH_CREATED,
    PH_RUNNING,
    PH_EXITED,
    PH_UNDOING,
    PH_REMOVING,
    PH_RELEASING,
};

enum step {
    STEP_PREPARE = 1,
    STEP_COMMIT,
    STEP_RECORD,
    STEP_CLEANUP,
    STEP_REOPEN,
    STEP_INTENT,
    STEP_UPDATE,
    STEP_STAGE,
};

enum op_tag {
    TAG_CREATE = 1,
    TAG_START,
    TAG_KILL,
    TAG_DELETE,
    TAG_UPDATE,
    TAG_STATE,            /* a restart asks the runtime about a container recorded as created */
    TAG_EXEC_BASE = 1000, /* + exec serial */
};

typedef struct exec_call {
    uint64_t serial;
    berth_cri_req_msg_t *rm;
} exec_call_t;

typedef struct ctr {
    berth_config_t *cfg;
    berth_handle_t self, mgr, pods, images, watcher;
    char *id, *name, *pod_id;
    Runtime__V1__ContainerConfig *config;
    berth_pod_info_t *pod;
    berth_store_image_t *image;
    char **layer_dirs;
    size_t n_layer_dirs;
    char *rootfs, *bundle, *persist_dir, *exit_dir, *socket_dir, *log_path, *record_path;
    char *staged_path; /* the committed record, written ahead (see the top) */
    char *runtime_path, *runtime_root;
    char *image_name, *image_ref, *image_id;
    int stop_signal;
    pid_t pid;
    int state; /* Runtime__V1__ContainerState */
    int64_t created_at, started_at, finished_at;
    int exit_code;
    char *reason, *message;
    unsigned made;
    enum phase phase;
    berth_resv_t resv;
    bool restored_creating, undo_for_expiry, watching;
    berth_err_t failure;
    /* creation branches still running before the runtime may start (the
     * intent record, the rootfs + spec), and the first failure among them */
    unsigned prep_pending;
    berth_err_t prep_failure;
    /* the staged commit: being written, written, the runtime's answer in and
     * waiting for it (a failure meanwhile waits in prep_failure: undo removes
     * the staged file, not before it is written) */
    bool stage_pending, staged, commit_waiting;
    /* restored as created: the runtime is asked whether it was started (the
     * start's record is written after the answer, so a crash can lose it) */
    bool reconciling;
    berth_timer_t *stop_timer;
    /* The stop signal reached the container's init before it had a handler
     * and the kernel discarded it (io/procsig.h): polled until the program
     * handles it, then sent again. */
    bool sig_lost; /* the stop signal is known lost (else: it was pending) */
    berth_timer_t *sig_poll;
    uint64_t sig_poll_started_ns;
    berth_cri_req_msg_t **queued;
    size_t n_queued, cap_queued;
    berth_cri_req_msg_t **waiting; /* stops and removes waiting for the exit */
    size_t n_waiting, cap_waiting;
    exec_call_t *execs;
    size_t n_execs, cap_execs;
    uint64_t exec_serial;
    berth_cri_req_msg_t *starting; /* the StartContainer being served */
    berth_cri_req_msg_t *updating; /* the UpdateContainerResources being served */
    /* a pod's pause container (never listed; the pod is told its pid) */
    bool infra, pull_sent;
    berth_handle_t infra_reply;
    unsigned relookups;
    /* a pod going down: answer the manager when stopped / removed */
    bool down_pending, down_remove;
    uint64_t down_tag;
} ctr_t;

typedef struct step_msg {
    berth_msg_t hdr; /* BERTH_MSG_CTR_STEP */
    int step;
    ctr_t *c; /* borrowed: read-only while the actor waits (see the top) */
    char *record_json;
    char *path;
    berth_err_t error;
} step_msg_t;

static ProtobufCAllocator *pb_alloc(void)
{
    return (ProtobufCAllocator *)berth_alloc_protobuf_allocator();
}

static void step_msg_free(berth_msg_t *m)
{
    step_msg_t *s = (step_msg_t *)m;
    berth_free(s->record_json);
    berth_free(s->path);
    berth_err_free(&s->error);
    berth_free(s);
}

static step_msg_t *step_new(ctr_t *c, int step)
{
    step_msg_t *s = berth_msg_new(BERTH_MSG_CTR_STEP, sizeof(*s));
    s->hdr.free = step_msg_free;
    s->step = step;
    s->c = c;
    return s;
}

static void push(berth_cri_req_msg_t ***v, size_t *n, size_t *cap, berth_cri_req_msg_t *rm)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *v = berth_realloc(*v, *cap * sizeof(**v));
    }
    (*v)[(*n)++] = rm;
}

static void reply_empty(berth_cri_req_msg_t *rm)
{
    berth_grpc_reply(rm->call, "", 0);
    berth_msg_free(&rm->hdr);
}

static berth_runtime_t runtime_of(const ctr_t *c)
{
    return (berth_runtime_t){.path = c->runtime_path, .root = c->runtime_root};
}

/* ---- the image's config ------------------------------------------------------------------ */

static json_t *image_config(const ctr_t *c)
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

static int signal_number(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return SIGTERM;
    if (s[0] >= '0' && s[0] <= '9')
        return atoi(s);
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    static const struct {
        const char *n;
        int v;
    } sigs[] = {{"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT},   {"QUIT", SIGQUIT},
                {"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH},
                {"STOP", SIGSTOP}, {"PWR", SIGPWR}};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(sigs); i++) {
        if (strcmp(sigs[i].n, s) == 0)
            return sigs[i].v;
    }
    return SIGTERM;
}

/* ---- the record -------------------------------------------------------------------------- */

#define JSTR(s) ((s) ? json_string(s) : json_null())

static char *record_json_as(const ctr_t *c, bool creating, int state)
{
    BERTH_AUTO_FREE char *hex = berth_cri_to_hex(&c->config->base);
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer(1));
    json_object_set_new(o, "id", json_string(c->id));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "pod_id", json_string(c->pod_id));
    json_object_set_new(o, "config", json_string(hex));
    json_object_set_new(o, "creating", json_boolean(creating));
    json_object_set_new(o, "infra", json_boolean(c->infra));
    json_object_set_new(o, "made", json_integer(c->made));
    json_object_set_new(o, "state", json_integer(state));
    json_object_set_new(o, "created_at", json_integer(c->created_at));
    json_object_set_new(o, "started_at", json_integer(c->started_at));
    json_object_set_new(o, "finished_at", json_integer(c->finished_at));
    json_object_set_new(o, "exit_code", json_integer(c->exit_code));
    json_object_set_new(o, "pid", json_integer(c->pid));
    json_object_set_new(o, "stop_signal", json_integer(c->stop_signal));
    json_object_set_new(o, "reason", JSTR(c->reason));
    json_object_set_new(o, "message", JSTR(c->message));
    json_object_set_new(o, "rootfs", JSTR(c->rootfs));
    json_object_set_new(o, "log_path", JSTR(c->log_path));
    json_object_set_new(o, "runtime_path", JSTR(c->runtime_path));
    json_object_set_new(o, "runtime_root", JSTR(c->runtime_root));
    json_object_set_new(o, "image_name", JSTR(c->image_name));
    json_object_set_new(o, "image_ref", JSTR(c->image_ref));
    json_object_set_new(o, "image_id", JSTR(c->image_id));
    char *out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return out;
}

static char *record_json(const ctr_t *c, bool creating)
{
    return record_json_as(c, creating, c->state);
}

/* ---- blocking jobs (pool) ------------------------------------------------------------------- */

/* args per the kubelet's rule: command replaces the entrypoint, args
 * replace cmd; with no command, the image's entrypoint runs with args or,
 * without args, the image's cmd. */
static char **build_args(const Runtime__V1__ContainerConfig *cc, json_t *icfg, size_t *n)
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

static char **build_env(const Runtime__V1__ContainerConfig *cc, json_t *icfg, const char *hostname,
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

/* Builds and writes the OCI spec; fills c->stop_signal. Runs on the pool. */
static int write_spec(ctr_t *c, berth_err_t *err)
{
    const Runtime__V1__ContainerConfig *cc = c->config;
    const Runtime__V1__LinuxContainerConfig *lx = cc->linux;
    const Runtime__V1__LinuxContainerSecurityContext *sc = lx ? lx->security_context : NULL;
    const Runtime__V1__LinuxContainerResources *res = lx ? lx->resources : NULL;
    json_t *icfg = image_config(c);
    size_t nargs, nenv;
    char **args = build_args(cc, icfg, &nargs);
    char **env = build_env(cc, icfg, c->pod->hostname, &nenv);
    c->stop_signal =
            signal_number(icfg ? json_string_value(json_object_get(icfg, "StopSignal")) : NULL);
    int ret = -1;
    berth_user_t user = {0};
    berth_ocispec_mount_t *mounts = NULL;
    berth_ocispec_hugepage_t *hps = NULL;
    berth_ocispec_kv_t *unified = NULL;
    berth_resources_fit_t fit = {0};
    uint32_t *extra = NULL;
    BERTH_AUTO_FREE char *user_spec = NULL;
    if (nargs == 0) {
        berth_err_make(err, EINVAL, BERTH_GRPC_INVALID_ARGUMENT,
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
    mounts = berth_calloc(cc->n_mounts + 1, sizeof(*mounts));
    for (size_t i = 0; i < cc->n_mounts; i++) {
        const Runtime__V1__Mount *m = cc->mounts[i];
        mounts[i].destination = m->container_path;
        mounts[i].source = m->host_path;
        mounts[i].readonly = m->readonly;
        mounts[i].propagation =
                m->propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER
                        ? BERTH_PROPAGATION_RSLAVE
                : m->propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL
                        ? BERTH_PROPAGATION_RSHARED
                        : BERTH_PROPAGATION_PRIVATE;
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
            .nmounts = cc->n_mounts,
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
    if (berth_runtimes_fit_resources(rts ? &rts->cgroups : NULL, res, &fit, err) < 0) {
        berth_err_prefix(err, "CreateContainer");
        goto out;
    }
    if (fit.ndropped)
        berth_log_debug("limits the node cannot apply left out", "id=%s dropped=\"%s\"", c->id,
                        fit.dropped);
    spec.no_device_rules = !fit.devices;
    if (res) {
        const Runtime__V1__LinuxContainerResources *fr = &fit.res;
        spec.cpu_shares = fr->cpu_shares > 0 ? (uint64_t)fr->cpu_shares : 0;
        spec.cpu_quota = fr->cpu_quota;
        spec.cpu_period = fr->cpu_period > 0 ? (uint64_t)fr->cpu_period : 0;
        spec.cpuset_cpus = fr->cpuset_cpus && fr->cpuset_cpus[0] ? fr->cpuset_cpus : NULL;
        spec.cpuset_mems = fr->cpuset_mems && fr->cpuset_mems[0] ? fr->cpuset_mems : NULL;
        spec.memory_limit = fr->memory_limit_in_bytes;
        spec.memory_swap = fr->memory_swap_limit_in_bytes;
        if (fr->oom_score_adj) {
            spec.oom_score_adj_set = true;
            spec.oom_score_adj = (int)fr->oom_score_adj;
        }
        hps = berth_calloc(fr->n_hugepage_limits + 1, sizeof(*hps));
        for (size_t i = 0; i < fr->n_hugepage_limits; i++) {
            hps[i].page_size = fr->hugepage_limits[i]->page_size;
            hps[i].limit = fr->hugepage_limits[i]->limit;
        }
        spec.hugepages = hps;
        spec.nhugepages = fr->n_hugepage_limits;
        unified = berth_calloc(fr->n_unified + 1, sizeof(*unified));
        for (size_t i = 0; i < fr->n_unified; i++) {
            unified[i].key = fr->unified[i]->key;
            unified[i].value = fr->unified[i]->value;
        }
        spec.unified = unified;
        spec.nunified = fr->n_unified;
    }
    if (c->cfg->pids_limit > 0 && fit.pids)
        spec.pids_limit = c->cfg->pids_limit;
    ret = berth_ocispec_write(c->bundle, &spec, err);
    if (ret < 0)
        berth_err_prefix(err, "CreateContainer: OCI spec");
out:
    if (icfg)
        json_decref(icfg);
    berth_strv_free(args);
    berth_strv_free(env);
    berth_user_fini(&user);
    berth_free(mounts);
    berth_free(hps);
    berth_free(unified);
    berth_resources_fit_fini(&fit);
    berth_free(extra);
    return ret;
}

static void prepare_job(void *arg)
{
    step_msg_t *s = arg;
    ctr_t *c = s->c;
    if (c->runtime_path[0] != '/') {
        char *p = berth_fs_find_exec(c->runtime_path);
        if (p == NULL) {
            berth_err_make(&s->error, ENOENT, BERTH_GRPC_FAILED_PRECONDITION,
                           "OCI runtime %s not found in the usual directories; set "
                           "runtime_path in [crio.runtime.runtimes.%s]",
                           c->runtime_path, c->runtime_path);
            return;
        }
        s->path = p;
    }
    BERTH_AUTO_FREE char *logdir = berth_strdup(c->log_path);
    char *slash = strrchr(logdir, '/');
    if (slash)
        *slash = '\0';
    if (berth_fs_mkdir_p(c->bundle, 0700, &s->error) < 0 ||
        berth_fs_mkdir_p(c->persist_dir, 0700, &s->error) < 0 ||
        berth_fs_mkdir_p(c->exit_dir, 0700, &s->error) < 0 ||
        berth_fs_mkdir_p(c->socket_dir, 0700, &s->error) < 0 ||
        (logdir[0] && berth_fs_mkdir_p(logdir, 0755, &s->error) < 0))
        return;
    write_spec(c, &s->error);
}

static void record_job(void *arg)
{
    step_msg_t *s = arg;
    berth_file_write_atomic(s->c->record_path, s->record_json, strlen(s->record_json), 0600,
                            &s->error);
}

static void stage_job(void *arg)
{
    step_msg_t *s = arg;
    berth_file_stage(s->c->staged_path, s->record_json, strlen(s->record_json), 0600, &s->error);
}

static void commit_job(void *arg)
{
    step_msg_t *s = arg;
    berth_file_commit_staged(s->c->staged_path, s->c->record_path, &s->error);
}

static void cleanup_job(void *arg)
{
    step_msg_t *s = arg;
    ctr_t *c = s->c;
    berth_fs_remove_tree(c->bundle);
    BERTH_AUTO_FREE char *exitf = berth_asprintf("%s/%s", c->exit_dir, c->id);
    berth_fs_unlink(exitf, "exit file", NULL);
    berth_fs_unlink(c->staged_path, "staged container record", NULL);
    berth_fs_unlink(c->record_path, "container record", &s->error);
}

static void reopen_job(void *arg)
{
    step_msg_t *s = arg;
    berth_conmon_reopen_log_wait(s->c->bundle, s->c->log_path, 2000, &s->error);
}

/* ---- publishing ---------------------------------------------------------------------------- */

static bool listed(const ctr_t *c)
{
    return !c->infra && berth_resv_listed(&c->resv) && c->phase != PH_CREATING &&
           c->phase != PH_UNDOING && c->phase != PH_RELEASING;
}

static void publish(ctr_t *c)
{
    berth_ctr_summary_t *s = berth_calloc(1, sizeof(*s));
    const Runtime__V1__ContainerConfig *cc = c->config;
    s->id = berth_strdup(c->id);
    s->name = berth_strdup(c->name);
    s->pod_id = berth_strdup(c->pod_id);
    s->ctr_name = berth_strdup(cc->metadata->name);
    s->attempt = cc->metadata->attempt;
    s->state = c->state;
    s->created_at = c->created_at;
    s->image = berth_strdup(c->image_name ? c->image_name : "");
    s->image_ref = berth_strdup(c->image_ref ? c->image_ref : "");
    s->image_id = berth_strdup(c->image_id ? c->image_id : "");
    /* the path io/ocispec.c gives the runtime (cgroupfs) */
    s->cgroup = c->pod ? berth_asprintf("%s/berth-%s",
                                        c->pod->cgroup_parent[0] ? c->pod->cgroup_parent : "/berth",
                                        c->id)
                       : berth_strdup("");
    s->n_labels = cc->n_labels;
    s->label_keys = berth_calloc(cc->n_labels + 1, sizeof(char *));
    s->label_values = berth_calloc(cc->n_labels + 1, sizeof(char *));
    for (size_t i = 0; i < cc->n_labels; i++) {
        s->label_keys[i] = berth_strdup(cc->labels[i]->key);
        s->label_values[i] = berth_strdup(cc->labels[i]->value);
    }
    s->n_annotations = cc->n_annotations;
    s->annotation_keys = berth_calloc(cc->n_annotations + 1, sizeof(char *));
    s->annotation_values = berth_calloc(cc->n_annotations + 1, sizeof(char *));
    for (size_t i = 0; i < cc->n_annotations; i++) {
        s->annotation_keys[i] = berth_strdup(cc->annotations[i]->key);
        s->annotation_values[i] = berth_strdup(cc->annotations[i]->value);
    }
    s->listed = listed(c);
    berth_ctr_summary_msg_t *m = berth_msg_new(BERTH_MSG_CTR_SUMMARY, sizeof(*m));
    m->summary = s;
    berth_send(c->mgr, &m->hdr);
}

static void down_done(ctr_t *c)
{
    if (!c->down_pending)
        return;
    c->down_pending = false;
    berth_ctrs_down_msg_t *d = berth_ctrs_down_new(BERTH_MSG_CTR_DOWN_DONE, c->pod_id,
                                                   c->down_remove, BERTH_HANDLE_NONE, c->down_tag);
    berth_send(c->mgr, &d->hdr);
}

static void release(ctr_t *c)
{
    down_done(c);
    c->phase = PH_RELEASING;
    berth_ctr_gone_msg_t *m = berth_msg_new(BERTH_MSG_CTR_GONE, sizeof(*m));
    m->id = berth_strdup(c->id);
    m->ctr = c->self;
    berth_send(c->mgr, &m->hdr);
}

static void write_record(ctr_t *c, int step, bool creating)
{
    step_msg_t *s = step_new(c, step);
    s->record_json = record_json(c, creating);
    berth_blocking_run(record_job, s, c->self, &s->hdr);
}

/* ---- creation ------------------------------------------------------------------------------- */

static void teardown_next(berth_actor_t *self, ctr_t *c);
static void run_queued(berth_actor_t *self, ctr_t *c);

static void fail_creation(berth_actor_t *self, ctr_t *c, berth_err_t err)
{
    if (c->stage_pending) {
        /* undo removes the staged record: not before it is written */
        if (c->prep_failure == NULL)
            c->prep_failure = err;
        else
            berth_err_free(&err);
        return;
    }
    berth_log_warn("container creation failed", "name=%s id=%s stage=\"%s\" error=\"%s\"", c->name,
                   c->id, c->resv.stage, err->msg);
    c->failure = err;
    c->phase = PH_UNDOING;
    teardown_next(self, c);
}

static void after_pod(berth_actor_t *self, ctr_t *c);

static void start_creation(berth_actor_t *self, ctr_t *c)
{
    if (c->pod) {
        /* a pause container: its pod, still being created, sent its info */
        after_pod(self, c);
        return;
    }
    berth_resv_set_stage(&c->resv, "looking up the pod sandbox");
    berth_pod_info_request(c->pods, c->pod_id, c->self, 0);
}

static void on_pod_info(berth_actor_t *self, ctr_t *c, berth_pod_info_msg_t *m)
{
    if (m->error) {
        berth_err_prefix(&m->error, "CreateContainer");
        fail_creation(self, c, berth_steal_ptr(&m->error));
        return;
    }
    c->pod = berth_steal_ptr(&m->info);
    after_pod(self, c);
}

static void after_pod(berth_actor_t *self, ctr_t *c)
{
    if (!c->pod->ready && !c->infra) {
        berth_err_t err = NULL;
        berth_err_make(&err, EINVAL, BERTH_GRPC_FAILED_PRECONDITION,
                       "CreateContainer: pod sandbox %s is not ready", c->pod_id);
        fail_creation(self, c, err);
        return;
    }
    /* the pod's full ID (the request may have used a prefix) */
    berth_free(c->pod_id);
    c->pod_id = berth_strdup(c->pod->id);
    const berth_config_runtime_t *rt = berth_config_runtime(c->cfg, c->pod->handler);
    berth_free(c->runtime_path);
    berth_free(c->runtime_root);
    c->runtime_path = berth_strdup(rt && rt->runtime_path[0] ? rt->runtime_path : c->pod->handler);
    c->runtime_root = berth_strdup(rt && rt->runtime_root[0] ? rt->runtime_root : "");
    /* The pod may predate the probe's verdict (made before a restart): the
     * runtime's own error would be obscure, the probe's says what to do. */
    const berth_runtime_status_t *bad = berth_runtimes_unusable(c->pod->handler);
    if (bad != NULL) {
        berth_err_t err = NULL;
        berth_err_make(&err, EINVAL, BERTH_GRPC_FAILED_PRECONDITION, "CreateContainer: %s",
                       bad->message);
        fail_creation(self, c, err);
        return;
    }
    /* CRI-O's rule: the kubelet's <log_directory>/<log_path>; a pod without a
     * log directory logs under log_dir/<pod id> (removed with the pod), a
     * container without a log path as <container id>.log. The infra
     * container's log stays in its bundle. */
    const char *lp = c->config->log_path;
    if (c->infra)
        c->log_path = berth_asprintf("%s/ctr.log", c->bundle);
    else if (c->pod->log_directory[0])
        c->log_path = lp && lp[0] ? berth_asprintf("%s/%s", c->pod->log_directory, lp)
                                  : berth_asprintf("%s/%s.log", c->pod->log_directory, c->id);
    else
        c->log_path = lp && lp[0]
                              ? berth_asprintf("%s/%s/%s", c->cfg->log_dir, c->pod_id, lp)
                              : berth_asprintf("%s/%s/%s.log", c->cfg->log_dir, c->pod_id, c->id);
    berth_resv_set_stage(&c->resv, "looking up the image");
    berth_image_lookup(c->images, c->config->image->image, c->self, 0);
}

/* The pause image is berth's to fetch (the kubelet never pulls it): an
 * internal PullImage, then the lookup again every half second for a minute. */
static bool infra_pull(berth_actor_t *self, ctr_t *c, const berth_image_lookup_msg_t *m)
{
    if (!c->infra || (m->error && m->error->grpc != BERTH_GRPC_NOT_FOUND) || c->relookups >= 120)
        return false;
    if (!c->pull_sent) {
        c->pull_sent = true;
        berth_resv_set_stage(&c->resv, "pulling the pause image");
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        spec.image = c->config->image->image;
        Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
        req.image = &spec;
        berth_cri_req_msg_t *rm =
                berth_cri_req_new("/runtime.v1.ImageService/PullImage", &req.base);
        if (rm)
            berth_send(c->images, &rm->hdr);
    }
    c->relookups++;
    berth_timer_after(self, 500ull * 1000 * 1000,
                      berth_msg_new(BERTH_MSG_CTR_RELOOKUP, sizeof(berth_msg_t)));
    return true;
}

static void on_image(berth_actor_t *self, ctr_t *c, berth_image_lookup_msg_t *m)
{
    if ((m->error || m->image == NULL) && infra_pull(self, c, m))
        return;
    if (m->error || m->image == NULL) {
        berth_err_t err = m->error ? berth_steal_ptr(&m->error) : NULL;
        if (err == NULL)
            berth_err_make(&err, ENOENT, BERTH_GRPC_NOT_FOUND, "image %s not found",
                           c->config->image->image);
        berth_err_prefix(&err, "CreateContainer");
        fail_creation(self, c, err);
        return;
    }
    c->image = berth_steal_ptr(&m->image);
    c->layer_dirs = berth_steal_ptr(&m->layer_dirs);
    c->n_layer_dirs = m->n_layer_dirs;
    m->n_layer_dirs = 0;
    c->image_name = berth_strdup(c->config->image->image);
    c->image_id = berth_strdup(c->image->id);
    c->image_ref = berth_strdup(c->image->n_digests ? c->image->digests[0] : c->image->id);
    /* The intent record goes to disk while the rootfs is mounted and the
     * spec written; the runtime starts only once both are done (see the
     * top), so a crash from here on is undone at the next start. */
    berth_resv_set_stage(&c->resv, "mounting the root filesystem and writing the intent record");
    c->made |= MADE_RECORD;
    c->prep_pending = 2;
    write_record(c, STEP_INTENT, true);
    berth_overlay_container_mount_async(c->cfg->root, c->id, (const char *const *)c->layer_dirs,
                                        c->n_layer_dirs, c->self, 0);
}

static void start_runtime_create(berth_actor_t *self, ctr_t *c);

/* One creation branch finished (err taken, NULL on success): the runtime
 * starts when the last one is in, or undo once nothing runs any more. */
static void prep_joined(berth_actor_t *self, ctr_t *c, berth_err_t err)
{
    if (err != NULL && c->prep_failure == NULL)
        c->prep_failure = err;
    else if (err != NULL)
        berth_err_free(&err);
    if (--c->prep_pending > 0)
        return;
    if (c->prep_failure != NULL)
        return fail_creation(self, c, berth_steal_ptr(&c->prep_failure));
    /* The committed record as it will be (created; the pid comes with the
     * start's record), written while the runtime works. */
    step_msg_t *s = step_new(c, STEP_STAGE);
    s->record_json = record_json_as(c, false, RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED);
    c->stage_pending = true;
    berth_blocking_run(stage_job, s, c->self, &s->hdr);
    start_runtime_create(self, c);
}

/* The runtime created the container: commit the record (the staged one by
 * rename, or written whole if staging failed), then answer. */
static void commit_record(ctr_t *c)
{
    berth_resv_set_stage(&c->resv, "writing the container record");
    if (!c->staged) {
        write_record(c, STEP_COMMIT, false);
        return;
    }
    step_msg_t *s = step_new(c, STEP_COMMIT);
    berth_blocking_run(commit_job, s, c->self, &s->hdr);
}

static void on_overlay(berth_actor_t *self, ctr_t *c, berth_overlay_done_msg_t *m)
{
    if (c->phase == PH_CREATING) {
        if (m->error) {
            prep_joined(self, c, berth_steal_ptr(&m->error));
            return;
        }
        c->made |= MADE_ROOTFS;
        c->rootfs = berth_steal_ptr(&m->rootfs);
        if (c->prep_failure != NULL) {
            /* the intent record failed: no spec for a container that will
             * not be made */
            prep_joined(self, c, NULL);
            return;
        }
        berth_resv_set_stage(&c->resv, "writing the OCI spec");
        c->made |= MADE_DIRS;
        step_msg_t *s = step_new(c, STEP_PREPARE);
        berth_blocking_run(prepare_job, s, c->self, &s->hdr);
        return;
    }
    /* removed */
    if (m->error)
        berth_log_error("cannot remove the container rootfs", "id=%s error=\"%s\"", c->id,
                        m->error->msg);
    c->made &= ~MADE_ROOTFS;
    teardown_next(self, c);
}

static void start_runtime_create(berth_actor_t *self, ctr_t *c)
{
    berth_resv_set_stage(&c->resv, "creating the container (conmon and the OCI runtime)");
    berth_conmon_spec_t spec = {
            .conmon_path = c->cfg->conmon && c->cfg->conmon[0] ? c->cfg->conmon : NULL,
            .runtime = runtime_of(c),
            .cid = c->id,
            .name = c->name,
            .bundle = c->bundle,
            .log_path = c->log_path,
            .exit_dir = c->exit_dir,
            .persist_dir = c->persist_dir,
            .socket_dir = c->socket_dir,
            .terminal = c->config->tty,
            .stdin_open = c->config->stdin,
            .stdin_once = c->config->stdin_once,
            .log_size_max = c->cfg->log_size_max > 0 ? (uint64_t)c->cfg->log_size_max : 0,
    };
    berth_err_t err = NULL;
    c->made |= MADE_RUNTIME; /* a failed create may leave a runtime container */
    if (berth_conmon_create(c->self, &spec, TAG_CREATE, &err) < 0)
        fail_creation(self, c, err);
}

static void infra_answer(ctr_t *c, const berth_err_t err)
{
    if (!berth_handle_valid(c->infra_reply))
        return;
    berth_ctrs_infra_msg_t *im =
            berth_ctrs_infra_new(BERTH_MSG_POD_INFRA_READY, NULL, BERTH_HANDLE_NONE);
    im->pid = c->pid;
    im->ctr_id = berth_strdup(c->id);
    if (err)
        berth_err_make(&im->error, err->errnum, err->grpc, "pause container: %s", err->msg);
    berth_send(c->infra_reply, &im->hdr);
    c->infra_reply = BERTH_HANDLE_NONE;
}

static void finish_creation(berth_actor_t *self, ctr_t *c)
{
    c->phase = PH_CREATED;
    berth_resv_set_stage(&c->resv, "done");
    if (c->infra) {
        /* Nobody waits on a reservation for it: it is started now, and the
         * pod learns its pid from the start's answer. */
        c->resv.state = BERTH_RESV_DELIVERED;
        berth_conmon_watch(c->watcher, c->id, c->persist_dir, c->self);
        c->watching = true;
        berth_err_t err = NULL;
        berth_runtime_t rt = runtime_of(c);
        if (berth_conmon_start(c->self, &rt, c->id, TAG_START, &err) < 0) {
            infra_answer(c, err);
            berth_err_free(&err);
        }
        publish(c);
        return;
    }
    Runtime__V1__CreateContainerResponse resp = RUNTIME__V1__CREATE_CONTAINER_RESPONSE__INIT;
    resp.container_id = c->id;
    size_t len;
    BERTH_AUTO_FREE uint8_t *buf = berth_cri_pack(&resp.base, &len);
    berth_log_info("container created", "name=%s id=%s took_ms=%.1f", c->name, c->id,
                   (double)(berth_now_ns() - c->resv.started_ns) / 1e6);
    berth_resv_succeed(self, &c->resv, buf, len);
    publish(c);
    run_queued(self, c);
}

/* ---- teardown ------------------------------------------------------------------------------ */

static void teardown_next(berth_actor_t *self, ctr_t *c)
{
    berth_err_t err = NULL;
    if (c->made & MADE_RUNTIME) {
        c->made &= ~MADE_RUNTIME;
        if (berth_conmon_delete(c->self, &(berth_runtime_t){c->runtime_path, c->runtime_root},
                                c->id, TAG_DELETE, &err) == 0)
            return;
        berth_log_warn("runtime delete could not start", "id=%s error=\"%s\"", c->id, err->msg);
        berth_err_free(&err);
    }
    if (c->made & MADE_ROOTFS) {
        berth_overlay_container_remove_async(c->cfg->root, c->id, c->self, 0);
        return;
    }
    if (c->made & (MADE_DIRS | MADE_RECORD)) {
        c->made &= ~(MADE_DIRS | MADE_RECORD);
        step_msg_t *s = step_new(c, STEP_CLEANUP);
        berth_blocking_run(cleanup_job, s, c->self, &s->hdr);
        return;
    }
    if (c->watching) {
        berth_conmon_unwatch(c->watcher, c->id);
        c->watching = false;
    }
    if (c->phase == PH_UNDOING && c->infra) {
        infra_answer(c, c->failure);
        release(c);
        return;
    }
    if (c->phase == PH_UNDOING) {
        if (c->undo_for_expiry || c->restored_creating) {
            release(c);
            return;
        }
        berth_err_t f = berth_steal_ptr(&c->failure);
        if (berth_resv_fail(self, &c->resv, f))
            release(c);
        return;
    }
    if (c->phase == PH_REMOVING) {
        for (size_t i = 0; i < c->n_waiting; i++)
            reply_empty(c->waiting[i]);
        c->n_waiting = 0;
        berth_log_info("container removed", "name=%s id=%s", c->name, c->id);
        release(c);
    }
}

static void begin_remove(berth_actor_t *self, ctr_t *c)
{
    c->phase = PH_REMOVING;
    if (c->resv.stash_timer) {
        berth_timer_cancel(self, c->resv.stash_timer);
        c->resv.stash_timer = NULL;
    }
    publish(c);
    teardown_next(self, c);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void kill_ctr(ctr_t *c, int sig, uint64_t tag)
{
    berth_err_t err = NULL;
    berth_runtime_t rt = runtime_of(c);
    if (berth_conmon_kill(c->self, &rt, c->id, sig, false, tag, &err) < 0) {
        berth_log_warn("kill could not start", "id=%s error=\"%s\"", c->id, err->msg);
        berth_err_free(&err);
    }
}

static int stop_sig(const ctr_t *c)
{
    return c->stop_signal ? c->stop_signal : SIGTERM;
}

static void sig_poll_cancel(berth_actor_t *self, ctr_t *c)
{
    if (c->sig_poll) {
        berth_timer_cancel(self, c->sig_poll);
        c->sig_poll = NULL;
    }
}

static void on_exit_msg(berth_actor_t *self, ctr_t *c, berth_conmon_exit_msg_t *m)
{
    c->watching = false;
    if (c->stop_timer) {
        berth_timer_cancel(self, c->stop_timer);
        c->stop_timer = NULL;
    }
    sig_poll_cancel(self, c);
    c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
    c->exit_code = m->exit_code;
    c->finished_at = m->exit_time_ns ? (int64_t)m->exit_time_ns : (int64_t)berth_wall_ns();
    berth_free(c->reason);
    c->reason = berth_strdup(m->oom_killed       ? "OOMKilled"
                             : m->exit_code == 0 ? "Completed"
                                                 : "Error");
    if (c->phase == PH_RUNNING || c->phase == PH_CREATED)
        c->phase = PH_EXITED;
    berth_log_info("container exited", "name=%s id=%s exit_code=%d reason=%s", c->name, c->id,
                   c->exit_code, c->reason);
    write_record(c, STEP_RECORD, false);
    publish(c);
    /* stops waiting for the exit are answered; a remove goes on */
    size_t keep = 0;
    bool remove = false;
    for (size_t i = 0; i < c->n_waiting; i++) {
        berth_cri_req_msg_t *rm = c->waiting[i];
        if (strcmp(rm->method->name, "StopContainer") == 0) {
            reply_empty(rm);
        } else {
            c->waiting[keep++] = rm;
            remove = true;
        }
    }
    c->n_waiting = keep;
    if (c->down_pending && c->down_remove)
        remove = true;
    else
        down_done(c);
    if (remove)
        begin_remove(self, c);
    else
        run_queued(self, c);
}

/* The pod is stopping (kill) or being removed (kill, then remove). */
static void on_down(berth_actor_t *self, ctr_t *c, berth_ctrs_down_msg_t *d)
{
    if (c->down_pending) {
        /* an earlier one is under way; this one is answered at once */
        berth_ctrs_down_msg_t *r = berth_ctrs_down_new(BERTH_MSG_CTR_DOWN_DONE, c->pod_id,
                                                       d->remove, BERTH_HANDLE_NONE, d->tag);
        berth_send(c->mgr, &r->hdr);
        return;
    }
    c->down_pending = true;
    c->down_remove = d->remove;
    c->down_tag = d->tag;
    if (c->phase == PH_RUNNING) {
        kill_ctr(c, SIGKILL, TAG_KILL);
        return; /* on_exit_msg goes on */
    }
    if (d->remove && (c->phase == PH_CREATED || c->phase == PH_EXITED)) {
        begin_remove(self, c);
        return; /* release answers */
    }
    /* being created, undone or removed already: nothing more to do here */
    down_done(c);
}

static void on_start(berth_actor_t *self, ctr_t *c, berth_cri_req_msg_t *rm)
{
    if (c->phase != PH_CREATED) {
        const char *st = c->phase == PH_RUNNING ? "running" : "exited";
        return berth_cri_fail(rm, BERTH_GRPC_FAILED_PRECONDITION,
                              "StartContainer: container %s is %s, not created", c->id, st);
    }
    if (!c->watching && berth_handle_valid(c->watcher)) {
        berth_conmon_watch(c->watcher, c->id, c->persist_dir, c->self);
        c->watching = true;
    }
    c->starting = rm;
    berth_err_t err = NULL;
    berth_runtime_t rt = runtime_of(c);
    if (berth_conmon_start(c->self, &rt, c->id, TAG_START, &err) < 0) {
        c->starting = NULL;
        berth_grpc_finish_err(rm->call, err);
        berth_err_free(&err);
        berth_msg_free(&rm->hdr);
    }
}

/* The stop signal went out (runtime kill finished). A program that runs as
 * its PID namespace's init and had no handler yet lost it: the kernel
 * discards default-action signals sent to a namespace init from outside
 * (a `top` stopped a few ms after StartContainer, before it set up its
 * handlers, ran to the stop timeout; critest "removing stopped container"
 * failed that way in CI). When the signal is discarded after the kill, it
 * is lost; then watch for the handler and send the signal again once it is
 * there, so the program gets it exactly once. A program that never handles
 * it is killed at the timeout as before. */
static void sig_poll_after(berth_actor_t *self, ctr_t *c)
{
    /* Programs set their handlers up within milliseconds of starting: poll
     * fast for a second, then slowly until the stop timeout. */
    uint64_t every =
            berth_now_ns() - c->sig_poll_started_ns < 1000000000ull ? 20000000ull : 250000000ull;
    c->sig_poll = berth_timer_after(self, every,
                                    berth_msg_new(BERTH_MSG_CTR_SIG_POLL, sizeof(berth_msg_t)));
}

/* The stop signal was sent by berth itself (berth_proc_signal): lost when
 * it reached the runtime's init before the exec, when an exec happened
 * across the send, or when it was discarded (default action at a namespace
 * init) and is not pending; pending (blocked) means not decided yet. */
static void stop_signal_fate(berth_actor_t *self, ctr_t *c, const berth_sig_sent_t *ss)
{
    bool lost = ss->runtime_init || ss->exec_seen ||
                (!ss->pending && ss->fate_after == BERTH_SIG_DISCARDED);
    if (!lost && !ss->pending)
        return; /* delivered: the program handles it or dies of it */
    c->sig_lost = lost;
    if (lost)
        berth_log_info("stop signal lost: it reached the runtime's init before the exec, or the "
                       "program's init had no handler for it yet; sending it again once the "
                       "program handles it",
                       "id=%s signal=%d fate_before=%d fate_after=%d runtime_init=%s exec=%s",
                       c->id, stop_sig(c), ss->fate_before, ss->fate_after,
                       ss->runtime_init ? "true" : "false", ss->exec_seen ? "true" : "false");
    c->sig_poll_started_ns = berth_now_ns();
    sig_poll_cancel(self, c);
    sig_poll_after(self, c);
}

static void on_sig_poll(berth_actor_t *self, ctr_t *c)
{
    c->sig_poll = NULL;
    if (c->phase != PH_RUNNING || c->stop_timer == NULL)
        return;
    int sig = stop_sig(c);
    if (berth_proc_sig_pending(c->pid, sig) == 1 ||
        berth_proc_is_runtime_init(c->pid, c->runtime_path) == 1)
        return sig_poll_after(self, c); /* not delivered yet, or not exec'd yet */
    int fate = berth_proc_sig_fate(c->pid, sig);
    if (!c->sig_lost) {
        /* it was pending: now it is delivered (caught, or gone) or lost */
        if (fate != BERTH_SIG_DISCARDED)
            return;
        c->sig_lost = true;
        berth_log_info("stop signal lost across the program's exec: sending it again once "
                       "the program handles it",
                       "id=%s signal=%d", c->id, sig);
        return sig_poll_after(self, c);
    }
    if (fate == BERTH_SIG_CAUGHT) {
        berth_log_info("stop signal sent again: the container's init handles it now", "id=%s",
                       c->id);
        c->sig_lost = false;
        kill_ctr(c, sig, TAG_KILL);
        return;
    }
    if (fate != BERTH_SIG_DISCARDED)
        return; /* gone, ignored on purpose, or no longer init: nothing to redo */
    sig_poll_after(self, c);
}

static void on_stop(berth_actor_t *self, ctr_t *c, berth_cri_req_msg_t *rm)
{
    if (c->phase != PH_RUNNING) {
        if (c->phase == PH_CREATED) {
            /* never started: nothing runs; it counts as exited */
            c->phase = PH_EXITED;
            c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
            c->finished_at = (int64_t)berth_wall_ns();
            publish(c);
            write_record(c, STEP_RECORD, false);
        }
        return reply_empty(rm);
    }
    const Runtime__V1__StopContainerRequest *r = (const Runtime__V1__StopContainerRequest *)rm->req;
    push(&c->waiting, &c->n_waiting, &c->cap_waiting, rm);
    if (c->stop_timer)
        return; /* a stop is already under way */
    if (r->timeout <= 0) {
        kill_ctr(c, SIGKILL, TAG_KILL);
        return;
    }
    int sig = stop_sig(c);
    c->stop_timer =
            berth_timer_after(self, (uint64_t)r->timeout * 1000000000ull,
                              berth_msg_new(BERTH_MSG_CTR_STOP_TIMEOUT, sizeof(berth_msg_t)));
    /* The stop signal goes straight to the container's init (what the
     * runtime's `kill` does), read around the send: the fate at that moment
     * says whether it was lost. The runtime's kill, tens of milliseconds
     * long, hid a signal discarded before the program set its handler up
     * (critest "removing stopped container" ran to its 60 s timeout). */
    berth_sig_sent_t ss;
    if (c->pid > 0 && berth_proc_signal(c->pid, sig, c->runtime_path, &ss) == 0)
        stop_signal_fate(self, c, &ss);
    else if (c->pid <= 0 || errno != ESRCH)
        kill_ctr(c, sig, TAG_KILL); /* no pid known: the runtime finds the init */
    /* ESRCH: gone already, its exit is on the way */
}

static void on_remove(berth_actor_t *self, ctr_t *c, berth_cri_req_msg_t *rm)
{
    push(&c->waiting, &c->n_waiting, &c->cap_waiting, rm);
    if (c->phase == PH_RUNNING) {
        /* the CRI removes running containers forcibly */
        kill_ctr(c, SIGKILL, TAG_KILL);
        return;
    }
    begin_remove(self, c);
}

static void on_exec(ctr_t *c, berth_cri_req_msg_t *rm)
{
    const Runtime__V1__ExecSyncRequest *r = (const Runtime__V1__ExecSyncRequest *)rm->req;
    if (c->phase != PH_RUNNING)
        return berth_cri_fail(rm, BERTH_GRPC_FAILED_PRECONDITION,
                              "ExecSync: container %s is not running", c->id);
    if (r->n_cmd == 0)
        return berth_cri_fail(rm, BERTH_GRPC_INVALID_ARGUMENT, "ExecSync: cmd is empty");
    BERTH_AUTO_FREE const char **argv = berth_calloc(r->n_cmd + 1, sizeof(char *));
    for (size_t i = 0; i < r->n_cmd; i++)
        argv[i] = r->cmd[i];
    uint64_t serial = ++c->exec_serial;
    BERTH_AUTO_FREE char *pidf =
            berth_asprintf("%s/exec-%llu.pid", c->persist_dir, (unsigned long long)serial);
    berth_conmon_exec_spec_t spec = {
            .cid = c->id,
            .argv = argv,
            .pid_file = pidf,
            .timeout_ns = r->timeout > 0 ? (uint64_t)r->timeout * 1000000000ull : 0,
    };
    berth_err_t err = NULL;
    berth_runtime_t rt = runtime_of(c);
    if (berth_conmon_exec(c->self, &rt, &spec, TAG_EXEC_BASE + serial, &err) < 0) {
        berth_grpc_finish_err(rm->call, err);
        berth_err_free(&err);
        berth_msg_free(&rm->hdr);
        return;
    }
    if (c->n_execs == c->cap_execs) {
        c->cap_execs = c->cap_execs ? c->cap_execs * 2 : 4;
        c->execs = berth_realloc(c->execs, c->cap_execs * sizeof(*c->execs));
    }
    c->execs[c->n_execs++] = (exec_call_t){serial, rm};
}

static void on_exec_done(ctr_t *c, berth_conmon_result_msg_t *m)
{
    uint64_t serial = m->tag - TAG_EXEC_BASE;
    berth_cri_req_msg_t *rm = NULL;
    for (size_t i = 0; i < c->n_execs; i++) {
        if (c->execs[i].serial == serial) {
            rm = c->execs[i].rm;
            c->execs[i] = c->execs[--c->n_execs];
            break;
        }
    }
    if (rm == NULL)
        return;
    if (m->error) {
        berth_grpc_finish_err(rm->call, m->error);
        berth_msg_free(&rm->hdr);
        return;
    }
    Runtime__V1__ExecSyncResponse resp = RUNTIME__V1__EXEC_SYNC_RESPONSE__INIT;
    resp.stdout.data = (uint8_t *)m->out;
    resp.stdout.len = m->out_len;
    resp.stderr.data = (uint8_t *)m->err_out;
    resp.stderr.len = m->err_len;
    resp.exit_code = m->exit_code;
    berth_cri_reply(rm->call, &resp.base);
    berth_msg_free(&rm->hdr);
}

/* A ContainerStatus and the pieces it points to (borrowed from c, but for
 * the two maps, owned). */
typedef struct status_parts {
    Runtime__V1__ContainerStatus st;
    Runtime__V1__ContainerMetadata md;
    Runtime__V1__ImageSpec img;
    Runtime__V1__ContainerResources cres;
    void *labels, *annotations;
} status_parts_t;

static void status_build(const ctr_t *c, status_parts_t *p)
{
    const Runtime__V1__ContainerConfig *cc = c->config;
    runtime__v1__container_metadata__init(&p->md);
    p->md.name = cc->metadata->name;
    p->md.attempt = cc->metadata->attempt;
    runtime__v1__image_spec__init(&p->img);
    p->img.image = c->image_name ? c->image_name : cc->image->image;
    Runtime__V1__ContainerStatus *st = &p->st;
    runtime__v1__container_status__init(st);
    st->id = c->id;
    st->metadata = &p->md;
    st->state = c->state;
    st->created_at = c->created_at;
    st->started_at = c->started_at;
    st->finished_at = c->finished_at;
    st->exit_code = c->exit_code;
    st->image = &p->img;
    st->image_ref = c->image_ref ? c->image_ref : (char *)"";
    st->image_id = c->image_id ? c->image_id : (char *)"";
    st->reason = c->reason ? c->reason : (char *)"";
    st->message = c->message ? c->message : (char *)"";
    st->log_path = c->log_path ? c->log_path : (char *)"";
    p->labels = berth_cri_map_copy(&runtime__v1__container_status__labels_entry__descriptor,
                                   cc->n_labels, (ProtobufCMessage *const *)cc->labels);
    p->annotations =
            berth_cri_map_copy(&runtime__v1__container_status__annotations_entry__descriptor,
                               cc->n_annotations, (ProtobufCMessage *const *)cc->annotations);
    st->n_labels = cc->n_labels;
    st->labels = p->labels;
    st->n_annotations = cc->n_annotations;
    st->annotations = p->annotations;
    st->n_mounts = cc->n_mounts;
    st->mounts = cc->mounts;
    /* as created, then as updated (record_resources) */
    runtime__v1__container_resources__init(&p->cres);
    if (cc->linux && cc->linux->resources) {
        p->cres.linux = cc->linux->resources;
        st->resources = &p->cres;
    }
}

static void status_parts_fini(status_parts_t *p)
{
    berth_free(p->labels);
    berth_free(p->annotations);
}

static void on_status(ctr_t *c, berth_cri_req_msg_t *rm)
{
    const Runtime__V1__ContainerStatusRequest *r =
            (const Runtime__V1__ContainerStatusRequest *)rm->req;
    status_parts_t parts;
    status_build(c, &parts);
    Runtime__V1__ContainerStatusResponse resp = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INIT;
    resp.status = &parts.st;
    Runtime__V1__ContainerStatusResponse__InfoEntry info =
            RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INFO_ENTRY__INIT;
    Runtime__V1__ContainerStatusResponse__InfoEntry *infop[] = {&info};
    BERTH_AUTO_FREE char *infojson = NULL;
    if (r->verbose) {
        json_t *o =
                json_pack("{s:s, s:s, s:i, s:s?, s:s?, s:s?, s:s?}", "name", c->name, "sandboxID",
                          c->pod_id, "pid", (int)c->pid, "rootfs", c->rootfs, "bundle", c->bundle,
                          "runtime", c->runtime_path, "stage", c->resv.stage);
        infojson = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        info.key = (char *)"info";
        info.value = infojson;
        resp.n_info = 1;
        resp.info = infop;
    }
    berth_cri_reply(rm->call, &resp.base);
    status_parts_fini(&parts);
    berth_msg_free(&rm->hdr);
}

/* The containers manager gathers a pod's container statuses for its
 * PodSandboxStatus. Answered in every phase: a container still being made
 * or stashed is not listed, so the manager does not ask it. */
static void on_status_query(ctr_t *c, berth_ctr_status_msg_t *q)
{
    status_parts_t parts;
    status_build(c, &parts);
    berth_ctr_status_msg_t *r = berth_ctr_status_query_new(q->reply_to, q->tag, q->slot);
    r->hdr.type = BERTH_MSG_CTR_STATUS_REPLY;
    r->answered = true;
    r->status = berth_cri_pack(&parts.st.base, &r->len);
    status_parts_fini(&parts);
    q->answered = true;
    berth_send(q->reply_to, &r->hdr);
}

/* ---- UpdateContainerResources ----------------------------------------------------------- */

static void update_job(void *arg)
{
    step_msg_t *s = arg;
    berth_file_write_atomic(s->path, s->record_json, strlen(s->record_json), 0600, &s->error);
}

static void on_update(ctr_t *c, berth_cri_req_msg_t *rm)
{
    const Runtime__V1__UpdateContainerResourcesRequest *r =
            (const Runtime__V1__UpdateContainerResourcesRequest *)rm->req;
    if (c->phase != PH_CREATED && c->phase != PH_RUNNING)
        return berth_cri_fail(
                rm, BERTH_GRPC_FAILED_PRECONDITION,
                "UpdateContainerResources: container %s is not running (it has exited); "
                "the resources of a stopped container cannot change",
                c->id);
    if (r->linux == NULL)
        return berth_cri_fail(rm, BERTH_GRPC_INVALID_ARGUMENT,
                              "UpdateContainerResources: no Linux resources in the request");
    const berth_runtimes_t *rts = berth_runtimes_current();
    berth_resources_fit_t fit;
    BERTH_AUTO_ERR berth_err_t ferr = NULL;
    if (berth_runtimes_fit_resources(rts ? &rts->cgroups : NULL, r->linux, &fit, &ferr) < 0)
        return berth_cri_fail(rm, ferr->grpc, "UpdateContainerResources: %s", ferr->msg);
    if (fit.ndropped)
        berth_log_debug("limits the node cannot apply left out", "id=%s dropped=\"%s\"", c->id,
                        fit.dropped);
    c->updating = rm;
    berth_resv_set_stage(&c->resv, "updating the container's resources");
    step_msg_t *s = step_new(c, STEP_UPDATE);
    s->record_json = berth_runtimes_update_json(&fit.res);
    berth_resources_fit_fini(&fit);
    /* in the bundle: removed with the container, never shared with another */
    s->path = berth_asprintf("%s/resources-update.json", c->bundle);
    berth_blocking_run(update_job, s, c->self, &s->hdr);
}

static void finish_update_err(berth_actor_t *self, ctr_t *c, berth_err_t err)
{
    berth_cri_req_msg_t *rm = berth_steal_ptr(&c->updating);
    berth_resv_set_stage(&c->resv, "done");
    berth_log_warn("container resources update failed", "id=%s error=\"%s\"", c->id, err->msg);
    if (rm) {
        berth_err_prefix(&err, "UpdateContainerResources");
        berth_grpc_finish_err(rm->call, err);
        berth_msg_free(&rm->hdr);
    }
    berth_err_free(&err);
    run_queued(self, c);
}

/* The container's resources after an update: the runtimes keep what the
 * update leaves at zero, so the record does the same. The new config goes
 * through pack/unpack so that fini frees it like any other. */
static void record_resources(ctr_t *c, const Runtime__V1__LinuxContainerResources *u)
{
    Runtime__V1__LinuxContainerConfig lx = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
    if (c->config->linux)
        lx = *c->config->linux;
    Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    if (lx.resources)
        res = *lx.resources;
    if (u->cpu_period)
        res.cpu_period = u->cpu_period;
    if (u->cpu_quota)
        res.cpu_quota = u->cpu_quota;
    if (u->cpu_shares)
        res.cpu_shares = u->cpu_shares;
    if (u->memory_limit_in_bytes)
        res.memory_limit_in_bytes = u->memory_limit_in_bytes;
    if (u->memory_swap_limit_in_bytes)
        res.memory_swap_limit_in_bytes = u->memory_swap_limit_in_bytes;
    if (u->cpuset_cpus && u->cpuset_cpus[0])
        res.cpuset_cpus = u->cpuset_cpus;
    if (u->cpuset_mems && u->cpuset_mems[0])
        res.cpuset_mems = u->cpuset_mems;
    if (u->n_hugepage_limits) {
        res.n_hugepage_limits = u->n_hugepage_limits;
        res.hugepage_limits = u->hugepage_limits;
    }
    if (u->n_unified) {
        res.n_unified = u->n_unified;
        res.unified = u->unified;
    }
    lx.resources = &res;
    Runtime__V1__ContainerConfig cc = *c->config;
    cc.linux = &lx;
    Runtime__V1__ContainerConfig *n = (Runtime__V1__ContainerConfig *)berth_cri_copy(&cc.base);
    if (n == NULL)
        return; /* cannot happen for bytes just packed; keep the old record */
    protobuf_c_message_free_unpacked(&c->config->base, pb_alloc());
    c->config = n;
}

static void on_update_done(berth_actor_t *self, ctr_t *c, berth_conmon_result_msg_t *m)
{
    if (m->error)
        return finish_update_err(self, c, berth_steal_ptr(&m->error));
    berth_cri_req_msg_t *rm = berth_steal_ptr(&c->updating);
    berth_resv_set_stage(&c->resv, "done");
    if (rm) {
        const Runtime__V1__UpdateContainerResourcesRequest *r =
                (const Runtime__V1__UpdateContainerResourcesRequest *)rm->req;
        record_resources(c, r->linux);
        write_record(c, STEP_RECORD, false);
        berth_log_info("container resources updated", "id=%s", c->id);
        Runtime__V1__UpdateContainerResourcesResponse resp =
                RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_RESPONSE__INIT;
        berth_cri_reply(rm->call, &resp.base);
        berth_msg_free(&rm->hdr);
    }
    run_queued(self, c);
}

/* A record says created: StartContainer answers before the start's record
 * is on disk, so a crash in between leaves a started container recorded as
 * created. The runtime knows; until it answers, requests other than status
 * wait (a StartContainer would fail on a running container). */
static void reconcile_created(ctr_t *c)
{
    berth_err_t err = NULL;
    berth_runtime_t rt = runtime_of(c);
    if (berth_conmon_state(c->self, &rt, c->id, TAG_STATE, &err) < 0) {
        berth_log_warn("cannot ask the runtime about a restored container", "id=%s error=\"%s\"",
                       c->id, err->msg);
        berth_err_free(&err);
        return;
    }
    c->reconciling = true;
}

static void on_reconciled(berth_actor_t *self, ctr_t *c, berth_conmon_result_msg_t *m)
{
    c->reconciling = false;
    if (m->error) {
        berth_log_warn("the runtime's state of a restored container is unknown; it stays created",
                       "id=%s error=\"%s\"", c->id, m->error->msg);
    } else if (c->phase == PH_CREATED && m->status && strcmp(m->status, "created") != 0) {
        /* started before the crash: running, or exited since (the watcher
         * then reports its exit file) */
        berth_log_info("a restored container was started before the restart", "id=%s status=%s",
                       c->id, m->status);
        c->phase = PH_RUNNING;
        c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        if (m->pid > 0)
            c->pid = m->pid;
        /* when the restart found it so: the start's own time was lost */
        c->started_at = (int64_t)berth_wall_ns();
        write_record(c, STEP_RECORD, false);
        if (!c->watching && berth_handle_valid(c->watcher)) {
            berth_conmon_watch(c->watcher, c->id, c->persist_dir, c->self);
            c->watching = true;
        }
        publish(c);
    }
    run_queued(self, c);
}

static bool busy(const ctr_t *c)
{
    return c->phase == PH_CREATING || c->phase == PH_UNDOING || c->phase == PH_REMOVING ||
           c->starting != NULL || c->updating != NULL || c->reconciling;
}

static void handle_request(berth_actor_t *self, ctr_t *c, berth_cri_req_msg_t *rm)
{
    const char *m = rm->method->name;
    if (c->phase == PH_RELEASING) {
        berth_grpc_call_set_owner(rm->call, c->mgr);
        berth_send(c->mgr, &rm->hdr);
        return;
    }
    if (strcmp(m, "CreateContainer") == 0) {
        berth_grpc_call_t *call = berth_steal_ptr(&rm->call);
        uint64_t deadline = rm->deadline_ns;
        berth_msg_free(&rm->hdr);
        bool was = listed(c);
        if (berth_resv_request(self, &c->resv, call, deadline)) {
            release(c);
            return;
        }
        if (!was && listed(c))
            publish(c);
        return;
    }
    if (strcmp(m, "ContainerStatus") == 0)
        return on_status(c, rm);
    if (strcmp(m, "ExecSync") == 0)
        return on_exec(c, rm);
    if (busy(c)) {
        push(&c->queued, &c->n_queued, &c->cap_queued, rm);
        return;
    }
    if (strcmp(m, "StartContainer") == 0)
        return on_start(self, c, rm);
    if (strcmp(m, "StopContainer") == 0)
        return on_stop(self, c, rm);
    if (strcmp(m, "RemoveContainer") == 0)
        return on_remove(self, c, rm);
    if (strcmp(m, "ReopenContainerLog") == 0) {
        if (c->phase != PH_RUNNING)
            return berth_cri_fail(rm, BERTH_GRPC_FAILED_PRECONDITION,
                                  "ReopenContainerLog: container %s is not running", c->id);
        push(&c->waiting, &c->n_waiting, &c->cap_waiting, rm);
        step_msg_t *s = step_new(c, STEP_REOPEN);
        berth_blocking_run(reopen_job, s, c->self, &s->hdr);
        return;
    }
    if (strcmp(m, "UpdateContainerResources") == 0)
        return on_update(c, rm);
    berth_cri_fail(rm, BERTH_GRPC_UNIMPLEMENTED, "%s is not implemented by berth yet", m);
}

static void run_queued(berth_actor_t *self, ctr_t *c)
{
    while (c->n_queued && !busy(c) && c->phase != PH_RELEASING) {
        berth_cri_req_msg_t *rm = c->queued[0];
        memmove(c->queued, c->queued + 1, (c->n_queued - 1) * sizeof(*c->queued));
        c->n_queued--;
        handle_request(self, c, rm);
    }
    if (c->phase == PH_RELEASING) {
        while (c->n_queued)
            handle_request(self, c, c->queued[--c->n_queued]);
    }
}

/* ---- completions ------------------------------------------------------------------------------
 */

static void on_step(berth_actor_t *self, ctr_t *c, step_msg_t *s)
{
    switch (s->step) {
    case STEP_PREPARE:
        if (s->path) {
            berth_free(c->runtime_path);
            c->runtime_path = berth_steal_ptr(&s->path);
        }
        prep_joined(self, c, berth_steal_ptr(&s->error));
        return;
    case STEP_INTENT:
        prep_joined(self, c, berth_steal_ptr(&s->error));
        return;
    case STEP_STAGE:
        c->stage_pending = false;
        c->staged = s->error == NULL;
        if (s->error)
            berth_log_warn("cannot stage the container record; it is written whole at commit",
                           "id=%s error=\"%s\"", c->id, s->error->msg);
        if (c->prep_failure != NULL)
            return fail_creation(self, c, berth_steal_ptr(&c->prep_failure));
        if (c->commit_waiting) {
            c->commit_waiting = false;
            commit_record(c);
        }
        return;
    case STEP_UPDATE: {
        if (s->error)
            return finish_update_err(self, c, berth_steal_ptr(&s->error));
        berth_err_t err = NULL;
        berth_runtime_t rt = runtime_of(c);
        if (berth_conmon_update(c->self, &rt, c->id, s->path, TAG_UPDATE, &err) < 0)
            finish_update_err(self, c, err);
        return;
    }
    case STEP_COMMIT:
        if (s->error)
            return fail_creation(self, c, berth_steal_ptr(&s->error));
        finish_creation(self, c);
        return;
    case STEP_RECORD:
        if (s->error)
            berth_log_error("cannot write the container record", "id=%s error=\"%s\"", c->id,
                            s->error->msg);
        return;
    case STEP_CLEANUP:
        if (s->error)
            berth_log_error("container cleanup incomplete", "id=%s error=\"%s\"", c->id,
                            s->error->msg);
        teardown_next(self, c);
        return;
    case STEP_REOPEN: {
        berth_cri_req_msg_t *rm = NULL;
        for (size_t i = 0; i < c->n_waiting; i++) {
            if (strcmp(c->waiting[i]->method->name, "ReopenContainerLog") == 0) {
                rm = c->waiting[i];
                c->waiting[i] = c->waiting[--c->n_waiting];
                break;
            }
        }
        if (rm == NULL)
            return;
        if (s->error) {
            berth_grpc_finish_err(rm->call, s->error);
            berth_msg_free(&rm->hdr);
        } else {
            reply_empty(rm);
        }
        return;
    }
    default:
        return;
    }
}

static void on_conmon_created(berth_actor_t *self, ctr_t *c, berth_conmon_created_msg_t *m)
{
    if (m->error)
        return fail_creation(self, c, berth_steal_ptr(&m->error));
    c->pid = m->pid;
    c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
    if (c->stage_pending) {
        c->commit_waiting = true;
        return;
    }
    commit_record(c);
}

static void on_result(berth_actor_t *self, ctr_t *c, berth_conmon_result_msg_t *m)
{
    if (m->tag >= TAG_EXEC_BASE)
        return on_exec_done(c, m);
    switch (m->tag) {
    case TAG_START: {
        berth_cri_req_msg_t *rm = berth_steal_ptr(&c->starting);
        if (m->error) {
            berth_log_warn("container start failed", "id=%s error=\"%s\"", c->id, m->error->msg);
            if (c->infra)
                infra_answer(c, m->error);
            if (rm) {
                berth_grpc_finish_err(rm->call, m->error);
                berth_msg_free(&rm->hdr);
            }
        } else {
            if (c->phase == PH_CREATED) {
                c->phase = PH_RUNNING;
                c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
            }
            if (c->infra)
                infra_answer(c, NULL);
            c->started_at = (int64_t)berth_wall_ns();
            write_record(c, STEP_RECORD, false);
            publish(c);
            if (rm)
                reply_empty(rm);
        }
        run_queued(self, c);
        return;
    }
    case TAG_UPDATE:
        return on_update_done(self, c, m);
    case TAG_KILL:
        if (m->error && m->error->grpc != BERTH_GRPC_NOT_FOUND)
            berth_log_warn("kill failed", "id=%s error=\"%s\"", c->id, m->error->msg);
        return;
    case TAG_STATE:
        return on_reconciled(self, c, m);
    case TAG_DELETE:
        if (m->error && m->error->grpc != BERTH_GRPC_NOT_FOUND)
            berth_log_warn("runtime delete failed", "id=%s error=\"%s\"", c->id, m->error->msg);
        teardown_next(self, c);
        return;
    default:
        return;
    }
}

static void ctr_receive(berth_actor_t *self, berth_msg_t *msg)
{
    ctr_t *c = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_CRI_REQUEST:
        handle_request(self, c, (berth_cri_req_msg_t *)msg);
        return;
    case BERTH_MSG_CTR_START:
        if (c->phase == PH_CREATING)
            start_creation(self, c);
        else if (c->phase == PH_UNDOING)
            teardown_next(self, c);
        else {
            if (c->phase == PH_RUNNING && berth_handle_valid(c->watcher)) {
                berth_conmon_watch(c->watcher, c->id, c->persist_dir, c->self);
                c->watching = true;
            }
            if (c->phase == PH_CREATED)
                reconcile_created(c);
            publish(c);
        }
        break;
    case BERTH_MSG_POD_INFO:
        on_pod_info(self, c, (berth_pod_info_msg_t *)msg);
        break;
    case BERTH_MSG_IMAGES_LOOKUP_REPLY:
        on_image(self, c, (berth_image_lookup_msg_t *)msg);
        break;
    case BERTH_MSG_OVERLAY_DONE:
        on_overlay(self, c, (berth_overlay_done_msg_t *)msg);
        break;
    case BERTH_MSG_CTR_STEP:
        on_step(self, c, (step_msg_t *)msg);
        break;
    case BERTH_MSG_CONMON_CREATED:
        on_conmon_created(self, c, (berth_conmon_created_msg_t *)msg);
        break;
    case BERTH_MSG_CONMON_RESULT:
        on_result(self, c, (berth_conmon_result_msg_t *)msg);
        break;
    case BERTH_MSG_CONMON_EXIT:
        on_exit_msg(self, c, (berth_conmon_exit_msg_t *)msg);
        break;
    case BERTH_MSG_CTR_RELOOKUP:
        if (c->phase == PH_CREATING)
            berth_image_lookup(c->images, c->config->image->image, c->self, 0);
        break;
    case BERTH_MSG_CTR_SIG_POLL:
        on_sig_poll(self, c);
        break;
    case BERTH_MSG_CTR_STOP_TIMEOUT:
        c->stop_timer = NULL;
        sig_poll_cancel(self, c);
        if (c->phase == PH_RUNNING) {
            berth_log_info("stop timeout passed: killing", "id=%s", c->id);
            kill_ctr(c, SIGKILL, TAG_KILL);
        }
        break;
    case BERTH_MSG_CTR_BYE:
        berth_actor_exit(self);
        break;
    case BERTH_MSG_CTR_DOWN:
        on_down(self, c, (berth_ctrs_down_msg_t *)msg);
        break;
    case BERTH_MSG_CTR_STATUS_QUERY:
        on_status_query(c, (berth_ctr_status_msg_t *)msg);
        break;
    default: {
        int r = berth_resv_on_msg(self, &c->resv, msg);
        if (r == 1) {
            c->undo_for_expiry = true;
            c->phase = PH_UNDOING;
            teardown_next(self, c);
        }
        if (r >= 0)
            return;
        if (msg->type == BERTH_MSG_GRPC_CANCEL) {
            berth_grpc_cancel_msg_t *cm = (berth_grpc_cancel_msg_t *)msg;
            berth_grpc_call_unref(cm->call);
            cm->call = NULL;
        }
        break;
    }
    }
    berth_msg_free(msg);
}

static void ctr_fini(void *state)
{
    ctr_t *c = state;
    berth_resv_fini(NULL, &c->resv);
    for (size_t i = 0; i < c->n_queued; i++)
        berth_msg_free(&c->queued[i]->hdr);
    for (size_t i = 0; i < c->n_waiting; i++)
        berth_msg_free(&c->waiting[i]->hdr);
    for (size_t i = 0; i < c->n_execs; i++)
        berth_msg_free(&c->execs[i].rm->hdr);
    if (c->starting)
        berth_msg_free(&c->starting->hdr);
    if (c->updating)
        berth_msg_free(&c->updating->hdr);
    berth_free(c->queued);
    berth_free(c->waiting);
    berth_free(c->execs);
    if (c->config)
        protobuf_c_message_free_unpacked(&c->config->base, pb_alloc());
    berth_pod_info_free(c->pod);
    berth_store_image_free(c->image);
    berth_strv_free(c->layer_dirs);
    berth_err_free(&c->failure);
    berth_err_free(&c->prep_failure);
    char **fields[] = {&c->id,         &c->name,        &c->pod_id,       &c->rootfs,
                       &c->bundle,     &c->persist_dir, &c->exit_dir,     &c->socket_dir,
                       &c->log_path,   &c->record_path, &c->runtime_path, &c->runtime_root,
                       &c->image_name, &c->image_ref,   &c->image_id,     &c->reason,
                       &c->message,    &c->staged_path};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(fields); i++)
        berth_free(*fields[i]);
    berth_config_unref(c->cfg);
    berth_free(c);
}

static const berth_actor_class_t ctr_class = {
        .name = "container",
        .receive = ctr_receive,
        .fini = ctr_fini,
};

static ctr_t *ctr_new(const berth_ctr_init_t *b, const char *id, const char *name,
                      const char *pod_id)
{
    ctr_t *c = berth_calloc(1, sizeof(*c));
    c->cfg = berth_config_ref(b->cfg);
    c->mgr = b->mgr;
    c->pods = b->pods;
    c->images = b->images;
    c->watcher = b->watcher;
    c->id = berth_strdup(id);
    c->name = berth_strdup(name);
    c->pod_id = berth_strdup(pod_id);
    c->bundle = berth_asprintf("%s/containers/%s", b->cfg->runroot, id);
    c->persist_dir = berth_asprintf("%s/userdata", c->bundle);
    c->exit_dir = berth_asprintf("%s/exits", b->cfg->runroot);
    c->socket_dir = berth_asprintf("%s/socks", b->cfg->runroot);
    c->record_path = berth_asprintf("%s/containers/%s.json", b->cfg->root, id);
    c->staged_path = berth_asprintf("%s.staged", c->record_path);
    c->runtime_path = berth_strdup("");
    c->runtime_root = berth_strdup("");
    c->stop_signal = SIGTERM;
    c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
    berth_resv_init(&c->resv, "container", "CreateContainer", name,
                    (uint64_t)b->cfg->stall_margin_ns, (uint64_t)b->cfg->stash_window_ns);
    return c;
}

berth_handle_t berth_container_spawn(const berth_ctr_init_t *init)
{
    ctr_t *c = ctr_new(init, init->id, init->name, init->pod_id);
    c->config = (Runtime__V1__ContainerConfig *)berth_cri_copy(&init->config->base);
    c->created_at = (int64_t)berth_wall_ns();
    c->phase = PH_CREATING;
    c->infra = init->infra;
    c->infra_reply = init->infra_reply;
    c->pod = init->pod_info;
    berth_handle_t h = berth_actor_spawn(&ctr_class, c);
    c->self = h;
    berth_send(h, berth_msg_new(BERTH_MSG_CTR_START, sizeof(berth_msg_t)));
    return h;
}

static char *jdup(json_t *rec, const char *key)
{
    const char *s = json_string_value(json_object_get(rec, key));
    return s ? berth_strdup(s) : NULL;
}

berth_handle_t berth_container_restore(const berth_ctr_init_t *base, json_t *rec)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *name = json_string_value(json_object_get(rec, "name"));
    const char *pod_id = json_string_value(json_object_get(rec, "pod_id"));
    ctr_t *c = ctr_new(base, id, name, pod_id ? pod_id : "");
    c->config = (Runtime__V1__ContainerConfig *)berth_cri_from_hex(
            &runtime__v1__container_config__descriptor,
            json_string_value(json_object_get(rec, "config")));
    if (c->config == NULL || c->config->metadata == NULL || c->config->image == NULL) {
        /* An unreadable config: a minimal one (on the same allocator) lets
         * the record still be undone or removed. */
        if (c->config)
            protobuf_c_message_free_unpacked(&c->config->base, pb_alloc());
        Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
        md.name = (char *)"unknown";
        Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        cc.metadata = &md;
        cc.image = &img;
        c->config = (Runtime__V1__ContainerConfig *)berth_cri_copy(&cc.base);
    }
    c->made = (unsigned)json_integer_value(json_object_get(rec, "made"));
    c->state = (int)json_integer_value(json_object_get(rec, "state"));
    c->created_at = json_integer_value(json_object_get(rec, "created_at"));
    c->started_at = json_integer_value(json_object_get(rec, "started_at"));
    c->finished_at = json_integer_value(json_object_get(rec, "finished_at"));
    c->exit_code = (int)json_integer_value(json_object_get(rec, "exit_code"));
    c->pid = (pid_t)json_integer_value(json_object_get(rec, "pid"));
    c->stop_signal = (int)json_integer_value(json_object_get(rec, "stop_signal"));
    c->reason = jdup(rec, "reason");
    c->message = jdup(rec, "message");
    c->rootfs = jdup(rec, "rootfs");
    c->log_path = jdup(rec, "log_path");
    char *rp = jdup(rec, "runtime_path"), *rr = jdup(rec, "runtime_root");
    if (rp) {
        berth_free(c->runtime_path);
        c->runtime_path = rp;
    }
    if (rr) {
        berth_free(c->runtime_root);
        c->runtime_root = rr;
    }
    c->image_name = jdup(rec, "image_name");
    c->image_ref = jdup(rec, "image_ref");
    c->image_id = jdup(rec, "image_id");
    bool creating = json_is_true(json_object_get(rec, "creating"));
    c->infra = json_is_true(json_object_get(rec, "infra"));
    json_decref(rec);
    /* A restart never touches a running container: conmon keeps it; the
     * watcher reports an exit that happened meanwhile. */
    if (creating) {
        c->restored_creating = true;
        c->made |= MADE_RUNTIME | MADE_ROOTFS | MADE_DIRS | MADE_RECORD;
        c->phase = PH_UNDOING;
    } else {
        c->phase = c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING   ? PH_RUNNING
                   : c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED ? PH_CREATED
                                                                                 : PH_EXITED;
        c->made |= MADE_RUNTIME | MADE_ROOTFS | MADE_DIRS | MADE_RECORD;
        Runtime__V1__CreateContainerResponse resp = RUNTIME__V1__CREATE_CONTAINER_RESPONSE__INIT;
        resp.container_id = c->id;
        size_t len;
        c->resv.reply = berth_cri_pack(&resp.base, &len);
        c->resv.reply_len = len;
        c->resv.state = BERTH_RESV_DELIVERED;
        berth_resv_set_stage(&c->resv, "done");
    }
    berth_handle_t h = berth_actor_spawn(&ctr_class, c);
    c->self = h;
    berth_send(h, berth_msg_new(BERTH_MSG_CTR_START, sizeof(berth_msg_t)));
    return h;
}
