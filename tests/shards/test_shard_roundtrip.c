/* test_shard_roundtrip.c - random documents written and read back.
 *
 * For token widths 2 and 4 and many frame sizes: documents of 0..N tokens
 * (one of ~10^6 tokens) round-trip; random access to every document equals
 * the sequential read; arbitrary token ranges equal the written stream; the
 * verifier accepts the shard and reports the right counts; the manifest
 * records it and reloads identically. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "shard.h"
#include "tm_test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void) { return tm_test_xorshift(&rng); }

typedef struct {
  uint32_t *tok;
  size_t n;
  uint64_t id;
  const char *src;
} doc;

static void run_case(const char *dir, uint32_t vocab, size_t frame_bytes, int ndocs, size_t big) {
  static const char *const sources[] = {"web", "books", "social"};
  char path[512];
  snprintf(path, sizeof path, "%s/v%u-f%zu.tms", dir, vocab, frame_bytes);
  tm_shard_params p;
  tm_shard_params_default(&p);
  p.vocab_size = vocab;
  p.eot_id = vocab - 1;
  p.tokenizer_hash = 0x1234abcdull;
  p.frame_bytes = frame_bytes;
  tm_error err = {0};
  tm_shard_writer *w;
  CHECK(tm_shard_writer_open(&w, path, &p, &err) == 0);
  doc *docs = calloc((size_t)ndocs, sizeof *docs);
  uint64_t total = 0;
  for (int i = 0; i < ndocs; i++) {
    size_t n = (i == ndocs / 2 && big) ? big : next_rand() % 300;
    if (i % 17 == 0) n = 0; /* empty documents are legal */
    docs[i].tok = malloc((n ? n : 1) * sizeof(uint32_t));
    docs[i].n = n;
    for (size_t k = 0; k < n; k++) docs[i].tok[k] = (uint32_t)(next_rand() % (vocab - 1));
    docs[i].id = next_rand();
    docs[i].src = sources[i % 3];
    CHECK(tm_shard_writer_append(w, docs[i].tok, n, docs[i].id, docs[i].src, &err) == 0);
    total += n + 1;
  }
  /* a token outside the vocabulary is refused, the writer stays usable */
  uint32_t bad = vocab;
  CHECK(tm_shard_writer_append(w, &bad, 1, 1, "web", &err) == -TM_EINVAL);
  CHECK(tm_shard_writer_tokens(w) == total);
  tm_shard_info info;
  struct stat st;
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  CHECK(stat(tmp, &st) == 0 && stat(path, &st) != 0); /* invisible until sealed */
  CHECK(tm_shard_writer_close(w, &info, &err) == 0);
  CHECK(stat(tmp, &st) != 0 && stat(path, &st) == 0);
  CHECK(info.n_docs == (uint64_t)ndocs && info.n_tokens == total);
  CHECK(info.token_width == (vocab <= 65536 ? 2u : 4u));
  CHECK((uint64_t)st.st_size == info.file_bytes);

  tm_shard_reader *r;
  CHECKF(tm_shard_open(&r, path, &err) == 0, "%s", err.msg);
  if (!r) return;
  const tm_shard_info *ri = tm_shard_reader_info(r);
  CHECK(ri->n_docs == (uint64_t)ndocs && ri->n_tokens == total && ri->vocab_size == vocab);
  CHECK(ri->tokenizer_hash == 0x1234abcdull && ri->n_sources == 3);
  /* sequential */
  int seq_ok = 1;
  for (int i = 0; i < ndocs; i++) {
    const uint32_t *t;
    size_t n;
    tm_shard_doc meta;
    if (tm_shard_read_doc(r, (uint64_t)i, &t, &n, &err) < 0 || n != docs[i].n ||
        (n && memcmp(t, docs[i].tok, n * 4)) || tm_shard_doc_meta(r, (uint64_t)i, &meta, &err) < 0 ||
        meta.doc_id != docs[i].id || strcmp(ri->source_names[meta.source], docs[i].src))
      seq_ok = 0;
  }
  CHECKF(seq_ok, "sequential read, vocab %u frame %zu", vocab, frame_bytes);
  /* random access, in random order */
  int rnd_ok = 1;
  for (int k = 0; k < ndocs; k++) {
    int i = (int)(next_rand() % (uint64_t)ndocs);
    const uint32_t *t;
    size_t n;
    if (tm_shard_read_doc(r, (uint64_t)i, &t, &n, &err) < 0 || n != docs[i].n ||
        (n && memcmp(t, docs[i].tok, n * 4)))
      rnd_ok = 0;
  }
  CHECKF(rnd_ok, "random access, vocab %u frame %zu", vocab, frame_bytes);
  /* the stream with separators, by ranges */
  uint32_t *stream = malloc(total * 4), *got = malloc(total * 4);
  size_t o = 0;
  for (int i = 0; i < ndocs; i++) {
    memcpy(stream + o, docs[i].tok, docs[i].n * 4);
    o += docs[i].n;
    stream[o++] = vocab - 1;
  }
  int rng_ok = 1;
  for (int k = 0; k < 50; k++) {
    uint64_t a = next_rand() % total, b = a + next_rand() % (total - a + 1);
    if (tm_shard_read_range(r, a, b, got, &err) < 0 || memcmp(got, stream + a, (b - a) * 4))
      rng_ok = 0;
  }
  CHECK(tm_shard_read_range(r, 0, total, got, &err) == 0 && !memcmp(got, stream, total * 4));
  CHECK(tm_shard_read_range(r, 0, total + 1, got, &err) == -TM_EINVAL);
  /* raw reads in the shard's width: whole frames take the direct path */
  unsigned tw = tm_shard_reader_info(r)->token_width;
  uint8_t *rawbuf = malloc(total * 4);
  int raw_ok = 1;
  for (int k = 0; k < 3; k++) {
    uint64_t a = k == 0 ? 0 : next_rand() % total, b = k == 0 ? total : a + next_rand() % (total - a + 1);
    if (tm_shard_read_range_raw(r, a, b, rawbuf, &err) < 0) raw_ok = 0;
    for (uint64_t i = a; i < b && raw_ok; i++) {
      uint32_t v = tw == 2 ? ((uint16_t *)(void *)rawbuf)[i - a] : ((uint32_t *)(void *)rawbuf)[i - a];
      if (v != stream[i]) raw_ok = 0;
    }
  }
  CHECKF(raw_ok, "raw ranges, vocab %u frame %zu", vocab, frame_bytes);
  free(rawbuf);
  CHECKF(rng_ok, "ranges, vocab %u frame %zu", vocab, frame_bytes);
  free(stream);
  free(got);
  tm_shard_close(r);

  tm_shard_info vinfo;
  CHECKF(tm_shard_verify(path, &vinfo, &err) == 0, "%s", err.msg);
  CHECK(vinfo.file_hash == info.file_hash && vinfo.n_docs == info.n_docs);
  for (uint32_t s = 0; s < vinfo.n_sources; s++)
    CHECK(vinfo.source_tokens[s] == info.source_tokens[s] && vinfo.source_docs[s] == info.source_docs[s]);

  /* manifest */
  tm_manifest m;
  CHECK(tm_manifest_load(&m, dir, 1, &err) == 0);
  uint64_t gen = m.generation;
  const char *base = strrchr(path, '/') + 1;
  if (m.n_shards && m.tokenizer_hash != info.tokenizer_hash) m.tokenizer_hash = info.tokenizer_hash;
  CHECK(tm_manifest_add(&m, base, &info, &err) == 0);
  CHECK(tm_manifest_add(&m, base, &info, &err) == -TM_EEXIST);
  CHECK(tm_manifest_save(&m, dir, &err) == 0);
  tm_manifest_free(&m);
  CHECK(tm_manifest_load(&m, dir, 0, &err) == 0);
  CHECK(m.generation == gen + 1);
  long idx = tm_manifest_find(&m, base);
  CHECK(idx >= 0);
  if (idx >= 0) {
    tm_manifest_shard *s = &m.shards[idx];
    CHECK(s->documents == info.n_docs && s->tokens == info.n_tokens && s->bytes == info.file_bytes &&
          s->file_hash == info.file_hash && s->n_sources == info.n_sources);
  }
  tm_manifest_free(&m);
  for (int i = 0; i < ndocs; i++) free(docs[i].tok);
  free(docs);
}

int main(void) {
  char dir[] = "/tmp/tm_test_shard_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  tm_error err;
  tm_manifest m;
  CHECK(tm_manifest_load(&m, dir, 0, &err) == -TM_ENOTFOUND);
  size_t frames[] = {2, 6, 100, 4096, 65536, 1u << 20};
  for (size_t f = 0; f < sizeof frames / sizeof *frames; f++) {
    run_case(dir, 50257, frames[f], 200, 0);
    run_case(dir, 100277, frames[f], 200, 0);
  }
  /* a document of a million tokens, both widths */
  run_case(dir, 65536, 1u << 18, 20, 1000000);
  run_case(dir, 200000, 1u << 18, 20, 1000000);
  /* an empty shard */
  char path[600];
  snprintf(path, sizeof path, "%s/empty.tms", dir);
  tm_shard_params p;
  tm_shard_params_default(&p);
  p.vocab_size = 257;
  p.eot_id = 256;
  tm_shard_writer *w;
  CHECK(tm_shard_writer_open(&w, path, &p, &err) == 0);
  CHECK(tm_shard_writer_close(w, NULL, &err) == 0);
  CHECKF(tm_shard_verify(path, NULL, &err) == 0, "%s", err.msg);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return tm_test_finish("test_shard_roundtrip");
}
