/* test_alloc_fail.c - allocation failure at every allocation of the durable
 * paths and the parsers, SQLite style.
 *
 * The test is linked with -Wl,--wrap=malloc,calloc,realloc,strdup,strndup:
 * every allocation made by tokenmill's own code (the static libraries linked
 * into this program; not jansson's or zstd's internal ones) goes through the
 * wrappers below. For each scenario and n = 1, 2, 3, ... the n-th allocation
 * fails (once; later ones succeed, as when memory comes back), until a run
 * of the scenario makes fewer than n allocations. In every run:
 *   - no crash, no leak (ASan's leak check at exit), no sanitizer report;
 *   - a failure is returned as a negative code with a message;
 *   - the published state stays valid: a shard path holds nothing or a shard
 *     that verifies; manifest.json loads, as before or after; a dedup index
 *     reopens; no temporary file is left behind by an aborted publish;
 *   - the same scenario without the fault then succeeds (a rerun completes).
 */
#include <dirent.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config.h"
#include "dedup.h"
#include "log.h"
#include "manifest.h"
#include "reader.h"
#include "shard.h"
#include "shard_dir.h"
#include "tm_test.h"
#include "tokenizer.h"

/* ---- the wrappers --------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static atomic_long fail_at; /* 0: never */
static atomic_long n_allocs;
static atomic_int hit;

static int should_fail(void) {
  long f = atomic_load(&fail_at);
  if (!f) return 0;
  if (atomic_fetch_add(&n_allocs, 1) + 1 == f) {
    atomic_store(&hit, 1);
    return 1;
  }
  return 0;
}
void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { return should_fail() ? NULL : __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return should_fail() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return should_fail() ? NULL : __real_strndup(s, n); }

static void arm(long n) {
  atomic_store(&n_allocs, 0);
  atomic_store(&hit, 0);
  atomic_store(&fail_at, n);
}
static void disarm(void) { atomic_store(&fail_at, 0); }

/* ---- fixtures ------------------------------------------------------------- */

static char root[64];
static tm_tokenizer *tok;   /* made once, without faults */
static char *tok_json;
static size_t tok_json_len;

static void rm_rf(const char *path) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0) fprintf(stderr, "%s failed\n", cmd);
}

static int has_tmp_file(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  int found = 0;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".tmp")) found = 1;
  closedir(d);
  return found;
}

static const char *const texts[] = {
    "The harbor was quiet in the early morning and the boats waited for the tide.",
    "A second document about mountains, valleys and a river that runs to the sea.",
    "The harbor was quiet in the early morning and the boats waited for the tide.",
    "Numbers 123 456 and symbols #$% in a third, rather different text.",
    "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xe3\x80\x82 mixed text.",
};
#define N_TEXTS (sizeof texts / sizeof texts[0])

/* ---- scenarios: 0 on success, negative on a (reported) failure ----------- */

typedef int (*scenario_fn)(const char *dir, tm_error *err);

static int sc_shard_write(const char *dir, tm_error *err) {
  char path[256];
  snprintf(path, sizeof path, "%s/a.tms", dir);
  tm_shard_params p;
  tm_shard_params_default(&p);
  p.vocab_size = 300;
  p.eot_id = 0;
  p.tokenizer_hash = 42;
  p.frame_bytes = 256;
  tm_shard_writer *w;
  int rc = tm_shard_writer_open(&w, path, &p, err);
  if (rc < 0) return rc;
  uint32_t t[100];
  for (int d = 0; d < 12; d++) {
    for (int i = 0; i < 100; i++) t[i] = 1 + (uint32_t)(d * 7 + i * 13) % 299;
    rc = tm_shard_writer_append(w, t, 100, (uint64_t)d, d % 3 ? "web" : "books", err);
    if (rc < 0) {
      tm_shard_writer_abort(w);
      return rc;
    }
  }
  return tm_shard_writer_close(w, NULL, err);
}

static int sc_shard_read(const char *dir, tm_error *err) {
  char path[256];
  snprintf(path, sizeof path, "%s/../fixture.tms", dir);
  tm_shard_info info;
  int rc = tm_shard_verify(path, &info, err);
  if (rc < 0) return rc;
  tm_shard_reader *r;
  if ((rc = tm_shard_open(&r, path, err)) < 0) return rc;
  for (uint64_t i = 0; i < tm_shard_reader_info(r)->n_docs && rc == 0; i++) {
    const uint32_t *t;
    size_t n;
    rc = tm_shard_read_doc(r, i, &t, &n, err);
  }
  tm_shard_close(r);
  return rc;
}

static int sc_manifest(const char *dir, tm_error *err) {
  tm_manifest m;
  int rc = tm_manifest_load(&m, dir, 1, err);
  if (rc < 0) return rc;
  tm_shard_info info;
  memset(&info, 0, sizeof info);
  info.vocab_size = 300;
  info.n_docs = 3;
  info.n_tokens = 30;
  info.n_sources = 2;
  snprintf(info.source_names[0], sizeof info.source_names[0], "web");
  snprintf(info.source_names[1], sizeof info.source_names[1], "books");
  info.source_tokens[0] = 20, info.source_tokens[1] = 10;
  info.source_docs[0] = 2, info.source_docs[1] = 1;
  char name[32];
  snprintf(name, sizeof name, "s-%06zu.tms", m.n_shards);
  rc = tm_manifest_add(&m, name, &info, err);
  if (rc == 0) rc = tm_manifest_set_journal(&m, "{\"inputs\":[{\"path\":\"x\",\"events\":3}]}", err);
  if (rc == 0) rc = tm_manifest_save(&m, dir, err);
  tm_manifest_free(&m);
  return rc;
}

static int sc_shard_dir(const char *dir, tm_error *err) {
  tm_shard_dir_options o;
  memset(&o, 0, sizeof o);
  tm_shard_params_default(&o.params);
  o.params.vocab_size = 300;
  o.params.eot_id = 0;
  o.params.tokenizer_hash = 7;
  o.params.frame_bytes = 512;
  o.max_tokens = 400;
  tm_shard_dir *d;
  int rc = tm_shard_dir_open(&d, dir, &o, err);
  if (rc < 0) return rc;
  uint32_t t[90];
  for (int k = 0; k < 10 && rc == 0; k++) {
    for (int i = 0; i < 90; i++) t[i] = 1 + (uint32_t)(k * 31 + i) % 299;
    rc = tm_shard_dir_append(d, t, 90, (uint64_t)k, "web", err);
  }
  if (rc < 0) {
    tm_shard_dir_abort(d);
    return rc;
  }
  return tm_shard_dir_close(d, err);
}

static int sc_tokenizer(const char *dir, tm_error *err) {
  tm_tokenizer *t;
  int rc = tm_tokenizer_load_json(&t, tok_json, tok_json_len, "tokenizer.json", err);
  if (rc < 0) return rc;
  tm_encoder *enc = tm_encoder_new(t);
  if (!enc) {
    tm_tokenizer_free(t);
    return tm_err(err, TM_ENOMEM, "encoder: out of memory");
  }
  tm_ids ids = {0};
  for (size_t i = 0; i < N_TEXTS && rc == 0; i++)
    rc = tm_encoder_encode(enc, texts[i], strlen(texts[i]), 0, &ids, err);
  uint8_t *out = NULL;
  size_t len = 0, cap = 0;
  if (rc == 0) rc = tm_tokenizer_decode(t, ids.ids, ids.len, &out, &len, &cap, err);
  free(out);
  tm_ids_free(&ids);
  tm_encoder_free(enc);
  char path[256];
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  if (rc == 0) rc = tm_tokenizer_save(t, path, err);
  tm_tokenizer_free(t);
  return rc;
}

static int sc_reader(const char *dir, tm_error *err) {
  char path[256];
  snprintf(path, sizeof path, "%s/../input.jsonl", dir);
  tm_reader *r;
  int rc = tm_reader_open(&r, path, NULL, err);
  if (rc < 0) return rc;
  tm_document doc;
  tm_document_init(&doc);
  int got = 0, bad = 0;
  while ((rc = tm_reader_next(r, &doc, err)) != 0) {
    if (rc > 0) got++;
    else if (rc == -TM_ENOMEM) break;
    else bad++;
  }
  tm_document_free(&doc);
  tm_reader_close(r);
  if (rc < 0) return rc;
  /* without a fault: 5 documents and 1 malformed line */
  return got == 5 && bad == 1 ? 0 : tm_err(err, TM_ENOMEM, "%d documents, %d errors", got, bad);
}

static int sc_dedup(const char *dir, tm_error *err) {
  char idx[256];
  snprintf(idx, sizeof idx, "%s/dedup", dir);
  tm_dedup_params p;
  tm_dedup_params_default(&p);
  p.ram_budget = 64u << 20;
  tm_dedup *d;
  int rc = tm_dedup_open(&d, &p, idx, err);
  if (rc < 0) return rc;
  uint64_t token = tm_dedup_committed_token(d);
  for (size_t i = 0; i < N_TEXTS && rc == 0; i++) {
    char id[32];
    int n = snprintf(id, sizeof id, "doc-%zu-%llu", i, (unsigned long long)token);
    tm_dedup_verdict v;
    rc = tm_dedup_process(d, id, (size_t)n, texts[i], strlen(texts[i]), &v, err);
  }
  if (rc == 0) rc = tm_dedup_checkpoint(d, token + 1, err);
  tm_dedup_close(d);
  return rc;
}

static int sc_config(const char *dir, tm_error *err) {
  (void)dir;
  static const tm_config_key keys[] = {
      {"shard", "frame_size", TM_CFG_SIZE, "1M", "f"},
      {"src.*", "name", TM_CFG_STR, "x", "n"},
      {"a", "b", TM_CFG_INT, "1", "b"},
      {NULL, NULL, TM_CFG_STR, NULL, NULL}};
  const tm_config_key *const schemas[] = {keys};
  tm_config *c = tm_config_new(schemas, 1);
  if (!c) return tm_err(err, TM_ENOMEM, "config: out of memory");
  int rc = tm_config_load_string(c, "t.ini", "[shard]\nframe_size = 64k\n[src.web]\nname = web\n[src.books]\nname=b\n", err);
  if (rc == 0) rc = tm_config_set_arg(c, "a.b=5", err);
  if (rc == 0 && (tm_config_size(c, "shard", "frame_size") != 65536 || tm_config_int(c, "a", "b") != 5))
    rc = tm_err(err, TM_EINVAL, "config: wrong values");
  tm_config_free(c);
  return rc;
}

static int sc_checkpoint(const char *dir, tm_error *err) {
  tm_ckpt_meta meta;
  memset(&meta, 0, sizeof meta);
  meta.cfg = (tm_gpt_config){.max_seq_len = 16, .vocab_size = 64, .n_layer = 1, .n_head = 2, .d_model = 16};
  meta.step = 3;
  meta.flags = TM_CKPT_HAS_OPT;
  size_t n = tm_gpt_num_params(&meta.cfg);
  float *p = calloc(3 * n, sizeof *p);
  if (!p) return tm_err(err, TM_ENOMEM, "checkpoint: out of memory");
  for (size_t i = 0; i < 3 * n; i++) p[i] = (float)i * 0.001f;
  char path[256];
  int rc = 0;
  for (uint64_t step = 1; step <= 3 && rc == 0; step++) {
    meta.step = step;
    tm_ckpt_path(path, sizeof path, dir, step);
    rc = tm_ckpt_save(path, &meta, p, p + n, err);
  }
  if (rc == 0) rc = tm_ckpt_prune(dir, 2, err);
  if (rc == 0 && tm_ckpt_latest(dir, path, sizeof path, err) == 1) {
    tm_ckpt_meta m2;
    rc = tm_ckpt_load(path, &m2, p, p + n, err);
  }
  free(p);
  return rc;
}

/* ---- the validity checks after a run ------------------------------------- */

static void check_state(const char *name, const char *dir, long n) {
  char path[256];
  snprintf(path, sizeof path, "%s/a.tms", dir);
  tm_error e = {0};
  struct stat st;
  if (stat(path, &st) == 0) CHECKF(tm_shard_verify(path, NULL, &e) == 0, "%s n=%ld: %s", name, n, e.msg);
  tm_manifest m;
  if (tm_manifest_load(&m, dir, 1, &e) == 0) {
    for (size_t i = 0; i < m.n_shards; i++) {
      snprintf(path, sizeof path, "%.120s/%.120s", dir, m.shards[i].name);
      if (stat(path, &st) == 0) /* sc_manifest lists names it never writes */
        CHECKF(tm_shard_verify(path, NULL, &e) == 0, "%s n=%ld: %s", name, n, e.msg);
    }
    tm_manifest_free(&m);
  } else {
    CHECKF(0, "%s n=%ld: manifest does not load: %s", name, n, e.msg);
  }
  CHECKF(!has_tmp_file(dir), "%s n=%ld: a temporary file was left in %s", name, n, dir);
  /* every checkpoint present loads */
  for (uint64_t step = 1; step <= 3; step++) {
    tm_ckpt_path(path, sizeof path, dir, step);
    if (stat(path, &st) != 0) continue;
    tm_ckpt_meta m;
    int ok = tm_ckpt_read_meta(path, &m, &e) == 0;
    float *buf = ok ? malloc(3 * tm_gpt_num_params(&m.cfg) * sizeof *buf) : NULL;
    if (buf) ok = tm_ckpt_load(path, &m, buf, buf + tm_gpt_num_params(&m.cfg), &e) == 0;
    free(buf);
    CHECKF(ok, "%s n=%ld: checkpoint %s does not load: %s", name, n, path, e.msg);
  }
}

/* with_state: each run starts from a directory where the scenario already
 * ran once (an existing manifest, an index to reopen). */
static void run(const char *name, scenario_fn fn, int with_state) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/%s", root, name);
  long n, failures = 0;
  for (n = 1;; n++) {
    rm_rf(dir);
    mkdir(dir, 0755);
    if (with_state) {
      tm_error e0 = {0};
      CHECKF(fn(dir, &e0) == 0, "%s: setup: %s", name, e0.msg);
    }
    tm_error err = {0};
    arm(n);
    int rc = fn(dir, &err);
    disarm();
    int was_hit = atomic_load(&hit);
    if (rc < 0) {
      failures++;
      CHECKF(was_hit, "%s n=%ld: failed without an injected fault: %s", name, n, err.msg);
      CHECKF(err.msg[0] != 0, "%s n=%ld: failure %d without a message", name, n, rc);
    }
    check_state(name, dir, n);
    /* a rerun without the fault completes, from the state the failure left */
    tm_error e2 = {0};
    int rc2 = fn(dir, &e2);
    CHECKF(rc2 == 0, "%s n=%ld: rerun failed: %s", name, n, e2.msg);
    check_state(name, dir, n);
    if (!was_hit) break;
    if (n > 20000) {
      CHECKF(0, "%s: more than 20000 allocations", name);
      break;
    }
  }
  fflush(stdout);
  printf("%-12s %5ld allocations failed in turn, %5ld reported as errors\n", name, n - 1, failures);
}

int main(void) {
  tm_log_set_level(TM_LOG_WARN);
  /* tmpfs when there is one: thousands of publishes, each with fsyncs */
  snprintf(root, sizeof root, "/dev/shm/tm_allocfail.XXXXXX");
  if (!mkdtemp(root)) {
    snprintf(root, sizeof root, "/tmp/tm_allocfail.XXXXXX");
    if (!mkdtemp(root)) return 1;
  }
  tm_error err = {0};
  /* fixtures, without faults */
  CHECK(tm_tokenizer_new_bytelevel(&tok, TM_PRETOK_GPT2, &err) == 0);
  CHECK(tm_tokenizer_to_json(tok, &tok_json, &tok_json_len, &err) == 0);
  char path[256];
  snprintf(path, sizeof path, "%s/input.jsonl", root);
  FILE *f = fopen(path, "w");
  for (size_t i = 0; i < N_TEXTS; i++) fprintf(f, "{\"id\": \"d%zu\", \"text\": \"%s\", \"x\": [1, 2]}\n", i, texts[i]);
  fprintf(f, "{\"id\": broken\n");
  fclose(f);
  snprintf(path, sizeof path, "%s/fx", root);
  mkdir(path, 0755);
  CHECK(sc_shard_write(path, &err) == 0);
  char from[256], to[256];
  snprintf(from, sizeof from, "%s/fx/a.tms", root);
  snprintf(to, sizeof to, "%s/fixture.tms", root);
  CHECK(rename(from, to) == 0);

  run("shard_write", sc_shard_write, 0);
  run("shard_read", sc_shard_read, 0);
  run("manifest", sc_manifest, 1);
  run("shard_dir", sc_shard_dir, 0);
  run("tokenizer", sc_tokenizer, 0);
  run("reader", sc_reader, 0);
  run("dedup", sc_dedup, 1);
  run("config", sc_config, 0);
  run("checkpoint", sc_checkpoint, 0);

  free(tok_json);
  tm_tokenizer_free(tok);
  rm_rf(root);
  return tm_test_finish("test_alloc_fail");
}
