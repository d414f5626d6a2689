/* warc.c - the WARC/WET record reader (Common Crawl); see reader.h.
 *
 * A record is "WARC/1.x" CRLF, header lines, a blank line, Content-Length
 * bytes of block, then CRLF CRLF. Only the header is held as lines; the
 * block is read in one piece of at most max_record_bytes or skipped while
 * streaming. A record with a bad header is an error, and the reader then
 * scans forward for the next line that starts with "WARC/".
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reader_int.h"

#define WARC_MAX_HEADER (64u * 1024u)

typedef struct {
  char type[32];
  char content_type[128];
  char *uri, *record_id, *date;
  long long length;
} warc_header;

static void header_free(warc_header *h) {
  free(h->uri);
  free(h->record_id);
  free(h->date);
}

static char *trim_dup(const char *s, size_t n) {
  while (n && isspace((unsigned char)*s)) s++, n--;
  while (n && isspace((unsigned char)s[n - 1])) n--;
  /* not strndup: the line is not NUL-terminated, and ASan's
   * strict_string_checks (CI) then reports strndup reading past it */
  char *t = malloc(n + 1);
  if (t) memcpy(t, s, n), t[n] = 0;
  return t;
}

static void copy_field(char *dst, size_t cap, const char *s, size_t n) {
  char *t = trim_dup(s, n);
  snprintf(dst, cap, "%s", t ? t : "");
  free(t);
}

/* Does the HTTP/WARC content type name HTML? */
static int is_html_type(const char *ct) {
  return strcasestr(ct, "text/html") || strcasestr(ct, "application/xhtml");
}

/* Split an HTTP response block into headers and payload; returns the
 * payload offset and copies the Content-Type, or -1 if there is no header
 * end. */
static long http_payload(const char *p, size_t n, char *ct, size_t ctcap) {
  ct[0] = 0;
  size_t i = 0;
  while (i < n) {
    const char *nl = memchr(p + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - p) : n;
    size_t l = end - i;
    if (l && p[end - 1] == '\r') l--;
    if (l == 0) return nl ? (long)(end + 1) : (long)n;
    if (l > 13 && !strncasecmp(p + i, "Content-Type:", 13)) copy_field(ct, ctcap, p + i + 13, l - 13);
    i = end + 1;
  }
  return -1;
}

int tm_read_warc(tm_reader *r, tm_document *d, tm_error *err) {
  const char *line;
  size_t len;
  int rc;
  for (;;) {
    /* find the version line */
    uint64_t off = tm_bytesrc_offset(r->src);
    rc = tm_bytesrc_getline(r->src, &line, &len, WARC_MAX_HEADER, err);
    if (rc == 0) return 0;
    if (rc < 0 && rc != -TM_ELIMIT) return rc;
    if (rc == 1 && (len == 0 || (len == 1 && line[0] == '\r'))) continue;
    if (rc == 1 && len >= 5 && !strncmp(line, "WARC/", 5)) {
      r->warc_resync = 0;
    } else {
      if (r->warc_resync) continue;
      r->warc_resync = 1;
      return tm_err(err, TM_EFORMAT,
                    "%s: offset %llu: expected a WARC record (\"WARC/1.x\"), skipping to the next one",
                    r->name, (unsigned long long)off);
    }
    warc_header h;
    memset(&h, 0, sizeof h);
    h.length = -1;
    size_t hbytes = 0;
    int bad = 0;
    for (;;) {
      rc = tm_bytesrc_getline(r->src, &line, &len, WARC_MAX_HEADER, err);
      if (rc == 0) {
        header_free(&h);
        return tm_err(err, TM_EFORMAT, "%s: offset %llu: WARC header truncated at end of input",
                      r->name, (unsigned long long)off);
      }
      if (rc < 0 && rc != -TM_ELIMIT) {
        header_free(&h);
        return rc;
      }
      hbytes += len + 1;
      if (rc == -TM_ELIMIT || hbytes > WARC_MAX_HEADER) {
        bad = 1;
        continue;
      }
      if (len && line[len - 1] == '\r') len--;
      if (len == 0) break;
      const char *colon = memchr(line, ':', len);
      if (!colon) {
        bad = 1;
        continue;
      }
      size_t kl = (size_t)(colon - line), vl = len - kl - 1;
      const char *v = colon + 1;
      if (kl == 9 && !strncasecmp(line, "WARC-Type", 9)) copy_field(h.type, sizeof h.type, v, vl);
      else if (kl == 12 && !strncasecmp(line, "Content-Type", 12))
        copy_field(h.content_type, sizeof h.content_type, v, vl);
      else if (kl == 15 && !strncasecmp(line, "WARC-Target-URI", 15)) free(h.uri), h.uri = trim_dup(v, vl);
      else if (kl == 14 && !strncasecmp(line, "WARC-Record-ID", 14)) free(h.record_id), h.record_id = trim_dup(v, vl);
      else if (kl == 9 && !strncasecmp(line, "WARC-Date", 9)) free(h.date), h.date = trim_dup(v, vl);
      else if (kl == 14 && !strncasecmp(line, "Content-Length", 14)) {
        char *t = trim_dup(v, vl), *end;
        h.length = t ? strtoll(t, &end, 10) : -1;
        if (!t || end == t || *end || h.length < 0) h.length = -1;
        free(t);
      }
    }
    d->offset = off;
    if (bad || h.length < 0) {
      header_free(&h);
      r->warc_resync = 1;
      return tm_err(err, TM_EFORMAT, "%s: offset %llu: bad WARC header (%s)", r->name,
                    (unsigned long long)off, bad ? "malformed line" : "no valid Content-Length");
    }
    int wanted = !strcasecmp(h.type, "response") || !strcasecmp(h.type, "conversion") ||
                 !strcasecmp(h.type, "resource");
    if (!wanted || (uint64_t)h.length > r->o.max_record_bytes) {
      rc = tm_bytesrc_skip(r->src, (uint64_t)h.length, err);
      header_free(&h);
      if (rc < 0) return rc;
      if (rc == 0)
        return tm_err(err, TM_EFORMAT, "%s: offset %llu: WARC record truncated at end of input",
                      r->name, (unsigned long long)off);
      if (!wanted) return 2;
      return tm_err(err, TM_ELIMIT, "%s: offset %llu: WARC record of %lld bytes exceeds max_record_bytes (%llu)",
                    r->name, (unsigned long long)off, h.length,
                    (unsigned long long)r->o.max_record_bytes);
    }
    const char *body = "";
    if (h.length > 0) {
      rc = tm_bytesrc_read(r->src, (size_t)h.length, &body, err);
      if (rc <= 0) {
        header_free(&h);
        if (rc < 0) return rc;
        r->done = 1;
        return tm_err(err, TM_EFORMAT, "%s: offset %llu: WARC record truncated (Content-Length %lld)",
                      r->name, (unsigned long long)off, h.length);
      }
    }
    size_t blen = (size_t)h.length;
    char ct[128];
    snprintf(ct, sizeof ct, "%s", h.content_type);
    if (!strcasecmp(h.type, "response") && strcasestr(h.content_type, "application/http")) {
      long p = http_payload(body, blen, ct, sizeof ct);
      if (p < 0) {
        header_free(&h);
        return tm_err(err, TM_EFORMAT, "%s: offset %llu: WARC response without an HTTP header end",
                      r->name, (unsigned long long)off);
      }
      body += p;
      blen -= (size_t)p;
    }
    if (!strcasecmp(h.type, "conversion")) d->format = TM_DOC_TEXT;
    else if (is_html_type(ct)) d->format = TM_DOC_HTML;
    else if (strcasestr(ct, "text/plain")) d->format = TM_DOC_TEXT;
    else { /* images, PDFs, ...: not text */
      header_free(&h);
      return 2;
    }
    rc = tm_document_set_text(d, body, blen);
    if (!rc && h.record_id) rc = tm_document_set_id(d, h.record_id);
    else if (!rc) {
      char *id;
      if (asprintf(&id, "%s@%llu", r->name, (unsigned long long)off) < 0) {
        rc = -TM_ENOMEM;
      } else {
        rc = tm_document_set_id(d, id);
        free(id);
      }
    }
    if (!rc && h.uri) rc = tm_document_set_uri(d, h.uri);
    if (!rc) rc = tm_document_meta_set(d, "warc_type", h.type, 0);
    if (!rc && ct[0]) rc = tm_document_meta_set(d, "content_type", ct, 0); /* its charset, for the clean stage */
    if (h.date) d->timestamp = tm_timestamp_parse(h.date);
    header_free(&h);
    if (rc < 0) return tm_err(err, TM_ENOMEM, "%s: out of memory", r->name);
    return 1;
  }
}
