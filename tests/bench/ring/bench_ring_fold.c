/* bench_ring_fold.c - the ring producer's copy with its checksum, alone (one
 * thread, no consumer, no handoff), beside a plain memcpy of the same bytes.
 *
 *   bench_ring_fold [--mib N] [--rounds R] [--min-slot BYTES]
 *
 * For slot sizes 256 KiB .. 4 MiB, batches are copied out of a 512 MiB
 * source (larger than this machine's L3) into 8 MiB of slots (at least 4),
 * N MiB per run (default 512), R rounds (default 5) each running every
 * method once, so load drift hits all alike; the best GB/s and the least
 * CPU ms per GB of the rounds are printed:
 *   memcpy          glibc memcpy of the slot (the baseline of issue #7);
 *   two-pass 8 KiB  memcpy 8 KiB, then XXH3_64bits_update over it from L1
 *                   (the ring's producer before ring_fold);
 *   fused           tm_ring_fold_copy + digest, the default kernel (AVX-512:
 *                   the stripe loaded for the copy is accumulated from the
 *                   register);
 *   portable        the same with the portable kernel (memcpy 8 KiB, then
 *                   the stripes accumulated from L1).
 * Every method's checksum of the first slot is checked against XXH3_64bits.
 * bench_ring measures the whole ring (two processes, futex handoff).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ring_fold.h"
/* inlined, as common/ring.c compiled it */
#define XXH_INLINE_ALL
#include <xxhash.h>

#define SRC_BYTES (512ull << 20)


enum { M_MEMCPY, M_TWOPASS, M_FUSED, M_PORTABLE, N_METHODS };
static const char *k_names[N_METHODS] = {"memcpy", "two-pass 8 KiB", "fused", "portable"};

static XXH3_state_t *g_state; /* heap: gcc 12 warns on a static one inlined */
static tm_ring_fold g_fold;
static volatile uint64_t g_sink;

/* copy one slot by method m; returns its checksum (0 for memcpy) */
static uint64_t copy_one(int m, uint8_t *d, const uint8_t *s, size_t slot) {
  switch (m) {
  case M_MEMCPY: memcpy(d, s, slot); return 0;
  case M_TWOPASS:
    XXH3_64bits_reset(g_state);
    for (size_t i = 0; i < slot; i += 8192) {
      size_t n = slot - i < 8192 ? slot - i : 8192;
      memcpy(d + i, s + i, n);
      XXH3_64bits_update(g_state, d + i, n);
    }
    return XXH3_64bits_digest(g_state);
  default:
    tm_ring_fold_force_portable(m == M_PORTABLE);
    tm_ring_fold_reset(&g_fold);
    tm_ring_fold_copy(&g_fold, d, s, slot);
    return tm_ring_fold_digest(&g_fold, d, slot);
  }
}

int main(int argc, char **argv) {
  uint64_t mib = 512, min_slot = 0;
  int rounds = 5;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mib") && i + 1 < argc) mib = strtoull(argv[++i], 0, 10);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--min-slot") && i + 1 < argc) min_slot = strtoull(argv[++i], 0, 10);
    else {
      fprintf(stderr, "usage: bench_ring_fold [--mib N] [--rounds R] [--min-slot BYTES]\n");
      return 2;
    }
  }
  if (mib == 0 || rounds < 1) {
    fprintf(stderr, "bench_ring_fold: --mib and --rounds must be positive\n");
    return 2;
  }
  uint8_t *src = malloc(SRC_BYTES);
  g_state = XXH3_createState();
  if (!src || !g_state) {
    fprintf(stderr, "bench_ring_fold: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < SRC_BYTES; i += 8) {
    uint64_t v = i * 0x9e3779b97f4a7c15ull;
    memcpy(src + i, &v, 8);
  }
  const char *kernel = tm_ring_fold_kernel();
  printf("ring producer copy alone: %llu MiB per run, best of %d rounds, from a %llu MiB source; "
         "default kernel %s\n",
         (unsigned long long)mib, rounds, (unsigned long long)(SRC_BYTES >> 20), kernel);
  static const size_t sizes[] = {262144, 1048576, 4194304};
  uint64_t total = mib << 20;
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    size_t slot = sizes[si];
    if (slot < min_slot) continue;
    size_t ring = (size_t)8 << 20;
    if (ring < 4 * slot) ring = 4 * slot;
    uint8_t *dst = aligned_alloc(4096, ring);
    if (!dst) {
      fprintf(stderr, "bench_ring_fold: out of memory\n");
      return 1;
    }
    memset(dst, 1, ring);
    uint64_t want = XXH3_64bits(src, slot);
    for (int m = M_TWOPASS; m < N_METHODS; m++) {
      uint64_t got = copy_one(m, dst, src, slot);
      if (got != want) {
        fprintf(stderr, "bench_ring_fold: %s checksum %016llx, XXH3 %016llx\n", k_names[m],
                (unsigned long long)got, (unsigned long long)want);
        return 1;
      }
    }
    double best[N_METHODS] = {0}, least[N_METHODS];
    for (int m = 0; m < N_METHODS; m++) least[m] = 1e9;
    uint64_t off = 0;
    for (int r = 0; r < rounds; r++) {
      for (int m = 0; m < N_METHODS; m++) {
        size_t doff = 0;
        double t0 = tm_now_s(), c0 = tm_proc_cpu_s();
        for (uint64_t moved = 0; moved < total; moved += slot) {
          if (off + slot > SRC_BYTES) off = 0;
          if (doff + slot > ring) doff = 0;
          g_sink += copy_one(m, dst + doff, src + off, slot);
          off += slot;
          doff += slot;
        }
        double dt = tm_now_s() - t0, dc = tm_proc_cpu_s() - c0, gb = (double)total / 1e9;
        if (gb / dt > best[m]) best[m] = gb / dt;
        if (dc / gb < least[m]) least[m] = dc / gb;
      }
    }
    tm_ring_fold_force_portable(0);
    printf("slot %5zu KiB:", slot >> 10);
    for (int m = 0; m < N_METHODS; m++)
      printf(" %s %.2f GB/s (%.2fx memcpy) %.0f CPU ms/GB%s", k_names[m], best[m],
             best[m] / best[0], least[m] * 1e3, m + 1 < N_METHODS ? " |" : "");
    printf("\n");
    fflush(stdout);
    free(dst);
  }
  XXH3_freeState(g_state);
  free(src);
  return 0;
}
