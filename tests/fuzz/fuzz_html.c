/* fuzz_html.c - the HTML text extractor (gumbo tree walk, hidden elements,
 * block breaks) after UTF-8 repair, then NFKC and white space, as the
 * clean stage runs them. */
#include "fuzz_util.h"
#include "html_text.h"
#include "normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  tm_fuzz_quiet();
  tm_textbuf in = {0}, text = {0}, title = {0};
  tm_repair_counts rc = {0};
  if (tm_utf8_repair((const char *)data, n, &in, &rc) == 0 &&
      tm_html_to_text(in.p ? in.p : "", in.len, &text, &title) == 0) {
    /* the extractor's output is text: valid UTF-8 again */
    tm_textbuf again = {0};
    tm_repair_counts rc2 = {0};
    if (tm_utf8_repair(text.p ? text.p : "", text.len, &again, &rc2) == 0 && rc2.invalid)
      __builtin_trap();
    tm_tb_free(&again);
    tm_textbuf norm = {0}, ws = {0};
    if (tm_text_normalize(text.p ? text.p : "", text.len, TM_NORM_NFKC, &norm) == 0)
      (void)tm_text_whitespace(norm.p ? norm.p : "", norm.len, &ws);
    tm_tb_free(&norm);
    tm_tb_free(&ws);
  }
  tm_tb_free(&in);
  tm_tb_free(&text);
  tm_tb_free(&title);
  return 0;
}
