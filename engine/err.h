/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Errors in crun's style: a fallible call takes `berth_err_t *err` last,
 * returns < 0 or NULL, and sets *err only on failure. An error carries an
 * errno-style code, a message a kubelet user can act on, and the gRPC status
 * code the CRI answer should carry. Context is added on the way up with
 * berth_err_prefix().
 */
#ifndef BERTH_ENGINE_ERR_H
#define BERTH_ENGINE_ERR_H

#include <stdarg.h>

/* gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
enum berth_grpc_code {
    BERTH_GRPC_OK = 0,
    BERTH_GRPC_CANCELLED = 1,
    BERTH_GRPC_UNKNOWN = 2,
    BERTH_GRPC_INVALID_ARGUMENT = 3,
    BERTH_GRPC_DEADLINE_EXCEEDED = 4,
    BERTH_GRPC_NOT_FOUND = 5,
    BERTH_GRPC_ALREADY_EXISTS = 6,
    BERTH_GRPC_PERMISSION_DENIED = 7,
    BERTH_GRPC_RESOURCE_EXHAUSTED = 8,
    BERTH_GRPC_FAILED_PRECONDITION = 9,
    BERTH_GRPC_ABORTED = 10,
    BERTH_GRPC_OUT_OF_RANGE = 11,
    BERTH_GRPC_UNIMPLEMENTED = 12,
    BERTH_GRPC_INTERNAL = 13,
    BERTH_GRPC_UNAVAILABLE = 14,
    BERTH_GRPC_DATA_LOSS = 15,
    BERTH_GRPC_UNAUTHENTICATED = 16,
};

struct berth_err_s {
    int errnum; /* errno-style code, 0 when none applies */
    int grpc;   /* enum berth_grpc_code */
    char *msg;  /* owned, never NULL */
};
typedef struct berth_err_s *berth_err_t;

/* Sets *err (which must be NULL) to a new error; returns -1 so callers can
 * `return berth_err_make(...)`. A NULL err is allowed: the error is dropped. */
int berth_err_make(berth_err_t *err, int errnum, int grpc, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
int berth_err_makev(berth_err_t *err, int errnum, int grpc, const char *fmt, va_list ap);
/* berth_err_make with grpc derived from errnum (ENOENT→NOT_FOUND, EINVAL→
 * INVALID_ARGUMENT, ETIMEDOUT→DEADLINE_EXCEEDED, ...) and ": strerror" appended. */
int berth_err_errno(berth_err_t *err, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Prepends "<fmt>: " to the message of an existing error; returns -1. */
int berth_err_prefix(berth_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees *err and sets it to NULL; NULL-safe. */
void berth_err_free(berth_err_t *err);
/* Moves the error out of *err (cleared). */
berth_err_t berth_err_steal(berth_err_t *err);
int berth_errno_to_grpc(int errnum);
const char *berth_grpc_code_name(int code); /* "NOT_FOUND" */

#define BERTH_AUTO_ERR __attribute__((cleanup(berth_err_free)))

#endif
