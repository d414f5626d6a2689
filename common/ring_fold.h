/* ring_fold.h - XXH3-64 of a ring slot, accumulated while the slot is written.
 *
 * The ring's producer copies each batch into a slot once; the slot carries
 * XXH3_64bits (default secret, seed 0) of its payload, which the consumer
 * checks with the library hash (tm_ring_slot_verify). Hashing the slot after
 * the copy is a second pass over it; tm_ring_fold instead accumulates XXH3's
 * 64-byte stripes from the same registers the copy loads (with AVX-512: one
 * 64-byte load from the source, one store to the slot, and the stripe folded
 * into XXH3's 8 accumulators from that register), so the hash costs ALU
 * work only, which a copy out of DRAM leaves idle.
 *
 * XXH3's long hash (len > 240) accumulates stripe s (64 bytes from the start,
 * secret + 8*(s%16)) only when a byte beyond it exists, (s+1)*64 < len, and
 * scrambles the accumulators after each 16-stripe block that is followed by
 * a byte; the last 64 bytes of the input are then accumulated with their own
 * secret and the accumulators merged. A stream that does not know its final
 * length therefore accumulates a stripe only once a byte after it has been
 * written: the stripe the written bytes end in (1..64 bytes of it) stays in
 * the slot, and is accumulated from the slot by the next copy or seal that
 * goes beyond it, or at the digest. The result equals XXH3_64bits(slot, len)
 * for every len >= the bytes made final, whatever the piece sizes.
 *
 * A tm_ring_fold covers bytes [0, done) of one slot. The slot pointer passed
 * to each call is the slot's base; bytes already made final must not change
 * (the digest reads the held-back stripe and anything beyond `done` from the
 * slot). Single-threaded; no allocation; the state is 64-byte aligned
 * (allocate it with aligned_alloc or as a static/automatic object).
 */
#ifndef TM_RING_FOLD_H
#define TM_RING_FOLD_H

#include <stddef.h>
#include <stdint.h>

typedef struct tm_ring_fold {
  _Alignas(64) uint64_t acc[8]; /* XXH3 accumulators */
  uint64_t done;                /* bytes [0, done) of the slot are final */
  uint64_t stripes;             /* stripes accumulated: (done - 1) / 64, 0 when done == 0 */
} tm_ring_fold;

/* Start a new slot: nothing final, accumulators at XXH3's initial values. */
void tm_ring_fold_reset(tm_ring_fold *f);

/* Copy n bytes from src to slot + f->done, folding them in as they are
 * copied; f->done grows by n. src must not overlap the slot's bytes
 * [f->done, f->done + n). */
void tm_ring_fold_copy(tm_ring_fold *f, void *slot, const void *src, size_t n);

/* Bytes [f->done, upto) of the slot were written by the caller and are
 * final: fold them in (read from the slot). No-op when upto <= f->done. */
void tm_ring_fold_seal(tm_ring_fold *f, const void *slot, uint64_t upto);

/* XXH3_64bits(slot, len) for len >= f->done, finishing from the slot's
 * bytes (those after f->done too). f is not changed, so the digest may be
 * taken at several lengths. len < f->done is the caller's error (the
 * accumulated stripes may then lie beyond len): the result is then the
 * one-pass hash XXH3_64bits(slot, len) all the same. */
uint64_t tm_ring_fold_digest(const tm_ring_fold *f, const void *slot, uint64_t len);

/* The copy kernel in use: "avx512" (fused load/store/accumulate; compiled
 * for the build's -march, or selected at run time when the CPU has
 * AVX-512F) or "portable" (memcpy of up to 8 KiB, then the stripes are
 * accumulated from the slot while in L1, with xxhash's vector code for the
 * build's target). */
const char *tm_ring_fold_kernel(void);

/* For tests and benchmarks: 1 forces the portable kernel process-wide, 0
 * restores the default. Returns the kernel now in use (tm_ring_fold_kernel). */
const char *tm_ring_fold_force_portable(int on);

#endif
