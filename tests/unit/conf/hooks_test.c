/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for conf/hooks.c: the 1.0.0 schema and its rejections, the
 * `when` conditions (always, annotations, commands, hasBindMounts, or),
 * stages, the default timeout, loading from directories (a later directory
 * replaces a file of the same name; an invalid file is skipped) and the
 * injection order.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/hooks.h"
#include "engine/alloc.h"
#include "tap.h"

static berth_hook_t *parse(const char *text, char **msg)
{
    berth_err_t err = NULL;
    berth_hook_t *h = berth_hook_parse("t.json", text, strlen(text), &err);
    if (msg)
        *msg = err ? berth_strdup(err->msg) : NULL;
    berth_err_free(&err);
    return h;
}

static bool rejected(const char *text, const char *needle)
{
    char *msg = NULL;
    berth_hook_t *h = parse(text, &msg);
    bool r = h == NULL && msg && strstr(msg, needle) && strstr(msg, "t.json");
    if (!r)
        printf("# got: %s\n", msg ? msg : "(accepted)");
    berth_hook_free(h);
    berth_free(msg);
    return r;
}

#define HOOK "\"hook\":{\"path\":\"/bin/true\"}"
#define V "\"version\":\"1.0.0\""

/* Injects the single hook text into a fresh hooks object for ctx; returns
 * the object (owned). */
static json_t *inject1(const char *text, const berth_hooks_ctx_t *ctx)
{
    berth_hook_t *h = parse(text, NULL);
    berth_hooks_t hs = {.v = &h, .n = h ? 1 : 0};
    json_t *o = json_object();
    berth_hooks_inject(&hs, ctx, o);
    berth_hook_free(h);
    return o;
}

static bool matched(const char *when, const berth_hooks_ctx_t *ctx)
{
    BERTH_AUTO_FREE char *text =
            berth_asprintf("{" V "," HOOK ",\"when\":%s,\"stages\":[\"prestart\"]}", when);
    json_t *o = inject1(text, ctx);
    bool m = json_array_size(json_object_get(o, "prestart")) == 1;
    json_decref(o);
    return m;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    /* the schema */
    ok(rejected("{", "invalid JSON"), "bad JSON is rejected, naming the file");
    ok(rejected("{\"version\":\"0.1.0\"," HOOK ",\"when\":{\"always\":true},\"stages\":["
                "\"prestart\"]}",
                "version"),
       "only version 1.0.0");
    ok(rejected("{" V ",\"hook\":{\"path\":\"true\"},\"when\":{\"always\":true},\"stages\":["
                "\"prestart\"]}",
                "absolute"),
       "a relative hook path is rejected");
    ok(rejected("{" V "," HOOK ",\"stages\":[\"prestart\"]}", "when"), "when is required");
    ok(rejected("{" V "," HOOK ",\"when\":{},\"stages\":[\"prestart\"]}", "no condition"),
       "when without a condition is rejected");
    ok(rejected("{" V "," HOOK ",\"when\":{\"always\":true},\"stages\":[]}", "stages"),
       "empty stages are rejected");
    ok(rejected("{" V "," HOOK ",\"when\":{\"always\":true},\"stages\":[\"prestop\"]}",
                "unknown stage \"prestop\""),
       "an unknown stage is rejected");
    ok(rejected("{" V ",\"hook\":{\"path\":\"/x\",\"timeout\":0},\"when\":{\"always\":true},"
                "\"stages\":[\"prestart\"]}",
                "timeout"),
       "a zero timeout is rejected");
    ok(rejected("{" V "," HOOK ",\"when\":{\"commands\":[\"(\"]},\"stages\":[\"prestart\"]}",
                "command pattern"),
       "a bad regular expression is rejected");
    static const char *const costly[] = {"sh+++$", "a**", "((a{99}){99}){99}",
                                         "(((((((((((a+)+)+)+)+)+)+)+)+)+)+)+"};
    for (size_t i = 0; i < sizeof(costly) / sizeof(costly[0]); i++) {
        BERTH_AUTO_FREE char *t = berth_asprintf(
                "{" V "," HOOK ",\"when\":{\"commands\":[\"%s\"]},\"stages\":[\"prestart\"]}",
                costly[i]);
        ok(rejected(t, "repetition"), "a pattern costly to compile is refused: %s", costly[i]);
    }
    ok(matched("{\"commands\":[\"^/usr/bin/s[h+]{1,3}$\",\"a+b*c?\"]}",
               &(berth_hooks_ctx_t){.command = "/usr/bin/sh"}),
       "ordinary repetitions and brackets still compile and match");
    ok(rejected("{" V ",\"hook\":{\"path\":\"/x\",\"args\":[1]},\"when\":{\"always\":true},"
                "\"stages\":[\"prestart\"]}",
                "hook.args"),
       "non-string args are rejected");

    /* the injected hook: path, args, env, and a timeout always */
    berth_hooks_ctx_t none = {0};
    json_t *o =
            inject1("{" V ",\"hook\":{\"path\":\"/h\",\"args\":[\"h\",\"x\"],\"env\":[\"A=1\"]},"
                    "\"when\":{\"always\":true},\"stages\":[\"prestart\",\"poststop\","
                    "\"createRuntime\"]}",
                    &none);
    json_t *e = json_array_get(json_object_get(o, "prestart"), 0);
    ok(e && strcmp(json_string_value(json_object_get(e, "path")), "/h") == 0 &&
               json_array_size(json_object_get(e, "args")) == 2 &&
               json_array_size(json_object_get(e, "env")) == 1,
       "path, args and env are carried");
    ok(json_integer_value(json_object_get(e, "timeout")) == BERTH_HOOK_DEFAULT_TIMEOUT,
       "a hook without a timeout gets berth's default");
    ok(json_object_get(o, "poststop") && json_object_get(o, "createRuntime") &&
               !json_object_get(o, "poststart"),
       "exactly the named stages");
    json_decref(o);
    o = inject1("{" V ",\"hook\":{\"path\":\"/h\",\"timeout\":3},\"when\":{\"always\":true},"
                "\"stages\":[\"prestart\"]}",
                &none);
    e = json_array_get(json_object_get(o, "prestart"), 0);
    ok(json_integer_value(json_object_get(e, "timeout")) == 3, "the file's timeout is kept");
    json_decref(o);

    /* conditions */
    const char *keys[] = {"com.example.department", "other"};
    const char *vals[] = {"fluid-dynamics-lab", "x"};
    berth_hooks_ctx_t ctx = {.ann_keys = keys,
                             .ann_values = vals,
                             .nann = 2,
                             .command = "/usr/bin/sh",
                             .has_bind_mounts = true};
    ok(matched("{\"always\":true}", &none), "always true matches");
    ok(!matched("{\"always\":false}", &none), "always false does not");
    ok(matched("{\"annotations\":{\"^com\\\\.example\\\\.department$\":\"fluid\"}}", &ctx),
       "an annotation key and value pattern match (unanchored value)");
    ok(!matched("{\"annotations\":{\"^com\\\\.example\\\\.department$\":\"^fluid$\"}}", &ctx),
       "an anchored value pattern that does not match");
    ok(!matched("{\"annotations\":{\"department\":\"lab\",\"missing\":\".*\"}}", &ctx),
       "every annotation pattern must match");
    ok(matched("{\"commands\":[\"^/bin/bash$\",\"sh$\"]}", &ctx), "any command pattern matches");
    ok(!matched("{\"commands\":[\"^/bin/bash$\"]}", &ctx), "no command pattern matches");
    ok(matched("{\"hasBindMounts\":true}", &ctx) && !matched("{\"hasBindMounts\":true}", &none),
       "hasBindMounts");
    ok(!matched("{\"hasBindMounts\":true,\"commands\":[\"bash\"]}", &ctx),
       "conditions are and-ed by default");
    ok(matched("{\"hasBindMounts\":true,\"commands\":[\"bash\"],\"or\":true}", &ctx),
       "or: any condition suffices");

    /* loading: two directories, a replacement, an invalid file, order */
    char tmpl[] = "/tmp/berth-hooks-XXXXXX";
    char *root = mkdtemp(tmpl);
    BERTH_AUTO_FREE char *d1 = berth_asprintf("%s/usr", root);
    BERTH_AUTO_FREE char *d2 = berth_asprintf("%s/etc", root);
    mkdir(d1, 0700);
    mkdir(d2, 0700);
    const char *good_b = "{" V ",\"hook\":{\"path\":\"/b\"},\"when\":{\"always\":true},"
                         "\"stages\":[\"prestart\"]}";
    const char *good_a = "{" V ",\"hook\":{\"path\":\"/a\"},\"when\":{\"always\":true},"
                         "\"stages\":[\"prestart\"]}";
    const char *good_a2 = "{" V ",\"hook\":{\"path\":\"/a2\"},\"when\":{\"always\":true},"
                          "\"stages\":[\"prestart\"]}";
    BERTH_AUTO_FREE char *f1 = berth_asprintf("%s/20-b.json", d1);
    BERTH_AUTO_FREE char *f2 = berth_asprintf("%s/10-a.json", d1);
    BERTH_AUTO_FREE char *f3 = berth_asprintf("%s/10-a.json", d2);
    BERTH_AUTO_FREE char *f4 = berth_asprintf("%s/30-bad.json", d2);
    BERTH_AUTO_FREE char *f5 = berth_asprintf("%s/notes.txt", d2);
    write_file(f1, good_b);
    write_file(f2, good_a);
    write_file(f3, good_a2);
    write_file(f4, "{\"version\":\"1.0.0\"}");
    write_file(f5, "not a hook");
    const char *dirs[] = {d1, d2, "/nonexistent/hooks.d"};
    berth_hooks_t *hs = berth_hooks_load(dirs, 3);
    ok(hs->n == 2, "two hooks loaded (invalid and non-.json files skipped): %zu", hs->n);
    o = json_object();
    ok(berth_hooks_inject(hs, &none, o) == 2, "both injected");
    json_t *pre = json_object_get(o, "prestart");
    ok(strcmp(json_string_value(json_object_get(json_array_get(pre, 0), "path")), "/a2") == 0 &&
               strcmp(json_string_value(json_object_get(json_array_get(pre, 1), "path")), "/b") ==
                       0,
       "by file name, the later directory's 10-a.json replacing the earlier one");
    json_decref(o);
    berth_hooks_free(hs);
    unlink(f1);
    unlink(f2);
    unlink(f3);
    unlink(f4);
    unlink(f5);
    rmdir(d1);
    rmdir(d2);
    rmdir(root);
    return tap_done();
}
