/* shard_reader.c - opens, validates and reads shards; the full verifier.
 *
 * Memory: the chunk table (32 bytes per frame), one compressed and one
 * decompressed frame, and a block of 4096 document entries (96 KiB): bounded
 * by the frame size, not by the shard size. Every read of a frame checks its
 * hash before decompressing it, so a corrupt byte is reported, never
 * returned as a token. */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* inlined, so XXH3 is compiled for the build's -march (Debian's libxxhash is an
 * SSE2 build): the frame checksums are a measured part of the read path */
#define XXH_INLINE_ALL
#include <xxhash.h>
#include <zstd.h>

#include "shard.h"
#include "shard_layout.h"

#define DOC_BLOCK 4096u

struct tm_shard_reader {
  char path[PATH_MAX];
  int fd;
  uint64_t file_size;
  tms_header h;
  tms_trailer t;
  tm_shard_info info;
  tms_chunk *chunks;
  /* frame cache */
  uint8_t *cbuf;
  size_t cbuf_cap;
  uint8_t *frame;
  long cached_chunk;
  ZSTD_DCtx *dctx;
  /* document-table block cache */
  uint8_t *doc_block;
  uint64_t doc_block_first; /* UINT64_MAX when empty */
  /* read_doc output */
  uint32_t *doc_buf;
  size_t doc_cap;
};

static int read_at(tm_shard_reader *r, void *buf, size_t len, uint64_t off, tm_error *err) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(r->fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
    if (n < 0) return tm_err_sys(err, "%s: read of %zu bytes at offset %llu", r->path, len,
                                 (unsigned long long)(off + done));
    if (n == 0)
      return tm_err(err, TM_ECORRUPT, "%s: truncated: no bytes at offset %llu (file is %llu)",
                    r->path, (unsigned long long)(off + done), (unsigned long long)r->file_size);
    done += (size_t)n;
  }
  return 0;
}

void tm_shard_close(tm_shard_reader *r) {
  if (!r) return;
  if (r->fd >= 0) close(r->fd);
  free(r->chunks);
  free(r->cbuf);
  free(r->frame);
  ZSTD_freeDCtx(r->dctx);
  free(r->doc_block);
  free(r->doc_buf);
  free(r);
}

#define CORRUPT(off, ...) tm_corrupt(err, r->path, (uint64_t)(off), __VA_ARGS__)
static int tm_corrupt(tm_error *err, const char *path, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int tm_corrupt(tm_error *err, const char *path, uint64_t off, const char *fmt, ...) {
  char what[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return tm_err(err, TM_ECORRUPT, "%s: corrupt at offset %llu: %s", path,
                (unsigned long long)off, what);
}

static int load_trailer_header(tm_shard_reader *r, tm_error *err) {
  if (r->file_size < TMS_HEADER_SIZE + TMS_TRAILER_SIZE)
    return CORRUPT(r->file_size, "file of %llu bytes is too short for a shard",
                   (unsigned long long)r->file_size);
  uint8_t t[TMS_TRAILER_SIZE], h[TMS_HEADER_SIZE];
  uint64_t toff = r->file_size - TMS_TRAILER_SIZE;
  int rc = read_at(r, h, sizeof h, 0, err);
  if (rc < 0) return rc;
  if (memcmp(h, TMS_MAGIC, 8)) return CORRUPT(0, "bad header magic (not a tokenmill shard)");
  if (tms_get64(h + 56) != XXH3_64bits(h, 56)) return CORRUPT(0, "header checksum mismatch");
  r->h.version = tms_get32(h + 8);
  if (r->h.version != TMS_VERSION)
    return tm_err(err, TM_EFORMAT, "%s: shard format version %u is not supported (this build reads %u)",
                  r->path, r->h.version, TMS_VERSION);
  r->h.token_width = tms_get32(h + 12);
  r->h.vocab_size = tms_get32(h + 16);
  r->h.eot_id = tms_get32(h + 20);
  r->h.tokenizer_hash = tms_get64(h + 24);
  r->h.frame_tokens = tms_get32(h + 32);
  r->h.zstd_level = tms_get32(h + 36);
  if (r->h.vocab_size == 0 || r->h.token_width != tm_shard_token_width(r->h.vocab_size) ||
      r->h.eot_id >= r->h.vocab_size || r->h.frame_tokens == 0 ||
      r->h.frame_tokens > (1u << 28))
    return CORRUPT(12, "inconsistent header fields");
  rc = read_at(r, t, sizeof t, toff, err);
  if (rc < 0) return rc;
  if (memcmp(t + 56, TMS_END_MAGIC, 8))
    return CORRUPT(toff + 56, "bad trailer magic (truncated or not a shard)");
  if (tms_get64(t + 48) != XXH3_64bits(t, 48)) return CORRUPT(toff, "trailer checksum mismatch");
  r->t.index_offset = tms_get64(t);
  r->t.index_size = tms_get64(t + 8);
  r->t.n_tokens = tms_get64(t + 16);
  r->t.n_docs = tms_get64(t + 24);
  r->t.n_chunks = tms_get32(t + 32);
  r->t.n_sources = tms_get32(t + 36);
  r->t.index_hash = tms_get64(t + 40);
  uint64_t fixed = (uint64_t)r->t.n_chunks * TMS_CHUNK_ENTRY;
  if (r->t.n_docs > r->file_size / TMS_DOC_ENTRY) return CORRUPT(toff + 24, "document count too large");
  fixed += r->t.n_docs * TMS_DOC_ENTRY;
  if (r->t.index_offset < TMS_HEADER_SIZE || r->t.index_offset > toff ||
      r->t.index_size != toff - r->t.index_offset)
    return CORRUPT(toff, "index offset/size do not match the file size");
  if (r->t.n_sources > TM_SHARD_MAX_SOURCES || fixed + 2ull * r->t.n_sources > r->t.index_size ||
      r->t.index_size - fixed > 256ull * r->t.n_sources)
    return CORRUPT(toff, "index size does not match its counts");
  return 0;
}

static int load_index(tm_shard_reader *r, tm_error *err) {
  uint32_t nc = r->t.n_chunks;
  r->chunks = calloc(nc ? nc : 1, sizeof *r->chunks);
  if (!r->chunks) return tm_err(err, TM_ENOMEM, "%s: out of memory for %u chunks", r->path, nc);
  XXH3_state_t *st = XXH3_createState();
  if (!st) return tm_err(err, TM_ENOMEM, "%s: out of memory", r->path);
  XXH3_64bits_reset(st);
  uint8_t buf[64 * 1024];
  uint64_t off = r->t.index_offset, end = off + r->t.index_size;
  uint64_t chunk_end = off + (uint64_t)nc * TMS_CHUNK_ENTRY;
  uint64_t src_start = chunk_end + r->t.n_docs * TMS_DOC_ENTRY;
  uint8_t srcs[256 * TM_SHARD_MAX_SOURCES];
  int rc = 0;
  while (off < end) {
    size_t k = end - off < sizeof buf ? (size_t)(end - off) : sizeof buf;
    /* keep chunk entries whole within a buffer */
    if (off < chunk_end && off + k > chunk_end) k = (size_t)(chunk_end - off);
    else if (off < chunk_end) k -= k % TMS_CHUNK_ENTRY;
    rc = read_at(r, buf, k, off, err);
    if (rc < 0) break;
    XXH3_64bits_update(st, buf, k);
    if (off < chunk_end) {
      for (size_t i = 0; i < k; i += TMS_CHUNK_ENTRY) {
        uint64_t idx = (off + i - r->t.index_offset) / TMS_CHUNK_ENTRY;
        tms_chunk *c = &r->chunks[idx];
        const uint8_t *e = buf + i;
        c->offset = tms_get64(e);
        c->first_token = tms_get64(e + 8);
        c->comp_size = tms_get32(e + 16);
        c->n_tokens = tms_get32(e + 20);
        c->hash = tms_get64(e + 24);
      }
    }
    for (size_t i = 0; i < k; i++)
      if (off + i >= src_start) srcs[off + i - src_start] = buf[i];
    off += k;
  }
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  if (rc < 0) return rc;
  if (h != r->t.index_hash) return CORRUPT(r->t.index_offset, "index checksum mismatch");
  /* chunk table: frames back to back from the header to the index, tokens contiguous */
  uint64_t expect_off = TMS_HEADER_SIZE, expect_tok = 0;
  for (uint32_t i = 0; i < nc; i++) {
    tms_chunk *c = &r->chunks[i];
    uint64_t eoff = r->t.index_offset + (uint64_t)i * TMS_CHUNK_ENTRY;
    if (c->offset != expect_off || c->comp_size == 0 || c->first_token != expect_tok ||
        c->n_tokens == 0 || c->n_tokens > r->h.frame_tokens ||
        (i + 1 < nc && c->n_tokens != r->h.frame_tokens))
      return CORRUPT(eoff, "chunk table entry %u is inconsistent", i);
    expect_off += c->comp_size;
    expect_tok += c->n_tokens;
  }
  if (expect_off != r->t.index_offset || expect_tok != r->t.n_tokens)
    return CORRUPT(r->t.index_offset, "chunk table does not cover the frames/tokens");
  /* source table */
  size_t sl = (size_t)(end - src_start), p = 0;
  for (uint32_t s = 0; s < r->t.n_sources; s++) {
    if (p >= sl || srcs[p] == 0 || p + 1 + srcs[p] > sl)
      return CORRUPT(src_start + p, "source table entry %u is malformed", s);
    memcpy(r->info.source_names[s], srcs + p + 1, srcs[p]);
    r->info.source_names[s][srcs[p]] = 0;
    p += 1u + srcs[p];
  }
  if (p != sl) return CORRUPT(src_start + p, "trailing bytes after the source table");
  return 0;
}

int tm_shard_open(tm_shard_reader **out, const char *path, tm_error *err) {
  *out = NULL;
  tm_shard_reader *r = calloc(1, sizeof *r);
  if (!r) return tm_err(err, TM_ENOMEM, "%s: out of memory", path);
  r->fd = -1;
  r->cached_chunk = -1;
  r->doc_block_first = UINT64_MAX;
  snprintf(r->path, sizeof r->path, "%s", path);
  r->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0) {
    int rc = tm_err_sys(err, "%s: open", path);
    tm_shard_close(r);
    return rc;
  }
  struct stat st;
  if (fstat(r->fd, &st) != 0) {
    int rc = tm_err_sys(err, "%s: stat", path);
    tm_shard_close(r);
    return rc;
  }
  r->file_size = (uint64_t)st.st_size;
  int rc = load_trailer_header(r, err);
  if (rc == 0) rc = load_index(r, err);
  if (rc == 0) {
    size_t fbytes = (size_t)r->h.frame_tokens * r->h.token_width;
    r->cbuf_cap = ZSTD_compressBound(fbytes);
    r->cbuf = malloc(r->cbuf_cap);
    r->frame = malloc(fbytes);
    r->dctx = ZSTD_createDCtx();
    r->doc_block = malloc(DOC_BLOCK * TMS_DOC_ENTRY);
    if (!r->cbuf || !r->frame || !r->dctx || !r->doc_block)
      rc = tm_err(err, TM_ENOMEM, "%s: out of memory", path);
  }
  if (rc < 0) {
    tm_shard_close(r);
    return rc;
  }
  tm_shard_info *i = &r->info;
  i->version = r->h.version;
  i->token_width = r->h.token_width;
  i->vocab_size = r->h.vocab_size;
  i->eot_id = r->h.eot_id;
  i->tokenizer_hash = r->h.tokenizer_hash;
  i->n_docs = r->t.n_docs;
  i->n_tokens = r->t.n_tokens;
  i->n_chunks = r->t.n_chunks;
  i->file_bytes = r->file_size;
  i->n_sources = r->t.n_sources;
  *out = r;
  return 0;
}

const tm_shard_info *tm_shard_reader_info(const tm_shard_reader *r) { return &r->info; }
const char *tm_shard_reader_path(const tm_shard_reader *r) { return r->path; }

int tm_shard_doc_meta(tm_shard_reader *r, uint64_t i, tm_shard_doc *out, tm_error *err) {
  if (i >= r->t.n_docs)
    return tm_err(err, TM_EINVAL, "%s: document %llu out of range (%llu documents)", r->path,
                  (unsigned long long)i, (unsigned long long)r->t.n_docs);
  uint64_t first = i - i % DOC_BLOCK;
  uint64_t base = r->t.index_offset + (uint64_t)r->t.n_chunks * TMS_CHUNK_ENTRY;
  if (first != r->doc_block_first) {
    uint64_t n = r->t.n_docs - first < DOC_BLOCK ? r->t.n_docs - first : DOC_BLOCK;
    r->doc_block_first = UINT64_MAX;
    int rc = read_at(r, r->doc_block, (size_t)n * TMS_DOC_ENTRY, base + first * TMS_DOC_ENTRY, err);
    if (rc < 0) return rc;
    r->doc_block_first = first;
  }
  const uint8_t *e = r->doc_block + (i - first) * TMS_DOC_ENTRY;
  out->token_offset = tms_get64(e);
  out->doc_id = tms_get64(e + 8);
  out->n_tokens = tms_get32(e + 16);
  out->source = tms_get16(e + 20);
  /* the index hash was checked at open, but the file may have changed since */
  if (out->source >= r->t.n_sources || out->token_offset >= r->t.n_tokens ||
      (uint64_t)out->n_tokens + 1 > r->t.n_tokens - out->token_offset || tms_get16(e + 22))
    return CORRUPT(base + i * TMS_DOC_ENTRY, "document entry %llu is inconsistent",
                   (unsigned long long)i);
  return 0;
}

static long find_chunk(const tm_shard_reader *r, uint64_t tok) {
  long lo = 0, hi = (long)r->t.n_chunks - 1;
  while (lo < hi) {
    long mid = lo + (hi - lo + 1) / 2;
    if (r->chunks[mid].first_token <= tok) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/* Read frame ci, check its hash and decompress it into dst (room for its
 * n_tokens * token_width bytes). */
static int load_chunk_into(tm_shard_reader *r, long ci, uint8_t *dst, tm_error *err) {
  const tms_chunk *c = &r->chunks[ci];
  if (c->comp_size > r->cbuf_cap)
    return CORRUPT(c->offset, "frame %ld claims %u compressed bytes", ci, c->comp_size);
  int rc = read_at(r, r->cbuf, c->comp_size, c->offset, err);
  if (rc < 0) return rc;
  if (XXH3_64bits(r->cbuf, c->comp_size) != c->hash)
    return CORRUPT(c->offset, "frame %ld checksum mismatch", ci);
  size_t want = (size_t)c->n_tokens * r->h.token_width;
  size_t got = ZSTD_decompressDCtx(r->dctx, dst, want, r->cbuf, c->comp_size);
  if (ZSTD_isError(got) || got != want)
    return CORRUPT(c->offset, "frame %ld does not decompress to %zu bytes (%s)", ci, want,
                   ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size");
  return 0;
}

/* Make frame ci the cached frame. */
static int load_chunk(tm_shard_reader *r, long ci, tm_error *err) {
  if (r->cached_chunk == ci) return 0;
  r->cached_chunk = -1;
  int rc = load_chunk_into(r, ci, r->frame, err);
  if (rc == 0) r->cached_chunk = ci;
  return rc;
}

static int read_range(tm_shard_reader *r, uint64_t a, uint64_t b, void *out, int as_u32,
                      tm_error *err) {
  if (a > b || b > r->t.n_tokens)
    return tm_err(err, TM_EINVAL, "%s: token range [%llu, %llu) outside [0, %llu)", r->path,
                  (unsigned long long)a, (unsigned long long)b,
                  (unsigned long long)r->t.n_tokens);
  unsigned w = r->h.token_width;
  uint8_t *dst = out;
  while (a < b) {
    long ci = find_chunk(r, a);
    const tms_chunk *cc = &r->chunks[ci];
    if ((!as_u32 || w == 4) && a == cc->first_token && b - a >= cc->n_tokens &&
        r->cached_chunk != ci) {
      /* a whole frame in the output's layout: decompress straight into it,
       * skipping the frame cache and one copy (the sequential-read path) */
      int rc = load_chunk_into(r, ci, dst, err);
      if (rc < 0) return rc;
      dst += (size_t)cc->n_tokens * (as_u32 ? 4 : w);
      a += cc->n_tokens;
      continue;
    }
    int rc = load_chunk(r, ci, err);
    if (rc < 0) return rc;
    const tms_chunk *c = &r->chunks[ci];
    uint64_t in = a - c->first_token;
    uint64_t k = c->first_token + c->n_tokens - a;
    if (k > b - a) k = b - a;
    const uint8_t *src = r->frame + in * w;
    if (!as_u32) {
      memcpy(dst, src, (size_t)k * w);
      dst += k * w;
    } else if (w == 2) {
      uint32_t *d = (uint32_t *)(void *)dst;
      const uint16_t *s = (const uint16_t *)(const void *)src;
      for (uint64_t i = 0; i < k; i++) d[i] = s[i];
      dst += k * 4;
    } else {
      memcpy(dst, src, (size_t)k * 4);
      dst += k * 4;
    }
    a += k;
  }
  return 0;
}

int tm_shard_read_range(tm_shard_reader *r, uint64_t a, uint64_t b, uint32_t *out,
                        tm_error *err) {
  return read_range(r, a, b, out, 1, err);
}

int tm_shard_read_range_raw(tm_shard_reader *r, uint64_t a, uint64_t b, void *out,
                            tm_error *err) {
  return read_range(r, a, b, out, 0, err);
}

int tm_shard_read_doc(tm_shard_reader *r, uint64_t i, const uint32_t **tokens, size_t *n,
                      tm_error *err) {
  tm_shard_doc d;
  int rc = tm_shard_doc_meta(r, i, &d, err);
  if (rc < 0) return rc;
  if (d.n_tokens > r->doc_cap || !r->doc_buf) {
    size_t cap = d.n_tokens ? d.n_tokens : 1;
    uint32_t *nb = realloc(r->doc_buf, cap * sizeof *nb);
    if (!nb) return tm_err(err, TM_ENOMEM, "%s: out of memory for %u tokens", r->path, d.n_tokens);
    r->doc_buf = nb;
    r->doc_cap = cap;
  }
  rc = tm_shard_read_range(r, d.token_offset, d.token_offset + d.n_tokens, r->doc_buf, err);
  if (rc < 0) return rc;
  *tokens = r->doc_buf;
  *n = d.n_tokens;
  return 0;
}

int tm_shard_verify(const char *path, tm_shard_info *info, tm_error *err) {
  tm_shard_reader *r;
  int rc = tm_shard_open(&r, path, err);
  if (rc < 0) return rc;
  uint64_t base = r->t.index_offset + (uint64_t)r->t.n_chunks * TMS_CHUNK_ENTRY;
  /* documents: contiguous, each followed by one separator, covering the stream */
  uint64_t next = 0, doc = 0;
  tm_shard_doc d = {0};
  uint64_t eot_at = UINT64_MAX; /* position of the next separator to check */
  if (r->t.n_docs) {
    rc = tm_shard_doc_meta(r, 0, &d, err);
    if (rc < 0) goto out;
    if (d.token_offset != 0) {
      rc = CORRUPT(base, "document 0 does not start at token 0");
      goto out;
    }
    eot_at = d.n_tokens;
  }
  uint32_t vocab = r->h.vocab_size, eot = r->h.eot_id;
  unsigned w = r->h.token_width;
  for (uint32_t ci = 0; ci < r->t.n_chunks; ci++) {
    rc = load_chunk(r, (long)ci, err);
    if (rc < 0) goto out;
    const tms_chunk *c = &r->chunks[ci];
    for (uint32_t k = 0; k < c->n_tokens; k++) {
      uint32_t t = w == 2 ? tms_get16(r->frame + (size_t)k * 2) : tms_get32(r->frame + (size_t)k * 4);
      uint64_t pos = c->first_token + k;
      if (t >= vocab) {
        rc = CORRUPT(c->offset, "frame %u: token %llu has id %u >= vocab %u", ci,
                     (unsigned long long)pos, t, vocab);
        goto out;
      }
      if (pos != eot_at) continue;
      if (t != eot) {
        rc = CORRUPT(c->offset, "frame %u: document %llu is not followed by end-of-text", ci,
                     (unsigned long long)doc);
        goto out;
      }
      next = pos + 1;
      doc++;
      eot_at = UINT64_MAX;
      if (doc < r->t.n_docs) {
        rc = tm_shard_doc_meta(r, doc, &d, err);
        if (rc < 0) goto out;
        if (d.token_offset != next) {
          rc = CORRUPT(base + doc * TMS_DOC_ENTRY, "document %llu starts at token %llu, expected %llu",
                       (unsigned long long)doc, (unsigned long long)d.token_offset,
                       (unsigned long long)next);
          goto out;
        }
        eot_at = d.token_offset + d.n_tokens;
      }
    }
  }
  if (doc != r->t.n_docs || next != r->t.n_tokens)
    rc = CORRUPT(base, "documents cover %llu of %llu tokens", (unsigned long long)next,
                 (unsigned long long)r->t.n_tokens);
  if (rc == 0) {
    /* per-source counts, for the caller */
    for (uint64_t i = 0; i < r->t.n_docs && rc == 0; i++) {
      rc = tm_shard_doc_meta(r, i, &d, err);
      if (rc == 0) {
        r->info.source_docs[d.source]++;
        r->info.source_tokens[d.source] += d.n_tokens + 1ull;
      }
    }
  }
out:
  if (rc == 0 && info) {
    *info = r->info;
    /* whole-file hash, streamed */
    XXH3_state_t *st = XXH3_createState();
    if (!st) rc = tm_err(err, TM_ENOMEM, "%s: out of memory", path);
    else {
      XXH3_64bits_reset(st);
      uint8_t buf[1 << 16];
      for (uint64_t off = 0; off < r->file_size && rc == 0;) {
        size_t k = r->file_size - off < sizeof buf ? (size_t)(r->file_size - off) : sizeof buf;
        rc = read_at(r, buf, k, off, err);
        XXH3_64bits_update(st, buf, k);
        off += k;
      }
      info->file_hash = XXH3_64bits_digest(st);
      XXH3_freeState(st);
    }
  }
  tm_shard_close(r);
  return rc;
}
