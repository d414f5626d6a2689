/* cmd_sample.c - `tokenmill-train sample --ckpt C --prompt TEXT`: generate
 * text from a checkpoint. With --tokenizer the prompt is encoded and the
 * output decoded with it (its hash is checked against the checkpoint's);
 * without, ids are bytes (a byte-level model, vocabulary <= 256). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "exitcode.h"
#include "gpt.h"
#include "log.h"
#include "sampler.h"
#include "threads.h"
#include "tokenizer.h"
#include "train_commands.h"

static void sample_usage(FILE *f) {
  fprintf(f,
          "usage: tokenmill-train sample --ckpt FILE --prompt TEXT [--tokenizer tokenizer.json]\n"
          "         [--tokens N] [--temperature X] [--top-k K] [--seed S] [--threads N] [--ids]\n\n"
          "Generates N (default 200) tokens after the prompt and prints prompt + continuation.\n"
          "temperature 0 is greedy; top-k 0 samples from the whole vocabulary (defaults 0.8\n"
          "and 40). Without --tokenizer, token ids are bytes. --ids prints the ids instead.\n");
}

int cmd_sample(int argc, char **argv) {
  static const struct option opts[] = {
      {"ckpt", required_argument, 0, 'c'},        {"prompt", required_argument, 0, 'p'},
      {"tokenizer", required_argument, 0, 'k'},   {"tokens", required_argument, 0, 'n'},
      {"temperature", required_argument, 0, 't'}, {"top-k", required_argument, 0, 'K'},
      {"seed", required_argument, 0, 's'},        {"threads", required_argument, 0, 'j'},
      {"ids", no_argument, 0, 'i'},               {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *ckpt = NULL, *prompt = NULL, *tokpath = NULL;
  int n_new = 200, top_k = 40, threads = 1, print_ids = 0, c;
  double temperature = 0.8;
  unsigned long long seed = 1;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    char *end = NULL;
    switch (c) {
      case 'c': ckpt = optarg; break;
      case 'p': prompt = optarg; break;
      case 'k': tokpath = optarg; break;
      case 'n': n_new = (int)strtol(optarg, &end, 10); break;
      case 't': temperature = strtod(optarg, &end); break;
      case 'K': top_k = (int)strtol(optarg, &end, 10); break;
      case 's': seed = strtoull(optarg, &end, 10); break;
      case 'j': threads = (int)strtol(optarg, &end, 10); break;
      case 'i': print_ids = 1; break;
      case 'h': sample_usage(stdout); return TM_EXIT_OK;
      default: sample_usage(stderr); return TM_EXIT_USAGE;
    }
    if (end && (*end || end == optarg)) {
      fprintf(stderr, "tokenmill-train sample: bad number '%s'\n", optarg);
      return TM_EXIT_USAGE;
    }
  }
  if (!ckpt || !prompt || n_new < 0 || n_new > 1000000 || top_k < 0 || !(temperature >= 0) ||
      threads < 1) {
    fprintf(stderr, "tokenmill-train sample: --ckpt and --prompt are required; tokens, top-k, "
                    "temperature >= 0, threads >= 1\n");
    sample_usage(stderr);
    return TM_EXIT_USAGE;
  }
  tm_threads_set(threads);
  tm_error err = {0};
  tm_ckpt_meta meta;
  tm_tokenizer *tok = NULL;
  tm_gpt *m = NULL;
  int32_t *ids = NULL;
  uint8_t *text = NULL;
  int rc = TM_EXIT_RUNTIME;
  if (tm_ckpt_read_meta(ckpt, &meta, &err) < 0) goto out;
  if (!(m = tm_gpt_create(&meta.cfg, 1, 0, &err))) goto out;
  if (tm_ckpt_load(ckpt, &meta, tm_gpt_params_flat(m), NULL, &err) < 0) goto out;
  size_t plen = strlen(prompt);
  int cap = (int)plen + n_new + 1, len = 0;
  tm_ids enc = {0};
  if (tokpath) {
    if (tm_tokenizer_load(&tok, tokpath, &err) < 0) goto out;
    if (meta.tokenizer_hash && tm_tokenizer_hash(tok) != meta.tokenizer_hash)
      tm_warn("tokenizer_mismatch", "tokenizer=%s hash=%016llx checkpoint_hash=%016llx", tokpath,
              (unsigned long long)tm_tokenizer_hash(tok), (unsigned long long)meta.tokenizer_hash);
    tm_encoder *e = tm_encoder_new(tok);
    if (!e || tm_encoder_encode(e, prompt, plen, 0, &enc, &err) < 0) {
      tm_encoder_free(e);
      tm_ids_free(&enc);
      if (!e) tm_err(&err, TM_ENOMEM, "out of memory");
      goto out;
    }
    tm_encoder_free(e);
    cap = (int)enc.len + n_new + 1;
  }
  ids = malloc(sizeof(int32_t) * (size_t)cap);
  if (!ids) {
    tm_ids_free(&enc);
    tm_err(&err, TM_ENOMEM, "out of memory");
    goto out;
  }
  if (tok) {
    for (size_t i = 0; i < enc.len; i++) ids[len++] = (int32_t)enc.ids[i];
    tm_ids_free(&enc);
  } else {
    for (size_t i = 0; i < plen; i++) ids[len++] = (uint8_t)prompt[i];
  }
  for (int i = 0; i < len; i++)
    if (ids[i] >= meta.cfg.vocab_size) {
      tm_err(&err, TM_EINVAL, "prompt token %d at position %d is outside the model's vocabulary "
             "(%d)%s", ids[i], i, meta.cfg.vocab_size, tok ? "" : "; pass --tokenizer");
      rc = TM_EXIT_USAGE;
      goto out;
    }
  tm_rng rng;
  tm_rng_seed(&rng, seed);
  if (tm_sample_generate(m, ids, &len, cap, n_new, (float)temperature, top_k, &rng, &err) < 0)
    goto out;
  if (print_ids) {
    for (int i = 0; i < len; i++) printf("%s%d", i ? " " : "", ids[i]);
    printf("\n");
  } else if (tok) {
    size_t tl = 0, tc = 0;
    if (tm_tokenizer_decode(tok, (const uint32_t *)ids, (size_t)len, &text, &tl, &tc, &err) < 0)
      goto out;
    fwrite(text, 1, tl, stdout);
    printf("\n");
  } else {
    for (int i = 0; i < len; i++) {
      if (ids[i] < 256) putchar(ids[i]);
      else printf("<%d>", ids[i]);
    }
    printf("\n");
  }
  rc = TM_EXIT_OK;
out:
  if (rc != TM_EXIT_OK) fprintf(stderr, "tokenmill-train sample: %s\n", err.msg);
  free(text);
  free(ids);
  tm_tokenizer_free(tok);
  tm_gpt_free(m);
  return rc;
}
