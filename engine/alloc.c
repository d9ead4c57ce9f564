/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth's allocator on mimalloc, and the bridges that hand the same allocator
 * to nghttp2 and protobuf-c. Every call here aborts on exhaustion instead of
 * returning NULL: no caller in berth handles a failed allocation, a restart
 * recovers from the on-disk state. Never add a fallible path here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef BERTH_ALLOC_LIBC
/* Sanitizer builds only: TSan and ASan must see every allocation, and they
 * only intercept the libc allocator. */
#define mi_malloc malloc
#define mi_calloc calloc
#define mi_realloc realloc
#define mi_free free
#else
#include <mimalloc.h>
#endif
#include <jansson.h>
#include <nghttp2/nghttp2.h>
#include <protobuf-c/protobuf-c.h>

#include "engine/alloc.h"

static void __attribute__((noreturn)) oom(size_t n)
{
    /* No allocation and no stdio buffering here: we are out of memory. */
    static const char msg[] = "level=fatal msg=\"out of memory\"\n";
    ssize_t r = write(2, msg, sizeof(msg) - 1);
    (void)r;
    (void)n;
    abort();
}

void *berth_malloc(size_t n);

static void *jansson_malloc(size_t n)
{
    return berth_malloc(n);
}

/* jansson is the one library that allocates behind berth's back (json_dumps,
 * json_load*): it gets berth's allocator before main() runs, in every
 * program that links the engine, so a string from json_dumps is always freed
 * with berth_free, in the daemon, the tools and the tests alike. */
__attribute__((constructor)) static void alloc_bridge_jansson(void)
{
    json_set_alloc_funcs(jansson_malloc, berth_free);
}

void *berth_malloc(size_t n)
{
    void *p = mi_malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *berth_calloc(size_t count, size_t n)
{
    void *p = mi_calloc(count ? count : 1, n ? n : 1);
    if (p == NULL)
        oom(count * n);
    return p;
}

void *berth_realloc(void *p, size_t n)
{
    void *q = mi_realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

void berth_free(void *p)
{
    mi_free(p);
}

char *berth_strdup(const char *s)
{
    return berth_memdup(s, strlen(s) + 1);
}

char *berth_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *r = berth_malloc(len + 1);
    memcpy(r, s, len);
    r[len] = '\0';
    return r;
}

void *berth_memdup(const void *p, size_t n)
{
    void *r = berth_malloc(n);
    if (n)
        memcpy(r, p, n);
    return r;
}

char *berth_vasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return berth_strdup("");
    char *r = berth_malloc((size_t)n + 1);
    vsnprintf(r, (size_t)n + 1, fmt, ap);
    return r;
}

char *berth_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *r = berth_vasprintf(fmt, ap);
    va_end(ap);
    return r;
}

void berth_cleanup_close(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
        *fd = -1;
    }
}

/* ---- nghttp2 ------------------------------------------------------------- */

static void *ng_malloc(size_t size, void *ud)
{
    return berth_malloc(size);
}

static void ng_free(void *ptr, void *ud)
{
    mi_free(ptr);
}

static void *ng_calloc(size_t n, size_t size, void *ud)
{
    return berth_calloc(n, size);
}

static void *ng_realloc(void *ptr, size_t size, void *ud)
{
    return berth_realloc(ptr, size);
}

static const nghttp2_mem ng_mem = {
        .mem_user_data = NULL,
        .malloc = ng_malloc,
        .free = ng_free,
        .calloc = ng_calloc,
        .realloc = ng_realloc,
};

const void *berth_alloc_nghttp2_mem(void)
{
    return &ng_mem;
}

/* ---- protobuf-c ---------------------------------------------------------- */

static void *pb_alloc(void *ud, size_t size)
{
    return berth_malloc(size);
}

static void pb_free(void *ud, void *p)
{
    mi_free(p);
}

/* Not const: protobuf-c's API takes a non-const allocator pointer. It is never
 * written after initialisation, so sharing it between threads is safe. */
static ProtobufCAllocator pb_allocator = {
        .alloc = pb_alloc,
        .free = pb_free,
        .allocator_data = NULL,
};

void *berth_alloc_protobuf_allocator(void)
{
    return &pb_allocator;
}

char **berth_strv_dup(char *const *v, ssize_t n)
{
    size_t len = 0;
    if (n >= 0)
        len = (size_t)n;
    else
        while (v && v[len])
            len++;
    char **out = berth_calloc(len + 1, sizeof(char *));
    for (size_t i = 0; i < len; i++)
        out[i] = berth_strdup(v[i]);
    return out;
}

void berth_alloc_stats_print(void (*out)(const char *text, void *arg), void *arg)
{
#ifdef BERTH_ALLOC_LIBC
    out("allocator: libc malloc (sanitizer build): no statistics\n", arg);
#else
    char head[96];
    snprintf(head, sizeof(head), "allocator: mimalloc %d.%d.%d\n", MI_MALLOC_VERSION / 100,
             MI_MALLOC_VERSION / 10 % 10, MI_MALLOC_VERSION % 10);
    out(head, arg);
    mi_stats_print_out(out, arg);
#endif
}

void berth_alloc_stats_merge(void)
{
#ifndef BERTH_ALLOC_LIBC
    mi_stats_merge();
#endif
}

void berth_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        berth_free(v[i]);
    berth_free(v);
}
