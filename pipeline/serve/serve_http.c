/* serve_http.c - the daemon's HTTP connections (ingest and admin).
 *
 * A connection reads, feeds http-parser, and handles one request at a time:
 * at the end of a message the parser is paused (bytes of a pipelined next
 * request are kept) and reading stops until the response is written.
 *
 *   ingest role (ingest_listen, ingest_socket): POST /ingest, GET /healthz
 *   admin role  ([http] listen): GET /metrics, /status, /healthz, /
 *
 * (Pausing needs a backlog in the pipeline: see over_limit.)
 *
 * Limits: a request must arrive whole within request_timeout_ms of its
 * first byte (408), an idle keep-alive connection is closed after
 * idle_timeout_ms, bodies over max_request_bytes are refused from their
 * Content-Length or as they grow (413), at most max_connections per role
 * (503 to the next). Backpressure: while the bytes held (request bodies in
 * memory + inputs queued in the pipeline) are at or over queue_bytes,
 * connections that are receiving a body stop reading (uv_read_stop): the
 * client's writes block in TCP; the request timer is stopped meanwhile.
 *
 * Ingest batches are checked (readers/json_line.h: jansson's verdict without
 * building the objects) and stored on the libuv thread pool
 * (uv_queue_work): JSON checking and fsync never run on the loop.
 *
 * What a request's bytes decide (parsing, routing, token, limits, the batch
 * check, the response bytes) is serve_req.c, which needs no libuv and is
 * fuzzed on its own; this file is the glue: sockets, timers, backpressure,
 * the thread pool and the daemon's counters.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "clock.h"
#include "log.h"
#include "serve_daemon.h"
#include "serve_req.h"

enum { C_IDLE, C_READING, C_BUSY, C_LINGER };

struct tm_serve_conn {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  uv_timer_t timer;
  tm_serve_daemon *d;
  int role, is_tcp, state, open_handles, closing, paused, dead;
  tm_serve_req req; /* the request being read (serve_req.h) */
  char *rest;       /* bytes of a pipelined next request */
  size_t rest_len;
  double t_complete;
  tm_serve_conn *next, *prev;
};

typedef struct {
  uv_write_t req;
  tm_serve_conn *c;
  char *buf;
  int close_after, linger;
} write_job;

typedef struct {
  uv_work_t req;
  tm_serve_conn *c;
  tm_serve_daemon *d;
  char *body;
  size_t len;
  int profile;
  const char *text_field;
  uint64_t max_doc;
  int status;
  char msg[600];
  uint64_t seq, docs;
} ingest_job;

/* ---- lifecycle ---------------------------------------------------------------------- */

static void conn_free_cb(uv_handle_t *h) {
  tm_serve_conn *c = h->data;
  if (--c->open_handles > 0) return;
  tm_serve_req_free(&c->req);
  free(c->rest);
  free(c);
}

static void conn_close(tm_serve_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  tm_serve_daemon *d = c->d;
  d->buffered_bytes -= c->req.body_len;
  tm_serve_req_free(&c->req);
  if (c->prev) c->prev->next = c->next;
  else d->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  d->n_conns[c->role]--;
  uv_timer_stop(&c->timer);
  uv_close(&c->h.handle, conn_free_cb);
  uv_close((uv_handle_t *)&c->timer, conn_free_cb);
  tm_serve_maybe_close_input(d);
}

/* The next request on the connection. */
static void reset_request(tm_serve_conn *c) {
  c->d->buffered_bytes -= c->req.body_len;
  tm_serve_req_next(&c->req);
}

static void on_timeout(uv_timer_t *t);

static void arm_timer(tm_serve_conn *c, uint64_t ms) {
  uv_timer_stop(&c->timer);
  if (ms) uv_timer_start(&c->timer, on_timeout, ms, 0);
}

/* ---- responses ------------------------------------------------------------------------ */

static void process(tm_serve_conn *c, const char *data, size_t len);
static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Lingering close after a refused request: the client may still be
 * sending (a body we refused); closing at once would reset the connection
 * and could destroy our response in flight. Shut our side down, discard
 * what still arrives for up to 2 s, then close. */
static void linger_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  tm_serve_conn *c = s->data;
  free(buf->base);
  if (nread < 0 && !c->closing) conn_close(c);
}

static void linger_timeout(uv_timer_t *t) {
  tm_serve_conn *c = t->data;
  if (!c->closing) conn_close(c);
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  tm_serve_conn *c = req->data;
  free(req);
  if (c->closing) return;
  if (status < 0 || c->dead || c->d->stopping) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, linger_timeout, 2000, 0);
  uv_read_start(&c->h.stream, alloc_cb, linger_read);
}

static void write_cb(uv_write_t *req, int status) {
  write_job *w = (write_job *)req;
  tm_serve_conn *c = w->c;
  free(w->buf);
  int close_after = w->close_after || status < 0, linger = w->linger && status >= 0;
  free(w);
  if (c->closing) return;
  if (linger && !c->dead && !c->d->stopping) {
    uv_shutdown_t *sr = malloc(sizeof *sr);
    c->state = C_LINGER;
    if (sr) {
      sr->data = c;
      if (uv_shutdown(sr, &c->h.stream, shutdown_cb) == 0) return;
      free(sr);
    }
    conn_close(c);
    return;
  }
  if (close_after || c->dead || c->d->stopping) {
    conn_close(c);
    return;
  }
  /* next request on this connection */
  c->state = C_IDLE;
  reset_request(c);
  arm_timer(c, c->d->lim.idle_timeout_ms);
  if (c->rest_len) {
    char *r = c->rest;
    size_t n = c->rest_len;
    c->rest = NULL;
    c->rest_len = 0;
    process(c, r, n);
    free(r);
    if (c->closing || c->state == C_BUSY) return;
  }
  uv_read_start(&c->h.stream, alloc_cb, read_cb);
}

static void respond(tm_serve_conn *c, int status, const char *ctype, const char *body, size_t blen, int close_after) {
  int linger = close_after && status >= 400;
  if (c->closing) return;
  tm_serve_daemon *d = c->d;
  if (d->draining) close_after = 1;
  if (!tm_serve_req_keep_alive(&c->req)) close_after = 1;
  write_job *w = calloc(1, sizeof *w);
  char head[512];
  int hn = tm_serve_http_head(head, sizeof head, status, ctype, blen, close_after);
  char *buf = w && hn > 0 ? malloc((size_t)hn + blen) : NULL;
  if (!w || !buf) {
    free(w);
    conn_close(c);
    return;
  }
  memcpy(buf, head, (size_t)hn);
  if (c->req.parser.method == HTTP_HEAD) blen = 0; /* the head only, Content-Length as for GET */
  if (blen) memcpy(buf + hn, body, blen);
  w->c = c;
  w->buf = buf;
  w->close_after = close_after;
  w->linger = linger;
  c->state = C_BUSY;
  uv_timer_stop(&c->timer);
  uv_read_stop(&c->h.stream);
  uv_buf_t b = uv_buf_init(buf, (unsigned)((size_t)hn + blen));
  if (uv_write(&w->req, &c->h.stream, &b, 1, write_cb) < 0) {
    free(buf);
    free(w);
    conn_close(c);
  }
}

static void respond_error(tm_serve_conn *c, int status, const char *msg) {
  tm_serve_daemon *d = c->d;
  switch (status) {
  case 400: d->refused_malformed++; break;
  case 413: case 414: case 431: d->refused_too_large++; break;
  case 401: d->refused_auth++; break;
  case 408: d->refused_timeout++; break;
  default: d->refused_other++;
  }
  size_t n = 0;
  char *s = tm_serve_http_error_body(status, msg, &n);
  tm_info("http_refused", "status=%d reason=\"%.200s\"", status, msg);
  /* after a refused request the stream position is unknown: close */
  respond(c, status, "application/json", s ? s : "", n, 1);
  free(s);
}

static void on_timeout(uv_timer_t *t) {
  tm_serve_conn *c = t->data;
  if (c->closing || c->state == C_BUSY) return;
  if (c->state == C_IDLE) {
    conn_close(c);
    return;
  }
  respond_error(c, 408, "the request did not arrive whole within request_timeout_ms");
}

/* ---- ingest jobs (thread pool) ----------------------------------------------------------- */

static void ingest_work(uv_work_t *req) {
  ingest_job *j = req->data;
  j->status = tm_serve_req_check_batch(j->body, j->len, j->text_field, j->max_doc, &j->docs, j->msg, sizeof j->msg);
  if (j->status != 200) return;
  tm_serve_input *in = tm_serve_pipe_reserve(j->d->pipe, TM_INPUT_SOCKET, j->profile, j->len, NULL);
  if (!in) {
    j->status = 503;
    snprintf(j->msg, sizeof j->msg, "shutting down: not accepted");
    return;
  }
  tm_error e = {0};
  int rc = tm_io_write_file_atomic(in->path, j->body, j->len, "inbox", &e);
  tm_serve_pipe_ready(j->d->pipe, in, rc == 0);
  if (rc < 0) {
    j->status = e.sys_errno == 28 /* ENOSPC */ ? 507 : 500;
    snprintf(j->msg, sizeof j->msg, "not stored: %s", e.msg);
    return;
  }
  j->seq = in->seq;
}

static void ingest_done(uv_work_t *req, int status) {
  ingest_job *j = req->data;
  tm_serve_daemon *d = j->d;
  tm_serve_conn *c = j->c;
  d->jobs--;
  d->buffered_bytes -= j->len;
  free(j->body);
  if (status == UV_ECANCELED) j->status = 503, snprintf(j->msg, sizeof j->msg, "cancelled");
  if (j->status == 200) {
    double lat = tm_now_s() - c->t_complete;
    int b = 0;
    while (b < TM_SERVE_LAT_BUCKETS && lat > 0.001 * (double)(1u << b)) b++;
    d->lat_buckets[b]++;
    d->lat_sum += lat;
    d->lat_count++;
    d->ingest_batches++;
    d->ingest_docs += j->docs;
    d->ingest_bytes += j->len;
    char body[256];
    int n = snprintf(body, sizeof body, "{\"batch\":%" PRIu64 ",\"documents\":%" PRIu64 ",\"bytes\":%zu,\"durable\":\"journal\"}\n",
                     j->seq, j->docs, j->len);
    if (c->dead) conn_close(c);
    else respond(c, 200, "application/json", body, (size_t)n, 0);
  } else if (c->dead) {
    conn_close(c);
  } else {
    respond_error(c, j->status, j->msg);
  }
  free(j);
  tm_serve_maybe_close_input(d);
}

/* ---- routing ------------------------------------------------------------------------------- */

/* The pipeline's queue alone is full (whole batches wait for this). */
static int queue_full(tm_serve_daemon *d) { return tm_serve_pipe_queued_bytes(d->pipe) >= d->lim.queue_bytes; }

static void dispatch(tm_serve_conn *c) {
  tm_serve_daemon *d = c->d;
  int route = c->req.route;
  if (route == TM_ROUTE_INGEST && queue_full(d)) {
    /* a whole batch arrived while the queue is full: it waits here (its
     * client waits for the answer) until tm_serve_http_resume finds room */
    c->paused = 2;
    d->backpressure_pauses++;
    return;
  }
  d->requests++;
  if (route == TM_ROUTE_HEALTHZ) {
    tm_serve_pipe_state st;
    tm_serve_pipe_get_state(d->pipe, &st);
    if (st.failed) respond(c, 503, "text/plain", "failed\n", 7, 0);
    else if (d->draining) respond(c, 503, "text/plain", "draining\n", 9, 0);
    else respond(c, 200, "text/plain", "ok\n", 3, 0);
    return;
  }
  if (route == TM_ROUTE_INGEST) {
    ingest_job *j = calloc(1, sizeof *j);
    if (!j) {
      respond_error(c, 500, "out of memory");
      return;
    }
    j->c = c;
    j->d = d;
    j->body = tm_serve_req_take_body(&c->req, &j->len); /* still counted in buffered_bytes */
    j->profile = c->req.profile;
    j->text_field = tm_serve_pipe_text_field(d->pipe, c->req.profile);
    j->max_doc = d->lim.max_doc_bytes;
    j->req.data = j;
    c->state = C_BUSY;
    c->t_complete = tm_now_s();
    d->jobs++;
    if (uv_queue_work(d->loop, &j->req, ingest_work, ingest_done) < 0) {
      d->jobs--;
      d->buffered_bytes -= j->len;
      free(j->body);
      free(j);
      respond_error(c, 500, "cannot queue the batch");
    }
    return;
  }
  size_t n = 0;
  char *body = NULL;
  const char *ctype = "application/json";
  if (route == TM_ROUTE_METRICS) {
    body = tm_serve_metrics_text(d, &n);
    ctype = "text/plain; version=0.0.4";
  } else if (route == TM_ROUTE_STATUS) {
    body = tm_serve_status_json(d, &n);
  } else if (route == TM_ROUTE_PAGE) {
    size_t pl;
    const char *page = tm_serve_page_html(&pl);
    if (page) respond(c, 200, "text/html; charset=utf-8", page, pl, 0);
    else respond_error(c, 500, "out of memory");
    return;
  } else {
    respond_error(c, 404, "no such path");
    return;
  }
  if (!body) {
    respond_error(c, 500, "out of memory");
    return;
  }
  respond(c, 200, ctype, body, n, 0);
  free(body);
}

/* The profile index of an ingest request (serve_req.h's env callback). */
static int env_profile(void *user, const char *name, tm_error *err) {
  tm_serve_daemon *d = user;
  return tm_serve_pipe_profile(d->pipe, name, err);
}

static void req_env(tm_serve_conn *c, tm_serve_req_env *e) {
  tm_serve_daemon *d = c->d;
  memset(e, 0, sizeof *e);
  e->role = c->role;
  e->draining = d->draining;
  e->max_request_bytes = d->lim.max_request_bytes;
  e->token = d->token;
  e->token_len = d->token_len;
  e->default_profile = tm_serve_pipe_profile_name(d->pipe, d->spool_profile);
  e->profile = env_profile;
  e->user = d;
}

/* ---- reading ---------------------------------------------------------------------------------- */

/* Over the limit while the pipeline has a backlog: with nothing queued,
 * bodies keep flowing (a single body larger than queue_bytes must still be
 * able to arrive; memory stays bounded by max_connections *
 * max_request_bytes). */
static int over_limit(tm_serve_daemon *d) {
  uint64_t q = tm_serve_pipe_queued_bytes(d->pipe);
  return q > 0 && d->buffered_bytes + q >= d->lim.queue_bytes;
}

static void process(tm_serve_conn *c, const char *data, size_t len) {
  tm_serve_daemon *d = c->d;
  tm_serve_req_env env;
  req_env(c, &env);
  size_t before = c->req.body_len, used = 0;
  int rc = tm_serve_req_feed(&c->req, &env, data, len, &used);
  d->buffered_bytes += c->req.body_len - before;
  if (c->closing) return;
  if (rc == TM_REQ_REFUSE) {
    respond_error(c, c->req.status, c->req.msg);
    return;
  }
  if (c->req.want_continue) {
    /* the client waits for this before sending the body (curl: 1 s) */
    static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    c->req.want_continue = 0;
    uv_buf_t b = uv_buf_init(cont, sizeof cont - 1);
    if (uv_try_write(&c->h.stream, &b, 1) != (int)b.len) {
      respond_error(c, 500, "cannot send 100 Continue");
      return;
    }
  }
  if (c->state == C_IDLE && c->req.in_message) {
    /* the whole request must arrive within request_timeout_ms of its first byte */
    c->state = C_READING;
    arm_timer(c, d->lim.request_timeout_ms);
  }
  if (rc == TM_REQ_DONE) {
    if (used < len) {
      size_t n = len - used;
      char *r = malloc(n);
      if (r) {
        memcpy(r, data + used, n);
        free(c->rest);
        c->rest = r;
        c->rest_len = n;
      }
    }
    uv_read_stop(&c->h.stream);
    uv_timer_stop(&c->timer);
    dispatch(c);
    return;
  }
  if (c->role == TM_ROLE_INGEST && c->state == C_READING && over_limit(d)) {
    /* backpressure: let TCP push back on the client */
    uv_read_stop(&c->h.stream);
    uv_timer_stop(&c->timer);
    c->paused = 1;
    d->backpressure_pauses++;
  }
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  buf->base = malloc(65536);
  buf->len = buf->base ? 65536 : 0;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  tm_serve_conn *c = s->data;
  if (nread < 0) {
    free(buf->base);
    if (c->state == C_BUSY) c->dead = 1; /* a job or write will finish and close */
    else if (!c->closing) conn_close(c); /* a half-received request is not acknowledged */
    return;
  }
  if (nread > 0) process(c, buf->base, (size_t)nread);
  free(buf->base);
}

void tm_serve_http_resume(tm_serve_daemon *d) {
  for (tm_serve_conn *c = d->conns; c; c = c->next) {
    if (!c->paused || c->closing) continue;
    if (c->paused == 2) { /* a complete batch waiting for room */
      if (queue_full(d)) continue;
      c->paused = 0;
      dispatch(c);
      continue;
    }
    if (over_limit(d)) continue;
    c->paused = 0;
    arm_timer(c, d->lim.request_timeout_ms);
    uv_read_start(&c->h.stream, alloc_cb, read_cb);
  }
}

/* ---- accepting ------------------------------------------------------------------------------ */

static void on_connection(uv_stream_t *server, int status) {
  tm_serve_daemon *d = server->data;
  if (status < 0) return;
  int role = (uv_stream_t *)&d->http_tcp == server ? TM_ROLE_ADMIN : TM_ROLE_INGEST;
  int is_tcp = server->type == UV_TCP;
  tm_serve_conn *c = calloc(1, sizeof *c);
  if (!c) return;
  c->d = d;
  c->role = role;
  c->is_tcp = is_tcp;
  if (is_tcp) uv_tcp_init(d->loop, &c->h.tcp);
  else uv_pipe_init(d->loop, &c->h.pipe, 0);
  uv_timer_init(d->loop, &c->timer);
  c->h.handle.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  c->next = d->conns;
  if (d->conns) d->conns->prev = c;
  d->conns = c;
  d->n_conns[role]++;
  if (uv_accept(server, &c->h.stream) < 0) {
    conn_close(c);
    return;
  }
  tm_serve_req_init(&c->req);
  if (d->n_conns[role] > d->lim.max_connections) {
    d->refused_conns++;
    respond(c, 503, "application/json", "{\"error\":\"too many connections\",\"status\":503}\n", 47, 1);
    return;
  }
  if (is_tcp) uv_tcp_nodelay(&c->h.tcp, 1);
  arm_timer(c, d->lim.idle_timeout_ms);
  uv_read_start(&c->h.stream, alloc_cb, read_cb);
}

static int listen_tcp(tm_serve_daemon *d, uv_tcp_t *t, const char *addr, tm_error *err) {
  char host[128];
  int port;
  int rc = tm_serve_parse_addr(addr, host, sizeof host, &port, err);
  if (rc < 0) return rc;
  struct sockaddr_storage ss;
  if (strchr(host, ':')) rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
  else rc = uv_ip4_addr(!strcmp(host, "localhost") ? "127.0.0.1" : host, port, (struct sockaddr_in *)&ss);
  if (rc < 0) return tm_err(err, TM_EINVAL, "bad address '%s': %s", addr, uv_strerror(rc));
  uv_tcp_init(d->loop, t);
  t->data = d;
  if ((rc = uv_tcp_bind(t, (struct sockaddr *)&ss, 0)) < 0 || (rc = uv_listen((uv_stream_t *)t, 128, on_connection)) < 0) {
    uv_close((uv_handle_t *)t, NULL);
    return tm_err(err, TM_EIO, "cannot listen on %s: %s", addr, uv_strerror(rc));
  }
  int len = sizeof ss;
  uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len);
  char ip[64];
  int bound = 0;
  if (ss.ss_family == AF_INET) uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip), bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  else uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip), bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  tm_info("serve_listening", "role=%s addr=%s:%d", t == &d->http_tcp ? "http" : "ingest", ip, bound);
  return 0;
}

int tm_serve_http_listen(tm_serve_daemon *d, const char *ingest_addr, const char *ingest_socket, const char *http_addr,
                         tm_error *err) {
  int rc;
  if (ingest_addr && ingest_addr[0]) {
    if ((rc = listen_tcp(d, &d->ingest_tcp, ingest_addr, err)) < 0) return rc;
    d->have_ingest_tcp = 1;
  }
  if (http_addr && http_addr[0]) {
    if ((rc = listen_tcp(d, &d->http_tcp, http_addr, err)) < 0) return rc;
    d->have_http_tcp = 1;
  }
  if (ingest_socket && ingest_socket[0]) {
    struct stat st;
    if (lstat(ingest_socket, &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) return tm_err(err, TM_EEXIST, "%s exists and is not a socket", ingest_socket);
      unlink(ingest_socket); /* a stale socket of an earlier run */
    }
    uv_pipe_init(d->loop, &d->ingest_pipe, 0);
    d->ingest_pipe.data = d;
    mode_t old = umask(0177);
    rc = uv_pipe_bind(&d->ingest_pipe, ingest_socket);
    umask(old);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&d->ingest_pipe, 128, on_connection);
    if (rc < 0) {
      uv_close((uv_handle_t *)&d->ingest_pipe, NULL);
      return tm_err(err, TM_EIO, "cannot listen on %s: %s", ingest_socket, uv_strerror(rc));
    }
    snprintf(d->ingest_socket, sizeof d->ingest_socket, "%s", ingest_socket);
    d->have_ingest_pipe = 1;
    tm_info("serve_listening", "role=ingest socket=%s", ingest_socket);
  }
  return 0;
}

void tm_serve_http_close(tm_serve_daemon *d) {
  if (d->have_ingest_tcp) uv_close((uv_handle_t *)&d->ingest_tcp, NULL), d->have_ingest_tcp = 0;
  if (d->have_ingest_pipe) {
    uv_close((uv_handle_t *)&d->ingest_pipe, NULL);
    d->have_ingest_pipe = 0;
    unlink(d->ingest_socket);
  }
  /* ingest connections: idle or half-received ones go (not acknowledged);
   * busy ones finish their job and close */
  tm_serve_conn *c = d->conns;
  while (c) {
    tm_serve_conn *n = c->next;
    if (c->role == TM_ROLE_INGEST && c->state != C_BUSY) conn_close(c);
    c = n;
  }
}

void tm_serve_http_close_all(tm_serve_daemon *d) {
  if (d->have_http_tcp) uv_close((uv_handle_t *)&d->http_tcp, NULL), d->have_http_tcp = 0;
  tm_serve_http_close(d);
  tm_serve_conn *c = d->conns;
  while (c) {
    tm_serve_conn *n = c->next;
    if (c->state != C_BUSY) conn_close(c);
    else c->dead = 1;
    c = n;
  }
}
