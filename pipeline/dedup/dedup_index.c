/* dedup_index.c - exact and LSH tables over the signature store; see dedup_index.h. */
#include "dedup_index.h"

#include <stdlib.h>
#include <string.h>

#include "lsh_table.h"
#include "minhash.h"
#include "sig_store.h"

#define INITIAL_CAP 65536u

struct tm_dedup_index {
  tm_dedup_index_opts o;
  tm_sig_store *st;
  int nt;           /* tables: [0] exact, [1..bands] bands */
  tm_lsh_table t[TM_DEDUP_MAX_BANDS + 1];
  uint64_t cap[2];  /* slots per table: [0] the exact table, [1] each band table */
  uint32_t floor;   /* refs below it were evicted from the tables */
  uint64_t candidates, false_candidates;
  uint32_t *no_sig; /* k x 0xFFFFFFFF: the record of a document without shingles */
  uint32_t *wide;   /* k: a stored signature widened for tm_minhash_band_keys */
  uint64_t *bkeys;  /* TM_DEDUP_PREFETCH_AHEAD x nt keys: the ring of pipeline() */
};

/* The checkpoint block: the index's own state, then the caller's. */
typedef struct persisted {
  uint64_t floor;
} persisted;

/* RAM of one table of cap slots. */
static uint64_t table_bytes(uint64_t cap) {
  return sizeof(uint64_t) * (cap + TM_LSH_SPARE + TM_LSH_PAD);
}

/* RAM of the exact table at cap0 slots and the band tables at cap1 each. */
static uint64_t tables_bytes(const tm_dedup_index_opts *o, uint64_t cap0, uint64_t cap1) {
  return table_bytes(cap0) + (uint64_t)o->bands * table_bytes(cap1);
}

/* The most slots per table of group g (0 exact, 1 bands) for which all the
 * tables fit the budget, the other group having `other` slots per table. */
static uint64_t max_cap(const tm_dedup_index_opts *o, int g, uint64_t other) {
  uint64_t n = g ? (uint64_t)o->bands : 1, taken = g ? table_bytes(other)
                                                    : (uint64_t)o->bands * table_bytes(other);
  if (taken >= o->ram_budget) return 0;
  uint64_t c = (o->ram_budget - taken) / (n * sizeof(uint64_t));
  c = c > TM_LSH_SPARE + TM_LSH_PAD ? c - TM_LSH_SPARE - TM_LSH_PAD : 0;
  return c > ((uint64_t)1 << 32) ? (uint64_t)1 << 32 : c;
}

/* The tables a document is in: a document with a signature in the band
 * tables only (an exact copy has the same signature, so its original is a
 * band candidate, confirmed by the exact hash in its record: see
 * find_near), one without (no shingles, or near-duplicate detection off) in
 * the exact table only. One table line fewer per document than keeping
 * every document in the exact table as well (1 of 15 random lines). */
static void tables_of(const tm_dedup_index *x, int with_bands, int *first, int *end) {
  *first = with_bands ? 1 : 0;
  *end = with_bands ? x->nt : 1;
}

/* Grow the tables of group g (0: the exact table, 1: the band tables) by
 * 1.3x when the budget allows (the most that keeps a grown table within
 * 200 bytes per document at the defaults: 14 * 8 / (0.75 / 1.3) = 194, plus
 * buffers; 1.25x measured 12% slower at 10 M documents, more growth passes
 * at a higher mean load), else evict the oldest quarter of the
 * indexed documents from all tables. Called when a table of group g is
 * full. */
static int make_room(tm_dedup_index *x, int g, tm_error *err) {
  uint64_t c[2] = {x->cap[0], x->cap[1]};
  uint64_t new_cap = c[g] + c[g] * 3 / 10;
  c[g] = new_cap;
  /* one old table of the group: the transient of growing them one by one */
  if (tables_bytes(&x->o, c[0], c[1]) + table_bytes(x->cap[g]) <= x->o.ram_budget &&
      new_cap <= ((uint64_t)1 << 32)) {
    int first, end;
    tables_of(x, g, &first, &end);
    tm_lsh_spare sp = {NULL, 0};
    for (int i = first; i < end; i++)
      if (tm_lsh_table_grow_with(&x->t[i], new_cap, &sp) < 0) {
        /* an error the driver stops on; the records on disk are intact */
        tm_lsh_spare_free(&sp);
        return tm_err(err, TM_ENOMEM, "dedup index: growing a table to %llu slots",
                      (unsigned long long)new_cap);
      }
    tm_lsh_spare_free(&sp);
    x->cap[g] = new_cap;
    return 0;
  }
  uint64_t count = tm_sig_store_count(x->st);
  uint64_t nf = x->floor + (count - x->floor + 3) / 4;
  x->floor = (uint32_t)nf;
  for (int i = 0; i < x->nt; i++) tm_lsh_table_evict_below(&x->t[i], x->floor);
  return 0;
}

/* Insert into one table; a run that reaches the table's spare slots (never
 * seen at load <= 0.75, but possible) makes room and tries once more. */
static int insert_one(tm_dedup_index *x, int t, uint64_t key, uint32_t ref, tm_error *err) {
  if (tm_lsh_table_insert(&x->t[t], key, ref) == 0) return 0;
  int rc = make_room(x, t > 0, err);
  if (rc < 0) return rc;
  if (ref < x->floor || tm_lsh_table_insert(&x->t[t], key, ref) == 0) return 0;
  return tm_err(err, TM_ELIMIT, "dedup index: table %d overflows its spare slots", t);
}

static int index_keys(tm_dedup_index *x, const uint64_t *keys, uint32_t ref, int with_bands,
                      tm_error *err) {
  int first, end;
  tables_of(x, with_bands, &first, &end);
  if (tm_lsh_table_full(&x->t[first])) { /* the band tables fill alike */
    int rc = make_room(x, with_bands, err);
    if (rc < 0) return rc;
  }
  int rc = 0;
  for (int t = first; rc == 0 && t < end; t++)
    if (ref >= x->floor) rc = insert_one(x, t, keys[t], ref, err); /* else evicted at once */
  return rc;
}

/* The table keys of a document: keys[0] its exact hash, keys[1..bands] its
 * band keys (none when sig is NULL). */
static void keys_of(const tm_dedup_index *x, const uint64_t exact[2], const uint32_t *sig,
                    uint64_t *keys) {
  keys[0] = exact[0];
  if (sig) tm_minhash_band_keys(sig, x->o.bands, x->o.rows, keys + 1);
}

/* Ask for the table lines of those keys (before a lookup a few documents
 * later). */
static void prefetch_keys(const tm_dedup_index *x, const uint64_t *keys, int with_bands) {
  int first, end;
  tables_of(x, with_bands, &first, &end);
  for (int t = first; t < end; t++) tm_lsh_table_prefetch(&x->t[t], keys[t]);
}

/* Half way to its turn (SPILL_AHEAD documents before it, its home lines
 * asked for TM_DEDUP_PREFETCH_AHEAD - SPILL_AHEAD documents earlier and
 * arrived by then), a document whose home line is full gets the next line
 * asked for as well: its insert (and a lookup whose run of smaller
 * fingerprints fills the line) goes on there. Without this that line was a
 * demand miss the core waited for: 3.8% of inserts at 10 M documents in
 * tables presized for them, 21.5% with tables grown on the way (load 0.6 to
 * 0.75); with it, the index alone (records not written, tests/bench/dedup
 * built without the store) measured 13.8-14.8 s against 15.6-16.3 s grown,
 * best of 3 presized 5.93 s against 6.49 s. */
#define SPILL_AHEAD 2
static void prefetch_spills(const tm_dedup_index *x, const uint64_t *keys, int with_bands) {
  int first, end;
  tables_of(x, with_bands, &first, &end);
  for (int t = first; t < end; t++) tm_lsh_table_prefetch_spill(&x->t[t], keys[t]);
}

/* The pipeline of tm_dedup_index_process_batch and of the rebuild at open:
 * the table keys of item i are computed and their lines asked for
 * TM_DEDUP_PREFETCH_AHEAD items before item i is processed (looked up and
 * inserted), so the cache misses of several items overlap, and the next
 * line of a full home line is asked for SPILL_AHEAD items before (see
 * prefetch_spills). keys_at fills keys for item i and returns 1 when the
 * item has band keys, 0 when not, or a negative TM_E* code; process handles
 * item i with them. Items [from, n), in order; the first error stops it
 * (items after the failed one are not processed). */
typedef int (*keys_fn)(tm_dedup_index *x, void *ctx, uint64_t i, uint64_t *keys, tm_error *err);
typedef int (*process_fn)(tm_dedup_index *x, void *ctx, uint64_t i, const uint64_t *keys,
                          int bands, tm_error *err);
static int pipeline(tm_dedup_index *x, uint64_t from, uint64_t n, keys_fn keys_at,
                    process_fn process, void *ctx, tm_error *err) {
  enum { A = TM_DEDUP_PREFETCH_AHEAD };
  _Static_assert(SPILL_AHEAD > 0 && SPILL_AHEAD < TM_DEDUP_PREFETCH_AHEAD, "a ring slot");
  const size_t nk = (size_t)x->nt;
  int bands[A];
  for (uint64_t i = from; i < n + A; i++) {
    if (i >= from + A) { /* process item i - A: its ring slot is then free for item i */
      uint64_t j = i - A;
      int rc = process(x, ctx, j, x->bkeys + (j % A) * nk, bands[j % A], err);
      if (rc < 0) return rc;
    }
    if (i >= from + SPILL_AHEAD && i - SPILL_AHEAD < n) { /* processed SPILL_AHEAD items on */
      uint64_t j = i - SPILL_AHEAD;
      prefetch_spills(x, x->bkeys + (j % A) * nk, bands[j % A]);
    }
    if (i >= n) continue;
    uint64_t *keys = x->bkeys + (i % A) * nk;
    int b = keys_at(x, ctx, i, keys, err);
    if (b < 0) return b;
    prefetch_keys(x, keys, b);
    bands[i % A] = b;
  }
  return 0;
}

/* The rebuild's items: record i, its checksum verified; the stored bytes
 * are the ones band keys are made of. */
static int record_keys(tm_dedup_index *x, void *ctx, uint64_t i, uint64_t *keys, tm_error *err) {
  (void)ctx;
  if ((i - x->floor) % 65536 == 65535) tm_sig_store_release(x->st); /* a scan: keep RSS flat */
  tm_sig_record r;
  int rc = tm_sig_store_verify(x->st, i, &r, err);
  if (rc < 0) return rc;
  int b = !(r.flags & TM_SIG_FLAG_EMPTY);
  for (int c = 0; b && c < x->o.k; c++) x->wide[c] = r.sig[c];
  keys_of(x, r.exact, b ? x->wide : NULL, keys);
  return b;
}

static int record_index(tm_dedup_index *x, void *ctx, uint64_t i, const uint64_t *keys, int bands,
                        tm_error *err) {
  (void)ctx;
  return index_keys(x, keys, (uint32_t)i, bands, err);
}

/* The tables from the committed records above the eviction floor, in ref
 * order (pipelined: 10 M records took 9-14 s to re-index one demand miss
 * per table line at a time, 4.2-4.5 s so). */
static int rebuild(tm_dedup_index *x, tm_error *err) {
  return pipeline(x, x->floor, tm_sig_store_count(x->st), record_keys, record_index, NULL, err);
}

int tm_dedup_index_open(tm_dedup_index **out, const char *dir, const tm_dedup_index_opts *o,
                        void *user, size_t *user_len, tm_error *err) {
  *out = NULL;
  *user_len = 0;
  if (o->bands < 1 || o->rows < 1 || o->bands > TM_DEDUP_MAX_BANDS ||
      (int64_t)o->bands * o->rows > o->k)
    return tm_err(err, TM_EINVAL,
                  "dedup: bands (%d) x rows (%d) must be at most num_perm (%d), bands 1..%d",
                  o->bands, o->rows, o->k, TM_DEDUP_MAX_BANDS);
  if (tables_bytes(o, 64, 64) > o->ram_budget)
    return tm_err(err, TM_EINVAL, "dedup: ram_budget of %llu bytes is below the minimum %llu",
                  (unsigned long long)o->ram_budget,
                  (unsigned long long)tables_bytes(o, 64, 64));
  tm_dedup_index *x = calloc(1, sizeof *x);
  if (!x) return tm_err(err, TM_ENOMEM, "dedup index: out of memory");
  x->o = *o;
  x->nt = o->bands + 1;
  x->no_sig = malloc((size_t)o->k * sizeof *x->no_sig);
  x->wide = malloc((size_t)o->k * sizeof *x->wide);
  x->bkeys = malloc(TM_DEDUP_PREFETCH_AHEAD * (size_t)x->nt * sizeof *x->bkeys);
  if (!x->no_sig || !x->wide || !x->bkeys) {
    free(x->no_sig);
    free(x->wide);
    free(x->bkeys);
    free(x);
    return tm_err(err, TM_ENOMEM, "dedup index: out of memory");
  }
  memset(x->no_sig, 0xFF, (size_t)o->k * sizeof *x->no_sig);
  uint8_t blk[TM_SIG_USER_MAX];
  size_t blen = 0;
  int rc = tm_sig_store_open(&x->st, dir, o->k, o->params_hash, blk, &blen, err);
  if (rc < 0) goto fail;
  if (blen) {
    persisted p;
    if (blen < sizeof p || blen - sizeof p > TM_DEDUP_INDEX_USER_MAX) {
      rc = tm_err(err, TM_ECORRUPT, "%s/checkpoint: state block of %zu bytes", dir, blen);
      goto fail;
    }
    memcpy(&p, blk, sizeof p);
    if (p.floor > tm_sig_store_count(x->st)) {
      rc = tm_err(err, TM_ECORRUPT, "%s/checkpoint: eviction floor %llu past the %llu records",
                  dir, (unsigned long long)p.floor,
                  (unsigned long long)tm_sig_store_count(x->st));
      goto fail;
    }
    x->floor = (uint32_t)p.floor;
    memcpy(user, blk + sizeof p, blen - sizeof p);
    *user_len = blen - sizeof p;
  }
  /* The group that holds the documents (the band tables, or the exact table
   * when there are no signatures) gets room for what is indexed (at load
   * 0.6) or what the caller expects (at load 0.75), whichever is more; the
   * other INITIAL_CAP slots per table (both at least 64, within the budget;
   * each grows on its own when it fills). */
  int g = !o->exact_only;
  uint64_t live = tm_sig_store_count(x->st) - x->floor;
  uint64_t cap = live * 5 / 3 + 16;
  if (o->expected_docs / 3 * 4 + 16 > cap) cap = o->expected_docs / 3 * 4 + 16;
  if (cap < INITIAL_CAP) cap = INITIAL_CAP;
  uint64_t other = INITIAL_CAP;
  if (max_cap(o, g, other) < 64) other = 64;
  if (cap > max_cap(o, g, other)) cap = max_cap(o, g, other);
  if (other > cap) other = cap;
  x->cap[g] = cap;
  x->cap[!g] = other;
  for (int i = 0; i < x->nt; i++)
    if (tm_lsh_table_init(&x->t[i], x->cap[i > 0]) < 0) {
      rc = tm_err(err, TM_ENOMEM, "dedup index: %d tables of %llu slots", x->nt,
                  (unsigned long long)cap);
      goto fail;
    }
  if ((rc = rebuild(x, err)) < 0) goto fail;
  *out = x;
  return 0;
fail:
  tm_dedup_index_close(x);
  return rc;
}

void tm_dedup_index_close(tm_dedup_index *x) {
  if (!x) return;
  for (int i = 0; i < x->nt; i++) tm_lsh_table_free(&x->t[i]);
  tm_sig_store_close(x->st);
  free(x->no_sig);
  free(x->wide);
  free(x->bkeys);
  free(x);
}

static void set_exact(tm_dedup_match *m, uint32_t ref) {
  m->kind = TM_DEDUP_EXACT;
  m->ref = ref;
  m->similarity = 1.0;
}

/* Search table t's list under key for the record whose exact hash is
 * exact: the exact table's list (a document without a signature), or the
 * first band's (find_near, when more documents share it than were examined
 * as candidates: an exact copy's original is in every one of its band
 * lists). The whole list, however long. 1 when found (m filled), 0 when
 * not, or a negative TM_E* code. */
static int find_exact(tm_dedup_index *x, int t, uint64_t key, const uint64_t exact[2],
                      tm_dedup_match *m, tm_error *err) {
  uint32_t local[16], *refs = local;
  size_t n = tm_lsh_table_find(&x->t[t], key, refs, 16);
  if (n > 16) { /* a long list: all of it */
    if (!(refs = malloc(n * sizeof *refs)))
      return tm_err(err, TM_ENOMEM, "dedup index: out of memory");
    n = tm_lsh_table_find(&x->t[t], key, refs, n);
  }
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    tm_sig_record r;
    if ((rc = tm_sig_store_get(x->st, refs[i], &r, err)) < 0) break;
    if (r.exact[0] == exact[0] && r.exact[1] == exact[1]) {
      set_exact(m, refs[i]);
      rc = 1;
    }
  }
  if (refs != local) free(refs);
  return rc;
}

/* The band candidates of a document with a signature: an exact copy (when
 * exact_lookup: the record's exact hash equals the document's), else the
 * best near duplicate. As find_exact. */
static int find_near(tm_dedup_index *x, const uint64_t *keys, const uint32_t *sig,
                     const uint64_t exact[2], int exact_lookup, tm_dedup_match *m,
                     tm_error *err) {
  uint32_t cand[TM_DEDUP_MAX_CANDIDATES];
  size_t nc = 0;
  int cut = 0; /* a band list longer than the room left for candidates */
  for (int b = 1; b < x->nt; b++) {
    uint32_t refs[TM_DEDUP_MAX_CANDIDATES];
    size_t n = tm_lsh_table_find(&x->t[b], keys[b], refs, TM_DEDUP_MAX_CANDIDATES);
    if (n > TM_DEDUP_MAX_CANDIDATES) n = TM_DEDUP_MAX_CANDIDATES, cut = 1;
    for (size_t i = 0; i < n; i++) {
      size_t j = 0;
      while (j < nc && cand[j] != refs[i]) j++;
      if (j < nc) continue;
      if (nc == TM_DEDUP_MAX_CANDIDATES) {
        cut = 1;
        break;
      }
      cand[nc++] = refs[i];
    }
  }
  double best = -1.0;
  uint32_t best_ref = 0;
  for (size_t i = 0; i < nc; i++) {
    tm_sig_record r;
    int rc = tm_sig_store_get(x->st, cand[i], &r, err);
    if (rc < 0) return rc;
    if (exact_lookup && r.exact[0] == exact[0] && r.exact[1] == exact[1]) {
      set_exact(m, cand[i]);
      return 1;
    }
    double s = tm_minhash_similarity8(sig, r.sig, x->o.k);
    x->candidates++;
    if (s < x->o.threshold) x->false_candidates++;
    if (s > best || (s == best && cand[i] < best_ref)) best = s, best_ref = cand[i];
  }
  if (exact_lookup && cut) {
    int rc = find_exact(x, 1, keys[1], exact, m, err);
    if (rc != 0) return rc;
  }
  if (best >= x->o.threshold) {
    m->kind = TM_DEDUP_NEAR;
    m->ref = best_ref;
    m->similarity = best;
    return 1;
  }
  return 0;
}

/* tm_dedup_index_process with the document's keys computed (keys_of) and
 * their lines asked for (prefetch_keys) beforehand. */
static int process_keys(tm_dedup_index *x, const char *id, size_t id_len, const uint64_t exact[2],
                        int exact_lookup, const uint32_t *sig, const uint64_t *keys,
                        tm_dedup_match *m, tm_error *err) {
  m->kind = TM_DEDUP_UNIQUE;
  m->ref = 0;
  m->similarity = 0.0;
  int rc;
  if (sig) rc = find_near(x, keys, sig, exact, exact_lookup, m, err);
  else rc = exact_lookup ? find_exact(x, 0, keys[0], exact, m, err) : 0;
  if (rc != 0) return rc < 0 ? rc : 0;
  uint32_t ref = (uint32_t)tm_sig_store_count(x->st);
  rc = tm_sig_store_append(x->st, id, id_len, sig ? 0 : TM_SIG_FLAG_EMPTY, exact,
                           sig ? sig : x->no_sig, err);
  if (rc < 0) return rc;
  return index_keys(x, keys, ref, sig != NULL, err);
}

int tm_dedup_index_process(tm_dedup_index *x, const char *id, size_t id_len,
                           const uint64_t exact[2], int exact_lookup, const uint32_t *sig,
                           tm_dedup_match *m, tm_error *err) {
  uint64_t keys[TM_DEDUP_MAX_BANDS + 1];
  keys_of(x, exact, sig, keys);
  prefetch_keys(x, keys, sig != NULL);
  return process_keys(x, id, id_len, exact, exact_lookup, sig, keys, m, err);
}

/* The batch's items: the documents, judged in order. */
typedef struct batch {
  const tm_dedup_index_doc *docs;
  int exact_lookup;
  tm_dedup_match *m;
  size_t *done;
} batch;

static int doc_keys(tm_dedup_index *x, void *ctx, uint64_t i, uint64_t *keys, tm_error *err) {
  const tm_dedup_index_doc *d = &((batch *)ctx)->docs[i];
  (void)err;
  keys_of(x, d->exact, d->sig, keys);
  return d->sig != NULL;
}

static int doc_process(tm_dedup_index *x, void *ctx, uint64_t i, const uint64_t *keys, int bands,
                       tm_error *err) {
  batch *b = ctx;
  const tm_dedup_index_doc *d = &b->docs[i];
  (void)bands; /* d->sig says it */
  int rc = process_keys(x, d->id, d->id_len, d->exact, b->exact_lookup, d->sig, keys, &b->m[i],
                        err);
  if (rc == 0) *b->done = (size_t)i + 1;
  return rc;
}

int tm_dedup_index_process_batch(tm_dedup_index *x, const tm_dedup_index_doc *docs, size_t n,
                                 int exact_lookup, tm_dedup_match *m, size_t *done,
                                 tm_error *err) {
  batch b = {docs, exact_lookup, m, done};
  *done = 0;
  return pipeline(x, 0, n, doc_keys, doc_process, &b, err);
}

int64_t tm_dedup_index_id(const tm_dedup_index *x, uint32_t ref, char *buf, size_t cap,
                          tm_error *err) {
  return tm_sig_store_id(x->st, ref, buf, cap, err);
}

int tm_dedup_index_checkpoint(tm_dedup_index *x, const void *user, size_t user_len,
                              tm_error *err) {
  uint8_t blk[TM_SIG_USER_MAX];
  persisted p = {x->floor};
  if (user_len > TM_DEDUP_INDEX_USER_MAX)
    return tm_err(err, TM_EINVAL, "dedup checkpoint block of %zu bytes", user_len);
  memcpy(blk, &p, sizeof p);
  if (user_len) memcpy(blk + sizeof p, user, user_len);
  return tm_sig_store_commit(x->st, blk, sizeof p + user_len, err);
}

void tm_dedup_index_get_stats(const tm_dedup_index *x, tm_dedup_index_stats *st) {
  st->records = tm_sig_store_count(x->st);
  st->in_ram = st->records - x->floor;
  st->evicted = x->floor;
  st->table_bytes = tables_bytes(&x->o, x->cap[0], x->cap[1]);
  st->ram_bytes = st->table_bytes + tm_sig_store_ram_bytes(x->st);
  st->disk_bytes = tm_sig_store_disk_bytes(x->st);
  st->candidates = x->candidates;
  st->false_candidates = x->false_candidates;
}
