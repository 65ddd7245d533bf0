#ifndef AF_CLI_BENCH_TRAIN_H
#define AF_CLI_BENCH_TRAIN_H

/* Prints a table of training throughput for a yolov8 description (random
 * weights and data), the convolutions in bf16 where bf16 (af_tnet_set_bf16).
 * Returns the exit status. */
int bench_train(const char *model_name, int imgsz, int batch, int runs, int warmup, int threads,
                int nc, int bf16);

#endif
