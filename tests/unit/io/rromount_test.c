/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/rromount on a scratch tree with a tmpfs submount, in a private mount
 * namespace of the test's own (so a failed run leaves no mount on the
 * node): the clone is read-only at every level while the host path stays
 * writable, a bind mount of the clone (what the runtime does) keeps the
 * submount read-only, a file source works, a missing source is NOT_FOUND
 * with nothing left behind, and the release detaches every mount and
 * removes the directory. Needs root and mount(2): skips (77) without them.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/fs.h"
#include "io/rromount.h"
#include "tests/unit/check.h"

static char root[64];

static char *at(const char *rel)
{
    return berth_asprintf("%s/%s", root, rel);
}

/* errno of creating a file at rel, 0 when it could be created */
static int touch_errno(const char *rel)
{
    BERTH_AUTO_FREE char *p = at(rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    close(fd);
    unlink(p);
    return 0;
}

/* whether a mount point is at abs path p in this namespace */
static bool mounted(const char *p)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return false;
    char line[4096];
    bool found = false;
    size_t n = strlen(p);
    while (fgets(line, sizeof(line), f)) {
        /* field 5 is the mount point */
        char *s = line;
        for (int i = 0; i < 4 && s; i++) {
            s = strchr(s, ' ');
            if (s)
                s++;
        }
        if (s && strncmp(s, p, n) == 0 && s[n] == ' ')
            found = true;
    }
    fclose(f);
    return found;
}

static void tree_tests(void)
{
    BERTH_AUTO_FREE char *src = at("src"), *sub = at("src/sub"), *dir = at("rro"),
                         *tgt = at("rro/0"), *bind = at("bind");
    mkdir(src, 0755);
    mkdir(sub, 0755);
    mkdir(dir, 0700);
    mkdir(bind, 0755);
    if (mount("tmpfs", sub, "tmpfs", 0, "size=1m") < 0) {
        printf("1..0 # skip mount tmpfs: %s\n", strerror(errno));
        exit(77);
    }
    berth_err_t err = NULL;
    check(berth_rro_make(src, tgt, &err) == 0, "clone made read-only (%s)", err ? err->msg : "ok");
    berth_err_free(&err);
    check(touch_errno("rro/0/x") == EROFS, "top level of the clone is read-only");
    check(touch_errno("rro/0/sub/x") == EROFS, "the submount in the clone is read-only");
    check(touch_errno("src/sub/x") == 0, "the host path's submount stays writable");
    check(touch_errno("src/x") == 0, "the host path stays writable");

    /* what runc and crun do with a bind source: MS_BIND|MS_REC, then a
     * top-level remount; the submount's read-only flag must survive */
    check(mount(tgt, bind, NULL, MS_BIND | MS_REC, NULL) == 0, "rbind of the clone");
    check(touch_errno("bind/sub/x") == EROFS, "a runtime's rbind keeps the submount read-only");
    umount2(bind, MNT_DETACH);

    /* a file source */
    BERTH_AUTO_FREE char *file = at("src/file"), *ftgt = at("rro/1");
    int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
    check(berth_rro_make(file, ftgt, &err) == 0, "a file source (%s)", err ? err->msg : "ok");
    berth_err_free(&err);
    check(open(ftgt, O_WRONLY | O_CLOEXEC) < 0 && errno == EROFS, "the file is read-only");

    /* a missing source: NOT_FOUND, no mount point left */
    BERTH_AUTO_FREE char *missing = at("nope"), *mtgt = at("rro/2");
    int r = berth_rro_make(missing, mtgt, &err);
    check(r < 0 && err && err->kind == BERTH_ERR_NOT_FOUND, "a missing host path is NOT_FOUND (%s)",
          err ? err->msg : "no error");
    berth_err_free(&err);
    check(access(mtgt, F_OK) < 0, "nothing left for the failed mount");

    check(mounted(tgt), "the clone is in mountinfo");
    check(berth_rro_release_dir(dir, &err) == 0, "release (%s)", err ? err->msg : "ok");
    berth_err_free(&err);
    check(!mounted(tgt) && !mounted(ftgt), "released: no mount left");
    check(access(dir, F_OK) < 0, "released: the directory is gone");
    check(berth_rro_release_dir(dir, &err) == 0, "releasing a missing directory is fine");
    check(touch_errno("src/sub/x") == 0, "the host path is untouched by the release");
    umount2(sub, MNT_DETACH);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("1..0 # skip needs root\n");
        return 77;
    }
    if (!berth_rro_supported()) {
        printf("1..0 # skip the kernel has no mount_setattr\n");
        return 77;
    }
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        printf("1..0 # skip private mount namespace: %s\n", strerror(errno));
        return 77;
    }
    snprintf(root, sizeof(root), "/tmp/berth-rro-test.XXXXXX");
    if (mkdtemp(root) == NULL) {
        printf("1..0 # skip mkdtemp: %s\n", strerror(errno));
        return 77;
    }
    tree_tests();
    berth_fs_remove_tree(root);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
