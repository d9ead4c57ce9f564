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

int berth_err_makev(berth_err_t *err, int errnum, int kind, const char *fmt, va_list ap)
{
    if (err == NULL)
        return -1;
    struct berth_err_s *e = berth_malloc(sizeof(*e));
    e->errnum = errnum;
    e->kind = kind;
    e->msg = berth_vasprintf(fmt, ap);
    /* The contract says *err is NULL; do not leak an earlier error if a
     * caller broke it. */
    if (*err != NULL)
        berth_err_free(err);
    *err = e;
    return -1;
}

int berth_err_make(berth_err_t *err, int errnum, int kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    berth_err_makev(err, errnum, kind, fmt, ap);
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
    berth_err_make(err, errnum, berth_errno_to_kind(errnum), "%s: %s", head, es);
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

int berth_errno_to_kind(int errnum)
{
    switch (errnum) {
    case 0:
        return BERTH_ERR_UNKNOWN;
    case ENOENT:
    case ESRCH:
        return BERTH_ERR_NOT_FOUND;
    case EINVAL:
    case E2BIG:
    case ENAMETOOLONG:
        return BERTH_ERR_INVALID;
    case ETIMEDOUT:
        return BERTH_ERR_TIMEOUT;
    case EEXIST:
        return BERTH_ERR_EXISTS;
    case EPERM:
    case EACCES:
        return BERTH_ERR_DENIED;
    case ENOMEM:
    case ENOSPC:
    case EMFILE:
    case ENFILE:
    case EDQUOT:
        return BERTH_ERR_EXHAUSTED;
    case EBUSY:
    case ENOTEMPTY:
        return BERTH_ERR_PRECONDITION;
    case ECANCELED:
        return BERTH_ERR_CANCELLED;
    case ERANGE:
    case EOVERFLOW:
        return BERTH_ERR_RANGE;
    case ENOSYS:
    case EOPNOTSUPP:
        return BERTH_ERR_UNSUPPORTED;
    case EAGAIN:
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
        return BERTH_ERR_UNAVAILABLE;
    case EIO:
        return BERTH_ERR_DATA_LOSS;
    default:
        return BERTH_ERR_INTERNAL;
    }
}

const char *berth_err_kind_name(int kind)
{
    static const char *const names[BERTH_ERR_KIND_COUNT] = {
            [BERTH_ERR_UNKNOWN] = "UNKNOWN",
            [BERTH_ERR_CANCELLED] = "CANCELLED",
            [BERTH_ERR_INVALID] = "INVALID",
            [BERTH_ERR_TIMEOUT] = "TIMEOUT",
            [BERTH_ERR_NOT_FOUND] = "NOT_FOUND",
            [BERTH_ERR_EXISTS] = "EXISTS",
            [BERTH_ERR_DENIED] = "DENIED",
            [BERTH_ERR_EXHAUSTED] = "EXHAUSTED",
            [BERTH_ERR_PRECONDITION] = "PRECONDITION",
            [BERTH_ERR_ABORTED] = "ABORTED",
            [BERTH_ERR_RANGE] = "RANGE",
            [BERTH_ERR_UNSUPPORTED] = "UNSUPPORTED",
            [BERTH_ERR_INTERNAL] = "INTERNAL",
            [BERTH_ERR_UNAVAILABLE] = "UNAVAILABLE",
            [BERTH_ERR_DATA_LOSS] = "DATA_LOSS",
            [BERTH_ERR_UNAUTHENTICATED] = "UNAUTHENTICATED",
    };
    if (kind < 0 || kind >= BERTH_ERR_KIND_COUNT)
        return "UNKNOWN";
    return names[kind];
}
