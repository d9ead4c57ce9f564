/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI streaming server end to end (io/stream.h: io/streamsrv.c,
 * io/streamconn.c, io/streamwire.c, io/streamsess.c): the real listener and
 * connection actors on the threaded engine and the blocking pool, on
 * 127.0.0.1 port 0, driven by perf/stream_client over SPDY/3.1 and
 * WebSocket, and by raw sockets where the test must misbehave.
 *
 * Exec runs a fake runtime, a shell script this test writes: it parses
 * berth's `<runtime> [--root R] exec --pid-file F [--tty] [--process P] ID
 * CMD...`, records its arguments, runs the command as its child (with jq
 * reading the args of --process), writes the child's pid to F and exits
 * with its status, as runc exec does; so the pipes, the terminal, the exit
 * status and the kill by pid file are berth's own paths without runc.
 * Attach talks to the test acting as conmon (a SEQPACKET socket named
 * `attach` in a bundle, a `ctl` fifo beside it); port-forward connects to a
 * loopback echo server of the test's in the host's network namespace.
 *
 * Covered: exec over both transports (stdout and stderr apart, exit codes
 * in the v5 status, stdin through cat ended by its FIN, the runtime's own
 * error, a terminal sized by the client's resize messages or 24x80 without
 * one, the command killed when the client vanishes or breaks the protocol);
 * attach (stream bytes to channels, stdin to the socket, the end of stdin
 * with and without stdin_once, a terminal's resize on the ctl fifo, no
 * socket); URL rules (single use, unknown, wrong kind, no Upgrade, bad
 * heads, methods, protocols); port-forward over SPDY (two request ids, a
 * refused port, a half-close), WebSocket v4 (port prefixes) and SPDY inside
 * WebSocket; SPDY PING and a bad frame; stopping the server. A second
 * server with small limits runs after the first is stopped: expired URLs,
 * max_sessions (503), max_streams (also 100 forwards in turn on one session),
 * the idle and stream creation timeouts.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/attach.h"
#include "io/blocking.h"
#include "io/spdy.h"
#include "io/stream.h"
#include "io/websocket.h"
#include "perf/stream_client.h"
#include "tests/unit/check.h"

#define SEC 1000000000ull
#define MS 1000000ull
/* every wait of the test; generous for the sanitizer builds */
#define WAIT (10 * SEC)

static char tmp[] = "/tmp/berth-stream-test.XXXXXX";
static char *rt_path, *pid_dir, *tty_bundle, *att_bundle, *noatt_bundle;
static const char *jq;
static int server_port;

static const char *const transports[] = {"SPDY", "WebSocket"};

/* ---- small helpers ------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror(path);
        abort();
    }
    close(fd);
}

/* The whole file (NUL-terminated, owned), or NULL. */
static char *read_text(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    berth_bytebuf_t b = {0};
    for (;;) {
        uint8_t *p = berth_bytebuf_reserve(&b, 4096);
        ssize_t n = read(fd, p, 4096);
        if (n <= 0)
            break;
        b.len += (size_t)n;
    }
    close(fd);
    char *s = berth_strndup((const char *)b.data + b.off, berth_bytebuf_pending(&b));
    berth_bytebuf_free(&b);
    return s;
}

/* A channel's bytes as a string (owned); consumed from the buffer. */
static char *take(berth_stream_client_t *c, int ch)
{
    berth_bytebuf_t *b = berth_stream_client_in(c, ch);
    char *s = berth_strndup((const char *)b->data + b->off, berth_bytebuf_pending(b));
    b->off = b->len = 0;
    return s;
}

/* s with newlines and other control bytes escaped, for one TAP line; a
 * few rotating static buffers (a check may print two). */
static const char *vis(const char *s)
{
    static char bufs[4][512];
    static unsigned next;
    char *b = bufs[next++ % 4];
    size_t o = 0;
    for (; s && *s && o + 5 < sizeof(bufs[0]); s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\n')
            o += (size_t)snprintf(b + o, 3, "\\n");
        else if (ch == '\r')
            o += (size_t)snprintf(b + o, 3, "\\r");
        else if (ch < 0x20 || ch == 0x7f)
            o += (size_t)snprintf(b + o, 5, "\\x%02x", ch);
        else
            b[o++] = (char)ch;
    }
    b[o] = '\0';
    return b;
}

static bool pid_alive(pid_t pid)
{
    return pid > 0 && kill(pid, 0) == 0;
}

/* Waits until pid is gone (killed and reaped). */
static bool wait_gone(pid_t pid)
{
    for (uint64_t end = now_ns() + WAIT; now_ns() < end; sleep_ms(10))
        if (!pid_alive(pid))
            return true;
    return false;
}

/* The pid in an exec's pid file (berth names them exec-stream-*.pid in
 * pid_dir), waiting for the runtime to write it; 0 if none came. */
static pid_t wait_pid_file(void)
{
    for (uint64_t end = now_ns() + WAIT; now_ns() < end; sleep_ms(10)) {
        DIR *d = opendir(pid_dir);
        struct dirent *e;
        pid_t pid = 0;
        while (d && (e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, "exec-stream-", 12) != 0 ||
                strcmp(e->d_name + strlen(e->d_name) - 4, ".pid") != 0)
                continue;
            BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", pid_dir, e->d_name);
            BERTH_AUTO_FREE char *t = read_text(p);
            /* a file whose process is gone is an earlier exec's, about
             * to be removed */
            if (t && t[0] && strchr(t, '\n') && pid_alive(atoi(t)))
                pid = atoi(t);
        }
        if (d)
            closedir(d);
        if (pid > 0)
            return pid;
    }
    return 0;
}

/* ---- requests ------------------------------------------------------------- */

static berth_stream_req_t *req_new(berth_stream_kind_t kind, const char *id)
{
    berth_stream_req_t *r = berth_calloc(1, sizeof(*r));
    r->kind = kind;
    r->id = berth_strdup(id);
    return r;
}

/* An exec request of argv (NULL-terminated) through the fake runtime. */
static berth_stream_req_t *exec_req(const char *id, const char *const *argv, bool in, bool out,
                                    bool err, bool tty)
{
    berth_stream_req_t *r = req_new(BERTH_STREAM_EXEC, id);
    r->runtime_path = berth_strdup(rt_path);
    r->pid_dir = berth_strdup(pid_dir);
    r->argv = berth_strv_dup((char *const *)argv, -1);
    r->in = in, r->out = out, r->err = err, r->tty = tty;
    if (tty)
        r->bundle = berth_strdup(tty_bundle);
    return r;
}

/* Registers r (taken); the URL (owned), or NULL after a failed check. */
static char *reg(berth_stream_req_t *r)
{
    berth_err_t err = NULL;
    char *url = berth_stream_register(r, &err);
    if (url == NULL) {
        check(false, "register: %s", err->msg);
        berth_err_free(&err);
    }
    return url;
}

static berth_stream_client_t *open_client(const char *url, int transport, bool in, bool out,
                                          bool err_, bool tty)
{
    berth_stream_client_opts_t o = {
            .transport = transport ? BERTH_STREAM_WEBSOCKET : BERTH_STREAM_SPDY,
            .in = in,
            .out = out,
            .err = err_,
            .tty = tty,
            .timeout_ns = WAIT,
    };
    berth_err_t err = NULL;
    berth_stream_client_t *c = berth_stream_client_open(url, &o, NULL, &err);
    if (c == NULL) {
        printf("# open %s: %s\n", url, err->msg);
        berth_err_free(&err);
    }
    return c;
}

/* Opens url expecting a refusal: the HTTP status, the message in *msg. */
static int open_refused(const char *url, int transport, char **msg)
{
    berth_stream_client_opts_t o = {
            .transport = transport ? BERTH_STREAM_WEBSOCKET : BERTH_STREAM_SPDY,
            .out = true,
            .timeout_ns = WAIT,
    };
    berth_err_t err = NULL;
    int status = 0;
    berth_stream_client_t *c = berth_stream_client_open(url, &o, &status, &err);
    if (c) {
        berth_stream_client_free(c);
        *msg = berth_strdup("(opened)");
        return 101;
    }
    *msg = berth_strdup(err->msg);
    berth_err_free(&err);
    return status;
}

/* ---- raw sockets ---------------------------------------------------------- */

static int tcp_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("connect");
        abort();
    }
    struct timeval tv = {.tv_sec = WAIT / SEC};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_str(int fd, const char *s)
{
    size_t n = strlen(s);
    if (send(fd, s, n, MSG_NOSIGNAL) != (ssize_t)n)
        perror("send");
}

/* Reads until EOF (or the receive timeout): the bytes, NUL-terminated. */
static char *read_to_eof(int fd)
{
    berth_bytebuf_t b = {0};
    for (;;) {
        uint8_t *p = berth_bytebuf_reserve(&b, 4096);
        ssize_t n = recv(fd, p, 4096, 0);
        if (n <= 0)
            break;
        b.len += (size_t)n;
    }
    char *s = berth_strndup((const char *)b.data + b.off, berth_bytebuf_pending(&b));
    berth_bytebuf_free(&b);
    return s;
}

/* Sends a raw request to the server and reads the answer to its end: the
 * status (0 when none), the whole answer in *resp (owned). */
static int raw_http(const char *req, char **resp)
{
    int fd = tcp_to(server_port);
    send_str(fd, req);
    *resp = read_to_eof(fd);
    close(fd);
    int status = 0;
    if (sscanf(*resp, "HTTP/1.1 %d", &status) != 1)
        status = 0;
    return status;
}

/* "/exec/TOKEN" of a URL. */
static const char *url_path(const char *url)
{
    const char *p = strstr(url, "://");
    return p ? strchr(p + 3, '/') : url;
}

/* ---- the loopback echo server (the pod's side of port-forward) ------------ */

static int echo_lfd = -1, echo_port;
static pthread_t echo_thread;
/* Connections accepted. Relaxed: a plain counter, bumped before the
 * connection's thread starts and read by the main thread only after bytes
 * came back through those connections (the socket round trip orders it). */
static atomic_int echo_conns;

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w <= 0)
                goto out;
            off += w;
        }
    }
out:
    close(fd);
    return NULL;
}

static void *echo_accept(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept4(echo_lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        atomic_fetch_add_explicit(&echo_conns, 1, memory_order_relaxed);
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, echo_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&a);
    }
}

/* The source server: each connection gets SRC_TOTAL pattern bytes as fast
 * as it takes them, then EOF (a download through a forward). */
#define SRC_TOTAL (128u << 20)
static int src_lfd = -1, src_port;
static pthread_t src_thread;
/* Bytes the source's send calls took. Relaxed: a counter the main thread
 * only compares against a bound; nothing else is published through it. */
static atomic_size_t src_sent;

static uint8_t src_byte(size_t i)
{
    return (uint8_t)(i * 131 + i / 4099);
}

static void *src_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t buf[65536];
    for (size_t off = 0; off < SRC_TOTAL;) {
        size_t n = SRC_TOTAL - off < sizeof(buf) ? SRC_TOTAL - off : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = src_byte(off + i);
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
        atomic_fetch_add_explicit(&src_sent, (size_t)w, memory_order_relaxed);
    }
    close(fd);
    return NULL;
}

static void *src_accept(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept4(src_lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, src_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&a);
    }
}

/* A loopback TCP listener on an ephemeral port; returns the fd and *port. */
static int tcp_listen(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &sl) < 0) {
        perror("echo listener");
        abort();
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port nobody listens on: bound, then closed. */
static int closed_port(void)
{
    int port;
    close(tcp_listen(&port));
    return port;
}

/* ---- the fake runtime and the fake conmon --------------------------------- */

static void write_runtime(void)
{
    rt_path = berth_asprintf("%s/runtime", tmp);
    BERTH_AUTO_FREE char *script = berth_asprintf(
            "#!/bin/sh\n"
            "# stream_test's runtime: [--root R] exec --pid-file F [--tty] [--process P] ID "
            "CMD...\n"
            "all=\"$*\"\n"
            "pidf= proc=\n"
            "while :; do\n"
            "    case \"$1\" in\n"
            "    --root) shift 2 ;;\n"
            "    exec | --tty) shift ;;\n"
            "    --pid-file) pidf=$2; shift 2 ;;\n"
            "    --process) proc=$2; shift 2 ;;\n"
            "    *) break ;;\n"
            "    esac\n"
            "done\n"
            "id=$1\n"
            "shift\n"
            "printf '%%s\\n' \"$all\" >\"%s/argv-$id\"\n"
            "if [ \"$id\" = gone ]; then\n"
            "    echo \"container gone: no such container\" >&2\n"
            "    exit 125\n"
            "fi\n"
            "if [ -n \"$proc\" ]; then\n"
            "    cp \"$proc\" \"%s/process-$id.json\"\n"
            "    eval \"set -- $(%s -r '.args | @sh' \"$proc\")\"\n"
            "fi\n"
            /* a background command's stdin is /dev/null unless redirected */
            "exec 3<&0\n"
            "\"$@\" <&3 3<&- &\n"
            "echo $! >\"$pidf\"\n"
            "wait $!\n",
            tmp, tmp, jq ? jq : "false");
    write_file(rt_path, script, 0755);
}

/* conmon's attach socket in att_bundle (and its ctl fifo). */
static int att_lfd = -1, ctl_fd = -1;

static void fake_conmon(void)
{
    att_bundle = berth_asprintf("%s/attach-bundle", tmp);
    noatt_bundle = berth_asprintf("%s/empty-bundle", tmp);
    if (mkdir(att_bundle, 0700) < 0 || mkdir(noatt_bundle, 0700) < 0)
        abort();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/attach", att_bundle);
    att_lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (att_lfd < 0 || bind(att_lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(att_lfd, 8) < 0) {
        perror("attach socket");
        abort();
    }
    BERTH_AUTO_FREE char *ctl = berth_asprintf("%s/ctl", att_bundle);
    if (mkfifo(ctl, 0600) < 0)
        abort();
    /* read side open, so berth's non-blocking open for writing succeeds */
    ctl_fd = open(ctl, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
}

/* The attacher berth connected (waits for it), or -1. */
static int conmon_accept(void)
{
    struct pollfd p = {.fd = att_lfd, .events = POLLIN};
    if (poll(&p, 1, (int)(WAIT / MS)) != 1)
        return -1;
    int fd = accept4(att_lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
        struct timeval tv = {.tv_sec = WAIT / SEC};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    return fd;
}

/* One output packet: the stream byte, then the bytes. */
static void conmon_out(int fd, int stream, const char *s)
{
    char pkt[256];
    size_t n = strlen(s);
    pkt[0] = (char)stream;
    memcpy(pkt + 1, s, n);
    if (send(fd, pkt, n + 1, MSG_NOSIGNAL) != (ssize_t)(n + 1))
        perror("conmon send");
}

/* ---- exec ------------------------------------------------------------------- */

static void t_exec_output(int t)
{
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    berth_stream_req_t *r = exec_req("ctr-out", argv, false, true, true, false);
    r->runtime_root = berth_strdup("/run/fake-root");
    BERTH_AUTO_FREE char *url = reg(r);
    berth_stream_client_t *c = url ? open_client(url, t, false, true, true, false) : NULL;
    if (!check(c != NULL, "%s exec: the session opens", transports[t]))
        return;
    berth_err_t err = NULL;
    int code = -2;
    BERTH_AUTO_FREE char *msg = NULL;
    int rc = berth_stream_client_exit_status(c, WAIT, &code, &msg, &err);
    berth_stream_client_wait_end(c, 1u << BERTH_STREAM_STDOUT | 1u << BERTH_STREAM_STDERR, WAIT,
                                 NULL);
    BERTH_AUTO_FREE char *out = take(c, BERTH_STREAM_STDOUT);
    BERTH_AUTO_FREE char *errs = take(c, BERTH_STREAM_STDERR);
    check(strcmp(out, "out\n") == 0 && strcmp(errs, "err\n") == 0,
          "%s exec: stdout and stderr apart (stdout \"%s\", stderr \"%s\")", transports[t],
          vis(out), vis(errs));
    check(rc == 0 && code == 3, "%s exec: exit code 3 in the v%d status (rc %d code %d %s)",
          transports[t], berth_stream_client_version(c), rc, code, rc < 0 ? err->msg : "");
    check(berth_stream_client_version(c) >= 4, "%s exec: a status JSON version (v%d)",
          transports[t], berth_stream_client_version(c));
    berth_err_free(&err);
    berth_stream_client_free(c);

    BERTH_AUTO_FREE char *argvf = berth_asprintf("%s/argv-ctr-out", tmp);
    BERTH_AUTO_FREE char *args = read_text(argvf);
    check(args && strncmp(args, "--root /run/fake-root exec --pid-file ", 38) == 0 &&
                  strstr(args, " ctr-out sh -c echo out; echo err >&2; exit 3\n") != NULL &&
                  strstr(args, "--tty") == NULL,
          "%s exec: the runtime's arguments (%s)", transports[t], vis(args ? args : "none"));

    /* exit 0: Success */
    const char *argv0[] = {"true", NULL};
    BERTH_AUTO_FREE char *url0 = reg(exec_req("ctr-true", argv0, false, true, false, false));
    c = url0 ? open_client(url0, t, false, true, false, false) : NULL;
    code = -2;
    BERTH_AUTO_FREE char *msg0 = NULL;
    rc = c ? berth_stream_client_exit_status(c, WAIT, &code, &msg0, &err) : -1;
    check(rc == 0 && code == 0 && msg0 == NULL, "%s exec: exit code 0 is Success (rc %d code %d)",
          transports[t], rc, code);
    berth_err_free(&err);
    berth_stream_client_free(c);
}

static void t_exec_stdin(int t)
{
    const char *argv[] = {"cat", NULL};
    BERTH_AUTO_FREE char *url = reg(exec_req("ctr-cat", argv, true, true, false, false));
    berth_stream_client_t *c = url ? open_client(url, t, true, true, false, false) : NULL;
    if (!check(c != NULL, "%s exec -i: the session opens", transports[t]))
        return;
    /* larger than a frame (32 KiB) and a pipe (64 KiB) */
    size_t n = 300 * 1024;
    uint8_t *data = berth_malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 7 + i / 251);
    berth_err_t err = NULL;
    int w = berth_stream_client_write(c, BERTH_STREAM_STDIN, data, n, &err);
    int cw = w == 0 ? berth_stream_client_close_write(c, BERTH_STREAM_STDIN, &err) : -1;
    check(w == 0 && cw == 0, "%s exec -i: stdin written and closed (%s)", transports[t],
          err ? err->msg : "ok");
    berth_err_free(&err);
    int code = -2;
    BERTH_AUTO_FREE char *msg = NULL;
    int rc = berth_stream_client_exit_status(c, WAIT, &code, &msg, &err);
    berth_stream_client_wait_end(c, 1u << BERTH_STREAM_STDOUT, WAIT, NULL);
    berth_bytebuf_t *o = berth_stream_client_in(c, BERTH_STREAM_STDOUT);
    check(berth_bytebuf_pending(o) == n && memcmp(o->data + o->off, data, n) == 0,
          "%s exec -i: stdin came back through cat (%zu of %zu bytes)", transports[t],
          berth_bytebuf_pending(o), n);
    check(rc == 0 && code == 0, "%s exec -i: the end of stdin ended cat (rc %d code %d %s)",
          transports[t], rc, code, rc < 0 ? err->msg : "");
    berth_err_free(&err);
    berth_free(data);
    berth_stream_client_free(c);
}

/* The runtime fails (exit 125) and the client has no stderr: its message
 * is the status. */
static void t_exec_runtime_error(void)
{
    const char *argv[] = {"true", NULL};
    BERTH_AUTO_FREE char *url = reg(exec_req("gone", argv, false, true, false, false));
    berth_stream_client_t *c = url ? open_client(url, 0, false, true, false, false) : NULL;
    int code = -2;
    BERTH_AUTO_FREE char *msg = NULL;
    berth_err_t err = NULL;
    int rc = c ? berth_stream_client_exit_status(c, WAIT, &code, &msg, &err) : -1;
    check(rc == 0 && code == -1 && msg && strstr(msg, "no such container"),
          "exec: the runtime's own error is the status (%s)", msg ? msg : "none");
    berth_err_free(&err);
    berth_stream_client_free(c);
}

static void t_exec_tty(int t)
{
    if (jq == NULL) {
        printf("ok %d - # SKIP %s exec -t: no jq for the fake runtime\n", ++ntest, transports[t]);
        return;
    }
    const char *argv[] = {"sh", "-c", "stty size; read x; stty size; exit 5", NULL};
    char id[32];
    snprintf(id, sizeof(id), "ctr-tty%d", t);
    BERTH_AUTO_FREE char *url = reg(exec_req(id, argv, true, true, false, true));
    berth_stream_client_t *c = url ? open_client(url, t, true, true, false, true) : NULL;
    if (!check(c != NULL, "%s exec -t: the session opens", transports[t]))
        return;
    berth_err_t err = NULL;
    /* the first size, right behind the streams as kubectl sends it */
    berth_stream_client_resize(c, 100, 30, &err);
    ssize_t got = berth_stream_client_wait(c, BERTH_STREAM_STDOUT, 8, WAIT, &err);
    BERTH_AUTO_FREE char *first = take(c, BERTH_STREAM_STDOUT);
    check(got >= 8 && strstr(first, "30 100\r\n") != NULL,
          "%s exec -t: the command starts with the client's size (\"%s\")", transports[t],
          vis(first));
    berth_err_free(&err);
    berth_stream_client_resize(c, 120, 40, &err);
    berth_stream_client_write(c, BERTH_STREAM_STDIN, "go\n", 3, &err);
    int code = -2;
    BERTH_AUTO_FREE char *msg = NULL;
    int rc = berth_stream_client_exit_status(c, WAIT, &code, &msg, &err);
    berth_stream_client_wait_end(c, 1u << BERTH_STREAM_STDOUT, WAIT, NULL);
    BERTH_AUTO_FREE char *rest = take(c, BERTH_STREAM_STDOUT);
    check(strstr(rest, "go\r\n") != NULL && strstr(rest, "40 120\r\n") != NULL,
          "%s exec -t: input echoed by the terminal and the resize applied (\"%s\")", transports[t],
          vis(rest));
    check(rc == 0 && code == 5, "%s exec -t: exit code 5 (rc %d code %d %s)", transports[t], rc,
          code, rc < 0 ? err->msg : "");
    berth_err_free(&err);
    berth_stream_client_free(c);

    BERTH_AUTO_FREE char *pf = berth_asprintf("%s/process-%s.json", tmp, id);
    BERTH_AUTO_FREE char *proc = read_text(pf);
    BERTH_AUTO_FREE char *af = berth_asprintf("%s/argv-%s", tmp, id);
    BERTH_AUTO_FREE char *args = read_text(af);
    check(proc && strstr(proc, "\"terminal\":true") && strstr(proc, "\"consoleSize\"") &&
                  strstr(proc, "\"height\":30") && strstr(proc, "\"cwd\":\"/work\"") && args &&
                  strstr(args, " --tty --process ") != NULL,
          "%s exec -t: --tty and --process with the bundle's process, sized (%s)", transports[t],
          proc ? proc : "none");
}

/* A terminal whose client sends no size: the command starts after a short
 * wait with 24x80. */
static void t_exec_tty_default(void)
{
    if (jq == NULL) {
        printf("ok %d - # SKIP exec -t without a size: no jq for the fake runtime\n", ++ntest);
        return;
    }
    const char *argv[] = {"stty", "size", NULL};
    BERTH_AUTO_FREE char *url = reg(exec_req("ctr-tty-nosize", argv, false, true, false, true));
    berth_stream_client_t *c = url ? open_client(url, 0, false, true, false, true) : NULL;
    int code = -2;
    BERTH_AUTO_FREE char *msg = NULL;
    int rc = c ? berth_stream_client_exit_status(c, WAIT, &code, &msg, NULL) : -1;
    if (c)
        berth_stream_client_wait_end(c, 1u << BERTH_STREAM_STDOUT, WAIT, NULL);
    BERTH_AUTO_FREE char *out = c ? take(c, BERTH_STREAM_STDOUT) : berth_strdup("");
    check(rc == 0 && code == 0 && strcmp(out, "24 80\r\n") == 0,
          "exec -t without a size: the command starts with 24x80 (\"%s\")", vis(out));
    berth_stream_client_free(c);
}

/* The client goes away while the command runs: the command (the pid in the
 * pid file, the runtime's child) is killed. */
static void t_exec_vanish(int t)
{
    const char *argv[] = {"sh", "-c", "echo $$; exec sleep 100", NULL};
    BERTH_AUTO_FREE char *url = reg(exec_req("ctr-sleep", argv, false, true, false, false));
    berth_stream_client_t *c = url ? open_client(url, t, false, true, false, false) : NULL;
    if (!check(c != NULL, "%s vanish: the session opens", transports[t]))
        return;
    berth_err_t err = NULL;
    ssize_t got = berth_stream_client_wait(c, BERTH_STREAM_STDOUT, 2, WAIT, &err);
    if (got < 2)
        printf("# stdout: %s\n", got < 0 ? err->msg : "ended");
    berth_err_free(&err);
    BERTH_AUTO_FREE char *out = take(c, BERTH_STREAM_STDOUT);
    pid_t pid = wait_pid_file();
    check(pid > 0 && pid == atoi(out) && pid_alive(pid),
          "%s vanish: the command runs under the pid file's pid (%d, printed %s)", transports[t],
          (int)pid, vis(out));
    int fd = berth_stream_client_fd(c);
    if (t == 0) {
        /* EOF without a GOAWAY */
        shutdown(fd, SHUT_RDWR);
    } else {
        /* a reset */
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    berth_stream_client_free(c);
    check(pid > 0 && wait_gone(pid), "%s vanish: the command is killed when the client goes",
          transports[t]);
    if (pid > 0 && pid_alive(pid))
        kill(pid, SIGKILL);
}

/* An unmasked frame from a WebSocket client is a protocol error: a close
 * frame with 1002, and the command is killed. */
static void t_ws_bad_frame(void)
{
    const char *argv[] = {"sh", "-c", "exec sleep 100", NULL};
    BERTH_AUTO_FREE char *url = reg(exec_req("ctr-badws", argv, true, true, false, false));
    if (url == NULL)
        return;
    int fd = tcp_to(server_port);
    BERTH_AUTO_FREE char *rq = berth_asprintf(
            "GET %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n",
            url_path(url));
    send_str(fd, rq);
    pid_t pid = wait_pid_file();
    static const uint8_t unmasked[] = {0x82, 0x02, 0x00, 'x'};
    send(fd, unmasked, sizeof(unmasked), MSG_NOSIGNAL);
    berth_bytebuf_t b = {0};
    for (;;) {
        uint8_t *q = berth_bytebuf_reserve(&b, 4096);
        ssize_t n = recv(fd, q, 4096, 0);
        if (n <= 0)
            break;
        b.len += (size_t)n;
    }
    close(fd);
    /* after the head: the server's frames, the last one the close */
    const uint8_t *end = memmem(b.data, b.len, "\r\n\r\n", 4);
    int close_code = 0;
    if (end) {
        berth_bytebuf_consume(&b, (size_t)(end + 4 - b.data));
        berth_ws_parser_t wp;
        berth_ws_parser_init(&wp, false, 0);
        for (;;) {
            berth_ws_frame_t f;
            berth_err_t err = NULL;
            ssize_t n = berth_ws_parse(&wp, b.data + b.off, berth_bytebuf_pending(&b), &f, &err);
            berth_err_free(&err);
            if (n <= 0)
                break;
            if (f.opcode == BERTH_WS_OP_CLOSE)
                close_code = f.close_code;
            berth_bytebuf_consume(&b, (size_t)n);
        }
    }
    berth_bytebuf_free(&b);
    check(close_code == BERTH_WS_CLOSE_PROTOCOL,
          "WebSocket: an unmasked client frame gets a close with 1002 (%d)", close_code);
    check(pid > 0 && wait_gone(pid), "WebSocket: a protocol error kills the command");
}

/* ---- tokens and requests ---------------------------------------------------- */

static void t_tokens(void)
{
    const char *argv[] = {"true", NULL};
    BERTH_AUTO_FREE char *url = reg(exec_req("ctr-tok", argv, false, true, false, false));
    if (url == NULL)
        return;
    check(strncmp(url, berth_stream_base_url(), strlen(berth_stream_base_url())) == 0 &&
                  strstr(url, "/exec/") != NULL,
          "register: the URL is the base URL's /exec/TOKEN (%s)", url);
    berth_stream_client_t *c = open_client(url, 0, false, true, false, false);
    int code = -2;
    BERTH_AUTO_FREE char *msg = NULL;
    if (c)
        berth_stream_client_exit_status(c, WAIT, &code, &msg, NULL);
    berth_stream_client_free(c);
    check(code == 0, "token: the first use runs");
    BERTH_AUTO_FREE char *m2 = NULL;
    int st = open_refused(url, 0, &m2);
    check(st == 404 && strstr(m2, "not found"), "token: a second use is 404 (%d %s)", st, m2);

    /* unknown: a well-formed token nobody registered */
    BERTH_AUTO_FREE char *unk =
            berth_asprintf("%s/exec/AAAAAAAAAAAAAAAAAAAAAAAA", berth_stream_base_url());
    BERTH_AUTO_FREE char *m3 = NULL;
    st = open_refused(unk, 1, &m3);
    check(st == 404 && strstr(m3, "not found"), "token: an unknown one is 404 (%d %s)", st, m3);

    /* the wrong kind's path spends the token */
    BERTH_AUTO_FREE char *url2 = reg(exec_req("ctr-tok", argv, false, true, false, false));
    if (url2 == NULL)
        return;
    const char *tok = strrchr(url2, '/') + 1;
    BERTH_AUTO_FREE char *wrong = berth_asprintf("%s/attach/%s", berth_stream_base_url(), tok);
    BERTH_AUTO_FREE char *m4 = NULL;
    st = open_refused(wrong, 0, &m4);
    check(st == 404, "token: an exec token on /attach/ is 404 (%d %s)", st, m4);
    BERTH_AUTO_FREE char *m5 = NULL;
    st = open_refused(url2, 0, &m5);
    check(st == 404, "token: ... and is spent by it (%d %s)", st, m5);

    /* no Upgrade: 400, and the URL is spent */
    BERTH_AUTO_FREE char *url3 = reg(exec_req("ctr-tok", argv, false, true, false, false));
    if (url3 == NULL)
        return;
    BERTH_AUTO_FREE char *rq = berth_asprintf("GET %s HTTP/1.1\r\nHost: x\r\n\r\n", url_path(url3));
    BERTH_AUTO_FREE char *resp = NULL;
    st = raw_http(rq, &resp);
    check(st == 400 && strstr(resp, "Upgrade"), "request: no Upgrade header is 400 (%s)",
          vis(resp));
    BERTH_AUTO_FREE char *m6 = NULL;
    st = open_refused(url3, 0, &m6);
    check(st == 404, "request: ... and the URL is spent (%d)", st);

    BERTH_AUTO_FREE char *r2 = NULL;
    st = raw_http("GET /exec/x HTTP/1.1\r\nHost x\r\n\r\n", &r2);
    check(st == 400, "request: a malformed head is 400 (%s)", vis(r2));
    BERTH_AUTO_FREE char *r3 = NULL;
    st = raw_http("\x01\x02garbage\r\n\r\n", &r3);
    check(st == 400, "request: garbage is 400 (%.40s)", vis(r3));
    BERTH_AUTO_FREE char *r4 = NULL;
    st = raw_http("GET /logs/AAAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\n\r\n", &r4);
    check(st == 404 && strstr(r4, "no such streaming URL"), "request: another path is 404");
    BERTH_AUTO_FREE char *r5 = NULL;
    st = raw_http("PUT /exec/AAAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\nContent-Length: "
                  "0\r\n\r\n",
                  &r5);
    check(st == 405, "request: PUT is 405 (%.60s)", vis(r5));
    /* SPDY offering only protocols berth does not speak */
    BERTH_AUTO_FREE char *url4 = reg(exec_req("ctr-tok", argv, false, true, false, false));
    if (url4 == NULL)
        return;
    BERTH_AUTO_FREE char *rq4 =
            berth_asprintf("POST %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: "
                           "SPDY/3.1\r\nX-Stream-Protocol-Version: v9.channel.k8s.io\r\n"
                           "Content-Length: 0\r\n\r\n",
                           url_path(url4));
    BERTH_AUTO_FREE char *r6 = NULL;
    st = raw_http(rq4, &r6);
    check(st == 403 && strstr(r6, "unable to negotiate"), "request: no common protocol is 403");
}

/* ---- port-forward ------------------------------------------------------------- */

static berth_stream_req_t *pf_req(void)
{
    berth_stream_req_t *r = req_new(BERTH_STREAM_PORTFORWARD, "pod-pf");
    return r; /* netns NULL: the host's */
}

/* Writes s on pair k's data and waits for its echo. */
static bool pf_echo(berth_stream_client_t *c, int k, const char *s)
{
    berth_err_t err = NULL;
    if (berth_stream_client_write(c, BERTH_STREAM_PF_DATA(k), s, strlen(s), &err) < 0) {
        printf("# write: %s\n", err->msg);
        berth_err_free(&err);
        return false;
    }
    ssize_t n = berth_stream_client_wait(c, BERTH_STREAM_PF_DATA(k), strlen(s), WAIT, &err);
    berth_err_free(&err);
    BERTH_AUTO_FREE char *got = take(c, BERTH_STREAM_PF_DATA(k));
    return n == (ssize_t)strlen(s) && strcmp(got, s) == 0;
}

/* Bulk bytes through one pair and back: the forwarded socket's bytes go to
 * the client straight from the endpoint's buffer, framed by an iovec
 * (sconn_chan_direct); they must come back whole and in order, over many
 * reads and frames of uneven sizes. */
static void t_pf_spdy_bulk(void)
{
    BERTH_AUTO_FREE char *url = reg(pf_req());
    berth_stream_client_t *c = url ? open_client(url, 0, false, false, false, false) : NULL;
    if (!check(c != NULL, "SPDY port-forward bulk: the session opens"))
        return;
    berth_err_t err = NULL;
    int k = berth_stream_client_pf_open(c, echo_port, &err);
    size_t total = 4u << 20, step = 100000, back = 0;
    BERTH_AUTO_FREE uint8_t *buf = berth_malloc(total);
    for (size_t i = 0; i < total; i++)
        buf[i] = (uint8_t)(i * 131 + i / 7);
    bool same = k >= 0;
    berth_bytebuf_t *in = k >= 0 ? berth_stream_client_in(c, BERTH_STREAM_PF_DATA(k)) : NULL;
    for (size_t off = 0; same && off < total; off += step) {
        size_t n = total - off < step ? total - off : step;
        if (berth_stream_client_write(c, BERTH_STREAM_PF_DATA(k), buf + off, n, &err) < 0 ||
            berth_stream_client_wait(c, BERTH_STREAM_PF_DATA(k), n, WAIT, &err) < (ssize_t)n) {
            same = false;
            break;
        }
        same = memcmp(in->data + in->off, buf + off, n) == 0;
        berth_bytebuf_consume(in, n);
        back += n;
    }
    check(same && back == total, "SPDY port-forward bulk: %zu of %zu bytes back in order (%s)",
          back, total, err ? err->msg : "ok");
    berth_err_free(&err);
    berth_stream_client_free(c);
}

/* A client that reads nothing holds the forward back: berth reads no more
 * of the pod's side than it can send (one read's buffer), so the source
 * stalls within the sockets' buffers; read later, every byte arrives in
 * order. */
static void t_pf_spdy_slow_reader(void)
{
    BERTH_AUTO_FREE char *url = reg(pf_req());
    berth_stream_client_t *c = url ? open_client(url, 0, false, false, false, false) : NULL;
    if (!check(c != NULL, "SPDY port-forward slow reader: the session opens"))
        return;
    berth_err_t err = NULL;
    size_t sent0 = atomic_load_explicit(&src_sent, memory_order_relaxed);
    int k = berth_stream_client_pf_open(c, src_port, &err);
    /* the client does not touch its socket meanwhile */
    size_t prev = 0, now = 0;
    for (int i = 0; i < 40; i++) {
        usleep(50000);
        now = atomic_load_explicit(&src_sent, memory_order_relaxed) - sent0;
        if (i >= 10 && now == prev)
            break;
        prev = now;
    }
    check(k >= 0 && now < SRC_TOTAL / 2,
          "SPDY port-forward slow reader: the source stalls (%zu of %u MiB sent) (%s)", now >> 20,
          SRC_TOTAL >> 20, err ? err->msg : "ok");
    size_t got = 0;
    bool same = k >= 0;
    berth_bytebuf_t *in = k >= 0 ? berth_stream_client_in(c, BERTH_STREAM_PF_DATA(k)) : NULL;
    while (same && got < SRC_TOTAL) {
        ssize_t n = berth_stream_client_wait(c, BERTH_STREAM_PF_DATA(k), 1, WAIT, &err);
        if (n <= 0)
            break;
        for (ssize_t i = 0; same && i < n; i++)
            same = in->data[in->off + (size_t)i] == src_byte(got + (size_t)i);
        got += (size_t)n;
        berth_bytebuf_consume(in, (size_t)n);
    }
    check(same && got == SRC_TOTAL, "SPDY port-forward slow reader: then all %zu MiB in order (%s)",
          got >> 20, err ? err->msg : "ok");
    berth_err_free(&err);
    berth_stream_client_free(c);
}

static void t_pf_spdy(void)
{
    BERTH_AUTO_FREE char *url = reg(pf_req());
    berth_stream_client_t *c = url ? open_client(url, 0, false, false, false, false) : NULL;
    if (!check(c != NULL, "SPDY port-forward: the session opens"))
        return;
    int before = atomic_load_explicit(&echo_conns, memory_order_relaxed);
    berth_err_t err = NULL;
    int k0 = berth_stream_client_pf_open(c, echo_port, &err);
    int k1 = k0 >= 0 ? berth_stream_client_pf_open(c, echo_port, &err) : -1;
    check(k0 >= 0 && k1 >= 0, "SPDY port-forward: two request ids at once (%s)",
          err ? err->msg : "ok");
    berth_err_free(&err);
    if (k1 < 0) {
        berth_stream_client_free(c);
        return;
    }
    /* interleaved, each on its own connection */
    bool e0 = pf_echo(c, k0, "first request\n");
    bool e1 = pf_echo(c, k1, "second request\n");
    bool e0b = pf_echo(c, k0, "first again\n");
    check(e0 && e1 && e0b, "SPDY port-forward: both echo through the pod's side");
    check(atomic_load_explicit(&echo_conns, memory_order_relaxed) - before == 2,
          "SPDY port-forward: one connection per request id");
    /* the client half-closes: the pod's side reads EOF, closes, and the
     * data stream ends */
    berth_stream_client_close_write(c, BERTH_STREAM_PF_DATA(k0), &err);
    int rc = berth_stream_client_wait_end(
            c, 1ull << BERTH_STREAM_PF_DATA(k0) | 1ull << BERTH_STREAM_PF_ERROR(k0), WAIT, &err);
    check(rc == 0 && !berth_stream_client_done(c) &&
                  berth_bytebuf_pending(berth_stream_client_in(c, BERTH_STREAM_PF_ERROR(k0))) == 0,
          "SPDY port-forward: a half-close ends that forward alone, without an error");
    berth_err_free(&err);
    check(pf_echo(c, k1, "still there\n"), "SPDY port-forward: the other goes on");

    /* a port nobody listens on: the error stream says so */
    int dead = closed_port();
    int k2 = berth_stream_client_pf_open(c, dead, &err);
    berth_err_free(&err);
    if (k2 >= 0)
        berth_stream_client_wait_end(c, 1ull << BERTH_STREAM_PF_ERROR(k2), WAIT, NULL);
    BERTH_AUTO_FREE char *emsg = k2 >= 0 ? take(c, BERTH_STREAM_PF_ERROR(k2)) : NULL;
    BERTH_AUTO_FREE char *want = berth_asprintf("error forwarding port %d to pod pod-pf", dead);
    check(emsg && strstr(emsg, want) && strstr(emsg, "refused"),
          "SPDY port-forward: a refused port is reported on the error stream (%s)",
          emsg ? emsg : "none");
    check(pf_echo(c, k1, "and after it\n"), "SPDY port-forward: the session survives it");
    berth_stream_client_free(c);
}

static void t_pf_ws(void)
{
    berth_stream_req_t *r = pf_req();
    BERTH_AUTO_FREE char *url = reg(r);
    int dead = closed_port();
    int32_t ports[2] = {echo_port, dead};
    berth_stream_client_opts_t o = {
            .transport = BERTH_STREAM_WEBSOCKET,
            .ports = ports,
            .nports = 2,
            .timeout_ns = WAIT,
    };
    berth_err_t err = NULL;
    berth_stream_client_t *c = url ? berth_stream_client_open(url, &o, NULL, &err) : NULL;
    if (!check(c != NULL, "WebSocket port-forward: the session opens (%s)",
               err ? err->msg : "ok")) {
        berth_err_free(&err);
        return;
    }
    check(strcmp(berth_stream_client_protocol(c), "v4.channel.k8s.io") == 0,
          "WebSocket port-forward: v4.channel.k8s.io (%s)", berth_stream_client_protocol(c));
    int k = berth_stream_client_pf_open(c, echo_port, &err);
    int kd = berth_stream_client_pf_open(c, dead, &err);
    berth_err_free(&err);
    check(k >= 0 && pf_echo(c, k, "over websocket\n") && pf_echo(c, k, "twice\n"),
          "WebSocket port-forward: echo through the port's channels (port prefix stripped)");
    if (kd >= 0)
        berth_stream_client_wait(c, BERTH_STREAM_PF_ERROR(kd), 20, WAIT, NULL);
    BERTH_AUTO_FREE char *emsg = kd >= 0 ? take(c, BERTH_STREAM_PF_ERROR(kd)) : NULL;
    check(emsg && strstr(emsg, "refused"),
          "WebSocket port-forward: the refused port's error channel says so (%s)",
          emsg ? emsg : "none");
    check(k >= 0 && pf_echo(c, k, "after the error\n"),
          "WebSocket port-forward: the other port goes on");
    berth_stream_client_free(c);
}

/* A raw SPDY port-forward client, directly on the socket or inside
 * WebSocket binary messages (client-go's WebSocket port-forward,
 * SPDY/3.1+portforward.k8s.io), made here from the codecs: it opens pairs
 * without perf/stream_client's limit of 32 per session. */
typedef struct rawpf {
    int fd;
    bool ws;
    berth_spdy_t *spdy;
    berth_ws_parser_t wsp;
    berth_bytebuf_t rx, spdy_in, out;
    uint32_t next_sid;
} rawpf_t;

/* Sends the SPDY bytes queued in out. */
static void rawpf_flush(rawpf_t *p)
{
    static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
    berth_bytebuf_t b = {0};
    berth_bytebuf_t *o = &p->out;
    if (p->ws) {
        berth_ws_put_frame(&b, BERTH_WS_OP_BINARY, true, p->out.data + p->out.off,
                           berth_bytebuf_pending(&p->out), mask);
        o = &b;
    }
    if (send(p->fd, o->data + o->off, berth_bytebuf_pending(o), MSG_NOSIGNAL) < 0)
        perror("rawpf send");
    berth_bytebuf_free(&b);
    p->out.off = p->out.len = 0;
}

/* The next SPDY frame from the server (false on EOF, a close or an error).
 * Its data points into spdy_in: valid until the next call. */
static bool rawpf_frame(rawpf_t *p, berth_spdy_frame_t *f)
{
    berth_bytebuf_t *in = p->ws ? &p->spdy_in : &p->rx;
    for (;;) {
        berth_err_t err = NULL;
        ssize_t n =
                berth_spdy_parse(p->spdy, in->data + in->off, berth_bytebuf_pending(in), f, &err);
        if (n < 0) {
            printf("# raw SPDY: %s\n", err->msg);
            berth_err_free(&err);
            return false;
        }
        if (n > 0) {
            berth_bytebuf_consume(in, (size_t)n);
            return true;
        }
        if (p->ws) {
            berth_ws_frame_t wf;
            ssize_t m = berth_ws_parse(&p->wsp, p->rx.data + p->rx.off,
                                       berth_bytebuf_pending(&p->rx), &wf, &err);
            if (m < 0) {
                printf("# raw WebSocket: %s\n", err->msg);
                berth_err_free(&err);
                return false;
            }
            if (m > 0) {
                if (wf.opcode == BERTH_WS_OP_CLOSE)
                    return false;
                if (wf.opcode == BERTH_WS_OP_BINARY || wf.opcode == BERTH_WS_OP_CONT)
                    berth_bytebuf_put(&p->spdy_in, wf.payload, wf.len);
                berth_bytebuf_consume(&p->rx, (size_t)m);
                continue;
            }
        }
        uint8_t *b = berth_bytebuf_reserve(&p->rx, 65536);
        ssize_t r = recv(p->fd, b, 65536, 0);
        if (r <= 0)
            return false;
        p->rx.len += (size_t)r;
    }
}

/* Upgrades a new connection to url's session; false if not 101. */
static bool rawpf_open(rawpf_t *p, const char *url, bool ws)
{
    *p = (rawpf_t){.fd = tcp_to(server_port), .ws = ws, .spdy = berth_spdy_new(), .next_sid = 1};
    berth_ws_parser_init(&p->wsp, false, 0);
    BERTH_AUTO_FREE char *rq =
            ws ? berth_asprintf("GET %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n\r\n",
                                url_path(url))
               : berth_asprintf("POST %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: "
                                "portforward.k8s.io\r\nContent-Length: 0\r\n\r\n",
                                url_path(url));
    send_str(p->fd, rq);
    const uint8_t *end = NULL;
    while (end == NULL) {
        uint8_t *b = berth_bytebuf_reserve(&p->rx, 4096);
        ssize_t r = recv(p->fd, b, 4096, 0);
        if (r <= 0)
            return false;
        p->rx.len += (size_t)r;
        end = memmem(p->rx.data + p->rx.off, berth_bytebuf_pending(&p->rx), "\r\n\r\n", 4);
    }
    size_t hlen = (size_t)(end + 4 - (p->rx.data + p->rx.off));
    BERTH_AUTO_FREE char *head = berth_strndup((const char *)p->rx.data + p->rx.off, hlen);
    berth_bytebuf_consume(&p->rx, hlen);
    return strncmp(head, "HTTP/1.1 101", 12) == 0 &&
           strstr(head, ws ? "SPDY/3.1+portforward.k8s.io" : "portforward.k8s.io") != NULL;
}

static void rawpf_close(rawpf_t *p)
{
    berth_bytebuf_free(&p->rx);
    berth_bytebuf_free(&p->spdy_in);
    berth_bytebuf_free(&p->out);
    berth_spdy_free(p->spdy);
    close(p->fd);
}

/* One forward the way client-go makes it: the error stream (half-closed at
 * once) and the data stream with request id reqid, msg written and echoed,
 * then the client's FIN, answered by the end of both streams. */
static bool rawpf_forward(rawpf_t *p, unsigned reqid, const char *msg)
{
    char port[16], rid[16];
    snprintf(port, sizeof(port), "%d", echo_port);
    snprintf(rid, sizeof(rid), "%u", reqid);
    berth_spdy_header_t h[3] = {
            BERTH_SPDY_NV("streamtype", "error"),
            {.name = "port", .name_len = 4, .value = port, .value_len = strlen(port)},
            {.name = "requestid", .name_len = 9, .value = rid, .value_len = strlen(rid)},
    };
    uint32_t esid = p->next_sid, dsid = p->next_sid + 2;
    p->next_sid += 4;
    berth_spdy_put_syn_stream(p->spdy, &p->out, esid, 0, 0, 0, h, 3, NULL);
    berth_spdy_put_data(&p->out, esid, BERTH_SPDY_FLAG_FIN, NULL, 0);
    h[0] = (berth_spdy_header_t)BERTH_SPDY_NV("streamtype", "data");
    berth_spdy_put_syn_stream(p->spdy, &p->out, dsid, 0, 0, 0, h, 3, NULL);
    berth_spdy_put_data(&p->out, dsid, 0, msg, strlen(msg));
    rawpf_flush(p);
    int replies = 0;
    bool echoed = false, dfin = false, efin = false;
    berth_bytebuf_t got = {0};
    berth_spdy_frame_t f = {0};
    while (!(dfin && efin) && rawpf_frame(p, &f)) {
        if (f.type == BERTH_SPDY_SYN_REPLY && (f.stream_id == esid || f.stream_id == dsid))
            replies++;
        if (f.type == BERTH_SPDY_DATA && f.stream_id == dsid) {
            berth_bytebuf_put(&got, f.data, f.len);
            if (!echoed && berth_bytebuf_pending(&got) >= strlen(msg)) {
                echoed = memcmp(got.data + got.off, msg, strlen(msg)) == 0;
                /* done writing: the pod's side closes, the streams end */
                berth_spdy_put_data(&p->out, dsid, BERTH_SPDY_FLAG_FIN, NULL, 0);
                rawpf_flush(p);
            }
            dfin |= (f.flags & BERTH_SPDY_FLAG_FIN) != 0;
        }
        if (f.type == BERTH_SPDY_DATA && f.stream_id == esid)
            efin |= (f.flags & BERTH_SPDY_FLAG_FIN) != 0;
        bool rst = f.type == BERTH_SPDY_RST_STREAM || f.type == BERTH_SPDY_GOAWAY;
        if (rst)
            printf("# request %u: %s %s\n", reqid, berth_spdy_type_name(f.type),
                   berth_spdy_rst_status_name(f.status));
        berth_spdy_frame_clear(&f);
        if (rst)
            break;
    }
    berth_bytebuf_free(&got);
    return replies == 2 && echoed && dfin && efin &&
           berth_bytebuf_pending(p->ws ? &p->spdy_in : &p->rx) == 0;
}

static void t_pf_tunnel(void)
{
    BERTH_AUTO_FREE char *url = reg(pf_req());
    if (url == NULL)
        return;
    rawpf_t p;
    bool up = rawpf_open(&p, url, true);
    check(up, "tunnel port-forward: 101 with SPDY/3.1+portforward.k8s.io");
    check(up && rawpf_forward(&p, 0, "through the tunnel") &&
                  rawpf_forward(&p, 1, "and a second time"),
          "tunnel port-forward: SPDY in WebSocket messages: replies, echo, both streams end");
    rawpf_close(&p);
}

/* One SPDY session, many forwards one after the other (kubectl
 * port-forward and a client making a connection per request): with
 * max_streams 4 each must still be served. */
static void t_pf_many(void)
{
    BERTH_AUTO_FREE char *url = reg(pf_req());
    if (url == NULL)
        return;
    rawpf_t p;
    int done = 0;
    if (rawpf_open(&p, url, false)) {
        for (unsigned i = 0; i < 100; i++) {
            char msg[32];
            snprintf(msg, sizeof(msg), "request %u", i);
            if (!rawpf_forward(&p, i, msg))
                break;
            done++;
        }
    }
    check(done == 100, "max_streams: 100 forwards one after the other on one session (%d)", done);
    rawpf_close(&p);
}

/* A SPDY PING is answered; a frame of another SPDY version is a protocol
 * error: GOAWAY PROTOCOL_ERROR, and the connection closes. */
static void t_spdy_ping_garbage(void)
{
    BERTH_AUTO_FREE char *url = reg(pf_req());
    if (url == NULL)
        return;
    rawpf_t p;
    bool up = rawpf_open(&p, url, false);
    berth_spdy_put_ping(&p.out, 7);
    rawpf_flush(&p);
    berth_spdy_frame_t f = {0};
    bool pong = up && rawpf_frame(&p, &f) && f.type == BERTH_SPDY_PING && f.ping_id == 7;
    berth_spdy_frame_clear(&f);
    check(pong, "SPDY: a PING is answered");
    /* a SYN_STREAM of SPDY/2 */
    static const uint8_t v2[] = {0x80, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0a, 0x00,
                                 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    berth_bytebuf_put(&p.out, v2, sizeof(v2));
    rawpf_flush(&p);
    bool goaway = false, eof = false;
    while (rawpf_frame(&p, &f)) {
        goaway |= f.type == BERTH_SPDY_GOAWAY && f.status == BERTH_SPDY_GOAWAY_PROTOCOL_ERROR;
        berth_spdy_frame_clear(&f);
    }
    char b;
    eof = recv(p.fd, &b, 1, 0) <= 0;
    check(goaway && eof, "SPDY: a frame of version 2 gets GOAWAY PROTOCOL_ERROR and the end");
    rawpf_close(&p);
}

/* ---- attach ------------------------------------------------------------------- */

static berth_stream_req_t *attach_req(const char *bundle, bool tty, bool stdin_once)
{
    berth_stream_req_t *r = req_new(BERTH_STREAM_ATTACH, "ctr-att");
    r->bundle = berth_strdup(bundle);
    r->in = r->out = true;
    r->err = !tty;
    r->tty = tty;
    r->stdin_once = stdin_once;
    return r; /* monitor: none (conmon's socket in the bundle) */
}

/* The next packet the attacher sent (NUL-terminated in buf): its length, 0
 * on EOF, -1 on a timeout. */
static ssize_t conmon_in(int fd, char *buf, size_t cap)
{
    ssize_t n = recv(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

/* Output with stream bytes, input, and the end of input: without stdin_once
 * the attach ends there (SPDY); with it, the attach goes on until the
 * container's output ends (WebSocket). */
static void t_attach(int t)
{
    bool once = t == 1;
    BERTH_AUTO_FREE char *url = reg(attach_req(att_bundle, false, once));
    berth_stream_client_t *c = url ? open_client(url, t, true, true, true, false) : NULL;
    int fd = c ? conmon_accept() : -1;
    if (!check(c && fd >= 0, "%s attach: berth connects to the attach socket", transports[t])) {
        berth_stream_client_free(c);
        return;
    }
    conmon_out(fd, BERTH_ATTACH_STDOUT, "to stdout\n");
    conmon_out(fd, BERTH_ATTACH_STDERR, "to stderr\n");
    berth_stream_client_wait(c, BERTH_STREAM_STDOUT, 10, WAIT, NULL);
    berth_stream_client_wait(c, BERTH_STREAM_STDERR, 10, WAIT, NULL);
    BERTH_AUTO_FREE char *o = take(c, BERTH_STREAM_STDOUT);
    BERTH_AUTO_FREE char *e = take(c, BERTH_STREAM_STDERR);
    check(strcmp(o, "to stdout\n") == 0 && strcmp(e, "to stderr\n") == 0,
          "%s attach: stream bytes 2 and 3 go to stdout and stderr (\"%s\", \"%s\")", transports[t],
          vis(o), vis(e));
    berth_err_t err = NULL;
    berth_stream_client_write(c, BERTH_STREAM_STDIN, "typed\n", 6, &err);
    char buf[256];
    ssize_t n = conmon_in(fd, buf, sizeof(buf));
    check(n == 6 && strcmp(buf, "typed\n") == 0, "%s attach: stdin reaches the socket (%zd)",
          transports[t], n);
    berth_stream_client_close_write(c, BERTH_STREAM_STDIN, &err);
    n = conmon_in(fd, buf, sizeof(buf));
    check(n == 0, "%s attach: the end of stdin is a detach of input (shutdown; %zd)", transports[t],
          n);
    int code = -2;
    BERTH_AUTO_FREE char *msg = NULL;
    if (once) {
        /* the container goes on: its output still comes, until it ends */
        conmon_out(fd, BERTH_ATTACH_STDOUT, "after\n");
        berth_stream_client_wait(c, BERTH_STREAM_STDOUT, 6, WAIT, NULL);
        BERTH_AUTO_FREE char *a = take(c, BERTH_STREAM_STDOUT);
        check(strcmp(a, "after\n") == 0 && !berth_stream_client_done(c),
              "%s attach: with stdin_once the output goes on after it (\"%s\")", transports[t],
              vis(a));
        close(fd);
        fd = -1;
    }
    int rc = berth_stream_client_exit_status(c, WAIT, &code, &msg, &err);
    check(rc == 0 && code == 0, "%s attach: %s ends the attach with Success (rc %d code %d %s)",
          transports[t], once ? "the container's end" : "the end of stdin", rc, code,
          rc < 0 ? err->msg : "");
    berth_err_free(&err);
    berth_stream_client_free(c);
    if (fd >= 0)
        close(fd);
}

static void t_attach_tty(void)
{
    BERTH_AUTO_FREE char *url = reg(attach_req(att_bundle, true, false));
    berth_stream_client_t *c = url ? open_client(url, 0, true, true, false, true) : NULL;
    int fd = c ? conmon_accept() : -1;
    if (!check(c && fd >= 0, "tty attach: berth connects")) {
        berth_stream_client_free(c);
        return;
    }
    berth_err_t err = NULL;
    berth_stream_client_resize(c, 132, 43, &err);
    char line[64] = "";
    size_t got = 0;
    for (uint64_t end = now_ns() + WAIT; now_ns() < end && !strchr(line, '\n'); sleep_ms(5)) {
        ssize_t n = read(ctl_fd, line + got, sizeof(line) - 1 - got);
        if (n > 0)
            got += (size_t)n;
        line[got] = '\0';
    }
    check(strcmp(line, "1 43 132\n") == 0, "tty attach: the resize goes to conmon's ctl fifo (%s)",
          vis(line));
    /* a terminal's output is all stdout, whatever byte it carries */
    conmon_out(fd, BERTH_ATTACH_STDERR, "tty bytes");
    berth_stream_client_wait(c, BERTH_STREAM_STDOUT, 9, WAIT, NULL);
    BERTH_AUTO_FREE char *o = take(c, BERTH_STREAM_STDOUT);
    check(strcmp(o, "tty bytes") == 0, "tty attach: output on stdout (\"%s\")", o);
    close(fd);
    int code = -2;
    BERTH_AUTO_FREE char *msg = NULL;
    int rc = berth_stream_client_exit_status(c, WAIT, &code, &msg, &err);
    check(rc == 0 && code == 0, "tty attach: the monitor's close ends it (rc %d)", rc);
    berth_err_free(&err);
    berth_stream_client_free(c);
}

static void t_attach_none(void)
{
    BERTH_AUTO_FREE char *url = reg(attach_req(noatt_bundle, false, false));
    berth_stream_client_t *c = url ? open_client(url, 1, true, true, true, false) : NULL;
    int code = -2;
    BERTH_AUTO_FREE char *msg = NULL;
    int rc = c ? berth_stream_client_exit_status(c, WAIT, &code, &msg, NULL) : -1;
    check(rc == 0 && code == -1 && msg && strstr(msg, "cannot attach to container ctr-att"),
          "attach: no attach socket is an error status (%s)", msg ? msg : "none");
    berth_stream_client_free(c);
}

/* ---- stop, and the second server's limits -------------------------------------- */

static berth_handle_t start_server(const berth_stream_config_t *cfg)
{
    berth_handle_t h = BERTH_HANDLE_NONE;
    berth_err_t err = NULL;
    if (berth_stream_server_start(cfg, &h, &err) < 0) {
        printf("Bail out! server start: %s\n", err->msg);
        exit(1);
    }
    const char *colon = strrchr(berth_stream_base_url(), ':');
    server_port = atoi(colon + 1);
    return h;
}

/* Stopping the server ends a running exec (killed) and closes the port. */
static void t_stop(berth_handle_t h)
{
    const char *argv[] = {"sh", "-c", "echo up; exec sleep 100", NULL};
    BERTH_AUTO_FREE char *url = reg(exec_req("ctr-stop", argv, false, true, false, false));
    berth_stream_client_t *c = url ? open_client(url, 1, false, true, false, false) : NULL;
    if (c)
        berth_stream_client_wait(c, BERTH_STREAM_STDOUT, 3, WAIT, NULL);
    pid_t pid = wait_pid_file();
    berth_stream_server_stop(h);
    int code = -2;
    BERTH_AUTO_FREE char *msg = NULL;
    int rc = c ? berth_stream_client_exit_status(c, WAIT, &code, &msg, NULL) : -1;
    check(rc == 0 && msg && strstr(msg, "shutting down"), "stop: a running session is told (%s)",
          msg ? msg : "none");
    check(pid > 0 && wait_gone(pid), "stop: its command is killed");
    berth_stream_client_free(c);
    bool closed = false;
    for (uint64_t end = now_ns() + WAIT; now_ns() < end && !closed; sleep_ms(10)) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server_port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        closed = connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == ECONNREFUSED;
        close(fd);
    }
    check(closed, "stop: the port is closed once the sessions are gone");
}

static void t_expired(void)
{
    const char *argv[] = {"true", NULL};
    BERTH_AUTO_FREE char *url = reg(exec_req("ctr-exp", argv, false, true, false, false));
    if (url == NULL)
        return;
    sleep_ms(400);
    BERTH_AUTO_FREE char *rq =
            berth_asprintf("POST %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: "
                           "SPDY/3.1\r\nContent-Length: 0\r\n\r\n",
                           url_path(url));
    BERTH_AUTO_FREE char *resp = NULL;
    int st = raw_http(rq, &resp);
    check(st == 404 && strstr(resp, "expired"), "token: an expired one is 404 \"expired\" (%s)",
          vis(strstr(resp, "\r\n\r\n") ? strstr(resp, "\r\n\r\n") + 4 : resp));
}

/* max_streams 4: two port-forward pairs; a third stream is refused while
 * they are open, but not after one of them ended. */
static void t_max_streams(void)
{
    BERTH_AUTO_FREE char *url = reg(pf_req());
    berth_stream_client_t *c = url ? open_client(url, 0, false, false, false, false) : NULL;
    if (!check(c != NULL, "max_streams: the session opens"))
        return;
    berth_err_t err = NULL;
    int k0 = berth_stream_client_pf_open(c, echo_port, &err);
    int k1 = k0 >= 0 ? berth_stream_client_pf_open(c, echo_port, &err) : -1;
    check(k1 >= 0, "max_streams: 4 streams open (%s)", err ? err->msg : "ok");
    berth_err_free(&err);
    int k2 = berth_stream_client_pf_open(c, echo_port, &err);
    check(k2 < 0 && err && strstr(err->msg, "REFUSED_STREAM"),
          "max_streams: a fifth is refused with RST_STREAM (%s)", err ? err->msg : "accepted");
    berth_err_free(&err);
    check(k1 >= 0 && pf_echo(c, k1, "still fine\n"), "max_streams: the open ones go on");
    /* one forward ends both ways: its two streams are closed */
    if (k0 >= 0) {
        berth_stream_client_close_write(c, BERTH_STREAM_PF_DATA(k0), &err);
        berth_stream_client_wait_end(
                c, 1ull << BERTH_STREAM_PF_DATA(k0) | 1ull << BERTH_STREAM_PF_ERROR(k0), WAIT,
                &err);
        berth_err_free(&err);
    }
    int k3 = berth_stream_client_pf_open(c, echo_port, &err);
    check(k3 >= 0 && pf_echo(c, k3, "a new one\n"),
          "max_streams: closed streams do not count (a new pair after one ended: %s)",
          err ? err->msg : "ok");
    berth_err_free(&err);
    berth_stream_client_free(c);
}

/* A connection the server keeps: not closed within 150 ms of its first
 * bytes. The sessions of the tests before may still be closing (they count
 * until their actor exits): a refused one is tried again. */
static int kept_conn(void)
{
    for (uint64_t end = now_ns() + WAIT; now_ns() < end; sleep_ms(50)) {
        int fd = tcp_to(server_port);
        send_str(fd, "GET /exec/");
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 150) == 0)
            return fd;
        close(fd);
    }
    return -1;
}

/* max_sessions 2: a third connection is told 503 (naming the key) and
 * closed at once; once one of the two went, a new one is served. */
static void t_max_sessions(void)
{
    int a = kept_conn(), b = kept_conn();
    int x = tcp_to(server_port);
    send_str(x, "GET /logs/AAAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\n\r\n");
    BERTH_AUTO_FREE char *r = read_to_eof(x);
    close(x);
    check(a >= 0 && b >= 0 && strncmp(r, "HTTP/1.1 503 ", 13) == 0 &&
                  strstr(r, "stream_max_sessions") != NULL,
          "max_sessions: an extra connection is answered 503 naming the key (%s)", vis(r));
    if (a >= 0)
        close(a);
    BERTH_AUTO_FREE char *resp = NULL;
    int st = 0;
    for (uint64_t end = now_ns() + WAIT; now_ns() < end && (st == 0 || st == 503); sleep_ms(20)) {
        berth_free(resp);
        st = raw_http("GET /logs/AAAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\n\r\n", &resp);
    }
    check(st == 404, "max_sessions: served again once a session went (%d)", st);
    if (b >= 0)
        close(b);
}

static void t_idle(void)
{
    const char *argv[] = {"sh", "-c", "exec sleep 100", NULL};
    BERTH_AUTO_FREE char *url = reg(exec_req("ctr-idle", argv, false, true, false, false));
    berth_stream_client_t *c = url ? open_client(url, 0, false, true, false, false) : NULL;
    pid_t pid = wait_pid_file();
    int code = -2;
    BERTH_AUTO_FREE char *msg = NULL;
    int rc = c ? berth_stream_client_exit_status(c, WAIT, &code, &msg, NULL) : -1;
    check(rc == 0 && msg && strstr(msg, "idle"), "idle: a silent session ends (%s)",
          msg ? msg : "none");
    check(pid > 0 && wait_gone(pid), "idle: its command is killed");
    berth_stream_client_free(c);
}

/* Upgraded, then no streams: the session ends after the creation timeout. */
static void t_creation_timeout(void)
{
    const char *argv[] = {"true", NULL};
    BERTH_AUTO_FREE char *url = reg(exec_req("ctr-nostreams", argv, false, true, false, false));
    if (url == NULL)
        return;
    BERTH_AUTO_FREE char *rq =
            berth_asprintf("POST %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: "
                           "SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
                           "Content-Length: 0\r\n\r\n",
                           url_path(url));
    int fd = tcp_to(server_port);
    uint64_t t0 = now_ns();
    send_str(fd, rq);
    BERTH_AUTO_FREE char *resp = read_to_eof(fd);
    uint64_t took = now_ns() - t0;
    close(fd);
    check(strncmp(resp, "HTTP/1.1 101", 12) == 0 && took >= 900 * MS && took < WAIT,
          "stream creation timeout: an upgraded session without streams is closed (%.1f s)",
          (double)took / 1e9);
}

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *f)
{
    (void)sb, (void)type, (void)f;
    return remove(p);
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
    if (berth_blocking_start(0, &err) < 0) {
        printf("1..0 # SKIP blocking pool: %s\n", err->msg);
        return 77;
    }
    if (mkdtemp(tmp) == NULL)
        abort();
    static const char *const jqs[] = {"/usr/bin/jq", "/usr/local/bin/jq", "/bin/jq"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(jqs) && jq == NULL; i++)
        if (access(jqs[i], X_OK) == 0)
            jq = jqs[i];
    write_runtime();
    pid_dir = berth_asprintf("%s/pids", tmp);
    tty_bundle = berth_asprintf("%s/tty-bundle", tmp);
    if (mkdir(pid_dir, 0700) < 0 || mkdir(tty_bundle, 0700) < 0)
        abort();
    BERTH_AUTO_FREE char *cfgjson = berth_asprintf("%s/config.json", tty_bundle);
    write_file(cfgjson,
               "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,"
               "\"gid\":0},\"args\":[\"the-image-cmd\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/"
               "work\"},\"root\":{\"path\":\"rootfs\"}}",
               0644);
    fake_conmon();
    echo_lfd = tcp_listen(&echo_port);
    pthread_create(&echo_thread, NULL, echo_accept, NULL);
    src_lfd = tcp_listen(&src_port);
    pthread_create(&src_thread, NULL, src_accept, NULL);

    /* no server yet */
    const char *argv0[] = {"true", NULL};
    char *none = berth_stream_register(exec_req("x", argv0, false, true, false, false), &err);
    check(none == NULL && err && strstr(err->msg, "not running"),
          "register: refused while no server runs");
    berth_err_free(&err);
    berth_handle_t h;
    berth_stream_config_t bad = {.address = "localhost"};
    check(berth_stream_server_start(&bad, &h, &err) < 0 && strstr(err->msg, "not an IP address"),
          "start: a host name is refused");
    berth_err_free(&err);
    bad = (berth_stream_config_t){.port = 70000};
    check(berth_stream_server_start(&bad, &h, &err) < 0 && strstr(err->msg, "not a TCP port"),
          "start: port 70000 is refused");
    berth_err_free(&err);

    BERTH_AUTO_FREE char *exec_dir = berth_asprintf("%s/exec", tmp);
    berth_stream_config_t cfg = {.address = "127.0.0.1", .exec_dir = exec_dir};
    h = start_server(&cfg);
    check(strncmp(berth_stream_base_url(), "http://127.0.0.1:", 17) == 0 && server_port > 0,
          "start: base URL %s", berth_stream_base_url());

    for (int t = 0; t < 2; t++) {
        t_exec_output(t);
        t_exec_stdin(t);
        t_exec_tty(t);
        t_exec_vanish(t);
        t_attach(t);
    }
    t_exec_runtime_error();
    t_exec_tty_default();
    t_ws_bad_frame();
    t_attach_tty();
    t_attach_none();
    t_tokens();
    t_pf_spdy();
    t_pf_spdy_bulk();
    t_pf_spdy_slow_reader();
    t_pf_ws();
    t_pf_tunnel();
    t_spdy_ping_garbage();
    t_stop(h);

    berth_stream_config_t small = {
            .address = "127.0.0.1",
            .exec_dir = exec_dir,
            .token_ttl_ns = 300 * MS,
            .max_sessions = 2,
            .max_streams = 4,
            .idle_timeout_ns = 1 * SEC,
            .stream_creation_timeout_ns = 1 * SEC,
    };
    h = start_server(&small);
    t_expired();
    t_max_streams();
    t_pf_many();
    t_max_sessions();
    t_idle();
    t_creation_timeout();
    berth_stream_server_stop(h);

    shutdown(echo_lfd, SHUT_RDWR);
    pthread_join(echo_thread, NULL);
    close(echo_lfd);
    shutdown(src_lfd, SHUT_RDWR);
    pthread_join(src_thread, NULL);
    close(src_lfd);
    close(att_lfd);
    if (ctl_fd >= 0)
        close(ctl_fd);
    sleep_ms(100); /* the second server's last turns */
    berth_engine_stop();
    berth_engine_join();
    berth_blocking_shutdown();
    berth_engine_shutdown();
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    berth_free(rt_path);
    berth_free(pid_dir);
    berth_free(tty_bundle);
    berth_free(att_bundle);
    berth_free(noatt_bundle);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
