/* charset.c - charset sniffing and conversion for HTML; see charset.h. */
#include "charset.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

int tm_html_charset(const char *html, size_t n, char *out, size_t cap) {
  if (n > 4096) n = 4096;
  for (size_t i = 0; i + 8 < n; i++) {
    if (strncasecmp(html + i, "charset", 7)) continue;
    size_t j = i + 7;
    while (j < n && (html[j] == ' ' || html[j] == '\t')) j++;
    if (j >= n || html[j] != '=') continue;
    j++;
    while (j < n && (html[j] == ' ' || html[j] == '"' || html[j] == '\'')) j++;
    size_t k = 0;
    while (j < n && k + 1 < cap && (isalnum((unsigned char)html[j]) || strchr("-_.:", html[j])))
      out[k++] = (char)tolower((unsigned char)html[j++]);
    out[k] = 0;
    if (k) return 1;
  }
  return 0;
}

int tm_charset_to_utf8(const char *charset, const char *in, size_t n, tm_textbuf *out) {
  iconv_t cd = iconv_open("UTF-8", charset);
  if (cd == (iconv_t)-1) return -TM_EINVAL;
  char *src = (char *)in;
  size_t left = n;
  int rc = 0;
  while (left > 0 && rc == 0) {
    if (tm_tb_reserve(out, left * 4 + 16) < 0) {
      rc = -TM_ENOMEM;
      break;
    }
    char *dst = out->p + out->len;
    size_t room = out->cap - out->len - 1;
    size_t r = iconv(cd, &src, &left, &dst, &room);
    out->len = (size_t)(dst - out->p);
    if (r == (size_t)-1) {
      if (errno == E2BIG) continue;
      /* EILSEQ or EINVAL (truncated at the end): one byte becomes U+FFFD */
      rc = tm_tb_put(out, "\xef\xbf\xbd", 3);
      src++;
      left--;
    }
  }
  iconv_close(cd);
  return rc < 0 ? rc : tm_tb_finish(out);
}
