/* document.h - the unit of work between readers and stages.
 *
 * A reader fills one tm_document at a time; the clean stage rewrites its
 * text in place; dedup and the shard builder read it. A document owns all
 * of its strings. tm_document_reset() empties it but keeps the buffers, so a
 * loop that reuses one document does not allocate per record:
 *
 *   tm_document doc;
 *   tm_document_init(&doc);
 *   while ((rc = tm_reader_next(r, &doc, &err)) != 0) { ... }
 *   tm_document_free(&doc);
 *
 * Invariants: text is NUL-terminated and text[len] == 0 (len excludes the
 * NUL); id is never NULL after a reader filled the document; uri may be
 * NULL. Metadata keys are unique (set replaces).
 */
#ifndef TM_DOCUMENT_H
#define TM_DOCUMENT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum { TM_SOURCE_WEB = 0, TM_SOURCE_BOOK = 1, TM_SOURCE_SOCIAL = 2 } tm_source_kind;

/* What the text is: plain text, or HTML still to be extracted by the clean
 * stage (readers do no markup work; the stage does it on a worker thread),
 * or a raw RFC 822 message still to be decoded (only from a reader opened
 * with defer_email; tm_reader_decode_email turns it into TEXT or HTML). */
typedef enum { TM_DOC_TEXT = 0, TM_DOC_HTML = 1, TM_DOC_EMAIL = 2 } tm_doc_format;

#define TM_TIMESTAMP_UNKNOWN INT64_MIN

typedef struct tm_doc_meta {
  char *key;
  char *value;  /* a string, or JSON text when is_json */
  int is_json;  /* value is a JSON number/object/array/bool, written unquoted */
} tm_doc_meta;

typedef struct tm_document {
  char *id;              /* stable id: the record's own, or "path:line" */
  tm_source_kind source; /* from the reader options (the profile) */
  tm_doc_format format;
  char *uri;             /* url / WARC-Target-URI / file path; may be NULL */
  int64_t timestamp;     /* unix seconds UTC, TM_TIMESTAMP_UNKNOWN if none */
  char lang[16];         /* set by language id ("en", "zh", "un"); "" before */
  double lang_conf;      /* 0..1 */
  char *text;            /* UTF-8 after the clean stage; raw bytes before */
  size_t len, cap;
  tm_doc_meta *meta;
  size_t n_meta, cap_meta;
  /* provenance, for error messages and the quarantine */
  char *origin;          /* input path */
  uint64_t line;         /* 1-based line of the record (JSONL, text blocks), 0 if n/a */
  uint64_t offset;       /* byte offset of the record in the (decompressed) input */
} tm_document;

void tm_document_init(tm_document *d);
/* Empty every field, keep allocated buffers. */
void tm_document_reset(tm_document *d);
void tm_document_free(tm_document *d);

/* Replace the text with a copy of s[0..n). Returns 0 or -TM_ENOMEM. */
int tm_document_set_text(tm_document *d, const char *s, size_t n);
/* Append s[0..n) to the text. */
int tm_document_append_text(tm_document *d, const char *s, size_t n);
/* Make room for at least n bytes of text (+ NUL). */
int tm_document_reserve(tm_document *d, size_t n);
/* Swap the text buffer with an external one (the stage's scratch buffer):
 * after the call the document owns *buf (length n, capacity cap, NUL at
 * [n]) and *buf and *bufcap hold the document's previous buffer. */
void tm_document_swap_text(tm_document *d, char **buf, size_t *bufcap, size_t n);

/* Copy strings into id / uri / origin (NULL clears uri). */
int tm_document_set_id(tm_document *d, const char *id);
int tm_document_set_uri(tm_document *d, const char *uri);
int tm_document_set_origin(tm_document *d, const char *origin);

/* Set metadata key to value (a string, or JSON text when is_json). */
int tm_document_meta_set(tm_document *d, const char *key, const char *value, int is_json);
/* The value of key, or NULL. */
const char *tm_document_meta_get(const tm_document *d, const char *key);

/* "web", "book", "social"; tm_source_parse returns -1 for an unknown name. */
const char *tm_source_name(tm_source_kind k);
int tm_source_parse(const char *name);

/* Parse a timestamp: unix seconds ("1609459200"), ISO 8601
 * ("2021-01-01T00:07:13Z", "+hh:mm" offsets, fractional seconds, date only),
 * RFC 2822 ("Thu, 22 Aug 2002 12:36:23 +0100") and Twitter's
 * ("Wed Oct 10 20:19:24 +0000 2018"). Returns TM_TIMESTAMP_UNKNOWN when
 * none matches. */
int64_t tm_timestamp_parse(const char *s);

#endif
