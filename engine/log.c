/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logfmt lines to stderr (or a test's fd). Each line is formatted into one
 * buffer and written with one write(2) so lines from different workers never
 * interleave. Never allocates on the common path and never takes a lock: a
 * worker may log while others are logging.
 *
 * A worker must not block on a log reader that stalls (journald behind, a
 * full pipe to a supervisor): after berth_log_nonblocking(), a line that
 * finds the pipe or socket full is dropped and counted, and the next line
 * that gets through is preceded by one saying how many were lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/atomic-internal.h"

#include "engine/log.h"

static int log_level = BERTH_LOG_INFO;
static int log_fd = 2;
static int log_is_socket;    /* send(MSG_DONTWAIT) instead of write */
static int log_nonblock;     /* drop instead of wait when the reader lags */
static uint64_t log_dropped; /* lines dropped since the last notice */

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
    /* Relaxed: as for the level, a line racing the switch may go to either.
     * A new fd is written as it is until berth_log_nonblocking says else. */
    ck_pr_store_int(&log_fd, fd);
    ck_pr_store_int(&log_is_socket, 0);
    ck_pr_store_int(&log_nonblock, 0);
}

int berth_log_nonblocking(void)
{
    int fd = ck_pr_load_int(&log_fd);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if (S_ISSOCK(st.st_mode)) {
        /* Relaxed, as for the fd: set before the workers start. */
        ck_pr_store_int(&log_is_socket, 1);
        ck_pr_store_int(&log_nonblock, 1);
        return 0;
    }
    if (!S_ISFIFO(st.st_mode))
        return -1; /* a file or a terminal: writes do not wait on a reader */
    /* O_NONBLOCK on fd itself would change the open file description that
     * the parent and siblings share; opening the pipe again through /proc
     * gives berth a description of its own. */
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int nfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (nfd < 0)
        return -1;
    ck_pr_store_int(&log_fd, nfd);
    ck_pr_store_int(&log_nonblock, 1);
    return 0;
}

/* The longest line written whole; longer ones lose the middle of their
 * fields (see berth_log). */
#define LONG_LINE_MAX (64u << 10)

/* Writes one whole line. Most lines are at most 4096 bytes, PIPE_BUF, so a
 * non-blocking pipe takes all of one or none; a longer one may go in parts. A stream socket may
 * take a part: the rest then waits up to 100 ms, and when that runs out the line is cut and ended,
 * so that the next one starts on a line of its own. Returns false when the line was dropped. */
static bool put_line(int fd, const char *p, size_t len)
{
    bool sock = ck_pr_load_int(&log_is_socket), nb = ck_pr_load_int(&log_nonblock);
    bool started = false;
    while (len > 0) {
        ssize_t w = sock ? send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL) : write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && nb) {
            if (!started)
                return false;
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, 100) > 0)
                continue;
            /* the line stays cut; a newline lets the next one stand alone */
            if (sock)
                (void)!send(fd, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            else
                (void)!write(fd, "\n", 1);
            return true;
        }
        if (w <= 0)
            return true; /* the reader is gone: nothing to count */
        started = true;
        p += w;
        len -= (size_t)w;
    }
    return true;
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
    /* A line longer than the stack buffer (an error naming long paths, a
     * refusal quoting a client's input) is built on the heap: the reason at
     * its end is the part a reader needs. Past LONG_LINE_MAX the middle of
     * the fields goes, never their end. libc's allocator: the log must not
     * depend on berth's. */
    char *line = buf, *heap = NULL;
    if (kvfmt != NULL && *kvfmt != '\0' && pos + 1 < cap) {
        buf[pos++] = ' ';
        va_list ap;
        va_start(ap, kvfmt);
        n = vsnprintf(buf + pos, cap - pos, kvfmt, ap);
        va_end(ap);
        if (n > 0 && (size_t)n < cap - pos) {
            pos += (size_t)n;
        } else if (n > 0) {
            char *kv = malloc((size_t)n + 1);
            if (kv != NULL) {
                va_start(ap, kvfmt);
                vsnprintf(kv, (size_t)n + 1, kvfmt, ap);
                va_end(ap);
                size_t kn = (size_t)n, keep_head = kn, keep_tail = 0;
                if (pos + kn + 64 > LONG_LINE_MAX) {
                    keep_tail = LONG_LINE_MAX / 4;
                    keep_head = LONG_LINE_MAX - pos - keep_tail - 64;
                }
                heap = malloc(pos + keep_head + keep_tail + 64);
                if (heap != NULL) {
                    memcpy(heap, buf, pos);
                    memcpy(heap + pos, kv, keep_head);
                    size_t hp = pos + keep_head;
                    if (keep_tail > 0) {
                        hp += (size_t)snprintf(heap + hp, 48, " ...(%zu bytes left out)... ",
                                               kn - keep_head - keep_tail);
                        memcpy(heap + hp, kv + kn - keep_tail, keep_tail);
                        hp += keep_tail;
                    }
                    line = heap;
                    pos = hp;
                }
                free(kv);
            }
            if (heap == NULL) /* no memory: the line as it fits */
                pos = cap - 1;
        }
    }
    line[pos++] = '\n';
    int fd = ck_pr_load_int(&log_fd);
    /* Relaxed: the count is only reported, and a notice racing another may
     * report a line late, never lose it (fas takes what it reports). */
    uint64_t lost = ck_pr_load_64(&log_dropped) ? ck_pr_fas_64(&log_dropped, 0) : 0;
    if (lost > 0) {
        char note[160];
        int m = snprintf(note, sizeof(note),
                         "time=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=warn msg=\"log lines "
                         "dropped: the log reader is not keeping up\" count=%llu\n",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, ts.tv_nsec / 1000000, (unsigned long long)lost);
        if (m <= 0 || !put_line(fd, note, (size_t)m)) {
            ck_pr_add_64(&log_dropped, lost + 1);
            errno = saved_errno;
            return;
        }
    }
    if (!put_line(fd, line, pos))
        ck_pr_inc_64(&log_dropped);
    free(heap);
    errno = saved_errno;
}
