/* line_dedup.c - counting table of line hashes; see line_dedup.h. */
#include "line_dedup.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "io.h"

#define MAGIC "TMDXLIN1"
#define HDR 32 /* magic, u64 cap, u64 n, u64 checksum of the slots */

typedef struct slot {
  uint64_t h; /* 0: empty (a line hashing to 0 is stored as 1) */
  uint32_t count;
} __attribute__((packed)) slot;

struct tm_line_dedup {
  uint32_t max_repeats;
  size_t min_bytes;
  uint64_t budget;
  slot *s;
  uint64_t cap, n;
  tm_line_dedup_stats st;
};

static int alloc_table(tm_line_dedup *l, uint64_t cap) {
  slot *s = calloc(cap, sizeof *s);
  if (!s) return -1;
  free(l->s);
  l->s = s;
  l->cap = cap;
  l->n = 0;
  return 0;
}

tm_line_dedup *tm_line_dedup_new(uint32_t max_repeats, size_t min_bytes, uint64_t budget) {
  if (max_repeats < 1 || budget < 1024) return NULL;
  tm_line_dedup *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->max_repeats = max_repeats;
  l->min_bytes = min_bytes;
  l->budget = budget;
  uint64_t cap = 4096;
  while (cap * sizeof(slot) > budget) cap /= 2;
  if (alloc_table(l, cap) < 0) {
    free(l);
    return NULL;
  }
  return l;
}

void tm_line_dedup_free(tm_line_dedup *l) {
  if (!l) return;
  free(l->s);
  free(l);
}

static slot *find(slot *s, uint64_t cap, uint64_t h) {
  uint64_t i = h & (cap - 1);
  while (s[i].h && s[i].h != h) i = (i + 1) & (cap - 1);
  return &s[i];
}

/* Re-place every kept slot of old into l's (new or cleared) table. */
static void reinsert(tm_line_dedup *l, slot *old, uint64_t old_cap, uint32_t min_count) {
  for (uint64_t i = 0; i < old_cap; i++)
    if (old[i].h && old[i].count >= min_count) {
      *find(l->s, l->cap, old[i].h) = old[i];
      l->n++;
    }
}

/* Make room for one more entry: grow by 2x while the old and new tables fit
 * the budget together; else forget the lines seen once, in place (the same
 * one-pass re-placement as lsh_table.c's eviction), and freeze when that
 * freed less than a quarter of the table. */
static void make_room(tm_line_dedup *l) {
  slot *old = l->s;
  uint64_t old_cap = l->cap;
  if (old_cap * 3 * sizeof(slot) <= l->budget) {
    l->s = NULL;
    if (alloc_table(l, old_cap * 2) == 0) {
      reinsert(l, old, old_cap, 1);
      free(old);
      return;
    }
    l->s = old;
    l->cap = old_cap;
  }
  uint64_t before = l->n, n = 0, mask = l->cap - 1;
  for (uint64_t i = 0; i < l->cap; i++) {
    if (!l->s[i].h) continue;
    if (l->s[i].count < 2) memset(&l->s[i], 0, sizeof(slot));
    else n++;
  }
  l->n = n;
  uint64_t start = 0;
  while (l->s[start].h) start++;
  for (uint64_t k = 1, i = start; k < l->cap; k++) {
    i = (i + 1) & mask;
    if (!l->s[i].h) continue;
    slot v = l->s[i];
    memset(&l->s[i], 0, sizeof(slot));
    *find(l->s, l->cap, v.h) = v;
  }
  l->st.dropped += before - n;
  if ((before - n) * 4 < l->cap) l->st.frozen = 1;
}

size_t tm_line_dedup_apply(tm_line_dedup *l, const char *text, size_t len, char *out,
                           size_t *removed) {
  size_t w = 0, rm = 0;
  int last_dropped = 0;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl + 1 : end; /* line with its newline */
    const char *a = p, *b = nl ? nl : end;
    while (a < b && (*a == ' ' || *a == '\t' || *a == '\r')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
    int drop = 0;
    if ((size_t)(b - a) >= l->min_bytes) {
      l->st.lines_seen++;
      uint64_t h = XXH3_64bits(a, (size_t)(b - a));
      if (!h) h = 1;
      slot *s = find(l->s, l->cap, h);
      if (!s->h && !l->st.frozen && (l->n + 1) * 4 > l->cap * 3) {
        make_room(l);
        s = find(l->s, l->cap, h);
      }
      if (s->h) {
        drop = s->count >= l->max_repeats;
        if (s->count < UINT32_MAX) s->count++;
      } else if (!l->st.frozen && (l->n + 1) * 4 <= l->cap * 3) {
        s->h = h;
        s->count = 1;
        l->n++;
      }
    }
    last_dropped = drop;
    if (drop) rm++;
    else {
      memcpy(out + w, p, (size_t)(le - p));
      w += (size_t)(le - p);
    }
    p = le;
  }
  /* the text did not end with a newline and its last line went: the kept
   * text should not end with one either */
  if (last_dropped && w && out[w - 1] == '\n' && text[len - 1] != '\n') w--;
  out[w] = 0;
  l->st.lines_removed += rm;
  *removed = rm;
  return w;
}

void tm_line_dedup_get_stats(const tm_line_dedup *l, tm_line_dedup_stats *st) {
  *st = l->st;
  st->tracked = l->n;
  st->bytes = l->cap * sizeof(slot);
}

static void gen_path(char *buf, size_t cap, const char *dir, uint64_t gen) {
  snprintf(buf, cap, "%s/lines.%llu", dir, (unsigned long long)gen);
}

int tm_line_dedup_save(const tm_line_dedup *l, const char *dir, uint64_t gen, tm_error *err) {
  char path[PATH_MAX];
  gen_path(path, sizeof path, dir, gen);
  size_t body = l->cap * sizeof(slot);
  char *buf = malloc(HDR + body);
  if (!buf) return tm_err(err, TM_ENOMEM, "%s: out of memory", path);
  memcpy(buf, MAGIC, 8);
  uint64_t c = XXH3_64bits(l->s, body);
  memcpy(buf + 8, &l->cap, 8);
  memcpy(buf + 16, &l->n, 8);
  memcpy(buf + 24, &c, 8);
  memcpy(buf + HDR, l->s, body);
  int rc = tm_io_write_file_atomic(path, buf, HDR + body, "dedup_index", err);
  free(buf);
  return rc;
}

int tm_line_dedup_load(tm_line_dedup *l, const char *dir, uint64_t gen, tm_error *err) {
  char path[PATH_MAX], *buf;
  size_t len;
  gen_path(path, sizeof path, dir, gen);
  int rc = tm_io_read_file(path, (size_t)l->budget + HDR + (1u << 20), &buf, &len, err);
  if (rc < 0) return rc;
  uint64_t cap, n, c;
  if (len < HDR || memcmp(buf, MAGIC, 8)) {
    free(buf);
    return tm_err(err, TM_ECORRUPT, "%s: bad magic at offset 0", path);
  }
  memcpy(&cap, buf + 8, 8);
  memcpy(&n, buf + 16, 8);
  memcpy(&c, buf + 24, 8);
  if (cap == 0 || (cap & (cap - 1)) || len != HDR + cap * sizeof(slot) || n > cap) {
    free(buf);
    return tm_err(err, TM_ECORRUPT, "%s: header at offset 8 says %llu slots, file has %zu bytes",
                  path, (unsigned long long)cap, len);
  }
  if (XXH3_64bits(buf + HDR, len - HDR) != c) {
    free(buf);
    return tm_err(err, TM_ECORRUPT, "%s: checksum mismatch over bytes %d..%zu", path, HDR, len);
  }
  slot *s = malloc(cap * sizeof *s);
  if (!s) {
    free(buf);
    return tm_err(err, TM_ENOMEM, "%s: out of memory", path);
  }
  memcpy(s, buf + HDR, cap * sizeof *s);
  free(buf);
  free(l->s);
  l->s = s;
  l->cap = cap;
  l->n = n;
  return 0;
}
