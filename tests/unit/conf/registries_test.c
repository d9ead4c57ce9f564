/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for conf/registries.c against the fixtures in
 * tests/fixtures/registries: reference normalisation, short-name resolution
 * (aliases, alias file, search order, enforcing/permissive/disabled), drop-in
 * merge order, endpoints (longest prefix, location rewrite, wildcards,
 * mirrors and pull-from-mirror, insecure flags, blocked), the v1 format and
 * errors that name file:line.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "conf/registries.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "tap.h"

#ifndef BERTH_REGISTRIES_FIXTURES
#error "BERTH_REGISTRIES_FIXTURES must name tests/fixtures/registries"
#endif
#define FX(p) BERTH_REGISTRIES_FIXTURES "/" p

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static berth_registries_t *load(const char *main, const char *dir)
{
    berth_err_t err = NULL;
    berth_registries_t *r = berth_registries_load(main, dir ? dir : "", &err);
    if (!r)
        printf("# load %s: %s\n", main, err->msg);
    berth_err_free(&err);
    return r;
}

/* The error message of loading main (no drop-ins), or NULL on success. */
static char *load_error(const char *main, const char *dir)
{
    berth_err_t err = NULL;
    berth_registries_t *r = berth_registries_load(main, dir ? dir : "", &err);
    if (r) {
        berth_registries_unref(r);
        return NULL;
    }
    char *m = berth_strdup(err->msg);
    printf("# %s\n", m);
    berth_err_free(&err);
    return m;
}

static bool has(const char *s, const char *sub)
{
    return s && strstr(s, sub);
}

/* Resolves name and joins the candidates with ' ' ("ERR: msg" on failure). */
static char *resolve(const berth_registries_t *r, const char *name)
{
    char **c = NULL;
    size_t n = 0;
    char *note = NULL;
    berth_err_t err = NULL;
    if (berth_registries_resolve_short(r, name, &c, &n, &note, &err) < 0) {
        char *m = berth_asprintf("ERR: %s", err->msg);
        berth_err_free(&err);
        return m;
    }
    char *out = berth_strdup(c[n] == NULL ? "" : "!"); /* the array must be NULL-terminated */
    for (size_t i = 0; i < n; i++) {
        char *next = berth_asprintf("%s%s%s", out, i ? " " : "", c[i]);
        berth_free(out);
        out = next;
    }
    berth_registries_strv_free(c);
    berth_free(note);
    return out;
}

static char *norm(const char *in)
{
    berth_err_t err = NULL;
    char *s = berth_registries_normalize(in, &err);
    if (!s) {
        s = berth_asprintf("ERR: %s", err->msg);
        berth_err_free(&err);
    }
    return s;
}

/* Endpoints as "ref[!i][m]" joined by ' ': !i insecure, m mirror. */
static char *eps(const berth_registries_t *r, const char *ref, bool digest, int *kind)
{
    berth_registry_endpoint_t *e = NULL;
    size_t n = 0;
    berth_err_t err = NULL;
    if (berth_registries_endpoints(r, ref, digest, &e, &n, &err) < 0) {
        if (kind)
            *kind = err->kind;
        char *m = berth_asprintf("ERR: %s", err->msg);
        berth_err_free(&err);
        return m;
    }
    char *out = berth_strdup("");
    for (size_t i = 0; i < n; i++) {
        char *next = berth_asprintf("%s%s%s%s%s", out, i ? " " : "", e[i].ref,
                                    e[i].insecure ? "!i" : "", e[i].mirror ? "m" : "");
        berth_free(out);
        out = next;
    }
    berth_registries_endpoints_free(e, n);
    return out;
}

#define CHECK_STR(expr, want, ...)                                                                 \
    do {                                                                                           \
        char *got_ = (expr);                                                                       \
        ok(got_ &&strcmp(got_, want) == 0, __VA_ARGS__);                                           \
        if (!got_ || strcmp(got_, want) != 0)                                                      \
            printf("#   got  '%s'\n#   want '%s'\n", got_ ? got_ : "(null)", want);                \
        berth_free(got_);                                                                          \
    } while (0)

static void test_normalize(void)
{
    CHECK_STR(norm("busybox"), "busybox", "short name stays short");
    CHECK_STR(norm("docker.io/busybox"), "docker.io/library/busybox",
              "docker.io/busybox gains library/");
    CHECK_STR(norm("index.docker.io/busybox:1.36"), "docker.io/library/busybox:1.36",
              "index.docker.io folds to docker.io");
    CHECK_STR(norm("docker.io/user/repo"), "docker.io/user/repo", "user repo on docker.io kept");
    CHECK_STR(norm("localhost:5000/x"), "localhost:5000/x", "localhost:5000/x kept, no tag");
    CHECK_STR(norm("localhost/x:1"), "localhost/x:1", "localhost/x:1 kept");
    CHECK_STR(norm("127.0.0.1:5000/a/b:tag"), "127.0.0.1:5000/a/b:tag", "IP:port/a/b:tag kept");
    CHECK_STR(norm("[::1]:5000/a"), "[::1]:5000/a", "IPv6 domain kept");
    CHECK_STR(norm("quay.io/a/b:t@" D64), "quay.io/a/b:t@" D64, "tag and digest kept");
    CHECK_STR(norm("a__b/c-d/e.f--g:v1.0_x"), "a__b/c-d/e.f--g:v1.0_x", "separators accepted");
    const char *bad[] = {"Busybox",
                         "busybox:",
                         "busybox@sha256:abc",
                         "a//b",
                         "docker.io/Foo",
                         "",
                         "x.io/",
                         "-a",
                         "busybox:-bad",
                         "quay.io/a___b",
                         "x.io/a@sha256:"
                         "0123456789ABCDEF"
                         "0123456789abcdef0123456789abcdef"
                         "0123456789abcdef"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(bad); i++) {
        char *s = norm(bad[i]);
        ok(has(s, "ERR: invalid image reference"), "invalid reference '%s' refused (%s)", bad[i],
           s);
        berth_free(s);
    }
    char *s = norm("Busybox");
    ok(has(s, "must be lowercase"), "upper case named in the error");
    berth_free(s);
    ok(berth_registries_is_short("busybox") && berth_registries_is_short("library/busybox") &&
               berth_registries_is_short("user/repo:1") &&
               berth_registries_is_short("busybox@" D64),
       "short names detected");
    ok(!berth_registries_is_short("localhost/x") && !berth_registries_is_short("quay.io/x") &&
               !berth_registries_is_short("localhost:5000/x") &&
               !berth_registries_is_short("127.0.0.1:5000/a/b:tag"),
       "domains detected");
}

static void test_basic_resolve(void)
{
    berth_registries_t *r = load(FX("basic/registries.conf"), NULL);
    ok(r != NULL, "basic fixture loads (unknown key only warns)");
    if (!r)
        return;
    ok(berth_registries_short_name_mode(r) == BERTH_SHORT_NAME_ENFORCING, "mode enforcing");
    size_t n;
    const char *const *s = berth_registries_search(r, &n);
    ok(n == 2 && strcmp(s[0], "docker.io") == 0 && strcmp(s[1], "quay.io") == 0 && !s[2],
       "search registries in order");

    CHECK_STR(resolve(r, "nginx"), "docker.io/library/nginx",
              "alias wins over ambiguous search, normalised");
    CHECK_STR(resolve(r, "nginx:1.25"), "docker.io/library/nginx:1.25", "alias keeps the tag");
    CHECK_STR(resolve(r, "nginx@" D64), "docker.io/library/nginx@" D64, "alias keeps the digest");
    CHECK_STR(resolve(r, "myorg/tool:v2"), "quay.io/myorg/tool:v2", "two-component alias");
    CHECK_STR(resolve(r, "local"), "localhost:5000/tools/local", "alias to localhost:port");
    CHECK_STR(resolve(r, "quay.io/x/y:1"), "quay.io/x/y:1", "fully qualified: itself");
    CHECK_STR(resolve(r, "docker.io/busybox"), "docker.io/library/busybox",
              "fully qualified docker.io normalised");
    CHECK_STR(resolve(r, "busybox"),
              "ERR: short name \"busybox\" is ambiguous: docker.io/library/busybox, "
              "quay.io/busybox; define an alias in registries.conf.d or use a fully qualified "
              "name",
              "enforcing + ambiguous: error listing candidates");
    char **c = NULL;
    size_t nc = 0;
    berth_err_t err = NULL;
    ok(berth_registries_resolve_short(r, "busybox", &c, &nc, NULL, &err) < 0 && err &&
               err->kind == BERTH_ERR_INVALID && c == NULL,
       "ambiguity is INVALID_ARGUMENT and returns nothing");
    berth_err_free(&err);
    CHECK_STR(resolve(r, "Bad"),
              "ERR: invalid image reference \"Bad\": repository name must be "
              "lowercase",
              "invalid short name refused");

    char *note = NULL;
    ok(berth_registries_resolve_short(r, "nginx", &c, &nc, &note, &err) == 0 &&
               has(note, "alias") && has(note, "basic/registries.conf"),
       "note names the alias and its file (%s)", note ? note : "");
    berth_registries_strv_free(c);
    berth_free(note);

    /* The snapshot is shared: a second reference keeps it alive. */
    berth_registries_t *r2 = berth_registries_ref(r);
    berth_registries_unref(r);
    CHECK_STR(resolve(r2, "nginx"), "docker.io/library/nginx", "snapshot alive after one unref");
    berth_registries_unref(r2);
}

static void test_modes(void)
{
    berth_registries_t *r = load(FX("modes/permissive.conf"), NULL);
    CHECK_STR(resolve(r, "busybox"), "docker.io/library/busybox quay.io/busybox",
              "permissive: all candidates in order");
    CHECK_STR(resolve(r, "library/busybox:1"),
              "docker.io/library/busybox:1 quay.io/library/busybox:1",
              "library/busybox: docker.io not doubled");
    CHECK_STR(resolve(r, "user/repo@" D64), "docker.io/user/repo@" D64 " quay.io/user/repo@" D64,
              "digest carried to every candidate");
    berth_registries_unref(r);

    r = load(FX("modes/disabled.conf"), NULL);
    ok(r && berth_registries_short_name_mode(r) == BERTH_SHORT_NAME_DISABLED, "mode disabled");
    CHECK_STR(resolve(r, "busybox"), "docker.io/library/busybox quay.io/busybox",
              "disabled: candidates without checks");
    berth_registries_unref(r);

    r = load(FX("modes/default.conf"), NULL);
    ok(r && berth_registries_short_name_mode(r) == BERTH_SHORT_NAME_PERMISSIVE,
       "default mode is permissive");
    CHECK_STR(resolve(r, "busybox"), "docker.io/library/busybox quay.io/busybox",
              "default: all candidates");
    berth_registries_unref(r);

    r = load(FX("modes/single-enforcing.conf"), NULL);
    CHECK_STR(resolve(r, "busybox"), "docker.io/library/busybox",
              "enforcing with one search registry is not ambiguous");
    CHECK_STR(resolve(r, "user/repo"), "docker.io/user/repo", "user/repo on docker.io");
    berth_registries_unref(r);

    r = load(FX("modes/none.conf"), NULL);
    char *s = resolve(r, "busybox");
    ok(has(s, "did not resolve to an alias") && has(s, "modes/none.conf"),
       "no search registries: error names the file");
    berth_free(s);
    CHECK_STR(resolve(r, "localhost:5000/x"), "localhost:5000/x",
              "fully qualified needs no search registry");
    berth_registries_unref(r);

    r = load(FX("does-not-exist.conf"), FX("no-such-dir"));
    ok(r && berth_registries_search(r, NULL)[0] == NULL, "missing file and dir: empty config");
    berth_registries_unref(r);
}

static void test_endpoints(void)
{
    const char *insecure[] = {"10.0.0.0/8", "plain.local:5000", "hostonly.test", "fd00::/8", NULL};
    berth_registries_opts_t o = {.main_path = FX("basic/registries.conf"),
                                 .dropin_dir = "",
                                 .insecure_registries = insecure};
    berth_err_t err = NULL;
    berth_registries_t *r = berth_registries_load_opts(&o, &err);
    ok(r != NULL, "basic fixture with insecure list loads");
    berth_err_free(&err);
    if (!r)
        return;
    CHECK_STR(eps(r, "docker.io/library/busybox:latest", false, NULL),
              "mirror-a.local:5000/library/busybox:latest!im "
              "mirror-tag.local/library/busybox:latestm docker.io/library/busybox:latest",
              "tag pull: mirrors in order (tag-only kept, digest-only skipped), then registry");
    CHECK_STR(eps(r, "docker.io/library/busybox@" D64, false, NULL),
              "mirror-a.local:5000/library/busybox@" D64
              "!im mirror-digest.local/library/busybox@" D64 "m docker.io/library/busybox@" D64,
              "digest pull: digest-only kept, tag-only skipped");
    CHECK_STR(eps(r, "docker.io/busybox:1", true, NULL),
              "mirror-a.local:5000/library/busybox:1!im mirror-digest.local/library/busybox:1m "
              "docker.io/library/busybox:1",
              "is_digest flag honoured; reference normalised first");
    CHECK_STR(eps(r, "quay.io/a/b:1", false, NULL), "quay.io/a/b:1",
              "mirror-by-digest-only: no mirror for a tag; duplicate prefix ignored");
    CHECK_STR(eps(r, "quay.io/a/b@" D64, false, NULL),
              "quaymirror.local/a/b@" D64 "m quay.io/a/b@" D64,
              "mirror-by-digest-only: mirror for a digest");
    berth_registry_endpoint_t *e = NULL;
    size_t ne = 0;
    ok(berth_registries_endpoints(r, "example.com/foo/bar:1", false, &e, &ne, &err) == 0 &&
               ne == 1 && strcmp(e[0].domain, "internal.example.com") == 0 &&
               strcmp(e[0].repository, "mirror/foo/bar") == 0 &&
               strcmp(e[0].location, "internal.example.com/mirror/foo") == 0 && !e[0].mirror,
       "endpoint split into domain, repository and location");
    berth_registries_endpoints_free(e, ne);
    CHECK_STR(eps(r, "example.com/foo/bar:1", false, NULL), "internal.example.com/mirror/foo/bar:1",
              "longest prefix wins; location replaces the prefix");
    CHECK_STR(eps(r, "example.com/foo:1", false, NULL), "internal.example.com/mirror/foo:1",
              "prefix matches up to a tag");
    CHECK_STR(eps(r, "example.com/foobar:1", false, NULL), "example.com/foobar:1!i",
              "prefix only at a component boundary; shorter entry insecure");
    CHECK_STR(eps(r, "example.community/x", false, NULL), "example.community/x",
              "no entry: the reference itself, secure");
    CHECK_STR(eps(r, "a.wild.test/x/y:1", false, NULL), "a.wild.test/x/y:1",
              "wildcard without location: unchanged");
    CHECK_STR(eps(r, "deep.b.rewrite.test/x:1", false, NULL), "central.test/all/x:1",
              "wildcard with location: host rewritten");
    char *w = eps(r, "b.rewrite.test:8443/x:1", false, NULL);
    ok(has(w, "ERR: registries.conf entry at") && has(w, "central.test/all:8443/x:1"),
       "wildcard match before a port: invalid rewrite reported");
    berth_free(w);
    CHECK_STR(eps(r, "rewrite.test/x", false, NULL), "rewrite.test/x",
              "wildcard needs a subdomain");
    CHECK_STR(eps(r, "other.test/a.rewrite.test/x", false, NULL), "other.test/a.rewrite.test/x",
              "wildcard matches the host only");
    int kind = 0;
    char *s = eps(r, "blocked.io/x/y:1", false, &kind);
    ok(has(s, "registry \"blocked.io\" is blocked") && has(s, "basic/registries.conf:") &&
               kind == BERTH_ERR_DENIED,
       "blocked registry: PERMISSION_DENIED naming it and its file");
    berth_free(s);
    s = eps(r, "busybox", false, &kind);
    ok(has(s, "not fully qualified") && kind == BERTH_ERR_INVALID,
       "short name refused by endpoints");
    berth_free(s);
    CHECK_STR(eps(r, "10.1.2.3:5000/x:1", false, NULL), "10.1.2.3:5000/x:1!i",
              "insecure_registries CIDR");
    CHECK_STR(eps(r, "11.1.2.3:5000/x:1", false, NULL), "11.1.2.3:5000/x:1",
              "outside the CIDR: secure");
    CHECK_STR(eps(r, "[fd00::5]:5000/x", false, NULL), "[fd00::5]:5000/x!i", "IPv6 CIDR");
    CHECK_STR(eps(r, "plain.local:5000/x", false, NULL), "plain.local:5000/x!i",
              "insecure_registries host:port");
    CHECK_STR(eps(r, "plain.local:5001/x", false, NULL), "plain.local:5001/x",
              "other port: secure");
    CHECK_STR(eps(r, "hostonly.test:8443/x", false, NULL), "hostonly.test:8443/x!i",
              "insecure_registries bare host matches any port");
    berth_registries_unref(r);
}

static void test_merge(void)
{
    berth_registries_opts_t o = {.main_path = FX("merge/registries.conf"),
                                 .dropin_dir = FX("merge/registries.conf.d"),
                                 .aliases_path = FX("merge/aliases.conf")};
    berth_err_t err = NULL;
    berth_registries_t *r = berth_registries_load_opts(&o, &err);
    ok(r != NULL, "merge fixture loads (README and .bak ignored)");
    if (!r) {
        printf("# %s\n", err->msg);
        berth_err_free(&err);
        return;
    }
    size_t n;
    const char *const *s = berth_registries_search(r, &n);
    ok(n == 2 && strcmp(s[0], "d.io") == 0 && strcmp(s[1], "c.io") == 0,
       "search registries replaced by the last drop-in that sets them");
    ok(berth_registries_short_name_mode(r) == BERTH_SHORT_NAME_PERMISSIVE,
       "short-name-mode overridden by a drop-in");
    CHECK_STR(resolve(r, "one"), "e.io/cached/one", "alias file wins over registries.conf");
    CHECK_STR(resolve(r, "two"), "d.io/two2", "aliases merged key by key, last drop-in wins");
    CHECK_STR(resolve(r, "three"), "d.io/three c.io/three",
              "alias reset by \"\": search registries again");
    CHECK_STR(resolve(r, "four"), "d.io/four", "alias added by a drop-in");
    char *note = NULL;
    char **c = NULL;
    ok(berth_registries_resolve_short(r, "three", &c, &n, &note, &err) == 0 &&
               has(note, "30-search.conf") && has(note, "permissive"),
       "note names the file that set the search registries (%s)", note ? note : "");
    berth_registries_strv_free(c);
    berth_free(note);
    CHECK_STR(eps(r, "a.io/x:1", false, NULL), "a-replaced.io/x:1",
              "[[registry]] with the same prefix replaced whole (no mirror, not insecure)");
    CHECK_STR(eps(r, "keep.io/x:1", false, NULL), "keep.io/x:1!i", "other entries kept");
    char *e = eps(r, "new.io/x", false, NULL);
    ok(has(e, "blocked") && has(e, "20-second.conf"), "drop-in adds a blocked registry");
    berth_free(e);
    berth_registries_unref(r);

    /* Without the alias file, the registries.conf alias applies. */
    o.aliases_path = NULL;
    r = berth_registries_load_opts(&o, &err);
    CHECK_STR(resolve(r, "one"), "a.io/one", "without the alias file the main alias applies");
    berth_registries_unref(r);
}

static void test_v1(void)
{
    berth_registries_t *r = load(FX("v1/registries.conf"), NULL);
    ok(r != NULL, "v1 format loads");
    if (!r)
        return;
    CHECK_STR(resolve(r, "busybox"), "docker.io/library/busybox registry.fedoraproject.org/busybox",
              "v1 [registries.search]");
    CHECK_STR(eps(r, "insecure.local:5000/x", false, NULL), "insecure.local:5000/x!i",
              "v1 [registries.insecure]");
    char *s = eps(r, "evil.io/x", false, NULL);
    ok(has(s, "blocked"), "v1 [registries.block]");
    berth_free(s);
    berth_registries_unref(r);
}

struct err_case {
    const char *file;
    const char *want[2];
};

static void test_errors(void)
{
    static const struct err_case cases[] = {
            {"errors/bad-mode.conf", {"bad-mode.conf:3:", "invalid short-name-mode \"sometimes\""}},
            {"errors/bad-type.conf", {"bad-type.conf:4:", "registry.insecure: expected boolean"}},
            {"errors/no-location.conf", {"no-location.conf:3:", "has no location"}},
            {"errors/wild-bad.conf", {"wild-bad.conf:1:", "*.example.com"}},
            {"errors/mirror-no-location.conf", {"mirror-no-location.conf:4:", "no location"}},
            {"errors/bad-pull-from-mirror.conf",
             {"bad-pull-from-mirror.conf:5:", "unsupported pull-from-mirror value"}},
            {"errors/pfm-on-registry.conf", {"pfm-on-registry.conf:3:", "non-mirror registry"}},
            {"errors/pfm-with-digest-only.conf",
             {"pfm-with-digest-only.conf:6:", "mirror-by-digest-only"}},
            {"errors/conflict.conf", {"conflict.conf:6:", "conflicting 'insecure'"}},
            {"errors/mixing.conf", {"mixing.conf:3:", "short-name-mode"}},
            {"errors/alias-key-registry.conf",
             {"alias-key-registry.conf:3:", "must not contain a registry"}},
            {"errors/alias-not-fq.conf", {"alias-not-fq.conf:2:", "fully qualified"}},
            {"errors/alias-tag.conf", {"alias-tag.conf:2:", "without tag or digest"}},
            {"errors/alias-key-tag.conf", {"alias-key-tag.conf:2:", "must not contain"}},
            {"errors/bad-search.conf", {"bad-search.conf:1:", "docker.io/library"}},
            {"errors/scheme.conf", {"scheme.conf:1:", "URI schemes are not supported"}},
            {"errors/syntax.conf", {"syntax.conf:", ""}},
    };
    for (size_t i = 0; i < BERTH_ARRAY_LEN(cases); i++) {
        BERTH_AUTO_FREE char *path =
                berth_asprintf("%s/%s", BERTH_REGISTRIES_FIXTURES, cases[i].file);
        char *m = load_error(path, NULL);
        ok(has(m, cases[i].want[0]) && has(m, cases[i].want[1]), "%s: error names %s",
           cases[i].file, cases[i].want[0]);
        berth_free(m);
    }
    char *m = load_error(FX("dropin-v1/registries.conf"), FX("dropin-v1/registries.conf.d"));
    ok(has(m, "50-v1.conf:1:") && has(m, "v1"), "v1 format refused in a drop-in");
    berth_free(m);
    m = load_error(FX("dropin-bad/registries.conf"), FX("dropin-bad/registries.conf.d"));
    ok(has(m, "20-bad.conf:4:") && has(m, "registry.blocked: expected boolean"),
       "drop-in error names the drop-in file:line");
    berth_free(m);
    m = load_error(FX("merge/registries.conf"), FX("basic/registries.conf"));
    ok(has(m, "basic/registries.conf"), "drop-in dir that is a file: error");
    berth_free(m);
    berth_registries_opts_t o = {.main_path = FX("modes/default.conf"),
                                 .dropin_dir = "",
                                 .aliases_path = FX("errors/alias-not-fq.conf")};
    berth_err_t err = NULL;
    ok(berth_registries_load_opts(&o, &err) == NULL && has(err->msg, "alias-not-fq.conf:2:"),
       "alias file errors name file:line");
    berth_err_free(&err);
}

/* berth's own config supplies the paths and the insecure list. */
static void test_from_config(void)
{
    berth_config_builder_t *b = berth_config_builder_new();
    berth_config_builder_set_file(b, FX("no-such-berth.conf"));
    berth_config_builder_set_dir(b, FX("no-such-berth.conf.d"));
    berth_err_t err = NULL;
    int rc = berth_config_set(b, "crio.image.registries_conf", FX("merge/registries.conf"), &err);
    rc |= berth_config_set(b, "crio.image.registries_conf_dir", FX("merge/registries.conf.d"),
                           &err);
    rc |= berth_config_set(b, "crio.image.insecure_registries", "a-replaced.io,other.io", &err);
    berth_config_t *cfg = rc == 0 ? berth_config_build(b, &err) : NULL;
    berth_config_builder_free(b);
    ok(cfg != NULL, "berth config with registries keys builds");
    if (!cfg) {
        printf("# %s\n", err ? err->msg : "?");
        berth_err_free(&err);
        return;
    }
    berth_registries_t *r = berth_registries_load_config(cfg, &err);
    berth_config_unref(cfg);
    ok(r != NULL, "berth_registries_load_config loads the configured files");
    if (!r) {
        berth_err_free(&err);
        return;
    }
    CHECK_STR(resolve(r, "two"), "d.io/two2", "drop-in dir from the config is read");
    CHECK_STR(eps(r, "a.io/x:1", false, NULL), "a-replaced.io/x:1!i",
              "insecure_registries from the config applies to the rewritten endpoint");
    berth_registries_unref(r);

    /* No registries.conf at all: docker.io is the search registry. */
    b = berth_config_builder_new();
    berth_config_builder_set_file(b, FX("no-such-berth.conf"));
    berth_config_builder_set_dir(b, FX("no-such-berth.conf.d"));
    berth_config_set(b, "crio.image.registries_conf", FX("no-such-registries.conf"), &err);
    berth_config_set(b, "crio.image.registries_conf_dir", FX("no-such-dir"), &err);
    cfg = berth_config_build(b, &err);
    berth_config_builder_free(b);
    r = cfg ? berth_registries_load_config(cfg, &err) : NULL;
    berth_config_unref(cfg);
    CHECK_STR(r ? resolve(r, "nginx") : NULL, "docker.io/library/nginx",
              "no registries.conf: docker.io default for berth's config");
    berth_registries_unref(r);
    /* A file that sets [] wins over the default. */
    const char *dflt[] = {"docker.io", NULL};
    berth_registries_opts_t o = {
            .main_path = FX("modes/none.conf"), .dropin_dir = "", .default_search = dflt};
    r = berth_registries_load_opts(&o, &err);
    CHECK_STR(r ? resolve(r, "nginx") : NULL, "docker.io/library/nginx",
              "default applies when the file does not set the key");
    berth_registries_unref(r);
    o.main_path = FX("modes/empty-search.conf");
    r = berth_registries_load_opts(&o, &err);
    char *m = r ? resolve(r, "nginx") : NULL;
    ok(has(m, "ERR: short name \"nginx\" did not resolve") && has(m, "empty-search.conf"),
       "explicit [] beats the default");
    berth_free(m);
    berth_registries_unref(r);
    berth_err_free(&err);
}

int main(void)
{
    /* Unknown-key warnings are expected; keep TAP output clean. */
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull >= 0)
        berth_log_set_fd(devnull);
    test_normalize();
    test_basic_resolve();
    test_modes();
    test_endpoints();
    test_merge();
    test_v1();
    test_errors();
    test_from_config();
    if (devnull >= 0)
        close(devnull);
    return tap_done();
}
