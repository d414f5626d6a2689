/* checkpoint.c - see checkpoint.h. */
#include "checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "io.h"

#define HDR_BYTES 512
static const char MAGIC[8] = {'T', 'M', 'C', 'K', 'P', 'T', 0, 1};
#define VERSION 1

/* fixed offsets inside the header */
enum {
  O_MAGIC = 0, O_VERSION = 8, O_CFG = 16, /* 5 x i32 */
  O_STEP = 40, O_ADAM_T = 48, O_RNG = 56, /* 4 x u64 */
  O_CURSOR = 88, /* 4 x u64 */
  O_HAS_CURSOR = 120, O_TOKHASH = 128, O_BEST_VAL = 136, O_LAST_VAL = 144, O_BEST_STEP = 152,
  O_SINCE_BEST = 160, O_NPARAMS = 168, O_FLAGS = 176, O_PAYLOAD_HASH = 184,
  O_HDR_HASH = HDR_BYTES - 8
};

static void put64(uint8_t *h, int off, uint64_t v) { memcpy(h + off, &v, 8); }
static uint64_t get64(const uint8_t *h, int off) {
  uint64_t v;
  memcpy(&v, h + off, 8);
  return v;
}
static void putd(uint8_t *h, int off, double v) { memcpy(h + off, &v, 8); }
static double getd(const uint8_t *h, int off) {
  double v;
  memcpy(&v, h + off, 8);
  return v;
}

static uint64_t payload_hash(const float *params, const float *opt, size_t n) {
  XXH3_state_t *st = XXH3_createState();
  if (!st) return 0;
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, params, n * sizeof(float));
  if (opt) XXH3_64bits_update(st, opt, 2 * n * sizeof(float));
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

int tm_ckpt_save(const char *path, const tm_ckpt_meta *m, const float *params,
                 const float *opt_state, tm_error *err) {
  size_t n = tm_gpt_num_params(&m->cfg);
  uint8_t h[HDR_BYTES];
  memset(h, 0, sizeof h);
  memcpy(h + O_MAGIC, MAGIC, 8);
  uint32_t ver = VERSION;
  memcpy(h + O_VERSION, &ver, 4);
  int32_t cfg[5] = {m->cfg.max_seq_len, m->cfg.vocab_size, m->cfg.n_layer, m->cfg.n_head,
                    m->cfg.d_model};
  memcpy(h + O_CFG, cfg, sizeof cfg);
  put64(h, O_STEP, m->step);
  put64(h, O_ADAM_T, m->adam_t);
  for (int i = 0; i < 4; i++) put64(h, O_RNG + 8 * i, m->rng.s[i]);
  put64(h, O_CURSOR, m->cursor.seed);
  put64(h, O_CURSOR + 8, m->cursor.pass);
  put64(h, O_CURSOR + 16, m->cursor.generation);
  put64(h, O_CURSOR + 24, m->cursor.window);
  put64(h, O_HAS_CURSOR, (uint64_t)m->has_cursor);
  put64(h, O_TOKHASH, m->tokenizer_hash);
  putd(h, O_BEST_VAL, m->best_val);
  putd(h, O_LAST_VAL, m->last_val);
  put64(h, O_BEST_STEP, m->best_step);
  put64(h, O_SINCE_BEST, m->evals_since_best);
  put64(h, O_NPARAMS, n);
  uint32_t flags = opt_state ? TM_CKPT_HAS_OPT : 0;
  put64(h, O_FLAGS, flags);
  put64(h, O_PAYLOAD_HASH, payload_hash(params, opt_state, n));
  put64(h, O_HDR_HASH, XXH3_64bits(h, O_HDR_HASH));

  char tmp[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
    return tm_err(err, TM_EINVAL, "checkpoint path too long: %s", path);
  int fd = tm_io_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, "checkpoint", err);
  if (fd < 0) return fd;
  int rc = tm_io_write(fd, h, sizeof h, tmp, "checkpoint", err);
  if (rc == 0) rc = tm_io_write(fd, params, n * sizeof(float), tmp, "checkpoint", err);
  if (rc == 0 && opt_state)
    rc = tm_io_write(fd, opt_state, 2 * n * sizeof(float), tmp, "checkpoint", err);
  if (rc == 0) rc = tm_io_fsync(fd, tmp, "checkpoint", err);
  int rc2 = tm_io_close(fd, tmp, "checkpoint", rc == 0 ? err : NULL);
  if (rc == 0) rc = rc2;
  if (rc == 0) rc = tm_io_rename(tmp, path, "checkpoint", err);
  if (rc == 0) rc = tm_io_fsync_parent(path, "checkpoint", err);
  if (rc < 0) unlink(tmp);
  return rc;
}

static int read_exact(int fd, void *buf, size_t len, uint64_t off, const char *path,
                      tm_error *err) {
  uint8_t *p = buf;
  while (len) {
    ssize_t r = pread(fd, p, len > (1u << 30) ? (1u << 30) : len, (off_t)off);
    if (r < 0) return tm_err_sys(err, "%s: read at byte offset %llu", path, (unsigned long long)off);
    if (r == 0)
      return tm_err(err, TM_EFORMAT, "%s: truncated at byte offset %llu", path,
                    (unsigned long long)off);
    p += r;
    len -= (size_t)r;
    off += (uint64_t)r;
  }
  return 0;
}

static int parse_header(const char *path, const uint8_t *h, tm_ckpt_meta *m, uint64_t *n,
                        uint64_t *phash, tm_error *err) {
  if (memcmp(h, MAGIC, 8))
    return tm_err(err, TM_EFORMAT, "%s: not a tokenmill-train checkpoint (bad magic at byte "
                  "offset 0)", path);
  uint32_t ver;
  memcpy(&ver, h + O_VERSION, 4);
  if (ver != VERSION)
    return tm_err(err, TM_EFORMAT, "%s: checkpoint version %u at byte offset 8, expected %d",
                  path, ver, VERSION);
  if (get64(h, O_HDR_HASH) != XXH3_64bits(h, O_HDR_HASH))
    return tm_err(err, TM_ECORRUPT, "%s: header checksum mismatch (byte offset %d)", path,
                  O_HDR_HASH);
  memset(m, 0, sizeof *m);
  int32_t cfg[5];
  memcpy(cfg, h + O_CFG, sizeof cfg);
  m->cfg = (tm_gpt_config){cfg[0], cfg[1], cfg[2], cfg[3], cfg[4]};
  if (tm_gpt_config_check(&m->cfg, err) < 0) return tm_err_prefix(err, "%s", path);
  m->step = get64(h, O_STEP);
  m->adam_t = get64(h, O_ADAM_T);
  for (int i = 0; i < 4; i++) m->rng.s[i] = get64(h, O_RNG + 8 * i);
  m->cursor = (tm_batch_cursor){get64(h, O_CURSOR), get64(h, O_CURSOR + 8),
                                get64(h, O_CURSOR + 16), get64(h, O_CURSOR + 24)};
  m->has_cursor = (int)get64(h, O_HAS_CURSOR);
  m->tokenizer_hash = get64(h, O_TOKHASH);
  m->best_val = getd(h, O_BEST_VAL);
  m->last_val = getd(h, O_LAST_VAL);
  m->best_step = get64(h, O_BEST_STEP);
  m->evals_since_best = get64(h, O_SINCE_BEST);
  m->flags = (uint32_t)get64(h, O_FLAGS);
  *n = get64(h, O_NPARAMS);
  *phash = get64(h, O_PAYLOAD_HASH);
  if (*n != tm_gpt_num_params(&m->cfg))
    return tm_err(err, TM_ECORRUPT, "%s: %llu parameters at byte offset %d do not match the "
                  "config (%zu)", path, (unsigned long long)*n, O_NPARAMS,
                  tm_gpt_num_params(&m->cfg));
  return 0;
}

int tm_ckpt_read_meta(const char *path, tm_ckpt_meta *meta, tm_error *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tm_err_sys(err, "%s: cannot open checkpoint", path);
  uint8_t h[HDR_BYTES];
  uint64_t n, ph;
  int rc = read_exact(fd, h, sizeof h, 0, path, err);
  close(fd);
  if (rc < 0) return rc;
  return parse_header(path, h, meta, &n, &ph, err);
}

int tm_ckpt_load(const char *path, tm_ckpt_meta *meta, float *params, float *opt_state,
                 tm_error *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tm_err_sys(err, "%s: cannot open checkpoint", path);
  uint8_t h[HDR_BYTES];
  uint64_t n = 0, ph = 0;
  int rc = read_exact(fd, h, sizeof h, 0, path, err);
  if (rc == 0) rc = parse_header(path, h, meta, &n, &ph, err);
  int has_opt = meta->flags & TM_CKPT_HAS_OPT;
  if (rc == 0 && opt_state && !has_opt)
    rc = tm_err(err, TM_EFORMAT, "%s: holds no optimizer state (an exported/best-only file?)",
                path);
  if (rc == 0) {
    off_t size = lseek(fd, 0, SEEK_END);
    uint64_t want = HDR_BYTES + n * 4 * (has_opt ? 3 : 1);
    if (size < 0 || (uint64_t)size != want)
      rc = tm_err(err, TM_EFORMAT, "%s: %lld bytes, the header promises %llu", path,
                  (long long)size, (unsigned long long)want);
  }
  float *opt = NULL;
  if (rc == 0) rc = read_exact(fd, params, n * sizeof(float), HDR_BYTES, path, err);
  if (rc == 0 && has_opt) {
    opt = opt_state ? opt_state : malloc(2 * n * sizeof(float));
    if (!opt) rc = tm_err(err, TM_ENOMEM, "%s: out of memory", path);
    else rc = read_exact(fd, opt, 2 * n * sizeof(float), HDR_BYTES + n * 4, path, err);
  }
  if (rc == 0 && payload_hash(params, has_opt ? opt : NULL, n) != ph)
    rc = tm_err(err, TM_ECORRUPT, "%s: payload checksum mismatch (bytes %d..end)", path,
                HDR_BYTES);
  if (opt && opt != opt_state) free(opt);
  close(fd);
  return rc;
}

void tm_ckpt_path(char *out, size_t cap, const char *dir, uint64_t step) {
  snprintf(out, cap, "%s/ckpt-%08llu.tmc", dir, (unsigned long long)step);
}

/* steps of DIR/ckpt-*.tmc, sorted ascending; returns count or -1 */
static int list_steps(const char *dir, uint64_t **out, tm_error *err) {
  DIR *d = opendir(dir);
  *out = NULL;
  if (!d) return tm_err_sys(err, "%s: cannot list checkpoints", dir);
  size_t n = 0, cap = 0;
  uint64_t *v = NULL;
  struct dirent *e;
  while ((e = readdir(d))) {
    unsigned long long s;
    char tail[8];
    if (sscanf(e->d_name, "ckpt-%llu.%7s", &s, tail) == 2 && !strcmp(tail, "tmc") &&
        strlen(e->d_name) <= 40) {
      if (n == cap) {
        cap = cap ? 2 * cap : 16;
        uint64_t *nv = realloc(v, cap * sizeof *v);
        if (!nv) {
          free(v);
          closedir(d);
          return tm_err(err, TM_ENOMEM, "out of memory");
        }
        v = nv;
      }
      v[n++] = s;
    }
  }
  closedir(d);
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
      uint64_t t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  *out = v;
  return (int)n;
}

int tm_ckpt_latest(const char *dir, char *out, size_t cap, tm_error *err) {
  uint64_t *v;
  int n = list_steps(dir, &v, err);
  if (n <= 0) {
    free(v);
    return n;
  }
  tm_ckpt_path(out, cap, dir, v[n - 1]);
  free(v);
  return 1;
}

int tm_ckpt_prune(const char *dir, int keep, tm_error *err) {
  uint64_t *v;
  int n = list_steps(dir, &v, err);
  if (n < 0) return n;
  int rc = 0;
  for (int i = 0; i + keep < n && rc == 0; i++) {
    char p[4096];
    tm_ckpt_path(p, sizeof p, dir, v[i]);
    rc = tm_io_unlink(p, "checkpoint", err);
  }
  free(v);
  return rc;
}
