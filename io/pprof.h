/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CPU profiles in pprof's format (profile.proto, gzip'd), the debug
 * endpoint's /debug/pprof/profile: stacks from the sampler (engine/prof.h)
 * are counted per distinct stack, then encoded with the process's
 * executable mappings from /proc/self/maps and function names read from
 * each object's ELF symbol table, so `go tool pprof` shows names without
 * the binary at hand.
 *
 * Encoding reads /proc and ELF files and collecting sleeps: both block, so
 * they run on a blocking-pool thread (io/blocking.h) or in tools, never in
 * an actor turn. This is the one file of io/ that uses proto/ (the
 * generated profile.pb-c).
 */
#ifndef BERTH_IO_PPROF_H
#define BERTH_IO_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "io/bytebuf.h"

#define BERTH_PPROF_MAX_SECONDS 300
#define BERTH_PPROF_DEFAULT_HZ 100

typedef struct berth_pprof berth_pprof_t;

/* An empty profile whose samples are `period_ns` of CPU each. Never fails. */
berth_pprof_t *berth_pprof_new(uint64_t period_ns);
void berth_pprof_free(berth_pprof_t *p); /* NULL-safe */

/* Counts one stack `weight` times, leaf first (pcs[0] the interrupted
 * instruction, the others return addresses). engine/prof.h's drain
 * callback (berth_prof_fn), ctx being the profile. */
void berth_pprof_add(void *p, const uintptr_t *pcs, size_t n, uint32_t weight);
/* Adds a comment line to the profile (`go tool pprof -comments`). Copied. */
void berth_pprof_comment(berth_pprof_t *p, const char *text);
/* Samples (weights) counted so far, and distinct stacks among them. */
uint64_t berth_pprof_samples(const berth_pprof_t *p);
size_t berth_pprof_stacks(const berth_pprof_t *p);

/* Appends the gzip'd profile.proto encoding to out: time and duration of
 * the sampling (wall clock, ns), the samples, the locations, the mappings
 * and the functions found. Blocks (reads /proc/self/maps and ELF files).
 * Returns 0, or -1 with *err (a mapping or symbol table that cannot be read
 * costs names only, never the profile). */
int berth_pprof_encode(berth_pprof_t *p, uint64_t start_wall_ns, uint64_t duration_ns,
                       berth_bytebuf_t *out, berth_err_t *err);

/* A whole session: samples the process for `seconds` (1 to
 * BERTH_PPROF_MAX_SECONDS) at hz, draining the sampler every 50 ms, and
 * appends the encoded profile to out. Blocks for the whole time: a
 * blocking-pool job. PRECONDITION while another profile is being taken,
 * INVALID for bad arguments. */
int berth_pprof_collect(unsigned seconds, unsigned hz, berth_bytebuf_t *out, berth_err_t *err);

/* Ends a session being collected at its next drain (within 50 ms), with the
 * samples taken so far, and every later one at once: for shutdown, so a
 * long profile never holds the blocking pool. Any thread. */
void berth_pprof_abort(void);

#endif
