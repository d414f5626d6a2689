/* jsonl_fields.h - the "text" and "id" of a JSONL line, without building
 * the JSON object.
 *
 * `tokenmill dedup` needs two members of each input line and copies kept
 * lines byte for byte; parsing every line into a jansson tree only to read
 * two strings was half of its CPU time. This reads them in one pass over a
 * line that tm_jsonl_check (pipeline/serve/jsonl_check.h, held to jansson's
 * verdict by its tests and fuzzer) has accepted as an object with a string
 * "text", and gives the values jansson would give:
 *
 *   - a member named "text" / "id" (escapes in the name decoded); when a
 *     name is repeated, the last one counts (as json_object_get sees it);
 *   - text: the decoded string (escapes decoded, \u0000 kept: the length
 *     counts it), pointing into the line when it has no escapes;
 *   - id: a string (decoded likewise), or an integer formatted as jansson's
 *     json_integer_value with "%lld"; anything else (real, null, object,
 *     missing) is "no id".
 *
 * The result for a line the checker did not accept is undefined (but never
 * reads outside line[0..len)).
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

/* Fill f from line[0..len). Returns 0, or -1 when out of memory (f->buf is
 * then NULL). The caller frees f->buf. */
int tm_jsonl_fields_get(const char *line, size_t len, tm_jsonl_fields *f);

#endif
