/* test_shard_corrupt.c - every single-byte corruption and every truncation
 * of a small shard is detected, by the verifier and by a reader that reads
 * every document: an error naming the file and an offset, never a crash or a
 * wrong token. Also: a crash before the rename (a child killed by SIGKILL
 * through the I/O layer's fault injection) leaves no visible shard and the
 * manifest as it was. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"
#include "manifest.h"
#include "shard.h"
#include "tm_test.h"

static char dir[] = "/tmp/tm_test_corrupt_XXXXXX";

static int write_shard(const char *path, uint32_t vocab, tm_shard_info *info) {
  tm_shard_params p;
  tm_shard_params_default(&p);
  p.vocab_size = vocab;
  p.eot_id = 0;
  p.tokenizer_hash = 42;
  p.frame_bytes = 64; /* many frames in a small file */
  tm_error err;
  tm_shard_writer *w;
  if (tm_shard_writer_open(&w, path, &p, &err) < 0) return -1;
  uint32_t t[40];
  for (int d = 0; d < 12; d++) {
    size_t n = (size_t)(d * 7) % 40;
    for (size_t k = 0; k < n; k++) t[k] = 1 + (uint32_t)((d * 131 + k * 7) % (vocab - 1));
    if (tm_shard_writer_append(w, t, n, (uint64_t)d * 1000003u, d % 2 ? "web" : "books", &err) < 0)
      return -1;
  }
  return tm_shard_writer_close(w, info, &err);
}

/* read every document through a fresh reader; 0 if all reads succeed */
static int read_all(const char *path, tm_error *err) {
  tm_shard_reader *r;
  int rc = tm_shard_open(&r, path, err);
  if (rc < 0) return rc;
  const tm_shard_info *i = tm_shard_reader_info(r);
  for (uint64_t d = 0; d < i->n_docs && rc == 0; d++) {
    const uint32_t *t;
    size_t n;
    rc = tm_shard_read_doc(r, d, &t, &n, err);
  }
  /* and the separators between documents */
  if (rc == 0 && i->n_tokens) {
    uint32_t *all = malloc(i->n_tokens * 4);
    rc = tm_shard_read_range(r, 0, i->n_tokens, all, err);
    free(all);
  }
  tm_shard_close(r);
  return rc;
}

static int names_offset(const tm_error *e) { return strstr(e->msg, "offset") != NULL; }

static void corruption_cases(uint32_t vocab) {
  char good[256], bad[256];
  snprintf(good, sizeof good, "%s/good%u.tms", dir, vocab);
  snprintf(bad, sizeof bad, "%s/bad%u.tms", dir, vocab);
  tm_shard_info info;
  CHECK(write_shard(good, vocab, &info) == 0);
  char *orig;
  size_t len;
  tm_error err;
  CHECK(tm_io_read_file(good, 1 << 20, &orig, &len, &err) == 0);
  CHECK(tm_shard_verify(good, NULL, &err) == 0 && read_all(good, &err) == 0);
  int missed_verify = 0, missed_read = 0, no_offset = 0;
  for (size_t off = 0; off < len; off++) {
    for (int flip = 0; flip < 2; flip++) {
      char *b = malloc(len);
      memcpy(b, orig, len);
      b[off] ^= flip ? (char)0xFF : (char)0x01;
      tm_io_write_file_atomic(bad, b, len, "test", NULL);
      free(b);
      tm_error_clear(&err);
      if (tm_shard_verify(bad, NULL, &err) >= 0) missed_verify++;
      else if (!names_offset(&err) || !strstr(err.msg, bad)) no_offset++;
      tm_error_clear(&err);
      if (read_all(bad, &err) >= 0) missed_read++;
      else if (!names_offset(&err)) no_offset++;
    }
  }
  CHECKF(missed_verify == 0, "%d corruptions missed by verify (file %zu bytes)", missed_verify, len);
  CHECKF(missed_read == 0, "%d corruptions missed by the reader", missed_read);
  CHECKF(no_offset == 0, "%d errors without an offset", no_offset);
  int trunc_missed = 0;
  for (size_t cut = 0; cut < len; cut++) {
    tm_io_write_file_atomic(bad, orig, cut, "test", NULL);
    if (tm_shard_verify(bad, NULL, &err) >= 0 || read_all(bad, &err) >= 0) trunc_missed++;
  }
  CHECKF(trunc_missed == 0, "%d truncations missed", trunc_missed);
  printf("vocab %u: %zu-byte shard, %zu corruptions and %zu truncations detected\n", vocab, len,
         2 * len, len);
  free(orig);
}

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static void crash_case(const char *site_op) {
  /* a published shard and a manifest listing it */
  tm_error err;
  tm_manifest m;
  CHECK(tm_manifest_load(&m, dir, 1, &err) == 0);
  uint64_t gen = m.generation;
  size_t n = m.n_shards;
  tm_manifest_free(&m);
  char path[256];
  snprintf(path, sizeof path, "%s/crash-%s.tms", dir, site_op);
  pid_t pid = fork();
  if (pid == 0) {
    char plan[64];
    snprintf(plan, sizeof plan, "%s:1:CRASH", site_op);
    setenv("TOKENMILL_FAULT", plan, 1);
    tm_io_fault_reset();
    tm_shard_info info;
    tm_manifest mm;
    if (write_shard(path, 300, &info) == 0 && tm_manifest_load(&mm, dir, 1, NULL) == 0) {
      const char *base = strrchr(path, '/') + 1;
      tm_manifest_add(&mm, base, &info, NULL);
      tm_manifest_save(&mm, dir, NULL);
    }
    _exit(0);
  }
  int st;
  waitpid(pid, &st, 0);
  CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child for %s was not killed", site_op);
  CHECK(tm_manifest_load(&m, dir, 1, &err) == 0);
  CHECKF(m.generation == gen && m.n_shards == n, "manifest changed after crash at %s", site_op);
  /* every listed shard verifies */
  for (size_t i = 0; i < m.n_shards; i++) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, m.shards[i].name);
    tm_shard_info vi;
    CHECK(tm_shard_verify(p, &vi, &err) == 0 && vi.file_hash == m.shards[i].file_hash);
  }
  tm_manifest_free(&m);
  if (!strncmp(site_op, "shard", 5)) CHECKF(!exists(path), "shard visible after crash at %s", site_op);
}

int main(void) {
  CHECK(mkdtemp(dir) != NULL);
  corruption_cases(300);
  corruption_cases(70000);
  /* a first shard in the manifest */
  tm_shard_info info;
  tm_error err;
  char first[256];
  snprintf(first, sizeof first, "%s/first.tms", dir);
  CHECK(write_shard(first, 300, &info) == 0);
  tm_manifest m;
  CHECK(tm_manifest_load(&m, dir, 1, &err) == 0);
  CHECK(tm_manifest_add(&m, "first.tms", &info, &err) == 0);
  CHECK(tm_manifest_save(&m, dir, &err) == 0);
  tm_manifest_free(&m);
  crash_case("shard:fsync");
  crash_case("shard:rename");
  crash_case("manifest:write");
  crash_case("manifest:rename");
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return tm_test_finish("test_shard_corrupt");
}
