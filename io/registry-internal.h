/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/registry's private pieces that its unit tests and fuzz targets reach:
 * the WWW-Authenticate challenge parser. No other folder includes this.
 */
#ifndef BERTH_IO_REGISTRY_INTERNAL_H
#define BERTH_IO_REGISTRY_INTERNAL_H

/* One challenge: `Bearer realm="...",service="...",scope="..."` (RFC 7235
 * auth-params). Owned strings, NULL when absent. */
typedef struct berth_registry_challenge {
    char *scheme, *realm, *service, *scope;
} berth_registry_challenge_t;

/* Parses the header value s (any text; a registry's, so untrusted). Never
 * fails: what does not parse is left NULL. Pure. */
void berth_registry_challenge_parse(const char *s, berth_registry_challenge_t *ch);
void berth_registry_challenge_fini(berth_registry_challenge_t *ch);

#endif
