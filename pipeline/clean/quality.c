/* quality.c - Gopher quality, Gopher repetition and FineWeb filters; see
 * quality.h. The repetition statistics use one open-addressing table of
 * 64-bit hashes (scratch, reused across documents). */
#include "quality.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#define XXH_INLINE_ALL /* short keys: inlined hashing is much faster */
#include <xxhash.h>

void tm_gopher_quality_defaults(tm_gopher_quality_params *p) {
  *p = (tm_gopher_quality_params){50, 100000, 3, 10, 0.1, 0.9, 0.3, 0.8, 2};
}

void tm_gopher_repetition_defaults(tm_gopher_repetition_params *p) {
  *p = (tm_gopher_repetition_params){
      0.3, 0.3, 0.2, 0.2, {0.20, 0.18, 0.16}, {0.15, 0.14, 0.13, 0.12, 0.11, 0.10}};
}

void tm_fineweb_defaults(tm_fineweb_params *p) {
  *p = (tm_fineweb_params){0.12, 0, 0.67, 30, 0.01, 0.3};
}

int tm_rule_check(tm_rule_trace *t, const char *rule, double value, char cmp, double threshold) {
  int failed = threshold >= 0 && (cmp == '<' ? value < threshold : value > threshold);
  if (t && t->n < TM_TRACE_MAX) {
    tm_rule_eval *e = &t->e[t->n++];
    snprintf(e->rule, sizeof e->rule, "%s", rule);
    e->value = value;
    e->threshold = threshold;
    e->cmp = cmp;
    e->failed = failed;
  }
  return failed;
}

void tm_quality_scratch_free(tm_quality_scratch *s) {
  free(s->slots);
  free(s->cur);
  free(s->flag);
  memset(s, 0, sizeof *s);
}

/* ---- hash table ----------------------------------------------------------- */

typedef struct {
  tm_quality_slot *s;
  size_t mask;
} table;

/* An empty table for about n keys (load <= 1/2); s == NULL on OOM. */
static table table_open(tm_quality_scratch *s, size_t n) {
  table t = {0};
  size_t cap = 64;
  while (cap < 2 * n + 2) cap *= 2;
  if (cap > s->cap) {
    tm_quality_slot *x = realloc(s->slots, cap * sizeof *x);
    if (!x) return t;
    s->slots = x;
    s->cap = cap;
  }
  memset(s->slots, 0, cap * sizeof *s->slots);
  t.s = s->slots;
  t.mask = cap - 1;
  return t;
}

#define SEEN (1u << 31) /* a mark in count, for the left-to-right repeat scan */

/* Insert key; returns its slot, whose count is the new count (1 when first
 * seen). */
static inline tm_quality_slot *table_slot(table *t, uint64_t key) {
  if (key == 0) key = 1;
  size_t i = (size_t)(key ^ (key >> 29)) & t->mask;
  for (;;) {
    tm_quality_slot *q = &t->s[i];
    if (q->key == key) {
      q->count++;
      return q;
    }
    if (q->key == 0) {
      q->key = key;
      q->count = 1;
      return q;
    }
    i = (i + 1) & t->mask;
  }
}

static inline uint32_t table_add(table *t, uint64_t key) { return table_slot(t, key)->count; }

/* ---- helpers -------------------------------------------------------------- */

static size_t code_points(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xc0) != 0x80;
  return c;
}

static int ends_with(const char *s, size_t n, const char *suf) {
  size_t k = strlen(suf);
  return n >= k && !memcmp(s + n - k, suf, k);
}

int tm_ends_terminal_punct(const char *line, size_t n, int ellipsis_ok) {
  while (n && (line[n - 1] == ' ')) n--;
  if (!n) return 0;
  if (!ellipsis_ok && (ends_with(line, n, "...") || ends_with(line, n, "\xe2\x80\xa6"))) return 0;
  char c = line[n - 1];
  if (c == '.' || c == '!' || c == '?' || c == '"' || c == '\'') return 1;
  if ((unsigned char)c < 0x80) return 0; /* the others all end in a non-ASCII byte */
  static const char *const uni[] = {
      "\xe3\x80\x82", /* 。 */ "\xef\xbc\x81", /* ！ */ "\xef\xbc\x9f", /* ？ */
      "\xef\xbc\x8e", /* ． */ "\xef\xbd\xa1", /* ｡ */ "\xe2\x80\x9d", /* ” */
      "\xe2\x80\x99", /* ’ */ "\xe2\x80\xa6", /* … */ "\xd8\x9f",     /* ؟ */
      "\xdb\x94",     /* ۔ */ "\xe0\xa5\xa4", /* । */ "\xe0\xa5\xa5", /* ॥ */
      "\xe1\x8d\xa2", /* ። */ "\xe3\x80\x8d", /* 」 */ "\xe3\x80\x8f", /* 』 */
      "\xe2\x80\xbc", /* ‼ */ "\xe2\x81\x89", /* ⁉ */ "\xd5\x89",     /* ։ */
  };
  for (size_t i = 0; i < sizeof uni / sizeof uni[0]; i++)
    if (ends_with(line, n, uni[i])) return 1;
  return 0;
}

/* ---- stop words ------------------------------------------------------------ */

typedef struct {
  const char *lang;
  const char *words[9];
} stop_list;

static const stop_list stop_lists[] = {
    {"en", {"the", "be", "to", "of", "and", "that", "have", "with", NULL}},
    {"de", {"der", "die", "und", "in", "den", "von", "zu", "das", NULL}},
    {"fr", {"de", "la", "le", "et", "les", "des", "en", "un", NULL}},
    {"es", {"de", "la", "que", "el", "en", "y", "a", "los", NULL}},
    {"it", {"di", "e", "il", "la", "che", "in", "un", "per", NULL}},
    {"pt", {"de", "a", "o", "que", "e", "do", "da", "em", NULL}},
    {"nl", {"de", "en", "van", "het", "een", "in", "is", "dat", NULL}},
    {"zh", {"\xe7\x9a\x84", "\xe4\xba\x86", "\xe6\x98\xaf", "\xe5\x9c\xa8", "\xe5\x92\x8c",
            "\xe6\x9c\x89", "\xe6\x88\x91", "\xe4\xb8\x8d", NULL}}, /* 的 了 是 在 和 有 我 不 */
    {"ja", {"\xe3\x81\xae", "\xe3\x81\xab", "\xe3\x81\xaf", "\xe3\x82\x92", "\xe3\x81\x9f",
            "\xe3\x81\x8c", "\xe3\x81\xa7", "\xe3\x81\xa6", NULL}}, /* の に は を た が で て */
};

static const stop_list *stop_list_for(const char *lang) {
  if (!lang || !*lang || !strcmp(lang, "un")) lang = "en";
  for (size_t i = 0; i < sizeof stop_lists / sizeof stop_lists[0]; i++)
    if (!strncmp(lang, stop_lists[i].lang, 2)) return &stop_lists[i];
  return NULL;
}

static int is_stop(const stop_list *sl, const char *w, size_t n) {
  char low[8];
  if (n > 7) return 0;
  for (size_t i = 0; i < n; i++) low[i] = (char)((w[i] >= 'A' && w[i] <= 'Z') ? w[i] + 32 : w[i]);
  for (int i = 0; sl->words[i]; i++)
    if (strlen(sl->words[i]) == n && !memcmp(sl->words[i], low, n)) return 1;
  return 0;
}

int tm_text_is_cjk(const tm_words *w, const char *lang) {
  if (lang && (!strncmp(lang, "zh", 2) || !strncmp(lang, "ja", 2))) return 1;
  return w->n_words > 0 && w->n_cjk * 2 > w->n_words;
}

/* ---- Gopher quality ------------------------------------------------------- */

#define FAIL(name)         \
  do {                     \
    if (!trace) return name; \
    if (!first) first = name; \
  } while (0)

const char *tm_gopher_quality(const char *text, size_t n, const tm_words *w, const char *lang,
                              const tm_gopher_quality_params *p, tm_rule_trace *trace) {
  const char *first = NULL;
  double nw = (double)w->n_words, ntok = w->n_tokens ? (double)w->n_tokens : 1;
  if (tm_rule_check(trace, "gopher_quality.short_doc", nw, '<', p->min_doc_words))
    FAIL("gopher_quality.short_doc");
  if (tm_rule_check(trace, "gopher_quality.long_doc", nw, '>', p->max_doc_words))
    FAIL("gopher_quality.long_doc");
  if (!tm_text_is_cjk(w, lang) && w->n) {
    uint64_t total = 0;
    for (size_t i = 0; i < w->n; i++) total += w->w[i].clen;
    double avg = (double)total / (double)w->n;
    if (tm_rule_check(trace, "gopher_quality.below_avg_threshold", avg, '<', p->min_avg_word_length))
      FAIL("gopher_quality.below_avg_threshold");
    if (tm_rule_check(trace, "gopher_quality.above_avg_threshold", avg, '>', p->max_avg_word_length))
      FAIL("gopher_quality.above_avg_threshold");
  }
  size_t hashes = 0, ellipses = 0;
  for (const char *q = text; (q = memchr(q, '#', (size_t)(text + n - q))) != NULL; q++) hashes++;
  for (size_t i = 0; i + 2 < n; i++) {
    if (text[i] == '.' && text[i + 1] == '.' && text[i + 2] == '.') ellipses++, i += 2;
    else if ((unsigned char)text[i] == 0xe2 && (unsigned char)text[i + 1] == 0x80 &&
             (unsigned char)text[i + 2] == 0xa6)
      ellipses++, i += 2;
  }
  if (tm_rule_check(trace, "gopher_quality.too_many_hashes", (double)hashes / ntok, '>',
                    p->max_symbol_word_ratio))
    FAIL("gopher_quality.too_many_hashes");
  if (tm_rule_check(trace, "gopher_quality.too_many_ellipsis", (double)ellipses / ntok, '>',
                    p->max_symbol_word_ratio))
    FAIL("gopher_quality.too_many_ellipsis");
  size_t lines = 0, bullets = 0, end_ellipsis = 0;
  for (size_t i = 0; i < n;) {
    const char *nl = memchr(text + i, '\n', n - i);
    size_t e = nl ? (size_t)(nl - text) : n, l = e - i;
    const char *s = text + i;
    if (l) {
      lines++;
      if (s[0] == '-' || s[0] == '*' || (l >= 3 && !memcmp(s, "\xe2\x80\xa2", 3))) bullets++;
      if (ends_with(s, l, "...") || ends_with(s, l, "\xe2\x80\xa6")) end_ellipsis++;
    }
    i = e + 1;
  }
  double nl_ = lines ? (double)lines : 1;
  if (tm_rule_check(trace, "gopher_quality.too_many_bullets", (double)bullets / nl_, '>',
                    p->max_bullet_lines_ratio))
    FAIL("gopher_quality.too_many_bullets");
  if (tm_rule_check(trace, "gopher_quality.too_many_end_ellipsis", (double)end_ellipsis / nl_, '>',
                    p->max_ellipsis_lines_ratio))
    FAIL("gopher_quality.too_many_end_ellipsis");
  uint64_t alpha = 0;
  for (size_t i = 0; i < w->n; i++) alpha += (w->w[i].flags & TM_WORD_ALPHA) != 0;
  /* words not stored (over max_words) are assumed like the stored ones */
  double alpha_ratio = w->n ? (double)alpha / (double)w->n * ((double)w->n_words / ntok) : 0;
  if (tm_rule_check(trace, "gopher_quality.below_alpha_threshold", alpha_ratio, '<',
                    p->min_alpha_words_ratio))
    FAIL("gopher_quality.below_alpha_threshold");
  const stop_list *sl = stop_list_for(lang);
  if (sl && p->min_stop_words > 0) {
    size_t stops = 0;
    for (size_t i = 0; i < w->n && (trace || stops < (size_t)p->min_stop_words); i++)
      stops += is_stop(sl, text + w->w[i].off, w->w[i].len);
    if (tm_rule_check(trace, "gopher_quality.enough_stop_words", (double)stops, '<',
                      p->min_stop_words))
      FAIL("gopher_quality.enough_stop_words");
  }
  return first;
}

/* ---- Gopher repetition --------------------------------------------------- */

/* Duplicated units (lines when sep is "\n", paragraphs when "\n\n"):
 * count of repeats, bytes in repeats, number of units. */
static int find_duplicates_uncached(tm_quality_scratch *s, const char *text, size_t n, int para,
                                    size_t *units, size_t *dups, size_t *dup_bytes);

static int find_duplicates(tm_quality_scratch *s, const char *text, size_t n, int para,
                           size_t *units, size_t *dups, size_t *dup_bytes) {
  if (para) return find_duplicates_uncached(s, text, n, para, units, dups, dup_bytes);
  uint64_t key = XXH3_64bits(text, n); /* ~20 GB/s: far cheaper than the statistics */
  if (s->lines_valid && s->lines_key == key && s->lines_len == n) {
    *units = s->lines_units;
    *dups = s->lines_dups;
    *dup_bytes = s->lines_dup_bytes;
    return 0;
  }
  if (find_duplicates_uncached(s, text, n, 0, units, dups, dup_bytes) < 0) return -1;
  s->lines_valid = 1;
  s->lines_key = key;
  s->lines_len = n;
  s->lines_units = *units;
  s->lines_dups = *dups;
  s->lines_dup_bytes = *dup_bytes;
  return 0;
}

static int find_duplicates_uncached(tm_quality_scratch *s, const char *text, size_t n, int para,
                                    size_t *units, size_t *dups, size_t *dup_bytes) {
  size_t est = 1;
  for (const char *q = text; (q = memchr(q, '\n', (size_t)(text + n - q))) != NULL; q++) est++;
  table t = table_open(s, est);
  if (!t.s) return -1;
  *units = *dups = *dup_bytes = 0;
  size_t i = 0;
  while (i < n) {
    size_t e = i;
    for (;;) {
      const char *nl = memchr(text + e, '\n', n - e);
      if (!nl) {
        e = n;
        break;
      }
      e = (size_t)(nl - text);
      if (!para || (e + 1 < n && text[e + 1] == '\n') || e + 1 >= n) break;
      e++; /* a single newline inside a paragraph */
    }
    if (e > i) {
      (*units)++;
      if (table_add(&t, XXH3_64bits(text + i, e - i)) > 1) {
        (*dups)++;
        *dup_bytes += e - i;
      }
    }
    i = e + 1;
    while (i < n && text[i] == '\n') i++;
  }
  return 0;
}

const char *tm_gopher_repetition(tm_quality_scratch *s, const char *text, size_t n,
                                 const tm_words *w, const tm_gopher_repetition_params *p,
                                 tm_rule_trace *trace) {
  const char *first = NULL;
  double len = n ? (double)n : 1;
  size_t units, dups, dup_bytes;
  if (find_duplicates(s, text, n, 1, &units, &dups, &dup_bytes) < 0) return "oom";
  if (tm_rule_check(trace, "gopher_repetition.dup_para_frac", units ? (double)dups / units : 0, '>',
                    p->dup_para_frac))
    FAIL("gopher_repetition.dup_para_frac");
  if (tm_rule_check(trace, "gopher_repetition.dup_para_char_frac", dup_bytes / len, '>',
                    p->dup_para_char_frac))
    FAIL("gopher_repetition.dup_para_char_frac");
  if (find_duplicates(s, text, n, 0, &units, &dups, &dup_bytes) < 0) return "oom";
  if (tm_rule_check(trace, "gopher_repetition.dup_line_frac", units ? (double)dups / units : 0, '>',
                    p->dup_line_frac))
    FAIL("gopher_repetition.dup_line_frac");
  if (tm_rule_check(trace, "gopher_repetition.dup_line_char_frac", dup_bytes / len, '>',
                    p->dup_line_char_frac))
    FAIL("gopher_repetition.dup_line_char_frac");

  /* n-grams of 2..10 words. An n-gram can repeat only where its (n-1)-word
   * prefix repeats, so each pass looks only at the positions whose previous
   * n-gram occurred more than once (`act`, ascending): in prose most 3-grams
   * are already unique and the later passes are short. Leaving the other
   * positions out changes no statistic: they hold unique n-grams, which
   * neither make the top n-gram (count 1) nor are ever a repeat. */
  size_t nw = w->n;
  if (nw < 2) return first;
  if (s->cur_cap < 3 * nw) { /* hashes, then positions and slot indices (32-bit each) */
    uint64_t *c = realloc(s->cur, 3 * nw * sizeof *c);
    if (!c) return "oom";
    s->cur = c;
    s->cur_cap = 3 * nw;
  }
  if (s->flag_cap < nw) {
    unsigned char *f = realloc(s->flag, nw);
    if (!f) return "oom";
    s->flag = f;
    s->flag_cap = nw;
  }
  uint64_t *cur = s->cur;                      /* n-gram hash per position */
  uint32_t *act = (uint32_t *)(cur + nw);      /* active positions, ascending */
  uint32_t *slot = act + nw;                   /* their slots in this pass's table */
  unsigned char *flag = s->flag;               /* position's n-gram repeats */
  memcpy(cur, w->hash, nw * sizeof *cur);
  memset(flag, 0, nw);
  size_t na = nw;
  for (size_t i = 0; i < nw; i++) act[i] = (uint32_t)i;
  static const char *const top_names[] = {"gopher_repetition.top_2_gram",
                                          "gopher_repetition.top_3_gram",
                                          "gopher_repetition.top_4_gram"};
  static const char *const dup_names[] = {
      "gopher_repetition.duplicated_5_n_grams", "gopher_repetition.duplicated_6_n_grams",
      "gopher_repetition.duplicated_7_n_grams", "gopher_repetition.duplicated_8_n_grams",
      "gopher_repetition.duplicated_9_n_grams", "gopher_repetition.duplicated_10_n_grams"};
  for (size_t k = 2; k <= 10; k++) {
    size_t m = nw >= k ? nw - k + 1 : 0; /* positions with a k-gram */
    while (na && act[na - 1] >= m) na--;
    /* extend each (k-1)-gram hash by one word (an order-sensitive mix) */
    for (size_t j = 0; j < na; j++) {
      size_t i = act[j];
      uint64_t x = (cur[i] ^ (cur[i] >> 31)) * 0x9e3779b97f4a7c15ull + w->hash[i + k - 1];
      cur[i] = x ^ (x >> 29);
    }
    table t = table_open(s, na);
    if (!t.s) return "oom";
    uint32_t best = 0;
    size_t best_len = 0;
    /* count, and flag the positions whose k-gram repeats as it happens: the
     * second occurrence flags the first one too */
    for (size_t j = 0; j < na; j++) {
      uint32_t i = act[j];
      tm_quality_slot *q = table_slot(&t, cur[i]);
      slot[j] = (uint32_t)(q - t.s);
      uint32_t c = q->count;
      if (c == 1) {
        q->first = i;
      } else {
        flag[i] = 1;
        if (c == 2) flag[q->first] = 1;
      }
      if (k <= 4 && c > best) {
        best = c;
        size_t sum = k - 1; /* the n-gram joined by single spaces */
        for (size_t z = 0; z < k; z++) sum += w->w[i + z].len;
        best_len = sum;
      }
    }
    /* keep the positions whose k-gram repeats (and their slots) */
    size_t nn = 0;
    for (size_t j = 0; j < na; j++) {
      uint32_t i = act[j];
      if (flag[i]) {
        flag[i] = 0;
        act[nn] = i;
        slot[nn++] = slot[j];
      }
    }
    na = nn;
    if (k <= 4) {
      double v = best > 1 ? (double)best * (double)best_len / len : 0;
      if (tm_rule_check(trace, top_names[k - 2], v, '>', p->top_n_gram[k - 2])) FAIL(top_names[k - 2]);
    } else {
      /* bytes in repeated k-grams scanning left to right; after a repeat the
       * scan jumps past it (datatrove's find_all_duplicate) */
      size_t rep = 0, next = 0;
      for (size_t j = 0; j < na; j++) {
        size_t i = act[j];
        if (i < next) continue;
        tm_quality_slot *q = &t.s[slot[j]];
        if (q->count & SEEN) {
          for (size_t z = 0; z < k; z++) rep += w->w[i + z].len;
          next = i + k;
        } else {
          q->count |= SEEN;
        }
      }
      if (tm_rule_check(trace, dup_names[k - 5], (double)rep / len, '>', p->dup_n_gram[k - 5]))
        FAIL(dup_names[k - 5]);
    }
    if (!na && !trace) break; /* nothing repeats any more: the rest are 0 */
  }
  return first;
}

/* ---- FineWeb -------------------------------------------------------------- */

const char *tm_fineweb_quality(tm_quality_scratch *s, const char *text, size_t n,
                               const tm_words *w, const tm_fineweb_params *p,
                               tm_rule_trace *trace) {
  const char *first = NULL;
  size_t lines = 0, punct = 0, shorts = 0, newlines = 0;
  for (size_t i = 0; i < n;) {
    const char *nl = memchr(text + i, '\n', n - i);
    size_t e = nl ? (size_t)(nl - text) : n, l = e - i;
    if (nl) newlines++;
    if (l) {
      lines++;
      punct += tm_ends_terminal_punct(text + i, l, 1);
      shorts += code_points(text + i, l) <= (size_t)p->short_line_length;
    }
    i = e + 1;
  }
  if (!lines) return "fineweb.empty";
  double r = (double)punct / lines;
  if (!(r == 0 && p->line_punct_exclude_zero) &&
      tm_rule_check(trace, "fineweb.line_punct_ratio", r, '<', p->line_punct_thr))
    FAIL("fineweb.line_punct_ratio");
  if (tm_rule_check(trace, "fineweb.short_line_ratio", (double)shorts / lines, '>',
                    p->short_line_thr))
    FAIL("fineweb.short_line_ratio");
  size_t units, dups, dup_bytes;
  if (find_duplicates(s, text, n, 0, &units, &dups, &dup_bytes) < 0) return "oom";
  double body = (double)(n - newlines);
  if (tm_rule_check(trace, "fineweb.char_dup_ratio", body > 0 ? dup_bytes / body : 0, '>',
                    p->char_duplicates_ratio))
    FAIL("fineweb.char_dup_ratio");
  double words = w->n_words ? (double)w->n_words : 1;
  if (tm_rule_check(trace, "fineweb.list_ratio", (double)newlines / words, '>', p->new_line_ratio))
    FAIL("fineweb.list_ratio");
  return first;
}
