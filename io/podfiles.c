/* SPDX-License-Identifier: Apache-2.0 */
#include "io/podfiles.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/fs.h"

static int write_file(const char *dir, const char *name, const char *text, berth_err_t *err)
{
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", dir, name);
    return berth_file_write_atomic(path, text, strlen(text), 0644, err);
}

int berth_podfiles_make(const berth_podfiles_t *f, bool *shm_mounted, berth_err_t *err)
{
    *shm_mounted = false;
    if (mkdir(f->dir, 0755) < 0 && errno != EEXIST)
        return berth_err_make(err, errno, BERTH_ERR_INTERNAL,
                              "cannot create the pod directory %s: %s", f->dir, strerror(errno));
    if (write_file(f->dir, "hostname", f->hostname, err) < 0 ||
        write_file(f->dir, "hosts", f->hosts, err) < 0 ||
        (f->resolv && write_file(f->dir, "resolv.conf", f->resolv, err) < 0))
        return -1;
    if (f->shm_size == 0)
        return 0;
    BERTH_AUTO_FREE char *shm = berth_asprintf("%s/shm", f->dir);
    if (mkdir(shm, 0755) < 0 && errno != EEXIST)
        return berth_err_errno(err, errno, "cannot create %s", shm);
    char opts[64];
    snprintf(opts, sizeof(opts), "mode=1777,size=%llu", (unsigned long long)f->shm_size);
    if (mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
        return berth_err_errno(err, errno, "cannot mount the pod's /dev/shm at %s", shm);
    *shm_mounted = true;
    return 0;
}

void berth_podfiles_release_shm(const char *dir)
{
    BERTH_AUTO_FREE char *shm = berth_asprintf("%s/shm", dir);
    if (umount2(shm, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        berth_log_warn("cannot unmount the pod's shm", "path=%s errno=%d", shm, errno);
}

int berth_podfiles_remove(const char *dir)
{
    berth_podfiles_release_shm(dir);
    if (berth_fs_remove_tree(dir) < 0) {
        berth_log_warn("cannot remove the pod directory", "path=%s errno=%d", dir, errno);
        return -1;
    }
    return 0;
}

char *berth_podfiles_hosts(const char *hn)
{
    return berth_asprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                          "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\n"
                          "fe00::2\tip6-allrouters\n127.0.1.1\t%s\n",
                          hn);
}

char *berth_podfiles_resolv(const char *const *servers, size_t nservers,
                            const char *const *searches, size_t nsearches,
                            const char *const *options, size_t noptions)
{
    size_t cap = 64;
    for (size_t i = 0; i < nservers; i++)
        cap += strlen(servers[i]) + 16;
    for (size_t i = 0; i < nsearches; i++)
        cap += strlen(searches[i]) + 2;
    for (size_t i = 0; i < noptions; i++)
        cap += strlen(options[i]) + 2;
    char *out = berth_malloc(cap);
    size_t n = 0;
    out[0] = '\0';
    if (nsearches) {
        n += (size_t)snprintf(out + n, cap - n, "search");
        for (size_t i = 0; i < nsearches; i++)
            n += (size_t)snprintf(out + n, cap - n, " %s", searches[i]);
        n += (size_t)snprintf(out + n, cap - n, "\n");
    }
    for (size_t i = 0; i < nservers; i++)
        n += (size_t)snprintf(out + n, cap - n, "nameserver %s\n", servers[i]);
    if (noptions) {
        n += (size_t)snprintf(out + n, cap - n, "options");
        for (size_t i = 0; i < noptions; i++)
            n += (size_t)snprintf(out + n, cap - n, " %s", options[i]);
        snprintf(out + n, cap - n, "\n");
    }
    return out;
}
