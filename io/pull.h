/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image pull adapter: the images actor says what to pull (the image as
 * asked, its fully qualified candidates in order, each with the endpoints
 * to try, the credentials and the limits) and this module does the pull on
 * io/'s blocking pool and answers with one message: manifest, index and
 * platform through io/registry, the config (its size checked against the
 * descriptor before a byte is fetched, its rootfs.diff_ids paired with the
 * layers), each layer fetched, verified and unpacked once into the store
 * under its diff ID, and the record built (ID, tags, repo digests, layers,
 * size, config, user). See docs/images-io.md.
 *
 * It holds no CRI rules: it never resolves a short name, never chooses a
 * mirror (the candidates and endpoints come from registries.conf through
 * the actor), never writes a record (the images actor is the only writer)
 * and never collects garbage. berth_pull_run blocks; everything else here
 * is callable from an actor turn.
 */
#ifndef BERTH_IO_PULL_H
#define BERTH_IO_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/actor.h"
#include "engine/err.h"
#include "io/registry.h"
#include "io/store.h"

enum {
    BERTH_MSG_PULL_DONE = 144, /* berth_pull_done_msg_t, the answer of berth_pull_start */
};

/* ---- what every pull of a node shares ------------------------------------- */

/* The store, the registry client (and its token cache) and the node's
 * platform. Reference counted: a pull job holds a reference, so it may
 * outlive the actor that started it. Immutable once the store is open. */
typedef struct berth_pull_ctx berth_pull_ctx_t;

typedef struct berth_pull_opts {
    const char *root;                  /* berth's root; the store is <root>/storage */
    const char *const *insecure_hosts; /* NULL-terminated host[:port] for plain HTTP; copied */
    const char *arch;                  /* "amd64", "arm64"; NULL: the node's */
    size_t max_manifest_bytes;         /* 0: io/registry's default */
} berth_pull_opts_t;

/* A context without a store (open it with berth_pull_ctx_open). Everything
 * in opts is copied. Never fails. Any thread. */
berth_pull_ctx_t *berth_pull_ctx_new(const berth_pull_opts_t *opts);
/* Takes one more reference (the caller holds one); returns c. Any thread. */
berth_pull_ctx_t *berth_pull_ctx_ref(berth_pull_ctx_t *c);
/* Drops one; the last frees the store and the client. NULL-safe. Any thread. */
void berth_pull_ctx_unref(berth_pull_ctx_t *c);
/* Opens <root>/storage (berth_store_open) into c. Once, before any pull
 * starts; the message that reports it publishes the store to the actor.
 * Blocking (pool or main). Returns 0 or -1 with *err. */
int berth_pull_ctx_open(berth_pull_ctx_t *c, berth_err_t *err);
/* The open store (NULL before berth_pull_ctx_open), borrowed for as long
 * as the caller holds its reference on c. */
berth_store_t *berth_pull_ctx_store(const berth_pull_ctx_t *c);
/* The platform architecture manifests are chosen for ("amd64", ...). */
const char *berth_pull_ctx_arch(const berth_pull_ctx_t *c);

/* ---- one pull ------------------------------------------------------------- */

/* One place to ask: a mirror or the registry itself. */
typedef struct berth_pull_endpoint {
    char *domain;     /* host[:port] */
    char *repository; /* the repository path on that host */
    bool insecure;    /* plain HTTP allowed for it */
} berth_pull_endpoint_t;

/* One fully qualified candidate: the record's names (tag, repo digest) come
 * from ref, whichever endpoint delivers. */
typedef struct berth_pull_candidate {
    char *ref; /* "domain/repo:tag" or "domain/repo@sha256:<hex>" */
    berth_pull_endpoint_t *endpoints;
    size_t n_endpoints;
    berth_err_t err; /* no endpoint, and why (a blocked registry): folded into
                        the pull's error in turn, never tried */
} berth_pull_candidate_t;

/* Limits of one pull; they are checked before the allocation or transfer
 * they bound, and named in their errors. */
typedef struct berth_pull_limits {
    size_t max_config_bytes;    /* an image config ([crio.image] max_config_bytes) */
    uint64_t max_layers;        /* layers of one image; 0: no limit */
    uint64_t max_image_bytes;   /* uncompressed bytes one pull unpacks; 0: no limit */
    uint64_t max_layer_entries; /* entries of one layer; 0: io/unpack's default */
} berth_pull_limits_t;

typedef struct berth_pull_req {
    char *image; /* as the CRI asked for it: logs and the error's prefix */
    berth_pull_candidate_t *cands;
    size_t n_cands;
    berth_pull_limits_t limits;
    /* The request's credentials, used for every endpoint; NULL when absent. */
    char *username, *password, *auth, *identity_token, *registry_token;
} berth_pull_req_t;

/* A request for image (copied) with no candidate yet. Never fails. */
berth_pull_req_t *berth_pull_req_new(const char *image);
void berth_pull_req_free(berth_pull_req_t *r); /* NULL-safe */
/* Appends a candidate (ref copied). err (taken, may be NULL): why it has no
 * endpoint. Returns the candidate, valid until the next append, for
 * berth_pull_candidate_add_endpoint. */
berth_pull_candidate_t *berth_pull_req_add(berth_pull_req_t *r, const char *ref, berth_err_t *err);
/* Appends an endpoint (strings copied) to try after the ones added before. */
void berth_pull_candidate_add_endpoint(berth_pull_candidate_t *c, const char *domain,
                                       const char *repository, bool insecure);

/* Tries each candidate's endpoints in order until one delivers: the layers
 * are unpacked into c's store and the record (owned, not written) is
 * returned. Otherwise NULL with *err: the most telling code of all the
 * attempts (anything beats NOT_FOUND from a mirror) and every attempt's
 * message, prefixed `pulling image "<image>"`. What a failed pull unpacked
 * is referenced by no record: the caller collects it. Blocking. */
berth_store_image_t *berth_pull_run(berth_pull_ctx_t *c, berth_pull_req_t *req, berth_err_t *err);

/* The answer of berth_pull_start. */
typedef struct berth_pull_done_msg {
    berth_msg_t hdr;
    uint64_t tag;
    berth_store_image_t *image; /* the record to commit (owned), or NULL */
    berth_err_t error;          /* or why not (owned) */
} berth_pull_done_msg_t;

/* berth_pull_run on the blocking pool with its own reference on c; req is
 * taken. The answer (a berth_pull_done_msg_t carrying tag) goes to reply_to
 * when the pull ends; a stale handle just frees it. Never blocks. Any
 * thread or actor turn. */
void berth_pull_start(berth_pull_ctx_t *c, berth_pull_req_t *req, berth_handle_t reply_to,
                      uint64_t tag);

#endif
