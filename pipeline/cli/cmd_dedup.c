/* cmd_dedup.c - `tokenmill dedup`: exact and near-duplicate removal over JSONL.
 *
 *   tokenmill dedup [-c CONFIG] -o OUT [--index DIR] [--set dedup.KEY=V]... INPUT.jsonl...
 *
 * Input: JSONL objects with "text" (string) and "id" (string or integer; a
 * missing id becomes FILE:LINE). Each kept line is copied to OUT/kept.jsonl
 * byte for byte; each dropped one gets a line in OUT/duplicates.jsonl
 * ({"id","duplicate_of","kind","similarity"}; kind "lines" when line-level
 * dedup left nothing, with null duplicate_of); OUT/stats.json has the counts.
 * With [dedup] line_dedup, a kept document that lost repeated lines is
 * written re-serialised with its shortened text.
 * Malformed lines (bad JSON, no text, longer than --max-line-bytes) are
 * counted, reported with FILE:LINE, written to OUT/quarantine/dedup.jsonl,
 * and the exit code is 3.
 *
 * Publish protocol with --index DIR (the index outlives the run):
 *   1. outputs are written as NAME.tmp and fsync'd, with OUT/.dedup-pending
 *      holding this run's token;
 *   2. the index checkpoint is written with the same token: the commit point;
 *   3. the .tmp files are renamed into place.
 * A run killed before 2 leaves the index at its previous checkpoint (the
 * run's documents are forgotten, nothing was published). A run killed
 * between 2 and 3 is finished by the next run with the same OUT: it sees the
 * committed token and completes the renames, then stops (OUT now holds that
 * run's output, which is never overwritten: with --index each run needs a
 * new OUT).
 * Without --index the index lives in OUT/.dedup-index.PID and is removed.
 *
 * Lines are not parsed into jansson trees: tm_jsonl_fields_parse
 * (dedup/jsonl_fields.h) accepts exactly the lines json_loadb accepts as an
 * object with a string "text" and reads "text" and "id" in place, which is
 * what made the command fast (jansson trees were half of its CPU time). jansson still parses the lines the checker refuses (for
 * its error message in the quarantine, unchanged) and, with line_dedup,
 * kept documents that lost lines (re-serialised with the new text). The
 * shared reader (pipeline/readers) is not used: it builds a jansson tree per
 * line, and it does not hand back the line's bytes, which kept.jsonl copies.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "commands.h"
#include "config.h"
#include "dedup/dedup.h"
#include "dedup/jsonl_fields.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"
#include "schemas.h"

#define SITE "dedup_out"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tokenmill dedup [-c CONFIG] -o OUT [--index DIR] [--set dedup.KEY=VALUE]...\n"
          "                       [--max-line-bytes N] [--threads N] INPUT.jsonl...  (- = stdin)\n\n"
          "Removes exact and near-duplicate documents (MinHash-LSH); the first one seen is\n"
          "kept. Input lines are JSON objects with \"text\" and \"id\".\n\n"
          "  -c, --config FILE      INI configuration ([dedup] keys: tokenmill config --reference)\n"
          "  -o, --out DIR          writes DIR/kept.jsonl, DIR/duplicates.jsonl, DIR/stats.json\n"
          "      --index DIR        persistent index: documents of earlier runs count as seen\n"
          "      --set S.K=V        override one configuration key\n"
          "      --max-line-bytes N longer input lines are rejected (default 64M)\n"
          "      --threads N        worker threads that parse and sign documents (default:\n"
          "                         the CPUs; verdicts do not depend on it)\n"
          "exit: 0 ok, 1 runtime error, 2 usage, 3 some lines were malformed (OUT/quarantine/)\n");
}

/* A buffered output file written as PATH.tmp through io.h. */
typedef struct outfile {
  char path[PATH_MAX], tmp[PATH_MAX];
  int fd;
  char *buf;
  size_t n, cap;
} outfile;

static int out_open(outfile *o, const char *dir, const char *name, tm_error *err) {
  memset(o, 0, sizeof *o);
  o->fd = -1;
  snprintf(o->path, sizeof o->path, "%s/%s", dir, name);
  snprintf(o->tmp, sizeof o->tmp, "%s/%s.tmp", dir, name);
  o->cap = 1 << 20;
  o->buf = malloc(o->cap);
  if (!o->buf) return tm_err(err, TM_ENOMEM, "out of memory");
  o->fd = tm_io_open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644, SITE, err);
  return o->fd < 0 ? o->fd : 0;
}

static int out_flush(outfile *o, tm_error *err) {
  int rc = o->n ? tm_io_write(o->fd, o->buf, o->n, o->tmp, SITE, err) : 0;
  o->n = 0;
  return rc;
}

static int out_put(outfile *o, const char *p, size_t len, tm_error *err) {
  if (o->n + len > o->cap) {
    int rc = out_flush(o, err);
    if (rc < 0) return rc;
    if (len > o->cap) return tm_io_write(o->fd, p, len, o->tmp, SITE, err);
  }
  memcpy(o->buf + o->n, p, len);
  o->n += len;
  return 0;
}

/* Flush, fsync and close PATH.tmp (not yet renamed). */
static int out_finish(outfile *o, tm_error *err) {
  int rc = out_flush(o, err);
  if (rc == 0) rc = tm_io_fsync(o->fd, o->tmp, SITE, err);
  if (rc == 0) rc = tm_io_close(o->fd, o->tmp, SITE, err);
  else close(o->fd);
  o->fd = -1;
  return rc;
}

static void out_free(outfile *o) {
  if (o->fd >= 0) close(o->fd);
  free(o->buf);
  o->buf = NULL;
}

static int put_json_line(outfile *o, json_t *j, tm_error *err) {
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!s) return tm_err(err, TM_ENOMEM, "out of memory");
  int rc = out_put(o, s, strlen(s), err);
  if (rc == 0) rc = out_put(o, "\n", 1, err);
  free(s);
  return rc;
}

/* Read one line into *buf (without '\n'); lines over max are consumed and
 * reported with *too_long = 1. Returns 1, or 0 at end of input. */
static int read_line(FILE *f, char **buf, size_t *cap, size_t *len, size_t max, int *too_long) {
  size_t n = 0;
  *too_long = 0;
  for (;;) {
    if (n + 65536 + 1 > *cap && !*too_long) {
      size_t c = *cap ? *cap * 2 : 1 << 16;
      while (c < n + 65536 + 1) c *= 2;
      char *b = realloc(*buf, c);
      if (!b) return -1;
      *buf = b;
      *cap = c;
    }
    char *dst = *too_long ? *buf : *buf + n;
    if (!fgets(dst, 65536 + 1, f)) {
      *len = n;
      return n > 0 || *too_long;
    }
    size_t k = strlen(dst);
    int nl = k && dst[k - 1] == '\n';
    if (!*too_long) n += k - (size_t)nl;
    if (n > max) *too_long = 1;
    if (nl) {
      *len = n;
      return 1;
    }
  }
}

/* One input line on its way through the stage. Workers fill everything
 * from `j` on; the main thread commits items in input order. */
typedef struct item {
  const char *path;
  uint64_t lineno;
  char *line; /* malloc'd copy; NULL for a line over the limit */
  size_t len;
  json_t *j;
  const char *id, *text;
  size_t id_len, text_len;
  char idbuf[64];
  char *id_alloc;
  char *dec; /* decoded text/id when they had escapes (jsonl_fields) */
  char reason[256]; /* why the line is malformed; "" when it is fine */
  int prep_rc;      /* tm_dedup_prepare's result (parallel mode) */
  tm_error prep_err;
  tm_dedup_prepared pr;
} item;

enum { BATCH_ITEMS = 256, BATCH_BYTES = 4 << 20 };
enum { B_FREE = 0, B_FILLED, B_TAKEN, B_DONE };

typedef struct batch {
  item it[BATCH_ITEMS];
  size_t n, bytes;
  uint32_t *sigs; /* BATCH_ITEMS x num_perm */
  int state;
} batch;

typedef struct run {
  tm_dedup *d;
  outfile kept, dups, quar;
  uint64_t malformed, lines;
  int quar_open;
  const char *out_dir;
  /* parallel mode: batches in a ring, workers prepare, main commits */
  int nthreads; /* 0: everything on the main thread (tm_dedup_process) */
  pthread_t *tids;
  batch *ring;
  int nb;
  uint64_t next_fill, next_commit;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int quit;
} run;

static int quarantine(run *r, const char *file, uint64_t line, const char *reason,
                      tm_error *err) {
  r->malformed++;
  if (r->malformed <= 20) {
    char q[300];
    tm_warn("dedup_malformed", "file=%s line=%llu reason=%s", file, (unsigned long long)line,
            tm_log_quote(q, sizeof q, reason));
  }
  if (!r->quar_open) {
    char qdir[PATH_MAX];
    snprintf(qdir, sizeof qdir, "%s/quarantine", r->out_dir);
    int rc = tm_io_mkdirs(qdir, err);
    if (rc == 0) rc = out_open(&r->quar, qdir, "dedup.jsonl", err);
    if (rc < 0) return rc;
    r->quar_open = 1;
  }
  return put_json_line(&r->quar,
                       json_pack("{s:s, s:I, s:s}", "file", file, "line", (json_int_t)line,
                                 "reason", reason),
                       err);
}

/* Parse the line with jansson: text, id (string, integer, or FILE:LINE), or
 * a reason. */
static void parse_item_jansson(item *it) {
  json_error_t je;
  it->j = json_loadb(it->line, it->len, JSON_ALLOW_NUL, &je);
  json_t *text = it->j ? json_object_get(it->j, "text") : NULL;
  if (!it->j || !json_is_string(text)) {
    if (!it->j)
      snprintf(it->reason, sizeof it->reason, "invalid JSON at column %d: %s", je.column, je.text);
    else snprintf(it->reason, sizeof it->reason, "no \"text\" string");
    return;
  }
  it->text = json_string_value(text);
  it->text_len = json_string_length(text);
  json_t *jid = json_object_get(it->j, "id");
  if (json_is_string(jid)) {
    it->id = json_string_value(jid);
    it->id_len = json_string_length(jid);
  } else if (json_is_integer(jid)) {
    it->id_len = (size_t)snprintf(it->idbuf, sizeof it->idbuf, "%" JSON_INTEGER_FORMAT,
                                  json_integer_value(jid));
    it->id = it->idbuf;
  }
}

/* Parse the line: text, id (string, integer, or FILE:LINE), or a reason.
 * A line the checker accepts is read in place (the same values jansson
 * gives: tests/dedup/test_jsonl_fields.c); any other goes to jansson. */
static void parse_item(item *it, size_t max_line) {
  it->reason[0] = 0;
  if (!it->line) {
    snprintf(it->reason, sizeof it->reason, "line longer than %zu bytes", max_line);
    return;
  }
  tm_jsonl_fields f;
  if (tm_jsonl_fields_parse(it->line, it->len, &f) == 1) {
    it->dec = f.buf;
    it->text = f.text;
    it->text_len = f.text_len;
    if (f.id_kind != TM_JSONL_ID_NONE) {
      if (f.id_kind == TM_JSONL_ID_INTEGER) {
        memcpy(it->idbuf, f.idnum, f.id_len + 1);
        it->id = it->idbuf;
      } else {
        it->id = f.id;
      }
      it->id_len = f.id_len;
    }
  } else {
    parse_item_jansson(it);
    if (it->reason[0]) return;
  }
  if (!it->id) {
    int n = asprintf(&it->id_alloc, "%s:%llu", it->path, (unsigned long long)it->lineno);
    if (n < 0) {
      it->id_alloc = NULL;
      snprintf(it->reason, sizeof it->reason, "out of memory");
      return;
    }
    it->id_len = (size_t)n;
    it->id = it->id_alloc;
  }
}

static void free_item(item *it) {
  json_decref(it->j);
  free(it->dec);
  free(it->line);
  free(it->id_alloc);
  memset(it, 0, sizeof *it);
}

static int emit(run *r, item *it, const tm_dedup_verdict *vp, tm_error *err);

/* The outcome of judging an item: a verdict to emit, a document too large
 * (TM_ELIMIT: quarantined, the run goes on), or an error that stops it. */
static int settle(run *r, item *it, int rc, const tm_dedup_verdict *v, tm_error *err) {
  if (rc == -TM_ELIMIT) return quarantine(r, it->path, it->lineno, err->msg, err);
  if (rc < 0) return tm_err_prefix(err, "%s:%llu: ", it->path, (unsigned long long)it->lineno);
  return emit(r, it, v, err);
}

/* Judge one parsed item (in input order) and write its outputs. */
static int commit_item(run *r, item *it, tm_error *err) {
  if (it->reason[0]) return quarantine(r, it->path, it->lineno, it->reason, err);
  tm_dedup_verdict v;
  int rc;
  if (!r->nthreads) {
    rc = tm_dedup_process(r->d, it->id, it->id_len, it->text, it->text_len, &v, err);
  } else if (it->prep_rc < 0) {
    *err = it->prep_err;
    rc = it->prep_rc;
  } else {
    rc = tm_dedup_commit(r->d, it->id, it->id_len, &it->pr, &v, err);
  }
  return settle(r, it, rc, &v, err);
}

/* Items [0, n) of a batch the workers prepared, in order: runs of prepared
 * items go through the index's batch path together (its table lines are
 * fetched a few documents ahead: the same verdicts as one commit each);
 * malformed and failed items are settled one by one between the runs. */
static int commit_prepared(run *r, item *it, size_t n, tm_error *err) {
  const char *ids[BATCH_ITEMS];
  size_t lens[BATCH_ITEMS];
  tm_dedup_prepared pr[BATCH_ITEMS];
  tm_dedup_verdict v[BATCH_ITEMS];
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && !it[j].reason[0] && it[j].prep_rc == 0) {
      ids[j - i] = it[j].id;
      lens[j - i] = it[j].id_len;
      pr[j - i] = it[j].pr;
      j++;
    }
    if (j == i) { /* malformed, or its prepare failed */
      int rc = commit_item(r, &it[i], err);
      if (rc < 0) return rc;
      i++;
      continue;
    }
    size_t done = 0;
    int rc = tm_dedup_commit_batch(r->d, j - i, ids, lens, pr, v, &done, err);
    for (size_t k = 0; k < done; k++) {
      int e = emit(r, &it[i + k], &v[k], err);
      if (e < 0) return e;
    }
    if (rc < 0) { /* it[i + done] failed; the ones after it are untouched */
      if ((rc = settle(r, &it[i + done], rc, NULL, err)) < 0) return rc;
      done++;
    }
    i += done;
  }
  return 0;
}

/* Write the outputs of a judged item. */
static int emit(run *r, item *it, const tm_dedup_verdict *vp, tm_error *err) {
  tm_dedup_verdict v = *vp;
  int rc;
  if (v.kind == TM_DEDUP_UNIQUE && !v.lines_removed) { /* the input line, as it was */
    rc = out_put(&r->kept, it->line, it->len, err);
    if (rc == 0) rc = out_put(&r->kept, "\n", 1, err);
  } else if (v.kind == TM_DEDUP_UNIQUE) { /* repeated lines were removed */
    if (!it->j) it->j = json_loadb(it->line, it->len, JSON_ALLOW_NUL, NULL); /* checked: parses */
    if (!it->j) return tm_err(err, TM_ENOMEM, "%s:%llu: out of memory", it->path,
                              (unsigned long long)it->lineno);
    json_object_set_new(it->j, "text", json_stringn(v.text, v.len));
    rc = put_json_line(&r->kept, json_incref(it->j), err);
  } else {
    json_t *o = v.duplicate_of ? json_string(v.duplicate_of) : json_null();
    json_t *sim = v.kind == TM_DEDUP_LINES ? json_null() : json_real(v.similarity);
    rc = put_json_line(&r->dups,
                       json_pack("{s:s%, s:o, s:s, s:o}", "id", it->id, it->id_len,
                                 "duplicate_of", o, "kind", tm_dedup_kind_name(v.kind),
                                 "similarity", sim),
                       err);
  }
  return rc;
}

static size_t g_max_line; /* for parse_item in the workers */

static void *worker_main(void *arg) {
  run *r = arg;
  tm_dedup_worker *w = tm_dedup_worker_new(r->d);
  int k = tm_dedup_num_perm(r->d);
  for (;;) {
    pthread_mutex_lock(&r->mu);
    batch *b = NULL;
    while (!r->quit) { /* the oldest filled batch */
      for (uint64_t s = r->next_commit; s < r->next_fill && !b; s++)
        if (r->ring[s % (uint64_t)r->nb].state == B_FILLED) b = &r->ring[s % (uint64_t)r->nb];
      if (b) break;
      pthread_cond_wait(&r->cv, &r->mu);
    }
    if (!b) {
      pthread_mutex_unlock(&r->mu);
      break;
    }
    b->state = B_TAKEN;
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < b->n; i++) {
      item *it = &b->it[i];
      parse_item(it, g_max_line);
      if (it->reason[0]) continue;
      if (!w) {
        it->prep_rc = tm_err(&it->prep_err, TM_ENOMEM, "dedup worker: out of memory");
        continue;
      }
      it->prep_rc = tm_dedup_prepare(w, it->text, it->text_len, &it->pr,
                                     b->sigs + i * (size_t)k, &it->prep_err);
    }
    pthread_mutex_lock(&r->mu);
    b->state = B_DONE;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
  }
  tm_dedup_worker_free(w);
  return NULL;
}

/* Commit the oldest batch in flight (waiting for its workers). */
static int commit_oldest(run *r, tm_error *err) {
  batch *b = &r->ring[r->next_commit % (uint64_t)r->nb];
  if (r->nthreads) {
    pthread_mutex_lock(&r->mu);
    while (b->state != B_DONE) pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
  } else {
    for (size_t i = 0; i < b->n; i++) parse_item(&b->it[i], g_max_line);
  }
  int rc = 0;
  if (r->nthreads) {
    rc = commit_prepared(r, b->it, b->n, err);
  } else {
    for (size_t i = 0; i < b->n && rc == 0; i++) rc = commit_item(r, &b->it[i], err);
  }
  for (size_t i = 0; i < b->n; i++) free_item(&b->it[i]);
  b->n = b->bytes = 0;
  pthread_mutex_lock(&r->mu);
  b->state = B_FREE;
  r->next_commit++;
  pthread_mutex_unlock(&r->mu);
  return rc;
}

/* Hand the batch being filled to the workers. */
static void submit(run *r) {
  batch *b = &r->ring[r->next_fill % (uint64_t)r->nb];
  if (!b->n) return;
  pthread_mutex_lock(&r->mu);
  b->state = B_FILLED;
  r->next_fill++;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static int add_line(run *r, const char *path, uint64_t lineno, const char *line, size_t len,
                    int too_long, tm_error *err) {
  batch *b = &r->ring[r->next_fill % (uint64_t)r->nb];
  item *it = &b->it[b->n];
  memset(it, 0, sizeof *it);
  it->path = path;
  it->lineno = lineno;
  if (!too_long) {
    if (!(it->line = malloc(len + 1))) return tm_err(err, TM_ENOMEM, "%s: out of memory", path);
    memcpy(it->line, line, len);
    it->line[len] = 0;
    it->len = len;
  }
  b->n++;
  b->bytes += len;
  if (b->n == BATCH_ITEMS || b->bytes >= BATCH_BYTES) {
    submit(r);
    /* the next slot must be free: commit the oldest while it is in flight */
    if (r->next_fill - r->next_commit == (uint64_t)r->nb || !r->nthreads) {
      int rc = commit_oldest(r, err);
      if (rc < 0) return rc;
    }
  }
  return 0;
}

static int drain(run *r, tm_error *err) {
  submit(r);
  int rc = 0;
  while (r->next_commit < r->next_fill) {
    int c = commit_oldest(r, err);
    if (rc == 0) rc = c;
  }
  return rc;
}

static int process_file(run *r, const char *path, size_t max_line, tm_error *err) {
  FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!f) return tm_err_sys(err, "%s: open", path);
  char *buf = NULL;
  size_t cap = 0, len;
  uint64_t lineno = 0;
  int too_long, rc = 0, got;
  while ((got = read_line(f, &buf, &cap, &len, max_line, &too_long)) == 1) {
    lineno++;
    r->lines++;
    if (len == 0 && !too_long) continue; /* blank line */
    if ((rc = add_line(r, path, lineno, buf, len, too_long, err)) < 0) break;
  }
  if (got < 0 && rc == 0) rc = tm_err(err, TM_ENOMEM, "%s: out of memory", path);
  if (rc == 0 && ferror(f))
    rc = tm_err_sys(err, "%s: read near line %llu", path, (unsigned long long)lineno);
  if (f != stdin) fclose(f);
  free(buf);
  return rc;
}

static int start_workers(run *r, int nthreads, tm_error *err) {
  r->nthreads = nthreads;
  r->nb = nthreads ? 2 * nthreads + 2 : 1;
  r->ring = calloc((size_t)r->nb, sizeof *r->ring);
  if (!r->ring) return tm_err(err, TM_ENOMEM, "out of memory");
  for (int i = 0; i < r->nb; i++) {
    r->ring[i].sigs = malloc(sizeof(uint32_t) * BATCH_ITEMS * (size_t)tm_dedup_num_perm(r->d));
    if (!r->ring[i].sigs) return tm_err(err, TM_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  if (!nthreads) return 0;
  json_object_seed(0); /* before any thread builds objects */
  r->tids = calloc((size_t)nthreads, sizeof *r->tids);
  if (!r->tids) return tm_err(err, TM_ENOMEM, "out of memory");
  for (int i = 0; i < nthreads; i++)
    if (pthread_create(&r->tids[i], NULL, worker_main, r) != 0) {
      r->nthreads = i;
      return tm_err(err, TM_ENOMEM, "cannot start worker thread %d", i);
    }
  return 0;
}

static void stop_workers(run *r) {
  if (!r->ring) return;
  pthread_mutex_lock(&r->mu);
  r->quit = 1;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  for (int i = 0; i < r->nthreads; i++) pthread_join(r->tids[i], NULL);
  for (int i = 0; i < r->nb; i++) {
    for (size_t k = 0; k < r->ring[i].n; k++) free_item(&r->ring[i].it[k]);
    free(r->ring[i].sigs);
  }
  free(r->ring);
  free(r->tids);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  r->ring = NULL;
}

static char *stats_json(const tm_dedup_stats *st, uint64_t malformed, double secs) {
  const tm_dedup_index_stats *x = &st->index;
  json_t *j = json_pack(
      "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, "
      "s:{s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I}}",
      "docs_in", (json_int_t)st->docs_in, "kept", (json_int_t)st->kept, "exact_dups",
      (json_int_t)st->exact_dups, "near_dups", (json_int_t)st->near_dups, "malformed",
      (json_int_t)malformed, "no_shingles", (json_int_t)st->no_shingles, "cjk_docs",
      (json_int_t)st->cjk_docs, "text_bytes", (json_int_t)st->text_bytes, "lines_removed",
      (json_int_t)st->lines_removed, "docs_emptied_by_lines", (json_int_t)st->lines_docs,
      "line_table_bytes", (json_int_t)st->line_table_bytes,
      "seconds", secs,
      "docs_per_s", secs > 0 ? st->docs_in / secs : 0.0, "mb_per_s",
      secs > 0 ? st->text_bytes / secs / 1e6 : 0.0, "index", "records", (json_int_t)x->records,
      "in_ram", (json_int_t)x->in_ram, "evicted", (json_int_t)x->evicted, "ram_bytes",
      (json_int_t)x->ram_bytes, "disk_bytes", (json_int_t)x->disk_bytes, "ram_bytes_per_doc",
      x->in_ram ? (double)x->ram_bytes / x->in_ram : 0.0, "candidates", (json_int_t)x->candidates,
      "false_candidates", (json_int_t)x->false_candidates);
  char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
  json_decref(j);
  return s;
}

static const char *const OUTPUTS[] = {"kept.jsonl", "duplicates.jsonl", "stats.json",
                                      "quarantine/dedup.jsonl"};
#define N_OUTPUTS 4

/* Step 3 of the protocol: rename every NAME.tmp that exists into place. */
static int publish(const char *out, tm_error *err) {
  char tmp[PATH_MAX + 8], dst[PATH_MAX];
  for (int i = 0; i < N_OUTPUTS; i++) {
    snprintf(dst, sizeof dst, "%s/%s", out, OUTPUTS[i]);
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    if (access(tmp, F_OK) != 0) continue;
    int rc = tm_io_rename(tmp, dst, SITE, err);
    if (rc == 0) rc = tm_io_fsync_parent(dst, SITE, err);
    if (rc < 0) return rc;
  }
  char c[PATH_MAX];
  snprintf(c, sizeof c, "%s/.dedup-pending", out);
  return tm_io_unlink(c, SITE, err);
}

/* Before a run with a persistent index: finish the publish of a run that
 * committed its checkpoint but died before renaming, or discard the .tmp
 * files of one that never committed. */
static int recover(const char *out, uint64_t committed, tm_error *err) {
  char c[PATH_MAX], *buf;
  size_t len;
  snprintf(c, sizeof c, "%s/.dedup-pending", out);
  if (access(c, F_OK) != 0) return 0;
  uint64_t token = 0;
  if (tm_io_read_file(c, 64, &buf, &len, NULL) == 0) {
    token = strtoull(buf, NULL, 16);
    free(buf);
  }
  if (token && token == committed) {
    tm_info("dedup_recover", "out=%s action=publish token=%016llx", out, (unsigned long long)token);
    return publish(out, err);
  }
  tm_info("dedup_recover", "out=%s action=discard", out);
  char tmp[PATH_MAX];
  for (int i = 0; i < N_OUTPUTS; i++) {
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", out, OUTPUTS[i]);
    int rc = tm_io_unlink(tmp, SITE, err);
    if (rc < 0) return rc;
  }
  return tm_io_unlink(c, SITE, err);
}

static void remove_index(const char *dir) {
  const char *names[] = {"records.bin", "ids.bin", "checkpoint", "checkpoint.tmp", "lock"};
  char p[PATH_MAX + 32];
  for (int i = 0; i < 5; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    tm_io_unlink(p, SITE, NULL);
  }
  rmdir(dir);
}

int cmd_dedup(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                       {"out", required_argument, 0, 'o'},
                                       {"index", required_argument, 0, 'i'},
                                       {"set", required_argument, 0, 's'},
                                       {"max-line-bytes", required_argument, 0, 'm'},
                                       {"threads", required_argument, 0, 't'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *out = NULL, *index = NULL;
  uint64_t max_line = 64u << 20;
  long threads = sysconf(_SC_NPROCESSORS_ONLN);
  tm_error err = {0};
  tm_config *cfg = tm_config_new(tm_all_schemas, tm_n_schemas);
  if (!cfg) return TM_EXIT_RUNTIME;
  int c, code = TM_EXIT_USAGE;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c':
      if (tm_config_load(cfg, optarg, &err) < 0) goto usage_err;
      break;
    case 'o': out = optarg; break;
    case 'i': index = optarg; break;
    case 's':
      if (tm_config_set_arg(cfg, optarg, &err) < 0) goto usage_err;
      break;
    case 'm':
      if (tm_parse_size(optarg, &max_line) < 0 || max_line == 0) {
        fprintf(stderr, "tokenmill dedup: --max-line-bytes '%s' is not a size\n", optarg);
        goto done;
      }
      break;
    case 't': {
      int64_t t;
      if (tm_parse_int(optarg, &t) < 0 || t < 1 || t > 256) {
        fprintf(stderr, "tokenmill dedup: --threads '%s': 1..256\n", optarg);
        goto done;
      }
      threads = (long)t;
      break;
    }
    case 'h': usage(stdout); code = TM_EXIT_OK; goto done;
    default: usage(stderr); goto done;
    }
  }
  if (!out || optind >= argc) {
    fprintf(stderr, "tokenmill dedup: %s\n", !out ? "-o OUT is required" : "no input files");
    usage(stderr);
    goto done;
  }
  if (strlen(out) > PATH_MAX - 64 || (index && strlen(index) > PATH_MAX - 64)) {
    fprintf(stderr, "tokenmill dedup: path too long\n");
    goto done;
  }
  tm_dedup_params p;
  if (tm_dedup_params_from_config(cfg, &p, &err) < 0) goto usage_err;

  code = TM_EXIT_RUNTIME;
  run r;
  memset(&r, 0, sizeof r);
  r.kept.fd = r.dups.fd = r.quar.fd = -1;
  r.out_dir = out;
  char tmp_index[PATH_MAX];
  if (!index) snprintf(tmp_index, sizeof tmp_index, "%s/.dedup-index.%ld", out, (long)getpid());
  const char *idx = index ? index : tmp_index;
  int rc = tm_io_mkdirs(out, &err);
  if (rc == 0) rc = tm_dedup_open(&r.d, &p, idx, &err);
  if (rc < 0) goto fail;
  if (index) {
    char kp[PATH_MAX + 16];
    if ((rc = recover(out, tm_dedup_committed_token(r.d), &err)) < 0) goto fail;
    snprintf(kp, sizeof kp, "%s/kept.jsonl", out);
    if (access(kp, F_OK) == 0) { /* never overwrite the output of a committed run */
      rc = tm_err(&err, TM_EEXIST,
                  "%s exists: with --index every run needs a new -o directory (the documents "
                  "of that run are in the index and would not be emitted again)",
                  kp);
      goto fail;
    }
  }
  if ((rc = out_open(&r.kept, out, "kept.jsonl", &err)) < 0 ||
      (rc = out_open(&r.dups, out, "duplicates.jsonl", &err)) < 0)
    goto fail;
  /* line-level dedup is sequential; otherwise documents are parsed and signed
   * on worker threads and judged here in input order */
  g_max_line = (size_t)max_line;
  if ((rc = start_workers(&r, threads > 1 && !p.line_dedup ? (int)threads : 0, &err)) < 0)
    goto fail;
  double t0 = tm_now_s();
  for (int i = optind; i < argc && rc == 0; i++) rc = process_file(&r, argv[i], (size_t)max_line, &err);
  if (rc == 0) rc = drain(&r, &err);
  if (rc < 0) goto fail;
  double secs = tm_now_s() - t0;
  tm_dedup_stats st;
  tm_dedup_get_stats(r.d, &st);
  char *sj = stats_json(&st, r.malformed, secs);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/stats.json.tmp", out);
  rc = sj ? 0 : tm_err(&err, TM_ENOMEM, "out of memory");
  if (rc == 0) rc = out_finish(&r.kept, &err);
  if (rc == 0) rc = out_finish(&r.dups, &err);
  if (rc == 0 && r.quar_open) rc = out_finish(&r.quar, &err);
  if (rc == 0) { /* stats.json.tmp: written like the others, renamed in publish */
    outfile s;
    rc = out_open(&s, out, "stats.json", &err);
    if (rc == 0) rc = out_put(&s, sj, strlen(sj), &err);
    if (rc == 0) rc = out_put(&s, "\n", 1, &err);
    if (rc == 0) rc = out_finish(&s, &err);
    out_free(&s);
  }
  free(sj);
  if (rc < 0) goto fail;
  if (index) {
    uint64_t token = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (st.docs_in << 40);
    token |= 1;
    char tok[32];
    int n = snprintf(tok, sizeof tok, "%016llx\n", (unsigned long long)token);
    snprintf(path, sizeof path, "%s/.dedup-pending", out);
    rc = tm_io_write_file_atomic(path, tok, (size_t)n, SITE, &err);
    if (rc == 0) rc = tm_dedup_checkpoint(r.d, token, &err);
    if (rc < 0) goto fail;
  }
  if ((rc = publish(out, &err)) < 0) goto fail;
  tm_info("dedup_done",
          "docs_in=%llu kept=%llu exact=%llu near=%llu malformed=%llu seconds=%.3f "
          "index_ram_bytes=%llu index_disk_bytes=%llu",
          (unsigned long long)st.docs_in, (unsigned long long)st.kept,
          (unsigned long long)st.exact_dups, (unsigned long long)st.near_dups,
          (unsigned long long)r.malformed, secs, (unsigned long long)st.index.ram_bytes,
          (unsigned long long)st.index.disk_bytes);
  code = r.malformed ? TM_EXIT_REJECTED : TM_EXIT_OK;
fail:
  if (rc < 0) fprintf(stderr, "tokenmill dedup: %s\n", err.msg);
  stop_workers(&r);
  out_free(&r.kept);
  out_free(&r.dups);
  out_free(&r.quar);
  tm_dedup_close(r.d);
  if (!index) remove_index(tmp_index);
  goto done;
usage_err:
  fprintf(stderr, "tokenmill dedup: %s\n", err.msg);
done:
  tm_config_free(cfg);
  return code;
}
