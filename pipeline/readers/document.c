/* document.c - tm_document buffers and metadata; see document.h. */
#include "document.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void tm_document_init(tm_document *d) {
  memset(d, 0, sizeof *d);
  d->timestamp = TM_TIMESTAMP_UNKNOWN;
}

void tm_document_reset(tm_document *d) {
  if (d->id) d->id[0] = 0;
  free(d->uri);
  d->uri = NULL;
  d->source = TM_SOURCE_WEB;
  d->format = TM_DOC_TEXT;
  d->timestamp = TM_TIMESTAMP_UNKNOWN;
  d->lang[0] = 0;
  d->lang_conf = 0;
  d->len = 0;
  if (d->text) d->text[0] = 0;
  for (size_t i = 0; i < d->n_meta; i++) {
    free(d->meta[i].key);
    free(d->meta[i].value);
  }
  d->n_meta = 0;
  d->line = 0;
  d->offset = 0;
}

void tm_document_free(tm_document *d) {
  tm_document_reset(d);
  free(d->id);
  free(d->text);
  free(d->meta);
  free(d->origin);
  memset(d, 0, sizeof *d);
}

int tm_document_reserve(tm_document *d, size_t n) {
  if (n + 1 <= d->cap) return 0;
  size_t cap = d->cap ? d->cap : 256;
  while (cap < n + 1) cap *= 2;
  char *t = realloc(d->text, cap);
  if (!t) return -TM_ENOMEM;
  d->text = t;
  d->cap = cap;
  return 0;
}

int tm_document_set_text(tm_document *d, const char *s, size_t n) {
  if (tm_document_reserve(d, n) < 0) return -TM_ENOMEM;
  memmove(d->text, s, n);
  d->text[n] = 0;
  d->len = n;
  return 0;
}

int tm_document_append_text(tm_document *d, const char *s, size_t n) {
  if (tm_document_reserve(d, d->len + n) < 0) return -TM_ENOMEM;
  memcpy(d->text + d->len, s, n);
  d->len += n;
  d->text[d->len] = 0;
  return 0;
}

void tm_document_swap_text(tm_document *d, char **buf, size_t *bufcap, size_t n) {
  char *t = d->text;
  size_t c = d->cap;
  d->text = *buf;
  d->cap = *bufcap;
  d->len = n;
  d->text[n] = 0;
  *buf = t;
  *bufcap = c;
}

static int set_str(char **dst, const char *s) {
  if (!s) {
    free(*dst);
    *dst = NULL;
    return 0;
  }
  size_t n = strlen(s);
  char *p = realloc(*dst, n + 1);
  if (!p) return -TM_ENOMEM;
  memcpy(p, s, n + 1);
  *dst = p;
  return 0;
}

int tm_document_set_id(tm_document *d, const char *id) { return set_str(&d->id, id ? id : ""); }
int tm_document_set_uri(tm_document *d, const char *uri) { return set_str(&d->uri, uri); }
int tm_document_set_origin(tm_document *d, const char *o) { return set_str(&d->origin, o); }

int tm_document_meta_set(tm_document *d, const char *key, const char *value, int is_json) {
  for (size_t i = 0; i < d->n_meta; i++)
    if (!strcmp(d->meta[i].key, key)) {
      if (set_str(&d->meta[i].value, value) < 0) return -TM_ENOMEM;
      d->meta[i].is_json = is_json;
      return 0;
    }
  if (d->n_meta == d->cap_meta) {
    size_t cap = d->cap_meta ? d->cap_meta * 2 : 8;
    tm_doc_meta *m = realloc(d->meta, cap * sizeof *m);
    if (!m) return -TM_ENOMEM;
    d->meta = m;
    d->cap_meta = cap;
  }
  tm_doc_meta *m = &d->meta[d->n_meta];
  m->key = strdup(key);
  m->value = strdup(value);
  m->is_json = is_json;
  if (!m->key || !m->value) {
    free(m->key);
    free(m->value);
    return -TM_ENOMEM;
  }
  d->n_meta++;
  return 0;
}

const char *tm_document_meta_get(const tm_document *d, const char *key) {
  for (size_t i = 0; i < d->n_meta; i++)
    if (!strcmp(d->meta[i].key, key)) return d->meta[i].value;
  return NULL;
}

static const char *const source_names[] = {"web", "book", "social"};

const char *tm_source_name(tm_source_kind k) {
  return (unsigned)k < 3 ? source_names[k] : "unknown";
}

int tm_source_parse(const char *name) {
  for (int i = 0; i < 3; i++)
    if (!strcasecmp(name, source_names[i])) return i;
  if (!strcasecmp(name, "books")) return TM_SOURCE_BOOK;
  return -1;
}

/* Parse "+hhmm", "-hh:mm" or "Z" at s into seconds east of UTC. */
static int parse_zone(const char *s, long *off) {
  while (*s == ' ') s++;
  if (*s == 0 || *s == 'Z' || *s == 'z' || !strncmp(s, "GMT", 3) || !strncmp(s, "UTC", 3)) {
    *off = 0;
    return 0;
  }
  if (*s != '+' && *s != '-') return *s == '(' ? (*off = 0, 0) : -1;
  int sign = *s == '-' ? -1 : 1;
  s++;
  if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1])) return -1;
  long h = (s[0] - '0') * 10 + (s[1] - '0');
  s += 2;
  if (*s == ':') s++;
  long m = 0;
  if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1])) m = (s[0] - '0') * 10 + (s[1] - '0');
  *off = sign * (h * 3600 + m * 60);
  return 0;
}

int64_t tm_timestamp_parse(const char *s) {
  if (!s) return TM_TIMESTAMP_UNKNOWN;
  while (isspace((unsigned char)*s)) s++;
  if (!*s) return TM_TIMESTAMP_UNKNOWN;
  /* unix seconds */
  char *end;
  long long v = strtoll(s, &end, 10);
  if (end != s && (*end == 0 || (*end == '.' && isdigit((unsigned char)end[1]))) &&
      end - s >= 9)
    return (int64_t)v;
  struct tm tm;
  static const char *const fmts[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                                     "%a, %d %b %Y %H:%M:%S", "%d %b %Y %H:%M:%S",
                                     "%a %b %d %H:%M:%S", "%Y-%m-%d"};
  for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, fmts[i], &tm);
    if (!p) continue;
    long off = 0;
    if (i == 4) { /* Twitter: "Wed Oct 10 20:19:24 +0000 2018" */
      while (*p == ' ') p++;
      if (parse_zone(p, &off) < 0) continue;
      while (*p && *p != ' ') p++;
      if (!strptime(p, " %Y", &tm)) continue;
    } else {
      if (*p == '.')
        for (p++; isdigit((unsigned char)*p);) p++;
      if (parse_zone(p, &off) < 0) continue;
    }
    time_t t = timegm(&tm);
    return (int64_t)t - off;
  }
  return TM_TIMESTAMP_UNKNOWN;
}
