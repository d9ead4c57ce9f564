/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry client on libcurl's easy interface, one handle per call, and
 * the manifest parser on jansson. What it must never do: write a blob to its
 * final path before its digest is verified, speak plain HTTP to a host not
 * marked insecure, send credentials to a token realm over plain HTTP when the
 * registry itself is HTTPS, or put an unvalidated digest into a path or URL.
 * The token cache is the only state shared between pool threads; a mutex
 * guards it (why a mutex here: docs/images-io.md).
 */
#include "io/registry.h"
#include "io/registry-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "engine/alloc.h"
#include "engine/log.h"

#ifndef BERTH_VERSION
#define BERTH_VERSION "dev"
#endif

#define ACCEPT_MANIFESTS                                                                           \
    "Accept: " BERTH_MEDIA_OCI_MANIFEST ", " BERTH_MEDIA_OCI_INDEX                                 \
    ", " BERTH_MEDIA_DOCKER_MANIFEST ", " BERTH_MEDIA_DOCKER_LIST
#define MAX_LAYERS 4096
#define MAX_ERROR_BODY 2048
#define MAX_TOKEN_BYTES (64u << 10)

struct token {
    struct token *next;
    char *key; /* host|scope|identity */
    char *value;
    struct timespec expires; /* CLOCK_MONOTONIC */
};

struct berth_registry_client {
    berth_registry_opts_t opts; /* strings below are owned copies */
    char **insecure;
    size_t n_insecure;
    char *ca_file, *ca_path, *user_agent;
    pthread_mutex_t lock; /* guards tokens only */
    struct token *tokens;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    /* curl_global_init is not thread-safe in curl 7.88; once is enough. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        abort();
}

static char *dup_or_null(const char *s)
{
    return s ? berth_strdup(s) : NULL;
}

berth_registry_client_t *berth_registry_client_new(const berth_registry_opts_t *opts)
{
    pthread_once(&curl_once, curl_init_once);
    berth_registry_client_t *c = berth_calloc(1, sizeof(*c));
    if (opts != NULL)
        c->opts = *opts;
    if (c->opts.connect_timeout_ms <= 0)
        c->opts.connect_timeout_ms = 30000;
    if (c->opts.low_speed_limit <= 0)
        c->opts.low_speed_limit = 1024;
    if (c->opts.low_speed_time <= 0)
        c->opts.low_speed_time = 30;
    if (c->opts.request_timeout_ms <= 0)
        c->opts.request_timeout_ms = 120000;
    if (c->opts.max_manifest_bytes == 0)
        c->opts.max_manifest_bytes = 4u << 20;
    for (const char *const *h = opts ? opts->insecure_hosts : NULL; h && *h; h++)
        c->n_insecure++;
    c->insecure = berth_calloc(c->n_insecure + 1, sizeof(char *));
    for (size_t i = 0; i < c->n_insecure; i++)
        c->insecure[i] = berth_strdup(opts->insecure_hosts[i]);
    c->ca_file = dup_or_null(c->opts.ca_file);
    c->ca_path = dup_or_null(c->opts.ca_path);
    c->user_agent = c->opts.user_agent ? berth_strdup(c->opts.user_agent)
                                       : berth_strdup("berth/" BERTH_VERSION);
    c->opts.insecure_hosts = NULL;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void berth_registry_client_forget_tokens(berth_registry_client_t *c)
{
    pthread_mutex_lock(&c->lock);
    struct token *t = c->tokens;
    c->tokens = NULL;
    pthread_mutex_unlock(&c->lock);
    while (t) {
        struct token *n = t->next;
        berth_free(t->key);
        berth_free(t->value);
        berth_free(t);
        t = n;
    }
}

void berth_registry_client_free(berth_registry_client_t *c)
{
    if (c == NULL)
        return;
    berth_registry_client_forget_tokens(c);
    for (size_t i = 0; i < c->n_insecure; i++)
        berth_free(c->insecure[i]);
    berth_free(c->insecure);
    berth_free(c->ca_file);
    berth_free(c->ca_path);
    berth_free(c->user_agent);
    pthread_mutex_destroy(&c->lock);
    berth_free(c);
}

/* ---- token cache --------------------------------------------------------- */

static char *token_get(berth_registry_client_t *c, const char *key)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    char *r = NULL;
    pthread_mutex_lock(&c->lock);
    for (struct token *t = c->tokens; t; t = t->next) {
        if (strcmp(t->key, key) == 0 && now.tv_sec < t->expires.tv_sec) {
            r = berth_strdup(t->value);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

static void token_put(berth_registry_client_t *c, const char *key, const char *value, long lifetime)
{
    struct token *n = berth_calloc(1, sizeof(*n));
    n->key = berth_strdup(key);
    n->value = berth_strdup(value);
    clock_gettime(CLOCK_MONOTONIC, &n->expires);
    /* Renew a little early so a token never expires in flight. */
    n->expires.tv_sec += lifetime > 20 ? lifetime - 10 : lifetime;
    pthread_mutex_lock(&c->lock);
    struct token **pp = &c->tokens;
    while (*pp) {
        struct token *t = *pp;
        if (strcmp(t->key, key) == 0) {
            *pp = t->next;
            berth_free(t->key);
            berth_free(t->value);
            berth_free(t);
        } else {
            pp = &t->next;
        }
    }
    n->next = c->tokens;
    c->tokens = n;
    pthread_mutex_unlock(&c->lock);
}

/* ---- one HTTP exchange --------------------------------------------------- */

struct resp {
    long status;
    char *content_type, *dcd, *www_auth;
    /* memory sink (manifests, tokens) */
    char *buf;
    size_t len, max;
    /* file sink (blobs), used only for a 200 answer */
    int fd;
    berth_sha256_t *sha;
    uint64_t written, limit;
    /* why the write callback stopped the transfer */
    char *abort_reason;
    int abort_kind;
    /* error bodies, for messages */
    char errbody[MAX_ERROR_BODY + 1];
    size_t errlen;
};

static void resp_reset_headers(struct resp *r)
{
    berth_free(r->content_type);
    berth_free(r->dcd);
    berth_free(r->www_auth);
    r->content_type = r->dcd = r->www_auth = NULL;
}

static void resp_fini(struct resp *r)
{
    resp_reset_headers(r);
    berth_free(r->buf);
    berth_free(r->abort_reason);
    r->buf = NULL;
    r->abort_reason = NULL;
}

static char *header_value(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return NULL;
    const char *v = line + k + 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return berth_strndup(v, (size_t)(end - v));
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct resp *r = ud;
    size_t n = size * nmemb;
    char *v;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or 100): forget the old headers. */
        resp_reset_headers(r);
        const char *sp = memchr(data, ' ', n);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
    } else if ((v = header_value(data, n, "Content-Type"))) {
        berth_free(r->content_type);
        r->content_type = v;
    } else if ((v = header_value(data, n, "Docker-Content-Digest"))) {
        berth_free(r->dcd);
        r->dcd = v;
    } else if ((v = header_value(data, n, "WWW-Authenticate"))) {
        berth_free(r->www_auth);
        r->www_auth = v;
    }
    return n;
}

static size_t stop(struct resp *r, int kind, char *reason)
{
    if (r->abort_reason == NULL) {
        r->abort_reason = reason;
        r->abort_kind = kind;
    } else {
        berth_free(reason);
    }
    return CURL_WRITEFUNC_ERROR;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct resp *r = ud;
    size_t n = size * nmemb;
    if (r->status != 200) {
        size_t k = MAX_ERROR_BODY - r->errlen;
        k = k < n ? k : n;
        memcpy(r->errbody + r->errlen, data, k);
        r->errlen += k;
        r->errbody[r->errlen] = '\0';
        return n;
    }
    if (r->fd >= 0) {
        if (r->written + n > r->limit)
            return stop(r, BERTH_ERR_DATA_LOSS,
                        berth_asprintf("the registry sent more than the expected %llu bytes",
                                       (unsigned long long)r->limit));
        berth_sha256_update(r->sha, data, n);
        for (size_t off = 0; off < n;) {
            ssize_t w = write(r->fd, data + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return stop(r, berth_errno_to_kind(errno),
                            berth_asprintf("write blob: %s", strerror(errno)));
            off += (size_t)w;
        }
        r->written += n;
        return n;
    }
    /* Check the limit before growing: the size comes from the peer. */
    if (r->len + n > r->max)
        return stop(r, BERTH_ERR_EXHAUSTED,
                    berth_asprintf("response larger than %zu bytes", r->max));
    r->buf = berth_realloc(r->buf, r->len + n + 1);
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    r->buf[r->len] = '\0';
    return n;
}

static bool host_insecure(berth_registry_client_t *c, const berth_registry_target_t *t)
{
    if (t->insecure)
        return true;
    for (size_t i = 0; i < c->n_insecure; i++)
        if (strcmp(c->insecure[i], t->domain) == 0)
            return true;
    return false;
}

static const char *api_host(const char *domain)
{
    return strcmp(domain, "docker.io") == 0 ? "registry-1.docker.io" : domain;
}

enum { REQ_MANIFEST, REQ_BLOB, REQ_TOKEN };

/* Performs one request. `headers` is borrowed. Returns 0 when a response
 * arrived (any status), -1 with *err on transport failure. */
static int perform(berth_registry_client_t *c, const char *url, struct curl_slist *headers,
                   bool insecure, int kind, const char *post, struct resp *r, berth_err_t *err)
{
    CURL *h = curl_easy_init();
    if (h == NULL)
        return berth_err_make(err, ENOMEM, BERTH_ERR_EXHAUSTED, "curl: no handle");
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, insecure ? "http,https" : "https");
    /* Blob GETs redirect to storage; never downgrade a secure registry. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, insecure ? "http,https" : "https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, c->opts.low_speed_limit);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->opts.low_speed_time);
    if (kind != REQ_BLOB)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->opts.request_timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (c->ca_path)
        curl_easy_setopt(h, CURLOPT_CAPATH, c->ca_path);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
    }
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc == CURLE_OK)
        return 0;
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_WRITE_ERROR:
        if (r->abort_reason)
            return berth_err_make(err, EIO, r->abort_kind, "GET %s: %s", url, r->abort_reason);
        return berth_err_make(err, EIO, BERTH_ERR_INTERNAL, "GET %s: %s", url, detail);
    case CURLE_OPERATION_TIMEDOUT:
        if (strstr(detail, "too slow"))
            return berth_err_make(err, ETIMEDOUT, BERTH_ERR_UNAVAILABLE,
                                  "GET %s: transfer stalled: less than %ld bytes/s for %ld s (%s)",
                                  url, c->opts.low_speed_limit, c->opts.low_speed_time, detail);
        return berth_err_make(err, ETIMEDOUT, BERTH_ERR_TIMEOUT, "GET %s: timed out: %s", url,
                              detail);
    case CURLE_PARTIAL_FILE:
        return berth_err_make(err, EIO, BERTH_ERR_DATA_LOSS, "GET %s: truncated transfer: %s", url,
                              detail);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return berth_err_make(err, EPROTO, BERTH_ERR_PRECONDITION,
                              "GET %s: protocol refused (plain HTTP needs the host marked "
                              "insecure): %s",
                              url, detail);
    default:
        return berth_err_make(err, ECONNREFUSED, BERTH_ERR_UNAVAILABLE, "GET %s: %s", url, detail);
    }
}

/* ---- image configs -------------------------------------------------------- */

int berth_registry_config_parse(const char *data, size_t len, size_t n_layers,
                                berth_registry_config_t *out, berth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *cj = json_loadb(data, len, 0, &jerr);
    if (cj == NULL || !json_is_object(cj)) {
        json_decref(cj);
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "not a JSON object");
    }
    json_t *dids = json_object_get(json_object_get(cj, "rootfs"), "diff_ids");
    if (!json_is_array(dids) || json_array_size(dids) != n_layers) {
        size_t have = json_is_array(dids) ? json_array_size(dids) : 0;
        json_decref(cj);
        return berth_err_make(err, EBADMSG, BERTH_ERR_DATA_LOSS,
                              "lists %zu rootfs.diff_ids for the manifest's %zu layers", have,
                              n_layers);
    }
    out->diff_ids = berth_calloc(n_layers + 1, sizeof(char *));
    for (size_t i = 0; i < n_layers; i++) {
        const char *d = json_string_value(json_array_get(dids, i));
        if (d == NULL || !berth_digest_valid(d)) {
            json_decref(cj);
            berth_registry_config_fini(out);
            return berth_err_make(err, EBADMSG, BERTH_ERR_DATA_LOSS,
                                  "rootfs.diff_ids[%zu] is not a sha256 digest", i);
        }
        out->diff_ids[i] = berth_strdup(d);
    }
    const char *user = json_string_value(json_object_get(json_object_get(cj, "config"), "User"));
    out->user = berth_strdup(user ? user : "");
    json_decref(cj);
    return 0;
}

void berth_registry_config_fini(berth_registry_config_t *c)
{
    berth_strv_free(c->diff_ids);
    berth_free(c->user);
    c->diff_ids = NULL;
    c->user = NULL;
}

/* ---- auth ---------------------------------------------------------------- */

void berth_registry_challenge_fini(berth_registry_challenge_t *ch)
{
    berth_free(ch->scheme);
    berth_free(ch->realm);
    berth_free(ch->service);
    berth_free(ch->scope);
}

/* `Bearer realm="...",service="...",scope="..."` (RFC 7235 auth-params). */
void berth_registry_challenge_parse(const char *s, berth_registry_challenge_t *ch)
{
    memset(ch, 0, sizeof(*ch));
    while (*s == ' ')
        s++;
    const char *sp = s;
    while (*sp && *sp != ' ')
        sp++;
    ch->scheme = berth_strndup(s, (size_t)(sp - s));
    const char *p = sp;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ',')
            p++;
        if (*p != '=')
            break;
        size_t klen = (size_t)(p - k);
        p++;
        BERTH_AUTO_FREE char *val = berth_malloc(strlen(p) + 1);
        size_t vl = 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                val[vl++] = *p++;
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ',')
                val[vl++] = *p++;
        }
        val[vl] = '\0';
        char **dst = NULL;
        if (klen == 5 && strncasecmp(k, "realm", 5) == 0)
            dst = &ch->realm;
        else if (klen == 7 && strncasecmp(k, "service", 7) == 0)
            dst = &ch->service;
        else if (klen == 5 && strncasecmp(k, "scope", 5) == 0)
            dst = &ch->scope;
        if (dst) {
            berth_free(*dst);
            *dst = berth_steal_ptr(&val);
        }
    }
}

static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = berth_malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

/* "Basic <b64>" or NULL when the auth carries no basic credentials. */
static char *basic_value(const berth_registry_auth_t *a)
{
    if (a == NULL)
        return NULL;
    if (a->username && a->username[0]) {
        BERTH_AUTO_FREE char *up =
                berth_asprintf("%s:%s", a->username, a->password ? a->password : "");
        BERTH_AUTO_FREE char *enc = b64(up);
        return berth_asprintf("Basic %s", enc);
    }
    if (a->auth && a->auth[0]) {
        for (const char *p = a->auth; *p; p++)
            if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", *p))
                return NULL;
        return berth_asprintf("Basic %s", a->auth);
    }
    return NULL;
}

static const char *auth_identity(const berth_registry_auth_t *a)
{
    if (a == NULL)
        return "";
    if (a->username)
        return a->username;
    if (a->auth)
        return a->auth;
    if (a->identity_token)
        return "(identity token)";
    return "";
}

static char *escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *r = berth_strdup(e ? e : "");
    curl_free(e);
    return r;
}

/* The distribution token flow: GET realm?service=&scope= (basic credentials
 * when given) or POST a refresh token; the answer's token/access_token is
 * cached under `key`. Returns an owned "Bearer ..." value. */
static char *fetch_token(berth_registry_client_t *c, const berth_registry_target_t *t,
                         const berth_registry_challenge_t *ch, const char *scope, const char *key,
                         berth_err_t *err)
{
    if (ch->realm == NULL ||
        (strncmp(ch->realm, "https://", 8) != 0 && strncmp(ch->realm, "http://", 7) != 0)) {
        berth_err_make(err, EPROTO, BERTH_ERR_UNAUTHENTICATED,
                       "registry %s: bearer challenge without a usable realm", t->domain);
        return NULL;
    }
    bool insecure = host_insecure(c, t);
    if (!insecure && strncmp(ch->realm, "https://", 8) != 0) {
        berth_err_make(err, EPROTO, BERTH_ERR_UNAUTHENTICATED,
                       "registry %s: token realm %s is plain HTTP (refused for a secure registry)",
                       t->domain, ch->realm);
        return NULL;
    }
    BERTH_AUTO_FREE char *esvc = escape(ch->service ? ch->service : "");
    BERTH_AUTO_FREE char *escope = escape(scope);
    const berth_registry_auth_t *a = t->auth;
    BERTH_AUTO_FREE char *url = NULL;
    BERTH_AUTO_FREE char *post = NULL;
    struct curl_slist *hdrs = NULL;
    if (a && a->identity_token && a->identity_token[0]) {
        BERTH_AUTO_FREE char *etok = escape(a->identity_token);
        url = berth_strdup(ch->realm);
        post = berth_asprintf("grant_type=refresh_token&client_id=berth&service=%s&scope=%s&"
                              "refresh_token=%s",
                              esvc, escope, etok);
    } else {
        url = berth_asprintf("%s%sservice=%s&scope=%s", ch->realm,
                             strchr(ch->realm, '?') ? "&" : "?", esvc, escope);
        BERTH_AUTO_FREE char *basic = basic_value(a);
        if (basic) {
            BERTH_AUTO_FREE char *hv = berth_asprintf("Authorization: %s", basic);
            hdrs = curl_slist_append(hdrs, hv);
        }
    }
    bool has_creds = hdrs != NULL || post != NULL;
    struct resp r = {.fd = -1, .max = MAX_TOKEN_BYTES};
    int rc = perform(c, url, hdrs, insecure, REQ_TOKEN, post, &r, err);
    curl_slist_free_all(hdrs);
    char *out = NULL;
    if (rc < 0) {
        berth_err_prefix(err, "registry %s: token", t->domain);
        goto done;
    }
    if (r.status != 200) {
        berth_err_make(err, EACCES, BERTH_ERR_UNAUTHENTICATED,
                       "registry %s: token endpoint %s answered HTTP %ld%s", t->domain, ch->realm,
                       r.status, has_creds ? "" : " (no credentials were given)");
        goto done;
    }
    json_error_t jerr;
    json_t *j = json_loadb(r.buf ? r.buf : "", r.len, 0, &jerr);
    const char *tok = j ? json_string_value(json_object_get(j, "token")) : NULL;
    if (tok == NULL || tok[0] == '\0')
        tok = j ? json_string_value(json_object_get(j, "access_token")) : NULL;
    if (tok == NULL || tok[0] == '\0') {
        berth_err_make(err, EPROTO, BERTH_ERR_UNAUTHENTICATED,
                       "registry %s: token endpoint answer has no token", t->domain);
    } else {
        json_int_t life = j ? json_integer_value(json_object_get(j, "expires_in")) : 0;
        /* The spec's default lifetime when expires_in is absent. */
        token_put(c, key, tok, life > 0 ? (long)life : 60);
        out = berth_asprintf("Bearer %s", tok);
    }
    json_decref(j);
done:
    resp_fini(&r);
    return out;
}

static char *status_error_detail(const struct resp *r);

struct request {
    const char *url;
    int kind;
    const char *accept; /* full header line or NULL */
};

/* GET with the auth dance: cached token or nothing first; on 401 follow the
 * challenge (basic or bearer) once. */
static int get_authed(berth_registry_client_t *c, const berth_registry_target_t *t,
                      const struct request *q, struct resp *r, berth_err_t *err)
{
    bool insecure = host_insecure(c, t);
    BERTH_AUTO_FREE char *scope = berth_asprintf("repository:%s:pull", t->repository);
    BERTH_AUTO_FREE char *key =
            berth_asprintf("%s|%s|%s", t->domain, scope, auth_identity(t->auth));
    BERTH_AUTO_FREE char *authz = NULL;
    if (t->auth && t->auth->registry_token && t->auth->registry_token[0]) {
        authz = berth_asprintf("Bearer %s", t->auth->registry_token);
    } else {
        BERTH_AUTO_FREE char *tok = token_get(c, key);
        if (tok)
            authz = berth_asprintf("Bearer %s", tok);
    }
    for (int attempt = 0;; attempt++) {
        struct curl_slist *hdrs = NULL;
        if (q->accept)
            hdrs = curl_slist_append(hdrs, q->accept);
        if (authz) {
            BERTH_AUTO_FREE char *hv = berth_asprintf("Authorization: %s", authz);
            hdrs = curl_slist_append(hdrs, hv);
        }
        int rc = perform(c, q->url, hdrs, insecure, q->kind, NULL, r, err);
        curl_slist_free_all(hdrs);
        if (rc < 0)
            return -1;
        if (r->status != 401)
            return 0;
        if (attempt > 0 || r->www_auth == NULL) {
            BERTH_AUTO_FREE char *detail = status_error_detail(r);
            return berth_err_make(err, EACCES, BERTH_ERR_UNAUTHENTICATED,
                                  "registry %s refused access to %s (HTTP 401%s%s)", t->domain,
                                  t->repository, detail[0] ? ": " : "", detail);
        }
        berth_registry_challenge_t ch;
        berth_registry_challenge_parse(r->www_auth, &ch);
        berth_free(authz);
        authz = NULL;
        if (strcasecmp(ch.scheme, "Basic") == 0) {
            authz = basic_value(t->auth);
            if (authz == NULL) {
                berth_registry_challenge_fini(&ch);
                return berth_err_make(err, EACCES, BERTH_ERR_UNAUTHENTICATED,
                                      "registry %s requires credentials for %s (basic auth)",
                                      t->domain, t->repository);
            }
        } else if (strcasecmp(ch.scheme, "Bearer") == 0) {
            authz = fetch_token(c, t, &ch, ch.scope ? ch.scope : scope, key, err);
            if (authz == NULL) {
                berth_registry_challenge_fini(&ch);
                return -1;
            }
        } else {
            berth_err_make(err, EPROTO, BERTH_ERR_UNAUTHENTICATED,
                           "registry %s: unsupported auth scheme \"%s\"", t->domain, ch.scheme);
            berth_registry_challenge_fini(&ch);
            return -1;
        }
        berth_registry_challenge_fini(&ch);
        /* Start the answer afresh; a blob sink has received nothing yet
         * (the 401 body went to errbody). */
        resp_reset_headers(r);
        r->status = 0;
        r->errlen = 0;
        r->errbody[0] = '\0';
    }
}

static bool valid_repo_chars(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 255)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("._-/", *p)))
            return false;
    return strstr(s, "..") == NULL && s[0] != '/';
}

static bool valid_reference(const char *s)
{
    if (berth_digest_valid(s))
        return true;
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool w = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_';
        if (!(w || (i > 0 && (ch == '.' || ch == '-'))))
            return false;
    }
    return true;
}

static int check_target(const berth_registry_target_t *t, berth_err_t *err)
{
    if (t == NULL || t->domain == NULL || t->domain[0] == '\0' || strpbrk(t->domain, "/?#@ ") ||
        !valid_repo_chars(t->repository))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid registry target %s/%s",
                              t && t->domain ? t->domain : "",
                              t && t->repository ? t->repository : "");
    return 0;
}

static char *status_error_detail(const struct resp *r)
{
    char *d = berth_strndup(r->errbody, 300);
    size_t n = strlen(d);
    while (n > 0 && (d[n - 1] == '\n' || d[n - 1] == '\r' || d[n - 1] == ' '))
        d[--n] = '\0';
    return d;
}

static int status_error(const berth_registry_target_t *t, const char *what, const char *ref,
                        const struct resp *r, berth_err_t *err)
{
    BERTH_AUTO_FREE char *detail = status_error_detail(r);
    int kind = r->status == 404   ? BERTH_ERR_NOT_FOUND
               : r->status == 403 ? BERTH_ERR_DENIED
               : r->status == 429 ? BERTH_ERR_EXHAUSTED
                                  : BERTH_ERR_UNAVAILABLE;
    int e = r->status == 404 ? ENOENT : r->status == 403 ? EACCES : EIO;
    return berth_err_make(err, e, kind, "%s %s/%s%s%s: registry answered HTTP %ld%s%s", what,
                          t->domain, t->repository, berth_digest_valid(ref) ? "@" : ":", ref,
                          r->status, detail[0] ? ": " : "", detail);
}

/* ---- manifests ----------------------------------------------------------- */

void berth_registry_raw_fini(berth_registry_raw_t *r)
{
    berth_free(r->media_type);
    berth_free(r->data);
    memset(r, 0, sizeof(*r));
}

int berth_registry_fetch_manifest(berth_registry_client_t *c, const berth_registry_target_t *t,
                                  const char *reference, berth_registry_raw_t *out,
                                  berth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (check_target(t, err) < 0)
        return -1;
    if (!valid_reference(reference))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid manifest reference \"%s\"",
                              reference ? reference : "");
    BERTH_AUTO_FREE char *url =
            berth_asprintf("%s://%s/v2/%s/manifests/%s", host_insecure(c, t) ? "http" : "https",
                           api_host(t->domain), t->repository, reference);
    struct resp r = {.fd = -1, .max = c->opts.max_manifest_bytes};
    struct request q = {.url = url, .kind = REQ_MANIFEST, .accept = ACCEPT_MANIFESTS};
    int rc = -1;
    if (get_authed(c, t, &q, &r, err) < 0)
        goto out;
    if (r.status != 200) {
        status_error(t, "manifest", reference, &r, err);
        goto out;
    }
    char hex[BERTH_SHA256_HEX_LEN + 1];
    berth_sha256_buf(r.buf ? r.buf : "", r.len, hex);
    snprintf(out->digest, sizeof(out->digest), "sha256:%s", hex);
    if (berth_digest_valid(reference) && strcmp(reference, out->digest) != 0) {
        berth_err_make(err, EIO, BERTH_ERR_DATA_LOSS, "manifest %s/%s@%s: content has digest %s",
                       t->domain, t->repository, reference, out->digest);
        goto out;
    }
    if (r.dcd && strncmp(r.dcd, "sha256:", 7) == 0 && strcmp(r.dcd, out->digest) != 0) {
        berth_err_make(err, EIO, BERTH_ERR_DATA_LOSS,
                       "manifest %s/%s:%s: Docker-Content-Digest %s but content has digest %s",
                       t->domain, t->repository, reference, r.dcd, out->digest);
        goto out;
    }
    if (r.content_type) {
        char *semi = strchr(r.content_type, ';');
        if (semi)
            *semi = '\0';
        if (strstr(r.content_type, "vnd.oci.") || strstr(r.content_type, "vnd.docker."))
            out->media_type = berth_strdup(r.content_type);
    }
    if (out->media_type == NULL) {
        json_t *j = json_loadb(r.buf ? r.buf : "", r.len, 0, NULL);
        const char *mt = json_string_value(json_object_get(j, "mediaType"));
        if (mt)
            out->media_type = berth_strdup(mt);
        else
            out->media_type =
                    berth_strdup(json_object_get(j, "manifests") ? BERTH_MEDIA_OCI_INDEX
                                                                 : BERTH_MEDIA_OCI_MANIFEST);
        json_decref(j);
    }
    out->data = r.buf ? berth_steal_ptr(&r.buf) : berth_strdup("");
    out->len = r.len;
    rc = 0;
out:
    resp_fini(&r);
    if (rc < 0)
        berth_registry_raw_fini(out);
    return rc;
}

static void descriptor_fini(berth_registry_descriptor_t *d)
{
    berth_free(d->media_type);
    berth_free(d->digest);
    berth_free(d->os);
    berth_free(d->arch);
    berth_free(d->variant);
    berth_free(d->title);
    memset(d, 0, sizeof(*d));
}

void berth_registry_manifest_fini(berth_registry_manifest_t *m)
{
    descriptor_fini(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        descriptor_fini(&m->layers[i]);
    for (size_t i = 0; i < m->n_manifests; i++)
        descriptor_fini(&m->manifests[i]);
    berth_free(m->layers);
    berth_free(m->manifests);
    berth_free(m->media_type);
    memset(m, 0, sizeof(*m));
}

static int parse_descriptor(json_t *j, const char *where, bool platform,
                            berth_registry_descriptor_t *d, berth_err_t *err)
{
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    const char *dg = json_string_value(json_object_get(j, "digest"));
    json_t *sz = json_object_get(j, "size");
    if (!json_is_object(j) || mt == NULL || !berth_digest_valid(dg) || !json_is_integer(sz) ||
        json_integer_value(sz) < 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "manifest: %s is not a valid descriptor (mediaType, sha256 digest, "
                              "size)",
                              where);
    d->media_type = berth_strdup(mt);
    d->digest = berth_strdup(dg);
    d->size = json_integer_value(sz);
    /* An artifact's file layers are named by it (io/pull.c). */
    d->title = dup_or_null(json_string_value(
            json_object_get(json_object_get(j, "annotations"), "org.opencontainers.image.title")));
    json_t *p = json_object_get(j, "platform");
    if (platform && json_is_object(p)) {
        d->os = dup_or_null(json_string_value(json_object_get(p, "os")));
        d->arch = dup_or_null(json_string_value(json_object_get(p, "architecture")));
        d->variant = dup_or_null(json_string_value(json_object_get(p, "variant")));
    }
    return 0;
}

int berth_registry_manifest_parse(const char *media_type, const void *data, size_t len,
                                  berth_registry_manifest_t *out, berth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "manifest is not a JSON object: %s",
                              jerr.text);
    }
    int rc = -1;
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    if (media_type == NULL || strcmp(media_type, "application/json") == 0)
        media_type = mt;
    json_int_t schema = json_integer_value(json_object_get(j, "schemaVersion"));
    if (schema == 1 ||
        (media_type &&
         strncmp(media_type, "application/vnd.docker.distribution.manifest.v1", 47) == 0)) {
        berth_err_make(err, ENOTSUP, BERTH_ERR_UNSUPPORTED,
                       "Docker schema 1 manifests are not supported");
        goto out;
    }
    if (schema != 2) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "manifest: schemaVersion must be 2");
        goto out;
    }
    json_t *manifests = json_object_get(j, "manifests");
    bool is_index = media_type ? (strcmp(media_type, BERTH_MEDIA_OCI_INDEX) == 0 ||
                                  strcmp(media_type, BERTH_MEDIA_DOCKER_LIST) == 0)
                               : json_is_array(manifests);
    if (media_type && !is_index && strcmp(media_type, BERTH_MEDIA_OCI_MANIFEST) != 0 &&
        strcmp(media_type, BERTH_MEDIA_DOCKER_MANIFEST) != 0) {
        berth_err_make(err, ENOTSUP, BERTH_ERR_UNSUPPORTED, "unsupported manifest media type %s",
                       media_type);
        goto out;
    }
    out->is_index = is_index;
    out->media_type = berth_strdup(media_type ? media_type
                                   : is_index ? BERTH_MEDIA_OCI_INDEX
                                              : BERTH_MEDIA_OCI_MANIFEST);
    if (is_index) {
        if (!json_is_array(manifests) || json_array_size(manifests) > MAX_LAYERS) {
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                           "index: manifests must be an array of at most %d entries", MAX_LAYERS);
            goto out;
        }
        out->n_manifests = json_array_size(manifests);
        out->manifests = berth_calloc(out->n_manifests, sizeof(*out->manifests));
        for (size_t i = 0; i < out->n_manifests; i++) {
            char where[48];
            snprintf(where, sizeof(where), "manifests[%zu]", i);
            if (parse_descriptor(json_array_get(manifests, i), where, true, &out->manifests[i],
                                 err) < 0)
                goto out;
        }
    } else {
        if (parse_descriptor(json_object_get(j, "config"), "config", false, &out->config, err) < 0)
            goto out;
        json_t *layers = json_object_get(j, "layers");
        if (!json_is_array(layers) || json_array_size(layers) > MAX_LAYERS) {
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                           "manifest: layers must be an array of at most %d entries", MAX_LAYERS);
            goto out;
        }
        out->n_layers = json_array_size(layers);
        out->layers = berth_calloc(out->n_layers, sizeof(*out->layers));
        for (size_t i = 0; i < out->n_layers; i++) {
            char where[48];
            snprintf(where, sizeof(where), "layers[%zu]", i);
            if (parse_descriptor(json_array_get(layers, i), where, false, &out->layers[i], err) < 0)
                goto out;
        }
    }
    rc = 0;
out:
    json_decref(j);
    if (rc < 0)
        berth_registry_manifest_fini(out);
    return rc;
}

static bool variant_eq(const char *arch, const char *want, const char *have)
{
    if (want == NULL)
        return true;
    if (have == NULL || have[0] == '\0') {
        /* arm64 images commonly omit their only variant, v8. */
        return want[0] == '\0' || (strcmp(arch, "arm64") == 0 && strcmp(want, "v8") == 0);
    }
    return strcmp(want, have) == 0;
}

const berth_registry_descriptor_t *
berth_registry_index_select(const berth_registry_manifest_t *index, const char *os,
                            const char *arch, const char *variant, berth_err_t *err)
{
    os = os ? os : "linux";
    arch = arch ? arch : "amd64";
    for (size_t i = 0; i < index->n_manifests; i++) {
        const berth_registry_descriptor_t *d = &index->manifests[i];
        if (d->os && d->arch && strcmp(d->os, os) == 0 && strcmp(d->arch, arch) == 0 &&
            variant_eq(arch, variant, d->variant))
            return d;
    }
    size_t cap = 1;
    for (size_t i = 0; i < index->n_manifests; i++)
        cap += 64;
    BERTH_AUTO_FREE char *have = berth_calloc(1, cap);
    size_t o = 0;
    for (size_t i = 0; i < index->n_manifests && o + 64 < cap; i++) {
        const berth_registry_descriptor_t *d = &index->manifests[i];
        int n = snprintf(have + o, cap - o, "%s%.20s/%.20s%s%.10s", o ? ", " : "",
                         d->os ? d->os : "?", d->arch ? d->arch : "?", d->variant ? "/" : "",
                         d->variant ? d->variant : "");
        o += n > 0 ? (size_t)n : 0;
    }
    berth_err_make(err, ENOENT, BERTH_ERR_NOT_FOUND,
                   "no image for platform %s/%s%s%s in the index (it has: %s)", os, arch,
                   variant ? "/" : "", variant ? variant : "", o ? have : "nothing");
    return NULL;
}

void berth_registry_image_fini(berth_registry_image_t *img)
{
    berth_registry_raw_fini(&img->top);
    berth_registry_raw_fini(&img->manifest);
    berth_registry_manifest_fini(&img->parsed);
}

int berth_registry_resolve(berth_registry_client_t *c, const berth_registry_target_t *t,
                           const char *reference, const char *os, const char *arch,
                           const char *variant, berth_registry_image_t *out, berth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (berth_registry_fetch_manifest(c, t, reference, &out->top, err) < 0)
        return -1;
    berth_registry_manifest_t top;
    if (berth_registry_manifest_parse(out->top.media_type, out->top.data, out->top.len, &top, err) <
        0)
        goto fail;
    if (!top.is_index) {
        out->parsed = top;
        out->manifest = out->top;
        out->manifest.media_type = berth_strdup(out->top.media_type);
        out->manifest.data = berth_memdup(out->top.data, out->top.len + 1);
        return 0;
    }
    const berth_registry_descriptor_t *d =
            berth_registry_index_select(&top, os, arch, variant, err);
    int rc = d ? berth_registry_fetch_manifest(c, t, d->digest, &out->manifest, err) : -1;
    berth_registry_manifest_fini(&top);
    if (rc < 0)
        goto fail;
    if (berth_registry_manifest_parse(out->manifest.media_type, out->manifest.data,
                                      out->manifest.len, &out->parsed, err) < 0)
        goto fail;
    if (out->parsed.is_index) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "index entry %s is itself an index (nested indexes are not supported)",
                       out->manifest.digest);
        goto fail;
    }
    return 0;
fail:
    berth_err_prefix(err, "resolve %s/%s%s%s", t->domain, t->repository,
                     berth_digest_valid(reference) ? "@" : ":", reference);
    berth_registry_image_fini(out);
    return -1;
}

/* ---- blobs --------------------------------------------------------------- */

int berth_registry_fetch_blob(berth_registry_client_t *c, const berth_registry_target_t *t,
                              const char *digest, int64_t expected_size, const char *dest_path,
                              uint64_t *bytes, berth_err_t *err)
{
    if (check_target(t, err) < 0)
        return -1;
    if (!berth_digest_valid(digest))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "invalid blob digest \"%s\"",
                              digest ? digest : "");
    BERTH_AUTO_FREE char *url =
            berth_asprintf("%s://%s/v2/%s/blobs/%s", host_insecure(c, t) ? "http" : "https",
                           api_host(t->domain), t->repository, digest);
    BERTH_AUTO_FREE char *tmp = berth_asprintf("%s.partial-XXXXXX", dest_path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return berth_err_errno(err, errno, "create temp file for blob %s", dest_path);
    berth_sha256_t sha;
    berth_sha256_init(&sha);
    struct resp r = {.fd = fd, .sha = &sha};
    r.limit = expected_size >= 0       ? (uint64_t)expected_size
              : c->opts.max_blob_bytes ? c->opts.max_blob_bytes
                                       : UINT64_MAX;
    struct request q = {.url = url, .kind = REQ_BLOB};
    int rc = -1;
    if (get_authed(c, t, &q, &r, err) < 0)
        goto out;
    if (r.status != 200) {
        status_error(t, "blob", digest, &r, err);
        goto out;
    }
    if (expected_size >= 0 && r.written != (uint64_t)expected_size) {
        berth_err_make(err, EIO, BERTH_ERR_DATA_LOSS,
                       "blob %s/%s@%s truncated: got %llu of %lld bytes", t->domain, t->repository,
                       digest, (unsigned long long)r.written, (long long)expected_size);
        goto out;
    }
    char hex[BERTH_SHA256_HEX_LEN + 1];
    berth_sha256_final(&sha, hex);
    if (strcmp(digest + 7, hex) != 0) {
        berth_err_make(err, EIO, BERTH_ERR_DATA_LOSS,
                       "blob %s/%s: digest mismatch: expected %s, content is sha256:%s", t->domain,
                       t->repository, digest, hex);
        goto out;
    }
    /* Verified content must survive a crash once it has its final name. */
    if (fdatasync(fd) < 0) {
        berth_err_errno(err, errno, "sync blob %s", dest_path);
        goto out;
    }
    if (rename(tmp, dest_path) < 0) {
        berth_err_errno(err, errno, "rename blob into %s", dest_path);
        goto out;
    }
    if (bytes)
        *bytes = r.written;
    rc = 0;
out:
    if (rc < 0)
        unlink(tmp);
    close(fd);
    berth_sha256_fini(&sha);
    resp_fini(&r);
    return rc;
}
