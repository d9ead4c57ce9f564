// SPDX-License-Identifier: Apache-2.0
/*
 * CDI specs (see cdi.h). A spec is untrusted only as far as a root-owned
 * directory is: it is checked so that a malformed one fails with a message
 * naming it rather than with a half-edited container, and sizes are bounded
 * (4 MiB a file; a YAML one also by io/yamljson's depth and node limits).
 * Never applies anything itself.
 */
#include "io/cdi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "io/fs.h"
#include "io/yamljson.h"

#define CDI_FILE_MAX (4 << 20)

void berth_cdi_edits_init(berth_cdi_edits_t *e)
{
    e->env = json_array();
    e->device_nodes = json_array();
    e->mounts = json_array();
    e->hooks = json_array();
}

void berth_cdi_edits_fini(berth_cdi_edits_t *e)
{
    json_t **v[] = {&e->env, &e->device_nodes, &e->mounts, &e->hooks};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(v); i++) {
        if (*v[i])
            json_decref(*v[i]);
        *v[i] = NULL;
    }
}

static bool name_char(char c, const char *extra)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr(extra, c) != NULL;
}

static bool valid_part(const char *s, size_t n, const char *extra)
{
    if (n == 0 || n > 253 || !name_char(s[0], ""))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i], extra))
            return false;
    return true;
}

/* "vendor.com/class": vendor a domain-like name, class a simple one. */
static bool valid_kind(const char *k)
{
    const char *slash = strchr(k, '/');
    return slash && valid_part(k, (size_t)(slash - k), "._-") &&
           valid_part(slash + 1, strlen(slash + 1), "_-");
}

int berth_cdi_parse_name(const char *q, char **kind, char **dev, berth_err_t *err)
{
    const char *eq = q ? strchr(q, '=') : NULL;
    BERTH_AUTO_FREE char *k = eq ? berth_strndup(q, (size_t)(eq - q)) : NULL;
    if (eq == NULL || !valid_kind(k) || !valid_part(eq + 1, strlen(eq + 1), "_.:-"))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "CDI device \"%s\": not a fully qualified name "
                              "(vendor.com/class=device)",
                              q ? q : "");
    *kind = berth_steal_ptr(&k);
    *dev = berth_strdup(eq + 1);
    return 0;
}

/* ---- checking ------------------------------------------------------------------------------ */

static bool strings(json_t *a)
{
    size_t i;
    json_t *x;
    if (!json_is_array(a))
        return false;
    json_array_foreach(a, i, x) if (!json_is_string(x)) return false;
    return true;
}

static bool opt_type(json_t *o, const char *key, json_type type)
{
    json_t *v = json_object_get(o, key);
    return v == NULL || json_typeof(v) == type ||
           (type == JSON_INTEGER && json_is_integer(v) && json_integer_value(v) >= 0);
}

static bool abs_path(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && s[0] == '/';
}

static int check_edits(const char *name, const char *where, json_t *ed, berth_err_t *err)
{
    if (ed == NULL)
        return 0;
#define BAD(...) berth_err_make(err, EINVAL, BERTH_ERR_INVALID, __VA_ARGS__)
    if (!json_is_object(ed))
        return BAD("CDI spec %s: %s containerEdits is not an object", name, where);
    json_t *v = json_object_get(ed, "env");
    size_t i;
    json_t *x;
    if (v && !strings(v))
        return BAD("CDI spec %s: %s env is not an array of strings", name, where);
    json_array_foreach(v, i, x) if (strchr(json_string_value(x), '=') == NULL) return BAD(
            "CDI spec %s: %s env \"%s\" is not KEY=VALUE", name, where, json_string_value(x));
    v = json_object_get(ed, "deviceNodes");
    if (v && !json_is_array(v))
        return BAD("CDI spec %s: %s deviceNodes is not an array", name, where);
    json_array_foreach(v, i, x)
    {
        const char *t = json_string_value(json_object_get(x, "type"));
        const char *perm = json_string_value(json_object_get(x, "permissions"));
        if (!json_is_object(x) || !abs_path(x, "path") ||
            (json_object_get(x, "hostPath") && !abs_path(x, "hostPath")) ||
            !opt_type(x, "type", JSON_STRING) || !opt_type(x, "major", JSON_INTEGER) ||
            !opt_type(x, "minor", JSON_INTEGER) || !opt_type(x, "fileMode", JSON_INTEGER) ||
            !opt_type(x, "permissions", JSON_STRING) || !opt_type(x, "uid", JSON_INTEGER) ||
            !opt_type(x, "gid", JSON_INTEGER))
            return BAD("CDI spec %s: %s deviceNodes[%zu]: needs an absolute path (and "
                       "well-typed type, major, minor, fileMode, permissions)",
                       name, where, i);
        if (t && strcmp(t, "c") != 0 && strcmp(t, "b") != 0 && strcmp(t, "u") != 0 &&
            strcmp(t, "p") != 0)
            return BAD("CDI spec %s: %s deviceNodes[%zu]: type \"%s\" is not c, b, u or p", name,
                       where, i, t);
        if (perm && (perm[0] == '\0' || strspn(perm, "rwm") != strlen(perm)))
            return BAD("CDI spec %s: %s deviceNodes[%zu]: permissions \"%s\" is not of r, w, m",
                       name, where, i, perm);
    }
    v = json_object_get(ed, "mounts");
    if (v && !json_is_array(v))
        return BAD("CDI spec %s: %s mounts is not an array", name, where);
    json_array_foreach(v, i, x)
    {
        json_t *opts = json_object_get(x, "options");
        if (!json_is_object(x) || !json_is_string(json_object_get(x, "hostPath")) ||
            !abs_path(x, "containerPath") || !opt_type(x, "type", JSON_STRING) ||
            (opts && !strings(opts)))
            return BAD("CDI spec %s: %s mounts[%zu]: needs hostPath and an absolute "
                       "containerPath (options: strings)",
                       name, where, i);
    }
    v = json_object_get(ed, "hooks");
    if (v && !json_is_array(v))
        return BAD("CDI spec %s: %s hooks is not an array", name, where);
    json_array_foreach(v, i, x)
    {
        const char *hn = json_string_value(json_object_get(x, "hookName"));
        static const char *const stages[] = {"prestart",       "createRuntime", "createContainer",
                                             "startContainer", "poststart",     "poststop"};
        size_t s = 0;
        while (hn && s < BERTH_ARRAY_LEN(stages) && strcmp(hn, stages[s]) != 0)
            s++;
        json_t *args = json_object_get(x, "args"), *env = json_object_get(x, "env");
        if (!json_is_object(x) || hn == NULL || s == BERTH_ARRAY_LEN(stages) ||
            !abs_path(x, "path") || (args && !strings(args)) || (env && !strings(env)) ||
            !opt_type(x, "timeout", JSON_INTEGER))
            return BAD("CDI spec %s: %s hooks[%zu]: needs a known hookName and an absolute path",
                       name, where, i);
    }
#undef BAD
    return 0;
}

/* Checks doc (taken): the spec, or NULL with *err. */
static json_t *check_spec(const char *name, json_t *doc, berth_err_t *err)
{
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    json_t *devs = json_object_get(doc, "devices");
    if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "cdiVersion"))) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "CDI spec %s: cdiVersion is required", name);
        goto fail;
    }
    if (kind == NULL || !valid_kind(kind)) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "CDI spec %s: kind must be \"vendor.com/class\"", name);
        goto fail;
    }
    if (!json_is_array(devs) || json_array_size(devs) == 0) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "CDI spec %s: devices must be a non-empty array", name);
        goto fail;
    }
    if (check_edits(name, "spec", json_object_get(doc, "containerEdits"), err) < 0)
        goto fail;
    size_t i;
    json_t *d;
    json_array_foreach(devs, i, d)
    {
        const char *dn = json_string_value(json_object_get(d, "name"));
        if (!json_is_object(d) || dn == NULL || !valid_part(dn, strlen(dn), "_.:-")) {
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                           "CDI spec %s: devices[%zu] needs a valid name", name, i);
            goto fail;
        }
        if (!json_is_object(json_object_get(d, "containerEdits"))) {
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                           "CDI spec %s: device %s has no containerEdits", name, dn);
            goto fail;
        }
        BERTH_AUTO_FREE char *where = berth_asprintf("device %s", dn);
        if (check_edits(name, where, json_object_get(d, "containerEdits"), err) < 0)
            goto fail;
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

json_t *berth_cdi_spec_parse(const char *name, const char *text, size_t len, berth_err_t *err)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "CDI spec %s: invalid JSON at line %d: %s",
                       name, je.line, je.text);
        return NULL;
    }
    return check_spec(name, doc, err);
}

json_t *berth_cdi_spec_parse_yaml(const char *name, const char *text, size_t len, berth_err_t *err)
{
    json_t *doc = berth_yamljson_parse(name, text, len, NULL, err);
    if (doc == NULL) {
        berth_err_prefix(err, "invalid CDI spec");
        return NULL;
    }
    return check_spec(name, doc, err);
}

/* ---- resolving ----------------------------------------------------------------------------- */

static void append_edits(berth_cdi_edits_t *out, json_t *ed)
{
    struct {
        const char *key;
        json_t *dst;
    } parts[] = {{"env", out->env},
                 {"deviceNodes", out->device_nodes},
                 {"mounts", out->mounts},
                 {"hooks", out->hooks}};
    for (size_t p = 0; ed && p < BERTH_ARRAY_LEN(parts); p++) {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(ed, parts[p].key), i, x)
                json_array_append_new(parts[p].dst, json_deep_copy(x));
    }
}

static json_t *find_device(json_t *spec, const char *dev)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(spec, "devices"), i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "name")), dev) == 0)
            return d;
    }
    return NULL;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

/* Reads and checks the spec at path (fname its name, for messages); NULL
 * with a warning naming it when it cannot be used. */
static json_t *load_spec(const char *path, const char *fname, bool yaml)
{
    BERTH_AUTO_ERR berth_err_t e = NULL;
    BERTH_AUTO_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        berth_log_warn("CDI spec unreadable or not a file: skipped", "file=%s", path);
        return NULL;
    }
    BERTH_AUTO_FREE char *text = NULL;
    size_t len = 0;
    json_t *spec = NULL;
    if (berth_fs_read_fd(fd, fname, CDI_FILE_MAX, BERTH_ERR_INVALID, &text, &len, &e) == 0)
        spec = yaml ? berth_cdi_spec_parse_yaml(fname, text, len, &e)
                    : berth_cdi_spec_parse(fname, text, len, &e);
    if (spec == NULL)
        berth_log_warn("CDI spec invalid: skipped", "file=%s error=\"%s\"", path, e->msg);
    return spec;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What is known of one requested device while the directories are read. */
typedef struct want {
    char *kind, *dev;
    json_t *spec;   /* the spec defining it in the latest directory so far */
    size_t dir;     /* that directory */
    char *file;     /* that spec's file (owned) */
    char *conflict; /* a second file of that directory defining it (owned) */
} want_t;

/* One directory's specs, in name order: each requested device a spec
 * defines replaces an earlier directory's definition; two specs of one
 * directory defining it are a conflict (the CDI spec's rule: the same
 * priority), unless a later directory defines it again. */
static void scan_dir(const char *dir, size_t d, want_t *w, size_t nw)
{
    size_t nnames = 0;
    char **names = berth_fs_list_names(dir, &nnames);
    if (names == NULL)
        return;
    qsort(names, nnames, sizeof(char *), by_name);
    for (size_t i = 0; i < nnames; i++) {
        const char *fname = names[i];
        bool yaml = has_suffix(fname, ".yaml") || has_suffix(fname, ".yml");
        if (fname[0] == '.' || (!yaml && !has_suffix(fname, ".json")))
            continue;
        BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", dir, fname);
        json_t *spec = load_spec(path, fname, yaml);
        if (spec == NULL)
            continue;
        const char *kind = json_string_value(json_object_get(spec, "kind"));
        for (size_t n = 0; n < nw; n++) {
            if (strcmp(kind, w[n].kind) != 0 || find_device(spec, w[n].dev) == NULL)
                continue;
            if (w[n].spec && w[n].dir == d) {
                if (w[n].conflict == NULL)
                    w[n].conflict = berth_strdup(path);
                continue;
            }
            if (w[n].spec)
                json_decref(w[n].spec);
            berth_free(w[n].file);
            berth_free(w[n].conflict);
            w[n] = (want_t){.kind = w[n].kind,
                            .dev = w[n].dev,
                            .spec = json_incref(spec),
                            .dir = d,
                            .file = berth_strdup(path)};
        }
        json_decref(spec);
    }
    berth_strv_free(names);
}

int berth_cdi_resolve(const char *const *dirs, size_t ndirs, const char *const *names,
                      size_t nnames, berth_cdi_edits_t *out, berth_err_t *err)
{
    if (nnames == 0)
        return 0;
    want_t *w = berth_calloc(nnames, sizeof(want_t));
    int ret = -1;
    for (size_t n = 0; n < nnames; n++)
        if (berth_cdi_parse_name(names[n], &w[n].kind, &w[n].dev, err) < 0)
            goto out;
    for (size_t d = 0; d < ndirs; d++)
        scan_dir(dirs[d], d, w, nnames);
    for (size_t n = 0; n < nnames; n++) {
        if (w[n].spec == NULL) {
            berth_err_make(err, ENOENT, BERTH_ERR_NOT_FOUND,
                           "CDI device %s not found: no spec in the CDI spec directories "
                           "(cdi_spec_dirs) defines it",
                           names[n]);
            goto out;
        }
        if (w[n].conflict) {
            berth_err_make(err, EEXIST, BERTH_ERR_PRECONDITION,
                           "CDI device %s is defined by two specs of one directory, %s and %s: "
                           "remove one of them",
                           names[n], w[n].file, w[n].conflict);
            goto out;
        }
    }
    for (size_t n = 0; n < nnames; n++) {
        /* the spec-wide edits once per spec, whatever number of its devices */
        bool seen = false;
        for (size_t m = 0; m < n; m++)
            seen = seen || w[m].spec == w[n].spec;
        if (!seen)
            append_edits(out, json_object_get(w[n].spec, "containerEdits"));
        append_edits(out, json_object_get(find_device(w[n].spec, w[n].dev), "containerEdits"));
    }
    ret = 0;
out:
    for (size_t n = 0; n < nnames; n++) {
        if (w[n].spec)
            json_decref(w[n].spec);
        berth_free(w[n].kind);
        berth_free(w[n].dev);
        berth_free(w[n].file);
        berth_free(w[n].conflict);
    }
    berth_free(w);
    return ret;
}
