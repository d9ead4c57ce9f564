/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/checkpoint: locations accepted and refused, and an archive of a fake
 * checkpoint read back with libarchive: CRIU's images under checkpoint/,
 * config.dump, spec.dump, the log, and rootfs-diff.tar holding the upper
 * directory's files without its whiteouts (listed in deleted.files) and
 * without mount points; a failed write leaves nothing behind.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "engine/alloc.h"
#include "io/checkpoint.h"
#include "io/fs.h"
#include "tests/unit/check.h"
#include "tests/unit/tree.h"

static char root[64];

static char *at(const char *rel)
{
    return tree_at(root, rel);
}

static void put(const char *rel, const char *text)
{
    tree_put(root, rel, text);
}

static void test_locations(void)
{
    const char *good[] = {"/var/lib/kubelet/checkpoints/checkpoint-a_b-c-2026.tar", "/x.tar",
                          "/tmp/my..file.tar"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(good); i++) {
        berth_err_t err = NULL;
        check(berth_checkpoint_check_location(good[i], &err) == 0, "accepted: %s", good[i]);
        berth_err_free(&err);
    }
    const char *bad[] = {NULL,           "",
                         "x.tar",        "relative/x.tar",
                         "/tmp/x",       "/tmp/x.tar.gz",
                         "/tmp/.tar",    "/tmp/../etc/x.tar",
                         "/tmp/./x.tar", "/tmp/x.tar/",
                         "/tmp/a\nb.tar"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(bad); i++) {
        berth_err_t err = NULL;
        int rc = berth_checkpoint_check_location(bad[i], &err);
        check(rc < 0 && err && err->kind == BERTH_ERR_INVALID, "refused: %s",
              bad[i] == NULL                 ? "(null)"
              : strchr(bad[i], '\n') != NULL ? "(a path with a newline)"
                                             : bad[i]);
        berth_err_free(&err);
    }
}

/* Members of a tar (in memory or a file) with their contents, "name=text;..."
 * in order (directories as "name/"), for a compact comparison. */
static char *listing(struct archive *a)
{
    char *out = berth_strdup("");
    struct archive_entry *e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        char *next;
        if (archive_entry_filetype(e) == AE_IFREG) {
            size_t n = (size_t)archive_entry_size(e);
            char *buf = berth_calloc(1, n + 1);
            archive_read_data(a, buf, n);
            next = berth_asprintf("%s%s=%s;", out, name, buf);
            berth_free(buf);
        } else if (archive_entry_filetype(e) == AE_IFLNK) {
            next = berth_asprintf("%s%s->%s;", out, name, archive_entry_symlink(e));
        } else {
            next = berth_asprintf("%s%s;", out, name);
        }
        berth_free(out);
        out = next;
    }
    return out;
}

static char *member(const char *tar, const char *want, size_t *len)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    char *buf = NULL;
    if (archive_read_open_filename(a, tar, 10240) == ARCHIVE_OK) {
        struct archive_entry *e;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
            if (strcmp(archive_entry_pathname(e), want) != 0)
                continue;
            *len = (size_t)archive_entry_size(e);
            buf = berth_calloc(1, *len + 1);
            archive_read_data(a, buf, *len);
            break;
        }
    }
    archive_read_free(a);
    return buf;
}

static void test_round_trip(void)
{
    put("work/checkpoint/inventory.img", "inv");
    put("work/checkpoint/pages-1.img", "pages");
    put("work/checkpoint/sub/x.img", "x");
    put("work/dump.log", "dumped");
    put("bundle/config.json", "{\"ociVersion\":\"1.0.2\"}");
    put("logs/ctr.log", "2026-12-06T00:00:00Z stdout F 1\n");
    put("upper/data/counter", "41");
    put("upper/etc/hostname", "");
    BERTH_AUTO_FREE char *up = at("upper");
    BERTH_AUTO_FREE char *link = at("upper/data/link");
    symlink("/etc/passwd", link);
    BERTH_AUTO_FREE char *wo = at("upper/data/gone");
    bool have_whiteout = mknod(wo, S_IFCHR | 0, makedev(0, 0)) == 0;

    BERTH_AUTO_FREE char *work = at("work");
    BERTH_AUTO_FREE char *spec = at("bundle/config.json");
    BERTH_AUTO_FREE char *log = at("logs/ctr.log");
    BERTH_AUTO_FREE char *target = at("out/ckpt.tar");
    BERTH_AUTO_FREE char *outdir = at("out");
    mkdir(outdir, 0755);
    const char *skip[] = {"/etc/hostname", "/proc"};
    berth_ckpt_parts_t p = {
            .work_dir = work,
            .config_dump = "{\"id\":\"abc\"}",
            .spec_path = spec,
            .upper_dir = up,
            .skip = skip,
            .n_skip = 2,
            .log_path = log,
    };
    berth_err_t err = NULL;
    int rc = berth_checkpoint_write(&p, target, &err);
    check(rc == 0, "archive written: %s", err ? err->msg : "ok");
    berth_err_free(&err);
    struct stat st;
    check(stat(target, &st) == 0 && (st.st_mode & 0777) == 0600, "the archive is 0600");

    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_open_filename(a, target, 10240);
    BERTH_AUTO_FREE char *l = listing(a);
    archive_read_free(a);
    BERTH_AUTO_FREE char *shown = berth_strdup(l); /* one TAP line */
    for (char *q = shown; (q = strchr(q, '\n')) != NULL;)
        *q = '|';
    check(strstr(l, "checkpoint/;") && strstr(l, "checkpoint/inventory.img=inv;") &&
                  strstr(l, "checkpoint/pages-1.img=pages;") && strstr(l, "checkpoint/sub/;") &&
                  strstr(l, "checkpoint/sub/x.img=x;"),
          "CRIU's images under checkpoint/: %s", shown);
    ok(strstr(l, "dump.log=dumped;") != NULL, "dump.log");
    ok(strstr(l, "config.dump={\"id\":\"abc\"};") != NULL, "config.dump");
    ok(strstr(l, "spec.dump={\"ociVersion\":\"1.0.2\"};") != NULL, "spec.dump is the spec");
    ok(strstr(l, "io.kubernetes.cri-o.LogPath=2026-12-06T00:00:00Z stdout F 1\n;") != NULL,
       "the log under CRI-O's member name");
    ok(strstr(l, "rootfs-diff.tar=") != NULL, "rootfs-diff.tar");
    ok(strstr(l, "stats-dump") == NULL, "no stats-dump where CRIU wrote none");

    size_t n = 0;
    BERTH_AUTO_FREE char *diff = member(target, "rootfs-diff.tar", &n);
    struct archive *d = archive_read_new();
    archive_read_support_format_tar(d);
    BERTH_AUTO_FREE char *dl = NULL;
    if (diff && archive_read_open_memory(d, diff, n) == ARCHIVE_OK)
        dl = listing(d);
    archive_read_free(d);
    check(dl && strstr(dl, "data/;") && strstr(dl, "data/counter=41;") &&
                  strstr(dl, "data/link->/etc/passwd;") && strstr(dl, "etc/;"),
          "the diff holds the upper files, links as links: %s", dl ? dl : "(none)");
    check(dl && !strstr(dl, "hostname") && !strstr(dl, "gone"),
          "mount points and whiteouts are not in the diff");
    if (have_whiteout) {
        BERTH_AUTO_FREE char *del = member(target, "deleted.files", &n);
        check(del && strcmp(del, "[\"/data/gone\"]") == 0, "deleted.files lists the whiteout: %s",
              del ? del : "(none)");
    } else {
        printf("ok %d # SKIP no whiteout: mknod 0/0 needs CAP_MKNOD\n", ++ntest);
    }
    BERTH_AUTO_FREE char *left = at("work/rootfs-diff.tar");
    ok(access(left, F_OK) < 0, "the diff's build file is removed from the work directory");
    size_t names = 0;
    char **v = berth_fs_list_names(outdir, &names);
    check(names == 1, "nothing but the archive beside it (%zu)", names);
    berth_strv_free(v);
}

static void test_failures(void)
{
    /* no images: CRIU wrote nothing */
    BERTH_AUTO_FREE char *empty = at("empty-work");
    mkdir(empty, 0755);
    BERTH_AUTO_FREE char *spec = at("bundle/config.json");
    BERTH_AUTO_FREE char *outdir = at("out2");
    mkdir(outdir, 0755);
    BERTH_AUTO_FREE char *target = at("out2/x.tar");
    berth_ckpt_parts_t p = {.work_dir = empty, .config_dump = "{}", .spec_path = spec};
    berth_err_t err = NULL;
    int rc = berth_checkpoint_write(&p, target, &err);
    check(rc < 0 && err && strstr(err->msg, "images"), "missing images fail: %s",
          err ? err->msg : "ok");
    berth_err_free(&err);
    size_t names = 0;
    char **v = berth_fs_list_names(outdir, &names);
    check(names == 0, "a failed write leaves nothing (%zu)", names);
    berth_strv_free(v);

    /* a spec that vanished: the failure comes after members were written */
    BERTH_AUTO_FREE char *work = at("work");
    BERTH_AUTO_FREE char *gone = at("bundle/none.json");
    p = (berth_ckpt_parts_t){.work_dir = work, .config_dump = "{}", .spec_path = gone};
    rc = berth_checkpoint_write(&p, target, &err);
    check(rc < 0 && err, "a missing spec fails: %s", err ? err->msg : "ok");
    berth_err_free(&err);
    v = berth_fs_list_names(outdir, &names);
    check(names == 0, "and leaves nothing half-written (%zu)", names);
    berth_strv_free(v);

    BERTH_AUTO_FREE char *nodir = at("no/such/dir/x.tar");
    p.spec_path = spec;
    rc = berth_checkpoint_write(&p, nodir, &err);
    check(rc < 0 && err && err->kind == BERTH_ERR_INVALID && strstr(err->msg, "does not exist"),
          "a missing directory is invalid: %s", err ? err->msg : "ok");
    berth_err_free(&err);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/checkpoint_test.XXXXXX");
    if (mkdtemp(root) == NULL) {
        printf("1..0 # SKIP no scratch directory\n");
        return 77;
    }
    test_locations();
    test_round_trip();
    test_failures();
    berth_fs_remove_tree(root);
    printf("1..%d\n", ntest);
    return nfail != 0;
}
