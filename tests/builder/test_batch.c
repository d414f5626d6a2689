/* test_batch.c - the worker step shared by build and serve (pipeline/batch/):
 * clean -> tokenize -> sign of a batch on one worker, and the document
 * helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/batch.h"
#include "tm_test.h"

static const char *kept_text =
    "The harbour was quiet in the early morning, and the fishermen were preparing their boats for the day. "
    "Some of them talked about the weather, which had been unusually warm for the season. "
    "A young woman walked along the pier with her dog, stopping now and then to look at the water. "
    "The old lighthouse keeper waved to her from the top of the stairs, as he did every day. "
    "Later that afternoon the wind picked up and the clouds moved in from the west over the hills. "
    "By the evening most of the boats had returned, and the market was full of people buying fish.";

static void set_doc(tm_batch_doc *d, const char *id, const char *text) {
  tm_document_set_text(&d->doc, text, strlen(text));
  free(d->doc.id);
  d->doc.id = strdup(id);
  d->is_error = 0;
  d->raw_bytes = strlen(text);
}

static void test_worker(const char *dir) {
  tm_error err = {0};
  tm_tokenizer *tok = NULL;
  CHECK(tm_tokenizer_new_bytelevel(&tok, TM_PRETOK_GPT2, &err) == 0);
  tm_clean_params cp;
  CHECK(tm_clean_params_preset(&cp, "web", &err) == 0);
  tm_dedup_params dp;
  tm_dedup_params_default(&dp);
  char idx[512];
  snprintf(idx, sizeof idx, "%s/dedup", dir);
  tm_dedup *dd = NULL;
  CHECK(tm_dedup_open(&dd, &dp, idx, &err) == 0);
  if (!tok || !dd) return;

  tm_batch_doc *docs = tm_batch_docs_new(3, tm_dedup_num_perm(dd));
  CHECK(docs != NULL);
  if (!docs) return;
  set_doc(&docs[0], "kept", kept_text);
  set_doc(&docs[1], "short", "hi");
  tm_batch_doc_set_error(&docs[2], "x.jsonl:3: bad JSON");
  CHECK(docs[2].is_error && !strcmp(docs[2].msg, "x.jsonl:3: bad JSON") && docs[2].raw_bytes == 0);

  tm_batch_worker_options wo = {.n_profiles = 2, .tok = tok, .dedup = dd};
  tm_batch_worker *w = tm_batch_worker_new(&wo);
  CHECK(w != NULL);
  CHECK(tm_batch_worker_run(w, 1, &cp, docs, 3, &err) == 0);
  /* kept: tokens are the encoder's on the cleaned text, keys are signed */
  CHECKF(docs[0].verdict != TM_CLEAN_DROP, "dropped by %s", docs[0].reason ? docs[0].reason : "?");
  size_t plen = strlen(kept_text) < TM_BATCH_PREFIX - 1 ? strlen(kept_text) : TM_BATCH_PREFIX - 1;
  CHECK(docs[0].raw_prefix_len == plen && !memcmp(docs[0].raw_prefix, kept_text, plen));
  tm_encoder *enc = tm_encoder_new(tok);
  tm_ids ref = {0};
  CHECK(tm_encoder_encode(enc, docs[0].doc.text, docs[0].doc.len, 0, &ref, &err) == 0);
  CHECK(ref.len > 0 && docs[0].ids.len == ref.len && !memcmp(ref.ids, docs[0].ids.ids, ref.len * sizeof *ref.ids));
  CHECK(docs[0].prep.len == docs[0].doc.len && docs[0].prep.sig == docs[0].sig);
  /* the same keys as the stage's own prepare */
  tm_dedup_worker *dw = tm_dedup_worker_new(dd);
  tm_dedup_prepared pr;
  uint32_t *sig = calloc((size_t)tm_dedup_num_perm(dd) + 1, sizeof *sig);
  CHECK(tm_dedup_prepare(dw, docs[0].doc.text, docs[0].doc.len, &pr, sig, &err) == 0);
  CHECK(!memcmp(pr.exact, docs[0].prep.exact, sizeof pr.exact));
  CHECK(!memcmp(sig, docs[0].sig, (size_t)tm_dedup_num_perm(dd) * sizeof *sig));
  free(sig);
  tm_dedup_worker_free(dw);
  /* dropped: a reason, no tokens; the reader error untouched */
  CHECK(docs[1].verdict == TM_CLEAN_DROP && docs[1].reason && docs[1].ids.len == 0);
  CHECK(docs[1].raw_prefix_len == 2 && !memcmp(docs[1].raw_prefix, "hi", 2));
  CHECK(docs[2].is_error && docs[2].ids.len == 0);
  tm_batch_times t;
  tm_batch_worker_times(w, &t);
  CHECK(t.clean_s >= 0 && t.tok_s >= 0 && t.sig_s >= 0 && t.read_s >= 0 && t.decoded_bytes == 0);

  /* a profile the worker was not made for is an error, not a crash */
  memset(&err, 0, sizeof err);
  CHECK(tm_batch_worker_run(w, 2, &cp, docs, 1, &err) < 0 && err.msg[0]);
  CHECK(tm_batch_worker_run(w, -1, &cp, docs, 1, &err) < 0);

  /* line dedup shortened a kept document: new text, tokens again, MODIFIED */
  docs[0].verdict = TM_CLEAN_KEEP;
  tm_dedup_verdict v = {.kind = TM_DEDUP_UNIQUE, .text = "the end", .len = 7, .lines_removed = 3};
  CHECK(tm_batch_doc_take_lines(&docs[0], &v, enc, &err) == 0);
  ref.len = 0;
  CHECK(tm_encoder_encode(enc, "the end", 7, 0, &ref, &err) == 0);
  CHECK(docs[0].doc.len == 7 && !memcmp(docs[0].doc.text, "the end", 7) && docs[0].verdict == TM_CLEAN_MODIFIED);
  CHECK(docs[0].ids.len == ref.len && !memcmp(ref.ids, docs[0].ids.ids, ref.len * sizeof *ref.ids));

  /* shrink gives back buffers above the limit only */
  size_t cap = docs[1].doc.cap;
  tm_batch_doc_shrink(&docs[1], cap);
  CHECK(docs[1].doc.cap == cap);
  tm_batch_doc_shrink(&docs[1], 0);
  CHECK(docs[1].doc.cap == 0 || docs[1].doc.cap < cap);
  tm_batch_doc_shrink(&docs[0], 0);
  CHECK(docs[0].ids.cap == 0 && docs[0].ids.ids == NULL);

  /* without a tokenizer and a dedup stage: clean only */
  tm_batch_worker_options wo2 = {.n_profiles = 1};
  tm_batch_worker *w2 = tm_batch_worker_new(&wo2);
  set_doc(&docs[0], "kept", kept_text);
  CHECK(w2 && tm_batch_worker_run(w2, 0, &cp, docs, 1, &err) == 0);
  CHECK(docs[0].verdict != TM_CLEAN_DROP && docs[0].ids.len == 0);
  tm_batch_worker_free(w2);

  tm_ids_free(&ref);
  tm_encoder_free(enc);
  tm_batch_worker_free(w);
  tm_batch_docs_free(docs, 3);
  tm_dedup_close(dd);
  tm_tokenizer_free(tok);
}

int main(void) {
  char dir[] = "/tmp/tm_test_batch.XXXXXX";
  if (!mkdtemp(dir)) return 1;
  test_worker(dir);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return tm_test_finish("test_batch");
}
