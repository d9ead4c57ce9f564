/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TAP for the unit tests of io/ and actors/: check() (printf-style) and
 * ok() (one string) print one `ok N - ...` or `not ok N - ...` line per
 * assertion, count failures and return the condition;
 * the test prints its plan (`1..ntest`, at the start or the end) and exits
 * non-zero when nfail is. Header-only and test-only: each test program
 * includes it once.
 */
#ifndef BERTH_TESTS_UNIT_CHECK_H
#define BERTH_TESTS_UNIT_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int ntest, nfail;

static bool check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool check(bool cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%sok %d - ", cond ? "" : "not ", ++ntest);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!cond)
        nfail++;
    fflush(stdout);
    return cond;
}

/* The one-string form: ok(cond, "what it shows"). */
static inline bool ok(bool cond, const char *what)
{
    return check(cond, "%s", what);
}

#endif
