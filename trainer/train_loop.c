/* train_loop.c - see train_loop.h. */
#include "train_loop.h"
#include "clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adamw.h"
#include "batch_source.h"
#include "checkpoint.h"
#include "dp.h" /* data parallel over MPI: world 1 = no-ops */
#include "gpt.h"
#include "io.h"
#include "log.h"
#include "metrics.h"
#include "rng.h"
#include "threads.h"
#include "tokenizer.h"

typedef struct run {
  const tm_train_options *o;
  tm_gpt_config cfg;
  tm_gpt *model;
  tm_adamw opt;
  tm_batch_source *train, *val;
  tm_metrics *metrics;
  tm_ckpt_meta meta; /* step, cursor, rng, early-stopping state */
  uint64_t tokenizer_hash;
} run;

static int open_sources(run *r, const tm_ckpt_meta *resume, tm_error *err) {
  const tm_train_options *o = r->o;
  int T = o->model.max_seq_len ? o->model.max_seq_len : 256;
  int V = o->model.vocab_size;
  int rc;
  if (o->tokenizer[0]) {
    tm_tokenizer *tok = NULL;
    if ((rc = tm_tokenizer_load(&tok, o->tokenizer, err)) < 0) return rc;
    int tv = (int)tm_tokenizer_vocab_size(tok);
    r->tokenizer_hash = tm_tokenizer_hash(tok);
    tm_tokenizer_free(tok);
    if (V && V < tv)
      return tm_err(err, TM_EINVAL, "[model] vocab_size = %d is smaller than %s's vocabulary (%d)",
                    V, o->tokenizer, tv);
    if (!V) V = tv;
  }
  if (resume) {
    if (V && V != resume->cfg.vocab_size)
      return tm_err(err, TM_EINVAL, "resume: the checkpoint's vocabulary is %d, the config's %d",
                    resume->cfg.vocab_size, V);
    V = resume->cfg.vocab_size;
    T = resume->cfg.max_seq_len;
  }
  switch (o->data) {
    case TM_DATA_RING: {
      rc = tm_batch_source_ring(&r->train, o->ring_name, o->ring_rank,
                                resume && resume->has_cursor ? &resume->cursor : NULL,
                                o->ring_wait_ms, err);
      if (rc < 0) return rc;
      tm_batch_info in;
      tm_batch_source_info(r->train, &in);
      if (in.B != o->batch)
        return tm_err(err, TM_EINVAL, "ring %s: batch %d, the config's [train] batch is %d",
                      o->ring_name, in.B, o->batch);
      if ((o->model.max_seq_len || resume) && in.T != T)
        return tm_err(err, TM_EINVAL, "ring %s: seq_len %d, the config's (or checkpoint's) %d",
                      o->ring_name, in.T, T);
      if (V && in.vocab_size != V)
        return tm_err(err, TM_EINVAL, "ring %s: vocabulary %d, the config's (or checkpoint's) %d",
                      o->ring_name, in.vocab_size, V);
      if (r->tokenizer_hash && in.tokenizer_hash && in.tokenizer_hash != r->tokenizer_hash)
        return tm_err(err, TM_EINVAL, "ring %s: tokenizer hash %016llx differs from %s's %016llx",
                      o->ring_name, (unsigned long long)in.tokenizer_hash, o->tokenizer,
                      (unsigned long long)r->tokenizer_hash);
      T = in.T;
      V = in.vocab_size;
      r->tokenizer_hash = in.tokenizer_hash;
      break;
    }
    case TM_DATA_FILE:
      if (!V) return tm_err(err, TM_EINVAL, "[model] vocab_size (or [data] tokenizer) is needed "
                            "with source = file");
      rc = tm_batch_source_file(&r->train, o->train_file, o->batch * tm_dp_world() /* dp: G */, T,
                                V, o->seed, 1, err);
      if (rc < 0) return rc;
      break;
    case TM_DATA_SYNTHETIC:
      if (!V) V = 256;
      rc = tm_batch_source_synthetic(&r->train, o->batch * tm_dp_world() /* dp: G */, T, V,
                                     o->seed, err);
      if (rc < 0) return rc;
      break;
  }
  if (resume && resume->has_cursor && o->data != TM_DATA_RING &&
      (rc = tm_batch_source_seek(r->train, &resume->cursor, err)) < 0)
    return rc;
  if (o->val_file[0] && o->val_ring[0])
    return tm_err(err, TM_EINVAL, "[data] val_file and val_ring are both set: choose one");
  if (o->val_file[0] && o->eval_every) {
    rc = tm_batch_source_file(&r->val, o->val_file, o->batch * tm_dp_world() /* dp: G */, T, V,
                              0, 0, err);
    if (rc < 0) return tm_err_prefix(err, "validation");
  } else if (o->val_ring[0] && o->eval_every && resume) {
    /* the validation set the interrupted run read from the ring */
    char vpath[2048];
    snprintf(vpath, sizeof vpath, "%s/val_set.tmv", o->out_dir);
    rc = tm_batch_source_cache_load(&r->val, vpath, o->batch, T, V, err);
    if (rc < 0) return tm_err_prefix(err, "validation");
  } else if (o->val_ring[0] && o->eval_every) {
    tm_batch_source *vr = NULL;
    rc = tm_batch_source_ring(&vr, o->val_ring, o->ring_rank, NULL, o->ring_wait_ms, err);
    if (rc < 0) return tm_err_prefix(err, "validation");
    tm_batch_info vi;
    tm_batch_source_info(vr, &vi);
    if (vi.B != o->batch || vi.T != T || vi.vocab_size != V) {
      tm_batch_source_free(vr);
      return tm_err(err, TM_EINVAL, "validation ring %s: batch %d, seq_len %d, vocabulary %d; "
                    "training uses %d, %d, %d", o->val_ring, vi.B, vi.T, vi.vocab_size, o->batch,
                    T, V);
    }
    rc = tm_batch_source_cache(&r->val, vr, (int)o->eval_batches, err);
    tm_batch_source_free(vr);
    if (rc < 0) return tm_err_prefix(err, "validation ring %s", o->val_ring);
    char vpath[2048];
    snprintf(vpath, sizeof vpath, "%s/val_set.tmv", o->out_dir);
    if ((rc = tm_batch_source_cache_save(r->val, vpath, err)) < 0) return rc;
  }
  r->cfg = (tm_gpt_config){.max_seq_len = T, .vocab_size = V, .n_layer = o->model.n_layer,
                           .n_head = o->model.n_head, .d_model = o->model.d_model};
  return 0;
}

static int evaluate(run *r, float *out, tm_error *err) {
  tm_batch_source_rewind(r->val);
  double sum = 0;
  int64_t n = r->o->eval_batches;
  uint64_t per_pass = tm_batch_source_batches_per_pass(r->val);
  if (per_pass && (uint64_t)n > per_pass) n = (int64_t)per_pass; /* each batch once */
  for (int64_t i = 0; i < n; i++) {
    tm_batch b;
    float loss;
    int rc = tm_batch_source_next(r->val, &b, err);
    if (rc < 0) return tm_err_prefix(err, "validation");
    if (tm_dp_world() > 1 && r->o->val_file[0]) { /* dp: this rank's rows of the batch */
      b.inputs += (size_t)tm_dp_rank() * r->o->batch * b.T;
      b.targets += (size_t)tm_dp_rank() * r->o->batch * b.T;
      b.B = r->o->batch;
    }
    if ((rc = tm_gpt_forward(r->model, b.inputs, b.targets, b.B, b.T, &loss, err)) < 0) return rc;
    sum += loss;
  }
  double mean = sum / (double)n;
  int rc = tm_dp_sum_doubles(&mean, 1, r->meta.step, err); /* dp: mean over ranks */
  if (rc < 0) return rc;
  *out = (float)(mean / tm_dp_world());
  return 0;
}

static int save(run *r, const char *path, tm_error *err) {
  /* dp: every rank agrees on the data cursor and the parameters; rank 0 writes */
  int rc = tm_dp_check_cursor(&r->meta.cursor, r->meta.step, err);
  if (rc == 0) rc = tm_dp_check_params(tm_gpt_params_flat(r->model), tm_gpt_num_params(&r->cfg),
                                       r->meta.step, err);
  if (rc < 0 || tm_dp_rank() != 0) return rc;
  r->meta.cfg = r->cfg;
  r->meta.adam_t = r->opt.t;
  r->meta.tokenizer_hash = r->tokenizer_hash;
  return tm_ckpt_save(path, &r->meta, tm_gpt_params_flat(r->model), r->opt.state, err);
}

static int save_periodic(run *r, tm_error *err) {
  char path[2048];
  tm_ckpt_path(path, sizeof path, r->o->out_dir, r->meta.step);
  double t0 = tm_now_s();
  int rc = save(r, path, err);
  if (tm_dp_rank() != 0) return rc; /* dp: rank 0 writes */
  if (rc == 0) rc = tm_ckpt_prune(r->o->out_dir, (int)r->o->ckpt_keep, err);
  if (rc == 0) tm_info("checkpoint", "path=%s step=%llu ms=%.0f", path,
                       (unsigned long long)r->meta.step, 1e3 * (tm_now_s() - t0));
  return rc;
}

/* Weight decay on the matmul weights; embeddings on request. */
static int set_decay(run *r, tm_error *err) {
  size_t sizes[TM_GPT_NUM_TENSORS], off = 0;
  tm_gpt_tensor_sizes(&r->cfg, sizes);
  for (int i = 0; i < TM_GPT_NUM_TENSORS; i++) {
    const char *n = tm_gpt_tensor_name(i);
    int decay = !strcmp(n, "qkvw") || !strcmp(n, "attprojw") || !strcmp(n, "fcw") ||
                !strcmp(n, "fcprojw") ||
                (r->o->decay_embeddings && (!strcmp(n, "wte") || !strcmp(n, "wpe")));
    if (decay) {
      int rc = tm_adamw_set_decay(&r->opt, off, off + sizes[i], err);
      if (rc < 0) return rc;
    }
    off += sizes[i];
  }
  return 0;
}

static int setup(run *r, int resume, tm_error *err) {
  const tm_train_options *o = r->o;
  int rc = tm_io_mkdirs(o->out_dir, err);
  if (rc < 0) return rc;
  tm_ckpt_meta rmeta;
  char ckpt[2048];
  if (resume) {
    rc = tm_ckpt_latest(o->out_dir, ckpt, sizeof ckpt, err);
    if (rc < 0) return rc;
    if (rc == 0) return tm_err(err, TM_ENOTFOUND, "resume: no checkpoint in %s", o->out_dir);
    if ((rc = tm_ckpt_read_meta(ckpt, &rmeta, err)) < 0) return rc;
    if (rmeta.cfg.n_layer != o->model.n_layer || rmeta.cfg.d_model != o->model.d_model ||
        rmeta.cfg.n_head != o->model.n_head)
      return tm_err(err, TM_EINVAL, "resume: %s holds a %d-layer d=%d %d-head model, the config "
                    "says %d/%d/%d", ckpt, rmeta.cfg.n_layer, rmeta.cfg.d_model, rmeta.cfg.n_head,
                    o->model.n_layer, o->model.d_model, o->model.n_head);
  }
  if ((rc = open_sources(r, resume ? &rmeta : NULL, err)) < 0) return rc;
  r->model = tm_gpt_create(&r->cfg, o->batch, 1, err);
  if (!r->model) return -err->code;
  size_t np = tm_gpt_num_params(&r->cfg);
  if ((rc = tm_adamw_init(&r->opt, np, (float)o->beta1, (float)o->beta2, (float)o->eps,
                          (float)o->weight_decay, err)) < 0)
    return rc;
  if ((rc = set_decay(r, err)) < 0) return rc;
  if (resume) {
    if ((rc = tm_ckpt_load(ckpt, &r->meta, tm_gpt_params_flat(r->model), r->opt.state, err)) < 0)
      return rc;
    r->opt.t = r->meta.adam_t;
    if (r->tokenizer_hash && r->meta.tokenizer_hash && r->tokenizer_hash != r->meta.tokenizer_hash)
      return tm_err(err, TM_EINVAL, "resume: %s was trained with tokenizer %016llx, the data "
                    "now has %016llx", ckpt, (unsigned long long)r->meta.tokenizer_hash,
                    (unsigned long long)r->tokenizer_hash);
    tm_info("resume", "path=%s step=%llu", ckpt, (unsigned long long)r->meta.step);
  } else {
    tm_gpt_init(r->model, o->seed);
    memset(&r->meta, 0, sizeof r->meta);
    tm_rng_seed(&r->meta.rng, o->seed);
    r->meta.best_val = INFINITY;
    r->meta.last_val = NAN;
  }
  if (tm_dp_rank() != 0) return 0; /* dp: rank 0 keeps the metrics */
  return tm_metrics_open(&r->metrics, o->out_dir, resume ? (int64_t)r->meta.step : -1, err);
}

static void teardown(run *r) {
  tm_metrics_close(r->metrics);
  tm_batch_source_free(r->train);
  tm_batch_source_free(r->val);
  tm_adamw_free(&r->opt);
  tm_gpt_free(r->model);
}

/* Evaluate; returns 1 when early stopping triggers. */
static int eval_step(run *r, tm_train_result *res, tm_error *err) {
  const tm_train_options *o = r->o;
  float vl = 0;
  int rc = evaluate(r, &vl, err);
  if (rc < 0) return rc;
  tm_ckpt_meta *m = &r->meta;
  int improved = vl < m->best_val - o->min_delta;
  m->last_val = vl;
  if (vl < m->best_val) {
    m->best_val = vl;
    m->best_step = m->step;
    char path[2048];
    snprintf(path, sizeof path, "%s/best.tmc", o->out_dir);
    if ((rc = save(r, path, err)) < 0) return rc;
  }
  m->evals_since_best = improved ? 0 : m->evals_since_best + 1;
  res->best_val = m->best_val;
  tm_info("eval", "step=%llu val_loss=%.4f best_val_loss=%.4f best_step=%llu evals_since_best=%llu",
          (unsigned long long)m->step, vl, m->best_val, (unsigned long long)m->best_step,
          (unsigned long long)m->evals_since_best);
  if (!r->metrics) /* dp: not rank 0 */
    return o->patience > 0 && m->evals_since_best >= (uint64_t)o->patience;
  if ((rc = tm_metrics_eval(r->metrics, m->step, vl, (float)m->best_val, err)) < 0) return rc;
  char title[256];
  snprintf(title, sizeof title, "tokenmill-train: %d layers, d %d, %d heads, T %d, V %d - step %llu",
           r->cfg.n_layer, r->cfg.d_model, r->cfg.n_head, r->cfg.max_seq_len, r->cfg.vocab_size,
           (unsigned long long)m->step);
  if ((rc = tm_metrics_svg(r->metrics, title, err)) < 0) return rc;
  return o->patience > 0 && m->evals_since_best >= (uint64_t)o->patience;
}

int tm_train_run(const tm_train_options *o, int resume, volatile sig_atomic_t *stop,
                 tm_train_result *res, tm_error *err) {
  run r;
  memset(&r, 0, sizeof r);
  memset(res, 0, sizeof *res);
  /* dp: rank r reads ring /tokenmill.NAME.r */
  tm_train_options od = *o;
  const int dpw = tm_dp_world(), dpr = tm_dp_rank();
  if (dpw > 1) {
    if (o->ring_rank != 0)
      return tm_err(err, TM_EINVAL, "[data] ring_rank = %u: under MPI each rank reads the ring "
                    "of its own rank; leave ring_rank unset", o->ring_rank);
    od.ring_rank = (unsigned)dpr;
    o = &od;
  }
  r.o = o;
  tm_threads_set(o->threads);
  int rc = setup(&r, resume, err);
  if (rc < 0) {
    teardown(&r);
    return rc;
  }
  tm_gpt *m = r.model;
  tm_dp_sync *sync = NULL; /* dp: the per-step gradient sum (NULL in world 1) */
  if ((rc = tm_dp_sync_create(&sync, &r.cfg, tm_gpt_grads_flat(m), err)) < 0) goto out;
  tm_batch_source_set_stop(r.train, stop);
  size_t np = tm_gpt_num_params(&r.cfg);
  int B = o->batch, T = r.cfg.max_seq_len;
  tm_info("train_start", "params=%zu layers=%d d_model=%d heads=%d seq_len=%d vocab=%d batch=%d "
          "accum=%d threads=%d blas=%s step=%llu steps=%lld", np, r.cfg.n_layer, r.cfg.d_model,
          r.cfg.n_head, T, r.cfg.vocab_size, B, o->grad_accum, o->threads, tm_threads_blas(),
          (unsigned long long)r.meta.step, (long long)o->steps);
  /* dp: a ring cursor counts global windows: it must fall on a global batch */
  if (dpw > 1 || resume)
    tm_info("dp", "rank=%d world=%d global_batch=%d built_with_mpi=%d", dpr, dpw, B * dpw,
            tm_dp_built());
  if (resume && r.meta.has_cursor && o->data == TM_DATA_RING &&
      r.meta.cursor.window % ((uint64_t)B * (uint64_t)dpw) != 0) {
    rc = tm_err(err, TM_EINVAL, "resume: the checkpoint's data cursor (window %llu) is not a "
                "multiple of the global batch %d x %d ranks: resume with the same global batch",
                (unsigned long long)r.meta.cursor.window, B, dpw);
    goto out;
  }
  double t_last = tm_now_s();
  while ((int64_t)r.meta.step < o->steps) {
    if (stop && *stop && dpw == 1) { /* dp: the step status below decides */
      res->interrupted = 1;
      break;
    }
    double t0 = tm_now_s(), wait0 = tm_batch_source_wait_s(r.train);
    double lr = tm_schedule_lr(&o->sched, (int64_t)r.meta.step);
    tm_gpt_zero_grad(m);
    double loss_sum = 0;
    int end = 0;
    tm_batch_cursor step_cursor = r.meta.cursor; /* committed only with the step */
    for (int a = 0; a < o->grad_accum; a++) {
      tm_batch b;
      float loss;
      rc = tm_batch_source_next(r.train, &b, err);
      if (rc == TM_BATCH_END) {
        end = 1;
        break;
      }
      if (rc == -TM_EAGAIN && stop && *stop) {
        end = 2;
        break;
      }
      if (rc < 0) goto out;
      if (dpw > 1 && o->data != TM_DATA_RING) { /* dp: this rank's rows of the global batch */
        b.inputs += (size_t)dpr * B * b.T;
        b.targets += (size_t)dpr * B * b.T;
        b.B = B;
      }
      if (sync && a == o->grad_accum - 1 && tm_dp_get_options()->overlap) /* dp */
        tm_gpt_set_backward_hook(m, tm_dp_sync_hook, sync);
      if ((rc = tm_gpt_forward(m, b.inputs, b.targets, b.B, b.T, &loss, err)) < 0 ||
          (rc = tm_gpt_backward(m, 1.0f / (float)(o->grad_accum * dpw), err)) < 0)
        goto out;
      tm_gpt_set_backward_hook(m, NULL, NULL);
      loss_sum += loss;
      step_cursor = b.cursor;
    }
    /* --- dp: sum the gradients (every rank, every step), agree on status and loss --- */
    if (dpw > 1) {
      if ((rc = tm_dp_sync_finish(sync, r.meta.step, err)) < 0) goto out;
      double st[3] = {end == 1, end == 2 || (stop && *stop), loss_sum};
      if ((rc = tm_dp_sum_doubles(st, 3, r.meta.step, err)) < 0) goto out;
      end = st[1] > 0 ? 2 : st[0] > 0 ? 1 : 0;
      loss_sum = st[2] / dpw;
    }
    /* --- end dp --- */
    if (end == 2) { /* interrupted mid-step: the partial step is dropped */
      res->interrupted = 1;
      break;
    }
    if (end) {
      tm_info("data_end", "step=%llu msg=\"the feeder finished\"", (unsigned long long)r.meta.step);
      break;
    }
    double norm = tm_grad_norm(tm_gpt_grads_flat(m), np);
    float loss = (float)(loss_sum / o->grad_accum);
    if (!isfinite(norm) || !isfinite(loss)) {
      rc = tm_err(err, TM_ESTATE, "step %llu: loss %g, gradient norm %g: training diverged "
                  "(lower [train] lr?); the last checkpoint is intact",
                  (unsigned long long)r.meta.step, loss, norm);
      goto out;
    }
    tm_adamw_step(&r.opt, tm_gpt_params_flat(m), tm_gpt_grads_flat(m), (float)lr,
                  tm_clip_scale(norm, o->grad_clip));
    r.meta.step++;
    r.meta.cursor = step_cursor;
    if (dpw > 1 && tm_dp_get_options()->hash_every &&  /* dp: parameters identical */
        r.meta.step % (uint64_t)tm_dp_get_options()->hash_every == 0 &&
        (rc = tm_dp_check_params(tm_gpt_params_flat(m), np, r.meta.step, err)) < 0)
      goto out;
    r.meta.has_cursor = 1;
    res->steps_done = r.meta.step;
    res->last_loss = loss;
    double dt = tm_now_s() - t0, wait = tm_batch_source_wait_s(r.train) - wait0;
    double tps = (double)B * T * o->grad_accum * dpw / dt;
    if (r.metrics && /* dp: rank 0 */
        (rc = tm_metrics_step(r.metrics, r.meta.step, loss, lr, norm, tps, wait, err)) < 0)
      goto out;
    if (dpr == 0 && (r.meta.step % (uint64_t)o->log_every == 0 || r.meta.step == 1))
      tm_info("step", "step=%llu loss=%.4f lr=%.3g grad_norm=%.3f tokens_per_s=%.0f wait_ms=%.1f "
              "elapsed_s=%.1f", (unsigned long long)r.meta.step, loss, lr, norm, tps, 1e3 * wait,
              tm_now_s() - t_last);
    int last = (int64_t)r.meta.step == o->steps;
    if (r.val && ((o->eval_every && r.meta.step % (uint64_t)o->eval_every == 0) || last)) {
      rc = eval_step(&r, res, err);
      if (rc < 0) goto out;
      if (rc == 1) {
        tm_info("early_stop", "step=%llu best_val_loss=%.4f best_step=%llu patience=%lld",
                (unsigned long long)r.meta.step, r.meta.best_val,
                (unsigned long long)r.meta.best_step, (long long)o->patience);
        res->early_stopped = 1;
        break;
      }
    }
    if (o->ckpt_every && r.meta.step % (uint64_t)o->ckpt_every == 0 && !last &&
        (rc = save_periodic(&r, err)) < 0)
      goto out;
  }
  rc = save_periodic(&r, err);
  if (rc == 0 && res->interrupted)
    tm_info("interrupted", "step=%llu msg=\"checkpoint written; continue with --resume\"",
            (unsigned long long)r.meta.step);
  res->best_val = r.meta.best_val;
out:
  tm_dp_sync_free(sync);
  teardown(&r);
  return rc < 0 ? rc : 0;
}
