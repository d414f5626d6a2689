/* tokenizer.c - making a tm_tokenizer, its properties, decoding, saving.
 * Loading is in tokenizer_json.c, encoding in tokenizer_encode.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bytelevel.h"
#include "io.h"
#include "tokenizer_impl.h"

void tm_ids_free(tm_ids *v) {
  free(v->ids);
  v->ids = NULL;
  v->len = v->cap = 0;
}

int tm_ids_reserve(tm_ids *v, size_t more) {
  if (v->cap - v->len >= more) return 0;
  size_t cap = v->cap ? v->cap : 1024;
  while (cap - v->len < more) cap *= 2;
  uint32_t *p = realloc(v->ids, cap * sizeof *p);
  if (!p) return -TM_ENOMEM;
  v->ids = p;
  v->cap = cap;
  return 0;
}

static uint32_t pow2_at_least(uint64_t n) {
  uint32_t c = 16;
  while (c < n) c *= 2;
  return c;
}

int64_t tm_tok_vocab_lookup(const struct tm_tokenizer *t, const uint8_t *b, size_t n) {
  uint32_t h = (uint32_t)XXH3_64bits(b, n);
  for (;; h++) {
    h &= t->vmap_mask;
    uint32_t v = t->vmap[h];
    if (!v) return -1;
    uint32_t id = v - 1;
    if (t->tok_off[id + 1] - t->tok_off[id] == n && !memcmp(t->tok_data + t->tok_off[id], b, n))
      return id;
  }
}

int tm_tok_finish(struct tm_tokenizer *t, const char *name, tm_error *err) {
  uint32_t cap = pow2_at_least((uint64_t)t->n_tokens * 2 + 2);
  t->vmap = calloc(cap, sizeof *t->vmap);
  t->vmap_mask = cap - 1;
  uint64_t mcap = pow2_at_least((uint64_t)t->n_merges * 2 + 2);
  t->mkeys = malloc(mcap * sizeof *t->mkeys);
  t->mvals = malloc(mcap * sizeof *t->mvals);
  t->mmap_mask = mcap - 1;
  if (!t->vmap || !t->mkeys || !t->mvals) return tm_err(err, TM_ENOMEM, "%s: out of memory", name);
  memset(t->mkeys, 0xFF, mcap * sizeof *t->mkeys);

  for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
  t->eot = -1;
  t->n_special = 0;
  for (uint32_t id = 0; id < t->n_tokens; id++) {
    const uint8_t *p = t->tok_data + t->tok_off[id];
    size_t n = t->tok_off[id + 1] - t->tok_off[id];
    if (t->special[id]) {
      t->n_special++;
      if (n == 13 && !memcmp(p, "<|endoftext|>", 13) && t->eot < 0) t->eot = id;
      continue;
    }
    if (t->unspellable && t->unspellable[id]) continue;
    if (n == 1 && t->byte_id[p[0]] < 0) t->byte_id[p[0]] = (int32_t)id;
    if (tm_tok_vocab_lookup(t, p, n) >= 0) continue; /* first id wins */
    uint32_t h = (uint32_t)XXH3_64bits(p, n);
    for (;; h++) {
      h &= t->vmap_mask;
      if (!t->vmap[h]) {
        t->vmap[h] = id + 1;
        break;
      }
    }
  }
  t->missing_bytes = 0;
  for (int b = 0; b < 256; b++) t->missing_bytes += t->byte_id[b] < 0;
  t->special_ids = malloc((t->n_special + 1) * sizeof *t->special_ids);
  if (!t->special_ids) return tm_err(err, TM_ENOMEM, "%s: out of memory", name);
  t->n_special = 0;
  for (uint32_t id = 0; id < t->n_tokens; id++)
    if (t->special[id]) t->special_ids[t->n_special++] = id;

  for (uint32_t r = 0; r < t->n_merges; r++) {
    uint32_t l = t->merges[r][0], rr = t->merges[r][1], nw = t->merges[r][2];
    if (l >= t->n_tokens || rr >= t->n_tokens || nw >= t->n_tokens)
      return tm_err(err, TM_EFORMAT, "%s: model.merges[%u]: token id out of range", name, r);
    uint64_t key = (uint64_t)l << 32 | rr;
    uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 20;
    for (;; h++) {
      h &= t->mmap_mask;
      if (t->mkeys[h] == key) { /* a repeated pair takes its last rank, as HF's map does */
        t->mvals[h] = r;
        break;
      }
      if (t->mkeys[h] == TM_MERGE_EMPTY) {
        t->mkeys[h] = key;
        t->mvals[h] = r;
        break;
      }
    }
  }
  return 0;
}

void tm_tokenizer_free(tm_tokenizer *t) {
  if (!t) return;
  free(t->tok_data);
  free(t->tok_off);
  free(t->special);
  free(t->unspellable);
  free(t->vmap);
  free(t->merges);
  free(t->mkeys);
  free(t->mvals);
  free(t->special_ids);
  free(t->json);
  free(t);
}

static int valid_utf8(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    uint8_t b = s[i];
    size_t l;
    uint32_t cp;
    if (b < 0x80) { i++; continue; }
    if (b >= 0xC2 && b <= 0xDF) l = 2, cp = b & 0x1F;
    else if (b >= 0xE0 && b <= 0xEF) l = 3, cp = b & 0x0F;
    else if (b >= 0xF0 && b <= 0xF4) l = 4, cp = b & 0x07;
    else return 0;
    if (i + l > n) return 0;
    for (size_t k = 1; k < l; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if ((l == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (l == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return 0;
    i += l;
  }
  return 1;
}

int tm_tokenizer_new(tm_tokenizer **out, const tm_tokenizer_def *def, tm_error *err) {
  *out = NULL;
  if (!def->n_tokens) return tm_err(err, TM_EINVAL, "tokenizer: empty vocabulary");
  struct tm_tokenizer *t = calloc(1, sizeof *t);
  if (!t) return tm_err(err, TM_ENOMEM, "tokenizer: out of memory");
  t->pattern = def->pattern;
  t->ignore_merges = def->ignore_merges;
  t->n_tokens = def->n_tokens;
  uint64_t total = 0;
  for (uint32_t i = 0; i < def->n_tokens; i++) total += def->token_len[i];
  t->tok_data = malloc(total ? total : 1);
  t->tok_off = malloc((def->n_tokens + 1) * sizeof *t->tok_off);
  t->special = calloc(def->n_tokens, 1);
  t->merges = malloc((def->n_merges + 1) * sizeof *t->merges);
  int rc;
  if (!t->tok_data || !t->tok_off || !t->special || !t->merges) {
    rc = tm_err(err, TM_ENOMEM, "tokenizer: out of memory");
    goto fail;
  }
  uint64_t off = 0;
  for (uint32_t i = 0; i < def->n_tokens; i++) {
    t->tok_off[i] = off;
    if (def->token_len[i]) memcpy(t->tok_data + off, def->tokens[i], def->token_len[i]);
    off += def->token_len[i];
    t->special[i] = def->special ? def->special[i] != 0 : 0;
    if (!def->token_len[i]) {
      rc = tm_err(err, TM_EINVAL, "tokenizer: token %u is empty", i);
      goto fail;
    }
    if (t->special[i] && !valid_utf8(def->tokens[i], def->token_len[i])) {
      rc = tm_err(err, TM_EINVAL, "tokenizer: special token %u is not valid UTF-8", i);
      goto fail;
    }
  }
  t->tok_off[def->n_tokens] = off;
  t->n_merges = 0;
  if ((rc = tm_tok_finish(t, "tokenizer", err)) < 0) goto fail;
  for (uint32_t r = 0; r < def->n_merges; r++) {
    uint32_t l = def->merges[r][0], rr = def->merges[r][1];
    if (l >= t->n_tokens || rr >= t->n_tokens) {
      rc = tm_err(err, TM_EINVAL, "tokenizer: merge %u: token id out of range", r);
      goto fail;
    }
    size_t nl = t->tok_off[l + 1] - t->tok_off[l], nr = t->tok_off[rr + 1] - t->tok_off[rr];
    uint8_t *buf = malloc(nl + nr);
    if (!buf) {
      rc = tm_err(err, TM_ENOMEM, "tokenizer: out of memory");
      goto fail;
    }
    memcpy(buf, t->tok_data + t->tok_off[l], nl);
    memcpy(buf + nl, t->tok_data + t->tok_off[rr], nr);
    int64_t nw = tm_tok_vocab_lookup(t, buf, nl + nr);
    free(buf);
    if (nw < 0 || t->special[l] || t->special[rr]) {
      rc = tm_err(err, TM_EINVAL, "tokenizer: merge %u (%u, %u): merged token not in vocabulary", r,
                  l, rr);
      goto fail;
    }
    t->merges[r][0] = l, t->merges[r][1] = rr, t->merges[r][2] = (uint32_t)nw;
  }
  t->n_merges = def->n_merges;
  free(t->vmap), free(t->mkeys), free(t->mvals), free(t->special_ids);
  t->vmap = NULL, t->mkeys = NULL, t->mvals = NULL, t->special_ids = NULL;
  if ((rc = tm_tok_finish(t, "tokenizer", err)) < 0) goto fail;
  /* non-special tokens must be distinct: every one must be found as itself */
  for (uint32_t id = 0; id < t->n_tokens; id++) {
    if (t->special[id]) continue;
    if (tm_tok_vocab_lookup(t, t->tok_data + t->tok_off[id], t->tok_off[id + 1] - t->tok_off[id]) !=
        (int64_t)id) {
      rc = tm_err(err, TM_EINVAL, "tokenizer: token %u repeats an earlier token", id);
      goto fail;
    }
  }
  if ((rc = tm_tok_write_json(t, &t->json, &t->json_len, err)) < 0) goto fail;
  t->hash = XXH3_64bits(t->json, t->json_len);
  *out = t;
  return 0;
fail:
  tm_tokenizer_free(t);
  return rc;
}

int tm_tokenizer_new_bytelevel(tm_tokenizer **out, tm_pretok_kind pattern, tm_error *err) {
  /* HF's trainer orders the alphabet by the code point that spells each
   * byte: the printable bytes (0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF) in byte
   * order, then the 68 others (spelled U+0100..U+0143) in byte order. */
  uint8_t bytes[257][1];
  const uint8_t *toks[257];
  uint32_t lens[257];
  uint8_t special[257] = {0};
  uint32_t n = 0;
  for (uint32_t cp = 0; cp <= 0x143; cp++) {
    int b = tm_bytelevel_byte(cp);
    if (b < 0) continue;
    bytes[n][0] = (uint8_t)b;
    toks[n] = bytes[n];
    lens[n] = 1;
    n++;
  }
  toks[n] = (const uint8_t *)"<|endoftext|>";
  lens[n] = 13;
  special[n] = 1;
  n++;
  tm_tokenizer_def def = {.pattern = pattern, .n_tokens = n, .tokens = toks, .token_len = lens,
                          .special = special};
  return tm_tokenizer_new(out, &def, err);
}

uint32_t tm_tokenizer_vocab_size(const tm_tokenizer *t) { return t->n_tokens; }
int64_t tm_tokenizer_eot_id(const tm_tokenizer *t) { return t->eot; }
uint64_t tm_tokenizer_hash(const tm_tokenizer *t) { return t->hash; }
tm_pretok_kind tm_tokenizer_pattern(const tm_tokenizer *t) { return t->pattern; }
uint32_t tm_tokenizer_n_merges(const tm_tokenizer *t) { return t->n_merges; }
int tm_tokenizer_missing_bytes(const tm_tokenizer *t) { return t->missing_bytes; }
double tm_tokenizer_dropout(const tm_tokenizer *t) { return t->dropout; }

const uint8_t *tm_tokenizer_token(const tm_tokenizer *t, uint32_t id, size_t *len) {
  if (id >= t->n_tokens) return NULL;
  *len = t->tok_off[id + 1] - t->tok_off[id];
  return t->tok_data + t->tok_off[id];
}

int tm_tokenizer_is_special(const tm_tokenizer *t, uint32_t id) {
  return id < t->n_tokens && t->special[id];
}

int64_t tm_tokenizer_token_id(const tm_tokenizer *t, const void *bytes, size_t len) {
  int64_t id = tm_tok_vocab_lookup(t, bytes, len);
  if (id >= 0) return id;
  for (uint32_t i = 0; i < t->n_special; i++) {
    uint32_t s = t->special_ids[i];
    if (t->tok_off[s + 1] - t->tok_off[s] == len && !memcmp(t->tok_data + t->tok_off[s], bytes, len))
      return s;
  }
  return -1;
}

int tm_tokenizer_decode(const tm_tokenizer *t, const uint32_t *ids, size_t n, uint8_t **out,
                        size_t *out_len, size_t *out_cap, tm_error *err) {
  size_t need = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] >= t->n_tokens)
      return tm_err(err, TM_EINVAL, "decode: id %u at position %zu is out of range (vocab %u)",
                    ids[i], i, t->n_tokens);
    need += t->tok_off[ids[i] + 1] - t->tok_off[ids[i]];
  }
  if (*out_cap - *out_len < need) {
    size_t cap = *out_cap ? *out_cap : 256;
    while (cap - *out_len < need) cap *= 2;
    uint8_t *p = realloc(*out, cap);
    if (!p) return tm_err(err, TM_ENOMEM, "decode: out of memory");
    *out = p;
    *out_cap = cap;
  }
  uint8_t *o = *out + *out_len;
  for (size_t i = 0; i < n; i++) {
    size_t l = t->tok_off[ids[i] + 1] - t->tok_off[ids[i]];
    memcpy(o, t->tok_data + t->tok_off[ids[i]], l);
    o += l;
  }
  *out_len += need;
  return 0;
}

int tm_tokenizer_to_json(const tm_tokenizer *t, char **json, size_t *len, tm_error *err) {
  char *p = malloc(t->json_len + 1);
  if (!p) return tm_err(err, TM_ENOMEM, "tokenizer: out of memory");
  memcpy(p, t->json, t->json_len);
  p[t->json_len] = 0;
  *json = p;
  *len = t->json_len;
  return 0;
}

int tm_tokenizer_save(const tm_tokenizer *t, const char *path, tm_error *err) {
  return tm_io_write_file_atomic(path, t->json, t->json_len, "tokenizer", err);
}
