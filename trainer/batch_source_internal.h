/* batch_source_internal.h - the vtable behind tm_batch_source (private to
 * batch_source*.c). */
#ifndef TM_BATCH_SOURCE_INTERNAL_H
#define TM_BATCH_SOURCE_INTERNAL_H

#include "batch_source.h"

typedef struct tm_batch_source_ops {
  int (*next)(tm_batch_source *s, tm_batch *b, tm_error *err);
  int (*seek)(tm_batch_source *s, const tm_batch_cursor *c, tm_error *err);
  void (*rewind)(tm_batch_source *s);
  void (*free)(tm_batch_source *s);
} tm_batch_source_ops;

struct tm_batch_source {
  const tm_batch_source_ops *ops;
  tm_batch_info info;
  int32_t *inputs, *targets; /* (B,T) each */
  uint64_t batches_per_pass;
  double wait_s;
  const volatile sig_atomic_t *stop;
  void *impl;
};

/* allocate the common part with (B,T) buffers */
tm_batch_source *tm_batch_source_alloc(const tm_batch_source_ops *ops, int B, int T,
                                       int vocab_size, tm_error *err);

#endif
