// langid.cc - the C++ shim over CLD2; see langid.h.
#include "langid.h"

#include <cstdio> /* before CLD2's header, which uses FILE without including it */
#include <cstring>
#include <string>

#include <cld2/public/compact_lang_det.h>

namespace {

// Move p back to the start of a UTF-8 character.
size_t char_start(const char *s, size_t p) {
  while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xc0) == 0x80) p--;
  return p;
}

}  // namespace

extern "C" void tm_langid_detect(const char *text, size_t n, size_t sample_bytes,
                                 tm_langid_result *out) {
  std::string sample;
  const char *buf = text;
  size_t len = n;
  if (sample_bytes >= 64 && n > sample_bytes) {
    size_t half = sample_bytes / 2;
    size_t a = char_start(text, half);
    size_t m0 = char_start(text, n / 2), m1 = char_start(text, n / 2 + half);
    sample.reserve(a + 1 + (m1 - m0));
    sample.append(text, a);
    sample.push_back('\n');
    sample.append(text + m0, m1 - m0);
    buf = sample.data();
    len = sample.size();
  }
  CLD2::Language lang3[3];
  int percent3[3] = {0, 0, 0};
  int text_bytes = 0;
  bool reliable = false;
  CLD2::Language top = CLD2::ExtDetectLanguageSummary(buf, static_cast<int>(len), true, lang3,
                                                      percent3, &text_bytes, &reliable);
  std::snprintf(out->code, sizeof out->code, "%s", CLD2::LanguageCode(top));
  out->reliable = reliable ? 1 : 0;
  double c = top == CLD2::UNKNOWN_LANGUAGE ? 0.0 : percent3[0] / 100.0;
  out->confidence = reliable ? c : c / 2;
}
