/* main.c - the `tokenmill` program: global flags, then a subcommand. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "exitcode.h"
#include "log.h"

typedef struct {
  const char *name;
  int (*run)(int, char **);
  const char *summary;
} command;

static const command commands[] = {
    {"build", cmd_build, "clean, dedup and tokenize inputs into a shard directory (resumable)"},
    {"serve", cmd_serve, "the ingestion daemon: spool + socket -> shards, exactly once, with HTTP status"},
    {"shards", cmd_shards, "list, verify, print, export and pack token shards"},
    {"clean", cmd_clean, "read and clean documents alone: see what the filters keep and drop"},
    {"config", cmd_config, "print the configuration reference (every key, its default)"},
    {"dedup", cmd_dedup, "remove exact and near-duplicate documents from JSONL (MinHash-LSH)"},
    {"feed", cmd_feed, "serve shards as deterministic batches on shared-memory rings (trainers)"},
    {"tokenizer", cmd_tokenizer, "train, encode, decode and inspect byte-level BPE tokenizers"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f,
          "usage: tokenmill [--log-json] [--log-level LEVEL] COMMAND [ARGS...]\n"
          "       tokenmill --help | --version\n\n"
          "Turns raw web, book and social text into training-ready token shards.\n\n"
          "commands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n`tokenmill COMMAND --help` describes a command.\n"
             "exit codes: 0 ok, 1 runtime error, 2 usage error, 3 finished with rejected\n"
             "input records (see OUT/quarantine/).\n");
}

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return TM_EXIT_OK;
    } else if (!strcmp(argv[i], "--version")) {
      printf("tokenmill %s\n", TOKENMILL_VERSION);
      return TM_EXIT_OK;
    } else if (!strcmp(argv[i], "--log-json")) {
      tm_log_set_json(1);
    } else if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
      int lv = tm_log_parse_level(argv[++i]);
      if (lv < 0) {
        fprintf(stderr, "tokenmill: unknown log level '%s' (debug, info, warn, error)\n", argv[i]);
        return TM_EXIT_USAGE;
      }
      tm_log_set_level((tm_log_level)lv);
    } else {
      fprintf(stderr, "tokenmill: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return TM_EXIT_USAGE;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return TM_EXIT_USAGE;
  }
  for (size_t c = 0; c < N_COMMANDS; c++)
    if (!strcmp(argv[i], commands[c].name)) return commands[c].run(argc - i, argv + i);
  fprintf(stderr, "tokenmill: unknown command '%s'\n", argv[i]);
  usage(stderr);
  return TM_EXIT_USAGE;
}
