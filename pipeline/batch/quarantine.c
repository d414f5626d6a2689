/* quarantine.c - the unreadable records file; see quarantine.h. */
#include "batch/quarantine.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

void tm_quarantine_init(tm_quarantine *q, const char *out_dir) {
  memset(q, 0, sizeof *q);
  q->fd = -1;
  snprintf(q->dir, sizeof q->dir, "%.4000s/quarantine", out_dir);
  snprintf(q->path, sizeof q->path, "%.4000s/quarantine/errors.jsonl", out_dir);
}

int tm_quarantine_restore(tm_quarantine *q, uint64_t bytes, tm_error *err) {
  q->bytes = bytes;
  struct stat st;
  if (stat(q->path, &st) == 0 && (uint64_t)st.st_size > bytes && truncate(q->path, (off_t)bytes) != 0)
    return tm_err_sys(err, "%s: truncate", q->path);
  return 0;
}

int tm_quarantine_append(tm_quarantine *q, json_t *record, tm_error *err) {
  if (q->fd < 0) {
    int rc = tm_io_mkdirs(q->dir, err);
    if (rc < 0) {
      json_decref(record);
      return rc;
    }
    q->fd = tm_io_open(q->path, O_WRONLY | O_CREAT | O_APPEND, 0644, "quarantine", err);
    if (q->fd < 0) {
      json_decref(record);
      return q->fd;
    }
  }
  char *line = json_dumps(record, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
  json_decref(record);
  if (!line) return tm_err(err, TM_ENOMEM, "out of memory");
  /* json_dumps' NUL becomes the newline: write n + 1 bytes */
  size_t n = strlen(line);
  line[n] = '\n';
  int rc = tm_io_write(q->fd, line, n + 1, q->path, "quarantine", err);
  free(line);
  if (rc == 0) q->bytes += n + 1;
  return rc;
}

int tm_quarantine_sync(tm_quarantine *q, tm_error *err) {
  return q->fd >= 0 ? tm_io_fsync(q->fd, q->path, "quarantine", err) : 0;
}

void tm_quarantine_close(tm_quarantine *q) {
  if (q->fd >= 0) close(q->fd);
  q->fd = -1;
}
