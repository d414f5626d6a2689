/* ring_testutil.h - a deterministic batch generator and a producer loop
 * shared by the ring tests. Batch k (0-based) has cursor.window = k + 1 (the
 * position after it) and token i = mix(seed, k, i) % vocab, so any batch can
 * be recomputed from its cursor. */
#ifndef TM_RING_TESTUTIL_H
#define TM_RING_TESTUTIL_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"

#define RT_VOCAB 50000u
#define RT_B 4u
#define RT_T 63u
#define RT_SEED 1234u

static inline uint64_t rt_mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

static inline void rt_params(tm_ring_params *p, uint32_t n_slots, uint32_t timeout_ms) {
  tm_ring_params_for(p, RT_VOCAB, RT_B, RT_T, 0, 0xabcdefull);
  p->n_slots = n_slots;
  p->timeout_ms = timeout_ms;
}

static inline uint64_t rt_ntok(void) { return (uint64_t)RT_B * (RT_T + 1); }

static inline void rt_fill(void *dst, uint64_t k) {
  uint16_t *t = dst;
  for (uint64_t i = 0; i < rt_ntok(); i++)
    t[i] = (uint16_t)(rt_mix(RT_SEED * 1000003ull + k * 65537ull + i) % RT_VOCAB);
}

/* 1 when the slot holds exactly batch k */
static inline int rt_check(const tm_ring_slot *s, uint64_t k) {
  static uint16_t buf[RT_B * (RT_T + 1)];
  rt_fill(buf, k);
  return s->n_tokens == rt_ntok() && s->cursor.window == k + 1 && s->cursor.seed == RT_SEED &&
         memcmp(buf, s->tokens, sizeof buf) == 0;
}

/* Produce batches start..n-1 on r (reseeking on request, waiting through a
 * dead consumer), then finish and wait for the drain. Returns 0 or an error. */
static inline int rt_produce(tm_ring *r, uint64_t start, uint64_t n, tm_error *err) {
  uint64_t k = start;
  while (k < n) {
    tm_ring_slot s;
    tm_ring_cursor re;
    int rc = tm_ring_reserve(r, &s, &re, 5000, err);
    if (rc == TM_RING_RESEEK) {
      k = re.window;
      continue;
    }
    if (rc == -TM_EPEER) continue; /* consumer died: wait for a reattach */
    if (rc < 0) return rc;
    rt_fill(s.tokens, k);
    tm_ring_cursor c = {RT_SEED, 0, 1, k + 1};
    if ((rc = tm_ring_publish(r, rt_ntok(), &c, err)) < 0) return rc;
    k++;
  }
  int rc = tm_ring_finish(r, err);
  if (rc < 0) return rc;
  for (int i = 0; i < 20; i++) {
    rc = tm_ring_drain(r, 1000, err);
    if (rc == 0) return 0;
  }
  return rc;
}

static inline void rt_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static inline double rt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A unique ring name per test process. */
static inline void rt_name(char *out, size_t cap, const char *tag) {
  snprintf(out, cap, "test-%s-%d", tag, (int)getpid());
}

#endif
