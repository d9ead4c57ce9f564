/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for io/cdi.c: qualified names, the spec checks and their
 * messages, resolving devices over two directories (a later one wins, an
 * invalid file and a YAML one are skipped), the spec-wide edits given once,
 * and NOT_FOUND naming an unknown device.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/cdi.h"
#include "tests/unit/check.h"

static bool rejected(const char *text, const char *needle)
{
    berth_err_t err = NULL;
    json_t *s = berth_cdi_spec_parse("v.json", text, strlen(text), &err);
    bool r = s == NULL && err && strstr(err->msg, needle) && strstr(err->msg, "v.json") &&
             err->kind == BERTH_ERR_INVALID;
    if (!r)
        printf("# got: %s\n", err ? err->msg : "(accepted)");
    if (s)
        json_decref(s);
    berth_err_free(&err);
    return r;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

#define HEAD "{\"cdiVersion\":\"0.6.0\",\"kind\":\"example.com/gpu\","

int main(void)
{
    char *kind = NULL, *dev = NULL;
    berth_err_t err = NULL;
    ok(berth_cdi_parse_name("example.com/gpu=0", &kind, &dev, &err) == 0 &&
               strcmp(kind, "example.com/gpu") == 0 && strcmp(dev, "0") == 0,
       "a qualified name splits into kind and device");
    berth_free(kind);
    berth_free(dev);
    static const char *const bad_names[] = {"gpu0", "example.com=0", "/gpu=0",
                                            "example.com/gpu=", "example.com/g pu=0"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        berth_err_t e = NULL;
        check(berth_cdi_parse_name(bad_names[i], &kind, &dev, &e) < 0 &&
                      e->kind == BERTH_ERR_INVALID && strstr(e->msg, bad_names[i]),
              "\"%s\" is not a qualified name", bad_names[i]);
        berth_err_free(&e);
    }

    ok(rejected("{", "invalid JSON"), "bad JSON");
    ok(rejected("{\"kind\":\"example.com/gpu\",\"devices\":[]}", "cdiVersion"), "no cdiVersion");
    ok(rejected("{\"cdiVersion\":\"0.6.0\",\"kind\":\"gpu\",\"devices\":[]}", "kind"), "bad kind");
    ok(rejected(HEAD "\"devices\":[]}", "non-empty"), "no devices");
    ok(rejected(HEAD "\"devices\":[{\"name\":\"0\"}]}", "no containerEdits"),
       "a device without edits");
    ok(rejected(HEAD "\"devices\":[{\"name\":\"0\",\"containerEdits\":{\"env\":[\"NOEQ\"]}}]}",
                "KEY=VALUE"),
       "env without =");
    ok(rejected(HEAD "\"devices\":[{\"name\":\"0\",\"containerEdits\":{\"deviceNodes\":[{\"path\":"
                     "\"dev/x\"}]}}]}",
                "deviceNodes[0]"),
       "a relative device path");
    ok(rejected(HEAD "\"devices\":[{\"name\":\"0\",\"containerEdits\":{\"deviceNodes\":[{\"path\":"
                     "\"/dev/x\",\"permissions\":\"rwx\"}]}}]}",
                "permissions"),
       "bad permissions");
    ok(rejected(HEAD "\"devices\":[{\"name\":\"0\",\"containerEdits\":{\"mounts\":[{\"hostPath\":"
                     "\"/a\"}]}}]}",
                "mounts[0]"),
       "a mount without containerPath");
    ok(rejected(HEAD "\"devices\":[{\"name\":\"0\",\"containerEdits\":{\"hooks\":[{\"hookName\":"
                     "\"prestop\",\"path\":\"/h\"}]}}]}",
                "hooks[0]"),
       "a hook with an unknown hookName");

    /* resolving over two directories */
    char tmpl[] = "/tmp/berth-cdi-XXXXXX";
    char *root = mkdtemp(tmpl);
    BERTH_AUTO_FREE char *d1 = berth_asprintf("%s/etc", root);
    BERTH_AUTO_FREE char *d2 = berth_asprintf("%s/run", root);
    mkdir(d1, 0700);
    mkdir(d2, 0700);
    BERTH_AUTO_FREE char *f1 = berth_asprintf("%s/gpu.json", d1);
    BERTH_AUTO_FREE char *f2 = berth_asprintf("%s/gpu.json", d2);
    BERTH_AUTO_FREE char *f3 = berth_asprintf("%s/bad.json", d2);
    BERTH_AUTO_FREE char *f4 = berth_asprintf("%s/spec.yaml", d2);
    write_file(f1, HEAD "\"containerEdits\":{\"env\":[\"OLD=1\"]},\"devices\":[{\"name\":\"0\","
                        "\"containerEdits\":{\"env\":[\"OLD_DEV=1\"]}}]}");
    write_file(f2, HEAD "\"containerEdits\":{\"env\":[\"WIDE=1\"]},\"devices\":["
                        "{\"name\":\"0\",\"containerEdits\":{\"env\":[\"DEV=0\"],"
                        "\"deviceNodes\":[{\"path\":\"/dev/gpu0\",\"hostPath\":\"/dev/null\"}],"
                        "\"mounts\":[{\"hostPath\":\"/lib\",\"containerPath\":\"/gpulib\"}],"
                        "\"hooks\":[{\"hookName\":\"createContainer\",\"path\":\"/bin/true\"}]}},"
                        "{\"name\":\"1\",\"containerEdits\":{\"env\":[\"DEV=1\"]}}]}");
    write_file(f3, "{not json");
    write_file(f4, "cdiVersion: 0.6.0");
    const char *dirs[] = {d1, d2};
    const char *names[] = {"example.com/gpu=0", "example.com/gpu=1"};
    berth_cdi_edits_t ed;
    berth_cdi_edits_init(&ed);
    ok(berth_cdi_resolve(dirs, 2, names, 2, &ed, &err) == 0, "two devices resolve");
    check(json_array_size(ed.env) == 3, "env: the spec-wide one once, then each device's (%zu)",
          json_array_size(ed.env));
    ok(strcmp(json_string_value(json_array_get(ed.env, 0)), "WIDE=1") == 0 &&
               strcmp(json_string_value(json_array_get(ed.env, 1)), "DEV=0") == 0,
       "the later directory's spec wins");
    ok(json_array_size(ed.device_nodes) == 1 && json_array_size(ed.mounts) == 1 &&
               json_array_size(ed.hooks) == 1,
       "device nodes, mounts and hooks gathered");
    berth_cdi_edits_fini(&ed);

    berth_cdi_edits_init(&ed);
    const char *unknown[] = {"example.com/gpu=7"};
    ok(berth_cdi_resolve(dirs, 2, unknown, 1, &ed, &err) < 0 && err->kind == BERTH_ERR_NOT_FOUND &&
               strstr(err->msg, "example.com/gpu=7"),
       "an unknown device: NOT_FOUND naming it");
    berth_err_free(&err);
    const char *malformed[] = {"gpu7"};
    ok(berth_cdi_resolve(dirs, 2, malformed, 1, &ed, &err) < 0 && err->kind == BERTH_ERR_INVALID,
       "a malformed name: INVALID_ARGUMENT");
    berth_err_free(&err);
    berth_cdi_edits_fini(&ed);

    unlink(f1);
    unlink(f2);
    unlink(f3);
    unlink(f4);
    rmdir(d1);
    rmdir(d2);
    rmdir(root);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
