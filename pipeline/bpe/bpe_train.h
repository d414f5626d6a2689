/* bpe_train.h - byte-level BPE training, reproducing HF's BpeTrainer.
 *
 * Given word counts (bpe_words.h), produce a tokenizer:
 *  - ids: the special tokens first (in the order given), then the alphabet
 *    sorted by the code point that spells each byte (bytelevel.h), then one
 *    token per merge in creation order;
 *  - alphabet TM_BPE_ALPHABET_FULL: all 256 byte symbols (every input
 *    round-trips; HF with initial_alphabet = ByteLevel.alphabet());
 *    TM_BPE_ALPHABET_SEEN: only the bytes that occur in the words (HF's
 *    default trainer);
 *  - merge loop exactly as HF's: pair counts over overlapping windows,
 *    64-bit; a max-heap of (count, pair, words holding it) entries where
 *    the higher count wins and ties go to the smaller (left id, right id);
 *    a popped entry whose count is stale is pushed back with the current
 *    count; merging a pair updates the neighbouring pairs' counts
 *    incrementally and pushes entries for the pairs it created (never a
 *    full recount); stop at vocab_size tokens, when no pair is left, or
 *    when the best count is below min_frequency (or 1). HF's quirks are
 *    kept: a pair's entry only rewrites the words recorded in it, and a
 *    merge whose result already exists adds a merge but no token.
 *  - Deterministic: the words are sorted first, so neither the thread count
 *    of the counting nor the order of insertion matters.
 * Known differences from HF: counts are 64-bit (HF's pair counts are
 * 32-bit and overflow past 2^31 occurrences); a merge that spells the text
 * of a special token makes a new token (HF would reuse the special's id).
 *
 * Memory: the word symbols (4 bytes per byte of each distinct word), the
 * pair table and the heap's word lists, all proportional to the word
 * table, not to the corpus. */
#ifndef TM_BPE_TRAIN_H
#define TM_BPE_TRAIN_H

#include <stdint.h>

#include "bpe_words.h"
#include "config.h"
#include "error.h"
#include "tokenizer.h"

typedef enum { TM_BPE_ALPHABET_FULL = 0, TM_BPE_ALPHABET_SEEN = 1 } tm_bpe_alphabet;

typedef struct tm_bpe_train_opts {
  uint32_t vocab_size;     /* total, specials and alphabet included (e.g. 32768) */
  uint64_t min_frequency;  /* 0: none */
  const char *const *special_tokens; /* UTF-8, distinct */
  int n_special;
  tm_bpe_alphabet alphabet;
  tm_pretok_kind pattern;  /* recorded in the tokenizer; the words were split with it */
} tm_bpe_train_opts;

typedef struct tm_bpe_train_stats {
  uint64_t words;      /* distinct words trained on */
  uint32_t merges;
  uint32_t vocab_size; /* reached */
  uint64_t peak_heap;  /* most heap entries at once */
} tm_bpe_train_stats;

/* The [tokenizer] section: vocab_size, min_frequency, special_tokens,
 * alphabet, pattern, max_words, threads (see bpe_config.c for defaults). */
extern const tm_config_key tm_tokenizer_config_keys[];

/* Train on w (sorted in place first). *out gets a new tokenizer. */
int tm_bpe_train(tm_bpe_words *w, const tm_bpe_train_opts *opts, tm_tokenizer **out,
                 tm_bpe_train_stats *stats, tm_error *err);

#endif
