/* commands.h - the subcommands of the `tokenmill` program.
 *
 * Each takes argc/argv with argv[0] = the subcommand name, parses its own
 * flags (getopt_long), and returns a TM_EXIT_* code (exitcode.h). One file
 * per command: cmd_<name>.c. To add one, declare it here and add a line to
 * the table in main.c.
 */
#ifndef TM_CLI_COMMANDS_H
#define TM_CLI_COMMANDS_H

int cmd_build(int argc, char **argv);
int cmd_clean(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_dedup(int argc, char **argv);
int cmd_feed(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_shards(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);

#endif
