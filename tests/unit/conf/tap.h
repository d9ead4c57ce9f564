/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal TAP helpers shared by conf/ unit tests: ok() prints one line per
 * check and counts failures; done() prints the plan and the exit status.
 */
#ifndef BERTH_TESTS_CONF_TAP_H
#define BERTH_TESTS_CONF_TAP_H

#include <stdio.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                                              \
    do {                                                                                           \
        int c_ = !!(cond);                                                                         \
        printf("%s %d - ", c_ ? "ok" : "not ok", ++tap_n);                                         \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        if (!c_) {                                                                                 \
            tap_failed++;                                                                          \
            printf("#   failed at %s:%d\n", __FILE__, __LINE__);                                   \
        }                                                                                          \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
