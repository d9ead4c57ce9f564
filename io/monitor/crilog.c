/* SPDX-License-Identifier: Apache-2.0 */
/* The CRI log writer of berth-monitor. See crilog.h. */
#include "io/monitor/crilog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* The prefix of a record: stamp (at most 35 bytes) + " stdout F ". */
#define PREFIX_MAX 48

int berth_crilog_open(berth_crilog_t *l, const char *path, uint64_t max_size)
{
    l->path = strdup(path);
    l->max_size = max_size;
    l->fd = -1;
    l->size = 0;
    if (l->path == NULL)
        return -1;
    return berth_crilog_reopen(l);
}

int berth_crilog_reopen(berth_crilog_t *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (l->fd < 0)
        return -1;
    struct stat st;
    /* An existing file (a monitor taking over) keeps counting from its size. */
    l->size = fstat(l->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    return 0;
}

void berth_crilog_close(berth_crilog_t *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    free(l->path);
    l->path = NULL;
}

size_t berth_crilog_stamp(const struct timespec *now, char *buf)
{
    struct tm tm;
    localtime_r(&now->tv_sec, &tm);
    long off = tm.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    int n = snprintf(buf, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%09ld%c%02ld:%02ld", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)now->tv_nsec, sign, off / 3600, (off % 3600) / 60);
    return n > 0 ? (size_t)n : 0;
}

size_t berth_crilog_need(size_t len)
{
    return len * (PREFIX_MAX + 2) + PREFIX_MAX + 2;
}

size_t berth_crilog_format(const char *stream, const char *buf, size_t len,
                           const struct timespec *now, char *out, size_t cap)
{
    char stamp[40];
    size_t slen = berth_crilog_stamp(now, stamp);
    size_t used = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t text = end - pos;
        int n = snprintf(out + used, cap - used, "%.*s %s %c ", (int)slen, stamp, stream,
                         nl ? 'F' : 'P');
        if (n < 0 || (size_t)n + text + 1 > cap - used)
            break; /* cap too small: the caller sized it with berth_crilog_need */
        used += (size_t)n;
        memcpy(out + used, buf + pos, text);
        used += text;
        out[used++] = '\n';
        pos = nl ? end + 1 : len;
    }
    return used;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Appends n bytes, truncating first when the node's cap would be passed. */
static int append(berth_crilog_t *l, const struct iovec *iov, int cnt)
{
    size_t n = 0;
    for (int i = 0; i < cnt; i++)
        n += iov[i].iov_len;
    if (l->max_size > 0 && l->size + n > l->max_size) {
        if (ftruncate(l->fd, 0) < 0)
            return -1;
        l->size = 0;
    }
    for (int i = 0; i < cnt; i++)
        if (write_all(l->fd, iov[i].iov_base, iov[i].iov_len) < 0)
            return -1;
    l->size += n;
    return 0;
}

int berth_crilog_write(berth_crilog_t *l, const char *stream, const char *buf, size_t len,
                       char *scratch, size_t scratch_cap)
{
    if (len == 0)
        return 0;
    if (l->fd < 0 && (l->path == NULL || berth_crilog_reopen(l) < 0))
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char stamp[40];
    size_t slen = berth_crilog_stamp(&now, stamp);
    /* Records gather in scratch and go out when it is full; a record larger
     * than scratch goes out on its own (prefix, text, newline). */
    size_t used = 0, pos = 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t text = end - pos;
        char prefix[PREFIX_MAX];
        int pn = snprintf(prefix, sizeof(prefix), "%.*s %s %c ", (int)slen, stamp, stream,
                          nl ? 'F' : 'P');
        if (pn < 0)
            return -1;
        size_t rec = (size_t)pn + text + 1;
        if (used + rec > scratch_cap && used > 0) {
            struct iovec v = {scratch, used};
            if (append(l, &v, 1) < 0)
                return -1;
            used = 0;
        }
        if (rec > scratch_cap) {
            struct iovec v[3] = {{prefix, (size_t)pn}, {(void *)(buf + pos), text}, {"\n", 1}};
            if (append(l, v, 3) < 0)
                return -1;
        } else {
            memcpy(scratch + used, prefix, (size_t)pn);
            memcpy(scratch + used + pn, buf + pos, text);
            scratch[used + rec - 1] = '\n';
            used += rec;
        }
        pos = nl ? end + 1 : len;
    }
    if (used > 0) {
        struct iovec v = {scratch, used};
        if (append(l, &v, 1) < 0)
            return -1;
    }
    return 0;
}
