/* words.c - word segmentation; see words.h. */
#include "words.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#define XXH_INLINE_ALL /* short keys: inlined hashing is much faster */
#include <xxhash.h>

#include "error.h"

int tm_is_cjk(uint32_t cp) {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
         (cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0xf900 && cp <= 0xfaff) ||
         (cp >= 0x31f0 && cp <= 0x31ff) || (cp >= 0x20000 && cp <= 0x2ffff);
}

int tm_utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned c = s[0];
  if (c < 0x80 || n < 2) {
    *cp = c;
    return 1;
  }
  if (c < 0xe0) {
    *cp = ((c & 0x1fu) << 6) | (s[1] & 0x3fu);
    return 2;
  }
  if (c < 0xf0 || n < 4) {
    if (n < 3) {
      *cp = 0xfffd;
      return (int)n;
    }
    *cp = ((c & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
    return 3;
  }
  *cp = ((c & 0x07u) << 18) | ((s[1] & 0x3fu) << 12) | ((s[2] & 0x3fu) << 6) | (s[3] & 0x3fu);
  return 4;
}

/* ASCII classes: 1 word character (letter/digit), 2 letter, 4 space */
static unsigned char cls[128];
static pthread_once_t cls_once = PTHREAD_ONCE_INIT;
static void init_cls(void) {
  for (int c = 'a'; c <= 'z'; c++) cls[c] = 3;
  for (int c = 'A'; c <= 'Z'; c++) cls[c] = 3;
  for (int c = '0'; c <= '9'; c++) cls[c] = 1;
  cls[' '] = cls['\n'] = cls['\t'] = cls['\r'] = 4;
}

/* class of a non-ASCII code point: 1 word char, 3 letter, 0 punctuation/symbol */
static int ucls(uint32_t cp) {
  switch (utf8proc_category((utf8proc_int32_t)cp)) {
  case UTF8PROC_CATEGORY_LU:
  case UTF8PROC_CATEGORY_LL:
  case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM:
  case UTF8PROC_CATEGORY_LO: return 3;
  case UTF8PROC_CATEGORY_MN:
  case UTF8PROC_CATEGORY_MC:
  case UTF8PROC_CATEGORY_ME:
  case UTF8PROC_CATEGORY_ND:
  case UTF8PROC_CATEGORY_NL:
  case UTF8PROC_CATEGORY_NO: return 1;
  case UTF8PROC_CATEGORY_ZS: return 4;
  default: return 0;
  }
}

/* 64-bit hash of a word: short words (most of them) by a multiply-xorshift
 * of their bytes, longer ones by XXH3. */
static inline uint64_t word_hash(const char *s, size_t n, size_t avail) {
  if (n > 8) return XXH3_64bits(s, n);
  uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (avail >= 8) { /* one 8-byte load, the bytes past the word masked off (they are the high ones) */
    memcpy(&v, s, 8);
    v &= n == 8 ? ~0ull : ((1ull << (8 * n)) - 1);
  } else {
    memcpy(&v, s, n);
  }
#else
  (void)avail;
  memcpy(&v, s, n);
#endif
  v ^= (uint64_t)n << 59;
  v *= 0x9e3779b97f4a7c15ull;
  v ^= v >> 32;
  v *= 0xd6e8feb86659fd93ull;
  return v ^ (v >> 32);
}

static int grow(tm_words *w) {
  size_t cap = w->cap ? w->cap * 2 : 1024;
  tm_word *nw = realloc(w->w, cap * sizeof *nw);
  if (!nw) return -TM_ENOMEM;
  w->w = nw;
  uint64_t *nh = realloc(w->hash, cap * sizeof *nh);
  if (!nh) return -TM_ENOMEM;
  w->hash = nh;
  w->cap = cap;
  return 0;
}

static inline int push(tm_words *w, const char *text, size_t off, size_t len, size_t clen, int flags,
                       size_t total) {
  w->n_words++;
  size_t max = w->max_words ? w->max_words : 1000000;
  if (w->n >= max) return 0;
  if (w->n == w->cap && grow(w) < 0) return -TM_ENOMEM;
  w->w[w->n] = (tm_word){(uint32_t)off, (uint32_t)len, (uint32_t)clen, (uint32_t)flags};
  w->hash[w->n] = word_hash(text + off, len, total - off);
  w->n++;
  return 0;
}

int tm_words_split(tm_words *w, const char *text, size_t n) {
  pthread_once(&cls_once, init_cls);
  const unsigned char *s = (const unsigned char *)text;
  w->n = 0;
  w->n_words = w->n_tokens = w->n_cjk = w->max_token_bytes = 0;
  size_t i = 0;
  while (i < n) {
    /* skip spaces */
    while (i < n) {
      if (s[i] < 0x80) {
        if (cls[s[i]] != 4) break;
        i++;
      } else {
        uint32_t cp;
        int k = tm_utf8_next(s + i, n - i, &cp);
        if (tm_is_cjk(cp) || ucls(cp) != 4) break;
        i += (size_t)k;
      }
    }
    if (i >= n) break;
    size_t tok = i;
    /* fast path: an all-ASCII token (most of them) in one tight loop */
    {
      unsigned acc = 0;
      size_t j = i;
      while (j < n && s[j] < 0x80 && cls[s[j]] != 4) acc |= cls[s[j++]];
      if (j >= n || s[j] < 0x80) {
        if (j - tok > w->max_token_bytes) w->max_token_bytes = j - tok;
        w->n_tokens++;
        if (acc & 1) { /* has a letter or digit: strip punctuation at both ends */
          size_t a = tok, z = j;
          while (!(cls[s[a]] & 1)) a++;
          while (!(cls[s[z - 1]] & 1)) z--;
          if (push(w, text, a, z - a, z - a, (acc & 2) ? TM_WORD_ALPHA : 0, n) < 0) return -TM_ENOMEM;
        }
        i = j;
        continue;
      }
    }
    /* a token: track the first and last word character, flush at CJK */
    size_t first = SIZE_MAX, last_end = 0, clen = 0, clen_at_first = 0, clen_at_last = 0;
    int alpha = 0;
    while (i < n) {
      uint32_t cp;
      int k, c;
      if (s[i] < 0x80) {
        c = cls[s[i]];
        if (c == 4) break;
        k = 1;
      } else {
        k = tm_utf8_next(s + i, n - i, &cp);
        if (tm_is_cjk(cp)) {
          /* close the word so far, then the character is a word */
          if (first != SIZE_MAX) {
            if (push(w, text, first, last_end - first, clen_at_last - clen_at_first,
                     alpha ? TM_WORD_ALPHA : 0, n) < 0)
              return -TM_ENOMEM;
            w->n_tokens++;
          }
          if (push(w, text, i, (size_t)k, 1, TM_WORD_ALPHA | TM_WORD_CJK, n) < 0) return -TM_ENOMEM;
          w->n_tokens++;
          w->n_cjk++;
          i += (size_t)k;
          first = SIZE_MAX;
          alpha = 0;
          clen = 0;
          tok = i;
          continue;
        }
        c = ucls(cp);
        if (c == 4) break;
      }
      if (c) {
        if (first == SIZE_MAX) first = i, clen_at_first = clen;
        last_end = i + (size_t)k;
        clen_at_last = clen + 1;
        if (c == 3) alpha = 1;
      }
      clen++;
      i += (size_t)k;
    }
    if (i - tok > w->max_token_bytes) w->max_token_bytes = i - tok;
    if (i > tok || first != SIZE_MAX) {
      if (first != SIZE_MAX) {
        if (push(w, text, first, last_end - first, clen_at_last - clen_at_first,
                 alpha ? TM_WORD_ALPHA : 0, n) < 0)
          return -TM_ENOMEM;
        w->n_tokens++;
      } else if (i > tok) {
        w->n_tokens++; /* a symbol token */
      }
    }
  }
  return 0;
}

void tm_words_free(tm_words *w) {
  free(w->w);
  free(w->hash);
  memset(w, 0, sizeof *w);
}
