/* ring_fold.c - XXH3-64 accumulated while a ring slot is copied (contract in
 * ring_fold.h).
 *
 * The arithmetic is XXH3's long hash, xxhash.h 0.8 (XXH3_hashLong_internal_loop,
 * XXH3_accumulate_512, XXH3_scrambleAcc, XXH3_mergeAccs) with the default
 * secret (XXH3_kSecret, 192 bytes: 16 stripes per block, the scramble key at
 * 192 - 64, the last stripe's key at 192 - 64 - 7, the merge key at 11).
 * Stripes read from the slot use xxhash's own routines (inlined, vectorised
 * for the build's target); the fused AVX-512 copy loop below repeats
 * XXH3_accumulate_512_avx512 / XXH3_scrambleAcc_avx512 on the register the
 * copy loaded. tests/ring/test_ring_fold.c checks both kernels against
 * XXH3_64bits.
 */
#include "ring_fold.h"

#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define STRIPE 64u
#define BLOCK_STRIPES 16u                           /* (192 - 64) / 8 */
#define SECRET_SIZE 192u                            /* sizeof XXH3_kSecret */
#define SCRAMBLE_KEY (SECRET_SIZE - STRIPE)         /* after each block */
#define LAST_KEY (SECRET_SIZE - STRIPE - 7u)        /* XXH_SECRET_LASTACC_START */
#define MERGE_KEY 11u                               /* XXH_SECRET_MERGEACCS_START */
#define PORTABLE_STRIPES 128u                       /* 8 KiB memcpy, then hash from L1 */

_Static_assert(sizeof(XXH3_kSecret) == SECRET_SIZE, "XXH3 default secret size");

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#if defined(__AVX512F__)
#define FOLD_AVX512 1 /* compiled for (-march): always used */
#define FOLD_TARGET
#else
#define FOLD_AVX512 2 /* compiled with a target attribute, used when the CPU has it */
#define FOLD_TARGET __attribute__((target("avx512f,prfchw")))
#endif
#else
#define FOLD_AVX512 0
#endif

static int g_force_portable;

void tm_ring_fold_reset(tm_ring_fold *f) {
  static const uint64_t init[8] = XXH3_INIT_ACC;
  memcpy(f->acc, init, sizeof init);
  f->done = 0;
  f->stripes = 0;
}

/* Accumulate stripes [s, end) read from p (p points at stripe s). */
static void acc_from(uint64_t *acc, const uint8_t *p, uint64_t s, uint64_t end) {
  for (; s < end; s++, p += STRIPE) {
    XXH3_accumulate_512(acc, p, XXH3_kSecret + 8u * (s % BLOCK_STRIPES));
    if (s % BLOCK_STRIPES == BLOCK_STRIPES - 1) XXH3_scrambleAcc(acc, XXH3_kSecret + SCRAMBLE_KEY);
  }
}

/* Portable kernel: copy stripes [s, end) from src to dst (both at stripe s)
 * a few KiB at a time, accumulating each piece from dst while it is in L1. */
static void copy_portable(uint64_t *acc, uint8_t *dst, const uint8_t *src, uint64_t s,
                          uint64_t end) {
  while (s < end) {
    uint64_t m = end - s < PORTABLE_STRIPES ? end - s : PORTABLE_STRIPES;
    memcpy(dst, src, (size_t)(m * STRIPE));
    acc_from(acc, dst, s, s + m);
    dst += m * STRIPE;
    src += m * STRIPE;
    s += m;
  }
}

#if FOLD_AVX512
/* XXH3_accumulate_512_avx512 on a stripe already in a register */
FOLD_TARGET static inline __m512i stripe_avx512(__m512i acc, __m512i d, const uint8_t *key) {
  __m512i dk = _mm512_xor_si512(d, _mm512_loadu_si512((const void *)key));
  __m512i dk_hi = _mm512_shuffle_epi32(dk, (_MM_PERM_ENUM)_MM_SHUFFLE(0, 3, 0, 1));
  __m512i prod = _mm512_mul_epu32(dk, dk_hi);
  __m512i swap = _mm512_shuffle_epi32(d, (_MM_PERM_ENUM)_MM_SHUFFLE(1, 0, 3, 2));
  return _mm512_add_epi64(prod, _mm512_add_epi64(acc, swap));
}

/* XXH3_scrambleAcc_avx512 */
FOLD_TARGET static inline __m512i scramble_avx512(__m512i acc) {
  const __m512i prime32 = _mm512_set1_epi32((int)XXH_PRIME32_1);
  __m512i x = _mm512_xor_si512(acc, _mm512_srli_epi64(acc, 47));
  x = _mm512_xor_si512(x, _mm512_loadu_si512((const void *)(XXH3_kSecret + SCRAMBLE_KEY)));
  __m512i hi = _mm512_shuffle_epi32(x, (_MM_PERM_ENUM)_MM_SHUFFLE(0, 3, 0, 1));
  __m512i lo_p = _mm512_mul_epu32(x, prime32);
  __m512i hi_p = _mm512_mul_epu32(hi, prime32);
  return _mm512_add_epi64(lo_p, _mm512_slli_epi64(hi_p, 32));
}

/* Fused kernel: per stripe one load from src, one store to dst, and the
 * same register accumulated; the accumulators stay in a register.
 * The hash's dependent instructions fill the scheduler while their loads
 * wait for memory, which limits the misses in flight: without help the loop
 * ran at 0.81-0.92x memcpy's speed out of DRAM (1 GB single-thread loops,
 * 256 KiB..4 MiB pieces), with src prefetched into L2 FOLD_PREFETCH bytes
 * ahead at 0.96-1.02x (same runs). In the ring the slot's lines were last
 * read by the consumer's core: taking them for writing (prefetchw)
 * FOLD_PREFETCHW bytes ahead cut the producer's CPU time in bench_ring from
 * 120-144 to 114-130 ms per GB (9 runs each, interleaved). Prefetches stay
 * inside the piece being copied (never touching the next slot). */
#define FOLD_PREFETCH 4096u
#define FOLD_PREFETCHW 2048u
FOLD_TARGET static void copy_avx512(uint64_t *acc64, uint8_t *dst, const uint8_t *src, uint64_t s,
                                    uint64_t end) {
  __m512i acc = _mm512_load_si512((const void *)acc64);
  const uint8_t *src_end = src + (end - s) * STRIPE;
  while (s < end) {
    unsigned k = (unsigned)(s % BLOCK_STRIPES);
    uint64_t m = BLOCK_STRIPES - k;
    if (m > end - s) m = end - s;
    if (m == BLOCK_STRIPES) { /* a whole block: constant keys */
      int pf = (uint64_t)(src_end - src) >= FOLD_PREFETCH + BLOCK_STRIPES * STRIPE;
      for (unsigned j = 0; j < BLOCK_STRIPES; j += 4) {
        if (pf)
          for (unsigned q = 0; q < 4; q++)
            _mm_prefetch((const char *)src + FOLD_PREFETCH + STRIPE * (j + q), _MM_HINT_T1);
        if (pf)
          for (unsigned q = 0; q < 4; q++)
            __builtin_prefetch(dst + FOLD_PREFETCHW + STRIPE * (j + q), 1, 3);
        __m512i d0 = _mm512_loadu_si512((const void *)(src + STRIPE * j));
        __m512i d1 = _mm512_loadu_si512((const void *)(src + STRIPE * (j + 1)));
        __m512i d2 = _mm512_loadu_si512((const void *)(src + STRIPE * (j + 2)));
        __m512i d3 = _mm512_loadu_si512((const void *)(src + STRIPE * (j + 3)));
        _mm512_storeu_si512((void *)(dst + STRIPE * j), d0);
        _mm512_storeu_si512((void *)(dst + STRIPE * (j + 1)), d1);
        _mm512_storeu_si512((void *)(dst + STRIPE * (j + 2)), d2);
        _mm512_storeu_si512((void *)(dst + STRIPE * (j + 3)), d3);
        acc = stripe_avx512(acc, d0, XXH3_kSecret + 8u * j);
        acc = stripe_avx512(acc, d1, XXH3_kSecret + 8u * (j + 1));
        acc = stripe_avx512(acc, d2, XXH3_kSecret + 8u * (j + 2));
        acc = stripe_avx512(acc, d3, XXH3_kSecret + 8u * (j + 3));
      }
    } else {
      for (unsigned j = 0; j < m; j++) {
        __m512i d = _mm512_loadu_si512((const void *)(src + STRIPE * j));
        _mm512_storeu_si512((void *)(dst + STRIPE * j), d);
        acc = stripe_avx512(acc, d, XXH3_kSecret + 8u * (k + j));
      }
    }
    src += STRIPE * m;
    dst += STRIPE * m;
    s += m;
    if (k + m == BLOCK_STRIPES) acc = scramble_avx512(acc);
  }
  _mm512_store_si512((void *)acc64, acc);
}

static int use_avx512(void) {
  if (g_force_portable) return 0;
#if FOLD_AVX512 == 1
  return 1;
#else
  return __builtin_cpu_supports("avx512f");
#endif
}
#else
static int use_avx512(void) { return 0; }
#endif

const char *tm_ring_fold_kernel(void) { return use_avx512() ? "avx512" : "portable"; }

const char *tm_ring_fold_force_portable(int on) {
  g_force_portable = on != 0;
  return tm_ring_fold_kernel();
}

void tm_ring_fold_copy(tm_ring_fold *f, void *slot, const void *src, size_t n) {
  uint8_t *base = slot;
  const uint8_t *in = src;
  if (n == 0) return;
  uint64_t d = f->done, end = d + n;
  uint64_t last = (end - 1) / STRIPE; /* stripes [0, last) have a byte after them */
  uint64_t s = f->stripes;
  if (last == s) { /* no stripe completes with a byte after it */
    memcpy(base + d, in, n);
    f->done = end;
    return;
  }
  uint64_t a = s * STRIPE;
  if (a < d) { /* stripe s began in an earlier piece: complete it, fold from the slot */
    memcpy(base + d, in, (size_t)(a + STRIPE - d));
    acc_from(f->acc, base + a, s, s + 1);
    s++;
  }
  /* stripes [s, last) come wholly from src, at src offset s*64 - d */
#if FOLD_AVX512
  if (use_avx512())
    copy_avx512(f->acc, base + s * STRIPE, in + (s * STRIPE - d), s, last);
  else
#endif
    copy_portable(f->acc, base + s * STRIPE, in + (s * STRIPE - d), s, last);
  /* the stripe the piece ends in (1..64 bytes) waits for a byte after it */
  uint64_t t = last * STRIPE;
  memcpy(base + t, in + (t - d), (size_t)(end - t));
  f->done = end;
  f->stripes = last;
}

void tm_ring_fold_seal(tm_ring_fold *f, const void *slot, uint64_t upto) {
  if (upto <= f->done) return;
  uint64_t last = (upto - 1) / STRIPE;
  acc_from(f->acc, (const uint8_t *)slot + f->stripes * STRIPE, f->stripes, last);
  f->stripes = last;
  f->done = upto;
}

uint64_t tm_ring_fold_digest(const tm_ring_fold *f, const void *slot, uint64_t len) {
  const uint8_t *p = slot;
  if (len <= XXH3_MIDSIZE_MAX || len < f->done) return XXH3_64bits(p, (size_t)len);
  _Alignas(64) uint64_t acc[8];
  memcpy(acc, f->acc, sizeof acc);
  uint64_t last = (len - 1) / STRIPE;
  acc_from(acc, p + f->stripes * STRIPE, f->stripes, last);
  XXH3_accumulate_512(acc, p + len - STRIPE, XXH3_kSecret + LAST_KEY);
  return XXH3_mergeAccs(acc, XXH3_kSecret + MERGE_KEY, len * XXH_PRIME64_1);
}
