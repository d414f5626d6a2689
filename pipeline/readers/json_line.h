/* json_line.h - JSON string rules and the walk of a JSONL line, in one place.
 *
 * Three hot paths read JSONL lines without building jansson trees: the
 * daemon's check of posted lines (serve), the reader's text field (build,
 * clean, the serve spool: readers/jsonl_fast.c) and `tokenmill dedup`'s text
 * and id (dedup/jsonl_fields.c). Each must agree with what the reader's
 * json_loadb(line, len, JSON_ALLOW_NUL) accepts, so the rules live here once:
 *
 *   strings  strict UTF-8 (no overlong forms, surrogates, or code points past
 *            U+10FFFF), no raw byte below 0x20, only the escapes
 *            \" \\ \/ \b \f \n \r \t \uXXXX, \u surrogates only as a high one
 *            followed by \u and a low one; \u0000 is allowed (JSON_ALLOW_NUL).
 *            Plain ASCII runs are skipped 64 bytes at a time with AVX-512BW,
 *            8 (SWAR) otherwise, or when TM_JSONL_PORTABLE is defined (tests).
 *   lines    RFC 8259 as jansson reads it: integers must fit in 64 bits, reals
 *            be finite, nesting up to 2048, one NUL byte right after a number
 *            or literal is skipped (jansson's lexer drops it).
 *
 * Nothing here allocates except for numbers past 63 digits and member names
 * past 255 bytes compared with escapes. Tests: tests/readers/test_json_line.c,
 * tests/serve/test_jsonl_check.c, tests/readers/test_jsonl_fast.c,
 * tests/dedup/test_jsonl_fields.c, and tests/fuzz/fuzz_jsonl_check.c, all
 * against jansson.
 */
#ifndef TM_READERS_JSON_LINE_H
#define TM_READERS_JSON_LINE_H

#include <stddef.h>

/* ---- strings ------------------------------------------------------------ */

/* What tm_json_str_scan found. */
typedef struct tm_json_str {
  size_t len;      /* decoded length (\u0000 counts one byte) */
  int escaped;     /* a backslash appeared */
  int nul;         /* a \u0000 appeared (jansson refuses it in member names) */
  const char *why; /* on failure: a static message in jansson's words */
  const char *at;  /* on failure: the byte where the string went wrong */
} tm_json_str;

/* p is just after a string's opening quote. Validate it under the rules
 * above and, when out is not NULL, decode it into out, which must have room
 * for end - p bytes (decoding never makes a string longer; plain runs are
 * copied in whole vector stores, so bytes past the decoded length, up to
 * end - p, may be written too). Returns the position of the
 * closing quote, with s->len and s->escaped; NULL when the string is not one
 * jansson accepts (or has no closing quote before end), with s->why, s->at. */
const char *tm_json_str_scan(const char *p, const char *end, char *out, tm_json_str *s);

/* p is just after a string's opening quote: the position of the closing
 * quote (the first '"' not escaped by a backslash), or NULL when there is
 * none before end. Validates nothing; *escaped (when not NULL) tells whether
 * a backslash appeared. */
const char *tm_json_str_span(const char *p, const char *end, int *escaped);

/* Do the raw contents s[0..n) of a string (escaped: they hold a backslash)
 * decode to key[0..kl)? 1 yes, 0 no (also when they are not a valid string),
 * -1 out of memory (only for n > 255 with escapes). */
int tm_json_str_equals(const char *s, size_t n, int escaped, const char *key, size_t kl);

/* ---- the top level of an object ----------------------------------------- */

/* One top-level member, raw: the name's contents (between its quotes), and
 * the value's span: a string's contents (between its quotes), or the bytes
 * of a number, literal or container (a scalar without the white space and
 * the NUL byte jansson skips after it). */
typedef struct tm_json_member {
  const char *name;
  size_t name_len;
  int name_escaped;
  int kind; /* '"' string, '0' number, '{' object or array, 'l' true/false/null */
  const char *val;
  size_t val_len;
  int val_escaped; /* strings only */
} tm_json_member;

/* A walk over the members of the object a line holds. It finds the members
 * of every line jansson accepts as an object; on other lines it may stop
 * early (-1) or hand out members that mean nothing, so a caller checks the
 * line (or the part it did not validate) before trusting them. */
typedef struct tm_json_walk {
  const char *p, *end;
  int state; /* 0 before the first member, 1 after one, 2 done */
} tm_json_walk;

/* Start on line[0..len): 0 when it opens with '{' (after white space), -1
 * otherwise. */
int tm_json_walk_begin(tm_json_walk *w, const char *line, size_t len);

/* The next member: 1 with *m filled, 0 at the closing '}' of the object
 * (w->p is then after it), -1 when the bytes are not in an object's shape. */
int tm_json_walk_next(tm_json_walk *w, tm_json_member *m);

/* ---- whole lines ------------------------------------------------------- */

enum {
  TM_JSONL_OK = 0,
  TM_JSONL_SYNTAX = -1,  /* not JSON (why/col say where) */
  TM_JSONL_NOT_OBJECT = -2,
  TM_JSONL_NO_FIELD = -3 /* valid object without a string `field` */
};

/* Is line[0..len) what json_loadb(line, len, JSON_ALLOW_NUL) accepts as an
 * object (no \u0000 in member names: jansson refuses them even with
 * JSON_ALLOW_NUL) whose member `field` (escapes in names decoded; the last of repeated
 * names counts, as in jansson) is a string? Returns TM_JSONL_*; on a syntax
 * error *why is a static message and *col the 1-based byte column. Used by
 * the daemon on every posted line, so that a line it acknowledges is one the
 * reader accepts. */
int tm_jsonl_check(const char *line, size_t len, const char *field, const char **why, size_t *col);

#endif
