/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content digests for images: streaming sha256 on OpenSSL EVP, whole-file
 * sha256, and validation of `sha256:<64 lowercase hex>` strings. A digest
 * string from a registry or a manifest is untrusted input: validate it with
 * berth_digest_valid() before it becomes part of a path or a URL.
 * Nothing here touches actors; berth_sha256_file() blocks on disk reads.
 */
#ifndef BERTH_IO_DIGEST_H
#define BERTH_IO_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/err.h"

#define BERTH_SHA256_HEX_LEN 64

/* A streaming sha256; embed it, _init, _update any number of times, _final
 * once, then _fini (which is also safe without _final). */
typedef struct berth_sha256 {
    void *ctx; /* EVP_MD_CTX *, owned */
} berth_sha256_t;

/* Never fails (allocation aborts; sha256 is always available in libcrypto). */
void berth_sha256_init(berth_sha256_t *h);
void berth_sha256_update(berth_sha256_t *h, const void *data, size_t len);
/* Writes 64 lowercase hex digits and a NUL. */
void berth_sha256_final(berth_sha256_t *h, char out_hex[BERTH_SHA256_HEX_LEN + 1]);
void berth_sha256_fini(berth_sha256_t *h);

/* sha256 of a memory buffer, as hex. */
void berth_sha256_buf(const void *data, size_t len, char out_hex[BERTH_SHA256_HEX_LEN + 1]);

/* sha256 of the file at path, as hex. Blocking: call from the blocking pool
 * or a test, never in an actor turn. Returns 0, or -1 with *err. */
int berth_sha256_file(const char *path, char out_hex[BERTH_SHA256_HEX_LEN + 1], berth_err_t *err);

/* True when s is exactly "sha256:" followed by 64 lowercase hex digits (the
 * only algorithm berth accepts; anything else is refused, not ignored). */
bool berth_digest_valid(const char *s);

#endif
