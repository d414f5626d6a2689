/* fuzz_shard.c - the shard reader and verifier on a hostile *.tms file:
 * open (header, trailer, index checksum), every document's metadata and
 * tokens, a token range, and the full verify. Whatever the bytes: an error
 * naming the file, never a crash, never a token >= vocab_size returned
 * from a shard that verifies.
 *
 * Each input runs twice: as it is, and with every checksum recomputed
 * (common/SHARD_FORMAT.md: header, each frame's entry in the chunk table,
 * the index, the trailer), so that mutations get past the checksums into the
 * index and frame logic: a checksum is not a defence against a shard built
 * to be hostile. */
#include <xxhash.h>

#include "fuzz_util.h"
#include "shard.h"

static uint64_t rd64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v; /* the format is little-endian, as is this host */
}
static uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void fix_checksums(uint8_t *d, size_t n) {
  if (n >= 64) wr64(d + 56, XXH3_64bits(d, 56));
  if (n < 128) return;
  uint8_t *t = d + n - 64;
  uint64_t io = rd64(t), is = rd64(t + 8), nc = rd32(t + 32);
  if (io <= n - 64 && is <= n - 64 - io) {
    uint8_t *ix = d + io;
    for (uint64_t c = 0; c < nc && (c + 1) * 32 <= is; c++) {
      uint8_t *e = ix + c * 32;
      uint64_t fo = rd64(e), fs = rd32(e + 16);
      if (fo <= n && fs <= n - fo) wr64(e + 24, XXH3_64bits(d + fo, fs));
    }
    wr64(t + 40, XXH3_64bits(ix, is));
  }
  wr64(t + 48, XXH3_64bits(t, 48));
}

static void one(const uint8_t *data, size_t n) {
  int fd = tm_fuzz_memfd(data, n);
  if (fd < 0) return;
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  tm_fuzz_quiet();
  one(data, n);
  uint8_t *fixed = malloc(n ? n : 1);
  if (fixed) {
    memcpy(fixed, data, n);
    fix_checksums(fixed, n);
    if (n == 0 || memcmp(fixed, data, n)) one(fixed, n);
    free(fixed);
  }
  return 0;
}
