/* quality.h - document quality filters with the published defaults.
 *
 * Each filter reads the normalised text (lines separated by "\n",
 * paragraphs by "\n\n", see normalize.h) and its words (words.h), and names
 * the first rule the document fails, as "<filter>.<rule>" (the rule names
 * are datatrove's, which follow the papers), or NULL when it passes:
 *
 *  gopher_quality (Rae et al. 2021, "Gopher", App. A):
 *    short_doc / long_doc            non-symbol words outside [min_doc_words, max_doc_words]
 *    below_avg_threshold / above_avg_threshold  mean word length (code points) outside [3, 10]
 *                                    (skipped for CJK text, whose words are characters)
 *    too_many_hashes                 '#' per token > 0.1
 *    too_many_ellipsis               "..." and U+2026 per token > 0.1
 *    too_many_bullets                lines starting with a bullet ("-", "*", U+2022) > 0.9
 *    too_many_end_ellipsis           lines ending with an ellipsis > 0.3
 *    below_alpha_threshold           tokens with a letter < 0.8
 *    enough_stop_words               stop words < 2 (per-language lists: en de fr es it
 *                                    pt nl zh ja; other languages skip the rule)
 *  gopher_repetition:
 *    dup_para_frac, dup_para_char_frac, dup_line_frac, dup_line_char_frac
 *                                    duplicated paragraphs/lines (count, bytes) > 0.30/0.20/0.30/0.20
 *    top_2_gram, top_3_gram, top_4_gram   bytes of the most frequent n-gram x its count
 *                                    / text bytes > 0.20/0.18/0.16
 *    duplicated_5_n_grams .. duplicated_10_n_grams  bytes in repeated n-grams (each
 *                                    counted once, scanning left to right) > 0.15 .. 0.10
 *  fineweb (Penedo et al. 2024):
 *    line_punct_ratio                lines ending in terminal punctuation < 0.12
 *    short_line_ratio                lines of <= 30 code points > 0.67
 *    char_dup_ratio                  bytes in duplicated lines / non-newline bytes > 0.01
 *    list_ratio                      newlines per word > 0.3
 *
 * Fractions of "chars" are computed over UTF-8 bytes, the same measure on
 * both sides of the ratio. A threshold < 0 disables its rule.
 *
 * With a trace, every rule is evaluated and recorded (the --explain view);
 * without one, a filter stops at the first failing rule.
 */
#ifndef TM_QUALITY_H
#define TM_QUALITY_H

#include <stddef.h>
#include <stdint.h>

#include "words.h"

typedef struct tm_gopher_quality_params {
  double min_doc_words, max_doc_words;
  double min_avg_word_length, max_avg_word_length;
  double max_symbol_word_ratio;
  double max_bullet_lines_ratio, max_ellipsis_lines_ratio;
  double min_alpha_words_ratio;
  double min_stop_words;
} tm_gopher_quality_params;

typedef struct tm_gopher_repetition_params {
  double dup_line_frac, dup_para_frac, dup_line_char_frac, dup_para_char_frac;
  double top_n_gram[3]; /* n = 2, 3, 4 */
  double dup_n_gram[6]; /* n = 5 .. 10 */
} tm_gopher_repetition_params;

typedef struct tm_fineweb_params {
  double line_punct_thr;
  int line_punct_exclude_zero;
  double short_line_thr;
  int short_line_length;
  double char_duplicates_ratio;
  double new_line_ratio;
} tm_fineweb_params;

void tm_gopher_quality_defaults(tm_gopher_quality_params *p);
void tm_gopher_repetition_defaults(tm_gopher_repetition_params *p);
void tm_fineweb_defaults(tm_fineweb_params *p);

/* One evaluated rule: the document fails when value cmp threshold holds
 * ('<': value below the minimum, '>': above the maximum). */
typedef struct tm_rule_eval {
  char rule[48];
  double value, threshold;
  char cmp;
  int failed;
} tm_rule_eval;

#define TM_TRACE_MAX 96
typedef struct tm_rule_trace {
  tm_rule_eval e[TM_TRACE_MAX];
  int n;
} tm_rule_trace;

/* Record one rule in the trace (if any); returns 1 when it fails. */
int tm_rule_check(tm_rule_trace *t, const char *rule, double value, char cmp, double threshold);

/* Scratch tables for the repetition statistics; one per thread. */
typedef struct tm_quality_slot {
  uint64_t key;   /* key and count side by side: one cache miss per insert */
  uint32_t count; /* the top bit marks "seen" in the left-to-right repeat scan */
  uint32_t first; /* position of the first occurrence (n-gram passes) */
} tm_quality_slot;

typedef struct tm_quality_scratch {
  tm_quality_slot *slots;
  size_t cap;
  uint64_t *cur; /* n-gram hashes, then the active positions and their slots */
  size_t cur_cap;
  unsigned char *flag; /* per position: its n-gram repeats */
  size_t flag_cap;
  /* the duplicate-line statistics of the last text, shared by Gopher
   * repetition and FineWeb (keyed by the text's length and XXH3 hash) */
  int lines_valid;
  uint64_t lines_key, lines_len;
  size_t lines_units, lines_dups, lines_dup_bytes;
} tm_quality_scratch;

void tm_quality_scratch_free(tm_quality_scratch *s);

/* 1 when the text should be treated as CJK (words are characters): the
 * language is zh/ja, or most words are CJK characters. */
int tm_text_is_cjk(const tm_words *w, const char *lang);

const char *tm_gopher_quality(const char *text, size_t n, const tm_words *w, const char *lang,
                              const tm_gopher_quality_params *p, tm_rule_trace *trace);
/* Returns a rule name, NULL, or the string "oom" on allocation failure. */
const char *tm_gopher_repetition(tm_quality_scratch *s, const char *text, size_t n,
                                 const tm_words *w, const tm_gopher_repetition_params *p,
                                 tm_rule_trace *trace);
const char *tm_fineweb_quality(tm_quality_scratch *s, const char *text, size_t n,
                               const tm_words *w, const tm_fineweb_params *p,
                               tm_rule_trace *trace);

/* Does the line end with terminal punctuation (. ! ? " ' and the CJK and
 * other scripts' full stops)? ellipsis_ok = 0 makes "..." not count. */
int tm_ends_terminal_punct(const char *line, size_t n, int ellipsis_ok);

#endif
