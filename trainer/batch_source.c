/* batch_source.c - token-file and synthetic batch sources; see
 * batch_source.h. The file is mapped read-only; each pass's window order is
 * a Fisher-Yates shuffle seeded by (seed, pass). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch_source_internal.h"
#include "io.h"
#include "rng.h"

tm_batch_source *tm_batch_source_alloc(const tm_batch_source_ops *ops, int B, int T,
                                       int vocab_size, tm_error *err) {
  if (B <= 0 || T <= 0 || vocab_size <= 0) {
    tm_err(err, TM_EINVAL, "batch source: batch %d, seq_len %d, vocab %d must be positive", B, T,
           vocab_size);
    return NULL;
  }
  tm_batch_source *s = calloc(1, sizeof *s);
  if (s) {
    s->inputs = malloc(sizeof(int32_t) * (size_t)B * T);
    s->targets = malloc(sizeof(int32_t) * (size_t)B * T);
  }
  if (!s || !s->inputs || !s->targets) {
    if (s) {
      free(s->inputs);
      free(s->targets);
      free(s);
    }
    tm_err(err, TM_ENOMEM, "batch source: out of memory");
    return NULL;
  }
  s->ops = ops;
  s->info = (tm_batch_info){.B = B, .T = T, .vocab_size = vocab_size, .eot_id = -1};
  return s;
}

void tm_batch_source_info(const tm_batch_source *s, tm_batch_info *info) { *info = s->info; }
int tm_batch_source_next(tm_batch_source *s, tm_batch *b, tm_error *err) {
  return s->ops->next(s, b, err);
}
int tm_batch_source_seek(tm_batch_source *s, const tm_batch_cursor *c, tm_error *err) {
  if (!s->ops->seek) return tm_err(err, TM_ESTATE, "batch source: cannot seek");
  return s->ops->seek(s, c, err);
}
void tm_batch_source_rewind(tm_batch_source *s) {
  if (s->ops->rewind) s->ops->rewind(s);
}
void tm_batch_source_set_stop(tm_batch_source *s, const volatile sig_atomic_t *stop) {
  s->stop = stop;
}
uint64_t tm_batch_source_batches_per_pass(const tm_batch_source *s) { return s->batches_per_pass; }
double tm_batch_source_wait_s(const tm_batch_source *s) { return s->wait_s; }
void tm_batch_source_free(tm_batch_source *s) {
  if (!s) return;
  if (s->ops->free) s->ops->free(s);
  free(s->inputs);
  free(s->targets);
  free(s);
}

/* ---- token file ------------------------------------------------------------ */

#define LLMC_MAGIC 20240520

typedef struct file_src {
  char path[512];
  const uint8_t *map;
  size_t map_len;
  const uint8_t *tokens; /* first token */
  int width;             /* 2 or 4 */
  size_t header_bytes;
  uint64_t n_tokens, n_windows;
  uint64_t seed, pass, pos; /* pos: windows of this pass consumed */
  int shuffle;
  uint32_t *order; /* permutation of this pass (shuffle only) */
} file_src;

static void file_order(file_src *f) {
  if (!f->shuffle) return;
  for (uint64_t i = 0; i < f->n_windows; i++) f->order[i] = (uint32_t)i;
  tm_rng r;
  tm_rng_seed(&r, f->seed * 0x9e3779b97f4a7c15ULL + f->pass);
  for (uint64_t i = f->n_windows; i > 1; i--) {
    uint64_t j = tm_rng_below(&r, i);
    uint32_t t = f->order[i - 1];
    f->order[i - 1] = f->order[j];
    f->order[j] = t;
  }
}

static int file_next(tm_batch_source *s, tm_batch *b, tm_error *err) {
  file_src *f = s->impl;
  int B = s->info.B, T = s->info.T;
  for (int r = 0; r < B; r++) {
    if (f->pos == f->n_windows) {
      f->pass++;
      f->pos = 0;
      file_order(f);
    }
    uint64_t w = f->shuffle ? f->order[f->pos] : f->pos;
    f->pos++;
    uint64_t first = w * (uint64_t)T;
    for (int t = 0; t <= T; t++) {
      uint64_t k = first + (uint64_t)t;
      const uint8_t *p = f->tokens + k * (uint64_t)f->width;
      uint32_t id = f->width == 2 ? (uint32_t)(p[0] | p[1] << 8)
                                  : (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                        (uint32_t)p[3] << 24;
      if (id >= (uint32_t)s->info.vocab_size)
        return tm_err(err, TM_EFORMAT, "%s: token %llu at byte offset %llu is %u, outside the "
                      "vocabulary (%d)", f->path, (unsigned long long)k,
                      (unsigned long long)(f->header_bytes + k * (uint64_t)f->width), id,
                      s->info.vocab_size);
      if (t < T) s->inputs[(size_t)r * T + t] = (int32_t)id;
      if (t > 0) s->targets[(size_t)r * T + t - 1] = (int32_t)id;
    }
  }
  b->B = B;
  b->T = T;
  b->inputs = s->inputs;
  b->targets = s->targets;
  b->cursor = (tm_batch_cursor){f->seed, f->pass, 0, f->pos};
  return 0;
}

static int file_seek(tm_batch_source *s, const tm_batch_cursor *c, tm_error *err) {
  file_src *f = s->impl;
  if (c->seed != f->seed || c->window > f->n_windows)
    return tm_err(err, TM_EINVAL, "%s: cursor (seed %llu, window %llu) does not fit this file "
                  "(seed %llu, %llu windows)", f->path, (unsigned long long)c->seed,
                  (unsigned long long)c->window, (unsigned long long)f->seed,
                  (unsigned long long)f->n_windows);
  f->pass = c->pass;
  f->pos = c->window;
  file_order(f);
  return 0;
}

static void file_rewind(tm_batch_source *s) {
  file_src *f = s->impl;
  f->pass = 0;
  f->pos = 0;
  file_order(f);
}

static void file_free(tm_batch_source *s) {
  file_src *f = s->impl;
  if (!f) return;
  if (f->map) munmap((void *)f->map, f->map_len);
  free(f->order);
  free(f);
}

static const tm_batch_source_ops file_ops = {file_next, file_seek, file_rewind, file_free};

int tm_batch_source_file(tm_batch_source **out, const char *path, int B, int T, int vocab_size,
                         uint64_t seed, int shuffle, tm_error *err) {
  *out = NULL;
  tm_batch_source *s = tm_batch_source_alloc(&file_ops, B, T, vocab_size, err);
  if (!s) return -(err && err->code ? err->code : TM_ENOMEM);
  file_src *f = calloc(1, sizeof *f);
  if (!f) {
    tm_batch_source_free(s);
    return tm_err(err, TM_ENOMEM, "batch source: out of memory");
  }
  s->impl = f;
  snprintf(f->path, sizeof f->path, "%s", path);
  f->seed = seed;
  f->shuffle = shuffle;
  int rc = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    rc = tm_err_sys(err, "%s: cannot open token file", path);
    if (fd >= 0) close(fd);
    goto fail;
  }
  f->map_len = (size_t)st.st_size;
  if (f->map_len < 8) {
    close(fd);
    rc = tm_err(err, TM_EFORMAT, "%s: %zu bytes is too short for a token file", path, f->map_len);
    goto fail;
  }
  f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (f->map == MAP_FAILED) {
    f->map = NULL;
    rc = tm_err_sys(err, "%s: mmap", path);
    goto fail;
  }
  int32_t hdr[3];
  memcpy(hdr, f->map, sizeof hdr);
  if (hdr[0] == LLMC_MAGIC) {
    if (f->map_len < 1024 || (hdr[1] != 1 && hdr[1] != 2)) {
      rc = tm_err(err, TM_EFORMAT, "%s: llm.c token file with a bad header (version %d at byte "
                  "offset 4)", path, hdr[1]);
      goto fail;
    }
    f->width = hdr[1] == 1 ? 2 : 4;
    f->header_bytes = 1024;
    f->n_tokens = (uint64_t)(uint32_t)hdr[2];
    if (f->header_bytes + f->n_tokens * (uint64_t)f->width > f->map_len) {
      rc = tm_err(err, TM_EFORMAT, "%s: header at byte offset 8 says %llu tokens, the file holds "
                  "%zu bytes", path, (unsigned long long)f->n_tokens, f->map_len);
      goto fail;
    }
  } else {
    f->width = 2;
    f->header_bytes = 0;
    f->n_tokens = f->map_len / 2;
  }
  f->tokens = f->map + f->header_bytes;
  f->n_windows = f->n_tokens > (uint64_t)T ? (f->n_tokens - 1) / (uint64_t)T : 0;
  if (f->n_windows < (uint64_t)B) {
    rc = tm_err(err, TM_EFORMAT, "%s: %llu tokens make %llu windows of %d+1, fewer than one "
                "batch of %d", path, (unsigned long long)f->n_tokens,
                (unsigned long long)f->n_windows, T, B);
    goto fail;
  }
  if (f->n_windows > UINT32_MAX) {
    rc = tm_err(err, TM_ELIMIT, "%s: more than 2^32 windows", path);
    goto fail;
  }
  if (shuffle) {
    f->order = malloc(sizeof(uint32_t) * f->n_windows);
    if (!f->order) {
      rc = tm_err(err, TM_ENOMEM, "%s: no memory for the window order", path);
      goto fail;
    }
  }
  file_order(f);
  s->batches_per_pass = f->n_windows / (uint64_t)B;
  *out = s;
  return 0;
fail:
  tm_batch_source_free(s);
  return rc;
}

/* ---- synthetic ---------------------------------------------------------------- */

typedef struct synth_src {
  uint64_t seed, index;
} synth_src;

static int synth_next(tm_batch_source *s, tm_batch *b, tm_error *err) {
  (void)err;
  synth_src *y = s->impl;
  tm_rng r;
  tm_rng_seed(&r, y->seed * 0x9e3779b97f4a7c15ULL + y->index);
  int B = s->info.B, T = s->info.T;
  for (int i = 0; i < B; i++) {
    int32_t prev = (int32_t)tm_rng_below(&r, (uint64_t)s->info.vocab_size);
    for (int t = 0; t < T; t++) {
      int32_t next = (int32_t)tm_rng_below(&r, (uint64_t)s->info.vocab_size);
      s->inputs[(size_t)i * T + t] = prev;
      s->targets[(size_t)i * T + t] = next;
      prev = next;
    }
  }
  y->index++;
  b->B = B;
  b->T = T;
  b->inputs = s->inputs;
  b->targets = s->targets;
  b->cursor = (tm_batch_cursor){y->seed, 0, 0, y->index};
  return 0;
}

static int synth_seek(tm_batch_source *s, const tm_batch_cursor *c, tm_error *err) {
  synth_src *y = s->impl;
  if (c->seed != y->seed) return tm_err(err, TM_EINVAL, "synthetic source: cursor seed differs");
  y->index = c->window;
  return 0;
}

static void synth_rewind(tm_batch_source *s) { ((synth_src *)s->impl)->index = 0; }
static void synth_free(tm_batch_source *s) { free(s->impl); }

static const tm_batch_source_ops synth_ops = {synth_next, synth_seek, synth_rewind, synth_free};

int tm_batch_source_synthetic(tm_batch_source **out, int B, int T, int vocab_size, uint64_t seed,
                              tm_error *err) {
  *out = NULL;
  tm_batch_source *s = tm_batch_source_alloc(&synth_ops, B, T, vocab_size, err);
  if (!s) return -(err && err->code ? err->code : TM_ENOMEM);
  synth_src *y = calloc(1, sizeof *y);
  if (!y) {
    tm_batch_source_free(s);
    return tm_err(err, TM_ENOMEM, "batch source: out of memory");
  }
  y->seed = seed;
  s->impl = y;
  *out = s;
  return 0;
}

/* ---- cached (a fixed set read once from another source) --------------------- */

typedef struct cache_src {
  int32_t *tok; /* n batches of inputs then targets, (B,T) each */
  tm_batch_cursor *cur;
  int n, pos;
} cache_src;

static int cache_next(tm_batch_source *s, tm_batch *b, tm_error *err) {
  (void)err;
  cache_src *c = s->impl;
  size_t bt = (size_t)s->info.B * s->info.T;
  if (c->pos == c->n) c->pos = 0;
  b->B = s->info.B;
  b->T = s->info.T;
  b->inputs = c->tok + 2 * bt * (size_t)c->pos;
  b->targets = b->inputs + bt;
  b->cursor = c->cur[c->pos++];
  return 0;
}

static void cache_rewind(tm_batch_source *s) { ((cache_src *)s->impl)->pos = 0; }
static void cache_free(tm_batch_source *s) {
  cache_src *c = s->impl;
  if (!c) return;
  free(c->tok);
  free(c->cur);
  free(c);
}

static const tm_batch_source_ops cache_ops = {cache_next, NULL, cache_rewind, cache_free};

int tm_batch_source_cache(tm_batch_source **out, tm_batch_source *src, int n, tm_error *err) {
  *out = NULL;
  if (n <= 0) return tm_err(err, TM_EINVAL, "batch cache: %d batches", n);
  tm_batch_source *s = tm_batch_source_alloc(&cache_ops, src->info.B, src->info.T,
                                             src->info.vocab_size, err);
  if (!s) return -(err && err->code ? err->code : TM_ENOMEM);
  s->info = src->info;
  cache_src *c = calloc(1, sizeof *c);
  size_t bt = (size_t)s->info.B * s->info.T;
  if (c) {
    c->tok = malloc(sizeof(int32_t) * 2 * bt * (size_t)n);
    c->cur = malloc(sizeof(tm_batch_cursor) * (size_t)n);
  }
  s->impl = c;
  if (!c || !c->tok || !c->cur) {
    tm_batch_source_free(s);
    return tm_err(err, TM_ENOMEM, "batch cache: out of memory");
  }
  for (int i = 0; i < n; i++) {
    tm_batch b;
    int rc = tm_batch_source_next(src, &b, err);
    if (rc == TM_BATCH_END) break;
    if (rc < 0) {
      tm_batch_source_free(s);
      return rc;
    }
    memcpy(c->tok + 2 * bt * (size_t)i, b.inputs, bt * sizeof(int32_t));
    memcpy(c->tok + 2 * bt * (size_t)i + bt, b.targets, bt * sizeof(int32_t));
    c->cur[i] = b.cursor;
    c->n++;
  }
  if (!c->n) {
    tm_batch_source_free(s);
    return tm_err(err, TM_EFORMAT, "batch cache: the source ended before its first batch");
  }
  s->batches_per_pass = (uint64_t)c->n;
  *out = s;
  return 0;
}

#define VALSET_MAGIC "TMVALSET"

int tm_batch_source_cache_save(const tm_batch_source *s, const char *path, tm_error *err) {
  if (s->ops != &cache_ops) return tm_err(err, TM_ESTATE, "%s: not a cached source", path);
  const cache_src *c = s->impl;
  size_t bt = (size_t)s->info.B * s->info.T, tok = 2 * bt * (size_t)c->n;
  size_t len = 24 + tok * sizeof(int32_t);
  uint8_t *buf = malloc(len);
  if (!buf) return tm_err(err, TM_ENOMEM, "%s: out of memory", path);
  int32_t h[4] = {s->info.B, s->info.T, s->info.vocab_size, c->n};
  memcpy(buf, VALSET_MAGIC, 8);
  memcpy(buf + 8, h, sizeof h);
  memcpy(buf + 24, c->tok, tok * sizeof(int32_t));
  int rc = tm_io_write_file_atomic(path, buf, len, "checkpoint", err);
  free(buf);
  return rc;
}

int tm_batch_source_cache_load(tm_batch_source **out, const char *path, int B, int T,
                               int vocab_size, tm_error *err) {
  *out = NULL;
  char *data = NULL;
  size_t len = 0;
  int rc = tm_io_read_file(path, (size_t)1 << 31, &data, &len, err);
  if (rc < 0) return rc;
  int32_t h[4] = {0, 0, 0, 0};
  if (len >= 24) memcpy(h, data + 8, sizeof h);
  size_t bt = (size_t)B * T;
  if (len < 24 || memcmp(data, VALSET_MAGIC, 8) || h[3] <= 0 ||
      len != 24 + 2 * bt * (size_t)h[3] * sizeof(int32_t)) {
    free(data);
    return tm_err(err, TM_EFORMAT, "%s: not a validation set of %d x %d batches (bad header "
                  "or size %zu at byte offset 0)", path, B, T, len);
  }
  if (h[0] != B || h[1] != T || h[2] != vocab_size) {
    free(data);
    return tm_err(err, TM_EINVAL, "%s: batches of %d x %d, vocabulary %d; the run uses %d x %d, "
                  "%d", path, h[0], h[1], h[2], B, T, vocab_size);
  }
  tm_batch_source *s = tm_batch_source_alloc(&cache_ops, B, T, vocab_size, err);
  cache_src *c = s ? calloc(1, sizeof *c) : NULL;
  if (c) {
    c->tok = malloc(2 * bt * (size_t)h[3] * sizeof(int32_t));
    c->cur = calloc((size_t)h[3], sizeof(tm_batch_cursor));
  }
  if (s) s->impl = c;
  if (!c || !c->tok || !c->cur) {
    free(data);
    tm_batch_source_free(s);
    return tm_err(err, TM_ENOMEM, "%s: out of memory", path);
  }
  memcpy(c->tok, data + 24, 2 * bt * (size_t)h[3] * sizeof(int32_t));
  free(data);
  for (size_t i = 0; i < 2 * bt * (size_t)h[3]; i++)
    if (c->tok[i] < 0 || c->tok[i] >= vocab_size) {
      size_t off = 24 + i * 4;
      tm_batch_source_free(s);
      return tm_err(err, TM_EFORMAT, "%s: token at byte offset %zu outside the vocabulary (%d)",
                    path, off, vocab_size);
    }
  c->n = h[3];
  s->batches_per_pass = (uint64_t)c->n;
  *out = s;
  return 0;
}
