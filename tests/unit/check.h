/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TAP for the unit tests of io/ and actors/: check() prints one
 * `ok N - ...` or `not ok N - ...` line per assertion and counts failures;
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

static void check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool cond, const char *fmt, ...)
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
}

#endif
