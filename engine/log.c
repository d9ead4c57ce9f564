/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logfmt lines to stderr (or a test's fd). Each line is formatted into one
 * buffer and written with one write(2) so lines from different workers never
 * interleave. Never allocates on the common path and never takes a lock: a
 * worker may log while others are logging.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "engine/atomic-internal.h"

#include "engine/log.h"

static int log_level = BERTH_LOG_INFO;
static int log_fd = 2;

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "fatal"};

void berth_log_set_level(int level)
{
    /* Relaxed: a level is a standalone value; a racing log line may use the
     * old one, which is harmless. */
    ck_pr_store_int(&log_level, level);
}

int berth_log_get_level(void)
{
    return ck_pr_load_int(&log_level);
}

int berth_log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return (int)i;
    if (strcasecmp(name, "warning") == 0)
        return BERTH_LOG_WARN;
    return -1;
}

const char *berth_log_level_name(int level)
{
    if (level < 0 || level > BERTH_LOG_FATAL)
        return "unknown";
    return level_names[level];
}

void berth_log_set_fd(int fd)
{
    /* Relaxed: as for the level, a line racing the switch may go to either. */
    ck_pr_store_int(&log_fd, fd);
}

/* Appends msg quoted per logfmt (backslash-escaping quotes, backslashes and
 * control characters) so one message can never forge a second line. */
static size_t put_quoted(char *buf, size_t pos, size_t cap, const char *s)
{
    if (pos < cap)
        buf[pos++] = '"';
    for (; *s && pos + 2 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c == '\n') {
            buf[pos++] = '\\';
            buf[pos++] = 'n';
        } else if (c < 0x20) {
            buf[pos++] = ' ';
        } else {
            buf[pos++] = (char)c;
        }
    }
    if (pos < cap)
        buf[pos++] = '"';
    return pos;
}

void berth_log(int level, const char *msg, const char *kvfmt, ...)
{
    if (level < berth_log_get_level())
        return;
    int saved_errno = errno;
    char buf[4096];
    const size_t cap = sizeof(buf) - 1; /* keep room for the newline */
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(buf, cap,
                     "time=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, berth_log_level_name(level));
    size_t pos = n > 0 ? (size_t)n : 0;
    if (pos > cap)
        pos = cap;
    pos = put_quoted(buf, pos, cap, msg ? msg : "");
    if (kvfmt != NULL && *kvfmt != '\0' && pos + 1 < cap) {
        buf[pos++] = ' ';
        va_list ap;
        va_start(ap, kvfmt);
        n = vsnprintf(buf + pos, cap - pos, kvfmt, ap);
        va_end(ap);
        if (n > 0)
            pos += (size_t)n < cap - pos ? (size_t)n : cap - pos - 1;
    }
    buf[pos++] = '\n';
    const char *p = buf;
    int fd = ck_pr_load_int(&log_fd);
    while (pos > 0) {
        ssize_t w = write(fd, p, pos);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        pos -= (size_t)w;
    }
    errno = saved_errno;
}
