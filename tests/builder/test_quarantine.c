/* test_quarantine.c - OUT/quarantine/errors.jsonl (pipeline/batch/quarantine.c):
 * lines, length accounting, the cut back to a journaled length on restart,
 * and errors naming the path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batch/quarantine.h"
#include "tm_test.h"

static long file_size(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static json_t *record(int event) {
  json_t *o = json_object();
  json_object_set_new(o, "file", json_string("in/\xc3\xa9.jsonl"));
  json_object_set_new(o, "event", json_integer(event));
  return o;
}

static void test_quarantine(const char *dir) {
  tm_error err = {0};
  tm_quarantine q;
  tm_quarantine_init(&q, dir);
  CHECK(q.fd == -1 && q.bytes == 0);
  CHECK(tm_quarantine_sync(&q, &err) == 0);          /* nothing open: nothing to do */
  CHECK(tm_quarantine_restore(&q, 0, &err) == 0);    /* no file yet */
  CHECK(file_size(q.path) == -1);
  CHECK(tm_quarantine_append(&q, record(1), &err) == 0);
  uint64_t first = q.bytes;
  CHECK(tm_quarantine_append(&q, record(2), &err) == 0);
  CHECK(tm_quarantine_sync(&q, &err) == 0);
  CHECK(file_size(q.path) == (long)q.bytes && q.bytes > first);
  FILE *f = fopen(q.path, "r");
  char line[256] = "";
  CHECK(f && fgets(line, sizeof line, f));
  CHECK(!strcmp(line, "{\"file\":\"in/\\u00E9.jsonl\",\"event\":1}\n"));
  CHECK(strlen(line) == first);
  if (f) fclose(f);
  tm_quarantine_close(&q);
  CHECK(q.fd == -1);
  /* a restart whose journal covers the first record only */
  tm_quarantine r;
  tm_quarantine_init(&r, dir);
  CHECK(tm_quarantine_restore(&r, first, &err) == 0);
  CHECK(file_size(r.path) == (long)first && r.bytes == first);
  CHECK(tm_quarantine_restore(&r, first + 100, &err) == 0); /* never lengthens */
  CHECK(file_size(r.path) == (long)first);
  r.bytes = first;
  CHECK(tm_quarantine_append(&r, record(3), &err) == 0);
  CHECK(file_size(r.path) == (long)r.bytes && r.bytes == 2 * first);
  tm_quarantine_close(&r);
  /* a directory that cannot be made: the error names the path */
  char bad[600];
  snprintf(bad, sizeof bad, "%s/file", dir);
  FILE *g = fopen(bad, "w");
  if (g) fclose(g);
  tm_quarantine b;
  tm_quarantine_init(&b, bad);
  memset(&err, 0, sizeof err);
  CHECK(tm_quarantine_append(&b, record(4), &err) < 0 && strstr(err.msg, "file"));
  CHECK(b.bytes == 0);
  tm_quarantine_close(&b);
}

int main(void) {
  char dir[] = "/tmp/tm_test_quarantine.XXXXXX";
  if (!mkdtemp(dir)) return 1;
  test_quarantine(dir);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return tm_test_finish("test_quarantine");
}
