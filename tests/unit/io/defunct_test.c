/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/defunct: the state field of /proc/PID/stat texts (commands with
 * parentheses and spaces included), a count over a fixture /proc tree
 * (non-PID entries and a process gone mid-walk skipped), and a real zombie
 * of this test counted in /proc until it is reaped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/defunct.h"
#include "tests/unit/check.h"

static char root[] = "/tmp/berth-defunct-XXXXXX";

static void put(const char *pid, const char *text)
{
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/%s", root, pid);
    mkdir(dir, 0755);
    if (text == NULL)
        return;
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/stat", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static bool zombie(const char *s)
{
    return berth_defunct_stat_is_zombie(s, strlen(s));
}

int main(void)
{
    check(zombie("42 (sh) Z 1 42 42 0 -1 4228164 0 0 0 0"), "state Z is a zombie");
    check(!zombie("42 (sh) S 1 42 42 0 -1 4228164 0 0 0 0"), "state S is not");
    check(zombie("7 (a) Z (b) Z 1 7 7"), "the last ')' ends the command: '(a) Z (b)' is one");
    check(!zombie("7 (x) Z) R 1 7 7"), "a command holding ') Z' does not fool it");
    check(!zombie("7 (sh) ") && !zombie("") && !zombie("no parenthesis Z"),
          "a cut or malformed text is not a zombie");

    if (mkdtemp(root) == NULL) {
        printf("1..%d\n", ntest);
        return 1;
    }
    put("1", "1 (systemd) S 0 1 1 0 -1 4194560 0 0 0 0\n");
    put("200", "200 (worker (x)) Z 1 200 200 0 -1 0 0 0 0 0\n");
    put("201", "201 (defunct one) Z 1 201 201 0 -1 0 0 0 0 0\n");
    put("202", "202 (sleep) D 1 202 202 0 -1 0 0 0 0 0\n");
    put("303", NULL); /* gone between the listing and the read */
    put("self", "9 (self) Z 1\n");
    put("net", NULL);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    size_t seen = 0;
    long n = berth_defunct_count(root, &seen, &err);
    check(n == 2 && seen == 4, "fixture: 2 zombies among 4 processes read (%ld, %zu)", n, seen);
    BERTH_AUTO_FREE char *missing = berth_asprintf("%s/none", root);
    BERTH_AUTO_ERR berth_err_t err2 = NULL;
    check(berth_defunct_count(missing, NULL, &err2) < 0 && err2 != NULL && err2->errnum == ENOENT &&
                  strstr(err2->msg, "none") != NULL,
          "an unreadable root is an error naming it");

    long before = berth_defunct_count("/proc", &seen, &err);
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    /* The child is a zombie from its exit until we reap it. */
    long during = before;
    for (int i = 0; i < 200 && during <= before; i++) {
        usleep(5000);
        during = berth_defunct_count("/proc", &seen, &err);
    }
    check(during >= 1 && during > before, "our unreaped child counts in /proc (%ld, was %ld)",
          during, before);
    waitpid(child, NULL, 0);
    long after = berth_defunct_count("/proc", &seen, &err);
    check(after < during, "reaped, it no longer counts (%ld)", after);
    check(seen > 1, "every process of /proc is read (%zu)", seen);

    BERTH_AUTO_FREE char *cmd = berth_asprintf("rm -rf '%s'", root);
    if (system(cmd) != 0)
        printf("# cannot remove %s\n", root);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
