/* cmd_bench.c - `tokenmill-train bench`: training steps on random tokens
 * (no ring, no files), printing ms/step, tokens/s, achieved GFLOP/s and
 * where the time goes: the split between sgemm and everything else measured
 * inside each step (tm_gpt_timing); with --matmuls, also the time of the
 * same step's sgemm calls alone (tm_matmul_probe), run after each step. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "adamw.h"
#include "clock.h"
#include "exitcode.h"
#include "gpt.h"
#include "matmul_probe.h"
#include "rng.h"
#include "threads.h"
#include "train_commands.h"


static void bench_usage(FILE *f) {
  fprintf(f,
          "usage: tokenmill-train bench [--layers L] [--d-model D] [--heads H] [--seq-len T]\n"
          "         [--vocab V] [--batch B] [--steps N] [--warmup N] [--threads N] [--matmuls]\n\n"
          "Times full training steps (forward, backward, grad norm, AdamW) of a GPT model on\n"
          "random tokens. Defaults: config S (4 layers, d 256, 4 heads, T 256, V 8192, B 8),\n"
          "5 timed steps after 1 warmup step, 1 thread. --matmuls also times the same step's\n"
          "sgemm calls alone, right after each step. Prints one line of key=value figures,\n"
          "among them the step's split into sgemm and everything else, measured inside the\n"
          "step in wall and CPU time (step_matmul_ms, step_other_ms, step_non_matmul_share).\n");
}

static int parse_pos(const char *name, const char *s, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end || v <= 0 || v > 1 << 20) {
    fprintf(stderr, "tokenmill-train bench: %s must be a positive integer, got '%s'\n", name, s);
    return -1;
  }
  *out = (int)v;
  return 0;
}

int cmd_bench(int argc, char **argv) {
  tm_gpt_config cfg = {.max_seq_len = 256, .vocab_size = 8192, .n_layer = 4, .n_head = 4,
                       .d_model = 256};
  int B = 8, steps = 5, warm = 1, threads = 1, matmuls = 0;
  static const struct option opts[] = {
      {"layers", required_argument, 0, 'L'}, {"d-model", required_argument, 0, 'D'},
      {"heads", required_argument, 0, 'H'},  {"seq-len", required_argument, 0, 'T'},
      {"vocab", required_argument, 0, 'V'},  {"batch", required_argument, 0, 'B'},
      {"steps", required_argument, 0, 'n'},  {"warmup", required_argument, 0, 'w'},
      {"threads", required_argument, 0, 't'}, {"matmuls", no_argument, 0, 'm'},
      {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    int rc = 0;
    switch (c) {
      case 'L': rc = parse_pos("--layers", optarg, &cfg.n_layer); break;
      case 'D': rc = parse_pos("--d-model", optarg, &cfg.d_model); break;
      case 'H': rc = parse_pos("--heads", optarg, &cfg.n_head); break;
      case 'T': rc = parse_pos("--seq-len", optarg, &cfg.max_seq_len); break;
      case 'V': rc = parse_pos("--vocab", optarg, &cfg.vocab_size); break;
      case 'B': rc = parse_pos("--batch", optarg, &B); break;
      case 'n': rc = parse_pos("--steps", optarg, &steps); break;
      case 'w':
        warm = atoi(optarg);
        if (warm < 0) rc = -1;
        break;
      case 't': rc = parse_pos("--threads", optarg, &threads); break;
      case 'm': matmuls = 1; break;
      case 'h': bench_usage(stdout); return TM_EXIT_OK;
      default: bench_usage(stderr); return TM_EXIT_USAGE;
    }
    if (rc < 0) return TM_EXIT_USAGE;
  }
  if (optind < argc) {
    fprintf(stderr, "tokenmill-train bench: unexpected argument '%s'\n", argv[optind]);
    return TM_EXIT_USAGE;
  }
  tm_error err = {0};
  if (tm_gpt_config_check(&cfg, &err) < 0) {
    fprintf(stderr, "tokenmill-train bench: %s\n", err.msg);
    return TM_EXIT_USAGE;
  }
  tm_threads_set(threads);
  int T = cfg.max_seq_len;
  tm_gpt *m = tm_gpt_create(&cfg, B, 1, &err);
  if (!m) {
    fprintf(stderr, "tokenmill-train bench: %s\n", err.msg);
    return TM_EXIT_RUNTIME;
  }
  tm_gpt_init(m, 1);
  size_t np = tm_gpt_num_params(&cfg), N = (size_t)B * T;
  tm_adamw opt;
  int rc = TM_EXIT_OK;
  int32_t *tok = malloc(N * sizeof(int32_t)), *tgt = malloc(N * sizeof(int32_t));
  if (!tok || !tgt || tm_adamw_init(&opt, np, 0.9f, 0.95f, 1e-8f, 0.1f, &err) < 0) {
    fprintf(stderr, "tokenmill-train bench: out of memory\n");
    free(tok);
    free(tgt);
    tm_gpt_free(m);
    return TM_EXIT_RUNTIME;
  }
  tm_matmul_probe *probe = NULL;
  if (matmuls && !(probe = tm_matmul_probe_create(&cfg, B, T, &err))) {
    fprintf(stderr, "tokenmill-train bench: %s\n", err.msg);
    rc = TM_EXIT_RUNTIME;
  }
  tm_rng r;
  tm_rng_seed(&r, 42);
  /* sums over the timed steps, and each figure's fastest step */
  double t_step = 0, t_opt = 0, t_zero = 0, t_cpu = 0, t_mm = 0, t_kern = 0, t_att = 0;
  double t_att_other = 0, t_probe = 0, t_probe_cpu = 0, t_mm_cpu = 0;
  double min_step = 1e30, min_mm = 1e30, min_other = 1e30, min_probe = 1e30;
  float loss = 0;
  for (int s = 0; rc == TM_EXIT_OK && s < warm + steps; s++) {
    for (size_t i = 0; i < N; i++) tok[i] = (int32_t)tm_rng_below(&r, (uint64_t)cfg.vocab_size);
    for (size_t i = 0; i < N; i++) tgt[i] = i + 1 < N ? tok[i + 1] : 0;
    tm_gpt_timing_reset(m);
    double c0 = tm_proc_cpu_s(), t0 = tm_now_s();
    tm_gpt_zero_grad(m);
    double t1 = tm_now_s();
    if (tm_gpt_forward(m, tok, tgt, B, T, &loss, &err) < 0 || tm_gpt_backward(m, 1.0f, &err) < 0) {
      fprintf(stderr, "tokenmill-train bench: %s\n", err.msg);
      rc = TM_EXIT_RUNTIME;
      break;
    }
    double t2 = tm_now_s();
    double norm = tm_grad_norm(tm_gpt_grads_flat(m), np);
    tm_adamw_step(&opt, tm_gpt_params_flat(m), tm_gpt_grads_flat(m), 3e-4f, tm_clip_scale(norm, 1.0));
    double t3 = tm_now_s(), c3 = tm_proc_cpu_s();
    /* the same step's sgemm calls alone, right after it (the same load) */
    double p0 = tm_now_s(), pc0 = tm_proc_cpu_s();
    if (probe) tm_matmul_probe_run(probe);
    double p1 = tm_now_s(), pc1 = tm_proc_cpu_s();
    if (s < warm) continue;
    tm_gpt_times tt;
    tm_gpt_timing(m, &tt);
    /* in-step split: sgemm (linear layers, head, attention's products)
     * against everything else in the step */
    double step = t3 - t0, mm = tt.matmul_s + tt.attention_s - tt.attention_other_s;
    t_cpu += c3 - c0;
    t_step += step;
    t_zero += t1 - t0;
    t_opt += t3 - t2;
    t_mm += mm;
    t_mm_cpu += tt.matmul_cpu_s + tt.attention_cpu_s - tt.attention_other_cpu_s;
    t_kern += tt.kernels_s;
    t_att += tt.attention_s;
    t_att_other += tt.attention_other_s;
    t_probe += p1 - p0;
    t_probe_cpu += pc1 - pc0;
    if (step < min_step) min_step = step;
    if (mm < min_mm) min_mm = mm;
    if (step - mm < min_other) min_other = step - mm;
    if (p1 - p0 < min_probe) min_probe = p1 - p0;
  }
  if (rc == TM_EXIT_OK) {
    double ms = 1e3 * t_step / steps, mm_ms = 1e3 * t_mm / steps;
    double flops = tm_gpt_step_flops(&cfg, B, T);
    printf("bench layers=%d d_model=%d heads=%d seq_len=%d vocab=%d batch=%d threads=%d blas=%s "
           "params=%zu steps=%d ms_per_step=%.1f tokens_per_s=%.0f gflops=%.1f loss=%.4f "
           "kernels_ms=%.1f attention_ms=%.1f attention_other_ms=%.1f adamw_ms=%.1f "
           "zero_grad_ms=%.1f cpu_ms_per_step=%.1f",
           cfg.n_layer, cfg.d_model, cfg.n_head, T, cfg.vocab_size, B, threads, tm_threads_blas(),
           np, steps, ms, (double)N / (t_step / steps), flops / (t_step / steps) / 1e9, loss,
           1e3 * t_kern / steps, 1e3 * t_att / steps, 1e3 * t_att_other / steps,
           1e3 * t_opt / steps, 1e3 * t_zero / steps, 1e3 * t_cpu / steps);
    /* the split measured inside the step; _best: each part's fastest step
     * (the least disturbed figure on a shared machine) */
    printf(" step_matmul_ms=%.1f step_other_ms=%.1f step_non_matmul_share=%.3f "
           "best_step_ms=%.1f best_matmul_ms=%.1f best_other_ms=%.1f best_non_matmul_share=%.3f",
           mm_ms, ms - mm_ms, (ms - mm_ms) / ms, 1e3 * min_step, 1e3 * min_mm, 1e3 * min_other,
           min_other / (min_other + min_mm));
    /* the same split in process CPU time (all threads) */
    printf(" step_matmul_cpu_ms=%.1f step_non_matmul_share_cpu=%.3f", 1e3 * t_mm_cpu / steps,
           1.0 - t_mm_cpu / t_cpu);
    if (probe) {
      double pm = 1e3 * t_probe / steps, pmc = 1e3 * t_probe_cpu / steps;
      double cpu_ms = 1e3 * t_cpu / steps;
      printf(" matmul_only_ms=%.1f matmul_gflops=%.1f non_matmul_share=%.3f "
             "matmul_only_cpu_ms=%.1f non_matmul_share_cpu=%.3f best_matmul_only_ms=%.1f "
             "best_non_matmul_share_vs_probe=%.3f",
             pm, flops / (pm / 1e3) / 1e9, (ms - pm) / ms, pmc, (cpu_ms - pmc) / cpu_ms,
             1e3 * min_probe, 1.0 - min_probe / min_step);
    }
    printf("\n");
  }
  tm_matmul_probe_free(probe);
  tm_adamw_free(&opt);
  free(tok);
  free(tgt);
  tm_gpt_free(m);
  return rc;
}
