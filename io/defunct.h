/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's defunct (zombie) processes, as CRI-O's processes_defunct gauge
 * counts them: processes in state Z of /proc/PID/stat. A walk of /proc
 * opens one small file per process: call it on the blocking pool.
 */
#ifndef BERTH_IO_DEFUNCT_H
#define BERTH_IO_DEFUNCT_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/err.h"

/* Whether one /proc/PID/stat text (len bytes, no NUL needed) is a zombie's:
 * the state field after the command's closing parenthesis (the last ')',
 * since a command may hold parentheses and spaces) is 'Z'. */
bool berth_defunct_stat_is_zombie(const char *text, size_t len);

/* Counts the zombies among the processes of proc_root (normally "/proc":
 * every entry whose name is a PID). A process gone between the listing and
 * its read is skipped. Returns the count, or -1 with *err when proc_root
 * cannot be listed. *seen (may be NULL) gets the processes read. */
long berth_defunct_count(const char *proc_root, size_t *seen, berth_err_t *err);

#endif
