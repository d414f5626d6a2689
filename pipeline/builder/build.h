/* build.h - `tokenmill build`: the offline shard builder.
 *
 * readers -> clean -> dedup -> tokenize -> shards, composed from the same
 * stage modules the daemon uses:
 *
 *   main thread     reads the inputs in order (files sorted, directories
 *                   walked in name order) into batches of documents
 *   worker threads  clean, tokenize and sign a batch (batch/batch.h: one
 *                   tm_clean per profile, one encoder and dedup signer per
 *                   thread; the step serve's workers run too)
 *   commit thread   takes batches strictly in input order: dedup, then
 *                   append to the shard directory; keeps the statistics
 *
 * so the output is byte-identical for any thread count.
 *
 * Resumable. The shard directory's manifest is the commit point: each
 * published manifest carries a journal (per input file, how many reader
 * events were consumed; the statistics; the quarantine length) that
 * describes exactly the documents of the shards it lists. The dedup index is
 * checkpointed in the shard directory's commit hook, between the shard's
 * seal and the manifest publish, with the number of shards as its token; a
 * sidecar OUT/journal.pending holds the journal of a shard being committed.
 * At start: index token == shards listed -> continue from the manifest's
 * journal; token == shards + 1 -> the crash fell between the index
 * checkpoint and the publish: the sealed shard is verified and adopted with
 * the pending journal. Either way the inputs are re-read from the journal's
 * positions and the same documents produce the same shards: a build
 * interrupted by SIGKILL any number of times ends byte-identical to one
 * that was not. SIGINT/SIGTERM stop reading, seal the current shard and
 * exit cleanly; a rerun continues.
 *
 * OUT holds: s-*.tms shards, manifest.json, tokenizer.json, dedup/ (the
 * index), quarantine/errors.jsonl (unreadable records, with file and
 * offset), stats.json and DATACARD.md (the report, written at the end).
 */
#ifndef TM_BUILD_H
#define TM_BUILD_H

#include <stdint.h>

#include "config.h"
#include "error.h"

/* [build] keys: threads, batch_docs, tokenizer_sample, profile. */
extern const tm_config_key tm_build_config_keys[];

typedef struct tm_build_options {
  const char *out_dir;
  const tm_config *cfg;        /* every stage's section; may hold [clean.NAME] profiles */
  const char *tokenizer_path;  /* NULL: reuse OUT/tokenizer.json, else train one */
  int threads;                 /* 0: [build] threads (0 there: all cores) */
  const char *default_profile; /* NULL: [build] profile */
  char *const *inputs;         /* [PROFILE=]PATH: files, directories, globs */
  int n_inputs;
  int progress;                /* 1 live line, 0 log lines, -1 by isatty(stderr) */
  uint64_t stop_after_docs;    /* tests: stop reading after this many documents (0: no) */
  /* Distributed builds (build_dist.c); all zero/NULL for a plain build. */
  int part_rank, part_world;   /* build only this rank's share of the inputs */
  const char *sign_keys;       /* pass 1: write the dedup keys of clean-kept documents here, no shards */
  const char *verdicts;        /* pass 2: dedup verdicts (one byte per clean-kept document) to apply */
} tm_build_options;

typedef struct tm_build_result {
  uint64_t docs_in, docs_kept, docs_dropped, exact_dups, near_dups, rejected;
  uint64_t tokens, shards;
  int interrupted; /* stopped by SIGINT/SIGTERM before the end of the input */
  int resumed;     /* continued an earlier run */
} tm_build_result;

int tm_build_run(const tm_build_options *o, tm_build_result *res, tm_error *err);

/* A build over W processes (ranks) on a shared filesystem, each given the
 * same command with its rank (build_dist.c):
 *   pass 1  every rank cleans its share of the inputs (contiguous by size,
 *           in input order) and writes the dedup keys (exact hash, MinHash
 *           signature) of every clean-kept document;
 *   then    rank 0 runs the dedup index over all ranks' keys in global input
 *           order and writes each rank's verdicts, and trains the tokenizer
 *           on the same sample a one-process build would use;
 *   pass 2  every rank builds its share with that tokenizer, applying the
 *           verdicts instead of a local index (a resumable build of its own);
 *   merge   rank 0 moves every rank's shards into OUT (r0000-s-000000.tms,
 *           ...) and publishes one manifest, stats.json and DATACARD.md.
 * So the kept documents and their order equal a one-process build's; only
 * the shard boundaries differ. Ranks wait for each other through marker
 * files under OUT/.dist (a rank that fails writes its error there and the
 * others stop with it). */
int tm_build_run_distributed(const tm_build_options *o, int rank, int world, tm_build_result *res,
                             tm_error *err);

/* Ask a running build to stop (async-signal-safe). */
void tm_build_request_stop(void);

#endif
