/* test_pretok.c - the hand-written pre-tokenizers split exactly as the
 * regular expressions they implement, run by PCRE2 (UTF + UCP).
 *
 * Known, listed differences: code points whose class (L, N, \s or other)
 * differs between PCRE2's Unicode tables and utf8proc's (Debian: Unicode 14
 * vs 15, and U+180E, which PCRE2 still counts as \s): counted and printed
 * below, then left out of the random strings. U+0085 (NEL) is \s in both. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pretok.h"
#include "tm_test.h"

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { return tm_test_xorshift(&rs); }

static size_t put_utf8(uint8_t *o, uint32_t cp) {
  if (cp < 0x80) return o[0] = (uint8_t)cp, 1;
  if (cp < 0x800) return o[0] = (uint8_t)(0xC0 | cp >> 6), o[1] = (uint8_t)(0x80 | (cp & 63)), 2;
  if (cp < 0x10000)
    return o[0] = (uint8_t)(0xE0 | cp >> 12), o[1] = (uint8_t)(0x80 | (cp >> 6 & 63)),
           o[2] = (uint8_t)(0x80 | (cp & 63)), 3;
  return o[0] = (uint8_t)(0xF0 | cp >> 18), o[1] = (uint8_t)(0x80 | (cp >> 12 & 63)),
         o[2] = (uint8_t)(0x80 | (cp >> 6 & 63)), o[3] = (uint8_t)(0x80 | (cp & 63)), 4;
}

static pcre2_code *compile(const char *re) {
  int ec;
  PCRE2_SIZE eo;
  pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec,
                                &eo, NULL);
  if (!c) {
    fprintf(stderr, "pcre2_compile failed at %zu\n", (size_t)eo);
    exit(1);
  }
  return c;
}

/* the class PCRE2 gives cp, in pretok.h's bits (without NL) */
static pcre2_code *re_l, *re_n, *re_s;
static pcre2_match_data *md1;
static int pcre_class(uint32_t cp) {
  uint8_t b[4];
  size_t n = put_utf8(b, cp);
  int c = 0;
  if (pcre2_match(re_l, b, n, 0, 0, md1, NULL) > 0) c |= TM_PRETOK_L;
  if (pcre2_match(re_n, b, n, 0, 0, md1, NULL) > 0) c |= TM_PRETOK_N;
  if (pcre2_match(re_s, b, n, 0, 0, md1, NULL) > 0) c |= TM_PRETOK_WS;
  return c;
}

static uint32_t *pool;
static size_t pool_n;

/* Splits of s by PCRE2 and by us must be identical. */
static int same_splits(tm_pretok_kind k, pcre2_code *re, pcre2_match_data *md, const uint8_t *s,
                       size_t n) {
  size_t i = 0;
  while (i < n) {
    /* the subject is valid UTF-8 (checked once by the caller for files):
     * skip PCRE2's whole-subject check at every offset */
    int rc = pcre2_match(re, s, n, i, PCRE2_NO_UTF_CHECK, md, NULL);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t e = tm_pretok_next(k, s, n, i);
    if (rc <= 0 || ov[0] != i || ov[1] != e) {
      fprintf(stderr, "%s: split differs at offset %zu: pcre2 [%zu,%zu) ours [%zu,%zu) in \"",
              tm_pretok_name(k), i, rc > 0 ? (size_t)ov[0] : 0, rc > 0 ? (size_t)ov[1] : 0, i, e);
      for (size_t j = i; j < n && j < i + 40; j++)
        fprintf(stderr, s[j] >= 0x20 && s[j] < 0x7F ? "%c" : "\\x%02x", s[j]);
      fprintf(stderr, "\"\n");
      return 0;
    }
    i = e;
  }
  return 1;
}

static const char *const samples[] = {
    ("Hello world! It's a test. We've got 12345 apples, they'll eat 3.14159 of them; I'm sure "
     "you'd agree.\n\nNew paragraph:\ttabs\t\tand   spaces   \n  indented line\r\nWindows line\r\n"),
    "HE'S LOUD, SHE'LL SEE, WE'RE 'QUOTED' — “smart quotes” and ‘single’… ellipsis",
    "def f(x):\n    return x**2  # comment\n\n\nclass A:\n\tpass\n",
    "日本語のテキスト、中文文本。한국어 텍스트! Ελληνικά κείμενα; русский текст: ١٢٣ ٤٥٦",
    "emoji 😀😃 🇫🇷 flags, math ∑∫ ≤ ≥, numbers ½ ¾ Ⅻ ①②③ 𝟙𝟚",
    "   leading spaces and trailing   ",
    "\n\n\n", " ", "", "a", "'", "'s", "''s", "'ſ", "x'S", "ǅungla ǈ ǋ",
    "mixed\u00a0nbsp\u2003em\u3000ideographic\u2028ls\u2029ps",
    "1234567890 12 123 1234 12345", "price: $1,234.56 (approx.) [ok] {x} <y> @z #w",
    "line one\n\nline two\n \n \nline three   \n\t\n",
};

/* Compare the splits of a whole file (the sample corpus, see
 * test_pretok_sample.sh); PCRE2 needs valid UTF-8, which the sample is. */
static void check_file(const char *path, pcre2_code *const re[2], pcre2_match_data *md) {
  FILE *f = fopen(path, "rb");
  CHECKF(f != NULL, "cannot open %s", path);
  if (!f) return;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  CHECK(fread(b, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  /* a match or PCRE2_ERROR_NOMATCH (-1); UTF-8 errors are -3 and below */
  int valid = pcre2_match(re[0], b, (size_t)n, 0, 0, md, NULL) >= PCRE2_ERROR_NOMATCH;
  CHECKF(valid, "%s is not valid UTF-8", path);
  for (int k = 0; valid && k < 2; k++)
    CHECKF(same_splits((tm_pretok_kind)k, re[k], md, b, (size_t)n), "%s", path);
  if (valid) printf("pretok: %s: %ld bytes compared with PCRE2 under both patterns\n", path, n);
  free(b);
}

int main(int argc, char **argv) {
  re_l = compile("^\\p{L}$");
  re_n = compile("^\\p{N}$");
  re_s = compile("^\\s$");
  md1 = pcre2_match_data_create(4, NULL);
  pool = malloc(0x110000 * sizeof *pool);
  size_t differ = 0;
  char listed[512] = "";
  for (uint32_t cp = 1; cp < 0x110000; cp++) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    int ours = tm_pretok_class(cp) & ~TM_PRETOK_NL;
    int theirs = pcre_class(cp);
    if (cp == 0x85) CHECK(ours == TM_PRETOK_WS && theirs == TM_PRETOK_WS);
    if (ours != theirs) {
      if (differ < 24) {
        size_t l = strlen(listed);
        snprintf(listed + l, sizeof listed - l, " U+%04X", cp);
      }
      differ++;
      continue;
    }
    pool[pool_n++] = cp;
  }
  printf("pretok: %zu code points classed differently by PCRE2 (Unicode %s tables) and utf8proc "
         "%s, left out:%s%s\n", differ, "14", "15", listed, differ > 24 ? " ..." : "");
  /* the tables are old vs new Unicode: a few thousand newly assigned
   * characters at most, never a whole class */
  CHECK(differ < 10000);

  pcre2_code *re[2] = {compile(tm_pretok_regex(TM_PRETOK_GPT2)),
                       compile(tm_pretok_regex(TM_PRETOK_GPT4))};
  pcre2_match_data *md = pcre2_match_data_create(4, NULL);
  for (int i = 1; i < argc; i++) check_file(argv[i], re, md);
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++)
      CHECK(same_splits((tm_pretok_kind)k, re[k], md, (const uint8_t *)samples[i],
                        strlen(samples[i])));

  /* random strings, built from characters that stress the patterns */
  static const uint32_t special[] = {' ', ' ', ' ', '\n', '\r', '\t', '\'', '\'', 's', 'S', 't',
                                     'r', 'e', 'v', 'l', 'L', 'm', 'd', 'D', '0', '7', 0xA0,
                                     0x3000, 0x2028, 0x17F, 0x85, '.', '!', '-', 0x0661, 0xBD, 0x2167};
  uint8_t buf[512];
  int failures = 0;
  for (int iter = 0; iter < 20000 && failures < 5; iter++) {
    size_t n = 0, want = rnd() % 120;
    while (n + 4 < sizeof buf && want--) {
      uint32_t cp;
      uint64_t r = rnd() % 10;
      if (r < 4) cp = special[rnd() % (sizeof special / sizeof *special)];
      else if (r < 7) cp = 0x20 + (uint32_t)(rnd() % 0x5F);
      else cp = pool[rnd() % pool_n];
      n += put_utf8(buf + n, cp);
    }
    for (int k = 0; k < 2; k++) {
      int ok = same_splits((tm_pretok_kind)k, re[k], md, buf, n);
      CHECK(ok);
      failures += !ok;
    }
  }
  /* tm_pretok_safe_cut: cutting there never changes the pre-tokens */
  for (int iter = 0; iter < 3000; iter++) {
    size_t n = 0, want = rnd() % 60;
    static const char *const bits[] = {"a", "b", " ", "  ", "'s", "x", "\n", "1", ".", "\xc3\xa9"};
    while (want-- && n + 3 < sizeof buf) {
      const char *b = bits[rnd() % 10];
      memcpy(buf + n, b, strlen(b));
      n += strlen(b);
    }
    for (int k = 0; k < 2; k++) {
      size_t whole[256], nw = 0;
      for (size_t i = 0, e; i < n && nw < 256; i = e) whole[nw++] = e = tm_pretok_next((tm_pretok_kind)k, buf, n, i);
      for (size_t p = n; (p = tm_pretok_safe_cut(buf, p, 0)) > 0;) {
        int found = 0; /* p must be a boundary of the whole text's split */
        for (size_t q = 0; q < nw; q++) found |= whole[q] == p;
        size_t i = 0, e = 0, q = 0;
        int same = found;
        for (; same && i < p; i = e, q++) same = (e = tm_pretok_next((tm_pretok_kind)k, buf, p, i)) == whole[q];
        for (i = p; same && i < n; i = e, q++) /* the rest as a text of its own */
          same = (e = p + tm_pretok_next((tm_pretok_kind)k, buf + p, n - p, i - p)) == whole[q];
        CHECK(same);
      }
    }
  }

  /* invalid UTF-8: every byte covered exactly once, no byte lost */
  for (int iter = 0; iter < 2000; iter++) {
    size_t n = rnd() % 64;
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rnd();
    for (int k = 0; k < 2; k++) {
      size_t i = 0, steps = 0;
      while (i < n && steps++ <= n) {
        size_t e = tm_pretok_next((tm_pretok_kind)k, buf, n, i);
        if (e <= i || e > n) break;
        i = e;
      }
      CHECK(i == n);
    }
  }
  pcre2_match_data_free(md);
  pcre2_match_data_free(md1);
  for (int k = 0; k < 2; k++) pcre2_code_free(re[k]);
  pcre2_code_free(re_l), pcre2_code_free(re_n), pcre2_code_free(re_s);
  free(pool);
  return tm_test_finish("test_pretok");
}
