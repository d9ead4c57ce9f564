/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth's allocator: every heap allocation in berth goes through these calls,
 * which sit on mimalloc and abort on exhaustion (a restart recovers from the
 * on-disk state; no caller handles NULL). Also the cleanup helpers that make
 * ownership of locals explicit. Never hand a variable marked BERTH_AUTO_* to
 * the kernel: an op owns its buffers until its final completion.
 */
#ifndef BERTH_ENGINE_ALLOC_H
#define BERTH_ENGINE_ALLOC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* All of these are safe from any thread and never return NULL. */
void *berth_malloc(size_t n);
void *berth_calloc(size_t count, size_t n);
void *berth_realloc(void *p, size_t n);
void berth_free(void *p);
char *berth_strdup(const char *s);
char *berth_strndup(const char *s, size_t n);
void *berth_memdup(const void *p, size_t n);
/* Returns an owned, formatted string. */
char *berth_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *berth_vasprintf(const char *fmt, va_list ap);

/* Allocator bridges for the libraries berth feeds (nghttp2_mem, ProtobufCAllocator).
 * Declared as void* so this header does not pull those libraries in. */
const void *berth_alloc_nghttp2_mem(void);  /* returns const nghttp2_mem * */
void *berth_alloc_protobuf_allocator(void); /* returns ProtobufCAllocator * */

/* The allocator's statistics as text (mimalloc's own report: heap and OS
 * memory, pages, segments, threads, process RSS and page faults), handed to
 * out() in pieces. Counters of worker threads are merged into the report
 * when each worker merges its own (berth_alloc_stats_merge). Sanitizer
 * builds (libc malloc) print one line saying there are none. Any thread. */
void berth_alloc_stats_print(void (*out)(const char *text, void *arg), void *arg);
/* Merges the calling thread's allocator counters into the process's, so a
 * report from another thread includes them. A few hundred ns; workers call
 * it at most once a second. Any thread. */
void berth_alloc_stats_merge(void);

/* NULL-terminated vectors of owned strings. dup copies n strings (n = -1:
 * up to the NULL); free frees the strings and the vector (NULL-safe). */
char **berth_strv_dup(char *const *v, ssize_t n);
void berth_strv_free(char **v);

static inline void berth_cleanup_free(void *p)
{
    berth_free(*(void **)p);
}
void berth_cleanup_close(int *fd);

#define BERTH_AUTO_FREE __attribute__((cleanup(berth_cleanup_free)))
#define BERTH_AUTO_CLOSE __attribute__((cleanup(berth_cleanup_close)))

/* Moves ownership out of an auto-cleanup variable and clears it. */
#define berth_steal_ptr(pp)                                                                        \
    ({                                                                                             \
        __typeof__(*(pp)) stolen_ = *(pp);                                                         \
        *(pp) = NULL;                                                                              \
        stolen_;                                                                                   \
    })
static inline int berth_steal_fd(int *fd)
{
    int r = *fd;
    *fd = -1;
    return r;
}

#define BERTH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define BERTH_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
