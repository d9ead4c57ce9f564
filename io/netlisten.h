/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listening sockets for berth's servers (gRPC, streaming, HTTP): a TCP
 * socket on an IP literal and a port, or a unix socket at a path that is
 * claimed safely. Synchronous system calls, for a server's start on the main
 * thread (before or after the engine starts); never from an actor turn.
 */
#ifndef BERTH_IO_NETLISTEN_H
#define BERTH_IO_NETLISTEN_H

#include <sys/types.h>

#include "engine/err.h"

/* Binds and listens on TCP `addr` (an IPv4 or IPv6 literal) and `port`
 * (0: an ephemeral one), with SO_REUSEADDR. Returns the listening fd
 * (owned, close-on-exec) and the port bound in *bound_port (may be NULL),
 * or -1 with *err: INVALID for an address that is no IP literal or a port
 * outside 0-65535, the bind's errno otherwise (EADDRINUSE, EACCES). The
 * message names addr and port; the caller prefixes which setting it was. */
int berth_listen_tcp(const char *addr, int port, int backlog, int *bound_port, berth_err_t *err);

/* Whether addr is an IPv6 literal (for "[addr]:port" in a URL). */
int berth_addr_is_ipv6(const char *addr);

/* Binds and listens on unix socket `path` with file mode `mode` (0: 0660).
 * A path a live server answers on is refused (PRECONDITION, "another server
 * is listening on ..."); a stale socket file is replaced; a path that exists
 * and is no socket is refused. The socket is bound under a temporary name,
 * given its mode, then renamed into place, so it is never reachable with the
 * umask's looser mode. Returns the fd (owned) with the file's device and
 * inode (so the owner later removes only its own file: berth_unlink_own),
 * or -1 with *err. */
int berth_listen_unix(const char *path, unsigned mode, int backlog, dev_t *dev, ino_t *ino,
                      berth_err_t *err);

/* Removes path when it is still the socket (dev, ino) bound: a new server
 * may already own the path. */
void berth_unlink_own(const char *path, dev_t dev, ino_t ino);

#endif
