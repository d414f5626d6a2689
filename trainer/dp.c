/* dp.c - data parallelism over MPI; see dp.h. */
#include "dp.h"

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
    {"dp", "bucket_mb", TM_CFG_INT, "16", "data parallel: gradient allreduce bucket size in MiB"},
    {"dp", "timeout_s", TM_CFG_INT, "300",
     "data parallel: a collective still pending after this many seconds is an error (a peer "
     "rank is hung or dead)"},
    {NULL, NULL, 0, NULL, NULL},
};

static tm_dp_options g_opt = {100, 16, 300};
static int g_rank = 0, g_world = 1;
#ifdef TOKENMILL_MPI
static int g_mpi; /* we called MPI_Init */
#endif

int tm_dp_options_from_config(const tm_config *c, tm_dp_options *o, tm_error *err) {
  o->hash_every = tm_config_int(c, "dp", "hash_every");
  o->bucket_mb = tm_config_int(c, "dp", "bucket_mb");
  o->timeout_s = tm_config_int(c, "dp", "timeout_s");
  if (o->hash_every < 0)
    return tm_err(err, TM_EINVAL, "[dp] hash_every = %lld: must be >= 0", (long long)o->hash_every);
  if (o->bucket_mb < 1 || o->bucket_mb > 4096)
    return tm_err(err, TM_EINVAL, "[dp] bucket_mb = %lld: must be in [1, 4096]",
                  (long long)o->bucket_mb);
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
  if (g_mpi) MPI_Finalize();
  g_mpi = 0;
}

void tm_dp_abort(int code) {
  if (g_mpi && g_world > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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
  double t0 = now_s(), deadline = t0 + (double)g_opt.timeout_s;
  for (;;) {
    int done = 0;
    int mrc = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
    if (mrc != MPI_SUCCESS) return mpi_fail(err, mrc, what, step);
    if (done) return 0;
    double t = now_s();
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

#define MAX_BUCKETS 4096

int tm_dp_allreduce_sum(float *buf, size_t n, uint64_t step, tm_error *err) {
  if (g_world == 1 || n == 0) return 0;
  size_t per = (size_t)g_opt.bucket_mb * (1u << 20) / sizeof(float);
  if (per > (size_t)1 << 30) per = (size_t)1 << 30; /* int counts */
  size_t nb = (n + per - 1) / per;
  if (nb > MAX_BUCKETS) {
    per = (n + MAX_BUCKETS - 1) / MAX_BUCKETS;
    nb = (n + per - 1) / per;
  }
  MPI_Request req[MAX_BUCKETS];
  /* last bucket first: the order in which backward finishes the tensors
   * (head and last layers first), as an overlapped schedule would post them */
  int posted = 0;
  for (size_t b = nb; b-- > 0;) {
    size_t off = b * per, len = n - off < per ? n - off : per;
    int mrc = MPI_Iallreduce(MPI_IN_PLACE, buf + off, (int)len, MPI_FLOAT, MPI_SUM,
                             MPI_COMM_WORLD, &req[posted]);
    if (mrc != MPI_SUCCESS) {
      int rc = mpi_fail(err, mrc, "gradient allreduce", step);
      if (posted) wait_all(req, posted, "gradient allreduce", step, NULL);
      return rc;
    }
    posted++;
  }
  return wait_all(req, posted, "gradient allreduce", step, err);
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
int tm_dp_allreduce_sum(float *buf, size_t n, uint64_t step, tm_error *err) {
  (void)buf, (void)n, (void)step, (void)err;
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
