/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS for the streaming server ([crio.api] stream_enable_tls), on memory
 * BIOs so every byte of the socket still moves through io_uring: the
 * connection feeds what it received (ciphertext) in and gets plaintext for
 * its wire code, and hands its plaintext output over to get the ciphertext
 * to send. The handshake runs the same way (the server side, in accept
 * state). No fd and no system call in here but the loading of the files.
 *
 * The context: TLS 1.2 at least; the certificate chain and key from
 * stream_tls_cert and stream_tls_key; with stream_tls_ca, a client must
 * present a certificate that verifies against it. It is reloaded when any
 * of the files changes (inode, size or modification time, checked at most
 * every BERTH_STLS_CHECK_NS): new connections get the new one, live ones
 * keep theirs; a reload that fails keeps the old context and logs why.
 */
#ifndef BERTH_IO_STREAMTLS_H
#define BERTH_IO_STREAMTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "io/bytebuf.h"

#define BERTH_STLS_CHECK_NS (2ull * 1000000000ull)

typedef struct berth_stls_server berth_stls_server_t;
typedef struct berth_stls berth_stls_t;

/* Loads the context; ca may be NULL or "". Fails naming the file (and its
 * config key) that is missing, unreadable, not PEM, or a key that does not
 * match the certificate. The keys named are the streaming server's
 * ([crio.api] stream_tls_cert ...). */
berth_stls_server_t *berth_stls_server_new(const char *cert, const char *key, const char *ca,
                                           berth_err_t *err);

/* The config keys a server's errors name: another server (the metrics
 * endpoint) reuses this TLS with its own. Static strings. */
typedef struct berth_stls_names {
    const char *section; /* "[crio.metrics]" */
    const char *cert, *key, *ca;
} berth_stls_names_t;
berth_stls_server_t *berth_stls_server_new_named(const char *cert, const char *key, const char *ca,
                                                 const berth_stls_names_t *names, berth_err_t *err);
void berth_stls_server_free(berth_stls_server_t *s);

/* Stats the files if the last check is older than BERTH_STLS_CHECK_NS and
 * loads them again if any changed. Returns 1 when a new context is in use,
 * 0 when nothing changed (or it was too soon to look), -1 when a reload
 * failed (*err says why; the old context stays). A changed file that failed
 * to load is tried again only once it changes again. */
int berth_stls_server_check(berth_stls_server_t *s, uint64_t now_ns, berth_err_t *err);

/* A connection's TLS in accept state, on the server's current context (it
 * keeps that context for its life). */
berth_stls_t *berth_stls_new(berth_stls_server_t *s);
void berth_stls_free(berth_stls_t *t);

/* Feeds n received bytes: the plaintext they complete is appended to plain,
 * and what TLS has to send (handshake, alerts, tickets) to cipher. Returns
 * 0; 1 once the peer closed TLS (close_notify); -1 on a TLS error (the
 * handshake failed, a bad record), with berth_stls_error's text, and any
 * alert for the peer in cipher. */
int berth_stls_input(berth_stls_t *t, const void *p, size_t n, berth_bytebuf_t *plain,
                     berth_bytebuf_t *cipher);

/* Encrypts everything pending in plain (consumed) into cipher once the
 * handshake is done; before that plain is left as it is. 0, or -1 on a TLS
 * error. */
int berth_stls_output(berth_stls_t *t, berth_bytebuf_t *plain, berth_bytebuf_t *cipher);

/* Appends a close_notify to cipher (once). */
void berth_stls_close_notify(berth_stls_t *t, berth_bytebuf_t *cipher);

bool berth_stls_handshake_done(const berth_stls_t *t);
/* The last error's text ("" when none). */
const char *berth_stls_error(const berth_stls_t *t);

#endif
