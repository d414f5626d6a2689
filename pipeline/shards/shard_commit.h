/* shard_commit.h - the crash protocol of a shard directory fed through a
 * dedup index, shared by `tokenmill build` and `tokenmill serve`.
 *
 * The manifest is the commit point; it carries the driver's journal (input
 * positions, counters). The dedup index must match what the manifest lists,
 * so a shard is committed in this order, from the shard directory's commit
 * hook (shard_dir.h), after the shard file is sealed:
 *   1. the driver's quarantine file is fsync'd,
 *   2. OUT/journal.pending {"shard", "shards_after", "journal"} is written,
 *   3. the dedup index is checkpointed with token = shards_after,
 *   4. (shard_dir) the manifest listing the shard, with the journal, is
 *      published.
 * At start (tm_shard_commit_recover): index token == shards listed -> the
 * state is the manifest's; token == shards + 1 -> the crash fell between 3
 * and 4: the sealed shard named by the pending journal is verified and
 * adopted with that journal; anything else is corruption. Without an index
 * (dedup NULL) the manifest alone is the state.
 */
#ifndef TM_SHARD_COMMIT_H
#define TM_SHARD_COMMIT_H

#include <stdint.h>

#include "dedup/dedup.h"
#include "error.h"
#include "shard_dir.h"

/* Steps 1-3 for the shard `shard`; journal is the JSON object text that
 * step 4 publishes. qfd < 0: no quarantine file. dedup may be NULL. */
int tm_shard_commit_stage(const char *pending_path, int qfd, const char *qpath, tm_dedup *dedup,
                          const char *shard, uint64_t shards_after, const char *journal,
                          tm_error *err);

/* Bring the shard directory and the index to the same commit; who names the
 * driver in messages. On return tm_shard_dir_manifest(sd)->journal is the
 * state to continue from (NULL for a new directory). */
int tm_shard_commit_recover(tm_shard_dir *sd, tm_dedup *dedup, const char *pending_path,
                            const char *out_dir, const char *who, tm_error *err);

#endif
