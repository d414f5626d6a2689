/* sampler.h - text generation from a trained model.
 *
 * Autoregressive: for each new token the model runs forward over the last
 * (at most max_seq_len) tokens and the next id is drawn from the last
 * position's logits / temperature, restricted to the top_k most likely ids
 * (top_k 0 = all). temperature 0 is greedy (argmax, ties to the lower id).
 * Deterministic in the RNG state. */
#ifndef TM_SAMPLER_H
#define TM_SAMPLER_H

#include <stdint.h>

#include "error.h"
#include "gpt.h"
#include "rng.h"

/* Pick an id from n logits. scratch: n floats + n int32 (work space). */
int32_t tm_sample_logits(const float *logits, int n, float temperature, int top_k, tm_rng *rng,
                         float *scratch_p, int32_t *scratch_i);

/* Append n_new tokens to ids[0..*len) (capacity cap). The model must have
 * been created with max_batch >= 1. */
int tm_sample_generate(tm_gpt *m, int32_t *ids, int *len, int cap, int n_new, float temperature,
                       int top_k, tm_rng *rng, tm_error *err);

#endif
