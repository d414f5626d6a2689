/* test_ring_fold.c - the ring producer's checksum accumulated while copying
 * (common/ring_fold.h) equals the library's XXH3_64bits of the bytes, for
 * every length 0..3000 and random lengths up to 4 MiB, split into copies of
 * 1, 63, 64, 65, 1023, 1024, 1025 and random bytes, mixed with direct
 * stores sealed (or not) before the next copy; for each kernel this CPU
 * runs (fused AVX-512 and portable). Then the same through the ring's own
 * tm_ring_write / tm_ring_seal / tm_ring_publish, checked by the consumer's
 * tm_ring_slot_verify. The reference is libxxhash (not inlined), so the
 * fused arithmetic is checked against an independent build of XXH3. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "ring_fold.h"
#include "ring_testutil.h"
#include "tm_test.h"

enum { BIG = 4 << 20 };
static uint8_t *g_src, *g_slot, *g_tok;
static uint64_t g_rng = 0x243f6a8885a308d3ull;

static uint64_t rnd(void) { return tm_test_xorshift(&g_rng); }

/* piece sizes: 0 = random (1..max), 1..7 the fixed sizes */
static const uint64_t k_sizes[] = {1, 63, 64, 65, 1023, 1024, 1025};
#define N_FIXED (sizeof k_sizes / sizeof k_sizes[0])

static uint64_t piece(int pattern, uint64_t left) {
  uint64_t n;
  if (pattern >= 1 && pattern <= (int)N_FIXED) n = k_sizes[pattern - 1];
  else if (pattern == 0) n = left;       /* one copy */
  else {
    /* random: mostly small, sometimes large, sometimes a fixed size */
    uint64_t r = rnd();
    switch (r % 4) {
    case 0: n = k_sizes[(r >> 8) % N_FIXED]; break;
    case 1: n = 1 + (r >> 8) % 200; break;
    case 2: n = 1 + (r >> 8) % 5000; break;
    default: n = 1 + (r >> 8) % (300000); break;
    }
  }
  return n < left ? n : left;
}

/* Fill g_slot[0, len) from g_src by pattern (0: one copy, 1..7 fixed pieces,
 * 8: random pieces, 9: random pieces mixed with sealed direct stores, 10:
 * mixed with unsealed direct stores and seals), checking the digest at
 * the end and at a few lengths beyond what is final. */
static void run_one(uint64_t len, int pattern, const char *kernel) {
  tm_ring_fold f;
  tm_ring_fold_reset(&f);
  memset(g_slot, 0xee, (size_t)(len + 64 < BIG ? len + 64 : BIG));
  uint64_t done = 0;
  while (done < len) {
    uint64_t n = piece(pattern >= 8 ? 8 : pattern, len - done);
    uint64_t op = pattern >= 9 ? rnd() % 3 : 0;
    if (op == 0) { /* a copy also rewrites stored bytes not sealed yet (same values) */
      uint64_t from = f.done;
      tm_ring_fold_copy(&f, g_slot, g_src + from, (size_t)(done + n - from));
    } else {
      memcpy(g_slot + done, g_src + done, (size_t)n); /* the producer stores itself */
      if (op == 1 || pattern == 9) tm_ring_fold_seal(&f, g_slot, done + n);
    }
    done += n;
    /* a seal behind the end is a no-op */
    if (pattern == 10 && rnd() % 8 == 0) tm_ring_fold_seal(&f, g_slot, done / 2);
    /* an intermediate digest over the bytes so far (not changing f) */
    if (pattern >= 8 && f.done == done && rnd() % 16 == 0) {
      uint64_t got = tm_ring_fold_digest(&f, g_slot, done);
      CHECKF(got == XXH3_64bits(g_src, (size_t)done), "%s: len %llu pattern %d: digest at %llu",
             kernel, (unsigned long long)len, pattern, (unsigned long long)done);
    }
  }
  CHECKF(memcmp(g_slot, g_src, (size_t)len) == 0, "%s: len %llu pattern %d: slot content", kernel,
         (unsigned long long)len, pattern);
  uint64_t want = XXH3_64bits(g_src, (size_t)len), got = tm_ring_fold_digest(&f, g_slot, len);
  CHECKF(got == want, "%s: len %llu pattern %d: %016llx, XXH3 %016llx", kernel,
         (unsigned long long)len, pattern, (unsigned long long)got, (unsigned long long)want);
  /* digest again (f unchanged), and over more bytes than were made final */
  CHECK(tm_ring_fold_digest(&f, g_slot, len) == want);
  uint64_t more = len + 1 + rnd() % 3000;
  if (more <= BIG && f.done == len) {
    memcpy(g_slot + len, g_src + len, (size_t)(more - len));
    CHECKF(tm_ring_fold_digest(&f, g_slot, more) == XXH3_64bits(g_src, (size_t)more),
           "%s: len %llu pattern %d: digest at %llu beyond the final bytes", kernel,
           (unsigned long long)len, pattern, (unsigned long long)more);
  }
  /* fewer bytes than were made final: the one-pass hash all the same */
  if (len > 0) CHECK(tm_ring_fold_digest(&f, g_slot, len - 1) == XXH3_64bits(g_src, len - 1));
}

static void test_kernel(const char *kernel) {
  /* every length 0..3000 with every pattern */
  for (uint64_t len = 0; len <= 3000; len++)
    for (int pattern = 0; pattern <= 10; pattern++) run_one(len, pattern, kernel);
  /* random lengths up to 4 MiB, around block multiples too */
  for (int i = 0; i < 24; i++) {
    uint64_t len = 3001 + rnd() % (BIG - 3001);
    if (i % 4 == 0) len = (len & ~(uint64_t)1023) + (rnd() % 3) - 1; /* k*1024 - 1, +0, +1 */
    if (i % 4 == 1) len = (len & ~(uint64_t)63) + (rnd() % 3) - 1;
    if (len < 1) len = 1;
    int patterns[] = {0, 8, 9, 10, 1 + (int)(rnd() % N_FIXED)};
    for (size_t j = 0; j < sizeof patterns / sizeof patterns[0]; j++) {
      /* 1-byte pieces of MiB are slow under ASan: keep those below 200 KiB */
      if (patterns[j] == 1 && len > 200000) continue;
      run_one(len, patterns[j], kernel);
    }
  }
  /* the source at an odd address (the fused kernel loads unaligned) */
  {
    tm_ring_fold f;
    tm_ring_fold_reset(&f);
    tm_ring_fold_copy(&f, g_slot, g_src + 3, 100000);
    CHECK(tm_ring_fold_digest(&f, g_slot, 100000) == XXH3_64bits(g_src + 3, 100000));
  }
}

/* Through the ring: random writes, seals and direct stores, published at
 * the written length or beyond it; the consumer's verify (libxxhash) agrees. */
static void test_ring_api(void) {
  /* token ids below the vocabulary, so that verify checks them too */
  for (size_t i = 0; i < BIG; i += 2) {
    uint16_t v = (uint16_t)(rnd() % RT_VOCAB);
    memcpy(g_tok + i, &v, 2);
  }
  char name[64];
  rt_name(name, sizeof name, "fold");
  tm_ring_params p;
  rt_params(&p, 2, 500);
  p.slot_bytes = (2u << 20) + 4096;
  tm_error err = {0};
  tm_ring *r, *c;
  CHECK(tm_ring_create(&r, name, 0, &p, 0, &err) == 0);
  CHECK(tm_ring_attach(&c, name, 0, &p, NULL, 0, 0, &err) == 0);
  for (int round = 0; round < 60; round++) {
    tm_ring_slot s;
    CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
    uint64_t len = 2 * (1 + rnd() % (p.slot_bytes / 2 - 1));
    if (round < 20) len = 2 * (1 + rnd() % 1500);
    uint64_t done = 0;
    while (done < len) {
      uint64_t n = piece(8, len - done);
      uint64_t op = rnd() % 4;
      if (op <= 1) {
        CHECK(tm_ring_write(r, done, g_tok + done, n, &err) == 0);
      } else {
        memcpy((uint8_t *)s.tokens + done, g_tok + done, (size_t)n);
        if (op == 2) CHECK(tm_ring_seal(r, done + n, &err) == 0);
      }
      done += n;
    }
    uint64_t pub = len;
    if (round % 3 == 2 && len + 2000 <= p.slot_bytes) { /* more published than written */
      memcpy((uint8_t *)s.tokens + len, g_tok + len, 2000);
      pub = len + 2000;
    }
    tm_ring_cursor cur = {1, 0, 0, (uint64_t)round + 1};
    CHECK(tm_ring_publish(r, pub / 2, &cur, &err) == 0);
    tm_ring_slot g;
    CHECK(tm_ring_acquire(c, &g, 1000, &err) == 0);
    CHECKF(g.checksum == XXH3_64bits(g_tok, (size_t)pub), "ring round %d: %llu bytes", round,
           (unsigned long long)pub);
    CHECKF(tm_ring_slot_verify(c, &g, &err) == 0, "ring round %d: %s", round, err.msg);
    CHECK(tm_ring_release(c, &err) == 0);
  }
  tm_ring_close(c, 0);
  tm_ring_close(r, 1);
}

int main(void) {
  g_src = malloc(BIG + 64);
  g_slot = aligned_alloc(4096, BIG + 4096);
  g_tok = malloc(BIG);
  CHECK(g_src && g_slot && g_tok);
  if (!g_src || !g_slot || !g_tok) return tm_test_finish("test_ring_fold");
  /* token-like bytes (the ring carries token ids) mixed with random words */
  for (size_t i = 0; i < BIG + 64; i += 8) {
    uint64_t v = rnd();
    if ((i >> 12) & 1) v &= 0x7fff7fff7fff7fffull;
    memcpy(g_src + i, &v, 8);
  }
  const char *def = tm_ring_fold_kernel();
  printf("test_ring_fold: default kernel %s\n", def);
  if (strcmp(def, "portable") != 0) {
    test_kernel(def);
    test_ring_api();
  }
  CHECK(strcmp(tm_ring_fold_force_portable(1), "portable") == 0);
  test_kernel("portable");
  test_ring_api();
  tm_ring_fold_force_portable(0);
  CHECK(strcmp(tm_ring_fold_kernel(), def) == 0);
  free(g_src);
  free(g_slot);
  free(g_tok);
  return tm_test_finish("test_ring_fold");
}
