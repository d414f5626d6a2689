/* serve_feed.c - live feeders inside the daemon ([feed] section).
 *
 * For each ring named in [feed] rings, a thread runs tm_feed_run (the code
 * of `tokenmill feed`) on the daemon's output directory with follow on: a
 * pass freezes the manifest generation it starts with, so shards the daemon
 * seals reach a running trainer at its next pass. The feeders only read
 * published shards; they stop when the daemon stops (their stop flag). A
 * feeder that fails (no shared memory, a consumer with another tokenizer)
 * is logged and reported in /status; ingestion goes on.
 *
 * tm_serve_feeders_peek reads each ring's header without attaching
 * (ring_peek.h): published and consumed batches, the lag, whether the
 * trainer lives, and its data cursor, for /metrics and /status.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feeder.h"
#include "log.h"
#include "serve_int.h"

struct tm_serve_feeders {
  int n;
  tm_serve_feeder_state st[TM_SERVE_MAX_FEEDERS];
  pthread_t tid[TM_SERVE_MAX_FEEDERS];
  int started[TM_SERVE_MAX_FEEDERS];
  tm_feed_options opt[TM_SERVE_MAX_FEEDERS];
  char out_dir[PATH_MAX];
  volatile sig_atomic_t stop;
  pthread_mutex_t mu;
};

static void *feeder_main(void *arg) {
  void **a = arg;
  tm_serve_feeders *f = a[0];
  int i = (int)(intptr_t)a[1];
  free(arg);
  tm_feed_stats fs;
  memset(&fs, 0, sizeof fs);
  tm_error err = {0};
  tm_info("serve_feeder_started", "ring=%s batch=%u seq_len=%u seed=%" PRIu64, f->st[i].ring, f->opt[i].batch,
          f->opt[i].seq_len, f->opt[i].seed);
  int rc = tm_feed_run(&f->opt[i], &fs, &err);
  pthread_mutex_lock(&f->mu);
  f->st[i].running = 0;
  f->st[i].batches = fs.batches;
  f->st[i].tokens = fs.tokens;
  f->st[i].passes = fs.passes;
  if (rc < 0) {
    f->st[i].failed = 1;
    snprintf(f->st[i].error, sizeof f->st[i].error, "%s", err.msg);
  }
  pthread_mutex_unlock(&f->mu);
  if (rc < 0) tm_error_log("serve_feeder_failed", "ring=%s error=\"%s\"", f->st[i].ring, err.msg);
  else tm_info("serve_feeder_stopped", "ring=%s batches=%" PRIu64, f->st[i].ring, fs.batches);
  return NULL;
}

int tm_serve_feeders_start(tm_serve_feeders **out, const tm_config *cfg, const char *out_dir, tm_error *err) {
  *out = NULL;
  const char *rings = tm_config_str(cfg, "feed", "rings");
  if (!rings[0]) return 0;
  int64_t batch = tm_config_int(cfg, "feed", "batch"), seq = tm_config_int(cfg, "feed", "seq_len");
  int64_t slots = tm_config_int(cfg, "feed", "slots"), timeout = tm_config_int(cfg, "feed", "timeout_ms");
  int64_t shuf = tm_config_int(cfg, "feed", "shuffle_windows");
  if (batch < 1 || seq < 1 || slots < 1 || timeout < 1 || shuf < 1)
    return tm_err(err, TM_EINVAL, "[feed] batch, seq_len, slots, timeout_ms and shuffle_windows must be > 0");
  tm_serve_feeders *f = calloc(1, sizeof *f);
  if (!f) return tm_err(err, TM_ENOMEM, "out of memory");
  pthread_mutex_init(&f->mu, NULL);
  snprintf(f->out_dir, sizeof f->out_dir, "%s", out_dir);
  char *copy = strdup(rings), *save = NULL;
  if (!copy) {
    free(f);
    return tm_err(err, TM_ENOMEM, "out of memory");
  }
  for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
    if (f->n == TM_SERVE_MAX_FEEDERS) {
      free(copy);
      free(f);
      return tm_err(err, TM_ELIMIT, "[feed] rings: at most %d", TM_SERVE_MAX_FEEDERS);
    }
    tm_serve_feeder_state *s = &f->st[f->n];
    snprintf(s->ring, sizeof s->ring, "%s", t);
    tm_feed_options *o = &f->opt[f->n];
    o->dir = f->out_dir;
    o->ring = s->ring;
    o->seed = (uint64_t)tm_config_int(cfg, "feed", "seed");
    o->batch = (uint32_t)batch;
    o->seq_len = (uint32_t)seq;
    o->world = 1;
    o->rank = -1;
    o->n_slots = (uint32_t)slots;
    o->timeout_ms = (uint32_t)timeout;
    o->shuffle_windows = (uint32_t)shuf;
    o->follow = 1;
    o->drain = 0;
    o->stop = &f->stop;
    f->n++;
  }
  free(copy);
  for (int i = 0; i < f->n; i++) {
    void **a = malloc(2 * sizeof *a);
    if (!a) break;
    a[0] = f;
    a[1] = (void *)(intptr_t)i;
    f->st[i].running = 1;
    if (pthread_create(&f->tid[i], NULL, feeder_main, a) != 0) {
      free(a);
      f->st[i].running = 0;
      f->st[i].failed = 1;
      snprintf(f->st[i].error, sizeof f->st[i].error, "cannot start a thread");
      continue;
    }
    f->started[i] = 1;
  }
  *out = f;
  return 0;
}

int tm_serve_feeders_get(tm_serve_feeders *f, tm_serve_feeder_state *out, int cap) {
  if (!f) return 0;
  pthread_mutex_lock(&f->mu);
  int n = f->n < cap ? f->n : cap;
  memcpy(out, f->st, (size_t)n * sizeof *out);
  pthread_mutex_unlock(&f->mu);
  return n;
}

int tm_serve_feeders_peek(tm_serve_feeders *f, tm_serve_ring_view *out, int cap) {
  if (!f) return 0;
  int n = 0;
  for (int i = 0; i < f->n; i++) {
    /* the options are fixed once the threads run: no lock needed */
    unsigned w = f->opt[i].world ? f->opt[i].world : 1;
    for (unsigned r = 0; r < w && n < cap; r++) {
      tm_serve_ring_view *v = &out[n++];
      memset(v, 0, sizeof *v);
      snprintf(v->ring, sizeof v->ring, "%s", f->st[i].ring);
      v->rank = r;
      tm_error e = {0};
      v->ok = tm_ring_peek(v->ring, r, &v->info, &e) == 0;
      if (!v->ok) snprintf(v->error, sizeof v->error, "%.255s", e.msg);
    }
  }
  return n;
}

void tm_serve_feeders_stop(tm_serve_feeders *f) {
  if (!f) return;
  f->stop = 1;
  for (int i = 0; i < f->n; i++)
    if (f->started[i]) pthread_join(f->tid[i], NULL);
  pthread_mutex_destroy(&f->mu);
  free(f);
}
