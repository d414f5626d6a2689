/* fuzz_warc.c - the WARC/WET reader (record headers, Content-Length, record types). */
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  return tm_fuzz_reader(data, n, TM_FORMAT_WARC);
}
