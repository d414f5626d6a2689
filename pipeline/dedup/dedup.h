/* dedup.h - the dedup stage: exact and MinHash-LSH near-duplicate removal.
 *
 * Made from a configuration ([dedup] keys below), given documents (id + text)
 * in arrival order, it answers keep or drop (duplicate_of, kind exact|near,
 * estimated similarity). The first document seen is kept; later copies are
 * dropped. Only kept documents are indexed, so duplicate_of is always an id
 * the stage kept (in this run or, with a persistent index, an earlier one).
 *
 *   exact: XXH3-128 of the normalised text (shingle.h: lowercase, no
 *          punctuation, digits as 0, whitespace collapsed; each configurable);
 *          a document whose normalised text is empty is hashed raw.
 *   near:  MinHash (minhash.h) over word n-grams (character n-grams for CJK
 *          text), LSH with `bands` bands of `rows` rows; a band candidate is
 *          confirmed when the estimated Jaccard over the whole signature is
 *          >= threshold. Defaults as FineWeb: 5-grams, 112 = 14 x 8, 0.75.
 *
 *   lines: optional (line_dedup = true), cc_net style: a line seen more than
 *          line_max_repeats times is removed from later documents before the
 *          document-level checks (line_dedup.h); the verdict then carries the
 *          shortened text, and a document left empty is dropped (kind lines).
 *
 * The index (dedup_index.h) lives in a directory: the stage does no other
 * I/O. tm_dedup_checkpoint makes everything processed so far durable; the
 * driver calls it together with sealing its own output (shards, or the CLI's
 * published files), so that after a crash the index matches what was
 * emitted downstream. Work after the last checkpoint is forgotten on reopen.
 *
 * Changing num_perm, seed, ngram, the normalisation options or cjk_fraction
 * for an existing index is refused (the stored signatures would not compare);
 * bands, rows, threshold and ram_budget may change between runs.
 *
 * Not thread-safe: one stage object per index, used by one thread.
 */
#ifndef TM_DEDUP_H
#define TM_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dedup_index.h"
#include "error.h"
#include "shingle.h"

extern const tm_config_key tm_dedup_config_keys[];

typedef struct tm_dedup_params {
  int exact;             /* exact-hash dedup on */
  int near;              /* MinHash-LSH dedup on */
  tm_shingle_opts shingle;
  int num_perm;          /* signature length k */
  int bands, rows;
  double threshold;
  uint64_t seed;         /* permutations and shingle hashes */
  uint64_t ram_budget;   /* bytes for the in-RAM tables */
  uint64_t expected_docs; /* size the tables for this many documents up front (0: grow) */
  int line_dedup;        /* line-level dedup on */
  int line_max_repeats;  /* a line seen this many times is removed afterwards */
  int line_min_bytes;    /* shorter lines are never removed */
  uint64_t line_budget;  /* bytes for the line table */
} tm_dedup_params;

void tm_dedup_params_default(tm_dedup_params *p);
/* Read [dedup] from c; TM_EINVAL naming the key for an out-of-range value. */
int tm_dedup_params_from_config(const tm_config *c, tm_dedup_params *p, tm_error *err);

typedef struct tm_dedup tm_dedup;

/* Open the stage with its index in index_dir (created when missing; an
 * existing one is reopened at its last checkpoint). */
int tm_dedup_open(tm_dedup **out, const tm_dedup_params *p, const char *index_dir,
                  tm_error *err);
/* Free without checkpointing. */
void tm_dedup_close(tm_dedup *d);

typedef struct tm_dedup_verdict {
  tm_dedup_kind kind;       /* TM_DEDUP_UNIQUE: keep */
  const char *text;         /* the text to emit when kept: the input, or (when
                               lines_removed > 0) a shortened copy owned by d,
                               valid until the next call; NUL-terminated */
  size_t len;
  size_t lines_removed;
  double similarity;        /* 1.0 exact, estimate for near, 0 when kept */
  const char *duplicate_of; /* id of the kept document (NUL-terminated, owned by d,
                               valid until the next call), NULL when kept */
} tm_dedup_verdict;

/* Judge one document. Errors are I/O on the index (TM_EIO), TM_ENOMEM or
 * TM_ELIMIT (a document over 1 GiB); the document is then not indexed. */
int tm_dedup_process(tm_dedup *d, const char *id, size_t id_len, const char *text, size_t len,
                     tm_dedup_verdict *v, tm_error *err);

/* The same in two halves, for drivers that sign documents on worker threads:
 * tm_dedup_prepare (normalise, exact hash, MinHash) is pure and may run
 * concurrently, one tm_dedup_worker per thread; tm_dedup_commit (the index
 * lookup and insert) runs on one thread, in arrival order, which keeps the
 * verdicts deterministic whatever the thread count. Line-level dedup is
 * sequential by nature: with line_dedup on, use tm_dedup_process.
 *
 * prepare fills *p; p->sig points at sig (num_perm values, the caller's) or
 * is NULL (no shingles, or near off). commit sets v->len = p->len and
 * v->text = NULL (the caller has the text). */
typedef struct tm_dedup_worker tm_dedup_worker;
typedef struct tm_dedup_prepared {
  uint64_t exact[2];
  const uint32_t *sig;
  size_t shingles, len;
  int cjk;
} tm_dedup_prepared;
/* d must outlive the worker; NULL on ENOMEM. */
tm_dedup_worker *tm_dedup_worker_new(const tm_dedup *d);
void tm_dedup_worker_free(tm_dedup_worker *w);
int tm_dedup_prepare(tm_dedup_worker *w, const char *text, size_t len, tm_dedup_prepared *p,
                     uint32_t *sig, tm_error *err);
int tm_dedup_commit(tm_dedup *d, const char *id, size_t id_len, const tm_dedup_prepared *p,
                    tm_dedup_verdict *v, tm_error *err);
/* tm_dedup_commit over prepared documents p[0..n) (ids[i], id_lens[i]), in
 * order, through the index's batch path (tm_dedup_index_process_batch: table
 * slots fetched a few documents ahead): v[0..n) are the verdicts n calls of
 * tm_dedup_commit would give, including a document that duplicates an
 * earlier one of the same batch. The duplicate_of strings are owned by d and
 * valid until the next call. Returns 0 (*done = n), or a negative TM_E* code
 * for p[*done] (the documents before it are judged and counted; those after
 * it are untouched, except after a failed read of an id (TM_EIO): a
 * driver-stopping error like any index I/O error). */
int tm_dedup_commit_batch(tm_dedup *d, size_t n, const char *const *ids, const size_t *id_lens,
                          const tm_dedup_prepared *p, tm_dedup_verdict *v, size_t *done,
                          tm_error *err);
/* Signature length, for sizing the sig buffers of tm_dedup_prepare. */
int tm_dedup_num_perm(const tm_dedup *d);

/* Make the index durable up to the last processed document, tagged with
 * token: the driver's name for what it emitted up to here (a shard sequence
 * number, a run token). After a crash, tm_dedup_committed_token tells the
 * driver which of its outputs the reopened index matches. */
int tm_dedup_checkpoint(tm_dedup *d, uint64_t token, tm_error *err);

/* The token of the checkpoint the index was opened at (or last made);
 * 0 for a new index. */
uint64_t tm_dedup_committed_token(const tm_dedup *d);

typedef struct tm_dedup_stats {
  uint64_t docs_in, kept, exact_dups, near_dups;
  uint64_t no_shingles;  /* documents whose normalised text was empty */
  uint64_t cjk_docs;     /* documents shingled by characters */
  uint64_t text_bytes;   /* bytes of text processed */
  uint64_t lines_removed, lines_docs; /* lines removed; documents left empty by that */
  uint64_t line_table_bytes;
  tm_dedup_index_stats index;
} tm_dedup_stats;
/* Counters of this session (since open), plus the index's. */
void tm_dedup_get_stats(const tm_dedup *d, tm_dedup_stats *st);

/* The hash of the parameters stored signatures depend on (sig_store.h). */
uint64_t tm_dedup_params_hash(const tm_dedup_params *p);

const char *tm_dedup_kind_name(tm_dedup_kind k);

#endif
