/* test_dedup_index.c - the stage, its persistent index, the byte budget,
 * corruption detection and crash consistency (dedup.h, dedup_index.h,
 * sig_store.h). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dedup/dedup.h"
#include "io.h"
#include "tm_test.h"

static uint64_t rng = 42;
static uint64_t rnd(void) { return tm_test_xorshift(&rng); }

/* A document of `words` random words from a 5000-word vocabulary. */
static char *make_doc(int words) {
  char *s = malloc((size_t)words * 8 + 1), *p = s;
  for (int i = 0; i < words; i++) {
    uint64_t w = rnd() % 5000;
    p += sprintf(p, "%c%c%c%c ", 'a' + (int)(w % 26), 'a' + (int)(w / 26 % 26),
                 'a' + (int)(w / 676 % 26), 'a' + (int)(rnd() % 3));
  }
  *p = 0;
  return s;
}

/* Replace every nth word (4 letters each) of a copy. */
static char *edit(const char *src, int nth) {
  char *s = strdup(src);
  int w = 0;
  for (char *p = s; *p; p += 5)
    if (++w % nth == 0) p[0] = p[0] == 'z' ? 'y' : 'z', p[1] = 'q';
  return s;
}

static char dir[256];

static int process(tm_dedup *d, const char *id, const char *text, tm_dedup_verdict *v) {
  tm_error err = {0};
  int rc = tm_dedup_process(d, id, strlen(id), text, strlen(text), v, &err);
  if (rc < 0) fprintf(stderr, "process %s: %s\n", id, err.msg);
  return rc;
}

static tm_dedup *open_stage(const tm_dedup_params *p, tm_error *err) {
  tm_dedup *d = NULL;
  memset(err, 0, sizeof *err);
  if (tm_dedup_open(&d, p, dir, err) < 0) return NULL;
  return d;
}

static void rm_index(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "rm failed\n");
}

static void test_verdicts(void) {
  tm_dedup_params p;
  tm_dedup_params_default(&p);
  tm_error err;
  tm_dedup *d = open_stage(&p, &err);
  CHECKF(d != NULL, "%s", err.msg);
  if (!d) return;
  char *base = make_doc(300), *other = make_doc(300);
  char *near = edit(base, 50), *far = edit(base, 3); /* J about 0.82 and 0.06 */
  char *shouty = strdup(base);
  for (char *c = shouty; *c; c++)
    if (*c >= 'a' && *c <= 'z' && rnd() % 2) *c = (char)(*c - 32);
  tm_dedup_verdict v;
  CHECK(process(d, "base", base, &v) == 0 && v.kind == TM_DEDUP_UNIQUE && !v.duplicate_of);
  CHECK(process(d, "other", other, &v) == 0 && v.kind == TM_DEDUP_UNIQUE);
  CHECK(process(d, "copy", base, &v) == 0 && v.kind == TM_DEDUP_EXACT);
  CHECK(v.duplicate_of && !strcmp(v.duplicate_of, "base") && v.similarity == 1.0);
  CHECK(process(d, "shouty", shouty, &v) == 0 && v.kind == TM_DEDUP_EXACT);
  CHECK(process(d, "near", near, &v) == 0 && v.kind == TM_DEDUP_NEAR);
  CHECKF(v.duplicate_of && !strcmp(v.duplicate_of, "base") && v.similarity >= 0.75 &&
             v.similarity < 1.0,
         "sim %f", v.similarity);
  CHECK(process(d, "far", far, &v) == 0 && v.kind == TM_DEDUP_UNIQUE);
  CHECK(process(d, "empty", " ...! ", &v) == 0 && v.kind == TM_DEDUP_UNIQUE);
  CHECK(process(d, "empty2", " ...! ", &v) == 0 && v.kind == TM_DEDUP_EXACT);
  CHECK(process(d, "other-empty", " ???? ", &v) == 0 && v.kind == TM_DEDUP_UNIQUE);
  /* Chinese near-duplicates: character shingles */
  const char *zh1 = "数据去重是训练语言模型之前的重要步骤，它可以删除重复的网页和文档，"
                    "减少模型对常见文本的记忆，并提高训练数据的多样性和质量。";
  const char *zh2 = "数据去重是训练语言模型之前的重要步骤，它可以删除重复的网页和文档，"
                    "减少模型对常见文本的记忆，并提高训练数据的多样性与质量。";
  CHECK(process(d, "zh1", zh1, &v) == 0 && v.kind == TM_DEDUP_UNIQUE);
  CHECK(process(d, "zh2", zh2, &v) == 0 && v.kind == TM_DEDUP_NEAR);
  CHECK(v.duplicate_of && !strcmp(v.duplicate_of, "zh1"));
  tm_dedup_stats st;
  tm_dedup_get_stats(d, &st);
  CHECK(st.docs_in == 11 && st.kept == 6 && st.exact_dups == 3 && st.near_dups == 2);
  CHECK(st.cjk_docs == 2 && st.no_shingles == 3 && st.index.records == 6);
  tm_dedup_close(d);

  /* exact off: the shouted copy is still caught as a near duplicate */
  rm_index();
  p.exact = 0;
  d = open_stage(&p, &err);
  CHECK(d && process(d, "base", base, &v) == 0 && v.kind == TM_DEDUP_UNIQUE);
  CHECK(d && process(d, "copy", base, &v) == 0 && v.kind == TM_DEDUP_NEAR && v.similarity == 1.0);
  tm_dedup_close(d);
  /* near off: only exact */
  rm_index();
  p.exact = 1;
  p.near = 0;
  d = open_stage(&p, &err);
  CHECK(d && process(d, "base", base, &v) == 0 && v.kind == TM_DEDUP_UNIQUE);
  CHECK(d && process(d, "near", near, &v) == 0 && v.kind == TM_DEDUP_UNIQUE);
  CHECK(d && process(d, "copy", base, &v) == 0 && v.kind == TM_DEDUP_EXACT);
  tm_dedup_close(d);
  rm_index();
  free(base), free(other), free(near), free(far), free(shouty);
}

/* Documents survive close/reopen at their checkpoint, and only there. */
static void test_persistence(void) {
  tm_dedup_params p;
  tm_dedup_params_default(&p);
  tm_error err;
  enum { N = 3000 };
  char **docs = malloc(N * sizeof *docs);
  for (int i = 0; i < N; i++) docs[i] = make_doc(60);
  tm_dedup *d = open_stage(&p, &err);
  CHECK(d && tm_dedup_committed_token(d) == 0);
  if (!d) return;
  tm_dedup_verdict v;
  char id[32];
  int ok = 1;
  for (int i = 0; i < 2000; i++) { /* more than one write buffer (4096 records)? no: ids */
    snprintf(id, sizeof id, "doc-%d", i);
    ok &= process(d, id, docs[i], &v) == 0 && v.kind == TM_DEDUP_UNIQUE;
  }
  CHECK(ok);
  CHECK(tm_dedup_checkpoint(d, 77, &err) == 0);
  for (int i = 2000; i < N; i++) { /* after the checkpoint: forgotten on reopen */
    snprintf(id, sizeof id, "doc-%d", i);
    ok &= process(d, id, docs[i], &v) == 0 && v.kind == TM_DEDUP_UNIQUE;
  }
  tm_dedup_close(d);
  d = open_stage(&p, &err);
  CHECKF(d != NULL, "%s", err.msg);
  if (!d) return;
  CHECK(tm_dedup_committed_token(d) == 77);
  { /* a second opener of the same directory is refused */
    tm_dedup *d2 = open_stage(&p, &err);
    CHECKF(!d2 && err.code == TM_ESTATE && strstr(err.msg, "another process"), "%s", err.msg);
    tm_dedup_close(d2);
  }
  int dups = 1, fresh = 1;
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "again-%d", i);
    if (process(d, id, docs[i], &v) < 0) dups = fresh = 0;
    char want[32];
    snprintf(want, sizeof want, "doc-%d", i);
    if (i < 2000) dups &= v.kind == TM_DEDUP_EXACT && !strcmp(v.duplicate_of, want);
    else fresh &= v.kind == TM_DEDUP_UNIQUE;
  }
  CHECK(dups);
  CHECK(fresh);
  CHECK(tm_dedup_checkpoint(d, 78, &err) == 0);
  tm_dedup_close(d);

  /* changing how signatures are made is refused; bands/threshold may change */
  tm_dedup_params q = p;
  q.num_perm = 128;
  q.bands = 16;
  d = open_stage(&q, &err);
  CHECK(!d && err.code == TM_EINVAL && strstr(err.msg, "checkpoint"));
  q = p;
  q.shingle.ngram = 3;
  d = open_stage(&q, &err);
  CHECK(!d && err.code == TM_EINVAL);
  q = p;
  q.bands = 10;
  q.threshold = 0.8;
  d = open_stage(&q, &err);
  CHECKF(d != NULL, "%s", err.msg);
  if (d) {
    CHECK(process(d, "x", docs[5], &v) == 0 && v.kind == TM_DEDUP_EXACT);
    CHECK(!strcmp(v.duplicate_of, "doc-5"));
    tm_dedup_close(d);
  }
  for (int i = 0; i < N; i++) free(docs[i]);
  free(docs);
}

static void corrupt_byte(const char *name, long off) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDWR);
  unsigned char c = 0;
  if (fd < 0 || pread(fd, &c, 1, off) != 1) {
    fprintf(stderr, "corrupt %s: cannot read\n", path);
    if (fd >= 0) close(fd);
    return;
  }
  c ^= 0x5a;
  if (pwrite(fd, &c, 1, off) != 1) fprintf(stderr, "corrupt: write failed\n");
  close(fd);
}

/* Every kind of damage is reported with the file and offset, never a crash. */
static void test_corruption(void) {
  tm_dedup_params p;
  tm_dedup_params_default(&p);
  tm_error err;
  char path[512];
  snprintf(path, sizeof path, "%s/records.bin", dir);
  /* a record in the middle */
  corrupt_byte("records.bin", 64 + 152 * 100 + 100);
  tm_dedup *d = open_stage(&p, &err);
  CHECKF(!d && err.code == TM_ECORRUPT && strstr(err.msg, "records.bin") &&
             strstr(err.msg, "record 100") && strstr(err.msg, "15264"),
         "%s", err.msg);
  corrupt_byte("records.bin", 64 + 152 * 100 + 100); /* undo */
  d = open_stage(&p, &err);
  CHECKF(d != NULL, "%s", err.msg);
  tm_dedup_close(d);
  /* the header */
  corrupt_byte("records.bin", 3);
  d = open_stage(&p, &err);
  CHECKF(!d && err.code == TM_ECORRUPT && strstr(err.msg, "magic"), "%s", err.msg);
  corrupt_byte("records.bin", 3);
  /* the checkpoint */
  corrupt_byte("checkpoint", 30);
  d = open_stage(&p, &err);
  CHECKF(!d && err.code == TM_ECORRUPT && strstr(err.msg, "checkpoint"), "%s", err.msg);
  corrupt_byte("checkpoint", 30);
  /* a truncated records file */
  struct stat st;
  stat(path, &st);
  CHECK(truncate(path, st.st_size - 1000) == 0);
  d = open_stage(&p, &err);
  CHECKF(!d && err.code == TM_ECORRUPT && strstr(err.msg, "truncated"), "%s", err.msg);
  rm_index();
}

/* A tiny budget: the oldest quarter is evicted, memory stays under it, and
 * the recent documents are still matched. */
static void test_budget(void) {
  tm_dedup_params p;
  tm_dedup_params_default(&p);
  p.ram_budget = 15 * 8 * 2000; /* 2000 slots per table: at most 1500 documents */
  tm_error err;
  tm_dedup *d = open_stage(&p, &err);
  CHECKF(d != NULL, "%s", err.msg);
  if (!d) return;
  enum { N = 5000 };
  char **docs = malloc(N * sizeof *docs);
  tm_dedup_verdict v;
  char id[32];
  int ok = 1;
  for (int i = 0; i < N; i++) {
    docs[i] = make_doc(40);
    snprintf(id, sizeof id, "b%d", i);
    ok &= process(d, id, docs[i], &v) == 0 && v.kind == TM_DEDUP_UNIQUE;
  }
  CHECK(ok);
  tm_dedup_stats st;
  tm_dedup_get_stats(d, &st);
  CHECK(st.index.table_bytes <= p.ram_budget);
  CHECKF(st.index.evicted > 0 && st.index.in_ram <= 1500 && st.index.records == N,
         "evicted %llu in_ram %llu", (unsigned long long)st.index.evicted,
         (unsigned long long)st.index.in_ram);
  /* the newest are found, the evicted are not */
  CHECK(process(d, "new-copy", docs[N - 1], &v) == 0 && v.kind == TM_DEDUP_EXACT);
  CHECK(process(d, "old-copy", docs[0], &v) == 0 && v.kind == TM_DEDUP_UNIQUE);
  CHECK(tm_dedup_checkpoint(d, 1, &err) == 0);
  tm_dedup_close(d);
  /* the floor is persisted: reopening does not resurrect evicted documents */
  d = open_stage(&p, &err);
  CHECKF(d != NULL, "%s", err.msg);
  if (d) {
    tm_dedup_get_stats(d, &st);
    CHECK(st.index.evicted > 0 && st.index.in_ram <= 1500);
    CHECK(process(d, "new-copy2", docs[N - 2], &v) == 0 && v.kind == TM_DEDUP_EXACT);
    tm_dedup_close(d);
  }
  /* a budget below one minimal table set is a configuration error */
  rm_index();
  p.ram_budget = 1000;
  d = open_stage(&p, &err);
  CHECK(!d && err.code == TM_EINVAL && strstr(err.msg, "ram_budget"));
  for (int i = 0; i < N; i++) free(docs[i]);
  free(docs);
  rm_index();
}

/* A new index in dir at the default parameters (64 MiB budget), opened
 * through the index API; NULL (a failed check) when it does not open. */
static tm_dedup_index *open_index(int exact_only, tm_error *err) {
  tm_dedup_index_opts o = {.k = 112, .bands = 14, .rows = 8, .threshold = 0.75,
                           .ram_budget = (uint64_t)64 << 20, .params_hash = 7,
                           .exact_only = exact_only};
  tm_dedup_index *x = NULL;
  char user[TM_DEDUP_INDEX_USER_MAX];
  size_t ul;
  CHECKF(tm_dedup_index_open(&x, dir, &o, user, &ul, err) == 0, "%s", err->msg);
  return x;
}

/* An exact copy of a document with a signature is found through the band
 * tables (documents with signatures are not in the exact table), also when
 * its original is behind more than TM_DEDUP_MAX_CANDIDATES documents that
 * share the first band's key: 70 documents with the same first 8 values
 * (the rest random: similarity about 0.07), then a copy of the last one. */
static void test_exact_behind_long_band(void) {
  rm_index();
  tm_error err;
  tm_dedup_index *x = open_index(0, &err);
  if (!x) return;
  enum { N = TM_DEDUP_MAX_CANDIDATES + 6 };
  static uint32_t sig[N][112];
  uint64_t exact[N][2];
  int ok = 1;
  for (int i = 0; i < N; i++) {
    for (int c = 0; c < 112; c++) sig[i][c] = c < 8 ? (uint32_t)(1000 + c) : (uint32_t)rnd();
    exact[i][0] = rnd();
    exact[i][1] = rnd();
    tm_dedup_match m;
    ok &= tm_dedup_index_process(x, "s", 1, exact[i], 1, sig[i], &m, &err) == 0 &&
          m.kind == TM_DEDUP_UNIQUE;
  }
  CHECK(ok);
  tm_dedup_match m;
  CHECK(tm_dedup_index_process(x, "copy", 4, exact[N - 1], 1, sig[N - 1], &m, &err) == 0);
  CHECKF(m.kind == TM_DEDUP_EXACT && m.ref == N - 1 && m.similarity == 1.0, "kind %d ref %u",
         (int)m.kind, m.ref);
  /* with exact lookups off, a copy of the first (examined) is a near copy of similarity 1 */
  CHECK(tm_dedup_index_process(x, "copy2", 5, exact[0], 0, sig[0], &m, &err) == 0);
  CHECKF(m.kind == TM_DEDUP_NEAR && m.ref == 0 && m.similarity == 1.0, "kind %d ref %u",
         (int)m.kind, m.ref);
  tm_dedup_index_close(x);
  rm_index();
}

/* The exact table and the band tables grow apart: 100000 documents without
 * signatures grow the exact table past its initial 65536 slots while the
 * band tables keep theirs, with near-duplicate detection on or off
 * (exact_only), and every one of them is still found. */
static void test_exact_table_growth(void) {
  for (int exact_only = 0; exact_only <= 1; exact_only++) {
    rm_index();
    tm_error err;
    tm_dedup_index *x = open_index(exact_only, &err);
    if (!x) return;
    enum { N = 100000 };
    int ok = 1;
    for (uint64_t i = 0; i < N; i++) {
      uint64_t e[2] = {i * 0x9E3779B97F4A7C15ull, i};
      tm_dedup_match m;
      ok &= tm_dedup_index_process(x, "e", 1, e, 1, NULL, &m, &err) == 0 &&
            m.kind == TM_DEDUP_UNIQUE;
    }
    CHECK(ok);
    for (uint64_t i = 0; i < N; i += 997) {
      uint64_t e[2] = {i * 0x9E3779B97F4A7C15ull, i};
      tm_dedup_match m;
      ok &= tm_dedup_index_process(x, "c", 1, e, 1, NULL, &m, &err) == 0 &&
            m.kind == TM_DEDUP_EXACT && m.ref == i;
    }
    CHECKF(ok, "exact_only %d: copies found", exact_only);
    tm_dedup_index_stats st;
    tm_dedup_index_get_stats(x, &st);
    uint64_t bands_initial = 14ull * 8 * (65536 + 1024 + 8);
    CHECKF(st.in_ram == N && st.evicted == 0 && st.table_bytes > bands_initial + 8ull * N * 4 / 3 &&
               st.table_bytes < bands_initial + 8ull * (N * 5 / 3 + 1032),
           "exact_only %d: in_ram %llu table_bytes %llu", exact_only,
           (unsigned long long)st.in_ram, (unsigned long long)st.table_bytes);
    tm_dedup_index_close(x);
  }
  rm_index();
}

/* tm_dedup_commit_batch gives the verdicts of one tm_dedup_process call per
 * document: the same stream (exact and near copies, copies of a document of
 * the same batch, documents without shingles, CJK) through two indexes, one
 * per call and one in batches of uneven sizes across the 256-document
 * chunks, with a budget small enough to evict in the middle of a batch. */
static void test_batch(void) {
  enum { N = 3000 };
  static const size_t sizes[] = {1, 7, 300, 64, 513, 2, 256, 257};
  char dir_b[300];
  snprintf(dir_b, sizeof dir_b, "%s.b", dir);
  tm_dedup_params p;
  tm_dedup_params_default(&p);
  p.ram_budget = 15 * 8 * 3000; /* evicts after about 1500 documents */
  tm_error err = {0};
  tm_dedup *a = open_stage(&p, &err), *b = NULL;
  CHECKF(a != NULL, "%s", err.msg);
  CHECKF(tm_dedup_open(&b, &p, dir_b, &err) == 0, "%s", err.msg);
  tm_dedup_worker *w = b ? tm_dedup_worker_new(b) : NULL;
  if (!a || !b || !w) goto out;
  char **docs = malloc(N * sizeof *docs), **ids = malloc(N * sizeof *ids);
  char *plain = calloc(N, 1); /* docs[i] made of make_doc's words */
  for (int i = 0; i < N; i++) {
    uint64_t r = rnd() % 100;
    if (i > 0 && r < 15) { /* same batch, mostly */
      int src = i - 1 - (int)(rnd() % (i < 5 ? (uint64_t)i : 5));
      docs[i] = strdup(docs[src]);
      plain[i] = plain[src];
    }
    else if (i > 0 && r < 30) { /* edit() needs make_doc's 5-byte words */
      int src = (int)(rnd() % (uint64_t)i);
      while (src > 0 && !plain[src]) src--;
      docs[i] = plain[src] ? edit(docs[src], 40) : make_doc(30);
      plain[i] = 1;
    }
    else if (i > 0 && r < 35) {
      int src = (int)(rnd() % (uint64_t)i);
      docs[i] = strdup(docs[src]);
      plain[i] = plain[src];
    }
    else if (r < 38) docs[i] = strdup(r % 2 ? " ...! " : "?");
    else if (r < 42) {
      docs[i] = malloc(3 * 60 + 1);
      for (int k = 0; k < 60; k++) { /* CJK: a few thousand ideographs */
        uint32_t cp = 0x4E00 + (k < 50 && i % 3 ? (uint32_t)k * 7 : (uint32_t)(rnd() % 3000));
        docs[i][3 * k] = (char)(0xE0 | (cp >> 12));
        docs[i][3 * k + 1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        docs[i][3 * k + 2] = (char)(0x80 | (cp & 0x3F));
      }
      docs[i][180] = 0;
    } else {
      docs[i] = make_doc(20 + (int)(rnd() % 60));
      plain[i] = 1;
    }
    ids[i] = malloc(16);
    snprintf(ids[i], 16, "x%d", i);
  }
  uint32_t *sigs = malloc((size_t)N * 112 * sizeof *sigs);
  tm_dedup_prepared *pr = malloc(N * sizeof *pr);
  tm_dedup_verdict *vb = malloc(N * sizeof *vb);
  size_t *lens = malloc(N * sizeof *lens);
  int same = 1, dups = 0, near = 0;
  size_t i = 0;
  for (int s = 0; i < N; s++) {
    size_t n = sizes[s % (sizeof sizes / sizeof sizes[0])];
    if (n > N - i) n = N - i;
    for (size_t k = i; k < i + n; k++) {
      lens[k] = strlen(ids[k]);
      CHECK(tm_dedup_prepare(w, docs[k], strlen(docs[k]), &pr[k], sigs + 112 * k, &err) == 0);
    }
    size_t done = 0;
    CHECKF(tm_dedup_commit_batch(b, n, (const char *const *)ids + i, lens + i, pr + i, vb + i,
                                 &done, &err) == 0 && done == n, "%s", err.msg);
    for (size_t k = i; k < i + n; k++) { /* duplicate_of is valid until the next call */
      tm_dedup_verdict va;
      if (process(a, ids[k], docs[k], &va) < 0) same = 0;
      if (va.kind != vb[k].kind || va.similarity != vb[k].similarity ||
          !va.duplicate_of != !vb[k].duplicate_of ||
          (va.duplicate_of && strcmp(va.duplicate_of, vb[k].duplicate_of))) {
        if (same) fprintf(stderr, "batch: document %zu: %s/%s vs %s/%s\n", k,
                          tm_dedup_kind_name(va.kind), va.duplicate_of ? va.duplicate_of : "-",
                          tm_dedup_kind_name(vb[k].kind),
                          vb[k].duplicate_of ? vb[k].duplicate_of : "-");
        same = 0;
      }
      dups += va.kind != TM_DEDUP_UNIQUE;
      near += va.kind == TM_DEDUP_NEAR;
    }
    i += n;
  }
  CHECK(same);
  CHECKF(dups > 600 && near > 200, "dups %d near %d", dups, near); /* the stream tests something */
  tm_dedup_stats sa, sb;
  tm_dedup_get_stats(a, &sa);
  tm_dedup_get_stats(b, &sb);
  CHECK(sa.docs_in == N && sb.docs_in == N && sa.kept == sb.kept &&
        sa.exact_dups == sb.exact_dups && sa.near_dups == sb.near_dups &&
        sa.cjk_docs == sb.cjk_docs && sa.no_shingles == sb.no_shingles);
  CHECKF(sb.index.evicted > 0 && sa.index.evicted == sb.index.evicted &&
         sa.index.records == sb.index.records, "evicted %llu / %llu",
         (unsigned long long)sa.index.evicted, (unsigned long long)sb.index.evicted);
  /* an empty batch is a no-op */
  size_t done = 1;
  CHECK(tm_dedup_commit_batch(b, 0, NULL, NULL, NULL, NULL, &done, &err) == 0 && done == 0);
  for (int k = 0; k < N; k++) free(docs[k]), free(ids[k]);
  free(docs), free(ids), free(plain), free(sigs), free(pr), free(vb), free(lens);
out:
  tm_dedup_worker_free(w);
  tm_dedup_close(a);
  tm_dedup_close(b);
  rm_index();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_b);
  if (system(cmd) != 0) fprintf(stderr, "rm failed\n");
}

/* kill -9 at every write of a checkpoint: reopening gives either the old
 * state or the new one, whole. */
static void test_crash(void) {
  const char *points[] = {"write:1", "write:2", "fsync:1", "fsync:2", "open:1", "write:3",
                          "fsync:3", "rename:1", "fsyncdir:1"};
  enum { OLD = 500, NEW = 800 };
  char **docs = malloc(NEW * sizeof *docs);
  for (int i = 0; i < NEW; i++) docs[i] = make_doc(30);
  for (size_t c = 0; c < sizeof points / sizeof points[0]; c++) {
    rm_index();
    tm_dedup_params p;
    tm_dedup_params_default(&p);
    tm_error err;
    tm_dedup_verdict v;
    char id[32];
    tm_dedup *d = open_stage(&p, &err);
    if (!d) {
      CHECKF(0, "%s", err.msg);
      break;
    }
    for (int i = 0; i < OLD; i++) {
      snprintf(id, sizeof id, "d%d", i);
      process(d, id, docs[i], &v);
    }
    CHECK(tm_dedup_checkpoint(d, 1, &err) == 0);
    tm_dedup_close(d);
    pid_t pid = fork();
    if (pid == 0) {
      char plan[64];
      snprintf(plan, sizeof plan, "dedup_index:%s:CRASH", points[c]);
      setenv("TOKENMILL_FAULT", plan, 1);
      tm_io_fault_reset();
      d = open_stage(&p, &err);
      for (int i = OLD; d && i < NEW; i++) {
        snprintf(id, sizeof id, "d%d", i);
        process(d, id, docs[i], &v);
      }
      if (d) tm_dedup_checkpoint(d, 2, &err);
      _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    int crashed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    d = open_stage(&p, &err);
    CHECKF(d != NULL, "after crash at %s: %s", points[c], err.msg);
    if (!d) continue;
    uint64_t token = tm_dedup_committed_token(d);
    tm_dedup_stats st;
    tm_dedup_get_stats(d, &st);
    uint64_t want = token == 2 ? NEW : OLD;
    CHECKF((token == 1 || token == 2) && st.index.records == want,
           "crash at %s (crashed %d): token %llu records %llu", points[c], crashed,
           (unsigned long long)token, (unsigned long long)st.index.records);
    /* every committed document is found with its own id */
    int found = 1;
    for (uint64_t i = 0; i < want; i++) {
      char want_id[32];
      snprintf(id, sizeof id, "again%llu", (unsigned long long)i);
      snprintf(want_id, sizeof want_id, "d%llu", (unsigned long long)i);
      found &= process(d, id, docs[i], &v) == 0 && v.kind == TM_DEDUP_EXACT &&
               !strcmp(v.duplicate_of, want_id);
    }
    CHECKF(found, "crash at %s", points[c]);
    if (c == 0) CHECKF(crashed && token == 1, "the first write must crash before commit");
    tm_dedup_close(d);
  }
  for (int i = 0; i < NEW; i++) free(docs[i]);
  free(docs);
  rm_index();
}

/* Line-level dedup: repeated boilerplate lines go, the counts persist with
 * the checkpoint, a damaged line table is reported. */
static void test_lines(void) {
  rm_index();
  tm_dedup_params p;
  tm_dedup_params_default(&p);
  p.line_dedup = 1;
  p.line_max_repeats = 2;
  tm_error err;
  tm_dedup *d = open_stage(&p, &err);
  CHECKF(d != NULL, "%s", err.msg);
  if (!d) return;
  const char *head = "Skip to main content\n", *foot = "\nAll rights reserved by Example Inc.";
  char text[4096], id[16];
  tm_dedup_verdict v;
  for (int i = 0; i < 4; i++) {
    char *body = make_doc(40);
    snprintf(text, sizeof text, "%s%s%s", head, body, foot);
    snprintf(id, sizeof id, "l%d", i);
    CHECK(process(d, id, text, &v) == 0 && v.kind == TM_DEDUP_UNIQUE);
    if (i < 2) CHECK(v.lines_removed == 0 && v.len == strlen(text));
    else CHECKF(v.lines_removed == 2 && !strcmp(v.text, body) && v.len == strlen(body),
                "doc %d: removed %zu text '%.40s'", i, v.lines_removed, v.text);
    free(body);
  }
  CHECK(process(d, "only", "Skip to main content\n  All rights reserved by Example Inc.  \n", &v) == 0);
  CHECK(v.kind == TM_DEDUP_LINES && v.duplicate_of == NULL);
  /* short lines are never removed */
  for (int i = 0; i < 4; i++) {
    char *body = make_doc(40);
    snprintf(text, sizeof text, "Hi!\n%s", body);
    snprintf(id, sizeof id, "s%d", i);
    CHECK(process(d, id, text, &v) == 0 && v.kind == TM_DEDUP_UNIQUE && v.lines_removed == 0);
    free(body);
  }
  CHECK(tm_dedup_checkpoint(d, 5, &err) == 0);
  CHECK(tm_dedup_checkpoint(d, 6, &err) == 0); /* generation 2 replaces 1 */
  tm_dedup_close(d);
  char path[512];
  snprintf(path, sizeof path, "%s/lines.1", dir);
  CHECK(access(path, F_OK) != 0);
  d = open_stage(&p, &err);
  CHECKF(d != NULL, "%s", err.msg);
  if (d) { /* the counts came back: the header goes at once */
    char *body = make_doc(40);
    snprintf(text, sizeof text, "%s%s", head, body);
    CHECK(process(d, "after", text, &v) == 0 && v.lines_removed == 1 && !strcmp(v.text, body));
    free(body);
    tm_dedup_close(d);
  }
  corrupt_byte("lines.2", 100);
  d = open_stage(&p, &err);
  CHECKF(!d && err.code == TM_ECORRUPT && strstr(err.msg, "lines.2"), "%s", err.msg);
  rm_index();
}

int main(void) {
  snprintf(dir, sizeof dir, "%s/tm_test_dedup_%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
           (int)getpid());
  rm_index();
  test_verdicts();
  test_persistence();
  test_corruption();
  test_budget();
  test_batch();
  test_exact_behind_long_band();
  test_exact_table_growth();
  test_crash();
  test_lines();
  rm_index();
  return tm_test_finish("test_dedup_index");
}
