/* social.c - social-post cleaning: URLs, mentions, hashtags, character
 * floods; see source_rules.h. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "source_rules.h"
#include "words.h"

int tm_social_mode_parse(const char *s) {
  if (!strcasecmp(s, "keep")) return TM_SOCIAL_KEEP;
  if (!strcasecmp(s, "normalize") || !strcasecmp(s, "normalise")) return TM_SOCIAL_NORMALIZE;
  if (!strcasecmp(s, "remove")) return TM_SOCIAL_REMOVE;
  return -1;
}

static int at_token_start(const char *t, size_t i) {
  return i == 0 || t[i - 1] == ' ' || t[i - 1] == '\n' || t[i - 1] == '(' || t[i - 1] == '"';
}

/* Length of a URL at t+i, or 0. Trailing punctuation is not part of it. */
static size_t url_len(const char *t, size_t n, size_t i) {
  size_t k;
  if (n - i >= 8 && !strncasecmp(t + i, "https://", 8)) k = 8;
  else if (n - i >= 7 && !strncasecmp(t + i, "http://", 7)) k = 7;
  else if (n - i >= 4 && !strncasecmp(t + i, "www.", 4)) k = 4;
  else return 0;
  size_t j = i + k;
  while (j < n && t[j] != ' ' && t[j] != '\n') j++;
  while (j > i + k && strchr(".,!?;:)\"'", t[j - 1])) j--;
  return j > i + k ? j - i : 0;
}

/* Length of "@name"/"#tag" at t+i (word characters after the sigil), or 0. */
static size_t tag_len(const char *t, size_t n, size_t i) {
  size_t j = i + 1;
  while (j < n) {
    unsigned char c = (unsigned char)t[j];
    if (isalnum(c) || c == '_' || c >= 0x80) {
      if (c >= 0x80) { /* letters of any script, not punctuation like "…" */
        uint32_t cp;
        int k = tm_utf8_next((const unsigned char *)t + j, n - j, &cp);
        if (cp == 0x2026 || (cp >= 0x2000 && cp <= 0x206f) || (cp >= 0x3000 && cp <= 0x303f)) break;
        j += (size_t)k;
        continue;
      }
      j++;
    } else {
      break;
    }
  }
  return j - i > 1 ? j - i : 0;
}

static int put_mode(tm_textbuf *out, tm_social_mode m, const char *s, size_t l, const char *norm) {
  if (m == TM_SOCIAL_KEEP) return tm_tb_put(out, s, l);
  if (m == TM_SOCIAL_NORMALIZE) return tm_tb_puts(out, norm);
  return 0;
}

/* Plain text is not copied character by character: the loop only moves i
 * over it, and copies the pending run [from, i) in one piece when something
 * is rewritten (a URL, a tag, a flood) or at the end. */
int tm_social_clean(const char *t, size_t n, const tm_social_params *p, tm_textbuf *out,
                    tm_social_counts *c) {
  if (tm_tb_reserve(out, n) < 0) return -TM_ENOMEM;
  int rc = 0;
  size_t from = 0; /* input not yet copied; it goes out unchanged */
#define FLUSH() (i > from ? tm_tb_put(out, t + from, i - from) : 0)
  for (size_t i = 0; i < n && rc == 0;) {
    unsigned char ch = (unsigned char)t[i];
    size_t l;
    /* a URL starts with h/H or w/W (https://, http://, www.) */
    if (((ch | 0x20) == 'h' || (ch | 0x20) == 'w') && at_token_start(t, i) && (l = url_len(t, n, i)) > 0) {
      if (c) c->urls++;
      if ((rc = FLUSH()) == 0) rc = put_mode(out, p->urls, t + i, l, "<URL>");
      i += l;
      from = i;
      continue;
    }
    if ((ch == '@' || ch == '#') && at_token_start(t, i) && (l = tag_len(t, n, i)) > 0) {
      if ((rc = FLUSH()) != 0) break;
      if (ch == '@') {
        if (c) c->mentions++;
        rc = put_mode(out, p->mentions, t + i, l, "@user");
      } else {
        if (c) c->hashtags++;
        if (p->hashtags == TM_SOCIAL_NORMALIZE) rc = tm_tb_put(out, t + i + 1, l - 1);
        else rc = put_mode(out, p->hashtags, t + i, l, "");
      }
      i += l;
      from = i;
      continue;
    }
    /* one character, with flood control: a run longer than flood_max keeps flood_max */
    size_t k, run = 1, j;
    int flood_checked;
    if (ch < 0x80) {
      k = 1;
      flood_checked = p->flood_max > 0 && !(ch >= '0' && ch <= '9') && ch != ' ' && ch != '\n';
      j = i + 1;
      if (flood_checked)
        while (j < n && (unsigned char)t[j] == ch) j++, run++;
    } else {
      uint32_t cp;
      k = (size_t)tm_utf8_next((const unsigned char *)t + i, n - i, &cp);
      flood_checked = p->flood_max > 0;
      j = i + k;
      if (flood_checked)
        while (j + k <= n && !memcmp(t + j, t + i, k)) j += k, run++;
    }
    if (flood_checked && run > (size_t)p->flood_max) {
      if (c) c->floods++;
      if ((rc = FLUSH()) != 0) break;
      for (size_t r = 0; r < (size_t)p->flood_max && rc == 0; r++) rc = tm_tb_put(out, t + i, k);
      from = j;
    }
    i = j;
  }
  if (rc == 0 && n > from) rc = tm_tb_put(out, t + from, n - from);
#undef FLUSH
  return rc < 0 ? rc : tm_tb_finish(out);
}
