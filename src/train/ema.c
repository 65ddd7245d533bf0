#include "train/ema.h"

#include <math.h>

#include "train/export.h"

void af_ema_init(af_ema *e, af_model *ema, const af_model *src)
{
    e->ema = ema;
    e->updates = 0;
    e->decay = 0.9999;
    e->tau = 2000;
    af_model_copy_params(ema, src);
}

static void blend(float *v, const float *s, size_t n, float d)
{
    for (size_t i = 0; i < n; i++) {
        v[i] *= d;
        v[i] += (1 - d) * s[i];
    }
}

void af_ema_update(af_ema *e, const af_model *src)
{
    e->updates++;
    float d = (float)(e->decay * (1 - exp(-(double)e->updates / e->tau)));
    for (int i = 0; i < src->nconvs; i++) {
        const af_conv_unit *s = &src->convs[i];
        af_conv_unit *v = &e->ema->convs[i];
        size_t wn = af_conv_unit_weights(s), c = s->desc.cout;
        blend(v->weight, s->weight, wn, d);
        if (s->has_bn) {
            blend(v->bn_gamma, s->bn_gamma, c, d);
            blend(v->bn_bias, s->bn_bias, c, d);
            blend(v->bn_mean, s->bn_mean, c, d);
            blend(v->bn_var, s->bn_var, c, d);
        } else {
            blend(v->bias, s->bias, c, d);
        }
    }
}
