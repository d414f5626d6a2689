/* cmd_clean.c - `tokenmill clean`: run the readers and the clean stage
 * alone, to see what the filters do.
 *
 *   tokenmill clean [-c CONFIG] [--profile NAME] -o OUT INPUT...
 *
 * OUT/kept.jsonl       {"id","text","metadata":{"source","url","lang",...}}
 * OUT/rejects.jsonl    {"id","reason","source","text": the first 200 characters}
 * OUT/quarantine/records.jsonl  input records that could not be read:
 *                      {"file","line","offset","error","record"?}
 * OUT/stats.json       per source: documents and bytes in / kept / dropped /
 *                      modified, per drop rule and per modifying step, reader
 *                      counters, finer counts
 * The three JSONL files and stats.json are written as NAME.tmp and renamed
 * when complete. --explain ID prints every rule's value for that document
 * and writes nothing.
 *
 * Exit: 0 ok, 1 runtime error (an unreadable input file, an output error),
 * 2 usage, 3 finished but some input records were rejected (quarantined).
 */
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clean/clean.h"
#include "clean/langid.h"
#include "clean/normalize.h"
#include "commands.h"
#include "config.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"
#include "readers/reader.h"
#include "schemas.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tokenmill clean [-c CONFIG] [--profile NAME] -o OUT [options] INPUT...\n"
          "       tokenmill clean [-c CONFIG] [--profile NAME] --explain ID INPUT...\n\n"
          "Reads INPUT files (JSONL, text, HTML, e-mail, WARC/WET; gzip/zstd by magic bytes),\n"
          "cleans each document with the profile's rules and writes OUT/kept.jsonl,\n"
          "OUT/rejects.jsonl, OUT/quarantine/records.jsonl and OUT/stats.json.\n\n"
          "  -c, --config FILE      INI file; the profile is its [clean.NAME] section\n"
          "  -p, --profile NAME     web (default), books, social, or a section of CONFIG\n"
          "  -o, --out DIR          output directory (created)\n"
          "      --set SEC.KEY=VAL  override a configuration key (repeatable)\n"
          "      --format F         auto, jsonl, text, html, email, warc\n"
          "      --text-field F     JSONL field holding the document\n"
          "      --field-kind K     what that field holds: text, html, email\n"
          "      --split-blank-lines  text files: a document per blank-line block\n"
          "      --explain ID       print every rule's value for document ID\n"
          "      --timing           add per-step seconds to stats.json\n"
          "      --print-profile NAME  print a built-in profile (web, books, social) as INI\n\n"
          "exit: 0 ok, 1 runtime error, 2 usage, 3 some input records were rejected\n"
          "(see OUT/quarantine/records.jsonl)\n");
}

/* ---- buffered output through tm_io ------------------------------------------ */

typedef struct {
  int fd;
  char path[4096], tmp[4200];
  char *buf;
  size_t len;
  int failed;
} outfile;

static int out_open(outfile *o, const char *dir, const char *name, tm_error *err) {
  memset(o, 0, sizeof *o);
  snprintf(o->path, sizeof o->path, "%s/%s", dir, name);
  snprintf(o->tmp, sizeof o->tmp, "%s.tmp", o->path);
  o->fd = tm_io_open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, "clean", err);
  o->buf = malloc(1u << 20);
  if (o->fd < 0 || !o->buf) {
    if (o->fd >= 0) tm_io_close(o->fd, o->tmp, "clean", NULL);
    free(o->buf);
    o->fd = -1;
    return o->fd < 0 && err && err->code ? -err->code : -TM_ENOMEM;
  }
  return 0;
}

static int out_flush(outfile *o, tm_error *err) {
  if (!o->len || o->failed) return o->failed ? -TM_EIO : 0;
  int rc = tm_io_write(o->fd, o->buf, o->len, o->tmp, "clean", err);
  o->len = 0;
  if (rc < 0) o->failed = 1;
  return rc;
}

static int out_line(outfile *o, json_t *j, tm_error *err) {
  char *s = json_dumps(j, JSON_COMPACT);
  if (!s) return tm_err(err, TM_ENOMEM, "out of memory");
  size_t n = strlen(s);
  int rc = 0;
  if (o->len + n + 1 > (1u << 20)) rc = out_flush(o, err);
  if (rc == 0 && n + 1 > (1u << 20)) {
    rc = tm_io_write(o->fd, s, n, o->tmp, "clean", err);
    if (rc == 0) rc = tm_io_write(o->fd, "\n", 1, o->tmp, "clean", err);
  } else if (rc == 0) {
    memcpy(o->buf + o->len, s, n);
    o->buf[o->len + n] = '\n';
    o->len += n + 1;
  }
  free(s);
  return rc;
}

static int out_close(outfile *o, tm_error *err) {
  if (o->fd < 0) return 0;
  int rc = out_flush(o, err);
  if (rc == 0) rc = tm_io_fsync(o->fd, o->tmp, "clean", err);
  int rc2 = tm_io_close(o->fd, o->tmp, "clean", rc ? NULL : err);
  if (rc == 0) rc = rc2;
  if (rc == 0) rc = tm_io_rename(o->tmp, o->path, "clean", err);
  free(o->buf);
  o->buf = NULL;
  o->fd = -1;
  return rc;
}

/* ---- records ------------------------------------------------------------------ */

static json_t *metadata_json(const tm_document *d) {
  json_t *m = json_object();
  json_object_set_new(m, "source", json_string(tm_source_name(d->source)));
  if (d->uri) json_object_set_new(m, "url", json_string(d->uri));
  if (d->timestamp != TM_TIMESTAMP_UNKNOWN) json_object_set_new(m, "timestamp", json_integer(d->timestamp));
  for (size_t i = 0; i < d->n_meta; i++) {
    json_t *v = NULL;
    if (d->meta[i].is_json) v = json_loads(d->meta[i].value, JSON_DECODE_ANY, NULL);
    if (!v) v = json_string(d->meta[i].value);
    if (v) json_object_set_new(m, d->meta[i].key, v);
  }
  return m;
}

/* The first max characters of s (a whole-character cut). */
static json_t *prefix_json(const char *s, size_t n, size_t max) {
  size_t i = 0, chars = 0;
  while (i < n && chars < max) {
    i++;
    while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80) i++;
    chars++;
  }
  return json_stringn(s, i);
}

typedef struct {
  tm_clean *stage;
  tm_reader_stats reader; /* summed over inputs */
  uint64_t quarantined, input_errors;
  outfile kept, rejects, quarantine;
  const char *explain;
  int explained;
} ctx;

static void print_trace(const tm_document *d, const tm_clean_result *res, const tm_rule_trace *t) {
  printf("document %s (%s, lang %s %.2f)\n", d->id, d->origin ? d->origin : "", d->lang, d->lang_conf);
  for (int i = 0; i < t->n; i++) {
    const tm_rule_eval *e = &t->e[i];
    if (e->threshold < 0)
      printf("  %-42s %12.4f   (off)\n", e->rule, e->value);
    else
      printf("  %-42s %12.4f   fails if %c %-10g %s\n", e->rule, e->value, e->cmp, e->threshold,
             e->failed ? "FAIL" : "ok");
  }
  printf("verdict: %s%s%s\n",
         res->verdict == TM_CLEAN_DROP ? "drop" : res->verdict == TM_CLEAN_MODIFIED ? "modified" : "keep",
         res->reason ? " " : "", res->reason ? res->reason : "");
}

static int quarantine(ctx *c, const char *file, const tm_document *d, const char *msg,
                      const char *raw, size_t raw_len, tm_error *err) {
  c->quarantined++;
  tm_warn("clean_record_rejected", "file=%s line=%llu error=\"%s\"", file,
          (unsigned long long)d->line, msg);
  if (c->explain) return 0;
  json_t *j = json_object();
  json_object_set_new(j, "file", tm_json_text_lossy(file)); /* a file name need not be UTF-8 */
  if (d->line) json_object_set_new(j, "line", json_integer((json_int_t)d->line));
  json_object_set_new(j, "offset", json_integer((json_int_t)d->offset));
  json_object_set_new(j, "error", json_string(msg));
  if (raw) {
    json_t *r = json_stringn(raw, raw_len < (64u << 10) ? raw_len : (64u << 10));
    if (r) json_object_set_new(j, "record", r); /* invalid UTF-8 records are left out */
  }
  int rc = out_line(&c->quarantine, j, err);
  json_decref(j);
  return rc;
}

static int process_file(ctx *c, const char *path, const tm_reader_options *ro, tm_error *err) {
  tm_reader *r;
  tm_error e = {0};
  if (tm_reader_open(&r, path, ro, &e) < 0) {
    fprintf(stderr, "tokenmill clean: %s\n", e.msg);
    c->input_errors++;
    return 0;
  }
  tm_document d;
  tm_document_init(&d);
  int rc, out_rc = 0;
  while (out_rc == 0 && (rc = tm_reader_next(r, &d, &e)) != 0) {
    if (rc < 0) {
      const char *raw = NULL;
      size_t rl = 0;
      tm_reader_failed_record(r, &raw, &rl);
      out_rc = quarantine(c, path, &d, e.msg, raw, rl, err);
      continue;
    }
    size_t in_len = d.len;
    if (c->explain && strcmp(d.id, c->explain)) continue;
    tm_clean_result res;
    tm_rule_trace trace;
    trace.n = 0;
    out_rc = tm_clean_doc(c->stage, &d, &res, c->explain ? &trace : NULL, err);
    if (out_rc < 0) break;
    if (c->explain) {
      print_trace(&d, &res, &trace);
      c->explained = 1;
      break;
    }
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(d.id));
    if (res.verdict == TM_CLEAN_DROP) {
      json_object_set_new(j, "reason", json_string(res.reason));
      json_object_set_new(j, "source", json_string(tm_source_name(d.source)));
      json_object_set_new(j, "bytes", json_integer((json_int_t)in_len));
      json_object_set_new(j, "text", prefix_json(d.text, d.len, 200));
      out_rc = out_line(&c->rejects, j, err);
    } else {
      json_object_set_new(j, "text", json_stringn(d.text, d.len));
      json_object_set_new(j, "metadata", metadata_json(&d));
      out_rc = out_line(&c->kept, j, err);
    }
    json_decref(j);
  }
  tm_reader_stats st;
  tm_reader_get_stats(r, &st);
  c->reader.records += st.records;
  c->reader.errors += st.errors;
  c->reader.skipped += st.skipped;
  c->reader.bytes_in += st.bytes_in;
  c->reader.bytes_decoded += st.bytes_decoded;
  tm_info("clean_input_done", "file=%s format=%s records=%llu errors=%llu skipped=%llu", path,
          tm_reader_format_name(tm_reader_format_of(r)), (unsigned long long)st.records,
          (unsigned long long)st.errors, (unsigned long long)st.skipped);
  tm_reader_close(r);
  tm_document_free(&d);
  return out_rc;
}

static json_t *pair(uint64_t docs, uint64_t bytes) {
  return json_pack("{s:I,s:I}", "docs", (json_int_t)docs, "bytes", (json_int_t)bytes);
}

static json_t *stats_json(const ctx *c, const tm_clean_params *p, int timing) {
  const tm_clean_stats *s = tm_clean_get_stats(c->stage);
  json_t *src = json_object();
  json_object_set_new(src, "profile", json_string(p->profile));
  json_object_set_new(src, "in", pair(s->docs_in, s->bytes_in));
  json_object_set_new(src, "kept", pair(s->docs_kept, s->bytes_kept));
  json_object_set_new(src, "dropped", pair(s->docs_dropped, s->bytes_dropped));
  json_object_set_new(src, "modified", pair(s->docs_modified, s->bytes_modified));
  json_t *drops = json_object(), *mods = json_object();
  for (int i = 0; i < s->n_drops; i++)
    json_object_set_new(drops, s->drops[i].rule, pair(s->drops[i].docs, s->drops[i].bytes));
  for (int i = 0; i < s->n_mods; i++)
    json_object_set_new(mods, s->mods[i].rule, pair(s->mods[i].docs, s->mods[i].bytes));
  json_object_set_new(src, "dropped_by_rule", drops);
  json_object_set_new(src, "modified_by_step", mods);
  json_object_set_new(
      src, "reader",
      json_pack("{s:I,s:I,s:I,s:I,s:I}", "records", (json_int_t)c->reader.records, "rejected",
                (json_int_t)c->reader.errors, "skipped", (json_int_t)c->reader.skipped,
                "bytes_read", (json_int_t)c->reader.bytes_in, "bytes_decoded",
                (json_int_t)c->reader.bytes_decoded));
  json_t *counts = json_pack(
      "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
      "paragraphs_unwrapped", (json_int_t)s->unwrapped,
      "utf8_invalid", (json_int_t)s->repair.invalid, "controls_removed", (json_int_t)s->repair.controls,
      "c4_lines_in", (json_int_t)s->c4.lines_in, "c4_lines_removed", (json_int_t)s->c4.lines_removed,
      "c4_no_terminal_punct", (json_int_t)s->c4.no_terminal_punct, "c4_too_few_words",
      (json_int_t)s->c4.too_few_words, "c4_too_long_word", (json_int_t)s->c4.too_long_word,
      "c4_javascript", (json_int_t)s->c4.javascript, "c4_policy", (json_int_t)s->c4.policy,
      "books_gutenberg_bytes", (json_int_t)s->book.gutenberg_bytes, "books_page_numbers",
      (json_int_t)s->book.page_numbers, "books_running_headers", (json_int_t)s->book.running_headers,
      "books_hyphens_joined", (json_int_t)s->book.hyphens_joined, "social_urls",
      (json_int_t)s->social.urls, "social_mentions", (json_int_t)s->social.mentions,
      "social_hashtags", (json_int_t)s->social.hashtags, "social_floods", (json_int_t)s->social.floods,
      "pii_email", (json_int_t)s->pii.email, "pii_ip", (json_int_t)(s->pii.ipv4 + s->pii.ipv6),
      "pii_phone", (json_int_t)s->pii.phone);
  json_object_set_new(src, "counts", counts);
  if (timing) {
    json_t *t = json_object();
    for (int i = 0; i < TM_STEP_COUNT; i++)
      json_object_set_new(t, tm_clean_step_names[i], json_real((double)s->step_ns[i] / 1e9));
    json_object_set_new(src, "step_seconds", t);
  }
  json_t *root = json_object();
  json_t *sources = json_object();
  json_object_set_new(sources, tm_source_name(p->source), src);
  json_object_set_new(root, "sources", sources);
  return root;
}

int cmd_clean(int argc, char **argv) {
  enum { O_SET = 256, O_FORMAT, O_FIELD, O_KIND, O_SPLIT, O_EXPLAIN, O_TIMING, O_PRINT };
  static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                       {"profile", required_argument, 0, 'p'},
                                       {"out", required_argument, 0, 'o'},
                                       {"set", required_argument, 0, O_SET},
                                       {"format", required_argument, 0, O_FORMAT},
                                       {"text-field", required_argument, 0, O_FIELD},
                                       {"field-kind", required_argument, 0, O_KIND},
                                       {"split-blank-lines", no_argument, 0, O_SPLIT},
                                       {"explain", required_argument, 0, O_EXPLAIN},
                                       {"timing", no_argument, 0, O_TIMING},
                                       {"print-profile", required_argument, 0, O_PRINT},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *config = NULL, *profile = "web", *out = NULL, *format = NULL, *field = NULL,
             *kind = NULL, *explain = NULL;
  int split = 0, timing = 0, ch;
  const char *sets[64];
  int nsets = 0;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "c:p:o:h", opts, NULL)) != -1) {
    switch (ch) {
    case 'c': config = optarg; break;
    case 'p': profile = optarg; break;
    case 'o': out = optarg; break;
    case O_SET:
      if (nsets == 64) {
        fprintf(stderr, "tokenmill clean: too many --set\n");
        return TM_EXIT_USAGE;
      }
      sets[nsets++] = optarg;
      break;
    case O_FORMAT: format = optarg; break;
    case O_FIELD: field = optarg; break;
    case O_KIND: kind = optarg; break;
    case O_SPLIT: split = 1; break;
    case O_EXPLAIN: explain = optarg; break;
    case O_TIMING: timing = 1; break;
    case O_PRINT:
      if (tm_clean_profile_write(stdout, optarg) < 0) {
        fprintf(stderr, "tokenmill clean: unknown profile '%s' (web, books, social)\n", optarg);
        return TM_EXIT_USAGE;
      }
      return TM_EXIT_OK;
    case 'h': usage(stdout); return TM_EXIT_OK;
    default: usage(stderr); return TM_EXIT_USAGE;
    }
  }
  if (optind >= argc || (!out && !explain)) {
    usage(stderr);
    return TM_EXIT_USAGE;
  }
  tm_error err = {0};
  tm_config *cfg = tm_config_new(tm_all_schemas, tm_n_schemas);
  if (!cfg) return TM_EXIT_RUNTIME;
  int rc = config ? tm_config_load(cfg, config, &err) : 0;
  for (int i = 0; rc == 0 && i < nsets; i++) rc = tm_config_set_arg(cfg, sets[i], &err);
  tm_clean_params p;
  if (rc == 0) rc = tm_clean_params_from_config(&p, cfg, profile, &err);
  tm_config_free(cfg);
  if (rc < 0) {
    fprintf(stderr, "tokenmill clean: %s\n", err.msg);
    return TM_EXIT_USAGE;
  }
  tm_reader_options ro = p.reader;
  ro.source = p.source;
  ro.text_field = field ? field : p.reader_text_field;
  if (format && (int)(ro.format = tm_reader_format_parse(format)) < 0) {
    fprintf(stderr, "tokenmill clean: unknown --format '%s'\n", format);
    return TM_EXIT_USAGE;
  }
  if (kind && (int)(ro.field_kind = tm_field_kind_parse(kind)) < 0) {
    fprintf(stderr, "tokenmill clean: unknown --field-kind '%s'\n", kind);
    return TM_EXIT_USAGE;
  }
  if (split) ro.text_split_blank_lines = 1;

  ctx c;
  memset(&c, 0, sizeof c);
  c.explain = explain;
  c.kept.fd = c.rejects.fd = c.quarantine.fd = -1;
  if (tm_clean_new(&c.stage, &p, &err) < 0) {
    fprintf(stderr, "tokenmill clean: %s\n", err.msg);
    return TM_EXIT_USAGE;
  }
  tm_clean_set_timing(c.stage, timing);
  char qdir[4200];
  if (!explain) {
    snprintf(qdir, sizeof qdir, "%s/quarantine", out);
    if (tm_io_mkdirs(qdir, &err) < 0 || out_open(&c.kept, out, "kept.jsonl", &err) < 0 ||
        out_open(&c.rejects, out, "rejects.jsonl", &err) < 0 ||
        out_open(&c.quarantine, qdir, "records.jsonl", &err) < 0) {
      fprintf(stderr, "tokenmill clean: %s\n", err.msg);
      tm_clean_free(c.stage);
      return TM_EXIT_RUNTIME;
    }
  }
  rc = 0;
  for (int i = optind; rc == 0 && i < argc && !c.explained; i++) rc = process_file(&c, argv[i], &ro, &err);
  int exit_code = TM_EXIT_OK;
  if (!explain) {
    if (rc == 0) rc = out_close(&c.kept, &err);
    if (rc == 0) rc = out_close(&c.rejects, &err);
    if (rc == 0) rc = out_close(&c.quarantine, &err);
    if (rc == 0) {
      json_t *st = stats_json(&c, &p, timing);
      char *s = json_dumps(st, JSON_INDENT(2));
      char path[4200];
      snprintf(path, sizeof path, "%s/stats.json", out);
      rc = s ? tm_io_write_file_atomic(path, s, strlen(s), "clean", &err) : -TM_ENOMEM;
      free(s);
      json_decref(st);
    }
    const tm_clean_stats *s = tm_clean_get_stats(c.stage);
    tm_info("clean_done", "docs_in=%llu kept=%llu dropped=%llu modified=%llu rejected=%llu",
            (unsigned long long)s->docs_in, (unsigned long long)s->docs_kept,
            (unsigned long long)s->docs_dropped, (unsigned long long)s->docs_modified,
            (unsigned long long)c.quarantined);
  } else if (rc == 0 && !c.explained) {
    fprintf(stderr, "tokenmill clean: no document with id '%s'\n", explain);
    exit_code = TM_EXIT_RUNTIME;
  }
  if (rc < 0) {
    fprintf(stderr, "tokenmill clean: %s\n", err.msg);
    exit_code = TM_EXIT_RUNTIME;
  } else if (c.input_errors) {
    exit_code = TM_EXIT_RUNTIME;
  } else if (c.quarantined && exit_code == TM_EXIT_OK) {
    exit_code = TM_EXIT_REJECTED;
  }
  free(c.kept.buf);
  free(c.rejects.buf);
  free(c.quarantine.buf);
  tm_clean_free(c.stage);
  return exit_code;
}
