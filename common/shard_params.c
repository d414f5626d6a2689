/* shard_params.c - shard configuration keys, defaults and document ids. */
#include <xxhash.h>

#include "shard.h"

const tm_config_key tm_shard_config_keys[] = {
    {"shard", "frame_size", TM_CFG_SIZE, "1MiB",
     "uncompressed token bytes per zstd frame (the unit of random access)"},
    {"shard", "zstd_level", TM_CFG_INT, "3", "zstd compression level of the frames (1..19)"},
    {"shard", "max_tokens", TM_CFG_INT, "134217728",
     "a shard is sealed once it holds this many tokens"},
    {"shard", "max_docs", TM_CFG_INT, "4194304",
     "a shard is sealed once it holds this many documents (bounds the writer's index memory: "
     "24 bytes per document)"},
    {NULL, NULL, 0, NULL, NULL},
};

void tm_shard_params_default(tm_shard_params *p) {
  p->frame_bytes = 1u << 20;
  p->zstd_level = 3;
}

uint64_t tm_doc_id_hash(const char *id, size_t len) { return XXH3_64bits(id, len); }
