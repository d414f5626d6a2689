/* ring_consume.c - a minimal ring consumer for the script tests:
 *   ring_consume NAME RANK MAX
 * attaches to /tokenmill.NAME.RANK (waiting up to 10 s), verifies and
 * releases up to MAX batches (0: until the producer finishes) and prints
 * one line per batch: "seq pass generation window checksum". Exit 0, or 1
 * with the ring's error message. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ring.h"

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: ring_consume NAME RANK MAX\n");
    return 2;
  }
  unsigned rank = (unsigned)strtoul(argv[2], NULL, 10);
  uint64_t max = strtoull(argv[3], NULL, 10);
  tm_error err = {0};
  tm_ring *r;
  if (tm_ring_attach(&r, argv[1], rank, NULL, NULL, 0, 10000, &err) < 0) {
    fprintf(stderr, "ring_consume: %s\n", err.msg);
    return 1;
  }
  int rc = 0;
  for (uint64_t n = 0; !max || n < max; n++) {
    tm_ring_slot s;
    rc = tm_ring_acquire(r, &s, 20000, &err);
    if (rc == TM_RING_END) {
      rc = 0;
      break;
    }
    if (rc == 0) rc = tm_ring_slot_verify(r, &s, &err);
    if (rc < 0) break;
    printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %016" PRIx64 "\n", s.seq,
           s.cursor.pass, s.cursor.generation, s.cursor.window, s.checksum);
    if ((rc = tm_ring_release(r, &err)) < 0) break;
  }
  if (rc < 0) fprintf(stderr, "ring_consume: %s\n", err.msg);
  tm_ring_close(r, 0);
  return rc < 0 ? 1 : 0;
}
