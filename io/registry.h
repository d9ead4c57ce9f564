/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A blocking OCI distribution (registry v2) client on libcurl: manifests by
 * tag or digest, blobs streamed to disk and verified by sha256 before they
 * are renamed into place, anonymous/basic/bearer-token auth with a token
 * cache per scope, HTTPS with the system CAs (plain HTTP only for hosts
 * marked insecure). Also the manifest/index parser (jansson) and the image
 * reference parser.
 *
 * Every call here blocks on the network or disk: run it on io/'s blocking
 * pool (berth_blocking_run), never in an actor turn. A client may be used
 * from several pool threads at once: each call has its own curl handle, and
 * the token cache is the only shared state (one mutex, see
 * docs/images-io.md). No CRI rules live here (short-name resolution,
 * mirrors and pull policy belong to actors/ and conf/).
 */
#ifndef BERTH_IO_REGISTRY_H
#define BERTH_IO_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "io/digest.h"
#include "io/imageref.h"

#define BERTH_MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define BERTH_MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define BERTH_MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define BERTH_MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

/* ---- manifests ----------------------------------------------------------- */

typedef struct berth_registry_descriptor {
    char *media_type;
    char *digest; /* validated sha256 */
    int64_t size;
    char *os, *arch, *variant; /* index entries only; NULL when absent */
    char *title;               /* annotation org.opencontainers.image.title; NULL when absent */
} berth_registry_descriptor_t;

typedef struct berth_registry_manifest {
    bool is_index;
    char *media_type;
    berth_registry_descriptor_t config; /* image manifests */
    berth_registry_descriptor_t *layers;
    size_t n_layers;
    berth_registry_descriptor_t *manifests; /* indexes and manifest lists */
    size_t n_manifests;
} berth_registry_manifest_t;

/* Parses an OCI image manifest or index, or a Docker schema 2 manifest or
 * manifest list. media_type may be NULL (then the document's mediaType
 * field, or its shape, decides). Every digest is validated. Returns 0 with
 * *out owned (free with _fini), -1 with *err (INVALID for a bad
 * document, UNSUPPORTED for Docker schema 1). Any thread. */
int berth_registry_manifest_parse(const char *media_type, const void *data, size_t len,
                                  berth_registry_manifest_t *out, berth_err_t *err);
void berth_registry_manifest_fini(berth_registry_manifest_t *m);

/* What berth takes from an image config (application/vnd.oci.image.config
 * or Docker's): config.User and rootfs.diff_ids, which must list exactly
 * n_layers sha256 digests (DATA_LOSS otherwise: the layers would not be
 * what the image ID says). Owned; free with _fini. */
typedef struct berth_registry_config {
    char *user;      /* "" when unset */
    char **diff_ids; /* n_layers entries, NULL-terminated */
} berth_registry_config_t;

/* Parses the config bytes (any bytes: a document that is not a JSON object
 * is INVALID). Returns 0 with *out filled, or -1 with *err. Pure:
 * any thread. */
int berth_registry_config_parse(const char *data, size_t len, size_t n_layers,
                                berth_registry_config_t *out, berth_err_t *err);
void berth_registry_config_fini(berth_registry_config_t *c);

/* Picks the entry of an index for os/arch/variant (NULLs mean linux, amd64,
 * any variant; arm64's "v8" equals no variant). Returns a pointer into
 * index, or NULL with *err (NOT_FOUND, listing the platforms present). */
const berth_registry_descriptor_t *
berth_registry_index_select(const berth_registry_manifest_t *index, const char *os,
                            const char *arch, const char *variant, berth_err_t *err);

/* ---- the client ---------------------------------------------------------- */

typedef struct berth_registry_opts {
    /* NULL-terminated "host[:port]" list spoken to over plain HTTP. */
    const char *const *insecure_hosts;
    const char *ca_file;       /* NULL: the system CA bundle */
    const char *ca_path;       /* NULL: the system CA directory */
    long connect_timeout_ms;   /* 0: 30000 */
    long low_speed_limit;      /* bytes/s under which a transfer stalls; 0: 1024 */
    long low_speed_time;       /* seconds below that limit before failing; 0: 30 */
    long request_timeout_ms;   /* whole manifest/token request; 0: 120000 */
    size_t max_manifest_bytes; /* 0: 4 MiB */
    uint64_t max_blob_bytes;   /* when the size is unknown; 0: unlimited */
    const char *user_agent;    /* NULL: "berth/<version>" */
} berth_registry_opts_t;

typedef struct berth_registry_auth {
    const char *username, *password;
    const char *auth;           /* base64 "user:password", as in auth.json */
    const char *identity_token; /* OAuth2 refresh token for the token endpoint */
    const char *registry_token; /* a bearer token sent to the registry as is */
} berth_registry_auth_t;

/* Where a call goes. All borrowed for the call. */
typedef struct berth_registry_target {
    const char *domain;     /* as in berth_image_ref_t; docker.io maps to registry-1.docker.io */
    const char *repository; /* "library/busybox" */
    const berth_registry_auth_t *auth; /* NULL: anonymous */
    bool insecure;                     /* plain HTTP for this call (besides opts.insecure_hosts) */
} berth_registry_target_t;

typedef struct berth_registry_client berth_registry_client_t;

/* opts is copied (may be NULL for defaults). Never returns NULL. Any thread. */
berth_registry_client_t *berth_registry_client_new(const berth_registry_opts_t *opts);
void berth_registry_client_free(berth_registry_client_t *c);
/* Drops cached tokens (for example after credentials changed). */
void berth_registry_client_forget_tokens(berth_registry_client_t *c);

typedef struct berth_registry_raw {
    char *media_type;                      /* from Content-Type, else the document's mediaType */
    char digest[8 + BERTH_SHA256_HEX_LEN]; /* "sha256:<hex>" of data */
    char *data;                            /* the exact bytes, NUL-terminated for convenience */
    size_t len;
} berth_registry_raw_t;
void berth_registry_raw_fini(berth_registry_raw_t *r);

/* GET /v2/<repo>/manifests/<reference> (a tag or a digest) with the OCI and
 * Docker schema 2 manifest and index types in Accept. The digest is computed
 * from the bytes; a reference digest or Docker-Content-Digest that differs
 * fails (DATA_LOSS). Errors: NOT_FOUND, UNAUTHENTICATED, UNAVAILABLE,
 * TIMEOUT. Blocking. */
int berth_registry_fetch_manifest(berth_registry_client_t *c, const berth_registry_target_t *t,
                                  const char *reference, berth_registry_raw_t *out,
                                  berth_err_t *err);

typedef struct berth_registry_image {
    berth_registry_raw_t top;         /* what the reference names (index or manifest) */
    berth_registry_raw_t manifest;    /* the chosen platform's image manifest */
    berth_registry_manifest_t parsed; /* manifest, parsed */
} berth_registry_image_t;
void berth_registry_image_fini(berth_registry_image_t *img);

/* Fetches reference; when it is an index, picks os/arch/variant (see
 * berth_registry_index_select) and fetches that manifest by digest. *out is
 * owned on success. Blocking. */
int berth_registry_resolve(berth_registry_client_t *c, const berth_registry_target_t *t,
                           const char *reference, const char *os, const char *arch,
                           const char *variant, berth_registry_image_t *out, berth_err_t *err);

/* GET /v2/<repo>/blobs/<digest> streamed into a temp file beside dest_path,
 * sha256 computed while streaming, renamed to dest_path only when the
 * digest (and expected_size, unless < 0) match. Errors: a digest mismatch
 * names both digests (DATA_LOSS); a short body is "truncated" (DATA_LOSS); a
 * transfer below the low-speed limit fails as stalled (UNAVAILABLE). On
 * error nothing is left at dest_path or in the temp file. *bytes (may be
 * NULL) gets the size written. Blocking. */
int berth_registry_fetch_blob(berth_registry_client_t *c, const berth_registry_target_t *t,
                              const char *digest, int64_t expected_size, const char *dest_path,
                              uint64_t *bytes, berth_err_t *err);

#endif
