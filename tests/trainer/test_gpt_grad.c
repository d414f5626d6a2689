/* test_gpt_grad.c - gradients of every layer and of the whole model against
 * central finite differences.
 *
 * Each layer check builds a scalar loss = sum(out * R) (R random, so the
 * upstream gradient is R), runs the layer's backward, and compares each
 * analytic derivative with (loss(x+e) - loss(x-e)) / 2e, the losses summed in
 * double. A wrong term in a backward pass gives relative errors of order 1;
 * fp32 rounding stays far below the tolerance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpt.h"
#include "gpt_kernels.h"
#include "rng.h"
#include "threads.h"
#include "tm_test.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static tm_rng rng;

static float *randv(size_t n, float scale) {
  float *v = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) v[i] = scale * tm_rng_normal(&rng);
  return v;
}
static float *zerov(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static double dot(const float *a, const float *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

typedef double (*loss_fn)(void *ctx);

/* Compare analytic[i] with the finite difference of fn w.r.t. x[i] for up to
 * `samples` indices spread over x; returns the worst relative error. */
static double fd_check(const char *name, float *x, size_t n, const float *analytic, loss_fn fn,
                       void *ctx, float eps, int samples) {
  double worst = 0;
  size_t step = n > (size_t)samples ? n / samples : 1;
  for (size_t i = 0; i < n; i += step) {
    float keep = x[i];
    x[i] = keep + eps;
    double lp = fn(ctx);
    x[i] = keep - eps;
    double lm = fn(ctx);
    x[i] = keep;
    double num = (lp - lm) / (2.0 * eps), an = analytic[i];
    double err = fabs(num - an) / fmax(fmax(fabs(num), fabs(an)), 1e-2);
    if (err > worst) worst = err;
    if (err > 2e-2)
      fprintf(stderr, "%s[%zu]: analytic %.6g numeric %.6g (rel err %.3g)\n", name, i, an, num,
              err);
  }
  return worst;
}

#define TOL 2e-2

/* ---- layernorm ---- */
typedef struct {
  int N, C;
  float *x, *w, *b, *out, *mean, *rstd, *R;
} ln_ctx;
static double ln_loss(void *p) {
  ln_ctx *c = p;
  tm_k_layernorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C);
  return dot(c->out, c->R, (size_t)c->N * c->C);
}
static void test_layernorm(void) {
  ln_ctx c = {.N = 7, .C = 12};
  size_t nc = (size_t)c.N * c.C;
  c.x = randv(nc, 1.0f);
  c.w = randv(c.C, 1.0f);
  c.b = randv(c.C, 1.0f);
  c.R = randv(nc, 1.0f);
  c.out = zerov(nc);
  c.mean = zerov(c.N);
  c.rstd = zerov(c.N);
  float *dx = zerov(nc), *dw = zerov(c.C), *db = zerov(c.C);
  float *scratch = zerov(tm_k_scratch_floats(c.C));
  ln_loss(&c);
  tm_k_layernorm_backward_add(dx, dw, db, c.R, c.x, c.w, c.mean, c.rstd, c.N, c.C, scratch);
  CHECK(fd_check("ln.dx", c.x, nc, dx, ln_loss, &c, 1e-2f, 84) < TOL);
  CHECK(fd_check("ln.dw", c.w, c.C, dw, ln_loss, &c, 1e-2f, 12) < TOL);
  CHECK(fd_check("ln.db", c.b, c.C, db, ln_loss, &c, 1e-2f, 12) < TOL);
  /* _add semantics: a second backward doubles the gradients */
  float before = dx[5];
  tm_k_layernorm_backward_add(dx, dw, db, c.R, c.x, c.w, c.mean, c.rstd, c.N, c.C, scratch);
  CHECK(fabsf(dx[5] - 2 * before) <= 1e-5f * fabsf(before) + 1e-6f);
  free(c.x); free(c.w); free(c.b); free(c.R); free(c.out); free(c.mean); free(c.rstd);
  free(dx); free(dw); free(db); free(scratch);
}

/* ---- matmul ---- */
typedef struct {
  int N, C, OC;
  float *x, *w, *b, *out, *R;
} mm_ctx;
static double mm_loss(void *p) {
  mm_ctx *c = p;
  tm_k_matmul_forward(c->out, c->x, c->w, c->b, c->N, c->C, c->OC);
  return dot(c->out, c->R, (size_t)c->N * c->OC);
}
static void test_matmul(void) {
  mm_ctx c = {.N = 9, .C = 6, .OC = 10};
  c.x = randv((size_t)c.N * c.C, 1.0f);
  c.w = randv((size_t)c.OC * c.C, 1.0f);
  c.b = randv(c.OC, 1.0f);
  c.R = randv((size_t)c.N * c.OC, 1.0f);
  c.out = zerov((size_t)c.N * c.OC);
  float *dx = zerov((size_t)c.N * c.C), *dw = zerov((size_t)c.OC * c.C), *db = zerov(c.OC);
  float *scratch = zerov(tm_k_scratch_floats(c.OC));
  mm_loss(&c);
  tm_k_matmul_backward(dx, dw, db, c.R, c.x, c.w, c.N, c.C, c.OC, scratch);
  CHECK(fd_check("mm.dx", c.x, (size_t)c.N * c.C, dx, mm_loss, &c, 1e-2f, 54) < TOL);
  CHECK(fd_check("mm.dw", c.w, (size_t)c.OC * c.C, dw, mm_loss, &c, 1e-2f, 60) < TOL);
  CHECK(fd_check("mm.db", c.b, c.OC, db, mm_loss, &c, 1e-2f, 10) < TOL);
  free(c.x); free(c.w); free(c.b); free(c.R); free(c.out); free(dx); free(dw); free(db);
  free(scratch);
}

/* ---- gelu ---- */
typedef struct {
  size_t n;
  float *x, *out, *R;
} gelu_ctx;
static double gelu_loss(void *p) {
  gelu_ctx *c = p;
  tm_k_gelu_forward(c->out, c->x, c->n);
  return dot(c->out, c->R, c->n);
}
static void test_gelu(void) {
  gelu_ctx c = {.n = 50};
  c.x = randv(c.n, 2.0f);
  c.R = randv(c.n, 1.0f);
  c.out = zerov(c.n);
  float *dx = zerov(c.n);
  gelu_loss(&c);
  tm_k_gelu_backward(dx, c.x, c.R, c.n);
  CHECK(fd_check("gelu.dx", c.x, c.n, dx, gelu_loss, &c, 1e-2f, 50) < TOL);
  free(c.x); free(c.R); free(c.out); free(dx);
}

/* ---- attention ---- */
typedef struct {
  int B, T, C, NH;
  float *qkv, *att, *out, *R;
} att_ctx;
static double att_loss(void *p) {
  att_ctx *c = p;
  tm_k_attention_forward(c->out, c->att, c->qkv, c->B, c->T, c->C, c->NH, NULL);
  return dot(c->out, c->R, (size_t)c->B * c->T * c->C);
}
static void test_attention(void) {
  att_ctx c = {.B = 2, .T = 5, .C = 8, .NH = 2};
  size_t n3 = (size_t)c.B * c.T * 3 * c.C, n = (size_t)c.B * c.T * c.C;
  c.qkv = randv(n3, 1.0f);
  c.R = randv(n, 1.0f);
  c.out = zerov(n);
  c.att = zerov((size_t)c.B * c.NH * c.T * c.T);
  float *dqkv = zerov(n3);
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  float *scratch = zerov((size_t)threads * tm_k_attention_scratch_floats(c.T));
  att_loss(&c);
  /* causal: row 0 attends to itself only, zeros above the diagonal */
  CHECK(fabsf(c.att[0] - 1.0f) < 1e-6f && c.att[1] == 0.0f);
  tm_k_attention_backward(dqkv, c.R, c.qkv, c.att, c.B, c.T, c.C, c.NH, scratch, NULL, NULL, NULL);
  CHECK(fd_check("attn.dqkv", c.qkv, n3, dqkv, att_loss, &c, 1e-2f, 240) < TOL);
  free(c.qkv); free(c.R); free(c.out); free(c.att); free(dqkv); free(scratch);
}

/* ---- softmax + cross-entropy ---- */
typedef struct {
  int N, V;
  float *logits, *work, *losses, *inv;
  int32_t *targets;
} ce_ctx;
static double ce_loss(void *p) {
  ce_ctx *c = p;
  memcpy(c->work, c->logits, sizeof(float) * c->N * c->V);
  tm_k_softmax_crossentropy_forward(c->work, c->inv, c->losses, c->targets, c->N, c->V);
  double s = 0;
  for (int i = 0; i < c->N; i++) s += c->losses[i];
  return s / c->N;
}
static void test_crossentropy(void) {
  ce_ctx c = {.N = 4, .V = 11};
  size_t n = (size_t)c.N * c.V;
  c.logits = randv(n, 2.0f);
  c.work = zerov(n);
  c.losses = zerov(c.N);
  c.inv = zerov(c.N);
  c.targets = malloc(sizeof(int32_t) * c.N);
  for (int i = 0; i < c.N; i++) c.targets[i] = (int32_t)tm_rng_below(&rng, (uint64_t)c.V);
  ce_loss(&c);
  /* the loss equals -log softmax from the definition */
  double z = 0;
  for (int j = 0; j < c.V; j++) z += exp(c.logits[j]);
  CHECK(fabs(c.losses[0] - (log(z) - c.logits[c.targets[0]])) < 1e-4);
  /* exps * inv_sum are the probabilities */
  double psum = 0;
  for (int j = 0; j < c.V; j++) psum += c.work[j] * c.inv[0];
  CHECK(fabs(psum - 1.0) < 1e-5);
  tm_k_softmax_crossentropy_backward(c.work, c.inv, c.targets, c.N, c.V, 1.0f / c.N);
  float *d = malloc(n * sizeof(float));
  memcpy(d, c.work, n * sizeof(float));
  CHECK(fd_check("ce.dlogits", c.logits, n, d, ce_loss, &c, 1e-2f, 44) < TOL);
  free(c.logits); free(c.work); free(c.losses); free(c.inv); free(c.targets); free(d);
}

/* ---- fused kernels against the unfused ones they replace ---- */
/* largest |a - b| relative to max(|b|, floor) */
static double maxrel_floor(const float *a, const float *b, size_t n, double floor) {
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]) / fmax(fabs((double)b[i]), floor);
    if (d > worst) worst = d;
  }
  return worst;
}
static double maxrel(const float *a, const float *b, size_t n) {
  return maxrel_floor(a, b, n, 1e-3);
}
static void colsum_ref(float *acc, const float *src, int N, int C) {
  for (int i = 0; i < N; i++)
    for (int c = 0; c < C; c++) acc[c] += src[(size_t)i * C + c];
}
static void test_fused(void) {
  int N = 37, C = 24, W = 40; /* N not a multiple of the 16 chunks */
  size_t nc = (size_t)N * C;
  float *x = randv(nc, 1.0f), *proj = randv(nc, 1.0f), *pb = randv(C, 1.0f);
  float *w = randv(C, 1.0f), *b = randv(C, 1.0f), *fb = randv(W, 1.0f);
  float *res = zerov(nc), *ln = zerov(nc), *mean = zerov(N), *rstd = zerov(N);
  float *fill = zerov((size_t)N * W);
  float *res_r = zerov(nc), *ln_r = zerov(nc), *mean_r = zerov(N), *rstd_r = zerov(N);
  float *scratch = zerov(tm_k_scratch_floats(2 * C > W ? 2 * C : W));
  /* residual + bias + LayerNorm + bias fill */
  tm_k_residual_layernorm_forward(res, ln, mean, rstd, x, proj, pb, w, b, fill, fb, W, N, C);
  for (size_t i = 0; i < nc; i++) res_r[i] = x[i] + proj[i] + pb[i % C];
  tm_k_layernorm_forward(ln_r, mean_r, rstd_r, res_r, w, b, N, C);
  CHECK(maxrel(res, res_r, nc) < 1e-6 && maxrel(ln, ln_r, nc) < 1e-5);
  CHECK(maxrel(rstd, rstd_r, N) < 1e-5 && fill[(size_t)(N - 1) * W + 3] == fb[3]);
  /* without proj: plain LayerNorm of x, res untouched */
  memset(res, 0, nc * sizeof(float));
  tm_k_residual_layernorm_forward(res, ln, mean, rstd, x, NULL, NULL, w, b, NULL, NULL, 0, N, C);
  tm_k_layernorm_forward(ln_r, mean_r, rstd_r, x, w, b, N, C);
  CHECK(maxrel(ln, ln_r, nc) < 1e-5 && res[7] == 0.0f);
  /* LayerNorm backward: overwrite vs add, and the column sums of dinp */
  float *dout = randv(nc, 1.0f), *dres = randv(nc, 1.0f), *dres_r = zerov(nc);
  memcpy(dres_r, dres, nc * sizeof(float));
  float *dw = zerov(C), *db = zerov(C), *ds = zerov(C), *dw_r = zerov(C), *db_r = zerov(C);
  float *ds_r = zerov(C);
  tm_k_layernorm_backward(dres, 1, dw, db, ds, dout, x, w, mean, rstd, N, C, scratch);
  tm_k_layernorm_backward_add(dres_r, dw_r, db_r, dout, x, w, mean, rstd, N, C, scratch);
  colsum_ref(ds_r, dres_r, N, C);
  CHECK(maxrel(dres, dres_r, nc) < 1e-6 && maxrel(dw, dw_r, C) < 1e-5);
  CHECKF(maxrel(ds, ds_r, C) < 1e-4, "layernorm dsum off by %g", maxrel(ds, ds_r, C));
  float *dset = randv(nc, 1.0f);
  memset(dres_r, 0, nc * sizeof(float));
  tm_k_layernorm_backward(dset, 0, dw, db, NULL, dout, x, w, mean, rstd, N, C, scratch);
  tm_k_layernorm_backward_add(dres_r, dw_r, db_r, dout, x, w, mean, rstd, N, C, scratch);
  CHECK(maxrel(dset, dres_r, nc) < 1e-6);
  /* GELU backward + bias column sums */
  size_t nw = (size_t)N * W;
  float *gx = randv(nw, 2.0f), *gd = randv(nw, 1.0f), *gd2 = zerov(nw), *gref = zerov(nw);
  memcpy(gd2, gd, nw * sizeof(float));
  float *gb = zerov(W), *gb_r = zerov(W);
  tm_k_gelu_backward_bias(gd2, gb, gx, gd2, N, W, scratch); /* in place, as the model */
  tm_k_gelu_backward(gref, gx, gd, nw);
  colsum_ref(gb_r, gref, N, W);
  /* (the row loop and the flat loop may take tanhf's vector or scalar path
   * for different elements: an ulp apart, where gelu' crosses zero too) */
  CHECKF(maxrel_floor(gd2, gref, nw, 1.0) < 1e-5 && maxrel(gb, gb_r, W) < 1e-4, "gelu: %g %g",
         maxrel_floor(gd2, gref, nw, 1.0), maxrel(gb, gb_r, W));
  /* attention backward's qkv bias sums */
  int B = 2, T = 9, AC = 16, NH = 2, threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  size_t n3 = (size_t)B * T * 3 * AC, na = (size_t)B * T * AC;
  float *qkv = randv(n3, 1.0f), *att = zerov((size_t)B * NH * T * T), *ao = zerov(na);
  float *ad = randv(na, 1.0f), *dqkv = zerov(n3), *dqkv_r = zerov(n3);
  float *ascr = zerov((size_t)threads * tm_k_attention_scratch_floats(T));
  float *bs = zerov((size_t)B * 3 * AC), *qb = randv(3 * AC, 1.0f), *qb_r = zerov(3 * AC);
  memcpy(qb_r, qb, 3 * AC * sizeof(float));
  tm_k_attention_forward(ao, att, qkv, B, T, AC, NH, NULL);
  tm_k_attention_backward(dqkv, ad, qkv, att, B, T, AC, NH, ascr, qb, bs, NULL);
  tm_k_attention_backward(dqkv_r, ad, qkv, att, B, T, AC, NH, ascr, NULL, NULL, NULL);
  colsum_ref(qb_r, dqkv_r, B * T, 3 * AC);
  CHECK(maxrel(dqkv, dqkv_r, n3) == 0.0 && maxrel(qb, qb_r, 3 * AC) < 1e-4);
  /* the tied head through the cross-entropy without dlogits, against the
   * explicit path (softmax backward, then the linear backward) */
  int V = 29;
  size_t nv = (size_t)N * V;
  float *hin = randv(nc, 1.0f), *hw = randv((size_t)V * C, 0.5f), *logits = zerov(nv);
  float *inv = zerov(N), *losses = zerov(N);
  int32_t *tgt = malloc(sizeof(int32_t) * N);
  for (int i = 0; i < N; i++) tgt[i] = (int32_t)tm_rng_below(&rng, (uint64_t)V);
  tgt[3] = tgt[4] = tgt[9]; /* repeated targets */
  tm_k_matmul_forward(logits, hin, hw, NULL, N, C, V);
  tm_k_softmax_crossentropy_forward(logits, inv, losses, tgt, N, V);
  float *hdin = zerov(nc), *hdw = randv((size_t)V * C, 0.1f), *hdw_r = zerov((size_t)V * C);
  float *hdin_r = zerov(nc), *hscaled = zerov(nc), *dlog = zerov(nv);
  memcpy(hdw_r, hdw, (size_t)V * C * sizeof(float));
  float dloss = 1.0f / N;
  tm_k_head_crossentropy_prepare(hscaled, hin, inv, dloss, N, C);
  tm_k_matmul_backward(hdin, hdw, NULL, logits, hscaled, hw, N, C, V, NULL);
  tm_k_head_crossentropy_finish(hdin, hdw, hin, hw, inv, tgt, dloss, N, C);
  memcpy(dlog, logits, nv * sizeof(float));
  tm_k_softmax_crossentropy_backward(dlog, inv, tgt, N, V, dloss);
  tm_k_matmul_backward(hdin_r, hdw_r, NULL, dlog, hin, hw, N, C, V, NULL);
  double e1 = 0, e2 = 0, m1 = 0, m2 = 0;
  for (size_t i = 0; i < nc; i++) {
    e1 = fmax(e1, fabs(hdin[i] - hdin_r[i]));
    m1 = fmax(m1, fabs(hdin_r[i]));
  }
  for (size_t i = 0; i < (size_t)V * C; i++) {
    e2 = fmax(e2, fabs(hdw[i] - hdw_r[i]));
    m2 = fmax(m2, fabs(hdw_r[i]));
  }
  CHECKF(e1 < 1e-5 * m1 + 1e-7 && e2 < 1e-5 * m2 + 1e-7,
         "head backward: dinp off by %g (of %g), dW by %g (of %g)", e1, m1, e2, m2);
  free(x); free(proj); free(pb); free(w); free(b); free(fb); free(res); free(ln); free(mean);
  free(rstd); free(fill); free(res_r); free(ln_r); free(mean_r); free(rstd_r); free(scratch);
  free(dout); free(dres); free(dres_r); free(dw); free(db); free(ds); free(dw_r); free(db_r);
  free(ds_r); free(dset); free(gx); free(gd); free(gd2); free(gref); free(gb); free(gb_r);
  free(qkv); free(att); free(ao); free(ad); free(dqkv); free(dqkv_r); free(ascr); free(bs);
  free(qb); free(qb_r); free(hin); free(hw); free(logits); free(inv); free(losses); free(tgt);
  free(hdin); free(hdw); free(hdw_r); free(hdin_r); free(hscaled); free(dlog);
}

/* ---- the whole model ---- */
typedef struct {
  tm_gpt *m;
  int32_t *tok, *tgt;
  int B, T;
} model_ctx;
static double model_loss(void *p) {
  model_ctx *c = p;
  float loss = 0;
  tm_error err = {0};
  if (tm_gpt_forward(c->m, c->tok, c->tgt, c->B, c->T, &loss, &err) < 0) {
    fprintf(stderr, "%s\n", err.msg);
    return NAN;
  }
  /* recompute the mean in double from the per-position losses */
  const float *l = tm_gpt_losses(c->m);
  double s = 0;
  for (int i = 0; i < c->B * c->T; i++) s += l[i];
  return s / (c->B * c->T);
}
static void test_model(void) {
  tm_gpt_config cfg = {.max_seq_len = 6, .vocab_size = 13, .n_layer = 2, .n_head = 2,
                       .d_model = 8};
  tm_error err = {0};
  model_ctx c = {.B = 2, .T = 5};
  c.m = tm_gpt_create(&cfg, 2, 1, &err);
  CHECKF(c.m != NULL, "%s", err.msg);
  if (!c.m) return;
  tm_gpt_init(c.m, 7);
  /* larger weights than GPT-2's 0.02 so every path carries a real gradient */
  float *P = tm_gpt_params_flat(c.m);
  size_t np = tm_gpt_num_params(&cfg);
  for (size_t i = 0; i < np; i++) P[i] += 0.3f * tm_rng_normal(&rng);
  c.tok = malloc(sizeof(int32_t) * 10);
  c.tgt = malloc(sizeof(int32_t) * 10);
  for (int i = 0; i < 10; i++) {
    c.tok[i] = (int32_t)tm_rng_below(&rng, 13);
    c.tgt[i] = (int32_t)tm_rng_below(&rng, 13);
  }
  model_loss(&c);
  tm_gpt_zero_grad(c.m);
  CHECK(tm_gpt_backward(c.m, 1.0f, &err) == 0);
  float *G = malloc(np * sizeof(float));
  memcpy(G, tm_gpt_grads_flat(c.m), np * sizeof(float));
  size_t sizes[TM_GPT_NUM_TENSORS];
  tm_gpt_tensor_sizes(&cfg, sizes);
  size_t off = 0;
  for (int t = 0; t < TM_GPT_NUM_TENSORS; t++) {
    double worst = fd_check(tm_gpt_tensor_name(t), P + off, sizes[t], G + off, model_loss, &c,
                            1e-2f, 24);
    CHECKF(worst < TOL, "model gradient of %s: worst relative error %.3g", tm_gpt_tensor_name(t),
           worst);
    off += sizes[t];
  }
  /* accumulation: two backward passes at scale 0.5 equal one at scale 1 */
  model_loss(&c);
  tm_gpt_zero_grad(c.m);
  tm_gpt_backward(c.m, 0.5f, &err);
  model_loss(&c);
  tm_gpt_backward(c.m, 0.5f, &err);
  double maxdiff = 0;
  for (size_t i = 0; i < np; i++) {
    double d = fabs(tm_gpt_grads_flat(c.m)[i] - G[i]);
    if (d > maxdiff) maxdiff = d;
  }
  CHECKF(maxdiff < 1e-5, "accumulated gradients differ by %g", maxdiff);
  /* backward without a forward with targets is a state error, not a crash */
  CHECK(tm_gpt_forward(c.m, c.tok, NULL, 2, 5, NULL, &err) == 0);
  CHECK(tm_gpt_backward(c.m, 1.0f, &err) == -TM_ESTATE);
  /* an id outside the vocabulary is reported with its position */
  c.tok[7] = 13;
  CHECK(tm_gpt_forward(c.m, c.tok, c.tgt, 2, 5, NULL, &err) == -TM_EINVAL);
  CHECK(strstr(err.msg, "row 1 position 2") != NULL);
  free(G);
  free(c.tok);
  free(c.tgt);
  tm_gpt_free(c.m);
}

int main(void) {
  /* one thread: these tests must not crawl on a loaded machine (every
   * kernel call is a parallel region); determinism across thread counts is
   * by construction (fixed reduction chunks) */
  tm_threads_set(1);
  tm_rng_seed(&rng, 12345);
  test_layernorm();
  test_matmul();
  test_gelu();
  test_attention();
  test_crossentropy();
  test_fused();
  test_model();
  return tm_test_finish("test_gpt_grad");
}
