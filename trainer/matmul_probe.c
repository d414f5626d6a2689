/* matmul_probe.c - the sgemm calls of one step, alone; see matmul_probe.h.
 * Keep in step with gpt.c / gpt_kernels.c: the same calls in the same order. */
#include "matmul_probe.h"

#include "gpt_kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

struct tm_matmul_probe {
  tm_gpt_config cfg;
  int B, T;
  float *big, *mid, *w, *qkv, *att, *dS, *out; /* scratch, contents irrelevant */
};

static float *zalloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

tm_matmul_probe *tm_matmul_probe_create(const tm_gpt_config *cfg, int B, int T, tm_error *err) {
  if (tm_gpt_config_check(cfg, err) < 0) return NULL;
  tm_matmul_probe *p = calloc(1, sizeof *p);
  if (!p) goto oom;
  p->cfg = *cfg;
  p->B = B;
  p->T = T;
  size_t N = (size_t)B * T, C = (size_t)cfg->d_model, V = (size_t)cfg->vocab_size;
  size_t wide = V > 4 * C ? V : 4 * C;
  p->big = zalloc(N * wide);
  p->mid = zalloc(N * 4 * C);
  p->w = zalloc(wide * C);
  p->qkv = zalloc(N * 3 * C);
  p->att = zalloc((size_t)B * cfg->n_head * T * T);
  p->out = zalloc(N * 3 * C);
  p->dS = zalloc((size_t)64 * T * T);
  if (!p->big || !p->mid || !p->w || !p->qkv || !p->att || !p->out || !p->dS) goto oom;
  return p;
oom:
  tm_err(err, TM_ENOMEM, "matmul probe: out of memory");
  tm_matmul_probe_free(p);
  return NULL;
}

void tm_matmul_probe_free(tm_matmul_probe *p) {
  if (!p) return;
  free(p->big);
  free(p->mid);
  free(p->w);
  free(p->qkv);
  free(p->att);
  free(p->out);
  free(p->dS);
  free(p);
}

/* forward y(N,OC) = x(N,C) W^T + beta y (beta 1 where the bias was written
 * into y first, 0 where it is added after); backward dx = dy W, dW += dy^T x */
static void linear_fwd(tm_matmul_probe *p, int N, int C, int OC, float beta) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, p->mid, C, p->w, C, beta,
              p->big, OC);
}
static void linear_bwd(tm_matmul_probe *p, int N, int C, int OC) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, p->big, OC, p->w, C, 0.0f,
              p->mid, C);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, p->big, OC, p->mid, C, 1.0f,
              p->w, C);
}

static void attention(tm_matmul_probe *p, int backward) {
  int B = p->B, T = p->T, C = p->cfg.d_model, NH = p->cfg.n_head, hs = C / NH, C3 = 3 * C;
  int nblk = 0, r0, r1;
  while (tm_k_attention_block(T, nblk, &r0, &r1)) nblk++;
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; bh++) {
    int b = bh / NH, h = bh % NH;
    const float *q = p->qkv + (size_t)b * T * C3 + (size_t)h * hs, *k = q + C, *v = q + 2 * C;
    float *S = p->att + (size_t)bh * T * T;
    float *o = p->mid + (size_t)b * T * C + (size_t)h * hs;
    int tid = 0;
#ifdef _OPENMP
    tid = omp_get_thread_num() % 64;
#endif
    float *dS = p->dS + (size_t)tid * T * T;
    float *dq = p->out + (size_t)b * T * C3 + (size_t)h * hs, *dk = dq + C, *dv = dq + 2 * C;
    for (int i = 0; i < nblk; i++) {
      int a0, a1;
      tm_k_attention_block(T, backward ? nblk - 1 - i : i, &a0, &a1);
      if (!backward) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a1 - a0, a1, hs, 1.0f,
                    q + (size_t)a0 * C3, C3, k, C3, 0.0f, S + (size_t)a0 * T, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a1 - a0, hs, a1, 1.0f,
                    S + (size_t)a0 * T, T, v, C3, 0.0f, o + (size_t)a0 * C, C);
      } else {
        float beta = i == 0 ? 0.0f : 1.0f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a1 - a0, a1, hs, 1.0f,
                    o + (size_t)a0 * C, C, v, C3, 0.0f, dS + (size_t)a0 * T, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a1 - a0, hs, a1, 1.0f,
                    dS + (size_t)a0 * T, T, k, C3, 0.0f, dq + (size_t)a0 * C3, C3);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a1, hs, a1 - a0, 1.0f,
                    dS + (size_t)a0 * T, T, q + (size_t)a0 * C3, C3, beta, dk, C3);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a1, hs, a1 - a0, 1.0f,
                    S + (size_t)a0 * T, T, o + (size_t)a0 * C, C, beta, dv, C3);
      }
    }
  }
}

void tm_matmul_probe_run(tm_matmul_probe *p) {
  int N = p->B * p->T, C = p->cfg.d_model, V = p->cfg.vocab_size, L = p->cfg.n_layer;
  for (int l = 0; l < L; l++) {
    linear_fwd(p, N, C, 3 * C, 1.0f);
    attention(p, 0);
    linear_fwd(p, N, C, C, 0.0f);
    linear_fwd(p, N, C, 4 * C, 1.0f);
    linear_fwd(p, N, 4 * C, C, 0.0f);
  }
  linear_fwd(p, N, C, V, 0.0f);
  linear_bwd(p, N, C, V);
  for (int l = L - 1; l >= 0; l--) {
    linear_bwd(p, N, 4 * C, C);
    linear_bwd(p, N, C, 4 * C);
    linear_bwd(p, N, C, C);
    attention(p, 1);
    linear_bwd(p, N, C, 3 * C);
  }
}
