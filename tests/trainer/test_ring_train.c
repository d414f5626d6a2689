/* test_ring_train.c - training from a real ring, stopped and resumed.
 *
 * A producer thread plays the feeder: batch k holds global windows
 * [k*B, (k+1)*B), each window a pure function of its index, and it honours
 * the consumer's resume cursor (TM_RING_RESEEK / tm_ring_producer_cursor)
 * as `tokenmill feed` does. Run A trains 24 steps uninterrupted. Run B is
 * stopped part-way (the stop flag a SIGTERM handler would set), the
 * producer is replaced by a new one that takes the ring over, and B resumes
 * from its checkpoint: its losses must equal A's bit for bit, step for step
 * (1 thread). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring.h"
#include "tm_test.h"
#include "train_loop.h"

#define NB 2
#define NT 16
#define VOCAB 64
#define STEPS 24

typedef struct producer {
  char name[64];
  volatile int quit;
  int stop_after; /* set *stop_flag once this many batches are published (0: never) */
  volatile sig_atomic_t *stop_flag;
  int published;
} producer;

static void fill(uint16_t *tok, uint64_t first_window) {
  for (int r = 0; r < NB; r++) {
    uint64_t w = first_window + (uint64_t)r;
    for (int t = 0; t <= NT; t++) tok[r * (NT + 1) + t] = (uint16_t)((w * 7 + (uint64_t)t * t) % VOCAB);
  }
}

static void *produce(void *arg) {
  producer *p = arg;
  tm_ring_params rp;
  tm_ring_params_for(&rp, VOCAB, NB, NT, 0, 0);
  tm_ring *r = NULL;
  tm_error err = {0};
  if (tm_ring_create(&r, p->name, 0, &rp, 0, &err) < 0) {
    fprintf(stderr, "producer: %s\n", err.msg);
    return NULL;
  }
  tm_ring_cursor c = {1, 0, 0, 0};
  if (tm_ring_producer_cursor(r, &c) == 1) { /* continue after the last published/resumed */
  }
  uint64_t w = c.window;
  if (getenv("TM_TEST_DEBUG")) fprintf(stderr, "producer start at %llu\n", (unsigned long long)w);
  while (!p->quit) {
    tm_ring_slot slot;
    tm_ring_cursor re;
    int rc = tm_ring_reserve(r, &slot, &re, 100, &err);
    if (rc == TM_RING_RESEEK) {
      if (getenv("TM_TEST_DEBUG")) fprintf(stderr, "reseek %llu -> %llu\n", (unsigned long long)w, (unsigned long long)re.window);
      w = re.window;
      continue;
    }
    if (rc < 0) continue; /* timeout or no consumer yet: poll again */
    fill(slot.tokens, w);
    w += NB;
    tm_ring_cursor cur = {1, 0, 0, w};
    if (tm_ring_publish(r, NB * (NT + 1), &cur, &err) < 0) break;
    p->published++;
    if (p->stop_after && p->published == p->stop_after) *p->stop_flag = 1;
  }
  tm_ring_close(r, 0);
  return NULL;
}

static void options(tm_train_options *o, const char *ring, const char *dir) {
  memset(o, 0, sizeof *o);
  o->model = (tm_gpt_config){.max_seq_len = 0, .vocab_size = 0, .n_layer = 1, .n_head = 2,
                             .d_model = 16};
  o->batch = NB;
  o->grad_accum = 1;
  o->threads = 1;
  o->log_every = 1000;
  o->steps = STEPS;
  o->sched = (tm_schedule){.kind = TM_SCHED_COSINE, .lr = 3e-3, .final_frac = 0.1,
                           .decay_frac = 0.2, .warmup = 3, .total = STEPS};
  o->weight_decay = 0.1;
  o->beta1 = 0.9;
  o->beta2 = 0.95;
  o->eps = 1e-8;
  o->grad_clip = 1.0;
  o->seed = 5;
  snprintf(o->out_dir, sizeof o->out_dir, "%s", dir);
  o->data = TM_DATA_RING;
  snprintf(o->ring_name, sizeof o->ring_name, "%s", ring);
  o->ring_wait_ms = 20000;
  o->eval_batches = 1;
  o->ckpt_every = 4;
  o->ckpt_keep = 2;
}

/* losses[step-1] from DIR/metrics.jsonl; returns the number of steps read */
static int read_losses(const char *dir, char losses[][32]) {
  char path[512], line[512];
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    int step;
    char loss[32];
    if (sscanf(line, "{\"step\":%d,\"loss\":%31[^,]", &step, loss) == 2 && step >= 1 &&
        step <= STEPS) {
      snprintf(losses[step - 1], 32, "%s", loss);
      n++;
    }
  }
  fclose(f);
  return n;
}

static int train(producer *p, const char *dir, int resume, volatile sig_atomic_t *stop,
                 tm_train_result *res) {
  tm_train_options o;
  options(&o, p->name, dir);
  pthread_t th;
  pthread_create(&th, NULL, produce, p);
  tm_error err = {0};
  int rc = tm_train_run(&o, resume, stop, res, &err);
  if (rc < 0) fprintf(stderr, "train: %s\n", err.msg);
  p->quit = 1;
  pthread_join(th, NULL);
  return rc;
}

int main(void) {
  char base[] = "/tmp/tm_ring_train.XXXXXX";
  if (!mkdtemp(base)) return 1;
  char da[600], db[600];
  snprintf(da, sizeof da, "%s/a", base);
  snprintf(db, sizeof db, "%s/b", base);
  volatile sig_atomic_t stop = 0;
  tm_train_result res;

  producer pa = {.quit = 0};
  snprintf(pa.name, sizeof pa.name, "tmtest_ringtrain_a_%d", (int)getpid());
  CHECK(train(&pa, da, 0, &stop, &res) == 0);
  CHECK(res.steps_done == STEPS && !res.interrupted);

  producer pb1 = {.stop_after = 11, .stop_flag = &stop};
  snprintf(pb1.name, sizeof pb1.name, "tmtest_ringtrain_b_%d", (int)getpid());
  CHECK(train(&pb1, db, 0, &stop, &res) == 0);
  CHECKF(res.interrupted && res.steps_done > 0 && res.steps_done < STEPS, "stopped at %llu",
         (unsigned long long)res.steps_done);
  stop = 0;
  /* the feeder restarts and takes the old ring over, after or before the
   * trainer reattaches with its resume cursor: either way it continues
   * exactly where the trainer is, publishing nothing twice */
  producer pb2 = {.quit = 0};
  memcpy(pb2.name, pb1.name, sizeof pb2.name);
  CHECK(train(&pb2, db, 1, &stop, &res) == 0);
  CHECK(res.steps_done == STEPS);

  static char la[STEPS][32], lb[STEPS][32];
  CHECK(read_losses(da, la) == STEPS);
  CHECK(read_losses(db, lb) == STEPS);
  int same = 1;
  for (int i = 0; i < STEPS; i++)
    if (strcmp(la[i], lb[i])) {
      fprintf(stderr, "step %d: %s vs %s\n", i + 1, la[i], lb[i]);
      same = 0;
    }
  CHECK(same);

  tm_error err = {0};
  tm_ring_unlink_stale(pa.name, 0, &err);
  tm_ring_unlink_stale(pb2.name, 0, &err);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf %s", base);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", base);
  return tm_test_finish("test_ring_train");
}
