/* shard_export.c - llm.c, Megatron and datatrove layouts; see shard_export.h. */
#include "shard_export.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "manifest.h"
#include "shard.h"

#define SITE "export"
#define BLOCK_TOKENS (1u << 18)

int tm_export_format_parse(const char *name) {
  if (!strcmp(name, "llmc")) return TM_EXPORT_LLMC;
  if (!strcmp(name, "megatron")) return TM_EXPORT_MEGATRON;
  if (!strcmp(name, "datatrove")) return TM_EXPORT_DATATROVE;
  return -1;
}

/* A buffered output file published by rename on close. */
typedef struct {
  char path[PATH_MAX], tmp[PATH_MAX + 8];
  int fd;
  uint8_t buf[1 << 16];
  size_t fill;
} out_file;

static int out_open(out_file *f, const char *dir, const char *name, const char *ext,
                    tm_error *err) {
  snprintf(f->path, sizeof f->path, "%s/%s%s", dir, name, ext);
  snprintf(f->tmp, sizeof f->tmp, "%s.tmp", f->path);
  f->fill = 0;
  f->fd = tm_io_open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644, SITE, err);
  return f->fd < 0 ? f->fd : 0;
}

static int out_flush(out_file *f, tm_error *err) {
  int rc = f->fill ? tm_io_write(f->fd, f->buf, f->fill, f->tmp, SITE, err) : 0;
  f->fill = 0;
  return rc;
}

static int out_put(out_file *f, const void *p, size_t n, tm_error *err) {
  const uint8_t *s = p;
  while (n) {
    if (f->fill == sizeof f->buf) {
      int rc = out_flush(f, err);
      if (rc < 0) return rc;
    }
    size_t k = sizeof f->buf - f->fill < n ? sizeof f->buf - f->fill : n;
    memcpy(f->buf + f->fill, s, k);
    f->fill += k;
    s += k;
    n -= k;
  }
  return 0;
}

static int out_u64(out_file *f, uint64_t v, tm_error *err) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
  return out_put(f, b, 8, err);
}
static int out_u32(out_file *f, uint32_t v, tm_error *err) {
  uint8_t b[4];
  for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
  return out_put(f, b, 4, err);
}

static int out_close(out_file *f, tm_error *err) {
  int rc = out_flush(f, err);
  if (rc == 0) rc = tm_io_fsync(f->fd, f->tmp, SITE, err);
  if (rc == 0) rc = tm_io_close(f->fd, f->tmp, SITE, err);
  else close(f->fd);
  f->fd = -1;
  if (rc == 0) rc = tm_io_rename(f->tmp, f->path, SITE, err);
  if (rc < 0) unlink(f->tmp);
  return rc;
}

static void out_abort(out_file *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  unlink(f->tmp);
}

/* The token stream in the shard's width, or converted to width out_w. */
static int put_stream(tm_shard_reader *r, out_file *f, unsigned out_w, tm_error *err) {
  const tm_shard_info *i = tm_shard_reader_info(r);
  uint32_t *blk = malloc(BLOCK_TOKENS * sizeof *blk);
  uint16_t *b16 = malloc(BLOCK_TOKENS * sizeof *b16);
  if (!blk || !b16) {
    free(blk), free(b16);
    return tm_err(err, TM_ENOMEM, "out of memory");
  }
  int rc = 0;
  for (uint64_t a = 0; a < i->n_tokens && rc == 0; a += BLOCK_TOKENS) {
    uint64_t b = a + BLOCK_TOKENS < i->n_tokens ? a + BLOCK_TOKENS : i->n_tokens;
    rc = tm_shard_read_range(r, a, b, blk, err);
    if (rc < 0) break;
    size_t n = (size_t)(b - a);
    if (out_w == 2) {
      for (size_t k = 0; k < n; k++) b16[k] = (uint16_t)blk[k];
      rc = out_put(f, b16, n * 2, err);
    } else {
      rc = out_put(f, blk, n * 4, err);
    }
  }
  free(blk);
  free(b16);
  return rc;
}

static int export_llmc(tm_shard_reader *r, const char *out_dir, const char *base, tm_error *err) {
  const tm_shard_info *i = tm_shard_reader_info(r);
  if (i->vocab_size > 65536)
    return tm_err(err, TM_EINVAL,
                  "%s: vocabulary of %u does not fit llm.c's uint16 token files (ids above 65535)",
                  tm_shard_reader_path(r), i->vocab_size);
  if (i->n_tokens > INT32_MAX)
    return tm_err(err, TM_ELIMIT, "%s: %" PRIu64 " tokens exceed llm.c's int32 count",
                  tm_shard_reader_path(r), i->n_tokens);
  out_file *f = malloc(sizeof *f);
  if (!f) return tm_err(err, TM_ENOMEM, "out of memory");
  int rc = out_open(f, out_dir, base, ".bin", err);
  if (rc < 0) {
    free(f);
    return rc;
  }
  int32_t header[256] = {20240520, 1, (int32_t)i->n_tokens};
  for (int k = 0; k < 256 && rc == 0; k++) rc = out_u32(f, (uint32_t)header[k], err);
  if (rc == 0) rc = put_stream(r, f, 2, err);
  if (rc == 0) rc = out_close(f, err);
  else out_abort(f);
  free(f);
  return rc;
}

static int export_megatron(tm_shard_reader *r, const char *out_dir, const char *base,
                           tm_error *err) {
  const tm_shard_info *i = tm_shard_reader_info(r);
  unsigned w = i->vocab_size <= 65536 ? 2 : 4;
  out_file *f = malloc(sizeof *f);
  if (!f) return tm_err(err, TM_ENOMEM, "out of memory");
  int rc = out_open(f, out_dir, base, ".bin", err);
  if (rc == 0) {
    rc = put_stream(r, f, w, err);
    if (rc == 0) rc = out_close(f, err);
    else out_abort(f);
  }
  if (rc == 0) rc = out_open(f, out_dir, base, ".idx", err);
  if (rc < 0) {
    free(f);
    return rc;
  }
  rc = out_put(f, "MMIDIDX\0\0", 9, err);
  if (rc == 0) rc = out_u64(f, 1, err);
  uint8_t dtype = w == 2 ? 8 : 4;
  if (rc == 0) rc = out_put(f, &dtype, 1, err);
  if (rc == 0) rc = out_u64(f, i->n_docs, err);
  if (rc == 0) rc = out_u64(f, i->n_docs + 1, err);
  tm_shard_doc d;
  for (uint64_t k = 0; k < i->n_docs && rc == 0; k++) {
    rc = tm_shard_doc_meta(r, k, &d, err);
    if (rc == 0) rc = out_u32(f, d.n_tokens + 1, err);
  }
  for (uint64_t k = 0; k < i->n_docs && rc == 0; k++) {
    rc = tm_shard_doc_meta(r, k, &d, err);
    if (rc == 0) rc = out_u64(f, d.token_offset * w, err);
  }
  for (uint64_t k = 0; k <= i->n_docs && rc == 0; k++) rc = out_u64(f, k, err);
  if (rc == 0) rc = out_close(f, err);
  else out_abort(f);
  free(f);
  return rc;
}

static int export_datatrove(tm_shard_reader *r, const char *out_dir, const char *base,
                            tm_error *err) {
  const tm_shard_info *i = tm_shard_reader_info(r);
  unsigned w = i->vocab_size <= 65536 ? 2 : 4;
  out_file *f = malloc(sizeof *f);
  if (!f) return tm_err(err, TM_ENOMEM, "out of memory");
  int rc = out_open(f, out_dir, base, ".ds", err);
  if (rc == 0) {
    rc = put_stream(r, f, w, err);
    if (rc == 0) rc = out_close(f, err);
    else out_abort(f);
  }
  if (rc == 0) rc = out_open(f, out_dir, base, ".ds.index", err);
  if (rc == 0) {
    tm_shard_doc d;
    for (uint64_t k = 0; k < i->n_docs && rc == 0; k++) {
      rc = tm_shard_doc_meta(r, k, &d, err);
      if (rc == 0) rc = out_u64(f, d.token_offset + d.n_tokens + 1, err);
    }
    if (rc == 0) rc = out_close(f, err);
    else out_abort(f);
  }
  if (rc == 0) rc = out_open(f, out_dir, base, ".ds.metadata", err);
  if (rc == 0) {
    char meta[160];
    double t = (double)i->n_tokens;
    const char *unit = "";
    if (t >= 1e9) t /= 1e9, unit = "G";
    else if (t >= 1e6) t /= 1e6, unit = "M";
    else if (t >= 1e3) t /= 1e3, unit = "k";
    int n = snprintf(meta, sizeof meta, "tokenmill:%016" PRIx64 "\n%" PRIu64 "\n%.1f %sT",
                     i->tokenizer_hash, i->n_tokens, t, unit);
    rc = out_put(f, meta, (size_t)n, err);
    if (rc == 0) rc = out_close(f, err);
    else out_abort(f);
  }
  free(f);
  return rc;
}

int tm_shards_export(const char *shard_dir, const char *out_dir, tm_export_format fmt,
                     uint64_t *files, tm_error *err) {
  if (files) *files = 0;
  tm_manifest m;
  int rc = tm_manifest_load(&m, shard_dir, 0, err);
  if (rc < 0) return rc;
  rc = tm_io_mkdirs(out_dir, err);
  for (size_t s = 0; s < m.n_shards && rc == 0; s++) {
    char path[PATH_MAX], base[256];
    snprintf(path, sizeof path, "%s/%s", shard_dir, m.shards[s].name);
    snprintf(base, sizeof base, "%s", m.shards[s].name);
    char *dot = strrchr(base, '.');
    if (dot) *dot = 0;
    tm_shard_reader *r;
    rc = tm_shard_open(&r, path, err);
    if (rc < 0) break;
    switch (fmt) {
    case TM_EXPORT_LLMC: rc = export_llmc(r, out_dir, base, err); break;
    case TM_EXPORT_MEGATRON: rc = export_megatron(r, out_dir, base, err); break;
    case TM_EXPORT_DATATROVE: rc = export_datatrove(r, out_dir, base, err); break;
    }
    tm_shard_close(r);
    if (rc == 0 && files) *files += fmt == TM_EXPORT_LLMC ? 1 : fmt == TM_EXPORT_MEGATRON ? 2 : 3;
  }
  tm_manifest_free(&m);
  return rc;
}
