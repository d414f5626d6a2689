/* fuzz_journal.c - what `tokenmill build` replays at start: manifest.json
 * (the shard list and its "journal" member) and the journal's statistics.
 * The input is written as DIR/manifest.json and loaded; the journal it holds
 * (or the input itself, as a bare journal object) goes through
 * tm_manifest_set_journal and the statistics parser, and the statistics are
 * written back as JSON (what the next commit of a resumed build does). */
#include <jansson.h>
#include <sys/stat.h>

#include "build_int.h"
#include "fuzz_util.h"
#include "manifest.h"

static char dir[64];

static void replay_journal(const char *text, size_t len) {
  json_t *j = json_loadb(text, len, 0, NULL);
  if (!j) return;
  tm_build_stats *st = malloc(sizeof *st);
  if (st && tm_build_stats_from_json(st, json_object_get(j, "stats")) == 0) {
    json_t *back = tm_build_stats_to_json(st);
    json_decref(back);
  }
  json_t *in = json_object_get(j, "inputs");
  size_t i;
  json_t *f;
  json_array_foreach(in, i, f) {
    (void)json_string_value(json_object_get(f, "path"));
    (void)json_is_true(json_object_get(f, "done"));
  }
  free(st);
  json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  tm_fuzz_quiet();
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/tm-fuzz-journal.XXXXXX");
    if (!mkdtemp(dir)) abort();
  }
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, TM_MANIFEST_NAME);
  FILE *fp = fopen(path, "wb");
  if (!fp) abort();
  if (n) fwrite(data, 1, n, fp);
  fclose(fp);
  tm_manifest m;
  memset(&m, 0, sizeof m);
  tm_error err = {0};
  if (tm_manifest_load(&m, dir, 0, &err) == 0) {
    (void)tm_manifest_total_tokens(&m);
    (void)tm_manifest_total_docs(&m);
    for (size_t i = 0; i < m.n_shards; i++)
      if (tm_manifest_find(&m, m.shards[i].name) < 0) __builtin_trap();
    if (m.journal) replay_journal(m.journal, strlen(m.journal));
  } else if (!err.msg[0]) {
    __builtin_trap();
  }
  char *text = tm_fuzz_cstr(data, n);
  if (text && tm_manifest_set_journal(&m, text, &err) == 0 && m.journal)
    replay_journal(m.journal, strlen(m.journal));
  free(text);
  tm_manifest_free(&m);
  unlink(path);
  return 0;
}
