/* bpe_words.c - the bounded word count table (see bpe_words.h).
 *
 * Open addressing over an entry array; entries point into one byte arena.
 * Pruning and sorting rebuild the index from the surviving entries. */
#include "bpe_words.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct {
  uint64_t count;
  uint64_t hash;
  uint64_t off;
  uint32_t len;
} entry;

struct tm_bpe_words {
  uint32_t *slots; /* entry index + 1, 0 empty */
  size_t mask;
  entry *e;
  size_t n, cap;
  uint8_t *arena;
  size_t arena_len, arena_cap;
  size_t max_words;
  uint64_t pruned_below;
};

tm_bpe_words *tm_bpe_words_new(size_t max_words) {
  tm_bpe_words *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->max_words = max_words ? max_words : (size_t)16 << 20;
  if (w->max_words > (size_t)1 << 30) w->max_words = (size_t)1 << 30;
  w->mask = 1023;
  w->slots = calloc(w->mask + 1, sizeof *w->slots);
  if (!w->slots) {
    free(w);
    return NULL;
  }
  return w;
}

void tm_bpe_words_free(tm_bpe_words *w) {
  if (!w) return;
  free(w->slots), free(w->e), free(w->arena), free(w);
}

void tm_bpe_words_clear(tm_bpe_words *w) {
  memset(w->slots, 0, (w->mask + 1) * sizeof *w->slots);
  w->n = 0;
  w->arena_len = 0;
}

size_t tm_bpe_words_count(const tm_bpe_words *w) { return w->n; }
uint64_t tm_bpe_words_pruned_below(const tm_bpe_words *w) { return w->pruned_below; }
size_t tm_bpe_words_memory(const tm_bpe_words *w) {
  return (w->mask + 1) * sizeof *w->slots + w->cap * sizeof *w->e + w->arena_cap;
}

const uint8_t *tm_bpe_words_get(const tm_bpe_words *w, size_t i, size_t *len, uint64_t *count) {
  *len = w->e[i].len;
  *count = w->e[i].count;
  return w->arena + w->e[i].off;
}

static int reindex(tm_bpe_words *w, size_t slots) {
  uint32_t *s = calloc(slots, sizeof *s);
  if (!s) return -TM_ENOMEM;
  free(w->slots);
  w->slots = s;
  w->mask = slots - 1;
  for (size_t i = 0; i < w->n; i++) {
    size_t h = w->e[i].hash & w->mask;
    while (s[h]) h = (h + 1) & w->mask;
    s[h] = (uint32_t)(i + 1);
  }
  return 0;
}

/* Drop words below a doubling threshold until at most 3/4 of the cap are
 * left; compact the arena. */
static int prune(tm_bpe_words *w) {
  uint64_t t = w->pruned_below ? w->pruned_below : 2;
  size_t keep;
  for (;; t *= 2) {
    keep = 0;
    for (size_t i = 0; i < w->n; i++) keep += w->e[i].count >= t;
    if (keep <= w->max_words / 4 * 3) break;
  }
  size_t m = 0, off = 0;
  for (size_t i = 0; i < w->n; i++) {
    if (w->e[i].count < t) continue;
    entry x = w->e[i];
    memmove(w->arena + off, w->arena + x.off, x.len);
    x.off = off;
    off += x.len;
    w->e[m++] = x;
  }
  w->n = m;
  w->arena_len = off;
  w->pruned_below = t;
  return reindex(w, w->mask + 1);
}

int tm_bpe_words_add(tm_bpe_words *w, const uint8_t *word, size_t len, uint64_t count) {
  uint64_t h = XXH3_64bits(word, len);
  size_t i = h & w->mask;
  for (;; i = (i + 1) & w->mask) {
    uint32_t s = w->slots[i];
    if (!s) break;
    entry *x = &w->e[s - 1];
    if (x->hash == h && x->len == len && !memcmp(w->arena + x->off, word, len)) {
      x->count += count;
      return 0;
    }
  }
  if (w->n >= w->max_words) {
    if (prune(w) < 0) return -TM_ENOMEM;
    if (count < w->pruned_below) return 0; /* as rare as what was dropped */
    return tm_bpe_words_add(w, word, len, count);
  }
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 1024;
    entry *e = realloc(w->e, cap * sizeof *e);
    if (!e) return -TM_ENOMEM;
    w->e = e;
    w->cap = cap;
  }
  if (w->arena_cap - w->arena_len < len) {
    size_t cap = w->arena_cap ? w->arena_cap : 65536;
    while (cap - w->arena_len < len) cap *= 2;
    uint8_t *a = realloc(w->arena, cap);
    if (!a) return -TM_ENOMEM;
    w->arena = a;
    w->arena_cap = cap;
  }
  memcpy(w->arena + w->arena_len, word, len);
  w->e[w->n] = (entry){count, h, w->arena_len, (uint32_t)len};
  w->arena_len += len;
  w->n++;
  if (w->n * 2 > w->mask + 1) return reindex(w, (w->mask + 1) * 2);
  w->slots[i] = (uint32_t)w->n;
  return 0;
}

int tm_bpe_words_add_text(tm_bpe_words *w, tm_pretok_kind kind, const uint8_t *text, size_t len) {
  for (size_t i = 0, e; i < len; i = e) {
    e = tm_pretok_next(kind, text, len, i);
    if (tm_bpe_words_add(w, text + i, e - i, 1) < 0) return -TM_ENOMEM;
  }
  return 0;
}

int tm_bpe_words_merge(tm_bpe_words *dst, const tm_bpe_words *src) {
  for (size_t i = 0; i < src->n; i++)
    if (tm_bpe_words_add(dst, src->arena + src->e[i].off, src->e[i].len, src->e[i].count) < 0)
      return -TM_ENOMEM;
  return 0;
}

static int cmp_entry(const void *a, const void *b, void *arena) {
  const entry *x = a, *y = b;
  const uint8_t *sort_arena = arena;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(sort_arena + x->off, sort_arena + y->off, n);
  if (c) return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

int tm_bpe_words_sort(tm_bpe_words *w) {
  if (w->n > 1) qsort_r(w->e, w->n, sizeof *w->e, cmp_entry, w->arena);
  return reindex(w, w->mask + 1);
}
