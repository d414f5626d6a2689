/* json_line.c - JSON string rules, the top-level member walk and the whole
 * line check; see json_line.h. */
#include "json_line.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512BW__) && !defined(TM_JSONL_PORTABLE) /* TM_JSONL_PORTABLE: tests */
#include <immintrin.h>
#endif

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
#define MAX_DEPTH 2048

typedef const unsigned char *bytes;

static uint64_t load8(bytes p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Nonzero when one of the 8 bytes in v is '"' or a backslash. */
static uint64_t quote_or_backslash(uint64_t v) {
  uint64_t q = v ^ (ONES * '"'), b = v ^ (ONES * '\\');
  return ((q - ONES) & ~q & HIGHS) | ((b - ONES) & ~b & HIGHS);
}

/* Nonzero when one of the 8 bytes is not plain string content: below 0x20,
 * 0x80 and above, '"' or a backslash (SWAR: the "has a byte less than n"
 * and "has a zero byte" tests are exact as yes/no answers). */
static uint64_t not_plain(uint64_t v) {
  return quote_or_backslash(v) | ((v - ONES * 0x20) & ~v & HIGHS) | (v & HIGHS);
}

/* The first byte of p[0..end) that is not plain string content; p advances
 * in whole steps (64 bytes with AVX-512BW, then 8), so the result may stop
 * short of that byte by up to 7: callers finish byte by byte. */
static bytes skip_plain(bytes p, bytes end) {
#if defined(__AVX512BW__) && !defined(TM_JSONL_PORTABLE)
  const __m512i q = _mm512_set1_epi8('"'), b = _mm512_set1_epi8('\\');
  const __m512i lo = _mm512_set1_epi8(0x20);
  while (end - p >= 64) {
    __m512i x = _mm512_loadu_si512((const void *)p);
    uint64_t m = _mm512_cmpeq_epi8_mask(x, q) | _mm512_cmpeq_epi8_mask(x, b) |
                 _mm512_cmplt_epu8_mask(x, lo) | _mm512_movepi8_mask(x);
    if (m) return p + __builtin_ctzll(m);
    p += 64;
  }
#endif
  while (end - p >= 8 && !not_plain(load8(p))) p += 8;
  return p;
}

/* skip_plain that also copies the bytes it passes to out (and
 * possibly up to 63 more: out has room for end - p bytes, and those past
 * the run are overwritten or beyond the decoded length). One pass for the
 * decoding scan instead of a scan and a memcpy. */
static bytes copy_plain(bytes p, bytes end, unsigned char *out) {
#if defined(__AVX512BW__) && !defined(TM_JSONL_PORTABLE)
  const __m512i q = _mm512_set1_epi8('"'), b = _mm512_set1_epi8('\\');
  const __m512i lo = _mm512_set1_epi8(0x20);
  while (end - p >= 64) {
    __m512i x = _mm512_loadu_si512((const void *)p);
    _mm512_storeu_si512((void *)out, x);
    uint64_t m = _mm512_cmpeq_epi8_mask(x, q) | _mm512_cmpeq_epi8_mask(x, b) |
                 _mm512_cmplt_epu8_mask(x, lo) | _mm512_movepi8_mask(x);
    if (m) return p + __builtin_ctzll(m);
    p += 64;
    out += 64;
  }
#endif
  while (end - p >= 8) {
    uint64_t v = load8(p);
    memcpy(out, &v, 8);
    if (not_plain(v)) break;
    p += 8;
    out += 8;
  }
  return p;
}

/* One strict UTF-8 sequence at s (s[0] >= 0x80): its length, 0 if invalid. */
static int utf8_seq_len(bytes s, bytes e) {
  unsigned b = s[0];
  if (b >= 0xc2 && b <= 0xdf) return e - s >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    if (e - s < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return 0;
    if (b == 0xe0 && s[1] < 0xa0) return 0;  /* overlong */
    if (b == 0xed && s[1] >= 0xa0) return 0; /* surrogate */
    return 3;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    if (e - s < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80) return 0;
    if (b == 0xf0 && s[1] < 0x90) return 0;  /* overlong */
    if (b == 0xf4 && s[1] >= 0x90) return 0; /* past U+10FFFF */
    return 4;
  }
  return 0;
}

/* Four hex digits at p: 1 with *v, 0 when one is not a hex digit. */
static int hex4(bytes p, unsigned *v) {
  unsigned x = 0;
  for (int i = 0; i < 4; i++) {
    unsigned c = p[i];
    x <<= 4;
    if (c >= '0' && c <= '9') x |= c - '0';
    else if (c >= 'a' && c <= 'f') x |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') x |= c - 'A' + 10;
    else return 0;
  }
  *v = x;
  return 1;
}

static size_t put_utf8(unsigned char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xc0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xe0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (unsigned char)(0xf0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (unsigned char)(0x80 | (cp & 0x3f));
  return 4;
}

static const char *str_fail(tm_json_str *s, const char *why, bytes at) {
  s->why = why;
  s->at = (const char *)at;
  return NULL;
}

const char *tm_json_str_scan(const char *p0, const char *end0, char *out0, tm_json_str *s) {
  bytes p = (bytes)p0, end = (bytes)end0;
  unsigned char *out = (unsigned char *)out0;
  size_t o = 0;
  s->escaped = 0;
  s->nul = 0;
  s->why = NULL;
  s->at = NULL;
  for (;;) {
    /* the common run of plain ASCII, copied whole */
    bytes r = out ? copy_plain(p, end, out + o) : skip_plain(p, end);
    if (out) {
      o += (size_t)(r - p);
      while (r < end && *r >= 0x20 && *r < 0x80 && *r != '"' && *r != '\\') out[o++] = *r++;
    } else {
      while (r < end && *r >= 0x20 && *r < 0x80 && *r != '"' && *r != '\\') r++;
      o += (size_t)(r - p);
    }
    p = r;
    if (p >= end) return str_fail(s, "premature end of input", end);
    unsigned ch = *p;
    if (ch == '"') break;
    if (ch < 0x20) return str_fail(s, "control character in string", p);
    if (ch >= 0x80) {
      int k = utf8_seq_len(p, end);
      if (!k) return str_fail(s, "invalid UTF-8", p);
      if (out) memcpy(out + o, p, (size_t)k);
      o += (size_t)k;
      p += k;
      continue;
    }
    /* a backslash */
    s->escaped = 1;
    if (end - p < 2) return str_fail(s, "premature end of input", end);
    unsigned x = p[1], rep;
    switch (x) {
    case '"': rep = '"'; break;
    case '\\': rep = '\\'; break;
    case '/': rep = '/'; break;
    case 'b': rep = '\b'; break;
    case 'f': rep = '\f'; break;
    case 'n': rep = '\n'; break;
    case 'r': rep = '\r'; break;
    case 't': rep = '\t'; break;
    case 'u': rep = 0x110000; break;
    default: return str_fail(s, "invalid escape", p + 2);
    }
    p += 2;
    if (rep != 0x110000) {
      if (out) out[o] = (unsigned char)rep;
      o++;
      continue;
    }
    unsigned cp, lo;
    if (end - p < 4) return str_fail(s, "truncated \\u escape", p);
    if (!hex4(p, &cp)) return str_fail(s, "invalid \\u escape", p);
    p += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff) return str_fail(s, "invalid Unicode surrogate", p);
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (end - p < 2 || p[0] != '\\' || p[1] != 'u') return str_fail(s, "invalid Unicode surrogate", p);
      p += 2;
      if (end - p < 4) return str_fail(s, "truncated \\u escape", p);
      if (!hex4(p, &lo)) return str_fail(s, "invalid \\u escape", p);
      p += 4;
      if (lo < 0xdc00 || lo > 0xdfff) return str_fail(s, "invalid Unicode surrogate", p);
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp == 0) s->nul = 1;
    /* an escaped code point takes at most as many bytes as its escape */
    if (out) o += put_utf8(out + o, cp);
    else o += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  s->len = o;
  return (const char *)p;
}

/* The first '"' in p[0..end), or NULL; *bs is set when a backslash comes
 * before it (or anywhere, when there is no quote). Only quotes stop it:
 * text and HTML hold many escapes (\n, \") and few unescaped quotes. */
static bytes find_quote(bytes p, bytes end, int *bs) {
#if defined(__AVX512BW__) && !defined(TM_JSONL_PORTABLE)
  const __m512i q = _mm512_set1_epi8('"'), b = _mm512_set1_epi8('\\');
  while (end - p >= 64) {
    __m512i x = _mm512_loadu_si512((const void *)p);
    uint64_t mq = _mm512_cmpeq_epi8_mask(x, q), mb = _mm512_cmpeq_epi8_mask(x, b);
    if (mq) {
      if (mb & ((mq & -mq) - 1)) *bs = 1; /* a backslash below the first quote */
      return p + __builtin_ctzll(mq);
    }
    if (mb) *bs = 1;
    p += 64;
  }
#endif
  bytes r = memchr(p, '"', (size_t)(end - p));
  if (!*bs && memchr(p, '\\', (size_t)((r ? r : end) - p))) *bs = 1;
  return r;
}

const char *tm_json_str_span(const char *p0, const char *end0, int *escaped) {
  bytes start = (bytes)p0, p = start, end = (bytes)end0;
  int esc = 0;
  for (;;) {
    bytes q = find_quote(p, end, &esc);
    if (!q) return NULL;
    /* the quote ends the string unless an odd run of backslashes precedes it */
    size_t n = 0;
    while (q - n > start && q[-1 - (ptrdiff_t)n] == '\\') n++;
    if (!(n & 1)) {
      if (escaped) *escaped = esc;
      return (const char *)q;
    }
    p = q + 1;
  }
}

int tm_json_str_equals(const char *s, size_t n, int escaped, const char *key, size_t kl) {
  if (!escaped) return n == kl && !memcmp(s, key, kl);
  /* every escape decodes to at least a sixth of its bytes */
  if (n > 6 * kl) return 0;
  char small[256], *buf = n < sizeof small ? small : malloc(n + 1); /* + the quote */
  if (!buf) return -1;
  tm_json_str st;
  const char *q = tm_json_str_scan(s, s + n + 1, buf, &st); /* s[n] is the closing quote */
  int eq = q == s + n && st.len == kl && !memcmp(buf, key, kl);
  if (buf != small) free(buf);
  return eq;
}

/* ---- the top-level walk ---------------------------------------------------- */

static bytes skip_ws(bytes p, bytes e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

static int scalar_byte(unsigned c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '+' || c == '.';
}

int tm_json_walk_begin(tm_json_walk *w, const char *line, size_t len) {
  bytes p = skip_ws((bytes)line, (bytes)line + len);
  w->end = line + len;
  w->state = 2;
  w->p = (const char *)p;
  if (p >= (bytes)w->end || *p != '{') return -1;
  w->p = (const char *)p + 1;
  w->state = 0;
  return 0;
}

/* Every '"' outside a string starts one here, as in any JSON lexer, so the
 * strings this walk hands out are the tokens jansson sees (a caller may
 * replace one's contents without changing how the rest of the line reads). */
int tm_json_walk_next(tm_json_walk *w, tm_json_member *m) {
  bytes p = (bytes)w->p, e = (bytes)w->end;
  if (w->state == 2) return -1;
  p = skip_ws(p, e);
  if (w->state == 1) {
    if (p < e && *p == ',') {
      p = skip_ws(p + 1, e);
    } else if (p < e && *p == '}') {
      w->p = (const char *)p + 1;
      w->state = 2;
      return 0;
    } else {
      goto bad;
    }
  } else if (p < e && *p == '}') {
    w->p = (const char *)p + 1;
    w->state = 2;
    return 0;
  }
  if (p >= e || *p != '"') goto bad;
  bytes q = (bytes)tm_json_str_span((const char *)p + 1, (const char *)e, &m->name_escaped);
  if (!q) goto bad;
  m->name = (const char *)p + 1;
  m->name_len = (size_t)(q - p - 1);
  p = skip_ws(q + 1, e);
  if (p >= e || *p != ':') goto bad;
  p = skip_ws(p + 1, e);
  if (p >= e) goto bad;
  m->val_escaped = 0;
  if (*p == '"') {
    q = (bytes)tm_json_str_span((const char *)p + 1, (const char *)e, &m->val_escaped);
    if (!q) goto bad;
    m->kind = '"';
    m->val = (const char *)p + 1;
    m->val_len = (size_t)(q - p - 1);
    p = q + 1;
  } else if (*p == '{' || *p == '[') {
    /* to the matching bracket (which kind of bracket is for the check) */
    size_t depth = 0;
    bytes b = p;
    for (;;) {
      if (p >= e) goto bad;
      unsigned c = *p++;
      if (c == '"') {
        p = (bytes)tm_json_str_span((const char *)p, (const char *)e, NULL);
        if (!p) goto bad;
        p++;
      } else if (c == '{' || c == '[') {
        depth++;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        break;
      }
    }
    m->kind = '{';
    m->val = (const char *)b;
    m->val_len = (size_t)(p - b);
  } else {
    bytes b = p;
    while (p < e && scalar_byte(*p)) p++;
    if (p == b) goto bad;
    m->kind = *b == '-' || (*b >= '0' && *b <= '9') ? '0' : 'l';
    m->val = (const char *)b;
    m->val_len = (size_t)(p - b);
    if (p < e && *p == 0) p++; /* jansson skips one NUL after a number or literal */
  }
  w->p = (const char *)p;
  w->state = 1;
  return 1;
bad:
  w->p = (const char *)p;
  w->state = 2;
  return -1;
}

/* ---- the whole-line check ----------------------------------------------- */

typedef struct {
  bytes p, end, start;
  const char *why;
} cur;

static int err(cur *c, const char *why) {
  c->why = why;
  return -1;
}

static void ws(cur *c) { c->p = skip_ws(c->p, c->end); }

/* A string; c->p is after the opening quote and ends after the closing one.
 * name: it is a member name (no \u0000 then, as in jansson); *eq (when key
 * is not NULL) tells whether it decodes to key. */
static int string(cur *c, int name, const char *key, int *eq) {
  tm_json_str s;
  const char *b = (const char *)c->p;
  const char *q = tm_json_str_scan(b, (const char *)c->end, NULL, &s);
  if (!q) {
    c->p = (bytes)s.at;
    return err(c, s.why);
  }
  if (name && s.nul) return err(c, "NUL byte in object key not supported");
  if (key) {
    *eq = tm_json_str_equals(b, (size_t)(q - b), s.escaped, key, strlen(key));
    if (*eq < 0) return err(c, "out of memory");
  }
  c->p = (bytes)q + 1;
  return 0;
}

static int number(cur *c) {
  bytes s = c->p;
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
  cur c = {(bytes)line, (bytes)line + len, (bytes)line, NULL};
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
      if (string(&c, 0, NULL, NULL) < 0) goto fail;
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
      if (string(&c, 1, depth == 1 ? field : NULL, &eq) < 0) goto fail;
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
