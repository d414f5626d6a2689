/* minhash.h - MinHash signatures and LSH band keys.
 *
 * K permutations of the shingle hash space, each a multiply-shift hash on the
 * low 52 bits of the 64-bit shingle hash h:
 *
 *     p_k(h) = ((a_k * h) mod 2^52) >> 20        (a_k odd, < 2^52)
 *
 * One 64-bit hash per shingle feeds all K; signature value k is the
 * minimum of p_k over the document's shingles, a 32-bit number (an empty
 * shingle set gives all 0xFFFFFFFF). The inner loop is K independent lanes of
 * one multiply and one min (the shift is applied once, to the minimum): on
 * CPUs with AVX-512 IFMA that is one vpmadd52luq and one vpminuq per 8
 * permutations; elsewhere compilers vectorise the portable loop, which gives
 * identical values. The fraction of equal values between two signatures is
 * an estimate of the Jaccard similarity of the shingle sets.
 *
 * a_k comes from splitmix64 seeded with `seed`: the same seed gives
 * the same permutations on every machine, which the on-disk index and the
 * Python reference (tests/bench/dedup/ref_minhash.py) rely on.
 *
 * Band keys: band b (0 <= b < bands) covers values [b*rows, (b+1)*rows) and
 * its key is an NH sum of those rows (pairs of 32-bit values added to fixed
 * keys and multiplied into 64 bits, as in UMAC), started from a constant of
 * b and finished with murmur3's fmix64. Two documents collide in a band when
 * their rows agree there (or, with probability about 2^-32, by chance: a
 * false candidate that the full-signature check rejects). Keys are not
 * stored: the index rebuilds its tables from the signatures at open, so this
 * function may change between versions.
 */
#ifndef TM_DEDUP_MINHASH_H
#define TM_DEDUP_MINHASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct tm_minhash {
  int k;          /* number of permutations */
  uint64_t *a;    /* k odd multipliers below 2^52 */
} tm_minhash;

/* Returns 0, or -1 on allocation failure (k must be >= 1). */
int tm_minhash_init(tm_minhash *m, int k, uint64_t seed);
void tm_minhash_free(tm_minhash *m);

/* sig[0..k) = signature of the n shingle hashes. */
void tm_minhash_signature(const tm_minhash *m, const uint64_t *hashes, size_t n, uint32_t *sig);

/* The same values without the AVX-512 IFMA path (for tests). */
void tm_minhash_signature_portable(const tm_minhash *m, const uint64_t *hashes, size_t n,
                                   uint32_t *sig);

/* b-bit minwise hashing (Li and Koenig, 2010) with b = 16: what the index
 * stores and compares is the low 16 bits of each value. Two values that
 * differ agree there with probability 2^-16, so the fraction of agreeing
 * positions estimates the Jaccard similarity J with a bias of
 * (1 - J) * 2^-16 (below 1.6e-5). At k = 112 a candidate check gains a
 * false agreement with probability at most 112 * 2^-16 = 0.17%, and that
 * changes its verdict only when the true count of agreeing positions is
 * exactly one below the threshold. Band keys are built from the same 16
 * bits: an 8-row band matches when its rows agree there (falsely with
 * probability 2^-128). */
static inline uint16_t tm_minhash_stored(uint32_t v) { return (uint16_t)v; }

/* Fraction of positions where the low 16 bits of a agree with b, over k
 * positions: the similarity estimate. */
double tm_minhash_similarity16(const uint32_t *a, const uint16_t *b, int k);

/* keys[0..bands) = band keys of sig (rows values per band), from the low
 * 16 bits of each value (tm_minhash_stored). With AVX-512
 * and 8 rows per band (the default), two bands per vector multiply. */
void tm_minhash_band_keys(const uint32_t *sig, int bands, int rows, uint64_t *keys);

/* The same keys without the vector path (for tests). */
void tm_minhash_band_keys_portable(const uint32_t *sig, int bands, int rows, uint64_t *keys);

/* The probability that a pair with Jaccard j shares at least one band:
 * 1 - (1 - j^rows)^bands (the S-curve). */
double tm_minhash_candidate_prob(double j, int bands, int rows);

#endif
