/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer for wire encoders (SPDY, WebSocket, HTTP/1.1): the
 * encoders append, the connection sends from `data + off` and consumes. The
 * buffer owns `data`; growth never fails (berth_realloc aborts on OOM).
 * Appending may move `data`: never append to a buffer while the kernel reads
 * from it (an io_uring send in flight); queue into a second one and swap.
 */
#ifndef BERTH_IO_BYTEBUF_H
#define BERTH_IO_BYTEBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/alloc.h"

typedef struct berth_bytebuf {
    uint8_t *data;
    size_t off; /* consumed bytes at the front */
    size_t len; /* bytes in use, off included */
    size_t cap;
} berth_bytebuf_t;

/* Room for `n` more bytes at data + len; returns that pointer. */
static inline uint8_t *berth_bytebuf_reserve(berth_bytebuf_t *b, size_t n)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + n > b->cap) {
        if (b->off > 0 && b->off >= b->len / 2) {
            /* compact instead of growing when half is consumed already */
            memmove(b->data, b->data + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 256;
            while (cap < b->len + n)
                cap *= 2;
            b->data = berth_realloc(b->data, cap);
            b->cap = cap;
        }
    }
    return b->data + b->len;
}

static inline void berth_bytebuf_put(berth_bytebuf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    memcpy(berth_bytebuf_reserve(b, n), p, n);
    b->len += n;
}

static inline void berth_bytebuf_put_u8(berth_bytebuf_t *b, uint8_t v)
{
    berth_bytebuf_put(b, &v, 1);
}

/* Big-endian (network order) integers of 16, 24 and 32 bits. */
static inline void berth_bytebuf_put_be16(berth_bytebuf_t *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    berth_bytebuf_put(b, x, 2);
}

static inline void berth_bytebuf_put_be24(berth_bytebuf_t *b, uint32_t v)
{
    uint8_t x[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    berth_bytebuf_put(b, x, 3);
}

static inline void berth_bytebuf_put_be32(berth_bytebuf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    berth_bytebuf_put(b, x, 4);
}

/* Protobuf's base-128 varint (the wire's lengths and keys): its size, and
 * written at p (at most 10 bytes; returns the byte after it) or appended. */
static inline size_t berth_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint8_t *berth_varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline void berth_bytebuf_put_varint(berth_bytebuf_t *b, uint64_t v)
{
    uint8_t x[10];
    berth_bytebuf_put(b, x, (size_t)(berth_varint_put(x, v) - x));
}

/* Bytes not yet consumed. */
static inline size_t berth_bytebuf_pending(const berth_bytebuf_t *b)
{
    return b->len - b->off;
}

static inline void berth_bytebuf_consume(berth_bytebuf_t *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

static inline void berth_bytebuf_free(berth_bytebuf_t *b)
{
    berth_free(b->data);
    *b = (berth_bytebuf_t){0};
}

#endif
