/* Measures this machine's fp32 FMA peak (GFLOP/s) on 1 and N threads with
 * independent AVX2 FMA chains, the yardstick for the conv kernels' % of peak. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ITERS 200000000L

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((target("avx2,fma"))) static void *burn(void *arg)
{
    __m256 a0 = _mm256_set1_ps(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
           a7 = a0, a8 = a0, a9 = a0;
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    long n = *(long *)arg;
    for (long i = 0; i < n; i++) {
        a0 = _mm256_fmadd_ps(a0, m, c);
        a1 = _mm256_fmadd_ps(a1, m, c);
        a2 = _mm256_fmadd_ps(a2, m, c);
        a3 = _mm256_fmadd_ps(a3, m, c);
        a4 = _mm256_fmadd_ps(a4, m, c);
        a5 = _mm256_fmadd_ps(a5, m, c);
        a6 = _mm256_fmadd_ps(a6, m, c);
        a7 = _mm256_fmadd_ps(a7, m, c);
        a8 = _mm256_fmadd_ps(a8, m, c);
        a9 = _mm256_fmadd_ps(a9, m, c);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(a8, a9));
    float out[8];
    _mm256_storeu_ps(out, s);
    *(volatile float *)&out[0] = out[0];
    return NULL;
}

int main(void)
{
    long nthreads = sysconf(_SC_NPROCESSORS_ONLN);
    printf("| threads | GFLOP/s (fp32 FMA, AVX2) |\n|---|---|\n");
    for (long t = 1; t <= nthreads; t *= 2) {
        long n = ITERS / 10;
        pthread_t th[64];
        double t0 = now();
        for (long i = 0; i < t; i++)
            pthread_create(&th[i], NULL, burn, &n);
        for (long i = 0; i < t; i++)
            pthread_join(th[i], NULL);
        double dt = now() - t0;
        /* 10 chains x 8 lanes x 2 flops per iteration */
        printf("| %ld | %.1f |\n", t, (double)t * n * 10 * 8 * 2 / dt / 1e9);
    }
    return 0;
}
