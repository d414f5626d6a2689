/* feeder.h - `tokenmill feed`: shards -> deterministic batches -> rings.
 *
 * The feeder serves W ranks, one ring per rank (/tokenmill.NAME.RANK). With
 * global batch G = W * B windows, global batch k of a pass is windows
 * [k*G, (k+1)*G) of the pass's plan (feed_plan.h), and rank r's batch k
 * holds windows k*G + r + i*W for i = 0..B-1: W ranks together see exactly
 * the batches one process with batch W*B would see, and a data cursor is
 * independent of W (it counts global windows).
 *
 * Cursor of a batch: (seed, pass, generation, (k+1)*G). Resuming at it
 * continues at global batch k+1; with another world size W' (same G) the
 * strided split is exact. A pass with fewer windows than a whole number of
 * global batches drops its tail.
 *
 * Passes and the growing manifest: when a pass starts, the manifest is
 * loaded and its generation frozen for the pass; shards sealed later join
 * at the next pass. The frozen shard list of each generation and the
 * generation of each pass are recorded in a state directory
 * (default DIR/.feed: gen-G.list, pass-SEED-P.gen), so that a cursor naming
 * an older generation can be resumed, and several per-rank feeder processes
 * (--rank) agree on the generation of a pass. A feeder that starts a run
 * from scratch (no cursor) freezes pass 0 at the current generation.
 *
 * BPE-dropout (feed_dropout.h), when enabled, re-tokenizes each window
 * seeded by (seed, pass, window): still a pure function of the cursor.
 *
 * Crashes: a dead or hung consumer is logged and waited for (the ring keeps
 * its batches); a consumer that attaches with a resume cursor gets the
 * batches from that cursor on. A feeder restarted on existing rings takes
 * them over and continues after the last batch it had published.
 */
#ifndef TM_FEEDER_H
#define TM_FEEDER_H

#include <signal.h>
#include <stdint.h>

#include "error.h"
#include "feed_plan.h"

typedef struct tm_feed_options {
  const char *dir;       /* shard directory (manifest.json) */
  const char *ring;      /* ring name */
  const char *state_dir; /* NULL: DIR/.feed */
  uint64_t seed;
  uint32_t batch;        /* B per rank */
  uint32_t seq_len;      /* T */
  uint32_t world;        /* W (1) */
  int rank;              /* serve only ranks rank..rank_last; -1 = all W ranks */
  int rank_last;         /* < rank: just `rank` */
  uint32_t n_slots;      /* ring slots (0: 4) */
  uint32_t timeout_ms;   /* liveness timeout (0: 2000) */
  uint32_t shuffle_windows;
  int split;             /* TM_FEED_TRAIN / TM_FEED_VAL */
  double val_fraction;
  const tm_feed_weight *weights;
  size_t n_weights;
  const tm_feed_weight *epochs;
  size_t n_epochs;
  uint64_t passes;       /* stop after this many passes (0: never) */
  uint64_t max_batches;  /* stop after this many batches per rank (0: never) */
  int follow;            /* wait for shards when a pass would be empty */
  int spin;              /* TM_RING_SPIN */
  int drain;             /* at the end wait until the consumers took every batch (1) */
  double dropout;        /* BPE-dropout probability (0: off; needs tokenizer) */
  const char *tokenizer; /* tokenizer.json of the shards (hash checked) */
  const volatile sig_atomic_t *stop; /* set by a signal handler: stop soon */
} tm_feed_options;

typedef struct tm_feed_stats {
  uint64_t batches;  /* published, all ranks */
  uint64_t tokens;
  uint64_t passes;   /* passes started */
  uint64_t reseeks;  /* consumer resume requests served */
  uint64_t peer_events;
  uint64_t dropout_windows; /* windows re-tokenized with BPE-dropout */
  uint64_t dropout_kept;    /* windows kept as they were (re-encoded too short) */
} tm_feed_stats;

/* Serve batches until the pass/batch limit, a stop request or an error.
 * Returns 0 or a negative TM_E* code with err filled. */
int tm_feed_run(const tm_feed_options *o, tm_feed_stats *st, tm_error *err);

/* Parse "web=0.6,books=0.3" into at most cap entries; -TM_EINVAL names the
 * bad item. */
int tm_feed_parse_weights(const char *s, tm_feed_weight *out, size_t cap, size_t *n,
                          tm_error *err);

#endif
