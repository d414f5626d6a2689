/* tokenizer_impl.h - the inside of tm_tokenizer, shared by tokenizer*.c.
 * Not a public API: other modules use tokenizer.h.
 *
 * Invariants once built: tokens[0..n_tokens) all exist (no holes);
 * tok_off[i]..tok_off[i+1] in tok_data are token i's bytes; byte_id[b] is
 * the id of the single-byte token for byte b or -1; the merge table maps
 * (left, right) to (rank, new id) for every merge; the vocabulary table maps
 * bytes to the smallest id of a non-special, spellable token with them. */
#ifndef TM_TOKENIZER_IMPL_H
#define TM_TOKENIZER_IMPL_H

#include "tokenizer.h"

#define TM_MERGE_EMPTY UINT64_MAX

struct tm_tokenizer {
  tm_pretok_kind pattern;
  uint32_t n_tokens;
  uint8_t *tok_data;
  uint64_t *tok_off;   /* n_tokens + 1 */
  uint8_t *special;    /* n_tokens flags */
  uint8_t *unspellable; /* n_tokens flags: vocab key not in the byte alphabet */
  int32_t byte_id[256];
  int missing_bytes;
  int64_t eot;

  uint32_t vmap_mask;  /* bytes -> id+1 (0 empty) */
  uint32_t *vmap;

  uint32_t n_merges;
  uint32_t (*merges)[3]; /* left, right, new id; rank order */
  uint64_t mmap_mask;
  uint64_t *mkeys;     /* (left << 32 | right), TM_MERGE_EMPTY when empty */
  uint32_t *mvals;     /* rank */

  uint32_t *special_ids;
  uint32_t n_special;

  int ignore_merges;
  double dropout;

  char *json; /* the tokenizer.json bytes the hash is of */
  size_t json_len;
  uint64_t hash;
};

/* Look up merge (l, r): its rank, or UINT32_MAX. */
static inline uint32_t tm_tok_merge_rank(const struct tm_tokenizer *t, uint32_t l, uint32_t r) {
  uint64_t key = (uint64_t)l << 32 | r;
  uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 20;
  for (;;) {
    h &= t->mmap_mask;
    uint64_t k = t->mkeys[h];
    if (k == key) return t->mvals[h];
    if (k == TM_MERGE_EMPTY) return UINT32_MAX;
    h++;
  }
}

/* Build the lookup tables of a tokenizer whose token table, specials and
 * merges (with new ids) are filled in. */
int tm_tok_finish(struct tm_tokenizer *t, const char *name, tm_error *err);
/* Serialise t to canonical tokenizer.json text (malloc'd). */
int tm_tok_write_json(const struct tm_tokenizer *t, char **out, size_t *len, tm_error *err);
int64_t tm_tok_vocab_lookup(const struct tm_tokenizer *t, const uint8_t *b, size_t n);

#endif
