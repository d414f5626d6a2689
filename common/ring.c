/* ring.c - the shared-memory ring; the contract and layout are in ring.h.
 *
 * Concurrency rules (one producer, one consumer, in different processes):
 *  - head, ack_epoch, the producer owner/heartbeat and the slot headers and
 *    payloads of unpublished slots are written by the producer only;
 *  - read, tail, attach_epoch, the resume and consumed cursors and the
 *    consumer owner/heartbeat by the consumer only (owner words change hands
 *    by compare-and-swap, so two candidates never both win);
 *  - the one exception is the reseek: the producer moves head back to tail,
 *    which is safe because the consumer that asked for it waits for the ack
 *    before it reads head again.
 * Wakeups follow the Dekker pattern: the sleeper sets its waiting flag and
 * re-checks its condition (both seq_cst) before FUTEX_WAIT on a word it
 * loaded earlier; the waker changes the condition, bumps the futex word and
 * then reads the flag (seq_cst). One of the two always sees the other.
 */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "log.h"
#include "ring_proc.h"

#define RING_MAGIC "TMRING\0\1"
#define RING_PAGE 4096u
/* The default spin is short: right after waking the peer, a spinning side
 * can hold the very CPU the scheduler queued the peer on (wake-affine), so a
 * long spin delays the wake-up it waits for. The long spin of TM_RING_SPIN
 * yields the CPU every few iterations for the same reason. */
#define SPIN_NS_DEFAULT 2000ull    /* 2 us */
#define SPIN_NS_LONG 1000000ull    /* 1 ms with TM_RING_SPIN */

enum { STATE_ACTIVE = 1, STATE_FINISHED = 2 };

typedef struct ring_side {
  uint64_t pos;       /* producer: head; consumer: read */
  uint64_t pos2;      /* consumer: tail; producer: unused */
  uint64_t owner;     /* pid << 32 | start time */
  uint64_t heartbeat; /* CLOCK_MONOTONIC_COARSE ns */
  uint64_t epoch;     /* producer: ack_epoch; consumer: attach_epoch */
  uint32_t futex;     /* producer: data futex; consumer: space futex */
  uint32_t waiting;   /* this side sleeps in FUTEX_WAIT */
} ring_side;

typedef struct ring_cursors {
  uint32_t state;
  uint32_t resume_valid;
  uint32_t consumed_lock; /* seqlock: odd while the consumed cursor is written */
  uint32_t consumed_valid;
  tm_ring_cursor resume;
  tm_ring_cursor consumed;
} ring_cursors;

typedef struct ring_header {
  _Alignas(64) struct {
    char magic[8];
    uint32_t version;
    uint32_t owner_uid;
    uint32_t n_slots;
    uint32_t header_bytes;
    uint64_t slot_bytes;
    uint64_t total_bytes;
    uint64_t slot_hdr_off;
    uint64_t payload_off;
    uint64_t payload_stride;
  } geo;
  _Alignas(64) struct {
    uint32_t vocab_size, token_width, batch, seq_len, eot_id, timeout_ms;
    uint64_t tokenizer_hash;
    uint32_t flags; /* TM_RING_NO_CHECKSUM */
  } info;
  _Alignas(64) ring_side prod;
  _Alignas(64) ring_side cons;
  _Alignas(64) ring_cursors cur;
} ring_header;

typedef struct ring_slot_hdr {
  _Alignas(64) uint64_t seq;
  tm_ring_cursor cursor;
  uint64_t n_tokens;
  uint64_t checksum;
} ring_slot_hdr;

_Static_assert(sizeof(ring_header) <= RING_PAGE, "ring header fits one page");
_Static_assert(sizeof(ring_slot_hdr) == 64, "slot header is one cache line");

struct tm_ring {
  char name[TM_RING_NAME_MAX + 32];
  ring_header *h;
  size_t map_bytes;
  int is_producer;
  unsigned flags;
  ring_side *me, *peer;
  uint64_t my_owner;
  uint64_t my_epoch;   /* consumer: the epoch of its attach */
  int need_ack;        /* consumer: attached with a cursor, not yet acked */
  int holding;         /* consumer: a slot is acquired; producer: reserved */
  uint64_t reported;   /* last reported peer trouble: owner word << 2 | kind */
  int has_reported;
  int woke_peer;       /* the last publish/release woke a sleeping peer: do not
                        * spin in the next wait, the peer needs this CPU */
  uint64_t timeout_ns;
  pthread_t hb_thread;
  int hb_running;
  pthread_mutex_t hb_mu;
  pthread_cond_t hb_cv;
  int hb_stop;
};

/* ---- small helpers ---------------------------------------------------------- */

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define LOAD_SC(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE_SC(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static ring_slot_hdr *slot_hdr(const tm_ring *r, uint64_t pos) {
  return (ring_slot_hdr *)((char *)r->h + r->h->geo.slot_hdr_off) + pos % r->h->geo.n_slots;
}

static void *slot_payload(const tm_ring *r, uint64_t pos) {
  return (char *)r->h + r->h->geo.payload_off + (pos % r->h->geo.n_slots) * r->h->geo.payload_stride;
}

/* Side `from` changed something `to` may wait for: bump from's futex word
 * (the peer sleeps on it) and wake it if it announced that it sleeps. */
static int wake(ring_side *from, ring_side *to) {
  __atomic_fetch_add(&from->futex, 1, __ATOMIC_SEQ_CST);
  if (!LOAD_SC(&to->waiting)) return 0;
  tm_futex_wake_all(&from->futex);
  return 1;
}

void tm_ring_beat(tm_ring *r) {
  if (r) STORE(&r->me->heartbeat, tm_proc_coarse_ns());
}

int tm_ring_shm_name(char *out, size_t cap, const char *name, unsigned rank, tm_error *err) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > TM_RING_NAME_MAX)
    return tm_err(err, TM_EINVAL, "ring name must be 1..%d characters", TM_RING_NAME_MAX);
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return tm_err(err, TM_EINVAL, "ring name '%s': character %zu ('%c') is not [A-Za-z0-9_-]",
                    name, i, c);
  }
  int w = snprintf(out, cap, "/tokenmill.%s.%u", name, rank);
  if (w < 0 || (size_t)w >= cap) return tm_err(err, TM_EINVAL, "ring name '%s' too long", name);
  return 0;
}

void tm_ring_params_for(tm_ring_params *p, uint32_t vocab_size, uint32_t batch, uint32_t seq_len,
                        uint32_t eot_id, uint64_t tokenizer_hash) {
  memset(p, 0, sizeof *p);
  p->vocab_size = vocab_size;
  p->token_width = vocab_size <= 65536u ? 2u : 4u;
  p->batch = batch;
  p->seq_len = seq_len;
  p->eot_id = eot_id;
  p->tokenizer_hash = tokenizer_hash;
  p->n_slots = 4;
  p->slot_bytes = round_up((uint64_t)batch * ((uint64_t)seq_len + 1) * p->token_width, RING_PAGE);
  p->timeout_ms = TM_RING_DEFAULT_TIMEOUT_MS;
}

static int check_params(const tm_ring_params *p, const char *name, tm_error *err) {
  if (p->n_slots < 2 || p->n_slots > (1u << 20))
    return tm_err(err, TM_EINVAL, "ring %s: n_slots %u not in 2..%u", name, p->n_slots, 1u << 20);
  if (p->token_width != 2 && p->token_width != 4)
    return tm_err(err, TM_EINVAL, "ring %s: token_width %u is not 2 or 4", name, p->token_width);
  if (p->slot_bytes > (1ull << 34))
    return tm_err(err, TM_EINVAL, "ring %s: slot_bytes %llu too large", name,
                  (unsigned long long)p->slot_bytes);
  /* batch x (T+1) fits 64 bits (both are 32-bit), x width 4 too only when
   * the product is small: compare against slot_bytes before multiplying */
  uint64_t win = (uint64_t)p->batch * ((uint64_t)p->seq_len + 1);
  if (win > (1ull << 34))
    return tm_err(err, TM_EINVAL, "ring %s: batch %u x (seq_len %u + 1) too large", name,
                  p->batch, p->seq_len);
  uint64_t need = win * p->token_width;
  if (p->slot_bytes == 0 || p->slot_bytes < need)
    return tm_err(err, TM_EINVAL,
                  "ring %s: slot_bytes %llu < batch %u x (seq_len %u + 1) x width %u = %llu", name,
                  (unsigned long long)p->slot_bytes, p->batch, p->seq_len, p->token_width,
                  (unsigned long long)need);
  if (p->slot_bytes > (1ull << 34))
    return tm_err(err, TM_EINVAL, "ring %s: slot_bytes %llu too large", name,
                  (unsigned long long)p->slot_bytes);
  return 0;
}

static void fill_layout(ring_header *h, const tm_ring_params *p) {
  memset(h, 0, sizeof *h);
  h->geo.version = TM_RING_VERSION;
  h->geo.owner_uid = (uint32_t)geteuid();
  h->geo.n_slots = p->n_slots;
  h->geo.header_bytes = RING_PAGE;
  h->geo.slot_bytes = p->slot_bytes;
  h->geo.slot_hdr_off = RING_PAGE;
  h->geo.payload_off = RING_PAGE + round_up((uint64_t)p->n_slots * sizeof(ring_slot_hdr), RING_PAGE);
  h->geo.payload_stride = round_up(p->slot_bytes, RING_PAGE);
  h->geo.total_bytes = h->geo.payload_off + (uint64_t)p->n_slots * h->geo.payload_stride;
  h->info.vocab_size = p->vocab_size;
  h->info.token_width = p->token_width;
  h->info.batch = p->batch;
  h->info.seq_len = p->seq_len;
  h->info.eot_id = p->eot_id;
  h->info.timeout_ms = p->timeout_ms ? p->timeout_ms : TM_RING_DEFAULT_TIMEOUT_MS;
  h->info.tokenizer_hash = p->tokenizer_hash;
}

void tm_ring_get_params(const tm_ring *r, tm_ring_params *p) {
  const ring_header *h = r->h;
  memset(p, 0, sizeof *p);
  p->n_slots = h->geo.n_slots;
  p->slot_bytes = h->geo.slot_bytes;
  p->vocab_size = h->info.vocab_size;
  p->token_width = h->info.token_width;
  p->batch = h->info.batch;
  p->seq_len = h->info.seq_len;
  p->eot_id = h->info.eot_id;
  p->tokenizer_hash = h->info.tokenizer_hash;
  p->timeout_ms = h->info.timeout_ms;
}

const char *tm_ring_name(const tm_ring *r) { return r->name; }

int tm_ring_checksummed(const tm_ring *r) {
  return !(r->h->info.flags & TM_RING_NO_CHECKSUM);
}

/* First differing field between a ring's params and wanted ones (0 = match);
 * zero fields of `want` are not compared when lenient. */
static int params_mismatch(const tm_ring_params *have, const tm_ring_params *want, int lenient,
                           char *msg, size_t cap) {
#define CMP(f)                                                                                  \
  if ((!lenient || want->f) && have->f != want->f) {                                            \
    snprintf(msg, cap, "%s: ring has %llu, expected %llu", #f, (unsigned long long)have->f,    \
             (unsigned long long)want->f);                                                      \
    return 1;                                                                                   \
  }
  CMP(n_slots) CMP(slot_bytes) CMP(vocab_size) CMP(token_width) CMP(batch) CMP(seq_len)
  CMP(eot_id) CMP(tokenizer_hash)
#undef CMP
  return 0;
}

static tm_ring *ring_new(const char *shm, int is_producer, unsigned flags) {
  tm_ring *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  snprintf(r->name, sizeof r->name, "%s", shm);
  r->is_producer = is_producer;
  r->flags = flags;
  r->my_owner = tm_proc_self_owner();
  pthread_mutex_init(&r->hb_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&r->hb_cv, &ca);
  pthread_condattr_destroy(&ca);
  return r;
}

static void ring_bind(tm_ring *r, ring_header *h, size_t bytes) {
  r->h = h;
  r->map_bytes = bytes;
  r->me = r->is_producer ? &h->prod : &h->cons;
  r->peer = r->is_producer ? &h->cons : &h->prod;
  r->timeout_ns = (uint64_t)h->info.timeout_ms * 1000000ull;
}

static void ring_free(tm_ring *r) {
  if (!r) return;
  if (r->h) munmap(r->h, r->map_bytes);
  pthread_mutex_destroy(&r->hb_mu);
  pthread_cond_destroy(&r->hb_cv);
  free(r);
}

/* Map an existing object: checks uid, size, magic and version. *hdr_zero is
 * set when the object is still being initialised (size or magic zero). */
static int map_existing(int fd, const char *shm, unsigned flags, ring_header **out, size_t *bytes,
                        int *hdr_zero, tm_error *err) {
  (void)flags;
  *hdr_zero = 0;
  struct stat st;
  if (fstat(fd, &st) < 0) return tm_err_sys(err, "ring %s: fstat", shm);
  if (st.st_uid != geteuid())
    return tm_err(err, TM_EINVAL, "ring %s is owned by uid %u, not by this user (uid %u): refused",
                  shm, (unsigned)st.st_uid, (unsigned)geteuid());
  if ((uint64_t)st.st_size < RING_PAGE) {
    *hdr_zero = 1;
    return tm_err(err, TM_EFORMAT, "ring %s: object is %lld bytes, smaller than its header", shm,
                  (long long)st.st_size);
  }
  ring_header *h = mmap(NULL, RING_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (h == MAP_FAILED) return tm_err_sys(err, "ring %s: mmap header", shm);
  char magic[8];
  memcpy(magic, h->geo.magic, 8);
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  static const char zero[8];
  if (memcmp(magic, RING_MAGIC, 8) != 0) {
    *hdr_zero = memcmp(magic, zero, 8) == 0;
    munmap(h, RING_PAGE);
    return tm_err(err, TM_EFORMAT, "ring %s: bad magic (not a tokenmill ring%s)", shm,
                  *hdr_zero ? ", or still being created" : "");
  }
  if (h->geo.version != TM_RING_VERSION) {
    uint32_t v = h->geo.version;
    munmap(h, RING_PAGE);
    return tm_err(err, TM_EFORMAT, "ring %s: format version %u, this program reads version %u",
                  shm, v, TM_RING_VERSION);
  }
  if (h->geo.owner_uid != (uint32_t)geteuid()) {
    uint32_t u = h->geo.owner_uid;
    munmap(h, RING_PAGE);
    return tm_err(err, TM_EINVAL, "ring %s was created by uid %u, not this user (uid %u): refused",
                  shm, u, (unsigned)geteuid());
  }
  /* the layout must be the one this geometry gives: a hostile or corrupt
   * header must not point a reader outside the mapping */
  ring_header want;
  tm_ring_params hp = {.n_slots = h->geo.n_slots, .slot_bytes = h->geo.slot_bytes,
                       .vocab_size = h->info.vocab_size, .token_width = h->info.token_width,
                       .batch = h->info.batch, .seq_len = h->info.seq_len,
                       .eot_id = h->info.eot_id, .tokenizer_hash = h->info.tokenizer_hash,
                       .timeout_ms = h->info.timeout_ms};
  tm_error perr = {0};
  int bad = check_params(&hp, shm, &perr) < 0;
  if (!bad) {
    fill_layout(&want, &hp);
    bad = want.geo.header_bytes != h->geo.header_bytes ||
          want.geo.slot_hdr_off != h->geo.slot_hdr_off ||
          want.geo.payload_off != h->geo.payload_off ||
          want.geo.payload_stride != h->geo.payload_stride ||
          want.geo.total_bytes != h->geo.total_bytes || h->info.timeout_ms == 0;
  }
  if (bad) {
    munmap(h, RING_PAGE);
    return tm_err(err, TM_ECORRUPT, "ring %s: inconsistent geometry in the header%s%s", shm,
                  perr.msg[0] ? ": " : "", perr.msg);
  }
  uint64_t total = h->geo.total_bytes;
  munmap(h, RING_PAGE);
  if (total != (uint64_t)st.st_size)
    return tm_err(err, TM_ECORRUPT, "ring %s: header says %llu bytes, object has %lld", shm,
                  (unsigned long long)total, (long long)st.st_size);
  h = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (h == MAP_FAILED) return tm_err_sys(err, "ring %s: mmap %llu bytes", shm,
                                         (unsigned long long)total);
  *out = h;
  *bytes = total;
  return 0;
}

/* ---- producer: create / take over -------------------------------------------- */

static int create_fresh(tm_ring *r, const tm_ring_params *p, tm_error *err) {
  int fd = shm_open(r->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return -TM_EEXIST;
    return tm_err_sys(err, "ring %s: shm_open", r->name);
  }
  ring_header tmpl;
  fill_layout(&tmpl, p);
  if (ftruncate(fd, (off_t)tmpl.geo.total_bytes) < 0) {
    int rc = tm_err_sys(err, "ring %s: ftruncate to %llu bytes", r->name,
                        (unsigned long long)tmpl.geo.total_bytes);
    close(fd);
    shm_unlink(r->name);
    return rc;
  }
  ring_header *h = mmap(NULL, tmpl.geo.total_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (h == MAP_FAILED) {
    int rc = tm_err_sys(err, "ring %s: mmap", r->name);
    shm_unlink(r->name);
    return rc;
  }
  memcpy(h, &tmpl, sizeof tmpl);
  h->info.flags = r->flags & TM_RING_NO_CHECKSUM;
  h->prod.owner = r->my_owner;
  h->prod.heartbeat = tm_proc_coarse_ns();
  h->cur.state = STATE_ACTIVE;
  /* the magic last: an attacher that sees it sees a complete header */
  __atomic_thread_fence(__ATOMIC_RELEASE);
  memcpy(h->geo.magic, RING_MAGIC, 8);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  ring_bind(r, h, tmpl.geo.total_bytes);
  return 0;
}

/* Take over an existing, mapped ring whose producer is not alive. */
static int take_over(tm_ring *r, const tm_ring_params *p, tm_error *err) {
  ring_header *h = r->h;
  uint64_t old = LOAD(&h->prod.owner);
  if (tm_proc_owner_status(old) == TM_PROC_ALIVE)
    return tm_err(err, TM_EEXIST, "ring %s already has a live producer (pid %u): refused", r->name,
                  tm_proc_owner_pid(old));
  if (!__atomic_compare_exchange_n(&h->prod.owner, &old, r->my_owner, 0, __ATOMIC_SEQ_CST,
                                   __ATOMIC_SEQ_CST))
    return tm_err(err, TM_EEXIST, "ring %s: another producer took it over (pid %u): refused",
                  r->name, tm_proc_owner_pid(old));
  (void)p;
  STORE(&h->prod.heartbeat, tm_proc_coarse_ns());
  STORE(&h->prod.waiting, 0u);
  STORE(&h->cur.state, (uint32_t)STATE_ACTIVE);
  wake(&h->prod, &h->cons); /* a consumer waiting for the old producer re-checks */
  return 1;
}

int tm_ring_create(tm_ring **out, const char *name, unsigned rank, const tm_ring_params *p,
                   unsigned flags, tm_error *err) {
  *out = NULL;
  char shm[TM_RING_NAME_MAX + 32];
  int rc = tm_ring_shm_name(shm, sizeof shm, name, rank, err);
  if (rc < 0) return rc;
  if ((rc = check_params(p, shm, err)) < 0) return rc;
  tm_ring *r = ring_new(shm, 1, flags);
  if (!r) return tm_err(err, TM_ENOMEM, "ring %s: out of memory", shm);
  for (int attempt = 0; attempt < 50; attempt++) {
    rc = create_fresh(r, p, err);
    if (rc == 0) {
      *out = r;
      return 0;
    }
    if (rc != -TM_EEXIST) break;
    int fd = shm_open(shm, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
      if (errno == ENOENT) continue; /* removed meanwhile: create again */
      rc = tm_err_sys(err, "ring %s: shm_open", shm);
      break;
    }
    ring_header *h;
    size_t bytes;
    int hdr_zero;
    rc = map_existing(fd, shm, flags, &h, &bytes, &hdr_zero, err);
    close(fd);
    if (rc == -TM_EFORMAT || rc == -TM_ECORRUPT) {
      /* an object left half-created by a crashed creator stays zero; give a
       * creator that is still running a moment, then treat it as stale */
      if (hdr_zero && attempt < 20) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        continue;
      }
      if (hdr_zero || (flags & TM_RING_RECREATE)) {
        tm_info("ring_recreate", "ring=%s reason=\"%s\"", shm, err ? err->msg : "bad header");
        shm_unlink(shm);
        continue;
      }
      break;
    }
    if (rc < 0) break;
    ring_bind(r, h, bytes);
    tm_ring_params have;
    tm_ring_get_params(r, &have);
    char why[160];
    if (!params_mismatch(&have, p, 0, why, sizeof why)) {
      rc = take_over(r, p, err);
      if (rc < 0) break;
      tm_info("ring_takeover", "ring=%s head=%llu tail=%llu", shm,
              (unsigned long long)LOAD(&h->prod.pos), (unsigned long long)LOAD(&h->cons.pos2));
      *out = r;
      return 1;
    }
    /* another geometry: recreate it unless somebody lives on it */
    uint64_t po = LOAD(&h->prod.owner), co = LOAD(&h->cons.owner);
    munmap(r->h, r->map_bytes);
    r->h = NULL;
    if (tm_proc_owner_status(po) == TM_PROC_ALIVE || tm_proc_owner_status(co) == TM_PROC_ALIVE) {
      rc = tm_err(err, TM_EINVAL,
                  "ring %s exists with another geometry (%s) and a live %s (pid %u): refused", shm,
                  why, tm_proc_owner_status(po) == TM_PROC_ALIVE ? "producer" : "consumer",
                  tm_proc_owner_pid(tm_proc_owner_status(po) == TM_PROC_ALIVE ? po : co));
      break;
    }
    tm_info("ring_recreate", "ring=%s reason=\"stale ring with another geometry: %s\"", shm, why);
    shm_unlink(shm);
  }
  if (rc >= 0) rc = tm_err(err, TM_EIO, "ring %s: could not create (raced too often)", shm);
  ring_free(r);
  return rc;
}

static void read_consumed(const ring_header *h, tm_ring_cursor *c, int *valid) {
  for (;;) {
    uint32_t s1 = LOAD(&h->cur.consumed_lock);
    if (s1 & 1) {
      tm_cpu_relax();
      continue;
    }
    *valid = (int)LOAD(&h->cur.consumed_valid);
    memcpy(c, (const void *)&h->cur.consumed, sizeof *c);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (LOAD(&h->cur.consumed_lock) == s1) return;
  }
}

int tm_ring_consumed_cursor(tm_ring *r, tm_ring_cursor *c) {
  int valid;
  read_consumed(r->h, c, &valid);
  return valid ? 1 : 0;
}

int tm_ring_producer_cursor(tm_ring *r, tm_ring_cursor *c) {
  ring_header *h = r->h;
  if (LOAD(&h->cons.epoch) != LOAD(&h->prod.epoch) && LOAD(&h->cur.resume_valid)) {
    memcpy(c, &h->cur.resume, sizeof *c);
    return 1;
  }
  uint64_t head = LOAD(&h->prod.pos);
  if (head == 0) {
    int valid;
    read_consumed(h, c, &valid);
    return valid ? 1 : 0;
  }
  memcpy(c, &slot_hdr(r, head - 1)->cursor, sizeof *c);
  return 1;
}

/* ---- waiting ------------------------------------------------------------------ */

typedef int (*ring_cond)(tm_ring *r);

/* 0 alive; -TM_EPEER (message filled) when the peer is dead or hung, or has
 * been absent for longer than the liveness timeout since `since`. */
static int peer_check(tm_ring *r, uint64_t since, uint64_t *owner_out, int *kind,
                      tm_error *err) {
  const char *who = r->is_producer ? "consumer" : "producer";
  uint64_t owner = LOAD(&r->peer->owner);
  int st = tm_proc_owner_status(owner);
  uint64_t now = tm_proc_now_ns();
  *owner_out = owner;
  *kind = st == TM_PROC_ALIVE ? 3 : st; /* 1 alive-but-hung is 3; absent 0, dead 2 */
  if (st == TM_PROC_DEAD)
    return tm_err(err, TM_EPEER, "ring %s: %s dead (pid %u is gone)", r->name, who,
                  tm_proc_owner_pid(owner));
  if (st == TM_PROC_ABSENT) {
    if (now - since > r->timeout_ns)
      return tm_err(err, TM_EPEER, "ring %s: no %s attached for %.1f s", r->name, who,
                    (double)(now - since) / 1e9);
    return 0;
  }
  uint64_t hb = LOAD(&r->peer->heartbeat), nowc = tm_proc_coarse_ns();
  if (hb < nowc && nowc - hb > r->timeout_ns)
    return tm_err(err, TM_EPEER, "ring %s: %s hung (pid %u, heartbeat %.1f s old, timeout %.1f s)",
                  r->name, who, tm_proc_owner_pid(owner), (double)(nowc - hb) / 1e9,
                  (double)r->timeout_ns / 1e9);
  return 0;
}

int tm_ring_peer_alive(tm_ring *r, tm_error *err) {
  tm_ring_beat(r);
  uint64_t owner;
  int kind;
  return peer_check(r, 0, &owner, &kind, err);
}

/* Wait until cond(r) is true, sleeping on the peer's futex word.
 * Returns 0, -TM_EAGAIN (timeout) or -TM_EPEER. */
static int ring_wait(tm_ring *r, ring_cond cond, int timeout_ms, tm_error *err) {
  if (cond(r)) {
    r->has_reported = 0;
    return 0;
  }
  uint64_t start = tm_proc_now_ns();
  uint64_t spin = (r->flags & TM_RING_SPIN) ? SPIN_NS_LONG : SPIN_NS_DEFAULT;
  if (r->woke_peer && !(r->flags & TM_RING_SPIN)) spin = 0;
  r->woke_peer = 0;
  for (unsigned i = 0; spin; i++) {
    if (cond(r)) {
      r->has_reported = 0;
      return 0;
    }
    tm_cpu_relax();
    if ((i & 15) == 15) {
      if (tm_proc_now_ns() - start > spin) break;
      if (r->flags & TM_RING_SPIN) sched_yield();
    }
  }
  uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : start + (uint64_t)timeout_ms * 1000000ull;
  uint64_t slice = r->timeout_ns / 4;
  if (slice == 0) slice = 1000000;
  uint32_t *word = &r->peer->futex; /* bumped by the peer on every change */
  int peer_rc = 0;
  for (;;) {
    uint32_t v = LOAD_SC(word);
    STORE_SC(&r->me->waiting, 1u);
    if (cond(r)) {
      STORE_SC(&r->me->waiting, 0u);
      r->has_reported = 0;
      return 0;
    }
    uint64_t now = tm_proc_now_ns();
    if (now >= deadline) {
      STORE_SC(&r->me->waiting, 0u);
      if (peer_rc < 0) return peer_rc;
      return tm_err(err, TM_EAGAIN, "ring %s: timed out after %d ms", r->name, timeout_ms);
    }
    uint64_t t = deadline - now < slice ? deadline - now : slice;
    tm_futex_wait(word, v, t);
    STORE_SC(&r->me->waiting, 0u);
    tm_ring_beat(r);
    if (cond(r)) {
      r->has_reported = 0;
      return 0;
    }
    uint64_t owner_seen;
    int kind;
    peer_rc = peer_check(r, start, &owner_seen, &kind, err);
    if (peer_rc < 0) {
      /* report trouble with the peer at once; the same trouble again (the same
       * dead pid) only when the caller's timeout ends, so that a caller
       * waiting for a successor does not spin */
      uint64_t key = (owner_seen << 2) | (uint64_t)kind;
      if (!r->has_reported || key != r->reported) {
        r->reported = key;
        r->has_reported = 1;
        return peer_rc;
      }
    } else {
      r->has_reported = 0;
    }
  }
}

/* ---- producer: data path ---------------------------------------------------- */

static int cond_space_or_attach(tm_ring *r) {
  ring_header *h = r->h;
  if (LOAD(&h->cons.epoch) != LOAD(&h->prod.epoch)) return 1;
  return LOAD(&h->prod.pos) - LOAD(&h->cons.pos2) < h->geo.n_slots;
}

static int cursor_eq(const tm_ring_cursor *a, const tm_ring_cursor *b) {
  return a->seed == b->seed && a->pass == b->pass && a->generation == b->generation &&
         a->window == b->window;
}

/* Handle a consumer (re)attach. Returns 1 when the producer must reseek. */
static int handle_attach(tm_ring *r, tm_ring_cursor *reseek) {
  ring_header *h = r->h;
  uint64_t e = LOAD(&h->cons.epoch);
  if (e == LOAD(&h->prod.epoch)) return 0;
  int need = 0;
  if (LOAD(&h->cur.resume_valid)) {
    tm_ring_cursor want, have;
    memcpy(&want, &h->cur.resume, sizeof want);
    int valid;
    read_consumed(h, &have, &valid);
    /* the ring already continues right after the resume cursor: keep it */
    if (!(valid && cursor_eq(&want, &have))) {
      STORE(&h->prod.pos, LOAD(&h->cons.pos2));
      if (reseek) *reseek = want;
      need = 1;
    }
  }
  tm_info("ring_attach", "ring=%s consumer_pid=%u reseek=%d", r->name,
          tm_proc_owner_pid(LOAD(&h->cons.owner)), need);
  STORE_SC(&h->prod.epoch, e);
  wake(&h->prod, &h->cons);
  return need;
}

int tm_ring_reserve(tm_ring *r, tm_ring_slot *slot, tm_ring_cursor *reseek, int timeout_ms,
                    tm_error *err) {
  if (!r->is_producer) return tm_err(err, TM_ESTATE, "ring %s: reserve on a consumer", r->name);
  tm_ring_beat(r);
  for (;;) {
    if (handle_attach(r, reseek)) {
      r->holding = 0;
      return TM_RING_RESEEK;
    }
    int rc = ring_wait(r, cond_space_or_attach, timeout_ms, err);
    if (rc < 0) return rc;
    if (LOAD(&r->h->cons.epoch) != LOAD(&r->h->prod.epoch)) continue;
    break;
  }
  uint64_t head = LOAD(&r->h->prod.pos);
  slot->seq = head;
  memset(&slot->cursor, 0, sizeof slot->cursor);
  slot->n_tokens = 0;
  slot->checksum = 0;
  slot->tokens = slot_payload(r, head);
  slot->capacity = r->h->geo.slot_bytes;
  r->holding = 1;
  return 0;
}

int tm_ring_publish(tm_ring *r, uint64_t n_tokens, const tm_ring_cursor *cursor, tm_error *err) {
  if (!r->is_producer || !r->holding)
    return tm_err(err, TM_ESTATE, "ring %s: publish without a reserved slot", r->name);
  ring_header *h = r->h;
  if (n_tokens > h->geo.slot_bytes / h->info.token_width)
    return tm_err(err, TM_EINVAL, "ring %s: %llu tokens do not fit a %llu-byte slot", r->name,
                  (unsigned long long)n_tokens, (unsigned long long)h->geo.slot_bytes);
  uint64_t bytes = n_tokens * h->info.token_width;
  uint64_t head = h->prod.pos;
  ring_slot_hdr *s = slot_hdr(r, head);
  s->seq = head;
  s->cursor = *cursor;
  s->n_tokens = n_tokens;
  s->checksum = (h->info.flags & TM_RING_NO_CHECKSUM)
                    ? 0
                    : XXH3_64bits(slot_payload(r, head), (size_t)bytes);
  r->holding = 0;
  STORE_SC(&h->prod.pos, head + 1);
  r->woke_peer = wake(&h->prod, &h->cons);
  return 0;
}

int tm_ring_finish(tm_ring *r, tm_error *err) {
  if (!r->is_producer) return tm_err(err, TM_ESTATE, "ring %s: finish on a consumer", r->name);
  STORE_SC(&r->h->cur.state, (uint32_t)STATE_FINISHED);
  wake(&r->h->prod, &r->h->cons);
  return 0;
}

static int cond_drained(tm_ring *r) {
  return LOAD(&r->h->cons.pos2) == LOAD(&r->h->prod.pos);
}

int tm_ring_drain(tm_ring *r, int timeout_ms, tm_error *err) {
  tm_ring_beat(r);
  return ring_wait(r, cond_drained, timeout_ms, err);
}

/* ---- consumer ---------------------------------------------------------------- */

int tm_ring_attach(tm_ring **out, const char *name, unsigned rank, const tm_ring_params *expect,
                   const tm_ring_cursor *resume, unsigned flags, int wait_ms, tm_error *err) {
  *out = NULL;
  char shm[TM_RING_NAME_MAX + 32];
  int rc = tm_ring_shm_name(shm, sizeof shm, name, rank, err);
  if (rc < 0) return rc;
  uint64_t deadline = tm_proc_now_ns() + (wait_ms > 0 ? (uint64_t)wait_ms * 1000000ull : 0);
  ring_header *h = NULL;
  size_t bytes = 0;
  for (;;) {
    int fd = shm_open(shm, O_RDWR | O_CLOEXEC, 0);
    if (fd >= 0) {
      int hdr_zero;
      rc = map_existing(fd, shm, flags, &h, &bytes, &hdr_zero, err);
      close(fd);
      if (rc == 0) break;
      if (!hdr_zero) return rc;
    } else if (errno != ENOENT) {
      return tm_err_sys(err, "ring %s: shm_open", shm);
    } else {
      rc = tm_err(err, TM_ENOTFOUND, "ring %s does not exist (is the feeder running?)", shm);
    }
    if (wait_ms == 0 || (wait_ms > 0 && tm_proc_now_ns() >= deadline)) return rc;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  tm_ring *r = ring_new(shm, 0, flags);
  if (!r) {
    munmap(h, bytes);
    return tm_err(err, TM_ENOMEM, "ring %s: out of memory", shm);
  }
  ring_bind(r, h, bytes);
  if (expect) {
    tm_ring_params have;
    tm_ring_get_params(r, &have);
    char why[160];
    if (params_mismatch(&have, expect, 1, why, sizeof why)) {
      rc = tm_err(err, TM_EINVAL, "ring %s: geometry mismatch: %s", shm, why);
      ring_free(r);
      return rc;
    }
  }
  for (;;) {
    uint64_t old = LOAD(&h->cons.owner);
    if (old == r->my_owner) break; /* this process reattaching */
    if (tm_proc_owner_status(old) == TM_PROC_ALIVE) {
      rc = tm_err(err, TM_EEXIST, "ring %s already has a live consumer (pid %u): refused", shm,
                  tm_proc_owner_pid(old));
      ring_free(r);
      return rc;
    }
    if (__atomic_compare_exchange_n(&h->cons.owner, &old, r->my_owner, 0, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST))
      break;
  }
  tm_ring_beat(r);
  /* a slot acquired but not released by a dead predecessor is delivered again */
  STORE(&h->cons.pos, LOAD(&h->cons.pos2));
  if (resume) {
    memcpy(&h->cur.resume, resume, sizeof *resume);
    STORE(&h->cur.resume_valid, 1u);
  } else {
    STORE(&h->cur.resume_valid, 0u);
  }
  r->my_epoch = LOAD(&h->cons.epoch) + 1;
  r->need_ack = resume != NULL;
  STORE_SC(&h->cons.epoch, r->my_epoch);
  wake(&h->cons, &h->prod); /* the producer may sleep waiting for space */
  *out = r;
  return 0;
}

static int cond_data(tm_ring *r) {
  ring_header *h = r->h;
  if (r->need_ack) {
    uint64_t a = LOAD(&h->prod.epoch);
    if (a < r->my_epoch) return 0;
    r->need_ack = 0;
  }
  if (LOAD(&h->prod.pos) > h->cons.pos) return 1;
  return LOAD(&h->cur.state) == STATE_FINISHED;
}

int tm_ring_acquire(tm_ring *r, tm_ring_slot *slot, int timeout_ms, tm_error *err) {
  if (r->is_producer) return tm_err(err, TM_ESTATE, "ring %s: acquire on a producer", r->name);
  if (r->holding)
    return tm_err(err, TM_ESTATE, "ring %s: acquire while holding slot %llu (release it first)",
                  r->name, (unsigned long long)r->h->cons.pos - 1);
  tm_ring_beat(r);
  ring_header *h = r->h;
  int rc = ring_wait(r, cond_data, timeout_ms, err);
  if (rc < 0) return rc;
  uint64_t rd = h->cons.pos;
  if (LOAD(&h->prod.pos) <= rd) return TM_RING_END; /* finished and drained */
  ring_slot_hdr *s = slot_hdr(r, rd);
  slot->seq = s->seq;
  slot->cursor = s->cursor;
  slot->n_tokens = s->n_tokens;
  slot->checksum = s->checksum;
  slot->tokens = slot_payload(r, rd);
  slot->capacity = h->geo.slot_bytes;
  if (slot->seq != rd || slot->n_tokens > h->geo.slot_bytes / h->info.token_width)
    return tm_err(err, TM_ECORRUPT, "ring %s: slot %llu header is corrupt (seq %llu, %llu tokens)",
                  r->name, (unsigned long long)rd, (unsigned long long)slot->seq,
                  (unsigned long long)slot->n_tokens);
  STORE(&h->cons.pos, rd + 1);
  r->holding = 1;
  return 0;
}

int tm_ring_slot_verify(const tm_ring *r, const tm_ring_slot *slot, tm_error *err) {
  const ring_header *h = r->h;
  if (slot->n_tokens > h->geo.slot_bytes / h->info.token_width)
    return tm_err(err, TM_ECORRUPT, "ring %s: slot seq %llu: %llu tokens exceed the slot", r->name,
                  (unsigned long long)slot->seq, (unsigned long long)slot->n_tokens);
  uint64_t bytes = slot->n_tokens * h->info.token_width;
  uint64_t sum = (h->info.flags & TM_RING_NO_CHECKSUM) ? 0 : XXH3_64bits(slot->tokens, (size_t)bytes);
  if (sum != slot->checksum)
    return tm_err(err, TM_ECORRUPT, "ring %s: slot seq %llu: checksum %016llx, expected %016llx",
                  r->name, (unsigned long long)slot->seq, (unsigned long long)sum,
                  (unsigned long long)slot->checksum);
  uint32_t vocab = h->info.vocab_size;
  if (vocab) {
    for (uint64_t i = 0; i < slot->n_tokens; i++) {
      uint32_t t;
      if (h->info.token_width == 2) {
        uint16_t v;
        memcpy(&v, (const char *)slot->tokens + 2 * i, 2);
        t = v;
      } else {
        memcpy(&t, (const char *)slot->tokens + 4 * i, 4);
      }
      if (t >= vocab)
        return tm_err(err, TM_ECORRUPT,
                      "ring %s: slot seq %llu: token %llu is %u, not below vocab_size %u",
                      r->name, (unsigned long long)slot->seq, (unsigned long long)i, t, vocab);
    }
  }
  return 0;
}

int tm_ring_release(tm_ring *r, tm_error *err) {
  if (r->is_producer || !r->holding)
    return tm_err(err, TM_ESTATE, "ring %s: release without an acquired slot", r->name);
  ring_header *h = r->h;
  uint64_t tail = h->cons.pos2;
  ring_slot_hdr *s = slot_hdr(r, tail);
  /* the consumed cursor, under a seqlock (the producer may read it) */
  uint32_t lk = h->cur.consumed_lock;
  STORE(&h->cur.consumed_lock, lk + 1);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  memcpy(&h->cur.consumed, &s->cursor, sizeof h->cur.consumed);
  STORE(&h->cur.consumed_valid, 1u);
  STORE(&h->cur.consumed_lock, lk + 2);
  r->holding = 0;
  STORE_SC(&h->cons.pos2, tail + 1);
  r->woke_peer = wake(&h->cons, &h->prod);
  STORE(&h->cons.heartbeat, tm_proc_coarse_ns());
  return 0;
}

/* ---- heartbeat thread, close ------------------------------------------------- */

static void *hb_main(void *arg) {
  tm_ring *r = arg;
  uint64_t period = r->timeout_ns / 4;
  pthread_mutex_lock(&r->hb_mu);
  while (!r->hb_stop) {
    tm_ring_beat(r);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + period;
    ts.tv_sec += (time_t)(ns / 1000000000ull);
    ts.tv_nsec = (long)(ns % 1000000000ull);
    pthread_cond_timedwait(&r->hb_cv, &r->hb_mu, &ts);
  }
  pthread_mutex_unlock(&r->hb_mu);
  return NULL;
}

int tm_ring_start_heartbeat(tm_ring *r, tm_error *err) {
  if (r->hb_running) return 0;
  r->hb_stop = 0;
  int e = pthread_create(&r->hb_thread, NULL, hb_main, r);
  if (e) {
    errno = e;
    return tm_err_sys(err, "ring %s: starting the heartbeat thread", r->name);
  }
  r->hb_running = 1;
  return 0;
}

void tm_ring_close(tm_ring *r, int unlink_shm) {
  if (!r) return;
  if (r->hb_running) {
    pthread_mutex_lock(&r->hb_mu);
    r->hb_stop = 1;
    pthread_cond_signal(&r->hb_cv);
    pthread_mutex_unlock(&r->hb_mu);
    pthread_join(r->hb_thread, NULL);
  }
  if (r->h) {
    if (!r->is_producer && r->holding) STORE(&r->h->cons.pos, r->h->cons.pos2);
    uint64_t mine = r->my_owner;
    __atomic_compare_exchange_n(&r->me->owner, &mine, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    wake(r->me, r->peer);
  }
  if (unlink_shm) shm_unlink(r->name);
  ring_free(r);
}

int tm_ring_unlink_stale(const char *name, unsigned rank, tm_error *err) {
  char shm[TM_RING_NAME_MAX + 32];
  int rc = tm_ring_shm_name(shm, sizeof shm, name, rank, err);
  if (rc < 0) return rc;
  int fd = shm_open(shm, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    return tm_err_sys(err, "ring %s: shm_open", shm);
  }
  ring_header *h;
  size_t bytes;
  int hdr_zero;
  rc = map_existing(fd, shm, 0, &h, &bytes, &hdr_zero, err);
  close(fd);
  if (rc == 0) {
    uint64_t po = LOAD(&h->prod.owner), co = LOAD(&h->cons.owner);
    munmap(h, bytes);
    if (tm_proc_owner_status(po) == TM_PROC_ALIVE || tm_proc_owner_status(co) == TM_PROC_ALIVE)
      return tm_err(err, TM_EEXIST, "ring %s is in use (producer pid %u, consumer pid %u)", shm,
                    tm_proc_owner_pid(po), tm_proc_owner_pid(co));
  } else if (rc != -TM_EFORMAT && rc != -TM_ECORRUPT) {
    return rc;
  }
  if (shm_unlink(shm) < 0 && errno != ENOENT) return tm_err_sys(err, "ring %s: shm_unlink", shm);
  return 1;
}
