/* minhash.c - signatures and band keys; see minhash.h. */
#include "minhash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

#define M52 ((1ull << 52) - 1)

int tm_minhash_init(tm_minhash *m, int k, uint64_t seed) {
  memset(m, 0, sizeof *m);
  if (k < 1) return -1;
  m->a = malloc((size_t)k * sizeof *m->a);
  if (!m->a) return -1;
  m->k = k;
  uint64_t x = seed;
  for (int i = 0; i < k; i++) m->a[i] = (splitmix64(&x) & M52) | 1;
  return 0;
}

void tm_minhash_free(tm_minhash *m) {
  free(m->a);
  m->a = NULL;
  m->k = 0;
}

#if defined(__AVX512IFMA__) && defined(__AVX512F__)
#include <immintrin.h>
#define HAVE_IFMA 1
/* Groups of up to 7 blocks of 8 permutations: 7 multipliers and 7 running
 * minima stay in zmm registers for the whole pass over the hashes. */
static void signature_ifma(const uint64_t *a, int k, const uint64_t *restrict h, size_t n,
                           uint32_t *restrict sig) {
  const __m512i zero = _mm512_setzero_si512();
  int j = 0;
  for (; j + 8 <= k; j += 56) {
    int nb = (k - j) / 8 < 7 ? (k - j) / 8 : 7;
    __m512i av[7], mn[7];
    for (int b = 0; b < 7; b++) {
      av[b] = b < nb ? _mm512_loadu_si512((const void *)(a + j + 8 * b)) : zero;
      mn[b] = _mm512_set1_epi64((long long)M52);
    }
    for (size_t i = 0; i < n; i++) {
      const __m512i hv = _mm512_set1_epi64((long long)h[i]);
      for (int b = 0; b < 7; b++) /* unrolled: nb is 7 except in the last group */
        mn[b] = _mm512_min_epu64(mn[b], _mm512_madd52lo_epu64(zero, av[b], hv));
    }
    for (int b = 0; b < nb; b++)
      _mm256_storeu_si256((void *)(sig + j + 8 * b),
                          _mm512_cvtepi64_epi32(_mm512_srli_epi64(mn[b], 20)));
    if (nb < 7) {
      j += 8 * nb;
      break;
    }
  }
  for (; j < k; j++) { /* k not a multiple of 8 */
    uint64_t mn = M52;
    for (size_t i = 0; i < n; i++) {
      uint64_t v = (a[j] * h[i]) & M52;
      mn = v < mn ? v : mn;
    }
    sig[j] = (uint32_t)(mn >> 20);
  }
}
#endif

/* The portable form: the same values, lanes of 8 that compilers vectorise. */
static void signature_portable(const uint64_t *a, int k, const uint64_t *restrict h, size_t n,
                               uint32_t *restrict sig) {
  int j = 0;
  for (; j + 8 <= k; j += 8) {
    uint64_t mn[8], av[8];
    for (int l = 0; l < 8; l++) {
      mn[l] = M52;
      av[l] = a[j + l];
    }
    for (size_t i = 0; i < n; i++)
      for (int l = 0; l < 8; l++) {
        uint64_t v = (av[l] * h[i]) & M52;
        mn[l] = v < mn[l] ? v : mn[l];
      }
    for (int l = 0; l < 8; l++) sig[j + l] = (uint32_t)(mn[l] >> 20);
  }
  for (; j < k; j++) {
    uint64_t mn = M52;
    for (size_t i = 0; i < n; i++) {
      uint64_t v = (a[j] * h[i]) & M52;
      mn = v < mn ? v : mn;
    }
    sig[j] = (uint32_t)(mn >> 20);
  }
}

void tm_minhash_signature(const tm_minhash *m, const uint64_t *hashes, size_t n, uint32_t *sig) {
#ifdef HAVE_IFMA
  signature_ifma(m->a, m->k, hashes, n, sig);
#else
  signature_portable(m->a, m->k, hashes, n, sig);
#endif
}

/* Exposed for the test that both forms agree. */
void tm_minhash_signature_portable(const tm_minhash *m, const uint64_t *hashes, size_t n,
                                   uint32_t *sig) {
  signature_portable(m->a, m->k, hashes, n, sig);
}

double tm_minhash_similarity8(const uint32_t *a, const uint8_t *b, int k) {
  int64_t eq = 0;
  for (int i = 0; i < k; i++) eq += tm_minhash_stored(a[i]) == b[i];
  if (k <= 0 || 256 * eq <= k) return 0.0;
  /* two integers, one rounding: the Python reference gets the same double */
  return (double)(256 * eq - k) / (double)(255 * (int64_t)k);
}

/* 64 fixed 32-bit keys for the NH sums: the low halves of the first 64
 * splitmix64 outputs from state 0 (any random constants would do). */
static const uint32_t NH_KEY[64] = {
    0x7b1dcdafu, 0xa1b965f4u, 0x8009454fu, 0x724c81ecu, 0x51a8749bu, 0x747ea2eau, 0x1f4532e1u,
    0xc916ab3cu, 0x41c98ac3u, 0x368cb0a6u, 0x3cb13d09u, 0x055bdef6u, 0xe0bbdb7bu, 0x983aa92fu,
    0x00cc4d19u, 0x971d80abu, 0x75521255u, 0x2b7f7f86u, 0x83914f64u, 0x5a4485acu, 0x100b9ed7u,
    0x1825f10du, 0x0dca2f6au, 0x7bd2634cu, 0xf5407269u, 0xdb4c4f7bu, 0x92233300u, 0x7de1d510u,
    0xb45c6316u, 0x0f4d3872u, 0x72f3454fu, 0xa8e40225u, 0x4963bab0u, 0x111ac529u, 0x599dc6f7u,
    0x93d108c3u, 0x81daa383u, 0xb43343a1u, 0xcbe531dfu, 0x24851729u, 0xa792922au, 0x918175ceu,
    0x302278a8u, 0x7019e937u, 0x52ebf438u, 0x0a691e37u, 0x763e79adu, 0x743aae49u, 0xb1a1f2e1u,
    0x4f4f52dau, 0xa71a5eb1u, 0xb6513356u, 0xd4367d77u, 0x23ce3c71u, 0x0043c714u, 0x844f1705u,
    0xdd9e0ec1u, 0x82bb9698u, 0xcbc87656u, 0xa17b3c8fu, 0x1d5c5d7bu, 0x1cbbf170u, 0x29a88f1du,
    0xb8bb18fbu
};

static inline uint64_t fmix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

/* NH (the sum of ((r[2i] + k[2i]) mod 2^32) * ((r[2i+1] + k[2i+1]) mod 2^32)
 * mod 2^64, as in UMAC) over the low bytes of the band's rows (the stored
 * bits: the keys rebuilt from records at open are the same), started from a per-band
 * constant and finished with murmur3's fmix64. Two different bands of rows
 * collide with probability about 2^-32 (a false candidate, rejected by the
 * full-signature check), and the top 32 bits (the table fingerprint) are
 * uniform. About 4x faster than XXH3 over 32 bytes per band. */
static uint64_t band_key(const uint32_t *r, int rows, uint64_t b) {
  uint64_t h = (b + 1) * 0x9E3779B97F4A7C15ull;
  int j = 0;
  for (; j + 2 <= rows; j += 2) {
    h += (uint64_t)(uint32_t)(tm_minhash_stored(r[j]) + NH_KEY[j & 63]) *
         (uint64_t)(uint32_t)(tm_minhash_stored(r[j + 1]) + NH_KEY[(j + 1) & 63]);
    if ((j & 63) == 62) h = fmix64(h); /* rows > 64: chunks of 64 are mixed in order */
  }
  if (j < rows)
    h += (uint64_t)(uint32_t)(tm_minhash_stored(r[j]) + NH_KEY[j & 63]) * 0x9E3779B97F4A7C15ull;
  return fmix64(h);
}

void tm_minhash_band_keys_portable(const uint32_t *sig, int bands, int rows, uint64_t *keys) {
  for (int b = 0; b < bands; b++) keys[b] = band_key(sig + (size_t)b * rows, rows, (uint64_t)b);
}

#if defined(__AVX512F__)
#include <immintrin.h>
/* 8 rows: the 16 values of two bands in one vector; + NH_KEY[0..7] (each
 * band's), then the 8 products of even and odd lanes (vpmuludq), summed in
 * fours with two shuffles; addition mod 2^64 makes the order of the terms
 * free, so the keys are band_key's. About 5x fewer instructions than the
 * scalar loop (the index computes 14 keys per document). */
static void band_keys_r8(const uint32_t *sig, int bands, uint64_t *keys) {
  const __m512i k = _mm512_setr_epi32(
      (int)NH_KEY[0], (int)NH_KEY[1], (int)NH_KEY[2], (int)NH_KEY[3], (int)NH_KEY[4],
      (int)NH_KEY[5], (int)NH_KEY[6], (int)NH_KEY[7], (int)NH_KEY[0], (int)NH_KEY[1],
      (int)NH_KEY[2], (int)NH_KEY[3], (int)NH_KEY[4], (int)NH_KEY[5], (int)NH_KEY[6],
      (int)NH_KEY[7]);
  const __m512i low8 = _mm512_set1_epi32(0xFF); /* the stored bits, see minhash.h */
  int b = 0;
  for (; b + 2 <= bands; b += 2) {
    __m512i x = _mm512_and_si512(_mm512_loadu_si512((const void *)(sig + (size_t)b * 8)), low8);
    x = _mm512_add_epi32(x, k);
    __m512i p = _mm512_mul_epu32(x, _mm512_srli_epi64(x, 32));
    p = _mm512_add_epi64(p, _mm512_shuffle_epi32(p, _MM_PERM_BADC)); /* + the other u64 of each 128 */
    p = _mm512_add_epi64(p, _mm512_shuffle_i64x2(p, p, _MM_SHUFFLE(2, 3, 0, 1))); /* + the other 128 of each 256 */
    uint64_t s[8];
    _mm512_storeu_si512((void *)s, p);
    keys[b] = fmix64((uint64_t)(b + 1) * 0x9E3779B97F4A7C15ull + s[0]);
    keys[b + 1] = fmix64((uint64_t)(b + 2) * 0x9E3779B97F4A7C15ull + s[4]);
  }
  for (; b < bands; b++) keys[b] = band_key(sig + (size_t)b * 8, 8, (uint64_t)b);
}
#endif

void tm_minhash_band_keys(const uint32_t *sig, int bands, int rows, uint64_t *keys) {
#if defined(__AVX512F__)
  if (rows == 8) {
    band_keys_r8(sig, bands, keys);
    return;
  }
#endif
  tm_minhash_band_keys_portable(sig, bands, rows, keys);
}

double tm_minhash_candidate_prob(double j, int bands, int rows) {
  return 1.0 - pow(1.0 - pow(j, rows), bands);
}
