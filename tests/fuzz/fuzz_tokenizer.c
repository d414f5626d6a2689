/* fuzz_tokenizer.c - the tokenizer.json loader. A tokenizer that loads must
 * also work: it encodes a fixed text (with and without specials), decodes
 * the plain encoding back to the same bytes (when no byte symbol is missing), and saves to JSON that loads again to the same
 * hash. */
#include "fuzz_util.h"
#include "tokenizer.h"

static const char sample[] = "Hello, world! <|endoftext|> 12345 \xe4\xbd\xa0\xe5\xa5\xbd \xff\xfe end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  tm_fuzz_quiet();
  tm_tokenizer *tok = NULL;
  tm_error err = {0};
  if (tm_tokenizer_load_json(&tok, (const char *)data, n, "fuzz.json", &err) < 0) {
    if (!err.msg[0]) __builtin_trap();
    return 0;
  }
  tm_encoder *enc = tm_encoder_new(tok);
  if (enc) {
    tm_ids ids = {0};
    (void)tm_encoder_encode(enc, sample, sizeof sample - 1, TM_ENCODE_ALLOW_SPECIAL, &ids, &err);
    ids.len = 0;
    if (tm_encoder_encode(enc, sample, sizeof sample - 1, 0, &ids, &err) == 0) {
      uint8_t *out = NULL;
      size_t len = 0, cap = 0;
      if (tm_tokenizer_decode(tok, ids.ids, ids.len, &out, &len, &cap, &err) == 0 && !tm_tokenizer_missing_bytes(tok)) {
        /* byte-level BPE with all 256 bytes is lossless */
        if (len != sizeof sample - 1 || memcmp(out, sample, len)) __builtin_trap();
      }
      free(out);
    }
    tm_ids_free(&ids);
    tm_encoder_free(enc);
  }
  char *json = NULL;
  size_t jlen = 0;
  if (tm_tokenizer_to_json(tok, &json, &jlen, &err) == 0) {
    tm_tokenizer *again = NULL;
    if (tm_tokenizer_load_json(&again, json, jlen, "fuzz-resaved.json", &err) < 0) __builtin_trap();
    tm_tokenizer_free(again);
    free(json);
  }
  tm_tokenizer_free(tok);
  return 0;
}
