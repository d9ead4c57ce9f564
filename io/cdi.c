// SPDX-License-Identifier: Apache-2.0
/*
 * CDI specs (see cdi.h). A spec is untrusted only as far as a root-owned
 * directory is: it is checked so that a malformed one fails with a message
 * naming it rather than with a half-edited container, and sizes are bounded.
 * Never applies anything itself.
 */
#include "io/cdi.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/alloc.h"
#include "engine/log.h"

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

json_t *berth_cdi_spec_parse(const char *name, const char *text, size_t len, berth_err_t *err)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "CDI spec %s: invalid JSON at line %d: %s",
                       name, je.line, je.text);
        return NULL;
    }
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

static json_t *load_spec(const char *path, const char *fname)
{
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CDI_FILE_MAX) {
        berth_log_warn("CDI spec unreadable or too big: skipped", "file=%s", path);
        return NULL;
    }
    json_error_t je;
    json_t *raw = json_load_file(path, 0, &je);
    char *text = raw ? json_dumps(raw, JSON_COMPACT) : NULL;
    if (raw)
        json_decref(raw);
    BERTH_AUTO_ERR berth_err_t e = NULL;
    json_t *spec = NULL;
    if (text == NULL)
        berth_err_make(&e, EINVAL, BERTH_ERR_INVALID, "CDI spec %s: invalid JSON at line %d: %s",
                       fname, je.line, je.text);
    else
        spec = berth_cdi_spec_parse(fname, text, strlen(text), &e);
    berth_free(text);
    if (spec == NULL)
        berth_log_warn("CDI spec invalid: skipped", "file=%s error=\"%s\"", path, e->msg);
    return spec;
}

int berth_cdi_resolve(const char *const *dirs, size_t ndirs, const char *const *names,
                      size_t nnames, berth_cdi_edits_t *out, berth_err_t *err)
{
    if (nnames == 0)
        return 0;
    char **kinds = berth_calloc(nnames + 1, sizeof(char *));
    char **devs = berth_calloc(nnames + 1, sizeof(char *));
    json_t **found = berth_calloc(nnames + 1, sizeof(json_t *)); /* the spec holding each */
    int ret = -1;
    for (size_t n = 0; n < nnames; n++)
        if (berth_cdi_parse_name(names[n], &kinds[n], &devs[n], err) < 0)
            goto out;
    for (size_t d = 0; d < ndirs; d++) {
        DIR *dir = opendir(dirs[d]);
        if (dir == NULL)
            continue;
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            size_t nl = strlen(e->d_name);
            if (e->d_name[0] == '.')
                continue;
            if (nl > 5 && (strcmp(e->d_name + nl - 5, ".yaml") == 0 ||
                           strcmp(e->d_name + nl - 4, ".yml") == 0)) {
                berth_log_debug("CDI spec in YAML: skipped (berth reads JSON specs)",
                                "dir=%s file=%s", dirs[d], e->d_name);
                continue;
            }
            if (nl < 6 || strcmp(e->d_name + nl - 5, ".json") != 0)
                continue;
            BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", dirs[d], e->d_name);
            json_t *spec = load_spec(path, e->d_name);
            if (spec == NULL)
                continue;
            const char *kind = json_string_value(json_object_get(spec, "kind"));
            for (size_t n = 0; n < nnames; n++) {
                if (strcmp(kind, kinds[n]) == 0 && find_device(spec, devs[n])) {
                    /* a later directory's definition replaces the earlier */
                    if (found[n])
                        json_decref(found[n]);
                    found[n] = json_incref(spec);
                }
            }
            json_decref(spec);
        }
        closedir(dir);
    }
    for (size_t n = 0; n < nnames; n++) {
        if (found[n] == NULL) {
            berth_err_make(err, ENOENT, BERTH_ERR_NOT_FOUND,
                           "CDI device %s not found: no spec in the CDI spec directories "
                           "(cdi_spec_dirs) defines it",
                           names[n]);
            goto out;
        }
    }
    for (size_t n = 0; n < nnames; n++) {
        /* the spec-wide edits once per spec, whatever number of its devices */
        bool seen = false;
        for (size_t m = 0; m < n; m++)
            seen = seen || found[m] == found[n];
        if (!seen)
            append_edits(out, json_object_get(found[n], "containerEdits"));
        append_edits(out, json_object_get(find_device(found[n], devs[n]), "containerEdits"));
    }
    ret = 0;
out:
    for (size_t n = 0; n < nnames; n++)
        if (found[n])
            json_decref(found[n]);
    berth_free(found);
    berth_strv_free(kinds);
    berth_strv_free(devs);
    return ret;
}
