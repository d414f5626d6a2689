/* jsonl_check.c - a non-allocating JSON object checker; see jsonl_check.h. */
#include "jsonl_check.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 2048

typedef struct {
  const unsigned char *p, *end, *start;
  const char *why;
} cur;

static int err(cur *c, const char *why) {
  c->why = why;
  return -1;
}

static void ws(cur *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int hex4(cur *c, unsigned *v) {
  if (c->end - c->p < 4) return err(c, "truncated \\u escape");
  unsigned x = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char h = c->p[i];
    x <<= 4;
    if (h >= '0' && h <= '9') x |= (unsigned)(h - '0');
    else if (h >= 'a' && h <= 'f') x |= (unsigned)(h - 'a' + 10);
    else if (h >= 'A' && h <= 'F') x |= (unsigned)(h - 'A' + 10);
    else return err(c, "invalid \\u escape");
  }
  c->p += 4;
  *v = x;
  return 0;
}

/* One UTF-8 sequence starting at c->p (>= 0x80), as jansson validates it. */
static int utf8(cur *c) {
  const unsigned char *s = c->p;
  unsigned u = s[0], need, cp;
  if (u >= 0xc2 && u <= 0xdf) need = 1, cp = u & 0x1f;
  else if (u >= 0xe0 && u <= 0xef) need = 2, cp = u & 0x0f;
  else if (u >= 0xf0 && u <= 0xf4) need = 3, cp = u & 0x07;
  else return err(c, "invalid UTF-8");
  if ((size_t)(c->end - s) <= need) return err(c, "invalid UTF-8");
  for (unsigned i = 1; i <= need; i++) {
    if ((s[i] & 0xc0) != 0x80) return err(c, "invalid UTF-8");
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return err(c, "invalid UTF-8");
  c->p += need + 1;
  return 0;
}

static unsigned hexval(const unsigned char *h) {
  unsigned x = 0;
  for (int i = 0; i < 4; i++) x = (x << 4) | (unsigned)(h[i] <= '9' ? h[i] - '0' : (h[i] | 0x20) - 'a' + 10);
  return x;
}

/* Does the (already validated) escaped string s[0..n) decode to key? */
static int escaped_equals(const unsigned char *s, size_t n, const char *key) {
  unsigned char out[256];
  size_t o = 0, kl = strlen(key);
  for (size_t i = 0; i < n;) {
    if (o + 4 > sizeof out) return 0;
    if (s[i] != '\\') {
      out[o++] = s[i++];
      continue;
    }
    unsigned char e = s[i + 1];
    i += 2;
    if (e != 'u') {
      static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
      out[o++] = (unsigned char)to[strchr(from, e) - from];
      continue;
    }
    unsigned cp = hexval(s + i);
    i += 4;
    if (cp >= 0xd800 && cp <= 0xdbff) {
      cp = 0x10000 + ((cp - 0xd800) << 10) + (hexval(s + i + 2) - 0xdc00);
      i += 6;
    }
    if (cp < 0x80) out[o++] = (unsigned char)cp;
    else if (cp < 0x800) out[o++] = (unsigned char)(0xc0 | cp >> 6), out[o++] = (unsigned char)(0x80 | (cp & 0x3f));
    else if (cp < 0x10000)
      out[o++] = (unsigned char)(0xe0 | cp >> 12), out[o++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f)),
      out[o++] = (unsigned char)(0x80 | (cp & 0x3f));
    else
      out[o++] = (unsigned char)(0xf0 | cp >> 18), out[o++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f)),
      out[o++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f)), out[o++] = (unsigned char)(0x80 | (cp & 0x3f));
  }
  return o == kl && !memcmp(out, key, kl);
}

/* 1 when none of the 8 bytes of w ends or interrupts a plain ASCII run of
 * a string: none < 0x20, >= 0x80, '"' or '\\' (SWAR: the "has a byte less
 * than n" and "has a zero byte" tests are exact as yes/no answers). */
static inline int plain8(uint64_t w) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  uint64_t q = w ^ (ones * 0x22), b = w ^ (ones * 0x5c);
  uint64_t bad = (w & high) | ((w - ones * 0x20) & ~w & high) | ((q - ones) & ~q & high) | ((b - ones) & ~b & high);
  return bad == 0;
}

/* A string; c->p is after the opening quote. *raw_eq tells whether its raw
 * bytes equal key (when key is not NULL). */
static int string(cur *c, const char *key, int *raw_eq) {
  const unsigned char *s0 = c->p;
  int escaped = 0;
  for (;;) {
    /* the common run of plain ASCII: 8 bytes at a time, then byte by byte */
    for (uint64_t w; c->end - c->p >= 8 && (memcpy(&w, c->p, 8), plain8(w));) c->p += 8;
    while (c->p < c->end && *c->p >= 0x20 && *c->p < 0x80 && *c->p != '"' && *c->p != '\\') c->p++;
    if (c->p >= c->end) return err(c, "premature end of input");
    unsigned char ch = *c->p;
    if (ch == '"') break;
    if (ch < 0x20) return err(c, "control character in string");
    if (ch >= 0x80) {
      if (utf8(c) < 0) return -1;
      continue;
    }
    /* backslash */
    escaped = 1;
    c->p++;
    if (c->p >= c->end) return err(c, "premature end of input");
    ch = *c->p++;
    if (ch == 'u') {
      unsigned v;
      if (hex4(c, &v) < 0) return -1;
      if (v >= 0xdc00 && v <= 0xdfff) return err(c, "invalid Unicode surrogate");
      if (v >= 0xd800 && v <= 0xdbff) {
        unsigned w;
        if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u') return err(c, "invalid Unicode surrogate");
        c->p += 2;
        if (hex4(c, &w) < 0) return -1;
        if (w < 0xdc00 || w > 0xdfff) return err(c, "invalid Unicode surrogate");
      }
    } else if (!strchr("\"\\/bfnrt", ch) || ch == 0) {
      return err(c, "invalid escape");
    }
  }
  if (key && raw_eq) {
    size_t kl = strlen(key);
    *raw_eq = escaped ? escaped_equals(s0, (size_t)(c->p - s0), key)
                      : (size_t)(c->p - s0) == kl && !memcmp(s0, key, kl);
  }
  c->p++; /* closing quote */
  return 0;
}

static int number(cur *c) {
  const unsigned char *s = c->p;
  int real = 0, expo = 0;
  if (c->p < c->end && *c->p == '-') c->p++;
  if (c->p >= c->end) return err(c, "invalid number");
  if (*c->p == '0') {
    c->p++;
  } else if (*c->p >= '1' && *c->p <= '9') {
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
  } else {
    return err(c, "invalid number");
  }
  if (c->p < c->end && *c->p == '.') {
    real = 1;
    c->p++;
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return err(c, "invalid number");
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
  }
  if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
    real = 1;
    expo = 1;
    c->p++;
    if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return err(c, "invalid number");
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
  }
  size_t n = (size_t)(c->p - s);
  if ((!real && n > 18) || (real && (expo || n > 300))) {
    /* jansson refuses integers beyond 64 bits and infinite reals */
    char small[64], *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf) return err(c, "out of memory");
    memcpy(buf, s, n);
    buf[n] = 0;
    errno = 0;
    int bad = 0;
    if (!real) {
      strtoll(buf, NULL, 10);
      bad = errno == ERANGE;
    } else {
      double d = strtod(buf, NULL);
      bad = errno == ERANGE && isinf(d);
    }
    if (buf != small) free(buf);
    if (bad) return err(c, real ? "real number overflow" : "too big integer");
  }
  return 0;
}

static int literal(cur *c, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n)) return err(c, "invalid token");
  c->p += n;
  return 0;
}

int tm_jsonl_check(const char *line, size_t len, const char *field, const char **why, size_t *col) {
  cur c = {(const unsigned char *)line, (const unsigned char *)line + len, (const unsigned char *)line, NULL};
  /* stack of open containers: 1 object, 2 array */
  unsigned char stack[MAX_DEPTH];
  int depth = 0, found = 0, rc = TM_JSONL_OK;
  ws(&c);
  if (c.p >= c.end) {
    rc = err(&c, "premature end of input");
    goto out;
  }
  int top_array = *c.p == '[';
  if (*c.p != '{' && !top_array) {
    rc = err(&c, "'[' or '{' expected");
    goto out;
  }
  /* value loop */
  for (;;) {
    ws(&c);
    if (c.p >= c.end) {
      rc = err(&c, "premature end of input");
      goto out;
    }
    unsigned char ch = *c.p;
    if (ch == '{' || ch == '[') {
      if (depth >= MAX_DEPTH) {
        rc = err(&c, "maximum parsing depth reached");
        goto out;
      }
      stack[depth++] = ch == '{' ? 1 : 2;
      c.p++;
      ws(&c);
      if (c.p < c.end && *c.p == (ch == '{' ? '}' : ']')) {
        c.p++;
        depth--;
        goto after_value;
      }
      if (ch == '[') continue;
      goto member; /* object: a key comes next */
    } else if (ch == '"') {
      c.p++;
      if (string(&c, NULL, NULL) < 0) goto fail;
    } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
      if (number(&c) < 0) goto fail;
    } else if (ch == 't') {
      if (literal(&c, "true") < 0) goto fail;
    } else if (ch == 'f') {
      if (literal(&c, "false") < 0) goto fail;
    } else if (ch == 'n') {
      if (literal(&c, "null") < 0) goto fail;
    } else {
      rc = err(&c, "unexpected token");
      goto out;
    }
    /* jansson quirk, mirrored so the verdicts agree: one NUL byte right after
     * a number or a true/false/null literal is skipped (its lexer drops an
     * ungot NUL); a NUL anywhere else is an error */
    if (ch != '"' && c.p < c.end && *c.p == 0) c.p++;
  after_value:
    if (depth == 0) break;
    ws(&c);
    if (c.p >= c.end) {
      rc = err(&c, "premature end of input");
      goto out;
    }
    if (*c.p == ',') {
      c.p++;
      if (stack[depth - 1] == 2) continue;
      ws(&c);
      goto member;
    }
    if (*c.p == (stack[depth - 1] == 1 ? '}' : ']')) {
      c.p++;
      depth--;
      goto after_value;
    }
    rc = err(&c, stack[depth - 1] == 1 ? "'}' expected" : "']' expected");
    goto out;
  member:
    /* "key" ws ':' then the value */
    if (c.p >= c.end || *c.p != '"') {
      rc = err(&c, "string or '}' expected");
      goto out;
    }
    c.p++;
    {
      int eq = 0;
      if (string(&c, depth == 1 ? field : NULL, &eq) < 0) goto fail;
      ws(&c);
      if (c.p >= c.end || *c.p != ':') {
        rc = err(&c, "':' expected");
        goto out;
      }
      c.p++;
      ws(&c);
      if (eq) found = c.p < c.end && *c.p == '"'; /* a repeated key: the last one wins, as in jansson */
    }
    continue;
  }
  ws(&c);
  if (c.p != c.end) {
    rc = err(&c, "end of file expected");
    goto out;
  }
  if (top_array) return TM_JSONL_NOT_OBJECT;
  return found ? TM_JSONL_OK : TM_JSONL_NO_FIELD;
fail:
  rc = -1;
out:
  *why = c.why;
  *col = (size_t)(c.p - c.start) + 1;
  return rc < 0 ? TM_JSONL_SYNTAX : rc;
}
