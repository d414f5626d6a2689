/* pretok.c - hand-written GPT-2 / GPT-4 pre-tokenizers (see pretok.h).
 *
 * Each function below follows its regular expression alternative by
 * alternative; the comments name the alternative a branch implements.
 * Classes of the Basic Multilingual Plane are looked up in a 64 KiB table
 * built once; the rest of Unicode asks utf8proc. */
#include "pretok.h"

#include <pthread.h>
#include <string.h>
#include <utf8proc.h>

static const char *const regex_gpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char *const regex_gpt4 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const char *tm_pretok_regex(tm_pretok_kind kind) {
  return kind == TM_PRETOK_GPT4 ? regex_gpt4 : regex_gpt2;
}

int tm_pretok_parse(const char *name) {
  if (!strcmp(name, "gpt2")) return TM_PRETOK_GPT2;
  if (!strcmp(name, "gpt4") || !strcmp(name, "cl100k")) return TM_PRETOK_GPT4;
  return -1;
}

const char *tm_pretok_name(tm_pretok_kind kind) { return kind == TM_PRETOK_GPT4 ? "gpt4" : "gpt2"; }

static int class_slow(uint32_t cp) {
  if (cp == '\r' || cp == '\n') return TM_PRETOK_WS | TM_PRETOK_NL;
  if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x85) return TM_PRETOK_WS;
  if (cp > 0x10FFFF) return 0;
  switch (utf8proc_category((utf8proc_int32_t)cp)) {
  case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: return TM_PRETOK_L;
  case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO: return TM_PRETOK_N;
  case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP: return TM_PRETOK_WS;
  default: return 0;
  }
}

static uint8_t bmp_class[65536];
static pthread_once_t bmp_once = PTHREAD_ONCE_INIT;
static void bmp_init(void) {
  for (uint32_t cp = 0; cp < 65536; cp++) bmp_class[cp] = (uint8_t)class_slow(cp);
}

int tm_pretok_class(uint32_t cp) {
  if (cp < 65536) {
    pthread_once(&bmp_once, bmp_init);
    return bmp_class[cp];
  }
  return class_slow(cp);
}

/* Decode the character at s[i] (i < n): its class, and its length in *len.
 * A byte that does not start a valid, shortest-form UTF-8 sequence is one
 * character of class 0. */
static inline int char_at(const uint8_t *s, size_t n, size_t i, size_t *len) {
  uint8_t b = s[i];
  if (b < 0x80) {
    *len = 1;
    return bmp_class[b];
  }
  uint32_t cp;
  size_t l;
  if (b >= 0xC2 && b <= 0xDF) cp = b & 0x1F, l = 2;
  else if (b >= 0xE0 && b <= 0xEF) cp = b & 0x0F, l = 3;
  else if (b >= 0xF0 && b <= 0xF4) cp = b & 0x07, l = 4;
  else goto bad;
  if (i + l > n) goto bad;
  for (size_t k = 1; k < l; k++) {
    if ((s[i + k] & 0xC0) != 0x80) goto bad;
    cp = (cp << 6) | (s[i + k] & 0x3F);
  }
  if ((l == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
      (l == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
    goto bad;
  *len = l;
  return cp < 65536 ? bmp_class[cp] : class_slow(cp);
bad:
  *len = 1;
  return 0;
}

/* End of the run of characters whose class has any bit of `any` (want=1)
 * or none of them (want=0), starting at i. */
static inline size_t run(const uint8_t *s, size_t n, size_t i, int any, int want) {
  size_t l;
  while (i < n) {
    int c = char_at(s, n, i, &l);
    if (((c & any) != 0) != want) break;
    i += l;
  }
  return i;
}

/* \s+(?!\S)|\s+ at i (s[i] is whitespace): the whole run when it ends the
 * text, else the run less its last character, or one character. */
static size_t whitespace(const uint8_t *s, size_t n, size_t i) {
  size_t k = i, last = i, l;
  while (k < n) {
    int c = char_at(s, n, k, &l);
    if (!(c & TM_PRETOK_WS)) break;
    last = k;
    k += l;
  }
  if (k == n || last == i) return k;
  return last;
}

static size_t next_gpt2(const uint8_t *s, size_t n, size_t i) {
  /* 's|'t|'re|'ve|'m|'ll|'d */
  if (s[i] == '\'' && i + 1 < n) {
    uint8_t a = s[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 < n) {
      uint8_t b = s[i + 2];
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
  }
  size_t l, j = i;
  int c = char_at(s, n, i, &l);
  if (s[i] == ' ' && i + 1 < n) { /* the optional leading space */
    size_t l2;
    int c2 = char_at(s, n, i + 1, &l2);
    if (!(c2 & TM_PRETOK_WS)) j = i + 1, c = c2;
  }
  if (c & TM_PRETOK_L) return run(s, n, j, TM_PRETOK_L, 1);  /*  ?\p{L}+ */
  if (c & TM_PRETOK_N) return run(s, n, j, TM_PRETOK_N, 1);  /*  ?\p{N}+ */
  if (!(c & TM_PRETOK_WS))                                   /*  ?[^\s\p{L}\p{N}]+ */
    return run(s, n, j, TM_PRETOK_WS | TM_PRETOK_L | TM_PRETOK_N, 0);
  return whitespace(s, n, i);
}

static int is_s_ci(const uint8_t *s, size_t n, size_t i, size_t *len) {
  if ((s[i] | 0x20) == 's') return *len = 1, 1;
  if (s[i] == 0xC5 && i + 1 < n && s[i + 1] == 0xBF) return *len = 2, 1; /* U+017F, folds to s */
  return 0;
}

static size_t next_gpt4(const uint8_t *s, size_t n, size_t i) {
  /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
  if (s[i] == '\'' && i + 1 < n) {
    uint8_t a = s[i + 1] | 0x20;
    size_t sl;
    if (a == 't' || a == 'm' || a == 'd') return i + 2;
    if (is_s_ci(s, n, i + 1, &sl)) return i + 1 + sl;
    if (i + 2 < n) {
      uint8_t b = s[i + 2] | 0x20;
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
  }
  size_t l;
  int c = char_at(s, n, i, &l);
  /* [^\r\n\p{L}\p{N}]?\p{L}+ */
  if (c & TM_PRETOK_L) return run(s, n, i, TM_PRETOK_L, 1);
  if (!(c & (TM_PRETOK_NL | TM_PRETOK_N)) && i + l < n) {
    size_t l2;
    if (char_at(s, n, i + l, &l2) & TM_PRETOK_L) return run(s, n, i + l, TM_PRETOK_L, 1);
  }
  /* \p{N}{1,3} */
  if (c & TM_PRETOK_N) {
    size_t e = i + l;
    for (int k = 1; k < 3 && e < n; k++) {
      size_t l2;
      if (!(char_at(s, n, e, &l2) & TM_PRETOK_N)) break;
      e += l2;
    }
    return e;
  }
  /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
  size_t j = i;
  int cj = c;
  if (s[i] == ' ' && i + 1 < n) {
    size_t l2;
    int c2 = char_at(s, n, i + 1, &l2);
    if (!(c2 & (TM_PRETOK_WS | TM_PRETOK_L | TM_PRETOK_N))) j = i + 1, cj = c2;
  }
  if (!(cj & (TM_PRETOK_WS | TM_PRETOK_L | TM_PRETOK_N))) {
    size_t e = run(s, n, j, TM_PRETOK_WS | TM_PRETOK_L | TM_PRETOK_N, 0);
    while (e < n && (s[e] == '\r' || s[e] == '\n')) e++;
    return e;
  }
  /* \s*[\r\n]+ : up to the end of the last newline of the whitespace run */
  size_t k = i, nl_end = 0;
  while (k < n) {
    size_t l2;
    int c2 = char_at(s, n, k, &l2);
    if (!(c2 & TM_PRETOK_WS)) break;
    k += l2;
    if (c2 & TM_PRETOK_NL) nl_end = k;
  }
  if (nl_end) return nl_end;
  return whitespace(s, n, i); /* \s+(?!\S)|\s+ */
}

size_t tm_pretok_next(tm_pretok_kind kind, const uint8_t *s, size_t n, size_t i) {
  pthread_once(&bmp_once, bmp_init);
  return kind == TM_PRETOK_GPT4 ? next_gpt4(s, n, i) : next_gpt2(s, n, i);
}

static int ascii_letter(uint8_t c) { return (uint8_t)((c | 0x20) - 'a') < 26; }

size_t tm_pretok_safe_cut(const uint8_t *s, size_t n, size_t from) {
  if (n < 3) return 0;
  if (from < 1) from = 1;
  for (size_t p = n - 2; p >= from; p--)
    if (s[p] == ' ' && ascii_letter(s[p - 1]) && ascii_letter(s[p + 1])) return p;
  return 0;
}
