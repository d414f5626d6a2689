/* cmd_serve.c - `tokenmill serve`: the ingestion daemon (serve/serve.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "exitcode.h"
#include "schemas.h"
#include "serve/serve.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tokenmill serve -c CONFIG [--set SECTION.KEY=VALUE]...\n\n"
          "The ingestion daemon: watches [serve] spool for files and accepts JSONL\n"
          "batches (HTTP POST /ingest) on [serve] ingest_listen / ingest_socket, runs\n"
          "the same clean, dedup and tokenize stages as `tokenmill build`, and grows the\n"
          "shard directory [serve] output (sealed by size or [serve] seal_age_s).\n"
          "A batch is acknowledged once it is durable (fsync'd in OUT/inbox/): after a\n"
          "crash every acknowledged document ends up in exactly one shard.\n"
          "[http] listen serves /metrics, /status, /healthz and a status page at /.\n\n"
          "  curl --data-binary @docs.jsonl http://127.0.0.1:8470/ingest?profile=web\n\n"
          "SIGTERM/SIGINT: stop accepting, finish the queue, seal, exit 0.\n"
          "SIGHUP: reload the configuration file (limits, timeouts, token, seal age).\n"
          "deploy/serve.example.ini is a commented example; `tokenmill config` lists\n"
          "every key.\n\n"
          "exit: 0 stopped cleanly, 1 runtime error, 2 usage or configuration error\n");
}

int cmd_serve(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                       {"set", required_argument, 0, 's'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  tm_config *cfg = tm_config_new(tm_all_schemas, tm_n_schemas);
  char **sets = calloc((size_t)argc + 1, sizeof *sets);
  if (!cfg || !sets) {
    tm_config_free(cfg);
    free(sets);
    return TM_EXIT_RUNTIME;
  }
  tm_serve_options o = {.cfg = cfg, .overrides = sets, .schemas = tm_all_schemas, .n_schemas = tm_n_schemas};
  tm_error err = {0};
  int c, rc = TM_EXIT_OK, n_sets = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c': o.config_path = optarg; break;
    case 's': sets[n_sets++] = optarg; break;
    case 'h':
      usage(stdout);
      tm_config_free(cfg);
      free(sets);
      return TM_EXIT_OK;
    default: rc = TM_EXIT_USAGE;
    }
  }
  if (rc == TM_EXIT_OK && optind < argc) {
    fprintf(stderr, "tokenmill serve: unexpected argument '%s'\n", argv[optind]);
    rc = TM_EXIT_USAGE;
  }
  if (rc == TM_EXIT_OK && o.config_path && tm_config_load(cfg, o.config_path, &err) < 0) rc = TM_EXIT_USAGE;
  for (int i = 0; i < n_sets && rc == TM_EXIT_OK; i++)
    if (tm_config_set_arg(cfg, sets[i], &err) < 0) rc = TM_EXIT_USAGE;
  o.n_overrides = n_sets;
  if (rc == TM_EXIT_OK) {
    int r = tm_serve_run(&o, &err);
    if (r < 0) rc = r == -TM_EINVAL ? TM_EXIT_USAGE : TM_EXIT_RUNTIME;
  }
  if (rc != TM_EXIT_OK) {
    if (err.msg[0]) fprintf(stderr, "tokenmill serve: %s\n", err.msg);
    else usage(stderr);
  }
  tm_config_free(cfg);
  free(sets);
  return rc;
}
