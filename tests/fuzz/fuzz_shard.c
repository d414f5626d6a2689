/* fuzz_shard.c - the shard reader and verifier on a hostile *.tms file:
 * open (header, trailer, index checksum), every document's metadata and
 * tokens, a token range, and the full verify. Whatever the bytes: an error
 * naming the file, never a crash, never a token >= vocab_size returned
 * from a shard that verifies. */
#include "fuzz_util.h"
#include "shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  tm_fuzz_quiet();
  int fd = tm_fuzz_memfd(data, n);
  if (fd < 0) return 0;
  char path[64];
  tm_fuzz_fd_path(path, sizeof path, fd);
  tm_error err = {0};
  tm_shard_info vinfo;
  int verified = tm_shard_verify(path, &vinfo, &err) == 0;
  if (!verified && !err.msg[0]) __builtin_trap();
  tm_shard_reader *r = NULL;
  if (tm_shard_open(&r, path, &err) == 0) {
    const tm_shard_info *info = tm_shard_reader_info(r);
    uint64_t nd = info->n_docs < 64 ? info->n_docs : 64;
    for (uint64_t i = 0; i < nd; i++) {
      tm_shard_doc d;
      if (tm_shard_doc_meta(r, i, &d, &err) < 0) continue;
      const uint32_t *t;
      size_t cnt;
      if (tm_shard_read_doc(r, i, &t, &cnt, &err) == 0 && verified)
        for (size_t k = 0; k < cnt; k++)
          if (t[k] >= info->vocab_size) __builtin_trap();
    }
    uint64_t b = info->n_tokens < 4096 ? info->n_tokens : 4096;
    uint32_t *buf = malloc((b ? b : 1) * sizeof *buf);
    if (buf) {
      (void)tm_shard_read_range(r, 0, b, buf, &err);
      if (info->n_tokens > 8) (void)tm_shard_read_range(r, info->n_tokens - 8, info->n_tokens, buf, &err);
      free(buf);
    }
    tm_shard_close(r);
  } else if (verified) {
    __builtin_trap(); /* verify accepted what open refuses */
  }
  close(fd);
  return 0;
}
