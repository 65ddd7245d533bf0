/* Optimizers as PyTorch 1.13 implements them (torch.optim.SGD with nesterov,
 * Adam, AdamW), over ultralytics' three parameter groups:
 *   pg0 = biases (no decay), pg1 = conv weights (weight decay), pg2 = BN weights.
 * Plus gradient-norm clipping (torch.nn.utils.clip_grad_norm_). */
#ifndef AF_TRAIN_OPTIM_H
#define AF_TRAIN_OPTIM_H

#include <stddef.h>

#include "train/net.h"

typedef enum af_opt_kind { AF_OPT_SGD = 0, AF_OPT_ADAM, AF_OPT_ADAMW } af_opt_kind;

const char *af_opt_name(af_opt_kind k);
/* "SGD", "Adam", "AdamW" (any case) -> kind; 0 on success. */
int af_opt_parse(const char *name, af_opt_kind *k);

typedef struct af_optimizer {
    af_opt_kind kind;
    const af_param *params;
    int nparams;
    float *m, *v;      /* momentum buffer / exp_avg, exp_avg_sq (Adam), per element */
    size_t *off;       /* offset of each param in m and v */
    size_t total;
    double lr[3], initial_lr[3], momentum[3], weight_decay[3];
    double beta2, eps;
    long step;         /* optimizer steps taken (Adam bias correction) */
    int has_buf;       /* SGD: momentum buffers exist (after the first step) */
} af_optimizer;

/* ultralytics' group of a parameter (pg0 biases, pg1 decayed weights, pg2 BN weights). */
int af_param_pg(const af_param *p);

af_status af_optimizer_init(af_optimizer *o, af_opt_kind kind, const af_param *params, int n,
                            double lr, double momentum, double weight_decay, af_error *err);
void af_optimizer_free(af_optimizer *o);

/* One step on the accumulated gradients with each group's lr / momentum. */
void af_optimizer_step(af_optimizer *o);

/* Scales all gradients so their total L2 norm is at most max_norm (as
 * clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied when < 1).
 * Returns the norm before clipping. */
double af_clip_grad_norm(const af_param *params, int n, double max_norm);

#endif
