/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for engine/refname.c, the reference grammar conf/registries.c and
 * io/imageref.c share: splitting, the domain rule, refusals with their
 * reasons, and Docker Hub's normal form.
 */
#include <string.h>

#include "engine/alloc.h"
#include "engine/refname.h"
#include "tap.h"

#define HEX64 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define D64 "sha256:" HEX64
#define D128 "sha512:" HEX64 HEX64

static bool eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool split_is(const char *in, const char *domain, const char *path, const char *tag,
                     const char *digest)
{
    berth_refname_t r;
    berth_err_t err = NULL;
    if (berth_refname_parse(in, &r, &err) < 0) {
        printf("# %s: %s\n", in, err->msg);
        berth_err_free(&err);
        return false;
    }
    bool ok = eq(r.domain, domain) && eq(r.path, path) && eq(r.tag, tag) && eq(r.digest, digest);
    berth_refname_fini(&r);
    return ok;
}

static bool refused(const char *in, const char *why)
{
    berth_refname_t r;
    berth_err_t err = NULL;
    int rc = berth_refname_parse(in, &r, &err);
    bool ok = rc < 0 && err && err->kind == BERTH_ERR_INVALID &&
              strstr(err->msg, "invalid image reference") && strstr(err->msg, why) &&
              r.path == NULL;
    if (rc == 0)
        berth_refname_fini(&r);
    berth_err_free(&err);
    return ok;
}

int main(void)
{
    tap_plan(14);
    tap_ok(split_is("busybox", NULL, "busybox", NULL, NULL), "a short name has no domain");
    tap_ok(split_is("localhost:5000/a/b:t@" D64, "localhost:5000", "a/b", "t", D64),
           "domain, path, tag and digest");
    tap_ok(split_is("localhost/x", "localhost", "x", NULL, NULL), "localhost is a domain");
    tap_ok(split_is("Foo/bar", "Foo", "bar", NULL, NULL),
           "an upper-case first component is a domain (Docker's rule)");
    tap_ok(split_is("[::1]:5000/a", "[::1]:5000", "a", NULL, NULL), "an IPv6 domain");
    tap_ok(split_is("x.io/a@" D128, "x.io", "a", NULL, D128),
           "the grammar admits sha512 digests (io/ narrows to sha256)");
    tap_ok(refused("Busybox", "must be lowercase"), "upper case in the path is named");
    tap_ok(refused("a//b", "invalid repository name") && refused("quay.io/a___b", "invalid") &&
                   refused("", "empty"),
           "bad paths refused");
    tap_ok(refused("busybox:", "invalid tag") && refused("busybox:-x", "invalid tag"),
           "bad tags refused");
    tap_ok(refused("busybox@sha256:abc", "invalid digest"), "a short digest refused");
    tap_ok(refused("a-.io/x", "invalid registry domain") && refused("x.io:/y", "domain"),
           "bad domains refused");
    char *big = berth_calloc(5000, 1);
    memset(big, 'a', 4999);
    tap_ok(refused(big, "longer than 4096"), "a 5000-byte input refused without quoting it");
    big[256] = '\0';
    tap_ok(refused(big, "more than 255"), "a 256-byte name refused");
    berth_free(big);

    char *a = berth_refname_join("index.docker.io", "busybox", "1", NULL);
    char *b = berth_refname_join(NULL, "busybox", NULL, D64);
    char *c = berth_refname_join("docker.io", "user/repo", NULL, NULL);
    tap_ok(strcmp(a, "docker.io/library/busybox:1") == 0 && strcmp(b, "busybox@" D64) == 0 &&
                   strcmp(c, "docker.io/user/repo") == 0,
           "join folds index.docker.io, adds library/ only on docker.io (%s, %s, %s)", a, b, c);
    berth_free(a);
    berth_free(b);
    berth_free(c);
    return tap_done();
}
