/* fuzz_http.c - `tokenmill serve`'s HTTP request handling (pipeline/serve/
 * serve_req.h: http-parser, routing, the bearer token, size limits, the
 * profile of a batch, the check of a batch's JSONL lines, the response
 * bytes) on arbitrary bytes, fed in random splits as a socket would
 * deliver them, with pipelined requests handled one after the other.
 *
 * Input: byte 0 picks the daemon's settings (bit 0 admin role, bit 1 a
 * token is required, bit 2 draining, bits 3-4 max_request_bytes 64 B /
 * 1 KiB / 64 KiB / 1 MiB, bits 5-6 max_doc_bytes 16 B / 256 B / 4 KiB /
 * 16 MiB), byte 1 seeds the split sizes, the rest is the stream.
 *
 * Beyond the sanitizers, every verdict is checked against what the contract
 * promises: all bytes consumed while a request is incomplete; a whole request
 * routed to what its role serves, with the token when one is required, a
 * body within the limit; a refusal a documented 4xx/5xx with a reason whose
 * JSON body parses; an accepted batch one whose every non-blank line jansson
 * parses into an object with a string "text" (what the reader will need). */
#include <jansson.h>
#include <strings.h>

#include "fuzz_util.h"
#include "serve_req.h"

#define TOKEN "fuzz-token-0123456789"

static int fuzz_profile(void *user, const char *name, tm_error *err) {
  (void)user;
  static const char *const known[] = {"web", "books", "book", "social", "html"};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (!strcmp(name, known[i])) return (int)i;
  return tm_err(err, TM_EINVAL, "unknown profile '%.40s'", name);
}

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "fuzz_http: %s\n", what);
    __builtin_trap();
  }
}

/* Every non-blank line an object with a string "text" (jansson's verdict). */
static void check_batch_oracle(const char *b, size_t n, uint64_t docs) {
  const char *p = b, *end = b + n;
  uint64_t seen = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    const char *q = p;
    while (q < le && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
    if (q < le) {
      json_error_t je;
      json_t *j = json_loadb(p, (size_t)(le - p), JSON_ALLOW_NUL, &je);
      check(j && json_is_object(j) && json_is_string(json_object_get(j, "text")), "batch accepted with a line jansson refuses");
      json_decref(j);
      seen++;
    }
    p = nl ? nl + 1 : end;
  }
  check(seen == docs && docs > 0, "batch document count");
}

static void check_error_body(int status, const char *msg) {
  size_t n = 0;
  char *s = tm_serve_http_error_body(status, msg, &n);
  if (!s) return; /* out of memory: allowed */
  json_error_t je;
  json_t *j = json_loadb(s, n, 0, &je);
  check(j && json_is_string(json_object_get(j, "error")) &&
            json_integer_value(json_object_get(j, "status")) == status,
        "error body is not the documented JSON");
  json_decref(j);
  free(s);
  char head[512];
  check(tm_serve_http_head(head, sizeof head, status, "application/json", n, 1) > 0, "response head");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  if (n < 2) return 0;
  static const uint64_t req_limits[] = {64, 1024, 65536, 1 << 20};
  static const uint64_t doc_limits[] = {16, 256, 4096, 16 << 20};
  tm_serve_req_env env = {0};
  env.role = (data[0] & 1) ? TM_ROLE_ADMIN : TM_ROLE_INGEST;
  if (data[0] & 2) env.token = TOKEN, env.token_len = strlen(TOKEN);
  env.draining = (data[0] >> 2) & 1;
  env.max_request_bytes = req_limits[(data[0] >> 3) & 3];
  uint64_t max_doc = doc_limits[(data[0] >> 5) & 3];
  env.default_profile = "web";
  env.profile = fuzz_profile;
  uint32_t rng = 0x9e3779b9u ^ data[1];
  const char *s = (const char *)data + 2;
  size_t len = n - 2, off = 0;

  tm_serve_req r;
  tm_serve_req_init(&r);
  int requests = 0;
  while (off < len && requests < 10000) {
    rng = rng * 1103515245u + 12345u;
    size_t chunk = (rng >> 16) % 4 == 0 ? len - off : 1 + (rng >> 8) % 97;
    if (chunk > len - off) chunk = len - off;
    size_t used = 0;
    int rc = tm_serve_req_feed(&r, &env, s + off, chunk, &used);
    check(used <= chunk, "consumed more than given");
    if (rc == TM_REQ_MORE) {
      check(used == chunk, "incomplete request left bytes unconsumed");
      check(!r.want_continue || r.route == TM_ROUTE_INGEST, "100 Continue outside an ingest request");
      off += used;
      continue;
    }
    if (rc == TM_REQ_REFUSE) {
      static const int documented[] = {400, 401, 404, 405, 413, 414, 431, 503};
      int ok = 0;
      for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++) ok |= r.status == documented[i];
      check(ok, "refusal with an undocumented status");
      check(r.msg[0] != 0, "refusal without a reason");
      check_error_body(r.status, r.msg);
      /* refused for good: nothing more is consumed */
      size_t u2 = 1;
      check(tm_serve_req_feed(&r, &env, s + off, len - off, &u2) == TM_REQ_REFUSE && u2 == 0, "fed after a refusal");
      break;
    }
    check(rc == TM_REQ_DONE, "unknown feed result");
    off += used;
    requests++;
    /* a whole request: routed within its role, authorised, within limits */
    check(r.url_len < sizeof r.url && r.url[r.url_len] == 0, "URL not terminated");
    check(r.body_len <= env.max_request_bytes, "body over max_request_bytes");
    if (env.token_len)
      check(r.auth_len >= 7 && !strncasecmp(r.auth, "Bearer ", 7) && r.auth_len - 7 == env.token_len &&
                !memcmp(r.auth + 7, TOKEN, env.token_len),
            "request accepted without the token");
    if (env.role == TM_ROLE_ADMIN)
      check(r.route == TM_ROUTE_HEALTHZ || r.route == TM_ROUTE_METRICS || r.route == TM_ROUTE_STATUS ||
                r.route == TM_ROUTE_PAGE,
            "admin route");
    else
      check(r.route == TM_ROUTE_HEALTHZ || r.route == TM_ROUTE_INGEST, "ingest route");
    if (r.route == TM_ROUTE_INGEST) {
      check(!env.draining, "ingest accepted while draining");
      check(r.profile >= 0 && r.body && r.body_len > 0, "ingest without a profile or a body");
      size_t blen = 0;
      char *body = tm_serve_req_take_body(&r, &blen);
      check(r.body == NULL && r.body_len == 0, "body not handed over");
      uint64_t docs = 0;
      char msg[600];
      int st = tm_serve_req_check_batch(body, blen, "text", max_doc, &docs, msg, sizeof msg);
      if (st == 200) check_batch_oracle(body, blen, docs);
      else check((st == 400 || st == 413) && msg[0], "batch refusal"), check_error_body(st, msg);
      free(body);
    }
    char head[512];
    check(tm_serve_http_head(head, sizeof head, 200, "application/json", 10, !tm_serve_req_keep_alive(&r)) > 0,
          "response head");
    /* the next request on the connection (pipelining) */
    tm_serve_req_next(&r);
  }
  tm_serve_req_free(&r);
  return 0;
}
