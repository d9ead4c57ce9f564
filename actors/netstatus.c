// SPDX-License-Identifier: Apache-2.0
/*
 * The network-readiness actor. It rescans the CNI configuration directory on
 * a timer, on io/'s blocking pool (readdir and file reads may stall on a busy
 * disk, so they never run in a turn), and mails subscribers whenever the
 * answer changes. It owns no network state itself: pod networking is done by
 * the pod actors with the configuration they read when a pod starts.
 */
#include "actors/netstatus.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/msgtypes.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"

#define MAX_SUBSCRIBERS 16
#define DEFAULT_RESCAN_NS (2ull * 1000 * 1000 * 1000)

typedef struct netstatus {
    char *network_dir;
    char **plugin_dirs; /* NULL-terminated, owned */
    char *default_network;
    uint64_t rescan_ns;
    bool scanning;
    bool known;
    bool ready;
    char *reason, *message, *network;
    berth_handle_t subs[MAX_SUBSCRIBERS];
    size_t n_subs;
} netstatus_t;

typedef struct scan_msg {
    berth_msg_t hdr; /* BERTH_MSG_NETSTATUS_SCANNED */
    /* inputs, owned copies so the pool thread shares nothing with the actor */
    char *network_dir;
    char **plugin_dirs;
    char *default_network;
    /* outputs */
    bool ready;
    char *reason, *message, *network;
} scan_msg_t;

typedef struct subscribe_msg {
    berth_msg_t hdr;
    berth_handle_t to;
} subscribe_msg_t;

static void netstatus_msg_free(berth_msg_t *m)
{
    berth_netstatus_msg_t *ns = (berth_netstatus_msg_t *)m;
    berth_free(ns->reason);
    berth_free(ns->message);
    berth_free(ns->network);
    berth_free(ns);
}

static void scan_msg_free(berth_msg_t *m)
{
    scan_msg_t *s = (scan_msg_t *)m;
    berth_free(s->network_dir);
    berth_strv_free(s->plugin_dirs);
    berth_free(s->default_network);
    berth_free(s->reason);
    berth_free(s->message);
    berth_free(s->network);
    berth_free(s);
}

static bool plugin_exists(const char *const *plugin_dirs, const char *type)
{
    /* A plugin type is a file name: refuse anything that could walk out of
     * the plugin directories. */
    if (type[0] == '\0' || strchr(type, '/') != NULL || strcmp(type, "..") == 0)
        return false;
    for (size_t i = 0; plugin_dirs && plugin_dirs[i]; i++) {
        BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", plugin_dirs[i], type);
        if (access(p, X_OK) == 0)
            return true;
    }
    return false;
}

/* Checks one configuration file; on success returns the network name (owned),
 * else NULL with *why set (owned). */
static char *check_conf(const char *path, const char *const *plugin_dirs, char **why)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (doc == NULL) {
        *why = berth_asprintf("%s:%d: %s", path, jerr.line, jerr.text);
        return NULL;
    }
    char *name = NULL;
    const char *nm = json_string_value(json_object_get(doc, "name"));
    json_t *plugins = json_object_get(doc, "plugins");
    json_t *single = NULL;
    if (!json_is_array(plugins)) {
        /* a single-plugin .conf file */
        single = json_array();
        json_array_append(single, doc);
        plugins = single;
    }
    if (nm == NULL || nm[0] == '\0') {
        *why = berth_asprintf("%s: no network name", path);
        goto out;
    }
    if (json_array_size(plugins) == 0) {
        *why = berth_asprintf("%s: no plugins", path);
        goto out;
    }
    size_t i;
    json_t *pl;
    json_array_foreach(plugins, i, pl)
    {
        const char *type = json_string_value(json_object_get(pl, "type"));
        if (type == NULL) {
            *why = berth_asprintf("%s: plugin %zu has no type", path, i);
            goto out;
        }
        if (!plugin_exists(plugin_dirs, type)) {
            *why = berth_asprintf("%s: CNI plugin %s not found in the plugin directories", path,
                                  type);
            goto out;
        }
    }
    name = berth_strdup(nm);
out:
    if (single)
        json_decref(single);
    json_decref(doc);
    return name;
}

static int conf_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan_impl(const char *network_dir, const char *const *plugin_dirs,
                      const char *default_network, bool *ready, char **reason, char **message,
                      char **network, char **path_out)
{
    *ready = false;
    if (path_out)
        *path_out = NULL;
    *network = berth_strdup("");
    DIR *d = opendir(network_dir);
    if (d == NULL) {
        *reason = berth_strdup("NetworkPluginNotReady");
        *message = berth_asprintf("no CNI configuration file in %s (cannot open it: %m); has "
                                  "your network provider started?",
                                  network_dir);
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *dot = strrchr(de->d_name, '.');
        if (dot == NULL || de->d_name[0] == '.')
            continue;
        if (strcmp(dot, ".conflist") != 0 && strcmp(dot, ".conf") != 0 && strcmp(dot, ".json") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            names = berth_realloc(names, cap * sizeof(char *));
        }
        names[n++] = berth_strdup(de->d_name);
    }
    closedir(d);
    /* CNI's rule, as libcni and CRI-O apply it: files in lexical order, the
     * first usable one wins unless a default network is named. */
    qsort(names, n, sizeof(char *), conf_name_cmp);
    BERTH_AUTO_FREE char *last_why = NULL;
    for (size_t i = 0; i < n && !*ready; i++) {
        BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", network_dir, names[i]);
        char *why = NULL;
        char *nm = check_conf(path, plugin_dirs, &why);
        if (nm == NULL) {
            berth_free(last_why);
            last_why = why;
            continue;
        }
        if (default_network && default_network[0] && strcmp(nm, default_network) != 0) {
            berth_free(nm);
            continue;
        }
        *ready = true;
        berth_free(*network);
        *network = nm;
        if (path_out)
            *path_out = berth_strdup(path);
    }
    for (size_t i = 0; i < n; i++)
        berth_free(names[i]);
    berth_free(names);
    if (*ready) {
        *reason = berth_strdup("");
        *message = berth_strdup("");
    } else if (default_network && default_network[0]) {
        *reason = berth_strdup("NetworkPluginNotReady");
        *message = berth_asprintf("CNI network %s (cni_default_network) not found or not usable "
                                  "in %s%s%s",
                                  default_network, network_dir, last_why ? "; last problem: " : "",
                                  last_why ? last_why : "");
    } else if (last_why) {
        *reason = berth_strdup("NetworkPluginNotReady");
        *message = berth_asprintf("no usable CNI configuration in %s: %s", network_dir, last_why);
    } else {
        *reason = berth_strdup("NetworkPluginNotReady");
        *message = berth_asprintf("no CNI configuration file in %s; has your network provider "
                                  "started?",
                                  network_dir);
    }
}

void berth_netstatus_scan(const char *network_dir, const char *const *plugin_dirs,
                          const char *default_network, bool *ready, char **reason, char **message,
                          char **network)
{
    scan_impl(network_dir, plugin_dirs, default_network, ready, reason, message, network, NULL);
}

char *berth_netstatus_pick(const char *network_dir, const char *const *plugin_dirs,
                           const char *default_network, char **why)
{
    bool ready;
    char *reason, *message, *network, *path;
    scan_impl(network_dir, plugin_dirs, default_network, &ready, &reason, &message, &network,
              &path);
    berth_free(reason);
    berth_free(network);
    if (ready) {
        berth_free(message);
        *why = NULL;
        return path;
    }
    *why = message;
    return NULL;
}

/* Runs on a blocking-pool thread: fills the outputs of the scan message. */
static void scan_job(void *arg)
{
    scan_msg_t *s = arg;
    berth_netstatus_scan(s->network_dir, (const char *const *)s->plugin_dirs, s->default_network,
                         &s->ready, &s->reason, &s->message, &s->network);
}

static void start_scan(berth_actor_t *self, netstatus_t *ns)
{
    if (ns->scanning)
        return;
    ns->scanning = true;
    scan_msg_t *s = berth_msg_new(BERTH_MSG_NETSTATUS_SCANNED, sizeof(*s));
    s->hdr.free = scan_msg_free;
    s->network_dir = berth_strdup(ns->network_dir);
    s->plugin_dirs = berth_strv_dup(ns->plugin_dirs, -1);
    s->default_network = berth_strdup(ns->default_network);
    berth_blocking_run(scan_job, s, berth_actor_self(self), &s->hdr);
}

static void publish(netstatus_t *ns, berth_handle_t to)
{
    berth_netstatus_msg_t *m = berth_msg_new(BERTH_MSG_NETSTATUS, sizeof(*m));
    m->hdr.free = netstatus_msg_free;
    m->ready = ns->ready;
    m->reason = berth_strdup(ns->reason);
    m->message = berth_strdup(ns->message);
    m->network = berth_strdup(ns->network);
    berth_send(to, &m->hdr);
}

static void on_scanned(berth_actor_t *self, netstatus_t *ns, scan_msg_t *s)
{
    ns->scanning = false;
    bool changed = !ns->known || ns->ready != s->ready || strcmp(ns->message, s->message) != 0;
    if (changed) {
        ns->known = true;
        ns->ready = s->ready;
        berth_free(ns->reason);
        berth_free(ns->message);
        berth_free(ns->network);
        ns->reason = berth_steal_ptr(&s->reason);
        ns->message = berth_steal_ptr(&s->message);
        ns->network = berth_steal_ptr(&s->network);
        if (ns->ready)
            berth_log_info("network ready", "network=%s dir=%s", ns->network, ns->network_dir);
        else
            berth_log_warn("network not ready", "reason=%s detail=\"%s\"", ns->reason, ns->message);
        for (size_t i = 0; i < ns->n_subs; i++)
            publish(ns, ns->subs[i]);
    }
    berth_timer_after(self, ns->rescan_ns,
                      berth_msg_new(BERTH_MSG_NETSTATUS_TICK, sizeof(berth_msg_t)));
}

static void netstatus_receive(berth_actor_t *self, berth_msg_t *msg)
{
    netstatus_t *ns = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_NETSTATUS_TICK:
        start_scan(self, ns);
        break;
    case BERTH_MSG_NETSTATUS_SCANNED:
        on_scanned(self, ns, (scan_msg_t *)msg);
        break;
    case BERTH_MSG_NETSTATUS_SUBSCRIBE: {
        subscribe_msg_t *sm = (subscribe_msg_t *)msg;
        if (ns->n_subs < MAX_SUBSCRIBERS)
            ns->subs[ns->n_subs++] = sm->to;
        else
            berth_log_error("netstatus: too many subscribers", "max=%d", MAX_SUBSCRIBERS);
        if (ns->known)
            publish(ns, sm->to);
        break;
    }
    default:
        break;
    }
    berth_msg_free(msg);
}

static void netstatus_fini(void *state)
{
    netstatus_t *ns = state;
    berth_free(ns->network_dir);
    berth_strv_free(ns->plugin_dirs);
    berth_free(ns->default_network);
    berth_free(ns->reason);
    berth_free(ns->message);
    berth_free(ns->network);
    berth_free(ns);
}

static const berth_actor_class_t netstatus_class = {
        .name = "netstatus",
        .receive = netstatus_receive,
        .fini = netstatus_fini,
};

berth_handle_t berth_netstatus_spawn(const berth_netstatus_config_t *cfg)
{
    netstatus_t *ns = berth_calloc(1, sizeof(*ns));
    ns->network_dir = berth_strdup(cfg->network_dir);
    ns->plugin_dirs = berth_strv_dup((char *const *)cfg->plugin_dirs, -1);
    ns->default_network = berth_strdup(cfg->default_network ? cfg->default_network : "");
    ns->rescan_ns = cfg->rescan_ns ? cfg->rescan_ns : DEFAULT_RESCAN_NS;
    ns->reason = berth_strdup("");
    ns->message = berth_strdup("");
    ns->network = berth_strdup("");
    berth_handle_t h = berth_actor_spawn(&netstatus_class, ns);
    berth_send(h, berth_msg_new(BERTH_MSG_NETSTATUS_TICK, sizeof(berth_msg_t)));
    return h;
}

void berth_netstatus_subscribe(berth_handle_t netstatus, berth_handle_t to)
{
    subscribe_msg_t *m = berth_msg_new(BERTH_MSG_NETSTATUS_SUBSCRIBE, sizeof(*m));
    m->to = to;
    berth_send(netstatus, &m->hdr);
}
