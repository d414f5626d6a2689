/* bpe_train.c - the merge loop (see bpe_train.h for the exact rules).
 *
 * Data: every distinct word is a run of symbol ids in one array (words
 * shrink in place as they merge) with its count; a pair table maps
 * (left, right) to its current count; a binary max-heap holds entries
 * (count, pair, list of words). The word lists of the initial entries live
 * in one shared array (built by sorting (pair, word) keys); later ones are
 * owned by their entry. */
#include "bpe_train.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bytelevel.h"

/* ---- pair table: key -> count ------------------------------------------ */

typedef struct {
  uint64_t *keys; /* UINT64_MAX: empty */
  int64_t *vals;
  size_t mask, n;
} pair_map;

static size_t pm_hash(uint64_t k) { return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 17); }

static int pm_init(pair_map *m, size_t cap) {
  size_t c = 1024;
  while (c < cap * 2) c *= 2;
  m->keys = malloc(c * sizeof *m->keys);
  m->vals = malloc(c * sizeof *m->vals);
  if (!m->keys || !m->vals) return -TM_ENOMEM;
  memset(m->keys, 0xFF, c * sizeof *m->keys);
  m->mask = c - 1;
  m->n = 0;
  return 0;
}

static void pm_free(pair_map *m) { free(m->keys), free(m->vals); }

/* The slot of k, inserted with value 0 if absent; SIZE_MAX on OOM. */
static size_t pm_slot(pair_map *m, uint64_t k) {
  size_t h = pm_hash(k) & m->mask;
  while (m->keys[h] != k) {
    if (m->keys[h] == UINT64_MAX) {
      if ((m->n + 1) * 2 > m->mask + 1) {
        pair_map big;
        if (pm_init(&big, m->mask + 1) < 0) {
          pm_free(&big);
          return SIZE_MAX;
        }
        for (size_t i = 0; i <= m->mask; i++)
          if (m->keys[i] != UINT64_MAX) {
            size_t j = pm_hash(m->keys[i]) & big.mask;
            while (big.keys[j] != UINT64_MAX) j = (j + 1) & big.mask;
            big.keys[j] = m->keys[i], big.vals[j] = m->vals[i];
          }
        big.n = m->n;
        pm_free(m);
        *m = big;
        return pm_slot(m, k);
      }
      m->keys[h] = k;
      m->vals[h] = 0;
      m->n++;
      return h;
    }
    h = (h + 1) & m->mask;
  }
  return h;
}

/* The slot of k, or SIZE_MAX if absent. */
static size_t pm_find(const pair_map *m, uint64_t k) {
  size_t h = pm_hash(k) & m->mask;
  while (m->keys[h] != k) {
    if (m->keys[h] == UINT64_MAX) return SIZE_MAX;
    h = (h + 1) & m->mask;
  }
  return h;
}

static int64_t pm_get(const pair_map *m, uint64_t k) {
  size_t h = pm_hash(k) & m->mask;
  while (m->keys[h] != k) {
    if (m->keys[h] == UINT64_MAX) return 0;
    h = (h + 1) & m->mask;
  }
  return m->vals[h];
}

/* ---- heap of entries ---------------------------------------------------- */

typedef struct {
  int64_t count;
  uint64_t key;
  uint32_t *pos;
  uint32_t npos;
  uint32_t owned;
} entry;

typedef struct {
  entry *a;
  size_t n, cap, peak;
} heap;

static int before(const entry *x, const entry *y) {
  return x->count > y->count || (x->count == y->count && x->key < y->key);
}

static int heap_push(heap *h, entry e) {
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 4096;
    entry *a = realloc(h->a, cap * sizeof *a);
    if (!a) return -TM_ENOMEM;
    h->a = a, h->cap = cap;
  }
  size_t i = h->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(&e, &h->a[p])) break;
    h->a[i] = h->a[p];
    i = p;
  }
  h->a[i] = e;
  if (h->n > h->peak) h->peak = h->n;
  return 0;
}

static entry heap_pop(heap *h) {
  entry top = h->a[0], x = h->a[--h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && before(&h->a[c + 1], &h->a[c])) c++;
    if (!before(&h->a[c], &x)) break;
    h->a[i] = h->a[c];
    i = c;
  }
  if (h->n) h->a[i] = x;
  return top;
}

/* ---- pairs created by one merge: key -> list of words -------------------- */

typedef struct {
  uint64_t key;
  uint32_t *pos;
  uint32_t n, cap;
} created;

typedef struct {
  created *c;
  size_t n, cap;
  uint32_t *slot; /* index + 1 */
  size_t mask;
} created_set;

static int cs_add(created_set *s, uint64_t key, uint32_t w) {
  size_t h = pm_hash(key) & s->mask;
  while (s->slot[h] && s->c[s->slot[h] - 1].key != key) h = (h + 1) & s->mask;
  if (!s->slot[h]) {
    if ((s->n + 1) * 2 > s->mask + 1) { /* grow and re-slot */
      size_t m = (s->mask + 1) * 2;
      uint32_t *ns = calloc(m, sizeof *ns);
      if (!ns) return -TM_ENOMEM;
      free(s->slot);
      s->slot = ns, s->mask = m - 1;
      for (size_t i = 0; i < s->n; i++) {
        size_t j = pm_hash(s->c[i].key) & s->mask;
        while (s->slot[j]) j = (j + 1) & s->mask;
        s->slot[j] = (uint32_t)(i + 1);
      }
      return cs_add(s, key, w);
    }
    if (s->n == s->cap) {
      size_t cap = s->cap ? s->cap * 2 : 256;
      created *c = realloc(s->c, cap * sizeof *c);
      if (!c) return -TM_ENOMEM;
      memset(c + s->cap, 0, (cap - s->cap) * sizeof *c);
      s->c = c, s->cap = cap;
    }
    s->c[s->n].key = key; /* a reused record keeps its list buffer */
    s->c[s->n].n = 0;
    s->slot[h] = (uint32_t)++s->n;
  }
  created *c = &s->c[s->slot[h] - 1];
  if (c->n && c->pos[c->n - 1] == w) return 0; /* a set: words come in order */
  if (c->n == c->cap) {
    uint32_t cap = c->cap ? c->cap * 2 : 4;
    uint32_t *p = realloc(c->pos, cap * sizeof *p);
    if (!p) return -TM_ENOMEM;
    c->pos = p, c->cap = cap;
  }
  c->pos[c->n++] = w;
  return 0;
}

static void cs_reset(created_set *s) {
  for (size_t i = 0; i < s->n; i++) {
    size_t h = pm_hash(s->c[i].key) & s->mask;
    while (s->slot[h] != i + 1) h = (h + 1) & s->mask;
    s->slot[h] = 0;
  }
  s->n = 0;
}

/* ---- the trainer ---------------------------------------------------------- */

typedef struct {
  /* tokens: bytes in an arena */
  uint8_t *tb;
  size_t tb_len, tb_cap;
  uint64_t *toff; /* n + 1 */
  uint8_t *special;
  uint32_t n, cap;
  uint32_t *vmap; /* bytes of non-special tokens -> id + 1 */
  size_t vmask;
  uint32_t (*merges)[2];
  uint32_t n_merges, merges_cap;
} vocab;

static int64_t v_find(const vocab *v, const uint8_t *b, size_t n) {
  size_t h = XXH3_64bits(b, n) & v->vmask;
  for (; v->vmap[h]; h = (h + 1) & v->vmask) {
    uint32_t id = v->vmap[h] - 1;
    if (v->toff[id + 1] - v->toff[id] == n && !memcmp(v->tb + v->toff[id], b, n)) return id;
  }
  return -1;
}

static int v_add(vocab *v, const uint8_t *b, size_t n, int special) {
  if (v->n + 1 >= v->cap) {
    uint32_t cap = v->cap ? v->cap * 2 : 1024;
    uint64_t *o = realloc(v->toff, (cap + 1) * sizeof *o);
    if (o) v->toff = o;
    uint8_t *s = realloc(v->special, cap);
    if (s) v->special = s;
    if (!o || !s) return -TM_ENOMEM;
    v->cap = cap;
  }
  if (v->tb_cap - v->tb_len < n) {
    size_t cap = v->tb_cap ? v->tb_cap : 65536;
    while (cap - v->tb_len < n) cap *= 2;
    uint8_t *p = realloc(v->tb, cap);
    if (!p) return -TM_ENOMEM;
    v->tb = p, v->tb_cap = cap;
  }
  if (!v->n) v->toff[0] = 0;
  memcpy(v->tb + v->tb_len, b, n);
  v->tb_len += n;
  v->special[v->n] = (uint8_t)special;
  v->toff[++v->n] = v->tb_len;
  if (!special) {
    if ((size_t)v->n * 2 > v->vmask + 1) {
      size_t m = (v->vmask + 1) * 2;
      uint32_t *ns = calloc(m, sizeof *ns);
      if (!ns) return -TM_ENOMEM;
      free(v->vmap);
      v->vmap = ns, v->vmask = m - 1;
      for (uint32_t id = 0; id < v->n; id++) {
        if (v->special[id]) continue;
        size_t h = XXH3_64bits(v->tb + v->toff[id], v->toff[id + 1] - v->toff[id]) & v->vmask;
        while (v->vmap[h]) h = (h + 1) & v->vmask;
        v->vmap[h] = id + 1;
      }
    } else {
      size_t h = XXH3_64bits(b, n) & v->vmask;
      while (v->vmap[h]) h = (h + 1) & v->vmask;
      v->vmap[h] = v->n;
    }
  }
  return 0;
}

typedef struct {
  vocab v;
  uint32_t *sym;      /* all words' symbols */
  uint64_t *wstart;   /* per word */
  uint32_t *wlen;
  uint64_t *wcount;
  size_t nw;
  pair_map pc;
  heap h;
  created_set cs;
  uint32_t *initial_pos;
} trainer;

static void trainer_free(trainer *t) {
  free(t->v.tb), free(t->v.toff), free(t->v.special), free(t->v.vmap), free(t->v.merges);
  free(t->sym), free(t->wstart), free(t->wlen), free(t->wcount);
  pm_free(&t->pc);
  for (size_t i = 0; i < t->h.n; i++)
    if (t->h.a[i].owned) free(t->h.a[i].pos);
  free(t->h.a);
  for (size_t i = 0; i < t->cs.cap; i++) free(t->cs.c ? t->cs.c[i].pos : NULL);
  free(t->cs.c), free(t->cs.slot);
  free(t->initial_pos);
}

/* change the count of pair (a, b) by delta occurrences in word w */
static int change(trainer *t, uint32_t a, uint32_t b, int delta, uint32_t w) {
  uint64_t key = (uint64_t)a << 32 | b;
  size_t s = pm_slot(&t->pc, key);
  if (s == SIZE_MAX) return -TM_ENOMEM;
  t->pc.vals[s] += delta * (int64_t)t->wcount[w];
  if (delta > 0) return cs_add(&t->cs, key, w);
  return 0;
}

/* HF's Word::merge: left to right, non-overlapping, in place. */
static int merge_word(trainer *t, uint32_t w, uint32_t l, uint32_t r, uint32_t nw) {
  uint32_t *s = t->sym + t->wstart[w];
  uint32_t n = t->wlen[w], ri = 0, wi = 0;
  while (ri < n) {
    if (s[ri] == l && ri + 1 < n && s[ri + 1] == r) {
      if (wi > 0 && (change(t, s[wi - 1], l, -1, w) < 0 || change(t, s[wi - 1], nw, 1, w) < 0))
        return -TM_ENOMEM;
      s[wi++] = nw;
      ri += 2;
      if (ri < n && (change(t, r, s[ri], -1, w) < 0 || change(t, nw, s[ri], 1, w) < 0))
        return -TM_ENOMEM;
    } else {
      s[wi++] = s[ri++];
    }
  }
  t->wlen[w] = wi;
  return 0;
}

int tm_bpe_train(tm_bpe_words *words, const tm_bpe_train_opts *o, tm_tokenizer **out,
                 tm_bpe_train_stats *stats, tm_error *err) {
  *out = NULL;
  trainer t;
  memset(&t, 0, sizeof t);
  int rc = -TM_ENOMEM;
  if (tm_bpe_words_sort(words) < 0) return tm_err(err, TM_ENOMEM, "bpe train: out of memory");
  t.nw = tm_bpe_words_count(words);
  if (t.nw >= UINT32_MAX) return tm_err(err, TM_ELIMIT, "bpe train: too many words (%zu)", t.nw);
  t.v.vmask = 1023;
  t.v.vmap = calloc(t.v.vmask + 1, sizeof *t.v.vmap);
  t.cs.mask = 1023;
  t.cs.slot = calloc(t.cs.mask + 1, sizeof *t.cs.slot);
  if (!t.v.vmap || !t.cs.slot || pm_init(&t.pc, 1024) < 0) goto oom;

  /* 1. special tokens */
  for (int i = 0; i < o->n_special; i++) {
    const char *s = o->special_tokens[i];
    if (!*s) {
      rc = tm_err(err, TM_EINVAL, "bpe train: special token %d is empty", i);
      goto fail;
    }
    for (int j = 0; j < i; j++)
      if (!strcmp(o->special_tokens[j], s)) {
        rc = tm_err(err, TM_EINVAL, "bpe train: special token \"%s\" given twice", s);
        goto fail;
      }
    if (v_add(&t.v, (const uint8_t *)s, strlen(s), 1) < 0) goto oom;
  }
  /* 2. the alphabet, by the code point that spells each byte */
  uint64_t total_syms = 0;
  uint8_t seen[256] = {0};
  for (size_t i = 0; i < t.nw; i++) {
    size_t len;
    uint64_t c;
    const uint8_t *p = tm_bpe_words_get(words, i, &len, &c);
    total_syms += len;
    for (size_t k = 0; k < len; k++) seen[p[k]] = 1;
  }
  int32_t byte_id[256];
  for (int b = 0; b < 256; b++) byte_id[b] = -1;
  for (uint32_t cp = 0; cp <= 0x143; cp++) {
    int b = tm_bytelevel_byte(cp);
    if (b < 0 || (o->alphabet == TM_BPE_ALPHABET_SEEN && !seen[b])) continue;
    uint8_t one = (uint8_t)b;
    byte_id[b] = (int32_t)t.v.n;
    if (v_add(&t.v, &one, 1, 0) < 0) goto oom;
  }
  /* 3. words as symbol runs */
  t.sym = malloc((total_syms + 1) * sizeof *t.sym);
  t.wstart = malloc((t.nw + 1) * sizeof *t.wstart);
  t.wlen = malloc((t.nw + 1) * sizeof *t.wlen);
  t.wcount = malloc((t.nw + 1) * sizeof *t.wcount);
  if (!t.sym || !t.wstart || !t.wlen || !t.wcount) goto oom;
  uint64_t off = 0, windows = 0;
  for (size_t i = 0; i < t.nw; i++) {
    size_t len;
    uint64_t c;
    const uint8_t *p = tm_bpe_words_get(words, i, &len, &c);
    if (len >= UINT32_MAX) {
      rc = tm_err(err, TM_ELIMIT, "bpe train: word %zu is too long (%zu bytes)", i, len);
      goto fail;
    }
    t.wstart[i] = off;
    t.wlen[i] = (uint32_t)len;
    t.wcount[i] = c;
    for (size_t k = 0; k < len; k++) t.sym[off + k] = (uint32_t)byte_id[p[k]];
    off += len;
    if (len > 1) windows += len - 1;
  }
  /* 4. pair counts, and for every pair the words that hold it, as lists
   * in one array (counting sort by pair slot: words are visited in order,
   * so each list is sorted and a repeat is its last element) */
  for (size_t i = 0; i < t.nw; i++) {
    const uint32_t *s = t.sym + t.wstart[i];
    for (uint32_t k = 0; k + 1 < t.wlen[i]; k++) {
      size_t slot = pm_slot(&t.pc, (uint64_t)s[k] << 32 | s[k + 1]);
      if (slot == SIZE_MAX) goto oom;
      t.pc.vals[slot] += (int64_t)t.wcount[i];
    }
  }
  /* every pair is in the table now: slots no longer move */
  size_t nslots = t.pc.mask + 1;
  uint64_t *start = calloc(nslots + 1, sizeof *start);
  if (!start) goto oom;
  for (size_t i = 0; i < t.nw; i++) {
    const uint32_t *s = t.sym + t.wstart[i];
    for (uint32_t k = 0; k + 1 < t.wlen[i]; k++)
      start[pm_find(&t.pc, (uint64_t)s[k] << 32 | s[k + 1]) + 1]++;
  }
  for (size_t i = 0; i < nslots; i++) start[i + 1] += start[i];
  t.initial_pos = malloc((windows + 1) * sizeof *t.initial_pos);
  uint64_t *fill = malloc((nslots + 1) * sizeof *fill);
  if (!t.initial_pos || !fill) {
    free(start), free(fill);
    goto oom;
  }
  memcpy(fill, start, nslots * sizeof *fill);
  for (size_t i = 0; i < t.nw; i++) {
    const uint32_t *s = t.sym + t.wstart[i];
    for (uint32_t k = 0; k + 1 < t.wlen[i]; k++) {
      size_t slot = pm_find(&t.pc, (uint64_t)s[k] << 32 | s[k + 1]);
      if (fill[slot] == start[slot] || t.initial_pos[fill[slot] - 1] != (uint32_t)i)
        t.initial_pos[fill[slot]++] = (uint32_t)i;
    }
  }
  for (size_t slot = 0; slot < nslots; slot++) {
    if (t.pc.keys[slot] == UINT64_MAX || t.pc.vals[slot] <= 0) continue;
    if (heap_push(&t.h, (entry){t.pc.vals[slot], t.pc.keys[slot], t.initial_pos + start[slot],
                                (uint32_t)(fill[slot] - start[slot]), 0}) < 0) {
      free(start), free(fill);
      goto oom;
    }
  }
  free(start), free(fill);

  /* 5. merges */
  uint8_t *buf = NULL;
  size_t buf_cap = 0;
  while (t.v.n < o->vocab_size && t.h.n) {
    entry top = heap_pop(&t.h);
    int64_t cur = pm_get(&t.pc, top.key);
    if (top.count != cur) {
      top.count = cur;
      if (heap_push(&t.h, top) < 0) goto oom_buf;
      continue;
    }
    if (top.count < 1 || (uint64_t)top.count < o->min_frequency) {
      if (top.owned) free(top.pos);
      break;
    }
    uint32_t l = (uint32_t)(top.key >> 32), r = (uint32_t)top.key;
    size_t nl = t.v.toff[l + 1] - t.v.toff[l], nr = t.v.toff[r + 1] - t.v.toff[r];
    if (buf_cap < nl + nr) {
      uint8_t *p = realloc(buf, nl + nr);
      if (!p) goto oom_top;
      buf = p, buf_cap = nl + nr;
    }
    memcpy(buf, t.v.tb + t.v.toff[l], nl);
    memcpy(buf + nl, t.v.tb + t.v.toff[r], nr);
    int64_t nid = v_find(&t.v, buf, nl + nr);
    if (nid < 0) {
      nid = t.v.n;
      if (v_add(&t.v, buf, nl + nr, 0) < 0) goto oom_top;
    }
    if (t.v.n_merges == t.v.merges_cap) {
      uint32_t cap = t.v.merges_cap ? t.v.merges_cap * 2 : 1024;
      uint32_t(*m)[2] = realloc(t.v.merges, cap * sizeof *m);
      if (!m) goto oom_top;
      t.v.merges = m, t.v.merges_cap = cap;
    }
    t.v.merges[t.v.n_merges][0] = l, t.v.merges[t.v.n_merges][1] = r;
    t.v.n_merges++;
    for (uint32_t k = 0; k < top.npos; k++)
      if (merge_word(&t, top.pos[k], l, r, (uint32_t)nid) < 0) goto oom_top;
    if (top.owned) free(top.pos);
    for (size_t k = 0; k < t.cs.n; k++) {
      created *c = &t.cs.c[k];
      int64_t cnt = pm_get(&t.pc, c->key);
      if (cnt > 0) {
        if (heap_push(&t.h, (entry){cnt, c->key, c->pos, c->n, 1}) < 0) goto oom_buf;
        c->pos = NULL, c->cap = 0; /* the entry owns the list now */
      }
      c->n = 0;
    }
    cs_reset(&t.cs);
    continue;
  oom_top:
    if (top.owned) free(top.pos);
    goto oom_buf;
  }
  free(buf);

  /* 6. the tokenizer */
  {
    const uint8_t **toks = malloc((t.v.n + 1) * sizeof *toks);
    uint32_t *lens = malloc((t.v.n + 1) * sizeof *lens);
    if (!toks || !lens) {
      free(toks), free(lens);
      goto oom;
    }
    for (uint32_t i = 0; i < t.v.n; i++) {
      toks[i] = t.v.tb + t.v.toff[i];
      lens[i] = (uint32_t)(t.v.toff[i + 1] - t.v.toff[i]);
    }
    tm_tokenizer_def def = {.pattern = o->pattern, .n_tokens = t.v.n, .tokens = toks,
                            .token_len = lens, .special = t.v.special,
                            .n_merges = t.v.n_merges,
                            .merges = (const uint32_t(*)[2])t.v.merges};
    rc = tm_tokenizer_new(out, &def, err);
    free(toks), free(lens);
    if (rc < 0) goto fail;
  }
  if (stats) {
    stats->words = t.nw;
    stats->merges = t.v.n_merges;
    stats->vocab_size = t.v.n;
    stats->peak_heap = t.h.peak;
  }
  trainer_free(&t);
  return 0;
oom_buf:
  free(buf);
oom:
  rc = tm_err(err, TM_ENOMEM, "bpe train: out of memory");
fail:
  trainer_free(&t);
  return rc;
}
