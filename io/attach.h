/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attach channel: one format for a running container's stdio, whichever
 * monitor runs it (berth-monitor: berth_monitor_attach in io/monitor.h;
 * conmon: berth_conmon_attach_open in io/conmon.h). It is conmon's own
 * attach socket format, so berthd's streaming code never asks which monitor
 * it talks to (docs/monitor.md, "Attach"):
 *
 *   - a connected SOCK_SEQPACKET unix socket: every packet keeps its
 *     boundaries;
 *   - each packet from the monitor is one stream byte (BERTH_ATTACH_STDOUT
 *     or BERTH_ATTACH_STDERR; a terminal's output is STDOUT) followed by at
 *     most BERTH_ATTACH_OUT_MAX bytes of the container's output, as read;
 *   - each packet to the monitor is raw bytes for the container's stdin (at
 *     most BERTH_ATTACH_IN_MAX: conmon truncates longer ones); they are
 *     dropped when the container was created without stdin;
 *   - shutdown(SHUT_WR) or close by the attacher is a detach: the container
 *     goes on; with stdin_once its stdin is closed (the process reads EOF);
 *   - the monitor closes the channel after the last output of a container
 *     that exited, so the attacher reads EOF after the final bytes; it also
 *     closes (or shuts down) the channel of an attacher that fell too far
 *     behind, and the channels go when the monitor dies;
 *   - resizing a terminal is not on the channel: berth_conmon_resize or
 *     berth_monitor_resize.
 *
 * Header only: constants shared by berthd and berth-monitor.
 */
#ifndef BERTH_IO_ATTACH_H
#define BERTH_IO_ATTACH_H

/* The stream byte of a packet from the monitor (conmon's stdpipe_t; 1,
 * stdin, is never sent). */
#define BERTH_ATTACH_STDOUT 2
#define BERTH_ATTACH_STDERR 3

/* Output bytes in one packet from the monitor (conmon's STDIO_BUF_SIZE): a
 * receive buffer of BERTH_ATTACH_PACKET_MAX bytes always holds a packet. */
#define BERTH_ATTACH_OUT_MAX 8192
#define BERTH_ATTACH_PACKET_MAX (BERTH_ATTACH_OUT_MAX + 1)

/* Input bytes in one packet to the monitor (conmon's CONN_SOCK_BUF_SIZE). */
#define BERTH_ATTACH_IN_MAX 32768

#endif
