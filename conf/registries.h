/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containers-registries.conf(5) for berth: loads registries.conf, then the
 * registries.conf.d/\*.conf drop-ins in lexical order, then an optional
 * short-name-aliases.conf file, into an immutable, reference-counted
 * snapshot; then answers two pure questions with no I/O: which fully
 * qualified references a short name stands for, and which endpoints (mirrors
 * first, then the registry itself) serve a fully qualified reference. Loading
 * reads files and must never run inside an actor turn; the resolution calls
 * may run anywhere, on any thread, while the caller holds a reference.
 */
#ifndef BERTH_CONF_REGISTRIES_H
#define BERTH_CONF_REGISTRIES_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "engine/err.h"

#define BERTH_REGISTRIES_DEFAULT_FILE "/etc/containers/registries.conf"
#define BERTH_REGISTRIES_DEFAULT_DIR "/etc/containers/registries.conf.d"

typedef enum berth_short_name_mode {
    BERTH_SHORT_NAME_PERMISSIVE = 0, /* the default, as in containers/image */
    BERTH_SHORT_NAME_ENFORCING,
    BERTH_SHORT_NAME_DISABLED,
} berth_short_name_mode_t;

typedef enum berth_pull_from_mirror {
    BERTH_MIRROR_ALL = 0,
    BERTH_MIRROR_DIGEST_ONLY,
    BERTH_MIRROR_TAG_ONLY,
} berth_pull_from_mirror_t;

typedef struct berth_registries berth_registries_t;

typedef struct berth_registries_opts {
    const char *main_path;    /* NULL: BERTH_REGISTRIES_DEFAULT_FILE */
    const char *dropin_dir;   /* NULL: BERTH_REGISTRIES_DEFAULT_DIR; "" : no drop-ins */
    const char *aliases_path; /* short-name-aliases.conf style file; NULL: none */
    /* berth's own `insecure_registries` (crio.image): host[:port], a
     * registries.conf-style prefix, or an IP CIDR; NULL-terminated, may be NULL. */
    const char *const *insecure_registries;
    /* Search registries used when no file sets unqualified-search-registries
     * (a file setting it to [] still wins); NULL-terminated, may be NULL. */
    const char *const *default_search;
} berth_registries_opts_t;

/* One place to pull a fully qualified reference from. */
typedef struct berth_registry_endpoint {
    char *ref;    /* the reference to ask this endpoint for (prefix rewritten, tag/digest kept) */
    char *domain; /* ref's registry host[:port] */
    char *repository; /* ref's repository path, without tag or digest */
    char *location;   /* host[:port][/namespace] of the endpoint, as configured */
    bool insecure;    /* skip TLS verification / allow plain HTTP */
    bool mirror;      /* true for a [[registry.mirror]], false for the registry itself */
} berth_registry_endpoint_t;

/* Loads main_path (a missing file is an empty configuration), then
 * dropin_dir/\*.conf in lexical order (a missing directory is fine). NULL
 * selects the default path. Returns an owned snapshot (refcount 1), or NULL
 * with *err set (INVALID for content errors, named "file:line: ...").
 * Blocks on file reads: never call it from an actor turn. */
berth_registries_t *berth_registries_load(const char *main_path, const char *dropin_dir,
                                          berth_err_t *err);
/* Same, with the alias file and berth's insecure_registries list. */
berth_registries_t *berth_registries_load_opts(const berth_registries_opts_t *opts,
                                               berth_err_t *err);
/* Same, with paths and insecure_registries taken from berth's config snapshot
 * (cfg->registries_conf, cfg->registries_conf_dir, cfg->insecure_registries),
 * and docker.io as the search registry when no file names any (what
 * Kubernetes users expect from "nginx" on a node without registries.conf). */
berth_registries_t *berth_registries_load_config(const berth_config_t *cfg, berth_err_t *err);

/* Reference counting; any thread. unref is NULL-safe and frees at zero. */
berth_registries_t *berth_registries_ref(berth_registries_t *r);
void berth_registries_unref(berth_registries_t *r);

/* Resolves an image name as typed by a user or the kubelet. A fully qualified
 * name yields itself, normalised (docker.io/busybox → docker.io/library/busybox,
 * index.docker.io → docker.io). A short name yields its alias when one is set
 * (the alias file wins over registries.conf aliases; an alias set to "" is
 * reset), otherwise one candidate per unqualified-search registry, in order.
 * Tags and digests are carried over to every candidate; none is added.
 * In enforcing mode, more than one candidate without an alias is an error that
 * lists them (the CRI has no way to prompt). Permissive and disabled modes
 * return all candidates.
 *
 * On success returns 0, *candidates is an owned NULL-terminated array (free
 * with berth_registries_strv_free), *n its length, and *note (if note is
 * non-NULL) an owned sentence saying how the name was resolved, for logs.
 * On failure returns -1 with *err set (INVALID). Pure; any thread. */
int berth_registries_resolve_short(const berth_registries_t *r, const char *name,
                                   char ***candidates, size_t *n, char **note, berth_err_t *err);

/* The pull sources for a fully qualified reference, in the order to try them:
 * the mirrors of the registry entry with the longest matching prefix (in
 * file order, skipping those whose pull-from-mirror excludes this kind of
 * reference), then the registry's own location; the prefix is replaced by
 * each endpoint's location. Without a matching entry the reference itself is
 * the only source. is_digest (or an "@digest" in fq_ref) marks a pull by
 * digest. insecure is the entry's flag or a match in insecure_registries.
 * Returns 0 with an owned array (free with berth_registries_endpoints_free),
 * or -1 with *err set: INVALID for a bad or short reference,
 * DENIED for a blocked registry. Pure; any thread. */
int berth_registries_endpoints(const berth_registries_t *r, const char *fq_ref, bool is_digest,
                               berth_registry_endpoint_t **endpoints, size_t *n, berth_err_t *err);
void berth_registries_endpoints_free(berth_registry_endpoint_t *endpoints, size_t n);

/* Frees a NULL-terminated array of owned strings; NULL-safe. Same as
 * berth_strv_free (engine/alloc.h), kept for callers. */
void berth_registries_strv_free(char **v);

/* Accessors for status output and tests; the returned data lives as long as r. */
berth_short_name_mode_t berth_registries_short_name_mode(const berth_registries_t *r);
const char *berth_registries_short_name_mode_name(berth_short_name_mode_t m);
/* NULL-terminated unqualified-search registries, in order. */
const char *const *berth_registries_search(const berth_registries_t *r, size_t *n);

/* Reference helpers, consistent with the distribution reference grammar.
 * berth_registries_is_short: the first path component is not a domain (it
 * holds no '.' or ':', is not "localhost" and has no upper case letter).
 * berth_registries_normalize: parses and validates ref; returns an owned
 * normalised string (docker.io/library/ for official images), or NULL with
 * *err set (INVALID). A short name is left without a domain. */
bool berth_registries_is_short(const char *ref);
char *berth_registries_normalize(const char *ref, berth_err_t *err);

#endif
