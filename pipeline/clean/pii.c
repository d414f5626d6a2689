/* pii.c - e-mail, IP address and phone number redaction; see pii.h. */
#include "pii.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <string.h>

static int is_local(unsigned char c) { return isalnum(c) || strchr("._%+-", c) != NULL; }
static int is_dom(unsigned char c) { return isalnum(c) || c == '-' || c == '.'; }

/* An e-mail around the '@' at t+at: [*b, *e). */
static int match_email(const char *t, size_t n, size_t at, size_t *b, size_t *e) {
  size_t s = at;
  while (s > 0 && is_local((unsigned char)t[s - 1])) s--;
  while (s < at && t[s] == '.') s++;
  if (s == at) return 0;
  size_t j = at + 1;
  while (j < n && is_dom((unsigned char)t[j])) j++;
  while (j > at + 1 && (t[j - 1] == '.' || t[j - 1] == '-')) j--;
  /* TLD: letters after the last dot */
  size_t dot = j;
  while (dot > at + 1 && t[dot - 1] != '.') dot--;
  if (dot <= at + 2) return 0; /* no dot, or an empty first label */
  size_t tld = j - dot;
  if (tld < 2) return 0;
  for (size_t k = dot; k < j; k++)
    if (!isalpha((unsigned char)t[k])) return 0;
  *b = s;
  *e = j;
  return 1;
}

static int match_ipv4(const char *t, size_t n, size_t i, size_t *e) {
  if (i > 0 && (isalnum((unsigned char)t[i - 1]) || t[i - 1] == '.')) return 0;
  size_t j = i;
  for (int part = 0; part < 4; part++) {
    if (part) {
      if (j >= n || t[j] != '.') return 0;
      j++;
    }
    size_t d = 0;
    unsigned v = 0;
    while (j < n && isdigit((unsigned char)t[j]) && d < 4) v = v * 10 + (unsigned)(t[j++] - '0'), d++;
    if (d == 0 || d > 3 || v > 255) return 0;
  }
  if (j < n && (isalnum((unsigned char)t[j]) || (t[j] == '.' && j + 1 < n && isdigit((unsigned char)t[j + 1]))))
    return 0;
  *e = j;
  return 1;
}

static int match_ipv6(const char *t, size_t n, size_t i, size_t *e) {
  if (i > 0 && (isalnum((unsigned char)t[i - 1]) || t[i - 1] == ':')) return 0;
  size_t j = i, colons = 0, hex = 0;
  while (j < n && j - i < 45 && (isxdigit((unsigned char)t[j]) || t[j] == ':' || t[j] == '.')) {
    colons += t[j] == ':';
    hex += isxdigit((unsigned char)t[j]) != 0;
    j++;
  }
  while (j > i && t[j - 1] == '.') j--;
  if (colons < 2 || hex < 4 || (j < n && isalnum((unsigned char)t[j]))) return 0;
  char buf[64];
  memcpy(buf, t + i, j - i);
  buf[j - i] = 0;
  unsigned char addr[16];
  if (inet_pton(AF_INET6, buf, addr) != 1) return 0;
  *e = j;
  return 1;
}

static int match_phone(const char *t, size_t n, size_t i, size_t *e) {
  if (i > 0 && (isalnum((unsigned char)t[i - 1]) || strchr("+.-_/", t[i - 1]))) return 0;
  size_t j = i;
  int plus = 0;
  if (t[j] == '+') plus = 1, j++;
  size_t digits = 0, seps = 0, group = 0, maxgroup = 0, end = j;
  while (j < n) {
    char c = t[j];
    if (isdigit((unsigned char)c)) {
      digits++;
      if (++group > maxgroup) maxgroup = group;
      end = j + 1;
    } else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') {
      if (group || c == '(') seps++;
      group = 0;
      if (c == ' ' && j + 1 < n && !isdigit((unsigned char)t[j + 1]) && t[j + 1] != '(') break;
    } else {
      break;
    }
    j++;
  }
  if (end < n && isalnum((unsigned char)t[end])) return 0;
  if (maxgroup > 5) return 0;
  if (plus ? digits < 8 : digits < 10) return 0;
  if (digits > 15 || (!plus && seps < 2)) return 0;
  *e = end;
  return 1;
}

/* word bytes (ASCII letters and digits) */
static unsigned char word_tab[256];
static pthread_once_t tabs_once = PTHREAD_ONCE_INIT;
static void init_tabs(void) {
  for (int c = 0; c < 256; c++) {
    word_tab[c] = isalnum(c) != 0;
  }
}

/* The next position >= i that may start or anchor a match: a digit, '@',
 * '+', '(' or ':'. Sixteen bytes at a time where SSE2 is there: prose has
 * few of them, so most text is skipped without looking at each byte. */
static size_t next_candidate(const unsigned char *t, size_t n, size_t i) {
#ifdef __SSE2__
  const __m128i lo = _mm_set1_epi8('0' - 1), hi = _mm_set1_epi8('9' + 1), at = _mm_set1_epi8('@'),
                plus = _mm_set1_epi8('+'), par = _mm_set1_epi8('('), colon = _mm_set1_epi8(':');
  for (; i + 16 <= n; i += 16) {
    __m128i x = _mm_loadu_si128((const __m128i *)(t + i));
    __m128i m = _mm_and_si128(_mm_cmpgt_epi8(x, lo), _mm_cmplt_epi8(x, hi)); /* bytes >= 0x80 are negative */
    m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(x, at), _mm_cmpeq_epi8(x, plus)));
    m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(x, par), _mm_cmpeq_epi8(x, colon)));
    unsigned mask = (unsigned)_mm_movemask_epi8(m);
    if (mask) return i + (size_t)__builtin_ctz(mask);
  }
#endif
  for (; i < n; i++) {
    unsigned char ch = t[i];
    if ((ch >= '0' && ch <= '9') || ch == '@' || ch == '+' || ch == '(' || ch == ':') return i;
  }
  return n;
}

int tm_pii_redact(const char *t, size_t n, const tm_pii_params *p, tm_textbuf *out,
                  tm_pii_counts *c) {
  pthread_once(&tabs_once, init_tabs);
  if (tm_tb_reserve(out, n) < 0) return -TM_ENOMEM;
  const unsigned char *u = (const unsigned char *)t;
  size_t copied = 0; /* t[0..copied) is in out */
  int rc = 0;
  /* Candidates only: an e-mail is found at its '@', an IPv4 address or a
   * phone number at a word start with a digit, '+' or '(', an IPv6 address
   * at a digit word start or, when it starts with a letter, from its first
   * ':' back to its start. */
  for (size_t i = 0; rc == 0 && (i = next_candidate(u, n, i)) < n;) {
    unsigned char ch = u[i];
    size_t b = i, e = 0;
    const char *ph = NULL;
    uint64_t *cnt = NULL;
    if (ch == '@') {
      if (p->email && match_email(t, n, i, &b, &e) && b >= copied) ph = p->email, cnt = c ? &c->email : NULL;
    } else if (ch == ':') {
      if (p->ipv6) {
        size_t s0 = i;
        while (s0 > copied && i - s0 < 45 && (isxdigit(u[s0 - 1]) || u[s0 - 1] == ':' || u[s0 - 1] == '.')) s0--;
        if (match_ipv6(t, n, s0, &e) && e > i) b = s0, ph = p->ipv6, cnt = c ? &c->ipv6 : NULL;
      }
    } else if (i == 0 || !word_tab[u[i - 1]]) {
      if (isdigit(ch) && p->ipv6 && match_ipv6(t, n, i, &e)) {
        ph = p->ipv6;
        cnt = c ? &c->ipv6 : NULL;
      } else if (isdigit(ch) && p->ipv4 && match_ipv4(t, n, i, &e)) {
        ph = p->ipv4;
        cnt = c ? &c->ipv4 : NULL;
      } else if (p->phone && match_phone(t, n, i, &e)) {
        ph = p->phone;
        cnt = c ? &c->phone : NULL;
      }
    }
    if (ph) {
      rc = tm_tb_put(out, t + copied, b - copied);
      if (rc == 0) rc = tm_tb_puts(out, ph);
      if (cnt) (*cnt)++;
      copied = i = e;
      continue;
    }
    i++;
    if (word_tab[ch]) /* the rest of a word that starts with a digit starts nothing */
      while (i < n && word_tab[u[i]]) i++;
  }
  if (rc == 0) rc = tm_tb_put(out, t + copied, n - copied);
  return rc < 0 ? rc : tm_tb_finish(out);
}
