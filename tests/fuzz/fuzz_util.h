/* fuzz_util.h - helpers shared by the libFuzzer targets (tests/fuzz/).
 *
 * Every target is a plain LLVMFuzzerTestOneInput. Built with
 * -DTOKENMILL_FUZZ=ON under clang it links libFuzzer; in every other build it
 * links replay_main.c, which runs the target over files and directories
 * named on the command line (the regression inputs in tests/fuzz/regress/
 * and the generated seeds), so crashes found once stay fixed in the gcc
 * ASan build too.
 *
 * Parsers that take a path or a descriptor get the input through an
 * anonymous memory file (memfd): no disk I/O, nothing left behind.
 */
#ifndef TM_FUZZ_UTIL_H
#define TM_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

/* An anonymous file holding data[0..n), offset 0; -1 on failure. */
static inline int tm_fuzz_memfd(const uint8_t *data, size_t n) {
  int fd = memfd_create("tm-fuzz", MFD_CLOEXEC);
  if (fd < 0) return -1;
  size_t off = 0;
  while (off < n) {
    ssize_t w = write(fd, data + off, n - off);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    off += (size_t)w;
  }
  if (lseek(fd, 0, SEEK_SET) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* A path that reads the memfd: "/proc/self/fd/N". */
static inline void tm_fuzz_fd_path(char *buf, size_t cap, int fd) {
  snprintf(buf, cap, "/proc/self/fd/%d", fd);
}

/* A NUL-terminated copy of the input (malloc'd). */
static inline char *tm_fuzz_cstr(const uint8_t *data, size_t n) {
  char *s = malloc(n + 1);
  if (!s) return NULL;
  memcpy(s, data, n);
  s[n] = 0;
  return s;
}

/* Quiet the library's logging while fuzzing (millions of error lines). */
static inline void tm_fuzz_quiet(void) { tm_log_set_level(TM_LOG_ERROR + 1); }

#endif
