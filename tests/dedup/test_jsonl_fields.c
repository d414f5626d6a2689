/* test_jsonl_fields.c - "text" and "id" read in place (dedup/jsonl_fields.h)
 * equal what jansson gives, on hand-written edge cases and on random lines
 * (escapes, \u0000, surrogate pairs, repeated and escaped names, nested
 * values, numbers of every shape, the NUL-after-a-number quirk, invalid
 * strings). Lines are accepted exactly when jansson gives an object with a
 * string "text", and then give jansson's values. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup/jsonl_fields.h"
#include "tm_test.h"

static uint64_t rng = 12345;
static uint64_t rnd(void) { return tm_test_xorshift(&rng); }

static int compared;

/* Compare one line; returns 1 when both agree. */
static int same(const char *line, size_t len) {
  json_error_t je;
  json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, &je);
  json_t *text = j ? json_object_get(j, "text") : NULL;
  tm_jsonl_fields f;
  int rc = tm_jsonl_fields_parse(line, len, &f);
  if (rc < 0) return 0;
  int ok = rc == 1;
  int jok = json_is_object(j) && json_is_string(text);
  int good = 1;
  if (ok != jok) {
    good = 0;
    free(f.buf);
  } else if (ok) {
    compared++;
    good = f.text_len == json_string_length(text) &&
           !memcmp(f.text, json_string_value(text), f.text_len);
    json_t *id = json_object_get(j, "id");
    if (json_is_string(id)) {
      good &= f.id_kind == TM_JSONL_ID_STRING && f.id_len == json_string_length(id) &&
              !memcmp(f.id, json_string_value(id), f.id_len);
    } else if (json_is_integer(id)) {
      char buf[32];
      int n = snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
      good &= f.id_kind == TM_JSONL_ID_INTEGER && f.id_len == (size_t)n &&
              !memcmp(f.id, buf, (size_t)n);
    } else {
      good &= f.id_kind == TM_JSONL_ID_NONE;
    }
    free(f.buf);
  }
  json_decref(j);
  if (!good) fprintf(stderr, "differs from jansson: %.*s\n", (int)(len > 300 ? 300 : len), line);
  return good;
}

static const char *const CASES[] = {
    "{\"id\":\"a\",\"text\":\"hello world\"}",
    "{\"text\":\"x\"}",
    "{\"text\":\"x\",\"id\":7}",
    "{\"text\":\"x\",\"id\":-0}",
    "{\"text\":\"x\",\"id\":-9223372036854775808}",
    "{\"text\":\"x\",\"id\":1.5}",
    "{\"text\":\"x\",\"id\":1e3}",
    "{\"text\":\"x\",\"id\":null}",
    "{\"text\":\"x\",\"id\":true}",
    "{\"text\":\"x\",\"id\":{\"a\":[1,2,{\"b\":\"}\"}]}}",
    "{\"text\":\"x\",\"id\":[\"]\",\"\\\"\"]}",
    "{\"text\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\",\"id\":\"q\\u00e9\\ud83d\\ude00\"}",
    "{\"text\":\"nul\\u0000inside\"}",
    "{\"text\":\"first\",\"text\":\"second\"}",
    "{\"id\":\"1\",\"id\":2,\"text\":\"t\"}",
    "{\"id\":2,\"id\":\"late\",\"text\":\"t\"}",
    "{\"te\\u0078t\":\"escaped name\",\"\\u0069d\":\"i\"}",
    "{\"text\":\"t\",\"texts\":\"no\",\"ids\":\"no\",\"tex\":1}",
    "  {  \"text\" :  \"spaced\" , \"id\" : 5 }  ",
    "{\"meta\":{\"text\":\"inner\"},\"text\":\"outer\"}",
    "{\"text\":\"\"}",
    "{\"text\":\"caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87\"}",
    "{\"text\":1}",
    "{\"text\":\"x\",}",
    "[{\"text\":\"x\"}]",
    "{\"text\":\"bad \\x escape\"}",
    "{\"text\":\"x\"} trailing",
    "{\"text\":\"\xff\"}",
    "{\"id\":\"only\"}",
};

/* Append a random JSON string literal (escapes, UTF-8, \u forms). */
static size_t rand_string(char *b, int maxlen) {
  size_t n = 0;
  b[n++] = '"';
  int len = (int)(rnd() % (uint64_t)maxlen);
  for (int i = 0; i < len; i++) {
    switch (rnd() % 12) {
    case 0: n += (size_t)sprintf(b + n, "\\%c", "\"\\/bfnrt"[rnd() % 8]); break;
    case 1: n += (size_t)sprintf(b + n, "\\u%04x", (unsigned)(rnd() % 0xd800)); break;
    case 2: n += (size_t)sprintf(b + n, "\\ud83d\\ude%02x", (unsigned)(rnd() % 0x50)); break;
    case 3: n += (size_t)sprintf(b + n, "\\u0000"); break;
    case 4: n += (size_t)sprintf(b + n, "\xc3\xa9"); break;
    case 5: n += (size_t)sprintf(b + n, "\xe4\xb8\xad"); break;
    default: b[n++] = (char)('a' + rnd() % 26); break;
    }
  }
  b[n++] = '"';
  return n;
}

static size_t rand_value(char *b, int depth) {
  switch (rnd() % (depth < 2 ? 9 : 6)) {
  case 0: return rand_string(b, 20);
  case 1: return (size_t)sprintf(b, "%lld", (long long)(rnd() % 2000000) - 1000000);
  case 2: return (size_t)sprintf(b, "%d.%de%d", (int)(rnd() % 100), (int)(rnd() % 10), (int)(rnd() % 5));
  case 3: return (size_t)sprintf(b, "%s", rnd() % 2 ? "true" : "null");
  case 4: { /* a number or literal followed by jansson's skipped NUL */
    size_t n = (size_t)sprintf(b, "%d", (int)(rnd() % 100));
    b[n++] = 0;
    return n;
  }
  case 5: return rand_string(b, 60);
  case 6: {
    size_t n = 0;
    b[n++] = '[';
    int k = (int)(rnd() % 4);
    for (int i = 0; i < k; i++) {
      if (i) b[n++] = ',';
      n += rand_value(b + n, depth + 1);
    }
    b[n++] = ']';
    return n;
  }
  default: {
    size_t n = 0;
    b[n++] = '{';
    int k = (int)(rnd() % 4);
    for (int i = 0; i < k; i++) {
      if (i) b[n++] = ',';
      n += (size_t)sprintf(b + n, "\"%s\":", rnd() % 2 ? "text" : "k");
      n += rand_value(b + n, depth + 1);
    }
    b[n++] = '}';
    return n;
  }
  }
}

int main(void) {
  int all = 1;
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) all &= same(CASES[i], strlen(CASES[i]));
  CHECK(all);
  /* a NUL right after a number is skipped by jansson, nowhere else */
  static const char nul_num[] = "{\"id\":12\0,\"text\":\"t\"}";
  CHECK(same(nul_num, sizeof nul_num - 1));

  /* long plain runs (the 64-byte scans) with a special byte at every offset */
  all = 1;
  static const char *const specials[] = {"\\n", "\xc3\xa9", "\\\"", "\x01", "\xff", "\\u00e9"};
  for (int k = 0; k < 140; k++)
    for (size_t sp = 0; sp < sizeof specials / sizeof *specials; sp++) {
      char buf[512];
      int n = snprintf(buf, sizeof buf, "{\"id\":\"%.*s%s\",\"text\":\"%.*s%s%.*s\"}", k % 70,
                       "iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii",
                       specials[sp], k,
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                       specials[sp], 100,
                       "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                       "bbbbbbbbbbbbbbbbbbbbbbbbbbbb");
      all &= same(buf, (size_t)n);
    }
  CHECK(all);

  static const char *const names[] = {"text", "id", "te\\u0078t", "\\u0069d", "other", "txt"};
  static char line[1 << 16];
  all = 1;
  for (int t = 0; t < 20000; t++) {
    size_t n = 0;
    if (rnd() % 4 == 0) line[n++] = ' ';
    line[n++] = '{';
    int k = 1 + (int)(rnd() % 6);
    for (int i = 0; i < k; i++) {
      if (i) n += (size_t)sprintf(line + n, rnd() % 3 ? "," : " , ");
      n += (size_t)sprintf(line + n, "\"%s\"%s", names[rnd() % 6], rnd() % 4 ? ":" : " : ");
      n += rnd() % 3 ? rand_string(line + n, 200) : rand_value(line + n, 0);
    }
    line[n++] = '}';
    if (rnd() % 3 == 0) { /* damage one spot: most damage makes the line invalid */
      static const char *const bad[] = {"\x01", "\xff", "\xc0\x80", "\xed\xa0\x80",
                                        "\xf4\x90\x80\x80", "\\", "\"", "\\ud800",
                                        "\\udc00", "\\ud800\\u0041", "\\x", "\\u12g4",
                                        "\t", "\xe4\xb8", ",", "}", " "};
      const char *b = bad[rnd() % (sizeof bad / sizeof *bad)];
      size_t at = rnd() % n, bl = strlen(b);
      memmove(line + at + bl, line + at, n - at);
      memcpy(line + at, b, bl);
      n += bl;
    }
    all &= same(line, n);
  }
  CHECK(all);
  CHECKF(compared > 5000, "only %d lines were accepted", compared);
  return tm_test_finish("test_dedup_jsonl_fields");
}
