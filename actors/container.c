// SPDX-License-Identifier: Apache-2.0
/*
 * The container actor. Creation is a chain of steps, each started in a turn
 * and finished by a message:
 *
 *   pod info (pods actor) -> image (images actor) -> image volumes
 *   (images actor, only for Mount.image) -> { intent record
 *   (pool) | root filesystem (overlay, pool) -> prepare (pool: directories,
 *   user lookup in the image's own /etc/passwd, OCI spec) } -> conmon +
 *   runtime create -> commit (pool: record)
 *
 * A restore (config.image.image names a checkpoint archive,
 * docs/checkpoint.md) adds two steps: after the pod, the archive unpacked
 * and checked and the upper directory filled from it (pool); after the
 * image, CRIU's verdict. Its spec is spec.dump fitted to the one berth
 * writes (the prepare job), and it has no runtime container until
 * StartContainer runs `runtime restore` under the monitor (on_conmon_created
 * then answers the start).
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
#include "actors/container-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <protobuf-c/protobuf-c.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/creation.h"
#include "actors/ctrsec.h"
#include "actors/ctrspec.h"
#include "actors/cri.h"
#include "actors/imagelookup.h"
#include "actors/msgtypes.h"
#include "actors/runtimes.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/fs.h"
#include "io/conmon.h"
#include "io/monitor.h"
#include "io/grpc.h"
#include "io/imagevol.h"
#include "io/ocispec.h"
#include "io/overlay.h"
#include "io/procsig.h"
#include "io/checkpoint.h"
#include "io/criu.h"
#include "io/restore.h"

static void step_msg_free(berth_msg_t *m)
{
    step_msg_t *s = (step_msg_t *)m;
    berth_free(s->record_json);
    berth_free(s->path);
    berth_err_free(&s->error);
    berth_free(s);
}

step_msg_t *ctr_step_new(ctr_t *c, int step)
{
    step_msg_t *s = berth_msg_new(BERTH_MSG_CTR_STEP, sizeof(*s));
    s->hdr.free = step_msg_free;
    s->step = step;
    s->c = c;
    return s;
}

void ctr_reply_empty(berth_cri_req_msg_t *rm)
{
    berth_grpc_reply(rm->call, "", 0);
    berth_msg_free(&rm->hdr);
}

berth_runtime_t ctr_runtime_of(const ctr_t *c)
{
    return (berth_runtime_t){.path = c->runtime_path, .root = c->runtime_root};
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
    json_object_set_new(o, "made", json_integer(c->cr.made));
    json_object_set_new(o, "state", json_integer(state));
    json_object_set_new(o, "created_at", json_integer(c->created_at));
    json_object_set_new(o, "started_at", json_integer(c->started_at));
    json_object_set_new(o, "finished_at", json_integer(c->finished_at));
    json_object_set_new(o, "exit_code", json_integer(c->exit_code));
    json_object_set_new(o, "pid", json_integer(c->pid));
    json_object_set_new(o, "stop_signal", json_integer(c->stop_signal));
    if (c->user_set) {
        json_t *g = json_array();
        for (size_t i = 0; i < c->user.ngids; i++)
            json_array_append_new(g, json_integer(c->user.gids[i]));
        json_object_set_new(o, "user",
                            json_pack("{s:I, s:I, s:o, s:b}", "uid", (json_int_t)c->user.uid, "gid",
                                      (json_int_t)c->user.gid, "groups", g, "read", c->user_read));
    }
    json_object_set_new(o, "reason", JSTR(c->reason));
    json_object_set_new(o, "message", JSTR(c->message));
    json_object_set_new(o, "rootfs", JSTR(c->rootfs));
    json_object_set_new(o, "log_path", JSTR(c->log_path));
    json_object_set_new(o, "runtime_path", JSTR(c->runtime_path));
    json_object_set_new(o, "runtime_root", JSTR(c->runtime_root));
    json_object_set_new(o, "image_name", JSTR(c->image_name));
    json_object_set_new(o, "image_ref", JSTR(c->image_ref));
    json_object_set_new(o, "image_id", JSTR(c->image_id));
    /* the images of the image volumes this container claims, which a
     * restart claims again (actors/containers.c) */
    json_t *vols = json_array();
    for (size_t i = 0; i < c->config->n_mounts; i++) {
        const Runtime__V1__ImageSpec *im = c->config->mounts[i]->image;
        if (im && im->image_ref && im->image_ref[0])
            json_array_append_new(vols, json_string(im->image_ref));
    }
    json_object_set_new(o, "image_volumes", vols);
    char *out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return out;
}

char *ctr_record_json(const ctr_t *c, bool creating)
{
    return record_json_as(c, creating, c->state);
}

/* ---- blocking jobs (pool) ------------------------------------------------------------------- */

static void prepare_job(void *arg)
{
    step_msg_t *s = arg;
    ctr_t *c = s->c;
    if (c->runtime_path[0] != '/') {
        char *p = berth_fs_find_exec(c->runtime_path);
        if (p == NULL) {
            berth_err_make(&s->error, ENOENT, BERTH_ERR_PRECONDITION,
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
    /* Image volumes: the mount, or the sub path inside it, resolved here
     * because the lookup walks the image (symlinks stay inside it). */
    size_t nm = c->config->n_mounts;
    char **sources = berth_calloc(nm + 1, sizeof(char *));
    for (size_t i = 0; c->vol_paths && i < nm && s->error == NULL; i++) {
        const Runtime__V1__Mount *m = c->config->mounts[i];
        if (c->vol_paths[i] == NULL)
            continue;
        if (berth_imagevol_subpath(c->vol_paths[i], m->image_sub_path, &sources[i], &s->error) < 0)
            berth_err_prefix(&s->error, "CreateContainer: config.mounts[%zu] (image %s)", i,
                             m->image->image);
    }
    /* the seccomp notifier listens before the runtime is asked to create;
     * the actor reads c->sn only after this job's step message */
    BERTH_AUTO_FREE char *listener = NULL;
    if (s->error == NULL &&
        berth_ctrsec_notify_config(c->cfg, c->pod->handler, c->config, &c->sn, &s->error) == 0 &&
        c->sn.enabled && !c->infra) {
        listener = berth_asprintf("%s/seccomp-%.12s.sock", c->socket_dir, c->id);
        c->sn.notifier = berth_seccomp_notifier_start(listener, c->self, &s->error);
    }
    if (s->error) {
        for (size_t i = 0; i < nm; i++)
            berth_free(sources[i]);
        berth_free(sources);
        return;
    }
    BERTH_AUTO_FREE char *idmap_dir =
            c->pod && c->pod->user_ns
                    ? berth_asprintf("%s/overlay-containers/%s/idmap", c->cfg->root, c->id)
                    : NULL;
    berth_ctrspec_in_t in = {
            .idmap_dir = idmap_dir,
            .config = c->config,
            .image_sources = (const char *const *)sources,
            .pod = c->pod,
            .image = c->image,
            .id = c->id,
            .image_name = c->image_name,
            .rootfs = c->rootfs,
            .bundle = c->bundle,
            .infra = c->infra,
            .pids_limit = c->cfg->pids_limit,
            .user = &c->user,
            .cfg = c->cfg,
            .seccomp_listener = listener,
            .nri = &c->nri,
    };
    if (berth_ctrspec_write(&in, &c->stop_signal, &s->error) == 0 && c->restoring) {
        BERTH_AUTO_FREE char *config = berth_asprintf("%s/config.json", c->bundle);
        if (berth_restore_write_spec(c->ckpt_dir, config, &s->error) < 0)
            berth_err_prefix(&s->error, "CreateContainer: %s", c->config->image->image);
    }
    for (size_t i = 0; i < nm; i++)
        berth_free(sources[i]);
    berth_free(sources);
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
    /* the recursive read-only clones first: the removal cannot pass them */
    berth_ctrsec_rro_release(c->bundle, NULL);
    berth_fs_remove_tree(c->bundle);
    BERTH_AUTO_FREE char *exitf = berth_asprintf("%s/%s", c->exit_dir, c->id);
    berth_fs_unlink(exitf, "exit file", NULL);
    berth_fs_unlink(c->staged_path, "staged container record", NULL);
    berth_fs_unlink(c->record_path, "container record", &s->error);
}

void ctr_reopen_job(void *arg)
{
    step_msg_t *s = arg;
    berth_conmon_reopen_log_wait(s->c->bundle, s->c->log_path, 2000, &s->error);
}

/* ---- publishing ---------------------------------------------------------------------------- */

static bool listed(const ctr_t *c)
{
    return !c->infra && berth_creation_listed(&c->cr);
}

void ctr_publish(void *owner)
{
    ctr_t *c = owner;
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
    /* the kubelet sends the image ID as `image` and the pod spec's name here */
    const char *user = cc->image ? cc->image->user_specified_image : NULL;
    s->image_user = berth_strdup(user && user[0] ? user : s->image);
    /* the path io/ocispec.c gives the runtime (cgroupfs) */
    s->cgroup = c->pod ? berth_asprintf("%s/berth-%s",
                                        c->pod->cgroup_parent[0] ? c->pod->cgroup_parent : "/berth",
                                        c->id)
                       : berth_strdup("");
    berth_kv_copy(&s->labels, cc->n_labels, (ProtobufCMessage *const *)cc->labels);
    berth_kv_copy(&s->annotations, cc->n_annotations, (ProtobufCMessage *const *)cc->annotations);
    s->listed = listed(c);
    berth_ctr_summary_msg_t *m = berth_msg_new(BERTH_MSG_CTR_SUMMARY, sizeof(*m));
    m->summary = s;
    berth_send(c->mgr, &m->hdr);
    /* Every state change goes through here: one event per new state, from
     * this actor only, so one container's events stay in order. */
    if (listed(c) && c->announced != c->state + 1) {
        c->announced = c->state + 1;
        switch (c->state) {
        case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED:
            ctr_announce(c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
            break;
        case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING:
            ctr_announce(c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
            break;
        case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED:
            ctr_announce(c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
            break;
        default:
            break;
        }
    }
}

void ctr_down_done(ctr_t *c)
{
    if (!c->down_pending)
        return;
    c->down_pending = false;
    berth_ctrs_down_msg_t *d = berth_ctrs_down_new(BERTH_MSG_CTR_DOWN_DONE, c->pod_id,
                                                   c->down_remove, BERTH_HANDLE_NONE, c->down_tag);
    berth_send(c->mgr, &d->hdr);
}

void ctr_write_record(ctr_t *c, int step, bool creating)
{
    step_msg_t *s = ctr_step_new(c, step);
    s->record_json = ctr_record_json(c, creating);
    berth_blocking_run(record_job, s, c->self, &s->hdr);
}

/* ---- creation ------------------------------------------------------------------------------- */

/* A failure while the staged record is being written waits for it: undo
 * removes the staged file, not before it is written. */
static void ctr_fail(berth_actor_t *self, ctr_t *c, berth_err_t err)
{
    if (c->stage_pending) {
        if (c->prep_failure == NULL)
            c->prep_failure = err;
        else
            berth_err_free(&err);
        return;
    }
    berth_creation_fail(self, &c->cr, err);
}

static void step_pod(berth_actor_t *self, void *owner)
{
    ctr_t *c = owner;
    if (c->pod) /* a pause container: its pod, still being created, sent its info */
        return berth_creation_next(self, &c->cr);
    berth_pod_info_request(c->pods, c->pod_id, c->self, 0);
}

static void on_pod_info(berth_actor_t *self, ctr_t *c, berth_pod_info_msg_t *m)
{
    if (c->cr.phase != PH_CREATING)
        return;
    if (m->error) {
        berth_err_prefix(&m->error, "CreateContainer");
        return ctr_fail(self, c, berth_steal_ptr(&m->error));
    }
    c->pod = berth_steal_ptr(&m->info);
    berth_creation_next(self, &c->cr);
}

static void step_image(berth_actor_t *self, void *owner)
{
    ctr_t *c = owner;
    berth_err_t err = NULL;
    if (!c->pod->ready && !c->infra) {
        berth_err_make(&err, EINVAL, BERTH_ERR_PRECONDITION,
                       "CreateContainer: pod sandbox %s is not ready", c->pod_id);
        return ctr_fail(self, c, err);
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
        berth_err_make(&err, EINVAL, BERTH_ERR_PRECONDITION, "CreateContainer: %s", bad->message);
        return ctr_fail(self, c, err);
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
    berth_image_lookup(c->images, c->restoring ? c->ckpt_image : c->config->image->image, c->self,
                       0);
}

/* The pause image is berth's to fetch (the kubelet never pulls it): an
 * internal PullImage, then the lookup again every half second for a minute. */
static bool infra_pull(berth_actor_t *self, ctr_t *c, const berth_image_lookup_msg_t *m)
{
    if (!c->infra || (m->error && m->error->kind != BERTH_ERR_NOT_FOUND) || c->relookups >= 120)
        return false;
    if (!c->pull_sent) {
        c->pull_sent = true;
        berth_creation_stage(&c->cr, "pulling the pause image");
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
    if (c->cr.phase != PH_CREATING)
        return;
    if ((m->error || m->image == NULL) && infra_pull(self, c, m))
        return;
    if (m->error || m->image == NULL) {
        berth_err_t err = m->error ? berth_steal_ptr(&m->error) : NULL;
        if (err == NULL)
            berth_err_make(&err, ENOENT, BERTH_ERR_NOT_FOUND, "image %s not found",
                           c->restoring ? c->ckpt_image : c->config->image->image);
        if (c->restoring)
            berth_err_prefix(&err, "the checkpoint's image (config.dump's rootfsImageName)");
        berth_err_prefix(&err, "CreateContainer");
        return ctr_fail(self, c, err);
    }
    c->image = berth_steal_ptr(&m->image);
    c->layer_dirs = berth_steal_ptr(&m->layer_dirs);
    c->n_layer_dirs = m->n_layer_dirs;
    m->n_layer_dirs = 0;
    c->image_name = berth_strdup(c->restoring ? c->ckpt_image : c->config->image->image);
    c->image_id = berth_strdup(c->image->id);
    c->image_ref = berth_strdup(c->image->n_digests ? c->image->digests[0] : c->image->id);
    berth_creation_next(self, &c->cr);
}

/* ---- image volumes ---- */

static bool no_volumes(const void *owner)
{
    const ctr_t *c = owner;
    for (size_t i = 0; i < c->config->n_mounts; i++) {
        if (c->config->mounts[i]->image)
            return false;
    }
    return true;
}

/* ---- NRI ---- */

/* The pod's pause container is berth's own: NRI plugins see the pod, not it. */
static bool no_nri(const void *owner)
{
    const ctr_t *c = owner;
    return c->infra || !berth_nrisrv_enabled();
}

/* Asks every NRI plugin subscribed to CreateContainer, in index order; the
 * answer (on_nri) carries their adjustments, applied when the spec is
 * written. Nothing is made here, so a refusal has nothing to undo. */
static void step_nri(berth_actor_t *self, void *owner)
{
    (void)self;
    ctr_t *c = owner;
    berth_nrisrv_hook_send(
            berth_nri_create_hook(c->pod, c->id, c->config, c->self, BERTH_MSG_CTR_NRI));
}

static void on_nri(berth_actor_t *self, ctr_t *c, berth_nrisrv_hook_t *h)
{
    if (c->cr.phase != PH_CREATING)
        return;
    berth_err_t err = NULL;
    if (h->error) {
        err = berth_steal_ptr(&h->error);
        berth_err_prefix(&err, "CreateContainer");
        return ctr_fail(self, c, err);
    }
    for (size_t i = 0; i < h->nresults; i++) {
        const berth_nrisrv_result_t *r = &h->results[i];
        if (berth_nri_adjust_add(&c->nri, r->plugin, r->payload, r->len, &err) < 0) {
            berth_err_prefix(&err, "CreateContainer");
            return ctr_fail(self, c, err);
        }
    }
    BERTH_AUTO_FREE const char **plugins = berth_calloc(h->nresults + 1, sizeof(char *));
    for (size_t i = 0; i < h->nresults; i++)
        plugins[i] = h->results[i].plugin;
    if (berth_nri_validate(&c->nri, c->cfg, c->config, c->pod, plugins, h->nresults, &err) < 0) {
        berth_err_prefix(&err, "CreateContainer");
        return ctr_fail(self, c, err);
    }
    if (h->nresults)
        berth_log_info("NRI plugins adjusted the container",
                       "id=%s plugins=%zu env=%zu "
                       "annotations=%zu mounts=%zu fields=%zu",
                       c->id, h->nresults, c->nri.nenv, c->nri.nannotations, c->nri.nmounts,
                       c->nri.owners ? json_object_size(c->nri.owners) : 0);
    /* the updates and evictions of other containers, applied before the
     * creation goes on (a failure that is not ignore_failure fails it) */
    berth_nri_updates_t u = {0};
    for (size_t i = 0; i < h->nresults; i++) {
        const berth_nrisrv_result_t *r = &h->results[i];
        if (berth_nri_updates_add_packed(&u, r->plugin, BERTH_NRI_CREATE_CONTAINER, r->payload,
                                         r->len, &err) < 0)
            break;
    }
    berth_nri_res_t own;
    if (err == NULL && berth_nri_updates_take(&u, c->id, &own)) {
        berth_nri_res_fini(&own);
        berth_err_make(&err, EINVAL, BERTH_ERR_INVALID,
                       "an NRI plugin updates container %s while it is created (an adjustment "
                       "does that)",
                       c->id);
    }
    if (err) {
        berth_nri_updates_fini(&u);
        berth_err_prefix(&err, "CreateContainer");
        return ctr_fail(self, c, err);
    }
    if (berth_nri_updates_any(&u)) {
        berth_creation_stage(&c->cr, "applying the NRI plugins' updates of other containers");
        return berth_nri_updates_apply(&u, c->self, BERTH_MSG_CTR_NRI_APPLIED, 2);
    }
    berth_creation_next(self, &c->cr);
}

/* The other containers' updates asked for at CreateContainer, applied. */
static void on_nri_applied(berth_actor_t *self, ctr_t *c, berth_nri_applied_msg_t *m)
{
    if (c->cr.phase != PH_CREATING)
        return;
    if (m->error) {
        berth_err_t err = berth_steal_ptr(&m->error);
        berth_err_prefix(&err, "CreateContainer");
        return ctr_fail(self, c, err);
    }
    berth_creation_next(self, &c->cr);
}

/* Claims each Mount.image from the images actor, which mounts the image
 * once for every container using it. MADE_IMGVOL is set first: an undo
 * releases whatever was claimed, and the images actor sees the release
 * after the claims. */
static void step_volumes(berth_actor_t *self, void *owner)
{
    (void)self;
    ctr_t *c = owner;
    c->cr.made |= MADE_IMGVOL;
    c->n_vol_paths = c->config->n_mounts;
    c->vol_paths = berth_calloc(c->n_vol_paths + 1, sizeof(char *));
    for (size_t i = 0; i < c->config->n_mounts; i++) {
        const Runtime__V1__Mount *m = c->config->mounts[i];
        if (m->image == NULL)
            continue;
        c->vol_pending++;
        berth_image_vol_acquire(c->images, c->id, m->image->image, c->self, i);
    }
}

static void on_vol_acquired(berth_actor_t *self, ctr_t *c, berth_image_vol_msg_t *m)
{
    if (c->cr.phase != PH_CREATING || c->vol_pending == 0 || m->tag >= c->config->n_mounts)
        return;
    c->vol_pending--;
    if (m->error) {
        if (c->vol_failure == NULL) {
            c->vol_failure = berth_steal_ptr(&m->error);
            berth_err_prefix(&c->vol_failure, "CreateContainer: config.mounts[%llu]",
                             (unsigned long long)m->tag);
        }
    } else {
        c->vol_paths[m->tag] = berth_steal_ptr(&m->path);
        /* ContainerStatus reports it (Mount.image.image_ref), and the
         * record keeps it for a restart's claims. */
        Runtime__V1__ImageSpec *im = c->config->mounts[m->tag]->image;
        if (im->image_ref != (char *)protobuf_c_empty_string)
            berth_free(im->image_ref);
        im->image_ref = berth_strdup(m->image_id);
    }
    if (c->vol_pending > 0)
        return;
    if (c->vol_failure)
        return ctr_fail(self, c, berth_steal_ptr(&c->vol_failure));
    berth_creation_next(self, &c->cr);
}

/* The intent record goes to disk while the rootfs is mounted and the spec
 * written; the runtime starts only once both are done (see the top), so a
 * crash from here on is undone at the next start. */
static void step_rootfs(berth_actor_t *self, void *owner)
{
    (void)self;
    ctr_t *c = owner;
    c->cr.made |= MADE_RECORD;
    c->prep_pending = 2;
    ctr_write_record(c, STEP_INTENT, true);
    const berth_pod_info_t *pi = c->pod;
    berth_overlay_container_mount_idmapped_async(
            c->cfg->root, c->id, (const char *const *)c->layer_dirs, c->n_layer_dirs,
            pi ? pi->user_ns : NULL, pi ? &pi->uid_map : NULL, pi ? &pi->gid_map : NULL, c->self,
            0);
}

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
        return ctr_fail(self, c, berth_steal_ptr(&c->prep_failure));
    berth_creation_next(self, &c->cr);
}

static void on_overlay(berth_actor_t *self, ctr_t *c, berth_overlay_done_msg_t *m)
{
    if (c->cr.phase == PH_CREATING) {
        if (m->error)
            return prep_joined(self, c, berth_steal_ptr(&m->error));
        c->cr.made |= MADE_ROOTFS;
        c->rootfs = berth_steal_ptr(&m->rootfs);
        if (c->prep_failure != NULL) /* the intent record failed: no spec */
            return prep_joined(self, c, NULL);
        berth_creation_stage(&c->cr, "writing the OCI spec");
        c->cr.made |= MADE_DIRS;
        step_msg_t *s = ctr_step_new(c, STEP_PREPARE);
        berth_blocking_run(prepare_job, s, c->self, &s->hdr);
        return;
    }
    if (m->error)
        berth_log_error("cannot remove the container rootfs", "id=%s error=\"%s\"", c->id,
                        m->error->msg);
    berth_creation_undone(self, &c->cr, MADE_ROOTFS);
}

/* The committed record as it will be (created; the pid comes with the
 * start's record) is staged while the runtime works. */
static void step_runtime(berth_actor_t *self, void *owner)
{
    ctr_t *c = owner;
    step_msg_t *s = ctr_step_new(c, STEP_STAGE);
    s->record_json = record_json_as(c, false, RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED);
    c->stage_pending = true;
    berth_blocking_run(stage_job, s, c->self, &s->hdr);
    berth_err_t err = NULL;
    if (ctr_runtime_create(c, &err) < 0)
        ctr_fail(self, c, err);
}

int ctr_runtime_create(ctr_t *c, berth_err_t *err)
{
    BERTH_AUTO_FREE char *images =
            c->restoring ? berth_asprintf("%s/" BERTH_CKPT_IMAGES_DIR, c->ckpt_dir) : NULL;
    BERTH_AUTO_FREE char *work = c->restoring ? berth_asprintf("%s/work", c->ckpt_dir) : NULL;
    /* runc runs "criu" from its own PATH unless told (crun links libcriu) */
    const berth_criu_status_t *cs = c->restoring ? berth_criu_status() : NULL;
    const char *base = strrchr(c->runtime_path, '/');
    bool runc = strcmp(base ? base + 1 : c->runtime_path, "runc") == 0;
    berth_conmon_spec_t spec = {
            .conmon_path = c->cfg->conmon && c->cfg->conmon[0] ? c->cfg->conmon : NULL,
            .runtime = ctr_runtime_of(c),
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
            .restore_image_path = images,
            .restore_work_path = work,
            .criu = cs && runc ? cs->path : NULL,
    };
    c->cr.made |= MADE_RUNTIME; /* a failed create may leave a runtime container */
    return berth_handle_valid(c->monitor)
                   ? berth_monitor_create(c->monitor, c->self, &spec, TAG_CREATE, err)
                   : berth_conmon_create(c->self, &spec, TAG_CREATE, err);
}

/* The runtime created the container: commit the record (the staged one by
 * rename, or written whole if staging failed), then answer. */
static void step_commit(berth_actor_t *self, void *owner)
{
    (void)self;
    ctr_t *c = owner;
    if (c->restoring) /* no runtime container until StartContainer restores it */
        c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
    if (c->stage_pending) {
        c->commit_waiting = true;
        return;
    }
    if (!c->staged) {
        ctr_write_record(c, STEP_COMMIT, false);
        return;
    }
    step_msg_t *s = ctr_step_new(c, STEP_COMMIT);
    berth_blocking_run(commit_job, s, c->self, &s->hdr);
}

/* ---- restore from a checkpoint archive (docs/checkpoint.md) ---- */

static bool not_restoring(const void *owner)
{
    return !((const ctr_t *)owner)->restoring;
}

static bool is_restoring(const void *owner)
{
    return ((const ctr_t *)owner)->restoring;
}

/* The archive is the kubelet user's file: io/restore checks every member
 * as it unpacks, and removes what it wrote when one is refused. */
static void unpack_job(void *arg)
{
    step_msg_t *s = arg;
    const ctr_t *c = s->c;
    BERTH_AUTO_FREE char *parent = berth_strdup(c->ckpt_dir);
    *strrchr(parent, '/') = '\0';
    if (berth_fs_mkdir_p(parent, 0700, &s->error) < 0 ||
        berth_restore_unpack(c->config->image->image, c->ckpt_dir, &s->error) < 0)
        return;
    berth_restore_config_t rc;
    if (berth_restore_read_config(c->ckpt_dir, &rc, &s->error) < 0) {
        berth_err_prefix(&s->error, "checkpoint archive %s", c->config->image->image);
        return;
    }
    s->path = berth_steal_ptr(&rc.image);
    berth_restore_config_fini(&rc);
    /* The root filesystem's upper directory, filled before the overlay is
     * mounted on it (io/overlay makes it only when missing). */
    BERTH_AUTO_FREE char *upper = berth_asprintf("%s/upper", parent);
    BERTH_AUTO_FREE char *work = berth_asprintf("%s/work", c->ckpt_dir);
    if (berth_restore_fill_upper(c->ckpt_dir, upper, &s->error) < 0 ||
        berth_fs_mkdir_p(work, 0700, &s->error) < 0) {
        berth_err_prefix(&s->error, "checkpoint archive %s", c->config->image->image);
        return;
    }
    /* Probed here, on the pool, so step_criu reads the kept result
     * without blocking its turn. */
    (void)berth_criu_probe();
}

static void unpack_undo_job(void *arg)
{
    step_msg_t *s = arg;
    BERTH_AUTO_FREE char *parent = berth_strdup(s->c->ckpt_dir);
    *strrchr(parent, '/') = '\0';
    BERTH_AUTO_FREE char *upper = berth_asprintf("%s/upper", parent);
    if (berth_fs_remove_tree(s->c->ckpt_dir) < 0)
        berth_err_errno(&s->error, errno, "cannot remove %s", s->c->ckpt_dir);
    /* The upper directory this job's unpack filled, when the root
     * filesystem was never mounted on it (its undo ran before this one and
     * removed the whole storage directory otherwise), then that directory
     * when nothing else is in it. Never through a mount: a plain rmdir. */
    else if (berth_fs_remove_tree(upper) < 0)
        berth_err_errno(&s->error, errno, "cannot remove %s", upper);
    rmdir(parent);
}

static void step_unpack(berth_actor_t *self, void *owner)
{
    ctr_t *c = owner;
    if (c->pod->user_ns) {
        berth_err_t err = NULL;
        berth_err_make(&err, ENOTSUP, BERTH_ERR_UNSUPPORTED,
                       "CreateContainer: restoring checkpoint archive %s into a pod with its own "
                       "user namespace (hostUsers: false) is not supported by berth",
                       c->config->image->image);
        return ctr_fail(self, c, err);
    }
    c->cr.made |= MADE_CKPT;
    step_msg_t *s = ctr_step_new(c, STEP_UNPACK);
    berth_blocking_run(unpack_job, s, c->self, &s->hdr);
}

static void on_unpacked(berth_actor_t *self, ctr_t *c, step_msg_t *s)
{
    if (c->cr.phase != PH_CREATING)
        return;
    if (s->error) {
        berth_err_prefix(&s->error, "CreateContainer");
        return ctr_fail(self, c, berth_steal_ptr(&s->error));
    }
    c->ckpt_image = berth_steal_ptr(&s->path);
    berth_creation_next(self, &c->cr);
}

/* CRIU must work here before anything is mounted for the restore (its
 * probe ran in the unpack job, so this turn only reads it). */
static void step_criu(berth_actor_t *self, void *owner)
{
    ctr_t *c = owner;
    const berth_criu_status_t *cs = berth_criu_status();
    if (cs && !cs->usable) {
        berth_err_t err = NULL;
        berth_err_make(&err, EOPNOTSUPP, BERTH_ERR_PRECONDITION,
                       "CreateContainer: checkpoint archive %s cannot be restored on this node: "
                       "%s",
                       c->config->image->image, cs->reason ? cs->reason : "criu cannot work");
        return ctr_fail(self, c, err);
    }
    berth_creation_next(self, &c->cr);
}

static const berth_creation_step_t steps[] = {
        {"looking up the pod sandbox", NULL, step_pod},
        {"unpacking the checkpoint archive", not_restoring, step_unpack},
        {"looking up the image", NULL, step_image},
        {"checking CRIU", not_restoring, step_criu},
        {"mounting the image volumes", no_volumes, step_volumes},
        {"calling the NRI plugins (CreateContainer)", no_nri, step_nri},
        {"mounting the root filesystem and writing the intent record", NULL, step_rootfs},
        /* a restore's runtime starts at StartContainer, with `runtime restore` */
        {"creating the container (its monitor and the OCI runtime)", is_restoring, step_runtime},
        {"writing the container record", NULL, step_commit},
};

void ctr_infra_answer(ctr_t *c, const berth_err_t err)
{
    if (!berth_handle_valid(c->infra_reply))
        return;
    berth_ctrs_infra_msg_t *im =
            berth_ctrs_infra_new(BERTH_MSG_POD_INFRA_READY, NULL, BERTH_HANDLE_NONE);
    im->pid = c->pid;
    im->ctr_id = berth_strdup(c->id);
    if (err)
        berth_err_make(&im->error, err->errnum, err->kind, "pause container: %s", err->msg);
    berth_send(c->infra_reply, &im->hdr);
    c->infra_reply = BERTH_HANDLE_NONE;
}

static void created(berth_actor_t *self, void *owner)
{
    (void)self;
    ctr_t *c = owner;
    if (!c->infra) {
        berth_log_info("container created", "name=%s id=%s took_ms=%.1f", c->name, c->id,
                       (double)(berth_now_ns() - c->cr.resv.started_ns) / 1e6);
        ctr_nri_notify(c, "PostCreateContainer", BERTH_NRI_POST_CREATE_CONTAINER);
        return;
    }
    /* Nobody waits on a reservation for it: it is started now, and the pod
     * learns its pid from the start's answer. */
    berth_conmon_watch(c->watcher, c->id, c->persist_dir, c->self);
    c->watching = true;
    berth_err_t err = NULL;
    berth_runtime_t rt = ctr_runtime_of(c);
    if (berth_conmon_start(c->self, &rt, c->id, TAG_START, &err) < 0) {
        ctr_infra_answer(c, err);
        berth_err_free(&err);
    }
}

/* ---- undo ------------------------------------------------------------------------------ */

static void undo_runtime(berth_actor_t *self, void *owner, bool full)
{
    (void)full;
    ctr_t *c = owner;
    berth_err_t err = NULL;
    berth_runtime_t rt = ctr_runtime_of(c);
    if (berth_conmon_delete(c->self, &rt, c->id, TAG_DELETE, &err) == 0)
        return;
    berth_log_warn("runtime delete could not start", "id=%s error=\"%s\"", c->id, err->msg);
    berth_err_free(&err);
    berth_creation_undone(self, &c->cr, MADE_RUNTIME);
}

static void undo_rootfs(berth_actor_t *self, void *owner, bool full)
{
    (void)full;
    ctr_t *c = owner;
    berth_overlay_container_remove_async(c->cfg->root, c->id, berth_actor_self(self), 0);
}

static void undo_volumes(berth_actor_t *self, void *owner, bool full)
{
    (void)full;
    ctr_t *c = owner;
    berth_image_vol_release(c->images, c->id);
    berth_creation_undone(self, &c->cr, MADE_IMGVOL);
}

static void undo_files(berth_actor_t *self, void *owner, bool full)
{
    (void)self;
    (void)full;
    ctr_t *c = owner;
    step_msg_t *s = ctr_step_new(c, STEP_CLEANUP);
    berth_blocking_run(cleanup_job, s, c->self, &s->hdr);
}

static void undo_ckpt(berth_actor_t *self, void *owner, bool full)
{
    (void)self;
    (void)full;
    ctr_t *c = owner;
    step_msg_t *s = ctr_step_new(c, STEP_UNPACK_UNDO);
    berth_blocking_run(unpack_undo_job, s, c->self, &s->hdr);
}

static const berth_creation_undo_t undo[] = {
        {MADE_RUNTIME, undo_runtime},
        {MADE_ROOTFS, undo_rootfs},
        {MADE_IMGVOL, undo_volumes},
        /* after the root filesystem's: the upper directory it filled */
        {MADE_CKPT, undo_ckpt},
        {MADE_DIRS | MADE_RECORD, undo_files},
};

static void unwatch(ctr_t *c)
{
    if (c->watching) {
        berth_conmon_unwatch(c->watcher, c->id);
        c->watching = false;
    }
    ctr_down_done(c);
}

static void undone(berth_actor_t *self, void *owner, berth_err_t err)
{
    (void)self;
    ctr_t *c = owner;
    unwatch(c);
    if (berth_handle_valid(c->monitor))
        berth_monitor_forget(c->monitor, c->id);
    if (c->infra)
        ctr_infra_answer(c, err);
}

static void removed(berth_actor_t *self, void *owner)
{
    (void)self;
    ctr_t *c = owner;
    unwatch(owner);
    if (c->announced)
        ctr_announce(c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
}

void ctr_nri_notify(const ctr_t *c, const char *method, int event)
{
    if (c->infra || c->pod == NULL || !berth_nrisrv_enabled())
        return;
    berth_nrisrv_hook_send(
            berth_nri_ctr_hook(method, event, c->pod, c->id, c->config, BERTH_HANDLE_NONE, 0));
}

bool ctr_nri_call(const ctr_t *c, const char *method, int event, uint32_t reply_type)
{
    if (c->infra || c->pod == NULL || !berth_nrisrv_enabled())
        return false;
    berth_nrisrv_hook_send(
            berth_nri_ctr_hook(method, event, c->pod, c->id, c->config, c->self, reply_type));
    return true;
}

void ctr_begin_remove(berth_actor_t *self, ctr_t *c)
{
    if (c->cr.phase != PH_CREATING)
        ctr_nri_notify(c, "RemoveContainer", BERTH_NRI_REMOVE_CONTAINER);
    berth_creation_remove(self, &c->cr);
}

static const berth_creation_route_t route_table[] = {
        {"ContainerStatus", false, ctr_on_status},
        {"ExecSync", false, ctr_on_exec},
        {"Exec", false, ctr_on_exec_stream},
        {"Attach", false, ctr_on_attach},
        {"StartContainer", true, ctr_on_start},
        {"StopContainer", true, ctr_on_stop},
        {"RemoveContainer", true, ctr_on_remove},
        {"ReopenContainerLog", true, ctr_on_reopen},
        {"UpdateContainerResources", true, ctr_on_update},
        {"CheckpointContainer", true, ctr_on_checkpoint},
};
static berth_cri_routes_t routes = BERTH_CRI_ROUTES(route_table);

static bool busy(const void *owner)
{
    const ctr_t *c = owner;
    return c->starting != NULL || c->updating != NULL || c->checkpointing != NULL || c->reconciling;
}

static const berth_creation_class_t ctr_creation = {
        .kind = "container",
        .rpc = "CreateContainer",
        BERTH_CREATION_TABLES(steps, undo, &routes),
        .gone_type = BERTH_MSG_CTR_GONE,
        .reply = &runtime__v1__create_container_response__descriptor,
        .publish = ctr_publish,
        .busy = busy,
        .created = created,
        .undone = undone,
        .removed = removed,
};

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
        c->user_set = s->error == NULL;
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
            return ctr_fail(self, c, berth_steal_ptr(&c->prep_failure));
        if (c->commit_waiting) {
            c->commit_waiting = false;
            step_commit(self, c);
        }
        return;
    case STEP_UPDATE: {
        if (s->error)
            return ctr_finish_update_err(self, c, berth_steal_ptr(&s->error));
        berth_err_t err = NULL;
        berth_runtime_t rt = ctr_runtime_of(c);
        if (berth_conmon_update(c->self, &rt, c->id, s->path, TAG_UPDATE, &err) < 0)
            ctr_finish_update_err(self, c, err);
        return;
    }
    case STEP_CHECKPOINT:
        return ctr_on_checkpoint_done(self, c, s);
    case STEP_UNPACK:
        return on_unpacked(self, c, s);
    case STEP_UNPACK_UNDO:
        if (s->error)
            berth_log_error("cannot remove the unpacked checkpoint", "id=%s error=\"%s\"", c->id,
                            s->error->msg);
        return berth_creation_undone(self, &c->cr, MADE_CKPT);
    case STEP_COMMIT:
        if (s->error)
            return ctr_fail(self, c, berth_steal_ptr(&s->error));
        return berth_creation_next(self, &c->cr);
    case STEP_RECORD:
        if (s->error)
            berth_log_error("cannot write the container record", "id=%s error=\"%s\"", c->id,
                            s->error->msg);
        return;
    case STEP_CLEANUP:
        if (s->error)
            berth_log_error("container cleanup incomplete", "id=%s error=\"%s\"", c->id,
                            s->error->msg);
        return berth_creation_undone(self, &c->cr, MADE_DIRS | MADE_RECORD);
    case STEP_REOPEN: {
        berth_cri_req_msg_t *rm = NULL;
        if (berth_creation_take_waiting(&c->cr, "ReopenContainerLog", &rm, 1) == 0)
            return;
        if (s->error) {
            berth_cri_finish_err(rm->call, s->error);
            berth_msg_free(&rm->hdr);
        } else {
            ctr_reply_empty(rm);
        }
        return;
    }
    default:
        return;
    }
}

/* The runtime's create bound the recursive read-only clones into the
 * container's mount namespace, which keeps its own copies: the node's go
 * now. Left mounted they would pin the host path's submounts (an rmdir of a
 * mount point fails with EBUSY while a mount in the caller's namespace sits
 * on it, so a kubelet could not clean a volume up). Takes the bundle path;
 * no reply (cleanup_job releases whatever is left, and both ignore what
 * the other removed). */
static void rro_release_job(void *arg)
{
    char *bundle = arg;
    berth_err_t err = NULL;
    if (berth_ctrsec_rro_release(bundle, &err) < 0) {
        berth_log_warn("recursive read-only clones not released", "bundle=%s error=\"%s\"", bundle,
                       err->msg);
        berth_err_free(&err);
    }
    berth_free(bundle);
}

static void start_done(berth_actor_t *self, ctr_t *c, berth_err_t error);

static void on_conmon_created(berth_actor_t *self, ctr_t *c, berth_conmon_created_msg_t *m)
{
    if (c->restoring && c->cr.phase == PH_CREATED) {
        /* StartContainer's `runtime restore`: running once the pid is in */
        if (m->error == NULL)
            c->pid = m->pid;
        return start_done(self, c, m->error);
    }
    if (m->error)
        return ctr_fail(self, c, berth_steal_ptr(&m->error));
    if (berth_ctrsec_wants_rro(c->config))
        berth_blocking_run(rro_release_job, berth_strdup(c->bundle), BERTH_HANDLE_NONE, NULL);
    c->pid = m->pid;
    c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
    berth_creation_next(self, &c->cr);
}

static void remove_tree_job(void *arg)
{
    char *path = arg;
    if (berth_fs_remove_tree(path) < 0)
        berth_log_warn("cannot remove the restored checkpoint", "path=%s error=\"%s\"", path,
                       strerror(errno));
    berth_free(path);
}

/* The runtime's start, or a restore's `runtime restore`, answered (error
 * borrowed). */
static void start_done(berth_actor_t *self, ctr_t *c, berth_err_t error)
{
    berth_cri_req_msg_t *rm = berth_steal_ptr(&c->starting);
    if (error) {
        berth_log_warn("container start failed", "id=%s error=\"%s\"", c->id, error->msg);
        if (c->infra)
            ctr_infra_answer(c, error);
        if (rm) {
            berth_cri_finish_err(rm->call, error);
            berth_msg_free(&rm->hdr);
        }
    } else {
        if (c->cr.phase == PH_CREATED) {
            c->cr.phase = PH_RUNNING;
            c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        }
        if (c->infra)
            ctr_infra_answer(c, NULL);
        c->started_at = (int64_t)berth_wall_ns();
        ctr_nri_notify(c, "StartContainer", BERTH_NRI_START_CONTAINER);
        ctr_nri_notify(c, "PostStartContainer", BERTH_NRI_POST_START_CONTAINER);
        ctr_read_user(c);
        ctr_write_record(c, STEP_RECORD, false);
        ctr_publish(c);
        if (rm)
            ctr_reply_empty(rm);
        /* CRIU's images hold every memory page the processes had: once they
         * run again nothing reads them (a container is started once). */
        if (c->restoring)
            berth_blocking_run(remove_tree_job, berth_strdup(c->ckpt_dir), BERTH_HANDLE_NONE, NULL);
    }
    berth_creation_run_queued(self, &c->cr);
}

static void on_result(berth_actor_t *self, ctr_t *c, berth_conmon_result_msg_t *m)
{
    if (m->tag >= TAG_EXEC_BASE)
        return ctr_on_exec_done(c, m);
    switch (m->tag) {
    case TAG_START:
        return start_done(self, c, m->error);
    case TAG_UPDATE:
        return ctr_on_update_done(self, c, m);
    case TAG_KILL:
        if (m->error && m->error->kind != BERTH_ERR_NOT_FOUND)
            berth_log_warn("kill failed", "id=%s error=\"%s\"", c->id, m->error->msg);
        return;
    case TAG_STATE:
        return ctr_on_reconciled(self, c, m);
    case TAG_DELETE:
        if (m->error && m->error->kind != BERTH_ERR_NOT_FOUND)
            berth_log_warn("runtime delete failed", "id=%s error=\"%s\"", c->id, m->error->msg);
        berth_creation_undone(self, &c->cr, MADE_RUNTIME);
        return;
    default:
        return;
    }
}

static void ctr_receive(berth_actor_t *self, berth_msg_t *msg)
{
    ctr_t *c = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_CTR_START:
        if (c->cr.phase == PH_CREATING)
            berth_creation_begin(self, &c->cr);
        else if (c->cr.phase == PH_UNDOING)
            berth_creation_undo_restored(self, &c->cr);
        else {
            if (c->cr.phase == PH_RUNNING && berth_handle_valid(c->watcher)) {
                berth_conmon_watch(c->watcher, c->id, c->persist_dir, c->self);
                c->watching = true;
            }
            if (c->cr.phase == PH_CREATED)
                ctr_reconcile_created(c);
            ctr_publish(c);
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
    case BERTH_MSG_IMAGES_VOL_ACQUIRED:
        on_vol_acquired(self, c, (berth_image_vol_msg_t *)msg);
        break;
    case BERTH_MSG_CTR_NRI:
        on_nri(self, c, (berth_nrisrv_hook_t *)msg);
        break;
    case BERTH_MSG_CTR_NRI_UPDATE:
        ctr_on_nri_update(self, c, (berth_nrisrv_hook_t *)msg);
        break;
    case BERTH_MSG_CTR_NRI_APPLIED:
        if (((berth_nri_applied_msg_t *)msg)->tag == 2)
            on_nri_applied(self, c, (berth_nri_applied_msg_t *)msg);
        else
            ctr_on_nri_applied(self, c, (berth_nri_applied_msg_t *)msg);
        break;
    case BERTH_MSG_CTR_NRI_STOPPED:
        ctr_on_nri_stopped(c, (berth_nrisrv_hook_t *)msg);
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
        ctr_on_exit_msg(self, c, (berth_conmon_exit_msg_t *)msg);
        break;
    case BERTH_MSG_CTR_RELOOKUP:
        if (c->cr.phase == PH_CREATING)
            berth_image_lookup(c->images, c->config->image->image, c->self, 0);
        break;
    case BERTH_MSG_CTR_SIG_POLL:
        ctr_on_sig_poll(self, c);
        break;
    case BERTH_MSG_CTR_STOP_TIMEOUT:
        c->stop_timer = NULL;
        ctr_sig_poll_cancel(self, c);
        if (c->cr.phase == PH_RUNNING) {
            berth_log_info("stop timeout passed: killing", "id=%s", c->id);
            ctr_kill(c, SIGKILL, TAG_KILL);
        }
        break;
    case BERTH_MSG_CTR_DOWN:
        ctr_on_down(self, c, (berth_ctrs_down_msg_t *)msg);
        break;
    case BERTH_MSG_CTR_STATUS_QUERY:
        ctr_on_status_query(c, (berth_ctr_status_msg_t *)msg);
        break;
    case BERTH_MSG_SECCOMP_DENIAL:
        ctr_on_seccomp_denial(self, c, (berth_seccomp_denial_msg_t *)msg);
        break;
    case BERTH_MSG_CTR_SECCOMP_STOP:
        ctr_on_seccomp_stop(self, c);
        break;
    default:
        if (berth_creation_on_msg(self, &c->cr, msg))
            return; /* consumed */
        break;
    }
    berth_msg_free(msg);
}

static void ctr_fini(void *state)
{
    ctr_t *c = state;
    berth_creation_fini(&c->cr);
    berth_ctrsec_notify_fini(&c->sn);
    for (size_t i = 0; i < c->n_execs; i++)
        berth_msg_free(&c->execs[i].rm->hdr);
    if (c->starting)
        berth_msg_free(&c->starting->hdr);
    if (c->checkpointing)
        berth_msg_free(&c->checkpointing->hdr);
    if (c->updating)
        berth_msg_free(&c->updating->hdr);
    berth_free(c->execs);
    if (c->config)
        berth_cri_free(&c->config->base);
    berth_pod_info_free(c->pod);
    berth_store_image_free(c->image);
    berth_strv_free(c->layer_dirs);
    for (size_t i = 0; i < c->n_vol_paths; i++)
        berth_free(c->vol_paths[i]);
    berth_free(c->vol_paths);
    berth_err_free(&c->vol_failure);
    berth_nri_adjust_fini(&c->nri);
    berth_err_free(&c->prep_failure);
    berth_user_fini(&c->user);
    char **fields[] = {&c->id,         &c->name,        &c->pod_id,       &c->rootfs,
                       &c->bundle,     &c->persist_dir, &c->exit_dir,     &c->socket_dir,
                       &c->log_path,   &c->record_path, &c->runtime_path, &c->runtime_root,
                       &c->image_name, &c->image_ref,   &c->image_id,     &c->reason,
                       &c->message,    &c->staged_path, &c->ckpt_dir,     &c->ckpt_image};
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

/* No image reference starts with '/': this one names a checkpoint archive
 * to restore from (CRI-O's convention; docs/checkpoint.md). */
static void set_restoring(ctr_t *c)
{
    const char *im = c->config->image ? c->config->image->image : NULL;
    c->restoring = !c->infra && im && im[0] == '/';
    if (c->restoring)
        c->ckpt_dir = berth_asprintf("%s/overlay-containers/%s/restore", c->cfg->root, c->id);
}

static ctr_t *ctr_new(const berth_ctr_init_t *b, const char *id, const char *name,
                      const char *pod_id)
{
    ctr_t *c = berth_calloc(1, sizeof(*c));
    c->cfg = berth_config_ref(b->cfg);
    c->mgr = b->mgr;
    c->pods = b->pods;
    c->images = b->images;
    c->watcher = b->watcher;
    c->events = b->events;
    c->monitor = b->monitor;
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
    berth_creation_init(&c->cr, &ctr_creation, c, b->mgr, id, name,
                        (uint64_t)b->cfg->stall_margin_ns, (uint64_t)b->cfg->stash_window_ns, 0);
    return c;
}

berth_handle_t berth_container_spawn(const berth_ctr_init_t *init)
{
    ctr_t *c = ctr_new(init, init->id, init->name, init->pod_id);
    c->config = (Runtime__V1__ContainerConfig *)berth_cri_copy(&init->config->base);
    c->created_at = (int64_t)berth_wall_ns();
    c->cr.phase = PH_CREATING;
    c->infra = init->infra;
    set_restoring(c);
    c->cr.unreserved = init->infra;
    c->infra_reply = init->infra_reply;
    c->pod = init->pod_info;
    berth_handle_t h = berth_actor_spawn_labeled(&ctr_class, c, c->id);
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
            berth_cri_free(&c->config->base);
        Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
        md.name = (char *)"unknown";
        Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        cc.metadata = &md;
        cc.image = &img;
        c->config = (Runtime__V1__ContainerConfig *)berth_cri_copy(&cc.base);
    }
    c->cr.made = (unsigned)json_integer_value(json_object_get(rec, "made"));
    c->state = (int)json_integer_value(json_object_get(rec, "state"));
    c->created_at = json_integer_value(json_object_get(rec, "created_at"));
    c->started_at = json_integer_value(json_object_get(rec, "started_at"));
    c->finished_at = json_integer_value(json_object_get(rec, "finished_at"));
    c->exit_code = (int)json_integer_value(json_object_get(rec, "exit_code"));
    c->pid = (pid_t)json_integer_value(json_object_get(rec, "pid"));
    c->stop_signal = (int)json_integer_value(json_object_get(rec, "stop_signal"));
    json_t *user = json_object_get(rec, "user");
    if (json_is_object(user)) {
        json_t *g = json_object_get(user, "groups");
        c->user_set = true;
        c->user_read = json_is_true(json_object_get(user, "read"));
        c->user.uid = (uint32_t)json_integer_value(json_object_get(user, "uid"));
        c->user.gid = (uint32_t)json_integer_value(json_object_get(user, "gid"));
        c->user.ngids = json_array_size(g);
        c->user.gids = berth_calloc(c->user.ngids + 1, sizeof(uint32_t));
        for (size_t i = 0; i < c->user.ngids; i++)
            c->user.gids[i] = (uint32_t)json_integer_value(json_array_get(g, i));
    }
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
    /* a container that was made is shown to NRI plugins at Synchronize
     * (sent from the manager's turn, before it says its restore is done) */
    if (!creating && !c->infra && berth_nrisrv_tracking()) {
        berth_pod_info_t pi = {.id = (char *)(pod_id ? pod_id : "")};
        berth_nrisrv_restored(berth_nri_ctr_hook("CreateContainer", BERTH_NRI_CREATE_CONTAINER, &pi,
                                                 c->id, c->config, BERTH_HANDLE_NONE, 0));
    }
    set_restoring(c);
    json_decref(rec);
    /* A restart never touches a running container: conmon keeps it; the
     * watcher reports an exit that happened meanwhile. */
    if (creating) {
        c->cr.made |= MADE_RUNTIME | MADE_ROOTFS | MADE_DIRS | MADE_RECORD;
        c->cr.phase = PH_UNDOING;
    } else {
        int phase = c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING   ? PH_RUNNING
                    : c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED ? PH_CREATED
                                                                                  : PH_EXITED;
        c->cr.made |= MADE_RUNTIME | MADE_ROOTFS | MADE_DIRS | MADE_RECORD;
        berth_creation_restore_delivered(&c->cr, phase);
    }
    berth_handle_t h = berth_actor_spawn_labeled(&ctr_class, c, c->id);
    c->self = h;
    berth_send(h, berth_msg_new(BERTH_MSG_CTR_START, sizeof(berth_msg_t)));
    return h;
}
