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

/* Commit hook: called when a shard file has been sealed (fsync'd and
 * renamed) and before the manifest that lists it is published. The driver
 * makes its own state durable here (the dedup index checkpoint) and returns
 * in *journal a malloc'd JSON object text (or NULL) that is published inside
 * the manifest together with the shard (its input positions and counters).
 * shards_after is the number of shards the manifest will list. A negative
 * return aborts the seal: the manifest is not published. */
typedef int (*tm_shard_dir_commit_fn)(void *user, const char *shard_name, uint64_t shards_after,
                                      char **journal, tm_error *err);
void tm_shard_dir_set_commit_hook(tm_shard_dir *d, tm_shard_dir_commit_fn fn, void *user);

/* The file name the next sealed shard will have ("s-000012.tms"). After a
 * crash between a shard's seal and its manifest publish, that file exists
 * complete on disk; a driver whose own state shows it was committed adopts
 * it with tm_shard_dir_adopt (verified, then listed with the journal). */
const char *tm_shard_dir_next_name(const tm_shard_dir *d);
int tm_shard_dir_adopt(tm_shard_dir *d, const char *journal, tm_error *err);

/* Publish the manifest again with a new journal and no new shard (the
 * driver's final positions when the last documents produced no shard). */
int tm_shard_dir_commit_journal(tm_shard_dir *d, const char *journal, tm_error *err);

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
