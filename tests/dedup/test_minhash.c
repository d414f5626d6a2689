/* test_minhash.c - signatures, similarity estimates and band keys (minhash.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dedup/minhash.h"
#include "tm_test.h"

static uint64_t rng = 0x1234567;
static uint64_t rnd(void) { return tm_test_xorshift(&rng); }

/* Two sets of random hashes with |A n B| / |A u B| = j exactly. */
static void make_pair(uint64_t *a, size_t *na, uint64_t *b, size_t *nb, size_t uni, double j) {
  size_t common = (size_t)(j * (double)uni + 0.5), rest = uni - common;
  *na = *nb = 0;
  for (size_t i = 0; i < common; i++) a[(*na)++] = b[(*nb)++] = rnd();
  for (size_t i = 0; i < rest; i++) {
    if (i % 2) a[(*na)++] = rnd();
    else b[(*nb)++] = rnd();
  }
}

int main(void) {
  tm_minhash m, m2;
  CHECK(tm_minhash_init(&m, 1024, 7) == 0);
  CHECK(tm_minhash_init(&m2, 1024, 7) == 0);
  CHECK(!memcmp(m.a, m2.a, 1024 * 8)); /* seeded */
  int odd = 1;
  for (int i = 0; i < 1024; i++) odd &= (int)(m.a[i] & 1) && m.a[i] < (1ull << 52);
  CHECK(odd);
  tm_minhash_free(&m2);

  static uint64_t a[4000], b[4000];
  static uint32_t sa[1024], sb[1024];
  size_t na, nb;
  /* the estimate, from the byte the index keeps of b's values, is within
   * 4 standard deviations of the true Jaccard (agreement by chance, 1/256
   * of the differing positions, included) */
  static uint8_t sb8[1024];
  const double js[] = {0.0, 0.3, 0.5, 0.75, 0.9, 1.0};
  for (size_t t = 0; t < sizeof js / sizeof js[0]; t++) {
    make_pair(a, &na, b, &nb, 2000, js[t]);
    tm_minhash_signature(&m, a, na, sa);
    tm_minhash_signature(&m, b, nb, sb);
    for (int i = 0; i < 1024; i++) sb8[i] = tm_minhash_stored(sb[i]);
    double est = tm_minhash_similarity8(sa, sb8, 1024);
    double p = js[t] + (1 - js[t]) / 256;
    double sd = sqrt(p * (1 - p) / 1024) / (1 - 1.0 / 256) + 1e-9;
    CHECKF(fabs(est - js[t]) <= 4 * sd + 0.002, "j=%.2f est=%.4f", js[t], est);
  }
  /* order and repetition of shingles do not matter */
  make_pair(a, &na, b, &nb, 500, 0.5);
  tm_minhash_signature(&m, a, na, sa);
  for (size_t i = 0; i < na / 2; i++) {
    uint64_t x = a[i];
    a[i] = a[na - 1 - i];
    a[na - 1 - i] = x;
  }
  a[na] = a[0];
  tm_minhash_signature(&m, a, na + 1, sb);
  CHECK(!memcmp(sa, sb, sizeof sa));
  /* the minimum is the minimum of the permuted values */
  uint64_t one = 0xdeadbeefcafef00dull;
  tm_minhash_signature(&m, &one, 1, sa);
  CHECK(sa[5] == (uint32_t)(((m.a[5] * one) & ((1ull << 52) - 1)) >> 20));
  /* vector and portable forms agree at k = 1024 (several groups of blocks) */
  static uint32_t pa[1024];
  tm_minhash_signature(&m, a, na, sa);
  tm_minhash_signature_portable(&m, a, na, pa);
  CHECK(!memcmp(sa, pa, sizeof sa));
  /* no shingles: all ones */
  tm_minhash_signature(&m, a, 0, sa);
  CHECK(sa[0] == UINT32_MAX && sa[1023] == UINT32_MAX);
  tm_minhash_free(&m);

  /* k not a multiple of 8 takes the scalar tail */
  CHECK(tm_minhash_init(&m, 13, 3) == 0);
  uint32_t s13[13];
  tm_minhash_signature(&m, &one, 1, s13);
  CHECK(s13[12] == (uint32_t)(((m.a[12] * one) & ((1ull << 52) - 1)) >> 20));
  /* the vector and portable forms agree (k = 13: one block and a tail) */
  uint64_t hs[300];
  for (int i = 0; i < 300; i++) hs[i] = rnd();
  uint32_t p13[13];
  tm_minhash_signature(&m, hs, 300, s13);
  tm_minhash_signature_portable(&m, hs, 300, p13);
  CHECK(!memcmp(s13, p13, sizeof s13));
  tm_minhash_free(&m);

  /* band keys: equal rows, equal key; one changed row changes one band */
  uint32_t x[112], y[112];
  uint64_t kx[14], ky[14];
  for (int i = 0; i < 112; i++) x[i] = y[i] = (uint32_t)rnd();
  y[17] ^= 1; /* band 2 */
  tm_minhash_band_keys(x, 14, 8, kx);
  tm_minhash_band_keys(y, 14, 8, ky);
  int diff = 0;
  for (int i = 0; i < 14; i++) diff += kx[i] != ky[i];
  CHECK(diff == 1 && kx[2] != ky[2]);
  /* bands with equal rows in different positions do not collide */
  for (int i = 0; i < 112; i++) x[i] = 5;
  tm_minhash_band_keys(x, 14, 8, kx);
  CHECK(kx[0] != kx[1]);

  /* the vector path (8 rows) gives the portable keys, odd band counts too */
  for (int t = 0; t < 200; t++) {
    uint32_t z[8 * 15];
    uint64_t kv[15], kp[15];
    for (int i = 0; i < 8 * 15; i++) z[i] = t % 3 ? (uint32_t)rnd() : 0xFFFFFFFFu - (uint32_t)(rnd() % 3);
    int nb = 1 + t % 15;
    tm_minhash_band_keys(z, nb, 8, kv);
    tm_minhash_band_keys_portable(z, nb, 8, kp);
    CHECK(!memcmp(kv, kp, (size_t)nb * sizeof *kv));
  }

  CHECK(fabs(tm_minhash_candidate_prob(0.75, 14, 8) - (1 - pow(1 - pow(0.75, 8), 14))) < 1e-12);
  CHECK(tm_minhash_candidate_prob(1.0, 14, 8) == 1.0 && tm_minhash_candidate_prob(0, 14, 8) == 0);
  return tm_test_finish("test_dedup_minhash");
}
