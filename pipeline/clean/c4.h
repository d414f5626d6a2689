/* c4.h - the C4 filter (Raffel et al. 2020, as datatrove implements it).
 *
 * Line level (boilerplate removal; each line is trimmed and citation marks
 * "[1]", "[edit]", "[citation needed]" are removed first): a line is dropped
 * when it does not end in terminal punctuation (or ends in an ellipsis), has
 * fewer than min_words_per_line words, has a word longer than
 * max_word_length, mentions "javascript", or contains a policy notice
 * ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use
 * of cookies", "use cookies"). Words in CJK text are characters.
 *
 * Document level, the rule named in *drop (lorem ipsum and the curly bracket
 * are looked for in lines that passed the punctuation, word-count and
 * word-length rules, as datatrove does):
 *   c4.lorem_ipsum      "lorem ipsum"
 *   c4.curly_bracket    a "{" (code, not prose)
 *   c4.bad_words        a word from the bad-words list (whole word, ASCII
 *                       case-insensitive)
 *   c4.too_few_sentences fewer than min_num_sentences sentences in kept lines
 *   c4.no_sentences     nothing left
 *
 * Each check can be switched off; -1 disables a numeric one.
 */
#ifndef TM_C4_H
#define TM_C4_H

#include <stddef.h>
#include <stdint.h>

#include "quality.h"
#include "textbuf.h"

typedef struct tm_c4_params {
  int filter_no_terminal_punct;
  int min_words_per_line;
  int max_word_length;
  int filter_javascript;
  int filter_policy;
  int filter_lorem_ipsum;
  int filter_curly_bracket;
  int remove_citations;
  int min_num_sentences;
  /* bad words: a sorted array of lowercase words (owned by the caller) */
  const char *const *bad_words;
  size_t n_bad_words;
} tm_c4_params;

void tm_c4_defaults(tm_c4_params *p);

typedef struct tm_c4_counts {
  uint64_t lines_in, lines_removed;
  uint64_t no_terminal_punct, too_few_words, too_long_word, javascript, policy;
} tm_c4_counts;

/* Filter text[0..n) into out (kept lines joined by "\n"; a blank line in
 * the input is kept as a paragraph break). *drop is NULL or the rule that
 * drops the document. With a trace, document rules are recorded. */
int tm_c4_apply(const char *text, size_t n, const tm_c4_params *p, int cjk, tm_textbuf *out,
                tm_c4_counts *counts, const char **drop, tm_rule_trace *trace);

#endif
