/* tm_test.h - the few macros the C test programs use.
 *
 * CHECK(cond) records a failure (with file:line and the expression) and goes
 * on; CHECKF adds a printf-style message. A test program ends with
 * `return tm_test_finish("name");`, which prints "N passed, N failed" and
 * returns non-zero when anything failed. tm_test_xorshift is the tests'
 * reproducible random source (xorshift64; each test keeps its own state,
 * seeded with a non-zero constant). */
#ifndef TM_TEST_H
#define TM_TEST_H

#include <stdint.h>
#include <stdio.h>

static int tm_test_passed, tm_test_failed;

#define CHECK(cond)                                                                          \
  do {                                                                                       \
    if (cond) tm_test_passed++;                                                              \
    else {                                                                                   \
      tm_test_failed++;                                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
    }                                                                                        \
  } while (0)

#define CHECKF(cond, ...)                                                                    \
  do {                                                                                       \
    if (cond) tm_test_passed++;                                                              \
    else {                                                                                   \
      tm_test_failed++;                                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
      fprintf(stderr, __VA_ARGS__);                                                          \
      fputc('\n', stderr);                                                                   \
    }                                                                                        \
  } while (0)

static inline uint64_t tm_test_xorshift(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static inline int tm_test_finish(const char *name) {
  printf("%s: %d passed, %d failed\n", name, tm_test_passed, tm_test_failed);
  return tm_test_failed ? 1 : 0;
}

#endif
