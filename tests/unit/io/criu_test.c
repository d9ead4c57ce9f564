/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/criu: the reason read out of `criu check` (this VM's real output among
 * the cases), the version line, the probe against stand-in criu scripts (a
 * failing one, a passing one, a missing binary) and the bounded run (output
 * capped, a child past its time killed and reaped).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "engine/alloc.h"
#include "io/criu.h"
#include "tests/unit/check.h"

/* A wait status as waitpid reports an exit with `code`. */
static int exited(int code)
{
    return (code & 0xff) << 8;
}

static void test_reason(void)
{
    /* criu 3.17.1 on kernel 6.18 ([vvar_vclock]), as this VM prints it */
    const char *vdso = "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n"
                       "Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable\n"
                       "Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when "
                       "initializing kerndat.\n"
                       "Error (criu/crtools.c:260): Could not initialize kernel features "
                       "detection.\n";
    BERTH_AUTO_FREE char *r = berth_criu_check_reason(vdso, exited(1));
    check(r && strcmp(r, "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds") == 0,
          "the first Error line is the reason: %s", r ? r : "(null)");
    BERTH_AUTO_FREE char *good = berth_criu_check_reason("Looks good.\n", exited(0));
    ok(good == NULL, "exit 0 is usable");
    BERTH_AUTO_FREE char *warn = berth_criu_check_reason(
            "Warn (criu/kerndat.c:1103): CRIU was built without libnftables support\n"
            "Looks good but some kernel features are missing\n",
            exited(0));
    ok(warn == NULL, "warnings with exit 0 are usable");
    BERTH_AUTO_FREE char *last =
            berth_criu_check_reason("\nsomething odd happened\r\n  \n", exited(2));
    check(last && strcmp(last, "something odd happened") == 0,
          "without an Error line the last non-empty line: %s", last ? last : "(null)");
    BERTH_AUTO_FREE char *quiet = berth_criu_check_reason("", exited(3));
    check(quiet && strstr(quiet, "status 3"), "a silent failure names its status: %s",
          quiet ? quiet : "(null)");
    BERTH_AUTO_FREE char *sig = berth_criu_check_reason(NULL, 9);
    check(sig && strstr(sig, "signal 9"), "a killed criu names the signal: %s",
          sig ? sig : "(null)");
}

static void test_version(void)
{
    BERTH_AUTO_FREE char *v = berth_criu_parse_version("Version: 3.17.1\n");
    check(v && strcmp(v, "3.17.1") == 0, "version parsed: %s", v ? v : "(null)");
    BERTH_AUTO_FREE char *g = berth_criu_parse_version("Version: 4.1\nGitID: v4.1-12\n");
    check(g && strcmp(g, "4.1") == 0, "version with a GitID line: %s", g ? g : "(null)");
    ok(berth_criu_parse_version("criu") == NULL, "no version line: NULL");
}

static char dir[64];

static char *script(const char *name, const char *body)
{
    char *p = berth_asprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    chmod(p, 0755);
    return p;
}

static void test_probe(void)
{
    BERTH_AUTO_FREE char *bad = script(
            "criu-bad", "if [ \"$1\" = --version ]; then echo 'Version: 3.17.1'; exit 0; fi\n"
                        "echo 'Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds' >&2\n"
                        "echo 'Error (criu/crtools.c:260): Could not initialize' >&2\nexit 1\n");
    berth_criu_status_t s;
    berth_criu_probe_at(bad, &s);
    ok(!s.usable, "a failing criu check is not usable");
    check(s.version && strcmp(s.version, "3.17.1") == 0, "its version is kept");
    check(s.reason && strstr(s.reason, "criu check failed") &&
                  strstr(s.reason, "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area "
                                   "bounds") &&
                  strstr(s.reason, "3.17.1") && !strstr(s.reason, "crtools"),
          "the reason names criu's first error and version: %s", s.reason ? s.reason : "(null)");
    berth_criu_status_fini(&s);

    BERTH_AUTO_FREE char *good =
            script("criu-good", "if [ \"$1\" = --version ]; then echo 'Version: 4.1'; exit 0; fi\n"
                                "echo 'Looks good.'\n");
    berth_criu_probe_at(good, &s);
    ok(s.usable && s.reason == NULL, "a passing criu check is usable");
    berth_criu_status_fini(&s);

    BERTH_AUTO_FREE char *missing = berth_asprintf("%s/none/criu", dir);
    berth_criu_probe_at(missing, &s);
    check(!s.usable && s.reason && strstr(s.reason, "not installed"), "a missing criu is named: %s",
          s.reason ? s.reason : "(null)");
    berth_criu_status_fini(&s);
}

static void test_run(void)
{
    BERTH_AUTO_FREE char *big = script("big", "yes criu | head -c 200000\necho done >&2\n");
    const char *argv[] = {big, NULL};
    char *out = NULL;
    int st = -1;
    berth_err_t err = NULL;
    int rc = berth_criu_run(argv, 10000, &out, &st, &err);
    check(rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && strlen(out) == 64 * 1024,
          "a long output is capped at 64 KiB (%zu)", out ? strlen(out) : 0);
    berth_free(out);

    BERTH_AUTO_FREE char *slow = script("slow", "exec sleep 30\n");
    const char *sargv[] = {slow, NULL};
    out = NULL;
    rc = berth_criu_run(sargv, 200, &out, &st, &err);
    check(rc < 0 && err && err->kind == BERTH_ERR_TIMEOUT && out == NULL,
          "a child past its time is killed: %s", err ? err->msg : "(none)");
    berth_err_free(&err);

    const char *nargv[] = {"/nonexistent/criu", NULL};
    rc = berth_criu_run(nargv, 1000, &out, &st, &err);
    check(rc < 0 && err && err->errnum == ENOENT, "a missing binary fails to start");
    berth_err_free(&err);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/criu_test.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        printf("1..0 # SKIP no scratch directory\n");
        return 77;
    }
    test_reason();
    test_version();
    test_probe();
    test_run();
    const char *rm[] = {"/bin/rm", "-rf", dir, NULL};
    char *out = NULL;
    int st;
    berth_err_t err = NULL;
    if (berth_criu_run(rm, 10000, &out, &st, &err) == 0)
        berth_free(out);
    berth_err_free(&err);
    printf("1..%d\n", ntest);
    return nfail != 0;
}
