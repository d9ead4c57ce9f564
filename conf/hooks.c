// SPDX-License-Identifier: Apache-2.0
/*
 * hooks.d loading and matching (see hooks.h). The regular expressions are
 * POSIX extended ones, searched unanchored as Go's MatchString searches, so
 * the patterns CRI-O's users write ("^/usr/bin/sh$", ".*fluid.*") mean the
 * same here. A file berth cannot use is skipped whole: half a hook (a stage
 * without its condition) would run where its author never meant it to.
 */
#include "conf/hooks.h"

#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/log.h"

static const char *const stage_names[] = {"prestart",       "createRuntime", "createContainer",
                                          "startContainer", "poststart",     "poststop"};
#define NSTAGES (sizeof(stage_names) / sizeof(stage_names[0]))

struct ann_cond {
    regex_t key, value;
};

struct berth_hook {
    char *name;
    json_t *hook;    /* the OCI hook object: path, args, env, timeout */
    unsigned stages; /* bit i: stage_names[i] */
    bool or_;
    int always;          /* -1 unset, else the value */
    int has_bind_mounts; /* -1 unset */
    struct ann_cond *anns;
    size_t nanns;
    regex_t *cmds;
    size_t ncmds;
};

void berth_hook_free(berth_hook_t *h)
{
    if (h == NULL)
        return;
    berth_free(h->name);
    if (h->hook)
        json_decref(h->hook);
    for (size_t i = 0; i < h->nanns; i++) {
        regfree(&h->anns[i].key);
        regfree(&h->anns[i].value);
    }
    berth_free(h->anns);
    for (size_t i = 0; i < h->ncmds; i++)
        regfree(&h->cmds[i]);
    berth_free(h->cmds);
    berth_free(h);
}

/* glibc's regcomp copies a repeated subexpression once per repetition, so
 * nested repetitions ("a++++++", "((a{99}){99}){99}") cost memory
 * exponential in the pattern (found by the hooks fuzz target: 1 GiB from a
 * 90-byte file). Refused before regcomp: a repetition operator right after
 * another (Go's regexp refuses those too), "+" and counted repetitions
 * whose copies multiply past 1000 (counted as if all nested: a bound, not
 * the exact cost), and patterns longer than 512 bytes. */
#define PATTERN_MAX 512
#define REPEAT_PRODUCT_MAX 1000

static const char *pattern_too_costly(const char *pat)
{
    if (strlen(pat) > PATTERN_MAX)
        return "longer than 512 bytes";
    unsigned long product = 1;
    bool after_rep = false;
    for (const char *c = pat; *c; c++) {
        if (*c == '\\') {
            if (c[1])
                c++;
            after_rep = false;
            continue;
        }
        if (*c == '[') {
            /* a bracket expression: a "]" first is literal */
            const char *e = c + 1;
            if (*e == '^')
                e++;
            if (*e == ']')
                e++;
            while (*e && *e != ']')
                e++;
            c = *e ? e : e - 1;
            after_rep = false;
            continue;
        }
        bool rep = *c == '*' || *c == '+' || *c == '?' || *c == '{';
        if (rep && after_rep)
            return "a repetition of a repetition";
        /* "x+" is compiled as "xx*": one more copy of what it repeats */
        if (*c == '+' && (product *= 2) > REPEAT_PRODUCT_MAX)
            return "repetitions past 1000 copies";
        if (*c == '{') {
            char *end;
            unsigned long lo = strtoul(c + 1, &end, 10), hi = lo;
            if (*end == ',' && end[1] != '}')
                hi = strtoul(end + 1, NULL, 10);
            if (hi > REPEAT_PRODUCT_MAX || (product *= hi ? hi : 1) > REPEAT_PRODUCT_MAX)
                return "repetitions past 1000 copies";
            const char *close = strchr(c, '}');
            if (close)
                c = close;
        }
        after_rep = rep;
    }
    return NULL;
}

static int compile(regex_t *re, const char *pat, const char *name, const char *what,
                   berth_err_t *err)
{
    const char *costly = pattern_too_costly(pat);
    if (costly)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "hook %s: %s /%s/: %s", name, what,
                              pat, costly);
    int rc = regcomp(re, pat, REG_EXTENDED | REG_NOSUB);
    if (rc == 0)
        return 0;
    char msg[128];
    regerror(rc, re, msg, sizeof(msg));
    return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "hook %s: %s /%s/: %s", name, what, pat,
                          msg);
}

static bool string_array(json_t *a)
{
    size_t i;
    json_t *x;
    if (!json_is_array(a))
        return false;
    json_array_foreach(a, i, x) if (!json_is_string(x)) return false;
    return true;
}

static int parse_when(berth_hook_t *h, json_t *when, berth_err_t *err)
{
    const char *name = h->name;
    if (!json_is_object(when))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "hook %s: \"when\" is required",
                              name);
    json_t *v;
    h->always = h->has_bind_mounts = -1;
    if ((v = json_object_get(when, "always")) != NULL) {
        if (!json_is_boolean(v))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "hook %s: when.always is not a boolean", name);
        h->always = json_is_true(v);
    }
    if ((v = json_object_get(when, "hasBindMounts")) != NULL) {
        if (!json_is_boolean(v))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "hook %s: when.hasBindMounts is not a boolean", name);
        h->has_bind_mounts = json_is_true(v);
    }
    if ((v = json_object_get(when, "or")) != NULL) {
        if (!json_is_boolean(v))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "hook %s: when.or is not a boolean", name);
        h->or_ = json_is_true(v);
    }
    if ((v = json_object_get(when, "annotations")) != NULL) {
        if (!json_is_object(v))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "hook %s: when.annotations is not an object", name);
        h->anns = berth_calloc(json_object_size(v) + 1, sizeof(*h->anns));
        const char *k;
        json_t *val;
        json_object_foreach(v, k, val)
        {
            if (!json_is_string(val))
                return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                      "hook %s: when.annotations[%s] is not a string", name, k);
            if (compile(&h->anns[h->nanns].key, k, name, "annotation key pattern", err) < 0)
                return -1;
            if (compile(&h->anns[h->nanns].value, json_string_value(val), name,
                        "annotation value pattern", err) < 0) {
                regfree(&h->anns[h->nanns].key);
                return -1;
            }
            h->nanns++;
        }
    }
    if ((v = json_object_get(when, "commands")) != NULL) {
        if (!string_array(v))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "hook %s: when.commands is not an array of strings", name);
        h->cmds = berth_calloc(json_array_size(v) + 1, sizeof(regex_t));
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (compile(&h->cmds[h->ncmds], json_string_value(x), name, "command pattern", err) < 0)
                return -1;
            h->ncmds++;
        }
    }
    if (h->always < 0 && h->has_bind_mounts < 0 && h->nanns == 0 && h->ncmds == 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "hook %s: \"when\" sets no condition (always, annotations, "
                              "commands or hasBindMounts)",
                              name);
    return 0;
}

static int parse_hook_obj(berth_hook_t *h, json_t *o, berth_err_t *err)
{
    const char *name = h->name;
    if (!json_is_object(o))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "hook %s: \"hook\" is required",
                              name);
    const char *path = json_string_value(json_object_get(o, "path"));
    if (path == NULL || path[0] != '/')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "hook %s: hook.path must be an absolute path", name);
    h->hook = json_object();
    json_object_set_new(h->hook, "path", json_string(path));
    static const char *const lists[] = {"args", "env"};
    for (size_t i = 0; i < 2; i++) {
        json_t *a = json_object_get(o, lists[i]);
        if (a == NULL)
            continue;
        if (!string_array(a))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "hook %s: hook.%s is not an array of strings", name, lists[i]);
        json_object_set_new(h->hook, lists[i], json_deep_copy(a));
    }
    json_t *t = json_object_get(o, "timeout");
    if (t != NULL) {
        if (!json_is_integer(t) || json_integer_value(t) <= 0 || json_integer_value(t) > 24 * 3600)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "hook %s: hook.timeout must be a whole number of seconds "
                                  "between 1 and 86400",
                                  name);
        json_object_set_new(h->hook, "timeout", json_integer(json_integer_value(t)));
    } else {
        json_object_set_new(h->hook, "timeout", json_integer(BERTH_HOOK_DEFAULT_TIMEOUT));
    }
    return 0;
}

berth_hook_t *berth_hook_parse(const char *name, const char *text, size_t len, berth_err_t *err)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "hook %s: invalid JSON at line %d: %s", name,
                       je.line, je.text);
        return NULL;
    }
    berth_hook_t *h = berth_calloc(1, sizeof(*h));
    h->name = berth_strdup(name);
    const char *ver = json_string_value(json_object_get(doc, "version"));
    if (!json_is_object(doc) || ver == NULL || strcmp(ver, "1.0.0") != 0) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "hook %s: version must be \"1.0.0\" (the only format berth reads)", name);
        goto fail;
    }
    if (parse_hook_obj(h, json_object_get(doc, "hook"), err) < 0 ||
        parse_when(h, json_object_get(doc, "when"), err) < 0)
        goto fail;
    json_t *stages = json_object_get(doc, "stages");
    if (!string_array(stages) || json_array_size(stages) == 0) {
        berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                       "hook %s: \"stages\" must be a non-empty array of stage names", name);
        goto fail;
    }
    size_t i;
    json_t *x;
    json_array_foreach(stages, i, x)
    {
        size_t s;
        for (s = 0; s < NSTAGES; s++)
            if (strcmp(json_string_value(x), stage_names[s]) == 0)
                break;
        if (s == NSTAGES) {
            berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "hook %s: unknown stage \"%s\"", name,
                           json_string_value(x));
            goto fail;
        }
        h->stages |= 1u << s;
    }
    json_decref(doc);
    return h;
fail:
    json_decref(doc);
    berth_hook_free(h);
    return NULL;
}

/* ---- loading ------------------------------------------------------------------------------ */

void berth_hooks_free(berth_hooks_t *hs)
{
    if (hs == NULL)
        return;
    for (size_t i = 0; i < hs->n; i++)
        berth_hook_free(hs->v[i]);
    berth_free(hs->v);
    berth_free(hs);
}

static int by_name(const void *a, const void *b)
{
    const berth_hook_t *x = *(berth_hook_t *const *)a, *y = *(berth_hook_t *const *)b;
    return strcmp(x->name, y->name);
}

/* A hook file is small; a bigger one is not a hook file. */
#define HOOK_FILE_MAX (1 << 20)

static char *read_small(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char *buf = berth_malloc(HOOK_FILE_MAX + 1);
    size_t n = fread(buf, 1, HOOK_FILE_MAX + 1, f);
    bool bad = ferror(f) || n > HOOK_FILE_MAX;
    fclose(f);
    if (bad) {
        berth_free(buf);
        errno = EFBIG;
        return NULL;
    }
    *len = n;
    return buf;
}

berth_hooks_t *berth_hooks_load(const char *const *dirs, size_t ndirs)
{
    berth_hooks_t *hs = berth_calloc(1, sizeof(*hs));
    size_t cap = 0;
    for (size_t d = 0; d < ndirs; d++) {
        DIR *dir = opendir(dirs[d]);
        if (dir == NULL) {
            if (errno != ENOENT)
                berth_log_warn("hooks directory unreadable: skipped", "dir=%s error=\"%s\"",
                               dirs[d], strerror(errno));
            continue;
        }
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            size_t nl = strlen(e->d_name);
            if (e->d_name[0] == '.' || nl < 6 || strcmp(e->d_name + nl - 5, ".json") != 0)
                continue;
            BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", dirs[d], e->d_name);
            size_t len = 0;
            BERTH_AUTO_FREE char *text = read_small(path, &len);
            /* a later directory's file of the same name replaces this one,
             * even when the later one turns out invalid (it was meant to) */
            for (size_t i = 0; i < hs->n; i++) {
                if (strcmp(hs->v[i]->name, e->d_name) == 0) {
                    berth_hook_free(hs->v[i]);
                    hs->v[i] = hs->v[--hs->n];
                    break;
                }
            }
            if (text == NULL) {
                berth_log_warn("hook file unreadable: skipped", "file=%s error=\"%s\"", path,
                               strerror(errno));
                continue;
            }
            BERTH_AUTO_ERR berth_err_t err = NULL;
            berth_hook_t *h = berth_hook_parse(e->d_name, text, len, &err);
            if (h == NULL) {
                berth_log_warn("hook file invalid: skipped", "file=%s error=\"%s\"", path,
                               err->msg);
                continue;
            }
            if (hs->n == cap) {
                cap = cap ? 2 * cap : 8;
                hs->v = berth_realloc(hs->v, cap * sizeof(*hs->v));
            }
            hs->v[hs->n++] = h;
        }
        closedir(dir);
    }
    if (hs->n > 1)
        qsort(hs->v, hs->n, sizeof(*hs->v), by_name);
    return hs;
}

/* ---- matching ----------------------------------------------------------------------------- */

static bool search(const regex_t *re, const char *s)
{
    return regexec(re, s ? s : "", 0, NULL, 0) == 0;
}

static bool matches(const berth_hook_t *h, const berth_hooks_ctx_t *c)
{
    /* the conditions that are set, folded by "and" (or by "or" with when.or) */
    int conds = 0, met = 0;
    if (h->always >= 0) {
        conds++;
        met += h->always;
    }
    if (h->has_bind_mounts >= 0) {
        conds++;
        met += h->has_bind_mounts == (int)c->has_bind_mounts;
    }
    if (h->nanns) {
        /* every key pattern needs an annotation whose key and value match */
        bool all = true;
        for (size_t i = 0; all && i < h->nanns; i++) {
            bool one = false;
            for (size_t j = 0; !one && j < c->nann; j++)
                one = search(&h->anns[i].key, c->ann_keys[j]) &&
                      search(&h->anns[i].value, c->ann_values[j]);
            all = one;
        }
        conds++;
        met += all;
    }
    if (h->ncmds) {
        bool one = false;
        for (size_t i = 0; !one && i < h->ncmds; i++)
            one = c->command != NULL && search(&h->cmds[i], c->command);
        conds++;
        met += one;
    }
    return h->or_ ? met > 0 : met == conds;
}

size_t berth_hooks_inject(const berth_hooks_t *hs, const berth_hooks_ctx_t *ctx, json_t *hooks)
{
    size_t added = 0;
    for (size_t i = 0; hs && i < hs->n; i++) {
        const berth_hook_t *h = hs->v[i];
        if (!matches(h, ctx))
            continue;
        for (size_t s = 0; s < NSTAGES; s++) {
            if (!(h->stages & (1u << s)))
                continue;
            json_t *a = json_object_get(hooks, stage_names[s]);
            if (!json_is_array(a)) {
                a = json_array();
                json_object_set_new(hooks, stage_names[s], a);
            }
            json_array_append_new(a, json_deep_copy(h->hook));
            added++;
        }
    }
    return added;
}
