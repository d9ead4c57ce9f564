/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/pull's private pieces that its unit test reaches: one endpoint's work
 * once its manifest is resolved, and the folding of the attempts' errors.
 * No other folder includes this.
 */
#ifndef BERTH_IO_PULL_INTERNAL_H
#define BERTH_IO_PULL_INTERNAL_H

#include "io/pull.h"

/* Fetches the config and layers img names from endpoint t into c's store
 * (what the store has already is not fetched again), checking req's limits
 * and the config's diff IDs, and builds the record: names from cref (the
 * candidate, fully qualified), repo digest of img->top. Returns 0 with *out
 * owned, or -1 with *err. Blocking. */
int berth_pull_fetch(berth_pull_ctx_t *c, const berth_pull_req_t *req,
                     const berth_registry_target_t *t, const berth_image_ref_t *cref,
                     const berth_registry_image_t *img, berth_store_image_t **out,
                     berth_err_t *err);

/* Folds one attempt's error *e (taken) into the pull's *best: the code is
 * the most telling one (anything beats NOT_FOUND), the message lists them
 * all in order. Pure. */
void berth_pull_fold_err(berth_err_t *best, berth_err_t *e);

#endif
