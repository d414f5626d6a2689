/* test_export_wide.c - a 32-bit-token shard directory (vocabulary over
 * 65,536): llm.c export is refused with a clear error, Megatron and
 * datatrove exports are written (int32/uint32) and then checked by the
 * independent Python reader (argv[1] = python, argv[2] = read_tms.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "shards/shard_dir.h"
#include "shards/shard_export.h"
#include "tm_test.h"

int main(int argc, char **argv) {
  char dir[] = "/tmp/tm_test_export_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char shards[300], exp[300];
  snprintf(shards, sizeof shards, "%s/shards", dir);
  snprintf(exp, sizeof exp, "%s/exp", dir);
  tm_shard_dir_options o = {0};
  tm_shard_params_default(&o.params);
  o.params.vocab_size = 100277;
  o.params.eot_id = 100257;
  o.params.tokenizer_hash = 7;
  o.params.frame_bytes = 4096;
  o.max_tokens = 3000;
  tm_error err = {0};
  tm_shard_dir *d;
  CHECK(tm_shard_dir_open(&d, shards, &o, &err) == 0);
  uint32_t t[500];
  for (int doc = 0; doc < 40; doc++) {
    size_t n = (size_t)(doc * 37) % 500;
    for (size_t k = 0; k < n; k++) t[k] = (uint32_t)((doc * 7919 + k * 104729) % 100000);
    CHECK(tm_shard_dir_append(d, t, n, (uint64_t)doc, doc % 2 ? "web" : "social", &err) == 0);
  }
  CHECK(tm_shard_dir_close(d, &err) == 0);
  char llmc[320], meg[320], dt[320];
  snprintf(llmc, sizeof llmc, "%s/llmc", exp);
  snprintf(meg, sizeof meg, "%s/megatron", exp);
  snprintf(dt, sizeof dt, "%s/datatrove", exp);
  CHECK(tm_shards_export(shards, llmc, TM_EXPORT_LLMC, NULL, &err) == -TM_EINVAL);
  CHECKF(strstr(err.msg, "uint16") != NULL, "%s", err.msg);
  uint64_t files = 0;
  CHECK(tm_shards_export(shards, meg, TM_EXPORT_MEGATRON, &files, &err) == 0 && files >= 4);
  CHECK(tm_shards_export(shards, dt, TM_EXPORT_DATATROVE, &files, &err) == 0 && files >= 6);
  if (argc == 3) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s %s --check-exports %s %s", argv[1], argv[2], shards, exp);
    CHECK(system(cmd) == 0);
  }
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return tm_test_finish("test_export_wide");
}
