/* manifest.h - manifest.json: the single list of sealed shards in a directory.
 *
 * A shard that is not listed does not exist (a crash can leave a sealed but
 * unlisted file; readers ignore it). Every update writes the whole manifest
 * atomically (manifest.json.tmp, fsync, rename, directory fsync) and
 * increments `generation`, so a reader that saw generation g can tell when
 * the list changed. Readers load it, never list the directory.
 *
 * JSON layout (version 1):
 *   {"format": "tokenmill-manifest", "version": 1, "generation": 7,
 *    "tokenizer_hash": "0123456789abcdef", "vocab_size": 32768, "eot_id": 0,
 *    "shards": [{"name": "s-000000.tms", "documents": 812, "tokens": 901233,
 *                "bytes": 1042331, "file_hash": "...", "tokenizer_hash": "...",
 *                "tokens_per_source": {"web": 700000, "books": 201233},
 *                "documents_per_source": {"web": 700, "books": 112},
 *                "created": "2026-11-28T17:40:00Z"}]}
 */
#ifndef TM_MANIFEST_H
#define TM_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "shard.h"

#define TM_MANIFEST_NAME "manifest.json"

typedef struct tm_manifest_source {
  char name[TM_SHARD_SOURCE_NAME_MAX + 1];
  uint64_t tokens;
  uint64_t docs;
} tm_manifest_source;

typedef struct tm_manifest_shard {
  char name[256];
  uint64_t documents;
  uint64_t tokens;
  uint64_t bytes;
  uint64_t file_hash;
  uint64_t tokenizer_hash;
  char created[32];
  uint32_t n_sources;
  tm_manifest_source *sources;
} tm_manifest_shard;

typedef struct tm_manifest {
  uint64_t generation;
  /* A driver's own commit record, stored as the manifest's "journal" member
   * so that it is published atomically with the shard list (the build's
   * input positions and counters). JSON text of an object, or NULL. Owned
   * by the manifest: set it with tm_manifest_set_journal. */
  char *journal;
  uint64_t tokenizer_hash;
  uint32_t vocab_size;
  uint32_t eot_id;
  size_t n_shards, cap;
  tm_manifest_shard *shards;
} tm_manifest;

/* Load DIR/manifest.json. A missing file gives an empty manifest
 * (generation 0) when allow_missing, else TM_ENOTFOUND. */
int tm_manifest_load(tm_manifest *m, const char *dir, int allow_missing, tm_error *err);
void tm_manifest_free(tm_manifest *m);

/* Add a sealed shard's record (name relative to the directory). */
int tm_manifest_add(tm_manifest *m, const char *name, const tm_shard_info *info, tm_error *err);
/* Replace the journal object (JSON text of an object; NULL removes it).
 * TM_EFORMAT if the text is not a JSON object. */
int tm_manifest_set_journal(tm_manifest *m, const char *json, tm_error *err);

/* Find a shard by name; -1 if absent. */
long tm_manifest_find(const tm_manifest *m, const char *name);

/* Increment the generation and publish DIR/manifest.json atomically. */
int tm_manifest_save(tm_manifest *m, const char *dir, tm_error *err);

/* Totals over all shards. */
uint64_t tm_manifest_total_tokens(const tm_manifest *m);
uint64_t tm_manifest_total_docs(const tm_manifest *m);

#endif
