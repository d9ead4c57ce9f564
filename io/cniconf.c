/* SPDX-License-Identifier: Apache-2.0 */
#include "io/cniconf.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "io/fs.h"

static bool plugin_exists(const char *const *plugin_dirs, const char *type)
{
    /* A plugin type is a file name: refuse anything that could walk out of
     * the plugin directories. */
    if (type[0] == '\0' || strchr(type, '/') != NULL || strcmp(type, "..") == 0)
        return false;
    BERTH_AUTO_FREE char *p = berth_fs_find_in(plugin_dirs, type);
    return p != NULL;
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
    if (n > 1) /* names is NULL for an empty directory */
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

void berth_cniconf_scan(const char *network_dir, const char *const *plugin_dirs,
                        const char *default_network, bool *ready, char **reason, char **message,
                        char **network)
{
    scan_impl(network_dir, plugin_dirs, default_network, ready, reason, message, network, NULL);
}

char *berth_cniconf_pick(const char *network_dir, const char *const *plugin_dirs,
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
