/* sampler.c - see sampler.h. */
#include "sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

int32_t tm_sample_logits(const float *logits, int n, float temperature, int top_k, tm_rng *rng,
                         float *p, int32_t *idx) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (logits[i] > logits[best]) best = i;
  if (!(temperature > 0)) return best;
  /* candidates: all, or the top_k by logit (partial selection, O(n k)) */
  int m = n;
  for (int i = 0; i < n; i++) idx[i] = i;
  if (top_k > 0 && top_k < n) {
    for (int j = 0; j < top_k; j++) {
      int arg = j;
      for (int i = j + 1; i < n; i++)
        if (logits[idx[i]] > logits[idx[arg]]) arg = i;
      int32_t t = idx[j];
      idx[j] = idx[arg];
      idx[arg] = t;
    }
    m = top_k;
  }
  double sum = 0;
  for (int j = 0; j < m; j++) {
    p[j] = expf((logits[idx[j]] - logits[best]) / temperature);
    sum += p[j];
  }
  double u = tm_rng_uniform(rng) * sum, acc = 0;
  for (int j = 0; j < m; j++) {
    acc += p[j];
    if (u < acc) return idx[j];
  }
  return idx[m - 1];
}

int tm_sample_generate(tm_gpt *m, int32_t *ids, int *len, int cap, int n_new, float temperature,
                       int top_k, tm_rng *rng, tm_error *err) {
  const tm_gpt_config *c = tm_gpt_get_config(m);
  if (*len <= 0) return tm_err(err, TM_EINVAL, "sample: empty prompt");
  float *p = malloc(sizeof(float) * (size_t)c->vocab_size);
  int32_t *idx = malloc(sizeof(int32_t) * (size_t)c->vocab_size);
  if (!p || !idx) {
    free(p);
    free(idx);
    return tm_err(err, TM_ENOMEM, "sample: out of memory");
  }
  int rc = 0;
  for (int k = 0; k < n_new && *len < cap; k++) {
    int T = *len < c->max_seq_len ? *len : c->max_seq_len;
    const int32_t *ctx = ids + *len - T;
    if ((rc = tm_gpt_forward(m, ctx, NULL, 1, T, NULL, err)) < 0) break;
    ids[(*len)++] = tm_sample_logits(tm_gpt_logits(m, 0, T - 1), c->vocab_size, temperature,
                                     top_k, rng, p, idx);
  }
  free(p);
  free(idx);
  return rc;
}
