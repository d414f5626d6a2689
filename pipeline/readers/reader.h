/* reader.h - streaming input readers: bytes in, one tm_document at a time.
 *
 * A reader turns one input (a file path, or an already open fd) into a
 * sequence of documents, holding at most a few buffers of max_record_bytes
 * in memory whatever the input size. Formats:
 *
 *   jsonl  one JSON object per line. opts.text_field (default "text") is the
 *          document text; opts.field_kind says what that field holds: plain
 *          text, HTML (web crawls stored as {"url","html"}) or a raw RFC 822
 *          e-mail (decoded by GMime). "id" (string or number) becomes the id;
 *          without one the id is "PATH:LINE". "url"/"uri"/"link" becomes the
 *          uri; "timestamp"/"created_at"/"date"/"time" the timestamp; every
 *          other field is kept as metadata.
 *   text   plain text: the whole file is one document (id PATH), or with
 *          opts.text_split_blank_lines one document per blank-line separated
 *          block (id "PATH:LINE" of the block's first line).
 *   html   the whole file is one HTML document (format TM_DOC_HTML).
 *   email  one RFC 822/MIME message (or an mbox of them, detected by a
 *          leading "From " line): text/plain parts are the text; when a
 *          message has none, its text/html parts (format TM_DOC_HTML).
 *          Transfer encodings and charsets are decoded to UTF-8; headers
 *          are dropped, except Subject (metadata "subject") and Date (the
 *          timestamp).
 *   warc   WARC/WET (Common Crawl): "response" records with an HTML payload
 *          are HTML documents, "conversion" records (WET) are text, "resource"
 *          records by their Content-Type; other record types are skipped.
 *          id = WARC-Record-ID, uri = WARC-Target-URI, timestamp = WARC-Date.
 *   auto   by content: WARC if the (decompressed) input starts with "WARC/",
 *          JSONL if it starts with '{', e-mail if it starts with RFC 822
 *          header lines ("From ", "Return-Path:", "Received:" ...), HTML if
 *          it starts with '<' (after a BOM/whitespace), otherwise text.
 *
 * Text is handed over as bytes: e-mail parts are converted from their
 * declared charset here; an HTML page that is not valid UTF-8 is converted
 * from the charset its <meta> declares by the clean stage (charset.h), and
 * anything else invalid is repaired there.
 *
 * Compression is detected by magic bytes, never by name: gzip (1f 8b,
 * multi-member) and zstd (28 b5 2f fd, multi-frame) are decompressed as a
 * stream. A stream whose output exceeds max_decompressed_bytes, or whose
 * output/input ratio exceeds max_ratio after the first ratio_grace_bytes of
 * output, is refused (a decompression bomb) with TM_ELIMIT.
 *
 * Limits: a record (line, document, WARC body, e-mail) over max_record_bytes
 * is never loaded whole: it is skipped while streaming and reported as
 * TM_ELIMIT naming the file and line/offset, and counted.
 *
 * Errors: tm_reader_next returns 1 with a document, 0 at the end of the
 * input, or a negative TM_E* code with err naming the file and the
 * line/offset of the record. After an error call again: the reader resumes
 * with the next record (a malformed JSON line, an oversized record, a WARC
 * record with a bad header), or, when the rest of the stream is unreadable
 * (a truncated or corrupt gzip/zstd stream, a read error, a truncated WARC
 * body), returns 0. Nothing already returned is retracted.
 *
 * A reader is used from one thread at a time; separate readers are
 * independent.
 */
#ifndef TM_READER_H
#define TM_READER_H

#include <stdint.h>

#include "document.h"
#include "error.h"

typedef enum {
  TM_FORMAT_AUTO = 0,
  TM_FORMAT_JSONL,
  TM_FORMAT_TEXT,
  TM_FORMAT_HTML,
  TM_FORMAT_EMAIL,
  TM_FORMAT_WARC,
} tm_reader_format;

/* What a JSONL text field holds. */
typedef enum { TM_FIELD_TEXT = 0, TM_FIELD_HTML, TM_FIELD_EMAIL } tm_field_kind;

typedef struct tm_reader_options {
  tm_reader_format format;      /* default TM_FORMAT_AUTO */
  tm_source_kind source;        /* stamped on every document; default web */
  const char *text_field;       /* JSONL: default "text" */
  tm_field_kind field_kind;     /* JSONL: what text_field holds; default text */
  int text_split_blank_lines;   /* text: one document per blank-line block */
  uint64_t max_record_bytes;    /* default 64 MiB */
  uint64_t max_decompressed_bytes; /* default 256 GiB */
  double max_ratio;             /* default 1000 */
  uint64_t ratio_grace_bytes;   /* default 64 MiB */
  int defer_email;              /* JSONL with field_kind email: hand over the raw
                                   message (format TM_DOC_EMAIL) undecoded, for
                                   tm_reader_decode_email on another thread */
} tm_reader_options;

/* Counters since open. */
typedef struct tm_reader_stats {
  uint64_t records;        /* documents returned */
  uint64_t errors;         /* records that failed (malformed, oversized, corrupt) */
  uint64_t skipped;        /* records skipped by design (WARC request/metadata, empty) */
  uint64_t bytes_in;       /* bytes read from the file (compressed) */
  uint64_t bytes_decoded;  /* bytes after decompression */
} tm_reader_stats;

typedef struct tm_reader tm_reader;

void tm_reader_options_default(tm_reader_options *o);

/* "auto", "jsonl", "text", "html", "email", "warc" / "text", "html",
 * "email" -> value; -1 if unknown. */
int tm_reader_format_parse(const char *name);
const char *tm_reader_format_name(tm_reader_format f);
int tm_field_kind_parse(const char *name);

/* Open path for reading. opts may be NULL (defaults); it is copied (the
 * text_field string too). On failure *out is NULL and err says why. */
int tm_reader_open(tm_reader **out, const char *path, const tm_reader_options *opts,
                   tm_error *err);
/* As tm_reader_open on an open descriptor (a socket, a pipe, a spooled
 * file); name is used for ids and messages. The reader closes fd. */
int tm_reader_open_fd(tm_reader **out, int fd, const char *name,
                      const tm_reader_options *opts, tm_error *err);

/* The next document, see the contract above. doc is reset first. */
int tm_reader_next(tm_reader *r, tm_document *doc, tm_error *err);

/* Decode a document the reader handed over undecoded (format
 * TM_DOC_EMAIL, see defer_email) exactly as the reader would have: text/plain
 * parts as the text, else text/html (format HTML), Subject and Date. On
 * failure returns the negative TM_E* code the reader would have returned for
 * that record, with the same message ("PATH:LINE: ..."); the document is
 * then to be treated as that reader error. A document of any other format
 * is left as it is (returns 0). Thread-safe; needs no reader. */
int tm_reader_decode_email(tm_document *d, tm_error *err);

/* After tm_reader_next failed on a record whose bytes are at hand (a
 * malformed JSON line): those bytes, valid until the next call; returns 0
 * when there are none (an oversized or undecodable record). For the
 * quarantine. */
int tm_reader_failed_record(const tm_reader *r, const char **p, size_t *len);

/* The format in use (the detected one after the first tm_reader_next). */
tm_reader_format tm_reader_format_of(const tm_reader *r);
void tm_reader_get_stats(const tm_reader *r, tm_reader_stats *st);
void tm_reader_close(tm_reader *r);

#endif
