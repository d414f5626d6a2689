/* cli.h - the entry point every tokenmill program shares.
 *
 * Global flags before the command (--help/-h, --version, --log-json,
 * --log-level debug|info|warn|error), the command table, the usage text and
 * the exit codes (exitcode.h) are the same in `tokenmill` and
 * `tokenmill-train`; each program's main() is a table and one call. */
#ifndef TM_CLI_H
#define TM_CLI_H

#include <stddef.h>

typedef struct tm_cli_command {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] is the command name; returns TM_EXIT_* */
  const char *summary;
} tm_cli_command;

/* Parse the global flags, dispatch to the command named next, return its
 * exit code (or TM_EXIT_OK for --help/--version, TM_EXIT_USAGE for a usage
 * error, with the usage on stderr). about is one line under the usage. */
int tm_cli_main(int argc, char **argv, const char *prog, const char *about,
                const tm_cli_command *commands, size_t n_commands);

#endif
