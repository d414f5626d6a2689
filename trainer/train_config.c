/* train_config.c - the keys of `tokenmill-train run`; see train_config.h. */
#include "train_config.h"

#include <stdio.h>
#include <string.h>

const tm_config_key tm_train_config_keys[] = {
    {"model", "layers", TM_CFG_INT, "2", "transformer blocks (L)"},
    {"model", "d_model", TM_CFG_INT, "128", "embedding width (C)"},
    {"model", "heads", TM_CFG_INT, "4", "attention heads (C must be a multiple)"},
    {"model", "seq_len", TM_CFG_INT, "0", "context length T; 0 = the ring's (file/synthetic data: 256)"},
    {"model", "vocab_size", TM_CFG_INT, "0", "vocabulary; 0 = the ring's or the tokenizer's"},
    {"train", "batch", TM_CFG_INT, "8", "sequences per micro-batch (B); a ring's B must match"},
    {"train", "grad_accum", TM_CFG_INT, "1", "micro-batches per optimizer step"},
    {"train", "steps", TM_CFG_INT, "1000", "optimizer steps (the schedule's length)"},
    {"train", "lr", TM_CFG_FLOAT, "3e-4", "peak learning rate"},
    {"train", "schedule", TM_CFG_STR, "cosine", "constant, linear, cosine or wsd (warmup-stable-decay)"},
    {"train", "warmup", TM_CFG_INT, "100", "linear warmup steps"},
    {"train", "final_lr_frac", TM_CFG_FLOAT, "0.1", "final learning rate as a fraction of lr"},
    {"train", "wsd_decay_frac", TM_CFG_FLOAT, "0.2", "wsd: fraction of the post-warmup steps spent decaying"},
    {"train", "weight_decay", TM_CFG_FLOAT, "0.1", "AdamW decoupled weight decay (matmul weights only)"},
    {"train", "decay_embeddings", TM_CFG_BOOL, "false", "also decay the token/position embeddings"},
    {"train", "beta1", TM_CFG_FLOAT, "0.9", "AdamW beta1"},
    {"train", "beta2", TM_CFG_FLOAT, "0.95", "AdamW beta2"},
    {"train", "eps", TM_CFG_FLOAT, "1e-8", "AdamW epsilon"},
    {"train", "grad_clip", TM_CFG_FLOAT, "1.0", "clip the global gradient norm to this; 0 = off"},
    {"train", "seed", TM_CFG_INT, "1337", "initialisation, data order and RNG seed"},
    {"train", "threads", TM_CFG_INT, "1", "threads for OpenBLAS and the kernels (one OpenMP pool)"},
    {"train", "out_dir", TM_CFG_STR, "train-out", "checkpoints, metrics.jsonl, loss.svg"},
    {"train", "log_every", TM_CFG_INT, "10", "log a step line every N steps"},
    {"data", "source", TM_CFG_STR, "ring", "ring (tokenmill feed), file or synthetic"},
    {"data", "train_file", TM_CFG_STR, "", "token file (llm.c .bin or raw uint16) for source=file"},
    {"data", "val_file", TM_CFG_STR, "", "validation token file (the feeder's validation split); empty = no eval"},
    {"data", "ring_name", TM_CFG_STR, "train", "ring name for source=ring (/tokenmill.NAME.RANK)"},
    {"data", "val_ring", TM_CFG_STR, "", "validation ring (the feeder's validation split, --split val); its first eval.batches batches are read once and reused"},
    {"data", "ring_rank", TM_CFG_INT, "0", "ring rank"},
    {"data", "ring_wait_s", TM_CFG_INT, "60", "give up after waiting this long for the ring or a batch"},
    {"data", "tokenizer", TM_CFG_STR, "", "tokenizer.json: vocabulary size and hash check"},
    {"eval", "every", TM_CFG_INT, "100", "evaluate every N steps (and at the end); 0 = never"},
    {"eval", "batches", TM_CFG_INT, "8", "validation batches per evaluation"},
    {"eval", "patience", TM_CFG_INT, "0", "early stop after N evaluations without improvement; 0 = off"},
    {"eval", "min_delta", TM_CFG_FLOAT, "0.0", "an improvement must lower the best validation loss by more"},
    {"checkpoint", "every", TM_CFG_INT, "500", "checkpoint every N steps (and on SIGTERM/SIGINT, and at the end)"},
    {"checkpoint", "keep", TM_CFG_INT, "3", "keep the newest N checkpoints (best.tmc is kept apart)"},
    {NULL, NULL, 0, NULL, NULL},
};

static int range(tm_error *err, const char *sec, const char *key, int64_t v, int64_t lo,
                 int64_t hi) {
  if (v < lo || v > hi)
    return tm_err(err, TM_EINVAL, "[%s] %s = %lld: must be in [%lld, %lld]", sec, key,
                  (long long)v, (long long)lo, (long long)hi);
  return 0;
}

static int copy_str(tm_error *err, char *dst, size_t cap, const tm_config *c, const char *sec,
                    const char *key) {
  const char *s = tm_config_str(c, sec, key);
  if (strlen(s) >= cap) return tm_err(err, TM_EINVAL, "[%s] %s: value too long", sec, key);
  memcpy(dst, s, strlen(s) + 1);
  return 0;
}

int tm_train_options_from_config(const tm_config *c, tm_train_options *o, tm_error *err) {
  memset(o, 0, sizeof *o);
  int64_t v;
  int rc = 0;
#define INT(sec, key, lo, hi, dst)                                   \
  do {                                                               \
    v = tm_config_int(c, sec, key);                                  \
    if ((rc = range(err, sec, key, v, lo, hi)) < 0) return rc;       \
    dst = v;                                                         \
  } while (0)
  INT("model", "layers", 1, 1024, o->model.n_layer);
  INT("model", "d_model", 1, 65536, o->model.d_model);
  INT("model", "heads", 1, 65536, o->model.n_head);
  INT("model", "seq_len", 0, 65536, o->model.max_seq_len);
  INT("model", "vocab_size", 0, 1 << 24, o->model.vocab_size);
  INT("train", "batch", 1, 1 << 16, o->batch);
  INT("train", "grad_accum", 1, 1 << 16, o->grad_accum);
  INT("train", "steps", 1, INT64_MAX / 2, o->steps);
  INT("train", "warmup", 0, INT64_MAX / 2, o->sched.warmup);
  INT("train", "threads", 1, 1024, o->threads);
  INT("train", "log_every", 1, INT32_MAX, o->log_every);
  INT("data", "ring_rank", 0, 1 << 20, o->ring_rank);
  INT("data", "ring_wait_s", 0, 1 << 20, o->ring_wait_ms);
  o->ring_wait_ms *= 1000;
  INT("eval", "every", 0, INT64_MAX / 2, o->eval_every);
  INT("eval", "batches", 1, 1 << 20, o->eval_batches);
  INT("eval", "patience", 0, 1 << 20, o->patience);
  INT("checkpoint", "every", 0, INT64_MAX / 2, o->ckpt_every);
  INT("checkpoint", "keep", 1, 1 << 20, o->ckpt_keep);
#undef INT
  if (o->model.d_model % o->model.n_head)
    return tm_err(err, TM_EINVAL, "[model] d_model = %d is not a multiple of heads = %d",
                  o->model.d_model, o->model.n_head);
  o->sched.lr = tm_config_float(c, "train", "lr");
  o->sched.final_frac = tm_config_float(c, "train", "final_lr_frac");
  o->sched.decay_frac = tm_config_float(c, "train", "wsd_decay_frac");
  o->sched.total = o->steps;
  if ((rc = tm_schedule_parse(tm_config_str(c, "train", "schedule"), &o->sched.kind, err)) < 0)
    return tm_err_prefix(err, "[train] schedule");
  if ((rc = tm_schedule_check(&o->sched, err)) < 0) return tm_err_prefix(err, "[train]");
  o->weight_decay = tm_config_float(c, "train", "weight_decay");
  o->beta1 = tm_config_float(c, "train", "beta1");
  o->beta2 = tm_config_float(c, "train", "beta2");
  o->eps = tm_config_float(c, "train", "eps");
  o->grad_clip = tm_config_float(c, "train", "grad_clip");
  if (!(o->weight_decay >= 0) || !(o->beta1 >= 0 && o->beta1 < 1) ||
      !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps > 0) || !(o->grad_clip >= 0))
    return tm_err(err, TM_EINVAL, "[train] need weight_decay >= 0, beta1/beta2 in [0,1), "
                  "eps > 0, grad_clip >= 0");
  o->decay_embeddings = tm_config_bool(c, "train", "decay_embeddings");
  o->seed = (uint64_t)tm_config_int(c, "train", "seed");
  o->min_delta = tm_config_float(c, "eval", "min_delta");
  if (!(o->min_delta >= 0)) return tm_err(err, TM_EINVAL, "[eval] min_delta must be >= 0");
  const char *src = tm_config_str(c, "data", "source");
  if (!strcmp(src, "file")) o->data = TM_DATA_FILE;
  else if (!strcmp(src, "ring")) o->data = TM_DATA_RING;
  else if (!strcmp(src, "synthetic")) o->data = TM_DATA_SYNTHETIC;
  else return tm_err(err, TM_EINVAL, "[data] source = '%s': expected ring, file or synthetic", src);
  if ((rc = copy_str(err, o->out_dir, sizeof o->out_dir, c, "train", "out_dir")) < 0 ||
      (rc = copy_str(err, o->train_file, sizeof o->train_file, c, "data", "train_file")) < 0 ||
      (rc = copy_str(err, o->val_file, sizeof o->val_file, c, "data", "val_file")) < 0 ||
      (rc = copy_str(err, o->ring_name, sizeof o->ring_name, c, "data", "ring_name")) < 0 ||
      (rc = copy_str(err, o->val_ring, sizeof o->val_ring, c, "data", "val_ring")) < 0 ||
      (rc = copy_str(err, o->tokenizer, sizeof o->tokenizer, c, "data", "tokenizer")) < 0)
    return rc;
  if (o->data == TM_DATA_FILE && !o->train_file[0])
    return tm_err(err, TM_EINVAL, "[data] source = file needs train_file");
  if (!o->out_dir[0]) return tm_err(err, TM_EINVAL, "[train] out_dir is empty");
  return 0;
}
