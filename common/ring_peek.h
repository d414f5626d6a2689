/* ring_peek.h - a read-only look at a ring's header, without attaching.
 *
 * For monitors (`tokenmill serve`'s /metrics and /status): how far the
 * producer and the consumer of /tokenmill.NAME.RANK are, whether each side
 * lives, and the consumer's cursors. The object is opened O_RDONLY and only
 * its header page is mapped PROT_READ, so a peek never changes the ring,
 * never counts as a side, and cannot disturb a running feeder or trainer.
 * The positions are read with acquire loads, each consistent on its own
 * (the two sides move on while they are read: a snapshot, not a
 * transaction). See ring.h for the layout this reads.
 */
#ifndef TM_RING_PEEK_H
#define TM_RING_PEEK_H

#include <stdint.h>

#include "error.h"
#include "ring.h"

/* A side's liveness as a monitor sees it. */
enum {
  TM_RING_SIDE_ABSENT = 0, /* no owner recorded (never attached, or detached) */
  TM_RING_SIDE_ALIVE = 1,  /* the process lives and its heartbeat is within the timeout */
  TM_RING_SIDE_DEAD = 2,   /* the recorded process is gone (or its pid was recycled) */
  TM_RING_SIDE_HUNG = 3    /* the process lives, its heartbeat is older than the timeout */
};

typedef struct tm_ring_peek_info {
  tm_ring_params params; /* geometry and info of the header */
  uint64_t published;    /* slots published by the producer since the ring was made */
  uint64_t acquired;     /* slots the consumer acquired */
  uint64_t consumed;     /* slots the consumer released (consumed batches) */
  int finished;          /* the producer called tm_ring_finish */
  int producer, consumer;                 /* TM_RING_SIDE_* */
  uint32_t producer_pid, consumer_pid;    /* 0 when absent */
  double producer_heartbeat_age_s, consumer_heartbeat_age_s; /* -1 when absent */
  int consumed_valid;             /* consumed_cursor holds the last released batch's cursor */
  tm_ring_cursor consumed_cursor;
  int resume_valid;               /* the consumer attached with this resume cursor */
  tm_ring_cursor resume_cursor;
} tm_ring_peek_info;

/* Peek at ring (name, rank). 0 and *out filled; -TM_ENOTFOUND when the
 * object does not exist; -TM_EFORMAT for a short object, another magic or
 * version, or a header that contradicts itself (the message names the ring
 * and the field); -TM_EINVAL for a bad name; -TM_EIO (errno's text) when it
 * cannot be opened or mapped. */
int tm_ring_peek(const char *name, unsigned rank, tm_ring_peek_info *out, tm_error *err);

/* The name of a TM_RING_SIDE_* state: "absent", "alive", "dead", "hung". */
const char *tm_ring_side_name(int state);

#endif
