/* html_depth.c - bound the element nesting of HTML before parsing (see html_depth.h). */
#include "html_depth.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

enum { COUNTED, UNCOUNTED, RAWTEXT, PLAINTEXT };

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

/* A lowercased tag name of up to 8 bytes packed into an integer (byte i
 * in bits 8i..8i+7), so that the name tables are integer compares. */
static uint64_t pack(const char *s, size_t len) {
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) v |= (uint64_t)(unsigned char)lower((unsigned char)s[i]) << (8 * i);
  return v;
}

#define P2(a, b) ((uint64_t)(a) | (uint64_t)(b) << 8)
#define P3(a, b, c) (P2(a, b) | (uint64_t)(c) << 16)
#define P4(a, b, c, d) (P3(a, b, c) | (uint64_t)(d) << 24)
#define P5(a, b, c, d, e) (P4(a, b, c, d) | (uint64_t)(e) << 32)
#define P6(a, b, c, d, e, f) (P5(a, b, c, d, e) | (uint64_t)(f) << 40)
#define P7(a, b, c, d, e, f, g) (P6(a, b, c, d, e, f) | (uint64_t)(g) << 48)
#define P8(a, b, c, d, e, f, g, h) (P7(a, b, c, d, e, f, g) | (uint64_t)(h) << 56)

/* What a tag name does to the depth (names compared lowercased): void
 * elements, the singletons html/head/body and the elements a sibling
 * closes do not count; raw-text elements skip their contents. */
static int kind_of(const char *s, size_t len) {
  if (len > 9) return COUNTED;
  if (len == 9) return !strncasecmp(s, "plaintext", 9) ? PLAINTEXT : COUNTED;
  uint64_t v = pack(s, len);
  switch (len) {
  case 1:
    return v == 'p' ? UNCOUNTED : COUNTED;
  case 2:
    return v == P2('b', 'r') || v == P2('h', 'r') || v == P2('l', 'i') || v == P2('d', 't') ||
                   v == P2('d', 'd') || v == P2('t', 'r') || v == P2('t', 'd') || v == P2('t', 'h') ||
                   v == P2('r', 'b') || v == P2('r', 't') || v == P2('r', 'p')
               ? UNCOUNTED
               : COUNTED;
  case 3:
    if (v == P3('x', 'm', 'p')) return RAWTEXT;
    return v == P3('i', 'm', 'g') || v == P3('c', 'o', 'l') || v == P3('w', 'b', 'r') ||
                   v == P3('r', 't', 'c')
               ? UNCOUNTED
               : COUNTED;
  case 4:
    return v == P4('a', 'r', 'e', 'a') || v == P4('b', 'a', 's', 'e') || v == P4('l', 'i', 'n', 'k') ||
                   v == P4('m', 'e', 't', 'a') || v == P4('h', 't', 'm', 'l') ||
                   v == P4('h', 'e', 'a', 'd') || v == P4('b', 'o', 'd', 'y')
               ? UNCOUNTED
               : COUNTED;
  case 5:
    if (v == P5('s', 't', 'y', 'l', 'e') || v == P5('t', 'i', 't', 'l', 'e')) return RAWTEXT;
    return v == P5('e', 'm', 'b', 'e', 'd') || v == P5('i', 'n', 'p', 'u', 't') ||
                   v == P5('p', 'a', 'r', 'a', 'm') || v == P5('t', 'r', 'a', 'c', 'k') ||
                   v == P5('f', 'r', 'a', 'm', 'e') || v == P5('i', 'm', 'a', 'g', 'e') ||
                   v == P5('t', 'h', 'e', 'a', 'd') || v == P5('t', 'b', 'o', 'd', 'y') ||
                   v == P5('t', 'f', 'o', 'o', 't')
               ? UNCOUNTED
               : COUNTED;
  case 6:
    if (v == P6('s', 'c', 'r', 'i', 'p', 't') || v == P6('i', 'f', 'r', 'a', 'm', 'e')) return RAWTEXT;
    return v == P6('k', 'e', 'y', 'g', 'e', 'n') || v == P6('s', 'o', 'u', 'r', 'c', 'e') ||
                   v == P6('o', 'p', 't', 'i', 'o', 'n')
               ? UNCOUNTED
               : COUNTED;
  case 7:
    if (v == P7('n', 'o', 'e', 'm', 'b', 'e', 'd')) return RAWTEXT;
    return v == P7('b', 'g', 's', 'o', 'u', 'n', 'd') || v == P7('c', 'a', 'p', 't', 'i', 'o', 'n')
               ? UNCOUNTED
               : COUNTED;
  case 8:
    if (v == P8('t', 'e', 'x', 't', 'a', 'r', 'e', 'a') || v == P8('n', 'o', 'f', 'r', 'a', 'm', 'e', 's'))
      return RAWTEXT;
    return v == P8('b', 'a', 's', 'e', 'f', 'o', 'n', 't') || v == P8('o', 'p', 't', 'g', 'r', 'o', 'u', 'p') ||
                   v == P8('c', 'o', 'l', 'g', 'r', 'o', 'u', 'p')
               ? UNCOUNTED
               : COUNTED;
  default:
    return COUNTED;
  }
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
