/* build_journal.c - the build's journal: what the published output covers.
 *
 * Each manifest a build publishes carries this journal (build.h explains the
 * commit protocol). It is written by the commit thread and read back once,
 * at start, to decide where each input resumes; see build_int.h for the
 * contract. The restore trusts nothing in the text: a journal that does not
 * parse, that names other inputs, or whose numbers are not non-negative
 * integers is refused with an error naming the output directory, never
 * half-applied. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_int.h"
#include "clean/normalize.h"

/* An input's path as the journal keeps it: "path" when it is UTF-8 (a
 * jansson string must be), else "path_hex", its bytes in hex, so that a
 * rerun can match it exactly either way. */
static void put_path(json_t *f, const char *path) {
  size_t n = strlen(path);
  if (tm_utf8_valid(path, n)) {
    json_object_set_new(f, "path", json_stringn(path, n));
    return;
  }
  char *hex = malloc(2 * n + 1);
  if (!hex) return; /* the journal is then refused at restore: never a wrong match */
  for (size_t i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", (unsigned char)path[i]);
  json_object_set_new(f, "path_hex", json_stringn(hex, 2 * n));
  free(hex);
}

/* 1 when the journal entry f names path (see put_path). */
static int same_path(json_t *f, const char *path) {
  const char *p = json_string_value(json_object_get(f, "path"));
  if (p) return !strcmp(p, path);
  const char *hex = json_string_value(json_object_get(f, "path_hex"));
  if (!hex || strlen(hex) != 2 * strlen(path)) return 0;
  for (size_t i = 0; path[i]; i++) {
    char byte[3] = {hex[2 * i], hex[2 * i + 1], 0};
    char *end;
    if (strtoul(byte, &end, 16) != (unsigned char)path[i] || *end) return 0;
  }
  return 1;
}

char *tm_build_journal_json(const tm_build_file *files, size_t n_files, uint64_t tokenizer_hash,
                            const tm_build_journal *jr) {
  json_t *j = json_object();
  json_object_set_new(j, "version", json_integer(1));
  char hex[17];
  snprintf(hex, sizeof hex, "%016" PRIx64, tokenizer_hash);
  json_object_set_new(j, "tokenizer_hash", json_string(hex));
  json_t *in = json_array();
  for (size_t i = 0; i < n_files; i++) {
    json_t *f = json_object();
    put_path(f, files[i].path);
    json_object_set_new(f, "profile", json_string(files[i].profile));
    json_object_set_new(f, "events", json_integer((json_int_t)jr->events[i]));
    json_object_set_new(f, "done", json_boolean(jr->done[i]));
    json_array_append_new(in, f);
  }
  json_object_set_new(j, "inputs", in);
  json_object_set_new(j, "stats", tm_build_stats_to_json(jr->stats));
  json_object_set_new(j, "quarantine_bytes", json_integer((json_int_t)jr->quarantine_bytes));
  json_object_set_new(j, "candidates", json_integer((json_int_t)jr->candidates));
  char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  return s;
}

/* A count member: absent is 0 (older journals), else a non-negative integer. */
static int get_count(json_t *o, const char *key, uint64_t *v) {
  json_t *x = json_object_get(o, key);
  if (!x) {
    *v = 0;
    return 0;
  }
  if (!json_is_integer(x) || json_integer_value(x) < 0) return -1;
  *v = (uint64_t)json_integer_value(x);
  return 0;
}

int tm_build_journal_restore(const char *text, const tm_build_file *files, size_t n_files,
                             const char *out_dir, tm_build_journal *jr, tm_error *err) {
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  if (!j) return tm_err(err, TM_EFORMAT, "%s: journal in the manifest: %s", out_dir, je.text);
  int rc = 0;
  json_t *in = json_object_get(j, "inputs");
  if (!json_is_object(j) || !json_is_array(in) || json_array_size(in) != n_files) {
    rc = tm_err(err, TM_EINVAL,
                "%s holds a build of %zu inputs, this command names %zu: rerun with the same inputs, or use a new output directory",
                out_dir, json_is_array(in) ? json_array_size(in) : 0, n_files);
    goto out;
  }
  for (size_t i = 0; i < n_files; i++) {
    json_t *f = json_array_get(in, i);
    if (!same_path(f, files[i].path)) {
      const char *path = json_string_value(json_object_get(f, "path"));
      rc = tm_err(err, TM_EINVAL, "%s was built from %s as input %zu, not %s: rerun with the same inputs",
                  out_dir, path ? path : "?", i, files[i].path);
      goto out;
    }
    if (get_count(f, "events", &jr->events[i]) < 0) {
      rc = tm_err(err, TM_EFORMAT, "%s: journal in the manifest: input %zu: \"events\" is not a count", out_dir, i);
      goto out;
    }
    jr->done[i] = json_is_true(json_object_get(f, "done"));
  }
  if (tm_build_stats_from_json(jr->stats, json_object_get(j, "stats")) < 0) {
    rc = tm_err(err, TM_EFORMAT, "%s: journal in the manifest: bad stats", out_dir);
    goto out;
  }
  if (get_count(j, "quarantine_bytes", &jr->quarantine_bytes) < 0 ||
      get_count(j, "candidates", &jr->candidates) < 0) {
    rc = tm_err(err, TM_EFORMAT, "%s: journal in the manifest: \"quarantine_bytes\" or \"candidates\" is not a count",
                out_dir);
    goto out;
  }
out:
  if (rc < 0) { /* never half-applied */
    memset(jr->events, 0, n_files * sizeof *jr->events);
    memset(jr->done, 0, n_files);
    memset(jr->stats, 0, sizeof *jr->stats);
    jr->quarantine_bytes = jr->candidates = 0;
  }
  json_decref(j);
  return rc;
}
