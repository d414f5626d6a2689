/* serve_req.c - the daemon's HTTP request handling without libuv (see
 * serve_req.h): http-parser callbacks that collect one request, route it at
 * the end of its headers, and enforce the limits and the token; the check
 * of an ingest batch; response heads and error bodies.
 *
 * The parser is paused at the end of each message, so bytes of a pipelined
 * next request stay unconsumed until the caller asks for it.
 */
#include "serve_req.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "readers/json_line.h"

static http_parser_settings g_settings;

/* ---- small helpers ------------------------------------------------------------------ */

static int refuse(tm_serve_req *r, int status, const char *msg) {
  if (!r->status) { /* the first reason wins */
    r->status = status;
    snprintf(r->msg, sizeof r->msg, "%s", msg);
  }
  return 1; /* stops http-parser (HPE_CB_*) */
}

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

/* Equal in time that depends only on the lengths (b is the secret). */
static int const_time_eq(const char *a, size_t al, const char *b, size_t bl) {
  unsigned char d = (unsigned char)(al != bl);
  for (size_t i = 0; i < bl; i++) d |= (unsigned char)(a[i < al ? i : 0] ^ b[i]);
  return d == 0;
}

static int authorized(const tm_serve_req *r) {
  const tm_serve_req_env *e = r->env;
  if (!e->token_len) return 1;
  if (r->auth_len < 7 || strncasecmp(r->auth, "Bearer ", 7)) return 0;
  return const_time_eq(r->auth + 7, r->auth_len - 7, e->token, e->token_len);
}

/* ---- parser callbacks ---------------------------------------------------------------- */

static void clear_request(tm_serve_req *r) {
  r->url_len = 0;
  r->url[0] = 0;
  r->field_len = 0;
  r->field[0] = 0;
  r->last_was_value = 0;
  r->expect_continue = 0;
  r->auth_len = 0;
  r->auth[0] = 0;
  r->header_bytes = 0;
  free(r->body);
  r->body = NULL;
  r->body_len = r->body_cap = 0;
  r->complete = 0;
  r->route = TM_ROUTE_NONE;
  r->profile = -1;
  r->want_continue = 0;
  r->status = 0;
  r->msg[0] = 0;
}

static int on_message_begin(http_parser *p) {
  tm_serve_req *r = p->data;
  clear_request(r); /* nothing to free: the previous request went with tm_serve_req_next */
  r->in_message = 1;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  tm_serve_req *r = p->data;
  if (r->url_len + len >= sizeof r->url) return refuse(r, 414, "URL over 2047 bytes");
  memcpy(r->url + r->url_len, at, len);
  r->url_len += len;
  r->url[r->url_len] = 0;
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  tm_serve_req *r = p->data;
  if ((r->header_bytes += len) > TM_SERVE_HEADERS_MAX) return refuse(r, 431, "headers over 16 KiB");
  if (r->last_was_value) r->field_len = 0, r->last_was_value = 0;
  for (size_t i = 0; i < len && r->field_len < sizeof r->field - 1; i++) r->field[r->field_len++] = at[i];
  r->field[r->field_len] = 0;
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  tm_serve_req *r = p->data;
  if ((r->header_bytes += len) > TM_SERVE_HEADERS_MAX) return refuse(r, 431, "headers over 16 KiB");
  r->last_was_value = 1;
  if (!strcasecmp(r->field, "expect") && len >= 12 && !strncasecmp(at, "100-continue", 12)) r->expect_continue = 1;
  if (!strcasecmp(r->field, "authorization")) {
    if (r->auth_len + len >= sizeof r->auth) return refuse(r, 431, "Authorization header too long");
    memcpy(r->auth + r->auth_len, at, len);
    r->auth_len += len;
    r->auth[r->auth_len] = 0;
  }
  return 0;
}

/* Route, check the token, the method and the declared size: 0, or 1 when
 * refused. */
static int route_request(tm_serve_req *r, http_parser *p) {
  const tm_serve_req_env *e = r->env;
  if (!authorized(r)) return refuse(r, 401, "missing or wrong Authorization: Bearer token");
  char path[256];
  const char *query;
  url_split(r->url, path, sizeof path, &query);
  int get = p->method == HTTP_GET || p->method == HTTP_HEAD;
  if (!strcmp(path, "/healthz")) {
    if (!get) return refuse(r, 405, "GET /healthz");
    r->route = TM_ROUTE_HEALTHZ;
    return 0;
  }
  if (e->role == TM_ROLE_ADMIN) {
    if (!strcmp(path, "/metrics")) r->route = TM_ROUTE_METRICS;
    else if (!strcmp(path, "/status")) r->route = TM_ROUTE_STATUS;
    else if (!strcmp(path, "/") || !strcmp(path, "/index.html")) r->route = TM_ROUTE_PAGE;
    else return refuse(r, 404, "no such path (GET /, /status, /metrics, /healthz)");
    if (!get) return refuse(r, 405, "only GET here");
    return 0;
  }
  if (strcmp(path, "/ingest")) return refuse(r, 404, "no such path (POST /ingest, GET /healthz)");
  if (p->method != HTTP_POST) return refuse(r, 405, "POST a JSONL body to /ingest");
  if (e->draining) return refuse(r, 503, "shutting down: not accepting");
  if (p->content_length != ULLONG_MAX && p->content_length > e->max_request_bytes) {
    char m[160];
    snprintf(m, sizeof m, "a body of %" PRIu64 " bytes, over max_request_bytes (%" PRIu64 ")",
             (uint64_t)p->content_length, e->max_request_bytes);
    return refuse(r, 413, m);
  }
  char prof[64] = "";
  if (!query_get(query, "profile", prof, sizeof prof))
    snprintf(prof, sizeof prof, "%s", e->default_profile ? e->default_profile : "web");
  tm_error err = {0};
  int pi = e->profile ? e->profile(e->user, prof, &err) : 0;
  if (pi < 0) return refuse(r, 400, err.msg[0] ? err.msg : "bad profile");
  r->profile = pi;
  r->route = TM_ROUTE_INGEST;
  r->want_continue = r->expect_continue;
  return 0;
}

/* (1 and 2 from this callback mean "skip the body" / "upgrade" to
 * http-parser, not an error: a refusal must be another value) */
static int on_headers_complete(http_parser *p) { return route_request(p->data, p) ? -1 : 0; }

static int on_body(http_parser *p, const char *at, size_t len) {
  tm_serve_req *r = p->data;
  const tm_serve_req_env *e = r->env;
  if (r->route != TM_ROUTE_INGEST) return 0; /* bodies of GETs are ignored */
  if (r->body_len + len > e->max_request_bytes) {
    char m[128];
    snprintf(m, sizeof m, "body over max_request_bytes (%" PRIu64 ")", e->max_request_bytes);
    return refuse(r, 413, m);
  }
  if (r->body_len + len > r->body_cap) {
    size_t cap = r->body_cap ? r->body_cap : 65536;
    while (cap < r->body_len + len) cap *= 2;
    /* a declared length bounds the buffer (content_length counts down) */
    if (p->content_length != ULLONG_MAX && cap > r->body_len + len + p->content_length)
      cap = r->body_len + len + (size_t)p->content_length;
    char *nb = realloc(r->body, cap);
    if (!nb) return refuse(r, 503, "out of memory");
    r->body = nb;
    r->body_cap = cap;
  }
  memcpy(r->body + r->body_len, at, len);
  r->body_len += len;
  return 0;
}

static int on_message_complete(http_parser *p) {
  tm_serve_req *r = p->data;
  r->complete = 1;
  http_parser_pause(p, 1);
  return 0;
}

/* ---- the API ---------------------------------------------------------------------------- */

void tm_serve_req_init(tm_serve_req *r) {
  if (!g_settings.on_message_complete) { /* idempotent: every thread writes the same values */
    g_settings.on_message_begin = on_message_begin;
    g_settings.on_url = on_url;
    g_settings.on_header_field = on_header_field;
    g_settings.on_header_value = on_header_value;
    g_settings.on_headers_complete = on_headers_complete;
    g_settings.on_body = on_body;
    g_settings.on_message_complete = on_message_complete;
  }
  memset(r, 0, sizeof *r);
  r->profile = -1;
  http_parser_init(&r->parser, HTTP_REQUEST);
  r->parser.data = r;
}

void tm_serve_req_free(tm_serve_req *r) {
  free(r->body);
  r->body = NULL;
  r->body_len = r->body_cap = 0;
}

int tm_serve_req_feed(tm_serve_req *r, const tm_serve_req_env *env, const char *data, size_t len,
                      size_t *used) {
  *used = 0;
  if (r->status) return TM_REQ_REFUSE;
  if (r->complete) return TM_REQ_DONE;
  if (!len) return TM_REQ_MORE; /* (http-parser would take 0 bytes as the end of the stream) */
  r->env = env;
  size_t np = http_parser_execute(&r->parser, &g_settings, data, len);
  r->env = NULL;
  *used = np;
  if (r->status) return TM_REQ_REFUSE;
  if (r->complete) {
    if (r->route == TM_ROUTE_INGEST && !r->body_len) {
      refuse(r, 400, "an empty batch (no body)");
      return TM_REQ_REFUSE;
    }
    return TM_REQ_DONE;
  }
  enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
  if (e != HPE_OK) {
    char m[256];
    snprintf(m, sizeof m, "malformed HTTP: %s", http_errno_description(e));
    refuse(r, 400, m);
    return TM_REQ_REFUSE;
  }
  return TM_REQ_MORE;
}

void tm_serve_req_next(tm_serve_req *r) {
  clear_request(r);
  r->in_message = 0;
  http_parser_pause(&r->parser, 0);
}

char *tm_serve_req_take_body(tm_serve_req *r, size_t *len) {
  char *b = r->body;
  *len = r->body_len;
  r->body = NULL;
  r->body_len = r->body_cap = 0;
  return b;
}

int tm_serve_req_keep_alive(const tm_serve_req *r) { return http_should_keep_alive(&r->parser) != 0; }

int tm_serve_req_check_batch(const char *body, size_t len, const char *text_field, uint64_t max_doc,
                             uint64_t *docs, char *msg, size_t cap) {
  const char *p = body, *end = body + len;
  uint64_t line = 0;
  *docs = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    line++;
    size_t n = (size_t)(le - p);
    const char *q = p;
    while (q < le && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
    if (q < le) {
      if (n > max_doc) {
        snprintf(msg, cap, "line %" PRIu64 ": a document of %zu bytes, over max_doc_bytes (%" PRIu64 ")", line, n,
                 max_doc);
        return 413;
      }
      const char *why = NULL;
      size_t col = 0;
      switch (tm_jsonl_check(p, n, text_field, &why, &col)) {
      case TM_JSONL_OK: break;
      case TM_JSONL_NOT_OBJECT:
        snprintf(msg, cap, "line %" PRIu64 ": not a JSON object", line);
        return 400;
      case TM_JSONL_NO_FIELD:
        snprintf(msg, cap, "line %" PRIu64 ": no string field \"%s\"", line, text_field);
        return 400;
      default:
        snprintf(msg, cap, "line %" PRIu64 ": column %zu: %s", line, col, why ? why : "invalid JSON");
        return 400;
      }
      (*docs)++;
    }
    p = nl ? nl + 1 : end;
  }
  if (!*docs) {
    snprintf(msg, cap, "an empty batch (no JSON lines)");
    return 400;
  }
  return 200;
}

const char *tm_serve_http_reason(int s) {
  switch (s) {
  case 100: return "Continue";
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

int tm_serve_http_head(char *buf, size_t cap, int status, const char *ctype, size_t blen, int close_after) {
  int n = snprintf(buf, cap,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n",
                   status, tm_serve_http_reason(status), ctype, blen, close_after ? "Connection: close\r\n" : "");
  return n < 0 || (size_t)n >= cap ? -1 : n;
}

char *tm_serve_http_error_body(int status, const char *msg, size_t *len) {
  size_t ml = strlen(msg);
  /* worst case: every byte becomes \ufffd (6), plus the frame */
  size_t cap = ml * 6 + 64;
  char *out = malloc(cap);
  if (!out) return NULL;
  size_t n = (size_t)snprintf(out, cap, "{\"error\":\"");
  const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)msg;
  size_t i = 0;
  while (i < ml) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if (c == '"' || c == '\\') out[n++] = '\\', out[n++] = (char)c, i++;
      else if (c < 0x20 || c == 0x7f) n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c), i++;
      else out[n++] = (char)c, i++;
      continue;
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(ml - i), &cp);
    if (k <= 0) { /* invalid UTF-8: one replacement character per bad byte */
      memcpy(out + n, "\\ufffd", 6);
      n += 6;
      i++;
      continue;
    }
    memcpy(out + n, s + i, (size_t)k);
    n += (size_t)k;
    i += (size_t)k;
  }
  n += (size_t)snprintf(out + n, cap - n, "\",\"status\":%d}\n", status);
  *len = n;
  return out;
}
