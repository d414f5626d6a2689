/* gpt_kernels.c - forward/backward loops of the GPT layers (see
 * gpt_kernels.h). Built with -O3 -ffast-math (trainer/CMakeLists.txt) so
 * that expf/tanhf vectorise through glibc's libmvec; the results are still
 * the same bits on every run of the same binary. */
#include "gpt_kernels.h"
#include "clock.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

size_t tm_k_scratch_floats(int C) { return (size_t)TM_K_CHUNKS * 3 * (size_t)C; }

/* ---- column sums in fixed chunks ------------------------------------------
 * acc[c] += sum_i src[i*ld + c] for i < N, summed as TM_K_CHUNKS partials
 * (each in row order) added in chunk order: the same bits for any thread
 * count. scratch: TM_K_CHUNKS * C floats. */
static void colsum_add(float *acc, const float *src, int N, int C, int ld, float *scratch) {
#pragma omp parallel for schedule(static)
  for (int k = 0; k < TM_K_CHUNKS; k++) {
    float *part = scratch + (size_t)k * C;
    memset(part, 0, sizeof(float) * (size_t)C);
    int lo = (int)((int64_t)N * k / TM_K_CHUNKS), hi = (int)((int64_t)N * (k + 1) / TM_K_CHUNKS);
    for (int i = lo; i < hi; i++) {
      const float *row = src + (size_t)i * ld;
      for (int c = 0; c < C; c++) part[c] += row[c];
    }
  }
  for (int k = 0; k < TM_K_CHUNKS; k++) {
    const float *part = scratch + (size_t)k * C;
    for (int c = 0; c < C; c++) acc[c] += part[c];
  }
}

/* ---- embeddings ------------------------------------------------------------ */

void tm_k_encoder_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                          int B, int T, int C) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < B * T; i++) {
    float *o = out + (size_t)i * C;
    const float *e = wte + (size_t)tokens[i] * C, *p = wpe + (size_t)(i % T) * C;
    for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
  }
}

void tm_k_encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                           int B, int T, int C) {
  /* rows may share a token: each thread owns a range of columns and walks
   * every row in order (the same sums for any thread count) */
  int nc = (C + 15) / 16;
#pragma omp parallel for schedule(static)
  for (int k = 0; k < nc; k++) {
    int c0 = k * 16, c1 = c0 + 16 < C ? c0 + 16 : C;
    for (int i = 0; i < B * T; i++) {
      const float *d = dout + (size_t)i * C;
      float *e = dwte + (size_t)tokens[i] * C, *p = dwpe + (size_t)(i % T) * C;
      for (int c = c0; c < c1; c++) {
        e[c] += d[c];
        p[c] += d[c];
      }
    }
  }
}

/* ---- layernorm -------------------------------------------------------------
 * y = (x - mean) * rstd * w + b, rstd = 1/sqrt(var + 1e-5) (biased var). */

static inline void layernorm_row(float *restrict o, float *mean, float *rstd,
                                 const float *restrict x, const float *restrict w,
                                 const float *restrict b, int C) {
  float m = 0.0f;
  for (int c = 0; c < C; c++) m += x[c];
  m /= (float)C;
  float v = 0.0f;
  for (int c = 0; c < C; c++) {
    float d = x[c] - m;
    v += d * d;
  }
  v /= (float)C;
  float s = 1.0f / sqrtf(v + 1e-5f);
  for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
  *mean = m;
  *rstd = s;
}

void tm_k_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; i++)
    layernorm_row(out + (size_t)i * C, mean + i, rstd + i, inp + (size_t)i * C, w, b, C);
}

static inline void residual_row(float *restrict r, const float *restrict x,
                                const float *restrict p, const float *restrict pb, int C) {
  if (pb)
    for (int c = 0; c < C; c++) r[c] = x[c] + p[c] + pb[c];
  else
    for (int c = 0; c < C; c++) r[c] = x[c] + p[c];
}

void tm_k_residual_layernorm_forward(float *res, float *ln, float *mean, float *rstd,
                                     const float *x, const float *proj, const float *pbias,
                                     const float *w, const float *b, float *fill,
                                     const float *fill_bias, int fill_w, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; i++) {
    const float *src = x + (size_t)i * C;
    if (proj) {
      residual_row(res + (size_t)i * C, src, proj + (size_t)i * C, pbias, C);
      src = res + (size_t)i * C;
    }
    layernorm_row(ln + (size_t)i * C, mean + i, rstd + i, src, w, b, C);
    if (fill) memcpy(fill + (size_t)i * fill_w, fill_bias, sizeof(float) * (size_t)fill_w);
  }
}

/* One row of the LayerNorm backward; restrict-qualified so GCC vectorises
 * (six streams are more than it versions a loop for at run time). add:
 * dx += (else =); ps: when not NULL, ps += the resulting dx row. */
static inline void layernorm_backward_row(float *restrict dx, float *restrict pw,
                                          float *restrict pb, float *restrict ps,
                                          const float *restrict x, const float *restrict d,
                                          const float *restrict w, float m, float s, int C,
                                          int add) {
  float dmean = 0.0f, dnmean = 0.0f;
  for (int c = 0; c < C; c++) {
    float norm = (x[c] - m) * s, dn = w[c] * d[c];
    dmean += dn;
    dnmean += dn * norm;
  }
  dmean /= (float)C;
  dnmean /= (float)C;
  if (add) {
    for (int c = 0; c < C; c++) {
      float norm = (x[c] - m) * s, dn = w[c] * d[c];
      pb[c] += d[c];
      pw[c] += norm * d[c];
      dx[c] += (dn - dmean - norm * dnmean) * s;
    }
  } else {
    for (int c = 0; c < C; c++) {
      float norm = (x[c] - m) * s, dn = w[c] * d[c];
      pb[c] += d[c];
      pw[c] += norm * d[c];
      dx[c] = (dn - dmean - norm * dnmean) * s;
    }
  }
  if (ps)
    for (int c = 0; c < C; c++) ps[c] += dx[c];
}

/* dnorm = w * dout; dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm));
 * dw = sum dout * norm, db = sum dout (chunked partials in scratch: each
 * chunk k owns 3C floats, [dw | db | dsum]). */
void tm_k_layernorm_backward(float *dinp, int add, float *dw, float *db, float *dsum,
                             const float *dout, const float *inp, const float *w,
                             const float *mean, const float *rstd, int N, int C, float *scratch) {
#pragma omp parallel for schedule(static)
  for (int k = 0; k < TM_K_CHUNKS; k++) {
    float *pw = scratch + (size_t)k * 3 * C, *pb = pw + C, *ps = dsum ? pw + 2 * C : NULL;
    memset(pw, 0, sizeof(float) * 3 * (size_t)C);
    int lo = (int)((int64_t)N * k / TM_K_CHUNKS), hi = (int)((int64_t)N * (k + 1) / TM_K_CHUNKS);
    for (int i = lo; i < hi; i++)
      layernorm_backward_row(dinp + (size_t)i * C, pw, pb, ps, inp + (size_t)i * C,
                             dout + (size_t)i * C, w, mean[i], rstd[i], C, add);
  }
  for (int k = 0; k < TM_K_CHUNKS; k++) {
    const float *pw = scratch + (size_t)k * 3 * C, *pb = pw + C, *ps = pw + 2 * C;
    for (int c = 0; c < C; c++) {
      dw[c] += pw[c];
      db[c] += pb[c];
    }
    if (dsum)
      for (int c = 0; c < C; c++) dsum[c] += ps[c];
  }
}

void tm_k_layernorm_backward_add(float *dinp, float *dw, float *db, const float *dout,
                                 const float *inp, const float *w, const float *mean,
                                 const float *rstd, int N, int C, float *scratch) {
  tm_k_layernorm_backward(dinp, 1, dw, db, NULL, dout, inp, w, mean, rstd, N, C, scratch);
}

/* ---- linear layers --------------------------------------------------------- */

void tm_k_matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                         int C, int OC) {
  float beta = 0.0f;
  if (bias) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) memcpy(out + (size_t)i * OC, bias, sizeof(float) * (size_t)OC);
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, w, C, beta, out,
              OC);
}

void tm_k_matmul_forward_acc(float *out, const float *inp, const float *w, int N, int C, int OC) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, w, C, 1.0f, out,
              OC);
}

void tm_k_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, int N, int C, int OC, float *scratch) {
  if (dinp)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, w, C, 0.0f,
                dinp, C);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw,
              C);
  if (dbias) colsum_add(dbias, dout, N, OC, OC, scratch);
}

/* ---- GELU (tanh approximation) ---------------------------------------------- */

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

/* gcc vectorises tanhf through glibc's libmvec when asked (omp simd); clang
 * has no vector tanhf and warns that it cannot honour the request. */
#if defined(__clang__)
#define TM_PAR_FOR_TANH _Pragma("omp parallel for schedule(static)")
#else
#define TM_PAR_FOR_TANH _Pragma("omp parallel for simd schedule(static)")
#endif

void tm_k_gelu_forward(float *out, const float *inp, size_t n) {
  TM_PAR_FOR_TANH
  for (size_t i = 0; i < n; i++) {
    float x = inp[i];
    float u = GELU_SCALE * (x + 0.044715f * x * x * x);
    out[i] = 0.5f * x * (1.0f + tanhf(u));
  }
}

#if defined(__clang__)
#define TM_SIMD_TANH
#else
#define TM_SIMD_TANH _Pragma("omp simd")
#endif

static inline float gelu_grad(float x) {
  float u = GELU_SCALE * (x + 0.044715f * x * x * x);
  float th = tanhf(u);
  float sech2 = 1.0f - th * th;
  return 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
}

void tm_k_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
  TM_PAR_FOR_TANH
  for (size_t i = 0; i < n; i++) dinp[i] = gelu_grad(inp[i]) * dout[i];
}

void tm_k_gelu_backward_bias(float *dinp, float *dbias, const float *inp, const float *dout, int N,
                             int OC, float *scratch) {
#pragma omp parallel for schedule(static)
  for (int k = 0; k < TM_K_CHUNKS; k++) {
    float *part = scratch + (size_t)k * OC;
    memset(part, 0, sizeof(float) * (size_t)OC);
    int lo = (int)((int64_t)N * k / TM_K_CHUNKS), hi = (int)((int64_t)N * (k + 1) / TM_K_CHUNKS);
    for (int i = lo; i < hi; i++) {
      float *dx = dinp + (size_t)i * OC;
      const float *x = inp + (size_t)i * OC, *d = dout + (size_t)i * OC;
      TM_SIMD_TANH
      for (int c = 0; c < OC; c++) dx[c] = gelu_grad(x[c]) * d[c];
      for (int c = 0; c < OC; c++) part[c] += dx[c];
    }
  }
  for (int k = 0; k < TM_K_CHUNKS; k++) {
    const float *part = scratch + (size_t)k * OC;
    for (int c = 0; c < OC; c++) dbias[c] += part[c];
  }
}

/* ---- attention -------------------------------------------------------------
 * Per (b, h), with Q, K, V the (T, hs) slices of qkv (row stride 3C):
 *   S = Q K^T / sqrt(hs)       sgemm
 *   P = causal softmax of S    row t over keys 0..t, zeros above
 *   O = P V                    sgemm into out (row stride C)
 * Causality is used to skip work: the rows are cut into TM_K_ATT_BLOCKS
 * blocks, and row block [r0, r1) only multiplies against keys [0, r1)
 * (62.5% of the full T x T products with 4 blocks). The (b, h) pairs run
 * in parallel; OpenBLAS (OpenMP build) runs sgemm calls made inside a
 * parallel region on the calling thread only. */

static void att_time_add(tm_k_att_time *tt, double other, double total) {
  if (!tt) return;
#pragma omp atomic
  tt->other_s += other;
#pragma omp atomic
  tt->total_s += total;
}

static void causal_softmax_rows(float *S, int T, int r0, int r1) {
  for (int t = r0; t < r1; t++) {
    float *row = S + (size_t)t * T;
    float mx = -FLT_MAX;
    for (int j = 0; j <= t; j++) mx = row[j] > mx ? row[j] : mx;
    float sum = 0.0f;
    for (int j = 0; j <= t; j++) {
      float e = expf(row[j] - mx);
      row[j] = e;
      sum += e;
    }
    float inv = 1.0f / sum;
    for (int j = 0; j <= t; j++) row[j] *= inv;
    for (int j = t + 1; j < T; j++) row[j] = 0.0f;
  }
}

int tm_k_attention_block(int T, int blk, int *r0, int *r1) {
  int bs = (T + TM_K_ATT_BLOCKS - 1) / TM_K_ATT_BLOCKS;
  *r0 = blk * bs;
  *r1 = *r0 + bs < T ? *r0 + bs : T;
  return *r0 < T;
}

void tm_k_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C,
                            int NH, tm_k_att_time *tt) {
  int hs = C / NH, C3 = 3 * C;
  float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel
  {
  double t_other = 0.0, t_start = tt ? tm_now_s() : 0.0;
#pragma omp for schedule(static) nowait
  for (int bh = 0; bh < B * NH; bh++) {
    int b = bh / NH, h = bh % NH;
    const float *q = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float *k = q + C, *v = q + 2 * C;
    float *S = att + (size_t)bh * T * T;
    float *o = out + (size_t)b * T * C + (size_t)h * hs;
    int r0, r1;
    for (int blk = 0; tm_k_attention_block(T, blk, &r0, &r1); blk++) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, r1, hs, scale,
                  q + (size_t)r0 * C3, C3, k, C3, 0.0f, S + (size_t)r0 * T, T);
      double t0 = tt ? tm_now_s() : 0.0;
      causal_softmax_rows(S, T, r0, r1);
      if (tt) t_other += tm_now_s() - t0;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, hs, r1, 1.0f,
                  S + (size_t)r0 * T, T, v, C3, 0.0f, o + (size_t)r0 * C, C);
    }
  }
  if (tt) att_time_add(tt, t_other, tm_now_s() - t_start);
  }
}

size_t tm_k_attention_scratch_floats(int T) { return (size_t)T * T; }

/* Per row block [r0, r1), last block first (it covers every key row, so its
 * dK/dV products overwrite and the others accumulate):
 *   dP = dO V^T; dS = P * (dP - rowsum(P * dP)) (causal part);
 *   dQ = dS K / sqrt(hs); dK += dS^T Q / sqrt(hs); dV += P^T dO. */
void tm_k_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                             int B, int T, int C, int NH, float *scratch, float *dbias,
                             float *bscratch, tm_k_att_time *tt) {
  int hs = C / NH, C3 = 3 * C;
  float scale = 1.0f / sqrtf((float)hs);
  int nblk = 0, r0, r1;
  while (tm_k_attention_block(T, nblk, &r0, &r1)) nblk++;
#pragma omp parallel
  {
  double t_other = 0.0, t_start = tt ? tm_now_s() : 0.0;
#pragma omp for schedule(static) nowait
  for (int bh = 0; bh < B * NH; bh++) {
    int tid = 0;
#ifdef _OPENMP
    tid = omp_get_thread_num();
#endif
    float *dS = scratch + (size_t)tid * T * T;
    int b = bh / NH, h = bh % NH;
    const float *q = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float *k = q + C, *v = q + 2 * C;
    float *dq = dqkv + (size_t)b * T * C3 + (size_t)h * hs;
    float *dk = dq + C, *dv = dq + 2 * C;
    const float *P = att + (size_t)bh * T * T;
    const float *dO = dout + (size_t)b * T * C + (size_t)h * hs;
    for (int blk = nblk - 1; blk >= 0; blk--) {
      int a0, a1;
      tm_k_attention_block(T, blk, &a0, &a1);
      float beta = blk == nblk - 1 ? 0.0f : 1.0f;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a1 - a0, a1, hs, 1.0f,
                  dO + (size_t)a0 * C, C, v, C3, 0.0f, dS + (size_t)a0 * T, T);
      double t0 = tt ? tm_now_s() : 0.0;
      for (int t = a0; t < a1; t++) {
        const float *p = P + (size_t)t * T;
        float *d = dS + (size_t)t * T;
        float dot = 0.0f;
        for (int j = 0; j <= t; j++) dot += p[j] * d[j];
        for (int j = 0; j <= t; j++) d[j] = p[j] * (d[j] - dot);
        for (int j = t + 1; j < a1; j++) d[j] = 0.0f;
      }
      if (tt) t_other += tm_now_s() - t0;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a1 - a0, hs, a1, scale,
                  dS + (size_t)a0 * T, T, k, C3, 0.0f, dq + (size_t)a0 * C3, C3);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a1, hs, a1 - a0, scale,
                  dS + (size_t)a0 * T, T, q + (size_t)a0 * C3, C3, beta, dk, C3);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a1, hs, a1 - a0, 1.0f,
                  P + (size_t)a0 * T, T, dO + (size_t)a0 * C, C, beta, dv, C3);
    }
    if (dbias) {
      /* this (b, h)'s column sums of dq, dk, dv while they are in cache */
      double t0 = tt ? tm_now_s() : 0.0;
      float *pq = bscratch + (size_t)b * C3 + (size_t)h * hs, *pk = pq + C, *pv = pq + 2 * C;
      memset(pq, 0, sizeof(float) * (size_t)hs);
      memset(pk, 0, sizeof(float) * (size_t)hs);
      memset(pv, 0, sizeof(float) * (size_t)hs);
      for (int t = 0; t < T; t++) {
        const float *rq = dq + (size_t)t * C3, *rk = dk + (size_t)t * C3, *rv = dv + (size_t)t * C3;
        for (int j = 0; j < hs; j++) {
          pq[j] += rq[j];
          pk[j] += rk[j];
          pv[j] += rv[j];
        }
      }
      if (tt) t_other += tm_now_s() - t0;
    }
  }
  if (tt) att_time_add(tt, t_other, tm_now_s() - t_start);
  if (dbias) {
#pragma omp barrier
#pragma omp for schedule(static)
    for (int c = 0; c < C3; c++) {
      float acc = 0.0f;
      for (int b = 0; b < B; b++) acc += bscratch[(size_t)b * C3 + c];
      dbias[c] += acc;
    }
  }
  }
}

/* ---- softmax + cross-entropy ------------------------------------------------ */

void tm_k_softmax_crossentropy_forward(float *logits, float *inv_sum, float *losses,
                                       const int32_t *targets, int N, int V) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; i++) {
    float *p = logits + (size_t)i * V;
    float mx = -FLT_MAX;
    for (int j = 0; j < V; j++) mx = p[j] > mx ? p[j] : mx;
    /* loss = log(sum exp(x - mx)) - (x_target - mx): no log of a tiny p */
    float lt = p[targets[i]] - mx;
    float sum = 0.0f;
    for (int j = 0; j < V; j++) {
      float e = expf(p[j] - mx);
      p[j] = e;
      sum += e;
    }
    inv_sum[i] = 1.0f / sum;
    losses[i] = logf(sum) - lt;
  }
}

void tm_k_softmax_crossentropy_backward(float *exps, const float *inv_sum,
                                        const int32_t *targets, int N, int V, float dloss) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; i++) {
    float *p = exps + (size_t)i * V;
    float s = inv_sum[i] * dloss;
    for (int j = 0; j < V; j++) p[j] *= s;
    p[targets[i]] -= dloss;
  }
}

/* ---- the tied head through the cross-entropy (see gpt_kernels.h) ------- */

void tm_k_head_crossentropy_prepare(float *scaled, const float *inp, const float *inv_sum,
                                    float dloss, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; i++) {
    float s = inv_sum[i] * dloss;
    const float *x = inp + (size_t)i * C;
    float *o = scaled + (size_t)i * C;
    for (int c = 0; c < C; c++) o[c] = x[c] * s;
  }
}

void tm_k_head_crossentropy_finish(float *dinp, float *dw, const float *inp, const float *w,
                                   const float *inv_sum, const int32_t *targets, float dloss,
                                   int N, int C) {
  int nc = (C + 15) / 16;
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int i = 0; i < N; i++) {
      float s = inv_sum[i] * dloss;
      float *d = dinp + (size_t)i * C;
      const float *wt = w + (size_t)targets[i] * C;
      for (int c = 0; c < C; c++) d[c] = d[c] * s - dloss * wt[c];
    }
    /* dW[t_i] -= dloss inp_i: targets repeat, so each thread owns columns
     * and walks the rows in order */
#pragma omp for schedule(static)
    for (int k = 0; k < nc; k++) {
      int c0 = k * 16, c1 = c0 + 16 < C ? c0 + 16 : C;
      for (int i = 0; i < N; i++) {
        float *g = dw + (size_t)targets[i] * C;
        const float *x = inp + (size_t)i * C;
        for (int c = c0; c < c1; c++) g[c] -= dloss * x[c];
      }
    }
  }
}
