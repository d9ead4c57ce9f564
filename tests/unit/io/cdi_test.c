/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for io/cdi.c: qualified names, the spec checks and their
 * messages, resolving devices over two directories (a later one wins, an
 * invalid file is skipped), the spec-wide edits given once, and NOT_FOUND
 * naming an unknown device. YAML specs: the same spec in JSON and in YAML
 * gives the same spec and the same edits, malformed YAML is refused with
 * file:line:column, *.yml is read, and the CDI precedence holds across
 * formats (two specs of one directory defining a device are a conflict that
 * a later directory's definition settles).
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

static void spec_edits(const char *dir, const char *name, berth_cdi_edits_t *ed, berth_err_t *err)
{
    const char *dirs[] = {dir};
    const char *names[] = {name};
    berth_cdi_edits_init(ed);
    if (berth_cdi_resolve(dirs, 1, names, 1, ed, err) < 0)
        printf("# resolve: %s\n", (*err)->msg);
}

static bool same_edits(const berth_cdi_edits_t *a, const berth_cdi_edits_t *b)
{
    return json_array_size(a->env) > 0 && json_equal(a->env, b->env) &&
           json_array_size(a->device_nodes) > 0 && json_equal(a->device_nodes, b->device_nodes) &&
           json_array_size(a->mounts) > 0 && json_equal(a->mounts, b->mounts) &&
           json_array_size(a->hooks) > 0 && json_equal(a->hooks, b->hooks);
}

/* One spec twice: as nvidia-ctk writes YAML (block style, names quoted,
 * an octal file mode) and as JSON. */
static const char yaml_spec[] = "---\n"
                                "cdiVersion: 0.6.0\n"
                                "kind: example.com/gpu\n"
                                "containerEdits:\n"
                                "  env:\n"
                                "  - WIDE=1\n"
                                "devices:\n"
                                "- name: \"0\"\n"
                                "  containerEdits:\n"
                                "    env: [DEV=0, \"QUOTED=a: b\"]\n"
                                "    deviceNodes:\n"
                                "    - path: /dev/gpu0\n"
                                "      hostPath: /dev/null\n"
                                "      type: c\n"
                                "      major: 1\n"
                                "      minor: 3\n"
                                "      fileMode: 0666\n"
                                "      permissions: rw\n"
                                "    mounts:\n"
                                "    - hostPath: /lib\n"
                                "      containerPath: /gpulib\n"
                                "      options: [ro, nosuid, bind]\n"
                                "    hooks:\n"
                                "    - hookName: createContainer\n"
                                "      path: /bin/true\n"
                                "      args: [\"true\", --flag]\n"
                                "      timeout: 5\n";
static const char json_spec[] =
        "{\"cdiVersion\":\"0.6.0\",\"kind\":\"example.com/gpu\","
        "\"containerEdits\":{\"env\":[\"WIDE=1\"]},\"devices\":[{\"name\":\"0\","
        "\"containerEdits\":{\"env\":[\"DEV=0\",\"QUOTED=a: b\"],"
        "\"deviceNodes\":[{\"path\":\"/dev/gpu0\",\"hostPath\":\"/dev/null\",\"type\":\"c\","
        "\"major\":1,\"minor\":3,\"fileMode\":438,\"permissions\":\"rw\"}],"
        "\"mounts\":[{\"hostPath\":\"/lib\",\"containerPath\":\"/gpulib\","
        "\"options\":[\"ro\",\"nosuid\",\"bind\"]}],"
        "\"hooks\":[{\"hookName\":\"createContainer\",\"path\":\"/bin/true\","
        "\"args\":[\"true\",\"--flag\"],\"timeout\":5}]}}]}";

static bool yaml_rejected(const char *text, const char *needle)
{
    berth_err_t err = NULL;
    json_t *s = berth_cdi_spec_parse_yaml("v.yaml", text, strlen(text), &err);
    bool r = s == NULL && err && strstr(err->msg, needle) && strstr(err->msg, "v.yaml") &&
             err->kind == BERTH_ERR_INVALID;
    if (!r)
        printf("# got: %s\n", err ? err->msg : "(accepted)");
    if (s)
        json_decref(s);
    berth_err_free(&err);
    return r;
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

    /* YAML: the same spec as JSON, the same edits */
    json_t *sy = berth_cdi_spec_parse_yaml("gpu.yaml", yaml_spec, strlen(yaml_spec), &err);
    json_t *sj = berth_cdi_spec_parse("gpu.json", json_spec, strlen(json_spec), &err);
    ok(sy && sj && json_equal(sy, sj), "a YAML spec parses to its JSON twin (fileMode 0666 = 438)");
    if (sy)
        json_decref(sy);
    if (sj)
        json_decref(sj);
    berth_err_free(&err);
    BERTH_AUTO_FREE char *dj = berth_asprintf("%s/json", root);
    BERTH_AUTO_FREE char *dy = berth_asprintf("%s/yaml", root);
    BERTH_AUTO_FREE char *dc = berth_asprintf("%s/conflict", root);
    mkdir(dj, 0700);
    mkdir(dy, 0700);
    mkdir(dc, 0700);
    BERTH_AUTO_FREE char *fj = berth_asprintf("%s/gpu.json", dj);
    BERTH_AUTO_FREE char *fy = berth_asprintf("%s/gpu.yml", dy);
    BERTH_AUTO_FREE char *fc1 = berth_asprintf("%s/a.json", dc);
    BERTH_AUTO_FREE char *fc2 = berth_asprintf("%s/b.yaml", dc);
    write_file(fj, json_spec);
    write_file(fy, yaml_spec);
    write_file(fc1, json_spec);
    write_file(fc2, yaml_spec);
    berth_cdi_edits_t ej, ey;
    spec_edits(dj, "example.com/gpu=0", &ej, &err);
    spec_edits(dy, "example.com/gpu=0", &ey, &err);
    ok(err == NULL && same_edits(&ej, &ey),
       "a device of a *.yml spec gets the same env, device nodes, mounts and hooks as from JSON");
    berth_err_free(&err);
    berth_cdi_edits_fini(&ej);
    berth_cdi_edits_fini(&ey);

    ok(yaml_rejected("cdiVersion: 0.6.0\nkind: example.com/gpu\nkind: other.com/x\n",
                     "v.yaml:3:1: duplicate key \"kind\""),
       "YAML: a duplicate key, with file:line:column");
    ok(yaml_rejected("cdiVersion: 0.6.0\nkind: [example.com/gpu\ndevices: []\n", "v.yaml:"),
       "YAML: a syntax error names the file");
    ok(yaml_rejected("cdiVersion: 0.6.0\nkind: example.com/gpu\ndevices:\n- name: 0\n"
                     "  containerEdits: {env: [A=1]}\n",
                     "devices[0] needs a valid name"),
       "YAML: an unquoted numeric device name is a number, as in the CDI reference (quote it)");
    ok(yaml_rejected("cdiVersion: 0.6.0\nkind: example.com/gpu\ndevices:\n- name: a\n"
                     "  containerEdits:\n    deviceNodes: [{path: /dev/x, major: '1'}]\n",
                     "deviceNodes[0]"),
       "YAML: a quoted major is a string and refused");
    ok(yaml_rejected("a: 1\n---\nb: 2\n", "second YAML document"), "YAML: two documents");

    /* the CDI precedence across formats */
    const char *cdirs[] = {dj, dc};
    const char *gpu0[] = {"example.com/gpu=0"};
    berth_cdi_edits_init(&ed);
    ok(berth_cdi_resolve(cdirs, 2, gpu0, 1, &ed, &err) < 0 && err->kind == BERTH_ERR_PRECONDITION &&
               strstr(err->msg, "a.json") && strstr(err->msg, "b.yaml") &&
               strstr(err->msg, "example.com/gpu=0"),
       "a JSON and a YAML spec of one directory defining a device: FAILED_PRECONDITION naming "
       "both");
    if (err)
        printf("# %s\n", err->msg);
    berth_err_free(&err);
    berth_cdi_edits_fini(&ed);
    const char *cdirs2[] = {dc, dy};
    berth_cdi_edits_init(&ed);
    ok(berth_cdi_resolve(cdirs2, 2, gpu0, 1, &ed, &err) == 0,
       "a later directory's definition settles an earlier directory's conflict");
    berth_err_free(&err);
    berth_cdi_edits_fini(&ed);
    write_file(fc2, "cdiVersion: 0.6.0\nkind: example.com/gpu\ndevices:\n- name: other\n"
                    "  containerEdits: {env: [OTHER=1]}\n");
    const char *both[] = {"example.com/gpu=0", "example.com/gpu=other"};
    berth_cdi_edits_init(&ed);
    ok(berth_cdi_resolve(cdirs, 2, both, 2, &ed, &err) == 0 && json_array_size(ed.env) == 4,
       "specs of one kind in two files of one directory, different devices: no conflict");
    berth_err_free(&err);
    berth_cdi_edits_fini(&ed);

    unlink(fj);
    unlink(fy);
    unlink(fc1);
    unlink(fc2);
    rmdir(dj);
    rmdir(dy);
    rmdir(dc);
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
