/* replay_main.c - runs a fuzz target over files, without libFuzzer.
 *
 *   fuzz_NAME [-q] PATH...     each PATH a file or a directory of files
 *
 * This is how the regression inputs (tests/fuzz/regress/NAME/) and the
 * generated seed corpora run in the gcc ASan build, where libFuzzer is not
 * available: a crash is the sanitizer's report and a non-zero exit. A path
 * that does not exist is skipped (a target without regression inputs); no
 * input at all is a failure. Prints how many inputs ran. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static int verbose = 1;
static unsigned long ran;

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      uint8_t *nb = realloc(buf, cap *= 2);
      if (!nb) {
        free(buf);
        buf = NULL;
      }
      buf = nb;
    }
  }
  fclose(f);
  if (!buf) {
    fprintf(stderr, "%s: out of memory\n", path);
    return -1;
  }
  if (verbose) fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
  /* a private copy of exactly n bytes, so ASan sees reads past the end */
  uint8_t *exact = malloc(n ? n : 1);
  if (!exact) return -1;
  memcpy(exact, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  ran++;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) {
    if (errno == ENOENT) return 0; /* a target without regression inputs (yet) */
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) return run_file(path);
  DIR *d = opendir(path);
  if (!d) return -1;
  char **names = NULL;
  size_t nn = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char **nv = realloc(names, (nn + 1) * sizeof *nv);
    if (!nv) break;
    names = nv;
    size_t l = strlen(path) + strlen(e->d_name) + 2;
    names[nn] = malloc(l);
    if (!names[nn]) break;
    snprintf(names[nn++], l, "%s/%s", path, e->d_name);
  }
  closedir(d);
  qsort(names, nn, sizeof *names, cmp_str);
  int rc = 0;
  for (size_t i = 0; i < nn; i++) {
    if (run_path(names[i]) < 0) rc = -1;
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  int rc = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-q")) {
      verbose = 0;
      continue;
    }
    if (run_path(argv[i]) < 0) rc = 1;
  }
  fprintf(stderr, "%s: %lu inputs ran\n", argv[0], ran);
  if (ran == 0) {
    fprintf(stderr, "%s: no input found (run gen_seeds.py first)\n", argv[0]);
    rc = 1;
  }
  return rc;
}
