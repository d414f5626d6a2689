/* jsonl_fields.h - the "text" and "id" of a JSONL line, without building
 * the JSON object.
 *
 * `tokenmill dedup` needs two members of each input line and copies kept
 * lines byte for byte; parsing every line into a jansson tree only to read
 * two strings was half of its CPU time. tm_jsonl_fields_parse accepts a
 * line exactly when json_loadb(line, len, JSON_ALLOW_NUL) gives an object
 * whose "text" member is a string, and then gives the values jansson would:
 *
 *   - a member named "text" / "id" (escapes in the name decoded); when a
 *     name is repeated, the last one counts (as json_object_get sees it);
 *   - text: the decoded string (escapes decoded, \u0000 kept: the length
 *     counts it), pointing into the line when it has no escapes;
 *   - id: a string (decoded likewise), or an integer formatted as jansson's
 *     json_integer_value with "%lld"; anything else (real, null, object,
 *     missing) is "no id".
 *
 * How: one walk over the top level (readers/json_line.h) finds the last
 * "text" member's value; that string is checked and decoded under jansson's
 * string rules (tm_json_str_scan), and the rest of the line, a copy with the
 * text's contents removed, goes through tm_jsonl_check (readers/json_line.h,
 * held to jansson's verdicts by its tests and fuzzer). A string token is one token
 * to both lexers, so emptying a valid one changes no verdict. Lines it does
 * not accept are left to the caller (jansson, for the error message):
 * tests/dedup/test_jsonl_fields.c compares the two on edge cases and random
 * lines.
 */
#ifndef TM_DEDUP_JSONL_FIELDS_H
#define TM_DEDUP_JSONL_FIELDS_H

#include <stddef.h>

typedef enum { TM_JSONL_ID_NONE = 0, TM_JSONL_ID_STRING, TM_JSONL_ID_INTEGER } tm_jsonl_id_kind;

typedef struct tm_jsonl_fields {
  const char *text; /* into the line, or into buf */
  size_t text_len;
  tm_jsonl_id_kind id_kind;
  const char *id;   /* string: into the line or buf; integer: into idnum */
  size_t id_len;
  char idnum[24];
  char *buf;        /* decoded strings when they had escapes (malloc'd, or NULL) */
} tm_jsonl_fields;

/* Returns 1 with f filled (the caller frees f->buf), 0 when jansson would
 * not give an object with a string "text" (f->buf NULL), -1 when out of
 * memory. */
int tm_jsonl_fields_parse(const char *line, size_t len, tm_jsonl_fields *f);

#endif
