/* quarantine.h - OUT/quarantine/errors.jsonl: the records a driver could not
 * read, one JSON object a line, appended by the commit thread.
 *
 * The file is part of a driver's commit: its length is journaled with the
 * shards (bytes), made durable before a manifest is published
 * (tm_quarantine_sync, or tm_shard_commit_stage with fd and path), and cut
 * back to the journaled length when a driver restarts (tm_quarantine_restore),
 * so it holds exactly the records of the documents the output covers.
 * Each driver chooses a record's fields (build: file and event; serve:
 * input, sequence number and event); the mechanism is the same.
 *
 * Not thread-safe: one thread (the commit thread) owns it.
 */
#ifndef TM_QUARANTINE_H
#define TM_QUARANTINE_H

#include <jansson.h>
#include <limits.h>
#include <stdint.h>

#include "error.h"

typedef struct tm_quarantine {
  int fd;                /* -1 until the first record (the file is made then) */
  uint64_t bytes;        /* the file's length as committed so far */
  char dir[PATH_MAX];    /* OUT/quarantine */
  char path[PATH_MAX];   /* OUT/quarantine/errors.jsonl */
} tm_quarantine;

/* Point q at OUT/quarantine/errors.jsonl, empty and closed; no I/O. */
void tm_quarantine_init(tm_quarantine *q, const char *out_dir);

/* A restart: the journal covers `bytes` of the file; a longer file (records
 * written after the last commit) is cut back to it. Errors name the path. */
int tm_quarantine_restore(tm_quarantine *q, uint64_t bytes, tm_error *err);

/* Append record (a JSON object; the reference is taken, even on error) as
 * one line of ASCII JSON, keys in insertion order. Creates the directory
 * and the file on first use. bytes grows by the line on success. */
int tm_quarantine_append(tm_quarantine *q, json_t *record, tm_error *err);

/* fsync the file when it is open (0 when there is none). */
int tm_quarantine_sync(tm_quarantine *q, tm_error *err);

/* Close the file (not durable by itself: sync first). */
void tm_quarantine_close(tm_quarantine *q);

#endif
