/* test_train_units.c - optimizer, schedules, batch sources, checkpoints, and
 * a tiny model overfitting one batch. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adamw.h"
#include "batch_source.h"
#include "checkpoint.h"
#include "gpt.h"
#include "rng.h"
#include "schedule.h"
#include "threads.h"
#include "tm_test.h"

static char tmpdir[256];

static void test_schedule(void) {
  tm_schedule s = {.kind = TM_SCHED_COSINE, .lr = 1.0, .final_frac = 0.1, .decay_frac = 0.2,
                   .warmup = 10, .total = 110};
  tm_error err = {0};
  CHECK(tm_schedule_check(&s, &err) == 0);
  CHECK(fabs(tm_schedule_lr(&s, 0) - 0.1) < 1e-12);   /* (0+1)/10 */
  CHECK(fabs(tm_schedule_lr(&s, 9) - 1.0) < 1e-12);   /* end of warmup */
  CHECK(fabs(tm_schedule_lr(&s, 10) - 1.0) < 1e-12);  /* cosine starts at the peak */
  CHECK(fabs(tm_schedule_lr(&s, 60) - 0.55) < 1e-12); /* halfway: (1 + 0.1)/2 */
  CHECK(fabs(tm_schedule_lr(&s, 110) - 0.1) < 1e-12);
  CHECK(fabs(tm_schedule_lr(&s, 500) - 0.1) < 1e-12); /* past the end: final */
  s.kind = TM_SCHED_LINEAR;
  CHECK(fabs(tm_schedule_lr(&s, 60) - 0.55) < 1e-12);
  s.kind = TM_SCHED_CONSTANT;
  CHECK(tm_schedule_lr(&s, 100) == 1.0);
  s.kind = TM_SCHED_WSD; /* stable until 80% of the 100 post-warmup steps */
  CHECK(tm_schedule_lr(&s, 89) == 1.0);
  CHECK(fabs(tm_schedule_lr(&s, 100) - 0.55) < 1e-12); /* halfway through the decay */
  CHECK(fabs(tm_schedule_lr(&s, 110) - 0.1) < 1e-12);
  tm_sched_kind k;
  CHECK(tm_schedule_parse("wsd", &k, &err) == 0 && k == TM_SCHED_WSD);
  CHECK(tm_schedule_parse("exp", &k, &err) == -TM_EINVAL);
  s.lr = -1;
  CHECK(tm_schedule_check(&s, &err) == -TM_EINVAL);
}

static void test_adamw(void) {
  tm_adamw o;
  tm_error err = {0};
  CHECK(tm_adamw_init(&o, 4, 0.9f, 0.99f, 1e-8f, 0.5f, &err) == 0);
  CHECK(tm_adamw_set_decay(&o, 2, 4, &err) == 0);
  float p[4] = {1, 1, 1, 1}, g[4] = {0.5f, -2.0f, 0.5f, 0.0f};
  tm_adamw_step(&o, p, g, 0.1f, 1.0f);
  /* step 1: m/(1-b1) = g, v/(1-b2) = g^2, update = sign(g) (eps aside) */
  CHECK(fabsf(p[0] - 0.9f) < 1e-6f);
  CHECK(fabsf(p[1] - 1.1f) < 1e-6f);
  CHECK(fabsf(p[2] - (1.0f - 0.1f * (1.0f + 0.5f))) < 1e-6f); /* decayed range */
  CHECK(fabsf(p[3] - (1.0f - 0.1f * 0.5f)) < 1e-6f);           /* zero grad: decay only */
  /* the reference formula for step 2 */
  float m0 = 0.1f * 0.5f, v0 = 0.01f * 0.25f;
  float m1 = 0.9f * m0 + 0.1f * 0.5f, v1 = 0.99f * v0 + 0.01f * 0.25f;
  float want = p[0] - 0.1f * ((m1 / (1 - 0.81f)) / (sqrtf(v1 / (1 - 0.9801f)) + 1e-8f));
  tm_adamw_step(&o, p, g, 0.1f, 1.0f);
  CHECK(fabsf(p[0] - want) < 1e-6f);
  CHECK(o.t == 2 && o.m == o.state && o.v == o.state + 4);
  tm_adamw_free(&o);
  /* global norm and clipping */
  float gg[3] = {3, 4, 0};
  CHECK(fabs(tm_grad_norm(gg, 3) - 5.0) < 1e-12);
  CHECK(fabsf(tm_clip_scale(5.0, 1.0) - 0.2f) < 1e-7f);
  CHECK(tm_clip_scale(0.5, 1.0) == 1.0f && tm_clip_scale(5.0, 0.0) == 1.0f);
}

static void write_tokens(const char *path, const uint16_t *t, size_t n) {
  FILE *f = fopen(path, "wb");
  fwrite(t, 2, n, f);
  fclose(f);
}

static void test_file_source(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/tok.u16", tmpdir);
  uint16_t t[1 + 4 * 10];
  for (int i = 0; i < 41; i++) t[i] = (uint16_t)i;
  write_tokens(path, t, 41); /* 10 windows of 4+1 */
  tm_error err = {0};
  tm_batch_source *s;
  CHECK(tm_batch_source_file(&s, path, 2, 4, 64, 7, 0, &err) == 0);
  tm_batch b;
  CHECK(tm_batch_source_next(s, &b, &err) == 0);
  CHECK(b.inputs[0] == 0 && b.targets[0] == 1 && b.inputs[4] == 4 && b.targets[7] == 8);
  CHECK(tm_batch_source_batches_per_pass(s) == 5);
  tm_batch_source_free(s);
  /* shuffled: a pass visits every window once; a cursor reproduces the rest */
  CHECK(tm_batch_source_file(&s, path, 2, 4, 64, 7, 1, &err) == 0);
  int seen[10] = {0};
  tm_batch_cursor cur = {0};
  int32_t after[3][8];
  for (int i = 0; i < 8; i++) {
    CHECK(tm_batch_source_next(s, &b, &err) == 0);
    if (i < 5)
      for (int r = 0; r < 2; r++) seen[b.inputs[r * 4] / 4]++;
    if (i == 4) cur = b.cursor;
    if (i >= 5) memcpy(after[i - 5], b.inputs, sizeof after[0]);
  }
  int all_once = 1;
  for (int i = 0; i < 10; i++) all_once &= seen[i] == 1;
  CHECK(all_once);
  CHECK(cur.pass == 0 && cur.window == 10);
  tm_batch_source_free(s);
  CHECK(tm_batch_source_file(&s, path, 2, 4, 64, 7, 1, &err) == 0);
  CHECK(tm_batch_source_seek(s, &cur, &err) == 0);
  for (int i = 0; i < 3; i++) {
    CHECK(tm_batch_source_next(s, &b, &err) == 0);
    CHECK(memcmp(b.inputs, after[i], sizeof after[0]) == 0);
  }
  tm_batch_source_free(s);
  /* an id outside the vocabulary is reported with its byte offset */
  t[13] = 999;
  write_tokens(path, t, 41);
  CHECK(tm_batch_source_file(&s, path, 2, 4, 64, 7, 0, &err) == 0);
  CHECK(tm_batch_source_next(s, &b, &err) == 0);
  CHECK(tm_batch_source_next(s, &b, &err) == -TM_EFORMAT);
  CHECKF(strstr(err.msg, "byte offset 26") != NULL, "%s", err.msg);
  tm_batch_source_free(s);
  /* too short for one batch */
  write_tokens(path, t, 6);
  CHECK(tm_batch_source_file(&s, path, 2, 4, 64, 7, 0, &err) == -TM_EFORMAT);
  CHECK(tm_batch_source_file(&s, "/nonexistent/x", 2, 4, 64, 7, 0, &err) == -TM_EIO);
}

static void test_checkpoint(void) {
  tm_gpt_config cfg = {.max_seq_len = 8, .vocab_size = 17, .n_layer = 1, .n_head = 2,
                       .d_model = 8};
  size_t n = tm_gpt_num_params(&cfg);
  float *p = malloc(n * 4), *st = malloc(2 * n * 4), *p2 = malloc(n * 4), *st2 = malloc(2 * n * 4);
  tm_rng r;
  tm_rng_seed(&r, 3);
  for (size_t i = 0; i < n; i++) p[i] = tm_rng_normal(&r);
  for (size_t i = 0; i < 2 * n; i++) st[i] = tm_rng_uniform(&r);
  tm_ckpt_meta m = {.cfg = cfg, .step = 42, .adam_t = 42, .rng = r,
                    .cursor = {1, 2, 3, 4}, .has_cursor = 1, .tokenizer_hash = 0xabcdef,
                    .best_val = 1.5, .last_val = 1.7, .best_step = 40, .evals_since_best = 1};
  char path[512];
  tm_ckpt_path(path, sizeof path, tmpdir, 42);
  tm_error err = {0};
  CHECKF(tm_ckpt_save(path, &m, p, st, &err) == 0, "%s", err.msg);
  tm_ckpt_meta m2;
  CHECKF(tm_ckpt_load(path, &m2, p2, st2, &err) == 0, "%s", err.msg);
  CHECK(memcmp(p, p2, n * 4) == 0 && memcmp(st, st2, 2 * n * 4) == 0);
  CHECK(m2.step == 42 && m2.cursor.window == 4 && m2.rng.s[2] == r.s[2] && m2.best_val == 1.5 &&
        m2.best_step == 40 && m2.tokenizer_hash == 0xabcdef && m2.cfg.vocab_size == 17);
  /* newest / prune */
  char p50[512], latest[512];
  tm_ckpt_path(p50, sizeof p50, tmpdir, 50);
  m.step = 50;
  CHECK(tm_ckpt_save(p50, &m, p, st, &err) == 0);
  CHECK(tm_ckpt_latest(tmpdir, latest, sizeof latest, &err) == 1 && !strcmp(latest, p50));
  CHECK(tm_ckpt_prune(tmpdir, 1, &err) == 0);
  CHECK(access(path, F_OK) != 0 && access(p50, F_OK) == 0);
  /* a flipped payload byte is a checksum error, a truncated file a format error */
  FILE *f = fopen(p50, "r+b");
  fseek(f, 600, SEEK_SET);
  int c = fgetc(f);
  fseek(f, 600, SEEK_SET);
  fputc(c ^ 1, f);
  fclose(f);
  CHECK(tm_ckpt_load(p50, &m2, p2, st2, &err) == -TM_ECORRUPT);
  CHECK(truncate(p50, 700) == 0);
  CHECK(tm_ckpt_load(p50, &m2, p2, st2, &err) == -TM_EFORMAT);
  CHECK(strstr(err.msg, p50) != NULL);
  unlink(p50);
  free(p);
  free(st);
  free(p2);
  free(st2);
}

/* A tiny model memorises one batch: the loss goes to ~0. */
static void test_overfit(void) {
  tm_gpt_config cfg = {.max_seq_len = 16, .vocab_size = 32, .n_layer = 2, .n_head = 2,
                       .d_model = 32};
  tm_error err = {0};
  tm_gpt *m = tm_gpt_create(&cfg, 2, 1, &err);
  CHECK(m != NULL);
  if (!m) return;
  tm_gpt_init(m, 1);
  tm_rng r;
  tm_rng_seed(&r, 9);
  int32_t tok[32], tgt[32];
  for (int i = 0; i < 32; i++) tok[i] = (int32_t)tm_rng_below(&r, 32);
  for (int i = 0; i < 32; i++) tgt[i] = (int32_t)tm_rng_below(&r, 32);
  tm_adamw o;
  size_t n = tm_gpt_num_params(&cfg);
  CHECK(tm_adamw_init(&o, n, 0.9f, 0.99f, 1e-8f, 0.0f, &err) == 0);
  float first = 0, loss = 0;
  for (int s = 0; s < 300; s++) {
    tm_gpt_zero_grad(m);
    CHECK(tm_gpt_forward(m, tok, tgt, 2, 16, &loss, &err) == 0);
    CHECK(tm_gpt_backward(m, 1.0f, &err) == 0);
    if (s == 0) first = loss;
    tm_adamw_step(&o, tm_gpt_params_flat(m), tm_gpt_grads_flat(m), 1e-2f,
                  tm_clip_scale(tm_grad_norm(tm_gpt_grads_flat(m), n), 1.0));
  }
  CHECKF(first > 3.0f && loss < 0.05f, "overfit: loss %.4f -> %.4f", first, loss);
  tm_adamw_free(&o);
  tm_gpt_free(m);
}

int main(void) {
  /* one thread: these tests must not crawl on a loaded machine (every
   * kernel call is a parallel region); determinism across thread counts is
   * by construction (fixed reduction chunks) */
  tm_threads_set(1);
  snprintf(tmpdir, sizeof tmpdir, "/tmp/tm_train_units.XXXXXX");
  if (!mkdtemp(tmpdir)) return 1;
  test_schedule();
  test_adamw();
  test_file_source();
  test_checkpoint();
  test_overfit();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  return tm_test_finish("test_train_units");
}
