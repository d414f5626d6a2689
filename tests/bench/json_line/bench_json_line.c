/* bench_json_line.c - throughput of the three JSONL line calls that share
 * readers/json_line.c: tm_jsonl_check (serve's posted lines, dedup's rest
 * check), tm_jsonl_find_text (the reader's text field, decoded) and
 * tm_jsonl_fields_parse (`tokenmill dedup`'s text and id).
 *
 *   bench_json_line [--mb N] [--rounds R] [--field NAME] [FILE.jsonl]
 *
 * Lines come from FILE (plain JSONL) or are generated: web-like text with
 * \n and \" escapes, some UTF-8, an integer or string id, a few other
 * members. --field: the member tm_jsonl_check and tm_jsonl_find_text look
 * for (default text; dedup's call always reads "text"). Each call runs over all lines R times; the best round's MB per
 * CPU-second (line bytes) is printed per call. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "readers/json_line.h"
#include "dedup/jsonl_fields.h"
#include "readers/reader_int.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* CPU time of this thread: on the shared machine (load well above its
 * cores) wall-clock rounds mostly measure the other processes. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *words[] = {"the", "data", "model", "of", "a", "training", "corpus", "is",
                              "large", "and", "clean", "text", "with", "tokens", "per", "day"};

/* One generated line appended to buf at *n. */
static void gen_line(char *buf, size_t *n, uint64_t i) {
  size_t o = *n;
  if (i % 2) o += (size_t)sprintf(buf + o, "{\"id\": %llu, \"url\": \"https://example.org/p/%llu\", \"text\": \"",
                                  (unsigned long long)i, (unsigned long long)rnd() % 100000);
  else o += (size_t)sprintf(buf + o, "{\"id\": \"doc-%llu\", \"meta\": {\"lang\": \"en\", \"n\": [1, 2]}, \"text\": \"",
                            (unsigned long long)i);
  size_t words_n = 100 + rnd() % 900;
  for (size_t w = 0; w < words_n; w++) {
    uint64_t r = rnd();
    const char *s = words[r % 16];
    memcpy(buf + o, s, strlen(s));
    o += strlen(s);
    switch ((r >> 8) % 64) {
    case 0: memcpy(buf + o, "\\n", 2), o += 2; break;
    case 1: memcpy(buf + o, "\\\"", 2), o += 2; break;
    case 2: memcpy(buf + o, " caf\xc3\xa9 ", 7), o += 7; break;
    case 3: memcpy(buf + o, " \xe4\xb8\xad\xe6\x96\x87 ", 8), o += 8; break;
    case 4: memcpy(buf + o, ". ", 2), o += 2; break;
    default: buf[o++] = ' ';
    }
  }
  o += (size_t)sprintf(buf + o, "\", \"source\": \"web\"}\n");
  *n = o;
}

int main(int argc, char **argv) {
  double mb = 64;
  int rounds = 5;
  const char *file = NULL, *field = "text";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atof(argv[++i]);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--field") && i + 1 < argc) field = argv[++i];
    else if (!strcmp(argv[i], "--help")) {
      fprintf(stderr, "usage: bench_json_line [--mb N] [--rounds R] [--field NAME] [FILE.jsonl]\n");
      return 0;
    } else file = argv[i];
  }
  size_t cap = (size_t)(mb * 1e6) + (1 << 20), n = 0;
  char *buf = malloc(cap);
  if (!buf) return 1;
  if (file) {
    FILE *f = fopen(file, "rb");
    if (!f) {
      perror(file);
      return 1;
    }
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    while (n && buf[n - 1] != '\n') n--; /* whole lines only */
  } else {
    for (uint64_t i = 0; n < (size_t)(mb * 1e6); i++) gen_line(buf, &n, i);
  }
  /* line table */
  size_t lines = 0, lcap = 1024;
  size_t *off = malloc(lcap * sizeof *off);
  for (size_t p = 0; p < n;) {
    char *e = memchr(buf + p, '\n', n - p);
    size_t q = e ? (size_t)(e - buf) : n;
    if (lines + 2 > lcap) off = realloc(off, (lcap *= 2) * sizeof *off);
    off[lines++] = p;
    p = q + 1;
  }
  off[lines] = n + 1;
  char *out = malloc(1 << 26);
  const char *names[3] = {"tm_jsonl_check", "tm_jsonl_find_text", "tm_jsonl_fields_parse"};
  printf("%zu lines, %.1f MB (%s)\n", lines, n / 1e6, file ? file : "generated");
  for (int call = 0; call < 3; call++) {
    double best = 1e30;
    size_t ok = 0;
    for (int r = 0; r < rounds; r++) {
      ok = 0;
      double t0 = now();
      for (size_t l = 0; l < lines; l++) {
        const char *line = buf + off[l];
        size_t len = off[l + 1] - 1 - off[l];
        if (len > (1 << 26)) continue;
        if (call == 0) {
          const char *why;
          size_t col;
          ok += tm_jsonl_check(line, len, field, &why, &col) == TM_JSONL_OK;
        } else if (call == 1) {
          size_t vs, ve, olen;
          ok += (size_t)tm_jsonl_find_text(line, len, field, strlen(field), &vs, &ve, out, &olen);
        } else {
          tm_jsonl_fields f;
          ok += tm_jsonl_fields_parse(line, len, &f) == 1;
          free(f.buf);
        }
      }
      double t = now() - t0;
      if (t < best) best = t;
    }
    printf("%-22s %8.1f MB/CPU-s  (best of %d rounds, %zu/%zu lines accepted)\n", names[call], n / 1e6 / best,
           rounds, ok, lines);
  }
  free(out);
  free(off);
  free(buf);
  return 0;
}
