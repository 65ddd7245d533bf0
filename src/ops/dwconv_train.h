/* Depthwise k x k convolution (stride 1, padding k/2, no bias) for training,
 * on NHWC float32 (the training network's layout): forward and backward. The
 * bias-free form is the only one YOLO11 trains (every DWConv and Attention.pe
 * is followed by BatchNorm). */
#ifndef AF_OPS_DWCONV_TRAIN_H
#define AF_OPS_DWCONV_TRAIN_H

/* y (n, h, w, c) = depthwise conv of x (n, h, w, c) with weight [c][k][k]. */
void af_dwconv_train_forward(int n, int h, int w, int c, int k, const float *x,
                             const float *weight, float *y, int threads);

/* From dy: dx (may be NULL; overwritten) and dweight ([c][k][k], overwritten,
 * sums in double). */
void af_dwconv_train_backward(int n, int h, int w, int c, int k, const float *x,
                              const float *weight, const float *dy, float *dx, float *dweight,
                              int threads);

#endif
