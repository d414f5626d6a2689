/* cmd_export.c - `tokenmill-train export --ckpt C --format llmc|safetensors
 * -o OUT`: the model of a checkpoint for other tools (see export.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "exitcode.h"
#include "export.h"
#include "gpt.h"
#include "train_commands.h"

static void export_usage(FILE *f) {
  fprintf(f,
          "usage: tokenmill-train export --ckpt FILE --format llmc|safetensors -o OUT\n\n"
          "llmc: OUT is an llm.c checkpoint file (train_gpt2.c's format, version 3).\n"
          "safetensors: OUT is a directory; it gets model.safetensors and config.json in\n"
          "HuggingFace transformers' GPT-2 layout (GPT2LMHeadModel.from_pretrained(OUT)).\n");
}

int cmd_export(int argc, char **argv) {
  static const struct option opts[] = {{"ckpt", required_argument, 0, 'c'},
                                       {"format", required_argument, 0, 'f'},
                                       {"output", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *ckpt = NULL, *format = NULL, *out = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
    switch (c) {
      case 'c': ckpt = optarg; break;
      case 'f': format = optarg; break;
      case 'o': out = optarg; break;
      case 'h': export_usage(stdout); return TM_EXIT_OK;
      default: export_usage(stderr); return TM_EXIT_USAGE;
    }
  }
  if (!ckpt || !format || !out || (strcmp(format, "llmc") && strcmp(format, "safetensors"))) {
    export_usage(stderr);
    return TM_EXIT_USAGE;
  }
  tm_error err = {0};
  tm_ckpt_meta meta;
  tm_gpt *m = NULL;
  int rc = tm_ckpt_read_meta(ckpt, &meta, &err);
  if (rc == 0 && !(m = tm_gpt_create(&meta.cfg, 1, 0, &err))) rc = -err.code;
  if (rc == 0) rc = tm_ckpt_load(ckpt, &meta, tm_gpt_params_flat(m), NULL, &err);
  if (rc == 0)
    rc = !strcmp(format, "llmc")
             ? tm_export_llmc(out, &meta.cfg, tm_gpt_params_flat(m), &err)
             : tm_export_safetensors(out, &meta.cfg, tm_gpt_params_flat(m), -1, &err);
  tm_gpt_free(m);
  if (rc < 0) {
    fprintf(stderr, "tokenmill-train export: %s\n", err.msg);
    return TM_EXIT_RUNTIME;
  }
  printf("%s\n", out);
  return TM_EXIT_OK;
}
