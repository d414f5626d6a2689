/* main.c - the `tokenmill` program: global flags, then a command (cli.h). */
#include "cli.h"
#include "commands.h"

static const tm_cli_command commands[] = {
    {"build", cmd_build, "clean, dedup and tokenize inputs into a shard directory (resumable)"},
    {"serve", cmd_serve, "the ingestion daemon: spool + socket -> shards, exactly once, with HTTP status"},
    {"shards", cmd_shards, "list, verify, print, export and pack token shards"},
    {"clean", cmd_clean, "read and clean documents alone: see what the filters keep and drop"},
    {"config", cmd_config, "print the configuration reference (every key, its default)"},
    {"dedup", cmd_dedup, "remove exact and near-duplicate documents from JSONL (MinHash-LSH)"},
    {"feed", cmd_feed, "serve shards as deterministic batches on shared-memory rings (trainers)"},
    {"tokenizer", cmd_tokenizer, "train, encode, decode and inspect byte-level BPE tokenizers"},
};

int main(int argc, char **argv) {
  return tm_cli_main(argc, argv, "tokenmill",
                     "Turns raw web, book and social text into training-ready token shards.", commands,
                     sizeof commands / sizeof commands[0]);
}
