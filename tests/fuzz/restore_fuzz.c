/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for reading a checkpoint archive back (io/restore.h),
 * the whole path a restore takes: the input is the archive, unpacked into a
 * scratch directory under a parent holding a sentinel; when it unpacks,
 * its config.dump is read, the upper directory filled from its
 * rootfs-diff.tar and deleted.files, and its spec.dump fitted to a fixed
 * spec for the new pod. Whatever the input, a refused archive leaves no
 * unpacking directory, nothing is written beside the scratch names (no
 * member escaped) and the sentinel's directory stays empty.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/fs.h"
#include "io/restore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[] = "/tmp/berth-restore-fuzz-XXXXXX";
static int ready;

static const char *const known[] = {".",     "..",          "archive.tar", "unpacked",
                                    "upper", "config.json", "sentinel"};

static int strangers(void)
{
    DIR *d = opendir(base);
    if (d == NULL)
        return 1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int k = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            k |= strcmp(e->d_name, known[i]) == 0;
        n += !k;
    }
    closedir(d);
    return n;
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char p[96];
    if (!ready) {
        if (mkdtemp(base) == NULL)
            abort();
        snprintf(p, sizeof(p), "%s/sentinel", base);
        mkdir(p, 0755);
        ready = 1;
    }
    char archive[96], dest[96], upper[96], config[96];
    snprintf(archive, sizeof(archive), "%s/archive.tar", base);
    snprintf(dest, sizeof(dest), "%s/unpacked", base);
    snprintf(upper, sizeof(upper), "%s/upper", base);
    snprintf(config, sizeof(config), "%s/config.json", base);
    write_file(archive, data, size);
    static const char spec[] =
            "{\"process\":{},\"root\":{\"path\":\"/r\"},\"hostname\":\"h\",\"mounts\":["
            "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/p/hosts\"}],"
            "\"linux\":{\"cgroupsPath\":\"c\",\"namespaces\":[{\"type\":\"network\","
            "\"path\":\"/n\"}]},\"annotations\":{\"a\":\"b\"}}";
    write_file(config, spec, sizeof(spec) - 1);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_restore_unpack(archive, dest, &err) < 0) {
        struct stat st;
        if (stat(dest, &st) == 0)
            abort(); /* a refused archive left its directory */
    } else {
        berth_restore_config_t c;
        berth_err_free(&err);
        if (berth_restore_read_config(dest, &c, &err) == 0)
            berth_restore_config_fini(&c);
        berth_err_free(&err);
        berth_restore_fill_upper(dest, upper, &err);
        berth_err_free(&err);
        berth_restore_write_spec(dest, config, &err);
    }
    berth_fs_remove_tree(dest);
    berth_fs_remove_tree(upper);
    if (strangers() != 0)
        abort(); /* a member escaped */
    snprintf(p, sizeof(p), "%s/sentinel", base);
    DIR *d = opendir(p);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    if (n != 0)
        abort(); /* something was written next to the scratch directories */
    return 0;
}
