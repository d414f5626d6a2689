/* shard_commit.c - see shard_commit.h. */
#include "shard_commit.h"

#include <inttypes.h>
#include <stdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "log.h"

int tm_shard_commit_stage(const char *pending_path, int qfd, const char *qpath, tm_dedup *dedup,
                          const char *shard, uint64_t shards_after, const char *journal,
                          tm_error *err) {
  int rc = qfd >= 0 ? tm_io_fsync(qfd, qpath, "quarantine", err) : 0;
  if (rc < 0) return rc;
  json_t *p = json_object(), *j = json_loads(journal, 0, NULL);
  if (!p || !j) {
    json_decref(p);
    json_decref(j);
    return tm_err(err, TM_EINVAL, "journal is not valid JSON");
  }
  json_object_set_new(p, "shard", json_string(shard));
  json_object_set_new(p, "shards_after", json_integer((json_int_t)shards_after));
  json_object_set_new(p, "journal", j);
  char *text = json_dumps(p, JSON_COMPACT);
  json_decref(p);
  rc = text ? tm_io_write_file_atomic(pending_path, text, strlen(text), "journal", err)
            : tm_err(err, TM_ENOMEM, "out of memory");
  free(text);
  if (rc == 0 && dedup) rc = tm_dedup_checkpoint(dedup, shards_after, err);
  return rc;
}

int tm_shard_commit_recover(tm_shard_dir *sd, tm_dedup *dedup, const char *pending_path,
                            const char *out_dir, const char *who, tm_error *err) {
  const tm_manifest *m = tm_shard_dir_manifest(sd);
  uint64_t token = dedup ? tm_dedup_committed_token(dedup) : m->n_shards;
  if (token == m->n_shards + 1) {
    char *text;
    size_t len;
    int rc = tm_io_read_file(pending_path, 64u << 20, &text, &len, err);
    if (rc < 0)
      return tm_err_prefix(err, "dedup index is one shard ahead of the manifest and the pending journal is unreadable");
    json_t *p = json_loads(text, 0, NULL);
    free(text);
    const char *shard = json_string_value(json_object_get(p, "shard"));
    char *j = json_dumps(json_object_get(p, "journal"), JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!shard || !j || strcmp(shard, tm_shard_dir_next_name(sd))) {
      json_decref(p);
      free(j);
      return tm_err(err, TM_ECORRUPT, "%s: pending journal does not name shard %s", pending_path,
                    tm_shard_dir_next_name(sd));
    }
    rc = tm_shard_dir_adopt(sd, j, err);
    if (rc == 0) {
      char event[64];
      snprintf(event, sizeof event, "%s_recovered", who); /* build_recovered, serve_recovered */
      tm_info(event, "dir=%s adopted=%s", out_dir, shard);
    }
    json_decref(p);
    free(j);
    if (rc < 0) return rc;
  } else if (token != m->n_shards) {
    return tm_err(err, TM_ECORRUPT,
                  "%s: the dedup index was checkpointed at %" PRIu64 " shards but the manifest lists %zu",
                  out_dir, token, m->n_shards);
  }
  if (!m->journal && m->n_shards)
    return tm_err(err, TM_EINVAL, "%s holds shards not written by tokenmill %s", out_dir, who);
  return 0;
}
