/* test_ring.c - the ring's data path and its refusals: batches in order with
 * valid checksums and identical across runs; checksums folded in while
 * writing equal a single pass, in every order of writes; geometry, version, magic and
 * owner mismatches; a second live consumer or producer; stale rings. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "ring_testutil.h"
#include "tm_test.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Run a producer child for n batches and consume them here; fills sums[]
 * with each slot's checksum. Returns the number of batches received. */
static uint64_t run_stream(const char *name, uint64_t n, uint64_t *sums, uint32_t n_slots) {
  tm_ring_params p;
  rt_params(&p, n_slots, 1000);
  tm_error err = {0};
  int rc;
  pid_t pid = fork();
  if (pid == 0) {
    tm_error e = {0};
    tm_ring *prod;
    int prc = tm_ring_create(&prod, name, 0, &p, 0, &e);
    if (prc == 0) prc = rt_produce(prod, 0, n, &e);
    if (prc < 0) fprintf(stderr, "producer: %s\n", e.msg);
    tm_ring_close(prod, 1);
    _exit(prc < 0 ? 1 : 0);
  }
  tm_ring *cons;
  rc = tm_ring_attach(&cons, name, 0, &p, NULL, 0, 5000, &err);
  CHECKF(rc == 0, "%s", err.msg);
  uint64_t got = 0;
  if (rc == 0) {
    for (;;) {
      tm_ring_slot s;
      rc = tm_ring_acquire(cons, &s, 10000, &err);
      if (rc == TM_RING_END) break;
      CHECKF(rc == 0, "acquire: %s", err.msg);
      if (rc < 0) break;
      CHECKF(s.seq == got, "seq %llu, expected %llu", (unsigned long long)s.seq,
             (unsigned long long)got);
      CHECKF(tm_ring_slot_verify(cons, &s, &err) == 0, "%s", err.msg);
      CHECKF(rt_check(&s, got), "batch %llu content", (unsigned long long)got);
      if (got < n) sums[got] = s.checksum;
      got++;
      CHECK(tm_ring_release(cons, &err) == 0);
    }
    tm_ring_cursor c;
    CHECK(tm_ring_consumed_cursor(cons, &c) == 1 && c.window == n);
    tm_ring_close(cons, 0);
  }
  int st;
  waitpid(pid, &st, 0);
  CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer exit status %d", st);
  return got;
}

static void test_stream_deterministic(void) {
  char name[64];
  rt_name(name, sizeof name, "stream");
  enum { N = 300 };
  static uint64_t a[N], b[N];
  CHECK(run_stream(name, N, a, 4) == N);
  CHECK(run_stream(name, N, b, 2) == N);
  CHECK(memcmp(a, b, sizeof a) == 0);
}

static void test_names(void) {
  char buf[256];
  tm_error err = {0};
  CHECK(tm_ring_shm_name(buf, sizeof buf, "train", 3, &err) == 0 &&
        !strcmp(buf, "/tokenmill.train.3"));
  CHECK(tm_ring_shm_name(buf, sizeof buf, "a/b", 0, &err) == -TM_EINVAL);
  CHECK(strstr(err.msg, "a/b") != NULL);
  CHECK(tm_ring_shm_name(buf, sizeof buf, "", 0, &err) == -TM_EINVAL);
  tm_ring_params p;
  rt_params(&p, 1, 1000);
  tm_ring *r;
  CHECK(tm_ring_create(&r, "x", 0, &p, 0, &err) == -TM_EINVAL && strstr(err.msg, "n_slots"));
  rt_params(&p, 4, 1000);
  p.slot_bytes = 100;
  CHECK(tm_ring_create(&r, "x", 0, &p, 0, &err) == -TM_EINVAL && strstr(err.msg, "slot_bytes"));
}

static void poke_header(const char *name, size_t off, const void *bytes, size_t n) {
  char shm[256];
  tm_ring_shm_name(shm, sizeof shm, name, 0, NULL);
  int fd = shm_open(shm, O_RDWR, 0);
  CHECK(fd >= 0);
  if (fd < 0) return;
  char *h = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  CHECK(h != MAP_FAILED);
  if (h == MAP_FAILED) return;
  memcpy(h + off, bytes, n);
  munmap(h, 4096);
}

static void test_refusals(void) {
  char name[64];
  rt_name(name, sizeof name, "refuse");
  tm_ring_params p;
  rt_params(&p, 4, 500);
  tm_error err = {0};
  tm_ring *prod, *c1, *c2;
  CHECK(tm_ring_create(&prod, name, 0, &p, 0, &err) == 0);

  /* attach to a ring that does not exist */
  CHECK(tm_ring_attach(&c1, "no-such-ring", 0, NULL, NULL, 0, 0, &err) == -TM_ENOTFOUND);
  CHECK(strstr(err.msg, "/tokenmill.no-such-ring.0") != NULL);

  /* geometry mismatch, named */
  tm_ring_params want = p;
  want.seq_len = 127;
  CHECK(tm_ring_attach(&c1, name, 0, &want, NULL, 0, 0, &err) == -TM_EINVAL);
  CHECKF(strstr(err.msg, "seq_len") && strstr(err.msg, "63") && strstr(err.msg, "127"), "%s",
         err.msg);
  want = p;
  want.n_slots = 8;
  CHECK(tm_ring_attach(&c1, name, 0, &want, NULL, 0, 0, &err) == -TM_EINVAL);
  CHECK(strstr(err.msg, "n_slots") != NULL);
  want = p;
  want.tokenizer_hash = 99;
  CHECK(tm_ring_attach(&c1, name, 0, &want, NULL, 0, 0, &err) == -TM_EINVAL);
  CHECK(strstr(err.msg, "tokenizer_hash") != NULL);
  /* zero fields in expect are not compared */
  memset(&want, 0, sizeof want);
  want.batch = RT_B;
  CHECKF(tm_ring_attach(&c1, name, 0, &want, NULL, 0, 0, &err) == 0, "%s", err.msg);

  /* second live consumer: a child holds the ring */
  int pfd[2];
  CHECK(pipe(pfd) == 0);
  tm_ring_close(c1, 0);
  pid_t child = fork();
  if (child == 0) {
    tm_ring *c;
    tm_error e = {0};
    int rc = tm_ring_attach(&c, name, 0, NULL, NULL, 0, 0, &e);
    char ok = rc == 0 ? 'y' : 'n';
    if (write(pfd[1], &ok, 1) != 1) _exit(2);
    pause();
    _exit(0);
  }
  char ok = 0;
  CHECK(read(pfd[0], &ok, 1) == 1 && ok == 'y');
  CHECK(tm_ring_attach(&c2, name, 0, NULL, NULL, 0, 0, &err) == -TM_EEXIST);
  CHECKF(strstr(err.msg, "live consumer") != NULL, "%s", err.msg);
  /* a killed (even unreaped, zombie) consumer no longer counts */
  kill(child, SIGKILL);
  rt_sleep_ms(50);
  CHECKF(tm_ring_attach(&c2, name, 0, NULL, NULL, 0, 0, &err) == 0, "%s", err.msg);
  int st;
  waitpid(child, &st, 0);
  close(pfd[0]);
  close(pfd[1]);

  /* a second producer is refused while the first lives */
  child = fork();
  if (child == 0) {
    tm_ring *p2;
    tm_error e = {0};
    int rc = tm_ring_create(&p2, name, 0, &p, 0, &e);
    if (rc != -TM_EEXIST || !strstr(e.msg, "live producer")) {
      fprintf(stderr, "second producer: rc %d: %s\n", rc, e.msg);
      _exit(1);
    }
    _exit(0);
  }
  waitpid(child, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  tm_ring_close(c2, 0);

  /* a header whose layout does not follow from its geometry (hostile or
   * corrupt: it would point outside the mapping) is refused */
  uint64_t stride = 1ull << 40;
  poke_header(name, 56, &stride, 8);
  CHECK(tm_ring_attach(&c1, name, 0, NULL, NULL, 0, 0, &err) == -TM_ECORRUPT);
  CHECKF(strstr(err.msg, "inconsistent geometry") != NULL, "%s", err.msg);
  uint32_t huge_batch = 0xffffffffu;
  poke_header(name, 64 + 8, &huge_batch, 4);
  CHECK(tm_ring_attach(&c1, name, 0, NULL, NULL, 0, 0, &err) == -TM_ECORRUPT);

  /* a consumer killed inside a release leaves the consumed-cursor seqlock
   * odd: the producer does not spin on it, the next consumer closes it */
  {
    tm_ring_params q = p;
    char nm2[80];
    snprintf(nm2, sizeof nm2, "%s-lock", name);
    tm_ring *pr, *co;
    CHECK(tm_ring_create(&pr, nm2, 0, &q, 0, &err) == 0);
    uint32_t odd = 7;
    poke_header(nm2, 256 + 8, &odd, 4); /* cur.consumed_lock */
    tm_ring_cursor cc;
    CHECK(tm_ring_producer_cursor(pr, &cc) == 0); /* returns, cursor unknown */
    CHECK(tm_ring_attach(&co, nm2, 0, NULL, NULL, 0, 0, &err) == 0);
    CHECK(tm_ring_consumed_cursor(co, &cc) == 0); /* lock closed, nothing consumed */
    tm_ring_close(co, 0);
    tm_ring_close(pr, 1);
  }

  /* version and magic mismatches */
  uint32_t v = 99;
  poke_header(name, 8, &v, 4);
  CHECK(tm_ring_attach(&c1, name, 0, NULL, NULL, 0, 0, &err) == -TM_EFORMAT);
  CHECKF(strstr(err.msg, "version 99") != NULL, "%s", err.msg);
  poke_header(name, 0, "GARBAGE!", 8);
  CHECK(tm_ring_attach(&c1, name, 0, NULL, NULL, 0, 0, &err) == -TM_EFORMAT);
  CHECK(strstr(err.msg, "magic") != NULL);
  tm_ring_close(prod, 1);

  /* wrong owner: the object belongs to another uid */
  if (geteuid() == 0) {
    CHECK(tm_ring_create(&prod, name, 0, &p, 0, &err) == 0);
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/tokenmill.%s.0", name);
    CHECK(chown(path, 65534, 65534) == 0);
    CHECK(tm_ring_attach(&c1, name, 0, NULL, NULL, 0, 0, &err) == -TM_EINVAL);
    CHECKF(strstr(err.msg, "uid 65534") != NULL, "%s", err.msg);
    tm_ring_close(prod, 1);
  } else {
    printf("test_ring: not root, owner-mismatch check runs only as root\n");
  }
}

/* A producer that dies leaves a stale ring: the next producer takes it over
 * (same geometry, published slots kept) or recreates it (other geometry). */
static void test_stale(void) {
  char name[64];
  rt_name(name, sizeof name, "stale");
  tm_ring_params p;
  rt_params(&p, 4, 500);
  pid_t child = fork();
  if (child == 0) {
    tm_ring *r;
    tm_error e = {0};
    if (tm_ring_create(&r, name, 0, &p, 0, &e) != 0) _exit(1);
    for (uint64_t k = 0; k < 3; k++) {
      tm_ring_slot s;
      if (tm_ring_reserve(r, &s, NULL, 1000, &e) != 0) _exit(1);
      rt_fill(s.tokens, k);
      tm_ring_cursor c = {RT_SEED, 0, 1, k + 1};
      if (tm_ring_publish(r, rt_ntok(), &c, &e) != 0) _exit(1);
    }
    kill(getpid(), SIGKILL); /* die holding the ring */
    _exit(1);
  }
  int st;
  waitpid(child, &st, 0);
  CHECK(WIFSIGNALED(st));
  tm_error err = {0};
  tm_ring *r;
  int rc = tm_ring_create(&r, name, 0, &p, 0, &err);
  CHECKF(rc == 1, "takeover rc %d: %s", rc, err.msg);
  if (rc >= 0) {
    tm_ring_cursor c;
    CHECK(tm_ring_producer_cursor(r, &c) == 1 && c.window == 3);
    /* the consumer gets the kept slots, then the new producer's */
    tm_ring *cons;
    CHECK(tm_ring_attach(&cons, name, 0, &p, NULL, 0, 0, &err) == 0);
    tm_ring_slot s;
    for (uint64_t k = 0; k < 3; k++) {
      CHECK(tm_ring_acquire(cons, &s, 1000, &err) == 0 && rt_check(&s, k));
      CHECK(tm_ring_release(cons, &err) == 0);
    }
    CHECK(tm_ring_reserve(r, &s, NULL, 1000, &err) == 0);
    rt_fill(s.tokens, 3);
    tm_ring_cursor c3 = {RT_SEED, 0, 1, 4};
    CHECK(tm_ring_publish(r, rt_ntok(), &c3, &err) == 0);
    CHECK(tm_ring_acquire(cons, &s, 1000, &err) == 0 && rt_check(&s, 3) && s.seq == 3);
    /* acquire while holding is a state error */
    tm_ring_slot s2;
    CHECK(tm_ring_acquire(cons, &s2, 0, &err) == -TM_ESTATE);
    CHECK(tm_ring_release(cons, &err) == 0);
    CHECK(tm_ring_acquire(cons, &s2, 0, &err) == -TM_EAGAIN);
    CHECK(tm_ring_finish(r, &err) == 0);
    CHECK(tm_ring_acquire(cons, &s2, 0, &err) == TM_RING_END);
    tm_ring_close(cons, 0);
    tm_ring_close(r, 0);
  }
  /* both sides gone (closed): another geometry recreates the ring */
  tm_ring_params q = p;
  q.n_slots = 8;
  rc = tm_ring_create(&r, name, 0, &q, 0, &err);
  CHECKF(rc == 0, "recreate rc %d: %s", rc, err.msg);
  if (rc >= 0) {
    tm_ring_params have;
    tm_ring_get_params(r, &have);
    CHECK(have.n_slots == 8);
    tm_ring_close(r, 0);
  }
  /* a garbage object is refused unless TM_RING_RECREATE */
  poke_header(name, 0, "GARBAGE!", 8);
  CHECK(tm_ring_create(&r, name, 0, &q, 0, &err) == -TM_EFORMAT);
  CHECK(tm_ring_create(&r, name, 0, &q, TM_RING_RECREATE, &err) == 0);
  tm_ring_close(r, 0);
  CHECK(tm_ring_unlink_stale(name, 0, &err) == 1);
  CHECK(tm_ring_unlink_stale(name, 0, &err) == 0);
}

/* verify catches a flipped byte (checksum) and an id >= vocab; a ring made
 * with TM_RING_NO_CHECKSUM carries 0 and still checks the ids */
static void test_verify(void) {
  for (int nock = 0; nock < 2; nock++) {
    char name[64];
    rt_name(name, sizeof name, nock ? "nock" : "ck");
    tm_ring_params p;
    rt_params(&p, 4, 500);
    tm_error err = {0};
    tm_ring *r, *c;
    CHECK(tm_ring_create(&r, name, 0, &p, nock ? TM_RING_NO_CHECKSUM : 0, &err) == 0);
    CHECK(tm_ring_attach(&c, name, 0, &p, NULL, 0, 0, &err) == 0);
    CHECK(tm_ring_checksummed(c) == !nock);
    for (int k = 0; k < 2; k++) {
      tm_ring_slot s;
      CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
      rt_fill(s.tokens, (uint64_t)k);
      tm_ring_cursor cur = {RT_SEED, 0, 1, (uint64_t)k + 1};
      CHECK(tm_ring_publish(r, rt_ntok(), &cur, &err) == 0);
    }
    tm_ring_slot s;
    CHECK(tm_ring_acquire(c, &s, 0, &err) == 0);
    CHECK(nock ? s.checksum == 0 : s.checksum != 0);
    CHECK(tm_ring_slot_verify(c, &s, &err) == 0);
    uint16_t *t = s.tokens;
    t[5] ^= 1; /* still < vocab */
    CHECK(tm_ring_slot_verify(c, &s, &err) == (nock ? 0 : -TM_ECORRUPT));
    t[5] ^= 1;
    CHECK(tm_ring_release(c, &err) == 0);
    CHECK(tm_ring_acquire(c, &s, 0, &err) == 0);
    t = s.tokens;
    t[7] = 65000; /* >= vocab 50000 */
    CHECK(tm_ring_slot_verify(c, &s, &err) == -TM_ECORRUPT);
    CHECKF(nock ? strstr(err.msg, "token 7") != NULL : 1, "%s", err.msg);
    CHECK(tm_ring_release(c, &err) == 0);
    tm_ring_close(c, 0);
    tm_ring_close(r, 1);
  }
}

/* tm_ring_write / tm_ring_seal fold the checksum in while the slot is
 * written: whatever the order of writes, seals and direct stores, the slot's
 * checksum is XXH3 of its final n_tokens*width bytes, and verify agrees. */
enum { WF_BYTES = 300000 };
static uint8_t wf_src[WF_BYTES], wf_alt[WF_BYTES];

static void wf_fill(uint8_t *b, uint64_t salt) {
  for (size_t i = 0; i < WF_BYTES; i += 2) {
    uint16_t v = (uint16_t)(rt_mix(salt * 1000003ull + i) % RT_VOCAB);
    memcpy(b + i, &v, 2);
  }
}

/* publish n_bytes of the reserved slot, take it on the consumer side and
 * check checksum, verify and content (expected content: want) */
static void wf_check(tm_ring *r, tm_ring *c, uint64_t n_bytes, const uint8_t *want, int ck,
                     const char *what) {
  tm_error err = {0};
  tm_ring_cursor cur = {1, 0, 0, 1};
  CHECKF(tm_ring_publish(r, n_bytes / 2, &cur, &err) == 0, "%s: publish: %s", what, err.msg);
  tm_ring_slot s;
  CHECKF(tm_ring_acquire(c, &s, 1000, &err) == 0, "%s: acquire: %s", what, err.msg);
  uint64_t expect = ck ? XXH3_64bits(want, (size_t)n_bytes) : 0;
  CHECKF(s.checksum == expect, "%s: checksum %016llx, expected %016llx", what,
         (unsigned long long)s.checksum, (unsigned long long)expect);
  CHECKF(s.n_tokens * 2 == n_bytes && memcmp(s.tokens, want, (size_t)n_bytes) == 0,
         "%s: content", what);
  CHECKF(tm_ring_slot_verify(c, &s, &err) == 0, "%s: verify: %s", what, err.msg);
  CHECK(tm_ring_release(c, &err) == 0);
}

static void test_write_fold(void) {
  wf_fill(wf_src, 1);
  wf_fill(wf_alt, 2);
  for (int nock = 0; nock < 2; nock++) {
    char name[64];
    rt_name(name, sizeof name, nock ? "wf-nock" : "wf");
    tm_ring_params p;
    rt_params(&p, 4, 500);
    p.slot_bytes = WF_BYTES;
    tm_error err = {0};
    tm_ring *r, *c;
    CHECK(tm_ring_create(&r, name, 0, &p, nock ? TM_RING_NO_CHECKSUM : 0, &err) == 0);
    CHECK(tm_ring_attach(&c, name, 0, &p, NULL, 0, 0, &err) == 0);
    int ck = !nock;
    static uint8_t want[WF_BYTES];
    tm_ring_slot s;

    /* no slot reserved, or on the consumer: state errors */
    CHECK(tm_ring_write(r, 0, wf_src, 10, &err) == -TM_ESTATE);
    CHECK(tm_ring_seal(r, 10, &err) == -TM_ESTATE);
    CHECK(tm_ring_write(c, 0, wf_src, 10, &err) == -TM_ESTATE);

    /* 1. one write of the whole batch */
    CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
    CHECK(tm_ring_write(r, 0, wf_src, WF_BYTES, &err) == 0);
    wf_check(r, c, WF_BYTES, wf_src, ck, "one write");

    /* 2. consecutive writes of odd sizes (chunk boundaries inside them) */
    static const uint64_t sizes[] = {1, 3, 8191, 8193, 16384, 100001, 7};
    CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
    uint64_t off = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      CHECK(tm_ring_write(r, off, wf_src + off, sizes[i], &err) == 0);
      off += sizes[i];
    }
    CHECK(tm_ring_write(r, off, wf_src + off, 0, &err) == 0);
    CHECK(tm_ring_write(r, off, wf_src + off, 200000 - off, &err) == 0);
    wf_check(r, c, 200000, wf_src, ck, "consecutive writes");

    /* 3. direct stores, sealed front to back (below 4 KiB nothing is folded
     * yet; a seal behind the folded end is a no-op), more published than sealed */
    CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
    memcpy(s.tokens, wf_src, 150000);
    CHECK(tm_ring_seal(r, 1000, &err) == 0);
    CHECK(tm_ring_seal(r, 5000, &err) == 0);
    CHECK(tm_ring_seal(r, 5000, &err) == 0);
    CHECK(tm_ring_seal(r, 3000, &err) == 0);
    CHECK(tm_ring_seal(r, 70001, &err) == 0);
    CHECK(tm_ring_seal(r, 150000, &err) == 0);
    memcpy((uint8_t *)s.tokens + 150000, wf_src + 150000, 50000);
    wf_check(r, c, 200000, wf_src, ck, "sealed stores");

    /* 4. folded bytes rewritten by a later write: the whole slot is hashed */
    CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
    CHECK(tm_ring_write(r, 0, wf_src, 50000, &err) == 0);
    CHECK(tm_ring_write(r, 100, wf_alt + 100, 20000, &err) == 0);
    CHECK(tm_ring_write(r, 50000, wf_src + 50000, 50000, &err) == 0);
    memcpy(want, wf_src, 100000);
    memcpy(want + 100, wf_alt + 100, 20000);
    wf_check(r, c, 100000, want, ck, "rewrite");

    /* 5. a gap filled by direct stores, then a write after it */
    CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
    CHECK(tm_ring_write(r, 0, wf_src, 10000, &err) == 0);
    CHECK(tm_ring_write(r, 30000, wf_src + 30000, 30000, &err) == 0);
    memcpy((uint8_t *)s.tokens + 10000, wf_src + 10000, 20000);
    wf_check(r, c, 60000, wf_src, ck, "gap");

    /* 6. more folded than published */
    CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
    CHECK(tm_ring_write(r, 0, wf_src, 40000, &err) == 0);
    wf_check(r, c, 20000, wf_src, ck, "folded beyond the batch");

    /* 7. out of range: refused, nothing written; the slot still publishes */
    CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
    CHECK(tm_ring_write(r, WF_BYTES - 10, wf_src, 11, &err) == -TM_EINVAL);
    CHECK(strstr(err.msg, "exceeds") != NULL);
    CHECK(tm_ring_write(r, UINT64_MAX, wf_src, 2, &err) == -TM_EINVAL);
    CHECK(tm_ring_seal(r, WF_BYTES + 1, &err) == -TM_EINVAL);
    CHECK(tm_ring_write(r, 0, wf_alt, 64, &err) == 0);
    wf_check(r, c, 64, wf_alt, ck, "after refusals");

    /* 8. a sealed byte changed behind the ring's back is caught by verify */
    if (ck) {
      CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
      CHECK(tm_ring_write(r, 0, wf_src, 100000, &err) == 0);
      ((uint8_t *)s.tokens)[777] ^= 1;
      tm_ring_cursor cur = {1, 0, 0, 1};
      CHECK(tm_ring_publish(r, 50000, &cur, &err) == 0);
      tm_ring_slot g;
      CHECK(tm_ring_acquire(c, &g, 1000, &err) == 0);
      CHECK(tm_ring_slot_verify(c, &g, &err) == -TM_ECORRUPT && strstr(err.msg, "checksum"));
      CHECK(tm_ring_release(c, &err) == 0);
    }
    tm_ring_close(c, 0);
    tm_ring_close(r, 1);
  }
}

/* writes of several MiB, larger than L2: unaligned starts, odd lengths, a
 * continuation, and a rewrite still give XXH3 of the bytes */
static void test_write_large(void) {
  enum { SLOT = (5 << 20) + 4096 };
  char name[64];
  rt_name(name, sizeof name, "wlarge");
  tm_ring_params p;
  rt_params(&p, 2, 500);
  p.slot_bytes = SLOT;
  tm_error err = {0};
  tm_ring *r, *c;
  CHECK(tm_ring_create(&r, name, 0, &p, 0, &err) == 0);
  CHECK(tm_ring_attach(&c, name, 0, &p, NULL, 0, 0, &err) == 0);
  uint8_t *big = malloc(SLOT), *want = malloc(SLOT);
  CHECK(big && want);
  if (!big || !want) return;
  for (size_t i = 0; i < SLOT; i += 2) {
    uint16_t v = (uint16_t)(rt_mix(77 + i) % RT_VOCAB);
    memcpy(big + i, &v, 2);
  }
  tm_ring_slot s;
  /* one write of the whole slot */
  CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
  CHECK(tm_ring_write(r, 0, big, SLOT, &err) == 0);
  wf_check(r, c, SLOT, big, 1, "large write");
  /* 1 byte, then 2.5 MiB + 3 from an unaligned offset, then the rest from
   * an unaligned source */
  CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
  uint64_t a = 1, b = (5u << 19) + 3;
  CHECK(tm_ring_write(r, 0, big, a, &err) == 0);
  CHECK(tm_ring_write(r, a, big + a, b, &err) == 0);
  CHECK(tm_ring_write(r, a + b, big + a + b, SLOT - 2 - a - b, &err) == 0);
  wf_check(r, c, SLOT - 2, big, 1, "large pieces");
  /* a large write over folded bytes */
  CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
  CHECK(tm_ring_write(r, 0, big, 4096, &err) == 0);
  memcpy(want, big, 2);
  for (size_t i = 2; i + 1 < SLOT; i += 2) {
    uint16_t v = (uint16_t)(rt_mix(99 + i) % RT_VOCAB);
    memcpy(want + i, &v, 2);
  }
  CHECK(tm_ring_write(r, 2, want + 2, (3u << 20), &err) == 0);
  memcpy(want + 2 + (3u << 20), big + 2 + (3u << 20), SLOT - 2 - (3u << 20));
  CHECK(tm_ring_write(r, 2 + (3u << 20), big + 2 + (3u << 20), SLOT - 2 - (3u << 20), &err) == 0);
  wf_check(r, c, SLOT, want, 1, "large rewrite");
  free(big);
  free(want);
  tm_ring_close(c, 0);
  tm_ring_close(r, 1);
}

/* A ring larger than /dev/shm is refused at create with a clear error
 * (not a SIGBUS at the first write into a slot). Only where /dev/shm has a
 * size limit: tmpfs refuses an allocation beyond its size at once, while
 * an unlimited one would try to allocate it. */
static void test_no_room(void) {
  struct statvfs vs;
  if (statvfs("/dev/shm", &vs) != 0 || vs.f_blocks == 0) {
    printf("test_ring: /dev/shm has no size limit, no-room check skipped\n");
    return;
  }
  uint64_t fs = (uint64_t)vs.f_blocks * vs.f_frsize, slot = 1ull << 34;
  uint64_t n = fs / slot + 2;
  if (n > (1u << 20)) return;
  char name[64];
  rt_name(name, sizeof name, "noroom");
  tm_ring_params p;
  rt_params(&p, (uint32_t)n, 500);
  p.slot_bytes = slot;
  tm_error err = {0};
  tm_ring *r = NULL;
  CHECK(tm_ring_create(&r, name, 0, &p, 0, &err) == -TM_EIO);
  CHECKF(strstr(err.msg, "/dev/shm") && err.sys_errno == ENOSPC, "%s", err.msg);
  CHECK(tm_ring_unlink_stale(name, 0, &err) == 0); /* nothing left behind */
  if (r) tm_ring_close(r, 1);
}

/* verify works in chunks: a bad id in a later chunk is found with its index,
 * and a checksum mismatch is reported before a bad id */
static void test_verify_chunks(void) {
  char name[64];
  rt_name(name, sizeof name, "vchunk");
  tm_ring_params p;
  rt_params(&p, 4, 500);
  p.slot_bytes = WF_BYTES;
  tm_error err = {0};
  tm_ring *r, *c;
  CHECK(tm_ring_create(&r, name, 0, &p, 0, &err) == 0);
  CHECK(tm_ring_attach(&c, name, 0, &p, NULL, 0, 0, &err) == 0);
  wf_fill(wf_src, 3);
  uint16_t big = 60000; /* >= vocab 50000 */
  memcpy(wf_src + 2 * 100003, &big, 2);
  memcpy(wf_src + 2 * 120000, &big, 2);
  tm_ring_slot s;
  CHECK(tm_ring_reserve(r, &s, NULL, 0, &err) == 0);
  CHECK(tm_ring_write(r, 0, wf_src, WF_BYTES, &err) == 0);
  tm_ring_cursor cur = {1, 0, 0, 1};
  CHECK(tm_ring_publish(r, WF_BYTES / 2, &cur, &err) == 0);
  CHECK(tm_ring_acquire(c, &s, 1000, &err) == 0);
  CHECK(tm_ring_slot_verify(c, &s, &err) == -TM_ECORRUPT);
  CHECKF(strstr(err.msg, "token 100003 is 60000") != NULL, "%s", err.msg);
  ((uint8_t *)s.tokens)[WF_BYTES - 1] ^= 1;
  CHECK(tm_ring_slot_verify(c, &s, &err) == -TM_ECORRUPT);
  CHECKF(strstr(err.msg, "checksum") != NULL, "%s", err.msg);
  CHECK(tm_ring_release(c, &err) == 0);
  tm_ring_close(c, 0);
  tm_ring_close(r, 1);
}

int main(void) {
  test_write_fold();
  test_write_large();
  test_no_room();
  test_verify_chunks();
  test_verify();
  test_names();
  test_refusals();
  test_stale();
  test_stream_deterministic();
  return tm_test_finish("test_ring");
}
