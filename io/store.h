/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image store: content-addressed storage under <root>/storage. Config
 * blobs live in `blobs/sha256/<hex>`, every layer is unpacked once into
 * `layers/<hex>/diff` (hex of the layer's diff ID, checked while unpacking)
 * and shared by every
 * image that uses it, and each image is one record `images/<hex>.json`
 * (hex of the config digest, which is the image ID). Records are written
 * temp + fsync + rename, and a pull writes its record last, so a half-pulled
 * image never appears; a crash leaves at worst unreferenced layers and blobs,
 * which garbage collection removes.
 *
 * Everything here that touches the disk blocks: call it on io/'s blocking
 * pool or from main/tests, never in an actor turn. The store holds no
 * mutable shared state: the image index belongs to its owner (the images
 * actor), which is the only writer of records and never runs a collection
 * while a pull is unpacking (docs/images.md). The pure helpers (records,
 * JSON, name matching) are safe anywhere.
 */
#ifndef BERTH_IO_STORE_H
#define BERTH_IO_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "io/unpack.h"

/* One image record. Owned strings; free with berth_store_image_free. Treat a
 * record as immutable once it is published: change a copy (_dup). */
typedef struct berth_store_image {
    char *id;    /* "sha256:<hex>": the config digest */
    char **tags; /* "domain/repo:tag", NULL-terminated, n_tags entries */
    size_t n_tags;
    char **digests; /* "domain/repo@sha256:<manifest hex>", NULL-terminated */
    size_t n_digests;
    char **layers; /* layer keys, bottom to top, NULL-terminated: diff IDs (when
                      diff_ids) or, in records older than that, blob digests */
    size_t n_layers;
    bool diff_ids; /* layers are verified diff IDs */
    /* an OCI artifact (a config that is not an image config): the ID is its
     * manifest's digest, `config` holds that manifest, and its layers are
     * file layers (berth_store_file_layer_put) */
    bool artifact;
    uint64_t size; /* config + compressed layers, bytes */
    char *config;  /* the config JSON exactly as pulled */
    char *user;    /* config.User ("" when unset) */
    bool pinned;
    int64_t pulled_at; /* wall clock, ns since the epoch */
} berth_store_image_t;

berth_store_image_t *berth_store_image_new(void);
berth_store_image_t *berth_store_image_dup(const berth_store_image_t *img);
void berth_store_image_free(berth_store_image_t *img); /* NULL-safe */
/* Appends s (copied) to a NULL-terminated list unless present; true if added. */
bool berth_store_strv_add(char ***v, size_t *n, const char *s);
/* Removes s from the list; true if it was there. */
bool berth_store_strv_del(char ***v, size_t *n, const char *s);

/* The record as JSON text (owned, berth allocator), and back. from_json
 * validates every digest (they become paths) and fails INVALID. */
char *berth_store_image_to_json(const berth_store_image_t *img);
berth_store_image_t *berth_store_image_from_json(const char *text, size_t len, berth_err_t *err);

/* True when `name` names img: its ID ("sha256:<hex>" or bare hex, or a hex
 * prefix of at least 12 digits), one of its tags, or one of its repo
 * digests. Pure. */
bool berth_store_image_matches(const berth_store_image_t *img, const char *name);

typedef struct berth_store berth_store_t;

/* Opens (creating the directories of) <root>/storage and removes temp
 * leftovers of an interrupted write or unpack. Blocking. NULL with *err. */
berth_store_t *berth_store_open(const char *root, berth_err_t *err);
void berth_store_free(berth_store_t *s);
/* "<root>/storage". Borrowed, lives as long as s. */
const char *berth_store_dir(const berth_store_t *s);

/* Reads every image record. A record that does not parse is logged and
 * skipped (and left for inspection), never fatal. *out is an owned array of
 * owned records. Blocking. Returns 0 or -1 with *err. */
int berth_store_load(berth_store_t *s, berth_store_image_t ***out, size_t *n, berth_err_t *err);
void berth_store_images_free(berth_store_image_t **v, size_t n);

/* Paths (owned) for a validated digest. */
char *berth_store_blob_path(const berth_store_t *s, const char *digest);
char *berth_store_layer_dir(const berth_store_t *s, const char *digest); /* .../layers/<hex>/diff */
bool berth_store_blob_exists(const berth_store_t *s, const char *digest);
bool berth_store_layer_exists(const berth_store_t *s, const char *digest);

/* Stores data as the blob `digest` after checking that sha256(data) is it
 * (DATA_LOSS otherwise). Atomic. Blocking. */
int berth_store_blob_put(berth_store_t *s, const char *digest, const void *data, size_t len,
                         berth_err_t *err);

/* Unpacks the layer blob at blob_path into the layer keyed by its diff ID
 * (the sha256 of its uncompressed tar, as the image config's rootfs.diff_ids
 * lists it) unless it is there already: into a temp directory that is
 * renamed into place only when complete and only when the content's digest
 * is diff_id (DATA_LOSS otherwise), so a layer directory is always whole and
 * always what its name says. Two unpacks of one layer may race: the loser
 * discards its copy. stats may be NULL. Blocking. */
int berth_store_layer_unpack(berth_store_t *s, const char *diff_id, const char *blob_path,
                             berth_unpack_stats_t *stats, berth_err_t *err);
/* The same with unpack limits (NULL or zero fields: the defaults). */
int berth_store_layer_unpack_limited(berth_store_t *s, const char *diff_id, const char *blob_path,
                                     const berth_unpack_limits_t *limits,
                                     berth_unpack_stats_t *stats, berth_err_t *err);

/* Stores the verified blob at blob_path as the layer `key` (a sha256
 * digest the caller derives) holding one file, diff/<name>, mode 0644: an
 * OCI artifact's plain-file layer. The blob is moved (same file system) or
 * copied; an existing layer `key` is kept. name must be one path component
 * (not "." or ".."). Blocking. */
int berth_store_file_layer_put(berth_store_t *s, const char *key, const char *blob_path,
                               const char *name, berth_err_t *err);

/* Writes the record (atomic: temp, fsync, rename, fsync dir). Blocking. */
int berth_store_image_write(berth_store_t *s, const berth_store_image_t *img, berth_err_t *err);
/* Removes the record of image `id`; a missing record is success. Blocking. */
int berth_store_image_delete(berth_store_t *s, const char *id, berth_err_t *err);

typedef struct berth_store_gc_stats {
    uint64_t layers_removed;
    uint64_t blobs_removed;
} berth_store_gc_stats_t;

/* Removes every layer and blob that no image record on disk references
 * (reference counts are recomputed from the records, never trusted from
 * memory). The caller guarantees no pull is unpacking meanwhile. Blocking. */
int berth_store_gc(berth_store_t *s, berth_store_gc_stats_t *stats, berth_err_t *err);

/* Bytes (allocated blocks) and inodes used under dir, without crossing
 * mount points. Blocking. */
int berth_store_usage(const char *dir, uint64_t *bytes, uint64_t *inodes, berth_err_t *err);
/* berth_store_usage that stops once it has counted max_inodes inodes: the
 * figures are then a floor, and the walk's cost is bounded whatever a
 * container writes. Blocking. */
int berth_store_usage_max(const char *dir, uint64_t max_inodes, uint64_t *bytes, uint64_t *inodes,
                          berth_err_t *err);

/* mkdir -p (last component gets `mode`). Blocking. */
int berth_store_mkdir_p(const char *path, unsigned mode, berth_err_t *err);

/* `berthd check`: the store's consistency, as `crio check` does for its
 * storage. Reports (through report, one line each) temp leftovers, image
 * records that do not parse, sit under another ID, lack their config blob
 * (or its digest is not the ID) or lack a layer, layer directories without
 * their diff/, and blobs whose content is not their name's digest. With
 * repair, removes each of them (a broken record's image is pulled again
 * when next asked for) and collects what no record references afterwards.
 * Needs no berthd; run --repair only while none serves this root. */
typedef struct berth_store_check {
    bool repair;
    void (*report)(void *ctx, const char *line);
    void *ctx;
    /* results */
    unsigned problems, repaired, unreferenced;
    unsigned images, layers, blobs; /* sound ones */
} berth_store_check_t;

/* Checks <root>/storage (a missing store is sound). Returns 0 (findings in
 * *c), or -1 with *err when the store cannot be read. Blocking. */
int berth_store_check(const char *root, berth_store_check_t *c, berth_err_t *err);

#endif
