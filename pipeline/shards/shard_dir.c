/* shard_dir.c - see shard_dir.h. */
#include "shard_dir.h"

#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "log.h"

struct tm_shard_dir {
  char dir[PATH_MAX];
  tm_shard_dir_options o;
  tm_manifest m;
  tm_shard_writer *w;
  char cur_name[64];
  char next_name[64];
  uint64_t next_index;
  tm_shard_dir_commit_fn hook;
  void *hook_user;
};

static void set_next_name(tm_shard_dir *d) {
  snprintf(d->next_name, sizeof d->next_name, "s-%06" PRIu64 ".tms", d->next_index);
}

void tm_shard_dir_set_commit_hook(tm_shard_dir *d, tm_shard_dir_commit_fn fn, void *user) {
  d->hook = fn;
  d->hook_user = user;
}

const char *tm_shard_dir_next_name(const tm_shard_dir *d) { return d->next_name; }

/* Add a sealed shard file to the manifest (with the journal) and publish. */
static int publish(tm_shard_dir *d, const char *name, const tm_shard_info *info,
                   const char *journal, tm_error *err) {
  char *old = d->m.journal ? strdup(d->m.journal) : NULL;
  int rc = tm_manifest_add(&d->m, name, info, err);
  if (rc < 0) {
    free(old);
    return rc;
  }
  if (journal) rc = tm_manifest_set_journal(&d->m, journal, err);
  if (rc == 0) rc = tm_manifest_save(&d->m, d->dir, err);
  if (rc < 0) { /* not published: back to the previous state */
    d->m.n_shards--;
    free(d->m.shards[d->m.n_shards].sources);
    free(d->m.journal);
    d->m.journal = old;
    return rc;
  }
  free(old);
  return 0;
}

int tm_shard_dir_commit_journal(tm_shard_dir *d, const char *journal, tm_error *err) {
  char *old = d->m.journal ? strdup(d->m.journal) : NULL;
  int rc = tm_manifest_set_journal(&d->m, journal, err);
  if (rc == 0) rc = tm_manifest_save(&d->m, d->dir, err);
  if (rc < 0) {
    free(d->m.journal);
    d->m.journal = old;
    return rc;
  }
  free(old);
  return 0;
}

int tm_shard_dir_adopt(tm_shard_dir *d, const char *journal, tm_error *err) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", d->dir, d->next_name);
  tm_shard_info *info = malloc(sizeof *info);
  if (!info) return tm_err(err, TM_ENOMEM, "out of memory");
  int rc = tm_shard_verify(path, info, err);
  if (rc == 0 && (info->tokenizer_hash != d->o.params.tokenizer_hash ||
                  info->vocab_size != d->o.params.vocab_size))
    rc = tm_err(err, TM_EINVAL, "%s: written with another tokenizer", path);
  if (rc == 0) rc = publish(d, d->next_name, info, journal, err);
  if (rc == 0) {
    tm_info("shard_adopted", "dir=%s name=%s docs=%" PRIu64, d->dir, d->next_name, info->n_docs);
    d->next_index++;
    set_next_name(d);
  }
  free(info);
  return rc;
}

/* Remove NAME.tmp leftovers of a crashed writer. */
static void remove_stale_tmp(const char *dir) {
  DIR *dh = opendir(dir);
  if (!dh) return;
  struct dirent *e;
  while ((e = readdir(dh))) {
    size_t n = strlen(e->d_name);
    if (n > 8 && !strcmp(e->d_name + n - 8, ".tms.tmp")) {
      char p[PATH_MAX];
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      tm_io_unlink(p, "shard", NULL);
      tm_info("shard_tmp_removed", "path=%s", p);
    }
  }
  closedir(dh);
}

int tm_shard_dir_open(tm_shard_dir **out, const char *dir, const tm_shard_dir_options *o,
                      tm_error *err) {
  *out = NULL;
  tm_shard_dir *d = calloc(1, sizeof *d);
  if (!d) return tm_err(err, TM_ENOMEM, "out of memory");
  snprintf(d->dir, sizeof d->dir, "%s", dir);
  d->o = *o;
  if (!d->o.max_tokens) d->o.max_tokens = 128ull << 20;
  if (!d->o.max_docs) d->o.max_docs = 4ull << 20;
  int rc = tm_io_mkdirs(dir, err);
  if (rc == 0) rc = tm_manifest_load(&d->m, dir, 1, err);
  if (rc < 0) {
    free(d);
    return rc;
  }
  const tm_shard_params *p = &o->params;
  if (d->m.n_shards && (d->m.tokenizer_hash != p->tokenizer_hash ||
                        d->m.vocab_size != p->vocab_size || d->m.eot_id != p->eot_id)) {
    rc = tm_err(err, TM_EINVAL,
                "%s: holds shards of tokenizer %016" PRIx64 " (vocab %u), not %016" PRIx64
                " (vocab %u): use a new output directory",
                dir, d->m.tokenizer_hash, d->m.vocab_size, p->tokenizer_hash, p->vocab_size);
    tm_manifest_free(&d->m);
    free(d);
    return rc;
  }
  for (size_t i = 0; i < d->m.n_shards; i++) {
    unsigned long long k;
    if (sscanf(d->m.shards[i].name, "s-%llu.tms", &k) == 1 && k + 1 > d->next_index)
      d->next_index = k + 1;
  }
  remove_stale_tmp(dir);
  set_next_name(d);
  *out = d;
  return 0;
}

int tm_shard_dir_seal(tm_shard_dir *d, tm_error *err) {
  if (!d->w) return 0;
  tm_shard_writer *w = d->w;
  d->w = NULL;
  if (tm_shard_writer_docs(w) == 0) {
    tm_shard_writer_abort(w);
    return 0;
  }
  tm_shard_info *info = malloc(sizeof *info);
  if (!info) {
    tm_shard_writer_abort(w);
    return tm_err(err, TM_ENOMEM, "out of memory");
  }
  int rc = tm_shard_writer_close(w, info, err);
  char *journal = NULL;
  if (rc == 0 && d->hook) rc = d->hook(d->hook_user, d->cur_name, d->m.n_shards + 1, &journal, err);
  if (rc == 0) rc = publish(d, d->cur_name, info, journal, err);
  free(journal);
  if (rc == 0)
    tm_info("shard_sealed", "dir=%s name=%s docs=%" PRIu64 " tokens=%" PRIu64 " bytes=%" PRIu64
            " generation=%" PRIu64, d->dir, d->cur_name, info->n_docs, info->n_tokens,
            info->file_bytes, d->m.generation);
  free(info);
  return rc;
}

int tm_shard_dir_append(tm_shard_dir *d, const uint32_t *tokens, size_t n, uint64_t doc_id,
                        const char *source, tm_error *err) {
  if (!d->w) {
    memcpy(d->cur_name, d->next_name, sizeof d->cur_name);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", d->dir, d->cur_name);
    int rc = tm_shard_writer_open(&d->w, path, &d->o.params, err);
    if (rc < 0) return rc;
    d->next_index++;
    set_next_name(d);
  }
  int rc = tm_shard_writer_append(d->w, tokens, n, doc_id, source, err);
  if (rc < 0) return rc;
  if (tm_shard_writer_tokens(d->w) >= d->o.max_tokens || tm_shard_writer_docs(d->w) >= d->o.max_docs)
    return tm_shard_dir_seal(d, err);
  return 0;
}

uint64_t tm_shard_dir_pending_docs(const tm_shard_dir *d) {
  return d->w ? tm_shard_writer_docs(d->w) : 0;
}

const tm_manifest *tm_shard_dir_manifest(const tm_shard_dir *d) { return &d->m; }

int tm_shard_dir_close(tm_shard_dir *d, tm_error *err) {
  int rc = tm_shard_dir_seal(d, err);
  if (d->w) tm_shard_writer_abort(d->w);
  tm_manifest_free(&d->m);
  free(d);
  return rc;
}

void tm_shard_dir_abort(tm_shard_dir *d) {
  if (!d) return;
  if (d->w) tm_shard_writer_abort(d->w);
  tm_manifest_free(&d->m);
  free(d);
}
