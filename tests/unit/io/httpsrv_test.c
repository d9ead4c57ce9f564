/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/httpsrv over real sockets (TCP on 127.0.0.1 and a unix socket) on the
 * threaded engine: routes answered at once, later from another thread, and
 * with a large taken body; HEAD, 404, 405, keep-alive, HTTP/1.0, pipelining,
 * limits, a client that stalls, and the stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/httpsrv.h"

#define BIG (3u << 20)

static berth_httpsrv_t srv;
static char sockpath[108];

static void h_hello(const berth_http_req_t *req, berth_httpsrv_reply_t *reply, void *arg)
{
    const char *who = berth_http_req_param(req, "who");
    char body[128];
    snprintf(body, sizeof(body), "%s %s\n", (const char *)arg, who ? who : "world");
    berth_httpsrv_reply_header(reply, "X-Test", "yes\r\nInjected: no");
    berth_httpsrv_reply(reply, 200, NULL, body, strlen(body));
}

static void *later_thread(void *p)
{
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    berth_httpsrv_reply(p, 503, "application/json", "{\"late\":true}", 13);
    return NULL;
}

static void h_later(const berth_http_req_t *req, berth_httpsrv_reply_t *reply, void *arg)
{
    (void)req, (void)arg;
    pthread_t t;
    pthread_create(&t, NULL, later_thread, reply);
    pthread_detach(t);
}

static void h_big(const berth_http_req_t *req, berth_httpsrv_reply_t *reply, void *arg)
{
    (void)req, (void)arg;
    berth_bytebuf_t b = {0};
    uint8_t *p = berth_bytebuf_reserve(&b, BIG + 7);
    for (size_t i = 0; i < BIG + 7; i++)
        p[i] = (uint8_t)('a' + i % 26);
    b.len = BIG + 7;
    b.off = 7; /* the answer is the pending bytes */
    berth_httpsrv_reply_take(reply, 200, "application/octet-stream", &b);
}

static int tcp_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static int unix_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

typedef struct resp {
    int status;
    char head[4096];
    char *body;
    size_t body_len;
    long content_length;
} resp_t;

/* Reads one response: the head, then Content-Length bytes unless no_body.
 * Returns 0, or -1 on EOF or timeout before it was whole. */
static int read_resp(int fd, bool no_body, resp_t *r)
{
    memset(r, 0, sizeof(*r));
    size_t hl = 0;
    while (hl < sizeof(r->head) - 1) {
        ssize_t n = recv(fd, r->head + hl, 1, 0);
        if (n <= 0)
            return -1;
        hl++;
        if (hl >= 4 && memcmp(r->head + hl - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    r->head[hl] = '\0';
    if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1)
        return -1;
    const char *cl = strstr(r->head, "Content-Length: ");
    r->content_length = cl ? atol(cl + 16) : -1;
    if (no_body || r->content_length <= 0)
        return 0;
    r->body = berth_malloc((size_t)r->content_length + 1);
    while (r->body_len < (size_t)r->content_length) {
        ssize_t n = recv(fd, r->body + r->body_len, (size_t)r->content_length - r->body_len, 0);
        if (n <= 0)
            return -1;
        r->body_len += (size_t)n;
    }
    r->body[r->body_len] = '\0';
    return 0;
}

/* Whether the server closed the connection (EOF within 5 s). */
static bool closed_by_server(int fd)
{
    char c;
    return recv(fd, &c, 1, 0) == 0;
}

static void test_basics(void)
{
    int rc;
    int fd = tcp_connect();
    ok(fd >= 0, "TCP connect");
    resp_t r;
    send_all(fd, "GET /hello?who=you%21 HTTP/1.1\r\nHost: x\r\n\r\n");
    rc = read_resp(fd, false, &r);
    check(rc == 0 && r.status == 200 && r.body && strcmp(r.body, "hi you!\n") == 0,
          "GET answered from the handler with the query (%d, %zu bytes)", r.status, r.body_len);
    ok(strstr(r.head, "Content-Type: text/plain; charset=utf-8\r\n") != NULL,
       "default content type");
    ok(strstr(r.head, "X-Test: yes  Injected: no\r\n") != NULL && !strstr(r.head, "\nInjected"),
       "an extra header is sent, CR LF in it cannot split the answer");
    berth_free(r.body);

    send_all(fd, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    rc = read_resp(fd, true, &r);
    check(rc == 0 && r.status == 200 && r.content_length == 9,
          "HEAD: status and the GET's Content-Length (%ld)", r.content_length);
    send_all(fd, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    /* HEAD sent no body: the next answer starts right after its head */
    rc = read_resp(fd, false, &r);
    check(rc == 0 && r.status == 404, "keep-alive; unknown path is 404 (%d)", r.status);
    berth_free(r.body);
    send_all(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    rc = read_resp(fd, false, &r);
    check(rc == 0 && r.status == 200, "and the connection stays open after a 404 (%d)", r.status);
    berth_free(r.body);
    close(fd);

    fd = tcp_connect();
    send_all(fd, "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    rc = read_resp(fd, false, &r);
    check(rc == 0 && r.status == 405 && strstr(r.head, "Allow: GET, HEAD"),
          "POST is 405 with Allow (%d)", r.status);
    berth_free(r.body);
    ok(closed_by_server(fd), "and the connection closes (its body is not read)");
    close(fd);

    fd = tcp_connect();
    send_all(fd, "GET /hello HTTP/1.0\r\n\r\n");
    rc = read_resp(fd, false, &r);
    check(rc == 0 && r.status == 200, "HTTP/1.0 GET (%d)", r.status);
    berth_free(r.body);
    ok(closed_by_server(fd), "HTTP/1.0 without keep-alive closes");
    close(fd);

    fd = tcp_connect();
    send_all(fd, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    rc = read_resp(fd, false, &r);
    check(rc == 0 && r.status == 200 && strstr(r.head, "Connection: close"),
          "Connection: close is answered with it (%d)", r.status);
    berth_free(r.body);
    ok(closed_by_server(fd), "and the connection closes");
    close(fd);

    fd = tcp_connect();
    send_all(fd, "GET /hello?who=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello?who=2 HTTP/1.1\r\n"
                 "Host: x\r\n\r\nGET /hello?who=3 HTTP/1.1\r\nHost: x\r\n\r\n");
    bool order = true;
    for (int i = 1; i <= 3; i++) {
        char want[32];
        snprintf(want, sizeof(want), "hi %d\n", i);
        rc = read_resp(fd, false, &r);
        order &= rc == 0 && r.body && strcmp(r.body, want) == 0;
        berth_free(r.body);
    }
    ok(order, "three pipelined requests are answered in order");
    close(fd);

    fd = tcp_connect();
    send_all(fd, "garbage\r\n\r\n");
    rc = read_resp(fd, false, &r);
    check(rc == 0 && r.status == 400, "a malformed head is 400 (%d)", r.status);
    berth_free(r.body);
    close(fd);

    fd = tcp_connect();
    /* just over the limit: all of it is read before the close, so the
     * answer is not lost to a reset */
    char *huge = berth_malloc(6000);
    memcpy(huge, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: ", 36);
    memset(huge + 36, 'p', 6000 - 37);
    huge[5999] = '\0';
    send_all(fd, huge);
    berth_free(huge);
    rc = read_resp(fd, false, &r);
    check(rc == 0 && r.status == 431, "a head over the limit is 431 (%d)", r.status);
    berth_free(r.body);
    close(fd);
}

static void test_later_and_big(void)
{
    int fd = unix_connect(sockpath);
    ok(fd >= 0, "unix socket connect");
    resp_t r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    send_all(fd, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
    int rc = read_resp(fd, false, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    check(rc == 0 && r.status == 503 && r.body && strcmp(r.body, "{\"late\":true}") == 0 &&
                  strstr(r.head, "Content-Type: application/json\r\n") && took >= 0.19,
          "a reply completed later from another thread (%d after %.2f s)", r.status, took);
    berth_free(r.body);

    send_all(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    rc = read_resp(fd, false, &r);
    bool same = rc == 0 && r.body_len == BIG;
    for (size_t i = 0; same && i < BIG; i++)
        same = r.body[i] == (char)('a' + (i + 7) % 26);
    check(same, "a taken 3 MiB body arrives whole, from its pending bytes (%zu)", r.body_len);
    berth_free(r.body);
    close(fd);
}

/* A client that sends half a head and one that reads nothing of a big
 * answer: others are still served at once. */
static void test_slow_clients(void)
{
    int rc;
    int slow = tcp_connect();
    send_all(slow, "GET /hel");
    int stuck = tcp_connect();
    int small = 4096;
    setsockopt(stuck, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    send_all(stuck, "GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(200 * 1000);
    int fd = tcp_connect();
    resp_t r;
    send_all(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    rc = read_resp(fd, false, &r);
    check(rc == 0 && r.status == 200,
          "another client is served while one sends half a head and one reads nothing (%d)",
          r.status);
    berth_free(r.body);
    close(fd);
    /* the half head is cut after 10 s */
    struct timeval tv = {15, 0};
    setsockopt(slow, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ok(closed_by_server(slow), "a head not completed in 10 s is cut");
    close(slow);
    close(stuck);
}

static void test_limits(void)
{
    int rc;
    /* the server was started with max_connections 8: past that a client
     * is told (earlier tests' connections may still be closing: count) */
    int fds[12];
    for (int i = 0; i < 12; i++)
        fds[i] = tcp_connect();
    usleep(300 * 1000);
    int refused = 0;
    resp_t r;
    for (int i = 0; i < 12; i++) {
        struct pollfd pfd = {.fd = fds[i], .events = POLLIN};
        if (poll(&pfd, 1, 0) == 1) {
            rc = read_resp(fds[i], false, &r);
            refused += rc == 0 && r.status == 503;
            berth_free(r.body);
        }
    }
    check(refused >= 4, "connections past max_connections get 503 (%d of 12)", refused);
    for (int i = 0; i < 12; i++)
        close(fds[i]);
    usleep(200 * 1000);
    int fd = tcp_connect();
    send_all(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    rc = read_resp(fd, false, &r);
    check(rc == 0 && r.status == 200, "served again once they closed (%d)", r.status);
    berth_free(r.body);
    close(fd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    berth_err_t err = NULL;
    berth_engine_config_t ec = {.workers = 2};
    if (berth_engine_start(&ec, &err) < 0) {
        printf("1..0 # SKIP engine: %s\n", err->msg);
        return 77;
    }
    char dir[] = "/tmp/httpsrv_test.XXXXXX";
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(sockpath, sizeof(sockpath), "%s/http.sock", dir);
    static const berth_httpsrv_route_t routes[] = {
            {"/hello", h_hello, "hi"},
            {"/later", h_later, NULL},
            {"/big", h_big, NULL},
    };
    berth_httpsrv_config_t cfg = {
            .name = "test",
            .host = "127.0.0.1",
            .port = 0,
            .socket_path = sockpath,
            .routes = routes,
            .nroutes = 3,
            .max_connections = 8,
            .max_head = 4096,
    };
    if (!check(berth_httpsrv_start(&cfg, &srv, &err) == 0, "start on TCP and a unix socket: %s",
               err ? err->msg : "ok")) {
        printf("1..%d\n", ntest);
        return 1;
    }
    check(srv.port > 0, "an ephemeral port was bound (%d)", srv.port);
    struct stat sb;
    ok(stat(sockpath, &sb) == 0 && (sb.st_mode & 0777) == 0660, "the socket file is 0660");

    berth_httpsrv_t second;
    int rc;
    berth_httpsrv_config_t cfg2 = cfg;
    cfg2.host = NULL;
    rc = berth_httpsrv_start(&cfg2, &second, &err);
    check(rc < 0 && err && strstr(err->msg, "another server is listening"),
          "a second server on the live socket is refused: %s", err ? err->msg : "started");
    berth_err_free(&err);
    cfg2.socket_path = NULL;
    rc = berth_httpsrv_start(&cfg2, &second, &err);
    check(rc < 0 && err && strstr(err->msg, "neither"), "no listener at all is refused: %s",
          err ? err->msg : "started");
    berth_err_free(&err);
    cfg2.host = "nonsense";
    cfg2.port = 1;
    rc = berth_httpsrv_start(&cfg2, &second, &err);
    check(rc < 0 && err && strstr(err->msg, "not an IP address"), "a bad host is refused: %s",
          err ? err->msg : "started");
    berth_err_free(&err);

    test_basics();
    test_later_and_big();
    test_limits();
    test_slow_clients();

    berth_httpsrv_stop(&srv);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        usleep(20 * 1000);
        gone = access(sockpath, F_OK) != 0;
    }
    ok(gone, "the stop removes the socket file");
    usleep(100 * 1000);
    ok(tcp_connect() < 0, "and the TCP port is closed");
    rmdir(dir);
    berth_engine_stop();
    berth_engine_join();
    berth_engine_shutdown();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
