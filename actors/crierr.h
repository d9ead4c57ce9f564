// SPDX-License-Identifier: Apache-2.0
/*
 * From an error's kind (enum berth_err_kind, engine/err.h) to the gRPC status
 * a CRI client sees: one table for all of actors/ (STYLE §3). io/ sends only
 * the codes of the wire's own rules (a frame over its limit, a grpc-timeout,
 * shutdown); every other answer's code comes from here. The rule in actors/:
 * an error answer names a kind, never a code (berth_cri_fail, berth_cri_finish
 * and berth_cri_finish_err all take kinds); the one code an actor names itself
 * is OK, ending a streamed list (berth_cri_reply_items).
 */
#ifndef BERTH_ACTORS_CRIERR_H
#define BERTH_ACTORS_CRIERR_H

#include "engine/err.h"
#include "io/grpc.h"

/* The gRPC status code (enum berth_grpc_code) a kind becomes; UNKNOWN for a
 * value that is no kind. Pure: any thread. */
int berth_cri_code(int kind);
/* Ends the call with the status berth_cri_code(kind) and msg (copied; may
 * be NULL). Any actor turn; call may be NULL. */
void berth_cri_finish(berth_grpc_call_t *call, int kind, const char *msg);
/* Ends the call with the error's mapped kind and its message; the error is
 * borrowed (NULL answers UNKNOWN, "unknown error"). Any actor turn; call may
 * be NULL. */
void berth_cri_finish_err(berth_grpc_call_t *call, const struct berth_err_s *err);

#endif
