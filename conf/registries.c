/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containers-registries.conf(5) and registries.conf.d(5) into an immutable
 * snapshot, and the two pure questions asked of it: short-name candidates and
 * pull endpoints. The loader reads files and must never run in an actor turn;
 * everything after berth_registries_load* only reads the snapshot, so it may
 * run on any thread without locks. The reference grammar is engine/refname.c,
 * the one copy io/imageref.c uses too (conf/ may include only engine/).
 */
#include "conf/registries.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf/toml.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/refname.h"
#include "engine/refcount.h"

/* ---- the snapshot ---- */

struct mirror {
    char *location;
    bool insecure;
    berth_pull_from_mirror_t pull;
};

struct registry {
    char *prefix;
    char *location; /* "" only with a wildcard prefix: the reference is kept */
    bool insecure;
    bool blocked;
    bool mirror_by_digest_only;
    struct mirror *mirrors;
    size_t nmirrors;
    char *origin; /* "file:line", for messages */
};

struct alias {
    char *name;
    char *value; /* NULL: reset by a later file, i.e. no alias */
    char *origin;
};

struct strv {
    char **v; /* NULL-terminated once non-empty */
    size_t n;
};

struct berth_registries {
    berth_ref_t refs; /* holders */
    berth_short_name_mode_t mode;
    bool mode_set;
    struct strv search;
    bool search_set;
    char *search_origin;
    struct registry *regs;
    size_t nregs;
    struct alias *aliases; /* from registries.conf and drop-ins */
    size_t naliases;
    struct alias *file_aliases; /* from the alias file; consulted first */
    size_t nfile_aliases;
    struct strv insecure; /* berth's insecure_registries */
    char *main_path;
};

static void strv_push(struct strv *v, const char *s)
{
    v->v = berth_realloc(v->v, (v->n + 2) * sizeof(*v->v));
    v->v[v->n++] = berth_strdup(s);
    v->v[v->n] = NULL;
}

static void strv_clear(struct strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        berth_free(v->v[i]);
    berth_free(v->v);
    v->v = NULL;
    v->n = 0;
}

static void registry_fini(struct registry *g)
{
    berth_free(g->prefix);
    berth_free(g->location);
    for (size_t i = 0; i < g->nmirrors; i++)
        berth_free(g->mirrors[i].location);
    berth_free(g->mirrors);
    berth_free(g->origin);
    memset(g, 0, sizeof(*g));
}

static void aliases_free(struct alias *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        berth_free(a[i].name);
        berth_free(a[i].value);
        berth_free(a[i].origin);
    }
    berth_free(a);
}

static void snapshot_free(berth_registries_t *r)
{
    if (!r)
        return;
    strv_clear(&r->search);
    berth_free(r->search_origin);
    for (size_t i = 0; i < r->nregs; i++)
        registry_fini(&r->regs[i]);
    berth_free(r->regs);
    aliases_free(r->aliases, r->naliases);
    aliases_free(r->file_aliases, r->nfile_aliases);
    strv_clear(&r->insecure);
    berth_free(r->main_path);
    berth_free(r);
}

static void cleanup_snapshot(berth_registries_t **r)
{
    snapshot_free(*r);
}
#define AUTO_SNAPSHOT __attribute__((cleanup(cleanup_snapshot)))

berth_registries_t *berth_registries_ref(berth_registries_t *r)
{
    berth_ref_inc(&r->refs);
    return r;
}

void berth_registries_unref(berth_registries_t *r)
{
    if (!r)
        return;
    if (berth_ref_dec_and_test(&r->refs))
        snapshot_free(r);
}

void berth_registries_strv_free(char **v)
{
    berth_strv_free(v);
}

void berth_registries_endpoints_free(berth_registry_endpoint_t *eps, size_t n)
{
    if (!eps)
        return;
    for (size_t i = 0; i < n; i++) {
        berth_free(eps[i].ref);
        berth_free(eps[i].domain);
        berth_free(eps[i].repository);
        berth_free(eps[i].location);
    }
    berth_free(eps);
}

berth_short_name_mode_t berth_registries_short_name_mode(const berth_registries_t *r)
{
    return r->mode;
}

const char *berth_registries_short_name_mode_name(berth_short_name_mode_t m)
{
    switch (m) {
    case BERTH_SHORT_NAME_ENFORCING:
        return "enforcing";
    case BERTH_SHORT_NAME_DISABLED:
        return "disabled";
    case BERTH_SHORT_NAME_PERMISSIVE:
        break;
    }
    return "permissive";
}

const char *const *berth_registries_search(const berth_registries_t *r, size_t *n)
{
    static const char *const empty[] = {NULL};
    if (n)
        *n = r->search.n;
    return r->search.n ? (const char *const *)r->search.v : empty;
}

/* ---- references ---- */

/* The grammar is engine/refname.c's, shared with io/imageref.c. */
static char *ref_string(const berth_refname_t *r, const char *domain)
{
    return berth_refname_join(domain, r->path, r->tag, r->digest);
}

bool berth_registries_is_short(const char *ref)
{
    const char *slash = strchr(ref, '/');
    const char *at = strchr(ref, '@');
    if (!slash || (at && at < slash))
        return true;
    return !berth_refname_is_domain(ref, (size_t)(slash - ref));
}

char *berth_registries_normalize(const char *in, berth_err_t *err)
{
    berth_refname_t r;
    if (berth_refname_parse(in, &r, err) < 0)
        return NULL;
    char *s = ref_string(&r, r.domain);
    berth_refname_fini(&r);
    return s;
}

/* ---- loading ---- */

struct file_ctx {
    const char *path;
    bool dropin; /* the v1 format is refused in drop-ins */
};

static int bad_type(const struct file_ctx *F, const berth_toml_node_t *n, const char *key,
                    const char *want, berth_err_t *err)
{
    return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s:%u: %s: expected %s, got %s", F->path,
                          berth_toml_line(n), key, want, berth_toml_type_name(berth_toml_type(n)));
}

static int bad_value(const struct file_ctx *F, const berth_toml_node_t *n, berth_err_t *err,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad_value(const struct file_ctx *F, const berth_toml_node_t *n, berth_err_t *err,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    BERTH_AUTO_FREE char *what = berth_vasprintf(fmt, ap);
    va_end(ap);
    return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s:%u: %s", F->path, berth_toml_line(n),
                          what);
}

static void warn_unknown(const struct file_ctx *F, const berth_toml_node_t *n, const char *key)
{
    berth_log_warn("unknown registries.conf key", "file=\"%s\" line=%u key=\"%s\"", F->path,
                   berth_toml_line(n), key);
}

static int get_string(const struct file_ctx *F, const berth_toml_node_t *n, const char *key,
                      const char **out, berth_err_t *err)
{
    if (berth_toml_type(n) != BERTH_TOML_STRING)
        return bad_type(F, n, key, "string", err);
    size_t len;
    *out = berth_toml_string(n, &len);
    if (strlen(*out) != len)
        return bad_value(F, n, err, "%s: NUL in string", key);
    return 0;
}

static int get_bool(const struct file_ctx *F, const berth_toml_node_t *n, const char *key,
                    bool *out, berth_err_t *err)
{
    if (berth_toml_type(n) != BERTH_TOML_BOOL)
        return bad_type(F, n, key, "boolean", err);
    *out = berth_toml_bool(n);
    return 0;
}

static int get_strings(const struct file_ctx *F, const berth_toml_node_t *n, const char *key,
                       struct strv *out, berth_err_t *err)
{
    if (berth_toml_type(n) != BERTH_TOML_ARRAY)
        return bad_type(F, n, key, "array of strings", err);
    for (const berth_toml_node_t *e = berth_toml_first(n); e; e = berth_toml_next(e)) {
        const char *s;
        if (get_string(F, e, key, &s, err) < 0)
            return -1;
        strv_push(out, s);
    }
    return 0;
}

/* Trims trailing slashes and refuses URL schemes, as registries.conf does
 * for location and prefix values. Returns an owned string. */
static char *parse_location(const struct file_ctx *F, const berth_toml_node_t *n, const char *s,
                            berth_err_t *err)
{
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == '/')
        len--;
    if (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) {
        bad_value(F, n, err, "invalid location \"%s\": URI schemes are not supported", s);
        return NULL;
    }
    return berth_strndup(s, len);
}

static int parse_mode(const struct file_ctx *F, const berth_toml_node_t *n, const char *s,
                      berth_short_name_mode_t *mode, berth_err_t *err)
{
    if (strcmp(s, "enforcing") == 0)
        *mode = BERTH_SHORT_NAME_ENFORCING;
    else if (strcmp(s, "permissive") == 0)
        *mode = BERTH_SHORT_NAME_PERMISSIVE;
    else if (strcmp(s, "disabled") == 0)
        *mode = BERTH_SHORT_NAME_DISABLED;
    else
        return bad_value(F, n, err,
                         "invalid short-name-mode \"%s\" (want enforcing, permissive or disabled)",
                         s);
    return 0;
}

static int parse_mirror(const struct file_ctx *F, const berth_toml_node_t *t, struct mirror *m,
                        berth_err_t *err)
{
    if (berth_toml_type(t) != BERTH_TOML_TABLE)
        return bad_type(F, t, "registry.mirror", "table", err);
    const char *loc = "";
    for (const berth_toml_node_t *c = berth_toml_first(t); c; c = berth_toml_next(c)) {
        const char *k = berth_toml_key(c, NULL);
        const char *s;
        if (strcmp(k, "location") == 0) {
            if (get_string(F, c, "registry.mirror.location", &loc, err) < 0)
                return -1;
        } else if (strcmp(k, "insecure") == 0) {
            if (get_bool(F, c, "registry.mirror.insecure", &m->insecure, err) < 0)
                return -1;
        } else if (strcmp(k, "pull-from-mirror") == 0) {
            if (get_string(F, c, "registry.mirror.pull-from-mirror", &s, err) < 0)
                return -1;
            if (strcmp(s, "all") == 0 || s[0] == '\0')
                m->pull = BERTH_MIRROR_ALL;
            else if (strcmp(s, "digest-only") == 0)
                m->pull = BERTH_MIRROR_DIGEST_ONLY;
            else if (strcmp(s, "tag-only") == 0)
                m->pull = BERTH_MIRROR_TAG_ONLY;
            else
                return bad_value(F, c, err,
                                 "unsupported pull-from-mirror value \"%s\" (want all, "
                                 "digest-only or tag-only)",
                                 s);
        } else {
            warn_unknown(F, c, k);
        }
    }
    if (!(m->location = parse_location(F, t, loc, err)))
        return -1;
    if (m->location[0] == '\0')
        return bad_value(F, t, err, "[[registry.mirror]] has no location");
    return 0;
}

static int parse_registry(const struct file_ctx *F, const berth_toml_node_t *t, struct registry *g,
                          berth_err_t *err)
{
    if (berth_toml_type(t) != BERTH_TOML_TABLE)
        return bad_type(F, t, "registry", "table", err);
    const char *prefix = "", *loc = "";
    const berth_toml_node_t *mirrors = NULL, *pfm = NULL;
    for (const berth_toml_node_t *c = berth_toml_first(t); c; c = berth_toml_next(c)) {
        const char *k = berth_toml_key(c, NULL);
        int r = 0;
        if (strcmp(k, "prefix") == 0)
            r = get_string(F, c, "registry.prefix", &prefix, err);
        else if (strcmp(k, "location") == 0)
            r = get_string(F, c, "registry.location", &loc, err);
        else if (strcmp(k, "insecure") == 0)
            r = get_bool(F, c, "registry.insecure", &g->insecure, err);
        else if (strcmp(k, "blocked") == 0)
            r = get_bool(F, c, "registry.blocked", &g->blocked, err);
        else if (strcmp(k, "mirror-by-digest-only") == 0)
            r = get_bool(F, c, "registry.mirror-by-digest-only", &g->mirror_by_digest_only, err);
        else if (strcmp(k, "mirror") == 0)
            mirrors = c;
        else if (strcmp(k, "pull-from-mirror") == 0)
            pfm = c;
        else
            warn_unknown(F, c, k);
        if (r < 0)
            return -1;
    }
    g->origin = berth_asprintf("%s:%u", F->path, berth_toml_line(t));
    if (!(g->location = parse_location(F, t, loc, err)))
        return -1;
    if (prefix[0] == '\0') {
        if (g->location[0] == '\0')
            return bad_value(F, t, err, "[[registry]] sets neither location nor prefix");
        g->prefix = berth_strdup(g->location);
    } else {
        if (!(g->prefix = parse_location(F, t, prefix, err)))
            return -1;
        bool wild = strncmp(g->prefix, "*.", 2) == 0;
        if (wild && strpbrk(g->prefix, "/@:"))
            return bad_value(F, t, err,
                             "wildcard prefix \"%s\" must have the form *.example.com "
                             "(no port, namespace, tag or digest)",
                             g->prefix);
        if (!wild && g->location[0] == '\0')
            return bad_value(F, t, err,
                             "[[registry]] prefix \"%s\" has no location (only a *.example.com "
                             "prefix may omit it)",
                             g->prefix);
    }
    if (pfm)
        return bad_value(F, pfm, err,
                         "pull-from-mirror must not be set for a non-mirror registry \"%s\"",
                         g->prefix);
    if (mirrors) {
        if (berth_toml_type(mirrors) != BERTH_TOML_ARRAY)
            return bad_type(F, mirrors, "registry.mirror", "array of tables", err);
        g->nmirrors = berth_toml_count(mirrors);
        g->mirrors = berth_calloc(g->nmirrors ? g->nmirrors : 1, sizeof(*g->mirrors));
        size_t i = 0;
        for (const berth_toml_node_t *m = berth_toml_first(mirrors); m; m = berth_toml_next(m)) {
            const berth_toml_node_t *pf = berth_toml_get(m, "pull-from-mirror");
            if (g->mirror_by_digest_only && pf)
                return bad_value(F, pf, err,
                                 "registry \"%s\" sets mirror-by-digest-only, so its mirrors "
                                 "may not set pull-from-mirror",
                                 g->prefix);
            if (parse_mirror(F, m, &g->mirrors[i++], err) < 0)
                return -1;
        }
    }
    return 0;
}

/* Validates an alias and stores its normalised value (NULL for ""). */
static int parse_alias(const struct file_ctx *F, const berth_toml_node_t *c, struct alias *a,
                       berth_err_t *err)
{
    size_t klen;
    const char *name = berth_toml_key(c, &klen);
    const char *value;
    if (get_string(F, c, "aliases", &value, err) < 0)
        return -1;
    berth_refname_t r;
    BERTH_AUTO_ERR berth_err_t perr = NULL;
    if (strlen(name) != klen || berth_refname_parse(name, &r, &perr) < 0)
        return bad_value(F, c, err, "invalid short name \"%s\" in [aliases]: %s", name,
                         perr ? perr->msg : "NUL in name");
    bool bad = r.domain || r.tag || r.digest;
    berth_refname_fini(&r);
    if (bad)
        return bad_value(F, c, err,
                         "invalid short name \"%s\" in [aliases]: must not contain a registry, "
                         "tag or digest",
                         name);
    a->name = berth_strdup(name);
    a->origin = berth_strdup(F->path);
    if (value[0] == '\0')
        return 0; /* resets an alias set by an earlier file */
    if (berth_refname_parse(value, &r, &perr) < 0)
        return bad_value(F, c, err, "invalid alias for \"%s\": %s", name, perr->msg);
    bad = !r.domain || r.tag || r.digest;
    if (!bad)
        a->value = ref_string(&r, r.domain);
    berth_refname_fini(&r);
    if (bad)
        return bad_value(F, c, err,
                         "invalid alias \"%s\" for \"%s\": must be a fully qualified name "
                         "without tag or digest",
                         value, name);
    return 0;
}

static void alias_set(struct alias **v, size_t *n, struct alias *a)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*v)[i].name, a->name) == 0) {
            berth_free((*v)[i].name);
            berth_free((*v)[i].value);
            berth_free((*v)[i].origin);
            (*v)[i] = *a;
            return;
        }
    }
    *v = berth_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = *a;
}

static int parse_aliases(const struct file_ctx *F, const berth_toml_node_t *t, struct alias **v,
                         size_t *n, berth_err_t *err)
{
    if (berth_toml_type(t) != BERTH_TOML_TABLE)
        return bad_type(F, t, "aliases", "table", err);
    for (const berth_toml_node_t *c = berth_toml_first(t); c; c = berth_toml_next(c)) {
        struct alias a = {0};
        if (parse_alias(F, c, &a, err) < 0) {
            berth_free(a.name);
            berth_free(a.value);
            berth_free(a.origin);
            return -1;
        }
        alias_set(v, n, &a);
    }
    return 0;
}

/* The v1 tables: [registries.search], [registries.insecure], [registries.block],
 * each with `registries = [...]`. Empty arrays count as absent. */
struct v1 {
    struct strv search, insecure, block;
    const berth_toml_node_t *node;
};

static int parse_v1(const struct file_ctx *F, const berth_toml_node_t *t, struct v1 *v,
                    berth_err_t *err)
{
    if (berth_toml_type(t) != BERTH_TOML_TABLE)
        return bad_type(F, t, "registries", "table", err);
    v->node = t;
    for (const berth_toml_node_t *c = berth_toml_first(t); c; c = berth_toml_next(c)) {
        const char *k = berth_toml_key(c, NULL);
        struct strv *dst = strcmp(k, "search") == 0     ? &v->search
                           : strcmp(k, "insecure") == 0 ? &v->insecure
                           : strcmp(k, "block") == 0    ? &v->block
                                                        : NULL;
        if (!dst) {
            warn_unknown(F, c, k);
            continue;
        }
        if (berth_toml_type(c) != BERTH_TOML_TABLE)
            return bad_type(F, c, k, "table", err);
        for (const berth_toml_node_t *e = berth_toml_first(c); e; e = berth_toml_next(e)) {
            const char *ek = berth_toml_key(e, NULL);
            if (strcmp(ek, "registries") != 0) {
                warn_unknown(F, e, ek);
                continue;
            }
            if (get_strings(F, e, "registries", dst, err) < 0)
                return -1;
        }
    }
    return 0;
}

static struct registry *find_prefix(struct registry *regs, size_t n, const char *prefix)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(regs[i].prefix, prefix) == 0)
            return &regs[i];
    return NULL;
}

/* v1 → v2: every listed host becomes a [[registry]] with prefix = location. */
static int convert_v1(const struct file_ctx *F, struct v1 *v, berth_registries_t *L,
                      berth_err_t *err)
{
    struct strv *lists[] = {&v->block, &v->insecure};
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; i < lists[l]->n; i++) {
            char *loc = parse_location(F, v->node, lists[l]->v[i], err);
            if (!loc)
                return -1;
            struct registry *g = find_prefix(L->regs, L->nregs, loc);
            if (!g) {
                L->regs = berth_realloc(L->regs, (L->nregs + 1) * sizeof(*L->regs));
                g = &L->regs[L->nregs++];
                memset(g, 0, sizeof(*g));
                g->prefix = berth_strdup(loc);
                g->location = berth_strdup(loc);
                g->origin = berth_asprintf("%s:%u", F->path, berth_toml_line(v->node));
            }
            berth_free(loc);
            if (l == 0)
                g->blocked = true;
            else
                g->insecure = true;
        }
    }
    if (v->search.n) {
        L->search = v->search;
        v->search = (struct strv){0};
        L->search_set = true;
    }
    return 0;
}

/* Checks the file's [[registry]] entries: one location may appear under
 * several prefixes, but never with different insecure or blocked settings. */
static int check_conflicts(const berth_registries_t *L, berth_err_t *err)
{
    for (size_t i = 0; i < L->nregs; i++) {
        const struct registry *a = &L->regs[i];
        const char *ka = a->location[0] ? a->location : a->prefix;
        for (size_t j = 0; j < i; j++) {
            const struct registry *b = &L->regs[j];
            const char *kb = b->location[0] ? b->location : b->prefix;
            if (strcmp(ka, kb) != 0)
                continue;
            const char *what = a->insecure != b->insecure ? "insecure"
                               : a->blocked != b->blocked ? "blocked"
                                                          : NULL;
            if (what)
                return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                      "%s: registry \"%s\" is defined again with a conflicting "
                                      "'%s' setting (first at %s)",
                                      a->origin, ka, what, b->origin);
        }
    }
    return 0;
}

static int parse_search(const struct file_ctx *F, const berth_toml_node_t *c, berth_registries_t *L,
                        berth_err_t *err)
{
    struct strv raw = {0};
    if (get_strings(F, c, "unqualified-search-registries", &raw, err) < 0) {
        strv_clear(&raw);
        return -1;
    }
    strv_clear(&L->search);
    L->search_set = true;
    for (size_t i = 0; i < raw.n; i++) {
        BERTH_AUTO_FREE char *s = parse_location(F, c, raw.v[i], err);
        if (!s || !berth_refname_valid_domain(s, strlen(s))) {
            if (s)
                bad_value(F, c, err,
                          "invalid unqualified-search-registries entry \"%s\" (want host[:port])",
                          raw.v[i]);
            strv_clear(&raw);
            return -1;
        }
        strv_push(&L->search, s);
    }
    strv_clear(&raw);
    return 0;
}

/* Parses one file into the layer L. Returns 1 when read, 0 when absent. */
static int read_all(const char *path, char **buf, size_t *len, berth_err_t *err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return berth_err_errno(err, errno, "open %s", path);
    }
    size_t cap = 4096, n = 0, r;
    char *b = berth_malloc(cap);
    while ((r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            b = berth_realloc(b, cap);
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        berth_free(b);
        return berth_err_make(err, EIO, BERTH_ERR_INTERNAL, "read %s failed", path);
    }
    *buf = b;
    *len = n;
    return 1;
}

enum file_kind { FILE_MAIN, FILE_DROPIN, FILE_ALIASES };

static int parse_file(const char *path, enum file_kind kind, berth_registries_t *L,
                      berth_err_t *err)
{
    BERTH_AUTO_FREE char *buf = NULL;
    size_t len = 0;
    int rr = read_all(path, &buf, &len, err);
    if (rr <= 0)
        return rr;
    berth_toml_node_t *root = berth_toml_parse(buf, len, path, err);
    if (!root)
        return -1;
    struct file_ctx F = {path, kind == FILE_DROPIN};
    struct v1 v1 = {0};
    const berth_toml_node_t *v2_node = NULL;
    int r = 0;
    for (const berth_toml_node_t *c = berth_toml_first(root); c && r == 0; c = berth_toml_next(c)) {
        const char *k = berth_toml_key(c, NULL);
        if (kind == FILE_ALIASES) {
            if (strcmp(k, "aliases") == 0)
                r = parse_aliases(&F, c, &L->file_aliases, &L->nfile_aliases, err);
            else
                warn_unknown(&F, c, k);
            continue;
        }
        if (strcmp(k, "registries") == 0) {
            r = parse_v1(&F, c, &v1, err);
            continue;
        }
        bool v2 = true;
        if (strcmp(k, "unqualified-search-registries") == 0) {
            r = parse_search(&F, c, L, err);
        } else if (strcmp(k, "short-name-mode") == 0) {
            const char *s;
            if ((r = get_string(&F, c, k, &s, err)) == 0)
                r = parse_mode(&F, c, s, &L->mode, err);
            L->mode_set = true;
        } else if (strcmp(k, "registry") == 0) {
            if (berth_toml_type(c) != BERTH_TOML_ARRAY) {
                r = bad_type(&F, c, k, "array of tables ([[registry]])", err);
                continue;
            }
            for (const berth_toml_node_t *t = berth_toml_first(c); t && r == 0;
                 t = berth_toml_next(t)) {
                struct registry g = {0};
                if ((r = parse_registry(&F, t, &g, err)) < 0) {
                    registry_fini(&g);
                    break;
                }
                /* Within one file the first entry for a prefix wins, as in
                 * containers/image: later ones are dead and dropped. */
                if (find_prefix(L->regs, L->nregs, g.prefix)) {
                    berth_log_warn("duplicate registries.conf prefix ignored",
                                   "at=\"%s\" prefix=\"%s\"", g.origin, g.prefix);
                    registry_fini(&g);
                    continue;
                }
                L->regs = berth_realloc(L->regs, (L->nregs + 1) * sizeof(*L->regs));
                L->regs[L->nregs++] = g;
            }
        } else if (strcmp(k, "aliases") == 0) {
            r = parse_aliases(&F, c, &L->aliases, &L->naliases, err);
        } else if (strcmp(k, "credential-helpers") == 0 ||
                   strcmp(k, "additional-layer-store-auth-helper") == 0) {
            v2 = true; /* valid v2 keys that are the registry client's business */
        } else {
            v2 = false;
            warn_unknown(&F, c, k);
        }
        if (v2 && !v2_node)
            v2_node = c;
    }
    bool v1_set = v1.search.n || v1.insecure.n || v1.block.n;
    if (kind == FILE_ALIASES) {
        /* nothing else to check: the file holds aliases only */
    } else if (r == 0 && v1_set) {
        if (F.dropin)
            r = bad_value(&F, v1.node, err,
                          "the v1 [registries.*] format is not allowed in a drop-in; use "
                          "the v2 format");
        else if (v2_node)
            r = bad_value(&F, v1.node, err,
                          "mixing the v1 [registries.*] format with v2 keys (\"%s\" at line %u) "
                          "is not supported",
                          berth_toml_key(v2_node, NULL), berth_toml_line(v2_node));
        else
            r = convert_v1(&F, &v1, L, err);
    }
    if (r == 0 && kind != FILE_ALIASES)
        r = check_conflicts(L, err);
    if (r == 0 && kind != FILE_ALIASES && L->search_set)
        L->search_origin = berth_strdup(path);
    strv_clear(&v1.search);
    strv_clear(&v1.insecure);
    strv_clear(&v1.block);
    berth_toml_free(root);
    return r < 0 ? -1 : 1;
}

/* Applies a drop-in layer on top of the accumulated configuration, moving
 * what it takes out of the layer: registries replace by prefix, search
 * registries and mode replace when set, aliases merge key by key. */
static void merge_layer(berth_registries_t *acc, berth_registries_t *L)
{
    for (size_t i = 0; i < L->nregs; i++) {
        struct registry *old = find_prefix(acc->regs, acc->nregs, L->regs[i].prefix);
        if (old) {
            registry_fini(old);
            *old = L->regs[i];
        } else {
            acc->regs = berth_realloc(acc->regs, (acc->nregs + 1) * sizeof(*acc->regs));
            acc->regs[acc->nregs++] = L->regs[i];
        }
    }
    berth_free(L->regs);
    L->regs = NULL;
    L->nregs = 0;
    if (L->search_set) {
        strv_clear(&acc->search);
        acc->search = L->search;
        L->search = (struct strv){0};
        acc->search_set = true;
        berth_free(acc->search_origin);
        acc->search_origin = berth_steal_ptr(&L->search_origin);
    }
    if (L->mode_set) {
        acc->mode = L->mode;
        acc->mode_set = true;
    }
    for (size_t i = 0; i < L->naliases; i++)
        alias_set(&acc->aliases, &acc->naliases, &L->aliases[i]);
    berth_free(L->aliases);
    L->aliases = NULL;
    L->naliases = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_reg(const void *a, const void *b)
{
    return strcmp(((const struct registry *)a)->prefix, ((const struct registry *)b)->prefix);
}

static int load_dir(berth_registries_t *acc, const char *dir, berth_err_t *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return berth_err_errno(err, errno, "open registries drop-in directory %s", dir);
    }
    struct strv names = {0};
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".conf") != 0)
            continue;
        strv_push(&names, de->d_name);
    }
    closedir(d);
    if (names.n)
        qsort(names.v, names.n, sizeof(*names.v), cmp_str);
    int r = 0;
    for (size_t i = 0; i < names.n && r == 0; i++) {
        BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", dir, names.v[i]);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        berth_registries_t *L = berth_calloc(1, sizeof(*L));
        if (parse_file(path, FILE_DROPIN, L, err) < 0)
            r = -1;
        else
            merge_layer(acc, L);
        snapshot_free(L);
    }
    strv_clear(&names);
    return r;
}

berth_registries_t *berth_registries_load_opts(const berth_registries_opts_t *o, berth_err_t *err)
{
    const char *main_path = o && o->main_path ? o->main_path : BERTH_REGISTRIES_DEFAULT_FILE;
    const char *dir = o && o->dropin_dir ? o->dropin_dir : BERTH_REGISTRIES_DEFAULT_DIR;
    AUTO_SNAPSHOT berth_registries_t *acc = berth_calloc(1, sizeof(*acc));
    acc->main_path = berth_strdup(main_path);
    if (parse_file(main_path, FILE_MAIN, acc, err) < 0)
        return NULL;
    if (dir[0] && load_dir(acc, dir, err) < 0)
        return NULL;
    if (o && o->aliases_path && o->aliases_path[0] &&
        parse_file(o->aliases_path, FILE_ALIASES, acc, err) < 0)
        return NULL;
    if (o && o->insecure_registries)
        for (const char *const *p = o->insecure_registries; *p; p++)
            if (**p)
                strv_push(&acc->insecure, *p);
    /* Sorted by prefix like containers/image, so status output is stable;
     * lookups pick the longest match and do not depend on the order. */
    if (acc->nregs)
        qsort(acc->regs, acc->nregs, sizeof(*acc->regs), cmp_reg);
    if (!acc->search_set && o && o->default_search && o->default_search[0]) {
        for (const char *const *p = o->default_search; *p; p++)
            strv_push(&acc->search, *p);
        acc->search_origin = berth_asprintf("berth's defaults (no file under %s or %s sets "
                                            "unqualified-search-registries)",
                                            main_path, dir[0] ? dir : "(no drop-in directory)");
    }
    if (!acc->search_origin)
        acc->search_origin = berth_strdup(main_path);
    berth_ref_init(&acc->refs);
    return berth_steal_ptr(&acc);
}

berth_registries_t *berth_registries_load(const char *main_path, const char *dropin_dir,
                                          berth_err_t *err)
{
    berth_registries_opts_t o = {.main_path = main_path, .dropin_dir = dropin_dir};
    return berth_registries_load_opts(&o, err);
}

berth_registries_t *berth_registries_load_config(const berth_config_t *cfg, berth_err_t *err)
{
    berth_registries_opts_t o = {
            .main_path = cfg->registries_conf,
            .dropin_dir = cfg->registries_conf_dir,
            .insecure_registries = (const char *const *)cfg->insecure_registries.v,
            .default_search = (const char *const[]){"docker.io", NULL},
    };
    return berth_registries_load_opts(&o, err);
}

/* ---- resolution ---- */

static const struct alias *find_alias(const struct alias *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

static char **single(char *s)
{
    char **v = berth_calloc(2, sizeof(*v));
    v[0] = s;
    return v;
}

int berth_registries_resolve_short(const berth_registries_t *R, const char *name,
                                   char ***candidates, size_t *n, char **note, berth_err_t *err)
{
    berth_refname_t r;
    if (berth_refname_parse(name, &r, err) < 0)
        return -1;
    if (r.domain) {
        *candidates = single(ref_string(&r, r.domain));
        *n = 1;
        if (note)
            *note = berth_asprintf("\"%s\" is fully qualified", name);
        berth_refname_fini(&r);
        return 0;
    }
    /* The alias file is consulted first: it is what a user recorded last. */
    const struct alias *a = find_alias(R->file_aliases, R->nfile_aliases, r.path);
    if (!a)
        a = find_alias(R->aliases, R->naliases, r.path);
    if (a && a->value) {
        berth_refname_t v = {.path = a->value, .tag = r.tag, .digest = r.digest};
        *candidates = single(ref_string(&v, NULL));
        *n = 1;
        if (note)
            *note = berth_asprintf("short name \"%s\" resolved by alias to \"%s\" (%s)", name,
                                   a->value, a->origin);
        berth_refname_fini(&r);
        return 0;
    }
    if (R->search.n == 0) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "short name \"%s\" did not resolve to an alias and no "
                       "unqualified-search-registries are defined in %s",
                       name, R->search_origin);
        berth_refname_fini(&r);
        return -1;
    }
    char **v = berth_calloc(R->search.n + 1, sizeof(*v));
    for (size_t i = 0; i < R->search.n; i++)
        v[i] = ref_string(&r, R->search.v[i]);
    berth_refname_fini(&r);
    if (R->mode == BERTH_SHORT_NAME_ENFORCING && R->search.n > 1) {
        size_t cap = 64, len = 0;
        BERTH_AUTO_FREE char *list = berth_calloc(1, cap);
        for (size_t i = 0; i < R->search.n; i++) {
            size_t add = strlen(v[i]) + 2;
            if (len + add + 1 > cap) {
                cap = (len + add + 1) * 2;
                list = berth_realloc(list, cap);
            }
            len += (size_t)snprintf(list + len, cap - len, "%s%s", i ? ", " : "", v[i]);
        }
        berth_registries_strv_free(v);
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "short name \"%s\" is ambiguous: %s; define an alias in "
                              "registries.conf.d or use a fully qualified name",
                              name, list);
    }
    *candidates = v;
    *n = R->search.n;
    if (note)
        *note = berth_asprintf("short name \"%s\" expanded through the unqualified-search "
                               "registries of %s (short-name-mode %s)",
                               name, R->search_origin,
                               berth_registries_short_name_mode_name(R->mode));
    return 0;
}

/* Length of the part of ref that prefix matches, or -1. A plain prefix
 * matches at a component boundary (':' '/' '@' or the end); "*.example.com"
 * matches any subdomain in ref's host, and the match covers the host. */
static long prefix_match(const char *ref, const char *prefix)
{
    size_t rl = strlen(ref);
    if (strncmp(prefix, "*.", 2) == 0) {
        const char *suffix = prefix + 1;
        const char *hit = strstr(ref, suffix);
        if (!hit || memchr(ref, '/', (size_t)(hit - ref)))
            return -1;
        size_t end = (size_t)(hit - ref) + strlen(suffix);
        if (end == rl || ref[end] == ':' || ref[end] == '/' || ref[end] == '@')
            return (long)end;
        return -1;
    }
    size_t pl = strlen(prefix);
    if (rl < pl || strncmp(ref, prefix, pl) != 0)
        return -1;
    if (rl == pl || ref[pl] == ':' || ref[pl] == '/' || ref[pl] == '@')
        return (long)pl;
    return -1;
}

/* Is host (no port, no brackets) an IP address inside the CIDR e? */
static bool cidr_match(const char *e, const char *host)
{
    const char *slash = strchr(e, '/');
    if (!slash || !slash[1])
        return false;
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (*end || bits < 0)
        return false;
    BERTH_AUTO_FREE char *net = berth_strndup(e, (size_t)(slash - e));
    unsigned char a[16], b[16];
    int fam = strchr(net, ':') ? AF_INET6 : AF_INET;
    size_t alen = fam == AF_INET6 ? 16 : 4;
    if ((long)alen * 8 < bits || inet_pton(fam, net, a) != 1 || inet_pton(fam, host, b) != 1)
        return false;
    for (long i = 0; i < bits; i++) {
        unsigned char m = (unsigned char)(0x80u >> (i % 8));
        if ((a[i / 8] & m) != (b[i / 8] & m))
            return false;
    }
    return true;
}

/* berth's insecure_registries: a prefix of the endpoint's reference, the
 * bare host, or a CIDR holding the host's literal address. No DNS here. */
static bool insecure_listed(const berth_registries_t *R, const char *ref)
{
    if (R->insecure.n == 0)
        return false;
    size_t dl = strcspn(ref, "/");
    BERTH_AUTO_FREE char *host = NULL;
    if (ref[0] == '[') {
        const char *close = memchr(ref, ']', dl);
        host = berth_strndup(ref + 1, close ? (size_t)(close - ref - 1) : 0);
    } else {
        host = berth_strndup(ref, strcspn(ref, ":/"));
    }
    for (size_t i = 0; i < R->insecure.n; i++) {
        const char *e = R->insecure.v[i];
        if (prefix_match(ref, e) >= 0 || strcmp(host, e) == 0 || cidr_match(e, host))
            return true;
    }
    return false;
}

/* Appends an endpoint for ref (taken). A rewrite that breaks the reference
 * grammar (say a wildcard match followed by a port) is a configuration error
 * reported against the entry, not a reference to try. */
static int add_endpoint(berth_registry_endpoint_t **v, size_t *n, const berth_registries_t *R,
                        char *ref, const char *location, bool insecure, bool mirror,
                        const char *origin, berth_err_t *err)
{
    berth_refname_t chk;
    BERTH_AUTO_ERR berth_err_t perr = NULL;
    if (berth_refname_parse(ref, &chk, &perr) < 0 || !chk.domain) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "registries.conf entry at %s rewrites the reference to \"%s\", which is "
                       "not a valid fully qualified reference",
                       origin, ref);
        berth_free(ref);
        return -1;
    }
    *v = berth_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[*n] = (berth_registry_endpoint_t){
            .ref = ref,
            .domain = berth_steal_ptr(&chk.domain),
            .repository = berth_steal_ptr(&chk.path),
            .location = berth_strdup(location),
            .insecure = insecure || insecure_listed(R, ref),
            .mirror = mirror,
    };
    (*n)++;
    berth_refname_fini(&chk);
    return 0;
}

int berth_registries_endpoints(const berth_registries_t *R, const char *fq_ref, bool is_digest,
                               berth_registry_endpoint_t **endpoints, size_t *n, berth_err_t *err)
{
    berth_refname_t r;
    if (berth_refname_parse(fq_ref, &r, err) < 0)
        return -1;
    if (!r.domain) {
        berth_refname_fini(&r);
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "image reference \"%s\" is not fully qualified; resolve the short "
                              "name first",
                              fq_ref);
    }
    is_digest = is_digest || r.digest;
    BERTH_AUTO_FREE char *s = ref_string(&r, r.domain);
    BERTH_AUTO_FREE char *domain = berth_strndup(s, strcspn(s, "/"));
    berth_refname_fini(&r);

    const struct registry *g = NULL;
    size_t best = 0;
    for (size_t i = 0; i < R->nregs; i++) {
        size_t pl = strlen(R->regs[i].prefix);
        if (pl > best && prefix_match(s, R->regs[i].prefix) >= 0) {
            g = &R->regs[i];
            best = pl;
        }
    }
    berth_registry_endpoint_t *v = NULL;
    size_t nv = 0;
    if (!g) {
        if (add_endpoint(&v, &nv, R, berth_steal_ptr(&s), domain, false, false, "", err) < 0)
            return -1;
        *endpoints = v;
        *n = nv;
        return 0;
    }
    if (g->blocked)
        return berth_err_make(err, EACCES, BERTH_ERR_DENIED,
                              "registry \"%s\" is blocked (%s): pulling \"%s\" is not allowed",
                              g->location[0] ? g->location : g->prefix, g->origin, s);
    size_t rest = (size_t)prefix_match(s, g->prefix);
    int rc = 0;
    for (size_t i = 0; i < g->nmirrors && rc == 0; i++) {
        const struct mirror *m = &g->mirrors[i];
        if (g->mirror_by_digest_only && !is_digest)
            continue;
        if ((m->pull == BERTH_MIRROR_DIGEST_ONLY && !is_digest) ||
            (m->pull == BERTH_MIRROR_TAG_ONLY && is_digest))
            continue;
        rc = add_endpoint(&v, &nv, R, berth_asprintf("%s%s", m->location, s + rest), m->location,
                          m->insecure, true, g->origin, err);
    }
    if (rc == 0 && g->location[0])
        rc = add_endpoint(&v, &nv, R, berth_asprintf("%s%s", g->location, s + rest), g->location,
                          g->insecure, false, g->origin, err);
    else if (rc == 0) /* wildcard prefix without location: the reference is pulled as is */
        rc = add_endpoint(&v, &nv, R, berth_strdup(s), domain, g->insecure, false, g->origin, err);
    if (rc < 0) {
        berth_registries_endpoints_free(v, nv);
        return -1;
    }
    *endpoints = v;
    *n = nv;
    return 0;
}
