/* shingle.c - normalisation and shingle hashing; see shingle.h.
 *
 * One pass normalises into word mode (units separated by single spaces) and
 * counts letters and CJK letters. When the document is CJK, a second pass
 * compacts the buffer in place (drops the spaces) and re-splits it into code
 * points. ASCII bytes go through a 256-entry class table built from the same
 * Unicode categories, so the common case never calls utf8proc. */
#include "shingle.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

enum { C_CHAR = 0, C_SPACE = 1, C_SKIP = 2 };

struct tm_shingler {
  tm_shingle_opts o;
  /* per ASCII byte, one load: bits 0-7 the replacement byte (lowercase,
   * '0'), bits 8-9 the class, bit 10 set for letters */
  uint16_t ascii[128];
  char *norm;
  size_t norm_len, norm_cap;
  uint32_t *ustart, *uend;
  size_t ucap;
  uint64_t *hash;
  size_t hcap;
};

void tm_shingle_opts_default(tm_shingle_opts *o) {
  o->ngram = 5;
  o->lowercase = 1;
  o->strip_punct = 1;
  o->normalize_digits = 1;
  o->cjk_fraction = 0.3;
  o->seed = 0;
}

/* Normalised form of one code point: the class, and (for C_CHAR) the code
 * point to write. */
static int classify(const tm_shingle_opts *o, int32_t cp, int32_t *out) {
  if (o->lowercase) cp = utf8proc_tolower(cp);
  utf8proc_category_t c = utf8proc_category(cp);
  *out = cp;
  switch (c) {
  case UTF8PROC_CATEGORY_ZS:
  case UTF8PROC_CATEGORY_ZL:
  case UTF8PROC_CATEGORY_ZP:
  case UTF8PROC_CATEGORY_CC: return C_SPACE;
  case UTF8PROC_CATEGORY_PC:
  case UTF8PROC_CATEGORY_PD:
  case UTF8PROC_CATEGORY_PS:
  case UTF8PROC_CATEGORY_PE:
  case UTF8PROC_CATEGORY_PI:
  case UTF8PROC_CATEGORY_PF:
  case UTF8PROC_CATEGORY_PO: return o->strip_punct ? C_SKIP : C_CHAR;
  case UTF8PROC_CATEGORY_ND:
    if (o->normalize_digits) *out = '0';
    return C_CHAR;
  default: return C_CHAR;
  }
}

static int is_letter(int32_t cp) {
  utf8proc_category_t c = utf8proc_category(cp);
  return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

static int is_cjk(int32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) ||
         (cp >= 0x20000 && cp <= 0x3FFFF);
}

tm_shingler *tm_shingler_new(const tm_shingle_opts *o) {
  if (!o || o->ngram < 1) return NULL;
  tm_shingler *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->o = *o;
  for (int b = 0; b < 128; b++) {
    int32_t m;
    int cls = classify(o, b, &m);
    s->ascii[b] = (uint16_t)((uint8_t)m | cls << 8 | is_letter(b) << 10);
  }
  return s;
}

void tm_shingler_free(tm_shingler *s) {
  if (!s) return;
  free(s->norm);
  free(s->ustart);
  free(s->uend);
  free(s->hash);
  free(s);
}

static int reserve(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 256;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * elem);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

/* Grow the unit arrays (they share one capacity). */
static int reserve_units(tm_shingler *s, size_t need) {
  if (need <= s->ucap) return 0;
  size_t c = s->ucap ? s->ucap : 256;
  while (c < need) c *= 2;
  uint32_t *a = realloc(s->ustart, c * sizeof *a);
  if (!a) return -1;
  s->ustart = a;
  uint32_t *b = realloc(s->uend, c * sizeof *b);
  if (!b) return -1;
  s->uend = b;
  s->ucap = c;
  return 0;
}

/* Pass 1: word-mode normalisation. Fills norm and the word units; counts
 * letters and CJK letters. Output is never longer than 4 bytes per input
 * byte (a lowercased code point can be longer than its capital in UTF-8, but
 * never more than 4 bytes from 1). */
static size_t normalize_words(tm_shingler *s, const uint8_t *in, size_t len, size_t *letters,
                              size_t *cjk) {
  uint8_t *out = (uint8_t *)s->norm, *const o0 = out;
  uint32_t *const us = s->ustart, *const ue = s->uend;
  size_t nu = 0, nl = 0, nc = 0;
  int in_word = 0;
  size_t i = 0;
  while (i < len) {
    uint8_t b = in[i];
    if (b < 128) { /* the common case: one table lookup per byte */
      i++;
      unsigned e = s->ascii[b];
      if ((e >> 8 & 3) == C_CHAR) {
        if (!in_word) {
          if (nu) *out++ = ' ';
          us[nu++] = (uint32_t)(out - o0);
          in_word = 1;
        }
        *out++ = (uint8_t)e;
        nl += e >> 10;
        /* the rest of an ASCII word run without leaving the loop */
        while (i < len && in[i] < 128 && ((e = s->ascii[in[i]]) >> 8 & 3) == C_CHAR) {
          *out++ = (uint8_t)e;
          nl += e >> 10;
          i++;
        }
      } else if ((e >> 8 & 3) == C_SPACE && in_word) {
        ue[nu - 1] = (uint32_t)(out - o0);
        in_word = 0;
      }
      continue;
    }
    int32_t cp, m;
    uint8_t enc[4];
    int cls, elen = 1;
    utf8proc_ssize_t k = utf8proc_iterate(in + i, (utf8proc_ssize_t)(len - i), &cp);
    if (k <= 0) { /* invalid byte: keep it as one word character */
      cls = C_CHAR;
      enc[0] = b;
      i++;
    } else {
      i += (size_t)k;
      cls = classify(&s->o, cp, &m);
      if (is_letter(cp)) {
        nl++;
        nc += is_cjk(cp);
      }
      if (cls == C_CHAR) elen = (int)utf8proc_encode_char(m, enc);
    }
    if (cls == C_SPACE) {
      if (in_word) ue[nu - 1] = (uint32_t)(out - o0);
      in_word = 0;
    } else if (cls == C_CHAR) {
      if (!in_word) {
        if (nu) *out++ = ' ';
        us[nu++] = (uint32_t)(out - o0);
        in_word = 1;
      }
      for (int e = 0; e < elen; e++) *out++ = enc[e];
    }
  }
  if (in_word) ue[nu - 1] = (uint32_t)(out - o0);
  *letters = nl;
  *cjk = nc;
  s->norm_len = (size_t)(out - o0);
  return nu;
}

/* Pass 2 (CJK documents): drop the separators and make every code point a
 * unit. */
static size_t split_chars(tm_shingler *s) {
  uint8_t *p = (uint8_t *)s->norm;
  size_t w = 0;
  for (size_t r = 0; r < s->norm_len; r++)
    if (p[r] != ' ') p[w++] = p[r];
  s->norm_len = w;
  size_t nu = 0;
  for (size_t i = 0; i < w;) {
    size_t k = 1;
    if (p[i] >= 0xC0) {
      size_t want = p[i] >= 0xF0 ? 4 : p[i] >= 0xE0 ? 3 : 2;
      while (k < want && i + k < w && (p[i + k] & 0xC0) == 0x80) k++;
      if (k != want) k = 1;
    }
    s->ustart[nu] = (uint32_t)i;
    s->uend[nu] = (uint32_t)(i + k);
    nu++;
    i += k;
  }
  return nu;
}

int tm_shingler_run(tm_shingler *s, const char *text, size_t len, const uint64_t **hashes,
                    size_t *n, int *cjk, tm_error *err) {
  *hashes = NULL;
  *n = 0;
  if (cjk) *cjk = 0;
  if (len >= (size_t)UINT32_MAX / 4)
    return tm_err(err, TM_ELIMIT, "document of %zu bytes is too large for shingling", len);
  /* a unit needs at least one input byte, so len bounds both arrays */
  if (reserve((void **)&s->norm, &s->norm_cap, 4 * len + 1, 1) < 0 ||
      reserve_units(s, len + 1) < 0)
    return tm_err(err, TM_ENOMEM, "shingling a document of %zu bytes", len);
  size_t letters, ncjk;
  size_t nu = normalize_words(s, (const uint8_t *)text, len, &letters, &ncjk);
  int char_mode = letters > 0 && (double)ncjk >= s->o.cjk_fraction * (double)letters && ncjk > 0;
  if (char_mode) nu = split_chars(s);
  s->norm[s->norm_len] = 0;
  if (cjk) *cjk = char_mode;
  if (nu == 0) return 0;
  size_t g = (size_t)s->o.ngram;
  size_t nh = nu >= g ? nu - g + 1 : 1;
  if (g > nu) g = nu;
  if (reserve((void **)&s->hash, &s->hcap, nh, sizeof *s->hash) < 0)
    return tm_err(err, TM_ENOMEM, "shingling a document of %zu bytes", len);
  for (size_t i = 0; i < nh; i++) {
    uint32_t a = s->ustart[i], b = s->uend[i + g - 1];
    s->hash[i] = XXH3_64bits_withSeed(s->norm + a, b - a, s->o.seed);
  }
  *hashes = s->hash;
  *n = nh;
  return 0;
}

const char *tm_shingler_normalized(const tm_shingler *s, size_t *len) {
  if (len) *len = s->norm_len;
  return s->norm ? s->norm : "";
}
