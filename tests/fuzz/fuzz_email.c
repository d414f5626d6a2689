/* fuzz_email.c - the e-mail reader (RFC 822 / MIME / mbox through GMime). */
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  return tm_fuzz_reader(data, n, TM_FORMAT_EMAIL);
}
