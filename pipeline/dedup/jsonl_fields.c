/* jsonl_fields.c - "text" and "id" of a checked JSONL line; see jsonl_fields.h. */
#include "jsonl_fields.h"

#include "serve/jsonl_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512BW__) && !defined(TM_JSONL_PORTABLE) /* TM_JSONL_PORTABLE: tests */
#include <immintrin.h>
#endif

typedef struct {
  const unsigned char *p, *end;
} cur;

static void ws(cur *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static uint64_t load8(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Nonzero when one of the 8 bytes in v is '"' or a backslash. */
static uint64_t quote_or_backslash(uint64_t v) {
  uint64_t q = v ^ (ONES * '"'), b = v ^ (ONES * '\\');
  return ((q - ONES) & ~q & HIGHS) | ((b - ONES) & ~b & HIGHS);
}

/* Nonzero when one of the 8 bytes is not plain string content for JSON:
 * below 0x20, 0x80 or above, '"' or a backslash. */
static uint64_t not_plain(uint64_t v) {
  return quote_or_backslash(v) | ((v - ONES * 0x20) & ~v & HIGHS) | (v & HIGHS);
}

/* The first byte of p[0..end) that is '"' or a backslash (plain == 0), or
 * that is not plain string content (plain == 1: also below 0x20 or 0x80
 * and above); end when there is none. 64 bytes per step with AVX-512BW,
 * else 8 (SWAR). */
static const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end,
                                       int plain) {
#if defined(__AVX512BW__) && !defined(TM_JSONL_PORTABLE)
  const __m512i q = _mm512_set1_epi8('"'), b = _mm512_set1_epi8('\\');
  const __m512i lo = _mm512_set1_epi8(0x20);
  while (end - p >= 64) {
    __m512i x = _mm512_loadu_si512((const void *)p);
    uint64_t m = _mm512_cmpeq_epi8_mask(x, q) | _mm512_cmpeq_epi8_mask(x, b);
    if (plain) m |= _mm512_cmplt_epu8_mask(x, lo) | _mm512_movepi8_mask(x);
    if (m) return p + __builtin_ctzll(m);
    p += 64;
  }
#endif
  if (plain)
    while (end - p >= 8 && !not_plain(load8(p))) p += 8;
  else
    while (end - p >= 8 && !quote_or_backslash(load8(p))) p += 8;
  return p;
}

/* c->p is after an opening quote: move past the closing one. Returns the
 * raw contents [*s, *s + *n) and whether they hold an escape. */
static int string_span(cur *c, const unsigned char **s, size_t *n) {
  const unsigned char *p = c->p, *end = c->end;
  int esc = 0;
  for (;;) {
    p = skip_plain(p, end, 0);
    while (p < end && *p != '"' && *p != '\\') p++;
    if (p >= end || *p == '"') break;
    esc = 1;
    p += 2; /* the escaped character; \uXXXX's hex digits are plain bytes */
  }
  if (p > end) p = end;
  *s = c->p;
  *n = (size_t)(p - c->p);
  c->p = p < end ? p + 1 : end;
  return esc;
}

static unsigned hex4(const unsigned char *h, const unsigned char *end) {
  unsigned x = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char d = h + i < end ? h[i] : '0';
    x = (x << 4) | (unsigned)(d <= '9' ? d - '0' : (d | 0x20) - 'a' + 10);
  }
  return x;
}

/* Decode the escaped string s[0..n) into out (room for n bytes: decoding
 * never grows a string); returns the decoded length. */
static size_t decode(const unsigned char *s, size_t n, char *out) {
  const unsigned char *end = s + n;
  size_t o = 0;
  while (s < end) {
    if (*s != '\\') {
      out[o++] = (char)*s++;
      continue;
    }
    if (s + 1 >= end) break;
    unsigned char e = s[1];
    s += 2;
    if (e != 'u') {
      switch (e) {
      case 'b': out[o++] = '\b'; break;
      case 'f': out[o++] = '\f'; break;
      case 'n': out[o++] = '\n'; break;
      case 'r': out[o++] = '\r'; break;
      case 't': out[o++] = '\t'; break;
      default: out[o++] = (char)e; break; /* " \ / */
      }
      continue;
    }
    unsigned cp = hex4(s, end);
    s += 4;
    if (cp >= 0xd800 && cp <= 0xdbff && s + 6 <= end && s[0] == '\\' && s[1] == 'u') {
      cp = 0x10000 + ((cp - 0xd800) << 10) + ((hex4(s + 2, end) - 0xdc00) & 0x3ff);
      s += 6;
    }
    /* a 6-byte escape is at least as long as the 1..4 bytes it decodes to,
     * a 12-byte surrogate pair as long as its 4 */
    if (cp < 0x80) {
      out[o++] = (char)cp;
    } else if (cp < 0x800) {
      out[o++] = (char)(0xc0 | cp >> 6);
      out[o++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out[o++] = (char)(0xe0 | cp >> 12);
      out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
      out[o++] = (char)(0x80 | (cp & 0x3f));
    } else {
      out[o++] = (char)(0xf0 | cp >> 18);
      out[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
      out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
      out[o++] = (char)(0x80 | (cp & 0x3f));
    }
  }
  return o;
}

static int hexdigits4(const unsigned char *h) {
  for (int i = 0; i < 4; i++)
    if (!((h[i] >= '0' && h[i] <= '9') || ((h[i] | 0x20) >= 'a' && (h[i] | 0x20) <= 'f')))
      return 0;
  return 1;
}

/* Would jansson accept s[0..n) (the raw bytes between a string's quotes,
 * ending at the first unescaped '"') as a string? The rules of
 * tm_jsonl_check's string(): no byte below 0x20, strict UTF-8 (no overlong
 * forms, surrogates or code points past U+10FFFF), only the escapes
 * \" \\ \/ \b \f \n \r \t \uXXXX, and \u surrogates only as a high one
 * followed by \u and a low one. Runs of plain ASCII go through skip_plain. */
static int valid_string(const unsigned char *s, size_t n) {
  const unsigned char *p = s, *end = s + n;
  for (;;) {
    p = skip_plain(p, end, 1);
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '\\') p++;
    if (p >= end) return 1;
    unsigned ch = *p;
    if (ch < 0x20) return 0;
    if (ch >= 0x80) {
      unsigned need, cp;
      if (ch >= 0xc2 && ch <= 0xdf) need = 1, cp = ch & 0x1f;
      else if (ch >= 0xe0 && ch <= 0xef) need = 2, cp = ch & 0x0f;
      else if (ch >= 0xf0 && ch <= 0xf4) need = 3, cp = ch & 0x07;
      else return 0;
      if ((size_t)(end - p) <= need) return 0;
      for (unsigned i = 1; i <= need; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
      }
      if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
          (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
      p += need + 1;
      continue;
    }
    /* a backslash */
    if (end - p < 2) return 0;
    unsigned e = p[1];
    p += 2;
    if (e == 'u') {
      if (end - p < 4 || !hexdigits4(p)) return 0;
      unsigned v = hex4(p, end);
      p += 4;
      if (v >= 0xdc00 && v <= 0xdfff) return 0;
      if (v >= 0xd800 && v <= 0xdbff) {
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hexdigits4(p + 2)) return 0;
        unsigned w = hex4(p + 2, end);
        if (w < 0xdc00 || w > 0xdfff) return 0;
        p += 6;
      }
    } else if (!(e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                 e == 'r' || e == 't')) {
      return 0;
    }
  }
}

/* Is the member name s[0..n) (escaped when esc) equal to key? */
static int name_is(const unsigned char *s, size_t n, int esc, const char *key, size_t kl) {
  if (!esc) return n == kl && !memcmp(s, key, kl);
  char out[96];
  if (n > sizeof out) return 0; /* decodes to more than 16 bytes: not a short key */
  size_t o = decode(s, n, out);
  return o == kl && !memcmp(out, key, kl);
}

/* Skip one value starting at c->p (after whitespace). Returns its kind:
 * 's' string, 'i' integer, 'o' anything else; the raw span of a string or
 * number in *s, *n. */
static int value(cur *c, const unsigned char **s, size_t *n, int *esc) {
  *esc = 0;
  if (c->p >= c->end) return 'o';
  unsigned char ch = *c->p;
  if (ch == '"') {
    c->p++;
    *esc = string_span(c, s, n);
    return 's';
  }
  if (ch == '{' || ch == '[') { /* nested: skip to the matching bracket */
    size_t depth = 0;
    while (c->p < c->end) {
      unsigned char d = *c->p++;
      if (d == '"') {
        const unsigned char *x;
        size_t xn;
        string_span(c, &x, &xn);
      } else if (d == '{' || d == '[') {
        depth++;
      } else if ((d == '}' || d == ']') && --depth == 0) {
        break;
      }
    }
    return 'o';
  }
  const unsigned char *b = c->p;
  int integer = 1;
  while (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || *c->p == '-' || *c->p == '+' ||
                           *c->p == '.' || *c->p == 'e' || *c->p == 'E' ||
                           (*c->p >= 'a' && *c->p <= 'z'))) {
    if (*c->p < '0' || *c->p > '9') integer &= *c->p == '-';
    c->p++;
  }
  /* jansson skips one NUL byte right after a number or literal */
  if (c->p < c->end && *c->p == 0) c->p++;
  *s = b;
  *n = (size_t)(c->p - b);
  return integer && *n && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) ? 'i' : 'o';
}

/* The replacement check: the line with the text value emptied (a copy
 * without the string's contents) goes through tm_jsonl_check. */
static int rest_is_valid(const char *line, size_t len, const unsigned char *ts, size_t tn) {
  char small[4096];
  size_t pre = (size_t)((const char *)ts - line), n = len - tn;
  char *m = n <= sizeof small ? small : malloc(n);
  if (!m) return -1;
  memcpy(m, line, pre);
  memcpy(m + pre, ts + tn, len - pre - tn);
  const char *why;
  size_t col;
  int ok = tm_jsonl_check(m, n, "text", &why, &col) == TM_JSONL_OK;
  if (m != small) free(m);
  return ok;
}

int tm_jsonl_fields_parse(const char *line, size_t len, tm_jsonl_fields *f) {
  memset(f, 0, sizeof *f);
  cur c = {(const unsigned char *)line, (const unsigned char *)line + len};
  const unsigned char *ts = NULL, *is = NULL;
  size_t tn = 0, in = 0;
  int tesc = 0, iesc = 0, ikind = 'o';
  ws(&c);
  if (c.p >= c.end || *c.p != '{') return 0;
  c.p++;
  for (;;) {
    ws(&c);
    if (c.p >= c.end || *c.p != '"') break; /* '}' */
    c.p++;
    const unsigned char *ks;
    size_t kn;
    int kesc = string_span(&c, &ks, &kn);
    ws(&c);
    if (c.p < c.end && *c.p == ':') c.p++;
    ws(&c);
    const unsigned char *vs = NULL;
    size_t vn = 0;
    int vesc;
    int kind = value(&c, &vs, &vn, &vesc);
    if (name_is(ks, kn, kesc, "text", 4)) {
      if (kind == 's') ts = vs, tn = vn, tesc = vesc;
      else ts = NULL;
    } else if (name_is(ks, kn, kesc, "id", 2)) {
      ikind = kind, is = vs, in = vn, iesc = vesc;
    }
    ws(&c);
    if (c.p < c.end && *c.p == ',') c.p++;
  }
  if (!ts || !valid_string(ts, tn)) return 0;
  int ok = rest_is_valid(line, len, ts, tn);
  if (ok <= 0) return ok;
  if (tesc || (ikind == 's' && iesc)) {
    f->buf = malloc(len + 1);
    if (!f->buf) return -1;
  }
  size_t used = 0;
  if (tesc) {
    f->text_len = decode(ts, tn, f->buf);
    f->text = f->buf;
    used = f->text_len;
  } else {
    f->text = (const char *)ts;
    f->text_len = tn;
  }
  if (ikind == 's') {
    f->id_kind = TM_JSONL_ID_STRING;
    if (iesc) {
      f->id_len = decode(is, in, f->buf + used);
      f->id = f->buf + used;
    } else {
      f->id = (const char *)is;
      f->id_len = in;
    }
  } else if (ikind == 'i') {
    char num[32];
    size_t k = in < sizeof num - 1 ? in : sizeof num - 1;
    memcpy(num, is, k);
    num[k] = 0;
    f->id_kind = TM_JSONL_ID_INTEGER;
    f->id_len = (size_t)snprintf(f->idnum, sizeof f->idnum, "%lld", strtoll(num, NULL, 10));
    f->id = f->idnum;
  }
  return 1;
}
