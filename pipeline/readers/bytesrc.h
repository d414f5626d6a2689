/* bytesrc.h - a buffered byte source over a file descriptor with transparent
 * gzip/zstd decompression (detected by magic bytes) and bomb limits.
 * Internal to the readers.
 *
 * Memory is bounded: one decoded window (TM_BYTESRC_WINDOW bytes), one
 * compressed input buffer, and a line/record buffer that never grows past
 * the caller's max. Offsets are in decoded bytes; compressed_offset() is the
 * position in the file.
 *
 * Errors: a decompression error, a truncated stream, a read error or a bomb
 * limit is fatal for the source (tm_bytesrc_failed() becomes 1) and is
 * returned once; later calls return 0 (end). A record over the caller's max
 * is not fatal: it is skipped and reported as -TM_ELIMIT.
 */
#ifndef TM_BYTESRC_H
#define TM_BYTESRC_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define TM_BYTESRC_WINDOW (256u * 1024u)

typedef enum { TM_CODEC_NONE = 0, TM_CODEC_GZIP, TM_CODEC_ZSTD } tm_codec;

typedef struct tm_bytesrc_limits {
  uint64_t max_decoded; /* total decoded bytes */
  double max_ratio;     /* decoded / compressed */
  uint64_t ratio_grace; /* ratio is checked once decoded exceeds this */
} tm_bytesrc_limits;

typedef struct tm_bytesrc tm_bytesrc;

/* Takes ownership of fd (closed by free). name is copied. */
int tm_bytesrc_open(tm_bytesrc **out, int fd, const char *name, const tm_bytesrc_limits *lim,
                    tm_error *err);
void tm_bytesrc_free(tm_bytesrc *b);

/* Make up to n (<= 4096) bytes visible without consuming them: *p points at
 * them and the count available is returned (less than n only at the end),
 * or a negative error. */
int tm_bytesrc_peek(tm_bytesrc *b, const char **p, size_t n, tm_error *err);

/* Next line without its '\n' (a trailing '\r' is kept). Returns 1 with
 * *line and *len valid until the next call, 0 at the end, -TM_ELIMIT when the
 * line exceeded max (it was skipped up to its newline; *len holds how many
 * bytes it had, capped), or another negative (fatal). The last line may lack
 * a newline. */
int tm_bytesrc_getline(tm_bytesrc *b, const char **line, size_t *len, size_t max, tm_error *err);

/* Read exactly n bytes into the record buffer (n <= max enforced by the
 * caller). Returns 1 with *p valid until the next call, 0 if the source
 * ended before n bytes (a truncation; the partial bytes are dropped), or a
 * negative error. */
int tm_bytesrc_read(tm_bytesrc *b, size_t n, const char **p, tm_error *err);

/* Read everything left (up to max). Returns 1 with *p and *len, 0 if nothing
 * was left, -TM_ELIMIT if more than max remained (all of it is consumed,
 * never stored), or a negative error. */
int tm_bytesrc_read_all(tm_bytesrc *b, size_t max, const char **p, size_t *len, tm_error *err);

/* Skip n bytes. Returns 1, 0 if the source ended first, or negative. */
int tm_bytesrc_skip(tm_bytesrc *b, uint64_t n, tm_error *err);

uint64_t tm_bytesrc_offset(const tm_bytesrc *b);            /* decoded bytes consumed */
uint64_t tm_bytesrc_compressed_offset(const tm_bytesrc *b); /* file bytes read */
int tm_bytesrc_failed(const tm_bytesrc *b);
tm_codec tm_bytesrc_codec(const tm_bytesrc *b);
const char *tm_bytesrc_name(const tm_bytesrc *b);

#endif
