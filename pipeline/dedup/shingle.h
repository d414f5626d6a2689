/* shingle.h - text normalisation and shingle hashing for near-duplicate detection.
 *
 * A document becomes a sequence of units, then a set of 64-bit shingle hashes:
 *
 *   1. Normalise (each step configurable): lowercase (utf8proc_tolower),
 *      strip punctuation (Unicode categories P*: removed, not replaced, as
 *      FineWeb/datatrove do), digits (category Nd) become '0', whitespace
 *      (Z*, and control characters Cc) collapses to one separator.
 *   2. Units: words (maximal runs between separators). When at least
 *      cjk_fraction of the document's letters are CJK (Han, Hiragana,
 *      Katakana, Hangul: category Lo in those blocks), the units are single
 *      code points instead and separators are dropped (CJK text has no spaces).
 *   3. Shingles: every run of n consecutive units (a document with fewer than
 *      n units, but at least one, gives one shingle of all of them). Each is
 *      hashed with XXH3-64 (seeded) over its normalised UTF-8 bytes; in word
 *      mode the bytes include the single spaces between words.
 *
 * Invalid UTF-8 bytes are kept as word characters (one byte each), so no
 * input is rejected here.
 *
 * A tm_shingler owns its scratch buffers; it is reused across documents and
 * is not thread-safe (one per thread). Memory is proportional to the largest
 * document seen.
 */
#ifndef TM_DEDUP_SHINGLE_H
#define TM_DEDUP_SHINGLE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct tm_shingle_opts {
  int ngram;             /* shingle width in units (>= 1); default 5 */
  int lowercase;         /* 1: lowercase */
  int strip_punct;       /* 1: remove punctuation */
  int normalize_digits;  /* 1: every decimal digit becomes '0' */
  double cjk_fraction;   /* CJK share of letters that selects character shingles; default 0.3 */
  uint64_t seed;         /* XXH3 seed of shingle hashes */
} tm_shingle_opts;

/* The defaults above (5-grams, all normalisations on, 0.3, seed 0). */
void tm_shingle_opts_default(tm_shingle_opts *o);

typedef struct tm_shingler tm_shingler;

/* NULL on allocation failure or invalid options (ngram < 1). */
tm_shingler *tm_shingler_new(const tm_shingle_opts *o);
void tm_shingler_free(tm_shingler *s);

/* Normalise text[0..len) and hash its shingles. On success *hashes points to
 * *n hashes owned by s (valid until the next call) and *cjk says whether
 * character units were used. *n is 0 when the normalised text is empty.
 * Errors: TM_ENOMEM, TM_ELIMIT (len >= 4 GiB). */
int tm_shingler_run(tm_shingler *s, const char *text, size_t len, const uint64_t **hashes,
                    size_t *n, int *cjk, tm_error *err);

/* The normalised text of the last run (units separated by one space in word
 * mode, concatenated in character mode); owned by s. For tests and tools. */
const char *tm_shingler_normalized(const tm_shingler *s, size_t *len);

#endif
