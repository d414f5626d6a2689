/* batch.c - the worker step shared by build and serve; see batch.h. */
#include "batch/batch.h"
#include "clock.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "readers/reader.h"

struct tm_batch_worker {
  int n_profiles;
  tm_clean **cleaners; /* [n_profiles], made on first use */
  tm_encoder *enc;     /* NULL: no tokenizing */
  tm_dedup_worker *dw; /* NULL: no signing */
  tm_batch_times t;
};

/* ---- documents ---------------------------------------------------------------- */

tm_batch_doc *tm_batch_docs_new(size_t n, int num_perm) {
  tm_batch_doc *d = calloc(n, sizeof *d);
  if (!d) return NULL;
  for (size_t i = 0; i < n; i++) {
    tm_document_init(&d[i].doc);
    d[i].sig = calloc((size_t)(num_perm > 0 ? num_perm : 0) + 1, sizeof(uint32_t));
    if (!d[i].sig) {
      tm_batch_docs_free(d, n);
      return NULL;
    }
  }
  return d;
}

void tm_batch_docs_free(tm_batch_doc *docs, size_t n) {
  if (!docs) return;
  for (size_t i = 0; i < n; i++) {
    tm_document_free(&docs[i].doc);
    tm_ids_free(&docs[i].ids);
    free(docs[i].sig);
    free(docs[i].msg);
  }
  free(docs);
}

void tm_batch_doc_set_error(tm_batch_doc *d, const char *msg) {
  d->is_error = 1;
  free(d->msg);
  d->msg = strdup(msg);
  d->raw_bytes = 0;
}

void tm_batch_doc_shrink(tm_batch_doc *d, size_t keep) {
  if (d->doc.cap > keep) {
    tm_document_free(&d->doc);
    tm_document_init(&d->doc);
  }
  if (d->ids.cap * sizeof(uint32_t) > keep) tm_ids_free(&d->ids);
}

int tm_batch_doc_take_lines(tm_batch_doc *d, const tm_dedup_verdict *v, tm_encoder *enc, tm_error *err) {
  if (tm_document_set_text(&d->doc, v->text, v->len) < 0) return tm_err(err, TM_ENOMEM, "out of memory");
  d->ids.len = 0;
  if (tm_encoder_encode(enc, d->doc.text, d->doc.len, 0, &d->ids, err) < 0) return -TM_ENOMEM;
  if (d->verdict == TM_CLEAN_KEEP) d->verdict = TM_CLEAN_MODIFIED;
  return 0;
}

/* ---- the worker ------------------------------------------------------------------ */

tm_batch_worker *tm_batch_worker_new(const tm_batch_worker_options *o) {
  tm_batch_worker *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->n_profiles = o->n_profiles;
  w->cleaners = calloc((size_t)(o->n_profiles > 0 ? o->n_profiles : 1), sizeof *w->cleaners);
  w->enc = o->tok ? tm_encoder_new(o->tok) : NULL;
  w->dw = o->dedup ? tm_dedup_worker_new(o->dedup) : NULL;
  if (!w->cleaners || (o->tok && !w->enc) || (o->dedup && !w->dw)) {
    tm_batch_worker_free(w);
    return NULL;
  }
  return w;
}

void tm_batch_worker_free(tm_batch_worker *w) {
  if (!w) return;
  for (int p = 0; w->cleaners && p < w->n_profiles; p++) tm_clean_free(w->cleaners[p]);
  free(w->cleaners);
  tm_encoder_free(w->enc);
  tm_dedup_worker_free(w->dw);
  free(w);
}

void tm_batch_worker_times(const tm_batch_worker *w, tm_batch_times *t) { *t = w->t; }

/* A record the reader handed over undecoded (an e-mail in a JSONL field):
 * decode it here, in parallel, exactly as the reader would have; a failure
 * becomes the reader error it would have been. */
static void decode_deferred(tm_batch_worker *w, tm_batch_doc *d) {
  tm_error derr = {0};
  if (tm_reader_decode_email(&d->doc, &derr) < 0) {
    tm_batch_doc_set_error(d, derr.msg);
    return;
  }
  d->raw_bytes = d->doc.len;
  w->t.decoded_bytes += d->doc.len;
}

int tm_batch_worker_run(tm_batch_worker *w, int profile, const tm_clean_params *params, tm_batch_doc *docs,
                        size_t n, tm_error *err) {
  if (profile < 0 || profile >= w->n_profiles) return tm_err(err, TM_EINVAL, "batch: profile %d out of range", profile);
  tm_clean **cl = &w->cleaners[profile];
  int rc;
  if (!*cl && (rc = tm_clean_new(cl, params, err)) < 0) return rc;
  double c0 = tm_thread_cpu_s(), w0 = tm_now_s(), read = 0, clean = 0, tok = 0, sig = 0;
  for (size_t i = 0; i < n; i++) {
    tm_batch_doc *d = &docs[i];
    if (!d->is_error && d->doc.format == TM_DOC_EMAIL) {
      double t = tm_now_s();
      decode_deferred(w, d);
      read += tm_now_s() - t;
    }
    if (d->is_error) continue;
    double t0 = tm_now_s();
    d->raw_prefix_len = d->doc.len < sizeof d->raw_prefix - 1 ? d->doc.len : sizeof d->raw_prefix - 1;
    memcpy(d->raw_prefix, d->doc.text, d->raw_prefix_len);
    tm_clean_result res;
    if ((rc = tm_clean_doc(*cl, &d->doc, &res, NULL, err)) < 0) return rc;
    d->verdict = res.verdict;
    d->reason = res.reason;
    double t1 = tm_now_s();
    clean += t1 - t0;
    d->ids.len = 0;
    if (d->verdict != TM_CLEAN_DROP && w->enc &&
        (rc = tm_encoder_encode(w->enc, d->doc.text, d->doc.len, 0, &d->ids, err)) < 0)
      return rc;
    double t2 = tm_now_s();
    tok += t2 - t1;
    if (d->verdict != TM_CLEAN_DROP && w->dw) {
      if ((rc = tm_dedup_prepare(w->dw, d->doc.text, d->doc.len, &d->prep, d->sig, err)) < 0) return rc;
      sig += tm_now_s() - t2;
    }
  }
  double cpu = tm_thread_cpu_s() - c0, wall = tm_now_s() - w0, k = wall > 0 ? cpu / wall : 1;
  w->t.read_s += read * k, w->t.clean_s += clean * k, w->t.tok_s += tok * k, w->t.sig_s += sig * k;
  return 0;
}
