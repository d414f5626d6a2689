/* serve_pipe.c - the daemon's pipeline: input queue, reader, workers, commit.
 *
 * Inputs carry sequence numbers given at acceptance (tm_serve_pipe_reserve)
 * and sit in a list sorted by them. The reader thread takes the head once it
 * is READY (a PENDING head blocks it: inputs are read strictly in sequence
 * order) and cuts it into batches, numbered in reading order; workers clean
 * and tokenize batches in any order; the commit thread takes batches in
 * their order, so the output depends only on the input order, as in build.
 *
 * The commit thread alone owns the shard directory, the dedup index, the
 * quarantine and the journal position (j_next, j_events); see serve.h for
 * the crash protocol. Counters are shared with the loop under smu.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch/batch.h"
#include "clock.h"
#include "batch/quarantine.h"
#include "clean/clean.h"
#include "dedup/dedup.h"
#include "io.h"
#include "log.h"
#include "readers/reader.h"
#include "serve_int.h"
#include "shard.h"
#include "shards/shard_commit.h"
#include "shards/shard_dir.h"
#include "tokenizer.h"

/* A batch's documents are tm_batch_doc (batch.h): event is the index of the
 * reader event in its input. */
typedef tm_batch_doc slot;

enum { B_FREE, B_FILLED, B_WORKING, B_DONE };

/* Text or token buffers of a batch slot above this are freed after use. */
#define TM_SERVE_SLOT_KEEP (256u << 10)

typedef struct {
  int state;
  uint64_t seq;
  tm_serve_input *in;
  size_t n;
  slot *slots;
  int input_done; /* the last batch of its input */
} batch;

typedef struct {
  char name[64];
  tm_clean_params params;
} profile;

typedef struct {
  tm_serve_pipe *p;
  tm_batch_worker *bw; /* clean and tokenize (dedup runs whole on the commit thread) */
  tm_error err;
  int failed;
} worker;

struct tm_serve_pipe {
  const tm_config *cfg;
  char out_dir[PATH_MAX], spool_dir[PATH_MAX], inbox_dir[PATH_MAX];
  char pending_path[PATH_MAX + 16];
  void (*on_finished)(void *);
  void *user;
  tm_tokenizer *tok;
  tm_dedup *dedup;
  tm_encoder *commit_enc; /* the commit thread's: re-tokenizes text that line dedup shortened */
  tm_shard_dir *sd;
  /* profiles: filled under prof_mu, entries never move */
  pthread_mutex_t prof_mu;
  profile profiles[TM_SERVE_MAX_PROFILES];
  atomic_int n_profiles;
  /* input queue and batches, under mu */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  tm_serve_input *head;
  uint64_t next_seq, queued_bytes, queued_inputs;
  int closing;
  batch *batches;
  size_t n_batches, batch_docs;
  uint64_t batch_bytes;
  uint64_t next_fill, next_commit;
  int reader_done, abort;
  /* threads */
  int threads, n_workers_started, reader_started, commit_started;
  pthread_t reader_tid, commit_tid, *worker_tids;
  worker *workers;
  /* commit thread state */
  uint64_t j_next, j_events, published_next;
  tm_serve_input *finished; /* committed, to finish once a manifest lists them */
  tm_quarantine q; /* q.bytes: the quarantine length the journal covers */
  int lock_fd;
  double open_since, last_publish;
  /* shared with the loop, under smu */
  pthread_mutex_t smu;
  tm_serve_counters c;
  double seal_age_s;
  uint64_t shards, generation, manifest_tokens, open_docs, index_ram, index_disk, index_docs;
  int failed, done;
  tm_error perr;
};

static void set_failed(tm_serve_pipe *p, const tm_error *e) {
  pthread_mutex_lock(&p->smu);
  if (!p->failed) {
    p->failed = 1;
    p->perr = *e;
  }
  pthread_mutex_unlock(&p->smu);
  tm_error_log("serve_pipeline_failed", "error=%s", e->msg);
  pthread_mutex_lock(&p->mu);
  p->abort = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* ---- profiles ------------------------------------------------------------------- */

static int valid_profile_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 32) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
          s[i] == '_' || s[i] == '-'))
      return 0;
  return 1;
}

int tm_serve_pipe_profile(tm_serve_pipe *p, const char *name, tm_error *err) {
  if (!valid_profile_name(name))
    return tm_err(err, TM_EINVAL, "bad profile name '%.40s' (letters, digits, _ and -, at most 32)", name);
  pthread_mutex_lock(&p->prof_mu);
  int n = atomic_load(&p->n_profiles), rc;
  for (int i = 0; i < n; i++)
    if (!strcmp(p->profiles[i].name, name)) {
      pthread_mutex_unlock(&p->prof_mu);
      return i;
    }
  if (n >= TM_SERVE_MAX_PROFILES) {
    rc = tm_err(err, TM_ELIMIT, "too many profiles (at most %d)", TM_SERVE_MAX_PROFILES);
  } else {
    profile *pr = &p->profiles[n];
    memset(pr, 0, sizeof *pr);
    snprintf(pr->name, sizeof pr->name, "%s", name);
    rc = tm_clean_params_from_config(&pr->params, p->cfg, name, err);
    if (rc < 0) tm_err_prefix(err, "profile '%s'", name);
    else rc = n, atomic_store(&p->n_profiles, n + 1);
  }
  pthread_mutex_unlock(&p->prof_mu);
  return rc;
}

const char *tm_serve_pipe_profile_name(tm_serve_pipe *p, int i) { return p->profiles[i].name; }

const char *tm_serve_pipe_text_field(tm_serve_pipe *p, int i) {
  return p->profiles[i].params.reader_text_field[0] ? p->profiles[i].params.reader_text_field : "text";
}

static const char *source_tag(const tm_serve_pipe *p, int prof) {
  switch (p->profiles[prof].params.source) {
  case TM_SOURCE_BOOK: return "books";
  case TM_SOURCE_SOCIAL: return "social";
  default: return "web";
  }
}

/* ---- input queue ------------------------------------------------------------------ */

static void input_path(tm_serve_pipe *p, tm_serve_input *in) {
  if (in->kind == TM_INPUT_SOCKET)
    snprintf(in->path, sizeof in->path, "%.3700s/%012" PRIu64 ".%s.jsonl", p->inbox_dir, in->seq,
             p->profiles[in->profile].name);
  else
    snprintf(in->path, sizeof in->path, "%.3700s/.work/%012" PRIu64 ".%s.%s", p->spool_dir, in->seq,
             p->profiles[in->profile].name, in->name);
}

/* What an input counts against the queue limit: its bytes, at least 64 KiB
 * (so that a flood of tiny batches is bounded in number too). */
static uint64_t queue_cost(const tm_serve_input *in) { return in->bytes < 65536 ? 65536 : in->bytes; }

/* Insert keeping the list sorted by seq (callers hold mu). */
static void queue_insert(tm_serve_pipe *p, tm_serve_input *in) {
  tm_serve_input **pp = &p->head;
  while (*pp && (*pp)->seq < in->seq) pp = &(*pp)->next;
  in->next = *pp;
  *pp = in;
  p->queued_bytes += queue_cost(in);
  p->queued_inputs++;
}

tm_serve_input *tm_serve_pipe_reserve(tm_serve_pipe *p, int kind, int prof, uint64_t bytes,
                                      const char *name) {
  tm_serve_input *in = calloc(1, sizeof *in);
  if (!in) return NULL;
  in->kind = kind;
  in->profile = prof;
  in->bytes = bytes;
  in->state = TM_INPUT_PENDING;
  pthread_mutex_lock(&p->mu);
  if (p->closing || p->abort) {
    pthread_mutex_unlock(&p->mu);
    free(in);
    return NULL;
  }
  in->seq = p->next_seq++;
  if (kind == TM_INPUT_SOCKET) snprintf(in->name, sizeof in->name, "batch-%" PRIu64, in->seq);
  else snprintf(in->name, sizeof in->name, "%s", name);
  input_path(p, in);
  queue_insert(p, in);
  pthread_mutex_unlock(&p->mu);
  return in;
}

void tm_serve_pipe_ready(tm_serve_pipe *p, tm_serve_input *in, int ok) {
  pthread_mutex_lock(&p->mu);
  in->state = ok ? TM_INPUT_READY : TM_INPUT_VOID;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

uint64_t tm_serve_pipe_queued_bytes(tm_serve_pipe *p) {
  pthread_mutex_lock(&p->mu);
  uint64_t b = p->queued_bytes;
  pthread_mutex_unlock(&p->mu);
  return b;
}

void tm_serve_pipe_set_seal_age(tm_serve_pipe *p, double s) {
  pthread_mutex_lock(&p->smu);
  p->seal_age_s = s;
  pthread_mutex_unlock(&p->smu);
}

void tm_serve_pipe_close_input(tm_serve_pipe *p) {
  pthread_mutex_lock(&p->mu);
  p->closing = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

void tm_serve_pipe_get_state(tm_serve_pipe *p, tm_serve_pipe_state *st) {
  memset(st, 0, sizeof *st);
  pthread_mutex_lock(&p->mu);
  st->queued_inputs = p->queued_inputs;
  st->queued_bytes = p->queued_bytes;
  st->batches_in_flight = p->next_fill - p->next_commit;
  st->next_seq = p->next_seq;
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_lock(&p->smu);
  st->c = p->c;
  st->open_shard_docs = p->open_docs;
  st->shards = p->shards;
  st->generation = p->generation;
  st->manifest_tokens = p->manifest_tokens;
  st->committed_next = p->published_next;
  st->index_ram = p->index_ram;
  st->index_disk = p->index_disk;
  st->index_docs = p->index_docs;
  st->failed = p->failed;
  snprintf(st->error, sizeof st->error, "%s", p->failed ? p->perr.msg : "");
  pthread_mutex_unlock(&p->smu);
}

/* ---- batches ------------------------------------------------------------------------ */

static batch *next_free_batch(tm_serve_pipe *p) {
  pthread_mutex_lock(&p->mu);
  batch *bt = &p->batches[p->next_fill % p->n_batches];
  while (bt->state != B_FREE && !p->abort) pthread_cond_wait(&p->cv, &p->mu);
  pthread_mutex_unlock(&p->mu);
  if (p->abort) return NULL;
  bt->seq = p->next_fill;
  bt->n = 0;
  bt->input_done = 0;
  return bt;
}

static void submit(tm_serve_pipe *p, batch *bt) {
  pthread_mutex_lock(&p->mu);
  bt->state = B_FILLED;
  p->next_fill++;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* ---- reader thread -------------------------------------------------------------------- */

static tm_reader_options reader_opts(const tm_serve_pipe *p, const tm_serve_input *in) {
  tm_reader_options ro = p->profiles[in->profile].params.reader;
  const char *tf = p->profiles[in->profile].params.reader_text_field;
  ro.text_field = tf[0] ? tf : NULL;
  if (in->kind == TM_INPUT_SOCKET) ro.format = TM_FORMAT_JSONL;
  return ro;
}

/* Read one input into batches; 0, or -1 when aborting. */
static int read_input(tm_serve_pipe *p, tm_serve_input *in) {
  tm_error rerr = {0};
  batch *bt = next_free_batch(p);
  if (!bt) return -1;
  bt->in = in;
  tm_reader_options ro = reader_opts(p, in);
  tm_reader *r = NULL;
  int fd = open(in->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  int rc = fd < 0 ? tm_err_sys(&rerr, "%s", in->name) : tm_reader_open_fd(&r, fd, in->name, &ro, &rerr);
  if (rc < 0) {
    slot *s = &bt->slots[0];
    tm_batch_doc_set_error(s, rerr.msg);
    s->event = 0;
    bt->n = 1;
    bt->input_done = 1;
    in->failed = 1;
    snprintf(in->reason, sizeof in->reason, "%s", rerr.msg);
    submit(p, bt);
    return 0;
  }
  uint64_t event = 0, bytes = 0, errors = 0;
  int n = 1;
  while (!p->abort) {
    slot *s = &bt->slots[bt->n];
    n = tm_reader_next(r, &s->doc, &rerr);
    if (n == 0) break;
    uint64_t ev = event++;
    if (n < 0 && !errors++) snprintf(in->reason, sizeof in->reason, "%s", rerr.msg);
    if (ev < in->skip_events) continue; /* committed by an earlier run */
    s->event = ev;
    s->is_error = n < 0;
    if (n < 0) {
      tm_batch_doc_set_error(s, rerr.msg);
    } else {
      s->raw_bytes = s->doc.len;
      in->docs_read++;
    }
    bytes += s->raw_bytes;
    bt->n++;
    if (bt->n == p->batch_docs || bytes >= p->batch_bytes) {
      submit(p, bt);
      bt = next_free_batch(p);
      if (!bt) break;
      bt->in = in;
      bytes = 0;
    }
  }
  tm_reader_close(r);
  if (!bt) return -1;
  if (n == 0 && errors && !in->docs_read && !in->skip_events) in->failed = 1;
  bt->input_done = n == 0;
  submit(p, bt);
  return p->abort ? -1 : 0;
}

static void *reader_main(void *arg) {
  tm_serve_pipe *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    tm_serve_input *in = NULL;
    for (;;) {
      if (p->abort) break;
      in = p->head;
      if (in && in->state == TM_INPUT_VOID) {
        p->head = in->next;
        p->queued_bytes -= queue_cost(in);
        p->queued_inputs--;
        free(in);
        continue;
      }
      if (in && in->state == TM_INPUT_READY) {
        p->head = in->next;
        in->next = NULL;
        break;
      }
      in = NULL;
      if (!p->head && p->closing) break;
      pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    if (!in) break;
    int rc = read_input(p, in);
    pthread_mutex_lock(&p->mu);
    p->queued_bytes -= queue_cost(in);
    p->queued_inputs--;
    pthread_mutex_unlock(&p->mu);
    if (rc < 0) break; /* aborting: the input is freed with the batches' owners below */
  }
  pthread_mutex_lock(&p->mu);
  p->reader_done = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* ---- workers -------------------------------------------------------------------------- */

static void process_batch(worker *w, batch *bt) {
  tm_serve_pipe *p = w->p;
  int pi = bt->in->profile;
  if (tm_batch_worker_run(w->bw, pi, &p->profiles[pi].params, bt->slots, bt->n, &w->err) < 0) w->failed = 1;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  tm_serve_pipe *p = w->p;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    batch *bt = NULL;
    for (;;) {
      uint64_t best = UINT64_MAX;
      for (size_t i = 0; i < p->n_batches; i++)
        if (p->batches[i].state == B_FILLED && p->batches[i].seq < best) best = p->batches[i].seq, bt = &p->batches[i];
      if (bt || p->abort || (p->reader_done && p->next_commit == p->next_fill)) break;
      pthread_cond_wait(&p->cv, &p->mu);
    }
    if (!bt) {
      pthread_mutex_unlock(&p->mu);
      return NULL;
    }
    bt->state = B_WORKING;
    pthread_mutex_unlock(&p->mu);
    process_batch(w, bt);
    if (w->failed) {
      set_failed(p, &w->err);
      return NULL;
    }
    pthread_mutex_lock(&p->mu);
    bt->state = B_DONE;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
}

/* ---- journal ---------------------------------------------------------------------------- */

static json_t *counters_json(const tm_serve_counters *c) {
  json_t *j = json_object();
  json_object_set_new(j, "docs_in", json_integer((json_int_t)c->docs_in));
  json_object_set_new(j, "bytes_in", json_integer((json_int_t)c->bytes_in));
  json_object_set_new(j, "kept", json_integer((json_int_t)c->kept));
  json_object_set_new(j, "bytes_kept", json_integer((json_int_t)c->bytes_kept));
  json_object_set_new(j, "dropped", json_integer((json_int_t)c->dropped));
  json_object_set_new(j, "exact_dups", json_integer((json_int_t)c->exact_dups));
  json_object_set_new(j, "near_dups", json_integer((json_int_t)c->near_dups));
  json_object_set_new(j, "rejected", json_integer((json_int_t)c->rejected));
  json_object_set_new(j, "tokens", json_integer((json_int_t)c->tokens));
  json_object_set_new(j, "inputs_done", json_integer((json_int_t)c->inputs_done));
  json_object_set_new(j, "inputs_failed", json_integer((json_int_t)c->inputs_failed));
  json_t *r = json_object();
  for (int i = 0; i < c->n_rules; i++) json_object_set_new(r, c->rules[i].rule, json_integer((json_int_t)c->rules[i].docs));
  json_object_set_new(j, "drops", r);
  return j;
}

static uint64_t jget(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static void counters_from_json(tm_serve_counters *c, json_t *j) {
  memset(c, 0, sizeof *c);
  c->docs_in = jget(j, "docs_in");
  c->bytes_in = jget(j, "bytes_in");
  c->kept = jget(j, "kept");
  c->bytes_kept = jget(j, "bytes_kept");
  c->dropped = jget(j, "dropped");
  c->exact_dups = jget(j, "exact_dups");
  c->near_dups = jget(j, "near_dups");
  c->rejected = jget(j, "rejected");
  c->tokens = jget(j, "tokens");
  c->inputs_done = jget(j, "inputs_done");
  c->inputs_failed = jget(j, "inputs_failed");
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(j, "drops"), k, v) {
    if (c->n_rules >= TM_SERVE_MAX_RULES) break;
    snprintf(c->rules[c->n_rules].rule, sizeof c->rules[0].rule, "%s", k);
    c->rules[c->n_rules++].docs = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
  }
}

static char *journal_json(tm_serve_pipe *p) {
  json_t *j = json_object();
  json_object_set_new(j, "version", json_integer(1));
  json_object_set_new(j, "kind", json_string("serve"));
  json_object_set_new(j, "next", json_integer((json_int_t)p->j_next));
  json_object_set_new(j, "events", json_integer((json_int_t)p->j_events));
  pthread_mutex_lock(&p->smu);
  json_object_set_new(j, "stats", counters_json(&p->c));
  pthread_mutex_unlock(&p->smu);
  json_object_set_new(j, "quarantine_bytes", json_integer((json_int_t)p->q.bytes));
  char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  return s;
}

static int journal_restore(tm_serve_pipe *p, const char *text, tm_error *err) {
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  if (!j) return tm_err(err, TM_EFORMAT, "%s/manifest.json: journal: %s", p->out_dir, je.text);
  int rc = 0;
  const char *kind = json_string_value(json_object_get(j, "kind"));
  if (!kind || strcmp(kind, "serve")) {
    rc = tm_err(err, TM_EINVAL, "%s holds the output of `tokenmill build`, not of serve: use another output directory",
                p->out_dir);
  } else {
    p->j_next = p->published_next = jget(j, "next");
    p->j_events = jget(j, "events");
    counters_from_json(&p->c, json_object_get(j, "stats"));
    p->q.bytes = jget(j, "quarantine_bytes");
  }
  json_decref(j);
  return rc;
}

/* The shard directory's commit hook (shard_commit.h). */
static int commit_hook(void *user, const char *shard, uint64_t shards_after, char **journal, tm_error *err) {
  tm_serve_pipe *p = user;
  char *j = journal_json(p);
  if (!j) return tm_err(err, TM_ENOMEM, "out of memory");
  int rc = tm_shard_commit_stage(p->pending_path, p->q.fd, p->q.path, p->dedup, shard, shards_after, j, err);
  if (rc < 0) {
    free(j);
    return rc;
  }
  *journal = j;
  return 0;
}

static int recover(tm_serve_pipe *p, tm_error *err) {
  int rc = tm_shard_commit_recover(p->sd, p->dedup, p->pending_path, p->out_dir, "serve", err);
  if (rc < 0) return rc;
  const tm_manifest *m = tm_shard_dir_manifest(p->sd);
  return m->journal ? journal_restore(p, m->journal, err) : 0;
}

/* ---- finishing inputs ------------------------------------------------------------------ */

/* Move SPOOL/.work/<file> to SPOOL/<sub>/NAME (NAME.SEQ when taken). */
static void spool_move(tm_serve_pipe *p, const char *path, const char *name, uint64_t seq, const char *sub,
                       const char *reason) {
  char to[PATH_MAX + 300];
  snprintf(to, sizeof to, "%s/%s/%s", p->spool_dir, sub, name);
  if (access(to, F_OK) == 0) snprintf(to, sizeof to, "%s/%s/%s.%" PRIu64, p->spool_dir, sub, name, seq);
  tm_error e = {0};
  if (tm_io_rename(path, to, "spool", &e) < 0) {
    tm_warn("spool_move_failed", "error=%s", e.msg);
    return;
  }
  if (reason) {
    char rp[PATH_MAX + 320];
    snprintf(rp, sizeof rp, "%s.reason", to);
    char line[1024];
    int n = snprintf(line, sizeof line, "%s\n", reason);
    tm_io_write_file_atomic(rp, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1), "spool", NULL);
  }
  tm_io_fsync_parent(to, "spool", NULL);
}

static void finish_input(tm_serve_pipe *p, const char *path, const char *name, uint64_t seq, int kind) {
  if (kind == TM_INPUT_SOCKET) {
    tm_io_unlink(path, "inbox", NULL);
  } else {
    spool_move(p, path, name, seq, "done", NULL);
  }
}

/* Finish the committed inputs a published manifest now covers. */
static void finish_published(tm_serve_pipe *p) {
  const tm_manifest *m = tm_shard_dir_manifest(p->sd);
  pthread_mutex_lock(&p->smu);
  p->shards = m->n_shards;
  p->generation = m->generation;
  p->manifest_tokens = tm_manifest_total_tokens(m);
  p->open_docs = tm_shard_dir_pending_docs(p->sd);
  pthread_mutex_unlock(&p->smu);
  tm_serve_input **pp = &p->finished;
  while (*pp) {
    tm_serve_input *in = *pp;
    if (in->seq < p->published_next) {
      finish_input(p, in->path, in->name, in->seq, in->kind);
      tm_info("serve_input_done", "seq=%" PRIu64 " kind=%s name=%s docs=%" PRIu64, in->seq,
              in->kind == TM_INPUT_SOCKET ? "socket" : "spool", in->name, in->docs_read);
      *pp = in->next;
      free(in);
    } else {
      pp = &in->next;
    }
  }
}

/* ---- commit thread ------------------------------------------------------------------------ */

/* A quarantine record of serve: the input's name and sequence number, and
 * the reader event. */
static int quarantine(tm_serve_pipe *p, const slot *s, const tm_serve_input *in, tm_error *err) {
  json_t *o = json_object();
  json_object_set_new(o, "input", json_string(in->name));
  json_object_set_new(o, "seq", json_integer((json_int_t)in->seq));
  json_object_set_new(o, "event", json_integer((json_int_t)s->event));
  json_object_set_new(o, "error", json_string(s->msg ? s->msg : "?"));
  return tm_quarantine_append(&p->q, o, err);
}

static void count_drop(tm_serve_counters *c, const char *rule) {
  for (int i = 0; i < c->n_rules; i++)
    if (!strcmp(c->rules[i].rule, rule)) {
      c->rules[i].docs++;
      return;
    }
  if (c->n_rules < TM_SERVE_MAX_RULES) {
    snprintf(c->rules[c->n_rules].rule, sizeof c->rules[0].rule, "%s", rule);
    c->rules[c->n_rules++].docs = 1;
  }
}

/* After a call that may have published a manifest. */
static void after_publish_check(tm_serve_pipe *p, uint64_t gen_before) {
  if (tm_shard_dir_manifest(p->sd)->generation != gen_before) {
    p->published_next = p->j_events ? p->j_next : p->j_next; /* inputs below j_next are in it */
    p->last_publish = tm_now_s();
    finish_published(p);
  }
}

static int commit_batch(tm_serve_pipe *p, batch *bt, tm_error *err) {
  tm_serve_input *in = bt->in;
  const char *tag = source_tag(p, in->profile);
  if (p->j_next != in->seq) p->j_next = in->seq, p->j_events = 0;
  for (size_t i = 0; i < bt->n; i++) {
    slot *s = &bt->slots[i];
    p->j_events = s->event + 1;
    if (s->is_error) {
      pthread_mutex_lock(&p->smu);
      p->c.rejected++;
      pthread_mutex_unlock(&p->smu);
      int rc = quarantine(p, s, in, err);
      if (rc < 0) return rc;
      continue;
    }
    if (s->verdict == TM_CLEAN_DROP) {
      pthread_mutex_lock(&p->smu);
      p->c.docs_in++;
      p->c.bytes_in += s->raw_bytes;
      p->c.dropped++;
      count_drop(&p->c, s->reason ? s->reason : "unknown");
      pthread_mutex_unlock(&p->smu);
      continue;
    }
    tm_dedup_verdict v;
    int rc = tm_dedup_process(p->dedup, s->doc.id, strlen(s->doc.id), s->doc.text, s->doc.len, &v, err);
    if (rc < 0) return rc;
    if (v.kind == TM_DEDUP_UNIQUE && v.lines_removed > 0) {
      /* line-level dedup shortened the text (as in build): emit and
       * tokenize what is left */
      if ((rc = tm_batch_doc_take_lines(s, &v, p->commit_enc, err)) < 0) return rc;
    }
    pthread_mutex_lock(&p->smu);
    p->c.docs_in++;
    p->c.bytes_in += s->raw_bytes;
    if (v.kind == TM_DEDUP_EXACT) p->c.exact_dups++;
    else if (v.kind == TM_DEDUP_NEAR) p->c.near_dups++;
    else if (v.kind == TM_DEDUP_LINES) { /* every line was a repeated boilerplate line: build's drop reason */
      p->c.dropped++;
      count_drop(&p->c, "dedup.repeated_lines");
    } else {
      p->c.kept++;
      p->c.bytes_kept += s->doc.len;
      p->c.tokens += s->ids.len + 1;
    }
    pthread_mutex_unlock(&p->smu);
    if (v.kind != TM_DEDUP_UNIQUE) continue;
    if (tm_shard_dir_pending_docs(p->sd) == 0) p->open_since = tm_now_s();
    uint64_t gen = tm_shard_dir_manifest(p->sd)->generation;
    rc = tm_shard_dir_append(p->sd, s->ids.ids, s->ids.len, tm_doc_id_hash(s->doc.id, strlen(s->doc.id)), tag, err);
    if (rc < 0) return rc;
    after_publish_check(p, gen);
  }
  pthread_mutex_lock(&p->smu);
  p->open_docs = tm_shard_dir_pending_docs(p->sd);
  pthread_mutex_unlock(&p->smu);
  /* a daemon runs for weeks: a slot that once held a huge document gives
   * its buffers back instead of keeping them for ever (flat memory) */
  for (size_t i = 0; i < bt->n; i++) tm_batch_doc_shrink(&bt->slots[i], TM_SERVE_SLOT_KEEP);
  if (bt->input_done) {
    p->j_next = in->seq + 1;
    p->j_events = 0;
    pthread_mutex_lock(&p->smu);
    if (in->failed) p->c.inputs_failed++;
    else p->c.inputs_done++;
    pthread_mutex_unlock(&p->smu);
    if (in->failed && in->kind == TM_INPUT_SPOOL) {
      /* nothing of it reached a shard: out of the way at once */
      tm_warn("serve_input_failed", "seq=%" PRIu64 " name=%s reason=\"%s\"", in->seq, in->name, in->reason);
      spool_move(p, in->path, in->name, in->seq, "failed", in->reason);
      free(in);
    } else {
      in->next = p->finished;
      p->finished = in;
    }
  }
  return 0;
}

/* Publish the journal alone (no new shard): the last inputs produced no
 * kept document. */
static int publish_journal(tm_serve_pipe *p, tm_error *err) {
  uint64_t shards = tm_shard_dir_manifest(p->sd)->n_shards;
  int rc = 0;
  rc = tm_quarantine_sync(&p->q, err);
  if (rc == 0) rc = tm_dedup_checkpoint(p->dedup, shards, err);
  char *j = rc == 0 ? journal_json(p) : NULL;
  if (rc == 0) rc = j ? tm_shard_dir_commit_journal(p->sd, j, err) : tm_err(err, TM_ENOMEM, "out of memory");
  free(j);
  return rc;
}

/* Seal by age, or publish the journal of inputs that produced nothing. */
static int periodic(tm_serve_pipe *p, tm_error *err) {
  pthread_mutex_lock(&p->smu);
  double age = p->seal_age_s;
  pthread_mutex_unlock(&p->smu);
  double t = tm_now_s();
  uint64_t gen = tm_shard_dir_manifest(p->sd)->generation;
  int rc = 0;
  if (tm_shard_dir_pending_docs(p->sd) > 0) {
    if (t - p->open_since >= age) rc = tm_shard_dir_seal(p->sd, err);
  } else if (p->finished && t - p->last_publish >= age) {
    rc = publish_journal(p, err);
  }
  if (rc == 0) after_publish_check(p, gen);
  tm_dedup_stats ds;
  tm_dedup_get_stats(p->dedup, &ds);
  pthread_mutex_lock(&p->smu);
  p->index_ram = ds.index.ram_bytes;
  p->index_disk = ds.index.disk_bytes;
  p->index_docs = ds.kept;
  p->open_docs = tm_shard_dir_pending_docs(p->sd);
  pthread_mutex_unlock(&p->smu);
  return rc;
}

static void *commit_main(void *arg) {
  tm_serve_pipe *p = arg;
  tm_error err = {0};
  int rc = 0;
  double last_tick = tm_now_s();
  for (;;) {
    pthread_mutex_lock(&p->mu);
    batch *bt = NULL;
    int end = 0;
    for (;;) {
      batch *c = &p->batches[p->next_commit % p->n_batches];
      if (p->abort) {
        end = 1;
        break;
      }
      if (p->next_commit < p->next_fill && c->seq == p->next_commit && c->state == B_DONE) {
        bt = c;
        break;
      }
      if (p->reader_done && p->next_commit == p->next_fill) {
        end = 1;
        break;
      }
      if (tm_now_s() - last_tick >= 0.2) break;
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 200 * 1000 * 1000;
      if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
      pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    if (end) break;
    if (bt) {
      rc = commit_batch(p, bt, &err);
      pthread_mutex_lock(&p->mu);
      bt->state = B_FREE;
      p->next_commit++;
      pthread_cond_broadcast(&p->cv);
      pthread_mutex_unlock(&p->mu);
      if (rc < 0) break;
    }
    if (tm_now_s() - last_tick >= 0.2) {
      last_tick = tm_now_s();
      if ((rc = periodic(p, &err)) < 0) break;
    }
  }
  if (rc == 0 && !p->abort) {
    /* drained: seal what is open, publish the final positions */
    uint64_t gen = tm_shard_dir_manifest(p->sd)->generation;
    uint64_t shards = tm_shard_dir_manifest(p->sd)->n_shards;
    rc = tm_shard_dir_seal(p->sd, &err);
    if (rc == 0 && tm_shard_dir_manifest(p->sd)->n_shards == shards && p->published_next != p->j_next)
      rc = publish_journal(p, &err);
    if (rc == 0) after_publish_check(p, gen);
    if (rc == 0) unlink(p->pending_path);
  }
  if (rc < 0) set_failed(p, &err);
  pthread_mutex_lock(&p->smu);
  p->done = 1;
  pthread_mutex_unlock(&p->smu);
  if (p->on_finished) p->on_finished(p->user);
  return NULL;
}

/* ---- open: requeue claimed inputs ---------------------------------------------------------- */

typedef struct {
  uint64_t seq;
  int kind;
  char file[256];
} found;

static int cmp_found(const void *a, const void *b) {
  const found *x = a, *y = b;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* List dir for "SEQ.PROFILE.REST" entries (leftover .tmp files removed). */
static int list_claimed(const char *dir, int kind, found **v, size_t *n, size_t *cap, tm_error *err) {
  DIR *dh = opendir(dir);
  if (!dh) return errno == ENOENT ? 0 : tm_err_sys(err, "%s", dir);
  struct dirent *e;
  while ((e = readdir(dh))) {
    const char *nm = e->d_name;
    size_t len = strlen(nm);
    if (nm[0] == '.') continue;
    if (len > 4 && !strcmp(nm + len - 4, ".tmp") && kind == TM_INPUT_SOCKET) {
      char pth[PATH_MAX + 300];
      snprintf(pth, sizeof pth, "%s/%s", dir, nm);
      unlink(pth);
      continue;
    }
    char *end;
    unsigned long long s = strtoull(nm, &end, 10);
    if (end == nm || *end != '.' || len >= sizeof((*v)->file)) continue;
    if (*n == *cap) {
      *cap = *cap ? *cap * 2 : 64;
      found *nv = realloc(*v, *cap * sizeof *nv);
      if (!nv) {
        closedir(dh);
        return tm_err(err, TM_ENOMEM, "out of memory");
      }
      *v = nv;
    }
    (*v)[*n].seq = s;
    (*v)[*n].kind = kind;
    snprintf((*v)[*n].file, sizeof((*v)[0].file), "%s", nm);
    (*n)++;
  }
  closedir(dh);
  return 0;
}

static int requeue(tm_serve_pipe *p, tm_error *err) {
  found *v = NULL;
  size_t n = 0, cap = 0;
  char wdir[PATH_MAX + 16];
  snprintf(wdir, sizeof wdir, "%s/.work", p->spool_dir);
  int rc = list_claimed(p->inbox_dir, TM_INPUT_SOCKET, &v, &n, &cap, err);
  if (rc == 0 && p->spool_dir[0]) rc = list_claimed(wdir, TM_INPUT_SPOOL, &v, &n, &cap, err);
  if (rc < 0) {
    free(v);
    return rc;
  }
  if (n) qsort(v, n, sizeof *v, cmp_found);
  p->next_seq = p->j_next;
  size_t requeued = 0, finished = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const char *dir = v[i].kind == TM_INPUT_SOCKET ? p->inbox_dir : wdir;
    char path[PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/%s", dir, v[i].file);
    /* SEQ.PROFILE.NAME */
    char prof[64] = "";
    const char *d1 = strchr(v[i].file, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (d2 && (size_t)(d2 - d1 - 1) < sizeof prof) memcpy(prof, d1 + 1, (size_t)(d2 - d1 - 1)), prof[d2 - d1 - 1] = 0;
    const char *name = d2 ? d2 + 1 : v[i].file;
    if (v[i].seq + 1 > p->next_seq) p->next_seq = v[i].seq + 1;
    if (v[i].seq < p->j_next) {
      finish_input(p, path, name, v[i].seq, v[i].kind);
      finished++;
      continue;
    }
    tm_error pe = {0};
    int pi = tm_serve_pipe_profile(p, prof, &pe);
    if (pi < 0) {
      tm_warn("serve_requeue_skipped", "path=%s error=\"%s\"", path, pe.msg);
      continue;
    }
    struct stat st;
    if (lstat(path, &st) != 0) continue;
    tm_serve_input *in = calloc(1, sizeof *in);
    if (!in) {
      rc = tm_err(err, TM_ENOMEM, "out of memory");
      break;
    }
    in->seq = v[i].seq;
    in->kind = v[i].kind;
    in->profile = pi;
    in->bytes = (uint64_t)st.st_size;
    in->state = TM_INPUT_READY;
    in->skip_events = v[i].seq == p->j_next ? p->j_events : 0;
    snprintf(in->path, sizeof in->path, "%.4000s", path);
    if (v[i].kind == TM_INPUT_SOCKET) snprintf(in->name, sizeof in->name, "batch-%" PRIu64, in->seq);
    else snprintf(in->name, sizeof in->name, "%s", name);
    queue_insert(p, in);
    requeued++;
  }
  free(v);
  if (requeued || finished)
    tm_info("serve_requeued", "inputs=%zu finished=%zu next=%" PRIu64 " events=%" PRIu64, requeued, finished,
            p->j_next, p->j_events);
  return rc;
}

/* ---- open / free ------------------------------------------------------------------------------ */

static int cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

int tm_serve_pipe_open(tm_serve_pipe **out, const tm_serve_pipe_options *o, tm_error *err) {
  *out = NULL;
  tm_serve_pipe *p = calloc(1, sizeof *p);
  if (!p) return tm_err(err, TM_ENOMEM, "out of memory");
  p->cfg = o->cfg;
  p->lock_fd = -1;
  p->on_finished = o->on_finished;
  p->user = o->user;
  p->seal_age_s = o->seal_age_s;
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->smu, NULL);
  pthread_mutex_init(&p->prof_mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  snprintf(p->out_dir, sizeof p->out_dir, "%s", o->out_dir);
  snprintf(p->spool_dir, sizeof p->spool_dir, "%s", o->spool_dir ? o->spool_dir : "");
  snprintf(p->inbox_dir, sizeof p->inbox_dir, "%.4000s/inbox", o->out_dir);
  tm_quarantine_init(&p->q, o->out_dir);
  snprintf(p->pending_path, sizeof p->pending_path, "%s/journal.pending", o->out_dir);
  p->threads = o->threads > 0 ? o->threads : cpu_count();
  p->batch_docs = (size_t)tm_config_int(o->cfg, "serve", "batch_docs");
  if (p->batch_docs < 1) p->batch_docs = 1;
  p->batch_bytes = tm_config_size(o->cfg, "serve", "batch_bytes");
  *out = p; /* freed by tm_serve_pipe_free on any failure below */
  char path[PATH_MAX + 32];
  int rc = tm_io_mkdirs(p->out_dir, err);
  if (rc == 0) rc = tm_io_mkdirs(p->inbox_dir, err);
  if (rc < 0) return rc;
  /* one writer per output directory (build takes the same lock) */
  snprintf(path, sizeof path, "%s/.lock", p->out_dir);
  p->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (p->lock_fd < 0) return tm_err_sys(err, "%s", path);
  if (flock(p->lock_fd, LOCK_EX | LOCK_NB) != 0)
    return tm_err(err, TM_ESTATE, "%s: another serve or build is running on this output directory", p->out_dir);
  snprintf(path, sizeof path, "%s/tokenizer.json", p->out_dir);
  struct stat st;
  if (o->tokenizer_path && o->tokenizer_path[0]) {
    rc = tm_tokenizer_load(&p->tok, o->tokenizer_path, err);
    if (rc == 0 && stat(path, &st) == 0) {
      tm_tokenizer *old;
      if (tm_tokenizer_load(&old, path, err) == 0) {
        if (tm_tokenizer_hash(old) != tm_tokenizer_hash(p->tok))
          rc = tm_err(err, TM_EINVAL, "%s holds shards of another tokenizer: use a new output directory", p->out_dir);
        tm_tokenizer_free(old);
      }
    }
    if (rc == 0) rc = tm_tokenizer_save(p->tok, path, err);
  } else if (stat(path, &st) == 0) {
    rc = tm_tokenizer_load(&p->tok, path, err);
  } else {
    rc = tm_err(err, TM_EINVAL, "no tokenizer: set [serve] tokenizer (a tokenizer.json, e.g. from `tokenmill tokenizer train` or a build)");
  }
  if (rc < 0) return rc;
  if (tm_tokenizer_eot_id(p->tok) < 0)
    return tm_err(err, TM_EINVAL, "the tokenizer has no <|endoftext|> token (documents are separated by it)");
  tm_shard_dir_options so = {0};
  tm_shard_params_default(&so.params);
  so.params.vocab_size = tm_tokenizer_vocab_size(p->tok);
  so.params.eot_id = (uint32_t)tm_tokenizer_eot_id(p->tok);
  so.params.tokenizer_hash = tm_tokenizer_hash(p->tok);
  so.params.frame_bytes = (size_t)tm_config_size(o->cfg, "shard", "frame_size");
  so.params.zstd_level = (int)tm_config_int(o->cfg, "shard", "zstd_level");
  so.max_tokens = (uint64_t)tm_config_int(o->cfg, "shard", "max_tokens");
  so.max_docs = (uint64_t)tm_config_int(o->cfg, "shard", "max_docs");
  if ((rc = tm_shard_dir_open(&p->sd, p->out_dir, &so, err)) < 0) return rc;
  tm_dedup_params dp;
  tm_dedup_params_default(&dp);
  if ((rc = tm_dedup_params_from_config(o->cfg, &dp, err)) < 0) return rc;
  snprintf(path, sizeof path, "%s/dedup", p->out_dir);
  if ((rc = tm_dedup_open(&p->dedup, &dp, path, err)) < 0) return rc;
  if ((rc = recover(p, err)) < 0) return rc;
  /* the quarantine holds exactly what the journal committed */
  if ((rc = tm_quarantine_restore(&p->q, p->q.bytes, err)) < 0) return rc;
  tm_shard_dir_set_commit_hook(p->sd, commit_hook, p);
  finish_published(p);
  p->last_publish = tm_now_s();
  if ((rc = requeue(p, err)) < 0) return rc;

  p->n_batches = (size_t)p->threads * 2 + 2;
  p->batches = calloc(p->n_batches, sizeof *p->batches);
  p->workers = calloc((size_t)p->threads, sizeof *p->workers);
  p->worker_tids = calloc((size_t)p->threads, sizeof *p->worker_tids);
  if (!p->batches || !p->workers || !p->worker_tids) return tm_err(err, TM_ENOMEM, "out of memory");
  for (size_t i = 0; i < p->n_batches; i++) {
    p->batches[i].slots = tm_batch_docs_new(p->batch_docs, 0);
    if (!p->batches[i].slots) return tm_err(err, TM_ENOMEM, "out of memory");
  }
  tm_batch_worker_options wo = {.n_profiles = TM_SERVE_MAX_PROFILES, .tok = p->tok, .dedup = NULL};
  for (int i = 0; i < p->threads; i++) {
    p->workers[i].p = p;
    if (!(p->workers[i].bw = tm_batch_worker_new(&wo))) return tm_err(err, TM_ENOMEM, "out of memory");
  }
  if (!(p->commit_enc = tm_encoder_new(p->tok))) return tm_err(err, TM_ENOMEM, "out of memory");
  for (int i = 0; i < p->threads; i++) {
    if (pthread_create(&p->worker_tids[i], NULL, worker_main, &p->workers[i]) != 0)
      return tm_err(err, TM_EIO, "cannot start worker threads");
    p->n_workers_started++;
  }
  if (pthread_create(&p->reader_tid, NULL, reader_main, p) != 0) return tm_err(err, TM_EIO, "cannot start the reader thread");
  p->reader_started = 1;
  if (pthread_create(&p->commit_tid, NULL, commit_main, p) != 0) return tm_err(err, TM_EIO, "cannot start the commit thread");
  p->commit_started = 1;
  tm_info("serve_pipeline_started", "out=%s threads=%d shards=%zu next=%" PRIu64 " queued=%" PRIu64, p->out_dir,
          p->threads, tm_shard_dir_manifest(p->sd)->n_shards, p->j_next, p->queued_inputs);
  return 0;
}

static void free_inputs(tm_serve_input *in) {
  while (in) {
    tm_serve_input *n = in->next;
    free(in);
    in = n;
  }
}

int tm_serve_pipe_free(tm_serve_pipe *p, tm_error *err) {
  if (!p) return 0;
  if (!p->commit_started) {
    pthread_mutex_lock(&p->mu);
    p->abort = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  if (p->commit_started) pthread_join(p->commit_tid, NULL);
  pthread_mutex_lock(&p->mu);
  p->abort = 1; /* wake the reader and the workers: nothing more to do */
  p->closing = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  if (p->reader_started) pthread_join(p->reader_tid, NULL);
  for (int i = 0; i < p->n_workers_started; i++) pthread_join(p->worker_tids[i], NULL);
  int rc = 0;
  if (p->failed) {
    if (err) *err = p->perr;
    rc = -(p->perr.code ? p->perr.code : TM_EIO);
  }
  /* inputs still referenced by batches that were never committed */
  if (p->batches) {
    tm_serve_input *seen[64];
    int n_seen = 0;
    for (size_t i = 0; i < p->n_batches; i++) {
      batch *b = &p->batches[i];
      if (b->state != B_FREE && b->in) {
        int dup = 0;
        for (int k = 0; k < n_seen; k++) dup |= seen[k] == b->in;
        if (!dup && n_seen < 64 && b->input_done) seen[n_seen++] = b->in;
      }
    }
    for (int k = 0; k < n_seen; k++) free(seen[k]);
    for (size_t i = 0; i < p->n_batches; i++) tm_batch_docs_free(p->batches[i].slots, p->batch_docs);
  }
  free(p->batches);
  if (p->workers)
    for (int i = 0; i < p->threads; i++) tm_batch_worker_free(p->workers[i].bw);
  tm_encoder_free(p->commit_enc);
  free(p->workers);
  free(p->worker_tids);
  free_inputs(p->head);
  free_inputs(p->finished);
  if (p->sd) {
    if (p->failed || !p->done) tm_shard_dir_abort(p->sd);
    else tm_shard_dir_close(p->sd, NULL);
  }
  if (p->dedup) tm_dedup_close(p->dedup);
  tm_quarantine_close(&p->q);
  if (p->lock_fd >= 0) close(p->lock_fd);
  tm_tokenizer_free(p->tok);
  pthread_mutex_destroy(&p->mu);
  pthread_mutex_destroy(&p->smu);
  pthread_mutex_destroy(&p->prof_mu);
  pthread_cond_destroy(&p->cv);
  free(p);
  return rc;
}
