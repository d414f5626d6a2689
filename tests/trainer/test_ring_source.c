/* test_ring_source.c - the trainer's ring batch source against a real ring
 * (common/ring.h) filled in-process: order, input/target split, cursors,
 * the end of data, a bad token id, and a geometry mismatch in the loop. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "batch_source.h"
#include "ring.h"
#include "tm_test.h"

#define NB 2
#define NT 4

static void publish(tm_ring *r, int k, int bad) {
  tm_ring_slot slot;
  tm_error err = {0};
  CHECKF(tm_ring_reserve(r, &slot, NULL, 1000, &err) == 0, "%s", err.msg);
  uint16_t *tok = slot.tokens;
  for (int i = 0; i < NB * (NT + 1); i++) tok[i] = (uint16_t)(100 * k + i);
  if (bad) tok[3] = 999; /* >= vocab 300 */
  tm_ring_cursor c = {7, 0, 1, (uint64_t)(k + 1) * NB};
  CHECKF(tm_ring_publish(r, NB * (NT + 1), &c, &err) == 0, "%s", err.msg);
}

int main(void) {
  char name[64];
  snprintf(name, sizeof name, "tmtest_trainer_%d", (int)getpid());
  tm_ring_params p;
  tm_ring_params_for(&p, 300, NB, NT, 0, 0x1234);
  tm_ring *prod = NULL;
  tm_error err = {0};
  CHECKF(tm_ring_create(&prod, name, 0, &p, 0, &err) >= 0, "%s", err.msg);
  if (!prod) return tm_test_finish("test_ring_source");
  publish(prod, 0, 0);
  publish(prod, 1, 0);
  publish(prod, 2, 1);
  CHECK(tm_ring_finish(prod, &err) == 0);

  tm_batch_source *s = NULL;
  CHECKF(tm_batch_source_ring(&s, name, 0, NULL, 1000, &err) == 0, "%s", err.msg);
  if (s) {
    tm_batch_info in;
    tm_batch_source_info(s, &in);
    CHECK(in.B == NB && in.T == NT && in.vocab_size == 300 && in.tokenizer_hash == 0x1234);
    tm_batch b;
    for (int k = 0; k < 2; k++) {
      CHECKF(tm_batch_source_next(s, &b, &err) == 0, "%s", err.msg);
      /* window r holds tokens 100k + r*(NT+1) ... ; inputs are the first NT,
       * targets the last NT */
      CHECK(b.inputs[0] == 100 * k && b.targets[0] == 100 * k + 1);
      CHECK(b.inputs[NT] == 100 * k + NT + 1 && b.targets[2 * NT - 1] == 100 * k + 2 * (NT + 1) - 1);
      CHECK(b.cursor.seed == 7 && b.cursor.generation == 1 && b.cursor.window == (uint64_t)(k + 1) * NB);
    }
    int rc = tm_batch_source_next(s, &b, &err);
    CHECKF(rc == -TM_ECORRUPT || rc == -TM_EFORMAT, "bad id: rc %d %s", rc, err.msg);
    CHECK(strstr(err.msg, name) != NULL);
    CHECK(tm_batch_source_next(s, &b, &err) == TM_BATCH_END);
    tm_batch_source_free(s);
  }
  tm_ring_close(prod, 1);

  /* a validation set read once from a ring and served again after rewind */
  snprintf(name + strlen(name), sizeof name - strlen(name), "v");
  prod = NULL;
  CHECKF(tm_ring_create(&prod, name, 0, &p, 0, &err) >= 0, "%s", err.msg);
  if (prod) {
    publish(prod, 0, 0);
    publish(prod, 1, 0);
    CHECK(tm_ring_finish(prod, &err) == 0);
    tm_batch_source *vr = NULL, *cache = NULL;
    CHECKF(tm_batch_source_ring(&vr, name, 0, NULL, 1000, &err) == 0, "%s", err.msg);
    CHECKF(vr && tm_batch_source_cache(&cache, vr, 5, &err) == 0, "%s", err.msg);
    tm_batch_source_free(vr);
    if (cache) {
      tm_batch b;
      CHECK(tm_batch_source_batches_per_pass(cache) == 2);
      CHECK(tm_batch_source_next(cache, &b, &err) == 0 && b.inputs[0] == 0);
      CHECK(tm_batch_source_next(cache, &b, &err) == 0 && b.inputs[0] == 100);
      tm_batch_source_rewind(cache);
      CHECK(tm_batch_source_next(cache, &b, &err) == 0 && b.inputs[0] == 0 && b.targets[0] == 1);
      /* saved and loaded back: the same batches; another geometry is refused */
      char vpath[128];
      snprintf(vpath, sizeof vpath, "/tmp/%s.tmv", name);
      CHECKF(tm_batch_source_cache_save(cache, vpath, &err) == 0, "%s", err.msg);
      tm_batch_source *back = NULL;
      CHECKF(tm_batch_source_cache_load(&back, vpath, NB, NT, 300, &err) == 0, "%s", err.msg);
      if (back) {
        CHECK(tm_batch_source_batches_per_pass(back) == 2);
        CHECK(tm_batch_source_next(back, &b, &err) == 0 && b.inputs[0] == 0);
        CHECK(tm_batch_source_next(back, &b, &err) == 0 && b.inputs[0] == 100 &&
              b.targets[2 * NT - 1] == 100 + 2 * (NT + 1) - 1);
        tm_batch_source_free(back);
      }
      CHECK(tm_batch_source_cache_load(&back, vpath, NB, NT + 1, 300, &err) < 0 && !back);
      CHECK(strstr(err.msg, vpath) != NULL);
      unlink(vpath);
      tm_batch_source_free(cache);
    }
    tm_ring_close(prod, 1);
  }
  /* no ring: a clear error naming it */
  CHECK(tm_batch_source_ring(&s, name, 0, NULL, 0, &err) < 0 && s == NULL);
  CHECK(strstr(err.msg, name) != NULL);
  return tm_test_finish("test_ring_source");
}
