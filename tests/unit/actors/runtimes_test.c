/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/runtimes: fitting a container's LinuxContainerResources (as io/ocispec's OCI limits) to
 * the node's controllers (the kubelet's exact limits on this VM's hybrid layout, v1, v2, a node
 * with nothing), the checks that stay INVALID_ARGUMENT, the OCI update document built from the
 * fitted limits, and the handler table's Status JSON. Pure: no daemon, no cgroup is touched.
 */
#include <stdlib.h>
#include <string.h>

#include "actors/runtimes.h"
#include "engine/alloc.h"
#include "tests/unit/check.h"

/* The node this VM is before crun's preparation: v1 hierarchies for cpu,
 * cpuacct, cpuset, memory, devices, freezer, blkio, pids; hugetlb only in
 * the cgroup2 mount. */
static berth_cgroups_info_t hybrid_node(void)
{
    berth_cgroups_info_t cg = {
            .mode = BERTH_CGROUPS_HYBRID, .memory_swap = true, .cpu_quota = true};
    cg.controllers = BERTH_CG_CPU | BERTH_CG_CPUACCT | BERTH_CG_CPUSET | BERTH_CG_MEMORY |
                     BERTH_CG_DEVICES | BERTH_CG_FREEZER | BERTH_CG_BLKIO | BERTH_CG_PIDS;
    snprintf(cg.unified_path, sizeof(cg.unified_path), "/sys/fs/cgroup/unified");
    snprintf(cg.v2_controllers, sizeof(cg.v2_controllers), "hugetlb");
    snprintf(cg.hugepage_sizes, sizeof(cg.hugepage_sizes), "1GB 2MB");
    return cg;
}

/* What kubelet v1.37 sends for a container with limits cpu 500m, memory
 * 64Mi on a cgroup v1 node with swap accounting. */
static Runtime__V1__HugepageLimit hp2m = RUNTIME__V1__HUGEPAGE_LIMIT__INIT,
                                  hp1g = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
static Runtime__V1__HugepageLimit *hps[2] = {&hp2m, &hp1g};
static Runtime__V1__LinuxContainerResources__UnifiedEntry ue =
        RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
static Runtime__V1__LinuxContainerResources__UnifiedEntry *ues[1] = {&ue};

static Runtime__V1__LinuxContainerResources kubelet_resources(void)
{
    Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    r.cpu_period = 100000;
    r.cpu_quota = 50000;
    r.cpu_shares = 512;
    r.memory_limit_in_bytes = 64 << 20;
    r.memory_swap_limit_in_bytes = 64 << 20;
    r.oom_score_adj = 983;
    hp2m.page_size = (char *)"2MB";
    hp2m.limit = 0;
    hp1g.page_size = (char *)"1GB";
    hp1g.limit = 0;
    r.n_hugepage_limits = 2;
    r.hugepage_limits = hps;
    return r;
}

/* Runs the fit and returns the error's kind (-1 on success). */
static int fit_code(const berth_cgroups_info_t *cg, const Runtime__V1__LinuxContainerResources *r,
                    char *msg, size_t cap)
{
    berth_resources_fit_t f;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    int rc = berth_runtimes_fit_resources(cg, r, &f, &err);
    snprintf(msg, cap, "%s", err ? err->msg : "");
    berth_resources_fit_fini(&f);
    return rc < 0 ? err->kind : -1;
}

int main(void)
{
    char msg[512];

    /* 1. the kubelet's limits on this VM's hybrid layout */
    {
        berth_cgroups_info_t cg = hybrid_node();
        Runtime__V1__LinuxContainerResources r = kubelet_resources();
        uint64_t before = berth_runtimes_dropped_limits();
        berth_resources_fit_t f;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        int rc = berth_runtimes_fit_resources(&cg, &r, &f, &err);
        check(rc == 0, "kubelet's limits fit the hybrid node: %s", err ? err->msg : "ok");
        check(f.res.nhugepages == 0 && f.ndropped == 2,
              "both hugepage limits left out (hugetlb is only in cgroup2): %u dropped", f.ndropped);
        check(strstr(f.dropped, "hugepage_limits[2MB]") &&
                      strstr(f.dropped, "hugepage_limits[1GB]") &&
                      strstr(f.dropped, "cgroup v1 hierarchy"),
              "the note says which and why: %s", f.dropped);
        check(f.res.cpu_quota == 50000 && f.res.cpu_period == 100000 && f.res.cpu_shares == 512 &&
                      f.res.memory_limit == 64 << 20 && f.res.memory_swap == 64 << 20,
              "every other limit kept");
        check(f.devices && f.pids, "device rules and the pids limit apply");
        check(berth_runtimes_dropped_limits() - before == 2, "the counter moved by 2");
        check(r.n_hugepage_limits == 2 && r.hugepage_limits == hps, "the request is not changed");
        char *doc = berth_runtimes_update_json(&f.res);
        check(strstr(doc, "hugepage") == NULL && strstr(doc, "\"quota\":50000") != NULL,
              "the update document has no hugepage limit: %s", doc);
        berth_free(doc);
        berth_resources_fit_fini(&f);

        /* prepared for crun: hugetlb is a v1 hierarchy, the limits stay */
        cg.controllers |= BERTH_CG_HUGETLB;
        rc = berth_runtimes_fit_resources(&cg, &r, &f, &err);
        check(rc == 0 && f.res.nhugepages == 2 && f.ndropped == 0 &&
                      f.res.hugepages[0].page_size == hp2m.page_size &&
                      f.res.hugepages[1].page_size == hp1g.page_size,
              "with a v1 hugetlb hierarchy both hugepage limits are kept");
        berth_resources_fit_fini(&f);
    }

    /* 2. a node lacking each controller */
    {
        berth_cgroups_info_t cg = hybrid_node();
        cg.controllers = BERTH_CG_CPUACCT; /* nothing a limit needs */
        cg.memory_swap = cg.cpu_quota = false;
        Runtime__V1__LinuxContainerResources r = kubelet_resources();
        r.cpuset_cpus = (char *)"0-1";
        r.cpuset_mems = (char *)"0";
        berth_resources_fit_t f;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        int rc = berth_runtimes_fit_resources(&cg, &r, &f, &err);
        check(rc == 0 && f.res.cpu_quota == 0 && f.res.cpu_period == 0 && f.res.cpu_shares == 0,
              "no cpu controller: CPU limits left out");
        check(f.res.cpuset_cpus == NULL && f.res.cpuset_mems == NULL,
              "no cpuset controller: cpuset left out");
        check(f.res.memory_limit == 0 && f.res.memory_swap == 0,
              "no memory controller: memory limits left out");
        check(!f.devices && !f.pids, "no devices or pids controller: neither applies");
        check(f.ndropped == 5, "five notes (cpu, cpuset, memory, 2 hugepages): %u: %s", f.ndropped,
              f.dropped);
        berth_resources_fit_fini(&f);

        cg = hybrid_node();
        cg.memory_swap = false;
        cg.cpu_quota = false;
        rc = berth_runtimes_fit_resources(&cg, &r, &f, &err);
        check(rc == 0 && f.res.memory_limit == 64 << 20 && f.res.memory_swap == 0,
              "no swap accounting: only the swap limit goes");
        check(f.res.cpu_shares == 512 && f.res.cpu_quota == 0 && f.res.cpu_period == 0,
              "no CFS bandwidth: quota and period go, shares stay");
        berth_resources_fit_fini(&f);
    }

    /* 3. unified: cgroup2 only, per controller */
    {
        Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
        ue.key = (char *)"memory.high";
        ue.value = (char *)"1000000";
        r.n_unified = 1;
        r.unified = ues;
        berth_cgroups_info_t cg = hybrid_node();
        berth_resources_fit_t f;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        int rc = berth_runtimes_fit_resources(&cg, &r, &f, &err);
        check(rc == 0 && f.res.nunified == 0 && strstr(f.dropped, "unified[memory.high]"),
              "hybrid: unified left out: %s", f.dropped);
        berth_resources_fit_fini(&f);
        cg.mode = BERTH_CGROUPS_V2;
        cg.controllers = BERTH_CG_MEMORY | BERTH_CG_CPU;
        rc = berth_runtimes_fit_resources(&cg, &r, &f, &err);
        check(rc == 0 && f.res.nunified == 1 && f.ndropped == 0 &&
                      strcmp(f.res.unified[0].key, "memory.high") == 0 &&
                      strcmp(f.res.unified[0].value, "1000000") == 0,
              "v2 with memory: kept");
        berth_resources_fit_fini(&f);
        ue.key = (char *)"io.weight";
        rc = berth_runtimes_fit_resources(&cg, &r, &f, &err);
        check(rc == 0 && f.res.nunified == 0 && f.ndropped == 1,
              "v2 without io enabled: io.weight left out");
        berth_resources_fit_fini(&f);
        ue.key = (char *)"../memory.max";
        check(fit_code(&cg, &r, msg, sizeof(msg)) == BERTH_ERR_INVALID &&
                      strstr(msg, "unified key"),
              "a unified key with a path is INVALID_ARGUMENT: %s", msg);
    }

    /* 4. invalid limits the node could apply: INVALID_ARGUMENT naming the field */
    {
        berth_cgroups_info_t cg = hybrid_node();
        cg.controllers |= BERTH_CG_HUGETLB;
        enum { MEM, SWAP, QUOTA, PERIOD, SHARES, OOM, CPUS, MEMS, PAGE };
        static const struct {
            const char *what, *field;
            int which;
            long long num;
            const char *text;
        } cases[] = {
                {"negative memory limit", "memory_limit_in_bytes", MEM, -5, NULL},
                {"swap below memory", "memory_swap_limit_in_bytes", SWAP, 1 << 20, NULL},
                {"swap -2", "memory_swap_limit_in_bytes", SWAP, -2, NULL},
                {"quota under 1 ms", "cpu_quota", QUOTA, 999, NULL},
                {"quota -7", "cpu_quota", QUOTA, -7, NULL},
                {"period 10 s", "cpu_period", PERIOD, 10000000, NULL},
                {"negative shares", "cpu_shares", SHARES, -1, NULL},
                {"oom_score_adj 5000", "oom_score_adj", OOM, 5000, NULL},
                {"cpuset 3-1", "cpuset_cpus", CPUS, 0, "3-1"},
                {"cpuset junk", "cpuset_cpus", CPUS, 0, "0,,1"},
                {"mems junk", "cpuset_mems", MEMS, 0, "x"},
                {"page size 2M", "page_size", PAGE, 0, "2M"},
                {"page size 4MB on a 2MB/1GB kernel", "this node's kernel has", PAGE, 0, "4MB"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            Runtime__V1__LinuxContainerResources r = kubelet_resources();
            switch (cases[i].which) {
            case MEM:
                r.memory_limit_in_bytes = cases[i].num;
                break;
            case SWAP:
                r.memory_swap_limit_in_bytes = cases[i].num;
                break;
            case QUOTA:
                r.cpu_quota = cases[i].num;
                break;
            case PERIOD:
                r.cpu_period = cases[i].num;
                break;
            case SHARES:
                r.cpu_shares = cases[i].num;
                break;
            case OOM:
                r.oom_score_adj = cases[i].num;
                break;
            case CPUS:
                r.cpuset_cpus = (char *)cases[i].text;
                break;
            case MEMS:
                r.cpuset_mems = (char *)cases[i].text;
                break;
            case PAGE:
                hp2m.page_size = (char *)cases[i].text;
                break;
            }
            int code = fit_code(&cg, &r, msg, sizeof(msg));
            check(code == BERTH_ERR_INVALID && strstr(msg, cases[i].field) != NULL,
                  "%s: INVALID_ARGUMENT naming %s: %s", cases[i].what, cases[i].field, msg);
        }
        /* the same bad page size on a node without hugetlb is simply left out */
        Runtime__V1__LinuxContainerResources r = kubelet_resources();
        hp2m.page_size = (char *)"4MB";
        cg = hybrid_node();
        check(fit_code(&cg, &r, msg, sizeof(msg)) == -1,
              "an unknown page size on a node without hugetlb: left out, not refused");
        BERTH_AUTO_ERR berth_err_t err = NULL;
        check(berth_runtimes_check_resources(&cg, &r, &err) == 0 &&
                      berth_runtimes_check_resources(&cg, NULL, &err) == 0,
              "check alone: same verdict, no resources is fine");
    }

    /* 5. nothing known of the node (unit tools, no table): everything kept */
    {
        Runtime__V1__LinuxContainerResources r = kubelet_resources();
        berth_resources_fit_t f;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        int rc = berth_runtimes_fit_resources(NULL, &r, &f, &err);
        check(rc == 0 && f.res.nhugepages == 2 && f.ndropped == 0 && f.devices,
              "no probe: every limit kept");
        berth_resources_fit_fini(&f);
        rc = berth_runtimes_fit_resources(NULL, NULL, &f, &err);
        check(rc == 0 && f.res.memory_limit == 0 && f.ndropped == 0,
              "no resources at all: an empty fit");
        berth_resources_fit_fini(&f);
    }

    /* 6. Status shows what the node can apply and the counter */
    {
        berth_config_t cfg = {0};
        berth_cgroups_info_t cg = hybrid_node();
        berth_runtimes_t *rts = berth_runtimes_new(&cfg, &cg);
        json_t *j = berth_runtimes_json(rts);
        json_t *c = json_object_get(j, "cgroups");
        const char *ctrls = json_string_value(json_object_get(c, "controllers"));
        check(ctrls && strcmp(ctrls, "cpu cpuacct cpuset memory pids blkio devices freezer") == 0,
              "Status names the runtime's controllers: %s", ctrls ? ctrls : "(none)");
        check(json_integer_value(json_object_get(c, "droppedLimits")) ==
                              (json_int_t)berth_runtimes_dropped_limits() &&
                      berth_runtimes_dropped_limits() > 0,
              "Status counts the limits left out");
        check(json_is_true(json_object_get(c, "memorySwap")) &&
                      strcmp(json_string_value(json_object_get(c, "hugepageSizes")), "1GB 2MB") ==
                              0,
              "Status shows swap accounting and the huge page sizes");
        json_decref(j);
        berth_runtimes_free(rts);
    }

    /* 7. The names Status lists: each handler, then "" for the default */
    {
        char *hs[] = {(char *)"crun", (char *)"runc", NULL};
        size_t n = 0;
        const char **v = berth_runtimes_status_names(hs, &n);
        check(n == 3 && strcmp(v[0], "crun") == 0 && strcmp(v[1], "runc") == 0 &&
                      strcmp(v[2], "") == 0 && v[3] == NULL,
              "Status lists crun, runc and \"\" (the default handler's CRI name)");
        berth_free(v);
        char *none[] = {NULL};
        v = berth_runtimes_status_names(none, &n);
        check(n == 1 && strcmp(v[0], "") == 0 && v[1] == NULL, "no handler configured: only \"\"");
        berth_free(v);
        v = berth_runtimes_status_names(NULL, &n);
        check(n == 1 && strcmp(v[0], "") == 0, "a NULL list is none");
        berth_free(v);
    }

    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
