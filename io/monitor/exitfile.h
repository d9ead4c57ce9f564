/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How a container's end is recorded, by berth-monitor when it reaps the
 * container and by berthd when it reaps an orphan whose monitor died: the
 * exit code in decimal in <exit_dir>/<cid> (written to a temporary name,
 * fsynced, renamed: the exit watcher sees it whole), and an empty
 * <persist_dir>/oom first when the container's memory cgroup counted an OOM
 * kill. The same files conmon writes, so one watcher reads both. Blocking
 * file I/O: the monitor's loop, or berthd's blocking pool.
 */
#ifndef BERTH_IO_MONITOR_EXITFILE_H
#define BERTH_IO_MONITOR_EXITFILE_H

#include <sys/types.h>

/* The memory cgroup directory of a live process: the v1 memory hierarchy
 * when it has one, else its cgroup2 directory. malloc'ed; NULL if unknown. */
char *berth_mon_memory_cgroup(pid_t pid);

/* The kernel's count of OOM kills in a memory cgroup directory (v2
 * memory.events, v1 memory.oom_control since Linux 4.13); 0 if unknown. */
long berth_mon_oom_kills(const char *cgroup);

/* Writes text to dir/name through dir/.name.tmp, fsync and rename. */
int berth_mon_write_atomic(const char *dir, const char *name, const char *text);

/* Records the end of container cid: the oom file when cgroup (may be NULL)
 * counted a kill, then the exit file. Returns 0, or -1 with errno and *what
 * naming the file that failed. */
int berth_mon_record_exit(const char *exit_dir, const char *persist_dir, const char *cid, int code,
                          const char *cgroup, const char **what);

#endif
