/* feed_testutil.h - a small shard directory of self-describing documents.
 *
 * Document tokens are lo + (base + i) % 1000 + 1 where lo is 0 for "web",
 * 1000 for "books", 2000 for "social": inside a document consecutive tokens
 * step by one (wrapping within the source's range), so a window can be
 * checked for being made of document pieces separated by end-of-text (id 0),
 * and the source of every piece is known from its range. */
#ifndef TM_FEED_TESTUTIL_H
#define TM_FEED_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shards/shard_dir.h"

#define FT_VOCAB 4000u
#define FT_EOT 0u

static const char *const ft_sources[3] = {"web", "books", "social"};

static inline uint64_t ft_rand(uint64_t *s) {
  *s += 0x9e3779b97f4a7c15ull;
  uint64_t z = *s;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Append n_docs documents to dir (created or continued); returns 0 or -1. */
static inline int ft_write_docs(const char *dir, uint64_t seed, int n_docs, uint64_t max_tokens) {
  tm_shard_dir_options o;
  memset(&o, 0, sizeof o);
  tm_shard_params_default(&o.params);
  o.params.vocab_size = FT_VOCAB;
  o.params.eot_id = FT_EOT;
  o.params.tokenizer_hash = 0x1234;
  o.params.frame_bytes = 16384;
  o.max_tokens = max_tokens;
  tm_error err = {0};
  tm_shard_dir *d;
  if (tm_shard_dir_open(&d, dir, &o, &err) < 0) {
    fprintf(stderr, "shard dir: %s\n", err.msg);
    return -1;
  }
  uint64_t s = seed;
  static uint32_t buf[4096];
  for (int i = 0; i < n_docs; i++) {
    int src = (int)(ft_rand(&s) % 10);
    src = src < 6 ? 0 : src < 9 ? 1 : 2;
    size_t n = 1 + (size_t)(ft_rand(&s) % (src == 1 ? 3000 : 400));
    uint64_t base = ft_rand(&s) % 1000;
    for (size_t k = 0; k < n; k++) buf[k] = (uint32_t)(src * 1000 + (base + k) % 1000 + 1);
    char id[32];
    snprintf(id, sizeof id, "doc-%llu-%d", (unsigned long long)seed, i);
    if (tm_shard_dir_append(d, buf, n, tm_doc_id_hash(id, strlen(id)), ft_sources[src], &err) <
        0) {
      fprintf(stderr, "append: %s\n", err.msg);
      tm_shard_dir_abort(d);
      return -1;
    }
  }
  if (tm_shard_dir_close(d, &err) < 0) {
    fprintf(stderr, "close: %s\n", err.msg);
    return -1;
  }
  return 0;
}

/* Check one window of n tokens (uint16): pieces of documents separated by
 * EOT, each piece from one source. Returns the source of the window (all
 * pieces must share it), or -1 when the window is malformed. */
static inline int ft_check_window(const uint16_t *t, size_t n) {
  int src = -1;
  for (size_t i = 0; i < n; i++) {
    if (t[i] == FT_EOT) continue;
    if (t[i] > 3000) return -1;
    int s = (t[i] - 1) / 1000;
    if (src < 0) src = s;
    if (s != src) return -1;
    if (i + 1 < n && t[i + 1] != FT_EOT) {
      uint32_t a = (t[i] - 1) % 1000, b = (t[i + 1] - 1) % 1000;
      if ((a + 1) % 1000 != b) return -1;
    }
  }
  return src < 0 ? 0 : src;
}

#endif
