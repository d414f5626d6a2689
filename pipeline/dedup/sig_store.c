/* sig_store.c - append-only, mmap'd signature records; see sig_store.h. */
#include "sig_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_INLINE_ALL /* the build's vector units for the record checksums (Debian's lib is SSE2) */
#include <xxhash.h>

#include "io.h"
#include "minhash.h"

#define SITE "dedup_index"
#define HDR_SIZE 64
#define REC_MAGIC "TMDXREC1"
#define CKP_MAGIC "TMDXCKP1"
#define VERSION 3 /* 1: 32-bit signature values, 2: 16-bit */
#define PENDING_RECORDS 4096          /* records buffered before a write */
#define PENDING_IDS (1u << 20)        /* id bytes buffered before a write */

/* checkpoint file: fixed size, little-endian */
typedef struct ckpt {
  char magic[8];
  uint32_t version, k;
  uint64_t params_hash, n_records, ids_bytes;
  uint32_t user_len, reserved;
  uint8_t user[TM_SIG_USER_MAX];
  uint64_t checksum; /* XXH3-64 of all bytes before it */
} ckpt;

struct tm_sig_store {
  char *dir;
  char rec_path[PATH_MAX], ids_path[PATH_MAX], ckp_path[PATH_MAX];
  int rec_fd, ids_fd, lock_fd;
  int k;
  size_t rs;            /* record size */
  uint64_t params_hash;
  uint64_t n_written;   /* records in records.bin (committed or not) */
  uint64_t ids_written; /* bytes in ids.bin */
  const uint8_t *map;   /* PROT_READ map of records.bin */
  size_t map_len;
  uint8_t *pend;        /* PENDING_RECORDS records */
  uint8_t *rbuf;        /* one record: tm_sig_store_get of a written record */
  uint32_t n_pend;
  char *pend_ids;
  size_t n_pend_ids, cap_pend_ids;
};

static uint64_t rd64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
static uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

static void make_header(const tm_sig_store *s, uint8_t *h) {
  memset(h, 0, HDR_SIZE);
  memcpy(h, REC_MAGIC, 8);
  uint32_t v = VERSION, k = (uint32_t)s->k, rs = (uint32_t)s->rs;
  memcpy(h + 8, &v, 4);
  memcpy(h + 12, &k, 4);
  memcpy(h + 16, &rs, 4);
  memcpy(h + 24, &s->params_hash, 8);
  uint64_t c = XXH3_64bits(h, 56);
  memcpy(h + 56, &c, 8);
}

static int check_header(const tm_sig_store *s, tm_error *err) {
  uint8_t h[HDR_SIZE], want[HDR_SIZE];
  ssize_t r = pread(s->rec_fd, h, HDR_SIZE, 0);
  if (r != HDR_SIZE)
    return tm_err(err, TM_ECORRUPT, "%s: header truncated (%zd of %d bytes at offset 0)",
                  s->rec_path, r, HDR_SIZE);
  if (memcmp(h, REC_MAGIC, 8))
    return tm_err(err, TM_ECORRUPT, "%s: bad magic at offset 0 (not a dedup index)", s->rec_path);
  if (XXH3_64bits(h, 56) != rd64(h + 56))
    return tm_err(err, TM_ECORRUPT, "%s: header checksum mismatch at offset 56", s->rec_path);
  make_header(s, want);
  if (memcmp(h, want, HDR_SIZE))
    return tm_err(err, TM_ECORRUPT,
                  "%s: header (k=%u, record size %u, params %016llx) disagrees with the "
                  "checkpoint (k=%d, params %016llx)",
                  s->rec_path, rd32(h + 12), rd32(h + 16), (unsigned long long)rd64(h + 24), s->k,
                  (unsigned long long)s->params_hash);
  return 0;
}

/* Map at least `need` bytes of records.bin (the map may extend past EOF;
 * only bytes below n_written records are ever read). */
static int ensure_map(tm_sig_store *s, size_t need, tm_error *err) {
  if (need <= s->map_len) return 0;
  size_t len = s->map_len ? s->map_len : (size_t)1 << 24;
  while (len < need) len *= 2;
  void *m;
  if (s->map) m = mremap((void *)s->map, s->map_len, len, MREMAP_MAYMOVE);
  else m = mmap(NULL, len, PROT_READ, MAP_SHARED, s->rec_fd, 0);
  if (m == MAP_FAILED) return tm_err_sys(err, "%s: mmap of %zu bytes", s->rec_path, len);
  /* lookups are random: no readahead, no fault-around (which would map 64 KiB
   * of neighbours per candidate and inflate the resident set) */
  madvise(m, len, MADV_RANDOM);
  s->map = m;
  s->map_len = len;
  return 0;
}

static int load_checkpoint(tm_sig_store *s, ckpt *c, int *found, tm_error *err) {
  char *buf;
  size_t len;
  *found = 0;
  if (access(s->ckp_path, F_OK) != 0) return 0;
  int rc = tm_io_read_file(s->ckp_path, 1 << 16, &buf, &len, err);
  if (rc < 0) return rc;
  if (len != sizeof *c) {
    free(buf);
    return tm_err(err, TM_ECORRUPT, "%s: %zu bytes, expected %zu", s->ckp_path, len, sizeof *c);
  }
  memcpy(c, buf, sizeof *c);
  free(buf);
  if (memcmp(c->magic, CKP_MAGIC, 8))
    return tm_err(err, TM_ECORRUPT, "%s: bad magic at offset 0", s->ckp_path);
  if (XXH3_64bits(c, offsetof(ckpt, checksum)) != c->checksum)
    return tm_err(err, TM_ECORRUPT, "%s: checksum mismatch at offset %zu", s->ckp_path,
                  offsetof(ckpt, checksum));
  if (c->version != VERSION)
    return tm_err(err, TM_EINVAL,
                  "%s: index format version %u, this build reads version %u (versions 1 "
                  "and 2 stored 32- and 16-bit signature values): start a new index directory",
                  s->ckp_path, c->version, VERSION);
  if (c->user_len > TM_SIG_USER_MAX)
    return tm_err(err, TM_ECORRUPT, "%s: bad length at offset %zu", s->ckp_path,
                  offsetof(ckpt, user_len));
  if ((int)c->k != s->k || c->params_hash != s->params_hash)
    return tm_err(err, TM_EINVAL,
                  "%s: the index was built with k=%u params %016llx, the configuration gives "
                  "k=%d params %016llx (shingle, permutation and normalisation settings must "
                  "not change for an existing index)",
                  s->ckp_path, c->k, (unsigned long long)c->params_hash, s->k,
                  (unsigned long long)s->params_hash);
  *found = 1;
  return 0;
}

static int file_size(int fd, const char *path, uint64_t *size, tm_error *err) {
  struct stat st;
  if (fstat(fd, &st) != 0) return tm_err_sys(err, "%s: stat", path);
  *size = (uint64_t)st.st_size;
  return 0;
}

int tm_sig_store_open(tm_sig_store **out, const char *dir, int k, uint64_t params_hash,
                      void *user, size_t *user_len, tm_error *err) {
  *out = NULL;
  *user_len = 0;
  if (k < 1) return tm_err(err, TM_EINVAL, "signature length %d must be >= 1", k);
  int rc = tm_io_mkdirs(dir, err);
  if (rc < 0) return rc;
  tm_sig_store *s = calloc(1, sizeof *s);
  if (!s) return tm_err(err, TM_ENOMEM, "%s: out of memory", dir);
  s->rec_fd = s->ids_fd = s->lock_fd = -1;
  s->k = k;
  s->rs = 40 + (size_t)k;
  s->params_hash = params_hash;
  if (snprintf(s->rec_path, PATH_MAX, "%s/records.bin", dir) >= PATH_MAX ||
      snprintf(s->ids_path, PATH_MAX, "%s/ids.bin", dir) >= PATH_MAX ||
      snprintf(s->ckp_path, PATH_MAX, "%s/checkpoint", dir) >= PATH_MAX) {
    rc = tm_err(err, TM_EINVAL, "%s: path too long", dir);
    goto fail;
  }
  s->pend = malloc(PENDING_RECORDS * s->rs);
  s->rbuf = malloc(s->rs);
  if (!s->pend || !s->rbuf) {
    rc = tm_err(err, TM_ENOMEM, "%s: out of memory", dir);
    goto fail;
  }
  /* one process per index: a second one would interleave appends */
  char lock_path[PATH_MAX + 8];
  snprintf(lock_path, sizeof lock_path, "%s/lock", dir);
  s->lock_fd = tm_io_open(lock_path, O_RDWR | O_CREAT, 0644, SITE, err);
  if (s->lock_fd < 0) {
    rc = s->lock_fd;
    goto fail;
  }
  if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    rc = errno == EWOULDBLOCK
             ? tm_err(err, TM_ESTATE, "%s: the index is open in another process", lock_path)
             : tm_err_sys(err, "%s: flock", lock_path);
    goto fail;
  }
  ckpt c;
  int found;
  if ((rc = load_checkpoint(s, &c, &found, err)) < 0) goto fail;
  s->rec_fd = tm_io_open(s->rec_path, O_RDWR | O_CREAT, 0644, SITE, err);
  if (s->rec_fd < 0) {
    rc = s->rec_fd;
    goto fail;
  }
  s->ids_fd = tm_io_open(s->ids_path, O_RDWR | O_CREAT, 0644, SITE, err);
  if (s->ids_fd < 0) {
    rc = s->ids_fd;
    goto fail;
  }
  if (found) {
    uint64_t rsz = 0, isz = 0;
    if ((rc = file_size(s->rec_fd, s->rec_path, &rsz, err)) < 0 ||
        (rc = file_size(s->ids_fd, s->ids_path, &isz, err)) < 0)
      goto fail;
    uint64_t need = HDR_SIZE + c.n_records * s->rs;
    if (rsz < need) {
      rc = tm_err(err, TM_ECORRUPT,
                  "%s: truncated: the checkpoint commits %llu records (%llu bytes), the file "
                  "has %llu bytes",
                  s->rec_path, (unsigned long long)c.n_records, (unsigned long long)need,
                  (unsigned long long)rsz);
      goto fail;
    }
    if (isz < c.ids_bytes) {
      rc = tm_err(err, TM_ECORRUPT,
                  "%s: truncated: the checkpoint commits %llu bytes, the file has %llu",
                  s->ids_path, (unsigned long long)c.ids_bytes, (unsigned long long)isz);
      goto fail;
    }
    if ((rc = check_header(s, err)) < 0) goto fail;
    s->n_written = c.n_records;
    s->ids_written = c.ids_bytes;
    memcpy(user, c.user, c.user_len);
    *user_len = c.user_len;
  } else {
    uint8_t h[HDR_SIZE];
    make_header(s, h);
    if ((rc = tm_io_pwrite(s->rec_fd, h, HDR_SIZE, 0, s->rec_path, SITE, err)) < 0) goto fail;
  }
  *out = s;
  return 0;
fail:
  tm_sig_store_close(s);
  return rc;
}

void tm_sig_store_close(tm_sig_store *s) {
  if (!s) return;
  if (s->map) munmap((void *)s->map, s->map_len);
  if (s->rec_fd >= 0) close(s->rec_fd);
  if (s->ids_fd >= 0) close(s->ids_fd);
  if (s->lock_fd >= 0) close(s->lock_fd); /* releases the lock */
  free(s->pend);
  free(s->rbuf);
  free(s->pend_ids);
  free(s);
}

uint64_t tm_sig_store_count(const tm_sig_store *s) {
  return s->n_written + s->n_pend;
}

/* Write the buffered ids, then the buffered records (an id is therefore in
 * the file whenever its record is). */
static int flush(tm_sig_store *s, tm_error *err) {
  int rc;
  if (s->n_pend_ids) {
    rc = tm_io_pwrite(s->ids_fd, s->pend_ids, s->n_pend_ids, s->ids_written, s->ids_path, SITE,
                      err);
    if (rc < 0) return rc;
    s->ids_written += s->n_pend_ids;
    s->n_pend_ids = 0;
  }
  if (s->n_pend) {
    uint64_t off = HDR_SIZE + s->n_written * s->rs;
    rc = tm_io_pwrite(s->rec_fd, s->pend, s->n_pend * s->rs, off, s->rec_path, SITE, err);
    if (rc < 0) return rc;
    s->n_written += s->n_pend;
    s->n_pend = 0;
  }
  return 0;
}

int tm_sig_store_append(tm_sig_store *s, const char *id, size_t id_len, uint32_t flags,
                        const uint64_t exact[2], const uint32_t *sig, tm_error *err) {
  int rc;
  if (tm_sig_store_count(s) >= UINT32_MAX - 1)
    return tm_err(err, TM_ELIMIT, "%s: more than %u records", s->rec_path, UINT32_MAX - 2);
  if (id_len > UINT32_MAX) return tm_err(err, TM_ELIMIT, "document id of %zu bytes", id_len);
  if (s->n_pend == PENDING_RECORDS || s->n_pend_ids + id_len > PENDING_IDS)
    if ((rc = flush(s, err)) < 0) return rc;
  if (s->n_pend_ids + id_len > s->cap_pend_ids) {
    size_t cap = s->cap_pend_ids ? s->cap_pend_ids : 4096;
    while (cap < s->n_pend_ids + id_len) cap *= 2;
    char *p = realloc(s->pend_ids, cap);
    if (!p) return tm_err(err, TM_ENOMEM, "%s: out of memory", s->ids_path);
    s->pend_ids = p;
    s->cap_pend_ids = cap;
  }
  uint64_t id_off = s->ids_written + s->n_pend_ids;
  memcpy(s->pend_ids + s->n_pend_ids, id, id_len);
  s->n_pend_ids += id_len;
  uint8_t *r = s->pend + (size_t)s->n_pend * s->rs;
  uint32_t il = (uint32_t)id_len;
  memcpy(r, &id_off, 8);
  memcpy(r + 8, &il, 4);
  memcpy(r + 12, &flags, 4);
  memcpy(r + 16, exact, 16);
  /* locals, so that the byte stores do not reload s->k (a uint8_t store may
   * alias anything) and the loop vectorises: it was 5% of the index
   * benchmark as a byte-at-a-time loop */
  uint8_t *restrict dst = r + 32;
  const uint32_t *restrict src = sig;
  const int k = s->k;
  for (int i = 0; i < k; i++) dst[i] = tm_minhash_stored(src[i]);
  uint64_t c = XXH3_64bits(r, s->rs - 8);
  memcpy(r + s->rs - 8, &c, 8);
  s->n_pend++;
  return 0;
}

/* Unmap the record pages touched so far: they stay in the page cache (the
 * file is the truth) and fault back in when read again, but no longer count
 * in the resident set, which then shows the index tables. The kernel maps
 * up to 64 KiB around each faulting page (fault-around, whatever
 * MADV_RANDOM says), so without this the set grows by that much per
 * candidate check. */
void tm_sig_store_release(tm_sig_store *s) {
  if (s->map) madvise((void *)s->map, s->map_len, MADV_DONTNEED);
}

/* Map at least the written records (done lazily: only scans read the map). */
static int rec_ptr(tm_sig_store *s, uint64_t ref, const uint8_t **out, tm_error *err) {
  if (ref >= s->n_written) {
    *out = s->pend + (size_t)(ref - s->n_written) * s->rs;
    return 0;
  }
  int rc = ensure_map(s, HDR_SIZE + s->n_written * s->rs, err);
  if (rc < 0) return rc;
  *out = s->map + HDR_SIZE + ref * s->rs;
  return 0;
}

static void fill(const uint8_t *r, tm_sig_record *rec) {
  rec->id_off = rd64(r);
  rec->id_len = rd32(r + 8);
  rec->flags = rd32(r + 12);
  memcpy(rec->exact, r + 16, 16);
  rec->sig = r + 32;
}

/* The first len bytes of record ref for a lookup: in place when it is still
 * buffered, else read with pread into buf. */
static int read_rec(const tm_sig_store *s, uint64_t ref, uint8_t *buf, size_t len,
                    const uint8_t **out, tm_error *err) {
  if (ref >= s->n_written) {
    *out = s->pend + (size_t)(ref - s->n_written) * s->rs;
    return 0;
  }
  uint64_t off = HDR_SIZE + ref * s->rs;
  ssize_t got = pread(s->rec_fd, buf, len, (off_t)off);
  if (got != (ssize_t)len)
    return got < 0 ? tm_err_sys(err, "%s: read of record %llu at offset %llu", s->rec_path,
                                (unsigned long long)ref, (unsigned long long)off)
                   : tm_err(err, TM_ECORRUPT,
                            "%s: record %llu at offset %llu: the file ends after %zd bytes of it",
                            s->rec_path, (unsigned long long)ref, (unsigned long long)off, got);
  *out = buf;
  return 0;
}

int tm_sig_store_get(tm_sig_store *s, uint64_t ref, tm_sig_record *rec, tm_error *err) {
  const uint8_t *r = NULL;
  int rc = read_rec(s, ref, s->rbuf, s->rs, &r, err);
  if (rc == 0) fill(r, rec);
  return rc;
}

int tm_sig_store_verify(tm_sig_store *s, uint64_t ref, tm_sig_record *rec, tm_error *err) {
  const uint8_t *r;
  int rc = rec_ptr(s, ref, &r, err);
  if (rc < 0) return rc;
  if (XXH3_64bits(r, s->rs - 8) != rd64(r + s->rs - 8))
    return tm_err(err, TM_ECORRUPT, "%s: record %llu fails its checksum (bytes %llu..%llu)",
                  s->rec_path, (unsigned long long)ref,
                  (unsigned long long)(HDR_SIZE + ref * s->rs),
                  (unsigned long long)(HDR_SIZE + (ref + 1) * s->rs));
  fill(r, rec);
  if (rec->id_off + rec->id_len > s->ids_written + s->n_pend_ids)
    return tm_err(err, TM_ECORRUPT, "%s: record %llu (offset %llu) names id bytes past the end",
                  s->rec_path, (unsigned long long)ref,
                  (unsigned long long)(HDR_SIZE + ref * s->rs));
  return 0;
}

int64_t tm_sig_store_id(const tm_sig_store *s, uint64_t ref, char *buf, size_t cap,
                        tm_error *err) {
  uint8_t head[16]; /* id offset and length */
  const uint8_t *h = NULL;
  int rc = read_rec(s, ref, head, sizeof head, &h, err);
  if (rc < 0) return rc;
  const uint64_t id_off = rd64(h);
  const uint32_t id_len = rd32(h + 8);
  size_t n = id_len < cap - 1 ? id_len : cap - 1;
  if (id_off >= s->ids_written) {
    memcpy(buf, s->pend_ids + (id_off - s->ids_written), n);
  } else {
    ssize_t r = pread(s->ids_fd, buf, n, (off_t)id_off);
    if (r != (ssize_t)n)
      return r < 0 ? tm_err_sys(err, "%s: read at offset %llu", s->ids_path,
                                (unsigned long long)id_off)
                   : tm_err(err, TM_ECORRUPT, "%s: id of record %llu past the end (offset %llu)",
                            s->ids_path, (unsigned long long)ref, (unsigned long long)id_off);
  }
  buf[n] = 0;
  return id_len;
}

int tm_sig_store_commit(tm_sig_store *s, const void *user, size_t user_len, tm_error *err) {
  if (user_len > TM_SIG_USER_MAX)
    return tm_err(err, TM_EINVAL, "checkpoint block of %zu bytes", user_len);
  int rc;
  if ((rc = flush(s, err)) < 0) return rc;
  if ((rc = tm_io_fsync(s->ids_fd, s->ids_path, SITE, err)) < 0) return rc;
  if ((rc = tm_io_fsync(s->rec_fd, s->rec_path, SITE, err)) < 0) return rc;
  ckpt c;
  memset(&c, 0, sizeof c);
  memcpy(c.magic, CKP_MAGIC, 8);
  c.version = VERSION;
  c.k = (uint32_t)s->k;
  c.params_hash = s->params_hash;
  c.n_records = s->n_written;
  c.ids_bytes = s->ids_written;
  c.user_len = (uint32_t)user_len;
  memcpy(c.user, user, user_len);
  c.checksum = XXH3_64bits(&c, offsetof(ckpt, checksum));
  return tm_io_write_file_atomic(s->ckp_path, &c, sizeof c, SITE, err);
}

uint64_t tm_sig_store_disk_bytes(const tm_sig_store *s) {
  return HDR_SIZE + tm_sig_store_count(s) * s->rs + s->ids_written + s->n_pend_ids;
}

uint64_t tm_sig_store_ram_bytes(const tm_sig_store *s) {
  return PENDING_RECORDS * s->rs + s->cap_pend_ids;
}
