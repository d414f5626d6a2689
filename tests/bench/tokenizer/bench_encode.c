/* bench_encode.c - tokenmill's encode speed, in process, on one file.
 *
 * usage: bench_encode TOKENIZER_JSON TEXT_FILE [THREADS] [lines|whole]
 * Encodes every line (default; as the HF and tiktoken benches do) or the
 * whole file as one text, with THREADS threads (default 1), each with its
 * own encoder over an interleaved share of the lines. Prints one line:
 *   tokenmill encode: threads=1 bytes=... tokens=... seconds=... mb_per_s=...
 * The file read is not timed; a first cold pass is not run (the cache
 * starts empty, as in real use). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io.h"
#include "tokenizer.h"

typedef struct {
  const tm_tokenizer *tok;
  const char *data;
  size_t len;
  size_t *starts;
  size_t n_lines;
  int id, threads, whole;
  uint64_t tokens;
} job;

static void *run(void *arg) {
  job *j = arg;
  tm_encoder *enc = tm_encoder_new(j->tok);
  tm_ids ids = {0};
  tm_error err = {0};
  if (j->whole) {
    tm_encoder_encode(enc, j->data, j->len, 0, &ids, &err);
    j->tokens = ids.len;
  } else {
    for (size_t i = (size_t)j->id; i < j->n_lines; i += (size_t)j->threads) {
      ids.len = 0;
      size_t s = j->starts[i], e = j->starts[i + 1];
      tm_encoder_encode(enc, j->data + s, e - s, 0, &ids, &err);
      j->tokens += ids.len;
    }
  }
  tm_ids_free(&ids);
  tm_encoder_free(enc);
  return NULL;
}

static double clock_s(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_encode TOKENIZER_JSON TEXT_FILE [THREADS] [lines|whole]\n");
    return 2;
  }
  int threads = argc > 3 ? atoi(argv[3]) : 1;
  int whole = argc > 4 && !strcmp(argv[4], "whole");
  if (threads < 1 || threads > 64) threads = 1;
  tm_error err = {0};
  tm_tokenizer *tok;
  char *data;
  size_t len;
  if (tm_tokenizer_load(&tok, argv[1], &err) < 0 ||
      tm_io_read_file(argv[2], (size_t)16 << 30, &data, &len, &err) < 0) {
    fprintf(stderr, "bench_encode: %s\n", err.msg);
    return 1;
  }
  size_t n = 0;
  for (size_t i = 0; i < len; i++) n += data[i] == '\n';
  size_t *starts = malloc((n + 2) * sizeof *starts), k = 0;
  starts[k++] = 0;
  for (size_t i = 0; i < len; i++)
    if (data[i] == '\n') starts[k++] = i + 1;
  if (starts[k - 1] != len) starts[k++] = len;
  job jobs[64];
  pthread_t tid[64];
  double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (int t = 0; t < threads; t++) {
    jobs[t] = (job){tok, data, len, starts, k - 1, t, threads, whole && t == 0, 0};
    if (whole && t > 0) jobs[t].n_lines = 0;
    pthread_create(&tid[t], NULL, run, &jobs[t]);
  }
  uint64_t tokens = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    tokens += jobs[t].tokens;
  }
  double dt = clock_s(CLOCK_MONOTONIC) - t0, ct = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
  printf("tokenmill encode: threads=%d mode=%s bytes=%zu tokens=%llu seconds=%.3f cpu_s=%.3f "
         "mb_per_cpu_s=%.2f mb_per_s=%.2f\n", threads, whole ? "whole" : "lines", len,
         (unsigned long long)tokens, dt, ct, len / ct / 1e6, len / dt / 1e6);
  free(starts);
  free(data);
  tm_tokenizer_free(tok);
  return 0;
}
