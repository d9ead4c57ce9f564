/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny TAP printer for the engine's unit tests: `ok N - desc` lines and a
 * plan. Header-only and test-only; the count of failures becomes the exit
 * status so meson also sees a failure without parsing.
 */
#ifndef BERTH_TESTS_ENGINE_TAP_H
#define BERTH_TESTS_ENGINE_TAP_H

#include <stdio.h>

static int tap_n, tap_failed;

static inline void tap_plan(int n)
{
    printf("1..%d\n", n);
    fflush(stdout);
}

#define tap_ok(cond, ...)                                                                          \
    do {                                                                                           \
        int ok_ = !!(cond);                                                                        \
        printf("%sok %d - ", ok_ ? "" : "not ", ++tap_n);                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        fflush(stdout);                                                                            \
        if (!ok_)                                                                                  \
            tap_failed++;                                                                          \
    } while (0)

static inline int tap_done(void)
{
    return tap_failed ? 1 : 0;
}

#endif
