/* lsh_table.h - an open-addressing multimap from 64-bit keys to document refs.
 *
 * Used once per LSH band and once for exact hashes. RAM layout: one array of
 * `cap` slots (any cap in 16..2^32), 8 bytes each:
 *
 *     bits 63..32  fingerprint fp: the top 32 bits of the key
 *     bits 31..0   ref + 1 (0 marks an empty slot)
 *
 * The home slot of a key is the first slot of cache line (fp * lines) >> 32,
 * lines = cap / 8 (the array is 64-byte aligned): monotone in the
 * fingerprint and independent of the rest of the key, so entries move to a
 * table of another size without their full key, and cap need not be a power
 * of two (growth by 1.3x keeps the load between 0.577 and 0.75). A home on a
 * line boundary makes a probe touch one line unless its run spills into the
 * next: a document's 14 band probes are 14 random lines to fetch, not 14
 * two-line windows (7 in 8 of which straddle a line boundary). The table
 * part of the index is bound by how many random lines the memory system
 * returns per second, so this measured 1.23x faster at 2 M documents
 * presized (tests/bench/dedup, best of 4 runs each: 1.76 s against 2.16 s)
 * than a home at any slot.
 *
 * Ordered linear probing. Invariants: (1) the fingerprints of the occupied
 * slots, read left to right, never decrease; (2) an entry sits at or after its
 * home with no empty slot in between. An insert goes after the last entry
 * with a fingerprint <= its own, shifting the rest of that run one slot right
 * (into the run's first empty slot); a lookup stops at the first empty slot
 * or larger fingerprint. Because the table is sorted, growing and evicting
 * are single forward passes (position = max(home, previous + 1)) with no
 * probing. Runs never wrap: TM_LSH_SPARE extra slots follow the last home
 * (a run reaching the end makes insert fail; at load <= 0.75 that needs a
 * run thousands of slots long). Entries under one fingerprint (a multimap)
 * are kept in insertion order.
 *
 * A match compares 32 bits of the key: equal fingerprints at unequal keys
 * give a false candidate, which the caller rejects by checking the full
 * signature or exact hash on disk. Refs are < 2^32 - 1. The table never
 * holds more than cap * 3/4 entries.
 */
#ifndef TM_DEDUP_LSH_TABLE_H
#define TM_DEDUP_LSH_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct tm_lsh_table {
  uint64_t *slot; /* cap + TM_LSH_SPARE + TM_LSH_PAD slots */
  uint64_t cap;
  uint64_t n; /* entries */
} tm_lsh_table;

#define TM_LSH_SPARE 1024
/* Zero slots after the spare ones, never written: a probe reads whole
 * windows of 8 slots and always meets an empty slot before the end. */
#define TM_LSH_PAD 8

/* Allocate cap zeroed slots (16 <= cap <= 2^32). Returns 0 or -1 (ENOMEM). */
int tm_lsh_table_init(tm_lsh_table *t, uint64_t cap);
void tm_lsh_table_free(tm_lsh_table *t);

/* 1 when one more entry would exceed the 0.75 load factor. */
static inline int tm_lsh_table_full(const tm_lsh_table *t) {
  return (t->n + 1) * 4 > t->cap * 3;
}

static inline uint64_t tm_lsh_table_home(const tm_lsh_table *t, uint64_t key) {
  return (((key >> 32) * (t->cap >> 3)) >> 32) << 3;
}

/* Hint the CPU to fetch the cache line of key's home (for writing) before
 * a batch of lookups and inserts. */
static inline void tm_lsh_prefetch_line(const void *p) {
  /* an asm statement: gcc 12 -O2 deleted __builtin_prefetch loops whose
   * only effect was the prefetch once they were inlined into a caller (the
   * batch path lost every prefetch and ran 20% slower at 10 M documents) */
#if defined(__x86_64__) && defined(__PRFCHW__)
  __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#elif defined(__x86_64__)
  __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#else
  __builtin_prefetch(p, 1);
#endif
}

static inline void tm_lsh_table_prefetch(const tm_lsh_table *t, uint64_t key) {
  const uint64_t *p = &t->slot[tm_lsh_table_home(t, key)];
  tm_lsh_prefetch_line(p);
}

/* Once key's home line has arrived (after tm_lsh_table_prefetch): when its
 * last slot is taken, a lookup or insert may go on into the next line, so
 * ask for that one too. */
static inline void tm_lsh_table_prefetch_spill(const tm_lsh_table *t, uint64_t key) {
  const uint64_t *p = &t->slot[tm_lsh_table_home(t, key)];
  if (p[7]) tm_lsh_prefetch_line(p + 8);
}

/* Add (key, ref). Returns -1 when the table is full (the caller checks
 * tm_lsh_table_full first and grows or evicts), when the run reaches the end
 * of the spare slots (grow and retry), or ref is UINT32_MAX. */
int tm_lsh_table_insert(tm_lsh_table *t, uint64_t key, uint32_t ref);

/* Store the refs under key's fingerprint, in probe order, into refs[0..max)
 * and return how many there are (which may exceed max: the rest are not
 * stored). */
size_t tm_lsh_table_find(const tm_lsh_table *t, uint64_t key, uint32_t *refs, size_t max);

/* Move every entry into a new array of new_cap slots (new_cap > cap): one
 * forward pass. Needs both arrays at once. Returns 0, or -1 on ENOMEM (t
 * unchanged). */
int tm_lsh_table_grow(tm_lsh_table *t, uint64_t new_cap);

/* Growing several tables in a row: the array a table leaves behind becomes
 * the destination of the next one, enlarged in place with mremap, so each
 * growth after the first needs only the added slots as new memory (fresh
 * pages cost a kernel page fault and zeroing each; the destination is
 * written whole, so stale contents do not matter). Start with
 * {NULL, 0}; free with tm_lsh_spare_free after the last table. On failure
 * (-1: ENOMEM, or a run past the spare slots) t is unchanged. */
typedef struct tm_lsh_spare {
  uint64_t *slot;
  uint64_t cap;
} tm_lsh_spare;
int tm_lsh_table_grow_with(tm_lsh_table *t, uint64_t new_cap, tm_lsh_spare *spare);
void tm_lsh_spare_free(tm_lsh_spare *spare);

/* Remove every entry with ref < floor, in place (one forward pass). */
void tm_lsh_table_evict_below(tm_lsh_table *t, uint32_t floor);

/* Bytes of RAM held. */
static inline uint64_t tm_lsh_table_bytes(const tm_lsh_table *t) {
  return (t->cap + TM_LSH_SPARE + TM_LSH_PAD) * sizeof(uint64_t);
}

#endif
