/* cmd_tokenizer.c - `tokenmill tokenizer train|encode|decode|info`. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpe/bpe_train.h"
#include "clock.h"
#include "commands.h"
#include "config.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"
#include "schemas.h"
#include "tokenizer.h"


static void usage(FILE *f) {
  fprintf(f,
      "usage: tokenmill tokenizer train [-c CONFIG] [--set S.K=V] [--vocab-size N]\n"
      "           [--alphabet full|seen] [--special-tokens LIST] [--pattern gpt2|gpt4]\n"
      "           [--min-frequency N] [--threads N] [--max-words N] [--lines]\n"
      "           -o tokenizer.json INPUT...\n"
      "       tokenmill tokenizer encode --tokenizer FILE [--threads N] [--lines]\n"
      "           [--dropout P --seed S] [--allow-special] [--binary] INPUT...\n"
      "       tokenmill tokenizer decode --tokenizer FILE [--binary] [--lines] [INPUT...]\n"
      "       tokenmill tokenizer info --tokenizer FILE\n\n"
      "train    learn a byte-level BPE tokenizer (HF tokenizers' BpeTrainer, exactly) from\n"
      "         text files; each file is one document, --lines makes each line one (as\n"
      "         HF's train(files) does). LIST is comma-separated ('' for none).\n"
      "encode   each INPUT file is one text (--lines: each line, without its newline);\n"
      "         prints the ids of each text on one line, or raw little-endian uint16\n"
      "         (vocab <= 65536) / uint32 with --binary.\n"
      "decode   reads ids (whitespace-separated text, or --binary as encode writes them)\n"
      "         from the INPUTs or stdin and writes the bytes; --lines: one text per line.\n"
      "info     vocabulary size, merges, pattern, end-of-text id, hash; warns when byte\n"
      "         symbols are missing (characters the tokenizer cannot encode are dropped).\n");
}

static long peak_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) v = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return v;
}

/* ---- train ---------------------------------------------------------------- */

static int split_list(const char *s, char ***out, int *n) {
  *out = NULL, *n = 0;
  if (!*s) return 0;
  char *copy = strdup(s);
  if (!copy) return -1;
  int cap = 1;
  for (const char *p = s; *p; p++) cap += *p == ',';
  char **v = calloc((size_t)cap + 1, sizeof *v);
  if (!v) {
    free(copy);
    return -1;
  }
  for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ","))
    if (*tok) v[(*n)++] = tok;
  v[cap] = copy; /* freed by the caller through v[cap] */
  *out = v;
  return cap;
}

static int cmd_train(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, 0, 'c'},  {"set", required_argument, 0, 'S'},
      {"vocab-size", required_argument, 0, 'v'}, {"alphabet", required_argument, 0, 'a'},
      {"special-tokens", required_argument, 0, 's'}, {"pattern", required_argument, 0, 'p'},
      {"min-frequency", required_argument, 0, 'm'}, {"threads", required_argument, 0, 't'},
      {"max-words", required_argument, 0, 'W'}, {"lines", no_argument, 0, 'l'},
      {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  const tm_config_key *const schemas[] = {tm_tokenizer_config_keys};
  tm_config *cfg = tm_config_new(schemas, 1);
  tm_error err = {0};
  const char *output = NULL;
  int lines = 0, c, rc = TM_EXIT_USAGE;
  if (!cfg) return TM_EXIT_RUNTIME;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
    int r = 0;
    switch (c) {
    case 'c': r = tm_config_load(cfg, optarg, &err); break;
    case 'S': r = tm_config_set_arg(cfg, optarg, &err); break;
    case 'v': r = tm_config_set(cfg, "tokenizer", "vocab_size", optarg, &err); break;
    case 'a': r = tm_config_set(cfg, "tokenizer", "alphabet", optarg, &err); break;
    case 's': r = tm_config_set(cfg, "tokenizer", "special_tokens", optarg, &err); break;
    case 'p': r = tm_config_set(cfg, "tokenizer", "pattern", optarg, &err); break;
    case 'm': r = tm_config_set(cfg, "tokenizer", "min_frequency", optarg, &err); break;
    case 't': r = tm_config_set(cfg, "tokenizer", "threads", optarg, &err); break;
    case 'W': r = tm_config_set(cfg, "tokenizer", "max_words", optarg, &err); break;
    case 'l': lines = 1; break;
    case 'o': output = optarg; break;
    case 'h': usage(stdout); tm_config_free(cfg); return TM_EXIT_OK;
    default: usage(stderr); tm_config_free(cfg); return TM_EXIT_USAGE;
    }
    if (r < 0) {
      fprintf(stderr, "tokenmill tokenizer train: %s\n", err.msg);
      tm_config_free(cfg);
      return TM_EXIT_USAGE;
    }
  }
  int64_t vocab = tm_config_int(cfg, "tokenizer", "vocab_size");
  int64_t minf = tm_config_int(cfg, "tokenizer", "min_frequency");
  int64_t threads = tm_config_int(cfg, "tokenizer", "threads");
  int64_t max_words = tm_config_int(cfg, "tokenizer", "max_words");
  const char *alpha = tm_config_str(cfg, "tokenizer", "alphabet");
  int pattern = tm_pretok_parse(tm_config_str(cfg, "tokenizer", "pattern"));
  char **specials = NULL;
  int n_special = 0, scap = split_list(tm_config_str(cfg, "tokenizer", "special_tokens"),
                                       &specials, &n_special);
  tm_bpe_words *words = NULL;
  tm_tokenizer *tok = NULL;
  if (!output || optind >= argc) {
    fprintf(stderr, "tokenmill tokenizer train: needs -o FILE and at least one INPUT\n");
    goto out;
  }
  if (vocab < 1 || vocab > (1 << 24) || minf < 0 || threads < 0 || threads > 256 ||
      max_words < 1024) {
    fprintf(stderr, "tokenmill tokenizer train: vocab_size must be in [1, 2^24], min_frequency "
                    ">= 0, threads in [0, 256], max_words >= 1024\n");
    goto out;
  }
  if (pattern < 0 || (strcmp(alpha, "full") && strcmp(alpha, "seen")) || scap < 0) {
    fprintf(stderr, "tokenmill tokenizer train: pattern must be gpt2|gpt4, alphabet full|seen\n");
    goto out;
  }
  rc = TM_EXIT_RUNTIME;
  double t0 = tm_now_s();
  words = tm_bpe_words_new((size_t)max_words);
  if (!words) goto out;
  if (tm_bpe_count_files(words, (tm_pretok_kind)pattern, (const char *const *)argv + optind,
                         argc - optind, lines, (int)threads, &err) < 0) {
    fprintf(stderr, "tokenmill tokenizer train: %s\n", err.msg);
    goto out;
  }
  double t1 = tm_now_s();
  if (tm_bpe_words_pruned_below(words))
    tm_warn("tokenizer_words_pruned", "below=%" PRIu64 " max_words=%" PRId64,
            tm_bpe_words_pruned_below(words), max_words);
  tm_bpe_train_opts o = {.vocab_size = (uint32_t)vocab, .min_frequency = (uint64_t)minf,
                         .special_tokens = (const char *const *)specials, .n_special = n_special,
                         .alphabet = strcmp(alpha, "seen") ? TM_BPE_ALPHABET_FULL
                                                           : TM_BPE_ALPHABET_SEEN,
                         .pattern = (tm_pretok_kind)pattern};
  tm_bpe_train_stats st = {0};
  if (tm_bpe_train(words, &o, &tok, &st, &err) < 0 || tm_tokenizer_save(tok, output, &err) < 0) {
    fprintf(stderr, "tokenmill tokenizer train: %s\n", err.msg);
    goto out;
  }
  double t2 = tm_now_s();
  tm_info("tokenizer_trained", "output=%s words=%" PRIu64 " merges=%u vocab=%u count_s=%.2f "
          "merge_s=%.2f peak_rss_mib=%.1f hash=%016" PRIx64, output, st.words, st.merges,
          st.vocab_size, t1 - t0, t2 - t1, peak_rss_kib() / 1024.0, tm_tokenizer_hash(tok));
  rc = TM_EXIT_OK;
out:
  if (specials) free(specials[scap]);
  free(specials);
  tm_bpe_words_free(words);
  tm_tokenizer_free(tok);
  tm_config_free(cfg);
  return rc;
}

/* ---- encode ----------------------------------------------------------------
 *
 * Input is read in blocks (ENCODE_BLOCK bytes, plus what it takes to reach a
 * cut), so memory stays bounded whatever the file size. A block ends after a
 * newline (--lines) or at a pre-token boundary that is certain
 * (tm_pretok_safe_cut; never inside an allowed special token), so the ids
 * are exactly those of the whole file. Inside a block, the pieces (lines, or
 * slices cut the same way) are encoded on the threads and written in order. */

#define ENCODE_BLOCK ((size_t)8 << 20)

/* Block and slice sizes; TOKENMILL_ENCODE_BLOCK=N sets both to N bytes
 * (tests: a large N encodes a file as one piece, the reference for cuts). */
static size_t encode_block_bytes = ENCODE_BLOCK, encode_slice_bytes = (size_t)256 << 10;
static void encode_sizes_from_env(void) {
  const char *v = getenv("TOKENMILL_ENCODE_BLOCK");
  uint64_t n;
  if (v && tm_parse_size(v, &n) == 0 && n >= 64) encode_block_bytes = encode_slice_bytes = n;
}

typedef struct {
  const uint8_t *p;
  size_t len;
  uint64_t index; /* over the whole input: seeds dropout */
  tm_ids ids;
} piece;

typedef struct {
  const tm_tokenizer *tok;
  tm_encoder **encoders; /* one per thread, kept across blocks (their caches) */
  int next_encoder;
  piece *pieces;
  size_t n, next;
  pthread_mutex_t mu;
  double dropout;
  uint64_t seed;
  unsigned flags;
  int failed;
  tm_error err;
} encode_job;

static void *encode_worker(void *arg) {
  encode_job *j = arg;
  pthread_mutex_lock(&j->mu);
  tm_encoder *enc = j->encoders[j->next_encoder++];
  pthread_mutex_unlock(&j->mu);
  for (;;) {
    pthread_mutex_lock(&j->mu);
    size_t i = j->next++;
    pthread_mutex_unlock(&j->mu);
    if (i >= j->n) break;
    piece *t = &j->pieces[i];
    tm_error e = {0};
    /* dropout: one random stream per piece, seeded by (seed, piece index) */
    int r = j->dropout > 0
                ? tm_encoder_encode_dropout(enc, t->p, t->len, j->flags, j->dropout,
                                            j->seed ^ (t->index * 0x9E3779B97F4A7C15ull), &t->ids,
                                            &e)
                : tm_encoder_encode(enc, t->p, t->len, j->flags, &t->ids, &e);
    if (r < 0) {
      pthread_mutex_lock(&j->mu);
      j->failed = 1;
      j->err = e;
      pthread_mutex_unlock(&j->mu);
    }
  }
  return NULL;
}

/* Write ids: text (space-separated; *first says whether a separator is
 * due) or binary (uint16 if the vocabulary fits, else uint32). */
static int write_ids(const tm_ids *ids, int binary, uint32_t vocab, int *first) {
  if (binary) {
    if (vocab <= 65536) {
      uint16_t buf[4096];
      for (size_t i = 0; i < ids->len;) {
        size_t k = 0;
        for (; k < 4096 && i < ids->len; k++, i++) buf[k] = (uint16_t)ids->ids[i];
        if (fwrite(buf, 2, k, stdout) != k) return -1;
      }
      return 0;
    }
    return !ids->len || fwrite(ids->ids, 4, ids->len, stdout) == ids->len ? 0 : -1;
  }
  char buf[16];
  for (size_t i = 0; i < ids->len; i++) {
    int n = snprintf(buf, sizeof buf, *first ? "%u" : " %u", ids->ids[i]);
    *first = 0;
    if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) return -1;
  }
  return 0;
}

/* Does an allowed special token straddle offset p of s[0..n)? */
static int inside_special(const tm_tokenizer *tok, const uint8_t *s, size_t n, size_t p) {
  for (uint32_t id = 0; id < tm_tokenizer_vocab_size(tok); id++) {
    if (!tm_tokenizer_is_special(tok, id)) continue;
    size_t l;
    const uint8_t *t = tm_tokenizer_token(tok, id, &l);
    size_t lo = p >= l ? p - l + 1 : 0, hi = p + l - 1 < n ? p + l - 1 : n;
    if (hi > lo && memmem(s + lo, hi - lo, t, l)) return 1;
  }
  return 0;
}

/* The largest cut in s[from..end) for whole-text mode, 0 if none; s holds
 * n >= end bytes. With special tokens allowed, a cut never splits one: cuts
 * within max_special bytes of n (whose special could go on past n) and cuts
 * inside an occurrence are skipped. */
static size_t whole_cut(const tm_tokenizer *tok, unsigned flags, size_t max_special,
                        const uint8_t *s, size_t end, size_t from, size_t n) {
  if (flags & TM_ENCODE_ALLOW_SPECIAL) {
    if (n < max_special) return 0;
    if (end > n - max_special) end = n - max_special;
  }
  size_t p = end;
  while ((p = tm_pretok_safe_cut(s, p, from)) > 0)
    if (!(flags & TM_ENCODE_ALLOW_SPECIAL) || !inside_special(tok, s, n, p)) return p;
  return 0;
}

typedef struct {
  const tm_tokenizer *tok;
  int threads, lines, binary;
  tm_encoder **encoders; /* threads of them */
  unsigned flags;
  size_t max_special; /* longest special token */
  double dropout;
  uint64_t seed;
  uint64_t next_index, bytes, tokens;
  int first; /* whole mode: no id written yet on the current line */
} encode_opts;

/* Encode one block (whole lines, or a cut-safe span of the text). */
static int encode_block(encode_opts *o, const uint8_t *b, size_t n, const char *name) {
  size_t cap = 0;
  if (o->lines) {
    for (size_t i = 0; i < n; i++) cap += b[i] == '\n';
    cap += n && b[n - 1] != '\n';
  } else {
    cap = n / encode_slice_bytes + 1;
  }
  piece *ps = calloc(cap ? cap : 1, sizeof *ps);
  if (!ps) return -1;
  size_t np = 0;
  if (o->lines) {
    for (size_t i = 0, s = 0; i <= n && np < cap; i++)
      if (i == n ? s < n : b[i] == '\n') {
        ps[np].p = b + s, ps[np].len = i - s, np++;
        s = i + 1;
      }
  } else { /* slices of about encode_slice_bytes bytes (the same for any thread
            * count, so dropout streams are too), cut where it is safe */
    size_t s = 0;
    while (n - s > encode_slice_bytes && np + 1 < cap) {
      size_t c = whole_cut(o->tok, o->flags, o->max_special, b, s + encode_slice_bytes, s + 1, n);
      if (!c) break;
      ps[np].p = b + s, ps[np].len = c - s, np++;
      s = c;
    }
    if (s < n) ps[np].p = b + s, ps[np].len = n - s, np++;
  }
  for (size_t i = 0; i < np; i++) ps[i].index = o->next_index++;
  encode_job j = {.tok = o->tok, .encoders = o->encoders, .pieces = ps, .n = np, .dropout = o->dropout, .seed = o->seed,
                  .flags = o->flags};
  pthread_mutex_init(&j.mu, NULL);
  pthread_t tid[256];
  int started = 0;
  for (int t = 1; t < o->threads && (size_t)t < np; t++)
    if (pthread_create(&tid[started], NULL, encode_worker, &j) == 0) started++;
  encode_worker(&j);
  for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
  pthread_mutex_destroy(&j.mu);
  int rc = 0;
  if (j.failed) {
    fprintf(stderr, "tokenmill tokenizer encode: %s: %s\n", name, j.err.msg);
    rc = -1;
  }
  for (size_t i = 0; i < np; i++) {
    if (rc == 0) {
      int first = o->lines ? 1 : o->first;
      if (write_ids(&ps[i].ids, o->binary, tm_tokenizer_vocab_size(o->tok), &first) < 0 ||
          (o->lines && !o->binary && putchar('\n') == EOF)) {
        fprintf(stderr, "tokenmill tokenizer encode: writing stdout: %s\n", strerror(errno));
        rc = -1;
      }
      if (!o->lines) o->first = first;
    }
    o->tokens += ps[i].ids.len;
    tm_ids_free(&ps[i].ids);
  }
  o->bytes += n;
  free(ps);
  return rc;
}

static int encode_file(encode_opts *o, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "tokenmill tokenizer encode: %s: %s\n", path, strerror(errno));
    return -1;
  }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0, scanned = 0;
  int rc = 0, eof = 0;
  o->first = 1;
  while (rc == 0 && !eof) {
    if (cap - len < encode_block_bytes) {
      uint8_t *p = realloc(buf, len + encode_block_bytes);
      if (!p) {
        fprintf(stderr, "tokenmill tokenizer encode: %s: out of memory\n", path);
        rc = -1;
        break;
      }
      buf = p, cap = len + encode_block_bytes;
    }
    size_t k = fread(buf + len, 1, cap - len, f);
    if (k < cap - len) {
      if (ferror(f)) {
        fprintf(stderr, "tokenmill tokenizer encode: %s: read error at offset about %" PRIu64
                        ": %s\n", path, o->bytes + len, strerror(errno));
        rc = -1;
        break;
      }
      eof = 1;
    }
    len += k;
    size_t cut = len;
    if (!eof) {
      if (o->lines) {
        cut = 0;
        for (size_t i = len; i > scanned; i--)
          if (buf[i - 1] == '\n') {
            cut = i;
            break;
          }
      } else {
        size_t from = scanned > o->max_special + 2 ? scanned - o->max_special - 2 : 0;
        cut = whole_cut(o->tok, o->flags, o->max_special, buf, len, from, len);
      }
      scanned = len;
      if (!cut) continue; /* no boundary yet: read more */
    }
    if (cut && encode_block(o, buf, cut, path) < 0) rc = -1;
    memmove(buf, buf + cut, len - cut);
    len -= cut;
    scanned = len;
  }
  if (rc == 0 && !o->lines && !o->binary && putchar('\n') == EOF) rc = -1;
  free(buf);
  fclose(f);
  return rc;
}

static int cmd_encode(int argc, char **argv) {
  static const struct option opts[] = {
      {"tokenizer", required_argument, 0, 'T'}, {"threads", required_argument, 0, 't'},
      {"dropout", required_argument, 0, 'd'},   {"seed", required_argument, 0, 's'},
      {"lines", no_argument, 0, 'l'},           {"binary", no_argument, 0, 'b'},
      {"allow-special", no_argument, 0, 'A'},   {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *tpath = NULL;
  int64_t threads = 1, seed = 0;
  double dropout = 0;
  int lines = 0, binary = 0, c, have_seed = 0;
  unsigned flags = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "T:t:h", opts, NULL)) != -1) {
    int bad = 0;
    switch (c) {
    case 'T': tpath = optarg; break;
    case 't': bad = tm_parse_int(optarg, &threads) < 0 || threads < 1 || threads > 256; break;
    case 'd': bad = tm_parse_float(optarg, &dropout) < 0 || !(dropout >= 0 && dropout <= 1); break;
    case 's': bad = tm_parse_int(optarg, &seed) < 0, have_seed = 1; break;
    case 'l': lines = 1; break;
    case 'b': binary = 1; break;
    case 'A': flags |= TM_ENCODE_ALLOW_SPECIAL; break;
    case 'h': usage(stdout); return TM_EXIT_OK;
    default: usage(stderr); return TM_EXIT_USAGE;
    }
    if (bad) {
      fprintf(stderr, "tokenmill tokenizer encode: bad value for --%s: '%s'\n",
              c == 't' ? "threads" : c == 'd' ? "dropout" : "seed", optarg);
      return TM_EXIT_USAGE;
    }
  }
  if (!tpath || optind >= argc || (dropout > 0 && !have_seed)) {
    fprintf(stderr, "tokenmill tokenizer encode: needs --tokenizer FILE and INPUT files "
                    "(and --seed with --dropout)\n");
    return TM_EXIT_USAGE;
  }
  tm_error err = {0};
  tm_tokenizer *tok;
  if (tm_tokenizer_load(&tok, tpath, &err) < 0) {
    fprintf(stderr, "tokenmill tokenizer encode: %s\n", err.msg);
    return TM_EXIT_RUNTIME;
  }
  encode_sizes_from_env();
  encode_opts o = {.tok = tok, .threads = (int)threads, .lines = lines, .binary = binary,
                   .flags = flags, .dropout = dropout, .seed = (uint64_t)seed};
  for (uint32_t id = 0; id < tm_tokenizer_vocab_size(tok); id++) {
    size_t l;
    tm_tokenizer_token(tok, id, &l);
    if (tm_tokenizer_is_special(tok, id) && l > o.max_special) o.max_special = l;
  }
  int rc = TM_EXIT_OK;
  o.encoders = calloc((size_t)threads, sizeof *o.encoders);
  for (int t = 0; o.encoders && t < threads; t++)
    if (!(o.encoders[t] = tm_encoder_new(tok))) rc = TM_EXIT_RUNTIME;
  if (!o.encoders || rc != TM_EXIT_OK) {
    fprintf(stderr, "tokenmill tokenizer encode: out of memory\n");
    rc = TM_EXIT_RUNTIME;
  }
  double t0 = tm_now_s();
  for (int f = optind; f < argc && rc == TM_EXIT_OK; f++)
    if (encode_file(&o, argv[f]) < 0) rc = TM_EXIT_RUNTIME;
  for (int t = 0; o.encoders && t < threads; t++) tm_encoder_free(o.encoders[t]);
  free(o.encoders);
  if (fflush(stdout) != 0 && rc == TM_EXIT_OK) {
    fprintf(stderr, "tokenmill tokenizer encode: writing stdout: %s\n", strerror(errno));
    rc = TM_EXIT_RUNTIME;
  }
  double dt = tm_now_s() - t0;
  tm_info("tokenizer_encoded", "bytes=%" PRIu64 " tokens=%" PRIu64 " seconds=%.3f mb_per_s=%.2f "
          "threads=%" PRId64, o.bytes, o.tokens, dt, dt > 0 ? (double)o.bytes / dt / 1e6 : 0.0,
          threads);
  tm_tokenizer_free(tok);
  return rc;
}

/* ---- decode ---------------------------------------------------------------- */

/* Decode and write ids; an error names the input and `what` `where` (the
 * line, or the byte offset of the first id for binary input). */
static int decode_ids(const tm_tokenizer *tok, tm_ids *ids, const char *name, const char *what,
                      uint64_t where, int newline) {
  uint8_t *out = NULL;
  size_t ol = 0, oc = 0;
  tm_error err = {0};
  int rc = 0;
  if (tm_tokenizer_decode(tok, ids->ids, ids->len, &out, &ol, &oc, &err) < 0) {
    fprintf(stderr, "tokenmill tokenizer decode: %s: %s %" PRIu64 ": %s\n", name, what, where,
            err.msg);
    rc = -1;
  } else if ((ol && fwrite(out, 1, ol, stdout) != ol) || (newline && putchar('\n') == EOF)) {
    rc = -1;
  }
  free(out);
  ids->len = 0;
  return rc;
}

static int decode_stream(const tm_tokenizer *tok, FILE *in, const char *name, int binary,
                         int lines) {
  tm_ids ids = {0};
  int rc = 0;
  if (binary) {
    int w = tm_tokenizer_vocab_size(tok) <= 65536 ? 2 : 4;
    uint8_t b[4];
    uint64_t off = 0, first = 0;
    size_t k;
    while ((k = fread(b, 1, (size_t)w, in)) == (size_t)w) {
      if (tm_ids_reserve(&ids, 1) < 0) return -1;
      ids.ids[ids.len++] = w == 2 ? (uint32_t)(b[0] | b[1] << 8)
                                  : (uint32_t)b[0] | (uint32_t)b[1] << 8 |
                                        (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
      off += (uint64_t)w;
      if (ids.len >= 65536) {
        if (decode_ids(tok, &ids, name, "ids from offset", first, 0) < 0) rc = -1;
        first = off;
      }
      if (rc) break;
    }
    if (!rc && k != 0) {
      fprintf(stderr, "tokenmill tokenizer decode: %s: offset %" PRIu64 ": truncated id (%zu of "
                      "%d bytes)\n", name, off, k, w);
      rc = -1;
    }
    if (!rc) rc = decode_ids(tok, &ids, name, "ids from offset", first, 0);
    tm_ids_free(&ids);
    return rc;
  }
  int ch;
  uint64_t line = 1;
  uint64_t v = 0;
  int in_num = 0;
  while (rc == 0) {
    ch = getc(in);
    if (ch >= '0' && ch <= '9') {
      v = v * 10 + (uint64_t)(ch - '0');
      if (v > UINT32_MAX) {
        fprintf(stderr, "tokenmill tokenizer decode: %s: line %" PRIu64 ": id too large\n", name,
                line);
        rc = -1;
      }
      in_num = 1;
      continue;
    }
    if (in_num) {
      if (tm_ids_reserve(&ids, 1) < 0) rc = -1;
      else ids.ids[ids.len++] = (uint32_t)v;
      v = 0, in_num = 0;
    }
    if (ch == EOF) break;
    if (ch == '\n') {
      if (decode_ids(tok, &ids, name, "line", line, lines) < 0) rc = -1;
      line++;
    } else if (ch != ' ' && ch != '\t' && ch != '\r') {
      fprintf(stderr, "tokenmill tokenizer decode: %s: line %" PRIu64 ": unexpected character "
              "'%c'\n", name, line, ch);
      rc = -1;
    }
  }
  if (!rc && ids.len) rc = decode_ids(tok, &ids, name, "line", line, lines);
  tm_ids_free(&ids);
  return rc;
}

static int cmd_decode(int argc, char **argv) {
  static const struct option opts[] = {{"tokenizer", required_argument, 0, 'T'},
                                       {"binary", no_argument, 0, 'b'},
                                       {"lines", no_argument, 0, 'l'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *tpath = NULL;
  int binary = 0, lines = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "T:h", opts, NULL)) != -1) {
    switch (c) {
    case 'T': tpath = optarg; break;
    case 'b': binary = 1; break;
    case 'l': lines = 1; break;
    case 'h': usage(stdout); return TM_EXIT_OK;
    default: usage(stderr); return TM_EXIT_USAGE;
    }
  }
  if (!tpath) {
    fprintf(stderr, "tokenmill tokenizer decode: needs --tokenizer FILE\n");
    return TM_EXIT_USAGE;
  }
  tm_error err = {0};
  tm_tokenizer *tok;
  if (tm_tokenizer_load(&tok, tpath, &err) < 0) {
    fprintf(stderr, "tokenmill tokenizer decode: %s\n", err.msg);
    return TM_EXIT_RUNTIME;
  }
  int rc = 0;
  if (optind >= argc) rc = decode_stream(tok, stdin, "<stdin>", binary, lines);
  for (int f = optind; f < argc && rc == 0; f++) {
    FILE *in = fopen(argv[f], "rb");
    if (!in) {
      fprintf(stderr, "tokenmill tokenizer decode: %s: %s\n", argv[f], strerror(errno));
      rc = -1;
      break;
    }
    rc = decode_stream(tok, in, argv[f], binary, lines);
    fclose(in);
  }
  if (fflush(stdout) != 0) rc = -1;
  tm_tokenizer_free(tok);
  return rc ? TM_EXIT_RUNTIME : TM_EXIT_OK;
}

/* ---- info ------------------------------------------------------------------ */

static int cmd_info(int argc, char **argv) {
  static const struct option opts[] = {{"tokenizer", required_argument, 0, 'T'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *tpath = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "T:h", opts, NULL)) != -1) {
    switch (c) {
    case 'T': tpath = optarg; break;
    case 'h': usage(stdout); return TM_EXIT_OK;
    default: usage(stderr); return TM_EXIT_USAGE;
    }
  }
  if (!tpath && optind < argc) tpath = argv[optind];
  if (!tpath) {
    fprintf(stderr, "tokenmill tokenizer info: needs --tokenizer FILE\n");
    return TM_EXIT_USAGE;
  }
  tm_error err = {0};
  tm_tokenizer *tok;
  if (tm_tokenizer_load(&tok, tpath, &err) < 0) {
    fprintf(stderr, "tokenmill tokenizer info: %s\n", err.msg);
    return TM_EXIT_RUNTIME;
  }
  printf("file: %s\nvocab_size: %u\nmerges: %u\npattern: %s\neot_id: %" PRId64 "\n"
         "hash: %016" PRIx64 "\nmissing_byte_symbols: %d\ndropout: %g\nspecial_tokens:",
         tpath, tm_tokenizer_vocab_size(tok), tm_tokenizer_n_merges(tok),
         tm_pretok_name(tm_tokenizer_pattern(tok)), tm_tokenizer_eot_id(tok),
         tm_tokenizer_hash(tok), tm_tokenizer_missing_bytes(tok), tm_tokenizer_dropout(tok));
  for (uint32_t i = 0; i < tm_tokenizer_vocab_size(tok); i++)
    if (tm_tokenizer_is_special(tok, i)) {
      size_t l;
      const uint8_t *p = tm_tokenizer_token(tok, i, &l);
      printf(" %u=%.*s", i, (int)l, (const char *)p);
    }
  printf("\n");
  if (tm_tokenizer_missing_bytes(tok))
    tm_warn("tokenizer_missing_bytes", "file=%s missing=%d note=\"bytes without a symbol are "
            "dropped when encoding, as HF does; decode(encode(x)) != x for them\"", tpath,
            tm_tokenizer_missing_bytes(tok));
  tm_tokenizer_free(tok);
  return TM_EXIT_OK;
}

int cmd_tokenizer(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? TM_EXIT_USAGE : TM_EXIT_OK;
  }
  if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
  if (!strcmp(argv[1], "encode")) return cmd_encode(argc - 1, argv + 1);
  if (!strcmp(argv[1], "decode")) return cmd_decode(argc - 1, argv + 1);
  if (!strcmp(argv[1], "info")) return cmd_info(argc - 1, argv + 1);
  fprintf(stderr, "tokenmill tokenizer: unknown subcommand '%s'\n", argv[1]);
  usage(stderr);
  return TM_EXIT_USAGE;
}
