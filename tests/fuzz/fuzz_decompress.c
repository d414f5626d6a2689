/* fuzz_decompress.c - gzip and zstd input (multi-member, truncated, bombs) with format detection. */
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  return tm_fuzz_reader(data, n, TM_FORMAT_AUTO);
}
