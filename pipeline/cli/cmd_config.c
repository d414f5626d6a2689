/* cmd_config.c - `tokenmill config`: the configuration reference and checks. */
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "config.h"
#include "exitcode.h"
#include "schemas.h"

static void usage(FILE *f) {
  fprintf(f, "usage: tokenmill config --reference      print every key with its default\n"
             "       tokenmill config --check FILE     validate a configuration file\n");
}

int cmd_config(int argc, char **argv) {
  static const struct option opts[] = {{"reference", no_argument, 0, 'r'},
                                       {"check", required_argument, 0, 'c'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c, mode = 0;
  const char *file = NULL;
  optind = 1;
  while ((c = getopt_long(argc, argv, "rc:h", opts, NULL)) != -1) {
    switch (c) {
    case 'r': mode = 'r'; break;
    case 'c': mode = 'c', file = optarg; break;
    case 'h': usage(stdout); return TM_EXIT_OK;
    default: usage(stderr); return TM_EXIT_USAGE;
    }
  }
  if (mode == 'r') {
    tm_config_write_reference(stdout, tm_all_schemas, tm_n_schemas);
    return TM_EXIT_OK;
  }
  if (mode == 'c') {
    tm_config *cfg = tm_config_new(tm_all_schemas, tm_n_schemas);
    tm_error err = {0};
    int rc = cfg ? tm_config_load(cfg, file, &err) : -TM_ENOMEM;
    tm_config_free(cfg);
    if (rc < 0) {
      fprintf(stderr, "tokenmill config: %s\n", err.msg);
      return TM_EXIT_USAGE;
    }
    printf("%s: ok\n", file);
    return TM_EXIT_OK;
  }
  usage(stderr);
  return TM_EXIT_USAGE;
}
