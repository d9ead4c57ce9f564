// SPDX-License-Identifier: Apache-2.0
/*
 * The image pull adapter (see pull.h): one pull, run on io/'s blocking
 * pool, from the candidates and endpoints the images actor chose to the
 * record it commits. Layers are stored under the diff IDs the config names
 * and checked against them while unpacking, so what runs under an image ID
 * is what its config says. This file must never decide what to pull (it
 * tries what it is given, in order), touch the image index or write a
 * record: those are the images actor's rules.
 */
#include "io/pull.h"
#include "io/pull-internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/utsname.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/refcount.h"
#include "io/blocking.h"
#include "io/digest.h"
#include "io/fs.h"
#include "io/unpack.h"

/* ---- metrics (docs/observability.md) --------------------------------------------- */

static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;
static berth_metric_t *m_success, *m_reuse, *m_skipped, *m_layer_size;
static berth_metric_family_t *f_failure, *f_bytes;

static void metrics_init(void)
{
    /* per-layer bytes: 1 kB .. 10 GB, as CRI-O's */
    static const uint64_t bounds[] = {1000ull,      1000000ull,    10000000ull,   50000000ull,
                                      100000000ull, 200000000ull,  300000000ull,  400000000ull,
                                      500000000ull, 1000000000ull, 10000000000ull};
    static const char *const l_err[] = {"error", NULL};
    static const char *const l_media[] = {"mediatype", NULL};
    f_bytes = berth_metrics_family(&(berth_metric_desc_t){
            .type = BERTH_METRIC_COUNTER,
            .name = "container_runtime_crio_image_pulls_bytes_total",
            .help = "Bytes transferred by image pulls (layer blobs), by media type.",
            .labels = l_media,
            .max_series = 32, /* the value comes from a registry */
    });
    m_skipped = berth_metrics_counter("container_runtime_crio_image_pulls_skipped_bytes_total",
                                      "Bytes of layers image pulls skipped because they were "
                                      "present already.");
    f_failure = berth_metrics_family(&(berth_metric_desc_t){
            .type = BERTH_METRIC_COUNTER,
            .name = "container_runtime_crio_image_pulls_failure_total",
            .help = "Cumulative number of image pull failures by error kind.",
            .labels = l_err,
    });
    m_success = berth_metrics_counter("container_runtime_crio_image_pulls_success_total",
                                      "Cumulative number of image pull successes.");
    m_reuse = berth_metrics_counter("container_runtime_crio_image_layer_reuse_total",
                                    "Reused (not pulled) local image layers.");
    m_layer_size =
            berth_metrics_series(berth_metrics_family(&(berth_metric_desc_t){
                                         .type = BERTH_METRIC_HISTOGRAM,
                                         .name = "container_runtime_crio_image_pulls_layer_size",
                                         .help = "Bytes transferred by image pulls per layer.",
                                         .bounds = bounds,
                                         .nbounds = BERTH_ARRAY_LEN(bounds),
                                 }),
                                 NULL);
}

/* ---- the shared context ------------------------------------------------------ */

struct berth_pull_ctx {
    berth_ref_t refs;
    berth_store_t *store; /* set once by berth_pull_ctx_open, before any pull */
    berth_registry_client_t *client;
    char *root;
    char **insecure; /* NULL-terminated; the client borrows it */
    char *arch;
};

static const char *node_arch(void)
{
    struct utsname u;
    if (uname(&u) == 0 && strcmp(u.machine, "aarch64") == 0)
        return "arm64";
    return "amd64";
}

berth_pull_ctx_t *berth_pull_ctx_new(const berth_pull_opts_t *o)
{
    pthread_once(&metrics_once, metrics_init);
    berth_pull_ctx_t *c = berth_calloc(1, sizeof(*c));
    berth_ref_init(&c->refs);
    c->root = berth_strdup(o->root);
    size_t n = 0;
    while (o->insecure_hosts && o->insecure_hosts[n])
        n++;
    c->insecure = berth_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        c->insecure[i] = berth_strdup(o->insecure_hosts[i]);
    c->arch = berth_strdup(o->arch ? o->arch : node_arch());
    berth_registry_opts_t ro = {.insecure_hosts = (const char *const *)c->insecure,
                                .max_manifest_bytes = o->max_manifest_bytes};
    c->client = berth_registry_client_new(&ro);
    return c;
}

berth_pull_ctx_t *berth_pull_ctx_ref(berth_pull_ctx_t *c)
{
    berth_ref_inc(&c->refs);
    return c;
}

void berth_pull_ctx_unref(berth_pull_ctx_t *c)
{
    if (c == NULL || !berth_ref_dec_and_test(&c->refs))
        return;
    berth_store_free(c->store);
    berth_registry_client_free(c->client);
    berth_free(c->root);
    berth_strv_free(c->insecure);
    berth_free(c->arch);
    berth_free(c);
}

int berth_pull_ctx_open(berth_pull_ctx_t *c, berth_err_t *err)
{
    c->store = berth_store_open(c->root, err);
    return c->store ? 0 : -1;
}

berth_store_t *berth_pull_ctx_store(const berth_pull_ctx_t *c)
{
    return c->store;
}

const char *berth_pull_ctx_arch(const berth_pull_ctx_t *c)
{
    return c->arch;
}

/* ---- the request ------------------------------------------------------------- */

berth_pull_req_t *berth_pull_req_new(const char *image)
{
    berth_pull_req_t *r = berth_calloc(1, sizeof(*r));
    r->image = berth_strdup(image);
    return r;
}

void berth_pull_req_free(berth_pull_req_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_cands; i++) {
        berth_pull_candidate_t *c = &r->cands[i];
        for (size_t e = 0; e < c->n_endpoints; e++) {
            berth_free(c->endpoints[e].domain);
            berth_free(c->endpoints[e].repository);
        }
        berth_free(c->endpoints);
        berth_free(c->ref);
        berth_err_free(&c->err);
    }
    berth_free(r->cands);
    berth_free(r->image);
    berth_free(r->username);
    berth_free(r->password);
    berth_free(r->auth);
    berth_free(r->identity_token);
    berth_free(r->registry_token);
    berth_free(r);
}

berth_pull_candidate_t *berth_pull_req_add(berth_pull_req_t *r, const char *ref, berth_err_t *err)
{
    r->cands = berth_realloc(r->cands, (r->n_cands + 1) * sizeof(*r->cands));
    berth_pull_candidate_t *c = &r->cands[r->n_cands++];
    *c = (berth_pull_candidate_t){.ref = berth_strdup(ref)};
    if (err)
        c->err = berth_err_steal(err);
    return c;
}

void berth_pull_candidate_add_endpoint(berth_pull_candidate_t *c, const char *domain,
                                       const char *repository, bool insecure)
{
    c->endpoints = berth_realloc(c->endpoints, (c->n_endpoints + 1) * sizeof(*c->endpoints));
    c->endpoints[c->n_endpoints++] = (berth_pull_endpoint_t){
            .domain = berth_strdup(domain),
            .repository = berth_strdup(repository),
            .insecure = insecure,
    };
}

/* ---- one endpoint ------------------------------------------------------------------ */

/* The config blob, fetched unless the store has it, and read whole. */
static int fetch_config(berth_pull_ctx_t *c, const berth_pull_req_t *req,
                        const berth_registry_target_t *t, const berth_registry_descriptor_t *cd,
                        char **config, berth_err_t *err)
{
    size_t max = req->limits.max_config_bytes;
    BERTH_AUTO_FREE char *cpath = berth_store_blob_path(c->store, cd->digest);
    /* The descriptor gives the size: a config too large to be one is refused
     * before a byte of it is fetched. */
    if (cd->size > (int64_t)max)
        return berth_err_make(err, E2BIG, BERTH_ERR_EXHAUSTED,
                              "image config %s is %lld bytes, more than the %zu a config may be "
                              "([crio.image] max_config_bytes)",
                              cd->digest, (long long)cd->size, max);
    if (!berth_store_blob_exists(c->store, cd->digest) &&
        berth_registry_fetch_blob(c->client, t, cd->digest, cd->size, cpath, NULL, err) < 0)
        return berth_err_prefix(err, "config %s", cd->digest);
    BERTH_AUTO_ERR berth_err_t rerr = NULL;
    if (berth_fs_read_small(cpath, max, config, &rerr) < 0) {
        bool big = rerr->errnum == EFBIG || rerr->errnum == E2BIG;
        return berth_err_make(err, rerr->errnum, big ? BERTH_ERR_EXHAUSTED : BERTH_ERR_INTERNAL,
                              "image config %s: %s", cd->digest,
                              big ? "larger than a config may be" : rerr->msg);
    }
    return 0;
}

/* A new record for the image img names: ID, config, user, size of the
 * config; *diff_ids (owned) the layers' diff IDs, one per manifest layer. */
static berth_store_image_t *record_new(const berth_pull_req_t *req,
                                       const berth_registry_image_t *img, char **config,
                                       char ***diff_ids, berth_err_t *err)
{
    const berth_registry_descriptor_t *cd = &img->parsed.config;
    size_t nl = img->parsed.n_layers;
    uint64_t max_layers = req->limits.max_layers;
    if (max_layers && nl > max_layers) {
        berth_err_make(err, E2BIG, BERTH_ERR_EXHAUSTED,
                       "the image has %zu layers, more than the %llu allowed "
                       "([crio.image] max_image_layers)",
                       nl, (unsigned long long)max_layers);
        return NULL;
    }
    berth_registry_config_t ic;
    if (berth_registry_config_parse(*config, strlen(*config), nl, &ic, err) < 0) {
        berth_err_prefix(err, "image config %s", cd->digest);
        return NULL;
    }
    *diff_ids = berth_steal_ptr(&ic.diff_ids);
    berth_store_image_t *rec = berth_store_image_new();
    berth_free(rec->user);
    rec->user = berth_strdup(ic.user ? ic.user : "");
    berth_registry_config_fini(&ic);
    berth_free(rec->config);
    rec->config = berth_steal_ptr(config);
    rec->id = berth_strdup(cd->digest);
    rec->size = cd->size > 0 ? (uint64_t)cd->size : 0;
    rec->diff_ids = true;
    return rec;
}

/* Fetches and unpacks layer i (unless the store has it), within what the
 * image's budget leaves (*unpacked so far, updated); *bytes gets the blob's
 * size. */
static int fetch_layer(berth_pull_ctx_t *c, const berth_pull_req_t *req,
                       const berth_registry_target_t *t, const berth_registry_image_t *img,
                       size_t i, const char *diff_id, uint64_t *unpacked, uint64_t *bytes,
                       berth_err_t *err)
{
    const berth_registry_descriptor_t *ld = &img->parsed.layers[i];
    size_t nl = img->parsed.n_layers;
    uint64_t max_bytes = req->limits.max_image_bytes;
    *bytes = 0;
    berth_blocking_checkpoint(); /* a profile begun mid-pull samples the rest */
    if (berth_store_layer_exists(c->store, diff_id)) {
        berth_log_info("pull: layer already present", "image=\"%s\" layer=%s diff_id=%s n=%zu/%zu",
                       req->image, ld->digest, diff_id, i + 1, nl);
        berth_metric_inc(m_reuse);
        berth_metric_add(m_skipped, ld->size > 0 ? (uint64_t)ld->size : 0);
        return 0;
    }
    BERTH_AUTO_FREE char *lpath = berth_store_blob_path(c->store, ld->digest);
    if (berth_registry_fetch_blob(c->client, t, ld->digest, ld->size, lpath, bytes, err) < 0)
        return berth_err_prefix(err, "layer %zu/%zu %s", i + 1, nl, ld->digest);
    /* a rare event per layer (seconds of download): the lookup's mutex is fine */
    berth_metric_add(berth_metrics_series1(f_bytes, ld->media_type ? ld->media_type : ""), *bytes);
    berth_metric_observe(m_layer_size, *bytes);
    berth_unpack_stats_t us = {0};
    /* the image's budget, less what this pull unpacked so far, bounds each
     * layer's uncompressed stream too */
    berth_unpack_limits_t lim = {.max_entries = req->limits.max_layer_entries};
    if (max_bytes)
        lim.max_total_bytes = max_bytes > *unpacked ? max_bytes - *unpacked : 1;
    int r = berth_store_layer_unpack_limited(c->store, diff_id, lpath, &lim, &us, err);
    *unpacked += us.tar_bytes;
    /* The compressed blob is not needed once the layer is unpacked. */
    berth_fs_unlink(lpath, "layer blob", NULL);
    if (r < 0) {
        if ((*err)->kind == BERTH_ERR_EXHAUSTED && max_bytes)
            berth_err_prefix(err,
                             "an image may unpack at most %llu bytes ([crio.image] "
                             "max_image_bytes), %llu before this layer",
                             (unsigned long long)max_bytes, (unsigned long long)*unpacked);
        return berth_err_prefix(err, "layer %zu/%zu %s", i + 1, nl, ld->digest);
    }
    berth_log_info("pull: layer",
                   "image=\"%s\" layer=%s diff_id=%s n=%zu/%zu bytes=%llu files=%llu", req->image,
                   ld->digest, diff_id, i + 1, nl, (unsigned long long)*bytes,
                   (unsigned long long)us.entries);
    return 0;
}

/* ---- OCI artifacts ----------------------------------------------------------- */

/* An image's config is one of the two image config types; anything else
 * (the empty descriptor, a model's own config type) makes an artifact. */
static bool is_artifact(const berth_registry_manifest_t *m)
{
    const char *mt = m->config.media_type ? m->config.media_type : "";
    return strcmp(mt, "application/vnd.oci.image.config.v1+json") != 0 &&
           strcmp(mt, "application/vnd.docker.container.image.v1+json") != 0;
}

/* A file layer is named by its title when that is one safe path component,
 * else by its digest's hex. Owned. */
static char *file_layer_name(const berth_registry_descriptor_t *ld)
{
    const char *t = ld->title;
    if (t && t[0] && strlen(t) < 256 && strchr(t, '/') == NULL && strcmp(t, ".") != 0 &&
        strcmp(t, "..") != 0)
        return berth_strdup(t);
    return berth_strdup(ld->digest + 7);
}

/* The store key of a file layer: the same blob under another name is
 * another layer directory. */
static char *file_layer_key(const char *digest, const char *name)
{
    berth_sha256_t h;
    berth_sha256_init(&h);
    berth_sha256_update(&h, "berth-file-layer", 17); /* with its NUL: a separator */
    berth_sha256_update(&h, digest, strlen(digest) + 1);
    berth_sha256_update(&h, name, strlen(name));
    char hex[BERTH_SHA256_HEX_LEN + 1];
    berth_sha256_final(&h, hex);
    berth_sha256_fini(&h);
    return berth_asprintf("sha256:%s", hex);
}

/* An artifact whose layers are plain files (a model, a data set): each blob
 * becomes a layer holding one file named by its
 * org.opencontainers.image.title, so the image mounts (as an image volume)
 * as a directory of those files. There are no diff IDs to check: the
 * registry client verified every blob's digest, and the record's ID is the
 * manifest's digest (empty configs are all alike), which names the blobs.
 * The manifest is kept as the record's config and as the blob of its ID. */
static berth_store_image_t *artifact_fetch(berth_pull_ctx_t *c, const berth_pull_req_t *req,
                                           const berth_registry_target_t *t,
                                           const berth_registry_image_t *img, uint64_t *total,
                                           berth_err_t *err)
{
    size_t nl = img->parsed.n_layers;
    uint64_t max_layers = req->limits.max_layers, max_bytes = req->limits.max_image_bytes;
    if (max_layers && nl > max_layers) {
        berth_err_make(err, E2BIG, BERTH_ERR_EXHAUSTED,
                       "the artifact has %zu layers, more than the %llu allowed "
                       "([crio.image] max_image_layers)",
                       nl, (unsigned long long)max_layers);
        return NULL;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < nl; i++) {
        const berth_registry_descriptor_t *ld = &img->parsed.layers[i];
        if (strstr(ld->media_type, "tar") != NULL) {
            berth_err_make(err, EINVAL, BERTH_ERR_UNSUPPORTED,
                           "artifact layer %zu/%zu %s is a tar archive (%s) but the artifact has "
                           "no image config to name its diff ID; berth takes artifacts whose "
                           "layers are plain files",
                           i + 1, nl, ld->digest, ld->media_type);
            return NULL;
        }
        sum += ld->size > 0 ? (uint64_t)ld->size : 0;
    }
    if (max_bytes && sum > max_bytes) {
        berth_err_make(err, E2BIG, BERTH_ERR_EXHAUSTED,
                       "the artifact's files are %llu bytes, more than the %llu an image may "
                       "unpack ([crio.image] max_image_bytes)",
                       (unsigned long long)sum, (unsigned long long)max_bytes);
        return NULL;
    }
    const berth_registry_raw_t *man = &img->manifest;
    if (berth_store_blob_put(c->store, man->digest, man->data, man->len, err) < 0) {
        berth_err_prefix(err, "artifact manifest %s", man->digest);
        return NULL;
    }
    berth_store_image_t *rec = berth_store_image_new();
    rec->id = berth_strdup(man->digest);
    berth_free(rec->config);
    rec->config = berth_strndup(man->data, man->len);
    rec->diff_ids = true;
    rec->artifact = true;
    rec->size = (uint64_t)man->len;
    for (size_t i = 0; i < nl; i++) {
        const berth_registry_descriptor_t *ld = &img->parsed.layers[i];
        BERTH_AUTO_FREE char *name = file_layer_name(ld);
        BERTH_AUTO_FREE char *key = file_layer_key(ld->digest, name);
        berth_store_strv_add(&rec->layers, &rec->n_layers, key);
        rec->size += ld->size > 0 ? (uint64_t)ld->size : 0;
        if (berth_store_layer_exists(c->store, key))
            continue;
        BERTH_AUTO_FREE char *lpath = berth_store_blob_path(c->store, ld->digest);
        uint64_t bytes = 0;
        if (berth_registry_fetch_blob(c->client, t, ld->digest, ld->size, lpath, &bytes, err) < 0 ||
            berth_store_file_layer_put(c->store, key, lpath, name, err) < 0) {
            berth_fs_unlink(lpath, "artifact blob", NULL);
            berth_store_image_free(rec);
            berth_err_prefix(err, "artifact layer %zu/%zu %s", i + 1, nl, ld->digest);
            return NULL;
        }
        *total += bytes;
        berth_log_info("pull: artifact file",
                       "image=\"%s\" layer=%s name=\"%s\" n=%zu/%zu bytes=%llu", req->image,
                       ld->digest, name, i + 1, nl, (unsigned long long)bytes);
    }
    return rec;
}

/* An image: its config, then each layer unpacked under its diff ID. */
static berth_store_image_t *image_fetch(berth_pull_ctx_t *c, const berth_pull_req_t *req,
                                        const berth_registry_target_t *t,
                                        const berth_registry_image_t *img, uint64_t *total,
                                        berth_err_t *err)
{
    BERTH_AUTO_FREE char *config = NULL;
    if (fetch_config(c, req, t, &img->parsed.config, &config, err) < 0)
        return NULL;
    char **diff_ids = NULL;
    berth_store_image_t *rec = record_new(req, img, &config, &diff_ids, err);
    if (rec == NULL)
        return NULL;
    size_t nl = img->parsed.n_layers;
    uint64_t unpacked = 0;
    for (size_t i = 0; i < nl; i++) {
        const berth_registry_descriptor_t *ld = &img->parsed.layers[i];
        berth_store_strv_add(&rec->layers, &rec->n_layers, diff_ids[i]);
        rec->size += ld->size > 0 ? (uint64_t)ld->size : 0;
        uint64_t bytes = 0;
        if (fetch_layer(c, req, t, img, i, diff_ids[i], &unpacked, &bytes, err) < 0) {
            berth_strv_free(diff_ids);
            berth_store_image_free(rec);
            return NULL;
        }
        *total += bytes;
    }
    berth_strv_free(diff_ids);
    return rec;
}

int berth_pull_fetch(berth_pull_ctx_t *c, const berth_pull_req_t *req,
                     const berth_registry_target_t *t, const berth_image_ref_t *cref,
                     const berth_registry_image_t *img, berth_store_image_t **out, berth_err_t *err)
{
    uint64_t total = 0;
    berth_store_image_t *rec = is_artifact(&img->parsed)
                                       ? artifact_fetch(c, req, t, img, &total, err)
                                       : image_fetch(c, req, t, img, &total, err);
    if (rec == NULL)
        return -1;
    if (cref->tag && cref->digest == NULL) {
        BERTH_AUTO_FREE char *tag =
                berth_asprintf("%s/%s:%s", cref->domain, cref->repository, cref->tag);
        berth_store_strv_add(&rec->tags, &rec->n_tags, tag);
    }
    BERTH_AUTO_FREE char *dg =
            berth_asprintf("%s/%s@%s", cref->domain, cref->repository, img->top.digest);
    berth_store_strv_add(&rec->digests, &rec->n_digests, dg);
    rec->pulled_at = (int64_t)berth_wall_ns();
    berth_log_info("pull: done", "image=\"%s\" id=%s layers=%zu downloaded_bytes=%llu%s",
                   req->image, rec->id, rec->n_layers, (unsigned long long)total,
                   rec->artifact ? " artifact=true" : "");
    *out = rec;
    return 0;
}

void berth_pull_fold_err(berth_err_t *best, berth_err_t *e)
{
    if (*best == NULL) {
        *best = berth_err_steal(e);
        return;
    }
    char *msg = berth_asprintf("%s; %s", (*best)->msg, (*e)->msg);
    if ((*best)->kind == BERTH_ERR_NOT_FOUND && (*e)->kind != BERTH_ERR_NOT_FOUND) {
        (*best)->kind = (*e)->kind;
        (*best)->errnum = (*e)->errnum;
    }
    berth_free((*best)->msg);
    (*best)->msg = msg;
    berth_err_free(e);
}

/* ---- the pull ------------------------------------------------------------------------ */

/* Tries each endpoint of one candidate until one delivers *rec. */
static void pull_candidate(berth_pull_ctx_t *c, const berth_pull_req_t *req,
                           berth_pull_candidate_t *cand, const berth_registry_auth_t *auth,
                           berth_store_image_t **rec, berth_err_t *best)
{
    berth_image_ref_t cref;
    BERTH_AUTO_ERR berth_err_t e0 = NULL;
    if (cand->err) {
        berth_log_info("pull: no endpoint", "image=\"%s\" candidate=%s error=\"%s\"", req->image,
                       cand->ref, cand->err->msg);
        berth_pull_fold_err(best, &cand->err);
        return;
    }
    if (berth_image_ref_parse(cand->ref, &cref, &e0) < 0) {
        berth_pull_fold_err(best, &e0);
        return;
    }
    const char *reference = cref.digest ? cref.digest : cref.tag;
    for (size_t e = 0; e < cand->n_endpoints && *rec == NULL; e++) {
        const berth_pull_endpoint_t *ep = &cand->endpoints[e];
        berth_registry_target_t t = {
                .domain = ep->domain,
                .repository = ep->repository,
                .auth = auth,
                .insecure = ep->insecure,
        };
        berth_registry_image_t img = {0};
        BERTH_AUTO_ERR berth_err_t e1 = NULL;
        if (berth_registry_resolve(c->client, &t, reference, "linux", c->arch, NULL, &img, &e1) <
                    0 ||
            berth_pull_fetch(c, req, &t, &cref, &img, rec, &e1) < 0) {
            berth_err_prefix(&e1, "%s/%s", ep->domain, ep->repository);
            berth_log_info("pull: endpoint failed", "image=\"%s\" error=\"%s\"", req->image,
                           e1->msg);
            berth_pull_fold_err(best, &e1);
        }
        if (img.top.data)
            berth_registry_image_fini(&img);
    }
    berth_image_ref_fini(&cref);
}

berth_store_image_t *berth_pull_run(berth_pull_ctx_t *c, berth_pull_req_t *req, berth_err_t *err)
{
    berth_registry_auth_t auth = {
            .username = req->username,
            .password = req->password,
            .auth = req->auth,
            .identity_token = req->identity_token,
            .registry_token = req->registry_token,
    };
    bool has_auth = req->username || req->auth || req->identity_token || req->registry_token;
    berth_store_image_t *rec = NULL;
    berth_err_t best = NULL;
    for (size_t i = 0; i < req->n_cands && rec == NULL; i++)
        pull_candidate(c, req, &req->cands[i], has_auth ? &auth : NULL, &rec, &best);
    if (rec == NULL) {
        if (best == NULL)
            berth_err_make(&best, ENOENT, BERTH_ERR_NOT_FOUND, "no registry to pull from");
        berth_err_prefix(&best, "pulling image \"%s\"", req->image);
        *err = berth_err_steal(&best);
    }
    berth_err_free(&best);
    return rec;
}

/* ---- on the pool ------------------------------------------------------------------- */

/* The answer owns the job's state, so a job the pool drops (at shutdown)
 * frees everything with its reply. */
typedef struct pull_done {
    berth_pull_done_msg_t msg; /* first: what reply_to receives */
    berth_pull_ctx_t *ctx;
    berth_pull_req_t *req;
} pull_done_t;

static void pull_done_free(berth_msg_t *m)
{
    pull_done_t *d = (pull_done_t *)m;
    berth_store_image_free(d->msg.image);
    berth_err_free(&d->msg.error);
    berth_pull_req_free(d->req);
    berth_pull_ctx_unref(d->ctx);
    berth_free(d);
}

static void pull_job(void *arg)
{
    pull_done_t *d = arg;
    d->msg.image = berth_pull_run(d->ctx, d->req, &d->msg.error);
    if (d->msg.image)
        berth_metric_inc(m_success);
    else
        berth_metric_inc(berth_metrics_series1(
                f_failure, berth_err_kind_name(d->msg.error ? d->msg.error->kind : 0)));
}

void berth_pull_start(berth_pull_ctx_t *c, berth_pull_req_t *req, berth_handle_t reply_to,
                      uint64_t tag)
{
    pull_done_t *d = berth_msg_new(BERTH_MSG_PULL_DONE, sizeof(*d));
    d->msg.hdr.free = pull_done_free;
    d->msg.tag = tag;
    d->ctx = berth_pull_ctx_ref(c);
    d->req = req;
    berth_log_info("pull: start", "image=\"%s\"", req->image);
    berth_blocking_run(pull_job, d, reply_to, &d->msg.hdr);
}
