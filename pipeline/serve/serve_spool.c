/* serve_spool.c - claiming settled files from the spool directory.
 *
 * Runs on a libuv thread-pool thread (readdir, rename and fsync block).
 * Names are taken from readdir of the spool directory itself and used only
 * as the last component of paths inside it (.work/, done/, failed/): a name
 * never reaches outside the spool. Only regular files (lstat) are claimed;
 * a symlink is never followed (and the reader opens with O_NOFOLLOW).
 * Candidates are claimed in byte order of their names.
 *
 * Profiles: a file directly in DIR gets [serve] profile; a file in
 * DIR/PROFILE/ gets PROFILE (a preset web, books/book, social, or a
 * [clean.PROFILE] section: the names `tokenmill build` uses). DIR's own
 * files are claimed first, then each profile folder's in name order. A
 * folder that names no profile is logged once and left alone. Profile
 * folders are found by the periodic rescan (uv_fs_event watches DIR only).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/* A file to look at: its name in DIR or in DIR/SUB, and its profile. */
typedef struct {
  char *sub; /* NULL: DIR itself */
  char *name;
  int profile;
} candidate;

typedef struct {
  candidate *v;
  size_t n, cap;
} cand_list;

static int cand_push(cand_list *l, const char *sub, const char *name, int profile) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    candidate *nv = realloc(l->v, cap * sizeof *nv);
    if (!nv) return -1;
    l->v = nv;
    l->cap = cap;
  }
  candidate *c = &l->v[l->n];
  c->sub = sub ? strdup(sub) : NULL;
  c->name = strdup(name);
  c->profile = profile;
  if (!c->name || (sub && !c->sub)) {
    free(c->sub);
    free(c->name);
    return -1;
  }
  l->n++;
  return 0;
}

/* DIR's own files first, then each profile folder's, names in byte order:
 * the claim order depends only on the names. */
static int cand_cmp(const void *a, const void *b) {
  const candidate *x = a, *y = b;
  if (!x->sub != !y->sub) return x->sub ? 1 : -1;
  int c = x->sub ? strcmp(x->sub, y->sub) : 0;
  return c ? c : strcmp(x->name, y->name);
}

/* A sub-folder that names no profile is logged once per daemon (its files
 * stay where they are), not on every rescan. */
static pthread_mutex_t warned_mu = PTHREAD_MUTEX_INITIALIZER;
static char warned[32][64];
static int n_warned;

static void warn_folder(const char *dir, const char *sub, const char *why) {
  pthread_mutex_lock(&warned_mu);
  for (int i = 0; i < n_warned; i++)
    if (!strcmp(warned[i], sub)) {
      pthread_mutex_unlock(&warned_mu);
      return;
    }
  if (n_warned < 32) snprintf(warned[n_warned++], sizeof warned[0], "%.63s", sub);
  pthread_mutex_unlock(&warned_mu);
  tm_warn("spool_folder_ignored", "dir=%s folder=%.80s reason=\"%s\"", dir, sub, why);
}

/* The regular files of dfd (readdir, no symlinks followed) into l. */
static void list_files(int dfd, const char *sub, int profile, cand_list *l) {
  int fd = dup(dfd);
  if (fd < 0) return;
  DIR *dh = fdopendir(fd);
  if (!dh) {
    close(fd);
    return;
  }
  struct dirent *e;
  while ((e = readdir(dh)))
    if (is_candidate_name(e->d_name) && cand_push(l, sub, e->d_name, profile) < 0) break;
  closedir(dh);
}

int tm_serve_spool_scan(const char *dir, tm_serve_pipe *p, int profile, uint64_t queue_bytes,
                        uint64_t settle_ms, int *unsettled, tm_error *err) {
  *unsettled = 0;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return tm_err_sys(err, "spool %s", dir);
  cand_list l = {0};
  list_files(dfd, NULL, profile, &l);
  /* profile folders: DIR/PROFILE/NAME (not symlinks: O_NOFOLLOW) */
  size_t top = l.n;
  for (size_t i = 0; i < top; i++) {
    struct stat st;
    if (fstatat(dfd, l.v[i].name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) continue;
    tm_error pe = {0};
    int pi = tm_serve_pipe_profile(p, l.v[i].name, &pe);
    if (pi < 0) {
      warn_folder(dir, l.v[i].name, pe.msg);
      continue;
    }
    int sfd = openat(dfd, l.v[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0) continue;
    list_files(sfd, l.v[i].name, pi, &l);
    close(sfd);
  }
  if (l.n) qsort(l.v, l.n, sizeof *l.v, cand_cmp);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int claimed = 0, rc = 0;
  char wdir[PATH_MAX + 16];
  snprintf(wdir, sizeof wdir, "%s/.work", dir);
  for (size_t i = 0; i < l.n; i++) {
    candidate *c = &l.v[i];
    int fdir = c->sub ? openat(dfd, c->sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : dfd;
    if (fdir < 0) continue;
    struct stat st;
    int ok = fstatat(fdir, c->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    if (ok) {
      double age_ms = (double)(now.tv_sec - st.st_mtim.tv_sec) * 1e3 + (double)(now.tv_nsec - st.st_mtim.tv_nsec) / 1e6;
      if (age_ms < (double)settle_ms) {
        *unsettled = 1;
        ok = 0;
      }
    }
    if (!ok) {
      if (fdir != dfd) close(fdir);
      continue;
    }
    if (tm_serve_pipe_queued_bytes(p) >= queue_bytes) {
      *unsettled = 1; /* come back when the queue has room */
      if (fdir != dfd) close(fdir);
      break;
    }
    tm_serve_input *in = tm_serve_pipe_reserve(p, TM_INPUT_SPOOL, c->profile, (uint64_t)st.st_size, c->name);
    if (!in) {
      if (fdir != dfd) close(fdir);
      break;
    }
    ok = renameat(fdir, c->name, AT_FDCWD, in->path) == 0;
    if (!ok) {
      rc = tm_err_sys(err, "spool: rename %s/%s%s%s to %s", dir, c->sub ? c->sub : "", c->sub ? "/" : "", c->name,
                      in->path);
    } else {
      /* the claim survives a power cut before the journal commits it */
      tm_error fe = {0};
      char sdir[PATH_MAX + 300];
      snprintf(sdir, sizeof sdir, "%s/%s", dir, c->sub ? c->sub : ".");
      if (tm_io_fsync_dir(wdir, "spool", &fe) < 0 || (c->sub && tm_io_fsync_dir(sdir, "spool", &fe) < 0) ||
          tm_io_fsync_dir(dir, "spool", &fe) < 0)
        tm_warn("spool_fsync_failed", "error=\"%s\"", fe.msg);
      tm_info("spool_claimed", "seq=%llu name=%s%s%s profile=%s bytes=%lld", (unsigned long long)in->seq,
              c->sub ? c->sub : "", c->sub ? "/" : "", c->name, tm_serve_pipe_profile_name(p, c->profile),
              (long long)st.st_size);
      claimed++;
    }
    if (fdir != dfd) close(fdir);
    tm_serve_pipe_ready(p, in, ok);
    if (!ok) break;
  }
  for (size_t i = 0; i < l.n; i++) free(l.v[i].sub), free(l.v[i].name);
  free(l.v);
  close(dfd);
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
