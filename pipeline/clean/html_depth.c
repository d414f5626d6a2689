/* html_depth.c - bound the element nesting of HTML before parsing (see html_depth.h). */
#include "html_depth.h"

#include <string.h>
#include <strings.h>

enum { COUNTED, UNCOUNTED, RAWTEXT, PLAINTEXT };

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

/* What a tag name does to the depth; names are compared lowercased. */
static int kind_of(const char *s, size_t len) {
  static const char *const uncounted[] = {
      "area", "base", "basefont", "bgsound", "br", "col", "embed", "hr", "img", "input", "keygen",
      "link", "meta", "param", "source", "track", "wbr", "frame", "image", /* void */
      "html", "head", "body",                                                /* singletons */
      "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot",
      "colgroup", "caption", "rb", "rt", "rtc", "rp"}; /* closed by a sibling */
  static const char *const raw[] = {"script", "style", "textarea", "title", "xmp", "iframe",
                                    "noembed", "noframes"};
  char name[12];
  if (len >= sizeof name) return COUNTED;
  for (size_t i = 0; i < len; i++) name[i] = (char)lower((unsigned char)s[i]);
  name[len] = 0;
  for (size_t i = 0; i < sizeof uncounted / sizeof *uncounted; i++)
    if (!strcmp(name, uncounted[i])) return UNCOUNTED;
  for (size_t i = 0; i < sizeof raw / sizeof *raw; i++)
    if (!strcmp(name, raw[i])) return RAWTEXT;
  if (!strcmp(name, "plaintext")) return PLAINTEXT;
  return COUNTED;
}

/* First occurrence of needle (length m) in s[from..n), or n. */
static size_t find(const char *s, size_t n, size_t from, const char *needle, size_t m) {
  if (from > n) return n;
  const void *p = memmem(s + from, n - from, needle, m);
  return p ? (size_t)((const char *)p - s) : n;
}

/* Position just past the "</name ...>" that ends raw text opened by a
 * <name> tag, or n. */
static size_t skip_raw(const char *s, size_t n, size_t from, const char *name, size_t len) {
  size_t i = from;
  for (;;) {
    i = find(s, n, i, "</", 2);
    if (i + 2 + len > n) return n;
    if (!strncasecmp(s + i + 2, name, len)) {
      size_t e = i + 2 + len;
      if (e == n || is_space((unsigned char)s[e]) || s[e] == '>' || s[e] == '/') {
        e = find(s, n, e, ">", 1);
        return e < n ? e + 1 : n;
      }
    }
    i += 2;
  }
}

/* One pass. out == NULL: measure only, stop at the first tag past
 * max_depth and return 1 (else 0). Otherwise copy the input without the
 * removed tags and return how many were removed, or -TM_ENOMEM. */
static long pass(const char *s, size_t n, size_t max_depth, tm_textbuf *out) {
  size_t i = 0, copied = 0, depth = 0, deferred = 0;
  long removed = 0;
  while (i < n) {
    const char *lt = memchr(s + i, '<', n - i);
    if (!lt) break;
    size_t t = (size_t)(lt - s);
    i = t + 1;
    if (i >= n) break;
    int c = (unsigned char)s[i];
    if (c == '!') {
      if (n - i >= 3 && s[i + 1] == '-' && s[i + 2] == '-') {
        size_t e = find(s, n, i + 3, "-->", 3);
        i = e < n ? e + 3 : n;
      } else {
        size_t e = find(s, n, i, ">", 1);
        i = e < n ? e + 1 : n;
      }
      continue;
    }
    if (c == '?') {
      size_t e = find(s, n, i, ">", 1);
      i = e < n ? e + 1 : n;
      continue;
    }
    int end = c == '/';
    if (end && ++i >= n) break;
    if (!is_alpha((unsigned char)s[i])) continue; /* "<" as text */
    size_t name = i;
    while (i < n && !is_space((unsigned char)s[i]) && s[i] != '/' && s[i] != '>') i++;
    size_t name_len = i - name;
    /* to the closing '>', a quoted attribute value may hold one */
    int quote = 0, prev = 0;
    while (i < n) {
      int ch = (unsigned char)s[i];
      if (quote) {
        if (ch == quote) quote = 0;
      } else if (ch == '>') {
        break;
      } else if ((ch == '"' || ch == '\'') && prev == '=') {
        quote = ch;
      }
      if (!is_space(ch)) prev = ch;
      i++;
    }
    if (i >= n) break; /* a tag cut by the end of input is not a tag */
    int self_closing = !end && s[i - 1] == '/';
    i++; /* past '>' */
    int kind = kind_of(s + name, name_len);
    if (kind == PLAINTEXT && !end) break;
    if (kind == RAWTEXT && !end) {
      i = skip_raw(s, n, i, s + name, name_len);
      continue;
    }
    if (kind != COUNTED || self_closing) continue;
    int drop = 0;
    if (!end) {
      if (depth < max_depth) {
        depth++;
      } else {
        if (!out) return 1;
        deferred++;
        drop = 1;
      }
    } else if (deferred > 0) {
      deferred--;
      drop = 1;
    } else if (depth > 0) {
      depth--;
    }
    if (drop) {
      if (tm_tb_put(out, s + copied, t - copied) < 0) return -TM_ENOMEM;
      copied = i;
      removed++;
    }
  }
  if (!out) return 0;
  if (tm_tb_put(out, s + copied, n - copied) < 0 || tm_tb_finish(out) < 0) return -TM_ENOMEM;
  return removed;
}

long tm_html_bound_depth(const char *html, size_t n, size_t max_depth, tm_textbuf *out) {
  if (max_depth == 0) max_depth = 1;
  if (pass(html, n, max_depth, NULL) == 0) return 0;
  return pass(html, n, max_depth, out);
}
