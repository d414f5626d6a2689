/* test_feed_plan.c - the order of a pass: windows are packed documents with
 * end-of-text between them, each from one source; no window repeats within
 * a pass (epoch 1); the order is a pure function of (seed, pass, list);
 * weights give exact per-period shares; epoch budgets upsample and cap; the
 * train/validation split is disjoint and stable. */
#include <stdlib.h>

#include "feed/feed_plan.h"
#include "feed_testutil.h"
#include "manifest.h"
#include "tm_test.h"

#define T 63u

static char dir[256];
static char **names;
static size_t n_names;

static void load_names(void) {
  tm_manifest m = {0};
  tm_error err = {0};
  CHECKF(tm_manifest_load(&m, dir, 0, &err) == 0, "%s", err.msg);
  n_names = m.n_shards;
  names = calloc(n_names, sizeof *names);
  for (size_t i = 0; i < n_names; i++) names[i] = strdup(m.shards[i].name);
  tm_manifest_free(&m);
}

static tm_feed_plan *build(uint64_t seed, uint64_t pass, int split, double val,
                           const tm_feed_weight *w, size_t nw, const tm_feed_weight *e, size_t ne) {
  tm_feed_plan_options o = {.dir = dir, .shards = (const char *const *)names, .n_shards = n_names,
                            .seed = seed, .pass = pass, .seq_len = T, .shuffle_windows = 64,
                            .split = split, .val_fraction = val, .weights = w, .n_weights = nw,
                            .epochs = e, .n_epochs = ne};
  tm_feed_plan *p = NULL;
  tm_error err = {0};
  int rc = tm_feed_plan_build(&p, &o, &err);
  CHECKF(rc == 0, "plan: %s", err.msg);
  return p;
}

static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* hash of every window of the plan, in order; checks each window */
static uint64_t walk(tm_feed_plan *p, uint64_t *per_source, int check_unique) {
  uint64_t n = tm_feed_plan_windows(p), h = 1469598103934665603ull;
  uint16_t win[T + 1];
  tm_error err = {0};
  size_t ns = tm_feed_plan_sources(p);
  uint64_t *seen = NULL;
  if (check_unique) seen = calloc(n + 1, sizeof *seen);
  int bad = 0, dup = 0;
  for (uint64_t g = 0; g < n; g++) {
    if (tm_feed_plan_read(p, g, win, &err) < 0) {
      CHECKF(0, "read %llu: %s", (unsigned long long)g, err.msg);
      break;
    }
    size_t s;
    uint64_t off;
    tm_feed_plan_locate(p, g, &s, &off, &err);
    int src = ft_check_window(win, T + 1);
    if (src < 0 || strcmp(ft_sources[src], tm_feed_plan_source_name(p, s))) bad++;
    if (per_source) per_source[s]++;
    if (seen) seen[g] = (off / (T + 1)) * 8 + s;
    for (size_t i = 0; i <= T; i++) h = (h ^ win[i]) * 1099511628211ull;
  }
  CHECKF(bad == 0, "%d malformed windows", bad);
  if (seen) {
    qsort(seen, n, sizeof *seen, cmp);
    for (uint64_t i = 1; i < n; i++) dup += seen[i] == seen[i - 1];
    CHECKF(dup == 0, "%d repeated windows in one pass", dup);
    free(seen);
  }
  (void)ns;
  return h;
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tm-test-feed-plan-%d", (int)getpid());
  if (ft_write_docs(dir, 7, 600, 30000) < 0) return 1;
  load_names();
  CHECK(n_names >= 4);

  /* natural mixture: every window at most once, all well formed */
  tm_feed_plan *p = build(1, 0, TM_FEED_TRAIN, 0, NULL, 0, NULL, 0);
  if (!p) return tm_test_finish("test_feed_plan");
  uint64_t total = tm_feed_plan_windows(p);
  uint64_t avail = 0;
  for (size_t s = 0; s < tm_feed_plan_sources(p); s++) avail += tm_feed_plan_source_windows(p, s);
  CHECKF(total > 0 && total <= avail && total + 4096 >= avail / 2, "windows %llu of %llu",
         (unsigned long long)total, (unsigned long long)avail);
  uint64_t h1 = walk(p, NULL, 1);
  /* a pure function: same inputs, same order; random access agrees */
  tm_feed_plan *p2 = build(1, 0, TM_FEED_TRAIN, 0, NULL, 0, NULL, 0);
  CHECK(walk(p2, NULL, 0) == h1);
  uint16_t a[T + 1], b[T + 1];
  tm_error err = {0};
  uint64_t gs[] = {total - 1, 0, total / 2, 3, total - 1};
  for (size_t i = 0; i < 5; i++) {
    CHECK(tm_feed_plan_read(p, gs[i], a, &err) == 0);
    CHECK(tm_feed_plan_read(p2, gs[i], b, &err) == 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
  }
  tm_feed_plan_free(p2);
  p2 = build(1, 1, TM_FEED_TRAIN, 0, NULL, 0, NULL, 0);
  CHECK(walk(p2, NULL, 1) != h1); /* another pass, another order */
  tm_feed_plan_free(p2);
  p2 = build(2, 0, TM_FEED_TRAIN, 0, NULL, 0, NULL, 0);
  CHECK(walk(p2, NULL, 1) != h1); /* another seed, another order */
  tm_feed_plan_free(p2);
  CHECK(tm_feed_plan_read(p, total, a, &err) == -TM_EINVAL);
  tm_feed_plan_free(p);

  /* weights: exact shares per period */
  tm_feed_weight w[3] = {{"web", 0.5}, {"books", 0.25}, {"social", 0.25}};
  p = build(1, 0, TM_FEED_TRAIN, 0, w, 3, NULL, 0);
  uint64_t per[8] = {0};
  walk(p, per, 1);
  uint64_t n = tm_feed_plan_windows(p);
  CHECK(n > 0);
  for (size_t s = 0; s < tm_feed_plan_sources(p); s++) {
    double share = (double)per[s] / (double)n;
    double want = !strcmp(tm_feed_plan_source_name(p, s), "web") ? 0.5 : 0.25;
    CHECKF(share > want - 0.002 && share < want + 0.002, "source %s share %.4f want %.2f",
           tm_feed_plan_source_name(p, s), share, want);
  }
  tm_feed_plan_free(p);

  /* epochs: books upsampled 3x (windows repeat, each at most 3 times), web capped */
  tm_feed_weight e[2] = {{"books", 3.0}, {"web", 0.5}};
  tm_feed_plan *base = build(1, 0, TM_FEED_TRAIN, 0, NULL, 0, NULL, 0);
  p = build(1, 0, TM_FEED_TRAIN, 0, NULL, 0, e, 2);
  for (size_t s = 0; s < tm_feed_plan_sources(p); s++) {
    const char *nm = tm_feed_plan_source_name(p, s);
    uint64_t w0 = tm_feed_plan_source_windows(base, s), w1 = tm_feed_plan_source_windows(p, s);
    if (!strcmp(nm, "books")) CHECK(w1 == 3 * w0);
    if (!strcmp(nm, "web")) CHECK(w1 == w0 / 2);
    if (!strcmp(nm, "social")) CHECK(w1 == w0);
  }
  walk(p, NULL, 0);
  tm_feed_plan_free(base);
  tm_feed_plan_free(p);

  /* unknown source in weights: a clear error */
  tm_feed_weight bad[1] = {{"news", 1.0}};
  tm_feed_plan_options o = {.dir = dir, .shards = (const char *const *)names,
                            .n_shards = n_names, .seq_len = T, .weights = bad, .n_weights = 1};
  CHECK(tm_feed_plan_build(&p, &o, &err) == -TM_EINVAL && strstr(err.msg, "'news'"));

  /* split: train + val windows ~ all; the val plan is stable */
  tm_feed_plan *tr = build(1, 0, TM_FEED_TRAIN, 0.2, NULL, 0, NULL, 0);
  tm_feed_plan *va = build(1, 0, TM_FEED_VAL, 0.2, NULL, 0, NULL, 0);
  tm_feed_plan *va2 = build(9, 3, TM_FEED_VAL, 0.2, NULL, 0, NULL, 0);
  uint64_t tw = 0, vw = 0, vw2 = 0;
  for (size_t s = 0; s < tm_feed_plan_sources(tr); s++) tw += tm_feed_plan_source_windows(tr, s);
  for (size_t s = 0; s < tm_feed_plan_sources(va); s++) vw += tm_feed_plan_source_windows(va, s);
  for (size_t s = 0; s < tm_feed_plan_sources(va2); s++)
    vw2 += tm_feed_plan_source_windows(va2, s);
  CHECKF(vw > avail / 10 && vw < avail * 3 / 10, "val windows %llu of %llu",
         (unsigned long long)vw, (unsigned long long)avail);
  CHECK(tw + vw <= avail + 8 && tw + vw + 16 >= avail);
  CHECK(vw == vw2); /* the split does not depend on seed or pass */
  walk(va, NULL, 1);
  tm_feed_plan_free(tr);
  tm_feed_plan_free(va);
  tm_feed_plan_free(va2);

  for (size_t i = 0; i < n_names; i++) free(names[i]);
  free(names);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return tm_test_finish("test_feed_plan");
}
