/* email.c - RFC 822/MIME messages through GMime; see reader.h.
 *
 * GMime decodes transfer encodings (base64, quoted-printable) and converts
 * each text part's declared charset to UTF-8. We keep the text/plain parts
 * that are not attachments, joined by blank lines; a message with none
 * falls back to its text/html parts (format HTML, extracted by the clean
 * stage). Headers are dropped; Subject is kept as metadata and Date as the
 * timestamp.
 */
#include <gmime/gmime.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "reader_int.h"

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;
static void gmime_init(void) { g_mime_init(); }

typedef struct {
  GString *plain, *html;
} collect;

static void visit(GMimeObject *parent, GMimeObject *part, gpointer user) {
  (void)parent;
  collect *c = user;
  if (!GMIME_IS_TEXT_PART(part)) return;
  const char *disp = g_mime_object_get_disposition(part);
  if (disp && !strcasecmp(disp, "attachment")) return;
  GMimeContentType *ct = g_mime_object_get_content_type(part);
  int html = g_mime_content_type_is_type(ct, "text", "html");
  if (!html && !g_mime_content_type_is_type(ct, "text", "plain")) return;
  char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
  if (!t) return;
  GString *dst = html ? c->html : c->plain;
  if (dst->len) g_string_append(dst, "\n\n");
  g_string_append(dst, t);
  g_free(t);
}

int tm_email_extract(const char *buf, size_t len, tm_document *d, tm_error *err) {
  pthread_once(&gmime_once, gmime_init);
  GMimeStream *s = g_mime_stream_mem_new_with_buffer(buf, len);
  if (!s) return tm_err(err, TM_ENOMEM, "out of memory");
  GMimeParser *p = g_mime_parser_new_with_stream(s);
  g_object_unref(s);
  GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
  g_object_unref(p);
  if (!m) return tm_err(err, TM_EFORMAT, "not an RFC 822 message");
  collect c = {g_string_new(NULL), g_string_new(NULL)};
  g_mime_message_foreach(m, visit, &c);
  /* a single-part message whose body is text */
  GMimeObject *body = g_mime_message_get_mime_part(m);
  if (body && GMIME_IS_TEXT_PART(body) && !c.plain->len && !c.html->len) visit(NULL, body, &c);
  int rc = 0;
  if (c.plain->len) rc = tm_document_set_text(d, c.plain->str, c.plain->len);
  else {
    rc = tm_document_set_text(d, c.html->str, c.html->len);
    if (c.html->len) d->format = TM_DOC_HTML;
  }
  const char *subj = g_mime_message_get_subject(m);
  if (!rc && subj) rc = tm_document_meta_set(d, "subject", subj, 0);
  GDateTime *dt = g_mime_message_get_date(m);
  if (dt && d->timestamp == TM_TIMESTAMP_UNKNOWN) d->timestamp = g_date_time_to_unix(dt);
  g_string_free(c.plain, TRUE);
  g_string_free(c.html, TRUE);
  g_object_unref(m);
  return rc < 0 ? tm_err(err, TM_ENOMEM, "out of memory") : 0;
}

int tm_reader_decode_email(tm_document *d, tm_error *err) {
  if (d->format != TM_DOC_EMAIL) return 0;
  d->format = TM_DOC_TEXT; /* as a freshly read document; HTML if that is all there is */
  /* GMime copies the message into its own stream before the text is replaced */
  int rc = tm_email_extract(d->text ? d->text : "", d->len, d, err);
  if (rc < 0)
    return tm_err_prefix(err, "%s:%llu", d->origin ? d->origin : "?", (unsigned long long)d->line);
  return 0;
}

/* One message per call: a whole file, or the next message of an mbox
 * ("From " separator lines). */
int tm_read_email(tm_reader *r, tm_document *d, tm_error *err) {
  const char *p;
  size_t len;
  int rc;
  if (r->mbox < 0) {
    int n = tm_bytesrc_peek(r->src, &p, 5, err);
    if (n < 0) return n;
    r->mbox = n == 5 && !strncmp(p, "From ", 5);
  }
  uint64_t first = r->line + 1, off = tm_bytesrc_offset(r->src);
  if (!r->mbox) {
    if (r->line) return 0;
    r->line = 1;
    rc = tm_bytesrc_read_all(r->src, (size_t)r->o.max_record_bytes, &p, &len, err);
    if (rc <= 0) return rc;
  } else {
    /* gather lines up to the next "From " line (peeked, not consumed) */
    r->scratch_len = 0;
    int overflow = 0, any = 0;
    for (;;) {
      const char *q;
      int n = tm_bytesrc_peek(r->src, &q, 5, err);
      if (n < 0) return n;
      if (n == 0) break;
      if (any && n == 5 && !strncmp(q, "From ", 5)) break;
      rc = tm_bytesrc_getline(r->src, &p, &len, (size_t)r->o.max_record_bytes, err);
      if (rc == 0) break;
      if (rc < 0 && rc != -TM_ELIMIT) return rc;
      r->line++;
      if (!any) { /* the separator line itself is not part of the message */
        any = 1;
        continue;
      }
      if (rc == -TM_ELIMIT || r->scratch_len + len + 1 > r->o.max_record_bytes) {
        overflow = 1;
        continue;
      }
      if (!overflow && (tm_reader_scratch_append(r, p, len) < 0 ||
                        tm_reader_scratch_append(r, "\n", 1) < 0))
        return tm_err(err, TM_ENOMEM, "%s: out of memory", r->name);
    }
    if (!any) return 0;
    if (overflow)
      return tm_err(err, TM_ELIMIT, "%s:%llu: message exceeds max_record_bytes (%llu)", r->name,
                    (unsigned long long)first, (unsigned long long)r->o.max_record_bytes);
    p = r->scratch;
    len = r->scratch_len;
  }
  d->line = first;
  d->offset = off;
  rc = tm_email_extract(p, len, d, err);
  if (rc < 0) return tm_err_prefix(err, "%s:%llu", r->name, (unsigned long long)first);
  char *id;
  if (r->mbox ? asprintf(&id, "%s:%llu", r->name, (unsigned long long)first) < 0
              : (id = strdup(r->name)) == NULL)
    return tm_err(err, TM_ENOMEM, "out of memory");
  rc = tm_document_set_id(d, id);
  free(id);
  if (rc < 0) return tm_err(err, TM_ENOMEM, "out of memory");
  return 1;
}
