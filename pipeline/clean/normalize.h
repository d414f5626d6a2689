/* normalize.h - UTF-8 repair, Unicode normalisation and whitespace.
 *
 * Three passes, each reading one buffer and appending to another:
 *
 *  tm_utf8_repair     bytes -> valid UTF-8. Each maximal ill-formed
 *                     subsequence (Unicode 15 §3.9, as the WHATWG decoder
 *                     does) becomes one U+FFFD: overlong forms (C0, C1,
 *                     E0 80..9F, F0 80..8F), surrogates (ED A0..BF), code
 *                     points over U+10FFFF (F4 90.., F5..FF), truncated
 *                     sequences and stray continuation bytes. NUL, the other
 *                     C0 controls except TAB and LF, DEL, the C1 controls and
 *                     a leading BOM are removed; CR LF and lone CR become LF;
 *                     FF and VT become LF; NEL, U+2028 and U+2029 become LF.
 *  tm_text_normalize  NFKC (or NFC) with utf8proc. ASCII is always stable,
 *                     so only clusters around characters that may change
 *                     (those with a decomposition, a non-zero combining
 *                     class, or a part in a composition) are normalised,
 *                     together with the character before them; everything
 *                     else is copied. Input must be valid UTF-8.
 *  tm_text_whitespace runs of horizontal white space (ASCII and the Unicode
 *                     space separators) become one space, lines are trimmed,
 *                     runs of blank lines become one blank line, and the text
 *                     is trimmed.
 *
 * All return 0 or -TM_ENOMEM.
 */
#ifndef TM_NORMALIZE_H
#define TM_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "textbuf.h"

typedef enum { TM_NORM_NONE = 0, TM_NORM_NFC = 1, TM_NORM_NFKC = 2 } tm_norm_form;

typedef struct tm_repair_counts {
  uint64_t invalid;  /* U+FFFD substitutions */
  uint64_t controls; /* control characters removed */
} tm_repair_counts;

int tm_utf8_repair(const char *in, size_t n, tm_textbuf *out, tm_repair_counts *c);

/* 1 if s[0..n) is valid UTF-8 (the repair would replace nothing). */
int tm_utf8_valid(const char *s, size_t n);

/* s as a JSON string for reports and quarantine records: s itself when it
 * is UTF-8, else with each ill-formed sequence replaced by U+FFFD (and
 * control characters removed, as tm_utf8_repair does): jansson's strings must
 * be UTF-8, and a file name need not be. NULL when out of memory. */
struct json_t;
struct json_t *tm_json_text_lossy(const char *s);

/* 1 if s[0..n) has a byte >= 0x80. */
int tm_text_has_non_ascii(const char *s, size_t n);

int tm_text_normalize(const char *in, size_t n, tm_norm_form form, tm_textbuf *out);

int tm_text_whitespace(const char *in, size_t n, tm_textbuf *out);

/* 0 when tm_text_whitespace would return s unchanged (checked with a few
 * vectorised scans, to skip the pass on clean text); 1 when it may not.
 * Assumes repaired text (no CR, FF, VT). */
int tm_text_whitespace_needed(const char *s, size_t n);

/* "nfkc", "nfc", "none" -> form; -1 if unknown. */
int tm_norm_form_parse(const char *s);

#endif
