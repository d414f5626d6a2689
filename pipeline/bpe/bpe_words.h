/* bpe_words.h - the word (pre-token) count table BPE training starts from.
 *
 * A word is a pre-token's raw bytes (pretok.h); its count is a 64-bit
 * number of occurrences. The table is bounded: it holds at most max_words
 * distinct words. When an insert would pass the cap, the table is pruned:
 * every word with a count below a threshold is dropped, the threshold
 * starting at 2 and doubling until at most 3/4 of the cap remain, and the
 * threshold is remembered (tm_bpe_words_pruned_below) so the caller can
 * report it. Pruning only drops rare words, so the merges learned for
 * frequent pairs are unaffected, but results then differ from an unbounded
 * count (and may depend on the order in which threads flushed); with no
 * pruning the table is exact and independent of insertion order.
 *
 * Memory: about 40 bytes per word plus its bytes. Not thread-safe: each
 * thread counts into its own table and tables are merged
 * (tm_bpe_words_merge), which tm_bpe_count_files does on all cores.
 */
#ifndef TM_BPE_WORDS_H
#define TM_BPE_WORDS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "pretok.h"

typedef struct tm_bpe_words tm_bpe_words;

/* max_words 0 means the default, 16M words. NULL on allocation failure. */
tm_bpe_words *tm_bpe_words_new(size_t max_words);
void tm_bpe_words_free(tm_bpe_words *w);

/* Add count to word w[0..len) (len >= 1). 0 or -TM_ENOMEM. */
int tm_bpe_words_add(tm_bpe_words *w, const uint8_t *word, size_t len, uint64_t count);
/* Split a document with the pattern and count its pre-tokens. */
int tm_bpe_words_add_text(tm_bpe_words *w, tm_pretok_kind kind, const uint8_t *text, size_t len);
/* Add every word of src to dst. */
int tm_bpe_words_merge(tm_bpe_words *dst, const tm_bpe_words *src);
void tm_bpe_words_clear(tm_bpe_words *w);

size_t tm_bpe_words_count(const tm_bpe_words *w);
/* Word i (0 <= i < count; order unspecified until sorted): bytes and count. */
const uint8_t *tm_bpe_words_get(const tm_bpe_words *w, size_t i, size_t *len, uint64_t *count);
/* Sort the words by their bytes, so indices do not depend on insertion order. */
int tm_bpe_words_sort(tm_bpe_words *w);
/* The pruning threshold applied so far (0: never pruned). */
uint64_t tm_bpe_words_pruned_below(const tm_bpe_words *w);
/* Bytes of memory the table holds. */
size_t tm_bpe_words_memory(const tm_bpe_words *w);

/* Count the words of files on `threads` threads (0: all cores) into w.
 * lines != 0: every line (with its newline) is a document of its own, as
 * HF tokenizers' train(files) reads them; else each file is one document,
 * cut into blocks only where a pre-token boundary is certain, so the counts
 * are those of the whole file. Errors name the file. */
int tm_bpe_count_files(tm_bpe_words *w, tm_pretok_kind kind, const char *const *paths, int n_paths,
                       int lines, int threads, tm_error *err);

#endif
