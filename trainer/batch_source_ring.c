/* batch_source_ring.c - batches from a tokenmill ring (common/ring.h).
 *
 * Each slot holds B windows of T+1 tokens; they are verified (checksum,
 * ids < vocab), widened into the (B,T) input and target arrays, and the slot
 * is released at once, so the feeder can refill it while we compute. The
 * batch's cursor is the slot's data cursor: stored in checkpoints and passed
 * back to tm_ring_attach on resume, the feeder continues right after it. A
 * heartbeat thread keeps us alive in the feeder's eyes during long steps. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch_source_internal.h"
#include "clock.h"
#include "log.h"
#include "ring.h"

typedef struct ring_src {
  tm_ring *ring;
  int width;
  int wait_ms;
} ring_src;

static int ring_next(tm_batch_source *s, tm_batch *b, tm_error *err) {
  ring_src *g = s->impl;
  tm_ring_slot slot;
  double t0 = tm_now_s();
  int rc;
  for (;;) {
    rc = tm_ring_acquire(g->ring, &slot, 1000, err);
    if (rc != -TM_EAGAIN && rc != -TM_EPEER) break;
    double waited = tm_now_s() - t0;
    if (s->stop && *s->stop) {
      s->wait_s += waited;
      return tm_err(err, TM_EAGAIN, "%s: interrupted while waiting for a batch",
                    tm_ring_name(g->ring));
    }
    if (rc == -TM_EPEER) tm_warn("ring_peer", "ring=%s waited_s=%.1f msg=%s", tm_ring_name(g->ring),
                                 waited, "feeder not alive; waiting for a new one");
    if (g->wait_ms >= 0 && waited * 1e3 > g->wait_ms) {
      s->wait_s += tm_now_s() - t0;
      return rc == -TM_EPEER ? rc
                             : tm_err(err, TM_EAGAIN, "%s: no batch within %d ms",
                                      tm_ring_name(g->ring), g->wait_ms);
    }
  }
  s->wait_s += tm_now_s() - t0;
  if (rc == TM_RING_END) return TM_BATCH_END;
  if (rc < 0) return rc;
  int B = s->info.B, T = s->info.T;
  uint64_t need = (uint64_t)B * (T + 1);
  if (slot.n_tokens != need) {
    tm_ring_release(g->ring, NULL);
    return tm_err(err, TM_EFORMAT, "%s: slot %llu holds %llu tokens, a batch is %llu",
                  tm_ring_name(g->ring), (unsigned long long)slot.seq,
                  (unsigned long long)slot.n_tokens, (unsigned long long)need);
  }
  if ((rc = tm_ring_slot_verify(g->ring, &slot, err)) < 0) {
    tm_ring_release(g->ring, NULL);
    return rc;
  }
  const uint8_t *p = slot.tokens;
  for (int r = 0; r < B; r++) {
    for (int t = 0; t <= T; t++) {
      size_t k = (size_t)r * (T + 1) + t;
      const uint8_t *q = p + k * g->width;
      int32_t id = g->width == 2 ? (int32_t)(q[0] | q[1] << 8)
                                 : (int32_t)((uint32_t)q[0] | (uint32_t)q[1] << 8 |
                                             (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24);
      if (t < T) s->inputs[(size_t)r * T + t] = id;
      if (t > 0) s->targets[(size_t)r * T + t - 1] = id;
    }
  }
  b->B = B;
  b->T = T;
  b->inputs = s->inputs;
  b->targets = s->targets;
  b->cursor = (tm_batch_cursor){slot.cursor.seed, slot.cursor.pass, slot.cursor.generation,
                                slot.cursor.window};
  return tm_ring_release(g->ring, err);
}

static void ring_free(tm_batch_source *s) {
  ring_src *g = s->impl;
  if (!g) return;
  tm_ring_close(g->ring, 0);
  free(g);
}

static const tm_batch_source_ops ring_ops = {ring_next, NULL, NULL, ring_free};

int tm_batch_source_ring(tm_batch_source **out, const char *name, unsigned rank,
                         const tm_batch_cursor *resume, int wait_ms, tm_error *err) {
  *out = NULL;
  tm_ring *ring = NULL;
  tm_ring_cursor rc_cur, *rcp = NULL;
  if (resume) {
    rc_cur = (tm_ring_cursor){resume->seed, resume->pass, resume->generation, resume->window};
    rcp = &rc_cur;
  }
  int rc = tm_ring_attach(&ring, name, rank, NULL, rcp, 0, wait_ms, err);
  if (rc < 0) return rc;
  tm_ring_params p;
  tm_ring_get_params(ring, &p);
  tm_batch_source *s = tm_batch_source_alloc(&ring_ops, (int)p.batch, (int)p.seq_len,
                                             (int)p.vocab_size, err);
  ring_src *g = s ? calloc(1, sizeof *g) : NULL;
  if (!g) {
    tm_ring_close(ring, 0);
    tm_batch_source_free(s);
    return tm_err(err, TM_ENOMEM, "batch source: out of memory");
  }
  g->ring = ring;
  g->width = (int)p.token_width;
  g->wait_ms = wait_ms;
  s->impl = g;
  s->info.tokenizer_hash = p.tokenizer_hash;
  s->info.eot_id = p.eot_id;
  if ((rc = tm_ring_start_heartbeat(ring, err)) < 0) {
    tm_batch_source_free(s);
    return rc;
  }
  *out = s;
  return 0;
}
