/* schedule.h - learning-rate schedules with linear warmup.
 *
 * For step s (0-based) of total S, warmup W, peak lr, final lr f*lr:
 *   s < W:        lr * (s+1)/W
 *   then with progress p = (s-W)/(S-W) in [0, 1]:
 *   constant:     lr
 *   linear:       lr - (lr - f*lr) p
 *   cosine:       f*lr + (lr - f*lr) (1 + cos(pi p))/2
 *   wsd:          (warmup-stable-decay) lr until the last decay_frac of the
 *                 steps, then linear to f*lr over them
 * Steps past S keep the final value. */
#ifndef TM_SCHEDULE_H
#define TM_SCHEDULE_H

#include <stdint.h>

#include "error.h"

typedef enum { TM_SCHED_CONSTANT, TM_SCHED_LINEAR, TM_SCHED_COSINE, TM_SCHED_WSD } tm_sched_kind;

typedef struct tm_schedule {
  tm_sched_kind kind;
  double lr, final_frac, decay_frac;
  int64_t warmup, total;
} tm_schedule;

/* "constant", "linear", "cosine", "wsd" -> kind; -TM_EINVAL otherwise */
int tm_schedule_parse(const char *name, tm_sched_kind *out, tm_error *err);
int tm_schedule_check(const tm_schedule *s, tm_error *err);
double tm_schedule_lr(const tm_schedule *s, int64_t step);

#endif
