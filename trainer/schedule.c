/* schedule.c - learning-rate schedules; see schedule.h. */
#include "schedule.h"

#include <math.h>
#include <string.h>

int tm_schedule_parse(const char *name, tm_sched_kind *out, tm_error *err) {
  static const char *const names[] = {"constant", "linear", "cosine", "wsd"};
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, names[i])) {
      *out = (tm_sched_kind)i;
      return 0;
    }
  return tm_err(err, TM_EINVAL, "schedule '%s': expected constant, linear, cosine or wsd", name);
}

int tm_schedule_check(const tm_schedule *s, tm_error *err) {
  if (!(s->lr > 0) || s->warmup < 0 || s->total <= 0 || !(s->final_frac >= 0) ||
      s->final_frac > 1 || !(s->decay_frac > 0) || s->decay_frac > 1)
    return tm_err(err, TM_EINVAL,
                  "schedule: need lr > 0, warmup >= 0, steps > 0, final fraction in [0,1], "
                  "decay fraction in (0,1]");
  return 0;
}

double tm_schedule_lr(const tm_schedule *s, int64_t step) {
  if (step < s->warmup) return s->lr * (double)(step + 1) / (double)s->warmup;
  double lo = s->lr * s->final_frac, span = (double)(s->total - s->warmup);
  double p = span > 0 ? (double)(step - s->warmup) / span : 1.0;
  if (p > 1) p = 1;
  switch (s->kind) {
    case TM_SCHED_CONSTANT: return s->lr;
    case TM_SCHED_LINEAR: return s->lr - (s->lr - lo) * p;
    case TM_SCHED_COSINE: return lo + (s->lr - lo) * 0.5 * (1.0 + cos(M_PI * p));
    case TM_SCHED_WSD: {
      double start = 1.0 - s->decay_frac;
      if (p <= start) return s->lr;
      return s->lr - (s->lr - lo) * (p - start) / s->decay_frac;
    }
  }
  return s->lr;
}
