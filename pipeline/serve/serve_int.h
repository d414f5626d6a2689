/* serve_int.h - internals shared by the daemon's files (see serve.h).
 *
 *   serve_pipe.c    the input queue and the reader/worker/commit threads,
 *                   journal and recovery (no libuv: any thread may call in)
 *   serve_spool.c   spool directory scans, run on the libuv thread pool
 *   serve_req.c     one HTTP request without libuv: parse, route, token,
 *                   limits, the batch check, response bytes (serve_req.h)
 *   serve_http.c    HTTP connections (ingest and admin): the libuv glue
 *   serve_status.c  /metrics, /status, the history and the status page
 *   serve.c         configuration, the loop, signals, reload
 */
#ifndef TM_SERVE_INT_H
#define TM_SERVE_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "ring_peek.h"

/* ---- the pipeline (serve_pipe.c) -------------------------------------------- */

enum { TM_INPUT_SPOOL = 0, TM_INPUT_SOCKET = 1 };
enum { TM_INPUT_PENDING = 0, TM_INPUT_READY = 1, TM_INPUT_VOID = 2 };

#define TM_SERVE_MAX_PROFILES 16
#define TM_SERVE_MAX_RULES 64

/* One accepted input. Reserved (PENDING, with its sequence number and the
 * path it will have) by whoever accepts it, made READY once the file is in
 * place, or VOID when accepting failed. Owned by the pipeline. */
typedef struct tm_serve_input {
  uint64_t seq;
  int kind, state, profile;
  uint64_t bytes;       /* size of the file, for the queue limit */
  uint64_t skip_events; /* resume: reader events already committed */
  char path[PATH_MAX];  /* the claimed file: spool/.work/... or OUT/inbox/... */
  char name[256];       /* spool: the original name; socket: "batch-SEQ" */
  int failed;           /* set by the reader: unreadable (spool -> failed/) */
  char reason[512];
  uint64_t docs_read;
  struct tm_serve_input *next;
} tm_serve_input;

typedef struct tm_serve_rule_count {
  char rule[64];
  uint64_t docs;
} tm_serve_rule_count;

/* Totals over the life of the output directory (journaled). */
typedef struct tm_serve_counters {
  uint64_t docs_in, bytes_in, kept, bytes_kept, dropped, exact_dups, near_dups, rejected;
  uint64_t tokens, inputs_done, inputs_failed;
  int n_rules;
  tm_serve_rule_count rules[TM_SERVE_MAX_RULES];
} tm_serve_counters;

/* A snapshot for /status and /metrics. */
typedef struct tm_serve_pipe_state {
  tm_serve_counters c;
  uint64_t queued_inputs, queued_bytes; /* accepted, not yet read */
  uint64_t batches_in_flight;           /* read, not yet committed */
  uint64_t open_shard_docs;
  uint64_t shards, generation, manifest_tokens;
  uint64_t next_seq, committed_next;
  uint64_t index_ram, index_disk, index_docs;
  int failed;
  char error[512];
} tm_serve_pipe_state;

typedef struct tm_serve_pipe tm_serve_pipe;

typedef struct tm_serve_pipe_options {
  const tm_config *cfg;
  const char *out_dir;
  const char *spool_dir; /* NULL: none */
  const char *tokenizer_path;
  int threads;
  double seal_age_s;
  /* called from a pipeline thread when the pipeline has finished (drained
   * after tm_serve_pipe_close_input, or failed): wake the loop */
  void (*on_finished)(void *user);
  void *user;
} tm_serve_pipe_options;

/* Load the tokenizer, open the shard directory and dedup index, recover
 * (serve.h), requeue claimed inputs and start the threads. */
int tm_serve_pipe_open(tm_serve_pipe **out, const tm_serve_pipe_options *o, tm_error *err);

/* The index of profile NAME (a [clean.NAME] section or a preset), added on
 * first use; -TM_ELIMIT past TM_SERVE_MAX_PROFILES, -TM_EINVAL for a bad
 * name. Thread-safe. */
int tm_serve_pipe_profile(tm_serve_pipe *p, const char *name, tm_error *err);
const char *tm_serve_pipe_profile_name(tm_serve_pipe *p, int index);
/* The profile's JSONL text field ("text" by default). */
const char *tm_serve_pipe_text_field(tm_serve_pipe *p, int index);

/* Reserve the next sequence number for an input of kind/profile and queue
 * it PENDING; in->path is set to where its file must be put. NULL when
 * closing or out of memory. Thread-safe. */
tm_serve_input *tm_serve_pipe_reserve(tm_serve_pipe *p, int kind, int profile, uint64_t bytes,
                                      const char *name);
/* The file is in place (ok) or accepting failed (the input is dropped). */
void tm_serve_pipe_ready(tm_serve_pipe *p, tm_serve_input *in, int ok);

/* Bytes of inputs accepted and not yet read, each counted as at least
 * 64 KiB (the backpressure measure). */
uint64_t tm_serve_pipe_queued_bytes(tm_serve_pipe *p);
void tm_serve_pipe_get_state(tm_serve_pipe *p, tm_serve_pipe_state *st);
void tm_serve_pipe_set_seal_age(tm_serve_pipe *p, double seconds);

/* No more inputs: read what is queued, commit it, seal; then on_finished. */
void tm_serve_pipe_close_input(tm_serve_pipe *p);
/* Join the threads and free. Returns the pipeline's error, if any. */
int tm_serve_pipe_free(tm_serve_pipe *p, tm_error *err);

/* ---- the spool (serve_spool.c) ------------------------------------------------ */

typedef struct tm_serve_spool tm_serve_spool;

/* Claim the settled files of dir (at most while the pipeline's queue is
 * under queue_bytes). Blocking (readdir, rename, fsync): run it on a worker
 * thread. Returns the number claimed; *unsettled is set when a candidate was
 * too fresh (scan again after settle_ms). */
int tm_serve_spool_scan(const char *dir, tm_serve_pipe *p, int profile, uint64_t queue_bytes,
                        uint64_t settle_ms, int *unsettled, tm_error *err);
/* Create DIR/.work, DIR/done, DIR/failed. */
int tm_serve_spool_prepare(const char *dir, tm_error *err);

/* ---- live feeders (serve_feed.c) ------------------------------------------------ */

#define TM_SERVE_MAX_FEEDERS 8

typedef struct tm_serve_feeder_state {
  char ring[64];
  int running, failed;
  uint64_t batches, tokens, passes; /* when stopped */
  char error[512];
} tm_serve_feeder_state;

typedef struct tm_serve_feeders tm_serve_feeders;

/* Start one feeder thread per ring of [feed] rings on out_dir (*out NULL
 * when none is configured). */
int tm_serve_feeders_start(tm_serve_feeders **out, const tm_config *cfg, const char *out_dir, tm_error *err);
/* A snapshot of up to cap feeders; returns how many. */
int tm_serve_feeders_get(tm_serve_feeders *f, tm_serve_feeder_state *out, int cap);
/* What a feeder's ring shows (a read-only peek at its header, ring_peek.h):
 * per ring and rank, how many batches were published and consumed, the
 * consumer's liveness and its data cursor. */
typedef struct tm_serve_ring_view {
  char ring[64];
  unsigned rank;
  int ok; /* 0: error holds why (no ring yet, a foreign object) */
  tm_ring_peek_info info;
  char error[256];
} tm_serve_ring_view;

/* Peek at every ring and rank the feeders serve (up to cap); returns how
 * many views were filled. Reads /dev/shm and /proc only: cheap enough for
 * the loop thread. */
int tm_serve_feeders_peek(tm_serve_feeders *f, tm_serve_ring_view *out, int cap);

/* Ask the feeders to stop, join them, free. */
void tm_serve_feeders_stop(tm_serve_feeders *f);

/* ---- helpers -------------------------------------------------------------------- */

/* Parse "HOST:PORT" (IPv4 or [IPv6]). */
int tm_serve_parse_addr(const char *s, char *host, size_t cap, int *port, tm_error *err);
/* 1 when host is a loopback address (127.0.0.0/8, ::1, localhost). */
int tm_serve_is_loopback(const char *host);

#endif
