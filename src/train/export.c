#include "train/export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static af_status add_copy(af_tensor_list *l, const char *name, const float *src, int ndim,
                          const int64_t *shape, af_error *err)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    float *d = malloc(n * sizeof *d);
    if (!d)
        return af_fail(err, AF_E_NOMEM, "out of memory exporting %s", name);
    memcpy(d, src, n * sizeof *d);
    return af_tensor_list_add(l, name, AF_DT_F32, ndim, shape, d, n * sizeof *d, err);
}

af_status af_model_to_checkpoint(const af_model *m, const cJSON *train_args, af_checkpoint *ck,
                                 af_error *err)
{
    memset(ck, 0, sizeof *ck);
    snprintf(ck->format, sizeof ck->format, "safetensors");
    af_status st = AF_OK;
    char name[160];
    ck->bn_eps = cJSON_CreateObject();
    ck->names = cJSON_CreateObject();
    ck->yaml = cJSON_Duplicate(m->yaml, 1);
    ck->train_args = train_args ? cJSON_Duplicate(train_args, 1) : NULL;
    if (!ck->bn_eps || !ck->names || !ck->yaml || (train_args && !ck->train_args))
        st = af_fail(err, AF_E_NOMEM, "out of memory");
    for (int i = 0; !st && i < m->nconvs; i++) {
        const af_conv_unit *u = &m->convs[i];
        int64_t ws[4] = {u->desc.cout, u->desc.cin / u->groups, u->desc.k, u->desc.k},
                vs[1] = {u->desc.cout};
        if (u->has_bn) {
            snprintf(name, sizeof name, "%s.conv.weight", u->name);
            if ((st = add_copy(&ck->tensors, name, u->weight, 4, ws, err)))
                break;
            static const char *const parts[4] = {"weight", "bias", "running_mean", "running_var"};
            const float *src[4] = {u->bn_gamma, u->bn_bias, u->bn_mean, u->bn_var};
            for (int j = 0; j < 4 && !st; j++) {
                snprintf(name, sizeof name, "%s.bn.%s", u->name, parts[j]);
                st = add_copy(&ck->tensors, name, src[j], 1, vs, err);
            }
            snprintf(name, sizeof name, "%s.bn", u->name);
            cJSON_AddNumberToObject(ck->bn_eps, name, u->bn_eps);
        } else {
            snprintf(name, sizeof name, "%s.weight", u->name);
            if (!(st = add_copy(&ck->tensors, name, u->weight, 4, ws, err))) {
                snprintf(name, sizeof name, "%s.bias", u->name);
                st = add_copy(&ck->tensors, name, u->bias, 1, vs, err);
            }
        }
    }
    if (!st) {
        int64_t ds[4] = {1, m->desc.reg_max, 1, 1};
        snprintf(name, sizeof name, "model.%d.dfl.conv.weight", m->desc.nlayers - 1);
        st = add_copy(&ck->tensors, name, m->dfl, 4, ds, err);
    }
    for (int c = 0; !st && c < m->nc; c++) {
        char key[16];
        snprintf(key, sizeof key, "%d", c);
        cJSON_AddStringToObject(ck->names, key, m->names[c]);
    }
    ck->nstride = m->nlevels;
    for (int l = 0; l < m->nlevels; l++)
        ck->stride[l] = m->strides[l];
    ck->nc = m->nc;
    ck->detect_dw_cls = m->layers[m->desc.nlayers - 1].spec.dwhead; /* as the loader finds it */
    if (st)
        af_checkpoint_free(ck);
    return st;
}

void af_model_copy_params(af_model *dst, const af_model *src)
{
    for (int i = 0; i < src->nconvs && i < dst->nconvs; i++) {
        const af_conv_unit *s = &src->convs[i];
        af_conv_unit *d = &dst->convs[i];
        size_t wn = af_conv_unit_weights(s), c = s->desc.cout;
        memcpy(d->weight, s->weight, wn * sizeof(float));
        if (s->has_bn) {
            memcpy(d->bn_gamma, s->bn_gamma, c * sizeof(float));
            memcpy(d->bn_bias, s->bn_bias, c * sizeof(float));
            memcpy(d->bn_mean, s->bn_mean, c * sizeof(float));
            memcpy(d->bn_var, s->bn_var, c * sizeof(float));
            d->bn_eps = s->bn_eps;
        } else {
            memcpy(d->bias, s->bias, c * sizeof(float));
        }
    }
}

af_status af_model_set_names(af_model *m, char *const *names, af_error *err)
{
    for (int c = 0; c < m->nc; c++) {
        char *s = strdup(names[c]);
        if (!s)
            return af_fail(err, AF_E_NOMEM, "out of memory");
        free(m->names[c]);
        m->names[c] = s;
    }
    return AF_OK;
}
