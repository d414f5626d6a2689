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

int tm_minhash_init(tm_minhash *m, int k, uint64_t seed) {
  memset(m, 0, sizeof *m);
  if (k < 1) return -1;
  m->a = malloc((size_t)k * sizeof *m->a);
  m->b = malloc((size_t)k * sizeof *m->b);
  if (!m->a || !m->b) {
    tm_minhash_free(m);
    return -1;
  }
  m->k = k;
  uint64_t x = seed;
  for (int i = 0; i < k; i++) {
    m->a[i] = splitmix64(&x) | 1;
    m->b[i] = splitmix64(&x);
  }
  return 0;
}

void tm_minhash_free(tm_minhash *m) {
  free(m->a);
  free(m->b);
  m->a = m->b = NULL;
  m->k = 0;
}

/* Lanes of 8 keep the running minima in 64-bit registers (no narrowing in
 * the loop); the block of 8 permutations is applied to every shingle before
 * moving to the next block, so a block's minima stay in registers. */
void tm_minhash_signature(const tm_minhash *m, const uint64_t *restrict hashes, size_t n,
                          uint32_t *restrict sig) {
  const int k = m->k;
  int j = 0;
  for (; j + 8 <= k; j += 8) {
    uint64_t mn[8], a[8], b[8];
    for (int l = 0; l < 8; l++) {
      mn[l] = UINT32_MAX;
      a[l] = m->a[j + l];
      b[l] = m->b[j + l];
    }
    for (size_t i = 0; i < n; i++) {
      const uint64_t h = hashes[i];
      for (int l = 0; l < 8; l++) {
        uint64_t v = (a[l] * h + b[l]) >> 32;
        mn[l] = v < mn[l] ? v : mn[l];
      }
    }
    for (int l = 0; l < 8; l++) sig[j + l] = (uint32_t)mn[l];
  }
  for (; j < k; j++) {
    uint64_t mn = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
      uint64_t v = (m->a[j] * hashes[i] + m->b[j]) >> 32;
      mn = v < mn ? v : mn;
    }
    sig[j] = (uint32_t)mn;
  }
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
