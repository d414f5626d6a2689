/* cmd_shards.c - `tokenmill shards ls|verify|cat|export|pack`. */
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "commands.h"
#include "config.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"
#include "manifest.h"
#include "readers/reader.h"
#include "shard.h"
#include "shards/shard_dir.h"
#include "shards/shard_export.h"
#include "tokenizer.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tokenmill shards ls DIR [--ids]\n"
          "       tokenmill shards verify DIR|FILE...\n"
          "       tokenmill shards cat FILE [--doc INDEX] [--text] [--tokenizer JSON]\n"
          "       tokenmill shards export --format llmc|megatron|datatrove -o OUTDIR DIR\n"
          "       tokenmill shards pack (--tokenizer JSON | --bytelevel) -o DIR [--source NAME]\n"
          "                             [--format auto|jsonl|text|html|email|warc]\n"
          "                             [--text-field F] [--max-tokens N] [--frame-size SIZE]\n"
          "                             [--zstd-level L] INPUT...\n\n"
          "ls      summary of a shard directory from its manifest; --ids: one line per\n"
          "        document (shard, index, document id, source, tokens)\n"
          "verify  check every checksum, the index and the manifest; exit 1 naming the\n"
          "        first bad file and byte offset\n"
          "cat     a shard's documents as token ids (one line each), or as text with\n"
          "        --text (the tokenizer.json beside the shard whose hash matches)\n"
          "export  write what other trainers read (see common/SHARD_FORMAT.md)\n"
          "pack    tokenize already-clean input documents into a shard directory\n"
          "        (no cleaning or dedup: that is `tokenmill build`)\n");
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- ls ------------------------------------------------------------------ */

static int shards_ls(int argc, char **argv) {
  static const struct option opts[] = {{"ids", no_argument, 0, 'i'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int ids = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "ih", opts, NULL)) != -1) {
    if (c == 'i') ids = 1;
    else if (c == 'h') return usage(stdout), TM_EXIT_OK;
    else return usage(stderr), TM_EXIT_USAGE;
  }
  if (optind + 1 != argc) return usage(stderr), TM_EXIT_USAGE;
  const char *dir = argv[optind];
  tm_manifest m;
  tm_error err = {0};
  if (tm_manifest_load(&m, dir, 0, &err) < 0) {
    fprintf(stderr, "tokenmill shards ls: %s\n", err.msg);
    return TM_EXIT_RUNTIME;
  }
  int rc = TM_EXIT_OK;
  if (!ids) {
    printf("directory   %s\ngeneration  %" PRIu64 "\ntokenizer   %016" PRIx64 " (vocab %u, eot %u)\n"
           "shards      %zu\ndocuments   %" PRIu64 "\ntokens      %" PRIu64 "\n",
           dir, m.generation, m.tokenizer_hash, m.vocab_size, m.eot_id, m.n_shards,
           tm_manifest_total_docs(&m), tm_manifest_total_tokens(&m));
    uint64_t bytes = 0;
    for (size_t i = 0; i < m.n_shards; i++) bytes += m.shards[i].bytes;
    printf("bytes       %" PRIu64 " (%.2f bytes/token)\n", bytes,
           tm_manifest_total_tokens(&m) ? (double)bytes / (double)tm_manifest_total_tokens(&m) : 0.0);
    /* tokens per source over all shards */
    printf("per source:\n");
    for (size_t i = 0; i < m.n_shards; i++)
      for (uint32_t s = 0; s < m.shards[i].n_sources; s++) {
        const char *name = m.shards[i].sources[s].name;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
          for (uint32_t t = 0; t < m.shards[j].n_sources; t++)
            if (!strcmp(m.shards[j].sources[t].name, name)) seen = 1;
        if (seen) continue;
        uint64_t tok = 0, docs = 0;
        for (size_t j = i; j < m.n_shards; j++)
          for (uint32_t t = 0; t < m.shards[j].n_sources; t++)
            if (!strcmp(m.shards[j].sources[t].name, name))
              tok += m.shards[j].sources[t].tokens, docs += m.shards[j].sources[t].docs;
        printf("  %-12s documents %-10" PRIu64 " tokens %" PRIu64 "\n", name, docs, tok);
      }
    printf("%-16s %10s %12s %12s  %s\n", "shard", "documents", "tokens", "bytes", "created");
    for (size_t i = 0; i < m.n_shards; i++)
      printf("%-16s %10" PRIu64 " %12" PRIu64 " %12" PRIu64 "  %s\n", m.shards[i].name,
             m.shards[i].documents, m.shards[i].tokens, m.shards[i].bytes, m.shards[i].created);
  } else {
    for (size_t i = 0; i < m.n_shards && rc == TM_EXIT_OK; i++) {
      char path[PATH_MAX];
      snprintf(path, sizeof path, "%s/%s", dir, m.shards[i].name);
      tm_shard_reader *r;
      if (tm_shard_open(&r, path, &err) < 0) {
        fprintf(stderr, "tokenmill shards ls: %s\n", err.msg);
        rc = TM_EXIT_RUNTIME;
        break;
      }
      const tm_shard_info *info = tm_shard_reader_info(r);
      for (uint64_t d = 0; d < info->n_docs; d++) {
        tm_shard_doc doc;
        if (tm_shard_doc_meta(r, d, &doc, &err) < 0) {
          fprintf(stderr, "tokenmill shards ls: %s\n", err.msg);
          rc = TM_EXIT_RUNTIME;
          break;
        }
        printf("%s\t%" PRIu64 "\t%016" PRIx64 "\t%s\t%u\n", m.shards[i].name, d, doc.doc_id,
               info->source_names[doc.source], doc.n_tokens);
      }
      tm_shard_close(r);
    }
  }
  tm_manifest_free(&m);
  return rc;
}

/* ---- verify -------------------------------------------------------------- */

static int verify_dir(const char *dir) {
  tm_manifest m;
  tm_error err = {0};
  if (tm_manifest_load(&m, dir, 0, &err) < 0) {
    fprintf(stderr, "tokenmill shards verify: %s\n", err.msg);
    return TM_EXIT_RUNTIME;
  }
  int rc = TM_EXIT_OK;
  tm_shard_info *info = malloc(sizeof *info);
  uint64_t docs = 0, tokens = 0;
  for (size_t i = 0; i < m.n_shards && info; i++) {
    tm_manifest_shard *s = &m.shards[i];
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, s->name);
    if (tm_shard_verify(path, info, &err) < 0) {
      fprintf(stderr, "tokenmill shards verify: %s\n", err.msg);
      rc = TM_EXIT_RUNTIME;
      break;
    }
    const char *what = NULL;
    if (info->file_hash != s->file_hash) what = "file hash";
    else if (info->n_docs != s->documents) what = "document count";
    else if (info->n_tokens != s->tokens) what = "token count";
    else if (info->file_bytes != s->bytes) what = "size";
    else if (info->tokenizer_hash != m.tokenizer_hash) what = "tokenizer hash";
    if (what) {
      fprintf(stderr, "tokenmill shards verify: %s: %s differs from %s/%s (offset 0)\n", path,
              what, dir, TM_MANIFEST_NAME);
      rc = TM_EXIT_RUNTIME;
      break;
    }
    docs += info->n_docs;
    tokens += info->n_tokens;
  }
  free(info);
  /* files a reader would ignore: sealed but unlisted shards, temporaries */
  DIR *dh = opendir(dir);
  struct dirent *e;
  while (dh && (e = readdir(dh))) {
    size_t n = strlen(e->d_name);
    if (n > 4 && !strcmp(e->d_name + n - 4, ".tms") && tm_manifest_find(&m, e->d_name) < 0)
      fprintf(stderr, "tokenmill shards verify: warning: %s/%s is not in the manifest (ignored by readers)\n",
              dir, e->d_name);
    if (n > 4 && !strcmp(e->d_name + n - 4, ".tmp"))
      fprintf(stderr, "tokenmill shards verify: warning: %s/%s is an unfinished temporary file\n",
              dir, e->d_name);
  }
  if (dh) closedir(dh);
  if (rc == TM_EXIT_OK)
    printf("%s: ok: %zu shards, %" PRIu64 " documents, %" PRIu64 " tokens (generation %" PRIu64 ")\n",
           dir, m.n_shards, docs, tokens, m.generation);
  tm_manifest_free(&m);
  return rc;
}

static int shards_verify(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help")) return usage(argc < 2 ? stderr : stdout), argc < 2 ? TM_EXIT_USAGE : TM_EXIT_OK;
  for (int i = 1; i < argc; i++) {
    if (is_dir(argv[i])) {
      int rc = verify_dir(argv[i]);
      if (rc) return rc;
      continue;
    }
    tm_error err = {0};
    tm_shard_info *info = malloc(sizeof *info);
    if (!info || tm_shard_verify(argv[i], info, &err) < 0) {
      fprintf(stderr, "tokenmill shards verify: %s\n", info ? err.msg : "out of memory");
      free(info);
      return TM_EXIT_RUNTIME;
    }
    printf("%s: ok: %" PRIu64 " documents, %" PRIu64 " tokens, %" PRIu64 " frames, hash %016" PRIx64 "\n",
           argv[i], info->n_docs, info->n_tokens, info->n_chunks, info->file_hash);
    free(info);
  }
  return TM_EXIT_OK;
}

/* ---- cat ----------------------------------------------------------------- */

/* The tokenizer.json in dir (or any *.json there) whose XXH3-64 is hash. */
static int find_tokenizer(const char *dir, uint64_t hash, char *out, size_t cap) {
  DIR *dh = opendir(dir);
  if (!dh) return -1;
  struct dirent *e;
  int found = -1;
  while (found < 0 && (e = readdir(dh))) {
    size_t n = strlen(e->d_name);
    if (n < 5 || strcmp(e->d_name + n - 5, ".json")) continue;
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
    char *buf;
    size_t len;
    if (tm_io_read_file(p, TM_TOKENIZER_MAX_JSON, &buf, &len, NULL) < 0) continue;
    if (XXH3_64bits(buf, len) == hash) {
      snprintf(out, cap, "%s", p);
      found = 0;
    }
    free(buf);
  }
  closedir(dh);
  return found;
}

static int shards_cat(int argc, char **argv) {
  static const struct option opts[] = {{"doc", required_argument, 0, 'd'},
                                       {"text", no_argument, 0, 't'},
                                       {"tokenizer", required_argument, 0, 'k'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c, text = 0;
  int64_t doc = -1;
  const char *tokpath = NULL;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:tk:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd':
      if (tm_parse_int(optarg, &doc) < 0 || doc < 0) return usage(stderr), TM_EXIT_USAGE;
      break;
    case 't': text = 1; break;
    case 'k': tokpath = optarg; break;
    case 'h': return usage(stdout), TM_EXIT_OK;
    default: return usage(stderr), TM_EXIT_USAGE;
    }
  }
  if (optind + 1 != argc) return usage(stderr), TM_EXIT_USAGE;
  const char *path = argv[optind];
  tm_error err = {0};
  tm_shard_reader *r;
  if (tm_shard_open(&r, path, &err) < 0) {
    fprintf(stderr, "tokenmill shards cat: %s\n", err.msg);
    return TM_EXIT_RUNTIME;
  }
  const tm_shard_info *info = tm_shard_reader_info(r);
  tm_tokenizer *tok = NULL;
  int rc = TM_EXIT_OK;
  if (text) {
    char found[PATH_MAX], dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    if (!tokpath) {
      if (find_tokenizer(dir, info->tokenizer_hash, found, sizeof found) < 0) {
        fprintf(stderr, "tokenmill shards cat: no tokenizer with hash %016" PRIx64 " in %s (use --tokenizer)\n",
                info->tokenizer_hash, dir);
        tm_shard_close(r);
        return TM_EXIT_RUNTIME;
      }
      tokpath = found;
    }
    if (tm_tokenizer_load(&tok, tokpath, &err) < 0) {
      fprintf(stderr, "tokenmill shards cat: %s\n", err.msg);
      tm_shard_close(r);
      return TM_EXIT_RUNTIME;
    }
    if (tm_tokenizer_hash(tok) != info->tokenizer_hash)
      fprintf(stderr, "tokenmill shards cat: warning: %s is not the tokenizer the shard was written with\n",
              tokpath);
  }
  uint64_t first = doc >= 0 ? (uint64_t)doc : 0, last = doc >= 0 ? (uint64_t)doc + 1 : info->n_docs;
  if (doc >= 0 && (uint64_t)doc >= info->n_docs) {
    fprintf(stderr, "tokenmill shards cat: %s has %" PRIu64 " documents\n", path, info->n_docs);
    rc = TM_EXIT_USAGE;
    last = first;
  }
  uint8_t *buf = NULL;
  size_t blen = 0, bcap = 0;
  for (uint64_t d = first; d < last; d++) {
    const uint32_t *t;
    size_t n;
    if (tm_shard_read_doc(r, d, &t, &n, &err) < 0) {
      fprintf(stderr, "tokenmill shards cat: %s\n", err.msg);
      rc = TM_EXIT_RUNTIME;
      break;
    }
    if (text) {
      blen = 0;
      if (tm_tokenizer_decode(tok, t, n, &buf, &blen, &bcap, &err) < 0) {
        fprintf(stderr, "tokenmill shards cat: %s\n", err.msg);
        rc = TM_EXIT_RUNTIME;
        break;
      }
      fwrite(buf, 1, blen, stdout);
      if (doc < 0) fputc('\n', stdout);
    } else {
      for (size_t k = 0; k < n; k++) printf(k ? " %u" : "%u", t[k]);
      putchar('\n');
    }
  }
  free(buf);
  tm_tokenizer_free(tok);
  tm_shard_close(r);
  return rc;
}

/* ---- export -------------------------------------------------------------- */

static int shards_export(int argc, char **argv) {
  static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                       {"output", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c, fmt = -1;
  const char *out = NULL;
  optind = 1;
  while ((c = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'f': fmt = tm_export_format_parse(optarg); break;
    case 'o': out = optarg; break;
    case 'h': return usage(stdout), TM_EXIT_OK;
    default: return usage(stderr), TM_EXIT_USAGE;
    }
  }
  if (fmt < 0 || !out || optind + 1 != argc) return usage(stderr), TM_EXIT_USAGE;
  tm_error err = {0};
  uint64_t files;
  if (tm_shards_export(argv[optind], out, (tm_export_format)fmt, &files, &err) < 0) {
    fprintf(stderr, "tokenmill shards export: %s\n", err.msg);
    return TM_EXIT_RUNTIME;
  }
  printf("%s: %" PRIu64 " files written\n", out, files);
  return TM_EXIT_OK;
}

/* ---- pack ---------------------------------------------------------------- */

static int shards_pack(int argc, char **argv) {
  static const struct option opts[] = {{"tokenizer", required_argument, 0, 'k'},
                                       {"bytelevel", no_argument, 0, 'b'},
                                       {"output", required_argument, 0, 'o'},
                                       {"source", required_argument, 0, 's'},
                                       {"format", required_argument, 0, 'f'},
                                       {"text-field", required_argument, 0, 'F'},
                                       {"max-tokens", required_argument, 0, 'T'},
                                       {"frame-size", required_argument, 0, 'S'},
                                       {"zstd-level", required_argument, 0, 'L'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *tokpath = NULL, *out = NULL, *source = NULL;
  int bytelevel = 0, c;
  tm_reader_options ro;
  tm_reader_options_default(&ro);
  tm_shard_dir_options so = {0};
  tm_shard_params_default(&so.params);
  int64_t v;
  uint64_t sz;
  optind = 1;
  while ((c = getopt_long(argc, argv, "k:bo:s:f:F:T:S:L:h", opts, NULL)) != -1) {
    switch (c) {
    case 'k': tokpath = optarg; break;
    case 'b': bytelevel = 1; break;
    case 'o': out = optarg; break;
    case 's': source = optarg; break;
    case 'f': {
      int f = tm_reader_format_parse(optarg);
      if (f < 0) return fprintf(stderr, "tokenmill shards pack: unknown format '%s'\n", optarg), TM_EXIT_USAGE;
      ro.format = (tm_reader_format)f;
      break;
    }
    case 'F': ro.text_field = optarg; break;
    case 'T':
      if (tm_parse_int(optarg, &v) < 0 || v <= 0) return usage(stderr), TM_EXIT_USAGE;
      so.max_tokens = (uint64_t)v;
      break;
    case 'S':
      if (tm_parse_size(optarg, &sz) < 0 || sz == 0) return usage(stderr), TM_EXIT_USAGE;
      so.params.frame_bytes = (size_t)sz;
      break;
    case 'L':
      if (tm_parse_int(optarg, &v) < 0 || v < 1 || v > 22) return usage(stderr), TM_EXIT_USAGE;
      so.params.zstd_level = (int)v;
      break;
    case 'h': return usage(stdout), TM_EXIT_OK;
    default: return usage(stderr), TM_EXIT_USAGE;
    }
  }
  if (!out || optind >= argc || (!tokpath == !bytelevel)) return usage(stderr), TM_EXIT_USAGE;
  if (source) {
    int s = tm_source_parse(source);
    if (s >= 0) ro.source = (tm_source_kind)s;
  }
  tm_error err = {0};
  tm_tokenizer *tok = NULL;
  int rc = bytelevel ? tm_tokenizer_new_bytelevel(&tok, TM_PRETOK_GPT2, &err)
                     : tm_tokenizer_load(&tok, tokpath, &err);
  if (rc < 0) {
    fprintf(stderr, "tokenmill shards pack: %s\n", err.msg);
    return TM_EXIT_USAGE;
  }
  if (tm_tokenizer_eot_id(tok) < 0) {
    fprintf(stderr, "tokenmill shards pack: the tokenizer has no <|endoftext|> token\n");
    tm_tokenizer_free(tok);
    return TM_EXIT_USAGE;
  }
  so.params.vocab_size = tm_tokenizer_vocab_size(tok);
  so.params.eot_id = (uint32_t)tm_tokenizer_eot_id(tok);
  so.params.tokenizer_hash = tm_tokenizer_hash(tok);
  tm_shard_dir *sd = NULL;
  if (tm_shard_dir_open(&sd, out, &so, &err) < 0) {
    fprintf(stderr, "tokenmill shards pack: %s\n", err.msg);
    tm_tokenizer_free(tok);
    return TM_EXIT_RUNTIME;
  }
  /* the tokenizer lives beside the shards, found by its hash */
  char tpath[PATH_MAX];
  snprintf(tpath, sizeof tpath, "%s/tokenizer.json", out);
  if (tm_tokenizer_save(tok, tpath, &err) < 0) {
    fprintf(stderr, "tokenmill shards pack: %s\n", err.msg);
    tm_shard_dir_abort(sd);
    tm_tokenizer_free(tok);
    return TM_EXIT_RUNTIME;
  }
  tm_encoder *enc = tm_encoder_new(tok);
  tm_ids ids = {0};
  tm_document doc;
  tm_document_init(&doc);
  uint64_t docs = 0, rejected = 0, bytes = 0;
  int fatal = 0;
  for (int i = optind; i < argc && !fatal; i++) {
    tm_reader *r;
    if (tm_reader_open(&r, argv[i], &ro, &err) < 0) {
      fprintf(stderr, "tokenmill shards pack: %s\n", err.msg);
      rejected++;
      continue;
    }
    int n;
    while ((n = tm_reader_next(r, &doc, &err)) != 0) {
      if (n < 0) {
        tm_warn("record_rejected", "error=%s", err.msg);
        rejected++;
        continue;
      }
      ids.len = 0;
      if (tm_encoder_encode(enc, doc.text, doc.len, 0, &ids, &err) < 0 ||
          tm_shard_dir_append(sd, ids.ids, ids.len, tm_doc_id_hash(doc.id, strlen(doc.id)),
                              source ? source : tm_source_name(doc.source), &err) < 0) {
        fprintf(stderr, "tokenmill shards pack: %s\n", err.msg);
        fatal = 1;
        break;
      }
      docs++;
      bytes += doc.len;
    }
    tm_reader_close(r);
  }
  if (!fatal && tm_shard_dir_seal(sd, &err) < 0) {
    fprintf(stderr, "tokenmill shards pack: %s\n", err.msg);
    fatal = 1;
  }
  const tm_manifest *m = tm_shard_dir_manifest(sd);
  if (!fatal)
    printf("%s: %" PRIu64 " documents (%" PRIu64 " bytes) packed, %" PRIu64 " rejected; %zu shards, %" PRIu64
           " tokens in all\n",
           out, docs, bytes, rejected, m->n_shards, tm_manifest_total_tokens(m));
  if (fatal) tm_shard_dir_abort(sd);
  else tm_shard_dir_close(sd, &err);
  tm_document_free(&doc);
  tm_ids_free(&ids);
  tm_encoder_free(enc);
  tm_tokenizer_free(tok);
  if (fatal) return TM_EXIT_RUNTIME;
  return rejected ? TM_EXIT_REJECTED : TM_EXIT_OK;
}

int cmd_shards(int argc, char **argv) {
  if (argc < 2) return usage(stderr), TM_EXIT_USAGE;
  const char *sub = argv[1];
  if (!strcmp(sub, "ls")) return shards_ls(argc - 1, argv + 1);
  if (!strcmp(sub, "verify")) return shards_verify(argc - 1, argv + 1);
  if (!strcmp(sub, "cat")) return shards_cat(argc - 1, argv + 1);
  if (!strcmp(sub, "export")) return shards_export(argc - 1, argv + 1);
  if (!strcmp(sub, "pack")) return shards_pack(argc - 1, argv + 1);
  if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) return usage(stdout), TM_EXIT_OK;
  fprintf(stderr, "tokenmill shards: unknown subcommand '%s'\n", sub);
  usage(stderr);
  return TM_EXIT_USAGE;
}
