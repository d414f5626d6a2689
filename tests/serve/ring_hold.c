/* ring_hold.c - a trainer stand-in for test_serve.py's feeder check:
 *   ring_hold NAME RANK K
 * attaches to /tokenmill.NAME.RANK as its consumer (waiting up to 30 s),
 * beats its heartbeat from a thread, consumes (verifies and releases)
 * exactly K batches, prints "consumed K" and stays attached until its
 * standard input closes; then detaches and exits 0 (1 with the ring's
 * error). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ring.h"

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: ring_hold NAME RANK K\n");
    return 2;
  }
  unsigned rank = (unsigned)strtoul(argv[2], NULL, 10);
  long k = strtol(argv[3], NULL, 10);
  tm_error err = {0};
  tm_ring *r;
  if (tm_ring_attach(&r, argv[1], rank, NULL, NULL, 0, 30000, &err) < 0 || tm_ring_start_heartbeat(r, &err) < 0) {
    fprintf(stderr, "ring_hold: %s\n", err.msg);
    return 1;
  }
  for (long i = 0; i < k; i++) {
    tm_ring_slot s;
    int rc = tm_ring_acquire(r, &s, 30000, &err);
    if (rc == 0) rc = tm_ring_slot_verify(r, &s, &err);
    if (rc == 0) rc = tm_ring_release(r, &err);
    if (rc != 0) {
      fprintf(stderr, "ring_hold: batch %ld: %s\n", i, rc > 0 ? "the producer finished" : err.msg);
      tm_ring_close(r, 0);
      return 1;
    }
  }
  printf("consumed %ld\n", k);
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  tm_ring_close(r, 0);
  return 0;
}
