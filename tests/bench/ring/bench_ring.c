/* bench_ring.c - the shared-memory ring beside its baselines, in one run.
 *
 *   bench_ring [--shards DIR] [--batches N] [--trainer-step-s S] [--quick]
 *              [--min-slot BYTES] [--no-latency]
 *
 * 1. Throughput for slot sizes 4 KiB .. 4 MiB, moving bytes out of a source
 *    buffer larger than the L3 cache (512 MiB): a plain memcpy of the same
 *    bytes into a buffer of the ring's size (one thread, nothing else); the ring, 8 MiB of
 *    slots or at least 4, with and without checksums (producer
 *    copies into the slot with tm_ring_write, which folds the checksum in
 *    while copying, and publishes; a consumer process acquires, reads one
 *    word per cache line and releases; in a third run the consumer also
 *    verifies each slot, checksum and token ids); a Unix-domain
 *    stream socket carrying the same batches (writer sends from the source,
 *    reader receives into a slot-sized buffer and reads the same words).
 *    Beside each size, the CPU time per GB of each side (least of the three
 *    rounds): on a machine busy with other work the wall-clock ratios
 *    mostly measure whether both ring processes got a CPU at once, the CPU
 *    time per byte much less so.
 *    --min-slot BYTES skips the smaller sizes, --no-latency part 2.
 * 2. Wake-up latency on an idle ring, producer -> consumer (the producer
 *    stamps CLOCK_MONOTONIC into the slot, publishes, waits until the
 *    consumer released it, then 200 us, so the consumer sleeps), p50/p99;
 *    beside a bare futex ping-pong between two processes with the same
 *    gaps; and the ring in spin mode.
 * 3. With --shards DIR: the feeder's sustained batches/s from real shards
 *    (plan, zstd decompression and packing into the slot), B=8, T=256, and
 *    its token rate against the trainer's config S (8 x 256 tokens per step;
 *    --trainer-step-s, default 0.745 s: the OpenBLAS sgemm floor of one
 *    step, PEERS.md, i.e. the fastest trainer possible).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "feed/feeder.h"
#include "ring.h"

/* CPU seconds of this process, and of the last bench's child (its whole
 * life): a view of the cost per byte that other load on the machine does
 * not distort as much as the wall clock */
static double g_cpu_parent, g_cpu_child;
static void wait_child(pid_t pid) {
  int st;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  if (wait4(pid, &st, 0, &ru) != pid) return;
  g_cpu_child = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define SRC_BYTES (512ull << 20)
static uint8_t *src;
static char ring_name[64];

/* the consumer's use of a batch: one word per cache line */
static uint64_t touch(const uint8_t *p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i + 8 <= n; i += 64) {
    uint64_t v;
    memcpy(&v, p + i, 8);
    s += v;
  }
  return s;
}

static volatile uint64_t sink;

static double bench_memcpy(size_t slot, uint32_t n_slots, uint64_t total) {
  uint8_t *dst = malloc((size_t)n_slots * slot);
  memset(dst, 1, (size_t)n_slots * slot);
  uint64_t off = 0, moved = 0, k = 0;
  double t0 = tm_now_s(), c0 = tm_proc_cpu_s();
  while (moved < total) {
    if (off + slot > SRC_BYTES) off = 0;
    uint8_t *d = dst + (k++ % n_slots) * slot;
    memcpy(d, src + off, slot);
    sink += d[0];
    off += slot;
    moved += slot;
  }
  double dt = tm_now_s() - t0;
  g_cpu_parent = tm_proc_cpu_s() - c0;
  g_cpu_child = 0;
  free(dst);
  return (double)moved / dt / 1e9;
}

static double bench_ring_tp(size_t slot, uint32_t n_slots, uint64_t total, unsigned flags,
                            int verify, double *batches_s) {
  tm_ring_params p;
  tm_ring_params_for(&p, 65536, 1, (uint32_t)(slot / 2 - 1), 0, 1);
  p.slot_bytes = slot;
  p.n_slots = n_slots;
  tm_error err = {0};
  tm_ring *r;
  if (tm_ring_create(&r, ring_name, 0, &p, flags, &err) < 0) {
    fprintf(stderr, "bench_ring: %s\n", err.msg);
    exit(1);
  }
  uint64_t n = total / slot;
  pid_t pid = fork();
  if (pid == 0) {
    tm_ring *c;
    tm_error e = {0};
    if (tm_ring_attach(&c, ring_name, 0, NULL, NULL, 0, 5000, &e) < 0) _exit(1);
    for (;;) {
      tm_ring_slot s;
      int rc = tm_ring_acquire(c, &s, 10000, &e);
      if (rc != 0) break;
      if (verify && tm_ring_slot_verify(c, &s, &e) < 0) _exit(1);
      sink += touch(s.tokens, s.n_tokens * 2);
      tm_ring_release(c, &e);
    }
    tm_ring_close(c, 0);
    _exit(0);
  }
  uint64_t off = 0;
  tm_ring_cursor cur = {0};
  /* wait for the consumer, so that attach time is not measured */
  for (int i = 0; i < 500 && tm_ring_peer_alive(r, NULL) < 0; i++) usleep(1000);
  double t0 = tm_now_s(), c0 = tm_proc_cpu_s();
  for (uint64_t i = 0; i < n; i++) {
    tm_ring_slot s;
    if (tm_ring_reserve(r, &s, NULL, 10000, &err) != 0) {
      fprintf(stderr, "bench_ring: reserve: %s\n", err.msg);
      exit(1);
    }
    if (off + slot > SRC_BYTES) off = 0;
    /* the ring's own copy: the checksum is folded in while copying */
    if (tm_ring_write(r, 0, src + off, slot, &err) != 0) {
      fprintf(stderr, "bench_ring: write: %s\n", err.msg);
      exit(1);
    }
    off += slot;
    cur.window = i + 1;
    tm_ring_publish(r, slot / 2, &cur, &err);
  }
  while (tm_ring_drain(r, 10000, &err) == -TM_EAGAIN) {
  }
  double dt = tm_now_s() - t0;
  g_cpu_parent = tm_proc_cpu_s() - c0;
  tm_ring_finish(r, &err);
  wait_child(pid);
  tm_ring_close(r, 1);
  *batches_s = (double)n / dt;
  return (double)(n * slot) / dt / 1e9;
}

static double bench_socket(size_t slot, uint64_t total, double *batches_s) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) exit(1);
  int buf = 4 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  uint64_t n = total / slot;
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    uint8_t *b = malloc(slot);
    for (uint64_t i = 0; i < n; i++) {
      size_t got = 0;
      while (got < slot) {
        ssize_t k = read(sv[1], b + got, slot - got);
        if (k <= 0) _exit(1);
        got += (size_t)k;
      }
      sink += touch(b, slot);
    }
    char ack = 'a';
    if (write(sv[1], &ack, 1) != 1) _exit(1);
    _exit(0);
  }
  close(sv[1]);
  uint64_t off = 0;
  double t0 = tm_now_s(), c0 = tm_proc_cpu_s();
  for (uint64_t i = 0; i < n; i++) {
    if (off + slot > SRC_BYTES) off = 0;
    size_t put = 0;
    while (put < slot) {
      ssize_t k = write(sv[0], src + off + put, slot - put);
      if (k <= 0) exit(1);
      put += (size_t)k;
    }
    off += slot;
  }
  char ack;
  if (read(sv[0], &ack, 1) != 1) exit(1);
  double dt = tm_now_s() - t0;
  g_cpu_parent = tm_proc_cpu_s() - c0;
  close(sv[0]);
  wait_child(pid);
  *batches_s = (double)n / dt;
  return (double)(n * slot) / dt / 1e9;
}

static double median3(const double *v) {
  double a = v[0], b = v[1], c = v[2];
  if (a > b) { double t = a; a = b; b = t; }
  if (b > c) { double t = b; b = c; c = t; }
  if (a > b) { double t = a; a = b; b = t; }
  return b;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void pctl(uint64_t *v, int n, double *p50, double *p99) {
  qsort(v, (size_t)n, sizeof *v, cmp_u64);
  *p50 = (double)v[n / 2] / 1000.0;
  *p99 = (double)v[(n * 99) / 100] / 1000.0;
}

static void gap(void) {
  struct timespec ts = {0, 200 * 1000};
  nanosleep(&ts, NULL);
}

/* ring wake-up latency; samples come back through a pipe */
static void bench_ring_latency(int n, unsigned flags, double *p50, double *p99) {
  tm_ring_params p;
  tm_ring_params_for(&p, 65536, 1, 63, 0, 1);
  tm_error err = {0};
  tm_ring *r;
  if (tm_ring_create(&r, ring_name, 1, &p, flags, &err) < 0) exit(1);
  int pf[2];
  if (pipe(pf) < 0) exit(1);
  pid_t pid = fork();
  if (pid == 0) {
    tm_ring *c;
    tm_error e = {0};
    if (tm_ring_attach(&c, ring_name, 1, NULL, NULL, flags, 5000, &e) < 0) _exit(1);
    uint64_t *lat = malloc((size_t)n * sizeof *lat);
    for (int i = 0; i < n; i++) {
      tm_ring_slot s;
      if (tm_ring_acquire(c, &s, 10000, &e) != 0) _exit(1);
      uint64_t t = now_ns(), stamp;
      memcpy(&stamp, s.tokens, 8);
      lat[i] = t - stamp;
      tm_ring_release(c, &e);
    }
    if (write(pf[1], lat, (size_t)n * sizeof *lat) < 0) _exit(1);
    tm_ring_close(c, 0);
    _exit(0);
  }
  for (int i = 0; i < 500 && tm_ring_peer_alive(r, NULL) < 0; i++) usleep(1000);
  tm_ring_cursor cur = {0};
  for (int i = 0; i < n; i++) {
    gap();
    tm_ring_slot s;
    if (tm_ring_reserve(r, &s, NULL, 10000, &err) != 0) exit(1);
    uint64_t t = now_ns();
    memcpy(s.tokens, &t, 8);
    tm_ring_publish(r, 64, &cur, &err);
    /* like the ping-pong: wait for the consumer to take it before the gap */
    if (tm_ring_drain(r, 10000, &err) != 0) exit(1);
  }
  uint64_t *lat = malloc((size_t)n * sizeof *lat);
  size_t want = (size_t)n * sizeof *lat, got = 0;
  while (got < want) {
    ssize_t k = read(pf[0], (char *)lat + got, want - got);
    if (k <= 0) exit(1);
    got += (size_t)k;
  }
  int st;
  waitpid(pid, &st, 0);
  tm_ring_close(r, 1);
  close(pf[0]), close(pf[1]);
  pctl(lat, n, p50, p99);
  free(lat);
}

/* bare futex ping-pong: the parent stamps and wakes the child through one
 * word, the child records the latency and answers through another */
static void bench_futex_latency(int n, double *p50, double *p99) {
  struct shared {
    uint32_t ping, pong;
    uint64_t stamp;
    uint64_t lat[];
  } *sh = mmap(NULL, 4096 + (size_t)n * 8, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
  if (sh == MAP_FAILED) exit(1);
  sh->ping = sh->pong = 0;
  pid_t pid = fork();
  if (pid == 0) {
    for (uint32_t i = 0; i < (uint32_t)n; i++) {
      while (__atomic_load_n(&sh->ping, __ATOMIC_ACQUIRE) == i)
        syscall(SYS_futex, &sh->ping, FUTEX_WAIT, i, NULL, NULL, 0);
      sh->lat[i] = now_ns() - sh->stamp;
      __atomic_store_n(&sh->pong, i + 1, __ATOMIC_RELEASE);
      syscall(SYS_futex, &sh->pong, FUTEX_WAKE, 1, NULL, NULL, 0);
    }
    _exit(0);
  }
  for (uint32_t i = 0; i < (uint32_t)n; i++) {
    gap();
    sh->stamp = now_ns();
    __atomic_store_n(&sh->ping, i + 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &sh->ping, FUTEX_WAKE, 1, NULL, NULL, 0);
    while (__atomic_load_n(&sh->pong, __ATOMIC_ACQUIRE) == i)
      syscall(SYS_futex, &sh->pong, FUTEX_WAIT, i, NULL, NULL, 0);
  }
  int st;
  waitpid(pid, &st, 0);
  uint64_t *lat = malloc((size_t)n * 8);
  memcpy(lat, sh->lat, (size_t)n * 8);
  pctl(lat, n, p50, p99);
  free(lat);
  munmap(sh, 4096 + (size_t)n * 8);
}

static void bench_feeder(const char *dir, uint64_t batches, double step_s) {
  const uint32_t B = 8, T = 256;
  snprintf(ring_name + strlen(ring_name), 8, "f");
  pid_t pid = fork();
  if (pid == 0) {
    tm_feed_options o;
    memset(&o, 0, sizeof o);
    o.dir = dir;
    o.ring = ring_name;
    o.state_dir = "/tmp/bench-ring-feed-state";
    o.seed = 1;
    o.batch = B;
    o.seq_len = T;
    o.world = 1;
    o.rank = -1;
    o.max_batches = batches;
    o.drain = 1;
    tm_error e = {0};
    tm_feed_stats st;
    int rc = tm_feed_run(&o, &st, &e);
    if (rc < 0) fprintf(stderr, "bench_ring: feeder: %s\n", e.msg);
    _exit(rc < 0 ? 1 : 0);
  }
  tm_ring *c;
  tm_error err = {0};
  if (tm_ring_attach(&c, ring_name, 0, NULL, NULL, 0, 30000, &err) < 0) {
    fprintf(stderr, "bench_ring: %s\n", err.msg);
    return;
  }
  /* the first batch includes building the plan: time from the second */
  tm_ring_slot s;
  double t0 = 0;
  uint64_t got = 0, toks = 0;
  for (;;) {
    int rc = tm_ring_acquire(c, &s, 60000, &err);
    if (rc != 0) break;
    if (got == 0) t0 = tm_now_s();
    else toks += s.n_tokens;
    got++;
    tm_ring_release(c, &err);
  }
  double dt = tm_now_s() - t0;
  tm_ring_close(c, 0);
  int st;
  waitpid(pid, &st, 0);
  if (got < 2) {
    fprintf(stderr, "bench_ring: feeder delivered %llu batches\n", (unsigned long long)got);
    return;
  }
  double bps = (double)(got - 1) / dt, tps = (double)toks / dt;
  double trainer_tps = (double)(8 * 256) / step_s;
  printf("feeder    B=%u T=%u: %.0f batches/s, %.2f M tokens/s; trainer config S at %.3f s/step "
         "= %.0f tokens/s -> %.0fx (target >= 20x)\n",
         B, T, bps, tps / 1e6, step_s, trainer_tps, tps / trainer_tps);
}

int main(int argc, char **argv) {
  const char *shards = NULL;
  uint64_t feed_batches = 20000;
  double step_s = 0.745;
  int quick = 0, latency = 1;
  uint64_t min_slot = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--shards") && i + 1 < argc) shards = argv[++i];
    else if (!strcmp(argv[i], "--batches") && i + 1 < argc) feed_batches = strtoull(argv[++i], 0, 10);
    else if (!strcmp(argv[i], "--trainer-step-s") && i + 1 < argc) step_s = atof(argv[++i]);
    else if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--min-slot") && i + 1 < argc) min_slot = strtoull(argv[++i], 0, 10);
    else if (!strcmp(argv[i], "--no-latency")) latency = 0;
    else {
      fprintf(stderr, "usage: bench_ring [--shards DIR] [--batches N] [--trainer-step-s S] [--quick]\n"
                      "                  [--min-slot BYTES] [--no-latency]\n");
      return 2;
    }
  }
  snprintf(ring_name, sizeof ring_name, "bench%d", (int)getpid());
  src = malloc(SRC_BYTES);
  for (size_t i = 0; i < SRC_BYTES; i += 8) {
    uint64_t v = i * 0x9e3779b97f4a7c15ull;
    memcpy(src + i, &v, 8);
  }
  uint64_t total = quick ? (512ull << 20) : (2ull << 30);
  size_t sizes[] = {4096, 16384, 65536, 262144, 1048576, 4194304};
  printf("throughput: %llu MiB per run, median of 3 rounds, from a %llu MiB source (L3 is "
         "smaller)\n",
         (unsigned long long)(total >> 20), (unsigned long long)(SRC_BYTES >> 20));
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t slot = sizes[i];
    if (slot < min_slot) continue;
    /* the same buffering as the socket (4 MiB send + 4 MiB receive) */
    uint32_t n_slots = (uint32_t)((8u << 20) / slot);
    if (n_slots < 4) n_slots = 4;
    /* three rounds, each running every method once (load drift hits all
     * alike); the median of the three is printed */
    double mc3[3], rg3[3], rn3[3], rv3[3], sk3[3], rb3[3], sb3[3], nb;
    /* least CPU seconds per GB over the rounds: memcpy; ring producer and
     * consumer; socket writer and reader */
    double cm = 1e9, crp = 1e9, crc = 1e9, csw = 1e9, csr = 1e9, gb = (double)total / 1e9;
#define LEAST(v, x) v = (x) < v ? (x) : v
    for (int rep = 0; rep < 3; rep++) {
      mc3[rep] = bench_memcpy(slot, n_slots, total);
      LEAST(cm, g_cpu_parent / gb);
      rg3[rep] = bench_ring_tp(slot, n_slots, total, 0, 0, &rb3[rep]);
      LEAST(crp, g_cpu_parent / gb);
      LEAST(crc, g_cpu_child / gb);
      rn3[rep] = bench_ring_tp(slot, n_slots, total, TM_RING_NO_CHECKSUM, 0, &nb);
      rv3[rep] = bench_ring_tp(slot, n_slots, total, 0, 1, &nb);
      sk3[rep] = bench_socket(slot, total, &sb3[rep]);
      LEAST(csw, g_cpu_parent / gb);
      LEAST(csr, g_cpu_child / gb);
    }
#undef LEAST
    double mc = median3(mc3), rg = median3(rg3), rn = median3(rn3), rv = median3(rv3);
    double sk = median3(sk3), rb = median3(rb3), sb = median3(sb3);
    printf("slot %5zu KiB: memcpy %6.2f GB/s | ring %6.2f GB/s (%.2fx memcpy) %8.0f batches/s | "
           "ring no-checksum %6.2f GB/s (%.2fx memcpy) | ring, consumer verifies %6.2f GB/s "
           "(%.2fx memcpy) | unix socket %6.2f GB/s %8.0f batches/s | ring/socket %.2fx\n",
           slot >> 10, mc, rg, rg / mc, rb, rn, rn / mc, rv, rv / mc, sk, sb, rb / sb);
    printf("      CPU ms per GB (least of 3): memcpy %.0f | ring producer %.0f (%.2fx memcpy's) "
           "+ consumer %.0f | socket writer %.0f + reader %.0f\n",
           cm * 1e3, crp * 1e3, crp / cm, crc * 1e3, csw * 1e3, csr * 1e3);
    fflush(stdout);
  }
  int n = quick ? 1000 : 5000;
  if (latency) {
    double f50, f99, r50, r99, s50, s99;
    bench_futex_latency(n, &f50, &f99);
    bench_ring_latency(n, 0, &r50, &r99);
    bench_ring_latency(n, TM_RING_SPIN, &s50, &s99);
    printf("wake-up latency, idle (200 us gaps, %d samples): bare futex ping p50 %.1f us p99 %.1f us | "
           "ring p50 %.1f us p99 %.1f us (p50 %.2fx futex) | ring spin mode p50 %.1f us p99 %.1f us\n",
           n, f50, f99, r50, r99, r50 / f50, s50, s99);
  }
  if (shards) bench_feeder(shards, feed_batches, step_s);
  free(src);
  return 0;
}
