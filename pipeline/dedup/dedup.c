/* dedup.c - the dedup stage; see dedup.h. */
#include "dedup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL /* XXH3-128 of the normalised text with the build's vector units */
#include <xxhash.h>

#include "io.h"
#include "line_dedup.h"
#include "minhash.h"

const tm_config_key tm_dedup_config_keys[] = {
    {"dedup", "exact", TM_CFG_BOOL, "true", "drop documents whose normalised text hashes (XXH3-128) like an earlier one"},
    {"dedup", "near", TM_CFG_BOOL, "true", "drop near-duplicates found by MinHash-LSH"},
    {"dedup", "ngram", TM_CFG_INT, "5", "shingle width: words, or characters for CJK text"},
    {"dedup", "num_perm", TM_CFG_INT, "112", "MinHash signature length (permutations)"},
    {"dedup", "bands", TM_CFG_INT, "14", "LSH bands (bands x rows <= num_perm)"},
    {"dedup", "rows", TM_CFG_INT, "8", "LSH rows per band"},
    {"dedup", "threshold", TM_CFG_FLOAT, "0.75", "estimated Jaccard that confirms a band candidate as a duplicate"},
    {"dedup", "seed", TM_CFG_INT, "1", "seed of the permutations and shingle hashes (fixed for an index)"},
    {"dedup", "lowercase", TM_CFG_BOOL, "true", "normalisation: lowercase before shingling and exact hashing"},
    {"dedup", "strip_punctuation", TM_CFG_BOOL, "true", "normalisation: remove Unicode punctuation (P*)"},
    {"dedup", "normalize_digits", TM_CFG_BOOL, "true", "normalisation: every decimal digit becomes 0"},
    {"dedup", "cjk_fraction", TM_CFG_FLOAT, "0.3", "share of CJK letters above which a document is shingled by characters"},
    {"dedup", "ram_budget", TM_CFG_SIZE, "4G", "bytes for the in-RAM index tables; past it the oldest quarter is evicted"},
    {"dedup", "expected_docs", TM_CFG_INT, "0", "size the index tables for this many documents up front (0: start small and grow by 1.3x; presized tables index about twice as fast, grown ones stay 58-75% full)"},
    {"dedup", "line_dedup", TM_CFG_BOOL, "false", "remove lines seen more than line_max_repeats times from later documents (cc_net)"},
    {"dedup", "line_max_repeats", TM_CFG_INT, "3", "a line already seen this many times is removed"},
    {"dedup", "line_min_bytes", TM_CFG_INT, "16", "lines shorter than this (trimmed) are never removed"},
    {"dedup", "line_budget", TM_CFG_SIZE, "256M", "bytes for the line table (12 per line); past it lines seen once are forgotten"},
    {.key = NULL},
};

struct tm_dedup_worker {
  const tm_dedup *d;
  tm_shingler *sh;
};

struct tm_dedup {
  tm_dedup_params p;
  tm_dedup_worker *w; /* for tm_dedup_process */
  tm_minhash mh;      /* read-only after open: shared by the workers */
  tm_dedup_index *ix;
  uint32_t *sig;
  tm_dedup_stats st;
  char *dup_id; /* id of the last duplicate's original */
  size_t dup_cap;
  uint64_t token; /* of the last checkpoint */
  tm_line_dedup *ld;
  char *lbuf;     /* text after line removal */
  size_t lcap;
  uint64_t lines_gen; /* generation of DIR/lines.N in the last checkpoint */
  char *dir;
  /* tm_dedup_commit_batch */
  tm_dedup_index_doc *bdocs;
  tm_dedup_match *bm;
  size_t *boff;   /* where each duplicate_of starts in bids */
  size_t bcap;
  char *bids;     /* the batch's duplicate_of strings, NUL-separated */
  size_t bids_cap;
};

/* The stage's block in the index checkpoint. */
typedef struct persisted {
  uint64_t token, lines_gen;
} persisted;

void tm_dedup_params_default(tm_dedup_params *p) {
  memset(p, 0, sizeof *p);
  p->exact = 1;
  p->near = 1;
  tm_shingle_opts_default(&p->shingle);
  p->num_perm = 112;
  p->bands = 14;
  p->rows = 8;
  p->threshold = 0.75;
  p->seed = 1;
  p->ram_budget = (uint64_t)4 << 30;
  p->line_dedup = 0;
  p->line_max_repeats = 3;
  p->line_min_bytes = 16;
  p->line_budget = (uint64_t)256 << 20;
}

int tm_dedup_params_from_config(const tm_config *c, tm_dedup_params *p, tm_error *err) {
  tm_dedup_params_default(p);
  p->exact = tm_config_bool(c, "dedup", "exact");
  p->near = tm_config_bool(c, "dedup", "near");
  int64_t ngram = tm_config_int(c, "dedup", "ngram");
  int64_t k = tm_config_int(c, "dedup", "num_perm");
  int64_t bands = tm_config_int(c, "dedup", "bands");
  int64_t rows = tm_config_int(c, "dedup", "rows");
  p->threshold = tm_config_float(c, "dedup", "threshold");
  p->seed = (uint64_t)tm_config_int(c, "dedup", "seed");
  p->shingle.lowercase = tm_config_bool(c, "dedup", "lowercase");
  p->shingle.strip_punct = tm_config_bool(c, "dedup", "strip_punctuation");
  p->shingle.normalize_digits = tm_config_bool(c, "dedup", "normalize_digits");
  p->shingle.cjk_fraction = tm_config_float(c, "dedup", "cjk_fraction");
  p->ram_budget = tm_config_size(c, "dedup", "ram_budget");
  int64_t expect = tm_config_int(c, "dedup", "expected_docs");
  if (expect < 0)
    return tm_err(err, TM_EINVAL, "[dedup] expected_docs = %lld: must be >= 0", (long long)expect);
  p->expected_docs = (uint64_t)expect;
  p->line_dedup = tm_config_bool(c, "dedup", "line_dedup");
  int64_t rep = tm_config_int(c, "dedup", "line_max_repeats");
  int64_t minb = tm_config_int(c, "dedup", "line_min_bytes");
  p->line_budget = tm_config_size(c, "dedup", "line_budget");
  if (rep < 1 || rep > 1000000)
    return tm_err(err, TM_EINVAL, "[dedup] line_max_repeats = %lld: must be 1..1000000",
                  (long long)rep);
  if (minb < 0 || minb > 1000000)
    return tm_err(err, TM_EINVAL, "[dedup] line_min_bytes = %lld: must be 0..1000000",
                  (long long)minb);
  if (p->line_budget < 4096)
    return tm_err(err, TM_EINVAL, "[dedup] line_budget = %llu: at least 4096 bytes",
                  (unsigned long long)p->line_budget);
  p->line_max_repeats = (int)rep;
  p->line_min_bytes = (int)minb;
  if (ngram < 1 || ngram > 64)
    return tm_err(err, TM_EINVAL, "[dedup] ngram = %lld: must be 1..64", (long long)ngram);
  if (k < 1 || k > 4096)
    return tm_err(err, TM_EINVAL, "[dedup] num_perm = %lld: must be 1..4096", (long long)k);
  if (bands < 1 || bands > TM_DEDUP_MAX_BANDS || rows < 1 || bands * rows > k)
    return tm_err(err, TM_EINVAL,
                  "[dedup] bands = %lld, rows = %lld: need 1 <= bands <= %d and bands x rows "
                  "<= num_perm (%lld)",
                  (long long)bands, (long long)rows, TM_DEDUP_MAX_BANDS, (long long)k);
  if (!(p->threshold > 0.0 && p->threshold <= 1.0))
    return tm_err(err, TM_EINVAL, "[dedup] threshold = %g: must be in (0, 1]", p->threshold);
  if (!(p->shingle.cjk_fraction >= 0.0 && p->shingle.cjk_fraction <= 1.0))
    return tm_err(err, TM_EINVAL, "[dedup] cjk_fraction = %g: must be in [0, 1]",
                  p->shingle.cjk_fraction);
  p->shingle.ngram = (int)ngram;
  p->num_perm = (int)k;
  p->bands = (int)bands;
  p->rows = (int)rows;
  return 0;
}

uint64_t tm_dedup_params_hash(const tm_dedup_params *p) {
  char buf[256];
  int n = snprintf(buf, sizeof buf, "minhash-mulshift52 k=%d seed=%llu ngram=%d lc=%d punct=%d "
                   "digits=%d cjk=%.6f",
                   p->num_perm, (unsigned long long)p->seed, p->shingle.ngram,
                   p->shingle.lowercase, p->shingle.strip_punct, p->shingle.normalize_digits,
                   p->shingle.cjk_fraction);
  return XXH3_64bits(buf, (size_t)n);
}

const char *tm_dedup_kind_name(tm_dedup_kind k) {
  switch (k) {
  case TM_DEDUP_EXACT: return "exact";
  case TM_DEDUP_NEAR: return "near";
  case TM_DEDUP_LINES: return "lines";
  default: return "unique";
  }
}

int tm_dedup_open(tm_dedup **out, const tm_dedup_params *p, const char *index_dir,
                  tm_error *err) {
  *out = NULL;
  tm_dedup *d = calloc(1, sizeof *d);
  if (!d) return tm_err(err, TM_ENOMEM, "dedup: out of memory");
  d->p = *p;
  d->p.shingle.seed = p->seed;
  int rc;
  d->sig = malloc((size_t)p->num_perm * sizeof *d->sig);
  d->dup_cap = 256;
  d->dup_id = malloc(d->dup_cap);
  d->w = tm_dedup_worker_new(d);
  if (!d->w || !d->sig || !d->dup_id || tm_minhash_init(&d->mh, p->num_perm, p->seed) < 0) {
    rc = tm_err(err, TM_ENOMEM, "dedup: out of memory");
    goto fail;
  }
  tm_dedup_index_opts o = {.k = p->num_perm,
                           .bands = p->bands,
                           .rows = p->rows,
                           .threshold = p->threshold,
                           .ram_budget = p->ram_budget,
                           .expected_docs = p->expected_docs,
                           .exact_only = !p->near,
                           .params_hash = tm_dedup_params_hash(&d->p)};
  char user[TM_DEDUP_INDEX_USER_MAX];
  size_t ulen;
  if ((rc = tm_dedup_index_open(&d->ix, index_dir, &o, user, &ulen, err)) < 0) goto fail;
  persisted st = {0, 0};
  if (ulen == sizeof st) memcpy(&st, user, sizeof st);
  else if (ulen) {
    rc = tm_err(err, TM_ECORRUPT, "%s/checkpoint: stage block of %zu bytes", index_dir, ulen);
    goto fail;
  }
  d->token = st.token;
  d->lines_gen = st.lines_gen;
  if (!(d->dir = strdup(index_dir))) {
    rc = tm_err(err, TM_ENOMEM, "dedup: out of memory");
    goto fail;
  }
  if (p->line_dedup) {
    d->ld = tm_line_dedup_new((uint32_t)p->line_max_repeats, (size_t)p->line_min_bytes,
                              p->line_budget);
    if (!d->ld) {
      rc = tm_err(err, TM_EINVAL, "dedup: line table (line_budget %llu)",
                  (unsigned long long)p->line_budget);
      goto fail;
    }
    if (d->lines_gen && (rc = tm_line_dedup_load(d->ld, index_dir, d->lines_gen, err)) < 0)
      goto fail;
  }
  *out = d;
  return 0;
fail:
  tm_dedup_close(d);
  return rc;
}

void tm_dedup_close(tm_dedup *d) {
  if (!d) return;
  tm_dedup_index_close(d->ix);
  tm_minhash_free(&d->mh);
  tm_dedup_worker_free(d->w);
  tm_line_dedup_free(d->ld);
  free(d->lbuf);
  free(d->dir);
  free(d->bdocs);
  free(d->bm);
  free(d->boff);
  free(d->bids);
  free(d->sig);
  free(d->dup_id);
  free(d);
}

int tm_dedup_process(tm_dedup *d, const char *id, size_t id_len, const char *text, size_t len,
                     tm_dedup_verdict *v, tm_error *err) {
  v->kind = TM_DEDUP_UNIQUE;
  v->similarity = 0.0;
  v->duplicate_of = NULL;
  v->text = text;
  v->len = len;
  v->lines_removed = 0;
  if (len > ((size_t)1 << 30))
    return tm_err(err, TM_ELIMIT, "dedup: document '%.*s' has %zu bytes (limit 1 GiB)",
                  (int)(id_len > 200 ? 200 : id_len), id, len);
  if (d->ld) {
    if (len + 1 > d->lcap) {
      char *b = realloc(d->lbuf, len + 1);
      if (!b) return tm_err(err, TM_ENOMEM, "dedup: out of memory");
      d->lbuf = b;
      d->lcap = len + 1;
    }
    size_t removed;
    size_t nlen = tm_line_dedup_apply(d->ld, text, len, d->lbuf, &removed);
    if (removed) {
      d->st.lines_removed += removed;
      v->lines_removed = removed;
      v->text = text = d->lbuf;
      v->len = len = nlen;
      size_t i = 0;
      while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r'))
        i++;
      if (i == len) { /* nothing but repeated lines */
        d->st.docs_in++;
        d->st.lines_docs++;
        v->kind = TM_DEDUP_LINES;
        return 0;
      }
    }
  }
  tm_dedup_prepared pr;
  int rc = tm_dedup_prepare(d->w, text, len, &pr, d->sig, err);
  if (rc < 0) return rc;
  size_t removed = v->lines_removed;
  if ((rc = tm_dedup_commit(d, id, id_len, &pr, v, err)) < 0) return rc;
  v->text = text;
  v->lines_removed = removed;
  return 0;
}

tm_dedup_worker *tm_dedup_worker_new(const tm_dedup *d) {
  tm_dedup_worker *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->d = d;
  w->sh = tm_shingler_new(&d->p.shingle);
  if (!w->sh) {
    free(w);
    return NULL;
  }
  return w;
}

void tm_dedup_worker_free(tm_dedup_worker *w) {
  if (!w) return;
  tm_shingler_free(w->sh);
  free(w);
}

int tm_dedup_prepare(tm_dedup_worker *w, const char *text, size_t len, tm_dedup_prepared *pr,
                     uint32_t *sig, tm_error *err) {
  const tm_dedup *d = w->d;
  memset(pr, 0, sizeof *pr);
  pr->len = len;
  if (len > ((size_t)1 << 30))
    return tm_err(err, TM_ELIMIT, "dedup: document of %zu bytes (limit 1 GiB)", len);
  const uint64_t *hashes;
  size_t nh, nlen;
  int rc = tm_shingler_run(w->sh, text, len, &hashes, &nh, &pr->cjk, err);
  if (rc < 0) return rc;
  const char *norm = tm_shingler_normalized(w->sh, &nlen);
  XXH128_hash_t h = nlen ? XXH3_128bits_withSeed(norm, nlen, d->p.seed)
                         : XXH3_128bits_withSeed(text, len, d->p.seed ^ 0x5241570aull);
  pr->exact[0] = h.low64;
  pr->exact[1] = h.high64;
  pr->shingles = nh;
  if (d->p.near && nh) {
    tm_minhash_signature(&d->mh, hashes, nh, sig);
    pr->sig = sig;
  }
  return 0;
}

int tm_dedup_commit(tm_dedup *d, const char *id, size_t id_len, const tm_dedup_prepared *pr,
                    tm_dedup_verdict *v, tm_error *err) {
  v->text = NULL;
  v->len = pr->len;
  v->lines_removed = 0;
  v->kind = TM_DEDUP_UNIQUE;
  v->similarity = 0.0;
  v->duplicate_of = NULL;
  tm_dedup_match m;
  int rc = tm_dedup_index_process(d->ix, id, id_len, pr->exact, d->p.exact, pr->sig, &m, err);
  if (rc < 0) return rc;
  d->st.docs_in++;
  d->st.text_bytes += pr->len;
  d->st.no_shingles += pr->shingles == 0;
  d->st.cjk_docs += pr->cjk != 0;
  if (m.kind == TM_DEDUP_UNIQUE) {
    d->st.kept++;
    return 0;
  }
  if (m.kind == TM_DEDUP_EXACT) d->st.exact_dups++;
  else d->st.near_dups++;
  int64_t n = tm_dedup_index_id(d->ix, m.ref, d->dup_id, d->dup_cap, err);
  if (n < 0) return (int)n;
  if ((uint64_t)n >= d->dup_cap) { /* longer than any id so far */
    char *b = realloc(d->dup_id, (size_t)n + 1);
    if (!b) return tm_err(err, TM_ENOMEM, "dedup: out of memory");
    d->dup_id = b;
    d->dup_cap = (size_t)n + 1;
    if ((n = tm_dedup_index_id(d->ix, m.ref, d->dup_id, d->dup_cap, err)) < 0) return (int)n;
  }
  v->kind = m.kind;
  v->similarity = m.similarity;
  v->duplicate_of = d->dup_id;
  return 0;
}

/* Append the id of ref, NUL-terminated, at d->bids + *used. */
static int batch_id(tm_dedup *d, uint32_t ref, size_t *used, tm_error *err) {
  for (;;) {
    size_t room = d->bids_cap - *used;
    int64_t n = room ? tm_dedup_index_id(d->ix, ref, d->bids + *used, room, err) : 0;
    if (n < 0) return (int)n;
    if (room && (uint64_t)n < room) {
      *used += (size_t)n + 1;
      return 0;
    }
    size_t cap = d->bids_cap ? d->bids_cap * 2 : 4096;
    while (cap - *used < (size_t)n + 1) cap *= 2;
    char *b = realloc(d->bids, cap);
    if (!b) return tm_err(err, TM_ENOMEM, "dedup: out of memory");
    d->bids = b;
    d->bids_cap = cap;
  }
}

int tm_dedup_commit_batch(tm_dedup *d, size_t n, const char *const *ids, const size_t *id_lens,
                          const tm_dedup_prepared *p, tm_dedup_verdict *v, size_t *done,
                          tm_error *err) {
  *done = 0;
  if (n > d->bcap) {
    tm_dedup_index_doc *bd = realloc(d->bdocs, n * sizeof *bd);
    if (bd) d->bdocs = bd;
    tm_dedup_match *bm = realloc(d->bm, n * sizeof *bm);
    if (bm) d->bm = bm;
    size_t *bo = realloc(d->boff, n * sizeof *bo);
    if (bo) d->boff = bo;
    if (!bd || !bm || !bo) return tm_err(err, TM_ENOMEM, "dedup: out of memory");
    d->bcap = n;
  }
  for (size_t i = 0; i < n; i++)
    d->bdocs[i] = (tm_dedup_index_doc){ids[i], id_lens[i], p[i].exact, p[i].sig};
  size_t ok = 0;
  int rc = tm_dedup_index_process_batch(d->ix, d->bdocs, n, d->p.exact, d->bm, &ok, err);
  size_t used = 0;
  for (size_t i = 0; i < ok; i++) { /* counters as tm_dedup_commit; ids once all are in */
    const tm_dedup_match *m = &d->bm[i];
    v[i] = (tm_dedup_verdict){.kind = m->kind, .len = p[i].len};
    d->st.docs_in++;
    d->st.text_bytes += p[i].len;
    d->st.no_shingles += p[i].shingles == 0;
    d->st.cjk_docs += p[i].cjk != 0;
    if (m->kind == TM_DEDUP_UNIQUE) {
      d->st.kept++;
      continue;
    }
    if (m->kind == TM_DEDUP_EXACT) d->st.exact_dups++;
    else d->st.near_dups++;
    v[i].similarity = m->similarity;
    d->boff[i] = used;
    int r2 = batch_id(d, m->ref, &used, err);
    if (r2 < 0) {
      *done = i;
      return r2;
    }
  }
  for (size_t i = 0; i < ok; i++) /* bids no longer moves */
    if (v[i].kind != TM_DEDUP_UNIQUE) v[i].duplicate_of = d->bids + d->boff[i];
  *done = ok;
  return rc;
}

int tm_dedup_checkpoint(tm_dedup *d, uint64_t token, tm_error *err) {
  persisted st = {token, d->lines_gen};
  int rc;
  if (d->ld) {
    st.lines_gen = d->lines_gen + 1;
    if ((rc = tm_line_dedup_save(d->ld, d->dir, st.lines_gen, err)) < 0) return rc;
  }
  if ((rc = tm_dedup_index_checkpoint(d->ix, &st, sizeof st, err)) < 0) return rc;
  if (d->ld && d->lines_gen) {
    char old[4096];
    snprintf(old, sizeof old, "%s/lines.%llu", d->dir, (unsigned long long)d->lines_gen);
    tm_io_unlink(old, "dedup_index", NULL); /* a leftover is harmless */
  }
  d->token = token;
  d->lines_gen = st.lines_gen;
  return 0;
}

uint64_t tm_dedup_committed_token(const tm_dedup *d) {
  return d->token;
}

void tm_dedup_get_stats(const tm_dedup *d, tm_dedup_stats *st) {
  *st = d->st;
  tm_dedup_index_get_stats(d->ix, &st->index);
  if (d->ld) {
    tm_line_dedup_stats ls;
    tm_line_dedup_get_stats(d->ld, &ls);
    st->line_table_bytes = ls.bytes;
  }
}

int tm_dedup_num_perm(const tm_dedup *d) {
  return d->p.num_perm;
}
