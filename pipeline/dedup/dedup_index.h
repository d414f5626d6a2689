/* dedup_index.h - the persistent duplicate index: exact-hash and LSH band
 * tables in RAM over a signature store on disk (sig_store.h).
 *
 * RAM layout. bands + 1 tables (tm_lsh_table: one per band, one for exact
 * hashes). A document with a signature is in the band tables; its exact
 * copies are found among its band candidates (the same text has the same
 * signature) by the exact hash in their records. The exact table holds the
 * documents without one (no shingles, or near-duplicate detection off:
 * opts.exact_only). The band tables share one capacity, the exact table has
 * its own, and each group grows when its tables fill. 8 bytes per slot: a
 * 32-bit key fingerprint and a 32-bit document reference (the document's
 * record number in the store). Load factor between 0.577 and 0.75 (tables
 * grow by 1.3x when they reach 0.75). At the defaults (14 bands) that is
 * 14 * 8 / 0.75 = 149 to 14 * 8 / 0.577 = 194 bytes per indexed document,
 * once past the initial size of 2^16 slots per table (plus 1024 spare slots
 * each: 8 MB in all), plus the exact table (2^16 slots, 0.5 MB, until more
 * than 49152 documents without shingles need it to grow). Plus the store's
 * write buffer (4096 records, 0.6 MB) and its id buffer (<= 1 MiB).
 *
 * Disk: 40 + k bytes per indexed document in records.bin (152 at k = 112:
 * the signature's values kept as their low bytes, see minhash.h), plus
 * its id in ids.bin. Candidate confirmation and exact-hash confirmation read
 * the record with pread (the page cache keeps the hot part).
 *
 * 100 M documents at the defaults: 100e6 / 0.75 = 133.3 M slots per table,
 * 14 band tables * 8 B * 133.3 M = 14.9 GB, under a ram_budget of 20G on a
 * 24 GB machine (growth transient: one old table, 1/14 more). The records
 * (15.2 GB at 152 B/doc) live on disk.
 *
 * Byte budget (ram_budget, for the tables). A full table grows by 1.3x when
 * the grown set plus one old table (the transient of a table-by-table
 * rehash) fits the budget. When it cannot grow, the oldest quarter of the
 * indexed documents (lowest refs) is evicted from all tables in place: their
 * records stay on disk, but no later document is matched against them
 * (counted as `evicted`). The eviction floor is persisted. Memory therefore
 * never exceeds the budget, whatever the length of the stream.
 *
 * Which document a duplicate is attributed to: exact hash first (among the
 * band candidates, or the whole first band list when it holds more than
 * them); else, among the band candidates (at most 64 distinct ones are
 * examined), the one
 * with the highest estimated Jaccard (lowest ref on ties), if that is >=
 * threshold. Only kept documents are indexed, so duplicate_of is always a
 * kept document.
 *
 * Not thread-safe; one index per directory (no lock file: the driver owns it).
 */
#ifndef TM_DEDUP_INDEX_H
#define TM_DEDUP_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct tm_dedup_index tm_dedup_index;

typedef struct tm_dedup_index_opts {
  int k;               /* signature length */
  int bands, rows;     /* bands * rows <= k */
  double threshold;    /* estimated Jaccard that confirms a candidate */
  uint64_t ram_budget; /* bytes for the tables */
  uint64_t params_hash;/* identifies how signatures are made (see sig_store.h) */
  uint64_t expected_docs; /* 0, or tables sized up front for this many documents
                             (no rehashing until then; within ram_budget) */
  int exact_only;      /* 1: no signatures will be given (near-duplicate detection
                          off): expected_docs sizes the exact table, not the bands */
} tm_dedup_index_opts;

/* TM_DEDUP_LINES is the stage's: every line of the document was a repeated
 * boilerplate line (line_dedup.h), nothing is left to keep. */
typedef enum {
  TM_DEDUP_UNIQUE = 0,
  TM_DEDUP_EXACT = 1,
  TM_DEDUP_NEAR = 2,
  TM_DEDUP_LINES = 3
} tm_dedup_kind;

typedef struct tm_dedup_match {
  tm_dedup_kind kind;
  uint32_t ref;        /* the earlier document (kind != UNIQUE) */
  double similarity;   /* 1.0 for exact, the estimate for near */
} tm_dedup_match;

#define TM_DEDUP_INDEX_USER_MAX 192
#define TM_DEDUP_MAX_BANDS 64
#define TM_DEDUP_MAX_CANDIDATES 64

/* Open or create the index in dir and rebuild the RAM tables from the
 * committed records (each record's checksum is verified: corruption is
 * TM_ECORRUPT naming the file and offset). user receives the caller's
 * block saved by the last checkpoint (*user_len = 0 when new). */
int tm_dedup_index_open(tm_dedup_index **out, const char *dir, const tm_dedup_index_opts *o,
                        void *user, size_t *user_len, tm_error *err);
void tm_dedup_index_close(tm_dedup_index *x);

/* Look the document up; when it is unique, index it under id. The exact
 * hash is always indexed, but only looked up when exact_lookup is 1. sig is
 * NULL for a document without shingles, or when near-duplicate detection is
 * off: then no band is looked up or indexed. */
int tm_dedup_index_process(tm_dedup_index *x, const char *id, size_t id_len,
                           const uint64_t exact[2], int exact_lookup, const uint32_t *sig,
                           tm_dedup_match *m, tm_error *err);

/* The batch form: documents docs[0..n) processed in order, exactly as n
 * calls of tm_dedup_index_process would (the same matches m[0..n), the same
 * index afterwards: a document that matches an earlier one of the same batch
 * finds it, since lookups and inserts still alternate in arrival order).
 * What differs is the memory access pattern: the table keys of document
 * i + TM_DEDUP_PREFETCH_AHEAD are computed and its table lines prefetched
 * while document i is looked up and inserted, so the cache misses of several
 * documents overlap (about 14 x 2 lines per document fill the core's
 * outstanding-miss slots at this distance; 3, 6 and 12 measured alike), and
 * two documents ahead a full home line gets its next line asked for too. exact_lookup and sig (NULL: no bands) as above. Returns
 * 0, or a negative TM_E* code when docs[*done] failed (docs before it are
 * processed and indexed, docs after it untouched); *done = n on success. */
typedef struct tm_dedup_index_doc {
  const char *id;
  size_t id_len;
  const uint64_t *exact; /* [2] */
  const uint32_t *sig;   /* k values, or NULL */
} tm_dedup_index_doc;
#define TM_DEDUP_PREFETCH_AHEAD 4
int tm_dedup_index_process_batch(tm_dedup_index *x, const tm_dedup_index_doc *docs, size_t n,
                                 int exact_lookup, tm_dedup_match *m, size_t *done,
                                 tm_error *err);

/* The id of an indexed document (NUL-terminated, truncated to cap-1). */
int64_t tm_dedup_index_id(const tm_dedup_index *x, uint32_t ref, char *buf, size_t cap,
                          tm_error *err);

/* Make the index durable, together with user[0..user_len). */
int tm_dedup_index_checkpoint(tm_dedup_index *x, const void *user, size_t user_len,
                              tm_error *err);

typedef struct tm_dedup_index_stats {
  uint64_t records;     /* documents indexed, ever */
  uint64_t in_ram;      /* of those, still in the tables */
  uint64_t evicted;     /* records - in_ram */
  uint64_t table_bytes; /* the tables alone (what ram_budget bounds) */
  uint64_t ram_bytes;   /* tables + buffers */
  uint64_t disk_bytes;  /* records.bin + ids.bin */
  uint64_t candidates;  /* band candidates examined */
  uint64_t false_candidates; /* of those, below the threshold */
} tm_dedup_index_stats;
void tm_dedup_index_get_stats(const tm_dedup_index *x, tm_dedup_index_stats *st);

#endif
