/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Builds berth_config_t snapshots: defaults, then the main file, then drop-ins
 * in lexical order, then command-line overrides. Keys are described by tables
 * (section, name, type, offset) so a later issue adds a key with one line and
 * a struct field. This file may block on file reads; it must never be called
 * from an actor turn, and it never changes a snapshot once built.
 */
#include "conf/config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf/hooks.h"
#include "conf/toml.h"
#include "engine/alloc.h"
#include "engine/log.h"

/* T_DUR0 is a duration whose empty string means none (0), as CRI-O spells
 * "no timeout" for some keys; a plain T_DUR refuses "". */
enum ktype { T_STR, T_INT, T_BOOL, T_STRV, T_DUR, T_DUR0 };

struct keydesc {
    const char *section; /* under [crio]: "" for [crio] itself */
    const char *name;
    enum ktype type;
    size_t off;
    /* Another name for a field a key elsewhere owns: read, never printed
     * (the owner prints the value once). */
    bool alias;
};

#define K(sec, field, type)                                                                        \
    {                                                                                              \
        sec, #field, type, offsetof(berth_config_t, field)                                         \
    }
#define KN(sec, name, field, type)                                                                 \
    {                                                                                              \
        sec, name, type, offsetof(berth_config_t, field)                                           \
    }
#define KD(sec, name, field)                                                                       \
    {                                                                                              \
        sec, name, T_DUR, offsetof(berth_config_t, field)                                          \
    }
#define KA(sec, name, field)                                                                       \
    {                                                                                              \
        sec, name, T_DUR, offsetof(berth_config_t, field), true                                    \
    }
#define KD0(sec, name, field)                                                                      \
    {                                                                                              \
        sec, name, T_DUR0, offsetof(berth_config_t, field)                                         \
    }

/* Every key berth implements. Add one line (and a field) per new key. */
static const struct keydesc keys[] = {
        K("", root, T_STR),
        K("", runroot, T_STR),
        K("", log_dir, T_STR),
        K("api", listen, T_STR),
        K("api", grpc_max_send_msg_size, T_INT),
        K("api", grpc_max_recv_msg_size, T_INT),
        K("api", grpc_max_conn_buffered, T_INT),
        K("api", grpc_max_total_buffered, T_INT),
        K("api", grpc_max_connections, T_INT),
        K("api", grpc_max_streams, T_INT),
        K("api", stream_address, T_STR),
        K("api", stream_port, T_STR),
        K("api", stream_enable_tls, T_BOOL),
        K("api", stream_tls_cert, T_STR),
        K("api", stream_tls_key, T_STR),
        K("api", stream_tls_ca, T_STR),
        KD0("api", "stream_idle_timeout", stream_idle_timeout_ns),
        KD("api", "stream_token_ttl", stream_token_ttl_ns),
        K("api", stream_max_sessions, T_INT),
        K("api", stream_max_streams, T_INT),
        K("api", stream_max_buffered, T_INT),
        K("api", debug_socket, T_STR),
        K("runtime", default_runtime, T_STR),
        K("runtime", log_level, T_STR),
        K("runtime", drop_infra_ctr, T_BOOL),
        K("runtime", conmon, T_STR),
        K("runtime", conmon_cgroup, T_STR),
        K("runtime", container_monitor, T_STR),
        K("runtime", berth_monitor, T_STR),
        K("runtime", cgroup_manager, T_STR),
        K("runtime", pids_limit, T_INT),
        K("runtime", log_size_max, T_INT),
        K("runtime", default_capabilities, T_STRV),
        K("runtime", default_sysctls, T_STRV),
        K("runtime", allowed_devices, T_STRV),
        K("runtime", seccomp_profile, T_STR),
        K("runtime", seccomp_use_default_when_empty, T_BOOL),
        K("runtime", seccomp_localhost_root, T_STR),
        K("runtime", subuid_file, T_STR),
        K("runtime", subgid_file, T_STR),
        KD("runtime", "seccomp_notifier_wait", seccomp_notifier_wait_ns),
        K("runtime", hooks_dir, T_STRV),
        K("runtime", cdi_spec_dirs, T_STRV),
        K("runtime", workers, T_INT),
        KD("runtime", "creation_budget", creation_budget_ns),
        KD("runtime", "cni_budget", cni_budget_ns),
        KD("runtime", "stall_margin", stall_margin_ns),
        KD("runtime", "stash_window", stash_window_ns),
        KD("runtime", "stats_refresh_interval", stats_refresh_interval_ns),
        K("image", default_transport, T_STR),
        K("image", pause_image, T_STR),
        K("image", registries_conf, T_STR),
        K("image", registries_conf_dir, T_STR),
        K("image", signature_policy, T_STR),
        K("image", insecure_registries, T_STRV),
        K("image", max_image_layers, T_INT),
        K("image", max_image_bytes, T_INT),
        K("image", max_concurrent_pulls, T_INT),
        K("image", max_manifest_bytes, T_INT),
        K("image", max_config_bytes, T_INT),
        K("image", max_layer_entries, T_INT),
        K("network", network_dir, T_STR),
        K("network", plugin_dirs, T_STRV),
        K("network", cni_default_network, T_STR),
        K("metrics", enable_metrics, T_BOOL),
        K("metrics", metrics_port, T_INT),
        K("metrics", metrics_host, T_STR),
        K("metrics", metrics_socket, T_STR),
        K("metrics", metrics_cert, T_STR),
        K("metrics", metrics_key, T_STR),
        K("nri", enable_nri, T_BOOL),
        K("nri", nri_listen, T_STR),
        K("nri", nri_plugin_dir, T_STR),
        K("nri", nri_plugin_config_dir, T_STR),
        KD("nri", "nri_plugin_registration_timeout", nri_plugin_registration_timeout_ns),
        KD("nri", "nri_plugin_request_timeout", nri_plugin_request_timeout_ns),
        K("nri", nri_disable_connections, T_BOOL),
        KN("nri.default_validator", "enable", nri_validator_enable, T_BOOL),
        KN("nri.default_validator", "reject_oci_hook_adjustment", nri_reject_oci_hook_adjustment,
           T_BOOL),
        KN("nri.default_validator", "reject_runtime_default_seccomp_adjustment",
           nri_reject_runtime_default_seccomp_adjustment, T_BOOL),
        KN("nri.default_validator", "reject_unconfined_seccomp_adjustment",
           nri_reject_unconfined_seccomp_adjustment, T_BOOL),
        KN("nri.default_validator", "reject_custom_seccomp_adjustment",
           nri_reject_custom_seccomp_adjustment, T_BOOL),
        KN("nri.default_validator", "reject_namespace_adjustment", nri_reject_namespace_adjustment,
           T_BOOL),
        KN("nri.default_validator", "reject_sysctl_adjustment", nri_reject_sysctl_adjustment,
           T_BOOL),
        KN("nri.default_validator", "required_plugins", nri_required_plugins, T_STRV),
        KN("nri.default_validator", "tolerate_missing_plugins_annotation",
           nri_tolerate_missing_plugins_annotation, T_STR),
        KD("names", "creation_budget", creation_budget_ns),
        KD("names", "cni_budget", cni_budget_ns),
        KD("names", "stall_margin", stall_margin_ns),
        KD("names", "stash_window", stash_window_ns),
        /* CRI-O's stats period (integer seconds, 0: on demand) means what
         * stats_refresh_interval means: how old a served figure may be, 0
         * reading at each call. collection_period is CRI-O 1.37's name, the
         * other its deprecated one; the last one a file sets wins, as for
         * any key set twice. */
        KA("stats", "collection_period", stats_refresh_interval_ns),
        KA("stats", "stats_collection_period", stats_refresh_interval_ns),
};

#define R(field, type)                                                                             \
    {                                                                                              \
        "runtimes", #field, type, offsetof(berth_config_runtime_t, field)                          \
    }
static const struct keydesc runtime_keys[] = {
        R(runtime_path, T_STR), R(runtime_root, T_STR),         R(runtime_type, T_STR),
        R(monitor_path, T_STR), R(allowed_annotations, T_STRV),
};

/* "nri.default_validator" is a table inside [crio.nri] (walk_section) */
static const char *const sections[] = {"api",     "runtime", "image", "network",
                                       "metrics", "names",   "nri",   "nri.default_validator",
                                       "stats"};

struct override {
    char *key;
    char *value;
};

struct berth_config_builder {
    char *file;
    char *dir;
    struct override *ov;
    size_t n_ov;
};

/* State of one build. */
struct loader {
    berth_config_t *cfg;
    bool runtimes_seen;
    const char *file;
};

/* ---- small helpers ---- */

static void strv_free(berth_strv_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        berth_free(v->v[i]);
    berth_free(v->v);
    v->v = NULL;
    v->n = 0;
}

static void strv_push(berth_strv_t *v, const char *s)
{
    v->v = berth_realloc(v->v, (v->n + 2) * sizeof(*v->v));
    v->v[v->n++] = berth_strdup(s);
    v->v[v->n] = NULL;
}

static void strv_set(berth_strv_t *v, const char *const *items)
{
    strv_free(v);
    v->v = berth_calloc(1, sizeof(*v->v));
    for (size_t i = 0; items[i]; i++)
        strv_push(v, items[i]);
}

static void str_set(char **field, const char *s)
{
    berth_free(*field);
    *field = berth_strdup(s);
}

static const char *type_name(enum ktype t)
{
    switch (t) {
    case T_STR:
        return "a string";
    case T_INT:
        return "an integer";
    case T_BOOL:
        return "a boolean";
    case T_STRV:
        return "an array of strings";
    case T_DUR:
        return "a duration (string like \"1m30s\" or integer seconds)";
    case T_DUR0:
        return "a duration (string like \"1m30s\", integer seconds, or \"\" for none)";
    }
    return "?";
}

static const struct keydesc *find_key(const struct keydesc *tab, size_t n, const char *section,
                                      const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tab[i].section, section) == 0 && strcmp(tab[i].name, name) == 0)
            return &tab[i];
    }
    return NULL;
}

static void runtime_fini(berth_config_runtime_t *r)
{
    berth_free(r->name);
    berth_free(r->runtime_path);
    berth_free(r->runtime_root);
    berth_free(r->runtime_type);
    berth_free(r->monitor_path);
    strv_free(&r->allowed_annotations);
}

static berth_config_runtime_t *runtime_get(berth_config_t *cfg, const char *name, bool create)
{
    for (size_t i = 0; i < cfg->n_runtimes; i++) {
        if (strcmp(cfg->runtimes[i].name, name) == 0)
            return &cfg->runtimes[i];
    }
    if (!create)
        return NULL;
    cfg->runtimes = berth_realloc(cfg->runtimes, (cfg->n_runtimes + 1) * sizeof(*cfg->runtimes));
    berth_config_runtime_t *r = &cfg->runtimes[cfg->n_runtimes++];
    *r = (berth_config_runtime_t){0};
    r->name = berth_strdup(name);
    r->runtime_path = berth_strdup("");
    r->runtime_root = berth_asprintf("/run/%s", name);
    r->runtime_type = berth_strdup("oci");
    r->monitor_path = berth_strdup("");
    strv_set(&r->allowed_annotations, (const char *const[]){NULL});
    return r;
}

/* ---- durations ---- */

int berth_config_parse_duration(const char *s, int64_t *ns, berth_err_t *err)
{
    const char *p = s;
    if (*p == '\0')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "empty duration");
    bool plain = true;
    for (const char *q = s; *q; q++)
        plain = plain && *q >= '0' && *q <= '9';
    if (plain) {
        errno = 0;
        unsigned long long v = strtoull(s, NULL, 10);
        if (errno || v > INT64_MAX / 1000000000ULL)
            return berth_err_make(err, ERANGE, BERTH_ERR_INVALID, "duration \"%s\" is too large",
                                  s);
        *ns = (int64_t)v * 1000000000;
        return 0;
    }
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1},  {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ms", 1e6},
                 {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    double total = 0;
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    while (*p) {
        const char *num = p;
        while ((*p >= '0' && *p <= '9') || *p == '.')
            p++;
        if (p == num)
            goto bad;
        BERTH_AUTO_FREE char *numstr = berth_strndup(num, (size_t)(p - num));
        char *end;
        double v = strtod(numstr, &end);
        if (*end != '\0')
            goto bad;
        size_t best = 0;
        double mult = 0;
        for (size_t i = 0; i < BERTH_ARRAY_LEN(units); i++) {
            size_t ul = strlen(units[i].unit);
            /* "ms" must win over "m": take the longest unit that matches. */
            if (strncmp(p, units[i].unit, ul) == 0 && ul > best) {
                best = ul;
                mult = units[i].ns;
            }
        }
        if (!best)
            goto bad;
        p += best;
        total += v * mult;
    }
    if (total > 9.2e18)
        return berth_err_make(err, ERANGE, BERTH_ERR_INVALID, "duration \"%s\" is too large", s);
    *ns = (int64_t)(total + 0.5);
    return 0;
bad:
    return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                          "invalid duration \"%s\" (use e.g. \"1m30s\", \"500ms\" or seconds)", s);
}

static void format_duration(int64_t ns, char *buf, size_t size)
{
    if (ns == 0) {
        snprintf(buf, size, "0s");
        return;
    }
    int64_t h = ns / 3600000000000LL;
    ns -= h * 3600000000000LL;
    int64_t m = ns / 60000000000LL;
    ns -= m * 60000000000LL;
    int64_t s = ns / 1000000000LL;
    int64_t frac = ns - s * 1000000000LL;
    size_t w = 0;
    if (h)
        w += (size_t)snprintf(buf + w, size - w, "%" PRId64 "h", h);
    if (m && w < size)
        w += (size_t)snprintf(buf + w, size - w, "%" PRId64 "m", m);
    if ((s || frac) && w < size) {
        if (frac) {
            char f[16];
            snprintf(f, sizeof(f), "%09" PRId64, frac);
            size_t fl = strlen(f);
            while (fl > 0 && f[fl - 1] == '0')
                f[--fl] = '\0';
            snprintf(buf + w, size - w, "%" PRId64 ".%ss", s, f);
        } else {
            snprintf(buf + w, size - w, "%" PRId64 "s", s);
        }
    }
}

/* ---- applying values ---- */

static void warn_unknown(struct loader *L, const berth_toml_node_t *n, const char *what)
{
    char *w = berth_asprintf("%s:%u: unknown key '%s'", L->file, berth_toml_line(n), what);
    strv_push(&L->cfg->warnings, w);
    berth_log_warn("unknown configuration key", "file=\"%s\" line=%u key=\"%s\"", L->file,
                   berth_toml_line(n), what);
    berth_free(w);
}

static int type_error(struct loader *L, const berth_toml_node_t *n, const char *key,
                      const struct keydesc *d, berth_err_t *err)
{
    return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s:%u: %s: expected %s, got %s", L->file,
                          berth_toml_line(n), key, type_name(d->type),
                          berth_toml_type_name(berth_toml_type(n)));
}

static int apply_node(struct loader *L, void *base, const struct keydesc *d,
                      const berth_toml_node_t *n, const char *key, berth_err_t *err)
{
    void *field = (char *)base + d->off;
    berth_toml_type_t t = berth_toml_type(n);
    switch (d->type) {
    case T_STR: {
        size_t len;
        const char *s = berth_toml_string(n, &len);
        if (!s)
            return type_error(L, n, key, d, err);
        if (strlen(s) != len)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "%s:%u: %s: string holds a NUL character", L->file,
                                  berth_toml_line(n), key);
        str_set(field, s);
        return 0;
    }
    case T_INT:
        if (t != BERTH_TOML_INTEGER)
            return type_error(L, n, key, d, err);
        *(int64_t *)field = berth_toml_int(n);
        return 0;
    case T_BOOL:
        if (t != BERTH_TOML_BOOL)
            return type_error(L, n, key, d, err);
        *(bool *)field = berth_toml_bool(n);
        return 0;
    case T_STRV: {
        if (t != BERTH_TOML_ARRAY)
            return type_error(L, n, key, d, err);
        for (const berth_toml_node_t *e = berth_toml_first(n); e; e = berth_toml_next(e)) {
            if (berth_toml_type(e) != BERTH_TOML_STRING)
                return type_error(L, e, key, d, err);
        }
        berth_strv_t *v = field;
        strv_free(v);
        v->v = berth_calloc(1, sizeof(*v->v));
        for (const berth_toml_node_t *e = berth_toml_first(n); e; e = berth_toml_next(e))
            strv_push(v, berth_toml_string(e, NULL));
        return 0;
    }
    case T_DUR:
    case T_DUR0:
        if (t == BERTH_TOML_INTEGER) {
            int64_t sec = berth_toml_int(n);
            if (sec < 0 || sec > INT64_MAX / 1000000000)
                return berth_err_make(err, ERANGE, BERTH_ERR_INVALID,
                                      "%s:%u: %s: duration out of range", L->file,
                                      berth_toml_line(n), key);
            *(int64_t *)field = sec * 1000000000;
            return 0;
        }
        if (t == BERTH_TOML_STRING) {
            if (d->type == T_DUR0 && berth_toml_string(n, NULL)[0] == '\0') {
                *(int64_t *)field = 0;
                return 0;
            }
            if (berth_config_parse_duration(berth_toml_string(n, NULL), field, err) < 0)
                return berth_err_prefix(err, "%s:%u: %s", L->file, berth_toml_line(n), key);
            return 0;
        }
        return type_error(L, n, key, d, err);
    }
    return 0;
}

/* Applies an override's text to a field, checking the type. */
static int apply_string(void *base, const struct keydesc *d, const char *value, const char *key,
                        berth_err_t *err)
{
    void *field = (char *)base + d->off;
    switch (d->type) {
    case T_STR:
        str_set(field, value);
        return 0;
    case T_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 0);
        if (*value == '\0' || *end != '\0' || errno)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "%s: expected an integer, got \"%s\"", key, value);
        *(int64_t *)field = v;
        return 0;
    }
    case T_BOOL:
        if (strcmp(value, "true") == 0)
            *(bool *)field = true;
        else if (strcmp(value, "false") == 0)
            *(bool *)field = false;
        else
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "%s: expected a boolean (true or false), got \"%s\"", key, value);
        return 0;
    case T_STRV: {
        berth_strv_t *v = field;
        strv_free(v);
        v->v = berth_calloc(1, sizeof(*v->v));
        const char *p = value;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            BERTH_AUTO_FREE char *item = berth_strndup(p, len);
            if (len)
                strv_push(v, item);
            p += len + (comma ? 1 : 0);
        }
        return 0;
    }
    case T_DUR0:
        if (value[0] == '\0') {
            *(int64_t *)field = 0;
            return 0;
        }
        /* fall through */
    case T_DUR:
        if (berth_config_parse_duration(value, field, err) < 0)
            return berth_err_prefix(err, "%s", key);
        return 0;
    }
    return 0;
}

/* ---- walking a parsed file ---- */

static bool is_section(const char *name)
{
    for (size_t i = 0; i < BERTH_ARRAY_LEN(sections); i++) {
        if (strcmp(sections[i], name) == 0)
            return true;
    }
    return false;
}

static int walk_runtimes(struct loader *L, const berth_toml_node_t *t, const char *prefix,
                         berth_err_t *err)
{
    L->runtimes_seen = true;
    for (const berth_toml_node_t *h = berth_toml_first(t); h; h = berth_toml_next(h)) {
        const char *name = berth_toml_key(h, NULL);
        BERTH_AUTO_FREE char *hkey = berth_asprintf("%s.%s", prefix, name);
        if (berth_toml_type(h) != BERTH_TOML_TABLE)
            return berth_err_make(
                    err, EINVAL, BERTH_ERR_INVALID, "%s:%u: %s: expected a table, got %s", L->file,
                    berth_toml_line(h), hkey, berth_toml_type_name(berth_toml_type(h)));
        berth_config_runtime_t *r = runtime_get(L->cfg, name, true);
        for (const berth_toml_node_t *c = berth_toml_first(h); c; c = berth_toml_next(c)) {
            const char *k = berth_toml_key(c, NULL);
            BERTH_AUTO_FREE char *full = berth_asprintf("%s.%s", hkey, k);
            const struct keydesc *d =
                    find_key(runtime_keys, BERTH_ARRAY_LEN(runtime_keys), "runtimes", k);
            if (!d) {
                warn_unknown(L, c, full);
                continue;
            }
            if (apply_node(L, r, d, c, full, err) < 0)
                return -1;
        }
    }
    return 0;
}

static int walk_section(struct loader *L, const berth_toml_node_t *t, const char *section,
                        const char *prefix, berth_err_t *err)
{
    for (const berth_toml_node_t *c = berth_toml_first(t); c; c = berth_toml_next(c)) {
        const char *k = berth_toml_key(c, NULL);
        BERTH_AUTO_FREE char *full = berth_asprintf("%s.%s", prefix, k);
        if (section[0] == '\0' && berth_toml_type(c) == BERTH_TOML_TABLE && is_section(k)) {
            if (walk_section(L, c, k, full, err) < 0)
                return -1;
            continue;
        }
        if (strcmp(section, "nri") == 0 && strcmp(k, "default_validator") == 0 &&
            berth_toml_type(c) == BERTH_TOML_TABLE) {
            if (walk_section(L, c, "nri.default_validator", full, err) < 0)
                return -1;
            continue;
        }
        if (strcmp(section, "runtime") == 0 && strcmp(k, "runtimes") == 0) {
            if (berth_toml_type(c) != BERTH_TOML_TABLE)
                return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                      "%s:%u: %s: expected a table, got %s", L->file,
                                      berth_toml_line(c), full,
                                      berth_toml_type_name(berth_toml_type(c)));
            if (walk_runtimes(L, c, full, err) < 0)
                return -1;
            continue;
        }
        const struct keydesc *d = find_key(keys, BERTH_ARRAY_LEN(keys), section, k);
        if (!d) {
            warn_unknown(L, c, full);
            continue;
        }
        if (apply_node(L, L->cfg, d, c, full, err) < 0)
            return -1;
    }
    return 0;
}

static int load_buffer(struct loader *L, const char *file, const char *buf, size_t len,
                       berth_err_t *err)
{
    berth_toml_node_t *root = berth_toml_parse(buf, len, file, err);
    if (!root)
        return -1;
    L->file = file;
    int r = 0;
    for (const berth_toml_node_t *c = berth_toml_first(root); c; c = berth_toml_next(c)) {
        const char *k = berth_toml_key(c, NULL);
        if ((strcmp(k, "crio") == 0 || strcmp(k, "berth") == 0) &&
            berth_toml_type(c) == BERTH_TOML_TABLE) {
            if ((r = walk_section(L, c, "", k, err)) < 0)
                break;
        } else {
            warn_unknown(L, c, k);
        }
    }
    berth_toml_free(root);
    return r;
}

/* Returns 1 when loaded, 0 when the file does not exist. */
static int load_file(struct loader *L, const char *path, berth_err_t *err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return berth_err_errno(err, errno, "open config file %s", path);
    }
    size_t cap = 8192, len = 0, r;
    BERTH_AUTO_FREE char *buf = berth_malloc(cap);
    while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            cap *= 2;
            buf = berth_realloc(buf, cap);
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (failed)
        return berth_err_make(err, EIO, BERTH_ERR_INTERNAL, "read config file %s failed", path);
    if (load_buffer(L, path, buf, len, err) < 0)
        return -1;
    return 1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(struct loader *L, const char *dir, berth_err_t *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return berth_err_errno(err, errno, "open config directory %s", dir);
    }
    berth_strv_t names = {0};
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".conf") != 0)
            continue;
        strv_push(&names, de->d_name);
    }
    closedir(d);
    if (names.n)
        qsort(names.v, names.n, sizeof(*names.v), cmp_names);
    int r = 0;
    for (size_t i = 0; i < names.n && r == 0; i++) {
        BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", dir, names.v[i]);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (load_file(L, path, err) < 0)
            r = -1;
    }
    strv_free(&names);
    return r;
}

/* ---- overrides ---- */

/* Resolves "crio.api.listen" to its descriptor; for runtime handler keys sets
 * *handler to the owned handler name. */
static int resolve_key(const char *key, const struct keydesc **out, char **handler,
                       berth_err_t *err)
{
    const char *rest = NULL;
    *handler = NULL;
    *out = NULL;
    if (strncmp(key, "crio.", 5) == 0)
        rest = key + 5;
    else if (strncmp(key, "berth.", 6) == 0)
        rest = key + 6;
    if (rest && strncmp(rest, "runtime.runtimes.", 17) == 0) {
        const char *h = rest + 17;
        const char *dot = strrchr(h, '.');
        if (dot && dot != h)
            *out = find_key(runtime_keys, BERTH_ARRAY_LEN(runtime_keys), "runtimes", dot + 1);
        if (*out) {
            *handler = berth_strndup(h, (size_t)(dot - h));
            return 0;
        }
    } else if (rest) {
        const char *dot = strrchr(rest, '.');
        BERTH_AUTO_FREE char *section = berth_strndup(rest, dot ? (size_t)(dot - rest) : 0);
        *out = find_key(keys, BERTH_ARRAY_LEN(keys), section, dot ? dot + 1 : rest);
        if (*out)
            return 0;
    }
    return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "unknown configuration key '%s'", key);
}

int berth_config_set(berth_config_builder_t *b, const char *key, const char *value,
                     berth_err_t *err)
{
    const struct keydesc *d;
    BERTH_AUTO_FREE char *handler = NULL;
    if (resolve_key(key, &d, &handler, err) < 0)
        return -1;
    /* Check the value's type now, on a scratch field, so a bad flag fails
     * where it was given. */
    union {
        char *s;
        int64_t i;
        bool b;
        berth_strv_t v;
    } scratch = {0};
    struct keydesc at0 = *d;
    at0.off = 0;
    if (apply_string(&scratch, &at0, value, key, err) < 0)
        return -1;
    if (d->type == T_STR)
        berth_free(scratch.s);
    else if (d->type == T_STRV)
        strv_free(&scratch.v);
    b->ov = berth_realloc(b->ov, (b->n_ov + 1) * sizeof(*b->ov));
    b->ov[b->n_ov++] = (struct override){berth_strdup(key), berth_strdup(value)};
    return 0;
}

/* ---- build ---- */

static void set_defaults(berth_config_t *c)
{
    c->root = berth_strdup("/var/lib/berth");
    c->runroot = berth_strdup("/run/berth");
    c->log_dir = berth_strdup("/var/log/berth/pods");
    c->listen = berth_strdup("/run/berth/berth.sock");
    c->grpc_max_send_msg_size = 16 * 1024 * 1024;
    c->grpc_max_recv_msg_size = 16 * 1024 * 1024;
    c->grpc_max_conn_buffered = 64 * 1024 * 1024;
    c->grpc_max_total_buffered = 256 * 1024 * 1024;
    c->grpc_max_connections = 1024;
    c->grpc_max_streams = 1000;
    c->stream_address = berth_strdup("127.0.0.1");
    c->stream_port = berth_strdup("0");
    c->stream_tls_cert = berth_strdup("");
    c->stream_tls_key = berth_strdup("");
    c->stream_tls_ca = berth_strdup("");
    c->stream_token_ttl_ns = 60 * 1000000000LL;
    c->stream_max_sessions = 1000;
    c->stream_max_streams = 64;
    c->stream_max_buffered = 1024 * 1024;
    c->debug_socket = berth_strdup("");
    c->default_runtime = berth_strdup("crun");
    c->log_level = berth_strdup("info");
    c->drop_infra_ctr = true;
    c->conmon = berth_strdup("");
    c->conmon_cgroup = berth_strdup("pod");
    c->container_monitor = berth_strdup("berth");
    c->berth_monitor = berth_strdup("");
    c->cgroup_manager = berth_strdup("cgroupfs");
    c->pids_limit = -1;
    c->log_size_max = -1;
    strv_set(&c->default_capabilities,
             (const char *const[]){"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "SETGID", "SETUID",
                                   "SETPCAP", "NET_BIND_SERVICE", "KILL", NULL});
    strv_set(&c->default_sysctls, (const char *const[]){NULL});
    strv_set(&c->allowed_devices, (const char *const[]){"/dev/fuse", NULL});
    c->seccomp_profile = berth_strdup("");
    /* false: the CRI meaning of an absent profile (Unconfined), which berth
     * had before the key; CRI-O defaults it to true */
    c->seccomp_use_default_when_empty = false;
    /* "": any absolute path, as CRI-O (and critest, whose profiles live
     * in /tmp) has it; a node sets the kubelet's directory */
    c->seccomp_localhost_root = berth_strdup("");
    c->subuid_file = berth_strdup("/etc/subuid");
    c->subgid_file = berth_strdup("/etc/subgid");
    c->seccomp_notifier_wait_ns = 5 * 1000000000LL;
    strv_set(&c->hooks_dir, (const char *const[]){"/usr/share/containers/oci/hooks.d", NULL});
    strv_set(&c->cdi_spec_dirs, (const char *const[]){"/etc/cdi", "/var/run/cdi", NULL});
    c->workers = 0;
    c->default_transport = berth_strdup("docker://");
    c->pause_image = berth_strdup("registry.k8s.io/pause:3.10");
    c->max_image_layers = 500;
    c->max_image_bytes = 256ll << 30;
    c->max_concurrent_pulls = 64;
    c->max_manifest_bytes = 4 << 20;
    c->max_config_bytes = 16 << 20;
    c->max_layer_entries = 4 << 20;
    c->registries_conf = berth_strdup("/etc/containers/registries.conf");
    c->registries_conf_dir = berth_strdup("/etc/containers/registries.conf.d");
    c->signature_policy = berth_strdup("");
    strv_set(&c->insecure_registries, (const char *const[]){NULL});
    c->network_dir = berth_strdup("/etc/cni/net.d/");
    strv_set(&c->plugin_dirs, (const char *const[]){"/opt/cni/bin/", "/usr/lib/cni/", NULL});
    c->cni_default_network = berth_strdup("");
    c->enable_metrics = false;
    c->metrics_port = 9090;
    c->metrics_host = berth_strdup("127.0.0.1");
    c->metrics_socket = berth_strdup("");
    c->metrics_cert = berth_strdup("");
    c->metrics_key = berth_strdup("");
    /* CRI-O's defaults (and NRI's own for the socket and the directories) */
    c->enable_nri = false;
    c->nri_listen = berth_strdup("/var/run/nri/nri.sock");
    c->nri_plugin_dir = berth_strdup("/opt/nri/plugins");
    c->nri_plugin_config_dir = berth_strdup("/etc/nri/conf.d");
    c->nri_plugin_registration_timeout_ns = 5 * 1000000000LL;
    c->nri_plugin_request_timeout_ns = 2 * 1000000000LL;
    c->nri_disable_connections = false;
    strv_set(&c->nri_required_plugins, (const char *const[]){NULL});
    c->nri_tolerate_missing_plugins_annotation = berth_strdup("");
    c->creation_budget_ns = 4 * 60 * 1000000000LL;
    c->cni_budget_ns = 5 * 60 * 1000000000LL;
    c->stall_margin_ns = 1000000000LL;
    c->stash_window_ns = 10 * 60 * 1000000000LL;
    c->stats_refresh_interval_ns = 10 * 1000000000LL;
    strv_set(&c->warnings, (const char *const[]){NULL});
}

static int validate(const berth_config_t *c, berth_err_t *err)
{
    if (berth_log_level_parse(c->log_level) < 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.runtime.log_level: unknown level \"%s\"", c->log_level);
    if (strcmp(c->container_monitor, "berth") != 0 && strcmp(c->container_monitor, "conmon") != 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.runtime.container_monitor: expected \"berth\" or "
                              "\"conmon\", got \"%s\"",
                              c->container_monitor);
    if (strcmp(c->cgroup_manager, "cgroupfs") != 0 && strcmp(c->cgroup_manager, "systemd") != 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.runtime.cgroup_manager: expected \"cgroupfs\" or "
                              "\"systemd\", got \"%s\"",
                              c->cgroup_manager);
    if (!berth_config_runtime(c, c->default_runtime))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.runtime.default_runtime: no runtime handler \"%s\" in "
                              "[crio.runtime.runtimes]",
                              c->default_runtime);
    for (size_t i = 0; i < c->n_runtimes; i++) {
        const char *t = c->runtimes[i].runtime_type;
        if (strcmp(t, "oci") != 0 && strcmp(t, "vm") != 0 && strcmp(t, "pod") != 0)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "crio.runtime.runtimes.%s.runtime_type: expected \"oci\", "
                                  "\"vm\" or \"pod\", got \"%s\"",
                                  c->runtimes[i].name, t);
    }
    if (c->workers < 0 || c->workers > 4096)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.runtime.workers: %" PRId64 " is out of range (0..4096)",
                              c->workers);
    if (c->metrics_port < 0 || c->metrics_port > 65535)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.metrics.metrics_port: %" PRId64 " is not a port",
                              c->metrics_port);
    /* the files are read when the endpoint starts, which names a bad one */
    if ((c->metrics_cert[0] == '\0') != (c->metrics_key[0] == '\0'))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.metrics.%s is set but crio.metrics.%s is not: TLS for the "
                              "metrics endpoint needs both (a PEM certificate and its key)",
                              c->metrics_cert[0] ? "metrics_cert" : "metrics_key",
                              c->metrics_cert[0] ? "metrics_key" : "metrics_cert");
    if (c->enable_nri && c->nri_listen[0] != '/' && !c->nri_disable_connections)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.nri.nri_listen: \"%s\" is not an absolute socket path",
                              c->nri_listen);
    if (c->nri_plugin_registration_timeout_ns <= 0 || c->nri_plugin_request_timeout_ns <= 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.nri.nri_plugin_registration_timeout and "
                              "nri_plugin_request_timeout must be positive durations");
    if (c->grpc_max_send_msg_size <= 0 || c->grpc_max_recv_msg_size <= 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.api.grpc_max_*_msg_size must be positive");
    if (c->max_manifest_bytes < 1024 || c->max_config_bytes < 1024 || c->max_layer_entries < 1 ||
        c->grpc_max_streams < 1 || c->grpc_max_streams > 1000000)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.image.max_manifest_bytes and max_config_bytes must be at "
                              "least 1024, max_layer_entries positive, crio.api.grpc_max_streams "
                              "in 1..1000000");
    if (c->grpc_max_connections < 1)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.api.grpc_max_connections must be positive");
    {
        char *end = NULL;
        errno = 0;
        long port = strtol(c->stream_port, &end, 10);
        if (c->stream_port[0] == '\0' || *end != '\0' || errno || port < 0 || port > 65535)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "crio.api.stream_port: \"%s\" is not a TCP port (0-65535, 0: "
                                  "any free one)",
                                  c->stream_port);
    }
    if (c->stream_max_sessions < 1 || c->stream_max_streams < 2 || c->stream_max_buffered < 4096 ||
        c->stream_token_ttl_ns < 1000000000LL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.api.stream_max_sessions must be positive, stream_max_streams "
                              "at least 2, stream_max_buffered at least 4096 and "
                              "stream_token_ttl at least 1s");
    /* the files themselves are read when the server starts, which names
     * one that is missing, unreadable or does not match */
    if (c->stream_enable_tls && (c->stream_tls_cert[0] == '\0' || c->stream_tls_key[0] == '\0'))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.api.stream_enable_tls needs crio.api.%s (the streaming "
                              "server's PEM %s)",
                              c->stream_tls_cert[0] == '\0' ? "stream_tls_cert" : "stream_tls_key",
                              c->stream_tls_cert[0] == '\0' ? "certificate" : "private key");
    if (c->max_image_layers < 1 || c->max_image_bytes < 1 || c->max_concurrent_pulls < 1)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.image.max_image_layers, max_image_bytes and "
                              "max_concurrent_pulls must be positive");
    if (c->grpc_max_conn_buffered < c->grpc_max_recv_msg_size ||
        c->grpc_max_total_buffered < c->grpc_max_conn_buffered)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "crio.api.grpc_max_conn_buffered (%" PRId64
                              ") must be at least grpc_max_recv_msg_size (%" PRId64
                              ") and grpc_max_total_buffered (%" PRId64 ") at least that",
                              c->grpc_max_conn_buffered, c->grpc_max_recv_msg_size,
                              c->grpc_max_total_buffered);
    return 0;
}

static void config_free(berth_config_t *c)
{
    for (size_t i = 0; i < BERTH_ARRAY_LEN(keys); i++) {
        void *f = (char *)c + keys[i].off;
        if (keys[i].type == T_STR) {
            berth_free(*(char **)f);
            *(char **)f = NULL; /* durations share no field with strings */
        } else if (keys[i].type == T_STRV) {
            strv_free(f);
        }
    }
    for (size_t i = 0; i < c->n_runtimes; i++)
        runtime_fini(&c->runtimes[i]);
    berth_free(c->runtimes);
    strv_free(&c->warnings);
    berth_hooks_free(c->hooks);
    berth_free(c);
}

berth_config_t *berth_config_build(berth_config_builder_t *b, berth_err_t *err)
{
    berth_config_t *c = berth_calloc(1, sizeof(*c));
    berth_ref_init(&c->refs_);
    set_defaults(c);
    struct loader L = {.cfg = c};
    if (b->file && load_file(&L, b->file, err) < 0)
        goto fail;
    if (b->dir && load_dir(&L, b->dir, err) < 0)
        goto fail;
    for (size_t i = 0; i < b->n_ov; i++) {
        const struct keydesc *d;
        BERTH_AUTO_FREE char *handler = NULL;
        if (resolve_key(b->ov[i].key, &d, &handler, err) < 0)
            goto fail;
        void *base = c;
        if (handler) {
            L.runtimes_seen = true;
            base = runtime_get(c, handler, true);
        }
        if (apply_string(base, d, b->ov[i].value, b->ov[i].key, err) < 0)
            goto fail;
    }
    /* berth's stock handlers exist only when no configuration names any. */
    if (!L.runtimes_seen) {
        berth_config_runtime_t *r = runtime_get(c, "crun", true);
        str_set(&r->runtime_path, "/usr/bin/crun");
        str_set(&r->runtime_root, "/run/crun");
        r = runtime_get(c, "runc", true);
        str_set(&r->runtime_path, "/usr/bin/runc");
        str_set(&r->runtime_root, "/run/runc");
    }
    if (validate(c, err) < 0)
        goto fail;
    c->hooks = berth_hooks_load((const char *const *)c->hooks_dir.v, c->hooks_dir.n);
    return c;
fail:
    config_free(c);
    return NULL;
}

berth_config_builder_t *berth_config_builder_new(void)
{
    berth_config_builder_t *b = berth_calloc(1, sizeof(*b));
    b->file = berth_strdup(BERTH_CONFIG_DEFAULT_FILE);
    b->dir = berth_strdup(BERTH_CONFIG_DEFAULT_DIR);
    return b;
}

void berth_config_builder_free(berth_config_builder_t *b)
{
    if (!b)
        return;
    berth_free(b->file);
    berth_free(b->dir);
    for (size_t i = 0; i < b->n_ov; i++) {
        berth_free(b->ov[i].key);
        berth_free(b->ov[i].value);
    }
    berth_free(b->ov);
    berth_free(b);
}

void berth_config_builder_set_file(berth_config_builder_t *b, const char *path)
{
    berth_free(b->file);
    b->file = path ? berth_strdup(path) : NULL;
}

void berth_config_builder_set_dir(berth_config_builder_t *b, const char *path)
{
    berth_free(b->dir);
    b->dir = path ? berth_strdup(path) : NULL;
}

berth_config_t *berth_config_ref(berth_config_t *cfg)
{
    berth_ref_inc(&cfg->refs_);
    return cfg;
}

void berth_config_unref(berth_config_t *cfg)
{
    if (!cfg)
        return;
    if (berth_ref_dec_and_test(&cfg->refs_))
        config_free(cfg);
}

const berth_config_runtime_t *berth_config_runtime(const berth_config_t *cfg, const char *name)
{
    return runtime_get((berth_config_t *)cfg, name, false);
}

/* ---- printing ---- */

static void print_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\u%04X", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void print_value(FILE *out, const void *base, const struct keydesc *d)
{
    const void *f = (const char *)base + d->off;
    fprintf(out, "%s = ", d->name);
    switch (d->type) {
    case T_STR:
        print_string(out, *(char *const *)f);
        break;
    case T_INT:
        fprintf(out, "%" PRId64, *(const int64_t *)f);
        break;
    case T_BOOL:
        fputs(*(const bool *)f ? "true" : "false", out);
        break;
    case T_STRV: {
        const berth_strv_t *v = f;
        fputc('[', out);
        for (size_t i = 0; i < v->n; i++) {
            fputs(i ? ", " : "", out);
            print_string(out, v->v[i]);
        }
        fputc(']', out);
        break;
    }
    case T_DUR:
    case T_DUR0: {
        char buf[64] = "";
        if (d->type == T_DUR || *(const int64_t *)f != 0)
            format_duration(*(const int64_t *)f, buf, sizeof(buf));
        print_string(out, buf);
        break;
    }
    }
    fputc('\n', out);
}

static bool bare_key(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return false;
    }
    return true;
}

/* Whether [crio.names] has a key for the same field as k. */
static bool in_names(const struct keydesc *k)
{
    for (size_t i = 0; i < BERTH_ARRAY_LEN(keys); i++)
        if (keys[i].off == k->off && strcmp(keys[i].section, "names") == 0)
            return true;
    return false;
}

/* Whether section sec has a key that is printed. */
static bool section_printed(const char *sec)
{
    for (size_t i = 0; i < BERTH_ARRAY_LEN(keys); i++)
        if (!keys[i].alias && strcmp(keys[i].section, sec) == 0)
            return true;
    return false;
}

void berth_config_print(const berth_config_t *cfg, FILE *out)
{
    fputs("# berth effective configuration\n", out);
    for (size_t s = 0; s <= BERTH_ARRAY_LEN(sections); s++) {
        const char *sec = s == 0 ? "" : sections[s - 1];
        if (!section_printed(sec))
            continue;
        fprintf(out, "\n[crio%s%s]\n", s ? "." : "", sec);
        for (size_t i = 0; i < BERTH_ARRAY_LEN(keys); i++) {
            /* A duration [crio.names] also has is printed there only. */
            if ((keys[i].type == T_DUR || keys[i].type == T_DUR0) && strcmp(sec, "names") != 0 &&
                in_names(&keys[i]))
                continue;
            if (!keys[i].alias && strcmp(keys[i].section, sec) == 0)
                print_value(out, cfg, &keys[i]);
        }
        if (strcmp(sec, "runtime") != 0)
            continue;
        for (size_t r = 0; r < cfg->n_runtimes; r++) {
            const berth_config_runtime_t *rt = &cfg->runtimes[r];
            fputs("\n[crio.runtime.runtimes.", out);
            if (bare_key(rt->name))
                fputs(rt->name, out);
            else
                print_string(out, rt->name);
            fputs("]\n", out);
            for (size_t i = 0; i < BERTH_ARRAY_LEN(runtime_keys); i++)
                print_value(out, rt, &runtime_keys[i]);
        }
    }
}
