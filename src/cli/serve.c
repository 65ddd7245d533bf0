/* animeface serve: the model loaded once, served over HTTP (src/serve). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/default_model.h"
#include "cli/options.h"
#include "serve/serve.h"

#define SERVE_MAX_WORKERS 64

static const char usage_text[] =
    "Usage: animeface serve [--model M] [--host 127.0.0.1] [--port 8080] [--workers N]\n"
    "                       [--max-upload MB] [--max-pixels N] [--queue N]\n"
    "A local HTTP service: POST /v1/detect, POST /v1/crop, GET /v1/models, /healthz,\n"
    "/metrics, and a page at / to try the model in a browser. No authentication: keep\n"
    "it on 127.0.0.1 or behind a reverse proxy (README).";

static int cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 1024 ? (int)n : 1;
}

int cmd_serve(int argc, char **argv)
{
    const char *model = NULL, *host = "127.0.0.1", *precision = NULL, *conv = NULL;
    int port = 8080, workers = 0, threads = 0, queue = 32, max_imgsz = 0, timeout = 30;
    int max_conn = 128, help = 0;
    double max_upload_mb = 20, max_pixels = 40e6;
    opt_spec specs[] = {
        {"model", NULL, OPT_STRING, &model, 1, 0,
         "weights: ultralytics .pt or animeface .safetensors (default: bundled model)", "FILE"},
        {"host", NULL, OPT_STRING, &host, 1, 0,
         "address to listen on (127.0.0.1; 0.0.0.0 or :: for every interface)", "ADDR"},
        {"port", NULL, OPT_INT, &port, 0, 65535, "TCP port (8080; 0: any free port)", "N"},
        {"workers", NULL, OPT_INT, &workers, 0, SERVE_MAX_WORKERS,
         "images detected at once, one context each (default: one per core)", "N"},
        {"threads", NULL, OPT_INT, &threads, 0, 1024,
         "compute threads per worker (default: the cores shared among the workers)", "N"},
        {"queue", NULL, OPT_INT, &queue, 1, 100000,
         "requests that may wait for a worker; more get 503 (32)", "N"},
        {"max-upload", NULL, OPT_FLOAT, &max_upload_mb, 0.001, 4096,
         "largest request body in MB; larger get 413 (20)", "MB"},
        {"max-pixels", NULL, OPT_FLOAT, &max_pixels, 1, 1e10,
         "largest decoded image, width x height; larger get 400 (40000000)", "N"},
        {"max-imgsz", NULL, OPT_INT, &max_imgsz, 32, 8192,
         "largest imgsz a request may ask for (default: 1280 or the model's, if larger)", "N"},
        {"timeout", NULL, OPT_INT, &timeout, 1, 3600,
         "seconds an idle connection is kept and a request may take to arrive (30)", "S"},
        {"max-connections", NULL, OPT_INT, &max_conn, 1, 100000, "connections open at once (128)",
         "N"},
        {"precision", NULL, OPT_STRING, &precision, 1, 0, CLI_HELP_PRECISION, "P"},
        {"conv", NULL, OPT_STRING, &conv, 1, 0, CLI_HELP_CONV, "A"},
        {"help", NULL, OPT_BOOL, &help, 1, 0, "show this help", NULL},
    };
    int ns = (int)(sizeof specs / sizeof specs[0]);
    char *pos[4];
    int npos = 0;
    if (opt_parse("animeface serve", argc, argv, specs, ns, pos, 4, &npos))
        return 2;
    if (help) {
        opt_print_help(usage_text, specs, ns);
        return 0;
    }
    if (npos) {
        fprintf(stderr, "animeface serve: unexpected argument '%s' (see --help)\n", pos[0]);
        return 2;
    }
    serve_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (cli_model_sha256(model, cfg.model_sha256)) {
        fprintf(stderr, "animeface serve: cannot read %s\n", model);
        return 1;
    }
    const char *shown;
    af_model *m = cli_load_model(model, &shown);
    if (!m || cli_set_numerics("serve", m, precision, conv)) {
        af_model_free(m);
        return 1;
    }
    int nc = cores();
    cfg.model = m;
    /* a file's name without its folders: clients need not learn the server's paths */
    const char *slash = strrchr(shown, '/');
    cfg.model_name = slash && slash[1] ? slash + 1 : shown;
    cfg.host = host;
    cfg.port = port;
    cfg.workers = workers > 0 ? workers : nc;
    cfg.threads = threads > 0 ? threads : (nc / cfg.workers > 0 ? nc / cfg.workers : 1);
    cfg.queue = queue;
    cfg.max_upload = (size_t)(max_upload_mb * 1024 * 1024);
    cfg.max_pixels = (uint64_t)max_pixels;
    cfg.max_imgsz = max_imgsz > 0                      ? max_imgsz
                    : af_model_default_imgsz(m) > 1280 ? af_model_default_imgsz(m)
                                                       : 1280;
    cfg.timeout_s = timeout;
    cfg.max_connections = max_conn;
    cfg.log = stderr;

    /* SIGTERM and SIGINT are taken by serve_run's sigwait: block them before
     * any thread starts, so that every thread inherits the mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = serve_run(&cfg);
    af_model_free(m);
    return rc;
}
