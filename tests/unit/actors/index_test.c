// SPDX-License-Identifier: Apache-2.0
/*
 * actors/index: lookups by name, ID and unique prefix, the requests held
 * until a manager has read its records, labels kept for listing, and the
 * CRI list filters (pod and container filters alike, read by field name),
 * in tables; lists answered from the packed items the entries keep, which
 * must never outlive the summary they were packed from.
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

/* ---- lists from packed items --------------------------------------------- */

typedef struct sum {
    char *id;
    int state;
    bool listed;
    berth_kv_t labels;
} sum_t;

static int fills;

static sum_t *sum_new(const char *id, int state, bool listed, const char *app)
{
    sum_t *s = berth_calloc(1, sizeof(*s));
    s->id = berth_strdup(id);
    s->state = state;
    s->listed = listed;
    const char *k[] = {"app"}, *v[] = {app};
    Runtime__V1__PodSandbox__LabelsEntry e = RUNTIME__V1__POD_SANDBOX__LABELS_ENTRY__INIT;
    e.key = (char *)k[0];
    e.value = (char *)v[0];
    ProtobufCMessage *ep[] = {&e.base};
    berth_kv_copy(&s->labels, 1, ep);
    return s;
}

static void sum_free(void *p)
{
    sum_t *s = p;
    berth_kv_fini(&s->labels);
    berth_free(s->id);
    berth_free(s);
}

static berth_summary_view_t sum_view(const void *p)
{
    const sum_t *s = p;
    return (berth_summary_view_t){s->id, s->state, s->listed, &s->labels};
}

static void sum_fill(void *slot, const void *p)
{
    Runtime__V1__PodSandbox *sb = slot;
    const sum_t *s = p;
    fills++;
    runtime__v1__pod_sandbox__init(sb);
    sb->id = s->id;
    sb->state = s->state;
    sb->n_labels = s->labels.n;
    sb->labels = berth_kv_map(&s->labels, &runtime__v1__pod_sandbox__labels_entry__descriptor);
}

static void sum_fini(void *slot)
{
    berth_free(((Runtime__V1__PodSandbox *)slot)->labels);
}

static const berth_index_lister_t sum_lister = {sizeof(Runtime__V1__PodSandbox), sum_view, NULL,
                                                sum_fill, sum_fini};

/* The list as "id:state,id:state" (owned), from the packed answer. */
static char *listed(berth_index_t *ix, const Runtime__V1__PodSandboxFilter *f)
{
    size_t len;
    BERTH_AUTO_FREE uint8_t *buf = berth_index_pack_list(
            ix, &sum_lister, f, &runtime__v1__list_pod_sandbox_response__descriptor, &len);
    Runtime__V1__ListPodSandboxResponse *r =
            runtime__v1__list_pod_sandbox_response__unpack(NULL, len, buf);
    if (r == NULL)
        return berth_strdup("(undecodable)");
    char out[256] = "";
    for (size_t i = 0; i < r->n_items; i++) {
        size_t at = strlen(out);
        snprintf(out + at, sizeof(out) - at, "%s%s:%d", i ? "," : "", r->items[i]->id,
                 r->items[i]->state);
    }
    runtime__v1__list_pod_sandbox_response__free_unpacked(r, NULL);
    return berth_strdup(out);
}

static bool lists(berth_index_t *ix, const Runtime__V1__PodSandboxFilter *f, const char *want)
{
    BERTH_AUTO_FREE char *got = listed(ix, f);
    if (strcmp(got, want) != 0)
        printf("# listed \"%s\", want \"%s\"\n", got, want);
    return strcmp(got, want) == 0;
}

static void packed_lists(void)
{
    berth_index_t ix;
    berth_index_init(&ix, sum_free);
    berth_index_set_summary(&ix, berth_index_add(&ix, "aa01", "k8s_a", (berth_handle_t){1}),
                            sum_new("aa01", 0, true, "web"));
    berth_index_set_summary(&ix, berth_index_add(&ix, "bb02", "k8s_b", (berth_handle_t){2}),
                            sum_new("bb02", 0, true, "db"));
    berth_index_set_summary(&ix, berth_index_add(&ix, "cc03", "k8s_c", (berth_handle_t){3}),
                            sum_new("cc03", 0, false, "web"));
    berth_index_add(&ix, "dd04", "k8s_d", (berth_handle_t){4}); /* no summary yet */

    fills = 0;
    ok(lists(&ix, NULL, "aa01:0,bb02:0"), "a list shows the listed summaries");
    ok(fills == 2, "packing each item once");
    fills = 0;
    ok(lists(&ix, NULL, "aa01:0,bb02:0") && fills == 0, "the next list reuses the packed items");

    /* the same bytes as the response packed whole */
    Runtime__V1__PodSandbox a, b;
    sum_fill(&a, berth_index_by_name(&ix, "k8s_a")->summary);
    sum_fill(&b, berth_index_by_name(&ix, "k8s_b")->summary);
    Runtime__V1__PodSandbox *items[] = {&a, &b};
    Runtime__V1__ListPodSandboxResponse whole = RUNTIME__V1__LIST_POD_SANDBOX_RESPONSE__INIT;
    whole.n_items = 2;
    whole.items = items;
    size_t wlen, plen;
    BERTH_AUTO_FREE uint8_t *wbuf = berth_cri_pack(&whole.base, &wlen);
    BERTH_AUTO_FREE uint8_t *pbuf = berth_index_pack_list(
            &ix, &sum_lister, NULL, &runtime__v1__list_pod_sandbox_response__descriptor, &plen);
    ok(wlen == plen && memcmp(wbuf, pbuf, wlen) == 0,
       "the answer is byte for byte the response packed whole");
    sum_fini(&a);
    sum_fini(&b);

    /* a state change: the very next list shows it, whatever was packed */
    berth_index_set_summary(&ix, berth_index_by_name(&ix, "k8s_a"),
                            sum_new("aa01", 1, true, "web"));
    ok(lists(&ix, NULL, "aa01:1,bb02:0"), "a new summary shows in the next list");
    Runtime__V1__PodSandboxFilter f = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
    Runtime__V1__PodSandboxStateValue sv = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;
    f.state = &sv;
    ok(lists(&ix, &f, "bb02:0"), "a state filter sees the new state");
    sv.state = 1;
    ok(lists(&ix, &f, "aa01:1"), "and the other state");
    berth_index_set_summary(&ix, berth_index_by_name(&ix, "k8s_c"),
                            sum_new("cc03", 0, true, "web"));
    berth_index_set_summary(&ix, berth_index_by_name(&ix, "k8s_d"), sum_new("dd04", 1, true, "db"));
    ok(lists(&ix, NULL, "aa01:1,bb02:0,cc03:0,dd04:1"), "summaries listed later show");

    Runtime__V1__PodSandboxFilter g = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
    ok(lists(&ix, &g, "aa01:1,bb02:0,cc03:0,dd04:1"), "an empty filter keeps all");
    g.id = (char *)"bb";
    ok(lists(&ix, &g, "bb02:0"), "an ID prefix keeps one");
    g.id = NULL;
    Runtime__V1__PodSandboxFilter__LabelSelectorEntry sel =
            RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT;
    sel.key = (char *)"app";
    sel.value = (char *)"db";
    Runtime__V1__PodSandboxFilter__LabelSelectorEntry *selp[] = {&sel};
    g.n_label_selector = 1;
    g.label_selector = selp;
    ok(lists(&ix, &g, "bb02:0,dd04:1"), "a label selector keeps its pods");
    sv.state = 1;
    g.state = &sv;
    ok(lists(&ix, &g, "dd04:1"), "label and state together");

    /* removal swaps the last entry in: its packed item goes with it */
    berth_index_remove(&ix, berth_index_by_name(&ix, "k8s_a"));
    ok(lists(&ix, NULL, "dd04:1,bb02:0,cc03:0"), "a removed pod is gone, the others intact");
    berth_index_set_summary(&ix, berth_index_by_name(&ix, "k8s_d"),
                            sum_new("dd04", 0, false, "db"));
    ok(lists(&ix, NULL, "bb02:0,cc03:0"), "a pod no longer listed is left out at once");
    berth_index_fini(&ix);
}

int main(void)
{
    lookups();
    holding();
    filters();
    packed_lists();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
