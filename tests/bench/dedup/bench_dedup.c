/* bench_dedup.c - speed benchmark of the dedup stage (run by run.sh).
 *
 *   bench_dedup gen N SEED OUT.jsonl
 *       N synthetic documents (English-like words, 5% Chinese), with planted
 *       exact copies (case/whitespace noise) and near copies (3-10% of the
 *       words replaced) of earlier documents.
 *   bench_dedup sigs IN.jsonl
 *       print "id<TAB>hex signature" per document (default parameters), for
 *       the comparison with the Python reference.
 *   bench_dedup signature MB
 *       signature throughput (normalise + shingle + MinHash) over MB of
 *       synthetic text, one thread: MB/s.
 *   bench_dedup index N DIR [presize]
 *       insert+query throughput of the index over N documents with random
 *       signatures (10% near copies and 2% exact copies of earlier documents
 *       planted), one thread: docs/s, index RAM
 *       bytes per document, disk bytes, peak RSS. presize: tables sized
 *       for N up front ([dedup] expected_docs), no rehashing. noreopen: skip
 *       the restart (reopen and re-index) measurement.
 *   bench_dedup memory
 *       the machine's memory as the index meets it, printed beside the index
 *       figures: ns per dependent random miss and million independent random
 *       cache lines per second (16 chains) over 1 GiB on huge pages. The
 *       index is bound by these (about 14 random lines per document); on the
 *       development VM they moved by 1.5x from one hour to the next with the
 *       load of other guests, and the index's docs/s with them.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "clock.h" /* tm_thread_cpu_s: per-core figures are this thread's CPU time */
#include "dedup/dedup.h"
#include "dedup/minhash.h"
#include "dedup/shingle.h"

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

#define VOCAB 30000
static char vocab[VOCAB][12];

static void make_vocab(void) {
  for (int i = 0; i < VOCAB; i++) {
    int len = 2 + (int)(rnd() % 8);
    for (int j = 0; j < len; j++) vocab[i][j] = (char)('a' + rnd() % 26);
    vocab[i][len] = 0;
  }
}

/* Zipf-like: small indexes are frequent. */
static const char *word(void) {
  double u = (double)(rnd() >> 11) / 9007199254740992.0;
  return vocab[(int)(VOCAB * u * u * u)];
}

/* Append a synthetic English-like document to buf; returns its length. */
static size_t make_doc(char *buf, size_t cap, int words) {
  size_t n = 0;
  int start = 1;
  for (int w = 0; w < words && n + 32 < cap; w++) {
    const char *s = word();
    size_t l = strlen(s);
    memcpy(buf + n, s, l);
    if (start) buf[n] = (char)(buf[n] - 32);
    n += l;
    start = 0;
    uint64_t r = rnd() % 100;
    if (r < 7) buf[n++] = '.', start = 1;
    else if (r < 10) buf[n++] = ',';
    else if (r < 11) n += (size_t)snprintf(buf + n, cap - n, " %d", (int)(rnd() % 2000));
    buf[n++] = ' ';
  }
  buf[n] = 0;
  return n;
}

static size_t make_cjk_doc(char *buf, size_t cap, int chars) {
  size_t n = 0;
  for (int c = 0; c < chars && n + 8 < cap; c++) {
    uint32_t cp = 0x4E00 + (uint32_t)(rnd() % 2500);
    if (rnd() % 20 == 0) cp = 0x3002; /* 。 */
    buf[n++] = (char)(0xE0 | (cp >> 12));
    buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[n++] = (char)(0x80 | (cp & 0x3F));
  }
  buf[n] = 0;
  return n;
}

static int cmd_gen(long n, uint64_t seed, const char *path) {
  rng_state ^= seed * 0x9E3779B97F4A7C15ull;
  make_vocab();
  FILE *f = fopen(path, "w");
  if (!f) return perror(path), 1;
  char **docs = calloc((size_t)n, sizeof *docs);
  char *buf = malloc(1 << 16);
  for (long i = 0; i < n; i++) {
    uint64_t r = rnd() % 100;
    if (i > 10 && r < 10) { /* exact copy with case/whitespace noise */
      const char *src = docs[rnd() % (uint64_t)i];
      size_t l = strlen(src), k = 0;
      for (size_t j = 0; j < l && k + 4 < (1 << 16); j++) {
        char ch = src[j];
        if (ch == ' ' && rnd() % 10 == 0) buf[k++] = ' ';
        if (ch >= 'a' && ch <= 'z' && rnd() % 20 == 0) ch = (char)(ch - 32);
        buf[k++] = ch;
      }
      buf[k] = 0;
    } else if (i > 10 && r < 20) { /* near copy: replace 3-10% of the words */
      const char *src = docs[rnd() % (uint64_t)i];
      int pct = 3 + (int)(rnd() % 8);
      size_t l = strlen(src), k = 0;
      int at_word = 1;
      for (size_t j = 0; j < l && k + 16 < (1 << 16); j++) {
        if (at_word && src[j] != ' ' && (int)(rnd() % 100) < pct) {
          const char *w = word();
          size_t wl = strlen(w);
          memcpy(buf + k, w, wl);
          k += wl;
          while (j + 1 < l && src[j + 1] != ' ') j++;
          at_word = 0;
          continue;
        }
        buf[k++] = src[j];
        at_word = src[j] == ' ';
      }
      buf[k] = 0;
    } else if (r < 25) {
      make_cjk_doc(buf, 1 << 16, 150 + (int)(rnd() % 400));
    } else {
      make_doc(buf, 1 << 16, 80 + (int)(rnd() % 300));
    }
    docs[i] = strdup(buf);
    json_t *j = json_pack("{s:s, s:s}", "id", "", "text", buf);
    char id[32];
    snprintf(id, sizeof id, "d%ld", i);
    json_object_set_new(j, "id", json_string(id));
    char *s = json_dumps(j, JSON_COMPACT);
    fprintf(f, "%s\n", s);
    free(s);
    json_decref(j);
  }
  for (long i = 0; i < n; i++) free(docs[i]);
  free(docs);
  free(buf);
  return fclose(f) != 0;
}

static int cmd_sigs(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return perror(path), 1;
  tm_dedup_params p;
  tm_dedup_params_default(&p);
  p.shingle.seed = p.seed;
  tm_shingler *sh = tm_shingler_new(&p.shingle);
  tm_minhash mh;
  tm_minhash_init(&mh, p.num_perm, p.seed);
  uint32_t *sig = malloc(sizeof(uint32_t) * (size_t)p.num_perm);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) > 0) {
    json_t *j = json_loadb(line, (size_t)len, 0, NULL);
    if (!j) continue;
    json_t *t = json_object_get(j, "text");
    const uint64_t *h;
    size_t n;
    int cjk;
    tm_shingler_run(sh, json_string_value(t), json_string_length(t), &h, &n, &cjk, NULL);
    tm_minhash_signature(&mh, h, n, sig);
    printf("%s\t", json_string_value(json_object_get(j, "id")));
    for (int i = 0; i < p.num_perm; i++) printf("%08x", sig[i]);
    printf("\n");
    json_decref(j);
  }
  free(line);
  free(sig);
  tm_minhash_free(&mh);
  tm_shingler_free(sh);
  fclose(f);
  return 0;
}

static int cmd_signature(double mb) {
  make_vocab();
  size_t total = (size_t)(mb * 1e6), n = 0;
  char *text = malloc(total + (1 << 16));
  size_t *off = malloc(sizeof(size_t) * (total / 100 + 2));
  size_t nd = 0;
  while (n < total) {
    off[nd++] = n;
    n += make_doc(text + n, 1 << 16, 80 + (int)(rnd() % 300)) + 1;
  }
  off[nd] = n;
  tm_shingle_opts o;
  tm_shingle_opts_default(&o);
  tm_shingler *sh = tm_shingler_new(&o);
  tm_minhash mh;
  tm_minhash_init(&mh, 112, 1);
  uint32_t sig[112];
  uint64_t chk = 0, shingles = 0;
  double t0 = tm_thread_cpu_s(), t_sh = 0;
  for (size_t d = 0; d < nd; d++) {
    const uint64_t *h;
    size_t k;
    double a = tm_thread_cpu_s();
    tm_shingler_run(sh, text + off[d], off[d + 1] - off[d] - 1, &h, &k, NULL, NULL);
    t_sh += tm_thread_cpu_s() - a;
    tm_minhash_signature(&mh, h, k, sig);
    chk += sig[0];
    shingles += k;
  }
  double t = tm_thread_cpu_s() - t0;
  printf("signature: %.1f MB in %zu docs, %.3f s, %.1f MB/s per core (normalise+shingle %.1f "
         "MB/s, minhash %.1f Mshingles/s) chk=%llu\n",
         n / 1e6, nd, t, n / 1e6 / t, n / 1e6 / t_sh, shingles / 1e6 / (t - t_sh),
         (unsigned long long)(chk & 0xff));
  tm_shingler_free(sh);
  tm_minhash_free(&mh);
  free(text);
  free(off);
  return 0;
}

/* Resident anonymous memory (the tables) and mapped file pages (records
 * read by the scan at open: page cache, reclaimable), in KiB. */
static void rss_now(long *anon, long *file) {
  char line[256];
  *anon = *file = 0;
  FILE *f = fopen("/proc/self/status", "r");
  while (f && fgets(line, sizeof line, f)) {
    sscanf(line, "RssAnon: %ld", anon);
    sscanf(line, "RssFile: %ld", file);
  }
  if (f) fclose(f);
}

static int cmd_index(long n, const char *dir, int presize, int reopen) {
  tm_dedup_index_opts o = {.k = 112, .bands = 14, .rows = 8, .threshold = 0.75,
                           .ram_budget = (uint64_t)16 << 30, .params_hash = 42,
                           .expected_docs = presize ? (uint64_t)n : 0};
  tm_dedup_index *x;
  tm_error err = {0};
  char user[TM_DEDUP_INDEX_USER_MAX];
  size_t ul;
  double t_open = tm_thread_cpu_s();
  if (tm_dedup_index_open(&x, dir, &o, user, &ul, &err) < 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  t_open = tm_thread_cpu_s() - t_open;
  /* signatures are generated in batches outside the timed region, 256
   * documents each: the batches `tokenmill dedup` hands to the index
   * (BATCH_ITEMS in pipeline/cli/cmd_dedup.c), so a batch's signatures are
   * in cache as a worker's fresh ones are (here in this core's L2, there in
   * the shared L3). Batches of 65536 (29 MB of signatures, read back from
   * memory) measured 8% slower: best of 3 at 3 M documents, 3.43 s against
   * 3.16 s. */
  enum { BATCH = 256 };
  uint32_t *sigs = malloc(sizeof(uint32_t) * 112 * BATCH);
  uint64_t(*ex)[2] = malloc(sizeof *ex * BATCH);
  uint32_t *prev = malloc(sizeof(uint32_t) * 112 * 1024);
  uint64_t(*prev_ex)[2] = malloc(sizeof *prev_ex * 1024);
  tm_dedup_index_doc *docs = malloc(sizeof *docs * BATCH);
  tm_dedup_match *mt = malloc(sizeof *mt * BATCH);
  char *ids = malloc((size_t)16 * BATCH);
  long planted = 0, found = 0, exact_planted = 0, exact_found = 0;
  uint64_t filled = 0; /* prev slots holding a document */
  double t = 0;
  for (long base = 0; base < n; base += BATCH) {
    long m = n - base < BATCH ? n - base : BATCH;
    for (long i = 0; i < m; i++) {
      uint32_t *s = sigs + 112 * i;
      uint64_t r = rnd();
      ex[i][0] = rnd();
      ex[i][1] = rnd();
      if (base + i > 2048 && r % 100 < 10) { /* near copy of a recent unique doc: 8 rows differ */
        memcpy(s, prev + 112 * (rnd() % filled), 112 * 4);
        for (int c = 0; c < 8; c++) s[rnd() % 112] = (uint32_t)rnd();
        planted++;
      } else if (base + i > 2048 && r % 100 < 12) { /* exact copy: same text, same signature */
        uint64_t k = rnd() % filled;
        memcpy(s, prev + 112 * k, 112 * 4);
        memcpy(ex[i], prev_ex[k], sizeof ex[i]);
        exact_planted++;
      } else {
        for (int c = 0; c < 112; c += 2) {
          uint64_t v = rnd();
          s[c] = (uint32_t)v;
          s[c + 1] = (uint32_t)(v >> 32);
        }
        if ((base + i) % 7 == 0) { /* a recent unique document to copy later */
          uint64_t k = filled < 1024 ? filled++ : rnd() % 1024;
          memcpy(prev + 112 * k, s, 112 * 4);
          memcpy(prev_ex[k], ex[i], sizeof ex[i]);
        }
      }
    }
    for (long i = 0; i < m; i++) { /* ids are input, like the signatures: not timed */
      int l = snprintf(ids + 16 * i, 16, "d%ld", base + i);
      docs[i] = (tm_dedup_index_doc){ids + 16 * i, (size_t)l, ex[i], sigs + 112 * i};
    }
    double t0 = tm_thread_cpu_s();
    /* the batch call: keys first, table slots prefetched a few documents
     * ahead, then lookups and inserts in arrival order */
    size_t done;
    if (tm_dedup_index_process_batch(x, docs, (size_t)m, 1, mt, &done, &err) < 0) {
      fprintf(stderr, "%s\n", err.msg);
      return 1;
    }
    for (long i = 0; i < m; i++) {
      found += mt[i].kind == TM_DEDUP_NEAR;
      exact_found += mt[i].kind == TM_DEDUP_EXACT;
    }
    t += tm_thread_cpu_s() - t0;
  }
  double t0 = tm_thread_cpu_s();
  if (tm_dedup_index_checkpoint(x, NULL, 0, &err) < 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  double tc = tm_thread_cpu_s() - t0;
  tm_dedup_index_stats st;
  tm_dedup_index_get_stats(x, &st);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long anon, file;
  rss_now(&anon, &file);
  printf("index%s: %ld docs, open %.3f s, insert+query %.3f s, %.0f docs/s per core; near copies planted %ld "
         "found %ld, exact copies planted %ld found %ld; RAM %.1f bytes/doc (%.1f MB tables+buffers), disk %.1f "
         "bytes/doc, checkpoint %.2f s, peak RSS %.1f MB (now: anonymous %.1f MB, mapped "
         "index file %.1f MB)\n",
         presize ? " (expected_docs)" : "", n, t_open, t, n / t, planted, found, exact_planted,
         exact_found, (double)st.ram_bytes / st.in_ram,
         st.ram_bytes / 1e6, (double)st.disk_bytes / st.records, tc, ru.ru_maxrss / 1024.0,
         anon / 1024.0, file / 1024.0);
  tm_dedup_index_close(x);
  free(docs);
  free(mt);
  free(ids);
  free(sigs);
  free(ex);
  free(prev);
  free(prev_ex);
  if (!reopen) return 0;
  /* restart: reopen the index, verify every record, rebuild the tables */
  t0 = tm_thread_cpu_s();
  if (tm_dedup_index_open(&x, dir, &o, user, &ul, &err) < 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  double tr = tm_thread_cpu_s() - t0;
  rss_now(&anon, &file);
  tm_dedup_index_get_stats(x, &st);
  printf("reopen: %llu records verified and re-indexed in %.2f s (%.0f docs/s); RSS anonymous %.1f "
         "MB, mapped index file %.1f MB\n",
         (unsigned long long)st.records, tr, st.records / tr, anon / 1024.0, file / 1024.0);
  tm_dedup_index_close(x);
  return 0;
}

static int cmd_memory(void) {
  const size_t bytes = (size_t)1 << 30, lines = bytes / 64;
  uint64_t *a = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint32_t *perm = malloc(lines * sizeof *perm);
  if (a == MAP_FAILED || !perm) return fprintf(stderr, "bench_dedup memory: out of memory\n"), 1;
  madvise(a, bytes, MADV_HUGEPAGE);
  /* one random cycle through every line: a[line * 8] holds the next line */
  for (size_t i = 0; i < lines; i++) perm[i] = (uint32_t)i;
  for (size_t i = lines - 1; i > 0; i--) {
    size_t j = rnd() % (i + 1);
    uint32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (size_t i = 0; i < lines; i++) a[(size_t)perm[i] * 8] = (uint64_t)perm[(i + 1) % lines] * 8;
  free(perm);
  double ns1 = 0, mps16 = 0;
  for (int chains = 1; chains <= 16; chains += 15) {
    uint64_t p[16], sum = 0;
    for (int c = 0; c < chains; c++) p[c] = (rnd() % lines) * 8;
    long steps = 3000000 / chains;
    double t = tm_thread_cpu_s();
    for (long k = 0; k < steps; k++)
      for (int c = 0; c < chains; c++) p[c] = a[p[c]];
    t = tm_thread_cpu_s() - t;
    for (int c = 0; c < chains; c++) sum += p[c];
    if (chains == 1) ns1 = t * 1e9 / (double)steps;
    else mps16 = (double)steps * chains / t / 1e6;
    volatile uint64_t sink = sum; /* keeps the chases */
    (void)sink;
  }
  munmap(a, bytes);
  printf("memory: %.0f ns per dependent random miss, %.1f M random lines/s with 16 independent "
         "chains (1 GiB, huge pages)\n", ns1, mps16);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "gen"))
    return cmd_gen(atol(argv[2]), strtoull(argv[3], NULL, 10), argv[4]);
  if (argc == 3 && !strcmp(argv[1], "sigs")) return cmd_sigs(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "signature")) return cmd_signature(atof(argv[2]));
  if (argc == 2 && !strcmp(argv[1], "memory")) return cmd_memory();
  if (argc >= 4 && !strcmp(argv[1], "index")) {
    int presize = 0, reopen = 1;
    for (int i = 4; i < argc; i++) {
      if (!strcmp(argv[i], "presize")) presize = 1;
      else if (!strcmp(argv[i], "noreopen")) reopen = 0;
      else return fprintf(stderr, "bench_dedup index: unknown flag %s\n", argv[i]), 2;
    }
    return cmd_index(atol(argv[2]), argv[3], presize, reopen);
  }
  fprintf(stderr, "usage: bench_dedup gen N SEED OUT | sigs IN | signature MB | index N DIR [presize] [noreopen] | memory\n");
  return 2;
}
