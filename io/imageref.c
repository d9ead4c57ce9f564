/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image reference parsing and docker.io normalisation, after the grammar of
 * distribution/reference. Only parsing: which registry a short name goes to
 * is decided by registries.conf in conf/ and actors/, never here.
 */
#include "io/registry.h"

#include <errno.h>
#include <string.h>

#include "engine/alloc.h"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool valid_component(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n;) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_lower_alnum(s[j]))
            j++;
        size_t k = j - i;
        bool ok = (k == 1 && (s[i] == '.' || s[i] == '_')) ||
                  (k == 2 && s[i] == '_' && s[i + 1] == '_');
        if (!ok) {
            ok = true;
            for (size_t m = i; m < j; m++)
                ok = ok && s[m] == '-';
        }
        if (!ok)
            return false;
        i = j;
    }
    return true;
}

static bool valid_repository(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 255)
        return false;
    const char *p = s;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!valid_component(p, n))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

static bool valid_tag(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool w = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_';
        if (!(w || (i > 0 && (c == '.' || c == '-'))))
            return false;
    }
    return true;
}

/* host[:port], host being DNS labels or an IPv4 address, or [ipv6][:port]. */
static bool valid_domain(const char *s)
{
    const char *p = s;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (end == NULL || end == p + 1)
            return false;
        for (const char *q = p + 1; q < end; q++)
            if (!(strchr("0123456789abcdefABCDEF:.", *q)))
                return false;
        p = end + 1;
    } else {
        if (!*p || *p == '.' || *p == '-')
            return false;
        while (*p && *p != ':') {
            char c = *p;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-'))
                return false;
            p++;
        }
    }
    if (*p == ':') {
        p++;
        if (!*p || strlen(p) > 5)
            return false;
        for (; *p; p++)
            if (*p < '0' || *p > '9')
                return false;
    }
    return *p == '\0';
}

static int bad(berth_err_t *err, const char *s, const char *why)
{
    return berth_err_make(err, EINVAL, BERTH_GRPC_INVALID_ARGUMENT,
                          "invalid image reference \"%s\": %s", s, why);
}

int berth_image_ref_parse(const char *s, berth_image_ref_t *out, berth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL || s[0] == '\0')
        return bad(err, "", "empty");
    if (strlen(s) > 4096)
        return bad(err, "(too long)", "longer than 4096 bytes");
    BERTH_AUTO_FREE char *name = berth_strdup(s);
    char *at = strchr(name, '@');
    BERTH_AUTO_FREE char *digest = NULL;
    if (at != NULL) {
        *at = '\0';
        if (!berth_digest_valid(at + 1))
            return bad(err, s, "the digest is not sha256:<64 lowercase hex digits>");
        digest = berth_strdup(at + 1);
    }
    char *slash = strrchr(name, '/');
    char *colon = strrchr(name, ':');
    BERTH_AUTO_FREE char *tag = NULL;
    if (colon != NULL && (slash == NULL || colon > slash)) {
        *colon = '\0';
        if (!valid_tag(colon + 1))
            return bad(err, s, "invalid tag");
        tag = berth_strdup(colon + 1);
    }
    const char *rest = name;
    BERTH_AUTO_FREE char *domain = NULL;
    char *first = strchr(name, '/');
    bool short_name = true;
    if (first != NULL) {
        size_t n = (size_t)(first - name);
        BERTH_AUTO_FREE char *cand = berth_strndup(name, n);
        bool upper = false;
        for (size_t i = 0; i < n; i++)
            upper = upper || (cand[i] >= 'A' && cand[i] <= 'Z');
        if (strchr(cand, '.') || strchr(cand, ':') || strcmp(cand, "localhost") == 0 || upper) {
            if (!valid_domain(cand))
                return bad(err, s, "invalid registry domain");
            domain = berth_steal_ptr(&cand);
            rest = first + 1;
            short_name = false;
        }
    }
    if (!valid_repository(rest))
        return bad(err, s,
                   "invalid repository name (lowercase letters, digits and . _ __ - separators)");
    if (domain == NULL || strcmp(domain, "index.docker.io") == 0) {
        berth_free(domain);
        domain = berth_strdup("docker.io");
    }
    if (strcmp(domain, "docker.io") == 0 && strchr(rest, '/') == NULL)
        out->repository = berth_asprintf("library/%s", rest);
    else
        out->repository = berth_strdup(rest);
    out->path = berth_strdup(rest);
    out->domain = berth_steal_ptr(&domain);
    out->digest = berth_steal_ptr(&digest);
    out->short_name = short_name;
    if (tag == NULL && out->digest == NULL) {
        tag = berth_strdup("latest");
        out->tag_defaulted = true;
    }
    out->tag = berth_steal_ptr(&tag);
    return 0;
}

void berth_image_ref_fini(berth_image_ref_t *ref)
{
    berth_free(ref->domain);
    berth_free(ref->repository);
    berth_free(ref->tag);
    berth_free(ref->digest);
    berth_free(ref->path);
    memset(ref, 0, sizeof(*ref));
}

char *berth_image_ref_string(const berth_image_ref_t *ref)
{
    return berth_asprintf("%s/%s%s%s%s%s", ref->domain, ref->repository, ref->tag ? ":" : "",
                          ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                          ref->digest ? ref->digest : "");
}
