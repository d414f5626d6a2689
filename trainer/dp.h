/* dp.h - data-parallel training over MPI: one rank per process.
 *
 * Built with -DTOKENMILL_MPI=ON and started by mpirun/srun (the launcher's
 * environment: OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE), every
 * `tokenmill-train run` process is one rank of MPI_COMM_WORLD. Otherwise
 * (no MPI in the build, or a plain start) this is world 1, rank 0 and every
 * call below is a cheap local no-op, so the single-process trainer is
 * unchanged.
 *
 * The scheme (train_loop.c calls these):
 *   - data: rank r reads its own ring /tokenmill.NAME.r (`tokenmill feed
 *     --world W --rank R0-R1`, one feeder per node). The feeder gives rank r
 *     windows k*G + r + i*W of global batch k (G = W*B), so the W ranks
 *     together see exactly the batches of one process with batch W*B, and a
 *     data cursor counts global windows: it is the same on every rank and
 *     independent of W. File and synthetic sources are opened with batch
 *     W*B on every rank, and rank r trains on rows [r*B, (r+1)*B) of each.
 *   - gradients: backward runs with loss scale 1/(grad_accum*W), so the sum
 *     over ranks of the flat gradient buffers is the gradient of the global
 *     batch's mean loss. The sum is bucketed and overlapped with backward
 *     (tm_dp_sync): during the last micro-batch's backward a hook
 *     (tm_gpt_set_backward_hook) packs each layer's gradients into a staging
 *     buffer as soon as they are final (final LayerNorm, blocks L-1..0, then
 *     the embeddings) and posts an MPI_Iallreduce whenever [dp] bucket_kb
 *     have gathered; the hook also tests the posted requests, which is what
 *     drives MPI's progress. After backward the rest is posted, all are
 *     waited for and the sums copied back. Every rank posts the same
 *     buckets in the same order every step, even a rank whose data ended or
 *     that was asked to stop (it posts its partial gradients; the step is
 *     then dropped by all), so collectives always match. Every rank then
 *     computes the same norm, clip and AdamW update.
 *   - agreement: once per step one small allreduce carries the mean loss and
 *     each rank's status (data ended, stop requested); any rank's stop or end
 *     stops every rank at the same step. Every [dp] hash_every steps and
 *     before every checkpoint the XXH3-64 of the parameters is compared
 *     across ranks (a mismatch is a hard error naming the ranks), and before
 *     a checkpoint the ranks' data cursors are compared.
 *   - checkpoints: written by rank 0 only, with the cursor every rank agreed
 *     on; resume works with the same or another W as long as the global
 *     batch W*B is the same (a ring cursor must be a multiple of it).
 *   - failure: a collective that has not completed after [dp] timeout_s
 *     seconds (a peer hung or dead) is -TM_EPEER naming the step; the
 *     program then calls tm_dp_abort, which ends every rank (MPI_Abort).
 *     A rank killed outright is noticed by the launcher, which ends the job.
 *
 * Calls are made from the main thread only (MPI_THREAD_FUNNELED).
 */
#ifndef TM_DP_H
#define TM_DP_H

#include <stddef.h>
#include <stdint.h>

#include "batch_source.h"
#include "config.h"
#include "error.h"
#include "gpt.h"

/* [dp] keys (hash_every, bucket_kb, timeout_s, overlap); add to the command's schemas. */
extern const tm_config_key tm_dp_config_keys[];

typedef struct tm_dp_options {
  int64_t hash_every; /* compare parameter hashes every N steps; 0 = only at checkpoints */
  int64_t bucket_kb;  /* allreduce bucket size */
  int64_t timeout_s;  /* a collective pending this long is an error */
  int overlap;        /* post buckets during backward (1) or after it (0) */
} tm_dp_options;

/* Read the [dp] keys; -TM_EINVAL naming the key on a bad value. */
int tm_dp_options_from_config(const tm_config *c, tm_dp_options *o, tm_error *err);

/* Join MPI when the build has it and a launcher started this process;
 * otherwise world 1. Call once, before any other tm_dp_* call. */
int tm_dp_init(const tm_dp_options *o, tm_error *err);
/* Leave MPI (a no-op without it). */
void tm_dp_finalize(void);
/* End every rank of the job with exit code `code` (program code only: after
 * an error on one rank the others would wait forever). Returns only when
 * there is no MPI job. */
void tm_dp_abort(int code);

int tm_dp_rank(void);
int tm_dp_world(void);
/* 1 when this build has MPI support. */
int tm_dp_built(void);

/* The per-step gradient sum of a model with config cfg whose flat gradient
 * buffer is grads (see above). NULL *out (and 0) in world 1. */
typedef struct tm_dp_sync tm_dp_sync;
int tm_dp_sync_create(tm_dp_sync **out, const tm_gpt_config *cfg, float *grads, tm_error *err);
void tm_dp_sync_free(tm_dp_sync *s);
/* The backward hook: tm_gpt_set_backward_hook(m, tm_dp_sync_hook, s) for
 * the last micro-batch of a step ([dp] overlap = false: never set). */
void tm_dp_sync_hook(void *s, int layer);
/* Post every bucket the hook has not posted (all when it did not run), wait
 * for all of them, copy the sums into the gradient buffer; an error the
 * hook met is reported here. Call once per step on every rank. */
int tm_dp_sync_finish(tm_dp_sync *s, uint64_t step, tm_error *err);

/* One small allreduce per step: v[0..n) are summed over ranks in place
 * (n <= 8). Used for the loss and the status flags. */
int tm_dp_sum_doubles(double *v, int n, uint64_t step, tm_error *err);

/* Compare the XXH3-64 of the parameters across ranks: 0 when every rank
 * has the same, -TM_ESTATE naming the first differing rank otherwise. */
int tm_dp_check_params(const float *params, size_t n, uint64_t step, tm_error *err);

/* Compare the data cursors across ranks: they must all be equal (a cursor
 * counts global windows). -TM_ESTATE naming the ranks otherwise. */
int tm_dp_check_cursor(const tm_batch_cursor *c, uint64_t step, tm_error *err);

/* The options in force (defaults before tm_dp_init). */
const tm_dp_options *tm_dp_get_options(void);

#endif
