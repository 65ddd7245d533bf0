/* SiLU and sigmoid backward, element-wise in float with torch's formulas. */
#include <math.h>

#include "ops/grad.h"

void af_silu_backward(size_t n, const float *x, const float *dy, float *dx)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float xi = x[i];
        float s = 1.0f / (1.0f + expf(-xi));
        dx[i] = dy[i] * s * (1.0f + xi * (1.0f - s));
    }
}

void af_sigmoid_backward(size_t n, const float *y, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++) {
        float yi = y[i];
        dx[i] = dy[i] * (1.0f - yi) * yi;
    }
}
