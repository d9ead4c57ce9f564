// SPDX-License-Identifier: Apache-2.0
/*
 * io/imagevol: a two-layer image mounts read-only as one view (the top
 * layer wins), a one-layer image as a read-only bind, a second mount of a
 * volume reuses the first, sub paths resolve inside the image whatever
 * their symlinks say (and fail NOT_FOUND or INVALID as they should), the
 * unmount removes the volume directory, and the sweep removes exactly the
 * volumes nobody keeps. Needs root and overlayfs: exits 77 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/imagevol.h"
#include "io/store.h"
#include "io/unpack.h"
#include "tests/unit/check.h"

#define KEY_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define KEY_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static void put(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

static char *get(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char buf[128] = {0};
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    return berth_strndup(buf, n);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static bool mounted(const char *path)
{
    struct statx stx;
    return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
           (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static char *mkd(const char *tmp, const char *rel)
{
    char *p = berth_asprintf("%s/%s", tmp, rel);
    berth_store_mkdir_p(p, 0755, NULL);
    return p;
}

static void subpath_tests(const char *root)
{
    char real[PATH_MAX];
    if (realpath(root, real) == NULL)
        real[0] = '\0';
    char *out = NULL;
    berth_err_t err = NULL;

    int r = berth_imagevol_subpath(root, "etc", &out, &err);
    BERTH_AUTO_FREE char *want = berth_asprintf("%s/etc", real);
    check(r == 0 && out && strcmp(out, want) == 0, "sub path etc -> %s", out ? out : "?");
    berth_free(out);
    out = NULL;

    r = berth_imagevol_subpath(root, "", &out, &err);
    check(r == 0 && out && strcmp(out, real) == 0, "an empty sub path is the whole image");
    berth_free(out);
    out = NULL;

    r = berth_imagevol_subpath(root, "etc/passwd", &out, &err);
    check(r == 0 && out && strstr(out, "/etc/passwd"), "a sub path may name a file");
    berth_free(out);
    out = NULL;

    /* /escape -> / (absolute): resolved inside the image, not the host's / */
    r = berth_imagevol_subpath(root, "escape", &out, &err);
    check(r == 0 && out && strcmp(out, real) == 0,
          "an absolute symlink resolves inside the image (%s)", out ? out : err->msg);
    berth_free(out);
    out = NULL;
    berth_err_free(&err);

    /* up -> ../../../../.. : clamped at the image's root */
    r = berth_imagevol_subpath(root, "up/etc", &out, &err);
    check(r == 0 && out && strcmp(out, want) == 0,
          "a relative symlink climbing out stays at the image's root (%s)", out ? out : err->msg);
    berth_free(out);
    out = NULL;
    berth_err_free(&err);

    r = berth_imagevol_subpath(root, "not-existing", &out, &err);
    check(r < 0 && err && err->kind == BERTH_ERR_NOT_FOUND && strstr(err->msg, "not-existing"),
          "a missing sub path is NOT_FOUND naming it (%s)", err ? err->msg : "no error");
    berth_err_free(&err);

    r = berth_imagevol_subpath(root, "etc/passwd/x", &out, &err);
    check(r < 0 && err && err->kind == BERTH_ERR_NOT_FOUND, "a path through a file is NOT_FOUND");
    berth_err_free(&err);

    r = berth_imagevol_subpath(root, "../etc", &out, &err);
    check(r < 0 && err && err->kind == BERTH_ERR_INVALID, "\"..\" is INVALID (%s)",
          err ? err->msg : "no error");
    berth_err_free(&err);

    r = berth_imagevol_subpath(root, "/etc", &out, &err);
    check(r < 0 && err && err->kind == BERTH_ERR_INVALID, "an absolute sub path is INVALID");
    berth_err_free(&err);

    r = berth_imagevol_subpath(root, "dev/fifo", &out, &err);
    check(r < 0 && err && err->kind == BERTH_ERR_INVALID, "a fifo is INVALID");
    berth_err_free(&err);

    ok(berth_imagevol_check_subpath("a/..b/c..", NULL) == 0, "names with dots are fine");
    ok(berth_imagevol_check_subpath("a//b/", NULL) == 0, "repeated slashes are fine");
    ok(berth_imagevol_check_subpath("a/../b", NULL) < 0, "a \"..\" component is refused");
    ok(berth_imagevol_check_subpath("..", NULL) < 0, "\"..\" alone is refused");
    ok(berth_imagevol_check_subpath(NULL, NULL) == 0, "no sub path is fine");
}

int main(void)
{
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root for mounts\n");
        return 77;
    }
    char tmpl[] = "/tmp/berth-imagevol-test.XXXXXX";
    const char *tmp = mkdtemp(tmpl);
    if (tmp == NULL)
        return 99;
    BERTH_AUTO_FREE char *vols = mkd(tmp, "vols");
    BERTH_AUTO_FREE char *bottom = mkd(tmp, "l0");
    BERTH_AUTO_FREE char *top = mkd(tmp, "l1");
    BERTH_AUTO_FREE char *dev0 = mkd(tmp, "l0/dev");
    BERTH_AUTO_FREE char *etc1 = mkd(tmp, "l1/etc");
    BERTH_AUTO_FREE char *f0 = berth_asprintf("%s/which", bottom);
    BERTH_AUTO_FREE char *f1 = berth_asprintf("%s/which", top);
    BERTH_AUTO_FREE char *pw = berth_asprintf("%s/passwd", etc1);
    BERTH_AUTO_FREE char *only0 = berth_asprintf("%s/only0", bottom);
    BERTH_AUTO_FREE char *esc = berth_asprintf("%s/escape", bottom);
    BERTH_AUTO_FREE char *up = berth_asprintf("%s/up", bottom);
    BERTH_AUTO_FREE char *fifo = berth_asprintf("%s/fifo", dev0);
    put(f0, "bottom");
    put(f1, "top");
    put(pw, "root:x:0:0::/root:/bin/sh\n");
    put(only0, "0");
    if (symlink("/", esc) < 0 || symlink("../../../../..", up) < 0 || mkfifo(fifo, 0600) < 0)
        return 99;

    /* two layers: a read-only overlay */
    const char *lowers[] = {top, bottom};
    char *path = NULL;
    berth_err_t err = NULL;
    int r = berth_imagevol_mount(vols, KEY_A, lowers, 2, &path, &err);
    if (r < 0 && err && (err->errnum == ENODEV || err->errnum == EPERM)) {
        printf("1..0 # SKIP no overlayfs here: %s\n", err->msg);
        berth_err_free(&err);
        berth_unpack_remove_tree(tmp, NULL);
        return 77;
    }
    check(r == 0 && path, "a two-layer volume mounts%s%s", err ? ": " : "", err ? err->msg : "");
    berth_err_free(&err);
    if (r == 0) {
        BERTH_AUTO_FREE char *which = berth_asprintf("%s/which", path);
        BERTH_AUTO_FREE char *w = get(which);
        check(w && strcmp(w, "top") == 0, "the top layer wins (which=%s)", w ? w : "?");
        BERTH_AUTO_FREE char *o = berth_asprintf("%s/only0", path);
        ok(exists(o), "the bottom layer's files are visible");
        BERTH_AUTO_FREE char *nf = berth_asprintf("%s/new", path);
        int fd = open(nf, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        check(fd < 0 && errno == EROFS, "writing is refused with EROFS");
        if (fd >= 0)
            close(fd);
        subpath_tests(path);

        char *again = NULL;
        r = berth_imagevol_mount(vols, KEY_A, lowers, 2, &again, &err);
        check(r == 0 && again && strcmp(again, path) == 0, "mounting it again reuses the mount");
        berth_free(again);
        berth_err_free(&err);
        ok(berth_imagevol_unmount(vols, KEY_A, NULL) == 0 && !mounted(path) && !exists(path),
           "one unmount takes it down and removes its directory");
        berth_free(path);
        path = NULL;
    }

    /* one layer: a read-only bind */
    const char *one[] = {bottom};
    r = berth_imagevol_mount(vols, KEY_B, one, 1, &path, &err);
    check(r == 0 && path && mounted(path), "a one-layer volume mounts%s%s", err ? ": " : "",
          err ? err->msg : "");
    berth_err_free(&err);
    if (r == 0) {
        BERTH_AUTO_FREE char *which = berth_asprintf("%s/which", path);
        BERTH_AUTO_FREE char *w = get(which);
        check(w && strcmp(w, "bottom") == 0, "the layer is visible (which=%s)", w ? w : "?");
        BERTH_AUTO_FREE char *nf = berth_asprintf("%s/new", path);
        int fd = open(nf, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        check(fd < 0 && errno == EROFS, "the bind is read-only too");
        if (fd >= 0)
            close(fd);
        ok(!exists(nf), "and the layer is untouched");
    }

    /* the sweep: B unclaimed goes, C kept stays */
    char *pc = NULL;
    r = berth_imagevol_mount(vols, KEY_C, one, 1, &pc, NULL);
    const char *keep[] = {KEY_C};
    unsigned removed = 0;
    berth_imagevol_sweep(vols, keep, 1, &removed);
    check(removed == 1 && !exists(path) && mounted(pc), "the sweep removes only unkept volumes");
    ok(berth_imagevol_unmount(vols, KEY_C, NULL) == 0 && !exists(pc), "the kept one unmounts");
    ok(berth_imagevol_unmount(vols, KEY_C, NULL) == 0, "unmounting a missing volume succeeds");
    berth_free(path);
    berth_free(pc);

    ok(berth_imagevol_mount(vols, "../x", one, 1, &path, NULL) < 0, "a bad key is refused");
    ok(berth_imagevol_mount(vols, KEY_A, one, 0, &path, NULL) < 0, "no layers is refused");
    ok(exists(only0) && exists(f0), "the layers survive everything");

    berth_unpack_remove_tree(tmp, NULL);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
