/* feeder.c - see feeder.h. */
#include "feeder.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "feed_dropout.h"
#include "feed_perm.h"
#include "io.h"
#include "log.h"
#include "manifest.h"
#include "ring.h"

#define MAX_RANKS 1024
#define LIST_MAX (64u << 20)

/* ---- frozen shard lists and pass generations (the state directory) ------- */

typedef struct frozen {
  uint64_t gen;
  char **names;
  size_t n;
} frozen;

static void frozen_free(frozen *f) {
  for (size_t i = 0; i < f->n; i++) free(f->names[i]);
  free(f->names);
  memset(f, 0, sizeof *f);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int frozen_from_manifest(frozen *f, const tm_manifest *m, tm_error *err) {
  f->gen = m->generation;
  f->n = m->n_shards;
  f->names = calloc(f->n ? f->n : 1, sizeof *f->names);
  if (!f->names) return tm_err(err, TM_ENOMEM, "out of memory");
  for (size_t i = 0; i < f->n; i++)
    if (!(f->names[i] = strdup(m->shards[i].name))) return tm_err(err, TM_ENOMEM, "out of memory");
  qsort(f->names, f->n, sizeof *f->names, cmp_str);
  return 0;
}

static int write_list(const char *state, const frozen *f, tm_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/gen-%" PRIu64 ".list", state, f->gen);
  struct stat st;
  if (stat(path, &st) == 0) return 0;
  size_t cap = 64, len = 0;
  for (size_t i = 0; i < f->n; i++) cap += strlen(f->names[i]) + 1;
  char *buf = malloc(cap);
  if (!buf) return tm_err(err, TM_ENOMEM, "out of memory");
  for (size_t i = 0; i < f->n; i++) {
    size_t l = strlen(f->names[i]);
    memcpy(buf + len, f->names[i], l);
    len += l;
    buf[len++] = '\n';
  }
  int rc = tm_io_mkdirs(state, err);
  if (rc == 0) rc = tm_io_write_file_atomic(path, buf, len, "feed", err);
  free(buf);
  return rc;
}

static int read_list(const char *state, uint64_t gen, frozen *f, tm_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/gen-%" PRIu64 ".list", state, gen);
  char *buf;
  size_t len;
  tm_error e2 = {0};
  int rc = tm_io_read_file(path, LIST_MAX, &buf, &len, &e2);
  if (rc < 0)
    return tm_err(err, TM_ENOTFOUND,
                  "the shard list of manifest generation %" PRIu64 " is unknown (%s): cannot "
                  "recompute that pass",
                  gen, e2.msg);
  f->gen = gen;
  size_t n = 0;
  for (size_t i = 0; i < len; i++) n += buf[i] == '\n';
  f->names = calloc(n ? n : 1, sizeof *f->names);
  if (!f->names) {
    free(buf);
    return tm_err(err, TM_ENOMEM, "out of memory");
  }
  char *save = NULL;
  for (char *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
    if (!(f->names[f->n++] = strdup(t))) {
      free(buf);
      return tm_err(err, TM_ENOMEM, "out of memory");
    }
  free(buf);
  return 0;
}

/* The generation frozen for pass p: recorded in pass-P.gen by whoever
 * started the pass first; else now (cur_gen), recorded. */
static int pass_generation(const char *state, uint64_t seed, uint64_t pass, uint64_t cur_gen,
                           int overwrite, uint64_t *gen, tm_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/pass-%" PRIu64 "-%" PRIu64 ".gen", state, seed, pass);
  char *buf;
  size_t len;
  tm_error e2 = {0};
  if (!overwrite && tm_io_read_file(path, 64, &buf, &len, &e2) == 0) {
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    int ok = end != buf;
    free(buf);
    if (ok) {
      *gen = v;
      return 0;
    }
  }
  char txt[32];
  int n = snprintf(txt, sizeof txt, "%" PRIu64 "\n", cur_gen);
  int rc = tm_io_mkdirs(state, &e2);
  if (rc == 0) rc = tm_io_write_file_atomic(path, txt, (size_t)n, "feed", &e2);
  /* a read-only shard directory (and no --state) still feeds; only the
   * agreement of separate per-rank feeders and old cursors need the record */
  if (rc < 0)
    tm_warn("feed_state", "pass=%" PRIu64 " generation=%" PRIu64 " unrecorded=%s", pass, cur_gen,
            tm_log_quote((char[600]){0}, 600, e2.msg));
  (void)err;
  *gen = cur_gen;
  return 0;
}

/* ---- feeder state ---------------------------------------------------------- */

typedef struct plan_slot {
  tm_feed_plan *plan;
  uint64_t pass, gen;
  uint64_t used;
} plan_slot;

typedef struct rank_state {
  unsigned rank;
  tm_ring *ring;
  uint64_t pass, gen, k; /* next global batch k of pass (gen) */
  int positioned;        /* pass/gen known */
  uint64_t produced;
  int done;
  int peer_down;  /* the consumer is dead, hung or absent (logged once) */
  char peer_msg[TM_ERROR_MSG_MAX];
} rank_state;

typedef struct feeder {
  const tm_feed_options *o;
  char state[2048];
  uint64_t G; /* global batch in windows */
  plan_slot plans[2];
  uint64_t tick;
  tm_feed_stats *st;
  unsigned width;
  rank_state *fresh_owner; /* the rank that froze pass 0 of a fresh run */
  frozen lists[2];          /* shard lists frozen by this process, newest two */
  tm_feed_dropout *dropout;
} feeder;

static int get_plan(feeder *f, uint64_t pass, uint64_t gen, tm_feed_plan **out, tm_error *err) {
  plan_slot *victim = &f->plans[0];
  for (int i = 0; i < 2; i++) {
    plan_slot *ps = &f->plans[i];
    if (ps->plan && ps->pass == pass && ps->gen == gen) {
      ps->used = ++f->tick;
      *out = ps->plan;
      return 0;
    }
    if (!ps->plan || (victim->plan && ps->used < victim->used)) victim = ps;
  }
  const tm_feed_options *o = f->o;
  frozen fr = {0};
  int rc = 0;
  const frozen *mem = NULL;
  for (int i = 0; i < 2; i++)
    if (f->lists[i].names && f->lists[i].gen == gen) mem = &f->lists[i];
  if (mem) {
    fr.gen = gen;
    fr.n = mem->n;
    fr.names = calloc(mem->n ? mem->n : 1, sizeof *fr.names);
    if (!fr.names) rc = tm_err(err, TM_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < mem->n; i++)
      if (!(fr.names[i] = strdup(mem->names[i]))) rc = tm_err(err, TM_ENOMEM, "out of memory");
  } else {
    tm_manifest m = {0};
    rc = tm_manifest_load(&m, o->dir, 0, err);
    if (rc == 0 && m.generation == gen) rc = frozen_from_manifest(&fr, &m, err);
    else if (rc == 0) rc = read_list(f->state, gen, &fr, err);
    tm_manifest_free(&m);
  }
  if (rc < 0) {
    frozen_free(&fr);
    return rc;
  }
  tm_feed_plan_options po = {
      .dir = o->dir,
      .shards = (const char *const *)fr.names,
      .n_shards = fr.n,
      .seed = o->seed,
      .pass = pass,
      .seq_len = o->seq_len,
      .shuffle_windows = o->shuffle_windows,
      .split = o->split,
      .val_fraction = o->val_fraction,
      .weights = o->n_weights ? o->weights : NULL,
      .n_weights = o->n_weights,
      .epochs = o->epochs,
      .n_epochs = o->n_epochs,
  };
  tm_feed_plan *p;
  rc = tm_feed_plan_build(&p, &po, err);
  frozen_free(&fr);
  if (rc < 0) return rc;
  if (victim->plan) tm_feed_plan_free(victim->plan);
  victim->plan = p;
  victim->pass = pass;
  victim->gen = gen;
  victim->used = ++f->tick;
  tm_info("feed_pass", "pass=%" PRIu64 " generation=%" PRIu64 " shards=%zu windows=%" PRIu64
                       " global_batches=%" PRIu64,
          pass, gen, po.n_shards, tm_feed_plan_windows(p), tm_feed_plan_windows(p) / f->G);
  *out = p;
  return 0;
}

/* Start pass `pass` for a rank: freeze (or look up) its generation. fresh:
 * this feeder starts the run here (not continuing from an earlier pass):
 * freeze the current generation even if an old record exists. */
static int start_pass(feeder *f, rank_state *rs, uint64_t pass, int fresh, tm_error *err) {
  tm_manifest m = {0};
  int rc = tm_manifest_load(&m, f->o->dir, 0, err);
  uint64_t cur = m.generation;
  if (rc == 0 && !(f->lists[0].names && f->lists[0].gen == cur) &&
      !(f->lists[1].names && f->lists[1].gen == cur)) {
    /* freeze the list of this very manifest (it may grow again at once):
     * kept in memory and recorded in the state directory */
    frozen fr = {0};
    rc = frozen_from_manifest(&fr, &m, err);
    if (rc == 0) {
      tm_error e2 = {0};
      if (write_list(f->state, &fr, &e2) < 0)
        tm_warn("feed_state", "msg=%s", tm_log_quote((char[600]){0}, 600, e2.msg));
      frozen_free(&f->lists[1]);
      f->lists[1] = f->lists[0];
      f->lists[0] = fr;
    } else {
      frozen_free(&fr);
    }
  }
  tm_manifest_free(&m);
  if (rc < 0) return rc;
  uint64_t gen;
  if ((rc = pass_generation(f->state, f->o->seed, pass, cur, fresh && (!f->fresh_owner || f->fresh_owner == rs),
                            &gen, err)) < 0)
    return rc;
  if (fresh && !f->fresh_owner) f->fresh_owner = rs;
  rs->pass = pass;
  rs->gen = gen;
  rs->k = 0;
  rs->positioned = 1;
  f->st->passes++;
  return 0;
}

static int seek_cursor(feeder *f, rank_state *rs, const tm_ring_cursor *c, tm_error *err) {
  if (c->seed != f->o->seed)
    return tm_err(err, TM_EINVAL,
                  "ring %s: resume cursor has seed %" PRIu64 ", this feeder runs seed %" PRIu64,
                  tm_ring_name(rs->ring), c->seed, f->o->seed);
  if (c->window % f->G)
    return tm_err(err, TM_EINVAL,
                  "ring %s: resume cursor window %" PRIu64 " is not a multiple of the global "
                  "batch %" PRIu64 " (world x batch changed?)",
                  tm_ring_name(rs->ring), c->window, f->G);
  rs->pass = c->pass;
  rs->gen = c->generation;
  rs->k = c->window / f->G;
  rs->positioned = 1;
  return 0;
}

/* Fill and publish rank rs's next batch into the reserved slot. Returns 1
 * when the rank has reached its limit (nothing published). */
static int produce(feeder *f, rank_state *rs, tm_ring_slot *slot, tm_error *err) {
  const tm_feed_options *o = f->o;
  for (;;) {
    if (!rs->positioned) {
      int rc = start_pass(f, rs, 0, 1, err);
      if (rc < 0) return rc;
    }
    if (o->passes && rs->pass >= o->passes) return 1;
    tm_feed_plan *p;
    int rc = get_plan(f, rs->pass, rs->gen, &p, err);
    if (rc < 0) return rc;
    uint64_t K = tm_feed_plan_windows(p) / f->G;
    if (rs->k < K) {
      unsigned w = tm_feed_plan_token_width(p);
      uint64_t win = (uint64_t)o->seq_len + 1;
      if ((uint64_t)o->batch * win * w > slot->capacity)
        return tm_err(err, TM_EINVAL, "batch does not fit the ring slot");
      for (uint32_t i = 0; i < o->batch; i++) {
        uint64_t g = rs->k * f->G + rs->rank + (uint64_t)i * o->world;
        char *dst = (char *)slot->tokens + (uint64_t)i * win * w;
        rc = tm_feed_plan_read(p, g, dst, err);
        if (rc < 0) return rc;
        if (f->dropout) {
          rc = tm_feed_dropout_apply(f->dropout, dst, (size_t)win, w,
                                     tm_feed_key(TM_FEED_TAG_DROPOUT, o->seed, rs->pass, g, 0),
                                     err);
          if (rc < 0) return rc;
          if (rc == 1) f->st->dropout_windows++;
          else f->st->dropout_kept++;
        }
        /* the window is final: fold it into the checksum while in cache */
        rc = tm_ring_seal(rs->ring, (uint64_t)(i + 1) * win * w, err);
        if (rc < 0) return rc;
      }
      tm_ring_cursor c = {o->seed, rs->pass, rs->gen, (rs->k + 1) * f->G};
      rc = tm_ring_publish(rs->ring, (uint64_t)o->batch * win, &c, err);
      if (rc < 0) return rc;
      rs->k++;
      rs->produced++;
      f->st->batches++;
      f->st->tokens += (uint64_t)o->batch * win;
      return 0;
    }
    if (K == 0) {
      if (!o->follow)
        return tm_err(err, TM_ELIMIT,
                      "%s: pass %" PRIu64 " (manifest generation %" PRIu64 ") has %" PRIu64
                      " windows of %u tokens, fewer than one global batch of %" PRIu64
                      " (--follow waits for more shards)",
                      o->dir, rs->pass, rs->gen, tm_feed_plan_windows(p), o->seq_len + 1, f->G);
      /* wait for the manifest to grow, then retry this pass with it */
      struct timespec ts = {0, 200 * 1000 * 1000};
      nanosleep(&ts, NULL);
      tm_ring_beat(rs->ring);
      if (o->stop && *o->stop) return 1;
      tm_manifest m = {0};
      if (tm_manifest_load(&m, o->dir, 0, err) == 0 && m.generation != rs->gen) {
        rs->positioned = 0;
        uint64_t pass = rs->pass;
        tm_manifest_free(&m);
        if ((rc = start_pass(f, rs, pass, 1, err)) < 0) return rc;
      } else {
        tm_manifest_free(&m);
      }
      continue;
    }
    /* next pass: the manifest's current generation joins */
    if (o->passes && rs->pass + 1 >= o->passes) return 1;
    if ((rc = start_pass(f, rs, rs->pass + 1, 0, err)) < 0) return rc;
  }
}

int tm_feed_parse_weights(const char *s, tm_feed_weight *out, size_t cap, size_t *n,
                          tm_error *err) {
  *n = 0;
  const char *p = s;
  while (*p) {
    const char *eq = strchr(p, '='), *comma = strchr(p, ',');
    if (!comma) comma = p + strlen(p);
    if (!eq || eq > comma || eq == p)
      return tm_err(err, TM_EINVAL, "'%.*s' is not NAME=VALUE", (int)(comma - p), p);
    if (*n == cap) return tm_err(err, TM_ELIMIT, "more than %zu NAME=VALUE items", cap);
    size_t nl = (size_t)(eq - p);
    if (nl >= sizeof out[0].name) return tm_err(err, TM_EINVAL, "source name too long");
    memcpy(out[*n].name, p, nl);
    out[*n].name[nl] = 0;
    char num[64];
    size_t vl = (size_t)(comma - eq - 1);
    if (vl == 0 || vl >= sizeof num)
      return tm_err(err, TM_EINVAL, "'%.*s': bad value", (int)(comma - p), p);
    memcpy(num, eq + 1, vl);
    num[vl] = 0;
    char *end;
    errno = 0;
    double v = strtod(num, &end);
    if (errno || *end || v < 0 || v != v)
      return tm_err(err, TM_EINVAL, "'%.*s': value is not a number >= 0", (int)(comma - p), p);
    out[*n].value = v;
    (*n)++;
    p = *comma ? comma + 1 : comma;
  }
  return 0;
}

static void close_all(rank_state *rs, uint32_t n, int unlink_shm) {
  for (uint32_t i = 0; i < n; i++) tm_ring_close(rs[i].ring, unlink_shm);
}

int tm_feed_run(const tm_feed_options *o, tm_feed_stats *st, tm_error *err) {
  tm_feed_stats dummy;
  if (!st) st = &dummy;
  memset(st, 0, sizeof *st);
  uint32_t world = o->world ? o->world : 1;
  if (o->batch == 0 || o->seq_len == 0)
    return tm_err(err, TM_EINVAL, "batch and seq_len must be > 0");
  if (world > MAX_RANKS) return tm_err(err, TM_EINVAL, "world %u > %d", world, MAX_RANKS);
  int last = o->rank >= 0 && o->rank_last > o->rank ? o->rank_last : o->rank;
  if (o->rank >= (int)world || last >= (int)world)
    return tm_err(err, TM_EINVAL, "rank %d not below world %u", last, world);
  tm_feed_options oo = *o;
  oo.world = world;
  feeder f = {.o = &oo, .st = st};
  f.G = (uint64_t)world * o->batch;
  if (o->state_dir) snprintf(f.state, sizeof f.state, "%s", o->state_dir);
  else snprintf(f.state, sizeof f.state, "%s/.feed", o->dir);

  tm_manifest m = {0};
  int rc = tm_manifest_load(&m, o->dir, 0, err);
  /* following a directory a daemon has not sealed anything in yet: wait */
  while (o->follow && (rc == -TM_ENOTFOUND || (rc == 0 && m.n_shards == 0))) {
    if (o->stop && *o->stop) {
      tm_manifest_free(&m);
      return 0;
    }
    tm_manifest_free(&m);
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    rc = tm_manifest_load(&m, o->dir, 0, err);
  }
  if (rc < 0) return rc;
  tm_ring_params rp;
  tm_ring_params_for(&rp, m.vocab_size, o->batch, o->seq_len, m.eot_id, m.tokenizer_hash);
  tm_manifest_free(&m);
  if (o->dropout > 0) {
    if (!o->tokenizer) return tm_err(err, TM_EINVAL, "BPE-dropout needs the tokenizer (--tokenizer)");
    rc = tm_feed_dropout_open(&f.dropout, o->tokenizer, o->dropout, rp.tokenizer_hash, rp.eot_id,
                              err);
    if (rc < 0) return rc;
  }
  if (o->n_slots) rp.n_slots = o->n_slots;
  if (o->timeout_ms) rp.timeout_ms = o->timeout_ms;
  f.width = rp.token_width;

  uint32_t first = o->rank >= 0 ? (uint32_t)o->rank : 0;
  uint32_t n = o->rank >= 0 ? (uint32_t)(last - o->rank + 1) : world;
  rank_state *rs = calloc(n, sizeof *rs);
  if (!rs) return tm_err(err, TM_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < n && rc >= 0; i++) {
    rs[i].rank = first + i;
    rc = tm_ring_create(&rs[i].ring, o->ring, rs[i].rank, &rp, o->spin ? TM_RING_SPIN : 0, err);
    if (rc < 0) break;
    tm_ring_cursor c;
    if (tm_ring_producer_cursor(rs[i].ring, &c) == 1) rc = seek_cursor(&f, &rs[i], &c, err);
    if (rc >= 0) rc = tm_ring_start_heartbeat(rs[i].ring, err);
    if (rc >= 0)
      tm_info("feed_ring", "ring=%s rank=%u world=%u batch=%u seq_len=%u slots=%u resume=%d",
              tm_ring_name(rs[i].ring), rs[i].rank, world, o->batch, o->seq_len, rp.n_slots,
              rs[i].positioned);
  }
  if (rc < 0) {
    close_all(rs, n, 0);
    free(rs);
    for (int i = 0; i < 2; i++) tm_feed_plan_free(f.plans[i].plan), frozen_free(&f.lists[i]);
    tm_feed_dropout_free(f.dropout);
    return rc;
  }
  uint32_t active = n;
  int wait_ms = n > 1 ? 50 : 500;
  while (active > 0 && rc >= 0) {
    if (o->stop && *o->stop) break;
    for (uint32_t i = 0; i < n && rc >= 0; i++) {
      rank_state *r = &rs[i];
      if (r->done) continue;
      if (o->max_batches && r->produced >= o->max_batches) {
        r->done = 1;
        active--;
        continue;
      }
      tm_ring_slot slot;
      tm_ring_cursor re;
      rc = tm_ring_reserve(r->ring, &slot, &re, wait_ms, err);
      if (rc == TM_RING_RESEEK) {
        st->reseeks++;
        tm_info("feed_resume", "ring=%s pass=%" PRIu64 " generation=%" PRIu64 " window=%" PRIu64,
                tm_ring_name(r->ring), re.pass, re.generation, re.window);
        rc = seek_cursor(&f, r, &re, err);
        continue;
      }
      if (rc == -TM_EAGAIN) {
        rc = 0;
        continue;
      }
      if (rc == -TM_EPEER) {
        /* log each failure once, not every wait (the ring reports it again
         * after each timeout while nobody attaches) */
        char msg[TM_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "consumer down");
        if (!r->peer_down || strcmp(msg, r->peer_msg)) {
          st->peer_events++;
          tm_warn("feed_consumer", "ring=%s msg=%s waiting=for_reattach", tm_ring_name(r->ring),
                  tm_log_quote((char[600]){0}, 600, msg));
          snprintf(r->peer_msg, sizeof r->peer_msg, "%s", msg);
        }
        r->peer_down = 1;
        rc = 0;
        continue;
      }
      if (rc < 0) break;
      r->peer_down = 0;
      rc = produce(&f, r, &slot, err);
      if (rc == 1) {
        r->done = 1;
        active--;
        rc = 0;
      }
    }
  }
  int stopped = o->stop && *o->stop;
  if (rc >= 0 && !stopped) {
    for (uint32_t i = 0; i < n; i++) tm_ring_finish(rs[i].ring, NULL);
    if (o->drain) {
      for (uint32_t i = 0; i < n; i++) {
        /* wait for the consumer to take what is queued, while it lives */
        for (;;) {
          if (o->stop && *o->stop) break;
          tm_error e2 = {0};
          int d = tm_ring_drain(rs[i].ring, 1000, &e2);
          if (d == 0 || d == -TM_EPEER) break;
        }
      }
    }
  }
  tm_info("feed_done", "batches=%" PRIu64 " tokens=%" PRIu64 " passes=%" PRIu64
                       " reseeks=%" PRIu64 " dropout_windows=%" PRIu64 " dropout_kept=%" PRIu64
                       " stopped=%d",
          st->batches, st->tokens, st->passes, st->reseeks, st->dropout_windows,
          st->dropout_kept, stopped);
  /* finished rings are removed; on a stop or an error they stay for a restart */
  close_all(rs, n, rc >= 0 && !stopped);
  free(rs);
  for (int i = 0; i < 2; i++) tm_feed_plan_free(f.plans[i].plan), frozen_free(&f.lists[i]);
  tm_feed_dropout_free(f.dropout);
  return rc < 0 ? rc : 0;
}
