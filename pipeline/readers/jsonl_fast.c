/* jsonl_fast.c - the text field of a JSONL line without jansson's lexer.
 *
 * Why: jansson decodes strings one character at a time through its stream
 * layer (~60 MB/s); the text field is nearly all of a JSONL corpus's bytes,
 * so it was the largest single cost of reading (18% of a whole build's CPU
 * on ../shared/corpora). Here the top level of the object is walked once to
 * find the text member's value (json_line.h), that string is validated and
 * decoded under jansson's rules (tm_json_str_scan), and jansson parses the
 * rest of the line with the value replaced by "".
 *
 * Invariant (the fast path never changes what a line means): a line is
 * taken only when it is a JSON object whose top level names the field once,
 * with a string value that is valid under jansson's rules. Then jansson would
 * decode the same bytes, and the rest of the line is still judged by
 * jansson. Anything else (an escaped key, a key given twice, a bad escape,
 * invalid UTF-8, a value that is not a string, a shape the walk does not
 * follow) returns 0 and the caller parses the whole line with jansson, so
 * errors keep jansson's exact messages and columns.
 */
#include <string.h>

#include "json_line.h"
#include "reader_int.h"

int tm_jsonl_find_text(const char *line, size_t len, const char *field, size_t field_len,
                       size_t *vstart, size_t *vend, char *out, size_t *olen) {
  tm_json_walk w;
  tm_json_member m;
  const char *found = NULL, *found_end = NULL;
  if (tm_json_walk_begin(&w, line, len) < 0) return 0;
  int r;
  while ((r = tm_json_walk_next(&w, &m)) == 1) {
    if (m.name_escaped) return 0; /* an escaped key might spell the field */
    if (m.name_len != field_len || memcmp(m.name, field, field_len)) continue;
    if (found || m.kind != '"') return 0; /* twice, or not a string */
    tm_json_str s;
    const char *q = tm_json_str_scan(m.val, m.val + m.val_len + 1, out, &s);
    if (q != m.val + m.val_len) return 0;
    if (olen) *olen = s.len;
    found = m.val - 1;
    found_end = q + 1;
  }
  if (r < 0 || !found) return 0;
  *vstart = (size_t)(found - line);
  *vend = (size_t)(found_end - line);
  return 1;
}
