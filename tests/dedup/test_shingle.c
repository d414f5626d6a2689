/* test_shingle.c - normalisation, units and shingle hashes (shingle.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
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

/* The normalisation of shingle.h written plainly, one code point at a time:
 * the reference for the table-driven and vector paths of shingle.c. */
static size_t ref_normalize(int lc, int punct, int digits, const uint8_t *in, size_t len,
                            char *out, int *cjk_mode) {
  int in_word = 0, any = 0;
  size_t letters = 0, cjk = 0;
  size_t w = 0;
  for (size_t i = 0; i < len;) {
    int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate(in + i, (utf8proc_ssize_t)(len - i), &cp);
    uint8_t enc[4];
    int el = 1, space = 0, skip = 0;
    if (k <= 0) {
      enc[0] = in[i++];
    } else {
      i += (size_t)k;
      utf8proc_category_t oc = utf8proc_category(cp);
      if (oc >= UTF8PROC_CATEGORY_LU && oc <= UTF8PROC_CATEGORY_LO) {
        letters++;
        cjk += (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
               (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
               (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) ||
               (cp >= 0x20000 && cp <= 0x3FFFF);
      }
      if (lc) cp = utf8proc_tolower(cp);
      utf8proc_category_t c = utf8proc_category(cp);
      space = c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL ||
              c == UTF8PROC_CATEGORY_ZP || c == UTF8PROC_CATEGORY_CC;
      skip = punct && c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
      if (digits && c == UTF8PROC_CATEGORY_ND) cp = '0';
      el = (int)utf8proc_encode_char(cp, enc);
    }
    if (space) {
      in_word = 0;
    } else if (!skip) {
      if (!in_word && any) out[w++] = ' ';
      in_word = any = 1;
      memcpy(out + w, enc, (size_t)el);
      w += (size_t)el;
    }
  }
  out[w] = 0;
  *cjk_mode = letters > 0 && cjk > 0 && (double)cjk >= 0.3 * (double)letters;
  return w;
}

/* Random text: mostly ASCII words, punctuation and whitespace of every kind,
 * with some accented letters, CJK, Unicode spaces and quotes, digits and
 * invalid bytes; long enough for the 64-byte vector path. */
static uint64_t rng = 7;
static uint64_t rnd(void) { return tm_test_xorshift(&rng); }
static size_t random_text(char *b, size_t n, int cjk_heavy) {
  static const char *const pieces[] = {" ",  "  ", "\t", "\n", "\r\n", ",", ".", "'", "-",
                                       "(",  ")",  "!",  "?",  "\"",    "0", "7", "\x01", "\x7f",
                                       "\xc3\xa9", "\xc3\x89", "\xe4\xb8\xad", "\xc2\xa0",
                                       "\xe3\x80\x80", "\xe2\x80\x99", "\xff", "\xd9\xa3",
                                       "\xe4\xb8\x80", "\xe9\xbf\xaf", "\xe9\xbf\xbf",
                                       "\xe4\xb7\xbf", "\xe5\x80", "\xe6\x96\x87"};
  size_t w = 0;
  while (w + 16 < n) {
    uint64_t r = rnd() % 100;
    if (r < (cjk_heavy ? 20u : 60u)) {
      int l = 1 + (int)(rnd() % 9);
      for (int i = 0; i < l; i++) b[w++] = (char)((rnd() % 5 ? 'a' : 'A') + rnd() % 26);
    } else if (cjk_heavy && r < (uint64_t)(20 + cjk_heavy)) {
      memcpy(b + w, "\xe4\xb8\xad", 3);
      w += 3;
    } else {
      const char *p = pieces[rnd() % (sizeof pieces / sizeof *pieces)];
      memcpy(b + w, p, strlen(p));
      w += strlen(p);
    }
  }
  return w;
}

static int matches_reference(int lc, int punct, int digits, const char *text, size_t len) {
  tm_shingler *s = make(5, lc, punct, digits);
  const uint64_t *h;
  size_t n, nl;
  int cjk;
  char *want = malloc(4 * len + 1);
  int ok = s && want && tm_shingler_run(s, text, len, &h, &n, &cjk, NULL) == 0;
  if (ok) {
    int want_cjk;
    size_t wl = ref_normalize(lc, punct, digits, (const uint8_t *)text, len, want, &want_cjk);
    ok = cjk == want_cjk;
    if (cjk) { /* character mode drops the spaces */
      size_t k = 0;
      for (size_t i = 0; i < wl; i++)
        if (want[i] != ' ') want[k++] = want[i];
      want[k] = 0;
      wl = k;
    }
    const char *got = tm_shingler_normalized(s, &nl);
    ok &= nl == wl && !memcmp(got, want, wl);
    if (ok && !cjk && n) { /* the first and last shingle hashes, from the words */
      size_t b = 0, e = 0, words = 0;
      for (size_t i = 0; i <= wl && words < 5; i++)
        if (i == wl || want[i] == ' ') e = i, words++;
      ok = h[0] == XXH3_64bits_withSeed(want + b, e, 0);
      size_t sp = wl, cnt = 0; /* start of the last five words */
      while (sp > 0 && cnt < 5) {
        sp--;
        if (want[sp] == ' ') cnt++;
      }
      if (cnt == 5) sp++;
      ok &= h[n - 1] == XXH3_64bits_withSeed(want + sp, wl - sp, 0);
    }
  }
  free(want);
  tm_shingler_free(s);
  return ok;
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

  /* the fast paths against the plain reference, on long random texts */
  static char text[20000];
  int all = 1, cjk_docs = 0;
  for (int t = 0; t < 400; t++) {
    /* every tenth text mixes in CJK, at shares around the 0.3 threshold */
    size_t len = random_text(text, 64 + rnd() % (sizeof text - 64), t % 10 == 9 ? 1 + t % 40 : 0);
    int lc = t % 7 != 3, punct = t % 5 != 2, digits = t % 3 != 1;
    int ok = matches_reference(lc, punct, digits, text, len);
    if (!ok) fprintf(stderr, "text %d (lc %d punct %d digits %d) differs\n", t, lc, punct, digits);
    all &= ok;
    cjk_docs += t % 10 == 9;
  }
  CHECK(all && cjk_docs > 0);
  /* long ASCII runs (the vector path) then CJK: the share of CJK letters
   * crosses the 0.3 that selects character mode */
  all = 1;
  for (int k = 0; k < 200; k += 3) {
    size_t l = 0;
    for (int w = 0; w < 60; w++) l += (size_t)sprintf(text + l, "Word%c, ", 'a' + w % 26);
    for (int c = 0; c < k; c++) l += (size_t)sprintf(text + l, "\xe4\xb8\xad");
    all &= matches_reference(1, 1, 1, text, l);
  }
  CHECK(all);
  /* every prefix length around the 64-byte chunks */
  size_t len = random_text(text, 400, 0);
  all = 1;
  for (size_t l = 0; l <= len; l++) all &= matches_reference(1, 1, 1, text, l);
  CHECK(all);
  return tm_test_finish("test_dedup_shingle");
}
