/* train_commands.h - the subcommands of `tokenmill-train` (run, bench,
 * sample, export as they land). Each returns a TM_EXIT_* code. Add a
 * declaration and an entry to TM_TRAIN_COMMANDS. */
#ifndef TM_TRAIN_COMMANDS_H
#define TM_TRAIN_COMMANDS_H

#define TM_TRAIN_COMMANDS {NULL, NULL, NULL}

#endif
