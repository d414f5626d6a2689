/* test_jsonl_check.c - the JSONL line checker (pipeline/readers/json_line.h)
 * gives jansson's verdict (json_loadb with JSON_ALLOW_NUL, as the reader
 * parses): hand-picked edge cases, then many random mutations (byte flips,
 * insertions, deletions, truncations, splices) of valid lines. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readers/json_line.h"
#include "tm_test.h"

/* jansson's verdict: OK, NO_FIELD, NOT_OBJECT or SYNTAX */
static int reference(const char *s, size_t n) {
  json_error_t je;
  json_t *o = json_loadb(s, n, JSON_ALLOW_NUL, &je);
  if (!o) return TM_JSONL_SYNTAX;
  int rc = !json_is_object(o) ? TM_JSONL_NOT_OBJECT
           : json_is_string(json_object_get(o, "text")) ? TM_JSONL_OK : TM_JSONL_NO_FIELD;
  json_decref(o);
  return rc;
}

static int failures;

static void same(const char *s, size_t n) {
  const char *why = NULL;
  size_t col = 0;
  int got = tm_jsonl_check(s, n, "text", &why, &col), want = reference(s, n);
  if (got != want && failures++ < 20) {
    fprintf(stderr, "verdict %d, jansson %d (%s) for: ", got, want, why ? why : "-");
    fwrite(s, 1, n > 200 ? 200 : n, stderr);
    fputc('\n', stderr);
  }
  CHECK(got == want);
  if (got == TM_JSONL_SYNTAX) CHECK(why != NULL && col >= 1 && col <= n + 1);
}

static void same_str(const char *s) { same(s, strlen(s)); }

int main(void) {
  static const char *cases[] = {
      "{\"text\":\"a\"}", "{\"text\":1}", "{}", "[]", "[1,2]", "{\"a\":[{\"b\":null}],\"text\":\"x\"}",
      " {\"text\" : \"x\" } ", "{\"text\":\"x\"} x", "{\"text\":\"x\",}", "{,}", "{\"text\"}", "{\"text\":}",
      "{\"text\":\"\\u0000\"}", "{\"text\":\"\\ud83d\\ude00\"}", "{\"text\":\"\\ud83d\"}", "{\"text\":\"\\ude00\"}",
      "{\"text\":\"\\ud83d\\u0041\"}", "{\"text\":\"\\x\"}", "{\"text\":\"\\u12G4\"}", "{\"text\":\"\x01\"}",
      "{\"text\":\"caf\xc3\xa9\"}", "{\"text\":\"\xc3\"}", "{\"text\":\"\xc0\xaf\"}", "{\"text\":\"\xed\xa0\x80\"}",
      "{\"text\":\"\xf4\x90\x80\x80\"}", "{\"text\":\"\xe2\x82\"}", "{\"text\":\"\xf0\x9f\x98\x80\"}",
      "{\"n\":01,\"text\":\"\"}", "{\"n\":-,\"text\":\"\"}", "{\"n\":1.,\"text\":\"\"}", "{\"n\":.5}", "{\"n\":1e}",
      "{\"n\":1e+5,\"text\":\"\"}", "{\"n\":-0.0e-0}", "{\"n\":9223372036854775807}", "{\"n\":9223372036854775808}",
      "{\"n\":-9223372036854775808}", "{\"n\":-9223372036854775809}", "{\"n\":1e308}", "{\"n\":1e309}",
      "{\"n\":1e-400}", "{\"n\":123456789012345678901234567890.5}", "{\"b\":tru}", "{\"b\":true,\"text\":\"\"}",
      "{\"b\":nul}", "{\"b\":falsey}", "{\"text\":\"a\",\"text\":2}", "{\"text\":2,\"text\":\"a\"}",
      "{\"te\\u0078t\":\"a\"}", "{\"\\u0074ext\":\"a\"}", "{\"tex\\t\":\"a\"}", "{\"x\":{\"text\":\"a\"}}", "\"text\"", "1", "", "   ", "{", "{\"", "{\"text\":\"a",
      "{\"text\":\"a\"}\x00", "\t{\"text\":\"a\"}\r", "{\"text\":\"a\"}\n", "{\"a\":[1,]}", "{\"a\":[,1]}",
      "{\"a\" \"b\"}", "{'text':'a'}", "{\"text\":\"a\"}}", "[{\"text\":\"a\"}]",
      /* jansson refuses \u0000 in member names even with JSON_ALLOW_NUL (found by fuzz_jsonl_check) */
      "{\"a\\u0000\":1,\"text\":\"x\"}", "{\"text\":\"x\",\"x\":{\"\\u0000\":1}}", "{\"te\\u0000xt\":\"x\"}",
      "{\"text\":\"x\",\"a\":\"\\u0000\"}", "{\"a\\u0001\":1,\"text\":\"x\"}",
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) same_str(cases[i]);
  /* nesting around jansson's limit (2048) */
  for (int d = 2045; d <= 2050; d++) {
    char *s = malloc((size_t)d * 2 + 32);
    size_t n = 0;
    n += (size_t)sprintf(s, "{\"text\":\"a\",\"d\":");
    for (int i = 0; i < d - 1; i++) s[n++] = '[';
    for (int i = 0; i < d - 1; i++) s[n++] = ']';
    s[n++] = '}';
    same(s, n);
    free(s);
  }
  /* random mutations of valid lines */
  static const char *seeds[] = {
      "{\"id\":\"a-1\",\"text\":\"Hello, world. caf\xc3\xa9 \\u00e9\\n\\\"q\\\" \\ud83d\\ude00\",\"n\":-12.5e3,\"ok\":true}",
      "{\"text\":\"x\",\"meta\":{\"tags\":[1,2,{\"z\":null}],\"v\":false},\"big\":12345678901234567}",
      "{\"url\":\"http://x/y?z=1\",\"html\":\"<p>hi</p>\",\"text\":\"\xe4\xb8\xad\xe6\x96\x87\"}",
  };
  const char alphabet[] = "{}[]\":,\\ux0123456789eE+-.tfn \t\x01\x80\xc3\xa9\xed\xff";
  unsigned long long rng = 88172645463325252ull;
#define NEXT() (rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17, rng)
  char buf[512];
  for (int iter = 0; iter < 200000; iter++) {
    const char *seed = seeds[NEXT() % 3];
    size_t n = strlen(seed);
    memcpy(buf, seed, n);
    int edits = 1 + (int)(NEXT() % 3);
    for (int e = 0; e < edits; e++) {
      size_t pos = n ? NEXT() % n : 0;
      switch (NEXT() % 5) {
      case 0: buf[pos] = alphabet[NEXT() % (sizeof alphabet - 1)]; break;
      case 1:
        if (n + 1 < sizeof buf) {
          memmove(buf + pos + 1, buf + pos, n - pos);
          buf[pos] = alphabet[NEXT() % (sizeof alphabet - 1)];
          n++;
        }
        break;
      case 2:
        if (n) {
          memmove(buf + pos, buf + pos + 1, n - pos - 1);
          n--;
        }
        break;
      case 3: n = pos; break;
      default: buf[pos] = (char)(NEXT() & 0xff);
      }
    }
    same(buf, n);
  }
  return tm_test_finish("test_jsonl_check");
}
