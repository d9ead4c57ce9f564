/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPU sampler (engine/prof.h): per-thread CPU-time timers, a SIGPROF
 * handler that unwinds the interrupted stack, and a bounded multi-producer
 * ring its single consumer drains. Nothing here allocates or locks in the
 * handler; the ring is allocated at start and freed at stop, after every
 * handler has left.
 */
#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/atomic-internal.h"
#include "engine/prof.h"

#define RING_SLOTS 4096u /* ~2 MiB; the consumer drains it every 50 ms */

struct slot {
    uint64_t ready; /* atomic: position + 1 once the slot is written */
    uint32_t n;
    uint32_t weight;
    uintptr_t pc[BERTH_PROF_MAX_DEPTH];
};

struct tmr {
    timer_t id;
};

static struct {
    struct slot *ring; /* written before `active` is set, freed after it is cleared */
    uint64_t head;     /* atomic: next position producers reserve */
    uint64_t tail;     /* atomic: written by the consumer only */
    int active;        /* atomic */
    int inflight;      /* atomic: handlers between entry and exit */
    int busy;          /* atomic: a session runs (set by start's CAS, cleared by stop) */
    uint64_t samples, dropped;
    uint64_t session; /* atomic: the current session's number, from 1 */
    /* Guards timers/ntimers/open: start's enumeration and the threads that
     * join later (berth_prof_thread_begin) both add timers, stop deletes. */
    pthread_mutex_t lock;
    bool open; /* threads may still join: cleared by stop before the timers go */
    struct tmr *timers;
    unsigned ntimers, cap;
    unsigned skipped;
    unsigned joined; /* threads that joined the session later, by begin */
    uint64_t period_ns;
    bool installed;
} P = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The session this thread tried to join (0: none yet), and whether it has
 * a timer in it. */
static __thread uint64_t t_session;
static __thread bool t_armed;
/* Whether begin unblocked SIGPROF and end has not blocked it again. */
static __thread bool t_unblocked;

static uintptr_t context_pc(void *ucv)
{
    ucontext_t *uc = ucv;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#else
    (void)uc;
    return 0;
#endif
}

static void record(void *ucv, uint32_t weight)
{
    void *frames[BERTH_PROF_MAX_DEPTH + 4];
    int n = backtrace(frames, (int)BERTH_ARRAY_LEN(frames));
    uintptr_t pc = context_pc(ucv);
    /* The unwind starts in this handler and passes the signal trampoline;
     * the interrupted frame is the one whose address is the context's pc.
     * Without it (an unwind that stopped early), keep the pc alone. */
    int from = n;
    for (int i = 0; i < n && i < 6; i++) {
        if ((uintptr_t)frames[i] == pc) {
            from = i + 1;
            break;
        }
    }
    uint64_t h = ck_pr_load_64(&P.head);
    for (;;) {
        /* Acquire: pairs with the consumer's release of the tail, so the
         * slot we take has been read before we overwrite it. */
        uint64_t t = ck_pr_load_64(&P.tail);
        ck_pr_fence_load();
        if (h - t >= RING_SLOTS) {
            ck_pr_inc_64(&P.dropped);
            return;
        }
        /* The CAS (a full barrier) gives this position to one producer. */
        uint64_t seen;
        if (ck_pr_cas_64_value(&P.head, h, h + 1, &seen))
            break;
        h = seen;
    }
    struct slot *s = &P.ring[h % RING_SLOTS];
    uint32_t k = 0;
    if (pc != 0)
        s->pc[k++] = pc;
    for (int i = from; i < n && k < BERTH_PROF_MAX_DEPTH; i++)
        s->pc[k++] = (uintptr_t)frames[i];
    s->n = k;
    s->weight = weight;
    /* Release: the frames are written before the consumer sees `ready`. */
    ck_pr_fence_store();
    ck_pr_store_64(&s->ready, h + 1);
    ck_pr_inc_64(&P.samples);
}

static void on_sigprof(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    int saved = errno;
    /* Full barrier after the increment: berth_prof_stop clears `active`,
     * fences, then waits for `inflight` to reach zero, so either it sees us
     * here or we see `active` cleared and leave the ring alone. */
    ck_pr_inc_int(&P.inflight);
    ck_pr_fence_memory();
    /* si_overrun: expiries the kernel folded into this one signal. */
    if (ck_pr_load_int(&P.active) && si->si_code == SI_TIMER)
        record(ucv, 1u + (si->si_overrun > 0 ? (uint32_t)si->si_overrun : 0u));
    ck_pr_fence_release();
    ck_pr_dec_int(&P.inflight);
    errno = saved;
}

/* Whether thread tid blocks SIGPROF (its timer would never fire). */
static bool blocks_sigprof(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return true; /* gone already */
    char line[256];
    bool blocked = true;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long mask;
        if (sscanf(line, "SigBlk: %llx", &mask) == 1) {
            blocked = (mask >> (SIGPROF - 1)) & 1;
            break;
        }
    }
    fclose(f);
    return blocked;
}

/* The CPU-time clock of thread tid of this process (the kernel's encoding:
 * MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)); glibc only names the caller's. */
static clockid_t thread_cpu_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid << 3) | 6u);
}

static void timer_add_locked(timer_t id)
{
    if (P.ntimers == P.cap) {
        P.cap = P.cap ? P.cap * 2 : 16;
        P.timers = berth_realloc(P.timers, P.cap * sizeof(*P.timers));
    }
    P.timers[P.ntimers++].id = id;
}

/* A timer sending SIGPROF to thread tid each period of clock's CPU time;
 * false when the thread is gone (or the kernel refuses). */
static bool timer_arm(clockid_t clock, pid_t tid, timer_t *id)
{
    struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGPROF};
    sev._sigev_un._tid = tid;
    if (timer_create(clock, &sev, id) < 0)
        return false;
    struct itimerspec its = {
            .it_interval = {.tv_sec = 0, .tv_nsec = (long)P.period_ns},
            .it_value = {.tv_sec = 0, .tv_nsec = (long)P.period_ns},
    };
    if (P.period_ns >= 1000000000ull)
        its.it_interval = its.it_value = (struct timespec){.tv_sec = 1};
    if (timer_settime(*id, 0, &its, NULL) < 0) {
        timer_delete(*id);
        return false;
    }
    return true;
}

static void timers_delete(void)
{
    for (unsigned i = 0; i < P.ntimers; i++)
        timer_delete(P.timers[i].id);
    berth_free(P.timers);
    P.timers = NULL;
    P.ntimers = P.cap = 0;
}

int berth_prof_start(unsigned hz, berth_err_t *err)
{
    if (hz == 0 || hz > BERTH_PROF_MAX_HZ)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "profile rate %u Hz: expected 1 to %u", hz, BERTH_PROF_MAX_HZ);
    /* Full-barrier CAS: one session at a time; the winner owns P. */
    if (!ck_pr_cas_int(&P.busy, 0, 1))
        return berth_err_make(err, EBUSY, BERTH_ERR_PRECONDITION,
                              "a CPU profile is being taken already; retry when it ends");
    /* The first backtrace() loads libgcc's unwinder: do it here, never in
     * the handler. */
    void *warm[4];
    (void)backtrace(warm, 4);
    if (!P.installed) {
        /* Installed once and never removed: a SIGPROF still queued after a
         * session must meet this handler (which ignores it), not the
         * default action, which ends the process. */
        struct sigaction sa = {.sa_sigaction = on_sigprof, .sa_flags = SA_SIGINFO | SA_RESTART};
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGPROF, &sa, NULL) < 0) {
            int e = errno;
            ck_pr_store_int(&P.busy, 0);
            return berth_err_errno(err, e, "install the SIGPROF handler");
        }
        P.installed = true;
    }
    P.ring = berth_calloc(RING_SLOTS, sizeof(struct slot));
    P.head = P.tail = 0;
    P.samples = P.dropped = 0;
    P.skipped = 0;
    P.joined = 0;
    P.period_ns = 1000000000ull / hz;
    pthread_mutex_lock(&P.lock);
    P.open = true;
    pthread_mutex_unlock(&P.lock);
    /* Release: a thread that reads the new number (acquire) in begin sees
     * the ring and period above. */
    ck_pr_fence_store();
    ck_pr_store_64(&P.session, P.session + 1);
    ck_pr_fence_store(); /* the ring before `active`: pairs with the handler's fence */
    ck_pr_store_int(&P.active, 1);

    DIR *d = opendir("/proc/self/task");
    if (d == NULL) {
        int e = errno;
        berth_prof_stop(NULL, NULL, NULL);
        return berth_err_errno(err, e, "list this process's threads in /proc/self/task");
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(de->d_name);
        if (tid <= 0)
            continue;
        if (blocks_sigprof(tid)) {
            P.skipped++;
            continue;
        }
        timer_t id;
        if (!timer_arm(thread_cpu_clock(tid), tid, &id))
            continue; /* the thread ended meanwhile */
        pthread_mutex_lock(&P.lock);
        timer_add_locked(id);
        pthread_mutex_unlock(&P.lock);
    }
    closedir(d);
    return 0;
}

size_t berth_prof_drain(berth_prof_fn fn, void *ctx)
{
    if (P.ring == NULL)
        return 0;
    size_t done = 0;
    uint64_t t = P.tail;
    for (;;) {
        struct slot *s = &P.ring[t % RING_SLOTS];
        if (ck_pr_load_64(&s->ready) != t + 1)
            break; /* empty, or a producer is still writing this one */
        /* Acquire: pairs with the producer's release of `ready`. */
        ck_pr_fence_load();
        if (fn != NULL)
            fn(ctx, s->pc, s->n, s->weight);
        t++;
        done++;
        /* Release: our reads of the slot are done before a producer can
         * reserve it again (it acquires the tail). */
        ck_pr_fence_release();
        ck_pr_store_64(&P.tail, t);
    }
    return done;
}

void berth_prof_stop(berth_prof_fn fn, void *ctx, berth_prof_stats_t *stats)
{
    if (P.ring == NULL)
        return;
    ck_pr_store_int(&P.active, 0);
    ck_pr_fence_memory();
    pthread_mutex_lock(&P.lock);
    P.open = false;
    unsigned threads = P.ntimers;
    timers_delete();
    pthread_mutex_unlock(&P.lock);
    /* Handlers that saw `active` set finish their few microseconds. */
    while (ck_pr_load_int(&P.inflight) != 0)
        sched_yield();
    ck_pr_fence_load();
    berth_prof_drain(fn, ctx);
    if (stats != NULL) {
        stats->samples = ck_pr_load_64(&P.samples);
        stats->dropped = ck_pr_load_64(&P.dropped);
        stats->threads = threads;
        stats->skipped = P.skipped;
        stats->joined = P.joined;
        stats->period_ns = P.period_ns;
    }
    berth_free(P.ring);
    P.ring = NULL;
    /* Release: the next session's start (a CAS) sees P reset. */
    ck_pr_fence_release();
    ck_pr_store_int(&P.busy, 0);
}

bool berth_prof_thread_begin(void)
{
    /* Acquire: pairs with start's release of `session`; outside a session
     * this load is all a job pays. */
    if (!ck_pr_load_int(&P.active))
        return false;
    uint64_t session = ck_pr_load_64(&P.session);
    ck_pr_fence_load();
    if (t_session != session) {
        t_session = session;
        /* Under the lock: stop either has not closed the session (and will
         * delete this timer with the others) or has (and we make none). */
        pthread_mutex_lock(&P.lock);
        timer_t id;
        t_armed = P.open && ck_pr_load_64(&P.session) == session &&
                  timer_arm(CLOCK_THREAD_CPUTIME_ID, gettid(), &id);
        if (t_armed) {
            timer_add_locked(id);
            P.joined++;
        }
        pthread_mutex_unlock(&P.lock);
    }
    if (!t_armed)
        return false;
    if (t_unblocked)
        return true; /* joined already: a checkpoint within the same job */
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_UNBLOCK, &prof, NULL);
    t_unblocked = true;
    return true;
}

void berth_prof_thread_end(void)
{
    if (!t_unblocked)
        return;
    t_unblocked = false;
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, NULL);
}
