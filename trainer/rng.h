/* rng.h - a small deterministic random number generator (xoshiro256**,
 * seeded through splitmix64). Its whole state is 32 bytes, stored in
 * checkpoints so that a resumed run draws the same numbers. */
#ifndef TM_RNG_H
#define TM_RNG_H

#include <stdint.h>

typedef struct tm_rng {
  uint64_t s[4];
} tm_rng;

void tm_rng_seed(tm_rng *r, uint64_t seed);
uint64_t tm_rng_u64(tm_rng *r);
/* uniform in [0, 1) with 24 random bits */
float tm_rng_uniform(tm_rng *r);
/* uniform integer in [0, n), n > 0 (rejection sampling: no modulo bias) */
uint64_t tm_rng_below(tm_rng *r, uint64_t n);
/* standard normal (Box-Muller; one value per call, the pair's second discarded) */
float tm_rng_normal(tm_rng *r);

#endif
