/* cli.c - see cli.h. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "log.h"

static void usage(FILE *f, const char *prog, const char *about, const tm_cli_command *c, size_t n) {
  fprintf(f,
          "usage: %s [--log-json] [--log-level LEVEL] COMMAND [ARGS...]\n"
          "       %s --help | --version\n\n%s\n\ncommands:\n",
          prog, prog, about);
  for (size_t i = 0; i < n; i++)
    if (c[i].name) fprintf(f, "  %-10s %s\n", c[i].name, c[i].summary);
  fprintf(f,
          "\n`%s COMMAND --help` describes a command.\n"
          "exit codes: 0 ok, 1 runtime error, 2 usage error, 3 finished with rejected\n"
          "input records (see OUT/quarantine/).\n",
          prog);
}

int tm_cli_main(int argc, char **argv, const char *prog, const char *about,
                const tm_cli_command *commands, size_t n) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout, prog, about, commands, n);
      return TM_EXIT_OK;
    } else if (!strcmp(argv[i], "--version")) {
      printf("%s %s\n", prog, TOKENMILL_VERSION);
      return TM_EXIT_OK;
    } else if (!strcmp(argv[i], "--log-json")) {
      tm_log_set_json(1);
    } else if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
      int lv = tm_log_parse_level(argv[++i]);
      if (lv < 0) {
        fprintf(stderr, "%s: unknown log level '%s' (debug, info, warn, error)\n", prog, argv[i]);
        return TM_EXIT_USAGE;
      }
      tm_log_set_level((tm_log_level)lv);
    } else {
      fprintf(stderr, "%s: unknown option '%s'\n", prog, argv[i]);
      usage(stderr, prog, about, commands, n);
      return TM_EXIT_USAGE;
    }
  }
  if (i >= argc) {
    usage(stderr, prog, about, commands, n);
    return TM_EXIT_USAGE;
  }
  for (size_t c = 0; c < n; c++)
    if (commands[c].name && !strcmp(argv[i], commands[c].name)) return commands[c].run(argc - i, argv + i);
  fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[i]);
  usage(stderr, prog, about, commands, n);
  return TM_EXIT_USAGE;
}
