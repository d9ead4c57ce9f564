/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/unpack: real layer tarballs written here with libarchive's writer
 * (plain, gzip, zstd), unpacked and checked on disk: content, links, modes,
 * owners, times, xattrs, whiteouts, opaque dirs; then every escape attempt
 * and limit, each of which must be refused naming the entry and must leave
 * the sentinel directory beside the layer untouched.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "engine/alloc.h"
#include "io/unpack.h"
#include "tests/unit/check.h"

static char base[] = "/tmp/berth-unpack-XXXXXX";
static char sentinel[256];

enum { F_NONE, F_GZIP, F_ZSTD };

struct ent {
    char type; /* f file, d dir, l symlink, h hardlink, p fifo, c chardev */
    const char *path;
    const char *data; /* file content or link target */
    int mode;
    size_t zeros;      /* file: this many zero bytes instead of data */
    const char *xattr; /* "name=value" */
};

static void write_archive(const char *path, int filter, const struct ent *ents, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (filter == F_GZIP)
        archive_write_add_filter_gzip(a);
    else if (filter == F_ZSTD)
        archive_write_add_filter_zstd(a);
    if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
        fprintf(stderr, "archive open: %s\n", archive_error_string(a));
        exit(1);
    }
    static char zbuf[1 << 16];
    for (size_t i = 0; i < n; i++) {
        const struct ent *x = &ents[i];
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, x->path);
        archive_entry_set_mtime(e, 1000000000 + (time_t)i, 0);
        archive_entry_set_uid(e, 1234);
        archive_entry_set_gid(e, 5678);
        size_t size = 0;
        switch (x->type) {
        case 'f':
            archive_entry_set_filetype(e, AE_IFREG);
            size = x->zeros ? x->zeros : (x->data ? strlen(x->data) : 0);
            break;
        case 'd':
            archive_entry_set_filetype(e, AE_IFDIR);
            break;
        case 'l':
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, x->data);
            break;
        case 'h':
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, x->data);
            break;
        case 'p':
            archive_entry_set_filetype(e, AE_IFIFO);
            break;
        case 'c':
            archive_entry_set_filetype(e, AE_IFCHR);
            archive_entry_set_rdevmajor(e, 1);
            archive_entry_set_rdevminor(e, 3);
            break;
        }
        archive_entry_set_perm(e, x->mode ? x->mode : (x->type == 'd' ? 0755 : 0644));
        archive_entry_set_size(e, size);
        if (x->xattr) {
            char name[64];
            const char *eq = strchr(x->xattr, '=');
            snprintf(name, sizeof(name), "%.*s", (int)(eq - x->xattr), x->xattr);
            archive_entry_xattr_add_entry(e, name, eq + 1, strlen(eq + 1));
        }
        archive_write_header(a, e);
        if (x->type == 'f') {
            if (x->zeros) {
                for (size_t left = x->zeros; left > 0;) {
                    size_t k = left < sizeof(zbuf) ? left : sizeof(zbuf);
                    archive_write_data(a, zbuf, k);
                    left -= k;
                }
            } else if (size) {
                archive_write_data(a, x->data, size);
            }
        }
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static char *read_file(const char *path)
{
    static char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static bool dir_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n == 0;
}

static int seq;

/* Unpacks ents with the given filter into a fresh dest; returns its path. */
static int unpack(int filter, const struct ent *ents, size_t n, const berth_unpack_limits_t *lim,
                  berth_unpack_stats_t *st, char *dest, size_t destlen, berth_err_t *err)
{
    char blob[300];
    seq++;
    snprintf(blob, sizeof(blob), "%s/blob-%d", base, seq);
    snprintf(dest, destlen, "%s/layer-%d", base, seq);
    write_archive(blob, filter, ents, n);
    return berth_unpack_layer(blob, dest, lim, st, err);
}

static void test_content(int filter, const char *fname)
{
    const struct ent ents[] = {
            {'d', "./etc/", NULL, 0755},
            {'f', "./etc/hosts", "127.0.0.1 localhost\n", 0640, 0, "user.berth=yes"},
            {'d', "bin", NULL, 0711},
            {'f', "bin/busybox", "#!busybox", 04755},
            {'h', "bin/sh", "bin/busybox"},
            {'l', "bin/ls", "busybox"},
            {'l', "abs", "/etc/passwd"},
            {'p', "run/fifo", NULL, 0600},
            {'f', "deep/a/b/c", "implicit parents"},
            {'f', "dup", "first"},
            {'f', "dup", "second"},
    };
    char dest[300], p[400];
    berth_unpack_stats_t st;
    berth_err_t err = NULL;
    int rc = unpack(filter, ents, BERTH_ARRAY_LEN(ents), NULL, &st, dest, sizeof(dest), &err);
    if (!check(rc == 0, "%s: layer unpacks (%s)", fname, err ? err->msg : "ok"))
        return;
    snprintf(p, sizeof(p), "%s/etc/hosts", dest);
    const char *c = read_file(p);
    check(c && strcmp(c, "127.0.0.1 localhost\n") == 0, "%s: file content", fname);
    struct stat s1, s2;
    stat(p, &s1);
    check((s1.st_mode & 07777) == 0640 && s1.st_uid == 1234 && s1.st_gid == 5678 &&
                  s1.st_mtime == 1000000001,
          "%s: mode 0640, owner 1234:5678, mtime from the archive", fname);
    char xv[16] = "";
    ssize_t xn = getxattr(p, "user.berth", xv, sizeof(xv));
    check(xn == 3 && memcmp(xv, "yes", 3) == 0, "%s: xattr user.berth applied", fname);
    snprintf(p, sizeof(p), "%s/bin/busybox", dest);
    stat(p, &s1);
    check((s1.st_mode & 07777) == 04755, "%s: setuid mode kept after chown", fname);
    snprintf(p, sizeof(p), "%s/bin/sh", dest);
    stat(p, &s2);
    check(s1.st_ino == s2.st_ino && s2.st_nlink == 2, "%s: hard link shares the inode", fname);
    char lt[64] = "";
    snprintf(p, sizeof(p), "%s/bin/ls", dest);
    ssize_t ln = readlink(p, lt, sizeof(lt) - 1);
    check(ln == 7 && memcmp(lt, "busybox", 7) == 0, "%s: symlink target", fname);
    snprintf(p, sizeof(p), "%s/abs", dest);
    ln = readlink(p, lt, sizeof(lt) - 1);
    lstat(p, &s1);
    check(ln == 11 && s1.st_uid == 1234, "%s: absolute symlink stored as data, lchown'd", fname);
    snprintf(p, sizeof(p), "%s/run/fifo", dest);
    check(lstat(p, &s1) == 0 && S_ISFIFO(s1.st_mode), "%s: fifo", fname);
    snprintf(p, sizeof(p), "%s/deep/a/b/c", dest);
    c = read_file(p);
    check(c && strcmp(c, "implicit parents") == 0, "%s: missing parents created", fname);
    snprintf(p, sizeof(p), "%s/dup", dest);
    c = read_file(p);
    check(c && strcmp(c, "second") == 0, "%s: a later entry replaces an earlier one", fname);
    snprintf(p, sizeof(p), "%s/bin", dest);
    stat(p, &s1);
    check(S_ISDIR(s1.st_mode) && (s1.st_mode & 0777) == 0711 && s1.st_mtime == 1000000002,
          "%s: dir mode and mtime survive later entries", fname);
    check(st.entries == BERTH_ARRAY_LEN(ents) && st.bytes == 20 + 9 + 16 + 5 + 6,
          "%s: stats entries=%llu bytes=%llu", fname, (unsigned long long)st.entries,
          (unsigned long long)st.bytes);
    berth_err_free(&err);
}

static void test_whiteouts(void)
{
    const struct ent ents[] = {
            {'d', "etc", NULL},          {'f', "etc/.wh.motd", ""},
            {'d', "var/cache", NULL},    {'f', "var/cache/.wh..wh..opq", ""},
            {'f', "var/cache/new", "n"},
    };
    char dest[300], p[400];
    berth_unpack_stats_t st;
    berth_err_t err = NULL;
    int rc = unpack(F_GZIP, ents, BERTH_ARRAY_LEN(ents), NULL, &st, dest, sizeof(dest), &err);
    if (!check(rc == 0, "whiteout layer unpacks (%s)", err ? err->msg : "ok"))
        return;
    struct stat s;
    snprintf(p, sizeof(p), "%s/etc/motd", dest);
    if (st.xattr_whiteouts == 0)
        check(lstat(p, &s) == 0 && S_ISCHR(s.st_mode) && s.st_rdev == makedev(0, 0),
              ".wh.motd becomes a 0/0 character device");
    else
        check(lstat(p, &s) == 0 && S_ISREG(s.st_mode), ".wh.motd becomes an xattr whiteout");
    snprintf(p, sizeof(p), "%s/etc/.wh.motd", dest);
    check(lstat(p, &s) < 0 && errno == ENOENT, "the .wh. file itself is not written");
    snprintf(p, sizeof(p), "%s/var/cache", dest);
    char v[4] = "";
    check(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y',
          "opaque dir carries trusted.overlay.opaque=y");
    snprintf(p, sizeof(p), "%s/var/cache/.wh..wh..opq", dest);
    check(lstat(p, &s) < 0, "the opaque marker file is not written");
    check(st.whiteouts == 1 && st.opaque_dirs == 1, "stats count whiteouts and opaque dirs");
}

/* Each case must fail, name `needle` in the error, and leave the sentinel
 * (and the named outside paths) untouched. */
static void refused(const char *desc, const struct ent *ents, size_t n,
                    const berth_unpack_limits_t *lim, const char *needle)
{
    char dest[300];
    berth_err_t err = NULL;
    int rc = unpack(F_NONE, ents, n, lim, NULL, dest, sizeof(dest), &err);
    bool named = err && strstr(err->msg, needle) != NULL;
    check(rc < 0 && named, "%s: refused naming \"%s\" (%s)", desc, needle,
          err ? err->msg : "no error");
    check(dir_empty(sentinel), "%s: nothing written outside the layer", desc);
    berth_err_free(&err);
}

static void test_malicious(void)
{
    char outside_target[300];
    snprintf(outside_target, sizeof(outside_target), "%s", sentinel);
    {
        const struct ent e[] = {{'f', "../escape", "x"}};
        refused("dotdot path", e, 1, NULL, "../escape");
    }
    {
        const struct ent e[] = {{'f', "a/../../escape", "x"}};
        refused("inner dotdot path", e, 1, NULL, "a/../../escape");
    }
    {
        const struct ent e[] = {{'f', "/abs/path", "x"}};
        refused("absolute path", e, 1, NULL, "/abs/path");
    }
    {
        const struct ent e[] = {{'l', "link", "/"}, {'f', "link/tmp/berth-unpack-escaped", "x"}};
        refused("symlink to / then link/...", e, 2, NULL, "link/tmp/berth-unpack-escaped");
        struct stat s;
        check(stat("/tmp/berth-unpack-escaped", &s) < 0, "no file appeared at /tmp");
    }
    {
        char rel[300];
        /* up -> .. then up/<sentinel-name>/x would land in the sentinel. */
        snprintf(rel, sizeof(rel), "up/%s/x", strrchr(sentinel, '/') + 1);
        const struct ent e[] = {{'l', "up", ".."}, {'f', rel, "x"}};
        refused("symlink up -> .. then up/x", e, 2, NULL, rel);
    }
    {
        const struct ent e[] = {{'h', "passwd", "../../etc/passwd"}};
        refused("hard link to ../../etc/passwd", e, 1, NULL, "../../etc/passwd");
    }
    {
        const struct ent e[] = {{'h', "passwd", "/etc/passwd"}};
        refused("hard link to /etc/passwd", e, 1, NULL, "/etc/passwd");
    }
    {
        const struct ent e[] = {{'l', "etcl", "/etc"}, {'h', "passwd", "etcl/passwd"}};
        refused("hard link through a symlinked dir", e, 2, NULL, "etcl/passwd");
    }
    {
        const struct ent e[] = {{'d', "a", NULL},
                                {'f', "a/ok", "fine"},
                                {'l', "a", outside_target},
                                {'f', "a/x", "x"}};
        refused("dir a replaced by symlink a -> outside, then a/x", e, 4, NULL, "a/x");
    }
    {
        berth_unpack_limits_t lim = {.deny_devices = true};
        const struct ent e[] = {{'c', "dev/null", NULL, 0666}};
        refused("device node when not permitted", e, 1, &lim, "dev/null");
    }
    {
        berth_unpack_limits_t lim = {.max_total_bytes = 1 << 20};
        const struct ent e[] = {{'f', "small", "x"}, {'f', "bomb", NULL, 0, 8u << 20}};
        refused("bomb over the total byte limit", e, 2, &lim, "bomb");
    }
    {
        berth_unpack_limits_t lim = {.max_file_bytes = 1000};
        const struct ent e[] = {{'f', "big", NULL, 0, 2000}};
        refused("file over the single-file limit", e, 1, &lim, "big");
    }
    {
        berth_unpack_limits_t lim = {.max_entries = 3};
        const struct ent e[] = {
                {'f', "e1", "1"}, {'f', "e2", "2"}, {'f', "e3", "3"}, {'f', "e4", "4"}};
        refused("entries over the entry limit", e, 4, &lim, "e4");
    }
}

static void test_gzip_bomb(void)
{
    /* 64 MiB of zeros compress to ~64 KiB: the limit, not the disk, stops it. */
    char dest[300];
    berth_unpack_limits_t lim = {.max_total_bytes = 4 << 20};
    const struct ent e[] = {{'f', "zeros", NULL, 0, 64u << 20}};
    berth_err_t err = NULL;
    berth_unpack_stats_t st;
    int rc = unpack(F_GZIP, e, 1, &lim, &st, dest, sizeof(dest), &err);
    check(rc < 0 && err && strstr(err->msg, "zeros") && st.bytes == 0,
          "gzip bomb refused before writing (%s)", err ? err->msg : "no error");
    berth_err_free(&err);
}

/* The diff ID is the sha256 of the uncompressed tar stream, whatever the
 * compression: the same entries give one diff ID plain, gzip and zstd, and
 * it is the digest of the plain blob's bytes. */
static void test_diff_id(void)
{
    const struct ent e[] = {{'d', "d/", NULL, 0755}, {'f', "d/f", "hello\n", 0644}};
    char dest[300], ids[3][80];
    const int filters[3] = {F_NONE, F_GZIP, F_ZSTD};
    for (int i = 0; i < 3; i++) {
        berth_err_t err = NULL;
        berth_unpack_stats_t st;
        int rc = unpack(filters[i], e, 2, NULL, &st, dest, sizeof(dest), &err);
        snprintf(ids[i], sizeof(ids[i]), "%s", rc == 0 ? st.diff_id : "");
        berth_err_free(&err);
    }
    char blob[300], hex[BERTH_SHA256_HEX_LEN + 1], want[80];
    snprintf(blob, sizeof(blob), "%s/blob-%d", base, seq - 2); /* the plain one */
    berth_err_t err = NULL;
    berth_sha256_file(blob, hex, &err);
    berth_err_free(&err);
    snprintf(want, sizeof(want), "sha256:%s", hex);
    check(strcmp(ids[0], want) == 0, "plain tar: diff ID is the blob's own digest (%s)", ids[0]);
    check(strcmp(ids[1], want) == 0 && strcmp(ids[2], want) == 0,
          "gzip and zstd: the same diff ID as the plain tar");

    /* a layer that inflates past the limit (2 GiB from a small blob, the
     * review's case, scaled down) is RESOURCE_EXHAUSTED, even when no one
     * file is over it: the tar stream itself is bounded */
    berth_unpack_limits_t lim = {.max_total_bytes = 1 << 20, .max_entries = 16};
    const struct ent many[] = {{'f', "a", NULL, 0, 900u << 10}, {'f', "b", NULL, 0, 900u << 10}};
    berth_unpack_stats_t st;
    int rc = unpack(F_GZIP, many, 2, &lim, &st, dest, sizeof(dest), &err);
    check(rc < 0 && err && err->kind == BERTH_ERR_EXHAUSTED,
          "an inflating layer past the limit is RESOURCE_EXHAUSTED: %s", err ? err->msg : "none");
    berth_err_free(&err);
}

static void test_devices(void)
{
    if (geteuid() != 0) {
        printf("ok %d - # SKIP device node as root (not root)\n", ++ntest);
        return;
    }
    char dest[300], p[400];
    const struct ent e[] = {{'c', "dev/null", NULL, 0666}};
    berth_err_t err = NULL;
    int rc = unpack(F_NONE, e, 1, NULL, NULL, dest, sizeof(dest), &err);
    snprintf(p, sizeof(p), "%s/dev/null", dest);
    struct stat s;
    check(rc == 0 && lstat(p, &s) == 0 && S_ISCHR(s.st_mode) && s.st_rdev == makedev(1, 3),
          "device node created as root when permitted");
    berth_err_free(&err);
}

static void test_dest_rules(void)
{
    char blob[300], dest[300];
    snprintf(blob, sizeof(blob), "%s/blob-nonempty", base);
    snprintf(dest, sizeof(dest), "%s/nonempty", base);
    const struct ent e[] = {{'f', "a", "a"}};
    write_archive(blob, F_NONE, e, 1);
    mkdir(dest, 0755);
    char f[400];
    snprintf(f, sizeof(f), "%s/existing", dest);
    close(open(f, O_CREAT | O_WRONLY, 0644));
    berth_err_t err = NULL;
    check(berth_unpack_layer(blob, dest, NULL, NULL, &err) < 0 && err &&
                  strstr(err->msg, "not empty"),
          "a non-empty destination is refused");
    berth_err_free(&err);
    check(berth_unpack_remove_tree(dest, &err) == 0 && access(dest, F_OK) < 0,
          "remove_tree removes a layer dir");
    snprintf(blob, sizeof(blob), "%s/garbage", base);
    int fd = open(blob, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ssize_t w = write(fd, "this is not a tar archive at all, not even close....", 52);
    (void)w;
    close(fd);
    snprintf(dest, sizeof(dest), "%s/garbage-dest", base);
    check(berth_unpack_layer(blob, dest, NULL, NULL, &err) < 0 && err,
          "garbage blob is refused (%s)", err ? err->msg : "");
    berth_err_free(&err);
}

static void test_sha256(void)
{
    char path[300], hex[65];
    snprintf(path, sizeof(path), "%s/abc", base);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ssize_t w = write(fd, "abc", 3);
    (void)w;
    close(fd);
    berth_err_t err = NULL;
    check(berth_sha256_file(path, hex, &err) == 0 &&
                  strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") ==
                          0,
          "sha256_file of \"abc\"");
    berth_sha256_t h;
    berth_sha256_init(&h);
    berth_sha256_update(&h, "a", 1);
    berth_sha256_update(&h, "bc", 2);
    char hex2[65];
    berth_sha256_final(&h, hex2);
    berth_sha256_fini(&h);
    check(strcmp(hex, hex2) == 0, "streaming sha256 matches");
    check(berth_digest_valid(
                  "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") &&
                  !berth_digest_valid(
                          "sha256:"
                          "BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") &&
                  !berth_digest_valid("sha256:../../etc") &&
                  !berth_digest_valid(
                          "sha512:"
                          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") &&
                  !berth_digest_valid(
                          "sha256:"
                          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"),
          "digest validation accepts sha256:<64 lowercase hex> only");
    check(berth_sha256_file("/nonexistent/x", hex, &err) < 0 && err,
          "sha256_file error on a missing file");
    berth_err_free(&err);
}

int main(void)
{
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(sentinel, sizeof(sentinel), "%s/outside", base);
    mkdir(sentinel, 0755);
    test_content(F_NONE, "plain");
    test_content(F_GZIP, "gzip");
    test_content(F_ZSTD, "zstd");
    test_whiteouts();
    test_malicious();
    test_gzip_bomb();
    test_diff_id();
    test_devices();
    test_dest_rules();
    test_sha256();
    printf("1..%d\n", ntest);
    berth_err_t err = NULL;
    berth_unpack_remove_tree(base, &err);
    berth_err_free(&err);
    return nfail ? 1 : 0;
}
