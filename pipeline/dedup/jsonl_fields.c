/* jsonl_fields.c - "text" and "id" of a checked JSONL line; see jsonl_fields.h. */
#include "jsonl_fields.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const unsigned char *p, *end;
} cur;

static void ws(cur *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* c->p is after an opening quote: move past the closing one. Returns the
 * raw contents [*s, *s + *n) and whether they hold an escape. */
static int string_span(cur *c, const unsigned char **s, size_t *n) {
  const unsigned char *p = c->p, *end = c->end;
  int esc = 0;
  for (;;) {
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

int tm_jsonl_fields_get(const char *line, size_t len, tm_jsonl_fields *f) {
  memset(f, 0, sizeof *f);
  cur c = {(const unsigned char *)line, (const unsigned char *)line + len};
  const unsigned char *ts = NULL, *is = NULL;
  size_t tn = 0, in = 0;
  int tesc = 0, iesc = 0, ikind = 'o';
  ws(&c);
  if (c.p < c.end && *c.p == '{') c.p++;
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
      else ts = NULL; /* the checker refuses this line anyway */
    } else if (name_is(ks, kn, kesc, "id", 2)) {
      ikind = kind, is = vs, in = vn, iesc = vesc;
    }
    ws(&c);
    if (c.p < c.end && *c.p == ',') c.p++;
  }
  if ((ts && tesc) || (ikind == 's' && iesc)) {
    f->buf = malloc(len + 1);
    if (!f->buf) return -1;
  }
  size_t used = 0;
  if (ts && tesc) {
    f->text_len = decode(ts, tn, f->buf);
    f->text = f->buf;
    used = f->text_len;
  } else if (ts) {
    f->text = (const char *)ts;
    f->text_len = tn;
  } else {
    f->text = "";
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
  return 0;
}
