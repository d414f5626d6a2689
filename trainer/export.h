/* export.h - a checkpoint's model in formats other tools read.
 *
 * llm.c (karpathy/llm.c train_gpt2.c, checkpoint version 3): an int32[256]
 * header {20240326, 3, maxT, V, L, NH, C, Vp, 0...} then the 16 fp32 tensors
 * in llm.c's order (our own order: gpt.h), wte padded with zero rows to Vp
 * = V rounded up to a multiple of 128.
 *
 * safetensors + config.json in HuggingFace transformers' GPT-2 naming
 * (GPT2LMHeadModel; "transformer.h.0.attn.c_attn.weight", ...). GPT-2's
 * Conv1D stores linear weights as (in, out), so qkvw, attprojw, fcw and
 * fcprojw are written transposed; the head is tied to wte (no lm_head
 * tensor, "tie_word_embeddings": true); activation "gelu_new" is the tanh
 * GELU we train with. Both outputs are published atomically. */
#ifndef TM_EXPORT_H
#define TM_EXPORT_H

#include "error.h"
#include "gpt.h"

int tm_export_llmc(const char *path, const tm_gpt_config *cfg, const float *params,
                   tm_error *err);
/* Writes DIR/model.safetensors and DIR/config.json (DIR is created). */
int tm_export_safetensors(const char *dir, const tm_gpt_config *cfg, const float *params,
                          int64_t eot_id, tm_error *err);

#endif
