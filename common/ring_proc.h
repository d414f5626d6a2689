/* ring_proc.h - process identity, liveness and futex helpers for the ring.
 *
 * A process is identified by an owner word: pid << 32 | the low 32 bits of
 * its start time (field 22 of /proc/PID/stat, clock ticks since boot), so a
 * pid recycled by another process is never mistaken for the original one.
 * Internal to common/ring*.c.
 */
#ifndef TM_RING_PROC_H
#define TM_RING_PROC_H

#include <stdint.h>

enum { TM_PROC_ABSENT = 0, TM_PROC_ALIVE = 1, TM_PROC_DEAD = 2 };

/* The calling process's owner word (cached after the first call per pid). */
uint64_t tm_proc_self_owner(void);
/* TM_PROC_ABSENT for owner 0; TM_PROC_DEAD when /proc/PID is gone, is a
 * zombie, or has another start time; else TM_PROC_ALIVE. */
int tm_proc_owner_status(uint64_t owner);
static inline uint32_t tm_proc_owner_pid(uint64_t owner) { return (uint32_t)(owner >> 32); }

/* CLOCK_MONOTONIC in ns. */
uint64_t tm_proc_now_ns(void);
/* CLOCK_MONOTONIC_COARSE in ns (tick resolution, a few ns per call): for
 * heartbeats, which are written on every ring call but compared in seconds. */
uint64_t tm_proc_coarse_ns(void);

/* futex on a word in shared memory (not FUTEX_PRIVATE). wait returns when
 * woken, when *word != expected, or after timeout_ns (0 = no timeout). */
void tm_futex_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns);
void tm_futex_wake_all(uint32_t *word);

static inline void tm_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

#endif
