/* train_config.h - the configuration of `tokenmill-train run`.
 *
 * One INI file (common/config.h), sections [model], [train], [data], [eval],
 * [checkpoint]; every key with its default and help in
 * tm_train_config_keys (`tokenmill-train run --print-config` prints them).
 * tm_train_options is the parsed, validated form the training loop uses. */
#ifndef TM_TRAIN_CONFIG_H
#define TM_TRAIN_CONFIG_H

#include <stdint.h>

#include "config.h"
#include "error.h"
#include "gpt.h"
#include "schedule.h"

extern const tm_config_key tm_train_config_keys[];

typedef enum { TM_DATA_FILE, TM_DATA_RING, TM_DATA_SYNTHETIC } tm_data_kind;

typedef struct tm_train_options {
  tm_gpt_config model; /* vocab_size / max_seq_len 0 = take them from the data */
  int batch, grad_accum, threads, log_every;
  int64_t steps;
  tm_schedule sched;
  double weight_decay, beta1, beta2, eps, grad_clip;
  int decay_embeddings;
  uint64_t seed;
  char out_dir[1024];
  tm_data_kind data;
  char train_file[1024], val_file[1024], ring_name[256], val_ring[256], tokenizer[1024];
  unsigned ring_rank;
  int ring_wait_ms;
  int64_t eval_every, eval_batches, patience;
  double min_delta;
  int64_t ckpt_every, ckpt_keep;
} tm_train_options;

/* Read and validate every key; -TM_EINVAL naming the key on a bad value. */
int tm_train_options_from_config(const tm_config *c, tm_train_options *o, tm_error *err);

#endif
