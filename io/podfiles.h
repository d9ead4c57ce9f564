/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A pod's files on the node: its directory under the run directory with the
 * hostname, hosts and resolv.conf its containers bind-mount (each written
 * atomically), its /dev/shm tmpfs, and their removal. The pod actor decides
 * what goes in them; this module only talks to the filesystem. Everything
 * blocks: call it on the blocking pool.
 */
#ifndef BERTH_IO_PODFILES_H
#define BERTH_IO_PODFILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"

typedef struct berth_podfiles {
    const char *dir;      /* the pod's directory (made if missing) */
    const char *hostname; /* contents of DIR/hostname */
    const char *hosts;    /* DIR/hosts */
    const char *resolv;   /* DIR/resolv.conf; NULL: none (the host's is used) */
    uint64_t shm_size;    /* bytes of the DIR/shm tmpfs; 0: no shm of its own */
} berth_podfiles_t;

/* Makes the directory, writes the files and mounts DIR/shm. *shm_mounted
 * says whether the tmpfs is mounted, also on failure, so that the caller's
 * undo knows to release it. Returns 0, or -1 with *err naming the file. */
int berth_podfiles_make(const berth_podfiles_t *f, bool *shm_mounted, berth_err_t *err);

/* Unmounts DIR/shm (lazily: a container may still hold it open). Not
 * mounted is fine; other failures are logged. */
void berth_podfiles_release_shm(const char *dir);

/* berth_podfiles_release_shm, then removes DIR and everything in it.
 * Idempotent: anything already gone is fine, so it can be repeated after a
 * crash in the middle of one. Failures are logged; returns -1 then. */
int berth_podfiles_remove(const char *dir);

/* The pod's /etc/hosts text for its hostname (owned). */
char *berth_podfiles_hosts(const char *hostname);
/* resolv.conf text from the pod's DNS config (owned). */
char *berth_podfiles_resolv(const char *const *servers, size_t nservers,
                            const char *const *searches, size_t nsearches,
                            const char *const *options, size_t noptions);

#endif
