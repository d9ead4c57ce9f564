/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-stream: CRI Exec, Attach and PortForward from the command line, on
 * perf/cri_client.h and perf/stream_client.h, against any CRI socket (berthd,
 * CRI-O, containerd). For tests and for people: it runs a command through the
 * whole streaming path without crictl, and `url` prints the URL a runtime
 * answered without opening it (token reuse and expiry checks open it later
 * with `open`, or with curl).
 *
 *   berth-stream url exec --socket S [-i] [-t] CID CMD...
 *   berth-stream url attach --socket S [-i] [-t] CID
 *   berth-stream url portforward --socket S POD PORT...
 *   berth-stream exec --socket S [--transport spdy|websocket] [-i] [-t] CID CMD...
 *   berth-stream attach --socket S [--transport T] [-i] [-t] CID
 *   berth-stream portforward --socket S [--transport T] POD PORT
 *   berth-stream open [--transport T] [-i] [-t] [--port P] [-k] URL
 *
 * exec, attach and open (of an exec or attach URL) copy stdin (with -i) to
 * the command and its stdout and stderr here, and exit with the command's
 * exit code. portforward (and open of a portforward URL with --port) copies
 * stdin to the pod's port and what comes back to stdout, like nc. open also
 * takes a kubelet's https endpoints (/exec/NS/POD/CONTAINER?command=...,
 * /attach/..., /portForward/NS/POD), whose query must ask for the streams
 * the flags open (input=1 with -i, output=1, error=1 unless -t or
 * --no-stderr); -k accepts the kubelet's self-signed certificate. Exit 255
 * when the call or the stream failed (said on stderr, with the HTTP status
 * when the upgrade was refused: "HTTP 404"), 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "perf/cri_client.h"
#include "perf/stream_client.h"

#define SEC 1000000000ull
#define EXIT_FAIL 255

typedef struct cli {
    const char *sock;
    berth_stream_transport_t transport;
    bool in, tty, no_stderr;
    int port; /* open of a portforward URL */
    double timeout_s;
    const char *ws_protocols;
    /* open of an https URL (a kubelet's endpoints) */
    bool insecure;
    const char *cacert, *server_name;
} cli_t;

static void usage(FILE *f)
{
    fputs("usage: berth-stream url exec --socket S [-i] [-t] CID CMD...\n"
          "       berth-stream url attach --socket S [-i] [-t] CID\n"
          "       berth-stream url portforward --socket S POD PORT...\n"
          "       berth-stream exec --socket S [--transport spdy|websocket] [-i] [-t] CID CMD...\n"
          "       berth-stream attach --socket S [--transport T] [-i] [-t] CID\n"
          "       berth-stream portforward --socket S [--transport T] POD PORT\n"
          "       berth-stream open [--transport T] [-i] [-t] [--port P] [TLS] URL\n"
          "  -i, --stdin        pass stdin to the command (exec, attach, open)\n"
          "  -t, --tty          a terminal (no separate stderr)\n"
          "  --no-stderr        do not ask for stderr\n"
          "  --transport T      spdy (default) or websocket\n"
          "  --ws-protocol L    WebSocket subprotocols to offer (default: v5 and v4\n"
          "                     channel.k8s.io; SPDY/3.1+portforward.k8s.io: port-forward\n"
          "                     as client-go tunnels it)\n"
          "  -k, --insecure     https: do not check the server's certificate (a kubelet's own)\n"
          "  --cacert FILE      https: trust the CAs in FILE (default: the system's)\n"
          "  --tls-server-name N  https: the name the certificate must have (default: URL's host)\n"
          "  --timeout S        CRI calls and each stream wait (30)\n"
          "exit: the command's exit code; 255 when the call or stream failed; 2 usage\n",
          f);
}

static int fail(const char *what, berth_err_t *err, berth_cri_status_t *st)
{
    if (err && *err)
        fprintf(stderr, "berth-stream: %s: %s\n", what, (*err)->msg);
    else if (st && st->code != BERTH_GRPC_OK)
        fprintf(stderr, "berth-stream: %s: %s (gRPC code %d)\n", what,
                st->msg ? st->msg : "no message", st->code);
    return EXIT_FAIL;
}

static int parse(cli_t *o, int argc, char **argv)
{
    static const struct option lo[] = {
            {"socket", required_argument, NULL, 's'},
            {"transport", required_argument, NULL, 'T'},
            {"stdin", no_argument, NULL, 'i'},
            {"tty", no_argument, NULL, 't'},
            {"no-stderr", no_argument, NULL, 'E'},
            {"port", required_argument, NULL, 'p'},
            {"timeout", required_argument, NULL, 'w'},
            {"ws-protocol", required_argument, NULL, 'W'},
            {"insecure", no_argument, NULL, 'k'},
            {"cacert", required_argument, NULL, 'C'},
            {"tls-server-name", required_argument, NULL, 'N'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    *o = (cli_t){.timeout_s = 30};
    int opt;
    optind = 1;
    /* "+": stop at the first operand, so CMD's own options stay its own */
    while ((opt = getopt_long(argc, argv, "+s:T:itEp:w:kh", lo, NULL)) != -1) {
        switch (opt) {
        case 's':
            o->sock = optarg;
            break;
        case 'T':
            if (strcmp(optarg, "spdy") == 0)
                o->transport = BERTH_STREAM_SPDY;
            else if (strcmp(optarg, "websocket") == 0 || strcmp(optarg, "ws") == 0)
                o->transport = BERTH_STREAM_WEBSOCKET;
            else {
                fprintf(stderr, "berth-stream: --transport: spdy or websocket, not %s\n", optarg);
                return -1;
            }
            break;
        case 'i':
            o->in = true;
            break;
        case 't':
            o->tty = true;
            break;
        case 'E':
            o->no_stderr = true;
            break;
        case 'p':
            o->port = atoi(optarg);
            break;
        case 'w':
            o->timeout_s = atof(optarg) > 0 ? atof(optarg) : 30;
            break;
        case 'W':
            o->ws_protocols = optarg;
            break;
        case 'k':
            o->insecure = true;
            break;
        case 'C':
            o->cacert = optarg;
            break;
        case 'N':
            o->server_name = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    return 0;
}

static uint64_t timeout_ns(const cli_t *o)
{
    return (uint64_t)(o->timeout_s * 1e9);
}

/* ---- the local terminal ------------------------------------------------------ */

static struct termios saved_tio;
static bool raw_on;

static void raw_off(void)
{
    if (raw_on)
        tcsetattr(0, TCSANOW, &saved_tio);
    raw_on = false;
}

static void raw_mode(void)
{
    struct termios t;
    if (!isatty(0) || tcgetattr(0, &saved_tio) < 0)
        return;
    t = saved_tio;
    cfmakeraw(&t);
    if (tcsetattr(0, TCSANOW, &t) == 0) {
        raw_on = true;
        atexit(raw_off);
    }
}

/* ---- relaying ------------------------------------------------------------------ */

static int write_all(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Writes what waits on ch to fd; returns how much. */
static size_t drain(berth_stream_client_t *c, int ch, int fd)
{
    berth_bytebuf_t *b = berth_stream_client_in(c, ch);
    size_t n = berth_bytebuf_pending(b);
    if (n == 0)
        return 0;
    write_all(fd, b->data + b->off, n);
    berth_bytebuf_consume(b, n);
    return n;
}

/* Copies stdin to in_ch (when in_ch >= 0) and out_ch / err_ch to stdout and
 * stderr until the channels in end_mask have ended (then waits up to 2 s more
 * for out_ch and err_ch, whose last bytes may trail). 0 (*err_bytes: how much
 * came on err_ch), or -1 with *err. */
static int relay(berth_stream_client_t *c, int in_ch, int out_ch, int err_ch, uint64_t end_mask,
                 size_t *err_bytes, berth_err_t *err)
{
    bool stdin_open = in_ch >= 0;
    char buf[32768];
    double trail_until = 0;
    for (;;) {
        drain(c, out_ch, 1);
        if (err_ch >= 0)
            *err_bytes += drain(c, err_ch, 2);
        bool ended = true;
        for (int i = 0; i < 64; i++)
            if ((end_mask & (1ull << i)) && !berth_stream_client_ended(c, i))
                ended = false;
        if (ended) {
            bool outs = berth_stream_client_ended(c, out_ch) &&
                        (err_ch < 0 || berth_stream_client_ended(c, err_ch));
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
            if (trail_until == 0)
                trail_until = now + 2;
            if (outs || now >= trail_until)
                return 0;
        }
        struct pollfd p[2] = {{.fd = berth_stream_client_fd(c), .events = POLLIN},
                              {.fd = 0, .events = POLLIN}};
        int n = poll(p, stdin_open ? 2 : 1, ended ? 100 : -1);
        if (n < 0 && errno != EINTR)
            return berth_err_errno(err, errno, "poll");
        if (n <= 0)
            continue;
        if (stdin_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t k = read(0, buf, sizeof(buf));
            if (k > 0) {
                if (berth_stream_client_write(c, in_ch, buf, (size_t)k, err) < 0)
                    return -1;
            } else if (k == 0 || errno != EINTR) {
                stdin_open = false;
                berth_err_t e2 = NULL;
                /* before v5 WebSocket cannot say EOF: the command keeps its stdin */
                if (berth_stream_client_close_write(c, in_ch, &e2) < 0)
                    berth_err_free(&e2);
            }
        }
        if (p[0].revents && berth_stream_client_pump(c, 0, err) < 0)
            return -1;
    }
}

/* A remote command session on url: relay, then the exit status. */
static int run_remote(const cli_t *o, const char *url, bool out, bool errs)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_stream_client_opts_t so = {.transport = o->transport,
                                     .in = o->in,
                                     .out = out,
                                     .err = errs,
                                     .tty = o->tty,
                                     .ws_protocols = o->ws_protocols,
                                     .tls_insecure = o->insecure,
                                     .tls_ca_file = o->cacert,
                                     .tls_server_name = o->server_name,
                                     .timeout_ns = timeout_ns(o)};
    berth_stream_client_t *c = berth_stream_client_open(url, &so, NULL, &err);
    if (c == NULL)
        return fail("open", &err, NULL);
    if (o->tty) {
        struct winsize ws;
        if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
            berth_stream_client_resize(c, ws.ws_col, ws.ws_row, &err) < 0) {
            berth_stream_client_free(c);
            return fail("resize", &err, NULL);
        }
        if (o->in)
            raw_mode();
    }
    size_t nerr = 0;
    int rc = relay(c, o->in ? BERTH_STREAM_STDIN : -1, BERTH_STREAM_STDOUT,
                   errs ? BERTH_STREAM_STDERR : -1, 1ull << BERTH_STREAM_ERROR, &nerr, &err);
    int code = -1;
    BERTH_AUTO_FREE char *msg = NULL;
    if (rc == 0)
        rc = berth_stream_client_exit_status(c, timeout_ns(o), &code, &msg, &err);
    berth_stream_client_free(c);
    raw_off();
    if (rc < 0)
        return fail("stream", &err, NULL);
    if (code < 0) {
        fprintf(stderr, "berth-stream: %s\n", msg ? msg : "the command failed");
        return EXIT_FAIL;
    }
    return code;
}

static int run_portforward(const cli_t *o, const char *url, int port)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    int32_t p32 = port;
    berth_stream_client_opts_t so = {.transport = o->transport,
                                     .ports = &p32,
                                     .nports = 1,
                                     .ws_protocols = o->ws_protocols,
                                     .tls_insecure = o->insecure,
                                     .tls_ca_file = o->cacert,
                                     .tls_server_name = o->server_name,
                                     .timeout_ns = timeout_ns(o)};
    berth_stream_client_t *c = berth_stream_client_open(url, &so, NULL, &err);
    if (c == NULL)
        return fail("open", &err, NULL);
    int k = berth_stream_client_pf_open(c, port, &err);
    size_t nerr = 0;
    int rc = k < 0 ? -1
                   : relay(c, BERTH_STREAM_PF_DATA(k), BERTH_STREAM_PF_DATA(k),
                           BERTH_STREAM_PF_ERROR(k), 1ull << BERTH_STREAM_PF_DATA(k), &nerr, &err);
    berth_stream_client_free(c);
    if (rc < 0)
        return fail("port-forward", &err, NULL);
    /* the runtime's complaint (a refused connection) went to stderr */
    return nerr > 0 ? EXIT_FAIL : 0;
}

/* ---- main ---------------------------------------------------------------------- */

static int get_url(const cli_t *o, const char *kind, int argc, char **argv, char **url)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_status_t st = {0};
    if (o->sock == NULL) {
        fprintf(stderr, "berth-stream: --socket is needed\n");
        return 2;
    }
    bool pf = strcmp(kind, "portforward") == 0;
    if (argc < 1 || (pf && argc < 2) || (strcmp(kind, "exec") == 0 && argc < 2)) {
        usage(stderr);
        return 2;
    }
    berth_cri_client_t *cc = berth_cri_client_new(o->sock, &err);
    if (cc == NULL)
        return fail("connect", &err, NULL);
    berth_cri_stdio_t io = {
            .in = o->in, .out = true, .err = !o->tty && !o->no_stderr, .tty = o->tty};
    int r;
    if (strcmp(kind, "exec") == 0) {
        r = berth_cri_exec_url(cc, argv[0], (const char *const *)argv + 1, &io, timeout_ns(o), url,
                               &st, &err);
    } else if (strcmp(kind, "attach") == 0) {
        r = berth_cri_attach_url(cc, argv[0], &io, timeout_ns(o), url, &st, &err);
    } else if (pf) {
        BERTH_AUTO_FREE int32_t *ports = berth_calloc((size_t)argc, sizeof(int32_t));
        for (int i = 1; i < argc; i++)
            ports[i - 1] = atoi(argv[i]);
        r = berth_cri_port_forward_url(cc, argv[0], ports, (size_t)argc - 1, timeout_ns(o), url,
                                       &st, &err);
    } else {
        berth_cri_client_free(cc);
        usage(stderr);
        return 2;
    }
    berth_cri_client_free(cc);
    int rc = 0;
    if (r < 0 || st.code != BERTH_GRPC_OK)
        rc = fail(kind, &err, &st);
    berth_cri_status_fini(&st);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    cli_t o;
    if (strcmp(cmd, "url") == 0) {
        if (argc < 3) {
            usage(stderr);
            return 2;
        }
        const char *kind = argv[2];
        if (parse(&o, argc - 2, argv + 2) < 0) {
            usage(stderr);
            return 2;
        }
        BERTH_AUTO_FREE char *url = NULL;
        int rc = get_url(&o, kind, argc - 2 - optind, argv + 2 + optind, &url);
        if (rc == 0)
            printf("%s\n", url);
        return rc;
    }
    if (parse(&o, argc - 1, argv + 1) < 0) {
        usage(stderr);
        return 2;
    }
    int nargs = argc - 1 - optind;
    char **args = argv + 1 + optind;
    bool errs = !o.tty && !o.no_stderr;
    if (strcmp(cmd, "exec") == 0 || strcmp(cmd, "attach") == 0 || strcmp(cmd, "portforward") == 0) {
        if (strcmp(cmd, "portforward") == 0 && nargs != 2) {
            fprintf(stderr, "berth-stream: portforward takes one POD and one PORT\n");
            return 2;
        }
        BERTH_AUTO_FREE char *url = NULL;
        int rc = get_url(&o, cmd, nargs, args, &url);
        if (rc != 0)
            return rc;
        if (strcmp(cmd, "portforward") == 0)
            return run_portforward(&o, url, atoi(args[1]));
        return run_remote(&o, url, true, errs);
    }
    if (strcmp(cmd, "open") == 0) {
        if (nargs != 1) {
            usage(stderr);
            return 2;
        }
        /* a runtime's /portforward/TOKEN, a kubelet's /portForward/NS/POD */
        if (strcasestr(args[0], "/portforward/") != NULL) {
            if (o.port <= 0) {
                fprintf(stderr, "berth-stream: open of a portforward URL needs --port\n");
                return 2;
            }
            return run_portforward(&o, args[0], o.port);
        }
        return run_remote(&o, args[0], true, errs);
    }
    usage(stderr);
    return 2;
}
