/* serve_spool.c - claiming settled files from the spool directory.
 *
 * Runs on a libuv thread-pool thread (readdir, rename and fsync block).
 * Names are taken from readdir of the spool directory itself and used only
 * as the last component of paths inside it (.work/, done/, failed/): a name
 * never reaches outside the spool. Only regular files (lstat) are claimed;
 * a symlink is never followed (and the reader opens with O_NOFOLLOW).
 * Candidates are claimed in byte order of their names.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "serve_int.h"

int tm_serve_spool_prepare(const char *dir, tm_error *err) {
  const char *subs[] = {".work", "done", "failed"};
  for (int i = 0; i < 3; i++) {
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/%s", dir, subs[i]);
    int rc = tm_io_mkdirs(p, err);
    if (rc < 0) return rc;
  }
  return 0;
}

static int is_candidate_name(const char *n) {
  size_t len = strlen(n);
  if (n[0] == '.' || len == 0 || len > 200) return 0;
  if (len > 4 && !strcmp(n + len - 4, ".tmp")) return 0;
  if (len > 5 && !strcmp(n + len - 5, ".part")) return 0;
  if (!strcmp(n, "done") || !strcmp(n, "failed")) return 0;
  return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int tm_serve_spool_scan(const char *dir, tm_serve_pipe *p, int profile, uint64_t queue_bytes,
                        uint64_t settle_ms, int *unsettled, tm_error *err) {
  *unsettled = 0;
  DIR *dh = opendir(dir);
  if (!dh) return tm_err_sys(err, "spool %s", dir);
  int dfd = dirfd(dh);
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(dh))) {
    if (!is_candidate_name(e->d_name)) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **nv = realloc(names, cap * sizeof *nv);
      if (!nv) break;
      names = nv;
    }
    if (!(names[n] = strdup(e->d_name))) break;
    n++;
  }
  if (n) qsort(names, n, sizeof *names, cmp_str);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int claimed = 0, rc = 0;
  char wdir[PATH_MAX + 16];
  snprintf(wdir, sizeof wdir, "%s/.work", dir);
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode)) continue;
    double age_ms = (double)(now.tv_sec - st.st_mtim.tv_sec) * 1e3 + (double)(now.tv_nsec - st.st_mtim.tv_nsec) / 1e6;
    if (age_ms < (double)settle_ms) {
      *unsettled = 1;
      continue;
    }
    if (tm_serve_pipe_queued_bytes(p) >= queue_bytes) {
      *unsettled = 1; /* come back when the queue has room */
      break;
    }
    tm_serve_input *in = tm_serve_pipe_reserve(p, TM_INPUT_SPOOL, profile, (uint64_t)st.st_size, names[i]);
    if (!in) break;
    int ok = renameat(dfd, names[i], AT_FDCWD, in->path) == 0;
    if (!ok) {
      rc = tm_err_sys(err, "spool: rename %s/%s to %s", dir, names[i], in->path);
    } else {
      tm_error fe = {0};
      /* the claim survives a power cut before the journal commits it */
      if (tm_io_fsync_dir(wdir, "spool", &fe) < 0 || tm_io_fsync_dir(dir, "spool", &fe) < 0)
        tm_warn("spool_fsync_failed", "error=\"%s\"", fe.msg);
      tm_info("spool_claimed", "seq=%llu name=%s bytes=%lld", (unsigned long long)in->seq, names[i], (long long)st.st_size);
      claimed++;
    }
    tm_serve_pipe_ready(p, in, ok);
    if (!ok) break;
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  closedir(dh);
  return rc < 0 ? rc : claimed;
}

int tm_serve_parse_addr(const char *s, char *host, size_t cap, int *port, tm_error *err) {
  const char *colon;
  size_t hl;
  const char *h = s;
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || rb[1] != ':') return tm_err(err, TM_EINVAL, "bad address '%s' (want [IPv6]:PORT)", s);
    h = s + 1;
    hl = (size_t)(rb - h);
    colon = rb + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) return tm_err(err, TM_EINVAL, "bad address '%s' (want HOST:PORT)", s);
    hl = (size_t)(colon - s);
  }
  if (hl == 0 || hl >= cap) return tm_err(err, TM_EINVAL, "bad address '%s' (want HOST:PORT)", s);
  memcpy(host, h, hl);
  host[hl] = 0;
  char *end;
  long pv = strtol(colon + 1, &end, 10);
  if (*end || pv < 0 || pv > 65535 || end == colon + 1) return tm_err(err, TM_EINVAL, "bad port in '%s'", s);
  *port = (int)pv;
  return 0;
}

int tm_serve_is_loopback(const char *host) {
  return !strncmp(host, "127.", 4) || !strcmp(host, "::1") || !strcmp(host, "localhost");
}
