/* The Detect head's decoding: DFL (softmax over reg_max bins, expectation with
 * the DFL conv weights), distances -> cx,cy,w,h around cell centres, times the
 * stride; sigmoid class scores. As ultralytics 8.1.9 Detect.forward (eval). */
#ifndef AF_MODEL_HEAD_H
#define AF_MODEL_HEAD_H

/* box: NHWC (h, w, 4*reg_max) logits; cls: NHWC (h, w, nc) logits of one image.
 * Writes anchors [off, off + h*w) of out, laid out (4 + nc, nanchors). Rows
 * are split over `threads` OpenMP threads. */
void af_head_decode(const float *box, const float *cls, int h, int w, int reg_max, int nc,
                    const float *dfl, float stride, float *out, int nanchors, int off,
                    int threads);

#endif
