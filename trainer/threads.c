/* threads.c - one thread setting for OpenMP and OpenBLAS; see threads.h. */
#include "threads.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

void tm_threads_set(int n) {
  if (n < 1) n = 1;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  openblas_set_num_threads(n);
}

int tm_threads_get(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

const char *tm_threads_blas(void) {
#ifdef TM_OPENBLAS_OPENMP
  return "openblas-openmp";
#else
  return "openblas";
#endif
}

int tm_threads_fix_env(char **argv) {
  if (getenv("TM_THREADS_REEXEC")) return 0;
  int changed = 0;
  if (!getenv("OPENBLAS_CORETYPE")) {
    const char *core = openblas_get_corename();
    const char *want = NULL;
    if (core && (!strcasecmp(core, "prescott") || !strcasecmp(core, "core2") ||
                 !strcasecmp(core, "nehalem") || !strcasecmp(core, "unknown"))) {
      __builtin_cpu_init();
      if (__builtin_cpu_supports("avx512f")) want = "SKYLAKEX";
      else if (__builtin_cpu_supports("avx2")) want = "HASWELL";
    }
    if (want && strcasecmp(core, want)) {
      setenv("OPENBLAS_CORETYPE", want, 1);
      changed = 1;
    }
  }
  if (!getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    changed = 1;
  }
  if (!changed) return 0;
  setenv("TM_THREADS_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);
  return -1;
}
