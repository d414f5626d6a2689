/* tokenizer.h - byte-level BPE: load/save HF tokenizer.json, encode, decode.
 *
 * A tm_tokenizer is immutable once made and may be shared by any number of
 * threads. Encoding goes through a tm_encoder, a per-thread object that owns
 * a cache of pre-token results and scratch memory; make one per thread.
 *
 *   tm_tokenizer *tok; tm_error err = {0};
 *   if (tm_tokenizer_load(&tok, "tokenizer.json", &err) < 0) ...;
 *   tm_encoder *enc = tm_encoder_new(tok);
 *   tm_ids ids = {0};
 *   tm_encoder_encode(enc, text, len, 0, &ids, &err);   // appends to ids
 *   ...
 *   tm_ids_free(&ids); tm_encoder_free(enc); tm_tokenizer_free(tok);
 *
 * Model. Token ids 0..vocab_size-1 each stand for a byte string (special
 * tokens for their text). Text is split into pre-tokens (pretok.h); a
 * pre-token starts as one symbol per byte (the ids of the 256 byte
 * symbols) and the adjacent pair with the lowest merge rank is merged,
 * leftmost first, until no pair has a rank. This is exactly what HF
 * tokenizers' BPE model does, so ids agree with HF for the same
 * tokenizer.json. A byte whose symbol is not in the vocabulary is dropped,
 * as HF does (tm_tokenizer_missing_bytes tells how many are missing); with
 * all 256 byte symbols decode(encode(x)) == x for every byte string.
 *
 * The tokenizer hash (shards, ring and checkpoints record it) is XXH3-64 of
 * the tokenizer.json bytes: as loaded for a file, as tm_tokenizer_save
 * writes them for a tokenizer made in memory (saving then loading the
 * result gives the same hash).
 */
#ifndef TM_TOKENIZER_H
#define TM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "pretok.h"

typedef struct tm_tokenizer tm_tokenizer;
typedef struct tm_encoder tm_encoder;

/* A growable array of token ids; zero-initialise, free with tm_ids_free. */
typedef struct tm_ids {
  uint32_t *ids;
  size_t len, cap;
} tm_ids;
void tm_ids_free(tm_ids *v);
/* Make room for `more` further ids: 0 or -TM_ENOMEM. */
int tm_ids_reserve(tm_ids *v, size_t more);

/* The largest tokenizer.json tm_tokenizer_load reads (512 MiB). */
#define TM_TOKENIZER_MAX_JSON ((size_t)512 << 20)

/* ---- making and saving ------------------------------------------------ */

/* Load a tokenizer.json (HF tokenizers format, byte-level BPE). Accepted:
 * model.type "BPE" with merges as "a b" strings or ["a","b"] pairs,
 * ignore_merges, dropout (kept, see tm_tokenizer_dropout), no unk_token,
 * no byte_fallback, no continuing_subword_prefix / end_of_word_suffix;
 * normalizer null; pre_tokenizer ByteLevel (use_regex true,
 * add_prefix_space false) or Sequence[Split(GPT-4 regex), ByteLevel
 * (use_regex false)]; decoder ByteLevel or null; added_tokens. Ids need not
 * be contiguous: an id no token has (cl100k has a few) decodes to nothing
 * and is never produced; the vocabulary size is the largest id + 1.
 * Every entry of added_tokens (special or not) is a special token here:
 * matched in text only with TM_ENCODE_ALLOW_SPECIAL, where HF always
 * matches added tokens (plain text without them encodes identically).
 * Anything else is TM_EFORMAT with a message naming the file and the field. */
int tm_tokenizer_load(tm_tokenizer **out, const char *path, tm_error *err);
/* The same from bytes in memory; `name` is used in messages. */
int tm_tokenizer_load_json(tm_tokenizer **out, const char *json, size_t len, const char *name,
                           tm_error *err);

/* A byte-level tokenizer with no merges: ids 0..255 are the byte symbols in
 * the order HF's trainer gives them (sorted by the code point that spells
 * each byte), id 256 is <|endoftext|>. */
int tm_tokenizer_new_bytelevel(tm_tokenizer **out, tm_pretok_kind pattern, tm_error *err);

/* The definition of a tokenizer made in memory (the BPE trainer's output).
 * Token i is tokens[i] (token_len[i] bytes); special[i] != 0 marks a special
 * (added) token, matched in text only when the caller allows it. merges
 * lists (left id, right id) pairs, rank order; the merged token is looked
 * up by its bytes and must exist. Non-special tokens must be distinct. */
typedef struct tm_tokenizer_def {
  tm_pretok_kind pattern;
  uint32_t n_tokens;
  const uint8_t *const *tokens;
  const uint32_t *token_len;
  const uint8_t *special; /* NULL: none */
  uint32_t n_merges;
  const uint32_t (*merges)[2];
  int ignore_merges;
} tm_tokenizer_def;
int tm_tokenizer_new(tm_tokenizer **out, const tm_tokenizer_def *def, tm_error *err);

/* The tokenizer.json text (malloc'd, NUL terminated): for a loaded file the
 * bytes as loaded, else the canonical form tokenmill writes. */
int tm_tokenizer_to_json(const tm_tokenizer *tok, char **json, size_t *len, tm_error *err);
/* Write tm_tokenizer_to_json's bytes to path atomically (io site
 * "tokenizer"). */
int tm_tokenizer_save(const tm_tokenizer *tok, const char *path, tm_error *err);

void tm_tokenizer_free(tm_tokenizer *tok);

/* ---- properties ------------------------------------------------------- */

uint32_t tm_tokenizer_vocab_size(const tm_tokenizer *tok);
/* The id of <|endoftext|>, or -1 if the vocabulary has none. */
int64_t tm_tokenizer_eot_id(const tm_tokenizer *tok);
/* XXH3-64 of the tokenizer.json bytes (see above). */
uint64_t tm_tokenizer_hash(const tm_tokenizer *tok);
tm_pretok_kind tm_tokenizer_pattern(const tm_tokenizer *tok);
uint32_t tm_tokenizer_n_merges(const tm_tokenizer *tok);
/* How many of the 256 byte symbols the vocabulary lacks (0 for anything
 * tokenmill trains with the full alphabet). */
int tm_tokenizer_missing_bytes(const tm_tokenizer *tok);
/* The dropout probability recorded in the file (0 if none). */
double tm_tokenizer_dropout(const tm_tokenizer *tok);
/* The bytes of token id (NULL if id >= vocab size); *len gets the length. */
const uint8_t *tm_tokenizer_token(const tm_tokenizer *tok, uint32_t id, size_t *len);
int tm_tokenizer_is_special(const tm_tokenizer *tok, uint32_t id);
/* The id of the token with these bytes (specials included), or -1. */
int64_t tm_tokenizer_token_id(const tm_tokenizer *tok, const void *bytes, size_t len);

/* ---- decoding --------------------------------------------------------- */

/* Append the bytes of ids to *out / *out_len (a malloc'd buffer that grows;
 * start with NULL/0, free() it). An id >= vocab size is TM_EINVAL naming
 * its position; nothing is appended then. Thread-safe. */
int tm_tokenizer_decode(const tm_tokenizer *tok, const uint32_t *ids, size_t n, uint8_t **out,
                        size_t *out_len, size_t *out_cap, tm_error *err);

/* ---- encoding --------------------------------------------------------- */

/* A per-thread encoder; NULL on allocation failure. The tokenizer must
 * outlive it. Its pre-token cache is bounded (a few MiB; cleared when full). */
tm_encoder *tm_encoder_new(const tm_tokenizer *tok);
void tm_encoder_free(tm_encoder *enc);

enum {
  /* Match the text of special tokens in the input and emit their ids. By
   * default special-token text is encoded as plain text. */
  TM_ENCODE_ALLOW_SPECIAL = 1,
};

/* Encode len bytes of text (any bytes; invalid UTF-8 is kept) and append
 * the ids to *out. Returns 0, or -TM_ENOMEM (out then holds a prefix). */
int tm_encoder_encode(tm_encoder *enc, const void *text, size_t len, unsigned flags, tm_ids *out,
                      tm_error *err);

/* BPE-dropout (Provilkov et al. 2020): each merge the encoder is about to
 * apply is skipped with probability p (skipped merges become candidates
 * again after the next merge that is applied). The random stream is a
 * pure function of seed, so the same (text, p, seed) gives the same ids;
 * p = 0 gives exactly tm_encoder_encode's ids. Not cached (slower). */
int tm_encoder_encode_dropout(tm_encoder *enc, const void *text, size_t len, unsigned flags,
                              double p, uint64_t seed, tm_ids *out, tm_error *err);

#endif
