/* shard_writer.c - writes a shard: frames as they fill, index at close.
 *
 * Memory: one frame of raw tokens, one compression buffer, the chunk table
 * (32 bytes per frame) and the document table (24 bytes per document) of the
 * shard being written. Drivers bound the latter with [shard] max_docs.
 * The whole-file hash is computed as bytes are written (no re-read). */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* inlined, so XXH3 is compiled for the build's -march (Debian's libxxhash is an
 * SSE2 build): the frame checksums are a measured part of the read path */
#define XXH_INLINE_ALL
#include <xxhash.h>
#include <zstd.h>

#include "io.h"
#include "shard.h"
#include "shard_layout.h"

#define SITE "shard"

struct tm_shard_writer {
  char path[PATH_MAX];
  char tmp[PATH_MAX];
  int fd;
  tm_shard_params p;
  unsigned width;
  uint32_t frame_tokens;
  uint8_t *frame; /* raw tokens of the current chunk */
  uint32_t frame_fill;
  uint8_t *cbuf;
  size_t cbuf_cap;
  ZSTD_CCtx *cctx;
  uint64_t offset; /* bytes written so far */
  uint64_t n_tokens;
  tms_chunk *chunks;
  size_t n_chunks, cap_chunks;
  uint8_t *docs; /* packed document entries */
  size_t n_docs, cap_docs;
  uint32_t n_sources;
  char (*sources)[TM_SHARD_SOURCE_NAME_MAX + 1];
  uint64_t source_tokens[TM_SHARD_MAX_SOURCES];
  uint64_t source_docs[TM_SHARD_MAX_SOURCES];
  XXH3_state_t *file_hash;
  int failed;
};

static void writer_free(tm_shard_writer *w) {
  if (!w) return;
  if (w->fd >= 0) close(w->fd);
  free(w->frame);
  free(w->cbuf);
  ZSTD_freeCCtx(w->cctx);
  free(w->chunks);
  free(w->docs);
  free(w->sources);
  if (w->file_hash) XXH3_freeState(w->file_hash);
  free(w);
}

static int put_bytes(tm_shard_writer *w, const void *buf, size_t len, tm_error *err) {
  int rc = tm_io_write(w->fd, buf, len, w->tmp, SITE, err);
  if (rc < 0) {
    w->failed = 1;
    return rc;
  }
  XXH3_64bits_update(w->file_hash, buf, len);
  w->offset += len;
  return 0;
}

int tm_shard_writer_open(tm_shard_writer **out, const char *path, const tm_shard_params *p,
                         tm_error *err) {
  *out = NULL;
  if (p->vocab_size == 0 || p->eot_id >= p->vocab_size)
    return tm_err(err, TM_EINVAL, "%s: eot id %u outside vocabulary of %u", path, p->eot_id,
                  p->vocab_size);
  tm_shard_writer *w = calloc(1, sizeof *w);
  if (!w) return tm_err(err, TM_ENOMEM, "%s: out of memory", path);
  w->fd = -1;
  w->p = *p;
  if (w->p.frame_bytes == 0) w->p.frame_bytes = 1u << 20;
  if (w->p.zstd_level == 0) w->p.zstd_level = 3;
  w->width = tm_shard_token_width(p->vocab_size);
  size_t ft = w->p.frame_bytes / w->width;
  if (ft < 1) ft = 1;
  if (ft > (1u << 28)) ft = 1u << 28;
  w->frame_tokens = (uint32_t)ft;
  if (snprintf(w->path, sizeof w->path, "%s", path) >= (int)sizeof w->path ||
      snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path) >= (int)sizeof w->tmp) {
    writer_free(w);
    return tm_err(err, TM_EINVAL, "%s: path too long", path);
  }
  w->frame = malloc((size_t)w->frame_tokens * w->width);
  w->cbuf_cap = ZSTD_compressBound((size_t)w->frame_tokens * w->width);
  w->cbuf = malloc(w->cbuf_cap);
  w->cctx = ZSTD_createCCtx();
  w->sources = calloc(TM_SHARD_MAX_SOURCES, sizeof *w->sources);
  w->file_hash = XXH3_createState();
  if (!w->frame || !w->cbuf || !w->cctx || !w->sources || !w->file_hash) {
    writer_free(w);
    return tm_err(err, TM_ENOMEM, "%s: out of memory", path);
  }
  XXH3_64bits_reset(w->file_hash);
  ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->p.zstd_level);
  ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 0);
  ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
  w->fd = tm_io_open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644, SITE, err);
  if (w->fd < 0) {
    int rc = w->fd;
    w->fd = -1;
    writer_free(w);
    return rc;
  }
  uint8_t h[TMS_HEADER_SIZE] = {0};
  memcpy(h, TMS_MAGIC, 8);
  tms_put32(h + 8, TMS_VERSION);
  tms_put32(h + 12, w->width);
  tms_put32(h + 16, p->vocab_size);
  tms_put32(h + 20, p->eot_id);
  tms_put64(h + 24, p->tokenizer_hash);
  tms_put32(h + 32, w->frame_tokens);
  tms_put32(h + 36, (uint32_t)w->p.zstd_level);
  tms_put64(h + 56, XXH3_64bits(h, 56));
  int rc = put_bytes(w, h, sizeof h, err);
  if (rc < 0) {
    tm_shard_writer_abort(w);
    return rc;
  }
  *out = w;
  return 0;
}

static int flush_frame(tm_shard_writer *w, tm_error *err) {
  if (w->frame_fill == 0) return 0;
  size_t raw = (size_t)w->frame_fill * w->width;
  size_t cs = ZSTD_compress2(w->cctx, w->cbuf, w->cbuf_cap, w->frame, raw);
  if (ZSTD_isError(cs)) {
    w->failed = 1;
    return tm_err(err, TM_EIO, "%s: zstd compression failed: %s", w->tmp, ZSTD_getErrorName(cs));
  }
  if (w->n_chunks == w->cap_chunks) {
    size_t nc = w->cap_chunks ? w->cap_chunks * 2 : 64;
    tms_chunk *n = realloc(w->chunks, nc * sizeof *n);
    if (!n) {
      w->failed = 1;
      return tm_err(err, TM_ENOMEM, "%s: out of memory", w->tmp);
    }
    w->chunks = n;
    w->cap_chunks = nc;
  }
  tms_chunk *c = &w->chunks[w->n_chunks];
  c->offset = w->offset;
  c->first_token = w->n_tokens - w->frame_fill;
  c->comp_size = (uint32_t)cs;
  c->n_tokens = w->frame_fill;
  c->hash = XXH3_64bits(w->cbuf, cs);
  int rc = put_bytes(w, w->cbuf, cs, err);
  if (rc < 0) return rc;
  w->n_chunks++;
  w->frame_fill = 0;
  return 0;
}

/* Copy n tokens into the frame (converting to the shard's width), flushing
 * full frames. Ids are checked against the vocabulary by the caller. */
static int push_tokens(tm_shard_writer *w, const uint32_t *t, size_t n, tm_error *err) {
  while (n) {
    size_t room = w->frame_tokens - w->frame_fill;
    size_t k = n < room ? n : room;
    if (w->width == 2) {
      uint16_t *dst = (uint16_t *)(void *)w->frame + w->frame_fill;
      for (size_t i = 0; i < k; i++) dst[i] = (uint16_t)t[i];
    } else {
      memcpy(w->frame + (size_t)w->frame_fill * 4, t, k * 4);
    }
    w->frame_fill += (uint32_t)k;
    w->n_tokens += k;
    t += k;
    n -= k;
    if (w->frame_fill == w->frame_tokens) {
      int rc = flush_frame(w, err);
      if (rc < 0) return rc;
    }
  }
  return 0;
}

static int source_index(tm_shard_writer *w, const char *source, tm_error *err) {
  size_t len = strlen(source);
  if (len == 0 || len > TM_SHARD_SOURCE_NAME_MAX)
    return tm_err(err, TM_EINVAL, "%s: source name must be 1..255 bytes", w->path);
  for (uint32_t i = 0; i < w->n_sources; i++)
    if (!strcmp(w->sources[i], source)) return (int)i;
  if (w->n_sources == TM_SHARD_MAX_SOURCES)
    return tm_err(err, TM_ELIMIT, "%s: more than %d sources in one shard", w->path,
                  TM_SHARD_MAX_SOURCES);
  memcpy(w->sources[w->n_sources], source, len + 1);
  return (int)w->n_sources++;
}

int tm_shard_writer_append(tm_shard_writer *w, const uint32_t *tokens, size_t n, uint64_t doc_id,
                           const char *source, tm_error *err) {
  if (w->failed) return tm_err(err, TM_ESTATE, "%s: writer failed earlier", w->tmp);
  if (n > UINT32_MAX - 1)
    return tm_err(err, TM_ELIMIT, "%s: document of %zu tokens is too long", w->path, n);
  uint32_t vocab = w->p.vocab_size;
  for (size_t i = 0; i < n; i++)
    if (tokens[i] >= vocab)
      return tm_err(err, TM_EINVAL, "%s: token %u at position %zu of document %zu >= vocab %u",
                    w->path, tokens[i], i, w->n_docs, vocab);
  int src = source_index(w, source, err);
  if (src < 0) return src;
  if (w->n_docs == w->cap_docs) {
    size_t nc = w->cap_docs ? w->cap_docs * 2 : 1024;
    uint8_t *d = realloc(w->docs, nc * TMS_DOC_ENTRY);
    if (!d) return tm_err(err, TM_ENOMEM, "%s: out of memory", w->path);
    w->docs = d;
    w->cap_docs = nc;
  }
  uint8_t *e = w->docs + w->n_docs * TMS_DOC_ENTRY;
  tms_put64(e, w->n_tokens);
  tms_put64(e + 8, doc_id);
  tms_put32(e + 16, (uint32_t)n);
  tms_put16(e + 20, (uint16_t)src);
  tms_put16(e + 22, 0);
  int rc = push_tokens(w, tokens, n, err);
  if (rc == 0) rc = push_tokens(w, &w->p.eot_id, 1, err);
  if (rc < 0) return rc;
  w->n_docs++;
  w->source_tokens[src] += n + 1;
  w->source_docs[src]++;
  return 0;
}

uint64_t tm_shard_writer_docs(const tm_shard_writer *w) { return w->n_docs; }
uint64_t tm_shard_writer_tokens(const tm_shard_writer *w) { return w->n_tokens; }
uint64_t tm_shard_writer_bytes(const tm_shard_writer *w) { return w->offset; }

void tm_shard_writer_abort(tm_shard_writer *w) {
  if (!w) return;
  if (w->fd >= 0) {
    close(w->fd);
    w->fd = -1;
    unlink(w->tmp);
  }
  writer_free(w);
}

static int write_index(tm_shard_writer *w, tm_error *err) {
  uint64_t index_offset = w->offset;
  XXH3_state_t *ih = XXH3_createState();
  if (!ih) return tm_err(err, TM_ENOMEM, "%s: out of memory", w->path);
  XXH3_64bits_reset(ih);
  uint64_t index_size = 0;
  int rc = 0;
  /* chunk table, in blocks */
  uint8_t blk[TMS_CHUNK_ENTRY * 256];
  for (size_t i = 0; i < w->n_chunks && rc == 0;) {
    size_t k = 0;
    for (; k < 256 && i < w->n_chunks; k++, i++) {
      uint8_t *e = blk + k * TMS_CHUNK_ENTRY;
      tms_put64(e, w->chunks[i].offset);
      tms_put64(e + 8, w->chunks[i].first_token);
      tms_put32(e + 16, w->chunks[i].comp_size);
      tms_put32(e + 20, w->chunks[i].n_tokens);
      tms_put64(e + 24, w->chunks[i].hash);
    }
    XXH3_64bits_update(ih, blk, k * TMS_CHUNK_ENTRY);
    index_size += k * TMS_CHUNK_ENTRY;
    rc = put_bytes(w, blk, k * TMS_CHUNK_ENTRY, err);
  }
  if (rc == 0 && w->n_docs) {
    XXH3_64bits_update(ih, w->docs, w->n_docs * TMS_DOC_ENTRY);
    index_size += w->n_docs * TMS_DOC_ENTRY;
    rc = put_bytes(w, w->docs, w->n_docs * TMS_DOC_ENTRY, err);
  }
  for (uint32_t s = 0; s < w->n_sources && rc == 0; s++) {
    uint8_t ent[1 + TM_SHARD_SOURCE_NAME_MAX];
    size_t len = strlen(w->sources[s]);
    ent[0] = (uint8_t)len;
    memcpy(ent + 1, w->sources[s], len);
    XXH3_64bits_update(ih, ent, len + 1);
    index_size += len + 1;
    rc = put_bytes(w, ent, len + 1, err);
  }
  uint64_t index_hash = XXH3_64bits_digest(ih);
  XXH3_freeState(ih);
  if (rc < 0) return rc;
  uint8_t t[TMS_TRAILER_SIZE] = {0};
  tms_put64(t, index_offset);
  tms_put64(t + 8, index_size);
  tms_put64(t + 16, w->n_tokens);
  tms_put64(t + 24, w->n_docs);
  tms_put32(t + 32, (uint32_t)w->n_chunks);
  tms_put32(t + 36, w->n_sources);
  tms_put64(t + 40, index_hash);
  tms_put64(t + 48, XXH3_64bits(t, 48));
  memcpy(t + 56, TMS_END_MAGIC, 8);
  return put_bytes(w, t, sizeof t, err);
}

int tm_shard_writer_close(tm_shard_writer *w, tm_shard_info *info, tm_error *err) {
  if (w->failed || w->n_chunks > UINT32_MAX) {
    int rc = w->failed ? tm_err(err, TM_ESTATE, "%s: writer failed earlier; shard discarded", w->path)
                       : tm_err(err, TM_ELIMIT, "%s: too many frames", w->path);
    tm_shard_writer_abort(w);
    return rc;
  }
  int rc = flush_frame(w, err);
  if (rc == 0) rc = write_index(w, err);
  if (rc == 0) rc = tm_io_fsync(w->fd, w->tmp, SITE, err);
  if (rc == 0) {
    rc = tm_io_close(w->fd, w->tmp, SITE, err);
    w->fd = -1;
  }
  if (rc == 0) rc = tm_io_rename(w->tmp, w->path, SITE, err);
  if (rc < 0) {
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    unlink(w->tmp);
    writer_free(w);
    return rc;
  }
  rc = tm_io_fsync_parent(w->path, SITE, err);
  if (info) {
    memset(info, 0, sizeof *info);
    info->version = TMS_VERSION;
    info->token_width = w->width;
    info->vocab_size = w->p.vocab_size;
    info->eot_id = w->p.eot_id;
    info->tokenizer_hash = w->p.tokenizer_hash;
    info->n_docs = w->n_docs;
    info->n_tokens = w->n_tokens;
    info->n_chunks = w->n_chunks;
    info->file_bytes = w->offset;
    info->file_hash = XXH3_64bits_digest(w->file_hash);
    info->n_sources = w->n_sources;
    for (uint32_t s = 0; s < w->n_sources; s++) {
      memcpy(info->source_names[s], w->sources[s], sizeof info->source_names[s]);
      info->source_tokens[s] = w->source_tokens[s];
      info->source_docs[s] = w->source_docs[s];
    }
  }
  writer_free(w);
  return rc;
}
