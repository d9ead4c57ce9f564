/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI streaming server (docs/streaming.md): Exec, Attach and PortForward
 * answer a URL on this server; the client (crictl, critest, or the kubelet
 * proxying kubectl) then upgrades an HTTP/1.1 connection to it to SPDY/3.1
 * or WebSocket and speaks Kubernetes' remotecommand or portforward protocol.
 *
 * One listener actor owns the TCP socket and the tokens; each client
 * connection is one actor that does its socket, its framing and the I/O of
 * what it runs (the exec'd process's pipes or pty, the attach channel, the
 * forwarded sockets) on io_uring: no thread per stream.
 *
 * A token is single-use and expires (token_ttl_ns): a reused, expired or
 * unknown token is answered 404 and nothing runs.
 */
#ifndef BERTH_IO_STREAM_H
#define BERTH_IO_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/actor.h"
#include "engine/err.h"

enum {
    BERTH_MSG_STREAM_TAKE = 192, /* private: a connection asks for its token */
    BERTH_MSG_STREAM_TAKEN = 193,
    BERTH_MSG_STREAM_REGISTER = 194,
    BERTH_MSG_STREAM_SWEEP = 195,
    BERTH_MSG_STREAM_STOP = 196,
    BERTH_MSG_STREAM_CONN_GONE = 197,
    BERTH_MSG_STREAM_NETSOCK = 198,
    BERTH_MSG_STREAM_TIMER = 199,
    BERTH_MSG_STREAM_ATTACH_FD = 200,
    BERTH_MSG_STREAM_SIZE_WAIT = 201,
    BERTH_MSG_STREAM_PROCESS = 202,
    BERTH_MSG_STREAM_KILLED = 203,      /* private: the command-kill job's answer */
    BERTH_MSG_STREAM_TLS_CHECKED = 204, /* private: the TLS reload check's answer */
};

typedef enum berth_stream_kind {
    BERTH_STREAM_EXEC = 1,
    BERTH_STREAM_ATTACH,
    BERTH_STREAM_PORTFORWARD,
} berth_stream_kind_t;

/* What a token stands for. Owned by whoever holds it (the registry, then the
 * connection that took it); berth_stream_req_free frees everything. */
typedef struct berth_stream_req {
    berth_stream_kind_t kind;
    char *id; /* container id (exec, attach) or pod sandbox id (port-forward) */
    /* exec: `<runtime> [--root R] exec ...` in the container */
    char *runtime_path;
    char *runtime_root; /* NULL: the runtime's default */
    char **argv;
    char *pid_dir; /* where the exec's pid file goes (the container's state) */
    bool tty, in, out, err;
    bool stdin_once; /* attach: the container's own setting */
    /* attach: the container's monitor. A valid handle: berth-monitor's link
     * actor; none: conmon, reached through bundle's attach socket and ctl
     * fifo. stdin_once: the container's own setting. */
    berth_handle_t monitor;
    char *bundle;     /* exec with a terminal too: its config.json's process */
    char *socket_dir; /* conmon's --socket-dir-path */
    /* port-forward: the pod's network namespace (NULL: the host's). */
    char *netns;
    int32_t *ports; /* the ports the request named (informational) */
    size_t nports;
} berth_stream_req_t;

void berth_stream_req_free(berth_stream_req_t *r);

typedef struct berth_stream_config {
    const char *address;                 /* "127.0.0.1" (an IPv4 or IPv6 literal) */
    int port;                            /* 0: ephemeral */
    uint64_t token_ttl_ns;               /* 0: one minute */
    uint64_t idle_timeout_ns;            /* a session with no traffic either way; 0: none */
    uint64_t stream_creation_timeout_ns; /* the client opening its streams; 0: 30 s */
    unsigned max_sessions;               /* concurrent connections; 0: 1000 */
    unsigned max_streams;                /* streams per connection; 0: 64 */
    size_t max_buffered;                 /* bytes queued per direction of a stream; 0: 1 MiB */
    const char *exec_dir;                /* console sockets of `exec -t`; created */
    /* TLS (io/streamtls.h): the files are loaded at the start, which fails
     * naming a bad one, and again whenever they change */
    bool tls;
    const char *tls_cert, *tls_key, *tls_ca; /* tls_ca NULL or "": no client certificates */
} berth_stream_config_t;

/* Binds the TCP socket (synchronously, so a bad address or a taken port fails
 * here with a clear error) and starts the listener actor. Returns 0 and the
 * handle, or -1 with *err. Main thread, before or after the engine starts. */
int berth_stream_server_start(const berth_stream_config_t *cfg, berth_handle_t *out,
                              berth_err_t *err);

/* The base URL ("http://127.0.0.1:40123", https with TLS), set by a successful start; NULL
 * before. Any thread after the start returned. */
const char *berth_stream_base_url(void);

/* Registers req (taken) under a new random token and returns the URL to
 * answer with ("<base>/exec/<token>"), owned by the caller; NULL with *err
 * when no server runs. Any actor turn: the registration is a message that
 * reaches the listener before any client could have read the URL. */
char *berth_stream_register(berth_stream_req_t *req, berth_err_t *err);

/* Stops accepting and closes every connection (their processes are killed
 * as when a client disconnects). Asynchronous. */
void berth_stream_server_stop(berth_handle_t server);

#endif
