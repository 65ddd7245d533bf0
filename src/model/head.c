#include "model/head.h"

#include <math.h>
#include <stddef.h>

void af_head_decode(const float *box, const float *cls, int h, int w, int reg_max, int nc,
                    const float *dfl, float stride, float *out, int nanchors, int off)
{
    float p[64];
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int cell = y * w + x;
            const float *b = box + (size_t)cell * 4 * reg_max;
            float dist[4];
            for (int s = 0; s < 4; s++) {
                const float *v = b + s * reg_max;
                float mx = v[0];
                for (int j = 1; j < reg_max; j++)
                    mx = v[j] > mx ? v[j] : mx;
                float sum = 0.0f;
                for (int j = 0; j < reg_max; j++) {
                    p[j] = expf(v[j] - mx);
                    sum += p[j];
                }
                float d = 0.0f;
                for (int j = 0; j < reg_max; j++)
                    d += (p[j] / sum) * dfl[j];
                dist[s] = d;
            }
            float ax = (float)x + 0.5f, ay = (float)y + 0.5f;
            float x1 = ax - dist[0], y1 = ay - dist[1], x2 = ax + dist[2], y2 = ay + dist[3];
            size_t a = (size_t)off + cell;
            out[0 * (size_t)nanchors + a] = (x1 + x2) / 2.0f * stride;
            out[1 * (size_t)nanchors + a] = (y1 + y2) / 2.0f * stride;
            out[2 * (size_t)nanchors + a] = (x2 - x1) * stride;
            out[3 * (size_t)nanchors + a] = (y2 - y1) * stride;
            const float *c = cls + (size_t)cell * nc;
            for (int k = 0; k < nc; k++)
                out[(size_t)(4 + k) * nanchors + a] = 1.0f / (1.0f + expf(-c[k]));
        }
    }
}
