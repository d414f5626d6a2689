/* feed_perm.h - the seeded randomness of the feeder.
 *
 * Every random choice of a pass is drawn from a stream keyed by the values
 * that identify it (seed, pass, what is being shuffled, which block), never
 * from a running generator, so any part of the order can be recomputed on
 * its own: that is what makes a position in a pass addressable without
 * replaying the pass.
 */
#ifndef TM_FEED_PERM_H
#define TM_FEED_PERM_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64 finaliser: a good 64-bit mix */
static inline uint64_t tm_feed_mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* a key from up to four values and a domain tag */
static inline uint64_t tm_feed_key(uint64_t tag, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  uint64_t k = tm_feed_mix(tag);
  k = tm_feed_mix(k ^ a);
  k = tm_feed_mix(k ^ b);
  k = tm_feed_mix(k ^ c);
  return tm_feed_mix(k ^ d);
}

/* uniform integer in [0, n) from the stream (key, i): Lemire's multiply */
static inline uint64_t tm_feed_below(uint64_t key, uint64_t i, uint64_t n) {
  uint64_t x = tm_feed_mix(key ^ tm_feed_mix(i));
  __extension__ typedef unsigned __int128 u128;
  return (uint64_t)(((u128)x * n) >> 64);
}

/* Fisher-Yates over v[0..n) with the stream key */
static inline void tm_feed_shuffle_u32(uint32_t *v, size_t n, uint64_t key) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)tm_feed_below(key, i, i);
    uint32_t t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

/* domain tags */
enum {
  TM_FEED_TAG_SHARDS = 0x5348,   /* shard order of a pass */
  TM_FEED_TAG_PERIOD = 0x5045,   /* source interleaving of a period */
  TM_FEED_TAG_BLOCK = 0x424c,    /* window order within a shuffle block */
  TM_FEED_TAG_SPLIT = 0x5350,    /* train/validation split of a document */
  TM_FEED_TAG_DROPOUT = 0x4450,  /* BPE-dropout stream of a window */
};

#endif
