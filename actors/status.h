/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `berthd status`: a client of the debug endpoint (actors/debug.h) over its
 * unix socket, printing what a running berthd reports. A command-line tool:
 * it blocks, and never runs inside the daemon.
 */
#ifndef BERTH_ACTORS_STATUS_H
#define BERTH_ACTORS_STATUS_H

#include <stdbool.h>
#include <stdio.h>

/* Prints `what` (config, info, containers, actors, heap) from the endpoint
 * on `socket` to out: tables for containers and actors unless json, the
 * endpoint's text otherwise. Returns 0, 1 when the endpoint answered an
 * error, 2 when it could not be reached or `what` is unknown (a message on
 * stderr says which). */
int berth_status_run(const char *socket, const char *what, bool json, FILE *out);

#endif
