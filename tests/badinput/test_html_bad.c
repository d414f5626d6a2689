/* test_html_bad.c - hostile HTML through both parsers.
 *  - deeply nested HTML is bounded before parsing (pipeline/clean/html_depth.h)
 *    and keeps its text; ordinary pages are parsed untouched;
 *  - a tag left open by the end of input is dropped by both parsers, as HTML5
 *    says (myhtml would keep it as text, through a libmodest bug). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clean/html_depth.h"
#include "clean/html_text.h"
#include "clean/normalize.h"
#include "tm_test.h"

static char *repeat(const char *open, size_t n, const char *mid, const char *close) {
  size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
  char *s = malloc(n * (lo + lc) + lm + 1), *p = s;
  if (!s) abort();
  for (size_t i = 0; i < n; i++, p += lo) memcpy(p, open, lo);
  memcpy(p, mid, lm);
  p += lm;
  for (size_t i = 0; i < n; i++, p += lc) memcpy(p, close, lc);
  *p = 0;
  return s;
}

/* tm_html_bound_depth on s; returns the removed count, the copy in out. */
static long bound(const char *s, size_t max, tm_textbuf *out) {
  out->len = 0;
  return tm_html_bound_depth(s, strlen(s), max, out);
}

/* Text of s through every parser built in. */
static void text_all(const char *s, tm_textbuf *gumbo, tm_textbuf *myhtml) {
  gumbo->len = myhtml->len = 0;
  CHECK(tm_html_to_text(s, strlen(s), gumbo, NULL) == 0);
  tm_html_parser *p = NULL;
  if (tm_html_have_myhtml() && tm_html_parser_new(&p, TM_HTML_MYHTML) == 0) {
    CHECK(tm_html_extract(p, s, strlen(s), myhtml, NULL) == 0);
    tm_html_parser_free(p);
  } else {
    CHECK(tm_tb_put(myhtml, gumbo->p, gumbo->len) == 0 && tm_tb_finish(myhtml) == 0);
  }
}

int main(void) {
  tm_textbuf out = {0}, g = {0}, m = {0};

  /* ordinary markup, at and below the bound, is not rewritten */
  const char *page =
      "<!DOCTYPE html><html><head><title>t</title><script>if (a<b) { x = '<div><div><div>'; }</script>"
      "</head><body><div class=\"a>b\"><p>one<p>two<ul><li>x<li>y</ul><br><img src=x>"
      "<!-- <div><div><div> --><svg><path d='M0'/></svg></div></body></html>";
  CHECK(bound(page, 2, &out) == 0 && out.len == 0);
  char *at = repeat("<div>", 8, "text", "</div>");
  CHECK(bound(at, 8, &out) == 0);
  CHECK(bound(at, 7, &out) == 2); /* the innermost <div> and its </div> */
  CHECK(strstr(out.p, "text") && strlen(out.p) == strlen(at) - 11);
  free(at);

  /* elements closed by a sibling, void and raw-text elements do not count */
  char *flat = repeat("<p>para ", 5000, "", "");
  CHECK(bound(flat, 16, &out) == 0);
  free(flat);
  flat = repeat("<li>item<br><img src=x><input>", 5000, "", "");
  CHECK(bound(flat, 16, &out) == 0);
  free(flat);
  char *inner = repeat("<div>", 50000, "", "");
  char *raw = malloc(strlen(inner) + 64);
  sprintf(raw, "<div><div><script>%s</script><p>after</p></div></div>", inner);
  CHECK(bound(raw, 16, &out) == 0);
  free(inner);
  free(raw);

  /* 100 000 nested tags: bounded to TM_HTML_MAX_DEPTH, the text survives */
  size_t n = 100000;
  char *deep = repeat("<div>", n, "deep text", "</div>");
  long removed = bound(deep, TM_HTML_MAX_DEPTH, &out);
  CHECKF(removed == (long)(2 * (n - TM_HTML_MAX_DEPTH)), "removed %ld", removed);
  CHECK(bound(out.p, TM_HTML_MAX_DEPTH, &g) == 0); /* the copy is within the bound */
  text_all(deep, &g, &m);
  CHECKF(!strcmp(g.p, "deep text"), "gumbo text '%.40s'", g.p ? g.p : "");
  CHECKF(!strcmp(m.p, "deep text"), "myhtml text '%.40s'", m.p ? m.p : "");
  free(deep);

  /* a word at every level, nested past the bound: all words, in order */
  size_t levels = 3000;
  char *words = malloc(levels * 40 + 1), *w = words;
  for (size_t i = 0; i < levels; i++) w += sprintf(w, "<section>w%zu ", i);
  for (size_t i = 0; i < levels; i++) w += sprintf(w, "</section>");
  CHECK(bound(words, TM_HTML_MAX_DEPTH, &out) == (long)(2 * (levels - TM_HTML_MAX_DEPTH)));
  text_all(words, &g, &m);
  CHECK(g.len > 0 && m.len > 0);
  const char *gp = g.p, *mp = m.p;
  int in_order = 1;
  for (size_t i = 0; i < levels && in_order; i++) {
    char word[24];
    snprintf(word, sizeof word, "w%zu", i);
    const char *a = strstr(gp, word), *b = strstr(mp, word);
    in_order = a && b;
    if (a) gp = a + strlen(word);
    if (b) mp = b + strlen(word);
  }
  CHECK(in_order);
  free(words);

  /* unclosed tags, a tag cut by the end of input, quotes holding '>' */
  char *unclosed = repeat("<span title='x>y'>", 2000, "end <div", "");
  CHECK(bound(unclosed, 100, &out) == 1900);
  CHECK(strstr(out.p, "end <div") != NULL);
  free(unclosed);

  /* tags cut by the end of input; the first is what fuzz_html found */
  const char *cut[][2] = {
      {"                \xef\xbf\xbd<p{}<\xef\xbf\xbdtc&", "\xef\xbf\xbd"},
      {"<p>kept</p><div class=x", "kept"},
      {"<p>kept</p></di", "kept"},
      {"<p>kept</p>c <3", "kept\n\nc <3"},
      /* a bare '<' at the end is text, and so is what came before it
       * (myhtml alone lost "d<") */
      {"<p>kept</p>d<", "kept\n\nd<"},
      {"<p>kept</p>d<<", "kept\n\nd<<"},
      {"c<", "c<"},
  };
  for (size_t i = 0; i < sizeof cut / sizeof *cut; i++) {
    text_all(cut[i][0], &g, &m);
    CHECKF(!strcmp(g.p, cut[i][1]), "gumbo '%s' -> '%s'", cut[i][0], g.p);
    CHECKF(!strcmp(m.p, cut[i][1]), "myhtml '%s' -> '%s'", cut[i][0], m.p);
  }

  /* text nodes that libmodest merges with an overlapping memcpy
   * (tests/asan.supp): after UTF-8 repair, as the clean stage runs them,
   * myhtml's text equals gumbo's */
  static const char merged[] = "\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b=\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x15\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b<\x0btabl\xff\x04--><td>`cel\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b";
  tm_textbuf fixed = {0};
  tm_repair_counts rc = {0};
  CHECK(tm_utf8_repair(merged, sizeof merged - 1, &fixed, &rc) == 0 && tm_tb_finish(&fixed) == 0);
  text_all(fixed.p, &g, &m);
  CHECKF(g.len > 0 && !strcmp(g.p, m.p), "gumbo '%s' myhtml '%s'", g.p, m.p);
  tm_tb_free(&fixed);

  tm_tb_free(&out);
  tm_tb_free(&g);
  tm_tb_free(&m);
  return tm_test_finish("test_html_bad");
}
