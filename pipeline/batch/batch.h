/* batch.h - a batch of documents through clean -> tokenize -> sign on one
 * worker thread, with that thread's stage state.
 *
 * Both drivers (`tokenmill build`, `tokenmill serve`) read their inputs into
 * batches of tm_batch_doc on one thread, hand each batch to one worker, and
 * commit batches in input order on another. The worker's step is the same
 * in both and lives here:
 *
 *   for each document of the batch that is not a reader error:
 *     decode a deferred e-mail (reader option defer_email), as the reader would
 *     keep the first bytes of the input text (for drop examples)
 *     clean (the batch's profile; one tm_clean per profile and thread, made
 *            on first use)
 *     tokenize what clean kept (one tm_encoder per thread; none: no tokens)
 *     sign what clean kept for dedup (one tm_dedup_worker per thread; none:
 *            dedup runs whole on the commit thread, e.g. line dedup)
 *
 * What stays in each driver: which batch a worker takes, the order of
 * commit, the dedup index, the journal, the quarantine records' fields, the
 * acknowledgement of inputs. A worker touches only its batch and its own
 * state, so any number of workers run at once without locks.
 */
#ifndef TM_BATCH_H
#define TM_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "clean/clean.h"
#include "dedup/dedup.h"
#include "error.h"
#include "readers/document.h"
#include "tokenizer.h"

/* Bytes of the input text kept for examples: 200 characters of up to 4
 * bytes, and a NUL. */
#define TM_BATCH_PREFIX (200 * 4 + 1)

/* One reader event of a batch: a document, or a reader error. Filled by the
 * reading thread (doc or is_error/msg, event, raw_bytes), completed by
 * tm_batch_worker_run (verdict, reason, ids, raw_prefix, prep). */
typedef struct tm_batch_doc {
  tm_document doc;
  int is_error;       /* a reader error: msg holds it */
  char *msg;          /* malloc'd, kept for reuse of the slot */
  uint64_t event;     /* index of this reader event in its input */
  uint64_t raw_bytes; /* bytes as read (a deferred e-mail's once decoded) */
  tm_clean_verdict verdict;
  const char *reason; /* the drop rule (static string) */
  tm_ids ids;         /* the tokens of the kept text */
  char raw_prefix[TM_BATCH_PREFIX]; /* the input text's start */
  size_t raw_prefix_len;
  tm_dedup_prepared prep; /* the dedup keys, when the worker signs */
  uint32_t *sig;          /* num_perm values (+1), prep.sig points here */
} tm_batch_doc;

/* n documents, each initialised, with a signature buffer of num_perm values
 * (0: none needed). NULL when out of memory. Free with tm_batch_docs_free. */
tm_batch_doc *tm_batch_docs_new(size_t n, int num_perm);
void tm_batch_docs_free(tm_batch_doc *docs, size_t n);

/* Make d a reader error with message msg (copied; msg NULL when out of
 * memory, which the drivers' quarantine records write as "?") and no raw
 * bytes. */
void tm_batch_doc_set_error(tm_batch_doc *d, const char *msg);

/* Give back text and token buffers larger than keep bytes (a long-running
 * driver keeps flat memory after a huge document). */
void tm_batch_doc_shrink(tm_batch_doc *d, size_t keep);

/* Line-level dedup shortened a kept document (v->lines_removed > 0): take
 * its text, tokenize it again with enc (the commit thread's), and mark a
 * KEEP verdict MODIFIED. -TM_ENOMEM (err filled) when out of memory. */
int tm_batch_doc_take_lines(tm_batch_doc *d, const tm_dedup_verdict *v, tm_encoder *enc, tm_error *err);

/* ---- per-thread stage state ------------------------------------------------ */

typedef struct tm_batch_worker tm_batch_worker;

typedef struct tm_batch_worker_options {
  int n_profiles;         /* profiles a batch may name: 0 .. n_profiles-1 */
  const tm_tokenizer *tok; /* NULL: no tokenizing (ids stay empty) */
  const tm_dedup *dedup;  /* NULL: no signing on the worker */
} tm_batch_worker_options;

/* CPU seconds of the worker's stages, summed over its batches. A batch's
 * thread CPU time is shared among its stages in proportion to their wall
 * time (a cheap clock per document, one CPU clock call per batch), so the
 * split stays right when other processes take the cores. */
typedef struct tm_batch_times {
  double read_s; /* deferred e-mail decoding */
  double clean_s, tok_s, sig_s;
  uint64_t decoded_bytes; /* document bytes of deferred e-mails decoded */
} tm_batch_times;

/* NULL when out of memory. tok and dedup must outlive the worker. */
tm_batch_worker *tm_batch_worker_new(const tm_batch_worker_options *o);
void tm_batch_worker_free(tm_batch_worker *w);

/* Run docs[0..n) of profile `profile` (whose clean parameters are params,
 * alive for the worker's life) through the step above. A deferred e-mail
 * that does not decode becomes a reader error (tm_batch_doc_set_error).
 * Returns 0, or the stage's error (err filled): the batch is then partly
 * done and must not be committed. */
int tm_batch_worker_run(tm_batch_worker *w, int profile, const tm_clean_params *params, tm_batch_doc *docs,
                        size_t n, tm_error *err);

/* The stage times so far. */
void tm_batch_worker_times(const tm_batch_worker *w, tm_batch_times *t);

#endif
