/* main.c - the `tokenmill-train` program: global flags, then a subcommand. */
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "log.h"
#include "threads.h"
#include "train_commands.h"

typedef struct {
  const char *name;
  int (*run)(int, char **);
  const char *summary;
} command;

static const command commands[] = {
    TM_TRAIN_COMMANDS
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f,
          "usage: tokenmill-train [--log-json] [--log-level LEVEL] COMMAND [ARGS...]\n"
          "       tokenmill-train --help | --version\n\n"
          "Trains a GPT-style model on batches from a tokenmill ring.\n\n"
          "commands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (commands[i].name) fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\nexit codes: 0 ok, 1 runtime error, 2 usage error, 3 finished with rejected\n"
             "input records.\n");
}

int main(int argc, char **argv) {
  tm_threads_fix_env(argv); /* may re-exec with OPENBLAS_CORETYPE / OMP_WAIT_POLICY set */
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return TM_EXIT_OK;
    } else if (!strcmp(argv[i], "--version")) {
      printf("tokenmill-train %s\n", TOKENMILL_VERSION);
      return TM_EXIT_OK;
    } else if (!strcmp(argv[i], "--log-json")) {
      tm_log_set_json(1);
    } else if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
      int lv = tm_log_parse_level(argv[++i]);
      if (lv < 0) {
        fprintf(stderr, "tokenmill-train: unknown log level '%s'\n", argv[i]);
        return TM_EXIT_USAGE;
      }
      tm_log_set_level((tm_log_level)lv);
    } else {
      fprintf(stderr, "tokenmill-train: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return TM_EXIT_USAGE;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return TM_EXIT_USAGE;
  }
  for (size_t c = 0; c < N_COMMANDS; c++)
    if (commands[c].name && !strcmp(argv[i], commands[c].name))
      return commands[c].run(argc - i, argv + i);
  fprintf(stderr, "tokenmill-train: unknown command '%s'\n", argv[i]);
  usage(stderr);
  return TM_EXIT_USAGE;
}
