/* SPDX-License-Identifier: Apache-2.0 */
#include "io/procsig.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "io/fs.h"

/* The value of "Key:\t..." in a status text, or NULL. */
static const char *field(const char *status, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = status; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, klen) == 0 && p[klen] == ':')
            return p + klen + 1;
    return NULL;
}

static bool mask_has(const char *status, const char *key, int sig, bool *ok)
{
    const char *v = field(status, key);
    if (v == NULL) {
        *ok = false;
        return false;
    }
    char *end;
    errno = 0;
    uint64_t m = strtoull(v, &end, 16);
    if (errno || end == v)
        *ok = false;
    return (m >> (sig - 1)) & 1;
}

int berth_proc_sig_fate_parse(const char *status, int sig)
{
    if (sig < 1 || sig > 64) {
        errno = EINVAL;
        return -1;
    }
    if (sig == SIGKILL || sig == SIGSTOP)
        return BERTH_SIG_DELIVERED_DEFAULT;
    bool ok = true;
    bool caught = mask_has(status, "SigCgt", sig, &ok);
    bool ignored = mask_has(status, "SigIgn", sig, &ok);
    if (!ok) {
        errno = EINVAL;
        return -1;
    }
    if (caught)
        return BERTH_SIG_CAUGHT;
    if (ignored)
        return BERTH_SIG_IGNORED;
    /* NSpid lists the pid in every namespace from the outermost in: the
     * last one is the pid in the process's own namespace. No NSpid (kernels
     * before 4.1) means no way to tell: say delivered. */
    const char *ns = field(status, "NSpid");
    if (ns == NULL)
        return BERTH_SIG_DELIVERED_DEFAULT;
    /* Only an init of a namespace nested below the outermost one discards:
     * with a single entry the process is init of the host, not a container. */
    int entries = 0;
    long last = 0;
    for (const char *p = ns; *p && *p != '\n';) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        entries++;
        last = v;
        p = end;
    }
    bool init = last == 1, nested = entries > 1;
    return init && nested ? BERTH_SIG_DISCARDED : BERTH_SIG_DELIVERED_DEFAULT;
}

int berth_proc_sig_pending_parse(const char *status, int sig)
{
    if (sig < 1 || sig > 64) {
        errno = EINVAL;
        return -1;
    }
    bool ok = true;
    bool thread = mask_has(status, "SigPnd", sig, &ok);
    bool process = mask_has(status, "ShdPnd", sig, &ok); /* both read: ok covers both */
    bool pending = thread || process;
    if (!ok) {
        errno = EINVAL;
        return -1;
    }
    return pending ? 1 : 0;
}

/* Reads /proc/PID/status and applies parse to it; -1 with errno when it
 * cannot be read (ENOENT: gone). */
static int with_status(pid_t pid, int sig, int (*parse)(const char *status, int sig))
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    BERTH_AUTO_FREE char *status = NULL;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_fs_read_small(path, 64 * 1024, &status, &err) < 0) {
        errno = err->errnum;
        return -1;
    }
    return parse(status, sig);
}

int berth_proc_sig_pending(pid_t pid, int sig)
{
    return with_status(pid, sig, berth_proc_sig_pending_parse);
}

int berth_proc_is_runtime_init(pid_t pid, const char *runtime_path)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    BERTH_AUTO_FREE char *comm = NULL;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_fs_read_small(path, 256, &comm, &err) < 0) {
        errno = err->errnum;
        return -1;
    }
    comm[strcspn(comm, "\n")] = '\0';
    if (strncmp(comm, "runc:[", 6) == 0)
        return 1;
    const char *base = runtime_path ? strrchr(runtime_path, '/') : NULL;
    base = base ? base + 1 : runtime_path;
    /* the kernel keeps the first 15 bytes of the name */
    return base && base[0] && strncmp(comm, base, 15) == 0 ? 1 : 0;
}

static bool read_comm(pid_t pid, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    bool ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (ok)
        out[strcspn(out, "\n")] = '\0';
    return ok;
}

int berth_proc_signal(pid_t pid, int sig, const char *runtime_path, berth_sig_sent_t *out)
{
    memset(out, 0, sizeof(*out));
    char comm0[64] = "", comm1[64] = "";
    read_comm(pid, comm0, sizeof(comm0));
    out->fate_before = berth_proc_sig_fate(pid, sig);
    bool init0 = berth_proc_is_runtime_init(pid, runtime_path) == 1;
    if (kill(pid, sig) < 0)
        return -1;
    out->fate_after = berth_proc_sig_fate(pid, sig);
    out->pending = berth_proc_sig_pending(pid, sig) == 1;
    bool init1 = berth_proc_is_runtime_init(pid, runtime_path) == 1;
    read_comm(pid, comm1, sizeof(comm1));
    out->runtime_init = init0 || init1;
    out->exec_seen = comm0[0] && comm1[0] && strcmp(comm0, comm1) != 0;
    return 0;
}

int berth_proc_sig_fate(pid_t pid, int sig)
{
    return with_status(pid, sig, berth_proc_sig_fate_parse);
}

/* The first decimal number of a "Key:\t..." line. */
static bool first_id(const char *status, const char *key, uint32_t *out)
{
    const char *v = field(status, key);
    if (v == NULL)
        return false;
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || end == v || n > UINT32_MAX)
        return false;
    *out = (uint32_t)n;
    return true;
}

int berth_proc_ids_parse(const char *status, berth_proc_ids_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!first_id(status, "Uid", &out->uid) || !first_id(status, "Gid", &out->gid)) {
        errno = EINVAL;
        return -1;
    }
    const char *g = field(status, "Groups");
    size_t cap = 0;
    /* the kernel prints at most NGROUPS_MAX (65536) of them */
    for (const char *p = g; p && *p && *p != '\n' && out->ngroups < 65536;) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        p = end;
        if (errno || n > UINT32_MAX)
            continue;
        if (out->ngroups == cap) {
            cap = cap ? cap * 2 : 8;
            out->groups = berth_realloc(out->groups, cap * sizeof(uint32_t));
        }
        out->groups[out->ngroups++] = (uint32_t)n;
    }
    return 0;
}

void berth_proc_ids_fini(berth_proc_ids_t *ids)
{
    berth_free(ids->groups);
    memset(ids, 0, sizeof(*ids));
}

int berth_proc_ids(pid_t pid, berth_proc_ids_t *out)
{
    memset(out, 0, sizeof(*out));
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    BERTH_AUTO_FREE char *status = NULL;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_fs_read_small(path, 64 * 1024, &status, &err) < 0) {
        errno = err->errnum;
        return -1;
    }
    return berth_proc_ids_parse(status, out);
}
