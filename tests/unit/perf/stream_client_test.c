/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf/stream_client: URL splitting, the v4 status JSON, and the client's
 * framing against fake servers on a loopback listener (a thread each), built
 * from berth's own codecs: over SPDY an exec that prints and exits 7 (the
 * streams opened in client-go's order, answered the way the kubelet's server
 * ends a session: data, status, RST_STREAM, GOAWAY), over WebSocket output
 * sent with the upgrade answer, stdin echoed back and a v5 close of stdin,
 * and a refused URL (404).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/httpreq.h"
#include "io/spdy.h"
#include "io/websocket.h"
#include "perf/stream_client.h"
#include "tests/unit/check.h"

#define SEC 1000000000ull

typedef struct fake {
    int lfd;
    int mode;       /* 0 SPDY exec, 1 WebSocket echo, 2 refuse */
    char types[64]; /* SPDY: the stream types in the order they came */
    bool stdin_closed;
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

static void *server(void *arg)
{
    fake_t *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    berth_bytebuf_t in = {0};
    berth_http_req_t req = {0};
    read_req(fd, &in, &req);
    if (f->mode == 0) {
        spdy_exec(f, fd, &in);
    } else if (f->mode == 1) {
        ws_echo(f, fd, &in, &req);
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
    return NULL;
}

static char *start(fake_t *f, pthread_t *th, const char *kind)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bind(f->lfd, (struct sockaddr *)&a, sizeof(a));
    listen(f->lfd, 4);
    getsockname(f->lfd, (struct sockaddr *)&a, &al);
    pthread_create(th, NULL, server, f);
    return berth_asprintf("http://127.0.0.1:%d/%s/tok", ntohs(a.sin_port), kind);
}

static void stop(fake_t *f, pthread_t th)
{
    pthread_join(th, NULL);
    close(f->lfd);
}

static void test_url(void)
{
    char *h, *p, *path;
    berth_err_t err = NULL;
    check(berth_stream_url_parse("http://127.0.0.1:4321/exec/abc", &h, &p, &path, &err) == 0 &&
                  strcmp(h, "127.0.0.1") == 0 && strcmp(p, "4321") == 0 &&
                  strcmp(path, "/exec/abc") == 0,
          "url: host, port, path");
    berth_free(h), berth_free(p), berth_free(path);
    check(berth_stream_url_parse("http://[::1]:80/portforward/x?port=1", &h, &p, &path, &err) ==
                          0 &&
                  strcmp(h, "::1") == 0 && strcmp(p, "80") == 0 &&
                  strcmp(path, "/portforward/x?port=1") == 0,
          "url: IPv6 literal, query kept");
    berth_free(h), berth_free(p), berth_free(path);
    check(berth_stream_url_parse("https://h/exec/a", &h, &p, &path, &err) < 0 && err != NULL,
          "url: https refused");
    berth_err_free(&err);
    check(berth_stream_url_parse("http://h:x1/a", &h, &p, &path, &err) < 0, "url: bad port");
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

int main(void)
{
    test_url();
    test_status();
    test_spdy();
    test_ws();
    test_refused();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
