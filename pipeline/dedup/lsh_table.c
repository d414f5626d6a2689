/* lsh_table.c - ordered open-addressing multimap of (fingerprint, ref); see
 * lsh_table.h for the invariants. */
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
  size_t bytes = (size_t)(cap + TM_LSH_SPARE) * sizeof(uint64_t);
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  if (bytes >= ((size_t)2 << 20)) madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

static void free_slots(uint64_t *slot, uint64_t cap) {
  if (slot) munmap(slot, (size_t)(cap + TM_LSH_SPARE) * sizeof(uint64_t));
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

static inline uint64_t home_of(uint64_t cap, uint32_t fp) {
  return ((uint64_t)fp * cap) >> 32;
}

int tm_lsh_table_insert(tm_lsh_table *t, uint64_t key, uint32_t ref) {
  if (tm_lsh_table_full(t) || ref == UINT32_MAX) return -1;
  const uint32_t fp = (uint32_t)(key >> 32);
  const uint64_t end = t->cap + TM_LSH_SPARE;
  uint64_t *s = t->slot;
  uint64_t i = home_of(t->cap, fp);
  while (i < end && s[i] && SLOT_FP(s[i]) <= fp) i++; /* after equal ones */
  uint64_t j = i;
  while (j < end && s[j]) j++; /* the run's first empty slot */
  if (j == end) return -1;
  memmove(s + i + 1, s + i, (size_t)(j - i) * sizeof *s);
  s[i] = ((uint64_t)fp << 32) | (uint64_t)(ref + 1);
  t->n++;
  return 0;
}

size_t tm_lsh_table_find(const tm_lsh_table *t, uint64_t key, uint32_t *refs, size_t max) {
  const uint32_t fp = (uint32_t)(key >> 32);
  const uint64_t *s = t->slot;
  uint64_t i = tm_lsh_table_home(t, key);
  while (s[i] && SLOT_FP(s[i]) < fp) i++; /* the spare slots end every run */
  size_t n = 0;
  for (; s[i] && SLOT_FP(s[i]) == fp; i++) {
    if (n < max) refs[n] = SLOT_REF1(s[i]) - 1;
    n++;
  }
  return n;
}

/* Lay the occupied slots of src (sorted) out in dst (zeroed, dst_cap): each
 * at max(home, previous + 1), which keeps both invariants. Entries with
 * ref < floor are dropped. Returns the count kept, or UINT64_MAX when a run
 * would pass the spare slots. */
static uint64_t lay_out(const uint64_t *src, uint64_t src_len, uint64_t *dst, uint64_t dst_cap,
                        uint32_t floor) {
  uint64_t next = 0, n = 0;
  const uint64_t end = dst_cap + TM_LSH_SPARE;
  for (uint64_t i = 0; i < src_len; i++) {
    uint64_t v = src[i];
    if (!v || SLOT_REF1(v) - 1 < floor) continue;
    uint64_t h = home_of(dst_cap, SLOT_FP(v));
    uint64_t pos = h > next ? h : next;
    if (pos >= end) return UINT64_MAX;
    dst[pos] = v;
    next = pos + 1;
    n++;
  }
  return n;
}

int tm_lsh_table_grow(tm_lsh_table *t, uint64_t new_cap) {
  if (new_cap <= t->cap || new_cap > ((uint64_t)1 << 32)) return -1;
  uint64_t *ns = alloc_slots(new_cap);
  if (!ns) return -1;
  if (lay_out(t->slot, t->cap + TM_LSH_SPARE, ns, new_cap, 0) == UINT64_MAX) {
    free_slots(ns, new_cap);
    return -1;
  }
  free_slots(t->slot, t->cap);
  t->slot = ns;
  t->cap = new_cap;
  return 0;
}

/* In place: survivors move left or stay (position = max(home, previous + 1)
 * never exceeds their old position), then the slots no survivor landed in
 * are cleared in a second pass. */
void tm_lsh_table_evict_below(tm_lsh_table *t, uint32_t floor) {
  uint64_t *s = t->slot;
  const uint64_t len = t->cap + TM_LSH_SPARE;
  uint64_t next = 0, n = 0;
  for (uint64_t i = 0; i < len; i++) {
    uint64_t v = s[i];
    if (!v) continue;
    s[i] = 0;
    if (SLOT_REF1(v) - 1 < floor) continue;
    uint64_t h = home_of(t->cap, SLOT_FP(v));
    uint64_t pos = h > next ? h : next; /* <= i */
    s[pos] = v;
    next = pos + 1;
    n++;
  }
  t->n = n;
}
