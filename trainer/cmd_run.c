/* cmd_run.c - `tokenmill-train run -c CONFIG [--resume] [--set s.k=v]...`:
 * train from the ring (or a token file), with evaluation, early stopping and
 * checkpoints; SIGTERM/SIGINT write a checkpoint and exit 0. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "dp.h"
#include "exitcode.h"
#include "train_commands.h"
#include "train_config.h"
#include "train_loop.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void run_usage(FILE *f) {
  fprintf(f,
          "usage: tokenmill-train run -c CONFIG [--resume] [--set SECTION.KEY=VALUE]...\n"
          "       tokenmill-train run --print-config\n\n"
          "Trains a GPT model on batches from a tokenmill ring ([data] source = ring, the\n"
          "default: start `tokenmill feed` for the same ring name) or a token file. Writes\n"
          "OUT/metrics.jsonl, OUT/loss.svg, OUT/ckpt-STEP.tmc and OUT/best.tmc ([train]\n"
          "out_dir). SIGTERM/SIGINT write a checkpoint and stop; --resume continues from the\n"
          "newest checkpoint exactly where it stopped. --print-config lists every key.\n"
          "Under mpirun/srun (built with -DTOKENMILL_MPI=ON) each process is one data-parallel\n"
          "rank reading ring NAME.RANK; [train] batch is per rank (see [dp] keys).\n");
}

int cmd_run(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                       {"resume", no_argument, 0, 'r'},
                                       {"set", required_argument, 0, 's'},
                                       {"print-config", no_argument, 0, 'p'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const tm_config_key *const schemas[] = {tm_train_config_keys, tm_dp_config_keys};
  const char *path = NULL;
  const char *sets[64];
  int n_sets = 0, resume = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
    switch (c) {
      case 'c': path = optarg; break;
      case 'r': resume = 1; break;
      case 's':
        if (n_sets == 64) {
          fprintf(stderr, "tokenmill-train run: too many --set\n");
          return TM_EXIT_USAGE;
        }
        sets[n_sets++] = optarg;
        break;
      case 'p': tm_config_write_reference(stdout, schemas, 2); return TM_EXIT_OK;
      case 'h': run_usage(stdout); return TM_EXIT_OK;
      default: run_usage(stderr); return TM_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "tokenmill-train run: unexpected argument '%s'\n", argv[optind]);
    return TM_EXIT_USAGE;
  }
  tm_error err = {0};
  tm_config *cfg = tm_config_new(schemas, 2);
  if (!cfg) {
    fprintf(stderr, "tokenmill-train run: out of memory\n");
    return TM_EXIT_RUNTIME;
  }
  int rc = path ? tm_config_load(cfg, path, &err) : 0;
  for (int i = 0; rc == 0 && i < n_sets; i++) rc = tm_config_set_arg(cfg, sets[i], &err);
  tm_train_options o;
  if (rc == 0) rc = tm_train_options_from_config(cfg, &o, &err);
  tm_dp_options dpo;
  if (rc == 0) rc = tm_dp_options_from_config(cfg, &dpo, &err);
  tm_config_free(cfg);
  if (rc < 0) {
    fprintf(stderr, "tokenmill-train run: %s\n", err.msg);
    return TM_EXIT_USAGE;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  tm_train_result res;
  /* data parallel (trainer/dp.h): joins MPI when started by mpirun/srun */
  rc = tm_dp_init(&dpo, &err);
  if (rc == 0) rc = tm_train_run(&o, resume, &g_stop, &res, &err);
  if (rc < 0) {
    if (tm_dp_world() > 1) {
      fprintf(stderr, "tokenmill-train run: rank %d of %d: %s; stopping every rank\n",
              tm_dp_rank(), tm_dp_world(), err.msg);
      fflush(stderr);
      tm_dp_abort(rc == -TM_EINVAL ? TM_EXIT_USAGE : TM_EXIT_RUNTIME);
    }
    fprintf(stderr, "tokenmill-train run: %s\n", err.msg);
    tm_dp_finalize();
    return rc == -TM_EINVAL ? TM_EXIT_USAGE : TM_EXIT_RUNTIME;
  }
  tm_dp_finalize();
  if (tm_dp_rank() != 0) return TM_EXIT_OK; /* rank 0 prints the summary */
  printf("steps=%llu last_loss=%.4f best_val_loss=%.4f early_stopped=%d interrupted=%d\n",
         (unsigned long long)res.steps_done, res.last_loss, res.best_val, res.early_stopped,
         res.interrupted);
  return TM_EXIT_OK;
}
