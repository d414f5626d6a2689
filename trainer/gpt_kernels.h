/* gpt_kernels.h - the layers of the GPT model as forward/backward pairs.
 *
 * Shapes follow karpathy/llm.c: N = B*T rows of C channels, row-major.
 * Every matmul is a cblas_sgemm; the element-wise loops run over rows with
 * OpenMP (`omp parallel for`, static schedule). Exposed for gradient-check
 * tests; the model (gpt.c) is the only other user. The model calls the
 * fused forms (residual + LayerNorm + bias fill, GELU backward + bias sums,
 * LayerNorm backward + residual sums, the head through the cross-entropy);
 * the plain forms are kept as their references in the tests.
 *
 * Conventions for backward functions:
 *   - parameter gradients (dw, db, dwte, ...) are ACCUMULATED (+=), so
 *     micro-batches add up;
 *   - the input gradient is OVERWRITTEN (=) unless the name says _add, which
 *     keeps the residual stream in one buffer without memsets.
 * Column sums over rows (bias and LayerNorm gradients) go through
 * TM_K_CHUNKS fixed row chunks summed in order, so results do not depend on
 * the thread count. `scratch` arguments need tm_k_scratch_floats(C) floats.
 */
#ifndef TM_GPT_KERNELS_H
#define TM_GPT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define TM_K_CHUNKS 16

/* floats of scratch the column-sum reductions need for width C (up to
 * three partial sums of width C per chunk) */
size_t tm_k_scratch_floats(int C);

/* out(N,C) = wte[tok] + wpe[t]; tokens (B,T) */
void tm_k_encoder_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                          int B, int T, int C);
/* dwte[tok] += dout, dwpe[t] += dout (serial: rows may share a token) */
void tm_k_encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                           int B, int T, int C);

/* out = (x - mean) * rstd * w + b per row; mean, rstd (N) kept for backward */
void tm_k_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, int N, int C);
/* res = x + proj + pbias (pbias may be NULL; with proj NULL the input is x
 * itself and res is not written), then ln = LayerNorm(res) as above; when
 * fill is not NULL, every row of fill (N, fill_w) is set to fill_bias (the
 * bias of the sgemm that reads ln, which adds its product with beta 1).
 * One parallel region and one pass over the rows instead of four. */
void tm_k_residual_layernorm_forward(float *res, float *ln, float *mean, float *rstd,
                                     const float *x, const float *proj, const float *pbias,
                                     const float *w, const float *b, float *fill,
                                     const float *fill_bias, int fill_w, int N, int C);
/* LayerNorm backward: dinp += (add) or = (!add) the input gradient, dw +=,
 * db +=; when dsum is not NULL, dsum += the column sums of the resulting
 * dinp (the bias gradient of the layer whose output was added into the
 * residual stream that dinp is the gradient of), in the same pass. */
void tm_k_layernorm_backward(float *dinp, int add, float *dw, float *db, float *dsum,
                             const float *dout, const float *inp, const float *w,
                             const float *mean, const float *rstd, int N, int C, float *scratch);
/* dinp += ..., dw += ..., db += ... */
void tm_k_layernorm_backward_add(float *dinp, float *dw, float *db, const float *dout,
                                 const float *inp, const float *w, const float *mean,
                                 const float *rstd, int N, int C, float *scratch);

/* out(N,OC) = inp(N,C) W(OC,C)^T + bias(OC); bias may be NULL */
void tm_k_matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                         int C, int OC);
/* dinp(N,C) = dout W (overwritten; skipped when dinp is NULL);
 * dw += dout^T inp; dbias += column sums of dout (skipped when NULL) */
void tm_k_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, int N, int C, int OC, float *scratch);

/* out(N,OC) += inp(N,C) W(OC,C)^T (sgemm with beta 1: out already holds
 * the bias, written by tm_k_residual_layernorm_forward) */
void tm_k_matmul_forward_acc(float *out, const float *inp, const float *w, int N, int C, int OC);

/* GELU, tanh approximation (as GPT-2) */
void tm_k_gelu_forward(float *out, const float *inp, size_t n);
/* dinp = gelu'(inp) * dout; dinp may alias dout */
void tm_k_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);
/* The same over (N, OC) rows, and dbias += column sums of dinp (the bias
 * gradient of the linear layer that produced inp), in the same pass. */
void tm_k_gelu_backward_bias(float *dinp, float *dbias, const float *inp, const float *dout, int N,
                             int OC, float *scratch);

/* Where attention's time goes (the sgemm calls and the softmax loops are
 * interleaved inside one parallel loop): seconds summed over threads, spent
 * outside sgemm (other_s) and in all (total_s). ADDED to by each call given
 * a non-NULL pointer; other_s / total_s is the non-matmul fraction. */
typedef struct tm_k_att_time {
  double other_s, total_s;
} tm_k_att_time;

/* Causal multi-head attention. qkv (B,T,3C) holds q | k | v per row, head h
 * at channels h*hs..; att (B,NH,T,T) receives the softmax probabilities
 * (zero above the diagonal); out (B,T,C). tt may be NULL. */
void tm_k_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C,
                            int NH, tm_k_att_time *tt);
/* dqkv (B,T,3C) overwritten; scratch needs tm_k_attention_scratch_floats(T)
 * floats per OpenMP thread (omp_get_max_threads()). tt may be NULL.
 * When dbias is not NULL, dbias (3C) += the column sums of dqkv (the qkv
 * bias gradient), each (b, h) summing its own slices while they are in
 * cache into bscratch (B * 3C floats), then added over b in order. */
void tm_k_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                             int B, int T, int C, int NH, float *scratch, float *dbias,
                             float *bscratch, tm_k_att_time *tt);
size_t tm_k_attention_scratch_floats(int T);
/* Row blocks of the causal attention: block blk is rows [*r0, *r1); returns
 * 0 past the last block. Row block [r0, r1) attends to keys [0, r1). */
#define TM_K_ATT_BLOCKS 4
int tm_k_attention_block(int T, int blk, int *r0, int *r1);

/* In place: logits (N,V) -> exp(logit - row max), unnormalised (the
 * probabilities are exps * inv_sum[row]); losses[i] = -log p[target[i]].
 * One pass fewer than normalising: backward folds the 1/sum in. */
void tm_k_softmax_crossentropy_forward(float *logits, float *inv_sum, float *losses,
                                       const int32_t *targets, int N, int V);
/* In place: exps -> dlogits = (exps * inv_sum - onehot(target)) * dloss */
void tm_k_softmax_crossentropy_backward(float *exps, const float *inv_sum,
                                        const int32_t *targets, int N, int V, float dloss);

/* The tied head's backward (logits = inp W^T, W (V,C)) through the
 * cross-entropy WITHOUT forming dlogits, which would be one more pass over
 * the N x V exps. With s_i = inv_sum[i] * dloss, dlogits_i = s_i exps_i -
 * dloss onehot(t_i), so
 *   dinp_i = s_i (exps_i W) - dloss W[t_i]
 *   dW    += exps^T (diag(s) inp) - dloss sum_i onehot(t_i)^T inp_i.
 * The caller runs, between the two halves,
 *   tm_k_matmul_backward(dinp, dW, NULL, exps, scaled, W, N, C, V, NULL):
 * _prepare writes scaled = diag(s) inp (N,C); _finish scales the dinp rows
 * and applies the one-hot terms (dW rows in row order: deterministic). */
void tm_k_head_crossentropy_prepare(float *scaled, const float *inp, const float *inv_sum,
                                    float dloss, int N, int C);
void tm_k_head_crossentropy_finish(float *dinp, float *dw, const float *inp, const float *w,
                                   const float *inv_sum, const int32_t *targets, float dloss,
                                   int N, int C);

#endif
