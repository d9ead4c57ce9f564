/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI container log format, written by berth-monitor: one record per
 * line of the container's output,
 *
 *   <RFC 3339 time, nanoseconds, local offset> <stdout|stderr> <F|P> <text>\n
 *
 * F closes a line, P is a piece of a longer line whose rest follows (the
 * kubelet joins them). Output is written as it is read: a read that ends
 * without a newline is written at once as P, so a prompt or a progress bar
 * shows without waiting for its newline.
 *
 * The file is opened O_APPEND and reopened on request (the kubelet rotates
 * by renaming it and calling ReopenContainerLog). With a maximum size, a
 * write that would pass it truncates the file to zero first, as conmon
 * does: the node's cap, not a rotation.
 *
 * Plain C on file descriptors; no threads, no allocation on the write path
 * beyond the caller's scratch buffer.
 */
#ifndef BERTH_IO_MONITOR_CRILOG_H
#define BERTH_IO_MONITOR_CRILOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct berth_crilog {
    int fd;            /* -1 when closed or when the file could not be opened */
    char *path;        /* owned */
    uint64_t size;     /* bytes in the file as this writer knows it */
    uint64_t max_size; /* 0: unlimited */
} berth_crilog_t;

/* Opens (creates, 0640) path for appending. On failure l->fd is -1 and errno
 * says why; the writer stays usable (berth_crilog_reopen retries). */
int berth_crilog_open(berth_crilog_t *l, const char *path, uint64_t max_size);
/* Closes and opens the same path again (after a rotation). */
int berth_crilog_reopen(berth_crilog_t *l);
void berth_crilog_close(berth_crilog_t *l);

/* The time stamp of a record: 2026-12-06T09:53:24.520123456+00:00. buf needs
 * 40 bytes; returns the length. */
size_t berth_crilog_stamp(const struct timespec *now, char *buf);

/* Formats len bytes of `stream` ("stdout" or "stderr") read at `now` into
 * out (capacity cap): complete lines as F, a trailing piece as P. Returns
 * the bytes used; cap must be at least berth_crilog_need(len). */
size_t berth_crilog_format(const char *stream, const char *buf, size_t len,
                           const struct timespec *now, char *out, size_t cap);
/* The worst case of berth_crilog_format for len bytes (every byte a line). */
size_t berth_crilog_need(size_t len);

/* Formats and appends; truncates first when max_size would be passed.
 * Returns 0, or -1 with errno (the data is dropped then: a full disk must
 * not stall the container). scratch (any size; BERTH_CRILOG_SCRATCH is
 * plenty) gathers records into few writes. */
#define BERTH_CRILOG_SCRATCH 65536
int berth_crilog_write(berth_crilog_t *l, const char *stream, const char *buf, size_t len,
                       char *scratch, size_t scratch_cap);

#endif
