/* test_ring_peek.c - the monitor's read-only ring peek (common/ring_peek.h)
 * that `tokenmill serve` shows per feeder ring in /metrics and /status:
 *  - a ring with a consumer (another process) that consumed k of n batches
 *    shows published n, consumed k, the consumer alive with its pid and the
 *    cursor of its k-th batch, and the lag n - k;
 *  - after the consumer detaches: absent, the counts and cursor kept;
 *  - a consumer killed with SIGKILL while attached: dead;
 *  - no ring: -TM_ENOTFOUND; a short object or a bad magic: -TM_EFORMAT;
 *  - the peek changes nothing (the header page is byte-identical). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "ring.h"
#include "ring_peek.h"
#include "tm_test.h"

static tm_ring_cursor cursor_of(uint64_t i) {
  tm_ring_cursor c = {.seed = 7, .pass = 0, .generation = 3, .window = (i + 1) * 4};
  return c;
}

/* Child: attach, consume k batches, report, then wait for the parent
 * (hold = 1: until the pipe closes, then detach; hold = 0: forever). */
static void consumer_child(const char *name, int k, int ready_fd, int wait_fd) {
  tm_error err = {0};
  tm_ring *r;
  if (tm_ring_attach(&r, name, 0, NULL, NULL, 0, 5000, &err) < 0) _exit(10);
  if (tm_ring_start_heartbeat(r, &err) < 0) _exit(11);
  for (int i = 0; i < k; i++) {
    tm_ring_slot s;
    if (tm_ring_acquire(r, &s, 5000, &err) != 0) _exit(12);
    if (tm_ring_release(r, &err) < 0) _exit(13);
  }
  char c = 'r';
  if (write(ready_fd, &c, 1) != 1) _exit(14);
  while (read(wait_fd, &c, 1) > 0) {
  }
  tm_ring_close(r, 0);
  _exit(0);
}

static pid_t start_consumer(const char *name, int k, int *hold_fd) {
  int ready[2], hold[2];
  if (pipe(ready) || pipe(hold)) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    close(hold[1]);
    consumer_child(name, k, ready[1], hold[0]);
  }
  close(ready[1]);
  close(hold[0]);
  char c = 0;
  CHECK(read(ready[0], &c, 1) == 1 && c == 'r');
  close(ready[0]);
  *hold_fd = hold[1];
  return pid;
}

static void header_copy(const char *name, char *out) {
  char shm[256];
  snprintf(shm, sizeof shm, "/tokenmill.%s.0", name);
  int fd = shm_open(shm, O_RDONLY, 0);
  CHECK(fd >= 0 && pread(fd, out, 4096, 0) == 4096);
  close(fd);
}

int main(void) {
  tm_log_set_level(TM_LOG_WARN);
  char name[64];
  snprintf(name, sizeof name, "peek%d", (int)getpid());
  tm_error err = {0};
  tm_ring_peek_info pi;
  CHECK(tm_ring_peek(name, 0, &pi, &err) == -TM_ENOTFOUND && strstr(err.msg, name));

  tm_ring_params p;
  tm_ring_params_for(&p, 1000, 2, 15, 0, 99);
  p.n_slots = 8;
  tm_ring *prod;
  CHECK(tm_ring_create(&prod, name, 0, &p, 0, &err) == 0);
  const int n = 6, k = 3;
  for (int i = 0; i < n; i++) {
    tm_ring_slot s;
    CHECK(tm_ring_reserve(prod, &s, NULL, 1000, &err) == 0);
    memset(s.tokens, 0, (size_t)p.batch * (p.seq_len + 1) * p.token_width);
    tm_ring_cursor c = cursor_of((uint64_t)i);
    CHECK(tm_ring_publish(prod, (uint64_t)p.batch * (p.seq_len + 1), &c, &err) == 0);
  }
  CHECK(tm_ring_peek(name, 0, &pi, &err) == 0);
  CHECK(pi.published == (uint64_t)n && pi.consumed == 0 && pi.consumer == TM_RING_SIDE_ABSENT && !pi.consumed_valid);
  CHECK(pi.producer == TM_RING_SIDE_ALIVE && pi.producer_pid == (uint32_t)getpid());
  CHECK(pi.params.n_slots == 8 && pi.params.batch == 2 && pi.params.seq_len == 15 && pi.params.tokenizer_hash == 99);

  /* a consumer that consumed k batches and stays attached */
  int hold;
  pid_t child = start_consumer(name, k, &hold);
  char before[4096], after[4096];
  header_copy(name, before);
  CHECK(tm_ring_peek(name, 0, &pi, &err) == 0);
  header_copy(name, after);
  CHECKF(pi.consumed == (uint64_t)k && pi.acquired == (uint64_t)k, "consumed %llu acquired %llu",
         (unsigned long long)pi.consumed, (unsigned long long)pi.acquired);
  CHECK(pi.published - pi.consumed == (uint64_t)(n - k));
  CHECKF(pi.consumer == TM_RING_SIDE_ALIVE && pi.consumer_pid == (uint32_t)child, "consumer %s pid %u",
         tm_ring_side_name(pi.consumer), pi.consumer_pid);
  CHECK(pi.consumer_heartbeat_age_s >= 0 && pi.consumer_heartbeat_age_s < 2.0);
  tm_ring_cursor want = cursor_of((uint64_t)k - 1);
  CHECK(pi.consumed_valid && !memcmp(&pi.consumed_cursor, &want, sizeof want));
  CHECK(!memcmp(before + 64, after + 64, 64)); /* info line untouched (the sides' lines beat) */
  close(hold);
  int st;
  CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);

  /* detached: absent, counts and cursor kept */
  CHECK(tm_ring_peek(name, 0, &pi, &err) == 0);
  CHECK(pi.consumer == TM_RING_SIDE_ABSENT && pi.consumed == (uint64_t)k && pi.consumed_valid &&
        !memcmp(&pi.consumed_cursor, &want, sizeof want));

  /* killed while attached: dead */
  child = start_consumer(name, 1, &hold);
  kill(child, SIGKILL);
  CHECK(waitpid(child, &st, 0) == child && WIFSIGNALED(st));
  close(hold);
  CHECK(tm_ring_peek(name, 0, &pi, &err) == 0);
  CHECKF(pi.consumer == TM_RING_SIDE_DEAD && pi.consumed == (uint64_t)k + 1, "consumer %s consumed %llu",
         tm_ring_side_name(pi.consumer), (unsigned long long)pi.consumed);
  tm_ring_close(prod, 1);
  CHECK(tm_ring_peek(name, 0, &pi, &err) == -TM_ENOTFOUND);

  /* objects that are not rings */
  char bad[80], shm[96];
  snprintf(bad, sizeof bad, "peekbad%d", (int)getpid());
  snprintf(shm, sizeof shm, "/tokenmill.%s.0", bad);
  int fd = shm_open(shm, O_RDWR | O_CREAT | O_EXCL, 0600);
  CHECK(fd >= 0 && ftruncate(fd, 100) == 0);
  CHECK(tm_ring_peek(bad, 0, &pi, &err) == -TM_EFORMAT && strstr(err.msg, "shorter"));
  CHECK(ftruncate(fd, 8192) == 0 && pwrite(fd, "NOTARING", 8, 0) == 8);
  CHECK(tm_ring_peek(bad, 0, &pi, &err) == -TM_EFORMAT && strstr(err.msg, "magic"));
  close(fd);
  shm_unlink(shm);
  CHECK(tm_ring_peek("bad/name", 0, &pi, &err) == -TM_EINVAL);
  return tm_test_finish("test_ring_peek");
}
