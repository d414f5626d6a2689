/* serve.c - the daemon: configuration, the libuv loop, the spool watcher,
 * signals and reload. See serve.h for the design. */
#include "serve.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "serve_daemon.h"

const tm_config_key tm_serve_config_keys[] = {
    {"serve", "output", TM_CFG_STR, "", "output directory: shards, manifest.json, dedup/, inbox/, quarantine/ (required)"},
    {"serve", "spool", TM_CFG_STR, "", "spool directory watched for input files (empty: none)"},
    {"serve", "profile", TM_CFG_STR, "web", "profile of spool files and of socket batches without ?profile="},
    {"serve", "tokenizer", TM_CFG_STR, "", "tokenizer.json (empty: OUT/tokenizer.json of an earlier run)"},
    {"serve", "ingest_listen", TM_CFG_STR, "127.0.0.1:8470", "TCP address of POST /ingest (empty: off)"},
    {"serve", "ingest_socket", TM_CFG_STR, "", "Unix socket path of POST /ingest, mode 0600 (empty: off)"},
    {"serve", "token_file", TM_CFG_STR, "",
     "file (mode 0600) holding the bearer token; required for a non-loopback address (reload)"},
    {"serve", "threads", TM_CFG_INT, "0", "worker threads for clean and tokenize (0: all cores)"},
    {"serve", "batch_docs", TM_CFG_INT, "256", "documents per unit of work handed to a worker"},
    {"serve", "batch_bytes", TM_CFG_SIZE, "8MiB", "a batch is closed once it holds this many bytes"},
    {"serve", "queue_bytes", TM_CFG_SIZE, "256MiB",
     "accepted input bytes not yet read (plus request bodies in memory) above which sockets stop being read (reload)"},
    {"serve", "seal_age_s", TM_CFG_FLOAT, "60", "seal the open shard once it is this old (reload)"},
    {"serve", "rescan_ms", TM_CFG_INT, "5000", "spool rescan period, besides file-system events (reload)"},
    {"serve", "spool_settle_ms", TM_CFG_INT, "1000",
     "a spool file is taken once unmodified this long (write + rename in, or close) (reload)"},
    {"serve", "max_request_bytes", TM_CFG_SIZE, "64MiB", "largest ingest request body (413 above) (reload)"},
    {"serve", "max_doc_bytes", TM_CFG_SIZE, "16MiB", "largest JSONL line of an ingest batch (413 above) (reload)"},
    {"serve", "max_connections", TM_CFG_INT, "256", "open connections per role (ingest, http); 503 beyond (reload)"},
    {"serve", "request_timeout_ms", TM_CFG_INT, "30000", "a request must arrive whole within this (408) (reload)"},
    {"serve", "idle_timeout_ms", TM_CFG_INT, "60000", "an idle keep-alive connection is closed after this (reload)"},
    {"http", "listen", TM_CFG_STR, "127.0.0.1:8471", "address of /metrics, /status, /healthz and the status page (empty: off)"},
    {"http", "history_s", TM_CFG_INT, "600", "seconds of per-second history kept for the status page"},
    {"feed", "rings", TM_CFG_STR, "",
     "live feeders in the daemon: ring names (comma-separated) filled from the output as `tokenmill feed --follow` does"},
    {"feed", "batch", TM_CFG_INT, "8", "sequences per batch (B)"},
    {"feed", "seq_len", TM_CFG_INT, "1024", "tokens per sequence (T; windows hold T+1)"},
    {"feed", "seed", TM_CFG_INT, "1", "shuffle seed"},
    {"feed", "slots", TM_CFG_INT, "4", "ring slots"},
    {"feed", "timeout_ms", TM_CFG_INT, "2000", "consumer liveness timeout"},
    {"feed", "shuffle_windows", TM_CFG_INT, "1024", "window shuffle block within a source"},
    {NULL, NULL, 0, NULL, NULL},
};

/* ---- configuration --------------------------------------------------------------- */

static int limits_from_config(const tm_config *c, tm_serve_limits *l, tm_error *err) {
  l->max_request_bytes = tm_config_size(c, "serve", "max_request_bytes");
  l->max_doc_bytes = tm_config_size(c, "serve", "max_doc_bytes");
  l->queue_bytes = tm_config_size(c, "serve", "queue_bytes");
  int64_t mc = tm_config_int(c, "serve", "max_connections");
  int64_t rt = tm_config_int(c, "serve", "request_timeout_ms"), it = tm_config_int(c, "serve", "idle_timeout_ms");
  int64_t rs = tm_config_int(c, "serve", "rescan_ms"), st = tm_config_int(c, "serve", "spool_settle_ms");
  l->seal_age_s = tm_config_float(c, "serve", "seal_age_s");
  if (mc < 1 || mc > 100000) return tm_err(err, TM_EINVAL, "[serve] max_connections: %" PRId64 " (1..100000)", mc);
  if (rt < 1 || it < 1) return tm_err(err, TM_EINVAL, "[serve] request_timeout_ms and idle_timeout_ms must be > 0");
  if (rs < 10 || st < 0) return tm_err(err, TM_EINVAL, "[serve] rescan_ms >= 10 and spool_settle_ms >= 0");
  if (l->seal_age_s <= 0) return tm_err(err, TM_EINVAL, "[serve] seal_age_s must be > 0");
  if (l->max_request_bytes < 1 || l->max_doc_bytes < 1 || l->queue_bytes < 1)
    return tm_err(err, TM_EINVAL, "[serve] size limits must be > 0");
  l->max_connections = (int)mc;
  l->request_timeout_ms = (uint64_t)rt;
  l->idle_timeout_ms = (uint64_t)it;
  l->rescan_ms = (uint64_t)rs;
  l->settle_ms = (uint64_t)st;
  return 0;
}

/* Read the bearer token: the file must not be readable by group/others. */
static int load_token(const char *path, char *out, size_t cap, size_t *len, tm_error *err) {
  *len = 0;
  if (!path[0]) return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return tm_err_sys(err, "token_file %s", path);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return tm_err(err, TM_EINVAL, "token_file %s: not a regular file", path);
  }
  if (st.st_mode & 077) {
    close(fd);
    return tm_err(err, TM_EINVAL, "token_file %s: mode %04o, must be 0600 (not readable by group or others)", path,
                  (unsigned)(st.st_mode & 07777));
  }
  ssize_t n = read(fd, out, cap - 1);
  close(fd);
  if (n < 0) return tm_err_sys(err, "token_file %s", path);
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ')) n--;
  out[n] = 0;
  if (n < 16) return tm_err(err, TM_EINVAL, "token_file %s: the token must have at least 16 characters", path);
  *len = (size_t)n;
  return 0;
}

static int addr_is_loopback(const char *addr) {
  char host[128];
  int port;
  if (!addr[0]) return 1;
  if (tm_serve_parse_addr(addr, host, sizeof host, &port, NULL) < 0) return 1; /* reported when listening */
  return tm_serve_is_loopback(host);
}

/* ---- spool ---------------------------------------------------------------------------- */

typedef struct {
  uv_work_t req;
  tm_serve_daemon *d;
  uint64_t queue_bytes, settle_ms;
  int claimed, unsettled;
  tm_error err;
} scan_job;

static void scan_work(uv_work_t *req) {
  scan_job *j = req->data;
  j->claimed = tm_serve_spool_scan(j->d->spool_dir, j->d->pipe, j->d->spool_profile, j->queue_bytes, j->settle_ms,
                                   &j->unsettled, &j->err);
}

static void spool_scan(tm_serve_daemon *d);

static void spool_timer_cb(uv_timer_t *t) { spool_scan(t->data); }

static void scan_done(uv_work_t *req, int status) {
  scan_job *j = req->data;
  tm_serve_daemon *d = j->d;
  d->scanning = 0;
  if (status == 0 && j->claimed < 0) tm_warn("spool_scan_failed", "error=\"%s\"", j->err.msg);
  if (j->claimed > 0) d->spool_claimed += (uint64_t)j->claimed;
  int again = d->rescan_wanted || j->unsettled;
  d->rescan_wanted = 0;
  free(j);
  if (d->draining) {
    tm_serve_maybe_close_input(d);
    return;
  }
  /* come back soon for files still settling (or waiting for queue room) */
  uint64_t next = again ? (d->lim.settle_ms / 2 + 20 < d->lim.rescan_ms ? d->lim.settle_ms / 2 + 20 : d->lim.rescan_ms)
                        : d->lim.rescan_ms;
  uv_timer_start(&d->spool_timer, spool_timer_cb, next, 0);
}

static void spool_scan(tm_serve_daemon *d) {
  if (!d->have_spool || d->draining) return;
  if (d->scanning) {
    d->rescan_wanted = 1;
    return;
  }
  scan_job *j = calloc(1, sizeof *j);
  if (!j) return;
  j->d = d;
  j->queue_bytes = d->lim.queue_bytes;
  j->settle_ms = d->lim.settle_ms;
  j->req.data = j;
  d->scanning = 1;
  if (uv_queue_work(d->loop, &j->req, scan_work, scan_done) < 0) {
    d->scanning = 0;
    free(j);
  }
}

static void spool_event(uv_fs_event_t *h, const char *name, int events, int status) {
  (void)name;
  (void)events;
  if (status < 0) return;
  spool_scan(h->data);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

void tm_serve_maybe_close_input(tm_serve_daemon *d) {
  if (!d->draining || d->input_closed || d->jobs > 0 || d->scanning) return;
  d->input_closed = 1;
  tm_info("serve_draining", "queued_bytes=%" PRIu64, tm_serve_pipe_queued_bytes(d->pipe));
  tm_serve_pipe_close_input(d->pipe);
}

static void start_drain(tm_serve_daemon *d, const char *why) {
  if (d->draining) return;
  d->draining = 1;
  tm_info("serve_stopping", "reason=%s", why);
  if (d->have_spool) {
    uv_fs_event_stop(&d->spool_watch);
    uv_timer_stop(&d->spool_timer);
  }
  tm_serve_http_close(d);
  tm_serve_maybe_close_input(d);
}

static void on_signal(uv_signal_t *s, int signum) {
  tm_serve_daemon *d = s->data;
  if (d->draining) {
    tm_warn("serve_signal_again", "signal=%d note=\"still draining\"", signum);
    return;
  }
  start_drain(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static const char *const unsafe_keys[][2] = {
    {"serve", "output"}, {"serve", "spool"}, {"serve", "profile"}, {"serve", "tokenizer"},
    {"serve", "ingest_listen"}, {"serve", "ingest_socket"}, {"serve", "threads"}, {"serve", "batch_docs"},
    {"serve", "batch_bytes"}, {"http", "listen"}, {"http", "history_s"},
};

static int load_config(tm_config *c, const char *path, char *const *ov, int n_ov, tm_error *err) {
  int rc = path ? tm_config_load(c, path, err) : 0;
  for (int i = 0; i < n_ov && rc == 0; i++) rc = tm_config_set_arg(c, ov[i], err);
  return rc;
}

/* SIGHUP: re-read the file; apply the (reload) keys, log the others. */
static void reload(tm_serve_daemon *d) {
  if (!d->config_path) {
    tm_info("serve_reload_skipped", "reason=\"no config file\"");
    return;
  }
  tm_error err = {0};
  tm_config *c = tm_config_new(d->schemas, d->n_schemas);
  tm_serve_limits l;
  char tok[256];
  size_t tl = 0;
  int rc = c ? load_config(c, d->config_path, d->overrides, d->n_overrides, &err) : tm_err(&err, TM_ENOMEM, "out of memory");
  if (rc == 0) rc = limits_from_config(c, &l, &err);
  if (rc == 0) rc = load_token(tm_config_str(c, "serve", "token_file"), tok, sizeof tok, &tl, &err);
  if (rc == 0 && !tl && d->need_token) rc = tm_err(&err, TM_EINVAL, "a non-loopback address needs [serve] token_file");
  if (rc < 0) {
    tm_error_log("serve_reload_failed", "error=\"%s\" note=\"the running configuration is kept\"", err.msg);
    tm_config_free(c);
    return;
  }
  for (size_t i = 0; i < sizeof unsafe_keys / sizeof unsafe_keys[0]; i++) {
    const char *a = tm_config_str(d->cfg, unsafe_keys[i][0], unsafe_keys[i][1]);
    const char *b = tm_config_str(c, unsafe_keys[i][0], unsafe_keys[i][1]);
    if (strcmp(a, b))
      tm_warn("serve_reload_ignored", "key=%s.%s note=\"takes effect at the next start\"", unsafe_keys[i][0],
              unsafe_keys[i][1]);
  }
  d->lim = l;
  memcpy(d->token, tok, sizeof tok);
  d->token_len = tl;
  tm_serve_pipe_set_seal_age(d->pipe, l.seal_age_s);
  d->reloads++;
  tm_info("serve_reloaded", "queue_bytes=%" PRIu64 " max_request_bytes=%" PRIu64 " max_connections=%d seal_age_s=%g token=%s",
          l.queue_bytes, l.max_request_bytes, l.max_connections, l.seal_age_s, tl ? "yes" : "no");
  tm_config_free(c);
}

static void on_hup(uv_signal_t *s, int signum) {
  (void)signum;
  reload(s->data);
}

static void on_tick(uv_timer_t *t) {
  tm_serve_daemon *d = t->data;
  static int n;
  tm_serve_http_resume(d);
  if (++n % 10 == 0) tm_serve_status_sample(d);
}

static void close_cb_noop(uv_handle_t *h) { (void)h; }

static void on_finished(uv_async_t *a) {
  tm_serve_daemon *d = a->data;
  d->stopping = 1;
  if (!d->draining) start_drain(d, "pipeline failed");
  tm_serve_http_close_all(d);
  uv_timer_stop(&d->tick);
  uv_close((uv_handle_t *)&d->tick, close_cb_noop);
  if (d->have_spool) {
    uv_close((uv_handle_t *)&d->spool_watch, close_cb_noop);
    uv_close((uv_handle_t *)&d->spool_timer, close_cb_noop);
  }
  uv_close((uv_handle_t *)&d->sig_term, close_cb_noop);
  uv_close((uv_handle_t *)&d->sig_int, close_cb_noop);
  uv_close((uv_handle_t *)&d->sig_hup, close_cb_noop);
  uv_close((uv_handle_t *)&d->finished, close_cb_noop);
}

static void pipe_finished(void *user) {
  tm_serve_daemon *d = user;
  uv_async_send(&d->finished);
}

/* ---- run ------------------------------------------------------------------------------------ */

int tm_serve_run(const tm_serve_options *o, tm_error *err) {
  const tm_config *cfg = o->cfg;
  tm_serve_daemon *d = calloc(1, sizeof *d);
  if (!d) return tm_err(err, TM_ENOMEM, "out of memory");
  d->cfg = cfg;
  d->config_path = o->config_path;
  d->overrides = o->overrides;
  d->n_overrides = o->n_overrides;
  d->schemas = o->schemas;
  d->n_schemas = o->n_schemas;
  d->start = tm_now_s();
  /* Request bodies and documents of a MB or more come and go for weeks:
   * serve them from mmap and give them back, instead of letting glibc's
   * dynamic threshold move them into arenas that only grow. */
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  int64_t hs = tm_config_int(cfg, "http", "history_s");
  d->history_len = hs < 2 ? 2 : hs > TM_SERVE_HISTORY_MAX ? TM_SERVE_HISTORY_MAX : (size_t)hs;
  const char *out = tm_config_str(cfg, "serve", "output");
  const char *spool = tm_config_str(cfg, "serve", "spool");
  const char *ingest = tm_config_str(cfg, "serve", "ingest_listen");
  const char *sock = tm_config_str(cfg, "serve", "ingest_socket");
  const char *http = tm_config_str(cfg, "http", "listen");
  int rc = limits_from_config(cfg, &d->lim, err);
  if (rc == 0 && !out[0]) rc = tm_err(err, TM_EINVAL, "[serve] output is required (the shard directory)");
  if (rc == 0 && !ingest[0] && !sock[0] && !spool[0])
    rc = tm_err(err, TM_EINVAL, "no input: set [serve] spool, ingest_listen or ingest_socket");
  if (rc == 0) rc = load_token(tm_config_str(cfg, "serve", "token_file"), d->token, sizeof d->token, &d->token_len, err);
  d->need_token = !addr_is_loopback(ingest) || !addr_is_loopback(http);
  if (rc == 0 && d->need_token && !d->token_len)
    rc = tm_err(err, TM_EINVAL, "a non-loopback address (%s) needs [serve] token_file (a 0600 file with the bearer token)",
                !addr_is_loopback(ingest) ? ingest : http);
  if (rc < 0) {
    free(d);
    return rc;
  }
  uv_loop_t *loop = malloc(sizeof *loop);
  if (!loop || uv_loop_init(loop) != 0) {
    free(loop);
    free(d);
    return tm_err(err, TM_EIO, "cannot start the event loop");
  }
  d->loop = loop;
  uv_async_init(loop, &d->finished, on_finished);
  d->finished.data = d;

  tm_serve_pipe_options po = {.cfg = cfg,
                              .out_dir = out,
                              .spool_dir = spool[0] ? spool : NULL,
                              .tokenizer_path = tm_config_str(cfg, "serve", "tokenizer"),
                              .threads = (int)tm_config_int(cfg, "serve", "threads"),
                              .seal_age_s = d->lim.seal_age_s,
                              .on_finished = pipe_finished,
                              .user = d};
  if (spool[0]) {
    snprintf(d->spool_dir, sizeof d->spool_dir, "%s", spool);
    rc = tm_serve_spool_prepare(spool, err);
  }
  if (rc == 0) rc = tm_serve_pipe_open(&d->pipe, &po, err);
  if (rc == 0) {
    int pi = tm_serve_pipe_profile(d->pipe, tm_config_str(cfg, "serve", "profile"), err);
    if (pi < 0) rc = pi;
    else d->spool_profile = pi;
  }
  if (rc == 0) rc = tm_serve_feeders_start(&d->feeders, cfg, out, err);
  if (rc == 0) rc = tm_serve_http_listen(d, ingest, sock, http, err);
  if (rc < 0) {
    /* nothing was accepted: stop the pipeline (it finishes what it requeued) */
    tm_error e2 = {0};
    if (d->pipe) {
      tm_serve_pipe_close_input(d->pipe);
      tm_serve_pipe_free(d->pipe, &e2);
    }
    tm_serve_http_close_all(d);
    tm_serve_feeders_stop(d->feeders);
    uv_close((uv_handle_t *)&d->finished, close_cb_noop);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    free(loop);
    free(d);
    return rc;
  }
  uv_timer_init(loop, &d->tick);
  d->tick.data = d;
  uv_timer_start(&d->tick, on_tick, 100, 100);
  uv_signal_init(loop, &d->sig_term);
  uv_signal_init(loop, &d->sig_int);
  uv_signal_init(loop, &d->sig_hup);
  d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
  uv_signal_start(&d->sig_term, on_signal, SIGTERM);
  uv_signal_start(&d->sig_int, on_signal, SIGINT);
  uv_signal_start(&d->sig_hup, on_hup, SIGHUP);
  if (spool[0]) {
    d->have_spool = 1;
    uv_fs_event_init(loop, &d->spool_watch);
    uv_timer_init(loop, &d->spool_timer);
    d->spool_watch.data = d->spool_timer.data = d;
    int r = uv_fs_event_start(&d->spool_watch, spool_event, spool, 0);
    if (r < 0) tm_warn("spool_watch_failed", "dir=%s error=\"%s\" note=\"rescans only\"", spool, uv_strerror(r));
    spool_scan(d);
  }
  tm_serve_status_sample(d);
  tm_info("serve_started", "output=%s spool=%s ingest=%s socket=%s http=%s auth=%s pid=%d", out, spool[0] ? spool : "-",
          ingest[0] ? ingest : "-", sock[0] ? sock : "-", http[0] ? http : "-", d->token_len ? "token" : "none", (int)getpid());
  uv_run(loop, UV_RUN_DEFAULT);
  tm_serve_feeders_stop(d->feeders);
  rc = tm_serve_pipe_free(d->pipe, err);
  uv_run(loop, UV_RUN_DEFAULT); /* close callbacks still pending */
  if (uv_loop_close(loop) != 0) tm_warn("serve_loop_busy", "note=\"handles left open at exit\"");
  free(loop);
  if (rc == 0) tm_info("serve_stopped", "reason=drained");
  free(d);
  return rc;
}
