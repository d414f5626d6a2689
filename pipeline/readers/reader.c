/* reader.c - opening inputs, detecting formats, and the JSONL, text and
 * HTML readers; see reader.h. WARC lives in warc.c, e-mail in email.c. */
#include "reader_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void tm_reader_options_default(tm_reader_options *o) {
  memset(o, 0, sizeof *o);
  o->format = TM_FORMAT_AUTO;
  o->source = TM_SOURCE_WEB;
  o->text_field = "text";
  o->field_kind = TM_FIELD_TEXT;
  o->max_record_bytes = 64ull << 20;
  o->max_decompressed_bytes = 256ull << 30;
  o->max_ratio = 1000;
  o->ratio_grace_bytes = 64ull << 20;
}

static const char *const format_names[] = {"auto", "jsonl", "text", "html", "email", "warc"};

int tm_reader_format_parse(const char *name) {
  for (int i = 0; i < 6; i++)
    if (!strcasecmp(name, format_names[i])) return i;
  if (!strcasecmp(name, "wet")) return TM_FORMAT_WARC;
  if (!strcasecmp(name, "txt")) return TM_FORMAT_TEXT;
  return -1;
}

const char *tm_reader_format_name(tm_reader_format f) {
  return (unsigned)f < 6 ? format_names[f] : "unknown";
}

int tm_field_kind_parse(const char *name) {
  if (!strcasecmp(name, "text")) return TM_FIELD_TEXT;
  if (!strcasecmp(name, "html")) return TM_FIELD_HTML;
  if (!strcasecmp(name, "email")) return TM_FIELD_EMAIL;
  return -1;
}

int tm_reader_open_fd(tm_reader **out, int fd, const char *name, const tm_reader_options *opts,
                      tm_error *err) {
  *out = NULL;
  tm_reader *r = calloc(1, sizeof *r);
  if (!r) {
    close(fd);
    return tm_err(err, TM_ENOMEM, "%s: out of memory", name);
  }
  if (opts) r->o = *opts;
  else tm_reader_options_default(&r->o);
  if (!r->o.text_field) r->o.text_field = "text";
  if (!r->o.max_record_bytes) r->o.max_record_bytes = 64ull << 20;
  r->name = strdup(name);
  r->text_field = strdup(r->o.text_field);
  r->o.text_field = r->text_field;
  r->fmt = r->o.format;
  r->mbox = -1;
  if (!r->name || !r->text_field) {
    close(fd);
    tm_reader_close(r);
    return tm_err(err, TM_ENOMEM, "%s: out of memory", name);
  }
  tm_bytesrc_limits lim = {r->o.max_decompressed_bytes, r->o.max_ratio, r->o.ratio_grace_bytes};
  int rc = tm_bytesrc_open(&r->src, fd, name, &lim, err);
  if (rc < 0) {
    tm_reader_close(r);
    return rc;
  }
  *out = r;
  return 0;
}

int tm_reader_open(tm_reader **out, const char *path, const tm_reader_options *opts,
                   tm_error *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tm_err_sys(err, "%s: open", path);
  return tm_reader_open_fd(out, fd, path, opts, err);
}

void tm_reader_close(tm_reader *r) {
  if (!r) return;
  tm_bytesrc_free(r->src);
  free(r->name);
  free(r->text_field);
  free(r->scratch);
  free(r->jbuf);
  free(r);
}

tm_reader_format tm_reader_format_of(const tm_reader *r) { return r->fmt; }

void tm_reader_get_stats(const tm_reader *r, tm_reader_stats *st) {
  *st = r->st;
  st->bytes_in = tm_bytesrc_compressed_offset(r->src);
  st->bytes_decoded = tm_bytesrc_offset(r->src);
}

int tm_reader_scratch_append(tm_reader *r, const char *s, size_t n) {
  if (r->scratch_len + n + 1 > r->scratch_cap) {
    size_t cap = r->scratch_cap ? r->scratch_cap : 4096;
    while (cap < r->scratch_len + n + 1) cap *= 2;
    char *p = realloc(r->scratch, cap);
    if (!p) return -TM_ENOMEM;
    r->scratch = p;
    r->scratch_cap = cap;
  }
  if (!s) return 0; /* room only */
  memcpy(r->scratch + r->scratch_len, s, n);
  r->scratch_len += n;
  r->scratch[r->scratch_len] = 0;
  return 0;
}

static int looks_like_email(const char *p, size_t n) {
  static const char *const hdr[] = {"From ",         "Return-Path:", "Received:",   "Delivered-To:",
                                    "Message-ID:",   "Message-Id:",  "MIME-Version:", "Date:",
                                    "From:",         "To:",          "Subject:",    "X-"};
  for (size_t i = 0; i < sizeof hdr / sizeof hdr[0]; i++) {
    size_t l = strlen(hdr[i]);
    if (n >= l && !strncmp(p, hdr[i], l)) return 1;
  }
  return 0;
}

static tm_reader_format detect(const char *p, size_t n) {
  size_t i = 0;
  if (n >= 3 && (unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
      (unsigned char)p[2] == 0xbf)
    i = 3;
  if (n - i >= 5 && !strncmp(p + i, "WARC/", 5)) return TM_FORMAT_WARC;
  if (looks_like_email(p + i, n - i)) return TM_FORMAT_EMAIL;
  while (i < n && isspace((unsigned char)p[i])) i++;
  if (i < n && p[i] == '{') return TM_FORMAT_JSONL;
  if (i < n && p[i] == '<') return TM_FORMAT_HTML;
  return TM_FORMAT_TEXT;
}

int tm_reader_failed_record(const tm_reader *r, const char **p, size_t *len) {
  if (!r->bad_rec) return 0;
  *p = r->bad_rec;
  *len = r->bad_len;
  return 1;
}

int tm_reader_next(tm_reader *r, tm_document *d, tm_error *err) {
  tm_document_reset(d);
  r->bad_rec = NULL;
  if (r->done) return 0;
  if (r->fmt == TM_FORMAT_AUTO) {
    const char *p;
    int n = tm_bytesrc_peek(r->src, &p, 4096, err);
    if (n < 0) {
      r->done = 1;
      r->st.errors++;
      return n;
    }
    r->fmt = detect(p, (size_t)n);
  }
  int rc;
  for (;;) {
    if (tm_document_set_origin(d, r->name) < 0) return tm_err(err, TM_ENOMEM, "out of memory");
    d->source = r->o.source;
    switch (r->fmt) {
    case TM_FORMAT_JSONL: rc = tm_read_jsonl(r, d, err); break;
    case TM_FORMAT_TEXT: rc = tm_read_text(r, d, err); break;
    case TM_FORMAT_HTML: rc = tm_read_html(r, d, err); break;
    case TM_FORMAT_EMAIL: rc = tm_read_email(r, d, err); break;
    case TM_FORMAT_WARC: rc = tm_read_warc(r, d, err); break;
    default: return tm_err(err, TM_EINVAL, "%s: unknown format", r->name);
    }
    if (rc == 2) { /* a record skipped by design: next */
      r->st.skipped++;
      tm_document_reset(d);
      continue;
    }
    break;
  }
  if (rc == 1) r->st.records++;
  else if (rc < 0) r->st.errors++;
  if (rc == 0 || tm_bytesrc_failed(r->src)) r->done = 1;
  return rc;
}

/* id "PATH:LINE" for records without their own id */
static int set_id_at(tm_document *d, const char *path, uint64_t line) {
  char *id;
  if (asprintf(&id, "%s:%llu", path, (unsigned long long)line) < 0) return -TM_ENOMEM;
  int rc = tm_document_set_id(d, id);
  free(id);
  return rc;
}

/* ---- JSONL --------------------------------------------------------------- */

static int is_blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isspace((unsigned char)s[i])) return 0;
  return 1;
}

static int set_meta_json(tm_document *d, const char *key, json_t *v) {
  if (json_is_string(v)) return tm_document_meta_set(d, key, json_string_value(v), 0);
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!s) return -TM_ENOMEM;
  int rc = tm_document_meta_set(d, key, s, 1);
  free(s);
  return rc;
}

/* Fill d from the text value according to the field kind; s == NULL: the
 * value is already d's text. */
static int set_field_text(tm_reader *r, tm_document *d, const char *s, size_t n, tm_error *err) {
  switch (r->o.field_kind) {
  case TM_FIELD_HTML:
    d->format = TM_DOC_HTML;
    return s ? tm_document_set_text(d, s, n) : 0;
  case TM_FIELD_EMAIL:
    if (r->o.defer_email) { /* decoded later by tm_document_decode_email */
      d->format = TM_DOC_EMAIL;
      return s ? tm_document_set_text(d, s, n) : 0;
    }
    return tm_email_extract(s, n, d, err);
  default: return s ? tm_document_set_text(d, s, n) : 0;
  }
}

int tm_read_jsonl(tm_reader *r, tm_document *d, tm_error *err) {
  const char *line;
  size_t len;
  for (;;) {
    uint64_t off = tm_bytesrc_offset(r->src);
    int rc = tm_bytesrc_getline(r->src, &line, &len, (size_t)r->o.max_record_bytes, err);
    if (rc <= 0 && rc != -TM_ELIMIT) return rc;
    r->line++;
    d->line = r->line;
    d->offset = off;
    if (rc == -TM_ELIMIT)
      return tm_err(err, TM_ELIMIT, "%s:%llu: line of %zu bytes exceeds max_record_bytes (%llu)",
                    r->name, (unsigned long long)r->line, len,
                    (unsigned long long)r->o.max_record_bytes);
    if (r->line == 1 && len >= 3 && !memcmp(line, "\xef\xbb\xbf", 3)) line += 3, len -= 3; /* BOM */
    if (is_blank(line, len)) continue;
    json_error_t je;
    r->bad_rec = line; /* cleared by the caller's next call; kept when this record fails */
    r->bad_len = len;
    /* the text field decoded apart, straight into the document (or the
     * scratch buffer the e-mail parser reads), jansson for the rest
     * (jsonl_fast.c) */
    size_t vs, ve, tlen = 0;
    json_t *obj = NULL;
    int to_doc = r->o.field_kind != TM_FIELD_EMAIL || r->o.defer_email;
    r->scratch_len = 0;
    if (to_doc ? tm_document_reserve(d, len) < 0 : tm_reader_scratch_append(r, NULL, len) < 0)
      return tm_err(err, TM_ENOMEM, "%s:%llu: out of memory", r->name, (unsigned long long)r->line);
    char *tdst = to_doc ? d->text : r->scratch;
    int fast = tm_jsonl_find_text(line, len, r->text_field, strlen(r->text_field), &vs, &ve, tdst, &tlen);
    if (fast) {
      size_t rest = vs + 2 + (len - ve);
      if (rest > r->jbuf_cap) {
        size_t cap = rest * 2 + 256;
        char *nb = realloc(r->jbuf, cap);
        if (!nb) return tm_err(err, TM_ENOMEM, "%s: out of memory", r->name);
        r->jbuf = nb;
        r->jbuf_cap = cap;
      }
      memcpy(r->jbuf, line, vs);
      memcpy(r->jbuf + vs, "\"\"", 2);
      memcpy(r->jbuf + vs + 2, line + ve, len - ve);
      obj = json_loadb(r->jbuf, rest, JSON_ALLOW_NUL, &je);
      if (!obj) fast = 0; /* jansson words the error on the whole line */
    }
    if (!obj) obj = json_loadb(line, len, JSON_ALLOW_NUL, &je);
    if (!obj)
      return tm_err(err, TM_EFORMAT, "%s:%llu: invalid JSON at column %d: %s", r->name,
                    (unsigned long long)r->line, je.column, je.text);
    if (!json_is_object(obj)) {
      json_decref(obj);
      return tm_err(err, TM_EFORMAT, "%s:%llu: a JSON line must be an object", r->name,
                    (unsigned long long)r->line);
    }
    json_t *txt = json_object_get(obj, r->text_field);
    if (!json_is_string(txt)) {
      json_decref(obj);
      return tm_err(err, TM_EFORMAT, "%s:%llu: field \"%s\" is %s", r->name,
                    (unsigned long long)r->line, r->text_field,
                    txt ? "not a string" : "missing");
    }
    rc = 0;
    const char *key;
    json_t *v;
    int have_id = 0;
    json_object_foreach(obj, key, v) {
      if (v == txt) continue;
      if (!strcmp(key, "id") && (json_is_string(v) || json_is_integer(v))) {
        char buf[32];
        const char *id = json_is_string(v) ? json_string_value(v) : buf;
        if (!json_is_string(v)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        if (*id) {
          rc |= tm_document_set_id(d, id);
          have_id = 1;
          continue;
        }
      }
      if ((!strcmp(key, "url") || !strcmp(key, "uri") || !strcmp(key, "link")) && !d->uri &&
          json_is_string(v)) {
        rc |= tm_document_set_uri(d, json_string_value(v));
        continue;
      }
      if (d->timestamp == TM_TIMESTAMP_UNKNOWN &&
          (!strcmp(key, "timestamp") || !strcmp(key, "created_at") || !strcmp(key, "date") ||
           !strcmp(key, "time"))) {
        if (json_is_string(v)) d->timestamp = tm_timestamp_parse(json_string_value(v));
        else if (json_is_integer(v)) d->timestamp = (int64_t)json_integer_value(v);
      }
      rc |= set_meta_json(d, key, v);
    }
    if (!have_id) rc |= set_id_at(d, r->name, r->line);
    if (rc < 0) {
      json_decref(obj);
      return tm_err(err, TM_ENOMEM, "%s:%llu: out of memory", r->name, (unsigned long long)r->line);
    }
    if (fast) {
      tdst[tlen] = 0;
      if (to_doc) d->len = tlen;
      rc = set_field_text(r, d, to_doc ? NULL : tdst, tlen, err);
    } else {
      rc = set_field_text(r, d, json_string_value(txt), json_string_length(txt), err);
    }
    json_decref(obj);
    if (rc < 0) return tm_err_prefix(err, "%s:%llu", r->name, (unsigned long long)r->line);
    r->bad_rec = NULL;
    return 1;
  }
}

/* ---- plain text and HTML files --------------------------------------------- */

static int whole_file(tm_reader *r, tm_document *d, tm_error *err) {
  const char *p;
  size_t len;
  if (r->line) return 0; /* one document per file, already returned */
  r->line = 1;
  int rc = tm_bytesrc_read_all(r->src, (size_t)r->o.max_record_bytes, &p, &len, err);
  if (rc <= 0) return rc;
  if (tm_document_set_text(d, p, len) < 0 || tm_document_set_id(d, r->name) < 0 ||
      tm_document_set_uri(d, r->name) < 0)
    return tm_err(err, TM_ENOMEM, "%s: out of memory", r->name);
  return 1;
}

int tm_read_html(tm_reader *r, tm_document *d, tm_error *err) {
  int rc = whole_file(r, d, err);
  if (rc == 1) d->format = TM_DOC_HTML;
  return rc;
}

int tm_read_text(tm_reader *r, tm_document *d, tm_error *err) {
  if (!r->o.text_split_blank_lines) return whole_file(r, d, err);
  const char *line;
  size_t len;
  uint64_t first = 0, off = 0;
  int overflow = 0;
  r->scratch_len = 0;
  for (;;) {
    uint64_t loff = tm_bytesrc_offset(r->src);
    int rc = tm_bytesrc_getline(r->src, &line, &len, (size_t)r->o.max_record_bytes, err);
    if (rc < 0 && rc != -TM_ELIMIT) return rc;
    if (rc == 0) break;
    r->line++;
    if (rc == -TM_ELIMIT) {
      overflow = 1;
      if (!first) first = r->line, off = loff;
      continue;
    }
    if (is_blank(line, len)) {
      if (first) break;
      continue;
    }
    if (!first) first = r->line, off = loff;
    if (overflow || r->scratch_len + len + 1 > r->o.max_record_bytes) {
      overflow = 1;
      continue;
    }
    if ((r->scratch_len && tm_reader_scratch_append(r, "\n", 1) < 0) ||
        tm_reader_scratch_append(r, line, len) < 0)
      return tm_err(err, TM_ENOMEM, "%s: out of memory", r->name);
  }
  if (!first) return 0;
  d->line = first;
  d->offset = off;
  if (overflow)
    return tm_err(err, TM_ELIMIT, "%s:%llu: text block exceeds max_record_bytes (%llu)", r->name,
                  (unsigned long long)first, (unsigned long long)r->o.max_record_bytes);
  if (tm_document_set_text(d, r->scratch, r->scratch_len) < 0 ||
      set_id_at(d, r->name, first) < 0 || tm_document_set_uri(d, r->name) < 0)
    return tm_err(err, TM_ENOMEM, "%s: out of memory", r->name);
  return 1;
}
