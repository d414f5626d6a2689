/* ring.c - the ring's data path: waits, reserve/publish, acquire/release.
 * Creating, attaching and closing are in ring_open.c; the contract and
 * layout in ring.h, the private structures in ring_impl.h.
 *
 * Concurrency rules (one producer, one consumer, in different processes):
 *  - head, ack_epoch, the producer owner/heartbeat and the slot headers and
 *    payloads of unpublished slots are written by the producer only;
 *  - read, tail, attach_epoch, the resume and consumed cursors and the
 *    consumer owner/heartbeat by the consumer only (owner words change hands
 *    by compare-and-swap, so two candidates never both win);
 *  - the one exception is the reseek: the producer moves head back to tail,
 *    which is safe because the consumer that asked for it waits for the ack
 *    before it reads head again.
 * Wakeups follow the Dekker pattern: the sleeper sets its waiting flag and
 * re-checks its condition (both seq_cst) before FUTEX_WAIT on a word it
 * loaded earlier; the waker changes the condition, bumps the futex word and
 * then reads the flag (seq_cst). One of the two always sees the other.
 */
#include "ring.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* XXH3 compiled here (inline) rather than called in the shared library:
 * with the build's -march it vectorises for this CPU (measured 13.8 GB/s
 * against 5.0 for Debian's SSE2 libxxhash on 4 KiB slots); same hash values. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "log.h"
#include "ring_fold.h"
#include "ring_impl.h"
#include "ring_proc.h"

void tm_ring_beat(tm_ring *r) {
  if (r) STORE(&r->me->heartbeat, tm_proc_coarse_ns());
}

/* The consumed cursor under its seqlock. A consumer killed in the middle of
 * a release leaves the lock odd: after a bounded wait the cursor counts as
 * unknown (0 in *valid) rather than spinning forever. */
static void read_consumed(const ring_header *h, tm_ring_cursor *c, int *valid) {
  for (unsigned tries = 0;; tries++) {
    if (tries > (1u << 16)) {
      *valid = 0;
      memset(c, 0, sizeof *c);
      return;
    }
    uint32_t s1 = LOAD(&h->cur.consumed_lock);
    if (s1 & 1) {
      tm_cpu_relax();
      continue;
    }
    *valid = (int)LOAD(&h->cur.consumed_valid);
    memcpy(c, (const void *)&h->cur.consumed, sizeof *c);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (LOAD(&h->cur.consumed_lock) == s1) return;
  }
}

int tm_ring_consumed_cursor(tm_ring *r, tm_ring_cursor *c) {
  int valid;
  read_consumed(r->h, c, &valid);
  return valid ? 1 : 0;
}

static int cursor_eq(const tm_ring_cursor *a, const tm_ring_cursor *b) {
  return a->seed == b->seed && a->pass == b->pass && a->generation == b->generation &&
         a->window == b->window;
}

/* A consumer attach not yet handled by the producer, with a resume cursor
 * that the ring does not already continue after: the producer must drop the
 * unconsumed slots and continue from *want. Returns 1 then, else 0 (no
 * attach pending, none with a cursor, or the cursor equals the consumed
 * cursor, so the published slots are exactly what follows it). The one rule
 * for both tm_ring_producer_cursor and handle_attach: were they to differ, a
 * producer taking over a ring would start at the resume cursor while the
 * ring keeps the slots after it, publishing those batches twice. The
 * consumer does not release anything while its attach is pending, so the
 * consumed cursor is stable here. */
static int attach_needs_reseek(const ring_header *h, tm_ring_cursor *want) {
  if (LOAD(&h->cons.epoch) == LOAD(&h->prod.epoch) || !LOAD(&h->cur.resume_valid)) return 0;
  memcpy(want, (const void *)&h->cur.resume, sizeof *want);
  tm_ring_cursor have;
  int valid;
  read_consumed(h, &have, &valid);
  return !(valid && cursor_eq(want, &have));
}

int tm_ring_producer_cursor(tm_ring *r, tm_ring_cursor *c) {
  ring_header *h = r->h;
  if (attach_needs_reseek(h, c)) return 1;
  uint64_t head = LOAD(&h->prod.pos);
  if (head == 0) {
    int valid;
    read_consumed(h, c, &valid);
    return valid ? 1 : 0;
  }
  memcpy(c, &tm_ringi_slot_hdr(r, head - 1)->cursor, sizeof *c);
  return 1;
}

/* ---- waiting ------------------------------------------------------------------ */

typedef int (*ring_cond)(tm_ring *r);

/* 0 alive; -TM_EPEER (message filled) when the peer is dead or hung, or has
 * been absent for longer than the liveness timeout since `since`. */
static int peer_check(tm_ring *r, uint64_t since, uint64_t *owner_out, int *kind,
                      tm_error *err) {
  const char *who = r->is_producer ? "consumer" : "producer";
  uint64_t owner = LOAD(&r->peer->owner);
  int st = tm_proc_owner_status(owner);
  uint64_t now = tm_proc_now_ns();
  *owner_out = owner;
  *kind = st == TM_PROC_ALIVE ? 3 : st; /* 1 alive-but-hung is 3; absent 0, dead 2 */
  if (st == TM_PROC_DEAD)
    return tm_err(err, TM_EPEER, "ring %s: %s dead (pid %u is gone)", r->name, who,
                  tm_proc_owner_pid(owner));
  if (st == TM_PROC_ABSENT) {
    if (now - since > r->timeout_ns)
      return tm_err(err, TM_EPEER, "ring %s: no %s attached for %.1f s", r->name, who,
                    (double)(now - since) / 1e9);
    return 0;
  }
  uint64_t hb = LOAD(&r->peer->heartbeat), nowc = tm_proc_coarse_ns();
  if (hb < nowc && nowc - hb > r->timeout_ns)
    return tm_err(err, TM_EPEER, "ring %s: %s hung (pid %u, heartbeat %.1f s old, timeout %.1f s)",
                  r->name, who, tm_proc_owner_pid(owner), (double)(nowc - hb) / 1e9,
                  (double)r->timeout_ns / 1e9);
  return 0;
}

int tm_ring_peer_alive(tm_ring *r, tm_error *err) {
  tm_ring_beat(r);
  uint64_t owner;
  int kind;
  return peer_check(r, 0, &owner, &kind, err);
}

/* Wait until cond(r) is true, sleeping on the peer's futex word.
 * Returns 0, -TM_EAGAIN (timeout) or -TM_EPEER. */
static int ring_wait(tm_ring *r, ring_cond cond, int timeout_ms, tm_error *err) {
  if (cond(r)) {
    r->has_reported = 0;
    return 0;
  }
  uint64_t start = tm_proc_now_ns();
  uint64_t spin = (r->flags & TM_RING_SPIN) ? SPIN_NS_LONG : SPIN_NS_DEFAULT;
  if ((r->woke_peer && !(r->flags & TM_RING_SPIN)) || timeout_ms == 0) spin = 0;
  r->woke_peer = 0;
  for (unsigned i = 0; spin; i++) {
    if (cond(r)) {
      r->has_reported = 0;
      return 0;
    }
    tm_cpu_relax();
    if ((i & 15) == 15) {
      if (tm_proc_now_ns() - start > spin) break;
      if (r->flags & TM_RING_SPIN) sched_yield();
    }
  }
  uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : start + (uint64_t)timeout_ms * 1000000ull;
  uint64_t slice = r->timeout_ns / 4;
  if (slice == 0) slice = 1000000;
  uint32_t *word = &r->peer->futex; /* bumped by the peer on every change */
  int peer_rc = 0;
  for (;;) {
    uint32_t v = LOAD_SC(word);
    STORE_SC(&r->me->waiting, 1u);
    if (cond(r)) {
      STORE_SC(&r->me->waiting, 0u);
      r->has_reported = 0;
      return 0;
    }
    uint64_t now = tm_proc_now_ns();
    if (now >= deadline) {
      STORE_SC(&r->me->waiting, 0u);
      if (peer_rc < 0) return peer_rc;
      return tm_err(err, TM_EAGAIN, "ring %s: timed out after %d ms", r->name, timeout_ms);
    }
    uint64_t t = deadline - now < slice ? deadline - now : slice;
    tm_futex_wait(word, v, t);
    STORE_SC(&r->me->waiting, 0u);
    tm_ring_beat(r);
    if (cond(r)) {
      r->has_reported = 0;
      return 0;
    }
    uint64_t owner_seen;
    int kind;
    peer_rc = peer_check(r, start, &owner_seen, &kind, err);
    if (peer_rc < 0) {
      /* report trouble with the peer at once; the same trouble again (the same
       * dead pid) only when the caller's timeout ends, so that a caller
       * waiting for a successor does not spin */
      uint64_t key = (owner_seen << 2) | (uint64_t)kind;
      if (!r->has_reported || key != r->reported) {
        r->reported = key;
        r->has_reported = 1;
        return peer_rc;
      }
    } else {
      r->has_reported = 0;
    }
  }
}

/* ---- producer: data path ---------------------------------------------------- */

static int cond_space_or_attach(tm_ring *r) {
  ring_header *h = r->h;
  if (LOAD(&h->cons.epoch) != LOAD(&h->prod.epoch)) return 1;
  return LOAD(&h->prod.pos) - LOAD(&h->cons.pos2) < h->geo.n_slots;
}

/* Handle a consumer (re)attach. Returns 1 when the producer must reseek. */
static int handle_attach(tm_ring *r, tm_ring_cursor *reseek) {
  ring_header *h = r->h;
  uint64_t e = LOAD(&h->cons.epoch);
  if (e == LOAD(&h->prod.epoch)) return 0;
  tm_ring_cursor want;
  int need = attach_needs_reseek(h, &want);
  if (need) {
    STORE(&h->prod.pos, LOAD(&h->cons.pos2));
    if (reseek) *reseek = want;
  }
  tm_info("ring_attach", "ring=%s consumer_pid=%u reseek=%d", r->name,
          tm_proc_owner_pid(LOAD(&h->cons.owner)), need);
  STORE_SC(&h->prod.epoch, e);
  tm_ringi_wake(&h->prod, &h->cons);
  return need;
}

int tm_ring_reserve(tm_ring *r, tm_ring_slot *slot, tm_ring_cursor *reseek, int timeout_ms,
                    tm_error *err) {
  if (!r->is_producer) return tm_err(err, TM_ESTATE, "ring %s: reserve on a consumer", r->name);
  tm_ring_beat(r);
  for (;;) {
    if (handle_attach(r, reseek)) {
      r->holding = 0;
      return TM_RING_RESEEK;
    }
    int rc = ring_wait(r, cond_space_or_attach, timeout_ms, err);
    if (rc < 0) return rc;
    if (LOAD(&r->h->cons.epoch) != LOAD(&r->h->prod.epoch)) continue;
    break;
  }
  uint64_t head = LOAD(&r->h->prod.pos);
  slot->seq = head;
  memset(&slot->cursor, 0, sizeof slot->cursor);
  slot->n_tokens = 0;
  slot->checksum = 0;
  slot->tokens = tm_ringi_payload(r, head);
  slot->capacity = r->h->geo.slot_bytes;
  r->holding = 1;
  r->folded = 0;
  r->fold_mode = FOLD_NONE;
  return 0;
}

/* ---- producer: the checksum folded in while the slot is written --------------
 *
 * A slot of 1 MiB or more does not stay in L2 between the copy into it and a
 * checksum pass at publish: hashing it then reads it back from L3/DRAM, and
 * even an 8 KiB copy-then-hash from L1 costs the copy a second pass.
 * tm_ring_write copies through tm_ring_fold_copy (ring_fold.h), which
 * accumulates XXH3's stripes from the registers the copy loads (fused
 * AVX-512 loop; a memcpy of 8 KiB then a hash from L1 elsewhere): one pass,
 * the hash on the ALU while the copy waits for memory. tm_ring_seal
 * accumulates the bytes a producer wrote itself, read from the slot, once it
 * wrote at least FOLD_MIN more. Publish accumulates from the slot what
 * was not folded (the stripe the last write ended in, bytes written out of
 * order) and finishes; the result is XXH3_64bits of the payload, as a single
 * pass would give and as the consumer's verify computes. */
#define FOLD_MIN (4u << 10)
/* Non-temporal stores for large writes were measured and not kept: the
 * producer's CPU time per byte was the same, but the consumer then read the
 * slot from DRAM (CPU per GB 90-110 ms against 68-83) and the ring ran at
 * 0.58-0.65x memcpy on 4 MiB slots against 0.65-0.82x with this copy. */

void tm_ringi_fold_free(tm_ring *r) {
  if (r) free(r->fold);
  if (r) r->fold = NULL;
}

/* Begin folding the reserved slot; 0 when there is no state (out of memory:
 * publish then hashes the slot in one pass, the result is the same). */
static int fold_begin(tm_ring *r) {
  if (!r->fold) r->fold = aligned_alloc(64, sizeof(tm_ring_fold));
  if (!r->fold) {
    r->fold_mode = FOLD_OFF;
    return 0;
  }
  tm_ring_fold_reset(r->fold);
  r->fold_mode = FOLD_ON;
  return 1;
}

static int fold_check(tm_ring *r, uint64_t offset, uint64_t bytes, const char *what,
                      tm_error *err) {
  if (!r->is_producer || !r->holding)
    return tm_err(err, TM_ESTATE, "ring %s: %s without a reserved slot", r->name, what);
  uint64_t cap = r->h->geo.slot_bytes;
  if (offset > cap || bytes > cap - offset)
    return tm_err(err, TM_EINVAL, "ring %s: %s of %llu bytes at offset %llu exceeds the %llu-byte slot",
                  r->name, what, (unsigned long long)bytes, (unsigned long long)offset,
                  (unsigned long long)cap);
  return 0;
}

int tm_ring_write(tm_ring *r, uint64_t offset, const void *src, uint64_t bytes, tm_error *err) {
  int rc = fold_check(r, offset, bytes, "write", err);
  if (rc < 0) return rc;
  char *slot = tm_ringi_payload(r, r->h->prod.pos);
  int fold = !(r->h->info.flags & TM_RING_NO_CHECKSUM) && r->fold_mode != FOLD_OFF &&
             offset == r->folded && bytes > 0;
  if (bytes > 0 && offset < r->folded) r->fold_mode = FOLD_OFF; /* folded bytes rewritten */
  if (fold && r->fold_mode == FOLD_NONE) fold = fold_begin(r);
  if (!fold) { /* out of order (or no checksum): publish hashes what is not folded */
    memcpy(slot + offset, src, (size_t)bytes);
    return 0;
  }
  tm_ring_fold_copy(r->fold, slot, src, (size_t)bytes);
  r->folded += bytes;
  return 0;
}

int tm_ring_seal(tm_ring *r, uint64_t upto, tm_error *err) {
  int rc = fold_check(r, 0, upto, "seal", err);
  if (rc < 0) return rc;
  if ((r->h->info.flags & TM_RING_NO_CHECKSUM) || r->fold_mode == FOLD_OFF ||
      upto < r->folded + FOLD_MIN)
    return 0;
  if (r->fold_mode == FOLD_NONE && !fold_begin(r)) return 0;
  tm_ring_fold_seal(r->fold, tm_ringi_payload(r, r->h->prod.pos), upto);
  r->folded = upto;
  return 0;
}

int tm_ring_publish(tm_ring *r, uint64_t n_tokens, const tm_ring_cursor *cursor, tm_error *err) {
  if (!r->is_producer || !r->holding)
    return tm_err(err, TM_ESTATE, "ring %s: publish without a reserved slot", r->name);
  ring_header *h = r->h;
  if (n_tokens > h->geo.slot_bytes / h->info.token_width)
    return tm_err(err, TM_EINVAL, "ring %s: %llu tokens do not fit a %llu-byte slot", r->name,
                  (unsigned long long)n_tokens, (unsigned long long)h->geo.slot_bytes);
  uint64_t bytes = n_tokens * h->info.token_width;
  uint64_t head = h->prod.pos;
  ring_slot_hdr *s = tm_ringi_slot_hdr(r, head);
  s->seq = head;
  s->cursor = *cursor;
  s->n_tokens = n_tokens;
  uint64_t sum = 0;
  if (!(h->info.flags & TM_RING_NO_CHECKSUM)) {
    const char *p = tm_ringi_payload(r, head);
    if (r->fold_mode == FOLD_ON && r->folded <= bytes) {
      sum = tm_ring_fold_digest(r->fold, p, bytes); /* finishes from the slot */
    } else {
      sum = XXH3_64bits(p, (size_t)bytes);
    }
  }
  s->checksum = sum;
  r->fold_mode = FOLD_NONE;
  r->folded = 0;
  r->holding = 0;
  STORE_SC(&h->prod.pos, head + 1);
  r->woke_peer = tm_ringi_wake(&h->prod, &h->cons);
  return 0;
}

int tm_ring_finish(tm_ring *r, tm_error *err) {
  if (!r->is_producer) return tm_err(err, TM_ESTATE, "ring %s: finish on a consumer", r->name);
  STORE_SC(&r->h->cur.state, (uint32_t)STATE_FINISHED);
  tm_ringi_wake(&r->h->prod, &r->h->cons);
  return 0;
}

static int cond_drained(tm_ring *r) {
  return LOAD(&r->h->cons.pos2) == LOAD(&r->h->prod.pos);
}

int tm_ring_drain(tm_ring *r, int timeout_ms, tm_error *err) {
  tm_ring_beat(r);
  return ring_wait(r, cond_drained, timeout_ms, err);
}

/* ---- consumer ---------------------------------------------------------------- */

static int cond_data(tm_ring *r) {
  ring_header *h = r->h;
  if (r->need_ack) {
    uint64_t a = LOAD(&h->prod.epoch);
    if (a < r->my_epoch) return 0;
    r->need_ack = 0;
  }
  if (LOAD(&h->prod.pos) > h->cons.pos) return 1;
  return LOAD(&h->cur.state) == STATE_FINISHED;
}

int tm_ring_acquire(tm_ring *r, tm_ring_slot *slot, int timeout_ms, tm_error *err) {
  if (r->is_producer) return tm_err(err, TM_ESTATE, "ring %s: acquire on a producer", r->name);
  if (r->holding)
    return tm_err(err, TM_ESTATE, "ring %s: acquire while holding slot %llu (release it first)",
                  r->name, (unsigned long long)r->h->cons.pos - 1);
  tm_ring_beat(r);
  ring_header *h = r->h;
  int rc = ring_wait(r, cond_data, timeout_ms, err);
  if (rc < 0) return rc;
  uint64_t rd = h->cons.pos;
  if (LOAD(&h->prod.pos) <= rd) return TM_RING_END; /* finished and drained */
  ring_slot_hdr *s = tm_ringi_slot_hdr(r, rd);
  slot->seq = s->seq;
  slot->cursor = s->cursor;
  slot->n_tokens = s->n_tokens;
  slot->checksum = s->checksum;
  slot->tokens = tm_ringi_payload(r, rd);
  slot->capacity = h->geo.slot_bytes;
  if (slot->seq != rd || slot->n_tokens > h->geo.slot_bytes / h->info.token_width)
    return tm_err(err, TM_ECORRUPT, "ring %s: slot %llu header is corrupt (seq %llu, %llu tokens)",
                  r->name, (unsigned long long)rd, (unsigned long long)slot->seq,
                  (unsigned long long)slot->n_tokens);
  STORE(&h->cons.pos, rd + 1);
  r->holding = 1;
  return 0;
}

/* The largest token id of n tokens (vectorised: no early exit). */
static uint32_t max_token(const char *p, size_t n, unsigned width) {
  uint32_t m = 0;
  if (width == 2) {
    for (size_t i = 0; i < n; i++) {
      uint16_t v;
      memcpy(&v, p + 2 * i, 2);
      m = v > m ? v : m;
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      uint32_t v;
      memcpy(&v, p + 4 * i, 4);
      m = v > m ? v : m;
    }
  }
  return m;
}

static uint32_t token_at(const char *p, uint64_t i, unsigned width) {
  if (width == 2) {
    uint16_t v;
    memcpy(&v, p + 2 * i, 2);
    return v;
  }
  uint32_t v;
  memcpy(&v, p + 4 * i, 4);
  return v;
}

/* One pass over the slot in chunks of VERIFY_CHUNK bytes: each chunk is
 * hashed and its token ids checked while it is in L1, so a slot larger than
 * the cache is read from memory once, not once per check. A checksum
 * mismatch is reported before a bad token id (as a whole-slot hash would). */
#define VERIFY_CHUNK (16u << 10)

int tm_ring_slot_verify(const tm_ring *r, const tm_ring_slot *slot, tm_error *err) {
  const ring_header *h = r->h;
  if (slot->n_tokens > h->geo.slot_bytes / h->info.token_width)
    return tm_err(err, TM_ECORRUPT, "ring %s: slot seq %llu: %llu tokens exceed the slot", r->name,
                  (unsigned long long)slot->seq, (unsigned long long)slot->n_tokens);
  unsigned width = h->info.token_width;
  uint64_t bytes = slot->n_tokens * width;
  uint32_t vocab = h->info.vocab_size;
  int sums = !(h->info.flags & TM_RING_NO_CHECKSUM);
  XXH3_state_t st;
  if (sums) XXH3_64bits_reset(&st);
  const char *p = slot->tokens;
  uint64_t bad = UINT64_MAX; /* index of the first token id >= vocab */
  for (uint64_t off = 0; off < bytes; off += VERIFY_CHUNK) {
    size_t n = bytes - off < VERIFY_CHUNK ? (size_t)(bytes - off) : VERIFY_CHUNK;
    if (sums) XXH3_64bits_update(&st, p + off, n);
    if (vocab && bad == UINT64_MAX && max_token(p + off, n / width, width) >= vocab) {
      for (uint64_t i = off / width;; i++)
        if (token_at(p, i, width) >= vocab) {
          bad = i;
          break;
        }
    }
  }
  uint64_t sum = sums ? XXH3_64bits_digest(&st) : 0;
  if (sum != slot->checksum)
    return tm_err(err, TM_ECORRUPT, "ring %s: slot seq %llu: checksum %016llx, expected %016llx",
                  r->name, (unsigned long long)slot->seq, (unsigned long long)sum,
                  (unsigned long long)slot->checksum);
  if (bad != UINT64_MAX)
    return tm_err(err, TM_ECORRUPT,
                  "ring %s: slot seq %llu: token %llu is %u, not below vocab_size %u", r->name,
                  (unsigned long long)slot->seq, (unsigned long long)bad,
                  token_at(p, bad, width), vocab);
  return 0;
}

int tm_ring_release(tm_ring *r, tm_error *err) {
  if (r->is_producer || !r->holding)
    return tm_err(err, TM_ESTATE, "ring %s: release without an acquired slot", r->name);
  ring_header *h = r->h;
  uint64_t tail = h->cons.pos2;
  ring_slot_hdr *s = tm_ringi_slot_hdr(r, tail);
  /* the consumed cursor, under a seqlock (the producer may read it) */
  uint32_t lk = h->cur.consumed_lock;
  STORE(&h->cur.consumed_lock, lk + 1);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  memcpy(&h->cur.consumed, &s->cursor, sizeof h->cur.consumed);
  STORE(&h->cur.consumed_valid, 1u);
  STORE(&h->cur.consumed_lock, lk + 2);
  r->holding = 0;
  STORE_SC(&h->cons.pos2, tail + 1);
  r->woke_peer = tm_ringi_wake(&h->cons, &h->prod);
  STORE(&h->cons.heartbeat, tm_proc_coarse_ns());
  return 0;
}
