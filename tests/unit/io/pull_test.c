// SPDX-License-Identifier: Apache-2.0
/*
 * io/pull without a network: a store in a temp directory holds the config
 * blobs and layers a pull would fetch, manifests are parsed from JSON the
 * test writes, and every endpoint is 127.0.0.1:1 (refused at once), so
 * whatever the pull would have to download fails as UNAVAILABLE. Covers
 * the config size limit (before any fetch, and on the bytes), the layer
 * limit, the config's diff IDs against the manifest's layers, the record a
 * pull builds (ID, tags, repo digests, layers, size, user), the folding of
 * the endpoints' errors, and the answer message through the engine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/blocking.h"
#include "io/digest.h"
#include "io/fs.h"
#include "io/pull-internal.h"
#include "io/pull.h"
#include "io/registry.h"
#include "io/store.h"
#include "tests/unit/check.h"

static berth_pull_ctx_t *ctx;
static berth_store_t *store;
static const berth_registry_target_t nowhere = {
        .domain = "127.0.0.1:1", .repository = "test/img", .insecure = true};

static char *digest_of(const char *s)
{
    char hex[BERTH_SHA256_HEX_LEN + 1];
    berth_sha256_buf(s, strlen(s), hex);
    return berth_asprintf("sha256:%s", hex);
}

/* A config naming n diff IDs (the sha256 of "layer<i>") and a user. */
static char *config_json(int n, const char *user)
{
    char *s = berth_asprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":"
                             "\"%s\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[",
                             user);
    for (int i = 0; i < n; i++) {
        BERTH_AUTO_FREE char *l = berth_asprintf("layer%d", i);
        BERTH_AUTO_FREE char *d = digest_of(l);
        char *t = berth_asprintf("%s%s\"%s\"", s, i ? "," : "", d);
        berth_free(s);
        s = t;
    }
    char *t = berth_asprintf("%s]}}", s);
    berth_free(s);
    return t;
}

static char *diff_id(int i)
{
    BERTH_AUTO_FREE char *l = berth_asprintf("layer%d", i);
    return digest_of(l);
}

/* Parses an OCI manifest with the given config descriptor and n layers
 * (blob digests of "blob<i>", 1000 bytes each) into img. */
static void make_image(berth_registry_image_t *img, const char *cdigest, long long csize, int n)
{
    BERTH_AUTO_FREE char *layers = berth_strdup("");
    for (int i = 0; i < n; i++) {
        BERTH_AUTO_FREE char *b = berth_asprintf("blob%d", i);
        BERTH_AUTO_FREE char *d = digest_of(b);
        char *t =
                berth_asprintf("%s%s{\"mediaType\":\"application/"
                               "vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":1000}",
                               layers, i ? "," : "", d);
        berth_free(layers);
        layers = t;
    }
    BERTH_AUTO_FREE char *m = berth_asprintf(
            "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"application/"
            "vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%lld},\"layers\":[%s]}",
            BERTH_MEDIA_OCI_MANIFEST, cdigest, csize, layers);
    memset(img, 0, sizeof(*img));
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_registry_manifest_parse(NULL, m, strlen(m), &img->parsed, &err) < 0)
        printf("# manifest: %s\n", err->msg);
    BERTH_AUTO_FREE char *top = digest_of(m);
    memcpy(img->top.digest, top, strlen(top) + 1);
}

/* A request with the default limits. */
static berth_pull_req_t *req_new(void)
{
    berth_pull_req_t *r = berth_pull_req_new("test/img:v1");
    r->limits.max_config_bytes = 4096;
    r->limits.max_layers = 3;
    return r;
}

/* Runs berth_pull_fetch for cref_s; returns the record or NULL with *err. */
static berth_store_image_t *fetch(berth_pull_req_t *r, const char *cref_s,
                                  const berth_registry_image_t *img, berth_err_t *err)
{
    berth_image_ref_t cref;
    if (berth_image_ref_parse(cref_s, &cref, err) < 0)
        return NULL;
    berth_store_image_t *rec = NULL;
    berth_pull_fetch(ctx, r, &nowhere, &cref, img, &rec, err);
    berth_image_ref_fini(&cref);
    return rec;
}

static bool has(const berth_err_t e, int kind, const char *needle)
{
    return e && e->kind == kind && strstr(e->msg, needle) != NULL;
}

static void put_layer(int i)
{
    BERTH_AUTO_FREE char *d = diff_id(i);
    BERTH_AUTO_FREE char *dir = berth_store_layer_dir(store, d);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_store_mkdir_p(dir, 0755, &err);
}

static void test_config_limits(void)
{
    berth_pull_req_t *r = req_new();
    berth_registry_image_t img;

    /* The descriptor says the config is too big: refused before a fetch
     * (a fetch from nowhere would be UNAVAILABLE). */
    BERTH_AUTO_FREE char *unseen = digest_of("not in the store");
    make_image(&img, unseen, 1 << 20, 0);
    BERTH_AUTO_ERR berth_err_t e1 = NULL;
    berth_store_image_t *rec = fetch(r, "127.0.0.1:5000/test/img:v1", &img, &e1);
    check(rec == NULL && has(e1, BERTH_ERR_EXHAUSTED, "max_config_bytes") &&
                  strstr(e1->msg, unseen) && strstr(e1->msg, "1048576 bytes"),
          "a config descriptor over max_config_bytes is refused before any fetch: %s",
          e1 ? e1->msg : "(none)");
    berth_registry_manifest_fini(&img.parsed);

    /* The descriptor lies small, the stored bytes are big: refused on read. */
    char big[6000];
    memset(big, ' ', sizeof(big) - 1);
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    big[sizeof(big) - 1] = '\0';
    BERTH_AUTO_FREE char *bd = digest_of(big);
    BERTH_AUTO_ERR berth_err_t pe = NULL;
    berth_store_blob_put(store, bd, big, strlen(big), &pe);
    make_image(&img, bd, 100, 0);
    BERTH_AUTO_ERR berth_err_t e2 = NULL;
    rec = fetch(r, "127.0.0.1:5000/test/img:v1", &img, &e2);
    check(rec == NULL && has(e2, BERTH_ERR_EXHAUSTED, "larger than a config may be"),
          "a stored config over the limit is refused however small its descriptor: %s",
          e2 ? e2->msg : "(none)");
    berth_registry_manifest_fini(&img.parsed);

    /* Not in the store: fetched from the endpoint, which is not there. */
    BERTH_AUTO_FREE char *cfg = config_json(0, "");
    BERTH_AUTO_FREE char *cd = digest_of(cfg);
    make_image(&img, cd, (long long)strlen(cfg), 0);
    BERTH_AUTO_ERR berth_err_t e3 = NULL;
    rec = fetch(r, "127.0.0.1:5000/test/img:v1", &img, &e3);
    BERTH_AUTO_FREE char *want = berth_asprintf("config %s", cd);
    check(rec == NULL && has(e3, BERTH_ERR_UNAVAILABLE, want),
          "a config the store lacks is fetched from the endpoint (refused here): %s",
          e3 ? e3->msg : "(none)");
    berth_registry_manifest_fini(&img.parsed);
    berth_pull_req_free(r);
}

static void test_config_checks(void)
{
    berth_pull_req_t *r = req_new();
    berth_registry_image_t img;

    /* More layers than allowed. */
    BERTH_AUTO_FREE char *c4 = config_json(4, "");
    BERTH_AUTO_FREE char *d4 = digest_of(c4);
    BERTH_AUTO_ERR berth_err_t pe = NULL;
    berth_store_blob_put(store, d4, c4, strlen(c4), &pe);
    make_image(&img, d4, (long long)strlen(c4), 4);
    BERTH_AUTO_ERR berth_err_t e1 = NULL;
    berth_store_image_t *rec = fetch(r, "127.0.0.1:5000/test/img:v1", &img, &e1);
    check(rec == NULL && has(e1, BERTH_ERR_EXHAUSTED, "max_image_layers") &&
                  strstr(e1->msg, "4 layers"),
          "an image with more layers than max_image_layers is refused: %s",
          e1 ? e1->msg : "(none)");
    berth_registry_manifest_fini(&img.parsed);

    /* The config's diff IDs do not pair with the manifest's layers. */
    BERTH_AUTO_FREE char *c1 = config_json(1, "");
    BERTH_AUTO_FREE char *d1 = digest_of(c1);
    berth_store_blob_put(store, d1, c1, strlen(c1), &pe);
    make_image(&img, d1, (long long)strlen(c1), 2);
    BERTH_AUTO_ERR berth_err_t e2 = NULL;
    rec = fetch(r, "127.0.0.1:5000/test/img:v1", &img, &e2);
    BERTH_AUTO_FREE char *want = berth_asprintf("image config %s", d1);
    check(rec == NULL && has(e2, BERTH_ERR_DATA_LOSS, want),
          "a config whose diff_ids do not pair with the layers is DATA_LOSS: %s",
          e2 ? e2->msg : "(none)");
    berth_registry_manifest_fini(&img.parsed);

    /* A config that is not JSON. */
    const char *junk = "this is not an image config";
    BERTH_AUTO_FREE char *dj = digest_of(junk);
    berth_store_blob_put(store, dj, junk, strlen(junk), &pe);
    make_image(&img, dj, (long long)strlen(junk), 0);
    BERTH_AUTO_ERR berth_err_t e3 = NULL;
    rec = fetch(r, "127.0.0.1:5000/test/img:v1", &img, &e3);
    check(rec == NULL && has(e3, BERTH_ERR_INVALID, "image config"),
          "a config that is not JSON is INVALID_ARGUMENT: %s", e3 ? e3->msg : "(none)");
    berth_registry_manifest_fini(&img.parsed);
    berth_pull_req_free(r);
}

static void test_record(void)
{
    berth_pull_req_t *r = req_new();
    berth_registry_image_t img;
    BERTH_AUTO_FREE char *cfg = config_json(2, "www-data:1004");
    BERTH_AUTO_FREE char *cd = digest_of(cfg);
    BERTH_AUTO_ERR berth_err_t pe = NULL;
    berth_store_blob_put(store, cd, cfg, strlen(cfg), &pe);
    put_layer(0);
    put_layer(1);
    make_image(&img, cd, (long long)strlen(cfg), 2);

    BERTH_AUTO_ERR berth_err_t e1 = NULL;
    berth_store_image_t *rec = fetch(r, "127.0.0.1:5000/test/img:v1", &img, &e1);
    check(rec != NULL, "layers already in the store are not fetched again: %s",
          e1 ? e1->msg : "ok");
    if (rec) {
        BERTH_AUTO_FREE char *tag = berth_strdup("127.0.0.1:5000/test/img:v1");
        BERTH_AUTO_FREE char *dg = berth_asprintf("127.0.0.1:5000/test/img@%s", img.top.digest);
        BERTH_AUTO_FREE char *l0 = diff_id(0);
        BERTH_AUTO_FREE char *l1 = diff_id(1);
        check(strcmp(rec->id, cd) == 0 && rec->diff_ids, "the record's ID is the config digest");
        check(rec->n_tags == 1 && strcmp(rec->tags[0], tag) == 0 && rec->n_digests == 1 &&
                      strcmp(rec->digests[0], dg) == 0,
              "the record is named by the candidate: tag and repo digest of what it named");
        check(rec->n_layers == 2 && strcmp(rec->layers[0], l0) == 0 &&
                      strcmp(rec->layers[1], l1) == 0,
              "the record's layers are the config's diff IDs, bottom first");
        check(rec->size == strlen(cfg) + 2000 && strcmp(rec->user, "www-data:1004") == 0 &&
                      strcmp(rec->config, cfg) == 0 && rec->pulled_at > 0,
              "size (config + compressed layers), user, config bytes and pull time");
    }
    berth_store_image_free(rec);

    /* By digest: no tag, the repo digest only. */
    BERTH_AUTO_FREE char *bydg = berth_asprintf("127.0.0.1:5000/test/img@%s", img.top.digest);
    BERTH_AUTO_ERR berth_err_t e2 = NULL;
    rec = fetch(r, bydg, &img, &e2);
    check(rec && rec->n_tags == 0 && rec->n_digests == 1 && strcmp(rec->digests[0], bydg) == 0,
          "a pull by digest gets no tag");
    berth_store_image_free(rec);
    berth_registry_manifest_fini(&img.parsed);

    /* A layer the store lacks is fetched from the endpoint. */
    BERTH_AUTO_FREE char *c3 = config_json(3, "");
    BERTH_AUTO_FREE char *d3 = digest_of(c3);
    berth_store_blob_put(store, d3, c3, strlen(c3), &pe);
    make_image(&img, d3, (long long)strlen(c3), 3);
    BERTH_AUTO_ERR berth_err_t e3 = NULL;
    rec = fetch(r, "127.0.0.1:5000/test/img:v1", &img, &e3);
    check(rec == NULL && has(e3, BERTH_ERR_UNAVAILABLE, "layer 3/3 sha256:"),
          "a missing layer is fetched (refused here) and named n/total: %s",
          e3 ? e3->msg : "(none)");
    berth_registry_manifest_fini(&img.parsed);
    berth_pull_req_free(r);
}

static void test_fold(void)
{
    berth_err_t best = NULL, a = NULL, b = NULL, c = NULL;
    berth_err_make(&a, ENOENT, BERTH_ERR_NOT_FOUND, "mirror: not found");
    berth_err_make(&b, EIO, BERTH_ERR_UNAVAILABLE, "registry: unreachable");
    berth_err_make(&c, ENOENT, BERTH_ERR_NOT_FOUND, "other: not found");
    berth_pull_fold_err(&best, &a);
    berth_pull_fold_err(&best, &b);
    berth_pull_fold_err(&best, &c);
    check(a == NULL && b == NULL && c == NULL && best && best->kind == BERTH_ERR_UNAVAILABLE &&
                  strcmp(best->msg, "mirror: not found; registry: unreachable; other: not "
                                    "found") == 0,
          "folded errors: anything beats NOT_FOUND, later NOT_FOUND does not; every message in "
          "order: %s",
          best ? best->msg : "(none)");
    berth_err_free(&best);
}

static void test_run(void)
{
    /* Candidates without endpoints: their errors, the most telling code. */
    berth_pull_req_t *r = req_new();
    berth_err_t e = NULL;
    berth_err_make(&e, ENOENT, BERTH_ERR_NOT_FOUND, "a: not found");
    berth_pull_req_add(r, "a.io/test/img:v1", &e);
    berth_err_make(&e, EPERM, BERTH_ERR_DENIED, "registry b.io is blocked");
    berth_pull_req_add(r, "b.io/test/img:v1", &e);
    BERTH_AUTO_ERR berth_err_t e1 = NULL;
    berth_store_image_t *rec = berth_pull_run(ctx, r, &e1);
    check(rec == NULL && e1 && e1->kind == BERTH_ERR_DENIED &&
                  strcmp(e1->msg, "pulling image \"test/img:v1\": a: not found; registry b.io "
                                  "is blocked") == 0,
          "candidates without endpoints fold their errors in order: %s", e1 ? e1->msg : "");
    berth_pull_req_free(r);

    r = req_new();
    BERTH_AUTO_ERR berth_err_t e2 = NULL;
    rec = berth_pull_run(ctx, r, &e2);
    check(rec == NULL && has(e2, BERTH_ERR_NOT_FOUND, "no registry to pull from"),
          "no candidate: NOT_FOUND");
    berth_pull_req_free(r);

    /* A mirror then the registry, both unreachable: both named. */
    r = req_new();
    berth_pull_candidate_t *c = berth_pull_req_add(r, "127.0.0.1:5000/test/img:v1", NULL);
    berth_pull_candidate_add_endpoint(c, "127.0.0.1:1", "mirror/test/img", true);
    berth_pull_candidate_add_endpoint(c, "127.0.0.1:1", "test/img", true);
    BERTH_AUTO_ERR berth_err_t e3 = NULL;
    rec = berth_pull_run(ctx, r, &e3);
    check(rec == NULL && has(e3, BERTH_ERR_UNAVAILABLE, "127.0.0.1:1/mirror/test/img: ") &&
                  strstr(e3->msg, "; 127.0.0.1:1/test/img: "),
          "each endpoint is tried in order and named in the error: %s", e3 ? e3->msg : "");
    berth_pull_req_free(r);
}

/* ---- the answer through the engine ---- */

enum { MSG_GO = 300 };
static struct {
    uint64_t tag;
    bool image;
    int kind;
} done;

static void asker_receive(berth_actor_t *self, berth_msg_t *msg)
{
    if (msg->type == MSG_GO) {
        berth_pull_req_t *r = req_new();
        berth_pull_candidate_t *c = berth_pull_req_add(r, "127.0.0.1:5000/test/img:v1", NULL);
        berth_pull_candidate_add_endpoint(c, "127.0.0.1:1", "test/img", true);
        berth_pull_start(ctx, r, berth_actor_self(self), 42);
    } else if (msg->type == BERTH_MSG_PULL_DONE) {
        berth_pull_done_msg_t *d = (berth_pull_done_msg_t *)msg;
        done.tag = d->tag;
        done.image = d->image != NULL;
        done.kind = d->error ? d->error->kind : 0;
        berth_actor_exit(self);
        berth_engine_stop();
    }
    berth_msg_free(msg);
}

static const berth_actor_class_t asker_class = {
        .name = "pull-test", .receive = asker_receive, .fini = berth_free};

static int test_start(void)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_engine_config_t cfg = {.workers = 1};
    if (berth_engine_start(&cfg, &err) < 0) {
        printf("# engine: %s\n", err->msg);
        return -1;
    }
    berth_handle_t h = berth_actor_spawn(&asker_class, berth_calloc(1, sizeof(int)));
    berth_send(h, berth_msg_new(MSG_GO, sizeof(berth_msg_t)));
    berth_engine_join();
    berth_blocking_shutdown();
    check(done.tag == 42 && !done.image && done.kind == BERTH_ERR_UNAVAILABLE,
          "berth_pull_start answers by message with its tag and the error");
    return 0;
}

int main(void)
{
    alarm(120);
    char tmpl[] = "/tmp/berth-pull-XXXXXX";
    char *root = mkdtemp(tmpl);
    if (root == NULL)
        return 1;
    const char *insecure[] = {"127.0.0.1:1", NULL};
    berth_pull_opts_t o = {.root = root, .insecure_hosts = insecure, .arch = "amd64"};
    ctx = berth_pull_ctx_new(&o);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (!check(berth_pull_ctx_open(ctx, &err) == 0, "the store opens under a temp root"))
        return 1;
    store = berth_pull_ctx_store(ctx);
    check(strcmp(berth_pull_ctx_arch(ctx), "amd64") == 0, "the platform is the one given");

    test_config_limits();
    test_config_checks();
    test_record();
    test_fold();
    test_run();
    int rc = test_start();

    berth_pull_ctx_unref(ctx);
    berth_fs_remove_tree(root);
    printf("1..%d\n", ntest);
    if (rc < 0)
        return 77;
    return nfail ? 1 : 0;
}
