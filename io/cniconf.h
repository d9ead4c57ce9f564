/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which CNI configuration a node's pods use: the files in the network
 * directory (*.conflist, *.conf, *.json) in lexical order, the first usable
 * one winning unless a default network is named, as libcni and CRI-O choose.
 * Usable means valid JSON with a network name and plugins whose types all
 * exist as executables in the plugin directories. The netstatus actor runs
 * the scan on a timer for Status; the pod actor picks the file when a pod
 * starts. Reads a directory and small files: blocking pool only.
 */
#ifndef BERTH_IO_CNICONF_H
#define BERTH_IO_CNICONF_H

#include <stdbool.h>

/* Checks network_dir. ready: a usable configuration exists (network: its
 * name); otherwise reason is "NetworkPluginNotReady" and message says what
 * is missing or wrong, naming the file and line. All strings owned. */
void berth_cniconf_scan(const char *network_dir, const char *const *plugin_dirs,
                        const char *default_network, bool *ready, char **reason, char **message,
                        char **network);

/* The configuration file a new pod's network comes from (owned path), by the
 * same rule; NULL with *why (owned) when none is usable. */
char *berth_cniconf_pick(const char *network_dir, const char *const *plugin_dirs,
                         const char *default_network, char **why);

#endif
