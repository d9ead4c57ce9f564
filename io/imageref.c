/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references for the registry client: the grammar is engine/refname.c's
 * (the one copy conf/registries.c uses too); here only what pulling adds:
 * digests must be sha256 (what the store verifies), a short name goes to
 * docker.io and a name without tag or digest to "latest". Only parsing: which
 * registry a short name goes to is decided by registries.conf in conf/ and
 * actors/, never here.
 */
#include "io/imageref.h"

#include <errno.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/refname.h"
#include "io/digest.h"

int berth_image_ref_parse(const char *s, berth_image_ref_t *out, berth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    berth_refname_t n;
    if (berth_refname_parse(s, &n, err) < 0)
        return -1;
    if (n.digest && !berth_digest_valid(n.digest)) {
        berth_refname_fini(&n);
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "invalid image reference \"%s\": the digest is not "
                              "sha256:<64 lowercase hex digits>",
                              s);
    }
    const char *domain = berth_refname_fold_domain(n.domain);
    out->domain = berth_strdup(domain ? domain : "docker.io");
    out->repository = berth_refname_repository(out->domain, n.path);
    out->short_name = n.domain == NULL;
    out->path = berth_steal_ptr(&n.path);
    out->digest = berth_steal_ptr(&n.digest);
    out->tag = berth_steal_ptr(&n.tag);
    if (out->tag == NULL && out->digest == NULL) {
        out->tag = berth_strdup("latest");
        out->tag_defaulted = true;
    }
    berth_refname_fini(&n);
    return 0;
}

void berth_image_ref_fini(berth_image_ref_t *ref)
{
    berth_free(ref->domain);
    berth_free(ref->repository);
    berth_free(ref->tag);
    berth_free(ref->digest);
    berth_free(ref->path);
    memset(ref, 0, sizeof(*ref));
}

char *berth_image_ref_string(const berth_image_ref_t *ref)
{
    return berth_refname_join(ref->domain, ref->repository, ref->tag, ref->digest);
}
