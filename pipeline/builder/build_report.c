/* build_report.c - the build's statistics, stats.json and DATACARD.md. */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_int.h"
#include "io.h"

/* Copy a string into a fixed field, cut (when too long) at a UTF-8
 * character boundary: a name cut inside a character would not be valid
 * JSON text, and the journal would lose it. */
static void copy_field(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap) {
    n = cap - 1;
    while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80) n--; /* src[n] starts the first character left out */
  }
  memcpy(dst, src, n);
  dst[n] = 0;
}

tm_build_source *tm_build_stats_source(tm_build_stats *s, const char *name) {
  /* compare as stored: a name longer than the field is one source, not a new one each time */
  char key[sizeof s->sources[0].name];
  copy_field(key, sizeof key, name);
  for (int i = 0; i < s->n_sources; i++)
    if (!strcmp(s->sources[i].name, key)) return &s->sources[i];
  if (s->n_sources == TM_BUILD_MAX_SOURCES) return &s->sources[TM_BUILD_MAX_SOURCES - 1];
  tm_build_source *src = &s->sources[s->n_sources++];
  memset(src, 0, sizeof *src);
  memcpy(src->name, key, sizeof key);
  return src;
}

/* Copy at most max code points of text as valid UTF-8 for JSON and
 * Markdown: invalid sequences become '?', control characters spaces. */
static void copy_prefix(char *dst, size_t cap, const char *s, size_t len, size_t max_cp) {
  size_t o = 0, cp = 0;
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len && cp < max_cp && o + 5 < cap; cp++) {
    unsigned c = u[i];
    size_t k = c < 0x80 ? 1 : (c >= 0xC2 && c < 0xE0) ? 2 : (c >= 0xE0 && c < 0xF0) ? 3 : (c >= 0xF0 && c < 0xF5) ? 4 : 0;
    int ok = k && i + k <= len;
    for (size_t j = 1; ok && j < k; j++) ok = (u[i + j] & 0xC0) == 0x80;
    if (ok && k == 3) {
      unsigned v = ((c & 0x0F) << 12) | ((u[i + 1] & 0x3Fu) << 6);
      ok = v >= 0x800 && (v < 0xD800 || v > 0xDFFF);
    }
    if (ok && k == 4) {
      unsigned v = ((c & 0x07) << 18) | ((u[i + 1] & 0x3Fu) << 12);
      ok = v >= 0x10000 && v <= 0x10FFFF;
    }
    if (!ok) {
      dst[o++] = '?';
      i++;
      continue;
    }
    if (k == 1 && (c < 0x20 || c == 0x7F)) dst[o++] = ' ';
    else memcpy(dst + o, s + i, k), o += k;
    i += k;
  }
  dst[o] = 0;
}

void tm_build_stats_drop(tm_build_source *src, const char *rule, uint64_t bytes, const char *id,
                         const char *text, size_t len) {
  tm_build_rule *r = NULL;
  for (int i = 0; i < src->n_rules && !r; i++)
    if (!strcmp(src->rules[i].rule, rule)) r = &src->rules[i];
  if (!r) {
    if (src->n_rules == TM_BUILD_MAX_RULES) r = &src->rules[TM_BUILD_MAX_RULES - 1];
    else {
      r = &src->rules[src->n_rules++];
      memset(r, 0, sizeof *r);
      copy_field(r->rule, sizeof r->rule, rule);
      copy_field(r->example_id, sizeof r->example_id, id ? id : "");
      copy_prefix(r->example, sizeof r->example, text ? text : "", text ? len : 0, TM_BUILD_EXAMPLE);
    }
  }
  r->docs++;
  r->bytes += bytes;
}

#define U64(name) json_object_set_new(o, #name, json_integer((json_int_t)src->name))

json_t *tm_build_stats_to_json(const tm_build_stats *s) {
  json_t *arr = json_array();
  for (int i = 0; i < s->n_sources; i++) {
    const tm_build_source *src = &s->sources[i];
    json_t *o = json_object();
    json_object_set_new(o, "source", json_string(src->name));
    U64(files);
    U64(docs_in);
    U64(bytes_in);
    U64(kept);
    U64(bytes_kept);
    U64(dropped);
    U64(bytes_dropped);
    U64(modified);
    U64(exact_dups);
    U64(near_dups);
    U64(rejected);
    U64(tokens);
    json_t *rules = json_array();
    for (int k = 0; k < src->n_rules; k++) {
      const tm_build_rule *r = &src->rules[k];
      json_t *ro = json_object();
      json_object_set_new(ro, "rule", json_string(r->rule));
      json_object_set_new(ro, "docs", json_integer((json_int_t)r->docs));
      json_object_set_new(ro, "bytes", json_integer((json_int_t)r->bytes));
      json_object_set_new(ro, "example_id", json_string(r->example_id));
      json_object_set_new(ro, "example", json_string(r->example));
      json_array_append_new(rules, ro);
    }
    json_object_set_new(o, "dropped_by_rule", rules);
    json_array_append_new(arr, o);
  }
  return arr;
}

static uint64_t geti(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

int tm_build_stats_from_json(tm_build_stats *s, json_t *arr) {
  memset(s, 0, sizeof *s);
  if (!json_is_array(arr)) return -TM_EFORMAT;
  size_t i;
  json_t *o;
  json_array_foreach(arr, i, o) {
    const char *name = json_string_value(json_object_get(o, "source"));
    if (!name) return -TM_EFORMAT;
    tm_build_source *src = tm_build_stats_source(s, name);
#define G(name) src->name = geti(o, #name)
    G(files), G(docs_in), G(bytes_in), G(kept), G(bytes_kept), G(dropped), G(bytes_dropped);
    G(modified), G(exact_dups), G(near_dups), G(rejected), G(tokens);
#undef G
    size_t k;
    json_t *ro;
    json_array_foreach(json_object_get(o, "dropped_by_rule"), k, ro) {
      if (src->n_rules == TM_BUILD_MAX_RULES) break;
      tm_build_rule *r = &src->rules[src->n_rules++];
      memset(r, 0, sizeof *r);
      const char *rn = json_string_value(json_object_get(ro, "rule"));
      const char *ex = json_string_value(json_object_get(ro, "example"));
      const char *eid = json_string_value(json_object_get(ro, "example_id"));
      copy_field(r->rule, sizeof r->rule, rn ? rn : "?");
      copy_field(r->example, sizeof r->example, ex ? ex : "");
      copy_field(r->example_id, sizeof r->example_id, eid ? eid : "");
      r->docs = geti(ro, "docs");
      r->bytes = geti(ro, "bytes");
    }
  }
  return 0;
}

static int cmp_rule(const void *a, const void *b) {
  const tm_build_rule *x = *(const tm_build_rule *const *)a, *y = *(const tm_build_rule *const *)b;
  return x->docs < y->docs ? 1 : x->docs > y->docs ? -1 : strcmp(x->rule, y->rule);
}

static double mb(uint64_t b) { return (double)b / 1e6; }

/* A growable string for the data card. */
typedef struct {
  char *s;
  size_t n, cap;
} sbuf;
__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if (b->s && b->n + (size_t)k < b->cap) {
      b->n += (size_t)k;
      return;
    }
    size_t nc = (b->cap ? b->cap * 2 : 4096) + (size_t)k;
    char *ns = realloc(b->s, nc);
    if (!ns) return;
    b->s = ns;
    b->cap = nc;
  }
}

int tm_build_write_report(const tm_build_report_in *r, tm_error *err) {
  const tm_build_stats *st = r->stats;
  const tm_build_timing *t = r->timing;
  /* stats.json */
  json_t *root = json_object();
  json_object_set_new(root, "sources", tm_build_stats_to_json(st));
  uint64_t in = 0, bin = 0, kept = 0, drop = 0, ex = 0, near = 0, rej = 0;
  for (int i = 0; i < st->n_sources; i++) {
    const tm_build_source *s = &st->sources[i];
    in += s->docs_in, bin += s->bytes_in, kept += s->kept, drop += s->dropped;
    ex += s->exact_dups, near += s->near_dups, rej += s->rejected;
  }
  json_t *tot = json_object();
  json_object_set_new(tot, "docs_in", json_integer((json_int_t)in));
  json_object_set_new(tot, "bytes_in", json_integer((json_int_t)bin));
  json_object_set_new(tot, "kept", json_integer((json_int_t)kept));
  json_object_set_new(tot, "dropped", json_integer((json_int_t)drop));
  json_object_set_new(tot, "exact_dups", json_integer((json_int_t)ex));
  json_object_set_new(tot, "near_dups", json_integer((json_int_t)near));
  json_object_set_new(tot, "rejected", json_integer((json_int_t)rej));
  json_object_set_new(tot, "tokens", json_integer((json_int_t)r->tokens));
  json_object_set_new(tot, "shards", json_integer((json_int_t)r->shards));
  json_object_set_new(tot, "shard_bytes", json_integer((json_int_t)r->shard_bytes));
  json_object_set_new(tot, "compression_ratio",
                      json_real(r->shard_bytes ? (double)bin / (double)r->shard_bytes : 0));
  json_object_set_new(tot, "bytes_per_token",
                      json_real(r->tokens ? (double)r->shard_bytes / (double)r->tokens : 0));
  json_object_set_new(root, "totals", tot);
  json_t *tm = json_object();
  json_object_set_new(tm, "threads", json_integer(t->threads));
  json_object_set_new(tm, "wall_s", json_real(t->wall_s));
  json_object_set_new(tm, "file_bytes_this_run", json_integer((json_int_t)t->bytes_read));
  json_object_set_new(tm, "doc_bytes_this_run", json_integer((json_int_t)t->doc_bytes));
  json_object_set_new(tm, "mb_per_s", json_real(t->wall_s > 0 ? mb(t->doc_bytes) / t->wall_s : 0));
  json_object_set_new(tm, "mb_per_s_per_core",
                      json_real(t->wall_s > 0 ? mb(t->doc_bytes) / t->wall_s / (t->threads ? t->threads : 1) : 0));
  json_object_set_new(tm, "process_cpu_s", json_real(t->process_cpu_s));
  json_object_set_new(tm, "mb_per_cpu_s", json_real(t->process_cpu_s > 0 ? mb(t->doc_bytes) / t->process_cpu_s : 0));
  json_t *stage = json_object();
  const struct { const char *name; double s; } stages[] = {
      {"read", t->read_s}, {"clean", t->clean_s}, {"tokenize", t->tokenize_s},
      {"dedup", t->dedup_s}, {"write", t->write_s}, {"tokenizer_train", t->tokenizer_train_s}};
  for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
    json_t *so = json_object();
    json_object_set_new(so, "cpu_s", json_real(stages[i].s));
    json_object_set_new(so, "mb_per_s", json_real(stages[i].s > 0 ? mb(t->doc_bytes) / stages[i].s : 0));
    json_object_set_new(stage, stages[i].name, so);
  }
  json_object_set_new(tm, "stages", stage);
  json_object_set_new(tm, "peak_rss_kb", json_integer((json_int_t)t->peak_rss_kb));
  json_object_set_new(root, "time", tm);
  json_t *ded = json_object();
  json_object_set_new(ded, "index_ram_bytes", json_integer((json_int_t)r->dedup_index_ram));
  json_object_set_new(ded, "index_disk_bytes", json_integer((json_int_t)r->dedup_index_disk));
  json_object_set_new(root, "dedup", ded);
  char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (!text) return tm_err(err, TM_ENOMEM, "out of memory");
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/stats.json", r->out_dir);
  int rc = tm_io_write_file_atomic(path, text, strlen(text), "report", err);
  free(text);
  if (rc < 0) return rc;

  /* DATACARD.md */
  sbuf b = {0};
  sb_printf(&b, "# Data card\n\nBuilt by `tokenmill build`. Every number below is also in `stats.json`.\n\n");
  sb_printf(&b, "## Summary\n\n| | |\n|---|---|\n");
  sb_printf(&b, "| documents read | %" PRIu64 " (%.1f MB) |\n", in, mb(bin));
  sb_printf(&b, "| kept | %" PRIu64 " (%.1f%%) |\n", kept, in ? 100.0 * (double)kept / (double)in : 0);
  sb_printf(&b, "| dropped by a filter | %" PRIu64 " |\n", drop);
  sb_printf(&b, "| exact duplicates | %" PRIu64 " |\n| near duplicates | %" PRIu64 " |\n", ex, near);
  sb_printf(&b, "| unreadable records (quarantine/) | %" PRIu64 " |\n", rej);
  sb_printf(&b, "| tokens | %" PRIu64 " in %" PRIu64 " shards (%.1f MB, %.2f bytes/token) |\n", r->tokens,
            r->shards, mb(r->shard_bytes), r->tokens ? (double)r->shard_bytes / (double)r->tokens : 0);
  sb_printf(&b, "| tokenizer | byte-level BPE, vocabulary %u, hash `%016" PRIx64 "` (%s) |\n\n",
            r->vocab_size, r->tokenizer_hash, r->tokenizer_origin);
  sb_printf(&b, "## Sources\n\n| source | files | documents | MB in | kept | dropped | exact dups | near dups | unreadable | tokens |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int i = 0; i < st->n_sources; i++) {
    const tm_build_source *s = &st->sources[i];
    sb_printf(&b, "| %s | %" PRIu64 " | %" PRIu64 " | %.1f | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " |\n",
              s->name, s->files, s->docs_in, mb(s->bytes_in), s->kept, s->dropped, s->exact_dups,
              s->near_dups, s->rejected, s->tokens);
  }
  sb_printf(&b, "\n## Top drop reasons\n\n");
  for (int i = 0; i < st->n_sources; i++) {
    const tm_build_source *s = &st->sources[i];
    if (!s->n_rules) continue;
    const tm_build_rule *sorted[TM_BUILD_MAX_RULES];
    for (int k = 0; k < s->n_rules; k++) sorted[k] = &s->rules[k];
    qsort(sorted, (size_t)s->n_rules, sizeof sorted[0], cmp_rule);
    sb_printf(&b, "### %s\n\n| rule | documents | example |\n|---|---:|---|\n", s->name);
    for (int k = 0; k < s->n_rules && k < 10; k++) {
      char ex[TM_BUILD_EXAMPLE * 4 + 1];
      size_t o = 0;
      for (const char *p = sorted[k]->example; *p && o + 2 < sizeof ex; p++) {
        if (*p == '|') ex[o++] = '\\';
        ex[o++] = *p;
      }
      ex[o] = 0;
      sb_printf(&b, "| `%s` | %" PRIu64 " | %s: \"%s\" |\n", sorted[k]->rule, sorted[k]->docs,
                sorted[k]->example_id, ex);
    }
    sb_printf(&b, "\n");
  }
  if (r->profiles_desc) sb_printf(&b, "## Filters and thresholds\n\n%s\n", r->profiles_desc);
  sb_printf(&b, "## Throughput of the last run\n\n%.1f MB of documents (%.1f MB of files) read in %.1f s on %d threads: %.2f MB/s, %.2f MB/s per core; %.1f CPU seconds in all, %.2f MB per CPU second. Peak RSS %.0f MB.\n",
            mb(t->doc_bytes), mb(t->bytes_read), t->wall_s, t->threads, t->wall_s > 0 ? mb(t->doc_bytes) / t->wall_s : 0,
            t->wall_s > 0 ? mb(t->doc_bytes) / t->wall_s / (t->threads ? t->threads : 1) : 0,
            t->process_cpu_s, t->process_cpu_s > 0 ? mb(t->doc_bytes) / t->process_cpu_s : 0,
            (double)t->peak_rss_kb / 1024.0);
  if (!b.s) return tm_err(err, TM_ENOMEM, "out of memory");
  snprintf(path, sizeof path, "%s/DATACARD.md", r->out_dir);
  rc = tm_io_write_file_atomic(path, b.s, b.n, "report", err);
  free(b.s);
  return rc;
}
