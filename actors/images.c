// SPDX-License-Identifier: Apache-2.0
/*
 * The ImageService: the images actor (the index and every method but the
 * pull itself) and one pull actor per in-flight reference (see images.h).
 *
 * Rules kept here: a pull's record is committed by the images actor, which
 * is the only writer of records and writes them one at a time in order; a
 * pull is answered only after its record is on disk, and a failed pull
 * leaves nothing listed; garbage collection never runs while a pull is
 * unpacking (pulls arriving meanwhile wait for it). Short names, aliases,
 * mirrors and blocked registries follow containers-registries.conf through
 * conf/registries.h: the snapshot (main file, drop-ins, berth's
 * insecure_registries) is loaded once at start and shared, immutable and
 * reference counted, with every pull. Nothing here blocks: the registry, the
 * disk and registries.conf are all read on io/'s blocking pool.
 */
#include "actors/images.h"
#include "actors/imagelookup.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "actors/cri.h"
#include "actors/msgtypes.h"
#include "conf/registries.h"
#include "engine/alloc.h"
#include "engine/err.h"
#include "engine/log.h"
#include "engine/refcount.h"
#include "io/blocking.h"
#include "io/digest.h"
#include "io/fs.h"
#include "io/grpc.h"
#include "io/registry.h"
#include "io/store.h"
#include "proto/cri.h"

/* ---- shared context -------------------------------------------------------- */

/* What pull jobs on the pool share with the images actor: immutable after
 * the store is loaded, reference counted because jobs may outlive actors. */
typedef struct images_ctx {
    berth_ref_t refs;
    berth_store_t *store;
    berth_registry_client_t *client;
    char *root;
    char **insecure; /* NULL-terminated */
    char *arch;
    uint64_t max_layers, max_bytes; /* per image: [crio.image] max_image_* */
    size_t max_config;              /* [crio.image] max_config_bytes */
    uint64_t max_entries;           /* [crio.image] max_layer_entries */
} images_ctx_t;

static images_ctx_t *ctx_ref(images_ctx_t *c)
{
    berth_ref_inc(&c->refs);
    return c;
}

static void ctx_unref(images_ctx_t *c)
{
    if (c == NULL || !berth_ref_dec_and_test(&c->refs))
        return;
    berth_store_free(c->store);
    berth_registry_client_free(c->client);
    berth_free(c->root);
    for (size_t i = 0; c->insecure[i]; i++)
        berth_free(c->insecure[i]);
    berth_free(c->insecure);
    berth_free(c->arch);
    berth_free(c);
}

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

/* ---- the pull job (blocking pool) ------------------------------------------- */

typedef struct pull_job {
    images_ctx_t *ctx;
    berth_registries_t *reg; /* the snapshot taken at start; NULL when it did not load */
    char *reg_err;           /* then why */
    char *image;
    char *username, *password, *auth, *identity_token, *registry_token;
    berth_store_image_t *rec; /* result */
    berth_err_t err;          /* or error */
} pull_job_t;

static void pull_job_free(pull_job_t *j)
{
    if (j == NULL)
        return;
    ctx_unref(j->ctx);
    berth_registries_unref(j->reg);
    berth_free(j->reg_err);
    berth_free(j->image);
    berth_free(j->username);
    berth_free(j->password);
    berth_free(j->auth);
    berth_free(j->identity_token);
    berth_free(j->registry_token);
    berth_store_image_free(j->rec);
    berth_err_free(&j->err);
    berth_free(j);
}

typedef struct pull_job_msg {
    berth_msg_t hdr;
    pull_job_t *job;
} pull_job_msg_t;

static void pull_job_msg_free(berth_msg_t *m)
{
    pull_job_free(((pull_job_msg_t *)m)->job);
    berth_free(m);
}

static char *nz(const char *s)
{
    return s && *s ? berth_strdup(s) : NULL;
}

/* Downloads and unpacks what `img` names from endpoint t, and builds the
 * record (names from cref, the fully qualified reference). */
static int fetch_image(pull_job_t *j, const berth_registry_target_t *t,
                       const berth_image_ref_t *cref, berth_registry_image_t *img, berth_err_t *err)
{
    berth_store_t *st = j->ctx->store;
    const berth_registry_descriptor_t *cd = &img->parsed.config;
    BERTH_AUTO_FREE char *cpath = berth_store_blob_path(st, cd->digest);
    /* The descriptor gives the size: a config too large to be one is refused
     * before a byte of it is fetched. */
    if (cd->size > (int64_t)j->ctx->max_config)
        return berth_err_make(err, E2BIG, BERTH_GRPC_RESOURCE_EXHAUSTED,
                              "image config %s is %lld bytes, more than the %zu a config may be "
                              "([crio.image] max_config_bytes)",
                              cd->digest, (long long)cd->size, j->ctx->max_config);
    if (!berth_store_blob_exists(st, cd->digest) &&
        berth_registry_fetch_blob(j->ctx->client, t, cd->digest, cd->size, cpath, NULL, err) < 0)
        return berth_err_prefix(err, "config %s", cd->digest);
    BERTH_AUTO_FREE char *config = NULL;
    BERTH_AUTO_ERR berth_err_t rerr = NULL;
    if (berth_fs_read_small(cpath, j->ctx->max_config, &config, &rerr) < 0)
        return berth_err_make(
                err, rerr->errnum,
                rerr->errnum == EFBIG || rerr->errnum == E2BIG ? BERTH_GRPC_RESOURCE_EXHAUSTED
                                                               : BERTH_GRPC_INTERNAL,
                "image config %s: %s", cd->digest,
                rerr->errnum == EFBIG || rerr->errnum == E2BIG ? "larger than a config may be"
                                                               : rerr->msg);
    size_t nl = img->parsed.n_layers;
    if (j->ctx->max_layers && nl > j->ctx->max_layers)
        return berth_err_make(err, E2BIG, BERTH_GRPC_RESOURCE_EXHAUSTED,
                              "the image has %zu layers, more than the %llu allowed "
                              "([crio.image] max_image_layers)",
                              nl, (unsigned long long)j->ctx->max_layers);
    /* Layers are stored under the diff IDs the config names and checked
     * against them while unpacking: a config is the image's ID, so what
     * runs under that ID is what the config says. */
    berth_registry_config_t ic;
    if (berth_registry_config_parse(config, strlen(config), nl, &ic, err) < 0)
        return berth_err_prefix(err, "image config %s", cd->digest);
    char **diff_ids = berth_steal_ptr(&ic.diff_ids);
    const char *user = ic.user;
    berth_store_image_t *rec = berth_store_image_new();
    berth_free(rec->user);
    rec->user = berth_strdup(user ? user : "");
    berth_registry_config_fini(&ic);
    berth_free(rec->config);
    rec->config = berth_steal_ptr(&config);
    rec->id = berth_strdup(cd->digest);
    rec->size = cd->size > 0 ? (uint64_t)cd->size : 0;
    rec->diff_ids = true;

    uint64_t total = 0, unpacked = 0;
    int ret = -1;
    for (size_t i = 0; i < nl; i++) {
        const berth_registry_descriptor_t *ld = &img->parsed.layers[i];
        berth_store_strv_add(&rec->layers, &rec->n_layers, diff_ids[i]);
        rec->size += ld->size > 0 ? (uint64_t)ld->size : 0;
        if (berth_store_layer_exists(st, diff_ids[i])) {
            berth_log_info("pull: layer already present",
                           "image=\"%s\" layer=%s diff_id=%s n=%zu/%zu", j->image, ld->digest,
                           diff_ids[i], i + 1, nl);
            continue;
        }
        BERTH_AUTO_FREE char *lpath = berth_store_blob_path(st, ld->digest);
        uint64_t bytes = 0;
        if (berth_registry_fetch_blob(j->ctx->client, t, ld->digest, ld->size, lpath, &bytes, err) <
            0) {
            berth_err_prefix(err, "layer %zu/%zu %s", i + 1, nl, ld->digest);
            goto out;
        }
        total += bytes;
        berth_unpack_stats_t us = {0};
        /* the image's budget, less what this pull unpacked so far, bounds
         * each layer's uncompressed stream too */
        berth_unpack_limits_t lim = {.max_entries = j->ctx->max_entries};
        if (j->ctx->max_bytes)
            lim.max_total_bytes = j->ctx->max_bytes > unpacked ? j->ctx->max_bytes - unpacked : 1;
        int r = berth_store_layer_unpack_limited(st, diff_ids[i], lpath, &lim, &us, err);
        unpacked += us.tar_bytes;
        /* The compressed blob is not needed once the layer is unpacked. */
        berth_fs_unlink(lpath, "layer blob", NULL);
        if (r < 0) {
            if ((*err)->grpc == BERTH_GRPC_RESOURCE_EXHAUSTED && j->ctx->max_bytes)
                berth_err_prefix(err,
                                 "an image may unpack at most %llu bytes ([crio.image] "
                                 "max_image_bytes), %llu before this layer",
                                 (unsigned long long)j->ctx->max_bytes,
                                 (unsigned long long)unpacked);
            berth_err_prefix(err, "layer %zu/%zu %s", i + 1, nl, ld->digest);
            goto out;
        }
        berth_log_info("pull: layer",
                       "image=\"%s\" layer=%s diff_id=%s n=%zu/%zu bytes=%llu files=%llu", j->image,
                       ld->digest, diff_ids[i], i + 1, nl, (unsigned long long)bytes,
                       (unsigned long long)us.entries);
    }
    ret = 0;
out:
    berth_strv_free(diff_ids);
    if (ret < 0) {
        berth_store_image_free(rec);
        return -1;
    }
    if (cref->tag && cref->digest == NULL) {
        BERTH_AUTO_FREE char *tag =
                berth_asprintf("%s/%s:%s", cref->domain, cref->repository, cref->tag);
        berth_store_strv_add(&rec->tags, &rec->n_tags, tag);
    }
    BERTH_AUTO_FREE char *dg =
            berth_asprintf("%s/%s@%s", cref->domain, cref->repository, img->top.digest);
    berth_store_strv_add(&rec->digests, &rec->n_digests, dg);
    rec->pulled_at = (int64_t)berth_wall_ns();
    berth_log_info("pull: done", "image=\"%s\" id=%s layers=%zu downloaded_bytes=%llu", j->image,
                   rec->id, nl, (unsigned long long)total);
    j->rec = rec;
    return 0;
}

/* Folds one endpoint's error into the pull's: the code is the most telling
 * one (anything beats NOT_FOUND from a mirror), the message lists them all. */
static void keep_err(berth_err_t *best, berth_err_t *e)
{
    if (*best == NULL) {
        *best = berth_err_steal(e);
        return;
    }
    char *msg = berth_asprintf("%s; %s", (*best)->msg, (*e)->msg);
    if ((*best)->grpc == BERTH_GRPC_NOT_FOUND && (*e)->grpc != BERTH_GRPC_NOT_FOUND) {
        (*best)->grpc = (*e)->grpc;
        (*best)->errnum = (*e)->errnum;
    }
    berth_free((*best)->msg);
    (*best)->msg = msg;
    berth_err_free(e);
}

/* The fully qualified candidates for j->image, in the order to try, per
 * the registries.conf snapshot. */
static int pull_candidates(pull_job_t *j, const berth_image_ref_t *ref, char ***cands, size_t *nc)
{
    if (j->reg == NULL)
        return berth_err_make(&j->err, EINVAL, BERTH_GRPC_FAILED_PRECONDITION,
                              "the registries configuration did not load at start (%s): fix it "
                              "and restart berthd",
                              j->reg_err ? j->reg_err : "unknown error");
    if (!ref->short_name) {
        BERTH_AUTO_FREE char *canon = ref_canonical(ref);
        berth_store_strv_add(cands, nc, canon);
        return 0;
    }
    char **c = NULL;
    size_t n = 0;
    BERTH_AUTO_FREE char *note = NULL;
    if (berth_registries_resolve_short(j->reg, j->image, &c, &n, &note, &j->err) < 0)
        return -1;
    berth_log_info("pull: short name", "image=\"%s\" note=\"%s\"", j->image, note ? note : "");
    canon_add(cands, nc, c, n);
    berth_registries_strv_free(c);
    if (*nc == 0)
        return berth_err_make(&j->err, EINVAL, BERTH_GRPC_INVALID_ARGUMENT,
                              "short name \"%s\" resolved to no valid reference", j->image);
    return 0;
}

/* Tries each endpoint of one fully qualified candidate until one delivers. */
static void pull_candidate(pull_job_t *j, const char *cand, const berth_registry_auth_t *auth,
                           berth_err_t *best)
{
    berth_image_ref_t cref;
    BERTH_AUTO_ERR berth_err_t e0 = NULL;
    if (berth_image_ref_parse(cand, &cref, &e0) < 0) {
        keep_err(best, &e0);
        return;
    }
    berth_registry_endpoint_t *eps = NULL;
    size_t ne = 0;
    if (berth_registries_endpoints(j->reg, cand, cref.digest != NULL, &eps, &ne, &e0) < 0) {
        berth_log_info("pull: no endpoint", "image=\"%s\" candidate=%s error=\"%s\"", j->image,
                       cand, e0->msg);
        keep_err(best, &e0);
        berth_image_ref_fini(&cref);
        return;
    }
    for (size_t e = 0; e < ne && j->rec == NULL; e++) {
        berth_registry_target_t t = {
                .domain = eps[e].domain,
                .repository = eps[e].repository,
                .auth = auth,
                .insecure = eps[e].insecure,
        };
        const char *reference = cref.digest ? cref.digest : cref.tag;
        berth_registry_image_t img = {0};
        BERTH_AUTO_ERR berth_err_t e1 = NULL;
        if (berth_registry_resolve(j->ctx->client, &t, reference, "linux", j->ctx->arch, NULL, &img,
                                   &e1) < 0 ||
            fetch_image(j, &t, &cref, &img, &e1) < 0) {
            berth_err_prefix(&e1, "%s/%s", eps[e].domain, eps[e].repository);
            berth_log_info("pull: endpoint failed", "image=\"%s\" error=\"%s\"", j->image, e1->msg);
            keep_err(best, &e1);
        }
        if (img.top.data)
            berth_registry_image_fini(&img);
    }
    berth_registries_endpoints_free(eps, ne);
    berth_image_ref_fini(&cref);
}

static void pull_run(void *arg)
{
    pull_job_t *j = arg;
    berth_image_ref_t ref;
    if (berth_image_ref_parse(j->image, &ref, &j->err) < 0) {
        berth_err_prefix(&j->err, "pulling image \"%s\"", j->image);
        return;
    }
    char **cands = NULL;
    size_t nc = 0;
    if (pull_candidates(j, &ref, &cands, &nc) == 0) {
        berth_registry_auth_t auth = {
                .username = j->username,
                .password = j->password,
                .auth = j->auth,
                .identity_token = j->identity_token,
                .registry_token = j->registry_token,
        };
        bool has_auth = j->username || j->auth || j->identity_token || j->registry_token;
        berth_err_t best = NULL;
        for (size_t c = 0; c < nc && j->rec == NULL; c++)
            pull_candidate(j, cands[c], has_auth ? &auth : NULL, &best);
        if (j->rec == NULL) {
            if (best == NULL)
                berth_err_make(&best, ENOENT, BERTH_GRPC_NOT_FOUND, "no registry to pull from");
            j->err = berth_err_steal(&best);
        }
        berth_err_free(&best);
    }
    if (j->err)
        berth_err_prefix(&j->err, "pulling image \"%s\"", j->image);
    for (size_t i = 0; i < nc; i++)
        berth_free(cands[i]);
    berth_free(cands);
    berth_image_ref_fini(&ref);
}

/* ---- messages between the actors --------------------------------------------- */

typedef struct pull_result_msg {
    berth_msg_t hdr;
    char *key;
    berth_store_image_t *rec;
    berth_err_t err;
} pull_result_msg_t;

static void pull_result_free(berth_msg_t *m)
{
    pull_result_msg_t *r = (pull_result_msg_t *)m;
    berth_free(r->key);
    berth_store_image_free(r->rec);
    berth_err_free(&r->err);
    berth_free(r);
}

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

/* ---- the pull actor ----------------------------------------------------------- */

typedef struct pull {
    char *key;
    images_ctx_t *ctx;
    berth_registries_t *reg; /* the images actor's snapshot, or NULL */
    char *reg_err;
    berth_handle_t images;
    bool started;
    berth_grpc_call_t **waiters;
    size_t n_waiters;
} pull_t;

static void pull_fini(void *state)
{
    pull_t *p = state;
    for (size_t i = 0; i < p->n_waiters; i++) {
        berth_grpc_finish(p->waiters[i], BERTH_GRPC_UNAVAILABLE, "berth is shutting down");
        berth_grpc_call_unref(p->waiters[i]);
    }
    berth_free(p->waiters);
    berth_free(p->key);
    ctx_unref(p->ctx);
    berth_registries_unref(p->reg);
    berth_free(p->reg_err);
    berth_free(p);
}

static void pull_on_request(berth_actor_t *self, pull_t *p, berth_cri_req_msg_t *rm)
{
    if (!p->started) {
        p->started = true;
        const Runtime__V1__PullImageRequest *req = (const Runtime__V1__PullImageRequest *)rm->req;
        pull_job_t *j = berth_calloc(1, sizeof(*j));
        j->ctx = ctx_ref(p->ctx);
        /* The job holds its own reference: it may outlive this actor. */
        j->reg = p->reg ? berth_registries_ref(p->reg) : NULL;
        j->reg_err = p->reg_err ? berth_strdup(p->reg_err) : NULL;
        j->image = berth_strdup(p->key);
        if (req->auth) {
            j->username = nz(req->auth->username);
            j->password = nz(req->auth->password);
            j->auth = nz(req->auth->auth);
            j->identity_token = nz(req->auth->identity_token);
            j->registry_token = nz(req->auth->registry_token);
        }
        pull_job_msg_t *reply = berth_msg_new(BERTH_MSG_IMAGES_PULL_JOB, sizeof(*reply));
        reply->hdr.free = pull_job_msg_free;
        reply->job = j;
        berth_log_info("pull: start", "image=\"%s\"", p->key);
        berth_blocking_run(pull_run, j, berth_actor_self(self), &reply->hdr);
    }
    p->waiters = berth_realloc(p->waiters, (p->n_waiters + 1) * sizeof(*p->waiters));
    p->waiters[p->n_waiters++] = berth_steal_ptr(&rm->call);
}

static void pull_receive(berth_actor_t *self, berth_msg_t *msg)
{
    pull_t *p = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_CRI_REQUEST:
        pull_on_request(self, p, (berth_cri_req_msg_t *)msg);
        break;
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
        berth_grpc_call_unref(cm->call);
        cm->call = NULL;
        break;
    }
    case BERTH_MSG_IMAGES_PULL_JOB: {
        pull_job_t *j = ((pull_job_msg_t *)msg)->job;
        pull_result_msg_t *r = berth_msg_new(BERTH_MSG_IMAGES_PULL_RESULT, sizeof(*r));
        r->hdr.free = pull_result_free;
        r->key = berth_strdup(p->key);
        r->rec = berth_steal_ptr(&j->rec);
        r->err = berth_err_steal(&j->err);
        berth_send(p->images, &r->hdr);
        break;
    }
    case BERTH_MSG_IMAGES_PULL_FINAL: {
        pull_final_msg_t *f = (pull_final_msg_t *)msg;
        Runtime__V1__PullImageResponse resp = RUNTIME__V1__PULL_IMAGE_RESPONSE__INIT;
        resp.image_ref = f->id;
        for (size_t i = 0; i < p->n_waiters; i++) {
            if (f->err)
                berth_grpc_finish_err(p->waiters[i], f->err);
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
    images_ctx_t *ctx;
    struct write_op *next;
} write_op_t;

typedef struct pull_ent {
    char *key;
    berth_handle_t h;
} pull_ent_t;

typedef struct images {
    berth_config_t *cfg;
    images_ctx_t *ctx;
    /* registries.conf and its drop-ins as loaded at start: immutable and
     * shared by reference with every pull; NULL with reg_err when broken. */
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
    write_op_t *wq_head, *wq_tail;
    bool writing;
    bool gc_running, gc_wanted;
} images_t;

typedef struct loaded_msg {
    berth_msg_t hdr;
    images_ctx_t *ctx;
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
    ctx_unref(l->ctx);
    berth_free(l);
}

static void load_run(void *arg)
{
    loaded_msg_t *l = arg;
    l->ctx->store = berth_store_open(l->ctx->root, &l->err);
    if (l->ctx->store == NULL)
        return;
    if (berth_store_load(l->ctx->store, &l->imgs, &l->n, &l->err) < 0)
        return;
    /* A broken registries.conf must not stop the daemon: pulls report it,
     * and lookups match exact names only. */
    l->reg = berth_registries_load_config(l->cfg, &l->reg_err);
    BERTH_AUTO_FREE char *ov = berth_asprintf("%s/overlay-containers", l->ctx->root);
    berth_store_mkdir_p(ov, 0700, NULL);
}

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
    ctx_unref(op->ctx);
    berth_free(op);
}

static void written_free(berth_msg_t *m)
{
    write_op_free(((written_msg_t *)m)->op);
    berth_free(m);
}

static void write_run(void *arg)
{
    write_op_t *op = arg;
    for (size_t i = 0; i < op->n_del && op->err == NULL; i++)
        berth_store_image_delete(op->ctx->store, op->del[i]->id, &op->err);
    for (size_t i = 0; i < op->n_put && op->err == NULL; i++)
        berth_store_image_write(op->ctx->store, op->put[i], &op->err);
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
    berth_blocking_run(write_run, op, s->self, &w->hdr);
}

static write_op_t *op_new(images_t *s)
{
    write_op_t *op = berth_calloc(1, sizeof(*op));
    op->ctx = ctx_ref(s->ctx);
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
            berth_grpc_finish_err(op->call, op->err);
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
    images_ctx_t *ctx;
    berth_store_gc_stats_t st;
    berth_err_t err;
} gc_msg_t;

static void gc_msg_free(berth_msg_t *m)
{
    gc_msg_t *g = (gc_msg_t *)m;
    ctx_unref(g->ctx);
    berth_err_free(&g->err);
    berth_free(g);
}

static void gc_run(void *arg)
{
    gc_msg_t *g = arg;
    berth_store_gc(g->ctx->store, &g->st, &g->err);
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
    g->ctx = ctx_ref(s->ctx);
    berth_blocking_run(gc_run, g, s->self, &g->hdr);
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
    write_op_t *op = op_new(s);
    berth_store_image_t *copy = berth_store_image_dup(img);
    /* By tag: untag, and remove the image with its last tag. By ID or by
     * digest: remove the image. */
    if (matched && berth_store_strv_del(&copy->tags, &copy->n_tags, matched) && copy->n_tags > 0) {
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

static void on_pull_result(images_t *s, pull_result_msg_t *r)
{
    berth_handle_t h = BERTH_HANDLE_NONE;
    for (size_t i = 0; i < s->n_pulls; i++) {
        if (strcmp(s->pulls[i].key, r->key) != 0)
            continue;
        h = s->pulls[i].h;
        berth_free(s->pulls[i].key);
        s->pulls[i] = s->pulls[--s->n_pulls];
        break;
    }
    if (r->err) {
        send_final(h, NULL, berth_err_steal(&r->err));
        /* What the failed pull unpacked is referenced by no record: collect
         * it now, or as soon as no other pull (which may share a layer not
         * yet recorded) is running. */
        s->gc_wanted = true;
        gc_maybe(s);
        return;
    }
    berth_store_image_t *rec = berth_steal_ptr(&r->rec);
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
    images_ctx_t *ctx;
    berth_grpc_call_t *call;
    char *img_dir, *ctr_dir;
    uint64_t ib, ii, cb, ci;
    berth_err_t err;
} fsinfo_msg_t;

static void fsinfo_free(berth_msg_t *m)
{
    fsinfo_msg_t *f = (fsinfo_msg_t *)m;
    ctx_unref(f->ctx);
    if (f->call)
        berth_grpc_call_unref(f->call);
    berth_free(f->img_dir);
    berth_free(f->ctr_dir);
    berth_err_free(&f->err);
    berth_free(f);
}

static void fsinfo_run(void *arg)
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
        berth_grpc_finish_err(f->call, f->err);
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
    f->ctx = ctx_ref(s->ctx);
    f->call = berth_steal_ptr(&rm->call);
    f->img_dir = berth_strdup(berth_store_dir(s->ctx->store));
    f->ctr_dir = berth_asprintf("%s/overlay-containers", s->ctx->root);
    berth_blocking_run(fsinfo_run, f, s->self, &f->hdr);
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
        berth_grpc_finish(rm->call, BERTH_GRPC_INVALID_ARGUMENT,
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
        berth_grpc_finish(rm->call, BERTH_GRPC_RESOURCE_EXHAUSTED, msg);
        return false;
    }
    if (!berth_handle_valid(h)) {
        pull_t *p = berth_calloc(1, sizeof(*p));
        p->key = berth_strdup(image);
        p->ctx = ctx_ref(s->ctx);
        p->reg = s->reg ? berth_registries_ref(s->reg) : NULL;
        p->reg_err = s->reg_err ? berth_strdup(s->reg_err->msg) : NULL;
        p->images = s->self;
        h = berth_actor_spawn(&pull_class, p);
        s->pulls = berth_realloc(s->pulls, (s->n_pulls + 1) * sizeof(*s->pulls));
        s->pulls[s->n_pulls].key = berth_strdup(image);
        s->pulls[s->n_pulls++].h = h;
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
        berth_grpc_finish_err(rm->call, s->load_err);
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
        berth_grpc_finish(rm->call, BERTH_GRPC_UNIMPLEMENTED, msg);
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

static void lookup_msg_free(berth_msg_t *m)
{
    berth_image_lookup_msg_t *lm = (berth_image_lookup_msg_t *)m;
    berth_free(lm->ref);
    berth_store_image_free(lm->image);
    for (size_t i = 0; lm->layer_dirs && i < lm->n_layer_dirs; i++)
        berth_free(lm->layer_dirs[i]);
    berth_free(lm->layer_dirs);
    berth_err_free(&lm->error);
    berth_free(lm);
}

void berth_image_lookup(berth_handle_t images, const char *ref, berth_handle_t reply_to,
                        uint64_t tag)
{
    berth_image_lookup_msg_t *m = berth_msg_new(BERTH_MSG_IMAGES_LOOKUP, sizeof(*m));
    m->hdr.free = lookup_msg_free;
    m->reply_to = reply_to;
    m->tag = tag;
    m->ref = berth_strdup(ref ? ref : "");
    if (berth_send(images, &m->hdr) < 0) {
        m = berth_msg_new(BERTH_MSG_IMAGES_LOOKUP_REPLY, sizeof(*m));
        m->hdr.free = lookup_msg_free;
        m->tag = tag;
        berth_err_make(&m->error, ESRCH, BERTH_GRPC_UNAVAILABLE, "berth is shutting down");
        berth_send(reply_to, &m->hdr);
    }
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
        berth_err_make(&lm->error, EIO, BERTH_GRPC_UNAVAILABLE, "%s", s->load_err->msg);
    } else if (img == NULL) {
        berth_err_make(&lm->error, ENOENT, BERTH_GRPC_NOT_FOUND,
                       "image %s not found: pull it first", lm->ref);
    } else {
        lm->image = berth_store_image_dup(img);
        lm->layer_dirs = berth_calloc(img->n_layers + 1, sizeof(char *));
        for (size_t i = 0; i < img->n_layers; i++)
            lm->layer_dirs[i] =
                    berth_store_layer_dir(s->ctx->store, img->layers[img->n_layers - 1 - i]);
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
    case BERTH_MSG_CRI_REQUEST:
        if (on_request(s, (berth_cri_req_msg_t *)msg))
            return;
        break;
    case BERTH_MSG_GRPC_CANCEL: {
        /* Everything answered here is answered in the turn, or by a job
         * whose reply tolerates a finished call. */
        berth_grpc_cancel_msg_t *cm = (berth_grpc_cancel_msg_t *)msg;
        berth_grpc_call_unref(cm->call);
        cm->call = NULL;
        break;
    }
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
                           berth_store_dir(s->ctx->store));
            /* Leftovers of pulls interrupted by a crash go now. */
            s->gc_wanted = true;
            gc_maybe(s);
        }
        held_replay(s);
        break;
    }
    case BERTH_MSG_IMAGES_PULL_RESULT:
        on_pull_result(s, (pull_result_msg_t *)msg);
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
    ctx_unref(s->ctx);
    berth_config_unref(s->cfg);
    berth_free(s);
}

static const berth_actor_class_t images_class = {
        .name = "images",
        .receive = images_receive,
        .fini = images_fini,
};

static const char *node_arch(void)
{
    struct utsname u;
    if (uname(&u) == 0 && strcmp(u.machine, "aarch64") == 0)
        return "arm64";
    return "amd64";
}

berth_handle_t berth_images_spawn(berth_config_t *cfg)
{
    images_t *s = berth_calloc(1, sizeof(*s));
    s->cfg = berth_config_ref(cfg);
    images_ctx_t *c = berth_calloc(1, sizeof(*c));
    berth_ref_init(&c->refs);
    c->root = berth_strdup(cfg->root);
    c->max_layers = (uint64_t)cfg->max_image_layers;
    c->max_bytes = (uint64_t)cfg->max_image_bytes;
    c->max_config = (size_t)cfg->max_config_bytes;
    c->max_entries = (uint64_t)cfg->max_layer_entries;
    c->insecure = berth_calloc(cfg->insecure_registries.n + 1, sizeof(char *));
    for (size_t i = 0; i < cfg->insecure_registries.n; i++)
        c->insecure[i] = berth_strdup(cfg->insecure_registries.v[i]);
    c->arch = berth_strdup(node_arch());
    berth_registry_opts_t ro = {.insecure_hosts = (const char *const *)c->insecure,
                                .max_manifest_bytes = (size_t)cfg->max_manifest_bytes};
    c->client = berth_registry_client_new(&ro);
    s->ctx = c;
    berth_handle_t h = berth_actor_spawn(&images_class, s);
    loaded_msg_t *l = berth_msg_new(BERTH_MSG_IMAGES_LOADED, sizeof(*l));
    l->hdr.free = loaded_free;
    l->ctx = ctx_ref(c);
    l->cfg = berth_config_ref(cfg);
    berth_blocking_run(load_run, l, h, &l->hdr);
    return h;
}
