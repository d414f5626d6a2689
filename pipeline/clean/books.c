/* books.c - book cleaning: Gutenberg boilerplate, page numbers, running
 * headers, hyphenation, hard wraps; see source_rules.h. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#define XXH_INLINE_ALL /* short keys: inlined hashing is much faster */
#include <xxhash.h>

#include "source_rules.h"

static int starts_ci(const char *s, size_t n, const char *p) {
  size_t k = strlen(p);
  return n >= k && !strncasecmp(s, p, k);
}

static int has_ci(const char *s, size_t n, const char *p) {
  size_t k = strlen(p);
  for (size_t i = 0; i + k <= n; i++)
    if (!strncasecmp(s + i, p, k)) return 1;
  return 0;
}

/* The body between the Gutenberg START and END marker lines. */
static void gutenberg_body(const char *t, size_t n, size_t *b, size_t *e) {
  *b = 0;
  *e = n;
  int started = 0;
  for (size_t i = 0; i < n;) {
    const char *nl = memchr(t + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - t) : n, l = end - i;
    const char *s = t + i;
    if (l < 200 && has_ci(s, l, "project gutenberg")) {
      if (!started && (starts_ci(s, l, "*** start of") || starts_ci(s, l, "***start of"))) {
        *b = end < n ? end + 1 : n;
        started = 1;
      } else if (starts_ci(s, l, "*** end of") || starts_ci(s, l, "***end of") ||
                 starts_ci(s, l, "end of the project gutenberg") ||
                 starts_ci(s, l, "end of project gutenberg")) {
        if (i >= *b) {
          *e = i;
          return;
        }
      }
    }
    i = end + 1;
  }
}

static int is_page_number(const char *s, size_t l) {
  size_t i = 0;
  if (starts_ci(s, l, "page ")) i = 5;
  else if (starts_ci(s, l, "p. ")) i = 3;
  while (i < l && (s[i] == '-' || s[i] == '[' || s[i] == '(' || s[i] == ' ')) i++;
  size_t d = 0;
  while (i < l && isdigit((unsigned char)s[i])) i++, d++;
  while (i < l && (s[i] == '-' || s[i] == ']' || s[i] == ')' || s[i] == ' ')) i++;
  return d >= 1 && d <= 4 && i == l;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Is h among the hashes that occur at least min times (sorted array)? */
static int is_frequent(const uint64_t *rep, size_t nrep, uint64_t h) {
  return bsearch(&h, rep, nrep, sizeof *rep, cmp_u64) != NULL;
}

int tm_book_clean(const char *text, size_t n, const tm_book_params *p, tm_textbuf *out,
                  tm_book_counts *c) {
  size_t b = 0, e = n;
  if (p->gutenberg) {
    gutenberg_body(text, n, &b, &e);
    if (c) c->gutenberg_bytes += n - (e - b);
  }
  const char *t = text + b;
  n = e - b;
  /* running headers: hashes of short lines that repeat */
  uint64_t *hs = NULL, *rep = NULL;
  size_t nh = 0, nrep = 0;
  if (p->running_headers) {
    size_t cap = 1024;
    hs = malloc(cap * sizeof *hs);
    if (!hs) return -TM_ENOMEM;
    for (size_t i = 0; i < n;) {
      const char *nl = memchr(t + i, '\n', n - i);
      size_t end = nl ? (size_t)(nl - t) : n, l = end - i;
      if (l && l <= 60) {
        if (nh == cap) {
          uint64_t *x = realloc(hs, 2 * cap * sizeof *hs);
          if (!x) {
            free(hs);
            return -TM_ENOMEM;
          }
          hs = x;
          cap *= 2;
        }
        hs[nh++] = XXH3_64bits(t + i, l);
      }
      i = end + 1;
    }
    qsort(hs, nh, sizeof *hs, cmp_u64);
    rep = hs; /* compact in place: one entry per frequent hash */
    for (size_t i = 0; i < nh;) {
      size_t j = i;
      while (j < nh && hs[j] == hs[i]) j++;
      if (j - i >= (size_t)(p->running_header_min > 1 ? p->running_header_min : 3)) rep[nrep++] = hs[i];
      i = j;
    }
  }
  int rc = tm_tb_reserve(out, n);
  int at_line_start = 1; /* out ends at a line start (or is empty) */
  size_t base = out->len;
  for (size_t i = 0; i < n && rc == 0;) {
    const char *nl = memchr(t + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - t) : n, l = end - i;
    const char *s = t + i;
    i = end + 1;
    if (!l) { /* paragraph break */
      if (out->len > base) {
        while (out->len > base && out->p[out->len - 1] == '\n') out->len--;
        rc = tm_tb_puts(out, "\n\n");
        at_line_start = 1;
      }
      continue;
    }
    if (p->page_numbers && is_page_number(s, l)) {
      if (c) c->page_numbers++;
      continue;
    }
    if (nrep && l <= 60 && is_frequent(rep, nrep, XXH3_64bits(s, l))) {
      if (c) c->running_headers++;
      continue;
    }
    if (!at_line_start) {
      /* join with the previous line of the paragraph */
      char prev = out->p[out->len - 1], prev2 = out->len - base > 1 ? out->p[out->len - 2] : 0;
      if (p->dehyphenate && prev == '-' && isalpha((unsigned char)prev2) && islower((unsigned char)s[0])) {
        out->len--;
        if (c) c->hyphens_joined++;
      } else {
        rc = tm_tb_putc(out, p->unwrap ? ' ' : '\n');
      }
    }
    if (rc == 0) rc = tm_tb_put(out, s, l);
    at_line_start = 0;
  }
  free(hs);
  while (out->len > base && out->p[out->len - 1] == '\n') out->len--;
  return rc < 0 ? rc : tm_tb_finish(out);
}

/* Is the paragraph t[0..n) (lines split by '\n') hard-wrapped? */
static int hard_wrapped(const char *t, size_t n) {
  size_t lines = 0, long_lines = 0, ends = 0;
  for (size_t i = 0; i < n;) {
    const char *nl = memchr(t + i, '\n', n - i);
    size_t e = nl ? (size_t)(nl - t) : n, l = e - i;
    if (l > 100 || (l && t[i] == '>')) return 0;
    if (nl) { /* not the last line */
      lines++;
      long_lines += l >= 50;
      ends += l && strchr(".!?:\"'", t[e - 1]) != NULL;
    }
    i = e + 1;
  }
  /* wrap points fall mid-sentence: most wrapped lines end without a stop */
  return lines >= 1 && long_lines * 2 >= lines && ends * 2 <= lines;
}

int tm_unwrap_hard_wraps(const char *t, size_t n, tm_textbuf *out, uint64_t *joined) {
  if (tm_tb_reserve(out, n) < 0) return -TM_ENOMEM;
  for (size_t i = 0; i < n;) {
    /* a paragraph: up to "\n\n" */
    size_t e = i;
    for (;;) {
      const char *nl = memchr(t + e, '\n', n - e);
      if (!nl) {
        e = n;
        break;
      }
      e = (size_t)(nl - t);
      if (e + 1 < n && t[e + 1] == '\n') break;
      e++;
    }
    if (hard_wrapped(t + i, e - i)) {
      for (size_t k = i; k < e; k++) out->p[out->len++] = t[k] == '\n' ? ' ' : t[k];
      if (joined) (*joined)++;
    } else {
      memcpy(out->p + out->len, t + i, e - i);
      out->len += e - i;
    }
    size_t sep = 0;
    while (e + sep < n && t[e + sep] == '\n') sep++;
    memcpy(out->p + out->len, t + e, sep);
    out->len += sep;
    i = e + sep;
  }
  return tm_tb_finish(out);
}
