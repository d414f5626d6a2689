/* adamw.c - AdamW over a flat buffer; see adamw.h. */
#include "adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int tm_adamw_init(tm_adamw *o, size_t n, float beta1, float beta2, float eps,
                  float weight_decay, tm_error *err) {
  memset(o, 0, sizeof *o);
  o->state = calloc(2 * (n ? n : 1), sizeof(float));
  if (!o->state) return tm_err(err, TM_ENOMEM, "adamw: no memory for %zu moments", 2 * n);
  o->n = n;
  o->m = o->state;
  o->v = o->state + n;
  o->beta1 = beta1;
  o->beta2 = beta2;
  o->eps = eps;
  o->weight_decay = weight_decay;
  return 0;
}

void tm_adamw_free(tm_adamw *o) {
  free(o->state);
  memset(o, 0, sizeof *o);
}

int tm_adamw_set_decay(tm_adamw *o, size_t lo, size_t hi, tm_error *err) {
  if (lo > hi || hi > o->n) return tm_err(err, TM_EINVAL, "adamw: bad decay range");
  if (o->n_ranges == 32) return tm_err(err, TM_ELIMIT, "adamw: too many decay ranges");
  o->range_lo[o->n_ranges] = lo;
  o->range_hi[o->n_ranges] = hi;
  o->n_ranges++;
  return 0;
}

#define NORM_CHUNKS 64

double tm_grad_norm(const float *g, size_t n) {
  double part[NORM_CHUNKS];
#pragma omp parallel for schedule(static)
  for (int k = 0; k < NORM_CHUNKS; k++) {
    size_t lo = n * (size_t)k / NORM_CHUNKS, hi = n * (size_t)(k + 1) / NORM_CHUNKS;
    /* 8 independent double accumulators (a fixed order, so the same bits on
     * every run) instead of one latency-bound chain */
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = lo;
    for (; i + 8 <= hi; i += 8)
      for (int j = 0; j < 8; j++) acc[j] += (double)g[i + j] * g[i + j];
    for (; i < hi; i++) acc[0] += (double)g[i] * g[i];
    part[k] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  }
  double s = 0.0;
  for (int k = 0; k < NORM_CHUNKS; k++) s += part[k];
  return sqrt(s);
}

float tm_clip_scale(double norm, double max_norm) {
  if (max_norm <= 0.0 || !(norm > max_norm)) return 1.0f;
  return (float)(max_norm / norm);
}

/* c1, c2 are passed as reciprocals (one division per element, not three:
 * the update is close to memory-bound, 28 bytes per parameter). */
static void update(float *p, const float *g, float *m, float *v, size_t lo, size_t hi, float lr,
                   float gs, float b1, float b2, float ic1, float ic2, float eps, float wd) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = lo; i < hi; i++) {
    float gi = g[i] * gs;
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * (mi * ic1 / (sqrtf(vi * ic2) + eps) + wd * p[i]);
  }
}

void tm_adamw_step(tm_adamw *o, float *params, const float *grads, float lr, float grad_scale) {
  o->t++;
  float c1 = 1.0f - powf(o->beta1, (float)o->t), c2 = 1.0f - powf(o->beta2, (float)o->t);
  /* walk [0, n) in order, switching weight decay on inside marked ranges */
  size_t pos = 0;
  while (pos < o->n) {
    size_t next = o->n;
    int in = 0;
    for (size_t r = 0; r < o->n_ranges; r++) {
      if (o->range_lo[r] <= pos && pos < o->range_hi[r]) {
        in = 1;
        if (o->range_hi[r] < next) next = o->range_hi[r];
      } else if (o->range_lo[r] > pos && o->range_lo[r] < next) {
        next = o->range_lo[r];
      }
    }
    update(params, grads, o->m, o->v, pos, next, lr, grad_scale, o->beta1, o->beta2, 1.0f / c1,
           1.0f / c2, o->eps, in ? o->weight_decay : 0.0f);
    pos = next;
  }
}
