/* serve_daemon.h - the daemon object shared by serve.c, serve_http.c and
 * serve_status.c. Everything here is touched by the loop thread only,
 * except where a comment says otherwise. */
#ifndef TM_SERVE_DAEMON_H
#define TM_SERVE_DAEMON_H

#include <stdint.h>
#include <uv.h>

#include "serve_int.h"
#include "serve_req.h"

/* Reloadable settings (SIGHUP). */
typedef struct tm_serve_limits {
  uint64_t max_request_bytes, max_doc_bytes, queue_bytes;
  int max_connections;
  uint64_t request_timeout_ms, idle_timeout_ms;
  double seal_age_s;
  uint64_t rescan_ms, settle_ms;
} tm_serve_limits;

#define TM_SERVE_LAT_BUCKETS 16 /* ack latency histogram: 1 ms * 2^i */
#define TM_SERVE_HISTORY_MAX 3600

typedef struct tm_serve_sample {
  double t; /* seconds since start */
  uint64_t docs_in, bytes_in, kept, dropped, dups, tokens, queued_bytes;
} tm_serve_sample;

typedef struct tm_serve_conn tm_serve_conn;

typedef struct tm_serve_daemon {
  uv_loop_t *loop;
  tm_serve_pipe *pipe;
  tm_serve_feeders *feeders;
  tm_serve_limits lim;
  const tm_config *cfg; /* as started (reload compares against it) */
  const char *config_path;
  char *const *overrides;
  int n_overrides;
  const tm_config_key *const *schemas;
  int n_schemas;
  int need_token; /* a non-loopback address is bound */
  char token[256];
  size_t token_len; /* 0: no token required */
  /* listeners */
  uv_tcp_t ingest_tcp, http_tcp;
  uv_pipe_t ingest_pipe;
  int have_ingest_tcp, have_http_tcp, have_ingest_pipe;
  char ingest_socket[PATH_MAX];
  int n_conns[2];
  tm_serve_conn *conns; /* every open connection */
  uint64_t buffered_bytes; /* request bodies held in memory or being stored */
  int jobs;                /* ingest jobs on the thread pool */
  /* spool */
  char spool_dir[PATH_MAX];
  int spool_profile;
  int have_spool, scanning, rescan_wanted;
  uv_fs_event_t spool_watch;
  uv_timer_t spool_timer;
  uint64_t spool_claimed;
  /* lifecycle */
  uv_timer_t tick;
  uv_signal_t sig_term, sig_int, sig_hup;
  uv_async_t finished;
  int draining, input_closed, stopping;
  double start;
  /* counters */
  uint64_t requests, ingest_batches, ingest_docs, ingest_bytes;
  uint64_t refused_malformed, refused_too_large, refused_auth, refused_timeout, refused_conns,
      refused_other;
  uint64_t backpressure_pauses;
  uint64_t lat_buckets[TM_SERVE_LAT_BUCKETS + 1];
  double lat_sum;
  uint64_t lat_count;
  uint64_t reloads;
  /* history, one sample per second */
  tm_serve_sample hist[TM_SERVE_HISTORY_MAX];
  size_t hist_n, hist_head;
  size_t history_len;
} tm_serve_daemon;


/* serve_http.c */
int tm_serve_http_listen(tm_serve_daemon *d, const char *ingest_addr, const char *ingest_socket,
                         const char *http_addr, tm_error *err);
/* Stop accepting; close idle connections, let busy ones finish. */
void tm_serve_http_close(tm_serve_daemon *d);
/* Resume connections paused by backpressure when the queue has room. */
void tm_serve_http_resume(tm_serve_daemon *d);
/* Close every connection at once (the end). */
void tm_serve_http_close_all(tm_serve_daemon *d);

/* serve_status.c */
void tm_serve_status_sample(tm_serve_daemon *d);
char *tm_serve_status_json(tm_serve_daemon *d, size_t *len);
char *tm_serve_metrics_text(tm_serve_daemon *d, size_t *len);
/* The status page (built once; owned by the module). */
const char *tm_serve_page_html(size_t *len);

/* serve.c: check whether the input side is quiet and the pipeline can be
 * told no more input comes (during drain). */
void tm_serve_maybe_close_input(tm_serve_daemon *d);

#endif
