/* ring_peek.c - a monitor's read-only look at a ring header (ring_peek.h).
 *
 * shm_open O_RDONLY, mmap PROT_READ of the header page only: the slots are
 * never mapped, nothing is written, no owner word is taken. A header that
 * a crashed or hostile process wrote is checked before it is believed
 * (magic, version, slot count, positions in order). */
#include "ring_peek.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ring_impl.h"
#include "ring_proc.h"

const char *tm_ring_side_name(int s) {
  switch (s) {
  case TM_RING_SIDE_ALIVE: return "alive";
  case TM_RING_SIDE_DEAD: return "dead";
  case TM_RING_SIDE_HUNG: return "hung";
  default: return "absent";
  }
}

/* The liveness of one side: its owner word, then its heartbeat. */
static int side_state(const ring_side *s, uint64_t timeout_ns, uint32_t *pid, double *age_s) {
  uint64_t owner = LOAD(&s->owner);
  *pid = tm_proc_owner_pid(owner);
  *age_s = -1;
  if (!owner) return TM_RING_SIDE_ABSENT;
  uint64_t hb = LOAD(&s->heartbeat), now = tm_proc_coarse_ns();
  *age_s = now > hb ? (double)(now - hb) * 1e-9 : 0;
  int st = tm_proc_owner_status(owner);
  if (st != TM_PROC_ALIVE) return st == TM_PROC_DEAD ? TM_RING_SIDE_DEAD : TM_RING_SIDE_ABSENT;
  return now > hb && now - hb > timeout_ns ? TM_RING_SIDE_HUNG : TM_RING_SIDE_ALIVE;
}

/* The seqlock'd consumed cursor; not valid when a writer holds it for long
 * (a consumer that died mid-write leaves it odd: unknown, not a spin). */
static int read_consumed(const ring_header *h, tm_ring_cursor *c) {
  for (unsigned tries = 0; tries < 4096; tries++) {
    uint32_t s1 = LOAD(&h->cur.consumed_lock);
    if (s1 & 1) {
      tm_cpu_relax();
      continue;
    }
    int valid = (int)LOAD(&h->cur.consumed_valid);
    memcpy(c, (const void *)&h->cur.consumed, sizeof *c);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (LOAD(&h->cur.consumed_lock) == s1) return valid ? 1 : 0;
  }
  memset(c, 0, sizeof *c);
  return 0;
}

int tm_ring_peek(const char *name, unsigned rank, tm_ring_peek_info *out, tm_error *err) {
  memset(out, 0, sizeof *out);
  char shm[TM_RING_NAME_MAX + 32];
  int rc = tm_ring_shm_name(shm, sizeof shm, name, rank, err);
  if (rc < 0) return rc;
  int fd = shm_open(shm, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == ENOENT) return tm_err(err, TM_ENOTFOUND, "ring %s: no such ring", shm);
    return tm_err_sys(err, "ring %s: shm_open", shm);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = tm_err_sys(err, "ring %s: fstat", shm);
    close(fd);
    return rc;
  }
  if ((uint64_t)st.st_size < RING_PAGE) {
    close(fd);
    return tm_err(err, TM_EFORMAT, "ring %s: %lld bytes, shorter than its header (%u)", shm, (long long)st.st_size,
                  RING_PAGE);
  }
  const ring_header *h = mmap(NULL, RING_PAGE, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (h == MAP_FAILED) return tm_err_sys(err, "ring %s: mmap", shm);
  rc = 0;
  if (memcmp(h->geo.magic, RING_MAGIC, 8) != 0) {
    rc = tm_err(err, TM_EFORMAT, "ring %s: offset 0: bad magic (not a tokenmill ring, or half created)", shm);
  } else if (h->geo.version != TM_RING_VERSION) {
    rc = tm_err(err, TM_EFORMAT, "ring %s: field version: %u (this build reads %d)", shm, h->geo.version,
                TM_RING_VERSION);
  } else if (h->geo.n_slots < 1) {
    rc = tm_err(err, TM_EFORMAT, "ring %s: field n_slots: 0", shm);
  }
  if (rc < 0) {
    munmap((void *)h, RING_PAGE);
    return rc;
  }
  tm_ring_params *p = &out->params;
  p->n_slots = h->geo.n_slots;
  p->slot_bytes = h->geo.slot_bytes;
  p->vocab_size = h->info.vocab_size;
  p->token_width = h->info.token_width;
  p->batch = h->info.batch;
  p->seq_len = h->info.seq_len;
  p->eot_id = h->info.eot_id;
  p->tokenizer_hash = h->info.tokenizer_hash;
  p->timeout_ms = h->info.timeout_ms ? h->info.timeout_ms : TM_RING_DEFAULT_TIMEOUT_MS;
  /* the consumer's positions first: a producer moving on meanwhile keeps
   * consumed <= acquired <= published true in the snapshot */
  out->consumed = LOAD(&h->cons.pos2);
  out->acquired = LOAD(&h->cons.pos);
  out->published = LOAD(&h->prod.pos);
  out->finished = LOAD(&h->cur.state) == STATE_FINISHED;
  uint64_t timeout_ns = (uint64_t)p->timeout_ms * 1000000ull;
  out->producer = side_state(&h->prod, timeout_ns, &out->producer_pid, &out->producer_heartbeat_age_s);
  out->consumer = side_state(&h->cons, timeout_ns, &out->consumer_pid, &out->consumer_heartbeat_age_s);
  out->consumed_valid = read_consumed(h, &out->consumed_cursor);
  out->resume_valid = LOAD(&h->cur.resume_valid) != 0;
  if (out->resume_valid) memcpy(&out->resume_cursor, (const void *)&h->cur.resume, sizeof out->resume_cursor);
  munmap((void *)h, RING_PAGE);
  if (out->consumed > out->acquired || out->acquired > out->published + 1)
    return tm_err(err, TM_EFORMAT, "ring %s: positions out of order (published %llu, acquired %llu, released %llu)",
                  shm, (unsigned long long)out->published, (unsigned long long)out->acquired,
                  (unsigned long long)out->consumed);
  return 0;
}
