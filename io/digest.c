/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sha256 on OpenSSL's EVP interface (the one OpenSSL 3 keeps supported) and
 * the digest string check every image path and URL goes through. Must never
 * accept a digest it cannot verify: only sha256 passes berth_digest_valid().
 */
#include "io/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "engine/alloc.h"

static void hexify(const unsigned char *md, unsigned n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * n] = '\0';
}

void berth_sha256_init(berth_sha256_t *h)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    /* Failure here means libcrypto could not allocate or has no sha256: the
     * same class as an allocation failure, which berth treats as fatal. */
    if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
        abort();
    h->ctx = c;
}

void berth_sha256_update(berth_sha256_t *h, const void *data, size_t len)
{
    if (len > 0 && EVP_DigestUpdate(h->ctx, data, len) != 1)
        abort();
}

void berth_sha256_final(berth_sha256_t *h, char out_hex[BERTH_SHA256_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
        abort();
    hexify(md, n, out_hex);
}

void berth_sha256_fini(berth_sha256_t *h)
{
    if (h->ctx != NULL)
        EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

void berth_sha256_buf(const void *data, size_t len, char out_hex[BERTH_SHA256_HEX_LEN + 1])
{
    berth_sha256_t h;
    berth_sha256_init(&h);
    berth_sha256_update(&h, data, len);
    berth_sha256_final(&h, out_hex);
    berth_sha256_fini(&h);
}

int berth_sha256_file(const char *path, char out_hex[BERTH_SHA256_HEX_LEN + 1], berth_err_t *err)
{
    BERTH_AUTO_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return berth_err_errno(err, errno, "open %s for sha256", path);
    berth_sha256_t h;
    berth_sha256_init(&h);
    BERTH_AUTO_FREE char *buf = berth_malloc(1u << 16);
    for (;;) {
        ssize_t n = read(fd, buf, 1u << 16);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            berth_sha256_fini(&h);
            return berth_err_errno(err, e, "read %s for sha256", path);
        }
        if (n == 0)
            break;
        berth_sha256_update(&h, buf, (size_t)n);
    }
    berth_sha256_final(&h, out_hex);
    berth_sha256_fini(&h);
    return 0;
}

bool berth_digest_valid(const char *s)
{
    if (s == NULL || strncmp(s, "sha256:", 7) != 0)
        return false;
    const char *p = s + 7;
    for (int i = 0; i < BERTH_SHA256_HEX_LEN; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return p[BERTH_SHA256_HEX_LEN] == '\0';
}
