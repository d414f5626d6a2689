/* source_rules.h - cleaning specific to a source kind: books and social
 * posts. Each pass reads normalised text (normalize.h) and appends the
 * result to out; run tm_text_whitespace afterwards when a pass removed
 * words. All return 0 or -TM_ENOMEM.
 */
#ifndef TM_SOURCE_RULES_H
#define TM_SOURCE_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "textbuf.h"

/* ---- books ----------------------------------------------------------------
 * gutenberg        drop the Project Gutenberg licence header (everything up to
 *                  and including the "*** START OF THE/THIS PROJECT GUTENBERG
 *                  EBOOK ... ***" line) and footer (from the "*** END OF ..."
 *                  or "End of (the) Project Gutenberg..." line on).
 * page_numbers     drop lines that are only a page number: "12", "- 12 -",
 *                  "[12]", "(12)", "Page 12", "p. 12" (up to 4 digits).
 * running_headers  drop short lines (<= 60 bytes) that occur at least
 *                  running_header_min times (the book title at each page top).
 * dehyphenate      join "exam-\nple" into "example" (a letter before the
 *                  hyphen, a lowercase letter after the line break).
 * unwrap           join the lines of a paragraph with spaces (hard-wrapped
 *                  prose becomes one line per paragraph). */
typedef struct tm_book_params {
  int gutenberg, page_numbers, running_headers, dehyphenate, unwrap;
  int running_header_min;
} tm_book_params;

typedef struct tm_book_counts {
  uint64_t gutenberg_bytes, page_numbers, running_headers, hyphens_joined;
} tm_book_counts;

int tm_book_clean(const char *text, size_t n, const tm_book_params *p, tm_textbuf *out,
                  tm_book_counts *c);

/* ---- hard-wrapped plain text (e-mail bodies, text files) ------------------
 * A paragraph whose lines were wrapped at a fixed width (at least two lines,
 * none longer than 100 bytes; of all lines but the last, at least half 50
 * bytes or more and at most half ending in . ! ? : or a quote; none quoted
 * with '>') is joined into one line, so that line-level
 * rules (C4) judge sentences rather than wrap points. Other paragraphs are
 * copied. *joined counts the paragraphs joined. */
int tm_unwrap_hard_wraps(const char *text, size_t n, tm_textbuf *out, uint64_t *joined);

/* ---- social ---------------------------------------------------------------
 * urls      http(s)://... and www.... tokens: keep, normalise (replaced by
 *           "<URL>") or remove.
 * mentions  @name: keep, normalise ("@user") or remove.
 * hashtags  #tag: keep, normalise (the word without '#') or remove.
 * flood     a character repeated more than flood_max times in a row is cut to
 *           flood_max ("soooooo" -> "sooo", "!!!!!!" -> "!!!"); digits are
 *           never cut; 0 disables. Emoji are kept. */
typedef enum { TM_SOCIAL_KEEP = 0, TM_SOCIAL_NORMALIZE = 1, TM_SOCIAL_REMOVE = 2 } tm_social_mode;

typedef struct tm_social_params {
  tm_social_mode urls, mentions, hashtags;
  int flood_max;
} tm_social_params;

typedef struct tm_social_counts {
  uint64_t urls, mentions, hashtags, floods;
} tm_social_counts;

int tm_social_clean(const char *text, size_t n, const tm_social_params *p, tm_textbuf *out,
                    tm_social_counts *c);
/* "keep", "normalize"/"normalise", "remove" -> mode; -1 if unknown. */
int tm_social_mode_parse(const char *s);

#endif
