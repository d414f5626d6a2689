/* test_readers.c - every reader format, compression, limits and the
 * recovery after bad records. Fixtures are written to a temporary folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "readers/reader.h"
#include "tm_test.h"

static char dir[256];

static const char *path_of(const char *name) {
  static char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return p;
}

static void write_file(const char *name, const void *data, size_t n) {
  FILE *f = fopen(path_of(name), "wb");
  fwrite(data, 1, n, f);
  fclose(f);
}

static void write_gz(const char *name, const char *data, size_t n, size_t truncate_to) {
  gzFile g = gzopen(path_of(name), "wb");
  gzwrite(g, data, (unsigned)n);
  gzclose(g);
  if (truncate_to) truncate(path_of(name), (off_t)truncate_to);
}

static size_t zst_bytes(const char *data, size_t n, char **out) {
  size_t cap = ZSTD_compressBound(n);
  *out = malloc(cap);
  ZSTD_CCtx *c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1); /* as the zstd CLI writes */
  size_t r = ZSTD_compress2(c, *out, cap, data, n);
  ZSTD_freeCCtx(c);
  return r;
}

typedef struct {
  int docs, errors;
  char ids[16][128];
  char texts[16][256];
  char errs[16][TM_ERROR_MSG_MAX];
} result;

static void run(const char *name, const tm_reader_options *o, result *res) {
  memset(res, 0, sizeof *res);
  tm_reader *r;
  tm_error err = {0};
  int rc = tm_reader_open(&r, path_of(name), o, &err);
  CHECKF(rc == 0, "%s", err.msg);
  if (rc) return;
  tm_document d;
  tm_document_init(&d);
  int guard = 0;
  while ((rc = tm_reader_next(r, &d, &err)) != 0 && guard++ < 100000) {
    if (rc < 0) {
      if (res->errors < 16) snprintf(res->errs[res->errors], TM_ERROR_MSG_MAX, "%s", err.msg);
      res->errors++;
      continue;
    }
    if (res->docs < 16) {
      snprintf(res->ids[res->docs], 128, "%s", d.id);
      snprintf(res->texts[res->docs], 256, "%s", d.text);
    }
    res->docs++;
  }
  tm_document_free(&d);
  tm_reader_close(r);
}

static void test_jsonl(void) {
  const char *data =
      "{\"id\":\"a1\",\"text\":\"hello world\",\"url\":\"http://x/\",\"created_at\":\"2021-01-01T00:00:10Z\",\"n\":3}\n"
      "{\"text\":\"no id here\"}\n"
      "{\"id\":\"bad\",\"text\":\"unterminated}\n"
      "\n"
      "[1,2]\n"
      "{\"id\":7,\"body\":\"wrong field\"}\n"
      "{\"id\":8,\"text\":\"last one\"}";
  write_file("a.jsonl", data, strlen(data));
  result res;
  run("a.jsonl", NULL, &res);
  CHECKF(res.docs == 3, "docs=%d", res.docs);
  CHECKF(res.errors == 3, "errors=%d", res.errors);
  CHECK(!strcmp(res.ids[0], "a1"));
  CHECK(!strcmp(res.texts[0], "hello world"));
  char want[600];
  snprintf(want, sizeof want, "%s:2", path_of("a.jsonl"));
  CHECKF(!strcmp(res.ids[1], want), "id=%s", res.ids[1]);
  CHECK(!strcmp(res.ids[2], "8"));
  CHECKF(strstr(res.errs[0], "a.jsonl:3: invalid JSON") != NULL, "%s", res.errs[0]);
  CHECKF(strstr(res.errs[1], "a.jsonl:5:") != NULL, "%s", res.errs[1]);
  CHECKF(strstr(res.errs[2], "a.jsonl:6: field \"text\" is missing") != NULL, "%s", res.errs[2]);

  /* metadata, uri, timestamp */
  tm_reader *r;
  tm_error err = {0};
  tm_document d;
  tm_document_init(&d);
  CHECK(tm_reader_open(&r, path_of("a.jsonl"), NULL, &err) == 0);
  CHECK(tm_reader_next(r, &d, &err) == 1);
  CHECK(d.uri && !strcmp(d.uri, "http://x/"));
  CHECKF(d.timestamp == 1609459210, "ts=%lld", (long long)d.timestamp);
  CHECK(tm_document_meta_get(&d, "n") && !strcmp(tm_document_meta_get(&d, "n"), "3"));
  CHECK(tm_document_meta_get(&d, "created_at") != NULL);
  CHECK(tm_reader_format_of(r) == TM_FORMAT_JSONL);
  tm_reader_close(r);

  /* a UTF-8 BOM before the first line and CRLF line ends are fine */
  const char *bom = "\xef\xbb\xbf{\"id\":\"b\",\"text\":\"x\"}\r\n{\"id\":\"c\",\"text\":\"y\"}\r\n";
  write_file("bom.jsonl", bom, strlen(bom));
  result rb;
  run("bom.jsonl", NULL, &rb);
  CHECKF(rb.docs == 2 && rb.errors == 0, "bom: docs=%d errors=%d %s", rb.docs, rb.errors, rb.errs[0]);

  /* configurable field holding HTML */
  const char *h = "{\"url\":\"u\",\"html\":\"<p>Hi &amp; bye</p>\"}\n";
  write_file("h.jsonl", h, strlen(h));
  tm_reader_options o;
  tm_reader_options_default(&o);
  o.text_field = "html";
  o.field_kind = TM_FIELD_HTML;
  CHECK(tm_reader_open(&r, path_of("h.jsonl"), &o, &err) == 0);
  CHECK(tm_reader_next(r, &d, &err) == 1);
  CHECK(d.format == TM_DOC_HTML);
  CHECK(!strcmp(d.text, "<p>Hi &amp; bye</p>"));
  CHECK(tm_reader_next(r, &d, &err) == 0);
  tm_reader_close(r);
  tm_document_free(&d);
}

static void test_line_limit(void) {
  size_t big = 5000;
  char *data = malloc(big + 200);
  int n = sprintf(data, "{\"text\":\"short\"}\n{\"text\":\"");
  memset(data + n, 'x', big);
  n += (int)big;
  n += sprintf(data + n, "\"}\n{\"text\":\"after\"}\n");
  write_file("big.jsonl", data, (size_t)n);
  tm_reader_options o;
  tm_reader_options_default(&o);
  o.max_record_bytes = 1000;
  result res;
  run("big.jsonl", &o, &res);
  CHECKF(res.docs == 2 && res.errors == 1, "docs=%d errors=%d", res.docs, res.errors);
  CHECK(!strcmp(res.texts[1], "after"));
  CHECKF(strstr(res.errs[0], "big.jsonl:2: line of") != NULL, "%s", res.errs[0]);
  /* a line longer than the window (256 KiB) but under the limit is whole */
  size_t huge = 600 * 1024;
  char *d2 = malloc(huge + 100);
  n = sprintf(d2, "{\"text\":\"");
  memset(d2 + n, 'y', huge);
  n += (int)huge;
  n += sprintf(d2 + n, "\"}\n");
  write_file("huge.jsonl", d2, (size_t)n);
  tm_reader *r;
  tm_error err = {0};
  tm_document d;
  tm_document_init(&d);
  CHECK(tm_reader_open(&r, path_of("huge.jsonl"), NULL, &err) == 0);
  CHECK(tm_reader_next(r, &d, &err) == 1);
  CHECK(d.len == huge);
  tm_reader_close(r);
  tm_document_free(&d);
  free(d2);
  free(data);
}

static char *many_lines(int n, size_t *len) {
  char *s = malloc((size_t)n * 40 + 1);
  size_t o = 0;
  for (int i = 0; i < n; i++) o += (size_t)sprintf(s + o, "{\"id\":\"d%d\",\"text\":\"line %d\"}\n", i, i);
  *len = o;
  return s;
}

static void test_compressed(void) {
  size_t n;
  char *s = many_lines(20000, &n);
  write_gz("c.gz.bin", s, n, 0); /* names do not matter: magic bytes do */
  result res;
  run("c.gz.bin", NULL, &res);
  CHECKF(res.docs == 20000 && res.errors == 0, "gz docs=%d errors=%d", res.docs, res.errors);
  char *z;
  size_t zn = zst_bytes(s, n, &z);
  write_file("c.zst.bin", z, zn);
  run("c.zst.bin", NULL, &res);
  CHECKF(res.docs == 20000 && res.errors == 0, "zst docs=%d errors=%d", res.docs, res.errors);
  /* two zstd frames back to back */
  char *zz = malloc(2 * zn);
  memcpy(zz, z, zn);
  memcpy(zz + zn, z, zn);
  write_file("c2.zst", zz, 2 * zn);
  run("c2.zst", NULL, &res);
  CHECKF(res.docs == 40000, "2 frames docs=%d", res.docs);
  /* truncated: the documents before the cut come out, then one error */
  write_file("t.zst", z, zn / 2);
  run("t.zst", NULL, &res);
  CHECKF(res.docs > 1000 && res.docs < 20000, "trunc zst docs=%d", res.docs);
  CHECKF(res.errors == 1 && strstr(res.errs[0], "truncated zstd stream"), "%d %s", res.errors,
         res.errs[0]);
  write_gz("t.gz", s, n, 0);
  FILE *f = fopen(path_of("t.gz"), "rb");
  fseek(f, 0, SEEK_END);
  long gl = ftell(f);
  fclose(f);
  truncate(path_of("t.gz"), gl / 2);
  run("t.gz", NULL, &res);
  CHECKF(res.docs > 1000 && res.docs < 20000, "trunc gz docs=%d", res.docs);
  CHECKF(res.errors == 1 && strstr(res.errs[0], "truncated gzip stream"), "%d %s", res.errors,
         res.errs[0]);
  /* corrupt bytes in the middle of a zstd frame */
  memcpy(zz, z, zn);
  for (size_t i = zn / 2; i < zn / 2 + 64; i++) zz[i] ^= 0x5a;
  write_file("bad.zst", zz, zn);
  run("bad.zst", NULL, &res);
  CHECKF(res.errors == 1 && strstr(res.errs[0], "zstd"), "%d %s", res.errors, res.errs[0]);
  /* a bomb: 64 MiB of zeros compresses ~ 10000x */
  size_t bn = 64u << 20;
  char *zeros = calloc(1, bn);
  char *bz;
  size_t bzn = zst_bytes(zeros, bn, &bz);
  write_file("bomb.zst", bz, bzn);
  tm_reader_options o;
  tm_reader_options_default(&o);
  o.format = TM_FORMAT_TEXT;
  o.ratio_grace_bytes = 1u << 20;
  o.max_ratio = 100;
  run("bomb.zst", &o, &res);
  CHECKF(res.docs == 0 && res.errors == 1 && strstr(res.errs[0], "bomb"), "%d %d %s", res.docs,
         res.errors, res.errs[0]);
  o.max_ratio = 0;
  o.max_decompressed_bytes = 8u << 20;
  run("bomb.zst", &o, &res);
  CHECKF(res.docs == 0 && res.errors == 1 && strstr(res.errs[0], "limit"), "%s", res.errs[0]);
  free(zeros);
  free(bz);
  free(zz);
  free(z);
  free(s);
}

static void test_text(void) {
  const char *t = "First para line one.\nline two.\n\n\n  \nSecond para.\n\nThird.";
  write_file("t.txt", t, strlen(t));
  result res;
  run("t.txt", NULL, &res);
  CHECK(res.docs == 1 && !strcmp(res.texts[0], t));
  tm_reader_options o;
  tm_reader_options_default(&o);
  o.text_split_blank_lines = 1;
  run("t.txt", &o, &res);
  CHECKF(res.docs == 3, "blocks=%d", res.docs);
  CHECK(!strcmp(res.texts[0], "First para line one.\nline two."));
  CHECK(!strcmp(res.texts[2], "Third."));
  char want[600];
  snprintf(want, sizeof want, "%s:6", path_of("t.txt"));
  CHECKF(!strcmp(res.ids[1], want), "%s", res.ids[1]);
  /* whole file over the limit */
  o.text_split_blank_lines = 0;
  o.max_record_bytes = 10;
  run("t.txt", &o, &res);
  CHECK(res.docs == 0 && res.errors == 1 && strstr(res.errs[0], "exceeds"));
  /* html by content */
  const char *h = "  <html><body><p>x</p></body></html>";
  write_file("p.html", h, strlen(h));
  tm_reader *r;
  tm_error err = {0};
  tm_document d;
  tm_document_init(&d);
  CHECK(tm_reader_open(&r, path_of("p.html"), NULL, &err) == 0);
  CHECK(tm_reader_next(r, &d, &err) == 1 && d.format == TM_DOC_HTML);
  CHECK(tm_reader_next(r, &d, &err) == 0);
  tm_reader_close(r);
  tm_document_free(&d);
}

static void test_warc(void) {
  const char *html = "<html><body><p>Hello warc</p></body></html>";
  char http[512];
  int hn = sprintf(http, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n%s", html);
  const char *wet = "Plain converted text.";
  char buf[4096];
  int n = 0;
  n += sprintf(buf + n, "WARC/1.0\r\nWARC-Type: warcinfo\r\nContent-Length: 5\r\n\r\nabcde\r\n\r\n");
  n += sprintf(buf + n,
               "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://e.com/\r\n"
               "WARC-Record-ID: <urn:uuid:1>\r\nWARC-Date: 2020-05-01T00:00:00Z\r\n"
               "Content-Type: application/http; msgtype=response\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n",
               hn, http);
  n += sprintf(buf + n, "garbage line\r\nmore garbage\r\n");
  n += sprintf(buf + n,
               "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Record-ID: <urn:uuid:2>\r\n"
               "Content-Length: %zu\r\n\r\n%s\r\n\r\n",
               strlen(wet), wet);
  n += sprintf(buf + n, "WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: x\r\n\r\n");
  n += sprintf(buf + n,
               "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Record-ID: <urn:uuid:3>\r\n"
               "Content-Length: 1000\r\n\r\nshort");
  write_file("w.warc", buf, (size_t)n);
  result res;
  run("w.warc", NULL, &res);
  CHECKF(res.docs == 2, "warc docs=%d", res.docs);
  CHECKF(res.errors == 3, "warc errors=%d", res.errors);
  CHECK(!strcmp(res.ids[0], "<urn:uuid:1>") && !strcmp(res.texts[0], html));
  {
    tm_reader *r;
    tm_error err = {0};
    tm_document d;
    tm_document_init(&d);
    CHECK(tm_reader_open(&r, path_of("w.warc"), NULL, &err) == 0);
    CHECK(tm_reader_next(r, &d, &err) == 1);
    const char *ct = tm_document_meta_get(&d, "content_type");
    CHECKF(ct && !strcmp(ct, "text/html; charset=utf-8"), "%s", ct ? ct : "none");
    CHECK(d.uri && !strcmp(d.uri, "http://e.com/") && d.timestamp == 1588291200);
    tm_reader_close(r);
    tm_document_free(&d);
  }
  CHECK(!strcmp(res.texts[1], wet));
  CHECKF(strstr(res.errs[0], "expected a WARC record"), "%s", res.errs[0]);
  CHECKF(strstr(res.errs[1], "Content-Length"), "%s", res.errs[1]);
  CHECKF(strstr(res.errs[2], "truncated"), "%s", res.errs[2]);
  /* the same, gzip-compressed */
  write_gz("w.warc.gz", buf, (size_t)n, 0);
  run("w.warc.gz", NULL, &res);
  CHECK(res.docs == 2 && res.errors == 3);
}

static void test_email(void) {
  const char *m =
      "From: a@b.com\nTo: c@d.com\nSubject: =?utf-8?q?Caf=C3=A9?=\nDate: Thu, 22 Aug 2002 12:36:23 +0100\n"
      "MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=XX\n\n"
      "--XX\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
      "Caf=E9 au lait.\n--XX\nContent-Type: text/html\n\n<p>html</p>\n--XX--\n";
  write_file("m.eml", m, strlen(m));
  tm_reader *r;
  tm_error err = {0};
  tm_document d;
  tm_document_init(&d);
  CHECK(tm_reader_open(&r, path_of("m.eml"), NULL, &err) == 0);
  CHECK(tm_reader_next(r, &d, &err) == 1);
  CHECK(tm_reader_format_of(r) == TM_FORMAT_EMAIL);
  CHECKF(strstr(d.text, "Caf\xc3\xa9 au lait.") != NULL, "%s", d.text);
  CHECK(strstr(d.text, "html") == NULL && strstr(d.text, "Subject") == NULL);
  CHECK(d.format == TM_DOC_TEXT);
  CHECK(tm_document_meta_get(&d, "subject") && !strcmp(tm_document_meta_get(&d, "subject"), "Caf\xc3\xa9"));
  CHECKF(d.timestamp == 1030016183, "%lld", (long long)d.timestamp);
  tm_reader_close(r);
  /* html only, base64 */
  const char *m2 = "From: a@b.com\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n"
                   "PHA+SGVsbG88L3A+\n";
  write_file("m2.eml", m2, strlen(m2));
  CHECK(tm_reader_open(&r, path_of("m2.eml"), NULL, &err) == 0);
  CHECK(tm_reader_next(r, &d, &err) == 1);
  CHECKF(d.format == TM_DOC_HTML && !strcmp(d.text, "<p>Hello</p>"), "%s", d.text);
  tm_reader_close(r);
  /* mbox of two */
  const char *mb = "From x Thu Aug 22 12:36:23 2002\nSubject: one\n\nbody one\n\n"
                   "From y Thu Aug 22 12:36:23 2002\nSubject: two\n\nbody two\n";
  write_file("m.mbox", mb, strlen(mb));
  result res;
  run("m.mbox", NULL, &res);
  CHECKF(res.docs == 2, "mbox docs=%d", res.docs);
  CHECK(strstr(res.texts[1], "body two") && !strstr(res.texts[0], "body two"));
  tm_document_free(&d);
}

static void test_timestamps(void) {
  CHECK(tm_timestamp_parse("2021-01-01T00:00:00Z") == 1609459200);
  CHECK(tm_timestamp_parse("2021-01-01T01:00:00+01:00") == 1609459200);
  CHECK(tm_timestamp_parse("2021-01-01T00:00:00.250Z") == 1609459200);
  CHECK(tm_timestamp_parse("1609459200") == 1609459200);
  CHECK(tm_timestamp_parse("Fri Jan 01 00:00:00 +0000 2021") == 1609459200);
  CHECK(tm_timestamp_parse("Fri, 01 Jan 2021 01:00:00 +0100") == 1609459200);
  CHECK(tm_timestamp_parse("yesterday") == TM_TIMESTAMP_UNKNOWN);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tm_readers_XXXXXX");
  if (!mkdtemp(dir)) return 1;
  test_jsonl();
  test_line_limit();
  test_compressed();
  test_text();
  test_warc();
  test_email();
  test_timestamps();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) fprintf(stderr, "cleanup failed\n");
  return tm_test_finish("test_readers");
}
