/* cmd_build.c - `tokenmill build`: the offline shard builder (build.h). */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build.h"
#include "commands.h"
#include "config.h"
#include "exitcode.h"
#include "schemas.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tokenmill build [-c CONFIG] [--set SECTION.KEY=VALUE]... [--threads N]\n"
          "                       [--tokenizer tokenizer.json] [--profile NAME] [--progress|--no-progress]\n"
          "                       -o OUT [PROFILE=]INPUT...\n\n"
          "Reads, cleans, deduplicates and tokenizes the inputs into token shards in OUT,\n"
          "with manifest.json, tokenizer.json, stats.json, DATACARD.md and quarantine/.\n\n"
          "INPUT is a file, a directory (walked in name order) or a glob, of any format\n"
          "the readers know (JSONL, text, HTML, e-mail, WARC/WET; .gz/.zst by content).\n"
          "Its profile (the [clean.NAME] section, presets web, books, social) is the\n"
          "PROFILE= prefix, else a folder or file named web, books or social in its\n"
          "path, else --profile (default: [build] profile = web).\n\n"
          "Without --tokenizer, a byte-level BPE ([tokenizer] section) is trained on the\n"
          "first [build] tokenizer_sample bytes of cleaned input.\n\n"
          "Interrupted (SIGINT/SIGTERM: the current shard is sealed; or killed), the\n"
          "same command continues where it stopped; the result is byte-identical to an\n"
          "uninterrupted build, for any --threads.\n\n"
          "Distributed (--rank R --world W, or the MPI/Slurm environment: every rank\n"
          "runs the same command on a shared filesystem): each rank cleans its share\n"
          "of the inputs; rank 0 deduplicates all of them in input order and trains\n"
          "the tokenizer; each rank writes its shards; rank 0 merges the manifest.\n"
          "The kept documents and their order equal a one-process build's.\n\n"
          "exit: 0 ok, 1 runtime error, 2 usage, 3 done but some input records were\n"
          "unreadable (OUT/quarantine/errors.jsonl)\n");
}

static void on_signal(int sig) {
  (void)sig;
  tm_build_request_stop();
  signal(SIGINT, SIG_DFL); /* a second ^C kills */
  signal(SIGTERM, SIG_DFL);
}

int cmd_build(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                       {"set", required_argument, 0, 's'},
                                       {"threads", required_argument, 0, 'j'},
                                       {"tokenizer", required_argument, 0, 'k'},
                                       {"profile", required_argument, 0, 'p'},
                                       {"output", required_argument, 0, 'o'},
                                       {"progress", no_argument, 0, 'P'},
                                       {"no-progress", no_argument, 0, 'N'},
                                       {"stop-after-docs", required_argument, 0, 'S'},
                                       {"rank", required_argument, 0, 'R'},
                                       {"world", required_argument, 0, 'W'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  tm_config *cfg = tm_config_new(tm_all_schemas, tm_n_schemas);
  if (!cfg) return TM_EXIT_RUNTIME;
  tm_build_options o = {.progress = -1};
  int rank = -1, world = 0;
  tm_error err = {0};
  int c, rc = TM_EXIT_OK;
  int64_t v;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:s:j:k:p:o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c':
      if (tm_config_load(cfg, optarg, &err) < 0) {
        fprintf(stderr, "tokenmill build: %s\n", err.msg);
        rc = TM_EXIT_USAGE;
      }
      break;
    case 's':
      if (tm_config_set_arg(cfg, optarg, &err) < 0) {
        fprintf(stderr, "tokenmill build: %s\n", err.msg);
        rc = TM_EXIT_USAGE;
      }
      break;
    case 'j':
      if (tm_parse_int(optarg, &v) < 0 || v < 0 || v > 1024) rc = TM_EXIT_USAGE;
      else o.threads = (int)v;
      break;
    case 'k': o.tokenizer_path = optarg; break;
    case 'p': o.default_profile = optarg; break;
    case 'o': o.out_dir = optarg; break;
    case 'P': o.progress = 1; break;
    case 'N': o.progress = 0; break;
    case 'S':
      if (tm_parse_int(optarg, &v) < 0 || v < 1) rc = TM_EXIT_USAGE;
      else o.stop_after_docs = (uint64_t)v;
      break;
    case 'R':
      if (tm_parse_int(optarg, &v) < 0 || v < 0) rc = TM_EXIT_USAGE;
      else rank = (int)v;
      break;
    case 'W':
      if (tm_parse_int(optarg, &v) < 0 || v < 1) rc = TM_EXIT_USAGE;
      else world = (int)v;
      break;
    case 'h': usage(stdout); tm_config_free(cfg); return TM_EXIT_OK;
    default: rc = TM_EXIT_USAGE;
    }
    if (rc) break;
  }
  if (rc == TM_EXIT_OK && (!o.out_dir || optind >= argc)) rc = TM_EXIT_USAGE;
  if (rc != TM_EXIT_OK) {
    if (!err.msg[0]) usage(stderr);
    tm_config_free(cfg);
    return rc;
  }
  o.cfg = cfg;
  o.inputs = argv + optind;
  o.n_inputs = argc - optind;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  /* a distributed build: --rank/--world, or the MPI / Slurm environment */
  if (world == 0) {
    const char *ws = getenv("OMPI_COMM_WORLD_SIZE"), *rs = getenv("OMPI_COMM_WORLD_RANK");
    if (!ws || !rs) ws = getenv("PMI_SIZE"), rs = getenv("PMI_RANK");
    if (!ws || !rs) ws = getenv("SLURM_NTASKS"), rs = getenv("SLURM_PROCID");
    if (ws && rs) world = atoi(ws), rank = atoi(rs);
  }
  if (world > 1 && (rank < 0 || rank >= world)) {
    fprintf(stderr, "tokenmill build: --rank must be in [0, %d)\n", world);
    tm_config_free(cfg);
    return TM_EXIT_USAGE;
  }
  tm_build_result res;
  int r = world > 1 ? tm_build_run_distributed(&o, rank, world, &res, &err) : tm_build_run(&o, &res, &err);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  tm_config_free(cfg);
  if (r < 0) {
    fprintf(stderr, "tokenmill build: %s\n", err.msg);
    return r == -TM_EINVAL ? TM_EXIT_USAGE : TM_EXIT_RUNTIME;
  }
  printf("%s: %" PRIu64 " documents read, %" PRIu64 " kept, %" PRIu64 " dropped, %" PRIu64
         " exact and %" PRIu64 " near duplicates, %" PRIu64 " unreadable; %" PRIu64 " tokens in %" PRIu64
         " shards%s\n",
         o.out_dir, res.docs_in, res.docs_kept, res.docs_dropped, res.exact_dups, res.near_dups,
         res.rejected, res.tokens, res.shards, res.interrupted ? " (interrupted: rerun to continue)" : "");
  return res.rejected ? TM_EXIT_REJECTED : TM_EXIT_OK;
}
