/* build_int.h - internals shared by the build driver's files. */
#ifndef TM_BUILD_INT_H
#define TM_BUILD_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* ---- inputs (build_inputs.c) ---------------------------------------------- */

typedef struct tm_build_file {
  char *path;
  char profile[64];
  uint64_t size;
} tm_build_file;

/* Expand [PROFILE=]PATH arguments: a file, a directory (walked recursively,
 * entries in byte order of their names; hidden entries skipped) or a glob.
 * The profile is the explicit prefix, else the nearest path component named
 * web, books, book or social, else default_profile. Duplicates are kept
 * once (first occurrence). */
int tm_build_expand_inputs(char *const *args, int n, const char *default_profile,
                           tm_build_file **files, size_t *n_files, tm_error *err);
void tm_build_files_free(tm_build_file *files, size_t n);

/* Rank r of w's share of the files: [*lo, *hi), contiguous in input order,
 * cut where the cumulative size crosses r/w and (r+1)/w of the total. */
void tm_build_partition(const tm_build_file *files, size_t n, int r, int w, size_t *lo, size_t *hi);

/* Keys of a clean-kept document in a distributed build's pass-1 file. */
#define TM_BUILD_KEYS_MAGIC "TMKEYS1\0"
/* record: u16 id_len, u16 flags (1: has_sig, 2: cjk), u32 k, u64 exact[2],
 *         u64 shingles, u64 len, id bytes, k x u32 signature (when has_sig) */

/* ---- statistics (build_report.c) ------------------------------------------ */

#define TM_BUILD_MAX_RULES 64
#define TM_BUILD_MAX_SOURCES 16
#define TM_BUILD_EXAMPLE 200

typedef struct tm_build_rule {
  char rule[64];
  uint64_t docs, bytes;
  char example_id[128];
  char example[TM_BUILD_EXAMPLE * 4 + 1]; /* first 200 characters of the first one */
} tm_build_rule;

typedef struct tm_build_source {
  char name[64];
  uint64_t files;                   /* input files read to their end */
  uint64_t docs_in, bytes_in;       /* documents read, raw bytes */
  uint64_t kept, bytes_kept;        /* in shards; cleaned bytes */
  uint64_t dropped, bytes_dropped;  /* by a clean rule */
  uint64_t modified;                /* kept, with text changed by cleaning */
  uint64_t exact_dups, near_dups;
  uint64_t rejected;                /* unreadable records (quarantine) */
  uint64_t tokens;                  /* end-of-text separators included */
  int n_rules;
  tm_build_rule rules[TM_BUILD_MAX_RULES];
} tm_build_source;

typedef struct tm_build_stats {
  int n_sources;
  tm_build_source sources[TM_BUILD_MAX_SOURCES];
} tm_build_stats;

tm_build_source *tm_build_stats_source(tm_build_stats *s, const char *name);
void tm_build_stats_drop(tm_build_source *src, const char *rule, uint64_t bytes, const char *id,
                         const char *text, size_t len);
json_t *tm_build_stats_to_json(const tm_build_stats *s);
int tm_build_stats_from_json(tm_build_stats *s, json_t *j);

/* Timing and throughput of this run (not journaled). */
typedef struct tm_build_timing {
  double wall_s;
  double read_s, clean_s, tokenize_s, dedup_s, write_s; /* CPU seconds, summed over threads */
  double tokenizer_train_s;
  double process_cpu_s;  /* user + system CPU of the whole process (all threads, all work) */
  uint64_t bytes_read;   /* input file bytes read in this run (compressed as stored) */
  uint64_t doc_bytes;    /* document bytes read in this run (decompressed, the raw input) */
  uint64_t peak_rss_kb;
  int threads;
} tm_build_timing;

/* ---- journal (build_journal.c) ------------------------------------------ */

/* What the published output covers: the journal each manifest carries. */
typedef struct tm_build_journal {
  uint64_t *events;          /* [n_files] reader events of each input made part of the output */
  uint8_t *done;             /* [n_files] 1 once an input was read to its end */
  tm_build_stats *stats;     /* the statistics of those documents */
  uint64_t quarantine_bytes; /* length of quarantine/errors.jsonl they account for */
  uint64_t candidates;       /* clean-kept documents so far (a distributed build's pass 2) */
} tm_build_journal;

/* The journal as compact JSON (malloc'd; NULL when out of memory): the
 * tokenizer hash, per input its path ("path", or "path_hex" when it is not
 * UTF-8), profile, events and done flag, the
 * statistics, the quarantine length and the candidates. */
char *tm_build_journal_json(const tm_build_file *files, size_t n_files, uint64_t tokenizer_hash,
                            const tm_build_journal *j);

/* Where a build resumes: parse the journal text of the manifest found in
 * out_dir for a build of files[0..n_files) into j (whose events/done arrays
 * hold n_files entries and whose stats points to storage). The journal must
 * name the same inputs in the same order (else TM_EINVAL: rerun with the
 * same inputs); it must be a JSON object whose counts are non-negative
 * integers (absent counts are 0) and whose statistics parse (else
 * TM_EFORMAT). Each input then resumes after its `events` reader events;
 * a done input is not read again. On failure j is all zero (nothing is
 * half-applied) and err names out_dir. Never aborts on any input text. */
int tm_build_journal_restore(const char *text, const tm_build_file *files, size_t n_files,
                             const char *out_dir, tm_build_journal *j, tm_error *err);

/* Write OUT/stats.json and OUT/DATACARD.md (atomically). */
typedef struct tm_build_report_in {
  const char *out_dir;
  const tm_build_stats *stats;
  const tm_build_timing *timing;
  uint64_t shards, shard_bytes, tokens;
  uint32_t vocab_size;
  uint64_t tokenizer_hash;
  const char *tokenizer_origin; /* "trained on N MB", "given: PATH" */
  const char *profiles_desc;    /* markdown: filters and thresholds per profile */
  uint64_t dedup_index_ram, dedup_index_disk;
} tm_build_report_in;
int tm_build_write_report(const tm_build_report_in *r, tm_error *err);

#endif
