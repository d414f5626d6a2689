/* lsh_table.c - open-addressing multimap of (fingerprint, ref); see lsh_table.h. */
#include "lsh_table.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SLOT_FP(s) ((uint32_t)((s) >> 32))
#define SLOT_REF1(s) ((uint32_t)(s))

/* Slots come zeroed from mmap, on transparent huge pages where the kernel
 * allows it: every lookup is a random access, and 2 MiB pages remove most of
 * the TLB misses on a table of gigabytes. */
static uint64_t *alloc_slots(uint64_t cap) {
  size_t bytes = (size_t)cap * sizeof(uint64_t);
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  if (bytes >= ((size_t)2 << 20)) madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

static void free_slots(uint64_t *slot, uint64_t cap) {
  if (slot) munmap(slot, (size_t)cap * sizeof(uint64_t));
}

int tm_lsh_table_init(tm_lsh_table *t, uint64_t cap) {
  memset(t, 0, sizeof *t);
  if (cap < 16 || cap > ((uint64_t)1 << 32)) return -1;
  t->slot = alloc_slots(cap);
  if (!t->slot) return -1;
  t->cap = cap;
  return 0;
}

void tm_lsh_table_free(tm_lsh_table *t) {
  free_slots(t->slot, t->cap);
  memset(t, 0, sizeof *t);
}

/* Place a slot value by linear probing from its home. */
static inline void place(uint64_t *slot, uint64_t cap, uint64_t v) {
  uint64_t i = ((uint64_t)SLOT_FP(v) * cap) >> 32;
  while (slot[i]) i = i + 1 == cap ? 0 : i + 1;
  slot[i] = v;
}

int tm_lsh_table_insert(tm_lsh_table *t, uint64_t key, uint32_t ref) {
  if (tm_lsh_table_full(t) || ref == UINT32_MAX) return -1;
  place(t->slot, t->cap, (key & 0xFFFFFFFF00000000ull) | (uint64_t)(ref + 1));
  t->n++;
  return 0;
}

size_t tm_lsh_table_find(const tm_lsh_table *t, uint64_t key, uint32_t *refs, size_t max) {
  const uint32_t fp = (uint32_t)(key >> 32);
  size_t n = 0;
  for (uint64_t i = tm_lsh_table_home(t, key);; i = i + 1 == t->cap ? 0 : i + 1) {
    uint64_t s = t->slot[i];
    if (!s) return n;
    if (SLOT_FP(s) == fp) {
      if (n < max) refs[n] = SLOT_REF1(s) - 1;
      n++;
    }
  }
}

int tm_lsh_table_grow(tm_lsh_table *t, uint64_t new_cap) {
  if (new_cap <= t->cap || new_cap > ((uint64_t)1 << 32)) return -1;
  uint64_t *ns = alloc_slots(new_cap);
  if (!ns) return -1;
  for (uint64_t i = 0; i < t->cap; i++)
    if (t->slot[i]) place(ns, new_cap, t->slot[i]);
  free_slots(t->slot, t->cap);
  t->slot = ns;
  t->cap = new_cap;
  return 0;
}

/* Drop the old entries, then walk the table once starting just after an
 * empty slot (one exists: load <= 0.75) and re-place every survivor from its
 * home. A survivor lands at or before its current position in probe order:
 * every slot between its home and that position is either final already or
 * empty. No probe run crosses the starting empty slot, so one pass restores
 * the invariant (no empty slot between an entry's home and the entry). */
void tm_lsh_table_evict_below(tm_lsh_table *t, uint32_t floor) {
  uint64_t n = 0;
  for (uint64_t i = 0; i < t->cap; i++) {
    uint64_t s = t->slot[i];
    if (!s) continue;
    if (SLOT_REF1(s) - 1 < floor) t->slot[i] = 0;
    else n++;
  }
  t->n = n;
  uint64_t start = 0;
  while (t->slot[start]) start++;
  for (uint64_t k = 1, i = start; k < t->cap; k++) {
    i = i + 1 == t->cap ? 0 : i + 1;
    uint64_t s = t->slot[i];
    if (!s) continue;
    t->slot[i] = 0;
    place(t->slot, t->cap, s);
  }
}
