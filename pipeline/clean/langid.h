/* langid.h - language identification with CLD2 (a C header over the C++
 * library; the shim is langid.cc).
 *
 * Sample rule: a text of at most sample_bytes is read whole; a longer one is
 * read as its first sample_bytes/2 bytes plus sample_bytes/2 bytes from the
 * middle, each cut at a character boundary. CLD2's cost is linear in what
 * it reads, so a long document costs the same as a short one.
 *
 * The result is CLD2's top language as an ISO 639-1 code where one exists
 * ("en", "zh", "zh-Hant", "ja", ...; "un" when unknown) and a confidence in
 * 0..1: the top language's share of the text bytes CLD2 scored (percent3[0]
 * / 100), halved when CLD2 says the result is not reliable. Thread-safe.
 */
#ifndef TM_LANGID_H
#define TM_LANGID_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tm_langid_result {
  char code[16];
  double confidence;
  int reliable;
} tm_langid_result;

/* text must be valid UTF-8. */
void tm_langid_detect(const char *text, size_t n, size_t sample_bytes, tm_langid_result *out);

#ifdef __cplusplus
}
#endif

#endif
