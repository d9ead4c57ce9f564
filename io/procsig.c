/* SPDX-License-Identifier: Apache-2.0 */
#include "io/procsig.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int berth_proc_sig_fate(pid_t pid, int sig)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return berth_proc_sig_fate_parse(buf, sig);
}
