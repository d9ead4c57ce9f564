/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/streamtls: self-signed certificates made here with libcrypto; a client
 * SSL on memory BIOs talks to the server side through the layer's input
 * and output functions: the handshake, data both ways (larger than a
 * record), close_notify, plain HTTP refused; a client without the CA's certificate refused and
 * one with it let in; start errors naming the file (missing, not PEM, a key
 * of another certificate); a replaced certificate used by new connections
 * only, and a bad replacement keeping the old one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "engine/alloc.h"
#include "io/streamtls.h"
#include "tests/unit/check.h"

static char dir[] = "/tmp/berth-streamtls-XXXXXX";

static char *path_of(const char *name)
{
    return berth_asprintf("%s/%s", dir, name);
}

/* A P-256 key and a certificate for CN=cn, signed by (ca_cert, ca_key) or
 * self-signed; written to name.crt and name.key. */
static void make_cert(const char *name, const char *cn, X509 *ca_cert, EVP_PKEY *ca_key,
                      X509 **cert_out, EVP_PKEY **key_out)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0x7fffffff) + 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, ca_cert ? X509_get_subject_name(ca_cert) : n);
    if (strstr(cn, " CA")) {
        /* a verifier takes only a certificate marked as a CA as one */
        X509_EXTENSION *ext =
                X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(x, ca_key ? ca_key : key, EVP_sha256());
    char *cp = berth_asprintf("%s/%s.crt", dir, name), *kp = berth_asprintf("%s/%s.key", dir, name);
    /* written to a new file and renamed, as a certificate manager does */
    char *tmp = berth_asprintf("%s.tmp", cp);
    FILE *f = fopen(tmp, "w");
    PEM_write_X509(f, x);
    fclose(f);
    rename(tmp, cp);
    berth_free(tmp);
    tmp = berth_asprintf("%s.tmp", kp);
    f = fopen(tmp, "w");
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    rename(tmp, kp);
    berth_free(tmp);
    berth_free(cp);
    berth_free(kp);
    if (cert_out)
        *cert_out = x;
    else
        X509_free(x);
    if (key_out)
        *key_out = key;
    else
        EVP_PKEY_free(key);
}

typedef struct client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
} client_t;

static void client_init(client_t *cl, const char *cafile, const char *cert, const char *key)
{
    cl->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(cl->ctx, cafile, NULL);
    SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_PEER, NULL);
    if (cert) {
        SSL_CTX_use_certificate_file(cl->ctx, cert, SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(cl->ctx, key, SSL_FILETYPE_PEM);
    }
    cl->ssl = SSL_new(cl->ctx);
    cl->rbio = BIO_new(BIO_s_mem());
    cl->wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(cl->ssl, cl->rbio, cl->wbio);
    SSL_set_connect_state(cl->ssl);
}

static void client_fini(client_t *cl)
{
    SSL_free(cl->ssl);
    SSL_CTX_free(cl->ctx);
}

/* The server's side of a connection as streamconn.c has it. */
typedef struct server_side {
    berth_stls_t *t;
    berth_bytebuf_t in, oq, cipher;
    int last;
} server_side_t;

/* Moves bytes both ways until neither side has anything to say. The
 * client's output goes through berth_stls_input; the server's plaintext
 * queue through berth_stls_output. */
static void pump(client_t *cl, server_side_t *sv)
{
    for (int round = 0; round < 64; round++) {
        bool moved = false;
        (void)SSL_do_handshake(cl->ssl);
        size_t n = BIO_ctrl_pending(cl->wbio);
        if (n > 0) {
            uint8_t *buf = malloc(n);
            BIO_read(cl->wbio, buf, (int)n);
            sv->last = berth_stls_input(sv->t, buf, n, &sv->in, &sv->cipher);
            free(buf);
            moved = true;
        }
        if (berth_stls_output(sv->t, &sv->oq, &sv->cipher) < 0)
            sv->last = -1;
        if (berth_bytebuf_pending(&sv->cipher) > 0) {
            BIO_write(cl->rbio, sv->cipher.data + sv->cipher.off,
                      (int)berth_bytebuf_pending(&sv->cipher));
            sv->cipher.off = sv->cipher.len = 0;
            moved = true;
        }
        if (!moved)
            return;
    }
}

static void side_fini(server_side_t *sv)
{
    berth_stls_free(sv->t);
    berth_bytebuf_free(&sv->in);
    berth_bytebuf_free(&sv->oq);
    berth_bytebuf_free(&sv->cipher);
}

/* The CN of the certificate the client was shown. */
static void peer_cn(client_t *cl, char *out, size_t n)
{
    out[0] = '\0';
    X509 *x = SSL_get1_peer_certificate(cl->ssl);
    if (x) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)n);
        X509_free(x);
    }
}

static void test_handshake_and_data(void)
{
    BERTH_AUTO_FREE char *crt = path_of("srv.crt"), *key = path_of("srv.key");
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_stls_server_t *s = berth_stls_server_new(crt, key, NULL, &err);
    check(s != NULL, "a certificate and its key load: %s", err ? err->msg : "");
    if (s == NULL)
        return;
    client_t cl = {0};
    client_init(&cl, crt, NULL, NULL);
    server_side_t sv = {.t = berth_stls_new(s)};
    pump(&cl, &sv);
    ok(SSL_is_init_finished(cl.ssl) && berth_stls_handshake_done(sv.t) && sv.last == 0,
       "the handshake completes through memory BIOs (the client verifies the certificate)");
    ok(SSL_version(cl.ssl) >= TLS1_2_VERSION, "TLS 1.2 or later");

    /* client to server: 100 KiB, several records, fed in one go */
    size_t big = 100 * 1024;
    uint8_t *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    for (size_t off = 0; off < big;) {
        int w = SSL_write(cl.ssl, data + off, (int)(big - off));
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    pump(&cl, &sv);
    ok(berth_bytebuf_pending(&sv.in) == big && memcmp(sv.in.data + sv.in.off, data, big) == 0,
       "100 KiB from the client arrive as plaintext, byte for byte");

    /* server to client, the way the wire queues it */
    berth_bytebuf_put(&sv.oq, data, big);
    pump(&cl, &sv);
    uint8_t *got = malloc(big + 1);
    size_t have = 0;
    for (;;) {
        int r = SSL_read(cl.ssl, got + have, (int)(big + 1 - have));
        if (r <= 0)
            break;
        have += (size_t)r;
    }
    ok(have == big && memcmp(got, data, big) == 0 && berth_bytebuf_pending(&sv.oq) == 0,
       "100 KiB queued by the server reach the client, byte for byte");

    /* close_notify both ways */
    berth_stls_close_notify(sv.t, &sv.cipher);
    pump(&cl, &sv);
    char b;
    ok(SSL_read(cl.ssl, &b, 1) == 0 && SSL_get_error(cl.ssl, 0) == SSL_ERROR_ZERO_RETURN,
       "the server's close_notify ends the client's reading cleanly");
    SSL_shutdown(cl.ssl);
    pump(&cl, &sv);
    ok(sv.last == 1, "the client's close_notify is reported as the peer's end");
    free(data);
    free(got);
    side_fini(&sv);
    client_fini(&cl);

    /* garbage instead of a ClientHello */
    server_side_t bad = {.t = berth_stls_new(s)};
    static const char plain[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    int r = berth_stls_input(bad.t, plain, sizeof(plain) - 1, &bad.in, &bad.cipher);
    check(r == -1 && strstr(berth_stls_error(bad.t), "handshake") &&
                  berth_bytebuf_pending(&bad.in) == 0,
          "plain HTTP on the TLS port fails the handshake: %s", berth_stls_error(bad.t));
    side_fini(&bad);
    berth_stls_server_free(s);
}

static void test_client_certs(void)
{
    BERTH_AUTO_FREE char *crt = path_of("srv.crt"), *key = path_of("srv.key");
    BERTH_AUTO_FREE char *ca = path_of("ca.crt");
    BERTH_AUTO_FREE char *kcrt = path_of("kubelet.crt"), *kkey = path_of("kubelet.key");
    BERTH_AUTO_FREE char *ocrt = path_of("other.crt"), *okey = path_of("other.key");
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_stls_server_t *s = berth_stls_server_new(crt, key, ca, &err);
    check(s != NULL, "a CA for client certificates loads: %s", err ? err->msg : "");
    if (s == NULL)
        return;
    struct {
        const char *crt, *key;
        bool in;
        const char *what;
    } cases[] = {
            {NULL, NULL, false, "a client without a certificate is refused when a CA is set"},
            {ocrt, okey, false, "a client whose certificate is not the CA's is refused"},
            {kcrt, kkey, true, "a client with a certificate the CA signed gets in"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        client_t cl = {0};
        client_init(&cl, crt, cases[i].crt, cases[i].key);
        server_side_t sv = {.t = berth_stls_new(s)};
        pump(&cl, &sv);
        /* TLS 1.3: the client's finished comes before the server judged its
         * certificate; a byte of data shows who is really in */
        SSL_write(cl.ssl, "x", 1);
        pump(&cl, &sv);
        bool in = sv.last == 0 && berth_bytebuf_pending(&sv.in) == 1;
        check(in == cases[i].in, "%s%s%s", cases[i].what, in ? "" : ": ",
              in ? "" : berth_stls_error(sv.t));
        side_fini(&sv);
        client_fini(&cl);
    }
    berth_stls_server_free(s);
}

static void test_start_errors(void)
{
    BERTH_AUTO_FREE char *crt = path_of("srv.crt"), *key = path_of("srv.key");
    BERTH_AUTO_FREE char *okey = path_of("other.key"), *missing = path_of("missing.crt");
    BERTH_AUTO_FREE char *junk = path_of("junk.crt");
    FILE *f = fopen(junk, "w");
    fputs("not a certificate\n", f);
    fclose(f);
    struct {
        const char *crt, *key, *ca, *want1, *want2;
    } cases[] = {
            {missing, key, NULL, "stream_tls_cert", "No such file"},
            {crt, missing, NULL, "stream_tls_key", "No such file"},
            {junk, key, NULL, "stream_tls_cert", "junk.crt"},
            {crt, okey, NULL, "stream_tls_key", "other.key"},
            {crt, key, junk, "stream_tls_ca", "junk.crt"},
            {crt, "", NULL, "stream_tls_key", "stream_tls_cert"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        berth_stls_server_t *s =
                berth_stls_server_new(cases[i].crt, cases[i].key, cases[i].ca, &err);
        check(s == NULL && err && strstr(err->msg, cases[i].want1) &&
                      strstr(err->msg, cases[i].want2),
              "refused, naming %s: %s", cases[i].want1, err ? err->msg : "(accepted)");
        berth_stls_server_free(s);
    }
}

static void test_reload(void)
{
    BERTH_AUTO_FREE char *crt = path_of("rel.crt"), *key = path_of("rel.key");
    make_cert("rel", "berth-one", NULL, NULL, NULL, NULL);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_stls_server_t *s = berth_stls_server_new(crt, key, NULL, &err);
    if (!check(s != NULL, "the first certificate loads: %s", err ? err->msg : ""))
        return;
    uint64_t now = 1000000000ull;
    ok(berth_stls_server_check(s, now, &err) == 0, "unchanged files: nothing reloaded");

    client_t old = {0};
    client_init(&old, crt, NULL, NULL);
    server_side_t osv = {.t = berth_stls_new(s)};
    pump(&old, &osv);

    make_cert("rel", "berth-two", NULL, NULL, NULL, NULL);
    ok(berth_stls_server_check(s, now + 1000, &err) == 0,
       "a change is not looked for again within the check interval");
    now += BERTH_STLS_CHECK_NS;
    ok(berth_stls_server_check(s, now, &err) == 1, "a replaced certificate and key are reloaded");

    char cn[64];
    client_t cl = {0};
    client_init(&cl, crt, NULL, NULL);
    server_side_t sv = {.t = berth_stls_new(s)};
    pump(&cl, &sv);
    peer_cn(&cl, cn, sizeof(cn));
    check(SSL_is_init_finished(cl.ssl) && strcmp(cn, "berth-two") == 0,
          "a new connection is shown the new certificate: CN=%s", cn);
    side_fini(&sv);
    client_fini(&cl);

    peer_cn(&old, cn, sizeof(cn));
    berth_bytebuf_put(&osv.oq, "still", 5);
    pump(&old, &osv);
    char b[8] = {0};
    ok(strcmp(cn, "berth-one") == 0 && SSL_read(old.ssl, b, sizeof(b)) == 5 &&
               memcmp(b, "still", 5) == 0,
       "a connection from before keeps its context and works on");
    side_fini(&osv);
    client_fini(&old);

    /* a key of another certificate: refused, the old context stays */
    BERTH_AUTO_FREE char *okey = path_of("other.key");
    BERTH_AUTO_FREE char *cmd = berth_asprintf("cp %s %s.tmp && mv %s.tmp %s", okey, key, key, key);
    if (system(cmd) != 0)
        printf("# cp failed\n");
    now += BERTH_STLS_CHECK_NS;
    berth_err_free(&err);
    int r = berth_stls_server_check(s, now, &err);
    check(r == -1 && err && strstr(err->msg, "stream_tls_key"),
          "a key that does not match fails the reload, naming it: %s", err ? err->msg : "");
    client_init(&cl, crt, NULL, NULL);
    sv = (server_side_t){.t = berth_stls_new(s)};
    pump(&cl, &sv);
    peer_cn(&cl, cn, sizeof(cn));
    check(SSL_is_init_finished(cl.ssl) && strcmp(cn, "berth-two") == 0,
          "after a failed reload new connections get the previous certificate: CN=%s", cn);
    side_fini(&sv);
    client_fini(&cl);
    now += BERTH_STLS_CHECK_NS;
    berth_err_free(&err);
    ok(berth_stls_server_check(s, now, &err) == 0,
       "a failed reload is not tried again until the files change again");
    berth_stls_server_free(s);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        printf("1..0 # SKIP mkdtemp failed\n");
        return 0;
    }
    X509 *ca;
    EVP_PKEY *ca_key;
    make_cert("srv", "127.0.0.1", NULL, NULL, NULL, NULL);
    make_cert("ca", "berth test CA", NULL, NULL, &ca, &ca_key);
    make_cert("kubelet", "kubelet", ca, ca_key, NULL, NULL);
    make_cert("other", "someone", NULL, NULL, NULL, NULL);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    test_handshake_and_data();
    test_client_certs();
    test_start_errors();
    test_reload();
    BERTH_AUTO_FREE char *rm = berth_asprintf("rm -rf %s", dir);
    if (system(rm) != 0)
        printf("# cleanup failed\n");
    printf("1..%d\n", ntest);
    return nfail != 0;
}
