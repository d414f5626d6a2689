/* adamw.h - AdamW with decoupled weight decay, over one flat parameter
 * buffer, plus the global gradient norm and clipping.
 *
 * The moments m and v are ONE allocation of 2n floats (m = state, v =
 * state + n), so a checkpoint writes them with one call. Weight decay applies
 * only inside the ranges marked with tm_adamw_set_decay (by default: none);
 * the trainer marks the matmul weights, and the embeddings on request.
 *
 * Update, for step t = 1, 2, ... (bias-corrected as in Loshchilov & Hutter):
 *   g = grad * clip_scale
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr * ( m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps) + wd * p )   (wd in decay ranges)
 */
#ifndef TM_ADAMW_H
#define TM_ADAMW_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct tm_adamw {
  size_t n;
  float *state;      /* 2n floats: m then v */
  float *m, *v;      /* views into state */
  size_t n_ranges;
  size_t range_lo[32], range_hi[32];
  float beta1, beta2, eps, weight_decay;
  uint64_t t;        /* steps taken */
} tm_adamw;

/* Allocate zeroed moments for n parameters. */
int tm_adamw_init(tm_adamw *o, size_t n, float beta1, float beta2, float eps,
                  float weight_decay, tm_error *err);
void tm_adamw_free(tm_adamw *o);
/* Mark parameters [lo, hi) as decayed (at most 32 ranges). */
int tm_adamw_set_decay(tm_adamw *o, size_t lo, size_t hi, tm_error *err);

/* sqrt(sum g^2), summed in double in a fixed order (the same for any thread
 * count). */
double tm_grad_norm(const float *grads, size_t n);

/* One update with gradients multiplied by grad_scale (the clipping factor,
 * 1 for none). */
void tm_adamw_step(tm_adamw *o, float *params, const float *grads, float lr, float grad_scale);

/* Clipping factor for max_norm (<= 0: no clipping): min(1, max_norm/norm). */
float tm_clip_scale(double norm, double max_norm);

#endif
