/* batch_source.h - where training and validation batches come from.
 *
 * The training loop sees only this interface: "give me the next (B, T)
 * batch of inputs and targets, and the data cursor just after it", and
 * "continue from this cursor". Three sources implement it:
 *
 *   file       a token file: llm.c's .bin format (int32[256] header, magic
 *              20240520, version 1 = uint16 / 2 = uint32 tokens) or a raw
 *              little-endian uint16 file. Windows of T+1 tokens at stride T;
 *              each pass visits them in a shuffled order that is a pure
 *              function of (seed, pass), so a cursor (seed, pass, 0, window)
 *              recomputes any position without replaying. shuffle = 0 keeps
 *              file order (validation).
 *   synthetic  random tokens from (seed, batch index): for benchmarks and
 *              tests that need no files.
 *   ring       batches from a tokenmill ring (common/ring.h), written by
 *              `tokenmill feed`; cursors are the feeder's data cursors.
 *
 * Token ids are checked against the vocabulary: a bad id is -TM_EFORMAT
 * naming the file (or ring) and the offset of the token.
 */
#ifndef TM_BATCH_SOURCE_H
#define TM_BATCH_SOURCE_H

#include <signal.h>
#include <stdint.h>

#include "error.h"

typedef struct tm_batch_cursor {
  uint64_t seed, pass, generation, window;
} tm_batch_cursor;

typedef struct tm_batch {
  int B, T;
  const int32_t *inputs;  /* (B,T), owned by the source, valid until the next call */
  const int32_t *targets; /* (B,T): inputs shifted by one */
  tm_batch_cursor cursor; /* position just after this batch */
} tm_batch;

#define TM_BATCH_END 1 /* next(): no more batches (the ring's producer finished) */

typedef struct tm_batch_source tm_batch_source;

/* Geometry the source delivers (the ring's header for a ring source). */
typedef struct tm_batch_info {
  int B, T;
  int vocab_size;
  uint64_t tokenizer_hash; /* 0 when unknown */
  int64_t eot_id;          /* -1 when unknown */
} tm_batch_info;

/* Open a token file. vocab_size bounds the ids. */
int tm_batch_source_file(tm_batch_source **out, const char *path, int B, int T, int vocab_size,
                         uint64_t seed, int shuffle, tm_error *err);
/* Random tokens < vocab_size. */
int tm_batch_source_synthetic(tm_batch_source **out, int B, int T, int vocab_size, uint64_t seed,
                              tm_error *err);
/* Attach to ring (name, rank) as its consumer, waiting up to wait_ms for it
 * to appear; resume (may be NULL) is the cursor of the last consumed batch.
 * timeout_ms bounds each wait for a batch (a dead producer is reported). */
int tm_batch_source_ring(tm_batch_source **out, const char *name, unsigned rank,
                         const tm_batch_cursor *resume, int wait_ms, tm_error *err);
/* While waiting for a batch, a ring source checks *stop (e.g. set by a
 * SIGTERM handler) every second and returns -TM_EAGAIN once it is set. */
void tm_batch_source_set_stop(tm_batch_source *s, const volatile sig_atomic_t *stop);

/* Read up to n batches from src now (fewer if it ends; none is an error) and
 * serve them from memory, in order, again after each rewind: a fixed
 * validation set taken from a ring (the feeder's validation split). src
 * stays owned by the caller and may be freed afterwards. */
int tm_batch_source_cache(tm_batch_source **out, tm_batch_source *src, int n, tm_error *err);

/* Save a cached source's batches to path (atomically; header "TMVALSET",
 * B, T, vocabulary, count, then int32 inputs and targets per batch), and
 * load them back as a cached source: a resumed run evaluates on exactly the
 * batches the interrupted one used, whatever the validation ring holds by
 * then. Loading checks the geometry against B, T, vocab_size. */
int tm_batch_source_cache_save(const tm_batch_source *cache, const char *path, tm_error *err);
int tm_batch_source_cache_load(tm_batch_source **out, const char *path, int B, int T,
                               int vocab_size, tm_error *err);

void tm_batch_source_info(const tm_batch_source *s, tm_batch_info *info);
/* Next batch: 0, TM_BATCH_END, or a negative error. */
int tm_batch_source_next(tm_batch_source *s, tm_batch *b, tm_error *err);
/* Continue right after the batch whose cursor is c (file and synthetic
 * sources; a ring source is positioned when it is opened). */
int tm_batch_source_seek(tm_batch_source *s, const tm_batch_cursor *c, tm_error *err);
/* Back to the start (validation passes). */
void tm_batch_source_rewind(tm_batch_source *s);
/* Batches in one pass (file: windows / B; 0 when unbounded). */
uint64_t tm_batch_source_batches_per_pass(const tm_batch_source *s);
/* Seconds spent waiting for data in next() since open. */
double tm_batch_source_wait_s(const tm_batch_source *s);
void tm_batch_source_free(tm_batch_source *s);

#endif
