/* bench_shard.c - shard write/read throughput beside libzstd called directly.
 *
 * Token data: the ids of a real tokenizer over real text when given
 * (--tokens FILE: raw uint16 or uint32 ids, e.g. from `tokenmill tokenizer
 * encode --binary`), else Zipf-distributed ids over a 32768 vocabulary,
 * repeated/extended to --mb megabytes (default 256) of raw token bytes.
 *
 * In the same run, on the same bytes, at the same level and frame size:
 *   ours write   documents appended to a shard (frames compressed, hashed,
 *                written, index, fsync, rename) on --dir (default /dev/shm,
 *                so the figure is CPU work, not the disk)
 *   zstd write   ZSTD_compress2 of the same frames into memory (the floor)
 *   ours read    every token read back through the reader (pread, checksum,
 *                decompress, index) in 1 MiB blocks
 *   zstd read    ZSTD_decompressDCtx of the same frames from memory
 * and prints MB/s of raw token bytes and the ratios ours/zstd.
 */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "config.h"
#include "shard.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t xr(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}

int main(int argc, char **argv) {
  const char *tokfile = NULL, *dir = "/dev/shm";
  size_t mb = 256, frame = 1u << 20;
  int level = 3, width_in = 2, reps = 3;
  uint32_t vocab = 32768;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--tokens") && i + 1 < argc) tokfile = argv[++i];
    else if (!strcmp(argv[i], "--width") && i + 1 < argc) width_in = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) vocab = (uint32_t)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = (size_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--level") && i + 1 < argc) level = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--frame") && i + 1 < argc) {
      uint64_t v;
      if (tm_parse_size(argv[++i], &v) < 0) return 2;
      frame = (size_t)v;
    } else {
      fprintf(stderr, "usage: bench_shard [--tokens FILE --width 2|4 --vocab V] [--mb N] [--level L] "
                      "[--frame SIZE] [--dir DIR] [--reps N]\n");
      return 2;
    }
  }
  unsigned w = tm_shard_token_width(vocab);
  size_t ntok = mb * (1u << 20) / w;
  uint32_t *tok = malloc(ntok * 4);
  const char *what;
  if (tokfile) {
    FILE *f = fopen(tokfile, "rb");
    if (!f) return perror(tokfile), 1;
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f) / (size_t)width_in;
    fseek(f, 0, SEEK_SET);
    uint8_t *raw = malloc(n * (size_t)width_in);
    if (fread(raw, (size_t)width_in, n, f) != n) return fprintf(stderr, "short read\n"), 1;
    fclose(f);
    for (size_t i = 0; i < ntok; i++) {
      size_t k = i % n;
      tok[i] = width_in == 2 ? ((uint16_t *)(void *)raw)[k] : ((uint32_t *)(void *)raw)[k];
      if (tok[i] >= vocab) tok[i] = vocab - 1;
    }
    free(raw);
    what = tokfile;
  } else {
    /* Zipf(1.1) over the vocabulary by inverse-CDF table */
    double *cdf = malloc(vocab * sizeof *cdf), s = 0;
    for (uint32_t i = 0; i < vocab; i++) s += 1.0 / pow(i + 1.0, 1.1), cdf[i] = s;
    for (size_t i = 0; i < ntok; i++) {
      double u = (double)(xr() >> 11) / 9007199254740992.0 * s;
      uint32_t lo = 0, hi = vocab - 1;
      while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (cdf[mid] < u) lo = mid + 1;
        else hi = mid;
      }
      tok[i] = lo;
    }
    free(cdf);
    what = "synthetic Zipf(1.1) ids";
  }
  /* documents of 50..2000 tokens; the separator is part of the stream */
  uint32_t eot = vocab - 1;
  size_t ndocs = 0, *doc_len = malloc((ntok / 50 + 1) * sizeof *doc_len);
  for (size_t p = 0; p < ntok;) {
    size_t n = 50 + xr() % 1950;
    if (p + n + 1 > ntok) n = ntok - p - 1;
    doc_len[ndocs++] = n;
    p += n;
    tok[p++] = eot;
  }
  double raw_mb = (double)ntok * w / 1e6;
  printf("bench_shard: %.1f MB of raw %u-bit tokens (%zu docs, %s), zstd level %d, frame %zu bytes\n",
         raw_mb, w * 8, ndocs, what, level, frame);

  /* the same frames in the shard's width, for the direct libzstd runs */
  size_t ftok = frame / w, nframes = (ntok + ftok - 1) / ftok;
  uint8_t *raw = malloc(ntok * w);
  for (size_t i = 0; i < ntok; i++) {
    if (w == 2) ((uint16_t *)(void *)raw)[i] = (uint16_t)tok[i];
    else ((uint32_t *)(void *)raw)[i] = tok[i];
  }
  size_t bound = ZSTD_compressBound(ftok * w);
  uint8_t *comp = malloc(nframes * bound);
  size_t *csize = malloc(nframes * sizeof *csize);
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  uint8_t *out = malloc(ftok * w);
  uint32_t *blk = malloc((1u << 20) * 4);
  double best[4] = {1e9, 1e9, 1e9, 1e9};
  size_t ctotal = 0;
  uint64_t shard_bytes = 0;
  char path[512];
  snprintf(path, sizeof path, "%s/bench_shard_%d.tms", dir, (int)getpid());
  for (int rep = 0; rep < reps; rep++) {
    /* zstd write */
    double t0 = now();
    ctotal = 0;
    for (size_t f = 0; f < nframes; f++) {
      size_t n = f + 1 < nframes ? ftok : ntok - f * ftok;
      csize[f] = ZSTD_compress2(cctx, comp + f * bound, bound, raw + f * ftok * w, n * w);
      ctotal += csize[f];
    }
    double t1 = now();
    if (t1 - t0 < best[1]) best[1] = t1 - t0;
    /* ours write */
    tm_shard_params p;
    tm_shard_params_default(&p);
    p.vocab_size = vocab;
    p.eot_id = eot;
    p.frame_bytes = frame;
    p.zstd_level = level;
    tm_error err = {0};
    tm_shard_writer *wr;
    t0 = now();
    if (tm_shard_writer_open(&wr, path, &p, &err) < 0) return fprintf(stderr, "%s\n", err.msg), 1;
    size_t pos = 0;
    for (size_t d = 0; d < ndocs; d++) {
      if (tm_shard_writer_append(wr, tok + pos, doc_len[d], d, "web", &err) < 0)
        return fprintf(stderr, "%s\n", err.msg), 1;
      pos += doc_len[d] + 1;
    }
    tm_shard_info info;
    if (tm_shard_writer_close(wr, &info, &err) < 0) return fprintf(stderr, "%s\n", err.msg), 1;
    t1 = now();
    if (t1 - t0 < best[0]) best[0] = t1 - t0;
    shard_bytes = info.file_bytes;
    /* zstd read */
    t0 = now();
    for (size_t f = 0; f < nframes; f++) {
      size_t r = ZSTD_decompressDCtx(dctx, out, ftok * w, comp + f * bound, csize[f]);
      if (ZSTD_isError(r)) return fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(r)), 1;
    }
    t1 = now();
    if (t1 - t0 < best[3]) best[3] = t1 - t0;
    /* ours read */
    tm_shard_reader *rd;
    t0 = now();
    if (tm_shard_open(&rd, path, &err) < 0) return fprintf(stderr, "%s\n", err.msg), 1;
    uint64_t total = tm_shard_reader_info(rd)->n_tokens;
    for (uint64_t a = 0; a < total; a += 1u << 20) {
      uint64_t b = a + (1u << 20) < total ? a + (1u << 20) : total;
      if (tm_shard_read_range_raw(rd, a, b, blk, &err) < 0) return fprintf(stderr, "%s\n", err.msg), 1;
    }
    tm_shard_close(rd);
    t1 = now();
    if (t1 - t0 < best[2]) best[2] = t1 - t0;
  }
  unlink(path);
  printf("  compression ratio: ours %.3f (whole file), zstd %.3f\n", (double)ntok * w / (double)shard_bytes,
         (double)ntok * w / (double)ctotal);
  printf("  write: ours %8.1f MB/s   zstd %8.1f MB/s   time ratio ours/zstd %.3f (target <= 1.15)\n",
         raw_mb / best[0], raw_mb / best[1], best[0] / best[1]);
  printf("  read:  ours %8.1f MB/s   zstd %8.1f MB/s   time ratio ours/zstd %.3f (target <= 1.15)\n",
         raw_mb / best[2], raw_mb / best[3], best[2] / best[3]);
  /* the zstd CLI on the same raw bytes, for reference (its own I/O and threads) */
  char rawpath[512], cmd[2048];
  snprintf(rawpath, sizeof rawpath, "%s/bench_shard_%d.raw", dir, (int)getpid());
  FILE *f = fopen(rawpath, "wb");
  if (f && fwrite(raw, w, ntok, f) == ntok && fclose(f) == 0) {
    snprintf(cmd, sizeof cmd, "zstd -q -f -%d -B%zu --single-thread %s -o %s.zst", level, frame, rawpath, rawpath);
    double t0 = now();
    int rc1 = system(cmd);
    double t1 = now();
    snprintf(cmd, sizeof cmd, "zstd -q -d -f -c %s.zst > /dev/null", rawpath);
    int rc2 = system(cmd);
    double t2 = now();
    if (rc1 == 0 && rc2 == 0)
      printf("  zstd CLI (reference): compress %.1f MB/s, decompress %.1f MB/s\n", raw_mb / (t1 - t0),
             raw_mb / (t2 - t1));
    snprintf(cmd, sizeof cmd, "%s.zst", rawpath);
    unlink(cmd);
  }
  unlink(rawpath);
  return 0;
}
