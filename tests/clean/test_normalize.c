/* test_normalize.c - golden tests for UTF-8 repair (each invalid class),
 * NFKC/NFC and whitespace, and HTML extraction on realistic pages. */
#include <stdio.h>
#include <string.h>

#include "clean/html_text.h"
#include "clean/normalize.h"
#include "tm_test.h"

static tm_textbuf tb;

static const char *repair(const char *in, size_t n, tm_repair_counts *c) {
  tb.len = 0;
  tm_utf8_repair(in, n, &tb, c);
  return tb.p;
}

static const char *norm(const char *in, tm_norm_form f) {
  tb.len = 0;
  tm_text_normalize(in, strlen(in), f, &tb);
  return tb.p;
}

static const char *ws(const char *in) {
  tb.len = 0;
  tm_text_whitespace(in, strlen(in), &tb);
  return tb.p;
}

#define R "\xef\xbf\xbd" /* U+FFFD */

static void test_repair(void) {
  struct {
    const char *in;
    size_t n;
    const char *out;
    unsigned invalid;
  } cases[] = {
      {"plain ascii", 11, "plain ascii", 0},
      {"caf\xc3\xa9", 5, "caf\xc3\xa9", 0},
      {"a\xc0\xafz", 4, "a" R R "z", 2},             /* overlong 2-byte '/' */
      {"a\xe0\x80\xafz", 5, "a" R R R "z", 3},       /* overlong 3-byte */
      {"a\xf0\x80\x80\xafz", 6, "a" R R R R "z", 4}, /* overlong 4-byte */
      {"a\xed\xa0\x80z", 5, "a" R R R "z", 3},       /* surrogate U+D800 */
      {"a\xf4\x90\x80\x80z", 6, "a" R R R R "z", 4}, /* > U+10FFFF */
      {"a\xf5z", 3, "a" R "z", 1},                   /* never-valid byte */
      {"a\xe4\xbdz", 4, "a" R "z", 1},               /* truncated 3-byte: one U+FFFD */
      {"a\xf0\x9f\x98", 4, "a" R, 1},                /* truncated at the end */
      {"a\x80\xbfz", 4, "a" R R "z", 2},             /* stray continuation bytes */
      {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 0}, /* emoji is fine */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tm_repair_counts c = {0, 0};
    const char *o = repair(cases[i].in, cases[i].n, &c);
    CHECKF(!strcmp(o, cases[i].out), "case %zu: got '%s'", i, o);
    CHECKF(c.invalid == cases[i].invalid, "case %zu: invalid=%llu", i, (unsigned long long)c.invalid);
  }
  tm_repair_counts c = {0, 0};
  const char ctl[] = "a\0b\x07" "c\r\nd\re\x7f\xc2\x85" "f\xe2\x80\xa8g\xc2\x9fh\fi";
  CHECKF(!strcmp(repair(ctl, sizeof ctl - 1, &c), "abc\nd\ne\nf\ngh\ni"), "got '%s'", tb.p);
  CHECKF(c.controls == 4, "controls=%llu", (unsigned long long)c.controls);
  CHECK(!strcmp(repair("\xef\xbb\xbfhi", 5, NULL), "hi")); /* leading BOM */
}

static void test_nfkc(void) {
  CHECK(!strcmp(norm("\xef\xac\x81nd", TM_NORM_NFKC), "find"));              /* ﬁ ligature */
  CHECK(!strcmp(norm("\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3", TM_NORM_NFKC), "ABC")); /* fullwidth */
  CHECK(!strcmp(norm("e\xcc\x81t\xc3\xa9", TM_NORM_NFKC), "\xc3\xa9t\xc3\xa9")); /* e + U+0301 */
  CHECK(!strcmp(norm("\xe2\x91\xa0 x\xc2\xb2", TM_NORM_NFKC), "1 x2"));      /* ① and ² */
  CHECK(!strcmp(norm("a\xc2\xa0" "b", TM_NORM_NFKC), "a b"));                /* NBSP */
  CHECK(!strcmp(norm("\xe4\xb8\xad\xe6\x96\x87\xef\xbc\x8c\xe3\x80\x82", TM_NORM_NFKC),
                "\xe4\xb8\xad\xe6\x96\x87,\xe3\x80\x82")); /* 中文，。: fullwidth comma only */
  CHECK(!strcmp(norm("\xe1\x84\x80\xe1\x85\xa1", TM_NORM_NFKC), "\xea\xb0\x80")); /* jamo -> 가 */
  /* NFC keeps compatibility characters, composes canonical ones */
  CHECK(!strcmp(norm("\xef\xac\x81" "e\xcc\x81", TM_NORM_NFC), "\xef\xac\x81\xc3\xa9"));
  CHECK(!strcmp(norm("plain ascii stays", TM_NORM_NFKC), "plain ascii stays"));
  CHECK(tm_text_has_non_ascii("abc\xc3\xa9", 5) && !tm_text_has_non_ascii("abcdefghijk", 11));
}

/* tm_text_whitespace_needed agrees with the pass on random texts long
 * enough for the 16-byte path */
static void test_whitespace_needed_random(void) {
  static const char *parts[] = {"a", "word", " ", "\n", "\t", ".", "\xc2\xa0", "\xe2\x80\x9c", "xyz"};
  unsigned seed = 99;
  char buf[512];
  int bad = 0;
  for (int it = 0; it < 5000; it++) {
    size_t n = 0;
    int k = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 80;
    for (int j = 0; j < k; j++) {
      seed = seed * 1103515245u + 12345u;
      unsigned r = (seed >> 16) % 100;
      const char *p = parts[r < 60 ? (r % 2 ? 0 : 1) : r < 80 ? 2 : r < 88 ? 3 : 4 + r % 5];
      size_t l = strlen(p);
      if (n + l < sizeof buf) memcpy(buf + n, p, l), n += l;
    }
    buf[n] = 0;
    const char *o = ws(buf);
    int same = strlen(o) == n && !memcmp(o, buf, n);
    if (tm_text_whitespace_needed(buf, n) != !same) bad++;
  }
  CHECKF(bad == 0, "%d disagreements", bad);
}

static void test_whitespace(void) {
  CHECK(!strcmp(ws("  a \t b  \n\n\n\n c  "), "a b\n\nc"));
  CHECK(!strcmp(ws("one\ntwo \n  three"), "one\ntwo\nthree"));
  CHECK(!strcmp(ws("x\xe3\x80\x80y\xc2\xa0z"), "x y z")); /* ideographic space, NBSP */
  CHECK(!strcmp(ws(" \n \n "), ""));
  /* the skip test agrees with the pass */
  const char *samples[] = {"a b\n\nc", "a  b", "a\tb", "a \nb", "a\n b", "a\n\n\nb", " a", "a ",
                           "plain text.\nTwo lines.", "x\xc2\xa0y", "", "a\n",
                           "\xe2\x80\x9cquoted\xe2\x80\x9d text", "em\xe2\x80\x83space", "x\xe3\x80\x80y"};
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
    const char *o = ws(samples[i]);
    int same = !strcmp(o, samples[i]);
    CHECKF(tm_text_whitespace_needed(samples[i], strlen(samples[i])) == !same, "sample %zu", i);
  }
}

static tm_html_parser *parser;

static const char *html(const char *in, tm_textbuf *title) {
  tb.len = 0;
  tm_textbuf raw = {0};
  tm_html_extract(parser, in, strlen(in), &raw, title);
  tm_text_whitespace(raw.p, raw.len, &tb);
  tm_tb_free(&raw);
  return tb.p;
}

static void test_html(void) {
  const char *page =
      "<!DOCTYPE html><html><head><title>The  River &amp; Town</title>"
      "<style>p { color: red }</style><script>var x = '<p>no</p>';</script></head>"
      "<body><header><a href=/>Home</a> | <a href=/about>About</a></header>"
      "<nav><ul><li>Menu one</li><li>Menu two</li></ul></nav>"
      "<div id=main><h1>A quiet river</h1>"
      "<p>The river runs&nbsp;slowly past the town &mdash; and the mill &lt;wheel&gt; turns.</p>"
      "<p>Second <b>paragraph</b> with <i>inline</i> markup,\n   spread over\n lines.</p>"
      "<ul><li>first item</li><li>second item</li></ul>"
      "<table><tr><td>cell a</td><td>cell b</td></tr><tr><td>cell c</td><td>cell d</td></tr></table>"
      "<p hidden>hidden text</p><div style=\"display: none\">invisible</div>"
      "<span aria-hidden=\"true\">icon</span>"
      "<form><label>Email</label><input name=e><button>Subscribe</button></form>"
      "<pre>  code  line\n  second</pre>"
      "line one<br>line two"
      "</div><aside>Related links</aside><footer>Copyright 2020</footer>"
      "<noscript>Enable JavaScript</noscript></body></html>";
  tm_textbuf title = {0};
  const char *t = html(page, &title);
  const char *want =
      "A quiet river\n\n"
      "The river runs slowly past the town \xe2\x80\x94 and the mill <wheel> turns.\n\n"
      "Second paragraph with inline markup, spread over lines.\n\n"
      "first item\nsecond item\n\n"
      "cell a cell b\ncell c cell d\n\n"
      "code line\nsecond\n\n"
      "line one\nline two";
  CHECKF(!strcmp(t, want), "got:\n%s\n--- want:\n%s", t, want);
  CHECKF(!strcmp(title.p, "The River & Town"), "title '%s'", title.p);
  tm_tb_free(&title);
  /* broken markup and a deep tree do not crash */
  static char deep[200000];
  size_t o = 0;
  for (int i = 0; i < 10000; i++) o += (size_t)sprintf(deep + o, "<div>");
  sprintf(deep + o, "deep text");
  CHECK(!strcmp(html(deep, NULL), "deep text"));
  CHECK(!strcmp(html("<p>unclosed <b>bold<p>next", NULL), "unclosed bold\n\nnext"));
  CHECK(!strcmp(html("", NULL), ""));
}

int main(void) {
  test_repair();
  test_nfkc();
  test_whitespace();
  test_whitespace_needed_random();
  /* both parsers give the same text */
  for (int b = TM_HTML_GUMBO; b <= TM_HTML_MYHTML; b++) {
    if (tm_html_parser_new(&parser, (tm_html_backend)b) < 0) {
      CHECK(b == TM_HTML_MYHTML && !tm_html_have_myhtml());
      continue;
    }
    printf("html backend %s\n", b == TM_HTML_GUMBO ? "gumbo" : "myhtml");
    test_html();
    tm_html_parser_free(parser);
  }
  tm_tb_free(&tb);
  return tm_test_finish("test_normalize");
}
