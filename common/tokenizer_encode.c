/* tokenizer_encode.c - the per-thread encoder: pre-token cache and BPE.
 *
 * BPE of one pre-token: start from the byte symbols, repeatedly merge the
 * adjacent pair of lowest rank (leftmost among equals). Short pre-tokens
 * (the vast majority) use a scan over a small array, which is quadratic but
 * tiny; long ones use a binary heap of candidate merges over a linked list
 * of symbols, O(n log n), so a 1 MB run of one letter is no problem. Both
 * give the same result; the heap path is also the one BPE-dropout uses, with
 * HF's rule: a skipped merge is put back after the next applied one.
 *
 * Cache: pre-token bytes -> ids, an open-addressing table over two arenas,
 * cleared whole when an arena or the table fills (bounded memory, no
 * eviction bookkeeping on the hot path). */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tokenizer_impl.h"

#define SHORT_WORD 48          /* symbols: scan below, heap above */
#define CACHE_MAX_KEY 64       /* longer pre-tokens are not cached */
#define CACHE_SLOTS (1u << 16) /* a power of two */
#define CACHE_KEY_BYTES (2u << 20)
#define CACHE_ID_COUNT (512u << 10)

typedef struct {
  uint64_t hash;
  uint32_t key_off, ids_off;
  uint16_t key_len, n_ids; /* key_len 0: empty slot */
} cache_slot;

typedef struct {
  uint32_t rank, pos;
} heap_item;

struct tm_encoder {
  const struct tm_tokenizer *tok;
  cache_slot *slots;
  uint32_t n_used;
  uint8_t *keys;
  uint32_t keys_len;
  uint32_t *cids;
  uint32_t cids_len;
  /* scratch for one word */
  uint32_t *sym, *rank;
  int32_t *prev, *next;
  heap_item *heap, *skip;
  size_t cap;
};

tm_encoder *tm_encoder_new(const tm_tokenizer *tok) {
  tm_encoder *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->tok = tok;
  e->slots = calloc(CACHE_SLOTS, sizeof *e->slots);
  e->keys = malloc(CACHE_KEY_BYTES);
  e->cids = malloc(CACHE_ID_COUNT * sizeof *e->cids);
  if (!e->slots || !e->keys || !e->cids) {
    tm_encoder_free(e);
    return NULL;
  }
  return e;
}

void tm_encoder_free(tm_encoder *e) {
  if (!e) return;
  free(e->slots), free(e->keys), free(e->cids);
  free(e->sym), free(e->rank), free(e->prev), free(e->next), free(e->heap), free(e->skip);
  free(e);
}

static int scratch(tm_encoder *e, size_t n) {
  if (n <= e->cap) return 0;
  size_t cap = e->cap ? e->cap : 256;
  while (cap < n) cap *= 2;
  uint32_t *sym = realloc(e->sym, cap * sizeof *sym);
  if (sym) e->sym = sym;
  uint32_t *rank = realloc(e->rank, cap * sizeof *rank);
  if (rank) e->rank = rank;
  int32_t *prev = realloc(e->prev, cap * sizeof *prev);
  if (prev) e->prev = prev;
  int32_t *next = realloc(e->next, cap * sizeof *next);
  if (next) e->next = next;
  heap_item *heap = realloc(e->heap, 2 * cap * sizeof *heap);
  if (heap) e->heap = heap;
  heap_item *skip = realloc(e->skip, 2 * cap * sizeof *skip);
  if (skip) e->skip = skip;
  if (!sym || !rank || !prev || !next || !heap || !skip) return -TM_ENOMEM;
  e->cap = cap;
  return 0;
}

/* ---- the short path: scan for the minimum rank ------------------------- */

static size_t bpe_scan(const struct tm_tokenizer *t, uint32_t *sym, uint32_t *rank, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) rank[i] = tm_tok_merge_rank(t, sym[i], sym[i + 1]);
  while (n > 1) {
    uint32_t best = UINT32_MAX;
    size_t at = 0;
    for (size_t i = 0; i + 1 < n; i++)
      if (rank[i] < best) best = rank[i], at = i;
    if (best == UINT32_MAX) break;
    sym[at] = t->merges[best][2];
    memmove(sym + at + 1, sym + at + 2, (n - at - 2) * sizeof *sym);
    memmove(rank + at + 1, rank + at + 2, (n > at + 2 ? n - at - 2 : 0) * sizeof *rank);
    n--;
    if (at > 0) rank[at - 1] = tm_tok_merge_rank(t, sym[at - 1], sym[at]);
    if (at + 1 < n) rank[at] = tm_tok_merge_rank(t, sym[at], sym[at + 1]);
  }
  return n;
}

/* ---- the long path: heap of (rank, pos) --------------------------------- */

static inline int item_less(heap_item a, heap_item b) {
  return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(heap_item *h, size_t *n, heap_item x) {
  size_t i = (*n)++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!item_less(x, h[p])) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = x;
}

static heap_item heap_pop(heap_item *h, size_t *n) {
  heap_item top = h[0], x = h[--(*n)];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && item_less(h[c + 1], h[c])) c++;
    if (!item_less(h[c], x)) break;
    h[i] = h[c];
    i = c;
  }
  if (*n) h[i] = x;
  return top;
}

static inline uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Merge sym[0..n) in place; returns the new count. p > 0 enables dropout
 * with the random state *rng. */
static size_t bpe_heap(tm_encoder *e, size_t n, double p, uint64_t *rng) {
  const struct tm_tokenizer *t = e->tok;
  uint32_t *sym = e->sym;
  int32_t *prev = e->prev, *next = e->next;
  heap_item *h = e->heap, *skip = e->skip;
  size_t hn = 0, sn = 0;
  for (size_t i = 0; i < n; i++) {
    prev[i] = (int32_t)i - 1;
    next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
  }
  for (size_t i = 0; i + 1 < n; i++) {
    uint32_t r = tm_tok_merge_rank(t, sym[i], sym[i + 1]);
    if (r != UINT32_MAX) heap_push(h, &hn, (heap_item){r, (uint32_t)i});
  }
  while (hn) {
    heap_item top = heap_pop(h, &hn);
    uint32_t pos = top.pos;
    if (sym[pos] == UINT32_MAX || next[pos] < 0) continue;
    uint32_t nx = (uint32_t)next[pos];
    if (tm_tok_merge_rank(t, sym[pos], sym[nx]) != top.rank) continue; /* stale */
    if (p > 0 && (double)(splitmix64(rng) >> 11) * 0x1.0p-53 < p) {
      skip[sn++] = top;
      continue;
    }
    while (sn) heap_push(h, &hn, skip[--sn]);
    sym[pos] = t->merges[top.rank][2];
    sym[nx] = UINT32_MAX;
    next[pos] = next[nx];
    if (next[nx] >= 0) prev[next[nx]] = (int32_t)pos;
    if (prev[pos] >= 0) {
      uint32_t r = tm_tok_merge_rank(t, sym[prev[pos]], sym[pos]);
      if (r != UINT32_MAX) heap_push(h, &hn, (heap_item){r, (uint32_t)prev[pos]});
    }
    if (next[pos] >= 0) {
      uint32_t r = tm_tok_merge_rank(t, sym[pos], sym[next[pos]]);
      if (r != UINT32_MAX) heap_push(h, &hn, (heap_item){r, pos});
    }
  }
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (sym[i] != UINT32_MAX) sym[m++] = sym[i];
  return m;
}

/* BPE of one pre-token into e->sym; returns the id count or -TM_ENOMEM. */
static long bpe_word(tm_encoder *e, const uint8_t *w, size_t len, double p, uint64_t *rng) {
  const struct tm_tokenizer *t = e->tok;
  if (scratch(e, len + 1) < 0) return -TM_ENOMEM;
  if (t->ignore_merges) {
    int64_t id = tm_tok_vocab_lookup(t, w, len);
    if (id >= 0) {
      e->sym[0] = (uint32_t)id;
      return 1;
    }
  }
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    int32_t id = t->byte_id[w[i]];
    if (id >= 0) e->sym[n++] = (uint32_t)id; /* a missing byte symbol is dropped, as HF */
  }
  if (n < 2) return (long)n;
  if (p <= 0 && n <= SHORT_WORD) return (long)bpe_scan(t, e->sym, e->rank, n);
  return (long)bpe_heap(e, n, p, rng);
}

static void cache_clear(tm_encoder *e) {
  memset(e->slots, 0, CACHE_SLOTS * sizeof *e->slots);
  e->n_used = 0;
  e->keys_len = 0;
  e->cids_len = 0;
}

static int emit(tm_ids *out, const uint32_t *ids, size_t n) {
  if (n == 0) return 0; /* a word of bytes the vocabulary lacks: out->ids may still be NULL */
  if (out->cap - out->len < n && tm_ids_reserve(out, n) < 0) return -TM_ENOMEM;
  memcpy(out->ids + out->len, ids, n * sizeof *ids);
  out->len += n;
  return 0;
}

static int encode_word(tm_encoder *e, const uint8_t *w, size_t len, tm_ids *out) {
  if (len > CACHE_MAX_KEY) {
    long n = bpe_word(e, w, len, 0, NULL);
    return n < 0 ? (int)n : emit(out, e->sym, (size_t)n);
  }
  uint64_t h = XXH3_64bits(w, len);
  uint32_t i = (uint32_t)h & (CACHE_SLOTS - 1);
  for (;; i = (i + 1) & (CACHE_SLOTS - 1)) {
    cache_slot *s = &e->slots[i];
    if (!s->key_len) break;
    if (s->hash == h && s->key_len == len && !memcmp(e->keys + s->key_off, w, len))
      return emit(out, e->cids + s->ids_off, s->n_ids);
  }
  long n = bpe_word(e, w, len, 0, NULL);
  if (n < 0) return (int)n;
  int rc = emit(out, e->sym, (size_t)n);
  if (rc < 0 || n == 0) return rc;
  if (e->n_used >= CACHE_SLOTS / 2 || e->keys_len + len > CACHE_KEY_BYTES ||
      e->cids_len + (uint32_t)n > CACHE_ID_COUNT) {
    cache_clear(e);
    i = (uint32_t)h & (CACHE_SLOTS - 1);
  }
  while (e->slots[i].key_len) i = (i + 1) & (CACHE_SLOTS - 1);
  cache_slot *s = &e->slots[i];
  s->hash = h;
  s->key_off = e->keys_len;
  s->key_len = (uint16_t)len;
  s->ids_off = e->cids_len;
  s->n_ids = (uint16_t)n;
  memcpy(e->keys + e->keys_len, w, len);
  e->keys_len += (uint32_t)len;
  memcpy(e->cids + e->cids_len, e->sym, (size_t)n * sizeof *e->sym);
  e->cids_len += (uint32_t)n;
  e->n_used++;
  return 0;
}

/* Encode text without special tokens. */
static int encode_plain(tm_encoder *e, const uint8_t *s, size_t n, double p, uint64_t *rng,
                        tm_ids *out) {
  tm_pretok_kind k = e->tok->pattern;
  for (size_t i = 0, end; i < n; i = end) {
    end = tm_pretok_next(k, s, n, i);
    int rc;
    if (p > 0) {
      long m = bpe_word(e, s + i, end - i, p, rng);
      rc = m < 0 ? (int)m : emit(out, e->sym, (size_t)m);
    } else {
      rc = encode_word(e, s + i, end - i, out);
    }
    if (rc < 0) return rc;
  }
  return 0;
}

/* The next special token at or after offset i of s[0..n): its offset (n if
 * none) and id; the longest token wins at equal offsets. next[k] remembers
 * where special k occurs next (SIZE_MAX: not searched yet), so each special
 * is searched for once per occurrence: linear in n times the number of
 * specials, however many specials the text holds. */
static size_t find_special(const struct tm_tokenizer *t, const uint8_t *s, size_t n, size_t i,
                           size_t *next, uint32_t *id) {
  size_t best = n, best_len = 0;
  for (uint32_t k = 0; k < t->n_special; k++) {
    uint32_t sid = t->special_ids[k];
    const uint8_t *tp = t->tok_data + t->tok_off[sid];
    size_t tl = t->tok_off[sid + 1] - t->tok_off[sid];
    if (next[k] == SIZE_MAX || (next[k] < i && next[k] != n)) {
      const uint8_t *hit = memmem(s + i, n - i, tp, tl);
      next[k] = hit ? (size_t)(hit - s) : n;
    }
    if (next[k] < best || (next[k] == best && next[k] < n && tl > best_len))
      best = next[k], best_len = tl, *id = sid;
  }
  return best;
}

static int encode_any(tm_encoder *e, const void *text, size_t len, unsigned flags, double p,
                      uint64_t *rng, tm_ids *out, tm_error *err) {
  const uint8_t *s = text;
  const struct tm_tokenizer *t = e->tok;
  int rc = 0;
  if (!(flags & TM_ENCODE_ALLOW_SPECIAL) || !t->n_special) {
    rc = encode_plain(e, s, len, p, rng, out);
  } else {
    size_t *next = malloc(t->n_special * sizeof *next);
    if (!next) return tm_err(err, TM_ENOMEM, "encode: out of memory");
    for (uint32_t k = 0; k < t->n_special; k++) next[k] = SIZE_MAX;
    size_t i = 0;
    while (i < len && rc == 0) {
      uint32_t id = 0;
      size_t at = find_special(t, s, len, i, next, &id);
      rc = encode_plain(e, s + i, at - i, p, rng, out);
      if (rc == 0 && at < len) {
        rc = emit(out, &id, 1);
        at += t->tok_off[id + 1] - t->tok_off[id];
      }
      i = at;
    }
    free(next);
  }
  if (rc < 0) return tm_err(err, TM_ENOMEM, "encode: out of memory");
  return 0;
}

int tm_encoder_encode(tm_encoder *e, const void *text, size_t len, unsigned flags, tm_ids *out,
                      tm_error *err) {
  return encode_any(e, text, len, flags, 0, NULL, out, err);
}

int tm_encoder_encode_dropout(tm_encoder *e, const void *text, size_t len, unsigned flags,
                              double p, uint64_t seed, tm_ids *out, tm_error *err) {
  if (!(p >= 0 && p <= 1)) return tm_err(err, TM_EINVAL, "encode: dropout %g not in [0, 1]", p);
  uint64_t rng = seed;
  return encode_any(e, text, len, flags, p, &rng, out, err);
}
