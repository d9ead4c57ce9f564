/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth_grpc_parse_timeout: every unit, the 8-digit limit, malformed values
 * and saturation. Pure function, no engine needed.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "io/grpc.h"

static int n_test;
static int failed;

static void ok(int cond, const char *desc)
{
    n_test++;
    if (!cond)
        failed = 1;
    printf("%sok %d - %s\n", cond ? "" : "not ", n_test, desc);
}

static int64_t p(const char *s)
{
    return berth_grpc_parse_timeout(s, strlen(s));
}

int main(void)
{
    printf("1..16\n");
    ok(p("1H") == 3600LL * 1000000000LL, "hours");
    ok(p("2M") == 120LL * 1000000000LL, "minutes");
    ok(p("10S") == 10LL * 1000000000LL, "seconds");
    ok(p("250m") == 250LL * 1000000LL, "milliseconds");
    ok(p("7u") == 7000, "microseconds");
    ok(p("99n") == 99, "nanoseconds");
    ok(p("0S") == 0, "zero is valid");
    ok(p("12345678m") == 12345678LL * 1000000LL, "eight digits accepted");
    ok(p("123456789m") == -1, "nine digits rejected");
    ok(p("S") == -1, "no digits rejected");
    ok(p("10") == -1, "no unit rejected");
    ok(p("10s") == -1, "unknown unit rejected");
    ok(p("1 S") == -1 && p("-1S") == -1, "non-digits rejected");
    ok(p("") == -1 && berth_grpc_parse_timeout(NULL, 0) == -1, "empty rejected");
    ok(p("99999999H") == INT64_MAX, "overflow saturates");
    ok(berth_grpc_parse_timeout("5Sxx", 2) == 5LL * 1000000000LL, "length bounds the parse");
    return failed;
}
