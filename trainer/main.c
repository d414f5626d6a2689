/* main.c - the `tokenmill-train` program: global flags, then a command (cli.h). */
#include "cli.h"
#include "threads.h"
#include "train_commands.h"

static const tm_cli_command commands[] = {
    TM_TRAIN_COMMANDS
};

int main(int argc, char **argv) {
  tm_threads_fix_env(argv); /* may re-exec with OPENBLAS_CORETYPE / OMP_WAIT_POLICY set */
  return tm_cli_main(argc, argv, "tokenmill-train", "Trains a GPT-style model on batches from a tokenmill ring.",
                     commands, sizeof commands / sizeof commands[0]);
}
