/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A blocking client for CRI streaming URLs (what Exec, Attach and
 * PortForward answer, and the kubelet's /exec, /attach and /portForward
 * endpoints that proxy to them), for perf/ tools and tests: it connects over
 * TCP (and TLS for https URLs, with OpenSSL's libssl, which only perf/
 * links), upgrades the HTTP/1.1 connection to SPDY/3.1 or WebSocket, opens the
 * Kubernetes remotecommand streams (error, stdin, stdout, stderr, resize)
 * or port-forward pairs (data + error per request id), moves bytes, and
 * reads the exit status from the v4 status JSON. It speaks to berth's
 * streaming server and to the kubelet's Go streaming library that CRI-O and
 * containerd serve, using berth's own codecs (io/spdy.h, io/websocket.h),
 * and doing what client-go's SPDY and WebSocket executors do on the wire
 * (the top comments of those headers say what that is). Never linked into
 * berthd: every call blocks the calling thread.
 *
 * Channels. Everything received is kept per channel until the caller takes
 * it (berth_stream_client_in), so reading one stream never loses another's
 * bytes. Channel numbers are those of the WebSocket channel protocols:
 * remote command 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; port-forward
 * pair k has data 2k and error 2k+1.
 *
 * Writes block until the bytes are in the kernel, reading (and keeping) what
 * arrives meanwhile, so a peer that writes while it reads never deadlocks
 * with us. No flow-control window is kept: the kubelet's peers keep none
 * (io/spdy.h); TCP is the only backpressure.
 *
 * One client is one connection and is not thread-safe.
 */
#ifndef BERTH_PERF_STREAM_CLIENT_H
#define BERTH_PERF_STREAM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/err.h"
#include "io/bytebuf.h"

typedef enum berth_stream_transport {
    BERTH_STREAM_SPDY = 0, /* what kubectl, crictl and the kubelet's proxy use */
    BERTH_STREAM_WEBSOCKET,
} berth_stream_transport_t;

/* Remote command channels. */
enum {
    BERTH_STREAM_STDIN = 0,
    BERTH_STREAM_STDOUT = 1,
    BERTH_STREAM_STDERR = 2,
    BERTH_STREAM_ERROR = 3,
    BERTH_STREAM_RESIZE = 4,
};
/* Port-forward pair k's channels. */
#define BERTH_STREAM_PF_DATA(k) (2 * (k))
#define BERTH_STREAM_PF_ERROR(k) (2 * (k) + 1)

typedef struct berth_stream_client_opts {
    berth_stream_transport_t transport;
    /* Remote command (exec, attach): the streams to open, which must be those
     * the CRI request asked for (the server waits for exactly those; with
     * tty, a resize stream too). Ignored for port-forward. */
    bool in, out, err, tty;
    /* Port-forward over WebSocket: the ports, one pair each (sent as ?port=
     * and ?ports=); over SPDY pairs are opened with
     * berth_stream_client_pf_open instead (and in the SPDY tunnel). */
    const int32_t *ports;
    size_t nports;
    /* WebSocket: the subprotocols to offer, as the Sec-WebSocket-Protocol
     * value ("v4.channel.k8s.io"); NULL: v5 and v4 (port-forward: v4). The
     * kubelet proxies v4 to the runtime's WebSocket as it is, and turns v5
     * into SPDY towards the runtime. For port-forward,
     * "SPDY/3.1+portforward.k8s.io" is client-go's tunnel: SPDY frames in
     * binary messages, the pairs opened with berth_stream_client_pf_open as
     * over SPDY (the kubelet unwraps it and speaks SPDY to the runtime). */
    const char *ws_protocols;
    /* https URLs (TLS 1.2 or later). By default the server's certificate
     * must chain to tls_ca_file (NULL: the system's CAs) and name
     * tls_server_name (NULL: the URL's host; an IP literal is checked as an
     * address); tls_insecure skips both checks (a kubelet's self-signed
     * certificate). */
    bool tls_insecure;
    const char *tls_ca_file;
    const char *tls_server_name;
    /* Each wait (connect, TLS handshake, upgrade answer, stream replies);
     * 0: 30 s. */
    uint64_t timeout_ns;
} berth_stream_client_opts_t;

typedef struct berth_stream_client berth_stream_client_t;

/* Connects to url ("http://HOST:PORT/{exec,attach,portforward}/TOKEN" from a
 * runtime, "https://HOST:PORT/{exec,attach,portForward}/NS/POD[/CONTAINER]
 * ?QUERY" from a kubelet; HOST an IPv4 address, a name, or [IPv6]; the kind
 * is matched without case), sends the upgrade request and reads the answer;
 * for a remote command it then opens the streams o asks for (SPDY: one
 * SYN_STREAM each, error first, and waits for every SYN_REPLY). Returns the
 * client (owned), or NULL with *err: the URL is not http:// or https:// or
 * names no streaming kind (INVALID), the connection or the TLS handshake
 * failed (an untrusted certificate: UNAUTHENTICATED, with OpenSSL's reason),
 * the server answered something other than 101 (the message has "HTTP
 * <status>" and the body's first line, and *http_status the status, if not
 * NULL), or did not choose a protocol we offered.
 *
 * Over TLS the socket is written with write(2): a caller that may outlive
 * its peer ignores SIGPIPE. */
berth_stream_client_t *berth_stream_client_open(const char *url,
                                                const berth_stream_client_opts_t *o,
                                                int *http_status, berth_err_t *err);
/* Ends the session (SPDY GOAWAY, WebSocket close frame; no wait for the
 * server) and closes the socket. NULL-safe. */
void berth_stream_client_free(berth_stream_client_t *c);

/* The protocol the server chose ("v4.channel.k8s.io", "portforward.k8s.io",
 * "" for WebSocket without a subprotocol), and the remote command version
 * it means (1 for channel.k8s.io or no subprotocol, 2 .. 5); borrowed. */
const char *berth_stream_client_protocol(const berth_stream_client_t *c);
int berth_stream_client_version(const berth_stream_client_t *c);
/* The socket, to poll for input beside other fds (then call
 * berth_stream_client_pump with a timeout of 0). Over TLS too: a pump
 * leaves no decrypted input behind in the TLS layer, so poll(2) on the
 * socket never misses any. */
int berth_stream_client_fd(const berth_stream_client_t *c);

/* Sends p[0..n) on channel ch (stdin, or a port-forward pair's data), in
 * frames of at most 32 KiB; blocks until all is in the kernel, keeping what
 * arrives meanwhile. 0, or -1 with *err (the connection failed, the
 * session is over, or the channel was not opened or is closed for
 * writing). */
int berth_stream_client_write(berth_stream_client_t *c, int ch, const void *p, size_t n,
                              berth_err_t *err);
/* Half-closes channel ch: SPDY an empty DATA frame with FIN; WebSocket v5
 * the CLOSE signal; WebSocket before v5 cannot (-1, UNSUPPORTED). */
int berth_stream_client_close_write(berth_stream_client_t *c, int ch, berth_err_t *err);
/* A terminal size on the resize stream ({"Width":w,"Height":h}). */
int berth_stream_client_resize(berth_stream_client_t *c, unsigned width, unsigned height,
                               berth_err_t *err);

/* Waits up to timeout_ns for input, then reads and sorts into channels all
 * that is there, answering pings. Returns 1 when something arrived (or the
 * session ended: see berth_stream_client_done), 0 when the time passed
 * with nothing, -1 with *err when the connection failed or the server broke
 * the protocol. */
int berth_stream_client_pump(berth_stream_client_t *c, uint64_t timeout_ns, berth_err_t *err);
/* The bytes received on ch and not yet taken: the caller consumes from it
 * (berth_bytebuf_consume). Never NULL for ch < 64; borrowed. */
berth_bytebuf_t *berth_stream_client_in(berth_stream_client_t *c, int ch);
/* Whether the server will send nothing more on ch (FIN, reset, or the
 * session's end); its bytes may still be waiting in berth_stream_client_in. */
bool berth_stream_client_ended(const berth_stream_client_t *c, int ch);
/* Whether the session is over (GOAWAY, a close frame, or EOF). */
bool berth_stream_client_done(const berth_stream_client_t *c);

/* Pumps until at least `want` bytes wait on ch or ch ended, within
 * timeout_ns. Returns the bytes waiting (< want only when ch ended), or -1
 * with *err (TIMEOUT when the time ran out). */
ssize_t berth_stream_client_wait(berth_stream_client_t *c, int ch, size_t want, uint64_t timeout_ns,
                                 berth_err_t *err);
/* Pumps until every channel in mask (bit ch) has ended, within timeout_ns.
 * 0, or -1 with *err. */
int berth_stream_client_wait_end(berth_stream_client_t *c, uint64_t mask, uint64_t timeout_ns,
                                 berth_err_t *err);

/* A remote command's end: pumps until the error channel has ended, then
 * reads it. v4 and later: the metav1.Status JSON: Success gives
 * *exit_code 0, a NonZeroExitCode failure its code; any other failure gives
 * *exit_code -1 and its message in *msg (owned). Before v4: an empty error
 * channel is 0, else -1 and the text. Returns 0 in those cases, -1 with
 * *err when the status does not arrive in time or does not parse. */
int berth_stream_client_exit_status(berth_stream_client_t *c, uint64_t timeout_ns, int *exit_code,
                                    char **msg, berth_err_t *err);

/* Port-forward: opens a pair for `port` and returns its index k (channels
 * BERTH_STREAM_PF_DATA(k) and _ERROR(k)). SPDY (and its WebSocket tunnel):
 * a new request id, the error
 * stream (half-closed at once, as client-go does) and the data stream, then
 * waits for both replies. WebSocket: the pair of `port` among o->ports (the
 * server opened them all at the upgrade; each once). -1 with *err. */
int berth_stream_client_pf_open(berth_stream_client_t *c, int port, berth_err_t *err);

/* ---- pieces, exposed for the unit test ---- */

/* Splits an http or https URL into *tls (https), host (without brackets),
 * port (80 or 443 when absent) and path (with the query; "/" when absent),
 * all owned. -1 with *err. */
int berth_stream_url_parse(const char *url, bool *tls, char **host, char **port, char **path,
                           berth_err_t *err);
/* Reads a metav1.Status JSON (the v4 error channel) into an exit code
 * (see berth_stream_client_exit_status). -1 with *err when it is not JSON
 * or has no "status". */
int berth_stream_status_parse(const char *json, size_t len, int *exit_code, char **msg,
                              berth_err_t *err);

#endif
