/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf/stream_client: URL splitting, the v4 status JSON, and the client's
 * framing against fake servers on a loopback listener (a thread each), built
 * from berth's own codecs: over SPDY an exec that prints and exits 7 (the
 * streams opened in client-go's order, answered the way the kubelet's server
 * ends a session: data, status, RST_STREAM, GOAWAY), over WebSocket output
 * sent with the upgrade answer, stdin echoed back and a v5 close of stdin, a
 * port-forward tunnelled as SPDY in WebSocket messages, and a refused URL
 * (404); the same through a TLS front (https) with a certificate made here:
 * unchecked, checked by IP and by name, and refused when it does not verify.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "engine/alloc.h"
#include "io/httpreq.h"
#include "io/spdy.h"
#include "io/websocket.h"
#include "perf/stream_client.h"
#include "tests/unit/check.h"

#define SEC 1000000000ull

typedef struct fake {
    int lfd;
    int mode;       /* 0 SPDY exec, 1 WebSocket echo, 2 refuse, 3 WebSocket tunnel */
    char types[64]; /* SPDY: the stream types in the order they came (tunnel: of port 8080) */
    bool stdin_closed;
    bool tls_refused; /* the TLS front's handshake failed */
} fake_t;

static void send_all(int fd, berth_bytebuf_t *b)
{
    while (berth_bytebuf_pending(b) > 0) {
        ssize_t n = send(fd, b->data + b->off, berth_bytebuf_pending(b), MSG_NOSIGNAL);
        if (n <= 0)
            break;
        berth_bytebuf_consume(b, (size_t)n);
    }
}

/* Reads the request head into in (bytes after it stay there); the parsed
 * request in *req. */
static void read_req(int fd, berth_bytebuf_t *in, berth_http_req_t *req)
{
    berth_http_parser_t hp = {0};
    for (;;) {
        uint8_t *p = berth_bytebuf_reserve(in, 4096);
        ssize_t n = recv(fd, p, 4096, 0);
        if (n <= 0)
            return;
        in->len += (size_t)n;
        berth_err_t err = NULL;
        ssize_t h = berth_http_parse(&hp, in->data + in->off, berth_bytebuf_pending(in), req, &err);
        berth_err_free(&err);
        if (h > 0) {
            berth_bytebuf_consume(in, (size_t)h);
            return;
        }
        if (h < 0)
            return;
    }
}

static bool recv_more(int fd, berth_bytebuf_t *in)
{
    uint8_t *p = berth_bytebuf_reserve(in, 65536);
    ssize_t n = recv(fd, p, 65536, 0);
    if (n <= 0)
        return false;
    in->len += (size_t)n;
    return true;
}

static void spdy_exec(fake_t *f, int fd, berth_bytebuf_t *in)
{
    berth_bytebuf_t out = {0};
    const char *ok101 = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                        "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n";
    berth_bytebuf_put(&out, ok101, strlen(ok101));
    send_all(fd, &out);
    berth_spdy_t *s = berth_spdy_new();
    uint32_t sid_out = 0, sid_err = 0, sids[8];
    int nsids = 0;
    while (nsids < 3) {
        berth_spdy_frame_t fr = {0};
        berth_err_t err = NULL;
        ssize_t n = berth_spdy_parse(s, in->data + in->off, berth_bytebuf_pending(in), &fr, &err);
        berth_err_free(&err);
        if (n < 0)
            break;
        if (n == 0) {
            if (!recv_more(fd, in))
                break;
            continue;
        }
        if (fr.type == BERTH_SPDY_SYN_STREAM) {
            const char *t = berth_spdy_header_get(&fr, "streamtype", NULL);
            strncat(f->types, t ? t : "?", sizeof(f->types) - strlen(f->types) - 2);
            strcat(f->types, " ");
            if (t && strcmp(t, "stdout") == 0)
                sid_out = fr.stream_id;
            if (t && strcmp(t, "error") == 0)
                sid_err = fr.stream_id;
            sids[nsids++] = fr.stream_id;
            berth_spdy_put_syn_reply(s, &out, fr.stream_id, 0, NULL, 0, NULL);
        }
        berth_spdy_frame_clear(&fr);
        berth_bytebuf_consume(in, (size_t)n);
    }
    if (sid_out && sid_err) {
        berth_spdy_put_data(&out, sid_out, 0, "hi\n", 3);
        const char *st = "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated "
                         "with non-zero exit code: 7\",\"reason\":\"NonZeroExitCode\",\"details\":"
                         "{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"7\"}]}}";
        berth_spdy_put_data(&out, sid_err, 0, st, strlen(st));
        for (int i = 0; i < nsids; i++)
            berth_spdy_put_rst_stream(&out, sids[i], BERTH_SPDY_CANCEL);
        berth_spdy_put_goaway(&out, sids[nsids - 1], BERTH_SPDY_GOAWAY_OK);
    }
    send_all(fd, &out);
    berth_spdy_free(s);
    berth_bytebuf_free(&out);
}

static void ws_echo(fake_t *f, int fd, berth_bytebuf_t *in, berth_http_req_t *req)
{
    berth_bytebuf_t out = {0};
    char accept[BERTH_WS_ACCEPT_LEN + 1];
    int status = 0;
    berth_err_t err = NULL;
    if (berth_ws_handshake_check(req, accept, &status, &err) < 0) {
        berth_err_free(&err);
        return;
    }
    static const char *const protos[] = {"v5.channel.k8s.io", "v4.channel.k8s.io"};
    int i = berth_ws_select_protocol(req, protos, 2, true);
    const char *name = i >= 0 ? protos[i] : "";
    const berth_ws_chan_proto_t *proto = berth_ws_chan_proto(name);
    berth_ws_put_accept(&out, accept, name);
    berth_ws_chan_put(&out, proto, 1, NULL, 0, NULL); /* "the streams are up" */
    /* output in the same segment as the answer, then nothing until the
     * client writes: the client must see it without more input */
    berth_ws_chan_put(&out, proto, 1, "ready\n", 6, NULL);
    send_all(fd, &out);
    berth_ws_parser_t p;
    berth_ws_parser_init(&p, true, 0);
    while (!f->stdin_closed) {
        berth_ws_frame_t fr;
        ssize_t n = berth_ws_parse(&p, in->data + in->off, berth_bytebuf_pending(in), &fr, &err);
        if (n < 0) {
            berth_err_free(&err);
            break;
        }
        if (n == 0) {
            if (!recv_more(fd, in))
                break;
            continue;
        }
        berth_ws_chan_msg_t m;
        if (fr.opcode == BERTH_WS_OP_BINARY &&
            berth_ws_chan_decode(proto, fr.payload, fr.len, &m, &err) == 1 && m.channel == 0) {
            if (m.close)
                f->stdin_closed = true;
            else
                berth_ws_chan_put(&out, proto, 1, m.data, m.len, NULL);
        }
        berth_err_free(&err);
        berth_bytebuf_consume(in, (size_t)n);
        send_all(fd, &out);
    }
    const char *ok = "{\"metadata\":{},\"status\":\"Success\"}";
    berth_ws_chan_put(&out, proto, 3, ok, strlen(ok), NULL);
    berth_ws_put_close(&out, BERTH_WS_CLOSE_NORMAL, NULL);
    send_all(fd, &out);
    berth_bytebuf_free(&out);
}

/* Port-forward tunnelled in WebSocket (SPDY/3.1+portforward.k8s.io): the
 * SPDY streams a client opens in binary messages (one SPDY frame split
 * over two messages, on purpose), replied to, and the data stream's bytes
 * echoed until its FIN, which is echoed too. */
static void ws_tunnel(fake_t *f, int fd, berth_bytebuf_t *in, berth_http_req_t *req)
{
    berth_bytebuf_t out = {0}, spdy_in = {0}, spdy_out = {0};
    char accept[BERTH_WS_ACCEPT_LEN + 1];
    int status = 0;
    berth_err_t err = NULL;
    static const char *const protos[] = {"SPDY/3.1+portforward.k8s.io"};
    if (berth_ws_handshake_check(req, accept, &status, &err) < 0 ||
        berth_ws_select_protocol(req, protos, 1, true) != 0) {
        berth_err_free(&err);
        return;
    }
    berth_ws_put_accept(&out, accept, protos[0]);
    send_all(fd, &out);
    berth_ws_parser_t p;
    berth_ws_parser_init(&p, true, 0);
    berth_spdy_t *s = berth_spdy_new();
    uint32_t sid_data = 0;
    bool done = false;
    while (!done) {
        berth_ws_frame_t fr;
        ssize_t n = berth_ws_parse(&p, in->data + in->off, berth_bytebuf_pending(in), &fr, &err);
        if (n < 0)
            break;
        if (n == 0) {
            if (!recv_more(fd, in))
                break;
            continue;
        }
        if (fr.opcode == BERTH_WS_OP_BINARY)
            berth_bytebuf_put(&spdy_in, fr.payload, fr.len);
        berth_bytebuf_consume(in, (size_t)n);
        for (;;) {
            berth_spdy_frame_t sf = {0};
            ssize_t k = berth_spdy_parse(s, spdy_in.data + spdy_in.off,
                                         berth_bytebuf_pending(&spdy_in), &sf, &err);
            if (k <= 0)
                break;
            if (sf.type == BERTH_SPDY_SYN_STREAM) {
                const char *t = berth_spdy_header_get(&sf, "streamtype", NULL);
                const char *port = berth_spdy_header_get(&sf, "port", NULL);
                if (t && port && strcmp(port, "8080") == 0) {
                    strncat(f->types, t, sizeof(f->types) - strlen(f->types) - 2);
                    strcat(f->types, " ");
                }
                if (t && strcmp(t, "data") == 0)
                    sid_data = sf.stream_id;
                berth_spdy_put_syn_reply(s, &spdy_out, sf.stream_id, 0, NULL, 0, NULL);
            } else if (sf.type == BERTH_SPDY_DATA && sf.stream_id == sid_data) {
                berth_spdy_put_data(&spdy_out, sid_data, sf.flags & BERTH_SPDY_FLAG_FIN, sf.data,
                                    sf.len);
                done = (sf.flags & BERTH_SPDY_FLAG_FIN) != 0;
            }
            berth_spdy_frame_clear(&sf);
            berth_bytebuf_consume(&spdy_in, (size_t)k);
        }
        size_t half = berth_bytebuf_pending(&spdy_out) / 2;
        if (half > 0) {
            berth_ws_put_frame(&out, BERTH_WS_OP_BINARY, true, spdy_out.data + spdy_out.off, half,
                               NULL);
            berth_ws_put_frame(&out, BERTH_WS_OP_BINARY, true, spdy_out.data + spdy_out.off + half,
                               berth_bytebuf_pending(&spdy_out) - half, NULL);
            spdy_out.off = spdy_out.len = 0;
        }
        send_all(fd, &out);
    }
    berth_err_free(&err);
    berth_ws_put_close(&out, BERTH_WS_CLOSE_NORMAL, NULL);
    send_all(fd, &out);
    berth_spdy_free(s);
    berth_bytebuf_free(&out);
    berth_bytebuf_free(&spdy_in);
    berth_bytebuf_free(&spdy_out);
}

/* One connection of the fake server on fd (closed here). */
static void serve(fake_t *f, int fd)
{
    berth_bytebuf_t in = {0};
    berth_http_req_t req = {0};
    read_req(fd, &in, &req);
    if (f->mode == 0) {
        spdy_exec(f, fd, &in);
    } else if (f->mode == 1) {
        ws_echo(f, fd, &in, &req);
    } else if (f->mode == 3) {
        ws_tunnel(f, fd, &in, &req);
    } else {
        berth_bytebuf_t out = {0};
        const char *body = "streaming URL not found: unknown or already used\n";
        berth_http_put_response(&out, 404, NULL, NULL, 0, body, strlen(body));
        send_all(fd, &out);
        berth_bytebuf_free(&out);
    }
    berth_http_req_fini(&req);
    berth_bytebuf_free(&in);
    /* let the client read to the end before the connection goes */
    char b[256];
    while (recv(fd, b, sizeof(b), 0) > 0)
        ;
    close(fd);
}

static void *server(void *arg)
{
    fake_t *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd >= 0)
        serve(f, fd);
    return NULL;
}

static char *start_on(fake_t *f, pthread_t *th, const char *scheme, const char *kind,
                      void *(*fn)(void *))
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bind(f->lfd, (struct sockaddr *)&a, sizeof(a));
    listen(f->lfd, 4);
    getsockname(f->lfd, (struct sockaddr *)&a, &al);
    pthread_create(th, NULL, fn, f);
    return berth_asprintf("%s://127.0.0.1:%d/%s/tok", scheme, ntohs(a.sin_port), kind);
}

static char *start(fake_t *f, pthread_t *th, const char *kind)
{
    return start_on(f, th, "http", kind, server);
}

static void stop(fake_t *f, pthread_t th)
{
    pthread_join(th, NULL);
    close(f->lfd);
}

/* ---- TLS: a front that ends TLS and relays to the fake over a socketpair,
 * as the kubelet's HTTPS server stands in front of the runtime's ---- */

static SSL_CTX *srv_ctx;
static char ca_file[] = "/tmp/berth-stream-client-test.XXXXXX";

/* A P-256 key and a certificate signed by itself for DNS berth-test and IP
 * 127.0.0.1, also written to ca_file (the client's trust anchor). */
static bool tls_init(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    bool ok = key && x;
    if (ok) {
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, key);
        X509_NAME *n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"berth-test", -1,
                                   -1, 0);
        X509_set_issuer_name(x, n);
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        X509_EXTENSION *e =
                X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:berth-test,IP:127.0.0.1");
        ok = e && X509_add_ext(x, e, -1) == 1 && X509_sign(x, key, EVP_sha256()) > 0;
        X509_EXTENSION_free(e);
    }
    int fd = ok ? mkstemp(ca_file) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    ok = f && PEM_write_X509(f, x) == 1;
    if (f)
        fclose(f);
    srv_ctx = ok ? SSL_CTX_new(TLS_server_method()) : NULL;
    ok = srv_ctx && SSL_CTX_use_certificate(srv_ctx, x) == 1 &&
         SSL_CTX_use_PrivateKey(srv_ctx, key) == 1;
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
}

typedef struct conn_arg {
    fake_t *f;
    int fd;
} conn_arg_t;

static void *serve_thread(void *arg)
{
    conn_arg_t *a = arg;
    serve(a->f, a->fd);
    return NULL;
}

/* Accepts one TLS connection and relays its plaintext to serve() (blocking
 * TLS: a read waits for the rest of a record the poll saw begin). */
static void *tls_server(void *arg)
{
    fake_t *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    SSL *s = SSL_new(srv_ctx);
    SSL_set_fd(s, fd);
    if (SSL_accept(s) != 1) {
        /* the client refused our certificate */
        f->tls_refused = true;
        SSL_free(s);
        close(fd);
        return NULL;
    }
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    conn_arg_t a = {f, sv[1]};
    pthread_t th;
    pthread_create(&th, NULL, serve_thread, &a);
    bool tls_in = true;
    char buf[16384];
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = tls_in ? POLLIN : 0},
                              {.fd = sv[0], .events = POLLIN}};
        if (!(tls_in && SSL_pending(s) > 0) && poll(p, 2, -1) < 0)
            break;
        if (tls_in && (SSL_pending(s) > 0 || p[0].revents)) {
            int n = SSL_read(s, buf, sizeof(buf));
            if (n > 0) {
                send(sv[0], buf, (size_t)n, MSG_NOSIGNAL);
            } else {
                tls_in = false;
                shutdown(sv[0], SHUT_WR);
            }
        }
        if (p[1].revents) {
            ssize_t n = recv(sv[0], buf, sizeof(buf), 0);
            if (n <= 0 || SSL_write(s, buf, (int)n) <= 0)
                break;
        }
    }
    pthread_join(th, NULL);
    SSL_shutdown(s);
    SSL_free(s);
    close(sv[0]);
    close(fd);
    return NULL;
}

static void test_url(void)
{
    char *h, *p, *path;
    bool tls = true;
    berth_err_t err = NULL;
    check(berth_stream_url_parse("http://127.0.0.1:4321/exec/abc", &tls, &h, &p, &path, &err) ==
                          0 &&
                  !tls && strcmp(h, "127.0.0.1") == 0 && strcmp(p, "4321") == 0 &&
                  strcmp(path, "/exec/abc") == 0,
          "url: host, port, path");
    berth_free(h), berth_free(p), berth_free(path);
    check(berth_stream_url_parse("http://[::1]:80/portforward/x?port=1", &tls, &h, &p, &path,
                                 &err) == 0 &&
                  strcmp(h, "::1") == 0 && strcmp(p, "80") == 0 &&
                  strcmp(path, "/portforward/x?port=1") == 0,
          "url: IPv6 literal, query kept");
    berth_free(h), berth_free(p), berth_free(path);
    check(berth_stream_url_parse("https://h/exec/ns/pod/c?command=ls&output=1", &tls, &h, &p, &path,
                                 &err) == 0 &&
                  tls && strcmp(h, "h") == 0 && strcmp(p, "443") == 0 &&
                  strcmp(path, "/exec/ns/pod/c?command=ls&output=1") == 0,
          "url: https, port 443 by default");
    berth_free(h), berth_free(p), berth_free(path);
    check(berth_stream_url_parse("ftp://h/exec/a", &tls, &h, &p, &path, &err) < 0 && err != NULL,
          "url: another scheme refused");
    berth_err_free(&err);
    check(berth_stream_url_parse("http://h:x1/a", &tls, &h, &p, &path, &err) < 0, "url: bad port");
    berth_err_free(&err);
}

static void test_status(void)
{
    int code;
    char *msg;
    const char *s = "{\"metadata\":{},\"status\":\"Success\"}";
    check(berth_stream_status_parse(s, strlen(s), &code, &msg, NULL) == 0 && code == 0 && !msg,
          "status: Success is 0");
    s = "{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":["
        "{\"reason\":\"ExitCode\",\"message\":\"42\"}]}}";
    check(berth_stream_status_parse(s, strlen(s), &code, &msg, NULL) == 0 && code == 42,
          "status: NonZeroExitCode gives its code");
    s = "{\"status\":\"Failure\",\"message\":\"executable file not found\"}";
    check(berth_stream_status_parse(s, strlen(s), &code, &msg, NULL) == 0 && code == -1 && msg &&
                  strstr(msg, "not found"),
          "status: another failure gives -1 and its message");
    berth_free(msg);
    berth_err_t err = NULL;
    check(berth_stream_status_parse("oops", 4, &code, &msg, &err) < 0, "status: not JSON");
    berth_err_free(&err);
}

static void test_spdy(void)
{
    fake_t f = {.mode = 0};
    pthread_t th;
    BERTH_AUTO_FREE char *url = start(&f, &th, "exec");
    berth_stream_client_opts_t o = {.out = true, .err = true, .timeout_ns = 5 * SEC};
    berth_err_t err = NULL;
    berth_stream_client_t *c = berth_stream_client_open(url, &o, NULL, &err);
    check(c != NULL, "spdy: open %s", err ? err->msg : "");
    int code = -2;
    char *msg = NULL;
    if (c) {
        check(strcmp(berth_stream_client_protocol(c), "v4.channel.k8s.io") == 0 &&
                      berth_stream_client_version(c) == 4,
              "spdy: v4 chosen");
        int r = berth_stream_client_exit_status(c, 5 * SEC, &code, &msg, &err);
        check(r == 0 && code == 7, "spdy: exit code 7 from the status (%d)", code);
        berth_bytebuf_t *out = berth_stream_client_in(c, BERTH_STREAM_STDOUT);
        check(berth_bytebuf_pending(out) == 3 && memcmp(out->data + out->off, "hi\n", 3) == 0,
              "spdy: stdout kept");
        check(berth_stream_client_done(c), "spdy: GOAWAY ends the session");
    }
    berth_free(msg);
    berth_err_free(&err);
    berth_stream_client_free(c);
    stop(&f, th);
    check(strcmp(f.types, "error stdout stderr ") == 0, "spdy: streams in client-go's order (%s)",
          f.types);
}

static void test_ws(void)
{
    fake_t f = {.mode = 1};
    pthread_t th;
    BERTH_AUTO_FREE char *url = start(&f, &th, "exec");
    berth_stream_client_opts_t o = {
            .transport = BERTH_STREAM_WEBSOCKET, .in = true, .out = true, .timeout_ns = 5 * SEC};
    berth_err_t err = NULL;
    berth_stream_client_t *c = berth_stream_client_open(url, &o, NULL, &err);
    check(c != NULL, "ws: open %s", err ? err->msg : "");
    if (c) {
        check(berth_stream_client_version(c) == 5, "ws: v5 chosen");
        ssize_t got = berth_stream_client_wait(c, BERTH_STREAM_STDOUT, 6, 5 * SEC, &err);
        check(got == 6, "ws: output that came with the upgrade answer is read at once (%zd %s)",
              got, got < 0 ? err->msg : "");
        berth_bytebuf_t *o1 = berth_stream_client_in(c, BERTH_STREAM_STDOUT);
        o1->off = o1->len = 0;
        check(berth_stream_client_write(c, BERTH_STREAM_STDIN, "abc", 3, &err) == 0 &&
                      berth_stream_client_wait(c, BERTH_STREAM_STDOUT, 3, 5 * SEC, &err) == 3,
              "ws: stdin comes back on stdout");
        int code = -2;
        char *msg = NULL;
        check(berth_stream_client_close_write(c, BERTH_STREAM_STDIN, &err) == 0 &&
                      berth_stream_client_exit_status(c, 5 * SEC, &code, &msg, &err) == 0 &&
                      code == 0,
              "ws: v5 close of stdin, then Success");
        berth_free(msg);
    }
    berth_err_free(&err);
    berth_stream_client_free(c);
    stop(&f, th);
    check(f.stdin_closed, "ws: the server saw stdin's close");
}

/* WebSocket port-forward as client-go speaks it: SPDY in the tunnel. */
static void test_ws_tunnel(void)
{
    fake_t f = {.mode = 3};
    pthread_t th;
    BERTH_AUTO_FREE char *url = start(&f, &th, "portForward");
    int32_t port = 8080;
    berth_stream_client_opts_t o = {.transport = BERTH_STREAM_WEBSOCKET,
                                    .ports = &port,
                                    .nports = 1,
                                    .ws_protocols = "SPDY/3.1+portforward.k8s.io",
                                    .timeout_ns = 5 * SEC};
    berth_err_t err = NULL;
    berth_stream_client_t *c = berth_stream_client_open(url, &o, NULL, &err);
    check(c != NULL, "tunnel: open %s", err ? err->msg : "");
    if (c) {
        int k = berth_stream_client_pf_open(c, 8080, &err);
        check(k == 0, "tunnel: a pair opened through SPDY in WebSocket %s", err ? err->msg : "");
        ssize_t got = -1;
        if (k == 0 && berth_stream_client_write(c, BERTH_STREAM_PF_DATA(k), "ping", 4, &err) == 0 &&
            berth_stream_client_close_write(c, BERTH_STREAM_PF_DATA(k), &err) == 0)
            got = berth_stream_client_wait(c, BERTH_STREAM_PF_DATA(k), 5, 5 * SEC, &err);
        berth_bytebuf_t *in = berth_stream_client_in(c, BERTH_STREAM_PF_DATA(0));
        check(got == 4 && memcmp(in->data + in->off, "ping", 4) == 0 &&
                      berth_stream_client_ended(c, BERTH_STREAM_PF_DATA(0)),
              "tunnel: data echoed and ended by its FIN (%zd) %s", got, err ? err->msg : "");
    }
    berth_err_free(&err);
    berth_stream_client_free(c);
    stop(&f, th);
    check(strcmp(f.types, "error data ") == 0, "tunnel: error stream, then data (%s)", f.types);
}

static void test_refused(void)
{
    fake_t f = {.mode = 2};
    pthread_t th;
    BERTH_AUTO_FREE char *url = start(&f, &th, "exec");
    berth_stream_client_opts_t o = {.out = true, .timeout_ns = 5 * SEC};
    berth_err_t err = NULL;
    int status = 0;
    berth_stream_client_t *c = berth_stream_client_open(url, &o, &status, &err);
    check(c == NULL && status == 404 && err && strstr(err->msg, "HTTP 404") &&
                  strstr(err->msg, "already used"),
          "refused: 404 and the body in the message (%s)", err ? err->msg : "");
    berth_err_free(&err);
    stop(&f, th);
}

/* https, no checks: the SPDY exec through the TLS front. */
static void test_tls_insecure(void)
{
    fake_t f = {.mode = 0};
    pthread_t th;
    BERTH_AUTO_FREE char *url = start_on(&f, &th, "https", "exec", tls_server);
    berth_stream_client_opts_t o = {
            .out = true, .err = true, .tls_insecure = true, .timeout_ns = 5 * SEC};
    berth_err_t err = NULL;
    berth_stream_client_t *c = berth_stream_client_open(url, &o, NULL, &err);
    check(c != NULL, "tls insecure: open %s", err ? err->msg : "");
    if (c) {
        int code = -2;
        char *msg = NULL;
        int r = berth_stream_client_exit_status(c, 5 * SEC, &code, &msg, &err);
        check(r == 0 && code == 7, "tls insecure: exit code 7 over SPDY in TLS (%d)", code);
        berth_bytebuf_t *out = berth_stream_client_in(c, BERTH_STREAM_STDOUT);
        check(berth_bytebuf_pending(out) == 3 && memcmp(out->data + out->off, "hi\n", 3) == 0,
              "tls insecure: stdout");
        berth_free(msg);
    }
    berth_err_free(&err);
    berth_stream_client_free(c);
    stop(&f, th);
}

/* https with the certificate checked against ca_file, by the URL's IP or a
 * given name: the WebSocket echo through the TLS front, 100 KiB each way
 * (many TLS records, more than one write). */
static void test_tls_verified(const char *name)
{
    fake_t f = {.mode = 1};
    pthread_t th;
    BERTH_AUTO_FREE char *url = start_on(&f, &th, "https", "exec", tls_server);
    berth_stream_client_opts_t o = {.transport = BERTH_STREAM_WEBSOCKET,
                                    .in = true,
                                    .out = true,
                                    .tls_ca_file = ca_file,
                                    .tls_server_name = name,
                                    .timeout_ns = 5 * SEC};
    berth_err_t err = NULL;
    const char *as = name ? name : "127.0.0.1";
    berth_stream_client_t *c = berth_stream_client_open(url, &o, NULL, &err);
    check(c != NULL, "tls verified as %s: open %s", as, err ? err->msg : "");
    if (c) {
        size_t n = 100 * 1024;
        BERTH_AUTO_FREE char *big = berth_malloc(n);
        for (size_t i = 0; i < n; i++)
            big[i] = (char)('a' + i % 26);
        /* the fake server says "ready\n" first (with its answer) */
        ssize_t got = -1;
        if (berth_stream_client_write(c, BERTH_STREAM_STDIN, big, n, &err) == 0)
            got = berth_stream_client_wait(c, BERTH_STREAM_STDOUT, 6 + n, 5 * SEC, &err);
        berth_bytebuf_t *out = berth_stream_client_in(c, BERTH_STREAM_STDOUT);
        check(got == (ssize_t)(6 + n) && memcmp(out->data + out->off, "ready\n", 6) == 0 &&
                      memcmp(out->data + out->off + 6, big, n) == 0,
              "tls verified as %s: 100 KiB of stdin back on stdout (%zd) %s", as, got,
              err ? err->msg : "");
        int code = -2;
        char *msg = NULL;
        berth_err_free(&err);
        check(berth_stream_client_close_write(c, BERTH_STREAM_STDIN, &err) == 0 &&
                      berth_stream_client_exit_status(c, 5 * SEC, &code, &msg, &err) == 0 &&
                      code == 0,
              "tls verified as %s: stdin closed, Success", as);
        berth_free(msg);
    }
    berth_err_free(&err);
    berth_stream_client_free(c);
    stop(&f, th);
}

/* A certificate that does not verify: no trust anchor for it (the system's
 * CAs), or the wrong name. */
static void test_tls_untrusted(const char *ca, const char *name, const char *want)
{
    fake_t f = {.mode = 0};
    pthread_t th;
    BERTH_AUTO_FREE char *url = start_on(&f, &th, "https", "exec", tls_server);
    berth_stream_client_opts_t o = {
            .out = true, .tls_ca_file = ca, .tls_server_name = name, .timeout_ns = 5 * SEC};
    berth_err_t err = NULL;
    berth_stream_client_t *c = berth_stream_client_open(url, &o, NULL, &err);
    check(c == NULL && err && err->kind == BERTH_ERR_UNAUTHENTICATED && strstr(err->msg, want),
          "tls untrusted (%s): refused: %s", want, err ? err->msg : "opened");
    berth_err_free(&err);
    berth_stream_client_free(c);
    stop(&f, th);
    check(f.tls_refused, "tls untrusted (%s): the server saw the handshake fail", want);
}

int main(void)
{
    /* a server that goes first must not kill us over TLS (write(2)) */
    signal(SIGPIPE, SIG_IGN);
    test_url();
    test_status();
    test_spdy();
    test_ws();
    test_ws_tunnel();
    test_refused();
    if (tls_init()) {
        test_tls_insecure();
        test_tls_verified(NULL);
        test_tls_verified("berth-test");
        test_tls_untrusted(NULL, NULL, "certificate");
        test_tls_untrusted(ca_file, "other-name", "mismatch");
        unlink(ca_file);
    } else {
        check(false, "tls: cannot make a test certificate");
    }
    SSL_CTX_free(srv_ctx);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
