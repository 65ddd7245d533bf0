/* animeface: anime face detection with YOLOv8. Entry point and dispatch. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static void usage(FILE *f)
{
    fprintf(f,
            "animeface %s — anime face detection with YOLOv8, in C\n"
            "\n"
            "Usage: animeface COMMAND [options] [arguments]\n"
            "\n"
            "Commands:\n"
            "  predict   detect faces in images, folders, globs or .txt lists of paths\n"
            "  export    convert an ultralytics .pt checkpoint to animeface safetensors\n"
            "  calibrate measure input ranges on a folder of images, for --precision int8\n"
            "  info      show a model's description, classes and strides\n"
            "  bench     time the network's forward pass\n"
            "  train     train a YOLOv8 detector on a YOLO dataset (ultralytics' recipe)\n"
            "  val       evaluate a model on a YOLO dataset (P, R, mAP50, mAP50-95, plots)\n"
            "  data      check a YOLO dataset, split it, convert VOC/COCO labels\n"
            "  crop      face datasets: crop every face of a collection (resumable, sharded)\n"
            "  manifest  merge the crop manifests of a job's shards\n"
            "  serve     a local HTTP service and web page (POST /v1/detect, /v1/crop)\n"
            "  version   print the version\n"
            "\n"
            "ultralytics-style calls work too: animeface predict model=best.pt source=imgs/ conf=0.3\n"
            "'animeface COMMAND --help' lists a command's options.\n",
            AF_VERSION_STRING);
}

int main(int argc, char **argv)
{
    /* Big training/validation buffers are freed and allocated again every
     * step: keep them in the heap instead of mapping fresh zeroed pages each
     * time (the kernel's page clearing cost ~15% of a training step). 32 MiB is
     * glibc's largest mmap threshold. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    /* ultralytics' "yolo detect predict ..." spelling: skip a leading "detect" */
    if (strcmp(cmd, "detect") == 0 && argc > 2) {
        argv++;
        argc--;
        cmd = argv[1];
    }
    if (!strcmp(cmd, "predict"))
        return cmd_predict(argc - 2, argv + 2);
    if (!strcmp(cmd, "export"))
        return cmd_export(argc - 2, argv + 2);
    if (!strcmp(cmd, "calibrate"))
        return cmd_calibrate(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "info"))
        return cmd_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "train"))
        return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "val"))
        return cmd_val(argc - 2, argv + 2);
    if (!strcmp(cmd, "data"))
        return cmd_data(argc - 2, argv + 2);
    if (!strcmp(cmd, "crop"))
        return cmd_crop(argc - 2, argv + 2);
    if (!strcmp(cmd, "manifest"))
        return cmd_manifest(argc - 2, argv + 2);
    if (!strcmp(cmd, "serve"))
        return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("animeface %s\n", AF_VERSION_STRING);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "animeface: unknown command '%s' (try 'animeface --help')\n", cmd);
    return 2;
}
