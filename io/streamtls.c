/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The streaming server's TLS (io/streamtls.h): one SSL_CTX held by the
 * listener, one SSL per connection on a pair of memory BIOs.
 *
 * Threads: the server object belongs to the listener actor (check, new);
 * an SSL then belongs to its connection actor alone. SSL_new takes a
 * reference on the context and SSL_free drops it (OpenSSL counts them
 * atomically), so a replaced context lives on until its last connection
 * ends, on whatever worker that is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "io/streamtls.h"

enum { F_CERT, F_KEY, F_CA, NFILES };

/* The streaming server's keys; other servers name theirs (berth_stls_names_t). */
static const berth_stls_names_t stream_names = {
        .section = "[crio.api]",
        .cert = "stream_tls_cert",
        .key = "stream_tls_key",
        .ca = "stream_tls_ca",
};

typedef struct fstamp {
    bool present;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
} fstamp_t;

struct berth_stls_server {
    berth_stls_names_t names; /* static strings */
    char *path[NFILES];       /* NULL: not configured (the CA only) */
    fstamp_t stamp[NFILES];
    SSL_CTX *ctx;
    uint64_t checked_ns;
};

/* OpenSSL fails these only when memory is exhausted; berth aborts then, as
 * its own allocator does (engine/alloc.h). */
static void oom(void)
{
    berth_log_error("streaming TLS: out of memory", "%s", "aborting");
    abort();
}

struct berth_stls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    bool failed, notified;
    char error[256];
};

/* OpenSSL's own reason for the last failure, or fallback. */
static const char *ssl_reason(char *buf, size_t n, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0) {
        snprintf(buf, n, "%s", fallback);
    } else {
        ERR_error_string_n(e, buf, n);
    }
    ERR_clear_error();
    return buf;
}

static void stamp_of(const char *path, fstamp_t *st)
{
    struct stat sb;
    memset(st, 0, sizeof(*st));
    /* stat, not lstat: a Kubernetes secret volume swaps a symlink, and
     * what counts is the file it now points at */
    if (path == NULL || stat(path, &sb) < 0)
        return;
    st->present = true;
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    st->size = sb.st_size;
    st->mtime = sb.st_mtim;
    st->ctime = sb.st_ctim;
}

static bool stamp_eq(const fstamp_t *a, const fstamp_t *b)
{
    return a->present == b->present && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* A file that cannot be opened is named with its errno's text, which says
 * more than OpenSSL's "system lib". */
static int readable(const berth_stls_names_t *nm, int which, const char *path, berth_err_t *err)
{
    const char *key = which == F_CERT ? nm->cert : which == F_KEY ? nm->key : nm->ca;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return berth_err_errno(err, errno, "%s %s %s", nm->section, key, path);
    close(fd);
    return 0;
}

static SSL_CTX *load_ctx(const berth_stls_names_t *nm, char *const path[NFILES], berth_err_t *err)
{
    char why[256];
    ERR_clear_error();
    for (int i = 0; i < NFILES; i++)
        if (path[i] && readable(nm, i, path[i], err) < 0)
            return NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        berth_err_make(err, ENOMEM, BERTH_ERR_INTERNAL, "streaming TLS: SSL_CTX_new: %s",
                       ssl_reason(why, sizeof(why), "failed"));
        return NULL;
    }
    (void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, path[F_CERT]) != 1) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s %s %s: not a PEM certificate: %s",
                       nm->section, nm->cert, path[F_CERT],
                       ssl_reason(why, sizeof(why), "unreadable"));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, path[F_KEY], SSL_FILETYPE_PEM) != 1) {
        /* OpenSSL checks the key against the certificate here already */
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "%s %s %s: not a PEM private key for the certificate in %s: %s", nm->section,
                       nm->key, path[F_KEY], path[F_CERT],
                       ssl_reason(why, sizeof(why), "unreadable"));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "%s %s %s does not match the certificate in %s: %s", nm->section, nm->key,
                       path[F_KEY], path[F_CERT], ssl_reason(why, sizeof(why), "mismatch"));
        goto fail;
    }
    if (path[F_CA]) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(path[F_CA]);
        if (names == NULL || SSL_CTX_load_verify_locations(ctx, path[F_CA], NULL) != 1) {
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s %s %s: no PEM CA certificate: %s",
                           nm->section, nm->ca, path[F_CA],
                           ssl_reason(why, sizeof(why), "none found"));
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

berth_stls_server_t *berth_stls_server_new(const char *cert, const char *key, const char *ca,
                                           berth_err_t *err)
{
    return berth_stls_server_new_named(cert, key, ca, &stream_names, err);
}

berth_stls_server_t *berth_stls_server_new_named(const char *cert, const char *key, const char *ca,
                                                 const berth_stls_names_t *names, berth_err_t *err)
{
    if (cert == NULL || cert[0] == '\0' || key == NULL || key[0] == '\0') {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s TLS needs %s and %s", names->section,
                       names->cert, names->key);
        return NULL;
    }
    berth_stls_server_t *s = berth_calloc(1, sizeof(*s));
    s->names = *names;
    s->path[F_CERT] = berth_strdup(cert);
    s->path[F_KEY] = berth_strdup(key);
    s->path[F_CA] = ca && ca[0] ? berth_strdup(ca) : NULL;
    /* stamped before the load: a file replaced in between is seen changed
     * at the next check and loaded again, never missed */
    for (int i = 0; i < NFILES; i++)
        stamp_of(s->path[i], &s->stamp[i]);
    s->ctx = load_ctx(&s->names, s->path, err);
    if (s->ctx == NULL) {
        berth_stls_server_free(s);
        return NULL;
    }
    return s;
}

void berth_stls_server_free(berth_stls_server_t *s)
{
    if (s == NULL)
        return;
    SSL_CTX_free(s->ctx);
    for (int i = 0; i < NFILES; i++)
        berth_free(s->path[i]);
    berth_free(s);
}

int berth_stls_server_check(berth_stls_server_t *s, uint64_t now_ns, berth_err_t *err)
{
    if (s->checked_ns != 0 && now_ns - s->checked_ns < BERTH_STLS_CHECK_NS)
        return 0;
    s->checked_ns = now_ns ? now_ns : 1;
    fstamp_t now[NFILES];
    bool changed = false;
    for (int i = 0; i < NFILES; i++) {
        stamp_of(s->path[i], &now[i]);
        if (!stamp_eq(&now[i], &s->stamp[i]))
            changed = true;
    }
    if (!changed)
        return 0;
    memcpy(s->stamp, now, sizeof(now));
    SSL_CTX *ctx = load_ctx(&s->names, s->path, err);
    if (ctx == NULL)
        return -1;
    SSL_CTX_free(s->ctx);
    s->ctx = ctx;
    return 1;
}

berth_stls_t *berth_stls_new(berth_stls_server_t *s)
{
    berth_stls_t *t = berth_calloc(1, sizeof(*t));
    t->ssl = SSL_new(s->ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL)
        oom();
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    return t;
}

void berth_stls_free(berth_stls_t *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    berth_free(t);
}

/* Moves what TLS wrote into cipher. */
static void drain(berth_stls_t *t, berth_bytebuf_t *cipher)
{
    size_t n;
    while ((n = BIO_ctrl_pending(t->wbio)) > 0) {
        uint8_t *p = berth_bytebuf_reserve(cipher, n);
        int r = BIO_read(t->wbio, p, (int)n);
        if (r <= 0)
            break;
        cipher->len += (size_t)r;
    }
}

static int fail(berth_stls_t *t, const char *what)
{
    char why[200];
    t->failed = true;
    snprintf(t->error, sizeof(t->error), "%s: %s", what,
             ssl_reason(why, sizeof(why), "protocol error"));
    return -1;
}

int berth_stls_input(berth_stls_t *t, const void *p, size_t n, berth_bytebuf_t *plain,
                     berth_bytebuf_t *cipher)
{
    if (t->failed)
        return -1;
    /* SSL_get_error reads the thread's error queue, which other code on
     * this worker (another connection, libcrypto elsewhere) may have left
     * something in */
    ERR_clear_error();
    /* a memory BIO takes everything */
    if (n > 0 && BIO_write(t->rbio, p, (int)n) != (int)n)
        oom();
    int rc = 0;
    for (;;) {
        uint8_t *dst = berth_bytebuf_reserve(plain, 16384);
        int r = SSL_read(t->ssl, dst, 16384);
        if (r > 0) {
            plain->len += (size_t)r;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            rc = 1;
            break;
        }
        rc = fail(t, SSL_is_init_finished(t->ssl) ? "TLS" : "TLS handshake");
        break;
    }
    drain(t, cipher);
    return rc;
}

int berth_stls_output(berth_stls_t *t, berth_bytebuf_t *plain, berth_bytebuf_t *cipher)
{
    if (t->failed)
        return -1;
    if (!SSL_is_init_finished(t->ssl))
        return 0;
    ERR_clear_error();
    while (berth_bytebuf_pending(plain) > 0) {
        size_t n = berth_bytebuf_pending(plain);
        if (n > (1u << 30))
            n = 1u << 30;
        int r = SSL_write(t->ssl, plain->data + plain->off, (int)n);
        if (r <= 0) {
            drain(t, cipher);
            return fail(t, "TLS write");
        }
        berth_bytebuf_consume(plain, (size_t)r);
    }
    drain(t, cipher);
    return 0;
}

void berth_stls_close_notify(berth_stls_t *t, berth_bytebuf_t *cipher)
{
    if (t->notified || t->failed || !SSL_is_init_finished(t->ssl))
        return;
    t->notified = true;
    (void)SSL_shutdown(t->ssl);
    ERR_clear_error();
    drain(t, cipher);
}

bool berth_stls_handshake_done(const berth_stls_t *t)
{
    return SSL_is_init_finished(t->ssl);
}

const char *berth_stls_error(const berth_stls_t *t)
{
    return t->error;
}
