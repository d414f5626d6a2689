/* words.h - script-aware word segmentation for the quality filters.
 *
 * A token is a run of non-space bytes. Its word is the token without
 * leading and trailing punctuation/symbols; a token with no letter, digit
 * or mark at all is a symbol token (counted in n_tokens, not a word). In
 * Chinese and Japanese script there are no spaces, so every Han, Hiragana
 * and Katakana character is a word of its own (and CJK punctuation a symbol
 * token): a Chinese article has as many words as characters, and its
 * n-grams are character n-grams. Hangul is written with spaces and is
 * segmented like Latin.
 *
 * Lengths are in bytes (len) and in code points (clen). Each word carries a
 * 64-bit hash of its bytes; the repetition statistics compare hashes, so two
 * different words collide with probability ~2^-64 per pair.
 *
 * At most max_words words are stored (the rest are counted in n_words and
 * n_tokens, but not kept): statistics over stored words read a bounded
 * prefix of a very long document.
 */
#ifndef TM_WORDS_H
#define TM_WORDS_H

#include <stddef.h>
#include <stdint.h>

enum { TM_WORD_ALPHA = 1, TM_WORD_CJK = 2 };

typedef struct tm_word {
  uint32_t off;   /* byte offset in the text */
  uint32_t len;   /* bytes */
  uint32_t clen;  /* code points */
  uint32_t flags; /* TM_WORD_* */
} tm_word;

typedef struct tm_words {
  tm_word *w;
  uint64_t *hash;
  size_t n, cap;       /* stored words */
  size_t max_words;    /* storage bound (0: 1,000,000) */
  uint64_t n_words;    /* all words, stored or not */
  uint64_t n_tokens;   /* words + symbol tokens */
  uint64_t n_cjk;      /* words that are CJK characters */
  uint64_t max_token_bytes; /* longest token */
} tm_words;

/* Segment text[0..n) (valid UTF-8). Reuses w's arrays. Returns 0 or
 * -TM_ENOMEM. */
int tm_words_split(tm_words *w, const char *text, size_t n);
void tm_words_free(tm_words *w);

/* 1 if the code point is Han, Hiragana or Katakana. */
int tm_is_cjk(uint32_t cp);

/* Decode one UTF-8 character at s (valid input); returns its length. */
int tm_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

#endif
