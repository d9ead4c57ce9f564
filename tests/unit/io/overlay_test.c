// SPDX-License-Identifier: Apache-2.0
/*
 * io/overlay: a 3-layer chain with a whiteout and an opaque directory gives
 * the merged view overlayfs promises (writes land in the container's upper
 * dir), and a 150-layer chain (far past mount(2)'s one page of options)
 * mounts through lowerdir+ or the short-link fallback. Needs root and
 * overlayfs: exits 77 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/overlay.h"
#include "io/store.h"
#include "io/unpack.h"

static int n_test, failed;
#define ok(cond, ...)                                                                              \
    do {                                                                                           \
        int c_ = !!(cond);                                                                         \
        printf("%s %d - ", c_ ? "ok" : "not ok", ++n_test);                                        \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        if (!c_)                                                                                   \
            failed++;                                                                              \
    } while (0)

static void put(const char *dir, const char *name, const char *content)
{
    BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

static char *get(const char *dir, const char *name)
{
    BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    if (f == NULL)
        return NULL;
    char buf[256] = {0};
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    return berth_strndup(buf, n);
}

static bool exists(const char *dir, const char *name)
{
    BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", dir, name);
    struct stat st;
    return lstat(p, &st) == 0;
}

static char *mkd(const char *fmt, const char *a, int i)
{
    char *p = berth_asprintf(fmt, a, i);
    berth_store_mkdir_p(p, 0755, NULL);
    return p;
}

int main(void)
{
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root for mounts\n");
        return 77;
    }
    char tmpl[] = "/tmp/berth-overlay-test.XXXXXX";
    const char *tmp = mkdtemp(tmpl);
    if (tmp == NULL)
        return 99;

    /* Three layers, bottom to top: base files; a whiteout of gone.txt and
     * an opaque dir/; a new a.txt. */
    BERTH_AUTO_FREE char *l1 = mkd("%s/l%d", tmp, 1);
    BERTH_AUTO_FREE char *l2 = mkd("%s/l%d", tmp, 2);
    BERTH_AUTO_FREE char *l3 = mkd("%s/l%d", tmp, 3);
    put(l1, "a.txt", "base");
    put(l1, "gone.txt", "base");
    BERTH_AUTO_FREE char *l1d = mkd("%s/l%d/dir", tmp, 1);
    put(l1d, "x", "x");
    put(l1d, "y", "y");
    BERTH_AUTO_FREE char *wh = berth_asprintf("%s/gone.txt", l2);
    int wr = mknod(wh, S_IFCHR | 0000, makedev(0, 0));
    BERTH_AUTO_FREE char *l2d = mkd("%s/l%d/dir", tmp, 2);
    int xr = setxattr(l2d, "trusted.overlay.opaque", "y", 1, 0);
    put(l2d, "z", "z");
    put(l3, "a.txt", "top");
    if (wr < 0 || xr < 0) {
        printf("1..0 # SKIP cannot make whiteouts here: %s\n", strerror(errno));
        return 77;
    }

    const char *lowers[] = {l3, l2, l1}; /* top first */
    berth_err_t err = NULL;
    BERTH_AUTO_FREE char *rootfs = NULL;
    int r = berth_overlay_container_mount(tmp, "ctr1", lowers, 3, &rootfs, &err);
    if (r < 0 && err && (err->errnum == ENODEV || err->errnum == EPERM)) {
        printf("1..0 # SKIP overlayfs unavailable: %s\n", err->msg);
        return 77;
    }
    ok(r == 0, "a 3-layer chain mounts%s%s", err ? ": " : "", err ? err->msg : "");
    berth_err_free(&err);
    if (r == 0) {
        BERTH_AUTO_FREE char *a = get(rootfs, "a.txt");
        ok(a && strcmp(a, "top") == 0, "the top layer's a.txt wins");
        ok(!exists(rootfs, "gone.txt"), "the whiteout hides gone.txt");
        ok(exists(rootfs, "dir/z") && !exists(rootfs, "dir/x") && !exists(rootfs, "dir/y"),
           "the opaque dir hides the lower dir's entries");
        put(rootfs, "new.txt", "written");
        BERTH_AUTO_FREE char *upper = berth_asprintf("%s/overlay-containers/ctr1/upper", tmp);
        ok(exists(upper, "new.txt") && !exists(l3, "new.txt"),
           "writes land in the container's upper dir, not in a layer");
        BERTH_AUTO_FREE char *again = NULL;
        ok(berth_overlay_container_mount(tmp, "ctr1", lowers, 3, &again, NULL) == 0 &&
                   strcmp(again, rootfs) == 0,
           "mounting the same container again reuses the mount");
        ok(berth_overlay_container_remove(tmp, "ctr1", NULL) == 0 &&
                   !exists(tmp, "overlay-"
                                "containers/ctr1"),
           "remove unmounts and deletes the container dir");
    }
    ok(berth_overlay_container_remove(tmp, "ctr1", NULL) == 0, "removing twice is fine");
    ok(berth_overlay_container_mount(tmp, "../evil", lowers, 3, &rootfs, &err) < 0 && err,
       "a container id with a slash is refused");
    berth_err_free(&err);

    /* 150 layers with long (store-like) paths: about 15 KiB of lowerdir. */
    enum { N = 150 };
    char *ls[N];
    for (int i = 0; i < N; i++) {
        /* top first: ls[0] is layer N-1 */
        int layer = N - 1 - i;
        ls[i] = berth_asprintf("%s/layers/%064d/diff", tmp, layer);
        berth_store_mkdir_p(ls[i], 0755, NULL);
        char name[32], content[32];
        snprintf(name, sizeof(name), "f%d", layer);
        snprintf(content, sizeof(content), "%d", layer);
        put(ls[i], name, content);
        put(ls[i], "which", content);
    }
    BERTH_AUTO_FREE char *target = mkd("%s/m%d", tmp, N);
    BERTH_AUTO_FREE char *links = berth_asprintf("%s/links", tmp);
    BERTH_AUTO_FREE char *up = mkd("%s/up%d", tmp, N);
    BERTH_AUTO_FREE char *wk = mkd("%s/wk%d", tmp, N);
    int method = 0;
    r = berth_overlay_mount((const char *const *)ls, N, up, wk, target, links, &method, &err);
    ok(r == 0 && method != BERTH_OVERLAY_MOUNT2, "150 layers mount (method %d)%s%s", method,
       err ? ": " : "", err ? err->msg : "");
    berth_err_free(&err);
    if (r == 0) {
        bool all = true;
        for (int i = 0; i < N; i++) {
            char name[32];
            snprintf(name, sizeof(name), "f%d", i);
            all &= exists(target, name);
        }
        ok(all, "all 150 layers' files are visible");
        BERTH_AUTO_FREE char *w = get(target, "which");
        ok(w && strcmp(w, "149") == 0, "the top layer wins (which=%s)", w ? w : "?");
        ok(berth_overlay_unmount(target, NULL) == 0 && !exists(target, "f0"),
           "the 150-layer overlay unmounts");
    }
    for (int i = 0; i < N; i++)
        berth_free(ls[i]);

    berth_unpack_remove_tree(tmp, NULL);
    printf("1..%d\n", n_test);
    return failed ? 1 : 0;
}
