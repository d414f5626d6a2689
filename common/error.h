/* error.h - errors as values.
 *
 * Library functions in tokenmill never exit or abort. They return 0 on
 * success or a negative TM_E* code, and fill a caller-owned tm_error with a
 * message that names what went wrong and where (file, byte offset, line,
 * field). Callers either handle the code or pass the error up unchanged.
 *
 *   tm_error err = {0};
 *   if (tm_shard_open(&r, path, &err) < 0) fprintf(stderr, "%s\n", err.msg);
 *
 * A NULL tm_error* is allowed everywhere: the code is still returned.
 */
#ifndef TM_ERROR_H
#define TM_ERROR_H

#include <stddef.h>

enum {
  TM_OK = 0,
  TM_EIO = 1,      /* a system call failed (errno kept in sys_errno) */
  TM_EFORMAT = 2,  /* input is not in the expected format */
  TM_ECORRUPT = 3, /* a checksum, magic or index check failed */
  TM_ENOMEM = 4,   /* allocation failed */
  TM_EINVAL = 5,   /* bad argument or configuration value */
  TM_ELIMIT = 6,   /* a configured size/ratio limit was exceeded */
  TM_ENOTFOUND = 7,
  TM_EEXIST = 8,
  TM_ESTATE = 9,   /* operation not valid in the object's current state */
  TM_EPEER = 10,   /* the process on the other side is dead or hung */
  TM_EAGAIN = 11,  /* try again later (timeout, would block) */
};

#define TM_ERROR_MSG_MAX 512

typedef struct tm_error {
  int code;      /* positive TM_E* code, 0 when no error */
  int sys_errno; /* errno for TM_EIO, else 0 */
  char msg[TM_ERROR_MSG_MAX];
} tm_error;

/* Record an error and return -code, so that `return tm_err(e, ...)` works.
 * The message is printf-formatted. */
int tm_err(tm_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As tm_err with code TM_EIO, appending ": strerror(errno)". Reads errno. */
int tm_err_sys(tm_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefix an existing message with more context ("reading x.tms: ..."). */
int tm_err_prefix(tm_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A short name for a code: "io", "format", "corrupt", ... */
const char *tm_strerror(int code);

/* Reset to "no error". */
void tm_error_clear(tm_error *e);

#endif
