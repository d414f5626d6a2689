/* reader_int.h - what the per-format readers share; internal to readers/. */
#ifndef TM_READER_INT_H
#define TM_READER_INT_H

#include "bytesrc.h"
#include "reader.h"

struct tm_reader {
  tm_bytesrc *src;
  char *name;
  tm_reader_options o;
  char *text_field;
  tm_reader_format fmt; /* AUTO until detected */
  tm_reader_stats st;
  uint64_t line;        /* lines consumed so far (line-based formats) */
  int done;
  int mbox;             /* e-mail: -1 unknown, 0 one message, 1 mbox */
  int warc_resync;      /* WARC: scanning for the next "WARC/" line */
  const char *bad_rec;  /* raw bytes of the record that just failed, or NULL */
  size_t bad_len;
  char *scratch;        /* record assembly (text blocks, mbox messages) */
  size_t scratch_len, scratch_cap;
  char *jbuf;           /* JSONL: the line with its text value cut out */
  size_t jbuf_cap;
};

int tm_read_jsonl(tm_reader *r, tm_document *d, tm_error *err);
int tm_read_text(tm_reader *r, tm_document *d, tm_error *err);
int tm_read_html(tm_reader *r, tm_document *d, tm_error *err);
int tm_read_email(tm_reader *r, tm_document *d, tm_error *err);
int tm_read_warc(tm_reader *r, tm_document *d, tm_error *err);

/* Append to r->scratch, bounded by the record limit; -TM_ENOMEM on failure.
 * s == NULL: only make room for n more bytes (and a NUL). */
int tm_reader_scratch_append(tm_reader *r, const char *s, size_t n);

/* Parse one RFC 822/MIME message: the text/plain parts (or, when there are
 * none, the text/html parts, format HTML) decoded to UTF-8 become the text;
 * Subject and Date go to metadata/timestamp. Thread-safe. */
int tm_email_extract(const char *buf, size_t len, tm_document *d, tm_error *err);

/* JSONL fast path (jsonl_fast.c). Find the top-level member `field` of the
 * JSON object line[0..len) when its value is a string jansson would accept:
 * 1 with [*vstart, *vend) the value's bytes, quotes included, and the value
 * decoded into out (when not NULL: room for len bytes, as a decoded string
 * is never longer than its JSON) with its length in *olen; 0 when the line
 * is not in that simple shape (escaped or repeated keys, a non-string
 * value, an invalid string or structure): then parse it whole with jansson
 * (out then holds garbage). Replacing the value by "" leaves a line jansson
 * judges exactly as it judges the whole one. */
int tm_jsonl_find_text(const char *line, size_t len, const char *field, size_t field_len,
                       size_t *vstart, size_t *vend, char *out, size_t *olen);

#endif
