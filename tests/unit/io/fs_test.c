/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/fs and io/podfiles on a scratch directory: mkdir -p, a tree removal
 * that does not follow a symlink out of the tree, records loaded with a torn
 * one skipped, unlink and mkdir of a parent where "already so" is fine, the
 * executable lookup, and a pod's files with its /dev/shm tmpfs (root; the
 * mount is skipped with a reason where tmpfs cannot be mounted).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/fs.h"
#include "io/podfiles.h"
#include "tests/unit/check.h"

static char root[64];

static char *at(const char *rel)
{
    return berth_asprintf("%s/%s", root, rel);
}

static void put(const char *rel, const char *text)
{
    BERTH_AUTO_FREE char *p = at(rel);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* The whole file, however long: /proc/self/mounts on a node with a
 * thousand pods' namespace pins runs to megabytes. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = berth_malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = berth_realloc(buf, cap);
        }
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static bool mounted(const char *path)
{
    BERTH_AUTO_FREE char *m = slurp("/proc/self/mounts");
    BERTH_AUTO_FREE char *needle = berth_asprintf(" %s ", path);
    return m && strstr(m, needle) != NULL;
}

static void fs_tests(void)
{
    berth_err_t err = NULL;
    BERTH_AUTO_FREE char *deep = at("a/b/c");
    check(berth_fs_mkdir_p(deep, 0700, &err) == 0 && exists(deep), "mkdir -p makes a/b/c");
    struct stat st;
    check(stat(deep, &st) == 0 && (st.st_mode & 0777) == 0700, "the last level gets the mode");
    check(berth_fs_mkdir_p(deep, 0700, &err) == 0, "an existing path is fine");
    put("file", "x");
    BERTH_AUTO_FREE char *under_file = at("file/sub");
    int rm = berth_fs_mkdir_p(under_file, 0755, &err);
    check(rm < 0 && err && strstr(err->msg, "file/sub"),
          "mkdir under a file fails naming the path: %s", err ? err->msg : "");
    berth_err_free(&err);

    /* a tree with a symlink pointing outside it */
    BERTH_AUTO_FREE char *outside = at("outside");
    mkdir(outside, 0755);
    put("outside/keep", "k");
    BERTH_AUTO_FREE char *tree = at("tree");
    BERTH_AUTO_FREE char *sub = at("tree/d/e");
    berth_fs_mkdir_p(sub, 0755, NULL);
    put("tree/d/e/f", "f");
    BERTH_AUTO_FREE char *link = at("tree/d/escape");
    check(symlink(outside, link) == 0, "a symlink out of the tree");
    check(berth_fs_remove_tree(tree) == 0 && !exists(tree), "remove_tree removes the tree");
    BERTH_AUTO_FREE char *keep = at("outside/keep");
    check(exists(keep), "and leaves what the symlink pointed to");
    check(berth_fs_remove_tree(tree) == 0, "a missing tree is fine");

    BERTH_AUTO_FREE char *rec = at("records");
    mkdir(rec, 0755);
    put("records/one.json", "{\"id\":\"1\"}");
    put("records/two.json", "{\"id\":\"2\"}");
    put("records/torn.json", "{\"id\":");
    put("records/other.txt", "{}");
    json_t **docs = NULL;
    size_t n = 0;
    berth_fs_load_records(rec, "test record", &docs, &n);
    check(n == 2, "load_records: two good *.json records, the torn one skipped (%zu)", n);
    for (size_t i = 0; i < n; i++)
        json_decref(docs[i]);
    berth_free(docs);
    BERTH_AUTO_FREE char *none = at("no-such-dir");
    berth_fs_load_records(none, "test record", &docs, &n);
    check(n == 0, "a missing directory has no records");
    berth_free(docs);

    BERTH_AUTO_FREE char *f = at("file");
    check(berth_fs_unlink(f, "test file", &err) == 0 && !exists(f), "unlink removes a file");
    check(berth_fs_unlink(f, "test file", &err) == 0, "unlink of a missing file is fine");
    int ru = berth_fs_unlink(outside, "test file", &err);
    check(ru < 0 && err && strstr(err->msg, "test file") && strstr(err->msg, "outside"),
          "unlink of a directory fails naming what and where: %s", err ? err->msg : "");
    berth_err_free(&err);

    BERTH_AUTO_FREE char *child = at("parent/child.json");
    BERTH_AUTO_FREE char *parent = at("parent");
    check(berth_fs_mkdir_parent(child, 0700, &err) == 0 && exists(parent),
          "mkdir_parent makes the holding directory");
    check(berth_fs_mkdir_parent(child, 0700, &err) == 0, "twice is fine");

    size_t nn = 9;
    char **names = berth_fs_list_names(rec, &nn);
    bool has_one = false;
    for (size_t i = 0; i < nn; i++)
        has_one |= strcmp(names[i], "one.json") == 0;
    check(nn == 4 && names[4] == NULL && has_one,
          "list_names: the four names, NULL-terminated, no . or .. (%zu)", nn);
    berth_strv_free(names);
    check(berth_fs_list_names(none, &nn) == NULL && nn == 0, "list_names of a missing dir");

    BERTH_AUTO_FREE char *small = at("records/one.json");
    char *text = NULL;
    check(berth_fs_read_small(small, 64, &text, &err) == 0 && text &&
                  strcmp(text, "{\"id\":\"1\"}") == 0,
          "read_small reads the whole file");
    berth_free(text);
    text = NULL;
    check(berth_fs_read_small(small, 10, &text, &err) == 0 && text && strlen(text) == 10,
          "a file of exactly max bytes is fine");
    berth_free(text);
    text = NULL;
    int rs = berth_fs_read_small(small, 9, &text, &err);
    check(rs < 0 && err && err->kind == BERTH_ERR_EXHAUSTED && strstr(err->msg, "one.json"),
          "one byte more is refused naming the file: %s", err ? err->msg : "");
    berth_err_free(&err);
    BERTH_AUTO_FREE char *big = at("big");
    FILE *bf = fopen(big, "w");
    for (int i = 0; bf && i < 5000; i++)
        fputs("0123456789", bf);
    if (bf)
        fclose(bf);
    check(berth_fs_read_small(big, 1 << 20, &text, &err) == 0 && text && strlen(text) == 50000,
          "a file larger than the first buffer is read whole");
    berth_free(text);
    rs = berth_fs_read_small(none, 64, &text, &err);
    check(rs < 0 && err && err->kind == BERTH_ERR_NOT_FOUND, "a missing file: NOT_FOUND");
    berth_err_free(&err);

    BERTH_AUTO_FREE char *sh = berth_fs_find_exec("sh");
    check(sh && sh[0] == '/' && access(sh, X_OK) == 0, "find_exec finds sh (%s)", sh ? sh : "-");
    BERTH_AUTO_FREE char *abs = berth_fs_find_exec("/bin/sh");
    check(abs && strcmp(abs, "/bin/sh") == 0, "an absolute executable is taken as is");
    check(berth_fs_find_exec("berth-no-such-binary") == NULL, "a missing name gives NULL");
    check(berth_fs_find_exec(keep) == NULL, "a file that is not executable gives NULL");
    const char *dirs[] = {"/nonexistent-berth", "/bin", NULL};
    BERTH_AUTO_FREE char *in = berth_fs_find_in(dirs, "sh");
    check(in && strcmp(in, "/bin/sh") == 0 && berth_fs_find_in(NULL, "sh") == NULL,
          "find_in: the first directory that has it, none for no directories (%s)", in ? in : "-");

    int fd = open(big, O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    rs = berth_fs_read_fd(fd, "the big file", 4096, BERTH_ERR_INVALID, &text, &got, &err);
    check(rs < 0 && err && err->errnum == EFBIG && err->kind == BERTH_ERR_INVALID &&
                  strcmp(err->msg, "the big file is larger than 4096 bytes") == 0,
          "read_fd: too large is the caller's code, naming what: %s", err ? err->msg : "");
    berth_err_free(&err);
    lseek(fd, 0, SEEK_SET);
    check(berth_fs_read_fd(fd, "the big file", 50000, BERTH_ERR_INVALID, &text, &got, &err) == 0 &&
                  got == 50000 && strlen(text) == 50000,
          "read_fd: exactly max bytes, and the length");
    berth_free(text);
    close(fd);
}

static void podfiles_tests(void)
{
    BERTH_AUTO_FREE char *dir = at("pod");
    berth_podfiles_t f = {.dir = dir,
                          .hostname = "podhost\n",
                          .hosts = "127.0.0.1 localhost\n",
                          .resolv = "nameserver 10.0.0.10\n",
                          .shm_size = 0};
    bool shm = true;
    berth_err_t err = NULL;
    check(berth_podfiles_make(&f, &shm, &err) == 0 && !shm, "make without shm");
    BERTH_AUTO_FREE char *hn = at("pod/hostname");
    BERTH_AUTO_FREE char *hs = at("pod/hosts");
    BERTH_AUTO_FREE char *rs = at("pod/resolv.conf");
    BERTH_AUTO_FREE char *a = slurp(hn);
    BERTH_AUTO_FREE char *b = slurp(hs);
    BERTH_AUTO_FREE char *c = slurp(rs);
    check(a && strcmp(a, "podhost\n") == 0 && b && strcmp(b, "127.0.0.1 localhost\n") == 0 && c &&
                  strcmp(c, "nameserver 10.0.0.10\n") == 0,
          "hostname, hosts and resolv.conf hold what was given");
    check(berth_podfiles_remove(dir) == 0 && !exists(dir), "remove takes the directory");
    check(berth_podfiles_remove(dir) == 0, "remove twice is fine");

    f.resolv = NULL;
    f.shm_size = 1 << 20;
    int r = berth_podfiles_make(&f, &shm, &err);
    BERTH_AUTO_FREE char *shmdir = at("pod/shm");
    if (r < 0 && err && err->errnum == EPERM) {
        printf("ok %d # skip no tmpfs mount here: %s\n", ++ntest, err->msg);
        berth_err_free(&err);
    } else {
        check(r == 0 && shm && mounted(shmdir), "make with shm mounts a tmpfs at DIR/shm (%s)",
              err ? err->msg : "no error");
        check(!exists(rs), "no resolv.conf when none is given");
        BERTH_AUTO_FREE char *m = slurp("/proc/self/mounts");
        check(m && strstr(m, "size=1024k"), "with the size asked for");
        berth_podfiles_release_shm(dir);
        check(!mounted(shmdir), "release_shm unmounts it");
        berth_podfiles_release_shm(dir);
        check(true, "release_shm when not mounted is fine");
        berth_podfiles_make(&f, &shm, &err);
        check(berth_podfiles_remove(dir) == 0 && !exists(dir) && !mounted(shmdir),
              "remove unmounts and removes");
    }
    BERTH_AUTO_FREE char *bad = at("no/such/parent/pod");
    f.dir = bad;
    f.shm_size = 0;
    int rb = berth_podfiles_make(&f, &shm, &err);
    check(rb < 0 && err && strstr(err->msg, "no/such/parent"),
          "a directory that cannot be made is named: %s", err ? err->msg : "");
    berth_err_free(&err);
}

/* A crash mid-write leaves NAME.json.tmp.* or NAME.json.staged beside the
 * records: a restart removes them and nothing else. */
static void sweep_tests(void)
{
    BERTH_AUTO_FREE char *dir = at("records");
    berth_fs_mkdir_p(dir, 0700, NULL);
    put("records/a.json", "{}");
    put("records/a.json.tmp.Xy12Ab", "{\"half");
    put("records/b.json.staged", "{}");
    put("records/c.json", "{}");
    put("records/notes.txt", "x");
    berth_fs_sweep_partial_records(dir, "test");
    BERTH_AUTO_FREE char *a = at("records/a.json"), *at_ = at("records/a.json.tmp.Xy12Ab"),
                         *b = at("records/b.json.staged"), *c = at("records/c.json"),
                         *t = at("records/notes.txt");
    ok(exists(a) && exists(c) && exists(t), "sweep: records and other files stay");
    ok(!exists(at_) && !exists(b), "sweep: temp and staged records go");
    BERTH_AUTO_FREE char *missing = at("missing");
    berth_fs_sweep_partial_records(missing, "test");
    ok(true, "sweep: a missing directory is nothing to do");
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/berth-fs-test.XXXXXX");
    if (mkdtemp(root) == NULL) {
        printf("1..0 # skip mkdtemp: %s\n", strerror(errno));
        return 0;
    }
    fs_tests();
    podfiles_tests();
    sweep_tests();
    berth_fs_remove_tree(root);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
