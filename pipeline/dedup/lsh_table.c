/* lsh_table.c - ordered open-addressing multimap of (fingerprint, ref); see
 * lsh_table.h for the invariants. */
#include "lsh_table.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__AVX512F__) && !defined(TM_LSH_PORTABLE) /* TM_LSH_PORTABLE: tests */
#include <immintrin.h>
#define HAVE_AVX512 1
#endif

#define SLOT_FP(s) ((uint32_t)((s) >> 32))
#define SLOT_REF1(s) ((uint32_t)(s))

/* Slots come zeroed from mmap, on transparent huge pages where the kernel
 * allows it: every lookup is a random access, and 2 MiB pages remove most of
 * the TLB misses on a table of gigabytes. */
static uint64_t *alloc_slots(uint64_t cap) {
  size_t bytes = (size_t)(cap + TM_LSH_SPARE + TM_LSH_PAD) * sizeof(uint64_t);
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  if (bytes >= ((size_t)2 << 20)) madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

static void free_slots(uint64_t *slot, uint64_t cap) {
  if (slot) munmap(slot, (size_t)(cap + TM_LSH_SPARE + TM_LSH_PAD) * sizeof(uint64_t));
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
  return (((uint64_t)fp * (cap >> 3)) >> 32) << 3;
}

#ifdef HAVE_AVX512
/* The vector form works on a window of 8 slots from the home slot (its
 * cache line, prefetched by tm_lsh_table_prefetch), which holds
 * the whole probe in most cases: the run of entries <= fp is a prefix of the
 * window (sorted, no gap before the first empty slot), so the insert
 * position and the first empty slot come from two masks, and the shift is
 * one permute and one masked store. The only branches on slot contents are
 * "the probe goes on past the window" (uncommon at low load; near 0.75 a
 * fair share of inserts must shift past it, and then the first empty slot
 * is found 8 slots per step), so a line still on its way from DRAM seldom
 * costs a branch misprediction. (A micro-benchmark with tables sized for
 * 10 M documents: 15 lookups + 15 inserts per document went from about 1000
 * to 750 ns with homes at any slot and two-line windows; homes on line
 * boundaries then made the window one line, see lsh_table.h.) */
static const int64_t SHIFT1[8] = {0, 0, 1, 2, 3, 4, 5, 6}; /* lane l <- lane l-1 */

int tm_lsh_table_insert(tm_lsh_table *t, uint64_t key, uint32_t ref) {
  if (tm_lsh_table_full(t) || ref == UINT32_MAX) return -1;
  const uint32_t fp = (uint32_t)(key >> 32);
  const uint64_t end = t->cap + TM_LSH_SPARE;
  const uint64_t v = ((uint64_t)fp << 32) | (uint64_t)(ref + 1);
  const __m512i fpv = _mm512_set1_epi64((long long)fp);
  uint64_t *s = t->slot;
  uint64_t i = home_of(t->cap, fp);
  for (;;) {
    __m512i w = _mm512_loadu_si512((const void *)(s + i));
    __mmask8 nz = _mm512_test_epi64_mask(w, w);
    unsigned le = _mm512_mask_cmple_epu64_mask(nz, _mm512_srli_epi64(w, 32), fpv);
    if (le == 0xFF) { /* the entries <= fp go on past the window */
      i += 8;
      if (i >= end) return -1;
      continue;
    }
    unsigned p = (unsigned)__builtin_ctz(~le); /* le is a prefix: the insert position */
    unsigned emp = (unsigned)(uint8_t)~nz;     /* lanes < p are occupied */
    if (!emp) { /* the run goes on past the window: its first empty slot, 8 at a time */
      uint64_t j = i + 8;
      for (;;) { /* the zero padding stops this at the end */
        __m512i x = _mm512_loadu_si512((const void *)(s + j));
        unsigned z = (unsigned)(uint8_t)~_mm512_test_epi64_mask(x, x);
        if (z) {
          j += (unsigned)__builtin_ctz(z);
          break;
        }
        j += 8;
      }
      if (j >= end) return -1;
      memmove(s + i + p + 1, s + i + p, (size_t)(j - i - p) * sizeof *s);
      s[i + p] = v;
      t->n++;
      return 0;
    }
    unsigned q = (unsigned)__builtin_ctz(emp); /* >= p */
    if (i + q >= end) return -1;
    __m512i sh = _mm512_permutexvar_epi64(_mm512_loadu_si512((const void *)SHIFT1), w);
    sh = _mm512_mask_mov_epi64(sh, (__mmask8)(1u << p), _mm512_set1_epi64((long long)v));
    __mmask8 put = (__mmask8)(((2u << q) - 1) & ~((1u << p) - 1)); /* lanes p..q */
    _mm512_mask_storeu_epi64((void *)(s + i), put, sh);
    t->n++;
    return 0;
  }
}

size_t tm_lsh_table_find(const tm_lsh_table *t, uint64_t key, uint32_t *refs, size_t max) {
  const uint32_t fp = (uint32_t)(key >> 32);
  const __m512i fpv = _mm512_set1_epi64((long long)fp);
  const uint64_t *s = t->slot;
  uint64_t i = tm_lsh_table_home(t, key);
  size_t n = 0;
  for (;; i += 8) { /* the zero padding after the spare slots ends every run */
    __m512i w = _mm512_loadu_si512((const void *)(s + i));
    __mmask8 nz = _mm512_test_epi64_mask(w, w);
    __m512i f = _mm512_srli_epi64(w, 32);
    __mmask8 eq = _mm512_mask_cmpeq_epu64_mask(nz, f, fpv);
    unsigned le = _mm512_mask_cmple_epu64_mask(nz, f, fpv);
    if (eq) { /* refs of the equal lanes, in slot order */
      uint32_t tmp[8];
      _mm256_storeu_si256((void *)tmp, _mm512_cvtepi64_epi32(_mm512_maskz_compress_epi64(eq, w)));
      size_t c = (size_t)__builtin_popcount((unsigned)eq);
      for (size_t k = 0; k < c && n + k < max; k++) refs[n + k] = tmp[k] - 1;
      n += c;
    }
    if (le != 0xFF) return n;
  }
}
#else
/* Insert v at position i (the first slot after the entries <= fp), shifting
 * the rest of the run one slot right. Scalar form. */
static int insert_at(tm_lsh_table *t, uint64_t i, uint64_t v) {
  const uint64_t end = t->cap + TM_LSH_SPARE;
  uint64_t *s = t->slot;
  uint64_t j = i;
  while (j < end && s[j]) j++; /* the run's first empty slot */
  if (j == end) return -1;
  memmove(s + i + 1, s + i, (size_t)(j - i) * sizeof *s);
  s[i] = v;
  t->n++;
  return 0;
}

int tm_lsh_table_insert(tm_lsh_table *t, uint64_t key, uint32_t ref) {
  if (tm_lsh_table_full(t) || ref == UINT32_MAX) return -1;
  const uint32_t fp = (uint32_t)(key >> 32);
  const uint64_t end = t->cap + TM_LSH_SPARE;
  uint64_t *s = t->slot;
  uint64_t i = home_of(t->cap, fp);
  while (i < end && s[i] && SLOT_FP(s[i]) <= fp) i++; /* after equal ones */
  return insert_at(t, i, ((uint64_t)fp << 32) | (uint64_t)(ref + 1));
}

size_t tm_lsh_table_find(const tm_lsh_table *t, uint64_t key, uint32_t *refs, size_t max) {
  const uint32_t fp = (uint32_t)(key >> 32);
  const uint64_t *s = t->slot;
  uint64_t i = tm_lsh_table_home(t, key);
  while (s[i] && SLOT_FP(s[i]) < fp) i++; /* the zero padding ends every run */
  size_t n = 0;
  for (; s[i] && SLOT_FP(s[i]) == fp; i++) {
    if (n < max) refs[n] = SLOT_REF1(s[i]) - 1;
    n++;
  }
  return n;
}
#endif

/* Lay the occupied slots of src (sorted) out in dst (dst_cap): each at
 * max(home, previous + 1), which keeps both invariants; every other slot of
 * dst, padding included, ends up 0 (dst may hold stale data). One
 * sequential pass: before each placement 8 slots from the next free one are
 * cleared with one store (gaps are short at load >= 0.6; longer ones take a
 * memset), and there is no branch on the slot contents (an empty source
 * slot writes a 0 at the next free position), so a table three quarters
 * full costs no branch mispredictions. Returns the count kept, or
 * UINT64_MAX when a run would pass the spare slots. */
static uint64_t lay_out(const uint64_t *src, uint64_t src_len, uint64_t *dst, uint64_t dst_cap) {
  const uint64_t end = dst_cap + TM_LSH_SPARE;
  static const uint64_t zero8[8];
  uint64_t next = 0, n = 0;
  for (uint64_t i = 0; i < src_len; i++) {
    uint64_t v = src[i];
    uint64_t full = v != 0;
    uint64_t h = home_of(dst_cap, SLOT_FP(v)) * full;
    uint64_t pos = h > next ? h : next;
    if ((pos >= end) & (int)full) return UINT64_MAX;
    memcpy(dst + next, zero8, sizeof zero8); /* next + 8 <= end + padding */
    if (pos > next + 8) memset(dst + next + 8, 0, (size_t)(pos - next - 8) * sizeof *dst);
    dst[pos] = v;
    next = pos + full;
    n += full;
  }
  memset(dst + next, 0, (size_t)(end + TM_LSH_PAD - next) * sizeof *dst);
  return n;
}

/* Make buf's mapping hold cap + spare + padding slots: a new map, or the
 * old one resized with mremap (no copy; only the added pages are new). */
static uint64_t *resize_slots(uint64_t *buf, uint64_t buf_cap, uint64_t cap) {
  if (!buf) return alloc_slots(cap);
  size_t old_bytes = (size_t)(buf_cap + TM_LSH_SPARE + TM_LSH_PAD) * sizeof(uint64_t);
  size_t bytes = (size_t)(cap + TM_LSH_SPARE + TM_LSH_PAD) * sizeof(uint64_t);
  void *p = mremap(buf, old_bytes, bytes, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) return NULL;
  if (bytes >= ((size_t)2 << 20)) madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

int tm_lsh_table_grow_with(tm_lsh_table *t, uint64_t new_cap, tm_lsh_spare *spare) {
  if (new_cap <= t->cap || new_cap > ((uint64_t)1 << 32)) return -1;
  uint64_t *ns = resize_slots(spare->slot, spare->cap, new_cap);
  if (!ns) return -1;
  spare->slot = ns;
  spare->cap = new_cap;
  if (lay_out(t->slot, t->cap + TM_LSH_SPARE, ns, new_cap) == UINT64_MAX) return -1;
  spare->slot = t->slot; /* the old array is the next table's destination */
  spare->cap = t->cap;
  t->slot = ns;
  t->cap = new_cap;
  return 0;
}

void tm_lsh_spare_free(tm_lsh_spare *spare) {
  free_slots(spare->slot, spare->cap);
  spare->slot = NULL;
  spare->cap = 0;
}

int tm_lsh_table_grow(tm_lsh_table *t, uint64_t new_cap) {
  tm_lsh_spare sp = {NULL, 0};
  int rc = tm_lsh_table_grow_with(t, new_cap, &sp);
  tm_lsh_spare_free(&sp);
  return rc;
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
