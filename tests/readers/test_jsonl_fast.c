/* test_jsonl_fast.c - the JSONL reader's fast path (jsonl_fast.c) against
 * jansson, and e-mail fields decoded on another thread (defer_email).
 *
 * The fast path's contract: when tm_jsonl_find_text takes a line, (1) jansson
 * accepts the whole line exactly when it accepts the line with the value
 * replaced by "", (2) then the value jansson decodes is byte-identical to
 * ours, and (3) every other member is the same. Checked on hand-written
 * edge cases and on a few hundred thousand random mutations of them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "readers/reader.h"
#include "readers/reader_int.h"
#include "tm_test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) { return tm_test_xorshift(&rng); }

static long taken, checked;

/* Check the contract on one line; returns 1 when the fast path took it. */
static int check_line(const char *line, size_t len, const char *field) {
  size_t vs, ve, n = 0;
  char *out = malloc(len + 1);
  checked++;
  if (!tm_jsonl_find_text(line, len, field, strlen(field), &vs, &ve, out, &n)) {
    free(out);
    return 0;
  }
  taken++;
  CHECKF(vs < ve && ve <= len && line[vs] == '"' && line[ve - 1] == '"', "span %zu..%zu of %zu", vs, ve, len);
  json_error_t je;
  json_t *whole = json_loadb(line, len, JSON_ALLOW_NUL, &je);
  size_t rlen = vs + 2 + (len - ve);
  char *reduced = malloc(rlen + 1);
  memcpy(reduced, line, vs);
  memcpy(reduced + vs, "\"\"", 2);
  memcpy(reduced + vs + 2, line + ve, len - ve);
  json_t *rest = json_loadb(reduced, rlen, JSON_ALLOW_NUL, &je);
  CHECKF((whole != NULL) == (rest != NULL), "jansson: whole line %s, reduced line %s: %.*s",
         whole ? "ok" : "fails", rest ? "ok" : "fails", (int)(len < 200 ? len : 200), line);
  if (whole && rest) {
    json_t *v = json_object_get(whole, field);
    CHECKF(json_is_string(v), "field is not a string for jansson: %.*s", (int)(len < 200 ? len : 200), line);
    if (json_is_string(v))
      CHECKF(n == json_string_length(v) && !memcmp(out, json_string_value(v), n),
             "decoded %zu bytes, jansson %zu: %.*s", n, json_string_length(v), (int)(len < 200 ? len : 200), line);
    json_object_set_new(rest, field, json_deep_copy(v));
    CHECKF(json_equal(whole, rest), "other members differ: %.*s", (int)(len < 200 ? len : 200), line);
  }
  json_decref(whole);
  json_decref(rest);
  free(reduced);
  free(out);
  return 1;
}

static const char *const seeds[] = {
    "{\"id\":\"a1\",\"text\":\"Hello, world.\\nSecond line.\"}",
    "{\"text\":\"caf\xc3\xa9 \\u00e9\\u4e2d\\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\b\\f\\r\\t\",\"n\":1.5e3}",
    " { \"meta\" : {\"text\": \"nested, not top level\", \"a\": [1, {\"b\": \"}\"}]} , \"text\" : \"top\" } ",
    "{\"text\":\"a\\u0000b\",\"flag\":true,\"none\":null,\"arr\":[\"x\",\"y\\\"\",{}]}",
    "{\"url\":\"http://x/\\\"\",\"html\":\"<p>x</p>\",\"text\":\"\"}",
    "{\"text\":\"first\",\"text\":\"second\"}",
    "{\"te\\u0078t\":\"escaped key\"}",
    "{\"text\":42}",
    "{\"text\":\"bad \\x escape\"}",
    "{\"text\":\"lone \\udc00 low\"}",
    "{\"text\":\"high \\ud800 alone\"}",
    "{\"text\":\"raw\x01control\"}",
    "{\"text\":\"overlong \xc0\xaf\"}",
    "{\"text\":\"surrogate \xed\xa0\x80 in utf-8\"}",
    "{\"text\":\"past max \xf4\x90\x80\x80\"}",
    "{\"text\":\"truncated \xe4\xb8\"}",
    "{\"text\":\"ok\"} trailing",
    "{\"text\":\"ok\",}",
    "{\"a\":[1,2,\"text\"],\"text\":\"after an array\"}",
    "{\"text\":\"unterminated}",
    "[\"text\",\"not an object\"]",
    "{\"text\":\"ok\",\"x\":\"\\q bad escape elsewhere\"}",
    "{\"x\":01,\"text\":\"bad number before\"}",
    "{\"text\":\"long run of plain ascii text to exercise the eight byte loop, with \\\\ and \\\" near word edges..\"}",
};

static void test_edges(void) {
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) check_line(seeds[i], strlen(seeds[i]), "text");
  /* the shapes that must go to jansson */
  size_t vs, ve;
  const char *twice = "{\"text\":\"first\",\"text\":\"second\"}";
  CHECK(!tm_jsonl_find_text(twice, strlen(twice), "text", 4, &vs, &ve, NULL, NULL));
  const char *esc = "{\"te\\u0078t\":\"escaped key\"}";
  CHECK(!tm_jsonl_find_text(esc, strlen(esc), "text", 4, &vs, &ve, NULL, NULL));
  const char *num = "{\"text\":42}";
  CHECK(!tm_jsonl_find_text(num, strlen(num), "text", 4, &vs, &ve, NULL, NULL));
  const char *nested = seeds[2];
  CHECK(tm_jsonl_find_text(nested, strlen(nested), "text", 4, &vs, &ve, NULL, NULL));
  CHECK(ve - vs == 5 && !memcmp(nested + vs, "\"top\"", 5));
  /* "html" as the field (web crawls) */
  CHECK(check_line(seeds[4], strlen(seeds[4]), "html"));
}

static void test_mutations(void) {
  static const char alphabet[] = "\"\\\\\"u{}[]:, \x01\x1f\x7f\x80\xbf\xc3\xa9\xed\xa0\xf0\x9f\xf4\x90\xc0ud8dcDC0aftxen/";
  char buf[512];
  long rounds = 150000;
  for (long it = 0; it < rounds; it++) {
    const char *s = seeds[next_rand() % (sizeof seeds / sizeof seeds[0])];
    size_t n = strlen(s);
    memcpy(buf, s, n);
    int muts = 1 + (int)(next_rand() % 4);
    for (int m = 0; m < muts; m++) {
      size_t at = n ? next_rand() % n : 0;
      unsigned op = (unsigned)(next_rand() % 3);
      char c = alphabet[next_rand() % (sizeof alphabet - 1)];
      if (op == 0 && n) buf[at] = c;                        /* replace */
      else if (op == 1 && n + 1 < sizeof buf) {            /* insert */
        memmove(buf + at + 1, buf + at, n - at);
        buf[at] = c;
        n++;
      } else if (n > 1) {                                   /* delete */
        memmove(buf + at, buf + at + 1, n - at - 1);
        n--;
      }
    }
    check_line(buf, n, "text");
  }
  printf("mutations: %ld lines, fast path took %ld\n", checked, taken);
  CHECK(taken > rounds / 20); /* the mutations keep many lines valid */
}

/* ---- e-mail fields decoded on another thread ------------------------------ */

static char dir[256];

static const char *path_of(const char *name) {
  static char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return p;
}

static void test_defer_email(void) {
  snprintf(dir, sizeof dir, "/tmp/tm_test_jsonl_fast.XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  const char *data =
      "{\"id\":\"m1\",\"text\":\"From: a@b.c\\nSubject: Hi there\\nDate: Thu, 22 Aug 2002 12:36:23 +0100\\n"
      "Content-Type: text/plain; charset=iso-8859-1\\nContent-Transfer-Encoding: quoted-printable\\n\\n"
      "Caf=E9 au lait.\\n\"}\n"
      "{\"id\":\"m2\",\"text\":\"From: a@b.c\\nSubject: html only\\nContent-Type: text/html\\n\\n<p>Hello</p>\\n\"}\n"
      "{\"id\":\"m3\",\"text\":\"\"}\n"
      "{\"id\":\"m4\",\"text\":\"From: x@y.z\\nSubject: =?utf-8?q?caf=C3=A9?=\\nContent-Type: multipart/alternative; "
      "boundary=XX\\n\\n--XX\\nContent-Type: text/plain\\n\\nplain part\\n--XX\\nContent-Type: text/html\\n\\n"
      "<b>html part</b>\\n--XX--\\n\",\"subject\":\"overridden\"}\n";
  char path[600];
  snprintf(path, sizeof path, "%s", path_of("mail.jsonl"));
  FILE *f = fopen(path, "wb");
  fwrite(data, 1, strlen(data), f);
  fclose(f);
  tm_reader_options o;
  tm_reader_options_default(&o);
  o.field_kind = TM_FIELD_EMAIL;
  tm_reader *direct, *deferred;
  tm_error e1 = {0}, e2 = {0};
  CHECK(tm_reader_open(&direct, path, &o, &e1) == 0);
  o.defer_email = 1;
  CHECK(tm_reader_open(&deferred, path, &o, &e2) == 0);
  tm_document a, b;
  tm_document_init(&a);
  tm_document_init(&b);
  int docs = 0;
  for (;;) {
    int ra = tm_reader_next(direct, &a, &e1);
    int rb = tm_reader_next(deferred, &b, &e2);
    if (rb == 1) {
      CHECK(b.format == TM_DOC_EMAIL);
      rb = tm_reader_decode_email(&b, &e2) < 0 ? -1 : 1;
    }
    CHECKF((ra < 0) == (rb < 0) && (ra == 0) == (rb == 0), "record %d: %d vs %d", docs, ra, rb);
    if (ra <= 0 || rb <= 0) {
      if (ra < 0 && rb < 0) CHECKF(!strcmp(e1.msg, e2.msg), "'%s' vs '%s'", e1.msg, e2.msg);
      if (ra == 0 || rb == 0) break;
      continue;
    }
    docs++;
    CHECKF(a.len == b.len && !memcmp(a.text, b.text, a.len), "%s: '%s' vs '%s'", a.id, a.text, b.text);
    CHECK(a.format == b.format && a.format != TM_DOC_EMAIL);
    CHECK(!strcmp(a.id, b.id) && a.timestamp == b.timestamp && a.n_meta == b.n_meta);
    for (size_t i = 0; i < a.n_meta && i < b.n_meta; i++)
      CHECKF(!strcmp(a.meta[i].key, b.meta[i].key) && !strcmp(a.meta[i].value, b.meta[i].value), "%s=%s vs %s=%s",
             a.meta[i].key, a.meta[i].value, b.meta[i].key, b.meta[i].value);
    if (!strcmp(a.id, "m1")) CHECKF(strstr(a.text, "Caf\xc3\xa9 au lait.") != NULL, "%s", a.text);
    if (!strcmp(a.id, "m2")) CHECK(a.format == TM_DOC_HTML);
  }
  CHECK(docs >= 3);
  /* a document of another format is left alone */
  tm_document_reset(&a);
  tm_document_set_text(&a, "plain", 5);
  CHECK(tm_reader_decode_email(&a, &e1) == 0 && a.format == TM_DOC_TEXT && !strcmp(a.text, "plain"));
  tm_document_free(&a);
  tm_document_free(&b);
  tm_reader_close(direct);
  tm_reader_close(deferred);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  test_edges();
  test_mutations();
  test_defer_email();
  return tm_test_finish("test_jsonl_fast");
}
