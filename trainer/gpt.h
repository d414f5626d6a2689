/* gpt.h - a GPT-2 style model in fp32: forward, backward, and the flat
 * parameter / gradient buffers the optimizer and checkpoints work on.
 *
 * Architecture (as karpathy/llm.c train_gpt2.c): token + learned position
 * embeddings, L pre-LayerNorm blocks (causal multi-head attention, GELU MLP
 * of width 4C), a final LayerNorm and an output head tied to the token
 * embedding. Every matmul - the linear layers, the head, and attention's
 * QK^T and PV per (batch, head) - is a cblas_sgemm call; the rest are loops
 * over rows parallelised with OpenMP (see trainer/README.md for why BLAS and
 * the kernels share one OpenMP thread pool).
 *
 * Memory: the parameters are one allocation of tm_gpt_num_params() floats,
 * in llm.c's order (so the llm.c export is a straight copy):
 *
 *   wte (V,C) wpe (maxT,C) ln1w (L,C) ln1b (L,C) qkvw (L,3C,C) qkvb (L,3C)
 *   attprojw (L,C,C) attprojb (L,C) ln2w (L,C) ln2b (L,C) fcw (L,4C,C)
 *   fcb (L,4C) fcprojw (L,C,4C) fcprojb (L,C) lnfw (C) lnfb (C)
 *
 * Linear weights are (out, in): y = x W^T + b. The gradients are a second
 * allocation with the same layout (the same tm_gpt_params views apply).
 * Activations for the largest (B, T) are allocated once at create time.
 *
 * Determinism: for a fixed thread count, forward and backward give the same
 * bits on every run (reductions over rows go through a fixed number of
 * chunks, independent of the thread count, summed in order).
 */
#ifndef TM_GPT_H
#define TM_GPT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct tm_gpt_config {
  int max_seq_len; /* maxT: rows of wpe */
  int vocab_size;  /* V */
  int n_layer;     /* L */
  int n_head;      /* NH; C must be a multiple of NH */
  int d_model;     /* C */
} tm_gpt_config;

#define TM_GPT_NUM_TENSORS 16

/* Named views into one flat buffer (parameters or gradients). */
typedef struct tm_gpt_params {
  float *wte, *wpe, *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb;
  float *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb, *lnfw, *lnfb;
} tm_gpt_params;

typedef struct tm_gpt tm_gpt;

/* Validate a config (positive sizes, C % NH == 0); 0 or -TM_EINVAL. */
int tm_gpt_config_check(const tm_gpt_config *cfg, tm_error *err);

/* Element counts of the 16 tensors in the order above, and their names
 * (llm.c / our own naming: "wte", "wpe", "ln1w", ...). */
void tm_gpt_tensor_sizes(const tm_gpt_config *cfg, size_t sizes[TM_GPT_NUM_TENSORS]);
const char *tm_gpt_tensor_name(int i);
size_t tm_gpt_num_params(const tm_gpt_config *cfg);
/* Point the 16 views into a flat buffer of tm_gpt_num_params floats. */
void tm_gpt_params_view(const tm_gpt_config *cfg, float *flat, tm_gpt_params *p);

/* Create a model able to run batches of up to max_batch x max_seq_len
 * tokens. Parameters are allocated (not initialised: call tm_gpt_init or
 * load them); with_grads = 0 skips gradients and backward buffers (for
 * sampling and evaluation only). NULL and an error on failure. */
tm_gpt *tm_gpt_create(const tm_gpt_config *cfg, int max_batch, int with_grads, tm_error *err);
void tm_gpt_free(tm_gpt *m);

const tm_gpt_config *tm_gpt_get_config(const tm_gpt *m);
/* The flat buffers (gradients are NULL without with_grads). */
float *tm_gpt_params_flat(tm_gpt *m);
float *tm_gpt_grads_flat(tm_gpt *m);
const tm_gpt_params *tm_gpt_param_views(const tm_gpt *m);
const tm_gpt_params *tm_gpt_grad_views(const tm_gpt *m);

/* GPT-2 initialisation: N(0, 0.02) weights, residual projections scaled by
 * 1/sqrt(2L), zero biases, unit LayerNorm gains; deterministic in seed. */
void tm_gpt_init(tm_gpt *m, uint64_t seed);

/* Forward pass over tokens (B,T), B <= max_batch, T <= max_seq_len, every
 * id < V (checked: -TM_EINVAL naming the position). With targets (B,T)
 * (may be NULL), computes the mean cross-entropy loss into *loss; the
 * per-position probabilities stay in the model for tm_gpt_backward. */
int tm_gpt_forward(tm_gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T,
                   float *loss, tm_error *err);

/* Backward for the last forward (which must have had targets): ADDS the
 * gradient of loss_scale * mean loss to the gradient buffer, so calls
 * accumulate across micro-batches (pass 1/accum_steps). */
int tm_gpt_backward(tm_gpt *m, float loss_scale, tm_error *err);

/* Data parallel (dp.h): fn(ctx, layer) is called during every backward as
 * soon as gradients become final: layer = L after lnfw/lnfb, then l = L-1
 * .. 0 after block l's tensors, then -1 after wte/wpe (the last ones). On
 * the calling thread, outside parallel regions. fn NULL removes it. */
void tm_gpt_set_backward_hook(tm_gpt *m, void (*fn)(void *ctx, int layer), void *ctx);

/* Zero the gradient buffer. */
void tm_gpt_zero_grad(tm_gpt *m);

/* Logits of position (b, t) of the last forward (V floats, before any
 * softmax; valid only when the forward had no targets). */
const float *tm_gpt_logits(const tm_gpt *m, int b, int t);

/* Per-position losses of the last forward with targets (B*T floats). */
const float *tm_gpt_losses(const tm_gpt *m);

/* Matmul floating-point operations of one training step (forward and
 * backward) on B x T tokens, counting full T x T attention as computed. */
double tm_gpt_step_flops(const tm_gpt_config *cfg, int B, int T);

/* Wall time spent, since the last tm_gpt_timing_reset, in seconds:
 *   matmul_s     the sgemm calls outside attention (linear layers, head);
 *   kernels_s    the element-wise kernels (layernorm, GELU, residual,
 *                embeddings, softmax + cross-entropy; no sgemm inside);
 *   attention_s  the attention blocks (per-head sgemm and causal softmax,
 *                interleaved in one parallel loop), of which
 *   attention_other_s  the part outside sgemm (attention_s times the
 *                threads' share of time in the softmax loops).
 * Forward/backward time not in any of these (input checks, copies, the
 * loss sum) is bookkeeping; the bench counts it as non-matmul. The *_cpu_s
 * fields are the same for the process's CPU time (all threads; idle pool
 * threads sleep under OMP_WAIT_POLICY=PASSIVE and cost none): on a machine
 * shared with other work they are the stable figures. */
typedef struct tm_gpt_times {
  double matmul_s, kernels_s, attention_s, attention_other_s;
  double matmul_cpu_s, kernels_cpu_s, attention_cpu_s, attention_other_cpu_s;
} tm_gpt_times;
void tm_gpt_timing(const tm_gpt *m, tm_gpt_times *t);
void tm_gpt_timing_reset(tm_gpt *m);

#endif
