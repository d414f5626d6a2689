/* error.c - see error.h. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tm_err(tm_error *e, int code, const char *fmt, ...) {
  if (e) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    e->sys_errno = 0;
  }
  return -code;
}

int tm_err_sys(tm_error *e, const char *fmt, ...) {
  int saved = errno;
  if (e) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof e->msg)
      snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", strerror(saved));
    e->code = TM_EIO;
    e->sys_errno = saved;
  }
  errno = saved;
  return -TM_EIO;
}

int tm_err_prefix(tm_error *e, const char *fmt, ...) {
  if (!e) return -TM_EINVAL;
  char prefix[TM_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  char old[TM_ERROR_MSG_MAX];
  memcpy(old, e->msg, sizeof old);
  size_t pl = strnlen(prefix, sizeof e->msg - 1);
  memcpy(e->msg, prefix, pl);
  size_t o = pl;
  if (o + 2 < sizeof e->msg) e->msg[o++] = ':', e->msg[o++] = ' ';
  size_t ol = strnlen(old, sizeof old);
  if (ol > sizeof e->msg - 1 - o) ol = sizeof e->msg - 1 - o;
  memcpy(e->msg + o, old, ol);
  e->msg[o + ol] = 0;
  return -(e->code ? e->code : TM_EINVAL);
}

const char *tm_strerror(int code) {
  if (code < 0) code = -code;
  switch (code) {
  case TM_OK: return "ok";
  case TM_EIO: return "io";
  case TM_EFORMAT: return "format";
  case TM_ECORRUPT: return "corrupt";
  case TM_ENOMEM: return "nomem";
  case TM_EINVAL: return "invalid";
  case TM_ELIMIT: return "limit";
  case TM_ENOTFOUND: return "notfound";
  case TM_EEXIST: return "exists";
  case TM_ESTATE: return "state";
  case TM_EPEER: return "peer";
  case TM_EAGAIN: return "again";
  default: return "unknown";
  }
}

void tm_error_clear(tm_error *e) {
  if (!e) return;
  e->code = 0;
  e->sys_errno = 0;
  e->msg[0] = 0;
}
