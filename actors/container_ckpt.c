// SPDX-License-Identifier: Apache-2.0
/*
 * CheckpointContainer for the container actor (docs/checkpoint.md): the
 * request's rules in the turn, the work on the blocking pool. One job does
 * it all in order: CRIU's probe (once per daemon, io/criu.h), the OCI
 * runtime's `pause`, its `checkpoint --leave-running` into a work directory
 * under the container's storage, the CRI-O-layout archive
 * (io/checkpoint.h), and `resume`; the work directory is removed whatever
 * happened, and the archive appears whole or not at all. The container
 * keeps running: the kubelet's checkpoint is forensic.
 *
 * While the job runs the actor is busy, so a StopContainer or
 * RemoveContainer waits for it rather than pulling the container from under
 * CRIU. The job owns copies of everything it reads; it never touches ctr_t.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "actors/container-internal.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/checkpoint.h"
#include "io/criu.h"
#include "io/fs.h"
#include "io/grpc.h"

/* The kubelet's own default for the checkpoint API (its runtime request
 * timeout) when the request names none. */
#define DEFAULT_TIMEOUT_S 120
/* pause and resume: a cgroup freezer write and a state file */
#define PAUSE_TIMEOUT_MS 30000u

typedef struct ckpt_job {
    step_msg_t s; /* STEP_CHECKPOINT; s.error is the answer */
    char *id, *location, *runtime_path, *runtime_root;
    char *bundle, *upper, *work, *log_path, *config_dump;
    /* CRI-O's keys in spec.dump (its restore and checkpointctl read them) */
    json_t *annotations;
    unsigned timeout_ms;
} ckpt_job_t;

static void ckpt_free(berth_msg_t *m)
{
    ckpt_job_t *j = (ckpt_job_t *)m;
    char **owned[] = {&j->id,    &j->location, &j->runtime_path, &j->runtime_root, &j->bundle,
                      &j->upper, &j->work,     &j->log_path,     &j->config_dump};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(owned); i++)
        berth_free(*owned[i]);
    json_decref(j->annotations);
    berth_free(j->s.record_json);
    berth_free(j->s.path);
    berth_err_free(&j->s.error);
    berth_free(j);
}

/* RFC 3339 with nanoseconds, UTC, as Go's time.Time marshals (config.dump). */
static char *rfc3339(int64_t ns)
{
    if (ns <= 0)
        return berth_strdup("0001-01-01T00:00:00Z");
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char day[32];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    return berth_asprintf("%s.%09ldZ", day, (long)(ns % 1000000000));
}

/* config.dump: the fields checkpointctl's ContainerConfig has. */
static char *config_dump(const ctr_t *c)
{
    BERTH_AUTO_FREE char *created = rfc3339(c->created_at);
    BERTH_AUTO_FREE char *now = rfc3339((int64_t)berth_wall_ns());
    const char *rt = c->runtime_path ? strrchr(c->runtime_path, '/') : NULL;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(c->id));
    json_object_set_new(o, "name", json_string(c->name));
    if (c->image_name)
        json_object_set_new(o, "rootfsImage", json_string(c->image_name));
    if (c->image_id)
        json_object_set_new(o, "rootfsImageRef", json_string(c->image_id));
    if (c->image_ref)
        json_object_set_new(o, "rootfsImageName", json_string(c->image_ref));
    json_object_set_new(o, "runtime", json_string(rt ? rt + 1 : "runc"));
    json_object_set_new(o, "createdTime", json_string(created));
    json_object_set_new(o, "checkpointedTime", json_string(now));
    json_object_set_new(o, "restoredTime", json_string("0001-01-01T00:00:00Z"));
    json_object_set_new(o, "restored", json_false());
    /* jansson allocates through berth's allocator in berthd (main sets it) */
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static json_t *kv_object(size_t n, ProtobufCMessage *const *entries)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        const Runtime__V1__ContainerConfig__LabelsEntry *e =
                (const Runtime__V1__ContainerConfig__LabelsEntry *)entries[i];
        json_object_set_new(o, e->key ? e->key : "", json_string(e->value ? e->value : ""));
    }
    return o;
}

static void set_json(json_t *o, const char *key, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    json_object_set_new(o, key, json_string(text ? text : "{}"));
    berth_free(text);
}

/* The annotations CRI-O writes into a container's spec and reads back from
 * spec.dump when it restores (labels, annotations and metadata as JSON
 * strings), plus the names checkpointctl shows. Added to spec.dump only:
 * the running container's spec is not changed. */
static json_t *restore_annotations(const ctr_t *c)
{
    const Runtime__V1__ContainerConfig *cc = c->config;
    json_t *a = json_object();
    set_json(a, "io.kubernetes.cri-o.Labels",
             kv_object(cc->n_labels, (ProtobufCMessage *const *)cc->labels));
    set_json(a, "io.kubernetes.cri-o.Annotations",
             kv_object(cc->n_annotations, (ProtobufCMessage *const *)cc->annotations));
    json_t *md = json_object();
    json_object_set_new(md, "name", json_string(cc->metadata ? cc->metadata->name : ""));
    json_object_set_new(md, "attempt", json_integer(cc->metadata ? cc->metadata->attempt : 0));
    set_json(a, "io.kubernetes.cri-o.Metadata", md);
    json_object_set_new(a, "io.kubernetes.cri-o.LogPath", json_string(c->log_path));
    BERTH_AUTO_FREE char *created = rfc3339(c->created_at);
    json_object_set_new(a, "io.kubernetes.cri-o.Created", json_string(created));
    json_object_set_new(a, "io.kubernetes.cri.container-name",
                        json_string(cc->metadata ? cc->metadata->name : ""));
    if (c->pod) {
        json_object_set_new(a, "io.kubernetes.pod.name", json_string(c->pod->pod_name));
        json_object_set_new(a, "io.kubernetes.pod.namespace", json_string(c->pod->pod_namespace));
        json_object_set_new(a, "io.kubernetes.cri.sandbox-name", json_string(c->pod->pod_name));
        json_object_set_new(a, "io.kubernetes.cri.sandbox-namespace",
                            json_string(c->pod->pod_namespace));
    }
    return a;
}

/* ---- the pool job ----------------------------------------------------------------------------
 */

/* Mount points the runtime makes in the root filesystem: only their mounts
 * put them in the upper directory, so the diff leaves them out (with every
 * mount destination of the spec). */
static const char *const runtime_mounts[] = {
        "/dev", "/proc", "/sys", "/run", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf",
};

/* spec.dump's text and the mount destinations the diff skips (owned). */
static char *spec_dump(ckpt_job_t *j, char ***skip, size_t *n_skip, berth_err_t *err)
{
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/config.json", j->bundle);
    json_error_t je;
    json_t *spec = json_load_file(path, 0, &je);
    if (spec == NULL) {
        berth_err_make(err, EINVAL, BERTH_ERR_INTERNAL, "cannot read the container's spec %s: %s",
                       path, je.text);
        return NULL;
    }
    json_t *ann = json_object_get(spec, "annotations");
    if (!json_is_object(ann)) {
        ann = json_object();
        json_object_set_new(spec, "annotations", ann);
    }
    const char *k;
    json_t *v;
    json_object_foreach(j->annotations, k, v)
    {
        if (json_object_get(ann, k) == NULL)
            json_object_set(ann, k, v);
    }
    json_t *mounts = json_object_get(spec, "mounts");
    size_t nm = json_array_size(mounts), nr = BERTH_ARRAY_LEN(runtime_mounts);
    char **list = berth_calloc(nm + nr + 1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; i < nr; i++)
        list[n++] = berth_strdup(runtime_mounts[i]);
    for (size_t i = 0; i < nm; i++) {
        const char *d =
                json_string_value(json_object_get(json_array_get(mounts, i), "destination"));
        if (d && d[0] == '/')
            list[n++] = berth_strdup(d);
    }
    *skip = list;
    *n_skip = n;
    char *text = json_dumps(spec, JSON_INDENT(2));
    json_decref(spec);
    return text;
}

/* The runtime's checkpoint; a failure's message is CRIU's own first error
 * from its dump.log when there is one, else the runtime's output. */
static int run_checkpoint(ckpt_job_t *j, const berth_criu_status_t *criu, const char *images,
                          berth_err_t *err)
{
    const char *argv[16];
    size_t n = 0;
    argv[n++] = j->runtime_path;
    if (j->runtime_root) {
        argv[n++] = "--root";
        argv[n++] = j->runtime_root;
    }
    /* runc runs "criu" from its PATH unless told; crun links libcriu */
    const char *base = strrchr(j->runtime_path, '/');
    if (strcmp(base ? base + 1 : j->runtime_path, "runc") == 0 && criu->path) {
        argv[n++] = "--criu";
        argv[n++] = criu->path;
    }
    argv[n++] = "checkpoint";
    argv[n++] = "--image-path";
    argv[n++] = images;
    argv[n++] = "--work-path";
    argv[n++] = j->work;
    argv[n++] = "--leave-running";
    argv[n++] = j->id;
    argv[n] = NULL;
    BERTH_AUTO_FREE char *out = NULL;
    int status;
    if (berth_criu_run(argv, j->timeout_ms, &out, &status, err) < 0)
        return berth_err_prefix(err, "the runtime's checkpoint");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    BERTH_AUTO_FREE char *dump_path = berth_asprintf("%s/dump.log", j->work);
    BERTH_AUTO_FREE char *dump = NULL;
    berth_fs_read_small(dump_path, 16 << 20, &dump, NULL);
    BERTH_AUTO_FREE char *why =
            berth_criu_check_reason(dump && strstr(dump, "Error") ? dump : out, status);
    return berth_err_make(err, EIO, BERTH_ERR_INTERNAL, "%s checkpoint failed: %s", j->runtime_path,
                          why ? why : "(no message)");
}

/* `RUNTIME [--root R] VERB ID` (pause, resume); -1 with *err naming the
 * runtime's first complaint. */
static int runtime_verb(const ckpt_job_t *j, const char *verb, berth_err_t *err)
{
    const char *argv[] = {j->runtime_path, "--root", j->runtime_root, verb, j->id, NULL};
    if (j->runtime_root == NULL) {
        argv[1] = verb;
        argv[2] = j->id;
        argv[3] = NULL;
    }
    BERTH_AUTO_FREE char *out = NULL;
    int status;
    if (berth_criu_run(argv, PAUSE_TIMEOUT_MS, &out, &status, err) < 0)
        return berth_err_prefix(err, "%s %s", j->runtime_path, verb);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    BERTH_AUTO_FREE char *why = berth_criu_check_reason(out, status);
    return berth_err_make(err, EIO, BERTH_ERR_INTERNAL, "%s %s failed: %s", j->runtime_path, verb,
                          why ? why : "(no message)");
}

/* The dump, and the archive of it while the container is still frozen. */
static void dump_and_archive(ckpt_job_t *j, const berth_criu_status_t *criu, const char *spec,
                             char **skip, size_t n_skip, berth_err_t *err)
{
    BERTH_AUTO_FREE char *images = berth_asprintf("%s/%s", j->work, BERTH_CKPT_IMAGES_DIR);
    if (berth_fs_mkdir_p(images, 0700, err) < 0 || run_checkpoint(j, criu, images, err) < 0)
        return;
    BERTH_AUTO_FREE char *spec_path = berth_asprintf("%s/spec.dump", j->work);
    berth_ckpt_parts_t parts = {
            .work_dir = j->work,
            .config_dump = j->config_dump,
            .spec_path = spec_path,
            .upper_dir = j->upper,
            .skip = (const char *const *)skip,
            .n_skip = n_skip,
            .log_path = j->log_path,
    };
    if (berth_file_write_atomic(spec_path, spec, strlen(spec), 0600, err) == 0)
        berth_checkpoint_write(&parts, j->location, err);
}

static void ckpt_job(void *arg)
{
    ckpt_job_t *j = arg;
    berth_err_t *err = &j->s.error;
    const berth_criu_status_t *criu = berth_criu_probe();
    if (!criu->usable) {
        berth_err_make(err, ENOTSUP, BERTH_ERR_PRECONDITION,
                       "checkpoints cannot work on this node: %s", criu->reason);
        return;
    }
    char **skip = NULL;
    size_t n_skip = 0;
    BERTH_AUTO_FREE char *spec = spec_dump(j, &skip, &n_skip, err);
    if (spec == NULL)
        return;
    berth_fs_remove_tree(j->work); /* a crash's leftovers */
    /* Frozen from before the dump until the root filesystem diff is
     * written, as CRI-O does: the files then match the memory image. CRIU
     * leaves an already frozen cgroup frozen, so the resume is ours. */
    if (runtime_verb(j, "pause", err) == 0) {
        dump_and_archive(j, criu, spec, skip, n_skip, err);
        BERTH_AUTO_ERR berth_err_t rerr = NULL;
        if (runtime_verb(j, "resume", &rerr) < 0) {
            berth_log_error("the checkpointed container stays frozen", "id=%s error=\"%s\"", j->id,
                            rerr->msg);
            if (*err == NULL)
                *err = berth_steal_ptr(&rerr);
        }
    }
    if (berth_fs_remove_tree(j->work) < 0)
        berth_log_warn("cannot remove a checkpoint's work directory", "path=%s errno=%d", j->work,
                       errno);
    berth_strv_free(skip);
}

/* ---- the turn ------------------------------------------------------------------------------- */

void ctr_on_checkpoint(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    ctr_t *c = owner;
    const Runtime__V1__CheckpointContainerRequest *r =
            (const Runtime__V1__CheckpointContainerRequest *)rm->req;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_checkpoint_check_location(r->location, &err) < 0)
        return berth_cri_fail(rm, err->kind, "CheckpointContainer: %s", err->msg);
    if (c->cr.phase != PH_RUNNING)
        return berth_cri_fail(rm, BERTH_ERR_PRECONDITION,
                              "CheckpointContainer: container %s is not running", c->id);
    /* known already: answered without a pool job */
    const berth_criu_status_t *criu = berth_criu_status();
    if (criu && !criu->usable)
        return berth_cri_fail(rm, BERTH_ERR_PRECONDITION,
                              "CheckpointContainer: checkpoints cannot work on this node: %s",
                              criu->reason);
    ckpt_job_t *j = berth_msg_new(BERTH_MSG_CTR_STEP, sizeof(*j));
    j->s.hdr.free = ckpt_free;
    j->s.step = STEP_CHECKPOINT;
    j->s.c = c;
    j->id = berth_strdup(c->id);
    j->location = berth_strdup(r->location);
    j->runtime_path = berth_strdup(c->runtime_path);
    j->runtime_root = c->runtime_root ? berth_strdup(c->runtime_root) : NULL;
    j->bundle = berth_strdup(c->bundle);
    j->upper = berth_asprintf("%s/overlay-containers/%s/upper", c->cfg->root, c->id);
    j->work = berth_asprintf("%s/overlay-containers/%s/checkpoint-work", c->cfg->root, c->id);
    j->log_path = c->log_path ? berth_strdup(c->log_path) : NULL;
    j->config_dump = config_dump(c);
    j->annotations = restore_annotations(c);
    int64_t t = r->timeout > 0 ? r->timeout : DEFAULT_TIMEOUT_S;
    j->timeout_ms = (unsigned)(t > 3600 ? 3600000 : t * 1000);
    c->checkpointing = rm;
    berth_log_info("checkpointing container", "id=%s location=%s", c->id, r->location);
    berth_blocking_run(ckpt_job, j, berth_actor_self(self), &j->s.hdr);
}

void ctr_on_checkpoint_done(berth_actor_t *self, ctr_t *c, step_msg_t *s)
{
    berth_cri_req_msg_t *rm = berth_steal_ptr(&c->checkpointing);
    if (rm) {
        if (s->error) {
            berth_log_warn("checkpoint failed", "id=%s error=\"%s\"", c->id, s->error->msg);
            berth_err_prefix(&s->error, "CheckpointContainer");
            berth_cri_finish_err(rm->call, s->error);
            berth_msg_free(&rm->hdr);
        } else {
            berth_log_info("container checkpointed", "id=%s", c->id);
            ctr_reply_empty(rm);
        }
    }
    berth_creation_run_queued(self, &c->cr);
}
