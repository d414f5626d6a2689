/* export.c - llm.c and safetensors exports; see export.h. */
#include "export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

int tm_export_llmc(const char *path, const tm_gpt_config *cfg, const float *params,
                   tm_error *err) {
  int Vp = (cfg->vocab_size + 127) / 128 * 128;
  size_t n = tm_gpt_num_params(cfg), C = (size_t)cfg->d_model;
  size_t pad = (size_t)(Vp - cfg->vocab_size) * C;
  size_t bytes = 1024 + (n + pad) * sizeof(float);
  uint8_t *buf = calloc(1, bytes);
  if (!buf) return tm_err(err, TM_ENOMEM, "%s: out of memory", path);
  int32_t h[256] = {20240326, 3, cfg->max_seq_len, cfg->vocab_size, cfg->n_layer,
                    cfg->n_head, cfg->d_model, Vp};
  memcpy(buf, h, sizeof h);
  size_t wte = (size_t)cfg->vocab_size * C;
  float *out = (float *)(buf + 1024);
  memcpy(out, params, wte * sizeof(float)); /* then pad rows stay zero */
  memcpy(out + wte + pad, params + wte, (n - wte) * sizeof(float));
  int rc = tm_io_write_file_atomic(path, buf, bytes, "export", err);
  free(buf);
  return rc;
}

typedef struct st_tensor {
  char name[96];
  int rows, cols; /* cols 0: 1-D */
  const float *src;
  int transpose;  /* src is (cols, rows): write its transpose */
} st_tensor;

int tm_export_safetensors(const char *dir, const tm_gpt_config *cfg, const float *params,
                          int64_t eot_id, tm_error *err) {
  int rc = tm_io_mkdirs(dir, err);
  if (rc < 0) return rc;
  tm_gpt_params p;
  tm_gpt_params_view(cfg, (float *)params, &p);
  int L = cfg->n_layer, C = cfg->d_model, V = cfg->vocab_size, T = cfg->max_seq_len;
  int nt = 4 + 12 * L;
  st_tensor *t = calloc((size_t)nt, sizeof *t);
  if (!t) return tm_err(err, TM_ENOMEM, "export: out of memory");
  int k = 0;
#define ADD(nm, r, c, s, tr)                                     \
  do {                                                           \
    snprintf(t[k].name, sizeof t[k].name, "%s", nm);             \
    t[k].rows = r;                                               \
    t[k].cols = c;                                               \
    t[k].src = s;                                                \
    t[k].transpose = tr;                                         \
    k++;                                                         \
  } while (0)
  ADD("transformer.wte.weight", V, C, p.wte, 0);
  ADD("transformer.wpe.weight", T, C, p.wpe, 0);
  for (int l = 0; l < L; l++) {
    char nm[96];
    size_t cc = (size_t)C * C;
#define LAYER(suffix, r, c, s, tr)                               \
  do {                                                           \
    snprintf(nm, sizeof nm, "transformer.h.%d.%s", l, suffix);   \
    ADD(nm, r, c, s, tr);                                        \
  } while (0)
    LAYER("ln_1.weight", C, 0, p.ln1w + (size_t)l * C, 0);
    LAYER("ln_1.bias", C, 0, p.ln1b + (size_t)l * C, 0);
    LAYER("attn.c_attn.weight", C, 3 * C, p.qkvw + 3 * cc * l, 1);
    LAYER("attn.c_attn.bias", 3 * C, 0, p.qkvb + (size_t)3 * C * l, 0);
    LAYER("attn.c_proj.weight", C, C, p.attprojw + cc * l, 1);
    LAYER("attn.c_proj.bias", C, 0, p.attprojb + (size_t)l * C, 0);
    LAYER("ln_2.weight", C, 0, p.ln2w + (size_t)l * C, 0);
    LAYER("ln_2.bias", C, 0, p.ln2b + (size_t)l * C, 0);
    LAYER("mlp.c_fc.weight", C, 4 * C, p.fcw + 4 * cc * l, 1);
    LAYER("mlp.c_fc.bias", 4 * C, 0, p.fcb + (size_t)4 * C * l, 0);
    LAYER("mlp.c_proj.weight", 4 * C, C, p.fcprojw + 4 * cc * l, 1);
    LAYER("mlp.c_proj.bias", C, 0, p.fcprojb + (size_t)l * C, 0);
#undef LAYER
  }
  ADD("transformer.ln_f.weight", C, 0, p.lnfw, 0);
  ADD("transformer.ln_f.bias", C, 0, p.lnfb, 0);
#undef ADD
  /* header JSON */
  size_t hcap = (size_t)nt * 200 + 256, hl = 0, off = 0;
  char *hdr = malloc(hcap);
  if (!hdr) {
    free(t);
    return tm_err(err, TM_ENOMEM, "export: out of memory");
  }
  hl += (size_t)snprintf(hdr + hl, hcap - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
  for (int i = 0; i < nt; i++) {
    size_t cnt = (size_t)t[i].rows * (t[i].cols ? (size_t)t[i].cols : 1);
    if (t[i].cols)
      hl += (size_t)snprintf(hdr + hl, hcap - hl,
                             ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}",
                             t[i].name, t[i].rows, t[i].cols, off, off + cnt * 4);
    else
      hl += (size_t)snprintf(hdr + hl, hcap - hl,
                             ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]}",
                             t[i].name, t[i].rows, off, off + cnt * 4);
    off += cnt * 4;
  }
  hl += (size_t)snprintf(hdr + hl, hcap - hl, "}");
  while (hl % 8) hdr[hl++] = ' '; /* pad the header so the data is 8-byte aligned */
  size_t total = 8 + hl + off;
  uint8_t *buf = malloc(total);
  if (!buf) {
    free(hdr);
    free(t);
    return tm_err(err, TM_ENOMEM, "export: out of memory");
  }
  uint64_t hl64 = hl;
  memcpy(buf, &hl64, 8);
  memcpy(buf + 8, hdr, hl);
  float *d = (float *)(buf + 8 + hl);
  for (int i = 0; i < nt; i++) {
    size_t r = (size_t)t[i].rows, c = t[i].cols ? (size_t)t[i].cols : 1;
    if (t[i].transpose) /* out (r, c) = src (c, r)^T */
      for (size_t a = 0; a < r; a++)
        for (size_t b = 0; b < c; b++) d[a * c + b] = t[i].src[b * r + a];
    else
      memcpy(d, t[i].src, r * c * sizeof(float));
    d += r * c;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  rc = tm_io_write_file_atomic(path, buf, total, "export", err);
  free(buf);
  free(hdr);
  free(t);
  if (rc < 0) return rc;
  char cfgjson[2048];
  long long eot = eot_id >= 0 ? eot_id : V - 1;
  int n = snprintf(cfgjson, sizeof cfgjson,
                   "{\n  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"model_type\": \"gpt2\",\n"
                   "  \"vocab_size\": %d,\n  \"n_positions\": %d,\n  \"n_ctx\": %d,\n"
                   "  \"n_embd\": %d,\n  \"n_layer\": %d,\n  \"n_head\": %d,\n"
                   "  \"n_inner\": null,\n  \"activation_function\": \"gelu_new\",\n"
                   "  \"layer_norm_epsilon\": 1e-05,\n  \"resid_pdrop\": 0.0,\n"
                   "  \"embd_pdrop\": 0.0,\n  \"attn_pdrop\": 0.0,\n"
                   "  \"initializer_range\": 0.02,\n  \"scale_attn_weights\": true,\n"
                   "  \"tie_word_embeddings\": true,\n  \"bos_token_id\": %lld,\n"
                   "  \"eos_token_id\": %lld,\n  \"torch_dtype\": \"float32\"\n}\n",
                   V, T, T, C, L, cfg->n_head, eot, eot);
  snprintf(path, sizeof path, "%s/config.json", dir);
  return tm_io_write_file_atomic(path, cfgjson, (size_t)n, "export", err);
}
