/* ring_proc.c - see ring_proc.h. */
#include "ring_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Parse /proc/PID/stat: state (field 3) and start time (field 22). The comm
 * field may hold spaces and parentheses, so parse from the last ')'. */
static int read_stat(uint32_t pid, char *state, uint64_t *start) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%u/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p || p[1] != ' ') return -1;
  p += 2;
  *state = *p;
  /* after ')' come fields 3..; field 22 is the 20th of them */
  for (int field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (!p) return -1;
    p++;
  }
  char *end;
  errno = 0;
  unsigned long long v = strtoull(p, &end, 10);
  if (errno || end == p) return -1;
  *start = v;
  return 0;
}

/* the owner word of this process, cached; the pid is part of the word, so
 * a forked child (another pid) recomputes its own. Atomic: feeders of
 * several rings may run in threads of one process. */
static uint64_t cached_owner;

uint64_t tm_proc_self_owner(void) {
  pid_t pid = getpid();
  uint64_t c = __atomic_load_n(&cached_owner, __ATOMIC_RELAXED);
  if (c && (uint32_t)(c >> 32) == (uint32_t)pid) return c;
  char st;
  uint64_t start = 0;
  if (read_stat((uint32_t)pid, &st, &start) < 0) start = 0;
  c = ((uint64_t)(uint32_t)pid << 32) | (start & 0xffffffffu);
  __atomic_store_n(&cached_owner, c, __ATOMIC_RELAXED);
  return c;
}

int tm_proc_owner_status(uint64_t owner) {
  if (!owner) return TM_PROC_ABSENT;
  char st;
  uint64_t start;
  if (read_stat(tm_proc_owner_pid(owner), &st, &start) < 0) return TM_PROC_DEAD;
  if (st == 'Z' || st == 'X' || st == 'x') return TM_PROC_DEAD;
  if ((start & 0xffffffffu) != (owner & 0xffffffffu)) return TM_PROC_DEAD;
  return TM_PROC_ALIVE;
}

uint64_t tm_proc_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t tm_proc_coarse_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void tm_futex_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns) {
  struct timespec ts, *tp = NULL;
  if (timeout_ns) {
    ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
    ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
    tp = &ts;
  }
  /* relative timeout; EAGAIN (value changed), EINTR and ETIMEDOUT all just
   * return: the caller re-checks its condition */
  syscall(SYS_futex, word, FUTEX_WAIT, expected, tp, NULL, 0);
}

void tm_futex_wake_all(uint32_t *word) {
  syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}
