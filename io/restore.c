// SPDX-License-Identifier: Apache-2.0
/*
 * The checkpoint archive read back (io/restore.h), on libarchive. The
 * unpacking directory is new and private, and the archive may only put
 * plain files and directories there: with no symlink ever created below
 * it, an *at call under its fd with O_NOFOLLOW cannot be led outside.
 * Blocks: pool only.
 */
#include "io/restore.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "engine/alloc.h"
#include "io/blocking.h"
#include "io/checkpoint.h"
#include "io/fs.h"
#include "io/unpack.h"

/* A name the archive may use: relative, no empty, "." or ".." component
 * (a trailing '/' of a directory is allowed). */
static bool clean_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || name[0] == '/' || strchr(name, '\n'))
        return false;
    const char *p = name;
    while (*p) {
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (*end == '\0')
            break;
        p = end + 1;
        if (*p == '\0') /* "dir/" */
            break;
    }
    return true;
}

/* Makes each directory of rel (not its last component unless dir) under
 * dfd; existing ones must be directories, never links. */
static int make_parents(int dfd, char *rel, bool dir, berth_err_t *err, const char *member)
{
    size_t len = strlen(rel);
    while (len > 0 && rel[len - 1] == '/')
        rel[--len] = '\0';
    for (char *s = rel;; s++) {
        s = strchr(s, '/');
        if (s == NULL && !dir)
            return 0;
        if (s)
            *s = '\0';
        int rc = mkdirat(dfd, rel, 0755);
        int e = errno;
        struct stat st;
        bool ok = rc == 0 || (e == EEXIST && fstatat(dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                              S_ISDIR(st.st_mode));
        if (s)
            *s = '/';
        if (!ok)
            return berth_err_make(err, rc == 0 ? EEXIST : e, BERTH_ERR_INVALID,
                                  "member \"%s\": cannot make its directory: %s", member,
                                  strerror(rc == 0 ? EEXIST : e));
        if (s == NULL)
            return 0;
    }
}

static int member_fail(struct archive *a, const char *member, berth_err_t *err)
{
    int e = archive_errno(a);
    return berth_err_make(err, e > 0 ? e : EIO, BERTH_ERR_INVALID, "member \"%s\": %s", member,
                          archive_error_string(a) ?: "unreadable");
}

static const char *type_name(mode_t t)
{
    switch (t) {
    case AE_IFLNK:
        return "a symlink";
    case AE_IFCHR:
        return "a character device";
    case AE_IFBLK:
        return "a block device";
    case AE_IFIFO:
        return "a fifo";
    case AE_IFSOCK:
        return "a socket";
    default:
        return "not a regular file or directory";
    }
}

static int write_member(struct archive *a, int dfd, const char *member, uint64_t *total,
                        berth_err_t *err)
{
    BERTH_AUTO_FREE char *rel = berth_strdup(member);
    if (make_parents(dfd, rel, false, err, member) < 0)
        return -1;
    BERTH_AUTO_CLOSE int fd =
            openat(dfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return berth_err_make(err, errno, BERTH_ERR_INVALID, "member \"%s\": %s%s", member,
                              errno == EEXIST ? "given twice or over a directory: " : "",
                              strerror(errno));
    const void *buf;
    size_t n;
    la_int64_t off;
    int rc;
    while ((rc = archive_read_data_block(a, &buf, &n, &off)) == ARCHIVE_OK) {
        *total += n;
        if (*total > BERTH_RESTORE_MAX_BYTES)
            return berth_err_make(err, EFBIG, BERTH_ERR_INVALID,
                                  "member \"%s\": the archive holds more than %llu bytes", member,
                                  (unsigned long long)BERTH_RESTORE_MAX_BYTES);
        if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
            return berth_err_errno(err, errno ? errno : EIO, "member \"%s\": cannot write", member);
    }
    if (rc != ARCHIVE_EOF)
        return member_fail(a, member, err);
    return 0;
}

static int unpack_into(struct archive *a, int dfd, berth_err_t *err)
{
    struct archive_entry *e;
    uint64_t total = 0;
    unsigned members = 0;
    int rc;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
        const char *name = archive_entry_pathname(e);
        const char *shown = name ? name : "";
        if (++members > BERTH_RESTORE_MAX_MEMBERS)
            return berth_err_make(err, EFBIG, BERTH_ERR_INVALID,
                                  "member \"%s\": the archive has more than %u members", shown,
                                  BERTH_RESTORE_MAX_MEMBERS);
        if (!clean_name(name))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "member \"%s\": its name is absolute, empty or has a \".\" or "
                                  "\"..\" component",
                                  shown);
        if (archive_entry_hardlink(e) != NULL)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "member \"%s\" is a hard link (to \"%s\"); a checkpoint archive "
                                  "holds only files and directories",
                                  shown, archive_entry_hardlink(e));
        mode_t t = archive_entry_filetype(e);
        if (t == AE_IFDIR) {
            BERTH_AUTO_FREE char *rel = berth_strdup(name);
            if (make_parents(dfd, rel, true, err, name) < 0)
                return -1;
            continue;
        }
        if (t != AE_IFREG)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "member \"%s\" is %s; a checkpoint archive holds only files and "
                                  "directories",
                                  shown, type_name(t));
        if (write_member(a, dfd, name, &total, err) < 0)
            return -1;
    }
    if (rc != ARCHIVE_EOF) {
        int en = archive_errno(a);
        return berth_err_make(err, en > 0 ? en : EIO, BERTH_ERR_INVALID, "%s",
                              archive_error_string(a) ?: "not a readable tar archive");
    }
    return 0;
}

static int require(int dfd, const char *member, bool dir, berth_err_t *err)
{
    struct stat st;
    if (fstatat(dfd, member, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        (dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)))
        return 0;
    return berth_err_make(err, ENOENT, BERTH_ERR_INVALID,
                          "it has no %s%s member: not a checkpoint archive", member,
                          dir ? "/ (CRIU's images)" : "");
}

int berth_restore_unpack(const char *archive, const char *dest, berth_err_t *err)
{
    struct stat ast;
    if (stat(archive, &ast) < 0)
        return berth_err_make(err, errno, errno == ENOENT ? BERTH_ERR_NOT_FOUND : BERTH_ERR_INVALID,
                              "checkpoint archive %s: %s", archive, strerror(errno));
    if (!S_ISREG(ast.st_mode))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "checkpoint archive %s is not a regular file", archive);
    if (mkdir(dest, 0700) < 0)
        return berth_err_errno(err, errno, "cannot make %s", dest);
    int rc = -1;
    BERTH_AUTO_CLOSE int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    if (dfd < 0) {
        berth_err_errno(err, errno, "cannot open %s", dest);
    } else if (archive_read_open_filename(a, archive, 64 * 1024) != ARCHIVE_OK) {
        int en = archive_errno(a);
        berth_err_make(err, en > 0 ? en : EIO, BERTH_ERR_INVALID, "%s",
                       archive_error_string(a) ?: "cannot open");
    } else if (unpack_into(a, dfd, err) == 0 &&
               require(dfd, BERTH_CKPT_IMAGES_DIR, true, err) == 0 &&
               require(dfd, BERTH_CKPT_CONFIG_DUMP, false, err) == 0 &&
               require(dfd, BERTH_CKPT_SPEC_DUMP, false, err) == 0) {
        rc = 0;
    }
    archive_read_free(a);
    if (rc < 0) {
        berth_fs_remove_tree(dest);
        berth_err_prefix(err, "checkpoint archive %s", archive);
    }
    return rc;
}

/* ---- config.dump ---------------------------------------------------------------------------- */

static char *str_or(json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && s[0] ? berth_strdup(s) : dflt ? berth_strdup(dflt) : NULL;
}

int berth_restore_read_config(const char *dir, berth_restore_config_t *out, berth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/" BERTH_CKPT_CONFIG_DUMP, dir);
    BERTH_AUTO_FREE char *text = NULL;
    if (berth_fs_read_small(path, 1 << 20, &text, err) < 0)
        return berth_err_prefix(err, "config.dump");
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!json_is_object(o)) {
        bool parsed = o != NULL;
        json_decref(o);
        if (parsed)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "config.dump is not a JSON object");
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "config.dump is not JSON (%s at line %d)", je.text, je.line);
    }
    out->image = str_or(o, "rootfsImageName", NULL);
    if (out->image == NULL)
        out->image = str_or(o, "rootfsImage", NULL);
    out->image_ref = str_or(o, "rootfsImageRef", NULL);
    out->id = str_or(o, "id", "");
    out->name = str_or(o, "name", "");
    json_decref(o);
    if (out->image == NULL) {
        berth_restore_config_fini(out);
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "config.dump names no image (rootfsImageName or rootfsImage): the "
                              "root filesystem cannot be made");
    }
    return 0;
}

void berth_restore_config_fini(berth_restore_config_t *c)
{
    berth_free(c->id);
    berth_free(c->name);
    berth_free(c->image);
    berth_free(c->image_ref);
    memset(c, 0, sizeof(*c));
}

/* ---- the upper directory -------------------------------------------------------------------- */

/* deleted.files' path p becomes a whiteout in upper: a 0/0 character
 * device, made through the directories below upper without following any
 * link (rootfs-diff.tar may have planted some). */
static int whiteout(int ufd, const char *p, berth_err_t *err)
{
    const char *rel = p;
    while (*rel == '/') /* CRI-O lists them relative; absolute is the same place */
        rel++;
    if (!clean_name(rel) || rel[strlen(rel) - 1] == '/')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "deleted.files: \"%s\" is not a path inside the root filesystem", p);
    BERTH_AUTO_FREE char *copy = berth_strdup(rel);
    char *slash = strrchr(copy, '/');
    const char *leaf = copy;
    BERTH_AUTO_CLOSE int pfd = fcntl(ufd, F_DUPFD_CLOEXEC, 0);
    if (slash) {
        *slash = '\0';
        leaf = slash + 1;
        for (char *c = copy; c != NULL;) {
            char *next = strchr(c, '/');
            if (next)
                *next++ = '\0';
            if (mkdirat(pfd, c, 0755) < 0 && errno != EEXIST)
                return berth_err_errno(err, errno, "deleted.files: \"%s\"", p);
            int nfd = openat(pfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (nfd < 0)
                return berth_err_make(err, errno, BERTH_ERR_INVALID,
                                      "deleted.files: \"%s\" passes through %s, which is not a "
                                      "directory",
                                      p, c);
            close(pfd);
            pfd = nfd;
            c = next;
        }
    }
    /* A file rootfs-diff.tar put there too is replaced: deletion came last. */
    struct stat st;
    if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0; /* made again after the deletion: the directory wins */
        unlinkat(pfd, leaf, 0);
    }
    if (mknodat(pfd, leaf, S_IFCHR | 0000, makedev(0, 0)) < 0)
        return berth_err_errno(err, errno, "deleted.files: cannot hide \"%s\"", p);
    return 0;
}

int berth_restore_fill_upper(const char *dir, const char *upper, berth_err_t *err)
{
    BERTH_AUTO_FREE char *diff = berth_asprintf("%s/" BERTH_CKPT_ROOTFS_DIFF, dir);
    struct stat st;
    if (stat(diff, &st) == 0) {
        /* Devices in a container's diff are refused as in an image layer
         * pulled from a registry: the archive is no more trusted. */
        berth_unpack_limits_t lim = {.deny_devices = true};
        if (berth_unpack_layer(diff, upper, &lim, NULL, err) < 0)
            return berth_err_prefix(err, "rootfs-diff.tar");
    } else if (berth_fs_mkdir_p(upper, 0755, err) < 0) {
        return -1;
    }
    BERTH_AUTO_FREE char *dpath = berth_asprintf("%s/" BERTH_CKPT_DELETED_FILES, dir);
    BERTH_AUTO_FREE char *text = NULL;
    if (stat(dpath, &st) < 0)
        return 0;
    if (berth_fs_read_small(dpath, 16 << 20, &text, err) < 0)
        return berth_err_prefix(err, "deleted.files");
    json_error_t je;
    json_t *arr = json_loads(text, 0, &je);
    int rc = 0;
    if (!json_is_array(arr)) {
        rc = berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                            "deleted.files is not a JSON array of paths");
    } else {
        BERTH_AUTO_CLOSE int ufd = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ufd < 0)
            rc = berth_err_errno(err, errno, "cannot open %s", upper);
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            if (rc < 0)
                break;
            if (!json_is_string(v))
                rc = berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                    "deleted.files[%zu] is not a path", i);
            else
                rc = whiteout(ufd, json_string_value(v), err);
        }
    }
    json_decref(arr);
    return rc;
}

/* ---- spec.dump ------------------------------------------------------------------------------ */

static const berth_restore_bind_t *find_bind(const berth_restore_bind_t *v, size_t n,
                                             const char *dest)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].destination && strcmp(v[i].destination, dest) == 0)
            return &v[i];
    return NULL;
}

static bool is_bind(json_t *m)
{
    const char *type = json_string_value(json_object_get(m, "type"));
    if (type && strcmp(type, "bind") == 0)
        return true;
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(m, "options"), i, o)
    {
        const char *s = json_string_value(o);
        if (s && (strcmp(s, "bind") == 0 || strcmp(s, "rbind") == 0))
            return true;
    }
    return false;
}

/* Sets the mount's read-only option to ro. */
static void set_ro(json_t *m, bool ro)
{
    json_t *opts = json_object_get(m, "options");
    if (!json_is_array(opts)) {
        opts = json_array();
        json_object_set_new(m, "options", opts);
    }
    for (size_t i = json_array_size(opts); i-- > 0;) {
        const char *s = json_string_value(json_array_get(opts, i));
        if (s && (strcmp(s, "ro") == 0 || strcmp(s, "rw") == 0))
            json_array_remove(opts, i);
    }
    json_array_append_new(opts, json_string(ro ? "ro" : "rw"));
}

static int adapt_mounts(json_t *spec, const berth_restore_target_t *t, berth_err_t *err)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(spec, "mounts"), i, m)
    {
        const char *dest = json_string_value(json_object_get(m, "destination"));
        if (dest == NULL || !is_bind(m))
            continue;
        const berth_restore_bind_t *b = find_bind(t->pod_files, t->n_pod_files, dest);
        bool pod_file = b != NULL;
        if (b == NULL)
            b = find_bind(t->binds, t->n_binds, dest);
        if (b == NULL) {
            const char *src = json_string_value(json_object_get(m, "source"));
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "the checkpointed container bind-mounts %s at %s; the request's "
                                  "config.mounts must name %s too (its host_path on this node)",
                                  src ? src : "?", dest, dest);
        }
        json_object_set_new(m, "source", json_string(b->source));
        if (!pod_file)
            set_ro(m, b->readonly);
    }
    return 0;
}

static void adapt_namespaces(json_t *spec, const berth_restore_target_t *t)
{
    size_t i;
    json_t *ns;
    json_array_foreach(json_object_get(json_object_get(spec, "linux"), "namespaces"), i, ns)
    {
        const char *type = json_string_value(json_object_get(ns, "type"));
        const char *path = NULL;
        for (size_t k = 0; type && k < t->n_ns; k++)
            if (t->ns_types[k] && strcmp(t->ns_types[k], type) == 0)
                path = t->ns_paths[k];
        if (path)
            json_object_set_new(ns, "path", json_string(path));
        else
            json_object_del(ns, "path"); /* the old pod's: gone on this node */
    }
}

static json_t *object_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_object(v)) {
        v = json_object();
        json_object_set_new(o, key, v);
    }
    return v;
}

char *berth_restore_adapt_spec(const char *spec_text, const berth_restore_target_t *t,
                               berth_err_t *err)
{
    json_error_t je;
    json_t *spec = json_loads(spec_text ? spec_text : "", 0, &je);
    if (!json_is_object(spec) || !json_is_object(json_object_get(spec, "process"))) {
        if (spec)
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                           "spec.dump is not an OCI spec: it has no process");
        else
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "spec.dump is not JSON (%s at line %d)",
                           je.text, je.line);
        json_decref(spec);
        return NULL;
    }
    if (t->rootfs)
        json_object_set_new(object_at(spec, "root"), "path", json_string(t->rootfs));
    if (t->hostname)
        json_object_set_new(spec, "hostname", json_string(t->hostname));
    if (t->cgroups_path)
        json_object_set_new(object_at(spec, "linux"), "cgroupsPath", json_string(t->cgroups_path));
    adapt_namespaces(spec, t);
    if (adapt_mounts(spec, t, err) < 0) {
        json_decref(spec);
        return NULL;
    }
    json_t *ann = object_at(spec, "annotations");
    for (size_t i = 0; i < t->n_annotations; i++)
        if (t->annotations[2 * i] && t->annotations[2 * i + 1])
            json_object_set_new(ann, t->annotations[2 * i], json_string(t->annotations[2 * i + 1]));
    /* jansson's allocator is berth's in berthd, libc's in the tests. */
    char *text = json_dumps(spec, JSON_COMPACT);
    json_decref(spec);
    char *out = berth_strdup(text ? text : "{}");
    json_free_t fr;
    json_get_alloc_funcs(NULL, &fr);
    fr(text);
    return out;
}

int berth_restore_write_spec(const char *dir, const char *config_path, berth_err_t *err)
{
    BERTH_AUTO_FREE char *dump_path = berth_asprintf("%s/" BERTH_CKPT_SPEC_DUMP, dir);
    BERTH_AUTO_FREE char *dump = NULL;
    BERTH_AUTO_FREE char *made = NULL;
    if (berth_fs_read_small(dump_path, 16 << 20, &dump, err) < 0 ||
        berth_fs_read_small(config_path, 16 << 20, &made, err) < 0)
        return -1;
    json_t *m = json_loads(made, 0, NULL);
    if (!json_is_object(m)) {
        json_decref(m);
        return berth_err_make(err, EINVAL, BERTH_ERR_INTERNAL, "%s is not a JSON object",
                              config_path);
    }
    json_t *lin = json_object_get(m, "linux");
    json_t *nss = json_object_get(lin, "namespaces");
    json_t *mounts = json_object_get(m, "mounts");
    json_t *ann = json_object_get(m, "annotations");
    size_t n_ns = json_array_size(nss), n_m = json_array_size(mounts), n_a = json_object_size(ann);
    const char **types = berth_calloc(n_ns + 1, sizeof(char *));
    const char **paths = berth_calloc(n_ns + 1, sizeof(char *));
    berth_restore_bind_t *binds = berth_calloc(n_m + 1, sizeof(*binds));
    const char **pairs = berth_calloc(2 * n_a + 1, sizeof(char *));
    berth_restore_target_t t = {
            .rootfs = json_string_value(json_object_get(json_object_get(m, "root"), "path")),
            .hostname = json_string_value(json_object_get(m, "hostname")),
            .cgroups_path = json_string_value(json_object_get(lin, "cgroupsPath")),
            .ns_types = types,
            .ns_paths = paths,
            .pod_files = binds,
            .annotations = pairs,
    };
    size_t i;
    json_t *v;
    json_array_foreach(nss, i, v)
    {
        const char *path = json_string_value(json_object_get(v, "path"));
        if (path == NULL)
            continue;
        types[t.n_ns] = json_string_value(json_object_get(v, "type"));
        paths[t.n_ns++] = path;
    }
    json_array_foreach(mounts, i, v)
    {
        if (!is_bind(v))
            continue;
        binds[t.n_pod_files].destination = json_string_value(json_object_get(v, "destination"));
        binds[t.n_pod_files++].source = json_string_value(json_object_get(v, "source"));
    }
    const char *k;
    json_object_foreach(ann, k, v)
    {
        if (!json_is_string(v))
            continue;
        pairs[2 * t.n_annotations] = k;
        pairs[2 * t.n_annotations++ + 1] = json_string_value(v);
    }
    BERTH_AUTO_FREE char *out = berth_restore_adapt_spec(dump, &t, err);
    berth_free(types);
    berth_free(paths);
    berth_free(binds);
    berth_free(pairs);
    json_decref(m);
    if (out == NULL)
        return berth_err_prefix(err, "checkpoint archive");
    return berth_file_write_atomic(config_path, out, strlen(out), 0600, err);
}
