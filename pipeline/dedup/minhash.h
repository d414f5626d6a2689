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

/* b-bit minwise hashing (Li and Koenig, 2010) with b = 8: what the index
 * stores and compares is the low byte of each value. Two values that differ
 * agree there with probability 2^-8, so the fraction f of agreeing
 * positions has mean J + (1 - J) / 256 and the estimate removes that:
 * (f - 1/256) / (1 - 1/256) = (256 eq - k) / (255 k) for eq agreeing
 * positions out of k, unbiased, with a standard deviation within 0.3% of
 * full-width values' at J >= 0.5 (at k = 112 and J = 0.75: 0.0410 against
 * 0.0409). Band keys are built from the same bytes: an 8-row band of an
 * unrelated document matches with probability 2^-64. A record holds k
 * bytes of signature instead of 4k. */
static inline uint8_t tm_minhash_stored(uint32_t v) { return (uint8_t)v; }

/* The similarity estimate from the low bytes of a (full values) and b
 * (stored bytes) over k positions: (256 eq - k) / (255 k), at least 0;
 * 1.0 exactly when all agree. */
double tm_minhash_similarity8(const uint32_t *a, const uint8_t *b, int k);

/* keys[0..bands) = band keys of sig (rows values per band), from the low
 * byte of each value (tm_minhash_stored). With AVX-512
 * and 8 rows per band (the default), two bands per vector multiply. */
void tm_minhash_band_keys(const uint32_t *sig, int bands, int rows, uint64_t *keys);

/* The same keys without the vector path (for tests). */
void tm_minhash_band_keys_portable(const uint32_t *sig, int bands, int rows, uint64_t *keys);

/* The probability that a pair with Jaccard j shares at least one band:
 * 1 - (1 - j^rows)^bands (the S-curve). */
double tm_minhash_candidate_prob(double j, int bands, int rows);

#endif
