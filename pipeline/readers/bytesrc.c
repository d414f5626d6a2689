/* bytesrc.c - buffered, decompressing byte source; see bytesrc.h.
 *
 * The decoded window win[pos..end) holds bytes not yet consumed. fill()
 * compacts it and decodes more from the file; a line that fits in the
 * window is returned in place (no copy), anything longer is gathered in the
 * record buffer, which the caller's max bounds.
 */
#include "bytesrc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define IN_SIZE (128u * 1024u)

struct tm_bytesrc {
  int fd;
  char *name;
  tm_codec codec;
  tm_bytesrc_limits lim;
  unsigned char *in;
  size_t in_pos, in_end;
  int in_eof;
  uint64_t in_total; /* bytes read from fd */
  uint64_t in_used;  /* compressed bytes consumed by the decoder */
  char *win;
  size_t pos, end;
  uint64_t consumed; /* decoded bytes consumed by the caller */
  uint64_t decoded;  /* decoded bytes produced */
  z_stream zs;
  int zs_init, z_in_member;
  ZSTD_DStream *zd;
  int zd_in_frame;
  int eof, failed;
  char *rec;
  size_t rec_cap;
};

static int read_in(tm_bytesrc *b, tm_error *err) {
  if (b->in_pos < b->in_end || b->in_eof) return 0;
  for (;;) {
    ssize_t n = read(b->fd, b->in, IN_SIZE);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tm_err_sys(err, "%s: read", b->name);
    b->in_pos = 0;
    b->in_end = (size_t)n;
    b->in_total += (uint64_t)n;
    if (n == 0) b->in_eof = 1;
    return 0;
  }
}

static int fail(tm_bytesrc *b, int rc) {
  b->failed = 1;
  b->eof = 1;
  return rc;
}

/* Decode more bytes into win[end..). Returns bytes added, 0 at the end, or a
 * negative error (fatal). */
static int decode_more(tm_bytesrc *b, tm_error *err) {
  size_t space = TM_BYTESRC_WINDOW - b->end;
  for (;;) {
    if (read_in(b, err) < 0) return fail(b, -TM_EIO);
    size_t avail = b->in_end - b->in_pos;
    if (b->codec == TM_CODEC_NONE) {
      if (!avail) return 0;
      size_t n = avail < space ? avail : space;
      memcpy(b->win + b->end, b->in + b->in_pos, n);
      b->in_pos += n;
      b->in_used += n;
      return (int)n;
    }
    if (!avail) {
      if ((b->codec == TM_CODEC_GZIP && b->z_in_member) ||
          (b->codec == TM_CODEC_ZSTD && b->zd_in_frame))
        return fail(b, tm_err(err, TM_ECORRUPT,
                              "%s: truncated %s stream at compressed byte %llu (decoded byte %llu)",
                              b->name, b->codec == TM_CODEC_GZIP ? "gzip" : "zstd",
                              (unsigned long long)b->in_used, (unsigned long long)b->decoded));
      return 0;
    }
    if (b->codec == TM_CODEC_GZIP) {
      if (!b->z_in_member) {
        if (b->in[b->in_pos] == 0) { /* zero padding after the last member */
          b->in_pos++;
          b->in_used++;
          continue;
        }
        if (b->in[b->in_pos] != 0x1f)
          return fail(b, tm_err(err, TM_ECORRUPT, "%s: garbage after gzip member at compressed byte %llu",
                                b->name, (unsigned long long)b->in_used));
        inflateReset(&b->zs);
        b->z_in_member = 1;
      }
      b->zs.next_in = b->in + b->in_pos;
      b->zs.avail_in = (uInt)avail;
      b->zs.next_out = (Bytef *)b->win + b->end;
      b->zs.avail_out = (uInt)space;
      int zr = inflate(&b->zs, Z_NO_FLUSH);
      size_t used = avail - b->zs.avail_in, made = space - b->zs.avail_out;
      b->in_pos += used;
      b->in_used += used;
      if (zr == Z_STREAM_END) b->z_in_member = 0;
      else if (zr != Z_OK && zr != Z_BUF_ERROR)
        return fail(b, tm_err(err, TM_ECORRUPT, "%s: corrupt gzip data near compressed byte %llu: %s",
                              b->name, (unsigned long long)b->in_used,
                              b->zs.msg ? b->zs.msg : "inflate error"));
      if (made) return (int)made;
    } else {
      ZSTD_inBuffer zi = {b->in + b->in_pos, avail, 0};
      ZSTD_outBuffer zo = {b->win + b->end, space, 0};
      size_t zr = ZSTD_decompressStream(b->zd, &zo, &zi);
      b->in_pos += zi.pos;
      b->in_used += zi.pos;
      if (ZSTD_isError(zr))
        return fail(b, tm_err(err, TM_ECORRUPT, "%s: corrupt zstd data near compressed byte %llu: %s",
                              b->name, (unsigned long long)b->in_used, ZSTD_getErrorName(zr)));
      b->zd_in_frame = zr != 0;
      if (zo.pos) return (int)zo.pos;
    }
  }
}

static int check_limits(tm_bytesrc *b, tm_error *err) {
  if (b->codec == TM_CODEC_NONE) return 0;
  if (b->lim.max_decoded && b->decoded > b->lim.max_decoded)
    return fail(b, tm_err(err, TM_ELIMIT,
                          "%s: decompressed size exceeds the limit of %llu bytes (a decompression bomb?)",
                          b->name, (unsigned long long)b->lim.max_decoded));
  if (b->lim.max_ratio > 0 && b->decoded > b->lim.ratio_grace && b->in_used > 0 &&
      (double)b->decoded > b->lim.max_ratio * (double)b->in_used)
    return fail(b, tm_err(err, TM_ELIMIT,
                          "%s: decompression ratio exceeds %.0f (%llu bytes from %llu; a decompression bomb?)",
                          b->name, b->lim.max_ratio, (unsigned long long)b->decoded,
                          (unsigned long long)b->in_used));
  return 0;
}

/* Compact the window and decode more. Returns bytes added, 0 at the end,
 * negative on a fatal error. */
static int fill(tm_bytesrc *b, tm_error *err) {
  if (b->eof) return 0;
  if (b->pos > 0) {
    memmove(b->win, b->win + b->pos, b->end - b->pos);
    b->end -= b->pos;
    b->pos = 0;
  }
  if (b->end == TM_BYTESRC_WINDOW) return 0; /* caller must consume first */
  int n = decode_more(b, err);
  if (n < 0) return n;
  if (n == 0) {
    b->eof = 1;
    return 0;
  }
  b->end += (size_t)n;
  b->decoded += (uint64_t)n;
  int rc = check_limits(b, err);
  return rc < 0 ? rc : n;
}

int tm_bytesrc_open(tm_bytesrc **out, int fd, const char *name, const tm_bytesrc_limits *lim,
                    tm_error *err) {
  *out = NULL;
  tm_bytesrc *b = calloc(1, sizeof *b);
  if (!b) {
    close(fd);
    return tm_err(err, TM_ENOMEM, "%s: out of memory", name);
  }
  b->fd = fd;
  b->name = strdup(name);
  b->in = malloc(IN_SIZE);
  b->win = malloc(TM_BYTESRC_WINDOW);
  if (lim) b->lim = *lim;
  if (!b->name || !b->in || !b->win) {
    tm_bytesrc_free(b);
    return tm_err(err, TM_ENOMEM, "%s: out of memory", name);
  }
  /* sniff the magic: read until 4 bytes or the end */
  while (b->in_end < 4) {
    ssize_t n = read(fd, b->in + b->in_end, IN_SIZE - b->in_end);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int rc = tm_err_sys(err, "%s: read", name);
      tm_bytesrc_free(b);
      return rc;
    }
    if (n == 0) {
      b->in_eof = 1;
      break;
    }
    b->in_end += (size_t)n;
    b->in_total += (uint64_t)n;
  }
  const unsigned char *m = b->in;
  if (b->in_end >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
    b->codec = TM_CODEC_GZIP;
    if (inflateInit2(&b->zs, 15 + 16) != Z_OK) {
      tm_bytesrc_free(b);
      return tm_err(err, TM_ENOMEM, "%s: inflateInit failed", name);
    }
    b->zs_init = 1;
  } else if (b->in_end >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) {
    b->codec = TM_CODEC_ZSTD;
    b->zd = ZSTD_createDStream();
    if (!b->zd || ZSTD_isError(ZSTD_initDStream(b->zd))) {
      tm_bytesrc_free(b);
      return tm_err(err, TM_ENOMEM, "%s: ZSTD_createDStream failed", name);
    }
  }
  *out = b;
  return 0;
}

void tm_bytesrc_free(tm_bytesrc *b) {
  if (!b) return;
  if (b->fd >= 0) close(b->fd);
  if (b->zs_init) inflateEnd(&b->zs);
  ZSTD_freeDStream(b->zd);
  free(b->name);
  free(b->in);
  free(b->win);
  free(b->rec);
  free(b);
}

static int rec_reserve(tm_bytesrc *b, size_t n, tm_error *err) {
  if (n <= b->rec_cap) return 0;
  size_t cap = b->rec_cap ? b->rec_cap : 4096;
  while (cap < n) cap *= 2;
  char *r = realloc(b->rec, cap);
  if (!r) return tm_err(err, TM_ENOMEM, "%s: out of memory for a record of %zu bytes", b->name, n);
  b->rec = r;
  b->rec_cap = cap;
  return 0;
}

int tm_bytesrc_peek(tm_bytesrc *b, const char **p, size_t n, tm_error *err) {
  if (n > 4096) n = 4096;
  while (b->end - b->pos < n && !b->eof) {
    int rc = fill(b, err);
    if (rc < 0) return rc;
  }
  *p = b->win + b->pos;
  size_t have = b->end - b->pos;
  return (int)(have < n ? have : n);
}

int tm_bytesrc_getline(tm_bytesrc *b, const char **line, size_t *len, size_t max, tm_error *err) {
  size_t total = 0, stored = 0;
  int overflow = 0, copied = 0;
  for (;;) {
    if (b->pos == b->end) {
      int rc = fill(b, err);
      if (rc < 0) return rc;
      if (rc == 0) {
        if (total == 0 && !copied) return 0;
        break;
      }
    }
    char *start = b->win + b->pos;
    char *nl = memchr(start, '\n', b->end - b->pos);
    size_t chunk = nl ? (size_t)(nl - start) : b->end - b->pos;
    if (nl && !copied && chunk <= max) { /* whole line in the window: no copy */
      b->pos += chunk + 1;
      b->consumed += chunk + 1;
      *line = start;
      *len = chunk;
      return 1;
    }
    if (!overflow && total + chunk <= max) {
      int rc = rec_reserve(b, stored + chunk + 1, err);
      if (rc < 0) return rc;
      memcpy(b->rec + stored, start, chunk);
      stored += chunk;
    } else {
      overflow = 1;
    }
    copied = 1;
    total += chunk;
    b->pos += chunk + (nl ? 1 : 0);
    b->consumed += chunk + (nl ? 1 : 0);
    if (nl) break;
  }
  *len = total;
  if (overflow) {
    *line = NULL;
    return tm_err(err, TM_ELIMIT, "line of %zu bytes exceeds the limit of %zu", total, max);
  }
  *line = b->rec;
  return 1;
}

int tm_bytesrc_read(tm_bytesrc *b, size_t n, const char **p, tm_error *err) {
  if (n <= TM_BYTESRC_WINDOW) { /* fits the window: make it all visible there */
    while (b->end - b->pos < n && !b->eof) {
      int rc = fill(b, err);
      if (rc < 0) return rc;
    }
  }
  if (b->end - b->pos >= n) {
    *p = b->win + b->pos;
    b->pos += n;
    b->consumed += n;
    return 1;
  }
  int rc = rec_reserve(b, n + 1, err);
  if (rc < 0) return rc;
  size_t got = 0;
  while (got < n) {
    if (b->pos == b->end) {
      rc = fill(b, err);
      if (rc < 0) return rc;
      if (rc == 0) return 0;
    }
    size_t take = b->end - b->pos;
    if (take > n - got) take = n - got;
    memcpy(b->rec + got, b->win + b->pos, take);
    got += take;
    b->pos += take;
    b->consumed += take;
  }
  *p = b->rec;
  return 1;
}

int tm_bytesrc_read_all(tm_bytesrc *b, size_t max, const char **p, size_t *len, tm_error *err) {
  size_t got = 0;
  int overflow = 0;
  uint64_t total = 0;
  for (;;) {
    if (b->pos == b->end) {
      int rc = fill(b, err);
      if (rc < 0) return rc;
      if (rc == 0) break;
    }
    size_t take = b->end - b->pos;
    if (!overflow && got + take <= max) {
      int rc = rec_reserve(b, got + take + 1, err);
      if (rc < 0) return rc;
      memcpy(b->rec + got, b->win + b->pos, take);
      got += take;
    } else {
      overflow = 1;
    }
    total += take;
    b->pos += take;
    b->consumed += take;
  }
  if (overflow) {
    *len = 0;
    return tm_err(err, TM_ELIMIT, "%s: document of %llu bytes exceeds the limit of %zu", b->name,
                  (unsigned long long)total, max);
  }
  if (got == 0) return 0;
  b->rec[got] = 0;
  *p = b->rec;
  *len = got;
  return 1;
}

int tm_bytesrc_skip(tm_bytesrc *b, uint64_t n, tm_error *err) {
  while (n > 0) {
    if (b->pos == b->end) {
      int rc = fill(b, err);
      if (rc < 0) return rc;
      if (rc == 0) return 0;
    }
    size_t take = b->end - b->pos;
    if (take > n) take = (size_t)n;
    b->pos += take;
    b->consumed += take;
    n -= take;
  }
  return 1;
}

uint64_t tm_bytesrc_offset(const tm_bytesrc *b) { return b->consumed; }
uint64_t tm_bytesrc_compressed_offset(const tm_bytesrc *b) { return b->in_total; }
int tm_bytesrc_failed(const tm_bytesrc *b) { return b->failed; }
tm_codec tm_bytesrc_codec(const tm_bytesrc *b) { return b->codec; }
const char *tm_bytesrc_name(const tm_bytesrc *b) { return b->name; }
