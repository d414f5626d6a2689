/* build_dist.c - a build over W processes on a shared filesystem (build.h).
 *
 * OUT/.dist/ holds the coordination files:
 *   rank-R/keys.bin       pass 1: dedup keys of rank R's clean-kept documents
 *   rank-R/verdicts.bin   one byte per such document: 0 keep, 1 exact, 2 near
 *   rank-R/out/           pass 2: rank R's own (resumable) build
 *   rank-R/pass2.done     rank R finished pass 2
 *   rank-R/failed         rank R's error, when it failed (the others stop)
 *   verdicts.done         rank 0 wrote every verdict file and the tokenizer
 * Every file is published atomically (tmp + rename), so a marker's presence
 * means its content is complete. A rerun of the same command skips the
 * steps whose outputs exist. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "build_int.h"
#include "dedup/dedup.h"
#include "io.h"
#include "log.h"
#include "manifest.h"
#include "tokenizer.h"

#define SITE "dist"

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static void rank_path(char *out, size_t cap, const char *outdir, int r, const char *name) {
  snprintf(out, cap, "%s/.dist/rank-%d/%s", outdir, r, name);
}

/* Wait until every path exists; fail when a rank reports failure. */
static int wait_for(const tm_build_options *o, int world, const char *name, int only_rank, tm_error *err) {
  char p[PATH_MAX];
  for (unsigned long spins = 0;; spins++) {
    int missing = 0;
    for (int r = 0; r < world; r++) {
      if (only_rank >= 0 && r != only_rank) continue;
      rank_path(p, sizeof p, o->out_dir, r, "failed");
      if (exists(p)) {
        char *msg = NULL;
        size_t len;
        tm_io_read_file(p, 4096, &msg, &len, NULL);
        int rc = tm_err(err, TM_EPEER, "rank %d of %d failed: %s", r, world, msg ? msg : "?");
        free(msg);
        return rc;
      }
      if (name[0] == '/') snprintf(p, sizeof p, "%s/.dist%s", o->out_dir, name);
      else rank_path(p, sizeof p, o->out_dir, r, name);
      if (!exists(p)) missing++;
    }
    if (!missing) return 0;
    if (spins % 300 == 0) tm_info("dist_waiting", "for=%s missing=%d", name, missing);
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

static int mark(const char *path, const char *text, tm_error *err) {
  return tm_io_write_file_atomic(path, text, strlen(text), SITE, err);
}

/* Rank 0: the global dedup index over every rank's keys, in rank order. */
static int decide(const tm_build_options *o, int world, tm_error *err) {
  tm_dedup_params dp;
  tm_dedup_params_default(&dp);
  int rc = tm_dedup_params_from_config(o->cfg, &dp, err);
  if (rc < 0) return rc;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/.dist/dedup", o->out_dir);
  tm_dedup *d;
  if ((rc = tm_dedup_open(&d, &dp, dir, err)) < 0) return rc;
  if (tm_dedup_committed_token(d) != 0) {
    tm_dedup_close(d);
    return tm_err(err, TM_ESTATE, "%s holds an earlier decision pass: remove %s/.dist to start again", dir, o->out_dir);
  }
  uint32_t k = (uint32_t)tm_dedup_num_perm(d);
  uint32_t *sig = malloc((k ? k : 1) * sizeof *sig);
  char *id = malloc(65536);
  uint64_t total = 0, dups = 0;
  for (int r = 0; r < world && rc == 0 && sig && id; r++) {
    char kp[PATH_MAX], vp[PATH_MAX];
    rank_path(kp, sizeof kp, o->out_dir, r, "keys.bin");
    rank_path(vp, sizeof vp, o->out_dir, r, "verdicts.bin");
    FILE *f = fopen(kp, "rb");
    if (!f) {
      rc = tm_err_sys(err, "%s", kp);
      break;
    }
    char magic[8];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, TM_BUILD_KEYS_MAGIC, 8)) {
      fclose(f);
      rc = tm_err(err, TM_EFORMAT, "%s: not a keys file", kp);
      break;
    }
    uint8_t *v = NULL;
    size_t nv = 0, cap = 0;
    for (;;) {
      uint8_t head[40];
      size_t got = fread(head, 1, 40, f);
      if (got == 0) break;
      long off = ftell(f) - (long)got;
      if (got != 40) {
        rc = tm_err(err, TM_ECORRUPT, "%s: truncated record at offset %ld", kp, off);
        break;
      }
      size_t idl = (size_t)head[0] | ((size_t)head[1] << 8);
      int has_sig = head[2] & 1;
      uint32_t rk;
      memcpy(&rk, head + 4, 4);
      tm_dedup_prepared p;
      memset(&p, 0, sizeof p);
      memcpy(p.exact, head + 8, 16);
      uint64_t sh, len;
      memcpy(&sh, head + 24, 8);
      memcpy(&len, head + 32, 8);
      p.shingles = (size_t)sh;
      p.len = (size_t)len;
      p.cjk = (head[2] & 2) != 0;
      if (rk != k || fread(id, 1, idl, f) != idl || (has_sig && fread(sig, 4, k, f) != k)) {
        rc = tm_err(err, TM_ECORRUPT, "%s: bad record at offset %ld", kp, off);
        break;
      }
      p.sig = has_sig ? sig : NULL;
      tm_dedup_verdict vd;
      if ((rc = tm_dedup_commit(d, id, idl, &p, &vd, err)) < 0) break;
      if (nv == cap) {
        cap = cap ? cap * 2 : 4096;
        uint8_t *nb = realloc(v, cap);
        if (!nb) {
          rc = tm_err(err, TM_ENOMEM, "out of memory");
          break;
        }
        v = nb;
      }
      v[nv++] = vd.kind == TM_DEDUP_EXACT ? 1 : vd.kind == TM_DEDUP_NEAR ? 2 : 0;
      dups += vd.kind != TM_DEDUP_UNIQUE;
      total++;
    }
    fclose(f);
    if (rc == 0) rc = tm_io_write_file_atomic(vp, v ? (const char *)v : "", nv, SITE, err);
    free(v);
  }
  free(sig);
  free(id);
  tm_dedup_close(d);
  if (rc == 0) tm_info("dist_decided", "documents=%" PRIu64 " duplicates=%" PRIu64, total, dups);
  return rc;
}

/* Rank 0: move every rank's shards into OUT and publish one manifest. */
static int merge(const tm_build_options *o, int world, tm_build_result *res, tm_error *err) {
  tm_manifest m;
  int rc = tm_manifest_load(&m, o->out_dir, 1, err);
  if (rc < 0) return rc;
  tm_build_stats *total = calloc(1, sizeof *total), *part = calloc(1, sizeof *part);
  if (!total || !part) rc = tm_err(err, TM_ENOMEM, "out of memory");
  uint64_t shard_bytes = 0;
  for (int r = 0; r < world && rc == 0; r++) {
    char dir[PATH_MAX];
    rank_path(dir, sizeof dir, o->out_dir, r, "out");
    tm_manifest pm;
    if ((rc = tm_manifest_load(&pm, dir, 0, err)) < 0) break;
    for (size_t i = 0; i < pm.n_shards && rc == 0; i++) {
      char name[300], from[PATH_MAX + 300], to[PATH_MAX + 300];
      snprintf(name, sizeof name, "r%04d-%s", r, pm.shards[i].name);
      snprintf(from, sizeof from, "%s/%s", dir, pm.shards[i].name);
      snprintf(to, sizeof to, "%s/%s", o->out_dir, name);
      if (tm_manifest_find(&m, name) >= 0) continue; /* merged by an earlier run */
      if (!exists(to) && (rc = tm_io_rename(from, to, SITE, err)) < 0) break;
      tm_shard_info *info = calloc(1, sizeof *info);
      if (!info) {
        rc = tm_err(err, TM_ENOMEM, "out of memory");
        break;
      }
      tm_manifest_shard *s = &pm.shards[i];
      info->n_docs = s->documents;
      info->n_tokens = s->tokens;
      info->file_bytes = s->bytes;
      info->file_hash = s->file_hash;
      info->tokenizer_hash = s->tokenizer_hash;
      info->vocab_size = pm.vocab_size;
      info->eot_id = pm.eot_id;
      info->n_sources = s->n_sources;
      for (uint32_t k = 0; k < s->n_sources; k++) {
        snprintf(info->source_names[k], sizeof info->source_names[k], "%s", s->sources[k].name);
        info->source_tokens[k] = s->sources[k].tokens;
        info->source_docs[k] = s->sources[k].docs;
      }
      rc = tm_manifest_add(&m, name, info, err);
      free(info);
    }
    if (rc == 0 && pm.journal) {
      json_t *j = json_loads(pm.journal, 0, NULL);
      if (tm_build_stats_from_json(part, json_object_get(j, "stats")) == 0)
        for (int si = 0; si < part->n_sources; si++) {
          tm_build_source *a = &part->sources[si], *t = tm_build_stats_source(total, a->name);
          t->files += a->files, t->docs_in += a->docs_in, t->bytes_in += a->bytes_in;
          t->kept += a->kept, t->bytes_kept += a->bytes_kept, t->dropped += a->dropped;
          t->bytes_dropped += a->bytes_dropped, t->modified += a->modified;
          t->exact_dups += a->exact_dups, t->near_dups += a->near_dups, t->rejected += a->rejected;
          t->tokens += a->tokens;
          for (int q = 0; q < a->n_rules; q++) {
            tm_build_rule *ar = &a->rules[q];
            tm_build_stats_drop(t, ar->rule, 0, ar->example_id, ar->example, strlen(ar->example));
            for (int z = 0; z < t->n_rules; z++)
              if (!strcmp(t->rules[z].rule, ar->rule)) t->rules[z].docs += ar->docs - 1, t->rules[z].bytes += ar->bytes;
          }
        }
      json_decref(j);
    }
    tm_manifest_free(&pm);
  }
  if (rc == 0) {
    json_t *j = json_object();
    json_object_set_new(j, "version", json_integer(1));
    json_object_set_new(j, "distributed", json_integer(world));
    json_object_set_new(j, "stats", tm_build_stats_to_json(total));
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    rc = text ? tm_manifest_set_journal(&m, text, err) : tm_err(err, TM_ENOMEM, "out of memory");
    free(text);
  }
  if (rc == 0) rc = tm_manifest_save(&m, o->out_dir, err);
  if (rc == 0) {
    for (size_t i = 0; i < m.n_shards; i++) shard_bytes += m.shards[i].bytes;
    for (int i = 0; i < total->n_sources; i++) {
      tm_build_source *s = &total->sources[i];
      res->docs_in += s->docs_in, res->docs_kept += s->kept, res->docs_dropped += s->dropped;
      res->exact_dups += s->exact_dups, res->near_dups += s->near_dups, res->rejected += s->rejected;
    }
    res->tokens = tm_manifest_total_tokens(&m);
    res->shards = m.n_shards;
    tm_build_timing t = {.threads = o->threads};
    tm_build_report_in rin = {.out_dir = o->out_dir, .stats = total, .timing = &t, .shards = m.n_shards,
                              .shard_bytes = shard_bytes, .tokens = res->tokens, .vocab_size = m.vocab_size,
                              .tokenizer_hash = m.tokenizer_hash,
                              .tokenizer_origin = "trained by rank 0 on the first cleaned input"};
    rc = tm_build_write_report(&rin, err);
  }
  free(total);
  free(part);
  tm_manifest_free(&m);
  return rc;
}

int tm_build_run_distributed(const tm_build_options *o, int rank, int world, tm_build_result *res,
                             tm_error *err) {
  memset(res, 0, sizeof *res);
  if (world < 2 || rank < 0 || rank >= world)
    return tm_err(err, TM_EINVAL, "rank %d of world %d: need 0 <= rank < world and world >= 2", rank, world);
  char p[PATH_MAX + 64], mine[PATH_MAX + 64], tok[PATH_MAX + 64];
  rank_path(mine, sizeof mine, o->out_dir, rank, "");
  int rc = tm_io_mkdirs(mine, err);
  if (rc < 0) return rc;
  snprintf(tok, sizeof tok, "%s/tokenizer.json", o->out_dir);
  tm_build_options so = *o;
  tm_build_result r1;

  /* pass 1: keys of this rank's share */
  rank_path(p, sizeof p, o->out_dir, rank, "keys.bin");
  if (!exists(p)) {
    char sdir[PATH_MAX];
    rank_path(sdir, sizeof sdir, o->out_dir, rank, "sign");
    so.out_dir = sdir;
    so.part_rank = rank;
    so.part_world = world;
    so.sign_keys = p;
    so.verdicts = NULL;
    rc = tm_build_run(&so, &r1, err);
    if (rc == 0 && r1.interrupted) return 0;
  }
  /* rank 0: tokenizer (as a one-process build trains it) and the verdicts */
  snprintf(p, sizeof p, "%s/.dist/verdicts.done", o->out_dir);
  if (rc == 0 && rank == 0 && !exists(p)) {
    rc = wait_for(o, world, "keys.bin", -1, err);
    if (rc == 0 && !o->tokenizer_path && !exists(tok)) {
      char tdir[PATH_MAX];
      snprintf(tdir, sizeof tdir, "%s/.dist/tokenizer", o->out_dir);
      so = *o;
      so.out_dir = tdir;
      so.stop_after_docs = 1; /* the tokenizer is trained before any document is read */
      rc = tm_build_run(&so, &r1, err);
      char from[PATH_MAX + 32];
      snprintf(from, sizeof from, "%s/tokenizer.json", tdir);
      char *t = NULL;
      size_t tl;
      if (rc == 0) rc = tm_io_read_file(from, TM_TOKENIZER_MAX_JSON, &t, &tl, err);
      if (rc == 0) rc = tm_io_write_file_atomic(tok, t, tl, SITE, err);
      free(t);
    } else if (rc == 0 && o->tokenizer_path && !exists(tok)) {
      char *t = NULL;
      size_t tl;
      rc = tm_io_read_file(o->tokenizer_path, TM_TOKENIZER_MAX_JSON, &t, &tl, err);
      if (rc == 0) rc = tm_io_write_file_atomic(tok, t, tl, SITE, err);
      free(t);
    }
    if (rc == 0) rc = decide(o, world, err);
    if (rc == 0) rc = mark(p, "ok\n", err);
  }
  if (rc == 0) rc = wait_for(o, world, "/verdicts.done", rank, err);
  /* pass 2: this rank's build with the global verdicts */
  rank_path(p, sizeof p, o->out_dir, rank, "pass2.done");
  if (rc == 0 && !exists(p)) {
    char odir[PATH_MAX], vp[PATH_MAX];
    rank_path(odir, sizeof odir, o->out_dir, rank, "out");
    rank_path(vp, sizeof vp, o->out_dir, rank, "verdicts.bin");
    so = *o;
    so.out_dir = odir;
    so.part_rank = rank;
    so.part_world = world;
    so.sign_keys = NULL;
    so.verdicts = vp;
    so.tokenizer_path = tok;
    rc = tm_build_run(&so, &r1, err);
    if (rc == 0 && r1.interrupted) {
      res->interrupted = 1;
      return 0;
    }
    if (rc == 0) rc = mark(p, "ok\n", err);
    res->rejected = r1.rejected;
  }
  /* rank 0: merge */
  if (rc == 0 && rank == 0) {
    rc = wait_for(o, world, "pass2.done", -1, err);
    if (rc == 0) rc = merge(o, world, res, err);
  }
  if (rc < 0) {
    rank_path(p, sizeof p, o->out_dir, rank, "failed");
    mark(p, err->msg, NULL);
  }
  return rc;
}
