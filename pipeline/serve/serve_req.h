/* serve_req.h - one HTTP connection's requests, without libuv.
 *
 * Everything the daemon decides about a request from its bytes alone lives
 * here, so that it can be fuzzed (tests/fuzz/fuzz_http.c) apart from the
 * event loop: parsing (http-parser), routing, the Authorization check, the
 * size limits, the profile of an ingest batch, the check of a batch's JSONL
 * lines, and the bytes of a response head or an error body. serve_http.c is
 * the libuv glue around it: sockets, timers, backpressure, the thread pool.
 *
 * A tm_serve_req is a connection's parser state. Bytes are fed in any
 * splits; one request is handled at a time:
 *
 *   feed -> TM_REQ_MORE    every byte consumed, the request is not whole yet
 *        -> TM_REQ_DONE    a whole request, routed (r->route, r->profile,
 *                          the body); *used bytes of this call were
 *                          consumed, the rest belongs to the next request
 *                          (pipelining): keep it and feed it after
 *                          tm_serve_req_next
 *        -> TM_REQ_REFUSE  refuse with r->status (4xx/5xx) and r->msg; the
 *                          stream position is unknown afterwards: answer
 *                          and close the connection
 *
 * Refusals, decided as early as possible (at the headers where the headers
 * decide it, before any body byte is stored):
 *   400 malformed HTTP, a bad profile, an ingest POST without a body
 *   401 a token is configured and Authorization is not `Bearer TOKEN`
 *       (compared in constant time)
 *   404 unknown path, 405 wrong method for the path
 *   413 Content-Length or the body as it grows over max_request_bytes
 *   414 URL over 2047 bytes, 431 headers over 16 KiB (Authorization over
 *       511 bytes)
 *   503 draining (no new ingest), out of memory
 *
 * Memory: a request holds its URL (2 KiB), a few header fields and its body
 * (at most max_request_bytes). No function here blocks or does I/O.
 */
#ifndef TM_SERVE_REQ_H
#define TM_SERVE_REQ_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum { TM_ROLE_INGEST = 0, TM_ROLE_ADMIN = 1 };

/* What a whole request asks for. */
enum {
  TM_ROUTE_NONE = 0,
  TM_ROUTE_HEALTHZ, /* GET /healthz (both roles) */
  TM_ROUTE_INGEST,  /* POST /ingest[?profile=NAME] (ingest role) */
  TM_ROUTE_METRICS, /* GET /metrics (admin) */
  TM_ROUTE_STATUS,  /* GET /status (admin) */
  TM_ROUTE_PAGE     /* GET / or /index.html (admin) */
};

enum { TM_REQ_MORE = 0, TM_REQ_DONE = 1, TM_REQ_REFUSE = 2 };

#define TM_SERVE_URL_MAX 2048
#define TM_SERVE_HEADERS_MAX 16384

/* What the daemon tells the handler; read during tm_serve_req_feed only. */
typedef struct tm_serve_req_env {
  int role;                   /* TM_ROLE_INGEST or TM_ROLE_ADMIN */
  int draining;               /* refuse new ingest with 503 */
  uint64_t max_request_bytes; /* body limit */
  const char *token;          /* bearer token, token_len bytes; token_len 0: none */
  size_t token_len;
  const char *default_profile; /* of a POST without ?profile= */
  /* the index of profile NAME, or a negative TM_E* with err filled (the
   * message is sent back with a 400) */
  int (*profile)(void *user, const char *name, tm_error *err);
  void *user;
} tm_serve_req_env;

typedef struct tm_serve_req {
  http_parser parser;
  /* the request being read */
  int in_message; /* its first byte arrived */
  char url[TM_SERVE_URL_MAX];
  size_t url_len;
  char field[32]; /* the current header name (truncated: only short ones matter) */
  size_t field_len;
  int last_was_value, expect_continue;
  char auth[512];
  size_t auth_len;
  size_t header_bytes;
  char *body; /* ingest role only; NULL when empty */
  size_t body_len, body_cap;
  int complete;
  /* the verdict */
  int route;
  int profile;       /* TM_ROUTE_INGEST: the env's profile index */
  int want_continue; /* send "100 Continue" now (Expect: 100-continue on an
                      * accepted ingest request); the caller clears it */
  int status;        /* TM_REQ_REFUSE: the HTTP status */
  char msg[600];     /* TM_REQ_REFUSE: why (sent back in the JSON body) */
  const tm_serve_req_env *env; /* during feed */
} tm_serve_req;

/* A fresh connection (a request parser). */
void tm_serve_req_init(tm_serve_req *r);
/* Free the body; r can be dropped (or initialised again) afterwards. */
void tm_serve_req_free(tm_serve_req *r);

/* Feed len bytes (see the top of this file). *used receives the bytes
 * consumed: len for TM_REQ_MORE, up to the end of the request for
 * TM_REQ_DONE. After TM_REQ_DONE nothing more is consumed until
 * tm_serve_req_next; after TM_REQ_REFUSE nothing ever is. */
int tm_serve_req_feed(tm_serve_req *r, const tm_serve_req_env *env, const char *data, size_t len,
                      size_t *used);

/* Ready for the next request on the connection (frees the body). */
void tm_serve_req_next(tm_serve_req *r);

/* The body of a whole request, handed over to the caller (free it); r's
 * body is empty afterwards. NULL when there was none. */
char *tm_serve_req_take_body(tm_serve_req *r, size_t *len);

/* 1 when the connection may carry another request after this one. */
int tm_serve_req_keep_alive(const tm_serve_req *r);

/* Check an ingest batch: every non-blank line (spaces, tabs, CR) a JSON
 * object with a string member text_field, no line over max_doc bytes, at
 * least one line. Returns 200 with *docs set, or 400/413 with msg naming
 * the line (and column). Pure: runs on a worker thread. */
int tm_serve_req_check_batch(const char *body, size_t len, const char *text_field, uint64_t max_doc,
                             uint64_t *docs, char *msg, size_t cap);

/* The reason phrase of status ("Bad Request"). */
const char *tm_serve_http_reason(int status);

/* A response head into buf (cap >= 256 is enough): status line,
 * Content-Type, Content-Length blen, Cache-Control: no-store, and
 * Connection: close when close_after. Returns its length, or -1 when it
 * does not fit. */
int tm_serve_http_head(char *buf, size_t cap, int status, const char *ctype, size_t blen, int close_after);

/* The JSON body of a refusal: {"error":MSG,"status":STATUS}\n, malloc'd
 * (*len set); NULL when out of memory. msg may hold any bytes: it is
 * escaped, invalid UTF-8 included. */
char *tm_serve_http_error_body(int status, const char *msg, size_t *len);

#endif
