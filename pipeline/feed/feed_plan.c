/* feed_plan.c - see feed_plan.h for the order this computes. */
#include "feed_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed_perm.h"
#include "shard.h"

typedef struct seg {
  uint64_t cum;   /* start of the run in the source stream */
  uint64_t start; /* first token in the shard's stream */
  uint32_t shard; /* index into the frozen list */
  uint32_t len;   /* tokens, separators included */
} seg;

typedef struct source {
  char name[TM_SHARD_SOURCE_NAME_MAX + 1];
  seg *segs;
  size_t n_segs, cap;
  uint64_t tokens;  /* stream length */
  uint64_t windows; /* W_s: whole windows in the stream */
  uint64_t offered; /* E_s: windows per pass after the epoch budget */
  double weight;
  uint32_t per_period; /* n_s */
  uint32_t tail_per;   /* windows of this source in the final, shorter period */
  /* block cache */
  uint32_t *block;
  uint64_t block_id; /* (epoch << 32 | block) + 1 of the cached block; 0 none */
} source;

typedef struct reader_slot {
  tm_shard_reader *r;
  uint32_t shard;
  uint64_t used;
} reader_slot;

struct tm_feed_plan {
  char *dir;
  char **shards;
  size_t n_shards;
  uint64_t seed, pass;
  uint32_t seq_len, shuffle;
  unsigned width;
  uint32_t vocab, eot;
  uint64_t tok_hash;
  source src[TM_FEED_MAX_SOURCES];
  size_t n_src;
  uint32_t period;   /* P */
  uint64_t n_periods; /* whole periods */
  uint32_t tail;      /* windows of the final partial period (< P) */
  uint64_t windows;  /* N */
  uint32_t *per_src; /* period cache: source of each slot */
  uint32_t *per_rank;
  uint64_t per_id; /* cached period + 1; 0 none */
  reader_slot readers[TM_FEED_MAX_READERS];
  uint64_t tick;
};

static double lookup(const tm_feed_weight *w, size_t n, const char *name, double def, int *found) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(w[i].name, name)) {
      if (found) *found = 1;
      return w[i].value;
    }
  return def;
}

static int add_seg(source *s, uint32_t shard, uint64_t start, uint64_t len) {
  if (s->n_segs) {
    seg *l = &s->segs[s->n_segs - 1];
    if (l->shard == shard && l->start + l->len == start && (uint64_t)l->len + len < UINT32_MAX) {
      l->len += (uint32_t)len;
      s->tokens += len;
      return 0;
    }
  }
  if (s->n_segs == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 64;
    seg *ns = realloc(s->segs, nc * sizeof *ns);
    if (!ns) return -1;
    s->segs = ns;
    s->cap = nc;
  }
  s->segs[s->n_segs++] = (seg){s->tokens, start, shard, (uint32_t)len};
  s->tokens += len;
  return 0;
}

static int source_id(tm_feed_plan *p, const char *name) {
  for (size_t i = 0; i < p->n_src; i++)
    if (!strcmp(p->src[i].name, name)) return (int)i;
  if (p->n_src == TM_FEED_MAX_SOURCES) return -1;
  snprintf(p->src[p->n_src].name, sizeof p->src[0].name, "%s", name);
  return (int)p->n_src++;
}

/* Read one shard's document index into the source streams. */
static int index_shard(tm_feed_plan *p, const tm_feed_plan_options *o, uint32_t si,
                       tm_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", p->dir, p->shards[si]);
  tm_shard_reader *r;
  int rc = tm_shard_open(&r, path, err);
  if (rc < 0) return rc;
  const tm_shard_info *info = tm_shard_reader_info(r);
  if (p->width == 0) {
    p->width = info->token_width;
    p->vocab = info->vocab_size;
    p->eot = info->eot_id;
    p->tok_hash = info->tokenizer_hash;
  } else if (info->token_width != p->width || info->vocab_size != p->vocab ||
             info->eot_id != p->eot || info->tokenizer_hash != p->tok_hash) {
    tm_shard_close(r);
    return tm_err(err, TM_EFORMAT,
                  "%s: tokenizer differs from the other shards (vocab %u eot %u hash %016llx, "
                  "expected vocab %u eot %u hash %016llx)",
                  path, info->vocab_size, info->eot_id, (unsigned long long)info->tokenizer_hash,
                  p->vocab, p->eot, (unsigned long long)p->tok_hash);
  }
  int map[TM_SHARD_MAX_SOURCES];
  for (uint32_t i = 0; i < info->n_sources; i++) {
    map[i] = source_id(p, info->source_names[i]);
    if (map[i] < 0) {
      tm_shard_close(r);
      return tm_err(err, TM_ELIMIT, "%s: more than %d distinct sources", path,
                    TM_FEED_MAX_SOURCES);
    }
  }
  uint64_t val_cut = (uint64_t)(o->val_fraction * 1e6);
  for (uint64_t d = 0; d < info->n_docs; d++) {
    tm_shard_doc doc;
    if ((rc = tm_shard_doc_meta(r, d, &doc, err)) < 0) break;
    if (doc.source >= info->n_sources) {
      rc = tm_err(err, TM_ECORRUPT, "%s: document %llu has source %u of %u", path,
                  (unsigned long long)d, doc.source, info->n_sources);
      break;
    }
    int is_val = tm_feed_mix(doc.doc_id ^ TM_FEED_TAG_SPLIT) % 1000000u < val_cut;
    if (is_val != (o->split == TM_FEED_VAL)) continue;
    if (add_seg(&p->src[map[doc.source]], si, doc.token_offset, (uint64_t)doc.n_tokens + 1) < 0) {
      rc = tm_err(err, TM_ENOMEM, "%s: out of memory indexing documents", path);
      break;
    }
  }
  tm_shard_close(r);
  return rc < 0 ? rc : 0;
}

/* windows per source in a period of P windows: largest remainder of
 * weight * P; tail selects the tail_per field */
static void apportion(tm_feed_plan *p, double total_w, uint32_t P, int tail) {
  uint32_t given = 0;
  double rem[TM_FEED_MAX_SOURCES];
  for (size_t s = 0; s < p->n_src; s++) {
    double x = p->src[s].weight / total_w * P;
    uint32_t v = (uint32_t)floor(x);
    if (tail) p->src[s].tail_per = v;
    else p->src[s].per_period = v;
    rem[s] = x - floor(x);
    given += v;
  }
  while (given < P) {
    size_t best = SIZE_MAX;
    for (size_t s = 0; s < p->n_src; s++)
      if (p->src[s].weight > 0 && (best == SIZE_MAX || rem[s] > rem[best])) best = s;
    if (best == SIZE_MAX) break;
    if (tail) p->src[best].tail_per++;
    else p->src[best].per_period++;
    rem[best] = -1.0;
    given++;
  }
}

/* the most windows the weights allow from `left` windows per source before
 * one runs out */
static uint64_t max_windows(const tm_feed_plan *p, const uint64_t *left, double total_w) {
  double m = -1;
  for (size_t s = 0; s < p->n_src; s++)
    if (p->src[s].weight > 0) {
      double lim = (double)left[s] / (p->src[s].weight / total_w);
      if (m < 0 || lim < m) m = lim;
    }
  return m < 0 ? 0 : (uint64_t)floor(m + 1e-9);
}

int tm_feed_plan_build(tm_feed_plan **out, const tm_feed_plan_options *o, tm_error *err) {
  *out = NULL;
  if (o->seq_len == 0) return tm_err(err, TM_EINVAL, "seq_len must be > 0");
  if (o->val_fraction < 0 || o->val_fraction >= 1)
    return tm_err(err, TM_EINVAL, "val_fraction %g not in [0, 1)", o->val_fraction);
  tm_feed_plan *p = calloc(1, sizeof *p);
  if (!p) return tm_err(err, TM_ENOMEM, "out of memory");
  int rc = 0;
  p->dir = strdup(o->dir);
  p->shards = calloc(o->n_shards ? o->n_shards : 1, sizeof *p->shards);
  if (!p->dir || !p->shards) {
    tm_feed_plan_free(p);
    return tm_err(err, TM_ENOMEM, "out of memory");
  }
  p->n_shards = o->n_shards;
  for (size_t i = 0; i < o->n_shards; i++)
    if (!(p->shards[i] = strdup(o->shards[i]))) {
      tm_feed_plan_free(p);
      return tm_err(err, TM_ENOMEM, "out of memory");
    }
  p->seed = o->seed;
  p->pass = o->pass;
  p->seq_len = o->seq_len;
  p->shuffle = o->shuffle_windows ? o->shuffle_windows : 1024;

  /* 1. shard order of the pass, then the source streams */
  uint32_t *order = malloc((o->n_shards ? o->n_shards : 1) * sizeof *order);
  if (!order) {
    tm_feed_plan_free(p);
    return tm_err(err, TM_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < o->n_shards; i++) order[i] = (uint32_t)i;
  tm_feed_shuffle_u32(order, o->n_shards, tm_feed_key(TM_FEED_TAG_SHARDS, p->seed, p->pass, 0, 0));
  for (size_t i = 0; i < o->n_shards && rc == 0; i++) rc = index_shard(p, o, order[i], err);
  free(order);
  if (rc < 0) {
    tm_feed_plan_free(p);
    return rc;
  }
  /* names in weights/epochs must exist */
  for (size_t i = 0; i < o->n_weights + o->n_epochs; i++) {
    const char *nm = i < o->n_weights ? o->weights[i].name : o->epochs[i - o->n_weights].name;
    int found = 0;
    for (size_t s = 0; s < p->n_src; s++) found |= !strcmp(p->src[s].name, nm);
    if (!found) {
      rc = tm_err(err, TM_EINVAL, "%s: source '%s' (from --%s) has no documents in this split",
                  o->dir, nm, i < o->n_weights ? "weights" : "epochs");
      tm_feed_plan_free(p);
      return rc;
    }
  }
  /* 2. windows per source and the epoch budgets; 3. the period schedule */
  double total_w = 0;
  for (size_t s = 0; s < p->n_src; s++) {
    source *S = &p->src[s];
    S->windows = S->tokens / ((uint64_t)p->seq_len + 1);
    double e = lookup(o->epochs, o->n_epochs, S->name, 1.0, NULL);
    S->offered = (uint64_t)floor(e * (double)S->windows);
    if (S->windows == 0) S->offered = 0;
    S->block = malloc((size_t)p->shuffle * sizeof *S->block);
    if (!S->block) {
      tm_feed_plan_free(p);
      return tm_err(err, TM_ENOMEM, "out of memory");
    }
  }
  for (size_t s = 0; s < p->n_src; s++) {
    source *S = &p->src[s];
    S->weight = o->weights ? lookup(o->weights, o->n_weights, S->name, 0.0, NULL)
                           : (double)S->offered;
    if (S->offered == 0) S->weight = 0;
    total_w += S->weight;
  }
  /* whole periods of P windows while every source can fill them, then one
   * shorter period from what is left, in the same proportions */
  uint64_t left[TM_FEED_MAX_SOURCES];
  for (size_t s = 0; s < p->n_src; s++) left[s] = p->src[s].offered;
  uint64_t max_n = total_w > 0 ? max_windows(p, left, total_w) : 0;
  p->period = max_n < TM_FEED_PERIOD ? (uint32_t)max_n : TM_FEED_PERIOD;
  if (p->period > 0) {
    apportion(p, total_w, p->period, 0);
    uint64_t periods = UINT64_MAX;
    for (size_t s = 0; s < p->n_src; s++)
      if (p->src[s].per_period) {
        uint64_t k = p->src[s].offered / p->src[s].per_period;
        if (k < periods) periods = k;
      }
    p->n_periods = periods == UINT64_MAX ? 0 : periods;
    for (size_t s = 0; s < p->n_src; s++)
      left[s] = p->src[s].offered - p->n_periods * p->src[s].per_period;
    uint64_t t = max_windows(p, left, total_w);
    p->tail = t < p->period ? (uint32_t)t : p->period - 1;
    apportion(p, total_w, p->tail, 1);
    for (size_t s = 0; s < p->n_src; s++)
      if (p->src[s].tail_per > left[s]) { /* cannot happen (ceil(w*P') <= left) */
        p->tail = 0;
        for (size_t r = 0; r < p->n_src; r++) p->src[r].tail_per = 0;
        break;
      }
    p->windows = p->n_periods * p->period + p->tail;
    p->per_src = malloc(p->period * sizeof *p->per_src);
    p->per_rank = malloc(p->period * sizeof *p->per_rank);
    if (!p->per_src || !p->per_rank) {
      tm_feed_plan_free(p);
      return tm_err(err, TM_ENOMEM, "out of memory");
    }
  }
  *out = p;
  return 0;
}

void tm_feed_plan_free(tm_feed_plan *p) {
  if (!p) return;
  for (size_t i = 0; i < TM_FEED_MAX_READERS; i++) tm_shard_close(p->readers[i].r);
  for (size_t s = 0; s < p->n_src; s++) {
    free(p->src[s].segs);
    free(p->src[s].block);
  }
  if (p->shards)
    for (size_t i = 0; i < p->n_shards; i++) free(p->shards[i]);
  free(p->shards);
  free(p->dir);
  free(p->per_src);
  free(p->per_rank);
  free(p);
}

uint64_t tm_feed_plan_windows(const tm_feed_plan *p) { return p->windows; }
unsigned tm_feed_plan_token_width(const tm_feed_plan *p) { return p->width ? p->width : 2; }
uint32_t tm_feed_plan_vocab(const tm_feed_plan *p) { return p->vocab; }
uint32_t tm_feed_plan_eot(const tm_feed_plan *p) { return p->eot; }
uint64_t tm_feed_plan_tokenizer_hash(const tm_feed_plan *p) { return p->tok_hash; }
size_t tm_feed_plan_sources(const tm_feed_plan *p) { return p->n_src; }
const char *tm_feed_plan_source_name(const tm_feed_plan *p, size_t s) { return p->src[s].name; }
uint64_t tm_feed_plan_source_windows(const tm_feed_plan *p, size_t s) { return p->src[s].offered; }
uint32_t tm_feed_plan_source_per_period(const tm_feed_plan *p, size_t s) {
  return p->src[s].per_period;
}

/* the source of each slot of period q and its rank among that source's slots */
static void load_period(tm_feed_plan *p, uint64_t q) {
  if (p->per_id == q + 1) return;
  int tail = q == p->n_periods;
  uint32_t k = 0;
  for (size_t s = 0; s < p->n_src; s++) {
    uint32_t c = tail ? p->src[s].tail_per : p->src[s].per_period;
    for (uint32_t i = 0; i < c; i++) p->per_src[k++] = (uint32_t)s;
  }
  tm_feed_shuffle_u32(p->per_src, k, tm_feed_key(TM_FEED_TAG_PERIOD, p->seed, p->pass, q, 0));
  uint32_t seen[TM_FEED_MAX_SOURCES] = {0};
  for (uint32_t i = 0; i < k; i++) p->per_rank[i] = seen[p->per_src[i]]++;
  p->per_id = q + 1;
}

int tm_feed_plan_locate(tm_feed_plan *p, uint64_t g, size_t *source_out, uint64_t *offset,
                        tm_error *err) {
  if (g >= p->windows)
    return tm_err(err, TM_EINVAL, "window %llu is past the pass (%llu windows)",
                  (unsigned long long)g, (unsigned long long)p->windows);
  uint64_t q = g / p->period;
  uint32_t o = (uint32_t)(g % p->period);
  load_period(p, q);
  size_t s = p->per_src[o];
  source *S = &p->src[s];
  uint64_t j = q * S->per_period + p->per_rank[o]; /* j-th window this source offers */
  uint64_t epoch = j / S->windows, jj = j % S->windows;
  uint64_t b = jj / p->shuffle;
  uint64_t first = b * p->shuffle;
  uint64_t len = S->windows - first < p->shuffle ? S->windows - first : p->shuffle;
  uint64_t id = ((epoch << 32) | b) + 1;
  if (S->block_id != id) {
    for (uint32_t i = 0; i < len; i++) S->block[i] = i;
    tm_feed_shuffle_u32(S->block, (size_t)len,
                        tm_feed_key(TM_FEED_TAG_BLOCK, p->seed, p->pass, s, id));
    S->block_id = id;
  }
  uint64_t w = first + S->block[jj - first];
  *source_out = s;
  *offset = w * ((uint64_t)p->seq_len + 1);
  return 0;
}

static int get_reader(tm_feed_plan *p, uint32_t shard, tm_shard_reader **out, tm_error *err) {
  reader_slot *victim = &p->readers[0];
  for (size_t i = 0; i < TM_FEED_MAX_READERS; i++) {
    reader_slot *rs = &p->readers[i];
    if (rs->r && rs->shard == shard) {
      rs->used = ++p->tick;
      *out = rs->r;
      return 0;
    }
    if (!rs->r || (victim->r && rs->used < victim->used)) victim = rs;
  }
  if (victim->r) tm_shard_close(victim->r);
  victim->r = NULL;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", p->dir, p->shards[shard]);
  int rc = tm_shard_open(&victim->r, path, err);
  if (rc < 0) {
    victim->r = NULL;
    return rc;
  }
  victim->shard = shard;
  victim->used = ++p->tick;
  *out = victim->r;
  return 0;
}

int tm_feed_plan_read(tm_feed_plan *p, uint64_t g, void *dst, tm_error *err) {
  size_t s;
  uint64_t off;
  int rc = tm_feed_plan_locate(p, g, &s, &off, err);
  if (rc < 0) return rc;
  source *S = &p->src[s];
  /* the run holding off: last with cum <= off */
  size_t lo = 0, hi = S->n_segs;
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (S->segs[mid].cum <= off) lo = mid;
    else hi = mid;
  }
  uint64_t need = (uint64_t)p->seq_len + 1;
  char *out = dst;
  for (size_t i = lo; need > 0; i++) {
    if (i >= S->n_segs)
      return tm_err(err, TM_ECORRUPT, "source %s: window %llu runs past the stream", S->name,
                    (unsigned long long)g);
    const seg *sg = &S->segs[i];
    uint64_t in = off > sg->cum ? off - sg->cum : 0;
    uint64_t take = sg->len - in < need ? sg->len - in : need;
    tm_shard_reader *r;
    if ((rc = get_reader(p, sg->shard, &r, err)) < 0) return rc;
    if ((rc = tm_shard_read_range_raw(r, sg->start + in, sg->start + in + take, out, err)) < 0)
      return rc;
    out += take * p->width;
    need -= take;
    off += take;
  }
  return 0;
}
