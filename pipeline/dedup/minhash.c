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

double tm_minhash_similarity(const uint32_t *a, const uint32_t *b, int k) {
  int eq = 0;
  for (int i = 0; i < k; i++) eq += a[i] == b[i];
  return k ? (double)eq / k : 0.0;
}

void tm_minhash_band_keys(const uint32_t *sig, int bands, int rows, uint64_t *keys) {
  for (int b = 0; b < bands; b++)
    keys[b] = XXH3_64bits_withSeed(sig + (size_t)b * rows, (size_t)rows * sizeof *sig,
                                   (uint64_t)b);
}

double tm_minhash_candidate_prob(double j, int bands, int rows) {
  return 1.0 - pow(1.0 - pow(j, rows), bands);
}
