/* test_feed.c - the feeder through real rings (a forked feeder process):
 *  - every batch of a pass arrives in order, checksummed, equal to the
 *    plan's windows, identical across runs with the same seed;
 *  - two ranks get disjoint windows whose interleaving is exactly the
 *    global batch sequence of one rank with batch 2B;
 *  - a consumer resuming at a cursor gets exactly the batches that an
 *    uninterrupted run gives from there, also with another world size;
 *  - a growing manifest: pass 0 keeps its frozen shard list, the new
 *    shards join at pass 1, and an old cursor is still resumable. */
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>

#include "feed/feeder.h"
#include "feed_testutil.h"
#include "manifest.h"
#include "ring.h"
#include "tm_test.h"

#define T 31u
#define B 4u
#define MAXB 1000

static char dir[256], ring[64];
static int follow_mode;

typedef struct run {
  int n;
  uint64_t sums[MAXB];
  tm_ring_cursor cur[MAXB];
  uint16_t *data; /* n x B x (T+1) tokens */
} run;

static pid_t spawn_feeder(uint32_t world, uint32_t batch, uint64_t passes, uint64_t seed) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  tm_feed_options o;
  memset(&o, 0, sizeof o);
  o.dir = dir;
  o.ring = ring;
  o.seed = seed;
  o.batch = batch;
  o.seq_len = T;
  o.world = world;
  o.rank = -1;
  o.passes = passes;
  o.shuffle_windows = 16;
  o.timeout_ms = 1000;
  o.drain = 1;
  o.follow = follow_mode;
  tm_error err = {0};
  tm_feed_stats st;
  int rc = tm_feed_run(&o, &st, &err);
  if (rc < 0) fprintf(stderr, "feeder: %s\n", err.msg);
  _exit(rc < 0 ? 1 : 0);
}

static int feeder_ok(pid_t pid) {
  int st;
  return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* read up to max batches (or until END) from ring rank; resume may be NULL;
 * close: 1 detach after */
static void consume(run *r, unsigned rank, int max, const tm_ring_cursor *resume,
                    uint32_t batch) {
  tm_ring *c;
  tm_error err = {0};
  r->n = 0;
  size_t per = (size_t)batch * (T + 1);
  r->data = realloc(r->data, (size_t)MAXB * per * 2);
  int rc = tm_ring_attach(&c, ring, rank, NULL, resume, 0, 10000, &err);
  CHECKF(rc == 0, "attach: %s", err.msg);
  if (rc < 0) return;
  while (r->n < max && r->n < MAXB) {
    tm_ring_slot s;
    rc = tm_ring_acquire(c, &s, 20000, &err);
    if (rc == TM_RING_END) break;
    CHECKF(rc == 0, "acquire: %s", err.msg);
    if (rc < 0) break;
    CHECK(tm_ring_slot_verify(c, &s, &err) == 0);
    CHECK(s.n_tokens == per);
    for (size_t w = 0; w < batch; w++)
      CHECK(ft_check_window((const uint16_t *)s.tokens + w * (T + 1), T + 1) >= 0);
    r->sums[r->n] = s.checksum;
    r->cur[r->n] = s.cursor;
    memcpy(r->data + (size_t)r->n * per, s.tokens, per * 2);
    r->n++;
    CHECK(tm_ring_release(c, &err) == 0);
  }
  CHECKF(r->n < MAXB || max < MAXB, "more than %d batches: the test data is too large", MAXB);
  tm_ring_close(c, 0);
}

static const uint16_t *win(const run *r, int k, uint32_t i, uint32_t batch) {
  return r->data + ((size_t)k * batch + i) * (T + 1);
}

/* the plan's window g (pass, gen = current manifest) */
static int plan_window(uint64_t seed, uint64_t pass, uint64_t g, uint16_t *out,
                       tm_feed_plan **pp) {
  if (!*pp) {
    tm_manifest m = {0};
    tm_error err = {0};
    if (tm_manifest_load(&m, dir, 0, &err) < 0) return -1;
    char **names = calloc(m.n_shards, sizeof *names);
    for (size_t i = 0; i < m.n_shards; i++) names[i] = m.shards[i].name;
    int cmp(const void *, const void *);
    qsort(names, m.n_shards, sizeof *names, cmp);
    tm_feed_plan_options o = {.dir = dir, .shards = (const char *const *)names,
                              .n_shards = m.n_shards, .seed = seed, .pass = pass,
                              .seq_len = T, .shuffle_windows = 16};
    int rc = tm_feed_plan_build(pp, &o, &err);
    free(names);
    tm_manifest_free(&m);
    if (rc < 0) return -1;
  }
  tm_error err = {0};
  return tm_feed_plan_read(*pp, g, out, &err);
}

int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void rt_sleep(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tm-test-feed-%d", (int)getpid());
  snprintf(ring, sizeof ring, "test-feed-%d", (int)getpid());
  if (ft_write_docs(dir, 11, 40, 4000) < 0) return 1;
  static run a, b2, r0, r1, x;

  /* 1. a whole pass, twice: in order, equal to the plan, identical */
  pid_t f = spawn_feeder(1, B, 1, 42);
  consume(&a, 0, MAXB, NULL, B);
  CHECK(feeder_ok(f));
  CHECKF(a.n > 20 && a.n < MAXB, "a pass of %d batches", a.n);
  tm_feed_plan *plan = NULL;
  uint16_t w[T + 1];
  int mism = 0;
  for (int k = 0; k < a.n; k++) {
    CHECK(a.cur[k].seed == 42 && a.cur[k].pass == 0 && a.cur[k].window == (uint64_t)(k + 1) * B);
    for (uint32_t i = 0; i < B; i++) {
      if (plan_window(42, 0, (uint64_t)k * B + i, w, &plan) < 0) mism++;
      else mism += memcmp(w, win(&a, k, i, B), sizeof w) != 0;
    }
  }
  CHECKF(mism == 0, "%d windows differ from the plan", mism);
  CHECK((uint64_t)a.n == tm_feed_plan_windows(plan) / B);
  tm_feed_plan_free(plan);
  plan = NULL;
  f = spawn_feeder(1, B, 1, 42);
  consume(&x, 0, MAXB, NULL, B);
  CHECK(feeder_ok(f));
  CHECK(x.n == a.n && memcmp(x.sums, a.sums, sizeof(uint64_t) * (size_t)a.n) == 0);

  /* 2. two ranks of B == one rank of 2B, strided */
  f = spawn_feeder(1, 2 * B, 1, 42);
  consume(&b2, 0, MAXB, NULL, 2 * B);
  CHECK(feeder_ok(f));
  f = spawn_feeder(2, B, 1, 42);
  /* the feeder serves both rings from one process: read them alternately
   * in two children would be needed for full rings; 4 slots hold 4 batches,
   * so read rank 0 and rank 1 batch by batch through two consumers */
  pid_t c1 = fork();
  if (c1 == 0) {
    consume(&r1, 1, MAXB, NULL, B);
    /* hand rank 1's data back through a file */
    char path[300];
    snprintf(path, sizeof path, "%s/rank1.bin", dir);
    FILE *o = fopen(path, "wb");
    if (!o) _exit(1);
    fwrite(&r1.n, sizeof r1.n, 1, o);
    fwrite(r1.cur, sizeof r1.cur[0], MAXB, o);
    fwrite(r1.data, (size_t)B * (T + 1) * 2, (size_t)r1.n, o);
    fclose(o);
    _exit(tm_test_failed ? 1 : 0);
  }
  consume(&r0, 0, MAXB, NULL, B);
  CHECK(feeder_ok(c1));
  CHECK(feeder_ok(f));
  {
    char path[300];
    snprintf(path, sizeof path, "%s/rank1.bin", dir);
    FILE *in = fopen(path, "rb");
    CHECK(in != NULL);
    if (in) {
      r1.data = realloc(r1.data, (size_t)MAXB * B * (T + 1) * 2);
      CHECK(fread(&r1.n, sizeof r1.n, 1, in) == 1);
      CHECK(fread(r1.cur, sizeof r1.cur[0], MAXB, in) == MAXB);
      CHECK(fread(r1.data, (size_t)B * (T + 1) * 2, (size_t)r1.n, in) == (size_t)r1.n);
      fclose(in);
    }
  }
  CHECKF(r0.n == b2.n && r1.n == b2.n, "ranks %d/%d batches, single %d", r0.n, r1.n, b2.n);
  mism = 0;
  for (int k = 0; k < b2.n && k < r0.n && k < r1.n; k++) {
    CHECK(r0.cur[k].window == b2.cur[k].window && r1.cur[k].window == b2.cur[k].window);
    for (uint32_t i = 0; i < B; i++) {
      mism += memcmp(win(&r0, k, i, B), win(&b2, k, 2 * i, 2 * B), (T + 1) * 2) != 0;
      mism += memcmp(win(&r1, k, i, B), win(&b2, k, 2 * i + 1, 2 * B), (T + 1) * 2) != 0;
    }
  }
  CHECKF(mism == 0, "%d rank windows differ from the global sequence", mism);

  /* 3. resume at a cursor: exactly the uninterrupted batches from there */
  f = spawn_feeder(1, B, 1, 42);
  consume(&x, 0, 7, NULL, B);
  tm_ring_cursor at = x.cur[2]; /* a checkpoint after batch 2 */
  consume(&x, 0, MAXB, &at, B);
  CHECK(feeder_ok(f));
  CHECKF(x.n == a.n - 3, "resumed run got %d batches, expected %d", x.n, a.n - 3);
  if (x.n == a.n - 3)
    CHECK(memcmp(x.sums, a.sums + 3, sizeof(uint64_t) * (size_t)x.n) == 0);

  /* elastic: a cursor from the 2-rank run resumed by one rank of 2B */
  f = spawn_feeder(1, 2 * B, 1, 42);
  tm_ring_cursor at2 = r0.cur[4];
  consume(&x, 0, MAXB, &at2, 2 * B);
  CHECK(feeder_ok(f));
  CHECK(x.n == b2.n - 5);
  if (x.n == b2.n - 5)
    CHECK(memcmp(x.sums, b2.sums + 5, sizeof(uint64_t) * (size_t)x.n) == 0);

  /* a cursor with another seed is refused by the feeder (clear error) */
  f = spawn_feeder(1, B, 1, 43);
  {
    tm_ring_cursor wrong = a.cur[1];
    tm_ring *c;
    tm_error e = {0};
    CHECK(tm_ring_attach(&c, ring, 0, NULL, &wrong, 0, 10000, &e) == 0);
    tm_ring_slot s;
    CHECK(tm_ring_acquire(c, &s, 10000, &e) == -TM_EPEER);
    CHECK(!feeder_ok(f));
    tm_ring_close(c, 1);
  }

  /* 4. a growing manifest: more shards join at the next pass */
  tm_manifest m0 = {0};
  tm_error err = {0};
  CHECK(tm_manifest_load(&m0, dir, 0, &err) == 0);
  uint64_t gen0 = m0.generation;
  tm_manifest_free(&m0);
  f = spawn_feeder(1, B, 2, 42);
  consume(&x, 0, 5, NULL, B); /* pass 0 frozen at gen0 */
  CHECK(x.n == 5 && x.cur[4].generation == gen0);
  tm_ring_cursor mid = x.cur[4];
  CHECK(ft_write_docs(dir, 99, 30, 4000) == 0); /* a daemon seals more shards */
  tm_manifest m1 = {0};
  CHECK(tm_manifest_load(&m1, dir, 0, &err) == 0);
  uint64_t gen1 = m1.generation;
  tm_manifest_free(&m1);
  CHECK(gen1 > gen0);
  consume(&x, 0, MAXB, NULL, B);
  CHECK(feeder_ok(f));
  int p0 = 0, p1 = 0, badgen = 0;
  for (int k = 0; k < x.n; k++) {
    if (x.cur[k].pass == 0) p0++, badgen += x.cur[k].generation != gen0;
    else p1++, badgen += x.cur[k].generation != gen1;
  }
  CHECKF(p0 == a.n - 5 && p1 > a.n && badgen == 0, "pass0 %d (want %d) pass1 %d gen mismatches %d",
         p0, a.n - 5, p1, badgen);
  /* the old cursor (pass 0, gen0) is still resumable after the manifest grew */
  f = spawn_feeder(1, B, 1, 42);
  consume(&x, 0, MAXB, &mid, B);
  CHECK(feeder_ok(f));
  CHECK(x.n == a.n - 5);
  if (x.n == a.n - 5) CHECK(memcmp(x.sums, a.sums + 5, sizeof(uint64_t) * (size_t)x.n) == 0);

  /* 5. --follow on a directory that has no shards yet: the feeder waits,
   * then serves what a daemon seals */
  {
    char saved[200];
    snprintf(saved, sizeof saved, "%.190s", dir);
    snprintf(dir, sizeof dir, "%s-follow", saved);
    follow_mode = 1;
    f = spawn_feeder(1, B, 1, 42);
    rt_sleep(300);
    CHECK(ft_write_docs(dir, 3, 40, 4000) == 0);
    consume(&x, 0, MAXB, NULL, B);
    CHECK(feeder_ok(f));
    CHECKF(x.n > 10, "follow: %d batches", x.n);
    follow_mode = 0;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    snprintf(dir, sizeof dir, "%s", saved);
  }

  free(a.data), free(b2.data), free(r0.data), free(r1.data), free(x.data);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return tm_test_finish("test_feed");
}
