/* DFL decode of the Detect head. The generic loop follows ultralytics'
 * arithmetic; on AVX2 machines a vectorised path handles reg_max 16 (every
 * YOLOv8 model) with the polynomial exp of ops/exp_avx2.h (about 2 ulp), so results agree
 * with the scalar path to ~1e-6 relative. */
#include "model/head.h"

#include <math.h>
#include <stddef.h>

#include "ops/exp_avx2.h"

static void write_box(float *out, size_t nanchors, size_t a, int x, int y, const float dist[4],
                      float stride)
{
    float ax = (float)x + 0.5f, ay = (float)y + 0.5f;
    float x1 = ax - dist[0], y1 = ay - dist[1], x2 = ax + dist[2], y2 = ay + dist[3];
    out[0 * nanchors + a] = (x1 + x2) / 2.0f * stride;
    out[1 * nanchors + a] = (y1 + y2) / 2.0f * stride;
    out[2 * nanchors + a] = (x2 - x1) * stride;
    out[3 * nanchors + a] = (y2 - y1) * stride;
}

static void decode_scalar(const float *box, const float *cls, int h, int w, int reg_max, int nc,
                          const float *dfl, float stride, float *out, int nanchors, int off,
                          int threads)
{
#pragma omp parallel for num_threads(threads) schedule(static) if ((long)h * w >= 1024)
    for (int y = 0; y < h; y++) {
        float p[64];
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
            size_t a = (size_t)off + cell;
            write_box(out, (size_t)nanchors, a, x, y, dist, stride);
            const float *c = cls + (size_t)cell * nc;
            for (int k = 0; k < nc; k++)
                out[(size_t)(4 + k) * nanchors + a] = 1.0f / (1.0f + expf(-c[k]));
        }
    }
}

#ifdef AF_HAVE_AVX2_KERNELS
AF_AVX2 static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AF_AVX2 static inline float hmax(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Row y of the decode (reg_max 16). Vector values stay inside this function:
 * the OpenMP region around it passes pointers only (clang outlines the
 * region into a function without the AVX target). */
AF_AVX2 static void decode_row_avx2_16(const float *box, const float *cls, int y, int w, int nc,
                                       const float *dfl, float stride, float *out, int nanchors,
                                       int off)
{
    const __m256 d0 = _mm256_loadu_ps(dfl), d1 = _mm256_loadu_ps(dfl + 8);
    for (int x = 0; x < w; x++) {
        int cell = y * w + x;
        const float *b = box + (size_t)cell * 64;
        float dist[4];
        for (int s = 0; s < 4; s++) {
            __m256 v0 = _mm256_loadu_ps(b + 16 * s), v1 = _mm256_loadu_ps(b + 16 * s + 8);
            __m256 mx = _mm256_set1_ps(hmax(_mm256_max_ps(v0, v1)));
            __m256 p0 = exp8(_mm256_sub_ps(v0, mx)), p1 = exp8(_mm256_sub_ps(v1, mx));
            float sum = hsum(_mm256_add_ps(p0, p1));
            float num = hsum(_mm256_fmadd_ps(p0, d0, _mm256_mul_ps(p1, d1)));
            dist[s] = num / sum;
        }
        size_t a = (size_t)off + cell;
        write_box(out, (size_t)nanchors, a, x, y, dist, stride);
        const float *c = cls + (size_t)cell * nc;
        for (int k = 0; k < nc; k++)
            out[(size_t)(4 + k) * nanchors + a] = 1.0f / (1.0f + expf(-c[k]));
    }
}

static void decode_avx2_16(const float *box, const float *cls, int h, int w, int nc,
                           const float *dfl, float stride, float *out, int nanchors, int off,
                           int threads)
{
#pragma omp parallel for num_threads(threads) schedule(static) if ((long)h * w >= 1024)
    for (int y = 0; y < h; y++)
        decode_row_avx2_16(box, cls, y, w, nc, dfl, stride, out, nanchors, off);
}
#endif

void af_head_decode(const float *box, const float *cls, int h, int w, int reg_max, int nc,
                    const float *dfl, float stride, float *out, int nanchors, int off,
                    int threads)
{
    threads = threads > 1 ? threads : 1;
#ifdef AF_HAVE_AVX2_KERNELS
    if (reg_max == 16 && af_have_avx2()) {
        decode_avx2_16(box, cls, h, w, nc, dfl, stride, out, nanchors, off, threads);
        return;
    }
#endif
    decode_scalar(box, cls, h, w, reg_max, nc, dfl, stride, out, nanchors, off, threads);
}
