/* test_json_line.c - the JSON string rules and the top-level walk
 * (pipeline/readers/json_line.h) against jansson: every string of random
 * fragments (plain runs of every length around the 8- and 64-byte steps,
 * escapes, \u forms and broken ones, UTF-8 valid and not, control bytes) is
 * valid exactly when json_loadb accepts it as a JSON string, and decodes to
 * jansson's bytes; span finds the same closing quote; equals compares
 * escaped names; the walk hands out each member of valid objects in order,
 * with its raw name and value. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readers/json_line.h"
#include "tm_test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { return tm_test_xorshift(&rng); }

static const char *const FRAG[] = {
    "\\n", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\r", "\\t", "\\u0000", "\\u00e9", "\\u4e2d",
    "\\ud83d\\ude00", "\\ud83d", "\\ude00", "\\ud83dx", "\\ud83d\\u0041", "\\uZZ12", "\\u12", "\\x",
    "\\", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
    "\xf4\x90\x80\x80", "\xff", "\xc3", "\x01", "\x1f", "\x7f", " ", "'", "\"",
};

/* A string's contents of random fragments and plain runs into b; its length. */
static size_t rand_contents(char *b) {
  size_t n = 0;
  int parts = (int)(rnd() % 8);
  for (int i = 0; i < parts; i++) {
    if (rnd() % 2) {
      size_t run = rnd() % 4 ? rnd() % 20 : rnd() % 200;
      for (size_t k = 0; k < run; k++) b[n++] = (char)('a' + rnd() % 26);
    } else {
      const char *f = FRAG[rnd() % (sizeof FRAG / sizeof *FRAG)];
      memcpy(b + n, f, strlen(f));
      n += strlen(f);
    }
  }
  return n;
}

static int str_failures;

/* The contents s[0..n) between quotes: scan and span against jansson. */
static void same_string(const char *s, size_t n) {
  char *lit = malloc(n + 2), *out = malloc(n + 1);
  lit[0] = '"';
  memcpy(lit + 1, s, n);
  lit[n + 1] = '"';
  json_error_t je;
  json_t *j = json_loadb(lit, n + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  tm_json_str st;
  const char *q = tm_json_str_scan(lit + 1, lit + n + 2, out, &st);
  int ok = q == lit + n + 1; /* ends at the last quote: the whole literal is one string */
  int good = ok == (j != NULL);
  if (good && ok) {
    good = json_is_string(j) && json_string_length(j) == st.len && !memcmp(json_string_value(j), out, st.len);
    int esc = -1;
    good &= tm_json_str_span(lit + 1, lit + n + 2, &esc) == q && esc == st.escaped;
    good &= tm_json_str_equals(lit + 1, n, st.escaped, out, st.len) == 1;
  }
  if (!good) {
    CHECKF(0, "string differs from jansson (%s): \"%.*s\"", j ? "valid" : je.text, (int)(n > 200 ? 200 : n), s);
    str_failures++;
  } else {
    tm_test_passed++;
  }
  if (!ok) CHECK(q == NULL ? st.why != NULL && st.at >= lit + 1 && st.at <= lit + n + 2 : 1);
  json_decref(j);
  free(lit);
  free(out);
}

static void strings(void) {
  char b[8192];
  for (int i = 0; i < 200000 && str_failures < 10; i++) same_string(b, rand_contents(b));
  /* one special byte at every offset of a long plain run (the 8/64-byte steps) */
  const char *special[] = {"\"", "\\n", "\x01", "\xc3\xa9", "\xff", "\\"};
  for (size_t k = 0; k < sizeof special / sizeof *special; k++)
    for (size_t at = 0; at < 140; at++) {
      size_t n = 0, sl = strlen(special[k]);
      for (size_t i = 0; i < at; i++) b[n++] = 'x';
      memcpy(b + n, special[k], sl);
      n += sl;
      for (size_t i = 0; i < 150 - at; i++) b[n++] = 'y';
      same_string(b, n);
    }
  /* no closing quote */
  tm_json_str st;
  const char *open = "abc\\\"def";
  CHECK(!tm_json_str_scan(open, open + strlen(open), NULL, &st) && st.why);
  CHECK(!tm_json_str_span(open, open + strlen(open), NULL));
  /* equals: escaped names, and long raw names that cannot match */
  const char *e = "te\\u0078t\"";
  CHECK(tm_json_str_equals(e, 9, 1, "text", 4) == 1);
  CHECK(tm_json_str_equals(e, 9, 1, "texts", 5) == 0);
  CHECK(tm_json_str_equals("text\"", 4, 0, "text", 4) == 1);
  CHECK(tm_json_str_equals("\\u0074\\u0065\\u0078\\u0074\\u0074\"", 30, 1, "text", 4) == 0);
  CHECK(tm_json_str_equals("\\x\"", 2, 1, "x", 1) == 0); /* not a valid string */
}

/* The walk over jansson-valid objects: names and kinds in order. */
static void walk(void) {
  static const char line[] =
      " { \"a\" : 1 , \"b\":\"x\\\"y\", \"c\\u0041\": {\"d\": [1, \"}\", {\"e\": \"]\"}]}, \"f\": [], "
      "\"g\": true, \"h\": -2.5e3\x00 , \"i\": null} ";
  size_t len = sizeof line - 1;
  json_error_t je;
  json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, &je);
  CHECKF(j != NULL, "the sample line is valid JSON: %s", je.text);
  json_decref(j);
  static const struct {
    const char *name, *val;
    int kind;
  } want[] = {{"a", "1", '0'},        {"b", "x\\\"y", '"'},
              {"c\\u0041", "{\"d\": [1, \"}\", {\"e\": \"]\"}]}", '{'},
              {"f", "[]", '{'},       {"g", "true", 'l'},
              {"h", "-2.5e3", '0'},   {"i", "null", 'l'}};
  tm_json_walk w;
  tm_json_member m;
  CHECK(tm_json_walk_begin(&w, line, len) == 0);
  size_t k = 0;
  int r;
  while ((r = tm_json_walk_next(&w, &m)) == 1 && k < 7) {
    CHECKF(m.name_len == strlen(want[k].name) && !memcmp(m.name, want[k].name, m.name_len) &&
               m.kind == want[k].kind && m.val_len == strlen(want[k].val) &&
               !memcmp(m.val, want[k].val, m.val_len),
           "member %zu: %.*s = %.*s", k, (int)m.name_len, m.name, (int)m.val_len, m.val);
    k++;
  }
  CHECK(r == 0 && k == 7);
  CHECK(w.p == line + len - 1); /* after the '}' */
  CHECK(tm_json_walk_next(&w, &m) == -1);
  /* shapes it does not follow */
  const char *bad[] = {"[1]", "", "{\"a\" 1}", "{\"a\":1 \"b\":2}", "{\"a\":\"open}", "{\"a\":[1,2}",
                       "{\"a\":x\"b\":1}", "{1:2}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int b = tm_json_walk_begin(&w, bad[i], strlen(bad[i]));
    while (b == 0 && (b = tm_json_walk_next(&w, &m)) == 1) b = 0;
    CHECKF(b == -1, "walk of %s ends in -1", bad[i]);
  }
  CHECK(tm_json_walk_begin(&w, "{ }", 3) == 0 && tm_json_walk_next(&w, &m) == 0);
}

int main(void) {
  strings();
  walk();
  return tm_test_finish("test_json_line");
}
