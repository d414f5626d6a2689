/* dp.c - data parallelism over MPI; see dp.h. */
#include "dp.h"
#include "clock.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#ifdef TOKENMILL_MPI
#include <mpi.h>
#endif

const tm_config_key tm_dp_config_keys[] = {
    {"dp", "hash_every", TM_CFG_INT, "100",
     "data parallel (mpirun): compare the parameter hash across ranks every N steps (and before "
     "every checkpoint); 0 = only before checkpoints"},
    {"dp", "bucket_kb", TM_CFG_INT, "4096", "data parallel: gradient allreduce bucket size in KiB"},
    {"dp", "timeout_s", TM_CFG_INT, "300",
     "data parallel: a collective still pending after this many seconds is an error (a peer "
     "rank is hung or dead)"},
    {"dp", "overlap", TM_CFG_BOOL, "true",
     "data parallel: post gradient buckets during backward, as layers finish (false: after "
     "backward)"},
    {NULL, NULL, 0, NULL, NULL},
};

static tm_dp_options g_opt = {100, 4096, 300, 1};
static int g_rank = 0, g_world = 1;
#ifdef TOKENMILL_MPI
static int g_mpi; /* we called MPI_Init */
/* reported by tm_dp_finalize: steps synced, buckets, floats summed, and the
 * time spent in tm_dp_sync_finish (communication not hidden by backward) */
static uint64_t g_syncs, g_buckets, g_floats;
static double g_exposed_s;
#endif

int tm_dp_options_from_config(const tm_config *c, tm_dp_options *o, tm_error *err) {
  o->hash_every = tm_config_int(c, "dp", "hash_every");
  o->bucket_kb = tm_config_int(c, "dp", "bucket_kb");
  o->timeout_s = tm_config_int(c, "dp", "timeout_s");
  o->overlap = tm_config_bool(c, "dp", "overlap");
  if (o->hash_every < 0)
    return tm_err(err, TM_EINVAL, "[dp] hash_every = %lld: must be >= 0", (long long)o->hash_every);
  if (o->bucket_kb < 1 || o->bucket_kb > 4 << 20)
    return tm_err(err, TM_EINVAL, "[dp] bucket_kb = %lld: must be in [1, 4194304]",
                  (long long)o->bucket_kb);
  if (o->timeout_s < 1 || o->timeout_s > 7 * 86400)
    return tm_err(err, TM_EINVAL, "[dp] timeout_s = %lld: must be in [1, 604800]",
                  (long long)o->timeout_s);
  return 0;
}

const tm_dp_options *tm_dp_get_options(void) { return &g_opt; }
int tm_dp_rank(void) { return g_rank; }
int tm_dp_world(void) { return g_world; }

#ifdef TOKENMILL_MPI

int tm_dp_built(void) { return 1; }

/* Started by a launcher? (mpirun: OMPI_*, PMIx; srun: PMI/PMIx.) A plain
 * start stays single-process: no singleton MPI_Init. */
static int launched(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE") ||
         getenv("PMI_RANK");
}

int tm_dp_init(const tm_dp_options *o, tm_error *err) {
  if (o) g_opt = *o;
  if (!launched()) return 0;
  int provided = 0;
  if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return tm_err(err, TM_EPEER, "MPI_Init_thread failed");
  g_mpi = 1;
  /* errors come back as codes (we report them), not as MPI's abort */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world);
  if (provided < MPI_THREAD_FUNNELED)
    return tm_err(err, TM_ESTATE, "MPI provides thread level %d, FUNNELED (%d) is needed",
                  provided, MPI_THREAD_FUNNELED);
  return 0;
}

void tm_dp_finalize(void) {
  if (g_mpi && g_syncs)
    tm_info("dp_end", "rank=%d world=%d steps=%llu buckets_per_step=%.1f mb_per_step=%.2f "
            "exposed_comm_ms_per_step=%.2f overlap=%d", g_rank, g_world,
            (unsigned long long)g_syncs, (double)g_buckets / (double)g_syncs,
            4.0 * (double)g_floats / (double)g_syncs / 1048576.0,
            1e3 * g_exposed_s / (double)g_syncs, g_opt.overlap);
  if (g_mpi) MPI_Finalize();
  g_mpi = 0;
}

void tm_dp_abort(int code) {
  if (g_mpi && g_world > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

static int mpi_fail(tm_error *err, int mrc, const char *what, uint64_t step) {
  char s[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(mrc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "code %d", mrc);
  return tm_err(err, TM_EPEER, "rank %d of %d: %s at step %llu failed: %s", g_rank, g_world, what,
                (unsigned long long)step, s);
}

/* Complete n requests, testing (which also drives progress) with a short
 * spin then short sleeps; a peer that never answers is an error after
 * timeout_s. */
static int wait_all(MPI_Request *req, int n, const char *what, uint64_t step, tm_error *err) {
  double t0 = tm_now_s(), deadline = t0 + (double)g_opt.timeout_s;
  for (;;) {
    int done = 0;
    int mrc = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
    if (mrc != MPI_SUCCESS) return mpi_fail(err, mrc, what, step);
    if (done) return 0;
    double t = tm_now_s();
    if (t > deadline)
      return tm_err(err, TM_EPEER, "rank %d of %d: %s at step %llu did not complete within %lld s "
                    "([dp] timeout_s): another rank is dead or hung", g_rank, g_world, what,
                    (unsigned long long)step, (long long)g_opt.timeout_s);
    if (t - t0 > 2e-3) {
      struct timespec ts = {0, 50000};
      nanosleep(&ts, NULL);
    }
  }
}

/* One gradient segment: n floats at grads + off. */
typedef struct seg {
  size_t off, n;
} seg;

struct tm_dp_sync {
  float *grads, *stage; /* stage: the segments packed in posting order */
  seg *segs;
  int n_segs;
  int *ev_first; /* event e (0 = lnf, 1..L = blocks L-1..0, L+1 = embeddings) packs
                    segments [ev_first[e], ev_first[e+1]) */
  int n_events, next_event;
  size_t staged, posted, bucket; /* floats */
  MPI_Request *req;
  int n_req;
  tm_error hook_err; /* the first error met inside the hook */
  int hook_rc;
};

int tm_dp_sync_create(tm_dp_sync **out, const tm_gpt_config *cfg, float *grads, tm_error *err) {
  *out = NULL;
  if (g_world == 1) return 0;
  size_t sizes[TM_GPT_NUM_TENSORS], off[TM_GPT_NUM_TENSORS], total = 0;
  tm_gpt_tensor_sizes(cfg, sizes);
  for (int i = 0; i < TM_GPT_NUM_TENSORS; i++) off[i] = total, total += sizes[i];
  int L = cfg->n_layer;
  tm_dp_sync *s = calloc(1, sizeof *s);
  if (!s) return tm_err(err, TM_ENOMEM, "data parallel: out of memory");
  s->n_events = L + 2;
  s->segs = calloc((size_t)12 * L + 4, sizeof *s->segs);
  s->ev_first = calloc((size_t)s->n_events + 1, sizeof *s->ev_first);
  s->req = calloc((size_t)s->n_events, sizeof *s->req);
  s->stage = malloc(total * sizeof(float));
  if (!s->segs || !s->ev_first || !s->req || !s->stage) {
    tm_dp_sync_free(s);
    return tm_err(err, TM_ENOMEM, "data parallel: out of memory for %zu gradient floats", total);
  }
  s->grads = grads;
  int k = 0;
  s->ev_first[0] = 0;
  s->segs[k++] = (seg){off[14], sizes[14]}; /* lnfw */
  s->segs[k++] = (seg){off[15], sizes[15]}; /* lnfb */
  for (int l = L - 1; l >= 0; l--) {
    s->ev_first[L - l] = k;
    for (int i = 2; i <= 13; i++) { /* ln1w .. fcprojb: layer l's slice */
      size_t per = sizes[i] / (size_t)L;
      s->segs[k++] = (seg){off[i] + (size_t)l * per, per};
    }
  }
  s->ev_first[L + 1] = k;
  s->segs[k++] = (seg){off[0], sizes[0]}; /* wte */
  s->segs[k++] = (seg){off[1], sizes[1]}; /* wpe */
  s->ev_first[L + 2] = k;
  s->n_segs = k;
  s->bucket = (size_t)g_opt.bucket_kb * 1024 / sizeof(float);
  *out = s;
  return 0;
}

void tm_dp_sync_free(tm_dp_sync *s) {
  if (!s) return;
  free(s->segs);
  free(s->ev_first);
  free(s->req);
  free(s->stage);
  free(s);
}

/* Pack event e's segments; post the staged floats when a bucket is full or
 * this is the last event. */
static int sync_event(tm_dp_sync *s, int e, uint64_t step, tm_error *err) {
  for (int i = s->ev_first[e]; i < s->ev_first[e + 1]; i++) {
    memcpy(s->stage + s->staged, s->grads + s->segs[i].off, s->segs[i].n * sizeof(float));
    s->staged += s->segs[i].n;
  }
  s->next_event = e + 1;
  size_t n = s->staged - s->posted;
  if (n == 0 || (n < s->bucket && e + 1 < s->n_events)) return 0;
  if (n > (size_t)INT32_MAX)
    return tm_err(err, TM_ELIMIT, "data parallel: a bucket of %zu floats is too large", n);
  int mrc = MPI_Iallreduce(MPI_IN_PLACE, s->stage + s->posted, (int)n, MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD, &s->req[s->n_req]);
  if (mrc != MPI_SUCCESS) return mpi_fail(err, mrc, "gradient allreduce", step);
  s->n_req++;
  s->posted = s->staged;
  g_buckets++;
  g_floats += n;
  return 0;
}

void tm_dp_sync_hook(void *ctx, int layer) {
  tm_dp_sync *s = ctx;
  if (s->hook_rc < 0) return;
  int L = s->n_events - 2;
  int e = layer == L ? 0 : layer >= 0 ? L - layer : L + 1;
  if (e != s->next_event) {
    s->hook_rc = tm_err(&s->hook_err, TM_ESTATE, "data parallel: backward hook for layer %d "
                        "out of order (expected event %d)", layer, s->next_event);
    return;
  }
  s->hook_rc = sync_event(s, e, 0, &s->hook_err);
  int done;
  if (s->hook_rc == 0 && s->n_req) /* drive progress of what is posted */
    MPI_Testall(s->n_req, s->req, &done, MPI_STATUSES_IGNORE);
}

int tm_dp_sync_finish(tm_dp_sync *s, uint64_t step, tm_error *err) {
  if (!s) return 0;
  double t0 = tm_now_s();
  int rc = s->hook_rc;
  if (rc < 0) *err = s->hook_err;
  while (rc == 0 && s->next_event < s->n_events) rc = sync_event(s, s->next_event, step, err);
  /* complete what was posted even after an error: the peers posted it too */
  if (s->n_req) {
    int wrc = wait_all(s->req, s->n_req, "gradient allreduce", step, rc < 0 ? NULL : err);
    if (rc == 0) rc = wrc;
  }
  if (rc == 0) {
    size_t o = 0;
    for (int i = 0; i < s->n_segs; i++) {
      memcpy(s->grads + s->segs[i].off, s->stage + o, s->segs[i].n * sizeof(float));
      o += s->segs[i].n;
    }
  }
  s->staged = s->posted = 0;
  s->n_req = s->next_event = 0;
  s->hook_rc = 0;
  g_syncs++;
  g_exposed_s += tm_now_s() - t0;
  return rc;
}

int tm_dp_sum_doubles(double *v, int n, uint64_t step, tm_error *err) {
  if (g_world == 1) return 0;
  if (n < 1 || n > 8) return tm_err(err, TM_EINVAL, "tm_dp_sum_doubles: n = %d", n);
  MPI_Request r;
  int mrc = MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &r);
  if (mrc != MPI_SUCCESS) return mpi_fail(err, mrc, "step status allreduce", step);
  return wait_all(&r, 1, "step status allreduce", step, err);
}

/* Gather one fixed-size record per rank into out (world records). */
static int gather_all(const void *mine, void *out, int bytes, const char *what, uint64_t step,
                      tm_error *err) {
  MPI_Request r;
  int mrc = MPI_Iallgather(mine, bytes, MPI_BYTE, out, bytes, MPI_BYTE, MPI_COMM_WORLD, &r);
  if (mrc != MPI_SUCCESS) return mpi_fail(err, mrc, what, step);
  return wait_all(&r, 1, what, step, err);
}

int tm_dp_check_params(const float *params, size_t n, uint64_t step, tm_error *err) {
  if (g_world == 1) return 0;
  uint64_t h = XXH3_64bits(params, n * sizeof(float));
  uint64_t *all = malloc((size_t)g_world * sizeof *all);
  if (!all) return tm_err(err, TM_ENOMEM, "parameter hash check: out of memory");
  int rc = gather_all(&h, all, (int)sizeof h, "parameter hash exchange", step, err);
  for (int i = 1; rc == 0 && i < g_world; i++)
    if (all[i] != all[0])
      rc = tm_err(err, TM_ESTATE, "step %llu: the parameters of rank %d (hash %016llx) differ "
                  "from rank 0's (%016llx): the ranks diverged (different binaries, thread "
                  "counts or data?)", (unsigned long long)step, i, (unsigned long long)all[i],
                  (unsigned long long)all[0]);
  free(all);
  return rc;
}

int tm_dp_check_cursor(const tm_batch_cursor *c, uint64_t step, tm_error *err) {
  if (g_world == 1) return 0;
  tm_batch_cursor *all = malloc((size_t)g_world * sizeof *all);
  if (!all) return tm_err(err, TM_ENOMEM, "cursor check: out of memory");
  int rc = gather_all(c, all, (int)sizeof *c, "data cursor exchange", step, err);
  for (int i = 1; rc == 0 && i < g_world; i++)
    if (memcmp(&all[i], &all[0], sizeof *c))
      rc = tm_err(err, TM_ESTATE, "step %llu: rank %d's data cursor (pass %llu, generation %llu, "
                  "window %llu) differs from rank 0's (pass %llu, generation %llu, window %llu): "
                  "are all ranks fed by feeders with the same --world, --batch and --seed?",
                  (unsigned long long)step, i, (unsigned long long)all[i].pass,
                  (unsigned long long)all[i].generation, (unsigned long long)all[i].window,
                  (unsigned long long)all[0].pass, (unsigned long long)all[0].generation,
                  (unsigned long long)all[0].window);
  free(all);
  return rc;
}

#else /* single process */

int tm_dp_built(void) { return 0; }
int tm_dp_init(const tm_dp_options *o, tm_error *err) {
  (void)err;
  if (o) g_opt = *o;
  return 0;
}
void tm_dp_finalize(void) {}
void tm_dp_abort(int code) { (void)code; }
int tm_dp_sync_create(tm_dp_sync **out, const tm_gpt_config *cfg, float *grads, tm_error *err) {
  (void)cfg, (void)grads, (void)err;
  *out = NULL;
  return 0;
}
void tm_dp_sync_free(tm_dp_sync *s) { (void)s; }
void tm_dp_sync_hook(void *s, int layer) { (void)s, (void)layer; }
int tm_dp_sync_finish(tm_dp_sync *s, uint64_t step, tm_error *err) {
  (void)s, (void)step, (void)err;
  return 0;
}
int tm_dp_sum_doubles(double *v, int n, uint64_t step, tm_error *err) {
  (void)v, (void)n, (void)step, (void)err;
  return 0;
}
int tm_dp_check_params(const float *params, size_t n, uint64_t step, tm_error *err) {
  (void)params, (void)n, (void)step, (void)err;
  return 0;
}
int tm_dp_check_cursor(const tm_batch_cursor *c, uint64_t step, tm_error *err) {
  (void)c, (void)step, (void)err;
  return 0;
}

#endif
