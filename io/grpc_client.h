/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small blocking gRPC client over HTTP/2 on a unix socket, for tests, perf/
 * and simulators (never used inside the daemon's workers: it blocks in
 * poll(2)). One client object is one connection; it is not thread-safe, so
 * use one client per thread. Several calls may be in flight on one client.
 *
 * Return convention: < 0 (with *err) only for transport failures; a call that
 * completed returns 0 and reports the server's verdict in *status (enum
 * berth_grpc_code) and *status_msg (owned, may be NULL).
 */
#ifndef BERTH_IO_GRPC_CLIENT_H
#define BERTH_IO_GRPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "io/grpc.h" /* enum berth_grpc_code */

typedef struct berth_grpc_client berth_grpc_client_t;
typedef struct berth_grpc_client_call berth_grpc_client_call_t;

/* Connects to the unix socket at path. Returns owned, or NULL with *err. */
berth_grpc_client_t *berth_grpc_client_new(const char *path, berth_err_t *err);
/* Closes the connection and frees unfinished calls. NULL-safe. */
void berth_grpc_client_free(berth_grpc_client_t *c);

/* Unary call. timeout_ns > 0 is sent as grpc-timeout (the client also gives
 * up locally one second after it, answering DEADLINE_EXCEEDED). On return 0,
 * *resp (owned, NULL when the reply had no message) and *resp_len hold the
 * first reply message. status_msg may be NULL when not wanted. */
int berth_grpc_client_call(berth_grpc_client_t *c, const char *method, const void *req,
                           size_t req_len, uint64_t timeout_ns, uint8_t **resp, size_t *resp_len,
                           int *status, char **status_msg, berth_err_t *err);

/* Called for each reply message (borrowed for the call); a non-zero return
 * cancels the call (RST_STREAM) and the call ends with CANCELLED. */
typedef int (*berth_grpc_client_msg_fn)(void *ctx, const uint8_t *msg, size_t len);

/* Server-streaming call: fn runs for each message as it arrives. */
int berth_grpc_client_call_stream(berth_grpc_client_t *c, const char *method, const void *req,
                                  size_t req_len, uint64_t timeout_ns, berth_grpc_client_msg_fn fn,
                                  void *ctx, int *status, char **status_msg, berth_err_t *err);

/* Starts a unary call without waiting (the request is sent at once). Returns
 * a call owned by the client until berth_grpc_client_wait, or NULL. */
berth_grpc_client_call_t *berth_grpc_client_start_call(berth_grpc_client_t *c, const char *method,
                                                       const void *req, size_t req_len,
                                                       uint64_t timeout_ns, berth_err_t *err);
/* Drives the connection until call is complete, returns its result like
 * berth_grpc_client_call and frees the call (also on failure). */
int berth_grpc_client_wait(berth_grpc_client_t *c, berth_grpc_client_call_t *call, uint8_t **resp,
                           size_t *resp_len, int *status, char **status_msg, berth_err_t *err);
/* Resets the call's stream (RST_STREAM CANCEL) and sends it now; the call
 * then completes with CANCELLED. Still finish it with berth_grpc_client_wait. */
int berth_grpc_client_cancel(berth_grpc_client_t *c, berth_grpc_client_call_t *call,
                             berth_err_t *err);

#endif
