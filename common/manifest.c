/* manifest.c - manifest.json load/save; see manifest.h. */
#include "manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io.h"

#define SITE "manifest"
#define MANIFEST_MAX_BYTES (1u << 30)

static int parse_hex64(const char *s, uint64_t *out) {
  if (!s || strlen(s) != 16) return -1;
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    v = v << 4 | (uint64_t)d;
  }
  *out = v;
  return 0;
}

static void hex64(char out[17], uint64_t v) { snprintf(out, 17, "%016" PRIx64, v); }

void tm_manifest_free(tm_manifest *m) {
  free(m->journal);
  for (size_t i = 0; i < m->n_shards; i++) free(m->shards[i].sources);
  free(m->shards);
  memset(m, 0, sizeof *m);
}

static tm_manifest_shard *push_shard(tm_manifest *m) {
  if (m->n_shards == m->cap) {
    size_t nc = m->cap ? m->cap * 2 : 16;
    tm_manifest_shard *n = realloc(m->shards, nc * sizeof *n);
    if (!n) return NULL;
    m->shards = n;
    m->cap = nc;
  }
  tm_manifest_shard *s = &m->shards[m->n_shards++];
  memset(s, 0, sizeof *s);
  return s;
}

static int get_u64(json_t *o, const char *key, uint64_t *out) {
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

/* A shard name is a plain file name: no directories, no "..". */
static int valid_name(const char *s) {
  return s && *s && strlen(s) < 256 && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

int tm_manifest_load(tm_manifest *m, const char *dir, int allow_missing, tm_error *err) {
  memset(m, 0, sizeof *m);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, TM_MANIFEST_NAME);
  char *text;
  size_t len;
  int rc = tm_io_read_file(path, MANIFEST_MAX_BYTES, &text, &len, err);
  if (rc < 0) {
    if (err && err->sys_errno == ENOENT) {
      if (allow_missing) return 0;
      return tm_err(err, TM_ENOTFOUND, "%s: no manifest (not a shard directory?)", path);
    }
    return rc;
  }
  json_error_t je;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  free(text);
  if (!root)
    return tm_err(err, TM_EFORMAT, "%s: invalid JSON at line %d, offset %d: %s", path, je.line,
                  je.position, je.text);
  rc = 0;
  json_t *fmt = json_object_get(root, "format"), *shards = json_object_get(root, "shards");
  uint64_t version = 0, vocab = 0, eot = 0;
  if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "tokenmill-manifest") ||
      get_u64(root, "version", &version) || version != 1 ||
      get_u64(root, "generation", &m->generation) || !json_is_array(shards)) {
    rc = tm_err(err, TM_EFORMAT, "%s: not a version 1 tokenmill manifest", path);
    goto out;
  }
  if (json_object_get(root, "tokenizer_hash") &&
      parse_hex64(json_string_value(json_object_get(root, "tokenizer_hash")), &m->tokenizer_hash)) {
    rc = tm_err(err, TM_EFORMAT, "%s: field tokenizer_hash is not 16 hex digits", path);
    goto out;
  }
  json_t *journal = json_object_get(root, "journal");
  if (journal) {
    if (!json_is_object(journal)) {
      rc = tm_err(err, TM_EFORMAT, "%s: field journal is not an object", path);
      goto out;
    }
    m->journal = json_dumps(journal, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!m->journal) {
      rc = tm_err(err, TM_ENOMEM, "%s: out of memory", path);
      goto out;
    }
  }
  if (!get_u64(root, "vocab_size", &vocab)) m->vocab_size = (uint32_t)vocab;
  if (!get_u64(root, "eot_id", &eot)) m->eot_id = (uint32_t)eot;
  size_t i;
  json_t *js;
  json_array_foreach(shards, i, js) {
    tm_manifest_shard *s = push_shard(m);
    if (!s) {
      rc = tm_err(err, TM_ENOMEM, "%s: out of memory", path);
      goto out;
    }
    const char *name = json_string_value(json_object_get(js, "name"));
    const char *created = json_string_value(json_object_get(js, "created"));
    if (!valid_name(name) || get_u64(js, "documents", &s->documents) ||
        get_u64(js, "tokens", &s->tokens) || get_u64(js, "bytes", &s->bytes) ||
        parse_hex64(json_string_value(json_object_get(js, "file_hash")), &s->file_hash) ||
        parse_hex64(json_string_value(json_object_get(js, "tokenizer_hash")), &s->tokenizer_hash)) {
      rc = tm_err(err, TM_EFORMAT, "%s: shard record %zu is malformed", path, i);
      goto out;
    }
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->created, sizeof s->created, "%s", created ? created : "");
    json_t *tps = json_object_get(js, "tokens_per_source");
    json_t *dps = json_object_get(js, "documents_per_source");
    size_t ns = json_is_object(tps) ? json_object_size(tps) : 0;
    if (ns > TM_SHARD_MAX_SOURCES) {
      rc = tm_err(err, TM_EFORMAT, "%s: shard record %zu has too many sources", path, i);
      goto out;
    }
    s->sources = calloc(ns ? ns : 1, sizeof *s->sources);
    if (!s->sources) {
      rc = tm_err(err, TM_ENOMEM, "%s: out of memory", path);
      goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(tps, k, v) {
      tm_manifest_source *src = &s->sources[s->n_sources++];
      snprintf(src->name, sizeof src->name, "%s", k);
      src->tokens = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
      json_t *dv = json_object_get(dps, k);
      src->docs = json_is_integer(dv) ? (uint64_t)json_integer_value(dv) : 0;
    }
  }
out:
  json_decref(root);
  if (rc < 0) tm_manifest_free(m);
  return rc;
}

int tm_manifest_set_journal(tm_manifest *m, const char *json, tm_error *err) {
  if (!json) {
    free(m->journal);
    m->journal = NULL;
    return 0;
  }
  json_error_t je;
  json_t *j = json_loads(json, 0, &je);
  if (!json_is_object(j)) {
    json_decref(j);
    return tm_err(err, TM_EFORMAT, "manifest journal: not a JSON object (%s)", je.text);
  }
  json_decref(j);
  char *copy = strdup(json);
  if (!copy) return tm_err(err, TM_ENOMEM, "out of memory");
  free(m->journal);
  m->journal = copy;
  return 0;
}

long tm_manifest_find(const tm_manifest *m, const char *name) {
  for (size_t i = 0; i < m->n_shards; i++)
    if (!strcmp(m->shards[i].name, name)) return (long)i;
  return -1;
}

int tm_manifest_add(tm_manifest *m, const char *name, const tm_shard_info *info, tm_error *err) {
  if (!valid_name(name)) return tm_err(err, TM_EINVAL, "invalid shard name '%s'", name);
  if (tm_manifest_find(m, name) >= 0)
    return tm_err(err, TM_EEXIST, "shard %s is already in the manifest", name);
  if (m->n_shards == 0 && m->tokenizer_hash == 0) {
    m->tokenizer_hash = info->tokenizer_hash;
    m->vocab_size = info->vocab_size;
    m->eot_id = info->eot_id;
  } else if (m->tokenizer_hash != info->tokenizer_hash) {
    return tm_err(err, TM_EINVAL,
                  "shard %s was written with tokenizer %016" PRIx64 " but the directory holds %016" PRIx64,
                  name, info->tokenizer_hash, m->tokenizer_hash);
  }
  tm_manifest_shard *s = push_shard(m);
  if (!s) return tm_err(err, TM_ENOMEM, "out of memory");
  s->sources = calloc(info->n_sources ? info->n_sources : 1, sizeof *s->sources);
  if (!s->sources) {
    m->n_shards--;
    return tm_err(err, TM_ENOMEM, "out of memory");
  }
  snprintf(s->name, sizeof s->name, "%s", name);
  s->documents = info->n_docs;
  s->tokens = info->n_tokens;
  s->bytes = info->file_bytes;
  s->file_hash = info->file_hash;
  s->tokenizer_hash = info->tokenizer_hash;
  time_t now = time(NULL);
  struct tm tmv;
  gmtime_r(&now, &tmv);
  strftime(s->created, sizeof s->created, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  s->n_sources = info->n_sources;
  for (uint32_t i = 0; i < info->n_sources; i++) {
    snprintf(s->sources[i].name, sizeof s->sources[i].name, "%s", info->source_names[i]);
    s->sources[i].tokens = info->source_tokens[i];
    s->sources[i].docs = info->source_docs[i];
  }
  return 0;
}

int tm_manifest_save(tm_manifest *m, const char *dir, tm_error *err) {
  char hex[17];
  json_t *root = json_object();
  json_t *arr = json_array();
  if (!root || !arr) {
    json_decref(root);
    json_decref(arr);
    return tm_err(err, TM_ENOMEM, "out of memory");
  }
  uint64_t gen = m->generation + 1;
  json_object_set_new(root, "format", json_string("tokenmill-manifest"));
  json_object_set_new(root, "version", json_integer(1));
  json_object_set_new(root, "generation", json_integer((json_int_t)gen));
  hex64(hex, m->tokenizer_hash);
  json_object_set_new(root, "tokenizer_hash", json_string(hex));
  json_object_set_new(root, "vocab_size", json_integer(m->vocab_size));
  json_object_set_new(root, "eot_id", json_integer(m->eot_id));
  for (size_t i = 0; i < m->n_shards; i++) {
    tm_manifest_shard *s = &m->shards[i];
    json_t *o = json_object(), *tps = json_object(), *dps = json_object();
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "documents", json_integer((json_int_t)s->documents));
    json_object_set_new(o, "tokens", json_integer((json_int_t)s->tokens));
    json_object_set_new(o, "bytes", json_integer((json_int_t)s->bytes));
    hex64(hex, s->file_hash);
    json_object_set_new(o, "file_hash", json_string(hex));
    hex64(hex, s->tokenizer_hash);
    json_object_set_new(o, "tokenizer_hash", json_string(hex));
    for (uint32_t k = 0; k < s->n_sources; k++) {
      json_object_set_new(tps, s->sources[k].name, json_integer((json_int_t)s->sources[k].tokens));
      json_object_set_new(dps, s->sources[k].name, json_integer((json_int_t)s->sources[k].docs));
    }
    json_object_set_new(o, "tokens_per_source", tps);
    json_object_set_new(o, "documents_per_source", dps);
    json_object_set_new(o, "created", json_string(s->created));
    json_array_append_new(arr, o);
  }
  json_object_set_new(root, "shards", arr);
  if (m->journal) {
    json_t *j = json_loads(m->journal, 0, NULL);
    if (!j) {
      json_decref(root);
      return tm_err(err, TM_EFORMAT, "manifest journal is not valid JSON");
    }
    json_object_set_new(root, "journal", j);
  }
  char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (!text) return tm_err(err, TM_ENOMEM, "out of memory");
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, TM_MANIFEST_NAME);
  size_t len = strlen(text);
  text[len] = '\n'; /* replaces the NUL; we pass the length */
  int rc = tm_io_write_file_atomic(path, text, len + 1, SITE, err);
  free(text);
  if (rc == 0) m->generation = gen;
  return rc;
}

uint64_t tm_manifest_total_tokens(const tm_manifest *m) {
  uint64_t t = 0;
  for (size_t i = 0; i < m->n_shards; i++) t += m->shards[i].tokens;
  return t;
}

uint64_t tm_manifest_total_docs(const tm_manifest *m) {
  uint64_t t = 0;
  for (size_t i = 0; i < m->n_shards; i++) t += m->shards[i].documents;
  return t;
}
