/* shard_dir.h - a directory of shards that grows: the writer side.
 *
 * Drivers (shards pack, build, serve) append documents; the directory
 * writer opens shard files as needed (s-000000.tms, s-000001.tms, ...),
 * seals one when it reaches max_tokens or max_docs, and after each seal adds
 * it to manifest.json (published atomically, generation + 1). The manifest
 * is the commit point: a crash at any moment leaves the previous manifest
 * and the shards it lists intact; a half-written NAME.tmp or a sealed shard
 * not yet listed is invisible to readers and is removed or overwritten when
 * the directory is opened again.
 *
 * An existing directory is continued: its manifest is loaded, new shards are
 * numbered after the last listed one, and the tokenizer must be the same
 * (hash, vocabulary size and end-of-text id).
 */
#ifndef TM_SHARD_DIR_H
#define TM_SHARD_DIR_H

#include <stdint.h>

#include "error.h"
#include "manifest.h"
#include "shard.h"

typedef struct tm_shard_dir tm_shard_dir;

typedef struct tm_shard_dir_options {
  tm_shard_params params; /* vocab, eot, tokenizer hash, frame size, level */
  uint64_t max_tokens;    /* seal when a shard holds this many tokens (0: 128 Mi) */
  uint64_t max_docs;      /* ... or this many documents (0: 4 Mi) */
} tm_shard_dir_options;

int tm_shard_dir_open(tm_shard_dir **out, const char *dir, const tm_shard_dir_options *o,
                      tm_error *err);

/* Append one document (see tm_shard_writer_append); may seal a shard. */
int tm_shard_dir_append(tm_shard_dir *d, const uint32_t *tokens, size_t n, uint64_t doc_id,
                        const char *source, tm_error *err);

/* Seal the open shard now (if it holds any document) and publish the
 * manifest. A no-op when nothing is open. */
int tm_shard_dir_seal(tm_shard_dir *d, tm_error *err);

/* Documents appended since the last seal (not yet durable). */
uint64_t tm_shard_dir_pending_docs(const tm_shard_dir *d);

/* The manifest as last published. */
const tm_manifest *tm_shard_dir_manifest(const tm_shard_dir *d);

/* Seal what is open, then free. */
int tm_shard_dir_close(tm_shard_dir *d, tm_error *err);
/* Free without sealing: the open shard is discarded (its .tmp removed). */
void tm_shard_dir_abort(tm_shard_dir *d);

#endif
