// SPDX-License-Identifier: Apache-2.0
/*
 * actors/index: lookups by name, ID and unique prefix, the requests held
 * until a manager has read its records, labels kept for listing, and the
 * CRI list filters (pod and container filters alike, read by field name),
 * in tables.
 */
#include <stdio.h>
#include <string.h>

#include "actors/cri.h"
#include "actors/index.h"
#include "api.pb-c.h"
#include "engine/alloc.h"
#include "tests/unit/check.h"

static void lookups(void)
{
    berth_index_t ix;
    berth_index_init(&ix, NULL);
    berth_index_add(&ix, "abc123", "k8s_a", (berth_handle_t){1});
    berth_index_add(&ix, "abd456", "k8s_b", (berth_handle_t){2});
    bool amb = false;
    check(berth_index_by_name(&ix, "k8s_b")->handle.v == 2, "by name");
    check(berth_index_by_id(&ix, "abc", &amb)->handle.v == 1 && !amb, "by a unique prefix");
    check(berth_index_by_id(&ix, "ab", &amb) == NULL && amb, "an ambiguous prefix finds none");
    check(berth_index_by_exact_id(&ix, "abc") == NULL, "exact IDs only where asked");
    berth_index_remove(&ix, berth_index_by_name(&ix, "k8s_a"));
    check(berth_index_by_id(&ix, "ab", &amb)->handle.v == 2, "after a remove the prefix is unique");
    berth_index_fini(&ix);
}

static berth_cri_req_msg_t *held[4];
static int nheld;

static void take(void *ctx, berth_cri_req_msg_t *rm)
{
    (void)ctx;
    held[nheld++] = rm;
}

static void holding(void)
{
    berth_index_t ix;
    berth_index_init(&ix, NULL);
    Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
    berth_cri_req_msg_t *a =
            berth_cri_req_new("/runtime.v1.RuntimeService/ListPodSandbox", &req.base);
    berth_cri_req_msg_t *b =
            berth_cri_req_new("/runtime.v1.RuntimeService/ListPodSandbox", &req.base);
    check(berth_index_hold(&ix, a) && berth_index_hold(&ix, b), "before the records: held");
    berth_index_ready(&ix, take, NULL);
    check(nheld == 2 && held[0] == a && held[1] == b, "then handed on in order");
    berth_cri_req_msg_t *c =
            berth_cri_req_new("/runtime.v1.RuntimeService/ListPodSandbox", &req.base);
    check(!berth_index_hold(&ix, c), "after: not held");
    berth_msg_free(&a->hdr);
    berth_msg_free(&b->hdr);
    /* one held at fini is freed with the index */
    berth_index_t iy;
    berth_index_init(&iy, NULL);
    berth_index_hold(&iy, c);
    berth_index_fini(&iy);
    berth_index_fini(&ix);
}

/* ---- list filters --------------------------------------------------------- */

typedef struct row {
    const char *what;
    const char *id;      /* filter id, NULL: none */
    int state;           /* filter state, -1: none */
    const char *sel_key; /* a label selector entry, NULL: none */
    const char *sel_val;
    bool want;
} row_t;

/* the summary every row is checked against */
static const char *const keys[] = {"app", "tier", NULL};
static const char *const vals[] = {"web", "front", NULL};

static const row_t rows[] = {
        {"no condition", NULL, -1, NULL, NULL, true},
        {"the whole ID", "f00dbeef", -1, NULL, NULL, true},
        {"an ID prefix", "f00d", -1, NULL, NULL, true},
        {"another ID", "beef", -1, NULL, NULL, false},
        {"an empty ID is no condition", "", -1, NULL, NULL, true},
        {"its state", NULL, 0, NULL, NULL, true},
        {"another state", NULL, 1, NULL, NULL, false},
        {"a label it has", NULL, -1, "tier", "front", true},
        {"a label value it has not", NULL, -1, "tier", "back", false},
        {"a label key it has not", NULL, -1, "zone", "a", false},
        {"all three", "f00", 0, "app", "web", true},
};

/* The two CRI filters have the same fields under different types: one
 * body fills either. */
#define RUN_FILTER(Filter, FILTER_INIT, State, STATE_INIT, Entry, ENTRY_INIT)                      \
    Filter f = FILTER_INIT;                                                                        \
    State st = STATE_INIT;                                                                         \
    Entry e = ENTRY_INIT;                                                                          \
    Entry *ep[] = {&e};                                                                            \
    f.id = (char *)r->id;                                                                          \
    if (r->state >= 0) {                                                                           \
        st.state = r->state;                                                                       \
        f.state = &st;                                                                             \
    }                                                                                              \
    if (r->sel_key) {                                                                              \
        e.key = (char *)r->sel_key;                                                                \
        e.value = (char *)r->sel_val;                                                              \
        f.n_label_selector = 1;                                                                    \
        f.label_selector = ep;                                                                     \
    }                                                                                              \
    return berth_index_filter_keeps(&f.base, v)

static bool run_pod(const row_t *r, const berth_summary_view_t *v)
{
    RUN_FILTER(Runtime__V1__PodSandboxFilter, RUNTIME__V1__POD_SANDBOX_FILTER__INIT,
               Runtime__V1__PodSandboxStateValue, RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT,
               Runtime__V1__PodSandboxFilter__LabelSelectorEntry,
               RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT);
}

static bool run_ctr(const row_t *r, const berth_summary_view_t *v)
{
    RUN_FILTER(Runtime__V1__ContainerFilter, RUNTIME__V1__CONTAINER_FILTER__INIT,
               Runtime__V1__ContainerStateValue, RUNTIME__V1__CONTAINER_STATE_VALUE__INIT,
               Runtime__V1__ContainerFilter__LabelSelectorEntry,
               RUNTIME__V1__CONTAINER_FILTER__LABEL_SELECTOR_ENTRY__INIT);
}

static void filters(void)
{
    berth_kv_t labels = {2, (char **)keys, (char **)vals};
    berth_summary_view_t v = {"f00dbeef", 0, true, &labels};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(rows); i++) {
        check(run_pod(&rows[i], &v) == rows[i].want, "pod filter, %s: %s", rows[i].what,
              rows[i].want ? "kept" : "left out");
        check(run_ctr(&rows[i], &v) == rows[i].want, "container filter, %s: %s", rows[i].what,
              rows[i].want ? "kept" : "left out");
    }
}

int main(void)
{
    lookups();
    holding();
    filters();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
