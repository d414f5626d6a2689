/* fuzz_journal.c - what `tokenmill build` replays at start: manifest.json
 * (the shard list and its "journal" member) and the build's own journal
 * restore (tm_build_journal_restore, build_journal.c), the code that decides
 * where each input resumes.
 *
 * The input is written as DIR/manifest.json and loaded; the journal it holds
 * (or the input itself, as a bare journal object) is restored as a build of
 * the inputs it names would restore it, and as a build of other inputs
 * (which must be refused). A restored journal written back (what the next
 * commit of the resumed build publishes) and restored again must give the
 * same state: a resumed build resumes where its journal says. */
#include <jansson.h>
#include <sys/stat.h>

#include "build_int.h"
#include "fuzz_util.h"
#include "manifest.h"

static char dir[64];

typedef struct {
  tm_build_journal j;
  tm_build_stats stats;
} restored;

static restored *restored_new(size_t n) {
  restored *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->j.events = calloc(n + 1, sizeof *r->j.events);
  r->j.done = calloc(n + 1, 1);
  r->j.stats = &r->stats;
  if (!r->j.events || !r->j.done) {
    free(r->j.events);
    free(r->j.done);
    free(r);
    return NULL;
  }
  return r;
}

static void restored_free(restored *r) {
  if (!r) return;
  free(r->j.events);
  free(r->j.done);
  free(r);
}

static int same_state(const restored *a, const restored *b, size_t n) {
  if (memcmp(a->j.events, b->j.events, n * sizeof *a->j.events) || memcmp(a->j.done, b->j.done, n) ||
      a->j.quarantine_bytes != b->j.quarantine_bytes || a->j.candidates != b->j.candidates)
    return 0;
  json_t *x = tm_build_stats_to_json(&a->stats), *y = tm_build_stats_to_json(&b->stats);
  int eq = json_equal(x, y);
  json_decref(x);
  json_decref(y);
  return eq;
}

static void replay_journal(const char *text) {
  /* the inputs the journal names become the build's inputs (so the restore
   * gets past the path check), in its order */
  json_t *j = json_loads(text, 0, NULL);
  json_t *in = json_object_get(j, "inputs");
  size_t n = json_is_array(in) ? json_array_size(in) : 0;
  if (n > 4096) n = 4096;
  tm_build_file *files = calloc(n + 1, sizeof *files);
  restored *r = restored_new(n), *again = restored_new(n);
  if (!files || !r || !again) goto out;
  for (size_t i = 0; i < n; i++) {
    const char *p = json_string_value(json_object_get(json_array_get(in, i), "path"));
    files[i].path = (char *)(p ? p : "?");
    snprintf(files[i].profile, sizeof files[i].profile, "web");
  }
  files[n].path = (char *)"extra";
  tm_error err = {0};
  int rc = tm_build_journal_restore(text, files, n, dir, &r->j, &err);
  if (rc < 0 && !err.msg[0]) __builtin_trap();
  if (rc == 0) {
    char *back = tm_build_journal_json(files, n, 0x1234, &r->j);
    if (back) {
      if (tm_build_journal_restore(back, files, n, dir, &again->j, &err) != 0) __builtin_trap();
      if (!same_state(r, again, n)) __builtin_trap();
      free(back);
    }
  }
  /* a build naming one input more (or one fewer) is refused, and gets nothing */
  memset(&err, 0, sizeof err);
  if (tm_build_journal_restore(text, files, n + 1, dir, &again->j, &err) == 0) __builtin_trap();
  for (size_t i = 0; i <= n; i++)
    if (again->j.events[i] || again->j.done[i]) __builtin_trap();
  if (n && tm_build_journal_restore(text, files, n - 1, dir, &again->j, &err) == 0) __builtin_trap();
out:
  restored_free(r);
  restored_free(again);
  free(files);
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
    if (m.journal) replay_journal(m.journal);
  } else if (!err.msg[0]) {
    __builtin_trap();
  }
  char *text = tm_fuzz_cstr(data, n);
  if (text && tm_manifest_set_journal(&m, text, &err) == 0 && m.journal) replay_journal(m.journal);
  free(text);
  tm_manifest_free(&m);
  unlink(path);
  return 0;
}
