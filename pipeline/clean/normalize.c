/* normalize.c - UTF-8 repair, NFKC/NFC, whitespace; see normalize.h. */
#include "normalize.h"

#include <pthread.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <jansson.h>
#include <utf8proc.h>

/* printable ASCII: copied as is by the repair pass */
static unsigned char plain[256];
static pthread_once_t plain_once = PTHREAD_ONCE_INIT;
static void init_plain(void) {
  for (int c = 0x20; c < 0x7f; c++) plain[c] = 1;
  plain['\t'] = plain['\n'] = 1;
}

static const char REPL[3] = {(char)0xef, (char)0xbf, (char)0xbd};

/* Length of the well-formed sequence at s (1..4), or 0 with *bad set to the
 * length of the maximal ill-formed subpart to replace. */
static int utf8_seq(const unsigned char *s, size_t n, size_t *bad) {
  unsigned c = s[0];
  int need;
  unsigned lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) need = 1;
  else if (c == 0xe0) need = 2, lo = 0xa0;
  else if (c >= 0xe1 && c <= 0xef) need = 2, hi = c == 0xed ? 0x9f : 0xbf;
  else if (c == 0xf0) need = 3, lo = 0x90;
  else if (c >= 0xf1 && c <= 0xf3) need = 3;
  else if (c == 0xf4) need = 3, hi = 0x8f;
  else {
    *bad = 1;
    return 0;
  }
  for (int k = 1; k <= need; k++) {
    if ((size_t)k >= n || s[k] < lo || s[k] > hi) {
      *bad = (size_t)k;
      return 0;
    }
    lo = 0x80, hi = 0xbf;
  }
  return need + 1;
}

static uint32_t decode(const unsigned char *s, int len) {
  switch (len) {
  case 2: return ((s[0] & 0x1fu) << 6) | (s[1] & 0x3fu);
  case 3: return ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
  default: return ((s[0] & 0x07u) << 18) | ((s[1] & 0x3fu) << 12) | ((s[2] & 0x3fu) << 6) | (s[3] & 0x3fu);
  }
}

int tm_utf8_repair(const char *in, size_t n, tm_textbuf *out, tm_repair_counts *c) {
  pthread_once(&plain_once, init_plain);
  const unsigned char *s = (const unsigned char *)in;
  if (tm_tb_reserve(out, n) < 0) return -TM_ENOMEM;
  size_t i = 0;
  if (n >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf) i = 3;
  while (i < n) {
    size_t start = i;
    while (i < n && plain[s[i]]) i++;
    if (i > start && tm_tb_put(out, in + start, i - start) < 0) return -TM_ENOMEM;
    if (i >= n) break;
    unsigned b = s[i];
    if (b < 0x80) {
      if (b == '\r') {
        if (tm_tb_putc(out, '\n') < 0) return -TM_ENOMEM;
        i += (i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
      } else if (b == '\f' || b == '\v') {
        if (tm_tb_putc(out, '\n') < 0) return -TM_ENOMEM;
        i++;
      } else {
        if (c) c->controls++;
        i++;
      }
      continue;
    }
    size_t bad = 0;
    int len = utf8_seq(s + i, n - i, &bad);
    if (!len) {
      if (tm_tb_put(out, REPL, 3) < 0) return -TM_ENOMEM;
      if (c) c->invalid++;
      i += bad;
      continue;
    }
    uint32_t cp = decode(s + i, len);
    if (cp >= 0x80 && cp <= 0x9f) {
      if (cp == 0x85) {
        if (tm_tb_putc(out, '\n') < 0) return -TM_ENOMEM;
      } else if (c) {
        c->controls++;
      }
    } else if (cp == 0x2028 || cp == 0x2029) {
      if (tm_tb_putc(out, '\n') < 0) return -TM_ENOMEM;
    } else if (tm_tb_put(out, in + i, (size_t)len) < 0) {
      return -TM_ENOMEM;
    }
    i += (size_t)len;
  }
  return tm_tb_finish(out);
}

int tm_utf8_valid(const char *text, size_t n) {
  const unsigned char *s = (const unsigned char *)text;
  size_t i = 0, bad;
  while (i < n) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    int len = utf8_seq(s + i, n - i, &bad);
    if (!len) return 0;
    i += (size_t)len;
  }
  return 1;
}

int tm_text_has_non_ascii(const char *s, size_t n) {
  size_t i = 0;
  uint64_t acc = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    acc |= w;
  }
  for (; i < n; i++) acc |= (unsigned char)s[i];
  return (acc & 0x8080808080808080ull) != 0;
}

/* May this code point change under normalisation, alone or with its
 * neighbours? */
static int unstable(uint32_t cp, tm_norm_form form) {
  const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)cp);
  if (p->combining_class) return 1;
  if (p->comb_index != UINT16_MAX) return 1;
  if (cp >= 0x1100 && cp <= 0x11ff) return 1; /* Hangul jamo compose algorithmically */
  if (p->decomp_seqindex != UINT16_MAX) return form == TM_NORM_NFKC || p->decomp_type == 0;
  return 0;
}

/* Normalise s[0..n) (valid UTF-8) into out. */
static int normalize_span(const char *s, size_t n, tm_norm_form form, tm_textbuf *out) {
  utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
  if (form == TM_NORM_NFKC) opt |= UTF8PROC_COMPAT;
  utf8proc_int32_t buf[512];
  utf8proc_ssize_t k = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, buf,
                                          512, opt);
  if (k < 0 || k > 512) { /* a very long cluster: the allocating API */
    utf8proc_uint8_t *m = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &m, opt);
    if (r < 0) return tm_tb_put(out, s, n); /* cannot happen on valid input */
    int rc = tm_tb_put(out, (const char *)m, (size_t)r);
    free(m);
    return rc;
  }
  k = utf8proc_normalize_utf32(buf, k, opt);
  if (tm_tb_reserve(out, (size_t)k * 4) < 0) return -TM_ENOMEM;
  for (utf8proc_ssize_t j = 0; j < k; j++)
    out->len += (size_t)utf8proc_encode_char(buf[j], (utf8proc_uint8_t *)out->p + out->len);
  return 0;
}

static int seq_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4; }

int tm_text_normalize(const char *in, size_t n, tm_norm_form form, tm_textbuf *out) {
  if (form == TM_NORM_NONE) return tm_tb_put(out, in, n) < 0 ? -TM_ENOMEM : tm_tb_finish(out);
  if (tm_tb_reserve(out, n) < 0) return -TM_ENOMEM;
  const unsigned char *s = (const unsigned char *)in;
  size_t i = 0, prev_in = 0, prev_out = 0; /* where the previous character starts */
  int have_prev = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      size_t start = i;
      while (i < n && s[i] < 0x80) i++;
      if (tm_tb_put(out, in + start, i - start) < 0) return -TM_ENOMEM;
      prev_in = i - 1;
      prev_out = out->len - 1;
      have_prev = 1;
      continue;
    }
    int len = seq_len(s[i]);
    if (i + (size_t)len > n) len = (int)(n - i);
    uint32_t cp = decode(s + i, len);
    if (!unstable(cp, form)) {
      prev_in = i;
      prev_out = out->len;
      have_prev = 1;
      if (tm_tb_put(out, in + i, (size_t)len) < 0) return -TM_ENOMEM;
      i += (size_t)len;
      continue;
    }
    /* a cluster: the previous character and every following unstable one */
    size_t start = have_prev ? prev_in : i, end = i + (size_t)len;
    while (end < n && s[end] >= 0x80) {
      int l = seq_len(s[end]);
      if (end + (size_t)l > n || !unstable(decode(s + end, l), form)) break;
      end += (size_t)l;
    }
    if (have_prev) out->len = prev_out;
    if (normalize_span(in + start, end - start, form, out) < 0) return -TM_ENOMEM;
    have_prev = 0; /* the cluster ended before a stable character or ASCII */
    i = end;
  }
  return tm_tb_finish(out);
}

/* Length of a Unicode space separator at s (not ASCII), or 0. */
static int uspace(const unsigned char *s, size_t n) {
  if (n >= 2 && s[0] == 0xc2 && s[1] == 0xa0) return 2;                /* NBSP */
  if (n >= 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] <= 0x8a || s[2] == 0xaf)) return 3;
  if (n >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3; /* U+205F */
  if (n >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
  if (n >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3; /* U+1680 */
  return 0;
}

int tm_text_whitespace(const char *in, size_t n, tm_textbuf *out) {
  if (tm_tb_reserve(out, n) < 0) return -TM_ENOMEM;
  const unsigned char *s = (const unsigned char *)in;
  char *o = out->p + out->len, *start = o;
  int pending_space = 0, newlines = 0;
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    if (c > ' ' && c < 0x80 && !(pending_space | newlines)) { /* the common case */
      *o++ = (char)c;
      i++;
      continue;
    }
    int sp = 0;
    if (c == ' ' || c == '\t') sp = 1;
    else if (c >= 0xc2) sp = uspace(s + i, n - i);
    if (sp) {
      pending_space = 1;
      i += (size_t)sp;
      continue;
    }
    if (c == '\n') {
      newlines++;
      pending_space = 0;
      i++;
      continue;
    }
    /* a visible character after white space: emit the separator owed */
    if (o > start) {
      if (newlines) {
        *o++ = '\n';
        if (newlines > 1) *o++ = '\n';
      } else if (pending_space) {
        *o++ = ' ';
      }
    }
    newlines = 0;
    pending_space = 0;
    *o++ = (char)c;
    i++;
  }
  out->len = (size_t)(o - out->p);
  return tm_tb_finish(out);
}

/* Scalar check of s[i] in context: would the whitespace pass change it? */
static int ws_bad_at(const unsigned char *s, size_t n, size_t i) {
  unsigned c = s[i];
  unsigned d = i + 1 < n ? s[i + 1] : 0;
  if (c == '\t') return 1;
  if (c == ' ') return d == ' ' || d == '\n';
  if (c == '\n') return d == ' ' || (d == '\n' && i + 2 < n && s[i + 2] == '\n');
  if (c >= 0xc2) return uspace(s + i, n - i) != 0;
  return 0;
}

int tm_text_whitespace_needed(const char *text, size_t n) {
  const unsigned char *s = (const unsigned char *)text;
  if (!n) return 0;
  if (s[0] == ' ' || s[0] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\n') return 1;
  size_t i = 0;
#ifdef __SSE2__
  /* 16 bytes at a time: a byte that may need work is a tab, a byte >= 0x80,
   * or a space/newline followed by a space or newline; only those are
   * looked at one by one. */
  const __m128i sp = _mm_set1_epi8(' '), nl = _mm_set1_epi8('\n'), tab = _mm_set1_epi8('\t');
  for (; i + 17 <= n; i += 16) {
    __m128i a = _mm_loadu_si128((const __m128i *)(s + i));
    __m128i b = _mm_loadu_si128((const __m128i *)(s + i + 1));
    __m128i ws_a = _mm_or_si128(_mm_cmpeq_epi8(a, sp), _mm_cmpeq_epi8(a, nl));
    __m128i ws_b = _mm_or_si128(_mm_cmpeq_epi8(b, sp), _mm_cmpeq_epi8(b, nl));
    __m128i odd = _mm_or_si128(_mm_and_si128(ws_a, ws_b), _mm_cmpeq_epi8(a, tab));
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(odd, a)); /* a's high bits: non-ASCII */
    while (m) {
      size_t k = i + (size_t)__builtin_ctz(m);
      if (ws_bad_at(s, n, k)) return 1;
      m &= m - 1;
    }
  }
#endif
  for (; i < n; i++)
    if (ws_bad_at(s, n, i)) return 1;
  return 0;
}

int tm_norm_form_parse(const char *s) {
  if (!strcasecmp(s, "nfkc")) return TM_NORM_NFKC;
  if (!strcasecmp(s, "nfc")) return TM_NORM_NFC;
  if (!strcasecmp(s, "none")) return TM_NORM_NONE;
  return -1;
}

json_t *tm_json_text_lossy(const char *s) {
  size_t n = strlen(s);
  if (tm_utf8_valid(s, n)) return json_stringn(s, n);
  tm_textbuf fixed = {0};
  tm_repair_counts c = {0};
  json_t *j = tm_utf8_repair(s, n, &fixed, &c) == 0 ? json_stringn(fixed.p ? fixed.p : "", fixed.len) : NULL;
  tm_tb_free(&fixed);
  return j;
}
