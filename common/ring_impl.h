/* ring_impl.h - the ring's private layout and helpers, shared by ring.c
 * (the data path: waits, reserve/publish, acquire/release) and ring_open.c
 * (create, attach, take over, close). The layout is described in ring.h.
 */
#ifndef TM_RING_IMPL_H
#define TM_RING_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h"
#include "ring_proc.h"

#define RING_MAGIC "TMRING\0\1"
#define RING_PAGE 4096u
/* The default spin is short: right after waking the peer, a spinning side
 * can hold the very CPU the scheduler queued the peer on (wake-affine), so a
 * long spin delays the wake-up it waits for. The long spin of TM_RING_SPIN
 * yields the CPU every few iterations for the same reason. */
#define SPIN_NS_DEFAULT 2000ull    /* 2 us */
#define SPIN_NS_LONG 1000000ull    /* 1 ms with TM_RING_SPIN */
/* A spin adapted to the last wait (up to 150 us, so that a steady stream
 * needs no FUTEX_WAKE per batch, about 5 us of the waker's time in this VM)
 * was measured and not kept: on the shared 2-core machine the ring was no
 * faster with it (256 KiB - 4 MiB slots) and the consumer used more CPU. */

enum { STATE_ACTIVE = 1, STATE_FINISHED = 2 };

typedef struct ring_side {
  uint64_t pos;       /* producer: head; consumer: read */
  uint64_t pos2;      /* consumer: tail; producer: unused */
  uint64_t owner;     /* pid << 32 | start time */
  uint64_t heartbeat; /* CLOCK_MONOTONIC_COARSE ns */
  uint64_t epoch;     /* producer: ack_epoch; consumer: attach_epoch */
  uint32_t futex;     /* producer: data futex; consumer: space futex */
  uint32_t waiting;   /* this side sleeps in FUTEX_WAIT */
} ring_side;

typedef struct ring_cursors {
  uint32_t state;
  uint32_t resume_valid;
  uint32_t consumed_lock; /* seqlock: odd while the consumed cursor is written */
  uint32_t consumed_valid;
  tm_ring_cursor resume;
  tm_ring_cursor consumed;
} ring_cursors;

typedef struct ring_header {
  _Alignas(64) struct {
    char magic[8];
    uint32_t version;
    uint32_t owner_uid;
    uint32_t n_slots;
    uint32_t header_bytes;
    uint64_t slot_bytes;
    uint64_t total_bytes;
    uint64_t slot_hdr_off;
    uint64_t payload_off;
    uint64_t payload_stride;
  } geo;
  _Alignas(64) struct {
    uint32_t vocab_size, token_width, batch, seq_len, eot_id, timeout_ms;
    uint64_t tokenizer_hash;
    uint32_t flags; /* TM_RING_NO_CHECKSUM */
  } info;
  _Alignas(64) ring_side prod;
  _Alignas(64) ring_side cons;
  _Alignas(64) ring_cursors cur;
} ring_header;

typedef struct ring_slot_hdr {
  _Alignas(64) uint64_t seq;
  tm_ring_cursor cursor;
  uint64_t n_tokens;
  uint64_t checksum;
} ring_slot_hdr;

_Static_assert(sizeof(ring_header) <= RING_PAGE, "ring header fits one page");
_Static_assert(sizeof(ring_slot_hdr) == 64, "slot header is one cache line");

struct tm_ring {
  char name[TM_RING_NAME_MAX + 32];
  ring_header *h;
  size_t map_bytes;
  int is_producer;
  unsigned flags;
  ring_side *me, *peer;
  uint64_t my_owner;
  uint64_t my_epoch;   /* consumer: the epoch of its attach */
  int need_ack;        /* consumer: attached with a cursor, not yet acked */
  int holding;         /* consumer: a slot is acquired; producer: reserved */
  uint64_t reported;   /* last reported peer trouble: owner word << 2 | kind */
  int has_reported;
  int woke_peer;       /* the last publish/release woke a sleeping peer: do not
                        * spin in the next wait, the peer needs this CPU */
  /* producer: the reserved slot's checksum, folded in while its bytes are
   * written (tm_ring_write, tm_ring_seal) rather than in a second pass over
   * a slot that no longer fits the cache (ring.c) */
  void *fold;          /* tm_ring_fold (ring_fold.h), 64-byte aligned, made on first use */
  uint64_t folded;     /* bytes [0, folded) of the reserved slot are final and folded
                        * in (the stripe they end in at the next write/seal/publish) */
  int fold_mode;       /* FOLD_NONE / FOLD_ON / FOLD_OFF */
  uint64_t timeout_ns;
  pthread_t hb_thread;
  int hb_running;
  pthread_mutex_t hb_mu;
  pthread_cond_t hb_cv;
  int hb_stop;
};

enum { FOLD_NONE = 0, FOLD_ON = 1, FOLD_OFF = 2 }; /* FOLD_OFF: publish hashes it all */

/* Free the producer's checksum state (ring.c); called by tm_ring_close. */
void tm_ringi_fold_free(tm_ring *r);

/* ---- small helpers ---------------------------------------------------------- */

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define LOAD_SC(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE_SC(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

static inline uint64_t tm_ringi_round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static inline ring_slot_hdr *tm_ringi_slot_hdr(const tm_ring *r, uint64_t pos) {
  return (ring_slot_hdr *)((char *)r->h + r->h->geo.slot_hdr_off) + pos % r->h->geo.n_slots;
}

static inline void *tm_ringi_payload(const tm_ring *r, uint64_t pos) {
  return (char *)r->h + r->h->geo.payload_off + (pos % r->h->geo.n_slots) * r->h->geo.payload_stride;
}

/* Side `from` changed something `to` may wait for: bump from's futex word
 * (the peer sleeps on it) and wake it if it announced that it sleeps.
 * Returns 1 when a FUTEX_WAKE was issued. */
static inline int tm_ringi_wake(ring_side *from, ring_side *to) {
  __atomic_fetch_add(&from->futex, 1, __ATOMIC_SEQ_CST);
  if (!LOAD_SC(&to->waiting)) return 0;
  tm_futex_wake_all(&from->futex);
  return 1;
}

#endif
