/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CNI runner (see cni.h): immutable networks, the per-operation runner
 * actor and the results cache.
 *
 * A runner actor owns one operation from start to reply: it builds each
 * plugin's stdin config, spawns the plugin through io/spawn (whose timeout
 * enforces the op's budget) and, on the exit message, either moves on along
 * the chain or fails, rolling an ADD back. It never blocks: the only file
 * system touch in a turn is access(2) on the plugin directories, the same
 * cost class as the exec that follows it.
 *
 * JSON goes through jansson. Strings that jansson returns are copied into
 * berth's allocator at once, so callers free everything with berth_free
 * whatever allocator jansson was given.
 */
#include "io/cni.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/hist.h"
#include "engine/log.h"
#include "engine/refcount.h"
#include "io/blocking.h"
#include "io/fs.h"
#include "io/spawn.h"

#define MAX_CONF_BYTES (1u << 20)
#define MAX_PLUGIN_OUTPUT (4u << 20)
#define DEFAULT_ROLLBACK_NS (60ull * 1000000000ull)

/* ---- JSON helpers -------------------------------------------------------- */

/* json_dumps output in berth's allocator. */
static char *dumps_owned(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL)
        return NULL;
    char *r = berth_strdup(s);
    json_free_t free_fn;
    json_get_alloc_funcs(NULL, &free_fn);
    free_fn(s);
    return r;
}

static void json_cleanup(json_t **j)
{
    if (*j != NULL)
        json_decref(*j);
}
#define AUTO_JSON __attribute__((cleanup(json_cleanup)))

void berth_cni_strv_free(char **v)
{
    berth_strv_free(v);
}

static int read_small_file(const char *path, char **out, size_t *len, berth_err_t *err)
{
    BERTH_AUTO_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return berth_err_errno(err, errno, "open %s", path);
    return berth_fs_read_fd(fd, path, MAX_CONF_BYTES, BERTH_ERR_INVALID, out, len, err);
}

/* ---- networks -------------------------------------------------------------- */

struct berth_cni_net {
    berth_ref_t refs; /* holders */
    char *name;
    char *version;
    char *json;      /* the conflist, compact */
    json_t *plugins; /* array of objects; never modified after parse */
    char **types;
    size_t nplugins;
};

static bool valid_net_name(const char *s)
{
    /* libcni's rule: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ */
    if (s == NULL || s[0] == '\0' || s[0] == '.' || s[0] == '_' || s[0] == '-')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return false;
    return true;
}

static bool valid_plugin_type(const char *t)
{
    return t != NULL && t[0] != '\0' && strchr(t, '/') == NULL && strcmp(t, ".") != 0 &&
           strcmp(t, "..") != 0;
}

berth_cni_net_t *berth_cni_net_parse(const char *text, size_t len, const char *origin,
                                     berth_err_t *err)
{
    if (origin == NULL)
        origin = "CNI config";
    json_error_t jerr;
    AUTO_JSON json_t *root = json_loadb(text, len, 0, &jerr);
    if (root == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s: invalid JSON at line %d: %s",
                              origin, jerr.line, jerr.text),
               NULL;
    if (!json_is_object(root))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s: not a JSON object", origin),
               NULL;
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *version = json_string_value(json_object_get(root, "cniVersion"));
    if (!valid_net_name(name))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s: missing or invalid network name",
                              origin),
               NULL;
    if (version == NULL || version[0] == '\0')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s: network %s has no cniVersion",
                              origin, name),
               NULL;
    AUTO_JSON json_t *list = NULL;
    json_t *plugins = json_object_get(root, "plugins");
    if (plugins != NULL) {
        list = json_incref(root);
    } else if (json_object_get(root, "type") != NULL) {
        /* A single .conf is a one-plugin list whose plugin is the whole
         * object, as libcni's ConfListFromConf makes it. */
        list = json_pack("{s:s, s:s, s:[O]}", "cniVersion", version, "name", name, "plugins", root);
        plugins = json_object_get(list, "plugins");
    }
    if (!json_is_array(plugins) || json_array_size(plugins) == 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s: network %s has no plugins",
                              origin, name),
               NULL;
    size_t n = json_array_size(plugins);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(plugins, i);
        const char *type = json_string_value(json_object_get(p, "type"));
        if (!json_is_object(p) || !valid_plugin_type(type))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "%s: network %s: plugin %zu has a missing or invalid type "
                                  "(a plugin name, without '/')",
                                  origin, name, i),
                   NULL;
    }
    berth_cni_net_t *net = berth_calloc(1, sizeof *net);
    berth_ref_init(&net->refs);
    net->name = berth_strdup(name);
    net->version = berth_strdup(version);
    net->json = dumps_owned(list);
    /* A deep copy, so nothing else ever holds (and could modify) it. */
    net->plugins = json_deep_copy(plugins);
    net->nplugins = n;
    net->types = berth_calloc(n + 1, sizeof *net->types);
    for (size_t i = 0; i < n; i++)
        net->types[i] = berth_strdup(
                json_string_value(json_object_get(json_array_get(plugins, i), "type")));
    return net;
}

berth_cni_net_t *berth_cni_net_load(const char *path, berth_err_t *err)
{
    BERTH_AUTO_FREE char *text = NULL;
    size_t len = 0;
    if (read_small_file(path, &text, &len, err) < 0)
        return NULL;
    return berth_cni_net_parse(text, len, path, err);
}

berth_cni_net_t *berth_cni_net_ref(berth_cni_net_t *net)
{
    berth_ref_inc(&net->refs);
    return net;
}

void berth_cni_net_unref(berth_cni_net_t *net)
{
    if (net == NULL)
        return;
    if (!berth_ref_dec_and_test(&net->refs))
        return;
    berth_free(net->name);
    berth_free(net->version);
    berth_free(net->json);
    json_decref(net->plugins);
    berth_cni_strv_free(net->types);
    berth_free(net);
}

const char *berth_cni_net_name(const berth_cni_net_t *net)
{
    return net->name;
}

const char *berth_cni_net_version(const berth_cni_net_t *net)
{
    return net->version;
}

size_t berth_cni_net_nplugins(const berth_cni_net_t *net)
{
    return net->nplugins;
}

const char *berth_cni_net_plugin_type(const berth_cni_net_t *net, size_t i)
{
    return i < net->nplugins ? net->types[i] : NULL;
}

const char *berth_cni_net_json(const berth_cni_net_t *net)
{
    return net->json;
}

/* ---- results ----------------------------------------------------------------- */

static void push_ip(char ***v, size_t *n, const char *cidr)
{
    if (cidr == NULL)
        return;
    size_t len = strcspn(cidr, "/");
    *v = berth_realloc(*v, (*n + 2) * sizeof **v);
    (*v)[(*n)++] = berth_strndup(cidr, len);
    (*v)[*n] = NULL;
}

static char **result_ips(const json_t *res)
{
    char **v = berth_calloc(1, sizeof *v);
    size_t n = 0;
    json_t *ips = json_object_get(res, "ips");
    for (size_t i = 0; i < json_array_size(ips); i++)
        push_ip(&v, &n, json_string_value(json_object_get(json_array_get(ips, i), "address")));
    /* 0.2.0 results. */
    push_ip(&v, &n, json_string_value(json_object_get(json_object_get(res, "ip4"), "ip")));
    push_ip(&v, &n, json_string_value(json_object_get(json_object_get(res, "ip6"), "ip")));
    return v;
}

char **berth_cni_result_ips(const char *result_json, berth_err_t *err)
{
    AUTO_JSON json_t *res = result_json ? json_loads(result_json, 0, NULL) : NULL;
    if (!json_is_object(res))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "not a CNI result object"), NULL;
    return result_ips(res);
}

/* ---- the runner actor ------------------------------------------------------ */

static const char *op_name(int op)
{
    return op == BERTH_CNI_ADD ? "ADD" : op == BERTH_CNI_DEL ? "DEL" : "CHECK";
}

enum phase { PH_RUN, PH_ROLLBACK };

typedef struct runner {
    berth_handle_t owner;
    uint64_t tag;
    int op;
    berth_cni_net_t *net;
    char *container_id, *netns, *ifname, *cni_args, *cni_path, *path_env;
    char **plugin_dirs;
    json_t *cap_args; /* object: capability -> value; may be NULL */
    json_t *prev;     /* ADD: the chain's result so far; DEL/CHECK: the cached one */
    size_t idx;       /* the plugin running now */
    int phase;
    uint64_t start_ns, budget_ns, deadline_ns;
    uint64_t plugin_ns; /* the running plugin's start, for its histogram */
    berth_err_t error;  /* the failure being reported (kept through a rollback) */
    bool done;
} runner_t;

static void runner_fini(void *p)
{
    runner_t *r = p;
    berth_cni_net_unref(r->net);
    berth_free(r->container_id);
    berth_free(r->netns);
    berth_free(r->ifname);
    berth_free(r->cni_args);
    berth_free(r->cni_path);
    berth_free(r->path_env);
    berth_cni_strv_free(r->plugin_dirs);
    if (r->cap_args)
        json_decref(r->cap_args);
    if (r->prev)
        json_decref(r->prev);
    berth_err_free(&r->error);
    berth_free(r);
}

static void done_msg_free(berth_msg_t *m)
{
    berth_cni_done_msg_t *d = (berth_cni_done_msg_t *)m;
    berth_free(d->result_json);
    berth_cni_strv_free(d->ips);
    berth_err_free(&d->error);
    berth_free(d);
}

static void runner_finish(berth_actor_t *self, runner_t *r)
{
    berth_cni_done_msg_t *d = berth_msg_new(BERTH_MSG_CNI_DONE, sizeof *d);
    d->hdr.free = done_msg_free;
    d->tag = r->tag;
    d->op = r->op;
    d->elapsed_ns = berth_now_ns() - r->start_ns;
    if (r->error != NULL) {
        d->error = berth_err_steal(&r->error);
    } else if (r->op == BERTH_CNI_ADD) {
        if (r->prev != NULL) {
            d->result_json = dumps_owned(r->prev);
            d->ips = result_ips(r->prev);
        } else {
            /* Every plugin printed nothing: an empty 1.0.0 result. */
            d->result_json = berth_asprintf("{\"cniVersion\":\"%s\"}", r->net->version);
            d->ips = berth_calloc(1, sizeof *d->ips);
        }
    }
    if (d->error == NULL) {
        char hname[64];
        snprintf(hname, sizeof(hname), "cni %s (whole chain)", op_name(r->op));
        berth_hist_add(hname, d->elapsed_ns);
    }
    r->done = true;
    berth_send(r->owner, &d->hdr);
    berth_actor_exit(self);
}

/* Chaining (prevResult) exists since CNI 0.3.0. */
static bool version_chains(const char *v)
{
    return !(strncmp(v, "0.1.", 4) == 0 || strncmp(v, "0.2.", 4) == 0);
}

static char *plugin_stdin(runner_t *r, size_t idx)
{
    AUTO_JSON json_t *conf = json_deep_copy(json_array_get(r->net->plugins, idx));
    json_object_set_new(conf, "name", json_string(r->net->name));
    json_object_set_new(conf, "cniVersion", json_string(r->net->version));
    if (r->prev != NULL && version_chains(r->net->version))
        json_object_set(conf, "prevResult", r->prev);
    else
        json_object_del(conf, "prevResult");
    /* runtimeConfig carries only what the plugin declared it can take. */
    json_t *caps = json_object_get(conf, "capabilities");
    AUTO_JSON json_t *rc = json_object();
    const char *cap;
    json_t *on;
    json_object_foreach(caps, cap, on)
    {
        json_t *val = json_object_get(r->cap_args, cap);
        if (json_is_true(on) && val != NULL)
            json_object_set(rc, cap, val);
    }
    if (json_object_size(rc) > 0)
        json_object_set(conf, "runtimeConfig", rc);
    return dumps_owned(conf);
}

static char *find_plugin(runner_t *r, const char *type)
{
    return berth_fs_find_in((const char *const *)r->plugin_dirs, type);
}

static int current_cmd(runner_t *r)
{
    return r->phase == PH_ROLLBACK ? BERTH_CNI_DEL : r->op;
}

/* Fills *e for a failed plugin run; returns -1. */
static int plugin_error(runner_t *r, berth_proc_exit_msg_t *x, json_t *out, berth_err_t *e)
{
    const char *type = r->net->types[r->idx];
    const char *cmd = op_name(current_cmd(r));
    if (x->timed_out)
        return berth_err_make(e, ETIMEDOUT, BERTH_ERR_TIMEOUT,
                              "plugin %s (%s) timed out after %.1f s (CNI budget) and was "
                              "killed",
                              type, cmd, (double)r->budget_ns / 1e9);
    const char *msg = json_string_value(json_object_get(out, "msg"));
    const char *details = json_string_value(json_object_get(out, "details"));
    if (msg != NULL)
        return berth_err_make(e, EIO, BERTH_ERR_UNKNOWN, "plugin %s (%s) failed: %s%s%s", type, cmd,
                              msg, details && details[0] ? ": " : "", details ? details : "");
    /* No CNI error object: the exit and stderr are all there is. */
    BERTH_AUTO_FREE char *how = NULL;
    if (x->wait_error != 0)
        how = berth_asprintf("cannot wait for it: %s", strerror(-x->wait_error));
    else if (x->code == CLD_EXITED)
        how = berth_asprintf("exit status %d", x->status);
    else
        how = berth_asprintf("killed by signal %d", x->status);
    size_t elen = x->err_len;
    while (elen > 0 && (x->err[elen - 1] == '\n' || x->err[elen - 1] == ' '))
        elen--;
    if (elen > 512)
        elen = 512;
    return berth_err_make(e, EIO, BERTH_ERR_UNKNOWN, "plugin %s (%s) failed: %s%s%.*s", type, cmd,
                          how, elen ? ": " : "", (int)elen, elen ? (const char *)x->err : "");
}

static void on_plugin_failed(berth_actor_t *self, runner_t *r, berth_err_t e);

/* Starts plugin r->idx for the current command; a plugin that cannot start
 * counts as a failed plugin. */
static void start_plugin(berth_actor_t *self, runner_t *r)
{
    const char *type = r->net->types[r->idx];
    int cmd = current_cmd(r);
    BERTH_AUTO_FREE char *bin = find_plugin(r, type);
    if (bin == NULL) {
        berth_err_t e = NULL;
        BERTH_AUTO_FREE char *dirs = berth_strdup(r->cni_path);
        berth_err_make(&e, ENOENT, BERTH_ERR_PRECONDITION,
                       "plugin %s (%s) failed: no executable %s in the CNI plugin directories "
                       "(%s)",
                       type, op_name(cmd), type, dirs);
        on_plugin_failed(self, r, e);
        return;
    }
    uint64_t now = berth_now_ns();
    uint64_t timeout = 0;
    if (r->deadline_ns != 0) {
        /* At least 1 ns, so a spent budget still kills rather than disables. */
        timeout = r->deadline_ns > now ? r->deadline_ns - now : 1;
    }
    BERTH_AUTO_FREE char *conf = plugin_stdin(r, r->idx);
    BERTH_AUTO_FREE char *e_cmd = berth_asprintf("CNI_COMMAND=%s", op_name(cmd));
    BERTH_AUTO_FREE char *e_id = berth_asprintf("CNI_CONTAINERID=%s", r->container_id);
    BERTH_AUTO_FREE char *e_ns = berth_asprintf("CNI_NETNS=%s", r->netns ? r->netns : "");
    BERTH_AUTO_FREE char *e_if = berth_asprintf("CNI_IFNAME=%s", r->ifname);
    BERTH_AUTO_FREE char *e_args = berth_asprintf("CNI_ARGS=%s", r->cni_args);
    BERTH_AUTO_FREE char *e_path = berth_asprintf("CNI_PATH=%s", r->cni_path);
    /* Plugins exec helpers (iptables, ip6tables) by name. */
    BERTH_AUTO_FREE char *e_sys = berth_asprintf("PATH=%s", r->path_env);
    char *const envp[] = {e_cmd, e_id, e_ns, e_if, e_args, e_path, e_sys, NULL};
    char *const argv[] = {(char *)type, NULL};
    berth_proc_spec_t ps = {
            .path = bin,
            .argv = argv,
            .envp = envp,
            .cwd = "/",
            .stdin_mode = BERTH_PROC_DATA,
            .stdin_data = conf,
            .stdin_len = strlen(conf),
            .stdout_mode = BERTH_PROC_CAPTURE,
            .stderr_mode = BERTH_PROC_CAPTURE,
            .max_output = MAX_PLUGIN_OUTPUT,
            .timeout_ns = timeout,
            .new_pgroup = true,
    };
    berth_err_t e = NULL;
    r->plugin_ns = berth_hist_now();
    int rc = berth_proc_run(berth_actor_self(self), &ps, r->idx, NULL, NULL, &e);
    /* posix_spawn runs in this worker's turn: how long the worker waited */
    berth_hist_since("cni plugin spawn (in a worker turn)", r->plugin_ns);
    if (rc < 0) {
        berth_err_prefix(&e, "plugin %s (%s) failed to start", type, op_name(cmd));
        on_plugin_failed(self, r, e);
    }
}

/* Moves to the next plugin of the current direction, or finishes. */
static void advance(berth_actor_t *self, runner_t *r)
{
    bool reverse = current_cmd(r) == BERTH_CNI_DEL;
    if (reverse) {
        if (r->idx == 0) {
            runner_finish(self, r);
            return;
        }
        r->idx--;
    } else {
        if (r->idx + 1 >= r->net->nplugins) {
            runner_finish(self, r);
            return;
        }
        r->idx++;
    }
    start_plugin(self, r);
}

static void begin_rollback(berth_actor_t *self, runner_t *r)
{
    /* DEL from the plugin that failed (it may have done half its work; DEL
     * is idempotent) back to the first, with the result of the chain before
     * the failure, and a fresh budget: the op's budget was likely spent. */
    r->phase = PH_ROLLBACK;
    uint64_t budget = r->budget_ns ? r->budget_ns : DEFAULT_ROLLBACK_NS;
    r->deadline_ns = berth_now_ns() + budget;
    start_plugin(self, r);
}

static void on_plugin_failed(berth_actor_t *self, runner_t *r, berth_err_t e)
{
    if (r->phase == PH_ROLLBACK) {
        berth_log_warn("CNI rollback step failed", "network=%s container=%s error=\"%s\"",
                       r->net->name, r->container_id, e->msg);
        berth_err_free(&e);
        advance(self, r);
        return;
    }
    berth_err_prefix(&e, "CNI network %s", r->net->name);
    r->error = e;
    if (r->op == BERTH_CNI_ADD) {
        begin_rollback(self, r);
        return;
    }
    runner_finish(self, r);
}

static void on_exit_msg(berth_actor_t *self, runner_t *r, berth_proc_exit_msg_t *x)
{
    char hname[96];
    snprintf(hname, sizeof(hname), "cni %s %s", op_name(current_cmd(r)), r->net->types[r->idx]);
    berth_hist_since(hname, r->plugin_ns);
    /* Stdout is either a result or a CNI error object (or empty). */
    AUTO_JSON json_t *out = NULL;
    if (x->out_len > 0)
        out = json_loadb((const char *)x->out, x->out_len, 0, NULL);
    bool err_obj = json_is_object(out) && json_object_get(out, "code") != NULL &&
                   json_object_get(out, "msg") != NULL &&
                   json_integer_value(json_object_get(out, "code")) != 0;
    if (!berth_proc_exit_ok(x) || err_obj) {
        berth_err_t e = NULL;
        plugin_error(r, x, out, &e);
        on_plugin_failed(self, r, e);
        return;
    }
    if (r->phase == PH_RUN && r->op == BERTH_CNI_ADD && x->out_len > 0) {
        if (!json_is_object(out)) {
            berth_err_t e = NULL;
            berth_err_make(&e, EIO, BERTH_ERR_UNKNOWN,
                           "plugin %s (ADD) failed: its output is not a JSON result",
                           r->net->types[r->idx]);
            on_plugin_failed(self, r, e);
            return;
        }
        if (r->prev)
            json_decref(r->prev);
        r->prev = json_incref(out);
    }
    advance(self, r);
}

static void runner_receive(berth_actor_t *self, berth_msg_t *msg)
{
    runner_t *r = berth_actor_state(self);
    if (r->done) {
        berth_msg_free(msg);
        return;
    }
    switch (msg->type) {
    case BERTH_MSG_CNI_START:
        r->idx = r->op == BERTH_CNI_DEL ? r->net->nplugins - 1 : 0;
        start_plugin(self, r);
        break;
    case BERTH_MSG_PROC_EXIT:
        on_exit_msg(self, r, (berth_proc_exit_msg_t *)msg);
        break;
    default:
        break;
    }
    berth_msg_free(msg);
}

static const berth_actor_class_t runner_class = {
        .name = "cni-runner",
        .receive = runner_receive,
        .fini = runner_fini,
};

static bool cni_arg_ok(const char *s)
{
    return s == NULL || (strchr(s, ';') == NULL && strchr(s, '=') == NULL);
}

int berth_cni_run(berth_handle_t owner, const berth_cni_run_spec_t *spec, uint64_t tag,
                  berth_err_t *err)
{
    if (spec->net == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "CNI run without a network");
    if (spec->op != BERTH_CNI_ADD && spec->op != BERTH_CNI_DEL && spec->op != BERTH_CNI_CHECK)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "unknown CNI command %d", spec->op);
    if (spec->container_id == NULL || spec->container_id[0] == '\0')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "CNI %s needs a container id",
                              op_name(spec->op));
    if (spec->op != BERTH_CNI_DEL && (spec->netns == NULL || spec->netns[0] == '\0'))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "CNI %s needs a network namespace path", op_name(spec->op));
    if (spec->plugin_dirs == NULL || spec->plugin_dirs[0] == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "no CNI plugin directories configured");
    if (!cni_arg_ok(spec->pod_namespace) || !cni_arg_ok(spec->pod_name) ||
        !cni_arg_ok(spec->pod_uid) || !cni_arg_ok(spec->container_id))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "pod namespace, name, uid and id must not contain ';' or '=' "
                              "(they are passed in CNI_ARGS)");
    AUTO_JSON json_t *caps = NULL;
    if (spec->capability_args_json != NULL) {
        caps = json_loads(spec->capability_args_json, 0, NULL);
        if (!json_is_object(caps))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "CNI capability arguments are not a JSON object");
    } else {
        caps = json_object();
    }
    if (spec->port_mappings_json != NULL) {
        json_t *pm = json_loads(spec->port_mappings_json, 0, NULL);
        if (!json_is_array(pm)) {
            if (pm)
                json_decref(pm);
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "CNI port mappings are not a JSON array");
        }
        json_object_set_new(caps, "portMappings", pm);
    }
    AUTO_JSON json_t *prev = NULL;
    if (spec->op != BERTH_CNI_ADD && spec->prev_result_json != NULL) {
        prev = json_loads(spec->prev_result_json, 0, NULL);
        if (!json_is_object(prev))
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "the cached CNI result is not a JSON object");
    }

    runner_t *r = berth_calloc(1, sizeof *r);
    r->owner = owner;
    r->tag = tag;
    r->op = spec->op;
    r->net = berth_cni_net_ref(spec->net);
    r->container_id = berth_strdup(spec->container_id);
    r->netns = spec->netns ? berth_strdup(spec->netns) : NULL;
    r->ifname = berth_strdup(spec->ifname ? spec->ifname : "eth0");
    r->cni_args = berth_asprintf("IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
                                 "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
                                 spec->pod_namespace ? spec->pod_namespace : "",
                                 spec->pod_name ? spec->pod_name : "", spec->container_id,
                                 spec->pod_uid ? spec->pod_uid : "");
    r->plugin_dirs = berth_strv_dup((char *const *)spec->plugin_dirs, -1);
    r->cni_path = berth_strdup(r->plugin_dirs[0]);
    for (char **d = r->plugin_dirs + 1; *d; d++) {
        char *joined = berth_asprintf("%s:%s", r->cni_path, *d);
        berth_free(r->cni_path);
        r->cni_path = joined;
    }
    const char *path = getenv("PATH");
    r->path_env = berth_strdup(path && path[0] ? path
                                               : "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                                 "/usr/bin:/sbin:/bin");
    r->cap_args = berth_steal_ptr(&caps);
    r->prev = berth_steal_ptr(&prev);
    r->phase = PH_RUN;
    r->start_ns = berth_now_ns();
    r->budget_ns = spec->timeout_ns;
    r->deadline_ns = spec->timeout_ns ? r->start_ns + spec->timeout_ns : 0;
    berth_handle_t h = berth_actor_spawn(&runner_class, r);
    berth_send(h, berth_msg_new(BERTH_MSG_CNI_START, sizeof(berth_msg_t)));
    return 0;
}

/* ---- results cache ------------------------------------------------------------ */

static int check_cache_names(const char *pod_id, const char *net_name, berth_err_t *err)
{
    if (pod_id == NULL || pod_id[0] == '\0' || strchr(pod_id, '/') != NULL || pod_id[0] == '.')
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "invalid pod id \"%s\" for the CNI cache", pod_id ? pod_id : "");
    if (net_name != NULL && !valid_net_name(net_name))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "invalid network name \"%s\" for the CNI cache", net_name);
    return 0;
}

int berth_cni_cache_write(const char *dir, const char *pod_id, const berth_cni_net_t *net,
                          const char *result_json, berth_err_t *err)
{
    if (check_cache_names(pod_id, net->name, err) < 0)
        return -1;
    AUTO_JSON json_t *conf = json_loads(net->json, 0, NULL);
    AUTO_JSON json_t *res = result_json ? json_loads(result_json, 0, NULL) : json_null();
    if (!json_is_object(res) && !json_is_null(res))
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "CNI cache: the result of network %s is not a JSON object",
                              net->name);
    AUTO_JSON json_t *entry =
            json_pack("{s:s, s:s, s:s, s:O, s:O}", "kind", "berth-cni-cache/v1", "podId", pod_id,
                      "networkName", net->name, "network", conf, "result", res);
    BERTH_AUTO_FREE char *text = dumps_owned(entry);
    BERTH_AUTO_FREE char *pdir = berth_asprintf("%s/%s", dir, pod_id);
    /* The cache directory itself is 0700 (as libcni makes it), so nothing
     * under it is reachable by others whatever mode its parents get. */
    if (berth_fs_mkdir_p(dir, 0700, err) < 0 || berth_fs_mkdir_p(pdir, 0700, err) < 0)
        return berth_err_prefix(err, "CNI cache");
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s.json", pdir, net->name);
    if (berth_file_write_atomic(path, text, strlen(text), 0600, err) < 0)
        return berth_err_prefix(err, "CNI cache");
    return 0;
}

int berth_cni_cache_read(const char *dir, const char *pod_id, const char *net_name,
                         berth_cni_net_t **net_out, char **result_out, berth_err_t *err)
{
    if (net_name == NULL)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "CNI cache read needs a network name");
    if (check_cache_names(pod_id, net_name, err) < 0)
        return -1;
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s/%s.json", dir, pod_id, net_name);
    BERTH_AUTO_FREE char *text = NULL;
    size_t len = 0;
    if (read_small_file(path, &text, &len, err) < 0)
        return berth_err_prefix(err, "CNI cache");
    AUTO_JSON json_t *entry = json_loadb(text, len, 0, NULL);
    json_t *conf = json_object_get(entry, "network");
    json_t *res = json_object_get(entry, "result");
    if (!json_is_object(conf))
        return berth_err_make(err, EINVAL, BERTH_ERR_DATA_LOSS, "CNI cache %s: not a cache entry",
                              path);
    BERTH_AUTO_FREE char *conf_text = dumps_owned(conf);
    berth_cni_net_t *net = berth_cni_net_parse(conf_text, strlen(conf_text), path, err);
    if (net == NULL)
        return -1;
    if (net_out != NULL)
        *net_out = net;
    else
        berth_cni_net_unref(net);
    if (result_out != NULL)
        *result_out = json_is_object(res) ? dumps_owned(res) : NULL;
    return 0;
}

char **berth_cni_cache_list(const char *dir, const char *pod_id, berth_err_t *err)
{
    if (check_cache_names(pod_id, NULL, err) < 0)
        return NULL;
    BERTH_AUTO_FREE char *pdir = berth_asprintf("%s/%s", dir, pod_id);
    char **v = berth_calloc(1, sizeof *v);
    size_t n = 0;
    DIR *d = opendir(pdir);
    if (d == NULL) {
        if (errno == ENOENT)
            return v;
        berth_cni_strv_free(v);
        return berth_err_errno(err, errno, "CNI cache: open %s", pdir), NULL;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || e->d_name[0] == '.' || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        v = berth_realloc(v, (n + 2) * sizeof *v);
        v[n++] = berth_strndup(e->d_name, len - 5);
        v[n] = NULL;
    }
    closedir(d);
    return v;
}

int berth_cni_cache_remove(const char *dir, const char *pod_id, const char *net_name,
                           berth_err_t *err)
{
    if (check_cache_names(pod_id, net_name, err) < 0)
        return -1;
    char **names = NULL;
    if (net_name == NULL) {
        names = berth_cni_cache_list(dir, pod_id, err);
        if (names == NULL)
            return -1;
    } else {
        names = berth_calloc(2, sizeof *names);
        names[0] = berth_strdup(net_name);
    }
    int rc = 0;
    for (char **p = names; *p && rc == 0; p++) {
        BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s/%s.json", dir, pod_id, *p);
        if (unlink(path) < 0 && errno != ENOENT)
            rc = berth_err_errno(err, errno, "CNI cache: remove %s", path);
    }
    berth_cni_strv_free(names);
    if (rc == 0) {
        BERTH_AUTO_FREE char *pdir = berth_asprintf("%s/%s", dir, pod_id);
        /* A crash during a cache write leaves its temp file (NAME.json.tmp.*,
         * berth_file_write_atomic's): it goes with the pod's entries. */
        DIR *d = opendir(pdir);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (strstr(de->d_name, ".json.tmp.") == NULL)
                continue;
            if (net_name != NULL && (strncmp(de->d_name, net_name, strlen(net_name)) != 0 ||
                                     strncmp(de->d_name + strlen(net_name), ".json.tmp.", 10) != 0))
                continue;
            BERTH_AUTO_FREE char *t = berth_asprintf("%s/%s", pdir, de->d_name);
            unlink(t);
        }
        if (d)
            closedir(d);
        /* ENOTEMPTY: other networks of the pod are still cached. */
        if (rmdir(pdir) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
            rc = berth_err_errno(err, errno, "CNI cache: remove %s", pdir);
    }
    return rc;
}

/* ---- cache on the pool --------------------------------------------------------- */

enum { CJ_WRITE, CJ_READ, CJ_REMOVE };

typedef struct cache_job {
    int kind;
    char *dir, *pod_id, *net_name, *result;
    berth_cni_net_t *net;
    berth_cni_cache_msg_t *reply;
} cache_job_t;

static void cache_msg_free(berth_msg_t *m)
{
    berth_cni_cache_msg_t *c = (berth_cni_cache_msg_t *)m;
    berth_cni_net_unref(c->net);
    berth_free(c->result_json);
    berth_err_free(&c->error);
    berth_free(c);
}

static void cache_job(void *arg)
{
    cache_job_t *j = arg;
    berth_cni_cache_msg_t *m = j->reply;
    if (j->kind == CJ_WRITE)
        berth_cni_cache_write(j->dir, j->pod_id, j->net, j->result, &m->error);
    else if (j->kind == CJ_READ)
        berth_cni_cache_read(j->dir, j->pod_id, j->net_name, &m->net, &m->result_json, &m->error);
    else
        berth_cni_cache_remove(j->dir, j->pod_id, j->net_name, &m->error);
    berth_free(j->dir);
    berth_free(j->pod_id);
    berth_free(j->net_name);
    berth_free(j->result);
    berth_cni_net_unref(j->net);
    berth_free(j);
}

static void cache_job_queue(int kind, const char *dir, const char *pod_id, const char *net_name,
                            berth_cni_net_t *net, const char *result, berth_handle_t reply_to,
                            uint64_t tag)
{
    cache_job_t *j = berth_calloc(1, sizeof *j);
    j->kind = kind;
    j->dir = berth_strdup(dir);
    j->pod_id = berth_strdup(pod_id ? pod_id : "");
    j->net_name = net_name ? berth_strdup(net_name) : NULL;
    j->result = result ? berth_strdup(result) : NULL;
    j->net = net ? berth_cni_net_ref(net) : NULL;
    j->reply = berth_msg_new(BERTH_MSG_CNI_CACHE, sizeof *j->reply);
    j->reply->hdr.free = cache_msg_free;
    j->reply->tag = tag;
    berth_blocking_run(cache_job, j, reply_to, &j->reply->hdr);
}

void berth_cni_cache_write_async(const char *dir, const char *pod_id, berth_cni_net_t *net,
                                 const char *result_json, berth_handle_t reply_to, uint64_t tag)
{
    cache_job_queue(CJ_WRITE, dir, pod_id, NULL, net, result_json, reply_to, tag);
}

void berth_cni_cache_read_async(const char *dir, const char *pod_id, const char *net_name,
                                berth_handle_t reply_to, uint64_t tag)
{
    cache_job_queue(CJ_READ, dir, pod_id, net_name, NULL, NULL, reply_to, tag);
}

void berth_cni_cache_remove_async(const char *dir, const char *pod_id, const char *net_name,
                                  berth_handle_t reply_to, uint64_t tag)
{
    cache_job_queue(CJ_REMOVE, dir, pod_id, net_name, NULL, NULL, reply_to, tag);
}
