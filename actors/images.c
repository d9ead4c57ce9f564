// SPDX-License-Identifier: Apache-2.0
/*
 * The ImageService: the images actor (the index and every method but the
 * pull itself) and one pull actor per in-flight reference (see images.h).
 *
 * Rules kept here: the index; a pull's record is committed by the images
 * actor, which is the only writer of records and writes them one at a time
 * in order; a pull is answered only after its record is on disk, and a
 * failed pull leaves nothing listed (a collection follows it); garbage
 * collection never runs while a pull is unpacking (pulls arriving meanwhile
 * wait for it); concurrent requests for one image join one pull, and at most
 * max_concurrent_pulls distinct images are pulled at once. Short names,
 * aliases, mirrors and blocked registries follow containers-registries.conf
 * through conf/registries.h: the snapshot (main file, drop-ins, berth's
 * insecure_registries) is loaded once at start, and the images actor turns
 * each pulled name into the candidates and endpoints to try. Nothing here
 * blocks: the pull itself (registry, blobs, registry JSON, unpacking) is
 * io/pull's, on io/'s blocking pool, and the store and registries.conf are
 * read and written by the *_job functions on the same pool.
 *
 * Image volumes (docs/image-volumes.md) are counted here too, because the
 * rule they need ("an image mounted as a volume is not removed") is about
 * the index: each volume lists the containers claiming it, is mounted by
 * one job however many claims wait, and unmounted when the last goes; the
 * mounts themselves are io/imagevol's, on the pool.
 */
#include "actors/images.h"
#include "actors/imagelookup.h"

#include <errno.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdlib.h>
#include <string.h>

#include "actors/cri.h"
#include "actors/msgtypes.h"
#include "conf/registries.h"
#include "engine/alloc.h"
#include "engine/err.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/grpc.h"
#include "io/imagevol.h"
#include "io/pull.h"
#include "io/registry.h"
#include "io/store.h"
#include "proto/cri.h"

/* ---- names ------------------------------------------------------------------- */

/* "domain/repo:tag" or "domain/repo@digest" (the digest wins). Owned. */
static char *ref_canonical(const berth_image_ref_t *r)
{
    if (r->digest)
        return berth_asprintf("%s/%s@%s", r->domain, r->repository, r->digest);
    return berth_asprintf("%s/%s:%s", r->domain, r->repository, r->tag ? r->tag : "latest");
}

/* Appends to *v the canonical form (tag defaulted to latest) of each name in
 * names, skipping those that do not parse. */
static void canon_add(char ***v, size_t *n, char *const *names, size_t nn)
{
    for (size_t i = 0; i < nn; i++) {
        berth_image_ref_t cr;
        if (berth_image_ref_parse(names[i], &cr, NULL) < 0)
            continue;
        BERTH_AUTO_FREE char *canon = ref_canonical(&cr);
        berth_image_ref_fini(&cr);
        berth_store_strv_add(v, n, canon);
    }
}

/* The canonical names a short name may stand for in the local index: the
 * registries.conf resolution; where enforcing mode refuses an ambiguous
 * name, every search registry's candidate anyway (what is already on the
 * node cannot be a guess, as containers/image's local lookup agrees). */
static void local_candidates(const berth_registries_t *reg, const char *name, char ***out,
                             size_t *n)
{
    char **c = NULL;
    size_t nc = 0;
    BERTH_AUTO_ERR berth_err_t e = NULL;
    if (berth_registries_resolve_short(reg, name, &c, &nc, NULL, &e) == 0) {
        canon_add(out, n, c, nc);
        berth_registries_strv_free(c);
        return;
    }
    size_t ns = 0;
    const char *const *search = berth_registries_search(reg, &ns);
    for (size_t i = 0; i < ns; i++) {
        BERTH_AUTO_FREE char *full = berth_asprintf("%s/%s", search[i], name);
        canon_add(out, n, &full, 1);
    }
}

/* ---- messages between the actors --------------------------------------------- */

typedef struct pull_final_msg {
    berth_msg_t hdr;
    char *id;
    berth_err_t err;
} pull_final_msg_t;

static void pull_final_free(berth_msg_t *m)
{
    pull_final_msg_t *f = (pull_final_msg_t *)m;
    berth_free(f->id);
    berth_err_free(&f->err);
    berth_free(f);
}

static void send_final(berth_handle_t to, const char *id, berth_err_t err)
{
    pull_final_msg_t *f = berth_msg_new(BERTH_MSG_IMAGES_PULL_FINAL, sizeof(*f));
    f->hdr.free = pull_final_free;
    f->id = id ? berth_strdup(id) : NULL;
    f->err = err;
    berth_send(to, &f->hdr);
}

/* ---- the pull actor: the requests waiting for one pull ------------------------ */

typedef struct pull {
    berth_grpc_call_t **waiters;
    size_t n_waiters;
} pull_t;

static void pull_fini(void *state)
{
    pull_t *p = state;
    for (size_t i = 0; i < p->n_waiters; i++) {
        berth_cri_finish(p->waiters[i], BERTH_ERR_UNAVAILABLE, "berth is shutting down");
        berth_grpc_call_unref(p->waiters[i]);
    }
    berth_free(p->waiters);
    berth_free(p);
}

static void pull_receive(berth_actor_t *self, berth_msg_t *msg)
{
    pull_t *p = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_CRI_REQUEST: {
        berth_cri_req_msg_t *rm = (berth_cri_req_msg_t *)msg;
        p->waiters = berth_realloc(p->waiters, (p->n_waiters + 1) * sizeof(*p->waiters));
        p->waiters[p->n_waiters++] = berth_steal_ptr(&rm->call);
        break;
    }
    case BERTH_MSG_GRPC_CANCEL: {
        /* The pull goes on for the others (and for the next retry): only
         * this requester stops waiting. io/grpc answered it already. */
        berth_grpc_cancel_msg_t *cm = (berth_grpc_cancel_msg_t *)msg;
        for (size_t i = 0; i < p->n_waiters; i++) {
            if (p->waiters[i] != cm->call)
                continue;
            berth_grpc_call_unref(p->waiters[i]);
            p->waiters[i] = p->waiters[--p->n_waiters];
            break;
        }
        break;
    }
    case BERTH_MSG_IMAGES_PULL_FINAL: {
        pull_final_msg_t *f = (pull_final_msg_t *)msg;
        Runtime__V1__PullImageResponse resp = RUNTIME__V1__PULL_IMAGE_RESPONSE__INIT;
        resp.image_ref = f->id;
        for (size_t i = 0; i < p->n_waiters; i++) {
            if (f->err)
                berth_cri_finish_err(p->waiters[i], f->err);
            else
                berth_cri_reply(p->waiters[i], &resp.base);
            berth_grpc_call_unref(p->waiters[i]);
        }
        p->n_waiters = 0;
        berth_actor_exit(self);
        break;
    }
    default:
        break;
    }
    berth_msg_free(msg);
}

static const berth_actor_class_t pull_class = {
        .name = "image-pull",
        .receive = pull_receive,
        .fini = pull_fini,
};

/* ---- the images actor ------------------------------------------------------------ */

typedef struct write_op {
    berth_store_image_t **put, **put_old; /* new versions; the old ones (or NULL) */
    size_t n_put;
    berth_store_image_t **del; /* removed images (to restore on failure) */
    size_t n_del;
    berth_grpc_call_t *call; /* answered with an empty RemoveImageResponse */
    berth_handle_t pull;     /* or told the committed id */
    char *id;
    berth_err_t err;
    berth_pull_ctx_t *ctx;
    struct write_op *next;
} write_op_t;

typedef struct pull_ent {
    char *key;        /* the image as asked: later requests for it join */
    berth_handle_t h; /* the pull actor holding the waiting requests */
    uint64_t tag;     /* of the io/pull answer */
} pull_ent_t;

/* An image used as a volume (docs/image-volumes.md). */
enum vol_state {
    VOL_IDLE,       /* not mounted: the next claim mounts it */
    VOL_MOUNTING,   /* a mount job runs; claims wait in `waiting` */
    VOL_MOUNTED,    /* at `path` */
    VOL_UNMOUNTING, /* the last claim went; a claim meanwhile waits, then remounts */
};

typedef struct vol {
    char *id;   /* the image ID */
    char *path; /* the mount point while mounted */
    int state;
    char **users; /* container IDs, one per claim (a container may claim twice) */
    size_t n_users;
    berth_image_vol_msg_t **waiting; /* acquires answered when the mount is done */
    size_t n_waiting;
} vol_t;

typedef struct images {
    berth_config_t *cfg;
    berth_pull_ctx_t *ctx;
    /* registries.conf and its drop-ins as loaded at start, immutable: what
     * each pull tries comes from it; NULL with reg_err when broken. */
    berth_registries_t *reg;
    berth_err_t reg_err;
    berth_handle_t self;
    bool loaded;
    berth_err_t load_err;
    berth_cri_req_msg_t **held; /* requests waiting for the load or for a GC */
    size_t n_held;
    berth_store_image_t **imgs;
    size_t n;
    pull_ent_t *pulls;
    size_t n_pulls;
    uint64_t pull_seq;
    write_op_t *wq_head, *wq_tail;
    bool writing;
    bool gc_running, gc_wanted;
    /* image volumes: <runroot>/image-volumes; the volumes; volume messages
     * waiting for the load or for the restart's sweep, in arrival order */
    char *vol_dir;
    vol_t **vols;
    size_t n_vols;
    bool vol_restoring;
    berth_msg_t **vol_held;
    size_t n_vol_held;
} images_t;

typedef struct loaded_msg {
    berth_msg_t hdr;
    berth_pull_ctx_t *ctx;
    berth_store_image_t **imgs;
    size_t n;
    berth_config_t *cfg;
    berth_registries_t *reg;
    berth_err_t reg_err;
    berth_err_t err;
} loaded_msg_t;

static void loaded_free(berth_msg_t *m)
{
    loaded_msg_t *l = (loaded_msg_t *)m;
    berth_store_images_free(l->imgs, l->n);
    berth_registries_unref(l->reg);
    berth_err_free(&l->reg_err);
    berth_config_unref(l->cfg);
    berth_err_free(&l->err);
    berth_pull_ctx_unref(l->ctx);
    berth_free(l);
}

static void load_job(void *arg)
{
    loaded_msg_t *l = arg;
    if (berth_pull_ctx_open(l->ctx, &l->err) < 0)
        return;
    if (berth_store_load(berth_pull_ctx_store(l->ctx), &l->imgs, &l->n, &l->err) < 0)
        return;
    /* A broken registries.conf must not stop the daemon: pulls report it,
     * and lookups match exact names only. */
    l->reg = berth_registries_load_config(l->cfg, &l->reg_err);
    BERTH_AUTO_FREE char *ov = berth_asprintf("%s/overlay-containers", l->cfg->root);
    berth_store_mkdir_p(ov, 0700, NULL);
}

/* ---- what a pull tries: short names, mirrors (registries.conf) ---- */

static char *nz(const char *s)
{
    return s && *s ? berth_strdup(s) : NULL;
}

/* The fully qualified candidates for the image, in the order to try, per
 * the registries.conf snapshot. */
static int pull_candidates(const images_t *s, const char *image, const berth_image_ref_t *ref,
                           char ***cands, size_t *nc, berth_err_t *err)
{
    if (s->reg == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_PRECONDITION,
                              "the registries configuration did not load at start (%s): fix it "
                              "and restart berthd",
                              s->reg_err ? s->reg_err->msg : "unknown error");
    if (!ref->short_name) {
        BERTH_AUTO_FREE char *canon = ref_canonical(ref);
        berth_store_strv_add(cands, nc, canon);
        return 0;
    }
    char **c = NULL;
    size_t n = 0;
    BERTH_AUTO_FREE char *note = NULL;
    if (berth_registries_resolve_short(s->reg, image, &c, &n, &note, err) < 0)
        return -1;
    berth_log_info("pull: short name", "image=\"%s\" note=\"%s\"", image, note ? note : "");
    canon_add(cands, nc, c, n);
    berth_registries_strv_free(c);
    if (*nc == 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "short name \"%s\" resolved to no valid reference", image);
    return 0;
}

/* What the pull tries: each candidate with its endpoints (mirrors first),
 * or with why it has none (a blocked registry). NULL with *err when there
 * is nothing to try. The request's limits and credentials go with it. */
static berth_pull_req_t *pull_plan(const images_t *s, const char *image,
                                   const Runtime__V1__AuthConfig *auth, berth_err_t *err)
{
    berth_image_ref_t ref;
    if (berth_image_ref_parse(image, &ref, err) < 0)
        return NULL;
    char **cands = NULL;
    size_t nc = 0;
    int r = pull_candidates(s, image, &ref, &cands, &nc, err);
    berth_image_ref_fini(&ref);
    berth_pull_req_t *req = r < 0 ? NULL : berth_pull_req_new(image);
    for (size_t i = 0; req && i < nc; i++) {
        berth_image_ref_t cref;
        berth_err_t e = NULL;
        berth_registry_endpoint_t *eps = NULL;
        size_t ne = 0;
        if (berth_image_ref_parse(cands[i], &cref, &e) < 0) {
            berth_pull_req_add(req, cands[i], &e);
            continue;
        }
        bool by_digest = cref.digest != NULL;
        berth_image_ref_fini(&cref);
        if (berth_registries_endpoints(s->reg, cands[i], by_digest, &eps, &ne, &e) < 0) {
            berth_pull_req_add(req, cands[i], &e);
            continue;
        }
        berth_pull_candidate_t *pc = berth_pull_req_add(req, cands[i], NULL);
        for (size_t k = 0; k < ne; k++)
            berth_pull_candidate_add_endpoint(pc, eps[k].domain, eps[k].repository,
                                              eps[k].insecure);
        berth_registries_endpoints_free(eps, ne);
    }
    berth_strv_free(cands);
    if (req == NULL)
        return NULL;
    req->limits = (berth_pull_limits_t){
            .max_config_bytes = (size_t)s->cfg->max_config_bytes,
            .max_layers = (uint64_t)s->cfg->max_image_layers,
            .max_image_bytes = (uint64_t)s->cfg->max_image_bytes,
            .max_layer_entries = (uint64_t)s->cfg->max_layer_entries,
    };
    if (auth) {
        req->username = nz(auth->username);
        req->password = nz(auth->password);
        req->auth = nz(auth->auth);
        req->identity_token = nz(auth->identity_token);
        req->registry_token = nz(auth->registry_token);
    }
    return req;
}

/* ---- the index ---- */

static ssize_t find_id(const images_t *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->imgs[i]->id, id) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* Puts img (taken) into the index, replacing the one with its id. */
static void index_put(images_t *s, berth_store_image_t *img)
{
    ssize_t i = find_id(s, img->id);
    if (i >= 0) {
        berth_store_image_free(s->imgs[i]);
        s->imgs[i] = img;
        return;
    }
    s->imgs = berth_realloc(s->imgs, (s->n + 1) * sizeof(*s->imgs));
    s->imgs[s->n++] = img;
}

static void index_del(images_t *s, const char *id)
{
    ssize_t i = find_id(s, id);
    if (i < 0)
        return;
    berth_store_image_free(s->imgs[i]);
    memmove(&s->imgs[i], &s->imgs[i + 1], (s->n - (size_t)i - 1) * sizeof(*s->imgs));
    s->n--;
}

/* The image `name` refers to, and the canonical name that matched (owned,
 * may be NULL when it matched as given). */
static berth_store_image_t *lookup(const images_t *s, const char *name, char **matched)
{
    if (matched)
        *matched = NULL;
    if (name == NULL || *name == '\0')
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        if (berth_store_image_matches(s->imgs[i], name)) {
            if (matched)
                *matched = berth_strdup(name);
            return s->imgs[i];
        }
    }
    berth_image_ref_t ref;
    if (berth_image_ref_parse(name, &ref, NULL) < 0)
        return NULL;
    char **cands = NULL;
    size_t nc = 0;
    if (ref.short_name) {
        if (s->reg)
            local_candidates(s->reg, name, &cands, &nc);
    } else {
        BERTH_AUTO_FREE char *canon = ref_canonical(&ref);
        berth_store_strv_add(&cands, &nc, canon);
    }
    berth_image_ref_fini(&ref);
    berth_store_image_t *found = NULL;
    for (size_t c = 0; c < nc && found == NULL; c++) {
        for (size_t i = 0; i < s->n && found == NULL; i++) {
            if (berth_store_image_matches(s->imgs[i], cands[c])) {
                found = s->imgs[i];
                if (matched)
                    *matched = berth_strdup(cands[c]);
            }
        }
    }
    for (size_t c = 0; c < nc; c++)
        berth_free(cands[c]);
    berth_free(cands);
    return found;
}

/* ---- image volumes ---- */

/* The layer directories of img, top layer first (owned, NULL-terminated):
 * pure path arithmetic, so callers never need the store. */
static char **layer_dirs(const images_t *s, const berth_store_image_t *img)
{
    char **v = berth_calloc(img->n_layers + 1, sizeof(char *));
    for (size_t i = 0; i < img->n_layers; i++)
        v[i] = berth_store_layer_dir(berth_pull_ctx_store(s->ctx),
                                     img->layers[img->n_layers - 1 - i]);
    return v;
}

/* The volume key of an image ID: its hex. */
static const char *vol_key(const char *id)
{
    return strncmp(id, "sha256:", 7) == 0 ? id + 7 : id;
}

static vol_t *vol_find(const images_t *s, const char *id)
{
    for (size_t i = 0; i < s->n_vols; i++) {
        if (strcmp(s->vols[i]->id, id) == 0)
            return s->vols[i];
    }
    return NULL;
}

static vol_t *vol_get(images_t *s, const char *id)
{
    vol_t *v = vol_find(s, id);
    if (v)
        return v;
    v = berth_calloc(1, sizeof(*v));
    v->id = berth_strdup(id);
    s->vols = berth_realloc(s->vols, (s->n_vols + 1) * sizeof(*s->vols));
    s->vols[s->n_vols++] = v;
    return v;
}

static void vol_add_user(vol_t *v, const char *ctr_id)
{
    v->users = berth_realloc(v->users, (v->n_users + 1) * sizeof(*v->users));
    v->users[v->n_users++] = berth_strdup(ctr_id);
}

/* Drops claims of ctr_id: one, or all of them. */
static void vol_del_user(vol_t *v, const char *ctr_id, bool all)
{
    size_t keep = 0;
    bool dropped = false;
    for (size_t i = 0; i < v->n_users; i++) {
        if ((all || !dropped) && strcmp(v->users[i], ctr_id) == 0) {
            berth_free(v->users[i]);
            dropped = true;
        } else {
            v->users[keep++] = v->users[i];
        }
    }
    v->n_users = keep;
}

static void vol_forget(images_t *s, vol_t *v)
{
    for (size_t i = 0; i < s->n_vols; i++) {
        if (s->vols[i] != v)
            continue;
        s->vols[i] = s->vols[--s->n_vols];
        break;
    }
    for (size_t i = 0; i < v->n_users; i++)
        berth_free(v->users[i]);
    for (size_t i = 0; i < v->n_waiting; i++)
        berth_msg_free(&v->waiting[i]->hdr);
    berth_free(v->users);
    berth_free(v->waiting);
    berth_free(v->path);
    berth_free(v->id);
    berth_free(v);
}

/* "a, b, c" of the distinct containers claiming v (owned). */
static char *vol_users_text(const vol_t *v)
{
    char *out = berth_strdup("");
    for (size_t i = 0; i < v->n_users; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(v->users[j], v->users[i]) == 0;
        if (seen)
            continue;
        char *t = berth_asprintf("%s%s%s", out, out[0] ? ", " : "", v->users[i]);
        berth_free(out);
        out = t;
    }
    return out;
}

/* Answers an acquire (taken): the path, or err (taken). */
static void vol_reply(berth_image_vol_msg_t *m, const char *path, berth_err_t err)
{
    m->hdr.type = BERTH_MSG_IMAGES_VOL_ACQUIRED;
    if (err)
        m->error = err;
    else
        m->path = berth_strdup(path);
    berth_send(m->reply_to, &m->hdr);
}

typedef struct vol_job {
    berth_msg_t hdr; /* BERTH_MSG_IMAGES_VOL_DONE */
    char *dir, *id;
    char **lowers; /* mount: top first, NULL-terminated */
    bool unmount;
    char *path; /* mount: the mount point */
    berth_err_t err;
} vol_job_t;

static void vol_job_free(berth_msg_t *m)
{
    vol_job_t *j = (vol_job_t *)m;
    berth_free(j->dir);
    berth_free(j->id);
    berth_strv_free(j->lowers);
    berth_free(j->path);
    berth_err_free(&j->err);
    berth_free(j);
}

static void vol_job(void *arg)
{
    vol_job_t *j = arg;
    if (j->unmount) {
        berth_imagevol_unmount(j->dir, vol_key(j->id), &j->err);
        return;
    }
    size_t n = 0;
    while (j->lowers[n])
        n++;
    berth_imagevol_mount(j->dir, vol_key(j->id), (const char *const *)j->lowers, n, &j->path,
                         &j->err);
}

/* Starts mounting (v's image must be in the index) or unmounting v. */
static void vol_start(images_t *s, vol_t *v, bool unmount)
{
    vol_job_t *j = berth_msg_new(BERTH_MSG_IMAGES_VOL_DONE, sizeof(*j));
    j->hdr.free = vol_job_free;
    j->dir = berth_strdup(s->vol_dir);
    j->id = berth_strdup(v->id);
    j->unmount = unmount;
    if (!unmount) {
        ssize_t i = find_id(s, v->id);
        j->lowers = i >= 0 ? layer_dirs(s, s->imgs[i]) : berth_calloc(1, sizeof(char *));
    }
    v->state = unmount ? VOL_UNMOUNTING : VOL_MOUNTING;
    berth_log_info(unmount ? "unmounting an image volume" : "mounting an image volume", "image=%s",
                   v->id);
    berth_blocking_run(vol_job, j, s->self, &j->hdr);
}

/* Nobody claims v any more: unmount it, or forget it when it is not mounted. */
static void vol_maybe_unmount(images_t *s, vol_t *v)
{
    if (v->n_users > 0)
        return;
    if (v->state == VOL_MOUNTED)
        vol_start(s, v, true);
    else if (v->state == VOL_IDLE && v->n_waiting == 0)
        vol_forget(s, v);
}

static void vol_on_done(images_t *s, vol_job_t *j)
{
    vol_t *v = vol_find(s, j->id);
    if (v == NULL)
        return;
    berth_image_vol_msg_t **w = v->waiting;
    size_t nw = v->n_waiting;
    v->waiting = NULL;
    v->n_waiting = 0;
    if (j->unmount) {
        if (j->err) {
            /* Still mounted: kept for the next claim, swept at a restart. */
            berth_log_warn("cannot unmount an image volume", "image=%s error=\"%s\"", v->id,
                           j->err->msg);
            v->state = VOL_MOUNTED;
            for (size_t i = 0; i < nw; i++)
                vol_reply(w[i], v->path, NULL);
        } else {
            berth_free(v->path);
            v->path = NULL;
            v->state = VOL_IDLE;
            /* Claims that came while it went down mount it again. */
            v->waiting = w;
            v->n_waiting = nw;
            w = NULL;
            if (v->n_users > 0 && find_id(s, v->id) >= 0) {
                vol_start(s, v, false);
            } else {
                for (size_t i = 0; i < v->n_waiting; i++) {
                    berth_err_t err = NULL;
                    berth_err_make(&err, ENOENT, BERTH_ERR_NOT_FOUND,
                                   "image %s was removed: pull it again", v->id);
                    vol_reply(v->waiting[i], NULL, err);
                }
                v->n_waiting = 0;
                vol_forget(s, v);
            }
        }
        berth_free(w);
        return;
    }
    if (j->err) {
        berth_log_warn("cannot mount an image volume", "image=%s error=\"%s\"", v->id, j->err->msg);
        v->state = VOL_IDLE;
        for (size_t i = 0; i < nw; i++) {
            vol_del_user(v, w[i]->ctr_id, false);
            berth_err_t err = NULL;
            berth_err_make(&err, j->err->errnum, j->err->kind, "%s", j->err->msg);
            vol_reply(w[i], NULL, err);
        }
        berth_free(w);
        vol_maybe_unmount(s, v);
        return;
    }
    v->state = VOL_MOUNTED;
    berth_free(v->path);
    v->path = berth_steal_ptr(&j->path);
    for (size_t i = 0; i < nw; i++)
        vol_reply(w[i], v->path, NULL);
    berth_free(w);
    vol_maybe_unmount(s, v); /* every claim was released while it mounted */
}

static void vol_on_acquire(images_t *s, berth_image_vol_msg_t *m)
{
    if (s->load_err) {
        berth_err_t err = NULL;
        berth_err_make(&err, EIO, BERTH_ERR_UNAVAILABLE, "%s", s->load_err->msg);
        return vol_reply(m, NULL, err);
    }
    berth_store_image_t *img = lookup(s, m->ref, NULL);
    if (img == NULL) {
        berth_err_t err = NULL;
        berth_err_make(&err, ENOENT, BERTH_ERR_NOT_FOUND,
                       "image %s of the image volume not found: pull it first", m->ref);
        return vol_reply(m, NULL, err);
    }
    m->image_id = berth_strdup(img->id);
    vol_t *v = vol_get(s, img->id);
    vol_add_user(v, m->ctr_id);
    if (v->state == VOL_MOUNTED)
        return vol_reply(m, v->path, NULL);
    v->waiting = berth_realloc(v->waiting, (v->n_waiting + 1) * sizeof(*v->waiting));
    v->waiting[v->n_waiting++] = m;
    if (v->state == VOL_IDLE)
        vol_start(s, v, false);
}

static void vol_on_release(images_t *s, const berth_image_vol_msg_t *m)
{
    /* backwards: vol_maybe_unmount may forget the volume at i */
    for (size_t i = s->n_vols; i-- > 0;) {
        vol_t *v = s->vols[i];
        size_t before = v->n_users;
        vol_del_user(v, m->ctr_id, true);
        if (v->n_users != before)
            vol_maybe_unmount(s, v);
    }
}

typedef struct vol_restore_job {
    berth_msg_t hdr; /* BERTH_MSG_IMAGES_VOL_RESTORED */
    char *dir;
    char **ids; /* the claimed volumes (their images are in the index) */
    char ***lowers;
    char **paths; /* out: the mount point, NULL when it failed */
    berth_err_t *errs;
    size_t n;
    unsigned swept;
} vol_restore_job_t;

static void vol_restore_job_free(berth_msg_t *m)
{
    vol_restore_job_t *j = (vol_restore_job_t *)m;
    for (size_t i = 0; i < j->n; i++) {
        berth_free(j->ids[i]);
        berth_strv_free(j->lowers[i]);
        berth_free(j->paths[i]);
        berth_err_free(&j->errs[i]);
    }
    berth_free(j->ids);
    berth_free(j->lowers);
    berth_free(j->paths);
    berth_free(j->errs);
    berth_free(j->dir);
    berth_free(j);
}

/* Removes the volumes nobody claims (a crash between a mount and the
 * container's record, or the last removal before a crash), then makes sure
 * the claimed ones are mounted (after a reboot nothing is). */
static void vol_restore_job(void *arg)
{
    vol_restore_job_t *j = arg;
    const char **keys = berth_calloc(j->n + 1, sizeof(char *));
    for (size_t i = 0; i < j->n; i++)
        keys[i] = vol_key(j->ids[i]);
    berth_imagevol_sweep(j->dir, keys, j->n, &j->swept);
    berth_free(keys);
    for (size_t i = 0; i < j->n; i++) {
        size_t n = 0;
        while (j->lowers[i][n])
            n++;
        berth_imagevol_mount(j->dir, vol_key(j->ids[i]), (const char *const *)j->lowers[i], n,
                             &j->paths[i], &j->errs[i]);
    }
}

static void vol_on_restore(images_t *s, const berth_image_vol_restore_msg_t *r)
{
    if (s->load_err) {
        berth_log_warn("image volumes not restored", "error=\"%s\"", s->load_err->msg);
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (find_id(s, r->image_ids[i]) < 0) {
            berth_log_warn("image volume of a restored container: image gone",
                           "container=%s image=%s", r->ctr_ids[i], r->image_ids[i]);
            continue;
        }
        vol_add_user(vol_get(s, r->image_ids[i]), r->ctr_ids[i]);
    }
    vol_restore_job_t *j = berth_msg_new(BERTH_MSG_IMAGES_VOL_RESTORED, sizeof(*j));
    j->hdr.free = vol_restore_job_free;
    j->dir = berth_strdup(s->vol_dir);
    j->ids = berth_calloc(s->n_vols + 1, sizeof(char *));
    j->lowers = berth_calloc(s->n_vols + 1, sizeof(char **));
    j->paths = berth_calloc(s->n_vols + 1, sizeof(char *));
    j->errs = berth_calloc(s->n_vols + 1, sizeof(berth_err_t));
    for (size_t i = 0; i < s->n_vols; i++) {
        vol_t *v = s->vols[i];
        ssize_t k = find_id(s, v->id);
        if (v->state != VOL_IDLE || k < 0)
            continue;
        v->state = VOL_MOUNTING;
        j->ids[j->n] = berth_strdup(v->id);
        j->lowers[j->n] = layer_dirs(s, s->imgs[k]);
        j->n++;
    }
    s->vol_restoring = true;
    berth_blocking_run(vol_restore_job, j, s->self, &j->hdr);
}

static void vol_replay(images_t *s);

static void vol_on_restored(images_t *s, vol_restore_job_t *j)
{
    s->vol_restoring = false;
    for (size_t i = 0; i < j->n; i++) {
        vol_t *v = vol_find(s, j->ids[i]);
        if (v == NULL)
            continue;
        if (j->paths[i]) {
            v->state = VOL_MOUNTED;
            v->path = berth_steal_ptr(&j->paths[i]);
        } else {
            berth_log_warn("cannot mount a restored image volume", "image=%s error=\"%s\"", v->id,
                           j->errs[i] ? j->errs[i]->msg : "?");
            v->state = VOL_IDLE;
        }
    }
    berth_log_info("image volumes restored", "volumes=%zu orphans_removed=%u", s->n_vols, j->swept);
    vol_replay(s);
}

/* Takes m (a volume message) unless it is held; false when the caller frees it. */
static bool vol_dispatch(images_t *s, berth_msg_t *m)
{
    if (!s->loaded || s->vol_restoring) {
        s->vol_held = berth_realloc(s->vol_held, (s->n_vol_held + 1) * sizeof(*s->vol_held));
        s->vol_held[s->n_vol_held++] = m;
        return true;
    }
    switch (m->type) {
    case BERTH_MSG_IMAGES_VOL_ACQUIRE:
        vol_on_acquire(s, (berth_image_vol_msg_t *)m);
        return true;
    case BERTH_MSG_IMAGES_VOL_RELEASE:
        vol_on_release(s, (berth_image_vol_msg_t *)m);
        return false;
    case BERTH_MSG_IMAGES_VOL_RESTORE:
        vol_on_restore(s, (berth_image_vol_restore_msg_t *)m);
        return false;
    default:
        return false;
    }
}

static void vol_replay(images_t *s)
{
    berth_msg_t **v = s->vol_held;
    size_t n = s->n_vol_held;
    s->vol_held = NULL;
    s->n_vol_held = 0;
    for (size_t i = 0; i < n; i++) {
        if (!vol_dispatch(s, v[i]))
            berth_msg_free(v[i]);
    }
    berth_free(v);
}

/* ---- record writes, one at a time ---- */

typedef struct written_msg {
    berth_msg_t hdr;
    write_op_t *op;
} written_msg_t;

static void write_op_free(write_op_t *op)
{
    for (size_t i = 0; i < op->n_put; i++) {
        berth_store_image_free(op->put[i]);
        berth_store_image_free(op->put_old[i]);
    }
    berth_free(op->put);
    berth_free(op->put_old);
    for (size_t i = 0; i < op->n_del; i++)
        berth_store_image_free(op->del[i]);
    berth_free(op->del);
    if (op->call)
        berth_grpc_call_unref(op->call);
    berth_free(op->id);
    berth_err_free(&op->err);
    berth_pull_ctx_unref(op->ctx);
    berth_free(op);
}

static void written_free(berth_msg_t *m)
{
    write_op_free(((written_msg_t *)m)->op);
    berth_free(m);
}

static void write_job(void *arg)
{
    write_op_t *op = arg;
    for (size_t i = 0; i < op->n_del && op->err == NULL; i++)
        berth_store_image_delete(berth_pull_ctx_store(op->ctx), op->del[i]->id, &op->err);
    for (size_t i = 0; i < op->n_put && op->err == NULL; i++)
        berth_store_image_write(berth_pull_ctx_store(op->ctx), op->put[i], &op->err);
}

static void write_next(images_t *s)
{
    if (s->writing || s->wq_head == NULL)
        return;
    write_op_t *op = s->wq_head;
    s->wq_head = op->next;
    if (s->wq_head == NULL)
        s->wq_tail = NULL;
    s->writing = true;
    written_msg_t *w = berth_msg_new(BERTH_MSG_IMAGES_WRITTEN, sizeof(*w));
    w->hdr.free = written_free;
    w->op = op;
    berth_blocking_run(write_job, op, s->self, &w->hdr);
}

static write_op_t *op_new(images_t *s)
{
    write_op_t *op = berth_calloc(1, sizeof(*op));
    op->ctx = berth_pull_ctx_ref(s->ctx);
    return op;
}

/* Records the change in the index now (so later requests see it) and
 * queues the write. */
static void op_put(images_t *s, write_op_t *op, berth_store_image_t *img)
{
    op->put = berth_realloc(op->put, (op->n_put + 1) * sizeof(*op->put));
    op->put_old = berth_realloc(op->put_old, (op->n_put + 1) * sizeof(*op->put_old));
    ssize_t i = find_id(s, img->id);
    op->put_old[op->n_put] = i >= 0 ? berth_store_image_dup(s->imgs[i]) : NULL;
    op->put[op->n_put++] = berth_store_image_dup(img);
    index_put(s, img);
}

static void op_del(images_t *s, write_op_t *op, const char *id)
{
    ssize_t i = find_id(s, id);
    if (i < 0)
        return;
    op->del = berth_realloc(op->del, (op->n_del + 1) * sizeof(*op->del));
    op->del[op->n_del++] = berth_store_image_dup(s->imgs[i]);
    index_del(s, id);
}

static void op_queue(images_t *s, write_op_t *op)
{
    if (s->wq_tail)
        s->wq_tail->next = op;
    else
        s->wq_head = op;
    s->wq_tail = op;
    write_next(s);
}

static void gc_maybe(images_t *s);
static void held_replay(images_t *s);

static void on_written(images_t *s, write_op_t *op)
{
    s->writing = false;
    if (op->err) {
        /* Undo in memory what did not reach the disk. */
        berth_log_error("image record write failed", "error=\"%s\"", op->err->msg);
        for (size_t i = 0; i < op->n_put; i++) {
            if (op->put_old[i])
                index_put(s, berth_steal_ptr(&op->put_old[i]));
            else
                index_del(s, op->put[i]->id);
        }
        for (size_t i = 0; i < op->n_del; i++)
            index_put(s, berth_steal_ptr(&op->del[i]));
    }
    if (op->call) {
        if (op->err) {
            berth_cri_finish_err(op->call, op->err);
        } else {
            Runtime__V1__RemoveImageResponse resp = RUNTIME__V1__REMOVE_IMAGE_RESPONSE__INIT;
            berth_cri_reply(op->call, &resp.base);
        }
    }
    if (berth_handle_valid(op->pull))
        send_final(op->pull, op->err ? NULL : op->id, op->err ? berth_err_steal(&op->err) : NULL);
    if (op->n_del > 0 && op->err == NULL)
        s->gc_wanted = true;
    write_next(s);
    gc_maybe(s); /* a collection waits for the writes and pulls before it */
}

/* ---- garbage collection ---- */

typedef struct gc_msg {
    berth_msg_t hdr;
    berth_pull_ctx_t *ctx;
    berth_store_gc_stats_t st;
    berth_err_t err;
} gc_msg_t;

static void gc_msg_free(berth_msg_t *m)
{
    gc_msg_t *g = (gc_msg_t *)m;
    berth_pull_ctx_unref(g->ctx);
    berth_err_free(&g->err);
    berth_free(g);
}

static void gc_job(void *arg)
{
    gc_msg_t *g = arg;
    berth_store_gc(berth_pull_ctx_store(g->ctx), &g->st, &g->err);
}

/* GC only when no pull may be unpacking and no record write is pending
 * (the collection trusts the records on disk). */
static void gc_maybe(images_t *s)
{
    if (!s->gc_wanted || s->gc_running || s->n_pulls > 0 || s->writing || s->wq_head)
        return;
    s->gc_wanted = false;
    s->gc_running = true;
    gc_msg_t *g = berth_msg_new(BERTH_MSG_IMAGES_GC_DONE, sizeof(*g));
    g->hdr.free = gc_msg_free;
    g->ctx = berth_pull_ctx_ref(s->ctx);
    berth_blocking_run(gc_job, g, s->self, &g->hdr);
}

/* ---- conversions ---- */

typedef struct pb_image {
    Runtime__V1__Image img;
    Runtime__V1__Int64Value uid;
    Runtime__V1__ImageSpec spec;
} pb_image_t;

static void to_pb(const berth_store_image_t *r, pb_image_t *out)
{
    runtime__v1__image__init(&out->img);
    runtime__v1__int64_value__init(&out->uid);
    runtime__v1__image_spec__init(&out->spec);
    out->img.id = r->id;
    out->img.n_repo_tags = r->n_tags;
    out->img.repo_tags = r->tags;
    out->img.n_repo_digests = r->n_digests;
    out->img.repo_digests = r->digests;
    out->img.size = r->size ? r->size : 1;
    out->img.pinned = r->pinned;
    out->spec.image = r->id;
    out->img.spec = &out->spec;
    /* "1002", "1003:1004" -> uid; "www-data", "www-data:1004" -> username. */
    const char *u = r->user ? r->user : "";
    size_t ul = strcspn(u, ":");
    if (ul > 0) {
        char *end;
        long long v = strtoll(u, &end, 10);
        if (end == u + ul) {
            out->uid.value = v;
            out->img.uid = &out->uid;
        } else {
            /* The image owns a NUL-free copy for the reply's lifetime. */
            out->img.username = berth_strndup(u, ul);
        }
    }
}

static void pb_fini(pb_image_t *p)
{
    if (p->img.username && p->img.username != protobuf_c_empty_string)
        berth_free(p->img.username);
}

static const char *spec_image(const Runtime__V1__ImageSpec *spec)
{
    return spec && spec->image ? spec->image : "";
}

/* ---- methods ---- */

static void on_list(images_t *s, berth_cri_req_msg_t *rm, bool stream)
{
    const Runtime__V1__ImageFilter *f =
            stream ? ((const Runtime__V1__StreamImagesRequest *)rm->req)->filter
                   : ((const Runtime__V1__ListImagesRequest *)rm->req)->filter;
    const char *want = f ? spec_image(f->image) : "";
    berth_store_image_t *only = NULL;
    if (*want) {
        only = lookup(s, want, NULL);
        if (only == NULL && !stream) {
            Runtime__V1__ListImagesResponse resp = RUNTIME__V1__LIST_IMAGES_RESPONSE__INIT;
            berth_cri_reply(rm->call, &resp.base);
            return;
        }
    }
    size_t n = only ? 1 : (*want ? 0 : s->n);
    pb_image_t *pbs = berth_calloc(n + 1, sizeof(*pbs));
    Runtime__V1__Image **ptrs = berth_calloc(n + 1, sizeof(*ptrs));
    for (size_t i = 0; i < n; i++) {
        to_pb(only ? only : s->imgs[i], &pbs[i]);
        ptrs[i] = &pbs[i].img;
    }
    Runtime__V1__ListImagesResponse list = RUNTIME__V1__LIST_IMAGES_RESPONSE__INIT;
    Runtime__V1__StreamImagesResponse one = RUNTIME__V1__STREAM_IMAGES_RESPONSE__INIT;
    berth_cri_reply_items(rm->call, stream, &list.base, &one.base, (void **)ptrs, n);
    for (size_t i = 0; i < n; i++)
        pb_fini(&pbs[i]);
    berth_free(pbs);
    berth_free(ptrs);
}

static void json_free_out(char *p)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    f(p);
}

static void on_status(images_t *s, berth_cri_req_msg_t *rm)
{
    const Runtime__V1__ImageStatusRequest *req = (const Runtime__V1__ImageStatusRequest *)rm->req;
    Runtime__V1__ImageStatusResponse resp = RUNTIME__V1__IMAGE_STATUS_RESPONSE__INIT;
    berth_store_image_t *img = lookup(s, spec_image(req->image), NULL);
    if (img == NULL) {
        /* CRI: a missing image is an empty answer, not an error. */
        berth_cri_reply(rm->call, &resp.base);
        return;
    }
    pb_image_t pb;
    to_pb(img, &pb);
    resp.image = &pb.img;
    Runtime__V1__ImageStatusResponse__InfoEntry e =
            RUNTIME__V1__IMAGE_STATUS_RESPONSE__INFO_ENTRY__INIT;
    Runtime__V1__ImageStatusResponse__InfoEntry *ep[] = {&e};
    char *info = NULL;
    if (req->verbose) {
        json_t *cfg = json_loads(img->config, 0, NULL);
        json_t *layers = json_array();
        for (size_t i = 0; i < img->n_layers; i++)
            json_array_append_new(layers, json_string(img->layers[i]));
        json_t *o = json_pack("{s:s, s:o, s:o, s:I, s:s, s:I}", "id", img->id, "imageSpec",
                              cfg ? cfg : json_object(), "layers", layers, "size",
                              (json_int_t)img->size, "user", img->user ? img->user : "", "pulledAt",
                              (json_int_t)img->pulled_at);
        info = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (info) {
            e.key = (char *)"info";
            e.value = info;
            resp.n_info = 1;
            resp.info = ep;
        }
    }
    berth_cri_reply(rm->call, &resp.base);
    if (info)
        json_free_out(info);
    pb_fini(&pb);
}

static void on_remove(images_t *s, berth_cri_req_msg_t *rm)
{
    const Runtime__V1__RemoveImageRequest *req = (const Runtime__V1__RemoveImageRequest *)rm->req;
    const char *name = spec_image(req->image);
    BERTH_AUTO_FREE char *matched = NULL;
    berth_store_image_t *img = lookup(s, name, &matched);
    if (img == NULL) {
        /* CRI: removing an image that is not there succeeds. */
        Runtime__V1__RemoveImageResponse resp = RUNTIME__V1__REMOVE_IMAGE_RESPONSE__INIT;
        berth_cri_reply(rm->call, &resp.base);
        return;
    }
    berth_store_image_t *copy = berth_store_image_dup(img);
    /* By tag: untag, and remove the image with its last tag. By ID or by
     * digest: remove the image. */
    bool untag = matched && berth_store_strv_del(&copy->tags, &copy->n_tags, matched) &&
                 copy->n_tags > 0;
    /* A mounted image volume reads the image's layers: the image stays
     * until its last container is removed (untagging is fine). */
    vol_t *v = untag ? NULL : vol_find(s, img->id);
    if (v && v->n_users > 0) {
        BERTH_AUTO_FREE char *users = vol_users_text(v);
        BERTH_AUTO_FREE char *msg = berth_asprintf(
                "RemoveImage %s: image %s is in use as an image volume by container(s) %s: "
                "remove them first",
                name, img->id, users);
        berth_store_image_free(copy);
        berth_cri_finish(rm->call, BERTH_ERR_PRECONDITION, msg);
        return;
    }
    /* A volume nobody claims is still mounted only when its unmount failed:
     * it must not outlive its layers (a pull of the same ID again would get
     * the stale mount), so it is tried once more. */
    if (v && v->state == VOL_MOUNTED)
        vol_start(s, v, true);
    write_op_t *op = op_new(s);
    if (untag) {
        berth_log_info("image untagged", "id=%s tag=%s", copy->id, matched);
        op_put(s, op, copy);
    } else {
        berth_log_info("image removed", "id=%s name=\"%s\"", copy->id, name);
        op_del(s, op, copy->id);
        berth_store_image_free(copy);
    }
    op->call = berth_steal_ptr(&rm->call);
    op_queue(s, op);
}

static void on_pull_done(images_t *s, berth_pull_done_msg_t *r)
{
    berth_handle_t h = BERTH_HANDLE_NONE;
    for (size_t i = 0; i < s->n_pulls; i++) {
        if (s->pulls[i].tag != r->tag)
            continue;
        h = s->pulls[i].h;
        berth_free(s->pulls[i].key);
        s->pulls[i] = s->pulls[--s->n_pulls];
        break;
    }
    if (r->error) {
        send_final(h, NULL, berth_err_steal(&r->error));
        /* What the failed pull unpacked is referenced by no record: collect
         * it now, or as soon as no other pull (which may share a layer not
         * yet recorded) is running. */
        s->gc_wanted = true;
        gc_maybe(s);
        return;
    }
    berth_store_image_t *rec = berth_steal_ptr(&r->image);
    write_op_t *op = op_new(s);
    /* A tag names one image: move it off whichever image had it. */
    for (size_t i = 0; i < s->n; i++) {
        berth_store_image_t *o = s->imgs[i];
        if (strcmp(o->id, rec->id) == 0)
            continue;
        bool hit = false;
        for (size_t t = 0; t < rec->n_tags; t++)
            hit |= berth_store_image_matches(o, rec->tags[t]) && strcmp(o->id, rec->tags[t]) != 0;
        if (!hit)
            continue;
        berth_store_image_t *c = berth_store_image_dup(o);
        for (size_t t = 0; t < rec->n_tags; t++)
            berth_store_strv_del(&c->tags, &c->n_tags, rec->tags[t]);
        op_put(s, op, c); /* replaces the index slot in place */
    }
    ssize_t ex = find_id(s, rec->id);
    if (ex >= 0) {
        berth_store_image_t *m = berth_store_image_dup(s->imgs[ex]);
        if (!m->diff_ids && rec->diff_ids) {
            /* a record from before layers were checked against diff IDs:
             * its layers become the verified ones just pulled */
            berth_strv_free(m->layers);
            m->layers = berth_steal_ptr(&rec->layers);
            m->n_layers = rec->n_layers;
            rec->n_layers = 0;
            m->diff_ids = true;
        }
        for (size_t t = 0; t < rec->n_tags; t++)
            berth_store_strv_add(&m->tags, &m->n_tags, rec->tags[t]);
        for (size_t t = 0; t < rec->n_digests; t++)
            berth_store_strv_add(&m->digests, &m->n_digests, rec->digests[t]);
        m->pulled_at = rec->pulled_at;
        berth_store_image_free(rec);
        rec = m;
    }
    op->id = berth_strdup(rec->id);
    op->pull = h;
    op_put(s, op, rec);
    op_queue(s, op);
}

typedef struct fsinfo_msg {
    berth_msg_t hdr;
    berth_pull_ctx_t *ctx;
    berth_grpc_call_t *call;
    char *img_dir, *ctr_dir;
    uint64_t ib, ii, cb, ci;
    berth_err_t err;
} fsinfo_msg_t;

static void fsinfo_free(berth_msg_t *m)
{
    fsinfo_msg_t *f = (fsinfo_msg_t *)m;
    berth_pull_ctx_unref(f->ctx);
    if (f->call)
        berth_grpc_call_unref(f->call);
    berth_free(f->img_dir);
    berth_free(f->ctr_dir);
    berth_err_free(&f->err);
    berth_free(f);
}

static void fsinfo_job(void *arg)
{
    fsinfo_msg_t *f = arg;
    if (berth_store_usage(f->img_dir, &f->ib, &f->ii, &f->err) < 0)
        return;
    BERTH_AUTO_ERR berth_err_t e = NULL;
    berth_store_usage(f->ctr_dir, &f->cb, &f->ci, &e); /* may not exist yet: zeros */
}

static void on_fsinfo_done(fsinfo_msg_t *f)
{
    if (f->err) {
        berth_cri_finish_err(f->call, f->err);
        return;
    }
    int64_t now = (int64_t)berth_wall_ns();
    Runtime__V1__FilesystemIdentifier id[2];
    Runtime__V1__UInt64Value b[2], in[2];
    Runtime__V1__FilesystemUsage u[2];
    Runtime__V1__FilesystemUsage *up[2];
    const char *dirs[2] = {f->img_dir, f->ctr_dir};
    uint64_t bytes[2] = {f->ib, f->cb}, inodes[2] = {f->ii, f->ci};
    for (int i = 0; i < 2; i++) {
        runtime__v1__filesystem_identifier__init(&id[i]);
        runtime__v1__uint64_value__init(&b[i]);
        runtime__v1__uint64_value__init(&in[i]);
        runtime__v1__filesystem_usage__init(&u[i]);
        id[i].mountpoint = (char *)dirs[i];
        b[i].value = bytes[i];
        in[i].value = inodes[i];
        u[i].timestamp = now;
        u[i].fs_id = &id[i];
        u[i].used_bytes = &b[i];
        u[i].inodes_used = &in[i];
        up[i] = &u[i];
    }
    Runtime__V1__ImageFsInfoResponse resp = RUNTIME__V1__IMAGE_FS_INFO_RESPONSE__INIT;
    resp.n_image_filesystems = 1;
    resp.image_filesystems = &up[0];
    resp.n_container_filesystems = 1;
    resp.container_filesystems = &up[1];
    berth_cri_reply(f->call, &resp.base);
}

static void on_fsinfo(images_t *s, berth_cri_req_msg_t *rm)
{
    fsinfo_msg_t *f = berth_msg_new(BERTH_MSG_IMAGES_FSINFO, sizeof(*f));
    f->hdr.free = fsinfo_free;
    f->ctx = berth_pull_ctx_ref(s->ctx);
    f->call = berth_steal_ptr(&rm->call);
    f->img_dir = berth_strdup(berth_store_dir(berth_pull_ctx_store(s->ctx)));
    f->ctr_dir = berth_asprintf("%s/overlay-containers", s->cfg->root);
    berth_blocking_run(fsinfo_job, f, s->self, &f->hdr);
}

static void hold(images_t *s, berth_cri_req_msg_t *rm)
{
    s->held = berth_realloc(s->held, (s->n_held + 1) * sizeof(*s->held));
    s->held[s->n_held++] = rm;
}

/* Returns true when the message was taken. */
static bool on_pull(images_t *s, berth_cri_req_msg_t *rm)
{
    const Runtime__V1__PullImageRequest *req = (const Runtime__V1__PullImageRequest *)rm->req;
    const char *image = spec_image(req->image);
    if (*image == '\0') {
        berth_cri_finish(rm->call, BERTH_ERR_INVALID,
                         "PullImage: image.image is empty: name the image to pull");
        return false;
    }
    if (s->gc_running) {
        hold(s, rm);
        return true;
    }
    berth_handle_t h = BERTH_HANDLE_NONE;
    for (size_t i = 0; i < s->n_pulls; i++) {
        if (strcmp(s->pulls[i].key, image) == 0)
            h = s->pulls[i].h;
    }
    if (!berth_handle_valid(h) && s->n_pulls >= (size_t)s->cfg->max_concurrent_pulls) {
        BERTH_AUTO_FREE char *msg =
                berth_asprintf("PullImage %s: %zu other images are being pulled, the most at once "
                               "([crio.image] max_concurrent_pulls); try again when one is done",
                               image, s->n_pulls);
        berth_cri_finish(rm->call, BERTH_ERR_EXHAUSTED, msg);
        return false;
    }
    if (!berth_handle_valid(h)) {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        berth_pull_req_t *pr = pull_plan(s, image, req->auth, &err);
        if (pr == NULL) {
            berth_err_prefix(&err, "pulling image \"%s\"", image);
            berth_cri_finish_err(rm->call, err);
            return false;
        }
        h = berth_actor_spawn_labeled(&pull_class, berth_calloc(1, sizeof(pull_t)), image);
        s->pulls = berth_realloc(s->pulls, (s->n_pulls + 1) * sizeof(*s->pulls));
        s->pulls[s->n_pulls] =
                (pull_ent_t){.key = berth_strdup(image), .h = h, .tag = ++s->pull_seq};
        berth_pull_start(s->ctx, pr, s->self, s->pulls[s->n_pulls++].tag);
    } else {
        berth_log_info("pull: joined an in-flight pull", "image=\"%s\"", image);
    }
    berth_grpc_call_set_owner(rm->call, h);
    /* The pull actor leaves only after our FINAL, which we send after this. */
    berth_send(h, &rm->hdr);
    return true;
}

/* Returns true when the message was taken. */
static bool on_request(images_t *s, berth_cri_req_msg_t *rm)
{
    if (!s->loaded) {
        hold(s, rm);
        return true;
    }
    if (s->load_err) {
        berth_cri_finish_err(rm->call, s->load_err);
        return false;
    }
    const char *m = rm->method->name;
    if (strcmp(m, "PullImage") == 0)
        return on_pull(s, rm);
    if (strcmp(m, "ListImages") == 0)
        on_list(s, rm, false);
    else if (strcmp(m, "StreamImages") == 0)
        on_list(s, rm, true);
    else if (strcmp(m, "ImageStatus") == 0)
        on_status(s, rm);
    else if (strcmp(m, "RemoveImage") == 0)
        on_remove(s, rm);
    else if (strcmp(m, "ImageFsInfo") == 0)
        on_fsinfo(s, rm);
    else {
        BERTH_AUTO_FREE char *msg = berth_asprintf("%s is not implemented by berth's image "
                                                   "service",
                                                   m);
        berth_cri_finish(rm->call, BERTH_ERR_UNSUPPORTED, msg);
    }
    return false;
}

static void held_replay(images_t *s)
{
    berth_cri_req_msg_t **v = s->held;
    size_t n = s->n_held;
    s->held = NULL;
    s->n_held = 0;
    for (size_t i = 0; i < n; i++) {
        if (!on_request(s, v[i]))
            berth_msg_free(&v[i]->hdr);
    }
    berth_free(v);
}

/* Answers a lookup from the index; the layer directories are computed here
 * (pure path arithmetic) so the container never needs the store. */
static void on_lookup(berth_actor_t *self, images_t *s, berth_image_lookup_msg_t *lm)
{
    if (!s->loaded) {
        /* The index is not loaded yet: ask again shortly. */
        berth_timer_after(self, 50ull * 1000 * 1000, &lm->hdr);
        return;
    }
    lm->hdr.type = BERTH_MSG_IMAGES_LOOKUP_REPLY;
    berth_store_image_t *img = s->load_err ? NULL : lookup(s, lm->ref, NULL);
    if (s->load_err) {
        lm->error = NULL;
        berth_err_make(&lm->error, EIO, BERTH_ERR_UNAVAILABLE, "%s", s->load_err->msg);
    } else if (img == NULL) {
        berth_err_make(&lm->error, ENOENT, BERTH_ERR_NOT_FOUND, "image %s not found: pull it first",
                       lm->ref);
    } else {
        lm->image = berth_store_image_dup(img);
        lm->layer_dirs = layer_dirs(s, img);
        lm->n_layer_dirs = img->n_layers;
    }
    berth_send(lm->reply_to, &lm->hdr);
}

static void images_receive(berth_actor_t *self, berth_msg_t *msg)
{
    images_t *s = berth_actor_state(self);
    s->self = berth_actor_self(self);
    switch (msg->type) {
    case BERTH_MSG_IMAGES_LOOKUP:
        on_lookup(self, s, (berth_image_lookup_msg_t *)msg);
        return;
    case BERTH_MSG_IMAGES_VOL_ACQUIRE:
    case BERTH_MSG_IMAGES_VOL_RELEASE:
    case BERTH_MSG_IMAGES_VOL_RESTORE:
        if (vol_dispatch(s, msg))
            return;
        break;
    case BERTH_MSG_IMAGES_VOL_DONE:
        vol_on_done(s, (vol_job_t *)msg);
        break;
    case BERTH_MSG_IMAGES_VOL_RESTORED:
        vol_on_restored(s, (vol_restore_job_t *)msg);
        break;
    case BERTH_MSG_CRI_REQUEST:
        if (on_request(s, (berth_cri_req_msg_t *)msg))
            return;
        break;
    case BERTH_MSG_GRPC_CANCEL:
        /* Everything answered here is answered in the turn, or by a job
         * whose reply tolerates a finished call. */
        break;
    case BERTH_MSG_IMAGES_LOADED: {
        loaded_msg_t *l = (loaded_msg_t *)msg;
        s->loaded = true;
        if (l->err) {
            s->load_err = berth_err_steal(&l->err);
            berth_err_prefix(&s->load_err, "the image store is unavailable");
            berth_log_error("image store not loaded", "error=\"%s\"", s->load_err->msg);
        } else {
            s->imgs = berth_steal_ptr(&l->imgs);
            s->n = l->n;
            l->n = 0;
            s->reg = berth_steal_ptr(&l->reg);
            if (s->reg == NULL) {
                s->reg_err = berth_err_steal(&l->reg_err);
                berth_log_error("cannot read the registries configuration", "error=\"%s\"",
                                s->reg_err->msg);
            } else {
                size_t ns = 0;
                berth_registries_search(s->reg, &ns);
                berth_log_info("registries configuration loaded",
                               "file=%s dir=%s search_registries=%zu short_name_mode=%s",
                               s->cfg->registries_conf ? s->cfg->registries_conf : "",
                               s->cfg->registries_conf_dir ? s->cfg->registries_conf_dir : "", ns,
                               berth_registries_short_name_mode_name(
                                       berth_registries_short_name_mode(s->reg)));
            }
            berth_log_info("image store loaded", "images=%zu dir=%s", s->n,
                           berth_store_dir(berth_pull_ctx_store(s->ctx)));
            /* Leftovers of pulls interrupted by a crash go now. */
            s->gc_wanted = true;
            gc_maybe(s);
        }
        held_replay(s);
        vol_replay(s);
        break;
    }
    case BERTH_MSG_PULL_DONE:
        on_pull_done(s, (berth_pull_done_msg_t *)msg);
        break;
    case BERTH_MSG_IMAGES_WRITTEN: {
        written_msg_t *w = (written_msg_t *)msg;
        on_written(s, w->op);
        break;
    }
    case BERTH_MSG_IMAGES_GC_DONE: {
        gc_msg_t *g = (gc_msg_t *)msg;
        s->gc_running = false;
        if (g->err)
            berth_log_warn("image garbage collection failed", "error=\"%s\"", g->err->msg);
        else if (g->st.layers_removed || g->st.blobs_removed)
            berth_log_info("image garbage collection", "layers_removed=%llu blobs_removed=%llu",
                           (unsigned long long)g->st.layers_removed,
                           (unsigned long long)g->st.blobs_removed);
        held_replay(s);
        break;
    }
    case BERTH_MSG_IMAGES_FSINFO:
        on_fsinfo_done((fsinfo_msg_t *)msg);
        break;
    default:
        break;
    }
    berth_msg_free(msg);
}

static void images_fini(void *state)
{
    images_t *s = state;
    while (s->n_vols)
        vol_forget(s, s->vols[s->n_vols - 1]);
    berth_free(s->vols);
    for (size_t i = 0; i < s->n_vol_held; i++)
        berth_msg_free(s->vol_held[i]);
    berth_free(s->vol_held);
    berth_free(s->vol_dir);
    for (size_t i = 0; i < s->n_held; i++)
        berth_msg_free(&s->held[i]->hdr);
    berth_free(s->held);
    berth_store_images_free(s->imgs, s->n);
    for (size_t i = 0; i < s->n_pulls; i++)
        berth_free(s->pulls[i].key);
    berth_free(s->pulls);
    while (s->wq_head) {
        write_op_t *op = s->wq_head;
        s->wq_head = op->next;
        write_op_free(op);
    }
    berth_registries_unref(s->reg);
    berth_err_free(&s->reg_err);
    berth_err_free(&s->load_err);
    berth_pull_ctx_unref(s->ctx);
    berth_config_unref(s->cfg);
    berth_free(s);
}

static const berth_actor_class_t images_class = {
        .name = "images",
        .receive = images_receive,
        .fini = images_fini,
};

berth_handle_t berth_images_spawn(berth_config_t *cfg)
{
    images_t *s = berth_calloc(1, sizeof(*s));
    s->cfg = berth_config_ref(cfg);
    s->vol_dir = berth_asprintf("%s/image-volumes", cfg->runroot);
    berth_pull_opts_t po = {.root = cfg->root,
                            .insecure_hosts = (const char *const *)cfg->insecure_registries.v,
                            .max_manifest_bytes = (size_t)cfg->max_manifest_bytes};
    berth_pull_ctx_t *c = berth_pull_ctx_new(&po);
    s->ctx = c;
    berth_handle_t h = berth_actor_spawn(&images_class, s);
    loaded_msg_t *l = berth_msg_new(BERTH_MSG_IMAGES_LOADED, sizeof(*l));
    l->hdr.free = loaded_free;
    l->ctx = berth_pull_ctx_ref(c);
    l->cfg = berth_config_ref(cfg);
    berth_blocking_run(load_job, l, h, &l->hdr);
    return h;
}
