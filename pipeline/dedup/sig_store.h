/* sig_store.h - the on-disk part of the dedup index: one record per indexed
 * (kept) document, append-only; lookups read records back with pread, the
 * scan at open through a read-only map.
 *
 * Directory layout (DIR is the index directory):
 *
 *   DIR/records.bin   header (64 bytes) then fixed-size records, ref order
 *   DIR/ids.bin       the documents' ids, concatenated (no separators)
 *   DIR/checkpoint    the committed state (written atomically, see below)
 *   DIR/lock          flock'd while open: a second process gets TM_ESTATE
 *
 * records.bin header, little-endian:
 *   0  u8[8]  magic "TMDXREC1"
 *   8  u32    version (3; versions 1 and 2 stored 32- and 16-bit values)
 *   12 u32    k (signature length)
 *   16 u32    record size in bytes (40 + k)
 *   20 u32    reserved (0)
 *   24 u64    params hash (seed, k, shingle options: see dedup_index.h)
 *   32 u8[24] reserved (0)
 *   56 u64    XXH3-64 of bytes 0..56
 *
 * Record (record size = 40 + k bytes; 152 bytes at k = 112):
 *   0  u64    offset of the id in ids.bin
 *   8  u32    id length in bytes
 *   12 u32    flags (bit 0: the document has no shingles; not in band tables)
 *   16 u8[16] XXH3-128 of the normalised text (low 64 bits first)
 *   32 u8[k]  MinHash signature, the low byte of each value (b-bit
 *             minwise hashing, see minhash.h: a quarter of the bytes to
 *             write and read, the estimate corrected for chance agreement)
 *   32+k u64  XXH3-64 of bytes 0..32+k of the record
 *
 * Consistency: a record is visible to queries as soon as it is appended
 * (the store buffers recent records in RAM and reads the rest back with
 * pread, or through a read-only map when scanning), but it is durable only after tm_sig_store_commit: that writes the
 * buffered records and ids, fsyncs both files, and publishes `checkpoint`
 * (n records, ids bytes, plus an opaque block the caller persists with it)
 * with tm_io_write_file_atomic. Opening an existing directory trusts only the
 * checkpoint: bytes after the committed end of either file (from a run that
 * died after the last commit) are ignored and later overwritten. A kill -9 at
 * any point therefore leaves the state of the last commit.
 *
 * Corruption (bad magic, checksum, a file shorter than its checkpoint says,
 * a record that fails its checksum when read with tm_sig_store_verify) is
 * TM_ECORRUPT with a message naming the file and byte offset.
 *
 * All writes go through common/io.h with site "dedup_index".
 */
#ifndef TM_DEDUP_SIG_STORE_H
#define TM_DEDUP_SIG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define TM_SIG_FLAG_EMPTY 1u

typedef struct tm_sig_store tm_sig_store;

typedef struct tm_sig_record {
  uint64_t id_off;
  uint32_t id_len;
  uint32_t flags;
  uint64_t exact[2];
  const uint8_t *sig; /* k stored values (low bytes) */
} tm_sig_record;

/* The caller's opaque state stored in the checkpoint (counters, eviction
 * floor); at most TM_SIG_USER_MAX bytes. */
#define TM_SIG_USER_MAX 256

/* Open or create DIR (created with parents if missing). A directory that has
 * a checkpoint must have been made with the same k and params hash (else
 * TM_EINVAL naming both). user/user_len receive the checkpoint's opaque block
 * (user_len = 0 for a new index). */
int tm_sig_store_open(tm_sig_store **out, const char *dir, int k, uint64_t params_hash,
                      void *user, size_t *user_len, tm_error *err);

/* Close without committing (work since the last commit is not durable). */
void tm_sig_store_close(tm_sig_store *s);

/* Committed + appended records. */
uint64_t tm_sig_store_count(const tm_sig_store *s);

/* Append one record (sig: k full values, of which the low bytes are
 * stored); its ref is the previous count. May write buffered
 * records to the files (not durable until commit). */
int tm_sig_store_append(tm_sig_store *s, const char *id, size_t id_len, uint32_t flags,
                        const uint64_t exact[2], const uint32_t *sig, tm_error *err);

/* Record ref (< count) for a lookup: the exact hash and signature. A
 * record still in the write buffer is read in place; a written one is read
 * with pread into the store's record buffer (a random read: a syscall costs
 * less than faulting a page into the map and unmapping it again). The
 * pointers are valid until the next get, append or commit. TM_EIO (the
 * read failed) or TM_ECORRUPT (the file ends early) naming file and offset. */
int tm_sig_store_get(tm_sig_store *s, uint64_t ref, tm_sig_record *rec, tm_error *err);

/* Copy the id of ref into buf (at most cap-1 bytes, NUL terminated);
 * returns its full length, or a negative TM_E* code. */
int64_t tm_sig_store_id(const tm_sig_store *s, uint64_t ref, char *buf, size_t cap,
                        tm_error *err);

/* For a scan of the records in ref order (the index rebuild at open): check
 * the checksum of record ref (TM_ECORRUPT naming file and offset) and fill
 * rec with pointers into the read-only map of records.bin (or the write
 * buffer), valid until the next append, commit or release. */
int tm_sig_store_verify(tm_sig_store *s, uint64_t ref, tm_sig_record *rec, tm_error *err);

/* Make everything appended so far durable together with user[0..user_len). */
int tm_sig_store_commit(tm_sig_store *s, const void *user, size_t user_len, tm_error *err);

/* Drop the mapped record pages from the resident set (they stay in the page
 * cache); for callers that scan records with tm_sig_store_verify. */
void tm_sig_store_release(tm_sig_store *s);

/* Bytes on disk (both files, committed + written) and bytes of RAM buffers. */
uint64_t tm_sig_store_disk_bytes(const tm_sig_store *s);
uint64_t tm_sig_store_ram_bytes(const tm_sig_store *s);

#endif
