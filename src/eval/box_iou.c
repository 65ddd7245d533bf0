/* metrics.box_iou in float32, evaluated in torch's order. */
#include "eval/metrics.h"

/* torch.min / torch.max propagate NaN */
static float minf(float a, float b)
{
    return (b < a || b != b) ? b : a;
}

static float maxf(float a, float b)
{
    return (b > a || b != b) ? b : a;
}

void af_box_iou(const float *a, size_t na, const float *b, size_t nb, float *out)
{
    for (size_t i = 0; i < na; i++) {
        const float *p = a + 4 * i;
        float area_a = (p[2] - p[0]) * (p[3] - p[1]);
        for (size_t j = 0; j < nb; j++) {
            const float *q = b + 4 * j;
            float w = minf(p[2], q[2]) - maxf(p[0], q[0]);
            float h = minf(p[3], q[3]) - maxf(p[1], q[1]);
            /* clamp_(0) (NaN stays NaN), then prod over (w, h) */
            w = w < 0.0f ? 0.0f : w;
            h = h < 0.0f ? 0.0f : h;
            float inter = w * h;
            float area_b = (q[2] - q[0]) * (q[3] - q[1]);
            float den = ((area_a + area_b) - inter) + 1e-7f;
            out[i * nb + j] = inter / den;
        }
    }
}
