/* serve.h - `tokenmill serve`: the ingestion daemon.
 *
 * One libuv loop thread does I/O and bookkeeping only; the CPU stages run on
 * the same kind of pipeline as `tokenmill build`:
 *
 *   inputs (spool files, socket batches), each given a sequence number
 *     -> reader thread   reads inputs strictly in sequence order into batches
 *     -> worker threads  clean + tokenize (one tm_clean/tm_encoder per thread)
 *     -> commit thread   dedup, append to the shard directory, in order
 *
 * Inputs.
 *   spool   [serve] spool = DIR. A file is taken when its name is final (not
 *           starting with '.', not ending in .tmp or .part) and it has not
 *           been modified for spool_settle_ms: write it under a temporary
 *           name and rename it in (picked up as soon as it is settled), or
 *           write it in place and close it. Only regular files directly in
 *           DIR are taken; symlinks and subdirectories are ignored, and a
 *           taken file is opened with O_NOFOLLOW. It is claimed by renaming
 *           it to DIR/.work/SEQ.PROFILE.NAME, read (any reader format, gz/zst
 *           by content), and once its documents are committed moved to
 *           DIR/done/NAME, or, when unreadable, to DIR/failed/NAME with
 *           DIR/failed/NAME.reason. A file directly in DIR gets [serve]
 *           profile; a file in DIR/PROFILE/ gets PROFILE (build's profile
 *           names: web, books/book, social, or a [clean.PROFILE] section);
 *           a folder that names no profile is logged once and left alone.
 *   socket  [serve] ingest_listen (TCP) and ingest_socket (Unix). Protocol:
 *           HTTP/1.1 `POST /ingest[?profile=NAME]` with a JSONL body (one
 *           JSON object per line with a string "text" field, or the
 *           profile's text field). The batch is checked whole: a malformed
 *           line, a missing text field or a line over max_doc_bytes refuses
 *           the whole batch with 400/413 naming the line; nothing of it is
 *           kept. An accepted batch is written to OUT/inbox/SEQ.PROFILE.jsonl
 *           and fsync'd, and only then acknowledged:
 *             200 {"batch":SEQ,"documents":N,"bytes":B,"durable":"journal"}
 *           "Durable" means the journal's input is on disk: a crash at any
 *           later moment still ingests the batch exactly once. Keep-alive
 *           and pipelining work; one request per connection is in flight.
 *
 * Exactly once. The manifest's journal object (published atomically with
 * the shard list, see shard_dir.h) holds {"next": S, "events": K}: every
 * input with a sequence number below S is in the shards it lists, and of
 * input S the first K reader events are. The dedup index is checkpointed in
 * the commit hook with the shard count as its token, OUT/journal.pending
 * holds the journal of a shard being committed; recovery is build's
 * (build.h): token == shards -> the manifest's journal; token == shards+1
 * -> adopt the sealed shard with the pending journal. At start, claimed
 * spool files and inbox batches at or after S are queued again in sequence
 * order (input S from event K); those below S are finished (moved to done/,
 * inbox files removed).
 *
 * Shards are sealed at [shard] max_tokens/max_docs or when the open shard
 * is [serve] seal_age_s old. SIGTERM/SIGINT: stop accepting, finish the
 * queued inputs, seal, exit 0. SIGHUP: reload the config file and apply the
 * keys marked "(reload)" below; other changed keys are logged and ignored.
 *
 * HTTP ([http] listen): GET /metrics (Prometheus text), /status (JSON with
 * counters, queue depths, per feeder ring and rank the trainer's consumed
 * batches, lag, liveness and data cursor (ring_peek.h), and a per-second
 * history), /healthz, / (a status page drawing its own charts). Request
 * handling without libuv: serve_req.h. A non-loopback address (ingest or http)
 * needs [serve] token_file (mode 0600, not readable by group/others); with a
 * token every TCP request must carry `Authorization: Bearer TOKEN`
 * (compared in constant time). Limits: max_connections per listener kind,
 * max_request_bytes, max_doc_bytes, request_timeout_ms (a request must
 * arrive whole within it: slow clients get 408), idle_timeout_ms.
 */
#ifndef TM_SERVE_H
#define TM_SERVE_H

#include "config.h"
#include "error.h"

extern const tm_config_key tm_serve_config_keys[];

typedef struct tm_serve_options {
  const char *config_path; /* reloaded on SIGHUP; may be NULL */
  const tm_config *cfg;    /* the loaded configuration */
  /* command-line overrides re-applied on reload ("section.key=value") */
  char *const *overrides;
  int n_overrides;
  /* the schemas cfg was made with (to build the reloaded one) */
  const tm_config_key *const *schemas;
  int n_schemas;
} tm_serve_options;

/* Run the daemon until SIGTERM/SIGINT (0) or a fatal error (negative). */
int tm_serve_run(const tm_serve_options *o, tm_error *err);

#endif
