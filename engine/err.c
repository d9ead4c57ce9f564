/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error values in crun's style (see err.h). An error is made where the call
 * failed and gains context on the way up; the message is what a kubelet user
 * reads, so it says what failed and why. Nothing here may fail: messages are
 * built with the aborting allocator.
 */
#include <errno.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/err.h"

int berth_err_makev(berth_err_t *err, int errnum, int grpc, const char *fmt, va_list ap)
{
    if (err == NULL)
        return -1;
    struct berth_err_s *e = berth_malloc(sizeof(*e));
    e->errnum = errnum;
    e->grpc = grpc;
    e->msg = berth_vasprintf(fmt, ap);
    /* The contract says *err is NULL; do not leak an earlier error if a
     * caller broke it. */
    if (*err != NULL)
        berth_err_free(err);
    *err = e;
    return -1;
}

int berth_err_make(berth_err_t *err, int errnum, int grpc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    berth_err_makev(err, errnum, grpc, fmt, ap);
    va_end(ap);
    return -1;
}

int berth_err_errno(berth_err_t *err, int errnum, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *head = berth_vasprintf(fmt, ap);
    va_end(ap);
    char buf[128];
    const char *es = strerror_r(errnum, buf, sizeof(buf));
    berth_err_make(err, errnum, berth_errno_to_grpc(errnum), "%s: %s", head, es);
    berth_free(head);
    return -1;
}

int berth_err_prefix(berth_err_t *err, const char *fmt, ...)
{
    if (err == NULL || *err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *head = berth_vasprintf(fmt, ap);
    va_end(ap);
    char *msg = berth_asprintf("%s: %s", head, (*err)->msg);
    berth_free(head);
    berth_free((*err)->msg);
    (*err)->msg = msg;
    return -1;
}

void berth_err_free(berth_err_t *err)
{
    if (err == NULL || *err == NULL)
        return;
    berth_free((*err)->msg);
    berth_free(*err);
    *err = NULL;
}

berth_err_t berth_err_steal(berth_err_t *err)
{
    berth_err_t e = *err;
    *err = NULL;
    return e;
}

int berth_errno_to_grpc(int errnum)
{
    switch (errnum) {
    case 0:
        return BERTH_GRPC_OK;
    case ENOENT:
    case ESRCH:
        return BERTH_GRPC_NOT_FOUND;
    case EINVAL:
    case E2BIG:
    case ENAMETOOLONG:
        return BERTH_GRPC_INVALID_ARGUMENT;
    case ETIMEDOUT:
        return BERTH_GRPC_DEADLINE_EXCEEDED;
    case EEXIST:
        return BERTH_GRPC_ALREADY_EXISTS;
    case EPERM:
    case EACCES:
        return BERTH_GRPC_PERMISSION_DENIED;
    case ENOMEM:
    case ENOSPC:
    case EMFILE:
    case ENFILE:
    case EDQUOT:
        return BERTH_GRPC_RESOURCE_EXHAUSTED;
    case EBUSY:
    case ENOTEMPTY:
        return BERTH_GRPC_FAILED_PRECONDITION;
    case ECANCELED:
        return BERTH_GRPC_CANCELLED;
    case ERANGE:
    case EOVERFLOW:
        return BERTH_GRPC_OUT_OF_RANGE;
    case ENOSYS:
    case EOPNOTSUPP:
        return BERTH_GRPC_UNIMPLEMENTED;
    case EAGAIN:
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
        return BERTH_GRPC_UNAVAILABLE;
    case EIO:
        return BERTH_GRPC_DATA_LOSS;
    default:
        return BERTH_GRPC_INTERNAL;
    }
}

const char *berth_grpc_code_name(int code)
{
    static const char *const names[] = {
            "OK",
            "CANCELLED",
            "UNKNOWN",
            "INVALID_ARGUMENT",
            "DEADLINE_EXCEEDED",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "FAILED_PRECONDITION",
            "ABORTED",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
            "UNAUTHENTICATED",
    };
    if (code < 0 || (size_t)code >= BERTH_ARRAY_LEN(names))
        return "UNKNOWN";
    return names[code];
}
