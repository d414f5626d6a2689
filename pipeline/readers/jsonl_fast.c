/* jsonl_fast.c - the text field of a JSONL line without jansson's lexer.
 *
 * Why: jansson decodes strings one character at a time through its stream
 * layer (~60 MB/s); the text field is nearly all of a JSONL corpus's bytes,
 * so it was the largest single cost of reading (18% of a whole build's CPU
 * on ../shared/corpora). Here the top level of the object is walked once to
 * find the text member's value, that string is validated and decoded in the
 * same tight loop, and jansson parses the rest of the line with the value replaced by "".
 *
 * Invariant (the fast path never changes what a line means): a line is
 * taken only when it is a JSON object whose top level names the field once,
 * with a string value that is valid under jansson's rules (strict UTF-8: no
 * overlong forms, surrogates or code points past U+10FFFF; no raw control
 * characters; only the standard escapes; \u surrogates in pairs; \u0000
 * allowed as the reader loads with JSON_ALLOW_NUL). Then jansson would
 * decode the same bytes, and the rest of the line is still judged by
 * jansson. Anything else (an escaped key, a key given twice, a bad escape,
 * invalid UTF-8, a value that is not a string, a shape this walker does not
 * follow) returns 0 and the caller parses the whole line with jansson, so
 * errors keep jansson's exact messages and columns.
 */
#include <string.h>

#include "reader_int.h"

static const char *skip_ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

/* One strict UTF-8 sequence at s (s[0] >= 0x80): its length, 0 if invalid. */
static int utf8_seq_len(const unsigned char *s, const unsigned char *e) {
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

static int hex4(const char *p, unsigned *v) {
  unsigned x = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    x <<= 4;
    if (c >= '0' && c <= '9') x |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') x |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') x |= (unsigned)(c - 'A' + 10);
    else return 0;
  }
  *v = x;
  return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* A byte that ends the plain run of a string: a quote, a backslash, a
 * control character or a non-ASCII byte (checked 8 at a time). */
static inline int word_plain(uint64_t w) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  uint64_t ctl = (w - ones * 0x20) & ~w;         /* byte < 0x20 (or >= 0x80) */
  uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
  uint64_t zq = (q - ones) & ~q, zb = (bs - ones) & ~bs; /* byte == '"' / '\\' */
  return ((ctl | zq | zb | w) & high) == 0;
}

/* Decode the JSON string starting after its opening quote at p; on success
 * return the position after the closing quote and, when out is not NULL,
 * write the decoded bytes there (at most e - p bytes) with *olen; NULL when
 * the string is not valid for jansson. */
static const char *decode_string(const char *p, const char *e, char *out, size_t *olen) {
  size_t o = 0;
  while (p < e) {
    while (e - p >= 8) {
      uint64_t w;
      memcpy(&w, p, 8);
      if (!word_plain(w)) break;
      if (out) memcpy(out + o, p, 8);
      o += 8;
      p += 8;
    }
    if (p >= e) break;
    unsigned char c = (unsigned char)*p;
    if (c == '"') {
      if (olen) *olen = o;
      return p + 1;
    }
    if (c < 0x20) return NULL;
    if (c < 0x80 && c != '\\') {
      if (out) out[o] = (char)c;
      o++;
      p++;
      continue;
    }
    if (c >= 0x80) {
      int k = utf8_seq_len((const unsigned char *)p, (const unsigned char *)e);
      if (!k) return NULL;
      if (out) memcpy(out + o, p, (size_t)k);
      o += (size_t)k;
      p += k;
      continue;
    }
    /* an escape */
    if (e - p < 2) return NULL;
    char x = p[1], r;
    switch (x) {
    case '"': r = '"'; break;
    case '\\': r = '\\'; break;
    case '/': r = '/'; break;
    case 'b': r = '\b'; break;
    case 'f': r = '\f'; break;
    case 'n': r = '\n'; break;
    case 'r': r = '\r'; break;
    case 't': r = '\t'; break;
    case 'u': r = 0; break;
    default: return NULL;
    }
    if (x != 'u') {
      if (out) out[o] = r;
      o++;
      p += 2;
      continue;
    }
    unsigned cp, lo;
    if (e - p < 6 || !hex4(p + 2, &cp)) return NULL;
    p += 6;
    if (cp >= 0xdc00 && cp <= 0xdfff) return NULL; /* a lone low surrogate */
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
        return NULL;
      p += 6;
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    /* an escaped code point takes at most as many bytes as its escape */
    if (out) o += put_utf8(out + o, cp);
    else o += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return NULL;
}

/* Skip a string whose opening quote is at p[-1] without decoding it;
 * position after its closing quote, or NULL (anything odd: let jansson say). */
static const char *skip_string(const char *p, const char *e) {
  while (p < e) {
    const char *q = memchr(p, '"', (size_t)(e - p));
    if (!q) return NULL;
    /* the quote ends the string unless an odd run of backslashes precedes it */
    size_t bs = 0;
    while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\') bs++;
    if (!(bs & 1)) return q + 1;
    p = q + 1;
  }
  return NULL;
}

/* Skip one value that is not the text field's: a string, or a scalar or
 * nested container up to the next top-level ',' or '}'. Validity is for
 * jansson to judge later; this only has to find the value's end in every
 * line jansson would accept. */
static const char *skip_value(const char *p, const char *e) {
  if (p < e && *p == '"') return skip_string(p + 1, e);
  int depth = 0;
  while (p < e) {
    char c = *p;
    if (c == '"') {
      p = skip_string(p + 1, e);
      if (!p) return NULL;
      continue;
    }
    if (c == '{' || c == '[') depth++;
    else if (c == '}' || c == ']') {
      if (depth == 0) return c == '}' ? p : NULL;
      depth--;
    } else if (c == ',' && depth == 0) return p;
    p++;
  }
  return NULL;
}

int tm_jsonl_find_text(const char *line, size_t len, const char *field, size_t field_len,
                       size_t *vstart, size_t *vend, char *out, size_t *olen) {
  const char *p = line, *e = line + len, *found = NULL, *found_end = NULL;
  p = skip_ws(p, e);
  if (p >= e || *p != '{') return 0;
  p = skip_ws(p + 1, e);
  if (p < e && *p == '}') return 0;
  for (;;) {
    if (p >= e || *p != '"') return 0;
    const char *k = p + 1, *ke = skip_string(k, e);
    if (!ke) return 0;
    size_t kl = (size_t)(ke - 1 - k);
    if (memchr(k, '\\', kl)) return 0; /* an escaped key might spell the field */
    int is_field = kl == field_len && !memcmp(k, field, kl);
    p = skip_ws(ke, e);
    if (p >= e || *p != ':') return 0;
    p = skip_ws(p + 1, e);
    if (is_field) {
      if (found || p >= e || *p != '"') return 0; /* twice, or not a string */
      const char *ve = decode_string(p + 1, e, out, olen);
      if (!ve) return 0;
      found = p, found_end = ve;
      p = ve;
    } else {
      p = skip_value(p, e);
      if (!p) return 0;
    }
    p = skip_ws(p, e);
    if (p >= e) return 0;
    if (*p == '}') break;
    if (*p != ',') return 0;
    p = skip_ws(p + 1, e);
  }
  if (!found) return 0;
  *vstart = (size_t)(found - line);
  *vend = (size_t)(found_end - line);
  return 1;
}

