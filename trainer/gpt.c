/* gpt.c - the GPT model: buffers, initialisation, forward and backward.
 *
 * The layer math lives in gpt_kernels.c; this file owns the memory and the
 * order of the layers. Three flat allocations: parameters, gradients and
 * activations (plus the small backward workspace), each carved into named
 * views once at create time.
 *
 * Forward, per layer l with input x (= encoded, or res3 of layer l-1):
 *   ln1 = LN(x); qkv = ln1 Wqkv^T + b; atty = attention(qkv)
 *   res2 = x + (atty Wap^T + b); ln2 = LN(res2)
 *   fch = ln2 Wfc^T + b; fchg = gelu(fch); res3 = res2 + (fchg Wfp^T + b)
 * then lnf = LN(res3[L-1]); logits = lnf wte^T; softmax + cross-entropy.
 *
 * Backward keeps the residual-stream gradient in ONE buffer (dres): each
 * block's LayerNorm backward adds into it, so no per-layer gradient buffers
 * and no memsets are needed.
 *
 * The element-wise work is fused into few parallel regions (see
 * trainer/README.md "Model"): biases ride along with the LayerNorm and
 * residual passes forward and with the GELU / LayerNorm / attention passes
 * backward, and the head's backward never forms dlogits. Every call is timed
 * (wall and process CPU) as sgemm, attention or element-wise work for
 * tm_gpt_timing, which is how the bench splits the step.
 */
#include "gpt.h"
#include "clock.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "gpt_kernels.h"
#include "rng.h"

typedef struct acts {
  float *encoded;                    /* (N,C) */
  float *ln1, *ln1_mean, *ln1_rstd;  /* (L,N,C) (L,N) (L,N) */
  float *qkv;                        /* (L,N,3C) */
  float *atty;                       /* (L,N,C) */
  float *att;                        /* (L,B,NH,T,T) */
  float *res2;                       /* (L,N,C) */
  float *ln2, *ln2_mean, *ln2_rstd;  /* (L,N,C) (L,N) (L,N) */
  float *fch, *fch_gelu;             /* (L,N,4C) */
  float *res3;                       /* (L,N,C) */
  float *lnf, *lnf_mean, *lnf_rstd;  /* (N,C) (N) (N) */
  float *logits;                     /* (N,V): logits, then exps (with targets), then dlogits */
  float *losses;                     /* (N) */
  float *inv_sum;                    /* (N) 1 / softmax denominators */
  float *proj;                       /* (N,C) scratch: a projection before the residual add */
} acts;

typedef struct work {
  float *dres;    /* (N,C) gradient of the residual stream */
  float *dln;     /* (N,C) gradient of a LayerNorm output / of atty */
  float *dbig;    /* (N,4C) gradient of fch_gelu then fch */
  float *dqkv;    /* (N,3C) */
  float *colsum;  /* tm_k_scratch_floats(2C) */
  float *bscratch; /* (maxB,3C) attention's qkv-bias partial sums */
  float *attn;    /* threads * T*T */
} work;

struct tm_gpt {
  tm_gpt_config cfg;
  int max_batch, with_grads, threads;
  size_t n_params, n_act_rows; /* n_act_rows = max_batch * maxT */
  float *params, *grads, *act_mem, *work_mem;
  tm_gpt_params p, g;
  acts a;
  work w;
  int32_t *tokens, *targets; /* copies of the last forward's input */
  int B, T, have_targets, have_forward;
  tm_gpt_times tm; /* tm_gpt_timing */
  void (*bw_hook)(void *ctx, int layer); /* tm_gpt_set_backward_hook (data parallel) */
  void *bw_ctx;
};

int tm_gpt_config_check(const tm_gpt_config *cfg, tm_error *err) {
  if (cfg->max_seq_len <= 0 || cfg->vocab_size <= 0 || cfg->n_layer <= 0 || cfg->n_head <= 0 ||
      cfg->d_model <= 0)
    return tm_err(err, TM_EINVAL,
                  "model config: seq_len %d, vocab %d, layers %d, heads %d, d_model %d must all "
                  "be positive",
                  cfg->max_seq_len, cfg->vocab_size, cfg->n_layer, cfg->n_head, cfg->d_model);
  if (cfg->d_model % cfg->n_head)
    return tm_err(err, TM_EINVAL, "model config: d_model %d is not a multiple of heads %d",
                  cfg->d_model, cfg->n_head);
  if ((double)cfg->vocab_size * cfg->d_model > 1e9 || cfg->max_seq_len > 65536 ||
      cfg->n_layer > 1024 || cfg->d_model > 65536)
    return tm_err(err, TM_EINVAL, "model config: sizes too large");
  return 0;
}

static const char *const tensor_names[TM_GPT_NUM_TENSORS] = {
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};

const char *tm_gpt_tensor_name(int i) {
  return i >= 0 && i < TM_GPT_NUM_TENSORS ? tensor_names[i] : NULL;
}

void tm_gpt_tensor_sizes(const tm_gpt_config *cfg, size_t s[TM_GPT_NUM_TENSORS]) {
  size_t V = (size_t)cfg->vocab_size, C = (size_t)cfg->d_model, L = (size_t)cfg->n_layer;
  size_t T = (size_t)cfg->max_seq_len;
  s[0] = V * C;
  s[1] = T * C;
  s[2] = L * C;
  s[3] = L * C;
  s[4] = L * 3 * C * C;
  s[5] = L * 3 * C;
  s[6] = L * C * C;
  s[7] = L * C;
  s[8] = L * C;
  s[9] = L * C;
  s[10] = L * 4 * C * C;
  s[11] = L * 4 * C;
  s[12] = L * C * 4 * C;
  s[13] = L * C;
  s[14] = C;
  s[15] = C;
}

size_t tm_gpt_num_params(const tm_gpt_config *cfg) {
  size_t s[TM_GPT_NUM_TENSORS], n = 0;
  tm_gpt_tensor_sizes(cfg, s);
  for (int i = 0; i < TM_GPT_NUM_TENSORS; i++) n += s[i];
  return n;
}

void tm_gpt_params_view(const tm_gpt_config *cfg, float *flat, tm_gpt_params *p) {
  size_t s[TM_GPT_NUM_TENSORS];
  tm_gpt_tensor_sizes(cfg, s);
  float **ptrs[TM_GPT_NUM_TENSORS] = {&p->wte,     &p->wpe,      &p->ln1w,    &p->ln1b,
                                      &p->qkvw,    &p->qkvb,     &p->attprojw, &p->attprojb,
                                      &p->ln2w,    &p->ln2b,     &p->fcw,     &p->fcb,
                                      &p->fcprojw, &p->fcprojb,  &p->lnfw,    &p->lnfb};
  for (int i = 0; i < TM_GPT_NUM_TENSORS; i++) {
    *ptrs[i] = flat;
    flat += s[i];
  }
}

/* Carve consecutive views out of one allocation: a first pass with base ==
 * NULL only counts. */
typedef struct carver {
  float *base;
  size_t used;
} carver;

static float *carve(carver *cv, size_t n) {
  float *p = cv->base ? cv->base + cv->used : NULL;
  cv->used += (n + 15) & ~(size_t)15; /* 64-byte aligned views */
  return p;
}

static void carve_acts(carver *cv, acts *a, const tm_gpt_config *cfg, size_t N, int maxB) {
  size_t C = (size_t)cfg->d_model, L = (size_t)cfg->n_layer, V = (size_t)cfg->vocab_size;
  size_t T = (size_t)cfg->max_seq_len, NH = (size_t)cfg->n_head;
  a->encoded = carve(cv, N * C);
  a->ln1 = carve(cv, L * N * C);
  a->ln1_mean = carve(cv, L * N);
  a->ln1_rstd = carve(cv, L * N);
  a->qkv = carve(cv, L * N * 3 * C);
  a->atty = carve(cv, L * N * C);
  a->att = carve(cv, L * (size_t)maxB * NH * T * T);
  a->res2 = carve(cv, L * N * C);
  a->ln2 = carve(cv, L * N * C);
  a->ln2_mean = carve(cv, L * N);
  a->ln2_rstd = carve(cv, L * N);
  a->fch = carve(cv, L * N * 4 * C);
  a->fch_gelu = carve(cv, L * N * 4 * C);
  a->res3 = carve(cv, L * N * C);
  a->lnf = carve(cv, N * C);
  a->lnf_mean = carve(cv, N);
  a->lnf_rstd = carve(cv, N);
  a->logits = carve(cv, N * V);
  a->losses = carve(cv, N);
  a->inv_sum = carve(cv, N);
  a->proj = carve(cv, N * C);
}

static void carve_work(carver *cv, work *w, const tm_gpt_config *cfg, size_t N, int maxB,
                       int threads) {
  size_t C = (size_t)cfg->d_model;
  w->dres = carve(cv, N * C);
  w->dln = carve(cv, N * C);
  w->dbig = carve(cv, N * 4 * C);
  w->dqkv = carve(cv, N * 3 * C);
  w->colsum = carve(cv, tm_k_scratch_floats(2 * cfg->d_model));
  w->bscratch = carve(cv, (size_t)maxB * 3 * C);
  w->attn = carve(cv, (size_t)threads * tm_k_attention_scratch_floats(cfg->max_seq_len));
}

static float *alloc_floats(size_t n) {
  void *p = NULL;
  if (n == 0) n = 1;
  if (posix_memalign(&p, 64, n * sizeof(float))) return NULL;
  return p;
}

tm_gpt *tm_gpt_create(const tm_gpt_config *cfg, int max_batch, int with_grads, tm_error *err) {
  if (tm_gpt_config_check(cfg, err) < 0) return NULL;
  if (max_batch <= 0) {
    tm_err(err, TM_EINVAL, "model: batch %d must be positive", max_batch);
    return NULL;
  }
  tm_gpt *m = calloc(1, sizeof *m);
  if (!m) goto oom;
  m->cfg = *cfg;
  m->max_batch = max_batch;
  m->with_grads = with_grads;
  m->threads = 1;
#ifdef _OPENMP
  m->threads = omp_get_max_threads();
#endif
  m->n_params = tm_gpt_num_params(cfg);
  m->n_act_rows = (size_t)max_batch * cfg->max_seq_len;
  m->params = alloc_floats(m->n_params);
  if (!m->params) goto oom;
  tm_gpt_params_view(cfg, m->params, &m->p);
  if (with_grads) {
    m->grads = alloc_floats(m->n_params);
    if (!m->grads) goto oom;
    memset(m->grads, 0, m->n_params * sizeof(float));
    tm_gpt_params_view(cfg, m->grads, &m->g);
  }
  carver cv = {NULL, 0};
  carve_acts(&cv, &m->a, cfg, m->n_act_rows, max_batch);
  m->act_mem = alloc_floats(cv.used);
  if (!m->act_mem) goto oom;
  cv = (carver){m->act_mem, 0};
  carve_acts(&cv, &m->a, cfg, m->n_act_rows, max_batch);
  if (with_grads) {
    cv = (carver){NULL, 0};
    carve_work(&cv, &m->w, cfg, m->n_act_rows, max_batch, m->threads);
    m->work_mem = alloc_floats(cv.used);
    if (!m->work_mem) goto oom;
    cv = (carver){m->work_mem, 0};
    carve_work(&cv, &m->w, cfg, m->n_act_rows, max_batch, m->threads);
  }
  m->tokens = malloc(m->n_act_rows * sizeof(int32_t));
  m->targets = malloc(m->n_act_rows * sizeof(int32_t));
  if (!m->tokens || !m->targets) goto oom;
  return m;
oom:
  tm_err(err, TM_ENOMEM, "model: out of memory (%zu parameters, batch %d x %d)",
         tm_gpt_num_params(cfg), max_batch, cfg->max_seq_len);
  tm_gpt_free(m);
  return NULL;
}

void tm_gpt_free(tm_gpt *m) {
  if (!m) return;
  free(m->params);
  free(m->grads);
  free(m->act_mem);
  free(m->work_mem);
  free(m->tokens);
  free(m->targets);
  free(m);
}

const tm_gpt_config *tm_gpt_get_config(const tm_gpt *m) { return &m->cfg; }
float *tm_gpt_params_flat(tm_gpt *m) { return m->params; }
float *tm_gpt_grads_flat(tm_gpt *m) { return m->grads; }
const tm_gpt_params *tm_gpt_param_views(const tm_gpt *m) { return &m->p; }
const tm_gpt_params *tm_gpt_grad_views(const tm_gpt *m) { return m->with_grads ? &m->g : NULL; }

void tm_gpt_init(tm_gpt *m, uint64_t seed) {
  const tm_gpt_config *c = &m->cfg;
  size_t s[TM_GPT_NUM_TENSORS];
  tm_gpt_tensor_sizes(c, s);
  tm_rng r;
  tm_rng_seed(&r, seed);
  float resid_std = 0.02f / sqrtf(2.0f * (float)c->n_layer);
  float *p = m->params;
  for (int i = 0; i < TM_GPT_NUM_TENSORS; i++) {
    for (size_t j = 0; j < s[i]; j++) {
      float v;
      switch (i) {
        case 2: case 8: case 14: v = 1.0f; break;             /* LayerNorm gains */
        case 3: case 5: case 7: case 9: case 11: case 13: case 15: v = 0.0f; break; /* biases */
        case 6: case 12: v = resid_std * tm_rng_normal(&r); break; /* residual projections */
        default: v = 0.02f * tm_rng_normal(&r); break;
      }
      *p++ = v;
    }
  }
}

/* TIMED(kind, statements): add their wall and process CPU time to tw[kind]
 * and tc[kind] (locals of the caller) */
enum { TK_KERN, TK_ATT, TK_MM };
#define TIMED(kind, ...)                \
  do {                                  \
    double t_ = tm_now_s(), c_ = tm_proc_cpu_s(); \
    __VA_ARGS__;                        \
    tw[kind] += tm_now_s() - t_;           \
    tc[kind] += tm_proc_cpu_s() - c_;       \
  } while (0)

static void add_times(tm_gpt *m, const double tw[3], const double tc[3],
                      const tm_k_att_time *att) {
  double f = att->total_s > 0.0 ? att->other_s / att->total_s : 0.0;
  m->tm.kernels_s += tw[TK_KERN];
  m->tm.attention_s += tw[TK_ATT];
  m->tm.matmul_s += tw[TK_MM];
  m->tm.attention_other_s += tw[TK_ATT] * f;
  m->tm.kernels_cpu_s += tc[TK_KERN];
  m->tm.attention_cpu_s += tc[TK_ATT];
  m->tm.matmul_cpu_s += tc[TK_MM];
  m->tm.attention_other_cpu_s += tc[TK_ATT] * f;
}

int tm_gpt_forward(tm_gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T,
                   float *loss, tm_error *err) {
  const tm_gpt_config *c = &m->cfg;
  if (B <= 0 || T <= 0 || B > m->max_batch || T > c->max_seq_len)
    return tm_err(err, TM_EINVAL, "model forward: batch %dx%d exceeds the model's %dx%d", B, T,
                  m->max_batch, c->max_seq_len);
  int V = c->vocab_size, L = c->n_layer, C = c->d_model, NH = c->n_head;
  size_t N = (size_t)B * T;
  for (size_t i = 0; i < N; i++) {
    if (tokens[i] < 0 || tokens[i] >= V)
      return tm_err(err, TM_EINVAL, "model forward: token %d at batch row %zu position %zu is "
                    "outside the vocabulary (%d)", tokens[i], i / T, i % T, V);
    if (targets && (targets[i] < 0 || targets[i] >= V))
      return tm_err(err, TM_EINVAL, "model forward: target %d at batch row %zu position %zu is "
                    "outside the vocabulary (%d)", targets[i], i / T, i % T, V);
  }
  memcpy(m->tokens, tokens, N * sizeof(int32_t));
  if (targets) memcpy(m->targets, targets, N * sizeof(int32_t));
  m->B = B;
  m->T = T;
  m->have_targets = targets != NULL;
  m->have_forward = 1;

  const tm_gpt_params *p = &m->p;
  acts *a = &m->a;
  size_t nc = N * C, att_l = (size_t)B * NH * T * T;
  double tw[3] = {0.0, 0.0, 0.0}, tc[3] = {0.0, 0.0, 0.0}; /* TIMED */
  tm_k_att_time att_t = {0.0, 0.0};
  /* The bias of each sgemm that follows a LayerNorm is written into its
   * output by the LayerNorm's pass (the sgemm adds with beta 1); the
   * projections' biases are added by the residual + LayerNorm pass after
   * them. Three parallel regions per layer besides sgemm and attention. */
  TIMED(TK_KERN, tm_k_encoder_forward(a->encoded, tokens, p->wte, p->wpe, B, T, C);
        tm_k_residual_layernorm_forward(NULL, a->ln1, a->ln1_mean, a->ln1_rstd, a->encoded, NULL,
                                        NULL, p->ln1w, p->ln1b, a->qkv, p->qkvb, 3 * C, (int)N,
                                        C));
  for (int l = 0; l < L; l++) {
    const float *x = l == 0 ? a->encoded : a->res3 + (size_t)(l - 1) * nc;
    float *ln1 = a->ln1 + l * nc;
    float *qkv = a->qkv + l * 3 * nc, *atty = a->atty + l * nc, *att = a->att + l * att_l;
    float *res2 = a->res2 + l * nc, *ln2 = a->ln2 + l * nc;
    float *ln2m = a->ln2_mean + l * N, *ln2r = a->ln2_rstd + l * N;
    float *fch = a->fch + l * 4 * nc, *fchg = a->fch_gelu + l * 4 * nc, *res3 = a->res3 + l * nc;
    TIMED(TK_MM, tm_k_matmul_forward_acc(qkv, ln1, p->qkvw + (size_t)l * 3 * C * C, (int)N, C,
                                         3 * C));
    TIMED(TK_ATT, tm_k_attention_forward(atty, att, qkv, B, T, C, NH, &att_t));
    TIMED(TK_MM, tm_k_matmul_forward(a->proj, atty, p->attprojw + (size_t)l * C * C, NULL, (int)N,
                                     C, C));
    TIMED(TK_KERN, tm_k_residual_layernorm_forward(res2, ln2, ln2m, ln2r, x, a->proj,
                                                   p->attprojb + l * C, p->ln2w + l * C,
                                                   p->ln2b + l * C, fch, p->fcb + l * 4 * C,
                                                   4 * C, (int)N, C));
    TIMED(TK_MM, tm_k_matmul_forward_acc(fch, ln2, p->fcw + (size_t)l * 4 * C * C, (int)N, C,
                                         4 * C));
    TIMED(TK_KERN, tm_k_gelu_forward(fchg, fch, 4 * nc));
    TIMED(TK_MM, tm_k_matmul_forward(a->proj, fchg, p->fcprojw + (size_t)l * 4 * C * C, NULL,
                                     (int)N, 4 * C, C));
    if (l + 1 < L) /* and the next layer's LayerNorm 1 and qkv bias */
      TIMED(TK_KERN, tm_k_residual_layernorm_forward(
                         res3, a->ln1 + (l + 1) * nc, a->ln1_mean + (l + 1) * N,
                         a->ln1_rstd + (l + 1) * N, res2, a->proj, p->fcprojb + l * C,
                         p->ln1w + (l + 1) * C, p->ln1b + (l + 1) * C, a->qkv + (l + 1) * 3 * nc,
                         p->qkvb + (l + 1) * 3 * C, 3 * C, (int)N, C));
    else /* and the final LayerNorm */
      TIMED(TK_KERN, tm_k_residual_layernorm_forward(res3, a->lnf, a->lnf_mean, a->lnf_rstd, res2,
                                                     a->proj, p->fcprojb + l * C, p->lnfw,
                                                     p->lnfb, NULL, NULL, 0, (int)N, C));
  }
  TIMED(TK_MM, tm_k_matmul_forward(a->logits, a->lnf, p->wte, NULL, (int)N, C, V));
  if (targets) {
    double sum = 0.0;
    TIMED(TK_KERN,
          tm_k_softmax_crossentropy_forward(a->logits, a->inv_sum, a->losses, targets, (int)N, V);
          for (size_t i = 0; i < N; i++) sum += a->losses[i]);
    if (loss) *loss = (float)(sum / (double)N);
  }
  add_times(m, tw, tc, &att_t);
  return 0;
}

int tm_gpt_backward(tm_gpt *m, float loss_scale, tm_error *err) {
  if (!m->with_grads) return tm_err(err, TM_ESTATE, "model backward: created without gradients");
  if (!m->have_forward || !m->have_targets)
    return tm_err(err, TM_ESTATE, "model backward: no forward pass with targets before it");
#ifdef _OPENMP
  if (omp_get_max_threads() > m->threads)
    return tm_err(err, TM_ESTATE, "model backward: %d threads, the model was created for %d",
                  omp_get_max_threads(), m->threads);
#endif
  const tm_gpt_config *c = &m->cfg;
  int B = m->B, T = m->T, V = c->vocab_size, L = c->n_layer, C = c->d_model, NH = c->n_head;
  size_t N = (size_t)B * T, nc = N * C, att_l = (size_t)B * NH * T * T;
  const tm_gpt_params *p = &m->p, *g = &m->g;
  acts *a = &m->a;
  work *w = &m->w;

  double tw[3] = {0.0, 0.0, 0.0}, tc[3] = {0.0, 0.0, 0.0}; /* TIMED */
  tm_k_att_time att_t = {0.0, 0.0};
  /* the head through the cross-entropy without a pass over dlogits
   * (gpt_kernels.h); dbig is free until the MLP and holds diag(s) lnf */
  float dloss = loss_scale / (float)N;
  TIMED(TK_KERN, tm_k_head_crossentropy_prepare(w->dbig, a->lnf, a->inv_sum, dloss, (int)N, C));
  TIMED(TK_MM, tm_k_matmul_backward(w->dln, g->wte, NULL, a->logits, w->dbig, p->wte, (int)N, C,
                                    V, NULL));
  TIMED(TK_KERN, tm_k_head_crossentropy_finish(w->dln, g->wte, a->lnf, p->wte, a->inv_sum,
                                               m->targets, dloss, (int)N, C));
  /* every LayerNorm backward also sums the residual-stream gradient it
   * leaves into the bias of the projection whose output was added there */
  TIMED(TK_KERN, tm_k_layernorm_backward(w->dres, 0, g->lnfw, g->lnfb, g->fcprojb + (L - 1) * C,
                                         w->dln, a->res3 + (size_t)(L - 1) * nc, p->lnfw,
                                         a->lnf_mean, a->lnf_rstd, (int)N, C, w->colsum));
  if (m->bw_hook) m->bw_hook(m->bw_ctx, L); /* lnfw, lnfb final */
  for (int l = L - 1; l >= 0; l--) {
    const float *x = l == 0 ? a->encoded : a->res3 + (size_t)(l - 1) * nc;
    /* dres holds d(res3); the MLP branch */
    TIMED(TK_MM, tm_k_matmul_backward(w->dbig, g->fcprojw + (size_t)l * 4 * C * C, NULL, w->dres,
                                      a->fch_gelu + l * 4 * nc,
                                      p->fcprojw + (size_t)l * 4 * C * C, (int)N, 4 * C, C, NULL));
    TIMED(TK_KERN, tm_k_gelu_backward_bias(w->dbig, g->fcb + l * 4 * C, a->fch + l * 4 * nc,
                                           w->dbig, (int)N, 4 * C, w->colsum));
    TIMED(TK_MM, tm_k_matmul_backward(w->dln, g->fcw + (size_t)l * 4 * C * C, NULL, w->dbig,
                                      a->ln2 + l * nc, p->fcw + (size_t)l * 4 * C * C, (int)N, C,
                                      4 * C, NULL));
    TIMED(TK_KERN, tm_k_layernorm_backward(w->dres, 1, g->ln2w + l * C, g->ln2b + l * C,
                                           g->attprojb + l * C, w->dln, a->res2 + l * nc,
                                           p->ln2w + l * C, a->ln2_mean + l * N,
                                           a->ln2_rstd + l * N, (int)N, C, w->colsum));
    /* dres now holds d(res2); the attention branch */
    TIMED(TK_MM, tm_k_matmul_backward(w->dln, g->attprojw + (size_t)l * C * C, NULL, w->dres,
                                      a->atty + l * nc, p->attprojw + (size_t)l * C * C, (int)N, C,
                                      C, NULL));
    TIMED(TK_ATT, tm_k_attention_backward(w->dqkv, w->dln, a->qkv + l * 3 * nc, a->att + l * att_l,
                                          B, T, C, NH, w->attn, g->qkvb + l * 3 * C, w->bscratch,
                                          &att_t));
    TIMED(TK_MM, tm_k_matmul_backward(w->dln, g->qkvw + (size_t)l * 3 * C * C, NULL, w->dqkv,
                                      a->ln1 + l * nc, p->qkvw + (size_t)l * 3 * C * C, (int)N, C,
                                      3 * C, NULL));
    TIMED(TK_KERN, tm_k_layernorm_backward(w->dres, 1, g->ln1w + l * C, g->ln1b + l * C,
                                           l > 0 ? g->fcprojb + (l - 1) * C : NULL, w->dln, x,
                                           p->ln1w + l * C, a->ln1_mean + l * N,
                                           a->ln1_rstd + l * N, (int)N, C, w->colsum));
    /* dres now holds d(x) */
    if (m->bw_hook) m->bw_hook(m->bw_ctx, l); /* layer l's gradients final */
  }
  TIMED(TK_KERN, tm_k_encoder_backward(g->wte, g->wpe, w->dres, m->tokens, B, T, C));
  if (m->bw_hook) m->bw_hook(m->bw_ctx, -1); /* wte, wpe final */
  m->have_forward = 0; /* the probabilities were overwritten by dlogits */
  add_times(m, tw, tc, &att_t);
  return 0;
}

void tm_gpt_set_backward_hook(tm_gpt *m, void (*fn)(void *ctx, int layer), void *ctx) {
  m->bw_hook = fn;
  m->bw_ctx = ctx;
}

void tm_gpt_zero_grad(tm_gpt *m) {
  if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

const float *tm_gpt_logits(const tm_gpt *m, int b, int t) {
  return m->a.logits + ((size_t)b * m->T + t) * m->cfg.vocab_size;
}

const float *tm_gpt_losses(const tm_gpt *m) { return m->a.losses; }

double tm_gpt_step_flops(const tm_gpt_config *c, int B, int T) {
  double N = (double)B * T, C = c->d_model, L = c->n_layer, V = c->vocab_size;
  /* per token, forward: 2 * (weights touched) for qkv, attproj, fc, fcproj, head */
  double lin = 2.0 * N * (L * (3 * C * C + C * C + 4 * C * C + 4 * C * C) + V * C);
  double attn = 2.0 * 2.0 * (double)B * T * T * C * L; /* QK^T and PV, full T x T */
  return 3.0 * (lin + attn);                            /* backward = 2x forward */
}

void tm_gpt_timing(const tm_gpt *m, tm_gpt_times *t) { *t = m->tm; }

void tm_gpt_timing_reset(tm_gpt *m) { memset(&m->tm, 0, sizeof m->tm); }
