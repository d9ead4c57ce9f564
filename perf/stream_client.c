/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blocking streaming client (perf/stream_client.h): a non-blocking TCP
 * socket driven with poll(2), the HTTP/1.1 upgrade, and berth's SPDY and
 * WebSocket codecs under a channel table. What it sends follows client-go
 * (remotecommand's and portforward's SPDY dialers, the WebSocket executor):
 * the same headers, stream order and half-closes, so the kubelet's Go
 * streaming server in CRI-O and containerd serves it like crictl. It must
 * never be linked into berthd: every call blocks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "engine/alloc.h"
#include "io/spdy.h"
#include "io/websocket.h"
#include "perf/stream_client.h"

#define MAX_CHANS 64
/* DATA frames and WebSocket messages are cut to this (client-go's copy
 * buffer is 32 KiB too). */
#define CHUNK 32768
/* Queued output is flushed past this, so a large write never holds more
 * than this much copied. */
#define TX_HIGH (256 * 1024)
/* One pump reads at most this much before sorting it, so a fast sender
 * cannot grow the receive buffer without bound. */
#define RX_BURST (1024 * 1024)
#define HEAD_MAX (16 * 1024)
#define BODY_MAX (4 * 1024)
#define DEFAULT_TIMEOUT_NS (30ull * 1000000000ull)
/* client-go's WebSocket port-forward: SPDY tunnelled in binary messages */
#define TUNNEL_PF "SPDY/3.1+portforward.k8s.io"

typedef struct chan {
    bool open;      /* we opened it (SPDY), or the protocol has it (WebSocket) */
    bool replied;   /* SPDY: its SYN_REPLY came */
    bool local_fin; /* we half-closed it */
    bool ended;     /* the server sends nothing more on it */
    bool reset;     /* ... because it reset the stream */
    bool pf_taken;  /* WebSocket port-forward: handed out by pf_open */
    bool port_seen; /* WebSocket port-forward: the 2-byte port prefix is gone */
    uint32_t sid;
    uint32_t rst_status;
    int port;
    berth_bytebuf_t in;
} chan_t;

struct berth_stream_client {
    int fd;
    berth_stream_transport_t transport;
    bool pf;
    int version;
    char *protocol;
    uint64_t timeout_ns;
    berth_spdy_t *spdy;
    uint32_t next_sid;
    uint32_t next_reqid;
    berth_ws_parser_t wsp;
    const berth_ws_chan_proto_t *wsproto;
    berth_bytebuf_t wsmsg; /* a fragmented WebSocket message so far */
    /* WebSocket port-forward tunnelling SPDY (SPDY/3.1+portforward.k8s.io,
     * client-go's): SPDY frames go to stx and leave as one binary message
     * per flush; message payloads gather in srx for the SPDY parser. */
    bool tunnel;
    berth_bytebuf_t stx, srx;
    bool close_sent; /* WebSocket: our close frame is queued */
    berth_bytebuf_t rx, tx;
    SSL_CTX *tls_ctx; /* https: this connection's TLS context and session */
    SSL *tls;
    uint64_t rng;
    int npairs;
    bool done;
    chan_t chans[MAX_CHANS];
};

/* ---- small helpers ------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* poll(2) on the socket until deadline (ns, CLOCK_MONOTONIC; 0: do not
 * wait). Returns revents, 0 at the deadline, -1 on a poll error. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ns();
        int ms = 0;
        if (deadline > now) {
            uint64_t left = deadline - now;
            ms = left / 1000000 > 60000 ? 60000 : (int)((left + 999999) / 1000000);
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r > 0)
            return p.revents;
        if (now_ns() >= deadline)
            return 0;
    }
}

/* A fresh masking key for each client frame (RFC 6455 §5.3): xorshift64*
 * seeded from getrandom. The mask only keeps proxies from caching, so a
 * fast generator seeded once is enough. */
static void mask_key(berth_stream_client_t *c, uint8_t key[4])
{
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    uint32_t v = (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
    memcpy(key, &v, 4);
}

static chan_t *chan_by_sid(berth_stream_client_t *c, uint32_t sid)
{
    for (int i = 0; i < MAX_CHANS; i++)
        if (c->chans[i].open && c->chans[i].sid == sid)
            return &c->chans[i];
    return NULL;
}

static void end_all(berth_stream_client_t *c)
{
    c->done = true;
    for (int i = 0; i < MAX_CHANS; i++)
        c->chans[i].ended = true;
}

static const char *stream_type_name(int ch)
{
    static const char *const names[] = {"stdin", "stdout", "stderr", "error", "resize"};
    return ch >= 0 && ch < 5 ? names[ch] : "data";
}

/* ---- URL, connect, upgrade ---------------------------------------------- */

int berth_stream_url_parse(const char *url, bool *tls, char **host, char **port, char **path,
                           berth_err_t *err)
{
    *host = *port = *path = NULL;
    *tls = strncasecmp(url, "https://", 8) == 0;
    if (!*tls && strncasecmp(url, "http://", 7) != 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "streaming URL %s: only http:// and https:// are supported", url);
    const char *h = url + (*tls ? 8 : 7);
    const char *slash = strchr(h, '/');
    const char *hend = slash ? slash : h + strlen(h);
    const char *colon = NULL;
    const char *hs = h, *he;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(hend - h));
        if (rb == NULL)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "streaming URL %s: unclosed [ in the host", url);
        hs = h + 1;
        he = rb;
        if (rb + 1 < hend && rb[1] == ':')
            colon = rb + 1;
        else if (rb + 1 != hend)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "streaming URL %s: junk after the host", url);
    } else {
        colon = memchr(h, ':', (size_t)(hend - h));
        he = colon ? colon : hend;
    }
    if (he == hs)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "streaming URL %s: no host", url);
    if (colon &&
        (colon + 1 == hend || strspn(colon + 1, "0123456789") != (size_t)(hend - colon - 1)))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "streaming URL %s: bad port", url);
    *host = berth_strndup(hs, (size_t)(he - hs));
    *port = colon ? berth_strndup(colon + 1, (size_t)(hend - colon - 1))
                  : berth_strdup(*tls ? "443" : "80");
    *path = berth_strdup(slash ? slash : "/");
    return 0;
}

static int tcp_connect(const char *host, const char *port, uint64_t deadline, berth_err_t *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int r = getaddrinfo(host, port, &hints, &ai);
    if (r != 0)
        return berth_err_make(err, ENOENT, BERTH_ERR_NOT_FOUND, "cannot resolve %s:%s: %s", host,
                              port, gai_strerror(r));
    int fd = -1, e = ECONNREFUSED;
    for (struct addrinfo *a = ai; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
            e = errno;
            close(fd);
            fd = -1;
            continue;
        }
        int ev = wait_fd(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (ev <= 0)
            soerr = ev == 0 ? ETIMEDOUT : errno;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr != 0) {
            e = soerr;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return berth_err_errno(err, e, "cannot connect to %s:%s", host, port);
    /* Go's net package sets this on every TCP connection: small frames
     * (a SYN_STREAM, a line of stdin) go out at once. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* ---- TLS (https URLs) ------------------------------------------------------ */

/* OpenSSL's queued errors as one message (and the queue emptied). */
static void tls_reason(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, len, "no reason given");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
}

static bool ip_literal(const char *s)
{
    uint8_t a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* The client side of a TLS handshake on the connected socket, within the
 * deadline. */
static int tls_start(berth_stream_client_t *c, const char *host,
                     const berth_stream_client_opts_t *o, uint64_t deadline, berth_err_t *err)
{
    char why[256];
    c->tls_ctx = SSL_CTX_new(TLS_client_method());
    if (c->tls_ctx == NULL) {
        tls_reason(why, sizeof(why));
        return berth_err_make(err, ENOMEM, BERTH_ERR_INTERNAL, "TLS: no context: %s", why);
    }
    SSL_CTX_set_min_proto_version(c->tls_ctx, TLS1_2_VERSION);
    /* A peer that closes TCP without close_notify ends the session like
     * plain HTTP's EOF; moving and partial writes: c->tx may grow (and
     * move) between the tries of one write, keeping its pending bytes. */
    SSL_CTX_set_options(c->tls_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(c->tls_ctx,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* The upgrade is HTTP/1.1's: a Go server would pick h2 if we offered
     * it, and HTTP/2 has no Upgrade. (0 is success here.) */
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(c->tls_ctx, alpn, sizeof(alpn) - 1);
    const char *name = o->tls_server_name ? o->tls_server_name : host;
    if (!o->tls_insecure) {
        SSL_CTX_set_verify(c->tls_ctx, SSL_VERIFY_PEER, NULL);
        int ok = o->tls_ca_file ? SSL_CTX_load_verify_locations(c->tls_ctx, o->tls_ca_file, NULL)
                                : SSL_CTX_set_default_verify_paths(c->tls_ctx);
        if (ok != 1) {
            tls_reason(why, sizeof(why));
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "TLS: cannot load CAs from %s: %s",
                                  o->tls_ca_file ? o->tls_ca_file : "the system's paths", why);
        }
    }
    c->tls = SSL_new(c->tls_ctx);
    if (c->tls == NULL || SSL_set_fd(c->tls, c->fd) != 1) {
        tls_reason(why, sizeof(why));
        return berth_err_make(err, ENOMEM, BERTH_ERR_INTERNAL, "TLS: no session: %s", why);
    }
    bool ip = ip_literal(name);
    /* SNI carries names only (RFC 6066 §3) */
    if (!ip)
        SSL_set_tlsext_host_name(c->tls, name);
    if (!o->tls_insecure) {
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->tls), name)
                    : SSL_set1_host(c->tls, name);
        if (ok != 1) {
            tls_reason(why, sizeof(why));
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "TLS: cannot check the certificate against %s: %s", name, why);
        }
    }
    for (;;) {
        int r = SSL_connect(c->tls);
        if (r == 1)
            return 0;
        int e = SSL_get_error(c->tls, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            int ev = wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
            if (ev < 0)
                return berth_err_errno(err, errno, "TLS handshake: poll");
            if (ev == 0)
                return berth_err_make(err, ETIMEDOUT, BERTH_ERR_TIMEOUT,
                                      "TLS handshake with %s: no answer in time", host);
            continue;
        }
        long v = SSL_get_verify_result(c->tls);
        if (v != X509_V_OK) {
            ERR_clear_error();
            return berth_err_make(err, EACCES, BERTH_ERR_UNAUTHENTICATED,
                                  "TLS handshake with %s: the certificate does not verify as %s: "
                                  "%s",
                                  host, name, X509_verify_cert_error_string(v));
        }
        if (e == SSL_ERROR_SYSCALL && errno != 0)
            return berth_err_errno(err, errno, "TLS handshake with %s", host);
        tls_reason(why, sizeof(why));
        return berth_err_make(err, EPROTO, BERTH_ERR_UNAVAILABLE, "TLS handshake with %s: %s", host,
                              why);
    }
}

/* TLS errors of a read or write: -2 when the call only has to wait (also
 * for the other direction: a TLS 1.2 renegotiation, which the kubelet's Go
 * server never starts), 0 at the end of the stream, -1 with *err. */
static ssize_t tls_io_error(berth_stream_client_t *c, int r, const char *what, berth_err_t *err)
{
    int e = SSL_get_error(c->tls, r);
    char why[256];
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return -2;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno != 0)
            return berth_err_errno(err, errno, "streaming connection (TLS): %s", what);
        return 0;
    default:
        tls_reason(why, sizeof(why));
        return berth_err_make(err, EPROTO, BERTH_ERR_UNAVAILABLE,
                              "streaming connection (TLS): %s: %s", what, why);
    }
}

/* One read from the connection: > 0 bytes, 0 at EOF, -2 when nothing is
 * there now, -1 with *err. */
static ssize_t conn_recv(berth_stream_client_t *c, void *p, size_t n, berth_err_t *err)
{
    if (c->tls) {
        errno = 0;
        int r = SSL_read(c->tls, p, n > INT32_MAX ? INT32_MAX : (int)n);
        return r > 0 ? r : tls_io_error(c, r, "read", err);
    }
    for (;;) {
        ssize_t r = recv(c->fd, p, n, MSG_DONTWAIT);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -2;
        return berth_err_errno(err, errno, "streaming connection: recv");
    }
}

/* One write: > 0 bytes taken, -2 when the socket is full, -1 with *err. */
static ssize_t conn_send(berth_stream_client_t *c, const void *p, size_t n, berth_err_t *err)
{
    if (c->tls) {
        errno = 0;
        int r = SSL_write(c->tls, p, n > INT32_MAX ? INT32_MAX : (int)n);
        if (r > 0)
            return r;
        r = (int)tls_io_error(c, r, "write", err);
        return r == 0 ? berth_err_make(err, EPIPE, BERTH_ERR_UNAVAILABLE,
                                       "streaming connection closed by the server")
                      : r;
    }
    for (;;) {
        ssize_t r = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -2;
        return berth_err_errno(err, errno, "streaming connection: send");
    }
}

/* ---- reading the answer -------------------------------------------------- */

/* Sends all of c->tx, reading (and sorting) input while the socket is full. */
static int flush(berth_stream_client_t *c, berth_err_t *err);
static int demux(berth_stream_client_t *c, berth_err_t *err);

/* Reads what the connection has (up to RX_BURST) into c->rx. 1: got bytes,
 * 0: nothing now, -2: EOF, -1: error. Over TLS it goes on past RX_BURST
 * until the TLS layer holds no decrypted byte (a record at most), so that
 * poll(2) on the socket never misses input (libssl's read-ahead is off: it
 * takes from the socket one record at a time). */
static int read_some(berth_stream_client_t *c, berth_err_t *err)
{
    size_t got = 0;
    while (got < RX_BURST || (c->tls && SSL_pending(c->tls) > 0)) {
        uint8_t *p = berth_bytebuf_reserve(&c->rx, 65536);
        ssize_t n = conn_recv(c, p, c->rx.cap - c->rx.len, err);
        if (n > 0) {
            c->rx.len += (size_t)n;
            got += (size_t)n;
            continue;
        }
        if (n == 0)
            return got ? 1 : -2;
        if (n == -2)
            return got ? 1 : 0;
        return -1;
    }
    return 1;
}

/* The value of header `name` in a response head (CRLF lines), trimmed;
 * owned, or NULL. */
static char *head_value(const char *head, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *p = memchr(head, '\n', len);
    const char *end = head + len;
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            break;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            const char *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            return berth_strndup(v, (size_t)(ve - v));
        }
        p = eol;
    }
    return NULL;
}

/* Reads the response head; on a status other than 101 also its body (to
 * BODY_MAX) for the message. Returns the status with the head's bytes
 * consumed from c->rx and the head in *head (owned), or -1. */
static int read_head(berth_stream_client_t *c, uint64_t deadline, char **head, berth_err_t *err)
{
    const uint8_t *crlf2 = NULL;
    /* memmem must not see rx's NULL data before the first read */
    while (berth_bytebuf_pending(&c->rx) < 4 ||
           (crlf2 = memmem(c->rx.data + c->rx.off, berth_bytebuf_pending(&c->rx), "\r\n\r\n", 4)) ==
                   NULL) {
        if (berth_bytebuf_pending(&c->rx) > HEAD_MAX)
            return berth_err_make(err, EPROTO, BERTH_ERR_INVALID,
                                  "streaming server: answer head over %d bytes", HEAD_MAX);
        int ev = wait_fd(c->fd, POLLIN, deadline);
        if (ev == 0)
            return berth_err_make(err, ETIMEDOUT, BERTH_ERR_TIMEOUT,
                                  "streaming server: no answer to the upgrade request");
        int r = read_some(c, err);
        if (r == -1)
            return -1;
        if (r == -2)
            return berth_err_make(err, ECONNRESET, BERTH_ERR_UNAVAILABLE,
                                  "streaming server closed the connection before answering");
    }
    size_t hlen = (size_t)(crlf2 + 4 - (c->rx.data + c->rx.off));
    *head = berth_strndup((const char *)c->rx.data + c->rx.off, hlen);
    berth_bytebuf_consume(&c->rx, hlen);
    int status = 0;
    if (sscanf(*head, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 999)
        return berth_err_make(err, EPROTO, BERTH_ERR_INVALID,
                              "streaming server: not an HTTP/1.x answer");
    if (status == 101)
        return status;
    /* the reason is in the body (one line, as the servers write it) */
    BERTH_AUTO_FREE char *cl = head_value(*head, hlen, "Content-Length");
    size_t want = cl ? (size_t)strtoul(cl, NULL, 10) : BODY_MAX;
    if (want > BODY_MAX)
        want = BODY_MAX;
    while (berth_bytebuf_pending(&c->rx) < want && wait_fd(c->fd, POLLIN, deadline) > 0) {
        if (read_some(c, NULL) < 0)
            break;
    }
    return status;
}

static int upgrade_error(berth_stream_client_t *c, int status, const char *head, berth_err_t *err)
{
    size_t n = berth_bytebuf_pending(&c->rx);
    if (n > BODY_MAX)
        n = BODY_MAX;
    const char *body = (const char *)c->rx.data + c->rx.off;
    const char *nl = memchr(body, '\n', n);
    if (nl)
        n = (size_t)(nl - body);
    const char *sp = strchr(head, ' ');
    const char *reason = sp ? strchr(sp + 1, ' ') : NULL;
    const char *rend = reason ? strchr(reason, '\r') : NULL;
    int kind = status == 404   ? BERTH_ERR_NOT_FOUND
               : status == 403 ? BERTH_ERR_DENIED
               : status >= 500 ? BERTH_ERR_UNAVAILABLE
                               : BERTH_ERR_INVALID;
    return berth_err_make(err, EPROTO, kind, "streaming server answered HTTP %d%s%.*s: %.*s",
                          status, reason ? " " : "", reason && rend ? (int)(rend - reason - 1) : 0,
                          reason ? reason + 1 : "", (int)n, body);
}

/* The remote command versions we offer over SPDY, newest first (client-go's
 * list); v5 over SPDY is v4 on the wire. */
static const struct {
    const char *name;
    int version;
} rc_versions[] = {
        {"v5.channel.k8s.io", 5}, {"v4.channel.k8s.io", 4}, {"v3.channel.k8s.io", 3},
        {"v2.channel.k8s.io", 2}, {"channel.k8s.io", 1},
};

static void put_str(berth_bytebuf_t *b, const char *s)
{
    berth_bytebuf_put(b, s, strlen(s));
}

static void put_request(berth_stream_client_t *c, const char *host, const char *port,
                        const char *path, const berth_stream_client_opts_t *o, const char *ws_key)
{
    berth_bytebuf_t *b = &c->tx;
    bool v6 = strchr(host, ':') != NULL;
    bool ws = c->transport == BERTH_STREAM_WEBSOCKET;
    /* client-go's SPDY dialers POST; WebSocket must GET */
    put_str(b, ws ? "GET " : "POST ");
    put_str(b, path);
    if (ws && c->pf && o->nports > 0) {
        /* the kubelet's server reads ?port=, berth's ?ports= when the CRI
         * request named none */
        for (size_t i = 0; i < o->nports; i++) {
            char q[48];
            snprintf(q, sizeof(q), "%cport=%d&ports=%d", i == 0 && !strchr(path, '?') ? '?' : '&',
                     (int)o->ports[i], (int)o->ports[i]);
            put_str(b, q);
        }
    }
    put_str(b, " HTTP/1.1\r\nHost: ");
    put_str(b, v6 ? "[" : "");
    put_str(b, host);
    put_str(b, v6 ? "]:" : ":");
    put_str(b, port);
    put_str(b, "\r\nUser-Agent: berth-stream\r\nConnection: Upgrade\r\n");
    if (ws) {
        put_str(b, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ");
        put_str(b, ws_key);
        put_str(b, "\r\nSec-WebSocket-Protocol: ");
        put_str(b, o->ws_protocols ? o->ws_protocols
                   : c->pf         ? "v4.channel.k8s.io"
                                   : "v5.channel.k8s.io, v4.channel.k8s.io");
        put_str(b, "\r\n");
    } else {
        put_str(b, "Upgrade: SPDY/3.1\r\n");
        if (c->pf) {
            put_str(b, "X-Stream-Protocol-Version: portforward.k8s.io\r\n");
        } else {
            for (size_t i = 0; i < BERTH_ARRAY_LEN(rc_versions); i++) {
                put_str(b, "X-Stream-Protocol-Version: ");
                put_str(b, rc_versions[i].name);
                put_str(b, "\r\n");
            }
        }
        put_str(b, "Content-Length: 0\r\n");
    }
    put_str(b, "\r\n");
}

/* The answer's protocol header against what we offered. */
static int check_spdy_answer(berth_stream_client_t *c, const char *head, berth_err_t *err)
{
    BERTH_AUTO_FREE char *v = head_value(head, strlen(head), "X-Stream-Protocol-Version");
    c->protocol = berth_strdup(v ? v : "");
    if (c->pf) {
        c->version = 1;
        if (v == NULL || strcmp(v, "portforward.k8s.io") == 0)
            return 0;
        return berth_err_make(err, EPROTO, BERTH_ERR_INVALID,
                              "streaming server chose %s, not portforward.k8s.io", v);
    }
    if (v == NULL || *v == '\0') {
        c->version = 1; /* an old server that negotiates nothing */
        return 0;
    }
    for (size_t i = 0; i < BERTH_ARRAY_LEN(rc_versions); i++) {
        if (strcmp(v, rc_versions[i].name) == 0) {
            c->version = rc_versions[i].version;
            return 0;
        }
    }
    return berth_err_make(err, EPROTO, BERTH_ERR_INVALID,
                          "streaming server chose protocol %s, which was not offered", v);
}

static int check_ws_answer(berth_stream_client_t *c, const char *head, const char *key,
                           berth_err_t *err)
{
    char want[BERTH_WS_ACCEPT_LEN + 1];
    berth_ws_accept_key(key, strlen(key), want);
    BERTH_AUTO_FREE char *acc = head_value(head, strlen(head), "Sec-WebSocket-Accept");
    if (acc == NULL || strcmp(acc, want) != 0)
        return berth_err_make(err, EPROTO, BERTH_ERR_INVALID,
                              "streaming server: wrong or missing Sec-WebSocket-Accept");
    BERTH_AUTO_FREE char *proto = head_value(head, strlen(head), "Sec-WebSocket-Protocol");
    c->protocol = berth_strdup(proto ? proto : "");
    berth_ws_parser_init(&c->wsp, false, 16 * 1024 * 1024);
    if (c->pf && strcmp(c->protocol, TUNNEL_PF) == 0) {
        c->tunnel = true;
        c->version = 1;
        c->spdy = berth_spdy_new();
        return 0;
    }
    c->wsproto = berth_ws_chan_proto(c->protocol);
    if (c->wsproto == NULL)
        return berth_err_make(err, EPROTO, BERTH_ERR_INVALID,
                              "streaming server chose WebSocket subprotocol %s", c->protocol);
    c->version = c->wsproto->close_signal ? 5 : c->wsproto->status_json ? 4 : 1;
    return 0;
}

/* ---- SPDY streams ---------------------------------------------------------- */

/* Where SPDY frames are written: straight to the socket's queue, or to the
 * tunnel's (wrapped at the next flush). */
static berth_bytebuf_t *spdy_out(berth_stream_client_t *c)
{
    return c->tunnel ? &c->stx : &c->tx;
}

/* The tunnel's SPDY bytes into one masked binary message on c->tx. */
static void tunnel_wrap(berth_stream_client_t *c)
{
    if (!c->tunnel || berth_bytebuf_pending(&c->stx) == 0)
        return;
    uint8_t m[4];
    mask_key(c, m);
    berth_ws_put_frame(&c->tx, BERTH_WS_OP_BINARY, true, c->stx.data + c->stx.off,
                       berth_bytebuf_pending(&c->stx), m);
    c->stx.off = c->stx.len = 0;
}

static int open_spdy_stream(berth_stream_client_t *c, chan_t *ch, const char *type, int port,
                            uint32_t reqid, berth_err_t *err)
{
    char pbuf[16], rbuf[16];
    snprintf(pbuf, sizeof(pbuf), "%d", port);
    snprintf(rbuf, sizeof(rbuf), "%u", reqid);
    berth_spdy_header_t h[3] = {
            {.name = "streamtype", .name_len = 10, .value = type, .value_len = strlen(type)},
            {.name = "port", .name_len = 4, .value = pbuf, .value_len = strlen(pbuf)},
            {.name = "requestid", .name_len = 9, .value = rbuf, .value_len = strlen(rbuf)},
    };
    if (c->next_sid > BERTH_SPDY_MAX_ID - 2)
        return berth_err_make(err, ERANGE, BERTH_ERR_EXHAUSTED, "SPDY stream ids exhausted");
    ch->sid = c->next_sid;
    c->next_sid += 2;
    ch->open = true;
    ch->port = port;
    return berth_spdy_put_syn_stream(c->spdy, spdy_out(c), ch->sid, 0, 0, 0, h, c->pf ? 3 : 1, err);
}

/* Pumps until every open SPDY stream in mask has its reply. */
static int wait_replies(berth_stream_client_t *c, uint64_t mask, berth_err_t *err)
{
    uint64_t deadline = now_ns() + c->timeout_ns;
    for (;;) {
        bool all = true;
        for (int i = 0; i < MAX_CHANS; i++) {
            chan_t *ch = &c->chans[i];
            if (!(mask & (1ull << i)) || !ch->open || ch->replied)
                continue;
            if (ch->reset)
                return berth_err_make(err, ECONNREFUSED, BERTH_ERR_UNAVAILABLE,
                                      "streaming server reset stream %u (%s)", ch->sid,
                                      berth_spdy_rst_status_name(ch->rst_status));
            all = false;
        }
        if (all)
            return 0;
        if (c->done)
            return berth_err_make(err, ECONNRESET, BERTH_ERR_UNAVAILABLE,
                                  "streaming session ended before the streams were open");
        uint64_t now = now_ns();
        if (now >= deadline)
            return berth_err_make(err, ETIMEDOUT, BERTH_ERR_TIMEOUT,
                                  "streaming server did not answer the streams' SYN_STREAMs");
        if (berth_stream_client_pump(c, deadline - now, err) < 0)
            return -1;
    }
}

/* ---- open and free ---------------------------------------------------------- */

berth_stream_client_t *berth_stream_client_open(const char *url,
                                                const berth_stream_client_opts_t *o,
                                                int *http_status, berth_err_t *err)
{
    if (http_status)
        *http_status = 0;
    BERTH_AUTO_FREE char *host = NULL;
    BERTH_AUTO_FREE char *port = NULL;
    BERTH_AUTO_FREE char *path = NULL;
    bool tls;
    if (berth_stream_url_parse(url, &tls, &host, &port, &path, err) < 0)
        return NULL;
    /* a runtime's /portforward/TOKEN, the kubelet's /portForward/NS/POD */
    bool pf = strncasecmp(path, "/portforward/", 13) == 0;
    if (!pf && strncasecmp(path, "/exec/", 6) != 0 && strncasecmp(path, "/attach/", 8) != 0) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "streaming URL %s names no exec, attach or portforward", url);
        return NULL;
    }
    uint64_t timeout = o->timeout_ns ? o->timeout_ns : DEFAULT_TIMEOUT_NS;
    uint64_t deadline = now_ns() + timeout;
    int fd = tcp_connect(host, port, deadline, err);
    if (fd < 0)
        return NULL;
    berth_stream_client_t *c = berth_calloc(1, sizeof(*c));
    c->fd = fd;
    c->transport = o->transport;
    c->pf = pf;
    c->timeout_ns = timeout;
    c->next_sid = 1;
    if (getrandom(&c->rng, sizeof(c->rng), 0) != sizeof(c->rng) || c->rng == 0)
        c->rng = now_ns() | 1;
    if (tls && tls_start(c, host, o, deadline, err) < 0) {
        berth_stream_client_free(c);
        return NULL;
    }

    char key[32] = "";
    if (c->transport == BERTH_STREAM_WEBSOCKET) {
        uint8_t raw[16];
        for (int i = 0; i < 4; i++)
            mask_key(c, raw + 4 * i);
        static const char b64[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t k = 0;
        for (int i = 0; i < 15; i += 3) {
            uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
            key[k++] = b64[v >> 18 & 63];
            key[k++] = b64[v >> 12 & 63];
            key[k++] = b64[v >> 6 & 63];
            key[k++] = b64[v & 63];
        }
        key[k++] = b64[raw[15] >> 2];
        key[k++] = b64[(raw[15] & 3) << 4];
        key[k++] = '=';
        key[k++] = '=';
        key[k] = '\0';
    }
    put_request(c, host, port, path, o, key);
    BERTH_AUTO_FREE char *head = NULL;
    int status;
    if (flush(c, err) < 0 || (status = read_head(c, deadline, &head, err)) < 0)
        goto fail;
    if (http_status)
        *http_status = status;
    if (status != 101) {
        upgrade_error(c, status, head, err);
        goto fail;
    }
    if (c->transport == BERTH_STREAM_SPDY) {
        if (check_spdy_answer(c, head, err) < 0)
            goto fail;
        c->spdy = berth_spdy_new();
    } else if (check_ws_answer(c, head, key, err) < 0) {
        goto fail;
    }

    if (pf && c->transport == BERTH_STREAM_WEBSOCKET && !c->tunnel) {
        if (o->nports == 0 || o->nports > MAX_CHANS / 2) {
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                           "port-forward over WebSocket needs 1 to %d ports", MAX_CHANS / 2);
            goto fail;
        }
        for (size_t k = 0; k < o->nports; k++) {
            for (int j = 0; j < 2; j++) {
                chan_t *ch = &c->chans[2 * k + (size_t)j];
                ch->open = true;
                ch->port = o->ports[k];
            }
        }
        c->npairs = (int)o->nports;
    } else if (!pf) {
        bool want[5] = {true, o->in, o->out, o->err, o->tty};
        /* the order client-go opens them: error, stdin, stdout, stderr, resize */
        static const int order[5] = {BERTH_STREAM_ERROR, BERTH_STREAM_STDIN, BERTH_STREAM_STDOUT,
                                     BERTH_STREAM_STDERR, BERTH_STREAM_RESIZE};
        uint64_t mask = 0;
        for (int i = 0; i < 5; i++) {
            int ch = order[i];
            if (!want[i])
                continue;
            mask |= 1ull << ch;
            if (c->transport == BERTH_STREAM_WEBSOCKET) {
                c->chans[ch].open = true;
            } else if (open_spdy_stream(c, &c->chans[ch], stream_type_name(ch), 0, 0, err) < 0) {
                goto fail;
            }
        }
        /* stdin and resize are ours to write: the server never ends them */
        c->chans[BERTH_STREAM_STDIN].ended = true;
        c->chans[BERTH_STREAM_RESIZE].ended = true;
        if (c->transport == BERTH_STREAM_SPDY &&
            (flush(c, err) < 0 || wait_replies(c, mask, err) < 0))
            goto fail;
    }
    /* What came in the same reads as the answer's head (a WebSocket
     * server's first messages) is sorted now that the channels are open: a
     * pump waits for new input first, so bytes left in rx would wait for
     * the next ones, forever if the server has nothing more to say. */
    if (berth_bytebuf_pending(&c->rx) > 0 && demux(c, err) < 0)
        goto fail;
    return c;
fail:
    berth_stream_client_free(c);
    return NULL;
}

void berth_stream_client_free(berth_stream_client_t *c)
{
    if (c == NULL)
        return;
    if (!c->done && c->fd >= 0) {
        /* our last frame; the server needs no wait from us */
        if (c->spdy)
            berth_spdy_put_goaway(spdy_out(c), 0, BERTH_SPDY_GOAWAY_OK);
        tunnel_wrap(c);
        if ((c->wsproto || c->tunnel) && !c->close_sent) {
            uint8_t m[4], pl[125];
            mask_key(c, m);
            size_t n = berth_ws_close_payload(BERTH_WS_CLOSE_NORMAL, NULL, pl);
            berth_ws_put_frame(&c->tx, BERTH_WS_OP_CLOSE, true, pl, n, m);
        }
        while (berth_bytebuf_pending(&c->tx) > 0) {
            ssize_t n = conn_send(c, c->tx.data + c->tx.off, berth_bytebuf_pending(&c->tx), NULL);
            if (n <= 0)
                break;
            berth_bytebuf_consume(&c->tx, (size_t)n);
        }
    }
    if (c->tls) {
        /* close_notify, if the socket takes it now; nothing waits for the
         * server's */
        if (!c->done && SSL_is_init_finished(c->tls))
            SSL_shutdown(c->tls);
        SSL_free(c->tls);
        ERR_clear_error();
    }
    SSL_CTX_free(c->tls_ctx);
    if (c->fd >= 0)
        close(c->fd);
    berth_spdy_free(c->spdy);
    for (int i = 0; i < MAX_CHANS; i++)
        berth_bytebuf_free(&c->chans[i].in);
    berth_bytebuf_free(&c->rx);
    berth_bytebuf_free(&c->tx);
    berth_bytebuf_free(&c->wsmsg);
    berth_bytebuf_free(&c->stx);
    berth_bytebuf_free(&c->srx);
    berth_free(c->protocol);
    berth_free(c);
}

const char *berth_stream_client_protocol(const berth_stream_client_t *c)
{
    return c->protocol;
}

int berth_stream_client_version(const berth_stream_client_t *c)
{
    return c->version;
}

int berth_stream_client_fd(const berth_stream_client_t *c)
{
    return c->fd;
}

/* ---- receiving ---------------------------------------------------------------- */

/* Sorts the SPDY frames in `in` (the socket's bytes, or the tunnel's). */
static int spdy_demux(berth_stream_client_t *c, berth_bytebuf_t *in, berth_err_t *err)
{
    while (!c->done) {
        berth_spdy_frame_t f = {0};
        ssize_t n =
                berth_spdy_parse(c->spdy, in->data + in->off, berth_bytebuf_pending(in), &f, err);
        if (n < 0)
            return berth_err_prefix(err, "streaming server broke SPDY");
        if (n == 0) {
            size_t need = berth_spdy_frame_size(in->data + in->off, berth_bytebuf_pending(in));
            if (need > berth_bytebuf_pending(in))
                berth_bytebuf_reserve(in, need - berth_bytebuf_pending(in));
            return 0;
        }
        chan_t *ch = f.stream_id ? chan_by_sid(c, f.stream_id) : NULL;
        switch (f.type) {
        case BERTH_SPDY_DATA:
            if (ch && !ch->ended) {
                berth_bytebuf_put(&ch->in, f.data, f.len);
                if (f.flags & BERTH_SPDY_FLAG_FIN)
                    ch->ended = true;
            }
            break;
        case BERTH_SPDY_SYN_REPLY:
            if (ch) {
                ch->replied = true;
                if (f.flags & BERTH_SPDY_FLAG_FIN)
                    ch->ended = true;
            }
            break;
        case BERTH_SPDY_RST_STREAM:
            if (ch) {
                ch->ended = ch->reset = true;
                ch->local_fin = true;
                ch->rst_status = f.status;
            }
            break;
        case BERTH_SPDY_SYN_STREAM:
            /* servers of these protocols never open streams */
            berth_spdy_put_rst_stream(spdy_out(c), f.stream_id, BERTH_SPDY_REFUSED_STREAM);
            break;
        case BERTH_SPDY_PING:
            berth_spdy_put_ping(spdy_out(c), f.ping_id);
            break;
        case BERTH_SPDY_GOAWAY:
            end_all(c);
            break;
        default:
            break; /* SETTINGS, WINDOW_UPDATE, HEADERS, unknown: nothing to do */
        }
        berth_spdy_frame_clear(&f);
        berth_bytebuf_consume(in, (size_t)n);
    }
    return 0;
}

static int ws_message(berth_stream_client_t *c, uint8_t *p, size_t n, berth_err_t *err)
{
    if (c->tunnel) {
        /* message boundaries mean nothing in the tunnel: a byte stream */
        berth_bytebuf_put(&c->srx, p, n);
        return spdy_demux(c, &c->srx, err);
    }
    berth_ws_chan_msg_t m;
    int r = berth_ws_chan_decode(c->wsproto, p, n, &m, err);
    if (r < 0)
        return berth_err_prefix(err, "streaming server sent a bad channel message");
    if (r == 0 || m.channel >= MAX_CHANS)
        return 0;
    chan_t *ch = &c->chans[m.channel];
    if (!ch->open || ch->ended)
        return 0;
    if (m.close) {
        ch->ended = true;
        return 0;
    }
    uint8_t *d = m.data;
    size_t len = m.len;
    if (c->pf && !ch->port_seen) {
        /* the first message of each port-forward channel is its port */
        size_t skip = len < 2 ? len : 2;
        d += skip;
        len -= skip;
        ch->port_seen = true;
    }
    berth_bytebuf_put(&ch->in, d, len);
    return 0;
}

static int ws_demux(berth_stream_client_t *c, berth_err_t *err)
{
    while (!c->done) {
        berth_ws_frame_t f;
        ssize_t n = berth_ws_parse(&c->wsp, c->rx.data + c->rx.off, berth_bytebuf_pending(&c->rx),
                                   &f, err);
        if (n < 0)
            return berth_err_prefix(err, "streaming server broke WebSocket");
        if (n == 0) {
            size_t need = berth_ws_parser_need(&c->wsp);
            if (need > berth_bytebuf_pending(&c->rx))
                berth_bytebuf_reserve(&c->rx, need - berth_bytebuf_pending(&c->rx));
            return 0;
        }
        uint8_t m[4];
        int r = 0;
        switch (f.opcode) {
        case BERTH_WS_OP_PING:
            mask_key(c, m);
            berth_ws_put_frame(&c->tx, BERTH_WS_OP_PONG, true, f.payload, f.len, m);
            break;
        case BERTH_WS_OP_PONG:
            break;
        case BERTH_WS_OP_CLOSE:
            if (!c->close_sent) {
                uint8_t pl[125];
                size_t pn = berth_ws_close_payload(BERTH_WS_CLOSE_NORMAL, NULL, pl);
                mask_key(c, m);
                berth_ws_put_frame(&c->tx, BERTH_WS_OP_CLOSE, true, pl, pn, m);
                c->close_sent = true;
            }
            end_all(c);
            break;
        default:
            if (f.fin && berth_bytebuf_pending(&c->wsmsg) == 0) {
                r = ws_message(c, f.payload, f.len, err);
            } else {
                berth_bytebuf_put(&c->wsmsg, f.payload, f.len);
                if (f.fin) {
                    r = ws_message(c, c->wsmsg.data + c->wsmsg.off,
                                   berth_bytebuf_pending(&c->wsmsg), err);
                    c->wsmsg.off = c->wsmsg.len = 0;
                }
            }
            break;
        }
        berth_bytebuf_consume(&c->rx, (size_t)n);
        if (r < 0)
            return -1;
    }
    return 0;
}

static int demux(berth_stream_client_t *c, berth_err_t *err)
{
    return c->spdy && !c->tunnel ? spdy_demux(c, &c->rx, err) : ws_demux(c, err);
}

/* Reads what is there and sorts it; the end of the connection ends the
 * session once its last bytes are sorted. */
static int take_input(berth_stream_client_t *c, berth_err_t *err)
{
    int r = read_some(c, err);
    if (r == -1)
        return -1;
    if (demux(c, err) < 0)
        return -1;
    if (r == -2)
        end_all(c);
    return 0;
}

int berth_stream_client_pump(berth_stream_client_t *c, uint64_t timeout_ns, berth_err_t *err)
{
    if (c->done)
        return 1;
    if (berth_bytebuf_pending(&c->tx) + berth_bytebuf_pending(&c->stx) > 0 && flush(c, err) < 0)
        return -1;
    int ev = wait_fd(c->fd, POLLIN, timeout_ns ? now_ns() + timeout_ns : 0);
    if (ev < 0)
        return berth_err_errno(err, errno, "streaming connection: poll");
    if (ev == 0)
        return 0;
    if (take_input(c, err) < 0)
        return -1;
    /* pings answered while sorting */
    if (berth_bytebuf_pending(&c->tx) + berth_bytebuf_pending(&c->stx) > 0 && !c->done &&
        flush(c, err) < 0)
        return -1;
    return 1;
}

/* ---- sending ------------------------------------------------------------------ */

static int flush(berth_stream_client_t *c, berth_err_t *err)
{
    tunnel_wrap(c);
    while (berth_bytebuf_pending(&c->tx) > 0) {
        ssize_t n = conn_send(c, c->tx.data + c->tx.off, berth_bytebuf_pending(&c->tx), err);
        if (n > 0) {
            berth_bytebuf_consume(&c->tx, (size_t)n);
            continue;
        }
        if (n == -1)
            return -1;
        /* full: keep reading while we wait, so a server that writes before
         * it reads more never waits on us */
        int ev = wait_fd(c->fd, c->done ? POLLOUT : POLLOUT | POLLIN, now_ns() + c->timeout_ns);
        if (ev < 0)
            return berth_err_errno(err, errno, "streaming connection: poll");
        if (ev == 0)
            return berth_err_make(err, ETIMEDOUT, BERTH_ERR_TIMEOUT,
                                  "streaming connection: the server took nothing for %llu s",
                                  (unsigned long long)(c->timeout_ns / 1000000000ull));
        if ((ev & (POLLIN | POLLHUP | POLLERR)) && !(ev & POLLOUT) && !c->done) {
            if (take_input(c, err) < 0)
                return -1;
            if (c->done && (ev & (POLLHUP | POLLERR)))
                return berth_err_make(err, ECONNRESET, BERTH_ERR_UNAVAILABLE,
                                      "streaming connection closed by the server");
        }
    }
    return 0;
}

static int writable(berth_stream_client_t *c, int ch, berth_err_t *err)
{
    if (ch < 0 || ch >= MAX_CHANS || !c->chans[ch].open)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "channel %d is not open", ch);
    if (c->done)
        return berth_err_make(err, EPIPE, BERTH_ERR_UNAVAILABLE, "the streaming session is over");
    if (c->chans[ch].local_fin)
        return berth_err_make(err, EPIPE, BERTH_ERR_PRECONDITION,
                              "channel %d is closed for writing%s", ch,
                              c->chans[ch].reset ? " (the server reset it)" : "");
    return 0;
}

int berth_stream_client_write(berth_stream_client_t *c, int ch, const void *p, size_t n,
                              berth_err_t *err)
{
    if (writable(c, ch, err) < 0)
        return -1;
    const uint8_t *b = p;
    for (size_t off = 0; off < n;) {
        size_t k = n - off < CHUNK ? n - off : CHUNK;
        if (c->spdy) {
            berth_spdy_put_data(spdy_out(c), c->chans[ch].sid, 0, b + off, k);
        } else {
            uint8_t m[4];
            mask_key(c, m);
            berth_ws_chan_put(&c->tx, c->wsproto, (uint8_t)ch, b + off, k, m);
        }
        off += k;
        if (berth_bytebuf_pending(&c->tx) + berth_bytebuf_pending(&c->stx) >= TX_HIGH &&
            flush(c, err) < 0)
            return -1;
    }
    return flush(c, err);
}

int berth_stream_client_close_write(berth_stream_client_t *c, int ch, berth_err_t *err)
{
    if (writable(c, ch, err) < 0)
        return -1;
    if (c->spdy) {
        berth_spdy_put_data(spdy_out(c), c->chans[ch].sid, BERTH_SPDY_FLAG_FIN, NULL, 0);
    } else if (c->wsproto->close_signal) {
        uint8_t m[4];
        mask_key(c, m);
        berth_ws_chan_put_close(&c->tx, (uint8_t)ch, m);
    } else {
        return berth_err_make(err, ENOTSUP, BERTH_ERR_UNSUPPORTED,
                              "WebSocket %s cannot half-close a channel (v5 can)",
                              c->protocol[0] ? c->protocol : "without a subprotocol");
    }
    c->chans[ch].local_fin = true;
    return flush(c, err);
}

int berth_stream_client_resize(berth_stream_client_t *c, unsigned width, unsigned height,
                               berth_err_t *err)
{
    char j[64];
    int n = snprintf(j, sizeof(j), "{\"Width\":%u,\"Height\":%u}", width, height);
    return berth_stream_client_write(c, BERTH_STREAM_RESIZE, j, (size_t)n, err);
}

/* ---- waiting ------------------------------------------------------------------ */

berth_bytebuf_t *berth_stream_client_in(berth_stream_client_t *c, int ch)
{
    return ch >= 0 && ch < MAX_CHANS ? &c->chans[ch].in : NULL;
}

bool berth_stream_client_ended(const berth_stream_client_t *c, int ch)
{
    return ch < 0 || ch >= MAX_CHANS || c->chans[ch].ended || c->done;
}

bool berth_stream_client_done(const berth_stream_client_t *c)
{
    return c->done;
}

ssize_t berth_stream_client_wait(berth_stream_client_t *c, int ch, size_t want, uint64_t timeout_ns,
                                 berth_err_t *err)
{
    if (ch < 0 || ch >= MAX_CHANS)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "no channel %d", ch);
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        size_t have = berth_bytebuf_pending(&c->chans[ch].in);
        if (have >= want || berth_stream_client_ended(c, ch))
            return (ssize_t)have;
        uint64_t now = now_ns();
        if (now >= deadline)
            return berth_err_make(err, ETIMEDOUT, BERTH_ERR_TIMEOUT,
                                  "channel %d: %zu of %zu bytes after %.1f s", ch, have, want,
                                  (double)timeout_ns / 1e9);
        if (berth_stream_client_pump(c, deadline - now, err) < 0)
            return -1;
    }
}

int berth_stream_client_wait_end(berth_stream_client_t *c, uint64_t mask, uint64_t timeout_ns,
                                 berth_err_t *err)
{
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        bool all = true;
        for (int i = 0; i < MAX_CHANS && all; i++)
            if ((mask & (1ull << i)) && !berth_stream_client_ended(c, i))
                all = false;
        if (all)
            return 0;
        uint64_t now = now_ns();
        if (now >= deadline)
            return berth_err_make(err, ETIMEDOUT, BERTH_ERR_TIMEOUT,
                                  "the streams did not end within %.1f s",
                                  (double)timeout_ns / 1e9);
        if (berth_stream_client_pump(c, deadline - now, err) < 0)
            return -1;
    }
}

int berth_stream_status_parse(const char *text, size_t len, int *exit_code, char **msg,
                              berth_err_t *err)
{
    *exit_code = -1;
    *msg = NULL;
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    const char *status = j ? json_string_value(json_object_get(j, "status")) : NULL;
    if (status == NULL) {
        json_decref(j);
        return berth_err_make(err, EPROTO, BERTH_ERR_INVALID,
                              "the error stream holds no status JSON: %.*s",
                              (int)(len > 200 ? 200 : len), text);
    }
    if (strcmp(status, "Success") == 0) {
        *exit_code = 0;
        json_decref(j);
        return 0;
    }
    const char *reason = json_string_value(json_object_get(j, "reason"));
    if (reason && strcmp(reason, "NonZeroExitCode") == 0) {
        size_t i;
        json_t *cause;
        json_array_foreach(json_object_get(json_object_get(j, "details"), "causes"), i, cause)
        {
            const char *r = json_string_value(json_object_get(cause, "reason"));
            const char *m = json_string_value(json_object_get(cause, "message"));
            if (r && m && strcmp(r, "ExitCode") == 0) {
                char *end;
                long code = strtol(m, &end, 10);
                if (*end == '\0' && code >= 0 && code <= 255) {
                    *exit_code = (int)code;
                    json_decref(j);
                    return 0;
                }
            }
        }
    }
    const char *m = json_string_value(json_object_get(j, "message"));
    *msg = berth_strdup(m ? m : status);
    json_decref(j);
    return 0;
}

int berth_stream_client_exit_status(berth_stream_client_t *c, uint64_t timeout_ns, int *exit_code,
                                    char **msg, berth_err_t *err)
{
    *exit_code = -1;
    *msg = NULL;
    if (berth_stream_client_wait_end(c, 1ull << BERTH_STREAM_ERROR, timeout_ns, err) < 0)
        return berth_err_prefix(err, "waiting for the exit status");
    berth_bytebuf_t *e = &c->chans[BERTH_STREAM_ERROR].in;
    const char *t = (const char *)e->data + e->off;
    size_t n = berth_bytebuf_pending(e);
    if (c->version >= 4) {
        if (n == 0)
            return berth_err_make(err, EPROTO, BERTH_ERR_UNAVAILABLE,
                                  "the session ended without an exit status");
        return berth_stream_status_parse(t, n, exit_code, msg, err);
    }
    if (n == 0) {
        *exit_code = 0;
    } else {
        *msg = berth_strndup(t, n);
    }
    return 0;
}

/* ---- port-forward ------------------------------------------------------------- */

int berth_stream_client_pf_open(berth_stream_client_t *c, int port, berth_err_t *err)
{
    if (!c->pf)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "not a port-forward session");
    if (c->transport == BERTH_STREAM_WEBSOCKET && !c->tunnel) {
        for (int k = 0; k < c->npairs; k++) {
            chan_t *d = &c->chans[BERTH_STREAM_PF_DATA(k)];
            if (d->port == port && !d->pf_taken) {
                d->pf_taken = true;
                return k;
            }
        }
        return berth_err_make(err, ENOENT, BERTH_ERR_NOT_FOUND,
                              "port %d is not among the session's ports (or already taken)", port);
    }
    if (c->done)
        return berth_err_make(err, EPIPE, BERTH_ERR_UNAVAILABLE, "the streaming session is over");
    if (c->npairs >= MAX_CHANS / 2)
        return berth_err_make(err, EMFILE, BERTH_ERR_EXHAUSTED,
                              "at most %d port-forward pairs per session", MAX_CHANS / 2);
    int k = c->npairs++;
    uint32_t reqid = c->next_reqid++;
    chan_t *e = &c->chans[BERTH_STREAM_PF_ERROR(k)];
    chan_t *d = &c->chans[BERTH_STREAM_PF_DATA(k)];
    /* client-go: the error stream first, half-closed (it only reads it),
     * then the data stream */
    if (open_spdy_stream(c, e, "error", port, reqid, err) < 0)
        return -1;
    berth_spdy_put_data(spdy_out(c), e->sid, BERTH_SPDY_FLAG_FIN, NULL, 0);
    e->local_fin = true;
    if (open_spdy_stream(c, d, "data", port, reqid, err) < 0)
        return -1;
    uint64_t mask = 1ull << BERTH_STREAM_PF_ERROR(k) | 1ull << BERTH_STREAM_PF_DATA(k);
    if (flush(c, err) < 0 || wait_replies(c, mask, err) < 0)
        return -1;
    return k;
}
