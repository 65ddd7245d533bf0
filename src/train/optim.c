#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"

const char *af_opt_name(af_opt_kind k)
{
    return k == AF_OPT_SGD ? "SGD" : k == AF_OPT_ADAM ? "Adam" : "AdamW";
}

int af_opt_parse(const char *name, af_opt_kind *k)
{
    if (!strcasecmp(name, "SGD"))
        *k = AF_OPT_SGD;
    else if (!strcasecmp(name, "Adam"))
        *k = AF_OPT_ADAM;
    else if (!strcasecmp(name, "AdamW"))
        *k = AF_OPT_ADAMW;
    else
        return 1;
    return 0;
}

int af_param_pg(const af_param *p)
{
    return p->group == 2 ? 0 : p->group == 0 ? 1 : 2;
}

af_status af_optimizer_init(af_optimizer *o, af_opt_kind kind, const af_param *params, int n,
                            double lr, double momentum, double weight_decay, af_error *err)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->params = params;
    o->nparams = n;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->off = malloc(((size_t)n + 1) * sizeof *o->off);
    if (!o->off)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        o->off[i] = o->total;
        o->total += params[i].n;
    }
    o->m = calloc(o->total + 1, sizeof *o->m);
    o->v = kind == AF_OPT_SGD ? NULL : calloc(o->total + 1, sizeof *o->v);
    if (!o->m || (kind != AF_OPT_SGD && !o->v)) {
        af_optimizer_free(o);
        return af_fail(err, AF_E_NOMEM, "out of memory for optimizer state");
    }
    for (int g = 0; g < 3; g++) {
        o->lr[g] = o->initial_lr[g] = lr;
        o->momentum[g] = momentum;
        o->weight_decay[g] = g == 1 ? weight_decay : 0.0;
    }
    return AF_OK;
}

void af_optimizer_free(af_optimizer *o)
{
    free(o->m);
    free(o->v);
    free(o->off);
    memset(o, 0, sizeof *o);
}

/* torch.optim.SGD (momentum, dampening 0, nesterov), float32 tensors. */
static void sgd(af_optimizer *o)
{
    for (int i = 0; i < o->nparams; i++) {
        const af_param *p = &o->params[i];
        int g = af_param_pg(p);
        float lr = (float)o->lr[g], mom = (float)o->momentum[g], wd = (float)o->weight_decay[g];
        float *buf = o->m + o->off[i];
        for (size_t j = 0; j < p->n; j++) {
            float d = p->g[j];
            if (wd != 0)
                d = d + wd * p->p[j];
            float b = o->has_buf ? mom * buf[j] + d : d;
            buf[j] = b;
            d = d + mom * b; /* nesterov */
            p->p[j] = p->p[j] - lr * d;
        }
    }
    o->has_buf = 1;
}

/* torch.optim.Adam / AdamW (single-tensor path), betas (momentum, 0.999), eps 1e-8. */
static void adam(af_optimizer *o, int decoupled)
{
    o->step++;
    for (int i = 0; i < o->nparams; i++) {
        const af_param *p = &o->params[i];
        int g = af_param_pg(p);
        double b1 = o->momentum[g], b2 = o->beta2, lr = o->lr[g], wd = o->weight_decay[g];
        double bc1 = 1 - pow(b1, (double)o->step), bc2 = 1 - pow(b2, (double)o->step);
        float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
        float fb1 = (float)b1, fb2 = (float)b2, eps = (float)o->eps;
        float *m = o->m + o->off[i], *v = o->v + o->off[i];
        for (size_t j = 0; j < p->n; j++) {
            float gr = p->g[j];
            if (decoupled) {
                if (wd != 0)
                    p->p[j] *= (float)(1 - lr * wd);
            } else if (wd != 0) {
                gr = gr + (float)wd * p->p[j];
            }
            m[j] = m[j] + (gr - m[j]) * (1 - fb1); /* exp_avg.lerp_(grad, 1 - beta1) */
            v[j] = v[j] * fb2 + (1 - fb2) * gr * gr;
            float denom = sqrtf(v[j]) / bc2_sqrt + eps;
            p->p[j] = p->p[j] - step_size * (m[j] / denom);
        }
    }
}

void af_optimizer_step(af_optimizer *o)
{
    if (o->kind == AF_OPT_SGD)
        sgd(o);
    else
        adam(o, o->kind == AF_OPT_ADAMW);
}

double af_clip_grad_norm(const af_param *params, int n, double max_norm)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        /* torch: norm of the per-tensor norms */
        double s = 0;
        for (size_t j = 0; j < params[i].n; j++)
            s += (double)params[i].g[j] * params[i].g[j];
        double tn = (float)sqrt(s);
        total += tn * tn;
    }
    double norm = (float)sqrt(total);
    float coef = (float)(max_norm / (norm + 1e-6));
    if (coef < 1)
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < params[i].n; j++)
                params[i].g[j] *= coef;
    return norm;
}
