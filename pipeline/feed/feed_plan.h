/* feed_plan.h - the order of one pass over a frozen shard list.
 *
 * A plan is a pure function of (shard directory contents named by a frozen
 * shard list, seed, pass, split, seq_len, shuffle window, weights, epochs).
 * It maps a global window index g in [0, n_windows) to T+1 tokens, without
 * replaying anything before g:
 *
 *  1. Source streams. The shards are visited in an order shuffled by
 *     (seed, pass). Each document belongs to the train or the validation
 *     split by a hash of its 64-bit id (stable across seeds and passes).
 *     For each source tag (web, books, ...), the documents of that source
 *     and split, in that shard order and in document order, form one token
 *     stream with the end-of-text token after every document (the
 *     separator already stored in the shard). A source stream is cut into
 *     windows of T+1 tokens (the tail shorter than a window is dropped).
 *  2. Windows within a source: consecutive blocks of `shuffle_windows`
 *     windows are each permuted by (seed, pass, source, epoch, block); the
 *     bounded block keeps reads local to a few zstd frames. A source with an
 *     epoch budget e > 1 repeats (each repetition permuted anew); e < 1
 *     caps it: it offers floor(e * windows) windows per pass.
 *  3. Mixing: the pass is cut into periods of P windows (P = 4096, or
 *     fewer when the weights allow fewer windows in all). Each period holds n_s windows of source s, with
 *     n_s from the weights (default: proportional to what each source
 *     offers) by largest remainder, in an order permuted by (seed, pass,
 *     period). Window g of the pass is the rank-th window of source s, where
 *     s and rank come from g's period alone. After the last whole period
 *     every source can fill comes one shorter period made of what is left,
 *     in the same proportions; the pass ends there (with natural weights
 *     it uses nearly every window; with others it ends when the first
 *     source runs out of its budget).
 *
 * Memory: 24 bytes per run of adjacent same-source documents (one run per
 * shard and source for unmixed shards), P * 8 bytes of period cache and
 * 4 * shuffle_windows bytes per source of block cache; open shard readers
 * are cached (at most TM_FEED_MAX_READERS).
 */
#ifndef TM_FEED_PLAN_H
#define TM_FEED_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define TM_FEED_MAX_SOURCES 64
#define TM_FEED_MAX_READERS 16
#define TM_FEED_PERIOD 4096u

enum { TM_FEED_TRAIN = 0, TM_FEED_VAL = 1 };

/* one "name=value" pair of --weights / --epochs */
typedef struct tm_feed_weight {
  char name[64];
  double value;
} tm_feed_weight;

typedef struct tm_feed_plan_options {
  const char *dir;           /* shard directory */
  const char *const *shards; /* frozen list of shard file names (relative to dir) */
  size_t n_shards;
  uint64_t seed;
  uint64_t pass;
  uint32_t seq_len;          /* T: windows are T+1 tokens */
  uint32_t shuffle_windows;  /* block size of the within-source shuffle (0: 1024) */
  int split;                 /* TM_FEED_TRAIN or TM_FEED_VAL */
  double val_fraction;       /* documents in the validation split, [0, 1) */
  const tm_feed_weight *weights; /* NULL: proportional to the data; else a source
                                  * not listed gets weight 0 (not served) */
  size_t n_weights;
  const tm_feed_weight *epochs;  /* per-source epoch budgets (default 1) */
  size_t n_epochs;
} tm_feed_plan_options;

typedef struct tm_feed_plan tm_feed_plan;

/* Build the plan: reads every listed shard's document index (not its
 * tokens). Errors name the shard; a weight or epoch for a source that has
 * no documents is -TM_EINVAL; a pass too small for one window per source
 * gives a plan with 0 windows (not an error). */
int tm_feed_plan_build(tm_feed_plan **out, const tm_feed_plan_options *o, tm_error *err);
void tm_feed_plan_free(tm_feed_plan *p);

/* Windows in the pass. */
uint64_t tm_feed_plan_windows(const tm_feed_plan *p);
/* Bytes per token (2 or 4), vocabulary size and end-of-text id of the shards. */
unsigned tm_feed_plan_token_width(const tm_feed_plan *p);
uint32_t tm_feed_plan_vocab(const tm_feed_plan *p);
uint32_t tm_feed_plan_eot(const tm_feed_plan *p);
uint64_t tm_feed_plan_tokenizer_hash(const tm_feed_plan *p);

/* Sources: count, name, windows offered per pass (E_s), windows per period. */
size_t tm_feed_plan_sources(const tm_feed_plan *p);
const char *tm_feed_plan_source_name(const tm_feed_plan *p, size_t s);
uint64_t tm_feed_plan_source_windows(const tm_feed_plan *p, size_t s);
uint32_t tm_feed_plan_source_per_period(const tm_feed_plan *p, size_t s);

/* Where window g comes from: source and token offset in its stream. */
int tm_feed_plan_locate(tm_feed_plan *p, uint64_t g, size_t *source, uint64_t *offset,
                        tm_error *err);

/* Read window g (T+1 tokens, the shards' width, little endian) into dst. */
int tm_feed_plan_read(tm_feed_plan *p, uint64_t g, void *dst, tm_error *err);

#endif
