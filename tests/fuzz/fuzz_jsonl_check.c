/* fuzz_jsonl_check.c - the JSONL line core (pipeline/readers/json_line.h)
 * and its three users against their oracle, jansson's json_loadb
 * (JSON_ALLOW_NUL) as the reader parses:
 *   - tm_jsonl_check, what `tokenmill serve` runs on every posted line
 *     before acknowledging it: OK exactly when jansson gives an object whose
 *     "text" member is a string (a line the daemon acknowledges but the
 *     reader later rejects would be lost after its acknowledgement);
 *   - tm_jsonl_find_text, the reader's fast path: when it takes a line,
 *     jansson decodes the same text and judges the line with the value
 *     emptied as it judges the whole one;
 *   - tm_jsonl_fields_parse (`tokenmill dedup`): accepts exactly the lines
 *     tm_jsonl_check does, with jansson's text and id.
 * Any disagreement traps. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "json_line.h"
#include "jsonl_fields.h"
#include "reader_int.h"

static void find_text_agrees(const char *line, size_t n, json_t *j) {
  size_t vs, ve, olen = 0;
  char *out = malloc(n + 1);
  if (!out) return;
  if (tm_jsonl_find_text(line, n, "text", 4, &vs, &ve, out, &olen)) {
    json_t *t = j ? json_object_get(j, "text") : NULL;
    char *rest = malloc(n);
    if (!rest) __builtin_trap();
    memcpy(rest, line, vs);
    memcpy(rest + vs, "\"\"", 2);
    memcpy(rest + vs + 2, line + ve, n - ve);
    json_error_t je;
    json_t *r = json_loadb(rest, vs + 2 + n - ve, JSON_ALLOW_NUL, &je);
    if (!r != !j) {
      fprintf(stderr, "find_text: the emptied line reads %s, the whole one %s\n", r ? "ok" : "bad",
              j ? "ok" : "bad");
      __builtin_trap();
    }
    if (j && (!json_is_string(t) || json_string_length(t) != olen || memcmp(json_string_value(t), out, olen))) {
      fprintf(stderr, "find_text: the text differs from jansson's\n");
      __builtin_trap();
    }
    json_decref(r);
    free(rest);
  }
  free(out);
}

static void fields_agree(const char *line, size_t n, json_t *j, int oracle) {
  tm_jsonl_fields f;
  int rc = tm_jsonl_fields_parse(line, n, &f);
  if (rc < 0) return; /* out of memory */
  if ((rc == 1) != (oracle == TM_JSONL_OK)) {
    fprintf(stderr, "jsonl_fields says %d, jansson says %d\n", rc, oracle);
    __builtin_trap();
  }
  if (rc == 1) {
    json_t *t = json_object_get(j, "text"), *id = json_object_get(j, "id");
    int good = f.text_len == json_string_length(t) && !memcmp(f.text, json_string_value(t), f.text_len);
    if (json_is_string(id)) {
      good &= f.id_kind == TM_JSONL_ID_STRING && f.id_len == json_string_length(id) &&
              !memcmp(f.id, json_string_value(id), f.id_len);
    } else if (json_is_integer(id)) {
      char b[32];
      int k = snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
      good &= f.id_kind == TM_JSONL_ID_INTEGER && f.id_len == (size_t)k && !memcmp(f.id, b, (size_t)k);
    } else {
      good &= f.id_kind == TM_JSONL_ID_NONE;
    }
    if (!good) {
      fprintf(stderr, "jsonl_fields: text or id differs from jansson's\n");
      __builtin_trap();
    }
  }
  free(f.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  const char *why = NULL;
  size_t col = 0;
  int rc = tm_jsonl_check((const char *)data, n, "text", &why, &col);
  json_error_t je;
  json_t *j = json_loadb((const char *)data, n, JSON_ALLOW_NUL, &je);
  int oracle;
  if (!j) oracle = TM_JSONL_SYNTAX;
  else if (!json_is_object(j)) oracle = TM_JSONL_NOT_OBJECT;
  else oracle = json_is_string(json_object_get(j, "text")) ? TM_JSONL_OK : TM_JSONL_NO_FIELD;
  if ((rc == TM_JSONL_OK) != (oracle == TM_JSONL_OK)) {
    fprintf(stderr, "jsonl_check says %d, jansson says %d (%s)\n", rc, oracle, j ? "" : je.text);
    __builtin_trap();
  }
  if (rc == TM_JSONL_SYNTAX && !why) __builtin_trap();
  find_text_agrees((const char *)data, n, j);
  fields_agree((const char *)data, n, j, oracle);
  json_decref(j);
  return 0;
}
