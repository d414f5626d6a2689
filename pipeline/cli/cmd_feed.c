/* cmd_feed.c - `tokenmill feed`: serve shards as batches on shared-memory rings. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "exitcode.h"
#include "feed/feeder.h"

static volatile sig_atomic_t feed_stop;
static void on_signal(int sig) {
  (void)sig;
  feed_stop = 1;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: tokenmill feed --shards DIR --ring NAME --batch B --seq-len T --seed S\n"
          "                      [--world W] [--rank R|R0-R1] [--weights web=0.6,books=0.3,...]\n"
          "                      [--epochs books=3,web=0.5] [--split train|val]\n"
          "                      [--val-fraction F] [--passes N] [--max-batches N]\n"
          "                      [--shuffle-windows N] [--slots N] [--timeout-ms MS]\n"
          "                      [--state DIR] [--follow] [--spin] [--no-drain]\n"
          "                      [--dropout P --tokenizer JSON]\n\n"
          "Reads the shard directory DIR through its manifest and writes batches of B\n"
          "windows of T+1 tokens (documents packed with the end-of-text token between\n"
          "them) into the shared-memory ring /tokenmill.NAME.RANK, one ring per rank.\n"
          "The order of a pass is a pure function of (seed, pass, the shard list frozen\n"
          "when the pass starts); rank R of W takes global windows R, R+W, R+2W, ...\n"
          "A consumer that attaches with a resume cursor continues exactly there.\n\n"
          "  --rank            serve only rank R, or ranks R0..R1 (one feeder per node)\n"
          "  --weights         per-source sampling weights (default: proportional to data;\n"
          "                    a source not named is not served)\n"
          "  --epochs          per-source epoch budgets per pass (>1 upsamples, <1 caps)\n"
          "  --split           serve the train (default) or validation documents\n"
          "  --val-fraction    share of documents (by hash of their id) held out (0)\n"
          "  --passes          stop after N passes (default 0: never)\n"
          "  --max-batches     stop after N batches per rank (default 0: never)\n"
          "  --shuffle-windows window shuffle block within a source (1024)\n"
          "  --slots           ring slots (4); --timeout-ms liveness timeout (2000)\n"
          "  --state           where frozen shard lists are kept (DIR/.feed)\n"
          "  --follow          when a pass would be empty, wait for shards to arrive\n"
          "  --spin            spin longer before sleeping (both sides own a core)\n"
          "  --no-drain        at the end do not wait for the consumer to take every batch\n"
          "  --dropout P       BPE-dropout: re-tokenize each window, skipping each merge\n"
          "                    with probability P (seeded; needs --tokenizer, the shards')\n");
}

static int parse_u64(const char *flag, const char *s, uint64_t *out) {
  int64_t v;
  if (tm_parse_int(s, &v) < 0 || v < 0) {
    fprintf(stderr, "tokenmill feed: %s: '%s' is not a non-negative integer\n", flag, s);
    return -1;
  }
  *out = (uint64_t)v;
  return 0;
}

int cmd_feed(int argc, char **argv) {
  static const struct option opts[] = {
      {"shards", required_argument, 0, 'd'},   {"ring", required_argument, 0, 'r'},
      {"batch", required_argument, 0, 'b'},    {"seq-len", required_argument, 0, 't'},
      {"seed", required_argument, 0, 's'},     {"world", required_argument, 0, 'w'},
      {"rank", required_argument, 0, 'R'},     {"weights", required_argument, 0, 'W'},
      {"epochs", required_argument, 0, 'E'},   {"split", required_argument, 0, 'S'},
      {"val-fraction", required_argument, 0, 'v'},
      {"passes", required_argument, 0, 'p'},   {"max-batches", required_argument, 0, 'm'},
      {"shuffle-windows", required_argument, 0, 'x'},
      {"slots", required_argument, 0, 'n'},    {"timeout-ms", required_argument, 0, 'o'},
      {"state", required_argument, 0, 'a'},    {"follow", no_argument, 0, 'f'},
      {"spin", no_argument, 0, 'P'},           {"no-drain", no_argument, 0, 'D'},
      {"dropout", required_argument, 0, 'u'},  {"tokenizer", required_argument, 0, 'k'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  static tm_feed_weight weights[TM_FEED_MAX_SOURCES], epochs[TM_FEED_MAX_SOURCES];
  tm_feed_options o;
  memset(&o, 0, sizeof o);
  o.rank = -1;
  o.world = 1;
  o.drain = 1;
  uint64_t batch = 0, seq = 0, seed = 0, world = 1, rank = 0, rank_last = 0, v;
  int have_seed = 0, have_rank = 0;
  tm_error err = {0};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'd': o.dir = optarg; break;
    case 'r': o.ring = optarg; break;
    case 'b': if (parse_u64("--batch", optarg, &batch)) return TM_EXIT_USAGE; break;
    case 't': if (parse_u64("--seq-len", optarg, &seq)) return TM_EXIT_USAGE; break;
    case 's': if (parse_u64("--seed", optarg, &seed)) return TM_EXIT_USAGE; have_seed = 1; break;
    case 'w': if (parse_u64("--world", optarg, &world)) return TM_EXIT_USAGE; break;
    case 'R': {
      /* R or R0-R1 (a node's ranks) */
      char first[32];
      const char *dash = strchr(optarg, '-');
      size_t l = dash ? (size_t)(dash - optarg) : strlen(optarg);
      if (l == 0 || l >= sizeof first) {
        fprintf(stderr, "tokenmill feed: --rank: '%s' is not R or R0-R1\n", optarg);
        return TM_EXIT_USAGE;
      }
      memcpy(first, optarg, l);
      first[l] = 0;
      if (parse_u64("--rank", first, &rank)) return TM_EXIT_USAGE;
      rank_last = rank;
      if (dash && (parse_u64("--rank", dash + 1, &rank_last) || rank_last < rank)) {
        fprintf(stderr, "tokenmill feed: --rank: '%s' is not R or R0-R1 with R0 <= R1\n", optarg);
        return TM_EXIT_USAGE;
      }
      have_rank = 1;
      break;
    }
    case 'W':
    case 'E':
      if (tm_feed_parse_weights(optarg, c == 'W' ? weights : epochs, TM_FEED_MAX_SOURCES,
                                c == 'W' ? &o.n_weights : &o.n_epochs, &err) < 0) {
        fprintf(stderr, "tokenmill feed: --%s: %s\n", c == 'W' ? "weights" : "epochs", err.msg);
        return TM_EXIT_USAGE;
      }
      break;
    case 'S':
      if (!strcmp(optarg, "train")) o.split = TM_FEED_TRAIN;
      else if (!strcmp(optarg, "val")) o.split = TM_FEED_VAL;
      else {
        fprintf(stderr, "tokenmill feed: --split: '%s' is not train or val\n", optarg);
        return TM_EXIT_USAGE;
      }
      break;
    case 'v':
      if (tm_parse_float(optarg, &o.val_fraction) < 0 || o.val_fraction < 0 ||
          o.val_fraction >= 1) {
        fprintf(stderr, "tokenmill feed: --val-fraction: '%s' not in [0, 1)\n", optarg);
        return TM_EXIT_USAGE;
      }
      break;
    case 'p': if (parse_u64("--passes", optarg, &o.passes)) return TM_EXIT_USAGE; break;
    case 'm': if (parse_u64("--max-batches", optarg, &o.max_batches)) return TM_EXIT_USAGE; break;
    case 'x':
      if (parse_u64("--shuffle-windows", optarg, &v) || v > (1u << 24)) return TM_EXIT_USAGE;
      o.shuffle_windows = (uint32_t)v;
      break;
    case 'n':
      if (parse_u64("--slots", optarg, &v) || v < 2 || v > 4096) {
        fprintf(stderr, "tokenmill feed: --slots must be 2..4096\n");
        return TM_EXIT_USAGE;
      }
      o.n_slots = (uint32_t)v;
      break;
    case 'o':
      if (parse_u64("--timeout-ms", optarg, &v) || v == 0 || v > 3600000) return TM_EXIT_USAGE;
      o.timeout_ms = (uint32_t)v;
      break;
    case 'a': o.state_dir = optarg; break;
    case 'f': o.follow = 1; break;
    case 'P': o.spin = 1; break;
    case 'D': o.drain = 0; break;
    case 'u': {
      double p;
      if (tm_parse_float(optarg, &p) < 0 || p < 0 || p >= 1) {
        fprintf(stderr, "tokenmill feed: --dropout: '%s' not in [0, 1)\n", optarg);
        return TM_EXIT_USAGE;
      }
      o.dropout = p;
      break;
    }
    case 'k': o.tokenizer = optarg; break;
    case 'h': usage(stdout); return TM_EXIT_OK;
    default: usage(stderr); return TM_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "tokenmill feed: unexpected argument '%s'\n", argv[optind]);
    return TM_EXIT_USAGE;
  }
  const char *missing = !o.dir ? "--shards" : !o.ring ? "--ring" : !batch ? "--batch"
                      : !seq ? "--seq-len" : !have_seed ? "--seed" : NULL;
  if (missing) {
    fprintf(stderr, "tokenmill feed: %s is required\n", missing);
    usage(stderr);
    return TM_EXIT_USAGE;
  }
  if (batch > 65536 || seq > (1u << 24) || world == 0 || world > 1024 ||
      (have_rank && rank_last >= world)) {
    fprintf(stderr, "tokenmill feed: need 1 <= batch <= 65536, 1 <= seq-len <= 2^24, "
                    "1 <= world <= 1024, rank < world\n");
    return TM_EXIT_USAGE;
  }
  if (o.dropout > 0 && !o.tokenizer) {
    fprintf(stderr, "tokenmill feed: --dropout needs --tokenizer JSON (the shards' tokenizer)\n");
    return TM_EXIT_USAGE;
  }
  o.batch = (uint32_t)batch;
  o.seq_len = (uint32_t)seq;
  o.seed = seed;
  o.world = (uint32_t)world;
  o.rank = have_rank ? (int)rank : -1;
  o.rank_last = have_rank ? (int)rank_last : -1;
  o.weights = weights;
  o.epochs = epochs;
  o.stop = &feed_stop;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  tm_feed_stats st;
  int rc = tm_feed_run(&o, &st, &err);
  if (rc < 0) {
    fprintf(stderr, "tokenmill feed: %s\n", err.msg);
    return rc == -TM_EINVAL ? TM_EXIT_USAGE : TM_EXIT_RUNTIME;
  }
  printf("fed %" PRIu64 " batches (%" PRIu64 " tokens) in %" PRIu64 " passes, %" PRIu64
         " resumes, %" PRIu64 " windows with BPE-dropout (%" PRIu64 " kept as they were)\n",
         st.batches, st.tokens, st.passes, st.reseeks, st.dropout_windows, st.dropout_kept);
  return TM_EXIT_OK;
}
