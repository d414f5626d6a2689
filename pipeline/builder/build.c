/* build.c - the offline shard builder; see build.h for the design. */
#include "build.h"
#include "clock.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch/batch.h"
#include "batch/quarantine.h"
#include "bpe/bpe_train.h"
#include "bpe/bpe_words.h"
#include "build_int.h"
#include "clean/clean.h"
#include "clean/normalize.h"
#include "dedup/dedup.h"
#include "io.h"
#include "log.h"
#include "readers/reader.h"
#include "shard.h"
#include "shards/shard_commit.h"
#include "shards/shard_dir.h"
#include "tokenizer.h"

const tm_config_key tm_build_config_keys[] = {
    {"build", "threads", TM_CFG_INT, "0", "worker threads for clean and tokenize (0: all cores)"},
    {"build", "batch_docs", TM_CFG_INT, "256", "documents per unit of work handed to a worker"},
    {"build", "batch_bytes", TM_CFG_SIZE, "8MiB", "a batch is closed once it holds this many bytes"},
    {"build", "tokenizer_sample", TM_CFG_SIZE, "64MiB",
     "cleaned text (in input order) a tokenizer is trained on when none is given"},
    {"build", "profile", TM_CFG_STR, "web",
     "profile of inputs whose path names none (a folder or file named web, books or social does)"},
    {NULL, NULL, 0, NULL, NULL},
};

static volatile sig_atomic_t g_stop;
void tm_build_request_stop(void) { g_stop = 1; }

/* Stage times are CPU seconds: a batch's thread CPU time is shared among
 * its stages in proportion to their wall time (cheap vDSO clock per
 * document, one CPU clock call per batch), so the split stays right when
 * other processes take the cores. */
static double cpu_scale(double cpu0, double wall0) {
  double cpu = tm_thread_cpu_s() - cpu0, wall = tm_now_s() - wall0;
  return wall > 0 ? cpu / wall : 1;
}

/* ---- work units ----------------------------------------------------------- */

/* A batch's documents are tm_batch_doc (batch.h): event is the index of the
 * reader event in its file. */
typedef tm_batch_doc slot;

enum { B_FREE, B_FILLED, B_WORKING, B_DONE };

typedef struct {
  int state;
  uint64_t seq;
  size_t file;
  int profile;
  size_t n, cap;
  slot *slots;
  int file_done; /* the last batch of its file */
} batch;

typedef struct {
  char name[64];
  tm_clean_params params;
} profile;

typedef struct build build;

typedef struct {
  build *b;
  int index;
  tm_batch_worker *bw; /* clean, tokenize, sign; no signing when dedup runs whole on the commit thread */
  tm_error err;
  int failed;
} worker;

struct build {
  const tm_build_options *o;
  tm_build_file *files;
  size_t n_files;
  profile *profiles;
  int n_profiles;
  int *file_profile;
  tm_tokenizer *tok;
  char tok_origin[PATH_MAX + 32];
  tm_dedup *dedup;
  int dedup_split; /* signatures on the workers, index on the commit thread */
  tm_encoder *commit_enc; /* re-tokenizes text that line dedup shortened */
  /* distributed passes */
  int keys_fd;             /* pass 1: dedup keys out (OUT/keys.bin.tmp) */
  char keys_path[PATH_MAX];
  uint64_t keys_bytes;
  uint8_t *verdicts;       /* pass 2: one byte per clean-kept document */
  size_t n_verdicts;
  uint64_t cand;           /* clean-kept documents committed so far (journaled) */
  int stopped;             /* SIGINT/SIGTERM: stopped at a shard boundary */
  int read_limit;          /* --stop-after-docs reached: read no more */
  tm_shard_dir *sd;
  /* journal state: what the commit thread has made part of the output */
  uint64_t *committed_events;
  uint8_t *file_done;
  tm_build_stats stats;
  tm_quarantine q; /* q.bytes: the quarantine length the journal covers */
  /* resume positions */
  uint64_t *start_events;
  /* batches */
  batch *batches;
  size_t n_batches;
  size_t batch_docs;
  uint64_t batch_bytes;
  pthread_mutex_t mu;
  /* One condition per kind of waiter, so a state change wakes only the
   * thread that can act on it (a broadcast to all woke every thread at
   * every batch: thousands of needless wake-ups on inputs of small files). */
  pthread_cond_t cv_work;   /* workers: a batch was filled, or the end */
  pthread_cond_t cv_commit; /* the commit thread: a batch is done */
  pthread_cond_t cv_free;   /* the producer: a batch slot was freed */
  uint64_t next_fill, next_commit;
  int producer_done, abort;
  /* timing */
  double dedup_s, write_s, read_s;
  atomic_uint_fast64_t bytes_read; /* input file bytes (compressed as stored) */
  atomic_uint_fast64_t doc_bytes;  /* document bytes as read (decompressed, decoded) */
  uint64_t total_bytes;
  tm_error commit_err;
  int commit_failed;
  char pending_path[PATH_MAX];
};

/* ---- profiles --------------------------------------------------------------- */

static int profile_index(build *b, const char *name, tm_error *err) {
  for (int i = 0; i < b->n_profiles; i++)
    if (!strcmp(b->profiles[i].name, name)) return i;
  profile *np = realloc(b->profiles, (size_t)(b->n_profiles + 1) * sizeof *np);
  if (!np) return tm_err(err, TM_ENOMEM, "out of memory");
  b->profiles = np;
  profile *p = &b->profiles[b->n_profiles];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  int rc = tm_clean_params_from_config(&p->params, b->o->cfg, name, err);
  if (rc < 0) return tm_err_prefix(err, "profile '%s'", name);
  return b->n_profiles++;
}

/* The reader options of a profile (the text field points into the profile,
 * so take them fresh: the profile array may move as it grows). */
static tm_reader_options reader_opts(const build *b, int pi) {
  tm_reader_options ro = b->profiles[pi].params.reader;
  ro.text_field = b->profiles[pi].params.reader_text_field[0] ? b->profiles[pi].params.reader_text_field : NULL;
  return ro;
}

/* The source tag written into shards: the profile's source kind name. */
static const char *source_tag(const build *b, int prof) {
  switch (b->profiles[prof].params.source) {
  case TM_SOURCE_BOOK: return "books";
  case TM_SOURCE_SOCIAL: return "social";
  default: return "web";
  }
}

/* ---- journal (build_journal.c) ---------------------------------------------- */

static tm_build_journal journal_view(build *b) {
  return (tm_build_journal){b->committed_events, b->file_done, &b->stats, b->q.bytes, b->cand};
}

static char *journal_json(build *b) {
  tm_build_journal j = journal_view(b);
  return tm_build_journal_json(b->files, b->n_files, tm_tokenizer_hash(b->tok), &j);
}

/* Restore positions, statistics and the quarantine length from a journal. */
static int journal_restore(build *b, const char *text, tm_error *err) {
  tm_build_journal j = journal_view(b);
  int rc = tm_build_journal_restore(text, b->files, b->n_files, b->o->out_dir, &j, err);
  if (rc < 0) return rc;
  memcpy(b->start_events, b->committed_events, b->n_files * sizeof *b->start_events);
  b->q.bytes = j.quarantine_bytes;
  b->cand = j.candidates;
  return 0;
}

/* The shard directory's commit hook (shard_commit.h): quarantine durable,
 * pending journal, dedup checkpoint; the journal is published with the shard. */
static int commit_hook(void *user, const char *shard, uint64_t shards_after, char **journal,
                       tm_error *err) {
  build *b = user;
  char *j = journal_json(b);
  if (!j) return tm_err(err, TM_ENOMEM, "out of memory");
  int rc = tm_shard_commit_stage(b->pending_path, b->q.fd, b->q.path, b->dedup, shard, shards_after, j, err);
  if (rc < 0) {
    free(j);
    return rc;
  }
  *journal = j;
  return 0;
}

/* After a crash: bring the shard directory and the dedup index to the same
 * commit, then continue from the manifest's journal. */
static int recover(build *b, tm_error *err) {
  int rc = tm_shard_commit_recover(b->sd, b->dedup, b->pending_path, b->o->out_dir, "build", err);
  if (rc < 0) return rc;
  const tm_manifest *m = tm_shard_dir_manifest(b->sd);
  return m->journal ? journal_restore(b, m->journal, err) : 0;
}

/* ---- tokenizer ---------------------------------------------------------------- */

static int split_specials(const char *list, char ***out, int *n) {
  *out = NULL;
  *n = 0;
  char *copy = strdup(list);
  if (!copy) return -TM_ENOMEM;
  char **v = calloc(strlen(list) + 1, sizeof *v);
  if (!v) {
    free(copy);
    return -TM_ENOMEM;
  }
  char *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ') t++;
    if (*t) v[(*n)++] = strdup(t);
  }
  free(copy);
  *out = v;
  return 0;
}

static int train_tokenizer(build *b, tm_error *err) {
  const tm_config *cfg = b->o->cfg;
  uint64_t sample = tm_config_size(cfg, "build", "tokenizer_sample");
  const char *pat = tm_config_str(cfg, "tokenizer", "pattern");
  tm_pretok_kind kind = !strcmp(pat, "gpt4") ? TM_PRETOK_GPT4 : TM_PRETOK_GPT2;
  tm_bpe_words *words = tm_bpe_words_new((size_t)tm_config_int(cfg, "tokenizer", "max_words"));
  if (!words) return tm_err(err, TM_ENOMEM, "out of memory");
  tm_clean **cl = calloc((size_t)b->n_profiles, sizeof *cl);
  tm_document doc;
  tm_document_init(&doc);
  uint64_t got = 0;
  int rc = cl ? 0 : tm_err(err, TM_ENOMEM, "out of memory");
  double t0 = tm_now_s();
  for (size_t f = 0; f < b->n_files && got < sample && rc == 0; f++) {
    int pi = b->file_profile[f];
    if (!cl[pi] && (rc = tm_clean_new(&cl[pi], &b->profiles[pi].params, err)) < 0) break;
    tm_reader *r;
    tm_reader_options ro = reader_opts(b, pi);
    if (tm_reader_open(&r, b->files[f].path, &ro, NULL) < 0) continue;
    int n;
    while (got < sample && (n = tm_reader_next(r, &doc, NULL)) != 0) {
      if (n < 0) continue;
      tm_clean_result res;
      if ((rc = tm_clean_doc(cl[pi], &doc, &res, NULL, err)) < 0) break;
      if (res.verdict == TM_CLEAN_DROP) continue;
      if ((rc = tm_bpe_words_add_text(words, kind, (const uint8_t *)doc.text, doc.len)) < 0) {
        rc = tm_err(err, TM_ENOMEM, "out of memory counting words");
        break;
      }
      got += doc.len;
    }
    tm_reader_close(r);
  }
  tm_document_free(&doc);
  for (int i = 0; cl && i < b->n_profiles; i++) tm_clean_free(cl[i]);
  free(cl);
  char **specials = NULL;
  int n_special = 0;
  if (rc == 0 && split_specials(tm_config_str(cfg, "tokenizer", "special_tokens"), &specials, &n_special) < 0)
    rc = tm_err(err, TM_ENOMEM, "out of memory");
  if (rc == 0) {
    tm_bpe_train_opts opts = {
        .vocab_size = (uint32_t)tm_config_int(cfg, "tokenizer", "vocab_size"),
        .min_frequency = (uint64_t)tm_config_int(cfg, "tokenizer", "min_frequency"),
        .special_tokens = (const char *const *)specials,
        .n_special = n_special,
        .alphabet = !strcmp(tm_config_str(cfg, "tokenizer", "alphabet"), "seen") ? TM_BPE_ALPHABET_SEEN
                                                                                   : TM_BPE_ALPHABET_FULL,
        .pattern = kind,
    };
    tm_bpe_train_stats st;
    rc = tm_bpe_train(words, &opts, &b->tok, &st, err);
    if (rc == 0)
      tm_info("tokenizer_trained", "sample_bytes=%" PRIu64 " words=%" PRIu64 " merges=%u vocab=%u seconds=%.2f",
              got, st.words, st.merges, st.vocab_size, tm_now_s() - t0);
  }
  for (int i = 0; i < n_special; i++) free(specials[i]);
  free(specials);
  tm_bpe_words_free(words);
  snprintf(b->tok_origin, sizeof b->tok_origin, "trained on the first %.1f MB of cleaned input",
           (double)got / 1e6);
  return rc;
}

/* ---- workers ------------------------------------------------------------------ */

/* Abort, or the end of the input: every thread must look (mu held). */
static void wake_all(build *b) {
  pthread_cond_broadcast(&b->cv_work);
  pthread_cond_broadcast(&b->cv_commit);
  pthread_cond_broadcast(&b->cv_free);
}

static void process_batch(worker *w, batch *bt) {
  build *b = w->b;
  if (tm_batch_worker_run(w->bw, bt->profile, &b->profiles[bt->profile].params, bt->slots, bt->n, &w->err) < 0)
    w->failed = 1;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  build *b = w->b;
  for (;;) {
    pthread_mutex_lock(&b->mu);
    batch *bt = NULL;
    for (;;) {
      /* the oldest filled batch */
      uint64_t best = UINT64_MAX;
      for (size_t i = 0; i < b->n_batches; i++)
        if (b->batches[i].state == B_FILLED && b->batches[i].seq < best) best = b->batches[i].seq, bt = &b->batches[i];
      if (bt || b->abort || (b->producer_done && b->next_commit == b->next_fill)) break;
      pthread_cond_wait(&b->cv_work, &b->mu);
    }
    if (!bt) {
      pthread_mutex_unlock(&b->mu);
      return NULL;
    }
    bt->state = B_WORKING;
    pthread_mutex_unlock(&b->mu);
    process_batch(w, bt);
    pthread_mutex_lock(&b->mu);
    bt->state = B_DONE;
    if (w->failed) {
      b->abort = 1;
      wake_all(b);
    } else if (bt->seq == b->next_commit) { /* the batch the commit thread waits for */
      pthread_cond_signal(&b->cv_commit);
    }
    pthread_mutex_unlock(&b->mu);
    if (w->failed) return NULL;
  }
}

/* ---- commit ------------------------------------------------------------------- */

/* A quarantine record of build: the input file and the reader event. */
static int quarantine(build *b, const slot *s, size_t file, tm_error *err) {
  json_t *o = json_object();
  json_object_set_new(o, "file", tm_json_text_lossy(b->files[file].path));
  json_object_set_new(o, "event", json_integer((json_int_t)s->event));
  json_object_set_new(o, "error", tm_json_text_lossy(s->msg ? s->msg : "?"));
  return tm_quarantine_append(&b->q, o, err);
}

static int write_keys(build *b, const slot *s, tm_error *err) {
  uint8_t head[48];
  size_t idl = strlen(s->doc.id);
  if (idl > 65535) idl = 65535;
  int has_sig = s->prep.sig != NULL;
  uint32_t k = (uint32_t)tm_dedup_num_perm(b->dedup);
  memset(head, 0, sizeof head);
  head[0] = (uint8_t)idl, head[1] = (uint8_t)(idl >> 8);
  head[2] = (uint8_t)((has_sig ? 1 : 0) | (s->prep.cjk ? 2 : 0));
  memcpy(head + 4, &k, 4);
  memcpy(head + 8, s->prep.exact, 16);
  uint64_t sh = s->prep.shingles, len = s->prep.len;
  memcpy(head + 24, &sh, 8);
  memcpy(head + 32, &len, 8);
  int rc = tm_io_write(b->keys_fd, head, 40, b->keys_path, "keys", err);
  if (rc == 0) rc = tm_io_write(b->keys_fd, s->doc.id, idl, b->keys_path, "keys", err);
  if (rc == 0 && has_sig) rc = tm_io_write(b->keys_fd, s->prep.sig, k * 4u, b->keys_path, "keys", err);
  b->cand++;
  return rc;
}

/* After SIGINT/SIGTERM the build goes on until the open shard is sealed
 * (full, exactly as an uninterrupted build would seal it), then stops: the
 * documents read past that point are not committed (the journal does not
 * cover them; the rerun reads them again). So a stopped and continued build
 * writes the same shards as one that was never stopped. */
static int stop_here(build *b) {
  if (!g_stop || !b->sd || b->keys_fd >= 0) return 0;
  if (tm_shard_dir_pending_docs(b->sd) != 0) return 0;
  b->stopped = 1;
  return 1;
}

static int commit_batch_docs(build *b, batch *bt, double *dedup_s, double *write_s, tm_error *err);

static int commit_batch(build *b, batch *bt, tm_error *err) {
  double c0 = tm_thread_cpu_s(), w0 = tm_now_s(), dedup = 0, write = 0;
  int rc = commit_batch_docs(b, bt, &dedup, &write, err);
  double k = cpu_scale(c0, w0);
  b->dedup_s += dedup * k, b->write_s += write * k;
  return rc;
}

static int commit_batch_docs(build *b, batch *bt, double *dedup_s, double *write_s, tm_error *err) {
  tm_build_source *src = tm_build_stats_source(&b->stats, b->files[bt->file].profile);
  const char *tag = source_tag(b, bt->profile);
  for (size_t i = 0; i < bt->n; i++) {
    slot *s = &bt->slots[i];
    if (stop_here(b)) return 0;
    b->committed_events[bt->file] = s->event + 1;
    if (s->is_error) {
      src->rejected++;
      int rc = quarantine(b, s, bt->file, err);
      if (rc < 0) return rc;
      continue;
    }
    src->docs_in++;
    src->bytes_in += s->raw_bytes;
    if (s->verdict == TM_CLEAN_DROP) {
      src->dropped++;
      src->bytes_dropped += s->raw_bytes;
      /* the example: the text as the rule saw it, or the input when that is empty */
      int as_seen = s->doc.len > 0;
      tm_build_stats_drop(src, s->reason ? s->reason : "unknown", s->raw_bytes, s->doc.id,
                          as_seen ? s->doc.text : s->raw_prefix, as_seen ? s->doc.len : s->raw_prefix_len);
      continue;
    }
    if (b->keys_fd >= 0) { /* pass 1 of a distributed build */
      int rc = write_keys(b, s, err);
      if (rc < 0) return rc;
      continue;
    }
    double t0 = tm_now_s();
    tm_dedup_verdict v;
    if (b->verdicts) { /* pass 2: the verdicts of the global index */
      if (b->cand >= b->n_verdicts)
        return tm_err(err, TM_ECORRUPT, "%s: more clean-kept documents than verdicts (%zu): inputs or configuration differ from pass 1",
                      b->o->verdicts, b->n_verdicts);
      uint8_t k = b->verdicts[b->cand++];
      memset(&v, 0, sizeof v);
      v.kind = k == 1 ? TM_DEDUP_EXACT : k == 2 ? TM_DEDUP_NEAR : TM_DEDUP_UNIQUE;
    }
    int rc = b->verdicts ? 0
           : b->dedup_split ? tm_dedup_commit(b->dedup, s->doc.id, strlen(s->doc.id), &s->prep, &v, err)
                            : tm_dedup_process(b->dedup, s->doc.id, strlen(s->doc.id), s->doc.text, s->doc.len, &v, err);
    double t1 = tm_now_s();
    *dedup_s += t1 - t0;
    if (rc < 0) return rc;
    if (v.kind != TM_DEDUP_UNIQUE) {
      if (v.kind == TM_DEDUP_NEAR) src->near_dups++;
      else if (v.kind == TM_DEDUP_EXACT) src->exact_dups++;
      else { /* every line was a repeated boilerplate line */
        src->dropped++;
        src->bytes_dropped += s->raw_bytes;
        tm_build_stats_drop(src, "dedup.repeated_lines", s->raw_bytes, s->doc.id, s->doc.text, s->doc.len);
      }
      continue;
    }
    if (v.lines_removed > 0) {
      /* line-level dedup shortened the text: tokenize what is emitted */
      if ((rc = tm_batch_doc_take_lines(s, &v, b->commit_enc, err)) < 0) return rc;
    }
    src->kept++;
    src->bytes_kept += s->doc.len;
    if (s->verdict == TM_CLEAN_MODIFIED) src->modified++;
    src->tokens += s->ids.len + 1;
    rc = tm_shard_dir_append(b->sd, s->ids.ids, s->ids.len, tm_doc_id_hash(s->doc.id, strlen(s->doc.id)), tag,
                             err);
    *write_s += tm_now_s() - t1;
    if (rc < 0) return rc;
  }
  if (b->stopped) return 0;
  if (bt->file_done && !b->file_done[bt->file]) {
    b->file_done[bt->file] = 1;
    src->files++;
  }
  return 0;
}

static void *commit_main(void *arg) {
  build *b = arg;
  for (;;) {
    pthread_mutex_lock(&b->mu);
    batch *bt;
    for (;;) {
      bt = &b->batches[b->next_commit % b->n_batches];
      if (b->abort) break;
      if (b->next_commit < b->next_fill && bt->seq == b->next_commit && bt->state == B_DONE) break;
      if (b->producer_done && b->next_commit == b->next_fill) {
        bt = NULL;
        break;
      }
      pthread_cond_wait(&b->cv_commit, &b->mu);
    }
    if (b->abort || !bt) {
      pthread_mutex_unlock(&b->mu);
      return NULL;
    }
    pthread_mutex_unlock(&b->mu);
    int rc = commit_batch(b, bt, &b->commit_err);
    pthread_mutex_lock(&b->mu);
    if (rc < 0) {
      b->commit_failed = 1;
      b->abort = 1;
    }
    if (b->stopped) b->abort = 1; /* a clean stop at a shard boundary */
    bt->state = B_FREE;
    b->next_commit++;
    if (b->abort || (b->producer_done && b->next_commit == b->next_fill)) wake_all(b);
    else pthread_cond_signal(&b->cv_free);
    pthread_mutex_unlock(&b->mu);
    if (rc < 0 || b->stopped) return NULL;
  }
}

/* ---- producer ----------------------------------------------------------------- */

/* Wait for the batch slot of the next sequence number; NULL when aborting. */
static batch *next_free_batch(build *b) {
  pthread_mutex_lock(&b->mu);
  batch *bt = &b->batches[b->next_fill % b->n_batches];
  while (bt->state != B_FREE && !b->abort) pthread_cond_wait(&b->cv_free, &b->mu);
  pthread_mutex_unlock(&b->mu);
  if (b->abort) return NULL;
  bt->seq = b->next_fill;
  bt->n = 0;
  bt->file_done = 0;
  return bt;
}

static void submit(build *b, batch *bt) {
  pthread_mutex_lock(&b->mu);
  bt->state = B_FILLED;
  b->next_fill++;
  pthread_cond_signal(&b->cv_work);
  pthread_mutex_unlock(&b->mu);
}

static void progress(build *b, int live, double t_start, int final) {
  static double last;
  double t = tm_now_s();
  if (!final && t - last < (live ? 0.5 : 5.0)) return;
  last = t;
  uint64_t done = atomic_load(&b->bytes_read), in = 0, drop = 0, dup = 0;
  for (int i = 0; i < b->stats.n_sources; i++) {
    in += b->stats.sources[i].docs_in;
    drop += b->stats.sources[i].dropped;
    dup += b->stats.sources[i].exact_dups + b->stats.sources[i].near_dups;
  }
  double el = t - t_start, rate = el > 0 ? (double)done / el : 0;
  double eta = rate > 0 && b->total_bytes > done ? (double)(b->total_bytes - done) / rate : 0;
  double pdrop = in ? 100.0 * (double)drop / (double)in : 0, pdup = in ? 100.0 * (double)dup / (double)in : 0;
  if (live)
    fprintf(stderr, "\r%.1f/%.1f MB  %" PRIu64 " docs  %.1f MB/s  %.0f docs/s  dropped %.1f%%  dups %.1f%%  ETA %.0fs   %s",
            (double)done / 1e6, (double)b->total_bytes / 1e6, in, rate / 1e6, el > 0 ? (double)in / el : 0, pdrop,
            pdup, eta, final ? "\n" : "");
  else
    tm_info("build_progress", "mb_done=%.1f mb_total=%.1f docs=%" PRIu64 " mb_per_s=%.2f dropped_pct=%.1f dups_pct=%.1f eta_s=%.0f",
            (double)done / 1e6, (double)b->total_bytes / 1e6, in, rate / 1e6, pdrop, pdup, eta);
}

static int produce(build *b, int live, double t_start) {
  tm_error rerr = {0};
  uint64_t docs_total = 0;
  /* after SIGINT the commit thread decides where to stop (stop_here);
   * pass 1 of a distributed build (no shards) just stops reading */
#define READ_STOP (b->abort || b->read_limit || (g_stop && !b->sd))
  for (size_t f = 0; f < b->n_files && !READ_STOP; f++) {
    if (b->file_done[f]) {
      atomic_fetch_add(&b->bytes_read, b->files[f].size);
      continue;
    }
    int pi = b->file_profile[f];
    tm_reader_options ro = reader_opts(b, pi);
    ro.defer_email = 1; /* e-mail fields are decoded on the workers (tm_batch_worker_run) */
    tm_reader *r = NULL;
    uint64_t event = 0, skip = b->start_events[f];
    batch *bt = next_free_batch(b);
    if (!bt) break;
    bt->file = f;
    bt->profile = pi;
    double tr = tm_thread_cpu_s();
    if (tm_reader_open(&r, b->files[f].path, &ro, &rerr) < 0) {
      /* the whole file is one rejected record */
      slot *s = &bt->slots[0];
      tm_batch_doc_set_error(s, rerr.msg);
      s->event = 0;
      bt->n = 1;
      bt->file_done = 1;
      submit(b, bt);
      continue;
    }
    uint64_t bytes = 0, last_in = 0;
    int n = 1;
    while (!READ_STOP) {
      slot *s = &bt->slots[bt->n];
      n = tm_reader_next(r, &s->doc, &rerr);
      tm_reader_stats rs;
      tm_reader_get_stats(r, &rs);
      atomic_fetch_add(&b->bytes_read, rs.bytes_in - last_in);
      last_in = rs.bytes_in;
      if (n == 0) break;
      uint64_t ev = event++;
      if (ev < skip) continue; /* committed by an earlier run */
      s->event = ev;
      s->is_error = n < 0;
      if (n < 0) {
        tm_batch_doc_set_error(s, rerr.msg);
      } else {
        /* a deferred e-mail's size is known once a worker decoded it */
        s->raw_bytes = s->doc.len;
        if (s->doc.format != TM_DOC_EMAIL) atomic_fetch_add(&b->doc_bytes, s->doc.len);
        docs_total++;
      }
      bytes += s->raw_bytes;
      bt->n++;
      if (bt->n == b->batch_docs || bytes >= b->batch_bytes) {
        b->read_s += tm_thread_cpu_s() - tr;
        submit(b, bt);
        progress(b, live, t_start, 0);
        bt = next_free_batch(b);
        if (!bt) break;
        bt->file = f;
        bt->profile = pi;
        bytes = 0;
        tr = tm_thread_cpu_s();
      }
      if (b->o->stop_after_docs && docs_total >= b->o->stop_after_docs) b->read_limit = 1;
    }
    b->read_s += tm_thread_cpu_s() - tr;
    /* the rest of the file was consumed (n == 0) unless we were stopped */
    atomic_fetch_add(&b->bytes_read, b->files[f].size > last_in ? b->files[f].size - last_in : 0);
    tm_reader_close(r);
    if (!bt) break;
    bt->file_done = n == 0;
    submit(b, bt);
  }
  pthread_mutex_lock(&b->mu);
  b->producer_done = 1;
  wake_all(b);
  pthread_mutex_unlock(&b->mu);
  return 0;
}

/* ---- run ------------------------------------------------------------------------ */

static int cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

static char *profiles_markdown(const build *b) {
  size_t cap = 4096, n = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  s[0] = 0;
  for (int i = 0; i < b->n_profiles; i++) {
    const tm_clean_params *p = &b->profiles[i].params;
    char line[1024];
    int k = snprintf(line, sizeof line,
                     "- **%s** (source %s): normalisation %s; C4 lines %s; Gopher quality %s (words %.0f..%.0f, "
                     "mean word length %.0f..%.0f, stop words >= %.0f); Gopher repetition %s; FineWeb %s; "
                     "PII redaction %s; languages %s (min confidence %.2f)\n",
                     b->profiles[i].name, tm_source_name(p->source),
                     p->norm == TM_NORM_NFKC ? "NFKC" : p->norm == TM_NORM_NFC ? "NFC" : "none",
                     p->c4_enabled ? "on" : "off", p->gq_enabled ? "on" : "off", p->gq.min_doc_words,
                     p->gq.max_doc_words, p->gq.min_avg_word_length, p->gq.max_avg_word_length,
                     p->gq.min_stop_words, p->gr_enabled ? "on" : "off", p->fw_enabled ? "on" : "off",
                     p->pii_enabled ? "on" : "off", p->lang_allow[0] ? p->lang_allow : "any",
                     p->lang_min_confidence);
    if (k < 0) continue;
    if (n + (size_t)k + 1 > cap) {
      cap = (n + (size_t)k + 1) * 2;
      char *ns = realloc(s, cap);
      if (!ns) break;
      s = ns;
    }
    memcpy(s + n, line, (size_t)k + 1);
    n += (size_t)k;
  }
  return s;
}

int tm_build_run(const tm_build_options *o, tm_build_result *res, tm_error *err) {
  memset(res, 0, sizeof *res);
  g_stop = 0;
  double t_start = tm_now_s();
  build *b = calloc(1, sizeof *b);
  if (!b) return tm_err(err, TM_ENOMEM, "out of memory");
  b->o = o;
  b->keys_fd = -1;
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv_work, NULL);
  pthread_cond_init(&b->cv_commit, NULL);
  pthread_cond_init(&b->cv_free, NULL);
  tm_quarantine_init(&b->q, o->out_dir);
  snprintf(b->pending_path, sizeof b->pending_path, "%s/journal.pending", o->out_dir);
  int threads = o->threads ? o->threads : (int)tm_config_int(o->cfg, "build", "threads");
  if (threads <= 0) threads = cpu_count();
  b->batch_docs = (size_t)tm_config_int(o->cfg, "build", "batch_docs");
  if (b->batch_docs < 1) b->batch_docs = 1;
  b->batch_bytes = tm_config_size(o->cfg, "build", "batch_bytes");
  const char *defprof = o->default_profile ? o->default_profile : tm_config_str(o->cfg, "build", "profile");
  worker *workers = NULL;
  pthread_t *tids = NULL, ctid;
  int n_started = 0, commit_started = 0;
  char path[PATH_MAX];
  int lock_fd = -1;

  int rc = tm_build_expand_inputs(o->inputs, o->n_inputs, defprof, &b->files, &b->n_files, err);
  if (rc < 0) goto out;
  if (o->part_world > 1) { /* this rank's share of a distributed build */
    size_t lo, hi;
    tm_build_partition(b->files, b->n_files, o->part_rank, o->part_world, &lo, &hi);
    for (size_t i = 0; i < lo; i++) free(b->files[i].path);
    for (size_t i = hi; i < b->n_files; i++) free(b->files[i].path);
    memmove(b->files, b->files + lo, (hi - lo) * sizeof *b->files);
    b->n_files = hi - lo;
  }
  b->file_profile = calloc(b->n_files, sizeof *b->file_profile);
  b->committed_events = calloc(b->n_files, sizeof *b->committed_events);
  b->start_events = calloc(b->n_files, sizeof *b->start_events);
  b->file_done = calloc(b->n_files, 1);
  if (!b->file_profile || !b->committed_events || !b->start_events || !b->file_done) {
    rc = tm_err(err, TM_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t f = 0; f < b->n_files && rc == 0; f++) {
    rc = profile_index(b, b->files[f].profile, err);
    if (rc >= 0) b->file_profile[f] = rc, rc = 0;
    b->total_bytes += b->files[f].size;
  }
  if (rc < 0) goto out;
  if ((rc = tm_io_mkdirs(o->out_dir, err)) < 0) goto out;
  /* one build per output directory at a time */
  snprintf(path, sizeof path, "%s/.lock", o->out_dir);
  lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) {
    rc = tm_err_sys(err, "%s", path);
    goto out;
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    rc = tm_err(err, TM_ESTATE, "%s: another build is running on this output directory", o->out_dir);
    goto out;
  }

  /* tokenizer: given, kept from an earlier run, or trained now */
  snprintf(path, sizeof path, "%s/tokenizer.json", o->out_dir);
  struct stat st;
  double tt0 = tm_now_s();
  if (o->sign_keys) {
    /* pass 1 of a distributed build: no tokens, no shards */
  } else if (o->tokenizer_path) {
    rc = tm_tokenizer_load(&b->tok, o->tokenizer_path, err);
    snprintf(b->tok_origin, sizeof b->tok_origin, "given: %s", o->tokenizer_path);
    if (rc == 0 && stat(path, &st) == 0) {
      tm_tokenizer *old;
      if (tm_tokenizer_load(&old, path, err) == 0) {
        if (tm_tokenizer_hash(old) != tm_tokenizer_hash(b->tok))
          rc = tm_err(err, TM_EINVAL, "%s holds a build with another tokenizer: use a new output directory", o->out_dir);
        tm_tokenizer_free(old);
      }
    }
    if (rc == 0) rc = tm_tokenizer_save(b->tok, path, err);
  } else if (stat(path, &st) == 0) {
    rc = tm_tokenizer_load(&b->tok, path, err);
    snprintf(b->tok_origin, sizeof b->tok_origin, "trained by an earlier run of this build");
  } else {
    rc = train_tokenizer(b, err);
    if (rc == 0) rc = tm_tokenizer_save(b->tok, path, err);
  }
  double tok_train_s = tm_now_s() - tt0;
  if (rc < 0) goto out;
  if (o->sign_keys) goto dedup;
  if (tm_tokenizer_eot_id(b->tok) < 0) {
    rc = tm_err(err, TM_EINVAL, "the tokenizer has no <|endoftext|> token (documents are separated by it)");
    goto out;
  }

  /* output directory, dedup index, recovery */
  tm_shard_dir_options so = {0};
  tm_shard_params_default(&so.params);
  so.params.vocab_size = tm_tokenizer_vocab_size(b->tok);
  so.params.eot_id = (uint32_t)tm_tokenizer_eot_id(b->tok);
  so.params.tokenizer_hash = tm_tokenizer_hash(b->tok);
  so.params.frame_bytes = (size_t)tm_config_size(o->cfg, "shard", "frame_size");
  so.params.zstd_level = (int)tm_config_int(o->cfg, "shard", "zstd_level");
  so.max_tokens = (uint64_t)tm_config_int(o->cfg, "shard", "max_tokens");
  so.max_docs = (uint64_t)tm_config_int(o->cfg, "shard", "max_docs");
  if ((rc = tm_shard_dir_open(&b->sd, o->out_dir, &so, err)) < 0) goto out;
dedup:;
  tm_dedup_params dp;
  tm_dedup_params_default(&dp);
  if ((rc = tm_dedup_params_from_config(o->cfg, &dp, err)) < 0) goto out;
  snprintf(path, sizeof path, "%s/dedup", o->out_dir);
  if (o->verdicts) {
    /* pass 2 of a distributed build: the global index's verdicts, no local index */
    char *v;
    size_t vlen;
    if ((rc = tm_io_read_file(o->verdicts, (size_t)1 << 40, &v, &vlen, err)) < 0) goto out;
    b->verdicts = (uint8_t *)v;
    b->n_verdicts = vlen;
  } else if ((rc = tm_dedup_open(&b->dedup, &dp, path, err)) < 0) {
    goto out;
  }
  /* line-level dedup is sequential by nature: then the whole stage runs on the commit thread */
  b->dedup_split = b->dedup && !tm_config_bool(o->cfg, "dedup", "line_dedup");
  if (o->sign_keys) {
    if (!b->dedup_split) {
      rc = tm_err(err, TM_EINVAL, "a distributed build does not support [dedup] line_dedup");
      goto out;
    }
    snprintf(b->keys_path, sizeof b->keys_path, "%s.tmp", o->sign_keys);
    b->keys_fd = tm_io_open(b->keys_path, O_WRONLY | O_CREAT | O_TRUNC, 0644, "keys", err);
    if (b->keys_fd < 0) {
      rc = b->keys_fd;
      goto out;
    }
    if ((rc = tm_io_write(b->keys_fd, TM_BUILD_KEYS_MAGIC, 8, b->keys_path, "keys", err)) < 0) goto out;
  } else {
    if (!(b->commit_enc = tm_encoder_new(b->tok))) {
      rc = tm_err(err, TM_ENOMEM, "out of memory");
      goto out;
    }
    if ((rc = recover(b, err)) < 0) goto out;
  }
  res->resumed = b->sd && (tm_shard_dir_manifest(b->sd)->n_shards > 0 || tm_shard_dir_manifest(b->sd)->journal != NULL);
  /* the quarantine holds exactly what the journal committed */
  if ((rc = tm_quarantine_restore(&b->q, b->q.bytes, err)) < 0) goto out;
  if (b->sd) tm_shard_dir_set_commit_hook(b->sd, commit_hook, b);

  /* pipeline */
  b->n_batches = (size_t)threads * 2 + 2;
  b->batches = calloc(b->n_batches, sizeof *b->batches);
  workers = calloc((size_t)threads, sizeof *workers);
  tids = calloc((size_t)threads, sizeof *tids);
  if (!b->batches || !workers || !tids) {
    rc = tm_err(err, TM_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < b->n_batches; i++) {
    b->batches[i].slots = tm_batch_docs_new(b->batch_docs, b->dedup ? tm_dedup_num_perm(b->dedup) : 0);
    if (!b->batches[i].slots) {
      rc = tm_err(err, TM_ENOMEM, "out of memory");
      goto out;
    }
    b->batches[i].cap = b->batch_docs;
  }
  for (int i = 0; i < threads; i++) {
    workers[i].b = b;
    workers[i].index = i;
    tm_batch_worker_options wo = {.n_profiles = b->n_profiles, .tok = b->tok, .dedup = b->dedup_split ? b->dedup : NULL};
    if (!(workers[i].bw = tm_batch_worker_new(&wo))) {
      rc = tm_err(err, TM_ENOMEM, "out of memory");
      goto out;
    }
  }
  for (int i = 0; i < threads; i++) {
    if (pthread_create(&tids[i], NULL, worker_main, &workers[i]) != 0) {
      rc = tm_err(err, TM_EIO, "cannot start worker threads");
      goto stop;
    }
    n_started++;
  }
  if (pthread_create(&ctid, NULL, commit_main, b) != 0) {
    rc = tm_err(err, TM_EIO, "cannot start the commit thread");
    goto stop;
  }
  commit_started = 1;
  int live = o->progress < 0 ? isatty(STDERR_FILENO) : o->progress;
  produce(b, live, t_start);
stop:
  if (rc < 0) {
    pthread_mutex_lock(&b->mu);
    b->abort = 1;
    b->producer_done = 1;
    wake_all(b);
    pthread_mutex_unlock(&b->mu);
  }
  if (commit_started) pthread_join(ctid, NULL);
  pthread_mutex_lock(&b->mu);
  b->producer_done = 1;
  b->abort = 1; /* wake workers: nothing more to do */
  wake_all(b);
  pthread_mutex_unlock(&b->mu);
  for (int i = 0; i < n_started; i++) pthread_join(tids[i], NULL);
  if (rc == 0) {
    for (int i = 0; i < threads && rc == 0; i++)
      if (workers[i].failed) {
        *err = workers[i].err;
        rc = -(err->code ? err->code : TM_EIO);
      }
    if (rc == 0 && b->commit_failed) {
      *err = b->commit_err;
      rc = -(err->code ? err->code : TM_EIO);
    }
  }
  if (rc == 0 && b->stopped) {
    /* publish the positions and counters reached (documents dropped since
     * the last seal left the index as the last checkpoint has it) */
    rc = tm_quarantine_sync(&b->q, err);
    if (rc == 0 && b->dedup) rc = tm_dedup_checkpoint(b->dedup, tm_shard_dir_manifest(b->sd)->n_shards, err);
    char *j = rc == 0 ? journal_json(b) : NULL;
    if (rc == 0) rc = j ? tm_shard_dir_commit_journal(b->sd, j, err) : tm_err(err, TM_ENOMEM, "out of memory");
    free(j);
    if (rc < 0) goto out;
    res->interrupted = 1;
    tm_info("build_stopped", "out=%s shards=%zu reason=signal (rerun to continue)", o->out_dir,
            tm_shard_dir_manifest(b->sd)->n_shards);
    goto report;
  }
  if (rc == 0 && o->sign_keys) {
    /* pass 1: publish the keys file; nothing else */
    rc = tm_io_fsync(b->keys_fd, b->keys_path, "keys", err);
    if (rc == 0) rc = tm_io_close(b->keys_fd, b->keys_path, "keys", err);
    b->keys_fd = -1;
    if (rc == 0) rc = tm_io_rename(b->keys_path, o->sign_keys, "keys", err);
    if (rc == 0) tm_info("build_keys_written", "path=%s documents=%" PRIu64, o->sign_keys, b->cand);
    res->interrupted = g_stop != 0;
    goto out;
  }
  if (rc == 0) {
    /* seal what is open; if the last documents produced no shard, publish
     * their positions and counters on their own */
    uint64_t shards_before = tm_shard_dir_manifest(b->sd)->n_shards;
    double t0 = tm_thread_cpu_s();
    rc = tm_shard_dir_seal(b->sd, err);
    if (rc == 0 && tm_shard_dir_manifest(b->sd)->n_shards == shards_before) {
      rc = tm_quarantine_sync(&b->q, err);
      if (rc == 0 && b->dedup) rc = tm_dedup_checkpoint(b->dedup, shards_before, err);
      char *j = rc == 0 ? journal_json(b) : NULL;
      if (rc == 0) rc = j ? tm_shard_dir_commit_journal(b->sd, j, err) : tm_err(err, TM_ENOMEM, "out of memory");
      free(j);
    }
    b->write_s += tm_thread_cpu_s() - t0;
    if (rc == 0) unlink(b->pending_path);
  }
report:
  if (rc == 0) {
    progress(b, o->progress < 0 ? isatty(STDERR_FILENO) : o->progress, t_start, 1);
    res->interrupted = res->interrupted || g_stop != 0;
    const tm_manifest *m = tm_shard_dir_manifest(b->sd);
    for (int i = 0; i < b->stats.n_sources; i++) {
      tm_build_source *s = &b->stats.sources[i];
      res->docs_in += s->docs_in;
      res->docs_kept += s->kept;
      res->docs_dropped += s->dropped;
      res->exact_dups += s->exact_dups;
      res->near_dups += s->near_dups;
      res->rejected += s->rejected;
    }
    res->tokens = tm_manifest_total_tokens(m);
    res->shards = m->n_shards;
    uint64_t shard_bytes = 0;
    for (size_t i = 0; i < m->n_shards; i++) shard_bytes += m->shards[i].bytes;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    tm_build_timing t = {.wall_s = tm_now_s() - t_start,
                         .read_s = b->read_s,
                         .dedup_s = b->dedup_s,
                         .write_s = b->write_s,
                         .tokenizer_train_s = tok_train_s,
                         .bytes_read = atomic_load(&b->bytes_read),
                         .doc_bytes = atomic_load(&b->doc_bytes), /* + deferred e-mails, below */
                         .peak_rss_kb = (uint64_t)ru.ru_maxrss,
                         .process_cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                                          (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6,
                         .threads = threads};
    for (int i = 0; i < threads; i++) {
      tm_batch_times wt;
      tm_batch_worker_times(workers[i].bw, &wt);
      t.clean_s += wt.clean_s, t.tokenize_s += wt.tok_s, t.dedup_s += wt.sig_s, t.read_s += wt.read_s;
      t.doc_bytes += wt.decoded_bytes;
    }
    tm_dedup_stats ds;
    memset(&ds, 0, sizeof ds);
    if (b->dedup) tm_dedup_get_stats(b->dedup, &ds);
    char *pm = profiles_markdown(b);
    tm_build_report_in rin = {.out_dir = o->out_dir,
                              .stats = &b->stats,
                              .timing = &t,
                              .shards = m->n_shards,
                              .shard_bytes = shard_bytes,
                              .tokens = res->tokens,
                              .vocab_size = tm_tokenizer_vocab_size(b->tok),
                              .tokenizer_hash = tm_tokenizer_hash(b->tok),
                              .tokenizer_origin = b->tok_origin,
                              .profiles_desc = pm,
                              .dedup_index_ram = ds.index.ram_bytes,
                              .dedup_index_disk = ds.index.disk_bytes};
    rc = tm_build_write_report(&rin, err);
    free(pm);
    tm_info("build_done",
            "out=%s docs_in=%" PRIu64 " kept=%" PRIu64 " dropped=%" PRIu64 " exact_dups=%" PRIu64
            " near_dups=%" PRIu64 " rejected=%" PRIu64 " tokens=%" PRIu64 " shards=%" PRIu64
            " seconds=%.2f doc_mb_per_s=%.2f threads=%d interrupted=%d",
            o->out_dir, res->docs_in, res->docs_kept, res->docs_dropped, res->exact_dups, res->near_dups,
            res->rejected, res->tokens, res->shards, t.wall_s, t.wall_s > 0 ? (double)t.doc_bytes / 1e6 / t.wall_s : 0,
            threads, res->interrupted);
  }
out:
  if (workers)
    for (int i = 0; i < threads; i++) tm_batch_worker_free(workers[i].bw);
  free(workers);
  free(tids);
  if (b->batches)
    for (size_t i = 0; i < b->n_batches; i++) tm_batch_docs_free(b->batches[i].slots, b->batch_docs);
  free(b->batches);
  if (b->sd) {
    if (rc < 0) tm_shard_dir_abort(b->sd);
    else tm_shard_dir_close(b->sd, NULL);
  }
  tm_encoder_free(b->commit_enc);
  if (b->dedup) tm_dedup_close(b->dedup);
  tm_quarantine_close(&b->q);
  if (b->keys_fd >= 0) {
    close(b->keys_fd);
    unlink(b->keys_path);
  }
  free(b->verdicts);
  if (lock_fd >= 0) close(lock_fd);
  tm_tokenizer_free(b->tok);
  tm_build_files_free(b->files, b->n_files);
  free(b->profiles);
  free(b->file_profile);
  free(b->committed_events);
  free(b->start_events);
  free(b->file_done);
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv_work);
  pthread_cond_destroy(&b->cv_commit);
  pthread_cond_destroy(&b->cv_free);
  free(b);
  return rc;
}
