/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire between berthd and berth-monitor: a SOCK_SEQPACKET unix socket,
 * one JSON object per packet (at most BERTH_MON_MSG_MAX bytes) with up to
 * BERTH_MON_FDS_MAX descriptors passed alongside (SCM_RIGHTS). Packets keep
 * their boundaries, so there is no framing; replies on a connection come
 * in the order of its requests.
 *
 * Requests ("op") and their replies ({"ok": true, ...} or {"ok": false,
 * "error": "..."}):
 *
 *   create  {cid, bundle, runtime, runtime_root?, log_path, log_size_max,
 *            exit_dir, persist_dir, pidfile, terminal, stdin, stdin_once}
 *           -> {pid, cgroup, fds: ["out","err","in"] | ["pty"(,"in")]}
 *           with those descriptors: berthd keeps a copy of every pipe end
 *           of the container so that a monitor's death closes none of them.
 *           Answered when `<runtime> create` has ended.
 *   adopt   the create fields + {pid, cgroup, fds} with the descriptors: a
 *           new monitor takes over the logging and the control fifo of a
 *           container whose monitor died (it is not the container's parent;
 *           berthd, the subreaper above it, reaps it).
 *   fds     {cid} -> {pid, cgroup, exited, fds} with the descriptors: a
 *           restarted berthd takes its copies back.
 *   list    -> {monitor_pid, containers: [{cid, pid, cgroup, exited}]}
 *   forget  {cid}: the container was deleted; its descriptors are closed.
 *   attach  {cid} -> {} with one descriptor: a SOCK_SEQPACKET channel to the
 *           container's stdio (io/attach.h). A refusal carries "reason":
 *           "not_found" (no such container) or "not_running" (exited, or
 *           still being created).
 *
 * Used by io/monitor/main.c (the program) and io/monitor.c (berthd's side).
 */
#ifndef BERTH_IO_MONITOR_PROTO_H
#define BERTH_IO_MONITOR_PROTO_H

#include <stddef.h>

#define BERTH_MON_MSG_MAX 65536
#define BERTH_MON_FDS_MAX 4

/* Sends len bytes with nfds descriptors (borrowed). MSG_NOSIGNAL; blocking
 * unless flags has MSG_DONTWAIT. Returns 0 or -1 with errno. */
int berth_mon_send(int sock, const char *buf, size_t len, const int *fds, size_t nfds, int flags);

/* Receives one packet into buf (cap bytes, NUL-terminated: cap - 1 usable)
 * and its descriptors (close-on-exec) into fds (room for BERTH_MON_FDS_MAX).
 * Returns the length (0: the peer closed), or -1 with errno. A truncated
 * packet is EMSGSIZE (its descriptors are closed). */
long berth_mon_recv(int sock, char *buf, size_t cap, int *fds, size_t *nfds, int flags);

#endif
