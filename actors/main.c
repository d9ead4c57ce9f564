// SPDX-License-Identifier: Apache-2.0
/*
 * berthd's entry point: the command line, the configuration snapshot, and
 * the hand-over to the daemon. Subcommands: `berthd` (serve), `berthd config`
 * (print the effective configuration as TOML), `berthd check`, `berthd
 * status VIEW` (ask a running berthd's debug endpoint), `berthd version`.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "actors/daemon.h"
#include "actors/status.h"
#include "conf/config.h"
#include "engine/alloc.h"
#include "engine/err.h"
#include "engine/log.h"
#include "io/store.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: berthd [config|check|status|version] [options]\n"
            "\n"
            "  berthd            serve CRI v1 on the configured socket\n"
            "  berthd config     print the effective configuration as TOML and exit\n"
            "  berthd check      check the image store under [crio] root; with --repair,\n"
            "                    remove what is broken (no berthd may serve that root)\n"
            "  berthd status VIEW  ask the running berthd's debug endpoint ([crio.api]\n"
            "                    debug_socket, or --socket) for VIEW: config (its effective\n"
            "                    configuration), info (runtime status), containers, actors\n"
            "                    (every actor and its mailbox), heap (allocator statistics);\n"
            "                    --json prints containers and actors as JSON\n"
            "  berthd version    print the version and exit\n"
            "\n"
            "options (applied after the configuration files):\n"
            "  -c, --config FILE       main configuration file (default %s)\n"
            "  -d, --config-dir DIR    drop-in directory (default %s)\n"
            "      --listen PATH       socket path ([crio.api] listen)\n"
            "      --root DIR          state directory ([crio] root)\n"
            "      --runroot DIR       run directory ([crio] runroot)\n"
            "  -l, --log-level LEVEL   trace, debug, info, warn, error, fatal\n"
            "      --workers N         engine workers (0: one per online CPU)\n"
            "      --set KEY=VALUE     any configuration key, e.g. crio.network.network_dir=/x\n"
            "      --socket PATH       status: the debug socket ([crio.api] debug_socket)\n"
            "  -h, --help              this text\n",
            BERTH_CONFIG_DEFAULT_FILE, BERTH_CONFIG_DEFAULT_DIR);
}

static void *jansson_malloc(size_t n)
{
    return berth_malloc(n);
}

static void print_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("%s\n", line);
}

/* Whether a berthd answers on the socket path (connect succeeds). */
static bool serving(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    bool up = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return up;
}

/* `berthd check [--repair]`: 0 when the store is sound (or was repaired), 1
 * when problems remain, 2 when it could not run. */
static int run_check(const berth_config_t *cfg, bool repair)
{
    if (repair && serving(cfg->listen)) {
        fprintf(stderr,
                "berthd check: a berthd serves %s with this root (%s): stop it before "
                "--repair, which removes files it may be using\n",
                cfg->listen, cfg->root);
        return 2;
    }
    berth_store_check_t c = {.repair = repair, .report = print_line};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_store_check(cfg->root, &c, &err) < 0) {
        fprintf(stderr, "berthd check: %s\n", err->msg);
        return 2;
    }
    printf("image store %s/storage: %u images, %u layers, %u blobs sound; %u problems%s", cfg->root,
           c.images, c.layers, c.blobs, c.problems, repair ? "" : "\n");
    if (repair)
        printf(", %u repaired (%u unreferenced layers or blobs collected)\n", c.repaired,
               c.unreferenced);
    return c.problems == 0 || (repair && c.repaired >= c.problems) ? 0 : 1;
}

int main(int argc, char **argv)
{
    /* jansson allocates through berth's allocator too (STYLE.md §4). */
    json_set_alloc_funcs(jansson_malloc, berth_free);

    const char *cmd = "serve";
    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        argv++;
        argc--;
    }
    if (strcmp(cmd, "version") == 0) {
        printf("berthd %s (CRI v1)\n", BERTH_VERSION);
        return 0;
    }
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "config") != 0 && strcmp(cmd, "check") != 0 &&
        strcmp(cmd, "status") != 0) {
        fprintf(stderr, "berthd: unknown command %s\n", cmd);
        usage(stderr);
        return 2;
    }

    enum {
        OPT_LISTEN = 256,
        OPT_ROOT,
        OPT_RUNROOT,
        OPT_WORKERS,
        OPT_SET,
        OPT_REPAIR,
        OPT_SOCKET,
        OPT_JSON
    };
    bool repair = false, json = false;
    const char *socket_opt = NULL;
    static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"config-dir", required_argument, NULL, 'd'},
            {"listen", required_argument, NULL, OPT_LISTEN},
            {"root", required_argument, NULL, OPT_ROOT},
            {"runroot", required_argument, NULL, OPT_RUNROOT},
            {"log-level", required_argument, NULL, 'l'},
            {"workers", required_argument, NULL, OPT_WORKERS},
            {"set", required_argument, NULL, OPT_SET},
            {"repair", no_argument, NULL, OPT_REPAIR},
            {"socket", required_argument, NULL, OPT_SOCKET},
            {"json", no_argument, NULL, OPT_JSON},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    berth_config_builder_t *b = berth_config_builder_new();
    BERTH_AUTO_ERR berth_err_t err = NULL;
    int c;
    int rc = 0;
    while ((c = getopt_long(argc, argv, "c:d:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            berth_config_builder_set_file(b, optarg);
            break;
        case 'd':
            berth_config_builder_set_dir(b, optarg);
            break;
        case OPT_LISTEN:
            rc = berth_config_set(b, "crio.api.listen", optarg, &err);
            break;
        case OPT_ROOT:
            rc = berth_config_set(b, "crio.root", optarg, &err);
            break;
        case OPT_RUNROOT:
            rc = berth_config_set(b, "crio.runroot", optarg, &err);
            break;
        case 'l':
            if (berth_log_level_parse(optarg) < 0) {
                rc = berth_err_make(&err, EINVAL, BERTH_ERR_INVALID,
                                    "--log-level %s: expected trace, debug, info, warn, error "
                                    "or fatal",
                                    optarg);
                break;
            }
            rc = berth_config_set(b, "crio.runtime.log_level", optarg, &err);
            break;
        case OPT_WORKERS:
            rc = berth_config_set(b, "crio.runtime.workers", optarg, &err);
            break;
        case OPT_REPAIR:
            repair = true;
            break;
        case OPT_SOCKET:
            socket_opt = optarg;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_SET: {
            BERTH_AUTO_FREE char *kv = berth_strdup(optarg);
            char *eq = strchr(kv, '=');
            if (eq == NULL) {
                rc = berth_err_make(&err, EINVAL, BERTH_ERR_INVALID, "--set %s: expected KEY=VALUE",
                                    optarg);
                break;
            }
            *eq = '\0';
            rc = berth_config_set(b, kv, eq + 1, &err);
            break;
        }
        case 'h':
            usage(stdout);
            berth_config_builder_free(b);
            return 0;
        default:
            usage(stderr);
            berth_config_builder_free(b);
            return 2;
        }
        if (rc < 0) {
            fprintf(stderr, "berthd: %s\n", err->msg);
            berth_config_builder_free(b);
            return 2;
        }
    }
    const char *view = NULL;
    if (strcmp(cmd, "status") == 0 && optind < argc)
        view = argv[optind++];
    if (strcmp(cmd, "status") == 0 && view == NULL) {
        fprintf(stderr, "berthd status: which view? config, info, containers, actors or heap\n");
        berth_config_builder_free(b);
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "berthd: unexpected argument %s\n", argv[optind]);
        berth_config_builder_free(b);
        return 2;
    }
    berth_config_t *cfg = berth_config_build(b, &err);
    berth_config_builder_free(b);
    if (cfg == NULL) {
        fprintf(stderr, "berthd: configuration: %s\n", err->msg);
        return 1;
    }
    int level = berth_log_level_parse(cfg->log_level);
    if (level < 0) {
        fprintf(stderr,
                "berthd: configuration: log_level %s: expected trace, debug, info, "
                "warn, error or fatal\n",
                cfg->log_level);
        berth_config_unref(cfg);
        return 1;
    }
    berth_log_set_level(level);
    if (strcmp(cmd, "config") == 0) {
        berth_config_print(cfg, stdout);
        berth_config_unref(cfg);
        return 0;
    }
    if (strcmp(cmd, "status") == 0) {
        const char *sock = socket_opt ? socket_opt : cfg->debug_socket;
        if (sock[0] == '\0') {
            fprintf(stderr, "berthd status: the debug endpoint is off in this configuration: "
                            "set [crio.api] debug_socket (and restart berthd), or pass --socket\n");
            rc = 2;
        } else {
            rc = berth_status_run(sock, view, json, stdout);
        }
        berth_config_unref(cfg);
        return rc;
    }
    if (strcmp(cmd, "check") == 0) {
        rc = run_check(cfg, repair);
        berth_config_unref(cfg);
        return rc;
    }
    /* Before any worker exists: a stalled log reader (journald, a full pipe
     * to a supervisor) must cost log lines, never a worker. */
    berth_log_nonblocking();
    rc = berth_daemon_run(cfg, &err);
    berth_config_unref(cfg);
    if (rc < 0) {
        berth_log(BERTH_LOG_FATAL, "berthd cannot start", "error=\"%s\"", err->msg);
        return 1;
    }
    return 0;
}
