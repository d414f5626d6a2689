/* shingle.c - normalisation and shingle hashing; see shingle.h.
 *
 * One pass normalises into word mode (units separated by single spaces) and
 * counts letters and CJK letters; the word units are then found at the
 * spaces. When the document is CJK, a second pass compacts the buffer in
 * place (drops the spaces) and re-splits it into code points. ASCII bytes
 * go through a 128-entry class table built from the same Unicode
 * categories, so the common case never calls utf8proc; with AVX-512 VBMI2,
 * 64 ASCII bytes at a time (normalize_chunk). */
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
  /* the same for the vector path: replacement bytes, and class | letter << 2 */
  uint8_t vmap[128], vcls[128];
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
    s->vmap[b] = (uint8_t)m;
    s->vcls[b] = (uint8_t)(cls | is_letter(b) << 2);
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

#if defined(__AVX512VBMI2__) && defined(__AVX512BW__) && !defined(TM_SHINGLE_PORTABLE) /* tests */
#include <immintrin.h>
#define HAVE_VBMI2 1
/* 64 ASCII bytes at once (AVX-512 VBMI/VBMI2), the same output as the
 * byte loop: classes and replacement bytes from two 128-entry tables
 * (vpermi2b), skipped bytes (punctuation) compressed away, then in the
 * remaining stream of word bytes (C) and space bytes (S) a single ' ' is
 * written for the last S before a C when some word came before it, and the
 * S bytes are dropped. *in_word and *any_word carry the state from chunk to
 * chunk; a ' ' owed at the start of this chunk (the previous one ended in
 * spaces after a word) is written first. Returns the bytes written. */
static size_t normalize_chunk(const tm_shingler *s, const uint8_t *in, uint8_t *out,
                              int *in_word, int *any_word, size_t *letters) {
  const __m512i x = _mm512_loadu_si512((const void *)in);
  const __m512i m0 = _mm512_loadu_si512((const void *)s->vmap);
  const __m512i m1 = _mm512_loadu_si512((const void *)(s->vmap + 64));
  const __m512i c0 = _mm512_loadu_si512((const void *)s->vcls);
  const __m512i c1 = _mm512_loadu_si512((const void *)(s->vcls + 64));
  __m512i cls = _mm512_permutex2var_epi8(c0, x, c1);
  __m512i map = _mm512_permutex2var_epi8(m0, x, m1);
  const __m512i three = _mm512_set1_epi8(3);
  __mmask64 lett = _mm512_test_epi8_mask(cls, _mm512_set1_epi8(4));
  __m512i k = _mm512_and_si512(cls, three);
  __mmask64 isc = _mm512_cmpeq_epi8_mask(k, _mm512_setzero_si512());
  __mmask64 iss = _mm512_cmpeq_epi8_mask(k, _mm512_set1_epi8(C_SPACE));
  *letters += (size_t)__builtin_popcountll(lett);
  /* the kept stream: C and S bytes, in order */
  __mmask64 keep = isc | iss;
  unsigned nk = (unsigned)__builtin_popcountll(keep);
  if (!nk) return 0;
  __m512i kc = _mm512_maskz_compress_epi8(keep, k);
  __m512i km = _mm512_maskz_compress_epi8(keep, map);
  __mmask64 valid = nk == 64 ? ~(__mmask64)0 : ((__mmask64)1 << nk) - 1;
  __mmask64 C = _mm512_mask_cmpeq_epi8_mask(valid, kc, _mm512_setzero_si512());
  __mmask64 S = valid & ~C;
  size_t w = 0;
  if ((C & 1) && !*in_word && *any_word) out[w++] = ' '; /* owed from the last chunk */
  /* an S followed by a C, with a word before it */
  __mmask64 sp = S & (C >> 1);
  if (!*any_word) sp &= C ? ~(((C & -C) << 1) - 1) : 0;
  __mmask64 emit = C | sp;
  __m512i o = _mm512_mask_mov_epi8(km, sp, _mm512_set1_epi8(' '));
  _mm512_storeu_si512((void *)(out + w), _mm512_maskz_compress_epi8(emit, o));
  w += (size_t)__builtin_popcountll(emit);
  *in_word = (int)((C >> (nk - 1)) & 1);
  *any_word |= C != 0;
  return w;
}
#endif

/* Word mode: the units are the runs between the single spaces of the
 * normalised text (no word byte is 0x20: ASCII space is a separator, and
 * UTF-8 sequences and kept invalid bytes are >= 0x80). */
static size_t split_words(tm_shingler *s) {
  const char *p = s->norm;
  const size_t n = s->norm_len;
  if (!n) return 0;
  size_t nu = 0, start = 0, i = 0;
#ifdef HAVE_VBMI2
  for (; i + 64 <= n; i += 64) { /* the spaces of 64 bytes as a bit mask */
    uint64_t m = _mm512_cmpeq_epi8_mask(_mm512_loadu_si512((const void *)(p + i)),
                                        _mm512_set1_epi8(' '));
    while (m) {
      size_t e = i + (size_t)__builtin_ctzll(m);
      m &= m - 1;
      s->ustart[nu] = (uint32_t)start;
      s->uend[nu++] = (uint32_t)e;
      start = e + 1;
    }
  }
#endif
  for (; i < n; i++)
    if (p[i] == ' ') {
      s->ustart[nu] = (uint32_t)start;
      s->uend[nu++] = (uint32_t)i;
      start = i + 1;
    }
  s->ustart[nu] = (uint32_t)start;
  s->uend[nu++] = (uint32_t)n;
  return nu;
}

/* Pass 1: word-mode normalisation into norm (words separated by single
 * spaces, none leading or trailing); counts letters and CJK letters; the
 * units come from split_words. Output is never longer than 4 bytes per input
 * byte (a lowercased code point can be longer than its capital in UTF-8, but
 * never more than 4 bytes from 1); the vector path writes up to 65 bytes for
 * 64 (its 64-byte store may reach past the output, within norm's extra
 * room). */
static void normalize_words(tm_shingler *s, const uint8_t *in, size_t len, size_t *letters,
                            size_t *cjk) {
  uint8_t *out = (uint8_t *)s->norm;
  size_t nl = 0, nc = 0;
  int in_word = 0, any_word = 0;
  size_t i = 0;
  while (i < len) {
#ifdef HAVE_VBMI2
    if (len - i >= 64 && !_mm512_movepi8_mask(_mm512_loadu_si512((const void *)(in + i)))) {
      out += normalize_chunk(s, in + i, out, &in_word, &any_word, &nl);
      i += 64;
      continue;
    }
    /* a chunk with a non-ASCII byte (or the tail): byte by byte up to its end */
    size_t stop = len - i >= 64 ? i + 64 : len;
#else
    size_t stop = len;
#endif
    while (i < stop) {
      uint8_t b = in[i];
      if (b < 128) { /* one table lookup per byte */
        i++;
        unsigned e = s->ascii[b];
        if ((e >> 8 & 3) == C_CHAR) {
          if (!in_word) {
            if (any_word) *out++ = ' ';
            in_word = any_word = 1;
          }
          *out++ = (uint8_t)e;
          nl += e >> 10;
          /* the rest of an ASCII word run without leaving the loop */
          while (i < len && in[i] < 128 && ((e = s->ascii[in[i]]) >> 8 & 3) == C_CHAR) {
            *out++ = (uint8_t)e;
            nl += e >> 10;
            i++;
          }
        } else if ((e >> 8 & 3) == C_SPACE) {
          in_word = 0;
        }
        continue;
      }
      if (b >= 0xE4 && b <= 0xE9 && len - i >= 3 && (in[i + 1] & 0xC0) == 0x80 &&
          (in[i + 2] & 0xC0) == 0x80) {
        /* CJK Unified Ideographs U+4E00..U+9FEF (assigned since Unicode 11):
         * letters (Lo), CJK, no case; what utf8proc says, without asking it */
        uint32_t c3 = (uint32_t)(b & 0x0F) << 12 | (uint32_t)(in[i + 1] & 0x3F) << 6 |
                      (uint32_t)(in[i + 2] & 0x3F);
        if (c3 >= 0x4E00 && c3 <= 0x9FEF) {
          if (!in_word) {
            if (any_word) *out++ = ' ';
            in_word = any_word = 1;
          }
          memcpy(out, in + i, 3);
          out += 3;
          i += 3;
          nl++;
          nc++;
          continue;
        }
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
        in_word = 0;
      } else if (cls == C_CHAR) {
        if (!in_word) {
          if (any_word) *out++ = ' ';
          in_word = any_word = 1;
        }
        for (int e = 0; e < elen; e++) *out++ = enc[e];
      }
    }
  }
  *letters = nl;
  *cjk = nc;
  s->norm_len = (size_t)(out - (uint8_t *)s->norm);
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
  if (reserve((void **)&s->norm, &s->norm_cap, 4 * len + 65, 1) < 0 ||
      reserve_units(s, len + 1) < 0)
    return tm_err(err, TM_ENOMEM, "shingling a document of %zu bytes", len);
  size_t letters, ncjk;
  normalize_words(s, (const uint8_t *)text, len, &letters, &ncjk);
  int char_mode = letters > 0 && (double)ncjk >= s->o.cjk_fraction * (double)letters && ncjk > 0;
  size_t nu = char_mode ? split_chars(s) : split_words(s);
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
