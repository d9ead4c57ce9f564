/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logfmt logging to stderr: `time=... level=info msg="..." key=value ...`.
 * One write(2) per line so lines from different workers never interleave.
 * Safe from any thread; never blocks on a stalled reader once
 * berth_log_nonblocking() ran.
 */
#ifndef BERTH_ENGINE_LOG_H
#define BERTH_ENGINE_LOG_H

enum berth_log_level {
    BERTH_LOG_TRACE = 0,
    BERTH_LOG_DEBUG,
    BERTH_LOG_INFO,
    BERTH_LOG_WARN,
    BERTH_LOG_ERROR,
    BERTH_LOG_FATAL,
};

void berth_log_set_level(int level);
int berth_log_get_level(void);
/* "trace".."fatal" → level; -1 when unknown. */
int berth_log_level_parse(const char *name);
const char *berth_log_level_name(int level);
/* Redirects output (tests); fd 2 by default. */
void berth_log_set_fd(int fd);
/* From now on a line that finds the log pipe or socket full is dropped and
 * counted instead of blocking the thread (the next line that gets through
 * is preceded by a count of those lost). A pipe is opened again through
 * /proc so that O_NONBLOCK stays berth's own; a socket is written with
 * MSG_DONTWAIT. Files and terminals are left as they are (-1). Call it
 * before the workers start. Returns 0 when it applies. */
int berth_log_nonblocking(void);

/* kvfmt is a printf format producing the `key=value ...` tail (may be NULL);
 * quote values that may hold spaces yourself: key="%s". msg is quoted here. */
void berth_log(int level, const char *msg, const char *kvfmt, ...)
        __attribute__((format(printf, 3, 4)));

#define berth_log_debug(msg, ...) berth_log(BERTH_LOG_DEBUG, msg, __VA_ARGS__)
#define berth_log_info(msg, ...) berth_log(BERTH_LOG_INFO, msg, __VA_ARGS__)
#define berth_log_warn(msg, ...) berth_log(BERTH_LOG_WARN, msg, __VA_ARGS__)
#define berth_log_error(msg, ...) berth_log(BERTH_LOG_ERROR, msg, __VA_ARGS__)

#endif
