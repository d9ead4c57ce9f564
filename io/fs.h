/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small blocking filesystem helpers the actors' pool jobs share: making a
 * directory path, removing a tree without following symlinks, and reading a
 * directory of JSON records (sandbox and container records) at start. All
 * block: call them on io/'s blocking pool or from main, never in a turn.
 */
#ifndef BERTH_IO_FS_H
#define BERTH_IO_FS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "engine/err.h"

/* mkdir -p; the last component gets `mode`, parents 0755. Existing is fine. */
int berth_fs_mkdir_p(const char *path, mode_t mode, berth_err_t *err);

/* unlink(2) where a missing file is fine; *err names `what` and the path. */
int berth_fs_unlink(const char *path, const char *what, berth_err_t *err);

/* mkdir of the directory holding `path` (one level, mode; existing is fine). */
int berth_fs_mkdir_parent(const char *path, mode_t mode, berth_err_t *err);

/* The first executable DIR/name over dirs (NULL-terminated; NULL is
 * empty), as an owned path, or NULL. name is taken as given: callers that
 * take it from outside check it is a plain file name. */
char *berth_fs_find_in(const char *const *dirs, const char *name);

/* An absolute name if it is executable; otherwise berth_fs_find_in over the
 * usual system directories (/usr/local/sbin ... /bin). Owned, or NULL. */
char *berth_fs_find_exec(const char *name);

/* The names in dir but "." and "..", as an owned NULL-terminated vector
 * (berth_strv_free), in directory order; *n is their count. A missing or
 * unreadable dir gives NULL and 0. */
char **berth_fs_list_names(const char *dir, size_t *n);

/* The whole of a small file as an owned NUL-terminated string; at most max
 * bytes are read (a longer file is an error naming it). */
int berth_fs_read_small(const char *path, size_t max, char **out, berth_err_t *err);

/* The rest of an open fd, the same way: an owned NUL-terminated string of
 * *len bytes (len may be NULL). More than max bytes is EFBIG with the error
 * kind too_big (enum berth_err_kind) and "WHAT is larger than MAX bytes"; a read error names
 * `what` too. */
int berth_fs_read_fd(int fd, const char *what, size_t max, int too_big, char **out, size_t *len,
                     berth_err_t *err);

/* rm -rf that never follows a symlink out of the tree (every level is
 * opened O_NOFOLLOW under its parent). Missing is fine. Returns 0 or -1
 * (errno set) when something could not be removed. */
int berth_fs_remove_tree(const char *path);

/* Every `*.json` file in dir parsed (owned array of owned documents, in
 * directory order). An unreadable record is logged and skipped: records are
 * written by rename, so a torn one is not berth's and is kept for an
 * operator to look at. A missing dir gives none. */
void berth_fs_load_records(const char *dir, const char *what, json_t ***out, size_t *n);
/* Frees what berth_fs_load_records returned (NULL entries were taken). */
void berth_fs_records_free(json_t **v, size_t n);
/* Removes the half-written records a crash left in dir: an atomic write's
 * temp file (NAME.json.tmp.*), or a staged commit whose rename never came
 * (NAME.json.staged: its intent record is still there and is undone).
 * `what` ("sandbox") names them in the log. Blocking: the pool only. */
void berth_fs_sweep_partial_records(const char *dir, const char *what);

#endif
