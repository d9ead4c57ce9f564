/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The syntax of image reference names (distribution/reference's grammar):
 * [domain/]path[:tag][@digest], and Docker Hub's normal form. Pure string
 * work: no I/O, no registries.conf, no state. It lives in engine/ only
 * because conf/ (registries.conf resolution) and io/ (the registry client)
 * both need the one grammar and may include nothing but engine/; which
 * registry a name goes to is decided in conf/ and actors/, never here.
 */
#ifndef BERTH_ENGINE_REFNAME_H
#define BERTH_ENGINE_REFNAME_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/err.h"

/* A reference split as written; strings owned (free with _fini). */
typedef struct berth_refname {
    char *domain; /* "quay.io", "localhost:5000", "[::1]"; NULL when none was written */
    char *path;   /* the repository path as written: "busybox", "library/busybox" */
    char *tag;    /* NULL when absent */
    char *digest; /* NULL when absent; "algorithm:hex", syntax checked only */
} berth_refname_t;

/* Splits and validates s. The first component is a domain when it holds a
 * '.' or ':', is "localhost", or has an upper-case letter (Docker's rule);
 * then each part must match the grammar: domain labels of [A-Za-z0-9-] (no
 * edge '-') with an optional :port, or a bracketed IPv6 address; path
 * components of [a-z0-9] joined by '.', '_', "__" or runs of '-'; domain and
 * path together at most 255 bytes; a tag of [A-Za-z0-9_][A-Za-z0-9_.-]{0,127};
 * a digest of algorithm ":" hex (sha256 and sha512 in their exact lower-case
 * length, others at least 32 digits). Nothing is added: a short name keeps
 * domain NULL and no tag is defaulted. Returns 0 with *out filled, or -1 with
 * *err (EINVAL, INVALID: "invalid image reference "<s>": <why>") and
 * *out zeroed. Any thread. */
int berth_refname_parse(const char *s, berth_refname_t *out, berth_err_t *err);
void berth_refname_fini(berth_refname_t *r);

/* True when the first path component s[0..len) names a registry (the rule
 * above). Any thread. */
bool berth_refname_is_domain(const char *s, size_t len);
/* True when s[0..len) is a valid host[:port] or [ipv6][:port]. Any thread. */
bool berth_refname_valid_domain(const char *s, size_t len);

/* Docker Hub's normal form: "index.docker.io" is "docker.io" (NULL stays
 * NULL). Returns domain itself or a static string. */
const char *berth_refname_fold_domain(const char *domain);
/* The repository a registry serves path under: "library/<path>" for a
 * one-component path on docker.io (after folding), else path. Owned. */
char *berth_refname_repository(const char *domain, const char *path);
/* "domain/repository[:tag][@digest]" with the domain folded and library/
 * added as above; without a domain, "path[:tag][@digest]" unchanged. tag
 * and digest may be NULL. Owned. */
char *berth_refname_join(const char *domain, const char *path, const char *tag, const char *digest);

#endif
