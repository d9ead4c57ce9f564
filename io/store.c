// SPDX-License-Identifier: Apache-2.0
/*
 * The image store on disk (see store.h): records, blobs, shared layers and
 * their garbage collection. Every write goes to a temp name first and is
 * renamed into place after fsync, so a crash at any step leaves either the
 * old or the new state plus temp leftovers that berth_store_open removes.
 * Nothing here may run in an actor turn: it all blocks on the disk.
 */
#include "io/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/digest.h"
#include "io/fs.h"

#define TMP_PREFIX ".tmp-"

struct berth_store {
    char *dir;    /* <root>/storage */
    char *blobs;  /* <dir>/blobs/sha256 */
    char *layers; /* <dir>/layers */
    char *images; /* <dir>/images */
};

/* ---- records ------------------------------------------------------------ */

bool berth_store_strv_add(char ***v, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*v)[i], s) == 0)
            return false;
    }
    *v = berth_realloc(*v, (*n + 2) * sizeof(char *));
    (*v)[(*n)++] = berth_strdup(s);
    (*v)[*n] = NULL;
    return true;
}

bool berth_store_strv_del(char ***v, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*v)[i], s) != 0)
            continue;
        berth_free((*v)[i]);
        memmove(&(*v)[i], &(*v)[i + 1], (*n - i) * sizeof(char *)); /* moves the NULL too */
        (*n)--;
        return true;
    }
    return false;
}

berth_store_image_t *berth_store_image_new(void)
{
    berth_store_image_t *img = berth_calloc(1, sizeof(*img));
    img->tags = berth_calloc(1, sizeof(char *));
    img->digests = berth_calloc(1, sizeof(char *));
    img->layers = berth_calloc(1, sizeof(char *));
    img->user = berth_strdup("");
    img->config = berth_strdup("{}");
    return img;
}

berth_store_image_t *berth_store_image_dup(const berth_store_image_t *img)
{
    berth_store_image_t *c = berth_calloc(1, sizeof(*c));
    *c = *img;
    c->id = img->id ? berth_strdup(img->id) : NULL;
    c->tags = berth_strv_dup(img->tags, (ssize_t)img->n_tags);
    c->digests = berth_strv_dup(img->digests, (ssize_t)img->n_digests);
    c->layers = berth_strv_dup(img->layers, (ssize_t)img->n_layers);
    c->config = berth_strdup(img->config ? img->config : "{}");
    c->user = berth_strdup(img->user ? img->user : "");
    return c;
}

void berth_store_image_free(berth_store_image_t *img)
{
    if (img == NULL)
        return;
    berth_free(img->id);
    berth_strv_free(img->tags); /* NULL-terminated, see store.h */
    berth_strv_free(img->digests);
    berth_strv_free(img->layers);
    berth_free(img->config);
    berth_free(img->user);
    berth_free(img);
}

void berth_store_images_free(berth_store_image_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        berth_store_image_free(v[i]);
    berth_free(v);
}

static json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* jansson may allocate through berth's allocator (berthd sets it) or libc's
 * (tests): free its output with whatever it was told to use. */
static void json_out_free(char *p)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    f(p);
}

char *berth_store_image_to_json(const berth_store_image_t *img)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(img->id));
    json_object_set_new(o, "repoTags", strv_json(img->tags, img->n_tags));
    json_object_set_new(o, "repoDigests", strv_json(img->digests, img->n_digests));
    json_object_set_new(o, "layers", strv_json(img->layers, img->n_layers));
    json_object_set_new(o, "size", json_integer((json_int_t)img->size));
    json_object_set_new(o, "config", json_string(img->config ? img->config : "{}"));
    json_object_set_new(o, "user", json_string(img->user ? img->user : ""));
    json_object_set_new(o, "pinned", json_boolean(img->pinned));
    if (img->diff_ids)
        json_object_set_new(o, "layersAreDiffIDs", json_true());
    if (img->artifact)
        json_object_set_new(o, "artifact", json_true());
    json_object_set_new(o, "pulledAt", json_integer((json_int_t)img->pulled_at));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    char *out = berth_strdup(text);
    json_out_free(text);
    return out;
}

static int strv_from_json(json_t *a, const char *what, bool digests, char ***v, size_t *n,
                          berth_err_t *err)
{
    *v = berth_calloc(1, sizeof(char *));
    *n = 0;
    if (a == NULL)
        return 0;
    if (!json_is_array(a))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s is not an array", what);
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        const char *s = json_string_value(e);
        if (s == NULL || (digests && !berth_digest_valid(s)))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s[%zu] is not a valid entry",
                                  what, i);
        berth_store_strv_add(v, n, s);
    }
    return 0;
}

berth_store_image_t *berth_store_image_from_json(const char *text, size_t len, berth_err_t *err)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, 0, &jerr);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "image record is not JSON: %s", jerr.text);
        return NULL;
    }
    berth_store_image_t *img = berth_calloc(1, sizeof(*img));
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *config = json_string_value(json_object_get(o, "config"));
    const char *user = json_string_value(json_object_get(o, "user"));
    if (id == NULL || !berth_digest_valid(id)) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "image record has no valid id");
        goto fail;
    }
    img->id = berth_strdup(id);
    img->config = berth_strdup(config ? config : "{}");
    img->user = berth_strdup(user ? user : "");
    img->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
    img->pinned = json_is_true(json_object_get(o, "pinned"));
    img->diff_ids = json_is_true(json_object_get(o, "layersAreDiffIDs"));
    img->artifact = json_is_true(json_object_get(o, "artifact"));
    img->pulled_at = (int64_t)json_integer_value(json_object_get(o, "pulledAt"));
    if (strv_from_json(json_object_get(o, "repoTags"), "repoTags", false, &img->tags, &img->n_tags,
                       err) < 0 ||
        strv_from_json(json_object_get(o, "repoDigests"), "repoDigests", false, &img->digests,
                       &img->n_digests, err) < 0 ||
        strv_from_json(json_object_get(o, "layers"), "layers", true, &img->layers, &img->n_layers,
                       err) < 0)
        goto fail;
    json_decref(o);
    return img;
fail:
    json_decref(o);
    if (img->tags == NULL)
        img->tags = berth_calloc(1, sizeof(char *));
    if (img->digests == NULL)
        img->digests = berth_calloc(1, sizeof(char *));
    if (img->layers == NULL)
        img->layers = berth_calloc(1, sizeof(char *));
    berth_store_image_free(img);
    return NULL;
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

bool berth_store_image_matches(const berth_store_image_t *img, const char *name)
{
    if (name == NULL || *name == '\0')
        return false;
    if (strcmp(img->id, name) == 0)
        return true;
    /* Bare hex or a prefix of it (what `crictl images` shows); 12 digits keep
     * a prefix from matching by accident. */
    const char *hex = img->id + strlen("sha256:");
    const char *q = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
    size_t ql = strlen(q);
    if (ql >= 12 && ql <= BERTH_SHA256_HEX_LEN && is_hex(q, ql) && strncmp(hex, q, ql) == 0)
        return true;
    for (size_t i = 0; i < img->n_tags; i++) {
        if (strcmp(img->tags[i], name) == 0)
            return true;
    }
    for (size_t i = 0; i < img->n_digests; i++) {
        if (strcmp(img->digests[i], name) == 0)
            return true;
    }
    return false;
}

/* ---- the store ---------------------------------------------------------- */

/* Kept for its callers (overlay, images); io/fs.h has the one mkdir -p. */
int berth_store_mkdir_p(const char *path, unsigned mode, berth_err_t *err)
{
    return berth_fs_mkdir_p(path, (mode_t)mode, err);
}

/* Removes entries named TMP_PREFIX* in dir: leftovers of interrupted writes. */
/* Calls fn with the path of every entry named TMP_PREFIX* in dir. */
static void each_tmp(const char *dir, void (*fn)(const char *path, void *ctx), void *ctx)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
            continue;
        BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", dir, de->d_name);
        fn(p, ctx);
    }
    closedir(d);
}

static void remove_tmp(const char *p, void *ctx)
{
    (void)ctx;
    BERTH_AUTO_ERR berth_err_t e = NULL;
    if (unlink(p) < 0 && berth_unpack_remove_tree(p, &e) < 0)
        berth_log_warn("cannot remove a temp leftover", "path=%s error=\"%s\"", p, e->msg);
}

static void sweep_tmp(const char *dir)
{
    each_tmp(dir, remove_tmp, NULL);
}

berth_store_t *berth_store_open(const char *root, berth_err_t *err)
{
    berth_store_t *s = berth_calloc(1, sizeof(*s));
    s->dir = berth_asprintf("%s/storage", root);
    s->blobs = berth_asprintf("%s/blobs/sha256", s->dir);
    s->layers = berth_asprintf("%s/layers", s->dir);
    s->images = berth_asprintf("%s/images", s->dir);
    if (berth_store_mkdir_p(s->dir, 0700, err) < 0 ||
        berth_store_mkdir_p(s->blobs, 0700, err) < 0 ||
        berth_store_mkdir_p(s->layers, 0700, err) < 0 ||
        berth_store_mkdir_p(s->images, 0700, err) < 0) {
        berth_store_free(s);
        return NULL;
    }
    sweep_tmp(s->blobs);
    sweep_tmp(s->layers);
    sweep_tmp(s->images);
    return s;
}

void berth_store_free(berth_store_t *s)
{
    if (s == NULL)
        return;
    berth_free(s->dir);
    berth_free(s->blobs);
    berth_free(s->layers);
    berth_free(s->images);
    berth_free(s);
}

const char *berth_store_dir(const berth_store_t *s)
{
    return s->dir;
}

static const char *hex_of(const char *digest)
{
    return digest + strlen("sha256:");
}

char *berth_store_blob_path(const berth_store_t *s, const char *digest)
{
    return berth_asprintf("%s/%s", s->blobs, hex_of(digest));
}

char *berth_store_layer_dir(const berth_store_t *s, const char *digest)
{
    return berth_asprintf("%s/%s/diff", s->layers, hex_of(digest));
}

bool berth_store_blob_exists(const berth_store_t *s, const char *digest)
{
    BERTH_AUTO_FREE char *p = berth_store_blob_path(s, digest);
    return access(p, F_OK) == 0;
}

bool berth_store_layer_exists(const berth_store_t *s, const char *digest)
{
    BERTH_AUTO_FREE char *p = berth_store_layer_dir(s, digest);
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int read_file(const char *path, char **out, size_t *len, berth_err_t *err)
{
    BERTH_AUTO_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return berth_err_errno(err, errno, "cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return berth_err_errno(err, errno, "cannot stat %s", path);
    if (st.st_size > (64 << 20))
        return berth_err_make(err, EFBIG, BERTH_ERR_DATA_LOSS, "%s is too large (%lld bytes)", path,
                              (long long)st.st_size);
    char *buf = berth_malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            berth_free(buf);
            return berth_err_errno(err, e, "cannot read %s", path);
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

int berth_store_blob_put(berth_store_t *s, const char *digest, const void *data, size_t len,
                         berth_err_t *err)
{
    if (!berth_digest_valid(digest))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid digest %s", digest);
    char hex[BERTH_SHA256_HEX_LEN + 1];
    berth_sha256_buf(data, len, hex);
    if (strcmp(hex, hex_of(digest)) != 0)
        return berth_err_make(err, EILSEQ, BERTH_ERR_DATA_LOSS,
                              "blob content has digest sha256:%s, expected %s", hex, digest);
    BERTH_AUTO_FREE char *p = berth_store_blob_path(s, digest);
    return berth_file_write_atomic(p, data, len, 0600, err);
}

static uint64_t tmp_counter(void)
{
    /* Uniqueness across pool threads and processes: pid + a per-process
     * counter. Relaxed suffices: only distinctness of the values matters. */
    static uint64_t n;
    return __atomic_add_fetch(&n, 1, __ATOMIC_RELAXED);
}

/* Makes the unpacked tree durable (syncfs covers it in one call) and moves
 * it into place; 1 when another pull put the same layer there first. */
static int layer_commit(berth_store_t *s, const char *diff_id, const char *tmp, const char *final,
                        berth_err_t *err)
{
    BERTH_AUTO_CLOSE int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        syncfs(dfd);
    if (rename(tmp, final) == 0)
        return 0;
    int e = errno;
    if ((e == ENOTEMPTY || e == EEXIST) && berth_store_layer_exists(s, diff_id))
        return 1;
    return berth_err_errno(err, e, "cannot move the layer into place");
}

int berth_store_layer_unpack(berth_store_t *s, const char *diff_id, const char *blob_path,
                             berth_unpack_stats_t *stats, berth_err_t *err)
{
    return berth_store_layer_unpack_limited(s, diff_id, blob_path, NULL, stats, err);
}

int berth_store_layer_unpack_limited(berth_store_t *s, const char *diff_id, const char *blob_path,
                                     const berth_unpack_limits_t *limits,
                                     berth_unpack_stats_t *stats, berth_err_t *err)
{
    if (!berth_digest_valid(diff_id))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid diff ID %s", diff_id);
    if (berth_store_layer_exists(s, diff_id))
        return 0;
    BERTH_AUTO_FREE char *final = berth_asprintf("%s/%s", s->layers, hex_of(diff_id));
    BERTH_AUTO_FREE char *tmp = berth_asprintf("%s/" TMP_PREFIX "%d-%llu", s->layers, (int)getpid(),
                                               (unsigned long long)tmp_counter());
    BERTH_AUTO_FREE char *diff = berth_asprintf("%s/diff", tmp);
    if (mkdir(tmp, 0700) < 0)
        return berth_err_errno(err, errno, "cannot create %s", tmp);
    berth_unpack_stats_t st = {0};
    int r = berth_unpack_layer(blob_path, diff, limits, &st, err);
    if (stats != NULL)
        *stats = st;
    /* The content must be what the image's config says, or one image's
     * layers could be served under another's ID (the layer is keyed by it). */
    if (r == 0 && strcmp(st.diff_id, diff_id) != 0)
        r = berth_err_make(err, EBADMSG, BERTH_ERR_DATA_LOSS,
                           "its uncompressed content is %s, but the image config's "
                           "rootfs.diff_ids names %s",
                           st.diff_id, diff_id);
    if (r == 0)
        r = layer_commit(s, diff_id, tmp, final, err);
    if (r == 0)
        return 0;
    berth_unpack_remove_tree(tmp, NULL);
    if (r > 0)
        return 0; /* another pull unpacked the same layer first: use theirs */
    return -1;    /* the caller names the layer */
}

int berth_store_file_layer_put(berth_store_t *s, const char *key, const char *blob_path,
                               const char *name, berth_err_t *err)
{
    if (!berth_digest_valid(key))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid layer key %s", key);
    if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid file layer name \"%s\"",
                              name ? name : "");
    if (berth_store_layer_exists(s, key))
        return 0;
    BERTH_AUTO_FREE char *final = berth_asprintf("%s/%s", s->layers, hex_of(key));
    BERTH_AUTO_FREE char *tmp = berth_asprintf("%s/" TMP_PREFIX "%d-%llu", s->layers, (int)getpid(),
                                               (unsigned long long)tmp_counter());
    BERTH_AUTO_FREE char *diff = berth_asprintf("%s/diff", tmp);
    BERTH_AUTO_FREE char *file = berth_asprintf("%s/%s", diff, name);
    if (mkdir(tmp, 0700) < 0)
        return berth_err_errno(err, errno, "cannot create %s", tmp);
    int r = 0;
    if (mkdir(diff, 0755) < 0)
        r = berth_err_errno(err, errno, "cannot create %s", diff);
    /* The blob sits in the same store: a rename, never a copy of a model. */
    if (r == 0 && rename(blob_path, file) < 0)
        r = berth_err_errno(err, errno, "cannot move the blob %s into the layer", blob_path);
    if (r == 0 && chmod(file, 0644) < 0)
        r = berth_err_errno(err, errno, "cannot make %s readable", file);
    if (r == 0)
        r = layer_commit(s, key, tmp, final, err);
    if (r == 0)
        return 0;
    berth_unpack_remove_tree(tmp, NULL);
    return r > 0 ? 0 : -1;
}

int berth_store_image_write(berth_store_t *s, const berth_store_image_t *img, berth_err_t *err)
{
    if (!berth_digest_valid(img->id))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid image id %s",
                              img->id ? img->id : "(none)");
    BERTH_AUTO_FREE char *text = berth_store_image_to_json(img);
    BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s.json", s->images, hex_of(img->id));
    if (berth_file_write_atomic(p, text, strlen(text), 0600, err) < 0)
        return berth_err_prefix(err, "cannot write the record of image %s", img->id);
    return 0;
}

int berth_store_image_delete(berth_store_t *s, const char *id, berth_err_t *err)
{
    if (!berth_digest_valid(id))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid image id %s", id);
    BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s.json", s->images, hex_of(id));
    if (unlink(p) < 0 && errno != ENOENT)
        return berth_err_errno(err, errno, "cannot remove the record of image %s", id);
    BERTH_AUTO_CLOSE int dfd = open(s->images, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
    return 0;
}

static bool record_name(const char *name)
{
    size_t l = strlen(name);
    return l == BERTH_SHA256_HEX_LEN + 5 && strcmp(name + BERTH_SHA256_HEX_LEN, ".json") == 0 &&
           is_hex(name, BERTH_SHA256_HEX_LEN);
}

int berth_store_load(berth_store_t *s, berth_store_image_t ***out, size_t *n, berth_err_t *err)
{
    DIR *d = opendir(s->images);
    if (d == NULL)
        return berth_err_errno(err, errno, "cannot read %s", s->images);
    berth_store_image_t **v = NULL;
    size_t cnt = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!record_name(de->d_name))
            continue;
        BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", s->images, de->d_name);
        BERTH_AUTO_FREE char *text = NULL;
        size_t len = 0;
        BERTH_AUTO_ERR berth_err_t e = NULL;
        berth_store_image_t *img = NULL;
        if (read_file(p, &text, &len, &e) == 0)
            img = berth_store_image_from_json(text, len, &e);
        if (img == NULL) {
            berth_log_warn("skipping an unreadable image record", "path=%s error=\"%s\"", p,
                           e ? e->msg : "?");
            continue;
        }
        if (strncmp(hex_of(img->id), de->d_name, BERTH_SHA256_HEX_LEN) != 0) {
            berth_log_warn("skipping an image record stored under another id", "path=%s id=%s", p,
                           img->id);
            berth_store_image_free(img);
            continue;
        }
        v = berth_realloc(v, (cnt + 1) * sizeof(*v));
        v[cnt++] = img;
    }
    closedir(d);
    *out = v;
    *n = cnt;
    return 0;
}

/* ---- garbage collection -------------------------------------------------- */

static bool in_list(char *const *v, size_t n, const char *hex)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i], hex) == 0)
            return true;
    }
    return false;
}

int berth_store_gc(berth_store_t *s, berth_store_gc_stats_t *stats, berth_err_t *err)
{
    berth_store_gc_stats_t st = {0};
    berth_store_image_t **imgs = NULL;
    size_t n = 0;
    if (berth_store_load(s, &imgs, &n, err) < 0)
        return -1;
    /* The live sets, as hex: every record's layers and its config blob. */
    char **live_layers = berth_calloc(1, sizeof(char *)),
         **live_blobs = berth_calloc(1, sizeof(char *));
    size_t nl = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        berth_store_strv_add(&live_blobs, &nb, hex_of(imgs[i]->id));
        for (size_t j = 0; j < imgs[i]->n_layers; j++)
            berth_store_strv_add(&live_layers, &nl, hex_of(imgs[i]->layers[j]));
    }
    berth_store_images_free(imgs, n);
    int ret = 0;
    const char *dirs[] = {s->layers, s->blobs};
    for (int k = 0; k < 2 && ret == 0; k++) {
        DIR *d = opendir(dirs[k]);
        if (d == NULL) {
            ret = berth_err_errno(err, errno, "cannot read %s", dirs[k]);
            break;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strlen(de->d_name) != BERTH_SHA256_HEX_LEN ||
                !is_hex(de->d_name, BERTH_SHA256_HEX_LEN))
                continue;
            if (k == 0 ? in_list(live_layers, nl, de->d_name) : in_list(live_blobs, nb, de->d_name))
                continue;
            BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", dirs[k], de->d_name);
            BERTH_AUTO_ERR berth_err_t e = NULL;
            if (k == 0) {
                /* Rename first so a crash mid-removal leaves a temp name
                 * (swept at open), never a half-deleted layer under its
                 * real name. */
                BERTH_AUTO_FREE char *tmp =
                        berth_asprintf("%s/" TMP_PREFIX "gc-%d-%llu", dirs[k], (int)getpid(),
                                       (unsigned long long)tmp_counter());
                if (rename(p, tmp) < 0 || berth_unpack_remove_tree(tmp, &e) < 0) {
                    berth_log_warn("cannot remove an unused layer", "path=%s error=\"%s\"", p,
                                   e ? e->msg : strerror(errno));
                    continue;
                }
                st.layers_removed++;
            } else {
                if (unlink(p) < 0) {
                    berth_log_warn("cannot remove an unused blob", "path=%s error=\"%s\"", p,
                                   strerror(errno));
                    continue;
                }
                st.blobs_removed++;
            }
        }
        closedir(d);
    }
    berth_strv_free(live_layers);
    berth_strv_free(live_blobs);
    if (stats)
        *stats = st;
    return ret;
}

/* ---- usage --------------------------------------------------------------- */

/* Inodes with several links (busybox applets, say) are counted once. */
typedef struct ino_set {
    uint64_t *v; /* open addressing, 0 = empty (ino 0 never names a file) */
    size_t cap, n;
} ino_set_t;

static bool ino_set_add(ino_set_t *s, uint64_t ino)
{
    if (s->n * 2 >= s->cap) {
        ino_set_t g = {berth_calloc(s->cap ? s->cap * 2 : 256, sizeof(uint64_t)),
                       s->cap ? s->cap * 2 : 256, 0};
        for (size_t i = 0; i < s->cap; i++) {
            if (s->v[i])
                ino_set_add(&g, s->v[i]);
        }
        berth_free(s->v);
        *s = g;
    }
    size_t i = (size_t)(ino * 0x9E3779B97F4A7C15ull) & (s->cap - 1);
    while (s->v[i]) {
        if (s->v[i] == ino)
            return false;
        i = (i + 1) & (s->cap - 1);
    }
    s->v[i] = ino;
    s->n++;
    return true;
}

static int usage_walk(int dfd, dev_t dev, ino_set_t *seen, uint64_t *bytes, uint64_t *inodes,
                      uint64_t max_inodes, int depth)
{
    if (depth > 256 || *inodes >= max_inodes) {
        close(dfd);
        return 0;
    }
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        return -errno;
    }
    struct dirent *de;
    while (*inodes < max_inodes && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* removed meanwhile */
        if (st.st_dev != dev)
            continue; /* a mount (a container's rootfs): not ours to count */
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && !ino_set_add(seen, (uint64_t)st.st_ino))
            continue;
        (*inodes)++;
        *bytes += (uint64_t)st.st_blocks * 512;
        if (S_ISDIR(st.st_mode)) {
            int c = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (c >= 0)
                usage_walk(c, dev, seen, bytes, inodes, max_inodes, depth + 1);
        }
    }
    closedir(d);
    return 0;
}

int berth_store_usage(const char *dir, uint64_t *bytes, uint64_t *inodes, berth_err_t *err)
{
    return berth_store_usage_max(dir, UINT64_MAX, bytes, inodes, err);
}

int berth_store_usage_max(const char *dir, uint64_t max_inodes, uint64_t *bytes, uint64_t *inodes,
                          berth_err_t *err)
{
    *bytes = 0;
    *inodes = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return berth_err_errno(err, errno, "cannot open %s", dir);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return berth_err_errno(err, e, "cannot stat %s", dir);
    }
    *inodes = 1;
    *bytes = (uint64_t)st.st_blocks * 512;
    ino_set_t seen = {0};
    int r = usage_walk(fd, st.st_dev, &seen, bytes, inodes, max_inodes, 0);
    berth_free(seen.v);
    if (r < 0)
        return berth_err_errno(err, -r, "cannot read %s", dir);
    return 0;
}

/* ---- consistency check ------------------------------------------------------ */

/* One finding: printed by the caller, counted. */
static void finding(berth_store_check_t *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void finding(berth_store_check_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = berth_vasprintf(fmt, ap);
    va_end(ap);
    if (c->report)
        c->report(c->ctx, line);
    berth_free(line);
    c->problems++;
}

/* Removes a file or tree; counts a repair. */
static void repair_remove(berth_store_check_t *c, const char *path, const char *what)
{
    BERTH_AUTO_ERR berth_err_t e = NULL;
    if (berth_unpack_remove_tree(path, &e) < 0 && unlink(path) < 0 && errno != ENOENT) {
        finding(c, "cannot remove %s %s: %s", what, path, e ? e->msg : strerror(errno));
        return;
    }
    c->repaired++;
}

/* A temp leftover of an interrupted write, unpack or removal. */
static void report_tmp(const char *p, void *ctx)
{
    berth_store_check_t *c = ctx;
    finding(c, "leftover of an interrupted write: %s", p);
    if (c->repair)
        repair_remove(c, p, "leftover");
}

static void check_tmp(berth_store_check_t *c, const char *dir)
{
    each_tmp(dir, report_tmp, c);
}

int berth_store_check(const char *root, berth_store_check_t *c, berth_err_t *err)
{
    c->problems = c->repaired = c->images = c->layers = c->blobs = 0;
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/storage", root);
    struct stat st;
    if (stat(dir, &st) < 0) {
        if (errno == ENOENT)
            return 0; /* no store yet: nothing to check */
        return berth_err_errno(err, errno, "cannot read %s", dir);
    }
    /* Opened by hand: berth_store_open sweeps temp leftovers, which a check
     * without --repair only reports. */
    berth_store_t s = {
            .dir = dir,
            .blobs = berth_asprintf("%s/blobs/sha256", dir),
            .layers = berth_asprintf("%s/layers", dir),
            .images = berth_asprintf("%s/images", dir),
    };
    check_tmp(c, s.blobs);
    check_tmp(c, s.layers);
    check_tmp(c, s.images);

    /* Records: each must parse, sit under its own ID, have its config blob
     * (whose digest is the ID) and every layer it lists. A broken record is
     * removed by --repair: the image is pulled again when next asked for. */
    DIR *d = opendir(s.images);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (de->d_name[0] == '.' || nl < 5 || strcmp(de->d_name + nl - 5, ".json") != 0)
            continue;
        BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", s.images, de->d_name);
        BERTH_AUTO_FREE char *text = NULL;
        size_t len = 0;
        BERTH_AUTO_ERR berth_err_t e = NULL;
        berth_store_image_t *img = NULL;
        if (read_file(p, &text, &len, &e) == 0)
            img = berth_store_image_from_json(text, len, &e);
        char why[300] = "";
        if (img == NULL) {
            snprintf(why, sizeof(why), "does not parse: %s", e ? e->msg : "?");
        } else if (strncmp(hex_of(img->id), de->d_name, BERTH_SHA256_HEX_LEN) != 0) {
            snprintf(why, sizeof(why), "holds image %s", img->id);
        } else {
            BERTH_AUTO_FREE char *cfgp = berth_store_blob_path(&s, img->id);
            char hex[BERTH_SHA256_HEX_LEN + 1];
            BERTH_AUTO_ERR berth_err_t he = NULL;
            if (berth_sha256_file(cfgp, hex, &he) < 0)
                snprintf(why, sizeof(why), "its config blob is missing (%s)", he->msg);
            else if (strcmp(hex, hex_of(img->id)) != 0)
                snprintf(why, sizeof(why), "its config blob's content is sha256:%s", hex);
            for (size_t i = 0; !why[0] && i < img->n_layers; i++) {
                if (!berth_store_layer_exists(&s, img->layers[i]))
                    snprintf(why, sizeof(why), "layer %zu (%s) is missing", i + 1, img->layers[i]);
            }
        }
        if (why[0]) {
            finding(c, "image record %s %s", p, why);
            if (c->repair)
                repair_remove(c, p, "image record");
        } else {
            c->images++;
        }
        berth_store_image_free(img);
    }
    if (d)
        closedir(d);

    /* Layers: a layer directory without its diff/ is half made. Blobs: a
     * blob's content must have its name's digest. */
    const char *dirs[] = {s.layers, s.blobs};
    for (int k = 0; k < 2; k++) {
        d = opendir(dirs[k]);
        while (d && (de = readdir(d)) != NULL) {
            if (strlen(de->d_name) != BERTH_SHA256_HEX_LEN ||
                !is_hex(de->d_name, BERTH_SHA256_HEX_LEN))
                continue;
            BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", dirs[k], de->d_name);
            if (k == 0) {
                BERTH_AUTO_FREE char *diff = berth_asprintf("%s/diff", p);
                struct stat ds;
                if (stat(diff, &ds) < 0 || !S_ISDIR(ds.st_mode)) {
                    finding(c, "layer %s has no diff directory", p);
                    if (c->repair)
                        repair_remove(c, p, "layer");
                    continue;
                }
                c->layers++;
            } else {
                char hex[BERTH_SHA256_HEX_LEN + 1];
                BERTH_AUTO_ERR berth_err_t he = NULL;
                if (berth_sha256_file(p, hex, &he) < 0 || strcmp(hex, de->d_name) != 0) {
                    finding(c, "blob %s does not hold what its name says", p);
                    if (c->repair)
                        repair_remove(c, p, "blob");
                    continue;
                }
                c->blobs++;
            }
        }
        if (d)
            closedir(d);
    }
    /* What no record uses: a crash between an unpack and its record, or in
     * a removal. The collection removes it (and reports what it did). */
    if (c->repair) {
        berth_store_gc_stats_t gs = {0};
        BERTH_AUTO_ERR berth_err_t ge = NULL;
        if (berth_store_gc(&s, &gs, &ge) == 0) {
            c->unreferenced = gs.layers_removed + gs.blobs_removed;
            c->repaired += c->unreferenced;
        }
    }
    berth_free(s.blobs);
    berth_free(s.layers);
    berth_free(s.images);
    return 0;
}
