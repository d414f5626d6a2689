/* bpe_count.c - counting the words of files on all cores.
 *
 * Workers take turns reading the next block of the current file (under one
 * lock, so reading is sequential and memory is threads x block size), then
 * split and count it into a table of their own without any lock. A block
 * ends where a pre-token boundary is certain: after a newline in line mode;
 * in whole-file mode at a space between two ASCII letters ("a b": the
 * letter run before it ends there under both patterns and " b..." starts a
 * pre-token). The unfinished tail is carried into the next block. A
 * worker's table is flushed into the shared one when it passes its share of
 * the cap, and at the end. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe_words.h"

#define BLOCK ((size_t)4 << 20)

typedef struct {
  pthread_mutex_t mu;
  const char *const *paths;
  int n_paths, cur, fd;
  uint8_t *carry;
  size_t carry_len;
  int lines;
  tm_pretok_kind kind;
  int failed;
  tm_error *err;
  tm_bpe_words *global;
  pthread_mutex_t global_mu;
  size_t local_cap;
} reader;

/* Where a block of n bytes may end (0: nowhere). Only b[from..n) is new
 * since the last look: earlier bytes had no cut. */
static size_t find_cut(const uint8_t *b, size_t n, size_t from, int lines) {
  if (lines) {
    for (size_t i = n; i > from; i--)
      if (b[i - 1] == '\n') return i;
    return 0;
  }
  return tm_pretok_safe_cut(b, n, from);
}

/* Fill *buf (capacity *cap) with the next block. Returns its length (0 when
 * all files are done) or -1 on error. Caller holds r->mu. */
static long next_block(reader *r, uint8_t **buf, size_t *cap) {
  for (;;) {
    if (r->fd < 0) {
      if (r->cur >= r->n_paths) return 0;
      r->fd = open(r->paths[r->cur], O_RDONLY | O_CLOEXEC);
      if (r->fd < 0) {
        tm_err_sys(r->err, "%s: cannot open", r->paths[r->cur]);
        return -1;
      }
    }
    size_t len = r->carry_len;
    if (*cap < len + BLOCK) {
      size_t c = len + BLOCK;
      uint8_t *p = realloc(*buf, c);
      if (!p) {
        tm_err(r->err, TM_ENOMEM, "%s: out of memory", r->paths[r->cur]);
        return -1;
      }
      *buf = p, *cap = c;
    }
    if (len) memcpy(*buf, r->carry, len);
    int eof = 0;
    while (len < r->carry_len + BLOCK) {
      ssize_t k = read(r->fd, *buf + len, r->carry_len + BLOCK - len);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) {
        tm_err_sys(r->err, "%s: read failed at offset about %zu", r->paths[r->cur], len);
        return -1;
      }
      if (k == 0) {
        eof = 1;
        break;
      }
      len += (size_t)k;
    }
    size_t from = r->carry_len > 2 ? r->carry_len - 2 : 0;
    size_t cut = eof ? len : find_cut(*buf, len, from, r->lines);
    size_t tail = len - cut;
    if (cut == 0 && !eof) tail = len; /* no boundary yet: carry all, read more */
    uint8_t *c = realloc(r->carry, tail ? tail : 1);
    if (!c) {
      tm_err(r->err, TM_ENOMEM, "%s: out of memory", r->paths[r->cur]);
      return -1;
    }
    r->carry = c;
    memcpy(r->carry, *buf + len - tail, tail);
    r->carry_len = tail;
    if (eof) {
      close(r->fd);
      r->fd = -1;
      r->cur++;
      r->carry_len = 0;
    }
    if (len - tail > 0) return (long)(len - tail);
  }
}

static int flush(reader *r, tm_bpe_words *local) {
  pthread_mutex_lock(&r->global_mu);
  int rc = tm_bpe_words_merge(r->global, local);
  pthread_mutex_unlock(&r->global_mu);
  tm_bpe_words_clear(local);
  return rc;
}

static void *worker(void *arg) {
  reader *r = arg;
  uint8_t *buf = NULL;
  size_t cap = 0;
  tm_bpe_words *local = tm_bpe_words_new(r->local_cap * 2);
  if (!local) {
    pthread_mutex_lock(&r->mu);
    r->failed = 1;
    tm_err(r->err, TM_ENOMEM, "word count: out of memory");
    pthread_mutex_unlock(&r->mu);
    return NULL;
  }
  for (;;) {
    pthread_mutex_lock(&r->mu);
    long n = r->failed ? 0 : next_block(r, &buf, &cap);
    if (n < 0) r->failed = 1;
    pthread_mutex_unlock(&r->mu);
    if (n <= 0) break;
    int rc = 0;
    if (r->lines) {
      size_t s = 0;
      for (size_t i = 0; i < (size_t)n && rc == 0; i++)
        if (buf[i] == '\n') {
          rc = tm_bpe_words_add_text(local, r->kind, buf + s, i + 1 - s);
          s = i + 1;
        }
      if (rc == 0 && s < (size_t)n) rc = tm_bpe_words_add_text(local, r->kind, buf + s, (size_t)n - s);
    } else {
      rc = tm_bpe_words_add_text(local, r->kind, buf, (size_t)n);
    }
    if (rc == 0 && tm_bpe_words_count(local) > r->local_cap) rc = flush(r, local);
    if (rc < 0) {
      pthread_mutex_lock(&r->mu);
      r->failed = 1;
      tm_err(r->err, TM_ENOMEM, "word count: out of memory");
      pthread_mutex_unlock(&r->mu);
      break;
    }
  }
  if (!r->failed && flush(r, local) < 0) {
    pthread_mutex_lock(&r->mu);
    r->failed = 1;
    tm_err(r->err, TM_ENOMEM, "word count: out of memory");
    pthread_mutex_unlock(&r->mu);
  }
  tm_bpe_words_free(local);
  free(buf);
  return NULL;
}

int tm_bpe_count_files(tm_bpe_words *w, tm_pretok_kind kind, const char *const *paths, int n_paths,
                       int lines, int threads, tm_error *err) {
  if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (threads < 1) threads = 1;
  if (threads > 256) threads = 256;
  tm_error local_err = {0};
  reader r = {.paths = paths, .n_paths = n_paths, .fd = -1, .lines = lines, .kind = kind,
              .err = err ? err : &local_err, .global = w, .local_cap = (size_t)1 << 20};
  pthread_mutex_init(&r.mu, NULL);
  pthread_mutex_init(&r.global_mu, NULL);
  pthread_t tid[256];
  int started = 0;
  for (int i = 0; i < threads; i++) {
    if (pthread_create(&tid[i], NULL, worker, &r) != 0) break;
    started++;
  }
  if (!started) worker(&r);
  for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
  if (r.fd >= 0) close(r.fd);
  free(r.carry);
  pthread_mutex_destroy(&r.mu);
  pthread_mutex_destroy(&r.global_mu);
  return r.failed ? -(r.err->code ? r.err->code : TM_EIO) : 0;
}
