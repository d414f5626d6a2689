/* test_lsh_table.c - the open-addressing multimap (lsh_table.h). */
#include <stdlib.h>
#include <string.h>

#include "dedup/lsh_table.h"
#include "tm_test.h"

static uint64_t rng = 99;
static uint64_t rnd(void) { return tm_test_xorshift(&rng); }

/* The invariants of lsh_table.h: occupied fingerprints never decrease, and
 * no empty slot lies between an entry's home and the entry. */
static int ordered(const tm_lsh_table *t) {
  uint32_t last = 0;
  uint64_t n = 0;
  for (uint64_t i = 0; i < t->cap + TM_LSH_SPARE; i++) {
    uint64_t v = t->slot[i];
    if (!v) continue;
    uint32_t fp = (uint32_t)(v >> 32);
    uint64_t h = tm_lsh_table_home(t, v); /* the home depends on the fingerprint only */
    if (fp < last || h > i) return 0;
    for (uint64_t j = h; j < i; j++)
      if (!t->slot[j]) return 0;
    last = fp;
    n++;
  }
  return n == t->n;
}

static int has(const tm_lsh_table *t, uint64_t key, uint32_t ref) {
  uint32_t refs[64];
  size_t n = tm_lsh_table_find(t, key, refs, 64);
  for (size_t i = 0; i < n && i < 64; i++)
    if (refs[i] == ref) return 1;
  return 0;
}

int main(void) {
  enum { N = 3000 };
  static uint64_t keys[N];
  tm_lsh_table t;
  CHECK(tm_lsh_table_init(&t, 15) == -1);
  CHECK(tm_lsh_table_init(&t, 4001) == 0); /* not a power of two */
  for (uint32_t i = 0; i < N; i++) {
    keys[i] = rnd();
    CHECK(!tm_lsh_table_full(&t));
    CHECK(tm_lsh_table_insert(&t, keys[i], i) == 0);
  }
  CHECK(tm_lsh_table_full(&t)); /* 3000 / 4001 = 0.7498; the next would pass 0.75 */
  CHECK(tm_lsh_table_insert(&t, 1, 1) == -1);
  int all = 1;
  for (uint32_t i = 0; i < N; i++) all &= has(&t, keys[i], i);
  CHECK(all);
  CHECK(ordered(&t));
  uint32_t refs[4];
  CHECK(tm_lsh_table_find(&t, 0x0123456789abcdefull, refs, 4) == 0);

  /* growth keeps every entry */
  CHECK(tm_lsh_table_grow(&t, 5001) == 0 && t.cap == 5001 && t.n == N);
  all = 1;
  for (uint32_t i = 0; i < N; i++) all &= has(&t, keys[i], i);
  CHECK(all);
  CHECK(ordered(&t));

  /* eviction drops refs below the floor, keeps the rest findable */
  tm_lsh_table_evict_below(&t, 1000);
  CHECK(t.n == N - 1000);
  int gone = 1, kept = 1;
  for (uint32_t i = 0; i < N; i++) {
    if (i < 1000) gone &= !has(&t, keys[i], i);
    else kept &= has(&t, keys[i], i);
  }
  CHECK(gone && kept);
  CHECK(ordered(&t));
  /* inserts after an eviction keep the order */
  for (uint32_t i = N; i < N + 500; i++) CHECK(tm_lsh_table_insert(&t, rnd(), i) == 0);
  CHECK(ordered(&t));
  tm_lsh_table_free(&t);

  /* a multimap, in insertion order; runs past the last home use the spare
   * slots instead of wrapping */
  CHECK(tm_lsh_table_init(&t, 16) == 0);
  uint64_t hi = 0xFFFFFFFF00000000ull;
  for (uint32_t i = 0; i < 12; i++) CHECK(tm_lsh_table_insert(&t, hi | i, i) == 0);
  uint32_t r[16];
  CHECK(tm_lsh_table_find(&t, hi, r, 16) == 12); /* same fingerprint: all of them */
  CHECK(tm_lsh_table_find(&t, hi, r, 2) == 12 && r[0] == 0 && r[1] == 1);
  /* home: the last line (slot 8 of 16); the run goes on into the spare slots */
  CHECK(tm_lsh_table_home(&t, hi) == 8);
  CHECK(t.slot[8] != 0 && t.slot[19] != 0 && t.slot[20] == 0 && t.slot[0] == 0); /* no wrap */
  CHECK(ordered(&t));
  tm_lsh_table_evict_below(&t, 6);
  CHECK(tm_lsh_table_find(&t, hi, r, 16) == 6 && r[0] == 6 && t.slot[8] != 0);
  CHECK(ordered(&t));
  /* smaller fingerprints with the same home go before, larger after */
  CHECK(tm_lsh_table_insert(&t, 0xFFFFFFF000000000ull, 100) == 0);
  CHECK(tm_lsh_table_find(&t, 0xFFFFFFF000000000ull, r, 16) == 1 && r[0] == 100);
  CHECK(ordered(&t) && tm_lsh_table_find(&t, hi, r, 16) == 6);
  tm_lsh_table_free(&t);

  /* against a model: few distinct fingerprints make runs much longer than
   * the 8-slot probe window (equal runs spanning several windows, inserts
   * whose shift passes the window), mixed with random keys */
  enum { M = 3000, FPS = 40 };
  static uint64_t mkey[M];
  CHECK(tm_lsh_table_init(&t, 4001) == 0);
  for (uint32_t i = 0; i < M; i++) {
    mkey[i] = rnd() % 3 ? ((rnd() % FPS) * 0x0123456700000000ull) | (rnd() & 0xFFFFFFFF) : rnd();
    CHECK(tm_lsh_table_insert(&t, mkey[i], i) == 0);
  }
  CHECK(ordered(&t));
  int agree = 1;
  static uint32_t got[M], want[M];
  for (uint32_t i = 0; i < M; i += 7) {
    size_t nw = 0;
    for (uint32_t k = 0; k < M; k++)
      if (mkey[k] >> 32 == mkey[i] >> 32) want[nw++] = k; /* insertion order */
    size_t ng = tm_lsh_table_find(&t, mkey[i], got, M);
    agree &= ng == nw && !memcmp(got, want, nw * sizeof *got);
    /* a short refs array gets the first ones, and the full count */
    agree &= tm_lsh_table_find(&t, mkey[i], got, 3) == nw && (nw < 3 || !memcmp(got, want, 12));
  }
  CHECK(agree);
  tm_lsh_table_free(&t);
  return tm_test_finish("test_dedup_lsh_table");
}
