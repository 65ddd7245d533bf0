/* animeface train: the YOLOv8 training recipe (ultralytics 8.1.9 defaults). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/fsutil.h"
#include "cli/options.h"
#include "train/trainer.h"

typedef struct train_ui {
    int tty;
    int last_epoch;
} train_ui;

static void fmt_time(double s, char *buf, size_t cap)
{
    int t = (int)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%02d:%02d", t / 60, t % 60);
}

static void on_progress(void *user, const af_train_progress *p)
{
    train_ui *ui = user;
    switch (p->event) {
    case AF_TRAIN_START:
    case AF_TRAIN_INFO:
        if (p->text)
            printf("%s\n", p->text);
        break;
    case AF_TRAIN_BATCH: {
        if (p->batch == 1) {
            printf("\n%11s%11s%11s%11s%11s%11s%11s\n", "Epoch", "RAM", "box_loss", "cls_loss",
                   "dfl_loss", "Instances", "Size");
        }
        char ep[32], ram[32], el[32], eta[32];
        snprintf(ep, sizeof ep, "%d/%d", p->epoch, p->epochs);
        snprintf(ram, sizeof ram, "%.3gG", p->ram_gb);
        fmt_time(p->elapsed_s, el, sizeof el);
        fmt_time(p->eta_s, eta, sizeof eta);
        int pct = p->batches ? 100 * p->batch / p->batches : 100;
        char bar[21];
        for (int i = 0; i < 20; i++)
            bar[i] = i < pct / 5 ? '#' : ' ';
        bar[20] = '\0';
        char line[512];
        snprintf(line, sizeof line, "%11s%11s%11.4g%11.4g%11.4g%11d%11d: %3d%%|%s| %d/%d [%s<%s]",
                 ep, ram, p->loss[0], p->loss[1], p->loss[2], p->instances, p->size, pct, bar,
                 p->batch, p->batches, el, eta);
        if (ui->tty) {
            printf("\r%s", line);
            if (p->batch == p->batches)
                putchar('\n');
        } else if (p->batch == p->batches || p->batch % 50 == 0) {
            printf("%s\n", line);
        }
        fflush(stdout);
        break;
    }
    case AF_TRAIN_EPOCH_END:
        break;
    case AF_TRAIN_VAL:
        if (p->text)
            fputs(p->text, stdout);
        fflush(stdout);
        break;
    case AF_TRAIN_DONE:
        break;
    }
}

/* "runs/detect/train/weights/last.safetensors" -> "runs/detect/train" */
static void run_dir_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    size_t n = strlen(out);
    if (n > 12 && !strcmp(out + n - 12, ".safetensors")) {
        char *s = strrchr(out, '/');
        if (s)
            *s = '\0';
        else
            snprintf(out, cap, ".");
        n = strlen(out);
        if (n >= 7 && !strcmp(out + n - 7, "weights")) {
            out[n - 7] = '\0';
            n = strlen(out);
            if (n && out[n - 1] == '/')
                out[n - 1] = '\0';
            if (!out[0])
                snprintf(out, cap, ".");
        }
    }
}

int cmd_train(int argc, char **argv)
{
    af_train_args a;
    af_train_args_default(&a);
    const char *project = "runs/detect", *name = "train", *resume = NULL, *device = NULL;
    const char *cache = NULL, *precision = NULL;
    int exist_ok = 0, help = 0;
    double seed = 0;
    double hsv_h = a.aug.hsv_h, hsv_s = a.aug.hsv_s, hsv_v = a.aug.hsv_v, degrees = a.aug.degrees,
           translate = a.aug.translate, scale = a.aug.scale, shear = a.aug.shear,
           perspective = a.aug.perspective, flipud = a.aug.flipud, fliplr = a.aug.fliplr,
           mosaic = a.aug.mosaic, mixup = a.aug.mixup;
    opt_spec specs[] = {
        {"data", NULL, OPT_STRING, &a.data, 1, 0, "dataset yaml", "YAML"},
        {"model", NULL, OPT_STRING, &a.model, 1, 0,
         "yolov8n.yaml (random init) or a .pt/.safetensors to start from", "M"},
        {"epochs", NULL, OPT_INT, &a.epochs, 1, 100000, "epochs (100)", "N"},
        {"batch", NULL, OPT_INT, &a.batch, 1, 1024, "batch size (16)", "N"},
        {"imgsz", NULL, OPT_INT, &a.imgsz, 32, 8192, "train and val image size (640)", "N"},
        {"workers", NULL, OPT_INT, &a.workers, 1, 64, "data loader threads (2)", "N"},
        {"threads", NULL, OPT_INT, &a.threads, 0, 1024, "compute threads (all cores)", "N"},
        {"patience", NULL, OPT_INT, &a.patience, 0, 100000, "early stopping patience (100)", "N"},
        {"optimizer", NULL, OPT_STRING, &a.optimizer, 1, 0, "auto, SGD, Adam or AdamW (auto)",
         "O"},
        {"lr0", NULL, OPT_FLOAT, &a.lr0, 0, 10, "initial learning rate (0.01)", "X"},
        {"lrf", NULL, OPT_FLOAT, &a.lrf, 0, 10, "final lr fraction (0.01)", "X"},
        {"momentum", NULL, OPT_FLOAT, &a.momentum, 0, 1, "momentum / Adam beta1 (0.937)", "X"},
        {"weight-decay", NULL, OPT_FLOAT, &a.weight_decay, 0, 1, "weight decay (0.0005)", "X"},
        {"warmup-epochs", NULL, OPT_FLOAT, &a.warmup_epochs, 0, 1000, "warm-up epochs (3.0)",
         "X"},
        {"warmup-momentum", NULL, OPT_FLOAT, &a.warmup_momentum, 0, 1, "(0.8)", "X"},
        {"warmup-bias-lr", NULL, OPT_FLOAT, &a.warmup_bias_lr, 0, 10, "(0.1)", "X"},
        {"box", NULL, OPT_FLOAT, &a.box, 0, 1000, "box loss gain (7.5)", "X"},
        {"cls", NULL, OPT_FLOAT, &a.cls, 0, 1000, "class loss gain (0.5)", "X"},
        {"dfl", NULL, OPT_FLOAT, &a.dfl, 0, 1000, "DFL loss gain (1.5)", "X"},
        {"nbs", NULL, OPT_INT, &a.nbs, 1, 100000, "nominal batch size (64)", "N"},
        {"cos-lr", NULL, OPT_BOOL, &a.cos_lr, 1, 0, "cosine lr schedule", NULL},
        {"close-mosaic", NULL, OPT_INT, &a.close_mosaic, 0, 100000,
         "no mosaic in the last N epochs (10)", "N"},
        {"hsv-h", NULL, OPT_FLOAT, &hsv_h, 0, 1, "(0.015)", "X"},
        {"hsv-s", NULL, OPT_FLOAT, &hsv_s, 0, 1, "(0.7)", "X"},
        {"hsv-v", NULL, OPT_FLOAT, &hsv_v, 0, 1, "(0.4)", "X"},
        {"degrees", NULL, OPT_FLOAT, &degrees, 0, 180, "(0.0)", "X"},
        {"translate", NULL, OPT_FLOAT, &translate, 0, 1, "(0.1)", "X"},
        {"scale", NULL, OPT_FLOAT, &scale, 0, 10, "(0.5)", "X"},
        {"shear", NULL, OPT_FLOAT, &shear, 0, 180, "(0.0)", "X"},
        {"perspective", NULL, OPT_FLOAT, &perspective, 0, 0.001, "(0.0)", "X"},
        {"flipud", NULL, OPT_FLOAT, &flipud, 0, 1, "(0.0)", "X"},
        {"fliplr", NULL, OPT_FLOAT, &fliplr, 0, 1, "(0.5)", "X"},
        {"mosaic", NULL, OPT_FLOAT, &mosaic, 0, 1, "(1.0)", "X"},
        {"mixup", NULL, OPT_FLOAT, &mixup, 0, 1, "(0.0)", "X"},
        {"seed", NULL, OPT_FLOAT, &seed, 0, 4294967295.0, "random seed (0)", "N"},
        {"cache", NULL, OPT_STRING, &cache, 1, 0, "ram: keep decoded images in memory", "ram"},
        {"precision", NULL, OPT_STRING, &precision, 1, 0,
         "fp32 (default) or bf16: the convolutions in bf16 with float32 accumulation and master "
         "weights (CPUs with avx512_bf16/AMX; elsewhere a notice, then fp32)",
         "P"},
        {"val", NULL, OPT_BOOL, &a.val, 1, 0, "validate every epoch (on)", NULL},
        {"plots", NULL, OPT_BOOL, &a.plots, 1, 0, "plots of the final validation (on)", NULL},
        {"save-period", NULL, OPT_INT, &a.save_period, -1, 100000, "save epochN every N epochs",
         "N"},
        {"max-batches", NULL, OPT_INT, &a.max_batches, 0, 1000000,
         "stop each epoch after N batches (quick runs)", "N"},
        {"project", NULL, OPT_STRING, &project, 1, 0, "output root (runs/detect)", "DIR"},
        {"name", NULL, OPT_STRING, &name, 1, 0, "run name (train, train2, ...)", "NAME"},
        {"exist-ok", NULL, OPT_BOOL, &exist_ok, 1, 0, "reuse project/name", NULL},
        {"resume", NULL, OPT_STRING, &resume, 1, 0,
         "continue a run: its folder or its weights/last.safetensors", "RUN"},
        {"device", NULL, OPT_STRING, &device, 1, 0, "(ultralytics) only 'cpu'", "D"},
        {"help", NULL, OPT_BOOL, &help, 1, 0, "show this help", NULL},
    };
    int ns = (int)(sizeof specs / sizeof specs[0]);
    char *pos[4];
    int npos;
    if (opt_parse("animeface train", argc, argv, specs, ns, pos, 4, &npos))
        return 2;
    if (help) {
        opt_print_help("Usage: animeface train --data data.yaml [--model yolov8n.yaml|start.pt] "
                       "[--epochs N] ...\n"
                       "       animeface train --resume runs/detect/train\n"
                       "ultralytics spelling: animeface train data=data.yaml model=yolov8n.pt "
                       "epochs=100 imgsz=640",
                       specs, ns);
        return 0;
    }
    if (npos) {
        fprintf(stderr, "animeface train: unexpected argument '%s' (see --help)\n", pos[0]);
        return 2;
    }
    if (device && *device && strcmp(device, "cpu")) {
        fprintf(stderr, "animeface train: device '%s' is not available: animeface trains on the "
                        "CPU\n",
                device);
        return 2;
    }
    if (precision && strcmp(precision, "fp32") && strcmp(precision, "bf16")) {
        fprintf(stderr, "animeface train: --precision must be fp32 or bf16, not '%s'\n",
                precision);
        return 2;
    }
    a.bf16 = precision && !strcmp(precision, "bf16");
    if (a.bf16 && !cli_cpu_has_bf16()) {
        fprintf(stderr, "notice: --precision bf16: this CPU has no bf16 arithmetic: training "
                        "in fp32\n");
        a.bf16 = 0;
    }
    a.seed = (uint64_t)seed;
    a.cache_ram = cache && (!strcasecmp(cache, "ram") || !strcasecmp(cache, "true"));
    a.aug.hsv_h = (float)hsv_h;
    a.aug.hsv_s = (float)hsv_s;
    a.aug.hsv_v = (float)hsv_v;
    a.aug.degrees = (float)degrees;
    a.aug.translate = (float)translate;
    a.aug.scale = (float)scale;
    a.aug.shear = (float)shear;
    a.aug.perspective = (float)perspective;
    a.aug.flipud = (float)flipud;
    a.aug.fliplr = (float)fliplr;
    a.aug.mosaic = (float)mosaic;
    a.aug.mixup = (float)mixup;
    char save_dir[4096];
    if (resume) {
        /* "resume=True model=.../last.safetensors" (ultralytics) or "--resume RUN" */
        const char *target = resume;
        if (!strcasecmp(resume, "true") || !strcmp(resume, "1"))
            target = a.model;
        if (!target) {
            fprintf(stderr, "animeface train: --resume needs the run folder\n");
            return 2;
        }
        run_dir_of(target, save_dir, sizeof save_dir);
        char state[4200];
        snprintf(state, sizeof state, "%s/weights/last.state.safetensors", save_dir);
        if (!fs_exists(state)) {
            fprintf(stderr,
                    "animeface train: cannot resume: %s not found (pass the run folder, e.g. "
                    "runs/detect/train)\n",
                    state);
            return 1;
        }
        a.resume = 1; /* the run's data and arguments come from its state */
    } else {
        char base[4096];
        snprintf(base, sizeof base, "%s/%s", project, name);
        fs_increment_dir(base, exist_ok, save_dir, sizeof save_dir);
    }
    if (!a.data && !a.resume) {
        fprintf(stderr, "animeface train: --data is required (a YOLO data.yaml)\n");
        return 2;
    }
    static char data_abs[PATH_MAX];
    if (a.data && realpath(a.data, data_abs)) /* runs record where their data is */
        a.data = data_abs;
    if (fs_mkdirs(save_dir)) {
        fprintf(stderr, "animeface train: cannot create %s\n", save_dir);
        return 1;
    }
    a.save_dir = save_dir;
    train_ui ui = {isatty(1), 0};
    af_error err = {0};
    af_status st = af_train(&a, on_progress, &ui, &err);
    if (st) {
        fprintf(stderr, "animeface train: %s\n", err.msg);
        return 1;
    }
    printf("Results saved to \033[1m%s\033[0m\n", save_dir);
    return 0;
}
