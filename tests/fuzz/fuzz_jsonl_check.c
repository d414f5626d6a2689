/* fuzz_jsonl_check.c - the daemon's check of posted JSONL lines (pipeline/
 * serve/jsonl_check.h, what `tokenmill serve` runs on every line of an HTTP
 * POST body or socket batch before acknowledging it), against its oracle:
 * jansson's json_loadb(JSON_ALLOW_NUL) parsing an object whose "text" member
 * is a string. Any disagreement traps: a line the daemon acknowledges but
 * the reader later rejects would be lost after its acknowledgement. */
#include <jansson.h>

#include "fuzz_util.h"
#include "jsonl_check.h"

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
  json_decref(j);
  if ((rc == TM_JSONL_OK) != (oracle == TM_JSONL_OK)) {
    fprintf(stderr, "jsonl_check says %d, jansson says %d (%s)\n", rc, oracle, j ? "" : je.text);
    __builtin_trap();
  }
  if (rc == TM_JSONL_SYNTAX && !why) __builtin_trap();
  return 0;
}
