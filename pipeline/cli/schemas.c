/* schemas.c - the list of configuration schemas; see schemas.h. */
#include "schemas.h"

#include "bpe/bpe_train.h"
#include "builder/build.h"
#include "clean/clean.h"
#include "dedup/dedup.h"
#include "serve/serve.h"
#include "shard.h"

const tm_config_key *const tm_all_schemas[] = {
    tm_build_config_keys,
    tm_shard_config_keys,
    tm_dedup_config_keys,
    tm_tokenizer_config_keys,
    tm_clean_config_keys,
    tm_serve_config_keys,
};
const int tm_n_schemas = (int)(sizeof tm_all_schemas / sizeof tm_all_schemas[0]);
