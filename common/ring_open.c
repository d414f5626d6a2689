/* ring_open.c - creating, taking over, attaching to and closing rings; the
 * liveness heartbeat thread. See ring.h for the rules (stale rings, second
 * consumer, geometry checks) and ring_impl.h for the layout.
 */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ring_impl.h"
#include "ring_proc.h"

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
  p->slot_bytes = tm_ringi_round_up((uint64_t)batch * ((uint64_t)seq_len + 1) * p->token_width, RING_PAGE);
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
  h->geo.payload_off = RING_PAGE + tm_ringi_round_up((uint64_t)p->n_slots * sizeof(ring_slot_hdr), RING_PAGE);
  h->geo.payload_stride = tm_ringi_round_up(p->slot_bytes, RING_PAGE);
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
  tm_ringi_fold_free(r);
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
  /* populated: no page faults in the data path */
  h = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
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
  /* Commit the memory now: a /dev/shm without room for the slots is an
   * error here, not a SIGBUS when the producer first writes a slot; and the
   * populated mapping takes no page faults in the data path. */
  int e = posix_fallocate(fd, 0, (off_t)tmpl.geo.total_bytes);
  if (e != 0 && e != EOPNOTSUPP && e != EINVAL) {
    errno = e;
    int rc = tm_err_sys(err, "ring %s: allocating %llu bytes in /dev/shm (%u slots of %llu bytes)",
                        r->name, (unsigned long long)tmpl.geo.total_bytes, p->n_slots,
                        (unsigned long long)p->slot_bytes);
    close(fd);
    shm_unlink(r->name);
    return rc;
  }
  ring_header *h = mmap(NULL, tmpl.geo.total_bytes, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_POPULATE, fd, 0);
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
  tm_ringi_wake(&h->prod, &h->cons); /* a consumer waiting for the old producer re-checks */
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

/* ---- consumer: attach ---------------------------------------------------------- */

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
  /* a predecessor killed inside a release left the seqlock odd: close it */
  uint32_t lk = LOAD(&h->cur.consumed_lock);
  if (lk & 1) STORE(&h->cur.consumed_lock, lk + 1);
  if (resume) {
    memcpy(&h->cur.resume, resume, sizeof *resume);
    STORE(&h->cur.resume_valid, 1u);
  } else {
    STORE(&h->cur.resume_valid, 0u);
  }
  r->my_epoch = LOAD(&h->cons.epoch) + 1;
  r->need_ack = resume != NULL;
  STORE_SC(&h->cons.epoch, r->my_epoch);
  tm_ringi_wake(&h->cons, &h->prod); /* the producer may sleep waiting for space */
  *out = r;
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
    tm_ringi_wake(r->me, r->peer);
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
