/* ring.h - the shared-memory ring between a feeder and one trainer process.
 *
 * One POSIX shared-memory object per consumer, named "/tokenmill.<name>.<rank>"
 * (mode 0600, in /dev/shm). One producer (`tokenmill feed`, `tokenmill serve`)
 * writes batches into fixed-size slots; one consumer (`tokenmill-train`)
 * reads them in place and releases them. The only copy is the producer's,
 * from the shard into the slot.
 *
 * Layout (format version 1, all integers native-endian, both sides on the
 * same host):
 *
 *   page 0 (the header; each group on its own 64-byte cache line)
 *     geometry : magic "TMRING\0\1", version, owner uid, n_slots, slot_bytes,
 *                total bytes, offsets of the slot-header table and payloads
 *     info     : vocab_size, token_width, batch (B), seq_len (T), eot_id,
 *                tokenizer_hash, heartbeat timeout, flags (no checksum)
 *     producer : head (slots published, monotonic), data futex word, owner
 *                word (pid << 32 | low 32 bits of /proc start time),
 *                heartbeat (CLOCK_MONOTONIC_COARSE ns), waiting flag, ack epoch
 *     consumer : read (slots acquired), tail (slots released), space futex
 *                word, owner word, heartbeat, waiting flag, attach epoch
 *     cursors  : the consumer's resume cursor (+ valid flag), the cursor of
 *                the last released slot; the state word
 *   slot-header table: n_slots x 64 bytes (sequence number, data cursor,
 *                token count, checksum)
 *   payloads : n_slots x slot_bytes, each page aligned
 *
 * Positions are 64-bit counters that never wrap; slot i lives at index
 * i % n_slots. Invariant: tail <= read <= tail + 1 <= head + 1 and
 * head - tail <= n_slots. A slot is published with a release store of head
 * (after its header and tokens are written) and freed with a release store
 * of tail, so neither side ever sees a half-written slot.
 *
 * Waiting: a short bounded spin (~2 us, none right after waking the peer;
 * TM_RING_SPIN lengthens it to ~1 ms, yielding, for when both sides own a
 * core), then FUTEX_WAIT on a shared futex word; the waker calls FUTEX_WAKE
 * only when the other side announced that it sleeps. No busy loop
 * on an idle ring: a sleeping side wakes only when woken or every
 * timeout/4 to beat its heartbeat and check its peer.
 *
 * Liveness: each side records its owner word (pid + process start time, so
 * a recycled pid is not mistaken for the peer) and a heartbeat. Every ring
 * call beats; a process that may spend longer than the timeout between ring
 * calls (a trainer step) starts the heartbeat thread. A peer is dead when
 * /proc/<pid> is gone, a zombie, or has another start time; it is hung when
 * its heartbeat is older than the timeout (default 2 s). Either is reported
 * as -TM_EPEER by a waiting call within the timeout, never waited on forever.
 *
 * Crashes and restarts:
 *  - Consumer dies: the producer's tm_ring_reserve reports -TM_EPEER
 *    ("consumer dead"); the producer keeps the published slots and may keep
 *    calling tm_ring_reserve, which waits for a reattach. A consumer that
 *    reattaches without a cursor continues at the first unreleased slot: a
 *    slot acquired but not released by the dead consumer is delivered again,
 *    a released one never.
 *  - Consumer restarts from a checkpoint: it passes the cursor of its last
 *    consumed batch to tm_ring_attach. The producer's next tm_ring_reserve
 *    drops the unconsumed slots and returns TM_RING_RESEEK with that cursor
 *    (unless the ring already continues right after it: the cursor equals
 *    that of the last released slot); the consumer receives nothing until
 *    the producer has handled the attach.
 *  - Producer dies: the consumer's tm_ring_acquire reports -TM_EPEER
 *    ("producer dead") within the timeout, and keeps reporting it until a new
 *    producer takes the ring over. The consumer may drain the slots already
 *    published meanwhile.
 *  - Producer restarts: tm_ring_create on an existing ring with a dead
 *    producer and the same geometry takes it over, keeping the published
 *    slots; tm_ring_producer_cursor says where to continue (the cursor of
 *    the last published slot, or the resume cursor of a consumer that
 *    reattached before the takeover, unless the ring already continues
 *    right after it: then the kept slots follow it and the last published
 *    one is where to continue).
 *  - Stale rings (both sides dead): tm_ring_create reuses the object when
 *    the geometry matches, else unlinks it and creates a fresh one; an
 *    object left half-created (zero header) by a creator that died is
 *    replaced too.
 *  - A second live consumer (or producer) is refused with -TM_EEXIST naming
 *    the live pid.
 *
 * All functions return 0 (or the positive codes documented below) on
 * success, and a negative TM_E* code with a message naming the ring on
 * failure. A tm_ring handle is used by one thread at a time (the heartbeat
 * thread excepted).
 */
#ifndef TM_RING_H
#define TM_RING_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define TM_RING_VERSION 1
#define TM_RING_NAME_MAX 200
#define TM_RING_DEFAULT_TIMEOUT_MS 2000

/* positive results */
#define TM_RING_END 1    /* tm_ring_acquire: the producer finished, ring drained */
#define TM_RING_RESEEK 2 /* tm_ring_reserve: continue from the consumer's cursor */

/* flags for tm_ring_create / tm_ring_attach */
#define TM_RING_SPIN 1u      /* spin up to ~1 ms before sleeping (both sides own a core) */
#define TM_RING_RECREATE 2u  /* create: replace an object with another magic or version
                              * (never one owned by another user) */
#define TM_RING_NO_CHECKSUM 8u /* create: slots carry checksum 0 and verify checks only
                                * the token ids (recorded in the header); the
                                * checksum is cheap when the producer writes with
                                * tm_ring_write (accumulated from the registers the
                                * copy loads) or tm_ring_seal (while the bytes are
                                * in cache), this saves the rest */

/* Data cursor: where a batch sits in the feeder's deterministic order.
 * `window` is the number of global windows of the pass consumed once this
 * batch's global batch is done, i.e. the position to resume from. Resuming
 * at a cursor gives exactly the batches that followed it. */
typedef struct tm_ring_cursor {
  uint64_t seed;
  uint64_t pass;
  uint64_t generation; /* manifest generation frozen at the start of the pass */
  uint64_t window;     /* global window index to continue from */
} tm_ring_cursor;

/* What the consumer needs to know without reading shards, plus geometry. */
typedef struct tm_ring_params {
  uint32_t n_slots;     /* >= 2 */
  uint64_t slot_bytes;  /* payload capacity of a slot, >= batch*(seq_len+1)*token_width */
  uint32_t vocab_size;
  uint32_t token_width; /* 2 or 4 */
  uint32_t batch;       /* B: windows per slot */
  uint32_t seq_len;     /* T: a window is T+1 tokens */
  uint32_t eot_id;
  uint64_t tokenizer_hash;
  uint32_t timeout_ms;  /* liveness timeout, 0 = TM_RING_DEFAULT_TIMEOUT_MS */
} tm_ring_params;

/* A slot as seen by either side. tokens points into the shared mapping. */
typedef struct tm_ring_slot {
  uint64_t seq;          /* 0, 1, 2, ... in publish order since the ring was created */
  tm_ring_cursor cursor; /* data cursor of the batch (set by the producer) */
  uint64_t n_tokens;     /* tokens stored (B*(T+1) for a full batch) */
  uint64_t checksum;     /* XXH3-64 of the n_tokens*token_width payload bytes */
  void *tokens;          /* token_width bytes each, little endian */
  uint64_t capacity;     /* bytes available at tokens (slot_bytes) */
} tm_ring_slot;

typedef struct tm_ring tm_ring;

/* Shared-memory object name for (name, rank) into out: "/tokenmill.NAME.RANK".
 * NAME is [A-Za-z0-9_-]{1,TM_RING_NAME_MAX}. */
int tm_ring_shm_name(char *out, size_t cap, const char *name, unsigned rank, tm_error *err);

/* Default params for a batch geometry: token_width from vocab_size, slot_bytes
 * = B*(T+1)*width rounded up to a page, 4 slots, default timeout. */
void tm_ring_params_for(tm_ring_params *p, uint32_t vocab_size, uint32_t batch, uint32_t seq_len,
                        uint32_t eot_id, uint64_t tokenizer_hash);

/* ---- producer ------------------------------------------------------------- */

/* Create the ring (name, rank) as its producer, or take over an existing one:
 *  - none exists: created fresh (mode 0600);
 *  - exists, another owner uid: -TM_EINVAL (refused);
 *  - exists with a live producer: -TM_EEXIST (refused);
 *  - exists, producer dead, same geometry and info: taken over, slots kept;
 *  - exists, different geometry: recreated if no live consumer, else
 *    -TM_EINVAL naming both geometries;
 *  - bad magic/version: -TM_EFORMAT unless flags has TM_RING_RECREATE.
 * A fresh ring's memory is allocated at once: /dev/shm without room for it
 * is -TM_EIO (sys_errno ENOSPC) here rather than a SIGBUS at the first
 * write. Both sides map the ring populated (no page faults in the data
 * path). The result is 0 for a fresh ring and 1 (still success) when an
 * existing one was taken over. */
int tm_ring_create(tm_ring **out, const char *name, unsigned rank, const tm_ring_params *p,
                   unsigned flags, tm_error *err);

/* Where the producer of a taken-over ring continues: the resume cursor of a
 * pending consumer attach when the ring will reseek to it (the next
 * tm_ring_reserve returns TM_RING_RESEEK with it), else the cursor of the
 * last published slot (also when the pending resume cursor equals the
 * consumed cursor: the kept slots already follow it). Returns 1 and fills
 * *c when there is one, 0 (fresh ring, nothing published or consumed). */
int tm_ring_producer_cursor(tm_ring *r, tm_ring_cursor *c);

/* Wait (up to timeout_ms, -1 = forever) for a free slot and point *slot at
 * it. Returns
 *   0               slot->tokens may be written (capacity bytes);
 *   TM_RING_RESEEK  a consumer attached with a resume cursor: the unconsumed
 *                   slots were dropped; *reseek (may be NULL) receives the
 *                   cursor; continue producing from there and call again;
 *   -TM_EAGAIN      timeout (ring full, consumer alive);
 *   -TM_EPEER       the consumer is dead, hung or not attached after the
 *                   liveness timeout (the message says which); call again to
 *                   keep waiting for a (re)attach.
 * A consumer that never attached is not an error while the ring has free
 * slots: the producer can fill the ring ahead of it. */
int tm_ring_reserve(tm_ring *r, tm_ring_slot *slot, tm_ring_cursor *reseek, int timeout_ms,
                    tm_error *err);

/* Copy bytes from src into the reserved slot at offset (offset + bytes <=
 * capacity; -TM_EINVAL otherwise, -TM_ESTATE without a reserved slot).
 * Writes that continue where the previous ones ended (offset 0, then the end
 * of the last write, or of the last seal) fold the slot's checksum in as
 * they copy, in one pass: each 64-byte piece loaded from src is stored to
 * the slot and accumulated into XXH3 from the same register (AVX-512; other
 * CPUs copy 8 KiB and hash it from L1), so publish needs no second pass,
 * which for slots larger than L2 would read the slot back from memory. The
 * last 1..64 bytes of such a write are accumulated from the slot by the
 * next write or seal, or at publish. Any other write is a plain copy
 * (publish then hashes the bytes not folded, from the slot; rewriting folded
 * bytes makes publish hash the whole slot). Bytes written through
 * tm_ring_write must not be changed through slot->tokens afterwards. */
int tm_ring_write(tm_ring *r, uint64_t offset, const void *src, uint64_t bytes, tm_error *err);

/* For a producer that writes slot->tokens itself, front to back: bytes
 * [0, upto) of the reserved slot are final, fold them into the checksum now
 * while they are in cache, read from the slot (done once at least 4 KiB are
 * new; publish folds the rest). They must not change afterwards. A later
 * tm_ring_write at offset upto continues the fold. Optional: without it
 * publish hashes the slot in one pass. -TM_EINVAL when upto exceeds the
 * capacity. */
int tm_ring_seal(tm_ring *r, uint64_t upto, tm_error *err);

/* Publish the reserved slot: n_tokens tokens were written, cursor is the
 * batch's data cursor. Completes the checksum (XXH3-64 of the n_tokens *
 * token_width payload bytes: accumulating from the slot what tm_ring_write /
 * tm_ring_seal did not fold in, or hashing the whole slot when folded bytes
 * were rewritten or fewer bytes are published than were folded), then makes
 * the slot visible (release store) and wakes a sleeping consumer. */
int tm_ring_publish(tm_ring *r, uint64_t n_tokens, const tm_ring_cursor *cursor, tm_error *err);

/* The producer has no more batches: the consumer gets TM_RING_END after the
 * published slots. */
int tm_ring_finish(tm_ring *r, tm_error *err);

/* Wait up to timeout_ms (-1 forever) until the consumer released every
 * published slot (0), died (-TM_EPEER) or the time ran out (-TM_EAGAIN). */
int tm_ring_drain(tm_ring *r, int timeout_ms, tm_error *err);

/* ---- consumer ------------------------------------------------------------- */

/* Attach to ring (name, rank) as its consumer, waiting up to wait_ms for it
 * to appear (0 = do not wait; -TM_ENOTFOUND if absent). Checks magic,
 * version and owner uid. When expect is non-NULL its nonzero geometry and
 * info fields (n_slots, slot_bytes, vocab_size, token_width, batch, seq_len,
 * eot_id, tokenizer_hash) must match: a mismatch is -TM_EINVAL naming the
 * field and both values. A second live consumer is -TM_EEXIST. resume (may
 * be NULL) is the cursor of the last batch the consumer consumed (from its
 * checkpoint): the producer continues right after it. */
int tm_ring_attach(tm_ring **out, const char *name, unsigned rank, const tm_ring_params *expect,
                   const tm_ring_cursor *resume, unsigned flags, int wait_ms, tm_error *err);

/* Wait (up to timeout_ms, -1 = forever) for the next batch. Returns
 *   0            *slot describes it, valid until tm_ring_release;
 *   TM_RING_END  the producer finished and every batch was consumed;
 *   -TM_EAGAIN   timeout, producer alive;
 *   -TM_EPEER    "producer dead" / "producer hung" (detected within the
 *                liveness timeout); slots already published are still
 *                delivered first; call again to wait for a new producer;
 *   -TM_ESTATE   a slot is already held (release it first).
 */
int tm_ring_acquire(tm_ring *r, tm_ring_slot *slot, int timeout_ms, tm_error *err);

/* Check a slot's checksum and token ids (< vocab_size): -TM_ECORRUPT naming
 * the ring, sequence number and token index otherwise (a checksum mismatch
 * first). One pass over the slot, in chunks that stay in L1. */
int tm_ring_slot_verify(const tm_ring *r, const tm_ring_slot *slot, tm_error *err);

/* Release the held slot to the producer (it counts as consumed: its cursor
 * becomes the ring's consumed cursor). */
int tm_ring_release(tm_ring *r, tm_error *err);

/* The cursor of the last released slot; 1 and *c filled, 0 if none yet. */
int tm_ring_consumed_cursor(tm_ring *r, tm_ring_cursor *c);

/* ---- both sides ----------------------------------------------------------- */

/* The ring's params (geometry and info) as stored in its header. */
void tm_ring_get_params(const tm_ring *r, tm_ring_params *p);
/* "/tokenmill.NAME.RANK" */
const char *tm_ring_name(const tm_ring *r);
/* 1 when slots carry checksums (the ring was not made with TM_RING_NO_CHECKSUM). */
int tm_ring_checksummed(const tm_ring *r);

/* Beat this side's heartbeat now (every ring call also does). */
void tm_ring_beat(tm_ring *r);
/* Start a thread that beats every timeout/4 until tm_ring_close: for a side
 * that may spend longer than the timeout between ring calls. */
int tm_ring_start_heartbeat(tm_ring *r, tm_error *err);

/* Check the peer now: 0 alive, -TM_EPEER dead/hung/absent (message says). */
int tm_ring_peer_alive(tm_ring *r, tm_error *err);

/* Detach (clearing this side's owner word so a successor is accepted at
 * once), unmap, and free r. With unlink_shm the name is removed too (the
 * mapping of a still-attached peer stays valid). NULL is fine. */
void tm_ring_close(tm_ring *r, int unlink_shm);

/* Remove the object (name, rank) if it exists and no live process owns
 * either side: 1 removed, 0 absent, -TM_EEXIST in use. */
int tm_ring_unlink_stale(const char *name, unsigned rank, tm_error *err);

#endif
