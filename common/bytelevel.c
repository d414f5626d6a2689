/* bytelevel.c - GPT-2's byte-to-unicode mapping (see bytelevel.h). */
#include "bytelevel.h"

static int printable_byte(unsigned b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tm_bytelevel_cp(uint8_t b) {
  if (printable_byte(b)) return b;
  /* rank of b among the non-printable bytes, in byte order */
  unsigned n = 0;
  for (unsigned x = 0; x < b; x++)
    if (!printable_byte(x)) n++;
  return 0x100 + n;
}

int tm_bytelevel_byte(uint32_t cp) {
  if (cp < 0x100) return printable_byte(cp) ? (int)cp : -1;
  if (cp > 0x143) return -1;
  unsigned n = cp - 0x100;
  for (unsigned x = 0; x < 256; x++)
    if (!printable_byte(x) && n-- == 0) return (int)x;
  return -1;
}

size_t tm_bytelevel_spell(const uint8_t *in, size_t n, char *out) {
  static uint16_t table[256];
  static int ready;
  if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    /* idempotent: concurrent first callers write the same values */
    for (unsigned b = 0; b < 256; b++) __atomic_store_n(&table[b], (uint16_t)tm_bytelevel_cp((uint8_t)b), __ATOMIC_RELAXED);
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
  }
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t cp = __atomic_load_n(&table[in[i]], __ATOMIC_RELAXED);
    if (cp < 0x80) out[o++] = (char)cp;
    else {
      out[o++] = (char)(0xC0 | (cp >> 6));
      out[o++] = (char)(0x80 | (cp & 0x3F));
    }
  }
  out[o] = 0;
  return o;
}

long tm_bytelevel_unspell(const char *in, size_t n, uint8_t *out) {
  const unsigned char *s = (const unsigned char *)in;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    if (s[i] < 0x80) cp = s[i++];
    else if ((s[i] & 0xE0) == 0xC0 && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
      cp = ((uint32_t)(s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F);
      i += 2;
    } else return -1;
    int b = tm_bytelevel_byte(cp);
    if (b < 0) return -1;
    out[o++] = (uint8_t)b;
  }
  return (long)o;
}
