/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Errors in crun's style: a fallible call takes `berth_err_t *err` last,
 * returns < 0 or NULL, and sets *err only on failure. An error carries an
 * errno-style code, a kind (what went wrong, by meaning) and a message a
 * kubelet user can act on. Context is added on the way up with
 * berth_err_prefix(). The engine knows nothing of the wire: which gRPC status
 * a kind becomes is decided by one table in actors/crierr.c (berth_cri_code).
 */
#ifndef BERTH_ENGINE_ERR_H
#define BERTH_ENGINE_ERR_H

#include <stdarg.h>

/* What went wrong, named by meaning. Zero is UNKNOWN, so an error nobody
 * classified still says so. */
enum berth_err_kind {
    BERTH_ERR_UNKNOWN = 0,     /* nothing better is known */
    BERTH_ERR_CANCELLED,       /* the caller gave up */
    BERTH_ERR_INVALID,         /* bad input: the request or file is wrong */
    BERTH_ERR_TIMEOUT,         /* a deadline or time limit passed */
    BERTH_ERR_NOT_FOUND,       /* what was named does not exist */
    BERTH_ERR_EXISTS,          /* what was to be created already exists */
    BERTH_ERR_DENIED,          /* not allowed (permissions, policy) */
    BERTH_ERR_EXHAUSTED,       /* a limit or quota was reached */
    BERTH_ERR_PRECONDITION,    /* the wrong state to do this now */
    BERTH_ERR_ABORTED,         /* lost a race with something concurrent */
    BERTH_ERR_RANGE,           /* a value past the end of what is valid */
    BERTH_ERR_UNSUPPORTED,     /* berth or the node does not do this */
    BERTH_ERR_INTERNAL,        /* a broken invariant or unexpected failure */
    BERTH_ERR_UNAVAILABLE,     /* transient: retrying may succeed */
    BERTH_ERR_DATA_LOSS,       /* data is corrupt, truncated or lost */
    BERTH_ERR_UNAUTHENTICATED, /* credentials are missing or wrong */
    BERTH_ERR_KIND_COUNT,
};

struct berth_err_s {
    int errnum; /* errno-style code, 0 when none applies */
    int kind;   /* enum berth_err_kind */
    char *msg;  /* owned, never NULL */
};
typedef struct berth_err_s *berth_err_t;

/* Sets *err (which must be NULL) to a new error; returns -1 so callers can
 * `return berth_err_make(...)`. A NULL err is allowed: the error is dropped. */
int berth_err_make(berth_err_t *err, int errnum, int kind, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
int berth_err_makev(berth_err_t *err, int errnum, int kind, const char *fmt, va_list ap);
/* berth_err_make with the kind derived from errnum (berth_errno_to_kind) and
 * ": strerror" appended. */
int berth_err_errno(berth_err_t *err, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Prepends "<fmt>: " to the message of an existing error; returns -1. */
int berth_err_prefix(berth_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees *err and sets it to NULL; NULL-safe. */
void berth_err_free(berth_err_t *err);
/* Moves the error out of *err (cleared). */
berth_err_t berth_err_steal(berth_err_t *err);
/* The kind an errno means: ENOENT/ESRCH → NOT_FOUND, EINVAL → INVALID,
 * ETIMEDOUT → TIMEOUT, ENOSPC → EXHAUSTED, ...; INTERNAL for the rest and
 * UNKNOWN for 0. Pure: any thread. */
int berth_errno_to_kind(int errnum);
/* "NOT_FOUND", "INVALID", ...; "UNKNOWN" for a value out of range. */
const char *berth_err_kind_name(int kind);

#define BERTH_AUTO_ERR __attribute__((cleanup(berth_err_free)))

#endif
