/* ring_soak.c - a long crash soak of the ring (run by hand, not by CTest):
 *
 *   ring_soak [N_BATCHES] [SEED]
 *
 * A producer process and a consumer process move N batches through a
 * ring while this process SIGKILLs one of them at random moments (5-60 ms
 * apart) and restarts it: the producer takes the ring over and continues
 * after its last published batch, the consumer reattaches and continues at
 * its first unreleased batch. The consumer appends each batch index to a log
 * before releasing it (8-byte records: a record never straddles a page, so
 * a SIGKILL cannot leave half of one); at the end the log must be 0..N-1 in order, where a
 * batch may appear twice in a row only across a consumer restart (acquired,
 * logged, killed before its release: delivered again). Exit 0 when so. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../ring/ring_testutil.h"

#define REC_RESTART UINT64_MAX
#define REC_END (UINT64_MAX - 1)

static char name[64], logpath[128];
static uint64_t N;

static pid_t start_producer(void) {
  pid_t pid = fork();
  if (pid) return pid;
  tm_ring_params p;
  rt_params(&p, 4, 300);
  tm_error e = {0};
  tm_ring *r;
  int rc = tm_ring_create(&r, name, 0, &p, 0, &e);
  if (rc < 0) {
    fprintf(stderr, "producer: %s\n", e.msg);
    _exit(1);
  }
  uint64_t k = 0;
  tm_ring_cursor c;
  int has = tm_ring_producer_cursor(r, &c);
  if (has == 1) k = c.window;
  if (getenv("RING_SOAK_DEBUG"))
    fprintf(stderr, "producer pid %d: create rc %d, cursor %d, k %llu\n", (int)getpid(), rc, has,
            (unsigned long long)k);
  rc = rt_produce(r, k, N, &e);
  if (rc < 0) fprintf(stderr, "producer: %s\n", e.msg);
  tm_ring_close(r, 0);
  _exit(rc < 0 ? 1 : 0);
}

static pid_t start_consumer(void) {
  pid_t pid = fork();
  if (pid) return pid;
  tm_ring_params p;
  rt_params(&p, 4, 300);
  tm_error e = {0};
  tm_ring *c;
  if (tm_ring_attach(&c, name, 0, &p, NULL, 0, 5000, &e) < 0) {
    fprintf(stderr, "consumer: %s\n", e.msg);
    _exit(1);
  }
  int fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (fd < 0) _exit(1);
  uint64_t mark = REC_RESTART;
  if (write(fd, &mark, 8) != 8) _exit(1);
  for (;;) {
    tm_ring_slot s;
    int rc = tm_ring_acquire(c, &s, 5000, &e);
    if (rc == TM_RING_END) break;
    if (rc == -TM_EPEER || rc == -TM_EAGAIN) continue; /* producer restarting */
    if (rc < 0) _exit(1);
    uint64_t k = s.cursor.window - 1;
    if (!rt_check(&s, k) || tm_ring_slot_verify(c, &s, &e) < 0) {
      fprintf(stderr, "consumer: batch %llu corrupt\n", (unsigned long long)k);
      _exit(3);
    }
    if (write(fd, &k, 8) != 8) _exit(1);
    if (tm_ring_release(c, &e) < 0) _exit(1);
  }
  mark = REC_END;
  if (write(fd, &mark, 8) != 8) _exit(1);
  tm_ring_close(c, 0);
  _exit(0);
}

int main(int argc, char **argv) {
  N = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
  unsigned seed = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
  srand(seed);
  snprintf(name, sizeof name, "soak%d", (int)getpid());
  snprintf(logpath, sizeof logpath, "/tmp/ring_soak_%d.log", (int)getpid());
  unlink(logpath);
  pid_t prod = start_producer();
  rt_sleep_ms(20);
  pid_t cons = start_consumer();
  int kills_p = 0, kills_c = 0, cons_done = 0, prod_done = 0, bad = 0;
  while (!cons_done) {
    rt_sleep_ms(5 + rand() % 55);
    int st;
    if (!prod_done && waitpid(prod, &st, WNOHANG) == prod) {
      prod_done = 1;
      if (!WIFEXITED(st) || WEXITSTATUS(st)) bad = 1;
    }
    if (waitpid(cons, &st, WNOHANG) == cons) {
      cons_done = 1;
      if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "consumer failed: status %d\n", st);
        bad = 1;
      }
      break;
    }
    if (rand() % 2 && !prod_done) {
      kill(prod, SIGKILL);
      waitpid(prod, &st, 0);
      kills_p++;
      prod = start_producer();
    } else {
      kill(cons, SIGKILL);
      waitpid(cons, &st, 0);
      kills_c++;
      cons = start_consumer();
    }
  }
  if (!prod_done) {
    int st;
    waitpid(prod, &st, 0);
  }
  /* check the log */
  FILE *f = fopen(logpath, "rb");
  uint64_t rec;
  long long expect = 0, last = -1, dups = 0;
  int after_restart = 0, ended = 0;
  while (f && fread(&rec, 8, 1, f) == 1) {
    if (rec == REC_RESTART) {
      after_restart = 1;
      continue;
    }
    if (rec == REC_END) {
      ended = 1;
      continue;
    }
    long long k = (long long)rec;
    if (k == last && after_restart) dups++;
    else if (k != expect) {
      fprintf(stderr, "log: batch %lld where %lld was expected\n", k, expect);
      bad = 1;
      break;
    } else {
      expect++;
    }
    last = k;
    after_restart = 0;
  }
  if (f) fclose(f);
  if (expect != (long long)N || !ended) bad = 1;
  printf("ring_soak: %llu batches, %d producer kills, %d consumer kills, %lld batches "
         "redelivered after a consumer kill, %s\n",
         (unsigned long long)N, kills_p, kills_c, dups, bad ? "FAILED" : "ok");
  unlink(logpath);
  tm_error e = {0};
  tm_ring_unlink_stale(name, 0, &e);
  return bad;
}
