/* textbuf.h - a growable byte buffer for the clean stage's passes.
 *
 * Each pass reads one buffer and writes the next; the stage keeps two and
 * swaps them, so a document costs no allocation once the buffers have grown
 * to its size. Invariant: p[len] == 0 whenever len < cap (tm_tb_finish). */
#ifndef TM_TEXTBUF_H
#define TM_TEXTBUF_H

#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct tm_textbuf {
  char *p;
  size_t len, cap;
} tm_textbuf;

/* Room for n more bytes (and a NUL). Returns 0 or -TM_ENOMEM. */
static inline int tm_tb_reserve(tm_textbuf *b, size_t n) {
  if (b->len + n + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap < b->len + n + 1) cap *= 2;
  char *p = (char *)realloc(b->p, cap);
  if (!p) return -TM_ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

static inline int tm_tb_put(tm_textbuf *b, const char *s, size_t n) {
  if (tm_tb_reserve(b, n) < 0) return -TM_ENOMEM;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

static inline int tm_tb_putc(tm_textbuf *b, char c) {
  if (b->len + 2 > b->cap && tm_tb_reserve(b, 1) < 0) return -TM_ENOMEM;
  b->p[b->len++] = c;
  return 0;
}

static inline int tm_tb_puts(tm_textbuf *b, const char *s) { return tm_tb_put(b, s, strlen(s)); }

/* NUL-terminate (reserving if needed). */
static inline int tm_tb_finish(tm_textbuf *b) {
  if (tm_tb_reserve(b, 0) < 0) return -TM_ENOMEM;
  b->p[b->len] = 0;
  return 0;
}

static inline void tm_tb_free(tm_textbuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

#endif
