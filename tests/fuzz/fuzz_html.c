/* fuzz_html.c - the HTML text extractor after UTF-8 repair, then NFKC and
 * white space, as the clean stage runs them; with both backends: gumbo
 * (tm_html_to_text) and, when built in, myhtml through a tm_html_parser that
 * is reused from input to input as a worker thread reuses it. The extracted
 * text must be valid UTF-8 again. */
#include "fuzz_util.h"
#include "html_text.h"
#include "normalize.h"

static void check_text(const tm_textbuf *text) {
  tm_textbuf again = {0}, norm = {0}, ws = {0};
  tm_repair_counts rc2 = {0};
  if (tm_utf8_repair(text->p ? text->p : "", text->len, &again, &rc2) == 0 && rc2.invalid)
    __builtin_trap();
  if (tm_text_normalize(text->p ? text->p : "", text->len, TM_NORM_NFKC, &norm) == 0)
    (void)tm_text_whitespace(norm.p ? norm.p : "", norm.len, &ws);
  tm_tb_free(&again);
  tm_tb_free(&norm);
  tm_tb_free(&ws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  static tm_html_parser *myhtml;
  static int tried;
  tm_fuzz_quiet();
  if (!tried) {
    tried = 1;
    if (tm_html_have_myhtml() && tm_html_parser_new(&myhtml, TM_HTML_MYHTML) < 0) myhtml = NULL;
  }
  tm_textbuf in = {0}, text = {0}, title = {0};
  tm_repair_counts rc = {0};
  if (tm_utf8_repair((const char *)data, n, &in, &rc) == 0) {
    if (tm_html_to_text(in.p ? in.p : "", in.len, &text, &title) == 0) check_text(&text);
    if (myhtml) {
      text.len = title.len = 0;
      if (tm_html_extract(myhtml, in.p ? in.p : "", in.len, &text, &title) == 0) check_text(&text);
    }
  }
  tm_tb_free(&in);
  tm_tb_free(&text);
  tm_tb_free(&title);
  return 0;
}
