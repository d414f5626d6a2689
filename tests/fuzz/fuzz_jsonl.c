/* fuzz_jsonl.c - the JSONL reader (one JSON object per line; text, HTML and e-mail fields). */
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  return tm_fuzz_reader(data, n, TM_FORMAT_JSONL);
}
