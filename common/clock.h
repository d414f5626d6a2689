/* clock.h - the clocks stages and the trainer time themselves with.
 *
 * tm_now_s: CLOCK_MONOTONIC in seconds (wall time, for rates and ETAs).
 * tm_thread_cpu_s: this thread's CPU time in seconds (stage splits that
 * stay right when other processes take the cores).
 * tm_proc_cpu_s: the whole process's CPU time in seconds (all threads: cost
 * per byte or per step that other load on the machine distorts less than
 * the wall clock). */
#ifndef TM_CLOCK_H
#define TM_CLOCK_H

#include <time.h>

static inline double tm_now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline double tm_thread_cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline double tm_proc_cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#endif
