/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image reference names: the one copy of distribution/reference's grammar
 * that conf/registries.c and io/imageref.c share (see refname.h for why it
 * is in engine/). Pure: allocation only, never I/O or shared state.
 */
#include "engine/refname.h"

#include <errno.h>
#include <string.h>

#include "engine/alloc.h"

/* An input cap, far above any valid reference (name 255, tag 128, digest),
 * so that messages quoting the input stay short. */
#define MAX_INPUT 4096
#define MAX_NAME 255
#define MAX_TAG 128

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || is_upper(c);
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool berth_refname_valid_domain(const char *s, size_t len)
{
    size_t i = 0;
    if (len == 0)
        return false;
    if (s[0] == '[') {
        size_t j = 1;
        while (j < len && (is_hex(s[j]) || s[j] == ':'))
            j++;
        if (j == 1 || j >= len || s[j] != ']')
            return false;
        i = j + 1;
    } else {
        for (;;) {
            size_t start = i;
            while (i < len && (is_alnum(s[i]) || s[i] == '-'))
                i++;
            if (i == start || s[start] == '-' || s[i - 1] == '-')
                return false;
            if (i < len && s[i] == '.') {
                i++;
                continue;
            }
            break;
        }
    }
    if (i == len)
        return true;
    if (s[i] != ':' || i + 1 == len)
        return false;
    for (i++; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool berth_refname_is_domain(const char *s, size_t len)
{
    if (len == 9 && memcmp(s, "localhost", 9) == 0)
        return true;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '.' || s[i] == ':' || is_upper(s[i]))
            return true;
    return false;
}

/* path-component: [a-z0-9]+ joined by '.', '_', "__" or runs of '-';
 * components joined by '/'. Returns NULL when valid, else why not. */
static const char *check_path(const char *s, size_t len)
{
    size_t i = 0;
    if (len == 0)
        return "empty repository name";
    for (;;) {
        size_t start = i;
        while (i < len && is_lower_alnum(s[i]))
            i++;
        if (i == start)
            goto bad;
        if (i == len)
            return NULL;
        if (s[i] == '/') {
            i++;
            continue;
        }
        if (s[i] == '.' || s[i] == '_') {
            i += (s[i] == '_' && i + 1 < len && s[i + 1] == '_') ? 2 : 1;
        } else if (s[i] == '-') {
            while (i < len && s[i] == '-')
                i++;
        } else {
            goto bad;
        }
        if (i == len || !is_lower_alnum(s[i]))
            goto bad;
    }
bad:
    for (size_t k = 0; k < len; k++)
        if (is_upper(s[k]))
            return "repository name must be lowercase";
    return "invalid repository name (lowercase letters, digits and . _ __ - separators)";
}

static bool valid_tag(const char *s, size_t len)
{
    if (len == 0 || len > MAX_TAG || !(is_alnum(s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

/* algorithm ":" hex, the algorithm of [A-Za-z][A-Za-z0-9]* parts joined by
 * [-_+.]; sha256 and sha512 must carry their exact lower-case length. */
static bool valid_digest(const char *s)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s)
        return false;
    size_t alen = (size_t)(colon - s);
    bool part_start = true;
    for (size_t i = 0; i < alen; i++) {
        char c = s[i];
        if (part_start) {
            if (!(is_upper(c) || (c >= 'a' && c <= 'z')))
                return false;
            part_start = false;
        } else if (c == '-' || c == '_' || c == '+' || c == '.') {
            part_start = true;
        } else if (!is_alnum(c)) {
            return false;
        }
    }
    if (part_start)
        return false;
    const char *hex = colon + 1;
    size_t hlen = strlen(hex);
    for (size_t i = 0; i < hlen; i++)
        if (!is_hex(hex[i]))
            return false;
    size_t want = 0;
    if (alen == 6 && memcmp(s, "sha256", 6) == 0)
        want = 64;
    else if (alen == 6 && memcmp(s, "sha512", 6) == 0)
        want = 128;
    if (want) {
        if (hlen != want)
            return false;
        for (size_t i = 0; i < hlen; i++)
            if (hex[i] >= 'A' && hex[i] <= 'F')
                return false;
        return true;
    }
    return hlen >= 32;
}

int berth_refname_parse(const char *in, berth_refname_t *out, berth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    const char *why = NULL;
    if (!in || !*in) {
        why = "empty reference";
        goto fail;
    }
    if (strlen(in) > MAX_INPUT) {
        berth_refname_fini(out);
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "invalid image reference (%zu bytes): longer than %d bytes",
                              strlen(in), MAX_INPUT);
    }
    const char *at = strchr(in, '@');
    size_t nlen = at ? (size_t)(at - in) : strlen(in);
    if (at) {
        if (!valid_digest(at + 1)) {
            why = "invalid digest";
            goto fail;
        }
        out->digest = berth_strdup(at + 1);
    }
    /* A tag is a ':' after the last '/': "localhost:5000/x" has none. */
    const char *tagc = NULL;
    for (size_t i = 0; i < nlen; i++) {
        if (in[i] == '/')
            tagc = NULL;
        else if (in[i] == ':')
            tagc = in + i;
    }
    if (tagc) {
        size_t tlen = (size_t)(in + nlen - tagc - 1);
        if (!valid_tag(tagc + 1, tlen)) {
            why = "invalid tag";
            goto fail;
        }
        out->tag = berth_strndup(tagc + 1, tlen);
        nlen = (size_t)(tagc - in);
    }
    if (nlen > MAX_NAME) {
        why = "repository name must not be more than 255 characters";
        goto fail;
    }
    const char *slash = memchr(in, '/', nlen);
    const char *path = in;
    size_t plen = nlen;
    if (slash && berth_refname_is_domain(in, (size_t)(slash - in))) {
        if (!berth_refname_valid_domain(in, (size_t)(slash - in))) {
            why = "invalid registry domain";
            goto fail;
        }
        out->domain = berth_strndup(in, (size_t)(slash - in));
        path = slash + 1;
        plen = nlen - (size_t)(slash - in) - 1;
    }
    if ((why = check_path(path, plen)))
        goto fail;
    out->path = berth_strndup(path, plen);
    return 0;
fail:
    berth_refname_fini(out);
    return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid image reference \"%s\": %s",
                          in ? in : "", why);
}

void berth_refname_fini(berth_refname_t *r)
{
    berth_free(r->domain);
    berth_free(r->path);
    berth_free(r->tag);
    berth_free(r->digest);
    memset(r, 0, sizeof(*r));
}

const char *berth_refname_fold_domain(const char *domain)
{
    if (domain && strcmp(domain, "index.docker.io") == 0)
        return "docker.io";
    return domain;
}

char *berth_refname_repository(const char *domain, const char *path)
{
    domain = berth_refname_fold_domain(domain);
    if (domain && strcmp(domain, "docker.io") == 0 && !strchr(path, '/'))
        return berth_asprintf("library/%s", path);
    return berth_strdup(path);
}

char *berth_refname_join(const char *domain, const char *path, const char *tag, const char *digest)
{
    BERTH_AUTO_FREE char *repo = berth_refname_repository(domain, path);
    domain = berth_refname_fold_domain(domain);
    return berth_asprintf("%s%s%s%s%s%s%s", domain ? domain : "", domain ? "/" : "", repo,
                          tag ? ":" : "", tag ? tag : "", digest ? "@" : "", digest ? digest : "");
}
