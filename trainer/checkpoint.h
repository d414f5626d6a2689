/* checkpoint.h - training checkpoints: one file, written atomically.
 *
 * Layout (little-endian, this host's float format):
 *   header  512 bytes: magic "TMCKPT\0\1", version, the model config, step,
 *           AdamW step count, RNG state, data cursor, tokenizer hash, the
 *           early-stopping state, the parameter count, flags, an XXH3-64 of
 *           the payload, and an XXH3-64 of the header itself (last 8 bytes)
 *   payload parameters (n floats) then, when flags has TM_CKPT_HAS_OPT, the
 *           AdamW moments (m then v, 2n floats): the three flat buffers,
 *           written as they are in memory
 * Written as PATH.tmp, fsync'd, renamed, directory fsync'd (tm_io, site
 * "checkpoint"): a crash leaves the old file or the new one, never a torn
 * one. Reading checks both checksums and every size against the file. */
#ifndef TM_CHECKPOINT_H
#define TM_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "batch_source.h"
#include "error.h"
#include "gpt.h"
#include "rng.h"

#define TM_CKPT_HAS_OPT 1u

typedef struct tm_ckpt_meta {
  tm_gpt_config cfg;
  uint64_t step;        /* optimizer steps done */
  uint64_t adam_t;
  tm_rng rng;
  tm_batch_cursor cursor; /* cursor of the last consumed training batch */
  int has_cursor;
  uint64_t tokenizer_hash;
  double best_val, last_val; /* +inf / NaN when none */
  uint64_t best_step, evals_since_best;
  uint32_t flags;
} tm_ckpt_meta;

/* Write a checkpoint. opt_state (2n floats) may be NULL (no TM_CKPT_HAS_OPT). */
int tm_ckpt_save(const char *path, const tm_ckpt_meta *meta, const float *params,
                 const float *opt_state, tm_error *err);
/* Read only the header (to learn the config before creating the model). */
int tm_ckpt_read_meta(const char *path, tm_ckpt_meta *meta, tm_error *err);
/* Read a whole checkpoint into params (tm_gpt_num_params(&meta->cfg)
 * floats) and, when opt_state is non-NULL, the moments (2n floats; an
 * error if the file has none). */
int tm_ckpt_load(const char *path, tm_ckpt_meta *meta, float *params, float *opt_state,
                 tm_error *err);

/* DIR/ckpt-STEP.tmc with STEP as 8+ digits. */
void tm_ckpt_path(char *out, size_t cap, const char *dir, uint64_t step);
/* The newest DIR/ckpt-*.tmc: 1 and its path, 0 when none. */
int tm_ckpt_latest(const char *dir, char *out, size_t cap, tm_error *err);
/* Remove all but the newest keep DIR/ckpt-*.tmc files (best.tmc is not one
 * of them). */
int tm_ckpt_prune(const char *dir, int keep, tm_error *err);

#endif
