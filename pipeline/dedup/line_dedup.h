/* line_dedup.h - cc_net-style line-level exact dedup across documents.
 *
 * Boilerplate lines repeated across a site ("Skip to main content", cookie
 * notices, footers) survive document-level dedup because the documents
 * around them differ. This table counts every line it has seen (XXH3-64 of
 * the line with surrounding whitespace trimmed); a line already seen
 * max_repeats times is removed from every later document. Lines shorter than
 * min_bytes (after trimming) are never counted or removed (blank lines,
 * "Thanks!").
 *
 * RAM layout: open addressing, 12-byte slots (u64 hash, u32 count), load
 * factor <= 0.75, growing by 2x up to the byte budget. When the budget is
 * reached, every line seen only once is forgotten (in place); if that frees
 * less than a quarter of the table, new lines stop being tracked (counts of
 * tracked lines still grow). Documented in `dropped` and `frozen`.
 *
 * Persistence: tm_line_dedup_save writes DIR/lines.GEN (header + slots)
 * atomically through io.h; the caller records GEN in its checkpoint and
 * removes the previous generation after the checkpoint is published, so the
 * table always matches the committed index. Load checks magic, size and
 * checksum (TM_ECORRUPT naming the file and offset).
 */
#ifndef TM_DEDUP_LINE_DEDUP_H
#define TM_DEDUP_LINE_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct tm_line_dedup tm_line_dedup;

typedef struct tm_line_dedup_stats {
  uint64_t lines_seen, lines_removed, tracked, dropped;
  uint64_t bytes; /* table RAM */
  int frozen;     /* 1 once new lines are no longer tracked */
} tm_line_dedup_stats;

/* max_repeats >= 1; budget >= 1 KiB. NULL on ENOMEM. */
tm_line_dedup *tm_line_dedup_new(uint32_t max_repeats, size_t min_bytes, uint64_t budget);
void tm_line_dedup_free(tm_line_dedup *l);

/* Count the lines of text[0..len) and copy the ones to keep into out
 * (capacity >= len + 1; NUL-terminated). Returns the new length;
 * *removed = lines dropped from this document. Line ends ('\n') of kept
 * lines are kept, except the one before removed final lines of a text that
 * did not end with a newline. */
size_t tm_line_dedup_apply(tm_line_dedup *l, const char *text, size_t len, char *out,
                           size_t *removed);

void tm_line_dedup_get_stats(const tm_line_dedup *l, tm_line_dedup_stats *st);

/* Write DIR/lines.GEN atomically. */
int tm_line_dedup_save(const tm_line_dedup *l, const char *dir, uint64_t gen, tm_error *err);
/* Replace the table with DIR/lines.GEN. */
int tm_line_dedup_load(tm_line_dedup *l, const char *dir, uint64_t gen, tm_error *err);

#endif
