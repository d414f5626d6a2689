/* c4.c - C4 line and document filter; see c4.h. */
#include "c4.h"

#include <ctype.h>
#include <pthread.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "words.h"

void tm_c4_defaults(tm_c4_params *p) {
  memset(p, 0, sizeof *p);
  p->filter_no_terminal_punct = 1;
  p->min_words_per_line = 3;
  p->max_word_length = 1000;
  p->filter_javascript = 1;
  p->filter_policy = 1;
  p->filter_lorem_ipsum = 1;
  p->filter_curly_bracket = 1;
  p->remove_citations = 1;
  p->min_num_sentences = 5;
}

/* The phrases C4 looks for, found in one pass per line by a small
 * Aho-Corasick automaton over ASCII-lowercased bytes (built once). */
static const char *const phrases[] = {"lorem ipsum",    "javascript",   "terms of use",
                                      "privacy policy", "cookie policy", "uses cookies",
                                      "use of cookies", "use cookies"};
enum { PH_LOREM = 1, PH_JS = 2, PH_POLICY = 0xfc, AC_MAX = 128 };
static unsigned char ac_next[AC_MAX][256], ac_out[AC_MAX];
static pthread_once_t ac_once = PTHREAD_ONCE_INIT;

static void ac_build(void) {
  int n_states = 1, fail[AC_MAX] = {0};
  static unsigned char go[AC_MAX][256]; /* trie edges, 0 = none (state 0 is the root) */
  for (int k = 0; k < 8; k++) {
    int st = 0;
    for (const char *c = phrases[k]; *c; c++) {
      unsigned char b = (unsigned char)*c;
      if (!go[st][b]) go[st][b] = (unsigned char)n_states++;
      st = go[st][b];
    }
    ac_out[st] |= (unsigned char)(1u << k);
  }
  /* breadth-first: failure links and the full transition table */
  int queue[AC_MAX], head = 0, tail = 0;
  for (int c = 0; c < 256; c++) {
    int t = go[0][c];
    ac_next[0][c] = (unsigned char)t;
    if (t) fail[t] = 0, queue[tail++] = t;
  }
  while (head < tail) {
    int st = queue[head++];
    ac_out[st] |= ac_out[fail[st]];
    for (int c = 0; c < 256; c++) {
      int t = go[st][c];
      if (t) {
        fail[t] = ac_next[fail[st]][c];
        ac_next[st][c] = (unsigned char)t;
        queue[tail++] = t;
      } else {
        ac_next[st][c] = ac_next[fail[st]][c];
      }
    }
  }
  /* case-insensitive: an upper-case letter moves like its lower case */
  for (int st = 0; st < n_states; st++)
    for (int c = 'A'; c <= 'Z'; c++) ac_next[st][c] = ac_next[st][c + 32];
}

/* Does the anchor letter `rare` (either case) occur at offset off of an
 * occurrence of needle in t[0..n)? memchr finds the (uncommon) anchor. */
static int anchored(const char *t, size_t n, char rare, size_t off, const char *needle) {
  size_t len = strlen(needle);
  for (int up = 0; up < 2; up++) {
    char r = up ? (char)(rare - 32) : rare;
    for (const char *q = t; (q = memchr(q, r, (size_t)(t + n - q))) != NULL; q++) {
      size_t at = (size_t)(q - t);
      if (at >= off && at - off + len <= n && !strncasecmp(t + at - off, needle, len)) return 1;
    }
  }
  return 0;
}

/* Might any phrase occur in the document? Checked by rare anchor letters
 * (j, k, v, f, p): most documents have none and skip the per-line pass. */
static int any_phrase(const char *t, size_t n) {
  return anchored(t, n, 'j', 0, "javascript") || anchored(t, n, 'k', 3, "cookie") ||
         anchored(t, n, 'v', 3, "privacy policy") || anchored(t, n, 'f', 7, "terms of use") ||
         anchored(t, n, 'p', 7, "lorem ipsum");
}

/* Bit k set when phrases[k] occurs in s[0..n) (ASCII case-insensitive). */
static unsigned phrases_in(const char *s, size_t n) {
  unsigned st = 0, m = 0;
  for (size_t i = 0; i < n; i++) {
    st = ac_next[st][(unsigned char)s[i]];
    m |= ac_out[st];
  }
  return m;
}

/* Remove "[digits]", "[edit]", "[citation needed]" from line into buf. */
static size_t strip_citations(const char *s, size_t n, char *buf) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    if (s[i] == '[') {
      size_t j = i + 1;
      while (j < n && isdigit((unsigned char)s[j])) j++;
      if (j < n && s[j] == ']') {
        i = j + 1;
        continue;
      }
      if (n - i >= 6 && !strncasecmp(s + i, "[edit]", 6)) {
        i += 6;
        continue;
      }
      if (n - i >= 17 && !strncasecmp(s + i, "[citation needed]", 17)) {
        i += 17;
        continue;
      }
    }
    buf[o++] = s[i++];
  }
  return o;
}

/* Words in a line (whitespace tokens; CJK characters count one each) and
 * the longest token in code points. */
/* Words in a line (whitespace tokens; CJK characters count one each),
 * counted up to `enough`, and the longest token in code points (computed
 * only when the line is longer than long_from bytes: a shorter line cannot
 * hold a longer word). */
/* Is there a run of more than max bytes without a space or tab? (A word of
 * more than max code points needs one.) Sixteen bytes a step with SSE2. */
static int has_long_run(const char *s, size_t n, size_t max) {
  if (n <= max) return 0;
  size_t run = 0, i = 0;
#ifdef __SSE2__
  const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t');
  for (; i + 16 <= n; i += 16) {
    __m128i x = _mm_loadu_si128((const __m128i *)(s + i));
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, sp), _mm_cmpeq_epi8(x, tab)));
    if (!m) {
      run += 16;
    } else {
      run += (size_t)__builtin_ctz(m);
      if (run > max) return 1;
      run = 15 - (size_t)(31 - __builtin_clz(m)); /* bytes after the last space */
    }
    if (run > max) return 1;
  }
#endif
  for (; i < n; i++) {
    run = (s[i] == ' ' || s[i] == '\t') ? 0 : run + 1;
    if (run > max) return 1;
  }
  return 0;
}

static void line_words(const char *s, size_t n, int cjk, size_t enough, size_t long_from,
                       size_t *words, size_t *longest) {
  size_t w = 0, cur = 0, best = 0;
  int in = 0, need_long = has_long_run(s, n, long_from);
  for (size_t i = 0; i < n;) {
    uint32_t cp = (unsigned char)s[i];
    int k = cp < 0x80 ? 1 : tm_utf8_next((const unsigned char *)s + i, n - i, &cp);
    if (cp == ' ' || cp == '\t') {
      in = 0;
      cur = 0;
    } else if (cjk && tm_is_cjk(cp)) {
      w++;
      in = 0;
      cur = 0;
    } else {
      if (!in) w++;
      in = 1;
      if (++cur > best) best = cur;
    }
    if (w >= enough && !need_long) break;
    i += (size_t)k;
  }
  *words = w;
  *longest = best;
}

static size_t sentences(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '.' || ch == '!' || ch == '?') {
      while (i + 1 < n && (s[i + 1] == '.' || s[i + 1] == '!' || s[i + 1] == '?')) i++;
      if (i + 1 >= n || s[i + 1] == ' ' || s[i + 1] == '"' || s[i + 1] == '\'') c++;
    } else if ((unsigned char)ch == 0xe3 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
               (unsigned char)s[i + 2] == 0x82) { /* 。 */
      c++;
      i += 2;
    }
  }
  return c;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int has_bad_word(const tm_c4_params *p, const char *s, size_t n) {
  char w[64];
  for (size_t i = 0; i < n;) {
    while (i < n && !isalnum((unsigned char)s[i])) i++;
    size_t j = i;
    while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '\'' || s[j] == '-')) j++;
    if (j > i && j - i < sizeof w) {
      for (size_t k = i; k < j; k++) w[k - i] = (char)tolower((unsigned char)s[k]);
      w[j - i] = 0;
      const char *key = w;
      if (bsearch(&key, p->bad_words, p->n_bad_words, sizeof *p->bad_words, cmp_str)) return 1;
    }
    i = j + (j == i);
  }
  return 0;
}

int tm_c4_apply(const char *text, size_t n, const tm_c4_params *p, int cjk, tm_textbuf *out,
                tm_c4_counts *counts, const char **drop, tm_rule_trace *trace) {
  *drop = NULL;
  size_t base = out->len, nsent = 0;
  int lorem = 0, curly = 0, bad = 0, blank_pending = 0;
  char *buf = NULL; /* a line without its citation marks, when there are any */
  if (p->remove_citations && memchr(text, '[', n) && !(buf = malloc(n + 1))) return -TM_ENOMEM;
  if (tm_tb_reserve(out, n + 1) < 0) { /* the output is never longer than the input */
    free(buf);
    return -TM_ENOMEM;
  }
  pthread_once(&ac_once, ac_build);
  int phrases_here = any_phrase(text, n);
  for (size_t i = 0; i < n;) {
    const char *nl = memchr(text + i, '\n', n - i);
    size_t e = nl ? (size_t)(nl - text) : n;
    const char *s = text + i;
    size_t l = e - i;
    i = e + 1;
    while (l && (*s == ' ' || *s == '\t')) s++, l--;
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t')) l--;
    if (!l) {
      blank_pending = out->len > base;
      continue;
    }
    if (counts) counts->lines_in++;
    if (buf && memchr(s, '[', l)) {
      l = strip_citations(s, l, buf);
      s = buf;
    }
    /* datatrove's order: punctuation, words, word length remove the line
     * before anything else is looked at; then lorem ipsum, javascript, the
     * curly bracket, policy notices */
    const char *why = NULL;
    size_t words, longest;
    if (p->filter_no_terminal_punct && !tm_ends_terminal_punct(s, l, 0)) why = "punct";
    if (!why) {
      line_words(s, l, cjk, p->min_words_per_line > 0 ? (size_t)p->min_words_per_line : 1,
                 p->max_word_length > 0 ? (size_t)p->max_word_length : SIZE_MAX, &words, &longest);
      if (p->min_words_per_line > 0 && words < (size_t)p->min_words_per_line) why = "words";
      else if (p->max_word_length > 0 && longest > (size_t)p->max_word_length) why = "long";
    }
    if (!why) {
      unsigned ph = phrases_here ? phrases_in(s, l) : 0;
      if (p->filter_lorem_ipsum && (ph & PH_LOREM)) lorem = 1;
      if (p->filter_javascript && (ph & PH_JS)) why = "js";
      else if (p->filter_curly_bracket && memchr(s, '{', l)) curly = 1;
      if (!why && p->filter_policy && (ph & PH_POLICY)) why = "policy";
    }
    if (why) {
      if (counts) {
        counts->lines_removed++;
        switch (why[0]) {
        case 'p': why[1] == 'u' ? counts->no_terminal_punct++ : counts->policy++; break;
        case 'w': counts->too_few_words++; break;
        case 'l': counts->too_long_word++; break;
        case 'j': counts->javascript++; break;
        }
      }
      continue;
    }
    if (p->n_bad_words && !bad && has_bad_word(p, s, l)) bad = 1;
    if (trace || p->min_num_sentences < 0 || nsent < (size_t)p->min_num_sentences)
      nsent += sentences(s, l); /* enough once the minimum is reached */
    /* room reserved above: kept lines and their separators fit in n + 1 */
    if (out->len > base) {
      out->p[out->len++] = '\n';
      if (blank_pending) out->p[out->len++] = '\n';
    }
    blank_pending = 0;
    memcpy(out->p + out->len, s, l);
    out->len += l;
  }
  free(buf);
  if (tm_rule_check(trace, "c4.lorem_ipsum", lorem, '>', p->filter_lorem_ipsum ? 0 : -1) && !*drop)
    *drop = "c4.lorem_ipsum";
  if (tm_rule_check(trace, "c4.curly_bracket", curly, '>', p->filter_curly_bracket ? 0 : -1) && !*drop)
    *drop = "c4.curly_bracket";
  if (p->n_bad_words && tm_rule_check(trace, "c4.bad_words", bad, '>', 0) && !*drop)
    *drop = "c4.bad_words";
  if (tm_rule_check(trace, "c4.no_sentences", (double)(out->len - base), '<', 1) && !*drop)
    *drop = "c4.no_sentences";
  if (tm_rule_check(trace, "c4.too_few_sentences", (double)nsent, '<', p->min_num_sentences) &&
      !*drop)
    *drop = "c4.too_few_sentences";
  return tm_tb_finish(out);
}
