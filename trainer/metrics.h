/* metrics.h - the training record: a JSONL file and a loss-curve SVG.
 *
 * metrics.jsonl gets one line per optimizer step
 *   {"step":12,"loss":4.123,"lr":0.0003,"grad_norm":1.2,"tokens_per_s":2900,"wait_s":0.0}
 * and one per evaluation
 *   {"step":100,"val_loss":3.9,"best_val_loss":3.9}
 * Floats are printed with 9 significant digits, so a float loss reads back
 * bit for bit (the resume test compares them exactly).
 *
 * On resume the file is cut back to the lines of steps <= the checkpoint's
 * step (rewritten atomically), so the record of a resumed run is the same as
 * an uninterrupted one. The train and validation histories stay in memory
 * (two floats per step) for the SVG, which is written (atomically) at every
 * evaluation: an image any browser opens, no plotting tools needed. */
#ifndef TM_METRICS_H
#define TM_METRICS_H

#include <stdint.h>

#include "error.h"

typedef struct tm_metrics tm_metrics;

/* Open DIR/metrics.jsonl. keep_upto < 0: start a new file; else keep (and
 * load into the history) the lines with step <= keep_upto. */
int tm_metrics_open(tm_metrics **out, const char *dir, int64_t keep_upto, tm_error *err);
void tm_metrics_close(tm_metrics *m);

int tm_metrics_step(tm_metrics *m, uint64_t step, float loss, double lr, double grad_norm,
                    double tokens_per_s, double wait_s, tm_error *err);
int tm_metrics_eval(tm_metrics *m, uint64_t step, float val_loss, float best_val_loss,
                    tm_error *err);
/* Write DIR/loss.svg from the history. */
int tm_metrics_svg(tm_metrics *m, const char *title, tm_error *err);

#endif
