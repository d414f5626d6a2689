/* train_loop.h - the training loop of `tokenmill-train run`.
 *
 * Per optimizer step: grad_accum micro-batches (forward, backward scaled by
 * 1/grad_accum), the global gradient norm, clipping, AdamW at the
 * schedule's learning rate, one metrics line. Every eval.every steps (and at
 * the end) a validation pass over eval.batches batches of the validation
 * file (always the same ones); the lowest validation loss so far is saved as
 * OUT/best.tmc, and eval.patience evaluations without an improvement larger
 * than eval.min_delta stop the run. Checkpoints every checkpoint.every
 * steps, at the end, and when *stop becomes nonzero (the SIGTERM/SIGINT
 * handler sets it): OUT/ckpt-STEP.tmc, the newest checkpoint.keep kept.
 *
 * resume: continue from the newest OUT/ckpt-*.tmc: parameters, moments,
 * step, RNG and data cursor are restored and metrics.jsonl is cut back to
 * that step, so the run continues exactly as if never interrupted (bitwise
 * with a fixed thread count; see trainer/README.md). No checkpoint there is
 * an error. */
#ifndef TM_TRAIN_LOOP_H
#define TM_TRAIN_LOOP_H

#include <signal.h>

#include "error.h"
#include "train_config.h"

typedef struct tm_train_result {
  uint64_t steps_done;
  double last_loss, best_val;
  int early_stopped, interrupted;
} tm_train_result;

int tm_train_run(const tm_train_options *o, int resume, volatile sig_atomic_t *stop,
                 tm_train_result *res, tm_error *err);

#endif
