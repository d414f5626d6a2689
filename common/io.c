/* io.c - durable-write layer with fault injection; see io.h. */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- fault plan --------------------------------------------------------- */

enum { OP_OPEN, OP_WRITE, OP_FSYNC, OP_RENAME, OP_FSYNCDIR, OP_UNLINK, OP_CLOSE, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"open",     "write",  "fsync", "rename",
                                               "fsyncdir", "unlink", "close"};
enum { F_ERRNO, F_SHORT, F_CRASH };

typedef struct {
  char site[32];
  int op;
  long nth;
  int what;
  int err_no;
  atomic_long seen;
} fault_rule;

#define MAX_RULES 8
static fault_rule rules[MAX_RULES];
static int n_rules;
static pthread_once_t plan_once = PTHREAD_ONCE_INIT;

static void parse_plan(void) {
  const char *env = getenv("TOKENMILL_FAULT");
  n_rules = 0;
  if (!env || !*env) return;
  char buf[512];
  snprintf(buf, sizeof buf, "%s", env);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok && n_rules < MAX_RULES;
       tok = strtok_r(NULL, ",", &save)) {
    char site[32], op[16], what[16];
    long nth;
    if (sscanf(tok, "%31[^:]:%15[^:]:%ld:%15s", site, op, &nth, what) != 4) continue;
    fault_rule *r = &rules[n_rules];
    r->op = -1;
    for (int i = 0; i < OP_COUNT; i++)
      if (!strcmp(op, op_names[i])) r->op = i;
    if (r->op < 0) continue;
    snprintf(r->site, sizeof r->site, "%s", site);
    r->nth = nth;
    r->what = F_ERRNO;
    if (!strcmp(what, "ENOSPC")) r->err_no = ENOSPC;
    else if (!strcmp(what, "EIO")) r->err_no = EIO;
    else if (!strcmp(what, "EDQUOT")) r->err_no = EDQUOT;
    else if (!strcmp(what, "SHORT")) r->what = F_SHORT, r->err_no = ENOSPC;
    else if (!strcmp(what, "CRASH")) r->what = F_CRASH;
    else continue;
    atomic_store(&r->seen, 0);
    n_rules++;
  }
}

void tm_io_fault_reset(void) {
  parse_plan();
}

/* Returns 0 (no fault), or the rule that fires for this call. */
static fault_rule *fault_check(int op, const char *site) {
  pthread_once(&plan_once, parse_plan);
  for (int i = 0; i < n_rules; i++) {
    fault_rule *r = &rules[i];
    if (r->op != op) continue;
    if (strcmp(r->site, "*") && strcmp(r->site, site ? site : "")) continue;
    long n = atomic_fetch_add(&r->seen, 1) + 1;
    if (n != r->nth) continue;
    if (r->what == F_CRASH) {
      fprintf(stderr, "tokenmill: injected crash before %s at site %s\n", op_names[op], site);
      raise(SIGKILL);
    }
    return r;
  }
  return NULL;
}

#define INJECT(op, site)                                                                     \
  do {                                                                                       \
    fault_rule *r_ = fault_check(op, site);                                                  \
    if (r_ && r_->what == F_ERRNO) {                                                         \
      errno = r_->err_no;                                                                    \
      goto fail;                                                                             \
    }                                                                                        \
  } while (0)

/* ---- calls -------------------------------------------------------------- */

int tm_io_open(const char *path, int flags, mode_t mode, const char *site, tm_error *err) {
  INJECT(OP_OPEN, site);
  int fd;
  do fd = open(path, flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  if (fd >= 0) return fd;
fail:
  return tm_err_sys(err, "%s: open", path);
}

static int write_loop(int fd, const char *p, size_t len, int positional, uint64_t off,
                      const char *path, const char *site, tm_error *err) {
  fault_rule *r = fault_check(OP_WRITE, site);
  if (r && r->what == F_ERRNO) {
    errno = r->err_no;
    return tm_err_sys(err, "%s: write of %zu bytes at offset %llu", path, len,
                      (unsigned long long)off);
  }
  size_t limit = len;
  if (r && r->what == F_SHORT) limit = len / 2;
  size_t done = 0;
  while (done < limit) {
    ssize_t n = positional ? pwrite(fd, p + done, limit - done, (off_t)(off + done))
                           : write(fd, p + done, limit - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return tm_err_sys(err, "%s: write of %zu bytes at offset %llu", path, len,
                        (unsigned long long)(off + done));
    }
    done += (size_t)n;
  }
  if (limit < len) {
    errno = r->err_no;
    return tm_err_sys(err, "%s: short write (%zu of %zu bytes)", path, limit, len);
  }
  return 0;
}

int tm_io_write(int fd, const void *buf, size_t len, const char *path, const char *site,
                tm_error *err) {
  off_t cur = lseek(fd, 0, SEEK_CUR);
  return write_loop(fd, buf, len, 0, cur < 0 ? 0 : (uint64_t)cur, path, site, err);
}

int tm_io_pwrite(int fd, const void *buf, size_t len, uint64_t off, const char *path,
                 const char *site, tm_error *err) {
  return write_loop(fd, buf, len, 1, off, path, site, err);
}

int tm_io_fsync(int fd, const char *path, const char *site, tm_error *err) {
  INJECT(OP_FSYNC, site);
  if (fsync(fd) == 0) return 0;
fail:
  return tm_err_sys(err, "%s: fsync", path);
}

int tm_io_close(int fd, const char *path, const char *site, tm_error *err) {
  INJECT(OP_CLOSE, site);
  if (close(fd) == 0 || errno == EINTR) return 0;
  return tm_err_sys(err, "%s: close", path);
fail:
  close(fd);
  return tm_err_sys(err, "%s: close", path);
}

int tm_io_rename(const char *from, const char *to, const char *site, tm_error *err) {
  INJECT(OP_RENAME, site);
  if (rename(from, to) == 0) return 0;
fail:
  return tm_err_sys(err, "rename %s -> %s", from, to);
}

int tm_io_fsync_dir(const char *dir, const char *site, tm_error *err) {
  INJECT(OP_FSYNCDIR, site);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) goto fail;
  if (fsync(fd) != 0 && errno != EINVAL) {
    int e = errno;
    close(fd);
    errno = e;
    goto fail;
  }
  close(fd);
  return 0;
fail:
  return tm_err_sys(err, "%s: fsync of directory", dir);
}

int tm_io_fsync_parent(const char *path, const char *site, tm_error *err) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == dir) dir[1] = 0;
  else *slash = 0;
  return tm_io_fsync_dir(dir, site, err);
}

int tm_io_unlink(const char *path, const char *site, tm_error *err) {
  INJECT(OP_UNLINK, site);
  if (unlink(path) == 0 || errno == ENOENT) return 0;
fail:
  return tm_err_sys(err, "%s: unlink", path);
}

int tm_io_write_file_atomic(const char *path, const void *data, size_t len, const char *site,
                            tm_error *err) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return tm_err(err, TM_EINVAL, "%s: path too long", path);
  int fd = tm_io_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644, site, err);
  if (fd < 0) return fd;
  int rc = tm_io_write(fd, data, len, tmp, site, err);
  if (rc == 0) rc = tm_io_fsync(fd, tmp, site, err);
  if (rc == 0) rc = tm_io_close(fd, tmp, site, err);
  else close(fd);
  if (rc == 0) rc = tm_io_rename(tmp, path, site, err);
  if (rc == 0) return tm_io_fsync_parent(path, site, err);
  unlink(tmp);
  return rc;
}

int tm_io_mkdirs(const char *path, tm_error *err) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return tm_err(err, TM_EINVAL, "%s: path too long", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return tm_err_sys(err, "%s: mkdir", buf);
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST) return tm_err_sys(err, "%s: mkdir", buf);
  struct stat st;
  if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
    return tm_err(err, TM_EIO, "%s: exists and is not a directory", buf);
  return 0;
}

int tm_io_read_file(const char *path, size_t max_bytes, char **out, size_t *len, tm_error *err) {
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tm_err_sys(err, "%s: open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return tm_err_sys(err, "%s: stat", path);
  }
  if ((uint64_t)st.st_size > max_bytes) {
    close(fd);
    return tm_err(err, TM_ELIMIT, "%s: %lld bytes exceeds the limit of %zu", path,
                  (long long)st.st_size, max_bytes);
  }
  size_t cap = (size_t)st.st_size + 1;
  char *buf = malloc(cap);
  if (!buf) {
    close(fd);
    return tm_err(err, TM_ENOMEM, "%s: out of memory", path);
  }
  size_t n = 0;
  for (;;) {
    if (n + 1 >= cap) { /* file grew while reading */
      if (cap > max_bytes) {
        free(buf);
        close(fd);
        return tm_err(err, TM_ELIMIT, "%s: exceeds the limit of %zu bytes", path, max_bytes);
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        close(fd);
        return tm_err(err, TM_ENOMEM, "%s: out of memory", path);
      }
      buf = nb;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      free(buf);
      close(fd);
      return tm_err_sys(err, "%s: read at offset %zu", path, n);
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = 0;
  *out = buf;
  *len = n;
  return 0;
}
