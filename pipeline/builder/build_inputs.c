/* build_inputs.c - expanding the build's input arguments; see build_int.h. */
#include <dirent.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "build_int.h"

typedef struct {
  tm_build_file *v;
  size_t n, cap;
} file_list;

static int push(file_list *l, const char *path, const char *profile, uint64_t size, tm_error *err) {
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->v[i].path, path)) return 0;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    tm_build_file *nv = realloc(l->v, nc * sizeof *nv);
    if (!nv) return tm_err(err, TM_ENOMEM, "out of memory");
    l->v = nv;
    l->cap = nc;
  }
  tm_build_file *f = &l->v[l->n];
  f->path = strdup(path);
  if (!f->path) return tm_err(err, TM_ENOMEM, "out of memory");
  snprintf(f->profile, sizeof f->profile, "%s", profile);
  f->size = size;
  l->n++;
  return 0;
}

/* The nearest path component that names a source kind. */
static const char *profile_from_path(const char *path, const char *def) {
  static const char *const kinds[][2] = {
      {"web", "web"}, {"books", "books"}, {"book", "books"}, {"social", "social"}};
  const char *best = NULL;
  const char *p = path;
  while (*p) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (e) /* directories only, not the file name */
      for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (strlen(kinds[k][0]) == n && !strncmp(p, kinds[k][0], n)) best = kinds[k][1];
    if (!e) break;
    p = e + 1;
  }
  if (best) return best;
  /* else the file name: social.jsonl, web_html.jsonl, books-2024.txt */
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    size_t n = strlen(kinds[k][0]);
    if (!strncmp(base, kinds[k][0], n) && strchr("._-", base[n])) return kinds[k][1];
  }
  return def;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(file_list *l, const char *path, const char *profile, int depth, tm_error *err) {
  struct stat st;
  if (stat(path, &st) != 0) return tm_err_sys(err, "%s", path);
  if (S_ISREG(st.st_mode)) {
    const char *prof = profile ? profile : NULL;
    return push(l, path, prof ? prof : "", (uint64_t)st.st_size, err);
  }
  if (!S_ISDIR(st.st_mode)) return tm_err(err, TM_EINVAL, "%s: not a file or directory", path);
  if (depth > 32) return tm_err(err, TM_ELIMIT, "%s: directories nested too deep", path);
  DIR *d = opendir(path);
  if (!d) return tm_err_sys(err, "%s: opendir", path);
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn) {
        rc = tm_err(err, TM_ENOMEM, "out of memory");
        break;
      }
      names = nn;
    }
    names[n] = strdup(e->d_name);
    if (!names[n]) {
      rc = tm_err(err, TM_ENOMEM, "out of memory");
      break;
    }
    n++;
  }
  closedir(d);
  if (rc == 0) qsort(names, n, sizeof *names, cmp_str);
  for (size_t i = 0; i < n && rc == 0; i++) {
    char child[PATH_MAX];
    if (snprintf(child, sizeof child, "%s/%s", path, names[i]) >= (int)sizeof child) {
      rc = tm_err(err, TM_EINVAL, "%s/%s: path too long", path, names[i]);
      break;
    }
    rc = walk(l, child, profile, depth + 1, err);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

int tm_build_expand_inputs(char *const *args, int n, const char *default_profile,
                           tm_build_file **files, size_t *n_files, tm_error *err) {
  file_list l = {0};
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    const char *arg = args[i];
    char profile[64] = "";
    const char *eq = strchr(arg, '=');
    const char *slash = strchr(arg, '/');
    if (eq && (!slash || eq < slash) && (size_t)(eq - arg) < sizeof profile) {
      memcpy(profile, arg, (size_t)(eq - arg));
      profile[eq - arg] = 0;
      arg = eq + 1;
    }
    size_t before = l.n;
    if (strpbrk(arg, "*?[")) {
      glob_t g;
      int gr = glob(arg, 0, NULL, &g);
      if (gr == GLOB_NOMATCH) rc = tm_err(err, TM_ENOTFOUND, "%s: no file matches", arg);
      else if (gr != 0) rc = tm_err(err, TM_EIO, "%s: glob failed", arg);
      for (size_t k = 0; rc == 0 && gr == 0 && k < g.gl_pathc; k++)
        rc = walk(&l, g.gl_pathv[k], NULL, 0, err);
      if (gr == 0) globfree(&g);
    } else {
      rc = walk(&l, arg, NULL, 0, err);
    }
    for (size_t k = before; k < l.n && rc == 0; k++)
      snprintf(l.v[k].profile, sizeof l.v[k].profile, "%s",
               profile[0] ? profile : profile_from_path(l.v[k].path, default_profile));
  }
  if (rc == 0 && l.n == 0) rc = tm_err(err, TM_EINVAL, "no input files");
  if (rc < 0) {
    tm_build_files_free(l.v, l.n);
    return rc;
  }
  *files = l.v;
  *n_files = l.n;
  return 0;
}

void tm_build_files_free(tm_build_file *files, size_t n) {
  for (size_t i = 0; i < n; i++) free(files[i].path);
  free(files);
}

void tm_build_partition(const tm_build_file *files, size_t n, int r, int w, size_t *lo, size_t *hi) {
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) total += files[i].size + 1; /* +1: empty files count */
  uint64_t a = total * (uint64_t)r / (uint64_t)w, b = total * (uint64_t)(r + 1) / (uint64_t)w;
  /* file i belongs to the rank whose range holds the file's first byte */
  uint64_t pos = 0;
  *lo = n;
  *hi = n;
  for (size_t i = 0; i < n; i++) {
    if (pos >= a && *lo == n) *lo = i;
    if (pos >= b) {
      *hi = i;
      break;
    }
    pos += files[i].size + 1;
  }
  if (*lo > *hi) *lo = *hi;
}
