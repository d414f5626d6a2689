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
 * Ingest batches are checked (jsonl_check.h: jansson's verdict without
 * building the objects) and stored on the libuv thread pool
 * (uv_queue_work): JSON checking and fsync never run on the loop.
 */
#include <http_parser.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "jsonl_check.h"
#include "log.h"
#include "serve_daemon.h"

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
  http_parser parser;
  char url[2048];
  size_t url_len;
  char field[32];
  size_t field_len;
  int last_was_value, in_auth, expect_continue;
  char auth[512];
  size_t auth_len;
  size_t header_bytes;
  char *body;
  size_t body_len, body_cap;
  int msg_complete;
  int err_status;
  char err_msg[600];
  int profile;
  char *rest;
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

static http_parser_settings g_settings;

static const char *reason_phrase(int s) {
  switch (s) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Payload Too Large";
  case 414: return "URI Too Long";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  case 507: return "Insufficient Storage";
  default: return "Error";
  }
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void conn_free_cb(uv_handle_t *h) {
  tm_serve_conn *c = h->data;
  if (--c->open_handles > 0) return;
  free(c->body);
  free(c->rest);
  free(c);
}

static void conn_close(tm_serve_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  tm_serve_daemon *d = c->d;
  if (c->body) {
    d->buffered_bytes -= c->body_len;
    free(c->body);
    c->body = NULL;
    c->body_len = c->body_cap = 0;
  }
  if (c->prev) c->prev->next = c->next;
  else d->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  d->n_conns[c->role]--;
  uv_timer_stop(&c->timer);
  uv_close(&c->h.handle, conn_free_cb);
  uv_close((uv_handle_t *)&c->timer, conn_free_cb);
  tm_serve_maybe_close_input(d);
}

static void reset_request(tm_serve_conn *c) {
  c->url_len = 0;
  c->url[0] = 0;
  c->field_len = 0;
  c->last_was_value = 0;
  c->in_auth = 0;
  c->expect_continue = 0;
  c->auth_len = 0;
  c->auth[0] = 0;
  c->header_bytes = 0;
  if (c->body) c->d->buffered_bytes -= c->body_len;
  free(c->body);
  c->body = NULL;
  c->body_len = c->body_cap = 0;
  c->msg_complete = 0;
  c->err_status = 0;
  c->err_msg[0] = 0;
  c->profile = 0;
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
  http_parser_pause(&c->parser, 0);
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
  if (!http_should_keep_alive(&c->parser)) close_after = 1;
  write_job *w = calloc(1, sizeof *w);
  char head[512];
  int hn = snprintf(head, sizeof head,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n",
                    status, reason_phrase(status), ctype, blen, close_after ? "Connection: close\r\n" : "");
  char *buf = w ? malloc((size_t)hn + blen) : NULL;
  if (!w || !buf) {
    free(w);
    conn_close(c);
    return;
  }
  memcpy(buf, head, (size_t)hn);
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
  json_t *o = json_object();
  json_object_set_new(o, "error", json_string(msg));
  json_object_set_new(o, "status", json_integer(status));
  char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(o);
  size_t n = s ? strlen(s) : 0;
  char *t = s ? realloc(s, n + 2) : NULL;
  if (t) t[n++] = '\n', s = t;
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
  const char *p = j->body, *end = j->body + j->len;
  uint64_t line = 0;
  j->status = 200;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    line++;
    size_t n = (size_t)(le - p);
    const char *q = p;
    while (q < le && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
    if (q < le) {
      if (n > j->max_doc) {
        j->status = 413;
        snprintf(j->msg, sizeof j->msg, "line %" PRIu64 ": a document of %zu bytes, over max_doc_bytes (%" PRIu64 ")", line,
                 n, j->max_doc);
        return;
      }
      const char *why = NULL;
      size_t col = 0;
      switch (tm_jsonl_check(p, n, j->text_field, &why, &col)) {
      case TM_JSONL_OK: break;
      case TM_JSONL_NOT_OBJECT:
        j->status = 400;
        snprintf(j->msg, sizeof j->msg, "line %" PRIu64 ": not a JSON object", line);
        return;
      case TM_JSONL_NO_FIELD:
        j->status = 400;
        snprintf(j->msg, sizeof j->msg, "line %" PRIu64 ": no string field \"%s\"", line, j->text_field);
        return;
      default:
        j->status = 400;
        snprintf(j->msg, sizeof j->msg, "line %" PRIu64 ": column %zu: %s", line, col, why ? why : "invalid JSON");
        return;
      }
      j->docs++;
    }
    p = nl ? nl + 1 : end;
  }
  if (!j->docs) {
    j->status = 400;
    snprintf(j->msg, sizeof j->msg, "an empty batch (no JSON lines)");
    return;
  }
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
    double lat = tm_serve_now() - c->t_complete;
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

static void url_split(const char *url, char *path, size_t pcap, const char **query) {
  const char *q = strchr(url, '?');
  size_t n = q ? (size_t)(q - url) : strlen(url);
  if (n >= pcap) n = pcap - 1;
  memcpy(path, url, n);
  path[n] = 0;
  *query = q ? q + 1 : "";
}

/* The value of key in a query string (no percent-decoding: names are plain). */
static int query_get(const char *q, const char *key, char *out, size_t cap) {
  size_t kl = strlen(key);
  while (*q) {
    const char *amp = strchr(q, '&');
    size_t n = amp ? (size_t)(amp - q) : strlen(q);
    if (n > kl && !strncmp(q, key, kl) && q[kl] == '=') {
      size_t vl = n - kl - 1;
      if (vl >= cap) vl = cap - 1;
      memcpy(out, q + kl + 1, vl);
      out[vl] = 0;
      return 1;
    }
    q = amp ? amp + 1 : q + n;
  }
  return 0;
}

static int const_time_eq(const char *a, size_t al, const char *b, size_t bl) {
  unsigned char r = (unsigned char)(al != bl);
  for (size_t i = 0; i < bl; i++) r |= (unsigned char)(a[i < al ? i : 0] ^ b[i]);
  return r == 0;
}

static int authorized(tm_serve_conn *c) {
  tm_serve_daemon *d = c->d;
  if (!d->token_len) return 1;
  if (c->auth_len < 7 || strncasecmp(c->auth, "Bearer ", 7)) return 0;
  return const_time_eq(c->auth + 7, c->auth_len - 7, d->token, d->token_len);
}

/* The pipeline's queue alone is full (whole batches wait for this). */
static int queue_full(tm_serve_daemon *d) { return tm_serve_pipe_queued_bytes(d->pipe) >= d->lim.queue_bytes; }

static void dispatch(tm_serve_conn *c) {
  tm_serve_daemon *d = c->d;
  if (c->role == TM_ROLE_INGEST && c->body && queue_full(d)) {
    /* a whole batch arrived while the queue is full: it waits here (its
     * client waits for the answer) until tm_serve_http_resume finds room */
    c->paused = 2;
    d->backpressure_pauses++;
    return;
  }
  d->requests++;
  char path[256];
  const char *query;
  url_split(c->url, path, sizeof path, &query);
  int get = c->parser.method == HTTP_GET || c->parser.method == HTTP_HEAD;
  if (!strcmp(path, "/healthz") && get) {
    tm_serve_pipe_state st;
    tm_serve_pipe_get_state(d->pipe, &st);
    if (st.failed) respond(c, 503, "text/plain", "failed\n", 7, 0);
    else if (d->draining) respond(c, 503, "text/plain", "draining\n", 9, 0);
    else respond(c, 200, "text/plain", "ok\n", 3, 0);
    return;
  }
  if (c->role == TM_ROLE_INGEST) {
    /* POST /ingest: checked in on_headers_complete */
    ingest_job *j = calloc(1, sizeof *j);
    if (!j) {
      respond_error(c, 500, "out of memory");
      return;
    }
    j->c = c;
    j->d = d;
    j->body = c->body;
    j->len = c->body_len;
    c->body = NULL; /* the job owns it; still counted in buffered_bytes */
    c->body_len = c->body_cap = 0;
    j->profile = c->profile;
    j->text_field = tm_serve_pipe_text_field(d->pipe, c->profile);
    j->max_doc = d->lim.max_doc_bytes;
    j->req.data = j;
    c->state = C_BUSY;
    c->t_complete = tm_serve_now();
    if (!j->body) {
      free(j);
      respond_error(c, 400, "an empty batch (no body)");
      return;
    }
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
  if (!strcmp(path, "/metrics")) {
    body = tm_serve_metrics_text(d, &n);
    ctype = "text/plain; version=0.0.4";
  } else if (!strcmp(path, "/status")) {
    body = tm_serve_status_json(d, &n);
  } else if (!strcmp(path, "/") || !strcmp(path, "/index.html")) {
    size_t pl;
    const char *page = tm_serve_page_html(&pl);
    if (page) respond(c, 200, "text/html; charset=utf-8", page, pl, 0);
    else respond_error(c, 500, "out of memory");
    return;
  } else {
    respond_error(c, 404, "no such path (GET /, /status, /metrics, /healthz)");
    return;
  }
  if (!body) {
    respond_error(c, 500, "out of memory");
    return;
  }
  respond(c, 200, ctype, body, n, 0);
  free(body);
}

/* ---- parser callbacks -------------------------------------------------------------------------- */

static int fail(tm_serve_conn *c, int status, const char *msg) {
  c->err_status = status;
  snprintf(c->err_msg, sizeof c->err_msg, "%s", msg);
  return 1;
}

static int on_message_begin(http_parser *p) {
  tm_serve_conn *c = p->data;
  reset_request(c);
  c->state = C_READING;
  arm_timer(c, c->d->lim.request_timeout_ms);
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  tm_serve_conn *c = p->data;
  if (c->url_len + len >= sizeof c->url) return fail(c, 414, "URL over 2047 bytes");
  memcpy(c->url + c->url_len, at, len);
  c->url_len += len;
  c->url[c->url_len] = 0;
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  tm_serve_conn *c = p->data;
  if ((c->header_bytes += len) > 16384) return fail(c, 431, "headers over 16 KiB");
  if (c->last_was_value) c->field_len = 0, c->last_was_value = 0;
  for (size_t i = 0; i < len && c->field_len < sizeof c->field - 1; i++) c->field[c->field_len++] = at[i];
  c->field[c->field_len] = 0;
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  tm_serve_conn *c = p->data;
  if ((c->header_bytes += len) > 16384) return fail(c, 431, "headers over 16 KiB");
  c->last_was_value = 1;
  if (!strcasecmp(c->field, "expect") && len >= 12 && !strncasecmp(at, "100-continue", 12)) c->expect_continue = 1;
  if (!strcasecmp(c->field, "authorization")) {
    if (c->auth_len + len >= sizeof c->auth) return fail(c, 431, "Authorization header too long");
    memcpy(c->auth + c->auth_len, at, len);
    c->auth_len += len;
    c->auth[c->auth_len] = 0;
  }
  return 0;
}

static int on_headers_complete(http_parser *p) {
  tm_serve_conn *c = p->data;
  tm_serve_daemon *d = c->d;
  if (!authorized(c)) return fail(c, 401, "missing or wrong Authorization: Bearer token");
  char path[256];
  const char *query;
  url_split(c->url, path, sizeof path, &query);
  if (!strcmp(path, "/healthz")) return 0;
  if (c->role == TM_ROLE_ADMIN) {
    if (p->method != HTTP_GET && p->method != HTTP_HEAD) return fail(c, 405, "only GET here");
    return 0;
  }
  if (strcmp(path, "/ingest")) return fail(c, 404, "no such path (POST /ingest, GET /healthz)");
  if (p->method != HTTP_POST) return fail(c, 405, "POST a JSONL body to /ingest");
  if (d->draining) return fail(c, 503, "shutting down: not accepting");
  if (p->content_length != ULLONG_MAX && p->content_length > d->lim.max_request_bytes) {
    char m[160];
    snprintf(m, sizeof m, "a body of %" PRIu64 " bytes, over max_request_bytes (%" PRIu64 ")",
             (uint64_t)p->content_length, d->lim.max_request_bytes);
    return fail(c, 413, m);
  }
  char prof[64] = "";
  if (!query_get(query, "profile", prof, sizeof prof)) snprintf(prof, sizeof prof, "%s", tm_serve_pipe_profile_name(d->pipe, d->spool_profile));
  tm_error e = {0};
  int pi = tm_serve_pipe_profile(d->pipe, prof, &e);
  if (pi < 0) return fail(c, 400, e.msg);
  c->profile = pi;
  if (c->expect_continue) {
    /* the client waits for this before sending the body (curl: 1 s) */
    static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t b = uv_buf_init(cont, sizeof cont - 1);
    if (uv_try_write(&c->h.stream, &b, 1) != (int)b.len) return fail(c, 500, "cannot send 100 Continue");
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  tm_serve_conn *c = p->data;
  tm_serve_daemon *d = c->d;
  if (c->role != TM_ROLE_INGEST) return 0; /* bodies of GETs are ignored */
  if (c->body_len + len > d->lim.max_request_bytes) {
    char m[128];
    snprintf(m, sizeof m, "body over max_request_bytes (%" PRIu64 ")", d->lim.max_request_bytes);
    return fail(c, 413, m);
  }
  if (c->body_len + len > c->body_cap) {
    size_t cap = c->body_cap ? c->body_cap : 65536;
    while (cap < c->body_len + len) cap *= 2;
    if (p->content_length != ULLONG_MAX && cap > c->body_len + len + p->content_length)
      cap = c->body_len + len + (size_t)p->content_length;
    char *nb = realloc(c->body, cap);
    if (!nb) return fail(c, 503, "out of memory");
    c->body = nb;
    c->body_cap = cap;
  }
  memcpy(c->body + c->body_len, at, len);
  c->body_len += len;
  d->buffered_bytes += len;
  return 0;
}

static int on_message_complete(http_parser *p) {
  tm_serve_conn *c = p->data;
  c->msg_complete = 1;
  http_parser_pause(p, 1);
  return 0;
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
  size_t np = http_parser_execute(&c->parser, &g_settings, data, len);
  if (c->closing) return;
  enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
  if (c->err_status) {
    respond_error(c, c->err_status, c->err_msg);
    return;
  }
  if (c->msg_complete) {
    if (np < len) {
      size_t n = len - np;
      char *r = malloc(n);
      if (r) {
        memcpy(r, data + np, n);
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
  if (e != HPE_OK) {
    char m[256];
    snprintf(m, sizeof m, "malformed HTTP: %s", http_errno_description(e));
    respond_error(c, 400, m);
    return;
  }
  if (c->role == TM_ROLE_INGEST && c->state == C_READING && over_limit(c->d)) {
    /* backpressure: let TCP push back on the client */
    uv_read_stop(&c->h.stream);
    uv_timer_stop(&c->timer);
    c->paused = 1;
    c->d->backpressure_pauses++;
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
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
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
  if (!g_settings.on_message_complete) {
    g_settings.on_message_begin = on_message_begin;
    g_settings.on_url = on_url;
    g_settings.on_header_field = on_header_field;
    g_settings.on_header_value = on_header_value;
    g_settings.on_headers_complete = on_headers_complete;
    g_settings.on_body = on_body;
    g_settings.on_message_complete = on_message_complete;
  }
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
