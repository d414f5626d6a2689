/* fuzz_reader.h - drive a tm_reader over fuzz input until it ends.
 *
 * The first input byte picks options so that one target reaches the limit
 * paths too: bit 0-1 the JSONL field kind (text, HTML, e-mail), bit 2 a small
 * max_record_bytes (64 KiB instead of 1 MiB), bit 3 small bomb limits.
 * The reader must end (return 0) after at most one error per record; a
 * reader that keeps returning errors without consuming input is a hang,
 * which libFuzzer's -timeout reports.
 */
#ifndef TM_FUZZ_READER_H
#define TM_FUZZ_READER_H

#include "fuzz_util.h"
#include "reader.h"

static inline int tm_fuzz_reader(const uint8_t *data, size_t n, tm_reader_format format) {
  tm_fuzz_quiet();
  if (n < 1) return 0;
  uint8_t ctl = data[0];
  data++, n--;
  tm_reader_options o;
  tm_reader_options_default(&o);
  o.format = format;
  o.field_kind = (tm_field_kind)((ctl & 3) % 3);
  o.max_record_bytes = (ctl & 4) ? (64u << 10) : (1u << 20);
  if (ctl & 8) {
    o.max_decompressed_bytes = 8u << 20;
    o.max_ratio = 50;
    o.ratio_grace_bytes = 256u << 10;
  } else {
    o.max_decompressed_bytes = 64u << 20;
  }
  o.text_split_blank_lines = (ctl >> 4) & 1;
  int fd = tm_fuzz_memfd(data, n);
  if (fd < 0) return 0;
  tm_reader *r = NULL;
  tm_error err = {0};
  if (tm_reader_open_fd(&r, fd, "fuzz", &o, &err) < 0) return 0;
  tm_document doc;
  tm_document_init(&doc);
  uint64_t calls = 0;
  int rc;
  while ((rc = tm_reader_next(r, &doc, &err)) != 0) {
    if (rc > 0) {
      /* the document invariants of document.h */
      if (!doc.id || doc.text[doc.len] != 0) __builtin_trap();
    } else {
      const char *p;
      size_t len;
      if (tm_reader_failed_record(r, &p, &len) && len) {
        volatile char c = p[0];
        c = p[len - 1];
        (void)c;
      }
      if (err.msg[0] == 0) __builtin_trap(); /* an error without a message */
    }
    tm_reader_stats st;
    tm_reader_get_stats(r, &st);
    if (++calls > 4 * st.bytes_decoded + 16) __builtin_trap(); /* no progress */
  }
  tm_document_free(&doc);
  tm_reader_close(r);
  return 0;
}

#endif
