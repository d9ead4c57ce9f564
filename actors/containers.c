// SPDX-License-Identifier: Apache-2.0
/*
 * The container manager actor: the indexes of reserved names and IDs, the
 * listing summaries, and routing. Container work happens in the container
 * actors; this actor answers only from what they publish, so a slow create
 * never delays a list. It reads the container records at start on the
 * blocking pool and holds requests until then.
 */
#include "actors/containers.h"

#include <errno.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <sys/random.h>

#include "actors/ctrmsg.h"
#include "actors/ctrsec.h"
#include "actors/podmsg.h"
#include "actors/container.h"
#include "actors/creation.h"
#include "actors/imagelookup.h"
#include "actors/cri.h"
#include "actors/cadvisor.h"
#include "actors/ctrstats.h"
#include "actors/podstats.h"
#include "actors/index.h"
#include "actors/msgtypes.h"
#include "actors/runtimes.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/cgroups.h"
#include "io/conmon.h"
#include "io/nrisrv.h"
#include "io/monitor.h"
#include "io/fs.h"
#include "io/grpc.h"
#include "io/imagevol.h"
#include "io/overlay.h"
#include "io/store.h"
#include "io/unpack.h"

typedef berth_index_entry_t entry_t; /* handle: the container; summary: berth_ctr_summary_t */

#define SUMMARY(e) ((berth_ctr_summary_t *)(e)->summary)

typedef struct down_op {
    struct down_op *next;
    uint64_t id;
    size_t left;
    berth_handle_t reply_to;
    uint64_t tag;
    char *pod_id;
    bool remove;
} down_op_t;

static void down_reply(const down_op_t *op)
{
    berth_ctrs_down_msg_t *r = berth_ctrs_down_new(BERTH_MSG_CTRS_DOWN_DONE, op->pod_id, op->remove,
                                                   BERTH_HANDLE_NONE, op->tag);
    berth_send(op->reply_to, &r->hdr);
}

/* A PodSandboxStatus waiting for its containers' statuses. */
typedef struct status_op {
    struct status_op *next;
    uint64_t id;
    berth_ctrs_pod_status_msg_t *msg; /* the call and the pod's packed answer */
    uint8_t **statuses;               /* packed ContainerStatus per slot, NULL: none */
    size_t *lens, n, left;
} status_op_t;

typedef struct ctrs {
    berth_config_t *cfg;
    berth_handle_t pods, images, watcher, events;
    berth_handle_t monitor; /* berth-monitor's link; NONE: conmon */
    berth_index_t ix;
    down_op_t *downs;
    uint64_t next_down;
    bool measuring;                   /* a writable-layer measure is on the pool */
    bool reading;                     /* a cgroup read for the stats is on the pool */
    struct stats_wait *stats_waiting; /* stats calls waiting for the next read */
    /* pod stats and metrics waiting for a first read of their containers */
    berth_ctrs_pod_stats_msg_t *pods_waiting;
    char *layers_fs; /* the writable layers' filesystem, as ImageFsInfo names it */
    status_op_t *statuses;
    uint64_t next_status;
} ctrs_t;

typedef struct restore_msg {
    berth_msg_t hdr;
    char *dir, *root, *overlay_dir, *bundle_dir;
    json_t **records;
    size_t n;
} restore_msg_t;

static bool empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static void init_base(ctrs_t *c, berth_actor_t *self, berth_ctr_init_t *b)
{
    memset(b, 0, sizeof(*b));
    b->cfg = c->cfg;
    b->mgr = berth_actor_self(self);
    b->pods = c->pods;
    b->images = c->images;
    b->watcher = c->watcher;
    b->events = c->events;
    b->monitor = c->monitor;
}

/* A Mount.image (KEP-4639): an image, no host path, read-only (every image
 * volume is, and the CRI asks runtimes to refuse a writable one), an
 * absolute container path and a sub path that stays inside the image. */
static int check_image_mount(size_t i, const Runtime__V1__Mount *m, berth_err_t *err)
{
    if (empty(m->image->image))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "CreateContainer: config.mounts[%zu]: image.image is empty: name "
                              "the image to mount",
                              i);
    if (strlen(m->image->image) >= BERTH_CRI_MAX_PATH ||
        strlen(m->image_sub_path ? m->image_sub_path : "") >= BERTH_CRI_MAX_PATH)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "CreateContainer: config.mounts[%zu]: the image name or sub path "
                              "is longer than %d bytes",
                              i, BERTH_CRI_MAX_PATH);
    if (!empty(m->host_path))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "CreateContainer: config.mounts[%zu]: host_path \"%s\" and image "
                              "%s are both set: a mount is one or the other",
                              i, m->host_path, m->image->image);
    if (empty(m->container_path) || m->container_path[0] != '/')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "CreateContainer: config.mounts[%zu]: container_path \"%s\" must "
                              "be absolute",
                              i, m->container_path ? m->container_path : "");
    if (!m->readonly)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "CreateContainer: config.mounts[%zu]: image volume %s must be "
                              "read-only (readonly: true)",
                              i, m->image->image);
    if (berth_imagevol_check_subpath(m->image_sub_path, err) < 0)
        return berth_err_prefix(err, "CreateContainer: config.mounts[%zu] (image %s)", i,
                                m->image->image);
    return 0;
}

static void on_create(berth_actor_t *self, ctrs_t *c, berth_cri_req_msg_t *rm)
{
    const Runtime__V1__CreateContainerRequest *r =
            (const Runtime__V1__CreateContainerRequest *)rm->req;
    if (empty(r->pod_sandbox_id))
        return berth_cri_fail(rm, BERTH_ERR_INVALID, "CreateContainer: pod_sandbox_id is empty");
    const Runtime__V1__ContainerConfig *cc = r->config;
    if (cc == NULL)
        return berth_cri_fail(rm, BERTH_ERR_INVALID, "CreateContainer: config is missing");
    if (cc->metadata == NULL || empty(cc->metadata->name))
        return berth_cri_fail(rm, BERTH_ERR_INVALID,
                              "CreateContainer: config.metadata.name is empty");
    if (strpbrk(cc->metadata->name, "/\n"))
        return berth_cri_fail(
                rm, BERTH_ERR_INVALID,
                "CreateContainer: config.metadata.name must not contain '/' or newlines");
    if (cc->image == NULL || empty(cc->image->image))
        return berth_cri_fail(rm, BERTH_ERR_INVALID, "CreateContainer: config.image is empty");
    {
        BERTH_AUTO_ERR berth_err_t merr = NULL;
        if (berth_cri_check_len("CreateContainer: config.metadata.name", cc->metadata->name,
                                BERTH_CRI_MAX_NAME, &merr) < 0 ||
            berth_cri_check_len("CreateContainer: config.image.image", cc->image->image,
                                BERTH_CRI_MAX_PATH, &merr) < 0 ||
            berth_cri_check_len("CreateContainer: config.log_path", cc->log_path,
                                BERTH_CRI_MAX_PATH, &merr) < 0 ||
            berth_cri_check_len("CreateContainer: config.working_dir", cc->working_dir,
                                BERTH_CRI_MAX_PATH, &merr) < 0 ||
            berth_cri_check_map("CreateContainer: config.labels", cc->n_labels,
                                (ProtobufCMessage *const *)cc->labels, &merr) < 0 ||
            berth_cri_check_map("CreateContainer: config.annotations", cc->n_annotations,
                                (ProtobufCMessage *const *)cc->annotations, &merr) < 0)
            return berth_cri_fail(rm, merr->kind, "%s", merr->msg);
    }
    const Runtime__V1__LinuxContainerSecurityContext *sc =
            cc->linux ? cc->linux->security_context : NULL;
    if (sc && sc->run_as_group && !sc->run_as_user && empty(sc->run_as_username))
        return berth_cri_fail(rm, BERTH_ERR_INVALID,
                              "CreateContainer: linux.security_context.run_as_group is set without "
                              "run_as_user or run_as_username");
    /* The log lives under the pod's log directory: a path may not leave it. */
    if (cc->log_path && (cc->log_path[0] == '/' || strstr(cc->log_path, "..") != NULL))
        return berth_cri_fail(rm, BERTH_ERR_INVALID,
                              "CreateContainer: config.log_path \"%s\" must be relative to the "
                              "pod's log_directory, without \"..\"",
                              cc->log_path);
    for (size_t i = 0; i < cc->n_mounts; i++) {
        const Runtime__V1__Mount *m = cc->mounts[i];
        if (strlen(m->container_path ? m->container_path : "") >= BERTH_CRI_MAX_PATH ||
            strlen(m->host_path ? m->host_path : "") >= BERTH_CRI_MAX_PATH)
            return berth_cri_fail(rm, BERTH_ERR_INVALID,
                                  "CreateContainer: config.mounts[%zu]: a path is longer than the "
                                  "%d bytes a path may have",
                                  i, BERTH_CRI_MAX_PATH);
        if (m->image != NULL) {
            BERTH_AUTO_ERR berth_err_t verr = NULL;
            if (check_image_mount(i, m, &verr) < 0)
                return berth_cri_fail(rm, verr->kind, "%s", verr->msg);
            continue;
        }
        if (!empty(m->image_sub_path))
            return berth_cri_fail(rm, BERTH_ERR_INVALID,
                                  "CreateContainer: config.mounts[%zu]: image_sub_path \"%s\" "
                                  "is set without an image",
                                  i, m->image_sub_path);
        if (empty(m->container_path) || m->container_path[0] != '/' || empty(m->host_path))
            return berth_cri_fail(rm, BERTH_ERR_INVALID,
                                  "CreateContainer: config.mounts[%zu]: container_path \"%s\" "
                                  "must be absolute and host_path \"%s\" set",
                                  i, m->container_path ? m->container_path : "",
                                  m->host_path ? m->host_path : "");
    }
    {
        BERTH_AUTO_ERR berth_err_t serr = NULL;
        if (berth_ctrsec_check(cc, &serr) < 0)
            return berth_cri_fail(rm, serr->kind, "%s", serr->msg);
    }
    for (size_t i = 0; i < cc->n_envs; i++) {
        const char *k = cc->envs[i]->key;
        if (empty(k) || strchr(k, '=') != NULL)
            return berth_cri_fail(rm, BERTH_ERR_INVALID,
                                  "CreateContainer: config.envs[%zu]: key \"%s\" is empty or "
                                  "holds '='",
                                  i, k ? k : "");
    }
    /* Limits are checked here, before a name is reserved, so a bad one
     * leaves nothing behind; the container actor fits them to the node. */
    const berth_runtimes_t *rts = berth_runtimes_current();
    BERTH_AUTO_ERR berth_err_t ferr = NULL;
    if (berth_runtimes_check_resources(rts ? &rts->cgroups : NULL,
                                       cc->linux ? cc->linux->resources : NULL, &ferr) < 0)
        return berth_cri_fail(rm, ferr->kind, "CreateContainer: %s", ferr->msg);
    /* The reserved name follows the kubelet's: pod metadata from the
     * sandbox config it sends along; the sandbox ID when it did not. */
    const Runtime__V1__PodSandboxMetadata *pm =
            r->sandbox_config ? r->sandbox_config->metadata : NULL;
    BERTH_AUTO_FREE char *name =
            pm && !empty(pm->name)
                    ? berth_asprintf("k8s_%s_%s_%s_%s_%u", cc->metadata->name, pm->name,
                                     pm->namespace_, pm->uid, cc->metadata->attempt)
                    : berth_asprintf("k8s_%s_%s_%u", cc->metadata->name, r->pod_sandbox_id,
                                     cc->metadata->attempt);
    entry_t *e = berth_index_by_name(&c->ix, name);
    if (e == NULL) {
        BERTH_AUTO_FREE char *id = berth_index_new_id();
        /* the pod's annotations a container reads reach its spec through
         * its own (CRI-O reads them off the pod) */
        berth_ctrsec_pod_annotations((Runtime__V1__ContainerConfig *)cc, r->sandbox_config, c->cfg);
        berth_ctr_init_t init;
        init_base(c, self, &init);
        init.id = id;
        init.name = name;
        init.pod_id = r->pod_sandbox_id;
        init.config = cc;
        berth_handle_t h = berth_container_spawn(&init);
        e = berth_index_add(&c->ix, id, name, h);
    }
    berth_grpc_call_set_owner(rm->call, e->handle);
    berth_send(e->handle, &rm->hdr);
}

static berth_summary_view_t view(const void *summary)
{
    const berth_ctr_summary_t *s = summary;
    return (berth_summary_view_t){s->id, s->state, s->listed, &s->labels};
}

/* A container filter also names a pod (an ID prefix). */
static bool in_pod(const void *summary, const void *filter)
{
    const char *pod = ((const Runtime__V1__ContainerFilter *)filter)->pod_sandbox_id;
    return empty(pod) ||
           strncmp(((const berth_ctr_summary_t *)summary)->pod_id, pod, strlen(pod)) == 0;
}

/* One listed container; strings borrowed from the summary. */
typedef struct pb_ctr {
    Runtime__V1__Container c;
    Runtime__V1__ContainerMetadata md;
    Runtime__V1__ImageSpec img;
} pb_ctr_t;

static void fill(void *slot, const void *summary)
{
    pb_ctr_t *o = slot;
    const berth_ctr_summary_t *s = summary;
    runtime__v1__container__init(&o->c);
    runtime__v1__container_metadata__init(&o->md);
    runtime__v1__image_spec__init(&o->img);
    o->md.name = s->ctr_name;
    o->md.attempt = s->attempt;
    o->img.image = s->image;
    o->c.id = s->id;
    o->c.pod_sandbox_id = s->pod_id;
    o->c.metadata = &o->md;
    o->c.image = &o->img;
    o->c.image_ref = s->image_ref;
    o->c.image_id = s->image_id;
    o->c.state = s->state;
    o->c.created_at = s->created_at;
    o->c.labels = berth_kv_map(&s->labels, &runtime__v1__container__labels_entry__descriptor);
    o->c.n_labels = s->labels.n;
    o->c.annotations =
            berth_kv_map(&s->annotations, &runtime__v1__container__annotations_entry__descriptor);
    o->c.n_annotations = s->annotations.n;
}

static void fini(void *slot)
{
    pb_ctr_t *o = slot;
    berth_free(o->c.annotations);
    berth_free(o->c.labels);
}

static const berth_index_lister_t lister = {sizeof(pb_ctr_t), view, in_pod, fill, fini};

static void on_list(ctrs_t *c, berth_cri_req_msg_t *rm, bool stream)
{
    const Runtime__V1__ContainerFilter *f =
            stream ? ((const Runtime__V1__StreamContainersRequest *)rm->req)->filter
                   : ((const Runtime__V1__ListContainersRequest *)rm->req)->filter;
    berth_index_list(&c->ix, &lister, f, rm->call, stream,
                     &runtime__v1__list_containers_response__descriptor,
                     &runtime__v1__stream_containers_response__descriptor);
    berth_msg_free(&rm->hdr);
}

/* The pod's pause container: a container like the others, from the
 * configured pause image, that no list shows. */
static void on_infra(berth_actor_t *self, ctrs_t *c, berth_ctrs_infra_msg_t *im)
{
    berth_pod_info_t *info = berth_steal_ptr(&im->info);
    Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
    md.name = (char *)"POD";
    Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
    img.image = c->cfg->pause_image;
    Runtime__V1__ContainerConfig__LabelsEntry lbl =
            RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT;
    lbl.key = (char *)"io.berth.infra";
    lbl.value = (char *)"true";
    Runtime__V1__ContainerConfig__LabelsEntry *lbls[] = {&lbl};
    Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    cc.metadata = &md;
    cc.image = &img;
    cc.n_labels = 1;
    cc.labels = lbls;
    /* "k8s_<pod>_<ns>_<uid>_<attempt>" -> "k8s_POD_<pod>_<ns>_<uid>_<attempt>" */
    BERTH_AUTO_FREE char *name = berth_asprintf(
            "k8s_POD_%s", strncmp(info->name, "k8s_", 4) == 0 ? info->name + 4 : info->name);
    BERTH_AUTO_FREE char *id = berth_index_new_id();
    berth_ctr_init_t init;
    init_base(c, self, &init);
    init.id = id;
    init.name = name;
    init.pod_id = info->id;
    init.config = &cc;
    init.infra = true;
    init.infra_reply = im->reply_to;
    init.pod_info = info;
    berth_handle_t h = berth_container_spawn(&init);
    berth_index_add(&c->ix, id, name, h);
}

/* ---- writable-layer usage ------------------------------------------------- */

/* The kubelet reads a container's rootfs usage from ContainerStats'
 * writable_layer (its /stats/summary). Walking an upper directory costs one
 * stat per file, so it never runs on a request's path: a stats request is
 * answered with the last measure, and the containers due a new one (10 s
 * after a measure that saw the layer change, up to 60 s while it stays the
 * same: berth_ctr_stats_set_layer) are measured by one pool job at a time,
 * each walk stopped at LAYER_MAX_INODES (the figure is then a floor). */
#define LAYER_MAX_INODES 200000u

typedef struct layer_row {
    char *id, *upper;
    size_t slot; /* the entry's index slot when the job was made (see summary_at) */
    uint64_t bytes, inodes;
    bool ok;
} layer_row_t;

typedef struct layers_msg {
    berth_msg_t hdr; /* BERTH_MSG_CTRS_LAYERS */
    layer_row_t *rows;
    size_t n;
    int64_t at;
    char *fs_dir; /* the layers' filesystem, measured once per job (statvfs) */
    bool fs_ok;
    uint64_t fs_bytes, fs_inodes, fs_inodes_free;
} layers_msg_t;

static void layers_job(void *arg)
{
    layers_msg_t *m = arg;
    for (size_t i = 0; i < m->n; i++) {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        layer_row_t *r = &m->rows[i];
        /* a container removed meanwhile has no upper directory: no figure */
        r->ok = berth_store_usage_max(r->upper, LAYER_MAX_INODES, &r->bytes, &r->inodes, &err) == 0;
    }
    struct statvfs vfs;
    if (statvfs(m->fs_dir, &vfs) == 0) {
        m->fs_ok = true;
        m->fs_bytes = (uint64_t)vfs.f_blocks * vfs.f_frsize;
        m->fs_inodes = vfs.f_files;
        m->fs_inodes_free = vfs.f_ffree;
    }
    m->at = (int64_t)berth_wall_ns();
}

static void layers_msg_free(berth_msg_t *msg)
{
    layers_msg_t *m = (layers_msg_t *)msg;
    berth_free(m->fs_dir);
    for (size_t i = 0; i < m->n; i++) {
        berth_free(m->rows[i].id);
        berth_free(m->rows[i].upper);
    }
    berth_free(m->rows);
    berth_free(m);
}

/* Measures, in one pool job, every listed container whose last measure is
 * older than LAYER_MAX_AGE at `now`; nothing while a measure runs (the next
 * stats request asks again). */
static void measure_layers(berth_actor_t *self, ctrs_t *c, int64_t now)
{
    if (c->measuring)
        return;
    layers_msg_t *m = berth_msg_new(BERTH_MSG_CTRS_LAYERS, sizeof(*m));
    m->hdr.free = layers_msg_free;
    m->rows = berth_calloc(c->ix.n + 1, sizeof(*m->rows));
    for (size_t i = 0; i < c->ix.n; i++) {
        const berth_ctr_summary_t *s = SUMMARY(&c->ix.v[i]);
        if (s == NULL || !s->listed || !berth_ctr_stats_layer_due(s, now))
            continue;
        layer_row_t *r = &m->rows[m->n++];
        r->id = berth_strdup(s->id);
        r->slot = i;
        r->upper = berth_asprintf("%s/overlay-containers/%s/upper", c->cfg->root, s->id);
    }
    if (m->n == 0) {
        berth_msg_free(&m->hdr);
        return;
    }
    m->fs_dir = berth_strdup(c->layers_fs);
    c->measuring = true;
    berth_blocking_run(layers_job, m, berth_actor_self(self), &m->hdr);
}

/* The summary of container `id`, looked for at `slot` first: a pool job's
 * rows are made in index order and entries move only when one is removed,
 * so a job's answer for a thousand containers does not scan the index for
 * each. NULL: gone. */
static berth_ctr_summary_t *summary_at(ctrs_t *c, size_t slot, const char *id)
{
    entry_t *e = slot < c->ix.n && strcmp(c->ix.v[slot].id, id) == 0
                         ? &c->ix.v[slot]
                         : berth_index_by_exact_id(&c->ix, id);
    return e ? SUMMARY(e) : NULL;
}

static void on_layers_done(ctrs_t *c, layers_msg_t *m)
{
    c->measuring = false;
    for (size_t i = 0; i < m->n; i++) {
        berth_ctr_summary_t *s = summary_at(c, m->rows[i].slot, m->rows[i].id);
        if (s == NULL || !m->rows[i].ok)
            continue;
        berth_ctr_stats_set_layer(s, m->rows[i].bytes, m->rows[i].inodes, m->at);
        if (m->fs_ok)
            berth_ctr_stats_set_fs(s, m->fs_bytes, m->fs_inodes, m->fs_inodes_free);
    }
}

/* ---- stats ---------------------------------------------------------------- */

/* A container's CPU and memory figures are kept in its summary (cg_stats,
 * read at cg_at) and a stats call is answered from them at once, each figure
 * with its own timestamp, so the kubelet's rates stay right whatever their
 * age. Reading a cgroup costs a few system calls per file, so figures are
 * read by one pool job at a time (cgroups_read), for every listed container
 * whose figures are older than half of stats_refresh_interval, when a call
 * finds one such. A call that needs a figure the cache cannot give (a
 * container never read, such as one created just before, or a figure older
 * than the whole interval: nobody asked for a while) waits for the next
 * job. A removed container's figures go with its summary. */

typedef struct cg_row {
    char *id, *cgroup;              /* owned */
    size_t slot;                    /* the entry's index slot at the job's start */
    berth_cgroups_reader_t *reader; /* a reference; NULL: the job makes it */
    berth_cgroups_stats_t st;       /* all zero when the cgroup could not be read */
    int64_t at;                     /* wall time of the read */
} cg_row_t;

typedef struct cg_msg {
    berth_msg_t hdr; /* BERTH_MSG_CTRS_STATS */
    cg_row_t *rows;
    size_t n;
} cg_msg_t;

/* A stats call waiting for a cgroup read. */
typedef struct stats_wait {
    struct stats_wait *next;
    berth_cri_req_msg_t *rm; /* owned */
    int kind;                /* enum ctr_stats_kind */
    int64_t arrived;         /* wall time the call came in: figures read after it are fresh */
    int waits;               /* cgroup reads waited for so far */
} stats_wait_t;

/* A call waits for at most this many reads: a container made while one read
 * ran is read by the next; one made during that one again is shown as it
 * is (no figures yet), so a steady stream of creations cannot hold a call. */
#define STATS_MAX_WAITS 2

static const char *cgroup_of(const berth_ctr_summary_t *s)
{
    return s->cgroup ? s->cgroup : "";
}

static void cg_job(void *arg)
{
    cg_msg_t *m = arg;
    for (size_t i = 0; i < m->n; i++) {
        cg_row_t *r = &m->rows[i];
        if (r->reader == NULL) {
            r->reader = berth_cgroups_reader_new(r->cgroup);
            /* the limit (available bytes), swap, pressure, I/O and the
             * metrics' figures */
            if (r->reader)
                berth_cgroups_reader_want_more(r->reader);
        }
        /* A container without a cgroup yet (or any more) reports no figures. */
        if (r->reader)
            berth_cgroups_reader_read(r->reader, &r->st);
        r->at = (int64_t)berth_wall_ns();
    }
}

static void cg_msg_free(berth_msg_t *msg)
{
    cg_msg_t *m = (cg_msg_t *)msg;
    for (size_t i = 0; i < m->n; i++) {
        berth_free(m->rows[i].id);
        berth_free(m->rows[i].cgroup);
        berth_cgroups_reader_unref(m->rows[i].reader);
    }
    berth_free(m->rows);
    berth_free(m);
}

/* Whether s's figures are due a read at `now`: never read, or read at least
 * half the refresh interval ago. A container with no cgroup has nothing to
 * read. */
static bool cg_due(const ctrs_t *c, const berth_ctr_summary_t *s, int64_t now, bool new_only)
{
    return s->listed && cgroup_of(s)[0] != '\0' &&
           (s->cg_at == 0 ||
            (!new_only && now - s->cg_at >= c->cfg->stats_refresh_interval_ns / 2));
}

/* Starts one pool job reading every listed container due a read at `now`
 * (new_only: only those never read); nothing while a read runs (its end
 * starts the next one a waiting call needs) or when nothing is due. */
static void cgroups_read(berth_actor_t *self, ctrs_t *c, int64_t now, bool new_only)
{
    if (c->reading)
        return;
    size_t due = 0;
    for (size_t i = 0; i < c->ix.n; i++) {
        const berth_ctr_summary_t *s = SUMMARY(&c->ix.v[i]);
        due += s != NULL && cg_due(c, s, now, new_only);
    }
    if (due == 0)
        return;
    cg_msg_t *m = berth_msg_new(BERTH_MSG_CTRS_STATS, sizeof(*m));
    m->hdr.free = cg_msg_free;
    m->rows = berth_calloc(due, sizeof(*m->rows));
    for (size_t i = 0; i < c->ix.n && m->n < due; i++) {
        const berth_ctr_summary_t *s = SUMMARY(&c->ix.v[i]);
        if (s == NULL || !cg_due(c, s, now, new_only))
            continue;
        cg_row_t *r = &m->rows[m->n++];
        r->id = berth_strdup(s->id);
        r->slot = i;
        r->cgroup = berth_strdup(cgroup_of(s));
        if (s->cg_reader) {
            berth_cgroups_reader_ref(s->cg_reader);
            r->reader = s->cg_reader;
        }
    }
    c->reading = true;
    berth_blocking_run(cg_job, m, berth_actor_self(self), &m->hdr);
}

/* Which call a container stats answer is for. */
enum ctr_stats_kind {
    STATS_ONE,    /* ContainerStats */
    STATS_LIST,   /* ListContainerStats */
    STATS_STREAM, /* StreamContainerStats */
};

static void on_stats_at(berth_actor_t *self, ctrs_t *c, berth_cri_req_msg_t *rm, int kind,
                        int64_t arrived, int waits);
static void on_pod_stats(berth_actor_t *self, ctrs_t *c, berth_ctrs_pod_stats_msg_t *m);

static void on_cgroups_read(berth_actor_t *self, ctrs_t *c, cg_msg_t *m)
{
    c->reading = false;
    for (size_t i = 0; i < m->n; i++) {
        cg_row_t *r = &m->rows[i];
        berth_ctr_summary_t *s = summary_at(c, r->slot, r->id);
        /* gone, or its cgroup changed while the job ran: the figures are not its */
        if (s == NULL || strcmp(cgroup_of(s), r->cgroup) != 0)
            continue;
        if (s->cg_reader == NULL)
            s->cg_reader = berth_steal_ptr(&r->reader);
        berth_ctr_stats_set_cg(s, &r->st, r->at);
    }
    stats_wait_t *w = c->stats_waiting;
    c->stats_waiting = NULL;
    while (w) {
        stats_wait_t *next = w->next;
        on_stats_at(self, c, berth_steal_ptr(&w->rm), w->kind, w->arrived, w->waits);
        berth_free(w);
        w = next;
    }
    berth_ctrs_pod_stats_msg_t *pm = c->pods_waiting;
    c->pods_waiting = NULL;
    while (pm) {
        berth_ctrs_pod_stats_msg_t *next = pm->next;
        pm->next = NULL;
        on_pod_stats(self, c, pm);
        pm = next;
    }
    /* containers listed while this read ran */
    cgroups_read(self, c, (int64_t)berth_wall_ns(), true);
}

/* Answers the call from the summaries in rows (borrowed), each row's
 * ContainerStats packed once per change of its figures (ctrstats.h). */
static void stats_answer(ctrs_t *c, berth_cri_req_msg_t *rm, int kind, berth_ctr_summary_t **rows,
                         size_t n)
{
    int64_t now = (int64_t)berth_wall_ns();
    BERTH_AUTO_FREE berth_cri_packed_t *items = berth_calloc(n + 1, sizeof(*items));
    BERTH_AUTO_FREE uint8_t **scratch = berth_calloc(n + 1, sizeof(*scratch));
    for (size_t i = 0; i < n; i++)
        items[i] = berth_ctr_stats_packed(rows[i], now, c->layers_fs, &scratch[i]);
    if (kind == STATS_STREAM) {
        /* one item per message, then OK: each in exactly one batch */
        berth_cri_reply_packed(rm->call, true,
                               &runtime__v1__list_container_stats_response__descriptor,
                               &runtime__v1__stream_container_stats_response__descriptor, items, n);
    } else {
        /* ContainerStatsResponse's one field is the ContainerStats, as
         * ListContainerStatsResponse's is the repeated one */
        bool single = kind == STATS_ONE;
        size_t len;
        uint8_t *buf = berth_cri_pack_items(
                single ? &runtime__v1__container_stats_response__descriptor
                       : &runtime__v1__list_container_stats_response__descriptor,
                items, single && n > 1 ? 1 : n, &len);
        berth_grpc_reply_take(rm->call, buf, len);
    }
    for (size_t i = 0; i < n; i++)
        berth_free(scratch[i]);
    berth_msg_free(&rm->hdr);
}

/* ContainerStats, ListContainerStats and StreamContainerStats, from the
 * cached figures (see the
 * section's comment). `arrived` is when the call came in, `waits` how many
 * reads it waited for already. */
static void on_stats_at(berth_actor_t *self, ctrs_t *c, berth_cri_req_msg_t *rm, int kind,
                        int64_t arrived, int waits)
{
    bool single = kind == STATS_ONE;
    const Runtime__V1__ContainerStatsFilter *f = NULL;
    const char *want_id = NULL;
    if (single) {
        want_id = ((const Runtime__V1__ContainerStatsRequest *)rm->req)->container_id;
        bool amb;
        berth_index_entry_t *e = berth_index_by_id(&c->ix, want_id, &amb);
        if (e == NULL || SUMMARY(e) == NULL || !SUMMARY(e)->listed)
            return berth_cri_fail(rm, BERTH_ERR_NOT_FOUND, "ContainerStats: container %s not found",
                                  want_id ? want_id : "");
        want_id = e->id;
    } else if (kind == STATS_LIST) {
        f = ((const Runtime__V1__ListContainerStatsRequest *)rm->req)->filter;
    } else {
        f = ((const Runtime__V1__StreamContainerStatsRequest *)rm->req)->filter;
    }
    berth_ctr_summary_t **rows = berth_calloc(c->ix.n + 1, sizeof(*rows));
    size_t n = 0;
    bool wait = false;
    int64_t max_age = c->cfg->stats_refresh_interval_ns;
    for (size_t i = 0; i < c->ix.n; i++) {
        berth_ctr_summary_t *s = SUMMARY(&c->ix.v[i]);
        if (s == NULL || !s->listed)
            continue;
        if (want_id && strcmp(s->id, want_id) != 0)
            continue;
        if (f && !empty(f->id) && strncmp(s->id, f->id, strlen(f->id)) != 0)
            continue;
        if (f && !empty(f->pod_sandbox_id) &&
            strncmp(s->pod_id, f->pod_sandbox_id, strlen(f->pod_sandbox_id)) != 0)
            continue;
        if (f && !berth_kv_selects(&s->labels, f->n_label_selector,
                                   (ProtobufCMessage *const *)f->label_selector))
            continue;
        rows[n++] = s;
        /* never read, read too long ago, or read once (no CPU rate yet)
         * half an interval ago: the next read gives what is missing */
        if (cgroup_of(s)[0] != '\0' &&
            (s->cg_at == 0 || arrived - s->cg_at > max_age ||
             (s->cg_stats.have_cpu && !s->have_nano && arrived - s->cg_at >= max_age / 2)))
            wait = true;
    }
    int64_t now = (int64_t)berth_wall_ns();
    if (wait && waits < STATS_MAX_WAITS) {
        stats_wait_t *w = berth_calloc(1, sizeof(*w));
        w->rm = rm;
        w->kind = kind;
        w->arrived = arrived;
        w->waits = waits + 1;
        w->next = c->stats_waiting;
        c->stats_waiting = w;
        berth_free(rows);
        cgroups_read(self, c, now, false);
        return;
    }
    stats_answer(c, rm, kind, rows, n);
    berth_free(rows);
    /* figures past half their age are read again now, off this call's path */
    cgroups_read(self, c, now, false);
    measure_layers(self, c, now);
}

static void on_stats(berth_actor_t *self, ctrs_t *c, berth_cri_req_msg_t *rm, int kind)
{
    on_stats_at(self, c, rm, kind, (int64_t)berth_wall_ns(), 0);
}

static void on_create_rpc(berth_actor_t *self, void *mgr, berth_cri_req_msg_t *rm, int arg)
{
    (void)arg;
    on_create(self, mgr, rm);
}

static void on_list_rpc(berth_actor_t *self, void *mgr, berth_cri_req_msg_t *rm, int stream)
{
    (void)self;
    on_list(mgr, rm, stream);
}

static void on_stats_rpc(berth_actor_t *self, void *mgr, berth_cri_req_msg_t *rm, int kind)
{
    on_stats(self, mgr, rm, kind);
}

static const berth_index_route_t route_table[] = {
        {"CreateContainer", on_create_rpc, 0, false},
        {"ListContainers", on_list_rpc, false, false},
        {"StreamContainers", on_list_rpc, true, false},
        {"ContainerStats", on_stats_rpc, STATS_ONE, false},
        {"ListContainerStats", on_stats_rpc, STATS_LIST, false},
        {"StreamContainerStats", on_stats_rpc, STATS_STREAM, false},
        {"StopContainer", NULL, 0, true},
        {"RemoveContainer", NULL, 0, true},
        {"StartContainer", NULL, 0, false},
        {"ContainerStatus", NULL, 0, false},
        {"ExecSync", NULL, 0, false},
        {"Exec", NULL, 0, false},
        {"Attach", NULL, 0, false},
        {"ReopenContainerLog", NULL, 0, false},
        {"UpdateContainerResources", NULL, 0, false},
        {"CheckpointContainer", NULL, 0, false},
};
static berth_cri_routes_t routes = BERTH_CRI_ROUTES(route_table);

/* A request, now or when the records are read (ctx: the actor). */
static void dispatch(void *ctx, berth_cri_req_msg_t *rm)
{
    berth_actor_t *self = ctx;
    ctrs_t *c = berth_actor_state(self);
    berth_index_dispatch(self, c, &c->ix, &routes, rm, "container_id", "container");
}

static void restore_msg_free(berth_msg_t *m)
{
    restore_msg_t *r = (restore_msg_t *)m;
    berth_fs_records_free(r->records, r->n);
    berth_free(r->dir);
    berth_free(r->root);
    berth_free(r->overlay_dir);
    berth_free(r->bundle_dir);
    berth_free(r);
}

/* Removes what a crash left without a record: root filesystems under
 * <root>/overlay-containers and bundles under <runroot>/containers whose
 * container has no record (a record is written before either is made). */
static void sweep_orphans(const restore_msg_t *r)
{
    const char *dirs[] = {r->overlay_dir, r->bundle_dir};
    for (size_t k = 0; k < 2; k++) {
        size_t nnames = 0;
        char **names = berth_fs_list_names(dirs[k], &nnames);
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
            berth_err_t err = NULL;
            if (k == 0) {
                berth_log_info("removing an orphaned container rootfs", "id=%s", name);
                if (berth_overlay_container_remove(r->root, name, &err) < 0) {
                    berth_log_warn("cannot remove orphaned rootfs", "error=\"%s\"", err->msg);
                    berth_err_free(&err);
                }
            } else {
                BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", dirs[k], name);
                berth_log_info("removing an orphaned container bundle", "path=%s", p);
                if (berth_unpack_remove_tree(p, &err) < 0) {
                    berth_log_warn("cannot remove orphaned bundle", "error=\"%s\"", err->msg);
                    berth_err_free(&err);
                }
            }
        }
        berth_strv_free(names);
    }
}

/* A committed record carries no pid until the start's record: a container
 * created but not started before the restart gets it from the runtime's
 * pidfile (written before the runtime's create returned). */
static void restore_pid(const restore_msg_t *r, json_t *rec)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    if (id == NULL || json_integer_value(json_object_get(rec, "pid")) > 0 ||
        json_is_true(json_object_get(rec, "creating")))
        return;
    BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s/userdata/pidfile", r->bundle_dir, id);
    BERTH_AUTO_FREE char *text = NULL;
    if (berth_fs_read_small(p, 64, &text, NULL) < 0)
        return;
    long pid = strtol(text, NULL, 10);
    if (pid > 0)
        json_object_set_new(rec, "pid", json_integer(pid));
}

static void restore_job(void *arg)
{
    restore_msg_t *r = arg;
    berth_fs_sweep_partial_records(r->dir, "container");
    berth_fs_load_records(r->dir, "container", &r->records, &r->n);
    for (size_t i = 0; i < r->n; i++)
        restore_pid(r, r->records[i]);
    sweep_orphans(r);
}

static void on_restored(berth_actor_t *self, ctrs_t *c, restore_msg_t *r)
{
    /* The image volumes the records claim go to the images actor before
     * any container actor exists, so its orphan sweep sees every claim
     * before a new one can arrive. */
    berth_image_vol_restore_msg_t *vr = berth_image_vol_restore_new();
    for (size_t i = 0; i < r->n; i++) {
        const char *id = json_string_value(json_object_get(r->records[i], "id"));
        json_t *vols = json_object_get(r->records[i], "image_volumes");
        for (size_t k = 0; id && k < json_array_size(vols); k++) {
            const char *img = json_string_value(json_array_get(vols, k));
            if (img)
                berth_image_vol_restore_add(vr, id, img);
        }
    }
    berth_send(c->images, &vr->hdr);
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        json_t *rec = r->records[i];
        const char *id = json_string_value(json_object_get(rec, "id"));
        const char *name = json_string_value(json_object_get(rec, "name"));
        bool amb;
        if (id == NULL || name == NULL || berth_index_by_id(&c->ix, id, &amb) != NULL)
            continue;
        r->records[i] = NULL;
        entry_t *e = berth_index_add(&c->ix, id, name, BERTH_HANDLE_NONE);
        berth_ctr_init_t base;
        init_base(c, self, &base);
        e->handle = berth_container_restore(&base, rec);
        n++;
    }
    berth_log_info("containers restored", "count=%zu", n);
    berth_nrisrv_restore_done();
    berth_index_ready(&c->ix, dispatch, self);
}

/* ---- PodSandboxStatus with containers' statuses ---------------------------------------- */

/* Newest first: the kubelet (EventedPLEG) takes this list as it comes, and
 * its first status of a name is the one it restarts from (its attempt + 1),
 * where ListContainers + ContainerStatus would be sorted by creation. */
static int newest_first(const void *a, const void *b)
{
    int64_t x = (*(Runtime__V1__ContainerStatus *const *)a)->created_at;
    int64_t y = (*(Runtime__V1__ContainerStatus *const *)b)->created_at;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void status_op_finish(ctrs_t *c, status_op_t *op)
{
    ProtobufCAllocator *a = (ProtobufCAllocator *)berth_alloc_protobuf_allocator();
    berth_ctrs_pod_status_msg_t *m = op->msg;
    Runtime__V1__PodSandboxStatusResponse *resp =
            runtime__v1__pod_sandbox_status_response__unpack(a, m->len, m->resp);
    if (resp == NULL) {
        berth_cri_finish(m->call, BERTH_ERR_INTERNAL, "PodSandboxStatus: bad pod answer");
    } else {
        Runtime__V1__ContainerStatus **sts = berth_calloc(op->n + 1, sizeof(*sts));
        size_t n = 0;
        for (size_t i = 0; i < op->n; i++) {
            if (op->statuses[i] == NULL)
                continue;
            Runtime__V1__ContainerStatus *st =
                    runtime__v1__container_status__unpack(a, op->lens[i], op->statuses[i]);
            if (st)
                sts[n++] = st;
        }
        qsort(sts, n, sizeof(*sts), newest_first);
        resp->n_containers_statuses = n;
        resp->containers_statuses = sts;
        /* when the statuses were taken, the clock the kubelet compares */
        resp->timestamp = (int64_t)berth_wall_ns();
        berth_cri_reply(m->call, &resp->base);
        for (size_t i = 0; i < n; i++)
            protobuf_c_message_free_unpacked(&sts[i]->base, a);
        resp->n_containers_statuses = 0;
        resp->containers_statuses = NULL;
        berth_free(sts);
        protobuf_c_message_free_unpacked(&resp->base, a);
    }
    berth_grpc_call_unref(m->call);
    m->call = NULL;
    berth_msg_free(&m->hdr);
    for (status_op_t **pp = &c->statuses; *pp; pp = &(*pp)->next) {
        if (*pp == op) {
            *pp = op->next;
            break;
        }
    }
    for (size_t i = 0; i < op->n; i++)
        berth_free(op->statuses[i]);
    berth_free(op->statuses);
    berth_free(op->lens);
    berth_free(op);
}

static void on_pod_status(berth_actor_t *self, ctrs_t *c, berth_ctrs_pod_status_msg_t *m)
{
    status_op_t *op = berth_calloc(1, sizeof(*op));
    op->id = ++c->next_status;
    op->msg = m;
    op->statuses = berth_calloc(c->ix.n + 1, sizeof(*op->statuses));
    op->lens = berth_calloc(c->ix.n + 1, sizeof(*op->lens));
    op->next = c->statuses;
    c->statuses = op;
    /* what the kubelet would list: delivered containers of this pod (not
     * the pause container, not a creation still in flight) */
    for (size_t i = 0; i < c->ix.n; i++) {
        const berth_ctr_summary_t *s = SUMMARY(&c->ix.v[i]);
        if (s == NULL || !s->listed || strcmp(s->pod_id, m->pod_id) != 0)
            continue;
        berth_ctr_status_msg_t *q =
                berth_ctr_status_query_new(berth_actor_self(self), op->id, op->n);
        op->n++;
        op->left++;
        if (berth_send(c->ix.v[i].handle, &q->hdr) < 0)
            op->left--; /* the query answered itself as it was freed */
    }
    if (op->left == 0)
        status_op_finish(c, op);
}

static void on_status_reply(ctrs_t *c, berth_ctr_status_msg_t *r)
{
    for (status_op_t *op = c->statuses; op; op = op->next) {
        if (op->id != r->tag)
            continue;
        if (r->slot < op->n && op->statuses[r->slot] == NULL) {
            op->statuses[r->slot] = berth_steal_ptr(&r->status);
            op->lens[r->slot] = r->len;
        }
        if (--op->left == 0)
            status_op_finish(c, op);
        return;
    }
}

/* ---- PodSandboxStats with the containers' stats -------------------------- */

/* Adds to each pod's packed stats the ContainerStats of its listed
 * containers, from the same cache ContainerStats answers from (not waiting
 * for a read: a container never read shows its attributes only), answers,
 * and reads the figures past half their age for the next call. */
/* Whether a listed container of the n pods has a cgroup never read (made
 * just before the call: the pods manager waited for its own sample, not
 * for the containers'). */
static bool pods_unread(const ctrs_t *c, char *const *pod_ids, size_t n)
{
    for (size_t i = 0; i < c->ix.n; i++) {
        const berth_ctr_summary_t *s = SUMMARY(&c->ix.v[i]);
        if (s == NULL || !s->listed || s->cg_at != 0 || cgroup_of(s)[0] == '\0')
            continue;
        for (size_t p = 0; p < n; p++)
            if (strcmp(s->pod_id, pod_ids[p]) == 0)
                return true;
    }
    return false;
}

static void on_pod_stats(berth_actor_t *self, ctrs_t *c, berth_ctrs_pod_stats_msg_t *m)
{
    int64_t now = (int64_t)berth_wall_ns();
    bool metrics = berth_pod_stats_kind_metrics(m->kind);
    if (!m->waited && pods_unread(c, m->pod_ids, m->n)) {
        /* the read that started when the container was listed, or the
         * next one, answers it */
        m->waited = true;
        m->next = c->pods_waiting;
        c->pods_waiting = m;
        cgroups_read(self, c, now, true);
        return;
    }
    BERTH_AUTO_FREE const uint8_t **data = berth_calloc(c->ix.n + 1, sizeof(*data));
    BERTH_AUTO_FREE size_t *lens = berth_calloc(c->ix.n + 1, sizeof(*lens));
    BERTH_AUTO_FREE uint8_t **scratch = berth_calloc(c->ix.n + 1, sizeof(*scratch));
    for (size_t p = 0; p < m->n; p++) {
        size_t k = 0;
        for (size_t i = 0; i < c->ix.n; i++) {
            berth_ctr_summary_t *s = SUMMARY(&c->ix.v[i]);
            if (s == NULL || !s->listed || strcmp(s->pod_id, m->pod_ids[p]) != 0)
                continue;
            berth_cri_packed_t it =
                    metrics ? berth_ctr_metrics_packed(s, c->layers_fs)
                            : berth_ctr_stats_packed(s, now, c->layers_fs, &scratch[k]);
            if (it.data == NULL)
                continue; /* no cgroup figures: no metrics */
            data[k] = it.data;
            lens[k++] = it.len;
        }
        if (metrics)
            berth_cadvisor_add_containers(&m->items[p], &m->lens[p], data, lens, k);
        else
            berth_pod_stats_add_containers(&m->items[p], &m->lens[p], data, lens, k);
        for (size_t i = 0; i < k; i++) {
            berth_free(scratch[i]);
            scratch[i] = NULL;
        }
    }
    berth_pod_stats_reply(m->call, m->kind, m->items, m->lens, m->n);
    berth_grpc_call_unref(m->call);
    m->call = NULL;
    berth_msg_free(&m->hdr);
    cgroups_read(self, c, now, false);
    measure_layers(self, c, now);
}

static void ctrs_receive(berth_actor_t *self, berth_msg_t *msg)
{
    ctrs_t *c = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_CRI_REQUEST: {
        berth_cri_req_msg_t *rm = (berth_cri_req_msg_t *)msg;
        if (!berth_index_hold(&c->ix, rm))
            dispatch(self, rm);
        return; /* held, handed on or freed */
    }
    case BERTH_MSG_CTR_SUMMARY: {
        berth_ctr_summary_msg_t *sm = (berth_ctr_summary_msg_t *)msg;
        entry_t *e = berth_index_by_exact_id(&c->ix, sm->summary->id);
        if (e) {
            berth_ctr_summary_t *old = SUMMARY(e);
            /* the cgroup's figures belong to the cgroup they were read from */
            if (old)
                berth_ctr_stats_carry(sm->summary, old,
                                      strcmp(cgroup_of(old), cgroup_of(sm->summary)) == 0);
            bool first = sm->summary->listed && sm->summary->layer_at == 0;
            bool unread = sm->summary->listed && sm->summary->cg_at == 0;
            berth_index_set_summary(&c->ix, e, berth_steal_ptr(&sm->summary));
            if (first)
                measure_layers(self, c, (int64_t)berth_wall_ns());
            /* a container listed (or given its cgroup) is read at once, off
             * any call's path, so the first stats call need not wait for it;
             * those listed while a read runs are read by the next one */
            if (unread)
                cgroups_read(self, c, (int64_t)berth_wall_ns(), true);
        }
        break;
    }
    case BERTH_MSG_CTR_GONE: {
        berth_creation_forget(&c->ix, (berth_creation_gone_msg_t *)msg);
        break;
    }
    case BERTH_MSG_CTRS_RESTORED:
        on_restored(self, c, (restore_msg_t *)msg);
        break;
    case BERTH_MSG_CTRS_STATS:
        on_cgroups_read(self, c, (cg_msg_t *)msg);
        break;
    case BERTH_MSG_CTRS_LAYERS:
        on_layers_done(c, (layers_msg_t *)msg);
        break;
    case BERTH_MSG_CTRS_POD_STATS:
        on_pod_stats(self, c, (berth_ctrs_pod_stats_msg_t *)msg);
        return;
    case BERTH_MSG_CTRS_POD_STATUS:
        on_pod_status(self, c, (berth_ctrs_pod_status_msg_t *)msg);
        return; /* the op owns it */
    case BERTH_MSG_CTR_STATUS_REPLY:
        on_status_reply(c, (berth_ctr_status_msg_t *)msg);
        break;
    case BERTH_MSG_CTRS_DOWN: {
        berth_ctrs_down_msg_t *d = (berth_ctrs_down_msg_t *)msg;
        down_op_t *op = berth_calloc(1, sizeof(*op));
        op->id = ++c->next_down;
        op->reply_to = d->reply_to;
        op->tag = d->tag;
        op->remove = d->remove;
        op->pod_id = berth_strdup(d->pod_id);
        for (size_t i = 0; i < c->ix.n; i++) {
            const berth_ctr_summary_t *s = SUMMARY(&c->ix.v[i]);
            if (s == NULL || strcmp(s->pod_id, d->pod_id) != 0)
                continue;
            op->left++;
            berth_ctrs_down_msg_t *f = berth_ctrs_down_new(BERTH_MSG_CTR_DOWN, d->pod_id, d->remove,
                                                           berth_actor_self(self), op->id);
            if (berth_send(c->ix.v[i].handle, &f->hdr) < 0)
                op->left--;
        }
        if (op->left == 0) {
            down_reply(op);
            berth_free(op->pod_id);
            berth_free(op);
        } else {
            op->next = c->downs;
            c->downs = op;
        }
        break;
    }
    case BERTH_MSG_CTRS_INFRA: {
        berth_ctrs_infra_msg_t *im = (berth_ctrs_infra_msg_t *)msg;
        on_infra(self, c, im);
        break;
    }
    case BERTH_MSG_CTR_DOWN_DONE: {
        berth_ctrs_down_msg_t *d = (berth_ctrs_down_msg_t *)msg;
        for (down_op_t **pp = &c->downs; *pp; pp = &(*pp)->next) {
            down_op_t *op = *pp;
            if (op->id != d->tag)
                continue;
            if (--op->left == 0) {
                *pp = op->next;
                down_reply(op);
                berth_free(op->pod_id);
                berth_free(op);
            }
            break;
        }
        break;
    }
    case BERTH_MSG_GRPC_CANCEL: /* held before the restore: nothing runs yet */
        break;
    default:
        break;
    }
    berth_msg_free(msg);
}

static void ctrs_fini(void *state)
{
    ctrs_t *c = state;
    while (c->statuses) {
        status_op_t *op = c->statuses;
        c->statuses = op->next;
        berth_msg_free(&op->msg->hdr); /* ends the call: shutting down */
        for (size_t i = 0; i < op->n; i++)
            berth_free(op->statuses[i]);
        berth_free(op->statuses);
        berth_free(op->lens);
        berth_free(op);
    }
    while (c->stats_waiting) {
        stats_wait_t *w = c->stats_waiting;
        c->stats_waiting = w->next;
        berth_msg_free(&w->rm->hdr); /* ends the call: shutting down */
        berth_free(w);
    }
    while (c->pods_waiting) {
        berth_ctrs_pod_stats_msg_t *pm = c->pods_waiting;
        c->pods_waiting = pm->next;
        berth_msg_free(&pm->hdr); /* ends the call: shutting down */
    }
    berth_index_fini(&c->ix);
    berth_config_unref(c->cfg);
    berth_free(c->layers_fs);
    berth_free(c);
}

static const berth_actor_class_t ctrs_class = {
        .name = "containers",
        .receive = ctrs_receive,
        .fini = ctrs_fini,
};

static void summary_free(void *s)
{
    berth_ctr_summary_free(s);
}

/* berth-monitor: the configured program, else the one next to berthd. A
 * monitor that cannot be run leaves containers to conmon, loudly. */
static berth_handle_t monitor_start(const berth_config_t *cfg)
{
    BERTH_AUTO_FREE char *bin = NULL;
    if (!empty(cfg->berth_monitor)) {
        bin = berth_strdup(cfg->berth_monitor);
    } else {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        self[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        bin = berth_asprintf("%s/berth-monitor", slash ? self : ".");
    }
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/monitor", cfg->runroot);
    berth_monitor_conf_t mc = {.binary = bin, .dir = dir};
    berth_err_t err = NULL;
    berth_handle_t h = berth_monitor_link_new(&mc, &err);
    if (!berth_handle_valid(h)) {
        berth_log_error("container monitor unavailable: containers run under conmon",
                        "monitor=%s error=\"%s\"", bin, err ? err->msg : "?");
        berth_err_free(&err);
    }
    return h;
}

void berth_containers_start(berth_handle_t h, berth_config_t *cfg, berth_handle_t pods,
                            berth_handle_t images, berth_handle_t events)
{
    ctrs_t *c = berth_calloc(1, sizeof(*c));
    c->cfg = berth_config_ref(cfg);
    c->pods = pods;
    c->images = images;
    c->events = events;
    c->layers_fs = berth_asprintf("%s/overlay-containers", cfg->root);
    berth_index_init(&c->ix, summary_free);
    BERTH_AUTO_FREE char *exits = berth_asprintf("%s/exits", cfg->runroot);
    berth_err_t err = NULL;
    c->watcher = berth_conmon_watcher_new(exits, &err);
    if (!berth_handle_valid(c->watcher)) {
        berth_log_error("cannot watch container exits", "dir=%s error=\"%s\"", exits,
                        err ? err->msg : "?");
        berth_err_free(&err);
    }
    if (strcmp(cfg->container_monitor, "berth") == 0)
        c->monitor = monitor_start(cfg);
    berth_actor_start(h, &ctrs_class, c);
    restore_msg_t *r = berth_msg_new(BERTH_MSG_CTRS_RESTORED, sizeof(*r));
    r->hdr.free = restore_msg_free;
    r->dir = berth_asprintf("%s/containers", cfg->root);
    r->root = berth_strdup(cfg->root);
    r->overlay_dir = berth_asprintf("%s/overlay-containers", cfg->root);
    r->bundle_dir = berth_asprintf("%s/containers", cfg->runroot);
    berth_blocking_run(restore_job, r, h, &r->hdr);
}
