/* test_shingle.c - normalisation, units and shingle hashes (shingle.h). */
#include <string.h>
#include <xxhash.h>

#include "dedup/shingle.h"
#include "tm_test.h"

static tm_shingler *make(int ngram, int lc, int punct, int digits) {
  tm_shingle_opts o;
  tm_shingle_opts_default(&o);
  o.ngram = ngram;
  o.lowercase = lc;
  o.strip_punct = punct;
  o.normalize_digits = digits;
  return tm_shingler_new(&o);
}

static const char *norm(tm_shingler *s, const char *text, size_t *n, int *cjk) {
  const uint64_t *h;
  if (tm_shingler_run(s, text, strlen(text), &h, n, cjk, NULL) < 0) return "<error>";
  return tm_shingler_normalized(s, NULL);
}

int main(void) {
  tm_shingler *s = make(5, 1, 1, 1);
  size_t n;
  int cjk;
  CHECK(!strcmp(norm(s, "Hello, World!  Foo\tbar 42", &n, &cjk), "hello world foo bar 00"));
  CHECK(n == 1 && cjk == 0); /* 5 words, 5-grams: one shingle */
  CHECK(!strcmp(norm(s, "  ÉCOLE «Straße» don't\u00a0x1 ", &n, &cjk), "école straße dont x0"));
  CHECK(n == 1);
  /* punctuation and whitespace only: nothing to shingle */
  norm(s, " ... !!! ?? ", &n, &cjk);
  CHECK(n == 0);
  norm(s, "", &n, &cjk);
  CHECK(n == 0);
  /* 7 words give 3 five-grams; the first is the hash of its normalised bytes */
  const uint64_t *h;
  CHECK(tm_shingler_run(s, "a b c d e f g", 13, &h, &n, &cjk, NULL) == 0 && n == 3);
  CHECK(h[0] == XXH3_64bits_withSeed("a b c d e", 9, 0));
  CHECK(h[2] == XXH3_64bits_withSeed("c d e f g", 9, 0));
  /* case, spacing and punctuation noise do not change the shingles */
  uint64_t first[3];
  memcpy(first, h, sizeof first);
  CHECK(tm_shingler_run(s, "A  b, C d\n\ne! F g.", 19, &h, &n, &cjk, NULL) == 0 && n == 3);
  CHECK(!memcmp(first, h, sizeof first));
  /* invalid UTF-8 bytes stay as word characters */
  norm(s, "\xff\xfe abc", &n, &cjk);
  CHECK(!strcmp(tm_shingler_normalized(s, NULL), "\xff\xfe abc") && n == 1);
  /* Chinese: character units, separators and punctuation dropped */
  CHECK(!strcmp(norm(s, "中文文本，测试。 ok", &n, &cjk), "中文文本测试ok"));
  CHECK(cjk == 1 && n == 4); /* 8 characters, 5-grams */
  CHECK(tm_shingler_run(s, "中文文本测试", strlen("中文文本测试"), &h, &n, &cjk, NULL) == 0);
  CHECK(n == 2 && h[0] == XXH3_64bits_withSeed("中文文本测", strlen("中文文本测"), 0));
  /* mostly English with one CJK word stays in word mode */
  norm(s, "the report about 中文 was long and detailed in every way", &n, &cjk);
  CHECK(cjk == 0);
  tm_shingler_free(s);

  /* every normalisation can be switched off */
  s = make(2, 0, 0, 0);
  CHECK(!strcmp(norm(s, "Hello, World 42", &n, &cjk), "Hello, World 42") && n == 2);
  tm_shingler_free(s);
  CHECK(make(0, 1, 1, 1) == NULL);
  return tm_test_finish("test_dedup_shingle");
}
