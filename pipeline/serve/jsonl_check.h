/* jsonl_check.h - checking a JSONL line without building it.
 *
 * The daemon refuses a posted batch whole when one line is not what the
 * reader will accept; parsing every line with jansson only to throw the
 * result away cost more CPU than the rest of the socket path together
 * (72 MB/s on the benchmark corpus). This checker walks the bytes once,
 * allocates nothing, and accepts exactly what the reader's
 * json_loadb(line, len, JSON_ALLOW_NUL) accepts as an object (RFC 8259;
 * UTF-8 validated in strings; surrogate pairs in \u escapes; integers must
 * fit in 64 bits and reals must be finite; nesting up to 2048), plus: the
 * object has a member named `field` (escapes in the name decoded; the last
 * of repeated names counts, as in jansson) whose value is a string. tests/serve/test_jsonl_check.c holds it to jansson's verdict. */
#ifndef TM_SERVE_JSONL_CHECK_H
#define TM_SERVE_JSONL_CHECK_H

#include <stddef.h>

enum {
  TM_JSONL_OK = 0,
  TM_JSONL_SYNTAX = -1,  /* not JSON (why/col say where) */
  TM_JSONL_NOT_OBJECT = -2,
  TM_JSONL_NO_FIELD = -3 /* valid object without a string `field` */
};

/* Check line[0..len). Returns TM_JSONL_*; on a syntax error *why is a
 * static message and *col the 1-based byte column. */
int tm_jsonl_check(const char *line, size_t len, const char *field, const char **why, size_t *col);

#endif
