/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/pprof: counting stacks (equal stacks share a sample), and a real
 * session: a thread spinning in a known function is sampled for a second,
 * the profile gunzips and unpacks as profile.proto, its samples, locations,
 * mappings and functions agree, and the spinning function is named. When Go
 * is installed, `go tool pprof -top` reads the file too.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/alloc.h"
#include "engine/atomic-internal.h"
#include "io/pprof.h"
#include "profile.pb-c.h"
#include "tests/unit/check.h"

static int spin_stop;
/* glibc starts a thread with every signal blocked and unblocks them in the
 * thread itself: sample only once the spinner runs its own code. */
static int spin_started;

__attribute__((noinline)) static uint64_t pprof_test_spin(void)
{
    volatile uint64_t x = 0;
    ck_pr_store_int(&spin_started, 1);
    while (!ck_pr_load_int(&spin_stop))
        for (int i = 0; i < 100000; i++)
            x = x * 31 + (uint64_t)i;
    return x;
}

static void *spinner(void *arg)
{
    (void)arg;
    pprof_test_spin();
    return NULL;
}

static uint8_t *gunzip(const uint8_t *in, size_t len, size_t *out_len)
{
    z_stream zs = {0};
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return NULL;
    size_t cap = len * 8 + 1024, n = 0;
    uint8_t *out = berth_malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    int r;
    do {
        if (n == cap) {
            cap *= 2;
            out = berth_realloc(out, cap);
        }
        zs.next_out = out + n;
        zs.avail_out = (uInt)(cap - n);
        r = inflate(&zs, Z_NO_FLUSH);
        n = cap - zs.avail_out;
    } while (r == Z_OK);
    inflateEnd(&zs);
    if (r != Z_STREAM_END) {
        berth_free(out);
        return NULL;
    }
    *out_len = n;
    return out;
}

static void test_counting(void)
{
    berth_pprof_t *p = berth_pprof_new(10000000);
    uintptr_t a[] = {0x1000, 0x2000, 0x3000};
    uintptr_t b[] = {0x1000, 0x2000};
    berth_pprof_add(p, a, 3, 1);
    berth_pprof_add(p, a, 3, 1);
    berth_pprof_add(p, b, 2, 1);
    berth_pprof_add(p, b, 0, 1); /* an empty stack is no sample */
    berth_pprof_add(p, b, 2, 0); /* nor a weightless one */
    for (uintptr_t i = 0; i < 5000; i++) {
        uintptr_t c[] = {0x5000 + i, 0x2000};
        berth_pprof_add(p, c, 2, 1);
    }
    berth_pprof_add(p, a, 3, 4); /* one signal for 4 periods */
    check(berth_pprof_samples(p) == 5007 && berth_pprof_stacks(p) == 5002,
          "equal stacks share one entry (%" PRIu64 " samples, %zu stacks), growth keeps them",
          berth_pprof_samples(p), berth_pprof_stacks(p));
    berth_bytebuf_t out = {0};
    berth_err_t err = NULL;
    ok(berth_pprof_encode(p, 1, 2, &out, &err) == 0 && out.len > 20 && out.data[0] == 0x1f &&
               out.data[1] == 0x8b,
       "a profile of unmapped addresses still encodes (gzip magic)");
    berth_bytebuf_free(&out);
    berth_pprof_free(p);
}

static void test_session(void)
{
    pthread_t t;
    pthread_create(&t, NULL, spinner, NULL);
    while (!ck_pr_load_int(&spin_started))
        usleep(1000);
    berth_bytebuf_t out = {0};
    berth_err_t err = NULL;
    int rc = berth_pprof_collect(1, 200, &out, &err);
    ck_pr_store_int(&spin_stop, 1);
    pthread_join(t, NULL);
    if (!check(rc == 0, "a 1 s session at 200 Hz: %s", rc < 0 ? err->msg : "ok")) {
        berth_err_free(&err);
        return;
    }
    size_t len = 0;
    uint8_t *raw = gunzip(out.data, out.len, &len);
    ok(raw != NULL, "the profile is gzip'd");
    Perftools__Profiles__Profile *pr =
            raw ? perftools__profiles__profile__unpack(NULL, len, raw) : NULL;
    if (!ok(pr != NULL, "it unpacks as profile.proto")) {
        berth_free(raw);
        berth_bytebuf_free(&out);
        return;
    }
    int64_t total = 0;
    bool ids_ok = true;
    for (size_t i = 0; i < pr->n_sample; i++) {
        total += pr->sample[i]->value[0];
        for (size_t k = 0; k < pr->sample[i]->n_location_id; k++)
            ids_ok &= pr->sample[i]->location_id[k] >= 1 &&
                      pr->sample[i]->location_id[k] <= pr->n_location;
    }
    printf("# %zu samples (%" PRId64 " counted), %zu locations, %zu functions, %zu mappings, "
           "%zu bytes gzip'd\n",
           pr->n_sample, total, pr->n_location, pr->n_function, pr->n_mapping, out.len);
    check(total >= 5, "samples for the spinning thread (%" PRId64 ")", total);
    ok(ids_ok, "every sample's location ids exist");
    ok(pr->n_sample_type == 2 && strcmp(pr->string_table[pr->sample_type[1]->type], "cpu") == 0 &&
               pr->period == 5000000,
       "sample types samples/count and cpu/nanoseconds, period 5 ms");
    bool named = false, exe_mapped = false;
    for (size_t i = 0; i < pr->n_function; i++)
        /* gcc may rename it pprof_test_spin.isra.0 */
        named |= strncmp(pr->string_table[pr->function[i]->name], "pprof_test_spin", 15) == 0;
    for (size_t i = 0; i < pr->n_mapping; i++)
        exe_mapped |= strstr(pr->string_table[pr->mapping[i]->filename], "pprof_test") != NULL;
    ok(named, "the spinning function (a static one) is named from the ELF symbol table");
    ok(exe_mapped, "the test executable is among the mappings");
    ok(pr->n_comment >= 1 &&
               strstr(pr->string_table[pr->comment[0]], "threads sampled at 200 Hz") != NULL,
       "a comment says what was sampled");
    perftools__profiles__profile__free_unpacked(pr, NULL);
    berth_free(raw);

    /* `go tool pprof` reads it, when Go is there. */
    const char *go = "/usr/local/go/bin/go";
    if (access(go, X_OK) == 0) {
        char path[] = "/tmp/berth-pprof-test-XXXXXX";
        int fd = mkstemp(path);
        bool wrote = fd >= 0 && write(fd, out.data, out.len) == (ssize_t)out.len;
        if (fd >= 0)
            close(fd);
        BERTH_AUTO_FREE char *cmd =
                berth_asprintf("HOME=${HOME:-/root} %s tool pprof -top %s 2>&1", go, path);
        FILE *f = wrote ? popen(cmd, "r") : NULL;
        bool seen = false;
        char line[512];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL)
            seen |= strstr(line, "pprof_test_spin") != NULL;
        int st = f ? pclose(f) : -1;
        unlink(path);
        ok(st == 0 && seen, "go tool pprof -top lists the spinning function");
    } else {
        printf("ok %d - # SKIP go tool pprof: %s not installed\n", ++ntest, go);
    }
    berth_bytebuf_free(&out);
}

int main(void)
{
    test_counting();
    test_session();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
