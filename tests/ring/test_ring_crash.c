/* test_ring_crash.c - crashes on either side of the ring (fork + SIGKILL):
 *  - producer killed -> the consumer reports "producer dead" within twice
 *    the liveness timeout; a stopped producer is reported "hung";
 *  - consumer stopped -> the producer reports it hung; killed -> dead; the
 *    producer waits, and a consumer that reattaches continues without loss
 *    or repetition;
 *  - resume at a cursor gives exactly the batches that followed it;
 *  - a producer restarted on the ring continues where the consumer is, also
 *    when the consumer reattached with its resume cursor before the takeover.
 * The time bounds are functional limits (a report must come at all, within
 * 2x the timeout), not performance measurements. */
#include <stdlib.h>

#include "ring_testutil.h"
#include "tm_test.h"

#define TIMEOUT_MS 1000

/* consume batches until END, expecting k = first, first+1, ...; returns the
 * number received, or -1 on a mismatch */
static long consume_rest(tm_ring *c, uint64_t first, uint64_t expect_seq_from, int use_seq) {
  tm_error err = {0};
  uint64_t k = first;
  for (;;) {
    tm_ring_slot s;
    int rc = tm_ring_acquire(c, &s, 10000, &err);
    if (rc == TM_RING_END) break;
    if (rc == -TM_EPEER) continue;
    if (rc < 0) {
      fprintf(stderr, "acquire: %s\n", err.msg);
      return -1;
    }
    if (!rt_check(&s, k) || tm_ring_slot_verify(c, &s, &err) < 0 ||
        (use_seq && s.seq != expect_seq_from + (k - first))) {
      fprintf(stderr, "batch %llu: wrong content or seq %llu\n", (unsigned long long)k,
              (unsigned long long)s.seq);
      return -1;
    }
    if (tm_ring_release(c, &err) < 0) return -1;
    k++;
  }
  return (long)(k - first);
}

static pid_t spawn_producer(const char *name, uint64_t n, int report_fd) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  tm_ring_params p;
  rt_params(&p, 4, TIMEOUT_MS);
  tm_error e = {0};
  tm_ring *r;
  int rc = tm_ring_create(&r, name, 0, &p, 0, &e);
  if (rc < 0) {
    fprintf(stderr, "producer create: %s\n", e.msg);
    _exit(1);
  }
  uint64_t k = 0;
  tm_ring_cursor c;
  if (tm_ring_producer_cursor(r, &c) == 1) k = c.window;
  /* like rt_produce, but report the first dead consumer on report_fd */
  int reported = 0;
  while (k < n) {
    tm_ring_slot s;
    tm_ring_cursor re;
    rc = tm_ring_reserve(r, &s, &re, 5000, &e);
    if (rc == TM_RING_RESEEK) {
      k = re.window;
      continue;
    }
    if (rc == -TM_EPEER) {
      if (!(reported & 1) && report_fd >= 0 && strstr(e.msg, "consumer hung")) {
        if (write(report_fd, "H", 1) != 1) _exit(1);
        reported |= 1;
      }
      if (!(reported & 2) && report_fd >= 0 && strstr(e.msg, "consumer dead")) {
        if (write(report_fd, "D", 1) != 1) _exit(1);
        reported |= 2;
      }
      continue;
    }
    if (rc < 0) {
      fprintf(stderr, "producer reserve: %s\n", e.msg);
      _exit(1);
    }
    rt_fill(s.tokens, k);
    tm_ring_cursor cur = {RT_SEED, 0, 1, k + 1};
    if (tm_ring_publish(r, rt_ntok(), &cur, &e) < 0) _exit(1);
    k++;
  }
  if (tm_ring_finish(r, &e) < 0) _exit(1);
  for (int i = 0; i < 30 && tm_ring_drain(r, 1000, &e) != 0; i++) {
  }
  tm_ring_close(r, 1);
  _exit(0);
}

static int wait_ok(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid) return 0;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static tm_ring *attach(const char *name, const tm_ring_cursor *resume) {
  tm_ring_params p;
  rt_params(&p, 4, TIMEOUT_MS);
  tm_error err = {0};
  tm_ring *c = NULL;
  int rc = tm_ring_attach(&c, name, 0, &p, resume, 0, 5000, &err);
  CHECKF(rc == 0, "attach: %s", err.msg);
  return rc == 0 ? c : NULL;
}

static void test_producer_killed(void) {
  char name[64];
  rt_name(name, sizeof name, "pkill");
  pid_t prod = spawn_producer(name, 1000000, -1);
  tm_ring *c = attach(name, NULL);
  if (!c) return;
  tm_error err = {0};
  /* take a few batches */
  for (uint64_t k = 0; k < 5; k++) {
    tm_ring_slot s;
    CHECK(tm_ring_acquire(c, &s, 5000, &err) == 0 && rt_check(&s, k));
    CHECK(tm_ring_release(c, &err) == 0);
  }
  /* stopped (SIGSTOP): reported as hung */
  rt_sleep_ms(50); /* let the producer fill the ring and sleep */
  kill(prod, SIGSTOP);
  uint64_t k = 5;
  double t0 = rt_now();
  int rc;
  for (;;) {
    tm_ring_slot s;
    rc = tm_ring_acquire(c, &s, -1, &err);
    if (rc != 0) break;
    CHECK(rt_check(&s, k));
    k++;
    CHECK(tm_ring_release(c, &err) == 0);
  }
  double dt = rt_now() - t0;
  CHECKF(rc == -TM_EPEER && strstr(err.msg, "producer hung"), "rc %d: %s", rc, err.msg);
  CHECKF(dt < 2.0 * TIMEOUT_MS / 1000.0 + 0.5, "hung reported after %.2f s", dt);
  kill(prod, SIGCONT);

  /* killed (SIGKILL, not reaped: a zombie): reported as dead */
  rt_sleep_ms(100);
  kill(prod, SIGKILL);
  t0 = rt_now();
  for (;;) {
    tm_ring_slot s;
    rc = tm_ring_acquire(c, &s, -1, &err);
    if (rc != 0) break;
    CHECK(rt_check(&s, k)); /* published batches are still delivered */
    k++;
    CHECK(tm_ring_release(c, &err) == 0);
  }
  dt = rt_now() - t0;
  CHECKF(rc == -TM_EPEER && strstr(err.msg, "producer dead"), "rc %d: %s", rc, err.msg);
  CHECKF(dt < 2.0 * TIMEOUT_MS / 1000.0, "death reported after %.2f s (timeout %.1f s)", dt,
         TIMEOUT_MS / 1000.0);
  /* later calls keep reporting it (after their own timeout), never hang */
  tm_ring_slot s;
  CHECK(tm_ring_acquire(c, &s, 100, &err) == -TM_EPEER);
  int st;
  waitpid(prod, &st, 0);
  tm_ring_close(c, 1);
}

static void test_consumer_killed(void) {
  char name[64];
  rt_name(name, sizeof name, "ckill");
  enum { N = 40, HOLD = 10 };
  int rep[2], note[2];
  CHECK(pipe(rep) == 0 && pipe(note) == 0);
  pid_t prod = spawn_producer(name, N, rep[1]);
  pid_t c1 = fork();
  if (c1 == 0) {
    tm_ring_params p;
    rt_params(&p, 4, TIMEOUT_MS);
    tm_error e = {0};
    tm_ring *c;
    if (tm_ring_attach(&c, name, 0, &p, NULL, 0, 5000, &e) < 0) _exit(1);
    for (uint64_t k = 0; k <= HOLD; k++) {
      tm_ring_slot s;
      if (tm_ring_acquire(c, &s, 5000, &e) != 0 || !rt_check(&s, k)) _exit(1);
      if (k < HOLD && tm_ring_release(c, &e) != 0) _exit(1); /* batch HOLD stays held */
    }
    if (write(note[1], "H", 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  char ch;
  CHECK(read(note[0], &ch, 1) == 1 && ch == 'H');
  rt_sleep_ms(50);
  /* stopped: the producer reports it hung (its heartbeat ages) */
  kill(c1, SIGSTOP);
  double t0 = rt_now();
  CHECK(read(rep[0], &ch, 1) == 1 && ch == 'H');
  double dt = rt_now() - t0;
  CHECKF(dt < 2.0 * TIMEOUT_MS / 1000.0 + 0.5, "hung consumer noticed after %.2f s", dt);
  /* killed: reported dead at once (another failure than the one reported) */
  kill(c1, SIGKILL);
  t0 = rt_now();
  CHECK(read(rep[0], &ch, 1) == 1 && ch == 'D'); /* the producer noticed */
  dt = rt_now() - t0;
  CHECKF(dt < 2.0 * TIMEOUT_MS / 1000.0, "consumer death noticed after %.2f s", dt);
  int st;
  waitpid(c1, &st, 0);
  /* a new consumer continues at the held (unreleased) batch: no loss, no
   * repetition of anything released */
  tm_ring *c = attach(name, NULL);
  if (c) {
    long got = consume_rest(c, HOLD, HOLD, 1);
    CHECKF(got == N - HOLD, "reattached consumer got %ld batches, expected %d", got, N - HOLD);
    tm_ring_close(c, 0);
  }
  CHECK(wait_ok(prod));
  close(rep[0]), close(rep[1]), close(note[0]), close(note[1]);
}

static void test_resume_cursor(void) {
  char name[64];
  rt_name(name, sizeof name, "resume");
  enum { N = 30 };
  pid_t prod = spawn_producer(name, N, -1);
  tm_ring *c = attach(name, NULL);
  if (!c) return;
  tm_error err = {0};
  tm_ring_cursor at5 = {0}, at9 = {0};
  for (uint64_t k = 0; k < 12; k++) {
    tm_ring_slot s;
    CHECK(tm_ring_acquire(c, &s, 5000, &err) == 0 && rt_check(&s, k));
    if (k == 5) at5 = s.cursor;
    CHECK(tm_ring_release(c, &err) == 0);
  }
  rt_sleep_ms(30); /* the producer refills the ring with batches 12.. */
  tm_ring_close(c, 0);
  /* a trainer restarting from a checkpoint taken after batch 5 */
  c = attach(name, &at5);
  if (!c) return;
  for (uint64_t k = 6; k < 10; k++) {
    tm_ring_slot s;
    int rc = tm_ring_acquire(c, &s, 5000, &err);
    CHECKF(rc == 0 && rt_check(&s, k), "after resume: batch %llu rc %d window %llu",
           (unsigned long long)k, rc, (unsigned long long)s.cursor.window);
    if (k == 9) at9 = s.cursor;
    CHECK(tm_ring_release(c, &err) == 0);
  }
  tm_ring_close(c, 0);
  /* resuming at the ring's own consumed cursor keeps the queued batches */
  c = attach(name, &at9);
  if (!c) return;
  long got = consume_rest(c, 10, 0, 0);
  CHECKF(got == N - 10, "got %ld", got);
  tm_ring_close(c, 0);
  CHECK(wait_ok(prod));
}

static void test_producer_restart(void) {
  char name[64];
  rt_name(name, sizeof name, "prestart");
  enum { N = 25 };
  pid_t p1 = spawn_producer(name, 1000000, -1);
  tm_ring *c = attach(name, NULL);
  if (!c) return;
  tm_error err = {0};
  uint64_t k = 0;
  for (; k < 6; k++) {
    tm_ring_slot s;
    CHECK(tm_ring_acquire(c, &s, 5000, &err) == 0 && rt_check(&s, k));
    CHECK(tm_ring_release(c, &err) == 0);
  }
  rt_sleep_ms(30);
  kill(p1, SIGKILL);
  int st;
  waitpid(p1, &st, 0);
  /* drain what the dead producer published, until "producer dead" */
  int rc;
  for (;;) {
    tm_ring_slot s;
    rc = tm_ring_acquire(c, &s, 5000, &err);
    if (rc != 0) break;
    CHECK(rt_check(&s, k) && s.seq == k);
    k++;
    CHECK(tm_ring_release(c, &err) == 0);
  }
  CHECKF(rc == -TM_EPEER && strstr(err.msg, "producer dead"), "%s", err.msg);
  /* a restarted producer continues exactly after the last published batch */
  pid_t p2 = spawn_producer(name, N, -1);
  long got = consume_rest(c, k, k, 1);
  CHECKF(got == (long)(N - k), "after restart got %ld, expected %ld", got, (long)(N - k));
  tm_ring_close(c, 0);
  CHECK(wait_ok(p2));
}

/* Both sides stop (a trainer interrupted after its checkpoint, its feeder
 * killed) with batches published but not consumed. The trainer restarts
 * first and reattaches with the cursor of its last consumed batch; then a
 * new producer takes the ring over. When that cursor equals the ring's
 * consumed cursor the ring keeps the published batches, so the new producer
 * must continue after the last published one, not at the resume cursor
 * (which would publish those batches twice). With an earlier cursor the
 * kept batches are dropped and production restarts right after it. */
static void takeover_after_reattach(int resume_at, const char *tag) {
  char name[64];
  rt_name(name, sizeof name, tag);
  enum { N = 25, CONSUMED = 6 };
  pid_t p1 = spawn_producer(name, 1000000, -1);
  tm_ring *c = attach(name, NULL);
  if (!c) return;
  tm_error err = {0};
  tm_ring_cursor at = {0};
  for (uint64_t k = 0; k < CONSUMED; k++) {
    tm_ring_slot s;
    CHECK(tm_ring_acquire(c, &s, 5000, &err) == 0 && rt_check(&s, k));
    if ((int)k == resume_at) at = s.cursor;
    CHECK(tm_ring_release(c, &err) == 0);
  }
  rt_sleep_ms(30); /* the producer refills the ring with batches CONSUMED.. */
  tm_ring_close(c, 0);
  kill(p1, SIGKILL);
  int st;
  waitpid(p1, &st, 0);
  c = attach(name, &at); /* the trainer is back first */
  if (!c) return;
  pid_t p2 = spawn_producer(name, N, -1);
  long got = consume_rest(c, (uint64_t)resume_at + 1, 0, 0);
  CHECKF(got == N - (resume_at + 1), "%s: resumed after batch %d, got %ld batches, expected %d",
         tag, resume_at, got, N - (resume_at + 1));
  tm_ring_close(c, 0);
  if (got != N - (resume_at + 1)) kill(p2, SIGKILL); /* it would wait for a consumer forever */
  CHECK(wait_ok(p2));
  tm_ring_unlink_stale(name, 0, &err);
}

static void test_takeover_after_reattach(void) {
  takeover_after_reattach(5, "takeover-eq");   /* cursor == consumed cursor: keep the ring */
  takeover_after_reattach(2, "takeover-back"); /* an earlier cursor: reseek */
}

int main(void) {
  test_producer_killed();
  test_consumer_killed();
  test_resume_cursor();
  test_producer_restart();
  test_takeover_after_reattach();
  return tm_test_finish("test_ring_crash");
}
