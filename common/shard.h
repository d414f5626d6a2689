/* shard.h - token shards (*.tms): writer, reader and verifier.
 *
 * A shard holds a run of documents as token ids, compressed in independent
 * zstd frames, with a footer index that lets a reader seek to any document
 * or token range while decompressing only the frames it needs. The byte
 * layout is specified in common/SHARD_FORMAT.md (format version 1).
 *
 * Guarantees:
 *  - Publishing is atomic: the writer writes NAME.tmp and only a successful
 *    tm_shard_writer_close renames it to NAME (after fsync of the file and
 *    then of the directory). A reader never sees a partial shard.
 *  - Every byte of a shard is covered by a checksum (header, each frame,
 *    index, trailer). Corruption anywhere is reported as TM_ECORRUPT with a
 *    message naming the file and byte offset; never a crash, never a wrong
 *    token returned.
 *  - Reader memory is bounded by the frame size and a small index cache, not
 *    by the shard size.
 *  - Output is deterministic: the same appends give the same bytes (no
 *    timestamps, no uninitialised padding).
 */
#ifndef TM_SHARD_H
#define TM_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

#define TM_SHARD_EXT ".tms"
#define TM_SHARD_MAX_SOURCES 255
#define TM_SHARD_SOURCE_NAME_MAX 255

/* [shard] configuration keys: frame_size, zstd_level, max_tokens, max_docs. */
extern const tm_config_key tm_shard_config_keys[];

typedef struct tm_shard_params {
  uint32_t vocab_size;     /* ids are < vocab_size; width 2 if <= 65536, else 4 */
  uint32_t eot_id;         /* end-of-text id, written after every document */
  uint64_t tokenizer_hash; /* XXH3-64 of the tokenizer.json bytes */
  size_t frame_bytes;      /* uncompressed bytes per zstd frame (default 1 MiB) */
  int zstd_level;          /* default 3 */
} tm_shard_params;

/* Defaults for the frame/level fields (vocab, eot and hash must be set). */
void tm_shard_params_default(tm_shard_params *p);

/* Token width in bytes (2 or 4) for a vocabulary size. */
static inline unsigned tm_shard_token_width(uint32_t vocab_size) {
  return vocab_size <= 65536u ? 2u : 4u;
}

/* 64-bit document id: XXH3-64 of the source's id string. */
uint64_t tm_doc_id_hash(const char *id, size_t len);

/* What a sealed shard holds (filled by close, also read back by open). */
typedef struct tm_shard_info {
  uint32_t version;
  uint32_t token_width;
  uint32_t vocab_size;
  uint32_t eot_id;
  uint64_t tokenizer_hash;
  uint64_t n_docs;
  uint64_t n_tokens; /* all tokens, end-of-text separators included */
  uint64_t n_chunks;
  uint64_t file_bytes;
  uint64_t file_hash; /* XXH3-64 of the whole file (writer only; 0 from open) */
  uint32_t n_sources;
  char source_names[TM_SHARD_MAX_SOURCES][TM_SHARD_SOURCE_NAME_MAX + 1];
  uint64_t source_tokens[TM_SHARD_MAX_SOURCES]; /* per source, separators included */
  uint64_t source_docs[TM_SHARD_MAX_SOURCES];
} tm_shard_info;

/* ---- writer --------------------------------------------------------------- */

typedef struct tm_shard_writer tm_shard_writer;

/* Start writing PATH (written as PATH.tmp until close). An existing PATH.tmp
 * (left by a crash) is replaced. */
int tm_shard_writer_open(tm_shard_writer **out, const char *path, const tm_shard_params *p,
                         tm_error *err);

/* Append one document: n token ids (each < vocab_size), its 64-bit id and
 * its source name (at most 255 distinct names per shard). The end-of-text id
 * is appended after it. */
int tm_shard_writer_append(tm_shard_writer *w, const uint32_t *tokens, size_t n, uint64_t doc_id,
                           const char *source, tm_error *err);

uint64_t tm_shard_writer_docs(const tm_shard_writer *w);
uint64_t tm_shard_writer_tokens(const tm_shard_writer *w);
/* bytes written to the file so far (compressed frames) */
uint64_t tm_shard_writer_bytes(const tm_shard_writer *w);

/* Seal: write the index and trailer, fsync, rename PATH.tmp -> PATH, fsync
 * the directory. Frees w whatever happens; on failure PATH.tmp is removed.
 * info (may be NULL) receives what the shard holds. */
int tm_shard_writer_close(tm_shard_writer *w, tm_shard_info *info, tm_error *err);

/* Give up: remove PATH.tmp and free w. */
void tm_shard_writer_abort(tm_shard_writer *w);

/* ---- reader --------------------------------------------------------------- */

typedef struct tm_shard_reader tm_shard_reader;

typedef struct tm_shard_doc {
  uint64_t token_offset; /* first token of the document in the shard's stream */
  uint32_t n_tokens;     /* without the end-of-text separator */
  uint16_t source;       /* index into info.source_names */
  uint64_t doc_id;
} tm_shard_doc;

/* Open and validate header, trailer and index checksum. */
int tm_shard_open(tm_shard_reader **out, const char *path, tm_error *err);
void tm_shard_close(tm_shard_reader *r);
const tm_shard_info *tm_shard_reader_info(const tm_shard_reader *r);
const char *tm_shard_reader_path(const tm_shard_reader *r);

int tm_shard_doc_meta(tm_shard_reader *r, uint64_t i, tm_shard_doc *out, tm_error *err);

/* Tokens [a, b) of the stream (separators included) into out, as uint32. */
int tm_shard_read_range(tm_shard_reader *r, uint64_t a, uint64_t b, uint32_t *out, tm_error *err);
/* Same, but in the shard's own width (2 or 4 bytes per token, little endian):
 * out receives (b - a) * token_width bytes. */
int tm_shard_read_range_raw(tm_shard_reader *r, uint64_t a, uint64_t b, void *out,
                            tm_error *err);

/* Document i's tokens (without separator) into a buffer the reader owns,
 * valid until the next call on r. */
int tm_shard_read_doc(tm_shard_reader *r, uint64_t i, const uint32_t **tokens, size_t *n,
                      tm_error *err);

/* Full check of one shard file: every checksum, the index's consistency,
 * token ids < vocab and a separator after every document. Memory bounded by
 * the frame size. On failure the message names the file and byte offset. */
int tm_shard_verify(const char *path, tm_shard_info *info, tm_error *err);

#endif
