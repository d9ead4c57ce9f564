// SPDX-License-Identifier: Apache-2.0
/*
 * The one place an error becomes a gRPC status (STYLE §3): errors inside
 * berth carry a kind named by meaning (engine/err.h); what a CRI client sees
 * for each kind is the table below, and every actor answers an error through
 * it. It holds no state and never blocks. It is its own file, apart from the
 * CRI actor, so a test can link it with a single actor (reservation_test).
 */
#include "actors/crierr.h"

#include "engine/err.h"
#include "io/grpc.h"

/* The one table from an error's kind to the gRPC status the client sees
 * (STYLE §3): every error answer in actors/ goes through it. A kind names
 * what went wrong; the code is the CRI wire's word for it. */
static const int cri_codes[BERTH_ERR_KIND_COUNT] = {
        [BERTH_ERR_UNKNOWN] = BERTH_GRPC_UNKNOWN,
        [BERTH_ERR_CANCELLED] = BERTH_GRPC_CANCELLED,
        [BERTH_ERR_INVALID] = BERTH_GRPC_INVALID_ARGUMENT,
        [BERTH_ERR_TIMEOUT] = BERTH_GRPC_DEADLINE_EXCEEDED,
        [BERTH_ERR_NOT_FOUND] = BERTH_GRPC_NOT_FOUND,
        [BERTH_ERR_EXISTS] = BERTH_GRPC_ALREADY_EXISTS,
        [BERTH_ERR_DENIED] = BERTH_GRPC_PERMISSION_DENIED,
        [BERTH_ERR_EXHAUSTED] = BERTH_GRPC_RESOURCE_EXHAUSTED,
        [BERTH_ERR_PRECONDITION] = BERTH_GRPC_FAILED_PRECONDITION,
        [BERTH_ERR_ABORTED] = BERTH_GRPC_ABORTED,
        [BERTH_ERR_RANGE] = BERTH_GRPC_OUT_OF_RANGE,
        [BERTH_ERR_UNSUPPORTED] = BERTH_GRPC_UNIMPLEMENTED,
        [BERTH_ERR_INTERNAL] = BERTH_GRPC_INTERNAL,
        [BERTH_ERR_UNAVAILABLE] = BERTH_GRPC_UNAVAILABLE,
        [BERTH_ERR_DATA_LOSS] = BERTH_GRPC_DATA_LOSS,
        [BERTH_ERR_UNAUTHENTICATED] = BERTH_GRPC_UNAUTHENTICATED,
};

int berth_cri_code(int kind)
{
    if (kind < 0 || kind >= BERTH_ERR_KIND_COUNT)
        return BERTH_GRPC_UNKNOWN;
    return cri_codes[kind];
}

void berth_cri_finish(berth_grpc_call_t *call, int kind, const char *msg)
{
    berth_grpc_finish(call, berth_cri_code(kind), msg);
}

void berth_cri_finish_err(berth_grpc_call_t *call, const struct berth_err_s *err)
{
    if (err == NULL) {
        berth_cri_finish(call, BERTH_ERR_UNKNOWN, "unknown error");
        return;
    }
    berth_cri_finish(call, err->kind, err->msg);
}
