/* train_commands.h - the subcommands of `tokenmill-train`. Each takes the
 * command's argv (argv[0] is the command name) and returns a TM_EXIT_* code;
 * each prints its usage on --help. */
#ifndef TM_TRAIN_COMMANDS_H
#define TM_TRAIN_COMMANDS_H

int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_export(int argc, char **argv);

#define TM_TRAIN_COMMANDS                                                               \
  {"run", cmd_run, "train from the ring or a token file (-c CONFIG [--resume])"},      \
  {"bench", cmd_bench, "time training steps on random tokens (ms/step, tokens/s)"},      \
  {"sample", cmd_sample, "generate text from a checkpoint (--ckpt C --prompt TEXT)"},      \
  {"export", cmd_export, "write a checkpoint as llm.c or safetensors + config.json"},
#endif
